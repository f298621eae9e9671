//! The cockpit of the torrent under the Torrents list's cursor (the first screen's lower
//! part): a one-line piece bar, the bottleneck verdict ("bottleneck: ...", a warning when
//! something holds the download back), peers / progress / ratio / ETA, the details
//! (info hash, pieces, transferred, limits, error, keys), and a chart of the download and
//! upload rates over the last minutes (`App::history`), captioned with the rates now.
//!
//! The layout follows the room: from [`WIDE`] columns the facts stand in two columns above a
//! chart as wide as the pane; narrower, they stand in one column around the chart and the
//! least useful lines go first when rows are short. The chart takes the rows left, so no
//! size leaves a large empty area.

use crate::engine::event::{PieceView, TorrentSnapshot, TorrentState};
use crate::tui::app::App;
use crate::tui::history::TORRENT_SAMPLES;
use crate::tui::list::{eta_secs, progress};
use crate::tui::theme;
use crate::tui::widgets::{duration, field, pane_block, rate, size};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph, Widget, Wrap};
use std::time::Duration;

/// From this inner width the facts stand in two columns.
pub const WIDE: u16 = 100;
/// The chart is drawn from this many rows (caption, plot, time axis).
const CHART_MIN: u16 = 5;
/// Seconds the chart spans while the history is younger than that.
const FIRST_WINDOW: f64 = 60.0;

pub fn render(app: &App, t: &TorrentSnapshot, area: Rect, buf: &mut Buffer) {
    let block = pane_block(format!(" {} ", t.name));
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    // the piece bar, the verdict and the error that stopped the torrent, if any
    let mut head = vec![
        piece_bar_line(t, inner.width as usize),
        verdict_line(app, t),
    ];
    if let Some(e) = app.failed.get(&t.id) {
        head.push(Line::from(vec![
            Span::styled("error: ", theme::error()),
            Span::raw(e.clone()),
        ]));
    }
    let stats = stats_lines(t, app.state_of(t));
    let details = details_lines(app, t);
    if inner.width >= WIDE {
        wide(app, t, inner, buf, head, stats, details);
    } else {
        narrow(app, t, inner, buf, head, stats, details);
    }
}

/// Two columns of facts (the torrent's state left, its identity and limits right) under the
/// piece bar and the verdict, the chart below, the keys on the last row.
fn wide(
    app: &App,
    t: &TorrentSnapshot,
    area: Rect,
    buf: &mut Buffer,
    head: Vec<Line<'static>>,
    stats: Vec<Line<'static>>,
    mut details: Vec<Line<'static>>,
) {
    let hints = details.pop();
    let band = stats.len().max(details.len()) as u16;
    let head_h = rows(&head, area.width);
    let [top, facts, chart, keys] = area.layout(&Layout::vertical([
        Constraint::Length(head_h),
        Constraint::Length(band),
        Constraint::Min(0),
        Constraint::Length(1),
    ]));
    Paragraph::new(head)
        .wrap(Wrap { trim: true })
        .render(top, buf);
    // the state column as wide as its longest line (at most 60 %), two cells apart
    let widest = stats.iter().map(Line::width).max().unwrap_or(0) as u16 + 2;
    let [left, right] = facts.layout(&Layout::horizontal([
        Constraint::Length(widest.min(area.width * 3 / 5)),
        Constraint::Min(0),
    ]));
    Paragraph::new(stats).render(left, buf);
    Paragraph::new(details).render(right, buf);
    speed_chart(app, t, chart, buf);
    if let Some(h) = hints {
        h.render(keys, buf);
    }
}

/// One column: piece bar, verdict, the facts that matter most, the chart, then as many of
/// the details as fit (the keys last).
fn narrow(
    app: &App,
    t: &TorrentSnapshot,
    area: Rect,
    buf: &mut Buffer,
    head: Vec<Line<'static>>,
    stats: Vec<Line<'static>>,
    details: Vec<Line<'static>>,
) {
    let mut lines: Vec<Line> = head;
    // peers, progress, ratio and ETA: the cockpit's dials
    let (dials, more) = stats.split_at(stats.len().min(2));
    lines.extend_from_slice(dials);
    let top = rows(&lines, area.width).min(area.height);
    let left = area.height - top;
    let extra: Vec<Line> = more.iter().cloned().chain(details).collect();
    // the chart wants CHART_MIN rows and more; the details get what is left of a quarter
    let chart_h = if left >= CHART_MIN + 2 {
        (left - left.min(extra.len() as u16)).max(CHART_MIN.max(left * 3 / 4))
    } else if left >= CHART_MIN {
        left
    } else {
        0
    };
    let below = (left - chart_h) as usize;
    // the keys (last) and the error stay; the rest in order while rows remain
    let keep = keep_last(extra, below);
    let [a, b, c] = area.layout(&Layout::vertical([
        Constraint::Length(top),
        Constraint::Length(chart_h),
        Constraint::Min(0),
    ]));
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .render(a, buf);
    if chart_h > 0 {
        speed_chart(app, t, b, buf);
    }
    Paragraph::new(keep).render(c, buf);
}

/// Rows `lines` take when wrapped at `width` (a long verdict takes two at 80 columns).
fn rows(lines: &[Line], width: u16) -> u16 {
    let w = width.max(1) as usize;
    let n: usize = lines.iter().map(|l| l.width().div_ceil(w).max(1)).sum();
    n.min(u16::MAX as usize) as u16
}

/// `n` lines of `lines`: the last one (the keys) always, the others from the first.
fn keep_last(mut lines: Vec<Line<'static>>, n: usize) -> Vec<Line<'static>> {
    if n == 0 || lines.is_empty() {
        return Vec::new();
    }
    let last = lines.pop();
    lines.truncate(n - 1);
    lines.extend(last);
    lines
}

/// The piece map squeezed to one line: each cell sums up the pieces it covers.
fn piece_bar_line(t: &TorrentSnapshot, width: usize) -> Line<'static> {
    if t.pieces.is_empty() {
        return Line::styled("pieces: not known yet (waiting for metadata)", theme::dim());
    }
    Line::from(
        piece_bar(&t.pieces, width)
            .into_iter()
            .map(|(c, s)| Span::styled(c.to_string(), s))
            .collect::<Vec<_>>(),
    )
}

/// One glyph per cell for `width` cells of the piece map. A cell covers the pieces
/// `[i*n/w, (i+1)*n/w)` (one piece at least): `X` if one failed its hash check, `▒` if one is
/// being fetched, `█` all verified, `▓` some verified, `·` none yet, blank if none is wanted.
/// The glyphs are the piece map's, so the bar reads without colour.
pub fn piece_bar(pieces: &[PieceView], width: usize) -> Vec<(char, Style)> {
    let n = pieces.len();
    if n == 0 {
        return Vec::new();
    }
    (0..width)
        .map(|i| {
            let start = i * n / width;
            let end = ((i + 1) * n / width).max(start + 1).min(n);
            let cell = &pieces[start.min(n - 1)..end];
            let has = |v: PieceView| cell.contains(&v);
            if has(PieceView::Failed) {
                theme::piece(PieceView::Failed)
            } else if has(PieceView::Requested) {
                theme::piece(PieceView::Requested)
            } else {
                let wanted = cell.iter().filter(|v| **v != PieceView::Unwanted).count();
                let done = cell.iter().filter(|v| **v == PieceView::Verified).count();
                match (wanted, done) {
                    (0, _) => theme::piece(PieceView::Unwanted),
                    (w, d) if d == w => theme::piece(PieceView::Verified),
                    (_, 0) => theme::piece(PieceView::Missing),
                    _ => theme::piece_partial(),
                }
            }
        })
        .collect()
}

/// "bottleneck: ...", a warning when something holds the download back.
fn verdict_line(app: &App, t: &TorrentSnapshot) -> Line<'static> {
    let v = app.verdict(t);
    let style = if v.is_none() {
        theme::good()
    } else {
        theme::warn()
    };
    Line::styled(v.to_string(), style)
}

/// Peers; progress, ratio and ETA; pieces (the first two are the dials that the narrow
/// layout always shows).
fn stats_lines(t: &TorrentSnapshot, state: TorrentState) -> Vec<Line<'static>> {
    let seeds = t
        .peers
        .iter()
        .filter(|p| t.piece_count > 0 && p.pieces >= t.piece_count)
        .count();
    let ratio = if t.downloaded > 0 {
        format!("{:.2}", t.uploaded as f64 / t.downloaded as f64)
    } else if t.uploaded > 0 {
        "∞".into()
    } else {
        "-".into()
    };
    let total = if t.total_length > 0 {
        size(t.total_length)
    } else {
        "?".into()
    };
    vec![
        field(
            "peers",
            format!(
                "{} connected · {} known · {seeds} seeds",
                t.peers.len(),
                t.known_peers
            ),
        ),
        // the rates are in the chart's caption
        field(
            "progress",
            format!(
                "{:.1}% of {total} · ratio {ratio} · ETA {}",
                progress(t) * 100.0,
                eta(t, state)
            ),
        ),
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
    ]
}

/// Time left at the current rate (`-` when not downloading, `∞` with no rate); `state`: as
/// the dashboard shows it (an error stops a torrent the picture says downloads).
pub fn eta(t: &TorrentSnapshot, state: TorrentState) -> String {
    if t.bytes_left == 0 || state != TorrentState::Downloading {
        return "-".into();
    }
    eta_secs(t).map_or_else(|| "∞".into(), |s| duration(Duration::from_secs_f64(s)))
}

/// A rate limit (`None`: none).
fn limit(v: Option<u64>) -> String {
    v.map_or_else(|| "none".into(), |b| rate(b as f64))
}

/// Info hash, transferred, limits, and the keys (last).
fn details_lines(app: &App, t: &TorrentSnapshot) -> Vec<Line<'static>> {
    let count = |n: Option<usize>| n.map_or_else(|| "any".into(), |n| n.to_string());
    let (l, g, q) = (&t.settings.limits, &app.limits, &app.queue_limits);
    let mut lines = vec![
        field("info hash", t.info_hash.to_string()),
        field(
            "transferred",
            format!(
                "{} down, {} up, {} elapsed",
                size(t.downloaded),
                size(t.uploaded),
                duration(t.elapsed)
            ),
        ),
        field(
            "limits",
            format!(
                "↓ {} ↑ {} · engine ↓ {} ↑ {}",
                limit(l.download),
                limit(l.upload),
                limit(g.download),
                limit(g.upload)
            ),
        ),
        field(
            "queue",
            format!(
                "at once {} downloads, {} seeds",
                count(q.max_active_downloads),
                count(q.max_active_seeds)
            ),
        ),
    ];
    lines.push(Line::styled(
        "Enter pieces · 9 files · Space mark · / filter · s S sort · p pause · d remove · L limits",
        theme::dim(),
    ));
    lines
}

/// The next round rate at or above `r` (1, 2, 3, 4, 5, 6 or 8 times a power of ten of KiB/s,
/// MiB/s or GiB/s), so the scale and its middle read round (`0`, `1 MiB/s`, `2 MiB/s`) and the
/// curve fills most of the chart's height.
pub fn scale_top(r: f64) -> f64 {
    const STEPS: [f64; 21] = [
        1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 80.0, 100.0, 200.0,
        300.0, 400.0, 500.0, 600.0, 800.0,
    ];
    let mut unit = 1024.0;
    loop {
        for m in STEPS {
            if m * unit >= r {
                return m * unit;
            }
        }
        unit *= 1024.0;
        if unit > 1e18 {
            return r;
        }
    }
}

/// `-5m`, `-2m30s`, `now`.
fn ago(secs: u64) -> String {
    match (secs / 60, secs % 60) {
        (0, 0) => "now".into(),
        (0, s) => format!("-{s}s"),
        (m, 0) => format!("-{m}m"),
        (m, s) => format!("-{m}m{s}s"),
    }
}

/// Download and upload rates over the history's window, oldest left, "now" right.
fn speed_chart(app: &App, t: &TorrentSnapshot, area: Rect, buf: &mut Buffer) {
    if area.height < 2 {
        return;
    }
    let step = app.history.interval.as_secs_f64().max(0.001);
    let samples = app.history.torrent(t.id).map_or(0, |s| s.len());
    // the first minute shows a minute (the data would be a sliver of five), then the whole
    // past the history keeps
    let whole = TORRENT_SAMPLES as f64 * step;
    let window = if samples as f64 * step <= FIRST_WINDOW {
        FIRST_WINDOW.min(whole)
    } else {
        whole
    };
    let points = |q: &std::collections::VecDeque<f64>| -> Vec<(f64, f64)> {
        let n = q.len();
        q.iter()
            .enumerate()
            .map(|(i, v)| (-((n - 1 - i) as f64) * step, *v))
            .collect()
    };
    let (down, up, peak) = match app.history.torrent(t.id) {
        // upload as dots where there was some (a row of dots along zero is only noise)
        Some(s) => {
            let mut up = points(&s.up);
            up.retain(|(_, v)| *v > 0.0);
            (points(&s.down), up, s.peak())
        }
        None => (Vec::new(), Vec::new(), 0.0),
    };
    let top = scale_top(peak.max(t.download_rate).max(t.upload_rate));
    let [caption, plot] = area.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
    ]));
    Line::from(vec![
        Span::styled("speed ", theme::label()),
        Span::styled("⣿ ↓ down ", theme::good()),
        Span::styled(rate(t.download_rate), theme::value()),
        Span::styled("  • ↑ up ", theme::outgoing()),
        Span::styled(rate(t.upload_rate), theme::value()),
        Span::styled(format!("  peak {}", rate(peak)), theme::dim()),
    ])
    .render(caption, buf);
    // five steps when wide enough, else the ends and the middle
    let window_s = window.round() as u64;
    let marks: Vec<u64> = if plot.width >= 60 {
        (0..=5).map(|i| window_s * (5 - i) / 5).collect()
    } else {
        vec![window_s, window_s / 2, 0]
    };
    let x_labels: Vec<Span> = marks.into_iter().map(|s| Span::raw(ago(s))).collect();
    let y_labels = vec![
        Span::raw("0"),
        Span::raw(rate(top / 2.0)),
        Span::raw(rate(top)),
    ];
    let datasets = vec![
        Dataset::default()
            .name("↓ down")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme::good())
            .data(&down),
        Dataset::default()
            .name("↑ up")
            .marker(Marker::Dot)
            .graph_type(GraphType::Scatter)
            .style(theme::outgoing())
            .data(&up),
    ];
    Chart::new(datasets)
        .legend_position(None)
        .x_axis(
            Axis::default()
                .bounds([-window, 0.0])
                .labels(x_labels)
                .style(theme::dim()),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels(y_labels)
                .style(theme::dim()),
        )
        .render(plot, buf);
}
