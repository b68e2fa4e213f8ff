//! Node binding (stub; see issue 5).
