//! The `fast-peer` binary: install error reporting, parse the command line, dispatch.

use clap::{Parser, Subcommand};
use color_eyre::Result;
use color_eyre::eyre::bail;
use fast_peer::cli::{self, SwarmOptions};
use fast_peer::config;
use fast_peer::engine::storage::OutputTarget;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "fast-peer",
    version,
    about = "A fast BitTorrent client with a live terminal dashboard"
)]
struct Args {
    /// Log to stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(flatten)]
    dht: DhtArgs,
    /// Message Stream Encryption: `enabled` (plaintext first, MSE when a peer insists;
    /// both accepted), `prefer` (RC4 first, plaintext when a peer has no MSE; both accepted),
    /// `required` (RC4 only, both ways) or `disabled`.
    /// (default: enabled, or the config file's `encryption`)
    #[arg(long, global = true, value_name = "POLICY")]
    encryption: Option<fast_peer::engine::conn::Encryption>,
    /// Configuration file (default: $XDG_CONFIG_HOME/fast-peer/config.toml, when it exists).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// No subcommand: open the dashboard.
    #[command(subcommand)]
    command: Option<Cmd>,
}

/// The DHT node (BEP 5), on for every command that runs the engine.
#[derive(clap::Args, Debug, Clone)]
struct DhtArgs {
    /// Do not run a DHT node (peers come from trackers, PEX and --peer only).
    #[arg(long, global = true)]
    no_dht: bool,
    /// DHT bootstrap nodes, replacing the default routers and saved nodes.
    #[arg(
        long,
        global = true,
        value_name = "HOST:PORT,...",
        value_delimiter = ','
    )]
    bootstrap: Vec<String>,
    /// UDP port of the DHT node (default 6881, or a free port when busy).
    #[arg(long, global = true, value_name = "PORT")]
    dht_port: Option<u16>,
    /// DHT state file (node id and good nodes). Default: $XDG_DATA_HOME/fast-peer/dht.dat,
    /// none with --bootstrap.
    #[arg(long, global = true, value_name = "PATH")]
    dht_state: Option<PathBuf>,
}

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

#[derive(clap::Args, Debug, Clone)]
struct Swarm {
    /// TCP port to accept peers on (default 6881, or a free port when busy).
    #[arg(long)]
    port: Option<u16>,
    /// Connect to this peer directly (repeatable).
    #[arg(long = "peer", value_name = "IP:PORT")]
    peers: Vec<SocketAddr>,
    /// Cap the upload rate, e.g. 500K or 2M (bytes per second).
    #[arg(long, value_name = "RATE", value_parser = cli::parse_rate)]
    upload_limit: Option<u64>,
    /// Peers unchoked by rate at once (one optimistic unchoke comes on top; default 4).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=200))]
    upload_slots: Option<u16>,
}

#[derive(clap::Args, Debug, Clone)]
struct MetaOpts {
    /// Largest metadata (info dictionary) accepted from peers, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = fast_peer::engine::DEFAULT_MAX_METADATA_SIZE)]
    max_metadata_size: u32,
}

/// Where a whole download goes, and whether to keep seeding it.
#[derive(clap::Args, Debug, Clone)]
struct Output {
    /// Output file (single-file torrent) or folder (multi-file torrent).
    #[arg(short = 'o', value_name = "PATH", conflicts_with = "dir")]
    output: Option<PathBuf>,
    /// Save as DIR/<name> like other clients.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep seeding after the download completes (until Ctrl-C).
    #[arg(long)]
    seed: bool,
}

impl Output {
    fn target(self) -> Result<OutputTarget> {
        Ok(match (self.output, self.dir) {
            (Some(o), None) => OutputTarget::Exact(o),
            (None, Some(d)) => OutputTarget::Dir(d),
            (None, None) => OutputTarget::Dir(PathBuf::from(".")),
            (Some(_), Some(_)) => bail!("-o and --dir cannot be used together"),
        })
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print a bencoded value as JSON (VALUE, `-` for stdin, or `@FILE`).
    Decode { value: String },
    /// Print a torrent file's tracker, length, info hash and piece hashes.
    Info { torrent: PathBuf },
    /// Ask the torrent's trackers for peers.
    Peers {
        torrent: PathBuf,
        #[arg(long)]
        port: Option<u16>,
    },
    /// Exchange handshakes with a peer and print its peer id.
    Handshake { torrent: PathBuf, peer: SocketAddr },
    /// Download one piece, verified, to a file.
    #[command(name = "download_piece")]
    DownloadPiece {
        #[arg(short = 'o', value_name = "PATH")]
        output: PathBuf,
        torrent: PathBuf,
        index: u32,
        #[command(flatten)]
        swarm: Swarm,
    },
    /// Download a whole torrent.
    Download {
        #[command(flatten)]
        out: Output,
        torrent: PathBuf,
        #[command(flatten)]
        swarm: Swarm,
    },
    /// Print the tracker and info hash of a magnet link.
    #[command(name = "magnet_parse")]
    MagnetParse { magnet: String },
    /// Handshake (BEP 3 + BEP 10) with a peer of a magnet and print its metadata extension id.
    #[command(name = "magnet_handshake")]
    MagnetHandshake {
        magnet: String,
        #[command(flatten)]
        swarm: Swarm,
    },
    /// Fetch a magnet's metadata from peers and print it like `info`.
    #[command(name = "magnet_info")]
    MagnetInfo {
        magnet: String,
        #[command(flatten)]
        swarm: Swarm,
        #[command(flatten)]
        meta: MetaOpts,
    },
    /// Download one verified piece of a magnet's torrent.
    #[command(name = "magnet_download_piece")]
    MagnetDownloadPiece {
        #[arg(short = 'o', value_name = "PATH")]
        output: PathBuf,
        magnet: String,
        index: u32,
        #[command(flatten)]
        swarm: Swarm,
        #[command(flatten)]
        meta: MetaOpts,
    },
    /// Download a magnet's whole torrent (metadata first, BEP 9).
    #[command(name = "magnet_download")]
    MagnetDownload {
        #[command(flatten)]
        out: Output,
        magnet: String,
        #[command(flatten)]
        swarm: Swarm,
        #[command(flatten)]
        meta: MetaOpts,
    },
    /// The full negotiated handshake with a peer: reserved bits, ids, clients and the BEP 10
    /// extension dictionaries, ours next to theirs.
    Nhandshake {
        /// A magnet link or a .torrent file.
        source: String,
        /// The peer (default: the first one the trackers or the magnet name).
        peer: Option<SocketAddr>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        swarm: Swarm,
    },
    /// Make a v1 .torrent of a file or a folder (nested folders, zero-length files).
    Create {
        path: PathBuf,
        #[arg(short = 'o', value_name = "FILE.torrent")]
        output: PathBuf,
        /// Announce URL (repeatable: each becomes its own BEP 12 tier, in order).
        #[arg(long = "tracker", value_name = "URL")]
        trackers: Vec<String>,
        /// Piece length in bytes (a multiple of 16 KiB); default: chosen from the size, like libtorrent.
        #[arg(long, value_name = "BYTES")]
        piece_length: Option<u32>,
        /// Mark the torrent private (BEP 27: no DHT, no PEX).
        #[arg(long)]
        private: bool,
        #[arg(long)]
        comment: Option<String>,
        /// Sort files by path instead of the file system's order (reproducible anywhere;
        /// libtorrent uses the file system's order).
        #[arg(long)]
        sorted: bool,
    },
    /// Start the embedded demo swarm on loopback and watch the download in the dashboard.
    Demo {
        /// Keep the demo content, torrent and download under DIR.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Print progress lines instead of opening the dashboard.
        #[arg(long)]
        no_tui: bool,
        /// Dashboard demo: content size in MiB (default 48).
        #[arg(long, value_name = "MIB", conflicts_with = "no_tui")]
        size: Option<u64>,
        /// Dashboard demo: unlimited seeders (full speed) instead of rate-limited ones.
        #[arg(long, conflicts_with = "no_tui")]
        fast: bool,
        /// Dashboard log file (default: fast-peer.log in the temporary folder).
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
    },
    /// The dashboard, optionally adding torrents and magnets at start (attached to the running
    /// daemon when one owns the session).
    Tui {
        /// .torrent files and magnet links to add.
        #[arg(value_name = "FILE.torrent|MAGNET")]
        sources: Vec<String>,
        /// Save downloads as DIR/<name> (default: the current folder).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Log file (default: fast-peer.log in the temporary folder).
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
        #[command(flatten)]
        swarm: Swarm,
    },
    /// The DHT alone (BEP 5): download a magnet with peers from the DHT only (no trackers),
    /// look up the peers of an info hash, or print the routing table.
    Dht {
        #[command(flatten)]
        out: Output,
        /// The magnet link to download.
        #[arg(required_unless_present_any = ["lookup", "table"])]
        magnet: Option<String>,
        /// Print the peers of this info hash (one IP:PORT a line) and exit.
        #[arg(long, value_name = "INFO_HASH", conflicts_with_all = ["magnet", "table"])]
        lookup: Option<String>,
        /// Bootstrap, then print the routing table (bucket, node id, address, state, last seen).
        #[arg(long, conflicts_with = "magnet")]
        table: bool,
        #[command(flatten)]
        swarm: Swarm,
        #[command(flatten)]
        meta: MetaOpts,
    },
    /// Print the configuration in effect: the config file under these flags, each value with
    /// where it came from (default, file or flag).
    Config {
        /// The download folder to show as set by a flag.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        #[command(flatten)]
        swarm: Swarm,
    },
    /// Run the session without a screen: every remembered torrent, the control socket the
    /// commands below talk to. Stops cleanly on Ctrl-C or SIGTERM.
    Daemon {
        /// Log file (default: stderr with -v, else nothing).
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
        #[command(flatten)]
        swarm: Swarm,
    },
    /// Add .torrent files or magnet links (`-`: read one from stdin) to the running instance.
    Add {
        #[arg(required = true, value_name = "FILE.torrent|MAGNET|-")]
        sources: Vec<String>,
        /// Save as DIR/<name> (default: the instance's download folder).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Add without starting.
        #[arg(long)]
        paused: bool,
    },
    /// Every torrent of the running instance.
    Status {
        /// One JSON object: {"torrents":[{"info_hash","name","state","progress",...}]}.
        #[arg(long)]
        json: bool,
    },
    /// Pause torrents of the running instance (info hash or a unique prefix).
    Pause {
        #[arg(required = true, value_name = "HASH")]
        hashes: Vec<String>,
    },
    /// Resume paused torrents of the running instance.
    Resume {
        #[arg(required = true, value_name = "HASH")]
        hashes: Vec<String>,
    },
    /// Remove torrents from the running instance (their data stays unless --delete-data).
    Remove {
        #[arg(required = true, value_name = "HASH")]
        hashes: Vec<String>,
        #[arg(long)]
        delete_data: bool,
    },
    /// Verify existing data and serve it to the swarm until interrupted.
    Seed {
        torrent: PathBuf,
        /// The data: the file (single-file torrent), the root folder (multi-file), or the
        /// folder that contains the torrent's name.
        #[arg(long, value_name = "PATH")]
        data: PathBuf,
        #[command(flatten)]
        swarm: Swarm,
    },
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
        ..config::Flags::default()
    };
    let effective = |swarm: Option<&Swarm>, dir: Option<PathBuf>| {
        let mut flags = global.clone();
        if let Some(s) = swarm {
            flags.listen_port = s.port;
            flags.upload_limit = s.upload_limit;
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
        upload_slots: usize::from(e.upload_slots.value),
        max_peers: Some(usize::from(e.max_peers_per_torrent.value)),
        dht: dht_config(e, dht_state.clone()),
        encryption: e.encryption.value,
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
            } => cli::session::add(&socket()?, &sources, dir, paused).await,
            Cmd::Status { json } => cli::session::status(&socket()?, json).await,
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
                swarm,
                meta,
            } => {
                let seed = out.seed;
                let target = out.target()?;
                let mut opts = with_meta(swarm, meta);
                opts.seed = seed;
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
                swarm,
            } => {
                let seed = out.seed;
                let target = out.target()?;
                let mut opts: SwarmOptions = swarm_opts(swarm);
                opts.seed = seed;
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
