//! BEP 11 ut_pex: decoding never panics; a decoded message re-encodes to one that decodes to
//! the same peers.
#![no_main]
use fast_peer::proto::extension::PexMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = PexMessage::decode(data) {
        assert_eq!(m.added.len(), m.added_flags.len());
        let again = PexMessage::decode(&m.encode()).expect("our encoding decodes");
        assert_eq!(again.added.len(), m.added.len());
        assert_eq!(again.dropped.len(), m.dropped.len());
    }
});
