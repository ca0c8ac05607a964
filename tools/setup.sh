#!/usr/bin/env bash
# Installs what ck needs to build and test on Debian 12, and builds it into build/.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential meson ninja-build pkg-config python3
      libzstd-dev libxxhash-dev libelf-dev libcap-dev libboost-test-dev
      zstd util-linux passwd procps bc)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The SLURM tests (tests/e2e/slurm_*.sh) run a real single-node SLURM: its Debian packages,
# installed without starting any service.
if [ "$(id -u)" = 0 ]; then bash tools/slurm/install.sh; else sudo bash tools/slurm/install.sh; fi

[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
ninja -C build >/dev/null
echo "setup: built ck in $(pwd)/build" >&2
