#!/usr/bin/env python3
# The training example (shared/reference/slurm-checkpoint-training.txt, count-orig.py): a
# program that knows nothing of checkpoints. Prints 1, 2, 3 ... once a second.
import time
import sys
import ctypes
libc = ctypes.CDLL("libc.so.6")

start = 1
stop = 500
for i in range(start, stop):
    print(i)
    sys.stdout.flush()
    libc.sync()
    time.sleep(1)
