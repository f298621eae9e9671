//! Micro-benchmarks of the per-block hot paths (issue 8): peer-wire decode/encode, piece picking
//! on a 16 384-piece torrent shared by 50 peers, and SHA-1 of whole pieces.
//!
//! `cargo bench --bench hot_paths`. The SHA-1 group prints whether the CPU offers SHA-NI; to see
//! what it is worth, run again with `RUSTFLAGS='--cfg sha1_backend="soft"'` (the portable code).
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fast_peer::engine::picker::{BlockOutcome, Picker};
use fast_peer::proto::bitfield::Bitfield;
use fast_peer::proto::message::{BLOCK_SIZE, Message};
use sha1::{Digest, Sha1};
use std::hint::black_box;

fn wire(c: &mut Criterion) {
    let mut g = c.benchmark_group("wire");
    let piece = Message::Piece {
        index: 7,
        begin: 16384,
        block: Bytes::from(vec![0xab; BLOCK_SIZE as usize]),
    };
    let piece_bytes = piece.to_bytes();
    g.throughput(Throughput::Bytes(piece_bytes.len() as u64));
    g.bench_function("decode_piece_16k", |b| {
        b.iter(|| Message::decode(black_box(&piece_bytes), 1 << 20))
    });
    g.bench_function("encode_piece_16k", |b| {
        let mut out = Vec::with_capacity(piece_bytes.len());
        b.iter(|| {
            out.clear();
            black_box(&piece).encode(&mut out);
            out.len()
        })
    });
    // a stream of small control messages, as a busy peer sends them
    let mut stream = Vec::new();
    for i in 0..1000u32 {
        match i % 4 {
            0 => Message::Have { index: i }.encode(&mut stream),
            1 => Message::Request(fast_peer::proto::message::BlockRef {
                index: i,
                begin: 0,
                length: BLOCK_SIZE,
            })
            .encode(&mut stream),
            2 => Message::Unchoke.encode(&mut stream),
            _ => Message::KeepAlive.encode(&mut stream),
        }
    }
    g.throughput(Throughput::Elements(1000));
    g.bench_function("decode_1000_control", |b| {
        b.iter(|| {
            let mut buf = black_box(&stream[..]);
            let mut n = 0;
            while let Ok(Some((_, used))) = Message::decode(buf, 1 << 20) {
                buf = &buf[used..];
                n += 1;
            }
            n
        })
    });
    g.finish();
}

/// A whole download through the picker: 16 384 pieces of 16 KiB, 50 peers that each have a
/// random 80% of the pieces, each asking for 64 blocks at a time until everything is verified.
fn picker(c: &mut Criterion) {
    const PIECES: u32 = 16_384;
    const PEERS: u64 = 50;
    let mut haves = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..PEERS {
        let mut bf = Bitfield::new(PIECES);
        for i in 0..PIECES {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if !x.is_multiple_of(5) {
                bf.set(i);
            }
        }
        haves.push(bf);
    }
    let mut g = c.benchmark_group("picker");
    g.sample_size(10);
    g.throughput(Throughput::Elements(PIECES as u64));
    g.bench_function(BenchmarkId::new("download", "16384x16KiB_50peers"), |b| {
        b.iter(|| {
            let mut p = Picker::new(BLOCK_SIZE, PIECES as u64 * BLOCK_SIZE as u64, None, 42);
            for h in &haves {
                p.peer_bitfield(h);
            }
            let mut out = Vec::new();
            let mut idle_rounds = 0;
            while !p.is_complete() && idle_rounds < 3 {
                let mut progressed = false;
                for (k, h) in haves.iter().enumerate() {
                    out.clear();
                    p.pick(k as u64, h, 64, &mut out);
                    for r in &out {
                        if let BlockOutcome::New {
                            piece_complete: true,
                            ..
                        } = p.block_received(k as u64, r)
                        {
                            p.mark_verified(r.index);
                        }
                        progressed = true;
                    }
                }
                idle_rounds = if progressed { 0 } else { idle_rounds + 1 };
            }
            assert!(p.is_complete(), "the simulated swarm holds every piece");
            p.wanted_left()
        })
    });
    g.finish();
}

fn sha1_pieces(c: &mut Criterion) {
    eprintln!(
        "sha1: CPU {} SHA-NI (sha1 picks it at run time unless built with --cfg sha1_backend=\"soft\")",
        if std::arch::is_x86_feature_detected!("sha") {
            "has"
        } else {
            "lacks"
        }
    );
    let mut g = c.benchmark_group("sha1");
    for size in [16 * 1024usize, 1024 * 1024] {
        let data = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("piece", size), &data, |b, d| {
            b.iter(|| Sha1::digest(black_box(d)))
        });
    }
    g.finish();
}

criterion_group!(benches, wire, picker, sha1_pieces);
criterion_main!(benches);
