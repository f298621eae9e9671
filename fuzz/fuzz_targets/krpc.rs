//! BEP 5 KRPC datagrams: decoding never panics; a decoded message re-encodes to bytes that
//! decode to the same message (unknown keys such as `v` or `ip` are dropped on the way).
#![no_main]
use fast_peer::proto::krpc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = krpc::transaction_id(data);
    if let Ok(m) = krpc::decode(data) {
        let again = krpc::decode(&m.encode()).expect("our encoding decodes");
        assert_eq!(again, m);
    }
    let _ = krpc::decode_nodes(data);
    let _ = krpc::decode_peer(data);
});
