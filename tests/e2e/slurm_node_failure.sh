# Node failure drill on a real SLURM: ckjob --interval takes periodic checkpoints (-R) while
# count-signal.py runs; then every process of the job dies by SIGKILL at once and the job is requeued,
# as SLURM does when a node dies (no signal, no last checkpoint). The next run must restore the
# last periodic checkpoint: the count goes back to the number after the one printed last before
# that checkpoint, and goes on from there without gaps.
. "$(dirname "$0")/slurm_lib.sh"
cp "$SRCDIR/examples/count-signal.py" .
cat >job.sh <<'JOB'
#!/bin/bash
#SBATCH --output=drill.out
#SBATCH --open-mode=append
echo "restarted ${SLURM_RESTART_COUNT-0}"
exec ckjob -D ckpt --interval 4 -- python3 -u count-signal.py
JOB
chown "$CK_UID:$CK_GID" count-signal.py job.sh
submit --time=5 job.sh
wait_job "$JOB" RUNNING 30
# Two periodic checkpoints, then 2 s into the interval to the next one.
wait_line drill.out 'checkpoint \(periodic\) written' 30
n=$(count_lines 'checkpoint \(periodic\) written' drill.out)
wait_line drill.out "$(printf 'checkpoint \\(periodic\\) written.*%06d-' $((n + 1)))" 30
sleep 2
pids=$(scontrol listpids "$JOB" | awk 'NR > 1 && $1 ~ /^[0-9]+$/ {print $1}')
[ -n "$pids" ] || fail "scontrol listpids $JOB shows no process"
log "node failure: SIGKILL to $(echo $pids) ($(ps -o comm= -p "$(echo $pids | tr ' ' ,)" | tr '\n' ' '))"
kill -KILL $pids
killed_at=$(count_lines '^[0-9]+$' drill.out)
scontrol requeue "$JOB" || fail "scontrol requeue $JOB failed"
wait_restarts "$JOB" 1 60
wait_line drill.out '^restarted 1$' 30
wait_line drill.out 'restored in' 30
sleep 4
scancel "$JOB"
wait_job "$JOB" CANCELLED 60
cat drill.out >&2
unglue drill.out >drill.lines
# k: the last number printed before the last periodic checkpoint of the first run was written.
read -r k version < <(awk '/^restarted 1$/ {exit} /^[0-9]+$/ {last = $1}
  /checkpoint \(periodic\) written/ {k = last; v = $NF} END {print k, v}' drill.lines)
version=${version%)}
version=${version#(}
first=$(awk '/^restarted 1$/ {r = 1} r && /^[0-9]+$/ {print $1; exit}' drill.lines)
log "killed after $killed_at; last periodic checkpoint $version after $k; run 2 counts on from $first"
grep -q "restoring from ckpt ($version)" drill.out || fail "run 2 did not restore the last periodic checkpoint $version"
# -R lets the program go before the image's final sync and commit: the number it prints during
# those few ms comes before the "written" line but after the freeze, and run 2 prints it again.
[ "$first" -ge "$k" ] && [ "$first" -le $((k + 2)) ] || fail "run 2 starts at $first, the checkpoint was taken after $k"
[ "$first" -le "$killed_at" ] || fail "run 2 starts at $first, after the $killed_at printed before the kill: not rewound"
awk '/^restarted 1$/ {r = 1; prev = 0} r && /^[0-9]+$/ { if (prev && $1 != prev + 1) bad = 1; prev = $1 } END {exit bad}' drill.lines ||
  fail "run 2 does not count on without gaps"
