/*
 * Load client for the C echo server: opens N WebSocket connections to
 * 127.0.0.1:PORT (all held open at once), then has every connection
 * exchange M messages (each waits for the echo of its last before sending
 * the next, all connections at the same time), checks every echo byte for
 * byte, and closes everything with 1000.
 *
 *   load_client PORT SERVER_PID N M
 *
 * Reads the server's VmRSS from /proc/SERVER_PID/status with no connection,
 * with all N open (before traffic), and after the traffic, and prints the
 * figures. Exits 0 only if every message came back intact.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wsproto.h"

enum phase { TCP_CONNECTING, HANDSHAKING, OPEN, EXCHANGING, CLOSING, DONE };

typedef struct lconn {
    int fd;
    int idx;
    enum phase phase;
    wsproto_conn *ws;
    int sent, verified;
} lconn;

static int epfd, port, n_conns, n_msgs;
static const wsproto_config *cfg;
static long opened, done, verified_total, corrupted, failures;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kib(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

/* Message j of connection i: ~100 bytes that differ per connection. */
static size_t message(int i, int j, char *buf) {
    int n = snprintf(buf, 128, "connection %05d message %03d ", i, j);
    for (; n < 100; n++) buf[n] = (char)('a' + (i + j + n) % 26);
    return (size_t)n;
}

static int read_cb(void *ud, uint8_t *buf, size_t len, size_t *out_n) {
    ssize_t n = recv(((lconn *)ud)->fd, buf, len, 0);
    if (n < 0) return errno;
    *out_n = (size_t)n;
    return 0;
}

static int write_cb(void *ud, const uint8_t *buf, size_t len, size_t *out_n) {
    ssize_t n = send(((lconn *)ud)->fd, buf, len, MSG_NOSIGNAL);
    if (n < 0) return errno;
    *out_n = (size_t)n;
    return 0;
}

static void watch(lconn *c) {
    struct epoll_event ee = {.events = EPOLLIN | (wsproto_conn_wants_write(c->ws) ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ee);
}

static void finish(lconn *c, int ok) {
    if (!ok) failures++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->phase = DONE;
    done++;
}

static void send_next(lconn *c) {
    char buf[128];
    size_t n = message(c->idx, c->sent, buf);
    if (wsproto_conn_send_text(c->ws, buf, n) != WSPROTO_OK) failures++;
    c->sent++;
}

static int start_connect(lconn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) return -1;
    char host[32];
    snprintf(host, sizeof host, "127.0.0.1:%d", port);
    if (wsproto_conn_client_new(cfg, host, "/load", NULL, NULL, 0, NULL, 0, &c->ws) != WSPROTO_OK) return -1;
    c->phase = TCP_CONNECTING;
    struct epoll_event ee = {.events = EPOLLOUT, .data.ptr = c};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ee);
}

static void service(lconn *c, uint32_t events) {
    if (c->phase == TCP_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            fprintf(stderr, "connect: %s\n", strerror(err));
            finish(c, 0);
            return;
        }
        c->phase = HANDSHAKING;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        wsproto_result r;
        do {
            r = wsproto_conn_recv(c->ws, read_cb, c, NULL);
            wsproto_event ev;
            wsproto_result e;
            while ((e = wsproto_conn_next_event(c->ws, &ev)) == WSPROTO_OK) {
                if (ev.kind == WSPROTO_EVENT_ACCEPTED) {
                    c->phase = OPEN;
                    opened++;
                } else if (ev.kind == WSPROTO_EVENT_TEXT) {
                    char buf[128];
                    size_t n = message(c->idx, c->verified, buf);
                    if (ev.len == n && memcmp(ev.data, buf, n) == 0) {
                        c->verified++;
                        verified_total++;
                    } else {
                        corrupted++;
                    }
                    if (c->sent < n_msgs) {
                        send_next(c);
                    } else if (c->verified == n_msgs) {
                        wsproto_conn_close(c->ws, 1000, "done", 4);
                        c->phase = CLOSING;
                    }
                } else if (ev.kind == WSPROTO_EVENT_CLOSE && c->phase != CLOSING) {
                    fprintf(stderr, "connection %d closed early: %u\n", c->idx, ev.close_code);
                }
            }
            if (e != WSPROTO_NO_EVENT) {
                fprintf(stderr, "connection %d: %s\n", c->idx, wsproto_result_text(e));
                failures++;
            }
        } while (r == WSPROTO_MORE_INPUT);
        if (r != WSPROTO_OK && r != WSPROTO_EOF) {
            finish(c, 0);
            return;
        }
    }
    if (wsproto_conn_send(c->ws, write_cb, c, NULL) != WSPROTO_OK) {
        finish(c, 0);
        return;
    }
    if (wsproto_conn_should_close_transport(c->ws)) {
        finish(c, c->phase == CLOSING && c->verified == n_msgs);
        return;
    }
    watch(c);
}

/* Runs the event loop until `cond` holds or the deadline passes. */
static int run_until(int (*cond)(void), double deadline, lconn *conns, int *next_to_open) {
    struct epoll_event evs[512];
    while (!cond()) {
        if (now() > deadline) return -1;
        /* Keep at most 512 TCP/WebSocket handshakes in flight. */
        while (next_to_open && *next_to_open < n_conns && *next_to_open - opened - failures < 512) {
            lconn *c = &conns[*next_to_open];
            c->idx = *next_to_open;
            if (start_connect(c) < 0) {
                perror("connect");
                return -1;
            }
            (*next_to_open)++;
        }
        int n = epoll_wait(epfd, evs, 512, 100);
        for (int i = 0; i < n; i++) service(evs[i].data.ptr, evs[i].events);
    }
    return 0;
}

static int all_open(void) { return opened + failures >= n_conns; }
static int all_done(void) { return done >= n_conns; }

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s PORT SERVER_PID N M\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    int server_pid = atoi(argv[2]);
    n_conns = atoi(argv[3]);
    n_msgs = atoi(argv[4]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    wsproto_config_builder *b = wsproto_config_builder_new();
    wsproto_config_builder_build(b, &cfg);
    wsproto_config_builder_free(b);
    lconn *conns = calloc((size_t)n_conns, sizeof *conns);

    long rss0 = rss_kib(server_pid);
    double t0 = now();
    int next = 0;
    if (run_until(all_open, t0 + 120, conns, &next) < 0 || failures) {
        fprintf(stderr, "only %ld of %d connections opened (%ld failures)\n", opened, n_conns, failures);
        return 1;
    }
    double t1 = now();
    usleep(200000); /* let the server settle after its last accept */
    long rss1 = rss_kib(server_pid);
    printf("opened %d connections in %.2f s; all open at once\n", n_conns, t1 - t0);
    printf("server RSS: %ld KiB idle, %ld KiB with %d open connections: %.0f bytes per connection\n", rss0, rss1,
           n_conns, (double)(rss1 - rss0) * 1024.0 / n_conns);

    for (int i = 0; i < n_conns; i++) {
        conns[i].phase = EXCHANGING;
        send_next(&conns[i]);
        wsproto_conn_send(conns[i].ws, write_cb, &conns[i], NULL);
        watch(&conns[i]);
    }
    int rc = run_until(all_done, now() + 300, conns, NULL);
    double t2 = now();
    long expected = (long)n_conns * n_msgs;
    printf("exchanged %ld of %ld messages in %.2f s (%.0f round trips/s); lost %ld, corrupted %ld, failed "
           "connections %ld\n",
           verified_total, expected, t2 - t1, verified_total / (t2 - t1), expected - verified_total, corrupted,
           failures);
    long rss2 = rss_kib(server_pid);
    printf("server RSS after the traffic and close: %ld KiB\n", rss2);
    for (int i = 0; i < n_conns; i++) {
        if (conns[i].phase != DONE && conns[i].fd > 0) close(conns[i].fd);
        wsproto_conn_free(conns[i].ws);
    }
    free(conns);
    wsproto_config_free(cfg);
    close(epfd);
    return rc == 0 && verified_total == expected && corrupted == 0 && failures == 0 ? 0 : 1;
}
