"""Bad input from the peer: a CloseConnection event with the right code
(or RemoteProtocolError during the handshake), never a crash or a hang."""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest

from conftest import REF, RS, Lib

MASK = b"\x00\x00\x00\x00"


def masked(first: int, payload: bytes) -> bytes:
    """A client frame (mask key 0, so the payload is readable)."""
    if len(payload) < 126:
        return bytes([first, 0x80 | len(payload)]) + MASK + payload
    return bytes([first, 0x80 | 126]) + struct.pack("!H", len(payload)) + MASK + payload


# (frame sent to a server, expected close code, whether wsproto words it the same)
BAD_FRAMES = [
    (bytes([0x83, 0x80]) + MASK, 1002, True),  # reserved opcode
    (bytes([0x81, 0x02]) + b"hi", 1002, True),  # unmasked client frame
    (masked(0xC1, b"x"), 1002, True),  # RSV1 without an extension
    (masked(0x09, b"x"), 1002, True),  # fragmented ping
    (bytes([0x89, 0xFE, 0x00, 0x7E]) + MASK + b"p" * 126, 1002, True),  # control frame > 125
    (masked(0x80, b"x"), 1002, True),  # continuation with nothing to continue
    (masked(0x01, b"a") + masked(0x81, b"b"), 1002, False),  # new message inside a fragmented one
    (masked(0x81, b"\xff"), 1007, False),  # invalid UTF-8
    (masked(0x01, b"\xe2\x82") + masked(0x80, b"\x28"), 1007, False),  # invalid across fragments
    (masked(0x88, b"\x03"), 1002, False),  # 1-byte close payload
    (masked(0x88, b"\x03\xed"), 1002, False),  # close code 1005 on the wire
    (masked(0x88, b"\x03\xe8\xff"), 1007, False),  # close reason not UTF-8
    (bytes([0x82, 0xFE, 0x00, 0x05]) + MASK + b"12345", 1002, False),  # non-minimal length
]


def first_event(lib: Lib, data: bytes) -> Any:
    server = lib.conn.Connection(lib.conn.SERVER)
    server.receive_data(data)
    events = [e for e in server.events() if isinstance(e, lib.events.CloseConnection)]
    return server, events


@pytest.mark.parametrize("data, code, same_reason", BAD_FRAMES)
def test_bad_frames_close_with_the_right_code(data: bytes, code: int, same_reason: bool) -> None:
    server, events = first_event(RS, data)
    assert len(events) == 1 and int(events[0].code) == code
    # wsproto leaves the answer to the program, in the same state.
    assert server.state is RS.conn.ConnectionState.OPEN
    answer = server.send(events[0].response())
    assert answer[:2] == bytes([0x88, len(answer) - 2]) and struct.unpack("!H", answer[2:4])[0] == code
    assert server.state is RS.conn.ConnectionState.LOCAL_CLOSING
    _, ref_events = first_event(REF, data)
    assert int(ref_events[0].code) == code
    if same_reason:
        assert events[0].reason == ref_events[0].reason
    # Nothing more is read once the peer broke the protocol.
    server.receive_data(masked(0x81, b"ignored"))
    assert list(server.events()) == []


def test_masked_frame_to_a_client() -> None:
    client = RS.conn.Connection(RS.conn.CLIENT)
    client.receive_data(masked(0x81, b"hi"))
    (event,) = client.events()
    assert (int(event.code), event.reason) == (1002, "client received unexpected masked frame")


@pytest.mark.parametrize("limit, data", [
    ({"max_message_size": 10}, masked(0x82, b"x" * 11)),
    ({"max_message_size": 10}, masked(0x02, b"x" * 6) + masked(0x80, b"y" * 6)),
    ({"max_frame_size": 100}, bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 40) + MASK),
    ({"max_fragments": 3}, b"".join(masked(0x00 if i else 0x02, b"f") for i in range(4))),
])
def test_limits_fail_fast_with_1009(limit: Any, data: bytes) -> None:
    server = RS.conn.Connection(RS.conn.SERVER, **limit)
    server.receive_data(data)
    (event,) = [e for e in server.events() if isinstance(e, RS.events.CloseConnection)]
    assert int(event.code) == 1009


def test_limits_on_wsconnection() -> None:
    client = RS.top.WSConnection(RS.conn.CLIENT)
    server = RS.top.WSConnection(RS.conn.SERVER, max_message_size=1000)
    server.receive_data(client.send(RS.events.Request(host="h", target="/")))
    client.receive_data(server.send(RS.events.AcceptConnection()))
    list(server.events()), list(client.events())
    server.receive_data(client.send(RS.events.BytesMessage(data=b"x" * 1000)))
    assert [len(e.data) for e in server.events()] == [1000]
    server.receive_data(client.send(RS.events.BytesMessage(data=b"x" * 1001)))
    (event,) = server.events()
    assert event.code is RS.top.CloseReason.MESSAGE_TOO_BIG


@pytest.mark.parametrize("role", ["SERVER", "CLIENT"])
def test_random_garbage_never_crashes_or_hangs(role: str) -> None:
    rng = random.Random(1234)
    for _ in range(300):
        conn = RS.conn.Connection(getattr(RS.conn, role))
        for _ in range(rng.randrange(1, 6)):
            chunk = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
            try:
                conn.receive_data(chunk)
            except RS.util.LocalProtocolError:
                break  # closed by an earlier close frame: wsproto raises too
            for event in conn.events():
                assert isinstance(event, RS.events.Event)


def test_random_garbage_handshake_raises_remote_errors() -> None:
    rng = random.Random(99)
    for _ in range(200):
        server = RS.top.WSConnection(RS.conn.SERVER)
        data = b"GET / HTTP/1.1\r\n" + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80))) + b"\r\n\r\n"
        try:
            server.receive_data(data)
            list(server.events())
        except RS.util.RemoteProtocolError as exc:
            assert isinstance(exc.event_hint, RS.events.RejectConnection)
            assert server.send(exc.event_hint).startswith(b"HTTP/1.1 4")


def test_a_flood_of_empty_fragments_is_decoded_a_batch_at_a_time() -> None:
    """Each empty frame is an event (as in wsproto); a read of 100,000 of
    them must not become 100,000 event objects before the first is taken."""
    import tracemalloc

    flood = masked(0x01, b"a") + masked(0x00, b"") * 100_000 + masked(0x80, b"z")
    server = RS.conn.Connection(RS.conn.SERVER)
    tracemalloc.start()
    try:
        server.receive_data(flood)
        events = server.events()
        first = next(events)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (first.data, first.message_finished) == ("a", False)
    assert peak < 2_000_000, f"{peak} bytes of Python objects for the first event"
    rest = list(events)
    assert len(rest) == 100_001
    assert all(e.data == "" and not e.message_finished for e in rest[:-1])
    assert (rest[-1].data, rest[-1].message_finished) == ("z", True)
