# A real program on inotify: coreutils `tail -f` follows a log file, is checkpointed and
# restored, and shows the lines appended after the restore, each exactly once. Lines appended
# while it was not running come with them (read from its saved offset at the next event: a
# change made between dump and restore makes no inotify event).
. "$(dirname "$0")/lib.sh"
cd "$WORK"
seq 1 3 >log.txt
start_target out.txt tail -n +1 -f log.txt
wait_line out.txt '^3$'
grep -q 'anon_inode:inotify' <(ls -l /proc/$TARGET/fd) || fail "tail does not use inotify here"
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
seq 4 5 >>log.txt
restore_detached ckpt
sleep 0.3
seq 6 8 >>log.txt
wait_line out.txt '^8$'
[ "$(cat out.txt)" = "$(seq 1 8)" ] || { cat out.txt >&2; fail "lines lost or repeated"; }
log "tail -f followed the file across the checkpoint"
