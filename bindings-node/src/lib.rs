//! Node binding for the wsproto engine (N-API through napi-rs).
//!
//! The binding is deliberately thin: [`connection`] exposes a
//! `wsproto_core::Connection` as free functions over a numeric handle, and
//! the JavaScript in `lib/` builds the public `Connection` class and the
//! socket layer on top of them.
//!
//! Crossing the JS/native boundary costs far more than decoding a small
//! frame, so received events leave the addon in batches: one `receive` call
//! decodes everything the bytes contain and returns one Buffer of compact
//! records (see [`events`]) that JavaScript walks without further native
//! calls. Handshake results and errors are rare and richer, so they travel
//! as objects through side queues.

pub mod connection;
mod errors;
mod events;
mod handles;
mod handshake;
mod options;
mod utf16;
