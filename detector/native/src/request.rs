//! `detector.features.extract` in one call per event: the user turn through `FeatureKernel`, and
//! around it everything the Python reference reads from the request itself -- the message
//! structure (last and first user turn, single-shot, tool use, prefill), the parameter bits
//! (`detector.signals.parameter_signals`, `shape_signals`, `turn_signals`), the estimated input
//! tokens, the identifier and logit-bias fingerprints and the input chunks (`ChunkKernel`) --
//! returned as the `EventFeatures` the reference builds.
//!
//! What stays Python, called from here: the memoised system view, `ip_prefix` and `ua_family`
//! (memoised too), the capping of a turn longer than the analysis cap, `output_signals` (a regular
//! expression, only when an answer was logged), `template_only` (only for a short turn holding a
//! template marker) and the fingerprint of an opening turn that is not the last one. Every bit and
//! limit comes from `detector.signals` at start-up, so each has one definition.
//!
//! When it fails: `extract` returns `None` -- and the caller runs the Python reference -- when
//! the system part or the turn cannot be taken by the kernel (a lone surrogate), or a number or
//! logit-bias id does not fit the kernel's integers. Assumes the event was validated by
//! `detector.parse` (its fields have their declared types).
//!
//! Cost: about thirty attribute reads and a few calls into memoised Python functions beside the
//! user-turn kernel; `docs/design.md` has the figures.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use std::collections::HashMap;

use crate::chunks::ChunkKernel;
use crate::features::{FeatureKernel, LazyStr, SystemPart};

/// The `detector.signals.Signal` bits the request-level rules set.
struct Bits {
    empty: u32,
    template: u32,
    probe: u32,
    logprobs: u32,
    one: u32,
    multi: u32,
    tools: u32,
    think: u32,
    long: u32,
    single: u32,
    greedy: u32,
    wide_bias: u32,
    short_samples: u32,
}

/// The entry `name` taken out of what Python handed over; `KeyError` when it is missing.
fn take<T>(map: &mut HashMap<String, T>, name: &str) -> PyResult<T> {
    map.remove(name)
        .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(name.to_string()))
}

impl Bits {
    fn from_names(mut bits: HashMap<String, u32>) -> PyResult<Bits> {
        let mut bit = |name: &str| take(&mut bits, name);
        Ok(Bits {
            empty: bit("EMPTY_TURN")?,
            template: bit("TEMPLATE_ONLY")?,
            probe: bit("LOGIT_PROBE")?,
            logprobs: bit("LOGPROBS")?,
            one: bit("ONE_TOKEN")?,
            multi: bit("MULTI_SAMPLE")?,
            tools: bit("TOOLS")?,
            think: bit("THINKING")?,
            long: bit("LONG_OUTPUT")?,
            single: bit("SINGLE_SHOT")?,
            greedy: bit("GREEDY")?,
            wide_bias: bit("WIDE_BIAS")?,
            short_samples: bit("SHORT_SAMPLES")?,
        })
    }
}

/// The limits of `detector.signals` and `detector.text` the rules read.
struct Limits {
    /// a logit bias over more tokens is WIDE_BIAS
    wide_bias_tokens: i64,
    /// a longer normalised turn is never template-only
    template_max_chars: usize,
    /// domain d >= 1 sets bit `domain_shift + d`
    domain_shift: u32,
    /// turns longer than this many characters are capped before analysis
    max_analysed_chars: usize,
    /// n > 1 samples of fewer output tokens each are SHORT_SAMPLES
    short_sample_tokens: i64,
}

/// The Python functions `extract` calls (see the module docs).
struct Calls {
    features_class: Py<PyAny>,
    system_view: Py<PyAny>,
    cap: Py<PyAny>,
    template_only: Py<PyAny>,
    output_signals: Py<PyAny>,
    ip_prefix: Py<PyAny>,
    ua_family: Py<PyAny>,
    fingerprint: Py<PyAny>,
    hash_str: Py<PyAny>,
}

impl Calls {
    fn from_names(mut calls: HashMap<String, Py<PyAny>>) -> PyResult<Calls> {
        let mut call = |name: &str| take(&mut calls, name);
        Ok(Calls {
            features_class: call("features_class")?,
            system_view: call("system_view")?,
            cap: call("cap")?,
            template_only: call("template_only")?,
            output_signals: call("output_signals")?,
            ip_prefix: call("ip_prefix")?,
            ua_family: call("ua_family")?,
            fingerprint: call("fingerprint")?,
            hash_str: call("hash_str")?,
        })
    }
}

/// `detector.features.extract` of one `Event`, around the user-turn kernel.
#[pyclass(frozen, module = "detector_native")]
pub struct RequestKernel {
    turn: Py<FeatureKernel>,
    chunks: Py<ChunkKernel>,
    bits: Bits,
    limits: Limits,
    calls: Calls,
}

/// An optional int field (`None` -> `None`); `Err` when it does not fit an `i64`.
fn opt_int(ev: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<Option<i64>> {
    ev.getattr(name)?.extract()
}

/// Python truthiness of an optional int field (`ev.n or 0`, as an int).
fn int_or_zero(ev: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<i64> {
    Ok(opt_int(ev, name)?.unwrap_or(0))
}

impl RequestKernel {
    /// The seeded xxh3 of an identifier (`detector.text.hash_str`); the Python function for a
    /// string that is not valid UTF-8.
    fn hash_id(&self, value: &Bound<'_, PyAny>) -> PyResult<u64> {
        let s = value.cast::<PyString>()?;
        match s.to_str() {
            Ok(text) => Ok(self.turn.get().hash(text.as_bytes())),
            Err(_) => self.calls.hash_str.bind(value.py()).call1((s,))?.extract(),
        }
    }

    /// `hash_str(value) if value else 0` of an optional identifier field.
    fn opt_hash(&self, ev: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<u64> {
        let value = ev.getattr(name)?;
        if value.is_truthy()? {
            self.hash_id(&value)
        } else {
            Ok(0)
        }
    }

    /// `detector.features.bias_fingerprint`: the hash of the sorted ids joined by commas, else of
    /// `size:<n>`, else 0. `None` when an id does not fit an `i128`.
    fn bias_fp(&self, ids: &Bound<'_, PyTuple>, size: i64) -> PyResult<Option<u64>> {
        if !ids.is_empty() {
            let mut joined = String::new();
            for (i, id) in ids.iter().enumerate() {
                let Ok(id) = id.extract::<i128>() else {
                    return Ok(None);
                };
                if i > 0 {
                    joined.push(',');
                }
                joined.push_str(&id.to_string());
            }
            return Ok(Some(self.turn.get().hash(joined.as_bytes())));
        }
        Ok(Some(if size != 0 {
            self.turn.get().hash(format!("size:{size}").as_bytes())
        } else {
            0
        }))
    }

    /// `template_only(norm)`, asking Python only for a short turn that holds a marker (short: at
    /// most `template_max_chars` characters, as Python's `len` counts them).
    fn template_only(&self, norm: &LazyStr<'_>) -> PyResult<bool> {
        let text = norm.text();
        if text.len() > 4 * self.limits.template_max_chars || norm.chars() > self.limits.template_max_chars {
            return Ok(false);
        }
        if !text.bytes().any(|b| matches!(b, b'<' | b'[' | b'#' | b':')) {
            return Ok(false);
        }
        let text = norm.object();
        self.calls.template_only.bind(text.py()).call1((text,))?.is_truthy()
    }
}

#[pymethods]
impl RequestKernel {
    /// From the user-turn kernel, the chunk kernel, `Signal` names -> bits, the limits `(wide bias tokens,
    /// template-only max chars, domain bit shift, analysis cap, short sample tokens)` and the Python functions by
    /// name (`features_class`: `EventFeatures`; `system_view`: the view of an optional system
    /// prompt; `cap`, `template_only`, `output_signals`, `ip_prefix`, `ua_family`, `fingerprint`,
    /// `hash_str`: the functions of those names).
    #[new]
    fn new(
        turn: Py<FeatureKernel>,
        chunks: Py<ChunkKernel>,
        bits: HashMap<String, u32>,
        limits: (i64, usize, u32, usize, i64),
        calls: HashMap<String, Py<PyAny>>,
    ) -> PyResult<Self> {
        Ok(RequestKernel {
            turn,
            chunks,
            bits: Bits::from_names(bits)?,
            limits: Limits {
                wide_bias_tokens: limits.0,
                template_max_chars: limits.1,
                domain_shift: limits.2,
                max_analysed_chars: limits.3,
                short_sample_tokens: limits.4,
            },
            calls: Calls::from_names(calls)?,
        })
    }

    /// The `EventFeatures` of `ev` (a validated `detector.record.Event`), or `None` when the
    /// Python reference has to compute them (see the module docs).
    fn extract<'py>(&self, py: Python<'py>, ev: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let (b, calls) = (&self.bits, &self.calls);
        let messages = ev.getattr(intern!(py, "messages"))?.cast_into::<PyTuple>()?;
        let (role_name, content_name) = (intern!(py, "role"), intern!(py, "content"));
        let (mut first_user, mut last_user) = (None, None);
        let mut all_user = !messages.is_empty();
        let mut last_role = None;
        for m in messages.iter() {
            let role = m.getattr(role_name)?.cast_into::<PyString>()?;
            let is_user = role.to_str().is_ok_and(|r| r == "user");
            all_user &= is_user;
            if is_user {
                if first_user.is_none() {
                    first_user = Some(m.clone());
                }
                last_user = Some(m.clone());
            }
            last_role = Some((role, m));
        }
        let content = match &last_user {
            Some(m) => m.getattr(content_name)?,
            None => py.None().into_bound(py),
        };
        let user = if content.is_truthy()? {
            content.clone().cast_into::<PyString>()?
        } else {
            PyString::new(py, "")
        };
        let user_chars = user.len()?;

        let system = calls
            .system_view
            .bind(py)
            .call1((ev.getattr(intern!(py, "system"))?,))?;
        let system = system.cast_into::<PyTuple>()?;
        let Ok(part) = system.get_item(3)?.cast_into::<SystemPart>() else {
            return Ok(None);
        };
        let n_tools = int_or_zero(ev, intern!(py, "tools"))?;
        let agent_step = last_role
            .as_ref()
            .is_some_and(|(role, _)| role.to_str().is_ok_and(|r| r == "tool"));
        let capped = if user_chars > self.limits.max_analysed_chars {
            calls.cap.bind(py).call1((&user,))?.cast_into::<PyString>()?
        } else {
            user.clone()
        };
        let Some(t) = self
            .turn
            .get()
            .turn_of(py, &capped, part.get(), n_tools != 0 || agent_step, user_chars)?
        else {
            return Ok(None);
        };

        let input_tokens = match opt_int(ev, intern!(py, "input_tokens"))? {
            Some(n) => n,
            None => (user_chars / 4) as i64,
        };
        let output_tokens = opt_int(ev, intern!(py, "output_tokens"))?;
        // detector.signals.parameter_signals
        let mut flags = 0u32;
        let logprobs = ev.getattr(intern!(py, "logprobs"))?.is_truthy()?;
        let bias_size = int_or_zero(ev, intern!(py, "logit_bias_size"))?;
        if logprobs || int_or_zero(ev, intern!(py, "top_logprobs"))? > 0 {
            flags |= b.logprobs;
            if bias_size >= 1 {
                flags |= b.probe;
            }
        }
        if opt_int(ev, intern!(py, "max_tokens"))?.is_some_and(|m| m <= 2) {
            flags |= b.one;
        }
        let samples = int_or_zero(ev, intern!(py, "n"))?;
        if samples > 1 {
            flags |= b.multi;
            if output_tokens.is_some_and(|o| o < self.limits.short_sample_tokens.saturating_mul(samples)) {
                flags |= b.short_samples;
            }
        }
        if n_tools >= 1 {
            flags |= b.tools;
        }
        if int_or_zero(ev, intern!(py, "thinking_budget"))? >= 1024
            || int_or_zero(ev, intern!(py, "reasoning_tokens"))? > 0
        {
            flags |= b.think;
        }
        if output_tokens.is_some_and(|o| o >= 4 * input_tokens.max(50)) {
            flags |= b.long;
        }
        // detector.signals.turn_signals
        if let Some((role, last)) = &last_role {
            match &last_user {
                None => {
                    let prefill =
                        role.to_str().is_ok_and(|r| r == "assistant") && last.getattr(content_name)?.is_truthy()?;
                    flags |= b.empty | if prefill { b.template } else { 0 };
                }
                Some(_) if content.is_none() => {}
                Some(_) if t.norm.text().is_empty() => flags |= b.empty,
                Some(_) if self.template_only(&t.norm)? => flags |= b.empty | b.template,
                Some(_) => {}
            }
        }
        // detector.signals.shape_signals
        if t.domain != 0 {
            flags |= 1 << (self.limits.domain_shift + u32::from(t.domain));
        }
        if all_user {
            flags |= b.single;
        }
        if ev
            .getattr(intern!(py, "temperature"))?
            .extract::<Option<f64>>()?
            .is_some_and(|x| x <= 0.1)
        {
            flags |= b.greedy;
        }
        let ids = ev.getattr(intern!(py, "logit_bias_ids"))?.cast_into::<PyTuple>()?;
        if (ids.len() as i64).max(bias_size) > self.limits.wide_bias_tokens {
            flags |= b.wide_bias;
        }
        let output = ev.getattr(intern!(py, "output"))?;
        if output.is_truthy()? {
            flags |= calls.output_signals.bind(py).call1((output,))?.extract::<u32>()?;
        }
        let system_flags: u32 = system.get_item(2)?.extract()?;
        flags |= t.flags | system_flags;

        let Some(bias_fp) = self.bias_fp(&ids, bias_size)? else {
            return Ok(None);
        };
        let head_fp = match (&first_user, &last_user) {
            (Some(first), Some(last)) if first.is(last) => t.norm_fp,
            (Some(first), _) => {
                let opening = first.getattr(content_name)?;
                if opening.is_truthy()? {
                    calls.fingerprint.bind(py).call1((opening,))?.extract()?
                } else {
                    0
                }
            }
            (None, _) => 0,
        };
        let model = ev.getattr(intern!(py, "model"))?;
        let (input_chunks, input_samples) = self.chunks.get().input(py, ev)?;
        let int = |x: u64| x.into_pyobject(py).map(|x| x.into_any());
        let args = [
            ev.getattr(intern!(py, "ts_ms"))?,
            ev.getattr(intern!(py, "api_key_id"))?,
            ev.getattr(intern!(py, "account_id"))?,
            ev.getattr(intern!(py, "account_created_ms"))?,
            int(t.prompt_fp)?,
            int(t.skeleton_fp)?,
            int(t.signature)?,
            system.get_item(1)?,
            int(flags.into())?,
            int(t.script.into())?,
            int(user_chars as u64)?,
            input_tokens.into_pyobject(py)?.into_any(),
            output_tokens.unwrap_or(0).into_pyobject(py)?.into_any(),
            int(messages.len() as u64)?,
            if model.is_truthy()? {
                model
            } else {
                PyString::new(py, "").into_any()
            },
            calls
                .ip_prefix
                .bind(py)
                .call1((ev.getattr(intern!(py, "client_ip"))?,))?,
            calls
                .ua_family
                .bind(py)
                .call1((ev.getattr(intern!(py, "user_agent"))?,))?,
            int(self.opt_hash(ev, intern!(py, "end_user_id"))?)?,
            int_or_zero(ev, intern!(py, "status"))?.into_pyobject(py)?.into_any(),
            int(bias_fp)?,
            int(head_fp)?,
            int(self.opt_hash(ev, intern!(py, "request_id"))?)?,
            int(input_chunks)?,
            input_samples.into_any(),
        ];
        let args = PyTuple::new(py, args)?;
        Ok(Some(calls.features_class.bind(py).call1(args)?))
    }
}
