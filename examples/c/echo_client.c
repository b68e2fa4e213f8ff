/*
 * An echo client for conformance test servers in the style of the Autobahn
 * "fuzzing server", using the wsproto C API in callback mode on a
 * non-blocking socket with poll.
 *
 *   echo_client PORT [-v]
 *
 * It asks ws://127.0.0.1:PORT/getCaseCount for the number of cases N, then
 * for each case i = 1..N connects to /runCase?case=i and echoes every text
 * and binary message until the server closes the TCP connection. Each
 * connection offers permessage-deflate. Pings and the server's close frame
 * are answered by the library (auto_pong, auto_close); protocol violations
 * make it send the right close code, and a bad handshake response closes
 * the connection without a frame. -v prints one line per case that did not
 * end cleanly. Exits 0 after the last case, 1 if the server cannot be
 * reached or the case count cannot be read, 2 for bad arguments.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wsproto.h"

#define TIMEOUT_MS 30000 /* no progress for this long: give up on the case */

static const wsproto_config *config;
static int port;
static char problem[512]; /* the first thing that went wrong in a connection */

static void note(const char *fmt, ...) {
    if (problem[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
}

/* The transport callbacks; `userdata` points to the socket. */
static int read_cb(void *userdata, uint8_t *buf, size_t len, size_t *out_n) {
    ssize_t n = recv(*(int *)userdata, buf, len, 0);
    if (n < 0) return errno;
    *out_n = (size_t)n;
    return 0;
}

static int write_cb(void *userdata, const uint8_t *buf, size_t len, size_t *out_n) {
    ssize_t n = send(*(int *)userdata, buf, len, MSG_NOSIGNAL);
    if (n < 0) return errno;
    *out_n = (size_t)n;
    return 0;
}

/* Handles every ready event: echoes messages or, when `count` is not NULL,
 * reads the case count from the text message. Sets *accepted once
 * the server accepted the handshake. */
static void handle_events(wsproto_conn *ws, long *count, int *accepted) {
    wsproto_event ev;
    wsproto_result r;
    while ((r = wsproto_conn_next_event(ws, &ev)) == WSPROTO_OK) {
        switch (ev.kind) {
        case WSPROTO_EVENT_ACCEPTED:
            *accepted = 1;
            break;
        case WSPROTO_EVENT_REJECTED: {
            wsproto_str reason = wsproto_conn_response_reason(ws);
            note("handshake refused: %u %.*s", wsproto_conn_response_status(ws), (int)reason.len, reason.ptr);
            break;
        }
        case WSPROTO_EVENT_TEXT:
            if (count) {
                char digits[24] = "";
                char *end;
                if (ev.len < sizeof digits) memcpy(digits, ev.data, ev.len);
                *count = strtol(digits, &end, 10);
                if (end == digits || *end != '\0' || *count < 0) note("bad case count \"%s\"", digits);
                break;
            }
            /* The payload may go straight back: no copy needed. */
            if ((r = wsproto_conn_send_text(ws, (const char *)ev.data, ev.len)) != WSPROTO_OK)
                note("send_text: %s", wsproto_result_text(r));
            break;
        case WSPROTO_EVENT_BINARY:
            if ((r = wsproto_conn_send_binary(ws, ev.data, ev.len)) != WSPROTO_OK)
                note("send_binary: %s", wsproto_result_text(r));
            break;
        case WSPROTO_EVENT_CLOSE:
            if (ev.close_code == 1006) note("connection closed without a close frame");
            break;
        default: /* pings are answered by auto_pong; pongs and refusal bodies are ignored */
            break;
        }
    }
    if (r != WSPROTO_NO_EVENT)
        note("remote protocol error: %s: %s", wsproto_result_text(r), wsproto_conn_last_error(ws));
}

/* Runs one connection to `path` until the server closes TCP, the socket
 * fails or times out, or the opening handshake failed. What went wrong, if
 * anything, is in `problem`. Returns -1 only if the server cannot be reached. */
static int run(const char *path, long *count) {
    problem[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        note("connect: %s", strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    char host[32];
    snprintf(host, sizeof host, "127.0.0.1:%d", port);
    wsproto_conn *ws = NULL;
    wsproto_result r = wsproto_conn_client_new(config, host, path, NULL, NULL, 0, NULL, 0, &ws);
    if (r != WSPROTO_OK) {
        note("client_new: %s", wsproto_result_text(r));
        close(fd);
        return -1;
    }

    int accepted = 0;
    for (;;) {
        if (wsproto_conn_send(ws, write_cb, &fd, NULL) != WSPROTO_OK) {
            note("write: %s", wsproto_conn_last_error(ws));
            break;
        }
        /* A failed handshake leaves nothing to wait for: close at once. */
        if (!accepted && wsproto_conn_should_close_transport(ws)) break;

        struct pollfd p = {.fd = fd, .events = POLLIN | (wsproto_conn_wants_write(ws) ? POLLOUT : 0)};
        int n = poll(&p, 1, TIMEOUT_MS);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) note("timed out after %d s", TIMEOUT_MS / 1000);
            else note("poll: %s", strerror(errno));
            break;
        }
        r = wsproto_conn_recv(ws, read_cb, &fd, NULL);
        handle_events(ws, count, &accepted);
        if (r == WSPROTO_EOF) break; /* the server closed TCP: done */
        if (r != WSPROTO_OK && r != WSPROTO_MORE_INPUT) {
            note("read: %s", wsproto_conn_last_error(ws));
            break;
        }
    }
    wsproto_conn_free(ws);
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    int verbose = argc == 3 && strcmp(argv[2], "-v") == 0;
    port = argc >= 2 ? atoi(argv[1]) : 0;
    if (port <= 0 || port > 65535 || argc > 3 || (argc == 3 && !verbose)) {
        fprintf(stderr, "usage: %s PORT [-v]\n", argv[0]);
        return 2;
    }

    /* One config for every connection: the defaults plus the library's
     * default permessage-deflate offer. */
    wsproto_config_builder *b = wsproto_config_builder_new();
    if (!b || wsproto_config_builder_set_deflate(b, true) != WSPROTO_OK ||
        wsproto_config_builder_build(b, &config) != WSPROTO_OK) {
        fprintf(stderr, "echo_client: cannot build the config\n");
        wsproto_config_builder_free(b);
        return 1;
    }
    wsproto_config_builder_free(b);

    long cases = -1;
    if (run("/getCaseCount", &cases) < 0 || problem[0] || cases < 0) {
        fprintf(stderr, "echo_client: getCaseCount: %s\n", problem[0] ? problem : "no case count received");
        wsproto_config_free(config);
        return 1;
    }
    for (long i = 1; i <= cases; i++) {
        char path[64];
        snprintf(path, sizeof path, "/runCase?case=%ld", i);
        if (run(path, NULL) < 0) {
            fprintf(stderr, "echo_client: case %ld: %s\n", i, problem);
            wsproto_config_free(config);
            return 1;
        }
        if (verbose && problem[0]) fprintf(stderr, "case %ld: %s\n", i, problem);
    }
    wsproto_config_free(config);
    return 0;
}
