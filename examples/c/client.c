/*
 * A WebSocket client for 127.0.0.1:PORT using the wsproto C API in push
 * mode (the program moves the bytes itself with read/writev and poll).
 *
 *   client PORT [PATH] [-z]
 *
 * It offers the "chat" subprotocol, sends a text message, a binary message,
 * a text message in three fragments and a ping, prints what comes back,
 * then closes with 1000 "bye" and prints the server's close frame. -z
 * offers permessage-deflate compression. Exits 0
 * when every echo matched and the close handshake completed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wsproto.h"

static int fd = -1;
static wsproto_conn *ws = NULL;

static void die(const char *what, wsproto_result r) {
    fprintf(stderr, "client: %s: %s (%s)\n", what, wsproto_result_text(r), wsproto_conn_last_error(ws));
    exit(1);
}

/* Writes all pending output (the socket is blocking for writes here). */
static void flush_output(void) {
    while (wsproto_conn_wants_write(ws)) {
        wsproto_iovec iov[4];
        size_t n = 0;
        wsproto_result r = wsproto_conn_output_iov(ws, iov, 4, &n);
        if (r != WSPROTO_OK) die("output", r);
        /* wsproto_iovec has the layout of struct iovec. */
        struct iovec sys[4];
        for (size_t i = 0; i < n; i++) {
            sys[i].iov_base = (void *)iov[i].base;
            sys[i].iov_len = iov[i].len;
        }
        ssize_t w = writev(fd, sys, (int)n);
        if (w < 0) {
            if (errno == EINTR) continue;
            perror("writev");
            exit(1);
        }
        wsproto_conn_consume_output(ws, (size_t)w);
    }
}

/* Waits for the next event, reading as needed (5 s timeout). */
static void next_event(wsproto_event *ev) {
    for (;;) {
        wsproto_result r = wsproto_conn_next_event(ws, ev);
        if (r == WSPROTO_OK) return;
        if (r != WSPROTO_NO_EVENT) {
            flush_output();
            fprintf(stderr, "client: protocol error: %s; sent close code %u\n", wsproto_result_text(r),
                    wsproto_conn_close_code_sent(ws));
            exit(1);
        }
        flush_output();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0) {
            fprintf(stderr, "client: timed out waiting for the server\n");
            exit(1);
        }
        uint8_t buf[8192];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) wsproto_conn_feed_eof(ws);
        else wsproto_conn_feed(ws, buf, (size_t)n);
    }
}

static void print_payload(const char *label, const wsproto_event *ev) {
    if (ev->kind == WSPROTO_EVENT_TEXT || ev->kind == WSPROTO_EVENT_PONG) {
        printf("client: received %s \"%.*s\"\n", label, (int)ev->len, (const char *)ev->data);
        return;
    }
    printf("client: received %s [", label);
    for (size_t i = 0; i < ev->len; i++) printf("%s%02x", i ? " " : "", ev->data[i]);
    printf("]\n");
}

static void expect(wsproto_event_kind kind, const char *label, const void *data, size_t len) {
    wsproto_event ev;
    next_event(&ev);
    if (ev.kind != kind || ev.len != len || (len && memcmp(ev.data, data, len) != 0)) {
        fprintf(stderr, "client: unexpected event %u (%zu bytes) instead of %s\n", ev.kind, ev.len, label);
        exit(1);
    }
    print_payload(label, &ev);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [PATH] [-z]\n", argv[0]);
        return 2;
    }
    const char *path = "/chat";
    int deflate = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-z") == 0) deflate = 1;
        else path = argv[i];
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("connect");
        return 1;
    }

    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%s", argv[1]);
    const char *protocols[] = {"chat"};
    wsproto_header headers[] = {{"User-Agent", "wsproto-c-example"}};
    wsproto_config_builder *b = wsproto_config_builder_new();
    if (deflate) wsproto_config_builder_set_deflate(b, true);
    const wsproto_config *cfg = NULL;
    wsproto_config_builder_build(b, &cfg);
    wsproto_config_builder_free(b);
    wsproto_result r = wsproto_conn_client_new(cfg, host, path, NULL, protocols, 1, headers, 1, &ws);
    wsproto_config_free(cfg); /* the connection keeps its own reference */
    if (r != WSPROTO_OK) die("client_new", r);
    printf("client: connecting to ws://%s%s\n", host, path);

    wsproto_event ev;
    next_event(&ev);
    if (ev.kind == WSPROTO_EVENT_REJECTED) {
        wsproto_str reason = wsproto_conn_response_reason(ws);
        printf("client: rejected with %u %.*s\n", wsproto_conn_response_status(ws), (int)reason.len, reason.ptr);
        return 1;
    }
    wsproto_str proto = wsproto_conn_response_subprotocol(ws);
    wsproto_str ext = wsproto_conn_extension(ws);
    printf("client: connected (status %u, subprotocol %.*s, extension %.*s)\n", wsproto_conn_response_status(ws),
           proto.ptr ? (int)proto.len : 6, proto.ptr ? proto.ptr : "(none)", ext.ptr ? (int)ext.len : 6,
           ext.ptr ? ext.ptr : "(none)");

    /* One exchange at a time: a server may answer a ping before it echoes
     * earlier messages, so each step waits for its own reply. */
    const char *text = "Hello, WebSocket!";
    printf("client: sending text \"%s\"\n", text);
    if ((r = wsproto_conn_send_text(ws, text, strlen(text))) != WSPROTO_OK) die("send_text", r);
    flush_output();
    expect(WSPROTO_EVENT_TEXT, "text", text, strlen(text));

    const uint8_t bin[] = {0x00, 0x01, 0x02, 0xfe, 0xff};
    printf("client: sending binary [00 01 02 fe ff]\n");
    if ((r = wsproto_conn_send_binary(ws, bin, sizeof bin)) != WSPROTO_OK) die("send_binary", r);
    flush_output();
    expect(WSPROTO_EVENT_BINARY, "binary", bin, sizeof bin);

    printf("client: sending text in 3 fragments \"frag\" \"ment\" \"ed\"\n");
    wsproto_conn_send_fragment(ws, WSPROTO_DATA_TEXT, (const uint8_t *)"frag", 4, false);
    wsproto_conn_send_fragment(ws, WSPROTO_DATA_TEXT, (const uint8_t *)"ment", 4, false);
    if ((r = wsproto_conn_send_fragment(ws, WSPROTO_DATA_TEXT, (const uint8_t *)"ed", 2, true)) != WSPROTO_OK)
        die("send_fragment", r);
    flush_output();
    expect(WSPROTO_EVENT_TEXT, "text", "fragmented", 10);

    printf("client: sending ping \"are you there?\"\n");
    if ((r = wsproto_conn_send_ping(ws, (const uint8_t *)"are you there?", 14)) != WSPROTO_OK) die("send_ping", r);
    flush_output();
    expect(WSPROTO_EVENT_PONG, "pong", "are you there?", 14);

    printf("client: closing with 1000 \"bye\"\n");
    if ((r = wsproto_conn_close(ws, 1000, "bye", 3)) != WSPROTO_OK) die("close", r);
    flush_output();
    next_event(&ev);
    if (ev.kind != WSPROTO_EVENT_CLOSE) {
        fprintf(stderr, "client: expected the server's close frame, got event %u\n", ev.kind);
        return 1;
    }
    printf("client: server closed with %u \"%.*s\"\n", ev.close_code, (int)ev.len, (const char *)ev.data);
    if (!wsproto_conn_should_close_transport(ws)) {
        fprintf(stderr, "client: close handshake did not complete\n");
        return 1;
    }
    close(fd);
    wsproto_conn_free(ws);
    printf("client: done\n");
    return 0;
}
