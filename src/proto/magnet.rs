//! Magnet URIs (BEP 9, "Magnet URI format"): `magnet:?xt=urn:btih:<info-hash>&dn=<name>&tr=<url>...`
//!
//! # Role
//!
//! A string in, a [`Magnet`] out, and back with [`Magnet::to_uri`]. Pure: nothing is resolved,
//! no tracker or peer is contacted.
//!
//! # What is understood
//!
//! | key               | field                   | notes                                                |
//! |-------------------|-------------------------|------------------------------------------------------|
//! | `xt`, `xt.N`      | [`Magnet::info_hash`]   | `urn:btih:` + 40 hex (any case) or 32 base32 (RFC 4648, any case) |
//! | `dn`              | [`Magnet::name`]        | first one wins; `+` means space; empty = none        |
//! | `tr`, `tr.N`      | [`Magnet::trackers`]    | in order of appearance, duplicates dropped           |
//! | `x.pe`            | [`Magnet::peers`]       | `IP:PORT` or `[v6]:PORT`; anything else is skipped   |
//! | `ws`              | [`Magnet::web_seeds`]   | BEP 19 web seeds, in order, duplicates dropped       |
//! | `xl`              | [`Magnet::exact_length`]| first valid one wins; not a `u64` = skipped          |
//!
//! Keys are matched case-insensitively; other keys (`as`, `xs`, `kt`, `so`, ...) are ignored.
//! Every value of a key we understand is percent-decoded, and a malformed escape (`%zz`, a `%` at
//! the end) is an error for every understood key, even `x.pe` whose *unparsable* addresses are
//! otherwise skipped silently (hostnames are not socket addresses and are skipped).
//!
//! # Strictness of `xt`
//!
//! - several `urn:btih:` values must all name the same hash (hex and base32 of one hash agree);
//! - `urn:btmh:` (BEP 52, v2) alone is [`MagnetError::Unsupported`]; a hybrid magnet carrying both
//!   `btih` and `btmh` is accepted through its `btih`;
//! - other URNs (`urn:sha1:`, `urn:ed2k:` ...) are ignored, so a magnet with only those is
//!   [`MagnetError::MissingXt`].
//!
//! # Error positions
//!
//! Errors about a value carry its byte `offset` in the URI and the raw text as written
//! (before percent-decoding); [`MagnetError::span`] gives the byte range to highlight.
//!
//! # Round trip
//!
//! [`Magnet::to_uri`] writes `xt` (lowercase hex), `dn`, `tr`..., `ws`..., `x.pe`..., `xl` in
//! that order, percent-encoding everything but RFC 3986 unreserved characters (plus `:[]` inside
//! `x.pe`). `parse(m.to_uri()) == m` for every `Magnet`, and the fixture magnet comes back byte
//! for byte.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::str::FromStr;

use crate::proto::id::InfoHash;

/// A parsed magnet link (BEP 9).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Magnet {
    /// `xt=urn:btih:...`: the v1 info hash.
    pub info_hash: InfoHash,
    /// `dn`: display name, a suggestion only (never trusted as a path).
    pub name: Option<String>,
    /// `tr`, `tr.N`: tracker URLs in order, deduplicated.
    pub trackers: Vec<String>,
    /// `x.pe`: peer addresses to try directly.
    pub peers: Vec<SocketAddr>,
    /// `ws`: web seed URLs (BEP 19), deduplicated.
    pub web_seeds: Vec<String>,
    /// `xl`: exact length of the content in bytes.
    pub exact_length: Option<u64>,
}

/// Why a string is not a usable magnet link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagnetError {
    /// The string does not start with `magnet:` (case-insensitive).
    #[error("not a magnet URI: expected \"magnet:?\", found {found:?}")]
    NotMagnet { found: String },
    /// No `xt=urn:btih:` (nor `urn:btmh:`) parameter.
    #[error("magnet URI has no info hash (xt=urn:btih:...)")]
    MissingXt,
    /// The hash after `urn:btih:` is neither 40 (hex) nor 32 (base32) characters.
    #[error(
        "xt at offset {offset}: info hash has {len} characters, expected 40 (hex) or 32 (base32): {value:?}"
    )]
    HashLength {
        offset: usize,
        value: String,
        len: usize,
    },
    /// A character outside the hex / base32 alphabet.
    #[error(
        "xt at offset {offset}: invalid {alphabet} character {ch:?} at position {index} of the info hash: {value:?}"
    )]
    BadHashChar {
        offset: usize,
        value: String,
        ch: char,
        /// Position of `ch` among the hash's characters (0-based).
        index: usize,
        /// `"hex"` or `"base32"`.
        alphabet: &'static str,
    },
    /// A `%` not followed by two hex digits.
    #[error("{key} at offset {offset}: bad percent escape {escape:?}")]
    BadPercent {
        key: String,
        /// Offset of the `%`.
        offset: usize,
        /// The `%` and up to two following characters.
        escape: String,
    },
    /// Two `urn:btih:` values naming different hashes.
    #[error(
        "xt at offset {offset}: info hash {second} differs from the earlier {first}: {value:?}"
    )]
    ConflictingXt {
        offset: usize,
        value: String,
        first: InfoHash,
        second: InfoHash,
    },
    /// Understood but not implemented (BEP 52 `urn:btmh:` only magnets).
    #[error("{0}")]
    Unsupported(&'static str),
}

/// The message for a v2-only magnet.
pub const BTMH_UNSUPPORTED: &str = "BitTorrent v2 (urn:btmh) magnet links are not supported yet";

impl MagnetError {
    /// Byte range of the URI to highlight, when the error is about one value.
    pub fn span(&self) -> Option<Range<usize>> {
        match self {
            MagnetError::HashLength { offset, value, .. }
            | MagnetError::BadHashChar { offset, value, .. }
            | MagnetError::ConflictingXt { offset, value, .. } => {
                Some(*offset..offset + value.len())
            }
            MagnetError::BadPercent { offset, escape, .. } => Some(*offset..offset + escape.len()),
            MagnetError::NotMagnet { .. }
            | MagnetError::MissingXt
            | MagnetError::Unsupported(_) => None,
        }
    }
}

/// Parse a magnet URI (see the module doc for what is accepted).
pub fn parse(s: &str) -> Result<Magnet, MagnetError> {
    const SCHEME: &[u8] = b"magnet:";
    let b = s.as_bytes();
    if b.len() < SCHEME.len() || !b[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return Err(MagnetError::NotMagnet {
            found: s.chars().take(24).collect(),
        });
    }
    // Both `magnet:?xt=` (standard) and `magnet:xt=` are seen in the wild.
    let mut start = SCHEME.len();
    if b.get(start) == Some(&b'?') {
        start += 1;
    }

    let mut btih: Option<InfoHash> = None;
    let mut btmh = false;
    let mut name: Option<String> = None;
    let mut trackers: Vec<String> = Vec::new();
    let mut peers: Vec<SocketAddr> = Vec::new();
    let mut web_seeds: Vec<String> = Vec::new();
    let mut exact_length: Option<u64> = None;

    let mut off = start;
    for param in s[start..].split('&') {
        let param_off = off;
        off += param.len() + 1;
        let Some(eq) = param.find('=') else { continue };
        let key = &param[..eq];
        let raw = &param[eq + 1..];
        let value_off = param_off + eq + 1;
        let key_lc = key.to_ascii_lowercase();
        let kind = match key_lc.as_str() {
            "xt" => Key::Xt,
            k if k.starts_with("xt.") => Key::Xt,
            "dn" => Key::Dn,
            "tr" => Key::Tr,
            k if k.starts_with("tr.") => Key::Tr,
            "x.pe" => Key::Pe,
            "ws" => Key::Ws,
            "xl" => Key::Xl,
            _ => continue,
        };
        let decoded = percent_decode(raw, value_off, kind == Key::Dn).map_err(|(at, escape)| {
            MagnetError::BadPercent {
                key: key.to_owned(),
                offset: at,
                escape,
            }
        })?;
        let text = String::from_utf8_lossy(&decoded);
        match kind {
            Key::Xt => {
                let Some(hash) = strip_prefix_ci(&text, "urn:btih:") else {
                    if strip_prefix_ci(&text, "urn:btmh:").is_some() {
                        btmh = true;
                    }
                    continue;
                };
                let parsed = parse_hash(hash).map_err(|e| match e {
                    HashError::Length(len) => MagnetError::HashLength {
                        offset: value_off,
                        value: raw.to_owned(),
                        len,
                    },
                    HashError::Char {
                        ch,
                        index,
                        alphabet,
                    } => MagnetError::BadHashChar {
                        offset: value_off,
                        value: raw.to_owned(),
                        ch,
                        index,
                        alphabet,
                    },
                })?;
                let parsed = InfoHash(parsed);
                match btih {
                    None => btih = Some(parsed),
                    Some(first) if first == parsed => {}
                    Some(first) => {
                        return Err(MagnetError::ConflictingXt {
                            offset: value_off,
                            value: raw.to_owned(),
                            first,
                            second: parsed,
                        });
                    }
                }
            }
            Key::Dn => {
                if name.is_none() && !text.is_empty() {
                    name = Some(text.into_owned());
                }
            }
            Key::Tr => push_unique(&mut trackers, text.into_owned()),
            Key::Ws => push_unique(&mut web_seeds, text.into_owned()),
            Key::Pe => {
                if let Ok(addr) = text.parse::<SocketAddr>()
                    && !peers.contains(&addr)
                {
                    peers.push(addr);
                }
            }
            Key::Xl => {
                if exact_length.is_none() {
                    exact_length = text.parse::<u64>().ok();
                }
            }
        }
    }

    let info_hash = match (btih, btmh) {
        (Some(h), _) => h,
        (None, true) => return Err(MagnetError::Unsupported(BTMH_UNSUPPORTED)),
        (None, false) => return Err(MagnetError::MissingXt),
    };
    Ok(Magnet {
        info_hash,
        name,
        trackers,
        peers,
        web_seeds,
        exact_length,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Xt,
    Dn,
    Tr,
    Pe,
    Ws,
    Xl,
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !s.is_empty() && !v.contains(&s) {
        v.push(s);
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.as_bytes().get(..prefix.len())?;
    // An ASCII prefix matched byte for byte ends on a char boundary.
    head.eq_ignore_ascii_case(prefix.as_bytes())
        .then(|| &s[prefix.len()..])
}

/// Percent-decode `raw` (whose first byte is at `base` in the URI). Errors carry the offset of
/// the bad `%` and the escape text.
fn percent_decode(raw: &str, base: usize, plus_is_space: bool) -> Result<Vec<u8>, (usize, String)> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = b.get(i + 1).and_then(|c| (*c as char).to_digit(16));
                let lo = b.get(i + 2).and_then(|c| (*c as char).to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 3;
                    }
                    _ => {
                        let escape: String = raw[i..].chars().take(3).collect();
                        return Err((base + i, escape));
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

enum HashError {
    Length(usize),
    Char {
        ch: char,
        index: usize,
        alphabet: &'static str,
    },
}

/// 40 hex or 32 base32 characters -> 20 bytes.
fn parse_hash(h: &str) -> Result<[u8; 20], HashError> {
    let n = h.chars().count();
    let mut out = [0u8; 20];
    match n {
        40 => {
            for (index, ch) in h.chars().enumerate() {
                let d = ch.to_digit(16).ok_or(HashError::Char {
                    ch,
                    index,
                    alphabet: "hex",
                })? as u8;
                out[index / 2] |= if index % 2 == 0 { d << 4 } else { d };
            }
        }
        32 => {
            // RFC 4648 base32: 32 chars x 5 bits = 160 bits exactly, no padding.
            let mut acc: u32 = 0;
            let mut bits = 0u32;
            let mut at = 0usize;
            for (index, ch) in h.chars().enumerate() {
                let v = match ch {
                    'A'..='Z' => ch as u32 - 'A' as u32,
                    'a'..='z' => ch as u32 - 'a' as u32,
                    '2'..='7' => ch as u32 - '2' as u32 + 26,
                    _ => {
                        return Err(HashError::Char {
                            ch,
                            index,
                            alphabet: "base32",
                        });
                    }
                };
                acc = (acc << 5) | v;
                bits += 5;
                if bits >= 8 {
                    bits -= 8;
                    out[at] = (acc >> bits) as u8;
                    at += 1;
                    acc &= (1 << bits) - 1;
                }
            }
        }
        _ => return Err(HashError::Length(n)),
    }
    Ok(out)
}

/// Append `s` percent-encoded: RFC 3986 unreserved characters and `keep` stay as they are.
fn percent_encode(s: &str, keep: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) || keep.contains(&c) {
            out.push(c as char);
        } else {
            out.push('%');
            out.push(HEX[(c >> 4) as usize] as char);
            out.push(HEX[(c & 15) as usize] as char);
        }
    }
}

impl Magnet {
    /// A magnet with only an info hash.
    pub fn new(info_hash: InfoHash) -> Magnet {
        Magnet {
            info_hash,
            name: None,
            trackers: Vec::new(),
            peers: Vec::new(),
            web_seeds: Vec::new(),
            exact_length: None,
        }
    }

    /// The canonical URI form (see the module doc); `parse(m.to_uri()) == m`.
    pub fn to_uri(&self) -> String {
        let mut s = String::from("magnet:?xt=urn:btih:");
        s.push_str(&self.info_hash.to_string());
        if let Some(name) = self.name.as_deref().filter(|n| !n.is_empty()) {
            s.push_str("&dn=");
            percent_encode(name, b"", &mut s);
        }
        for tr in self.trackers.iter().filter(|t| !t.is_empty()) {
            s.push_str("&tr=");
            percent_encode(tr, b"", &mut s);
        }
        for ws in self.web_seeds.iter().filter(|t| !t.is_empty()) {
            s.push_str("&ws=");
            percent_encode(ws, b"", &mut s);
        }
        for pe in &self.peers {
            s.push_str("&x.pe=");
            percent_encode(&pe.to_string(), b":[]", &mut s);
        }
        if let Some(xl) = self.exact_length {
            s.push_str("&xl=");
            s.push_str(&xl.to_string());
        }
        s
    }
}

impl FromStr for Magnet {
    type Err = MagnetError;
    fn from_str(s: &str) -> Result<Magnet, MagnetError> {
        parse(s)
    }
}

impl fmt::Display for Magnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIXTURE: &str = "magnet:?xt=urn:btih:ad42ce8109f54c99613ce38f9b4d87e70f24a165&dn=magnet1.gif&tr=http%3A%2F%2Fbittorrent-test-tracker.codecrafters.io%2Fannounce";
    const HASH_HEX: &str = "ad42ce8109f54c99613ce38f9b4d87e70f24a165";
    /// The same hash in RFC 4648 base32.
    const HASH_B32: &str = "VVBM5AIJ6VGJSYJ44OHZWTMH44HSJILF";

    fn fixture_hash() -> InfoHash {
        HASH_HEX.parse().unwrap()
    }

    #[test]
    fn fixture_magnet() {
        let m: Magnet = FIXTURE.parse().unwrap();
        assert_eq!(m.info_hash, fixture_hash());
        assert_eq!(m.name.as_deref(), Some("magnet1.gif"));
        assert_eq!(
            m.trackers,
            vec!["http://bittorrent-test-tracker.codecrafters.io/announce"]
        );
        assert!(m.peers.is_empty() && m.web_seeds.is_empty());
        assert_eq!(m.exact_length, None);
        // Byte-for-byte round trip of the real link.
        assert_eq!(m.to_uri(), FIXTURE);
        assert_eq!(m.to_string(), FIXTURE);
    }

    #[test]
    fn base32_any_case_and_uppercase_hex() {
        let b32 = FIXTURE.replace(HASH_HEX, HASH_B32);
        assert_eq!(parse(&b32).unwrap().info_hash, fixture_hash());
        let lower = FIXTURE.replace(HASH_HEX, &HASH_B32.to_lowercase());
        assert_eq!(parse(&lower).unwrap().info_hash, fixture_hash());
        let upper = FIXTURE.replace(HASH_HEX, &HASH_HEX.to_uppercase());
        assert_eq!(parse(&upper).unwrap(), parse(FIXTURE).unwrap());
        // Scheme and keys are case-insensitive, `?` optional.
        let shouty = format!("MAGNET:XT=URN:BTIH:{HASH_B32}");
        assert_eq!(parse(&shouty).unwrap().info_hash, fixture_hash());
    }

    #[test]
    fn all_fields() {
        let uri = format!(
            "magnet:?xt=urn:btih:{HASH_HEX}&dn=a+b%20c%2Bd&tr=udp%3A%2F%2Ft1%3A80&tr.1=http://t2/a\
             &tr.2=udp%3A%2F%2Ft1%3A80&x.pe=10.0.0.1:6881&x.pe=%5B%3A%3A1%5D%3A51413\
             &x.pe=example.com:80&x.pe=junk&ws=http%3A%2F%2Fws%2Ff&xl=12345&xl=7&foo=%zz&as=x"
        );
        let m = parse(&uri).unwrap();
        assert_eq!(m.name.as_deref(), Some("a b c+d"));
        assert_eq!(m.trackers, vec!["udp://t1:80", "http://t2/a"]);
        assert_eq!(
            m.peers,
            vec![
                "10.0.0.1:6881".parse::<SocketAddr>().unwrap(),
                "[::1]:51413".parse().unwrap()
            ]
        );
        assert_eq!(m.web_seeds, vec!["http://ws/f"]);
        assert_eq!(m.exact_length, Some(12345));
        assert_eq!(parse(&m.to_uri()).unwrap(), m);
        assert!(m.to_uri().contains("&x.pe=[::1]:51413"));
    }

    #[test]
    fn same_hash_twice_and_hybrid_are_fine() {
        let twice = format!("magnet:?xt=urn:btih:{HASH_HEX}&xt=urn:btih:{HASH_B32}");
        assert_eq!(parse(&twice).unwrap().info_hash, fixture_hash());
        let hybrid = format!(
            "magnet:?xt=urn:btmh:1220{}&xt=urn:btih:{HASH_HEX}",
            "ab".repeat(32)
        );
        assert_eq!(parse(&hybrid).unwrap().info_hash, fixture_hash());
        let encoded_xt = format!("magnet:?xt=urn%3Abtih%3A{HASH_HEX}");
        assert_eq!(parse(&encoded_xt).unwrap().info_hash, fixture_hash());
    }

    #[test]
    fn malformed() {
        assert_eq!(
            parse("http://example.com/x.torrent"),
            Err(MagnetError::NotMagnet {
                found: "http://example.com/x.tor".into()
            })
        );
        assert!(matches!(parse(""), Err(MagnetError::NotMagnet { .. })));
        assert!(matches!(
            parse("magnét:?"),
            Err(MagnetError::NotMagnet { .. })
        ));
        assert_eq!(parse("magnet:?dn=x"), Err(MagnetError::MissingXt));
        assert_eq!(
            parse("magnet:?xt=urn:sha1:abc"),
            Err(MagnetError::MissingXt)
        );
        assert_eq!(parse("magnet:"), Err(MagnetError::MissingXt));

        let e = parse("magnet:?dn=x&xt=urn:btih:abc").unwrap_err();
        assert_eq!(
            e,
            MagnetError::HashLength {
                offset: 16,
                value: "urn:btih:abc".into(),
                len: 3
            }
        );
        assert_eq!(
            e.to_string(),
            "xt at offset 16: info hash has 3 characters, expected 40 (hex) or 32 (base32): \"urn:btih:abc\""
        );
        assert_eq!(e.span(), Some(16..28));

        let bad_hex = FIXTURE.replace("ad42", "ad4g");
        let e = parse(&bad_hex).unwrap_err();
        assert!(
            matches!(
                e,
                MagnetError::BadHashChar {
                    offset: 11,
                    ch: 'g',
                    index: 3,
                    alphabet: "hex",
                    ..
                }
            ),
            "{e:?}"
        );
        let bad_b32 = format!("magnet:?xt=urn:btih:{}", HASH_B32.replace('V', "1"));
        assert!(matches!(
            parse(&bad_b32),
            Err(MagnetError::BadHashChar {
                ch: '1',
                index: 0,
                alphabet: "base32",
                ..
            })
        ));
        // Multi-byte characters are counted, never sliced through.
        let wide = format!("magnet:?xt=urn:btih:{}", "é".repeat(40));
        assert!(matches!(
            parse(&wide),
            Err(MagnetError::BadHashChar {
                ch: 'é',
                index: 0,
                ..
            })
        ));
        let wide = format!("magnet:?xt=urn:btih:{}", "é".repeat(20));
        assert!(matches!(
            parse(&wide),
            Err(MagnetError::HashLength { len: 20, .. })
        ));

        let e = parse(&format!("{FIXTURE}&dn=%4")).unwrap_err();
        let at = FIXTURE.len() + 4;
        assert_eq!(
            e,
            MagnetError::BadPercent {
                key: "dn".into(),
                offset: at,
                escape: "%4".into()
            }
        );
        assert_eq!(e.span(), Some(at..at + 2));
        let e = parse(&format!("{FIXTURE}&tr=http%zz")).unwrap_err();
        assert!(matches!(e, MagnetError::BadPercent { ref escape, .. } if escape == "%zz"));
        assert!(parse(&format!("{FIXTURE}&x.pe=%g")).is_err());

        let other = "0".repeat(40);
        let e = parse(&format!("{FIXTURE}&xt=urn:btih:{other}")).unwrap_err();
        assert_eq!(
            e,
            MagnetError::ConflictingXt {
                offset: FIXTURE.len() + 4,
                value: format!("urn:btih:{other}"),
                first: fixture_hash(),
                second: InfoHash([0; 20]),
            }
        );

        let v2 = format!("magnet:?xt=urn:btmh:1220{}&dn=x", "ab".repeat(32));
        assert_eq!(parse(&v2), Err(MagnetError::Unsupported(BTMH_UNSUPPORTED)));
        assert_eq!(
            parse(&v2).unwrap_err().to_string(),
            "BitTorrent v2 (urn:btmh) magnet links are not supported yet"
        );
    }

    fn arb_magnet() -> impl Strategy<Value = Magnet> {
        let addr = prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
            (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(ip, port)| SocketAddr::from((std::net::Ipv6Addr::from(ip), port))),
        ];
        (
            any::<[u8; 20]>(),
            proptest::option::of(".{1,20}"),
            proptest::collection::btree_set(".{1,20}", 0..4),
            proptest::collection::btree_set(addr, 0..4),
            proptest::collection::btree_set(".{1,20}", 0..3),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(|(h, name, tr, pe, ws, xl)| Magnet {
                info_hash: InfoHash(h),
                name,
                trackers: tr.into_iter().collect(),
                peers: pe.into_iter().collect(),
                web_seeds: ws.into_iter().collect(),
                exact_length: xl,
            })
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = parse(&s);
            let with_scheme = format!("magnet:?{s}");
            match parse(&with_scheme) {
                Ok(m) => prop_assert_eq!(parse(&m.to_uri()), Ok(m)),
                Err(e) => {
                    if let Some(r) = e.span() {
                        prop_assert!(r.end <= with_scheme.len());
                    }
                }
            }
        }

        #[test]
        fn magnet_alphabet_never_panics(
            parts in proptest::collection::vec(
                prop_oneof![Just("xt="), Just("urn:btih:"), Just("urn:btmh:"), Just("&"),
                            Just("%"), Just("%4"), Just("a"), Just("é"), Just("="), Just("tr="),
                            Just("x.pe="), Just(HASH_HEX), Just(HASH_B32), Just("+"),
                            Just("dn="), Just("xl=")],
                0..24)
        ) {
            let s = format!("magnet:?{}", parts.concat());
            match parse(&s) {
                Ok(m) => prop_assert_eq!(parse(&m.to_uri()), Ok(m)),
                Err(e) => if let Some(r) = e.span() {
                    prop_assert!(r.end <= s.len() && s.is_char_boundary(r.start));
                },
            }
        }

        #[test]
        fn round_trip(m in arb_magnet()) {
            let uri = m.to_uri();
            prop_assert_eq!(parse(&uri), Ok(m.clone()));
            prop_assert_eq!(uri.parse::<Magnet>()?.to_uri(), uri);
        }
    }
}
