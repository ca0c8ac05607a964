# An asyncio server and its client over a unix socket, in one process tree (the client is a
# forked child), mid-conversation: the client sends numbered requests without waiting for each
# answer, the server answers each with the running sum, the client checks every answer.
# Prints "conv N sum S" per answer, "FAIL: ..." on any wrong or missing answer.
#   async_unix.py SOCKET_PATH [poll|epoll]
import asyncio
import os
import selectors
import sys

path = sys.argv[1]
selector = selectors.EpollSelector if len(sys.argv) > 2 and sys.argv[2] == "epoll" else selectors.PollSelector


def loop_run(coro):
    loop = asyncio.SelectorEventLoop(selector())
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


async def serve():
    total = 0

    async def handle(reader, writer):
        nonlocal total
        while line := await reader.readline():
            total += int(line)
            writer.write(f"{int(line)} {total}\n".encode())
            await writer.drain()
            await asyncio.sleep(0.03)  # answers lag behind requests

    # A small reader limit: asyncio stops reading the socket once 32 bytes wait in its buffer,
    # so that the requests that lag behind stay queued in the socket itself.
    server = await asyncio.start_unix_server(handle, path, limit=16)
    print("server listening", flush=True)
    async with server:
        await server.serve_forever()


async def client():
    for _ in range(100):
        if os.path.exists(path):
            break
        await asyncio.sleep(0.05)
    reader, writer = await asyncio.open_unix_connection(path)
    sent = 0
    expect_sum = 0
    got = 0

    async def sender():
        nonlocal sent
        while True:
            # A burst now and then: several requests queued in the socket at any moment.
            for _ in range(20):
                sent += 1
                writer.write(f"{sent}\n".encode())
            await writer.drain()
            await asyncio.sleep(0.05)

    task = asyncio.create_task(sender())
    while True:
        line = await reader.readline()
        if not line:
            print("FAIL: connection closed", flush=True)
            os._exit(1)
        n, s = map(int, line.split())
        got += 1
        expect_sum += got
        if n != got or s != expect_sum:
            print(f"FAIL: answer {line!r}, expected {got} {expect_sum}", flush=True)
            os._exit(1)
        print(f"conv {n} sum {s}", flush=True)
    await task


if os.fork() == 0:
    loop_run(client())
else:
    loop_run(serve())
