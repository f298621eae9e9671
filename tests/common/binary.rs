//! The binary under test: its command lines (always with the DHT off unless a test asks for
//! it with a loopback bootstrap) and `fast-peer seed` as a running seeder.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::thread;
use std::time::{Duration, Instant};

use super::{
    Daemon, Net, TEST_TIMEOUT_SECS, TorrentMeta, free_port, read_lines_until, run_with_timeout,
    send_signal,
};

/// The binary with the DHT off (`--no-dht`): a test must never reach the public bootstrap
/// routers, which are the CLI's default. DHT tests use [`fast_peer_dht`] with a loopback
/// `--bootstrap`.
///
/// Debugging aids, both unset in normal runs: `FAST_PEER_BIN=/path/to/fast-peer` tests another
/// build; `FAST_PEER_TEST_VERBOSE=1` (or `2`, `3`) passes `-v` (`-vv`, `-vvv`) so the engine's
/// log lands in stderr, which a failing test prints.
pub fn fast_peer() -> Command {
    let mut cmd = fast_peer_dht();
    cmd.arg("--no-dht");
    cmd
}

/// The binary with the DHT left on: the caller must pass `--bootstrap` with loopback nodes
/// (and `--dht-state` in a temporary folder, or none is used with `--bootstrap`).
pub fn fast_peer_dht() -> Command {
    let mut cmd = Command::new(fast_peer_bin());
    if let Ok(v) = std::env::var("FAST_PEER_TEST_VERBOSE") {
        let n = v.parse::<usize>().unwrap_or(1).clamp(1, 3);
        cmd.arg(format!("-{}", "v".repeat(n)));
    }
    cmd
}

/// The path of the binary under test: `FAST_PEER_BIN`, or the one cargo built for this run.
pub fn fast_peer_bin() -> PathBuf {
    std::env::var_os("FAST_PEER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_fast-peer")))
}

/// Runs `fast-peer ARGS...` to completion (bounded by [`TEST_TIMEOUT_SECS`]).
pub fn run_fp(args: &[&str]) -> Output {
    run_with_timeout(fast_peer().args(args), TEST_TIMEOUT_SECS)
}

/// `--port N` with a free N, for commands that listen.
pub fn port_args() -> [String; 2] {
    ["--port".into(), free_port().to_string()]
}

/// `--peer ADDR` for each address.
pub fn peer_args(addrs: &[String]) -> Vec<String> {
    addrs
        .iter()
        .flat_map(|a| ["--peer".to_string(), a.clone()])
        .collect()
}

/// `fast-peer download -o TARGET TORRENT --port P [extra...]`, not started yet.
pub fn download_cmd(torrent: &Path, target: &Path, extra: &[String]) -> Command {
    let mut cmd = fast_peer();
    cmd.arg("download")
        .arg("-o")
        .arg(target)
        .arg(torrent)
        .args(port_args())
        .args(extra);
    cmd
}

/// `fast-peer magnet_download -o TARGET MAGNET --port P [extra...]`, not started yet.
pub fn magnet_download_cmd(magnet: &str, target: &Path, extra: &[String]) -> Command {
    let mut cmd = fast_peer();
    cmd.arg("magnet_download")
        .arg("-o")
        .arg(target)
        .arg(magnet)
        .args(port_args())
        .args(extra);
    cmd
}

/// How long a seeder may take to check its data and print `Seeding`.
pub const SEED_READY_SECS: u64 = 90;

/// The `fast-peer seed` command line on port `port`, not started yet.
pub fn seed_cmd(torrent: &Path, data: &Path, port: u16, extra: &[&str]) -> Command {
    let mut cmd = fast_peer();
    cmd.arg("seed")
        .arg(torrent)
        .arg("--data")
        .arg(data)
        .args(["--port", &port.to_string()])
        .args(extra);
    cmd
}

/// `fast-peer seed` running until it printed `Seeding` (it listens on every address). Killed
/// on drop.
pub struct FastSeed {
    daemon: Daemon,
    pub port: u16,
    pub info_hash: String,
    /// (verified, total) from the `Pieces:` line.
    pub pieces: (usize, usize),
    /// What it printed so far.
    pub stdout: Vec<String>,
}

impl FastSeed {
    /// Starts `fast-peer seed` on a free port and reads its stdout until `Seeding` (fails the
    /// test if it exits or takes longer than [`SEED_READY_SECS`]). Checks the lines before
    /// it: `Info Hash: <hex>`, `Port: <the port given>`, `Pieces: <verified>/<total>`.
    pub fn start(torrent: &Path, data: &Path, extra: &[&str]) -> FastSeed {
        FastSeed::start_via(torrent, data, extra, |c| c)
    }

    /// [`FastSeed::start`] with the command line passed through `wrap` (to run it inside a
    /// network namespace, say).
    pub fn start_via(
        torrent: &Path,
        data: &Path,
        extra: &[&str],
        wrap: impl FnOnce(Command) -> Command,
    ) -> FastSeed {
        let requested = free_port();
        let mut seed = FastSeed {
            daemon: Daemon::spawn(&mut wrap(seed_cmd(torrent, data, requested, extra)), false),
            port: 0,
            info_hash: String::new(),
            pieces: (0, 0),
            stdout: Vec::new(),
        };
        let mut lines = Vec::new();
        let read = read_lines_until(&seed.daemon.lines, SEED_READY_SECS, |line| {
            lines.push(line.to_string());
            line == "Seeding"
        });
        for line in &lines {
            if let Some(v) = line.strip_prefix("Info Hash: ") {
                seed.info_hash = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("Port: ") {
                seed.port = v.trim().parse().expect("Port: <n>");
            } else if let Some(v) = line.strip_prefix("Pieces: ") {
                let (a, b) = v.trim().split_once('/').expect("Pieces: <v>/<total>");
                seed.pieces = (a.parse().expect("verified"), b.parse().expect("total"));
            }
        }
        seed.stdout = lines;
        if let Err(why) = read {
            seed.fail(&format!("no `Seeding` ({why})"));
        }
        assert_eq!(
            seed.info_hash.len(),
            40,
            "no `Info Hash: <hex>` before `Seeding`: {:?}",
            seed.stdout
        );
        assert_eq!(
            seed.port, requested,
            "fast-peer seed --port {requested} printed {:?}",
            seed.stdout
        );
        assert_ne!(
            seed.pieces.1, 0,
            "no `Pieces: <v>/<total>` before `Seeding`: {:?}",
            seed.stdout
        );
        seed
    }

    pub fn fail(&mut self, why: &str) -> ! {
        self.daemon.kill();
        panic!("fast-peer seed: {why}\n{}", self.logs());
    }

    pub fn stderr(&self) -> String {
        self.daemon.log()
    }

    /// Its stdout and stderr so far, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- fast-peer seed stdout ---\n{}\n--- fast-peer seed stderr ---\n{}",
            self.stdout.join("\n"),
            self.stderr()
        )
    }

    pub fn pid(&self) -> u32 {
        self.daemon.child.id()
    }

    /// Still running (not exited, not killed).
    pub fn is_running(&mut self) -> bool {
        self.daemon.child.try_wait().expect("try_wait").is_none()
    }

    /// Asserts that the seeder checked all of `meta`'s data and announced its info hash.
    pub fn assert_complete(&self, meta: &TorrentMeta) {
        assert_eq!(self.info_hash, meta.info_hash_hex(), "`Info Hash:` of seed");
        assert_eq!(
            self.pieces,
            (meta.num_pieces(), meta.num_pieces()),
            "`Pieces:` of seed (all pieces verified); stderr:\n{}",
            self.stderr()
        );
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The address a test's clients on `net` use to reach the seeder: host 11 of the network
    /// (it listens on every address).
    pub fn addr_on(&self, net: &Net) -> String {
        format!("{}:{}", net.ip(11), self.port)
    }

    /// SIGINT (Ctrl-C).
    pub fn interrupt(&self) {
        send_signal(self.pid(), "INT");
    }

    /// Waits up to `secs` for the process to exit; kills it and fails on timeout.
    pub fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.daemon.child.try_wait().expect("try_wait") {
                while let Ok(line) = self.daemon.lines.recv_timeout(Duration::from_secs(5)) {
                    self.stdout.push(line);
                }
                return st;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("still running {secs} s after SIGINT"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGINT, wait for the exit, and return N from its `stopped after sending N bytes`.
    pub fn stop_and_count_sent(&mut self) -> u64 {
        self.interrupt();
        let st = self.wait_exit(60);
        assert!(st.success(), "fast-peer seed after SIGINT: {st}");
        let err = self.stderr();
        err.lines()
            .find_map(|l| {
                l.strip_prefix("stopped after sending ")?
                    .strip_suffix(" bytes")?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no `stopped after sending N bytes` on stderr:\n{err}"))
    }
}
