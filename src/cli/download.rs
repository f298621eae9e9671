//! The downloading commands: `download_piece`, `download`, and for magnet links (BEP 9)
//! `magnet_info`, `magnet_download_piece` and `magnet_download`.

use super::inspect::format_info;
use super::run::{Job, Until, magnet_job, run_torrent, torrent_job};
use super::{SwarmOptions, load_torrent, parse_magnet};
use crate::engine::storage::{OutputTarget, Storage};
use crate::proto::metainfo::Metainfo;
use color_eyre::Result;
use color_eyre::eyre::{WrapErr, bail, eyre};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// `download`: the whole torrent to `target`.
pub async fn download(torrent: &Path, target: OutputTarget, opts: SwarmOptions) -> Result<()> {
    let m = Arc::new(load_torrent(torrent)?);
    let started = Instant::now();
    let until = if opts.seed {
        Until::Interrupted
    } else {
        Until::Complete
    };
    run_torrent(
        torrent_job(&m, target, &opts, None, false),
        &opts,
        until,
        |_, _| {},
    )
    .await?;
    report_done(&m, started);
    Ok(())
}

fn report_done(m: &Metainfo, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "downloaded {} ({} bytes) in {:.1} s ({:.1} MiB/s)",
        m.info.name,
        m.info.total_length,
        secs,
        m.info.total_length as f64 / (1024.0 * 1024.0) / secs.max(0.001)
    );
}

/// `download_piece`: one verified piece to the file `out`.
pub async fn download_piece(
    torrent: &Path,
    index: u32,
    out: &Path,
    opts: SwarmOptions,
) -> Result<()> {
    let m = Arc::new(load_torrent(torrent)?);
    let count = m.info.piece_count();
    if index >= count {
        bail!(
            "piece {index} does not exist: the torrent has {count} pieces (0..={})",
            count.saturating_sub(1)
        );
    }
    fetch_piece(index, out, &opts, |target| {
        torrent_job(&m, target, &opts, Some(vec![index]), false)
    })
    .await
}

/// Download piece `index` into a scratch folder beside `out` (the engine needs a layout to
/// write to), then copy the verified piece to `out`.
async fn fetch_piece(
    index: u32,
    out: &Path,
    opts: &SwarmOptions,
    job: impl FnOnce(OutputTarget) -> Job,
) -> Result<()> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).wrap_err_with(|| format!("create {}", parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".fast-peer-piece-")
        .tempdir_in(parent)
        .wrap_err("create a scratch folder")?;
    let target = OutputTarget::Dir(scratch.path().to_path_buf());
    let run = run_torrent(job(target.clone()), opts, Until::Complete, |_, _| {}).await?;
    let m = run
        .metainfo
        .ok_or_else(|| eyre!("the engine finished without metadata"))?;
    let storage = Storage::open_read_only(&m.info, &target).wrap_err("reopen the scratch data")?;
    let mut buf = vec![0u8; m.info.piece_size(index) as usize];
    storage
        .read_block(index, 0, &mut buf)
        .wrap_err("read the piece back")?;
    let tmp: PathBuf = scratch.path().join(".piece");
    std::fs::write(&tmp, &buf).wrap_err("write the piece")?;
    std::fs::rename(&tmp, out).wrap_err_with(|| format!("write {}", out.display()))?;
    Ok(())
}

/// `magnet_info`: fetch the metadata from peers and print it like `info`.
pub async fn magnet_info(uri: &str, opts: SwarmOptions) -> Result<()> {
    let m = parse_magnet(uri)?;
    let scratch = tempfile::Builder::new()
        .prefix("fast-peer-magnet-")
        .tempdir()
        .wrap_err("create a scratch folder")?;
    let job = magnet_job(
        &m,
        OutputTarget::Dir(scratch.path().to_path_buf()),
        &opts,
        Some(Vec::new()),
    );
    let run = run_torrent(job, &opts, Until::Metadata, |_, _| {}).await?;
    let meta = run.metainfo.ok_or_else(|| eyre!("no metadata received"))?;
    std::io::stdout().write_all(format_info(&meta).as_bytes())?;
    Ok(())
}

/// `magnet_download_piece`: one verified piece of a magnet's torrent.
pub async fn magnet_download_piece(
    uri: &str,
    index: u32,
    out: &Path,
    opts: SwarmOptions,
) -> Result<()> {
    let m = parse_magnet(uri)?;
    fetch_piece(index, out, &opts, |target| {
        magnet_job(&m, target, &opts, Some(vec![index]))
    })
    .await
}

/// `magnet_download`: metadata first, then the whole torrent on the same connections.
pub async fn magnet_download(uri: &str, target: OutputTarget, opts: SwarmOptions) -> Result<()> {
    let m = parse_magnet(uri)?;
    let started = Instant::now();
    let until = if opts.seed {
        Until::Interrupted
    } else {
        Until::Complete
    };
    let run = run_torrent(magnet_job(&m, target, &opts, None), &opts, until, |_, _| {}).await?;
    if let Some(meta) = run.metainfo {
        report_done(&meta, started);
    }
    Ok(())
}
