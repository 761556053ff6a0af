"""What the five article servers share, so that each file shows only its
concurrency model: PROTOCOL.md's command line, the listening line, the
handshake line parsed as it arrives (bytes are parsed here only, as in the
Rust `protocol` crate), the counters and the summary line.

Python 3 standard library only.
"""

import argparse
import errno
import os
import resource
import socket
import threading
import time

HELLO = b"hello\n"
# A handshake line is at most 64 bytes, terminator included.
LINE_LIMIT = 64
DAY = 86400.0
# How often a loop looks at its deadlines and its stop flag when nothing
# else wakes it: signals interrupt system calls, but Python retries them.
TICK = 0.05


def arguments(model):
    """PROTOCOL.md section 3.1; a value out of bounds exits 2 with one line."""
    parser = argparse.ArgumentParser(prog=model)
    parser.add_argument("--addr", default="127.0.0.1:5566")
    parser.add_argument("--handshake-timeout", type=float, default=5.0)
    parser.add_argument("--idle-timeout", type=float, default=0.0)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--max-conns", type=int, default=default_max_conns())
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--buffer", type=int, default=16 * 1024)
    args = parser.parse_args()
    for name in ("handshake_timeout", "idle_timeout", "grace"):
        value = getattr(args, name)
        if not 0 <= value <= DAY:
            parser.error(f"--{name.replace('_', '-')} {value} is not 0..=86400 seconds")
    if args.handshake_timeout <= 0:
        parser.error("--handshake-timeout must be more than 0")
    if not 64 <= args.buffer <= 64 * 1024 * 1024:
        parser.error(f"--buffer {args.buffer} is outside 64 B..=64 MiB")
    if args.max_conns < 1:
        parser.error("--max-conns must be at least 1")
    return args


def default_max_conns():
    """What the open-file limit allows, leaving a reserve."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, soft - min(max(soft // 4, 16), 256))


def listen(addr):
    """A listening socket at HOST:PORT (IPv6 as [::1]:PORT)."""
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(10240)
    return sock


def announce(sock, model, concurrency=None):
    """The listening line tools wait for (PROTOCOL.md section 3.2)."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    extra = f" concurrency={concurrency}" if concurrency else ""
    print(f"listening on {shown} model={model}{extra}", flush=True)


def stop_listening(sock):
    """Refuse new clients at once: a listener shut for reading is closed
    to connects whatever else still holds it."""
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    sock.close()


def out_of_descriptors(err):
    return err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class Handshake:
    """The handshake line, fed as it arrives. `feed` answers None while the
    line is incomplete, then (True, rest) for `hello` with the bytes after
    its newline, which are echo data, or (False, b"") for anything else."""

    def __init__(self):
        self.line = b""

    def feed(self, data):
        self.line += data
        end = self.line.find(b"\n")
        if end < 0:
            return (False, b"") if len(self.line) >= LINE_LIMIT else None
        if end + 1 > LINE_LIMIT:
            return (False, b"")
        if self.line[:end].strip(b" \t\r\n\x0c") != b"hello":
            return (False, b"")
        return (True, self.line[end + 1:])


class Counters:
    """accepted, rejected, completed and errors, safe across threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = self.rejected = self.completed = self.errors = 0
        self.open = 0

    def add(self, name, n=1):
        with self.lock:
            setattr(self, name, getattr(self, name) + n)

    def summary(self, model):
        return (f"stopped model={model} accepted={self.accepted} rejected={self.rejected} "
                f"completed={self.completed} errors={self.errors}")


class Stop:
    """SIGINT/SIGTERM: the first calls `on_stop` (stop accepting) and
    starts the grace period, at whose end every connection still in `open`
    is shut down, which ends the calls blocked on it; a second SIGINT ends
    the process at once."""

    def __init__(self, grace, on_stop):
        self.grace = grace
        self.deadline = None
        self.on_stop = on_stop
        self.lock = threading.Lock()
        self.open = set()

    def __call__(self, signum, _frame):
        import os
        import signal
        if self.deadline is not None:
            if signum == signal.SIGINT:
                os._exit(130)
            return
        self.deadline = time.monotonic() + self.grace
        self.on_stop()
        timer = threading.Timer(self.grace, self.cut)
        timer.daemon = True
        timer.start()

    def opened(self, conn):
        with self.lock:
            self.open.add(conn)

    def closed(self, conn):
        with self.lock:
            self.open.discard(conn)

    def cut(self):
        with self.lock:
            for conn in self.open:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    @property
    def stopping(self):
        return self.deadline is not None

    def past_grace(self):
        return self.deadline is not None and time.monotonic() >= self.deadline

    def install(self):
        import signal
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)


def finish(counters, model):
    """The summary line, then exit 0 at once: every connection is closed or
    cut by now, and tearing down the interpreter under thousands of
    threads waiting for the GIL can take longer than the grace period."""
    print(counters.summary(model), flush=True)
    os._exit(0)
