//! The engine-wide connection budget (`max_connections`): every torrent's peers count
//! against it, beside each torrent's own cap.
//!
//! A connection holds a [`Slot`] from the moment it is dialed (or accepted) until its task
//! ends, so the count cannot drift: a slot is given back when it is dropped, on every path.
//! Torrents check [`Connections::available`] before dialing; two torrents dialing at the same
//! moment may overshoot by a connection or two, which a cap meant to protect a home router
//! tolerates.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Open connections across the engine, and the cap (0: none).
#[derive(Debug, Default)]
pub struct Connections {
    open: AtomicUsize,
    max: AtomicUsize,
}

/// One connection's place in the budget; given back on drop.
#[derive(Debug)]
pub struct Slot(Arc<Connections>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connections {
    /// A budget of `max` connections (`None`: unlimited).
    pub fn new(max: Option<usize>) -> Arc<Connections> {
        let c = Arc::new(Connections::default());
        c.set_max(max);
        c
    }

    pub fn set_max(&self, max: Option<usize>) {
        self.max.store(max.unwrap_or(0), Ordering::Relaxed);
    }

    /// Connections that may still be opened (`usize::MAX` without a cap).
    pub fn available(&self) -> usize {
        match self.max.load(Ordering::Relaxed) {
            0 => usize::MAX,
            max => max.saturating_sub(self.open.load(Ordering::Relaxed)),
        }
    }

    /// Count a connection (whether or not the budget had room: the caller checked).
    pub fn take(self: &Arc<Self>) -> Slot {
        self.open.fetch_add(1, Ordering::Relaxed);
        Slot(self.clone())
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_until_dropped_and_the_cap_changes_live() {
        let c = Connections::new(Some(2));
        let a = c.take();
        assert_eq!(c.available(), 1);
        let b = c.take();
        let over = c.take();
        assert_eq!(c.available(), 0, "never negative");
        drop((a, over));
        assert_eq!((c.open(), c.available()), (1, 1));
        c.set_max(None);
        assert_eq!(c.available(), usize::MAX);
        drop(b);
        assert_eq!(c.open(), 0);
    }
}
