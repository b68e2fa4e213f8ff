"""`Connection.send` and `receive_data` are the engine's one-argument
builtins (see `Engine.fast_methods` in src/engine.rs): they must behave as
the methods they stand in for, exceptions and all."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from wsproto_rs.connection import CLIENT, SERVER, Connection, ConnectionState
from wsproto_rs.events import BytesMessage, CloseConnection, TextMessage
from wsproto_rs.utilities import LocalProtocolError


def test_exact_bytes_and_events_through_the_builtins() -> None:
    server = Connection(SERVER)
    assert server.send(TextMessage(data="hé")) == b"\x81\x03h\xc3\xa9"
    assert server.send(BytesMessage(data=b"\x00\x01")) == b"\x82\x02\x00\x01"
    client = Connection(CLIENT)
    client.receive_data(b"\x81\x03h\xc3\xa9\x82\x02\x00\x01")
    assert list(client.events()) == [TextMessage(data="hé"), BytesMessage(data=b"\x00\x01")]
    client.receive_data(None)
    assert list(client.events()) == [CloseConnection(code=1006, reason=None)]
    assert client.state is ConnectionState.CLOSED


def test_arity_and_argument_errors_are_python_errors() -> None:
    conn = Connection(SERVER)
    send: Any = conn.send
    receive: Any = conn.receive_data
    with pytest.raises(TypeError):
        send()
    with pytest.raises(TypeError):
        send(TextMessage(data="a"), TextMessage(data="b"))
    with pytest.raises(TypeError):
        receive()
    with pytest.raises(TypeError):
        receive(12)
    # Still usable afterwards.
    assert conn.send(TextMessage(data="ok")) == b"\x81\x02ok"


def test_protocol_errors_propagate_with_their_type_and_message() -> None:
    conn = Connection(SERVER)
    conn.send(CloseConnection(code=1000))
    with pytest.raises(LocalProtocolError, match="cannot be sent in state"):
        conn.send(TextMessage(data="late"))
    conn.receive_data(None)
    with pytest.raises(LocalProtocolError, match="already closed"):
        conn.receive_data(b"x")


def test_the_builtins_keep_their_engine_alive() -> None:
    send = Connection(SERVER).send
    gc.collect()
    assert send(TextMessage(data="still here")) == b"\x81\x0astill here"


def test_subclass_overrides_are_kept() -> None:
    class Recording(Connection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.sent: list = []
            super().__init__(*args, **kwargs)

        def send(self, event: Any) -> bytes:
            self.sent.append(event)
            return super().send(event)

    conn = Recording(SERVER)
    assert conn.send(TextMessage(data="a")) == b"\x81\x01a"
    assert conn.sent == [TextMessage(data="a")]
