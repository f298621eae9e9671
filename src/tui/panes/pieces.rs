//! Piece map: one cell per piece, or per run of pieces when there are more pieces than cells
//! (each cell then shows the worst news of its run: a failed piece, else requested, else how
//! much is verified). `r` switches to the rarity overlay: the fewest peers that have any
//! missing piece of the cell. The selected peer's requests in flight are highlighted, and in
//! endgame the last pieces and who is fetching them are listed.
//!
//! With a peer selected (in the Peers pane, or `v` here) the cells holding pieces that peer
//! has are marked ([`theme::peer_has`]: the peer colours, over either the state or the rarity
//! view, so the glyph still tells the state); `v` turns that off and on.
//! The bitfield is the engine's answer to the dashboard's question (see
//! `tui::app::peer_pieces`), not part of the pictures.
//!
//! Cost is one pass over the pieces per frame (100 000 pieces render in well under a
//! millisecond; see `benches/render.rs`).

use crate::engine::event::{PieceView, TorrentSnapshot};
use crate::proto::bitfield::Bitfield;
use crate::tui::app::App;
use crate::tui::theme;
use crate::tui::widgets::{field, pane_block};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

/// Pieces per cell so that `n` pieces fit in `cells` cells.
pub fn pieces_per_cell(n: usize, cells: usize) -> usize {
    if cells == 0 {
        n.max(1)
    } else {
        n.div_ceil(cells).max(1)
    }
}

/// What one cell of the map shows.
fn cell(
    t: &TorrentSnapshot,
    range: std::ops::Range<usize>,
    rarity: bool,
    highlight: &[u32],
    has: Option<&Bitfield>,
) -> (char, ratatui::style::Style) {
    if !highlight.is_empty() {
        let lo = highlight.partition_point(|p| (*p as usize) < range.start);
        if highlight.get(lo).is_some_and(|p| (*p as usize) < range.end) {
            return theme::piece_selected_peer();
        }
    }
    let (ch, style) = state_cell(t, range.clone(), rarity);
    // the peer has some piece of the cell
    match has {
        Some(bits) if range.clone().any(|i| bits.get(i as u32)) => (ch, theme::peer_has(style)),
        _ => (ch, style),
    }
}

/// What one cell shows of our own state (or of rarity).
fn state_cell(
    t: &TorrentSnapshot,
    range: std::ops::Range<usize>,
    rarity: bool,
) -> (char, ratatui::style::Style) {
    let pieces = &t.pieces[range.clone()];
    if rarity {
        let avail = t.availability.get(range.clone()).unwrap_or(&[]);
        let min = pieces
            .iter()
            .zip(avail)
            .filter(|(v, _)| **v != PieceView::Verified)
            .map(|(_, a)| *a)
            .min();
        return match min {
            Some(a) => theme::rarity(a),
            None => theme::piece(PieceView::Verified),
        };
    }
    let (mut verified, mut requested, mut failed, mut unwanted) = (0usize, 0usize, 0usize, 0usize);
    for v in pieces {
        match v {
            PieceView::Verified => verified += 1,
            PieceView::Requested => requested += 1,
            PieceView::Failed => failed += 1,
            PieceView::Unwanted => unwanted += 1,
            PieceView::Missing => {}
        }
    }
    if failed > 0 {
        theme::piece(PieceView::Failed)
    } else if verified + unwanted == pieces.len() && verified > 0 {
        theme::piece(PieceView::Verified)
    } else if requested > 0 {
        theme::piece(PieceView::Requested)
    } else if verified > 0 {
        theme::piece_partial()
    } else if unwanted == pieces.len() {
        theme::piece(PieceView::Unwanted)
    } else {
        theme::piece(PieceView::Missing)
    }
}

/// Cells per piece when there are few pieces: up to 4 side by side, so a small torrent
/// still fills the map.
pub fn cells_per_piece(n: usize, cells: usize) -> usize {
    cells.checked_div(n).map_or(1, |k| k.clamp(1, 4))
}

/// Draw the map of `t` into `area` (no border); `has`: the selected peer's pieces, marked.
pub fn render_map(
    t: &TorrentSnapshot,
    rarity: bool,
    highlight: &[u32],
    has: Option<&Bitfield>,
    area: Rect,
    buf: &mut Buffer,
) {
    let n = t.pieces.len();
    let cells = area.width as usize * area.height as usize;
    if n == 0 || cells == 0 {
        return;
    }
    let per = pieces_per_cell(n, cells);
    let wide = cells_per_piece(n, cells);
    let used = n.div_ceil(per);
    for c in 0..used {
        let range = c * per..((c + 1) * per).min(n);
        let (ch, style) = cell(t, range, rarity, highlight, has);
        for k in 0..wide {
            let pos = c * wide + k;
            let x = area.x + (pos % area.width as usize) as u16;
            let y = area.y + (pos / area.width as usize) as u16;
            if let Some(cell) = buf.cell_mut((x, y)) {
                cell.set_char(ch).set_style(style);
            }
        }
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(t) = app.torrent() else {
        crate::tui::widgets::empty(area, buf, " Pieces ".into(), "No torrent selected.");
        return;
    };
    let n = t.pieces.len();
    let side_w = if area.width >= 70 { 34 } else { 0 };
    let [map_area, side] = area.layout(&Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(side_w),
    ]));
    let shown = app.shown_peer_pieces();
    let rarity = if app.rarity { ", rarity" } else { "" };
    // the peer first: a narrow pane cuts the title's end
    let block = pane_block(match shown {
        Some(p) => format!(
            " pieces of {} ({} of {n}{rarity}) · {} ",
            p.addr,
            p.bits.count_ones(),
            t.name
        ),
        None => format!(" Pieces: {} ({n} pieces{rarity}) ", t.name),
    });
    let inner = block.inner(map_area);
    block.render(map_area, buf);
    if n == 0 {
        Paragraph::new("waiting for the metadata…")
            .style(theme::dim())
            .render(inner, buf);
    }
    let highlight: &[u32] = match (app.peer, app.selected_peer()) {
        (Some(_), Some(p)) => &p.pieces_in_flight,
        _ => &[],
    };
    render_map(t, app.rarity, highlight, shown.map(|p| &p.bits), inner, buf);
    if side_w == 0 {
        return;
    }
    let cells = inner.width as usize * inner.height as usize;
    let per = pieces_per_cell(n, cells);
    let wide = cells_per_piece(n, cells);
    let count = |v: PieceView| t.pieces.iter().filter(|p| **p == v).count();
    let glyph = |(c, s): (char, ratatui::style::Style), label: String| {
        Line::from(vec![
            Span::styled(c.to_string(), s),
            Span::raw(format!(" {label}")),
        ])
    };
    let mut lines = vec![
        if wide > 1 {
            field("per piece", format!("{wide} cells"))
        } else {
            field(
                "per cell",
                format!("{per} piece{}", if per == 1 { "" } else { "s" }),
            )
        },
        glyph(
            theme::piece(PieceView::Verified),
            format!("verified {}", count(PieceView::Verified)),
        ),
        glyph(theme::piece_partial(), "partly verified".into()),
        glyph(
            theme::piece(PieceView::Requested),
            format!("requested {}", count(PieceView::Requested)),
        ),
        glyph(
            theme::piece(PieceView::Missing),
            format!("missing {}", count(PieceView::Missing)),
        ),
        glyph(
            theme::piece(PieceView::Failed),
            format!("failed hash {}", count(PieceView::Failed)),
        ),
    ];
    if let (Some(_), Some(p)) = (app.peer, app.selected_peer()) {
        lines.push(glyph(
            theme::piece_selected_peer(),
            format!("in flight from {}", p.addr),
        ));
    }
    if let Some(p) = shown {
        lines.push(glyph(
            ('·', theme::peer_has(theme::piece(PieceView::Missing).1)),
            format!("{} has {}", p.addr, p.bits.count_ones()),
        ));
    }
    lines.push(Line::styled("r: rarity overlay", theme::dim()));
    lines.push(Line::styled("v: the peer's pieces", theme::dim()));
    if app.rarity {
        for (a, label) in [
            (0u16, "no peer has it"),
            (1, "1 peer"),
            (2, "2 peers"),
            (3, "3-4 peers"),
            (5, "5+ peers"),
        ] {
            lines.push(glyph(theme::rarity(a), label.into()));
        }
    }
    let left: Vec<usize> = t
        .pieces
        .iter()
        .enumerate()
        .filter(|(_, v)| {
            matches!(
                v,
                PieceView::Missing | PieceView::Requested | PieceView::Failed
            )
        })
        .map(|(i, _)| i)
        .take(17)
        .collect();
    if t.in_endgame || (!left.is_empty() && left.len() <= 16) {
        lines.push(Line::styled(
            if t.in_endgame {
                "ENDGAME: last pieces"
            } else {
                "last pieces"
            },
            theme::warn(),
        ));
        for i in left.iter().take(16) {
            let from: Vec<String> = t
                .peers
                .iter()
                .filter(|p| p.pieces_in_flight.binary_search(&(*i as u32)).is_ok())
                .map(|p| p.addr.to_string())
                .collect();
            let who = if from.is_empty() {
                "-".to_string()
            } else {
                from.join(" ")
            };
            lines.push(Line::from(format!("#{i} ← {who}")));
        }
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .block(pane_block(" legend ".into()))
        .render(side, buf);
}
