//! The byte passes of `detector.text`: whitespace normalisation and the masking substitutions
//! that run before tokenising (code spans, URLs, e-mail addresses, quoted spans, line breaks).
//!
//! Each matcher is the hand-written equivalent of one `re` pattern in `detector/text.py` (quoted
//! above it), with the same leftmost-first, possessive and lazy semantics, so `sub` gives what
//! `pattern.sub` gives. Every matcher is bounded (at most a few hundred bytes from its start) or
//! anchored on a rare byte, so a pass is linear in the text.

/// UTF-8 of `" ".join(text.split())`: `detector.text._normalise_bytes` of the casefolded text.
pub fn normalise(folded: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(folded.len());
    split_py_space(folded.as_bytes(), |token| {
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(token);
    });
    out
}

/// Python bytes-pattern `\s`.
#[inline]
fn is_re_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Python bytes-pattern `\w`.
#[inline]
fn is_re_word(b: u8) -> bool {
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

/// `needle`'s first occurrence in `hay` (a short needle: first byte, then the rest).
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (first, rest) = needle.split_first()?;
    let last = hay.len().checked_sub(needle.len())?;
    (0..=last).find(|&i| hay[i] == *first && rest.iter().zip(&hay[i + 1..]).all(|(a, b)| a == b))
}

/// `pattern.sub(rep, b)` for a pattern whose match at `p` (end offset) is `matcher(b, p)`.
pub fn sub(b: &[u8], rep: &[u8], matcher: impl Fn(&[u8], usize) -> Option<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let (mut p, mut copied) = (0, 0);
    while p < b.len() {
        match matcher(b, p) {
            Some(end) => {
                out.extend_from_slice(&b[copied..p]);
                out.extend_from_slice(rep);
                copied = end;
                p = end.max(p + 1);
            }
            None => p += 1,
        }
    }
    out.extend_from_slice(&b[copied..]);
    out
}

/// `bytes.replace(from, to)`: non-overlapping, left to right.
pub fn replace(b: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let (first, rest) = from.split_first().expect("a non-empty pattern");
    let mut out = Vec::with_capacity(b.len() + 16);
    let (mut i, mut copied) = (0, 0);
    while let Some(off) = b[i..].iter().position(|x| x == first) {
        let j = i + off;
        if b.len() - j > rest.len() && rest.iter().zip(&b[j + 1..]).all(|(x, y)| x == y) {
            out.extend_from_slice(&b[copied..j]);
            out.extend_from_slice(to);
            i = j + from.len();
            copied = i;
        } else {
            i = j + 1;
        }
    }
    out.extend_from_slice(&b[copied..]);
    out
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

/// Bytes that may start a Python whitespace character: the ASCII ones and the lead bytes of the
/// non-ASCII ones (U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028/9, U+202F, U+205F, U+3000).
const MAY_BE_SPACE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = matches!(i as u8, b'\t'..=b'\r' | 0x1c..=0x1f | b' ' | 0xc2 | 0xe1 | 0xe2 | 0xe3);
        i += 1;
    }
    t
};

/// `text.split()` of UTF-8 bytes: the non-empty runs between Python whitespace characters.
pub fn split_py_space(b: &[u8], mut each: impl FnMut(&[u8])) {
    let (mut i, mut start) = (0, 0);
    while let Some(off) = b[i..].iter().position(|&x| MAY_BE_SPACE[x as usize]) {
        i += off;
        let n = py_space_len(b, i);
        if n == 0 {
            i += 1;
            continue;
        }
        if i > start {
            each(&b[start..i]);
        }
        i += n;
        start = i;
    }
    if b.len() > start {
        each(&b[start..]);
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
