# The vDSO proxy on arm64 (tests/e2e/vdso_proxy.sh for busybox sh): glibc's cached vDSO
# pointers, a signal frame returning through the old vDSO's __kernel_rt_sigreturn, the jumps
# landing on functions that start with bti c / paciasp. CK_TEST_VDSO_PROXY=1 forces the proxy.
. "$(dirname "$0")/lib.sh"
cd "$WORK"

mapping() { awk -v n="$2" '$6 == n { split($1, a, "-"); print a[1]; exit }' "/proc/$1/maps"; }
anon_at() { awk -v s="$2" '{ split($1, a, "-") } a[1] == s && NF == 5 { print $2 }' "/proc/$1/maps"; }
no_fail() { ! grep -q FAIL "$1" || fail "$(grep FAIL "$1" | head -1)"; }
resume() {
  _n=$(last_tick "$1")
  wait_line "$1" "^tick $((_n + 10))\$" 60
  no_fail "$1"
  ticks_consecutive "$1"
}

# Same kernel, no hook: the vDSO back where it was.
start_target plain.txt "$PROGS/vdsocalls"
wait_line plain.txt '^(tick 6|novdso)$' 60
grep -q '^novdso$' plain.txt && fail "the clock source of this VM is not readable from user space"
v0=$(mapping "$TARGET" '[vdso]')
dump plain "$TARGET"
wait_gone "$TARGET"
restore_detached plain
resume plain.txt
[ "$(mapping "$RESTORED" '[vdso]')" = "$v0" ] || fail "[vdso] moved in a same-kernel restore"
kill -9 "$RESTORED"
wait_gone "$RESTORED"

# The proxy, checkpointed while a signal handler runs.
start_target out.txt "$PROGS/vdsocalls"
wait_line out.txt '^tick 6$' 60
v0=$(mapping "$TARGET" '[vdso]')
vv0=$(mapping "$TARGET" '[vvar]')
kill -USR2 "$TARGET"
wait_line out.txt '^usr2 in$'
dump ckpt "$TARGET"
wait_gone "$TARGET"
grep -q '^usr2 out$' out.txt && fail "the handler ended before the checkpoint"
CK_TEST_VDSO_PROXY=1 restore_detached ckpt
wait_line out.txt '^usr2 out$' 60
resume out.txt
v1=$(mapping "$RESTORED" '[vdso]')
[ -n "$v1" ] && [ "$v1" != "$v0" ] || fail "[vdso] at '$v1', expected it moved from $v0"
[ "$(anon_at "$RESTORED" "$v0")" = r-xp ] || { cat "/proc/$RESTORED/maps" >&2; fail "no anonymous r-x proxy at $v0"; }
[ "$(anon_at "$RESTORED" "$vv0")" = r--p ] || { cat "/proc/$RESTORED/maps" >&2; fail "old [vvar] not read-only zeros"; }
# A signal after the restore returns through the new vDSO's sigreturn (every 5th tick did);
# a checkpoint of the proxied program restores on this kernel as it is.
dump ckpt2 "$RESTORED"
wait_gone "$RESTORED"
restore_detached ckpt2
resume out.txt
[ "$(mapping "$RESTORED" '[vdso]')" = "$v1" ] || fail "[vdso] not at $v1 after the second restore"
log "[vdso] $v0 -> $v1, proxy at $v0, $(last_tick out.txt) consecutive ticks"
