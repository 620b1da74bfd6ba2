//! `detector.summary.bucket_stats`: the window features of a merged bucket, as a dict with the
//! reference's keys in the reference's order and the same float values bit for bit.
//!
//! The keys (`list(bucket_stats(Bucket()))`), the signal bits behind the `rate_*` keys, the task
//! areas and the thresholds of `breadth` are handed over by `detector.summary`; the kernel checks
//! that the keys are the features computed here, in this order, and refuses to start otherwise.
//! Every value is computed with the reference's operations in its order: `int / int` correctly
//! rounded (`true_div`), `int * float` through the int's nearest float, Python's `min`/`max`
//! (the first argument on ties), `math.log2` and `2.0 ** x` from the C library, and the areas'
//! shares added from 0 as `sum` does in Python 3.11.
//!
//! Cost: one pass over the bucket's sketches (each O(k) or O(bins)) and one dict of ~56 floats.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyString};

use crate::bucket::Bucket;
use crate::true_div;

/// The features before the `rate_*` keys, in the reference's order.
const FIXED: [&str; 25] = [
    "n",
    "distinct_prompt_ratio",
    "distinct_skeleton_ratio",
    "top_skeleton_share",
    "out_in_ratio",
    "out_tokens_mean",
    "in_tokens_mean",
    "depth_mean",
    "error_rate",
    "end_user_share",
    "end_users",
    "gap_p50_s",
    "gap_spread",
    "prompt_chars_p50",
    "hours_active",
    "scripts",
    "out_tokens_sum",
    "end_user_repeat",
    "end_user_session_len",
    "bias_sets",
    "distinct_prompts",
    "conversations",
    "active_slots",
    "new_input_share",
    "out_new_in_ratio",
];

/// Python's `min(1.0, x)`.
fn min1(x: f64) -> f64 {
    if x < 1.0 {
        x
    } else {
        1.0
    }
}

/// Python's `max(x, 1.0)`.
fn max1(x: f64) -> f64 {
    if 1.0 > x {
        1.0
    } else {
        x
    }
}

/// `float(x.bit_count())`.
fn popcount(x: i64) -> f64 {
    f64::from(x.unsigned_abs().count_ones())
}

/// The stats keys and what `breadth` needs.
pub struct StatsTables {
    keys: Vec<Py<PyString>>,
    /// signal bit of each `rate_*` key, in key order
    rate_bits: Vec<usize>,
    /// per task area: the `rate_*` keys (indices into `rate_bits`) its share adds up
    areas: Vec<Vec<usize>>,
    min_share: f64,
    min_count: f64,
    slack: f64,
    /// `detector.chunks.SAMPLE_RATE`: chunks one sampled input chunk stands for
    sample_rate: i64,
}

impl StatsTables {
    /// From `list(bucket_stats(Bucket()))`, `SIGNAL_BITS` (`(name, bit)` per `rate_` key) and the
    /// areas (names of the signals each adds up) with `breadth`'s share, count and slack, and the
    /// input chunks' sample rate.
    pub fn new(
        py: Python<'_>,
        keys: Vec<String>,
        signal_bits: Vec<(String, usize)>,
        areas: Vec<Vec<String>>,
        thresholds: (f64, f64, f64, f64),
    ) -> PyResult<Self> {
        let expected: Vec<String> = FIXED
            .iter()
            .map(|k| k.to_string())
            .chain(signal_bits.iter().map(|(name, _)| format!("rate_{name}")))
            .chain(["domains".to_owned()])
            .collect();
        if keys != expected || signal_bits.iter().any(|&(_, bit)| bit >= crate::bucket::MAX_SIGNALS) {
            return Err(PyValueError::new_err(format!(
                "bucket_stats computes {keys:?}, the compiled twin {expected:?}: update stats.rs"
            )));
        }
        let rate = |name: &String| signal_bits.iter().position(|(s, _)| s == name);
        Ok(StatsTables {
            keys: keys.iter().map(|k| PyString::intern(py, k).unbind()).collect(),
            rate_bits: signal_bits.iter().map(|&(_, bit)| bit).collect(),
            areas: areas.iter().map(|a| a.iter().filter_map(rate).collect()).collect(),
            min_share: thresholds.0,
            min_count: thresholds.1,
            slack: thresholds.2,
            sample_rate: thresholds.3 as i64,
        })
    }

    /// The values of `bucket_stats(b)`, in key order.
    fn values(&self, b: &Bucket) -> Vec<f64> {
        let inv = if b.n != 0 { 1.0 / b.n as f64 } else { 0.0 };
        let top = b.top_skeletons.top(1);
        let (gaps, lengths) = (b.gaps.count(), b.lengths.count());
        let per_user = |est: f64| {
            if b.end_user_n != 0 {
                b.end_user_n as f64 / max1(est)
            } else {
                0.0
            }
        };
        let new_share = self.distinct_share(b);
        let mut v = vec![
            b.n as f64,
            min1(b.prompts.estimate() * inv),
            min1(b.skeletons.estimate() * inv),
            top.first().map_or(0.0, |&(_, c)| min1(c as f64 * inv)),
            true_div::div_i64(b.out_tok, b.in_tok.max(1)),
            b.out_tok as f64 * inv,
            b.in_tok as f64 * inv,
            b.depth_sum as f64 * inv,
            b.errors as f64 * inv,
            b.end_user_n as f64 * inv,
            b.end_users.estimate(),
            if gaps > 0 { b.gaps.quantile(0.5) / 1000.0 } else { 0.0 },
            if gaps >= 5 {
                ((b.gaps.quantile(0.9) + 1.0) / (b.gaps.quantile(0.1) + 1.0)).log2()
            } else {
                0.0
            },
            if lengths > 0 { b.lengths.quantile(0.5) } else { 0.0 },
            popcount(b.hours),
            popcount(b.scripts),
            b.out_tok as f64,
            per_user(b.end_users.estimate()),
            per_user(b.user_sessions.estimate()),
            b.bias_sets.estimate(),
            b.prompts.estimate(),
            b.heads.estimate(),
            popcount(b.slots),
            new_share,
            b.out_tok as f64 / max1(b.in_tok as f64 * new_share),
        ];
        let rates = v.len();
        v.extend(self.rate_bits.iter().map(|&bit| b.flag_counts[bit] as f64 * inv));
        v.push(self.breadth(v[0], &v[rates..]));
        v
    }

    /// `detector.chunks.distinct_share` of the bucket's input chunks and their sketch.
    fn distinct_share(&self, b: &Bucket) -> f64 {
        if b.in_chunks <= 0 {
            return 1.0;
        }
        let kept = b.inputs.len();
        let whole = b.in_chunks + self.sample_rate;
        min1(if kept >= b.inputs.k() {
            b.inputs.estimate() / whole as f64
        } else {
            true_div::div_i64((kept as i64 + 1) * self.sample_rate, whole)
        })
    }

    /// `detector.summary.breadth` of a window of `n` events with these `rate_*` values.
    fn breadth(&self, n: f64, rates: &[f64]) -> f64 {
        let floor = if n != 0.0 {
            let by_count = self.min_count / n;
            if by_count > self.min_share {
                by_count
            } else {
                self.min_share
            }
        } else {
            1.0
        };
        let area = |a: &Vec<usize>| a.iter().fold(0.0, |s, &i| s + rates[i]);
        self.areas.iter().filter(|a| area(a) >= floor - self.slack).count() as f64
    }

    /// `bucket_stats(b)` as a Python dict.
    pub fn dict<'py>(&self, py: Python<'py>, b: &Bucket) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.keys.iter().zip(self.values(b)) {
            d.set_item(k.bind(py), PyFloat::new(py, v))?;
        }
        Ok(d)
    }
}
