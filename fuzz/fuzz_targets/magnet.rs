//! Magnet links: parsing never panics, and an accepted link survives `to_uri` and back.
#![no_main]
use fast_peer::proto::magnet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match magnet::parse(s) {
        Ok(m) => {
            let again = magnet::parse(&m.to_uri()).expect("our own URI parses");
            assert_eq!(again, m);
        }
        Err(e) => {
            if let Some(span) = e.span() {
                assert!(
                    span.start <= span.end && span.end <= s.len(),
                    "error span {span:?} outside input"
                );
            }
            let _ = e.to_string();
        }
    }
});
