//! Peers pane: the selected torrent's connections, sortable (`s` next column, `S` reverse).
//!
//! Flags, one letter each (`.` when off): `c` we choke it, `i` we are interested, `C` it
//! chokes us, `I` it is interested, `S` snubbed (a request timed out), `F` Fast extension
//! (BEP 6), `E` extension protocol (BEP 10), `R` RC4-encrypted / `r` MSE handshake with a
//! plaintext payload (Message Stream Encryption), `<` incoming / `>` outgoing.

use crate::engine::conn::Wire;
use crate::engine::event::PeerSnapshot;
use crate::proto::handshake::Reserved;
use crate::tui::app::App;
use crate::tui::hits::List;
use crate::tui::theme;
use crate::tui::widgets::{pane_block, rate};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Row, StatefulWidget, Table, TableState};

pub fn flags(p: &PeerSnapshot) -> String {
    let f = |on: bool, c: char| if on { c } else { '.' };
    let ext = Reserved(p.reserved).has(Reserved::EXTENSION) || p.extension.is_some();
    [
        f(p.am_choking, 'c'),
        f(p.am_interested, 'i'),
        f(p.peer_choking, 'C'),
        f(p.peer_interested, 'I'),
        f(p.snubbed, 'S'),
        f(p.fast, 'F'),
        f(ext, 'E'),
        match p.wire {
            Wire::Rc4 => 'R',
            Wire::Obfuscated => 'r',
            Wire::Plaintext => '.',
        },
        if p.incoming { '<' } else { '>' },
    ]
    .iter()
    .collect()
}

/// The peer's client: from its peer id, else from its extension handshake `v`.
pub fn client(p: &PeerSnapshot) -> String {
    p.peer_id
        .client()
        .or_else(|| p.extension.as_ref().and_then(|e| e.v.clone()))
        .unwrap_or_else(|| "unknown".into())
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(t) = app.torrent() else {
        crate::tui::widgets::empty(area, buf, " Peers ".into(), "No torrent selected.");
        return;
    };
    let peers = app.sorted_peers();
    let title = format!(
        " Peers of {} ({} connected, {} known) sort: {}{} ",
        t.name,
        peers.len(),
        t.known_peers,
        app.peer_sort.label(),
        if app.peer_sort_reverse { " ↑" } else { "" }
    );
    if peers.is_empty() {
        crate::tui::widgets::empty(area, buf, title, "No peers connected.");
        return;
    }
    let rows: Vec<Row> = peers
        .iter()
        .map(|p| {
            let progress = if t.piece_count > 0 {
                p.pieces as f64 * 100.0 / t.piece_count as f64
            } else {
                0.0
            };
            Row::new(vec![
                Span::raw(p.addr.to_string()),
                Span::raw(client(p)),
                Span::styled(flags(p), theme::key()),
                Span::raw(rate(p.download_rate)),
                Span::raw(rate(p.upload_rate)),
                Span::raw(format!("{progress:5.1}%")),
                Span::raw(p.requests_in_flight.to_string()),
            ])
        })
        .collect();
    let selected = app
        .peer
        .and_then(|a| peers.iter().position(|p| p.addr == a))
        .unwrap_or(0);
    let table = Table::new(
        rows,
        [
            Constraint::Length(22),
            Constraint::Min(10),
            Constraint::Length(9),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(7),
            Constraint::Length(5),
        ],
    )
    .header(
        Row::new(vec![
            "address", "client", "flags", "down", "up", "have", "reqs",
        ])
        .style(theme::header()),
    )
    .row_highlight_style(theme::selected())
    .block(pane_block(title));
    let mut state = TableState::default().with_selected(Some(selected));
    StatefulWidget::render(table, area, buf, &mut state);
    app.hits.table(List::Peers, area, state.offset());
}
