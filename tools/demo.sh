#!/usr/bin/env bash
# The main job, end to end: the training example count.py runs, ckdump checkpoints it (and ends
# it, as at a wall time), ckrestore brings it back, and it goes on with the next number.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
ck=$(pwd)/build/src
work=$(mktemp -d /tmp/ck-demo.XXXXXX)
cd "$work"
# Closing inherited fds (>2) keeps the demo's program free of descriptors of whatever started us.
( for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
  exec python3 -u "$OLDPWD/tests/progs/count.py" >out.txt 2>&1 </dev/null ) &
pid=$!
echo "demo: count.py runs as pid $pid, writing to $work/out.txt"
sleep 4.5
echo "demo: ckdump -t $pid -D $work/ckpt   (output so far: $(tr '\n' ' ' <out.txt))"
"$ck/ckdump" -t "$pid" -D ckpt -v
wait "$pid" 2>/dev/null || true
echo "demo: the program is gone; image: $(du -sh ckpt | cut -f1) in $work/ckpt"
"$ck/ckimage" verify ckpt
sleep 2
echo "demo: ckrestore -D $work/ckpt"
"$ck/ckrestore" -D ckpt -d -v >pid.txt
echo "demo: restored as pid $(cat pid.txt)"
sleep 3.5
kill "$(cat pid.txt)"
echo "demo: output: $(tr '\n' ' ' <out.txt)"
seq 1 "$(tail -1 out.txt)" | diff -q - out.txt >/dev/null && echo "demo: OK, it continued where it was: no number lost, none repeated"
