# Python with threading workers and a multiprocessing Pool (size: argument, default 2; a real process tree: worker
# processes, pipes, POSIX semaphores in unlinked /dev/shm files) in the middle of a map.
import multiprocessing as mp
import sys
import threading
import time


def work(x):
    time.sleep(0.05)
    return x * x


if __name__ == "__main__":
    done = []

    def thread_work(n):
        for _ in range(100):
            time.sleep(0.02)
        done.append(n)

    threads = [threading.Thread(target=thread_work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    with mp.Pool(workers) as pool:
        print("mp ready", flush=True)
        total = sum(pool.map(work, range(200), chunksize=1))
    for t in threads:
        t.join()
    expected = sum(x * x for x in range(200))
    print("mp total", total, "ok" if total == expected else "WRONG", "threads", sorted(done), flush=True)
