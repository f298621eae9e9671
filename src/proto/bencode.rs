//! Bencode (BEP 3, "The connectivity is as follows" / "bencoding"): the one wire format shared by
//! `.torrent` files, tracker responses, the extension protocol (BEP 10, BEP 9) and the DHT (BEP 5).
//!
//! # Role
//!
//! Bytes in, [`Value`] out, and back. Sans-IO: no reads, no allocation beyond the value itself.
//!
//! # Strictness
//!
//! Decoding is *canonical-only*, delegated to `bendy`'s strict tokenizer
//! ([`bendy::decoding::Decoder`]), because the info hash is computed over bytes that came from a
//! stranger and two encodings of "the same" value must never be accepted:
//!
//! - dictionary keys must be byte strings, sorted by raw bytes, and unique;
//! - integers have no leading zeros, no `-0`, and must fit an `i64` (else
//!   [`BencodeError::IntegerOverflow`]);
//! - string lengths have no leading zeros; a length longer than the remaining input means "not
//!   here yet" (incomplete), so no allocation is ever sized by an untrusted length prefix;
//! - nesting is bounded by [`MAX_DEPTH`] (a list/dict nested 64 deep is fine, 65 is rejected), so
//!   a hostile peer cannot exhaust the stack of [`encode`], [`to_json`] or `Drop`.
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
//! [`info_span`] / [`decode_with_info_span`] report that byte range from the tokenizer's own
//! positions; nothing is ever re-encoded to compute a hash.
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
use std::error::Error as _;
use std::ops::Range;

use bendy::decoding::Decoder;
use bendy::state_tracker::Token;

use crate::proto::id::to_hex;

/// Deepest nesting of lists/dicts accepted by the decoder (a top-level dict counts as 1).
pub const MAX_DEPTH: usize = 64;

/// A decoded bencode value. Dict keys are raw bytes and kept sorted, which is exactly the
/// canonical order, so [`encode`] of a decoded value reproduces the input.
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

/// Why a buffer is not (exactly one) canonical bencode value. Offsets are byte positions in the
/// buffer handed to the decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BencodeError {
    /// The input ended inside a value (only [`decode`] and [`info_span`] report this;
    /// [`decode_prefix`] returns `Ok(None)` instead).
    #[error("unexpected end of input at offset {offset} (value incomplete)")]
    UnexpectedEof { offset: usize },
    /// A complete value was followed by more bytes.
    #[error("trailing data: value ends at offset {offset}, input has {len} bytes")]
    TrailingData { offset: usize, len: usize },
    /// A malformed integer, string length or unknown token byte.
    #[error("syntax error at offset {offset}: {detail}")]
    Syntax { offset: usize, detail: String },
    /// An integer that does not fit in an `i64`.
    #[error("integer at offset {offset} does not fit in i64: {digits}")]
    IntegerOverflow { offset: usize, digits: String },
    /// A dictionary key that is not greater than the key before it.
    #[error("dict key at offset {offset} is not sorted after the previous key {previous:?}")]
    UnsortedKeys { offset: usize, previous: String },
    /// A dictionary key equal to the key before it.
    #[error("duplicate dict key {key:?} at offset {offset}")]
    DuplicateKey { offset: usize, key: String },
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
    /// Any other structural error reported by the tokenizer.
    #[error("invalid bencode at offset {offset}: {detail}")]
    Invalid { offset: usize, detail: String },
}

/// Decode exactly one value: the whole buffer must be consumed.
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
/// `buf` must be exactly one valid value (as for [`decode`]). `Ok(None)` when the top level is
/// not a dict or has no `info` key. The info hash is SHA-1 of `buf[range]`.
pub fn info_span(buf: &[u8]) -> Result<Option<Range<usize>>, BencodeError> {
    decode_with_info_span(buf).map(|(_, span)| span)
}

/// [`decode`] and [`info_span`] in one pass, for `.torrent` parsing.
pub fn decode_with_info_span(buf: &[u8]) -> Result<(Value, Option<Range<usize>>), BencodeError> {
    match parse(buf)? {
        Parsed::Incomplete => Err(BencodeError::UnexpectedEof { offset: buf.len() }),
        Parsed::Done { end, .. } if end != buf.len() => Err(BencodeError::TrailingData {
            offset: end,
            len: buf.len(),
        }),
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
// Decoder core: an explicit stack over bendy's validated token stream (no recursion, so depth is
// bounded only by MAX_DEPTH and bendy enforces it).

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
    /// Entries so far, and the key whose value is being read (if any).
    Dict(BTreeMap<Vec<u8>, Value>, Option<Vec<u8>>),
}

/// Offset of `part` inside `buf`. bendy hands out sub-slices of the input, so this is exact.
fn offset_in(buf: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(buf.as_ptr() as usize)
}

fn lossy(b: &[u8]) -> String {
    const MAX: usize = 64;
    let s = String::from_utf8_lossy(&b[..b.len().min(MAX)]).into_owned();
    if b.len() > MAX { s + "..." } else { s }
}

fn parse(buf: &[u8]) -> Result<Parsed, BencodeError> {
    // bendy's own limit is set one above ours so it never fires first; ours has a clear message.
    let mut tokens = Decoder::new(buf).with_max_depth(MAX_DEPTH + 1).tokens();
    let mut stack: Vec<Frame> = Vec::new();
    // Position of the next token: bencode has no separators, so tokens are contiguous.
    let mut pos = 0usize;
    let mut info_start: Option<usize> = None;
    let mut info_span: Option<Range<usize>> = None;

    loop {
        let start = pos;
        let token = match tokens.next() {
            None => return Ok(Parsed::Incomplete), // empty input
            Some(Ok(t)) => t,
            Some(Err(e)) => return classify(buf, start, &stack, &e),
        };
        let done: Option<Value> = match token {
            Token::List | Token::Dict => {
                pos += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(BencodeError::TooDeep {
                        offset: start,
                        max: MAX_DEPTH,
                    });
                }
                if stack.len() == 1 && is_info_value(&stack) {
                    info_start = Some(start);
                }
                stack.push(if token == Token::List {
                    Frame::List(Vec::new())
                } else {
                    Frame::Dict(BTreeMap::new(), None)
                });
                None
            }
            Token::String(s) => {
                pos = offset_in(buf, s) + s.len();
                if let Some(Frame::Dict(_, key @ None)) = stack.last_mut() {
                    *key = Some(s.to_vec());
                    continue;
                }
                if stack.len() == 1 && is_info_value(&stack) {
                    info_start = Some(start);
                }
                Some(Value::Bytes(s.to_vec()))
            }
            Token::Num(n) => {
                let at = offset_in(buf, n.as_bytes());
                pos = at + n.len() + 1; // digits + 'e'
                if stack.len() == 1 && is_info_value(&stack) {
                    info_start = Some(start);
                }
                // bendy has validated the syntax, so a parse failure can only be overflow.
                match n.parse::<i64>() {
                    Ok(i) => Some(Value::Int(i)),
                    Err(_) => {
                        return Err(BencodeError::IntegerOverflow {
                            offset: at.saturating_sub(1),
                            digits: lossy(n.as_bytes()),
                        });
                    }
                }
            }
            Token::End => {
                pos += 1;
                match stack.pop() {
                    Some(Frame::List(items)) => Some(Value::List(items)),
                    Some(Frame::Dict(map, _)) => Some(Value::Dict(map)),
                    None => return Err(BencodeError::UnexpectedEnd { offset: start }),
                }
            }
        };
        let Some(value) = done else { continue };
        if stack.len() == 1
            && is_info_value(&stack)
            && let Some(s) = info_start.take()
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
            Some(Frame::Dict(map, key)) => match key.take() {
                Some(k) => {
                    map.insert(k, value);
                }
                // bendy rejects non-string keys before we get here; keep the stack honest anyway.
                None => return Err(BencodeError::KeyNotString { offset: start }),
            },
        }
    }
}

/// Whether the innermost frame is the top-level dict waiting for the value of key `info`.
fn is_info_value(stack: &[Frame]) -> bool {
    matches!(stack.last(), Some(Frame::Dict(_, Some(k))) if k == b"info")
}

/// Turn a bendy error into ours. bendy's structure-error type is not nameable from outside the
/// crate, so the kind is read from its `Debug` variant name; anything unrecognised still becomes
/// an error (never a silent success), and the prefix tests pin the `UnexpectedEof` mapping.
fn classify(
    buf: &[u8],
    offset: usize,
    stack: &[Frame],
    e: &bendy::decoding::Error,
) -> Result<Parsed, BencodeError> {
    let (kind, detail) = match e.source() {
        Some(src) => {
            let text = src.to_string();
            // Drop bendy's generic (misspelt) lead-in; the rest names the byte and offset.
            let detail = text
                .strip_prefix("Malformed number of unexpected character: ")
                .map_or(text.clone(), str::to_owned);
            (format!("{src:?}"), detail)
        }
        None => (String::new(), e.to_string()),
    };
    let err = if kind == "UnexpectedEof" {
        return Ok(Parsed::Incomplete);
    } else if kind == "UnsortedKeys" {
        let previous = match stack.last() {
            Some(Frame::Dict(map, _)) => map.keys().next_back().cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        if read_string_at(buf, offset) == Some(previous.as_slice()) {
            BencodeError::DuplicateKey {
                offset,
                key: lossy(&previous),
            }
        } else {
            BencodeError::UnsortedKeys {
                offset,
                previous: lossy(&previous),
            }
        }
    } else if kind == "NestingTooDeep" {
        BencodeError::TooDeep {
            offset,
            max: MAX_DEPTH,
        }
    } else if kind.starts_with("SyntaxError") {
        BencodeError::Syntax { offset, detail }
    } else if kind.starts_with("InvalidState") {
        match stack.last() {
            None => BencodeError::UnexpectedEnd { offset },
            Some(Frame::Dict(_, None)) => BencodeError::KeyNotString { offset },
            Some(Frame::Dict(_, Some(k))) => BencodeError::MissingValue {
                offset,
                key: lossy(k),
            },
            Some(Frame::List(_)) => BencodeError::Invalid { offset, detail },
        }
    } else {
        BencodeError::Invalid { offset, detail }
    };
    Err(err)
}

/// The byte string starting at `pos`, if there is a complete one (used only to word errors).
fn read_string_at(buf: &[u8], pos: usize) -> Option<&[u8]> {
    let rest = buf.get(pos..)?;
    let colon = rest.iter().position(|&b| b == b':')?;
    let len: usize = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
    let start = colon.checked_add(1)?;
    rest.get(start..start.checked_add(len)?)
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
    fn trailing_data_is_an_error_for_decode() {
        assert_eq!(
            decode(b"i1ei2e"),
            Err(BencodeError::TrailingData { offset: 3, len: 6 })
        );
        assert!(matches!(
            decode(b"dex"),
            Err(BencodeError::TrailingData { .. })
        ));
    }

    fn rejected(input: &[u8]) -> BencodeError {
        let e = decode(input).expect_err(&String::from_utf8_lossy(input));
        // decode_prefix must agree that this is invalid, not merely incomplete.
        assert_eq!(decode_prefix(input), Err(e.clone()));
        e
    }

    #[test]
    fn rejections() {
        assert!(matches!(
            rejected(b"d3:fooi1e3:bari1ee"),
            BencodeError::UnsortedKeys { offset: 9, .. }
        ));
        assert!(matches!(
            rejected(b"d3:fooi1e3:fooi2ee"),
            BencodeError::DuplicateKey { offset: 9, .. }
        ));
        assert!(matches!(rejected(b"i01e"), BencodeError::Syntax { .. }));
        assert!(matches!(rejected(b"i00e"), BencodeError::Syntax { .. }));
        assert!(matches!(rejected(b"i-0e"), BencodeError::Syntax { .. }));
        assert!(matches!(rejected(b"i-01e"), BencodeError::Syntax { .. }));
        assert!(matches!(rejected(b"ie"), BencodeError::Syntax { .. }));
        assert!(matches!(rejected(b"i-e"), BencodeError::Syntax { .. }));
        assert!(matches!(rejected(b"i+1e"), BencodeError::Syntax { .. }));
        assert!(matches!(rejected(b"i1.5e"), BencodeError::Syntax { .. }));
        assert!(matches!(rejected(b"05:hello"), BencodeError::Syntax { .. }));
        assert!(matches!(rejected(b"-1:a"), BencodeError::Syntax { .. }));
        assert!(matches!(
            rejected(b"i9223372036854775808e"),
            BencodeError::IntegerOverflow { offset: 0, .. }
        ));
        assert!(matches!(
            rejected(b"li-9223372036854775809ee"),
            BencodeError::IntegerOverflow { offset: 1, .. }
        ));
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
            BencodeError::Syntax { .. }
        ));
    }

    #[test]
    fn huge_length_prefix_is_incomplete_not_allocated() {
        assert_eq!(decode_prefix(b"18446744073709551615:abc"), Ok(None));
        assert_eq!(decode_prefix(b"4294967296:abc"), Ok(None));
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
        // The whole file must be valid.
        assert!(info_span(b"d4:infode").is_err());
        assert!(info_span(b"d4:infodeex").is_err());
        assert_eq!(info_span(b"d4:infodee").unwrap(), Some(7..9));
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
        let e = decode(b"d3:fooi1e3:bari1ee").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dict key at offset 9 is not sorted after the previous key \"foo\""
        );
        let e = decode(b"i9223372036854775808e").unwrap_err();
        assert_eq!(
            e.to_string(),
            "integer at offset 0 does not fit in i64: 9223372036854775808"
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
                // Accepted input is canonical: it re-encodes to exactly the bytes consumed.
                prop_assert_eq!(encode(&v), bytes[..n].to_vec());
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
                prop_assert_eq!(encode(&v), bytes[..n].to_vec());
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
                prop_assert_eq!(encode(&v), bytes[..n].to_vec());
            }
            let _ = decode(&bytes);
        }
    }
}
