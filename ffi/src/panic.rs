//! The one place where panics are stopped at the C boundary.
//!
//! Unwinding into C is undefined behaviour (and since Rust 1.81 an abort), so
//! every exported function runs its body through [`guard`]. A panic is a bug
//! in this library: the caller gets the fallback value (an error code, NULL
//! or zero) instead of a crashed process.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body`, returning `fallback` if it panics.
///
/// `AssertUnwindSafe` is sound here because a connection whose call panicked
/// is only ever freed afterwards: its result says `WSPROTO_ERR_PANIC`, which
/// the documentation tells the caller to treat as fatal.
pub(crate) fn guard<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_the_fallback() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = guard(7, || -> i32 { panic!("boom") });
        std::panic::set_hook(prev);
        assert_eq!(r, 7);
        assert_eq!(guard(7, || 1), 1);
    }
}
