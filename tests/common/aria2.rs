//! aria2 (another independent client) as a leecher, with the harness's settings: bound to the
//! test's address, no LPD, PEX, IPv6 or config file, and no DHT contact outside the test.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::path::Path;
use std::process::Command;

use super::{TorrentMeta, free_port};

/// `aria2c` downloading `torrent` into folder `out` from the torrent's tracker, bound to `ip`.
/// Not started yet; use [`run_with_timeout`].
///
/// aria2 talks to UDP trackers through its DHT socket: with `--enable-dht=false` it silently
/// ignores them. For a `udp://` tracker DHT is therefore enabled, with an empty routing table
/// (a fresh `--dht-file-path`, no entry point), so it contacts nobody.
pub fn aria2c(torrent: &Path, out: &Path, ip: &str) -> Command {
    let udp = TorrentMeta::read(torrent)
        .announce
        .is_some_and(|a| a.starts_with("udp://"));
    let mut cmd = aria2c_base(out, ip);
    if udp {
        let mut dht_file = out.as_os_str().to_os_string();
        dht_file.push(".aria2-dht.dat");
        cmd.arg("--enable-dht=true")
            .arg(format!("--dht-listen-port={}", free_port()))
            .arg(format!(
                "--dht-file-path={}",
                Path::new(&dht_file).display()
            ));
    } else {
        cmd.arg("--enable-dht=false");
    }
    cmd.arg(torrent);
    cmd
}

/// The harness's aria2 settings (no LPD, PEX, IPv6 or config file; bound to `ip`, a free
/// listen port, saving into `out`); the caller adds the DHT choice and the source last.
pub fn aria2c_base(out: &Path, ip: &str) -> Command {
    let mut cmd = Command::new("aria2c");
    cmd.args([
        "--seed-time=0",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        "--no-conf=true",
        "--file-allocation=none",
        "--summary-interval=0",
        "--console-log-level=warn",
        "--bt-tracker-connect-timeout=10",
        "--bt-tracker-timeout=10",
        "--bt-stop-timeout=60",
    ])
    .arg(format!("--interface={ip}"))
    .arg(format!("--listen-port={}", free_port()))
    .arg(format!("--dir={}", out.display()));
    cmd
}

/// `aria2c` with a magnet: the harness's settings for an HTTP tracker, no DHT, the metadata
/// not saved as a file.
pub fn aria2c_magnet(magnet: &str, out: &Path, ip: &str) -> Command {
    let mut cmd = aria2c_base(out, ip);
    cmd.args(["--enable-dht=false", "--bt-save-metadata=false"])
        .arg(magnet);
    cmd
}
