//! `detector.windows.KeyWindows` compiled: all window state of one API key (fine and coarse
//! bucket rings, linkage attributes, the recent-request ring that drops retries), with one call
//! per event (`observe`: `seen` and `add`) and one per bucket close (`summarise`: `close`, then
//! everything `detector.partition` puts in the `WindowSummary`, `bucket_stats` per horizon
//! included). `WindowKernel` holds the constants and tables handed over by `detector.windows` and
//! `detector.summary` and makes the keys.
//!
//! Same state as the reference after any sequence of events and closes: `to_bytes` gives the
//! reference's bytes (the JSON header is written by the same `orjson.dumps`, once per call), and
//! `WindowKernel.load` reads what either wrote. Link values keep the reference dicts'
//! insertion order and overflow rule; buckets are kept by start time (every reference loop over
//! them sorts or is order-free).
//!
//! Assumes the reference's types: `EventFeatures` attributes of the documented types, UTF-8
//! strings (a lone surrogate raises `UnicodeEncodeError`, as the reference's `to_bytes` would
//! later), signal bits below `NSIG`, scripts below 63, non-negative times. Fails: `load`
//! raises `ValueError` on bytes that are not a key's window state, or whose sketch sizes are not
//! this build's. Cost: about twenty attribute reads and a few sketch updates per event; per close,
//! the merges of the buckets a horizon covers and one dict of features per horizon.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::bucket::{bounded_inc, dict_set, Bucket, Event, Layout, MAX_SIGNALS};
use crate::stats::StatsTables;
use crate::wire::{bad, framed, unframe, Bad};

/// The fields of `detector.features.EventFeatures`, in the order of a keyed row's values
/// (`detector.stages.records.FEATURE_FIELDS`, which `detector.partition` checks against this).
pub const ROW_FIELDS: [&str; 24] = [
    "ts_ms",
    "api_key_id",
    "account_id",
    "account_created_ms",
    "prompt_fp",
    "skeleton_fp",
    "skeleton_sig",
    "system_fp",
    "flags",
    "script",
    "prompt_chars",
    "input_tokens",
    "output_tokens",
    "depth",
    "model",
    "ip_prefix",
    "user_agent",
    "end_user_fp",
    "status",
    "bias_fp",
    "head_fp",
    "request_fp",
    "input_chunks",
    "input_samples",
];

/// Items before the values in a keyed row: source offset, index in its message, `pre` watermark.
pub const ROW_HEAD: usize = 3;

/// Position of field `name` in a keyed row (evaluated at compile time: a name that is not in
/// `ROW_FIELDS` does not compile).
const fn row_index(name: &str) -> usize {
    let mut i = 0;
    while i < ROW_FIELDS.len() {
        let (a, b) = (ROW_FIELDS[i].as_bytes(), name.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return ROW_HEAD + i;
            }
        }
        i += 1;
    }
    panic!("not a field of a keyed row")
}

/// Where `KeyWindows::count` reads an event's fields: by name or by position in a keyed row.
trait Fields<'py> {
    fn py(&self) -> Python<'py>;
    fn get(&self, name: &Bound<'py, PyString>, index: usize) -> PyResult<Bound<'py, PyAny>>;
}

/// The attributes of an `EventFeatures`.
struct Attributes<'a, 'py>(&'a Bound<'py, PyAny>);

impl<'py> Fields<'py> for Attributes<'_, 'py> {
    fn py(&self) -> Python<'py> {
        self.0.py()
    }
    fn get(&self, name: &Bound<'py, PyString>, _index: usize) -> PyResult<Bound<'py, PyAny>> {
        self.0.getattr(name)
    }
}

/// The items of a keyed row whose length has been checked.
struct RowItems<'a, 'py>(&'a Bound<'py, PyList>);

impl<'py> Fields<'py> for RowItems<'_, 'py> {
    fn py(&self) -> Python<'py> {
        self.0.py()
    }
    fn get(&self, _name: &Bound<'py, PyString>, index: usize) -> PyResult<Bound<'py, PyAny>> {
        self.0.get_item(index)
    }
}

/// What every key's state shares.
struct Tables {
    /// `Bucket()`: the sketch sizes of every bucket
    empty: Bucket,
    layout: Layout,
    /// MAX_LINK_VALUES, MAX_SIGNATURES, RECENT_REQUESTS
    links: usize,
    signatures: usize,
    recent: usize,
    stats: StatsTables,
    /// `orjson.dumps`, `orjson.loads`: the key header's JSON
    dumps: Py<PyAny>,
    loads: Py<PyAny>,
}

/// The tables of the window kernel; makes `KeyWindows`.
#[pyclass(frozen, module = "detector_native")]
pub struct WindowKernel {
    tables: Arc<Tables>,
}

/// One key's window state (`detector.windows.KeyWindows`).
#[pyclass(module = "detector_native")]
pub struct KeyWindows {
    tables: Arc<Tables>,
    #[pyo3(get)]
    api_key_id: String,
    #[pyo3(get)]
    account_id: Option<String>,
    #[pyo3(get)]
    account_created_ms: Option<i64>,
    #[pyo3(get)]
    last_ts: i64,
    fine: BTreeMap<i64, Bucket>,
    coarse: BTreeMap<i64, Bucket>,
    ip_prefixes: Vec<(String, i64)>,
    user_agents: Vec<(String, i64)>,
    signatures: Vec<(u64, i64)>,
    recent: Vec<u64>,
}

/// What `detector.partition` puts in a `WindowSummary` besides the key and time: stats per
/// horizon, models of the hour and day horizons, the day's top skeletons, IP prefix, user agent,
/// signatures and activity.
type Summary<'py> = (
    Bound<'py, PyDict>,
    Bound<'py, PyDict>,
    Bound<'py, PyDict>,
    Vec<(u64, u64)>,
    String,
    String,
    Vec<(u64, i64)>,
    String,
);

/// A Python dict of `items`, in their order.
fn dict_of<'py, 'a>(
    py: Python<'py>,
    items: impl IntoIterator<Item = &'a (String, i64)>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    items.into_iter().try_for_each(|(k, v)| d.set_item(k, v))?;
    Ok(d)
}

/// `dict(sorted(models.items()))`.
fn sorted_models<'py>(py: Python<'py>, models: &[(String, i64)]) -> PyResult<Bound<'py, PyDict>> {
    let mut items: Vec<&(String, i64)> = models.iter().collect();
    items.sort_unstable();
    dict_of(py, items)
}

/// `max(sorted(d), key=d.__getitem__, default="")`: the most frequent value, the smallest on ties.
fn most_frequent(d: &[(String, i64)]) -> String {
    d.iter()
        .min_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)))
        .map_or_else(String::new, |e| e.0.clone())
}

impl KeyWindows {
    fn new(tables: Arc<Tables>, api_key_id: String) -> Self {
        KeyWindows {
            tables,
            api_key_id,
            account_id: None,
            account_created_ms: None,
            last_ts: -1,
            fine: BTreeMap::new(),
            coarse: BTreeMap::new(),
            ip_prefixes: Vec::new(),
            user_agents: Vec::new(),
            signatures: Vec::new(),
            recent: Vec::new(),
        }
    }

    /// `KeyWindows.seen`: whether `request_fp` is one of the last few request ids (else remembers it).
    fn seen(&mut self, request_fp: u64) -> bool {
        if request_fp == 0 {
            return false;
        }
        if self.recent.contains(&request_fp) {
            return true;
        }
        self.recent.push(request_fp);
        if self.recent.len() > self.tables.recent {
            self.recent.remove(0);
        }
        false
    }

    /// `KeyWindows.activity(hour, span_ms)` as `f"{mask:x}"`.
    fn activity(&self, hour: i64, span_ms: i64) -> String {
        let lay = &self.tables.layout;
        let per_hour = (lay.hour_ms / lay.slot_ms) as usize;
        let hours = span_ms.div_euclid(lay.hour_ms).max(0);
        let mut words = vec![0u64; per_hour * hours as usize / 64 + 2];
        for (&h, b) in &self.coarse {
            let age = (hour - h).div_euclid(lay.hour_ms);
            if 0 <= age && age < hours {
                let shift = per_hour * (hours - 1 - age) as usize;
                let (word, bit) = (shift / 64, shift % 64);
                words[word] |= (b.slots as u64) << bit;
                if bit != 0 {
                    words[word + 1] |= (b.slots as u64) >> (64 - bit);
                }
            }
        }
        let Some(top) = words.iter().rposition(|&w| w != 0) else {
            return "0".to_owned();
        };
        let mut hex = format!("{:x}", words[top]);
        words[..top]
            .iter()
            .rev()
            .for_each(|w| hex.push_str(&format!("{w:016x}")));
        hex
    }
}

#[pymethods]
impl WindowKernel {
    /// From `detector.windows`: the empty bucket's bytes, the caps `(NSIG, MAX_MODELS,
    /// MAX_LINK_VALUES, MAX_SIGNATURES, RECENT_REQUESTS)`, the overflow key, the times (hour,
    /// activity slot, end-user session, in ms); from `detector.summary`: the stats keys,
    /// `SIGNAL_BITS`, the task areas, `breadth`'s thresholds and the input chunks' sample rate; `(orjson.dumps, orjson.loads)`;
    /// and the `EventFeatures` field names, which must be `ROW_FIELDS` (else `ValueError`).
    #[new]
    #[allow(clippy::too_many_arguments)] // one argument per table handed over
    fn new(
        py: Python<'_>,
        empty: &[u8],
        caps: (usize, usize, usize, usize, usize),
        other: String,
        times: (i64, i64, i64),
        stats_keys: Vec<String>,
        signal_bits: Vec<(String, usize)>,
        areas: Vec<Vec<String>>,
        thresholds: (f64, f64, f64, f64),
        json: (Py<PyAny>, Py<PyAny>),
        row_fields: Vec<String>,
    ) -> PyResult<Self> {
        if row_fields != ROW_FIELDS {
            return Err(PyValueError::new_err(format!(
                "EventFeatures fields {row_fields:?} are not the compiled keyed row's {ROW_FIELDS:?}"
            )));
        }
        let (nsig, max_models, links, signatures, recent) = caps;
        let (hour_ms, slot_ms, session_ms) = times;
        if nsig > MAX_SIGNALS || slot_ms <= 0 || session_ms <= 0 || hour_ms <= 0 || hour_ms / slot_ms > 63 {
            return Err(PyValueError::new_err(
                "window constants out of the compiled kernel's range",
            ));
        }
        Ok(WindowKernel {
            tables: Arc::new(Tables {
                empty: Bucket::read(empty, nsig, 0)?, // the reference's empty bucket: every part
                layout: Layout {
                    nsig,
                    max_models,
                    other,
                    hour_ms,
                    slot_ms,
                    session_ms,
                },
                links,
                signatures,
                recent,
                stats: StatsTables::new(py, stats_keys, signal_bits, areas, thresholds)?,
                dumps: json.0,
                loads: json.1,
            }),
        })
    }

    /// An empty `KeyWindows(api_key_id)`.
    fn key(&self, api_key_id: String) -> KeyWindows {
        KeyWindows::new(Arc::clone(&self.tables), api_key_id)
    }

    /// `KeyWindows.from_bytes(data)`: the state of bytes written by either implementation.
    fn load(&self, py: Python<'_>, data: &[u8]) -> PyResult<KeyWindows> {
        let t = &self.tables;
        let parts = unframe(data)?;
        let Some((head, buckets)) = parts.split_first() else {
            return Err(Bad("empty window state".to_owned()).into());
        };
        let fields: Vec<Bound<'_, PyAny>> = t.loads.bind(py).call1((PyBytes::new(py, head),))?.extract()?;
        let [key, acct, created, last_ts, ips, uas, fine, coarse, sigs, recent] = &fields[..] else {
            return Err(Bad(format!("a header of {} fields", fields.len())).into());
        };
        let counts = |d: &Bound<'_, PyAny>| -> PyResult<Vec<(String, i64)>> {
            d.cast::<PyDict>()?
                .iter()
                .map(|(k, v)| Ok((k.extract()?, v.extract()?)))
                .collect()
        };
        let mut kw = KeyWindows::new(Arc::clone(t), key.extract()?);
        kw.account_id = acct.extract()?;
        kw.account_created_ms = created.extract()?;
        kw.last_ts = last_ts.extract()?;
        kw.ip_prefixes = counts(ips)?;
        kw.user_agents = counts(uas)?;
        for pair in sigs.extract::<Vec<Vec<Bound<'_, PyAny>>>>()? {
            let [s, c] = &pair[..] else {
                return Err(Bad("a signature that is not a pair".to_owned()).into());
            };
            let (s, c): (u64, i64) = (
                s.extract::<String>()?
                    .parse()
                    .map_err(|_| Bad(format!("signature {s}")))?,
                c.extract()?,
            );
            dict_set(&mut kw.signatures, s, c);
        }
        for r in recent.extract::<Vec<String>>()? {
            kw.recent.push(r.parse().map_err(|_| Bad(format!("request id {r}")))?);
        }
        let (fine, coarse): (Vec<i64>, Vec<i64>) = (fine.extract()?, coarse.extract()?);
        if buckets.len() != fine.len() + coarse.len() {
            return Err(Bad(format!(
                "{} buckets for {} starts",
                buckets.len(),
                fine.len() + coarse.len()
            ))
            .into());
        }
        let read = |data: &[u8]| -> Result<Bucket, Bad> {
            let b = Bucket::read(data, t.layout.nsig, t.empty.inputs.k())?;
            if b.same_shape(&t.empty) {
                Ok(b)
            } else {
                bad("Bucket", "sketch sizes differ from this build's")
            }
        };
        let (fine_parts, coarse_parts) = buckets.split_at(fine.len());
        for (s, data) in fine.into_iter().zip(fine_parts) {
            kw.fine.insert(s, read(data)?);
        }
        for (h, data) in coarse.into_iter().zip(coarse_parts) {
            kw.coarse.insert(h, read(data)?);
        }
        Ok(kw)
    }
}

impl KeyWindows {
    /// `observe` of the event whose fields `f` gives.
    fn count<'py>(&mut self, f: &impl Fields<'py>, fine_ms: i64) -> PyResult<bool> {
        let py = f.py();
        macro_rules! get {
            ($name:literal) => {
                f.get(intern!(py, $name), const { row_index($name) })?
            };
        }
        macro_rules! int {
            ($name:literal) => {
                get!($name).extract()?
            };
        }
        if self.seen(int!("request_fp")) {
            return Ok(false);
        }
        let model = get!("model").cast_into::<PyString>()?;
        let ev = Event {
            ts_ms: int!("ts_ms"),
            prompt_fp: int!("prompt_fp"),
            skeleton_fp: int!("skeleton_fp"),
            flags: int!("flags"),
            script: int!("script"),
            prompt_chars: int!("prompt_chars"),
            input_tokens: int!("input_tokens"),
            output_tokens: int!("output_tokens"),
            depth: int!("depth"),
            model: model.to_str()?,
            end_user_fp: int!("end_user_fp"),
            status: int!("status"),
            bias_fp: int!("bias_fp"),
            head_fp: int!("head_fp"),
            input_chunks: int!("input_chunks"),
            input_samples: int!("input_samples"),
        };
        let t = &*self.tables;
        if ev.flags.checked_shr(t.layout.nsig as u32).unwrap_or(0) != 0 || ev.script >= 63 {
            return Err(PyValueError::new_err(
                "signal bit or script past the window buckets' range",
            ));
        }
        let ts = ev.ts_ms;
        let last = self.last_ts;
        let gap = if 0 <= last && last <= ts { ts - last } else { -1 };
        let start = ts - ts.rem_euclid(fine_ms);
        self.fine
            .entry(start)
            .or_insert_with(|| t.empty.clone())
            .add(&ev, gap, &t.layout);
        self.last_ts = last.max(ts);
        let acct = get!("account_id");
        if !acct.is_none() {
            let acct = acct.cast::<PyString>()?.to_str()?;
            if self.account_id.as_deref() != Some(acct) {
                self.account_id = Some(acct.to_owned());
            }
        }
        let created = get!("account_created_ms");
        if !created.is_none() {
            self.account_created_ms = Some(created.extract()?);
        }
        let other = &t.layout.other;
        for (v, values) in [
            (get!("ip_prefix"), &mut self.ip_prefixes),
            (get!("user_agent"), &mut self.user_agents),
        ] {
            let v = v.cast_into::<PyString>()?;
            let v = v.to_str()?;
            if !v.is_empty() {
                bounded_inc(values, v, 1, t.links, other);
            }
        }
        let sig: u64 = int!("skeleton_sig");
        if sig != 0 {
            match self.signatures.iter().position(|e| e.0 == sig) {
                Some(i) => self.signatures[i].1 += 1,
                None if self.signatures.len() < t.signatures => self.signatures.push((sig, 1)),
                None => (),
            }
        }
        Ok(true)
    }
}

#[pymethods]
impl KeyWindows {
    /// `seen(f.request_fp)`, then `add(f, fine_ms)` unless it was seen: whether `f` was counted
    /// (the caller has checked it is not late).
    fn observe(&mut self, f: &Bound<'_, PyAny>, fine_ms: i64) -> PyResult<bool> {
        self.count(&Attributes(f), fine_ms)
    }

    /// `observe` of a keyed row `[offset, index, pre, *values]` whose values follow
    /// `ROW_FIELDS` (`detector.stages.records.FEATURE_FIELDS`), without building the
    /// `EventFeatures`.
    fn observe_row(&mut self, row: &Bound<'_, PyList>, fine_ms: i64) -> PyResult<bool> {
        if row.len() != ROW_HEAD + ROW_FIELDS.len() {
            return Err(PyValueError::new_err(format!(
                "a keyed row has {} items, expected {}",
                row.len(),
                ROW_HEAD + ROW_FIELDS.len()
            )));
        }
        self.count(&RowItems(row), fine_ms)
    }

    /// `close(start, fine_ms, coarse_ms, horizons)` and what `detector.partition` derives from it
    /// (`Summary`): `day` and `hour` name the horizons whose models (and, for `day`, top `top`
    /// skeletons) go in the summary.
    #[allow(clippy::too_many_arguments)] // the reference's close arguments and the summary's choices
    fn summarise<'py>(
        &mut self,
        py: Python<'py>,
        start: i64,
        fine_ms: i64,
        coarse_ms: i64,
        horizons: &Bound<'py, PyDict>,
        day: &str,
        hour: &str,
        top: usize,
    ) -> PyResult<Summary<'py>> {
        let t = Arc::clone(&self.tables);
        let lay = &t.layout;
        let end = start + fine_ms;
        let hour_start = start - start.rem_euclid(coarse_ms);
        let empty;
        let closed = match self.fine.get(&start) {
            Some(b) => b,
            None => {
                empty = t.empty.clone();
                &empty
            }
        };
        match self.coarse.entry(hour_start) {
            Entry::Vacant(e) => {
                e.insert(Bucket::copy_of(closed, &t.empty, lay));
            }
            Entry::Occupied(mut e) => e.get_mut().merge(closed, lay),
        }
        let stats = PyDict::new(py);
        let (mut models_1h, mut models_24h, mut skeletons) = (None, None, Vec::new());
        let mut spans = Vec::with_capacity(horizons.len());
        for (name, span) in horizons.iter() {
            let span: i64 = span.extract()?;
            spans.push(span);
            let merged;
            let b = if span <= fine_ms {
                closed
            } else {
                let mut m = t.empty.clone();
                if span < coarse_ms * 2 {
                    self.fine.range(end - span..end).for_each(|(_, b)| m.merge(b, lay));
                } else {
                    self.coarse
                        .range(hour_start - span + 1..=hour_start)
                        .for_each(|(_, b)| m.merge(b, lay));
                }
                merged = m;
                &merged
            };
            stats.set_item(&name, t.stats.dict(py, b)?)?;
            let name = name.cast::<PyString>()?.to_str()?;
            if name == day {
                models_24h = Some(sorted_models(py, &b.models)?);
                skeletons = b.top_skeletons.top(top);
            }
            if name == hour {
                models_1h = Some(sorted_models(py, &b.models)?);
            }
        }
        let (Some(models_1h), Some(models_24h), Some(&longest)) = (models_1h, models_24h, spans.iter().max()) else {
            return Err(PyValueError::new_err(
                "the day and hour horizons must be among the horizons",
            ));
        };
        let fine_keep = spans
            .iter()
            .copied()
            .filter(|&s| s < coarse_ms * 2)
            .max()
            .unwrap_or(fine_ms);
        self.fine.retain(|&s, _| s >= end - fine_keep);
        self.coarse.retain(|&h, _| h > hour_start - longest);
        let mut signatures = self.signatures.clone();
        signatures.sort_unstable_by_key(|&(s, c)| (std::cmp::Reverse(c), s));
        Ok((
            stats,
            models_1h,
            models_24h,
            skeletons,
            most_frequent(&self.ip_prefixes),
            most_frequent(&self.user_agents),
            signatures,
            self.activity(hour_start, longest),
        ))
    }

    /// `KeyWindows.to_bytes()`: the same bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let header = PyList::new(
            py,
            [
                self.api_key_id.clone().into_pyobject(py)?.into_any(),
                self.account_id.clone().into_pyobject(py)?.into_any(),
                self.account_created_ms.into_pyobject(py)?.into_any(),
                self.last_ts.into_pyobject(py)?.into_any(),
                dict_of(py, &self.ip_prefixes)?.into_any(),
                dict_of(py, &self.user_agents)?.into_any(),
                self.fine
                    .keys()
                    .copied()
                    .collect::<Vec<i64>>()
                    .into_pyobject(py)?
                    .into_any(),
                self.coarse
                    .keys()
                    .copied()
                    .collect::<Vec<i64>>()
                    .into_pyobject(py)?
                    .into_any(),
                self.signatures
                    .iter()
                    .map(|&(s, c)| (s.to_string(), c))
                    .collect::<Vec<_>>()
                    .into_pyobject(py)?
                    .into_any(),
                self.recent
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .into_pyobject(py)?
                    .into_any(),
            ],
        )?;
        let header = self.tables.dumps.bind(py).call1((header,))?.cast_into::<PyBytes>()?;
        let mut out = Vec::new();
        framed(&mut out, |o| o.extend_from_slice(header.as_bytes()));
        for b in self.fine.values().chain(self.coarse.values()) {
            framed(&mut out, |o| b.write(o));
        }
        Ok(PyBytes::new(py, &out))
    }

    /// `KeyWindows.state_bytes()`: the length of `to_bytes()`.
    fn state_bytes(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.to_bytes(py)?.as_bytes().len())
    }
}
