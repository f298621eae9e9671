//! Rendering: `impl Widget for &App`. Borrows the model, never changes it, never blocks.
//!
//! Layout: a one-line tab bar, the current pane, a one-line status bar; the help overlay and
//! dialogs float over the pane. Every size works, down to 0x0: rows that do not fit are
//! dropped, and panes clip what they draw to the area they are given. The helpers shared with
//! the panes (blocks, fields, sizes, rates, durations) are in [`widgets`](super::widgets).

use super::action::{KEYS, Pane, Scope};
use super::app::{App, Dialog, ERROR_FRESH, NOTICE_FRESH, Notice};
use super::limits::LimitsForm;
use super::panes;
use super::theme;
use super::widgets::{centered, rate};
use crate::engine::event::TorrentState;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Widget, Wrap};

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        self.hits.clear();
        if area.width == 0 || area.height == 0 {
            return;
        }
        let [tabs, body, status] = area.layout(&Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
        ]));
        render_tabs(self, tabs, buf);
        self.hits.body(body);
        match self.pane {
            Pane::Torrents => panes::torrents::render(self, body, buf),
            Pane::Pieces => panes::pieces::render(self, body, buf),
            Pane::Peers => panes::peers::render(self, body, buf),
            Pane::Dht => panes::dht::render(self, body, buf),
            Pane::Metadata => panes::metadata::render(self, body, buf),
            Pane::Decode => panes::decode::render(self, body, buf),
            Pane::Magnet => panes::magnet::render(self, body, buf),
            Pane::Handshake => panes::handshake::render(self, body, buf),
            Pane::Files => panes::files::render(self, body, buf),
        }
        render_status(self, status, buf);
        if let Some(d) = &self.dialog {
            render_dialog(d, body, buf);
        }
        if self.help {
            render_help(self, body, buf);
        }
    }
}

fn render_tabs(app: &App, area: Rect, buf: &mut Buffer) {
    let first = Span::styled(" fast-peer ", theme::title());
    // where each tab starts, for the mouse (clipped to what fits)
    let mut x = area.x.saturating_add(first.width() as u16);
    let mut spans = vec![first];
    for (i, p) in Pane::ALL.iter().enumerate() {
        let style = if *p == app.pane {
            theme::tab_selected()
        } else {
            theme::tab()
        };
        let tab = Span::styled(format!(" {} {} ", i + 1, p.title()), style);
        let w = tab.width() as u16;
        app.hits
            .tab(Rect::new(x, area.y, w, 1).intersection(area), *p);
        x = x.saturating_add(w);
        spans.push(tab);
    }
    Line::from(spans).render(area, buf);
}

fn render_status(app: &App, area: Rect, buf: &mut Buffer) {
    let down: f64 = app.torrents.iter().map(|t| t.download_rate).sum();
    let up: f64 = app.torrents.iter().map(|t| t.upload_rate).sum();
    let dht = match &app.dht {
        Some(d) => format!(
            "DHT {} nodes",
            d.buckets.iter().map(|b| b.nodes.len()).sum::<usize>()
        ),
        None => "DHT off".to_string(),
    };
    let left = format!(
        " ↓ {}  ↑ {}  {dht}  port {}  ",
        rate(down),
        rate(up),
        app.listen_port
    );
    let notice = app.notices.back();
    let notice_style = |n: &Notice| {
        if n.error {
            theme::status_error()
        } else {
            theme::status_bar()
        }
    };
    // a fresh notice, else the verdict while the selected torrent is slow, else the last notice
    let (text, style) = match (notice, slow_verdict(app)) {
        (Some(n), Some(_)) if n.at.elapsed() < if n.error { ERROR_FRESH } else { NOTICE_FRESH } => {
            (n.text.clone(), notice_style(n))
        }
        (_, Some(v)) => (v, theme::status_warn()),
        (Some(n), None) => (n.text.clone(), notice_style(n)),
        (None, None) => (String::new(), theme::status_bar()),
    };
    buf.set_style(area, theme::status_bar());
    let line = Line::from(vec![
        Span::styled(left, theme::status_bar()),
        Span::styled(text, style),
    ]);
    line.render(area, buf);
    let hint = " ? help ";
    if area.width as usize > hint.len() + 10 {
        let x = area.right().saturating_sub(hint.len() as u16);
        buf.set_string(x, area.y, hint, theme::status_bar());
    }
}

/// The selected torrent's verdict while it is slow: downloading (or fetching its metadata)
/// with something named holding it back. Paused and queued torrents are the user's choice,
/// not slowness.
fn slow_verdict(app: &App) -> Option<String> {
    let t = app.torrent()?;
    let state = app.state_of(t);
    if !matches!(
        state,
        TorrentState::Downloading | TorrentState::FetchingMetadata
    ) {
        return None;
    }
    let v = app.verdict(t);
    (!v.is_none()).then(|| v.to_string())
}

fn render_dialog(d: &Dialog, area: Rect, buf: &mut Buffer) {
    let (title, lines): (&str, Vec<Line>) = match d {
        Dialog::ConfirmQuit => (
            " quit ",
            vec![
                Line::from("A download is running. Quit?"),
                Line::from(""),
                Line::from("y / Enter: quit   n / Esc: stay"),
            ],
        ),
        Dialog::ConfirmRemove { name, .. } => (
            " remove ",
            vec![
                Line::from(format!("Remove {name}?")),
                Line::from(""),
                Line::from(
                    "k: remove, keep the data   D: remove and delete the data   Esc: cancel",
                ),
            ],
        ),
        Dialog::AddPath {
            input,
            choose_files,
        } => (
            " add a .torrent path or a magnet (Enter adds, Esc cancels) ",
            vec![
                Line::from(Span::styled(input.value().to_string(), theme::input())),
                Line::from(vec![
                    Span::styled(if *choose_files { "[x]" } else { "[ ]" }, theme::key()),
                    Span::raw(" choose files first (Tab): it stops once its files are known"),
                ]),
            ],
        ),
        Dialog::Limits(form) => (" limits ", limits_lines(form)),
    };
    // room for the lines as they wrap
    let inner = (76.min(area.width) as usize).saturating_sub(2).max(1);
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let r = centered(area, 76, (rows + 2).min(u16::MAX as usize) as u16);
    Clear.render(r, buf);
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .style(theme::overlay())
        .block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(theme::border_focused())
                .title(title),
        )
        .render(r, buf);
}

/// Width of a limits field's box.
const BOX: usize = 12;

/// The limits dialog: the torrent's fields, the engine's, the error, the keys.
fn limits_lines(form: &LimitsForm) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut last_torrent = None;
    for (i, f) in form.fields.iter().enumerate() {
        if last_torrent != Some(f.kind.is_torrent()) {
            last_torrent = Some(f.kind.is_torrent());
            let head = match (&form.torrent, f.kind.is_torrent()) {
                (Some((_, name)), true) => format!("torrent {name}"),
                _ => "engine (every torrent)".to_string(),
            };
            lines.push(Line::styled(head, theme::header()));
        }
        let scroll = f.input.visual_scroll(BOX - 1);
        let text: String = f.input.value().chars().skip(scroll).collect();
        let focused = i == form.focus;
        let marker = if focused { "› " } else { "  " };
        let mut spans = vec![
            Span::styled(marker, theme::key()),
            Span::styled(format!("{:<18}", f.kind.label()), theme::label()),
        ];
        if focused {
            spans.push(Span::styled(text.clone(), theme::input()));
            spans.push(Span::styled(" ", theme::selected()));
        } else {
            spans.push(Span::styled(text.clone(), theme::value()));
            spans.push(Span::raw(" "));
        }
        let used = text.chars().count() + 1;
        spans.push(Span::raw(" ".repeat(BOX.saturating_sub(used))));
        let hint = if f.kind.is_rate() {
            "bytes/s"
        } else {
            "torrents"
        };
        spans.push(Span::styled(format!(" {hint}"), theme::dim()));
        lines.push(Line::from(spans));
    }
    if let Some(e) = &form.error {
        lines.push(Line::from(vec![
            Span::styled("error: ", theme::error()),
            Span::raw(e.clone()),
        ]));
    }
    lines.push(Line::styled(
        "Tab ↑ ↓ field · Enter apply · Esc cancel · 500K, 2M; empty or 0: none",
        theme::dim(),
    ));
    lines
}

/// The key table, in as many side-by-side columns as the height requires (so that the whole
/// table fits an 80x24 terminal).
fn render_help(_app: &App, area: Rect, buf: &mut Buffer) {
    let per_column = (area.height.saturating_sub(3) as usize).max(1);
    let columns = KEYS.len().div_ceil(per_column).max(1);
    let rows_used = KEYS.len().div_ceil(columns);
    let r = centered(
        area,
        (90 * columns as u16).min(area.width),
        rows_used as u16 + 3,
    );
    Clear.render(r, buf);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme::border_focused())
        .title(" keys (any key closes) ")
        // the mouse is no key: one line for it (off with --no-mouse or `mouse = false`)
        .title_bottom(" mouse: click a tab or a row; the wheel scrolls ")
        .style(theme::overlay());
    let inner = block.inner(r);
    block.render(r, buf);
    let constraints = vec![Constraint::Ratio(1, columns as u32); columns];
    let areas = Layout::horizontal(constraints).split(inner);
    for (chunk, col_area) in KEYS.chunks(rows_used).zip(areas.iter()) {
        let rows: Vec<Row> = chunk
            .iter()
            .map(|b| {
                let help = match b.scope {
                    Scope::Global => b.help.to_string(),
                    scope if columns == 1 => format!("{} (in {})", b.help, scope.label()),
                    _ => b.help.to_string(),
                };
                Row::new(vec![Span::styled(b.label, theme::key()), Span::raw(help)])
            })
            .collect();
        // each column's keys as wide as its longest (three columns fit 80 cells better)
        let key_w = chunk
            .iter()
            .map(|b| b.label.len())
            .max()
            .unwrap_or(0)
            .max(3) as u16;
        Table::new(rows, [Constraint::Length(key_w), Constraint::Min(10)])
            .header(Row::new(vec!["key", "what"]).style(theme::header()))
            .style(theme::overlay())
            .render(*col_area, buf);
    }
}
