//! Bencode: decoding never panics, and what decodes re-encodes to the same bytes (the decoder
//! is strict, so every accepted input is canonical). The info span, when found, lies inside.
#![no_main]
use fast_peer::proto::bencode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = bencode::decode(data) {
        assert_eq!(bencode::encode(&v), data, "strict decode must round-trip");
        let _ = bencode::to_json(&v);
    }
    if let Ok(Some((v, n))) = bencode::decode_prefix(data) {
        assert!(n <= data.len());
        assert_eq!(bencode::encode(&v), &data[..n]);
    }
    if let Ok(Some(span)) = bencode::info_span(data) {
        assert!(span.start <= span.end && span.end <= data.len());
    }
});
