#!/usr/bin/env bash
# ckdump/ckrestore of a real program holding GIB GiB, next to `zstd -1 -T0` over the same bytes
# read from memory (tmpfs), measured in the same run. Needs root (the restore keeps the PID).
#   bench/dump_restore.sh [GIB] [IMAGE_DIR_PARENT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
gib=${1:-1}
parent=${2:-/var/tmp}
bash "$root/tools/setup.sh"
b=$root/build
work=$(mktemp -d "$parent/ck-bench.XXXXXX")
shm=$(mktemp -d /dev/shm/ck-bench.XXXXXX)
trap 'rm -rf "$work" "$shm"; [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null; true' EXIT
now() { date +%s.%N; }
printf '%-7s %8s | %9s %9s %11s %9s | %9s %11s | %9s %9s\n' kind MiB "dump s" "frozen s" "image MB" "restore s" "zstd s" "zstd MB" "dump/zstd" "img/zstd"
for kind in smooth random; do
  setsid -f bash -c 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
    echo $$ >"$0/pid"; exec "$1" "$2" "$3" "$4" >"$0/out.txt" 2>&1 </dev/null' \
    "$work" "$b/tests/progs/memhog" $((gib * 1024)) "$kind" "$shm/data.bin"
  while ! grep -q '^tick 2$' "$work/out.txt" 2>/dev/null; do sleep 0.1; done
  pid=$(cat "$work/pid")
  t0=$(now); zstd -q -1 -T0 -c "$shm/data.bin" >"$work/data.zst"; sync -f "$work"; t1=$(now)
  zstd_s=$(echo "$t1 - $t0" | bc); zstd_b=$(stat -c %s "$work/data.zst")
  rm -f "$work/data.zst" "$shm/data.bin"
  "$b/src/ckdump" -t "$pid" -D "$work/ckpt" --stats >"$work/stats.json"
  dump_s=$(sed 's/.*"dump_seconds": \([0-9.]*\).*/\1/' "$work/stats.json")
  frozen_s=$(sed 's/.*"frozen_seconds": \([0-9.]*\).*/\1/' "$work/stats.json")
  img_b=$(du -sbL "$work/ckpt" | cut -f1)
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
  t0=$(now); "$b/src/ckrestore" -D "$work/ckpt" -d >/dev/null; t1=$(now)
  restore_s=$(echo "$t1 - $t0" | bc)
  kill -USR1 "$pid"; sleep 0.5
  [ "$(grep -c '^sum' "$work/out.txt")" = 1 ] && [ "$(awk '/^ready sum/ {print $3}' "$work/out.txt")" = "$(awk '/^sum/ {print $2}' "$work/out.txt")" ] || { echo "restored memory differs" >&2; exit 1; }
  kill -9 "$pid"; pid=
  printf '%-7s %8d | %9.2f %9.2f %11.1f %9.2f | %9.2f %11.1f | %9.2f %9.3f\n' "$kind" $((gib * 1024)) "$dump_s" "$frozen_s" \
    "$(echo "$img_b / 1000000" | bc -l)" "$restore_s" "$zstd_s" "$(echo "$zstd_b / 1000000" | bc -l)" \
    "$(echo "$dump_s / $zstd_s" | bc -l)" "$(echo "$img_b / $zstd_b" | bc -l)"
  rm -rf "$work/ckpt" "$work/out.txt"
done
