"""The article's second server: a thread per connection.

    while True:
        conn, addr = s.accept()
        t = threading.Thread(target=handler, args=(conn,))
        t.start()

Threads: the accepting main thread, and one per open connection, each
blocked in its own recv or send (the same session as the blocking server).
Concurrency is bounded by --max-conns and by what threads cost: a stack
each, a kernel task each, and the GIL, which lets one of them run Python at
a time. --workers is accepted and ignored: there is a thread per client.

    python3 peers/python/threads.py --addr 127.0.0.1:5566
"""

import socket
import threading

import c10k_protocol as protocol
from c10k_session import serve

MODEL = "py-threads"


def main():
    args = protocol.arguments(MODEL)
    threading.stack_size(256 * 1024)
    s = protocol.listen(args.addr)
    s.settimeout(protocol.TICK)
    counters = protocol.Counters()
    stop = protocol.Stop(args.grace, lambda: protocol.stop_listening(s))
    stop.install()

    def handler(conn):
        outcome = serve(conn, args)
        stop.closed(conn)
        counters.add("open", -1)
        conn.close()
        counters.add(outcome)

    protocol.announce(s, MODEL)
    while not stop.stopping:
        try:
            conn, addr = s.accept()
        except socket.timeout:
            continue
        except OSError as err:
            if protocol.out_of_descriptors(err):
                protocol.time.sleep(protocol.TICK)
            continue
        counters.add("accepted")
        if counters.open >= args.max_conns:
            conn.close()
            counters.add("rejected")
            continue
        counters.add("open")
        stop.opened(conn)
        try:
            threading.Thread(target=handler, args=(conn,), daemon=True).start()
        except RuntimeError:
            stop.closed(conn)
            conn.close()
            counters.add("open", -1)
            counters.add("rejected")
    # The grace period: the sessions see it and end themselves.
    while counters.open and not stop.past_grace():
        protocol.time.sleep(protocol.TICK / 5)
    protocol.finish(counters, MODEL)


if __name__ == "__main__":
    main()
