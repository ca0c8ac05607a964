# Shared by the SLURM tests (slurm_*.sh): a real single-node SLURM (tools/slurm/start.sh),
# jobs submitted by the unprivileged user, and checks of the job output file.
# Environment (set by meson): CKJOB and the others of lib.sh.
. "$(dirname "$0")/lib.sh"
user_setup
cd "$WORK"
# The examples' job scripts call ckjob by name: the built one comes first on the PATH the jobs
# inherit (sbatch exports the submitter's environment).
JOB_PATH="$(dirname "$CKJOB"):/usr/local/bin:/usr/bin:/bin"
eval "$(bash "$SRCDIR/tools/slurm/start.sh")"
[ -n "${SLURM_CONF:-}" ] || fail "tools/slurm/start.sh did not start SLURM"
JOBS=()
slurm_cleanup() {
  local j
  for j in "${JOBS[@]}"; do scancel --quiet "$j" 2>/dev/null || true; done
  if [ "${KEEP_SLURM_LOGS:-}" ]; then cp /run/ck-slurm/*.log "$KEEP_SLURM_LOGS"/ 2>/dev/null || true; fi
  bash "$SRCDIR/tools/slurm/stop.sh" || true
  cleanup
}
trap slurm_cleanup EXIT

# submit ARGS...: sbatch as the test user in $WORK; sets JOB.
submit() {
  local q
  printf -v q '%q ' "$@"
  JOB=$(su "$CK_USER" -s /bin/sh -c "cd $WORK && SLURM_CONF=$SLURM_CONF PATH=$JOB_PATH sbatch --parsable $q") ||
    fail "sbatch $* failed"
  JOB=${JOB%%;*}
  JOBS+=("$JOB")
  log "submitted job $JOB: sbatch $*"
}

job_field() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# wait_job JOB STATE [SECONDS]
wait_job() {
  local j=$1 want=$2 t=${3:-120} i s=
  for ((i = 0; i < t * 5; i++)); do
    s=$(job_field "$j" JobState)
    [ "$s" = "$want" ] && return 0
    sleep 0.2
  done
  fail "job $j is $s, not $want, after $t s"
}

# wait_restarts JOB N [SECONDS]: until the job runs for the (N+1)th time (or a later one).
wait_restarts() {
  local j=$1 n=$2 t=${3:-120} i r
  for ((i = 0; i < t * 5; i++)); do
    r=$(job_field "$j" Restarts)
    [ "${r:-0}" -ge "$n" ] && [ "$(job_field "$j" JobState)" = RUNNING ] && return 0
    sleep 0.2
  done
  fail "job $j did not run a restart $n within $t s (Restarts=$(job_field "$j" Restarts), $(job_field "$j" JobState))"
}

# unglue FILE: FILE with every "11ckjob ..." split into "11" and "ckjob ..." lines. The program
# and ckjob write to the same file, and python -u prints "11" and its newline with two write()s,
# so a ckjob line can land between them: that is the file's sharing, not a lost line.
unglue() { sed 's/^\([0-9][0-9]*\)ckjob /\1\nckjob /' "$1"; }

# numbers_continuous FILE: the lines that are numbers read 1, 2, 3 ... with no gap and no repeat;
# prints the last.
numbers_continuous() {
  unglue "$1" | awk '/^[0-9]+$/ { if ($1 != prev + 1) { print "after " prev " comes " $1 > "/dev/stderr"; bad = 1 } prev = $1 }
       END { print prev; exit bad }' || { cat "$1" >&2; fail "the count in $1 is not 1, 2, 3 ... without gaps or repeats"; }
}

# ckjob's log lines carry UTC times "2026-11-25T07:01:02.123Z": seconds of the day (a line may
# start with a number the program printed just before, see unglue).
log_time() { sed -n "s/^[0-9]*ckjob [0-9-]*T\([0-9:.]*\)Z: .*$1.*/\1/p" "$2" | sed -n "${3:-1}p" | awk -F: '{printf "%.3f\n", $1*3600+$2*60+$3}'; }

# report_restarts FILE N: for each of the N requeues, the dump time and the time from the
# signal to the program running again in the requeued job.
report_restarts() {
  local f=$1 n=$2 i sig restored dump
  for ((i = 1; i <= n; i++)); do
    sig=$(log_time "got SIG" "$f" "$i")
    restored=$(log_time "restored in" "$f" "$i")
    dump=$(grep 'checkpoint (before the end of the job) written in' "$f" | sed -n "${i}p" | sed 's/.*written in \([0-9.]*\) s.*/\1/')
    [ -n "$sig" ] && [ -n "$restored" ] || fail "requeue $i: no 'got SIG' / 'restored in' line in $f"
    log "requeue $i: dump in the job $dump s; signal -> program running again in the requeued job $(echo "$restored - $sig" | bc) s"
  done
}
