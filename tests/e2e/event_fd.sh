# One kind of event fd (eventfd, epoll, timerfd, signalfd, inotify, memfd, pidfd): tests/progs/
# evfds sets it up, is checkpointed and restored, and after the restore checks its own state
# (values read back, events still reported, timers on time, seals still enforced) with a fixed
# number of "... OK" lines. `event_fd.sh KIND user` does it as a normal user under ckrun.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
kind=$1 mode=${2:-root}
declare -A checks=([eventfd]=7 [epoll]=10 [timerfd]=10 [signalfd]=4 [inotify]=4 [memfd]=13 [pidfd]=10 [shared]=3)
mkdir watched
args=()
case $kind in
  inotify) args=("$WORK/watched") ;;
  timerfd) args=(2000) ;;
esac
run=()
if [ "$mode" = user ]; then
  user_setup
  chown "$CK_UID:$CK_GID" watched
  run=("${AS_USER[@]}" "$CKRUN" --)
fi
start_target out.txt "${run[@]}" "$PROGS/evfds" "$kind" "${args[@]}"
wait_line out.txt '^ready$'
dump_pid=$TARGET
[ "$mode" = user ] && dump_pid=$(child_of "$(child_of "$TARGET")")
# signalfd: one signal pending (blocked) at the checkpoint.
[ "$kind" = signalfd ] && kill -USR2 "$dump_pid"
sleep 0.5
if [ "$mode" = user ]; then
  as_user "$CKDUMP" -t "$dump_pid" -D "$WORK/ckpt" 2>dump.log || { cat dump.log; fail "ckdump failed"; }
else
  "$CKDUMP" -t "$dump_pid" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
fi
wait_gone "$dump_pid"
"$CKIMAGE" show ckpt >image.json || fail "ckimage show failed"
want=$kind
case $kind in memfd) want=file ;; shared) want=eventfd ;; esac
grep -q "\"kind\": \"$want\"" image.json || fail "no $want in the image"
# The wall-clock timerfd must fire at its deadline, not 2 s late.
[ "$kind" = timerfd ] && sleep 2
if [ "$mode" = user ]; then
  "${AS_USER[@]}" "$CKRESTORE" -D "$WORK/ckpt" 2>restore.log &
  CKR=$!
  PIDS+=("$CKR")
  for i in $(seq 100); do [ -n "$(child_of "$CKR" 2>/dev/null)" ] && [ -n "$(child_of "$(child_of "$CKR")" 2>/dev/null)" ] && break; sleep 0.1; done
  sleep 0.5
  target=$(child_of "$(child_of "$CKR")")
  kill -USR1 "$target"
else
  restore_detached ckpt
  target=$RESTORED
  kill -USR1 "$target"
fi
case $kind in
  signalfd) wait_line out.txt '^waiting for SIGUSR2$'; kill -USR2 "$target" ;;
  inotify) wait_line out.txt '^waiting for events$'; sleep 0.2; touch watched/new.txt; echo more >>watched/watched.txt ;;
esac
wait_line out.txt '^done' 40
cat out.txt >&2
! grep -q FAIL out.txt || fail "$kind: a check failed after the restore"
n=$(count_lines ' OK$' out.txt)
[ "$n" = "${checks[$kind]}" ] || fail "$kind: $n checks passed, expected ${checks[$kind]}"
log "$kind restored: $n checks passed"
