//! Files pane: the selected torrent's files as a foldable tree (the model is
//! [`FileTree`]), each row with its size, how much of it is verified (from the piece map) and
//! its priority; a folder sums its files and shows their priority when they share one. The
//! header says how much is wanted, the torrent's order (sequential, first-last) and its rate
//! limits, and the keys. Pad files are not shown.

use crate::engine::event::{TorrentSnapshot, TorrentState};
use crate::engine::settings::FilePriority;
use crate::proto::metainfo::Info;
use crate::tui::app::App;
use crate::tui::files::{self, FileKind, FileTree};
use crate::tui::hits::List;
use crate::tui::panes::torrents::{bar, state_label};
use crate::tui::theme;
use crate::tui::widgets::{empty, pane_block, rate, size};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

/// Width of the size and priority columns.
const SIZE_W: u16 = 10;
const PRIORITY_W: u16 = 6;

/// What one row shows besides its name.
struct RowData {
    size: u64,
    fraction: f64,
    priority: String,
    style: Style,
}

fn on_off(v: bool) -> &'static str {
    if v { "on" } else { "off" }
}

fn limit(v: Option<u64>) -> String {
    v.map_or_else(|| "none".to_string(), |b| rate(b as f64))
}

/// Node `i`'s size, progress and priority (a folder's from its files).
fn row_data(tree: &FileTree, i: usize, prio: &[FilePriority], done: &[u64]) -> RowData {
    let under = tree.files_under(i);
    let size = tree.nodes.get(i).map_or(0, |n| n.size);
    let verified: u64 = under.iter().filter_map(|f| done.get(*f)).sum();
    let of = |f: &usize| prio.get(*f).copied().unwrap_or_default();
    let wanted = under.iter().any(|f| of(f) != FilePriority::Skip);
    let fraction = if size == 0 {
        // an empty file is complete once it exists: shown done when wanted
        if wanted { 1.0 } else { 0.0 }
    } else {
        verified.min(size) as f64 / size as f64
    };
    let first = under.first().map(of);
    let (priority, style) = match first {
        Some(p) if under.iter().all(|f| of(f) == p) => (p.label().to_string(), theme::priority(p)),
        Some(_) => ("mixed".to_string(), theme::value()),
        None => ("-".to_string(), theme::dim()),
    };
    RowData {
        size,
        fraction,
        priority,
        style,
    }
}

/// The header: what is wanted, the order and limits, the keys.
fn header(
    t: &TorrentSnapshot,
    app: &App,
    info: &Info,
    prio: &[FilePriority],
) -> Vec<Line<'static>> {
    let real = |i: &usize| info.files.get(*i).is_some_and(|f| !f.attr.pad);
    let shown: Vec<usize> = (0..info.files.len()).filter(real).collect();
    let wanted: Vec<usize> = shown
        .iter()
        .copied()
        .filter(|i| prio.get(*i).copied().unwrap_or_default() != FilePriority::Skip)
        .collect();
    let wanted_bytes: u64 = wanted
        .iter()
        .filter_map(|i| info.files.get(*i))
        .map(|f| f.length)
        .sum();
    let state = app.state_of(t);
    let w = &t.settings.wants;
    let l = &t.settings.limits;
    let mut keys = "Space skip/get · + - priority · A all · N none · Enter ← → fold".to_string();
    if state == TorrentState::Paused {
        keys.push_str(" · p starts it");
    }
    vec![
        Line::from(vec![
            Span::styled(t.name.clone(), theme::title()),
            Span::raw(" · "),
            Span::styled(state_label(state), theme::torrent_state(state)),
            Span::raw(format!(
                " · {} of {} files wanted, {} of {}",
                wanted.len(),
                shown.len(),
                size(wanted_bytes),
                size(info.total_length)
            )),
        ]),
        Line::from(vec![
            Span::styled("sequential ", theme::label()),
            Span::styled(on_off(w.sequential), theme::value()),
            Span::styled(" (s) · first-last ", theme::label()),
            Span::styled(on_off(w.first_last), theme::value()),
            Span::styled(" (f) · limits ↓ ", theme::label()),
            Span::styled(limit(l.download), theme::value()),
            Span::styled(" ↑ ", theme::label()),
            Span::styled(limit(l.upload), theme::value()),
            Span::styled(" (L)", theme::label()),
        ]),
        Line::styled(keys, theme::dim()),
    ]
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(t) = app.torrent() else {
        return empty(
            area,
            buf,
            " Files ".into(),
            "No torrents. Press a to add one (Tab there: choose its files first).",
        );
    };
    let title = format!(" Files of {} ", t.name);
    let (Some(m), Some(tree)) = (
        app.metainfo.get(&t.id),
        app.file_tree.as_ref().filter(|tree| tree.id == t.id),
    ) else {
        return empty(
            area,
            buf,
            title,
            "waiting for metadata: the files are known once peers have sent it.",
        );
    };
    let info = &m.info;
    let prio = files::priorities(t, info);
    let head_h = if area.height >= 12 { 5 } else { 0 };
    let [head, list] = area.layout(&Layout::vertical([
        Constraint::Length(head_h),
        Constraint::Min(0),
    ]));
    if head_h > 0 {
        Paragraph::new(header(t, app, info, &prio))
            .wrap(Wrap { trim: true })
            .block(pane_block(title.clone()))
            .render(head, buf);
    }
    let block = pane_block(if head_h > 0 {
        " name / size / done / priority ".into()
    } else {
        title
    });
    let inner = block.inner(list);
    block.render(list, buf);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let done = files::verified_bytes(info, &t.pieces);
    // columns from the right: priority, progress, size; the name takes the rest
    let progress_w: u16 = if inner.width >= 90 { 20 } else { 7 };
    let fixed = SIZE_W + progress_w + PRIORITY_W + 3;
    let columns = inner.width >= fixed + 8;
    let name_w = if columns {
        inner.width - fixed
    } else {
        inner.width.saturating_sub(PRIORITY_W + 1)
    };
    let vis = tree.visible();
    let h = inner.height as usize;
    let pos = vis.iter().position(|i| *i == tree.selected).unwrap_or(0);
    let start = pos.saturating_sub(h / 2).min(vis.len().saturating_sub(h));
    app.hits.rows(List::Files, inner, start);
    for (row, &i) in vis.iter().skip(start).take(h).enumerate() {
        let Some(n) = tree.nodes.get(i) else {
            continue;
        };
        let y = inner.y + row as u16;
        let d = row_data(tree, i, &prio, &done);
        let selected = i == tree.selected;
        let pick = |s: Style| if selected { theme::selected() } else { s };
        if selected {
            buf.set_style(Rect::new(inner.x, y, inner.width, 1), theme::selected());
        }
        let marker = match n.kind {
            FileKind::Folder if tree.collapsed.get(i).copied().unwrap_or(false) => "▸ ",
            FileKind::Folder => "▾ ",
            FileKind::File(_) => "  ",
        };
        let indent = "  ".repeat(usize::from(n.depth).min(64));
        let name = format!("{indent}{marker}{}", n.name);
        let name_style = match n.kind {
            FileKind::Folder => theme::key(),
            FileKind::File(_) => theme::value(),
        };
        buf.set_stringn(inner.x, y, &name, name_w as usize, pick(name_style));
        let mut x = inner.x + name_w;
        if columns {
            let s = format!(" {:>w$}", size(d.size), w = SIZE_W as usize);
            buf.set_stringn(x, y, &s, SIZE_W as usize + 1, pick(theme::value()));
            x += SIZE_W + 1;
            let p = if progress_w > 7 {
                bar(d.fraction, progress_w as usize)
            } else {
                format!("{:>5.1}%", d.fraction * 100.0)
            };
            buf.set_stringn(x + 1, y, &p, progress_w as usize, pick(theme::good()));
            x += progress_w + 1;
        }
        let p = format!(" {:<w$}", d.priority, w = PRIORITY_W as usize);
        let room = (inner.right().saturating_sub(x)) as usize;
        buf.set_stringn(x, y, &p, room, pick(d.style));
    }
}
