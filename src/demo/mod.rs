//! The embedded demo swarm behind `fast-peer demo`: deterministic content, its torrent, a small
//! HTTP tracker, a loopback DHT node and several seeders, all inside this process on
//! 127.0.0.1, ready for a leecher.
//!
//! Everything here is the real engine: each seeder is an [`engine::spawn`](crate::engine::spawn)
//! with `seed_only`, each leecher a normal engine that finds the others through the tracker.
//! Nothing binds to anything but 127.0.0.1, every port comes from the kernel (`:0`), and the
//! temporary folder (unless the user gave `--dir`) is removed when the [`DemoSwarm`] goes away.
//! This module prints nothing: the CLI and the dashboard show what it reports.
//!
//! # Pieces
//! - [`content`]: the files ([`DemoFile`], recomputable at any offset) and their torrent.
//! - [`tracker`]: the HTTP tracker ([`Tracker`], logic in [`TrackerState`]).
//! - [`seeders`]: [`SeederProfile::demo`] and the running [`Seeder`]s.
//! - [`headless`]: `fast-peer demo --no-tui` without the printing: one leecher, a stream of
//!   [`DemoEvent`]s, byte-for-byte verification, cleanup.
//! - here: [`DemoSwarm`], which starts them all, plus a DHT node (BEP 5) the seeders bootstrap
//!   from and announce the torrent into; [`DemoSwarm::dht_config`] lets a leecher join that
//!   little DHT (the dashboard's DHT pane then shows real buckets and lookups). Never the public
//!   bootstrap routers.
//!
//! Dependencies point one way: `demo -> engine -> proto`.

pub mod content;
pub mod error;
pub mod headless;
pub mod seeders;
pub mod tracker;

pub use content::{DEFAULT_SIZE, DEMO_NAME, DemoFile, MIN_SIZE, PIECE_LENGTH, demo_files};
pub use error::SwarmError;
pub use headless::{DEMO_TIMEOUT, DemoEvent, DemoPeer, run};
pub use seeders::{Seeder, SeederProfile};
pub use tracker::{Tracker, TrackerState};

use crate::engine::dht::{self, DhtConfig, DhtHandle};
use crate::engine::event::{EngineEvent, TorrentId};
use crate::engine::{EngineConfig, EngineHandle, spawn};
use crate::proto::metainfo::Metainfo;
use content::{add_torrent, make_torrent, verify_files};
use error::io_err;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What `fast-peer demo` sets up.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Keep everything under this folder (kept afterwards); `None` = a temporary folder.
    pub dir: Option<PathBuf>,
    /// Number of seeders (see [`SeederProfile::demo`]).
    pub seeders: usize,
    /// Content size in bytes (about; at least [`MIN_SIZE`]).
    pub size: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            dir: None,
            seeders: 4,
            size: DEFAULT_SIZE,
        }
    }
}

/// Content, torrent, tracker and seeders, running. Layout of [`DemoSwarm::root`]:
/// `seed/fast-peer-demo/...` (the seeders' data), `fast-peer-demo.torrent`, and whatever
/// folders the leechers are given (the demo uses `download/`).
pub struct DemoSwarm {
    root: PathBuf,
    files: Vec<DemoFile>,
    metainfo: Arc<Metainfo>,
    torrent_path: PathBuf,
    seeders: Vec<Seeder>,
    tracker: Tracker,
    /// The node the seeders (and a leecher given [`DemoSwarm::dht_config`]) bootstrap from.
    dht_router: DhtHandle,
    // last, so the folder goes after everything that uses it
    _temp: Option<tempfile::TempDir>,
}

impl DemoSwarm {
    /// The demo swarm: `opts.seeders` seeders from [`SeederProfile::demo`].
    pub async fn start(opts: DemoOptions) -> Result<DemoSwarm, SwarmError> {
        let profiles = SeederProfile::demo(opts.seeders);
        DemoSwarm::start_with(opts, profiles).await
    }

    /// Write the content and torrent, start the tracker and one seeder per profile, and wait
    /// until every seeder has checked its data and announced.
    pub async fn start_with(
        opts: DemoOptions,
        profiles: Vec<SeederProfile>,
    ) -> Result<DemoSwarm, SwarmError> {
        let (root, temp) = match &opts.dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(io_err(format!("create {}", d.display())))?;
                (d.clone(), None)
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("fast-peer-demo-")
                    .tempdir()
                    .map_err(io_err("create a temporary folder"))?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let tracker = Tracker::start()
            .await
            .map_err(io_err("start the demo tracker"))?;
        let files = demo_files(opts.size);
        let (seed_dir, list, url) = (
            root.join("seed"),
            files.clone(),
            tracker.announce_url().to_string(),
        );
        let (bytes, metainfo) =
            tokio::task::spawn_blocking(move || make_torrent(&seed_dir, &list, url))
                .await
                .map_err(|e| SwarmError::Failed(format!("content writer: {e}")))??;
        let torrent_path = root.join(format!("{DEMO_NAME}.torrent"));
        std::fs::write(&torrent_path, &bytes)
            .map_err(io_err(format!("write {}", torrent_path.display())))?;
        let metainfo = Arc::new(metainfo);
        let dht_router = dht::spawn(demo_dht_config(Vec::new()))
            .await
            .map_err(io_err("start the demo DHT node"))?;
        let router = SocketAddr::from((Ipv4Addr::LOCALHOST, dht_router.port())).to_string();

        let mut seeders = Vec::new();
        let mut ready = Vec::new();
        for profile in profiles {
            let base = EngineConfig {
                dht: Some(demo_dht_config(vec![router.clone()])),
                ..loopback_config()
            };
            let (seeder, rx) =
                seeders::start_seeder(profile, base, &metainfo, &root.join("seed")).await?;
            seeders.push(seeder);
            ready.push(rx);
        }
        let swarm = DemoSwarm {
            root,
            files,
            metainfo,
            torrent_path,
            seeders,
            tracker,
            dht_router,
            _temp: temp,
        };
        seeders::wait_ready(&swarm.seeders, ready).await?;
        Ok(swarm)
    }

    /// The folder holding the content, the torrent and the downloads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn metainfo(&self) -> &Arc<Metainfo> {
        &self.metainfo
    }

    pub fn torrent_path(&self) -> &Path {
        &self.torrent_path
    }

    pub fn files(&self) -> &[DemoFile] {
        &self.files
    }

    pub fn announce_url(&self) -> &str {
        self.tracker.announce_url()
    }

    pub fn seeders(&self) -> &[Seeder] {
        &self.seeders
    }

    /// The seeder listening on `addr`, if any (to label peers in output).
    pub fn seeder_at(&self, addr: SocketAddr) -> Option<&Seeder> {
        self.seeders.iter().find(|s| s.addr == addr)
    }

    /// A normal engine on 127.0.0.1:0 downloading the demo torrent into `out_dir` (as
    /// `out_dir/fast-peer-demo/...`), finding peers through the tracker.
    pub async fn start_leecher(
        &self,
        out_dir: &Path,
    ) -> Result<(EngineHandle, mpsc::Receiver<EngineEvent>, TorrentId), SwarmError> {
        self.start_leecher_with(out_dir, loopback_config()).await
    }

    /// [`start_leecher`](Self::start_leecher) with a chosen engine configuration.
    pub async fn start_leecher_with(
        &self,
        out_dir: &Path,
        config: EngineConfig,
    ) -> Result<(EngineHandle, mpsc::Receiver<EngineEvent>, TorrentId), SwarmError> {
        let (handle, events) = spawn(config).await?;
        let id = handle
            .add_torrent(add_torrent(&self.metainfo, out_dir, false))
            .await?;
        Ok((handle, events, id))
    }

    /// Check `out_dir/fast-peer-demo/...` against the demo content, byte for byte.
    pub async fn verify(&self, out_dir: &Path) -> Result<(), SwarmError> {
        let (files, dir) = (self.files.clone(), out_dir.to_path_buf());
        tokio::task::spawn_blocking(move || verify_files(&files, &dir))
            .await
            .map_err(|e| SwarmError::Failed(format!("verifier: {e}")))?
    }

    /// Stop the seeders (they announce `stopped`), then the tracker; remove the temporary folder.
    pub async fn shutdown(self) {
        for s in &self.seeders {
            s.handle.shutdown().await;
        }
        self.dht_router.shutdown().await;
    }

    /// DHT settings for a leecher that should join the demo's loopback DHT.
    pub fn dht_config(&self) -> DhtConfig {
        demo_dht_config(vec![
            SocketAddr::from((Ipv4Addr::LOCALHOST, self.dht_router.port())).to_string(),
        ])
    }

    /// `ROOT/download`, the leecher's folder, without the download of a previous run under
    /// `--dir` (so the demo downloads again).
    pub fn download_dir(&self) -> Result<PathBuf, SwarmError> {
        let out = self.root.join("download");
        let stale = out.join(DEMO_NAME);
        if stale.exists() {
            std::fs::remove_dir_all(&stale)
                .map_err(io_err(format!("remove {}", stale.display())))?;
        }
        Ok(out)
    }
}

/// A DHT node on 127.0.0.1 (free port, no state file) bootstrapping from `bootstrap` only.
fn demo_dht_config(bootstrap: Vec<String>) -> DhtConfig {
    DhtConfig {
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        port_fallback: false,
        bootstrap,
        state_path: None,
    }
}

/// Engine settings for the demo: 127.0.0.1 only, a free port.
pub fn loopback_config() -> EngineConfig {
    EngineConfig {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        listen_fallback: false,
        ..EngineConfig::default()
    }
}
