#!/usr/bin/env bash
# The main job, end to end: the training example count.py runs, ckdump checkpoints it (and ends
# it, as at a wall time), ckrestore brings it back, and it goes on with the next number.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
ck=$(pwd)/build/src
work=$(mktemp -d /tmp/ck-demo.XXXXXX)
cd "$work"
# Started in its own session, as a batch job's program would be; closing inherited fds (>2)
# keeps it free of descriptors of whatever started this script.
setsid -f bash -c 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
  echo $$ >count.pid; exec python3 -u "$0" >out.txt 2>&1 </dev/null' "$OLDPWD/tests/progs/count.py"
sleep 0.5
pid=$(cat count.pid)
echo "demo: count.py runs as pid $pid, writing to $work/out.txt"
sleep 4.5
echo "demo: ckdump -t $pid -D $work/ckpt   (output so far: $(tr '\n' ' ' <out.txt))"
"$ck/ckdump" -t "$pid" -D ckpt -v
echo "demo: the program is gone; image: $(du -shL ckpt | cut -f1) in $work/ckpt"
"$ck/ckimage" verify ckpt
sleep 2
echo "demo: ckrestore -D $work/ckpt"
"$ck/ckrestore" -D ckpt -d -v >pid.txt
echo "demo: restored as pid $(cat pid.txt)"
sleep 3.5
kill "$(cat pid.txt)"
echo "demo: output: $(tr '\n' ' ' <out.txt)"
seq 1 "$(tail -1 out.txt)" | diff -q - out.txt >/dev/null && echo "demo: OK, it continued where it was: no number lost, none repeated"
