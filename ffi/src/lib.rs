//! C ABI (stub; see issue 3).
