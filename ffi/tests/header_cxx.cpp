// The header compiles as C++ and links: its extern "C" guard keeps the
// names unmangled, and the enums are usable as C++ types.
#include "wsproto.h"

#include <cstdio>
#include <cstring>

int main() {
    wsproto_conn *conn = nullptr;
    wsproto_result r = wsproto_conn_server_new(nullptr, &conn);
    if (r != WSPROTO_OK || wsproto_conn_state(conn) != WSPROTO_STATE_CONNECTING) return 1;
    wsproto_event ev;
    std::memset(&ev, 0, sizeof ev);
    if (wsproto_conn_next_event(conn, &ev) != WSPROTO_NO_EVENT) return 1;
    wsproto_conn_free(conn);
    std::printf("C++ header check: libwsproto %s\n", wsproto_version());
    return 0;
}
