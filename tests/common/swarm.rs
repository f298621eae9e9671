//! The interop tests' one swarm builder: content of a [`Shape`], its torrent made by
//! libtorrent and announcing to a [`Tracker`], libtorrent seeders on the test's own [`Net`],
//! and the check of a client's download against the content. `fast-peer seed` seeders are
//! started by the tests ([`FastSeed`]) and made known to the tracker with
//! [`Swarm::wait_announced`]. Dropping a swarm stops every process and removes every file.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::{
    Content, FastSeed, LtPeer, Net, Opentracker, SeedOpts, Shape, TorrentMeta, assert_downloaded,
    create_content, magnet, make_torrent_with, peer_args, run_ok, unreachable_tracker,
};

/// Where the swarm's peers are announced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tracker {
    /// opentracker over HTTP; magnets carry it as `tr=`.
    Http,
    /// opentracker over UDP (BEP 15); magnets carry it as `tr=`.
    Udp,
    /// None: the torrent announces to a closed port and magnets name no tracker, so peers
    /// only come from `--peer` or `x.pe`.
    None,
}

/// One libtorrent seeder of a swarm.
#[derive(Clone, Copy, Default, Debug)]
pub struct Seed {
    /// Serve corrupted data in every other piece (0, 2, 4, ...).
    pub corrupt: bool,
    /// Bytes per second, 0 = unlimited.
    pub upload_limit: u64,
    /// Require RC4 Message Stream Encryption (plaintext peers refused).
    pub rc4_only: bool,
    /// Speak uTP only: TCP off both ways (libtorrent still accepts TCP, then hangs up).
    pub utp_only: bool,
}

pub const GOOD: Seed = Seed {
    corrupt: false,
    upload_limit: 0,
    rc4_only: false,
    utp_only: false,
};

/// A good seeder reachable only over uTP.
pub const UTP_ONLY: Seed = Seed {
    utp_only: true,
    ..GOOD
};

pub const RC4_ONLY: Seed = Seed {
    rc4_only: true,
    ..GOOD
};

impl Seed {
    /// A good seeder that uploads at most `bytes_per_sec`.
    pub const fn limited(bytes_per_sec: u64) -> Seed {
        Seed {
            upload_limit: bytes_per_sec,
            ..GOOD
        }
    }
}

/// Content, torrent, tracker and seeders for one test.
pub struct Swarm {
    pub content: Content,
    pub torrent: PathBuf,
    pub meta: TorrentMeta,
    /// libtorrent seeders on hosts 11, 12, ... of [`Swarm::net`].
    pub seeders: Vec<LtPeer>,
    pub tracker: Option<Opentracker>,
    tracker_kind: Tracker,
    pub work: tempfile::TempDir,
    /// The test's network; declared last so it is handed back after the seeders stopped.
    pub net: Net,
}

impl Swarm {
    /// Content of `shape` and its torrent announcing to `tracker` (accepted by it); no seeders.
    pub fn new(shape: Shape, tracker: Tracker) -> Swarm {
        Swarm::new_with(shape, tracker, false)
    }

    /// [`Swarm::new`]; `hybrid`: a libtorrent 2.0 hybrid torrent (pad files between files).
    pub fn new_with((layout, piece_length): Shape, tracker: Tracker, hybrid: bool) -> Swarm {
        let work = tempfile::tempdir().expect("tempdir");
        let content = create_content(&work.path().join("seed"), layout);
        let ot = (tracker != Tracker::None).then(Opentracker::start);
        let url = match (&ot, tracker) {
            (Some(t), Tracker::Http) => t.http_announce(),
            (Some(t), Tracker::Udp) => t.udp_announce(),
            _ => unreachable_tracker(),
        };
        let (torrent, hash) = make_torrent_with(&content.path, piece_length, &url, hybrid);
        if let Some(t) = &ot {
            t.allow(&hash);
        }
        Swarm {
            content,
            meta: TorrentMeta::read(&torrent),
            torrent,
            seeders: Vec::new(),
            tracker: ot,
            tracker_kind: tracker,
            work,
            net: Net::new(),
        }
    }

    /// [`Swarm::new`] with libtorrent seeders, each serving once it is ready (and, with a
    /// tracker, announced).
    pub fn start(shape: Shape, tracker: Tracker, seeds: &[Seed]) -> Swarm {
        let mut swarm = Swarm::new(shape, tracker);
        for s in seeds {
            swarm.add_seeder(*s);
        }
        swarm
    }

    /// One more libtorrent seeder, on the next host of the network (11, 12, ...).
    pub fn add_seeder(&mut self, s: Seed) {
        let i = self.seeders.len();
        let opts = SeedOpts {
            corrupt_dir: s
                .corrupt
                .then(|| self.work.path().join(format!("corrupt-{i}"))),
            upload_limit: s.upload_limit,
            wait_tracker: self.tracker_kind != Tracker::None,
            rc4_only: s.rc4_only,
            transport: if s.utp_only { "utp" } else { "tcp" },
            ..SeedOpts::default()
        };
        let ip = self.net.ip(11 + i as u8);
        let seeder = LtPeer::seed(&self.torrent, &self.content.save_path, &ip, opts);
        self.seeders.push(seeder);
    }

    pub fn hash(&self) -> String {
        self.meta.info_hash_hex()
    }

    /// The trackers a magnet of this swarm names: the opentracker, if any.
    pub fn trackers(&self) -> Vec<String> {
        let url = |t: &Opentracker| match self.tracker_kind {
            Tracker::Udp => t.udp_announce(),
            _ => t.http_announce(),
        };
        self.tracker.iter().map(url).collect()
    }

    /// A magnet with the name, the tracker (if any) as `tr=` and `peers` as `x.pe=`.
    pub fn magnet(&self, peers: &[String]) -> String {
        magnet(&self.hash(), Some(&self.meta.name), &self.trackers(), peers)
    }

    pub fn seeder_addrs(&self) -> Vec<String> {
        self.seeders.iter().map(LtPeer::addr).collect()
    }

    /// `--peer ADDR` for every libtorrent seeder.
    pub fn peer_args(&self) -> Vec<String> {
        peer_args(&self.seeder_addrs())
    }

    /// A fresh, empty folder for one client's output.
    pub fn out_dir(&self, name: &str) -> PathBuf {
        let dir = self.work.path().join(name);
        fs::create_dir_all(&dir).expect("create out dir");
        dir
    }

    /// Where a download into `out_dir` lands: named like the torrent (file or root folder).
    pub fn target_in(&self, out_dir: &Path) -> PathBuf {
        out_dir.join(&self.meta.name)
    }

    /// The libtorrent seeders' logs, for failure messages.
    pub fn seeder_logs(&self) -> String {
        self.seeders
            .iter()
            .map(|s| format!("--- seeder {} ---\n{}", s.addr(), s.stderr()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Runs `client` (made from the fresh output folder `out_name` and the target in it) to
    /// success, then checks that the folder holds exactly the content; prints `logs()` (the
    /// seeders' side) when the client fails.
    pub fn check_client(
        &self,
        what: &str,
        out_name: &str,
        logs: impl FnOnce() -> String,
        client: impl FnOnce(&Path, &Path) -> Command,
    ) {
        let out = self.out_dir(out_name);
        let target = self.target_in(&out);
        run_ok(what, &mut client(&out, &target), logs);
        self.assert_downloaded(&out);
    }

    /// [`Swarm::check_client`] against the libtorrent seeders.
    pub fn verify_download(
        &self,
        what: &str,
        out_name: &str,
        client: impl FnOnce(&Path, &Path) -> Command,
    ) {
        self.check_client(what, out_name, || self.seeder_logs(), client);
    }

    /// `out_dir` holds exactly the torrent's content under its name, and nothing else.
    pub fn assert_downloaded(&self, out_dir: &Path) {
        assert_downloaded(&self.content.path, out_dir, &self.target_in(out_dir));
    }

    /// Waits until the tracker lists `seed`, so a client started afterwards certainly learns
    /// about it from its first announce.
    pub fn wait_announced(&self, seed: &FastSeed) {
        let t = self.tracker.as_ref().expect("tracker");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let peers = t.peers(&self.hash());
            if peers.iter().any(|a| a.port() == seed.port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "fast-peer seed (port {}) not in the tracker's peers after 30 s: {peers:?}\n\
                 --- seed stderr ---\n{}",
                seed.port,
                seed.stderr()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}
