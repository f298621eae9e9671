//! opentracker (Debian's, with its whitelist) on 127.0.0.1, HTTP and UDP on one port, and the
//! harness's own announces to it to see which peers it knows.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{Bencode, HARNESS_PEER_ID, free_port, send_signal};

/// An opentracker on 127.0.0.1 (HTTP and UDP on the same port), killed on drop.
///
/// Debian's opentracker is built with a whitelist: announces for info hashes not in it fail
/// with "Requested download is not authorized". Call [`Opentracker::allow`] for each torrent
/// before announcing. It chroots into its folder and drops root to `nobody`, so the folder
/// and the whitelist are made world-readable.
pub struct Opentracker {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Opentracker {
    pub fn start() -> Opentracker {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod dir");
        let wl = dir.path().join("whitelist");
        fs::write(&wl, "").expect("write whitelist");
        fs::set_permissions(&wl, fs::Permissions::from_mode(0o644)).expect("chmod whitelist");
        let log = fs::File::create(dir.path().join("opentracker.log")).expect("log file");
        for _attempt in 0..5 {
            let port = free_port();
            let mut child = Command::new("opentracker")
                .current_dir(dir.path())
                .args([
                    "-i",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-P",
                    &port.to_string(),
                ])
                .args(["-d", ".", "-w", "whitelist"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log"))
                .stderr(log.try_clone().expect("clone log"))
                .spawn()
                .expect("spawn opentracker (apt-get install opentracker)");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if child.try_wait().expect("try_wait").is_some() {
                    break; // port taken in the meantime, or a real failure: retry / report
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Opentracker { port, child, dir };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        let log = fs::read_to_string(dir.path().join("opentracker.log")).unwrap_or_default();
        panic!("opentracker did not start:\n{log}");
    }

    pub fn http_announce(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    pub fn udp_announce(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.port)
    }

    /// Adds an info hash to the whitelist, reloads it (SIGHUP) and waits until the tracker
    /// accepts announces for it.
    pub fn allow(&self, info_hash_hex: &str) {
        assert_eq!(info_hash_hex.len(), 40, "info hash hex");
        let wl = self.dir.path().join("whitelist");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&wl)
            .expect("open whitelist");
        writeln!(f, "{info_hash_hex}").expect("append whitelist");
        drop(f);
        send_signal(self.child.id(), "HUP");
        let mut last = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // `stopped` does not leave a peer behind.
            last = self.http_get_announce(info_hash_hex, 1, "stopped");
            if !last.contains("failure reason") {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!("opentracker did not accept {info_hash_hex} after reload: {last}");
    }

    /// The peers the tracker knows for an info hash (asks as a short-lived peer on
    /// 127.0.0.1:1, which is removed again with a `stopped` announce).
    pub fn peers(&self, info_hash_hex: &str) -> Vec<SocketAddr> {
        let body = self.http_get_announce_raw(info_hash_hex, 1, "started");
        self.http_get_announce(info_hash_hex, 1, "stopped");
        let root = Bencode::parse(&body);
        if let Some(f) = root.get("failure reason") {
            panic!("tracker failure: {}", f.str());
        }
        let peers = root.get("peers").expect("peers").bytes();
        peers
            .chunks(6)
            .map(|c| SocketAddr::from(([c[0], c[1], c[2], c[3]], u16::from_be_bytes([c[4], c[5]]))))
            .filter(|a| a.port() != 1)
            .collect()
    }

    /// Announce a peer on 127.0.0.1:`port` (the harness's own, e.g. a raw peer) as started.
    /// Retried for a few seconds while the tracker still says the hash is not authorized (a
    /// whitelist reload can be seen by one of its threads before another).
    pub fn announce_peer(&self, info_hash_hex: &str, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let body = self.http_get_announce_raw(info_hash_hex, port, "started");
            let root = Bencode::parse(&body);
            let Some(f) = root.get("failure reason") else {
                return;
            };
            assert!(Instant::now() < deadline, "tracker failure: {}", f.str());
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn http_get_announce(&self, info_hash_hex: &str, port: u16, event: &str) -> String {
        String::from_utf8_lossy(&self.http_get_announce_raw(info_hash_hex, port, event))
            .into_owned()
    }

    fn http_get_announce_raw(&self, info_hash_hex: &str, port: u16, event: &str) -> Vec<u8> {
        let path = format!(
            "/announce?info_hash={}&peer_id={HARNESS_PEER_ID}&port={port}&uploaded=0\
             &downloaded=0&left=0&compact=1&numwant=200&event={event}",
            escape_hash(info_hash_hex)
        );
        let resp = self
            .get(&path, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("announce to opentracker: {e}"));
        let body_at = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("http header end")
            + 4;
        resp[body_at..].to_vec()
    }

    /// `(complete, incomplete)` from a scrape of the info hash (0 for a count the answer
    /// leaves out); `None` when the tracker could not be asked.
    pub fn scrape(&self, info_hash_hex: &str) -> Option<(i64, i64)> {
        let path = format!("/scrape?info_hash={}", escape_hash(info_hash_hex));
        let body = self.get(&path, Duration::from_secs(2)).ok()?;
        let count = |key: &str| -> Option<i64> {
            let pat = format!("{}:{key}i", key.len());
            let at = body.windows(pat.len()).position(|w| w == pat.as_bytes())? + pat.len();
            let end = body[at..].iter().position(|b| *b == b'e')? + at;
            std::str::from_utf8(&body[at..end]).ok()?.parse().ok()
        };
        Some((
            count("complete").unwrap_or(0),
            count("incomplete").unwrap_or(0),
        ))
    }

    /// The whole HTTP/1.0 response to `GET path`.
    fn get(&self, path: &str, timeout: Duration) -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(timeout))?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp)?;
        Ok(resp)
    }
}

/// An info hash as a query value: each of its 20 bytes percent-escaped.
fn escape_hash(info_hash_hex: &str) -> String {
    (0..20)
        .map(|i| format!("%{}", &info_hash_hex[2 * i..2 * i + 2]))
        .collect()
}

impl Drop for Opentracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
