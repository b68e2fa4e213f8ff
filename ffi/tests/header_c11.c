/* The header compiles as strict C11 (-pedantic), twice (include guard),
 * and its iovec matches POSIX struct iovec as documented. */
#include "wsproto.h"
#include "wsproto.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

_Static_assert(sizeof(wsproto_iovec) == sizeof(struct iovec), "iovec size");
_Static_assert(offsetof(wsproto_iovec, base) == offsetof(struct iovec, iov_base), "iovec base");
_Static_assert(offsetof(wsproto_iovec, len) == offsetof(struct iovec, iov_len), "iovec len");
_Static_assert(sizeof(wsproto_result) == 4, "result codes are 32-bit");
_Static_assert(WSPROTO_OK == 0, "OK is zero");

int main(void) {
    wsproto_read_cb rcb = NULL;
    wsproto_write_cb wcb = NULL;
    (void)rcb;
    (void)wcb;
    printf("C11 header check: libwsproto %s\n", wsproto_version());
    return strlen(wsproto_version()) > 0 ? 0 : 1;
}
