"""WebSocket extensions (RFC 6455 section 9).

An ``Extension`` subclass written in Python takes part in the opening
handshake exactly as in wsproto: ``offer()`` (client), ``accept(offer)``
(server) and ``finalize(response)`` (client) exchange header strings.

``PerMessageDeflate`` negotiates the same way, with wsproto's strings; the
compression itself runs in the Rust engine, which receives the agreed
parameters once negotiation is done.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, Optional, Tuple, Type, Union

from .frame_protocol import CloseReason, Opcode, RsvBits


class Extension(ABC):
    """Base class of extensions."""

    name: str

    def enabled(self) -> bool:
        """Whether negotiation turned the extension on."""
        return False

    @abstractmethod
    def offer(self) -> Union[bool, str]:
        """Client: the parameters to offer (``True``: the bare name,
        ``False``: no offer)."""

    def accept(self, offer: str) -> Union[bool, str, None]:
        """Server: the answer to an offer (parameters, ``True`` for the bare
        name, ``None``/``False`` to decline)."""
        return None

    def finalize(self, offer: str) -> None:
        """Client: the server's answer."""
        return None

    # Frame hooks of wsproto's pure-Python frame layer. The Rust engine does
    # not call them (it runs permessage-deflate natively); they are kept,
    # with wsproto's pass-through behaviour, for code that calls them.
    def frame_inbound_header(self, proto: Any, opcode: Opcode, rsv: RsvBits, payload_length: int) -> Union[CloseReason, RsvBits]:
        return RsvBits(False, False, False)

    def frame_inbound_payload_data(self, proto: Any, data: bytes) -> Union[bytes, CloseReason]:
        return data

    def frame_inbound_complete(self, proto: Any, fin: bool) -> Union[bytes, CloseReason, None]:
        return None

    def frame_outbound(self, proto: Any, opcode: Opcode, rsv: RsvBits, data: bytes, fin: bool) -> Tuple[RsvBits, bytes]:
        return (rsv, data)


def _window_bits(value: int) -> int:
    if value < 9 or value > 15:
        raise ValueError("Window size must be between 9 and 15 inclusive")
    return value


class PerMessageDeflate(Extension):
    """permessage-deflate (RFC 7692), compressed by the Rust engine."""

    name = "permessage-deflate"

    DEFAULT_CLIENT_MAX_WINDOW_BITS = 15
    DEFAULT_SERVER_MAX_WINDOW_BITS = 15

    def __init__(
        self,
        client_no_context_takeover: bool = False,
        client_max_window_bits: Optional[int] = None,
        server_no_context_takeover: bool = False,
        server_max_window_bits: Optional[int] = None,
    ) -> None:
        self.client_no_context_takeover = client_no_context_takeover
        self.server_no_context_takeover = server_no_context_takeover
        self._client_max_window_bits = self.DEFAULT_CLIENT_MAX_WINDOW_BITS
        self._server_max_window_bits = self.DEFAULT_SERVER_MAX_WINDOW_BITS
        if client_max_window_bits is not None:
            self.client_max_window_bits = client_max_window_bits
        if server_max_window_bits is not None:
            self.server_max_window_bits = server_max_window_bits
        self._enabled = False

    @property
    def client_max_window_bits(self) -> int:
        return self._client_max_window_bits

    @client_max_window_bits.setter
    def client_max_window_bits(self, value: int) -> None:
        self._client_max_window_bits = _window_bits(value)

    @property
    def server_max_window_bits(self) -> int:
        return self._server_max_window_bits

    @server_max_window_bits.setter
    def server_max_window_bits(self, value: int) -> None:
        self._server_max_window_bits = _window_bits(value)

    def enabled(self) -> bool:
        return self._enabled

    def offer(self) -> Union[bool, str]:
        params = [
            f"client_max_window_bits={self.client_max_window_bits}",
            f"server_max_window_bits={self.server_max_window_bits}",
        ]
        if self.client_no_context_takeover:
            params.append("client_no_context_takeover")
        if self.server_no_context_takeover:
            params.append("server_no_context_takeover")
        return "; ".join(params)

    def finalize(self, offer: str) -> None:
        for param in [p.strip() for p in offer.split(";")][1:]:
            if param.startswith("client_no_context_takeover"):
                self.client_no_context_takeover = True
            elif param.startswith("server_no_context_takeover"):
                self.server_no_context_takeover = True
            elif param.startswith("client_max_window_bits"):
                self.client_max_window_bits = int(param.split("=", 1)[1].strip())
            elif param.startswith("server_max_window_bits"):
                self.server_max_window_bits = int(param.split("=", 1)[1].strip())
        self._enabled = True

    def _parse_params(self, params: str) -> Tuple[Optional[int], Optional[int]]:
        client_bits: Optional[int] = None
        server_bits: Optional[int] = None
        for param in [p.strip() for p in params.split(";")][1:]:
            if param.startswith("client_no_context_takeover"):
                self.client_no_context_takeover = True
            elif param.startswith("server_no_context_takeover"):
                self.server_no_context_takeover = True
            elif param.startswith("client_max_window_bits"):
                if "=" in param:
                    client_bits = int(param.split("=", 1)[1].strip())
                else:
                    client_bits = self.client_max_window_bits
            elif param.startswith("server_max_window_bits"):
                if "=" in param:
                    server_bits = int(param.split("=", 1)[1].strip())
                else:
                    server_bits = self.server_max_window_bits
        return client_bits, server_bits

    def accept(self, offer: str) -> Union[bool, None, str]:
        client_bits, server_bits = self._parse_params(offer)
        params = []
        if self.client_no_context_takeover:
            params.append("client_no_context_takeover")
        if self.server_no_context_takeover:
            params.append("server_no_context_takeover")
        try:
            if client_bits is not None:
                params.append(f"client_max_window_bits={client_bits}")
                self.client_max_window_bits = client_bits
            if server_bits is not None:
                params.append(f"server_max_window_bits={server_bits}")
                self.server_max_window_bits = server_bits
        except ValueError:
            return None
        self._enabled = True
        return "; ".join(params)

    def __repr__(self) -> str:
        descr = [f"client_max_window_bits={self.client_max_window_bits}"]
        if self.client_no_context_takeover:
            descr.append("client_no_context_takeover")
        descr.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.server_no_context_takeover:
            descr.append("server_no_context_takeover")
        return "<{} {}>".format(self.__class__.__name__, "; ".join(descr))


#: Supported extensions by name.
SUPPORTED_EXTENSIONS: Dict[str, Type[Extension]] = {PerMessageDeflate.name: PerMessageDeflate}
