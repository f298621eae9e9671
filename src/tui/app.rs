//! The dashboard's model: everything it shows, and [`App::update`], the only place it changes.
//!
//! The model holds the latest engine snapshot (replaced whole, ~10 times a second), what
//! discrete engine events taught us (metainfo, errors), and the UI state (pane, selections,
//! inputs, dialogs). Commands for the engine are not run here: `update` queues [`Effect`]s and
//! the loop in [`super`] runs them, so the model stays synchronous and testable.
//!
//! A change the user asked for (files, order, limits, queue) shows at once: it is applied to
//! the model, and held over the engine's pictures until one shows it (see [`Held`]).
//!
//! `torrents` stay in id order; the Torrents list shows a view of them (sorted, filtered:
//! [`App::visible`]) and `selected` is the cursor's row in that view, so [`App::torrent`]
//! (what every pane shows) is the torrent under the cursor. The list's keys, its marks and
//! the bottleneck verdict ([`App::verdict`]) are in the child `app/torrents.rs`.
//!
//! The selected peer's pieces, which the pictures do not carry, are asked for and kept by
//! `app/peer_pieces.rs` (see [`PeerPieces`]).

mod controls;
mod dialogs;
mod mouse;
mod peer_pieces;
mod torrents;

pub use peer_pieces::{PEER_PIECES_REFRESH, PeerPieces};

use super::action::{Action, Pane, action_for};
use super::decode::DecodeState;
use super::files::FileTree;
use super::held::Held;
use super::history::History;
use super::hits::Hits;
use super::limits::LimitsForm;
use super::list::TorrentList;
use super::notify::Completions;
use crate::engine::event::{
    DhtSnapshot, EngineEvent, PeerCloseReason, PeerSnapshot, TorrentId, TorrentSnapshot,
    TorrentState,
};
use crate::engine::queue::QueueLimits;
use crate::engine::settings::{GlobalLimits, TorrentSettings};
use crate::proto::id::{InfoHash, PeerId};
use crate::proto::magnet::{self, Magnet};
use crate::proto::metainfo::Metainfo;
use crate::session::protocol::{LimitsChange, QueueMove, SettingsChange};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

/// A command for the engine, run by the event loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    AddTorrentFile(PathBuf),
    AddMagnet(Magnet),
    /// A .torrent added paused, for the user to choose its files first.
    AddTorrentFileToChoose(PathBuf),
    /// A magnet that stops once its metadata is known, for the user to choose its files.
    AddMagnetToChoose(Magnet),
    Pause(TorrentId),
    Resume(TorrentId),
    Remove {
        id: TorrentId,
        delete_data: bool,
    },
    /// Change a torrent's settings. `base`: its settings as the dashboard knows them (a bare
    /// engine takes whole settings: `change` applied to `base`).
    SetSettings {
        id: TorrentId,
        change: SettingsChange,
        base: TorrentSettings,
    },
    /// Change the engine-wide limits; `global` and `queue` are the ones in force (for a bare
    /// engine, as above).
    SetLimits {
        change: LimitsChange,
        global: GlobalLimits,
        queue: QueueLimits,
    },
    /// Move a torrent in the queue; `order` is the queue as the dashboard knows it.
    QueueMove {
        id: TorrentId,
        to: QueueMove,
        order: Vec<TorrentId>,
    },
    /// Ask which pieces a peer has (answered as `Action::PeerPieces`).
    PeerPieces {
        torrent: TorrentId,
        addr: SocketAddr,
    },
}

/// A modal question or prompt over the panes.
#[derive(Debug, Clone)]
pub enum Dialog {
    /// `q` while something downloads.
    ConfirmQuit,
    /// `d`: keep the data, delete it, or cancel. `ids`: every torrent to remove (`id` and
    /// the other marked ones); `name` says which (`3 torrents: a, b, c` for several).
    ConfirmRemove {
        id: TorrentId,
        name: String,
        ids: Vec<TorrentId>,
    },
    /// `a`: a .torrent path or a magnet, and whether to choose its files before it starts
    /// (Tab toggles it).
    AddPath { input: Input, choose_files: bool },
    /// `L`: the selected torrent's and the engine's limits.
    Limits(LimitsForm),
}

/// Peers pane sort column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerSort {
    Address,
    Client,
    Down,
    Up,
    Progress,
    Requests,
}

impl PeerSort {
    pub const ALL: [PeerSort; 6] = [
        PeerSort::Address,
        PeerSort::Client,
        PeerSort::Down,
        PeerSort::Up,
        PeerSort::Progress,
        PeerSort::Requests,
    ];

    pub fn label(self) -> &'static str {
        match self {
            PeerSort::Address => "address",
            PeerSort::Client => "client",
            PeerSort::Down => "down",
            PeerSort::Up => "up",
            PeerSort::Progress => "progress",
            PeerSort::Requests => "requests",
        }
    }

    fn next(self) -> PeerSort {
        let i = PeerSort::ALL.iter().position(|s| *s == self).unwrap_or(0);
        PeerSort::ALL[(i + 1) % PeerSort::ALL.len()]
    }
}

/// A line for the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
    /// When it was said (an old notice gives way to the selected torrent's verdict).
    pub at: std::time::Instant,
}

/// How long a notice keeps the status bar from the selected torrent's verdict (an error,
/// longer: it may need reading twice).
pub const NOTICE_FRESH: std::time::Duration = std::time::Duration::from_secs(8);
pub const ERROR_FRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// How many notices are kept (the status bar shows the last).
const NOTICES: usize = 50;

pub struct App {
    pub pane: Pane,
    /// Torrents in id order: the latest snapshot, plus torrents added since.
    pub torrents: Vec<TorrentSnapshot>,
    pub metainfo: HashMap<TorrentId, Arc<Metainfo>>,
    /// Torrents stopped by an error, and the error.
    pub failed: HashMap<TorrentId, String>,
    /// Resume check progress (checked, total).
    pub checking: HashMap<TorrentId, (u32, u32)>,
    removed: HashSet<TorrentId>,
    pub dht: Option<DhtSnapshot>,
    /// The engine-wide limits, the queue (first is first served) and its limits.
    pub limits: GlobalLimits,
    pub queue: Vec<TorrentId>,
    pub queue_limits: QueueLimits,
    /// The Files pane's tree, of the selected torrent once its metadata is known.
    pub file_tree: Option<FileTree>,
    /// Torrents added to choose their files first: by info hash until the engine names them,
    /// then by id until their metadata arrives (and the Files pane opens on them).
    choose_hashes: HashSet<InfoHash>,
    choose_ids: HashSet<TorrentId>,
    held: Held,
    pub listen_port: u16,
    pub our_peer_id: PeerId,
    /// What the notice says when the engine's events stop.
    pub engine_gone: String,
    /// The cursor's row in the Torrents list's view (sorted, filtered: see
    /// [`App::visible`]); the list follows the torrent under it, by id, in `list.cursor`.
    pub selected: usize,
    /// The Torrents list's sort, filter and marks.
    pub list: TorrentList,
    /// Selected peer (by address, so it stays put when the table re-sorts).
    pub peer: Option<SocketAddr>,
    pub peer_sort: PeerSort,
    pub peer_sort_reverse: bool,
    pub rarity: bool,
    /// The piece map marks the selected peer's pieces (`v`).
    pub peer_overlay: bool,
    /// The selected peer's pieces, as last answered, and the last time they were asked for.
    pub peer_pieces: Option<PeerPieces>,
    peer_pieces_asked: Option<(TorrentId, SocketAddr, std::time::Instant)>,
    pub help: bool,
    pub dialog: Option<Dialog>,
    pub magnet: Input,
    /// The magnet input has the keyboard.
    pub magnet_focus: bool,
    pub decode: DecodeState,
    /// The decode pane's input (path or bencode) has the keyboard.
    pub decode_input: Option<Input>,
    /// Scroll offset of the DHT, Metadata and Handshake panes.
    pub scroll: u16,
    pub notices: VecDeque<Notice>,
    /// The recent past of every torrent's and peer's rates (the charts).
    pub history: History,
    pub effects: Vec<Effect>,
    /// Where the last frame drew what the mouse can reach.
    pub hits: Hits,
    /// Downloads that finished here, for the loop to ring and notify about.
    pub completions: Completions,
    pub should_quit: bool,
}

impl App {
    pub fn new(our_peer_id: PeerId) -> App {
        App {
            pane: Pane::Torrents,
            torrents: Vec::new(),
            metainfo: HashMap::new(),
            failed: HashMap::new(),
            checking: HashMap::new(),
            removed: HashSet::new(),
            dht: None,
            limits: GlobalLimits::default(),
            queue: Vec::new(),
            queue_limits: QueueLimits::default(),
            file_tree: None,
            choose_hashes: HashSet::new(),
            choose_ids: HashSet::new(),
            held: Held::default(),
            listen_port: 0,
            our_peer_id,
            engine_gone: "the engine stopped".into(),
            selected: 0,
            list: TorrentList::default(),
            peer: None,
            peer_sort: PeerSort::Down,
            peer_sort_reverse: false,
            rarity: false,
            peer_overlay: true,
            peer_pieces: None,
            peer_pieces_asked: None,
            help: false,
            dialog: None,
            magnet: Input::default(),
            magnet_focus: false,
            decode: DecodeState::default(),
            decode_input: None,
            scroll: 0,
            notices: VecDeque::new(),
            history: History::default(),
            effects: Vec::new(),
            hits: Hits::default(),
            completions: Completions::default(),
            should_quit: false,
        }
    }

    /// The torrent under the cursor (in the list's visible order), if any.
    pub fn torrent(&self) -> Option<&TorrentSnapshot> {
        let view = self.visible();
        view.get(self.selected.min(view.len().saturating_sub(1)))
            .copied()
    }

    /// The state to show: errors and resume checks override the snapshot's picture.
    pub fn state_of(&self, t: &TorrentSnapshot) -> TorrentState {
        if self.failed.contains_key(&t.id) {
            TorrentState::Failed
        } else {
            t.state
        }
    }

    /// The selected torrent's peers in the chosen order.
    pub fn sorted_peers(&self) -> Vec<&PeerSnapshot> {
        let Some(t) = self.torrent() else {
            return Vec::new();
        };
        let mut v: Vec<&PeerSnapshot> = t.peers.iter().collect();
        match self.peer_sort {
            PeerSort::Address => v.sort_by_key(|p| p.addr),
            PeerSort::Client => v.sort_by_key(|p| (p.peer_id.client().unwrap_or_default(), p.addr)),
            PeerSort::Down => v.sort_by(|a, b| {
                b.download_rate
                    .total_cmp(&a.download_rate)
                    .then(a.addr.cmp(&b.addr))
            }),
            PeerSort::Up => v.sort_by(|a, b| {
                b.upload_rate
                    .total_cmp(&a.upload_rate)
                    .then(a.addr.cmp(&b.addr))
            }),
            PeerSort::Progress => v.sort_by_key(|p| (std::cmp::Reverse(p.pieces), p.addr)),
            PeerSort::Requests => {
                v.sort_by_key(|p| (std::cmp::Reverse(p.requests_in_flight), p.addr))
            }
        }
        if self.peer_sort_reverse {
            v.reverse();
        }
        v
    }

    /// The selected peer of the selected torrent (the first one if none was chosen).
    pub fn selected_peer(&self) -> Option<&PeerSnapshot> {
        let peers = self.sorted_peers();
        self.peer
            .and_then(|a| peers.iter().find(|p| p.addr == a).copied())
            .or(peers.first().copied())
    }

    /// Whether quitting now would interrupt a download.
    pub fn downloading(&self) -> bool {
        self.torrents.iter().any(|t| {
            matches!(
                self.state_of(t),
                TorrentState::Downloading | TorrentState::FetchingMetadata | TorrentState::Checking
            )
        })
    }

    pub fn notify(&mut self, text: impl Into<String>, error: bool) {
        if self.notices.len() >= NOTICES {
            self.notices.pop_front();
        }
        self.notices.push_back(Notice {
            text: text.into(),
            error,
            at: std::time::Instant::now(),
        });
    }

    /// Whether a text input has the keyboard (keys type instead of acting).
    pub fn typing(&self) -> bool {
        matches!(
            self.dialog,
            Some(Dialog::AddPath { .. } | Dialog::Limits(_))
        ) || (self.pane == Pane::Magnet && self.magnet_focus)
            || (self.pane == Pane::Decode && self.decode_input.is_some())
            || (self.pane == Pane::Torrents && self.list.filtering)
    }

    /// Translate a key press into an action, given what has the keyboard.
    pub fn action_for_key(&self, key: KeyEvent) -> Option<Action> {
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl_c {
            return Some(Action::ForceQuit);
        }
        if self.help {
            return Some(Action::ToggleHelp);
        }
        if matches!(
            self.dialog,
            Some(Dialog::ConfirmQuit | Dialog::ConfirmRemove { .. })
        ) {
            return Some(match key.code {
                KeyCode::Esc => Action::Cancel,
                _ => Action::Key(key),
            });
        }
        if self.typing() {
            return Some(match key.code {
                KeyCode::Enter => Action::Select,
                KeyCode::Esc => Action::Cancel,
                KeyCode::Tab if self.dialog.is_none() => Action::NextPane,
                KeyCode::BackTab if self.dialog.is_none() => Action::PrevPane,
                _ => Action::Key(key),
            });
        }
        action_for(&key, self.pane)
    }

    /// Feed a key: translate it and apply it.
    pub fn handle_key(&mut self, key: KeyEvent) {
        if let Some(a) = self.action_for_key(key) {
            self.update(a);
        }
    }

    /// Apply one action.
    pub fn update(&mut self, action: Action) {
        let before = self.selected;
        self.apply(action);
        self.sync_cursor(before);
        self.sync_file_tree();
        self.sync_peer_pieces(std::time::Instant::now());
    }

    /// The Files pane's tree follows the selected torrent (built once its metadata is known).
    fn sync_file_tree(&mut self) {
        let id = self.torrent().map(|t| t.id);
        if self.file_tree.as_ref().map(|t| t.id) == id {
            return;
        }
        self.file_tree = id.and_then(|id| Some(FileTree::new(id, &self.metainfo.get(&id)?.info)));
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Engine(ev) => return self.on_engine(*ev),
            Action::Notice(text) => {
                let error = text.starts_with("error");
                return self.notify(text, error);
            }
            Action::PeerPieces {
                torrent,
                addr,
                bits,
            } => return self.on_peer_pieces(torrent, addr, bits),
            Action::Resize(..) => return,
            Action::Click { .. } | Action::Scroll { .. } => return self.on_mouse(action),
            Action::ForceQuit => {
                self.should_quit = true;
                return;
            }
            _ => {}
        }
        if self.help {
            self.help = false;
            return;
        }
        if self.dialog.is_some() {
            return self.update_dialog(action);
        }
        if self.typing() {
            if self.pane == Pane::Torrents {
                return self.update_filter(action);
            }
            return self.update_input(action);
        }
        match action {
            Action::NextPane => self.go(self.pane.next()),
            Action::PrevPane => self.go(self.pane.prev()),
            Action::GoTo(p) => self.go(p),
            Action::ToggleHelp => self.help = true,
            Action::Quit => {
                if self.downloading() {
                    self.dialog = Some(Dialog::ConfirmQuit);
                } else {
                    self.should_quit = true;
                }
            }
            Action::AddPrompt => {
                self.dialog = Some(Dialog::AddPath {
                    input: Input::default(),
                    choose_files: false,
                })
            }
            Action::LimitsPrompt => {
                let t = self.torrent().map(|t| (t.id, t.name.clone(), &t.settings));
                let form = LimitsForm::new(t, &self.limits, &self.queue_limits);
                self.dialog = Some(Dialog::Limits(form));
            }
            Action::ToggleFile
            | Action::RaisePriority
            | Action::LowerPriority
            | Action::WantAll
            | Action::WantNone => self.change_files(&action),
            Action::ToggleSequential => self.toggle_order(false),
            Action::ToggleFirstLast => self.toggle_order(true),
            Action::Queue(to) => self.queue_move(to),
            Action::MagnetPrompt => {
                self.go(Pane::Magnet);
                self.magnet_focus = true;
            }
            Action::DecodePrompt => {
                self.go(Pane::Decode);
                self.decode_input = Some(Input::default());
            }
            Action::TogglePause => self.toggle_pause(),
            Action::Remove => self.remove_prompt(),
            Action::ToggleMark | Action::MarkAll | Action::FilterPrompt => self.list_key(&action),
            Action::ToggleRarity => self.rarity = !self.rarity,
            Action::SortNext | Action::SortReverse if self.pane == Pane::Torrents => {
                self.list_key(&action)
            }
            Action::TogglePeerPieces => self.toggle_peer_pieces(),
            Action::SortNext => self.peer_sort = self.peer_sort.next(),
            Action::SortReverse => self.peer_sort_reverse = !self.peer_sort_reverse,
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-10),
            Action::PageDown => self.move_by(10),
            Action::Top => self.move_by(i64::MIN / 2),
            Action::Bottom => self.move_by(i64::MAX / 2),
            Action::Left => match (self.pane, self.file_tree.as_mut()) {
                (Pane::Decode, _) => self.decode.collapse(),
                (Pane::Files, Some(t)) => t.collapse(),
                _ => {}
            },
            Action::Right => match (self.pane, self.file_tree.as_mut()) {
                (Pane::Decode, _) => self.decode.expand(),
                (Pane::Files, Some(t)) => t.expand(),
                _ => {}
            },
            Action::Select => match self.pane {
                Pane::Torrents => self.go(Pane::Pieces),
                Pane::Peers => self.go(Pane::Handshake),
                Pane::Decode => self.decode.toggle(),
                Pane::Files => {
                    if let Some(t) = self.file_tree.as_mut() {
                        t.toggle_fold();
                    }
                }
                Pane::Magnet => self.magnet_focus = true,
                _ => {}
            },
            Action::Paste(text) => self.on_paste(text),
            Action::Cancel => {
                if self.pane == Pane::Torrents {
                    self.list_key(&action);
                } else {
                    self.scroll = 0;
                }
            }
            Action::Key(_) => {}
            Action::Engine(_)
            | Action::Notice(_)
            | Action::Resize(..)
            | Action::Click { .. }
            | Action::Scroll { .. }
            | Action::PeerPieces { .. }
            | Action::ForceQuit => {}
        }
    }

    fn go(&mut self, pane: Pane) {
        if pane != self.pane {
            self.scroll = 0;
        }
        self.pane = pane;
        // the magnet pane exists to type in: focus its input on arrival
        self.magnet_focus = pane == Pane::Magnet;
    }

    fn move_by(&mut self, delta: i64) {
        let step = |cur: usize, len: usize| -> usize {
            if len == 0 {
                return 0;
            }
            (cur as i64).saturating_add(delta).clamp(0, len as i64 - 1) as usize
        };
        match self.pane {
            Pane::Torrents | Pane::Pieces | Pane::Metadata => {
                self.selected = step(self.selected, self.visible().len())
            }
            Pane::Peers | Pane::Handshake => {
                let peers = self.sorted_peers();
                let cur = self
                    .peer
                    .and_then(|a| peers.iter().position(|p| p.addr == a))
                    .unwrap_or(0);
                let next = step(cur, peers.len());
                self.peer = peers.get(next).map(|p| p.addr);
            }
            Pane::Decode => self.decode.move_by(delta),
            Pane::Files => {
                if let Some(t) = self.file_tree.as_mut() {
                    t.move_by(delta);
                }
            }
            Pane::Dht | Pane::Magnet => {
                self.scroll = (self.scroll as i64)
                    .saturating_add(delta)
                    .clamp(0, u16::MAX as i64) as u16;
            }
        }
    }

    /// A paste outside any input: a magnet goes to the magnet pane, anything else to decode.
    fn on_paste(&mut self, text: String) {
        let trimmed = text.trim();
        if trimmed.to_ascii_lowercase().starts_with("magnet:") {
            self.go(Pane::Magnet);
            self.magnet = Input::new(trimmed.to_string());
        } else if self.pane == Pane::Decode {
            self.decode = DecodeState::from_text_or_path(&text);
        } else if self.pane == Pane::Magnet {
            self.magnet = Input::new(trimmed.to_string());
            self.magnet_focus = true;
        }
    }

    /// A torrent's place in the queue (1 is first), if it is in it.
    pub fn queue_position(&self, id: TorrentId) -> Option<usize> {
        self.queue.iter().position(|q| *q == id).map(|p| p + 1)
    }

    fn removed_now(&mut self, id: TorrentId) {
        self.removed.insert(id);
        self.torrents.retain(|t| t.id != id);
        self.list.marked.remove(&id);
        // the cursor moves to the next row when its torrent goes (`sync_cursor`)
    }

    /// Keys while the magnet or decode input has the keyboard.
    fn update_input(&mut self, action: Action) {
        let magnet = self.pane == Pane::Magnet;
        match action {
            Action::NextPane => self.go(self.pane.next()),
            Action::PrevPane => self.go(self.pane.prev()),
            Action::GoTo(p) => self.go(p),
            Action::Cancel => {
                if magnet {
                    self.magnet_focus = false;
                } else {
                    self.decode_input = None;
                }
            }
            Action::Select if magnet => match magnet::parse(self.magnet.value().trim()) {
                Ok(m) => {
                    self.notify(format!("adding magnet {}", m.info_hash), false);
                    self.effects.push(Effect::AddMagnet(m));
                    self.magnet.reset();
                    self.go(Pane::Torrents);
                }
                Err(e) => self.notify(format!("error: {e}"), true),
            },
            Action::Select => {
                if let Some(input) = self.decode_input.take() {
                    self.decode = DecodeState::from_text_or_path(input.value());
                }
            }
            Action::Paste(text) => {
                if magnet {
                    // a paste lands at the end of what is typed (usually the empty box)
                    let v = format!("{}{}", self.magnet.value(), text.trim());
                    self.magnet = Input::new(v);
                } else {
                    self.decode_input = None;
                    self.decode = DecodeState::from_text_or_path(&text);
                }
            }
            Action::Key(k) => {
                let ev = ratatui::crossterm::event::Event::Key(k);
                if magnet {
                    self.magnet.handle_event(&ev);
                } else if let Some(i) = self.decode_input.as_mut() {
                    i.handle_event(&ev);
                }
            }
            _ => {}
        }
    }

    fn on_engine(&mut self, ev: EngineEvent) {
        match ev {
            EngineEvent::Snapshot(mut s) => {
                self.held.hold(&mut s, &self.metainfo);
                self.limits = s.limits;
                self.queue = std::mem::take(&mut s.queue);
                self.queue_limits = s.queue_limits;
                self.listen_port = s.listen_port;
                // the engine's, also when it runs in another process (attached)
                if s.peer_id != PeerId::default() {
                    self.our_peer_id = s.peer_id;
                }
                self.dht = s.dht;
                let mut next: Vec<TorrentSnapshot> = s
                    .torrents
                    .into_iter()
                    .filter(|t| !self.removed.contains(&t.id))
                    .collect();
                // torrents added since the snapshot was taken stay until they appear in one
                for t in self.torrents.drain(..) {
                    if !next.iter().any(|n| n.id == t.id) && !self.removed.contains(&t.id) {
                        next.push(t);
                    }
                }
                next.sort_by_key(|t| t.id);
                for t in &next {
                    self.completions.saw(t.id, t.state);
                }
                self.torrents = next;
                self.history
                    .record(std::time::Instant::now(), &self.torrents);
                let present: HashSet<TorrentId> = self.torrents.iter().map(|t| t.id).collect();
                self.list.marked.retain(|id| present.contains(id));
            }
            EngineEvent::TorrentAdded {
                id,
                info_hash,
                name,
            } => {
                if !self.torrents.iter().any(|t| t.id == id) {
                    self.torrents.push(placeholder(id, info_hash, name.clone()));
                }
                if self.choose_hashes.remove(&info_hash) {
                    self.choose_ids.insert(id);
                }
                self.notify(format!("added {name}"), false);
            }
            EngineEvent::MetadataReady { id, metainfo } => {
                let name = metainfo.info.name.clone();
                self.metainfo.insert(id, metainfo);
                // added to choose its files: open them
                if self.choose_ids.remove(&id) && self.torrents.iter().any(|t| t.id == id) {
                    self.select_id(id);
                    self.go(Pane::Files);
                    self.notify(
                        format!("{name}: choose its files (Space, +, -), then p starts it"),
                        false,
                    );
                }
            }
            // removed here, or by another client of the same instance
            EngineEvent::TorrentRemoved { id } => {
                self.removed_now(id);
                self.metainfo.remove(&id);
                self.checking.remove(&id);
            }
            EngineEvent::Checking {
                id, checked, total, ..
            } => {
                self.checking.insert(id, (checked, total));
                if let Some(t) = self.torrents.iter_mut().find(|t| t.id == id) {
                    t.state = TorrentState::Checking;
                }
            }
            EngineEvent::StateChanged { id, state } => {
                self.completions.saw(id, state);
                if state != TorrentState::Checking {
                    self.checking.remove(&id);
                }
                if let Some(t) = self.torrents.iter_mut().find(|t| t.id == id) {
                    t.state = state;
                }
            }
            EngineEvent::Failed { id, error } => {
                self.notify(format!("error: torrent {id}: {error}"), true);
                self.failed.insert(id, error);
            }
            EngineEvent::HashFailed { index, peers, .. } => {
                let from: Vec<String> = peers.iter().map(|a| a.to_string()).collect();
                self.notify(
                    format!("hash failure: piece {index} from {}", from.join(", ")),
                    true,
                );
            }
            EngineEvent::PeerDisconnected {
                addr,
                reason: reason @ PeerCloseReason::Banned(_),
                ..
            } => {
                self.notify(format!("{addr} {reason}"), true);
            }
            EngineEvent::Completed { id } => {
                let name = self
                    .torrents
                    .iter()
                    .find(|t| t.id == id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                self.completions.completed(id, &name);
                self.notify(format!("complete: {name}"), false);
            }
            EngineEvent::TrackerError { url, message, .. } => {
                self.notify(format!("tracker {url}: {message}"), false)
            }
            _ => {}
        }
    }
}

/// A row for a torrent the engine announced before its first snapshot.
fn placeholder(
    id: TorrentId,
    info_hash: crate::proto::id::InfoHash,
    name: String,
) -> TorrentSnapshot {
    TorrentSnapshot::fetching_metadata(id, info_hash, name)
}
