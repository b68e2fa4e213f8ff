"""An asyncio WebSocket echo server built on wsproto_rs.

    python examples/python/echo_server.py PORT [-q] [--handshake-timeout SECONDS]

Listens on 127.0.0.1:PORT (0 picks a free port; the first line printed is
"listening on 127.0.0.1:PORT"). Serves any number of connections at once,
echoes every text and binary message (fragment by fragment, so a message
of any size streams through), answers pings and closes, negotiates
permessage-deflate when the client offers it, and answers protocol errors
with the close code the engine chose. -q prints nothing per connection. A
client has 10 seconds (--handshake-timeout; 0 for no limit) to send its opening handshake;
one that connects and says nothing, or sends it a byte at a time, is
dropped instead of holding its socket forever.

The code is plain wsproto code: swap the import for ``wsproto`` and it runs
on python-hyper wsproto unchanged.
"""

from __future__ import annotations

import asyncio
import sys

import wsproto_rs as wsproto
from wsproto_rs.connection import ConnectionState
from wsproto_rs.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)
from wsproto_rs.extensions import PerMessageDeflate
from wsproto_rs.utilities import RemoteProtocolError

QUIET = False
HANDSHAKE_TIMEOUT = 10.0


def log(*args: object) -> None:
    if not QUIET:
        print(*args, flush=True)


async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")
    ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANDSHAKE_TIMEOUT
    try:
        while ws.state is not ConnectionState.CLOSED:
            if ws.state is ConnectionState.CONNECTING and HANDSHAKE_TIMEOUT > 0:
                # The clock runs over the whole handshake, not per read.
                left = deadline - loop.time()
                try:
                    data = await asyncio.wait_for(reader.read(65536), max(left, 0))
                except asyncio.TimeoutError:
                    log(f"{peer}: no opening handshake within {HANDSHAKE_TIMEOUT:g} s")
                    break
            else:
                data = await reader.read(65536)
            try:
                ws.receive_data(data or None)
            except RemoteProtocolError as exc:
                # A bad handshake: answer with the suggested HTTP error.
                log(f"{peer}: bad handshake: {exc}")
                if exc.event_hint is not None:
                    writer.write(ws.send(exc.event_hint))
                break
            out = []
            done = not data
            accepted = True
            while accepted:
                # Frames that came in the same read as the request are
                # events once it is accepted: take those too.
                accepted = False
                for event in ws.events():
                    if isinstance(event, Request):
                        log(f"{peer}: upgrade to {event.target}")
                        out.append(ws.send(AcceptConnection(extensions=[PerMessageDeflate()])))
                        accepted = True
                    elif isinstance(event, (TextMessage, BytesMessage)):
                        out.append(ws.send(type(event)(data=event.data, message_finished=event.message_finished)))
                    elif isinstance(event, Ping):
                        out.append(ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        log(f"{peer}: closed with {int(event.code)} {event.reason or ''}".rstrip())
                        if ws.state is ConnectionState.REMOTE_CLOSING:
                            out.append(ws.send(event.response()))
                        elif ws.state is ConnectionState.OPEN:
                            # The peer broke the protocol: send the close frame
                            # with the code the engine picked.
                            out.append(ws.send(CloseConnection(code=event.code, reason=event.reason)))
                        done = True
            if out:
                writer.write(b"".join(out))
                await writer.drain()
            if done:
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


async def main(port: int) -> None:
    server = await asyncio.start_server(serve_client, "127.0.0.1", port)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on 127.0.0.1:{bound}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} PORT [-q] [--handshake-timeout SECONDS]", file=sys.stderr)
        sys.exit(2)
    QUIET = "-q" in sys.argv[2:]
    if "--handshake-timeout" in sys.argv[2:-1]:
        HANDSHAKE_TIMEOUT = float(sys.argv[sys.argv.index("--handshake-timeout") + 1])
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
