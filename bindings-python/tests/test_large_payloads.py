"""Large received payloads: ``bytes`` passed to ``receive_data`` are held,
and the payload of a large frame is built into its event straight from
them (``Engine::take_payload`` in src/engine.rs). Whatever the reads, the
events must be exactly those of the core's buffered path (the same pieces
fed as ``bytearray``, which the engine copies into the core) and of
wsproto."""

from __future__ import annotations

import struct
from typing import Any, Callable, List, Optional, Sequence

import pytest

from conftest import REF, RS, shapes

KEY = b"\x37\xfa\x21\x3d"
MIXED = "ascii, é, €, 😀; "
# Above the engine's DIRECT_MIN (8 KiB): these frames take the direct path.
BIG = 8200


def frame(first: int, payload: bytes, key: Optional[bytes] = None) -> bytes:
    """A frame with `first` as its first byte, masked with `key` if given."""
    n = len(payload)
    m = 0x80 if key is not None else 0
    if n < 126:
        head = bytes([first, m | n])
    elif n <= 0xFFFF:
        head = bytes([first, m | 126]) + struct.pack("!H", n)
    else:
        head = bytes([first, m | 127]) + struct.pack("!Q", n)
    if key is None:
        return head + payload
    return head + key + xor(payload, key)


def xor(data: bytes, key: bytes) -> bytes:
    n = len(data)
    mask = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")


def text(n: int) -> bytes:
    """`n` bytes of UTF-8 with 2-, 3- and 4-byte code points."""
    raw = (MIXED.encode() * (n // len(MIXED.encode()) + 1))[:n]
    return raw.decode("utf-8", "ignore").encode().ljust(n, b"x")


def binary(n: int, seed: int = 1) -> bytes:
    return bytes((i * 31 + seed) % 251 for i in range(n))


def stream(key: Optional[bytes]) -> bytes:
    """Small and large messages, whole and fragmented (fragments cut inside
    code points), with control frames between fragments, then a close."""
    t = text(2 * BIG + 300)
    cut1, cut2 = BIG + 1, 2 * BIG + 200  # inside code points, or not
    return b"".join(
        [
            frame(0x81, b"small", key),
            frame(0x82, binary(BIG + 7), key),
            frame(0x89, b"ping", key),
            frame(0x01, t[:cut1], key),
            frame(0x8A, b"", key),
            frame(0x00, t[cut1:cut2], key),
            frame(0x80, t[cut2:], key),
            frame(0x81, t[: BIG + 3].decode("utf-8", "ignore").encode(), key),
            frame(0x88, b"\x03\xe8bye", key),
        ]
    )


def run(role: str, pieces: Sequence[bytes], as_: Callable[[bytes], Any] = bytes, lib: Any = RS, **limits: Any) -> List[Any]:
    """Feeds `pieces` (converted by `as_`) one by one, taking the events
    after each; returns their shapes and the final state."""
    conn = lib.conn.Connection(getattr(lib.conn, role), **limits)
    out: List[Any] = []
    for p in pieces:
        conn.receive_data(as_(p))
        out.extend(shapes(conn.events()))
    return [*out, conn.state.name]


def buffered(role: str, pieces: Sequence[bytes], **limits: Any) -> List[Any]:
    return run(role, pieces, bytearray, **limits)


ROLES = [("SERVER", KEY), ("CLIENT", None)]


@pytest.mark.parametrize("role, key", ROLES)
def test_every_split_point(role: str, key: Optional[bytes]) -> None:
    s = stream(key)
    whole = buffered(role, [s])
    assert run(role, [s]) == whole == run(role, [s], lib=REF)
    for cut in range(1, len(s)):
        pieces = [s[:cut], s[cut:]]
        assert run(role, pieces) == buffered(role, pieces), f"split at {cut}"


@pytest.mark.parametrize("role, key", ROLES)
@pytest.mark.parametrize("size", [1, 7, 1000, 1023, 1024, 1025, 4096, 8191, 8192, 8207, 65536])
def test_reads_of_one_size(role: str, key: Optional[bytes], size: int) -> None:
    s = stream(key)
    pieces = [s[i : i + size] for i in range(0, len(s), size)]
    expected = buffered(role, pieces)
    assert run(role, pieces) == expected
    if size >= 1000:
        assert run(role, pieces, lib=REF) == expected


@pytest.mark.parametrize("role, key", ROLES)
def test_three_way_splits_and_mixed_input_types(role: str, key: Optional[bytes]) -> None:
    s = stream(key)
    kinds = [bytes, bytearray, memoryview]
    for a in range(1, len(s), 173):
        for b in (a + 1, a + 14, a + 1500, a + 8191, len(s) - 1):
            if not a < b < len(s):
                continue
            pieces = [s[:a], s[a:b], s[b:]]
            expected = buffered(role, pieces)
            assert run(role, pieces) == expected, (a, b)
            # bytes held in the engine, then input it must copy, in order.
            conn = RS.conn.Connection(getattr(RS.conn, role))
            got: List[Any] = []
            for i, p in enumerate(pieces):
                conn.receive_data(kinds[(a + i) % 3](p))
                got.extend(shapes(conn.events()))
            assert [*got, conn.state.name] == expected, (a, b)


@pytest.mark.parametrize("role, key", ROLES)
def test_bytewise_after_a_large_read(role: str, key: Optional[bytes]) -> None:
    """Once a read is held, later tiny reads wait behind it (and are held)."""
    s = stream(key)
    for first in (2000, BIG + 20, len(s) // 2):
        pieces = [s[:first], *(s[i : i + 1] for i in range(first, len(s)))]
        assert run(role, pieces) == buffered(role, pieces)


def test_reads_without_taking_events_between() -> None:
    """Several reads before `events()`: one event per frame piece, as wsproto."""
    s = stream(KEY)
    pieces = [s[i : i + 3000] for i in range(0, len(s), 3000)]
    for lib in (RS, REF):
        conn = lib.conn.Connection(lib.conn.SERVER)
        for p in pieces[:4]:
            conn.receive_data(p)
        first = shapes(conn.events())
        for p in pieces[4:]:
            conn.receive_data(p)
        rest = shapes(conn.events())
        if lib is RS:
            ours = (first, rest)
        else:
            assert (first, rest) == ours


@pytest.mark.parametrize("role, key", ROLES)
@pytest.mark.parametrize("at", [0, 1, 3000, BIG - 1, BIG, 2 * BIG + 299])
def test_invalid_utf8_fails_with_1007(role: str, key: Optional[bytes], at: int) -> None:
    t = bytearray(text(2 * BIG + 300))
    t[at] = 0xFF
    s = frame(0x81, b"ok", key) + frame(0x81, bytes(t), key) + frame(0x82, b"never", key)
    for size in (len(s), 1024, 4096, 5000):
        pieces = [s[i : i + size] for i in range(0, len(s), size)]
        got = run(role, pieces)
        assert got == buffered(role, pieces)
        close = [e for e in got if isinstance(e, tuple) and e[0] == "CloseConnection"]
        assert [c[1] for c in close] == [1007], got
        assert got[-1] == "OPEN"  # wsproto leaves the answer to the program
        assert not any(e[0] == "BytesMessage" for e in got if isinstance(e, tuple))


@pytest.mark.parametrize("role, key", ROLES)
def test_message_ending_inside_a_code_point_fails_with_1007(role: str, key: Optional[bytes]) -> None:
    t = text(BIG) + "€".encode()[:2]
    for s in (frame(0x81, t, key), frame(0x01, t[:BIG], key) + frame(0x80, t[BIG:], key)):
        for size in (len(s), 1024, 4097):
            pieces = [s[i : i + size] for i in range(0, len(s), size)]
            got = run(role, pieces)
            assert got == buffered(role, pieces)
            assert [e[1] for e in got if isinstance(e, tuple) and e[0] == "CloseConnection"] == [1007]


@pytest.mark.parametrize("role, key", ROLES)
@pytest.mark.parametrize(
    "limits, frames",
    [
        ({"max_frame_size": BIG}, [(0x82, BIG + 1)]),
        ({"max_message_size": 2 * BIG}, [(0x02, BIG + 1), (0x80, BIG)]),
        ({"max_message_size": BIG}, [(0x81, BIG + 1)]),
    ],
)
def test_limits_fail_with_1009_before_any_payload(role: str, key: Optional[bytes], limits: Any, frames: Any) -> None:
    s = b"".join(frame(first, binary(n) if first & 0x0F != 1 else text(n), key) for first, n in frames)
    for size in (len(s), 1024, 8192):
        pieces = [s[i : i + size] for i in range(0, len(s), size)]
        got = run(role, pieces, **limits)
        assert got == buffered(role, pieces, **limits)
        events = [e for e in got if isinstance(e, tuple)]
        assert events[-1][:2] == ("CloseConnection", 1009)
        # Payload of the first message only: the frame over a limit is refused at its header.
        delivered = sum(len(e[1]) for e in events if e[0] != "CloseConnection")
        assert delivered == (frames[0][1] if len(frames) > 1 else 0)


def test_a_read_inside_an_unmasked_frame_becomes_its_event() -> None:
    """A client's read that lies wholly inside a frame's payload is handed
    to the application as it is (bytes cannot change, so that is a copy
    saved, not a shared buffer)."""
    payload = binary(200_000)
    s = frame(0x82, payload)
    reads = [s[:1010], s[1010:71_010], s[71_010:]]
    conn = RS.conn.Connection(RS.conn.CLIENT)
    got = []
    for r in reads:
        conn.receive_data(r)
        got.extend(conn.events())
    assert b"".join(e.data for e in got) == payload
    assert [type(e.data) for e in got] == [bytes] * 3
    assert got[1].data is reads[1]
    assert [(e.frame_finished, e.message_finished) for e in got] == [(False, False), (False, False), (True, True)]


def test_end_of_stream_after_held_reads_matches_wsproto() -> None:
    s = stream(KEY)
    for lib in (RS, REF):
        conn = lib.conn.Connection(lib.conn.SERVER)
        conn.receive_data(s[:5000])
        conn.receive_data(s[5000:12000])
        conn.receive_data(None)
        got = [*shapes(conn.events()), conn.state.name]
        if lib is RS:
            ours = got
        else:
            assert got == ours
    assert ours[0] == ("CloseConnection", 1006, None)


@pytest.mark.parametrize("role, key", ROLES)
def test_control_frame_header_alone_then_its_payload(role: str, key: Optional[bytes]) -> None:
    """A read that ends right after a control frame's header: the next read
    starts with its payload, not with a header."""
    ping = frame(0x89, b"p" * 125, key)
    head = 2 + (4 if key else 0)
    s = frame(0x82, binary(BIG), key) + ping + frame(0x82, binary(BIG, 2), key)
    at = len(s) - len(ping) - len(frame(0x82, binary(BIG, 2), key)) + head
    pieces = [s[:at], s[at:]]
    got = run(role, pieces)
    assert got == buffered(role, pieces) == run(role, pieces, lib=REF)
    assert ("Ping", b"p" * 125) in got
