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

# -O2, not meson's release -O3: GCC 12 at -O3 reports a false -Wrestrict in std::string code
# (image_json.cpp) and -Werror stops the build; the hot loops are in libzstd either way.
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" --buildtype=release -Doptimization=2 >/dev/null
elif ! meson introspect "$build" --buildoptions | grep -q '"name": "optimization", "value": "2"'; then
  meson configure "$build" -Doptimization=2 >/dev/null
fi

if [ "${1:-}" = pages ]; then
  shift
  ninja -C "$build" bench/bench_pages >/dev/null
  exec "$build/bench/bench_pages" --dir "$dir" "$@"
fi

ninja -C "$build" src/ckdump src/ckrestore bench/ckbench bench/bench_target >/dev/null
if [ "$(id -u)" != 0 ]; then
  echo "bench/run.sh: run as root (ckrestore gives the program back its PID)" >&2
  exit 1
fi
exec "$build/bench/ckbench" --build "$build" --src "$root" --dir "$dir" "$@"
