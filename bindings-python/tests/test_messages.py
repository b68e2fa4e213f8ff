"""Messages, fragmentation, ping/pong and close: the same bytes and events
as wsproto."""

from __future__ import annotations

import random
from typing import Any, List

import pytest

from conftest import REF, RS, Lib, handshake, shapes, unmask


def server_sends(lib: Lib, make_events: Any) -> List[bytes]:
    server = lib.conn.Connection(lib.conn.SERVER)
    return [server.send(e) for e in make_events(lib)]


SENDS = [
    lambda l: [l.events.TextMessage(data="hello")],
    lambda l: [l.events.TextMessage(data="ƒñö®∂😎" * 40)],
    lambda l: [l.events.BytesMessage(data=b"\x00" * 126), l.events.BytesMessage(data=b"x" * 65536)],
    lambda l: [l.events.BytesMessage(data=bytearray(b"ba")), l.events.BytesMessage(data=memoryview(b"mv"))],
    lambda l: [l.events.Message(data="generic text"), l.events.Message(data=b"generic bytes")],
    lambda l: [
        l.events.TextMessage(data="one", message_finished=False),
        l.events.TextMessage(data="two", message_finished=False),
        l.events.TextMessage(data="three"),
    ],
    lambda l: [l.events.BytesMessage(data=b"", message_finished=False), l.events.BytesMessage(data=b"end")],
    lambda l: [l.events.Ping(), l.events.Ping(payload=b"p" * 125), l.events.Pong(payload=b"q")],
    lambda l: [l.events.CloseConnection(code=1000, reason="bye")],
    lambda l: [l.events.CloseConnection(code=1001)],
    lambda l: [l.events.CloseConnection(code=4000, reason="é" * 100)],
    lambda l: [l.events.CloseConnection(code=l.events.CloseConnection(code=1005).code)],
    lambda l: [l.events.CloseConnection(code=1006, reason="local only")],
]


@pytest.mark.parametrize("make_events", SENDS)
def test_server_frames_match_wsproto_bytes(make_events: Any) -> None:
    assert server_sends(RS, make_events) == server_sends(REF, make_events)


@pytest.mark.parametrize("make_events", SENDS)
def test_client_frames_are_masked_wsproto_frames(make_events: Any) -> None:
    client = RS.conn.Connection(RS.conn.CLIENT)
    ours = [client.send(e) for e in make_events(RS)]
    assert all(f[1] & 0x80 for f in ours)
    assert [unmask(f) for f in ours] == server_sends(REF, make_events)


def test_client_mask_keys_differ() -> None:
    client = RS.conn.Connection(RS.conn.CLIENT)
    keys = {client.send(RS.events.BytesMessage(data=b"x"))[2:6] for _ in range(64)}
    assert len(keys) > 60


def receive_events(lib: Lib, role: Any, stream: bytes, cuts: List[int]) -> List[Any]:
    conn = lib.conn.Connection(role)
    out = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        conn.receive_data(stream[prev:cut])
        out.extend(shapes(conn.events()))
        prev = cut
    return [*out, conn.state.name]


def stream_from(make_events: Any, client: bool) -> bytes:
    sender = REF.conn.Connection(REF.conn.CLIENT if client else REF.conn.SERVER)
    return b"".join(sender.send(e) for e in make_events(REF))


MESSAGES = [
    lambda l: [l.events.TextMessage(data="hello"), l.events.BytesMessage(data=b"bin" * 100)],
    lambda l: [l.events.TextMessage(data="ƒñö®∂😎" * 50)],
    lambda l: [
        l.events.TextMessage(data="a😎", message_finished=False),
        l.events.Ping(payload=b"between"),
        l.events.TextMessage(data="😎b", message_finished=True),
    ],
    lambda l: [l.events.BytesMessage(data=b"x" * 70000), l.events.Pong(payload=b"pong")],
    lambda l: [l.events.TextMessage(data="bye"), l.events.CloseConnection(code=1000, reason="done")],
    lambda l: [l.events.CloseConnection(code=3000)],
]


@pytest.mark.parametrize("client_sends", [True, False])
@pytest.mark.parametrize("make_events", MESSAGES)
@pytest.mark.parametrize("feed", ["whole", "bytewise", "random"])
def test_received_events_match_wsproto(make_events: Any, client_sends: bool, feed: str) -> None:
    stream = stream_from(make_events, client_sends)
    if feed == "whole":
        cuts: List[int] = []
    elif feed == "bytewise":
        cuts = list(range(1, len(stream)))
    else:
        rng = random.Random(len(stream))
        cuts = sorted(rng.sample(range(1, len(stream)), min(12, len(stream) - 1)))
    role = "SERVER" if client_sends else "CLIENT"
    ours = receive_events(RS, getattr(RS.conn, role), stream, cuts)
    theirs = receive_events(REF, getattr(REF.conn, role), stream, cuts)
    assert ours == theirs


def test_frames_after_a_close_are_ignored(lib: Lib) -> None:
    sender = lib.conn.Connection(lib.conn.CLIENT)
    stream = sender.send(lib.events.CloseConnection(code=1000))
    stream += lib.conn.Connection(lib.conn.CLIENT).send(lib.events.TextMessage(data="late"))
    server = lib.conn.Connection(lib.conn.SERVER)
    server.receive_data(stream)
    assert [int(e.code) for e in server.events()] == [1000]
    server.receive_data(stream)  # REMOTE_CLOSING: ignored, like wsproto
    assert list(server.events()) == []


def test_no_status_member_sends_an_empty_close() -> None:
    import wsproto.frame_protocol as ref_fp

    import wsproto_rs.frame_protocol as rs_fp

    ours = RS.conn.Connection(RS.conn.SERVER).send(RS.events.CloseConnection(code=rs_fp.CloseReason.NO_STATUS_RCVD))
    theirs = REF.conn.Connection(REF.conn.SERVER).send(REF.events.CloseConnection(code=ref_fp.CloseReason.NO_STATUS_RCVD))
    assert ours == theirs == b"\x88\x00"


def test_partial_frames_report_frame_and_message_ends() -> None:
    server = RS.conn.Connection(RS.conn.SERVER)
    client = RS.conn.Connection(RS.conn.CLIENT)
    frame = client.send(RS.events.BytesMessage(data=b"0123456789", message_finished=False))
    server.receive_data(frame[:-4])
    (first,) = server.events()
    assert (first.data, first.frame_finished, first.message_finished) == (b"012345", False, False)
    server.receive_data(frame[-4:])
    (second,) = server.events()
    assert (second.data, second.frame_finished, second.message_finished) == (b"6789", True, False)


def test_close_codes_are_close_reason_members() -> None:
    client, server = handshake(RS)
    server.receive_data(client.send(RS.events.CloseConnection(code=1001, reason="away")))
    (event,) = server.events()
    assert event.code is RS.top.CloseReason.GOING_AWAY
    assert event.reason == "away"
    assert server.state is RS.conn.ConnectionState.REMOTE_CLOSING
    assert client.state is RS.conn.ConnectionState.LOCAL_CLOSING
    client.receive_data(server.send(event.response()))
    (answer,) = client.events()
    assert answer.code is RS.top.CloseReason.GOING_AWAY
    assert client.state is server.state is RS.conn.ConnectionState.CLOSED


@pytest.mark.parametrize("code, reason", [(4999, "app"), (3000, ""), (1014, "gateway")])
def test_application_close_codes_are_ints(code: int, reason: str) -> None:
    server = RS.conn.Connection(RS.conn.SERVER)
    client = RS.conn.Connection(RS.conn.CLIENT)
    server.receive_data(client.send(RS.events.CloseConnection(code=code, reason=reason)))
    (event,) = server.events()
    assert type(event.code) is int and event.code == code and event.reason == reason


def test_empty_close_reports_1005() -> None:
    server = RS.conn.Connection(RS.conn.SERVER)
    server.receive_data(b"\x88\x80abcd")
    (event,) = server.events()
    assert event.code is RS.top.CloseReason.NO_STATUS_RCVD and event.reason == ""


def test_transport_end_reports_1006(lib: Lib) -> None:
    client, server = handshake(lib)
    server.receive_data(None)
    (event,) = server.events()
    assert int(event.code) == 1006 and event.reason is None
    assert server.state is lib.conn.ConnectionState.CLOSED


def test_ping_pong_roundtrip(lib: Lib) -> None:
    client, server = handshake(lib)
    server.receive_data(client.send(lib.events.Ping(payload=b"hi")))
    (ping,) = server.events()
    assert ping == lib.events.Ping(payload=b"hi")
    client.receive_data(server.send(ping.response()))
    assert list(client.events()) == [lib.events.Pong(payload=b"hi")]


def test_abandoned_iterator_keeps_events(lib: Lib) -> None:
    client, server = handshake(lib)
    server.receive_data(b"".join(client.send(lib.events.TextMessage(data=str(i))) for i in range(3)))
    assert next(server.events()).data == "0"
    assert next(server.events()).data == "1"
    assert [e.data for e in server.events()] == ["2"]


def test_events_are_the_documented_dataclasses() -> None:
    ev = RS.events.TextMessage(data="x")
    assert ev == RS.events.TextMessage(data="x", frame_finished=True, message_finished=True)
    assert repr(ev) == "TextMessage(data='x', frame_finished=True, message_finished=True)"
    assert RS.events.CloseConnection(code=1000, reason="r").response() == RS.events.CloseConnection(1000, "r")
    assert RS.events.Ping(b"p").response() == RS.events.Pong(b"p")
    assert RS.events.RejectConnection() == RS.events.RejectConnection(status_code=400, headers=[], has_body=False)
    with pytest.raises(Exception):
        ev.data = "y"  # type: ignore[misc]
    server = RS.conn.Connection(RS.conn.SERVER)
    server.receive_data(RS.conn.Connection(RS.conn.CLIENT).send(ev))
    (got,) = server.events()
    assert got == ev and hash(got) == hash(ev) and isinstance(got, RS.events.Message)


def test_connections_move_between_threads() -> None:
    """wsproto objects are plain Python objects; ours may be used from any
    thread too (a worker pool handing connections around)."""
    import threading

    client, server = handshake(RS)
    results = []

    def work() -> None:
        server.receive_data(client.send(RS.events.TextMessage(data="from a thread")))
        results.extend(e.data for e in server.events())

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert results == ["from a thread"]


def random_events(lib: Lib, rng: random.Random) -> List[Any]:
    alphabet = "aé€😎\u0800"
    events: List[Any] = []
    for _ in range(rng.randrange(1, 8)):
        kind = rng.choice(["text", "bytes", "ping", "pong"])
        if kind in ("ping", "pong"):
            cls = lib.events.Ping if kind == "ping" else lib.events.Pong
            events.append(cls(payload=bytes(rng.randrange(256) for _ in range(rng.randrange(0, 126)))))
            continue
        pieces = rng.randrange(1, 4)
        for i in range(pieces):
            last = i == pieces - 1
            size = rng.randrange(0, 300)
            if kind == "text":
                data: Any = "".join(rng.choice(alphabet) for _ in range(size))
                events.append(lib.events.TextMessage(data=data, message_finished=last))
            else:
                events.append(lib.events.BytesMessage(data=bytes(rng.randrange(256) for _ in range(size)), message_finished=last))
    return events


@pytest.mark.parametrize("seed", range(40))
def test_random_streams_decode_like_wsproto(seed: int) -> None:
    rng = random.Random(seed)
    client_sends = seed % 2 == 0
    stream = stream_from(lambda l: random_events(l, random.Random(seed)), client_sends)
    cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randrange(0, 40))))
    role = "SERVER" if client_sends else "CLIENT"
    assert receive_events(RS, getattr(RS.conn, role), stream, cuts) == receive_events(
        REF, getattr(REF.conn, role), stream, cuts
    )


@pytest.mark.parametrize("seed", range(20))
def test_random_sends_encode_like_wsproto(seed: int) -> None:
    ours = server_sends(RS, lambda l: random_events(l, random.Random(seed)))
    theirs = server_sends(REF, lambda l: random_events(l, random.Random(seed)))
    assert ours == theirs


def test_state_moves_when_the_close_is_taken(lib: Lib) -> None:
    """events() is lazy in wsproto: a ping read in the same bytes as the
    peer's close can be answered while iterating, before the close."""
    client = lib.conn.Connection(lib.conn.CLIENT)
    server = lib.conn.Connection(lib.conn.SERVER)
    server.receive_data(client.send(lib.events.Ping(payload=b"p")) + client.send(lib.events.CloseConnection(code=1000)))
    seen = []
    for event in server.events():
        seen.append((type(event).__name__, server.state.name))
        if isinstance(event, lib.events.Ping):
            assert server.send(event.response()) == b"\x8a\x01p"
    assert seen == [("Ping", "OPEN"), ("CloseConnection", "REMOTE_CLOSING")]


def test_a_message_read_with_the_close_can_be_answered(lib: Lib) -> None:
    """The program echoes a message that arrived in the same bytes as the
    peer's close: the connection is still open while it does (wsproto's
    generator has not decoded the close yet)."""
    client = lib.conn.Connection(lib.conn.CLIENT)
    server = lib.conn.Connection(lib.conn.SERVER)
    server.receive_data(client.send(lib.events.TextMessage(data="last")) + client.send(lib.events.CloseConnection(code=1001)))
    seen = []
    for event in server.events():
        seen.append((type(event).__name__, server.state.name))
        if isinstance(event, lib.events.TextMessage):
            assert server.send(lib.events.TextMessage(data=event.data)) == b"\x81\x04last"
        elif isinstance(event, lib.events.CloseConnection):
            assert server.send(event.response()) == b"\x88\x02\x03\xe9"
    assert seen == [("TextMessage", "OPEN"), ("CloseConnection", "REMOTE_CLOSING")]
    assert server.state.name == "CLOSED"


def test_a_message_being_sent_goes_on_after_the_peer_breaks_the_protocol(lib: Lib) -> None:
    """After a protocol error the state is unchanged (wsproto reports a
    CloseConnection and leaves the answer to the program): the message
    the program is sending in fragments continues with continuation frames."""
    server = lib.conn.Connection(lib.conn.SERVER)
    assert server.send(lib.events.TextMessage(data="one", message_finished=False)) == b"\x01\x03one"
    server.receive_data(bytes([0x83, 0x80, 0, 0, 0, 0]))  # reserved opcode
    (event,) = list(server.events())
    assert isinstance(event, lib.events.CloseConnection) and event.code == 1002
    assert server.send(lib.events.TextMessage(data="two")) == b"\x80\x03two"
    assert server.send(lib.events.CloseConnection(code=1002)) == b"\x88\x02\x03\xea"
