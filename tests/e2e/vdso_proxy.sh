# A restore on a kernel whose vDSO differs: the program keeps the pointers glibc cached into
# its old vDSO, which become a proxy (an anonymous r-x copy whose functions jump to this
# kernel's vDSO, placed elsewhere). CK_TEST_VDSO_PROXY=1 makes ckrestore take that path on
# this one kernel. vdsocalls fails its own checks if a call is not served by a working vDSO.
. "$(dirname "$0")/lib.sh"
cd "$WORK"

# mapping PID NAME: "start perms" of the mapping named NAME ([vdso], [vvar]).
mapping() { awk -v n="$2" '$6 == n { split($1, a, "-"); print a[1], $2; exit }' /proc/$1/maps; }
# anon_at PID START: the perms of an unnamed mapping starting at START, empty if none.
anon_at() { awk -v s="$2" '{ split($1, a, "-") } a[1] == s && NF == 5 { print $2 }' /proc/$1/maps; }
no_fail() { ! grep -q FAIL "$1" || fail "$(grep FAIL "$1" | head -1)"; }
dump() {
  "$CKDUMP" -t "$1" -D "$2" 2>dump.log || { cat dump.log; fail "ckdump failed"; }
  wait_gone "$1"
}
# resume OUT: waits for 10 more ticks after the restore, all consecutive, no FAIL.
resume() {
  local n
  n=$(last_tick "$1")
  wait_line "$1" "^tick $((n + 10))\$" 30
  no_fail "$1"
  ticks_consecutive "$1"
}

# 1. Same kernel, no hook: the vDSO goes back where it was, nothing else.
start_target plain.txt "$PROGS/vdsocalls"
wait_line plain.txt '^(tick 6|novdso)$'
grep -q '^novdso$' plain.txt && { log "clock source not readable from user space: nothing to test"; exit 77; }
read -r vdso0 _ < <(mapping "$TARGET" '[vdso]')
dump "$TARGET" plain
restore_detached plain
resume plain.txt
read -r vdso1 _ < <(mapping "$RESTORED" '[vdso]')
[ "$vdso1" = "$vdso0" ] || fail "[vdso] at $vdso1 after a same-kernel restore, was at $vdso0"
[ -z "$(anon_at "$RESTORED" "$vdso0")" ] || fail "an anonymous mapping at the vDSO's address"
log "same kernel: [vdso] back at $vdso0"
kill -9 "$RESTORED"
wait_gone "$RESTORED"

# 2. The proxy, checkpointed inside a signal handler (arm64: its frame returns through the old
#    vDSO's __kernel_rt_sigreturn).
start_target out.txt "$PROGS/vdsocalls"
wait_line out.txt '^tick 6$'
read -r vdso0 _ < <(mapping "$TARGET" '[vdso]')
read -r vvar0 _ < <(mapping "$TARGET" '[vvar]')
kill -USR2 "$TARGET"
wait_line out.txt '^usr2 in$'
dump "$TARGET" ckpt
[ -f ckpt/vdso.ck ] || fail "no vdso.ck in the image"
"$CKIMAGE" verify ckpt >&2 || fail "ckimage verify of an image with vdso.ck failed"
grep -q '^usr2 out$' out.txt && fail "the handler ended before the checkpoint: test it again slower"
CK_TEST_VDSO_PROXY=1 restore_detached ckpt
wait_line out.txt '^usr2 out$'
resume out.txt
read -r vdso1 _ < <(mapping "$RESTORED" '[vdso]')
[ -n "$vdso1" ] && [ "$vdso1" != "$vdso0" ] || fail "[vdso] at '$vdso1', expected it moved from $vdso0"
[ "$(anon_at "$RESTORED" "$vdso0")" = r-xp ] || { cat /proc/$RESTORED/maps >&2; fail "no anonymous r-x proxy at $vdso0"; }
[ "$(anon_at "$RESTORED" "$vvar0")" = r--p ] || { cat /proc/$RESTORED/maps >&2; fail "the old [vvar] range $vvar0 is not read-only zeros"; }
log "proxy: old vDSO address $vdso0 is an anonymous r-x proxy, [vdso] now at $vdso1"

# 3. A proxied program checkpointed again and restored on the same kernel: the proxy is plain
#    memory of the program now, the vDSO goes back to its new address.
dump "$RESTORED" ckpt2
restore_detached ckpt2
resume out.txt
read -r vdso2 _ < <(mapping "$RESTORED" '[vdso]')
[ "$vdso2" = "$vdso1" ] || fail "[vdso] at $vdso2 after the second restore, was at $vdso1"
[ "$(anon_at "$RESTORED" "$vdso0")" = r-xp ] || fail "the proxy at $vdso0 is gone after the second restore"

# 4. And proxied twice: the proxy of a proxy.
dump "$RESTORED" ckpt3
CK_TEST_VDSO_PROXY=1 restore_detached ckpt3
resume out.txt
read -r vdso3 _ < <(mapping "$RESTORED" '[vdso]')
[ "$(anon_at "$RESTORED" "$vdso2")" = r-xp ] && [ "$vdso3" != "$vdso2" ] || fail "second proxy not in place"
log "$(last_tick out.txt) ticks, consecutive, every call served by a vDSO"
