# A dump into a file system that fills up mid-dump (tmpfs of 8 MiB, a 64 MiB program of random
# data): ckdump fails with one line naming the file and "No space left on device", the program
# runs on undisturbed (ticks consecutive, memory checksum unchanged), the previous checkpoint in
# that file system is untouched and still restores, and no staging directory is left behind.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
mkdir tiny
mount -t tmpfs -o size=8m,mode=0755 ck-disk-full tiny || fail "cannot mount a tmpfs (needs root)"
trap 'umount -l "$WORK/tiny" 2>/dev/null; cleanup' EXIT

# The previous checkpoint: a small program, whose image fits.
start_target small.txt "$PROGS/memhog" 2 random
wait_line small.txt '^tick 2$'
small=$TARGET
small_sum=$(awk '/^ready sum/ {print $3}' small.txt)
"$CKDUMP" -t "$small" -D tiny/ckpt 2>dump1.log || { cat dump1.log; fail "first ckdump failed"; }
wait_gone "$small"
small_last=$(last_tick small.txt)
link=$(readlink tiny/ckpt)
(cd tiny/ckpt && sha256sum ./*) >image.sum
ls -a tiny >entries.before
log "previous checkpoint: tiny/ckpt -> $link, $(du -sk tiny | cut -f1) KiB used of 8 MiB"

start_target big.txt "$PROGS/memhog" 64 random
wait_line big.txt '^tick 3$' 60
big=$TARGET
big_sum=$(awk '/^ready sum/ {print $3}' big.txt)
expect_fail 1 "pages-$big\\.ck: No space left on device" "$CKDUMP" -t "$big" -D tiny/ckpt

# The program runs on as if nothing happened.
alive "$big" || fail "the target died with the failed dump"
t=$(last_tick big.txt)
wait_line big.txt "^tick $((t + 5))\$" 30
kill -USR1 "$big"
wait_line big.txt '^sum ' 30
after=$(awk '/^sum/ {print $2}' big.txt | tail -1)
[ "$after" = "$big_sum" ] || fail "the target's memory checksum is $after after the failed dump, $big_sum before"
ticks_consecutive big.txt

# Nothing of the failed dump is left, and the previous checkpoint is as it was.
ls -a tiny >entries.after
diff entries.before entries.after >&2 || fail "the failed dump left something in tiny/"
[ "$(ls tiny/ckpt.d)" = "${link#ckpt.d/}" ] || fail "tiny/ckpt.d holds $(ls tiny/ckpt.d), expected ${link#ckpt.d/} only"
[ "$(readlink tiny/ckpt)" = "$link" ] || fail "tiny/ckpt was switched by a failed dump"
(cd tiny/ckpt && sha256sum --quiet -c "$WORK/image.sum") || fail "the previous checkpoint was modified"
used=$(df --output=used -k tiny | tail -1)
log "after the failed dump: ${used} KiB used (the partial image is gone)"
kill -9 "$big"
wait_gone "$big"

# And it restores.
restore_detached tiny/ckpt
[ "$RESTORED" = "$small" ] || fail "restored as pid $RESTORED, expected $small"
wait_line small.txt "^tick $((small_last + 3))\$" 30
kill -USR1 "$small"
wait_line small.txt '^sum ' 30
got=$(awk '/^sum/ {print $2}' small.txt | tail -1)
[ "$got" = "$small_sum" ] || fail "restored checksum $got, expected $small_sum"
ticks_consecutive small.txt
log "disk full: dump failed cleanly, target ran on, previous checkpoint intact and restored"
