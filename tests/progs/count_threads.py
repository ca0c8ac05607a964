#!/usr/bin/env python3
# A multi-threaded program that knows nothing of checkpoints and ends by itself: the main thread
# prints 1 .. N, one line every 0.3 s, while 4 threads count under a lock; at the end it prints
# "threads OK" if every thread went on counting and the shared total is their sum, then exits
# with status 3 (so a test sees the program's own status come through).
import sys
import threading
import time

n = int(sys.argv[1])
lock = threading.Lock()
counts = [0] * 4
total = 0


def work(i):
    global total
    while True:
        with lock:
            counts[i] += 1
            total += 1
        time.sleep(0.01)


for i in range(4):
    threading.Thread(target=work, args=(i,), daemon=True).start()
for k in range(1, n + 1):
    print(k, flush=True)
    time.sleep(0.3)
with lock:
    seen = list(counts)
time.sleep(0.2)
with lock:
    ok = all(c > s for c, s in zip(counts, seen)) and total == sum(counts)
print("threads", "OK" if ok else "FAIL", flush=True)
sys.exit(3)
