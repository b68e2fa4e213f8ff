//! `wsproto_rs._native`: the Rust half of the Python binding.
//!
//! The Python package `wsproto_rs` reproduces python-hyper wsproto's public
//! API. Everything that runs per frame or per message (decoding, unmasking,
//! UTF-8 checks, limits, encoding) happens here, in `wsproto-core`; the
//! Python side keeps the event classes and the HTTP handshake's message
//! texts, which run once per connection.
//!
//! One [`engine::Engine`] backs one connection from the first handshake byte
//! to the last frame, so bytes that arrive together with the handshake are
//! never copied between layers.

mod engine;
mod errors;
mod events;
mod extension;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::Engine>()?;
    m.add_function(wrap_pyfunction!(events::register, m)?)?;
    m.add_function(wrap_pyfunction!(accept_token, m)?)?;
    Ok(())
}

/// `Sec-WebSocket-Accept` for a key, computed by the core.
#[pyfunction]
fn accept_token(key: &[u8]) -> String {
    wsproto_core::accept_key(key)
}
