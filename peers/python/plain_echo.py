"""A plain echo server, as most echo servers are: no handshake, no
timeouts, every byte returned as it came. Not ours in spirit: the kind of
server `c10k check HOST:PORT --handshake none` exists for.

    python3 peers/python/plain_echo.py 127.0.0.1:7000
"""

import asyncio
import sys


async def echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass  # a client that resets costs only its own connection
    finally:
        writer.close()


async def main(addr):
    host, port = addr.rsplit(":", 1)
    server = await asyncio.start_server(echo, host, int(port), backlog=4096)
    print(f"listening on {addr}", flush=True)
    await server.serve_forever()


asyncio.run(main(sys.argv[1]))
