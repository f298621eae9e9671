//! What a peer says: every message in, BEP 3 state changes, the BEP 6 Fast messages, and
//! the BEP 10 extensions (extension handshake, BEP 9 metadata requests, BEP 11 PEX).

use super::Session;
use crate::engine::error::PeerError;
use crate::engine::event::Direction;
use crate::engine::pipeline::MAX_PIPELINE;
use crate::engine::torrent::shared::TorrentMsg;
use crate::proto::bitfield::Bitfield;
use crate::proto::extension::{
    ExtensionHandshake, METADATA_PIECE_SIZE, MetadataMessage, OUR_UT_METADATA_ID, OUR_UT_PEX_ID,
    PexMessage, UT_METADATA, UT_PEX, pex_flags,
};
use crate::proto::message::{BlockRef, Message};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl Session {
    /// Handle every whole message that arrived.
    pub(super) async fn process_input(&mut self) -> Result<(), PeerError> {
        while let Some(msg) = self.conn.next_message(self.max_message_len)? {
            self.handle(msg).await?;
        }
        Ok(())
    }

    pub(super) fn protocol<T>(&self, what: String) -> Result<T, PeerError> {
        Err(PeerError::Protocol(what))
    }

    pub(super) async fn handle(&mut self, msg: Message) -> Result<(), PeerError> {
        self.stats.note(Direction::In, &msg);
        let first = !self.got_first_message;
        // Bitfield / have all / have none must come first, but the BEP 10 extension handshake
        // (libtorrent sends it before its bitfield) and the DHT port may precede them.
        if !matches!(
            msg,
            Message::KeepAlive | Message::Extended { .. } | Message::Port(_)
        ) {
            self.got_first_message = true;
        }
        let piece_count = self.have.len();
        match msg {
            Message::KeepAlive => {}
            Message::Choke => {
                tracing::debug!(
                    peer = self.key,
                    outstanding = self.outstanding.len(),
                    "choked"
                );
                self.peer_choking = true;
                self.stats.peer_choking.store(true, Ordering::Relaxed);
                if !self.fast {
                    // BEP 3: choking discards our pending requests
                    self.release_all();
                }
            }
            Message::Unchoke => {
                tracing::debug!(peer = self.key, "unchoked");
                self.peer_choking = false;
                self.stats.peer_choking.store(false, Ordering::Relaxed);
                self.fill_requests();
            }
            Message::Interested | Message::NotInterested => {
                let interested = matches!(msg, Message::Interested);
                if interested != self.peer_interested {
                    self.peer_interested = interested;
                    self.stats
                        .peer_interested
                        .store(interested, Ordering::Relaxed);
                    let _ = self
                        .shared
                        .events
                        .send(TorrentMsg::PeerInterest {
                            key: self.key,
                            interested,
                        })
                        .await;
                }
            }
            Message::Have { index } => {
                if index >= piece_count {
                    return self.protocol(format!("have for piece {index} of {piece_count}"));
                }
                if self.have.set(index) {
                    self.shared.picker().peer_has(index);
                    self.stats
                        .pieces
                        .store(self.have.count_ones(), Ordering::Relaxed);
                    self.update_interest();
                }
            }
            Message::Bitfield(bytes) => {
                let bf = Bitfield::from_bytes(&bytes, piece_count)
                    .map_err(|e| PeerError::Protocol(e.to_string()))?;
                self.merge_have(bf, first);
            }
            Message::HaveAll | Message::HaveNone if !self.fast => {
                return self.protocol("fast extension message without the fast bit".into());
            }
            // aria2 1.36 sends its bitfield again after its allowed-fast set and a have all
            // when it completes: a late one adds pieces like a run of `have`s
            Message::HaveAll => self.merge_have(Bitfield::full(piece_count), first),
            Message::HaveNone => {}
            Message::Request(r) => self.on_request(r)?,
            Message::Piece {
                index,
                begin,
                block,
            } => {
                let r = BlockRef {
                    index,
                    begin,
                    length: block.len() as u32,
                };
                self.on_block(r, block).await?;
            }
            Message::Cancel(r) => {
                if let Some(pos) = self.upload_queue.iter().position(|q| *q == r) {
                    self.upload_queue.remove(pos);
                    // BEP 6: with the Fast extension every request gets a piece or a reject
                    if self.fast {
                        self.send(Message::Reject(r));
                    }
                }
            }
            Message::Reject(r) => {
                if !self.fast {
                    return self.protocol("reject without the fast extension".into());
                }
                tracing::debug!(peer = self.key, ?r, "rejected");
                if let Some(pos) = self.outstanding.iter().position(|(o, _)| *o == r) {
                    self.outstanding.remove(pos);
                    self.shared.picker().release(self.key, &r);
                    self.fill_requests();
                }
            }
            Message::AllowedFast { index } => {
                if !self.fast {
                    return self.protocol("allowed fast without the fast extension".into());
                }
                // an index out of range is ignored, as BEP 6 allows sets computed for the swarm
                if self.allowed_in.set(index) && self.peer_choking {
                    self.fill_requests();
                }
            }
            Message::Port(port) => {
                // BEP 5: the peer runs a DHT node on this UDP port; it is pinged and added
                // to the routing table if it answers
                if let Some(dht) = &self.shared.dht
                    && port != 0
                {
                    dht.add_node(SocketAddr::new(self.remote.ip(), port));
                }
            }
            Message::Suggest { .. } => {}
            Message::Extended { id, payload } => self.on_extended(id, &payload)?,
        }
        Ok(())
    }

    pub(super) fn apply_extension_handshake(&mut self, ext: &ExtensionHandshake) {
        self.stats.detail().extension = Some(Arc::new(ext.clone()));
        let id = |name: &str| ext.m.get(name).copied().filter(|id| *id != 0);
        self.their_metadata_id = id(UT_METADATA);
        self.their_pex_id = if self.shared.info.private {
            None
        } else {
            id(UT_PEX)
        };
        if let Some(q) = ext.reqq {
            self.their_reqq = (q as usize).clamp(1, MAX_PIPELINE);
        }
        self.stats
            .pex
            .store(self.their_pex_id.is_some(), Ordering::Relaxed);
    }

    /// BEP 10 messages: the extension handshake, BEP 9 metadata requests, BEP 11 PEX.
    pub(super) fn on_extended(&mut self, id: u8, payload: &[u8]) -> Result<(), PeerError> {
        match id {
            0 => {
                let ext = ExtensionHandshake::decode(payload)
                    .map_err(|e| PeerError::Protocol(format!("extension handshake: {e}")))?;
                self.apply_extension_handshake(&ext);
            }
            OUR_UT_METADATA_ID => {
                let msg = MetadataMessage::decode(payload)
                    .map_err(|e| PeerError::Protocol(format!("ut_metadata: {e}")))?;
                if let (MetadataMessage::Request { piece }, Some(their_id)) =
                    (msg, self.their_metadata_id)
                {
                    let raw = &self.shared.raw_info;
                    let start = piece as usize * METADATA_PIECE_SIZE;
                    let reply = if raw.is_empty() || start >= raw.len() {
                        MetadataMessage::Reject { piece }
                    } else {
                        let end = (start + METADATA_PIECE_SIZE).min(raw.len());
                        MetadataMessage::Data {
                            piece,
                            total_size: raw.len() as u32,
                            data: raw.slice(start..end),
                        }
                    };
                    self.send(Message::Extended {
                        id: their_id,
                        payload: Bytes::from(reply.encode()),
                    });
                }
            }
            OUR_UT_PEX_ID => {
                if self.shared.info.private {
                    return Ok(()); // BEP 27: no peer exchange for private torrents
                }
                let now = Instant::now();
                // BEP 11 allows one message a minute; ignore a peer that floods
                if self
                    .last_pex_in
                    .is_some_and(|t| now.duration_since(t) < Duration::from_secs(30))
                {
                    return Ok(());
                }
                self.last_pex_in = Some(now);
                if let Ok(msg) = PexMessage::decode(payload)
                    && !msg.added.is_empty()
                {
                    // BEP 11's uTP flag: such peers are dialled over uTP first
                    for (addr, flags) in msg.added_with_flags() {
                        if flags & pex_flags::UTP != 0 {
                            self.shared.dialer.prefer_utp(addr);
                        }
                    }
                    // a hint: dropped when the torrent task is behind
                    let _ = self.shared.events.try_send(TorrentMsg::AddPeers(msg.added));
                }
            }
            _ => {} // an extension we did not announce: ignore
        }
        Ok(())
    }

    pub(super) fn send_pex(&mut self, peers: &[(std::net::SocketAddr, u8)]) {
        let Some(id) = self.their_pex_id else { return };
        let others = peers.iter().filter(|(a, _)| *a != self.remote).copied();
        if let Some(msg) = self.pex.next_message(others, Instant::now()) {
            self.send(Message::Extended {
                id,
                payload: Bytes::from(msg.encode()),
            });
        }
    }
}
