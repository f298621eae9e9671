//! The `fast-peer` binary: install error reporting, parse the command line, dispatch.

mod args;

use args::{Args, Cmd, MetaOpts, Swarm};
use clap::Parser;
use color_eyre::Result;
use fast_peer::cli::{self, SwarmOptions};
use fast_peer::config;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The DHT node the effective configuration describes (`None`: no DHT). `state` is
/// `--dht-state`.
fn dht_config(
    e: &config::Effective,
    state: Option<PathBuf>,
) -> Option<fast_peer::engine::dht::DhtConfig> {
    use fast_peer::engine::dht::{self, DhtConfig};
    if !e.dht.value {
        return None;
    }
    let (bootstrap, public) = match &e.bootstrap.value {
        Some(nodes) => (nodes.clone(), false),
        None => (
            dht::PUBLIC_BOOTSTRAP
                .iter()
                .map(|s| s.to_string())
                .collect(),
            true,
        ),
    };
    let mut cfg = DhtConfig::new(e.dht_port.value.unwrap_or(dht::DEFAULT_PORT), bootstrap);
    cfg.port_fallback = e.dht_port.value.is_none();
    // a private bootstrap list must not mix with (or overwrite) the public saved nodes
    cfg.state_path = state.or_else(|| {
        if public {
            dht::default_state_path()
        } else {
            None
        }
    });
    Some(cfg)
}

fn main() -> std::process::ExitCode {
    // color-eyre formats panics; errors are printed below as one plain line, because a user
    // error (bad torrent, unreachable peer) deserves a sentence, not a backtrace.
    let _ = color_eyre::config::HookBuilder::default()
        .display_env_section(false)
        .install();
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "fast-peer: error: {}",
                error_line(e.chain().map(|c| c.to_string()))
            );
            std::process::ExitCode::FAILURE
        }
    }
}

/// The causes of an error as one line, outermost first, each said once: an error that
/// prints its source in its own message (`invalid bencode: {0}` with `#[from]`) would
/// otherwise repeat it.
fn error_line(chain: impl Iterator<Item = String>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in chain {
        if parts.last().is_some_and(|outer| outer.ends_with(&cause)) {
            continue;
        }
        parts.push(cause);
    }
    parts.join(": ")
}

/// Worker threads of the async runtime. A headless transfer gets half the cores (at least one):
/// its disk writer and hasher are busy threads of their own, and network workers beyond that
/// only add cross-thread wake-ups. Measured on 2 cores, 1 GiB from two libtorrent seeders, 10
/// interleaved runs: 1.50 instead of 1.60 CPU-s and 18-19 instead of 22 MiB peak RSS, wall the
/// same within noise. The dashboard (drawing must not wait behind the network) and the demo
/// (its seeders run in this process) keep one worker per core.
fn runtime_workers(all_cores: bool) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if all_cores { cores } else { (cores / 2).max(1) }
}

fn run(args: Args) -> Result<()> {
    // the dashboard owns the terminal: it logs to a file instead
    let dashboard = matches!(
        args.command,
        None | Some(Cmd::Tui { .. }) | Some(Cmd::Demo { no_tui: false, .. })
    );
    if args.verbose > 0 && !dashboard {
        let level = match args.verbose {
            1 => "info",
            2 => "debug",
            _ => "trace",
        };
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
                "fast_peer={level}"
            )))
            .init();
    }
    let all_cores = dashboard || matches!(args.command, Some(Cmd::Demo { .. }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(runtime_workers(all_cores))
        .enable_all()
        .build()?;
    // the config file, under the flags
    // (commands that only read their arguments do not read it, so a broken file does not
    // stop them)
    let reads_config = !matches!(
        args.command,
        Some(
            Cmd::Decode { .. }
                | Cmd::Info { .. }
                | Cmd::MagnetParse { .. }
                | Cmd::Create { .. }
                | Cmd::Add { .. }
                | Cmd::Status { .. }
                | Cmd::Pause { .. }
                | Cmd::Resume { .. }
                | Cmd::Remove { .. }
                | Cmd::Set { .. }
                | Cmd::Limits { .. }
                | Cmd::Queue { .. }
        )
    );
    let file = args
        .config
        .clone()
        .or_else(config::default_path)
        .filter(|_| reads_config);
    let settings = match &file {
        Some(path) => {
            let (settings, warnings) = config::load(path, args.config.is_some())?;
            for w in warnings {
                eprintln!("fast-peer: warning: {w}");
            }
            settings
        }
        None => config::Settings::default(),
    };
    let global = config::Flags {
        no_dht: args.dht.no_dht,
        dht_port: args.dht.dht_port,
        bootstrap: (!args.dht.bootstrap.is_empty()).then(|| args.dht.bootstrap.clone()),
        encryption: args.encryption,
        no_tcp: args.no_tcp,
        no_utp: args.no_utp,
        no_mouse: args.look.no_mouse,
        theme: args.look.theme,
        ..config::Flags::default()
    };
    let look = |e: &config::Effective| fast_peer::tui::Look {
        mouse: e.mouse.value,
        theme: e.theme.value,
        notify: e.notify.value,
    };
    let effective = |swarm: Option<&Swarm>, dir: Option<PathBuf>| {
        let mut flags = global.clone();
        if let Some(s) = swarm {
            flags.listen_port = s.port;
            flags.upload_limit = s.upload_limit;
            flags.download_limit = s.download_limit;
            flags.max_connections = s.max_connections;
            flags.upload_slots = s.upload_slots;
        }
        flags.download_dir = dir;
        config::Effective::resolve(&settings, &flags)
    };
    let dht_state = args.dht.dht_state.clone();
    let options = |e: &config::Effective, peers: Vec<SocketAddr>| SwarmOptions {
        port: e.listen_port.value,
        peers,
        upload_limit: e.upload_limit.value,
        download_limit: e.download_limit.value,
        max_connections: e.max_connections.value,
        queue: e.queue.value,
        upload_slots: usize::from(e.upload_slots.value),
        max_peers: Some(usize::from(e.max_peers_per_torrent.value)),
        dht: dht_config(e, dht_state.clone()),
        encryption: e.encryption.value,
        no_tcp: !e.tcp.value,
        no_utp: !e.utp.value,
        ..SwarmOptions::default()
    };
    let swarm_opts = |s: Swarm| -> SwarmOptions { options(&effective(Some(&s), None), s.peers) };
    let with_meta = |s: Swarm, m: MetaOpts| -> SwarmOptions {
        let mut o = swarm_opts(s);
        o.max_metadata_size = Some(m.max_metadata_size);
        o
    };
    let encryption = effective(None, None).encryption.value;
    let socket = || -> Result<PathBuf> { Ok(fast_peer::session::instance::socket_path()?) };
    // the session an instance (the daemon, the dashboard) owns
    let session = |e: &config::Effective,
                   peers: Vec<SocketAddr>|
     -> Result<fast_peer::session::SessionOptions> {
        let session_dir = e
            .session_dir
            .value
            .clone()
            .or_else(fast_peer::session::instance::default_session_dir)
            .ok_or_else(|| color_eyre::eyre::eyre!("no session folder: set session_dir or HOME"))?;
        Ok(fast_peer::session::SessionOptions {
            engine: cli::engine_config(&options(e, peers)),
            session_dir,
            download_dir: std::path::absolute(&e.download_dir.value)?,
            socket: socket()?,
            watch_dir: e.watch_dir.value.clone(),
        })
    };
    let result = rt.block_on(async move {
        let Some(command) = args.command else {
            let e = effective(None, None);
            return fast_peer::tui::run(fast_peer::tui::Options {
                config: cli::engine_config(&options(&e, Vec::new())),
                sources: Vec::new(),
                dir: std::path::absolute(&e.download_dir.value)?,
                log_file: None,
                session: Some(session(&e, Vec::new())?),
                look: look(&e),
            })
            .await;
        };
        match command {
            Cmd::Decode { value } => cli::inspect::decode(&value),
            Cmd::Info { torrent } => cli::inspect::info(&torrent),
            Cmd::Peers { torrent, port } => cli::peers::peers(&torrent, port).await,
            Cmd::Handshake { torrent, peer } => {
                cli::peers::handshake(&torrent, peer, encryption).await
            }
            Cmd::DownloadPiece {
                output,
                torrent,
                index,
                swarm,
            } => cli::download::download_piece(&torrent, index, &output, swarm_opts(swarm)).await,
            Cmd::Create {
                path,
                output,
                trackers,
                piece_length,
                private,
                comment,
                sorted,
            } => {
                use fast_peer::engine::create::{CreateOptions, FileOrder};
                let mut o = CreateOptions::new(path);
                o.trackers = trackers.into_iter().map(|t| vec![t]).collect();
                o.piece_length = piece_length;
                o.private = private;
                o.comment = comment;
                o.creation_date = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs() as i64);
                if sorted {
                    o.order = FileOrder::Sorted;
                }
                cli::seed::create(o, &output)
            }
            Cmd::Demo {
                dir, no_tui: true, ..
            } => cli::demo::demo(dir).await,
            Cmd::Demo {
                dir,
                no_tui: false,
                size,
                fast,
                log,
            } => {
                let size = size.map(|m| m.saturating_mul(1 << 20));
                fast_peer::tui::run_demo(fast_peer::tui::DemoTui {
                    dir,
                    size,
                    fast,
                    log_file: log,
                    look: look(&effective(None, None)),
                })
                .await
            }
            Cmd::Tui {
                sources,
                dir,
                log,
                swarm,
            } => {
                let e = effective(Some(&swarm), dir);
                fast_peer::tui::run(fast_peer::tui::Options {
                    config: cli::engine_config(&options(&e, swarm.peers.clone())),
                    sources,
                    dir: std::path::absolute(&e.download_dir.value)?,
                    log_file: log,
                    session: Some(session(&e, swarm.peers)?),
                    look: look(&e),
                })
                .await
            }
            Cmd::Daemon { log, swarm } => {
                if log.is_some() {
                    fast_peer::tui::init_logging(log);
                }
                let e = effective(Some(&swarm), None);
                let opts = session(&e, swarm.peers)?;
                Ok(fast_peer::session::run_daemon(opts).await?)
            }
            Cmd::Add {
                sources,
                dir,
                paused,
                pause_after_metadata,
                select,
            } => {
                let how = cli::session::AddHow {
                    dir,
                    paused,
                    pause_after_metadata,
                    wants: select.wants()?,
                };
                cli::session::add(&socket()?, &sources, how).await
            }
            Cmd::Status { json } => cli::session::status(&socket()?, json).await,
            Cmd::Set {
                hashes,
                only,
                exclude,
                all,
                sequential,
                first_last,
                limits,
            } => {
                use fast_peer::engine::settings::FileSelection;
                use fast_peer::session::protocol::SettingsChange;
                let files = if all {
                    Some(FileSelection::All)
                } else if only.is_empty() && exclude.is_empty() {
                    None
                } else {
                    Some(FileSelection::from_globs(only, exclude))
                };
                let change = SettingsChange {
                    files,
                    sequential,
                    first_last,
                    download_limit: limits.download,
                    upload_limit: limits.upload,
                    max_peers: limits.max_peers,
                    seed_ratio: limits.seed_ratio,
                    seed_time_secs: limits.seed_time.map(|m| m * 60),
                };
                cli::session::set(&socket()?, hashes, change).await
            }
            Cmd::Limits { limits } => cli::session::limits(&socket()?, limits.change()).await,
            Cmd::Queue { hash, to } => cli::session::queue(&socket()?, hash, to).await,
            Cmd::Pause { hashes } => cli::session::pause(&socket()?, hashes, true).await,
            Cmd::Resume { hashes } => cli::session::pause(&socket()?, hashes, false).await,
            Cmd::Remove {
                hashes,
                delete_data,
            } => cli::session::remove(&socket()?, hashes, delete_data).await,
            Cmd::Config { dir, swarm } => {
                let shown = file.as_deref().filter(|p| p.exists());
                print!("{}", effective(Some(&swarm), dir).render(shown));
                Ok(())
            }
            Cmd::Seed {
                torrent,
                data,
                swarm,
            } => cli::seed::seed(&torrent, &data, swarm_opts(swarm)).await,
            Cmd::MagnetParse { magnet } => cli::inspect::magnet_parse(&magnet),
            Cmd::MagnetHandshake { magnet, swarm } => {
                cli::peers::magnet_handshake(&magnet, swarm_opts(swarm)).await
            }
            Cmd::MagnetInfo {
                magnet,
                swarm,
                meta,
            } => cli::download::magnet_info(&magnet, with_meta(swarm, meta)).await,
            Cmd::MagnetDownloadPiece {
                output,
                magnet,
                index,
                swarm,
                meta,
            } => {
                cli::download::magnet_download_piece(
                    &magnet,
                    index,
                    &output,
                    with_meta(swarm, meta),
                )
                .await
            }
            Cmd::MagnetDownload {
                out,
                magnet,
                select,
                swarm,
                meta,
            } => {
                let seed = out.seed;
                let target = out.target()?;
                let mut opts = with_meta(swarm, meta);
                opts.seed = seed;
                opts.settings.wants = select.wants()?;
                cli::download::magnet_download(&magnet, target, opts).await
            }
            Cmd::Nhandshake {
                source,
                peer,
                json,
                swarm,
            } => cli::peers::nhandshake(&source, peer, json, swarm_opts(swarm)).await,
            Cmd::Dht {
                out,
                magnet,
                lookup,
                table,
                swarm,
                meta,
            } => {
                let mut opts = with_meta(swarm, meta);
                if let Some(h) = lookup {
                    cli::dht::dht_lookup(&h, &opts).await
                } else if table {
                    cli::dht::dht_table(&opts).await
                } else {
                    opts.seed = out.seed;
                    let target = out.target()?;
                    cli::dht::dht_download(magnet.as_deref().unwrap_or_default(), target, opts)
                        .await
                }
            }
            Cmd::Download {
                out,
                torrent,
                select,
                swarm,
            } => {
                let seed = out.seed;
                let target = out.target()?;
                let mut opts: SwarmOptions = swarm_opts(swarm);
                opts.seed = seed;
                opts.settings.wants = select.wants()?;
                cli::download::download(&torrent, target, opts).await
            }
        }
    });
    // A blocking HTTP announce to a tracker that never answers may still be running; dropping
    // the runtime would wait for it (up to its timeout) after the work is done or Ctrl-C.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    result
}

#[cfg(test)]
mod tests {
    use super::{error_line, runtime_workers};

    #[test]
    fn each_cause_is_printed_once() {
        let chain = [
            "parse torrent file x",
            "invalid bencode: trailing data at 3",
            "trailing data at 3",
        ];
        assert_eq!(
            error_line(chain.iter().map(|s| s.to_string())),
            "parse torrent file x: invalid bencode: trailing data at 3"
        );
        let distinct = ["connect to 1.2.3.4:5", "connection refused"];
        assert_eq!(
            error_line(distinct.iter().map(|s| s.to_string())),
            "connect to 1.2.3.4:5: connection refused"
        );
    }

    #[test]
    fn headless_commands_get_half_the_cores_and_at_least_one() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(runtime_workers(true), cores);
        assert_eq!(runtime_workers(false), (cores / 2).max(1));
        assert!(runtime_workers(false) >= 1);
    }
}
