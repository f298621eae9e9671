//! The commands that talk to the running instance over its control socket: `add`, `status`,
//! `pause`, `resume` and `remove`. Each exits non-zero, with one line per problem on stderr,
//! when the instance is not running or refused part of the request.

use crate::engine::settings::{TorrentSettings, Wants};
use crate::session::control;
use crate::session::protocol::{
    AddSource, Command, LimitsChange, QueueMove, Response, SettingsChange, TorrentStatus, to_hex,
};
use color_eyre::Result;
use color_eyre::eyre::{WrapErr, bail, eyre};
use humansize::{BINARY, format_size};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest .torrent file read (libtorrent's limit).
const MAX_TORRENT: u64 = 10 * 1024 * 1024;

async fn call(socket: &Path, command: Command) -> Result<Response> {
    let r = control::request(socket, command)
        .await
        .map_err(|e| eyre!("{e}"))?;
    if let Some(e) = &r.error {
        bail!("{e}");
    }
    Ok(r)
}

/// Print the per-item errors of a response; an error when there were any.
fn report(r: &Response) -> Result<()> {
    for e in &r.errors {
        eprintln!("fast-peer: error: {e}");
    }
    if r.errors.is_empty() {
        Ok(())
    } else {
        bail!("{} of the request failed", plural(r.errors.len(), "part"))
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// What one `add` argument is: a magnet link, `-` (stdin: a magnet link or a .torrent), or a
/// .torrent file.
fn source(arg: &str) -> Result<AddSource> {
    if arg.starts_with("magnet:") {
        return Ok(AddSource::Magnet(arg.to_string()));
    }
    let bytes = if arg == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(MAX_TORRENT + 1)
            .read_to_end(&mut buf)
            .wrap_err("read stdin")?;
        let text = String::from_utf8_lossy(&buf);
        if text.trim_start().starts_with("magnet:") {
            return Ok(AddSource::Magnet(text.trim().to_string()));
        }
        buf
    } else {
        let path = Path::new(arg);
        let size = std::fs::metadata(path)
            .wrap_err_with(|| format!("read torrent file {arg}"))?
            .len();
        if size > MAX_TORRENT {
            bail!("{arg}: {size} bytes, larger than any torrent file ({MAX_TORRENT})");
        }
        std::fs::read(path).wrap_err_with(|| format!("read torrent file {arg}"))?
    };
    if bytes.len() as u64 > MAX_TORRENT {
        bail!("stdin: larger than any torrent file ({MAX_TORRENT} bytes)");
    }
    Ok(AddSource::Torrent(to_hex(&bytes)))
}

/// How `add` adds.
#[derive(Debug, Clone, Default)]
pub struct AddHow {
    /// Save as `dir/<name>` (the instance's download folder otherwise).
    pub dir: Option<PathBuf>,
    pub paused: bool,
    pub pause_after_metadata: bool,
    /// Files and order (`--only`, `--exclude`, `--sequential`, `--first-last`).
    pub wants: Wants,
}

/// `add SRC... [--dir DIR] [--paused] [--only GLOB]...`: prints `added <info hash> <name>`
/// per torrent.
pub async fn add(socket: &Path, sources: &[String], how: AddHow) -> Result<()> {
    let AddHow {
        dir,
        paused,
        pause_after_metadata,
        wants,
    } = how;
    let mut parsed = Vec::new();
    for s in sources {
        parsed.push(source(s)?);
    }
    let dir = match dir {
        Some(d) => {
            Some(std::path::absolute(&d).wrap_err_with(|| format!("folder {}", d.display()))?)
        }
        None => None,
    };
    let r = call(
        socket,
        Command::Add {
            sources: parsed,
            dir: dir.map(|d| d.display().to_string()),
            paused,
            pause_after_metadata,
            settings: TorrentSettings {
                wants,
                ..TorrentSettings::default()
            },
        },
    )
    .await?;
    for a in &r.added {
        println!("added {} {}", a.info_hash, a.name);
    }
    report(&r)
}

/// `set HASH... [--only GLOB]... [--sequential on|off] [--download-limit RATE]...`.
pub async fn set(socket: &Path, hashes: Vec<String>, change: SettingsChange) -> Result<()> {
    if let Some(f) = &change.files {
        f.validate().map_err(|e| eyre!("{e}"))?;
    }
    let r = call(socket, Command::Set { hashes, change }).await?;
    report(&r)
}

/// `limits [--download-limit RATE] [--max-active-downloads N]...`.
pub async fn limits(socket: &Path, change: LimitsChange) -> Result<()> {
    let r = call(socket, Command::Limits { change }).await?;
    report(&r)
}

/// `queue HASH up|down|top|bottom`.
pub async fn queue(socket: &Path, hash: String, to: QueueMove) -> Result<()> {
    let r = call(socket, Command::Queue { hash, to }).await?;
    report(&r)
}

/// `status [--json]`: every torrent of the instance.
pub async fn status(socket: &Path, json: bool) -> Result<()> {
    let r = call(socket, Command::Status).await?;
    let torrents = r.torrents.unwrap_or_default();
    if json {
        let out = serde_json::json!({ "torrents": torrents });
        println!("{out}");
        return Ok(());
    }
    if torrents.is_empty() {
        println!("no torrents");
    }
    for t in &torrents {
        println!("{}", status_line(t));
    }
    Ok(())
}

/// One human-readable line: short hash, state, progress, size, rates, peers, name.
fn status_line(t: &TorrentStatus) -> String {
    let rate = |r: f64| format!("{}/s", format_size(r as u64, BINARY));
    let mut line = format!(
        "{} {:<11} {:>5.1}% {:>10} down {:>11} up {:>11} {:>3} peers  {}",
        &t.info_hash[..t.info_hash.len().min(8)],
        t.state,
        t.progress * 100.0,
        format_size(t.size, BINARY),
        rate(t.down_rate),
        rate(t.up_rate),
        t.peers,
        t.name
    );
    if let Some(e) = &t.error {
        line.push_str(&format!("  ({e})"));
    }
    line
}

/// `pause HASH...` / `resume HASH...` (a hash or a unique prefix of one).
pub async fn pause(socket: &Path, hashes: Vec<String>, paused: bool) -> Result<()> {
    let command = if paused {
        Command::Pause { hashes }
    } else {
        Command::Resume { hashes }
    };
    report(&call(socket, command).await?)
}

/// `remove HASH... [--delete-data]`.
pub async fn remove(socket: &Path, hashes: Vec<String>, delete_data: bool) -> Result<()> {
    report(
        &call(
            socket,
            Command::Remove {
                hashes,
                delete_data,
            },
        )
        .await?,
    )
}
