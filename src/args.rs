//! The command line: every subcommand and option, as clap parses them. `main` dispatches.

use clap::{Parser, Subcommand};
use color_eyre::Result;
use color_eyre::eyre::bail;
use fast_peer::cli;
use fast_peer::engine::storage::OutputTarget;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "fast-peer",
    version,
    about = "A fast BitTorrent client with a live terminal dashboard"
)]
pub struct Args {
    /// Log to stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(flatten)]
    pub dht: DhtArgs,
    #[command(flatten)]
    pub look: LookArgs,
    /// Message Stream Encryption: `enabled` (plaintext first, MSE when a peer insists;
    /// both accepted), `prefer` (RC4 first, plaintext when a peer has no MSE; both accepted),
    /// `required` (RC4 only, both ways) or `disabled`.
    /// (default: enabled, or the config file's `encryption`)
    #[arg(long, global = true, value_name = "POLICY")]
    pub encryption: Option<fast_peer::engine::conn::Encryption>,
    /// Neither accept nor dial peers over TCP (uTP only). (default: the config file's `tcp`)
    #[arg(long, global = true)]
    pub no_tcp: bool,
    /// Neither accept nor dial peers over uTP (TCP only). (default: the config file's `utp`)
    #[arg(long, global = true)]
    pub no_utp: bool,
    /// Configuration file (default: $XDG_CONFIG_HOME/fast-peer/config.toml, when it exists).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// No subcommand: open the dashboard.
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// How the dashboard (`fast-peer`, `tui`, `demo`) looks and takes input.
#[derive(clap::Args, Debug, Clone)]
pub struct LookArgs {
    /// Dashboard: leave the mouse to the terminal (no clicks on tabs and rows, no wheel);
    /// the keyboard does everything. (default: the config file's `mouse`, else captured)
    #[arg(long, global = true)]
    pub no_mouse: bool,
    /// Dashboard colours: `dark`, `light` (for a white background) or `high-contrast`.
    /// (default: dark, or the config file's `theme`)
    #[arg(long, global = true, value_name = "THEME")]
    pub theme: Option<fast_peer::tui::theme::Theme>,
}

/// The DHT node (BEP 5), on for every command that runs the engine.
#[derive(clap::Args, Debug, Clone)]
pub struct DhtArgs {
    /// Do not run a DHT node (peers come from trackers, PEX and --peer only).
    #[arg(long, global = true)]
    pub no_dht: bool,
    /// DHT bootstrap nodes, replacing the default routers and saved nodes.
    #[arg(
        long,
        global = true,
        value_name = "HOST:PORT,...",
        value_delimiter = ','
    )]
    pub bootstrap: Vec<String>,
    /// UDP port of the DHT node (default 6881, or a free port when busy).
    #[arg(long, global = true, value_name = "PORT")]
    pub dht_port: Option<u16>,
    /// DHT state file (node id and good nodes). Default: $XDG_DATA_HOME/fast-peer/dht.dat,
    /// none with --bootstrap.
    #[arg(long, global = true, value_name = "PATH")]
    pub dht_state: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Swarm {
    /// TCP port to accept peers on (default 6881, or a free port when busy).
    #[arg(long)]
    pub port: Option<u16>,
    /// Connect to this peer directly (repeatable).
    #[arg(long = "peer", value_name = "IP:PORT")]
    pub peers: Vec<SocketAddr>,
    /// Cap the upload rate, e.g. 500K or 2M (bytes per second).
    #[arg(long, value_name = "RATE", value_parser = cli::parse_rate)]
    pub upload_limit: Option<u64>,
    /// Cap the download rate, e.g. 500K or 2M (bytes per second).
    #[arg(long, value_name = "RATE", value_parser = cli::parse_rate)]
    pub download_limit: Option<u64>,
    /// Peer connections over every torrent.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Peers unchoked by rate at once (one optimistic unchoke comes on top; default 4).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=200))]
    pub upload_slots: Option<u16>,
}

/// The engine-wide limits and the queue (`limits`); 0 = no limit.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LimitArgs {
    /// Download cap over every torrent, e.g. 2M (0 = none).
    #[arg(long, value_name = "RATE", value_parser = parse_rate_or_zero)]
    pub download_limit: Option<u64>,
    /// Upload cap over every torrent (0 = none).
    #[arg(long, value_name = "RATE", value_parser = parse_rate_or_zero)]
    pub upload_limit: Option<u64>,
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    #[arg(long, value_name = "N")]
    pub max_active_downloads: Option<usize>,
    #[arg(long, value_name = "N")]
    pub max_active_seeds: Option<usize>,
    /// Default seeding limit: upload ratio (0 = none).
    #[arg(long, value_name = "RATIO")]
    pub seed_ratio: Option<f64>,
    /// Default seeding limit: minutes (0 = none).
    #[arg(long, value_name = "MINUTES")]
    pub seed_time: Option<u64>,
}

impl LimitArgs {
    /// The change these flags ask for.
    pub fn change(self) -> fast_peer::session::protocol::LimitsChange {
        fast_peer::session::protocol::LimitsChange {
            download_limit: self.download_limit,
            upload_limit: self.upload_limit,
            max_connections: self.max_connections,
            max_active_downloads: self.max_active_downloads,
            max_active_seeds: self.max_active_seeds,
            seed_ratio: self.seed_ratio,
            seed_time_secs: self.seed_time.map(|m| m * 60),
        }
    }
}

/// One torrent's own limits (`set`); 0 = none of its own.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TorrentLimitArgs {
    /// This torrent's download cap, e.g. 500K (0 = none).
    #[arg(long = "download-limit", value_name = "RATE", value_parser = parse_rate_or_zero)]
    pub download: Option<u64>,
    /// This torrent's upload cap (0 = none).
    #[arg(long = "upload-limit", value_name = "RATE", value_parser = parse_rate_or_zero)]
    pub upload: Option<u64>,
    /// This torrent's connections (0 = the engine's default).
    #[arg(long = "max-peers", value_name = "N")]
    pub max_peers: Option<usize>,
    /// Stop seeding at this upload ratio (0 = the engine's default).
    #[arg(long = "seed-ratio", value_name = "RATIO")]
    pub seed_ratio: Option<f64>,
    /// Stop seeding after this many minutes (0 = the engine's default).
    #[arg(long = "seed-time", value_name = "MINUTES")]
    pub seed_time: Option<u64>,
}

/// `on` or `off`.
fn parse_on_off(s: &str) -> std::result::Result<bool, String> {
    match s {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("{s:?}: on or off")),
    }
}

/// A rate, or 0 for "no limit".
fn parse_rate_or_zero(s: &str) -> std::result::Result<u64, String> {
    if s.trim() == "0" {
        Ok(0)
    } else {
        cli::parse_rate(s)
    }
}

/// Which files of a torrent, and in which order.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Select {
    /// Only the files whose path inside the torrent (without its name) matches GLOB
    /// (repeatable; `*` matches across folders, e.g. '*.mkv').
    #[arg(long = "only", value_name = "GLOB")]
    pub only: Vec<String>,
    /// Not the files whose path matches GLOB (repeatable).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Pieces in order, to play a file while it downloads.
    #[arg(long)]
    pub sequential: bool,
    /// The first and last piece of each wanted file first (media players read both ends).
    #[arg(long)]
    pub first_last: bool,
}

impl Select {
    /// The torrent's wants, the globs checked.
    pub fn wants(self) -> Result<fast_peer::engine::settings::Wants> {
        use fast_peer::engine::settings::{FileSelection, Wants};
        let files = FileSelection::from_globs(self.only, self.exclude);
        files
            .validate()
            .map_err(|e| color_eyre::eyre::eyre!("{e}"))?;
        Ok(Wants {
            files,
            sequential: self.sequential,
            first_last: self.first_last,
        })
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct MetaOpts {
    /// Largest metadata (info dictionary) accepted from peers, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = fast_peer::engine::DEFAULT_MAX_METADATA_SIZE)]
    pub max_metadata_size: u32,
}

/// Where a whole download goes, and whether to keep seeding it.
#[derive(clap::Args, Debug, Clone)]
pub struct Output {
    /// Output file (single-file torrent) or folder (multi-file torrent).
    #[arg(short = 'o', value_name = "PATH", conflicts_with = "dir")]
    pub output: Option<PathBuf>,
    /// Save as DIR/<name> like other clients.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Keep seeding after the download completes (until Ctrl-C).
    #[arg(long)]
    pub seed: bool,
}

impl Output {
    pub fn target(self) -> Result<OutputTarget> {
        Ok(match (self.output, self.dir) {
            (Some(o), None) => OutputTarget::Exact(o),
            (None, Some(d)) => OutputTarget::Dir(d),
            (None, None) => OutputTarget::Dir(PathBuf::from(".")),
            (Some(_), Some(_)) => bail!("-o and --dir cannot be used together"),
        })
    }
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
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
    /// Download a whole torrent (or the files --only / --exclude select).
    Download {
        #[command(flatten)]
        out: Output,
        torrent: PathBuf,
        #[command(flatten)]
        select: Select,
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
    /// Download a magnet's whole torrent (metadata first, BEP 9), or the files --only /
    /// --exclude select.
    #[command(name = "magnet_download")]
    MagnetDownload {
        #[command(flatten)]
        out: Output,
        magnet: String,
        #[command(flatten)]
        select: Select,
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
        /// A magnet stops once its metadata is known (choose files, then resume).
        #[arg(long)]
        pause_after_metadata: bool,
        #[command(flatten)]
        select: Select,
    },
    /// Change torrents of the running instance: files, order, limits (0 = none).
    Set {
        #[arg(required = true, value_name = "HASH")]
        hashes: Vec<String>,
        /// Only the files whose path matches GLOB (repeatable; replaces the selection).
        #[arg(long = "only", value_name = "GLOB")]
        only: Vec<String>,
        /// Not the files whose path matches GLOB (repeatable; replaces the selection).
        #[arg(long = "exclude", value_name = "GLOB")]
        exclude: Vec<String>,
        /// Every file again.
        #[arg(long, conflicts_with_all = ["only", "exclude"])]
        all: bool,
        /// Pieces in order: on or off.
        #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
        sequential: Option<bool>,
        /// The first and last piece of each file first: on or off.
        #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
        first_last: Option<bool>,
        #[command(flatten)]
        limits: TorrentLimitArgs,
    },
    /// Change the running instance's engine-wide limits and queue (0 = no limit), until it
    /// stops (the config file holds lasting values).
    Limits {
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Move a torrent in the running instance's queue.
    Queue {
        #[arg(value_name = "HASH")]
        hash: String,
        /// up, down, top or bottom.
        #[arg(value_name = "WHERE")]
        to: fast_peer::session::protocol::QueueMove,
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
