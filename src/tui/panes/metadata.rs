//! Metadata pane (BEP 9): for a magnet, the metadata pieces and the peer serving each, the
//! peers that advertise `ut_metadata` with the size they claim; once assembled, the info hash
//! the metadata was verified against.

use crate::tui::app::App;
use crate::tui::theme;
use crate::tui::widgets::{field, pane_block, size};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, Widget, Wrap};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(t) = app.torrent() else {
        crate::tui::widgets::empty(
            area,
            buf,
            " Metadata ".into(),
            "No torrent selected. Add a magnet with m.",
        );
        return;
    };
    let title = format!(" Metadata: {} ", t.name);
    let Some(m) = &t.metadata else {
        let lines = match app.metainfo.get(&t.id) {
            Some(mi) => vec![
                Line::styled("metadata complete", theme::good()),
                field("verified info hash", mi.info_hash.to_string()),
                field(
                    "info dict",
                    format!(
                        "{} bytes (SHA-1 of these bytes is the info hash)",
                        mi.raw_info.len()
                    ),
                ),
                field(
                    "pieces",
                    format!(
                        "{} of {}",
                        mi.info.piece_count(),
                        size(mi.info.piece_length as u64)
                    ),
                ),
                field("files", mi.info.files.len().to_string()),
            ],
            None => vec![
                field("info hash", t.info_hash.to_string()),
                Line::styled("waiting for metadata…", theme::dim()),
            ],
        };
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(pane_block(title))
            .render(area, buf);
        return;
    };
    let received = m.pieces_received.iter().filter(|r| **r).count();
    let piece_rows = (m.pieces_received.len() as u16).min(12) + 3;
    let [head, pieces, peers] = area.layout(&Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(piece_rows.max(3)),
        Constraint::Min(0),
    ]));
    Paragraph::new(vec![
        field(
            "info hash",
            format!("{} (the metadata must hash to this)", t.info_hash),
        ),
        field(
            "size",
            match m.size {
                Some(s) => format!(
                    "{s} bytes, {received}/{} pieces of 16 KiB",
                    m.pieces_received.len()
                ),
                None => {
                    "unknown: no peer has sent an extension handshake with metadata_size yet".into()
                }
            },
        ),
    ])
    .block(pane_block(title))
    .render(head, buf);

    let rows: Vec<Row> = m
        .pieces_received
        .iter()
        .enumerate()
        .skip(app.scroll as usize)
        .map(|(i, got)| {
            let peer = m.piece_peers.get(i).copied().flatten();
            let (state, style) = match (got, peer) {
                (true, _) => ("received", theme::good()),
                (false, Some(_)) => ("requested", theme::warn()),
                (false, None) => ("missing", theme::dim()),
            };
            Row::new(vec![
                Span::raw(format!("#{i}")),
                Span::styled(state, style),
                Span::raw(peer.map(|a| a.to_string()).unwrap_or_else(|| "-".into())),
            ])
        })
        .collect();
    Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(10),
            Constraint::Min(10),
        ],
    )
    .header(Row::new(vec!["piece", "state", "peer"]).style(theme::header()))
    .block(pane_block(" metadata pieces ".into()))
    .render(pieces, buf);

    let rows: Vec<Row> = m
        .peers
        .iter()
        .map(|p| {
            Row::new(vec![
                Span::raw(p.addr.to_string()),
                Span::styled(
                    if p.advertises { "yes" } else { "no" },
                    if p.advertises {
                        theme::good()
                    } else {
                        theme::dim()
                    },
                ),
                Span::raw(
                    p.claimed_size
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
                ),
                Span::raw(p.requested.to_string()),
                Span::raw(p.received.to_string()),
                Span::raw(p.rejected.to_string()),
            ])
        })
        .collect();
    Table::new(
        rows,
        [
            Constraint::Length(22),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(9),
        ],
    )
    .header(
        Row::new(vec![
            "peer",
            "ut_metadata",
            "claims size",
            "requested",
            "received",
            "rejected",
        ])
        .style(theme::header()),
    )
    .block(pane_block(format!(" peers ({}) ", m.peers.len())))
    .render(peers, buf);
}
