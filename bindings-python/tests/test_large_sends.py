"""Frames are sent with their payload copied (and, by a client, masked)
once, into the new ``bytes`` object itself (``encode_frame`` in
src/engine.rs): exactly wsproto's bytes at every length class."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import REF, RS, unmask
MIXED = "ascii, é, €, 😀; "


def text(n: int) -> bytes:
    """`n` bytes of UTF-8 with 2-, 3- and 4-byte code points."""
    raw = (MIXED.encode() * (n // len(MIXED.encode()) + 1))[:n]
    return raw.decode("utf-8", "ignore").encode().ljust(n, b"x")


def binary(n: int) -> bytes:
    return bytes((i * 31 + 1) % 251 for i in range(n))

SIZES = [0, 1, 125, 126, 4095, 4096, 65535, 65536, 70_000, 1 << 20]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["ascii", "mixed", "binary"])
def test_large_frames_are_sent_exactly(size: int, kind: str) -> None:
    def event(lib: Any) -> Any:
        if kind == "binary":
            return lib.events.BytesMessage(data=binary(size))
        data = text(size).decode() if kind == "mixed" else "a" * size
        return lib.events.TextMessage(data=data)

    expected = REF.conn.Connection(REF.conn.SERVER).send(event(REF))
    assert RS.conn.Connection(RS.conn.SERVER).send(event(RS)) == expected
    client = RS.conn.Connection(RS.conn.CLIENT)
    for _ in range(3):  # a fresh mask key each time
        masked = client.send(event(RS))
        assert masked[1] & 0x80 and len(masked) == len(expected) + 4
        assert unmask(masked) == expected
