//! Decode pane: a .torrent file (path) or pasted bencode as a navigable tree. Each node shows
//! its byte offset and encoded length in the input; `pieces` is split into its 20-byte SHA-1
//! hashes in hex; the info hash is SHA-1 of the raw `info` span exactly as it appears in the
//! input (never a re-encoding). Enter or Left/Right collapse and expand.
//!
//! Offsets: the decoder is strict (canonical bencode only), so a value's encoding is exactly
//! its input bytes and each node's offset follows from the encoded lengths of what precedes it.

use crate::proto::bencode::{self, Value};
use crate::proto::id::{InfoHash, to_hex};
use crate::proto::metainfo::info_hash_of;
use crate::tui::app::App;
use crate::tui::theme;
use crate::tui::view::{field, pane_block};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};
use std::ops::Range;

/// Largest file the pane reads.
pub const MAX_FILE: u64 = 64 * 1024 * 1024;

/// What a tree node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Int(i64),
    /// A byte string: shown as text when it is UTF-8, else as hex.
    Bytes {
        len: usize,
        preview: String,
        text: bool,
    },
    List(usize),
    Dict(usize),
    /// One SHA-1 of a `pieces` string.
    PieceHash {
        index: usize,
        hex: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub depth: u16,
    /// Dict key (UTF-8 lossy) or list index.
    pub key: Option<String>,
    pub kind: NodeKind,
    /// Byte offset of the encoded value in the input.
    pub offset: usize,
    /// Encoded length in bytes.
    pub len: usize,
    /// Index just past this node's subtree.
    pub end: usize,
    pub parent: Option<usize>,
}

/// The decode pane's model.
#[derive(Debug, Clone, Default)]
pub struct DecodeState {
    /// Where the bytes came from.
    pub source: String,
    pub total: usize,
    pub nodes: Vec<Node>,
    pub collapsed: Vec<bool>,
    /// Selected node (index into `nodes`).
    pub selected: usize,
    pub info_span: Option<Range<usize>>,
    pub info_hash: Option<InfoHash>,
    pub error: Option<String>,
}

fn preview_of(b: &[u8]) -> (String, bool) {
    const MAX: usize = 64;
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(|c| c.is_control()) => {
            let mut p: String = s.chars().take(MAX).collect();
            if s.chars().count() > MAX {
                p.push('…');
            }
            (p, true)
        }
        _ => {
            let mut p = to_hex(&b[..b.len().min(MAX / 2)]);
            if b.len() > MAX / 2 {
                p.push('…');
            }
            (p, false)
        }
    }
}

/// Encoded length of `v` (canonical bencode).
fn encoded_len(v: &Value) -> usize {
    match v {
        Value::Int(i) => 2 + i.to_string().len(),
        Value::Bytes(b) => b.len().to_string().len() + 1 + b.len(),
        Value::List(l) => 2 + l.iter().map(encoded_len).sum::<usize>(),
        Value::Dict(d) => {
            2 + d
                .iter()
                .map(|(k, v)| k.len().to_string().len() + 1 + k.len() + encoded_len(v))
                .sum::<usize>()
        }
    }
}

fn build(
    nodes: &mut Vec<Node>,
    v: &Value,
    key: Option<String>,
    depth: u16,
    offset: usize,
    parent: Option<usize>,
) {
    let me = nodes.len();
    let len = encoded_len(v);
    let kind = match v {
        Value::Int(i) => NodeKind::Int(*i),
        Value::Bytes(b) => {
            let (preview, text) = preview_of(b);
            NodeKind::Bytes {
                len: b.len(),
                preview,
                text,
            }
        }
        Value::List(l) => NodeKind::List(l.len()),
        Value::Dict(d) => NodeKind::Dict(d.len()),
    };
    nodes.push(Node {
        depth,
        key: key.clone(),
        kind,
        offset,
        len,
        end: me + 1,
        parent,
    });
    match v {
        Value::List(l) => {
            let mut off = offset + 1;
            for (i, item) in l.iter().enumerate() {
                build(
                    nodes,
                    item,
                    Some(format!("[{i}]")),
                    depth + 1,
                    off,
                    Some(me),
                );
                off += encoded_len(item);
            }
        }
        Value::Dict(d) => {
            let mut off = offset + 1;
            for (k, item) in d {
                off += k.len().to_string().len() + 1 + k.len();
                build(
                    nodes,
                    item,
                    Some(String::from_utf8_lossy(k).into_owned()),
                    depth + 1,
                    off,
                    Some(me),
                );
                off += encoded_len(item);
            }
        }
        Value::Bytes(b) if key.as_deref() == Some("pieces") && b.len() % 20 == 0 => {
            let data = offset + b.len().to_string().len() + 1;
            for (i, h) in b.chunks_exact(20).enumerate() {
                nodes.push(Node {
                    depth: depth + 1,
                    key: None,
                    kind: NodeKind::PieceHash {
                        index: i,
                        hex: to_hex(h),
                    },
                    offset: data + i * 20,
                    len: 20,
                    end: nodes.len() + 1,
                    parent: Some(me),
                });
            }
        }
        _ => {}
    }
    let end = nodes.len();
    nodes[me].end = end;
}

impl DecodeState {
    /// Decode `bytes`, labelled `source`.
    pub fn from_bytes(bytes: &[u8], source: String) -> DecodeState {
        let mut s = DecodeState {
            source,
            total: bytes.len(),
            ..DecodeState::default()
        };
        match bencode::decode_with_info_span(bytes) {
            Ok((v, span)) => {
                build(&mut s.nodes, &v, None, 0, 0, None);
                // piece hashes start collapsed: a big torrent has tens of thousands
                s.collapsed = s
                    .nodes
                    .iter()
                    .map(|n| n.key.as_deref() == Some("pieces"))
                    .collect();
                s.info_hash = span
                    .as_ref()
                    .and_then(|r| bytes.get(r.clone()))
                    .map(info_hash_of);
                s.info_span = span;
            }
            Err(e) => s.error = Some(e.to_string()),
        }
        s
    }

    /// A path to an existing file is read; anything else is taken as bencode text.
    pub fn from_text_or_path(text: &str) -> DecodeState {
        let trimmed = text.trim();
        let path = std::path::Path::new(trimmed);
        if !trimmed.is_empty() && !trimmed.contains('\n') && path.is_file() {
            let read = std::fs::metadata(path).and_then(|m| {
                if m.len() > MAX_FILE {
                    Err(std::io::Error::other(format!(
                        "{} bytes is over the {MAX_FILE}-byte limit",
                        m.len()
                    )))
                } else {
                    std::fs::read(path)
                }
            });
            return match read {
                Ok(b) => DecodeState::from_bytes(&b, trimmed.to_string()),
                Err(e) => DecodeState {
                    source: trimmed.to_string(),
                    error: Some(format!("read {trimmed}: {e}")),
                    ..DecodeState::default()
                },
            };
        }
        let bytes = text.trim_end_matches(['\n', '\r']).as_bytes();
        DecodeState::from_bytes(bytes, format!("pasted text ({} bytes)", bytes.len()))
    }

    /// Node indices shown, in order (collapsed subtrees skipped).
    pub fn visible(&self) -> Vec<usize> {
        let mut v = Vec::new();
        let mut i = 0;
        while i < self.nodes.len() {
            v.push(i);
            i = if self.collapsed.get(i).copied().unwrap_or(false) {
                self.nodes[i].end.max(i + 1)
            } else {
                i + 1
            };
        }
        v
    }

    fn has_children(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.end > i + 1)
    }

    pub fn move_by(&mut self, delta: i64) {
        let vis = self.visible();
        if vis.is_empty() {
            return;
        }
        let pos = vis.iter().position(|i| *i == self.selected).unwrap_or(0);
        let next = (pos as i64)
            .saturating_add(delta)
            .clamp(0, vis.len() as i64 - 1) as usize;
        self.selected = vis[next];
    }

    pub fn toggle(&mut self) {
        if self.has_children(self.selected)
            && let Some(c) = self.collapsed.get_mut(self.selected)
        {
            *c = !*c;
        }
    }

    pub fn expand(&mut self) {
        if let Some(c) = self.collapsed.get_mut(self.selected) {
            *c = false;
        }
    }

    /// Collapse the selected node, or go to its parent when it is already collapsed or a leaf.
    pub fn collapse(&mut self) {
        let open = self.has_children(self.selected)
            && !self.collapsed.get(self.selected).copied().unwrap_or(true);
        if open {
            self.collapsed[self.selected] = true;
        } else if let Some(p) = self.nodes.get(self.selected).and_then(|n| n.parent) {
            self.selected = p;
        }
    }

    fn line(&self, i: usize) -> Line<'static> {
        let n = &self.nodes[i];
        let marker = if self.has_children(i) {
            if self.collapsed.get(i).copied().unwrap_or(false) {
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
            NodeKind::List(c) => {
                spans.push(Span::styled(format!("list, {c} items"), theme::label()))
            }
            NodeKind::Dict(c) => {
                spans.push(Span::styled(format!("dict, {c} keys"), theme::label()))
            }
            NodeKind::PieceHash { index, hex } => {
                spans.push(Span::styled(format!("piece {index}: "), theme::label()));
                spans.push(Span::styled(hex.clone(), theme::hex()));
            }
        }
        if self
            .info_span
            .as_ref()
            .is_some_and(|r| r.start == n.offset && n.key.as_deref() == Some("info"))
        {
            spans.push(Span::styled("  ← info hash span", theme::good()));
        }
        Line::from(spans)
    }
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
    for (row, &i) in vis.iter().skip(start).take(h).enumerate() {
        let y = inner.y + row as u16;
        let r = Rect::new(inner.x, y, inner.width, 1);
        let line = d.line(i);
        if i == d.selected {
            buf.set_style(r, theme::selected());
            line.patch_style(theme::selected()).render(r, buf);
        } else {
            line.render(r, buf);
        }
    }
}
