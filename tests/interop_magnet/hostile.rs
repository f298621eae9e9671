//! The scripted hostile metadata peers of `interop_magnet.rs` (BEP 9 over BEP 10): peers that
//! announce a wrong or huge `metadata_size` or serve wrong bytes, a relay to the good seeder
//! that holds its connections until the scenario says so, and the download that must get
//! through them.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use fast_peer::proto::extension::{ExtensionHandshake, MetadataMessage, metadata_piece_len};

use crate::common::*;

/// How a hostile peer lies.
#[derive(Clone, Copy, Debug)]
pub enum Hostility {
    /// Announces twice the real metadata_size and serves garbage.
    DoubleSize,
    /// Announces the real size, serves the real info dict with every byte flipped.
    WrongBytes,
    /// Announces 100 MiB and serves garbage if asked.
    Huge,
}

/// What the hostile peers and the relay to the good seeder saw, shared between them.
#[derive(Default)]
pub struct Scenario {
    /// Connections to a hostile peer whose BEP 3 handshake named our torrent.
    pub handshakes: AtomicUsize,
    /// BEP 10 handshakes the client sent to hostile peers.
    pub ext_handshakes: AtomicUsize,
    /// ut_metadata requests answered with bad data.
    pub served: AtomicUsize,
    /// The good seeder's BEP 10 handshake went through the relay to the client.
    pub good_ext_delivered: AtomicBool,
}

impl Scenario {
    pub fn report(&self) -> String {
        format!(
            "hostile peers: {} handshakes, {} extension handshakes from the client, {} metadata \
             pieces served; good seeder's extension handshake delivered: {}",
            self.handshakes.load(Ordering::Relaxed),
            self.ext_handshakes.load(Ordering::Relaxed),
            self.served.load(Ordering::Relaxed),
            self.good_ext_delivered.load(Ordering::Relaxed)
        )
    }
}

/// Longest a hostile peer or the relay holds something back to order the scenario; only a
/// fallback (it is never reached when the client behaves as expected).
const HOLD: Duration = Duration::from_secs(30);

/// A scripted peer: BEP 3 handshake with the extension bit, a BEP 10 handshake advertising
/// `ut_metadata` (on id 3) with a hostile `metadata_size`, hostile answers to metadata
/// requests, nothing else (no bitfield, never unchokes). After its first answer it holds
/// further answers until the good seeder's extension handshake has reached the client, so the
/// client knows the good peer before the bad metadata is complete and rejected.
struct FakePeer {
    addr: String,
    stop: Arc<AtomicBool>,
}

impl FakePeer {
    const UT_METADATA_ID: u8 = 3;

    fn start(
        ip: &str,
        info_hash: [u8; 20],
        info: Arc<Vec<u8>>,
        mode: Hostility,
        scenario: Arc<Scenario>,
    ) -> FakePeer {
        let listener = TcpListener::bind((ip, 0)).expect("bind fake peer");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = stop.clone();
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let (sc, stop, info) = (scenario.clone(), stop.clone(), info.clone());
                            thread::spawn(move || {
                                let _ = serve_hostile(s, info_hash, &info, mode, &sc, &stop);
                            });
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            });
        }
        FakePeer { addr, stop }
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    content_bytes(&format!("garbage-{seed}"), 0, &mut buf);
    buf
}

fn serve_hostile(
    mut s: TcpStream,
    info_hash: [u8; 20],
    info: &[u8],
    mode: Hostility,
    sc: &Scenario,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut hs = [0u8; 68];
    let deadline = Instant::now() + HOLD;
    let mut got = 0;
    while got < 68 {
        match s.read(&mut hs[got..]) {
            Ok(0) => return Ok(()),
            Ok(n) => got += n,
            Err(_) if Instant::now() < deadline && !stop.load(Ordering::Relaxed) => {}
            Err(e) => return Err(e),
        }
    }
    if &hs[..20] != b"\x13BitTorrent protocol" || hs[28..48] != info_hash {
        return Ok(());
    }
    s.write_all(&handshake_bytes(
        EXTENSION_PROTOCOL,
        &info_hash,
        b"-FK0001-hostile-peer",
    ))?;
    sc.handshakes.fetch_add(1, Ordering::Relaxed);
    let real = info.len() as u32;
    let claimed = match mode {
        Hostility::DoubleSize => 2 * real,
        Hostility::WrongBytes => real,
        Hostility::Huge => 100 * MIB as u32,
    };
    let ours = ExtensionHandshake {
        m: BTreeMap::from([("ut_metadata".to_string(), FakePeer::UT_METADATA_ID)]),
        v: Some(format!("hostile {mode:?}")),
        metadata_size: Some(claimed),
        ..ExtensionHandshake::default()
    };
    write_extended(&mut s, 0, &ours.encode())?;
    let mut their_ut_metadata = None;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        }
        while buf.len() >= 4 {
            let len = u32::from_be_bytes(buf[..4].try_into().expect("4")) as usize;
            if len > 1 << 20 {
                return Ok(());
            }
            if buf.len() < 4 + len {
                break;
            }
            let msg: Vec<u8> = buf.drain(..4 + len).skip(4).collect();
            if msg.len() < 2 || msg[0] != 20 {
                continue; // keep-alive, interested, have none, ...: ignored
            }
            if msg[1] == 0 {
                sc.ext_handshakes.fetch_add(1, Ordering::Relaxed);
                if let Ok(h) = ExtensionHandshake::decode(&msg[2..]) {
                    their_ut_metadata = h.id_of("ut_metadata");
                }
            } else if msg[1] == FakePeer::UT_METADATA_ID {
                let Ok(MetadataMessage::Request { piece }) = MetadataMessage::decode(&msg[2..])
                else {
                    continue;
                };
                let (Some(len), Some(reply_id)) =
                    (metadata_piece_len(claimed, piece), their_ut_metadata)
                else {
                    continue;
                };
                if sc.served.load(Ordering::Relaxed) > 0 {
                    let until = Instant::now() + HOLD;
                    while !sc.good_ext_delivered.load(Ordering::Relaxed)
                        && Instant::now() < until
                        && !stop.load(Ordering::Relaxed)
                    {
                        thread::sleep(Duration::from_millis(5));
                    }
                }
                let start = piece as usize * 16384;
                let data = match mode {
                    Hostility::WrongBytes => info[start..start + len as usize]
                        .iter()
                        .map(|b| b ^ 0x5a)
                        .collect(),
                    _ => garbage(u64::from(piece), len as usize),
                };
                let reply = MetadataMessage::Data {
                    piece,
                    total_size: claimed,
                    data: data.into(),
                };
                write_extended(&mut s, reply_id, &reply.encode())?;
                sc.served.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    Ok(())
}

/// A transparent TCP relay to the good seeder whose connections are held (accepted, nothing
/// forwarded) until `open()` is true (or `HOLD` passed). It records in the scenario when the
/// seeder's BEP 10 handshake has been passed on to the client.
struct GatedRelay {
    addr: String,
    stop: Arc<AtomicBool>,
}

impl GatedRelay {
    fn start(
        ip: &str,
        target: String,
        scenario: Arc<Scenario>,
        open: impl Fn(&Scenario) -> bool + Send + Sync + 'static,
    ) -> GatedRelay {
        let listener = TcpListener::bind((ip, 0)).expect("bind relay");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(open);
        {
            let stop = stop.clone();
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((client, _)) = listener.accept() else {
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let (open, stop, target, sc) =
                        (open.clone(), stop.clone(), target.clone(), scenario.clone());
                    thread::spawn(move || {
                        let until = Instant::now() + HOLD;
                        while !open(&sc) && Instant::now() < until {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            thread::sleep(Duration::from_millis(5));
                        }
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(&target) else {
                            return;
                        };
                        relay_both(client, server, &sc);
                    });
                }
            });
        }
        GatedRelay { addr, stop }
    }
}

impl Drop for GatedRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Pumps both ways until either side closes; watches the seeder's side for its BEP 10
/// handshake (after the 68-byte BEP 3 handshake, a message `20, 0, ...`).
fn relay_both(client: TcpStream, server: TcpStream, sc: &Scenario) {
    let (c2, s2) = (
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    let up = thread::spawn(move || {
        let (mut from, mut to) = (c2, s2);
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
    let (mut from, mut to) = (server, client);
    let mut seen: Vec<u8> = Vec::new();
    let mut watching = true;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&chunk[..n]).is_err() {
            break;
        }
        if watching {
            seen.extend_from_slice(&chunk[..n]);
            let mut at = 68;
            while seen.len() >= at + 4 {
                let len = u32::from_be_bytes(seen[at..at + 4].try_into().expect("4")) as usize;
                if seen.len() < at + 4 + len {
                    break;
                }
                if len >= 2 && seen[at + 4] == 20 && seen[at + 5] == 0 {
                    sc.good_ext_delivered.store(true, Ordering::Relaxed);
                    watching = false;
                    break;
                }
                at += 4 + len;
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// 16 KiB pieces over ~14 MiB: the info dict (~18 KB) spans two metadata pieces.
pub fn hostile_layout() -> Layout {
    vec![
        ("hostile/a.bin".into(), 9 * MIB + 5),
        ("hostile/b.bin".into(), 0),
        ("hostile/sub/c.bin".into(), 5 * MIB + 77),
    ]
}

/// `fakes` hostile peers listed first in `x.pe`, then the good libtorrent seeder behind a
/// relay that opens once `open` holds; the torrent has `layout` in 16 KiB pieces. The download
/// must complete and verify. Returns what the scenario saw and fast-peer's stderr.
pub fn hostile_metadata_download(
    mode: Hostility,
    fakes: u8,
    layout: Layout,
    open: impl Fn(&Scenario) -> bool + Send + Sync + 'static,
    extra: &[&str],
) -> (Arc<Scenario>, String) {
    let swarm = Swarm::start((layout, 16 * KIB), Tracker::None, &[GOOD]);
    let info = Arc::new(info_dict_bytes(&swarm.torrent));
    assert!(
        info.len() > 16384,
        "the info dict spans several metadata pieces"
    );
    let scenario = Arc::new(Scenario::default());
    let fakes: Vec<FakePeer> = (0..fakes)
        .map(|i| {
            let ip = swarm.net.ip(20 + i);
            FakePeer::start(
                &ip,
                swarm.meta.info_hash,
                info.clone(),
                mode,
                scenario.clone(),
            )
        })
        .collect();
    let relay = GatedRelay::start(
        &swarm.net.ip(30),
        swarm.seeders[0].addr(),
        scenario.clone(),
        open,
    );
    let mut peers: Vec<String> = fakes.iter().map(|f| f.addr.clone()).collect();
    peers.push(relay.addr.clone());
    let what = format!("fast-peer magnet_download with hostile peers ({mode:?})");
    let out = swarm.out_dir(&format!("{mode:?}"));
    let target = swarm.target_in(&out);
    let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    let mut run = Running::start(&mut magnet_download_cmd(
        &swarm.magnet(&peers),
        &target,
        &extra,
    ));
    let o = run.wait_for(TEST_TIMEOUT_SECS);
    eprintln!("{}", scenario.report());
    let o = o.unwrap_or_else(|| {
        let o = run.kill();
        panic!(
            "{what} did not finish in {TEST_TIMEOUT_SECS}s, killed; {}\n--- stdout ---\n{}\n\
             --- stderr ---\n{}",
            scenario.report(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    assert_success_or_log(&what, &o, || swarm.seeder_logs());
    assert_downloaded(&swarm.content.path, &out, &target);
    (scenario, String::from_utf8_lossy(&o.stderr).into_owned())
}
