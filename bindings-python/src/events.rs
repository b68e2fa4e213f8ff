//! The Python classes the engine builds events from, and building them
//! cheaply.
//!
//! The event classes are frozen dataclasses defined in Python, exactly like
//! wsproto's. Calling a frozen dataclass runs a generated `__init__` that
//! sets each field through `object.__setattr__`, which costs more than the
//! whole frame decode. The engine instead allocates the instance with
//! the class's `tp_new` (that is, `object.__new__`) and stores the fields with the generic attribute setter:
//! the instance is indistinguishable from one built by `__init__` (same
//! `__dict__`, so `==`, `repr` and pickling behave), at a fraction of the cost.

use std::sync::OnceLock;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};

/// The classes and singletons registered by `wsproto_rs/__init__.py`.
pub(crate) struct Registry {
    /// `()`, the arguments `tp_new` is called with.
    pub empty: Py<PyTuple>,
    pub text: Py<PyType>,
    pub bytes: Py<PyType>,
    pub message: Py<PyType>,
    pub ping: Py<PyType>,
    pub pong: Py<PyType>,
    pub close: Py<PyType>,
    /// `CloseReason` members by code.
    pub close_reasons: Py<PyDict>,
    /// `ConnectionState` members in value order.
    pub states: Py<PyTuple>,
    pub local_error: Py<PyType>,
    pub deflate: Py<PyType>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// Called once by the package with its classes.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn register(
    py: Python<'_>,
    text: Py<PyType>,
    bytes: Py<PyType>,
    message: Py<PyType>,
    ping: Py<PyType>,
    pong: Py<PyType>,
    close: Py<PyType>,
    close_reasons: Py<PyDict>,
    states: Py<PyTuple>,
    local_error: Py<PyType>,
    deflate: Py<PyType>,
) -> PyResult<()> {
    let _ = REGISTRY.set(Registry {
        empty: PyTuple::empty(py).unbind(),
        text,
        bytes,
        message,
        ping,
        pong,
        close,
        close_reasons,
        states,
        local_error,
        deflate,
    });
    Ok(())
}

pub(crate) fn registry() -> PyResult<&'static Registry> {
    REGISTRY.get().ok_or_else(|| PyRuntimeError::new_err("wsproto_rs._native used before registration"))
}

/// Builds an instance of `cls` with the given fields, bypassing `__init__`.
pub(crate) fn build<'py>(
    py: Python<'py>,
    reg: &Registry,
    cls: &Py<PyType>,
    fields: &[(&Bound<'py, PyString>, &Bound<'py, PyAny>)],
) -> PyResult<Bound<'py, PyAny>> {
    let tp = cls.as_ptr().cast::<pyo3::ffi::PyTypeObject>();
    // SAFETY: `cls` is a live heap type (a Python class), for which
    // `PyType_GetSlot` is defined; its `tp_new` is `object.__new__`'s C
    // function (the event classes define no `__new__`), called here as
    // `object.__new__(cls)` would, with empty arguments.
    let obj = unsafe {
        let slot = pyo3::ffi::PyType_GetSlot(tp, pyo3::ffi::Py_tp_new);
        let new: Option<pyo3::ffi::newfunc> = std::mem::transmute(slot);
        let new = new.ok_or_else(|| PyRuntimeError::new_err("event class without tp_new"))?;
        Bound::from_owned_ptr_or_err(py, new(tp, reg.empty.as_ptr(), std::ptr::null_mut()))?
    };
    for (name, value) in fields {
        // SAFETY: all three pointers are live objects owned by this frame;
        // the generic setter stores into the instance `__dict__` exactly like
        // `object.__setattr__`, which is what the dataclass `__init__` uses.
        let rc = unsafe { pyo3::ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value.as_ptr()) };
        if rc != 0 {
            return Err(PyErr::fetch(py));
        }
    }
    Ok(obj)
}

/// The `CloseReason` member for a code, or the plain int when wsproto has
/// no member for it (application codes 3000–4999, 1014).
pub(crate) fn close_code<'py>(py: Python<'py>, reg: &Registry, code: u16) -> PyResult<Bound<'py, PyAny>> {
    let key = code.into_pyobject(py)?;
    match reg.close_reasons.bind(py).get_item(&key)? {
        Some(member) => Ok(member),
        None => Ok(key.into_any()),
    }
}

/// The `ConnectionState` member for a wsproto state number.
pub(crate) fn state<'py>(py: Python<'py>, reg: &Registry, value: u8) -> PyResult<Bound<'py, PyAny>> {
    reg.states.bind(py).get_item(value as usize)
}
