"""One connection served start to end on the calling thread, with blocking
calls: the article's `handler(conn)`, made to keep PROTOCOL.md's deadlines.
The blocking server runs it on its only thread, the threaded server on a
thread per connection (as the Rust models share `model::session`).

Every call waits at most TICK, so the loop sees the handshake deadline,
the idle timeout and the end of the grace period; it still blocks.
"""

import socket
import time

from c10k_protocol import HELLO, LINE_LIMIT, TICK, Handshake

REJECTED, COMPLETED, FAILED = "rejected", "completed", "errors"


def serve(conn, args, stop):
    """Serves `conn` until it is done with, leaving the close to the caller
    (which first frees its place under --max-conns); returns how it ended,
    as a counter name."""
    conn.settimeout(TICK)
    rest = handshake(conn, args.handshake_timeout, stop)
    if rest is None:
        return REJECTED
    return echo(conn, rest, args, stop)


def handshake(conn, timeout, stop):
    """The bytes after `hello\\n`, or None: rejected, nothing written."""
    deadline = time.monotonic() + timeout
    line = Handshake()
    while True:
        if time.monotonic() >= deadline or stop.stopping:
            return None
        try:
            data = conn.recv(LINE_LIMIT)
        except socket.timeout:
            continue
        except OSError:
            return None
        if not data:
            return None
        verdict = line.feed(data)
        if verdict is None:
            continue
        ok, rest = verdict
        if not ok:
            return None
        try:
            conn.sendall(HELLO)
        except OSError:
            return None
        return rest


def echo(conn, pending, args, stop):
    """Echoes until the client's end-of-stream, holding at most --buffer
    bytes: it reads only when everything read has been written back."""
    moved = time.monotonic()
    while True:
        now = time.monotonic()
        if stop.past_grace() or (args.idle_timeout and now - moved >= args.idle_timeout):
            return COMPLETED
        try:
            if pending:
                sent = conn.send(pending)
                pending = pending[sent:]
            else:
                data = conn.recv(args.buffer)
                if not data:
                    return COMPLETED
                pending = data
            moved = time.monotonic()
        except socket.timeout:
            continue
        except OSError:
            return FAILED
