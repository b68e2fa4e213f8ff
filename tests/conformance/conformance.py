"""Protocol conformance of a WebSocket echo server or client, over TCP on 127.0.0.1.

    python tests/conformance/conformance.py PORT [--name NAME] [-k SUBSTRING]
    python tests/conformance/conformance.py [--name NAME] [-k SUBSTRING] --client PROGRAM [ARG or PORT]...

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

With --client it plays the server instead, for an echo client started as
COMMAND (PORT in it replaced by the port we listen on), the way Autobahn's
fuzzing server does: the client asks /getCaseCount (a text message holding
N), then connects to /runCase?case=1 to N in turn and echoes each message.
The cases are the same frames, sent unmasked, with the client's echoes
required to be masked; section 10 becomes the responses a client must
refuse or accept (RFC 6455 §4.1) and the deflate negotiation cases the
parameters a server may answer with (RFC 7692 §7.1). Each request is
checked too, and the client must exit with status 0 when done.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import os
import queue
import random
import socket
import subprocess
import sys
import tempfile
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


def make_frame(
    op: int, payload: bytes = b"", fin: bool = True, rsv: int = 0, length: int | None = None, masked: bool = True
) -> bytes:
    """A frame: masked as a client sends it, or not, as a server does.
    `length` overrides the length field."""
    n = len(payload) if length is None else length
    m = 0x80 if masked else 0
    head = bytearray([(0x80 if fin else 0) | (rsv << 4) | op])
    if n < 126:
        head.append(m | n)
    elif n < 1 << 16:
        head.append(m | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(m | 127)
        head += n.to_bytes(8, "big")
    if not masked:
        return bytes(head) + payload
    key = os.urandom(4)
    return bytes(head) + key + mask(payload, key)


def make_close(code: int | None = None, reason: bytes = b"", masked: bool = True) -> bytes:
    return make_frame(CLOSE, b"" if code is None else code.to_bytes(2, "big") + reason, masked=masked)


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
    peer to fail ends with our close 1000, sent once the answers it expects
    have come (or after PATIENCE), as Autobahn's suite waits for echoes.
    """

    name: str
    steps: list
    expect: list
    fail_before: int | None = None
    chop: int | None = None  # write at most this many bytes at a time
    handshake: bytes | None = None  # a raw request instead of a valid one
    expect_status: int | tuple | None = None  # a tuple: any of these
    expect_headers: dict = field(default_factory=dict)
    # permessage-deflate (RFC 7692): the offer to send, and a check of the
    # parameters the server answered with (None if it declined), which
    # returns a problem or None. Steps ("z", opcode, data[, fragments])
    # send a message compressed with the negotiated parameters.
    deflate: str | None = None
    check_agreed: Optional[Callable[[Optional[dict]], Optional[str]]] = None
    # Client cases (a client under test): `handshake` is the raw response,
    # with "{accept}" standing for the right Sec-WebSocket-Accept, and
    # `deflate` the Sec-WebSocket-Extensions value to answer an offer of
    # permessage-deflate with; `deflate_for` picks that value from the
    # client's first offer instead, and says whether the client must then
    # fail. `bad_handshake`: the client must fail the connection, which
    # for an opening handshake means closing TCP without sending a frame
    # (RFC 6455 §4.1).
    bad_handshake: bool = False
    deflate_for: Optional[Callable[[dict], tuple[str, bool]]] = None

    @property
    def fails(self) -> bool:
        return bool(self.expect) and self.expect[-1][0] == "close" and self.expect[-1][1] != 1000


def cases(under_test: str = "server") -> list[Case]:
    """The cases for a server under test (we are its client, and mask
    what we send) or for a client under test (we are its server). The
    same frames check both roles, apart from masking, the opening
    handshake and the negotiation of permessage-deflate."""
    rand = random.Random(6455)  # payloads; mask keys are random
    out: list[Case] = []
    add = out.append
    closed_ok = ("close", 1000)
    server = under_test == "server"

    def frame(op: int, payload: bytes = b"", fin: bool = True, rsv: int = 0, length: int | None = None) -> bytes:
        return make_frame(op, payload, fin, rsv, length, masked=server)

    def close_frame(code: int | None = None, reason: bytes = b"") -> bytes:
        return make_close(code, reason, masked=server)

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
    if server:
        unmasked = bytes([0x81, 0x05]) + b"Hello"
        add(Case("1.6 unmasked client frame", [unmasked], [("close", 1002)]))
    else:
        masked = bytes([0x81, 0x85, 1, 2, 3, 4]) + mask(b"Hello", b"\x01\x02\x03\x04")
        add(Case("1.6 masked server frame", [masked], [("close", 1002)]))

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
    add(Case(
        "7.12 binary, ping, text, close in one write",
        [frame(BINARY, b"\x00\x01") + frame(PING, b"p") + frame(TEXT, b"t") + close_frame(1000, b"done")],
        [("binary", b"\x00\x01"), ("pong", b"p"), ("text", b"t"), closed_ok],
    ))

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

    # 10: the opening handshake (RFC 6455 §4).
    out += server_handshakes(frame, closed_ok) if server else client_handshakes(frame, closed_ok)

    # 12: permessage-deflate (RFC 7692).
    # What a client offers; what a server under test is answered with.
    offer = "permessage-deflate; client_max_window_bits" if server else "permessage-deflate"
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

    out += server_negotiations(frame, closed_ok, same, prose) if server else client_negotiations(frame, closed_ok, same, prose)

    # The same cases again, a byte at a time, where they send little.
    def size(step) -> int:
        if isinstance(step, bytes):
            return len(step)
        return len(step[2]) if step[0] == "z" else 0

    # A client's handshake response is also written a byte at a time.
    for c in list(out):
        if (c.handshake is None or not server) and sum(size(s) for s in c.steps) <= 4096:
            out.append(dataclasses.replace(c, name=c.name + " [byte by byte]", chop=1))
    return out



def server_handshakes(frame: Callable[..., bytes], closed_ok: tuple) -> list[Case]:
    """Section 10 for a server under test: requests it must refuse or accept (§4.2.1, §4.4)."""
    out: list[Case] = []
    add = out.append
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
    valid = ("Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13")
    # §4.2.1: an HTTP/1.1 (or later) GET with a Host; RFC 9112 §3.2: a
    # request without Host is answered 400.
    add(Case("10.6 no Host", [], [], handshake=request("GET / HTTP/1.1", *valid), expect_status=400))
    add(Case("10.7 HTTP/1.0", [], [], handshake=request("GET / HTTP/1.0", "Host: x", *valid), expect_status=400))
    add(Case("10.8 POST", [], [], handshake=request("POST / HTTP/1.1", "Host: x", "Content-Length: 0", *valid), expect_status=(400, 405)))
    add(Case(
        "10.9 header values with spaces around them",
        [frame(TEXT, b"ok")],
        [("text", b"ok"), closed_ok],
        handshake=request("GET / HTTP/1.1", "Host:  x ", "Upgrade:   websocket  ", "Connection:\tUpgrade", f"Sec-WebSocket-Key:  {key} ", "Sec-WebSocket-Version: 13 "),
        expect_status=101,
    ))
    return out


def server_negotiations(frame: Callable[..., bytes], closed_ok: tuple, same: bytes, prose: bytes) -> list[Case]:
    """Offers of permessage-deflate a server must accept, adjust or decline (RFC 7692 §5, §7.1)."""
    out: list[Case] = []
    add = out.append
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
    return out


ACCEPTED = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"


def client_handshakes(frame: Callable[..., bytes], closed_ok: tuple) -> list[Case]:
    """Section 10 for a client under test: responses it must refuse (§4.1:
    "the client MUST _Fail the WebSocket Connection_") or accept."""
    out: list[Case] = []
    add = out.append

    def response(*lines: str) -> bytes:
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def refused(name: str, head: bytes) -> None:
        add(Case(name, [], [], handshake=head, bad_handshake=True))

    ok = ("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: {accept}")
    refused("10.1 403 with a body", b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nforbidden")
    refused("10.2 200 without an upgrade", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    refused("10.3 a 101 without Upgrade", response("HTTP/1.1 101 Switching Protocols", ok[1], ok[2]))
    refused("10.4 a 101 upgrading to h2c", response("HTTP/1.1 101 Switching Protocols", "Upgrade: h2c", ok[1], ok[2]))
    refused("10.5 a 101 without Connection: Upgrade", response("HTTP/1.1 101 Switching Protocols", ok[0], "Connection: keep-alive", ok[2]))
    refused("10.6 a 101 without Sec-WebSocket-Accept", response("HTTP/1.1 101 Switching Protocols", ok[0], ok[1]))
    wrong = base64.b64encode(hashlib.sha1(b"dGhlIHNhbXBsZSBub25jZQ==" + GUID).digest()).decode()
    refused("10.7 the accept of another key", response("HTTP/1.1 101 Switching Protocols", ok[0], ok[1], f"Sec-WebSocket-Accept: {wrong}"))
    refused("10.8 a subprotocol that was not offered", response("HTTP/1.1 101 Switching Protocols", *ok, "Sec-WebSocket-Protocol: chat"))
    refused("10.9 an extension that was not offered", response("HTTP/1.1 101 Switching Protocols", *ok, "Sec-WebSocket-Extensions: x-unknown"))
    # RFC 7692 §5: a response whose parameters the client cannot accept.
    refused("10.10 permessage-deflate with an unknown parameter", response("HTTP/1.1 101 Switching Protocols", *ok, "Sec-WebSocket-Extensions: permessage-deflate; foo=1"))
    refused("10.11 permessage-deflate twice", response("HTTP/1.1 101 Switching Protocols", *ok, "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate"))
    refused("10.12 server_max_window_bits=7", response("HTTP/1.1 101 Switching Protocols", *ok, "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7"))
    refused("10.13 server_no_context_takeover with a value", response("HTTP/1.1 101 Switching Protocols", *ok, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover=1"))
    add(Case(
        "10.14 tokens in comma lists, any case, other headers",
        [frame(TEXT, b"ok")],
        [("text", b"ok"), closed_ok],
        handshake=response("HTTP/1.1 101 OK", "Server: conformance", "upgrade: WebSocket", "CONNECTION: keep-alive, upgrade", "sec-websocket-accept: {accept}", "Set-Cookie: a=b"),
    ))
    add(Case(
        "10.15 header values with spaces around them",
        [frame(TEXT, b"ok")],
        [("text", b"ok"), closed_ok],
        handshake=response("HTTP/1.1 101 Switching Protocols", "Upgrade:   websocket ", "Connection:\tUpgrade", "Sec-WebSocket-Accept:  {accept} "),
    ))
    add(Case(
        "10.16 frames in the same write as the response",
        [],
        [("text", b"early"), ("binary", b"\x00\x01"), closed_ok],
        handshake=response("HTTP/1.1 101 Switching Protocols", *ok) + frame(TEXT, b"early") + frame(BINARY, b"\x00\x01"),
    ))
    return out


def client_negotiations(frame: Callable[..., bytes], closed_ok: tuple, same: bytes, prose: bytes) -> list[Case]:
    """Parameters of permessage-deflate a server may answer a client's
    offer with (RFC 7692 §7.1), which the client must then honour."""
    out: list[Case] = []
    add = out.append
    add(Case(
        "12.12 server_no_context_takeover (the server resets its window)",
        [("z", TEXT, same)] * 3,
        [("text", same)] * 3 + [closed_ok],
        deflate="permessage-deflate; server_no_context_takeover",
    ))
    # §7.1.1.2: a server may ask for it unoffered. Every echo is inflated
    # on its own, so one that refers to the message before it fails.
    add(Case(
        "12.13 client_no_context_takeover (the client must reset its window)",
        [("z", TEXT, same)] * 3,
        [("text", same)] * 3 + [closed_ok],
        deflate="permessage-deflate; client_no_context_takeover",
    ))
    add(Case(
        "12.14 server_max_window_bits=10",
        [("z", TEXT, prose[:65536])],
        [("text", prose[:65536]), closed_ok],
        deflate="permessage-deflate; server_max_window_bits=10",
    ))

    def window_10(offer: dict) -> tuple[str, bool]:
        # §7.1.2.2: only an offer with client_max_window_bits allows it in
        # the response; the echoes are then inflated with a 2^10 window.
        return "permessage-deflate; client_max_window_bits=10", "client_max_window_bits" not in offer

    add(Case(
        "12.15 client_max_window_bits=10 (refused unless offered)",
        [("z", TEXT, prose[:65536])],
        [("text", prose[:65536]), closed_ok],
        deflate_for=window_10,
    ))
    add(Case(
        "12.16 every parameter at once",
        [("z", BINARY, prose[:4096])] * 2 + [("z", TEXT, prose[:300], 3)],
        [("binary", prose[:4096])] * 2 + [("text", prose[:300]), closed_ok],
        deflate="permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9",
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
    """Compresses our messages as RFC 7692 §7.2.1 says, with the parameters
    agreed for our side (`sender`: "client" or "server")."""

    def __init__(self, agreed: dict, sender: str = "client"):
        bits = agreed.get(f"{sender}_max_window_bits")
        # zlib cannot write raw deflate with an 8-bit window; 9 is the least.
        self.wbits = max(int(bits), 9) if bits else 15
        self.reset = f"{sender}_no_context_takeover" in agreed
        self.masked = sender == "client"
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
            make_frame(op if i == 0 else CONT, body[cut[i] : cut[i + 1]], i == pieces - 1, 4 if i == 0 else 0, masked=self.masked)
            for i in range(pieces)
        )


# ---------------------------------------------------------------------------
# Running a case
# ---------------------------------------------------------------------------


class Reader(threading.Thread):
    """Reads the peer's frames as they come, so that nothing the peer sends
    before it closes is lost to a reset, and reassembles messages. `peer`
    is the role under test: a client's frames must be masked (§5.1), a
    server's must not."""

    def __init__(self, sock: socket.socket, buf: bytes, agreed: Optional[dict], peer: str = "server"):
        super().__init__(daemon=True)
        self.sock = sock
        self.buf = bytearray(buf)
        self.peer = peer
        self.events: queue.Queue = queue.Queue()
        # A server's messages go through one inflater for the connection: it
        # reads a stream whether or not the server keeps its window between
        # messages. A client's are held to what was agreed (RFC 7692
        # §7.1.1.2, §7.1.2.2): with client_no_context_takeover each message
        # is inflated on its own, and the window is the one allowed.
        self.wbits, self.fresh = 15, False
        if agreed is not None and peer == "client":
            self.wbits = int(agreed.get("client_max_window_bits") or 15)
            self.fresh = "client_no_context_takeover" in agreed
        self.inflater = zlib.decompressobj(-self.wbits) if agreed is not None else None

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
            masked = bool(b1 & 0x80)
            if masked != (self.peer == "client"):
                self.events.put(("bad", f"{'masked' if masked else 'unmasked'} {self.peer} frame"))
                break
            if n == 126:
                if not self.fill(4):
                    break
                n, at = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127:
                if not self.fill(10):
                    break
                n, at = int.from_bytes(self.buf[2:10], "big"), 10
            key = b""
            if masked:
                if not self.fill(at + 4):
                    break
                key, at = bytes(self.buf[at : at + 4]), at + 4
            if not self.fill(at + n):
                break
            payload = bytes(self.buf[at : at + n])
            del self.buf[: at + n]
            if masked:
                payload = mask(payload, key)
            fin, rsv, op = b0 & 0x80, b0 & 0x70, b0 & 0x0F
            if rsv and not (rsv == 0x40 and self.inflater and op in (TEXT, BINARY)):
                self.events.put(("bad", f"{self.peer} frame with RSV bits {rsv >> 4}"))
                break
            if op in (TEXT, BINARY, CONT):
                if (op == CONT) != (msg_op is not None):
                    self.events.put(("bad", f"{self.peer} fragments out of order"))
                    break
                if op != CONT:
                    msg_op, compressed = op, bool(rsv)
                parts.append(payload)
                if fin:
                    data = b"".join(parts)
                    if compressed and self.inflater is not None:
                        if self.fresh:
                            self.inflater = zlib.decompressobj(-self.wbits)
                        try:
                            data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
                        except zlib.error as e:
                            self.events.put(("bad", f"{self.peer} message does not inflate: {e}"))
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
                self.events.put(("bad", f"{self.peer} frame with opcode {op}"))
                break
        self.events.put(("eof",))


def read_head(sock: socket.socket) -> tuple[str, dict, bytes]:
    """An HTTP head: its first line, its headers (names in lower case,
    repeated ones joined with ", ") and the bytes after it."""
    buf = b""
    sock.settimeout(PATIENCE)
    while b"\r\n\r\n" not in buf:
        if len(buf) > 65536:
            raise ConnectionError(f"no end of the HTTP head in {len(buf)} bytes")
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"connection closed during the handshake after {buf!r}")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers: dict = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    sock.settimeout(None)
    return lines[0], headers, rest


def send(sock: socket.socket, data: bytes, chop: int | None) -> None:
    if not chop:
        sock.sendall(data)
        return
    for i in range(0, len(data), chop):
        sock.sendall(data[i : i + chop])


def converse(
    sock: socket.socket, reader: Reader, case: Case, deflater: Optional[Deflater], observed: list, problems: list[str]
) -> None:
    """Runs the steps of an opened case and its close handshake, noting
    what the peer (role `reader.peer`) sent in `observed` and what is wrong
    in `problems`. A server under test must close TCP when the handshake is
    done (§7.1.1); with a client under test, we are the server and do."""
    peer = reader.peer
    masked = peer == "server"
    got: list = []

    def take(timeout: float):
        ev = reader.events.get(timeout=timeout)
        got.append(ev)
        return ev

    peer_closed = False
    for i, step in enumerate(case.steps):
        if case.fail_before == i:
            # The failure must be reported before this step is sent.
            deadline = time.monotonic() + PATIENCE
            while not peer_closed and time.monotonic() < deadline:
                try:
                    ev = take(max(deadline - time.monotonic(), 0.001))
                except queue.Empty:
                    break
                peer_closed = ev[0] in ("close", "eof")
            if not peer_closed:
                problems.append(f"no close before step {i} was sent (no fail-fast)")
            break
        if isinstance(step, tuple) and step[0] == "pause":
            time.sleep(step[1])
            continue
        if isinstance(step, tuple):
            if deflater is None:
                break  # Reported by the caller: nothing was negotiated.
            step = deflater.frames(*step[1:])
        try:
            send(sock, step, case.chop)
        except OSError:
            break  # The peer gave up on us; what it said is in the reader.
    if not case.fails and not peer_closed:
        # First take the answers the peer owes, as Autobahn's suite does, so
        # a peer that stops answering once it has our close is not failed
        # for that; 7.11 and 7.12 check answers sent with the close.
        owed = sum(1 for e in case.expect if e[0] != "close")
        deadline = time.monotonic() + PATIENCE
        while sum(1 for e in got if e[0] in ("text", "binary", "pong")) < owed:
            try:
                ev = take(max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                break
            if ev[0] in ("close", "eof", "bad"):
                peer_closed = True
                break
    if not case.fails and not peer_closed:
        try:
            send(sock, make_close(1000, masked=masked), case.chop)
        except OSError:
            pass
    # Read to the peer's close and answer it; then a server closes TCP.
    sent_reply = not case.fails
    while True:
        try:
            ev = got.pop(0) if got else reader.events.get(timeout=PATIENCE)
        except queue.Empty:
            closed = any(o[0] == "close" for o in observed)
            problems.append(f"timed out waiting for the {peer}" + (" to close TCP" if closed else ""))
            break
        if ev[0] == "eof":
            break
        observed.append(ev)
        if ev[0] == "close":
            if not sent_reply:
                sent_reply = True
                try:
                    sock.sendall(make_close(ev[1], masked=masked))
                except OSError:
                    pass
            if peer == "client":
                break
    messages = [o[:2] for o in observed if o[0] != "status"]
    if messages != [tuple(e) for e in case.expect]:
        problems.append(f"received {summary(messages)}, expected {summary(case.expect)}")


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
        line, headers, rest = read_head(sock)
        status = int(line.split()[1])
        observed.append(("status", status))
        want = case.expect_status or 101
        if status not in (want if isinstance(want, tuple) else (want,)):
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
        reader = Reader(sock, rest, agreed)
        reader.start()
        converse(sock, reader, case, deflater, observed, problems)
    finally:
        sock.close()
    return observed, problems


# ---------------------------------------------------------------------------
# A client under test: we are its server
# ---------------------------------------------------------------------------


def tokens(value: str) -> set[str]:
    return {t.strip().lower() for t in value.split(",") if t.strip()}


def check_request(line: str, headers: dict, path: str, port: int, keys: set) -> list[str]:
    """What is wrong with a client's opening handshake (RFC 6455 §4.1)."""
    problems = []
    if line != f"GET {path} HTTP/1.1":
        problems.append(f"request line {line!r}, expected 'GET {path} HTTP/1.1'")
    if headers.get("host") != f"127.0.0.1:{port}":
        problems.append(f"Host {headers.get('host')!r}, expected '127.0.0.1:{port}'")
    if "websocket" not in tokens(headers.get("upgrade", "")):
        problems.append(f"Upgrade {headers.get('upgrade')!r}")
    if "upgrade" not in tokens(headers.get("connection", "")):
        problems.append(f"Connection {headers.get('connection')!r}")
    if headers.get("sec-websocket-version") != "13":
        problems.append(f"Sec-WebSocket-Version {headers.get('sec-websocket-version')!r}")
    key = headers.get("sec-websocket-key", "")
    try:
        nonce = base64.b64decode(key, validate=True)
    except ValueError:
        nonce = b""
    if len(nonce) != 16:
        problems.append(f"Sec-WebSocket-Key {key!r} is not 16 bytes in base64")
    elif key in keys:
        problems.append(f"Sec-WebSocket-Key {key!r} was used before (it must be random per connection)")
    keys.add(key)
    return problems


def deflate_offers(value: str) -> list[dict]:
    """Each offer of permessage-deflate in a request, as its parameters."""
    offers = []
    for ext in value.split(","):
        if ext.strip():
            agreed = parse_extensions(ext)
            if agreed is not None:
                offers.append(agreed)
    return offers


def accepting(response: str, offer: dict) -> str:
    """`response` with what a server must add to accept `offer` (RFC 7692
    §7.1.1.1, §7.1.2.1): server_no_context_takeover if it was offered, and
    server_max_window_bits, no larger than offered, if it was offered."""
    agreed = parse_extensions(response) or {}
    params = [p.strip() for p in response.split(";")[1:]]
    if "server_no_context_takeover" in offer and "server_no_context_takeover" not in agreed:
        params.append("server_no_context_takeover")
    if offer.get("server_max_window_bits"):
        bits = min(int(offer["server_max_window_bits"]), int(agreed.get("server_max_window_bits") or 15))
        params = [p for p in params if not p.startswith("server_max_window_bits")]
        params.append(f"server_max_window_bits={bits}")
    return "; ".join(["permessage-deflate", *params])


def serve_case(sock: socket.socket, case: Case, path: str, port: int, keys: set) -> tuple[list, list[str]]:
    """Runs one case as the server of the client connected on `sock`."""
    problems: list[str] = []
    observed: list = []
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        line, headers, rest = read_head(sock)
        problems += check_request(line, headers, path, port, keys)
        if rest:
            problems.append(f"sent {len(rest)} bytes before the response (§4.1: it must wait for it)")
        accept = base64.b64encode(hashlib.sha1(headers.get("sec-websocket-key", "").encode() + GUID).digest()).decode()
        offers = deflate_offers(headers.get("sec-websocket-extensions", ""))
        ext, bad = case.deflate, case.bad_handshake
        if case.deflate_for and offers:
            ext, bad = case.deflate_for(offers[0])
        if ext and offers:
            ext = accepting(ext, offers[0])
        if (ext or case.deflate_for) and not offers:
            problems.append("the client did not offer permessage-deflate")
            ext = None
        if case.handshake is not None:
            head = case.handshake.replace(b"{accept}", accept.encode())
        else:
            extension = f"Sec-WebSocket-Extensions: {ext}\r\n" if ext else ""
            head = (ACCEPTED.format(accept=accept) + extension + "\r\n").encode()
        observed.append(("status", int(head.split()[1])))
        send(sock, head, case.chop)
        if bad:
            # The client must close TCP and send nothing (§4.1).
            sock.settimeout(PATIENCE)
            extra = b""
            try:
                while data := sock.recv(65536):
                    extra += data
            except TimeoutError:
                problems.append("did not close TCP after a response it must refuse")
            except OSError:
                pass
            if extra:
                problems.append(f"sent {len(extra)} bytes after a response it must refuse: {extra[:16]!r}")
            return observed, problems
        agreed = parse_extensions(ext) if ext else None
        deflater = Deflater(agreed, sender="server") if agreed is not None else None
        reader = Reader(sock, b"", agreed, peer="client")
        reader.start()
        converse(sock, reader, case, deflater, observed, problems)
    finally:
        # Shut down first: close() alone sends no FIN while the reader
        # thread is still in recv() on the socket.
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
    return observed, problems


def accept_client(listener: socket.socket, proc: subprocess.Popen, patience: float) -> Optional[socket.socket]:
    """The client's next connection, or None if it exits or takes too long."""
    deadline = time.monotonic() + patience
    listener.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            return listener.accept()[0]
        except TimeoutError:
            if proc.poll() is not None:
                return None
    return None


def test_client(command: list[str], name: str, only: Optional[str]) -> int:
    """Runs the client cases against an echo client started as `command`
    (PORT in it replaced by ours). Like the Autobahn test suite's fuzzing
    server, it first asks for /getCaseCount (one text message holding N),
    then connects to /runCase?case=1 to N in turn, echoing each message."""
    todo = [c for c in cases("client") if not only or only in c.name]
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([a.replace("PORT", str(port)) for a in command], stdout=log, stderr=subprocess.STDOUT)
    keys: set = set()
    failed = 0
    start = time.monotonic()

    def report(what: str, observed: list, problems: list[str]) -> None:
        nonlocal failed
        if problems:
            failed += 1
            print(f"FAIL {name}: {what}")
            for p in problems:
                print(f"     {p}")
            print(f"     observed {summary(observed)}")

    count = Case("0 case count", [make_frame(TEXT, str(len(todo)).encode(), masked=False)], [("close", 1000)])
    # (name, path, case) per connection the client must make, in order.
    plan = [(count.name, "/getCaseCount", count)]
    plan += [(case.name, f"/runCase?case={i}", case) for i, case in enumerate(todo, 1)]
    try:
        for n, (what, path, case) in enumerate(plan):
            sock = accept_client(listener, proc, 30 if n == 0 else 2 * PATIENCE)
            if sock is None:
                print(f"FAIL {name}: the client did not connect for {path} ({what}) or later")
                failed += len(plan) - n
                break
            try:
                observed, problems = serve_case(sock, case, path, port, keys)
            except OSError as e:
                observed, problems = [("error", str(e))], [f"{type(e).__name__}: {e}"]
            report(what, observed, problems)
        try:
            status = proc.wait(timeout=2 * PATIENCE)
        except subprocess.TimeoutExpired:
            status = None
        if status != 0:
            failed += 1
            print(f"FAIL {name}: the client " + ("did not exit" if status is None else f"exited with status {status}"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        listener.close()
    if failed:
        log.seek(0)
        tail = log.read().decode(errors="replace").splitlines()[-20:]
        print(f"--- {name}'s output (last lines):", *tail, sep="\n")
    took = time.monotonic() - start
    print(f"{name}: {len(todo) - min(failed, len(todo))} of {len(todo)} client conformance cases passed ({took:.1f} s)")
    return 1 if failed else 0


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
    ap.add_argument("port", type=int, nargs="?", help="the echo server's port")
    ap.add_argument("--client", nargs=argparse.REMAINDER, metavar="COMMAND",
                    help="test an echo client instead: the command that starts it, with PORT for our port")
    ap.add_argument("--name", default=None)
    ap.add_argument("-k", help="run only cases whose name contains this")
    args = ap.parse_args()
    if args.client:
        return test_client(args.client, args.name or "client", args.k)
    if args.port is None:
        ap.error("give the echo server's port, or --client COMMAND")
    name = args.name or "server"
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
            print(f"FAIL {name}: {case.name}")
            for p in problems:
                print(f"     {p}")
            print(f"     observed {summary(observed)}")
    took = time.monotonic() - start
    print(f"{name}: {len(todo) - failed} of {len(todo)} conformance cases passed ({took:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
