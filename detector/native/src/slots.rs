//! `detector.text._slots`: skeleton codes from token codes (one char per token).
//!
//! The three patterns of the Python reference (`_LONG_RE`, `_SHORT_RE`, `_LIST_RE`) are matched by
//! hand here, with Python's leftmost-first scan; lookbehinds see only the string (or slice) the
//! pattern runs on, as `pattern.sub(repl, s[end:])` does in Python.

/// The placeholder code points the token table uses (`_W`, `_N`, `_NL`, `_MORE`) and the range
/// of keep-word codes (`_KEEP_CODE_RE`).
#[derive(Clone, Copy)]
pub struct Codes {
    pub word: char,
    pub number: char,
    pub newline: char,
    pub more: char,
    pub keep_lo: char,
    pub keep_hi: char,
}

impl Codes {
    /// `_BULLET` = `(?:N[.)]|[-*+])` at `p`: its length, 0 if none.
    #[inline]
    fn bullet_at(&self, s: &[char], p: usize) -> usize {
        match s.get(p) {
            Some(&c) if c == self.number && matches!(s.get(p + 1), Some('.' | ')')) => 2,
            Some('-' | '*' | '+') => 1,
            _ => 0,
        }
    }

    #[inline]
    fn seg_end(&self, s: &[char], from: usize) -> usize {
        s[from..]
            .iter()
            .position(|&c| c == self.newline || c == ':')
            .map_or(s.len(), |i| from + i)
    }

    /// `_LONG`: after a line start or colon (past a line's bullet), the template-free tokens,
    /// a content word, at least 10 more tokens of the segment up to its last content word, and
    /// the rest of that sentence with its end mark.
    fn long_at(&self, s: &[char], p: usize) -> Option<usize> {
        let prev = |k: usize| if p >= k { Some(s[p - k]) } else { None };
        let nl = Some(self.newline);
        let boundary = prev(1) == Some(':')
            || (prev(1) == nl && self.bullet_at(s, p) == 0)
            || (prev(2) == nl && matches!(prev(1), Some('-' | '*' | '+')))
            || (prev(3) == nl && prev(2) == Some(self.number) && matches!(prev(1), Some('.' | ')')));
        if !boundary {
            return None;
        }
        let q = p + s[p..]
            .iter()
            .position(|&c| c == self.word || c == self.newline || c == ':')?;
        if s[q] != self.word {
            return None;
        }
        let e = self.seg_end(s, q + 1);
        let j = (q + 11..e).rev().find(|&j| s[j] == self.word)?;
        let mut r = j + 1;
        while r < s.len() && !matches!(s[r], ':' | '.' | '?' | '!') && s[r] != self.newline {
            r += 1;
        }
        if r < s.len() && matches!(s[r], '.' | '?' | '!') {
            r += 1;
        }
        Some(r)
    }

    /// `_SHORT` = `W SEG* W`: from a content word to the last one of its segment.
    fn short_at(&self, s: &[char], p: usize) -> Option<usize> {
        if s[p] != self.word {
            return None;
        }
        let e = self.seg_end(s, p + 1);
        (p + 1..e).rev().find(|&j| s[j] == self.word).map(|j| j + 1)
    }

    /// One `_ITEM` = `BULLET [^NL]*+ NL` at `q`: its end.
    fn item_at(&self, s: &[char], q: usize) -> Option<usize> {
        let blen = self.bullet_at(s, q);
        if blen == 0 {
            return None;
        }
        let nl = s[q + blen..].iter().position(|&c| c == self.newline)?;
        Some(q + blen + nl + 1)
    }

    /// `_LIST_RE` = `NL ((?:ITEM){3}) (?:ITEM)++` at `p`: (end of the third item, end of match).
    fn list_at(&self, s: &[char], p: usize) -> Option<(usize, usize)> {
        if s[p] != self.newline {
            return None;
        }
        let mut end = p + 1;
        for _ in 0..3 {
            end = self.item_at(s, end)?;
        }
        let third = end;
        end = self.item_at(s, end)?;
        while let Some(next) = self.item_at(s, end) {
            end = next;
        }
        Some((third, end))
    }

    fn sub(&self, s: &[char], matcher: impl Fn(&[char], usize) -> Option<usize>) -> (Vec<char>, usize) {
        let mut out = Vec::with_capacity(s.len());
        let (mut p, mut copied, mut n) = (0, 0, 0);
        while p < s.len() {
            match matcher(s, p) {
                Some(end) => {
                    out.extend_from_slice(&s[copied..p]);
                    out.push(self.word);
                    copied = end;
                    p = end;
                    n += 1;
                }
                None => p += 1,
            }
        }
        out.extend_from_slice(&s[copied..]);
        (out, n)
    }

    fn sub_long(&self, s: &[char]) -> (Vec<char>, usize) {
        self.sub(s, |s, p| self.long_at(s, p))
    }

    fn sub_short(&self, s: &[char]) -> Vec<char> {
        self.sub(s, |s, p| self.short_at(s, p)).0
    }

    fn has_keep(&self, s: &[char]) -> bool {
        s.iter().any(|&c| (self.keep_lo..=self.keep_hi).contains(&c))
    }

    fn fold_lists(&self, s: &[char]) -> Vec<char> {
        let mut out = Vec::with_capacity(s.len());
        let (mut p, mut copied) = (0, 0);
        while p < s.len() {
            match self.list_at(s, p) {
                Some((third, end)) => {
                    out.extend_from_slice(&s[copied..third]);
                    out.push(self.more);
                    out.push(self.newline);
                    copied = end;
                    p = end;
                }
                None => p += 1,
            }
        }
        out.extend_from_slice(&s[copied..]);
        out
    }

    /// Skeleton codes of `tokens` (see `detector.text._slots`).
    pub fn slots(&self, tokens: &[char]) -> Vec<char> {
        let mut s = Vec::with_capacity(tokens.len() + 2);
        s.push(self.newline);
        s.extend_from_slice(tokens);
        s.push(self.newline);
        let (mut out, n) = self.sub_long(&s);
        if n > 0 && !self.has_keep(&out) {
            out = s.clone();
            if n > 1 {
                let end = (0..s.len())
                    .find_map(|p| self.long_at(&s, p))
                    .expect("n > 1 matches exist");
                let mut kept = s[..end].to_vec();
                kept.extend(self.sub_long(&s[end..]).0);
                if self.has_keep(&self.sub_short(&kept)) {
                    out = kept;
                }
            }
        }
        out = self.sub_short(&out);
        if tokens.contains(&self.newline) {
            out.dedup_by(|a, b| *a == self.newline && *b == self.newline);
            if out.iter().filter(|&&c| c == self.newline).count() > 5 {
                out = self.fold_lists(&out);
            }
        }
        let start = out.iter().position(|&c| c != self.newline).unwrap_or(out.len());
        let end = out.iter().rposition(|&c| c != self.newline).map_or(start, |i| i + 1);
        out[start..end].to_vec()
    }
}
