//! Turning C arguments (pointers, lengths, NUL-terminated strings) into Rust
//! values, with the NULL and range checks every export needs.

use std::ffi::{c_char, CStr};

use wsproto_core::Header;

use crate::result::wsproto_result::{self, *};

/// A string that is not NUL-terminated: a pointer and a length in bytes.
/// Used to hand out text that lives inside the library (request paths,
/// header names...). `ptr` is NULL when the value is absent; an empty but
/// present value has a non-NULL `ptr` and `len` 0. Print with
/// `printf("%.*s", (int)s.len, s.ptr)`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wsproto_str {
    /// The first byte, or NULL when absent.
    pub ptr: *const c_char,
    /// The length in bytes.
    pub len: usize,
}

impl wsproto_str {
    /// The absent value.
    pub(crate) const NONE: wsproto_str = wsproto_str { ptr: std::ptr::null(), len: 0 };

    pub(crate) fn of(s: &str) -> wsproto_str {
        wsproto_str { ptr: s.as_ptr().cast(), len: s.len() }
    }

    pub(crate) fn of_bytes(b: &[u8]) -> wsproto_str {
        wsproto_str { ptr: b.as_ptr().cast(), len: b.len() }
    }
}

/// An HTTP header to send: two NUL-terminated strings. The value may not
/// contain CR or LF.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wsproto_header {
    /// The header name, an HTTP token such as `X-Request-Id`.
    pub name: *const c_char,
    /// The header value.
    pub value: *const c_char,
}

/// A byte slice from a pointer and a length; NULL is allowed when `len` is 0.
///
/// # Safety
/// When non-NULL, `p` points to `len` readable bytes that stay valid and
/// unchanged for `'a`.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8], wsproto_result> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(WSPROTO_ERR_NULL_ARGUMENT);
    }
    if len > isize::MAX as usize {
        return Err(WSPROTO_ERR_INVALID_ARGUMENT);
    }
    // SAFETY: non-NULL, length in range, validity promised by the caller.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A required NUL-terminated UTF-8 string.
///
/// # Safety
/// When non-NULL, `p` points to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char) -> Result<&'a str, wsproto_result> {
    if p.is_null() {
        return Err(WSPROTO_ERR_NULL_ARGUMENT);
    }
    // SAFETY: non-NULL and NUL-terminated as promised.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|_| WSPROTO_ERR_INVALID_UTF8)
}

/// An optional NUL-terminated UTF-8 string (NULL: absent).
///
/// # Safety
/// As for [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(p: *const c_char) -> Result<Option<&'a str>, wsproto_result> {
    if p.is_null() {
        Ok(None)
    } else {
        unsafe { str_arg(p) }.map(Some)
    }
}

/// An array of `count` NUL-terminated strings.
///
/// # Safety
/// When non-NULL, `p` points to `count` readable string pointers.
pub(crate) unsafe fn str_list(p: *const *const c_char, count: usize) -> Result<Vec<String>, wsproto_result> {
    let ptrs = unsafe { bytes_of::<*const c_char>(p, count) }?;
    ptrs.iter().map(|&s| unsafe { str_arg(s) }.map(str::to_owned)).collect()
}

/// An array of `count` headers, copied.
///
/// # Safety
/// When non-NULL, `p` points to `count` readable headers whose strings are
/// NUL-terminated.
pub(crate) unsafe fn header_list(p: *const wsproto_header, count: usize) -> Result<Vec<Header>, wsproto_result> {
    let headers = unsafe { bytes_of::<wsproto_header>(p, count) }?;
    headers
        .iter()
        .map(|h| {
            let name = unsafe { str_arg(h.name) }?;
            if h.value.is_null() {
                return Err(WSPROTO_ERR_NULL_ARGUMENT);
            }
            // SAFETY: non-NULL and NUL-terminated as promised; header values
            // are bytes, not necessarily UTF-8.
            let value = unsafe { CStr::from_ptr(h.value) };
            Ok((name.to_owned(), value.to_bytes().to_vec()))
        })
        .collect()
}

/// A typed array from a pointer and an element count; NULL allowed when
/// the count is 0.
unsafe fn bytes_of<'a, T>(p: *const T, count: usize) -> Result<&'a [T], wsproto_result> {
    if count == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(WSPROTO_ERR_NULL_ARGUMENT);
    }
    if count > (isize::MAX as usize) / std::mem::size_of::<T>().max(1) || !p.is_aligned() {
        return Err(WSPROTO_ERR_INVALID_ARGUMENT);
    }
    // SAFETY: non-NULL, aligned, size in range, validity promised.
    Ok(unsafe { std::slice::from_raw_parts(p, count) })
}

/// Writes `value` through an optional out-pointer.
///
/// # Safety
/// `p` is NULL or writable.
pub(crate) unsafe fn put<T>(p: *mut T, value: T) {
    if !p.is_null() {
        // SAFETY: non-NULL and writable as promised.
        unsafe { p.write(value) };
    }
}

/// An HTTP token (RFC 7230 §3.2.6), as subprotocol names must be.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
