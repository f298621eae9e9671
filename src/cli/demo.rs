//! `demo --no-tui`: the embedded demo swarm's events ([`DemoEvent`], from [`demo::run()`]) as
//! lines on stdout: the swarm, each connection, hash failure and ban as it happens, a progress
//! line about every 0.5 s, the summary and the verification.

use crate::demo::{self, DemoEvent, DemoOptions, DemoPeer, SeederProfile};
use crate::engine::conn::Encryption;
use crate::engine::event::TorrentSnapshot;
use color_eyre::Result;
use color_eyre::eyre::{WrapErr, eyre};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Progress lines at most this often (the final one is always printed).
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// `demo --no-tui`: the embedded swarm on loopback and a download from it.
pub async fn demo(dir: Option<PathBuf>) -> Result<()> {
    run_demo_no_tui(DemoOptions {
        dir,
        ..Default::default()
    })
    .await
}

/// Run the demo swarm with `opts` and print what happens; Ctrl-C stops it cleanly.
pub async fn run_demo_no_tui(opts: DemoOptions) -> Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let print = async move {
        let mut printer = Printer {
            progress: Instant::now(),
        };
        while let Some(ev) = rx.recv().await {
            printer.print(ev);
        }
    };
    // the run drops its sender when it returns, which ends the printer
    let (result, ()) = tokio::join!(demo::run(opts, tx, interrupt), print);
    result.map_err(|e| eyre!("{e}")).wrap_err("demo swarm")
}

struct Printer {
    /// When the last progress line (or the leecher's line) was printed.
    progress: Instant,
}

impl Printer {
    fn print(&mut self, ev: DemoEvent) {
        match ev {
            DemoEvent::Swarm {
                files,
                length,
                pieces,
                piece_length,
                root,
                tracker,
                seeders,
            } => {
                println!(
                    "demo: {files} files, {:.1} MiB, {pieces} pieces of {} KiB in {}",
                    mib(length as f64),
                    piece_length / 1024,
                    root.display()
                );
                println!("demo: tracker {tracker}");
                for (profile, addr) in &seeders {
                    println!("demo: {} at {addr}", describe(profile));
                }
            }
            DemoEvent::Leecher { port, dir } => {
                self.progress = Instant::now();
                println!(
                    "demo: leecher at 127.0.0.1:{port} downloading into {}",
                    dir.display()
                );
            }
            DemoEvent::Connected(p) => println!("connected: {} ({})", p.addr, label(&p)),
            DemoEvent::HashFailed { index, from } => {
                let from: Vec<String> = from
                    .iter()
                    .map(|p| format!("{} ({})", p.addr, label(p)))
                    .collect();
                println!("hash failure: piece {index} from {}", from.join(", "));
            }
            DemoEvent::Banned { reason, peer } => {
                println!("{reason}: {} ({})", peer.addr, label(&peer));
            }
            DemoEvent::TrackerError(message) => println!("tracker: {message}"),
            DemoEvent::Progress { torrent, last } => {
                if last || self.progress.elapsed() >= PROGRESS_EVERY {
                    self.progress = Instant::now();
                    println!("{}", progress_line(&torrent));
                }
            }
            DemoEvent::Complete {
                length,
                elapsed,
                hash_failures,
                sources,
            } => {
                let secs = elapsed.as_secs_f64().max(0.001);
                println!(
                    "complete: {:.1} MiB in {secs:.1} s ({:.1} MiB/s), {hash_failures} hash failures",
                    mib(length as f64),
                    mib(length as f64) / secs,
                );
                for (p, bytes) in &sources {
                    println!(
                        "  {:.1} MiB from {} ({})",
                        mib(*bytes as f64),
                        p.addr,
                        label(p)
                    );
                }
            }
            DemoEvent::Verified { files } => {
                println!("verified: {files} files match the demo content byte for byte");
            }
        }
    }
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

/// `fast seeder` for a demo seeder, `peer` for anyone else.
fn label(p: &DemoPeer) -> String {
    p.seeder
        .as_ref()
        .map_or_else(|| "peer".to_string(), |l| format!("{l} seeder"))
}

/// e.g. `slow seeder, 256 KiB/s`
fn describe(p: &SeederProfile) -> String {
    let rate = match p.upload_limit {
        None => "unlimited".to_string(),
        Some(r) if r >= 1 << 20 => format!("{:.0} MiB/s", r as f64 / (1 << 20) as f64),
        Some(r) => format!("{:.0} KiB/s", r as f64 / 1024.0),
    };
    let rc4 = if p.encryption == Encryption::Required {
        ", RC4 only"
    } else {
        ""
    };
    match p.corrupt_piece_one_in {
        Some(n) => format!("{} seeder, {rate}{rc4}, corrupts ~1 piece in {n}", p.label),
        None => format!("{} seeder, {rate}{rc4}", p.label),
    }
}

fn progress_line(t: &TorrentSnapshot) -> String {
    let done = t.total_length - t.bytes_left.min(t.total_length);
    let pct = if t.total_length == 0 {
        100.0
    } else {
        done as f64 * 100.0 / t.total_length as f64
    };
    format!(
        "{pct:5.1}%  {}/{} pieces  {:6.1} MiB/s  {} peers  {} hash failures",
        t.pieces_verified,
        t.piece_count,
        mib(t.download_rate),
        t.peers.len(),
        t.hash_failures
    )
}
