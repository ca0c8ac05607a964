# Shared by tools/slurm/start.sh and stop.sh: where the test SLURM keeps its files, and how
# its daemons are found and ended (by the PID files it wrote, never by name).
CK_SLURM_STATE=${CK_SLURM_STATE:-/run/ck-slurm}
CK_SLURM_CONF=$CK_SLURM_STATE/slurm.conf

die() { echo "slurm: $*" >&2; exit 1; }

pid_of() { local f=$CK_SLURM_STATE/$1; [ -s "$f" ] && cat "$f"; }

# Whether a PID file names a live process running the program it should.
alive_as() {
  local pid
  pid=$(pid_of "$1") || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$2")" ]
}

daemons_alive() {
  alive_as munge/munged.pid /usr/sbin/munged && alive_as slurmctld.pid /usr/sbin/slurmctld &&
    alive_as slurmd.pid /usr/sbin/slurmd
}

# Cancels the jobs of this SLURM and ends its daemons; job steps that outlive slurmd (their
# slurmstepd) are this SLURM's too: they are found through their spool directory.
stop_daemons() {
  local i pid
  if alive_as slurmctld.pid /usr/sbin/slurmctld; then
    SLURM_CONF=$CK_SLURM_CONF scancel --quiet --full $(SLURM_CONF=$CK_SLURM_CONF squeue -h -o %i 2>/dev/null) 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      [ -z "$(SLURM_CONF=$CK_SLURM_CONF squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  for d in slurmd.pid:/usr/sbin/slurmd slurmctld.pid:/usr/sbin/slurmctld munge/munged.pid:/usr/sbin/munged; do
    alive_as "${d%%:*}" "${d#*:}" || continue
    pid=$(pid_of "${d%%:*}")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      # Gone, or a zombie waiting for PID 1 (the daemons detached from us).
      [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
