//! libtorrent 2.0 (Debian's python3-libtorrent) through `scripts/lt_peer.py`: the reference
//! torrent maker, seeders in their own processes on their own loopback IPs, and leechers.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{Daemon, TorrentMeta, assert_success, read_lines_until, repo_root, run_with_timeout};

/// The only interpreter that can import Debian's python3-libtorrent.
pub const LT_PYTHON: &str = "/usr/bin/python3";

pub fn lt_peer_script() -> PathBuf {
    repo_root().join("scripts").join("lt_peer.py")
}

/// `lt_peer.py SUBCOMMAND`, not started yet.
fn lt_peer(subcommand: &str) -> Command {
    let mut cmd = Command::new(LT_PYTHON);
    cmd.arg(lt_peer_script()).arg(subcommand);
    cmd
}

// ---------------------------------------------------------------------------------------------

/// Makes a v1 torrent of `content_path` (file or folder) with libtorrent (the reference) and
/// writes it next to it as `<content_path>.torrent`. Returns (torrent path, info hash hex).
pub fn make_torrent(
    content_path: &Path,
    piece_length: u64,
    tracker_url: &str,
) -> (PathBuf, String) {
    make_torrent_with(content_path, piece_length, tracker_url, false)
}

/// [`make_torrent`]; `hybrid`: libtorrent 2.0's default, a v1 + v2 torrent whose files are
/// aligned to pieces with BEP 47 pad files.
pub fn make_torrent_with(
    content_path: &Path,
    piece_length: u64,
    tracker_url: &str,
    hybrid: bool,
) -> (PathBuf, String) {
    let mut name = content_path
        .file_name()
        .expect("content name")
        .to_os_string();
    name.push(".torrent");
    let out = content_path.with_file_name(name);
    let mut cmd = lt_peer("create");
    cmd.arg("--path")
        .arg(content_path)
        .arg("--piece-length")
        .arg(piece_length.to_string())
        .arg("--tracker")
        .arg(tracker_url)
        .arg("--out")
        .arg(&out);
    if hybrid {
        cmd.arg("--hybrid");
    }
    let o = run_with_timeout(&mut cmd, 120);
    assert_success("lt_peer.py create", &o);
    let hash = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(hash.len(), 40, "lt_peer.py create printed {hash:?}");
    (out, hash)
}

/// Options for [`LtPeer::seed`].
#[derive(Debug, Clone)]
pub struct SeedOpts {
    /// Serve corrupt data: lt_peer.py copies the content to this folder, flips one byte in
    /// every `corrupt_every`-th piece (0, k, 2k, ...) and serves the copy without hash checks.
    pub corrupt_dir: Option<PathBuf>,
    pub corrupt_every: u32,
    /// Bytes per second, 0 = unlimited (also for loopback peers).
    pub upload_limit: u64,
    /// Wait for the first tracker announce reply before READY (off when the torrent's tracker
    /// is unreachable on purpose).
    pub wait_tracker: bool,
    /// Listen port, 0 = any.
    pub port: u16,
    /// Require RC4 Message Stream Encryption both ways (plaintext peers are refused).
    pub rc4_only: bool,
    /// `tcp` (the default), `utp` (TCP off both ways) or `both`.
    pub transport: &'static str,
}

impl Default for SeedOpts {
    fn default() -> Self {
        SeedOpts {
            corrupt_dir: None,
            corrupt_every: 2,
            upload_limit: 0,
            wait_tracker: true,
            port: 0,
            rc4_only: false,
            transport: "tcp",
        }
    }
}

/// A libtorrent seeder in its own process on its own loopback IP, ready to serve (seeding,
/// first announce answered). Killed on drop.
pub struct LtPeer {
    pub ip: String,
    pub port: u16,
    /// The 20-byte peer id it sends in handshakes, as 40 hex digits.
    pub peer_id_hex: String,
    daemon: Daemon,
}

impl LtPeer {
    /// Seeds `torrent` from `data_dir` (the save path: the folder containing the torrent's
    /// name) on `ip`. Returns once lt_peer.py prints READY (fails after 90 s).
    pub fn seed(torrent: &Path, data_dir: &Path, ip: &str, opts: SeedOpts) -> LtPeer {
        let mut cmd = lt_peer("seed");
        cmd.arg("--torrent")
            .arg(torrent)
            .arg("--data")
            .arg(data_dir)
            .args(["--ip", ip, "--port", &opts.port.to_string()])
            .args(["--upload-limit", &opts.upload_limit.to_string()])
            .args(["--ready-timeout", "80"]);
        if let Some(dir) = &opts.corrupt_dir {
            cmd.arg("--corrupt")
                .arg("--corrupt-dir")
                .arg(dir)
                .args(["--corrupt-every", &opts.corrupt_every.to_string()]);
        }
        if !opts.wait_tracker {
            cmd.arg("--no-tracker-wait");
        }
        if opts.rc4_only {
            cmd.args(["--encryption", "rc4"]);
        }
        cmd.args(["--transport", opts.transport]);
        let mut daemon = Daemon::spawn(&mut cmd, true);
        let mut ready = None;
        let read = read_lines_until(&daemon.lines, 90, |line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if let ["READY", port, peer_id_hex] = parts.as_slice() {
                ready = Some((port.parse().expect("READY port"), peer_id_hex.to_string()));
            }
            ready.is_some()
        });
        let Some((port, peer_id_hex)) = ready else {
            daemon.kill();
            panic!(
                "lt_peer.py seed on {ip}: no READY ({})\n--- stderr ---\n{}",
                read.err().unwrap_or_default(),
                daemon.log()
            );
        };
        assert_eq!(peer_id_hex.len(), 40, "READY peer id");
        LtPeer {
            ip: ip.to_string(),
            port,
            peer_id_hex,
            daemon,
        }
    }

    /// `IP:PORT` as given to `--peer` and as printed by `fast-peer peers`.
    pub fn addr(&self) -> String {
        self.socket_addr().to_string()
    }

    /// Its address (`[::1]:PORT` for a seeder on IPv6).
    pub fn socket_addr(&self) -> SocketAddr {
        let ip: std::net::IpAddr = self.ip.parse().expect("seeder IP");
        SocketAddr::new(ip, self.port)
    }

    /// What the seeder logged so far (libtorrent alerts of interest).
    pub fn stderr(&self) -> String {
        self.daemon.log()
    }

    /// SIGKILL now (e.g. mid-download) and reap.
    pub fn kill(&mut self) {
        self.daemon.kill();
    }
}

/// Downloads with libtorrent (`lt_peer.py leech`) into `out` from the torrent's tracker and
/// the given peers. Returns the output; fails the test on timeout.
pub fn lt_leech(torrent: &Path, out: &Path, ip: &str, peers: &[String], secs: u64) -> Output {
    lt_leech_source(
        &["--torrent".as_ref(), torrent.as_os_str()],
        out,
        ip,
        peers,
        secs,
    )
}

/// Like [`lt_leech`], requiring RC4 Message Stream Encryption (plaintext peers refused).
pub fn lt_leech_rc4(torrent: &Path, out: &Path, ip: &str, peers: &[String], secs: u64) -> Output {
    lt_leech_source(
        &[
            "--torrent".as_ref(),
            torrent.as_os_str(),
            "--encryption".as_ref(),
            "rc4".as_ref(),
        ],
        out,
        ip,
        peers,
        secs,
    )
}

/// Like [`lt_leech`] from a magnet link (metadata over BEP 9 from the peers; no DHT).
pub fn lt_leech_magnet(magnet: &str, out: &Path, ip: &str, peers: &[String], secs: u64) -> Output {
    lt_leech_source(
        &["--magnet".as_ref(), magnet.as_ref()],
        out,
        ip,
        peers,
        secs,
    )
}

fn lt_leech_source(
    source: &[&std::ffi::OsStr],
    out: &Path,
    ip: &str,
    peers: &[String],
    secs: u64,
) -> Output {
    let mut cmd = lt_peer("leech");
    cmd.args(source)
        .arg("--out")
        .arg(out)
        .args(["--ip", ip, "--timeout", &secs.to_string()]);
    for p in peers {
        cmd.args(["--peer", p]);
    }
    run_with_timeout(&mut cmd, secs + 30)
}

/// Like [`lt_leech`] over uTP only (TCP off both ways).
pub fn lt_leech_utp(torrent: &Path, out: &Path, ip: &str, peers: &[String], secs: u64) -> Output {
    lt_leech_utp_with(torrent, &[], out, ip, peers, secs)
}

/// [`lt_leech_utp`] with more `lt_peer.py leech` arguments (`--encryption rc4`, say).
pub fn lt_leech_utp_with(
    torrent: &Path,
    extra: &[&str],
    out: &Path,
    ip: &str,
    peers: &[String],
    secs: u64,
) -> Output {
    let mut source: Vec<&std::ffi::OsStr> = vec![
        "--torrent".as_ref(),
        torrent.as_os_str(),
        "--transport".as_ref(),
        "utp".as_ref(),
    ];
    source.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    lt_leech_source(&source, out, ip, peers, secs)
}
