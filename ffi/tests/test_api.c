/*
 * Tests of the wsproto C API: every exported function, misuse (NULL, wrong
 * state, oversized control frames, sends after close), and bad input from
 * the peer (each with its documented result code and the close code sent).
 * Exact bytes are compared wherever the wire format is fixed.
 *
 * Built three ways by ffi/tests/run.sh: plain, with AddressSanitizer and
 * UBSan (linking the static library), and run under valgrind. Prints
 * "N passed, M failed" last and exits non-zero on any failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsproto.h"

static int passed, failed;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            passed++;                                                                                                  \
        } else {                                                                                                       \
            failed++;                                                                                                  \
            fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond);                                         \
        }                                                                                                              \
    } while (0)

#define CHECK_EQ(a, b)                                                                                                 \
    do {                                                                                                               \
        unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b);                               \
        if (va_ == vb_) {                                                                                              \
            passed++;                                                                                                  \
        } else {                                                                                                       \
            failed++;                                                                                                  \
            fprintf(stderr, "%s:%d: FAILED: %s == %s (%llu != %llu)\n", __FILE__, __LINE__, #a, #b, va_, vb_);         \
        }                                                                                                              \
    } while (0)

/* Compares a (pointer, length) pair with expected bytes. */
#define CHECK_BYTES(ptr, len, exp, exp_len)                                                                            \
    do {                                                                                                               \
        size_t l_ = (len), el_ = (exp_len);                                                                            \
        if (l_ == el_ && (l_ == 0 || memcmp((ptr), (exp), l_) == 0)) {                                                 \
            passed++;                                                                                                  \
        } else {                                                                                                       \
            failed++;                                                                                                  \
            fprintf(stderr, "%s:%d: FAILED: bytes of %s (len %zu, expected %zu)\n", __FILE__, __LINE__, #ptr, l_,     \
                    el_);                                                                                              \
        }                                                                                                              \
    } while (0)

#define CHECK_STR(s, exp) CHECK_BYTES((s).ptr, (s).len, (exp), strlen(exp))

/* ---- helpers ---------------------------------------------------------- */

static const wsproto_config *config_with(int seed, int partial, int auto_pong, int auto_close) {
    wsproto_config_builder *b = wsproto_config_builder_new();
    if (seed) wsproto_config_builder_set_mask_seed(b, (uint64_t)seed);
    wsproto_config_builder_set_partial_messages(b, partial);
    wsproto_config_builder_set_auto_pong(b, auto_pong);
    wsproto_config_builder_set_auto_close(b, auto_close);
    const wsproto_config *cfg = NULL;
    wsproto_config_builder_build(b, &cfg);
    wsproto_config_builder_free(b);
    return cfg;
}

/* Moves all pending output of `from` into `to`. */
static void pump(wsproto_conn *from, wsproto_conn *to) {
    wsproto_iovec iov[2];
    size_t n = 0;
    while (wsproto_conn_output_iov(from, iov, 2, &n) == WSPROTO_OK && n > 0) {
        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
            wsproto_conn_feed(to, iov[i].base, iov[i].len);
            total += iov[i].len;
        }
        wsproto_conn_consume_output(from, total);
    }
}

/* Copies all pending output into `buf` and consumes it; returns the length. */
static size_t drain(wsproto_conn *c, uint8_t *buf, size_t cap) {
    size_t len = 0;
    wsproto_iovec iov[1];
    size_t n = 0;
    while (wsproto_conn_output_iov(c, iov, 1, &n) == WSPROTO_OK && n > 0) {
        size_t k = iov[0].len < cap - len ? iov[0].len : cap - len;
        memcpy(buf + len, iov[0].base, k);
        len += k;
        wsproto_conn_consume_output(c, iov[0].len);
    }
    return len;
}

/* Builds a frame; masked frames use the key 01 02 03 04. */
static size_t frame(uint8_t *out, int fin, int rsv, int op, int masked, const void *payload, size_t len) {
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | (rsv << 4) | op);
    uint8_t m = masked ? 0x80 : 0;
    if (len < 126) {
        out[n++] = (uint8_t)(m | len);
    } else if (len < 65536) {
        out[n++] = m | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = m | 127;
        for (int i = 7; i >= 0; i--) out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    const uint8_t key[4] = {1, 2, 3, 4};
    if (masked) {
        memcpy(out + n, key, 4);
        n += 4;
    }
    for (size_t i = 0; i < len; i++) out[n + i] = ((const uint8_t *)payload)[i] ^ (masked ? key[i % 4] : 0);
    return n + len;
}

static const char RFC_REQUEST[] = "GET /chat?room=1 HTTP/1.1\r\n"
                                  "Host: server.example.com\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Origin: http://example.com\r\n"
                                  "Sec-WebSocket-Protocol: chat, superchat\r\n"
                                  "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"
                                  "\r\n";

/* A client and a server with the handshake done. */
static void open_pair(const wsproto_config *ccfg, const wsproto_config *scfg, wsproto_conn **c, wsproto_conn **s) {
    const char *protos[] = {"chat"};
    CHECK_EQ(wsproto_conn_client_new(ccfg, "example.com", "/chat", NULL, protos, 1, NULL, 0, c), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_server_new(scfg, s), WSPROTO_OK);
    wsproto_event ev;
    pump(*c, *s);
    CHECK_EQ(wsproto_conn_next_event(*s, &ev), WSPROTO_OK);
    CHECK_EQ(ev.kind, WSPROTO_EVENT_REQUEST);
    CHECK_EQ(wsproto_conn_accept(*s, "chat", NULL, 0), WSPROTO_OK);
    pump(*s, *c);
    CHECK_EQ(wsproto_conn_next_event(*c, &ev), WSPROTO_OK);
    CHECK_EQ(ev.kind, WSPROTO_EVENT_ACCEPTED);
    CHECK_EQ(wsproto_conn_next_event(*c, &ev), WSPROTO_NO_EVENT);
    CHECK_EQ(wsproto_conn_next_event(*s, &ev), WSPROTO_NO_EVENT);
}

static void expect_event(wsproto_conn *c, wsproto_event_kind kind, const void *data, size_t len, bool fin) {
    wsproto_event ev;
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_OK);
    CHECK_EQ(ev.kind, kind);
    CHECK_BYTES(ev.data, ev.len, data, len);
    CHECK_EQ(ev.fin, fin);
}

/* ---- version and result codes --------------------------------------- */

static void test_version(void) {
    char expect[64];
    snprintf(expect, sizeof expect, "%d.%d.%d", WSPROTO_VERSION_MAJOR, WSPROTO_VERSION_MINOR, WSPROTO_VERSION_PATCH);
    CHECK(strcmp(wsproto_version(), expect) == 0);
}

static void test_result_text(void) {
    static const uint32_t codes[] = {
        WSPROTO_OK, WSPROTO_NO_EVENT, WSPROTO_MORE_INPUT, WSPROTO_EOF, WSPROTO_ERR_NULL_ARGUMENT,
        WSPROTO_ERR_INVALID_STATE, WSPROTO_ERR_CLOSED, WSPROTO_ERR_CONTROL_TOO_LONG, WSPROTO_ERR_INVALID_CLOSE_CODE,
        WSPROTO_ERR_FRAGMENT_MISMATCH, WSPROTO_ERR_INVALID_HEADER, WSPROTO_ERR_SUBPROTOCOL_NOT_OFFERED,
        WSPROTO_ERR_INVALID_STATUS, WSPROTO_ERR_INVALID_ARGUMENT, WSPROTO_ERR_INVALID_UTF8, WSPROTO_ERR_OUT_OF_RANGE,
        WSPROTO_ERR_BUSY, WSPROTO_ERR_BAD_HANDSHAKE, WSPROTO_ERR_UNSUPPORTED_VERSION, WSPROTO_ERR_HANDSHAKE_TOO_LARGE,
        WSPROTO_ERR_RESERVED_OPCODE, WSPROTO_ERR_RESERVED_BITS, WSPROTO_ERR_BAD_MASKING, WSPROTO_ERR_BAD_CONTROL_FRAME,
        WSPROTO_ERR_BAD_LENGTH, WSPROTO_ERR_BAD_FRAGMENTATION, WSPROTO_ERR_BAD_CLOSE_PAYLOAD,
        WSPROTO_ERR_REMOTE_INVALID_UTF8, WSPROTO_ERR_TOO_BIG, WSPROTO_ERR_EXTENSION, WSPROTO_ERR_PROTOCOL,
        WSPROTO_ERR_IO, WSPROTO_ERR_IO_BAD_COUNT, WSPROTO_ERR_PANIC,
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *t = wsproto_result_text(codes[i]);
        CHECK(t != NULL && t[0] != '\0' && strcmp(t, "unknown result code") != 0);
    }
    CHECK(strcmp(wsproto_result_text(WSPROTO_OK), "ok") == 0);
    CHECK(strcmp(wsproto_result_text(1), "unknown result code") == 0);
    CHECK(strcmp(wsproto_result_text(0xffffffffu), "unknown result code") == 0);
    /* The groups never overlap errno values or close codes. */
    CHECK(WSPROTO_NO_EVENT > 4999 && WSPROTO_ERR_NULL_ARGUMENT == 7000 && WSPROTO_ERR_BAD_HANDSHAKE == 7100);
    CHECK(WSPROTO_ERR_IO == 7200);
}

/* ---- configuration ------------------------------------------------------ */

static void test_config_builder(void) {
    wsproto_config_builder *b = wsproto_config_builder_new();
    CHECK(b != NULL);
    CHECK_EQ(wsproto_config_builder_set_max_frame_size(b, 1 << 20), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_set_max_frame_size(b, 0), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_max_message_size(b, 1 << 22), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_set_max_message_size(b, 0), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_max_fragments(b, 10), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_set_max_fragments(b, 0), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_max_handshake(b, 8192, 50), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_set_max_handshake(b, 10, 50), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_max_handshake(b, 8192, 1), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_auto_pong(b, true), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_set_auto_close(b, true), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_set_partial_messages(b, false), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_set_mask_seed(b, 42), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_add_subprotocol(b, "chat"), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_add_subprotocol(b, "two words"), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_add_subprotocol(b, ""), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_add_subprotocol(b, "\xff"), WSPROTO_ERR_INVALID_UTF8);
    CHECK_EQ(wsproto_config_builder_add_subprotocol(b, NULL), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_deflate(b, false), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_set_deflate_no_context_takeover(b, true, false), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_set_deflate_window_bits(b, 15, 0), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_set_deflate_window_bits(b, 7, 0), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_deflate_window_bits(b, 0, 16), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_deflate_compression(b, 6, 8, 0), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_set_deflate_compression(b, 10, 8, 0), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_deflate_compression(b, 6, 0, 0), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_build(b, NULL), WSPROTO_ERR_NULL_ARGUMENT);

    const wsproto_config *c1 = NULL, *c2 = NULL;
    CHECK_EQ(wsproto_config_builder_build(b, &c1), WSPROTO_OK);
    CHECK(c1 != NULL);
    /* The builder is unchanged and builds again; configs are independent. */
    CHECK_EQ(wsproto_config_builder_set_max_frame_size(b, 3), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_build(b, &c2), WSPROTO_OK);
    CHECK(c2 != NULL && c2 != c1);
    wsproto_config_builder_free(b);

    /* A connection keeps its config alive after the program frees it. */
    wsproto_conn *s = NULL;
    CHECK_EQ(wsproto_conn_server_new(c2, &s), WSPROTO_OK);
    wsproto_config_free(c2);
    wsproto_conn_feed(s, (const uint8_t *)RFC_REQUEST, strlen(RFC_REQUEST));
    wsproto_event ev;
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_accept(s, NULL, NULL, 0), WSPROTO_OK);
    uint8_t buf[512];
    drain(s, buf, sizeof buf);
    size_t n = frame(buf, 1, 0, 2, 1, "abcd", 4); /* over the 3-byte frame limit */
    wsproto_conn_feed(s, buf, n);
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_ERR_TOO_BIG);
    CHECK_EQ(wsproto_conn_close_code_sent(s), 1009);
    wsproto_conn_free(s);
    wsproto_config_free(c1);

    /* NULL is accepted by the frees and refused by everything else. */
    wsproto_config_builder_free(NULL);
    wsproto_config_free(NULL);
    CHECK_EQ(wsproto_config_builder_set_max_frame_size(NULL, 1), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_max_message_size(NULL, 1), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_max_fragments(NULL, 1), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_max_handshake(NULL, 1000, 10), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_auto_pong(NULL, true), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_auto_close(NULL, true), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_partial_messages(NULL, true), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_mask_seed(NULL, 1), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_add_subprotocol(NULL, "x"), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_deflate(NULL, true), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_deflate_no_context_takeover(NULL, true, true), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_deflate_window_bits(NULL, 9, 9), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_config_builder_set_deflate_compression(NULL, 1, 1, 0), WSPROTO_ERR_NULL_ARGUMENT);
    const wsproto_config *none = (const wsproto_config *)1;
    CHECK_EQ(wsproto_config_builder_build(NULL, &none), WSPROTO_ERR_NULL_ARGUMENT);
}

/* ---- the opening handshake ---------------------------------------------- */

static void test_server_request_and_accept(void) {
    wsproto_conn *s = NULL;
    CHECK_EQ(wsproto_conn_server_new(NULL, &s), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_role(s), WSPROTO_ROLE_SERVER);
    CHECK_EQ(wsproto_conn_state(s), WSPROTO_STATE_CONNECTING);
    /* Nothing to read before the request. */
    CHECK(wsproto_conn_request_path(s).ptr == NULL);
    CHECK_EQ(wsproto_conn_handshake_header_count(s), 0);
    CHECK_EQ(wsproto_conn_accept(s, NULL, NULL, 0), WSPROTO_ERR_INVALID_STATE);

    /* Fed in two pieces: the first is not a complete head yet. */
    wsproto_event ev;
    CHECK_EQ(wsproto_conn_feed(s, (const uint8_t *)RFC_REQUEST, 20), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_NO_EVENT);
    CHECK_EQ(ev.kind, WSPROTO_EVENT_NONE);
    CHECK_EQ(wsproto_conn_buffered_input(s), 20);
    CHECK_EQ(wsproto_conn_feed(s, (const uint8_t *)RFC_REQUEST + 20, strlen(RFC_REQUEST) - 20), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_OK);
    CHECK_EQ(ev.kind, WSPROTO_EVENT_REQUEST);

    CHECK_STR(wsproto_conn_request_target(s), "/chat?room=1");
    CHECK_STR(wsproto_conn_request_path(s), "/chat");
    CHECK_STR(wsproto_conn_request_host(s), "server.example.com");
    CHECK_STR(wsproto_conn_request_origin(s), "http://example.com");
    CHECK_EQ(wsproto_conn_request_subprotocol_count(s), 2);
    CHECK_STR(wsproto_conn_request_subprotocol(s, 0), "chat");
    CHECK_STR(wsproto_conn_request_subprotocol(s, 1), "superchat");
    CHECK(wsproto_conn_request_subprotocol(s, 2).ptr == NULL);
    CHECK_EQ(wsproto_conn_request_extension_count(s), 2);
    CHECK_STR(wsproto_conn_request_extension(s, 0), "permessage-deflate; client_max_window_bits");
    CHECK_STR(wsproto_conn_request_extension(s, 1), "x-foo");
    CHECK(wsproto_conn_request_extension(s, 2).ptr == NULL);
    CHECK_EQ(wsproto_conn_handshake_header_count(s), 8);
    wsproto_str name, value;
    CHECK_EQ(wsproto_conn_handshake_header(s, 0, &name, &value), WSPROTO_OK);
    CHECK_STR(name, "Host");
    CHECK_STR(value, "server.example.com");
    CHECK_EQ(wsproto_conn_handshake_header(s, 7, &name, NULL), WSPROTO_OK);
    CHECK_STR(name, "Sec-WebSocket-Version");
    CHECK_EQ(wsproto_conn_handshake_header(s, 8, &name, &value), WSPROTO_ERR_OUT_OF_RANGE);
    CHECK(strcmp(wsproto_conn_last_error(s), "header index out of range") == 0);
    CHECK_STR(wsproto_conn_handshake_header_value(s, "sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
    CHECK(wsproto_conn_handshake_header_value(s, "X-Missing").ptr == NULL);
    CHECK(wsproto_conn_handshake_header_value(s, NULL).ptr == NULL);
    /* Response-side accessors are empty on a server. */
    CHECK_EQ(wsproto_conn_response_status(s), 0);
    CHECK(wsproto_conn_response_reason(s).ptr == NULL);

    /* Misuse leaves the request waiting. */
    CHECK_EQ(wsproto_conn_accept(s, "nope", NULL, 0), WSPROTO_ERR_SUBPROTOCOL_NOT_OFFERED);
    wsproto_header bad[] = {{"X-Bad", "a\r\nInjected: 1"}};
    CHECK_EQ(wsproto_conn_accept(s, "chat", bad, 1), WSPROTO_ERR_INVALID_HEADER);
    wsproto_header badname[] = {{"Bad Name", "v"}};
    CHECK_EQ(wsproto_conn_accept(s, "chat", badname, 1), WSPROTO_ERR_INVALID_HEADER);
    CHECK_EQ(wsproto_conn_accept(s, "chat", NULL, 1), WSPROTO_ERR_NULL_ARGUMENT);
    wsproto_header nullvalue[] = {{"X-A", NULL}};
    CHECK_EQ(wsproto_conn_accept(s, "chat", nullvalue, 1), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_send_text(s, "x", 1), WSPROTO_ERR_INVALID_STATE);
    CHECK_EQ(wsproto_conn_buffered_output(s), 0);

    wsproto_header extra[] = {{"X-Server", "test"}};
    CHECK_EQ(wsproto_conn_accept(s, "chat", extra, 1), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_state(s), WSPROTO_STATE_OPEN);
    static const char expect[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                 "Upgrade: websocket\r\n"
                                 "Connection: Upgrade\r\n"
                                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                 "Sec-WebSocket-Protocol: chat\r\n"
                                 "X-Server: test\r\n"
                                 "\r\n";
    CHECK(wsproto_conn_wants_write(s));
    CHECK_EQ(wsproto_conn_buffered_output(s), strlen(expect));
    uint8_t buf[512];
    size_t n = drain(s, buf, sizeof buf);
    CHECK_BYTES(buf, n, expect, strlen(expect));
    CHECK(!wsproto_conn_wants_write(s));
    CHECK_EQ(wsproto_conn_accept(s, "chat", NULL, 0), WSPROTO_ERR_INVALID_STATE);
    CHECK_EQ(wsproto_conn_reject(s, 400, NULL, 0, NULL, 0), WSPROTO_ERR_INVALID_STATE);

    /* The request stays readable until the next event call. */
    CHECK_STR(wsproto_conn_request_path(s), "/chat");
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_NO_EVENT);
    CHECK(wsproto_conn_request_path(s).ptr == NULL);
    CHECK_EQ(wsproto_conn_request_subprotocol_count(s), 0);
    CHECK_EQ(wsproto_conn_request_extension_count(s), 0);
    wsproto_conn_free(s);
}

static void test_client_handshake(void) {
    const wsproto_config *cfg = config_with(7, 0, 1, 1);
    const char *protos[] = {"chat", "v2.chat"};
    wsproto_header headers[] = {{"Authorization", "Bearer x"}};
    wsproto_conn *c = NULL, *c2 = NULL;
    CHECK_EQ(wsproto_conn_client_new(cfg, "example.com:8080", "/a/b?c=d", "http://o.example", protos, 2, headers, 1, &c),
             WSPROTO_OK);
    CHECK_EQ(wsproto_conn_role(c), WSPROTO_ROLE_CLIENT);
    CHECK_EQ(wsproto_conn_client_new(cfg, "example.com:8080", "/a/b?c=d", "http://o.example", protos, 2, headers, 1,
                                     &c2),
             WSPROTO_OK);
    uint8_t req[1024], req2[1024];
    size_t n = drain(c, req, sizeof req), n2 = drain(c2, req2, sizeof req2);
    static const char head[] = "GET /a/b?c=d HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Key: ";
    CHECK(n > strlen(head) && memcmp(req, head, strlen(head)) == 0);
    /* A test seed makes the key, and so the whole request, deterministic. */
    CHECK_BYTES(req, n, req2, n2);
    static const char tail[] = "Sec-WebSocket-Version: 13\r\nOrigin: http://o.example\r\n"
                               "Sec-WebSocket-Protocol: chat, v2.chat\r\nAuthorization: Bearer x\r\n\r\n";
    CHECK(n > strlen(tail) && memcmp(req + n - strlen(tail), tail, strlen(tail)) == 0);
    wsproto_conn_free(c2);

    /* The server side, fed this request, answers; the client validates it. */
    wsproto_conn *s = NULL;
    wsproto_conn_server_new(NULL, &s);
    wsproto_conn_feed(s, req, n);
    wsproto_event ev;
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_OK);
    wsproto_header extra[] = {{"X-Served-By", "test"}};
    CHECK_EQ(wsproto_conn_accept(s, "v2.chat", extra, 1), WSPROTO_OK);
    pump(s, c);
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_OK);
    CHECK_EQ(ev.kind, WSPROTO_EVENT_ACCEPTED);
    CHECK_EQ(wsproto_conn_state(c), WSPROTO_STATE_OPEN);
    CHECK_EQ(wsproto_conn_response_status(c), 101);
    CHECK_STR(wsproto_conn_response_reason(c), "Switching Protocols");
    CHECK_STR(wsproto_conn_response_subprotocol(c), "v2.chat");
    CHECK_EQ(wsproto_conn_handshake_header_count(c), 5);
    CHECK_STR(wsproto_conn_handshake_header_value(c, "x-served-by"), "test");
    wsproto_str name, value;
    CHECK_EQ(wsproto_conn_handshake_header(c, 4, &name, &value), WSPROTO_OK);
    CHECK_STR(name, "X-Served-By");
    CHECK(wsproto_conn_request_path(c).ptr == NULL);
    /* Readable until the next event call. */
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_NO_EVENT);
    CHECK_EQ(wsproto_conn_response_status(c), 0);
    CHECK(wsproto_conn_response_subprotocol(c).ptr == NULL);
    CHECK_EQ(wsproto_conn_accept(c, NULL, NULL, 0), WSPROTO_ERR_INVALID_STATE);
    wsproto_conn_free(c);
    wsproto_conn_free(s);
    wsproto_config_free(cfg);
}

static void test_client_new_misuse(void) {
    wsproto_conn *c = (wsproto_conn *)1;
    CHECK_EQ(wsproto_conn_client_new(NULL, NULL, "/", NULL, NULL, 0, NULL, 0, &c), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK(c == NULL);
    CHECK_EQ(wsproto_conn_client_new(NULL, "h", NULL, NULL, NULL, 0, NULL, 0, &c), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_client_new(NULL, "h", "/", NULL, NULL, 0, NULL, 0, NULL), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_client_new(NULL, "", "/", NULL, NULL, 0, NULL, 0, &c), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_conn_client_new(NULL, "h", "nopath", NULL, NULL, 0, NULL, 0, &c), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_conn_client_new(NULL, "h", "/a b", NULL, NULL, 0, NULL, 0, &c), WSPROTO_ERR_INVALID_ARGUMENT);
    const char *bad_protos[] = {"a b"};
    CHECK_EQ(wsproto_conn_client_new(NULL, "h", "/", NULL, bad_protos, 1, NULL, 0, &c), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_conn_client_new(NULL, "h", "/", NULL, NULL, 1, NULL, 0, &c), WSPROTO_ERR_NULL_ARGUMENT);
    const char *null_proto[] = {NULL};
    CHECK_EQ(wsproto_conn_client_new(NULL, "h", "/", NULL, null_proto, 1, NULL, 0, &c), WSPROTO_ERR_NULL_ARGUMENT);
    wsproto_header bad[] = {{"X-A", "1\r\n2"}};
    CHECK_EQ(wsproto_conn_client_new(NULL, "h", "/", NULL, NULL, 0, bad, 1, &c), WSPROTO_ERR_INVALID_HEADER);
    CHECK_EQ(wsproto_conn_client_new(NULL, "h", "/", "bad\norigin", NULL, 0, NULL, 0, &c), WSPROTO_ERR_INVALID_HEADER);
    CHECK_EQ(wsproto_conn_client_new(NULL, "h\xff", "/", NULL, NULL, 0, NULL, 0, &c), WSPROTO_ERR_INVALID_UTF8);
    CHECK(c == NULL);
    CHECK_EQ(wsproto_conn_server_new(NULL, NULL), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_open_new(NULL, 5, &c), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_conn_open_new(NULL, WSPROTO_ROLE_CLIENT, NULL), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_open_new(NULL, WSPROTO_ROLE_CLIENT, &c), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_role(c), WSPROTO_ROLE_CLIENT);
    CHECK_EQ(wsproto_conn_state(c), WSPROTO_STATE_OPEN);
    wsproto_conn_free(c);
}

static void test_reject(void) {
    const char *protos[] = {"chat"};
    wsproto_conn *c = NULL, *s = NULL;
    wsproto_conn_client_new(NULL, "h", "/", NULL, protos, 1, NULL, 0, &c);
    wsproto_conn_server_new(NULL, &s);
    pump(c, s);
    wsproto_event ev;
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_reject(s, 101, NULL, 0, NULL, 0), WSPROTO_ERR_INVALID_STATUS);
    CHECK_EQ(wsproto_conn_reject(s, 600, NULL, 0, NULL, 0), WSPROTO_ERR_INVALID_STATUS);
    CHECK_EQ(wsproto_conn_reject(s, 403, NULL, 0, NULL, 5), WSPROTO_ERR_NULL_ARGUMENT);
    wsproto_header bad[] = {{"X", "\n"}};
    CHECK_EQ(wsproto_conn_reject(s, 403, bad, 1, NULL, 0), WSPROTO_ERR_INVALID_HEADER);
    CHECK_EQ(wsproto_conn_http_status_sent(s), 0);
    wsproto_header h[] = {{"Content-Type", "text/plain"}};
    CHECK_EQ(wsproto_conn_reject(s, 403, h, 1, (const uint8_t *)"go away", 7), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_http_status_sent(s), 403);
    CHECK_EQ(wsproto_conn_state(s), WSPROTO_STATE_CLOSED);
    static const char expect[] = "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\ngo away";
    CHECK_EQ(wsproto_conn_buffered_output(s), strlen(expect));
    wsproto_iovec iov[1];
    size_t count = 0;
    CHECK_EQ(wsproto_conn_output_iov(s, iov, 1, &count), WSPROTO_OK);
    CHECK_EQ(count, 1);
    CHECK_BYTES(iov[0].base, iov[0].len, expect, strlen(expect));
    pump(s, c);
    CHECK(wsproto_conn_should_close_transport(s));
    CHECK_EQ(wsproto_conn_send_text(s, "x", 1), WSPROTO_ERR_CLOSED);

    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_OK);
    CHECK_EQ(ev.kind, WSPROTO_EVENT_REJECTED);
    CHECK_EQ(wsproto_conn_response_status(c), 403);
    CHECK_STR(wsproto_conn_response_reason(c), "Forbidden");
    CHECK_STR(wsproto_conn_handshake_header_value(c, "content-type"), "text/plain");
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_OK);
    CHECK_EQ(ev.kind, WSPROTO_EVENT_REJECT_BODY);
    CHECK_BYTES(ev.data, ev.len, "go away", 7);
    CHECK(ev.fin);
    CHECK_EQ(wsproto_conn_state(c), WSPROTO_STATE_CLOSED);
    /* A rejection stays readable until the connection is freed. */
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_NO_EVENT);
    CHECK_EQ(wsproto_conn_response_status(c), 403);
    CHECK_EQ(wsproto_conn_send_text(c, "x", 1), WSPROTO_ERR_CLOSED);
    wsproto_conn_free(c);
    wsproto_conn_free(s);
}

/* A server fed `request` fails with `expect` and answers `status`. */
static void bad_request(const char *request, const wsproto_config *cfg, wsproto_result expect, unsigned status) {
    wsproto_conn *s = NULL;
    wsproto_conn_server_new(cfg, &s);
    wsproto_conn_feed(s, (const uint8_t *)request, strlen(request));
    wsproto_event ev;
    CHECK_EQ(wsproto_conn_next_event(s, &ev), expect);
    CHECK_EQ(wsproto_conn_http_status_sent(s), status);
    CHECK_EQ(wsproto_conn_close_code_sent(s), 0);
    CHECK_EQ(wsproto_conn_state(s), WSPROTO_STATE_CLOSED);
    CHECK(wsproto_conn_last_error(s)[0] != '\0');
    uint8_t buf[1024];
    size_t n = drain(s, buf, sizeof buf);
    char line[32];
    snprintf(line, sizeof line, "HTTP/1.1 %u ", status);
    CHECK(n > strlen(line) && memcmp(buf, line, strlen(line)) == 0);
    CHECK(wsproto_conn_should_close_transport(s));
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_NO_EVENT);
    wsproto_conn_free(s);
}

static void test_bad_handshakes(void) {
    bad_request("POST / HTTP/1.1\r\nHost: h\r\n\r\n", NULL, WSPROTO_ERR_BAD_HANDSHAKE, 400);
    bad_request("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\n\r\n",
                NULL, WSPROTO_ERR_UNSUPPORTED_VERSION, 426);
    bad_request("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
                NULL, WSPROTO_ERR_BAD_HANDSHAKE, 400);
    bad_request("\x16\x03\x01 TLS? \r\n\r\n", NULL, WSPROTO_ERR_BAD_HANDSHAKE, 400);
    wsproto_config_builder *b = wsproto_config_builder_new();
    wsproto_config_builder_set_max_handshake(b, 64, 100);
    const wsproto_config *small = NULL;
    wsproto_config_builder_build(b, &small);
    wsproto_config_builder_free(b);
    bad_request(RFC_REQUEST, small, WSPROTO_ERR_HANDSHAKE_TOO_LARGE, 431);
    wsproto_config_free(small);

    /* Client: a 101 whose accept key is wrong fails the handshake. */
    wsproto_conn *c = NULL;
    wsproto_conn_client_new(NULL, "h", "/", NULL, NULL, 0, NULL, 0, &c);
    static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    wsproto_conn_feed(c, (const uint8_t *)resp, strlen(resp));
    wsproto_event ev;
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_ERR_BAD_HANDSHAKE);
    CHECK_EQ(wsproto_conn_state(c), WSPROTO_STATE_CLOSED);
    CHECK_EQ(wsproto_conn_http_status_sent(c), 0);
    CHECK(strstr(wsproto_conn_last_error(c), "Sec-WebSocket-Accept") != NULL);
    wsproto_conn_free(c);
}

static void test_auto_subprotocol(void) {
    wsproto_config_builder *b = wsproto_config_builder_new();
    wsproto_config_builder_add_subprotocol(b, "v2");
    wsproto_config_builder_add_subprotocol(b, "v1");
    const wsproto_config *scfg = NULL;
    wsproto_config_builder_build(b, &scfg);
    wsproto_config_builder_free(b);
    const char *offer[] = {"v1", "v2"};
    wsproto_conn *c = NULL, *s = NULL;
    wsproto_conn_client_new(NULL, "h", "/", NULL, offer, 2, NULL, 0, &c);
    wsproto_conn_server_new(scfg, &s);
    pump(c, s);
    wsproto_event ev;
    wsproto_conn_next_event(s, &ev);
    /* NULL: the server's own preference among what the client offered. */
    CHECK_EQ(wsproto_conn_accept(s, NULL, NULL, 0), WSPROTO_OK);
    pump(s, c);
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_OK);
    CHECK_STR(wsproto_conn_response_subprotocol(c), "v2");
    wsproto_conn_free(c);
    wsproto_conn_free(s);

    /* No overlap: no subprotocol. */
    const char *other[] = {"v9"};
    wsproto_conn_client_new(NULL, "h", "/", NULL, other, 1, NULL, 0, &c);
    wsproto_conn_server_new(scfg, &s);
    pump(c, s);
    wsproto_conn_next_event(s, &ev);
    CHECK_EQ(wsproto_conn_accept(s, NULL, NULL, 0), WSPROTO_OK);
    pump(s, c);
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_OK);
    CHECK(wsproto_conn_response_subprotocol(c).ptr == NULL);
    wsproto_conn_free(c);
    wsproto_conn_free(s);
    wsproto_config_free(scfg);
}

static void test_deflate(void) {
    wsproto_config_builder *b = wsproto_config_builder_new();
    CHECK_EQ(wsproto_config_builder_set_deflate(b, true), WSPROTO_OK);
    CHECK_EQ(wsproto_config_builder_set_deflate_no_context_takeover(b, true, true), WSPROTO_OK);
    const wsproto_config *cfg = NULL;
    wsproto_config_builder_build(b, &cfg);
    wsproto_config_builder_free(b);
    wsproto_conn *c = NULL, *s = NULL;
    CHECK_EQ(wsproto_conn_client_new(cfg, "h", "/", NULL, NULL, 0, NULL, 0, &c), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_server_new(cfg, &s), WSPROTO_OK);
    CHECK(wsproto_conn_extension(s).ptr == NULL);
    pump(c, s);
    wsproto_event ev;
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_request_extension_count(s), 1);
    wsproto_str offer = wsproto_conn_request_extension(s, 0);
    CHECK(offer.len > 18 && memcmp(offer.ptr, "permessage-deflate", 18) == 0);
    CHECK_EQ(wsproto_conn_accept(s, NULL, NULL, 0), WSPROTO_OK);
    CHECK_STR(wsproto_conn_extension(s), "permessage-deflate");
    pump(s, c);
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_OK);
    CHECK_EQ(ev.kind, WSPROTO_EVENT_ACCEPTED);
    CHECK_STR(wsproto_conn_extension(c), "permessage-deflate");
    wsproto_str ext = wsproto_conn_handshake_header_value(c, "Sec-WebSocket-Extensions");
    CHECK(ext.len >= 18 && memcmp(ext.ptr, "permessage-deflate", 18) == 0);

    /* A compressible message travels compressed (RSV1, fewer bytes). */
    char text[2000];
    memset(text, 'w', sizeof text);
    CHECK_EQ(wsproto_conn_send_text(s, text, sizeof text), WSPROTO_OK);
    wsproto_iovec iov[1];
    size_t n = 0;
    CHECK_EQ(wsproto_conn_output_iov(s, iov, 1, &n), WSPROTO_OK);
    CHECK_EQ(iov[0].base[0], 0xc1); /* FIN + RSV1 + text */
    CHECK(iov[0].len < 100);
    pump(s, c);
    expect_event(c, WSPROTO_EVENT_TEXT, text, sizeof text, true);
    CHECK_EQ(wsproto_conn_send_binary(c, (const uint8_t *)text, 1000), WSPROTO_OK);
    pump(c, s);
    expect_event(s, WSPROTO_EVENT_BINARY, text, 1000, true);

    /* A compressed frame that does not inflate fails the connection with the
     * close code the extension chose (1007: the data is not deflate data). */
    uint8_t bad[16];
    size_t blen = frame(bad, 1, 4, 2, 1, "\xff\xff\xff\xff", 4);
    wsproto_conn_feed(s, bad, blen);
    wsproto_result r = wsproto_conn_next_event(s, &ev);
    CHECK_EQ(r, WSPROTO_ERR_EXTENSION);
    CHECK_EQ(wsproto_conn_close_code_sent(s), 1007);
    CHECK(strstr(wsproto_conn_last_error(s), "deflate") != NULL);
    CHECK_EQ(wsproto_conn_state(s), WSPROTO_STATE_CLOSED);
    wsproto_conn_free(c);
    wsproto_conn_free(s);
    wsproto_config_free(cfg);
}

/* ---- messages ------------------------------------------------------------ */


static void test_messages(void) {
    wsproto_conn *c = NULL, *s = NULL;
    open_pair(NULL, NULL, &c, &s);

    /* Exact server frames (unmasked). */
    uint8_t buf[512];
    CHECK_EQ(wsproto_conn_send_text(s, "hi", 2), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_binary(s, (const uint8_t *)"\x00\xff", 2), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_ping(s, (const uint8_t *)"p", 1), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_pong(s, NULL, 0), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_fragment(s, WSPROTO_DATA_TEXT, (const uint8_t *)"abc", 3, false), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_ping(s, (const uint8_t *)"q", 1), WSPROTO_OK); /* control frames may interleave */
    CHECK_EQ(wsproto_conn_send_fragment(s, WSPROTO_DATA_TEXT, (const uint8_t *)"def", 3, true), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_text(s, NULL, 0), WSPROTO_OK);
    static const uint8_t expect[] = {0x81, 2, 'h', 'i', 0x82, 2, 0x00, 0xff, 0x89, 1, 'p', 0x8a, 0, 0x01, 3, 'a', 'b',
                                     'c', 0x89, 1, 'q', 0x80, 3, 'd', 'e', 'f', 0x81, 0};
    wsproto_iovec iov[1];
    size_t count = 0;
    CHECK_EQ(wsproto_conn_output_iov(s, iov, 1, &count), WSPROTO_OK);
    CHECK_BYTES(iov[0].base, iov[0].len, expect, sizeof expect);
    pump(s, c);
    expect_event(c, WSPROTO_EVENT_TEXT, "hi", 2, true);
    expect_event(c, WSPROTO_EVENT_BINARY, "\x00\xff", 2, true);
    expect_event(c, WSPROTO_EVENT_PING, "p", 1, true);
    expect_event(c, WSPROTO_EVENT_PONG, "", 0, true);
    expect_event(c, WSPROTO_EVENT_PING, "q", 1, true);
    expect_event(c, WSPROTO_EVENT_TEXT, "abcdef", 6, true);
    expect_event(c, WSPROTO_EVENT_TEXT, "", 0, true);
    wsproto_event ev;
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_NO_EVENT);
    /* auto_pong answered both pings: masked pongs are queued on the client. */
    size_t n = drain(c, buf, sizeof buf);
    CHECK_EQ(n, 2 * (2 + 4 + 1));
    CHECK_EQ(buf[0], 0x8a);
    CHECK_EQ(buf[1], 0x80 | 1);

    /* Client to server: a 300-byte binary message (16-bit length) and a
     * UTF-8 text split inside a code point across fragments. */
    uint8_t big[300];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)i;
    CHECK_EQ(wsproto_conn_send_binary(c, big, sizeof big), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_fragment(c, WSPROTO_DATA_TEXT, (const uint8_t *)"caf\xc3", 4, false), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_fragment(c, WSPROTO_DATA_TEXT, (const uint8_t *)"\xa9", 1, true), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_fragment(c, WSPROTO_DATA_BINARY, (const uint8_t *)"x", 1, true), WSPROTO_OK);
    pump(c, s);
    expect_event(s, WSPROTO_EVENT_BINARY, big, sizeof big, true);
    expect_event(s, WSPROTO_EVENT_TEXT, "caf\xc3\xa9", 5, true);
    expect_event(s, WSPROTO_EVENT_BINARY, "x", 1, true);

    /* An event's payload can be echoed straight back. */
    CHECK_EQ(wsproto_conn_send_text(c, "echo me", 7), WSPROTO_OK);
    pump(c, s);
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_text(s, (const char *)ev.data, ev.len), WSPROTO_OK);
    pump(s, c);
    expect_event(c, WSPROTO_EVENT_TEXT, "echo me", 7, true);
    CHECK_EQ(wsproto_conn_close_code_sent(s), 0);
    wsproto_conn_free(c);
    wsproto_conn_free(s);
}

static void test_send_misuse(void) {
    wsproto_conn *c = NULL, *s = NULL;
    open_pair(NULL, NULL, &c, &s);
    char big[200];
    memset(big, 'a', sizeof big);
    CHECK_EQ(wsproto_conn_send_text(s, "\xff\xfe", 2), WSPROTO_ERR_INVALID_UTF8);
    CHECK(strstr(wsproto_conn_last_error(s), "UTF-8") != NULL);
    CHECK_EQ(wsproto_conn_send_text(s, "\xc3", 1), WSPROTO_ERR_INVALID_UTF8);
    CHECK_EQ(wsproto_conn_send_text(s, NULL, 3), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK(strcmp(wsproto_conn_last_error(s), "a required pointer argument was NULL") == 0);
    CHECK_EQ(wsproto_conn_send_binary(s, NULL, 3), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_send_ping(s, (const uint8_t *)big, 126), WSPROTO_ERR_CONTROL_TOO_LONG);
    CHECK_EQ(wsproto_conn_send_ping(s, (const uint8_t *)big, 125), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_pong(s, (const uint8_t *)big, 126), WSPROTO_ERR_CONTROL_TOO_LONG);
    CHECK_EQ(wsproto_conn_send_ping(s, NULL, 1), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_send_pong(s, NULL, 1), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_close(s, 1000, big, 124), WSPROTO_ERR_CONTROL_TOO_LONG);
    CHECK_EQ(wsproto_conn_close(s, 1005, "x", 1), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_conn_close(s, 999, NULL, 0), WSPROTO_ERR_INVALID_CLOSE_CODE);
    CHECK_EQ(wsproto_conn_close(s, 1006, NULL, 0), WSPROTO_ERR_INVALID_CLOSE_CODE);
    CHECK_EQ(wsproto_conn_close(s, 2000, NULL, 0), WSPROTO_ERR_INVALID_CLOSE_CODE);
    CHECK_EQ(wsproto_conn_close(s, 5000, NULL, 0), WSPROTO_ERR_INVALID_CLOSE_CODE);
    CHECK_EQ(wsproto_conn_close(s, 1000, "\xff", 1), WSPROTO_ERR_INVALID_UTF8);
    CHECK_EQ(wsproto_conn_close(s, 1000, NULL, 2), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_send_fragment(s, 7, (const uint8_t *)"x", 1, true), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_conn_send_fragment(s, WSPROTO_DATA_TEXT, (const uint8_t *)"\xff", 1, true),
             WSPROTO_ERR_INVALID_UTF8);
    CHECK_EQ(wsproto_conn_send_fragment(s, WSPROTO_DATA_TEXT, NULL, 1, true), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_send_fragment(s, WSPROTO_DATA_TEXT, (const uint8_t *)"ab", 2, false), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_fragment(s, WSPROTO_DATA_BINARY, (const uint8_t *)"c", 1, true),
             WSPROTO_ERR_FRAGMENT_MISMATCH);
    CHECK_EQ(wsproto_conn_send_text(s, "c", 1), WSPROTO_ERR_FRAGMENT_MISMATCH);
    CHECK_EQ(wsproto_conn_send_binary(s, (const uint8_t *)"c", 1), WSPROTO_ERR_FRAGMENT_MISMATCH);
    /* Ending the text inside a code point is refused; the message goes on. */
    CHECK_EQ(wsproto_conn_send_fragment(s, WSPROTO_DATA_TEXT, (const uint8_t *)"\xc3", 1, true),
             WSPROTO_ERR_INVALID_UTF8);
    CHECK_EQ(wsproto_conn_send_fragment(s, WSPROTO_DATA_TEXT, (const uint8_t *)"c", 1, true), WSPROTO_OK);
    /* Only the successful commands produced frames. */
    pump(s, c);
    wsproto_event ev;
    expect_event(c, WSPROTO_EVENT_PING, big, 125, true);
    expect_event(c, WSPROTO_EVENT_TEXT, "abc", 3, true);
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_NO_EVENT);

    /* After close: every send fails with WSPROTO_ERR_CLOSED. */
    CHECK_EQ(wsproto_conn_close(s, 4000, "done", 4), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_close_code_sent(s), 4000);
    CHECK_EQ(wsproto_conn_state(s), WSPROTO_STATE_LOCAL_CLOSING);
    CHECK_EQ(wsproto_conn_send_text(s, "x", 1), WSPROTO_ERR_CLOSED);
    CHECK_EQ(wsproto_conn_send_binary(s, (const uint8_t *)"x", 1), WSPROTO_ERR_CLOSED);
    CHECK_EQ(wsproto_conn_send_fragment(s, WSPROTO_DATA_BINARY, (const uint8_t *)"x", 1, true), WSPROTO_ERR_CLOSED);
    CHECK_EQ(wsproto_conn_send_ping(s, NULL, 0), WSPROTO_ERR_CLOSED);
    CHECK_EQ(wsproto_conn_close(s, 1000, NULL, 0), WSPROTO_ERR_CLOSED);
    /* A pong may still answer a ping after our close frame (RFC 6455 §5.5.2). */
    CHECK_EQ(wsproto_conn_send_pong(s, NULL, 0), WSPROTO_OK);
    uint8_t buf[64];
    size_t n = drain(s, buf, sizeof buf);
    static const uint8_t close_frame[] = {0x88, 6, 0x0f, 0xa0, 'd', 'o', 'n', 'e', 0x8a, 0};
    CHECK_BYTES(buf, n, close_frame, sizeof close_frame);
    wsproto_conn_free(c);
    wsproto_conn_free(s);
}

/* A connection of `role` fed `bytes` fails with `expect`, queues a close
 * frame with `code`, and refuses further use. */
static void violation(wsproto_role role, const wsproto_config *cfg, const uint8_t *bytes, size_t len,
                      wsproto_result expect, uint16_t code) {
    wsproto_conn *c = NULL;
    CHECK_EQ(wsproto_conn_open_new(cfg, role, &c), WSPROTO_OK);
    wsproto_conn_feed(c, bytes, len);
    wsproto_event ev;
    wsproto_result r;
    while ((r = wsproto_conn_next_event(c, &ev)) == WSPROTO_OK) {
    }
    CHECK_EQ(r, expect);
    CHECK_EQ(wsproto_conn_close_code_sent(c), code);
    CHECK_EQ(wsproto_conn_state(c), WSPROTO_STATE_CLOSED);
    CHECK(wsproto_conn_last_error(c)[0] != '\0');
    uint8_t out[256];
    size_t n = drain(c, out, sizeof out);
    /* One close frame carrying the code (masked when sent by a client). */
    int masked = role == WSPROTO_ROLE_CLIENT;
    CHECK(n >= (size_t)(4 + (masked ? 4 : 0)));
    if (n >= 8) {
        CHECK_EQ(out[0], 0x88);
        CHECK_EQ((out[1] & 0x80) != 0, masked);
        CHECK_EQ((size_t)(out[1] & 0x7f) + 2 + (masked ? 4 : 0), n);
        /* A client's payload follows its 4-byte mask key. */
        uint8_t hi = masked ? out[6] ^ out[2] : out[2];
        uint8_t lo = masked ? out[7] ^ out[3] : out[3];
        CHECK_EQ(((unsigned)hi << 8) | lo, code);
    }
    CHECK(wsproto_conn_should_close_transport(c));
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_NO_EVENT);
    CHECK_EQ(wsproto_conn_send_text(c, "x", 1), WSPROTO_ERR_CLOSED);
    CHECK_EQ(wsproto_conn_send_ping(c, NULL, 0), WSPROTO_ERR_CLOSED);
    CHECK_EQ(wsproto_conn_close(c, 1000, NULL, 0), WSPROTO_ERR_CLOSED);
    /* More input after the failure is ignored. */
    CHECK_EQ(wsproto_conn_feed(c, bytes, len), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_NO_EVENT);
    wsproto_conn_free(c);
}

static void test_peer_violations(void) {
    uint8_t b[70000];
    size_t n;
    const wsproto_role S = WSPROTO_ROLE_SERVER, C = WSPROTO_ROLE_CLIENT;

    n = frame(b, 1, 0, 1, 0, "hi", 2); /* unmasked client frame */
    violation(S, NULL, b, n, WSPROTO_ERR_BAD_MASKING, 1002);
    n = frame(b, 1, 0, 1, 1, "hi", 2); /* masked server frame */
    violation(C, NULL, b, n, WSPROTO_ERR_BAD_MASKING, 1002);
    n = frame(b, 1, 0, 3, 1, "", 0);
    violation(S, NULL, b, n, WSPROTO_ERR_RESERVED_OPCODE, 1002);
    n = frame(b, 1, 0, 0xb, 1, "", 0);
    violation(S, NULL, b, n, WSPROTO_ERR_RESERVED_OPCODE, 1002);
    n = frame(b, 1, 4, 1, 1, "hi", 2); /* RSV1 without an extension */
    violation(S, NULL, b, n, WSPROTO_ERR_RESERVED_BITS, 1002);
    n = frame(b, 1, 0, 9, 1, b + 1000, 126);
    violation(S, NULL, b, n, WSPROTO_ERR_BAD_CONTROL_FRAME, 1002);
    n = frame(b, 0, 0, 9, 1, "p", 1); /* fragmented ping */
    violation(S, NULL, b, n, WSPROTO_ERR_BAD_CONTROL_FRAME, 1002);
    static const uint8_t nonminimal[] = {0x82, 0x80 | 126, 0, 5, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'};
    violation(S, NULL, nonminimal, sizeof nonminimal, WSPROTO_ERR_BAD_LENGTH, 1002);
    static const uint8_t topbit[] = {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    violation(S, NULL, topbit, sizeof topbit, WSPROTO_ERR_BAD_LENGTH, 1002);
    n = frame(b, 1, 0, 0, 1, "x", 1); /* continuation with nothing to continue */
    violation(S, NULL, b, n, WSPROTO_ERR_BAD_FRAGMENTATION, 1002);
    n = frame(b, 0, 0, 1, 1, "a", 1);
    n += frame(b + n, 1, 0, 1, 1, "b", 1); /* new message inside a fragmented one */
    violation(S, NULL, b, n, WSPROTO_ERR_BAD_FRAGMENTATION, 1002);
    n = frame(b, 1, 0, 8, 1, "\x03", 1);
    violation(S, NULL, b, n, WSPROTO_ERR_BAD_CLOSE_PAYLOAD, 1002);
    n = frame(b, 1, 0, 8, 1, "\x03\xed", 2); /* 1005 may not be sent */
    violation(S, NULL, b, n, WSPROTO_ERR_BAD_CLOSE_PAYLOAD, 1002);
    n = frame(b, 1, 0, 8, 1, "\x03\xe8\xff", 3);
    violation(S, NULL, b, n, WSPROTO_ERR_REMOTE_INVALID_UTF8, 1007);
    n = frame(b, 1, 0, 1, 1, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", 14); /* surrogate */
    violation(S, NULL, b, n, WSPROTO_ERR_REMOTE_INVALID_UTF8, 1007);
    n = frame(b, 1, 0, 1, 0, "\xc3", 1); /* server text ending inside a code point, at a client */
    violation(C, NULL, b, n, WSPROTO_ERR_REMOTE_INVALID_UTF8, 1007);

    wsproto_config_builder *bl = wsproto_config_builder_new();
    wsproto_config_builder_set_max_frame_size(bl, 1000);
    wsproto_config_builder_set_max_message_size(bl, 1500);
    wsproto_config_builder_set_max_fragments(bl, 3);
    const wsproto_config *lim = NULL;
    wsproto_config_builder_build(bl, &lim);
    wsproto_config_builder_free(bl);
    memset(b + 60000, 'z', 1001);
    n = frame(b, 1, 0, 2, 1, b + 60000, 1001);
    violation(S, lim, b, n, WSPROTO_ERR_TOO_BIG, 1009);
    n = frame(b, 0, 0, 2, 1, b + 60000, 1000);
    n += frame(b + n, 1, 0, 0, 1, b + 60000, 501);
    violation(S, lim, b, n, WSPROTO_ERR_TOO_BIG, 1009);
    n = 0;
    for (int i = 0; i < 4; i++) n += frame(b + n, i == 3, 0, i == 0 ? 2 : 0, 1, "f", 1);
    violation(S, lim, b, n, WSPROTO_ERR_TOO_BIG, 1009);
    wsproto_config_free(lim);
}

static void test_close_handshake(void) {
    wsproto_conn *c = NULL, *s = NULL;
    open_pair(NULL, NULL, &c, &s);
    CHECK_EQ(wsproto_conn_close(c, 1000, "bye", 3), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_state(c), WSPROTO_STATE_LOCAL_CLOSING);
    CHECK_EQ(wsproto_conn_close_code_sent(c), 1000);
    pump(c, s);
    expect_event(s, WSPROTO_EVENT_CLOSE, "bye", 3, true);
    CHECK_EQ(wsproto_conn_state(s), WSPROTO_STATE_CLOSED);
    CHECK_EQ(wsproto_conn_close_code_sent(s), 1000); /* echoed by auto_close */
    uint8_t buf[16];
    wsproto_iovec iov[1];
    size_t cnt;
    wsproto_conn_output_iov(s, iov, 1, &cnt);
    static const uint8_t echo[] = {0x88, 2, 0x03, 0xe8};
    CHECK_BYTES(iov[0].base, iov[0].len, echo, sizeof echo);
    CHECK(!wsproto_conn_should_close_transport(s));
    pump(s, c);
    CHECK(wsproto_conn_should_close_transport(s));
    wsproto_event ev;
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_OK);
    CHECK_EQ(ev.kind, WSPROTO_EVENT_CLOSE);
    CHECK_EQ(ev.close_code, 1000);
    CHECK_EQ(ev.len, 0);
    CHECK_EQ(wsproto_conn_state(c), WSPROTO_STATE_CLOSED);
    CHECK(wsproto_conn_should_close_transport(c));
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_NO_EVENT);
    (void)buf;
    wsproto_conn_free(c);
    wsproto_conn_free(s);

    /* auto_close off: the program answers, with its own code. */
    const wsproto_config *manual = config_with(0, 0, 1, 0);
    open_pair(NULL, manual, &c, &s);
    CHECK_EQ(wsproto_conn_close(c, 1001, NULL, 0), WSPROTO_OK);
    pump(c, s);
    expect_event(s, WSPROTO_EVENT_CLOSE, "", 0, true);
    CHECK_EQ(wsproto_conn_state(s), WSPROTO_STATE_REMOTE_CLOSING);
    CHECK_EQ(wsproto_conn_close_code_sent(s), 0);
    CHECK(!wsproto_conn_wants_write(s));
    CHECK_EQ(wsproto_conn_send_text(s, "late", 4), WSPROTO_ERR_CLOSED);
    CHECK_EQ(wsproto_conn_send_ping(s, NULL, 0), WSPROTO_OK); /* control frames still may go */
    CHECK_EQ(wsproto_conn_close(s, 4001, "ok", 2), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_state(s), WSPROTO_STATE_CLOSED);
    CHECK_EQ(wsproto_conn_close_code_sent(s), 4001);
    pump(s, c);
    expect_event(c, WSPROTO_EVENT_PING, "", 0, true);
    expect_event(c, WSPROTO_EVENT_CLOSE, "ok", 2, true);
    wsproto_conn_free(c);
    wsproto_conn_free(s);
    wsproto_config_free(manual);

    /* A close frame without a code is reported as 1005 and echoed empty. */
    open_pair(NULL, NULL, &c, &s);
    CHECK_EQ(wsproto_conn_close(c, 1005, NULL, 0), WSPROTO_OK);
    pump(c, s);
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_OK);
    CHECK_EQ(ev.close_code, 1005);
    CHECK_EQ(wsproto_conn_close_code_sent(s), 1005);
    uint8_t out[8];
    size_t n = drain(s, out, sizeof out);
    static const uint8_t empty_close[] = {0x88, 0};
    CHECK_BYTES(out, n, empty_close, 2);
    wsproto_conn_free(c);
    wsproto_conn_free(s);
}

static void test_eof_and_partial(void) {
    wsproto_conn *c = NULL, *s = NULL;
    open_pair(NULL, NULL, &c, &s);
    CHECK_EQ(wsproto_conn_feed_eof(s), WSPROTO_OK);
    wsproto_event ev;
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_OK);
    CHECK_EQ(ev.kind, WSPROTO_EVENT_CLOSE);
    CHECK_EQ(ev.close_code, 1006);
    CHECK_EQ(wsproto_conn_close_code_sent(s), 0);
    CHECK_EQ(wsproto_conn_state(s), WSPROTO_STATE_CLOSED);
    CHECK(wsproto_conn_should_close_transport(s));
    wsproto_conn_free(c);
    wsproto_conn_free(s);

    /* Partial messages: pieces as they arrive, `fin` on the last. */
    const wsproto_config *partial = config_with(0, 1, 0, 1);
    CHECK_EQ(wsproto_conn_open_new(partial, WSPROTO_ROLE_SERVER, &s), WSPROTO_OK);
    uint8_t b[64];
    size_t n = frame(b, 0, 0, 2, 1, "abcdef", 6);
    wsproto_conn_feed(s, b, 9); /* header + 3 payload bytes */
    expect_event(s, WSPROTO_EVENT_BINARY, "abc", 3, false);
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_NO_EVENT);
    wsproto_conn_feed(s, b + 9, n - 9);
    expect_event(s, WSPROTO_EVENT_BINARY, "def", 3, false);
    n = frame(b, 1, 0, 0, 1, "gh", 2);
    wsproto_conn_feed(s, b, n);
    expect_event(s, WSPROTO_EVENT_BINARY, "gh", 2, true);
    /* auto_pong off: a ping is reported and nothing is queued. */
    n = frame(b, 1, 0, 9, 1, "hb", 2);
    wsproto_conn_feed(s, b, n);
    expect_event(s, WSPROTO_EVENT_PING, "hb", 2, true);
    CHECK(!wsproto_conn_wants_write(s));
    CHECK_EQ(wsproto_conn_send_pong(s, (const uint8_t *)"hb", 2), WSPROTO_OK);
    uint8_t out[8];
    size_t m = drain(s, out, sizeof out);
    static const uint8_t pong[] = {0x8a, 2, 'h', 'b'};
    CHECK_BYTES(out, m, pong, sizeof pong);
    wsproto_conn_free(s);
    wsproto_config_free(partial);
}

/* ---- callback IO ---------------------------------------------------------- */

typedef struct pipe_state {
    const uint8_t *in; /* bytes the read callback hands out */
    size_t in_len, in_pos;
    size_t max_read;   /* at most this many per call (0: no limit) */
    int errno_at_end;  /* returned once the input is used up (0: EOF) */
    int interrupt;     /* return EINTR this many times first */
    uint8_t out[4096]; /* bytes the write callback took */
    size_t out_len;
    size_t max_write;
    int write_errno;   /* returned when out is "full" */
    size_t out_cap;    /* stop accepting past this */
    wsproto_conn *self;
    wsproto_result reentry; /* what a call back into the connection gave */
    size_t calls;
    int lie;           /* report more bytes than the buffer */
    wsproto_conn *free_self; /* wrongly freed from inside the callback */
} pipe_state;

static int read_cb(void *userdata, uint8_t *buf, size_t len, size_t *out_n) {
    pipe_state *p = userdata;
    p->calls++;
    if (p->self) p->reentry = wsproto_conn_send_text(p->self, "x", 1);
    if (p->free_self) wsproto_conn_free(p->free_self);
    if (p->interrupt > 0) {
        p->interrupt--;
        return EINTR;
    }
    if (p->lie) {
        *out_n = len + 1;
        return 0;
    }
    if (p->in_pos == p->in_len) {
        if (p->errno_at_end) return p->errno_at_end;
        *out_n = 0;
        return 0;
    }
    size_t k = p->in_len - p->in_pos;
    if (k > len) k = len;
    if (p->max_read && k > p->max_read) k = p->max_read;
    memcpy(buf, p->in + p->in_pos, k);
    p->in_pos += k;
    *out_n = k;
    return 0;
}

static int write_cb(void *userdata, const uint8_t *buf, size_t len, size_t *out_n) {
    pipe_state *p = userdata;
    p->calls++;
    if (p->self) p->reentry = wsproto_conn_state(p->self) == WSPROTO_STATE_CLOSED ? WSPROTO_ERR_BUSY : WSPROTO_OK;
    if (p->lie) {
        *out_n = len + 1;
        return 0;
    }
    if (p->out_len >= p->out_cap) return p->write_errno;
    size_t k = len;
    if (p->max_write && k > p->max_write) k = p->max_write;
    if (k > p->out_cap - p->out_len) k = p->out_cap - p->out_len;
    memcpy(p->out + p->out_len, buf, k);
    p->out_len += k;
    *out_n = k;
    return 0;
}

/* Reads forever: unmasked 1000-byte binary frames (server to client). */
static int endless_cb(void *userdata, uint8_t *buf, size_t len, size_t *out_n) {
    size_t *offset = userdata;
    static uint8_t frame_bytes[1004];
    if (frame_bytes[0] == 0) {
        frame_bytes[0] = 0x82;
        frame_bytes[1] = 126;
        frame_bytes[2] = 1000 >> 8;
        frame_bytes[3] = 1000 & 0xff;
        memset(frame_bytes + 4, 'e', 1000);
    }
    size_t n = 0;
    while (n < len) {
        size_t k = sizeof frame_bytes - *offset;
        if (k > len - n) k = len - n;
        memcpy(buf + n, frame_bytes + *offset, k);
        n += k;
        *offset = (*offset + k) % sizeof frame_bytes;
    }
    *out_n = n;
    return 0;
}

static void test_callback_io(void) {
    wsproto_conn *c = NULL, *s = NULL;
    CHECK_EQ(wsproto_conn_client_new(NULL, "h", "/", NULL, NULL, 0, NULL, 0, &c), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_server_new(NULL, &s), WSPROTO_OK);

    /* Write the request 10 bytes per call until the "socket" is full. */
    pipe_state w = {.max_write = 10, .out_cap = 25, .write_errno = EAGAIN};
    size_t written = 99;
    size_t total = wsproto_conn_buffered_output(c);
    CHECK_EQ(wsproto_conn_send(c, write_cb, &w, &written), WSPROTO_OK);
    CHECK_EQ(written, 25);
    CHECK(wsproto_conn_wants_write(c));
    CHECK_EQ(wsproto_conn_buffered_output(c), total - 25);
    w.out_cap = sizeof w.out;
    w.max_write = 0;
    CHECK_EQ(wsproto_conn_send(c, write_cb, &w, NULL), WSPROTO_OK);
    CHECK(!wsproto_conn_wants_write(c));
    CHECK_EQ(w.out_len, total);
    /* Nothing pending: the callback is not called. */
    w.calls = 0;
    CHECK_EQ(wsproto_conn_send(c, write_cb, &w, &written), WSPROTO_OK);
    CHECK_EQ(written, 0);
    CHECK_EQ(w.calls, 0);

    /* Read it 7 bytes at a time, with an EINTR first, then EAGAIN. */
    pipe_state r = {.in = w.out, .in_len = w.out_len, .max_read = 7, .errno_at_end = EWOULDBLOCK, .interrupt = 1};
    size_t got = 0;
    CHECK_EQ(wsproto_conn_recv(s, read_cb, &r, &got), WSPROTO_OK);
    CHECK_EQ(got, total);
    CHECK_EQ(r.in_pos, total);
    wsproto_event ev;
    CHECK_EQ(wsproto_conn_next_event(s, &ev), WSPROTO_OK);
    CHECK_EQ(ev.kind, WSPROTO_EVENT_REQUEST);
    CHECK_EQ(wsproto_conn_accept(s, NULL, NULL, 0), WSPROTO_OK);

    /* A callback calling back into its own connection gets BUSY. */
    pipe_state w2 = {.out_cap = sizeof w2.out, .self = s};
    CHECK_EQ(wsproto_conn_send(s, write_cb, &w2, NULL), WSPROTO_OK);
    CHECK_EQ(w2.reentry, WSPROTO_ERR_BUSY);
    pipe_state r2 = {.in = w2.out, .in_len = w2.out_len, .errno_at_end = EAGAIN, .self = c};
    CHECK_EQ(wsproto_conn_recv(c, read_cb, &r2, NULL), WSPROTO_OK);
    CHECK_EQ(r2.reentry, WSPROTO_ERR_BUSY);
    /* A free from inside a callback is ignored, not a use-after-free. */
    pipe_state r3 = {.errno_at_end = EAGAIN, .free_self = c};
    CHECK_EQ(wsproto_conn_recv(c, read_cb, &r3, NULL), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_state(c), WSPROTO_STATE_CONNECTING);
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_OK);
    CHECK_EQ(ev.kind, WSPROTO_EVENT_ACCEPTED);
    CHECK(!wsproto_conn_wants_write(c)); /* the re-entrant send_text did nothing */

    /* Failures: an errno, a lying count, a missing callback, end of stream. */
    pipe_state bad = {.errno_at_end = ECONNRESET};
    CHECK_EQ(wsproto_conn_recv(c, read_cb, &bad, NULL), WSPROTO_ERR_IO);
    CHECK_EQ(wsproto_conn_last_os_error(c), ECONNRESET);
    CHECK(strstr(wsproto_conn_last_error(c), "IO callback failed") != NULL);
    pipe_state liar = {.lie = 1};
    CHECK_EQ(wsproto_conn_recv(c, read_cb, &liar, NULL), WSPROTO_ERR_IO_BAD_COUNT);
    CHECK_EQ(wsproto_conn_recv(c, NULL, NULL, NULL), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_send(c, NULL, NULL, NULL), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_send_text(c, "q", 1), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send(c, write_cb, &liar, NULL), WSPROTO_ERR_IO_BAD_COUNT);
    pipe_state werr = {.out_cap = 0, .write_errno = EPIPE};
    CHECK_EQ(wsproto_conn_send(c, write_cb, &werr, NULL), WSPROTO_ERR_IO);
    CHECK_EQ(wsproto_conn_last_os_error(c), EPIPE);
    CHECK(wsproto_conn_wants_write(c)); /* nothing was lost */
    pipe_state eof = {0};
    CHECK_EQ(wsproto_conn_recv(c, read_cb, &eof, &got), WSPROTO_EOF);
    CHECK_EQ(got, 0);
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_OK);
    CHECK_EQ(ev.kind, WSPROTO_EVENT_CLOSE);
    CHECK_EQ(ev.close_code, 1006);
    wsproto_conn_free(c);
    wsproto_conn_free(s);

    /* A transport that never runs dry: recv stops at its limit. */
    CHECK_EQ(wsproto_conn_open_new(NULL, WSPROTO_ROLE_CLIENT, &c), WSPROTO_OK);
    size_t offset = 0;
    CHECK_EQ(wsproto_conn_recv(c, endless_cb, &offset, &got), WSPROTO_MORE_INPUT);
    CHECK(got >= 256 * 1024 && got < 300 * 1024);
    size_t messages = 0;
    while (wsproto_conn_next_event(c, &ev) == WSPROTO_OK) {
        if (ev.kind == WSPROTO_EVENT_BINARY && ev.len == 1000 && ev.data[999] == 'e') messages++;
    }
    CHECK_EQ(messages, got / 1004);
    /* What is left is a partial frame; a decoded header no longer counts. */
    size_t rest = got % 1004, unprocessed = rest >= 4 ? rest - 4 : rest;
    CHECK_EQ(wsproto_conn_buffered_input(c), unprocessed);
    CHECK_EQ(wsproto_conn_release_memory(c), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_buffered_input(c), unprocessed);
    wsproto_conn_free(c);
}

/* Payloads sent by reference: header and caller's bytes as separate pieces,
 * released exactly once when written, freed, copied or refused. */
static int released;
static void count_release(void *userdata) {
    released++;
    CHECK(userdata == (void *)&released);
}

static void test_send_binary_ref(void) {
    const wsproto_config *cfg = config_with(7, 0, 1, 1);
    wsproto_conn *c = NULL, *s = NULL;
    open_pair(cfg, cfg, &c, &s);
    static uint8_t big[100000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 31 + 7);

    released = 0;
    CHECK_EQ(wsproto_conn_send_binary_ref(s, big, sizeof big, count_release, &released), WSPROTO_OK);
    CHECK_EQ(released, 0);
    CHECK_EQ(wsproto_conn_send_binary(s, (const uint8_t *)"after", 5), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_buffered_output(s), 10 + sizeof big + 2 + 5);
    wsproto_iovec iov[4];
    size_t n = 0;
    CHECK_EQ(wsproto_conn_output_iov(s, iov, 4, &n), WSPROTO_OK);
    CHECK_EQ(n, 3);
    /* RFC 6455 §5.2: FIN + binary, 127 = 64-bit length, 100000 = 0x186a0. */
    static const uint8_t head[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0x86, 0xa0};
    CHECK_BYTES(iov[0].base, iov[0].len, head, sizeof head);
    CHECK(iov[1].base == big && iov[1].len == sizeof big);
    static const uint8_t tail[] = {0x82, 5, 'a', 'f', 't', 'e', 'r'};
    CHECK_BYTES(iov[2].base, iov[2].len, tail, sizeof tail);
    /* Fewer slots: the first pieces, the rest after consuming them. */
    CHECK_EQ(wsproto_conn_output_iov(s, iov, 1, &n), WSPROTO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(iov[0].len, sizeof head);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(wsproto_conn_output_iov(s, iov, 4, &n), WSPROTO_OK);
        wsproto_conn_feed(c, iov[0].base, i == 1 ? iov[0].len - 1 : iov[0].len);
        wsproto_conn_consume_output(s, i == 1 ? iov[0].len - 1 : iov[0].len);
        if (i == 1) {
            CHECK_EQ(released, 0); /* one byte of it is still to be written */
            CHECK_EQ(wsproto_conn_output_iov(s, iov, 4, &n), WSPROTO_OK);
            CHECK(iov[0].base == big + sizeof big - 1 && iov[0].len == 1);
            wsproto_conn_feed(c, iov[0].base, 1);
            CHECK_EQ(wsproto_conn_consume_output(s, 1), WSPROTO_OK);
            CHECK_EQ(released, 1);
        }
    }
    CHECK(!wsproto_conn_wants_write(s));
    CHECK_EQ(released, 1);
    expect_event(c, WSPROTO_EVENT_BINARY, big, sizeof big, true);
    expect_event(c, WSPROTO_EVENT_BINARY, "after", 5, true);

    /* Consuming everything at once (one writev) releases too. */
    released = 0;
    CHECK_EQ(wsproto_conn_send_binary_ref(s, big, 5000, count_release, &released), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_binary_ref(s, big, 6000, count_release, &released), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_output_iov(s, iov, 4, &n), WSPROTO_OK);
    CHECK_EQ(n, 4);
    CHECK_EQ(wsproto_conn_consume_output(s, 4 + 5000 + 4 + 6000 + 1), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsproto_conn_consume_output(s, 4 + 5000 + 4 + 6000), WSPROTO_OK);
    CHECK_EQ(released, 2);

    /* Copied and released at once: small payloads, a client (masking). */
    released = 0;
    CHECK_EQ(wsproto_conn_send_binary_ref(s, big, WSPROTO_SHARE_MIN - 1, count_release, &released), WSPROTO_OK);
    CHECK_EQ(released, 1);
    CHECK_EQ(wsproto_conn_send_binary_ref(c, big, sizeof big, count_release, &released), WSPROTO_OK);
    CHECK_EQ(released, 2);
    pump(c, s);
    expect_event(s, WSPROTO_EVENT_BINARY, big, sizeof big, true);
    CHECK_EQ(wsproto_conn_send_binary_ref(s, big, 10000, NULL, NULL), WSPROTO_OK);
    pump(s, c);
    expect_event(c, WSPROTO_EVENT_BINARY, big, WSPROTO_SHARE_MIN - 1, true);
    expect_event(c, WSPROTO_EVENT_BINARY, big, 10000, true);

    /* Refused: released before the call returns. */
    released = 0;
    CHECK_EQ(wsproto_conn_send_binary_ref(NULL, big, 10000, count_release, &released), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(released, 1);
    CHECK_EQ(wsproto_conn_send_binary_ref(s, NULL, 10000, count_release, &released), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(released, 2);
    CHECK_EQ(wsproto_conn_send_binary_ref(s, NULL, 0, count_release, &released), WSPROTO_OK);
    CHECK_EQ(released, 3);
    CHECK_EQ(wsproto_conn_send_fragment(s, WSPROTO_DATA_BINARY, (const uint8_t *)"x", 1, false), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_binary_ref(s, big, 10000, count_release, &released), WSPROTO_ERR_FRAGMENT_MISMATCH);
    CHECK_EQ(released, 4);

    /* Pending when the connection is freed: released by the free. */
    released = 0;
    CHECK_EQ(wsproto_conn_send_fragment(s, WSPROTO_DATA_BINARY, NULL, 0, true), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_send_binary_ref(s, big, 10000, count_release, &released), WSPROTO_OK);
    CHECK_EQ(released, 0);
    wsproto_conn_free(s);
    CHECK_EQ(released, 1);
    wsproto_conn_free(c);
    wsproto_config_free(cfg);
}

static void test_output_queries(void) {
    wsproto_conn *c = NULL;
    wsproto_conn_client_new(NULL, "h", "/", NULL, NULL, 0, NULL, 0, &c);
    wsproto_iovec iov[2];
    size_t count = 9;
    CHECK_EQ(wsproto_conn_output_iov(c, NULL, 1, &count), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(count, 0);
    CHECK_EQ(wsproto_conn_output_iov(c, iov, 1, NULL), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_output_iov(c, iov, 0, &count), WSPROTO_ERR_INVALID_ARGUMENT);
    size_t pending = wsproto_conn_buffered_output(c);
    CHECK(pending > 100);
    CHECK_EQ(wsproto_conn_consume_output(c, pending + 1), WSPROTO_ERR_INVALID_ARGUMENT);
    CHECK(strcmp(wsproto_conn_last_error(c), "consumed more output than is pending") == 0);
    CHECK_EQ(wsproto_conn_consume_output(c, 10), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_output_iov(c, iov, 2, &count), WSPROTO_OK);
    CHECK_EQ(count, 1);
    CHECK_EQ(iov[0].len, pending - 10);
    CHECK_EQ(wsproto_conn_consume_output(c, pending - 10), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_output_iov(c, iov, 2, &count), WSPROTO_OK);
    CHECK_EQ(count, 0);
    CHECK_EQ(wsproto_conn_output_iov(c, NULL, 0, &count), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_consume_output(c, 0), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_feed(c, NULL, 0), WSPROTO_OK);
    CHECK_EQ(wsproto_conn_feed(c, NULL, 1), WSPROTO_ERR_NULL_ARGUMENT);
    wsproto_event ev;
    CHECK_EQ(wsproto_conn_next_event(c, NULL), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_next_event(c, &ev), WSPROTO_NO_EVENT);
    CHECK(strcmp(wsproto_conn_last_error(c), "a required pointer argument was NULL") == 0);
    CHECK_EQ(wsproto_conn_last_os_error(c), 0);
    wsproto_conn_free(c);
}

/* Every connection function given NULL: an error or a neutral value. */
static void test_null_connection(void) {
    wsproto_event ev;
    wsproto_iovec iov[1];
    size_t n;
    wsproto_str name;
    CHECK_EQ(wsproto_conn_next_event(NULL, &ev), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_accept(NULL, NULL, NULL, 0), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_reject(NULL, 400, NULL, 0, NULL, 0), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_send_text(NULL, "x", 1), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_send_binary(NULL, NULL, 0), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_send_fragment(NULL, WSPROTO_DATA_TEXT, NULL, 0, true), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_send_ping(NULL, NULL, 0), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_send_pong(NULL, NULL, 0), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_close(NULL, 1000, NULL, 0), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_feed(NULL, NULL, 0), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_feed_eof(NULL), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_output_iov(NULL, iov, 1, &n), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_consume_output(NULL, 0), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_recv(NULL, read_cb, NULL, &n), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_send(NULL, write_cb, NULL, &n), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_release_memory(NULL), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK_EQ(wsproto_conn_handshake_header(NULL, 0, &name, &name), WSPROTO_ERR_NULL_ARGUMENT);
    CHECK(!wsproto_conn_wants_write(NULL));
    CHECK(wsproto_conn_should_close_transport(NULL));
    CHECK_EQ(wsproto_conn_buffered_output(NULL), 0);
    CHECK_EQ(wsproto_conn_buffered_input(NULL), 0);
    CHECK_EQ(wsproto_conn_state(NULL), WSPROTO_STATE_CLOSED);
    CHECK_EQ(wsproto_conn_role(NULL), WSPROTO_ROLE_CLIENT);
    CHECK_EQ(wsproto_conn_close_code_sent(NULL), 0);
    CHECK_EQ(wsproto_conn_http_status_sent(NULL), 0);
    CHECK_EQ(wsproto_conn_last_os_error(NULL), 0);
    CHECK(strcmp(wsproto_conn_last_error(NULL), "") == 0);
    CHECK(wsproto_conn_request_target(NULL).ptr == NULL);
    CHECK(wsproto_conn_request_host(NULL).ptr == NULL);
    CHECK(wsproto_conn_request_origin(NULL).ptr == NULL);
    CHECK(wsproto_conn_request_subprotocol(NULL, 0).ptr == NULL);
    CHECK(wsproto_conn_request_extension(NULL, 0).ptr == NULL);
    CHECK(wsproto_conn_response_subprotocol(NULL).ptr == NULL);
    CHECK(wsproto_conn_extension(NULL).ptr == NULL);
    CHECK(wsproto_conn_handshake_header_value(NULL, "Host").ptr == NULL);
    CHECK_EQ(wsproto_conn_request_subprotocol_count(NULL), 0);
    CHECK_EQ(wsproto_conn_request_extension_count(NULL), 0);
    CHECK_EQ(wsproto_conn_handshake_header_count(NULL), 0);
    CHECK_EQ(wsproto_conn_response_status(NULL), 0);
    wsproto_conn_free(NULL);
}

/* ---- random input ------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* Random bytes, often shaped like frame headers, fed in random pieces to
 * open connections of both roles and to servers awaiting a handshake:
 * every outcome is an event, "no event", or a documented 71xx failure with
 * the matching close code or HTTP status queued; payload bytes are all
 * readable (ASan checks each one). */
static void test_random_input(void) {
    int bad_outcomes = 0, failures = 0;
    uint8_t buf[512];
    for (int iter = 0; iter < 3000; iter++) {
        int mode = iter % 3; /* 0: open server, 1: open client, 2: handshake server */
        wsproto_conn *c = NULL;
        if (mode == 2) wsproto_conn_server_new(NULL, &c);
        else wsproto_conn_open_new(NULL, mode == 0 ? WSPROTO_ROLE_SERVER : WSPROTO_ROLE_CLIENT, &c);
        for (int piece = 0; piece < 8; piece++) {
            size_t len = rnd() % sizeof buf;
            for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)rnd();
            if (mode == 2 && rnd() % 2) {
                static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n";
                memcpy(buf, req, len < sizeof req - 1 ? len : sizeof req - 1);
            } else if (len >= 2) {
                static const uint8_t ops[] = {0x0, 0x1, 0x2, 0x8, 0x9, 0xa};
                buf[0] = (uint8_t)((rnd() % 2 ? 0x80 : 0) | ops[rnd() % sizeof ops]);
                buf[1] = (uint8_t)((mode == 0 ? 0x80 : 0) | (rnd() % 130));
            }
            wsproto_conn_feed(c, buf, len);
            wsproto_event ev;
            wsproto_result r;
            while ((r = wsproto_conn_next_event(c, &ev)) == WSPROTO_OK) {
                unsigned sum = 0;
                for (size_t i = 0; i < ev.len; i++) sum += ev.data[i];
                (void)sum;
                if (ev.kind == WSPROTO_EVENT_REQUEST) wsproto_conn_accept(c, NULL, NULL, 0);
            }
            if (r == WSPROTO_NO_EVENT) continue;
            failures++;
            uint16_t code = wsproto_conn_close_code_sent(c);
            uint16_t status = wsproto_conn_http_status_sent(c);
            int handshake_error = r >= WSPROTO_ERR_BAD_HANDSHAKE && r <= WSPROTO_ERR_HANDSHAKE_TOO_LARGE;
            int ok = r >= 7100 && r < 7200 && wsproto_conn_state(c) == WSPROTO_STATE_CLOSED &&
                     wsproto_conn_last_error(c)[0] != '\0' &&
                     (handshake_error ? (status == 400 || status == 426 || status == 431)
                                      : (code == 1002 || code == 1007 || code == 1009));
            if (!ok) {
                bad_outcomes++;
                fprintf(stderr, "random input: result %u, close code %u, status %u\n", r, code, status);
            }
            break;
        }
        wsproto_conn_free(c);
    }
    CHECK_EQ(bad_outcomes, 0);
    CHECK(failures > 1000); /* the input really was hostile */
}

/* ---- threads -------------------------------------------------------------- */

typedef struct {
    const wsproto_config *cfg;
    wsproto_conn *handed_over; /* a connection opened by the main thread */
    int ok;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    int ok = 1;
    for (int i = 0; i < 20; i++) {
        wsproto_conn *c = NULL, *s = NULL;
        const char *protos[] = {"chat"};
        ok &= wsproto_conn_client_new(a->cfg, "h", "/", NULL, protos, 1, NULL, 0, &c) == WSPROTO_OK;
        ok &= wsproto_conn_server_new(a->cfg, &s) == WSPROTO_OK;
        pump(c, s);
        wsproto_event ev;
        ok &= wsproto_conn_next_event(s, &ev) == WSPROTO_OK && wsproto_conn_accept(s, NULL, NULL, 0) == WSPROTO_OK;
        pump(s, c);
        ok &= wsproto_conn_next_event(c, &ev) == WSPROTO_OK && ev.kind == WSPROTO_EVENT_ACCEPTED;
        ok &= wsproto_conn_send_text(c, "thread", 6) == WSPROTO_OK;
        pump(c, s);
        ok &= wsproto_conn_next_event(s, &ev) == WSPROTO_OK && ev.len == 6;
        wsproto_conn_free(c);
        wsproto_conn_free(s);
    }
    /* The connection that moved here from the main thread still works. */
    ok &= wsproto_conn_send_text(a->handed_over, "moved", 5) == WSPROTO_OK;
    a->ok = ok;
    return NULL;
}

static void test_threads(void) {
    const wsproto_config *cfg = config_with(0, 0, 1, 1);
    pthread_t t[4];
    thread_arg args[4];
    wsproto_conn *servers[4];
    for (int i = 0; i < 4; i++) {
        wsproto_conn_open_new(cfg, WSPROTO_ROLE_SERVER, &servers[i]);
        args[i] = (thread_arg){.cfg = cfg, .handed_over = servers[i], .ok = 0};
        pthread_create(&t[i], NULL, thread_main, &args[i]);
    }
    wsproto_config_free(cfg); /* the threads' connections keep it alive */
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(args[i].ok);
        CHECK_EQ(wsproto_conn_buffered_output(servers[i]), 7);
        wsproto_conn_free(servers[i]);
    }
}

int main(void) {
    test_version();
    test_result_text();
    test_config_builder();
    test_server_request_and_accept();
    test_client_handshake();
    test_client_new_misuse();
    test_reject();
    test_bad_handshakes();
    test_auto_subprotocol();
    test_deflate();
    test_messages();
    test_send_misuse();
    test_peer_violations();
    test_close_handshake();
    test_eof_and_partial();
    test_callback_io();
    test_output_queries();
    test_send_binary_ref();
    test_null_connection();
    test_random_input();
    test_threads();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
