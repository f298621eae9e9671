//! Decode pane: a .torrent file (path) or pasted bencode as a navigable tree (the model is
//! [`DecodeState`]). Each node shows its byte offset and encoded length in the input; `pieces`
//! is split into its 20-byte SHA-1 hashes in hex; the info hash is SHA-1 of the raw `info` span
//! exactly as it appears in the input (never a re-encoding). Enter or Left/Right collapse and
//! expand.

use crate::tui::app::App;
use crate::tui::decode::{DecodeState, NodeKind};
use crate::tui::hits::List;
use crate::tui::theme;
use crate::tui::widgets::{field, pane_block};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

/// Node `i` as one line: offset, indentation, marker, key and value.
fn line(d: &DecodeState, i: usize) -> Line<'static> {
    let n = &d.nodes[i];
    let marker = if d.has_children(i) {
        if d.collapsed.get(i).copied().unwrap_or(false) {
            "▸ "
        } else {
            "▾ "
        }
    } else {
        "  "
    };
    let mut spans = vec![
        Span::styled(format!("{:>8} ", n.offset), theme::offset()),
        Span::raw("  ".repeat(n.depth as usize)),
        Span::raw(marker),
    ];
    if let Some(k) = &n.key {
        spans.push(Span::styled(format!("{k}: "), theme::key()));
    }
    match &n.kind {
        NodeKind::Int(v) => spans.push(Span::styled(v.to_string(), theme::value())),
        NodeKind::Bytes { len, preview, text } => {
            if *text {
                spans.push(Span::styled(format!("\"{preview}\""), theme::value()));
            } else {
                spans.push(Span::styled(preview.clone(), theme::hex()));
            }
            spans.push(Span::styled(format!("  ({len} bytes)"), theme::dim()));
        }
        NodeKind::List(c) => spans.push(Span::styled(format!("list, {c} items"), theme::label())),
        NodeKind::Dict(c) => spans.push(Span::styled(format!("dict, {c} keys"), theme::label())),
        NodeKind::PieceHash { index, hex } => {
            spans.push(Span::styled(format!("piece {index}: "), theme::label()));
            spans.push(Span::styled(hex.clone(), theme::hex()));
        }
    }
    if d.info_span
        .as_ref()
        .is_some_and(|r| r.start == n.offset && n.key.as_deref() == Some("info"))
    {
        spans.push(Span::styled("  ← info hash span", theme::good()));
    }
    Line::from(spans)
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let d = &app.decode;
    let input_h = if app.decode_input.is_some() { 3 } else { 0 };
    let [input, head, tree] = area.layout(&Layout::vertical([
        Constraint::Length(input_h),
        Constraint::Length(5),
        Constraint::Min(0),
    ]));
    if let Some(i) = &app.decode_input {
        let w = input.width.saturating_sub(2) as usize;
        let scroll = i.visual_scroll(w.saturating_sub(1));
        let text: String = i.value().chars().skip(scroll).collect();
        Paragraph::new(Line::from(vec![
            Span::styled(text, theme::input()),
            Span::styled(" ", theme::selected()),
        ]))
        .block(
            pane_block(" path of a .torrent file, or bencode (Enter decodes, Esc cancels) ".into())
                .border_style(theme::border_focused()),
        )
        .render(input, buf);
    }
    let mut lines = vec![];
    if d.source.is_empty() {
        lines.push(Line::styled(
            "o: open a .torrent file or type bencode; or paste bencode here",
            theme::dim(),
        ));
    } else {
        lines.push(field("source", format!("{} ({} bytes)", d.source, d.total)));
    }
    if let Some(h) = d.info_hash {
        let span = d.info_span.clone().unwrap_or_default();
        lines.push(field(
            "info hash",
            format!("{h}  (SHA-1 of bytes {}..{})", span.start, span.end),
        ));
    }
    if let Some(e) = &d.error {
        lines.push(Line::from(vec![
            Span::styled("error: ", theme::error()),
            Span::raw(e.clone()),
        ]));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .block(pane_block(" Decode ".into()))
        .render(head, buf);

    let block = pane_block(" tree (offset, Enter/←/→ collapse-expand) ".into());
    let inner = block.inner(tree);
    block.render(tree, buf);
    let vis = d.visible();
    let h = inner.height as usize;
    if h == 0 || vis.is_empty() {
        return;
    }
    let pos = vis.iter().position(|i| *i == d.selected).unwrap_or(0);
    let start = pos.saturating_sub(h / 2).min(vis.len().saturating_sub(h));
    app.hits.rows(List::Decode, inner, start);
    for (row, &i) in vis.iter().skip(start).take(h).enumerate() {
        let y = inner.y + row as u16;
        let r = Rect::new(inner.x, y, inner.width, 1);
        let line = line(d, i);
        if i == d.selected {
            buf.set_style(r, theme::selected());
            line.patch_style(theme::selected()).render(r, buf);
        } else {
            line.render(r, buf);
        }
    }
}
