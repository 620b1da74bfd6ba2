//! `detector.parse.check_record` for the common case: a decoded canonical record (the dict orjson
//! made) checked field by field, returned as the positional arguments of `Event`.
//!
//! The field table (source key, Event field, kind, bounds), the Event field order and defaults,
//! the role map and the limits come from `detector.parse` at start-up. Any record that is not
//! plainly valid -- a missing or mistyped field, a value out of range, a timestamp in another
//! ISO 8601 form than `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+hh:mm)`, an identifier to truncate, content
//! given as a list of parts, a `logit_bias` key other than a decimal id of at most 18 digits --
//! returns `None`, and the Python reference decides (and writes the rejection). So the kernel
//! never has to agree with Python on an error.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use std::collections::HashMap;

use crate::bytes_pass::is_py_space;

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

struct Field {
    key: Py<PyString>,
    slot: usize,
    kind: Kind,
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
    defaults: Vec<Py<PyAny>>,
    slots: Slots,
    roles: HashMap<String, Py<PyString>>,
    message: Py<PyAny>,
    limits: (i64, i64, i64, usize, usize, usize),
}

impl RecordKernel {
    fn timestamp(&self, v: &Bound<'_, PyAny>) -> Option<i64> {
        let ms = if v.is_exact_instance_of::<PyString>() {
            rfc3339_ms(v.cast::<PyString>().ok()?.to_str().ok()?)?
        } else if v.is_exact_instance_of::<PyInt>() {
            v.extract::<i64>().ok()?
        } else if v.is_exact_instance_of::<PyFloat>() {
            let f = v.extract::<f64>().ok()?;
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
    fn value<'py>(&self, py: Python<'py>, kind: Kind, v: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
        match kind {
            Kind::Id => {
                let s = v
                    .cast::<PyString>()
                    .ok()
                    .filter(|_| v.is_exact_instance_of::<PyString>())?;
                (s.len().ok()? <= self.limits.3).then(|| v.clone())
            }
            Kind::Text => v.is_exact_instance_of::<PyString>().then(|| v.clone()),
            Kind::Int(lo, hi) => {
                let x = v.is_exact_instance_of::<PyInt>().then(|| v.extract::<i128>().ok())??;
                (lo..=hi).contains(&x).then(|| v.clone())
            }
            Kind::Number(lo, hi) => {
                let x = if v.is_exact_instance_of::<PyFloat>() {
                    v.extract::<f64>().ok()?
                } else if v.is_exact_instance_of::<PyInt>() {
                    // exact below 2**53; every bound here is far smaller
                    let i = v.extract::<i64>().ok()?;
                    if i.unsigned_abs() > 1 << 53 {
                        return None;
                    }
                    i as f64
                } else {
                    return None;
                };
                (lo <= x && x <= hi).then(|| PyFloat::new(py, x).into_any())
            }
            Kind::Bool => v.is_exact_instance_of::<PyBool>().then(|| v.clone()),
            Kind::Timestamp => Some(self.timestamp(v)?.into_pyobject(py).ok()?.into_any()),
        }
    }

    fn fill<'py>(
        &self,
        py: Python<'py>,
        out: &mut [Bound<'py, PyAny>],
        src: &Bound<'py, PyDict>,
        table: &[Field],
    ) -> Option<()> {
        for f in table {
            let Some(v) = src.get_item(f.key.bind(py)).ok()? else {
                continue;
            };
            if v.is_none() {
                continue;
            }
            out[f.slot] = self.value(py, f.kind, &v)?;
        }
        Some(())
    }

    /// `detector.parse.logit_bias_ids` of a map whose keys are all ASCII-decimal token ids of at
    /// most 18 digits and whose values are ints or floats: the sorted distinct ids, the smallest
    /// kept. `None` for any other map (a hashed key, a long id, another value type): the
    /// reference decides.
    fn bias_ids(&self, bias: &Bound<'_, PyDict>) -> Option<Vec<u64>> {
        let mut ids = Vec::with_capacity(bias.len());
        for (key, value) in bias.iter() {
            if !(value.is_exact_instance_of::<PyInt>() || value.is_exact_instance_of::<PyFloat>()) {
                return None;
            }
            let key = key.cast::<PyString>().ok()?.to_str().ok()?;
            if key.is_empty() || key.len() > 18 || !key.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            ids.push(key.parse::<u64>().ok()?);
        }
        ids.sort_unstable();
        ids.dedup();
        ids.truncate(self.limits.5);
        Some(ids)
    }

    fn nested<'py>(
        &self,
        py: Python<'py>,
        out: &mut [Bound<'py, PyAny>],
        obj: &Bound<'py, PyDict>,
        key: &Bound<'py, PyString>,
        table: &[Field],
    ) -> Option<Option<Bound<'py, PyDict>>> {
        match obj.get_item(key).ok()? {
            Some(v) if !v.is_none() => {
                let d = v
                    .cast_into::<PyDict>()
                    .ok()
                    .filter(|d| d.is_exact_instance_of::<PyDict>())?;
                self.fill(py, out, &d, table)?;
                Some(Some(d))
            }
            _ => Some(None),
        }
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
                key: PyString::new(py, &key).unbind(),
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
        Ok(RecordKernel {
            top: table(py, &slot, top)?,
            usage: table(py, &slot, usage)?,
            params: table(py, &slot, params)?,
            defaults: fields.into_iter().map(|(_, d)| d.unbind()).collect(),
            slots,
            roles: roles
                .into_iter()
                .map(|(k, v)| (k, PyString::new(py, &v).unbind()))
                .collect(),
            message: message.unbind(),
            limits,
        })
    }

    /// `Event`'s positional arguments for a plainly valid record, else `None`.
    #[pyo3(signature = (obj, reference_ms=None))]
    fn check<'py>(
        &self,
        py: Python<'py>,
        obj: &Bound<'py, PyAny>,
        reference_ms: Option<i64>,
    ) -> Option<Bound<'py, PyTuple>> {
        let obj = obj
            .cast::<PyDict>()
            .ok()
            .filter(|d| d.is_exact_instance_of::<PyDict>())?;
        let ts_ms = self.timestamp(&obj.get_item(intern!(py, "ts")).ok()??)?;
        if reference_ms.is_some_and(|r| (ts_ms - r).abs() > self.limits.2) {
            return None;
        }
        let key = obj.get_item(intern!(py, "api_key_id")).ok()??;
        let n = key
            .cast::<PyString>()
            .ok()
            .filter(|_| key.is_exact_instance_of::<PyString>())?
            .len()
            .ok()?;
        if !(1..=self.limits.4).contains(&n) {
            return None;
        }
        let mut out: Vec<Bound<'py, PyAny>> = self.defaults.iter().map(|d| d.bind(py).clone()).collect();
        out[self.slots.ts_ms] = ts_ms.into_pyobject(py).ok()?.into_any();
        out[self.slots.api_key_id] = key;
        self.fill(py, &mut out, obj, &self.top)?;
        self.nested(py, &mut out, obj, intern!(py, "usage"), &self.usage)?;
        if let Some(params) = self.nested(py, &mut out, obj, intern!(py, "params"), &self.params)? {
            if let Some(bias) = params
                .get_item(intern!(py, "logit_bias"))
                .ok()?
                .filter(|b| !b.is_none())
            {
                let bias = bias
                    .cast_into::<PyDict>()
                    .ok()
                    .filter(|d| d.is_exact_instance_of::<PyDict>())?;
                out[self.slots.logit_bias_ids] = PyTuple::new(py, self.bias_ids(&bias)?).ok()?.into_any();
                if out[self.slots.logit_bias_size].is_none() {
                    out[self.slots.logit_bias_size] = bias.len().into_pyobject(py).ok()?.into_any();
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
        match obj.get_item(intern!(py, "system")).ok()? {
            Some(s) if !s.is_none() => system.push(s.is_exact_instance_of::<PyString>().then_some(s)?),
            _ => {}
        }
        if let Some(msgs) = obj.get_item(intern!(py, "messages")).ok()?.filter(|m| !m.is_none()) {
            let list = msgs
                .cast_into::<PyList>()
                .ok()
                .filter(|l| l.is_exact_instance_of::<PyList>())?;
            let mut turns = Vec::with_capacity(list.len());
            for m in list.iter() {
                let m = m
                    .cast_into::<PyDict>()
                    .ok()
                    .filter(|d| d.is_exact_instance_of::<PyDict>())?;
                let role = m.get_item(intern!(py, "role")).ok()??;
                let role = self.roles.get(role.cast::<PyString>().ok()?.to_str().ok()?)?.bind(py);
                let content = match m.get_item(intern!(py, "content")).ok()? {
                    Some(c) if !c.is_none() => c.is_exact_instance_of::<PyString>().then_some(c)?,
                    _ => py.None().into_bound(py),
                };
                if role.to_str().ok()? == "system" {
                    if !content.is_none() {
                        system.push(content);
                    }
                } else {
                    turns.push(self.message.bind(py).call1((role.clone(), content)).ok()?);
                }
            }
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
