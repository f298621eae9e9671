//! Everything the dashboard reacts to is an [`Action`]. Keys become actions through one table,
//! [`KEYS`]: the key handling ([`action_for`]) and the help overlay (`?`) both read it, so the
//! help can never disagree with what the keys do.

use crate::engine::event::{EngineEvent, TorrentId};
use crate::proto::bitfield::Bitfield;
use crate::session::protocol::QueueMove;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::net::SocketAddr;

/// The dashboard's panes, in tab order (number keys 1-9 pick them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    Torrents,
    Pieces,
    Peers,
    Dht,
    Metadata,
    Decode,
    Magnet,
    Handshake,
    /// The selected torrent's files: what to download, and how much.
    Files,
}

impl Pane {
    pub const ALL: [Pane; 9] = [
        Pane::Torrents,
        Pane::Pieces,
        Pane::Peers,
        Pane::Dht,
        Pane::Metadata,
        Pane::Decode,
        Pane::Magnet,
        Pane::Handshake,
        Pane::Files,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Torrents => "Torrents",
            Pane::Pieces => "Pieces",
            Pane::Peers => "Peers",
            Pane::Dht => "DHT",
            Pane::Metadata => "Metadata",
            Pane::Decode => "Decode",
            Pane::Magnet => "Magnet",
            Pane::Handshake => "Handshake",
            Pane::Files => "Files",
        }
    }

    pub fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    pub fn next(self) -> Pane {
        Pane::ALL[(self.index() + 1) % Pane::ALL.len()]
    }

    pub fn prev(self) -> Pane {
        Pane::ALL[(self.index() + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }
}

/// What can happen to the model (`App`, in `tui::app`).
#[derive(Debug, Clone)]
pub enum Action {
    NextPane,
    PrevPane,
    GoTo(Pane),
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Enter: select / expand / submit.
    Select,
    /// Open the "add a .torrent or magnet" prompt.
    AddPrompt,
    /// Go to the magnet pane with its input focused.
    MagnetPrompt,
    /// Open the decode pane's path / bencode input.
    DecodePrompt,
    TogglePause,
    /// Ask to remove the selected torrent (with or without its data).
    Remove,
    /// Quit (asks first while something downloads).
    Quit,
    /// Quit now (Ctrl-C, SIGINT, SIGTERM).
    ForceQuit,
    ToggleHelp,
    /// Piece map: colour by availability instead of state.
    ToggleRarity,
    /// Piece map: mark the pieces the selected peer has, or stop.
    TogglePeerPieces,
    /// Peers, Torrents: sort by the next column.
    SortNext,
    /// Peers, Torrents: reverse the sort order.
    SortReverse,
    /// Torrents: mark or unmark the row under the cursor (`p` and `d` act on marked rows).
    ToggleMark,
    /// Torrents: mark every visible row (or unmark them when all are marked).
    MarkAll,
    /// Torrents: open the filter input (rows whose name contains the text remain).
    FilterPrompt,
    /// Files: the selected file (or every file of the folder) between skip and normal.
    ToggleFile,
    /// Files: one priority step up (`FilePriority::raised`) for the file or folder.
    RaisePriority,
    /// Files: one priority step down.
    LowerPriority,
    /// Files: every file wanted (skipped ones at normal priority).
    WantAll,
    /// Files: every file skipped.
    WantNone,
    /// The selected torrent's pieces in index order on/off.
    ToggleSequential,
    /// The selected torrent's first-last mode on/off.
    ToggleFirstLast,
    /// Open the limits dialog (the torrent's and the engine's).
    LimitsPrompt,
    /// Torrents: move the selected torrent in the queue.
    Queue(QueueMove),
    /// Esc: close an overlay, leave an input.
    Cancel,
    /// A key for the focused text input (or a dialog).
    Key(KeyEvent),
    /// Bracketed paste: the whole text at once.
    Paste(String),
    /// The terminal was resized (the next frame redraws everything).
    Resize(u16, u16),
    /// A left click at a cell (resolved against the last frame: a tab, a row, nothing).
    Click {
        col: u16,
        row: u16,
    },
    /// The mouse wheel at a cell: `delta` rows down (up when negative) in the pane there.
    Scroll {
        col: u16,
        row: u16,
        delta: i8,
    },
    Engine(Box<EngineEvent>),
    /// A command the loop ran for us finished with this message (errors start with "error").
    Notice(String),
    /// The pieces a peer has, as the engine answered `Effect::PeerPieces` (`None`: it is not
    /// connected, or did not answer).
    PeerPieces {
        torrent: TorrentId,
        addr: SocketAddr,
        bits: Option<Bitfield>,
    },
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Torrents,
    Pieces,
    Peers,
    Decode,
    Files,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::Global => "everywhere",
            Scope::Torrents => "torrents",
            Scope::Pieces => "pieces",
            Scope::Peers => "peers",
            Scope::Decode => "decode",
            Scope::Files => "files",
        }
    }

    fn applies(self, pane: Pane) -> bool {
        match self {
            Scope::Global => true,
            Scope::Torrents => pane == Pane::Torrents,
            Scope::Pieces => pane == Pane::Pieces,
            Scope::Peers => pane == Pane::Peers,
            Scope::Decode => pane == Pane::Decode,
            Scope::Files => pane == Pane::Files,
        }
    }
}

/// One row of the key table.
pub struct Binding {
    /// Key codes with the modifiers they need (`NONE` matches also `SHIFT` for characters).
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// How the help overlay names the keys.
    pub label: &'static str,
    pub scope: Scope,
    pub help: &'static str,
    pub action: fn() -> Action,
}

const N: KeyModifiers = KeyModifiers::NONE;
const C: KeyModifiers = KeyModifiers::CONTROL;

/// The one key table. Order matters only for the help overlay.
pub static KEYS: &[Binding] = &[
    Binding {
        keys: &[(KeyCode::Char('?'), N), (KeyCode::F(1), N)],
        label: "?",
        scope: Scope::Global,
        help: "help (this table)",
        action: || Action::ToggleHelp,
    },
    Binding {
        keys: &[(KeyCode::Tab, N)],
        label: "Tab",
        scope: Scope::Global,
        help: "next pane",
        action: || Action::NextPane,
    },
    Binding {
        keys: &[
            (KeyCode::BackTab, N),
            (KeyCode::BackTab, KeyModifiers::SHIFT),
        ],
        label: "Shift-Tab",
        scope: Scope::Global,
        help: "previous pane",
        action: || Action::PrevPane,
    },
    Binding {
        keys: &[(KeyCode::Char('1'), N)],
        label: "1",
        scope: Scope::Global,
        help: "Torrents pane",
        action: || Action::GoTo(Pane::Torrents),
    },
    Binding {
        keys: &[(KeyCode::Char('2'), N)],
        label: "2",
        scope: Scope::Global,
        help: "Pieces pane",
        action: || Action::GoTo(Pane::Pieces),
    },
    Binding {
        keys: &[(KeyCode::Char('3'), N)],
        label: "3",
        scope: Scope::Global,
        help: "Peers pane",
        action: || Action::GoTo(Pane::Peers),
    },
    Binding {
        keys: &[(KeyCode::Char('4'), N)],
        label: "4",
        scope: Scope::Global,
        help: "DHT pane",
        action: || Action::GoTo(Pane::Dht),
    },
    Binding {
        keys: &[(KeyCode::Char('5'), N)],
        label: "5",
        scope: Scope::Global,
        help: "Metadata pane",
        action: || Action::GoTo(Pane::Metadata),
    },
    Binding {
        keys: &[(KeyCode::Char('6'), N)],
        label: "6",
        scope: Scope::Global,
        help: "Decode pane",
        action: || Action::GoTo(Pane::Decode),
    },
    Binding {
        keys: &[(KeyCode::Char('7'), N)],
        label: "7",
        scope: Scope::Global,
        help: "Magnet pane",
        action: || Action::GoTo(Pane::Magnet),
    },
    Binding {
        keys: &[(KeyCode::Char('8'), N)],
        label: "8",
        scope: Scope::Global,
        help: "Handshake pane",
        action: || Action::GoTo(Pane::Handshake),
    },
    Binding {
        keys: &[(KeyCode::Char('9'), N)],
        label: "9",
        scope: Scope::Global,
        help: "Files pane",
        action: || Action::GoTo(Pane::Files),
    },
    Binding {
        keys: &[(KeyCode::Up, N), (KeyCode::Char('k'), N)],
        label: "Up k",
        scope: Scope::Global,
        help: "move up",
        action: || Action::Up,
    },
    Binding {
        keys: &[(KeyCode::Down, N), (KeyCode::Char('j'), N)],
        label: "Down j",
        scope: Scope::Global,
        help: "move down",
        action: || Action::Down,
    },
    Binding {
        keys: &[(KeyCode::Left, N), (KeyCode::Char('h'), N)],
        label: "Left h",
        scope: Scope::Global,
        help: "move left / collapse",
        action: || Action::Left,
    },
    Binding {
        keys: &[(KeyCode::Right, N), (KeyCode::Char('l'), N)],
        label: "Right l",
        scope: Scope::Global,
        help: "move right / expand",
        action: || Action::Right,
    },
    Binding {
        keys: &[(KeyCode::PageUp, N)],
        label: "PgUp",
        scope: Scope::Global,
        help: "page up",
        action: || Action::PageUp,
    },
    Binding {
        keys: &[(KeyCode::PageDown, N)],
        label: "PgDn",
        scope: Scope::Global,
        help: "page down",
        action: || Action::PageDown,
    },
    Binding {
        keys: &[(KeyCode::Home, N), (KeyCode::Char('g'), N)],
        label: "Home g",
        scope: Scope::Global,
        help: "first row",
        action: || Action::Top,
    },
    Binding {
        keys: &[(KeyCode::End, N), (KeyCode::Char('G'), N)],
        label: "End G",
        scope: Scope::Global,
        help: "last row",
        action: || Action::Bottom,
    },
    Binding {
        keys: &[(KeyCode::Enter, N)],
        label: "Enter",
        scope: Scope::Global,
        help: "select / fold / submit",
        action: || Action::Select,
    },
    Binding {
        keys: &[(KeyCode::Char('a'), N)],
        label: "a",
        scope: Scope::Global,
        help: "add .torrent path or magnet",
        action: || Action::AddPrompt,
    },
    Binding {
        keys: &[(KeyCode::Char('m'), N)],
        label: "m",
        scope: Scope::Global,
        help: "paste a magnet (magnet pane)",
        action: || Action::MagnetPrompt,
    },
    Binding {
        keys: &[(KeyCode::Char('p'), N)],
        label: "p",
        scope: Scope::Global,
        help: "pause / resume torrent",
        action: || Action::TogglePause,
    },
    Binding {
        keys: &[(KeyCode::Char('d'), N), (KeyCode::Delete, N)],
        label: "d Del",
        scope: Scope::Global,
        help: "remove (keep or delete data)",
        action: || Action::Remove,
    },
    Binding {
        keys: &[(KeyCode::Char('L'), N)],
        label: "L",
        scope: Scope::Global,
        help: "limits dialog",
        action: || Action::LimitsPrompt,
    },
    Binding {
        keys: &[(KeyCode::Char('K'), N)],
        label: "K",
        scope: Scope::Torrents,
        help: "queue: up",
        action: || Action::Queue(QueueMove::Up),
    },
    Binding {
        keys: &[(KeyCode::Char('J'), N)],
        label: "J",
        scope: Scope::Torrents,
        help: "queue: down",
        action: || Action::Queue(QueueMove::Down),
    },
    Binding {
        keys: &[(KeyCode::Char('T'), N)],
        label: "T",
        scope: Scope::Torrents,
        help: "queue: to the top",
        action: || Action::Queue(QueueMove::Top),
    },
    Binding {
        keys: &[(KeyCode::Char('B'), N)],
        label: "B",
        scope: Scope::Torrents,
        help: "queue: to the end",
        action: || Action::Queue(QueueMove::Bottom),
    },
    Binding {
        keys: &[(KeyCode::Char(' '), N)],
        label: "Space",
        scope: Scope::Torrents,
        help: "mark / unmark (p, d act on marks)",
        action: || Action::ToggleMark,
    },
    Binding {
        keys: &[(KeyCode::Char('V'), N), (KeyCode::Char('a'), C)],
        label: "V Ctrl-A",
        scope: Scope::Torrents,
        help: "mark all shown / unmark",
        action: || Action::MarkAll,
    },
    Binding {
        keys: &[(KeyCode::Char('/'), N)],
        label: "/",
        scope: Scope::Torrents,
        help: "filter by name (Esc clears)",
        action: || Action::FilterPrompt,
    },
    Binding {
        keys: &[(KeyCode::Char('s'), N)],
        label: "s",
        scope: Scope::Torrents,
        help: "sort by the next column",
        action: || Action::SortNext,
    },
    Binding {
        keys: &[(KeyCode::Char('S'), N)],
        label: "S",
        scope: Scope::Torrents,
        help: "reverse the sort",
        action: || Action::SortReverse,
    },
    Binding {
        keys: &[(KeyCode::Char(' '), N)],
        label: "Space",
        scope: Scope::Files,
        help: "skip / get file",
        action: || Action::ToggleFile,
    },
    Binding {
        keys: &[(KeyCode::Char('+'), N), (KeyCode::Char('='), N)],
        label: "+ =",
        scope: Scope::Files,
        help: "priority up",
        action: || Action::RaisePriority,
    },
    Binding {
        keys: &[(KeyCode::Char('-'), N)],
        label: "-",
        scope: Scope::Files,
        help: "priority down",
        action: || Action::LowerPriority,
    },
    Binding {
        keys: &[(KeyCode::Char('A'), N)],
        label: "A",
        scope: Scope::Files,
        help: "get all files",
        action: || Action::WantAll,
    },
    Binding {
        keys: &[(KeyCode::Char('N'), N)],
        label: "N",
        scope: Scope::Files,
        help: "skip all files",
        action: || Action::WantNone,
    },
    Binding {
        keys: &[(KeyCode::Char('s'), N)],
        label: "s",
        scope: Scope::Files,
        help: "in order on/off",
        action: || Action::ToggleSequential,
    },
    Binding {
        keys: &[(KeyCode::Char('f'), N)],
        label: "f",
        scope: Scope::Files,
        help: "first-last on/off",
        action: || Action::ToggleFirstLast,
    },
    Binding {
        keys: &[(KeyCode::Char('r'), N)],
        label: "r",
        scope: Scope::Pieces,
        help: "rarity overlay on/off",
        action: || Action::ToggleRarity,
    },
    Binding {
        keys: &[(KeyCode::Char('v'), N)],
        label: "v",
        scope: Scope::Pieces,
        help: "the selected peer's pieces on/off",
        action: || Action::TogglePeerPieces,
    },
    Binding {
        keys: &[(KeyCode::Char('s'), N)],
        label: "s",
        scope: Scope::Peers,
        help: "sort by the next column",
        action: || Action::SortNext,
    },
    Binding {
        keys: &[(KeyCode::Char('S'), N)],
        label: "S",
        scope: Scope::Peers,
        help: "reverse the sort",
        action: || Action::SortReverse,
    },
    Binding {
        keys: &[(KeyCode::Char('o'), N), (KeyCode::Char('/'), N)],
        label: "o /",
        scope: Scope::Decode,
        help: "decode a file or bencode",
        action: || Action::DecodePrompt,
    },
    Binding {
        keys: &[(KeyCode::Esc, N)],
        label: "Esc",
        scope: Scope::Global,
        help: "close / leave the input",
        action: || Action::Cancel,
    },
    Binding {
        keys: &[(KeyCode::Char('q'), N)],
        label: "q",
        scope: Scope::Global,
        help: "quit (asks while downloading)",
        action: || Action::Quit,
    },
    Binding {
        keys: &[(KeyCode::Char('c'), C)],
        label: "Ctrl-C",
        scope: Scope::Global,
        help: "quit now",
        action: || Action::ForceQuit,
    },
];

/// The action bound to `key` in `pane`, if any. Pane-scoped bindings win over global ones.
pub fn action_for(key: &KeyEvent, pane: Pane) -> Option<Action> {
    let matches = |b: &&Binding| {
        b.scope.applies(pane)
            && b.keys.iter().any(|(code, mods)| {
                *code == key.code
                    && (key.modifiers == *mods
                        // characters arrive with SHIFT when typed with it ('G', '?', 'S')
                        || (*mods == N && matches!(code, KeyCode::Char(_)) && key.modifiers == KeyModifiers::SHIFT))
            })
    };
    KEYS.iter()
        .filter(matches)
        .find(|b| b.scope != Scope::Global)
        .or_else(|| KEYS.iter().find(matches))
        .map(|b| (b.action)())
}
