# 256 MiB of random (incompressible) and of smooth data: checksum and counter continue after the
# restore; the dump and restore times are reported as FIGURE lines.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
for kind in random smooth; do
  rm -rf ckpt ckpt.d out.txt
  start_target out.txt "$PROGS/memhog" 256 "$kind"
  wait_line out.txt '^tick 3$' 120
  sum=$(awk '/^ready sum/ {print $3}' out.txt)
  pid=$TARGET
  log "$kind: dumping pid $pid"
  stats=$("$CKDUMP" -t "$pid" -D ckpt --stats 2>dump.log) || { cat dump.log >&2; fail "ckdump failed"; }
  wait_gone "$pid"
  last=$(last_tick out.txt)
  "$CKIMAGE" verify ckpt >/dev/null || fail "ckimage verify failed on a fresh image"
  log "$kind: dumped ($stats), restoring"
  "$CKRESTORE" -D ckpt --stats 2>restore.log &
  CKR=$!
  PIDS="$PIDS $CKR"
  wait_line out.txt "^tick $((last + 3))\$"
  log "$kind: restored, ticks go on"
  kill -USR1 "$pid"
  wait_line out.txt '^sum '
  after=$(awk '/^sum/ {print $2}' out.txt | tail -1)
  [ "$after" = "$sum" ] || fail "$kind: memory checksum $after after restore, $sum before"
  ticks_consecutive out.txt
  kill -TERM "$pid"
  rc=0
  wait "$CKR" || rc=$?
  [ "$rc" = 7 ] || { cat restore.log >&2; fail "ckrestore returned $rc, the program's status is 7"; }
  rstats=$(grep restore_seconds restore.log)
  d=$(json_field "$stats" dump_seconds)
  f=$(json_field "$stats" frozen_seconds)
  img=$(json_field "$stats" image_bytes)
  r=$(json_field "$rstats" restore_seconds)
  echo "FIGURE memhog 256 MiB $kind: dump ${d} s (frozen ${f} s), image $((img / 1048576)) MiB, restore ${r} s;" \
    "$(awk -v d="$d" -v r="$r" 'BEGIN { printf "%.0f MiB/s dump, %.0f MiB/s restore", 256 / d, 256 / r }')"
done
