"""wsproto_rs: python-hyper wsproto's API on a Rust WebSocket engine.

``import wsproto_rs as wsproto`` runs code written for wsproto 1.3
unchanged: the same classes, events, errors and bytes on the wire. Frames
are decoded and encoded by the Rust core, a batch of events per call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional, Union

from . import _native
from .connection import Connection, ConnectionState, ConnectionType
from .events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage
from .extensions import PerMessageDeflate
from .frame_protocol import CloseReason
from .handshake import H11Handshake
from .utilities import LocalProtocolError

if TYPE_CHECKING:
    from .events import Event
    from .typing import Headers

#: The wsproto release whose API this package reproduces.
__version__ = "1.3.2"

_native.register(
    TextMessage,
    BytesMessage,
    Message,
    Ping,
    Pong,
    CloseConnection,
    {int(member): member for member in CloseReason},
    tuple(sorted(ConnectionState, key=lambda s: s.value)),
    LocalProtocolError,
    PerMessageDeflate,
)


class WSConnection:
    """The local end of a WebSocket connection, client or server.

    Beyond wsproto, optional keyword limits are enforced by the engine as
    the bytes arrive: ``max_message_size`` and ``max_frame_size`` (bytes,
    a peer over them gets a 1009 close), ``max_fragments`` (frames per
    message), ``max_handshake_size`` (bytes of HTTP head) and
    ``max_headers`` (header lines).
    """

    def __init__(
        self,
        connection_type: ConnectionType,
        *,
        max_message_size: Optional[int] = None,
        max_frame_size: Optional[int] = None,
        max_fragments: Optional[int] = None,
        max_handshake_size: Optional[int] = None,
        max_headers: Optional[int] = None,
    ) -> None:
        self.client = connection_type is ConnectionType.CLIENT
        self.handshake = H11Handshake(
            connection_type,
            max_message_size=max_message_size,
            max_frame_size=max_frame_size,
            max_fragments=max_fragments,
            max_handshake_size=max_handshake_size,
            max_headers=max_headers,
        )
        self.connection: Optional[Connection] = None

    @property
    def state(self) -> ConnectionState:
        """The connection's state."""
        if self.connection is None:
            return self.handshake.state
        return self.connection.state

    def initiate_upgrade_connection(self, headers: Headers, path: Union[bytes, str]) -> None:
        """Server: starts from a request an HTTP server already parsed."""
        self.handshake.initiate_upgrade_connection(headers, path)

    def send(self, event: Event) -> bytes:
        """Returns the bytes that send ``event`` to the peer."""
        connection = self.connection
        if connection is None:
            data = self.handshake.send(event)
            self._adopt(self.handshake.connection)
            return data
        return connection.send(event)

    def receive_data(self, data: Union[bytes, bytearray, memoryview, None]) -> None:
        """Feeds bytes from the peer; ``None`` means the transport closed."""
        connection = self.connection
        if connection is None:
            self.handshake.receive_data(data)  # type: ignore[arg-type]
            self._adopt(self.handshake.connection)
        else:
            connection.receive_data(data)

    def _adopt(self, connection: Optional[Connection]) -> None:
        self.connection = connection
        if connection is not None and type(self) is WSConnection:
            # Once open, the engine's own methods serve these calls directly
            # (no Python frame per message). Subclasses keep their overrides.
            self.send = connection.send  # type: ignore[method-assign]
            self.receive_data = connection.receive_data  # type: ignore[method-assign]

    def events(self) -> Iterator[Event]:
        """An iterator over the events produced by the bytes received so far.
        Events not taken stay queued for the next call."""
        connection = self.connection
        if self.handshake._events:
            return self._handshake_then(connection)
        if connection is None:
            return iter(())
        return connection._engine.events()

    def _handshake_then(self, connection: Optional[Connection]) -> Iterator[Event]:
        yield from self.handshake.events()
        if connection is not None:
            yield from connection._engine.events()


__all__ = ("ConnectionType", "WSConnection")
