//! BEP 10 extension handshake: decoding never panics; a decoded handshake re-encodes to a
//! payload that decodes to the same value.
#![no_main]
use fast_peer::proto::extension::ExtensionHandshake;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = ExtensionHandshake::decode(data) {
        let again = ExtensionHandshake::decode(&h.encode()).expect("our encoding decodes");
        assert_eq!(again, h);
        let _ = h.id_of("ut_metadata");
        let mut merged = ExtensionHandshake::default();
        merged.merge(h);
    }
});
