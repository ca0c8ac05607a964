#!/usr/bin/env bash
# Builds the libFuzzer targets of the image parsers with clang (ASan + UBSan) and runs each for
# a while on its seed corpus. Not part of the meson build.
#   bash tests/fuzz/run.sh [SECONDS_PER_TARGET]   default 60
#   bash tests/fuzz/run.sh build                  only build, into build-fuzz/
# Findings (crash-*, leak-*, timeout-*) land in build-fuzz/findings/; the run fails if any does.
# New inputs found while fuzzing go to build-fuzz/corpus-*/, never into the committed seeds.
# Seeds: tests/fuzz/corpus/{manifest,tree,load}/, made from a real image by make_corpus.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=$root/build-fuzz
secs=${1:-60}
mkdir -p "$out/findings"
CXX=${CXX:-clang++}
command -v "$CXX" >/dev/null || { echo "run.sh: $CXX not found (apt-get install clang)" >&2; exit 1; }

flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -Wall -Wextra -Werror -D_GNU_SOURCE -DCK_VERSION='"fuzz"'
       -Isrc -Iarch/x86_64)
srcs=(src/image_codec.cpp src/image_dir.cpp src/error.cpp src/log.cpp)
libs=(-lzstd -lxxhash)
build() {
  local name=$1; shift
  if [ ! -x "$out/$name" ] || [ -n "$(find "${srcs[@]}" src/*.hpp tests/fuzz/*.cpp -newer "$out/$name" | head -1)" ]; then
    echo "building $name"
    "$CXX" "${flags[@]}" "$@" "${srcs[@]}" -o "$out/$name" "${libs[@]}"
  fi
}
build fuzz_manifest -DCK_FUZZ_MANIFEST tests/fuzz/fuzz_decode.cpp
build fuzz_tree -DCK_FUZZ_TREE tests/fuzz/fuzz_decode.cpp
build fuzz_load tests/fuzz/fuzz_load.cpp
[ "$secs" = build ] && exit 0

rc=0
for t in manifest tree load; do
  mkdir -p "$out/corpus-$t"
  echo "fuzzing $t for $secs s"
  # -rss_limit_mb: a decoder that allocates what a count claims shows up as an OOM finding.
  (cd "$out/findings" && "$out/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=1024 -timeout=10 \
      -print_final_stats=1 "$out/corpus-$t" "$root/tests/fuzz/corpus/$t" 2>&1 | tee "$out/fuzz_$t.log" |
      grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY|artifact_prefix)' ) || rc=1
done
ls "$out/findings" | grep -q . && { echo "findings in $out/findings:"; ls "$out/findings"; rc=1; }
exit $rc
