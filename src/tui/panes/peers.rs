//! Peers pane: the selected torrent's connections, sortable (`s` next column, `S` reverse).
//!
//! Flags, one letter each (`.` when off): `c` we choke it, `i` we are interested, `C` it
//! chokes us, `I` it is interested, `S` snubbed (a request timed out), `F` Fast extension
//! (BEP 6), `E` extension protocol (BEP 10), `R` RC4-encrypted / `r` MSE handshake with a
//! plaintext payload (Message Stream Encryption), `<` incoming / `>` outgoing.
//!
//! Beside them: how the connection travels (`TCP RC4`: transport and encryption), the time
//! since the peer's last block (`last`), and its download rate over the last seconds as a
//! sparkline (from [`crate::tui::history`], one sample a second, scaled to the peer's own
//! peak). Narrow panes drop the up rate, progress and requests columns and show fewer
//! seconds.

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

/// Block glyphs of a sparkline, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` of `values` as block glyphs scaled to `peak` (newest on the right, a
/// blank for zero, and blanks on the left while there are fewer samples than `width`).
pub fn sparkline<'a>(
    values: impl DoubleEndedIterator<Item = &'a f64>,
    peak: f64,
    width: usize,
) -> String {
    let mut last: Vec<char> = values
        .rev()
        .take(width)
        .map(|v| {
            if *v > 0.0 && peak > 0.0 {
                let level = (v / peak * BARS.len() as f64).ceil() as usize;
                BARS[level.clamp(1, BARS.len()) - 1]
            } else {
                ' '
            }
        })
        .collect();
    last.resize(width, ' ');
    last.iter().rev().collect()
}

/// Time since the peer's last block, in a few letters: `3s`, `12m`, `2h`; `-` before any.
pub fn last_block(p: &PeerSnapshot) -> String {
    let Some(age) = p.last_block else {
        return "-".into();
    };
    match age.as_secs() {
        s @ 0..60 => format!("{s}s"),
        s @ 60..3600 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

/// How the connection travels: transport and encryption (`TCP RC4`).
pub fn wire(p: &PeerSnapshot) -> String {
    format!("{} {}", p.transport.label(), p.wire.short())
}

/// The table's columns. Narrower panes drop some: below 140 cells progress and requests go,
/// below 100 the up rate (an 80-column terminal keeps address, client, flags, down, wire,
/// last and the graph).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Address,
    Client,
    Flags,
    Wire,
    Down,
    Up,
    Have,
    Reqs,
    Last,
    Graph,
}

/// The columns that fit in `width` cells, and how many samples the graph shows.
fn columns(width: u16) -> (Vec<(Col, Constraint)>, usize) {
    use Col::*;
    use Constraint::{Length, Min};
    let (graph, cols) = if width >= 140 {
        let cols = vec![
            (Address, Length(22)),
            (Client, Min(12)),
            (Flags, Length(9)),
            (Wire, Length(9)),
            (Down, Length(12)),
            (Up, Length(12)),
            (Have, Length(6)),
            (Reqs, Length(5)),
            (Last, Length(4)),
        ];
        (30, cols)
    } else if width >= 100 {
        let cols = vec![
            (Address, Length(21)),
            (Client, Min(10)),
            (Flags, Length(9)),
            (Wire, Length(9)),
            (Down, Length(12)),
            (Up, Length(12)),
            (Last, Length(4)),
        ];
        (12, cols)
    } else {
        let cols = vec![
            (Address, Length(21)),
            (Client, Min(6)),
            (Flags, Length(9)),
            (Down, Length(12)),
            (Wire, Length(9)),
            (Last, Length(4)),
        ];
        (10, cols)
    };
    let mut cols = cols;
    cols.push((Graph, Length(graph as u16)));
    (cols, graph)
}

fn header(c: Col, samples: usize) -> String {
    let name = match c {
        Col::Address => "address",
        Col::Client => "client",
        Col::Flags => "flags",
        Col::Wire => "wire",
        Col::Down => "down",
        Col::Up => "up",
        Col::Have => "have",
        Col::Reqs => "reqs",
        Col::Last => "last",
        Col::Graph => return format!("down, {samples} s"),
    };
    name.to_string()
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
    let (cols, samples) = columns(area.width.saturating_sub(2));
    let selected = app
        .peer
        .and_then(|a| peers.iter().position(|p| p.addr == a))
        .unwrap_or(0);
    // only the rows on screen are built (500 peers would cost a millisecond a frame): the
    // window the table would scroll to, the selected row last when it is below the fold
    let shown = area.height.saturating_sub(3).max(1) as usize;
    let first = (selected + 1).saturating_sub(shown);
    let rows: Vec<Row> = peers
        .iter()
        .skip(first)
        .take(shown)
        .map(|p| {
            let progress = if t.piece_count > 0 {
                p.pieces as f64 * 100.0 / t.piece_count as f64
            } else {
                0.0
            };
            let cell = |c: Col| match c {
                Col::Address => Span::raw(p.addr.to_string()),
                Col::Client => Span::raw(client(p)),
                Col::Flags => Span::styled(flags(p), theme::key()),
                Col::Wire => Span::raw(wire(p)),
                Col::Down => Span::raw(rate(p.download_rate)),
                Col::Up => Span::raw(rate(p.upload_rate)),
                Col::Have => Span::raw(format!("{progress:5.1}%")),
                Col::Reqs => Span::raw(p.requests_in_flight.to_string()),
                Col::Last => Span::raw(last_block(p)),
                Col::Graph => {
                    // scaled to the peer's own peak: the shape of its rate, the down column
                    // says how much
                    let graph = app.history.peer(t.id, p.addr).map(|s| {
                        let peak = s.down.iter().fold(0.0f64, |a, b| a.max(*b));
                        sparkline(s.down.iter(), peak, samples)
                    });
                    Span::styled(graph.unwrap_or_default(), theme::good())
                }
            };
            Row::new(cols.iter().map(|(c, _)| cell(*c)).collect::<Vec<_>>())
        })
        .collect();
    let table = Table::new(rows, cols.iter().map(|(_, w)| *w))
        .header(Row::new(cols.iter().map(|(c, _)| header(*c, samples))).style(theme::header()))
        .row_highlight_style(theme::selected())
        .block(pane_block(title));
    let mut state = TableState::default().with_selected(Some(selected - first));
    StatefulWidget::render(table, area, buf, &mut state);
    app.hits.table(List::Peers, area, first + state.offset());
}
