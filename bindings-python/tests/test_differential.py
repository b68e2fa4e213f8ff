"""Differential tests: random frame streams, good and broken, fed to
wsproto_rs and to python-hyper wsproto in the same pieces.

Hand-written cases pin each rule; these look for what nobody thought to
write down. Every stream mixes whole and fragmented messages, control
frames between fragments, close frames with any code (valid or not), and in
most streams one defect from the list below, followed by more frames. Both
libraries get the same pieces, answer every ping and close with
``event.response()``, and must agree on every event, every answer's bytes,
every error and every state, step by step.

Allowed to differ: the reason of a close that reports a protocol failure
(wsproto_rs words some of them its own way; the code must match), and, with
small reads, a failure the core finds a read or two earlier (never later;
see the test). A failing seed prints the stream, so it can become a fixed
case.
"""

from __future__ import annotations

import os
import random
import struct
from typing import Any, List, Optional, Tuple

import pytest

from conftest import REF, RS, Lib, shape, unmask

# Streams per run; raise it to search further (WSPROTO_DIFF_SEEDS=20000).
SEEDS = int(os.environ.get("WSPROTO_DIFF_SEEDS", "600"))

TEXT = "aZ é߿ࠀ€\uffff😎\U0010ffff"
# 1014 (Bad Gateway, registered after RFC 6455) is left out: the core
# accepts it, as the issue asks, and wsproto does not (test_messages pins it).
CLOSE_CODES = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 3999, 4000, 4999,
    0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
]
DEFECTS = [
    "reserved_opcode", "rsv_bit", "wrong_masking", "bad_utf8", "bad_utf8_split", "long_control",
    "fragmented_control", "lone_continuation", "nested_message", "short_close", "bad_close_reason",
    "non_minimal_16", "non_minimal_64", "huge_length",
]


class Stream:
    """Frames a client (``masked``) or a server would send, built by hand."""

    def __init__(self, rng: random.Random, masked: bool) -> None:
        self.rng = rng
        self.masked = masked
        self.data = bytearray()

    def frame(self, opcode: int, payload: bytes, fin: bool = True, rsv: int = 0,
              masked: Optional[bool] = None, length_form: Optional[int] = None) -> None:
        masked = self.masked if masked is None else masked
        n = len(payload)
        form = length_form if length_form is not None else (0 if n < 126 else 126 if n < 65536 else 127)
        self.data.append((0x80 if fin else 0) | rsv << 4 | opcode)
        bit = 0x80 if masked else 0
        if form == 0:
            self.data.append(bit | n)
        elif form == 126:
            self.data.append(bit | 126)
            self.data += struct.pack("!H", n)
        else:
            self.data.append(bit | 127)
            self.data += struct.pack("!Q", n)
        if masked:
            key = bytes(self.rng.randrange(256) for _ in range(4))
            self.data += key
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        self.data += payload

    def text(self, size: int) -> bytes:
        return "".join(self.rng.choice(TEXT) for _ in range(size)).encode()

    def size(self) -> int:
        roll = self.rng.random()
        if roll < 0.7:
            return self.rng.randrange(0, 40)
        if roll < 0.97:
            return self.rng.randrange(100, 400)
        return self.rng.randrange(65530, 65700)

    def control(self) -> None:
        opcode = self.rng.choice([0x9, 0xA])
        self.frame(opcode, bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(0, 126))))

    def message(self) -> None:
        """A text or binary message in 1-4 frames, maybe with control frames between them."""
        binary = self.rng.random() < 0.4
        payload = bytes(self.rng.randrange(256) for _ in range(self.size())) if binary else self.text(self.size())
        pieces = self.rng.randrange(1, 5)
        cuts = sorted(self.rng.randrange(0, len(payload) + 1) for _ in range(pieces - 1))
        parts = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)])]
        for i, part in enumerate(parts):
            self.frame(0x0 if i else (0x2 if binary else 0x1), part, fin=i == len(parts) - 1)
            if i < len(parts) - 1 and self.rng.random() < 0.3:
                self.control()

    def close(self) -> None:
        roll = self.rng.random()
        if roll < 0.15:
            self.frame(0x8, b"")
            return
        code = self.rng.choice(CLOSE_CODES)
        reason = self.text(self.rng.randrange(0, 20))[:123]
        while True:  # cut at a code point boundary so the reason stays valid
            try:
                reason.decode()
                break
            except UnicodeDecodeError:
                reason = reason[:-1]
        self.frame(0x8, struct.pack("!H", code) + reason)

    def defect(self, kind: str) -> None:
        rng = self.rng
        if kind == "reserved_opcode":
            self.frame(rng.choice([3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF]), b"x" * rng.randrange(0, 5))
        elif kind == "rsv_bit":
            self.frame(rng.choice([0x1, 0x2, 0x9]), b"rsv", rsv=rng.choice([1, 2, 4, 3, 7]))
        elif kind == "wrong_masking":
            self.frame(rng.choice([0x1, 0x2, 0x9]), b"mask", masked=not self.masked)
        elif kind == "bad_utf8":
            good = self.text(rng.randrange(0, 30))
            bad = rng.choice([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x28\xa1", b"\x80"])
            self.frame(0x1, good + bad + self.text(rng.randrange(0, 5)))
        elif kind == "bad_utf8_split":
            self.frame(0x1, self.text(rng.randrange(0, 10)) + b"\xe2\x82", fin=False)
            if rng.random() < 0.5:
                self.control()
            self.frame(0x0, b"\x28" + self.text(3))
        elif kind == "long_control":
            self.frame(rng.choice([0x8, 0x9, 0xA]), b"\x03\xe8" + b"c" * rng.randrange(124, 200))
        elif kind == "fragmented_control":
            self.frame(rng.choice([0x8, 0x9, 0xA]), b"\x03\xe8", fin=False)
        elif kind == "lone_continuation":
            self.frame(0x0, b"cont", fin=rng.random() < 0.5)
        elif kind == "nested_message":
            self.frame(0x2, b"first", fin=False)
            self.frame(rng.choice([0x1, 0x2]), b"second")
        elif kind == "short_close":
            self.frame(0x8, b"\x03")
        elif kind == "bad_close_reason":
            self.frame(0x8, b"\x03\xe8" + rng.choice([b"\xff", b"ok\xc3", b"\xed\xbf\xbf"]))
        elif kind == "non_minimal_16":
            self.frame(0x2, b"q" * rng.randrange(0, 126), length_form=126)
        elif kind == "non_minimal_64":
            self.frame(0x2, b"q" * rng.randrange(0, 300), length_form=127)
        elif kind == "huge_length":
            self.data += bytes([0x82, (0x80 if self.masked else 0) | 127]) + struct.pack("!Q", 1 << 63 | rng.randrange(1 << 20))
            if self.masked:
                self.data += b"\x00\x00\x00\x00"
        else:  # pragma: no cover - the list above is the whole set
            raise AssertionError(kind)


def build(seed: int) -> Tuple[bytes, bool, Optional[str], List[int], bool]:
    """A stream, who sends it, its defect, the read boundaries, and whether the transport ends."""
    rng = random.Random(seed)
    client_sends = rng.random() < 0.6
    stream = Stream(rng, masked=client_sends)
    defect = rng.choice(DEFECTS) if rng.random() < 0.75 else None
    count = rng.randrange(1, 10)
    at = rng.randrange(0, count + 1)
    for i in range(count + 1):
        if i == at and defect:
            stream.defect(defect)
        if i < count:
            roll = rng.random()
            if roll < 0.7:
                stream.message()
            elif roll < 0.85:
                stream.control()
            else:
                stream.close()
    data = bytes(stream.data)
    style = rng.random()
    if style < 0.1 and len(data) < 20_000:
        cuts = list(range(1, len(data)))
    elif style < 0.2:
        cuts = []
    else:
        cuts = sorted(set(rng.randrange(1, max(2, len(data))) for _ in range(rng.randrange(1, 30))))
    return data, client_sends, defect, cuts, rng.random() < 0.5


def frames_of(data: bytes, masked: bool) -> List[bytes]:
    """``data`` cut into frames, client masks removed, so the two libraries'
    answers compare."""
    if not masked:
        return [data]
    out, at = [], 0
    while at < len(data):
        length = data[at + 1] & 0x7F
        head = 2 + {126: 2, 127: 8}.get(length, 0)
        n = length if length < 126 else int.from_bytes(data[at + 2 : at + head], "big")
        out.append(unmask(data[at : at + head + 4 + n]))
        at += head + 4 + n
    return out


def run(lib: Lib, data: bytes, client_sends: bool, cuts: List[int], end: bool) -> List[Any]:
    """Everything ``lib`` does with the stream, as a list of comparable steps."""
    role = lib.conn.SERVER if client_sends else lib.conn.CLIENT
    conn = lib.conn.Connection(role)
    log: List[Any] = []

    def attempt(what: str, call: Any) -> Any:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - the type and text are what is compared
            log.append((what, "raised", type(exc).__name__, str(exc)))
            return None

    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    for piece in [*pieces, *([None] if end else [])]:
        attempt("receive", lambda: conn.receive_data(piece))
        try:
            # Answered while iterating, as wsproto programs do: the state
            # moves as each event is taken, not when the bytes are decoded.
            for event in conn.events():
                log.append(shape(event))
                if isinstance(event, (lib.events.Ping, lib.events.CloseConnection)):
                    sent = attempt("respond", lambda: conn.send(event.response()))
                    if sent is not None:
                        log.append(("sent", frames_of(sent, masked=not client_sends)))
        except Exception as exc:  # noqa: BLE001
            log.append(("events", "raised", type(exc).__name__, str(exc)))
        log.append(("state", conn.state.name))
    return log


def comparable(log: List[Any], protocol_failure: bool) -> List[Any]:
    """The log with the wording of failure closes left out (codes stay)."""
    out = []
    for step in log:
        if protocol_failure and step[0] == "CloseConnection" and step[1] in (1002, 1007, 1009):
            step = step[:2]
        if protocol_failure and step[0] == "sent":
            step = ("sent", [f[:1] + f[2:4] if f[0] == 0x88 else f for f in step[1]])
        out.append(step)
    return out


def without_read_marks(log: List[Any]) -> List[Any]:
    """The log without the steps that only mark reads."""
    empty = ("TextMessage", "", False), ("BytesMessage", b"", False)
    return [s for s in log if s[0] != "state" and s[:3] not in empty]


def split_at_failure(log: List[Any]) -> Tuple[List[Any], Any, List[Any]]:
    """The log before its first protocol-failure close, that close, and the rest."""
    for i, step in enumerate(log):
        if step[0] == "CloseConnection" and step[1] in (1002, 1007, 1009):
            return log[:i], step, log[i + 1 :]
    return log, None, []


def reads_before_failure(log: List[Any]) -> int:
    """How many reads a log shows before its first protocol-failure close."""
    reads = 0
    for step in log:
        if step[0] == "CloseConnection" and step[1] in (1002, 1007, 1009):
            return reads
        reads += step[0] == "state"
    return reads


@pytest.mark.parametrize("seed", range(SEEDS))
def test_random_streams_behave_like_wsproto(seed: int) -> None:
    data, client_sends, defect, cuts, end = build(seed)
    ours = run(RS, data, client_sends, cuts, end)
    theirs = run(REF, data, client_sends, cuts, end)
    # A close code the peer may not send is a failure too, worded by each library.
    failure = defect is not None or any(s[0] == "CloseConnection" and s[1] == 1002 for s in theirs)
    ours, theirs = comparable(ours, failure), comparable(theirs, failure)
    if failure and ours != theirs:
        # The core may find a failure a read or two earlier than wsproto
        # with small reads: it checks the order of fragments from the header
        # (wsproto once a payload byte is in), and refuses a UTF-8 prefix
        # that no continuation can mend (ED A0 starts a surrogate) where
        # CPython's decoder waits for the next byte; and the text of a read
        # that fails is not delivered in part. Never later: the reads before
        # the core's failure must match, then the failure, then the rest
        # (but for the marks of the reads in between).
        before, failed, after = split_at_failure(ours)
        their_before, their_failed, their_after = split_at_failure(theirs)
        done = before[: max((i + 1 for i, s in enumerate(before) if s[0] == "state"), default=0)]
        assert failed is not None and failed == their_failed, (failed, their_failed)
        assert their_before[: len(done)] == done
        assert reads_before_failure(ours) <= reads_before_failure(theirs)
        ours, theirs = without_read_marks(after), without_read_marks(their_after)
    assert ours == theirs, (
        f"seed {seed}: {'client' if client_sends else 'server'} sends {len(data)} bytes {data[:64].hex()}... "
        f"cut at {cuts[:20]} ({len(cuts)} cuts), defect {defect}, end {end}"
    )


DEFLATE_PARAMS = [
    {},
    {"client_no_context_takeover": True, "server_no_context_takeover": True},
    {"client_max_window_bits": 9, "server_max_window_bits": 10},
    {"server_no_context_takeover": True, "client_max_window_bits": 12},
]
DEFLATE_DEFECTS = ["rsv1_on_continuation", "rsv1_on_control", "corrupt_data", "uncompressed_garbage_text"]


def negotiated(lib: Lib, params: Any, receiver_is_server: bool) -> Tuple[Any, Any]:
    """permessage-deflate as negotiated for a wsproto sender and a ``lib`` receiver."""
    if receiver_is_server:
        offer = REF.ext.PerMessageDeflate(**params).offer()
        ours = lib.ext.PerMessageDeflate(**params)
        answer = ours.accept(offer)
        sender = REF.ext.PerMessageDeflate(**params)
        sender.offer()
        sender.finalize(answer)
    else:
        client = lib.ext.PerMessageDeflate(**params)
        offer = client.offer()
        sender = REF.ext.PerMessageDeflate(**params)
        answer = sender.accept(offer)
        ours = client
        ours.finalize(answer)
    return sender, ours


def build_deflate(seed: int) -> Tuple[List[bytes], bool, Any, Optional[str]]:
    """Reads of a compressed stream wsproto sends, maybe with one defect."""
    rng = random.Random(seed)
    client_sends = rng.random() < 0.5
    params = rng.choice(DEFLATE_PARAMS)
    sender_ext, _ = negotiated(REF, params, client_sends)
    sender = REF.conn.Connection(REF.conn.CLIENT if client_sends else REF.conn.SERVER, extensions=[sender_ext])
    hand = Stream(rng, masked=client_sends)
    defect = rng.choice(DEFLATE_DEFECTS) if rng.random() < 0.6 else None
    at = rng.randrange(0, 6)
    wire = bytearray()
    for i in range(6):
        if i == at and defect:
            hand.data.clear()
            if defect == "rsv1_on_continuation":
                hand.frame(0x2, b"", fin=False, rsv=4)  # as wsproto starts a compressed fragment
                hand.frame(0x0, b"\x00", fin=True, rsv=4)
            elif defect == "rsv1_on_control":
                hand.frame(0x9, b"ping", rsv=4)
            elif defect == "corrupt_data":
                # Reserved block types and a stored block whose length check
                # fails: bad in every inflater. (Random bytes can make a valid
                # stream that ends (BFINAL) in the appended tail; wsproto then
                # fails the next message, which it should not, see
                # core/tests/deflate.rs final_block_ending_in_the_appended_tail.)
                junk = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
                bad = rng.choice([b"\xff" + junk, b"\x06" + junk, b"\x00\x05\x00\x00\x00hello"])
                hand.frame(rng.choice([0x1, 0x2]), bad, rsv=4)
            else:
                hand.frame(0x1, b"\xff plain text that is not UTF-8")
            wire += hand.data
        kind = rng.random()
        if kind < 0.6:
            text = rng.random() < 0.5
            cls = REF.events.TextMessage if text else REF.events.BytesMessage
            pieces = rng.randrange(1, 4)
            for p in range(pieces):
                size = rng.choice([0, 1, 20, 300, 3000])
                data: Any = hand.text(size).decode() if text else bytes(rng.randrange(4) for _ in range(size))
                wire += sender.send(cls(data=data, message_finished=p == pieces - 1))
        elif kind < 0.8:
            wire += sender.send(REF.events.Ping(payload=bytes(rng.randrange(256) for _ in range(rng.randrange(0, 30)))))
        else:
            wire += sender.send(REF.events.Pong(payload=b"pong"))
    data = bytes(wire)
    cuts = sorted(set(rng.randrange(1, max(2, len(data))) for _ in range(rng.randrange(0, 25))))
    pieces_out = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    return pieces_out, client_sends, params, defect


def run_deflate(lib: Lib, pieces: List[bytes], client_sends: bool, params: Any) -> List[Any]:
    _, ext = negotiated(lib, params, client_sends)
    conn = lib.conn.Connection(lib.conn.SERVER if client_sends else lib.conn.CLIENT, extensions=[ext])
    log: List[Any] = []
    for piece in pieces:
        conn.receive_data(piece)
        for event in conn.events():
            log.append(shape(event))
        log.append(("state", conn.state.name))
    return log


@pytest.mark.parametrize("seed", range(SEEDS // 3))
def test_random_compressed_streams_behave_like_wsproto(seed: int) -> None:
    pieces, client_sends, params, defect = build_deflate(seed)
    ours = comparable(run_deflate(RS, pieces, client_sends, params), defect is not None)
    theirs = comparable(run_deflate(REF, pieces, client_sends, params), defect is not None)
    assert ours == theirs, f"seed {seed}: {'client' if client_sends else 'server'} sends, {params}, defect {defect}"
