# Every mapping kind: private file (only written pages stored), shared file, deleted file,
# PROT_NONE with data, shared anonymous, a 1 GiB untouched reservation, madvise flags, growsdown.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
mkdir files
start_target out.txt "$PROGS/mapkinds" "$WORK/files"
wait_line out.txt '^mapkinds ready$'
"$CKDUMP" -t "$TARGET" -D ckpt --stats >stats.json 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
log "$(cat stats.json)"
raw=$(sed 's/.*"raw_bytes": \([0-9]*\).*/\1/' stats.json)
[ "$raw" -lt $((64 << 20)) ] || fail "$raw bytes of pages saved: untouched memory must cost nothing"
restore_detached ckpt
kill -USR1 "$RESTORED"
wait_line out.txt '^mapcheck done$'
cat out.txt >&2
! grep -q FAIL out.txt || fail "a mapping was not restored correctly"
[ "$(count_lines '^map .* ok' out.txt)" = 8 ] || fail "expected 8 mapping checks"
