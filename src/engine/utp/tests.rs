//! Two endpoints on loopback: streams both ways, the end of a stream, refusals, a SYN flood.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn endpoint() -> (Utp, mpsc::Receiver<UtpStream>) {
    Utp::bind("127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9) >> 7 ^ seed) as u8)
        .collect()
}

#[tokio::test]
async fn a_stream_carries_bytes_both_ways_and_ends_with_the_fin() {
    let (a, _) = endpoint().await;
    let (b, mut incoming) = endpoint().await;
    let to_b = pattern(16 << 20, 1);
    let to_a = pattern(1 << 20, 2);
    let dial = a.connect(b.local_addr().unwrap());
    let (sa, sb) = tokio::join!(dial, incoming.recv());
    let (sa, mut sb) = (sa.unwrap(), sb.unwrap());
    assert_eq!(sb.peer_addr(), a.local_addr().unwrap());
    let (ta, tb) = (to_b.clone(), to_a.clone());
    let writer_a = tokio::spawn(async move {
        let (mut r, mut w) = sa.split();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.map(|_| got)
        });
        w.write_all(&ta).await.unwrap();
        w.shutdown().await.unwrap();
        drop(w);
        reader.await.unwrap()
    });
    let (mut r, mut w) = sb.split();
    let reader_b = tokio::spawn(async move {
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.map(|_| got)
    });
    w.write_all(&tb).await.unwrap();
    w.shutdown().await.unwrap();
    drop(w);
    let got_b = reader_b.await.unwrap().unwrap();
    let got_a = writer_a.await.unwrap().unwrap();
    assert!(
        got_b == to_b,
        "a to b: {} of {} bytes",
        got_b.len(),
        to_b.len()
    );
    assert!(got_a == to_a, "b to a");
    sb = UtpStream::new(b.shared.clone(), (a.local_addr().unwrap(), 0));
    assert!(sb.read(&mut [0u8; 4]).await.is_err(), "no such connection");
}

#[tokio::test]
async fn nobody_listening_is_refused_and_a_syn_flood_is_capped() {
    let (a, _) = endpoint().await;
    // a UDP port that never answers
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let err = a.connect(silent.local_addr().unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);

    let (b, _incoming) = endpoint().await; // accepted streams are never taken
    let flood = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for id in 0..1000u16 {
        let mut syn = Header::new(Type::Syn, id.wrapping_mul(2));
        syn.seq_nr = 1;
        let mut out = Vec::new();
        syn.encode(&mut out);
        flood.send_to(&out, b.local_addr().unwrap()).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = b.shared.table().conns.len();
    assert!(held <= MAX_HALF_OPEN, "{held} connections from a flood");
    assert!(held > 0, "the first SYNs were accepted");
}

#[tokio::test]
async fn an_endpoint_on_every_address_answers_from_the_address_dialled() {
    // bound to 0.0.0.0, dialled at 127.0.0.5: the replies must come from 127.0.0.5, or the
    // dialler (which matches replies by address) never sees its SYN answered
    let (a, _) = endpoint().await;
    let (b, mut incoming) = Utp::bind("0.0.0.0:0".parse().unwrap()).await.unwrap();
    let port = b.local_addr().unwrap().port();
    let dial = a.connect(SocketAddr::from(([127, 0, 0, 5], port)));
    let (sa, sb) = tokio::join!(dial, incoming.recv());
    let (mut sa, mut sb) = (sa.unwrap(), sb.unwrap());
    sa.write_all(b"ping").await.unwrap();
    let mut got = [0u8; 4];
    sb.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    sb.write_all(b"pong").await.unwrap();
    sa.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"pong");
}
