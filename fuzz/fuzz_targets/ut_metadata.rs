//! BEP 9 ut_metadata: decoding never panics; decoded messages round-trip. The fuzzer's bytes
//! also drive a metadata assembler as a hostile peer's Data messages would.
#![no_main]
use fast_peer::proto::extension::{MetadataAssembler, MetadataMessage};
use fast_peer::proto::id::InfoHash;
use libfuzzer_sys::fuzz_target;
use std::time::Instant;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = MetadataMessage::decode(data) {
        assert_eq!(
            MetadataMessage::decode(&m.encode()).expect("our encoding decodes"),
            m
        );
        if let MetadataMessage::Data {
            piece,
            total_size,
            data,
        } = m
        {
            if let Ok(mut asm) = MetadataAssembler::new(InfoHash([0; 20]), total_size, 1 << 20) {
                let _ = asm.next_request(1, Instant::now());
                let _ = asm.on_data(1, piece, total_size, &data);
                let _ = asm.check();
            }
        }
    }
});
