# Damaged images, swept: over a real image (memhog, 8 MiB of random data), every file is damaged
# at many offsets (each header byte, a spread through the file, zstd frame starts) and truncated,
# grown and removed, one case at a time, and ckrestore is run on each. Every case must fail
# cleanly (one-line error, exit 1-6, nothing left running, image untouched) or restore the
# identical program; corrupt_sweep.py has the details. CK_LONG=1: many more offsets (minutes).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/memhog" 8 random
wait_line out.txt '^tick 2$'
pid=$TARGET
sum=$(awk '/^ready sum/ {print $3}' out.txt)
"$CKDUMP" -t "$pid" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$pid"
# The version directory itself: the driver lays out its own link to a damaged copy of it.
image=$(readlink -f ckpt)
[ -f "$image/manifest.ck" ] || fail "no image at $image"
long=()
[ "${CK_LONG:-0}" = 1 ] && long=(--long)
python3 "$here/corrupt_sweep.py" --ckrestore "$CKRESTORE" --image "$image" --work "$WORK/sweep" \
  --pid "$pid" --sum "$sum" --out "$WORK/out.txt" "${long[@]}" || fail "corrupt sweep found violations"
# ckrestore read the copies only: the original image is intact and restores.
"$CKIMAGE" verify ckpt >/dev/null || fail "the original image was changed"
