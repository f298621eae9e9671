//! Message Stream Encryption handshakes: whatever bytes arrive, in whatever chunks, neither
//! the responder (incoming connections) nor the initiator panics or buffers without bound.
#![no_main]
use fast_peer::proto::mse::{CRYPTO_PLAINTEXT, CRYPTO_RC4, Initiator, Responder, req2_hash};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let skey = [0x42u8; 20];
    let lookup = |r: &[u8; 20]| (*r == req2_hash(&skey)).then_some(skey);
    let mut b = Responder::new(CRYPTO_PLAINTEXT | CRYPTO_RC4, &[1; 20], &[]);
    let (mut a, _) = Initiator::start(
        skey,
        CRYPTO_PLAINTEXT | CRYPTO_RC4,
        vec![0; 68],
        &[2; 20],
        &[],
    );
    let cut = (split as usize).min(data.len());
    for part in [&data[..cut], &data[cut..]] {
        let _ = b.receive(part, &lookup);
        let _ = a.receive(part);
    }
});
