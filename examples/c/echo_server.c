/*
 * A non-blocking WebSocket echo server on 127.0.0.1, built on epoll and the
 * wsproto C API in callback mode.
 *
 *   echo_server PORT [-q] [-Z] [-t SECONDS]
 *
 * PORT 0 picks a free port. The first line printed is
 * "listening on 127.0.0.1:PORT". Every text and binary message is echoed,
 * pings are answered (auto_pong), close frames are answered (auto_close),
 * and protocol violations close the connection with the right close code.
 * -q prints nothing per connection (for load tests); -Z refuses
 * permessage-deflate (accepted by default). A client has 10 seconds (-t; 0
 * for no limit) to send its opening handshake: one that connects and says nothing, or sends
 * its request a byte at a time, is dropped instead of holding a connection
 * forever. SIGINT/SIGTERM stop the server cleanly, freeing every connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wsproto.h"

typedef struct client {
    int fd;
    unsigned id;
    wsproto_conn *ws;
    double handshake_deadline; /* monotonic seconds */
    struct client *prev, *next; /* every live client, for shutdown */
} client;

static volatile sig_atomic_t stopping = 0;
static int quiet = 0;
static int epfd = -1;
static client *clients = NULL;
static unsigned next_id = 1;
static double handshake_timeout = 10.0;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

/* The transport callbacks: plain non-blocking socket IO. `userdata` is the
 * client. errno values go back to the library as they are. */
static int read_cb(void *userdata, uint8_t *buf, size_t len, size_t *out_n) {
    client *c = userdata;
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n < 0) return errno;
    *out_n = (size_t)n;
    return 0;
}

static int write_cb(void *userdata, const uint8_t *buf, size_t len, size_t *out_n) {
    client *c = userdata;
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (n < 0) return errno;
    *out_n = (size_t)n;
    return 0;
}

static void drop_client(client *c) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    wsproto_conn_free(c->ws);
    if (c->prev) c->prev->next = c->next; else clients = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c);
}

/* Handles every ready event. Returns 0, or -1 when the connection failed. */
static int handle_events(client *c) {
    wsproto_event ev;
    wsproto_result r;
    while ((r = wsproto_conn_next_event(c->ws, &ev)) == WSPROTO_OK) {
        switch (ev.kind) {
        case WSPROTO_EVENT_REQUEST: {
            wsproto_str path = wsproto_conn_request_path(c->ws);
            if (!quiet) printf("[server] #%u request for %.*s\n", c->id, (int)path.len, path.ptr);
            r = wsproto_conn_accept(c->ws, NULL, NULL, 0);
            if (r != WSPROTO_OK) fprintf(stderr, "[server] accept: %s\n", wsproto_result_text(r));
            wsproto_str ext = wsproto_conn_extension(c->ws);
            if (!quiet && ext.ptr) printf("[server] #%u negotiated %.*s\n", c->id, (int)ext.len, ext.ptr);
            break;
        }
        case WSPROTO_EVENT_TEXT:
            if (!quiet) printf("[server] #%u echo text (%zu bytes)\n", c->id, ev.len);
            /* The payload may go straight back: no copy needed. */
            r = wsproto_conn_send_text(c->ws, (const char *)ev.data, ev.len);
            if (r != WSPROTO_OK) fprintf(stderr, "[server] send: %s\n", wsproto_result_text(r));
            break;
        case WSPROTO_EVENT_BINARY:
            if (!quiet) printf("[server] #%u echo binary (%zu bytes)\n", c->id, ev.len);
            r = wsproto_conn_send_binary(c->ws, ev.data, ev.len);
            if (r != WSPROTO_OK) fprintf(stderr, "[server] send: %s\n", wsproto_result_text(r));
            break;
        case WSPROTO_EVENT_PING:
            if (!quiet) printf("[server] #%u ping (pong queued)\n", c->id);
            break;
        case WSPROTO_EVENT_CLOSE:
            if (!quiet)
                printf("[server] #%u close %u \"%.*s\"\n", c->id, ev.close_code, (int)ev.len, (const char *)ev.data);
            break;
        default:
            break;
        }
    }
    if (r != WSPROTO_NO_EVENT) {
        if (!quiet)
            printf("[server] #%u failed: %s (sent close code %u)\n", c->id, wsproto_result_text(r),
                   wsproto_conn_close_code_sent(c->ws));
        return -1;
    }
    return 0;
}

/* Reads, handles events, writes; then watches for the readiness needed. */
static void service(client *c, uint32_t events) {
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        wsproto_result r;
        do {
            r = wsproto_conn_recv(c->ws, read_cb, c, NULL);
            handle_events(c);
        } while (r == WSPROTO_MORE_INPUT);
        if (r != WSPROTO_OK && r != WSPROTO_EOF && !quiet)
            printf("[server] #%u transport: %s\n", c->id, wsproto_conn_last_error(c->ws));
        if (r != WSPROTO_OK && r != WSPROTO_EOF) {
            drop_client(c);
            return;
        }
    }
    if (wsproto_conn_send(c->ws, write_cb, c, NULL) != WSPROTO_OK) {
        drop_client(c);
        return;
    }
    if (wsproto_conn_should_close_transport(c->ws)) {
        if (!quiet) printf("[server] #%u closed\n", c->id);
        drop_client(c);
        return;
    }
    struct epoll_event ee = {.events = EPOLLIN | (wsproto_conn_wants_write(c->ws) ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ee);
}

static void accept_all(int lfd, const wsproto_config *cfg) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) perror("accept4");
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        client *c = calloc(1, sizeof *c);
        if (!c || wsproto_conn_server_new(cfg, &c->ws) != WSPROTO_OK) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->id = next_id++;
        c->handshake_deadline = now_seconds() + handshake_timeout;
        c->next = clients;
        if (clients) clients->prev = c;
        clients = c;
        struct epoll_event ee = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ee);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [-q] [-Z] [-t SECONDS]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    int deflate = 1; /* -Z turns permessage-deflate off; -z (on) is the default */
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-q") == 0) quiet = 1;
        else if (strcmp(argv[i], "-z") == 0) deflate = 1;
        else if (strcmp(argv[i], "-Z") == 0) deflate = 0;
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) handshake_timeout = atof(argv[++i]);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) {
        perror("bind/listen");
        return 1;
    }
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));

    /* One immutable config shared by every connection. */
    wsproto_config_builder *b = wsproto_config_builder_new();
    wsproto_config_builder_add_subprotocol(b, "chat");
    if (deflate) {
        /* No context kept between messages: idle connections hold no zlib state. */
        wsproto_config_builder_set_deflate(b, true);
        wsproto_config_builder_set_deflate_no_context_takeover(b, true, true);
    }
    const wsproto_config *cfg = NULL;
    if (wsproto_config_builder_build(b, &cfg) != WSPROTO_OK) return 1;
    wsproto_config_builder_free(b);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);

    struct epoll_event evs[256];
    /* Wake often enough to drop late handshakes close to their deadline. */
    int tick_ms = handshake_timeout > 0 && handshake_timeout < 1.0 ? (int)(handshake_timeout * 250) + 1 : 1000;
    double last_sweep = now_seconds();
    while (!stopping) {
        int n = epoll_wait(epfd, evs, 256, tick_ms);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) accept_all(lfd, cfg);
            else service(evs[i].data.ptr, evs[i].events);
        }
        double now = now_seconds();
        if (handshake_timeout <= 0 || now - last_sweep < tick_ms / 1000.0) continue;
        last_sweep = now;
        for (client *c = clients, *next; c; c = next) {
            next = c->next;
            if (wsproto_conn_state(c->ws) == WSPROTO_STATE_CONNECTING && now >= c->handshake_deadline) {
                if (!quiet) printf("[server] #%u no opening handshake within %g s\n", c->id, handshake_timeout);
                drop_client(c);
            }
        }
    }

    while (clients) drop_client(clients);
    wsproto_config_free(cfg);
    close(epfd);
    close(lfd);
    if (!quiet) printf("[server] stopped\n");
    return 0;
}
