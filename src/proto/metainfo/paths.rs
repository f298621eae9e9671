//! Path elements and file names of a torrent, made safe the way libtorrent 2.0 does it
//! (`sanitize_append_path_element` and `resolve_duplicate_filenames` in its
//! `torrent_info.cpp`), so that fast-peer writes the same files to the same places as every
//! libtorrent-based client, and never outside the output folder.
//!
//! - [`sanitize_component`]: one raw path element in, a safe name (or nothing) out;
//! - [`unsafe_component_reason`]: the rule every stored component obeys, checked again by
//!   storage and torrent creation;
//! - [`rename_duplicates`]: distinct paths for files that collide (ignoring ASCII case) or
//!   sit where a folder must be;
//! - [`sanitize_symlinks`]: a BEP 47 symlink may only point at a file or folder of the
//!   torrent; any other link is made to point at itself (libtorrent's `sanitize_symlinks`).

use std::collections::{HashMap, HashSet};

use super::FileEntry;

/// Why a path component could address outside the output folder or confuse a file system;
/// `None` when it is safe. Every component [`sanitize_component`] returns is safe; storage and
/// torrent creation check again.
pub fn unsafe_component_reason(c: &str) -> Option<&'static str> {
    if c.is_empty() {
        Some("empty")
    } else if c == "." || c == ".." {
        Some("relative directory")
    } else if c.contains('/') || c.contains('\\') {
        Some("contains a path separator")
    } else if c.contains('\0') {
        Some("contains NUL")
    } else {
        None
    }
}

/// One code point of `b` the way libtorrent reads it: `(code point or -1, bytes consumed)`.
/// An invalid sequence consumes the whole length its lead byte announces.
fn utf8_codepoint(b: &[u8]) -> (i32, usize) {
    let lead = b[0];
    let len = match lead {
        0x00..=0x7f => return (i32::from(lead), 1),
        _ if lead & 0xe0 == 0xc0 => 2,
        _ if lead & 0xf0 == 0xe0 => 3,
        _ if lead & 0xf8 == 0xf0 => 4,
        _ if lead & 0xfc == 0xf8 => return (-1, 5),
        _ => return (-1, 1),
    };
    if len > b.len() {
        return (-1, b.len());
    }
    let mut ch = i32::from(lead & (0x7f >> len));
    for &c in &b[1..len] {
        if c & 0xc0 != 0x80 {
            return (-1, len);
        }
        ch = (ch << 6) | i32::from(c & 0x3f);
    }
    let overlong = match len {
        2 => ch < 0x80,
        3 => ch < 0x800,
        _ => ch < 0x10000,
    };
    if overlong || ch > 0x10ffff || (0xd800..=0xdfff).contains(&ch) {
        return (-1, len);
    }
    (ch, len)
}

/// Make one path element safe the way libtorrent does (`sanitize_append_path_element`):
/// `/`, `\`, NUL and the bidirectional-override characters are removed; control characters
/// and each invalid UTF-8 sequence become `_`; an empty element becomes `_`; an element that
/// is left with only one or two dots (`.`, `..`, `/..`) is dropped (`None`); an element longer
/// than 240 bytes is cut there, keeping an extension of up to 9 bytes. The result is valid
/// UTF-8 and passes [`unsafe_component_reason`].
pub fn sanitize_component(elem: &[u8]) -> Option<String> {
    const BIDI: [i32; 7] = [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x200e, 0x200f];
    if elem == b"." {
        return None;
    }
    if elem.is_empty() {
        return Some("_".into());
    }
    let mut out: Vec<u8> = Vec::with_capacity(elem.len());
    let mut added = 0usize;
    let mut dots = 0usize;
    let mut found_extension = false;
    let mut i = 0usize;
    while i < elem.len() {
        let (cp, len) = utf8_codepoint(&elem[i..]);
        let start = i;
        i += len;
        if cp >= 0 && (BIDI.contains(&cp) || matches!(cp, 0 | 0x2f | 0x5c)) {
            continue;
        }
        if cp < 32 {
            out.push(b'_');
            added += 1;
            continue;
        }
        out.extend_from_slice(&elem[start..start + len]);
        if cp == i32::from(b'.') {
            dots += 1;
        }
        added += len;
        if added >= 240 && !found_extension {
            // keep a short extension: the last '.' within the final 9 bytes, after this point
            let floor = (elem.len() as isize - 10).max(start as isize);
            match (floor + 1..elem.len() as isize)
                .rev()
                .find(|&j| elem[j as usize] == b'.')
            {
                None => break,
                Some(dot) => {
                    found_extension = true;
                    i = dot as usize;
                }
            }
        }
    }
    if added == dots && added <= 2 {
        return None;
    }
    // only whole valid sequences and ASCII were copied
    String::from_utf8(out).ok()
}

/// A file being read from `files`, before duplicate names are resolved.
pub(super) struct PendingFile {
    pub entry: FileEntry,
    /// A pad file without a path: libtorrent names it `.pad/<length>` outside the root folder.
    pub pathless_pad: bool,
}

/// Give every file a distinct path the way libtorrent does at load: comparing paths without
/// ASCII case, a file that repeats an earlier file's path or sits where a folder must be is
/// renamed `stem.N.ext` with the smallest free N (`bar.txt`, `bar.1.txt`, `bar.2.txt`; `a` ->
/// `a.1`). Pad files of equal size may share a path (they are never written). `ghost_dirs`
/// are folders (relative to the root) of files dropped after parsing: libtorrent keeps
/// counting them (a hybrid's removed tail padding leaves `.pad`).
pub(super) fn rename_duplicates(
    files: Vec<PendingFile>,
    name: &str,
    ghost_dirs: &[&str],
) -> Vec<FileEntry> {
    let full = |p: &PendingFile| {
        if p.pathless_pad {
            p.entry.path.join("/")
        } else {
            format!("{name}/{}", p.entry.path.join("/"))
        }
    };
    // folders first, then files in order; `None` marks a folder, `Some((pad, length))` a file
    let mut taken: HashMap<String, Option<(bool, u64)>> = HashMap::new();
    let mut collision = false;
    for p in &files {
        let dirs = if p.pathless_pad {
            &p.entry.path[..0]
        } else {
            &p.entry.path[..p.entry.path.len().saturating_sub(1)]
        };
        let mut dir = name.to_owned();
        for c in dirs {
            dir.push('/');
            dir.push_str(c);
            taken.insert(dir.to_ascii_lowercase(), None);
        }
    }
    for dir in ghost_dirs {
        taken.insert(format!("{name}/{dir}").to_ascii_lowercase(), None);
    }
    let mut seen_files: HashSet<String> = HashSet::new();
    for p in &files {
        let key = full(p).to_ascii_lowercase();
        if taken.contains_key(&key) || !seen_files.insert(key) {
            collision = true;
        }
    }
    if !collision {
        return name_root_files(files.into_iter().map(|p| p.entry).collect());
    }
    // libtorrent's slow path also counts the root folder and every folder's own path
    taken.insert(name.to_ascii_lowercase(), None);
    let mut out = Vec::with_capacity(files.len());
    for mut p in files {
        let path = full(&p);
        let key = path.to_ascii_lowercase();
        match taken.get(&key) {
            None => {
                taken.insert(key, Some((p.entry.attr.pad, p.entry.length)));
            }
            Some(Some((pad, len))) if *pad && p.entry.attr.pad && *len == p.entry.length => {}
            Some(_) => {
                let renamed = free_name(&path, &taken);
                taken.insert(
                    renamed.to_ascii_lowercase(),
                    Some((p.entry.attr.pad, p.entry.length)),
                );
                let prefix = if p.pathless_pad {
                    String::new()
                } else {
                    format!("{name}/")
                };
                let rel = renamed.strip_prefix(&prefix).unwrap_or(&renamed);
                p.entry.path = rel.split('/').map(str::to_owned).collect();
            }
        }
        out.push(p.entry);
    }
    name_root_files(out)
}

/// A file with an empty path (a v2 name that sanitised to nothing: libtorrent makes it the
/// root folder itself) gets the first free name of `_`, `_.1`, `_.2`... inside the root, once
/// every other file has its final name, so no other name changes because of it.
fn name_root_files(mut files: Vec<FileEntry>) -> Vec<FileEntry> {
    if files.iter().all(|f| !f.path.is_empty()) {
        return files;
    }
    let mut taken: HashMap<String, Option<(bool, u64)>> = HashMap::new();
    for f in &files {
        for end in 1..=f.path.len() {
            taken.insert(f.path[..end].join("/").to_ascii_lowercase(), None);
        }
    }
    for f in files.iter_mut().filter(|f| f.path.is_empty()) {
        let free = if taken.contains_key("_") {
            free_name("_", &taken)
        } else {
            "_".to_owned()
        };
        taken.insert(free.to_ascii_lowercase(), None);
        f.path = vec![free];
    }
    files
}

/// `stem.N.ext` for the smallest N not taken (the extension starts at the last '.' of the last
/// component, unless that dot begins the whole path).
fn free_name(path: &str, taken: &HashMap<String, Option<(bool, u64)>>) -> String {
    let leaf_start = path.rfind('/').map_or(0, |i| i + 1);
    let (stem, ext) = match path[leaf_start..].rfind('.').map(|i| leaf_start + i) {
        Some(dot) if dot > 0 => path.split_at(dot),
        _ => (path, ""),
    };
    (1u64..)
        .map(|n| format!("{stem}.{n}{ext}"))
        .find(|candidate| !taken.contains_key(&candidate.to_ascii_lowercase()))
        .unwrap_or_default()
}

/// Make every symlink point inside the torrent, the way libtorrent 2.0's
/// `file_storage::sanitize_symlinks` does at load (before duplicate renaming): a target that
/// names a file or folder of the torrent is kept; so is one relative to the link's own folder
/// (rewritten relative to the root); a target reached through other symlinks is kept when
/// following them (each at most once) ends on a file or folder of the torrent. Any other link
/// points at itself: a dangling loop that can never reach outside the output folder.
pub(super) fn sanitize_symlinks(files: &mut [PendingFile]) {
    if files.iter().all(|f| f.entry.attr.symlink.is_none()) {
        return;
    }
    let paths: Vec<String> = files.iter().map(|f| f.entry.path.join("/")).collect();
    let mut file_map: HashMap<&str, usize> = HashMap::new();
    for (j, p) in paths.iter().enumerate() {
        file_map.entry(p.as_str()).or_insert(j);
    }
    // the folders that hold files, and every folder above them
    let parent = |p: &str| p.rfind('/').map_or(String::new(), |i| p[..i].to_owned());
    let parents: HashSet<String> = paths.iter().map(|p| parent(p)).collect();
    let mut dirs: HashSet<String> = HashSet::new();
    for p in &parents {
        let mut d = p.as_str();
        while !d.is_empty() {
            dirs.insert(d.to_owned());
            d = d.rfind('/').map_or("", |i| &d[..i]);
        }
    }
    let is_link = |j: usize, files: &[PendingFile]| files[j].entry.attr.symlink.is_some();
    // links that may stand for a folder, with their targets
    let mut dir_links: HashMap<String, String> = HashMap::new();
    let mut unresolved = Vec::new();
    for i in 0..files.len() {
        let Some(target) = files[i].entry.attr.symlink.as_ref().map(|t| t.join("/")) else {
            continue;
        };
        let me = paths[i].clone();
        if let Some(&j) = file_map.get(target.as_str()) {
            if is_link(j, files) {
                dir_links.insert(me, target);
            }
            continue;
        }
        if dirs.contains(&target) {
            dir_links.insert(me, target);
            continue;
        }
        // for backwards compatibility: relative to the link's own folder
        let folder = parent(&me);
        let relative = if folder.is_empty() {
            target.clone()
        } else {
            format!("{folder}/{target}")
        };
        if parents.contains(&relative) || dirs.contains(&relative) {
            set_target(&mut files[i], &relative);
            dir_links.insert(me, relative);
            continue;
        }
        if let Some(&j) = file_map.get(relative.as_str()) {
            set_target(&mut files[i], &relative);
            if is_link(j, files) {
                dir_links.insert(me, relative);
            }
            continue;
        }
        dir_links.insert(me, target);
        unresolved.push(i);
    }
    // targets that go through other links: follow them, each at most once
    for i in unresolved {
        let mut target = files[i]
            .entry
            .attr
            .symlink
            .as_ref()
            .map(|t| t.join("/"))
            .unwrap_or_default();
        let mut traversed: HashSet<String> = HashSet::new();
        let mut ok = true;
        let mut end = target.find('/').unwrap_or(target.len());
        while end < target.len() {
            let branch = &target[..end];
            if dirs.contains(branch) {
                end = target[end + 1..]
                    .find('/')
                    .map_or(target.len(), |k| end + 1 + k);
                continue;
            }
            match dir_links.get(branch) {
                Some(link) if traversed.insert(branch.to_owned()) => {
                    target = format!("{link}/{}", &target[end + 1..]);
                    end = target.find('/').unwrap_or(target.len());
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if !(ok && (file_map.contains_key(target.as_str()) || dirs.contains(&target))) {
            let me = files[i].entry.path.clone();
            files[i].entry.attr.symlink = Some(me);
        }
    }
}

fn set_target(f: &mut PendingFile, target: &str) {
    f.entry.attr.symlink = Some(target.split('/').map(str::to_owned).collect());
}
