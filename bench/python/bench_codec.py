"""Decode/encode throughput: wsproto_rs vs wsproto vs websockets (sans-IO), with a floor.

Each case feeds the same byte stream (N messages of one size, cut into
64 KiB reads, as a socket would deliver them) to each library's sans-IO
connection and counts the messages that come out; encoding sends N
messages and takes the bytes to write after each. Masked means
client-to-server frames (decoded by a server, encoded by a client),
unmasked the other way. Text is ASCII ("text") or a mix of ASCII with 2-,
3- and 4-byte UTF-8 sequences ("mixed", about a third of the bytes).

What each library is charged, and why that is the same work:

* wsproto_rs / wsproto: ``Connection.receive_data`` + ``events()``;
  ``Connection.send(event)``. Their API hands the application a ``str``
  (text) or ``bytes`` per piece of a message as it arrives, and ``send``
  returns one ``bytes`` to write. Nothing else is needed.
* websockets: the sans-IO ``websockets.protocol.Protocol`` (the base of
  ``ServerProtocol``/``ClientProtocol``, opened directly), plus exactly what
  its own asyncio connection does to turn a frame into the message an
  application receives, and to send the message an application has. Its
  sans-IO layer hands out a text frame as undecoded, unvalidated bytes (a
  ``bytearray`` when unmasked); its connection layer makes it a message
  with ``b"".join(frame.data ...)`` (a copy for a ``bytearray``) and
  ``.decode()`` for text (``messages.Assembler.get``). For sending it
  takes the application's ``str`` and calls
  ``protocol.send_text(message.encode())`` (``Connection.send``), then
  writes ``protocol.data_to_send()`` after each message (``send_data``).
  The "websockets" column charges exactly that; "websockets raw" is the
  sans-IO layer alone (frames as they come out, bytes given for text),
  which does less than the other libraries (no UTF-8 check, no ``str``).
  Earlier versions of this script measured only the raw layer, and drained
  its output once after all N messages (holding N frames in memory, which
  cost websockets fresh page faults on large messages); both are fixed.
* floor: the least any implementation of wsproto's API must do per
  message, measured in the same run: building the payload objects from the
  input, with CPython's own C code driven by C-level iterators. Decoding:
  one ``bytes`` copy per piece of a message (a piece that is a whole
  unmasked read needs none: that ``bytes`` object can be handed on as it
  is), and for text CPython's ``str`` built from the bytes (masked text:
  the unmasking copy first, since CPython's decoder cannot unmask).
  Encoding: one copy of the payload (for text, ``str.encode()``: a copy for
  ASCII, CPython's UTF-8 encoder for mixed text). Masking is taken to cost
  nothing on top of a copy (a fused unmasking copy runs at copy speed), and
  the floor pays no per-message protocol or event costs, so it is a lower
  bound: "floor × websockets" is the most any implementation could be
  faster than websockets in that row.
* Each library gets the leanest driver its API allows: events and sent
  bytes are drained by C-level consumers where the API allows it; counts
  are verified once, untimed. Mixed text is sent as a new ``str`` per
  message (built untimed), as an application builds one: CPython caches a
  ``str``'s UTF-8 form once asked for it, so re-sending one object would
  hide the encoding cost; each is dropped once sent, as an application
  drops a message it sent.

Usage: python bench/python/bench_codec.py [--quick] [--out RESULTS.md]
       [--ops decode,encode] [--kinds text,mixed,binary] [--sizes 65536,...]
"""

from __future__ import annotations

import argparse
import codecs
import os
import platform
import sys
import time
from collections import deque
from itertools import repeat
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import websockets
import wsproto
import wsproto.connection as wp_conn
import wsproto.events as wp_events
from websockets.frames import Opcode
from websockets.protocol import Protocol, Side, State

import wsproto_rs
import wsproto_rs.connection as rs_conn
import wsproto_rs.events as rs_events

SIZES = [16, 125, 1024, 64 * 1024, 1024 * 1024]
KINDS = ("text", "mixed", "binary")
READ = 64 * 1024
MIXED = "ascii text, é, ü, €, 世界, 😀 and more ascii; "

# A case is prepared (untimed) before each timed run: prepare() returns the
# argument of run(arg). check() runs once, untimed, and returns the count.
Case = Tuple[Callable[[], Any], Callable[[Any], None], Callable[[], int]]


def label(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MiB"
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} B"


def count_for(size: int, quick: bool) -> int:
    budget = (2 if quick else 16) * 1024 * 1024
    return max(8 if quick else 32, min(20000 if not quick else 5000, budget // size))


def payload(size: int, kind: str):
    """`size` bytes of payload: a str for text kinds (its UTF-8 is `size` bytes)."""
    if kind == "mixed":
        unit = MIXED.encode()
        raw = (unit * (size // len(unit) + 1))[:size]
        # Cut at a code point boundary and pad with ASCII to the size.
        text = raw.decode("utf-8", "ignore")
        return text + "x" * (size - len(text.encode()))
    data = ("abcdefghijklmnopqrstuvwxyz012345" * (size // 32 + 1))[:size]
    return data if kind == "text" else data.encode()


def fresh(s: str) -> str:
    """An equal str that is a new object (so no UTF-8 form is cached in it)."""
    return (s + ".")[:-1]


def make_stream(size: int, n: int, kind: str, masked: bool) -> Tuple[bytes, List[int]]:
    """The wire bytes of n messages, and where each message's payload starts."""
    sender = rs_conn.Connection(rs_conn.CLIENT if masked else rs_conn.SERVER)
    data = payload(size, kind)
    ev = rs_events.BytesMessage(data=data) if kind == "binary" else rs_events.TextMessage(data=data)
    # Distinct mask keys per frame, like a real client.
    frames = [sender.send(ev) for _ in range(n)] if masked else [sender.send(ev)] * n
    starts, pos = [], 0
    for f in frames:
        pos += len(f)
        starts.append(pos - size)
    return b"".join(frames), starts


def chunks(stream: bytes) -> List[bytes]:
    return [stream[i : i + READ] for i in range(0, len(stream), READ)]


def time_once(fn: Callable[[Any], None], arg: Any) -> float:
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0


def no_prep() -> None:
    return None


# ---- decoders -------------------------------------------------------------
# The timed loops do nothing per message but what the library needs: events
# are drained by a C-level consumer (deque with maxlen 0).


def decode_wsproto_like(mod_conn, parts: List[bytes], masked: bool) -> Case:
    role = mod_conn.SERVER if masked else mod_conn.CLIENT

    def run(_: Any) -> None:
        conn = mod_conn.Connection(role)
        receive, events = conn.receive_data, conn.events
        for part in parts:
            receive(part)
            deque(events(), 0)

    def check() -> int:
        conn = mod_conn.Connection(role)
        got = 0
        for part in parts:
            conn.receive_data(part)
            got += sum(1 for ev in conn.events() if ev.message_finished)
        return got

    return no_prep, run, check


def deliver(frame, join=b"".join, text=Opcode.TEXT):
    """What websockets' asyncio connection does to hand a one-frame message
    to the application (``messages.Assembler.get``)."""
    data = join([frame.data])
    return data.decode() if frame.opcode is text else data


def decode_websockets(parts: List[bytes], masked: bool, app: bool) -> Case:
    side = Side.SERVER if masked else Side.CLIENT

    def run(_: Any) -> None:
        proto = Protocol(side, state=State.OPEN, max_size=None)
        receive, events = proto.receive_data, proto.events_received
        for part in parts:
            receive(part)
            if app:
                deque(map(deliver, events()), 0)
            else:
                events()

    def check() -> int:
        proto = Protocol(side, state=State.OPEN, max_size=None)
        got = 0
        for part in parts:
            proto.receive_data(part)
            frames = proto.events_received()
            got += sum(1 for f in frames if f.fin)
            for f in frames:
                msg = deliver(f)
                assert isinstance(msg, str if f.opcode is Opcode.TEXT else bytes)
        return got

    return no_prep, run, check


def floor_pieces(parts: List[bytes], starts: List[int], size: int, kind: str, masked: bool, plain: bytes):
    """The payload objects wsproto's API hands out, built with no protocol
    work: one per piece of a message (a read cuts a message into pieces).
    Binary pieces are copied from the reads themselves (a piece that is a
    whole unmasked read is handed on as it is: nothing to do); text pieces
    are decoded from the plain payload bytes (``plain``: the payloads
    unmasked, back to back), with cuts moved to code point boundaries."""
    views: List[memoryview] = []
    for m, start in enumerate(starts):
        cuts = [start] + [r for r in range((start // READ + 1) * READ, start + size, READ)] + [start + size]
        if kind == "binary":
            for a, b in zip(cuts, cuts[1:]):
                if b <= a:
                    continue
                k = a // READ
                if not masked and a == k * READ and b - a == len(parts[k]):
                    continue
                views.append(memoryview(parts[k])[a - k * READ : b - k * READ])
        else:
            base = m * size
            offs = [c - start for c in cuts]
            for i in range(1, len(offs) - 1):
                while offs[i] > 0 and plain[base + offs[i]] & 0xC0 == 0x80:
                    offs[i] -= 1
            views.extend(memoryview(plain)[base + a : base + b] for a, b in zip(offs, offs[1:]) if b > a)
    return views


def decode_floor(parts: List[bytes], starts: List[int], size: int, kind: str, masked: bool) -> Case:
    plain = payload(size, kind)
    plain = (plain.encode() if isinstance(plain, str) else plain) * len(starts)
    views = floor_pieces(parts, starts, size, kind, masked, plain)

    if kind == "binary":

        def run(_: Any) -> None:
            deque(map(bytes, views), 0)

    elif masked:

        def run(_: Any) -> None:
            deque(map(str, map(bytes, views), repeat("utf-8")), 0)

    else:

        def run(_: Any) -> None:
            deque(map(str, views, repeat("utf-8")), 0)

    def check() -> int:
        if kind != "binary":
            joined = "".join(str(v, "utf-8") for v in views)
            assert joined == payload(size, kind) * len(starts)
        return len(starts)

    return no_prep, run, check


# ---- encoders -------------------------------------------------------------


def messages(size: int, kind: str, n: int) -> Callable[[], List[Any]]:
    """n payloads to send: for mixed text new str objects each time."""
    data = payload(size, kind)
    if kind == "mixed":
        return lambda: [fresh(data) for _ in range(n)]
    return lambda: [data] * n


def consumed(items: List[Any], kind: str) -> Any:
    """`items` one by one. Mixed text: each new str dropped once sent (as an
    application drops a message it sent, and with it the UTF-8 form CPython
    may have cached in it), by a C-level iterator over a deque emptied as it
    goes; otherwise (the same object n times) a plain iterator, which costs
    less per item."""
    if kind != "mixed":
        return iter(items)
    queue = deque(items)
    items.clear()
    queue.append(None)
    return iter(queue.popleft, None)


def encode_wsproto_like(mod_conn, mod_events, size: int, n: int, kind: str, masked: bool) -> Case:
    role = mod_conn.CLIENT if masked else mod_conn.SERVER
    make = messages(size, kind, n)
    cls = mod_events.BytesMessage if kind == "binary" else mod_events.TextMessage

    def prepare() -> List[Any]:
        items = make()
        if kind == "mixed":
            return [cls(data=d) for d in items]
        return [cls(data=items[0])] * n

    def run(evs: List[Any]) -> None:
        conn = mod_conn.Connection(role)
        deque(map(conn.send, consumed(evs, kind)), 0)

    def check() -> int:
        conn = mod_conn.Connection(role)
        return sum(1 for out in map(conn.send, prepare()) if len(out) > size)

    return prepare, run, check


def encode_websockets(size: int, n: int, kind: str, masked: bool, app: bool) -> Case:
    """``app``: the application's str, encoded as websockets' ``send`` does;
    otherwise bytes given to the sans-IO call. Output taken per message."""
    side = Side.CLIENT if masked else Side.SERVER
    make = messages(size, kind, n)
    text = kind != "binary"

    def prepare() -> List[Any]:
        items = make()
        if app or not text:
            return items
        return [s.encode() for s in items] if kind == "mixed" else [items[0].encode()] * n

    def run(items: List[Any]) -> None:
        proto = Protocol(side, state=State.OPEN, max_size=None)
        send, drain = (proto.send_text if text else proto.send_binary), proto.data_to_send
        if app and text:
            for s in consumed(items, kind):
                send(s.encode())
                drain()
        else:
            for d in consumed(items, kind):
                send(d)
                drain()

    def check() -> int:
        proto = Protocol(side, state=State.OPEN, max_size=None)
        send = proto.send_text if text else proto.send_binary
        got = 0
        for d in prepare():
            send(d.encode() if isinstance(d, str) else d)
            got += sum(len(c) for c in proto.data_to_send()) > size
        return got

    return prepare, run, check


def encode_floor(size: int, n: int, kind: str) -> Case:
    make = messages(size, kind, n)
    if kind == "binary":
        data = memoryview(payload(size, kind))

        def run(_: Any) -> None:
            deque(map(bytes, repeat(data, n)), 0)

        return no_prep, run, lambda: n

    def run_text(items: List[str]) -> None:
        deque(map(str.encode, consumed(items, kind)), 0)

    return make, run_text, lambda: n


# ---- the report -----------------------------------------------------------

HEAD = (
    "| op | kind | masked | size | wsproto_rs msgs/s | wsproto_rs MB/s | wsproto msgs/s | websockets msgs/s "
    "| websockets raw msgs/s | floor msgs/s | × wsproto | × websockets | × websockets raw | floor × websockets "
    "| wsproto_rs / floor |"
)
COLS = HEAD.count("|") - 1
SEP = "|" + "---|" * COLS


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}×"


def targets(rows: List[Dict[str, Any]]) -> str:
    """The project's targets against this run, and what the floor allows."""
    small, large = (16, 125), (64 * 1024, 1024 * 1024)

    def pick(sizes: Sequence[int], op: str, key: str, kinds: Sequence[str] = ("text", "binary")) -> List[float]:
        return [r[key] for r in rows if r["size"] in sizes and r["op"] == op and r["kind"] in kinds]

    lines = [
        "## Targets (this run)",
        "",
        "Over the rows the targets were set for (ASCII text and binary); × websockets is against",
        "websockets with its connection layer's conversions (the like-for-like column).",
        "",
    ]
    for label_, sizes, op, key, goal in [
        ("16–125 B, × wsproto, decode", small, "decode", "x_wp", 20),
        ("16–125 B, × wsproto, encode", small, "encode", "x_wp", 20),
        ("16–125 B, × websockets, decode", small, "decode", "x_ws", 3),
        ("16–125 B, × websockets, encode", small, "encode", "x_ws", 3),
        ("≥ 64 KiB, × websockets, decode", large, "decode", "x_ws", 5),
        ("≥ 64 KiB, × websockets, encode", large, "encode", "x_ws", 5),
    ]:
        values = pick(sizes, op, key)
        if not values:
            continue
        verdict = "met" if min(values) >= goal else "not met"
        lines.append(f"* {label_}: ≥ {goal}× wanted, {min(values):.1f}×–{max(values):.1f}× measured: {verdict}")
    mixed = [(k, pick(small, op, k, ("mixed",))) for op in ("decode", "encode") for k in ("x_wp", "x_ws")]
    if any(v for _, v in mixed):
        lo = {k: min(min(v) for kk, v in mixed if kk == k and v) for k in ("x_wp", "x_ws")}
        lines.append(
            f"* mixed text, 16–125 B (no target; for reference): {lo['x_wp']:.1f}× wsproto and "
            f"{lo['x_ws']:.1f}× websockets at least"
        )
    big = [r for r in rows if r["size"] in large]
    if big:
        lines += ["", "Rows of 64 KiB and more below 5× websockets, with the most the floor allows there:", ""]
        for r in big:
            if r["x_ws"] < 5:
                verdict = "impossible: the floor itself is below 5×" if r["ceiling"] < 5 else "possible by the floor"
                lines.append(
                    f"* {r['op']} {r['kind']} {'masked' if r['masked'] else 'unmasked'} {label(r['size'])}: "
                    f"{r['x_ws']:.1f}× (floor × websockets {r['ceiling']:.1f}×, "
                    f"wsproto_rs at {r['of_floor']:.0%} of the floor's rate): {verdict}"
                )
    return "\n".join(lines)


NOTES = """## Reading the floor column

The floor is what building the payload objects costs in CPython, from the same input, with
no protocol work at all; "floor × websockets" is therefore the most any implementation of
wsproto's API could beat websockets by in that row. Where it is below 5×, so is every
implementation, and the row's 5× target cannot be met on this interpreter.

* Text (decode): the `str` is built by CPython's own UTF-8 decoder (the limited API has no
  way to write a `str`'s characters directly). For ASCII it is a checked 8-bytes-at-a-time
  copy, about half the speed of `memcpy`; `PyUnicode_DecodeASCII` and `..DecodeLatin1` are
  no faster (measured: latin-1 is slower, it scans and then copies). For mixed text it runs
  at about 1.3 GB/s and dominates every library alike. websockets pays the same decode plus
  its own copies (buffer append, slice, unmask, join), which is why text rows top out at
  2–3.5× (ASCII) and 1.5× (mixed).
* Binary (decode): one copy of every piece from the read into its `bytes` (unmasking fused
  into it), except a piece that is a whole unmasked read, which needs no copy at all (the
  unmasked 1 MiB row, where most pieces are whole reads). websockets makes three copies
  either way (masked: buffer append, slice, unmask; unmasked: append, slice, and the join
  that turns its `bytearray` into `bytes`), so the ceiling is about 4× where a copy is
  needed.
* Encode: one copy of the payload into the returned `bytes`; websockets makes one or two
  (`str.encode()` for text, then its `BytesIO`) at near-`memcpy` speed, so unmasked rows top
  out at about 1–4× and masked ones (websockets masks into a separate buffer first) at 3–7×.
* Input is cold: the reads of a case (16 MiB or more for large messages) are built before
  timing, so the first touch of each payload byte misses the cache for every library and
  for the floor alike.

The machine these runs come from is a shared 2-core VM with other builds and benchmarks
running: single figures vary by up to 2× between runs and rows by ±10–20%; the libraries
are interleaved in rounds and the best round counts, so the ratios within a row are
steadier than the absolute figures."""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller counts (smoke run)")
    ap.add_argument("--out", help="write the markdown report here")
    ap.add_argument("--ops", default="decode,encode")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--repeat", type=int, help="timed rounds per case (default 7, quick 2)")
    args = ap.parse_args()
    rounds = args.repeat or (2 if args.quick else 7)
    ops, kinds = args.ops.split(","), args.kinds.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: List[Dict[str, Any]] = []
    print(HEAD)
    print(SEP)
    for op in ops:
        for kind in kinds:
            for masked in (True, False):
                for size in sizes:
                    n = count_for(size, args.quick)
                    if op == "decode":
                        stream, starts = make_stream(size, n, kind, masked)
                        parts = chunks(stream)
                        cases = {
                            "rs": decode_wsproto_like(rs_conn, parts, masked),
                            "wp": decode_wsproto_like(wp_conn, parts, masked),
                            "ws": decode_websockets(parts, masked, app=True),
                            "raw": decode_websockets(parts, masked, app=False),
                            "floor": decode_floor(parts, starts, size, kind, masked),
                        }
                    else:
                        cases = {
                            "rs": encode_wsproto_like(rs_conn, rs_events, size, n, kind, masked),
                            "wp": encode_wsproto_like(wp_conn, wp_events, size, n, kind, masked),
                            "ws": encode_websockets(size, n, kind, masked, app=True),
                            "raw": encode_websockets(size, n, kind, masked, app=False),
                            "floor": encode_floor(size, n, kind),
                        }
                    for name, (_prep, _run, check) in cases.items():
                        got = check()  # warm-up, and proof that every message went through
                        assert got == n, (name, op, kind, size, got, n)
                    # Rounds interleave the libraries, so a burst of load on
                    # the machine hits all of them alike; the best round counts.
                    times = {name: float("inf") for name in cases}
                    for _ in range(rounds):
                        for name, (prep, run, _check) in cases.items():
                            arg = prep()
                            times[name] = min(times[name], time_once(run, arg))
                            del arg
                    rate = {name: n / t for name, t in times.items()}
                    row = {
                        "op": op,
                        "kind": kind,
                        "masked": masked,
                        "size": size,
                        "rate": rate,
                        "x_wp": rate["rs"] / rate["wp"],
                        "x_ws": rate["rs"] / rate["ws"],
                        "x_raw": rate["rs"] / rate["raw"],
                        "ceiling": rate["floor"] / rate["ws"],
                        "of_floor": rate["rs"] / rate["floor"],
                    }
                    rows.append(row)
                    print(format_row(row), flush=True)
    if args.out:
        write_report(args, rows)
    return 0


def format_row(r: Dict[str, Any]) -> str:
    rate = r["rate"]
    cells = [
        r["op"],
        r["kind"],
        "yes" if r["masked"] else "no",
        label(r["size"]),
        f"{rate['rs']:,.0f}",
        f"{rate['rs'] * r['size'] / 1e6:,.1f}",
        f"{rate['wp']:,.0f}",
        f"{rate['ws']:,.0f}",
        f"{rate['raw']:,.0f}",
        f"{rate['floor']:,.0f}",
        f"{r['x_wp']:.1f}×",
        f"{r['x_ws']:.1f}×",
        f"{r['x_raw']:.1f}×",
        f"{r['ceiling']:.1f}×",
        f"{r['of_floor']:.0%}",
    ]
    return "| " + " | ".join(cells) + " |"


def write_report(args: argparse.Namespace, rows: List[Dict[str, Any]]) -> None:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = os.path.relpath(os.path.abspath(args.out), root)
    cmd = "python bench/python/bench_codec.py" + (" --quick" if args.quick else "") + f" --out {out}"
    with open(args.out, "w") as f:
        f.write("# Python codec benchmark: wsproto_rs vs wsproto vs websockets, and the floor\n\n")
        f.write(f"Command: `{cmd}` (from the repository root, with build/venv's python; `make bench-python`)\n\n")
        f.write(
            f"Python {platform.python_version()} on {platform.machine()}, "
            f"wsproto {wsproto.__version__}, websockets {websockets.version.version}, "
            f"wsproto_rs {wsproto_rs.__version__} (engine: wsproto-core, release build).\n\n"
        )
        f.write(__doc__.split("Usage:")[0].strip() + "\n\n")
        f.write(HEAD + "\n" + SEP + "\n")
        for row in rows:
            f.write(format_row(row) + "\n")
        f.write("\n" + targets(rows) + "\n\n" + NOTES + "\n")


if __name__ == "__main__":
    sys.exit(main())
