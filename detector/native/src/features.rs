//! Everything `detector.features.extract` derives from the text of one request, in one call:
//! the analysis of the user turn (`TextKernel`), its script, its text-signal bits
//! (`TextSignals`), its domain (`DomainMarks`), the prompt and skeleton fingerprints and the
//! SimHash of system prompt and user turn together.
//!
//! The system prompt repeats from event to event, so its part (normalised bytes, SimHash bigram
//! counts) is computed once into a `SystemPart`, which `detector.features` memoises with the rest
//! of its system view.

use std::cell::OnceCell;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::domain::DomainMarks;
use crate::signals::TextSignals;
use crate::skeleton::BitCounts;
use crate::TextKernel;

/// Valid UTF-8 as `str`: what the kernels' normalisation writes (it only drops and re-joins whole
/// characters of valid UTF-8).
pub fn utf8(b: &[u8]) -> &str {
    std::str::from_utf8(b).expect("normalised text is UTF-8")
}

/// Normalised text, and the Python string of it built on first use: most turns never need it
/// (only a phrase pattern's `search` or a short turn's template check reads it).
pub struct LazyStr<'py> {
    py: Python<'py>,
    text: String,
    object: OnceCell<Bound<'py, PyString>>,
}

impl<'py> LazyStr<'py> {
    fn new(py: Python<'py>, text: Vec<u8>) -> Self {
        let text = String::from_utf8(text).expect("normalised text is UTF-8");
        LazyStr {
            py,
            text,
            object: OnceCell::new(),
        }
    }

    /// The text's UTF-8 bytes.
    pub fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text as a Python string (built once).
    pub fn object(&self) -> &Bound<'py, PyString> {
        self.object.get_or_init(|| PyString::new(self.py, &self.text))
    }

    /// Its length in characters, as Python's `len` counts them.
    pub fn chars(&self) -> usize {
        self.text.chars().count()
    }
}

/// The memoised part of a system prompt: its normalised UTF-8 and its SimHash bigram counts.
#[pyclass(frozen, module = "detector_native")]
pub struct SystemPart {
    norm: Vec<u8>,
    counts: BitCounts,
}

/// `(norm, prompt_fp, skeleton_fp, skeleton_sig, norm_fp, flags, script, domain)` of a user turn.
type Turn<'py> = (Bound<'py, PyString>, u64, u64, u64, u64, u32, u8, u8);

/// The text, signal and domain kernels of `detector.text`, `detector.signals` and
/// `detector.domains`, used together.
#[pyclass(frozen, module = "detector_native")]
pub struct FeatureKernel {
    text: Py<TextKernel>,
    signals: Py<TextSignals>,
    domains: Py<DomainMarks>,
    /// one bit per BMP code point: set when `str.casefold` leaves it as it is
    caseless: Vec<u64>,
}

/// Code points of the Basic Multilingual Plane, the range `FeatureKernel::caseless` covers.
const BMP: u32 = 0x1_0000;

/// The `caseless` bits, from this interpreter's own `str.casefold` (so its Unicode version):
/// a block of 256 code points at a time, and character by character in the blocks it changes.
/// `str.casefold` maps each character on its own, whatever surrounds it.
fn caseless_bits(py: Python<'_>) -> PyResult<Vec<u64>> {
    let casefold = intern!(py, "casefold");
    let unchanged = |s: &str| -> PyResult<bool> {
        let folded = PyString::new(py, s).call_method0(casefold)?;
        Ok(folded.cast_into::<PyString>()?.to_str()? == s)
    };
    let mut bits = vec![0u64; BMP as usize / 64];
    for block in (0..BMP).step_by(256) {
        let chars: Vec<char> = (block..block + 256).filter_map(char::from_u32).collect();
        let all = unchanged(&chars.iter().collect::<String>())?;
        for c in chars {
            if all || unchanged(c.encode_utf8(&mut [0; 4]))? {
                bits[c as usize / 64] |= 1 << (c as usize % 64);
            }
        }
    }
    Ok(bits)
}

#[pymethods]
impl FeatureKernel {
    /// From the kernels `detector.text`, `detector.signals` and `detector.domains` built.
    #[new]
    fn new(py: Python<'_>, text: Py<TextKernel>, signals: Py<TextSignals>, domains: Py<DomainMarks>) -> PyResult<Self> {
        Ok(FeatureKernel {
            text,
            signals,
            domains,
            caseless: caseless_bits(py)?,
        })
    }

    /// The part of a system prompt analysed as `norm` (its normalised UTF-8) and `codes` (its
    /// skeleton codes); `None` when a code has no readable token.
    fn system(&self, norm: &[u8], codes: &str) -> Option<SystemPart> {
        let codes: Vec<char> = codes.chars().collect();
        let mut counts = BitCounts::default();
        self.text.get().add_bigrams(&codes, &mut counts)?;
        Some(SystemPart {
            norm: norm.to_vec(),
            counts,
        })
    }

    /// The user turn's features (`Turn`) from its capped text `capped`, the system part, whether
    /// the request uses tools and the turn's full length in characters (see `FeatureKernel::turn_of`).
    fn turn<'py>(
        &self,
        py: Python<'py>,
        capped: &Bound<'py, PyString>,
        system: &Bound<'py, SystemPart>,
        tools: bool,
        chars: usize,
    ) -> PyResult<Option<Turn<'py>>> {
        Ok(self.turn_of(py, capped, system.get(), tools, chars)?.map(|t| {
            (
                t.norm.object().clone(),
                t.prompt_fp,
                t.skeleton_fp,
                t.signature,
                t.norm_fp,
                t.flags,
                t.script,
                t.domain,
            )
        }))
    }
}

/// What `FeatureKernel::turn_of` derives from a user turn (the fields of `Turn`).
pub struct TurnOf<'py> {
    pub norm: LazyStr<'py>,
    pub prompt_fp: u64,
    pub skeleton_fp: u64,
    pub signature: u64,
    pub norm_fp: u64,
    pub flags: u32,
    pub script: u8,
    pub domain: u8,
}

impl FeatureKernel {
    /// The seeded xxh3 of `bytes` (`detector.text.hash_str` of UTF-8 text).
    pub fn hash(&self, bytes: &[u8]) -> u64 {
        self.text.get().hash(bytes)
    }

    /// `str.casefold` of `text` done here when it is: ASCII lowercase, every other character
    /// being one the table says casefolding leaves as it is; `None` otherwise.
    fn fold_here(&self, text: &str) -> Option<String> {
        let caseless = |c: char| (c as u32) < BMP && self.caseless[c as usize / 64] >> (c as usize % 64) & 1 != 0;
        (text.is_ascii() || text.chars().all(|c| c.is_ascii() || caseless(c))).then(|| text.to_ascii_lowercase())
    }

    /// The user turn's features from its capped text `capped`, the system part, whether the
    /// request uses tools and the turn's full length in characters. Text whose non-ASCII
    /// characters all casefold to themselves is casefolded here (ASCII lowercase is what
    /// `str.casefold` does to ASCII); other text by `str.casefold` itself. `None` when the text is
    /// not valid UTF-8 (a lone surrogate): the caller then runs the Python reference. Fails only
    /// if `casefold` or a phrase pattern's `search` raises.
    pub fn turn_of<'py>(
        &self,
        py: Python<'py>,
        capped: &Bound<'py, PyString>,
        system: &SystemPart,
        tools: bool,
        chars: usize,
    ) -> PyResult<Option<TurnOf<'py>>> {
        let Ok(text) = capped.to_str() else {
            return Ok(None);
        };
        let folded_obj;
        let lowered;
        let text = if let Some(here) = self.fold_here(text) {
            lowered = here;
            &lowered
        } else {
            folded_obj = capped.call_method0(intern!(py, "casefold"))?.cast_into::<PyString>()?;
            folded_obj.to_str()?
        };
        let kernel = self.text.get();
        let mut a = kernel.analysed(text);
        let norm = LazyStr::new(py, std::mem::take(&mut a.norm));
        let script = kernel.script(norm.text());
        let flags = self.signals.get().flags(&norm, &a.tokens, script)?;
        let domain = self.domains.get().domain(norm.bytes(), &a.tokens, tools, chars);
        let joined = match (system.norm.is_empty(), norm.bytes().is_empty()) {
            (false, false) => kernel.hash(&[&system.norm[..], b" ", norm.bytes()].concat()),
            (false, true) => kernel.hash(&system.norm),
            _ => kernel.hash(norm.bytes()),
        };
        let Some(skeleton_fp) = kernel.codes_fp(a.codes.iter().copied()) else {
            return Ok(None);
        };
        let mut counts = system.counts.clone();
        let Some(signature) = kernel
            .add_bigrams(&a.codes, &mut counts)
            .and_then(|()| counts.signature())
        else {
            return Ok(None);
        };
        let norm_fp = if norm.bytes().is_empty() {
            0
        } else {
            kernel.hash(norm.bytes())
        };
        Ok(Some(TurnOf {
            norm,
            prompt_fp: joined,
            skeleton_fp,
            signature,
            norm_fp,
            flags,
            script,
            domain,
        }))
    }
}
