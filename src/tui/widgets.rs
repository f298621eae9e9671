//! Drawing helpers shared by the frame (`tui::view`) and the panes: the pane block,
//! `label: value` lines, the empty-pane message, a centred rectangle, and the formatting of
//! sizes, rates and durations (humansize). A leaf: it reads the theme and nothing else of the
//! dashboard.

use super::theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};
use std::time::Duration;

/// A rectangle of `w` x `h` centred in `area` (clipped to it).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// A bordered block titled for a pane.
pub fn pane_block(title: String) -> Block<'static> {
    Block::new()
        .borders(Borders::ALL)
        .border_style(theme::border())
        .title(Span::styled(title, theme::title()))
}

/// Bytes as `12.3 MiB`.
pub fn size(bytes: u64) -> String {
    humansize::format_size(bytes, humansize::BINARY)
}

/// Bytes per second as `1.2 MiB/s`.
pub fn rate(bps: f64) -> String {
    if !bps.is_finite() || bps < 1.0 {
        return "0 B/s".to_string();
    }
    format!(
        "{}/s",
        humansize::format_size(bps as u64, humansize::BINARY)
    )
}

/// A duration as `1h02m`, `3m04s` or `5s`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if d.as_millis() < 10_000 && !d.as_millis().is_multiple_of(1000) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{s}s")
    }
}

/// A `label: value` line.
pub fn field(label: &str, value: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{label}: "), theme::label()),
        Span::styled(value.into(), theme::value()),
    ])
}

/// A message for a pane with nothing to show yet.
pub fn empty(area: Rect, buf: &mut Buffer, title: String, text: &str) {
    Paragraph::new(Line::styled(text.to_string(), theme::dim()))
        .wrap(Wrap { trim: true })
        .block(pane_block(title))
        .render(area, buf);
}
