#![allow(clippy::unwrap_used)]
//! Fast resume through the engine (issue 16): a torrent whose data is on disk is hashed in
//! full once; with its resume data, a restart trusts unchanged files without reading them,
//! re-checks only the pieces of a file that changed, refuses to start when a file with
//! verified data is gone, and sets a corrupt resume file aside. In-process, no network (the
//! engine listens on 127.0.0.1 only).

use fast_peer::engine::create::{CreateOptions, create_torrent};
use fast_peer::engine::event::EngineEvent;
use fast_peer::engine::storage::OutputTarget;
use fast_peer::engine::{AddTorrent, EngineConfig, spawn};
use fast_peer::proto::metainfo::Metainfo;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Content of three files (`a` 100 KiB, `b` 70 KiB, `c` 90 KiB) in `dir/content`, and its
/// torrent with 32 KiB pieces.
fn content(dir: &Path) -> Arc<Metainfo> {
    let root = dir.join("content");
    std::fs::create_dir_all(&root).unwrap();
    for (name, len, seed) in [
        ("a", 100 << 10, 1u8),
        ("b", 70 << 10, 2),
        ("c", 90 << 10, 3),
    ] {
        let data: Vec<u8> = (0..len)
            .map(|i: usize| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect();
        std::fs::write(root.join(name), data).unwrap();
    }
    let mut opts = CreateOptions::new(&root);
    opts.piece_length = Some(32 << 10);
    Arc::new(create_torrent(&opts, |_, _| {}).unwrap().metainfo)
}

/// What one start of the torrent showed: pieces hashed (from `Checking` events), whether it
/// completed, and its failure if any.
#[derive(Debug, Default)]
struct Start {
    checked: Option<u32>,
    completed: bool,
    failed: Option<String>,
}

/// Start an engine with `resume_dir`, add the torrent over the data in `dir`, wait until it
/// completes or fails, and shut down (which saves the resume data).
async fn start(meta: &Arc<Metainfo>, dir: &Path, resume_dir: &Path) -> Start {
    let config = EngineConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        resume_dir: Some(resume_dir.to_path_buf()),
        ..EngineConfig::default()
    };
    let (handle, mut events) = spawn(config).await.unwrap();
    handle
        .add_torrent(AddTorrent {
            settings: Default::default(),
            metainfo: meta.clone(),
            target: OutputTarget::Dir(dir.to_path_buf()),
            peers: Vec::new(),
            wanted_pieces: None,
            use_trackers: false,
            seed_only: false,
        })
        .await
        .unwrap();
    let mut seen = Start::default();
    let wait = async {
        while let Some(ev) = events.recv().await {
            match ev {
                EngineEvent::Checking { total, .. } => seen.checked = Some(total),
                EngineEvent::Completed { .. } => {
                    seen.completed = true;
                    break;
                }
                EngineEvent::Failed { error, .. } => {
                    seen.failed = Some(error);
                    break;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .expect("the torrent completes or fails");
    handle.shutdown().await;
    seen
}

fn resume_file(resume_dir: &Path, meta: &Metainfo) -> PathBuf {
    resume_dir.join(format!("{}.resume", meta.info_hash))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_data_resumes_without_a_check_and_changes_are_rechecked() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = content(tmp.path());
    let pieces = meta.info.piece_count();
    let resume_dir = tmp.path().join("session");
    std::fs::create_dir_all(&resume_dir).unwrap();

    // first start: no resume data, everything is hashed
    let first = start(&meta, tmp.path(), &resume_dir).await;
    assert!(first.completed, "{first:?}");
    assert_eq!(first.checked, Some(pieces));
    assert!(
        resume_file(&resume_dir, &meta).exists(),
        "saved at shutdown"
    );

    // second start: nothing changed, nothing is read
    let second = start(&meta, tmp.path(), &resume_dir).await;
    assert!(second.completed, "{second:?}");
    assert_eq!(second.checked, None, "unchanged files are trusted");

    // `b` (bytes 100 KiB .. 170 KiB: pieces 3, 4, 5) was touched: only its pieces are hashed
    let b = tmp.path().join("content").join("b");
    let f = std::fs::File::options().write(true).open(&b).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(f);
    let third = start(&meta, tmp.path(), &resume_dir).await;
    assert!(third.completed, "{third:?}");
    assert_eq!(third.checked, Some(3), "only the changed file's pieces");

    // a file with verified data is gone: a clear failure, nothing downloaded over it
    std::fs::remove_file(tmp.path().join("content").join("c")).unwrap();
    let fourth = start(&meta, tmp.path(), &resume_dir).await;
    let error = fourth.failed.expect("fails");
    assert!(
        error.contains("missing files") && error.contains("content/c"),
        "{error}"
    );
    assert!(!tmp.path().join("content").join("c").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_resume_file_is_set_aside_and_the_data_checked_in_full() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = content(tmp.path());
    let resume_dir = tmp.path().join("session");
    std::fs::create_dir_all(&resume_dir).unwrap();
    let file = resume_file(&resume_dir, &meta);
    std::fs::write(&file, b"d11:file-format3:xyz").unwrap();
    let s = start(&meta, tmp.path(), &resume_dir).await;
    assert!(s.completed, "{s:?}");
    assert_eq!(s.checked, Some(meta.info.piece_count()));
    let mut bad = file.clone().into_os_string();
    bad.push(".bad");
    assert!(Path::new(&bad).exists(), "the corrupt file is kept aside");
    // and a good one replaced it at shutdown
    let again = start(&meta, tmp.path(), &resume_dir).await;
    assert_eq!(again.checked, None);
}
