# A CPython process (no numpy) with a large heap of small objects, as an analysis script holds:
# a list of floats, a dict of str -> (int, float, str) tuples, a list of short lists.
#   python3 pyheap.py MIB
# Prints "ready <digest>" once built, "tick N" every 100 ms, "sum <digest>" on SIGUSR1 (the
# digest walks every object, so a restored heap must be intact), exits 7 on SIGTERM.
import signal
import sys
import time

mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
# About 390 bytes of heap per unit below (measured on CPython 3.11, 64-bit).
n = mib * 1024 * 1024 // 390

floats = [i * 0.001 + (i % 7) * 1e-3 for i in range(n)]
table = {f"key-{i:09d}": (i, i * 0.5, str(i)) for i in range(n)}
nested = [[i, i + 1, i + 2] for i in range(0, n, 3)]


def digest():
    h = len(floats) + len(table) + len(nested)
    h += int(sum(floats))
    for k, v in table.items():
        h = (h * 31 + v[0] + len(k) + len(v[2])) & 0xFFFFFFFFFFFF
    for x in nested:
        h = (h + x[2]) & 0xFFFFFFFFFFFF
    return h


flags = {"sum": False, "exit": False}
signal.signal(signal.SIGUSR1, lambda *_: flags.__setitem__("sum", True))
signal.signal(signal.SIGTERM, lambda *_: flags.__setitem__("exit", True))
print(f"ready {digest():016x}", flush=True)
tick = 0
while True:
    if flags["exit"]:
        sys.exit(7)
    if flags["sum"]:
        flags["sum"] = False
        print(f"sum {digest():016x}", flush=True)
    tick += 1
    print(f"tick {tick}", flush=True)
    time.sleep(0.1)
