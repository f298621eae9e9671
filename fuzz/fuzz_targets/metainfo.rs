//! .torrent files: parsing never panics; an accepted torrent keeps its invariants (hash of the
//! raw span, pieces cover the length, every path component is safe, files tile the data).
#![no_main]
use fast_peer::proto::metainfo::{Info, Metainfo, info_hash_of, unsafe_component_reason};
use libfuzzer_sys::fuzz_target;

fn check(info: &Info) {
    assert!(info.piece_length > 0);
    let pl = u64::from(info.piece_length);
    assert_eq!(
        info.total_length.div_ceil(pl),
        info.piece_hashes.len() as u64
    );
    let mut offset = 0u64;
    for f in &info.files {
        assert_eq!(f.offset, offset);
        offset += f.length;
        assert!(!f.path.is_empty());
        for c in &f.path {
            assert!(
                unsafe_component_reason(c).is_none(),
                "unsafe component {c:?}"
            );
        }
    }
    assert_eq!(offset, info.total_length);
    assert!(unsafe_component_reason(&info.name).is_none());
    let n = info.piece_count();
    let mut covered = 0u64;
    for i in 0..n {
        let r = info.piece_range(i);
        assert_eq!(r.start, covered);
        assert_eq!(r.end - r.start, u64::from(info.piece_size(i)));
        covered = r.end;
    }
    assert_eq!(covered, info.total_length);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Metainfo::from_bytes(data) {
        assert_eq!(info_hash_of(&m.raw_info), m.info_hash);
        check(&m.info);
        let _ = m.trackers();
    }
    if let Ok(info) = Info::from_bytes(data) {
        check(&info);
    }
});
