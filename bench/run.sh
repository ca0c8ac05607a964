#!/usr/bin/env bash
# The benchmark suite; see bench/README.md.
#   sudo bash bench/run.sh [ckbench options...]    the suite: one table (ckbench --help)
#   bash bench/run.sh pages [bench_pages options]  the page pipeline alone (no root needed)
# Environment: CK_BENCH_DIR   where images and baseline files go: the file system your
#                             checkpoints will use (default /var/tmp)
#              CK_BENCH_BUILD build directory (default <repo>/build-bench, a release build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CK_BENCH_BUILD:-$root/build-bench}
dir=${CK_BENCH_DIR:-/var/tmp}

# meson's release build (-O3). The machine may be shared: nice, two jobs at most.
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" --buildtype=release >/dev/null
elif ! meson introspect "$build" --buildoptions | grep -q '"name": "optimization", "value": "3"'; then
  meson configure "$build" -Doptimization=3 >/dev/null  # a build-bench made when -O2 was needed
fi
build_targets() { nice ninja -j2 -C "$build" "$@" >/dev/null; }

if [ "${1:-}" = pages ]; then
  shift
  build_targets bench/bench_pages
  exec "$build/bench/bench_pages" --dir "$dir" "$@"
fi

build_targets src/ckdump src/ckrestore bench/ckbench bench/bench_target
if [ "$(id -u)" != 0 ]; then
  echo "bench/run.sh: run as root (ckrestore gives the program back its PID)" >&2
  exit 1
fi
exec "$build/bench/ckbench" --build "$build" --src "$root" --dir "$dir" "$@"
