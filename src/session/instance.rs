//! One instance per user owns the session: where its files live, and the lock that keeps a
//! second instance out.
//!
//! - The session folder: the config's `session_dir`, else `$XDG_DATA_HOME/fast-peer`, else
//!   `~/.local/share/fast-peer`.
//! - The control socket: `$XDG_RUNTIME_DIR/fast-peer/control.sock`, else
//!   `<temp>/fast-peer-<uid>/control.sock`; its folder is made 0700 and the socket 0600.
//! - The lock: `<session>/lock`, held with an exclusive file lock for the instance's life (the
//!   OS drops it when the process dies, even by SIGKILL) and holding the owner's pid, so a
//!   second instance can say which process owns the session.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The session folder when the config names none.
pub fn default_session_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("fast-peer"))
}

/// Our user id (from a file we own: no `libc` call needed).
pub fn uid() -> io::Result<u32> {
    Ok(std::fs::metadata("/proc/self")?.uid())
}

/// The control socket's path; its folder is created private (0700) to us.
pub fn socket_path() -> io::Result<PathBuf> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(run) => PathBuf::from(run).join("fast-peer"),
        None => std::env::temp_dir().join(format!("fast-peer-{}", uid()?)),
    };
    std::fs::create_dir_all(&dir)?;
    let meta = std::fs::symlink_metadata(&dir)?;
    if !meta.is_dir() || meta.uid() != uid()? {
        return Err(io::Error::other(format!(
            "{} is not a folder of ours: refusing to put the control socket there",
            dir.display()
        )));
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(dir.join("control.sock"))
}

/// The session lock, held while this value lives.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Take the lock of `session_dir`, or say which process holds it.
    pub fn take(session_dir: &Path) -> io::Result<Lock> {
        std::fs::create_dir_all(session_dir)?;
        let path = session_dir.join("lock");
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another fast-peer (pid {}) owns the session in {}",
                        pid.trim(),
                        session_dir.display()
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(Lock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_owner_and_the_lock_frees_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::take(dir.path()).unwrap();
        let e = Lock::take(dir.path()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert!(
            e.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        drop(first);
        Lock::take(dir.path()).unwrap();
    }
}
