#!/usr/bin/env bash
# Ends the single-node SLURM of tools/slurm/start.sh once its last user calls this: cancels
# the jobs still in it, stops the daemons start.sh started (by the PIDs it recorded) and
# removes their state directory. Touches nothing else.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
[ -d "$CK_SLURM_STATE" ] || exit 0
exec 9>"$CK_SLURM_STATE/lock"
flock 9
users=$(cat "$CK_SLURM_STATE/users" 2>/dev/null || echo 1)
if [ "$users" -gt 1 ]; then
  echo $((users - 1)) > "$CK_SLURM_STATE/users"
  exit 0
fi
stop_daemons
rm -rf "$CK_SLURM_STATE"
echo "slurm/stop: stopped" >&2
