"""The opening handshake: the same bytes, events and errors as wsproto."""

from __future__ import annotations

from typing import Any, List, Optional, Union

import h11
import pytest

from conftest import REF, RS, Lib, shape, shapes, without_key


def fake_extension(lib: Lib, offer: Any = None, accept: Any = None) -> Any:
    class Fake(lib.ext.Extension):  # type: ignore[name-defined, misc]
        name = "fake"

        def __init__(self) -> None:
            self.offered: Optional[str] = None
            self.finalized: Optional[str] = None

        def offer(self) -> Union[bool, str]:
            return offer  # type: ignore[no-any-return]

        def accept(self, offer_: str) -> Any:
            self.offered = offer_
            return accept

        def finalize(self, offer_: str) -> None:
            self.finalized = offer_

    return Fake()


REQUESTS = [
    dict(host="localhost", target="/"),
    dict(host="example.com:8080", target="/chat?room=1&x=%20"),
    dict(host="localhost", target="/", subprotocols=["one", "two"]),
    dict(host="localhost", target="/", extra_headers=[(b"X-Foo", b"Bar"), ("x-str", "v"), (b"Origin", b"http://a")]),
    dict(host="芝士汉堡", target="/"),
]


def client_request(lib: Lib, **kw: Any) -> bytes:
    client = lib.top.WSConnection(lib.conn.CLIENT)
    return client.send(lib.events.Request(**kw))  # type: ignore[no-any-return]


@pytest.mark.parametrize("kw", REQUESTS)
def test_client_request_bytes_match_wsproto(kw: Any) -> None:
    assert without_key(client_request(RS, **kw)) == without_key(client_request(REF, **kw))


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: [fake_extension(lib, offer=True)],
        lambda lib: [fake_extension(lib, offer=False)],
        lambda lib: [fake_extension(lib, offer="p1=v1; p2")],
        lambda lib: [lib.ext.PerMessageDeflate()],
        lambda lib: [lib.ext.PerMessageDeflate(client_no_context_takeover=True, server_max_window_bits=10)],
        lambda lib: [fake_extension(lib, offer=True), lib.ext.PerMessageDeflate()],
    ],
)
def test_client_extension_offers_match_wsproto(make: Any) -> None:
    ours = client_request(RS, host="h", target="/", extensions=make(RS))
    theirs = client_request(REF, host="h", target="/", extensions=make(REF))
    assert without_key(ours) == without_key(theirs)


def server_pair(request_bytes: bytes) -> List[Any]:
    servers = []
    for lib in (REF, RS):
        server = lib.top.WSConnection(lib.conn.SERVER)
        server.receive_data(request_bytes)
        servers.append((lib, server, list(server.events())))
    return servers


def reference_request(**kw: Any) -> bytes:
    return client_request(REF, **{"host": "localhost", "target": "/", **kw})


@pytest.mark.parametrize(
    "request_bytes",
    [
        reference_request(),
        reference_request(subprotocols=["a", "b"], extra_headers=[(b"X-Y", b"z")]),
        reference_request(extensions=[REF.ext.PerMessageDeflate()]),
        b"GET wss://api.example/ws HTTP/1.1\r\nHost: api.example\r\nConnection: keep-alive, Upgrade\r\n"
        b"Upgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: tOzeAzi9xK7ADxxEdTzmaA==\r\n"
        b"Sec-WebSocket-Extensions: a; b, c\r\nSec-WebSocket-Protocol: p1\r\nSec-WebSocket-Extensions: d; e=1\r\n"
        b"Sec-WebSocket-Protocol: p2, p3\r\n\r\n",
    ],
)
def test_server_request_event_matches_wsproto(request_bytes: bytes) -> None:
    (_, _, ref_events), (_, _, rs_events) = server_pair(request_bytes)
    assert shapes(rs_events) == shapes(ref_events)


@pytest.mark.parametrize(
    "accept",
    [
        lambda lib: lib.events.AcceptConnection(),
        lambda lib: lib.events.AcceptConnection(subprotocol="b", extra_headers=[(b"X-A", b"1"), ("x-b", "2")]),
        lambda lib: lib.events.AcceptConnection(extensions=[lib.ext.PerMessageDeflate()]),
        lambda lib: lib.events.AcceptConnection(
            extensions=[lib.ext.PerMessageDeflate(client_no_context_takeover=True, server_no_context_takeover=True)]
        ),
        lambda lib: lib.events.AcceptConnection(extensions=[fake_extension(lib, accept="q=1; r")]),
        lambda lib: lib.events.AcceptConnection(extensions=[fake_extension(lib, accept=True)]),
        lambda lib: lib.events.AcceptConnection(extensions=[fake_extension(lib, accept=None)]),
    ],
)
def test_server_accept_bytes_match_wsproto(accept: Any) -> None:
    request_bytes = reference_request(
        subprotocols=["a", "b"],
        extensions=[REF.ext.PerMessageDeflate(), fake_extension(REF, offer="q=2")],
    )
    out = []
    for lib, server, events in server_pair(request_bytes):
        out.append(server.send(accept(lib)))
        assert server.state is lib.conn.ConnectionState.OPEN
    assert out[1] == out[0]


def test_python_extension_sees_wsproto_strings() -> None:
    request_bytes = reference_request(extensions=[fake_extension(REF, offer="parameter1=value3; parameter2=value4")])
    seen = []
    for lib, server, _ in server_pair(request_bytes):
        ext = fake_extension(lib, accept="parameter1=value1")
        server.send(lib.events.AcceptConnection(extensions=[ext]))
        seen.append(ext.offered)
    assert seen[1] == seen[0] == "fake; parameter1=value3; parameter2=value4"


REJECTIONS = [
    ([lambda lib: lib.events.RejectConnection()], reference_request()),
    ([lambda lib: lib.events.RejectConnection(status_code=404, headers=[(b"X", b"y")])], reference_request()),
    (
        [
            lambda lib: lib.events.RejectConnection(status_code=403, has_body=True),
            lambda lib: lib.events.RejectData(data=b"abc", body_finished=False),
            lambda lib: lib.events.RejectData(data=b"", body_finished=False),
            lambda lib: lib.events.RejectData(data=b"de", body_finished=True),
        ],
        reference_request(),
    ),
    (
        [
            lambda lib: lib.events.RejectConnection(status_code=500, headers=[(b"Content-Length", b"3")], has_body=True),
            lambda lib: lib.events.RejectData(data=b"err"),
        ],
        reference_request(),
    ),
    (
        [lambda lib: lib.events.RejectConnection(status_code=401)],
        reference_request().replace(b"Connection: Upgrade", b"Connection: close, Upgrade"),
    ),
]


@pytest.mark.parametrize("steps, request_bytes", REJECTIONS)
def test_rejection_bytes_match_wsproto(steps: Any, request_bytes: bytes) -> None:
    results = []
    for lib, server, _ in server_pair(request_bytes):
        results.append([(server.send(step(lib)), server.state.name) for step in steps])
    assert results[1] == results[0]


BAD_REQUESTS = [
    b"broken nonsense\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 12\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
]


@pytest.mark.parametrize("request_bytes", BAD_REQUESTS)
def test_bad_requests_fail_like_wsproto(request_bytes: bytes) -> None:
    results = []
    for lib in (REF, RS):
        server = lib.top.WSConnection(lib.conn.SERVER)
        with pytest.raises(lib.util.RemoteProtocolError) as info:
            server.receive_data(request_bytes)
        hint = info.value.event_hint
        answer = server.send(hint)
        results.append((str(info.value), shape(hint), answer, server.state.name))
    assert results[1] == results[0]


def test_oversized_handshake_is_refused_with_431() -> None:
    server = RS.top.WSConnection(RS.conn.SERVER, max_handshake_size=1024)
    with pytest.raises(RS.util.RemoteProtocolError) as info:
        server.receive_data(b"GET / HTTP/1.1\r\nX: " + b"a" * 2000)
    assert info.value.event_hint == RS.events.RejectConnection(status_code=431)


def h11_responses(lib: Lib, make_response: Any, **request_kw: Any) -> Any:
    client = lib.top.WSConnection(lib.conn.CLIENT)
    server = h11.Connection(h11.SERVER)
    server.receive_data(client.send(lib.events.Request(host="localhost", target="/", **request_kw)))
    request = server.next_event()
    key = lib.util.normed_header_dict(request.headers)[b"sec-websocket-key"]
    for chunk in make_response(server, lib.util.generate_accept_token(key)):
        client.receive_data(chunk)
    return client


def upgrade(server: Any, token: bytes, extra: Any = ()) -> Any:
    headers = [(b"Connection", b"Upgrade"), (b"Upgrade", b"websocket"), (b"Sec-WebSocket-Accept", token), *extra]
    return [server.send(h11.InformationalResponse(status_code=101, headers=headers))]


def chunked_rejection(server: Any) -> List[bytes]:
    return [
        server.send(h11.Response(status_code=403, headers=[])),
        server.send(h11.Data(data=b"hello")),
        server.send(h11.Data(data=b", world")),
        server.send(h11.EndOfMessage()),
    ]


CHUNKED_WITH_TRAILERS = (
    b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4;ext=1\r\nsome\r\n00A\r\n body text\r\n0\r\nX-Trailer: yes\r\n\r\n"
)


@pytest.mark.parametrize(
    "make_response, request_kw",
    [
        (lambda s, t: upgrade(s, t), {}),
        (lambda s, t: upgrade(s, t, [(b"X-Foo", b"bar"), (b"Sec-WebSocket-Protocol", b"two")]), {"subprotocols": ["one", "two"]}),
        (lambda s, t: upgrade(s, t, [(b"Sec-WebSocket-Extensions", b"permessage-deflate")]), {"deflate": True}),
        (lambda s, t: [s.send(h11.Response(status_code=403, headers=[])), s.send(h11.EndOfMessage()), b""], {}),
        (
            lambda s, t: [
                s.send(h11.Response(status_code=404, headers=[(b"Content-Length", b"5")])),
                s.send(h11.Data(data=b"nope!")),
            ],
            {},
        ),
        (lambda s, t: [b"HTTP/1.1 102 Processing\r\nX: y\r\n\r\n"], {}),
        # Chunked bodies (h11 frames a body without a length so), whole
        # and a byte at a time: the engine removes the framing as h11 does.
        (lambda s, t: [b"".join(chunked_rejection(s))], {}),
        (lambda s, t: [bytes([b]) for b in b"".join(chunked_rejection(s))], {}),
        (lambda s, t: [CHUNKED_WITH_TRAILERS], {}),
        (lambda s, t: [CHUNKED_WITH_TRAILERS[:60], CHUNKED_WITH_TRAILERS[60:], b""], {}),
        # h11 reports Transfer-Encoding's value in lower case.
        (lambda s, t: [CHUNKED_WITH_TRAILERS.replace(b"chunked", b"Chunked")], {}),
    ],
)
def test_client_sees_responses_like_wsproto(make_response: Any, request_kw: Any) -> None:
    results = []
    for lib in (REF, RS):
        kw = dict(request_kw)
        if kw.pop("deflate", False):
            kw["extensions"] = [lib.ext.PerMessageDeflate()]
        client = h11_responses(lib, make_response, **kw)
        results.append((shapes(client.events()), client.state.name))
    assert results[1] == results[0]


@pytest.mark.parametrize(
    "headers, request_kw",
    [
        ([(b"Upgrade", b"websocket")], {}),
        ([(b"Connection", b"Upgrade")], {}),
        ([(b"Connection", b"Upgrade"), (b"Upgrade", b"websocket"), (b"Sec-WebSocket-Accept", b"wrong")], {}),
        ([(b"Connection", b"Upgrade"), (b"Upgrade", b"websocket"), (b"Sec-WebSocket-Protocol", b"new")], {"subprotocols": ["a"]}),
        ([(b"Connection", b"Upgrade"), (b"Upgrade", b"websocket"), (b"Sec-WebSocket-Extensions", b"bad, foo")], {}),
    ],
)
def test_bad_responses_fail_like_wsproto(headers: Any, request_kw: Any) -> None:
    messages = []
    for lib in (REF, RS):
        client = lib.top.WSConnection(lib.conn.CLIENT)
        server = h11.Connection(h11.SERVER)
        server.receive_data(client.send(lib.events.Request(host="localhost", target="/", **request_kw)))
        key = lib.util.normed_header_dict(server.next_event().headers)[b"sec-websocket-key"]
        hs = list(headers)
        if not any(k == b"Sec-WebSocket-Accept" for k, _ in hs):
            hs.append((b"Sec-WebSocket-Accept", lib.util.generate_accept_token(key)))
        with pytest.raises(lib.util.RemoteProtocolError) as info:
            client.receive_data(server.send(h11.InformationalResponse(status_code=101, headers=hs)))
        messages.append((str(info.value), shape(info.value.event_hint)))
    assert messages[1] == messages[0]


@pytest.mark.parametrize(
    "answer",
    [
        b"permessage-deflate; foo=1",
        b"permessage-deflate; server_no_context_takeover=1",
        b"permessage-deflate; client_max_window_bits=16",
        b"permessage-deflate; server_max_window_bits=15; server_max_window_bits=15",
    ],
)
def test_deflate_answers_that_accept_no_offer_fail(answer: bytes) -> None:
    # Beyond wsproto, whose finalize() takes any parameters: RFC 7692 §5 has
    # the client fail a response that does not accept its offer.
    with pytest.raises(RS.util.RemoteProtocolError, match="^extension permessage-deflate: ") as info:
        h11_responses(RS, lambda s, t: upgrade(s, t, [(b"Sec-WebSocket-Extensions", answer)]), extensions=[RS.ext.PerMessageDeflate()])
    assert info.value.event_hint == RS.events.RejectConnection()


@pytest.mark.parametrize(
    "client, received",
    [
        (True, b""),
        (True, b"HTTP/1.1 101 Sw"),
        (True, b"HTTP/1.1 403 No\r\n\r\nbody"),
        (False, b""),
        (False, b"GET / HT"),
    ],
)
def test_end_of_stream_during_the_handshake_like_wsproto(client: bool, received: bytes) -> None:
    # h11 calls a stream that ends inside a head a bad HTTP message; a
    # server that was sent nothing at all just sees no events.
    seen = []
    for lib in (REF, RS):
        conn = lib.top.WSConnection(lib.conn.CLIENT if client else lib.conn.SERVER)
        if client:
            conn.send(lib.events.Request(host="h", target="/"))
        try:
            if received:
                conn.receive_data(received)
            conn.receive_data(None)
            seen.append((shapes(conn.events()), conn.state.name))
        except lib.util.RemoteProtocolError as e:
            seen.append((str(e), shape(e.event_hint), conn.state.name))
    assert seen[1] == seen[0]


@pytest.mark.parametrize("body", [b"zz\r\n", b"3\r\nabcX\r\n", b"-1\r\n"])
def test_bad_chunked_bodies_fail_like_wsproto(body: bytes) -> None:
    results = []
    for lib in (REF, RS):
        client = lib.top.WSConnection(lib.conn.CLIENT)
        client.send(lib.events.Request(host="localhost", target="/"))
        head = b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n"
        with pytest.raises(lib.util.RemoteProtocolError) as info:
            client.receive_data(head + body)
        results.append((str(info.value), shape(info.value.event_hint)))
    assert results[1] == results[0]


def test_frames_pipelined_after_the_request_are_kept() -> None:
    """A client may send frames right behind its request; wsproto 1.3 drops
    them (h11 keeps them as trailing data nobody reads), the engine keeps
    them and delivers them once the request is accepted."""
    lib = RS
    client = lib.top.WSConnection(lib.conn.CLIENT)
    server = lib.top.WSConnection(lib.conn.SERVER)
    peer = lib.conn.Connection(lib.conn.CLIENT)
    server.receive_data(client.send(lib.events.Request(host="h", target="/")) + peer.send(lib.events.TextMessage(data="early")))
    events = list(server.events())
    assert len(events) == 1 and isinstance(events[0], lib.events.Request)
    server.send(lib.events.AcceptConnection())
    assert [e.data for e in server.events()] == ["early"]


def test_frames_in_the_same_read_as_the_101(lib: Lib) -> None:
    client = lib.top.WSConnection(lib.conn.CLIENT)
    server = lib.top.WSConnection(lib.conn.SERVER)
    server.receive_data(client.send(lib.events.Request(host="h", target="/")))
    list(server.events())
    server_bytes = server.send(lib.events.AcceptConnection())
    client.receive_data(server_bytes + server.send(lib.events.BytesMessage(data=b"\x01\x02")))
    events = list(client.events())
    assert isinstance(events[0], lib.events.AcceptConnection)
    assert events[1].data == b"\x01\x02"


def test_initiate_upgrade_connection_matches_wsproto() -> None:
    headers = [(b"Host", b"localhost"), (b"Connection", b"Upgrade"), (b"Upgrade", b"websocket"),
               (b"Sec-WebSocket-Version", b"13"), (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="), (b"X-A", b"b")]
    results = []
    for lib in (REF, RS):
        server = lib.top.WSConnection(lib.conn.SERVER)
        server.initiate_upgrade_connection(headers, "/path?q")
        events = shapes(server.events())
        results.append((events, server.send(lib.events.AcceptConnection())))
    assert results[1] == results[0]


def test_accept_token_and_nonce() -> None:
    assert RS.util.generate_accept_token(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    nonce = RS.util.generate_nonce()
    assert len(nonce) == 24 and nonce != RS.util.generate_nonce()
    assert RS.util.normed_header_dict([(b"a", b"1"), (b"b", b"2"), (b"a", b"3")]) == {b"a": b"1, 3", b"b": b"2"}


def test_extension_exceptions_propagate_like_wsproto() -> None:
    outcomes = []
    for lib in (REF, RS):

        class Broken(lib.ext.Extension):  # type: ignore[name-defined, misc]
            name = "broken"

            def offer(self) -> Any:
                return True

            def finalize(self, offer: str) -> None:
                raise ValueError(f"cannot finalize {offer}")

        def respond(server: Any, token: bytes) -> Any:
            return upgrade(server, token, [(b"Sec-WebSocket-Extensions", b"broken")])

        try:
            h11_responses(lib, respond, extensions=[Broken()])
            outcomes.append("no error")
        except ValueError as exc:
            outcomes.append(str(exc))
    assert outcomes == ["cannot finalize broken", "cannot finalize broken"]
    # The error does not linger into the next connection.
    client = RS.top.WSConnection(RS.conn.CLIENT)
    assert client.send(RS.events.Request(host="h", target="/")).startswith(b"GET / HTTP/1.1\r\n")
