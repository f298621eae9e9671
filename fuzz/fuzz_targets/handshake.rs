//! The 68-byte BEP 3 handshake: decoding never panics; a decoded handshake re-encodes to the
//! bytes it came from, and every strict prefix of it is "incomplete" or an early error.
#![no_main]
use fast_peer::proto::handshake::Handshake;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((hs, n))) = Handshake::decode(data) {
        assert_eq!(&hs.encode()[..], &data[..n]);
        let _ = hs.reserved.names();
        let _ = hs.peer_id.client();
        for cut in 0..n {
            assert!(!matches!(Handshake::decode(&data[..cut]), Ok(Some(_))));
        }
    }
});
