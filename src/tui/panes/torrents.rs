//! Torrents pane: one row per torrent (queue place, name, size, progress, state, rates,
//! peers, ETA) and the selected torrent's details below (with its limits and the engine's).

use crate::engine::event::{TorrentSnapshot, TorrentState};
use crate::tui::app::App;
use crate::tui::hits::List;
use crate::tui::theme;
use crate::tui::widgets::{duration, field, pane_block, rate, size};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, StatefulWidget, Table, TableState, Widget, Wrap};
use std::time::Duration;

pub fn state_label(s: TorrentState) -> &'static str {
    match s {
        TorrentState::FetchingMetadata => "fetching metadata",
        TorrentState::Checking => "checking",
        TorrentState::Downloading => "downloading",
        TorrentState::Seeding => "seeding",
        TorrentState::Paused => "paused",
        TorrentState::Queued => "queued",
        TorrentState::Failed => "error",
    }
}

/// Fraction done, 0..=1.
pub fn progress(t: &TorrentSnapshot) -> f64 {
    if t.total_length == 0 {
        return if t.state == TorrentState::Seeding {
            1.0
        } else {
            0.0
        };
    }
    (t.total_length - t.bytes_left.min(t.total_length)) as f64 / t.total_length as f64
}

fn eta(t: &TorrentSnapshot) -> String {
    if t.bytes_left == 0 || t.state != TorrentState::Downloading {
        return "-".into();
    }
    if t.download_rate < 1.0 {
        return "∞".into();
    }
    duration(Duration::from_secs_f64(
        (t.bytes_left as f64 / t.download_rate).min(1e9),
    ))
}

/// A text progress bar `[#####.....]  45.0%` that fits `width` cells.
pub fn bar(fraction: f64, width: usize) -> String {
    let pct = format!("{:5.1}%", fraction * 100.0);
    let inner = width.saturating_sub(pct.len() + 3);
    let filled = ((fraction.clamp(0.0, 1.0)) * inner as f64).round() as usize;
    format!(
        "[{}{}] {pct}",
        "█".repeat(filled),
        "░".repeat(inner - filled.min(inner))
    )
}

/// A rate limit (`None`: none).
fn limit(v: Option<u64>) -> String {
    v.map_or_else(|| "none".into(), |b| rate(b as f64))
}

/// The torrent's limits, then the engine's and the queue's.
fn limits_text(app: &App, t: &TorrentSnapshot) -> String {
    let count = |n: Option<usize>| n.map_or_else(|| "any".into(), |n| n.to_string());
    let (l, g, q) = (&t.settings.limits, &app.limits, &app.queue_limits);
    format!(
        "↓ {} ↑ {} · engine ↓ {} ↑ {} · at once {} downloads, {} seeds",
        limit(l.download),
        limit(l.upload),
        limit(g.download),
        limit(g.upload),
        count(q.max_active_downloads),
        count(q.max_active_seeds)
    )
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let title = format!(" Torrents ({}) ", app.torrents.len());
    if app.torrents.is_empty() {
        crate::tui::widgets::empty(
            area,
            buf,
            title,
            "No torrents. Press a to add a .torrent file, m (or paste) to add a magnet, ? for help.",
        );
        return;
    }
    let detail_h = if area.height >= 16 { 8 } else { 0 };
    let [list, details] = area.layout(&Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(detail_h),
    ]));
    // narrow terminals (80 columns) drop the bar, the upload rate and the ETA
    let wide = area.width >= 110;
    let rows: Vec<Row> = app
        .torrents
        .iter()
        .map(|t| {
            let state = app.state_of(t);
            let state_text = match app.checking.get(&t.id) {
                Some((c, n)) if state == TorrentState::Checking => format!("checking {c}/{n}"),
                _ => state_label(state).to_string(),
            };
            let place = app
                .queue_position(t.id)
                .map_or_else(|| "-".to_string(), |p| p.to_string());
            let mut cells = vec![
                Span::styled(place, theme::dim()),
                Span::raw(t.name.clone()),
                Span::raw(if t.total_length > 0 {
                    size(t.total_length)
                } else {
                    "?".into()
                }),
                if wide {
                    Span::styled(bar(progress(t), 18), theme::good())
                } else {
                    Span::styled(format!("{:5.1}%", progress(t) * 100.0), theme::good())
                },
                Span::styled(state_text, theme::torrent_state(state)),
                Span::raw(rate(t.download_rate)),
            ];
            if wide {
                cells.push(Span::raw(rate(t.upload_rate)));
            }
            cells.push(Span::raw(format!("{}/{}", t.peers.len(), t.known_peers)));
            if wide {
                cells.push(Span::raw(eta(t)));
            }
            Row::new(cells)
        })
        .collect();
    let (widths, header) = if wide {
        (
            vec![
                Constraint::Length(3),
                Constraint::Min(12),
                Constraint::Length(10),
                Constraint::Length(18),
                Constraint::Length(17),
                Constraint::Length(12),
                Constraint::Length(12),
                Constraint::Length(7),
                Constraint::Length(7),
            ],
            vec![
                "#", "name", "size", "progress", "state", "down", "up", "peers", "eta",
            ],
        )
    } else {
        (
            vec![
                Constraint::Length(3),
                Constraint::Min(10),
                Constraint::Length(10),
                Constraint::Length(6),
                Constraint::Length(17),
                Constraint::Length(12),
                Constraint::Length(6),
            ],
            vec!["#", "name", "size", "done", "state", "down", "peers"],
        )
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme::header()))
        .row_highlight_style(theme::selected())
        .block(pane_block(title));
    let mut state =
        TableState::default().with_selected(Some(app.selected.min(app.torrents.len() - 1)));
    StatefulWidget::render(table, list, buf, &mut state);
    app.hits.table(List::Torrents, list, state.offset());

    if detail_h > 0
        && let Some(t) = app.torrent()
    {
        let mut lines = vec![
            field("info hash", t.info_hash.to_string()),
            field(
                "pieces",
                format!(
                    "{}/{} verified, {} hash failures{}",
                    t.pieces_verified,
                    t.piece_count,
                    t.hash_failures,
                    if t.in_endgame { ", endgame" } else { "" }
                ),
            ),
            field(
                "transferred",
                format!(
                    "{} down, {} up, {} elapsed",
                    size(t.downloaded),
                    size(t.uploaded),
                    duration(t.elapsed)
                ),
            ),
        ];
        lines.push(field("limits", limits_text(app, t)));
        if let Some(e) = app.failed.get(&t.id) {
            lines.push(Line::from(vec![
                Span::styled("error: ", theme::error()),
                Span::raw(e.clone()),
            ]));
        }
        lines.push(Line::styled(
            "Enter: pieces  9: files  p: pause  d: remove  a: add  K J: queue  L: limits",
            theme::dim(),
        ));
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(pane_block(format!(" {} ", t.name)))
            .render(details, buf);
    }
}
