# --compress=none|fast|N (negative levels too) and --stats[=FILE] of ckdump and ckrestore: every
# level restores the identical program; the JSON reports have their figures; with -R the
# program is let go before the final syncs and the commit (frozen time excludes them).
. "$(dirname "$0")/lib.sh"
cd "$WORK"
# field FILE NAME: a number of a one-line --stats report.
field() {
  local v
  v=$(json_field "$(cat "$1")" "$2")
  [ -n "$v" ] || fail "$1 has no \"$2\": $(cat "$1")"
  echo "$v"
}
json_field() { echo "$1" | sed -n "s/.*\"$2\": \\([0-9.]*\\).*/\\1/p"; }

expect_fail 2 "level 0 is written none" "$CKDUMP" -t 1 -D x --compress=0
expect_fail 2 "from -100 to 19" "$CKDUMP" -t 1 -D x --compress=20
expect_fail 2 "from -100 to 19" "$CKDUMP" -t 1 -D x --compress=quick

# Output appended (O_APPEND): every restored copy writes at the end, after what came before.
: >out.txt
start_target /dev/null bash -c 'exec "$0" "$@" >>out.txt 2>&1' "$PROGS/memhog" 256 smooth
wait_line out.txt '^tick 2$' 60
pid=$TARGET
sum=$(awk '/^ready sum/ {print $3}' out.txt)
modes=(none fast 3 -5)
for m in "${modes[@]}"; do
  "$CKDUMP" -t "$pid" -D "ckpt$m" -R --compress="$m" --stats="dump$m.json" >dump.out 2>dump.log ||
    { cat dump.log; fail "ckdump --compress=$m failed"; }
  [ -s dump.out ] && fail "--stats=FILE also wrote to stdout: $(cat dump.out)"
  alive "$pid" || fail "the original stopped (--compress=$m)"
  "$CKIMAGE" verify "ckpt$m" >/dev/null || fail "ckimage verify failed (--compress=$m)"
  wall=$(field "dump$m.json" wall_seconds)
  frozen=$(field "dump$m.json" frozen_seconds)
  sync=$(field "dump$m.json" sync_seconds)
  commit=$(field "dump$m.json" commit_seconds)
  for f in image_bytes bytes_written raw_bytes peak_rss_bytes seize_seconds pages_seconds read_thread_seconds; do
    field "dump$m.json" "$f" >/dev/null
  done
  # Released before the fdatasyncs and the commit: those are not frozen time.
  awk -v w="$wall" -v f="$frozen" -v s="$sync" -v c="$commit" 'BEGIN { exit !(f + s + c <= w + 0.002) }' ||
    fail "--compress=$m -R: frozen $frozen s + sync $sync s + commit $commit s > wall $wall s: $(cat "dump$m.json")"
  [ "$(field "dump$m.json" raw_bytes)" -ge $((256 << 20)) ] || fail "raw_bytes below the 256 MiB the program holds"
  log "--compress=$m: $(cat "dump$m.json")"
done
none=$(field dumpnone.json image_bytes) fast=$(field dumpfast.json image_bytes) l3=$(field dump3.json image_bytes)
[ "$none" -gt "$fast" ] && [ "$fast" -gt "$l3" ] || fail "image sizes none $none, fast $fast, level 3 $l3 are not decreasing"
# Without a file: one line of JSON on stdout.
"$CKDUMP" -t "$pid" -D ckptout -R --stats >stdout.json 2>dump.log || { cat dump.log; fail "ckdump --stats failed"; }
[ "$(wc -l <stdout.json)" = 1 ] && field stdout.json frozen_seconds >/dev/null || fail "ckdump --stats stdout: $(cat stdout.json)"
kill -9 "$pid"
wait_gone "$pid"
for m in "${modes[@]}"; do
  n=$(count_lines '^sum ' out.txt)
  RESTORED=$("$CKRESTORE" -D "ckpt$m" -d --stats="restore$m.json") || fail "ckrestore of --compress=$m failed"
  PIDS+=("$RESTORED")
  for f in restore_seconds bytes_read raw_bytes peak_rss_bytes load_seconds prepare_seconds place_seconds; do
    field "restore$m.json" "$f" >/dev/null
  done
  kill -USR1 "$RESTORED"
  for ((i = 0; i < 600 && $(count_lines '^sum ' out.txt) == n; i++)); do sleep 0.05; done
  [ "$(count_lines '^sum ' out.txt)" -gt "$n" ] || fail "--compress=$m: the restored program did not answer SIGUSR1"
  got=$(awk '/^sum/ {print $2}' out.txt | tail -1)
  [ "$got" = "$sum" ] || fail "--compress=$m: restored memory checksum $got, $sum before"
  kill -9 "$RESTORED"
  wait_gone "$RESTORED"
  # Reaped by whoever adopted it (ckrestore -d has exited): only then is the PID free again.
  for ((i = 0; i < 400; i++)); do [ -e "/proc/$RESTORED" ] || break; sleep 0.05; done
  log "--compress=$m restored: $(cat "restore$m.json")"
done
# ckrestore --stats without a file: on stderr, stdout keeps only the PID.
RESTORED=$("$CKRESTORE" -D ckptfast -d --stats 2>rstats.err) || fail "ckrestore --stats failed"
PIDS+=("$RESTORED")
[[ "$RESTORED" =~ ^[0-9]+$ ]] || fail "ckrestore -d --stats stdout is not a PID: $RESTORED"
grep -q '"restore_seconds": ' rstats.err || fail "no JSON on stderr: $(cat rstats.err)"
log "levels none, fast, 3, -5 restore identical; stats reports complete"
