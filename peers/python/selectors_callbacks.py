"""The article's third server: a `selectors` event loop with callbacks,
the handshake state kept per connection outside the callbacks (the
article's `is_hello` dict, grown into a small record).

    def read(conn, mask):
        msg = conn.recv(65535)
        ...
        sel.modify(conn, EVENT_WRITE, partial(write, msg=msg))

One thread: the loop waits in select() and runs accept, read and write as
their sockets become ready. Nothing blocks, so concurrency is bounded only
by --max-conns and descriptors; the cost is that a connection's story is
split over three callbacks and a state record, and every callback runs on
the one thread (Python's speed is the whole server's speed). Deadlines
(handshake, idle, grace) are swept every TICK. --workers is accepted and
ignored: one loop.

    python3 peers/python/selectors_callbacks.py --addr 127.0.0.1:5566
"""

import socket
import time
from selectors import EVENT_READ, EVENT_WRITE, DefaultSelector

import c10k_protocol as protocol

MODEL = "py-selectors"

args = protocol.arguments(MODEL)
s = protocol.listen(args.addr)
s.setblocking(False)
sel = DefaultSelector()
counters = protocol.Counters()

stop = protocol.Stop(args.grace, lambda: protocol.stop_listening(s))
state = {}  # conn -> State: where each connection's story stands


class State:
    def __init__(self):
        self.hello = protocol.Handshake()  # None once handshaken
        self.deadline = time.monotonic() + args.handshake_timeout
        self.moved = time.monotonic()
        self.pending = b""  # read, not yet written back
        self.eof = False


def close(conn, outcome):
    sel.unregister(conn)
    del state[conn]
    conn.close()
    counters.add(outcome)


def accept(s, mask):
    try:
        conn, addr = s.accept()
    except BlockingIOError:
        return
    except OSError as err:
        if protocol.out_of_descriptors(err):
            backoff_until[0] = time.monotonic() + protocol.TICK
            sel.unregister(s)
        return
    counters.add("accepted")
    if len(state) >= args.max_conns or stop.stopping:
        conn.close()
        return counters.add("rejected")
    conn.setblocking(False)
    state[conn] = State()
    sel.register(conn, EVENT_READ, read)


def read(conn, mask):
    st = state[conn]
    try:
        msg = conn.recv(protocol.LINE_LIMIT if st.hello else args.buffer)
    except BlockingIOError:
        return
    except OSError:
        return close(conn, "rejected" if st.hello else "errors")
    st.moved = time.monotonic()
    if st.hello:
        if not msg:
            return close(conn, "rejected")
        verdict = st.hello.feed(msg)
        if verdict is None:
            return
        ok, msg = verdict
        if not ok:
            return close(conn, "rejected")
        st.hello = None
        st.pending = protocol.HELLO + msg
    elif not msg:
        st.eof = True
    else:
        st.pending += msg
    if st.pending:
        sel.modify(conn, EVENT_WRITE, write)
    elif st.eof:
        close(conn, "completed")


def write(conn, mask):
    st = state[conn]
    try:
        sent = conn.send(st.pending)
    except BlockingIOError:
        return
    except OSError:
        return close(conn, "errors")
    st.pending = st.pending[sent:]
    st.moved = time.monotonic()
    if st.pending:
        return
    if st.eof:
        return close(conn, "completed")
    sel.modify(conn, EVENT_READ, read)


def sweep():
    """Closes what is past its handshake deadline, idle or past the grace."""
    now = time.monotonic()
    for conn, st in list(state.items()):
        if st.hello and (now >= st.deadline or stop.stopping):
            close(conn, "rejected")
        elif stop.past_grace():
            close(conn, "completed")
        elif args.idle_timeout and now - st.moved >= args.idle_timeout:
            # A socket is reported writable only once much of its send
            # buffer is free, so a slow but steady reader may not wake us
            # within the idle timeout: one more try tells whether the kernel
            # takes any of the echo, and then the connection is not idle.
            if st.pending:
                write(conn, EVENT_WRITE)
                if state.get(conn) is not st or st.moved >= now:
                    continue
            close(conn, "completed")


backoff_until = [None]
accepting = [True]
stop.install()
sel.register(s, EVENT_READ, accept)
protocol.announce(s, MODEL)
last_sweep = time.monotonic()
while not (stop.stopping and not state):
    for e, m in sel.select(protocol.TICK):
        if e.fileobj in state or e.fileobj is s:
            cb = e.data
            cb(e.fileobj, m)
    if stop.stopping and accepting[0]:
        accepting[0] = False  # the signal handler closed the listener
        if backoff_until[0] is None:
            sel.unregister(s)
    now = time.monotonic()
    if backoff_until[0] and now >= backoff_until[0] and not stop.stopping:
        backoff_until[0] = None
        sel.register(s, EVENT_READ, accept)
    if now - last_sweep >= protocol.TICK:
        last_sweep = now
        sweep()
protocol.finish(counters, MODEL)
