//! `detector.windows.Bucket`: the mergeable statistics of one key over one time bucket (counts,
//! bitmasks, flag counts, KMV / heavy-hitter / log-histogram sketches, model counts), with the
//! same `add`, `merge` and bytes as the reference.
//!
//! The model counts keep the reference dict's insertion order and its `~other` overflow rule, so
//! the bytes and every merge that follows are the same. The sketch sizes are those of the empty
//! bucket the window kernel is built with (`Bucket().to_bytes()` of the reference), so they have
//! one definition. Assumes non-negative event times and integer fields that fit in an i64, as the
//! reference's `struct` formats do. Fails: `read` rejects bytes that are not a serialised bucket.
//! Cost: a few sketch updates per add; O(sketch sizes) per merge.

use xxhash_rust::xxh3::xxh3_64;

use crate::heavy::HeavyHitters;
use crate::histogram::LogHistogram;
use crate::kmv::Kmv;
use crate::wire::{bad, framed, unframe, Bad, Reader};

/// Flag counters a bucket has room for (the reference has `NSIG` of them, at most this many).
pub const MAX_SIGNALS: usize = 64;

/// The constants of `detector.windows` a bucket's `add` and `merge` use.
pub struct Layout {
    pub nsig: usize,
    pub max_models: usize,
    /// the key that takes the counts of models past `max_models` (and of link values past their cap)
    pub other: String,
    pub hour_ms: i64,
    pub slot_ms: i64,
    pub session_ms: i64,
}

/// What `Bucket.add` reads of one `EventFeatures`.
pub struct Event<'a> {
    pub ts_ms: i64,
    pub prompt_fp: u64,
    pub skeleton_fp: u64,
    pub flags: u64,
    pub script: u32,
    pub prompt_chars: u64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub depth: i64,
    pub model: &'a str,
    pub end_user_fp: u64,
    pub status: i64,
    pub bias_fp: u64,
    pub head_fp: u64,
    pub input_chunks: i64,
    pub input_samples: Vec<u64>,
}

/// `d[key] = value` of a Python dict kept as a list: a new key goes last, a known one keeps its place.
pub fn dict_set<K: PartialEq>(d: &mut Vec<(K, i64)>, key: K, value: i64) {
    match d.iter_mut().find(|e| e.0 == key) {
        Some(e) => e.1 = value,
        None => d.push((key, value)),
    }
}

/// `detector.windows._bounded_inc`: adds `w` to `key`'s count, or to `other`'s when `key` is new
/// and `cap` keys are there already.
pub fn bounded_inc(d: &mut Vec<(String, i64)>, key: &str, w: i64, cap: usize, other: &str) {
    let key = if d.len() < cap || d.iter().any(|(k, _)| k == key) {
        key
    } else {
        other
    };
    match d.iter_mut().find(|(k, _)| k == key) {
        Some(e) => e.1 += w,
        None => d.push((key.to_owned(), w)),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    pub n: i64,
    pub in_tok: i64,
    pub out_tok: i64,
    pub depth_sum: i64,
    pub errors: i64,
    pub end_user_n: i64,
    pub hours: i64,
    pub scripts: i64,
    pub slots: i64,
    pub flag_counts: [i64; MAX_SIGNALS],
    pub prompts: Kmv,
    pub skeletons: Kmv,
    pub end_users: Kmv,
    pub bias_sets: Kmv,
    pub heads: Kmv,
    pub user_sessions: Kmv,
    pub in_chunks: i64,
    pub inputs: Kmv,
    pub top_skeletons: HeavyHitters,
    pub gaps: LogHistogram,
    pub lengths: LogHistogram,
    /// model -> count, in the reference dict's insertion order
    pub models: Vec<(String, i64)>,
}

impl Bucket {
    /// Counts one event; `gap_ms` is the time since the key's previous event (-1: none).
    pub fn add(&mut self, f: &Event, gap_ms: i64, lay: &Layout) {
        self.n += 1;
        self.in_tok += f.input_tokens;
        self.out_tok += f.output_tokens;
        self.depth_sum += f.depth;
        if f.status >= 400 {
            self.errors += 1;
        }
        if f.end_user_fp != 0 {
            self.end_user_n += 1;
            self.end_users.add(f.end_user_fp);
            let mut pair = [0u8; 16]; // struct.pack("<QQ", end user, session slot)
            pair[..8].copy_from_slice(&f.end_user_fp.to_le_bytes());
            pair[8..].copy_from_slice(&(f.ts_ms.div_euclid(lay.session_ms) as u64).to_le_bytes());
            self.user_sessions.add(xxh3_64(&pair));
        }
        self.hours |= 1 << f.ts_ms.div_euclid(lay.hour_ms).rem_euclid(24);
        self.scripts |= 1 << f.script;
        self.slots |= 1 << (f.ts_ms.rem_euclid(lay.hour_ms) / lay.slot_ms);
        if f.bias_fp != 0 {
            self.bias_sets.add(f.bias_fp);
        }
        if f.head_fp != 0 {
            self.heads.add(f.head_fp);
        }
        let mut flags = f.flags;
        while flags != 0 {
            self.flag_counts[flags.trailing_zeros() as usize] += 1;
            flags &= flags - 1;
        }
        self.prompts.add(f.prompt_fp);
        self.skeletons.add(f.skeleton_fp);
        self.top_skeletons.add(f.skeleton_fp);
        if gap_ms >= 0 {
            self.gaps.add(gap_ms as u64);
        }
        self.lengths.add(f.prompt_chars);
        bounded_inc(&mut self.models, f.model, 1, lay.max_models, &lay.other);
        self.in_chunks += f.input_chunks;
        for &h in &f.input_samples {
            self.inputs.add(h);
        }
    }

    /// Folds `other` in (`Bucket.merge`): its models in sorted order, through the overflow rule.
    pub fn merge(&mut self, other: &Bucket, lay: &Layout) {
        self.n += other.n;
        self.in_tok += other.in_tok;
        self.out_tok += other.out_tok;
        self.depth_sum += other.depth_sum;
        self.errors += other.errors;
        self.end_user_n += other.end_user_n;
        self.hours |= other.hours;
        self.scripts |= other.scripts;
        self.slots |= other.slots;
        self.flag_counts
            .iter_mut()
            .zip(&other.flag_counts)
            .for_each(|(a, b)| *a += b);
        self.prompts.merge(&other.prompts);
        self.skeletons.merge(&other.skeletons);
        self.end_users.merge(&other.end_users);
        self.bias_sets.merge(&other.bias_sets);
        self.heads.merge(&other.heads);
        self.user_sessions.merge(&other.user_sessions);
        self.in_chunks += other.in_chunks;
        self.inputs.merge(&other.inputs);
        self.top_skeletons.merge(&other.top_skeletons);
        self.gaps.merge(&other.gaps);
        self.lengths.merge(&other.lengths);
        let mut models: Vec<&(String, i64)> = other.models.iter().collect();
        models.sort_unstable();
        for (model, c) in models {
            bounded_inc(&mut self.models, model, *c, lay.max_models, &lay.other);
        }
    }

    /// `Bucket.copy`: `other` merged into the empty bucket `empty` (so its models come sorted).
    pub fn copy_of(other: &Bucket, empty: &Bucket, lay: &Layout) -> Bucket {
        let mut b = empty.clone();
        b.merge(other, lay);
        b
    }

    fn kmvs(&self) -> [&Kmv; 7] {
        [
            &self.inputs,
            &self.prompts,
            &self.skeletons,
            &self.end_users,
            &self.bias_sets,
            &self.heads,
            &self.user_sessions,
        ]
    }

    /// Whether `other` has the same sketch sizes (the two can merge).
    pub fn same_shape(&self, other: &Bucket) -> bool {
        self.kmvs().iter().zip(other.kmvs()).all(|(a, b)| a.k() == b.k())
            && self.top_skeletons.m() == other.top_skeletons.m()
            && self.gaps.n_bins() == other.gaps.n_bins()
            && self.lengths.n_bins() == other.lengths.n_bins()
    }

    /// `Bucket.to_bytes`, appended to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        framed(out, |o| {
            let ints = [
                self.n,
                self.in_tok,
                self.out_tok,
                self.depth_sum,
                self.errors,
                self.end_user_n,
            ];
            for v in ints.iter().chain(&[self.hours, self.scripts, self.slots]) {
                o.extend_from_slice(&v.to_le_bytes());
            }
            let nz: Vec<(usize, i64)> = self
                .flag_counts
                .iter()
                .copied()
                .enumerate()
                .filter(|e| e.1 != 0)
                .collect();
            o.push(nz.len() as u8);
            for (i, c) in nz {
                o.extend_from_slice(&(i as i64).to_le_bytes());
                o.extend_from_slice(&c.to_le_bytes());
            }
        });
        framed(out, |o| self.prompts.write(o));
        framed(out, |o| self.skeletons.write(o));
        framed(out, |o| self.end_users.write(o));
        framed(out, |o| self.top_skeletons.write(o));
        framed(out, |o| self.gaps.write(o));
        framed(out, |o| self.lengths.write(o));
        framed(out, |o| {
            for (i, (m, c)) in self.models.iter().enumerate() {
                if i > 0 {
                    o.push(0x1f);
                }
                o.extend_from_slice(m.as_bytes());
                o.push(0x1e);
                o.extend_from_slice(c.to_string().as_bytes());
            }
        });
        framed(out, |o| self.bias_sets.write(o));
        framed(out, |o| self.heads.write(o));
        framed(out, |o| self.user_sessions.write(o));
        framed(out, |o| o.extend_from_slice(&self.in_chunks.to_le_bytes()));
        framed(out, |o| self.inputs.write(o));
    }

    /// `Bucket.from_bytes` of the concatenated parts `write` framed; `nsig` flag counters, and a
    /// sketch of `inputs_k` sampled input chunks when the bytes were written before it existed.
    pub fn read(data: &[u8], nsig: usize, inputs_k: usize) -> Result<Bucket, Bad> {
        let parts = unframe(data)?;
        // eleven parts: written before the input chunks were counted (none)
        let (parts, chunks, inputs) = match parts[..] {
            [.., chunks, inputs] if parts.len() == 13 => (&parts[..11], Some(chunks), Some(inputs)),
            _ => (&parts[..], None, None),
        };
        let [head, prompts, skeletons, end_users, top, gaps, lengths, models, bias, heads, sessions] = parts[..] else {
            return bad("Bucket", format!("{} parts", parts.len()));
        };
        let in_chunks = match chunks {
            Some(c) => Reader::new(c).i64()?,
            None => 0,
        };
        let inputs = match inputs {
            Some(data) => Kmv::read(data)?,
            None => Kmv::new(inputs_k),
        };
        let mut r = Reader::new(head);
        let mut ints = [0i64; 9];
        for v in ints.iter_mut() {
            *v = r.i64()?;
        }
        let mut flag_counts = [0i64; MAX_SIGNALS];
        for _ in 0..r.uint(1)? {
            let (i, c) = (r.i64()?, r.i64()?);
            match usize::try_from(i) {
                Ok(i) if i < nsig => flag_counts[i] = c,
                _ => return bad("Bucket", format!("flag index {i}")),
            }
        }
        let [n, in_tok, out_tok, depth_sum, errors, end_user_n, hours, scripts, slots] = ints;
        Ok(Bucket {
            n,
            in_tok,
            out_tok,
            depth_sum,
            errors,
            end_user_n,
            hours,
            scripts,
            slots,
            flag_counts,
            prompts: Kmv::read(prompts)?,
            skeletons: Kmv::read(skeletons)?,
            end_users: Kmv::read(end_users)?,
            bias_sets: Kmv::read(bias)?,
            heads: Kmv::read(heads)?,
            user_sessions: Kmv::read(sessions)?,
            in_chunks,
            inputs,
            top_skeletons: HeavyHitters::read(top)?,
            gaps: LogHistogram::read(gaps)?,
            lengths: LogHistogram::read(lengths)?,
            models: read_models(models)?,
        })
    }
}

/// The `model\x1ecount` items joined by `\x1f`, into a dict in their order (a repeated model
/// keeps its first place and its last count, as a dict does).
fn read_models(data: &[u8]) -> Result<Vec<(String, i64)>, Bad> {
    let mut models: Vec<(String, i64)> = Vec::new();
    if data.is_empty() {
        return Ok(models);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return bad("Bucket", "models not UTF-8");
    };
    for item in text.split('\x1f') {
        let mut fields = item.split('\x1e');
        let (Some(m), Some(c), None) = (fields.next(), fields.next(), fields.next()) else {
            return bad("Bucket", format!("model item {item:?}"));
        };
        let Ok(c) = c.parse::<i64>() else {
            return bad("Bucket", format!("model count {c:?}"));
        };
        dict_set(&mut models, m.to_owned(), c);
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::{bounded_inc, dict_set};

    #[test]
    fn bounded_inc_folds_new_keys_past_the_cap_into_other() {
        let mut d = Vec::new();
        for k in ["a", "b", "a", "c", "d", "b"] {
            bounded_inc(&mut d, k, 1, 2, "~other");
        }
        let want: Vec<(String, i64)> = [("a", 2), ("b", 2), ("~other", 2)]
            .map(|(k, c)| (k.to_owned(), c))
            .to_vec();
        assert_eq!(d, want);
    }

    #[test]
    fn dict_set_keeps_a_known_key_in_its_place() {
        let mut d = Vec::new();
        for (k, v) in [(3u64, 1), (1, 2), (3, 5)] {
            dict_set(&mut d, k, v);
        }
        assert_eq!(d, [(3, 5), (1, 2)]);
    }
}
