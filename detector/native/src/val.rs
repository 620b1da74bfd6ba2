//! The bytes of one canonical record (a JSONL line, a one-record Kafka message) as a borrowed
//! tree, [`Val`], decoded by `serde_json`, that `RecordKernel.check(bytes)` reads in place of the
//! dict `orjson.loads` would build.
//!
//! When it works: on a JSON object (surrounded by JSON white space only) of valid UTF-8 whose every
//! value `serde_json` reads as orjson 3 does. [`decode`] returns `None` -- "not sure: let orjson
//! decide" -- on whatever `serde_json` refuses (invalid JSON, a byte order mark, a control
//! character in a string, a lone surrogate escape, which orjson refuses too and
//! `detector.parse.loads` repairs, a number that is not a finite f64 such as `1e400`, nesting of
//! 128 levels or more, its limit), on invalid UTF-8, on an integer above i64 (orjson keeps it up
//! to u64) and on an integral float of magnitude 2**63 or more (it may have been written as an
//! integer beyond u64, which both make a float of, rounded perhaps differently). `serde_json` reads
//! `-0` as the float -0.0 where orjson makes the int 0, so a negative zero is [`Val::NegZero`]: a
//! number, but neither an int nor a float to its reader. Floats are rounded correctly
//! (`float_roundtrip`), as orjson does (the property tests in `tests/unit/test_native.py` hold the
//! two equal). Strings and keys are borrowed from the input unless they hold an escape.
//!
//! What it assumes: duplicate keys are kept in input order (orjson keeps the last); the reader of an
//! object ([`unique`]) defers on them. Cost: one UTF-8 validation and one `serde_json` pass, one
//! allocation per object, array and escaped string: about 25k instructions for a 2.4 KB gateway
//! record, 8k more than the hand-written decoder it replaced (`docs/design.md`).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};

/// One decoded JSON value.
#[derive(Debug, PartialEq)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// `-0` (orjson: the int 0) or `-0.0` (the float), which `serde_json` does not tell apart
    NegZero,
    Str(Cow<'a, str>),
    List(Vec<Val<'a>>),
    /// members in input order, duplicates included
    Map(Vec<(Cow<'a, str>, Val<'a>)>),
}

/// 2**63, as f64.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// The object `raw` holds, or `None` when it is anything else or orjson might read it otherwise.
pub fn decode(raw: &[u8]) -> Option<Val<'_>> {
    // one validation of the whole input, so serde_json's `from_str` checks no string again
    let text = std::str::from_utf8(raw).ok()?;
    match serde_json::from_str(text).ok()? {
        v @ Val::Map(_) => Some(v),
        _ => None,
    }
}

/// Whether two keys are equal, testing the length and the end bytes before all bytes (most keys
/// a record holds differ there).
#[inline]
pub fn same(a: &str, b: &str) -> bool {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    x.len() == y.len() && x.first() == y.first() && x.last() == y.last() && x == y
}

/// The members of an object whose keys are all distinct, `None` for duplicates.
pub fn unique<'v, 'a>(members: &'v [(Cow<'a, str>, Val<'a>)]) -> Option<&'v [(Cow<'a, str>, Val<'a>)]> {
    let n = members.len();
    let distinct = if n <= 24 {
        (1..n).all(|i| members[..i].iter().all(|(k, _)| !same(k, &members[i].0)))
    } else {
        let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_ref()).collect();
        keys.sort_unstable();
        keys.windows(2).all(|w| w[0] != w[1])
    };
    distinct.then_some(members)
}

impl<'de> Deserialize<'de> for Val<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Val<'de>, E> {
        Ok(Val::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Val<'de>, E> {
        Ok(Val::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Val<'de>, E> {
        Ok(Val::Int(i))
    }
    fn visit_u64<E: Error>(self, u: u64) -> Result<Val<'de>, E> {
        i64::try_from(u)
            .map(Val::Int)
            .map_err(|_| E::custom("an integer above i64"))
    }
    fn visit_f64<E: Error>(self, x: f64) -> Result<Val<'de>, E> {
        if x.abs() >= TWO_POW_63 && x.fract() == 0.0 {
            Err(E::custom("perhaps an integer beyond u64"))
        } else if x == 0.0 && x.is_sign_negative() {
            Ok(Val::NegZero)
        } else {
            Ok(Val::Float(x))
        }
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Val::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'de>, A::Error> {
        let mut members = Vec::with_capacity(8);
        // serde_json hands a key to the visitor as a string (borrowed unless it holds an escape)
        while let Some(key) = map.next_key()? {
            let Val::Str(k) = key else {
                return Err(A::Error::custom("a key that is not a string"));
            };
            members.push((k, map.next_value()?));
        }
        Ok(Val::Map(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Option<Val<'_>> {
        match decode(text.as_bytes())? {
            Val::Map(mut m) if m.len() == 1 => Some(m.pop()?.1),
            _ => None,
        }
    }

    #[test]
    fn reads_what_orjson_reads() {
        assert_eq!(one(r#" {"a" : 0 } "#), Some(Val::Int(0)));
        assert_eq!(one(r#"{"a":-0}"#), Some(Val::NegZero));
        assert_eq!(one(r#"{"a":-0.0}"#), Some(Val::NegZero));
        assert_eq!(one(r#"{"a":1E2}"#), Some(Val::Float(100.0)));
        assert_eq!(one(r#"{"a":1e-400}"#), Some(Val::Float(0.0)));
        assert_eq!(one(r#"{"a":0.1}"#), Some(Val::Float(0.1)));
        assert_eq!(
            one(r#"{"a":2.2250738585072011e-308}"#),
            Some(Val::Float(2.2250738585072011e-308))
        );
        assert_eq!(one(r#"{"a":9223372036854775807}"#), Some(Val::Int(i64::MAX)));
        assert_eq!(one(r#"{"a":-9223372036854775808}"#), Some(Val::Int(i64::MIN)));
        assert_eq!(one(r#"{"a":"plain"}"#), Some(Val::Str(Cow::Borrowed("plain"))));
        assert_eq!(
            one(r#"{"a":"x\/\"\u00e9\ud83d\ude00\n"}"#),
            Some(Val::Str(Cow::Owned("x/\"é😀\n".into())))
        );
        assert_eq!(
            one(r#"{"a":[true,null,{}]}"#).map(|v| matches!(v, Val::List(l) if l.len() == 3)),
            Some(true)
        );
        let deep = "[".repeat(126) + &"]".repeat(126);
        assert!(decode(format!("{{\"a\":{deep}}}").as_bytes()).is_some());
    }

    #[test]
    fn defers_on_what_orjson_refuses_or_reads_otherwise() {
        for text in [
            r#"{"a":1e400}"#,
            r#"{"a":-1e400}"#,
            r#"{"a":9223372036854775808}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":-9223372036854775809}"#,
            r#"{"a":1e19}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            r#"{"a":"\ud83d"}"#,
            r#"{"a":"\ud83dx"}"#,
            r#"{"a":"\ude00"}"#,
            r#"{"\ud83d":1}"#,
            r#"{"a":"\x"}"#,
            "{\"a\":\"\t\"}",
            "{\"a\u{1}\":1}",
            r#"{"a":[1,]}"#,
            r#"{"a":1,}"#,
            r#"{"a":1} x"#,
            "{\"a\":1}\u{c}",
            r#"[{"a":1}]"#,
            r#""a""#,
            "\u{feff}{}",
            r#"{"a":NaN}"#,
            r#"{"a":tru}"#,
        ] {
            assert_eq!(decode(text.as_bytes()), None, "{text}");
        }
        assert_eq!(decode(b"{\"a\":\"\xff\"}"), None);
        assert_eq!(decode(b"{\"a\":\"\xed\xa0\x80\"}"), None); // a surrogate in UTF-8
        let deep = "[".repeat(127) + &"]".repeat(127);
        assert!(decode(format!("{{\"a\":{deep}}}").as_bytes()).is_none());
    }

    #[test]
    fn duplicate_keys_are_found() {
        let Some(Val::Map(m)) = decode(br#"{"a":1,"b":2,"\u0061":3}"#) else {
            panic!()
        };
        assert!(unique(&m).is_none());
        assert!(unique(&m[..2]).is_some());
        let many: Vec<String> = (0..30).map(|i| format!("\"k{i}\":{i}")).collect();
        let text = format!("{{{},\"k7\":0}}", many.join(","));
        let Some(Val::Map(m)) = decode(text.as_bytes()) else {
            panic!()
        };
        assert!(unique(&m).is_none());
        assert!(unique(&m[..30]).is_some());
    }
}
