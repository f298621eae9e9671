//! The control socket: the running instance's server side and the CLI's client side of the
//! [`super::protocol`].
//!
//! The server accepts connections on a Unix socket (mode 0600 in a 0700 folder) and refuses a
//! peer of another user (by its credentials, whatever the file modes say). Each connection
//! sends request lines and gets one response line per request; a line longer than
//! [`MAX_REQUEST`] gets an error and the connection is closed. Requests reach the session as
//! [`Call`]s; the server never holds session state. A `watch` request turns its connection into
//! a one-way stream of event lines the session queues for it ([`WatchQueue`]); the client
//! closing its end ends it.

use super::instance;
use super::protocol::{self, Command, MAX_REQUEST, Request, Response, VERSION};
use crate::engine::event::EngineEvent;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

/// A request from a client, with where to send the answer.
pub struct Call {
    pub command: Command,
    pub reply: oneshot::Sender<Response>,
    /// For `watch`: where the session queues the event lines for this client.
    pub watch: Option<WatchQueue>,
}

/// A watching client's queue: chunks of event lines, each line ending in a newline.
pub type WatchQueue = mpsc::Sender<Arc<[u8]>>;

/// Chunks a watching client may be behind before the session drops it (pictures are skipped
/// for it before that).
pub const WATCH_QUEUE: usize = 4096;

/// Longest event line a watching client reads (a picture of a very large session).
const MAX_EVENT_LINE: usize = 256 * 1024 * 1024;

/// Ask the session, and wait for its answer.
async fn ask(calls: &mpsc::Sender<Call>, command: Command, watch: Option<WatchQueue>) -> Response {
    let gone = || Response::error("the instance is shutting down");
    let (reply, answer) = oneshot::channel();
    let call = Call {
        command,
        reply,
        watch,
    };
    if calls.send(call).await.is_err() {
        return gone();
    }
    answer.await.unwrap_or_else(|_| gone())
}

/// Bind the control socket at `path`. A socket left by an instance that died is replaced; a
/// live one (someone answers) is an error.
pub async fn bind(path: &Path) -> io::Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another fast-peer answers on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serve the control socket until the session goes away.
pub async fn serve(listener: UnixListener, calls: mpsc::Sender<Call>) {
    let Ok(uid) = instance::uid() else {
        return;
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let calls = calls.clone();
        tokio::spawn(async move {
            let same_user = stream.peer_cred().is_ok_and(|c| c.uid() == uid);
            if let Err(e) = connection(stream, same_user, calls).await {
                tracing::debug!("control connection: {e}");
            }
        });
    }
}

/// One client connection: a response line per request line.
async fn connection(
    stream: UnixStream,
    same_user: bool,
    calls: mpsc::Sender<Call>,
) -> io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    if !same_user {
        return write_response(
            &mut wr,
            &Response::error("refused: another user's instance"),
        )
        .await;
    }
    loop {
        let (line, too_long) = match read_line(&mut rd, MAX_REQUEST).await? {
            Some(l) => l,
            None => return Ok(()),
        };
        if too_long {
            let e = format!("request longer than {MAX_REQUEST} bytes");
            return write_response(&mut wr, &Response::error(e)).await;
        }
        let response = match protocol::parse_request(&line) {
            Err(e) => Response::error(e),
            Ok(Command::Watch) => {
                let (queue, chunks) = mpsc::channel(WATCH_QUEUE);
                let r = ask(&calls, Command::Watch, Some(queue)).await;
                if r.ok {
                    write_response(&mut wr, &r).await?;
                    return stream_events(rd, wr, chunks).await;
                }
                r
            }
            Ok(command) => ask(&calls, command, None).await,
        };
        write_response(&mut wr, &response).await?;
    }
}

/// Write what the session queues for a watching client until either side is done.
async fn stream_events(
    mut rd: impl tokio::io::AsyncRead + Unpin,
    mut wr: impl tokio::io::AsyncWrite + Unpin,
    mut chunks: mpsc::Receiver<Arc<[u8]>>,
) -> io::Result<()> {
    let mut scratch = [0u8; 512];
    loop {
        tokio::select! {
            chunk = chunks.recv() => match chunk {
                Some(c) => wr.write_all(&c).await?,
                // the session dropped this client (too far behind) or stopped
                None => return Ok(()),
            },
            // the client sends nothing more; reading only notices that it went away
            n = rd.read(&mut scratch) => if n.unwrap_or(0) == 0 {
                return Ok(());
            },
        }
    }
}

/// Read one line (without its newline), at most `max` bytes kept; `true` when the line was
/// longer (the rest is not read). `None` at the end of the stream.
async fn read_line(
    rd: &mut (impl AsyncBufRead + Unpin),
    max: usize,
) -> io::Result<Option<(Vec<u8>, bool)>> {
    // `take` on the buffered reader itself: bytes after this line stay in its buffer
    let mut limited = (&mut *rd).take(max as u64 + 1);
    let mut line = Vec::new();
    let n = limited.read_until(b'\n', &mut line).await?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(Some((line, false)));
    }
    // no newline: either the end of the stream or a line over the limit
    Ok(Some((line, n > max)))
}

async fn write_response(
    wr: &mut (impl tokio::io::AsyncWrite + Unpin),
    r: &Response,
) -> io::Result<()> {
    let mut line = serde_json::to_vec(r).map_err(io::Error::other)?;
    line.push(b'\n');
    wr.write_all(&line).await
}

/// Why the CLI could not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no fast-peer instance is running (nothing answers on {0}); start one with `fast-peer daemon` or the dashboard"
    )]
    NotRunning(PathBuf),
    #[error("control socket: {0}")]
    Io(#[from] io::Error),
    #[error("the instance's answer is not a response: {0}")]
    BadResponse(String),
}

/// Send one command to the running instance and wait for its response.
pub async fn request(path: &Path, command: Command) -> Result<Response, ClientError> {
    let (response, _) = send(path, command).await?;
    Ok(response)
}

/// Send one command; its response, and the connection for what follows it.
async fn send(
    path: &Path,
    command: Command,
) -> Result<(Response, (BufReader<OwnedReadHalf>, OwnedWriteHalf)), ClientError> {
    let stream = UnixStream::connect(path)
        .await
        .map_err(|_| ClientError::NotRunning(path.to_path_buf()))?;
    let (rd, mut wr) = stream.into_split();
    let mut line = serde_json::to_vec(&Request {
        v: VERSION,
        command,
    })
    .map_err(|e| ClientError::BadResponse(e.to_string()))?;
    line.push(b'\n');
    wr.write_all(&line).await?;
    let mut rd = BufReader::new(rd);
    let answer = tokio::time::timeout(Duration::from_secs(120), read_line(&mut rd, MAX_REQUEST))
        .await
        .map_err(|_| ClientError::BadResponse("no answer within 120 s".into()))??;
    let Some((line, _)) = answer else {
        return Err(ClientError::BadResponse("the connection closed".into()));
    };
    let response =
        serde_json::from_slice(&line).map_err(|e| ClientError::BadResponse(e.to_string()))?;
    Ok((response, (rd, wr)))
}

/// Attach to the running instance: its events, decoded, in order, until the stream ends (then
/// the receiver closes; the log says why). Lines this build cannot read (an event kind a newer
/// instance added) are skipped and counted in the log.
pub async fn watch(path: &Path) -> Result<mpsc::Receiver<EngineEvent>, ClientError> {
    let (response, (mut rd, wr)) = send(path, Command::Watch).await?;
    if !response.ok {
        let why = response.error.unwrap_or_else(|| "refused".into());
        return Err(ClientError::BadResponse(why));
    }
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        // held so the instance does not see this client leave
        let _wr = wr;
        let mut skipped = 0u64;
        let why = loop {
            match read_line(&mut rd, MAX_EVENT_LINE).await {
                Ok(None) => break "the instance closed the stream".to_string(),
                Ok(Some((_, true))) => break "an event line over the limit".to_string(),
                Err(e) => break e.to_string(),
                Ok(Some((line, false))) => match serde_json::from_slice::<EngineEvent>(&line) {
                    Ok(ev) => {
                        if tx.send(ev).await.is_err() {
                            break "the dashboard stopped reading".to_string();
                        }
                    }
                    Err(e) => {
                        skipped += 1;
                        tracing::warn!(
                            "watch: skipped an event this build cannot read ({skipped} so far): {e}"
                        );
                    }
                },
            }
        };
        tracing::info!("watch ended: {why}");
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server whose session answers every command with `ok` and counts them.
    async fn server(dir: &Path) -> (PathBuf, mpsc::Receiver<Call>) {
        let path = dir.join("control.sock");
        let listener = bind(&path).await.unwrap();
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(serve(listener, tx));
        (path, rx)
    }

    async fn raw(path: &Path, bytes: &[u8]) -> Vec<Response> {
        let mut s = UnixStream::connect(path).await.unwrap();
        s.write_all(bytes).await.unwrap();
        s.shutdown().await.unwrap();
        let mut out = Vec::new();
        let mut rd = BufReader::new(s);
        while let Some((line, _)) = read_line(&mut rd, MAX_REQUEST).await.unwrap() {
            out.push(serde_json::from_slice(&line).unwrap());
        }
        out
    }

    #[tokio::test]
    async fn a_request_reaches_the_session_and_its_answer_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut calls) = server(dir.path()).await;
        tokio::spawn(async move {
            while let Some(call) = calls.recv().await {
                assert_eq!(call.command, Command::Status);
                let _ = call.reply.send(Response {
                    torrents: Some(Vec::new()),
                    ..Response::ok()
                });
            }
        });
        let r = request(&path, Command::Status).await.unwrap();
        assert!(r.ok);
        assert_eq!(r.torrents, Some(Vec::new()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[tokio::test]
    async fn a_peer_pieces_request_comes_back_as_the_peers_bitfield() {
        use crate::proto::bitfield::Bitfield;
        use crate::session::protocol::PeerPieces;
        let dir = tempfile::tempdir().unwrap();
        let (path, mut calls) = server(dir.path()).await;
        let peer: std::net::SocketAddr = "127.0.0.1:6881".parse().unwrap();
        let mut bits = Bitfield::new(1234);
        for i in (0..1234).step_by(3) {
            bits.set(i);
        }
        let answer = bits.clone();
        tokio::spawn(async move {
            while let Some(call) = calls.recv().await {
                let r = match call.command {
                    Command::PeerPieces { hash, addr } if hash == "ab" && addr == peer => {
                        Response {
                            peer_pieces: Some(PeerPieces::new(&answer)),
                            ..Response::ok()
                        }
                    }
                    other => Response::error(format!("unexpected {other:?}")),
                };
                let _ = call.reply.send(r);
            }
        });
        let command = Command::PeerPieces {
            hash: "ab".into(),
            addr: peer,
        };
        let r = request(&path, command).await.unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!(r.peer_pieces.unwrap().bitfield().unwrap(), bits);
        // the same request as a client in another language would write it
        let line = br#"{"v":1,"cmd":"peer_pieces","hash":"ab","addr":"127.0.0.1:6881"}
"#;
        let answers = raw(&path, line).await;
        assert_eq!(answers.len(), 1);
        let got = answers[0].peer_pieces.as_ref().unwrap();
        assert_eq!((got.pieces, got.bitfield().unwrap()), (1234, bits));
    }

    #[tokio::test]
    async fn garbage_gets_errors_and_the_server_keeps_serving() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut calls) = server(dir.path()).await;
        tokio::spawn(async move {
            while let Some(call) = calls.recv().await {
                let _ = call.reply.send(Response::ok());
            }
        });
        let answers = raw(
            &path,
            b"hello\n{\"v\":9,\"cmd\":\"status\"}\n\xff\xff\n{\"v\":1,\"cmd\":\"status\"}\n",
        )
        .await;
        assert_eq!(answers.len(), 4);
        assert!(!answers[0].ok && !answers[1].ok && !answers[2].ok);
        assert!(answers[1].error.as_deref().unwrap().contains("version 9"));
        assert!(answers[3].ok, "a good request after bad ones is served");
        // an oversized line: one error, then the connection closes
        let mut big = vec![b'x'; MAX_REQUEST + 10];
        big.push(b'\n');
        let answers = raw(&path, &big).await;
        assert_eq!(answers.len(), 1);
        assert!(answers[0].error.as_deref().unwrap().contains("longer than"));
        // still serving
        assert!(request(&path, Command::Status).await.unwrap().ok);
    }

    #[tokio::test]
    async fn watch_streams_the_queued_events_and_skips_lines_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut calls) = server(dir.path()).await;
        tokio::spawn(async move {
            let mut keep = Vec::new();
            while let Some(call) = calls.recv().await {
                let queue = call.watch.expect("watch comes with a queue");
                let chunk = b"{\"Completed\":{\"id\":1}}\n{\"FromTheFuture\":{}}\n{\"TorrentRemoved\":{\"id\":1}}\n";
                queue.try_send(Arc::from(&chunk[..])).unwrap();
                let _ = call.reply.send(Response::ok());
                keep.push(queue);
            }
        });
        let mut events = watch(&path).await.unwrap();
        let first = events.recv().await.unwrap();
        assert!(
            matches!(first, EngineEvent::Completed { id: 1 }),
            "{first:?}"
        );
        // the unknown kind was skipped, not fatal
        let second = events.recv().await.unwrap();
        assert!(matches!(second, EngineEvent::TorrentRemoved { id: 1 }));
    }

    #[tokio::test]
    async fn a_refused_watch_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut calls) = server(dir.path()).await;
        tokio::spawn(async move {
            while let Some(call) = calls.recv().await {
                let _ = call.reply.send(Response::error("not today"));
            }
        });
        let e = watch(&path).await.unwrap_err();
        assert!(e.to_string().contains("not today"), "{e}");
    }

    #[tokio::test]
    async fn no_instance_is_a_clear_error_and_a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let e = request(&path, Command::Status).await.unwrap_err();
        assert!(
            e.to_string().contains("no fast-peer instance is running"),
            "{e}"
        );
        // a socket file nobody answers on (its instance died)
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let _live = bind(&path).await.unwrap();
        // and a live one is not taken over
        assert!(bind(&path).await.is_err());
    }
}
