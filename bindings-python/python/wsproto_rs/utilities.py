"""Errors and small helpers shared by the API."""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Tuple

from . import _native

if TYPE_CHECKING:
    from .events import Event


class ProtocolError(Exception):
    """Base class of the protocol errors."""


class LocalProtocolError(ProtocolError):
    """The program asked for something the protocol or the connection's
    state does not allow. Nothing was sent and the connection is unchanged."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that break the protocol.

    ``event_hint`` is the event the program should send in answer (for a bad
    handshake, a ``RejectConnection``), or ``None``.
    """

    def __init__(self, message: str, event_hint: Optional[Event] = None) -> None:
        self.event_hint = event_hint
        super().__init__(message)


def normed_header_dict(h11_headers: Iterable[Tuple[bytes, bytes]]) -> Dict[bytes, bytes]:
    """Maps each header name to its values joined with ``", "`` (the HTTP
    rule for repeated list headers)."""
    grouped: Dict[bytes, List[bytes]] = {}
    for name, value in h11_headers:
        grouped.setdefault(name, []).append(value)
    return {name: b", ".join(values) for name, values in grouped.items()}


def split_comma_header(value: bytes) -> List[str]:
    """Splits a comma-separated header value into stripped text pieces."""
    return [piece.decode("ascii").strip() for piece in value.split(b",")]


def generate_nonce() -> bytes:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes in base64."""
    return base64.b64encode(os.urandom(16))


def generate_accept_token(token: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` value answering a key (RFC 6455 4.2.2)."""
    return _native.accept_token(token).encode("ascii")
