from enum import IntEnum
from typing import NamedTuple, Tuple

class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA
    def iscontrol(self) -> bool: ...

class CloseReason(IntEnum):
    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXT = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    TLS_HANDSHAKE_FAILED = 1015

LOCAL_ONLY_CLOSE_REASONS: Tuple[CloseReason, CloseReason, CloseReason]

class RsvBits(NamedTuple):
    rsv1: bool
    rsv2: bool
    rsv3: bool

class ParseFailed(Exception):
    code: CloseReason
    def __init__(self, msg: str, code: CloseReason = ...) -> None: ...
