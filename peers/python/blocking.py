"""The article's first server: one thread, one connection at a time.

    while True:
        conn, addr = s.accept()
        msg = conn.recv(1024)
        conn.send(msg)

It serves PROTOCOL.md (handshake, echo until end-of-stream, the handshake
deadline, the idle timeout, graceful stop), one connection after the
other: every client waits in the backlog until the one before has gone.
That is the lesson, so it says `concurrency=1` in its listening line and
c10k counts the waiting as by design. It cannot: serve two clients at
once, slowloris (one silent client holds everyone for its deadline).
--workers is accepted and ignored: there is one thread.

    python3 peers/python/blocking.py --addr 127.0.0.1:5566
"""

import socket

import c10k_protocol as protocol
from c10k_session import serve

MODEL = "py-blocking"


def main():
    args = protocol.arguments(MODEL)
    s = protocol.listen(args.addr)
    s.settimeout(protocol.TICK)
    counters = protocol.Counters()
    stop = protocol.Stop(args.grace, lambda: protocol.stop_listening(s))
    stop.install()
    protocol.announce(s, MODEL, concurrency=1)
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
        stop.opened(conn)
        outcome = serve(conn, args)
        stop.closed(conn)
        conn.close()
        counters.add(outcome)
    protocol.finish(counters, MODEL)


if __name__ == "__main__":
    main()
