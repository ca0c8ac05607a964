#!/usr/bin/env bash
# Remakes the seed corpus in tests/fuzz/corpus/ from a real image: checkpoints a small program
# (tests/progs/memhog, 1 MiB of zeros, so that its pages stay small) with the ck of build DIR
# (default build/) and cuts the image into the inputs of the three targets. Needs root (ptrace).
#   bash tests/fuzz/make_corpus.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
b=${1:-build}
work=$(mktemp -d /tmp/ck-corpus.XXXXXX)
trap 'kill -9 "${pid:-}" 2>/dev/null; rm -rf "$work"' EXIT
(
  # Every fd but stdio closed: ck refuses pipes to processes outside the checkpoint.
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true
  done
  exec "$b/tests/progs/memhog" 1 zero >"$work/out.txt" 2>&1 </dev/null
) &
pid=$!
for _ in $(seq 100); do grep -q '^tick 1' "$work/out.txt" && break; sleep 0.05; done
"$b/src/ckdump" -t "$pid" -D "$work/ckpt"
python3 - "$work/ckpt" tests/fuzz/corpus <<'PY'
import os, struct, sys
img, out = sys.argv[1], sys.argv[2]
files = {n: open(os.path.join(img, n), "rb").read() for n in os.listdir(img)}
man, tree = files["manifest.ck"][32:], files["tree.ck"][32:]
pages = next(v for n, v in files.items() if n.startswith("pages-"))[32:]
def w(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").write(data)
w(f"{out}/manifest/real", man)
w(f"{out}/tree/real", tree)
part = lambda b: struct.pack("<I", len(b)) + b
w(f"{out}/load/real-sealed-verify", b"\x0f" + part(man) + part(tree) + part(pages))
# As on disk: nothing sealed by the harness, so only the manifest header is reached.
w(f"{out}/load/real-raw", b"\x00" + part(man) + part(tree) + part(pages))
for n in ("manifest/real", "tree/real", "load/real-sealed-verify"):
    print(f"{n}: {os.path.getsize(os.path.join(out, n))} bytes")
PY
