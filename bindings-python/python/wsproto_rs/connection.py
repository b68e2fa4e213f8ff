"""The WebSocket connection after the opening handshake.

``Connection`` is wsproto's low-level connection object; its work is done by
the Rust engine (``wsproto_rs._native.Engine``): ``send`` and
``receive_data`` are the engine's own methods, and ``events`` returns the engine,
which decodes a whole batch of received bytes per call and hands the events
out one by one.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Iterator, List, Optional, Union

from . import _native

if TYPE_CHECKING:
    from .events import Event
    from .extensions import Extension


class ConnectionState(Enum):
    """The states of a connection (RFC 6455 section 4)."""

    #: The opening handshake is in progress.
    CONNECTING = 0
    #: The opening handshake is complete.
    OPEN = 1
    #: The peer started the closing handshake.
    REMOTE_CLOSING = 2
    #: This end started the closing handshake.
    LOCAL_CLOSING = 3
    #: The closing handshake is complete.
    CLOSED = 4
    #: The server refused the handshake and is sending its response.
    REJECTING = 5


class ConnectionType(Enum):
    """Which end of the connection this is."""

    #: Connects to a server.
    CLIENT = 1
    #: Accepts connections.
    SERVER = 2


CLIENT = ConnectionType.CLIENT
SERVER = ConnectionType.SERVER


class Connection:
    """A WebSocket connection whose handshake is done.

    ``Connection(CLIENT)`` or ``Connection(SERVER)`` starts open, as when an
    HTTP server performed the upgrade. Keyword limits (``max_message_size``,
    ``max_frame_size``, ``max_fragments``) are the engine's; a peer that
    exceeds them gets a 1009 close.
    """

    def __init__(
        self,
        connection_type: ConnectionType,
        extensions: Optional[List[Extension]] = None,
        trailing_data: bytes = b"",
        *,
        max_frame_size: Optional[int] = None,
        max_message_size: Optional[int] = None,
        max_fragments: Optional[int] = None,
    ) -> None:
        self.client = connection_type is ConnectionType.CLIENT
        engine = _native.Engine(
            self.client,
            max_frame_size=max_frame_size,
            max_message_size=max_message_size,
            max_fragments=max_fragments,
        )
        engine.open(list(extensions or []))
        self._bind(engine)
        self.receive_data(trailing_data)

    @classmethod
    def _adopt(cls, engine: _native.Engine, client: bool) -> Connection:
        """Wraps the engine that ran the handshake (no bytes are copied)."""
        self = cls.__new__(cls)
        self.client = client
        self._bind(engine)
        return self

    def _bind(self, engine: _native.Engine) -> None:
        self._engine = engine
        # The hot methods are the engine's own: no Python frame per call,
        # and no argument tuple either (see `Engine.fast_methods`).
        # A subclass that overrides either keeps its override.
        send, receive_data = engine.fast_methods()
        cls = type(self)
        if cls.send is Connection.send:
            self.send = send  # type: ignore[method-assign]
        if cls.receive_data is Connection.receive_data:
            self.receive_data = receive_data  # type: ignore[method-assign]
        self.events = engine.events  # type: ignore[method-assign]

    @property
    def state(self) -> ConnectionState:
        """The connection's state."""
        return self._engine.state  # type: ignore[no-any-return]

    @property
    def _state(self) -> ConnectionState:
        return self._engine.state  # type: ignore[no-any-return]

    @_state.setter
    def _state(self, value: ConnectionState) -> None:
        self._engine.set_state_value(value.value)

    def send(self, event: Event) -> bytes:
        """Returns the bytes that send ``event`` to the peer."""
        return self._engine.send(event)

    def receive_data(self, data: Union[bytes, bytearray, memoryview, None]) -> None:
        """Feeds bytes from the peer; ``None`` means the transport closed."""
        self._engine.receive_data(data)

    def events(self) -> Iterator[Event]:
        """An iterator over the events the received bytes produced. Events
        not taken stay queued for the next call, as with wsproto."""
        return self._engine.events()

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(client={self.client}, state={self.state})"
