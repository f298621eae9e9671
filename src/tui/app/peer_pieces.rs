//! The selected peer's pieces on the piece map. The engine's pictures carry no bitfields
//! (hundreds of peers times 100 000 pieces, ten times a second), so the dashboard asks for the
//! one peer it shows: an [`Effect::PeerPieces`] when the selected peer changes, again every
//! [`PEER_PIECES_REFRESH`] while it stays selected, and only while the Pieces pane is on
//! screen. The answer comes back as [`Action::PeerPieces`].

use super::{App, Effect};
use crate::engine::event::TorrentId;
use crate::proto::bitfield::Bitfield;
use crate::tui::action::Pane;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How often the selected peer's pieces are asked for again.
pub const PEER_PIECES_REFRESH: Duration = Duration::from_secs(1);

/// The pieces one peer of one torrent has, as the engine last answered.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerPieces {
    pub torrent: TorrentId,
    pub addr: SocketAddr,
    pub bits: Bitfield,
}

impl App {
    /// `v`: the overlay off, or on (for the peer selected in the Peers pane; the first row
    /// when none was chosen).
    pub(super) fn toggle_peer_pieces(&mut self) {
        if self.peer_overlay && self.peer.is_some() {
            self.peer_overlay = false;
            return;
        }
        self.peer_overlay = true;
        if self.peer.is_none() {
            self.peer = self.selected_peer().map(|p| p.addr);
        }
    }

    /// The peer whose pieces the screen wants now: the selected torrent's selected peer,
    /// while it is connected, the overlay is on and the piece map is on screen.
    fn peer_pieces_target(&self) -> Option<(TorrentId, SocketAddr)> {
        if !self.peer_overlay || self.pane != Pane::Pieces {
            return None;
        }
        let t = self.torrent()?;
        let addr = self.peer?;
        t.peers
            .iter()
            .any(|p| p.addr == addr)
            .then_some((t.id, addr))
    }

    /// Ask for the target's pieces when it changed, or when the last answer is old.
    pub(super) fn sync_peer_pieces(&mut self, now: Instant) {
        let Some((torrent, addr)) = self.peer_pieces_target() else {
            return;
        };
        let due = match self.peer_pieces_asked {
            Some((t, a, at)) if (t, a) == (torrent, addr) => {
                now.saturating_duration_since(at) >= PEER_PIECES_REFRESH
            }
            _ => true,
        };
        if due {
            self.peer_pieces_asked = Some((torrent, addr, now));
            self.effects.push(Effect::PeerPieces { torrent, addr });
        }
    }

    /// The engine's answer: kept for the piece map, or forgotten when the peer is gone.
    pub(super) fn on_peer_pieces(
        &mut self,
        torrent: TorrentId,
        addr: SocketAddr,
        bits: Option<Bitfield>,
    ) {
        match bits {
            Some(bits) => {
                self.peer_pieces = Some(PeerPieces {
                    torrent,
                    addr,
                    bits,
                })
            }
            None => {
                if self
                    .peer_pieces
                    .as_ref()
                    .is_some_and(|p| (p.torrent, p.addr) == (torrent, addr))
                {
                    self.peer_pieces = None;
                }
            }
        }
    }

    /// What the piece map overlays: the selected peer's pieces, when the overlay is on and
    /// the answer is about that peer of the selected torrent (and fits its piece count).
    pub fn shown_peer_pieces(&self) -> Option<&PeerPieces> {
        let p = self.peer_pieces.as_ref()?;
        let t = self.torrent()?;
        (self.peer_overlay
            && self.peer == Some(p.addr)
            && t.id == p.torrent
            && p.bits.len() as usize == t.pieces.len())
        .then_some(p)
    }
}
