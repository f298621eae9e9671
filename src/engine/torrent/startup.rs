//! From a source to a torrent ready to download: the metadata (fetched from peers for a
//! magnet), then storage, the picker and the resume check of data already on disk.
//!
//! Each step that can fail returns a [`TorrentError`] naming its cause; the pure parts
//! (building the metainfo from fetched metadata, checking the wanted pieces, setting up the
//! picker) are plain functions with their own tests.

use super::metadata::{HandedOver, MetadataOutcome, MetadataPhase};
use super::params::{Source, TorrentParams};
use super::shared::{TorrentMsg, TorrentRx};
use crate::engine::conn::Dialer;
use crate::engine::dht::DhtHandle;
use crate::engine::error::TorrentError;
use crate::engine::event::{EngineEvent, EventSink, TorrentId, TorrentSnapshot, TorrentState};
use crate::engine::peerbook::PeerBook;
use crate::engine::picker::{PeerKey, Picker};
use crate::engine::priority::FilePriority;
use crate::engine::resume::{self, ResumeData, Verdict};
use crate::engine::storage::{self, OutputTarget, Storage};
use crate::proto::id::InfoHash;
use crate::proto::metainfo::{Info, Metainfo};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::oneshot;

/// `left` we announce while the size is unknown (magnet, metadata not yet fetched). Not 0,
/// which says "seed" (trackers then list us as one and send no seeds), and small: some
/// trackers refuse a `left` larger than the torrent (the course's test tracker does), and 1
/// is never larger. Real trackers only look at whether it is 0.
const UNKNOWN_LEFT: u64 = 1;

/// What the source says before any metadata: the info hash, the tracker tiers, the peers
/// to try first and the `left` to announce.
pub(super) struct Origin {
    pub info_hash: InfoHash,
    pub tiers: Vec<Vec<String>>,
    pub peers: Vec<SocketAddr>,
    pub left: u64,
}

impl Origin {
    pub(super) fn of(p: &TorrentParams) -> Origin {
        let mut origin = match &p.source {
            Source::Torrent(m) => Origin {
                info_hash: m.info_hash,
                tiers: m.trackers(),
                peers: Vec::new(),
                left: m.info.total_length,
            },
            // BEP 12 reading of a magnet: each `tr` is its own tier
            Source::Magnet(mg) => Origin {
                info_hash: mg.info_hash,
                tiers: mg.trackers.iter().map(|t| vec![t.clone()]).collect(),
                peers: mg.peers.clone(),
                left: UNKNOWN_LEFT,
            },
        };
        origin.peers.extend(p.peers.iter().copied());
        origin
    }
}

/// How the metadata step ended.
pub(super) enum Fetched {
    /// The metainfo, and for a magnet the connections that fetched it.
    Ready(Arc<Metainfo>, Vec<HandedOver>),
    /// The torrent was stopped first.
    Shutdown(oneshot::Sender<()>),
}

/// The metainfo: at hand for a .torrent, fetched from peers (BEP 9) for a magnet.
pub(super) async fn metainfo(
    p: &TorrentParams,
    origin: &Origin,
    started: Instant,
    dialer: &Arc<Dialer>,
    book: &mut PeerBook,
    next_key: &mut PeerKey,
    rx: &mut TorrentRx,
) -> Result<Fetched, TorrentError> {
    let (metainfo, handed) = match &p.source {
        Source::Torrent(m) => (m.clone(), Vec::new()),
        Source::Magnet(mg) => {
            p.events.emit(EngineEvent::StateChanged {
                id: p.id,
                state: TorrentState::FetchingMetadata,
            });
            let phase = MetadataPhase {
                id: p.id,
                info_hash: origin.info_hash,
                name: mg
                    .name
                    .clone()
                    .unwrap_or_else(|| origin.info_hash.to_string()),
                peer_id: p.peer_id,
                max_size: p.max_metadata_size,
                dialer: dialer.clone(),
                max_peers: p.max_peers,
                events: p.events.clone(),
                snapshots: p.snapshots.clone(),
                probe: p.probe.clone(),
                started,
            };
            match phase.run(book, next_key, rx).await? {
                MetadataOutcome::Ready { raw, handed } => {
                    let m = from_metadata(raw, origin.info_hash, &origin.tiers)?;
                    (Arc::new(m), handed)
                }
                MetadataOutcome::Shutdown(done) => return Ok(Fetched::Shutdown(done)),
            }
        }
    };
    p.events.emit(EngineEvent::MetadataReady {
        id: p.id,
        metainfo: metainfo.clone(),
    });
    Ok(Fetched::Ready(metainfo, handed))
}

/// A magnet added paused: show it paused and wait for [`TorrentMsg::Pause`]`(false)`; other
/// messages are dropped (the metadata phase then starts from the magnet's own peers and
/// trackers, and the DHT feeds it again). `Some(done)` when the torrent was stopped (or
/// removed) first.
pub(super) async fn wait_resumed(
    p: &TorrentParams,
    origin: &Origin,
    started: Instant,
    rx: &mut TorrentRx,
) -> Result<Option<oneshot::Sender<()>>, TorrentError> {
    let Source::Magnet(mg) = &p.source else {
        return Ok(None);
    };
    let name = mg
        .name
        .clone()
        .unwrap_or_else(|| origin.info_hash.to_string());
    let picture = TorrentSnapshot {
        state: TorrentState::Paused,
        elapsed: started.elapsed(),
        ..TorrentSnapshot::fetching_metadata(p.id, origin.info_hash, name)
    };
    p.snapshots
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(p.id, picture);
    p.events.emit(EngineEvent::StateChanged {
        id: p.id,
        state: TorrentState::Paused,
    });
    loop {
        match rx.recv().await {
            None => return Err(TorrentError::EngineStopped),
            Some(TorrentMsg::Shutdown(done) | TorrentMsg::RemoveData(done)) => {
                return Ok(Some(done));
            }
            Some(TorrentMsg::Pause(false)) => return Ok(None),
            // nothing else matters before the metadata phase starts
            Some(_) => {}
        }
    }
}

/// The metainfo of a magnet whose info dictionary `raw` was fetched and verified against
/// `info_hash`; the magnet's trackers become its announce list.
fn from_metadata(
    raw: Vec<u8>,
    info_hash: InfoHash,
    tiers: &[Vec<String>],
) -> Result<Metainfo, TorrentError> {
    let info = Info::from_bytes(&raw).map_err(TorrentError::BadMetadata)?;
    Ok(Metainfo {
        announce: tiers.first().and_then(|t| t.first()).cloned(),
        announce_list: tiers.to_vec(),
        info,
        info_hash,
        raw_info: raw,
        comment: None,
        created_by: None,
        creation_date: None,
    })
}

/// What [`open`] made ready for the torrent task.
pub(super) struct Opened {
    pub info: Arc<Info>,
    pub storage: Arc<Storage>,
    pub picker: Picker,
    /// The DHT node, unless the torrent is private (BEP 27).
    pub dht: Option<DhtHandle>,
    /// Seeds the picker's and the choker's random choices.
    pub seed: u64,
    /// Every file's path, in torrent order (for the resume data's stamps).
    pub paths: Arc<Vec<PathBuf>>,
    /// Each file's priority, as the picker was set up.
    pub files: Vec<FilePriority>,
}

/// Open storage, set up the picker, and hash what is already on disk.
pub(super) async fn open(p: &TorrentParams, metainfo: &Metainfo) -> Result<Opened, TorrentError> {
    // BEP 27: a magnet whose metadata turns out private leaves the DHT (no more lookups, no
    // Port messages)
    let dht = if metainfo.info.private {
        p.dht_allowed.store(false, Ordering::Relaxed);
        p.probe.dht_off();
        None
    } else {
        p.dht.clone()
    };
    let info = Arc::new(metainfo.info.clone());
    check_wanted(p.wanted.as_deref(), info.piece_count())?;
    let paths =
        Arc::new(storage::checked_file_paths(&info, &p.target).map_err(TorrentError::OpenStorage)?);
    // the user's file priorities and order (`download_piece` names its pieces instead)
    let wants = p.settings.borrow().wants.clone();
    let files = match p.wanted {
        None => wants.file_priorities(&info),
        Some(_) => vec![FilePriority::Normal; info.files.len()],
    };
    let skipped = |f: usize| files.get(f) == Some(&FilePriority::Skip);
    let verdict = judge_resume(p, metainfo.info_hash, &info, &paths).await?;
    if let Some(v) = &verdict {
        // a skipped file the user deleted is no loss: its pieces are checked again anyway
        let missing: Vec<String> = v
            .missing
            .iter()
            .filter(|f| !skipped(**f))
            .map(|f| paths[*f].display().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(TorrentError::MissingFiles(missing));
        }
    }
    let wanted_files: Vec<bool> = (0..info.files.len()).map(|f| !skipped(f)).collect();
    let storage = Arc::new(open_storage(&info, &p.target, p.seed_only, wanted_files).await?);
    let seed: u64 = rand::random();
    let mut picker = new_picker(&info, p.wanted.as_deref(), seed);
    if p.wanted.is_none() {
        picker.set_wants(&info, &files, &wants);
    }
    let recheck: Vec<u32> = match verdict {
        Some(v) => {
            for piece in v.trusted.iter_ones() {
                picker.mark_verified(piece);
            }
            v.recheck
        }
        None => (0..info.piece_count()).collect(),
    };
    if storage.had_existing_data() && !recheck.is_empty() {
        check_existing(&storage, &info, recheck, &mut picker, &p.events, p.id).await?;
    }
    Ok(Opened {
        info,
        storage,
        picker,
        dht,
        seed,
        paths,
        files,
    })
}

/// Load the torrent's resume data (if it has a resume file) and compare it with the files now.
/// `None`: no usable resume data, so everything on disk is checked. A bad file is reported in
/// the log and set aside; it never stops the torrent.
async fn judge_resume(
    p: &TorrentParams,
    info_hash: InfoHash,
    info: &Arc<Info>,
    paths: &Arc<Vec<PathBuf>>,
) -> Result<Option<Verdict>, TorrentError> {
    let Some(file) = p.resume_file.clone() else {
        return Ok(None);
    };
    let (info, paths) = (info.clone(), paths.clone());
    tokio::task::spawn_blocking(move || {
        let saved = match ResumeData::load(&file, info_hash) {
            Ok(saved) => saved,
            Err(e) => {
                tracing::warn!("{e}; checking the data in full");
                None
            }
        };
        match saved {
            Some(r) => Ok(Some(r.judge(&info, &resume::stamps(&info, &paths)?))),
            None => Ok(None),
        }
    })
    .await
    .map_err(|e| TorrentError::Internal(format!("resume task: {e}")))?
    .map_err(TorrentError::CheckExisting)
}

/// Every wanted piece must exist.
fn check_wanted(wanted: Option<&[u32]>, count: u32) -> Result<(), TorrentError> {
    match wanted.and_then(|w| w.iter().find(|i| **i >= count)) {
        Some(bad) => Err(TorrentError::NoSuchPiece { piece: *bad, count }),
        None => Ok(()),
    }
}

/// A picker for `info`: the wanted pieces (all when `None`), pad files known (BEP 47).
fn new_picker(info: &Info, wanted: Option<&[u32]>, seed: u64) -> Picker {
    let mut picker = Picker::new(info.piece_length, info.total_length, wanted, seed);
    picker.set_pad_ranges(
        info.files
            .iter()
            .filter(|f| f.attr.pad)
            .map(|f| f.offset..f.offset + f.length)
            .collect(),
    );
    picker
}

/// Open (or, for a seed, only read) the torrent's files, off the runtime.
async fn open_storage(
    info: &Arc<Info>,
    target: &OutputTarget,
    seed_only: bool,
    wanted_files: Vec<bool>,
) -> Result<Storage, TorrentError> {
    let info = info.clone();
    let target = target.clone();
    tokio::task::spawn_blocking(move || {
        if seed_only {
            Storage::open_read_only(&info, &target)
        } else {
            Storage::open_selected(&info, &target, &wanted_files)
        }
    })
    .await
    .map_err(|e| TorrentError::Internal(format!("storage task: {e}")))?
    .map_err(TorrentError::OpenStorage)
}

/// Hash the given pieces of the data already on disk and mark those that pass, reporting
/// progress (`Checking` events count only these pieces).
async fn check_existing(
    storage: &Arc<Storage>,
    info: &Arc<Info>,
    pieces: Vec<u32>,
    picker: &mut Picker,
    events: &EventSink,
    id: TorrentId,
) -> Result<(), TorrentError> {
    events.emit(EngineEvent::StateChanged {
        id,
        state: TorrentState::Checking,
    });
    let total = pieces.len() as u32;
    let st = storage.clone();
    let inf = info.clone();
    let ev = events.clone();
    let valid = tokio::task::spawn_blocking(move || {
        let mut checked = 0u32;
        let mut good = 0u32;
        st.verify_pieces(&inf, pieces, |_, ok| {
            checked += 1;
            good += ok as u32;
            if checked.is_multiple_of(64) || checked == total {
                ev.emit(EngineEvent::Checking {
                    id,
                    checked,
                    total,
                    valid: good,
                });
            }
        })
    })
    .await
    .map_err(|e| TorrentError::Internal(format!("resume check task: {e}")))?
    .map_err(TorrentError::CheckExisting)?;
    for (i, ok) in valid.iter().enumerate() {
        if *ok {
            picker.mark_verified(i as u32);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::bencode::Value;
    use std::collections::BTreeMap;

    /// A single-file info dictionary of `len` bytes in pieces of `piece_len`.
    fn raw_info(len: i64, piece_len: i64) -> Vec<u8> {
        let pieces = ((len + piece_len - 1) / piece_len) as usize;
        let mut d = BTreeMap::new();
        d.insert(b"length".to_vec(), Value::Int(len));
        d.insert(b"name".to_vec(), Value::Bytes(b"f.bin".to_vec()));
        d.insert(b"piece length".to_vec(), Value::Int(piece_len));
        d.insert(b"pieces".to_vec(), Value::Bytes(vec![7; 20 * pieces]));
        crate::proto::bencode::encode(&Value::Dict(d))
    }

    #[test]
    fn fetched_metadata_becomes_a_metainfo_with_the_magnets_trackers() {
        let tiers = vec![
            vec!["http://127.0.0.1:1/a".to_string()],
            vec!["udp://127.0.0.1:2".to_string()],
        ];
        let ih = InfoHash([3; 20]);
        let m = from_metadata(raw_info(40_000, 16384), ih, &tiers).unwrap();
        assert_eq!(m.info_hash, ih);
        assert_eq!(m.announce.as_deref(), Some("http://127.0.0.1:1/a"));
        assert_eq!(m.announce_list, tiers);
        assert_eq!(m.info.piece_count(), 3);
        assert!(
            from_metadata(raw_info(40_000, 16384), ih, &[])
                .unwrap()
                .announce
                .is_none()
        );
    }

    #[test]
    fn metadata_that_is_no_torrent_is_a_typed_failure() {
        let e = from_metadata(b"d4:name1:xe".to_vec(), InfoHash([0; 20]), &[]).unwrap_err();
        assert!(matches!(e, TorrentError::BadMetadata(_)), "{e}");
    }

    #[test]
    fn a_wanted_piece_past_the_end_names_itself() {
        assert!(check_wanted(None, 4).is_ok());
        assert!(check_wanted(Some(&[0, 3]), 4).is_ok());
        let e = check_wanted(Some(&[1, 9, 12]), 4).unwrap_err();
        assert!(
            matches!(e, TorrentError::NoSuchPiece { piece: 9, count: 4 }),
            "{e}"
        );
    }

    #[test]
    fn the_picker_wants_only_the_wanted_pieces() {
        let info = Info::from_bytes(&raw_info(40_000, 16384)).unwrap();
        let picker = new_picker(&info, Some(&[1]), 1);
        assert_eq!(picker.bytes_left(), 16384);
        let all = new_picker(&info, None, 1);
        assert_eq!(all.bytes_left(), 40_000);
    }
}
