//! Changes the dashboard asked for, held over the engine's pictures until one shows them.
//!
//! A key that changes a torrent's files, its order or a limit, or moves it in the queue, is
//! shown at once: the model is changed and the effect sent. The next picture may have been
//! taken before the engine applied it and would briefly undo it on screen, and a second key
//! pressed then would start from the stale value (two Spaces would send the same list
//! twice). So each change is [`Held`]: a picture that does not show it yet gets it written
//! in, until one does, or [`PICTURES`] pictures later (the engine refused it, or changed it on
//! its way: then the engine's word stands).

use crate::engine::event::{EngineSnapshot, TorrentId};
use crate::engine::queue::QueueLimits;
use crate::engine::settings::{GlobalLimits, TorrentSettings};
use crate::proto::metainfo::Metainfo;
use std::collections::HashMap;
use std::sync::Arc;

/// How many pictures (about ten a second) a change is held over at most.
pub const PICTURES: u8 = 30;

/// The changes waiting to show in a picture, each with the pictures it may still be held.
#[derive(Debug, Clone, Default)]
pub struct Held {
    settings: HashMap<TorrentId, (TorrentSettings, u8)>,
    limits: Option<((GlobalLimits, QueueLimits), u8)>,
    queue: Option<(Vec<TorrentId>, u8)>,
}

/// `held` written over `now` unless `now` shows it already or its time is up (then dropped).
fn hold_one<T: PartialEq + Clone>(held: &mut Option<(T, u8)>, now: &mut T) {
    let Some((want, left)) = held.as_mut() else {
        return;
    };
    if *want == *now || *left == 0 {
        *held = None;
    } else {
        *left -= 1;
        *now = want.clone();
    }
}

impl Held {
    pub fn settings(&mut self, id: TorrentId, settings: TorrentSettings) {
        self.settings.insert(id, (settings, PICTURES));
    }

    pub fn limits(&mut self, global: GlobalLimits, queue: QueueLimits) {
        self.limits = Some(((global, queue), PICTURES));
    }

    pub fn queue(&mut self, order: Vec<TorrentId>) {
        self.queue = Some((order, PICTURES));
    }

    /// Write what is held into picture `s` (a torrent's file priorities follow its settings,
    /// when its metainfo is known).
    pub fn hold(&mut self, s: &mut EngineSnapshot, metainfo: &HashMap<TorrentId, Arc<Metainfo>>) {
        self.settings.retain(|id, (want, left)| {
            let t = s.torrents.iter_mut().find(|t| t.id == *id);
            if *left == 0 || t.as_ref().is_some_and(|t| t.settings == *want) {
                return false;
            }
            *left -= 1;
            if let Some(t) = t {
                t.settings = want.clone();
                if let Some(m) = metainfo.get(id) {
                    t.files = want.wants.file_priorities(&m.info).into();
                }
            }
            true
        });
        let mut limits = (s.limits, s.queue_limits);
        hold_one(&mut self.limits, &mut limits);
        (s.limits, s.queue_limits) = limits;
        hold_one(&mut self.queue, &mut s.queue);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_held_until_a_picture_shows_it_or_its_time_is_up() {
        let mut h = Held::default();
        let order = vec![2, 1];
        h.queue(order.clone());
        let mut now = vec![1, 2];
        for _ in 0..PICTURES {
            let mut s = now.clone();
            hold_one(&mut h.queue, &mut s);
            assert_eq!(s, order, "held");
        }
        hold_one(&mut h.queue, &mut now);
        assert_eq!(now, [1, 2], "time up: the engine's word stands");
        assert!(h.queue.is_none());
        h.queue(order.clone());
        let mut shown = order.clone();
        hold_one(&mut h.queue, &mut shown);
        assert!(h.queue.is_none(), "shown: no longer held");
    }
}
