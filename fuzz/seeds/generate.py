#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/<target>/.

Each seed is [flags, cut_hi, cut_lo] + bytes (see fuzz/src/lib.rs). The
client seeds mask nothing (servers do not mask); the server seeds mask with
the RFC 6455 section 5.7 key. The handshake_client seed answers the request
of a client seeded with SEED = 1, so it computes that client's key with the
same SplitMix64 generator as wsproto_core::SeededRandom.

Files named regress-* are not written here: they are inputs the fuzzer
found (each once crashed or hung the engine), kept so that every run of the
seeds (`cargo test` in fuzz/, and the fuzzer's first pass) tries them again.
"""
import base64
import hashlib
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(first, payload, mask=None):
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([first, m | n])
    elif n <= 0xFFFF:
        head = bytes([first, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([first, m | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def stream(mask):
    f = lambda first, p: frame(first, p, mask)
    return [
        f(0x81, b"Hello"),
        f(0x82, bytes(range(200))),
        f(0x01, "fr€".encode()[:3]) + f(0x89, b"ping") + f(0x80, "fr€".encode()[3:]),
        f(0x8A, b"pong") + f(0x82, b""),
        f(0x88, b"\x03\xe8bye"),
        f(0x88, b""),
        f(0x81, b"ok\xff"),
        f(0x0B, b"") + f(0xC1, b"x"),
        bytes([0x82, 0x7F | (0x80 if mask else 0)]) + struct.pack(">Q", 1 << 40) + (mask or b""),
        f(0x02, b"a" * 40) + f(0x00, b"b" * 40) + f(0x00, b"") + f(0x80, b"c" * 40),
    ]


def deflate_stream(mask, keep=False):
    """Compressed messages (RSV1 set) as permessage-deflate sends them: each
    message a sync-flushed raw deflate stream without its 00 00 ff ff tail.
    With `keep`, one compressor runs across messages (context takeover)."""
    shared = zlib.compressobj(wbits=-15)

    def deflate(data):
        c = shared if keep else zlib.compressobj(wbits=-15)
        out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]

    f = lambda first, p: frame(first, p, mask)
    hello = deflate(b"Hello")
    json = deflate(b'{"type":"update","values":[1,2,3,4,5,6,7,8,9,10]}' * 4)
    again = deflate(b'{"type":"update","values":[1,2,3,4,5,6,7,8,9,10]}' * 4)
    bomb = deflate(b"a" * 100_000)
    final = zlib.compressobj(wbits=-15)
    ended = final.compress(b"the end") + final.flush(zlib.Z_FINISH)
    return [
        f(0xC1, hello),
        f(0xC2, json) + f(0xC2, again),
        f(0x41, hello[:3]) + f(0x89, b"ping") + f(0x80, hello[3:]),
        f(0x81, b"plain") + f(0xC1, hello),
        f(0xC2, bomb),
        f(0xC1, ended) + f(0xC1, hello),
        f(0xC1, b"\xff\xff\xff"),
        f(0xC9, b"rsv1 ping"),
        f(0xC1, deflate("d\u00e9j\u00e0".encode()[:-1])),
        f(0x88, b"\x03\xe8bye"),
    ]


def splitmix(seed):
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & (2**64 - 1)
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
        yield z ^ (z >> 31)


def client_key(seed=1):
    g = splitmix(seed)
    nonce = struct.pack("<Q", next(g)) + struct.pack("<Q", next(g))
    return base64.b64encode(nonce)


def accept(key):
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


REQUEST = (
    b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
)


def response():
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept(client_key()) + b"\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    )


def write(target, seeds):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    for i, (flags, cut, data) in enumerate(seeds):
        with open(os.path.join(d, f"seed-{i:02}"), "wb") as fh:
            fh.write(bytes([flags]) + struct.pack(">H", cut) + data)


def frame_seeds(mask):
    frames = stream(mask)
    seeds = [(0, len(f) // 2, f) for f in frames]
    seeds.append((1, 7, b"".join(frames[:4])))  # partial messages
    seeds.append((4, 3, frames[4] + frames[0]))  # manual close answer
    seeds.append((8 | 16 | 32, 5, frames[9]))  # small limits
    return seeds


write("frame_server", frame_seeds(KEY))
write("frame_client", frame_seeds(None))


def deflate_seeds(mask):
    frames = deflate_stream(mask)
    seeds = [(0, len(f) // 2, f) for f in frames]
    seeds.append((64, 20, b"".join(deflate_stream(mask, keep=True)[:2])))  # context takeover
    seeds.append((16, 9, frames[4]))  # a bomb against a 100-byte limit
    seeds.append((1 | 128, 5, frames[1] + frames[2]))  # partial messages, 9-bit window
    return seeds


write("deflate_server", deflate_seeds(KEY))
write("deflate_client", deflate_seeds(None))
server_frames = stream(KEY)
write(
    "handshake_server",
    [
        (0, 40, REQUEST),
        (0, 100, REQUEST + server_frames[0] + server_frames[4]),
        (0, 10, REQUEST.replace(b"Version: 13", b"Version: 8")),
        (0, 3, b"POST / HTTP/1.0\r\n\r\n"),
    ],
)
client_frames = stream(None)
write(
    "handshake_client",
    [
        (0, 30, response()),
        (0, 120, response() + client_frames[0] + client_frames[4]),
        (0, 20, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope"),
        (0, 20, b"HTTP/1.1 500 Oops\r\n\r\nuntil the end"),
        (0, 5, response().replace(b"Protocol: chat", b"Protocol: nope")),
    ],
)
