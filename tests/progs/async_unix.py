# An asyncio server and its client over a unix socket, in one process tree (the client is a
# forked child), mid-conversation: the client sends numbered requests without waiting for each
# answer, the server answers each with the running sum, the client checks every answer.
# Prints "conv N sum S" per answer, "FAIL: ..." on any wrong or missing answer.
#   async_unix.py SOCKET_PATH [poll|epoll]
import asyncio
import os
import selectors
import socket
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
    loop = asyncio.get_running_loop()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    listener.setblocking(False)
    print("server listening", flush=True)
    conn, _ = await loop.sock_accept(listener)
    total = 0
    buf = b""
    while True:
        # Small reads, answers lagging behind the requests: most requests wait in the socket.
        data = await loop.sock_recv(conn, 32)
        if not data:
            return
        buf += data
        *lines, buf = buf.split(b"\n")
        for line in lines:
            total += int(line)
            await loop.sock_sendall(conn, f"{int(line)} {total}\n".encode())
        await asyncio.sleep(0.03)


async def client():
    for _ in range(200):  # until the server listens
        try:
            reader, writer = await asyncio.open_unix_connection(path)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            await asyncio.sleep(0.05)
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
