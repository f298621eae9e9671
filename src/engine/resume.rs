//! Fast resume: what a torrent had verified, and the state of its files then, so a restart
//! need not read data that did not change.
//!
//! [`ResumeData`] holds the verified pieces and each file's size and modification time
//! ([`FileStamp`]) as they were when it was saved. At start, [`ResumeData::judge`] compares the
//! stamps with the files on disk now:
//! - a piece is **trusted** (counted verified without reading it) when it was verified and
//!   every file it touches has the same size and mtime as then;
//! - the pieces of a file that **changed** are re-checked (hashed), only those;
//! - a file that held verified data and is now **missing** makes the torrent fail with a clear
//!   error, rather than downloading over whatever the user did with it.
//!
//! # Skipped files and the part file
//!
//! With file selection a skipped file may not exist, and the bytes it has in pieces shared
//! with other files live in the part file ([`crate::engine::parts`]). Its stamps are `None`
//! then and now, so it is unchanged, not missing. The part file has its own stamp
//! ([`Stamps::parts`]), and the bytes that live there are judged against it: a piece is
//! known to keep bytes there when a file it touches is absent, or too short to hold its share
//! of the piece (a copy out of the part file cut short), and such a piece is trusted only if
//! the part file is unchanged too, else re-checked. Every trusted piece must also have all its
//! bytes on disk by the stamps' sizes (in its files, or in its slot of the part file), which
//! never trusts a piece whose bytes cannot be read, whatever the resume file claims.
//!
//! A part file that held verified data and is gone is **not** an error like a missing file:
//! its pieces are re-checked (they fail, and are fetched again). It is our hidden file, not
//! one the user chose; it holds at most two pieces per skipped file, cheap to fetch again; and
//! it goes by design once nothing needs it, so failing the torrent over it would only puzzle
//! the user.
//!
//! Why this is safe: we never write into a verified piece, so a file's stamp changes only when
//! something wrote to it after the save; a write to a piece that was not yet verified then is
//! harmless (that piece is not trusted). A piece verified after the last save is simply
//! fetched (or re-checked) again: a restart loses at most the pieces verified since the last
//! save and never counts an unverified one.
//!
//! The file is bencoded (keys as libtorrent's resume files where they mean the same) and
//! written crash-safe: a temporary file, `fsync`, then `rename` over the old one
//! ([`ResumeData::save`]). A file that does not decode or names another torrent is set aside
//! as `*.bad` and the torrent is checked in full ([`ResumeData::load`]).
//!
//! # Format
//!
//! A dictionary: `file-format` (`fast-peer resume file`), `file-version` (1), `info-hash`
//! (20 bytes), `pieces` (the piece count), `verified` (the bitfield), `file sizes` (per file
//! `[size, mtime_ns]`, or `[]` for none) and `parts` (the part file's `[size, mtime_ns]`, or
//! `[]` when there was none). `parts` came later within version 1: it is optional, and a
//! file without it was written before part files existed, when there was none, so it reads
//! as `[]`. A newer reader thus keeps using older files, and an older reader of a newer file
//! ignores the key: it never skips files, so any skipped file it finds absent it creates,
//! which changes that file's stamp and re-checks its pieces.

use crate::engine::parts;
use crate::proto::bencode::{self, Value};
use crate::proto::bitfield::Bitfield;
use crate::proto::id::InfoHash;
use crate::proto::metainfo::Info;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

const FORMAT: &[u8] = b"fast-peer resume file";
const VERSION: i64 = 1;
/// A resume file larger than this is not ours (a torrent of a million pieces needs ~150 KiB).
const MAX_FILE: u64 = 64 * 1024 * 1024;

/// A file's size and modification time (nanoseconds since the epoch) on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i64,
}

impl FileStamp {
    /// The stamp of `path` now; `None` when it does not exist.
    pub fn of(path: &Path) -> io::Result<Option<FileStamp>> {
        match std::fs::metadata(path) {
            Ok(m) => {
                let mtime_ns = m
                    .modified()?
                    .duration_since(UNIX_EPOCH)
                    .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
                    .unwrap_or(0);
                Ok(Some(FileStamp {
                    size: m.len(),
                    mtime_ns,
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The stamps of a torrent's files and of its part file, at one moment ([`stamps`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamps {
    /// One per file of the torrent, in torrent order; `None` for pad files, symlinks and
    /// files that did not exist.
    pub files: Vec<Option<FileStamp>>,
    /// The part file's; `None` when it did not exist (or the torrent cannot have one).
    pub parts: Option<FileStamp>,
}

/// What a torrent had verified, and its files' stamps when it was saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeData {
    pub info_hash: InfoHash,
    pub verified: Bitfield,
    pub stamps: Stamps,
}

/// What to do with a torrent's data at start, from its resume data and its files now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Verified before and untouched since: counted without reading.
    pub trusted: Bitfield,
    /// Pieces of files that changed (the part file too, for the bytes that live there), and
    /// verified pieces whose bytes are not all on disk: hash them.
    pub recheck: Vec<u32>,
    /// Files (indices in torrent order) that held verified data and are gone. (A caller that
    /// knows one of them is skipped now may let it go: its pieces are in `recheck`.)
    pub missing: Vec<usize>,
}

/// Why a resume file was not used.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a fast-peer resume file ({why})")]
    Bad { path: PathBuf, why: String },
}

impl ResumeData {
    /// Encode as a bencoded dictionary.
    pub fn encode(&self) -> Vec<u8> {
        let mut d = BTreeMap::new();
        let s = |b: &[u8]| Value::Bytes(b.to_vec());
        d.insert(b"file-format".to_vec(), s(FORMAT));
        d.insert(b"file-version".to_vec(), Value::Int(VERSION));
        d.insert(b"info-hash".to_vec(), s(&self.info_hash.0));
        d.insert(
            b"pieces".to_vec(),
            Value::Int(i64::from(self.verified.len())),
        );
        d.insert(b"verified".to_vec(), s(self.verified.as_bytes()));
        let files = self.stamps.files.iter().map(encode_stamp).collect();
        d.insert(b"file sizes".to_vec(), Value::List(files));
        d.insert(b"parts".to_vec(), encode_stamp(&self.stamps.parts));
        bencode::encode(&Value::Dict(d))
    }

    /// Decode what [`ResumeData::encode`] wrote; any other bytes are an error naming why.
    pub fn decode(buf: &[u8]) -> Result<ResumeData, String> {
        let v = bencode::decode(buf).map_err(|e| e.to_string())?;
        if v.get(b"file-format").and_then(Value::as_bytes) != Some(FORMAT) {
            return Err("no fast-peer file-format".into());
        }
        match v.get(b"file-version").and_then(Value::as_int) {
            Some(VERSION) => {}
            other => return Err(format!("version {other:?}, expected {VERSION}")),
        }
        let hash: [u8; 20] = v
            .get(b"info-hash")
            .and_then(Value::as_bytes)
            .and_then(|b| b.try_into().ok())
            .ok_or("no 20-byte info-hash")?;
        let count = v
            .get(b"pieces")
            .and_then(Value::as_int)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or("no piece count")?;
        let bits = v
            .get(b"verified")
            .and_then(Value::as_bytes)
            .ok_or("no verified pieces")?;
        let verified = Bitfield::from_bytes(bits, count).map_err(|e| e.to_string())?;
        let files = v
            .get(b"file sizes")
            .and_then(Value::as_list)
            .ok_or("no file sizes")?
            .iter()
            .map(decode_stamp)
            .collect::<Result<Vec<_>, _>>()?;
        // written before part files existed: there was none
        let parts = match v.get(b"parts") {
            Some(p) => decode_stamp(p)?,
            None => None,
        };
        Ok(ResumeData {
            info_hash: InfoHash(hash),
            verified,
            stamps: Stamps { files, parts },
        })
    }

    /// Load `path` for `info_hash`. `Ok(None)` when there is no such file; a file that is not
    /// ours, is corrupt or names another torrent is renamed `*.bad` (so it is looked at once,
    /// not on every start) and reported.
    pub fn load(path: &Path, info_hash: InfoHash) -> Result<Option<ResumeData>, ResumeError> {
        let io_err = |source| ResumeError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = match std::fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
            Ok(m) if m.len() > MAX_FILE => Err(format!("{} bytes", m.len())),
            Ok(_) => Ok(std::fs::read(path).map_err(io_err)?),
        };
        let parsed = bytes.and_then(|b| ResumeData::decode(&b)).and_then(|r| {
            if r.info_hash == info_hash {
                Ok(r)
            } else {
                Err(format!("it is for torrent {}", r.info_hash))
            }
        });
        parsed.map(Some).map_err(|why| {
            let mut bad = path.as_os_str().to_owned();
            bad.push(".bad");
            let _ = std::fs::rename(path, &bad);
            ResumeError::Bad {
                path: path.to_path_buf(),
                why,
            }
        })
    }

    /// Write to `path` crash-safe: a temporary file beside it, flushed to disk, renamed over
    /// the old one. A reader sees the old file or the new one, never a mix.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        write_atomically(path, &self.encode())
    }

    /// Compare with the files now (`now.files[i]`: file `i`'s stamp, `None` when absent; pad
    /// files and symlinks are `None` in both and never count; `now.parts`: the part file's).
    /// Resume data for another piece count or file count trusts nothing and re-checks
    /// everything. See the module doc for the rules.
    pub fn judge(&self, info: &Info, now: &Stamps) -> Verdict {
        let count = info.piece_count();
        let then = &self.stamps;
        let all = || Verdict {
            trusted: Bitfield::new(count),
            recheck: (0..count).collect(),
            missing: Vec::new(),
        };
        if self.verified.len() != count
            || then.files.len() != info.files.len()
            || now.files.len() != info.files.len()
        {
            return all();
        }
        let bytes_of = |f: usize| !(info.files[f].attr.pad || info.files[f].attr.symlink.is_some());
        let changed: Vec<bool> = (0..info.files.len())
            .map(|f| bytes_of(f) && then.files[f] != now.files[f])
            .collect();
        let parts_changed = then.parts != now.parts;
        let mut v = Verdict {
            trusted: Bitfield::new(count),
            recheck: Vec::new(),
            missing: Vec::new(),
        };
        let mut missing = vec![false; info.files.len()];
        let mut first = 0;
        // multi-file pieces before this one: the slot of this one if it is one
        let mut slot = 0u64;
        for piece in 0..count {
            let files = files_of_piece(info, piece, &mut first);
            let multi = files.len() >= 2;
            let place = where_bytes_are(info, now, piece, &files, multi.then_some(slot));
            slot += u64::from(multi);
            let verified = self.verified.get(piece);
            if files.iter().any(|f| changed[*f]) {
                if verified {
                    for f in files
                        .iter()
                        .filter(|f| changed[**f] && now.files[**f].is_none())
                    {
                        missing[*f] = true;
                    }
                }
                v.recheck.push(piece);
            } else if place.in_parts && parts_changed {
                v.recheck.push(piece);
            } else if verified && place.on_disk {
                v.trusted.set(piece);
            } else if verified {
                v.recheck.push(piece);
            }
        }
        v.missing = (0..missing.len()).filter(|f| missing[*f]).collect();
        v
    }
}

/// Where the bytes of a piece are, by the stamps now.
struct Place {
    /// Some of them are not in their file (absent, or too short), so live in the part file
    /// if anywhere.
    in_parts: bool,
    /// All of them are on disk: in their files, or in the piece's slot of the part file.
    on_disk: bool,
}

/// [`Place`] of `piece`, whose files with bytes are `files`; `slot` is its slot in the part
/// file when it is a multi-file piece (see [`crate::engine::parts`]).
fn where_bytes_are(
    info: &Info,
    now: &Stamps,
    piece: u32,
    files: &[usize],
    slot: Option<u64>,
) -> Place {
    let start = u64::from(piece) * u64::from(info.piece_length);
    let end = start.saturating_add(u64::from(info.piece_size(piece)));
    let part_len = now.parts.map_or(0, |s| s.size);
    let mut place = Place {
        in_parts: false,
        on_disk: true,
    };
    for &f in files {
        let entry = &info.files[f];
        if entry.attr.pad || entry.attr.symlink.is_some() {
            continue;
        }
        // the file's bytes of this piece end here, as an offset in the file
        let file_end = entry.offset.saturating_add(entry.length);
        let needed = end.min(file_end).saturating_sub(entry.offset);
        if now.files[f].is_some_and(|s| s.size >= needed) {
            continue;
        }
        place.in_parts = true;
        // the slot must reach the end of this file's share of the piece
        let slot_end = slot.and_then(|k| {
            k.checked_mul(u64::from(info.piece_length))?
                .checked_add(end.min(file_end).saturating_sub(start))
        });
        place.on_disk &= slot_end.is_some_and(|e| part_len >= e);
    }
    place
}

/// The stamps of a torrent's files now (`paths` in torrent order, as
/// [`crate::engine::storage::file_paths`] gives them; pad files and symlinks have none) and of
/// its part file (found beside them, see [`parts::path_among`]).
pub fn stamps(info: &Info, paths: &[PathBuf]) -> io::Result<Stamps> {
    let files = info
        .files
        .iter()
        .zip(paths)
        .map(|(f, path)| {
            if f.attr.pad || f.attr.symlink.is_some() {
                Ok(None)
            } else {
                FileStamp::of(path)
            }
        })
        .collect::<io::Result<Vec<_>>>()?;
    let parts = match parts::path_among(info, paths) {
        Some(p) => FileStamp::of(&p)?,
        None => None,
    };
    Ok(Stamps { files, parts })
}

/// `[size, mtime]` as libtorrent's "file sizes"; an absent file is an empty list.
fn encode_stamp(stamp: &Option<FileStamp>) -> Value {
    match stamp {
        Some(st) => Value::List(vec![
            Value::Int(i64::try_from(st.size).unwrap_or(i64::MAX)),
            Value::Int(st.mtime_ns),
        ]),
        None => Value::List(Vec::new()),
    }
}

/// What [`encode_stamp`] wrote.
fn decode_stamp(v: &Value) -> Result<Option<FileStamp>, &'static str> {
    match v.as_list() {
        Some([]) => Ok(None),
        Some([size, mtime]) => {
            let size = size
                .as_int()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or("bad file size")?;
            let mtime_ns = mtime.as_int().ok_or("bad mtime")?;
            Ok(Some(FileStamp { size, mtime_ns }))
        }
        _ => Err("a stamp is not [size, mtime]"),
    }
}

/// The files (indices) holding bytes of `piece`, zero-length ones excluded. Pieces are asked
/// in order: `first` (the first file that can still hold bytes of a piece) moves forward with
/// them, so a whole torrent costs one pass over its files, not one per piece.
fn files_of_piece(info: &Info, piece: u32, first: &mut usize) -> Vec<usize> {
    let start = u64::from(piece) * u64::from(info.piece_length);
    let end = start.saturating_add(u64::from(info.piece_size(piece)));
    while info
        .files
        .get(*first)
        .is_some_and(|f| f.offset.saturating_add(f.length) <= start)
    {
        *first += 1;
    }
    info.files[*first..]
        .iter()
        .take_while(|f| f.offset < end)
        .enumerate()
        .filter(|(_, f)| f.length > 0)
        .map(|(i, _)| *first + i)
        .collect()
}

/// Write `bytes` to `path` so that a crash at any moment leaves the old file or the new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let write = || -> io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // the rename itself reaches the disk with the folder
        std::fs::File::open(dir)?.sync_all()
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::storage::Storage;
    use crate::engine::storage::tests::multi;

    fn stamp(size: u64, mtime_ns: i64) -> Option<FileStamp> {
        Some(FileStamp { size, mtime_ns })
    }

    /// Files with these stamps, and no part file.
    fn at(files: &[Option<FileStamp>]) -> Stamps {
        Stamps {
            files: files.to_vec(),
            parts: None,
        }
    }

    /// Three files of 10, 8 and 8 bytes in 8-byte pieces: piece 0 = f0, piece 1 = f0+f1,
    /// piece 2 = f1+f2, piece 3 = f2.
    fn three_files() -> Info {
        multi(&[10, 8, 8], 8, 1).0
    }

    fn resume(info: &Info, verified: &[u32], files: Vec<Option<FileStamp>>) -> ResumeData {
        let mut bf = Bitfield::new(info.piece_count());
        for p in verified {
            bf.set(*p);
        }
        ResumeData {
            info_hash: InfoHash([4; 20]),
            verified: bf,
            stamps: Stamps { files, parts: None },
        }
    }

    #[test]
    fn untouched_files_trust_every_verified_piece() {
        let info = three_files();
        let files = vec![stamp(10, 1), stamp(8, 2), stamp(8, 3)];
        let r = resume(&info, &[0, 1, 3], files.clone());
        let v = r.judge(&info, &at(&files));
        assert_eq!(v.trusted.iter_ones().collect::<Vec<_>>(), vec![0, 1, 3]);
        assert!(v.recheck.is_empty() && v.missing.is_empty());
    }

    #[test]
    fn a_changed_file_rechecks_only_its_pieces() {
        let info = three_files();
        let then = vec![stamp(10, 1), stamp(8, 2), stamp(8, 3)];
        let r = resume(&info, &[0, 1, 2, 3], then);
        // f1 (pieces 1 and 2) was touched; a truncated f2 (pieces 2, 3) too
        let v = r.judge(&info, &at(&[stamp(10, 1), stamp(8, 99), stamp(8, 3)]));
        assert_eq!(v.trusted.iter_ones().collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(v.recheck, vec![1, 2]);
        let v = r.judge(&info, &at(&[stamp(10, 1), stamp(8, 2), stamp(5, 3)]));
        assert_eq!(v.trusted.iter_ones().collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(v.recheck, vec![2, 3]);
        assert!(v.missing.is_empty());
    }

    #[test]
    fn zero_length_files_between_others_touch_no_piece() {
        // f0 [0,10), f1 empty, f2 [10,18), f3 empty, f4 [18,26) in 8-byte pieces
        let info = multi(&[10, 0, 8, 0, 8], 8, 1).0;
        let mut first = 0;
        let per_piece: Vec<Vec<usize>> = (0..info.piece_count())
            .map(|p| files_of_piece(&info, p, &mut first))
            .collect();
        assert_eq!(per_piece, vec![vec![0], vec![0, 2], vec![2, 4], vec![4]]);
        let then = vec![stamp(10, 1), None, stamp(8, 2), None, stamp(8, 3)];
        let v = resume(&info, &[0, 1, 2, 3], then).judge(
            &info,
            &at(&[stamp(10, 1), None, stamp(8, 2), None, stamp(8, 9)]),
        );
        assert_eq!(v.recheck, vec![2, 3]);
        assert_eq!(v.trusted.iter_ones().collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn a_missing_file_with_verified_data_is_reported() {
        let info = three_files();
        let then = vec![stamp(10, 1), stamp(8, 2), stamp(8, 3)];
        let v = resume(&info, &[0, 1], then.clone())
            .judge(&info, &at(&[None, stamp(8, 2), stamp(8, 3)]));
        assert_eq!(v.missing, vec![0]);
        // a missing file none of whose pieces was verified is simply fetched
        let v = resume(&info, &[3], then).judge(&info, &at(&[None, stamp(8, 2), stamp(8, 3)]));
        assert!(v.missing.is_empty());
        assert_eq!(v.trusted.iter_ones().collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn resume_data_for_another_layout_trusts_nothing() {
        let info = three_files();
        let files = vec![stamp(10, 1), stamp(8, 2)];
        let v =
            resume(&info, &[0], files).judge(&info, &at(&[stamp(10, 1), stamp(8, 2), stamp(8, 3)]));
        assert_eq!(v.trusted.count_ones(), 0);
        assert_eq!(v.recheck, vec![0, 1, 2, 3]);
    }

    #[test]
    fn encoding_round_trips_and_garbage_is_refused() {
        let info = three_files();
        let r = resume(&info, &[1, 2], vec![stamp(10, -5), None, stamp(8, 1 << 60)]);
        assert_eq!(ResumeData::decode(&r.encode()).unwrap(), r);
        for bad in [
            &b""[..],
            b"de",
            b"d11:file-format21:fast-peer resume file12:file-versioni9ee",
            b"i3e",
        ] {
            assert!(ResumeData::decode(bad).is_err(), "{bad:?}");
        }
        // more verified bits than pieces
        let mut enc = r.encode();
        let at = enc.windows(8).position(|w| w == b"piecesi4").unwrap();
        enc[at + 7] = b'2';
        assert!(ResumeData::decode(&enc).is_err());
    }

    #[test]
    fn save_and_load_and_a_bad_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.resume");
        let info = three_files();
        let r = resume(&info, &[0], vec![stamp(10, 1), stamp(8, 2), stamp(8, 3)]);
        assert!(ResumeData::load(&path, r.info_hash).unwrap().is_none());
        r.save(&path).unwrap();
        assert_eq!(
            ResumeData::load(&path, r.info_hash).unwrap(),
            Some(r.clone())
        );
        // another torrent's file is not used, and moved aside
        let e = ResumeData::load(&path, InfoHash([5; 20])).unwrap_err();
        assert!(e.to_string().contains("for torrent"), "{e}");
        assert!(!path.exists() && dir.path().join("t.resume.bad").exists());
        // a truncated file too
        std::fs::write(&path, &r.encode()[..20]).unwrap();
        assert!(matches!(
            ResumeData::load(&path, r.info_hash),
            Err(ResumeError::Bad { .. })
        ));
        // no temporary file is left behind
        r.save(&path).unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    }

    #[test]
    fn stamps_follow_the_file_on_disk() {
        let (info, data) = multi(&[10, 8, 8], 8, 1);
        let dir = tempfile::tempdir().unwrap();
        let target = crate::engine::storage::OutputTarget::Dir(dir.path().into());
        let s = Storage::open(&info, &target).unwrap();
        s.write_block(0, 0, &data[..8]).unwrap();
        let paths: Vec<PathBuf> = s.paths().map(Path::to_path_buf).collect();
        let before = FileStamp::of(&paths[0]).unwrap().unwrap();
        assert_eq!(FileStamp::of(&paths[0]).unwrap(), Some(before));
        std::fs::remove_file(&paths[1]).unwrap();
        assert_eq!(FileStamp::of(&paths[1]).unwrap(), None);
    }

    /// `resume` with the part file's stamp then.
    fn with_parts(mut r: ResumeData, parts: Option<FileStamp>) -> ResumeData {
        r.stamps.parts = parts;
        r
    }

    fn now(files: &[Option<FileStamp>], parts: Option<FileStamp>) -> Stamps {
        Stamps {
            files: files.to_vec(),
            parts,
        }
    }

    fn ones(v: &Verdict) -> Vec<u32> {
        v.trusted.iter_ones().collect()
    }

    #[test]
    fn skipped_bytes_in_the_part_file_are_judged_by_its_stamp() {
        // f1 is skipped and absent: its shares of pieces 1 (slot 0) and 2 (slot 1) are in the
        // part file, which is 16 bytes long
        let info = three_files();
        let files = [stamp(10, 1), None, stamp(8, 3)];
        let r = with_parts(resume(&info, &[0, 1, 2, 3], files.to_vec()), stamp(16, 5));
        let v = r.judge(&info, &now(&files, stamp(16, 5)));
        assert_eq!(ones(&v), vec![0, 1, 2, 3]);
        assert!(v.recheck.is_empty() && v.missing.is_empty());
        // the part file changed: only the pieces with bytes in it are re-checked
        let v = r.judge(&info, &now(&files, stamp(16, 6)));
        assert_eq!((ones(&v), v.recheck), (vec![0, 3], vec![1, 2]));
        // it is gone: re-checked too, and not an error
        let v = r.judge(&info, &now(&files, None));
        assert_eq!((ones(&v), v.recheck), (vec![0, 3], vec![1, 2]));
        assert!(v.missing.is_empty());
        // resume data from before part files (none then) and one now: re-checked
        let old = with_parts(r.clone(), None);
        let v = old.judge(&info, &now(&files, stamp(16, 5)));
        assert_eq!((ones(&v), v.recheck), (vec![0, 3], vec![1, 2]));
        // a part file too short for slot 1 (f1's share of piece 2 ends at byte 10) never
        // trusts piece 2, whatever the resume data says
        let r9 = with_parts(r.clone(), stamp(9, 5));
        let v = r9.judge(&info, &now(&files, stamp(9, 5)));
        assert_eq!((ones(&v), v.recheck), (vec![0, 1, 3], vec![2]));
        let r10 = with_parts(r, stamp(10, 5));
        let v = r10.judge(&info, &now(&files, stamp(10, 5)));
        assert_eq!(ones(&v), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_piece_whose_bytes_are_nowhere_is_never_trusted() {
        // f0 [0,4) f1 [4,24) f2 [24,28): pieces 1 and 2 are f1's alone; f1 is absent
        let info = multi(&[4, 20, 4], 8, 1).0;
        let files = [stamp(4, 1), None, stamp(4, 2)];
        let r = with_parts(resume(&info, &[0, 1, 3], files.to_vec()), stamp(8, 1));
        let v = r.judge(&info, &now(&files, stamp(8, 1)));
        assert_eq!((ones(&v), v.recheck), (vec![0, 3], vec![1]));
    }

    #[test]
    fn a_short_file_with_bytes_in_the_part_file_follows_its_stamp_too() {
        // f1 exists but holds 2 of its 8 bytes (a copy cut short): the rest of its shares of
        // pieces 1 and 2 come from the part file
        let info = three_files();
        let files = [stamp(10, 1), stamp(2, 9), stamp(8, 3)];
        let r = with_parts(resume(&info, &[0, 1, 2, 3], files.to_vec()), stamp(16, 5));
        let v = r.judge(&info, &now(&files, stamp(16, 5)));
        assert_eq!(ones(&v), vec![0, 1, 2, 3]);
        let v = r.judge(&info, &now(&files, stamp(16, 7)));
        assert_eq!((ones(&v), v.recheck), (vec![0, 3], vec![1, 2]));
        // a complete f1 does not depend on the part file
        let files = [stamp(10, 1), stamp(8, 9), stamp(8, 3)];
        let r = with_parts(resume(&info, &[0, 1, 2, 3], files.to_vec()), stamp(16, 5));
        let v = r.judge(&info, &now(&files, None));
        assert_eq!(ones(&v), vec![0, 1, 2, 3]);
    }

    #[test]
    fn resume_files_without_the_parts_key_still_load() {
        let info = three_files();
        let r = with_parts(
            resume(&info, &[1], vec![stamp(10, 1), None, stamp(8, 2)]),
            stamp(16, -3),
        );
        assert_eq!(ResumeData::decode(&r.encode()).unwrap(), r);
        let Value::Dict(mut d) = bencode::decode(&r.encode()).unwrap() else {
            panic!("not a dictionary");
        };
        d.remove(&b"parts"[..]).unwrap();
        let old = ResumeData::decode(&bencode::encode(&Value::Dict(d.clone()))).unwrap();
        assert_eq!(old, with_parts(r, None));
        d.insert(b"parts".to_vec(), Value::Int(3));
        assert!(ResumeData::decode(&bencode::encode(&Value::Dict(d))).is_err());
    }

    #[test]
    fn stamps_of_a_torrent_with_skipped_files_include_the_part_file() {
        use crate::engine::storage::{OutputTarget, file_paths};
        let (info, data) = multi(&[10, 8, 8], 8, 1);
        let dir = tempfile::tempdir().unwrap();
        let target = OutputTarget::Dir(dir.path().into());
        let s = Storage::open_selected(&info, &target, &[true, false, true]).unwrap();
        for p in 0..info.piece_count() {
            let r = info.piece_range(p);
            s.write_block(p, 0, &data[r.start as usize..r.end as usize])
                .unwrap();
        }
        let verified = s.verify_existing(&info, |_, _| {}).unwrap();
        assert_eq!(verified, vec![true; 4]);
        let paths = file_paths(&info, &target);
        let then = stamps(&info, &paths).unwrap();
        assert_eq!(then.files[1], None);
        let part = s.parts_path().unwrap().to_path_buf();
        assert_eq!(then.parts, FileStamp::of(&part).unwrap());
        assert!(then.parts.is_some());
        let r = ResumeData {
            info_hash: InfoHash([4; 20]),
            verified: resume(&info, &[0, 1, 2, 3], Vec::new()).verified,
            stamps: then,
        };
        // a restart with nothing changed trusts everything, the skipped bytes included
        let v = r.judge(&info, &stamps(&info, &paths).unwrap());
        assert_eq!(ones(&v), vec![0, 1, 2, 3]);
        // the part file grew: its pieces are re-checked
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&part)
            .unwrap();
        f.set_len(40).unwrap();
        let v = r.judge(&info, &stamps(&info, &paths).unwrap());
        assert_eq!((ones(&v), v.recheck.clone()), (vec![0, 3], vec![1, 2]));
        // and gone: the same, and no file is missing
        std::fs::remove_file(&part).unwrap();
        let v = r.judge(&info, &stamps(&info, &paths).unwrap());
        assert_eq!((ones(&v), v.recheck.clone()), (vec![0, 3], vec![1, 2]));
        assert!(v.missing.is_empty());
        // a wanted file that is gone is still an error
        std::fs::remove_file(&paths[0]).unwrap();
        let v = r.judge(&info, &stamps(&info, &paths).unwrap());
        assert_eq!(v.missing, vec![0]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// The judge finds each skipped byte in the slot where storage put it: after any
        /// selection and download, an unchanged restart trusts exactly what verified.
        #[test]
        fn the_judge_agrees_with_storage_on_the_part_file(
            lengths in proptest::collection::vec(0u64..40, 1..7),
            piece_length in 1u32..24,
            wanted in proptest::collection::vec(proptest::bool::ANY, 7),
            seed in 0u64..1000,
        ) {
            use crate::engine::storage::{OutputTarget, file_paths};
            let (info, data) = multi(&lengths, piece_length, seed);
            let wanted = &wanted[..lengths.len()];
            let dir = tempfile::tempdir().unwrap();
            let target = OutputTarget::Dir(dir.path().into());
            let s = Storage::open_selected(&info, &target, wanted).unwrap();
            for p in 0..info.piece_count() {
                if s.piece_file_spans(p).iter().any(|(i, _, _)| wanted[*i]) {
                    let r = info.piece_range(p);
                    s.write_block(p, 0, &data[r.start as usize..r.end as usize]).unwrap();
                }
            }
            let ok = s.verify_existing(&info, |_, _| {}).unwrap();
            let mut verified = Bitfield::new(info.piece_count());
            for p in (0..info.piece_count()).filter(|p| ok[*p as usize]) {
                verified.set(p);
            }
            let paths = file_paths(&info, &target);
            let r = ResumeData {
                info_hash: InfoHash([1; 20]),
                verified: verified.clone(),
                stamps: stamps(&info, &paths).unwrap(),
            };
            let v = r.judge(&info, &stamps(&info, &paths).unwrap());
            proptest::prop_assert_eq!(v.trusted, verified);
            proptest::prop_assert!(v.recheck.is_empty() && v.missing.is_empty());
        }
    }
}
