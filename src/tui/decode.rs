//! The decode pane's model: a bencoded value (a .torrent file or pasted text) as a tree of
//! [`Node`]s with their byte offsets and encoded lengths, which nodes are collapsed, the
//! selection, and the info hash of the raw `info` span. `pieces` is split into its 20-byte
//! SHA-1 hashes. Changed only by `App::update`; the pane (`panes::decode`) reads it.
//!
//! Offsets: the decoder is strict (canonical bencode only), so a value's encoding is exactly
//! its input bytes and each node's offset follows from the encoded lengths of what precedes it.

use super::tree;
use crate::proto::bencode::{self, Value};
use crate::proto::id::{InfoHash, to_hex};
use crate::proto::metainfo::info_hash_of;
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

    /// Whether node `i` has children (a non-empty list or dict, or split piece hashes).
    pub fn has_children(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.end > i + 1)
    }

    pub fn move_by(&mut self, delta: i64) {
        self.selected = tree::moved(&self.visible(), self.selected, delta);
    }

    pub fn toggle(&mut self) {
        let branch = self.has_children(self.selected);
        tree::toggle(&mut self.collapsed, self.selected, branch);
    }

    pub fn expand(&mut self) {
        tree::expand(&mut self.collapsed, self.selected);
    }

    /// Collapse the selected node, or go to its parent when it is already collapsed or a leaf.
    pub fn collapse(&mut self) {
        let parent = self.nodes.get(self.selected).and_then(|n| n.parent);
        let branch = self.has_children(self.selected);
        self.selected = tree::collapse(&mut self.collapsed, self.selected, branch, parent);
    }
}
