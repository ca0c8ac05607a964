# Every fd kind: regular file at its offset, dup sharing the offset, O_APPEND (grown since the
# dump), directory, /dev/null, /dev/urandom (cloexec), a pipe with queued data, a deleted file.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
mkdir files
start_target out.txt "$PROGS/fdkinds" "$WORK/files"
wait_line out.txt '^fdkinds ready$'
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
echo "grown meanwhile" >>files/append.log
restore_detached ckpt
kill -USR1 "$RESTORED"
wait_line out.txt '^fdcheck done$'
cat out.txt >&2
! grep -q FAIL out.txt || fail "an fd was not restored correctly"
[ "$(count_lines '^fd .* ok' out.txt)" = 10 ] || fail "expected 10 fd checks"
grep -q '^after$' files/append.log && tail -1 files/append.log | grep -q after || fail "O_APPEND write not at the end"
