"""The article's fourth server: its own `Loop`, a FIFO queue of generator
tasks over `selectors`, each task yielding the socket it waits on, and a
handler that reads top to bottom with `yield from`:

    def handler(conn):
        while True:
            msg = yield from loop.recv(conn, 1024)
            if not msg:
                conn.close()
                break
            yield from loop.send(conn, msg)

One thread: the loop resumes each ready task in FIFO order and waits in
select() when none is ready. Concurrency is bounded by --max-conns and
descriptors. Its weakness is the article's: nothing stops a task that
does not yield, so the handler yields after every echo to let the others
run. Unlike the article's `once()`, which polls with select(0) and spins,
a waiting task is parked in the selector, and waits carry a deadline
(the handshake, idle and grace timeouts) that resumes the task with
TimeoutError. --workers is accepted and ignored: one loop.

    python3 peers/python/generator_loop.py --addr 127.0.0.1:5566
"""

import heapq
import itertools
import time
from selectors import EVENT_READ, EVENT_WRITE, DefaultSelector

import c10k_protocol as protocol

MODEL = "py-generator-loop"
TIMEOUT = object()  # what an expired wait resumes its task with


class Loop(object):
    def __init__(self):
        self.sel = DefaultSelector()
        self.queue = []  # (task, value to resume it with), FIFO
        self.timers = []  # (deadline, n, task) of the waits that have one
        self.waiting = {}  # task -> (fileobj, deadline) while parked
        self.order = itertools.count()

    def create_task(self, task):
        self.queue.append((task, None))

    def polling(self, timeout):
        for e, m in self.sel.select(timeout):
            self.sel.unregister(e.fileobj)
            self.waiting.pop(e.data, None)
            self.queue.append((e.data, None))

    def expire(self):
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            deadline, _, t = heapq.heappop(self.timers)
            parked = self.waiting.get(t)
            if parked and parked[1] == deadline:
                del self.waiting[t]
                if parked[0] is not None:
                    self.sel.unregister(parked[0])
                self.queue.append((t, TIMEOUT))

    def register(self, t, data):
        """Parks task `t` on what it yielded: (event, fileobj, deadline);
        no fileobj is a plain sleep, no deadline waits for ever."""
        event, fileobj, deadline = data
        if fileobj is not None:
            self.sel.register(fileobj, event, t)
        elif deadline is None:
            return self.queue.append((t, None))  # a yield to the others
        self.waiting[t] = (fileobj, deadline)
        if deadline is not None:
            heapq.heappush(self.timers, (deadline, next(self.order), t))

    def wait(self, event, fileobj, deadline):
        if (yield (event, fileobj, deadline)) is TIMEOUT:
            raise TimeoutError

    def accept(self, s):
        while True:
            try:
                return s.accept()
            except BlockingIOError:
                yield from self.wait(EVENT_READ, s, None)
            except OSError as err:
                if not protocol.out_of_descriptors(err):
                    raise
                try:  # back off until descriptors are free again
                    yield from self.wait(None, None, time.monotonic() + protocol.TICK)
                except TimeoutError:
                    pass

    def recv(self, conn, size, deadline=None):
        while True:
            try:
                return conn.recv(size)
            except BlockingIOError:
                yield from self.wait(EVENT_READ, conn, deadline)

    def send(self, conn, msg, deadline=None):
        while True:
            try:
                return conn.send(msg)
            except BlockingIOError:
                try:
                    yield from self.wait(EVENT_WRITE, conn, deadline)
                except TimeoutError:
                    # The kernel wakes a writer only once much of its buffer
                    # is free: at the deadline, one more try tells whether
                    # a slow reader still takes bytes.
                    try:
                        return conn.send(msg)
                    except BlockingIOError:
                        raise TimeoutError from None

    def yield_to_others(self):
        yield (None, None, None)

    def once(self):
        timeout = 0 if self.queue else protocol.TICK
        if self.timers:
            timeout = min(timeout, max(0, self.timers[0][0] - time.monotonic()))
        self.polling(timeout)
        self.expire()
        queue, self.queue = self.queue, []
        for t, data in queue:
            try:
                data = t.send(data)
            except StopIteration:
                continue
            self.register(t, data)


args = protocol.arguments(MODEL)
s = protocol.listen(args.addr)
s.setblocking(False)
loop = Loop()
counters = protocol.Counters()
handshaken = {}  # open conn -> whether its handshake is done


def idle():
    return time.monotonic() + args.idle_timeout if args.idle_timeout else None


def handler(conn):
    outcome = "rejected"
    try:
        deadline = time.monotonic() + args.handshake_timeout
        line = protocol.Handshake()
        while True:
            msg = yield from loop.recv(conn, protocol.LINE_LIMIT, deadline)
            verdict = line.feed(msg) if msg else (False, b"")
            if verdict is not None:
                break
        ok, msg = verdict
        if not ok:
            return
        handshaken[conn] = True
        outcome = "completed"
        msg = protocol.HELLO + msg
        while True:
            while msg:
                msg = msg[(yield from loop.send(conn, msg, idle())):]
            msg = yield from loop.recv(conn, args.buffer, idle())
            if not msg:
                break
            yield from loop.yield_to_others()
    except TimeoutError:
        pass
    except OSError:
        outcome = "errors" if outcome == "completed" else "rejected"
    finally:
        del handshaken[conn]
        conn.close()
        counters.add(outcome)


def main():
    while True:
        try:
            conn, addr = yield from loop.accept(s)
        except OSError:
            return  # the listener was closed: stopping
        counters.add("accepted")
        if len(handshaken) >= args.max_conns:
            conn.close()
            counters.add("rejected")
            continue
        conn.setblocking(False)
        handshaken[conn] = False
        loop.create_task(handler(conn))


acceptor = main()
stop = protocol.Stop(args.grace, lambda: protocol.stop_listening(s))
stop.install()
loop.create_task(acceptor)
protocol.announce(s, MODEL)
while not stop.stopping or (handshaken and not stop.past_grace()):
    loop.once()
    if stop.stopping and acceptor.gi_frame is not None:
        # Out of the signal handler, which may run inside a task: the
        # listener is closed already; its task leaves the loop.
        if loop.waiting.pop(acceptor, None):
            loop.sel.unregister(s)
        loop.queue = [(t, v) for t, v in loop.queue if t is not acceptor]
        acceptor.close()
# Past the grace period: what is still open is cut.
counters.add("completed", sum(handshaken.values()))
counters.add("rejected", len(handshaken) - sum(handshaken.values()))
protocol.finish(counters, MODEL)
