//! The session's answers to the controls a user changes while it runs: a torrent's settings
//! (files, order, limits: remembered in its record), the engine-wide limits and the queue
//! (the order is remembered: each record keeps its place).

use super::Session;
use super::protocol::{LimitsChange, QueueMove, Response, SettingsChange};
use crate::proto::id::InfoHash;

impl Session {
    /// `set`: apply `change` to each torrent, remember it, tell the engine.
    pub(super) fn set(&mut self, hashes: &[String], change: &SettingsChange) -> Response {
        if let Some(files) = &change.files
            && let Err(e) = files.validate()
        {
            return Response::error(e);
        }
        self.for_each(hashes, |s, h| s.set_one(h, change))
    }

    fn set_one(&mut self, h: &InfoHash, change: &SettingsChange) -> Result<(), String> {
        let Some(e) = self.torrents.get_mut(h) else {
            return Err(format!("no torrent {h}"));
        };
        e.state.settings = change.apply(e.state.settings.clone());
        self.store
            .set_state(h, &e.state)
            .map_err(|err| format!("remember {h}: {err}"))?;
        self.engine.set_settings(e.id, e.state.settings.clone());
        Ok(())
    }

    /// `limits`: the engine-wide limits and the queue, until the instance stops.
    pub(super) fn limits(&mut self, change: &LimitsChange) -> Response {
        let (global, queue) = change.apply(self.global_limits, self.queue_limits);
        self.global_limits = global;
        self.queue_limits = queue;
        self.engine.set_global_limits(global);
        self.engine.set_queue_limits(queue);
        Response::ok()
    }

    /// `queue`: move one torrent; every record remembers its new place.
    pub(super) async fn queue(&mut self, hash: &str, to: QueueMove) -> Response {
        let h = match self.find(hash) {
            Ok(h) => h,
            Err(e) => return Response::error(e),
        };
        let mut order: Vec<InfoHash> = self.torrents.keys().copied().collect();
        order.sort_by_key(|h| {
            let e = &self.torrents[h];
            (e.state.queue, e.state.added_at, e.id)
        });
        let order = to.apply(&order, h);
        let mut failed = Vec::new();
        for (place, h) in order.iter().enumerate() {
            if let Some(e) = self.torrents.get_mut(h)
                && e.state.queue != place as u64
            {
                e.state.queue = place as u64;
                if let Err(err) = self.store.set_state(h, &e.state) {
                    failed.push(format!("remember {h}: {err}"));
                }
            }
        }
        let ids = order
            .iter()
            .filter_map(|h| self.torrents.get(h).map(|e| e.id));
        self.engine.set_queue_order(ids.collect());
        let mut r = Response::ok();
        r.ok = failed.is_empty();
        r.errors = failed;
        r
    }
}
