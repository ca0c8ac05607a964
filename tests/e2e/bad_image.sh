# Damaged or foreign images: a clear one-line error (exit 3), nothing restored, image untouched.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/memhog" 16 random
wait_line out.txt '^tick 2$'
pid=$TARGET
"$CKDUMP" -t "$TARGET" -D good 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
pages=$(cd good && ls pages-*.ck)

variant() { rm -rf "$1" && cp -aL good "$1"; }
variant truncated && truncate -s -4096 "truncated/$pages"
variant flipped && printf '\x55' | dd of=flipped/manifest.ck bs=1 seek=40 conv=notrunc status=none
variant future && printf '\x63' | dd of=future/manifest.ck bs=1 seek=8 conv=notrunc status=none
variant notree && rm notree/tree.ck
for d in truncated flipped future notree; do sha256sum "$d"/* >"$d.sum"; done

expect_fail 3 "$pages.*(truncated|size)" "$CKRESTORE" -D truncated
expect_fail 3 'manifest.ck' "$CKRESTORE" -D flipped
expect_fail 3 'format version' "$CKRESTORE" -D future
expect_fail 3 'tree.ck' "$CKRESTORE" -D notree
expect_fail 3 'no such checkpoint|missing' "$CKRESTORE" -D does-not-exist
expect_fail 3 "$pages" "$CKIMAGE" verify truncated
for d in truncated flipped future notree; do sha256sum -c --quiet "$d.sum" || fail "ckrestore modified $d"; done
alive "$pid" && fail "something runs as pid $pid after failed restores"
restore_detached good
log "the intact image still restores (pid $RESTORED)"
