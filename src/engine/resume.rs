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

/// What a torrent had verified, and its files' stamps when it was saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeData {
    pub info_hash: InfoHash,
    pub verified: Bitfield,
    /// One per file of the torrent, in torrent order; `None` for pad files, symlinks and
    /// files that did not exist.
    pub files: Vec<Option<FileStamp>>,
}

/// What to do with a torrent's data at start, from its resume data and its files now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Verified before and untouched since: counted without reading.
    pub trusted: Bitfield,
    /// Pieces of files that changed: hash them.
    pub recheck: Vec<u32>,
    /// Files (indices in torrent order) that held verified data and are gone.
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
        let files = self
            .files
            .iter()
            .map(|f| match f {
                // [size, mtime] as libtorrent's "file sizes"; an absent file is an empty list
                Some(st) => Value::List(vec![
                    Value::Int(i64::try_from(st.size).unwrap_or(i64::MAX)),
                    Value::Int(st.mtime_ns),
                ]),
                None => Value::List(Vec::new()),
            })
            .collect();
        d.insert(b"file sizes".to_vec(), Value::List(files));
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
            .map(|f| match f.as_list() {
                Some([]) => Ok(None),
                Some([size, mtime]) => {
                    let size = size
                        .as_int()
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or("bad file size")?;
                    let mtime_ns = mtime.as_int().ok_or("bad mtime")?;
                    Ok(Some(FileStamp { size, mtime_ns }))
                }
                _ => Err("a file entry is not [size, mtime]"),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ResumeData {
            info_hash: InfoHash(hash),
            verified,
            files,
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

    /// Compare with the files now (`now[i]`: file `i`'s stamp, `None` when absent; pad files
    /// and symlinks are `None` in both and never count). Resume data for another piece count
    /// or file count trusts nothing and re-checks everything.
    pub fn judge(&self, info: &Info, now: &[Option<FileStamp>]) -> Verdict {
        let count = info.piece_count();
        let all = || Verdict {
            trusted: Bitfield::new(count),
            recheck: (0..count).collect(),
            missing: Vec::new(),
        };
        if self.verified.len() != count
            || self.files.len() != info.files.len()
            || now.len() != info.files.len()
        {
            return all();
        }
        let bytes_of = |f: usize| !(info.files[f].attr.pad || info.files[f].attr.symlink.is_some());
        let changed: Vec<bool> = (0..info.files.len())
            .map(|f| bytes_of(f) && self.files[f] != now[f])
            .collect();
        let mut v = Verdict {
            trusted: Bitfield::new(count),
            recheck: Vec::new(),
            missing: Vec::new(),
        };
        let mut missing = vec![false; info.files.len()];
        let mut first = 0;
        for piece in 0..count {
            let files = files_of_piece(info, piece, &mut first);
            if files.iter().any(|f| changed[*f]) {
                if self.verified.get(piece) {
                    for f in files.iter().filter(|f| changed[**f] && now[**f].is_none()) {
                        missing[*f] = true;
                    }
                }
                v.recheck.push(piece);
            } else if self.verified.get(piece) {
                v.trusted.set(piece);
            }
        }
        v.missing = (0..missing.len()).filter(|f| missing[*f]).collect();
        v
    }
}

/// The stamps of a torrent's files now (`paths` in torrent order, as
/// [`crate::engine::storage::file_paths`] gives them); pad files and symlinks have none.
pub fn stamps(info: &Info, paths: &[PathBuf]) -> io::Result<Vec<Option<FileStamp>>> {
    info.files
        .iter()
        .zip(paths)
        .map(|(f, path)| {
            if f.attr.pad || f.attr.symlink.is_some() {
                Ok(None)
            } else {
                FileStamp::of(path)
            }
        })
        .collect()
}

/// The files (indices) holding bytes of `piece`, zero-length ones excluded. Pieces are asked
/// in order: `first` (the first file that can still hold bytes of a piece) moves forward with
/// them, so a whole torrent costs one pass over its files, not one per piece.
fn files_of_piece(info: &Info, piece: u32, first: &mut usize) -> Vec<usize> {
    let start = u64::from(piece) * u64::from(info.piece_length);
    let end = start + u64::from(info.piece_size(piece));
    while info
        .files
        .get(*first)
        .is_some_and(|f| f.offset + f.length <= start)
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
            files,
        }
    }

    #[test]
    fn untouched_files_trust_every_verified_piece() {
        let info = three_files();
        let files = vec![stamp(10, 1), stamp(8, 2), stamp(8, 3)];
        let r = resume(&info, &[0, 1, 3], files.clone());
        let v = r.judge(&info, &files);
        assert_eq!(v.trusted.iter_ones().collect::<Vec<_>>(), vec![0, 1, 3]);
        assert!(v.recheck.is_empty() && v.missing.is_empty());
    }

    #[test]
    fn a_changed_file_rechecks_only_its_pieces() {
        let info = three_files();
        let then = vec![stamp(10, 1), stamp(8, 2), stamp(8, 3)];
        let r = resume(&info, &[0, 1, 2, 3], then);
        // f1 (pieces 1 and 2) was touched; a truncated f2 (pieces 2, 3) too
        let v = r.judge(&info, &[stamp(10, 1), stamp(8, 99), stamp(8, 3)]);
        assert_eq!(v.trusted.iter_ones().collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(v.recheck, vec![1, 2]);
        let v = r.judge(&info, &[stamp(10, 1), stamp(8, 2), stamp(5, 3)]);
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
        let v = resume(&info, &[0, 1, 2, 3], then)
            .judge(&info, &[stamp(10, 1), None, stamp(8, 2), None, stamp(8, 9)]);
        assert_eq!(v.recheck, vec![2, 3]);
        assert_eq!(v.trusted.iter_ones().collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn a_missing_file_with_verified_data_is_reported() {
        let info = three_files();
        let then = vec![stamp(10, 1), stamp(8, 2), stamp(8, 3)];
        let v =
            resume(&info, &[0, 1], then.clone()).judge(&info, &[None, stamp(8, 2), stamp(8, 3)]);
        assert_eq!(v.missing, vec![0]);
        // a missing file none of whose pieces was verified is simply fetched
        let v = resume(&info, &[3], then).judge(&info, &[None, stamp(8, 2), stamp(8, 3)]);
        assert!(v.missing.is_empty());
        assert_eq!(v.trusted.iter_ones().collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn resume_data_for_another_layout_trusts_nothing() {
        let info = three_files();
        let files = vec![stamp(10, 1), stamp(8, 2)];
        let v = resume(&info, &[0], files).judge(&info, &[stamp(10, 1), stamp(8, 2), stamp(8, 3)]);
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
}
