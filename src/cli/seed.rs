//! Making and serving torrents: `create` (a v1 .torrent of a file or a folder) and `seed`
//! (verify existing data, then serve it until interrupted).

use super::run::{Until, run_torrent, torrent_job};
use super::{SwarmOptions, load_torrent};
use crate::engine::storage::OutputTarget;
use crate::proto::metainfo::Metainfo;
use color_eyre::Result;
use color_eyre::eyre::WrapErr;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where `--data PATH` points for `seed`: the file itself (single-file torrent) or the root
/// folder (multi-file), or a folder that contains the torrent's name, like a save path.
pub fn seed_target(m: &Metainfo, data: &Path) -> OutputTarget {
    let named = data.join(&m.info.name);
    if m.info.is_multi_file {
        let first = m
            .info
            .files
            .iter()
            .find(|f| f.length > 0)
            .map(|f| f.path.join("/"));
        let direct = first.as_ref().is_some_and(|p| data.join(p).exists());
        if !direct && named.is_dir() {
            return OutputTarget::Dir(data.to_path_buf());
        }
        OutputTarget::Exact(data.to_path_buf())
    } else if data.is_dir() {
        OutputTarget::Dir(data.to_path_buf())
    } else {
        OutputTarget::Exact(data.to_path_buf())
    }
}

/// `seed`: verify the data, announce, and serve until interrupted.
pub async fn seed(torrent: &Path, data: &Path, opts: SwarmOptions) -> Result<()> {
    let m = Arc::new(load_torrent(torrent)?);
    let target = seed_target(&m, data);
    let info_hash = m.info_hash;
    let last = run_torrent(
        torrent_job(&m, target, &opts, None, true),
        &opts,
        Until::Interrupted,
        |engine, t| {
            // stdout contract: these lines, then "Seeding" once the data is checked and served
            println!("Info Hash: {info_hash}");
            println!("Port: {}", engine.listen_port());
            println!("Pieces: {}/{}", t.pieces_verified, t.piece_count);
            println!("Seeding");
            if t.pieces_verified < t.piece_count {
                eprintln!(
                    "warning: only {} of {} pieces verified; serving those",
                    t.pieces_verified, t.piece_count
                );
            }
        },
    )
    .await?
    .last;
    if let Some(t) = last {
        eprintln!("stopped after sending {} bytes", t.uploaded);
    }
    Ok(())
}

/// `create`: a v1 .torrent of a file or a folder, hashed on every core.
pub fn create(opts: crate::engine::create::CreateOptions, out: &Path) -> Result<()> {
    let progress = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    let created = crate::engine::create::create_torrent(&opts, |done, total| {
        if progress && (last.elapsed() > Duration::from_millis(200) || done == total) {
            last = Instant::now();
            eprint!("\rhashing {done}/{total} pieces   ");
        }
    })
    .wrap_err_with(|| format!("create a torrent of {}", opts.path.display()))?;
    if progress {
        eprintln!();
    }
    std::fs::write(out, &created.bytes).wrap_err_with(|| format!("write {}", out.display()))?;
    let m = &created.metainfo;
    println!("Info Hash: {}", m.info_hash);
    println!(
        "Pieces: {} x {} bytes",
        m.info.piece_count(),
        m.info.piece_length
    );
    println!("Length: {}", m.info.total_length);
    Ok(())
}
