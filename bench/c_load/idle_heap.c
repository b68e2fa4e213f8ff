/*
 * Measures the heap an idle, open server connection holds inside the
 * library: N server connections go through the opening handshake and one
 * echoed message each (push mode, no sockets), then idle; the heap in use
 * (glibc mallinfo2, which sees every allocation the library makes) is
 * compared with the heap before they were created.
 *
 *   idle_heap [N] [deflate]
 *
 * With "deflate" both sides negotiate permessage-deflate without context
 * takeover (the echo is sent compressed).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsproto.h"

static size_t heap_in_use(void) { return mallinfo2().uordblks; }

/* Moves the pending output of `from` into `to` (or drops it). */
static void pump(wsproto_conn *from, wsproto_conn *to) {
    wsproto_iovec iov[1];
    size_t n = 0;
    while (wsproto_conn_output_iov(from, iov, 1, &n) == WSPROTO_OK && n > 0) {
        if (to) wsproto_conn_feed(to, iov[0].base, iov[0].len);
        wsproto_conn_consume_output(from, iov[0].len);
    }
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    int deflate = argc > 2 && strcmp(argv[2], "deflate") == 0;
    const wsproto_config *cfg = NULL;
    wsproto_config_builder *b = wsproto_config_builder_new();
    if (deflate) {
        wsproto_config_builder_set_deflate(b, true);
        wsproto_config_builder_set_deflate_no_context_takeover(b, true, true);
    }
    wsproto_config_builder_build(b, &cfg);
    wsproto_config_builder_free(b);
    wsproto_conn **servers = calloc((size_t)n, sizeof *servers);
    /* One client makes the request and a masked message the servers get. */
    wsproto_conn *client = NULL;
    wsproto_conn_client_new(cfg, "127.0.0.1", "/", NULL, NULL, 0, NULL, 0, &client);
    wsproto_iovec iov[1];
    size_t cnt = 0;
    wsproto_conn_output_iov(client, iov, 1, &cnt);
    size_t req_len = iov[0].len;
    char *request = malloc(req_len);
    memcpy(request, iov[0].base, req_len);
    wsproto_conn_consume_output(client, req_len);
    wsproto_conn_free(client);
    wsproto_conn_open_new(NULL, WSPROTO_ROLE_CLIENT, &client);
    wsproto_conn_send_text(client, "hello, idle world", 17);
    wsproto_conn_output_iov(client, iov, 1, &cnt);
    size_t msg_len = iov[0].len;
    char *msg = malloc(msg_len);
    memcpy(msg, iov[0].base, msg_len);
    wsproto_conn_free(client);

    size_t before = heap_in_use();
    for (int i = 0; i < n; i++) {
        wsproto_event ev;
        wsproto_conn_server_new(cfg, &servers[i]);
        wsproto_conn *s = servers[i];
        wsproto_conn_feed(s, (const uint8_t *)request, req_len);
        if (wsproto_conn_next_event(s, &ev) != WSPROTO_OK || ev.kind != WSPROTO_EVENT_REQUEST) return 1;
        wsproto_conn_accept(s, NULL, NULL, 0);
        pump(s, NULL);
        wsproto_conn_feed(s, (const uint8_t *)msg, msg_len);
        if (wsproto_conn_next_event(s, &ev) != WSPROTO_OK || ev.kind != WSPROTO_EVENT_TEXT) return 1;
        wsproto_conn_send_text(s, (const char *)ev.data, ev.len);
        pump(s, NULL);
        /* What an event loop does when the socket has nothing more. */
        if (wsproto_conn_next_event(s, &ev) != WSPROTO_NO_EVENT) return 1;
        if (wsproto_conn_state(s) != WSPROTO_STATE_OPEN) return 1;
        if ((wsproto_conn_extension(s).ptr != NULL) != deflate) return 1;
    }
    size_t after = heap_in_use();
    double per = (double)(after - before) / n;
    printf("idle open server connection%s: %.0f bytes of heap each (%d connections, %zu bytes in use)\n",
           deflate ? " with permessage-deflate (no context takeover)" : "", per, n, after - before);
    for (int i = 0; i < n; i++) wsproto_conn_free(servers[i]);
    size_t freed = heap_in_use();
    printf("after freeing them: %zd bytes still in use relative to before\n", (ssize_t)freed - (ssize_t)before);
    wsproto_config_free(cfg);
    free(servers);
    free(request);
    free(msg);
    return per <= 512.0 ? 0 : 3;
}
