//! BEP 3/23/7 HTTP tracker answers (the bencoded body): parsing never panics.
#![no_main]
use fast_peer::proto::tracker::parse_http_response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = parse_http_response(data) {
        let _ = format!("{r:?}");
    }
});
