//! Python `Extension` objects inside the core's negotiation.
//!
//! wsproto lets programs write extensions in Python: `offer()`, `accept()`
//! and `finalize()` exchange header strings. [`PyExtension`] presents such an
//! object to the core as an [`Extension`], so the core runs the negotiation
//! and the Python object sees the same strings wsproto would give it.
//!
//! `wsproto_rs.extensions.PerMessageDeflate` negotiates in Python too (its
//! strings are wsproto's, byte for byte), but its compression is the core's:
//! once the Python side has agreed on parameters, the adapter builds the
//! core's `PerMessageDeflate` in the same agreed state and routes payloads
//! through it. Other Python extensions take part in negotiation only.

use std::cell::RefCell;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString};
use wsproto_core::extension::deflate::{check_response, DeflateConfig, PerMessageDeflate, NAME as DEFLATE};
use wsproto_core::frame::RSV1;
use wsproto_core::{Extension, ExtensionError, ExtensionOffer, Role};

use crate::events::registry;

thread_local! {
    /// The first Python exception raised inside a callback. The core's
    /// trait cannot carry it, so the engine re-raises it after the core call.
    static PENDING: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

fn stash(err: PyErr) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if p.is_none() {
            *p = Some(err);
        }
    });
}

/// Takes the exception a callback raised during the last core call.
pub(crate) fn take_pending() -> Option<PyErr> {
    PENDING.with(|p| p.borrow_mut().take())
}

/// A Python extension object seen by the core.
#[derive(Debug)]
pub(crate) struct PyExtension {
    obj: Py<PyAny>,
    name: String,
    role: Role,
    /// Whether the object is a `PerMessageDeflate`, whose transform is native.
    is_deflate: bool,
    deflate: Option<PerMessageDeflate>,
    /// What a client offered, against which a `PerMessageDeflate`'s
    /// response is checked before Python's `finalize` sees it.
    offered: Option<ExtensionOffer>,
}

impl PyExtension {
    pub(crate) fn new(py: Python<'_>, obj: Py<PyAny>, role: Role) -> PyResult<PyExtension> {
        let bound = obj.bind(py);
        let name: String = bound.getattr("name")?.extract()?;
        let is_deflate = bound.is_instance(registry()?.deflate.bind(py))?;
        Ok(PyExtension { obj, name, role, is_deflate, deflate: None, offered: None })
    }

    /// A native transform for an already negotiated `PerMessageDeflate`
    /// object (wsproto's `Connection(..., extensions=[...])`).
    pub(crate) fn transform(py: Python<'_>, obj: &Bound<'_, PyAny>, role: Role) -> PyResult<Option<PyExtension>> {
        if !obj.is_instance(registry()?.deflate.bind(py))? || !obj.call_method0("enabled")?.is_truthy()? {
            return Ok(None);
        }
        let mut ext = PyExtension::new(py, obj.clone().unbind(), role)?;
        ext.deflate = Some(native_deflate(obj, role)?);
        Ok(Some(ext))
    }

    fn element(&self, text: &str) -> ExtensionOffer {
        let whole = if text.is_empty() { self.name.clone() } else { format!("{}; {}", self.name, text) };
        match ExtensionOffer::parse_list(&whole) {
            Ok(mut v) if v.len() == 1 => v.remove(0),
            // Not expressible in the header grammar: keep the name only.
            _ => ExtensionOffer { name: self.name.clone(), params: Vec::new() },
        }
    }

    /// wsproto's `bool | str` answer as a header element, `None` to decline.
    fn answer(&self, value: &Bound<'_, PyAny>) -> PyResult<Option<ExtensionOffer>> {
        if value.is_none() {
            return Ok(None);
        }
        if let Ok(b) = value.cast::<PyBool>() {
            return Ok(b.is_true().then(|| self.element("")));
        }
        let text = value.cast::<PyString>()?.to_cow()?.into_owned();
        Ok(Some(self.element(&text)))
    }
}

/// Builds the core's permessage-deflate in the state the Python object
/// agreed to, by replaying that agreement through the core's own
/// negotiation (so the core decides nothing the peer was not told).
fn native_deflate(obj: &Bound<'_, PyAny>, role: Role) -> PyResult<PerMessageDeflate> {
    let cnct: bool = obj.getattr("client_no_context_takeover")?.is_truthy()?;
    let snct: bool = obj.getattr("server_no_context_takeover")?.is_truthy()?;
    let cmwb: u8 = obj.getattr("client_max_window_bits")?.extract()?;
    let smwb: u8 = obj.getattr("server_max_window_bits")?.extract()?;
    let mut params: Vec<(String, Option<String>)> = Vec::new();
    if snct {
        params.push(("server_no_context_takeover".into(), None));
    }
    if cnct {
        params.push(("client_no_context_takeover".into(), None));
    }
    let failed = |e: String| pyo3::exceptions::PyValueError::new_err(format!("permessage-deflate: {e}"));
    // Every negotiable setting is spelled out: the core's defaults (e.g. a
    // server that keeps no context) must not override what was agreed.
    let base = DeflateConfig {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: None,
        client_max_window_bits: None,
        ..DeflateConfig::default()
    };
    match role {
        Role::Server => {
            params.push(("server_max_window_bits".into(), Some(smwb.to_string())));
            let mut d = PerMessageDeflate::new(Role::Server, base);
            let offer = ExtensionOffer { name: DEFLATE.into(), params };
            d.accept(&[offer]).ok_or_else(|| failed("agreed parameters refused".into()))?;
            Ok(d)
        }
        Role::Client => {
            params.push(("client_max_window_bits".into(), Some(cmwb.to_string())));
            let config = DeflateConfig { client_max_window_bits: Some(cmwb), client_no_context_takeover: cnct, ..base };
            let mut d = PerMessageDeflate::new(Role::Client, config);
            d.finalize(&ExtensionOffer { name: DEFLATE.into(), params }).map_err(failed)?;
            Ok(d)
        }
    }
}

impl Extension for PyExtension {
    fn name(&self) -> &str {
        &self.name
    }

    fn offers(&mut self) -> Vec<ExtensionOffer> {
        Python::attach(|py| {
            let r = self.obj.bind(py).call_method0("offer").and_then(|v| self.answer(&v));
            match r {
                Ok(v) => {
                    self.offered = v.clone();
                    v.into_iter().collect()
                }
                Err(e) => {
                    stash(e);
                    Vec::new()
                }
            }
        })
    }

    fn accept(&mut self, offers: &[ExtensionOffer]) -> Option<ExtensionOffer> {
        Python::attach(|py| {
            // wsproto asks once per offer of this name; the last answer wins.
            let mut chosen = None;
            for offer in offers {
                let r = self.obj.bind(py).call_method1("accept", (offer.to_string(),)).and_then(|v| self.answer(&v));
                match r {
                    Ok(Some(e)) => chosen = Some(e),
                    Ok(None) => {}
                    Err(e) => {
                        stash(e);
                        return None;
                    }
                }
            }
            if chosen.is_some() && self.is_deflate {
                match native_deflate(self.obj.bind(py), self.role) {
                    Ok(d) => self.deflate = Some(d),
                    Err(e) => {
                        stash(e);
                        return None;
                    }
                }
            }
            chosen
        })
    }

    fn finalize(&mut self, response: &ExtensionOffer) -> Result<(), String> {
        // wsproto's `finalize` takes any parameters; RFC 7692 §5 has the
        // client fail the connection on a response that does not accept its
        // offer, as the core's own client does.
        if let (true, Some(offer)) = (self.is_deflate, &self.offered) {
            check_response(offer, response)?;
        }
        Python::attach(|py| {
            let obj = self.obj.bind(py);
            let r = obj.call_method1("finalize", (response.to_string(),));
            if let Err(e) = r {
                let text = e.to_string();
                stash(e);
                return Err(text);
            }
            if self.is_deflate {
                match native_deflate(obj, self.role) {
                    Ok(d) => self.deflate = Some(d),
                    Err(e) => {
                        let text = e.to_string();
                        stash(e);
                        return Err(text);
                    }
                }
            }
            Ok(())
        })
    }

    fn rsv_bits(&self) -> u8 {
        if self.is_deflate {
            RSV1
        } else {
            0
        }
    }

    fn decode(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>, limit: usize) -> Result<(), ExtensionError> {
        match self.deflate.as_mut() {
            Some(d) => d.decode(input, fin, out, limit),
            None => Err(ExtensionError { close_code: 1002, detail: format!("{} does not decode messages", self.name) }),
        }
    }

    fn encode(
        &mut self,
        input: &[u8],
        first: bool,
        fin: bool,
        out: &mut Vec<u8>,
    ) -> Result<Option<u8>, ExtensionError> {
        match self.deflate.as_mut() {
            Some(d) => d.encode(input, first, fin, out),
            None => Ok(None),
        }
    }
}
