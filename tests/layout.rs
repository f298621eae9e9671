#![allow(clippy::unwrap_used)]
//! The codebase's shape, checked: no import cycle between source files, and no file too long to
//! read.
//!
//! Every `src/**/*.rs` file is a node; an edge goes from a file to each module file its code
//! names (`use crate::a::b`, `super::x`, paths written inline, `use` groups). Edges between a
//! folder's `mod.rs` and its own direct children do not count (a folder re-exports its
//! children and they may use what it declares). What remains must have no cycle, so the code
//! reads from the bottom up: data and snapshot types, protocol state, connections, the
//! torrent, the engine, the front ends.
//!
//! Length: a source file holds at most [`MAX_CODE_LINES`] lines of code (its unit tests,
//! comments and blank lines not counted); a test file at most [`MAX_TEST_LINES`] lines.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const MAX_CODE_LINES: usize = 800;
const MAX_TEST_LINES: usize = 900;

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The module path of a file under `src/` (`engine/conn/mod.rs` -> `["engine", "conn"]`).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    match last.as_str() {
        "mod.rs" | "lib.rs" | "main.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_string()),
    }
    parts
}

/// The code of a file without comments and string literals (so paths in docs do not count),
/// and without its `#[cfg(test)]` module.
fn code_of(text: &str) -> String {
    let text = match text.find("\n#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    // ASCII only: paths are ASCII, and byte offsets stay char boundaries
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // a char literal such as '{' (lifetimes have no closing quote there)
            i += 3;
        } else {
            out.push(if b[i].is_ascii() { b[i] as char } else { ' ' });
            i += 1;
        }
    }
    out
}

/// Every module path named in `code`, written from the crate root or relative to `here`
/// (`super::`, `self::`). A `use` group (`crate::a::{b, c::D}`) names each of its members.
fn named_paths(code: &str, here: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let b = code.as_bytes();
    let starts = ["crate::", "super::", "self::"];
    let mut i = 0;
    while i < b.len() {
        let Some(start) = starts.iter().find(|s| code[i..].starts_with(**s)) else {
            i += 1;
            continue;
        };
        if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b':') {
            i += 1;
            continue;
        }
        // the module this path is relative to; a file's own module for `self`, its parent for
        // `super` (a `mod.rs` is the folder's module itself)
        let mut base: Vec<String> = match *start {
            "crate::" => Vec::new(),
            "self::" => here.to_vec(),
            _ => {
                let mut p = here.to_vec();
                p.pop();
                p
            }
        };
        i += start.len();
        // further `super::`
        while code[i..].starts_with("super::") {
            base.pop();
            i += "super::".len();
        }
        let end = walk_path(code, i, &base, &mut found);
        i = end.max(i + 1);
    }
    found
}

/// Read one path (or `use` group) at `i` under `prefix`, pushing every full path it names;
/// returns where it ended.
fn walk_path(code: &str, mut i: usize, prefix: &[String], found: &mut Vec<Vec<String>>) -> usize {
    let b = code.as_bytes();
    let mut path = prefix.to_vec();
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'{' {
            // a group: each member is a path under `path`
            i += 1;
            loop {
                while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
                    i += 1;
                }
                if i >= b.len() || b[i] == b'}' {
                    return i + 1;
                }
                if code[i..].starts_with("self") && !is_ident(b.get(i + 4)) {
                    found.push(path.clone());
                    i += 4;
                    continue;
                }
                let end = walk_path(code, i, &path, found);
                if end <= i {
                    i += 1;
                } else {
                    i = end;
                }
                // skip `as name`
                while i < b.len() && b[i] != b',' && b[i] != b'}' {
                    i += 1;
                }
            }
        }
        let s = i;
        while i < b.len() && is_ident(b.get(i)) {
            i += 1;
        }
        if i == s {
            found.push(path);
            return i;
        }
        path.push(code[s..i].to_string());
        if code[i..].starts_with("::") {
            i += 2;
        } else {
            found.push(path);
            return i;
        }
    }
}

fn is_ident(c: Option<&u8>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// The deepest module file a path names (a path to an item names the item's module).
fn resolve(path: &[String], modules: &BTreeMap<Vec<String>, PathBuf>) -> Option<Vec<String>> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains_key(p))
}

/// Strongly connected components of more than one node (Tarjan).
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        on_stack: BTreeSet<&'a Vec<String>>,
        stack: Vec<&'a Vec<String>>,
        next: usize,
        out: Vec<Vec<Vec<String>>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Vec<String>) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on_stack: BTreeSet::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// The import graph of the library's files, with the folder exception applied.
fn import_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    for f in rust_files(&src) {
        let rel = f.strip_prefix(&src).unwrap().to_path_buf();
        if rel == Path::new("main.rs") {
            continue; // the binary is its own crate
        }
        modules.insert(module_of(&rel), f);
    }
    let mut graph = BTreeMap::new();
    for (m, f) in &modules {
        let text = fs::read_to_string(f).unwrap();
        let mut edges = BTreeSet::new();
        for p in named_paths(&code_of(&text), m) {
            let Some(to) = resolve(&p, &modules) else {
                continue;
            };
            let parent_child = (to.len() == m.len() + 1 && to[..m.len()] == m[..])
                || (m.len() == to.len() + 1 && m[..to.len()] == to[..]);
            if to != *m && !parent_child {
                edges.insert(to);
            }
        }
        graph.insert(m.clone(), edges);
    }
    graph
}

#[test]
fn no_import_cycle_between_source_files() {
    let graph = import_graph();
    assert!(
        graph.len() > 50,
        "the scan found only {} modules",
        graph.len()
    );
    let found = cycles(&graph);
    let text: Vec<String> = found
        .iter()
        .map(|c| {
            c.iter()
                .map(|m| m.join("::"))
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(found.is_empty(), "import cycles:\n{}", text.join("\n"));
}

#[test]
fn the_cycle_finder_finds_cycles() {
    // the checker itself: a <-> b is found, a -> b -> c is not
    let m = |s: &str| vec![s.to_string()];
    let mut g = BTreeMap::new();
    g.insert(m("a"), BTreeSet::from([m("b")]));
    g.insert(m("b"), BTreeSet::from([m("c")]));
    g.insert(m("c"), BTreeSet::new());
    assert!(cycles(&g).is_empty());
    g.get_mut(&m("c")).unwrap().insert(m("a"));
    assert_eq!(cycles(&g).len(), 1);
    // and the path reader sees groups, `super` and items
    let here = vec![
        "engine".to_string(),
        "torrent".to_string(),
        "task".to_string(),
    ];
    let paths = named_paths(
        "use super::shared::{PeerSlot, Shared};\nuse crate::engine::{conn::Connection, event};\nlet x = crate::proto::id::PeerId::generate();",
        &here,
    );
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    for want in [
        "engine::torrent::shared::PeerSlot",
        "engine::conn::Connection",
        "engine::event",
        "proto::id::PeerId::generate",
    ] {
        assert!(joined.iter().any(|j| j == want), "{want} in {joined:?}");
    }
}

/// Lines of code: not blank, not a comment, before the file's unit tests.
fn code_lines(text: &str) -> usize {
    text.lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .filter(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with("//")
        })
        .count()
}

#[test]
fn no_source_file_is_too_long() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let long: Vec<String> = rust_files(&src)
        .into_iter()
        .filter_map(|f| {
            let n = code_lines(&fs::read_to_string(&f).unwrap());
            (n > MAX_CODE_LINES).then(|| format!("{} ({n} lines of code)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_CODE_LINES} lines: {long:?}");
}

#[test]
fn no_test_file_is_too_long() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let long: Vec<String> = rust_files(&root.join("tests"))
        .into_iter()
        .filter_map(|f| {
            let n = fs::read_to_string(&f).unwrap().lines().count();
            (n > MAX_TEST_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_TEST_LINES} lines: {long:?}");
}
