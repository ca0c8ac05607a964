#!/usr/bin/env bash
# Builds bench_pages (release) and runs it; see bench/README.md.
#   bench/run.sh [GIB] [extra bench_pages options...]
# Environment: CK_BENCH_DIR   where the pages file goes (put it on the image dir's file system;
#                             default /var/tmp)
#              CK_BENCH_BUILD build directory (default <repo>/build-bench)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CK_BENCH_BUILD:-$root/build-bench}
gib=${1:-1}
[ $# -gt 0 ] && shift
dir=${CK_BENCH_DIR:-/var/tmp}

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" --buildtype=release >/dev/null
fi
ninja -C "$build" bench/bench_pages >/dev/null
exec "$build/bench/bench_pages" --gib "$gib" --dir "$dir" "$@"
