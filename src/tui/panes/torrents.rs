//! Torrents pane, the first screen: the list of torrents on top, sized to its rows, and the
//! cockpit of the torrent under the cursor below it ([`super::overview`]: speed chart, piece
//! bar, peers, ratio, ETA, the bottleneck verdict, details).
//!
//! The list: one row per torrent (mark, queue place, name, size, progress, state, rates,
//! peers, ETA), in the order and through the filter of [`crate::tui::list`]. The header shows
//! the sort column with ▲ (smallest first) or ▼; the title the filter, "n of m" and the number
//! of marked rows. Paused, queued and failed torrents carry a glyph as well as a colour
//! (`‖`, `…`, `✗`) so they read without colour.

use crate::engine::event::{TorrentSnapshot, TorrentState};
use crate::tui::app::App;
use crate::tui::hits::List;
use crate::tui::list::TorrentSort;
use crate::tui::panes::overview::{self, eta};
use crate::tui::theme;
use crate::tui::widgets::{rate, size};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Row, StatefulWidget, Table, TableState, Widget};

/// Below this height the pane is the list alone.
const COCKPIT_FROM: u16 = 12;
/// Rows the cockpit keeps whatever the list's length (when the pane has them).
const COCKPIT_MIN: u16 = 14;
/// From this width the list shows the progress bar, the upload rate and the ETA.
const WIDE: u16 = 110;

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
    crate::tui::list::progress(t)
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

/// The state as the list shows it: paused, queued and failed with a glyph.
fn state_text(app: &App, t: &TorrentSnapshot) -> String {
    let state = app.state_of(t);
    match (state, app.checking.get(&t.id)) {
        (TorrentState::Checking, Some((c, n))) => format!("checking {c}/{n}"),
        (TorrentState::Paused, _) => "‖ paused".into(),
        (TorrentState::Queued, _) => "… queued".into(),
        (TorrentState::Failed, _) => "✗ error".into(),
        _ => state_label(state).into(),
    }
}

/// The list's title: count (or "n of m" and the filter), sort, marks.
fn title(app: &App, shown: usize) -> Line<'static> {
    let l = &app.list;
    let mut spans = vec![Span::styled(" Torrents ", theme::title())];
    if l.filtered() || l.filtering {
        spans.push(Span::styled(
            format!("{shown} of {} ", app.torrents.len()),
            theme::title(),
        ));
        spans.push(Span::styled("· filter: ", theme::label()));
        let style = if l.filtering {
            theme::input()
        } else {
            theme::key()
        };
        spans.push(Span::styled(l.filter.value().to_string(), style));
        if l.filtering {
            spans.push(Span::styled("▏", theme::input()));
            spans.push(Span::styled(" Enter keeps, Esc clears ", theme::dim()));
        } else {
            spans.push(Span::raw(" "));
        }
    } else {
        spans.push(Span::styled(
            format!("({}) ", app.torrents.len()),
            theme::title(),
        ));
    }
    if l.sort != TorrentSort::Added || l.reverse {
        let arrow = if l.shows_descending() { "▼" } else { "▲" };
        spans.push(Span::styled(
            format!("· sort: {} {arrow} ", l.sort.label()),
            theme::label(),
        ));
    }
    if !l.marked.is_empty() {
        let (shown, all) = (app.marked().len(), l.marked.len());
        let text = if shown == all {
            format!("· {all} marked ")
        } else {
            format!("· {all} marked, {shown} shown ")
        };
        spans.push(Span::styled(text, theme::warn()));
    }
    Line::from(spans)
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    if app.torrents.is_empty() {
        crate::tui::widgets::empty(
            area,
            buf,
            format!(" Torrents ({}) ", app.torrents.len()),
            "No torrents. Press a to add a .torrent file, m (or paste) to add a magnet, ? for help.",
        );
        return;
    }
    let view = app.visible();
    if view.is_empty() {
        // the filter hides every row: the list alone, saying so
        render_list(app, &view, area, buf);
        let inner =
            Rect::new(area.x + 1, area.y + 2, area.width.saturating_sub(2), 1).intersection(area);
        Line::styled(
            "No torrent's name contains the filter. Esc clears it, / changes it.",
            theme::dim(),
        )
        .render(inner, buf);
        return;
    }
    let (list, cockpit) = areas(view.len(), area);
    render_list(app, &view, list, buf);
    if let Some(t) = app.torrent()
        && cockpit.height > 0
    {
        overview::render(app, t, cockpit, buf);
    }
}

/// Where the list and the cockpit go in the pane's `area` when the list has `rows` rows
/// (the cockpit's height is 0 on short panes). The list's first row is 2 below its top (a
/// border, the header), for whoever maps a mouse click to a row.
pub fn areas(rows: usize, area: Rect) -> (Rect, Rect) {
    if area.height < COCKPIT_FROM {
        return (area, Rect::new(area.x, area.bottom(), area.width, 0));
    }
    // the list as tall as its rows (at least one), leaving the cockpit its rows (half the
    // pane when tall) so that the chart always has room
    let want = rows.max(1).min(u16::MAX as usize - 3) as u16 + 3;
    let cockpit_min = COCKPIT_MIN
        .max(area.height / 2)
        .min(area.height.saturating_sub(4));
    let room = area.height - cockpit_min;
    let [list, cockpit] = area.layout(&Layout::vertical([
        Constraint::Length(want.min(room).max(4)),
        Constraint::Min(0),
    ]));
    (list, cockpit)
}

fn render_list(app: &App, view: &[&TorrentSnapshot], area: Rect, buf: &mut Buffer) {
    // narrow terminals (80 columns) drop the bar, the upload rate and the ETA
    let wide = area.width >= WIDE;
    let rows: Vec<Row> = view
        .iter()
        .map(|t| {
            let state = app.state_of(t);
            let place = app
                .queue_position(t.id)
                .map_or_else(|| "-".to_string(), |p| p.to_string());
            let marked = app.list.marked.contains(&t.id);
            let name_style = match state {
                TorrentState::Failed => theme::error(),
                TorrentState::Paused => theme::dim(),
                _ => theme::base(),
            };
            let mut cells = vec![
                Span::styled(if marked { "●" } else { " " }, theme::warn()),
                Span::styled(place, theme::dim()),
                Span::styled(t.name.clone(), name_style),
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
                Span::styled(state_text(app, t), theme::torrent_state(state)),
                Span::raw(rate(t.download_rate)),
            ];
            if wide {
                cells.push(Span::raw(rate(t.upload_rate)));
            }
            cells.push(Span::raw(format!("{}/{}", t.peers.len(), t.known_peers)));
            if wide {
                cells.push(Span::raw(eta(t, state)));
            }
            Row::new(cells)
        })
        .collect();
    let columns: &[(TorrentSort, &str, u16)] = if wide {
        &[
            (TorrentSort::Queue, "#", 3),
            (TorrentSort::Name, "name", 0),
            (TorrentSort::Size, "size", 10),
            (TorrentSort::Progress, "progress", 18),
            (TorrentSort::State, "state", 17),
            (TorrentSort::Down, "down", 12),
            (TorrentSort::Up, "up", 12),
            (TorrentSort::Peers, "peers", 7),
            (TorrentSort::Eta, "eta", 7),
        ]
    } else {
        &[
            (TorrentSort::Queue, "#", 3),
            (TorrentSort::Name, "name", 0),
            (TorrentSort::Size, "size", 10),
            (TorrentSort::Progress, "done", 7),
            (TorrentSort::State, "state", 17),
            (TorrentSort::Down, "down", 12),
            (TorrentSort::Peers, "peers", 6),
        ]
    };
    let arrow = if app.list.shows_descending() {
        "▼"
    } else {
        "▲"
    };
    let mut header = vec![Span::raw("")];
    let mut widths = vec![Constraint::Length(1)];
    for (sort, label, w) in columns {
        let text = if *sort == app.list.sort {
            format!("{label}{arrow}")
        } else {
            (*label).to_string()
        };
        header.push(Span::raw(text));
        widths.push(if *w == 0 {
            Constraint::Min(10)
        } else {
            Constraint::Length(*w)
        });
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme::header()))
        .row_highlight_style(theme::selected())
        .block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(theme::border())
                .title(title(app, view.len())),
        );
    let selected = (!view.is_empty()).then(|| app.selected.min(view.len() - 1));
    let mut state = TableState::default().with_selected(selected);
    StatefulWidget::render(table, area, buf, &mut state);
    app.hits.table(List::Torrents, area, state.offset());
}
