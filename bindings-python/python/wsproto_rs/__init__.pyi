from typing import Iterator, Optional, Union

from .connection import Connection, ConnectionState, ConnectionType
from .events import Event
from .handshake import H11Handshake
from .typing import Headers

__version__: str

class WSConnection:
    client: bool
    handshake: H11Handshake
    connection: Optional[Connection]
    def __init__(
        self,
        connection_type: ConnectionType,
        *,
        max_message_size: Optional[int] = None,
        max_frame_size: Optional[int] = None,
        max_fragments: Optional[int] = None,
        max_handshake_size: Optional[int] = None,
        max_headers: Optional[int] = None,
    ) -> None: ...
    @property
    def state(self) -> ConnectionState: ...
    def initiate_upgrade_connection(self, headers: Headers, path: Union[bytes, str]) -> None: ...
    def send(self, event: Event) -> bytes: ...
    def receive_data(self, data: Union[bytes, bytearray, memoryview, None]) -> None: ...
    def events(self) -> Iterator[Event]: ...

__all__ = ("ConnectionType", "WSConnection")
