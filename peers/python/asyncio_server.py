"""The article's last step: async/await on asyncio. The handler reads like
the threaded one, top to bottom, and runs on an event loop like the
generator `Loop`:

    async def handle(reader, writer):
        while data := await reader.read(n):
            writer.write(data)
            await writer.drain()

One thread: asyncio's loop waits in epoll and runs each ready coroutine
until its next await. Concurrency is bounded by --max-conns and
descriptors; backpressure comes from the stream's buffer limits (reading
pauses past --buffer, `drain` waits past it). The weakness stays the
event loop's: one thread of Python, and a coroutine that never awaits
stalls them all. --workers is accepted and ignored: one loop.

    python3 peers/python/asyncio_server.py --addr 127.0.0.1:5566
"""

import asyncio
import fcntl
import os
import signal
import struct
import termios

import c10k_protocol as protocol

MODEL = "py-asyncio"


class Idle(Exception):
    """No byte moved for --idle-timeout."""


async def serve(args, counters):
    handshaken = {}  # open task -> whether its handshake is done

    def backlog(writer):
        """Echo bytes not yet taken by the client: in the transport, and in
        the kernel's send queue (TIOCOUTQ)."""
        queued = writer.transport.get_write_buffer_size()
        sock = writer.get_extra_info("socket")
        try:
            out = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4)
            queued += struct.unpack("i", out)[0]
        except (OSError, ValueError, AttributeError):
            pass  # closed already
        return queued

    async def moving(step, writer):
        """`step`, unless no byte moves for --idle-timeout: neither the step
        ends nor the client takes any of its echo. A slow but steady reader
        is not idle, however long its echo takes."""
        if not args.idle_timeout:
            return await step
        task = asyncio.ensure_future(step)
        left = backlog(writer)
        while True:
            done, _ = await asyncio.wait({task}, timeout=args.idle_timeout)
            if done:
                return task.result()
            now = backlog(writer)
            if now >= left:
                task.cancel()
                raise Idle
            left = now

    async def handshake(reader):
        line = protocol.Handshake()
        while True:
            data = await reader.read(protocol.LINE_LIMIT)
            verdict = line.feed(data) if data else (False, b"")
            if verdict is not None:
                return verdict

    async def handle(reader, writer):
        me = asyncio.current_task()
        counters.add("accepted")
        if len(handshaken) >= args.max_conns or stopping.is_set():
            writer.transport.abort()
            return counters.add("rejected")
        handshaken[me] = False
        outcome = "rejected"
        writer.transport.set_write_buffer_limits(high=args.buffer)
        try:
            ok, data = await asyncio.wait_for(handshake(reader), args.handshake_timeout)
            if not ok:
                return
            handshaken[me] = True
            outcome = "completed"
            data = protocol.HELLO + data
            while data:
                writer.write(data)
                await moving(writer.drain(), writer)
                data = await moving(reader.read(args.buffer), writer)
        except (asyncio.TimeoutError, Idle, asyncio.CancelledError):
            pass
        except OSError:
            outcome = "errors" if outcome == "completed" else "rejected"
        finally:
            del handshaken[me]
            writer.transport.abort() if outcome != "completed" else writer.close()
            counters.add(outcome)

    stopping = asyncio.Event()
    server = await asyncio.start_server(
        handle, sock=protocol.listen(args.addr), limit=args.buffer, backlog=10240)
    loop = asyncio.get_running_loop()

    def on_signal(signum):
        if stopping.is_set():
            if signum == signal.SIGINT:
                os._exit(130)
            return
        stopping.set()
        server.close()  # closes the listening socket: connects are refused

    def on_error(loop, context):
        # Out of descriptors, asyncio's accept backs off for a second, but
        # reports the failure and schedules a retry once per backlog slot
        # (10,240 here); the retries fail again on the closed listener
        # once stopping. Neither is news: keep them quiet.
        error = context.get("exception")
        if stopping.is_set() or (isinstance(error, OSError) and protocol.out_of_descriptors(error)):
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(on_error)
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    protocol.announce(server.sockets[0], MODEL)
    await stopping.wait()
    tasks = list(handshaken)
    if tasks:
        await asyncio.wait(tasks, timeout=args.grace)
    for task in list(handshaken):
        task.cancel()  # past the grace period: cut
    await asyncio.sleep(0)


def main():
    args = protocol.arguments(MODEL)
    counters = protocol.Counters()
    asyncio.run(serve(args, counters))
    protocol.finish(counters, MODEL)


if __name__ == "__main__":
    main()
