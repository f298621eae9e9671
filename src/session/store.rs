//! The session on disk: one record per torrent under `<session dir>/torrents/`.
//!
//! For a torrent with info hash `H`:
//! - `H.torrent`: its metainfo (for a magnet, written once the metadata arrived);
//! - `H.magnet`: the magnet link, until then;
//! - `H.json`: what the user chose: save folder, paused, when it was added, and its settings
//!   (file priorities, order, limits);
//! - `H.resume`: the engine's fast-resume data ([`crate::engine::resume`]).
//!
//! Every write is crash-safe (temporary file, fsync, rename). A record that does not parse is
//! renamed `*.bad` and reported; the others still load. A torrent is in the session once its
//! `H.json` and its `H.torrent` or `H.magnet` are on disk: [`Store::add`] writes the source
//! first and the state last, so a crash between the two leaves no half torrent (a source
//! without state is cleaned up at the next load).

use crate::engine::resume::write_atomically;
use crate::engine::settings::TorrentSettings;
use crate::proto::id::InfoHash;
use crate::proto::magnet::Magnet;
use crate::proto::metainfo::Metainfo;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// What the user chose for a torrent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorrentState {
    /// Data is saved as `save_dir/<name>`.
    pub save_dir: PathBuf,
    pub paused: bool,
    /// Seconds since the Unix epoch.
    pub added_at: u64,
    /// Files, order and limits (absent in records of older versions: the defaults).
    #[serde(default)]
    pub settings: TorrentSettings,
    /// A magnet that stops (paused) once its metadata is known.
    #[serde(default)]
    pub pause_after_metadata: bool,
    /// Place in the queue (smaller first; ties by `added_at`).
    #[serde(default)]
    pub queue: u64,
}

/// Where a torrent's metadata comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The metainfo, and the bytes of the .torrent file.
    Torrent(Box<Metainfo>, Vec<u8>),
    /// A magnet whose metadata has not arrived yet.
    Magnet(Magnet),
}

/// One torrent of the session, as loaded.
#[derive(Debug, Clone)]
pub struct Record {
    pub info_hash: InfoHash,
    pub source: Source,
    pub state: TorrentState,
}

/// The session folder.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store in `session_dir` (its `torrents/` folder is created).
    pub fn open(session_dir: &Path) -> io::Result<Store> {
        let dir = session_dir.join("torrents");
        std::fs::create_dir_all(&dir)?;
        Ok(Store { dir })
    }

    /// Where the engine keeps resume data (`H.resume` beside the records).
    pub fn resume_dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, h: &InfoHash, ext: &str) -> PathBuf {
        self.dir.join(format!("{h}.{ext}"))
    }

    /// Remember a new torrent: source first, state last (see the module doc).
    pub fn add(&self, h: &InfoHash, source: &Source, state: &TorrentState) -> io::Result<()> {
        match source {
            Source::Torrent(_, bytes) => write_atomically(&self.path(h, "torrent"), bytes)?,
            Source::Magnet(m) => write_atomically(&self.path(h, "magnet"), m.to_uri().as_bytes())?,
        }
        self.set_state(h, state)
    }

    /// Replace what the user chose (pause, resume).
    pub fn set_state(&self, h: &InfoHash, state: &TorrentState) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
        write_atomically(&self.path(h, "json"), &json)
    }

    /// A magnet's metadata arrived: keep its .torrent and forget the link.
    pub fn metadata_arrived(&self, h: &InfoHash, torrent_file: &[u8]) -> io::Result<()> {
        write_atomically(&self.path(h, "torrent"), torrent_file)?;
        match std::fs::remove_file(self.path(h, "magnet")) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Forget a torrent (its data stays unless the caller deletes it).
    pub fn remove(&self, h: &InfoHash) -> io::Result<()> {
        for ext in ["json", "torrent", "magnet", "resume"] {
            match std::fs::remove_file(self.path(h, ext)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Every torrent of the session, and a message per record that could not be loaded
    /// (set aside as `*.bad`).
    pub fn load(&self) -> io::Result<(Vec<Record>, Vec<String>)> {
        let mut records = Vec::new();
        let mut problems = Vec::new();
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        for json in names {
            match self.load_one(&json) {
                Ok(r) => records.push(r),
                Err(why) => {
                    problems.push(format!("{}: {why}; set aside as .bad", json.display()));
                    set_aside(&json);
                }
            }
        }
        Ok((records, problems))
    }

    fn load_one(&self, json: &Path) -> Result<Record, String> {
        let stem = json
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("not an info hash")?;
        let h: InfoHash = stem.parse().map_err(|_| "not an info hash".to_string())?;
        let state: TorrentState =
            serde_json::from_slice(&read(json)?).map_err(|e| format!("bad state: {e}"))?;
        let torrent = self.path(&h, "torrent");
        let source = if torrent.exists() {
            let bytes = read(&torrent)?;
            let m = Metainfo::from_bytes(&bytes).map_err(|e| {
                set_aside(&torrent);
                format!("bad torrent file: {e}")
            })?;
            if m.info_hash != h {
                set_aside(&torrent);
                return Err(format!("its torrent file is for {}", m.info_hash));
            }
            Source::Torrent(Box::new(m), bytes)
        } else {
            let link = String::from_utf8(read(&self.path(&h, "magnet"))?)
                .map_err(|_| "bad magnet file".to_string())?;
            let m = crate::proto::magnet::parse(link.trim())
                .map_err(|e| format!("bad magnet link: {e}"))?;
            if m.info_hash != h {
                return Err(format!("its magnet link is for {}", m.info_hash));
            }
            Source::Magnet(m)
        };
        Ok(Record {
            info_hash: h,
            source,
            state,
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))
}

/// Rename `path` to `path.bad` (best effort: a record that cannot be moved is retried at the
/// next start).
fn set_aside(path: &Path) {
    let mut bad = path.as_os_str().to_owned();
    bad.push(".bad");
    let _ = std::fs::rename(path, bad);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small valid .torrent and its metainfo.
    fn torrent() -> (Metainfo, Vec<u8>) {
        let info = b"d6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
        let mut bytes = b"d8:announce21:http://127.0.0.1:1/an4:info".to_vec();
        bytes.extend_from_slice(info);
        bytes.push(b'e');
        (Metainfo::from_bytes(&bytes).unwrap(), bytes)
    }

    fn state(paused: bool) -> TorrentState {
        TorrentState {
            save_dir: PathBuf::from("/srv/dl"),
            paused,
            added_at: 1_700_000_000,
            settings: TorrentSettings::default(),
            pause_after_metadata: false,
            queue: 0,
        }
    }

    /// A store in a fresh folder holding one torrent.
    fn store_with_torrent() -> (tempfile::TempDir, Store, Metainfo) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (m, bytes) = torrent();
        store
            .add(
                &m.info_hash,
                &Source::Torrent(Box::new(m.clone()), bytes),
                &state(false),
            )
            .unwrap();
        (dir, store, m)
    }

    #[test]
    fn torrents_and_magnets_round_trip() {
        let (_dir, store, m) = store_with_torrent();
        let magnet = crate::proto::magnet::parse(
            "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x",
        )
        .unwrap();
        store
            .add(
                &magnet.info_hash,
                &Source::Magnet(magnet.clone()),
                &state(true),
            )
            .unwrap();
        let (records, problems) = store.load().unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(records.len(), 2);
        let t = records.iter().find(|r| r.info_hash == m.info_hash).unwrap();
        assert!(matches!(&t.source, Source::Torrent(l, _) if l.info_hash == m.info_hash));
        assert_eq!(t.state, state(false));
        let g = records
            .iter()
            .find(|r| r.info_hash == magnet.info_hash)
            .unwrap();
        assert!(matches!(g.source, Source::Magnet(_)));
        assert!(g.state.paused);
        // pause is remembered; remove forgets
        store.set_state(&m.info_hash, &state(true)).unwrap();
        store.remove(&magnet.info_hash).unwrap();
        let (records, _) = store.load().unwrap();
        assert_eq!(records.len(), 1);
        assert!(records[0].state.paused);
    }

    #[test]
    fn metadata_replaces_the_magnet_with_a_torrent_of_the_same_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (m, _) = torrent();
        let magnet = Magnet {
            info_hash: m.info_hash,
            ..crate::proto::magnet::parse(&format!("magnet:?xt=urn:btih:{}", m.info_hash)).unwrap()
        };
        store
            .add(&m.info_hash, &Source::Magnet(magnet), &state(false))
            .unwrap();
        store
            .metadata_arrived(&m.info_hash, &m.to_torrent_file())
            .unwrap();
        let (records, problems) = store.load().unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert!(matches!(&records[0].source, Source::Torrent(l, _) if l.info_hash == m.info_hash));
        assert!(
            !dir.path()
                .join(format!("torrents/{}.magnet", m.info_hash))
                .exists()
        );
    }

    #[test]
    fn a_corrupt_record_is_set_aside_and_the_rest_loads() {
        let (dir, store, m) = store_with_torrent();
        let other = "1111111111111111111111111111111111111111";
        let t = dir.path().join("torrents");
        std::fs::write(t.join(format!("{other}.json")), b"{\"save_dir\": ").unwrap();
        std::fs::write(t.join("junk.json"), b"{}").unwrap();
        let (records, problems) = store.load().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(t.join(format!("{other}.json.bad")).exists());
        assert!(t.join("junk.json.bad").exists());
        // a truncated torrent file too
        std::fs::write(t.join(format!("{}.torrent", m.info_hash)), b"d8:announ").unwrap();
        let (records, problems) = store.load().unwrap();
        assert!(records.is_empty());
        assert!(problems[0].contains("bad torrent file"), "{problems:?}");
    }

    #[test]
    fn a_rebuilt_torrent_file_keeps_the_info_hash() {
        let (m, _) = torrent();
        let again = Metainfo::from_bytes(&m.to_torrent_file()).unwrap();
        assert_eq!(again.info_hash, m.info_hash);
        assert_eq!(again.announce, m.announce);
    }
}
