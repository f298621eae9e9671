//! Child processes with timeouts, and the checks every test makes of them: a run that must
//! succeed, a run that must fail with a message on stderr, a condition polled until it holds.
//! No test waits a fixed time for something to happen: [`wait_until`] polls a condition.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::TEST_TIMEOUT_SECS;

/// A running child whose stdout and stderr are collected on background threads. Killed (and
/// reaped) on drop.
pub struct Running {
    pub child: Child,
    name: String,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

fn drain<R: Read + Send + 'static>(mut r: R) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

impl Running {
    /// Starts `cmd` with stdin closed and stdout/stderr captured.
    pub fn start(cmd: &mut Command) -> Running {
        let name = format!("{cmd:?}");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        Running {
            child,
            name,
            stdout,
            stderr,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    fn collect(&mut self, status: ExitStatus) -> Output {
        let join = |h: Option<JoinHandle<Vec<u8>>>| {
            h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
        };
        Output {
            status,
            stdout: join(self.stdout.take()),
            stderr: join(self.stderr.take()),
        }
    }

    /// Waits up to `secs`; on timeout returns `None` and leaves the child running.
    pub fn wait_for(&mut self, secs: u64) -> Option<Output> {
        self.wait_within(Duration::from_secs(secs))
    }

    /// [`Running::wait_for`] with a limit finer than seconds.
    pub fn wait_within(&mut self, limit: Duration) -> Option<Output> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(self.collect(status));
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `secs` for the child to exit; on timeout kills it and panics with (the end
    /// of) what it printed.
    pub fn wait_timeout(mut self, secs: u64) -> Output {
        if let Some(o) = self.wait_for(secs) {
            return o;
        }
        let o = self.kill();
        panic!(
            "timed out after {secs}s, killed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.name,
            tail(&o.stdout),
            tail(&o.stderr)
        );
    }

    /// SIGKILL, reap, and return what it printed.
    pub fn kill(&mut self) -> Output {
        let _ = self.child.kill();
        let status = self.child.wait().expect("wait after kill");
        self.collect(status)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A long-running child (a seeder, a DHT swarm): its stdout read line by line into
/// [`Daemon::lines`], its stderr written to a log file. Killed (and reaped) on drop. With
/// `keep_stdin` its stdin is a pipe held open for its life, for scripts that exit when it
/// closes (when the test process dies without running destructors).
pub struct Daemon {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    _stdin: Option<ChildStdin>,
    log: PathBuf,
    _logdir: tempfile::TempDir,
}

impl Daemon {
    pub fn spawn(cmd: &mut Command, keep_stdin: bool) -> Daemon {
        let logdir = tempfile::tempdir().expect("tempdir");
        let log = logdir.path().join("stderr.log");
        cmd.stdin(if keep_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&log).expect("stderr log"));
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let lines = lines_of(child.stdout.take().expect("stdout"));
        Daemon {
            _stdin: child.stdin.take(),
            child,
            lines,
            log,
            _logdir: logdir,
        }
    }

    /// What it wrote to stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL now (e.g. mid-download) and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last 8 KiB of a captured stream (aria2's progress lines are long).
pub fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let cut = s.len().saturating_sub(8 * 1024);
    let cut = (cut..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[cut..].to_string()
}

/// Runs `cmd` (stdin closed) for at most `secs`; kills it on timeout and fails the test with
/// its captured stdout and stderr. The exit status is not checked: see [`assert_success`].
pub fn run_with_timeout(cmd: &mut Command, secs: u64) -> Output {
    Running::start(cmd).wait_timeout(secs)
}

/// Fails with stdout and stderr unless `o` is a successful exit.
pub fn assert_success(what: &str, o: &Output) {
    assert!(
        o.status.success(),
        "{what} failed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// [`assert_success`], printing `logs()` (the other side's logs: seeders, say) first when `o`
/// failed.
pub fn assert_success_or_log(what: &str, o: &Output, logs: impl FnOnce() -> String) {
    if !o.status.success() {
        eprintln!("{}", logs());
    }
    assert_success(what, o);
}

/// Runs a client for at most [`TEST_TIMEOUT_SECS`] and asserts that it succeeded; when it
/// fails or times out (then it is killed), `logs()` is printed first.
pub fn run_ok(what: &str, cmd: &mut Command, logs: impl FnOnce() -> String) -> Output {
    let mut run = Running::start(cmd);
    let Some(o) = run.wait_for(TEST_TIMEOUT_SECS) else {
        eprintln!("{}", logs());
        let o = run.kill();
        panic!(
            "{what} timed out after {TEST_TIMEOUT_SECS} s (killed)\n--- stdout ---\n{}\n\
             --- stderr ---\n{}",
            tail(&o.stdout),
            tail(&o.stderr)
        );
    };
    assert_success_or_log(what, &o, logs);
    o
}

/// Asserts that `o` is a failure that printed nothing on stdout and a message on stderr, as
/// every command's errors must be; returns stderr.
pub fn assert_fails_with_message(what: &str, o: &Output) -> String {
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "{what} succeeded: {stdout}");
    assert!(o.stdout.is_empty(), "{what}: stdout: {stdout}");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !stderr.trim().is_empty(),
        "{what}: no error message on stderr"
    );
    stderr
}

/// stdout, which must be UTF-8.
pub fn stdout_str(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

/// Polls `cond` every 20 ms for up to `secs`; panics with `what` on timeout.
pub fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the files under `dir` hold `bytes` (see [`written_bytes`]) or `run` exited, and
/// asserts that `run` is still running: the precondition of a scenario that interrupts it.
pub fn wait_written(run: &mut Running, dir: &Path, bytes: u64, what: &str) {
    wait_until(
        TEST_TIMEOUT_SECS,
        &format!("{what} to write {bytes} bytes"),
        || written_bytes(dir) >= bytes || run.try_wait().is_some(),
    );
    assert!(
        run.try_wait().is_none(),
        "{what} finished before {bytes} bytes were on disk"
    );
}

/// Each line `r` yields, sent to the returned channel from a background thread until EOF (or
/// until the receiver is gone).
pub fn lines_of(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads `lines` until `done` returns true for one, for at most `secs`. `Err` says why it
/// stopped short: the sender closed (the process exited) or the time ran out.
pub fn read_lines_until(
    lines: &mpsc::Receiver<String>,
    secs: u64,
    mut done: impl FnMut(&str) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if done(&line) => return Ok(()),
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err("exited".into()),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!("timed out after {secs} s"));
            }
        }
    }
}

/// Sends `signal` (`INT`, `HUP`, ...) to `pid` through the shell's builtin `kill` (no libc in
/// the tests, and minimal Debian images have no /usr/bin/kill from procps).
pub fn send_signal(pid: u32, signal: &str) {
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{signal} {pid}"))
        .status()
        .unwrap_or_else(|e| panic!("run sh -c 'kill -{signal}': {e}"));
    assert!(st.success(), "kill -{signal} {pid} failed");
}

/// Total size in bytes of the regular files under `path` (or of `path` if it is a file);
/// 0 if it does not exist. Uses allocated blocks where the length alone would lie (sparse or
/// preallocated files), so it grows with data actually written.
pub fn written_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        fs::read_dir(path)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| written_bytes(&e.path()))
                    .sum()
            })
            .unwrap_or(0)
    } else {
        (meta.blocks() * 512).min(meta.len())
    }
}
