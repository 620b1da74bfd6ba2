//! The byte passes of `detector.text`: whitespace normalisation and the masking substitutions
//! that run before tokenising (code spans, URLs, e-mail addresses, quoted spans, line breaks).
//!
//! Each matcher is the hand-written equivalent of one `re` pattern in `detector/text.py` (quoted
//! above it), with the same leftmost-first, possessive and lazy semantics, so `sub` gives what
//! `pattern.sub` gives. Every matcher is bounded (at most a few hundred bytes from its start) or
//! anchored on a rare byte, so a pass is linear in the text.

use std::borrow::Cow;
use std::ops::Range;

/// `detector.text.cap` of a field given as its UTF-8 (or surrogate-passing UTF-8) `b` of `chars`
/// code points, with `cap` = (most code points, head kept, tail kept): the field itself when it
/// fits, else its head, a newline and its tail, cut at code-point boundaries.
pub fn cap(b: &[u8], chars: usize, cap: (usize, usize, usize)) -> Cow<'_, [u8]> {
    let (max, head, tail) = cap;
    if chars <= max {
        return Cow::Borrowed(b);
    }
    let (head_end, tail_start) = if chars == b.len() {
        (head, b.len() - tail) // ASCII: a byte per code point
    } else {
        (offset_of(b, head), offset_from_end(b, tail))
    };
    let mut out = Vec::with_capacity(head_end + 1 + b.len() - tail_start);
    out.extend_from_slice(&b[..head_end]);
    out.push(b'\n');
    out.extend_from_slice(&b[tail_start..]);
    Cow::Owned(out)
}

/// Byte offset of the code point `i` of `b` (its length when `b` holds fewer).
fn offset_of(b: &[u8], i: usize) -> usize {
    b.iter()
        .enumerate()
        .filter(|&(_, &x)| x & 0xC0 != 0x80)
        .nth(i)
        .map_or(b.len(), |(pos, _)| pos)
}

/// Byte offset where the last `i` code points of `b` start (0 when `b` holds fewer).
fn offset_from_end(b: &[u8], i: usize) -> usize {
    if i == 0 {
        return b.len();
    }
    (0..b.len()).rev().filter(|&pos| b[pos] & 0xC0 != 0x80).nth(i - 1).unwrap_or(0)
}

/// UTF-8 of `" ".join(text.split())`: `detector.text._normalise_bytes` of the casefolded text.
/// Stretches whose whitespace is single plain spaces are copied whole.
pub fn normalise(folded: &str) -> Vec<u8> {
    let b = folded.as_bytes();
    let run_end = |mut j: usize| {
        while j < b.len() {
            match py_space_len(b, j) {
                0 => break,
                n => j += n,
            }
        }
        j
    };
    let mut out = Vec::with_capacity(b.len());
    let mut start = run_end(0);
    let mut i = start;
    loop {
        i = next_run(b, i);
        if i >= b.len() {
            break;
        }
        if py_space_len(b, i) == 0 {
            i += 1;
            continue;
        }
        let j = run_end(i);
        if b[i] == b' ' && j == i + 1 && j < b.len() {
            i = j; // one plain space between words: stays in the stretch
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        if j < b.len() {
            out.push(b' ');
        }
        start = j;
        i = j;
    }
    out.extend_from_slice(&b[start.min(b.len())..]);
    out
}

/// The first position at or after `i` where `normalise` has work to do: a byte that may start
/// Python whitespace, other than a plain space followed by a byte that cannot (a space ending the
/// text is work). A 64-byte chunk at a time, from two byte-class masks; a position it returns may
/// still turn out to need nothing.
#[inline]
fn next_run(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        let chunk = &b[i..b.len().min(i + 64)];
        let may = mask64(chunk, may_be_space);
        let space = mask64(chunk, |x| x == b' ');
        let after = b.get(i + chunk.len()).map_or(1, |&x| may_be_space(x) as u64);
        let may_next = may >> 1 | after << (chunk.len() - 1);
        let work = (may & !space) | (space & may_next);
        if work != 0 {
            return i + work.trailing_zeros() as usize;
        }
        i += chunk.len();
    }
    b.len()
}

/// Python bytes-pattern `\s`.
#[inline]
fn is_re_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Python bytes-pattern `\w`.
#[inline]
pub fn is_re_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Length of the run of bytes from `start` that satisfy `f`, counted up to `cap`.
#[inline]
fn run(b: &[u8], start: usize, cap: usize, f: impl Fn(u8) -> bool) -> usize {
    b.get(start..)
        .map_or(0, |rest| rest.iter().take(cap).take_while(|&&x| f(x)).count())
}

#[inline]
fn at(b: &[u8], i: usize) -> Option<u8> {
    b.get(i).copied()
}

/// `needle`'s first occurrence in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// `pattern.sub(rep, b)` for a pattern whose match at `p` (end offset) is `matcher(b, p)`;
/// `next(b, p)` is the first position at or after `p` where a match can start (`b.len()` if none),
/// so the scan skips what cannot match.
pub fn sub(
    b: &[u8],
    rep: &[u8],
    matcher: impl Fn(&[u8], usize) -> Option<usize>,
    next: impl Fn(&[u8], usize) -> usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let (mut p, mut copied) = (next(b, 0), 0);
    while p < b.len() {
        match matcher(b, p) {
            Some(end) => {
                out.extend_from_slice(&b[copied..p]);
                out.extend_from_slice(rep);
                copied = end;
                p = next(b, end.max(p + 1));
            }
            None => p = next(b, p + 1),
        }
    }
    out.extend_from_slice(&b[copied..]);
    out
}

/// Bit `j` set when byte `j` of `chunk` (at most 64 bytes) satisfies `f`: the bytes are classified
/// into a 0/1 array (vectorised when `f` is a few comparisons), which a multiply packs eight at a time.
#[inline]
pub fn mask64(chunk: &[u8], f: impl Fn(u8) -> bool) -> u64 {
    let mut flags = [0u8; 64];
    match <&[u8; 64]>::try_from(chunk) {
        Ok(full) => {
            for (flag, &x) in flags.iter_mut().zip(full) {
                *flag = f(x) as u8;
            }
        }
        Err(_) => {
            for (flag, &x) in flags.iter_mut().zip(chunk) {
                *flag = f(x) as u8;
            }
        }
    }
    flags.chunks_exact(8).enumerate().fold(0, |m, (k, eight)| {
        let v = u64::from_le_bytes(eight.try_into().expect("eight bytes"));
        m | (v.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k)
    })
}

/// The positions of `b` holding a byte that satisfies `f`, in order, from a mask per 64-byte chunk.
#[inline]
pub fn positions<F: Fn(u8) -> bool + Copy>(b: &[u8], f: F) -> Positions<'_, F> {
    Positions { b, f, next: 0, bits: 0 }
}

/// The iterator of `positions`: the mask of the chunk before `next` not yet handed out.
pub struct Positions<'a, F> {
    b: &'a [u8],
    f: F,
    next: usize,
    bits: u64,
}

impl<F: Fn(u8) -> bool + Copy> Iterator for Positions<'_, F> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            let chunk = self.b.get(self.next..)?.get(..64).unwrap_or(&self.b[self.next..]);
            if chunk.is_empty() {
                return None;
            }
            self.bits = mask64(chunk, self.f);
            self.next += 64;
        }
        let j = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(self.next - 64 + j)
    }
}

/// The first position at or after `p` holding a byte that satisfies `f`, 64 bytes at a time.
#[inline]
fn next_where(b: &[u8], p: usize, f: impl Fn(u8) -> bool + Copy) -> usize {
    positions(&b[p.min(b.len())..], f).next().map_or(b.len(), |i| p + i)
}

/// The first start at or after `p` whose `needle` can begin within `span` bytes after it: a
/// match needing `needle` between 1 and `span` bytes after its start begins no earlier.
pub fn before_needle(b: &[u8], p: usize, needle: &[u8], span: usize) -> usize {
    match b.get(p + 1..).and_then(|rest| find(rest, needle)) {
        Some(i) => p.max(p + 1 + i - span.min(p + 1 + i)),
        None => b.len(),
    }
}

/// Where `_CODE_RE` can start: a backtick.
pub fn next_code(b: &[u8], p: usize) -> usize {
    b.get(p..)
        .and_then(|rest| memchr::memchr(b'`', rest))
        .map_or(b.len(), |i| p + i)
}

/// Where `_URL_RE` can start: at most 16 bytes before a `://`.
pub fn next_url(b: &[u8], p: usize) -> usize {
    before_needle(b, p, b"://", 16)
}

/// Where `_EMAIL_RE` can start: at most 64 bytes before an `@`.
pub fn next_email(b: &[u8], p: usize) -> usize {
    before_needle(b, p, b"@", 64)
}

/// Where `_QUOTE_RE` can start: a quote byte or the lead byte of a typographic quote.
pub fn next_quote(b: &[u8], p: usize) -> usize {
    next_where(b, p, |x| matches!(x, b'"' | b'\'' | 0xe2 | 0xc2 | 0xe3))
}

/// Pass order of the marks `_tokens` spaces out: `\n` (replaced by its marker) first, then
/// `! `, `: `, `. `, `? ` (each replaced by ` X `); 0 for every other byte.
const MARK_ORDER: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'\n' as usize] = 1;
    t[b'!' as usize] = 2;
    t[b':' as usize] = 3;
    t[b'.' as usize] = 4;
    t[b'?' as usize] = 5;
    t
};

/// Whether the pass of the mark at `i` finds it followed by a space: the next byte is a space, a
/// line break (its marker, written first, starts with `marker_first`), or a mark of an earlier pass
/// that was itself spaced out (which put a space before it).
fn spaced(b: &[u8], i: usize, marker_first: u8) -> bool {
    match b.get(i + 1) {
        Some(b' ') => true,
        Some(b'\n') => marker_first == b' ',
        Some(&x) if MARK_ORDER[x as usize] > 1 && MARK_ORDER[x as usize] < MARK_ORDER[b[i] as usize] => {
            spaced(b, i + 1, marker_first)
        }
        _ => false,
    }
}

/// `b.replace(b"\n", newline).replace(b"! ", b" ! ").replace(b": ", b" : ").replace(b". ", b" . ")
/// .replace(b"? ", b" ? ")` in one pass (each mark's pass sees what the earlier passes wrote).
pub fn space_marks(b: &[u8], newline: &[u8]) -> Vec<u8> {
    let marker_first = newline.first().copied().unwrap_or(0);
    let mut out = Vec::with_capacity(b.len() + b.len() / 8);
    let mut copied = 0;
    for i in positions(b, |x| matches!(x, b'\n' | b'!' | b':' | b'.' | b'?')) {
        out.extend_from_slice(&b[copied..i]);
        if b[i] == b'\n' {
            out.extend_from_slice(newline);
        } else {
            if spaced(b, i, marker_first) {
                out.push(b' ');
            }
            out.push(b[i]);
        }
        copied = i + 1;
    }
    out.extend_from_slice(&b[copied..]);
    out
}

/// Python's `str.isspace()` (what `str.split()` and `str.strip()` treat as whitespace); the
/// UTF-8 form of the same set is `py_space_len`.
pub fn is_py_space(c: char) -> bool {
    matches!(c, '\t'..='\r' | '\x1c'..='\x1f' | ' ' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}'
        | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// Byte length of the Python whitespace character (`str.isspace()`) starting at `b[i]` of UTF-8
/// text, 0 if none starts there.
#[inline]
pub fn py_space_len(b: &[u8], i: usize) -> usize {
    match b[i] {
        b'\t'..=b'\r' | 0x1c..=0x1f | b' ' => 1,
        0xc2 if matches!(b.get(i + 1), Some(0x85 | 0xa0)) => 2,
        0xe1 if b.get(i + 1..i + 3) == Some(b"\x9a\x80") => 3,
        0xe2 => match (b.get(i + 1), b.get(i + 2)) {
            (Some(0x80), Some(0x80..=0x8a | 0xa8 | 0xa9 | 0xaf)) | (Some(0x81), Some(0x9f)) => 3,
            _ => 0,
        },
        0xe3 if b.get(i + 1..i + 3) == Some(b"\x80\x80") => 3,
        _ => 0,
    }
}

/// Whether `x` may start a Python whitespace character: the ASCII ones and the lead bytes of the
/// non-ASCII ones (U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028/9, U+202F, U+205F, U+3000).
#[inline]
fn may_be_space(x: u8) -> bool {
    matches!(x, b'\t'..=b'\r' | 0x1c..=0x1f | b' ' | 0xc2 | 0xe1 | 0xe2 | 0xe3)
}

/// `text.split()` of UTF-8 bytes: the non-empty runs between Python whitespace characters, as
/// ranges of `b`.
pub fn split_py_space(b: &[u8], mut each: impl FnMut(Range<usize>)) {
    let mut start = 0;
    // a multi-byte space's continuation bytes are never among the bytes that may start one
    for i in positions(b, may_be_space) {
        // every ASCII candidate is one whitespace byte
        let n = if b[i] < 0x80 { 1 } else { py_space_len(b, i) };
        if n == 0 {
            continue;
        }
        if i > start {
            each(start..i);
        }
        start = i + n;
    }
    if b.len() > start {
        each(start..b.len());
    }
}

/// ``rb"```.*?(?:```|\Z)|`[^`\n]{1,200}+`"`` (re.S).
pub fn code_at(b: &[u8], p: usize) -> Option<usize> {
    if b[p] != b'`' {
        return None;
    }
    if b[p..].starts_with(b"```") {
        return Some(find(&b[p + 3..], b"```").map_or(b.len(), |i| p + 6 + i));
    }
    let r = run(b, p + 1, 201, |x| x != b'`' && x != b'\n');
    ((1..=200).contains(&r) && at(b, p + 1 + r) == Some(b'`')).then_some(p + 2 + r)
}

/// `rb"[a-z][a-z0-9+.-]{1,15}+://[^\s<>\"'`]++"`.
pub fn url_at(b: &[u8], p: usize) -> Option<usize> {
    if !b[p].is_ascii_lowercase() {
        return None;
    }
    let r = run(b, p + 1, 16, |x| {
        x.is_ascii_lowercase() || x.is_ascii_digit() || matches!(x, b'+' | b'.' | b'-')
    });
    if !(1..=15).contains(&r) || !b[p + 1 + r..].starts_with(b"://") {
        return None;
    }
    let q = p + 4 + r;
    let r2 = run(b, q, usize::MAX, |x| {
        !is_re_space(x) && !matches!(x, b'<' | b'>' | b'"' | b'\'' | b'`')
    });
    (r2 >= 1).then_some(q + r2)
}

/// `rb"(?<![\w.+-])[\w.+-]{1,64}+@[\w.-]{1,253}+"`.
pub fn email_at(b: &[u8], p: usize) -> Option<usize> {
    let local = |x: u8| is_re_word(x) || matches!(x, b'.' | b'+' | b'-');
    if p > 0 && local(b[p - 1]) {
        return None;
    }
    let r = run(b, p, 65, local);
    if !(1..=64).contains(&r) || at(b, p + r) != Some(b'@') {
        return None;
    }
    let r2 = run(b, p + r + 1, 253, |x| is_re_word(x) || matches!(x, b'.' | b'-'));
    (r2 >= 1).then_some(p + r + 1 + r2)
}

/// `open [^\n]{1,max}? close`, optionally followed by `(?![a-z])`.
fn lazy_quote(b: &[u8], p: usize, open: usize, close: &[u8], max: usize, not_before_az: bool) -> Option<usize> {
    let start = p + open;
    for k in 1..=max {
        let c = start + k;
        if c > b.len() || b[c - 1] == b'\n' {
            return None;
        }
        if b[c..].starts_with(close) {
            let end = c + close.len();
            if !not_before_az || !at(b, end).is_some_and(|x| x.is_ascii_lowercase()) {
                return Some(end);
            }
        }
    }
    None
}

/// The quoted-span pattern of `detector.text._QUOTE_RE`:
/// `"…"` (≤400 bytes), `'…'` after a space/`(`/`[`/`:` and before a space or punctuation
/// (≤200), and the lazy `“…”`, `‘…’` (not before a letter), `«…»`, `「…」`.
pub fn quote_at(b: &[u8], p: usize) -> Option<usize> {
    match b[p] {
        b'"' => {
            let r = run(b, p + 1, 401, |x| x != b'"' && x != b'\n');
            ((1..=400).contains(&r) && at(b, p + 1 + r) == Some(b'"')).then_some(p + 2 + r)
        }
        b'\'' => {
            if p > 0 && !(is_re_space(b[p - 1]) || matches!(b[p - 1], b'(' | b'[' | b':')) {
                return None;
            }
            let r = run(b, p + 1, 201, |x| x != b'\'' && x != b'\n');
            if !(1..=200).contains(&r) || at(b, p + 1 + r) != Some(b'\'') {
                return None;
            }
            let e = p + 2 + r;
            let ok = at(b, e)
                .is_none_or(|x| is_re_space(x) || matches!(x, b'.' | b',' | b';' | b':' | b'!' | b'?' | b')' | b']'));
            ok.then_some(e)
        }
        0xe2 if b[p..].starts_with(b"\xe2\x80\x9c") => lazy_quote(b, p, 3, b"\xe2\x80\x9d", 400, false),
        0xe2 if b[p..].starts_with(b"\xe2\x80\x98") => lazy_quote(b, p, 3, b"\xe2\x80\x99", 200, true),
        0xc2 if b[p..].starts_with(b"\xc2\xab") => lazy_quote(b, p, 2, b"\xc2\xbb", 400, false),
        0xe3 if b[p..].starts_with(b"\xe3\x80\x8c") => lazy_quote(b, p, 3, b"\xe3\x80\x8d", 400, false),
        _ => None,
    }
}

/// Opening quotes whose presence (in non-ASCII text) runs the quote pass: “ ‘ « 「.
pub const OPEN_QUOTES: [&[u8]; 4] = [b"\xe2\x80\x9c", b"\xe2\x80\x98", b"\xc2\xab", b"\xe3\x80\x8c"];

#[cfg(test)]
mod tests {
    use super::{cap, offset_from_end, offset_of};

    #[test]
    fn offsets_count_code_points() {
        let s = "aé数b".as_bytes();
        assert_eq!((offset_of(s, 2), offset_of(s, 3), offset_of(s, 9)), (3, 6, 7));
        assert_eq!((offset_from_end(s, 0), offset_from_end(s, 1), offset_from_end(s, 2), offset_from_end(s, 9)), (7, 6, 3, 0));
    }

    #[test]
    fn cap_keeps_head_newline_tail_at_code_point_boundaries() {
        let text = "é".repeat(10) + &"x".repeat(10);
        assert_eq!(&*cap(text.as_bytes(), 20, (20, 3, 2)), text.as_bytes());
        let capped = cap(text.as_bytes(), 20, (5, 3, 1));
        assert_eq!(std::str::from_utf8(&capped).unwrap(), "ééé\nx");
        assert_eq!(&*cap(b"abcdefgh", 8, (6, 3, 2)), b"abc\ngh");
    }
}
