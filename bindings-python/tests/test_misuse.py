"""API misuse raises wsproto's exceptions, with wsproto's messages."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import REF, RS, Lib, handshake


def outcome(fn: Any) -> Any:
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return (type(exc).__name__, str(exc))


def both(scenario: Any) -> None:
    ours, theirs = outcome(lambda: scenario(RS)), outcome(lambda: scenario(REF))
    assert ours == theirs


SCENARIOS = {
    "data before the handshake": lambda l: l.top.WSConnection(l.conn.CLIENT).send(l.events.TextMessage(data="x")),
    "accept as a client": lambda l: l.top.WSConnection(l.conn.CLIENT).send(l.events.Ping()),
    "upgrade as a client": lambda l: l.top.WSConnection(l.conn.CLIENT).initiate_upgrade_connection([], "/"),
    "request after open": lambda l: handshake(l)[0].send(l.events.Request(host="h", target="/")),
    "data after close": lambda l: (lambda c: (c.send(l.events.CloseConnection(code=1000)), c.send(l.events.TextMessage(data="x"))))(l.conn.Connection(l.conn.CLIENT)),
    "close twice": lambda l: (lambda c: (c.send(l.events.CloseConnection(code=1000)), c.send(l.events.CloseConnection(code=1000))))(l.conn.Connection(l.conn.SERVER)),
    "ping after close": lambda l: (lambda c: (c.send(l.events.CloseConnection(code=1000)), c.send(l.events.Ping())))(l.conn.Connection(l.conn.SERVER)),
    "ping too long": lambda l: l.conn.Connection(l.conn.SERVER).send(l.events.Ping(payload=b"x" * 126)),
    "reason without code": lambda l: l.conn.Connection(l.conn.SERVER).send(l.events.CloseConnection(code=None, reason="r")),  # type: ignore[arg-type]
    "fragment type mismatch": lambda l: (lambda c: (c.send(l.events.TextMessage(data="a", message_finished=False)), c.send(l.events.BytesMessage(data=b"b"))))(l.conn.Connection(l.conn.SERVER)),
    "not bytes or text": lambda l: l.conn.Connection(l.conn.SERVER).send(l.events.Message(data=12)),  # type: ignore[arg-type]
    "receive after closed": lambda l: (lambda c: (c.receive_data(None), c.receive_data(b"x")))(l.conn.Connection(l.conn.SERVER)),
    "handshake event to an open connection": lambda l: l.conn.Connection(l.conn.SERVER).send(l.events.AcceptConnection()),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_misuse_matches_wsproto(name: str) -> None:
    both(SCENARIOS[name])


def server_with_request(lib: Lib, **kw: Any) -> Any:
    client = lib.top.WSConnection(lib.conn.CLIENT)
    server = lib.top.WSConnection(lib.conn.SERVER)
    server.receive_data(client.send(lib.events.Request(host="h", target="/", **kw)))
    list(server.events())
    return server


SERVER_SCENARIOS = {
    "unknown subprotocol": lambda l: server_with_request(l, subprotocols=["a"]).send(l.events.AcceptConnection(subprotocol="b")),
    "reject data before reject": lambda l: server_with_request(l).send(l.events.RejectData(data=b"x")),
    "reject twice": lambda l: (lambda s: (s.send(l.events.RejectConnection()), s.send(l.events.RejectConnection())))(server_with_request(l)),
    "reject after accept": lambda l: (lambda s: (s.send(l.events.AcceptConnection()), s.send(l.events.RejectConnection())))(server_with_request(l)),
    "message while connecting": lambda l: server_with_request(l).send(l.events.TextMessage(data="x")),
}


@pytest.mark.parametrize("name", SERVER_SCENARIOS)
def test_server_misuse_matches_wsproto(name: str) -> None:
    ours, theirs = outcome(lambda: SERVER_SCENARIOS[name](RS)), outcome(lambda: SERVER_SCENARIOS[name](REF))
    assert ours[0] == theirs[0]
    if name != "reject after accept":  # wsproto's message names its Connection's state
        assert ours == theirs


def test_local_errors_leave_the_connection_usable() -> None:
    client, server = handshake(RS)
    with pytest.raises(ValueError):
        client.send(RS.events.Ping(payload=b"x" * 200))
    with pytest.raises(RS.util.LocalProtocolError):
        client.send(RS.events.CloseConnection(code=999))
    server.receive_data(client.send(RS.events.TextMessage(data="still fine")))
    assert [e.data for e in server.events()] == ["still fine"]


def test_surrogates_cannot_be_sent() -> None:
    with pytest.raises(UnicodeEncodeError):
        RS.conn.Connection(RS.conn.SERVER).send(RS.events.TextMessage(data="\ud800"))
