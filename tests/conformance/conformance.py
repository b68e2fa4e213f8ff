"""Protocol conformance of a WebSocket echo server, over TCP on 127.0.0.1.

    python tests/conformance/conformance.py PORT [--name NAME] [-k SUBSTRING]

A client written from RFC 6455 with nothing but the standard library (so it
shares no code with the engine it checks) runs a list of cases against the
echo server at PORT, one connection per case, in the spirit of the
Autobahn test suite's fuzzing client: framing and lengths, ping/pong,
reserved bits and opcodes, fragmentation with control frames in between,
UTF-8 (valid, invalid, split inside code points, and failing fast before
the rest of a message is sent), the close handshake and its codes, limits,
the opening handshake, and permessage-deflate (RFC 7692: negotiation,
compressed messages with and without context takeover, RSV1 where it is
not allowed, data that does not inflate, and a decompression bomb).
Every case that sends little is run a second time with its bytes written
one at a time.

What a case checks: the messages and control frames the server sends back
(messages reassembled, since a server may echo a message as it arrives,
fragment by fragment), the close code, that a failure is reported before
the bytes after it are sent where that is asked for, and that the server
closes TCP afterwards. Exit status 0 when every case passes. `run.sh`
runs it against the echo servers of every language: they share one
engine, so they must all pass, whatever the binding does to batch events.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import queue
import random
import socket
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Optional

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
# How long to wait for something the server must send.
PATIENCE = 5.0


def mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def frame(op: int, payload: bytes = b"", fin: bool = True, rsv: int = 0, length: int | None = None) -> bytes:
    """A client frame (masked). `length` overrides the length field."""
    n = len(payload) if length is None else length
    head = bytearray([(0x80 if fin else 0) | (rsv << 4) | op])
    if n < 126:
        head.append(0x80 | n)
    elif n < 1 << 16:
        head.append(0x80 | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(0x80 | 127)
        head += n.to_bytes(8, "big")
    key = os.urandom(4)
    return bytes(head) + key + mask(payload, key)


def close_frame(code: int | None = None, reason: bytes = b"") -> bytes:
    return frame(CLOSE, b"" if code is None else code.to_bytes(2, "big") + reason)


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


@dataclass
class Case:
    """One connection's worth of steps and what must come back.

    `steps` are bytes to send or ("pause", seconds). `expect` lists the
    messages and control frames the server must send, in order, ending with
    its close: ("text", bytes), ("binary", bytes), ("pong", bytes),
    ("close", code) where None is a close without a code. With `fail_before`
    = i, the server's close must have arrived before step i is sent (the
    remaining steps are then not sent). A case that does not expect the
    server to fail ends with the client's close 1000.
    """

    name: str
    steps: list
    expect: list
    fail_before: int | None = None
    chop: int | None = None  # write at most this many bytes at a time
    handshake: bytes | None = None  # a raw request instead of a valid one
    expect_status: int | None = None
    expect_headers: dict = field(default_factory=dict)
    # permessage-deflate (RFC 7692): the offer to send, and a check of the
    # parameters the server answered with (None if it declined), which
    # returns a problem or None. Steps ("z", opcode, data[, fragments])
    # send a message compressed with the negotiated parameters.
    deflate: str | None = None
    check_agreed: Optional[Callable[[Optional[dict]], Optional[str]]] = None

    @property
    def fails(self) -> bool:
        return bool(self.expect) and self.expect[-1][0] == "close" and self.expect[-1][1] != 1000


def cases() -> list[Case]:
    rand = random.Random(6455)  # payloads; mask keys are random
    out: list[Case] = []
    add = out.append
    closed_ok = ("close", 1000)

    # 1: framing and lengths (RFC 6455 §5.2).
    for n in (0, 1, 125, 126, 127, 128, 65535, 65536, 1 << 20):
        text = ("*" * n).encode()
        add(Case(f"1.1 text of {n} bytes", [frame(TEXT, text)], [("text", text), closed_ok]))
        data = bytes(i & 0xFF for i in range(n))
        add(Case(f"1.2 binary of {n} bytes", [frame(BINARY, data)], [("binary", data), closed_ok]))
    big = rand.randbytes(65536)
    add(Case("1.3 binary of 64 KiB written 997 bytes at a time", [frame(BINARY, big)], [("binary", big), closed_ok], chop=997))
    many = [frame(BINARY, bytes([i]) * i) for i in range(50)]
    add(Case("1.4 fifty messages in one write", [b"".join(many)], [("binary", bytes([i]) * i) for i in range(50)] + [closed_ok]))
    head = bytes([0x82, 0xFF]) + (1 << 63 | 5).to_bytes(8, "big") + b"\x01\x02\x03\x04"
    add(Case("1.5 64-bit length with the top bit set", [head], [("close", 1002)]))
    unmasked = bytes([0x81, 0x05]) + b"Hello"
    add(Case("1.6 unmasked client frame", [unmasked], [("close", 1002)]))

    # 2: ping and pong (§5.5.2, §5.5.3).
    add(Case("2.1 ping without payload", [frame(PING)], [("pong", b""), closed_ok]))
    add(Case("2.2 ping with text payload", [frame(PING, b"Hello, world!")], [("pong", b"Hello, world!"), closed_ok]))
    blob = bytes(range(256))[:125]
    add(Case("2.3 ping with 125 bytes of binary payload", [frame(PING, blob)], [("pong", blob), closed_ok]))
    add(Case("2.4 ping with 126 bytes of payload", [frame(PING, b"x" * 126)], [("close", 1002)]))
    add(Case("2.5 unsolicited pong without payload", [frame(PONG)], [closed_ok]))
    add(Case("2.6 unsolicited pong with payload", [frame(PONG, b"unsolicited")], [closed_ok]))
    add(Case(
        "2.7 unsolicited pong, then ping",
        [frame(PONG, b"unsolicited"), frame(PING, b"ping")],
        [("pong", b"ping"), closed_ok],
    ))
    pings = [frame(PING, f"payload-{i}".encode()) for i in range(10)]
    add(Case("2.8 ten pings in one write", [b"".join(pings)], [("pong", f"payload-{i}".encode()) for i in range(10)] + [closed_ok]))
    add(Case("2.9 ten pings, one write each", pings, [("pong", f"payload-{i}".encode()) for i in range(10)] + [closed_ok]))

    # 3: reserved bits, with no extension negotiated (§5.2).
    for rsv in range(1, 8):
        add(Case(
            f"3.{rsv} text with RSV={rsv} between a text and a ping",
            [frame(TEXT, b"Hello"), frame(TEXT, b"Hello", rsv=rsv), frame(PING)],
            [("text", b"Hello"), ("close", 1002)],
        ))
    add(Case("3.8 binary with RSV=3", [frame(BINARY, b"\x00\xff", rsv=3)], [("close", 1002)]))
    add(Case("3.9 ping with RSV=4", [frame(PING, b"p", rsv=4)], [("close", 1002)]))
    add(Case("3.10 close with RSV=7", [frame(CLOSE, b"\x03\xe8", rsv=7)], [("close", 1002)]))

    # 4: reserved opcodes (§5.2).
    for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
        add(Case(
            f"4.{op:x} reserved opcode {op:#x} between a text and a ping",
            [frame(TEXT, b"Hello"), frame(op, b"reserved"), frame(PING)],
            [("text", b"Hello"), ("close", 1002)],
        ))

    # 5: fragmentation (§5.4).
    add(Case("5.1 ping in two fragments", [frame(PING, b"frag", fin=False), frame(CONT, b"ment")], [("close", 1002)]))
    add(Case("5.2 pong in two fragments", [frame(PONG, b"frag", fin=False), frame(CONT, b"ment")], [("close", 1002)]))
    add(Case("5.3 text in two fragments", [frame(TEXT, b"frag", fin=False), frame(CONT, b"ment")], [("text", b"fragment"), closed_ok]))
    add(Case(
        "5.4 text in two fragments, one write",
        [frame(TEXT, b"frag", fin=False) + frame(CONT, b"ment")],
        [("text", b"fragment"), closed_ok],
    ))
    add(Case(
        "5.5 text in two fragments with a ping between",
        [frame(TEXT, b"frag", fin=False), frame(PING, b"ping"), frame(CONT, b"ment")],
        [("pong", b"ping"), ("text", b"fragment"), closed_ok],
    ))
    onebyte = [frame(TEXT, b"a", fin=False)] + [frame(CONT, b"b", fin=False)] * 98 + [frame(CONT, b"c")]
    add(Case("5.6 text in 100 one-byte fragments", [b"".join(onebyte)], [("text", b"a" + b"b" * 98 + b"c"), closed_ok]))
    interleaved = []
    for i in range(10):
        interleaved.append(frame(TEXT if i == 0 else CONT, bytes([65 + i]), fin=i == 9))
        interleaved.append(frame(PING, bytes([97 + i])))
    add(Case(
        "5.7 ten fragments, a ping after each",
        interleaved,
        [("pong", bytes([97 + i])) for i in range(9)] + [("text", b"ABCDEFGHIJ"), ("pong", b"j"), closed_ok],
    ))
    add(Case("5.8 continuation with nothing to continue", [frame(CONT, b"lonely")], [("close", 1002)]))
    add(Case(
        "5.9 unfinished continuation with nothing to continue",
        [frame(CONT, b"lonely", fin=False), frame(CONT, b"end")],
        [("close", 1002)],
    ))
    add(Case(
        "5.10 new text inside a fragmented text",
        [frame(TEXT, b"one", fin=False), frame(TEXT, b"two")],
        [("close", 1002)],
    ))
    add(Case(
        "5.11 new binary inside a fragmented text, after a ping",
        [frame(TEXT, b"one", fin=False), frame(PING, b"p"), frame(BINARY, b"two")],
        [("pong", b"p"), ("close", 1002)],
    ))
    add(Case(
        "5.12 binary with empty fragments",
        [frame(BINARY, b"", fin=False), frame(CONT, b"", fin=False), frame(CONT, b"x"), frame(CONT, b"", fin=False)],
        [("binary", b"x"), ("close", 1002)],
    ))
    add(Case("5.13 text of empty fragments", [frame(TEXT, b"", fin=False), frame(CONT, b"")], [("text", b""), closed_ok]))
    add(Case("5.14 close inside a fragmented message", [frame(TEXT, b"half", fin=False)], [closed_ok]))
    chunks = [big[i : i + 1300] for i in range(0, len(big), 1300)]
    add(Case(
        "5.15 64 KiB binary in 1300-byte fragments",
        [b"".join(frame(BINARY if i == 0 else CONT, c, fin=i == len(chunks) - 1) for i, c in enumerate(chunks))],
        [("binary", big), closed_ok],
    ))

    # 6: UTF-8 (§8.1).
    valid = {
        "ASCII": b"Hello-\x7f",
        "Greek kosme": "κόσμε".encode(),
        "boundaries": "\u0080\u07ff\u0800\uffff\U00010000\U0010ffff".encode(),
        "U+FFFD and noncharacters": "\ufffd\ufffe\uffff\U0010fffe".encode(),
        "around the surrogates": "\ud7ff\ue000".encode(),
        "NUL": b"\x00a\x00",
    }
    for i, (what, data) in enumerate(valid.items(), 1):
        add(Case(f"6.1.{i} valid text: {what}", [frame(TEXT, data)], [("text", data), closed_ok]))
    kosme = "κόσμε".encode()
    for cut in range(1, len(kosme)):
        add(Case(
            f"6.2.{cut} valid text in two fragments cut at byte {cut}",
            [frame(TEXT, kosme[:cut], fin=False), frame(CONT, kosme[cut:])],
            [("text", kosme), closed_ok],
        ))
    add(Case(
        "6.2.x valid text, one byte per fragment",
        [b"".join(frame(TEXT if i == 0 else CONT, kosme[i : i + 1], fin=i == len(kosme) - 1) for i in range(len(kosme)))],
        [("text", kosme), closed_ok],
    ))
    invalid = {
        "lone continuation 0x80": b"a\x80b",
        "lone continuation 0xbf": b"\xbf",
        "overlong NUL C0 80": b"\xc0\x80",
        "overlong C1 BF": b"\xc1\xbf",
        "overlong 3-byte E0 80 80": b"\xe0\x80\x80",
        "overlong 4-byte F0 80 80 80": b"\xf0\x80\x80\x80",
        "surrogate ED A0 80": b"\xed\xa0\x80",
        "surrogate ED BF BF": b"\xed\xbf\xbf",
        "above U+10FFFF F4 90 80 80": b"\xf4\x90\x80\x80",
        "byte F5": b"\xf5\x80\x80\x80",
        "byte FE": b"\xfe",
        "byte FF": b"\xff",
        "2-byte sequence cut short": b"\xce",
        "3-byte sequence cut short": b"\xe2\x82",
        "4-byte sequence cut short": b"\xf0\x9f\x98",
        "start byte then ASCII": b"\xe2a\x82",
        "kosme then a bad byte": kosme + b"\xed\xa0\x80edited",
    }
    for i, (what, data) in enumerate(invalid.items(), 1):
        add(Case(f"6.3.{i} invalid text: {what}", [frame(TEXT, data)], [("close", 1007)]))
    add(Case(
        "6.4.1 invalid in the second fragment",
        [frame(TEXT, kosme, fin=False), frame(CONT, b"\xce\xba\xff"), frame(PING)],
        [("close", 1007)],
    ))
    add(Case(
        "6.4.2 code point cut at the end of a message",
        [frame(TEXT, kosme, fin=False), frame(CONT, b"\xce")],
        [("close", 1007)],
    ))
    # Failing fast: the close must come before the rest is sent.
    add(Case(
        "6.5.1 fail fast: invalid fragment, the rest after a pause",
        [frame(TEXT, kosme, fin=False), frame(CONT, b"\xf4\x90\x80\x80", fin=False), ("pause", 0.2), frame(CONT, b"edited")],
        [("close", 1007)],
        fail_before=3,
    ))
    payload = kosme + b"\xf4\x90\x80\x80" + b"-" * 40
    whole = frame(TEXT, payload)
    cut = 2 + 4 + len(kosme) + 4  # header, key, kosme, the bad sequence
    add(Case(
        "6.5.2 fail fast: inside one frame, the rest after a pause",
        [whole[:cut], ("pause", 0.2), whole[cut:]],
        [("close", 1007)],
        fail_before=2,
    ))
    add(Case(
        "6.5.3 fail fast: first invalid byte of a large frame",
        [frame(TEXT, b"\xff", length=1 << 20), ("pause", 0.2), b"\x00" * 65536],
        [("close", 1007)],
        fail_before=2,
    ))

    # 7: the close handshake (§5.5.1, §7.4).
    add(Case("7.1 close without a code", [close_frame()], [("close", None)]))
    add(Case("7.2 close with one byte of payload", [frame(CLOSE, b"\x03")], [("close", 1002)]))
    add(Case("7.3 close 1000 with a reason", [close_frame(1000, b"bye")], [closed_ok]))
    add(Case("7.4 close with a 123-byte reason", [close_frame(1000, b"r" * 123)], [closed_ok]))
    add(Case("7.5 close with a 124-byte reason", [close_frame(1000, b"r" * 124)], [("close", 1002)]))
    add(Case("7.6 close with an invalid UTF-8 reason", [close_frame(1000, b"\xce\xba\xff")], [("close", 1007)]))
    for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999):
        add(Case(f"7.7 close with code {code}", [close_frame(code)], [("close", code)]))
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
        add(Case(f"7.8 close with invalid code {code}", [close_frame(code)], [("close", 1002)]))
    add(Case("7.9 text after the close is ignored", [close_frame(1000) + frame(TEXT, b"late")], [closed_ok]))
    add(Case("7.10 ping after the close is ignored", [close_frame(1000) + frame(PING, b"late")], [closed_ok]))
    add(Case("7.11 text then close in one write", [frame(TEXT, b"last") + close_frame(1001)], [("text", b"last"), ("close", 1001)]))

    # 9: limits (the servers run the engine's defaults: 16 MiB frames, 64 MiB messages).
    large = rand.randbytes(8 << 20)
    add(Case("9.1 binary of 8 MiB", [frame(BINARY, large)], [("binary", large), closed_ok]))
    add(Case(
        "9.2 frame announcing 1 GiB, refused before its payload",
        [frame(BINARY, b"", length=1 << 30)[:14], ("pause", 0.2), b"\x00" * 1024],
        [("close", 1009)],
        fail_before=2,
    ))
    add(Case(
        "9.3 message growing past 64 MiB, in 8 MiB frames",
        [frame(BINARY if i == 0 else CONT, large, fin=False) for i in range(9)],
        [("close", 1009)],
    ))

    # 10: the opening handshake (§4.2.1, §4.4).
    def request(*lines: str) -> bytes:
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    key = "dGhlIHNhbXBsZSBub25jZQ=="
    add(Case(
        "10.1 version 8 is answered 426 with the version we speak",
        [],
        [],
        handshake=request("GET / HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 8"),
        expect_status=426,
        expect_headers={"sec-websocket-version": "13"},
    ))
    add(Case(
        "10.2 key of 15 bytes",
        [],
        [],
        handshake=request("GET / HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " + base64.b64encode(b"x" * 15).decode(), "Sec-WebSocket-Version: 13"),
        expect_status=400,
    ))
    add(Case(
        "10.3 no key",
        [],
        [],
        handshake=request("GET / HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"),
        expect_status=400,
    ))
    add(Case(
        "10.4 tokens in comma lists, any case",
        [frame(TEXT, b"ok")],
        [("text", b"ok"), closed_ok],
        handshake=request("GET /chat?x=1 HTTP/1.1", "Host: x", "Upgrade: foo, WebSocket", "Connection: keep-alive, upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"),
        expect_status=101,
    ))
    add(Case(
        "10.5 frames in the same write as the request",
        [],
        [("text", b"early"), closed_ok],
        handshake=request("GET / HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13") + frame(TEXT, b"early"),
        expect_status=101,
    ))

    # 12: permessage-deflate (RFC 7692).
    offer = "permessage-deflate; client_max_window_bits"
    prose = b"".join(f"line {i}: the quick brown fox jumps over the lazy dog\n".encode() for i in range(30000))
    for n in (0, 16, 1024, 65536, 1 << 20):
        text = prose[:n]
        add(Case(f"12.1 compressed text of {n} bytes", [("z", TEXT, text)], [("text", text), closed_ok], deflate=offer))
        data = rand.randbytes(n)
        add(Case(f"12.2 compressed random binary of {n} bytes", [("z", BINARY, data)], [("binary", data), closed_ok], deflate=offer))
    same = prose[:1024]
    add(Case(
        "12.3 ten equal messages (the window carries over)",
        [("z", TEXT, same)] * 10,
        [("text", same)] * 10 + [closed_ok],
        deflate=offer,
    ))
    add(Case(
        "12.4 compressed 64 KiB in four fragments",
        [("z", TEXT, prose[:65536], 4)],
        [("text", prose[:65536]), closed_ok],
        deflate=offer,
    ))
    add(Case(
        "12.5 uncompressed message on a deflate connection",
        [frame(TEXT, b"plain"), ("z", TEXT, b"squeezed"), frame(BINARY, b"plain")],
        [("text", b"plain"), ("text", b"squeezed"), ("binary", b"plain"), closed_ok],
        deflate=offer,
    ))
    add(Case(
        "12.6 RSV1 on a continuation frame",
        [frame(TEXT, b"plain", fin=False), frame(CONT, b"x", rsv=4)],
        [("close", 1002)],
        deflate=offer,
    ))
    add(Case("12.7 RSV1 on a ping", [frame(PING, b"", rsv=4)], [("close", 1002)], deflate=offer))
    add(Case("12.8 RSV1 without deflate negotiated", [frame(TEXT, b"\x03\x00", rsv=4)], [("close", 1002)]))
    add(Case("12.9 data that does not inflate", [frame(TEXT, b"\xff\xff\xff\xff", rsv=4)], [("close", 1007)], deflate=offer))
    add(Case("12.10 compressed text that is not UTF-8", [("z", TEXT, b"ok \xce\xba\xff")], [("close", 1007)], deflate=offer))
    add(Case(
        "12.11 decompression bomb: 80 MiB of zeros in 80 KB",
        [("z", BINARY, bytes(80 << 20))],
        [("close", 1009)],
        deflate=offer,
    ))

    def no_context(agreed: Optional[dict]) -> Optional[str]:
        return None if agreed is not None else "declined an offer it should accept"

    add(Case(
        "12.12 client_no_context_takeover",
        [("z", TEXT, same)] * 3,
        [("text", same)] * 3 + [closed_ok],
        deflate="permessage-deflate; client_no_context_takeover",
        check_agreed=no_context,
    ))

    def window_10(agreed: Optional[dict]) -> Optional[str]:
        if agreed is None:
            return "declined"
        bits = agreed.get("server_max_window_bits")
        if bits is None or not 8 <= int(bits) <= 10:
            return f"server_max_window_bits={bits!r}, expected 8 to 10 (RFC 7692 §7.1.2.1)"
        return None

    add(Case(
        "12.13 server_max_window_bits=10",
        [("z", TEXT, prose[:65536])],
        [("text", prose[:65536]), closed_ok],
        deflate="permessage-deflate; server_max_window_bits=10; client_max_window_bits",
        check_agreed=window_10,
    ))

    def plain(agreed: Optional[dict]) -> Optional[str]:
        if agreed is None or set(agreed) - {"server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits", "client_max_window_bits"}:
            return f"agreed {agreed!r}"
        return None

    add(Case(
        "12.14 an offer with an unknown parameter, then a plain one",
        [("z", TEXT, b"second offer")],
        [("text", b"second offer"), closed_ok],
        deflate="permessage-deflate; foo=1, permessage-deflate",
        check_agreed=plain,
    ))

    def declined(agreed: Optional[dict]) -> Optional[str]:
        return None if agreed is None else f"accepted an invalid offer with {agreed!r}"

    add(Case(
        "12.15 server_max_window_bits=7 is declined",
        [frame(TEXT, b"uncompressed")],
        [("text", b"uncompressed"), closed_ok],
        deflate="permessage-deflate; server_max_window_bits=7",
        check_agreed=declined,
    ))

    # The same cases again, a byte at a time, where they send little.
    def size(step) -> int:
        if isinstance(step, bytes):
            return len(step)
        return len(step[2]) if step[0] == "z" else 0

    for c in list(out):
        if c.handshake is None and sum(size(s) for s in c.steps) <= 4096:
            out.append(Case(
                c.name + " [byte by byte]", c.steps, c.expect, c.fail_before, 1, c.handshake,
                c.expect_status, c.expect_headers, c.deflate, c.check_agreed,
            ))
    return out


def parse_extensions(value: str) -> Optional[dict]:
    """The parameters of permessage-deflate in a response header, or None."""
    for ext in value.split(","):
        name, *params = [p.strip() for p in ext.split(";")]
        if name.lower() != "permessage-deflate":
            continue
        agreed = {}
        for p in params:
            k, _, v = p.partition("=")
            agreed[k.strip().lower()] = v.strip().strip('"') or None
        return agreed
    return None


class Deflater:
    """Compresses the client's messages as RFC 7692 §7.2.1 says."""

    def __init__(self, agreed: dict):
        bits = agreed.get("client_max_window_bits")
        # zlib cannot write raw deflate with an 8-bit window; 9 is the least.
        self.wbits = max(int(bits), 9) if bits else 15
        self.reset = "client_no_context_takeover" in agreed
        self.z = zlib.compressobj(6, zlib.DEFLATED, -self.wbits)

    def message(self, data: bytes) -> bytes:
        out = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        if self.reset:
            self.z = zlib.compressobj(6, zlib.DEFLATED, -self.wbits)
        return out[:-4]

    def frames(self, op: int, data: bytes, pieces: int = 1) -> bytes:
        body = self.message(data)
        cut = [len(body) * i // pieces for i in range(pieces + 1)]
        return b"".join(
            frame(op if i == 0 else CONT, body[cut[i] : cut[i + 1]], fin=i == pieces - 1, rsv=4 if i == 0 else 0)
            for i in range(pieces)
        )


# ---------------------------------------------------------------------------
# Running a case
# ---------------------------------------------------------------------------


class Reader(threading.Thread):
    """Reads the server's frames as they come, so that nothing the server
    sends before it closes is lost to a reset, and reassembles messages."""

    def __init__(self, sock: socket.socket, buf: bytes, inflate: bool):
        super().__init__(daemon=True)
        self.sock = sock
        self.buf = bytearray(buf)
        self.events: queue.Queue = queue.Queue()
        # One inflater for the connection: it reads a stream whether or not
        # the server keeps its window between messages.
        self.inflater = zlib.decompressobj(-15) if inflate else None

    def fill(self, n: int) -> bool:
        while len(self.buf) < n:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                return False
            self.buf += data
        return True

    def run(self) -> None:
        msg_op, parts, compressed = None, [], False
        while True:
            if not self.fill(2):
                break
            b0, b1 = self.buf[0], self.buf[1]
            n, at = b1 & 0x7F, 2
            if b1 & 0x80:
                self.events.put(("bad", "masked server frame"))
                break
            if n == 126:
                if not self.fill(4):
                    break
                n, at = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127:
                if not self.fill(10):
                    break
                n, at = int.from_bytes(self.buf[2:10], "big"), 10
            if not self.fill(at + n):
                break
            payload = bytes(self.buf[at : at + n])
            del self.buf[: at + n]
            fin, rsv, op = b0 & 0x80, b0 & 0x70, b0 & 0x0F
            if rsv and not (rsv == 0x40 and self.inflater and op in (TEXT, BINARY)):
                self.events.put(("bad", f"server frame with RSV bits {rsv >> 4}"))
                break
            if op in (TEXT, BINARY, CONT):
                if (op == CONT) != (msg_op is not None):
                    self.events.put(("bad", "server fragments out of order"))
                    break
                if op != CONT:
                    msg_op, compressed = op, bool(rsv)
                parts.append(payload)
                if fin:
                    data = b"".join(parts)
                    if compressed and self.inflater is not None:
                        try:
                            data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
                        except zlib.error as e:
                            self.events.put(("bad", f"server message does not inflate: {e}"))
                            break
                    self.events.put(("text" if msg_op == TEXT else "binary", data))
                    msg_op, parts = None, []
            elif op == PING:
                self.events.put(("ping", payload))
            elif op == PONG:
                self.events.put(("pong", payload))
            elif op == CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                self.events.put(("close", code, payload[2:].decode("utf-8", "replace")))
            else:
                self.events.put(("bad", f"server frame with opcode {op}"))
                break
        self.events.put(("eof",))


def read_head(sock: socket.socket) -> tuple[int, dict, bytes]:
    buf = b""
    sock.settimeout(PATIENCE)
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"connection closed during the handshake after {buf!r}")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    sock.settimeout(None)
    return status, headers, rest


def send(sock: socket.socket, data: bytes, chop: int | None) -> None:
    if not chop:
        sock.sendall(data)
        return
    for i in range(0, len(data), chop):
        sock.sendall(data[i : i + chop])


def run_case(port: int, case: Case) -> tuple[list, list[str]]:
    """Runs one case; returns what was observed and the problems found."""
    problems: list[str] = []
    observed: list = []
    sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        offer = f"Sec-WebSocket-Extensions: {case.deflate}\r\n" if case.deflate else ""
        req = case.handshake or (
            "GET /conformance HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
        ).encode()
        sock.sendall(req)
        status, headers, rest = read_head(sock)
        observed.append(("status", status))
        want = case.expect_status or 101
        if status != want:
            problems.append(f"status {status}, expected {want}")
        for name, value in case.expect_headers.items():
            if headers.get(name) != value:
                problems.append(f"header {name}: {headers.get(name)!r}, expected {value!r}")
        if status != 101:
            return observed, problems
        if case.handshake is None:
            accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
            if headers.get("sec-websocket-accept") != accept:
                problems.append(f"Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}, expected {accept!r}")
        agreed = parse_extensions(headers.get("sec-websocket-extensions", ""))
        if agreed is not None and not case.deflate:
            problems.append("the server answered with permessage-deflate, which was not offered")
        if case.check_agreed:
            problem = case.check_agreed(agreed)
            if problem:
                problems.append(f"permessage-deflate: {problem}")
        elif case.deflate and agreed is None:
            problems.append("the server declined permessage-deflate")
        deflater = Deflater(agreed) if agreed is not None else None
        reader = Reader(sock, rest, agreed is not None)
        reader.start()
        got: list = []

        def take(timeout: float):
            ev = reader.events.get(timeout=timeout)
            got.append(ev)
            return ev

        server_closed = False
        for i, step in enumerate(case.steps):
            if case.fail_before == i:
                # The failure must be reported before this step is sent.
                deadline = time.monotonic() + PATIENCE
                while not server_closed and time.monotonic() < deadline:
                    try:
                        ev = take(max(deadline - time.monotonic(), 0.001))
                    except queue.Empty:
                        break
                    server_closed = ev[0] in ("close", "eof")
                if not server_closed:
                    problems.append(f"no close before step {i} was sent (no fail-fast)")
                break
            if isinstance(step, tuple) and step[0] == "pause":
                time.sleep(step[1])
                continue
            if isinstance(step, tuple):
                if deflater is None:
                    break  # Reported above: nothing was negotiated.
                step = deflater.frames(*step[1:])
            try:
                send(sock, step, case.chop)
            except OSError:
                break  # The server gave up on us; what it said is in the reader.
        if not case.fails and not server_closed:
            try:
                send(sock, close_frame(1000), case.chop)
            except OSError:
                pass
        # Read to the server's close, answer it, and expect TCP to end.
        sent_reply = not case.fails
        while True:
            try:
                ev = got.pop(0) if got else reader.events.get(timeout=PATIENCE)
            except queue.Empty:
                closed = any(o[0] == "close" for o in observed)
                problems.append("timed out waiting for the server" + (" to close TCP" if closed else ""))
                break
            if ev[0] == "eof":
                break
            observed.append(ev)
            if ev[0] == "close" and not sent_reply:
                sent_reply = True
                try:
                    sock.sendall(close_frame(ev[1]) if ev[1] is not None else close_frame())
                except OSError:
                    pass
        messages = [o[:2] for o in observed if o[0] != "status"]
        if messages != [tuple(e) for e in case.expect]:
            problems.append(f"received {summary(messages)}, expected {summary(case.expect)}")
    finally:
        sock.close()
    return observed, problems


def summary(events: list) -> str:
    def one(e) -> str:
        if e[0] in ("text", "binary", "pong", "ping") and isinstance(e[1], bytes):
            data = e[1]
            shown = repr(data) if len(data) <= 24 else f"<{len(data)} bytes sha1 {hashlib.sha1(data).hexdigest()[:8]}>"
            return f"{e[0]} {shown}"
        if e[0] == "close" and len(e) > 2:
            return f"close {e[1]} {e[2]!r}"
        return " ".join(str(x) for x in e)

    return "[" + ", ".join(one(e) for e in events) + "]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("port", type=int)
    ap.add_argument("--name", default="server")
    ap.add_argument("-k", help="run only cases whose name contains this")
    args = ap.parse_args()
    todo = [c for c in cases() if not args.k or args.k in c.name]
    failed = 0
    start = time.monotonic()
    for case in todo:
        try:
            observed, problems = run_case(args.port, case)
        except OSError as e:
            observed, problems = [("error", str(e))], [f"{type(e).__name__}: {e}"]
        if problems:
            failed += 1
            print(f"FAIL {args.name}: {case.name}")
            for p in problems:
                print(f"     {p}")
            print(f"     observed {summary(observed)}")
    took = time.monotonic() - start
    print(f"{args.name}: {len(todo) - failed} of {len(todo)} conformance cases passed ({took:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
