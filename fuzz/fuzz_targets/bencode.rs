//! Bencode: decoding never panics, what decodes re-encodes (canonically) to bytes that decode
//! to the same value, and a canonical input round-trips byte for byte. The info span, when
//! found, lies inside.
#![no_main]
use fast_peer::proto::bencode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((v, n))) = bencode::decode_prefix(data) {
        assert!(n <= data.len());
        let canonical = bencode::encode(&v);
        assert_eq!(
            bencode::decode(&canonical),
            Ok(v.clone()),
            "re-encoding must decode to the same value"
        );
        if !bencode::has_non_canonical_form(&data[..n]) && canonical.len() == n {
            assert_eq!(canonical, &data[..n], "a canonical input must round-trip");
        }
        let _ = bencode::to_json(&v);
    }
    if let Ok(Some(span)) = bencode::info_span(data) {
        assert!(span.start <= span.end && span.end <= data.len());
    }
});
