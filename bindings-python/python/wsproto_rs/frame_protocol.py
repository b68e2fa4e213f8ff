"""Protocol constants: opcodes, close codes and RSV bits (RFC 6455).

Frame encoding and decoding live in the Rust engine; this module keeps the
public names wsproto programs import from ``wsproto.frame_protocol``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 section 5.2)."""

    #: Continues a fragmented message.
    CONTINUATION = 0x0
    #: Starts a text message.
    TEXT = 0x1
    #: Starts a binary message.
    BINARY = 0x2
    #: Close frame.
    CLOSE = 0x8
    #: Ping frame.
    PING = 0x9
    #: Pong frame.
    PONG = 0xA

    def iscontrol(self) -> bool:
        """Whether this is a control opcode (close, ping, pong)."""
        return bool(self & 0x08)


class CloseReason(IntEnum):
    """Close codes defined by RFC 6455 section 7.4.1 and IANA."""

    #: The purpose of the connection was fulfilled.
    NORMAL_CLOSURE = 1000
    #: The endpoint is going away (server shutdown, page left).
    GOING_AWAY = 1001
    #: The peer broke the protocol.
    PROTOCOL_ERROR = 1002
    #: A kind of data the endpoint cannot accept.
    UNSUPPORTED_DATA = 1003
    #: No code was present in the close frame (never sent on the wire).
    NO_STATUS_RCVD = 1005
    #: The connection ended without a close frame (never sent on the wire).
    ABNORMAL_CLOSURE = 1006
    #: Data inconsistent with the message type, e.g. invalid UTF-8 text.
    INVALID_FRAME_PAYLOAD_DATA = 1007
    #: A message that violates the endpoint's policy.
    POLICY_VIOLATION = 1008
    #: A message too big to process.
    MESSAGE_TOO_BIG = 1009
    #: The client needed an extension the server did not negotiate.
    MANDATORY_EXT = 1010
    #: The server met an unexpected condition.
    INTERNAL_ERROR = 1011
    #: The service is restarting.
    SERVICE_RESTART = 1012
    #: Try again later.
    TRY_AGAIN_LATER = 1013
    #: The TLS handshake failed (never sent on the wire).
    TLS_HANDSHAKE_FAILED = 1015


#: Codes that only report local conditions and are never sent.
LOCAL_ONLY_CLOSE_REASONS = (
    CloseReason.NO_STATUS_RCVD,
    CloseReason.ABNORMAL_CLOSURE,
    CloseReason.TLS_HANDSHAKE_FAILED,
)


class RsvBits(NamedTuple):
    """The three reserved bits of a frame header."""

    rsv1: bool
    rsv2: bool
    rsv3: bool


class ParseFailed(Exception):
    """The peer's bytes broke the framing protocol (kept for compatibility:
    the engine reports such failures as ``CloseConnection`` events)."""

    def __init__(self, msg: str, code: CloseReason = CloseReason.PROTOCOL_ERROR) -> None:
        super().__init__(msg)
        self.code = code
