# A normal user checkpoints their own program without any privilege; restoring the same PID
# needs CAP_CHECKPOINT_RESTORE (ckrun lifts that later), so a user's restore fails clearly and
# root restores it with the user's credentials, not root's.
. "$(dirname "$0")/lib.sh"
USER_NAME=${CK_TEST_USER:-cktest}
id "$USER_NAME" >/dev/null 2>&1 || useradd -M -s /bin/sh "$USER_NAME"
uid=$(id -u "$USER_NAME")
cd "$WORK"
as_user() { setpriv --reuid="$uid" --regid="$(id -g "$USER_NAME")" --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"; }
chown "$uid" "$WORK"
touch out.txt && chown "$uid" out.txt  # the user's own output file, as a batch system makes it
start_target out.txt setpriv --reuid="$uid" --regid="$(id -g "$USER_NAME")" --clear-groups --inh-caps=-all -- "$PROGS/memhog" 32 smooth
wait_line out.txt '^tick 3$'
sum=$(awk '/^ready sum/ {print $3}' out.txt)
grep -q "^Uid:.$uid" /proc/$TARGET/status || fail "the target does not run as $USER_NAME"
# Another user's (root's) process may not be dumped by the normal user.
sleep 600 &
rootpid=$!
PIDS+=("$rootpid")
expect_fail 5 "cannot trace pid $rootpid" as_user "$CKDUMP" -t "$rootpid" -D "$WORK/rootdump"
as_user "$CKDUMP" -t "$TARGET" -D "$WORK/ckpt" 2>dump.log || { cat dump.log; fail "ckdump as $USER_NAME failed"; }
wait_gone "$TARGET"
[ "$(stat -L -c %a ckpt)" = 700 ] || fail "image directory is not 0700"
for f in ckpt/*; do [ "$(stat -c %a "$f")" = 600 ] || fail "$f is not 0600"; done
expect_fail 5 'CAP_CHECKPOINT_RESTORE' as_user "$CKRESTORE" -D "$WORK/ckpt"
restore_detached ckpt
grep -q "^Uid:.$uid.$uid.$uid" /proc/$RESTORED/status || fail "restored process does not run as $USER_NAME: $(grep Uid /proc/$RESTORED/status)"
grep -q "^CapEff:.0000000000000000" /proc/$RESTORED/status || fail "restored process has capabilities"
kill -USR1 "$RESTORED"
wait_line out.txt '^sum '
[ "$(awk '/^sum/ {print $2}' out.txt)" = "$sum" ] || fail "memory differs"
ticks_consecutive out.txt
