//! Peer wire messages as a TCP stream would deliver them: the input is cut into reads at points
//! chosen by its first bytes, decoded with a growing buffer the way a connection does, and the
//! result must equal decoding the whole stream at once. Decoded messages re-encode exactly.
#![no_main]
use fast_peer::proto::message::Message;
use libfuzzer_sys::fuzz_target;

const MAX: u32 = 256 * 1024;

/// Decode until incomplete or error: the messages and how the stream ended.
fn decode_all(buf: &[u8]) -> (Vec<Message>, usize, bool) {
    let mut at = 0;
    let mut out = Vec::new();
    loop {
        match Message::decode(&buf[at..], MAX) {
            Ok(Some((m, n))) => {
                assert!(n > 0 && at + n <= buf.len());
                assert_eq!(m.to_bytes(), &buf[at..at + n], "re-encode of {m:?}");
                out.push(m);
                at += n;
            }
            Ok(None) => return (out, at, false),
            Err(_) => return (out, at, true),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (cuts, stream) = data.split_at(data.len().min(8));
    let whole = decode_all(stream);
    // same stream, read in pieces
    let mut buf: Vec<u8> = Vec::new();
    let mut got = Vec::new();
    let mut consumed = 0usize;
    let mut failed = false;
    let mut pos = 0usize;
    let mut i = 0usize;
    while pos < stream.len() && !failed {
        let step = cuts.get(i).map_or(stream.len(), |c| *c as usize + 1);
        i += 1;
        let end = (pos + step).min(stream.len());
        buf.extend_from_slice(&stream[pos..end]);
        pos = end;
        loop {
            match Message::decode(&buf, MAX) {
                Ok(Some((m, n))) => {
                    got.push(m);
                    buf.drain(..n);
                    consumed += n;
                }
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
    }
    assert_eq!(got, whole.0);
    assert_eq!(consumed, whole.1);
    assert_eq!(failed, whole.2);
});
