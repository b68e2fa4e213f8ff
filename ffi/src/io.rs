//! Moving bytes: callback mode (the library calls the program's read and
//! write functions until they would block) and push mode (the program feeds
//! input and takes output itself).

use std::ffi::{c_int, c_void};
use std::io::IoSlice;

use crate::args::{self, put};
use crate::conn::{enter, enter_result, wsproto_conn};
use crate::result::wsproto_result::{self, *};

/// Reads up to `len` bytes of transport data into `buf`.
///
/// Set `*out_n` to the count and return 0; `*out_n` 0 with return 0 means
/// end of stream. Return `EAGAIN`/`EWOULDBLOCK` when nothing can be read now,
/// `EINTR` to be called again, any other errno value to fail the call with
/// `WSPROTO_ERR_IO`. The callback must not call into the same connection
/// (such calls fail with `WSPROTO_ERR_BUSY`), nor unwind or longjmp.
#[allow(non_camel_case_types)]
pub type wsproto_read_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, buf: *mut u8, len: usize, out_n: *mut usize) -> c_int>;

/// Writes up to `len` bytes from `buf` to the transport: set `*out_n` to
/// the count written and return 0, or return an errno value as for
/// `wsproto_read_cb` (`EAGAIN`/`EWOULDBLOCK`: try later).
#[allow(non_camel_case_types)]
pub type wsproto_write_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, buf: *const u8, len: usize, out_n: *mut usize) -> c_int>;

/// One contiguous piece of pending output. Same layout as POSIX
/// `struct iovec`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wsproto_iovec {
    /// The first byte.
    pub base: *const u8,
    /// The length in bytes.
    pub len: usize,
}

/// Reads from the transport by calling `read_cb(userdata, ...)` until it
/// would block, reaches end of stream or fails, or 256 KiB came in; then
/// call `wsproto_conn_next_event` until it stops returning `WSPROTO_OK`.
///
/// Returns `WSPROTO_OK` (would block), `WSPROTO_EOF`, `WSPROTO_MORE_INPUT`
/// (limit reached: handle events, call again), `WSPROTO_ERR_IO` (see
/// `wsproto_conn_last_os_error`) or `WSPROTO_ERR_IO_BAD_COUNT`. Bytes read
/// before a failure are kept. `bytes_read` (may be NULL) receives the count.
/// When the read would block and no output is pending, buffers that hold
/// nothing are released, so idle connections cost little memory.
///
/// Since it reads until the read would block, the transport must be
/// non-blocking: with a blocking socket the second read waits for bytes
/// the peer may never send. There, read yourself and use push mode
/// (`wsproto_conn_feed`).
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_recv(
    conn: *mut wsproto_conn,
    read_cb: wsproto_read_cb,
    userdata: *mut c_void,
    bytes_read: *mut usize,
) -> wsproto_result {
    unsafe {
        put(bytes_read, 0);
        enter_result(conn, |s| {
            let Some(cb) = read_cb else { return WSPROTO_ERR_NULL_ARGUMENT };
            let (r, n) = s.recv_with(|buf| {
                let mut n = 0usize;
                // SAFETY: `buf` is a live, writable buffer of `buf.len()`
                // bytes; the callback's contract is documented above.
                match cb(userdata, buf.as_mut_ptr(), buf.len(), &mut n) {
                    0 => Ok(n),
                    errno => Err(errno),
                }
            });
            put(bytes_read, n);
            r
        })
    }
}

/// Writes pending output by calling `write_cb(userdata, ...)` until all of
/// it is written or the transport would block. Returns `WSPROTO_OK` in both
/// cases (check `wsproto_conn_wants_write`), or `WSPROTO_ERR_IO` /
/// `WSPROTO_ERR_IO_BAD_COUNT`. `bytes_written` (may be NULL) receives the
/// count.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_send(
    conn: *mut wsproto_conn,
    write_cb: wsproto_write_cb,
    userdata: *mut c_void,
    bytes_written: *mut usize,
) -> wsproto_result {
    unsafe {
        put(bytes_written, 0);
        enter_result(conn, |s| {
            let Some(cb) = write_cb else { return WSPROTO_ERR_NULL_ARGUMENT };
            let (r, n) = s.send_with(|buf| {
                let mut n = 0usize;
                // SAFETY: `buf` is live and readable for `buf.len()` bytes.
                match cb(userdata, buf.as_ptr(), buf.len(), &mut n) {
                    0 => Ok(n),
                    errno => Err(errno),
                }
            });
            put(bytes_written, n);
            r
        })
    }
}

/// Push mode: feeds `len` bytes read from the transport (copied). Then call
/// `wsproto_conn_next_event` until it stops returning `WSPROTO_OK`.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_feed(conn: *mut wsproto_conn, data: *const u8, len: usize) -> wsproto_result {
    unsafe {
        enter_result(conn, |s| match args::bytes(data, len) {
            Ok(b) => {
                s.feed(b);
                WSPROTO_OK
            }
            Err(e) => e,
        })
    }
}

/// Push mode: reports that the transport reached end of stream. A close
/// event with code 1006 follows unless the close handshake finished.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_feed_eof(conn: *mut wsproto_conn) -> wsproto_result {
    unsafe {
        enter_result(conn, |s| {
            s.feed_eof();
            WSPROTO_OK
        })
    }
}

/// Push mode: describes the pending output as up to `iov_len` pieces in
/// `iov`, in order, and stores how many were filled in `*iov_count` (at most
/// 16 per call). Output is one piece unless payloads were sent by reference
/// (`wsproto_conn_send_binary_ref`): each is a piece of its own between the
/// buffered bytes before and after it. Pieces that do not fit come after the
/// filled ones are consumed. The pointers stay valid until the next call on the
/// connection other than this one and the size queries. Write them out (e.g.
/// with `writev`), then report the bytes written with
/// `wsproto_conn_consume_output`.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_output_iov(
    conn: *const wsproto_conn,
    iov: *mut wsproto_iovec,
    iov_len: usize,
    iov_count: *mut usize,
) -> wsproto_result {
    unsafe {
        put(iov_count, 0);
        enter_result(conn, |s| {
            if iov_count.is_null() || iov.is_null() && iov_len > 0 {
                return WSPROTO_ERR_NULL_ARGUMENT;
            }
            if !s.conn().wants_write() {
                return WSPROTO_OK;
            }
            if iov_len == 0 {
                return s.fail(WSPROTO_ERR_INVALID_ARGUMENT, "no room for the output's pieces");
            }
            let mut slices = [IoSlice::new(&[]); 16];
            let k = s.conn().output_vectored(&mut slices[..iov_len.min(16)]);
            for (i, piece) in slices[..k].iter().enumerate() {
                put(iov.add(i), wsproto_iovec { base: piece.as_ptr(), len: piece.len() });
            }
            put(iov_count, k);
            WSPROTO_OK
        })
    }
}

/// Push mode: marks the first `n` bytes of pending output as written. More
/// than is pending fails with `WSPROTO_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_consume_output(conn: *mut wsproto_conn, n: usize) -> wsproto_result {
    unsafe { enter_result(conn, |s| s.consume_output(n)) }
}

/// Whether output is waiting to be written (false for NULL).
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_wants_write(conn: *const wsproto_conn) -> bool {
    unsafe { enter(conn, |_| false, |s| s.conn().wants_write()) }
}

/// The number of output bytes waiting to be written.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_buffered_output(conn: *const wsproto_conn) -> usize {
    unsafe { enter(conn, |_| 0, |s| s.conn().buffered_out()) }
}

/// The number of received bytes not yet turned into events, including a
/// message being assembled.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_buffered_input(conn: *const wsproto_conn) -> usize {
    unsafe { enter(conn, |_| 0, |s| s.conn().buffered_in()) }
}

/// Whether the transport should now be closed: the connection is closed,
/// all output is written, and nothing more is to be read (a refused client
/// reads the response's body to its end first). True for NULL, so loops
/// end. A server closes at once (RFC 6455 §7.1.1); a client after a clean
/// close handshake may too, but the RFC prefers that it read on until the
/// server closes TCP (with a timeout of its own); after a failure, close at
/// once.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_should_close_transport(conn: *const wsproto_conn) -> bool {
    unsafe { enter(conn, |_| true, |s| s.conn().should_close_transport()) }
}

/// Frees buffers that hold nothing, so an idle connection costs only its
/// own small struct. `wsproto_conn_recv`, `wsproto_conn_send` and
/// `wsproto_conn_next_event` do this by themselves when idle; push-mode
/// programs call it when the transport has nothing to read. Invalidates
/// event payload pointers.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_release_memory(conn: *mut wsproto_conn) -> wsproto_result {
    unsafe {
        enter_result(conn, |s| {
            s.release_memory();
            WSPROTO_OK
        })
    }
}
