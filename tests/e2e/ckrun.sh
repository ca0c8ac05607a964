# ckrun, as a normal user with no capabilities: the user checkpoints the program (giving ckrun's
# PID), restores it without privilege with the same PIDs inside its namespace, while the
# original still runs (the PIDs would clash outside); ckrestore passes signals on and returns
# the program's exit status.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
user_setup
start_target out.txt "${AS_USER[@]}" "$CKRUN" -- "$PROGS/memhog" 64 random
wait_line out.txt '^tick 3$'
init=$(child_of "$TARGET")
prog=$(child_of "$init")
[ "$(inner_pid "$init") $(inner_pid "$prog")" = "1 2" ] || fail "ckrun's tree is not init 1 / program 2"
sum=$(awk '/^ready sum/ {print $3}' out.txt)
as_user "$CKDUMP" -t "$TARGET" -D "$WORK/ckpt" -R 2>dump.log || { cat dump.log; fail "ckdump of ckrun's pid failed"; }
as_user "$CKDUMP" -t "$prog" -D "$WORK/ckpt" 2>dump.log || { cat dump.log; fail "ckdump of the program's pid failed"; }
wait_gone "$prog"
at=$(last_tick out.txt)
sleep 0.3
"${AS_USER[@]}" "$CKRESTORE" -D "$WORK/ckpt" 2>restore.log &
CKR=$!
PIDS+=("$CKR")
wait_line out.txt "^tick $((at + 3))\$" 30
rinit=$(child_of "$CKR")
rprog=$(child_of "$rinit")
[ "$(inner_pid "$rinit") $(inner_pid "$rprog")" = "1 2" ] || fail "restored PIDs inside are not 1 / 2: ckrestore $CKR init $rinit ($(inner_pid "$rinit")) prog $rprog ($(inner_pid "$rprog"))"
grep -q "^CapEff:.0000000000000000" /proc/$rprog/status || fail "the restored program has capabilities: $(grep CapEff /proc/$rprog/status)"
grep -q "^Uid:.$CK_UID.$CK_UID.$CK_UID" /proc/$rprog/status || fail "the restored program does not run as $CK_USER"
kill -USR1 "$CKR"  # through ckrestore and ckrun's init to the program
wait_line out.txt '^sum ' 10
[ "$(awk '/^sum/ {print $2}' out.txt)" = "$sum" ] || fail "memory differs after restore"
ticks_consecutive out.txt
kill -TERM "$CKR"
rc=0
wait "$CKR" || rc=$?
[ "$rc" = 7 ] || { cat restore.log; fail "ckrestore returned $rc, the program's status is 7"; }
log "checkpointed and restored as $CK_USER; signals and exit status passed through"
