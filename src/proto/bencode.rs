//! Bencode (BEP 3, "The connectivity is as follows" / "bencoding"): the one wire format shared by
//! `.torrent` files, tracker responses, the extension protocol (BEP 10, BEP 9) and the DHT (BEP 5).
//!
//! # Role
//!
//! Bytes in, [`Value`] out, and back. Sans-IO: no reads, no allocation beyond the value itself.
//!
//! # What is accepted: what libtorrent accepts
//!
//! Real `.torrent` files and real peers are not always canonical, and a client that refuses
//! what every other client opens loses its user. The decoder therefore follows libtorrent
//! 2.0's `bdecode` (checked against it by the differential test in `tests/lt_differential.rs`):
//!
//! - dictionary keys must be byte strings, but may come in any order and may repeat: the
//!   *first* of repeated keys is the one kept (libtorrent's lookups find the first);
//! - integers are `i`, an optional `-`, 1 to 20 digits, `e`; leading zeros and `-0` decode; a
//!   value that does not fit in an `i64` reads as 0 (as in libtorrent), more digits are refused;
//! - a string length has at most 16 digits (leading zeros allowed); a length longer than the
//!   remaining input means "not here yet" (incomplete), so no allocation is ever sized by an
//!   untrusted length prefix;
//! - nesting is bounded by [`MAX_DEPTH`] open lists/dicts and a value by [`MAX_TOKENS`] tokens,
//!   so a hostile input can exhaust neither the stack of [`encode`], [`to_json`] or `Drop` nor
//!   the memory;
//! - bytes after the first complete value are ignored by [`decode`] (libtorrent ignores what
//!   follows a torrent's root dictionary); [`decode_prefix`] says where the value ended.
//!
//! The info hash is computed over the raw bytes, never over a re-encoding, so a non-canonical
//! info dictionary keeps the hash every other client computes. [`has_non_canonical_form`]
//! tells the metainfo parser when a BitTorrent v2 info dictionary uses the forms v2 forbids.
//!
//! # Incomplete vs invalid
//!
//! [`decode_prefix`] follows the crate's single decode shape: `Ok(None)` means the buffer ends
//! before the first value does (read more and retry), `Err` means no amount of extra bytes can make
//! it valid, and `Ok(Some((value, consumed)))` leaves any bytes after the value alone. BEP 9
//! `ut_metadata` `data` messages rely on this: a bencoded dict followed by raw piece bytes.
//! A caller streaming from the network must bound its own buffer: a length prefix such as
//! `99999999:` stays "incomplete" until that many bytes have arrived.
//!
//! # Info span
//!
//! The info hash (BEP 3) is the SHA-1 of the `info` value *exactly as it appears in the file*.
//! [`info_span`] / [`decode_with_info_span`] report that byte range (of the first `info` key of
//! the top-level dictionary); nothing is ever re-encoded to compute a hash.
//!
//! # JSON form ([`to_json`])
//!
//! Compact JSON as printed by `fast-peer decode`: integers are JSON numbers, lists are arrays,
//! dicts are objects (in key order), UTF-8 byte strings are JSON strings. Byte strings that are not
//! valid UTF-8 are printed losslessly:
//!
//! - as a value: the object `{"__bytes_hex__":"<lowercase hex>"}`;
//! - as a dict key (JSON keys must be strings): the string `"__bytes_hex__:<lowercase hex>"`.
//!
//! A genuine UTF-8 value that happens to look like these forms is printed as-is, so the JSON is
//! meant for people and scripts, not for lossless round trips of adversarial input.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::proto::id::to_hex;

/// Most lists/dicts open at once (a top-level dict counts as 1), as in libtorrent.
pub const MAX_DEPTH: usize = 99;
/// Most tokens (each `l`, `d`, `e`, integer and string) in one value, as in libtorrent.
pub const MAX_TOKENS: usize = 3_000_000;
/// Most digits of an integer (after an optional `-`).
const MAX_INT_DIGITS: usize = 20;
/// Most digits of a string length (with its `:`, at most 17 bytes).
const MAX_LENGTH_DIGITS: usize = 16;

/// A decoded bencode value. Dict keys are raw bytes and kept sorted, so [`encode`] always
/// writes the canonical form (of a canonical input: the input itself).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Value {
    /// `i<decimal>e`
    Int(i64),
    /// `<len>:<bytes>`: arbitrary bytes, not necessarily UTF-8.
    Bytes(Vec<u8>),
    /// `l<values>e`
    List(Vec<Value>),
    /// `d<key><value>...e`
    Dict(BTreeMap<Vec<u8>, Value>),
}

/// Why a buffer is not a bencoded value. Offsets are byte positions in the buffer handed to the
/// decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BencodeError {
    /// The input ended inside a value (only [`decode`] and [`info_span`] report this;
    /// [`decode_prefix`] returns `Ok(None)` instead).
    #[error("unexpected end of input at offset {offset} (value incomplete)")]
    UnexpectedEof { offset: usize },
    /// A byte that cannot start or continue a value here.
    #[error("syntax error at offset {offset}: {detail}")]
    Syntax { offset: usize, detail: String },
    /// An integer with more than 20 digits or a string length with more than 16.
    #[error("number at offset {offset} has too many digits")]
    TooLong { offset: usize },
    /// A dictionary key that is an integer, list or dict.
    #[error("dict key at offset {offset} is not a byte string")]
    KeyNotString { offset: usize },
    /// A dictionary that ends right after a key.
    #[error("dict key {key:?} has no value (dict ends at offset {offset})")]
    MissingValue { offset: usize, key: String },
    /// An `e` with no list or dict to end.
    #[error("unexpected 'e' at offset {offset} with no open list or dict")]
    UnexpectedEnd { offset: usize },
    /// Lists/dicts nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {max} at offset {offset}")]
    TooDeep { offset: usize, max: usize },
    /// More than [`MAX_TOKENS`] tokens.
    #[error("more than {max} items (at offset {offset})")]
    TooManyTokens { offset: usize, max: usize },
}

/// Decode the value at the start of `buf`; bytes after it are ignored.
pub fn decode(buf: &[u8]) -> Result<Value, BencodeError> {
    decode_with_info_span(buf).map(|(v, _)| v)
}

/// Decode one value from the start of `buf`.
///
/// `Ok(None)`: `buf` is a strict prefix of a valid value (read more). `Ok(Some((v, n)))`: the
/// value occupies `buf[..n]`; bytes after it are not looked at. `Err`: invalid.
pub fn decode_prefix(buf: &[u8]) -> Result<Option<(Value, usize)>, BencodeError> {
    match parse(buf)? {
        Parsed::Incomplete => Ok(None),
        Parsed::Done { value, end, .. } => Ok(Some((value, end))),
    }
}

/// Byte range of the value under the top-level dict key `info`, exactly as it appears in `buf`.
///
/// `Ok(None)` when the top level is not a dict or has no `info` key. The info hash is SHA-1 of
/// `buf[range]`.
pub fn info_span(buf: &[u8]) -> Result<Option<Range<usize>>, BencodeError> {
    decode_with_info_span(buf).map(|(_, span)| span)
}

/// [`decode`] and [`info_span`] in one pass, for `.torrent` parsing.
pub fn decode_with_info_span(buf: &[u8]) -> Result<(Value, Option<Range<usize>>), BencodeError> {
    match parse(buf)? {
        Parsed::Incomplete => Err(BencodeError::UnexpectedEof { offset: buf.len() }),
        Parsed::Done {
            value, info_span, ..
        } => Ok((value, info_span)),
    }
}

/// Canonical encoding. Keys come out sorted because [`BTreeMap`] orders `Vec<u8>` bytewise.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(v, &mut out);
    out
}

/// Append the canonical encoding of `v` to `out` (avoids a copy when framing messages).
pub fn encode_into(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Int(i) => {
            out.push(b'i');
            out.extend_from_slice(i.to_string().as_bytes());
            out.push(b'e');
        }
        Value::Bytes(b) => encode_bytes(b, out),
        Value::List(items) => {
            out.push(b'l');
            for item in items {
                encode_into(item, out);
            }
            out.push(b'e');
        }
        Value::Dict(map) => {
            out.push(b'd');
            for (k, item) in map {
                encode_bytes(k, out);
                encode_into(item, out);
            }
            out.push(b'e');
        }
    }
}

fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// Compact JSON rendering (see the module doc for how non-UTF-8 bytes are shown).
pub fn to_json(v: &Value) -> String {
    let mut out = String::new();
    json_into(v, &mut out);
    out
}

fn json_string(s: &str, out: &mut String) {
    // serde_json's Display of a string value is its escaped JSON form and cannot fail.
    out.push_str(&serde_json::Value::String(s.to_owned()).to_string());
}

fn json_into(v: &Value, out: &mut String) {
    match v {
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => json_string(s, out),
            Err(_) => {
                out.push_str("{\"__bytes_hex__\":\"");
                out.push_str(&to_hex(b));
                out.push_str("\"}");
            }
        },
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_into(item, out);
            }
            out.push(']');
        }
        Value::Dict(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match std::str::from_utf8(k) {
                    Ok(s) => json_string(s, out),
                    Err(_) => {
                        out.push_str("\"__bytes_hex__:");
                        out.push_str(&to_hex(k));
                        out.push('"');
                    }
                }
                out.push(':');
                json_into(item, out);
            }
            out.push('}');
        }
    }
}

impl Value {
    /// Dict lookup; `None` if `self` is not a dict or has no such key.
    pub fn get(&self, key: &[u8]) -> Option<&Value> {
        self.as_dict()?.get(key)
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
    /// The byte string as UTF-8; `None` if not a byte string or not valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()?).ok()
    }
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    pub fn as_dict(&self) -> Option<&BTreeMap<Vec<u8>, Value>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoder core: one pass over the bytes with an explicit stack (no recursion, so depth is bounded
// only by MAX_DEPTH), following libtorrent's `bdecode` token by token.

enum Parsed {
    Incomplete,
    Done {
        value: Value,
        end: usize,
        info_span: Option<Range<usize>>,
    },
}

enum Frame {
    List(Vec<Value>),
    /// Entries so far, the last key read (for the sort check), and the key whose value is
    /// being read (if any).
    Dict(BTreeMap<Vec<u8>, Value>, Option<Vec<u8>>, Option<Vec<u8>>),
}

/// What a parse noticed besides the value: a form that is valid but not canonical.
#[derive(Default)]
struct Notes {
    non_canonical: bool,
}

fn parse(buf: &[u8]) -> Result<Parsed, BencodeError> {
    parse_noting(buf, &mut Notes::default())
}

/// Whether `buf` (one complete value, e.g. a raw info dictionary) uses a form that decodes but
/// is not canonical: unsorted or repeated dictionary keys, or leading zeros in an integer or a
/// string length (`i-0e` is let through, as libtorrent does). libtorrent refuses these inside
/// the info dictionary of a BitTorrent v2 or hybrid torrent, and only there.
pub fn has_non_canonical_form(buf: &[u8]) -> bool {
    let mut notes = Notes::default();
    let _ = parse_noting(buf, &mut notes);
    notes.non_canonical
}

/// Read the digits of an integer or string length starting at `at`, up to `delimiter`.
/// `Ok(None)`: the buffer ends first. `max_digits` bounds the work and the value.
fn digits_until(
    buf: &[u8],
    at: usize,
    delimiter: u8,
    max_digits: usize,
) -> Result<Option<usize>, BencodeError> {
    let mut i = at;
    loop {
        match buf.get(i) {
            None => return Ok(None),
            Some(&b) if b == delimiter && i > at => return Ok(Some(i)),
            Some(b) if b.is_ascii_digit() => {
                if i - at >= max_digits {
                    return Err(BencodeError::TooLong { offset: at });
                }
                i += 1;
            }
            Some(&b) => {
                return Err(BencodeError::Syntax {
                    offset: i,
                    detail: format!("expected a digit, found {:?}", b as char),
                });
            }
        }
    }
}

fn parse_noting(buf: &[u8], notes: &mut Notes) -> Result<Parsed, BencodeError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut pos = 0usize;
    let mut tokens = 0usize;
    let mut info_start: Option<usize> = None;
    let mut info_span: Option<Range<usize>> = None;

    loop {
        let start = pos;
        let Some(&byte) = buf.get(pos) else {
            return Ok(Parsed::Incomplete);
        };
        tokens += 1;
        if tokens > MAX_TOKENS {
            return Err(BencodeError::TooManyTokens {
                offset: start,
                max: MAX_TOKENS,
            });
        }
        let expecting_key = matches!(stack.last(), Some(Frame::Dict(_, _, None)));
        if expecting_key && byte != b'e' && !byte.is_ascii_digit() {
            return Err(BencodeError::KeyNotString { offset: start });
        }
        if stack.len() == 1 && is_info_value(&stack) {
            // the top-level dict waits for the value of `info`: it starts here
            info_start = Some(start);
        }
        let done: Option<Value> = match byte {
            b'l' | b'd' => {
                pos += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(BencodeError::TooDeep {
                        offset: start,
                        max: MAX_DEPTH,
                    });
                }
                stack.push(if byte == b'l' {
                    Frame::List(Vec::new())
                } else {
                    Frame::Dict(BTreeMap::new(), None, None)
                });
                None
            }
            b'e' => {
                pos += 1;
                match stack.pop() {
                    Some(Frame::List(items)) => Some(Value::List(items)),
                    Some(Frame::Dict(map, _, None)) => Some(Value::Dict(map)),
                    Some(Frame::Dict(_, _, Some(key))) => {
                        return Err(BencodeError::MissingValue {
                            offset: start,
                            key: lossy(&key),
                        });
                    }
                    None => return Err(BencodeError::UnexpectedEnd { offset: start }),
                }
            }
            b'i' => {
                let negative = buf.get(pos + 1) == Some(&b'-');
                let first = pos + 1 + usize::from(negative);
                let Some(end) = digits_until(buf, first, b'e', MAX_INT_DIGITS)? else {
                    return Ok(Parsed::Incomplete);
                };
                let text = std::str::from_utf8(&buf[pos + 1..end]).unwrap_or_default();
                if buf[first] == b'0' && end - first > 1 && !negative {
                    notes.non_canonical = true;
                }
                pos = end + 1;
                // libtorrent reads an integer that does not fit in 64 bits as 0
                Some(Value::Int(text.parse::<i64>().unwrap_or(0)))
            }
            b'0'..=b'9' => {
                let Some(colon) = digits_until(buf, pos, b':', MAX_LENGTH_DIGITS)? else {
                    return Ok(Parsed::Incomplete);
                };
                if buf[pos] == b'0' && colon - pos > 1 {
                    notes.non_canonical = true;
                }
                let len: usize = std::str::from_utf8(&buf[pos..colon])
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(usize::MAX);
                let body = colon + 1;
                // a length past the end is "not here yet": nothing is allocated from it
                let Some(bytes) = body.checked_add(len).and_then(|end| buf.get(body..end)) else {
                    return Ok(Parsed::Incomplete);
                };
                pos = body + len;
                if let Some(Frame::Dict(_, last, key @ None)) = stack.last_mut() {
                    if last.as_deref().is_some_and(|l| l >= bytes) {
                        notes.non_canonical = true;
                    }
                    *last = Some(bytes.to_vec());
                    *key = Some(bytes.to_vec());
                    continue;
                }
                Some(Value::Bytes(bytes.to_vec()))
            }
            other => {
                return Err(BencodeError::Syntax {
                    offset: start,
                    detail: format!(
                        "expected a value (list, dict, integer or string), found {:?}",
                        other as char
                    ),
                });
            }
        };
        let Some(value) = done else { continue };
        // the first `info` of the top-level dict is the one that counts, as for every key
        if stack.len() == 1
            && is_info_value(&stack)
            && let Some(s) = info_start.take()
            && info_span.is_none()
        {
            info_span = Some(s..pos);
        }
        match stack.last_mut() {
            None => {
                return Ok(Parsed::Done {
                    value,
                    end: pos,
                    info_span,
                });
            }
            Some(Frame::List(items)) => items.push(value),
            Some(Frame::Dict(map, _, key)) => {
                if let Some(k) = key.take() {
                    // the first of repeated keys wins, as in libtorrent's lookups
                    map.entry(k).or_insert(value);
                }
            }
        }
    }
}

fn lossy(b: &[u8]) -> String {
    const MAX: usize = 64;
    let s = String::from_utf8_lossy(&b[..b.len().min(MAX)]).into_owned();
    if b.len() > MAX { s + "..." } else { s }
}

/// Whether the innermost frame is the top-level dict waiting for the value of key `info`.
fn is_info_value(stack: &[Frame]) -> bool {
    matches!(stack.last(), Some(Frame::Dict(_, _, Some(k))) if k == b"info")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    fn dict(pairs: &[(&str, Value)]) -> Value {
        Value::Dict(
            pairs
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
                .collect(),
        )
    }

    const VALID: &[&[u8]] = &[
        b"i0e",
        b"i-42e",
        b"i9223372036854775807e",
        b"i-9223372036854775808e",
        b"0:",
        b"5:hello",
        b"le",
        b"de",
        b"l5:helloi52ee",
        b"d3:foo3:bar5:helloi52ee",
        b"d4:infod6:lengthi3e4:name1:aee",
        b"d1:ad1:bl1:cdeeee",
        b"lllleeee",
    ];

    #[test]
    fn golden_encode() {
        assert_eq!(encode(&Value::Int(0)), b"i0e");
        assert_eq!(encode(&Value::Int(-42)), b"i-42e");
        assert_eq!(encode(&Value::Int(i64::MIN)), b"i-9223372036854775808e");
        assert_eq!(encode(&b("")), b"0:");
        assert_eq!(encode(&b("hello")), b"5:hello");
        assert_eq!(
            encode(&Value::List(vec![b("hello"), Value::Int(52)])),
            b"l5:helloi52ee"
        );
        // Inserted out of order: the encoding is still sorted.
        let d = dict(&[("hello", Value::Int(52)), ("foo", b("bar"))]);
        assert_eq!(encode(&d), b"d3:foo3:bar5:helloi52ee");
        assert_eq!(encode(&Value::Dict(BTreeMap::new())), b"de");
        // Bytewise order, not string order: "Z" (0x5a) sorts before "a" (0x61).
        let d = dict(&[("a", Value::Int(1)), ("Z", Value::Int(2))]);
        assert_eq!(encode(&d), b"d1:Zi2e1:ai1ee");
    }

    #[test]
    fn decode_values() {
        assert_eq!(decode(b"i52e").unwrap(), Value::Int(52));
        assert_eq!(decode(b"5:hello").unwrap(), b("hello"));
        assert_eq!(
            decode(b"l5:helloi52ee").unwrap(),
            Value::List(vec![b("hello"), Value::Int(52)])
        );
        let v = decode(b"d3:foo3:bar5:helloi52ee").unwrap();
        assert_eq!(v, dict(&[("foo", b("bar")), ("hello", Value::Int(52))]));
        assert_eq!(v.get(b"foo").and_then(Value::as_str), Some("bar"));
        assert_eq!(v.get(b"hello").and_then(Value::as_int), Some(52));
        assert_eq!(v.get(b"nope"), None);
        assert_eq!(
            decode(b"i9223372036854775807e").unwrap(),
            Value::Int(i64::MAX)
        );
        assert_eq!(
            decode(b"i-9223372036854775808e").unwrap(),
            Value::Int(i64::MIN)
        );
        // Binary strings (including NUL and ':' and 'e') are opaque.
        assert_eq!(
            decode(b"4:\x00:e\xff").unwrap(),
            Value::Bytes(vec![0, b':', b'e', 0xff])
        );
    }

    #[test]
    fn accessors() {
        let v = decode(b"d1:ai1e1:b2:hi1:cle1:dde1:e1:\xffe").unwrap();
        assert_eq!(v.get(b"a").unwrap().as_int(), Some(1));
        assert_eq!(v.get(b"a").unwrap().as_bytes(), None);
        assert_eq!(v.get(b"b").unwrap().as_bytes(), Some(&b"hi"[..]));
        assert_eq!(v.get(b"b").unwrap().as_list(), None);
        assert_eq!(v.get(b"c").unwrap().as_list(), Some(&[][..]));
        assert!(v.get(b"d").unwrap().as_dict().unwrap().is_empty());
        assert_eq!(v.get(b"e").unwrap().as_str(), None);
        assert_eq!(Value::Int(1).get(b"a"), None);
        assert_eq!(Value::Int(1).as_dict(), None);
    }

    #[test]
    fn valid_inputs_round_trip_byte_for_byte() {
        for input in VALID {
            let v = decode(input).unwrap();
            assert_eq!(encode(&v), *input, "{}", String::from_utf8_lossy(input));
            assert_eq!(decode_prefix(input).unwrap(), Some((v, input.len())));
        }
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        for input in VALID {
            for cut in 0..input.len() {
                let prefix = &input[..cut];
                assert_eq!(
                    decode_prefix(prefix),
                    Ok(None),
                    "prefix {:?}",
                    String::from_utf8_lossy(prefix)
                );
                assert!(matches!(
                    decode(prefix),
                    Err(BencodeError::UnexpectedEof { .. })
                ));
            }
        }
    }

    #[test]
    fn prefix_leaves_trailing_bytes() {
        // BEP 9 ut_metadata data message: a dict followed by raw bytes.
        let msg = b"d8:msg_typei1e5:piecei0e10:total_sizei5ee\x01\x02\x03\x04\x05";
        let (v, n) = decode_prefix(msg).unwrap().unwrap();
        assert_eq!(&msg[n..], b"\x01\x02\x03\x04\x05");
        assert_eq!(v.get(b"total_size").and_then(Value::as_int), Some(5));
        // Trailing bytes that are themselves garbage are not looked at.
        assert_eq!(decode_prefix(b"i1exxx").unwrap(), Some((Value::Int(1), 3)));
        // Several values in one buffer.
        let buf = b"i1e3:abcle";
        let (v1, n1) = decode_prefix(buf).unwrap().unwrap();
        let (v2, n2) = decode_prefix(&buf[n1..]).unwrap().unwrap();
        let (v3, n3) = decode_prefix(&buf[n1 + n2..]).unwrap().unwrap();
        assert_eq!((v1, v2, v3), (Value::Int(1), b("abc"), Value::List(vec![])));
        assert_eq!(n1 + n2 + n3, buf.len());
    }

    #[test]
    fn bytes_after_the_value_are_ignored_by_decode() {
        // libtorrent ignores what follows a torrent's root dictionary
        assert_eq!(decode(b"i1ei2e"), Ok(Value::Int(1)));
        assert_eq!(decode(b"dexyz"), Ok(Value::Dict(BTreeMap::new())));
    }

    #[test]
    fn libtorrent_leniency() {
        // keys in any order; the first of repeated keys wins
        let v = decode(b"d3:fooi1e3:bari2e3:fooi3ee").unwrap();
        assert_eq!(v, dict(&[("bar", Value::Int(2)), ("foo", Value::Int(1))]));
        // leading zeros and -0
        assert_eq!(decode(b"i010e"), Ok(Value::Int(10)));
        assert_eq!(decode(b"i-0e"), Ok(Value::Int(0)));
        assert_eq!(decode(b"02:ab"), Ok(b("ab")));
        // 20 digits that overflow an i64 read as 0; 21 are refused
        assert_eq!(decode(b"i99999999999999999999e"), Ok(Value::Int(0)));
        assert_eq!(decode(b"i-99999999999999999999e"), Ok(Value::Int(0)));
        assert!(matches!(
            rejected(b"i999999999999999999999e"),
            BencodeError::TooLong { offset: 1 }
        ));
        // a string length of 16 digits is fine, 17 are refused
        assert_eq!(decode(b"0000000000000001:a"), Ok(b("a")));
        assert!(matches!(
            rejected(b"00000000000000001:a"),
            BencodeError::TooLong { offset: 0 }
        ));
    }

    #[test]
    fn non_canonical_forms_are_noticed() {
        for canonical in VALID {
            assert!(
                !has_non_canonical_form(canonical),
                "{}",
                String::from_utf8_lossy(canonical)
            );
        }
        assert!(!has_non_canonical_form(b"i-0e"));
        assert!(!has_non_canonical_form(b"i-01e"));
        for odd in [
            &b"d1:bi1e1:ai2ee"[..],
            b"d1:ai1e1:ai2ee",
            b"i00e",
            b"i016384e",
            b"01:a",
            b"00:",
            b"ld1:bi1e1:ai1eee",
        ] {
            assert!(
                has_non_canonical_form(odd),
                "{}",
                String::from_utf8_lossy(odd)
            );
        }
    }

    fn rejected(input: &[u8]) -> BencodeError {
        let e = decode(input).expect_err(&String::from_utf8_lossy(input));
        // decode_prefix must agree that this is invalid, not merely incomplete.
        assert_eq!(decode_prefix(input), Err(e.clone()));
        e
    }

    #[test]
    fn rejections() {
        assert!(matches!(rejected(b"ie"), BencodeError::Syntax { .. }));
        assert!(matches!(rejected(b"i-e"), BencodeError::Syntax { .. }));
        assert!(matches!(rejected(b"i+1e"), BencodeError::Syntax { .. }));
        assert!(matches!(rejected(b"i1.5e"), BencodeError::Syntax { .. }));
        assert!(matches!(rejected(b"-1:a"), BencodeError::Syntax { .. }));
        assert!(matches!(
            rejected(b"di1ei2ee"),
            BencodeError::KeyNotString { offset: 1 }
        ));
        assert!(matches!(
            rejected(b"dlei2ee"),
            BencodeError::KeyNotString { offset: 1 }
        ));
        assert!(matches!(
            rejected(b"d3:fooe"),
            BencodeError::MissingValue { offset: 6, .. }
        ));
        assert!(matches!(
            rejected(b"e"),
            BencodeError::UnexpectedEnd { offset: 0 }
        ));
        assert!(matches!(rejected(b"x"), BencodeError::Syntax { .. }));
        assert!(matches!(
            rejected(b"l5:helloxe"),
            BencodeError::Syntax { .. }
        ));
        assert!(matches!(rejected(b" i1e"), BencodeError::Syntax { .. }));
        // Absurd length digits: no overflow, no panic, an error.
        assert!(matches!(
            rejected(b"99999999999999999999999999999:abc"),
            BencodeError::TooLong { .. }
        ));
    }

    #[test]
    fn token_limit() {
        let mut many = b"l".to_vec();
        many.extend(b"i1e".repeat(MAX_TOKENS - 2));
        many.push(b'e');
        assert!(decode(&many).is_ok());
        let mut too_many = b"l".to_vec();
        too_many.extend(b"i1e".repeat(MAX_TOKENS - 1));
        too_many.push(b'e');
        assert!(matches!(
            rejected(&too_many),
            BencodeError::TooManyTokens { .. }
        ));
    }

    #[test]
    fn huge_length_prefix_is_incomplete_not_allocated() {
        assert_eq!(decode_prefix(b"9999999999999999:abc"), Ok(None));
        assert_eq!(decode_prefix(b"4294967296:abc"), Ok(None));
        assert!(matches!(
            decode_prefix(b"18446744073709551615:abc"),
            Err(BencodeError::TooLong { .. })
        ));
        assert!(matches!(
            decode(b"100:abc"),
            Err(BencodeError::UnexpectedEof { offset: 7 })
        ));
    }

    #[test]
    fn depth_limit() {
        let nest = |n: usize| {
            let mut v = vec![b'l'; n];
            v.extend(std::iter::repeat_n(b'e', n));
            v
        };
        assert!(decode(&nest(MAX_DEPTH)).is_ok());
        assert_eq!(
            rejected(&nest(MAX_DEPTH + 1)),
            BencodeError::TooDeep {
                offset: MAX_DEPTH,
                max: MAX_DEPTH
            }
        );
        // Too deep is an error even before the input is complete.
        assert!(decode_prefix(&[b'l'; MAX_DEPTH + 1]).is_err());
        assert_eq!(decode_prefix(&[b'l'; MAX_DEPTH]), Ok(None));
        // Dicts count too.
        let mut d = b"d1:a".repeat(MAX_DEPTH);
        d.extend_from_slice(b"i1e");
        d.extend(std::iter::repeat_n(b'e', MAX_DEPTH));
        assert!(decode(&d).is_ok());
        let mut d = b"d1:a".repeat(MAX_DEPTH + 1);
        d.extend_from_slice(b"i1e");
        d.extend(std::iter::repeat_n(b'e', MAX_DEPTH + 1));
        assert!(matches!(rejected(&d), BencodeError::TooDeep { .. }));
        // Far beyond the limit: still an error, no stack overflow.
        assert!(decode(&nest(100_000)).is_err());
    }

    #[test]
    fn empty_input() {
        assert_eq!(decode_prefix(b""), Ok(None));
        assert_eq!(decode(b""), Err(BencodeError::UnexpectedEof { offset: 0 }));
    }

    #[test]
    fn info_span_is_the_raw_bytes() {
        let buf = b"d8:announce3:url4:infod6:lengthi3e4:name1:ae5:otheri1ee";
        let span = info_span(buf).unwrap().unwrap();
        assert_eq!(&buf[span], b"d6:lengthi3e4:name1:ae");
        // Only the top level counts.
        assert_eq!(info_span(b"d1:ad4:infoi1eee").unwrap(), None);
        assert_eq!(info_span(b"l4:infoi1ee").unwrap(), None);
        assert_eq!(info_span(b"de").unwrap(), None);
        // Non-dict values are spanned too (metainfo rejects them later).
        let buf = b"d4:infoi7ee";
        assert_eq!(&buf[info_span(buf).unwrap().unwrap()], b"i7e");
        let buf = b"d4:info3:abce";
        assert_eq!(&buf[info_span(buf).unwrap().unwrap()], b"3:abc");
        let buf = b"d4:infoli1eee";
        assert_eq!(&buf[info_span(buf).unwrap().unwrap()], b"li1ee");
        // The value must be complete; what follows it is ignored.
        assert!(info_span(b"d4:infode").is_err());
        assert_eq!(info_span(b"d4:infodeex").unwrap(), Some(7..9));
        assert_eq!(info_span(b"d4:infodee").unwrap(), Some(7..9));
        // unsorted keys: the span is still the raw bytes; a repeated `info`: the first
        let buf = b"d4:infod4:name1:a6:lengthi3ee8:announce1:ue";
        assert_eq!(
            &buf[info_span(buf).unwrap().unwrap()],
            b"d4:name1:a6:lengthi3ee"
        );
        let buf = b"d4:infoi1e4:infoi2ee";
        assert_eq!(&buf[info_span(buf).unwrap().unwrap()], b"i1e");
    }

    #[test]
    fn json() {
        assert_eq!(
            to_json(&decode(b"d3:foo3:bar5:helloi52ee").unwrap()),
            r#"{"foo":"bar","hello":52}"#
        );
        assert_eq!(to_json(&decode(b"5:hello").unwrap()), r#""hello""#);
        assert_eq!(
            to_json(&decode(b"l5:helloi52ee").unwrap()),
            r#"["hello",52]"#
        );
        assert_eq!(to_json(&decode(b"i-3e").unwrap()), "-3");
        assert_eq!(to_json(&decode(b"le").unwrap()), "[]");
        assert_eq!(to_json(&decode(b"de").unwrap()), "{}");
        assert_eq!(to_json(&decode(b"3:a\"\n").unwrap()), r#""a\"\n""#);
        assert_eq!(to_json(&decode(b"2:\xc3\xa9").unwrap()), "\"é\"");
        assert_eq!(
            to_json(&decode(b"2:\xff\x00").unwrap()),
            r#"{"__bytes_hex__":"ff00"}"#
        );
        assert_eq!(
            to_json(&decode(b"d1:\xfei1ee").unwrap()),
            r#"{"__bytes_hex__:fe":1}"#
        );
        // Every output is valid JSON.
        for input in VALID {
            let j = to_json(&decode(input).unwrap());
            assert!(serde_json::from_str::<serde_json::Value>(&j).is_ok(), "{j}");
        }
    }

    #[test]
    fn error_messages_carry_offsets() {
        assert_eq!(
            decode(b"d3:foo").unwrap_err().to_string(),
            "unexpected end of input at offset 6 (value incomplete)"
        );
        assert_eq!(
            decode(b"di1ee").unwrap_err().to_string(),
            "dict key at offset 1 is not a byte string"
        );
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::Int),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(Value::Bytes),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                proptest::collection::btree_map(
                    proptest::collection::vec(any::<u8>(), 0..6),
                    inner,
                    0..6
                )
                .prop_map(Value::Dict),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trip(v in arb_value()) {
            let bytes = encode(&v);
            prop_assert_eq!(decode(&bytes), Ok(v.clone()));
            prop_assert_eq!(decode_prefix(&bytes), Ok(Some((v.clone(), bytes.len()))));
            for cut in 0..bytes.len() {
                prop_assert_eq!(decode_prefix(&bytes[..cut]), Ok(None));
            }
            let j = to_json(&v);
            prop_assert!(serde_json::from_str::<serde_json::Value>(&j).is_ok());
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
            let _ = info_span(&bytes);
            if let Ok(Some((v, n))) = decode_prefix(&bytes) {
                prop_assert!(n <= bytes.len());
                // what is accepted re-encodes canonically, and that decodes to the same value
                prop_assert_eq!(decode(&encode(&v)), Ok(v));
            }
        }

        #[test]
        fn bencode_alphabet_never_panics(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b'i'), Just(b'l'), Just(b'd'), Just(b'e'), Just(b':'),
                            Just(b'-'), Just(b'0'), Just(b'1'), Just(b'2'), Just(b'9'), Just(b'a')],
                0..128)
        ) {
            if let Ok(Some((v, n))) = decode_prefix(&bytes) {
                prop_assert!(n <= bytes.len());
                prop_assert_eq!(decode(&encode(&v)), Ok(v));
            }
            let _ = decode(&bytes);
        }

        #[test]
        fn mutated_valid_input_never_panics(
            v in arb_value(),
            idx in any::<proptest::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut bytes = encode(&v);
            let i = idx.index(bytes.len());
            bytes[i] = byte;
            if let Ok(Some((v, n))) = decode_prefix(&bytes) {
                prop_assert!(n <= bytes.len());
                prop_assert_eq!(decode(&encode(&v)), Ok(v));
            }
            let _ = decode(&bytes);
        }
    }
}
