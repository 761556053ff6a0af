"""One connection served start to end on the calling thread, with blocking
calls: the article's `handler(conn)`, made to keep PROTOCOL.md's deadlines.
The blocking server runs it on its only thread, the threaded server on a
thread per connection (as the Rust models share `model::session`).

Each call blocks until its own deadline: the handshake's, then the idle
timeout. The end of the grace period reaches a blocked call from outside:
`Stop` shuts the connection down, and the call returns.
"""

import socket
import time

from c10k_protocol import HELLO, LINE_LIMIT, Handshake

REJECTED, COMPLETED, FAILED = "rejected", "completed", "errors"


def serve(conn, args):
    """Serves `conn` until it is done with, leaving the close to the caller
    (which first frees its place under --max-conns); returns how it ended,
    as a counter name."""
    rest = handshake(conn, args.handshake_timeout)
    if rest is None:
        return REJECTED
    return echo(conn, rest, args)


def handshake(conn, timeout):
    """The bytes after `hello\\n`, or None: rejected, nothing written."""
    deadline = time.monotonic() + timeout
    line = Handshake()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        conn.settimeout(left)
        try:
            data = conn.recv(LINE_LIMIT)
        except OSError:  # the deadline, a reset, or shut down at the grace
            return None
        verdict = line.feed(data) if data else (False, b"")
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


def echo(conn, pending, args):
    """Echoes until the client's end-of-stream, holding at most --buffer
    bytes: it reads only when everything read has been written back."""
    conn.settimeout(args.idle_timeout or None)
    while True:
        try:
            if pending:
                pending = pending[send(conn, pending):]
                continue
            pending = conn.recv(args.buffer)
            if not pending:
                return COMPLETED  # end-of-stream, or shut down at the grace
        except socket.timeout:
            return COMPLETED  # idle
        except OSError:
            return FAILED


def send(conn, data):
    """conn.send, except that at the idle timeout one more try without
    waiting tells whether a slow reader still takes bytes: the kernel wakes
    a blocked writer only once much of its buffer is free."""
    try:
        return conn.send(data)
    except socket.timeout:
        try:
            return conn.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            raise socket.timeout from None
