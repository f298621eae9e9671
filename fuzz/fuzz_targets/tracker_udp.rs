//! BEP 15 UDP tracker answers: parsing never panics, over IPv4 and IPv6.
#![no_main]
use fast_peer::proto::tracker::{clamp_interval, parse_udp_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for v6 in [false, true] {
        if let Ok(r) = parse_udp_response(data, v6) {
            let _ = r.transaction_id();
            if let fast_peer::proto::tracker::UdpResponse::Announce {
                interval, peers, ..
            } = r
            {
                let _ = clamp_interval(i64::from(interval));
                assert!(peers.len() <= data.len() / 6);
            }
        }
    }
});
