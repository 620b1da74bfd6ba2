//! `detector.parse.check_record` for the common case, returned as the positional arguments of
//! `Event`: `check(dict)` reads the dict `orjson.loads` made of a canonical record; `check(bytes)`
//! reads the record's bytes itself ([`crate::val`], by `serde_json`), never building that dict, and gives the same
//! arguments for every record it takes.
//!
//! The field table (source key, Event field, kind, bounds), the Event field order and defaults,
//! the role map and the limits come from `detector.parse` at start-up. Any record that is not
//! plainly valid -- a missing or mistyped field, a value out of range, a timestamp in another
//! ISO 8601 form than `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+hh:mm)`, an identifier to truncate, content
//! given as a list of parts, a `logit_bias` key other than a decimal id of at most 18 digits --
//! returns `None`, and the Python reference decides (and writes the rejection). So the kernel
//! never has to agree with Python on an error. `check(bytes)` also returns `None` for bytes its
//! decoder is not sure orjson reads the same way (see `val.rs`), and for duplicate keys in any
//! object it reads; the caller then decodes them with orjson and calls `check(dict)`.
//!
//! Each rule is written once, over [`Json`]: a value orjson made (`Bound<PyAny>`) or a decoded
//! [`Val`]. Cost: `check(dict)` about 1.5 µs per gateway record; `check(bytes)` replaces
//! `orjson.loads` + `check(dict)` (`docs/design.md` has the figures).

use std::borrow::Cow;
use std::collections::HashMap;

use rustc_hash::FxHashMap;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

use crate::bytes_pass::is_py_space;
use crate::val::{self, Val};

#[derive(Clone, Copy)]
enum Kind {
    /// identifier string (kept when at most the identifier limit, in code points)
    Id,
    /// any string (response text)
    Text,
    /// exact int within [lo, hi]
    Int(i128, i128),
    /// int or float within [lo, hi], as a float
    Number(f64, f64),
    Bool,
    /// RFC 3339 string or epoch milliseconds
    Timestamp,
}

/// A source key: a Python str to look up a dict, its text to look up decoded members.
struct Key {
    py: Py<PyString>,
    name: Box<str>,
}

impl Key {
    fn new(py: Python<'_>, name: &str) -> Self {
        Key {
            py: PyString::new(py, name).unbind(),
            name: name.into(),
        }
    }
}

struct Field {
    key: Key,
    slot: usize,
    kind: Kind,
}

/// The keys the check reads outside the field tables.
struct Keys {
    ts: Key,
    api_key_id: Key,
    usage: Key,
    params: Key,
    logit_bias: Key,
    system: Key,
    messages: Key,
    role: Key,
    content: Key,
}

/// One JSON value as the checks read it: what orjson made of it (`Bound<PyAny>`) or the decoded
/// [`Val`]. Each reader answers `None` (or false) for a value of another type.
trait Json<'py>: Sized {
    type Map: Members<'py, Value = Self>;
    fn is_null(&self) -> bool;
    fn is_str(&self) -> bool;
    fn is_bool(&self) -> bool;
    /// An int or a float.
    fn is_number(&self) -> bool;
    /// Code points of a string.
    fn chars(&self) -> Option<usize>;
    /// The UTF-8 text of a string.
    fn text(&self) -> Option<&str>;
    /// An int (not a bool) that fits in i128.
    fn int(&self) -> Option<i128>;
    fn float(&self) -> Option<f64>;
    /// The Python object orjson makes of a string, int or bool.
    fn object(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>>;
    /// The members of an object whose keys are distinct.
    fn map(&self) -> Option<Self::Map>;
    /// `f` of each element of a list, in order; `None` for another type or when `f` defers.
    fn each_item(&self, f: impl FnMut(Self) -> Option<()>) -> Option<()>;
}

/// The members of one JSON object.
trait Members<'py> {
    type Value: Json<'py>;
    /// The member `key`, `None` when absent.
    fn get(&self, py: Python<'py>, key: &Key) -> Option<Self::Value>;
    fn count(&self) -> usize;
    /// `f` of each (key, value); `None` for a key that is not UTF-8 or when `f` defers.
    fn each(&self, f: impl FnMut(&str, &Self::Value) -> Option<()>) -> Option<()>;
    /// The member `key` unless absent or null (`null` means absent).
    fn present(&self, py: Python<'py>, key: &Key) -> Option<Self::Value> {
        self.get(py, key).filter(|v| !v.is_null())
    }
}

impl<'py> Json<'py> for Bound<'py, PyAny> {
    type Map = Bound<'py, PyDict>;
    fn is_null(&self) -> bool {
        self.is_none()
    }
    fn is_str(&self) -> bool {
        self.is_exact_instance_of::<PyString>()
    }
    fn is_bool(&self) -> bool {
        self.is_exact_instance_of::<PyBool>()
    }
    fn is_number(&self) -> bool {
        self.is_exact_instance_of::<PyInt>() || self.is_exact_instance_of::<PyFloat>()
    }
    fn chars(&self) -> Option<usize> {
        self.is_str().then(|| self.len().ok())?
    }
    fn text(&self) -> Option<&str> {
        self.is_str().then(|| self.cast::<PyString>().ok()?.to_str().ok())?
    }
    fn int(&self) -> Option<i128> {
        self.is_exact_instance_of::<PyInt>().then(|| self.extract().ok())?
    }
    fn float(&self) -> Option<f64> {
        self.is_exact_instance_of::<PyFloat>().then(|| self.extract().ok())?
    }
    fn object(&self, _py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        Some(self.clone())
    }
    fn map(&self) -> Option<Bound<'py, PyDict>> {
        self.cast::<PyDict>()
            .ok()
            .filter(|d| d.is_exact_instance_of::<PyDict>())
            .cloned()
    }
    fn each_item(&self, mut f: impl FnMut(Self) -> Option<()>) -> Option<()> {
        let list = self
            .cast::<PyList>()
            .ok()
            .filter(|l| l.is_exact_instance_of::<PyList>())?;
        list.iter().try_for_each(&mut f)
    }
}

impl<'py> Members<'py> for Bound<'py, PyDict> {
    type Value = Bound<'py, PyAny>;
    fn get(&self, py: Python<'py>, key: &Key) -> Option<Self::Value> {
        self.get_item(key.py.bind(py)).ok().flatten()
    }
    fn count(&self) -> usize {
        self.len()
    }
    fn each(&self, mut f: impl FnMut(&str, &Self::Value) -> Option<()>) -> Option<()> {
        self.iter().try_for_each(|(k, v)| f(k.text()?, &v))
    }
}

/// The members of a decoded object whose keys are distinct ([`val::unique`]).
struct Decoded<'a>(&'a [(Cow<'a, str>, Val<'a>)]);

impl<'py, 'a> Json<'py> for &'a Val<'a> {
    type Map = Decoded<'a>;
    fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }
    fn is_str(&self) -> bool {
        matches!(self, Val::Str(_))
    }
    fn is_bool(&self) -> bool {
        matches!(self, Val::Bool(_))
    }
    fn is_number(&self) -> bool {
        matches!(self, Val::Int(_) | Val::Float(_) | Val::NegZero)
    }
    fn chars(&self) -> Option<usize> {
        self.text().map(|s| s.chars().count())
    }
    fn text(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
    fn int(&self) -> Option<i128> {
        match self {
            Val::Int(i) => Some(*i as i128),
            _ => None,
        }
    }
    /// (a negative zero is neither an int nor a float: [`Val::NegZero`])
    fn float(&self) -> Option<f64> {
        match self {
            Val::Float(x) => Some(*x),
            _ => None,
        }
    }
    fn object(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        match self {
            Val::Str(s) => Some(PyString::new(py, s).into_any()),
            Val::Int(i) => Some(i.into_pyobject(py).ok()?.into_any()),
            Val::Bool(b) => Some(PyBool::new(py, *b).to_owned().into_any()),
            _ => None,
        }
    }
    fn map(&self) -> Option<Decoded<'a>> {
        match *self {
            Val::Map(members) => val::unique(members).map(Decoded),
            _ => None,
        }
    }
    fn each_item(&self, f: impl FnMut(Self) -> Option<()>) -> Option<()> {
        match *self {
            Val::List(items) => items.iter().try_for_each(f),
            _ => None,
        }
    }
}

impl<'py, 'a> Members<'py> for Decoded<'a> {
    type Value = &'a Val<'a>;
    fn get(&self, _py: Python<'py>, key: &Key) -> Option<Self::Value> {
        self.0.iter().find(|(k, _)| val::same(k, &key.name)).map(|(_, v)| v)
    }
    fn count(&self) -> usize {
        self.0.len()
    }
    fn each(&self, mut f: impl FnMut(&str, &Self::Value) -> Option<()>) -> Option<()> {
        self.0.iter().try_for_each(|(k, v)| f(k, &v))
    }
}

#[inline]
fn digits(b: &[u8]) -> Option<i64> {
    b.iter()
        .try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as i64))
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Epoch ms of `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±hh:mm)`; `None` for any other form (Python decides).
fn rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, sec) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b[i] == b'.' {
        let n = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=6).contains(&n) {
            return None;
        }
        micros = digits(&b[i + 1..i + 1 + n])? * 10i64.pow(6 - n as u32);
        i += 1 + n;
    }
    let offset_min = match &b[i..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (oh, om) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            if *sign == b'+' {
                oh * 60 + om
            } else {
                -(oh * 60 + om)
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + micros / 1000)
}

/// Positions in `Event`'s arguments of the fields the check fills itself.
struct Slots {
    ts_ms: usize,
    api_key_id: usize,
    client_ip: usize,
    messages: usize,
    system: usize,
    logit_bias_ids: usize,
    logit_bias_size: usize,
}

fn no_field(name: &str) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(format!("no Event field {name}"))
}

/// The checks of `detector.parse.check_record`, and `Event`'s positional layout.
#[pyclass(frozen, module = "detector_native")]
pub struct RecordKernel {
    top: Vec<Field>,
    usage: Vec<Field>,
    params: Vec<Field>,
    keys: Keys,
    defaults: Vec<Py<PyAny>>,
    slots: Slots,
    roles: FxHashMap<String, Py<PyString>>,
    message: Py<PyAny>,
    /// `Message`'s two slots, when it is a plain dataclass of them ([`plain_slots`])
    message_slots: Option<(Py<PyString>, Py<PyString>)>,
    limits: (i64, i64, i64, usize, usize, usize),
}

/// The slot names `(role, content)` of `message` when calling it only makes an instance and
/// assigns those two slots, so that [`RecordKernel::turn`] may do just that without the call: a
/// class (of metaclass `type`, base `object`, `__new__` `object.__new__`) that is a dataclass of
/// exactly the fields `role`, `content`, with its generated `__init__` (`init=True`), no
/// `__post_init__`, and `__slots__` of those two names. Its instances are then made by
/// `object.__new__` (whose work, for such a class, is the type's `tp_alloc`:
/// `PyType_GenericAlloc`), and its `__init__` assigns each field with `object.__setattr__`
/// (`PyObject_GenericSetAttr`), frozen or not. `None` for any other class: then it is called.
/// `tests/unit/test_native.py` fails when `detector.record.Message` stops being such a class.
fn plain_slots(message: &Bound<'_, PyAny>) -> PyResult<Option<(Py<PyString>, Py<PyString>)>> {
    let py = message.py();
    let names = ["role", "content"];
    let object = py.get_type::<PyAny>();
    let fields: Option<Vec<String>> = match message.getattr("__dataclass_fields__") {
        Ok(f) => Some(f.cast::<PyDict>()?.keys().extract()?),
        Err(_) => None,
    };
    let init = match message.getattr("__dataclass_params__") {
        Ok(p) => p.getattr("init")?.is_truthy()?,
        Err(_) => false,
    };
    let slots: Option<Vec<String>> = message.getattr("__slots__").ok().and_then(|s| s.extract().ok());
    let plain = message.get_type().is(py.get_type::<PyType>())
        && message.getattr("__bases__")?.eq((&object,))?
        && message.getattr("__new__")?.is(&object.getattr("__new__")?)
        && fields.is_some_and(|f| f == names)
        && init
        && !message.hasattr("__post_init__")?
        && slots.is_some_and(|s| s == names);
    Ok(plain.then(|| {
        (
            PyString::new(py, names[0]).unbind(),
            PyString::new(py, names[1]).unbind(),
        )
    }))
}

impl RecordKernel {
    fn timestamp<'py>(&self, v: &impl Json<'py>) -> Option<i64> {
        let ms = if let Some(s) = v.text() {
            rfc3339_ms(s)?
        } else if let Some(i) = v.int() {
            i64::try_from(i).ok()?
        } else if let Some(f) = v.float() {
            if !f.is_finite() || f.abs() >= 9.0e15 {
                return None;
            }
            f.trunc() as i64
        } else {
            return None;
        };
        (self.limits.0..self.limits.1).contains(&ms).then_some(ms)
    }

    /// The checked value of one field, or `None` when Python has to decide.
    fn value<'py>(&self, py: Python<'py>, kind: Kind, v: &impl Json<'py>) -> Option<Bound<'py, PyAny>> {
        match kind {
            Kind::Id => (v.chars()? <= self.limits.3).then(|| v.object(py))?,
            Kind::Text => v.is_str().then(|| v.object(py))?,
            Kind::Int(lo, hi) => (lo..=hi).contains(&v.int()?).then(|| v.object(py))?,
            Kind::Number(lo, hi) => {
                let x = match v.float() {
                    Some(x) => x,
                    None => {
                        // exact below 2**53; every bound here is far smaller
                        let i = v.int()?;
                        if i.unsigned_abs() > 1 << 53 {
                            return None;
                        }
                        i as f64
                    }
                };
                (lo <= x && x <= hi).then(|| PyFloat::new(py, x).into_any())
            }
            Kind::Bool => v.is_bool().then(|| v.object(py))?,
            Kind::Timestamp => Some(self.timestamp(v)?.into_pyobject(py).ok()?.into_any()),
        }
    }

    fn fill<'py>(
        &self,
        py: Python<'py>,
        out: &mut [Bound<'py, PyAny>],
        src: &impl Members<'py>,
        table: &[Field],
    ) -> Option<()> {
        for f in table {
            if let Some(v) = src.present(py, &f.key) {
                out[f.slot] = self.value(py, f.kind, &v)?;
            }
        }
        Some(())
    }

    /// `detector.parse.logit_bias_ids` of a map whose keys are all ASCII-decimal token ids of at
    /// most 18 digits and whose values are ints or floats: the sorted distinct ids, the smallest
    /// kept. `None` for any other map (a hashed key, a long id, another value type): the
    /// reference decides.
    fn bias_ids<'py>(&self, bias: &impl Members<'py>) -> Option<Vec<u64>> {
        let mut ids = Vec::with_capacity(bias.count());
        bias.each(|key, value| {
            if !value.is_number() || key.is_empty() || key.len() > 18 || !key.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            ids.push(key.parse::<u64>().ok()?);
            Some(())
        })?;
        ids.sort_unstable();
        ids.dedup();
        ids.truncate(self.limits.5);
        Some(ids)
    }

    /// Fills `table` from the object at `key` of `obj` and returns that object (`Some(None)` when
    /// absent or null).
    fn nested<'py, M: Members<'py>>(
        &self,
        py: Python<'py>,
        out: &mut [Bound<'py, PyAny>],
        obj: &M,
        key: &Key,
        table: &[Field],
    ) -> Option<Option<<M::Value as Json<'py>>::Map>> {
        match obj.present(py, key) {
            Some(v) => {
                let d = v.map()?;
                self.fill(py, out, &d, table)?;
                Some(Some(d))
            }
            None => Some(None),
        }
    }

    /// `Message(role, content)`. For a plain class ([`plain_slots`]) what calling it does, without
    /// the Python `__init__` frame: `tp_alloc` (`PyType_GenericAlloc`, GC-tracked, a reference to
    /// the type) and `object.__setattr__` of each slot (`PyObject_GenericSetAttr`). Measured on the
    /// b7 records (about four turns each), `check(bytes)` costs 49.4k instructions per record so,
    /// 64.0k calling `Message`, 51.8k calling `object.__new__` before the same assignments. Any
    /// other class is called.
    fn turn<'py>(
        &self,
        py: Python<'py>,
        role: &Bound<'py, PyString>,
        content: Bound<'py, PyAny>,
    ) -> Option<Bound<'py, PyAny>> {
        let Some((role_slot, content_slot)) = &self.message_slots else {
            return self.message.bind(py).call1((role.clone(), content)).ok();
        };
        // SAFETY: `message` is a type (checked in `new`); the new reference is owned by `turn`,
        // and each call below either succeeds or leaves an exception that `PyErr::take` clears.
        unsafe {
            let turn = Bound::from_owned_ptr_or_opt(
                py,
                ffi::PyType_GenericAlloc(self.message.as_ptr() as *mut ffi::PyTypeObject, 0),
            );
            let set = |turn: &Bound<'py, PyAny>, slot: &Py<PyString>, value: *mut ffi::PyObject| {
                ffi::PyObject_GenericSetAttr(turn.as_ptr(), slot.as_ptr(), value) == 0
            };
            match turn {
                Some(t) if set(&t, role_slot, role.as_ptr()) && set(&t, content_slot, content.as_ptr()) => Some(t),
                _ => {
                    PyErr::take(py);
                    None
                }
            }
        }
    }

    /// `Event`'s positional arguments for a plainly valid record `obj`, else `None`.
    fn check_members<'py>(
        &self,
        py: Python<'py>,
        obj: &impl Members<'py>,
        reference_ms: Option<i64>,
    ) -> Option<Bound<'py, PyTuple>> {
        let k = &self.keys;
        let ts_ms = self.timestamp(&obj.get(py, &k.ts)?)?;
        if reference_ms.is_some_and(|r| (ts_ms - r).abs() > self.limits.2) {
            return None;
        }
        let key = obj.get(py, &k.api_key_id)?;
        if !(1..=self.limits.4).contains(&key.chars()?) {
            return None;
        }
        let mut out: Vec<Bound<'py, PyAny>> = self.defaults.iter().map(|d| d.bind(py).clone()).collect();
        out[self.slots.ts_ms] = ts_ms.into_pyobject(py).ok()?.into_any();
        out[self.slots.api_key_id] = key.object(py)?;
        self.fill(py, &mut out, obj, &self.top)?;
        self.nested(py, &mut out, obj, &k.usage, &self.usage)?;
        if let Some(params) = self.nested(py, &mut out, obj, &k.params, &self.params)? {
            if let Some(bias) = params.present(py, &k.logit_bias) {
                let bias = bias.map()?;
                out[self.slots.logit_bias_ids] = PyTuple::new(py, self.bias_ids(&bias)?).ok()?.into_any();
                if out[self.slots.logit_bias_size].is_none() {
                    out[self.slots.logit_bias_size] = bias.count().into_pyobject(py).ok()?.into_any();
                }
            }
        }
        let ip_slot = self.slots.client_ip;
        if let Ok(ip) = out[ip_slot].cast::<PyString>() {
            let ip = ip.to_str().ok()?;
            if let Some((first, _)) = ip.split_once(',') {
                let first = first.trim_matches(is_py_space);
                out[ip_slot] = if first.is_empty() {
                    py.None().into_bound(py)
                } else {
                    PyString::new(py, first).into_any()
                };
            }
        }
        let mut system: Vec<Bound<'py, PyAny>> = Vec::new();
        if let Some(s) = obj.present(py, &k.system) {
            system.push(s.is_str().then(|| s.object(py))??);
        }
        if let Some(msgs) = obj.present(py, &k.messages) {
            let mut turns = Vec::new();
            msgs.each_item(|m| {
                let m = m.map()?;
                let role = self.roles.get(m.get(py, &k.role)?.text()?)?.bind(py);
                let content = match m.present(py, &k.content) {
                    Some(c) => c.is_str().then(|| c.object(py))??,
                    None => py.None().into_bound(py),
                };
                if role.to_str().ok()? == "system" {
                    if !content.is_none() {
                        system.push(content);
                    }
                } else {
                    turns.push(self.turn(py, role, content)?);
                }
                Some(())
            })?;
            out[self.slots.messages] = PyTuple::new(py, turns).ok()?.into_any();
        }
        match system.len() {
            0 => {}
            1 => out[self.slots.system] = system.pop()?,
            _ => {
                let parts: Vec<&str> = system
                    .iter()
                    .map(|s| s.cast::<PyString>().ok()?.to_str().ok())
                    .collect::<Option<_>>()?;
                out[self.slots.system] = PyString::new(py, &parts.join("\n\n")).into_any();
            }
        }
        PyTuple::new(py, out).ok()
    }
}

type Spec<'py> = (
    String,
    String,
    String,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
);

/// The fields of one source table, placed by Event field name.
fn table(py: Python<'_>, slot: &HashMap<String, usize>, specs: Vec<Spec<'_>>) -> PyResult<Vec<Field>> {
    specs
        .into_iter()
        .map(|(key, dest, kind, lo, hi)| {
            let kind = match kind.as_str() {
                "id" => Kind::Id,
                "text" => Kind::Text,
                "bool" => Kind::Bool,
                "timestamp" => Kind::Timestamp,
                "int" => Kind::Int(lo.unwrap().extract()?, hi.unwrap().extract()?),
                "number" => Kind::Number(lo.unwrap().extract()?, hi.unwrap().extract()?),
                other => return Err(pyo3::exceptions::PyValueError::new_err(format!("unknown kind {other}"))),
            };
            let slot = *slot.get(&dest).ok_or_else(|| no_field(&dest))?;
            Ok(Field {
                key: Key::new(py, &key),
                slot,
                kind,
            })
        })
        .collect()
}

#[pymethods]
impl RecordKernel {
    /// `fields`: Event's (name, default) in order; `top`, `usage`, `params`: (source key, Event
    /// field, kind, lo, hi); `roles`: source role -> role; `message`: the Message class; `limits`:
    /// (ts min, ts max, reference window, identifier chars, api key chars, logit-bias ids kept).
    #[new]
    #[allow(clippy::too_many_arguments)] // one argument per table handed over by detector.parse
    fn new<'py>(
        py: Python<'py>,
        fields: Vec<(String, Bound<'py, PyAny>)>,
        top: Vec<Spec<'py>>,
        usage: Vec<Spec<'py>>,
        params: Vec<Spec<'py>>,
        roles: HashMap<String, String>,
        message: Bound<'py, PyAny>,
        limits: (i64, i64, i64, usize, usize, usize),
    ) -> PyResult<Self> {
        let slot: HashMap<String, usize> = fields
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), i))
            .collect();
        let at = |name: &str| slot.get(name).copied().ok_or_else(|| no_field(name));
        let slots = Slots {
            ts_ms: at("ts_ms")?,
            api_key_id: at("api_key_id")?,
            client_ip: at("client_ip")?,
            messages: at("messages")?,
            system: at("system")?,
            logit_bias_ids: at("logit_bias_ids")?,
            logit_bias_size: at("logit_bias_size")?,
        };
        let key = |name: &str| Key::new(py, name);
        Ok(RecordKernel {
            top: table(py, &slot, top)?,
            usage: table(py, &slot, usage)?,
            params: table(py, &slot, params)?,
            keys: Keys {
                ts: key("ts"),
                api_key_id: key("api_key_id"),
                usage: key("usage"),
                params: key("params"),
                logit_bias: key("logit_bias"),
                system: key("system"),
                messages: key("messages"),
                role: key("role"),
                content: key("content"),
            },
            defaults: fields.into_iter().map(|(_, d)| d.unbind()).collect(),
            slots,
            roles: roles
                .into_iter()
                .map(|(k, v)| (k, PyString::new(py, &v).unbind()))
                .collect(),
            message_slots: match message.cast::<PyType>() {
                Ok(_) => plain_slots(&message)?,
                Err(_) => None,
            },
            message: message.unbind(),
            limits,
        })
    }

    /// Whether `Message` turns are made without calling it ([`plain_slots`]).
    #[getter]
    fn plain_turns(&self) -> bool {
        self.message_slots.is_some()
    }

    /// `Event`'s positional arguments for a plainly valid record, else `None`. `record` is the dict
    /// orjson made of it, or its bytes: then they are decoded here ([`val::decode`]) without the
    /// dict, and `None` also stands for bytes orjson may read otherwise (decode them with orjson
    /// and call this again with the dict).
    #[pyo3(signature = (record, reference_ms=None))]
    fn check<'py>(
        &self,
        py: Python<'py>,
        record: &Bound<'py, PyAny>,
        reference_ms: Option<i64>,
    ) -> Option<Bound<'py, PyTuple>> {
        match record.cast::<PyBytes>() {
            Ok(raw) if raw.is_exact_instance_of::<PyBytes>() => {
                let decoded = val::decode(raw.as_bytes())?;
                self.check_members(py, &Json::map(&&decoded)?, reference_ms)
            }
            _ => self.check_members(py, &record.map()?, reference_ms),
        }
    }
}
