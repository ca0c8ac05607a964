#!/bin/bash
# A shell pipeline with data in the pipe: seq writes faster than the loop reads.
sum=0
n=0
seq 1 300000 | while read -r x; do
  sum=$((sum + x))
  n=$((n + 1))
  if [ $((n % 20000)) = 0 ]; then echo "progress $n"; fi
  if [ "$n" = 300000 ]; then echo "pipeline sum $sum"; fi
done
echo "pipeline done"
