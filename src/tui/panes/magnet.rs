//! Magnet pane: a text input; the magnet link (BEP 9) is parsed on every keystroke and shown
//! field by field, or the error with the bad part of the link highlighted. Enter adds it.

use crate::proto::magnet;
use crate::tui::app::App;
use crate::tui::theme;
use crate::tui::widgets::{field, pane_block};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let [input_area, result] = area.layout(&Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(0),
    ]));
    let value = app.magnet.value();
    let parsed = if value.trim().is_empty() {
        None
    } else {
        Some(magnet::parse(value.trim()))
    };
    // the error's byte range, shifted by what trim() removed at the front
    let lead = value.len() - value.trim_start().len();
    let bad = match &parsed {
        Some(Err(e)) => e.span().map(|r| r.start + lead..r.end + lead),
        _ => None,
    };
    let block = pane_block(if app.magnet_focus {
        " Magnet: type or paste a link, Enter adds it, Esc leaves the box ".into()
    } else {
        " Magnet (Enter or m to type) ".into()
    })
    .border_style(if app.magnet_focus {
        theme::border_focused()
    } else {
        theme::border()
    });
    let inner = block.inner(input_area);
    block.render(input_area, buf);
    let width = inner.width as usize;
    let scroll = app.magnet.visual_scroll(width.saturating_sub(1));
    let cursor = app.magnet.visual_cursor();
    let mut spans: Vec<Span> = Vec::new();
    for (i, (byte, ch)) in value.char_indices().enumerate().skip(scroll).take(width) {
        let mut style = if bad.as_ref().is_some_and(|r| r.contains(&byte)) {
            theme::error_span()
        } else {
            theme::input()
        };
        if app.magnet_focus && i == cursor {
            style = style.add_modifier(Modifier::REVERSED);
        }
        spans.push(Span::styled(ch.to_string(), style));
    }
    if app.magnet_focus
        && cursor >= value.chars().count()
        && cursor >= scroll
        && cursor - scroll < width
    {
        spans.push(Span::styled(
            " ",
            Style::new().add_modifier(Modifier::REVERSED),
        ));
    }
    Line::from(spans).render(inner, buf);

    let lines: Vec<Line> = match parsed {
        None => vec![
            Line::styled(
                "Paste a magnet link (magnet:?xt=urn:btih:…) — it is parsed as you type.",
                theme::dim(),
            ),
            Line::styled(
                "Bracketed paste: a long link arrives as one event.",
                theme::dim(),
            ),
        ],
        Some(Ok(m)) => {
            let mut l = vec![
                Line::styled("valid magnet link — Enter adds it", theme::good()),
                field("info hash", m.info_hash.to_string()),
                field("name", m.name.clone().unwrap_or_else(|| "(none)".into())),
            ];
            if let Some(x) = m.exact_length {
                l.push(field("length", format!("{x} bytes")));
            }
            l.push(field("trackers", m.trackers.len().to_string()));
            l.extend(m.trackers.iter().map(|t| Line::from(format!("  {t}"))));
            l.push(field("peers", m.peers.len().to_string()));
            l.extend(m.peers.iter().map(|p| Line::from(format!("  {p}"))));
            if !m.web_seeds.is_empty() {
                l.push(field("web seeds", m.web_seeds.len().to_string()));
                l.extend(m.web_seeds.iter().map(|w| Line::from(format!("  {w}"))));
            }
            l
        }
        Some(Err(e)) => {
            let mut l = vec![Line::from(vec![
                Span::styled("error: ", theme::error()),
                Span::raw(e.to_string()),
            ])];
            if let Some(r) = &bad {
                let part = value.get(r.clone()).unwrap_or_default();
                l.push(Line::from(vec![
                    Span::styled("bad part: ", theme::label()),
                    Span::styled(part.to_string(), theme::error_span()),
                    Span::styled(format!("  (bytes {}..{})", r.start, r.end), theme::dim()),
                ]));
            }
            l
        }
    };
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((app.scroll, 0))
        .block(pane_block(" parsed ".into()))
        .render(result, buf);
}
