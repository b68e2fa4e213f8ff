"""Events: what happened on a connection, and what a program sends.

These are frozen dataclasses, field for field the ones of wsproto 1.3:
keyword construction, defaults, equality by value and ``repr`` all match.
"""

from __future__ import annotations

from abc import ABC
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, List, Optional, Sequence, TypeVar, Union

if TYPE_CHECKING:
    from .extensions import Extension
    from .typing import Headers


class Event(ABC):
    """Base class of all events."""


@dataclass(frozen=True)
class Request(Event):
    """A client's opening handshake: received by a server, sent by a client.

    ``extra_headers`` holds the request headers other than ``Host``,
    ``Sec-WebSocket-Extensions`` and ``Sec-WebSocket-Protocol``.
    """

    host: str
    target: str
    extensions: Union[Sequence[Extension], Sequence[str]] = field(default_factory=list)
    extra_headers: Headers = field(default_factory=list)
    subprotocols: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class AcceptConnection(Event):
    """The server accepted the handshake: sent by a server, received by a
    client (with the extensions that were negotiated)."""

    subprotocol: Optional[str] = None
    extensions: List[Extension] = field(default_factory=list)
    extra_headers: Headers = field(default_factory=list)


@dataclass(frozen=True)
class RejectConnection(Event):
    """The server refused the handshake with an HTTP response.

    With ``has_body`` the response body follows in ``RejectData`` events.
    """

    status_code: int = 400
    headers: Headers = field(default_factory=list)
    has_body: bool = False


@dataclass(frozen=True)
class RejectData(Event):
    """A piece of a rejection's body; ``body_finished`` marks the last."""

    data: bytes
    body_finished: bool = True


@dataclass(frozen=True)
class CloseConnection(Event):
    """A close frame, sent or received.

    Closes are not answered automatically: when ``state`` shows the peer
    started closing, send ``event.response()``.
    """

    code: int
    reason: Optional[str] = None

    def response(self) -> CloseConnection:
        """The close frame to send back."""
        return CloseConnection(code=self.code, reason=self.reason)


T = TypeVar("T", bytes, bytearray, str)


@dataclass(frozen=True)
class Message(Event, Generic[T]):
    """A piece of a data message.

    ``message_finished`` is false while more pieces of the message follow;
    ``frame_finished`` tells where the peer's frames ended.
    """

    data: T
    frame_finished: bool = True
    message_finished: bool = True


@dataclass(frozen=True)
class TextMessage(Message[str]):
    """Text data (already decoded)."""


@dataclass(frozen=True)
class BytesMessage(Message[bytes]):
    """Binary data."""


@dataclass(frozen=True)
class Ping(Event):
    """A ping. Pings are not answered automatically: send
    ``event.response()``."""

    payload: bytes = b""

    def response(self) -> Pong:
        """The pong answering this ping."""
        return Pong(payload=self.payload)


@dataclass(frozen=True)
class Pong(Event):
    """A pong, the answer to a ping or unsolicited."""

    payload: bytes = b""
