//! Every colour and style the dashboard uses, in one place. Colours are the 16 ANSI ones so
//! the dashboard follows the terminal's palette; state is also told by the glyph, so it reads
//! without colour.

use crate::engine::event::{PieceView, TorrentState};
use crate::engine::settings::FilePriority;
use ratatui::style::{Color, Modifier, Style};

pub fn base() -> Style {
    Style::new()
}
pub fn title() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}
pub fn tab() -> Style {
    Style::new().fg(Color::Gray)
}
pub fn tab_selected() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::Cyan)
        .add_modifier(Modifier::BOLD)
}
pub fn border() -> Style {
    Style::new().fg(Color::DarkGray)
}
pub fn border_focused() -> Style {
    Style::new().fg(Color::Cyan)
}
pub fn header() -> Style {
    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
}
pub fn selected() -> Style {
    Style::new()
        .bg(Color::Blue)
        .fg(Color::White)
        .add_modifier(Modifier::BOLD)
}
pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}
pub fn key() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}
pub fn label() -> Style {
    Style::new().fg(Color::Gray)
}
pub fn value() -> Style {
    Style::new().fg(Color::White)
}
pub fn good() -> Style {
    Style::new().fg(Color::Green)
}
pub fn warn() -> Style {
    Style::new().fg(Color::Yellow)
}
pub fn error() -> Style {
    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
}
pub fn error_span() -> Style {
    Style::new()
        .fg(Color::White)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD)
}
pub fn status_bar() -> Style {
    Style::new().fg(Color::Black).bg(Color::Gray)
}
pub fn status_error() -> Style {
    Style::new().fg(Color::White).bg(Color::Red)
}
pub fn overlay() -> Style {
    Style::new().fg(Color::White).bg(Color::Black)
}
pub fn gauge() -> Style {
    Style::new().fg(Color::Green).bg(Color::DarkGray)
}
pub fn outgoing() -> Style {
    Style::new().fg(Color::Cyan)
}
pub fn incoming() -> Style {
    Style::new().fg(Color::Magenta)
}
pub fn hex() -> Style {
    Style::new().fg(Color::LightBlue)
}
pub fn offset() -> Style {
    Style::new().fg(Color::DarkGray)
}
pub fn input() -> Style {
    Style::new().fg(Color::White).bg(Color::Black)
}

pub fn torrent_state(s: TorrentState) -> Style {
    match s {
        TorrentState::FetchingMetadata => Style::new().fg(Color::Magenta),
        TorrentState::Checking => Style::new().fg(Color::Yellow),
        TorrentState::Downloading => Style::new().fg(Color::Cyan),
        TorrentState::Seeding => Style::new().fg(Color::Green),
        TorrentState::Paused => Style::new().fg(Color::DarkGray),
        TorrentState::Queued => Style::new().fg(Color::Blue),
        TorrentState::Failed => error(),
    }
}

/// A file's priority in the Files pane.
pub fn priority(p: FilePriority) -> Style {
    match p {
        FilePriority::Skip => Style::new().fg(Color::DarkGray),
        FilePriority::Low => Style::new().fg(Color::Blue),
        FilePriority::Normal => Style::new().fg(Color::White),
        FilePriority::High => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
    }
}

/// Glyph and style of a piece-map cell.
pub fn piece(v: PieceView) -> (char, Style) {
    match v {
        PieceView::Missing => ('·', Style::new().fg(Color::DarkGray)),
        PieceView::Requested => ('▒', Style::new().fg(Color::Yellow)),
        PieceView::Verified => ('█', Style::new().fg(Color::Green)),
        PieceView::Failed => ('X', Style::new().fg(Color::White).bg(Color::Red)),
        PieceView::Unwanted => (' ', Style::new()),
    }
}

/// A cell that mixes verified and missing pieces (scaled map).
pub fn piece_partial() -> (char, Style) {
    ('▓', Style::new().fg(Color::Green))
}

/// A cell holding a piece the selected peer has requests in flight for.
pub fn piece_selected_peer() -> (char, Style) {
    ('▒', Style::new().fg(Color::Black).bg(Color::Magenta))
}

/// Rarity overlay: the fewer peers have a piece, the hotter the colour.
pub fn rarity(available: u16) -> (char, Style) {
    match available {
        0 => ('0', Style::new().fg(Color::White).bg(Color::Red)),
        1 => ('1', Style::new().fg(Color::Black).bg(Color::LightRed)),
        2 => ('2', Style::new().fg(Color::Black).bg(Color::Yellow)),
        3..=4 => ('▒', Style::new().fg(Color::LightGreen)),
        _ => ('░', Style::new().fg(Color::Green)),
    }
}

/// A piece-map cell holding pieces the selected peer has: its own glyph and colour, tinted
/// and underlined (the underline reads without colour).
pub fn peer_has(base: Style) -> Style {
    base.bg(Color::Blue).add_modifier(Modifier::UNDERLINED)
}
