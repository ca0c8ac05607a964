#!/usr/bin/env bash
# Starts a single-node SLURM on loopback for ck's SLURM tests (as root): munged, slurmctld and
# slurmd as background daemons (no systemd needed), every file of theirs in one state
# directory, nothing in /etc changed. Prints the line to eval for the client commands:
#   eval "$(bash tools/slurm/start.sh)"    # sets SLURM_CONF
# Calls nest: each start.sh is matched by a stop.sh, and the last stop.sh ends the daemons
# this script started (and only those). Installs the packages first if they are missing.
#
# Settings (measured on Debian 12, SLURM 22.05): a requeued job is held for cred_expire+1 s
# (default 120 s), so cred_expire=5 and a 2 s scheduler tick restart it within 5-8 s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
[ "$(id -u)" = 0 ] || die "needs root"
bash "$here/install.sh"

mkdir -p "$CK_SLURM_STATE"
exec 9>"$CK_SLURM_STATE/lock"
flock 9

if [ -f "$CK_SLURM_STATE/users" ] && daemons_alive; then
  echo $(( $(cat "$CK_SLURM_STATE/users") + 1 )) > "$CK_SLURM_STATE/users"
  echo "export SLURM_CONF=$CK_SLURM_CONF"
  exit 0
fi
# A previous run that was not stopped (killed test): end what it left, then start afresh.
stop_daemons
for port in 6817 6818; do
  ! ss -Hltn "sport = :$port" 2>/dev/null | grep -q . || die "port $port is taken: another SLURM runs here"
done

t0=$(date +%s.%N)
host=$(hostname -s)
# The node as slurmd sees it, with CPUs raised so that a few test jobs run side by side on a
# small machine (config_overrides lets slurmd accept a node declared larger than it is).
mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
cpus=$(nproc)
[ "$cpus" -ge 8 ] || cpus=8
install -d -o munge -g munge -m 0755 "$CK_SLURM_STATE/munge"
# A key of its own: nothing in /etc/munge is used or changed.
head -c 1024 /dev/urandom >"$CK_SLURM_STATE/munge/munge.key"
chown munge:munge "$CK_SLURM_STATE/munge/munge.key"
chmod 0400 "$CK_SLURM_STATE/munge/munge.key"
install -d -m 0755 "$CK_SLURM_STATE/ctld" "$CK_SLURM_STATE/d"
cat >"$CK_SLURM_CONF" <<CONF
# Written by ck's tools/slurm/start.sh: a single-node SLURM on loopback for tests.
ClusterName=ck
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$CK_SLURM_STATE/munge/munge.socket.2,cred_expire=5
StateSaveLocation=$CK_SLURM_STATE/ctld
SlurmdSpoolDir=$CK_SLURM_STATE/d
SlurmctldPidFile=$CK_SLURM_STATE/slurmctld.pid
SlurmdPidFile=$CK_SLURM_STATE/slurmd.pid
SlurmctldLogFile=$CK_SLURM_STATE/slurmctld.log
SlurmdLogFile=$CK_SLURM_STATE/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=1
JobRequeue=1
ReturnToService=2
MinJobAge=30
KillWait=5
MailProg=/bin/true
MpiDefault=none
SwitchType=switch/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ck Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
chmod 644 "$CK_SLURM_CONF"

runuser -u munge -- /usr/sbin/munged 9>&- --socket="$CK_SLURM_STATE/munge/munge.socket.2" \
  --key-file="$CK_SLURM_STATE/munge/munge.key" \
  --pid-file="$CK_SLURM_STATE/munge/munged.pid" --log-file="$CK_SLURM_STATE/munge/munged.log" \
  --seed-file="$CK_SLURM_STATE/munge/munged.seed"
slurmctld -c -f "$CK_SLURM_CONF" 9>&-
slurmd -f "$CK_SLURM_CONF" 9>&-
echo 1 > "$CK_SLURM_STATE/users"

export SLURM_CONF=$CK_SLURM_CONF
for ((i = 0; i < 300; i++)); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.1
done
if [ "$state" != idle ]; then
  tail -5 "$CK_SLURM_STATE"/slurmctld.log "$CK_SLURM_STATE"/slurmd.log >&2 || true
  stop_daemons
  rm -f "$CK_SLURM_STATE/users"
  die "node $host did not become idle (state '$state')"
fi
printf 'slurm/start: single-node SLURM up on 127.0.0.1 in %.1f s (node %s, %s CPUs)\n' \
  "$(echo "$(date +%s.%N) - $t0" | bc)" "$host" "$cpus" >&2
echo "export SLURM_CONF=$CK_SLURM_CONF"
