"""Replays the shared test vectors (tests/vectors/frames.json) through the C
ABI of libwsproto.so, using ctypes, and checks events, close codes and the
exact output bytes. The core checks the same file (core/tests/vectors.rs),
and so do the Python and Node bindings: one behaviour in every language.

Usage: python3 ffi/tests/vectors.py path/to/libwsproto.so
"""

import ctypes as C
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "frames.json").read_text())

OK, NO_EVENT = 0, 6001
EVENT_TEXT, EVENT_BINARY, EVENT_PING, EVENT_PONG, EVENT_CLOSE = 5, 6, 7, 8, 9
# The core's ErrorKind names for the C ABI's remote result codes.
KINDS = {
    7103: "ReservedOpCode", 7104: "ReservedBits", 7105: "BadMasking", 7106: "BadControlFrame",
    7107: "BadLength", 7108: "BadFragmentation", 7109: "BadClosePayload", 7110: "InvalidUtf8", 7111: "TooBig",
}


class Event(C.Structure):
    _fields_ = [("kind", C.c_uint32), ("data", C.POINTER(C.c_uint8)), ("len", C.c_size_t),
                ("fin", C.c_bool), ("close_code", C.c_uint16)]


class IoVec(C.Structure):
    _fields_ = [("base", C.POINTER(C.c_uint8)), ("len", C.c_size_t)]


def load(path):
    lib = C.CDLL(path)
    lib.wsproto_config_builder_new.restype = C.c_void_p
    lib.wsproto_config_builder_free.argtypes = [C.c_void_p]
    for name, arg in [("max_frame_size", C.c_uint64), ("max_message_size", C.c_uint64),
                      ("auto_pong", C.c_bool), ("auto_close", C.c_bool), ("mask_seed", C.c_uint64)]:
        f = getattr(lib, f"wsproto_config_builder_set_{name}")
        f.argtypes, f.restype = [C.c_void_p, arg], C.c_uint32
    lib.wsproto_config_builder_build.argtypes = [C.c_void_p, C.POINTER(C.c_void_p)]
    lib.wsproto_config_free.argtypes = [C.c_void_p]
    lib.wsproto_conn_open_new.argtypes = [C.c_void_p, C.c_uint32, C.POINTER(C.c_void_p)]
    lib.wsproto_conn_free.argtypes = [C.c_void_p]
    lib.wsproto_conn_feed.argtypes = [C.c_void_p, C.c_char_p, C.c_size_t]
    lib.wsproto_conn_next_event.argtypes = [C.c_void_p, C.POINTER(Event)]
    lib.wsproto_conn_output_iov.argtypes = [C.c_void_p, C.POINTER(IoVec), C.c_size_t, C.POINTER(C.c_size_t)]
    lib.wsproto_conn_consume_output.argtypes = [C.c_void_p, C.c_size_t]
    lib.wsproto_conn_close_code_sent.argtypes = [C.c_void_p]
    lib.wsproto_conn_close_code_sent.restype = C.c_uint16
    for f in ("feed", "next_event", "output_iov", "consume_output", "open_new"):
        getattr(lib, f"wsproto_conn_{f}").restype = C.c_uint32
    lib.wsproto_config_builder_build.restype = C.c_uint32
    return lib


def replay(lib, case, chunk):
    cfg = case["config"]
    b = lib.wsproto_config_builder_new()
    assert lib.wsproto_config_builder_set_max_frame_size(b, cfg["max_message_size"]) == OK
    assert lib.wsproto_config_builder_set_max_message_size(b, cfg["max_message_size"]) == OK
    assert lib.wsproto_config_builder_set_auto_pong(b, cfg["auto_pong"]) == OK
    assert lib.wsproto_config_builder_set_auto_close(b, cfg["auto_close"]) == OK
    assert lib.wsproto_config_builder_set_mask_seed(b, cfg["mask_seed"]) == OK
    config = C.c_void_p()
    assert lib.wsproto_config_builder_build(b, C.byref(config)) == OK
    lib.wsproto_config_builder_free(b)
    conn = C.c_void_p()
    assert lib.wsproto_conn_open_new(config, 1 if cfg["role"] == "server" else 0, C.byref(conn)) == OK
    lib.wsproto_config_free(config)

    data = bytes.fromhex(case["input"])
    events, out = [], b""
    ev = Event()
    done = False
    for i in range(0, max(len(data), 1), chunk):
        if done:
            break
        piece = data[i : i + chunk]
        assert lib.wsproto_conn_feed(conn, piece, len(piece)) == OK
        while True:
            r = lib.wsproto_conn_next_event(conn, C.byref(ev))
            if r == NO_EVENT:
                break
            if r != OK:
                events.append({"error": {"kind": KINDS.get(r, r), "close_code": lib.wsproto_conn_close_code_sent(conn)}})
                done = True
                break
            payload = C.string_at(ev.data, ev.len) if ev.len else b""
            if ev.kind == EVENT_TEXT:
                events.append({"text": payload.decode()})
            elif ev.kind == EVENT_BINARY:
                events.append({"binary": payload.hex()})
            elif ev.kind == EVENT_PING:
                events.append({"ping": payload.hex()})
            elif ev.kind == EVENT_PONG:
                events.append({"pong": payload.hex()})
            elif ev.kind == EVENT_CLOSE:
                events.append({"close": [ev.close_code, payload.decode()]})
            else:
                raise AssertionError(f"unexpected event kind {ev.kind}")
    iov, n = (IoVec * 4)(), C.c_size_t()
    while True:
        assert lib.wsproto_conn_output_iov(conn, iov, 4, C.byref(n)) == OK
        if n.value == 0:
            break
        for k in range(n.value):
            out += C.string_at(iov[k].base, iov[k].len)
        assert lib.wsproto_conn_consume_output(conn, sum(iov[k].len for k in range(n.value))) == OK
    lib.wsproto_conn_free(conn)
    return events, out.hex()


def main():
    lib = load(sys.argv[1])
    passed = failed = 0
    for case in VECTORS:
        for chunk in (1 << 30, 1, 3):
            got = replay(lib, case, chunk)
            if got == (case["events"], case["output"]):
                passed += 1
            else:
                failed += 1
                print(f"FAIL {case['name']} (chunks of {chunk}): got {got}, want {(case['events'], case['output'])}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
