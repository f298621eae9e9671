//! Engine commands the dashboard uses: pause (peers closed, state kept), resume (the download
//! completes), and remove with data (files deleted). In-process demo swarm on 127.0.0.1.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use fast_peer::demo::{DEMO_NAME, DemoOptions, DemoSwarm, SeederProfile};
use fast_peer::engine::event::{EngineEvent, TorrentState};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_remove_with_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = DemoOptions {
        dir: Some(dir.path().join("demo")),
        seeders: 1,
        size: 4 << 20,
    };
    let slow = SeederProfile {
        label: "slow".into(),
        upload_limit: Some(512 << 10),
        corrupt_piece_one_in: None,
        ..Default::default()
    };
    let swarm = DemoSwarm::start_with(opts, vec![slow])
        .await
        .expect("swarm");
    let out = dir.path().join("download");
    let (handle, mut events, id) = swarm.start_leecher(&out).await.expect("leecher");
    let run = async {
        // downloading with a peer
        loop {
            if let Some(EngineEvent::Snapshot(s)) = events.recv().await
                && s.torrents
                    .iter()
                    .any(|t| t.id == id && !t.peers.is_empty() && t.pieces_verified > 0)
            {
                break;
            }
        }
        handle.pause(id);
        let paused_at = loop {
            if let Some(EngineEvent::Snapshot(s)) = events.recv().await
                && let Some(t) = s.torrents.iter().find(|t| t.id == id)
                && t.state == TorrentState::Paused
                && t.peers.is_empty()
            {
                break t.pieces_verified;
            }
        };
        assert!(paused_at > 0, "verified pieces are kept while paused");
        handle.resume(id);
        loop {
            if let Some(EngineEvent::Completed { id: i }) = events.recv().await
                && i == id
            {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("pause, resume and complete in time");
    swarm
        .verify(&out)
        .await
        .expect("the download is complete and correct");
    assert!(out.join(DEMO_NAME).exists());
    handle.remove_with_data(id).await;
    assert!(
        !out.join(DEMO_NAME).exists(),
        "remove with data deletes the files and the empty folders"
    );
    handle.shutdown().await;
    swarm.shutdown().await;
}
