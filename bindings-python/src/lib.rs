//! Python binding (stub; see issue 4).
