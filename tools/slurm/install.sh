#!/usr/bin/env bash
# Installs the Debian 12 packages of a single-node SLURM (munge, slurmctld, slurmd,
# slurm-client; 22.05) for the SLURM tests, without letting the package scripts start any
# service: tools/slurm/start.sh starts the daemons itself. Idempotent; needs root.
set -euo pipefail
pkgs=(munge slurmctld slurmd slurm-client)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "slurm/install: needs root to install ${missing[*]}" >&2; exit 1; }
echo "slurm/install: installing ${missing[*]}" >&2
# invoke-rc.d asks /usr/sbin/policy-rc.d whether it may start a service: 101 says no. Put one
# in place only for the install, unless the machine already has one.
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  own_policy=1
fi
cleanup() { [ -z "$own_policy" ] || rm -f "$policy"; }
trap cleanup EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
