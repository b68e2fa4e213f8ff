"""The opening handshake with wsproto's (and h11's) exact wire format.

The Rust engine parses and validates the peer's HTTP head and writes the
client request and the 101 response. This module turns what the engine
reports into wsproto's events and error messages, and writes the one thing
the engine does not: a rejection response in h11's format (h11's empty
reason phrase, its ``Transfer-Encoding: chunked`` framing of bodies without
a length).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Deque, Iterator, List, Optional, Sequence, Set, Tuple, Union

from . import _native
from .connection import Connection, ConnectionState, ConnectionType
from .events import AcceptConnection, Event, RejectConnection, RejectData, Request
from .utilities import LocalProtocolError, RemoteProtocolError, split_comma_header

if TYPE_CHECKING:
    from .extensions import Extension
    from .typing import Headers

#: The core's handshake error details, worded as wsproto words them.
_SERVER_MESSAGES = {
    "method must be GET": "Request method must be GET",
    # h11 refuses an HTTP/1.1 request without exactly one Host header.
    "missing Host header": "Bad HTTP message",
    "more than one Host header": "Bad HTTP message",
    "Upgrade header must contain websocket": "Missing header, 'Upgrade: websocket'",
    "Connection header must contain Upgrade": "Missing header, 'Connection: Upgrade'",
    "missing Sec-WebSocket-Key header": "Missing header, 'Sec-WebSocket-Key'",
}
_CLIENT_MESSAGES = {
    "Upgrade header must contain websocket": "Missing header, 'Upgrade: websocket'",
    "Connection header must contain Upgrade": "Missing header, 'Connection: Upgrade'",
    "Sec-WebSocket-Accept does not match the key": "Bad accept token",
    "missing Sec-WebSocket-Accept header": "Bad accept token",
}
_RESPONSE_HEADERS_USED = {
    b"connection",
    b"sec-websocket-extensions",
    b"sec-websocket-accept",
    b"sec-websocket-protocol",
    b"upgrade",
}


def _as_bytes(value: Union[bytes, str]) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else bytes(value)


def _as_name(value: Union[bytes, str]) -> str:
    return value if isinstance(value, str) else bytes(value).decode("ascii")


def _h11_header(name: bytes, value: bytes) -> Tuple[bytes, bytes]:
    """A received header as h11 reports it: the name in lower case, and the
    value of Transfer-Encoding too (h11 compares it case-insensitively)."""
    name = name.lower()
    return name, value.lower() if name == b"transfer-encoding" else value


def _header_pairs(headers: Sequence[Tuple[Any, Any]]) -> List[Tuple[str, bytes]]:
    return [(_as_name(k), _as_bytes(v)) for k, v in headers]


def _quoted_name(detail: str) -> str:
    """The name between the first pair of double quotes of a detail."""
    parts = detail.split('"')
    return parts[1] if len(parts) > 2 else detail


class H11Handshake:
    """The opening handshake of one connection (HTTP/1.1 Upgrade)."""

    def __init__(self, connection_type: ConnectionType, **limits: Optional[int]) -> None:
        self.client = connection_type is ConnectionType.CLIENT
        self._state = ConnectionState.CONNECTING
        self._engine = _native.Engine(self.client, **limits)
        if not self.client:
            self._engine.start_server()
        self._started = not self.client
        self._connection: Optional[Connection] = None
        self._events: Deque[Event] = deque()
        self._initiating_request: Optional[Request] = None
        self._keep_alive = True
        self._chunked = False
        self._informational = False

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def connection(self) -> Optional[Connection]:
        """The open connection, once the handshake succeeded."""
        return self._connection

    def initiate_upgrade_connection(self, headers: Headers, path: Union[bytes, str]) -> None:
        """Server: feeds a request that an HTTP server already parsed."""
        if self.client:
            raise LocalProtocolError("Cannot initiate an upgrade connection when acting as the client")
        head = b"GET " + _as_bytes(path) + b" HTTP/1.1\r\n"
        head += b"".join(_as_bytes(k) + b": " + _as_bytes(v) + b"\r\n" for k, v in headers)
        self.receive_data(head + b"\r\n")

    def send(self, event: Event) -> bytes:
        """Returns the bytes for a handshake event."""
        if isinstance(event, Request):
            return self._initiate_connection(event)
        if isinstance(event, AcceptConnection):
            return self._accept(event)
        if isinstance(event, RejectConnection):
            return self._reject(event)
        if isinstance(event, RejectData):
            return self._send_reject_data(event)
        raise LocalProtocolError(f"Event {event} cannot be sent during the handshake")

    def receive_data(self, data: Optional[bytes]) -> None:
        """Feeds bytes from the peer (``None`` or ``b""``: end of stream)."""
        self._engine.feed(data)
        while True:
            item = self._engine.poll_handshake()
            if item is None:
                return
            kind = item[0]
            if kind == "error":
                raise self._remote_error(item[1], item[2])
            if kind == "request":
                self._events.append(self._process_request(item[1], item[2]))
            elif kind == "accepted":
                self._events.append(self._establish(item[1], item[2], item[3]))
                return
            elif kind == "rejected":
                status, headers = item[1], [_h11_header(k, v) for k, v in item[2]]
                self._informational = 100 <= status < 200
                self._events.append(RejectConnection(headers=headers, status_code=status, has_body=not self._informational))
                self._state = ConnectionState.CLOSED if self._informational else ConnectionState.REJECTING
            elif kind == "body" and not self._informational and self._state is ConnectionState.REJECTING:
                # The engine has removed any chunked framing (as h11 does).
                data, fin = item[1], item[2]
                if data:
                    self._events.append(RejectData(data=data, body_finished=False))
                if fin:
                    self._events.append(RejectData(data=b"", body_finished=True))
                    self._state = ConnectionState.CLOSED

    def events(self) -> Iterator[Event]:
        """Yields the handshake events received so far."""
        while self._events:
            yield self._events.popleft()

    # ---- errors -------------------------------------------------------

    def _remote_error(self, kind: str, detail: str) -> RemoteProtocolError:
        if detail.startswith(("malformed HTTP", "malformed chunked", "HTTP/1.1 or later")):
            return RemoteProtocolError("Bad HTTP message", event_hint=RejectConnection())
        if self.client:
            if detail.startswith("server chose subprotocol"):
                message = f"unrecognized subprotocol {_quoted_name(detail)}"
            elif detail.startswith("server accepted extension") and "not offered" in detail:
                name = detail[len("server accepted extension ") :].split(",", 1)[0]
                message = f"unrecognized extension {name}"
            else:
                message = _CLIENT_MESSAGES.get(detail, detail)
            return RemoteProtocolError(message, event_hint=RejectConnection())
        if kind == "UnsupportedVersion":
            status = 400 if detail.startswith("missing") else 426
            hint = RejectConnection(headers=[(b"Sec-WebSocket-Version", b"13")], status_code=status)
            return RemoteProtocolError("Missing header, 'Sec-WebSocket-Version'", event_hint=hint)
        if kind == "HandshakeTooLarge":
            return RemoteProtocolError(detail, event_hint=RejectConnection(status_code=431))
        return RemoteProtocolError(_SERVER_MESSAGES.get(detail, detail), event_hint=RejectConnection())

    # ---- server -------------------------------------------------------

    def _process_request(self, target: str, raw_headers: List[Tuple[bytes, bytes]]) -> Request:
        extensions: List[str] = []
        subprotocols: List[str] = []
        headers: Headers = []
        host = ""
        for name, value in raw_headers:
            name = name.lower()
            if name == b"host":
                host = value.decode("idna")
                continue
            if name == b"sec-websocket-extensions":
                extensions.extend(split_comma_header(value))
                continue
            if name == b"sec-websocket-protocol":
                subprotocols.extend(split_comma_header(value))
                continue
            if name == b"connection" and any(t.lower() == "close" for t in split_comma_header(value)):
                self._keep_alive = False
            headers.append((name, value))
        self._initiating_request = Request(
            extensions=extensions, extra_headers=headers, host=host, subprotocols=subprotocols, target=target
        )
        return self._initiating_request

    def _accept(self, event: AcceptConnection) -> bytes:
        request = self._initiating_request
        if self.client or request is None or self._state is not ConnectionState.CONNECTING:
            raise LocalProtocolError(f"Event {event} cannot be sent in state {self._state}")
        if event.subprotocol is not None and event.subprotocol not in request.subprotocols:
            raise LocalProtocolError(f"unexpected subprotocol {event.subprotocol}")
        data = self._engine.accept(event.subprotocol, list(event.extensions), _header_pairs(event.extra_headers))
        self._connection = Connection._adopt(self._engine, client=False)
        self._state = ConnectionState.OPEN
        return data

    def _reject(self, event: RejectConnection) -> bytes:
        if self._state != ConnectionState.CONNECTING:
            raise LocalProtocolError(f"Connection cannot be rejected in state {self.state}")
        headers = [(_as_bytes(k), _as_bytes(v)) for k, v in event.headers]
        if not event.has_body:
            headers.append((b"content-length", b"0"))
        names = {k.lower() for k, _ in headers}
        self._chunked = b"transfer-encoding" in names
        if not self._chunked and b"content-length" not in names:
            headers.append((b"Transfer-Encoding", b"chunked"))
            self._chunked = True
        if not self._keep_alive:
            tokens: Set[bytes] = set()
            for k, v in headers:
                if k.lower() == b"connection":
                    tokens.update(t.strip().lower() for t in v.split(b","))
            tokens.discard(b"keep-alive")
            tokens.add(b"close")
            headers = [(k, v) for k, v in headers if k.lower() != b"connection"]
            headers.append((b"Connection", b", ".join(sorted(tokens))))
        data = b"HTTP/1.1 %d \r\n" % event.status_code
        data += b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n"
        self._engine.reject()
        self._state = ConnectionState.REJECTING
        if not event.has_body:
            data += self._end_body()
            self._state = ConnectionState.CLOSED
        return data

    def _end_body(self) -> bytes:
        return b"0\r\n\r\n" if self._chunked else b""

    def _send_reject_data(self, event: RejectData) -> bytes:
        if self._state != ConnectionState.REJECTING:
            raise LocalProtocolError(f"Cannot send rejection data in state {self.state}")
        data = bytes(event.data)
        if self._chunked and data:
            data = b"%x\r\n" % len(data) + data + b"\r\n"
        elif self._chunked:
            data = b""
        if event.body_finished:
            data += self._end_body()
            self._state = ConnectionState.CLOSED
        return data

    # ---- client -------------------------------------------------------

    def _initiate_connection(self, request: Request) -> bytes:
        if not self.client or self._started:
            raise LocalProtocolError(f"Event {request} cannot be sent in state {self._state}")
        self._initiating_request = request
        data = self._engine.start_client(
            request.host.encode("idna").decode("ascii"),
            request.target,
            list(request.subprotocols),
            list(request.extensions),
            _header_pairs(request.extra_headers),
        )
        self._started = True
        return data

    def _establish(
        self, subprotocol: Optional[str], raw_headers: List[Tuple[bytes, bytes]], names: List[str]
    ) -> AcceptConnection:
        request = self._initiating_request
        offered: Sequence[Extension] = request.extensions if request is not None else []  # type: ignore[assignment]
        extensions: List[Extension] = []
        for name in names:
            for ext in offered:
                if ext.name == name:
                    extensions.append(ext)
                    break
        headers = [(k.lower(), v) for k, v in raw_headers if k.lower() not in _RESPONSE_HEADERS_USED]
        self._connection = Connection._adopt(self._engine, client=True)
        self._state = ConnectionState.OPEN
        return AcceptConnection(extensions=extensions, extra_headers=headers, subprotocol=subprotocol)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(client={self.client}, state={self.state})"


__all__ = ["H11Handshake"]
