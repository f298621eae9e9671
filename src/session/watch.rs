//! The clients watching the session over the control socket (attached dashboards): each gets
//! the torrents as they are when it attaches, then every engine event and a picture a few
//! times a second, as JSON lines (see [`super::protocol`]).
//!
//! An event is serialized once for every watcher. A watcher that falls behind misses pictures
//! (the next one replaces them); one that falls [`WATCH_QUEUE`] chunks behind is dropped, and
//! its dashboard says so, rather than holding events in memory without bound.

use super::control::{WATCH_QUEUE, WatchQueue};
use crate::engine::event::EngineEvent;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::error::TrySendError;

/// How often watchers get a picture of the engine.
pub const PICTURE_INTERVAL: Duration = Duration::from_millis(250);

/// The watching clients' queues.
#[derive(Default)]
pub struct Watchers {
    queues: Vec<WatchQueue>,
}

/// Events as JSON lines, one chunk.
fn lines<'a>(events: impl IntoIterator<Item = &'a EngineEvent>) -> Arc<[u8]> {
    let mut out = Vec::new();
    for ev in events {
        // every event type serializes (ids, numbers, strings, validated bytes); a failure
        // would be a bug, and skipping that one event is the safe answer
        match serde_json::to_writer(&mut out, ev) {
            Ok(()) => out.push(b'\n'),
            Err(e) => tracing::warn!("watch: an event did not serialize: {e}"),
        }
    }
    out.into()
}

impl Watchers {
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// A new watcher, first told `replay` (the session as it is now).
    pub fn attach(&mut self, queue: WatchQueue, replay: &[EngineEvent]) {
        // a fresh queue has room for its first chunk
        if queue.try_send(lines(replay)).is_ok() {
            self.queues.push(queue);
        }
    }

    /// Tell every watcher about `ev`.
    pub fn publish(&mut self, ev: &EngineEvent) {
        self.queues.retain(|q| !q.is_closed());
        if self.queues.is_empty() {
            return;
        }
        let chunk = lines([ev]);
        let picture = matches!(ev, EngineEvent::Snapshot(_));
        self.queues.retain(|q| match q.try_send(chunk.clone()) {
            Ok(()) => true,
            // a slow watcher misses a picture; the next one replaces it
            Err(TrySendError::Full(_)) if picture => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!("watch: a client fell {WATCH_QUEUE} events behind; dropped");
                false
            }
            Err(TrySendError::Closed(_)) => false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn decode(chunk: &[u8]) -> Vec<String> {
        std::str::from_utf8(chunk)
            .unwrap()
            .lines()
            .map(|l| {
                let ev: EngineEvent = serde_json::from_str(l).unwrap();
                format!("{ev:?}")
            })
            .collect()
    }

    #[tokio::test]
    async fn a_watcher_gets_the_replay_then_the_events_in_order() {
        let mut w = Watchers::default();
        let (q, mut rx) = mpsc::channel(WATCH_QUEUE);
        let replay = [
            EngineEvent::TorrentAdded {
                id: 1,
                info_hash: Default::default(),
                name: "a".into(),
            },
            EngineEvent::Completed { id: 1 },
        ];
        w.attach(q, &replay);
        w.publish(&EngineEvent::TorrentRemoved { id: 1 });
        let first = decode(&rx.recv().await.unwrap());
        assert_eq!(first.len(), 2);
        assert!(first[0].contains("TorrentAdded"));
        let second = decode(&rx.recv().await.unwrap());
        assert_eq!(second, vec!["TorrentRemoved { id: 1 }".to_string()]);
    }

    #[tokio::test]
    async fn a_slow_watcher_misses_pictures_and_is_dropped_when_far_behind() {
        let mut w = Watchers::default();
        let (q, mut rx) = mpsc::channel(WATCH_QUEUE);
        w.attach(q, &[]);
        for _ in 0..WATCH_QUEUE + 10 {
            w.publish(&EngineEvent::Snapshot(Box::default()));
        }
        assert!(!w.is_empty(), "pictures alone never drop a watcher");
        rx.recv().await.unwrap();
        // one free slot: the first event fits, the second finds the queue full
        w.publish(&EngineEvent::Completed { id: 1 });
        assert!(!w.is_empty());
        w.publish(&EngineEvent::Completed { id: 2 });
        assert!(w.is_empty(), "a watcher that cannot take events is dropped");
    }

    #[tokio::test]
    async fn a_watcher_that_left_is_forgotten() {
        let mut w = Watchers::default();
        let (q, rx) = mpsc::channel(WATCH_QUEUE);
        w.attach(q, &[]);
        drop(rx);
        w.publish(&EngineEvent::Completed { id: 1 });
        assert!(w.is_empty());
    }
}
