# A Python event loop on the standard library's epoll selector: a pipe that a worker thread
# writes a line to every 100 ms, and an eventfd the loop itself signals every 5 lines, as a
# thread pool wakes its loop. Prints "tick N" per line and "wake K" per eventfd wake-up; SIGTERM
# (through signal.set_wakeup_fd, a third fd in the selector) ends it with "bye".
import os
import selectors
import signal
import threading
import time

sel = selectors.EpollSelector()
r, w = os.pipe()
efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
sr, sw = os.pipe()
os.set_blocking(sw, False)
signal.set_wakeup_fd(sw)
signal.signal(signal.SIGTERM, lambda *_: None)
sel.register(r, selectors.EVENT_READ, "tick")
sel.register(efd, selectors.EVENT_READ, "wake")
sel.register(sr, selectors.EVENT_READ, "signal")


def worker():
    while True:
        time.sleep(0.1)
        os.write(w, b"x")


threading.Thread(target=worker, daemon=True).start()
ticks = wakes = 0
while True:
    for key, _ in sel.select(timeout=2):
        if key.data == "tick":
            for _ in os.read(r, 4096):
                ticks += 1
                print(f"tick {ticks}", flush=True)
                if ticks % 5 == 0:
                    os.eventfd_write(efd, 1)
        elif key.data == "wake":
            for _ in range(os.eventfd_read(efd)):
                wakes += 1
                print(f"wake {wakes}", flush=True)
        elif key.data == "signal":
            if signal.SIGTERM in os.read(sr, 64):
                print(f"bye after {ticks} ticks, {wakes} wakes", flush=True)
                raise SystemExit(0)
