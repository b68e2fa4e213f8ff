from abc import ABC
from dataclasses import dataclass
from typing import Generic, List, Optional, Sequence, TypeVar, Union

from .extensions import Extension
from .typing import Headers

class Event(ABC): ...

@dataclass(frozen=True)
class Request(Event):
    host: str
    target: str
    extensions: Union[Sequence[Extension], Sequence[str]] = ...
    extra_headers: Headers = ...
    subprotocols: List[str] = ...

@dataclass(frozen=True)
class AcceptConnection(Event):
    subprotocol: Optional[str] = None
    extensions: List[Extension] = ...
    extra_headers: Headers = ...

@dataclass(frozen=True)
class RejectConnection(Event):
    status_code: int = 400
    headers: Headers = ...
    has_body: bool = False

@dataclass(frozen=True)
class RejectData(Event):
    data: bytes
    body_finished: bool = True

@dataclass(frozen=True)
class CloseConnection(Event):
    code: int
    reason: Optional[str] = None
    def response(self) -> CloseConnection: ...

T = TypeVar("T", bytes, bytearray, str)

@dataclass(frozen=True)
class Message(Event, Generic[T]):
    data: T
    frame_finished: bool = True
    message_finished: bool = True

@dataclass(frozen=True)
class TextMessage(Message[str]): ...

@dataclass(frozen=True)
class BytesMessage(Message[bytes]): ...

@dataclass(frozen=True)
class Ping(Event):
    payload: bytes = b""
    def response(self) -> Pong: ...

@dataclass(frozen=True)
class Pong(Event):
    payload: bytes = b""
