from enum import Enum
from typing import Iterator, List, Optional, Union

from . import _native
from .events import Event
from .extensions import Extension

class ConnectionState(Enum):
    CONNECTING = 0
    OPEN = 1
    REMOTE_CLOSING = 2
    LOCAL_CLOSING = 3
    CLOSED = 4
    REJECTING = 5

class ConnectionType(Enum):
    CLIENT = 1
    SERVER = 2

CLIENT: ConnectionType
SERVER: ConnectionType

class Connection:
    client: bool
    def __init__(
        self,
        connection_type: ConnectionType,
        extensions: Optional[List[Extension]] = None,
        trailing_data: bytes = b"",
        *,
        max_frame_size: Optional[int] = None,
        max_message_size: Optional[int] = None,
        max_fragments: Optional[int] = None,
    ) -> None: ...
    @property
    def state(self) -> ConnectionState: ...
    def send(self, event: Event) -> bytes: ...
    def receive_data(self, data: Union[bytes, bytearray, memoryview, None]) -> None: ...
    def events(self) -> Iterator[Event]: ...
