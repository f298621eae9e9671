//! The user's configuration: `$XDG_CONFIG_HOME/fast-peer/config.toml` (or `--config PATH`),
//! under the command line.
//!
//! Each setting comes from the first of: a command-line flag, the file, the default
//! ([`Effective::resolve`]); `fast-peer config` prints the result with where each value came
//! from ([`Effective::render`]). The file is TOML, parsed with the `toml` crate: a syntax or
//! type error names its line and column and what was expected; an unknown key is a warning
//! (a newer version's key must not stop an older binary), never an error.

use crate::engine::conn::Encryption;
use crate::engine::queue::{QueueLimits, SeedLimitAction};
use crate::tui::notify::Notify;
use crate::tui::theme::Theme;
use serde::{Deserialize, Deserializer};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Keys the file may hold (others are warned about).
const KNOWN: &[&str] = &[
    "download_dir",
    "listen_port",
    "dht",
    "dht_port",
    "bootstrap",
    "encryption",
    "tcp",
    "utp",
    "upload_limit",
    "download_limit",
    "upload_slots",
    "max_connections",
    "max_active_downloads",
    "max_active_seeds",
    "seed_ratio",
    "seed_time",
    "on_seed_limit",
    "max_peers_per_torrent",
    "watch_dir",
    "session_dir",
    "mouse",
    "theme",
    "notify",
];

/// The settings a config file may hold; absent keys are `None`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Settings {
    /// Where downloads are saved (as `DIR/<name>`).
    pub download_dir: Option<PathBuf>,
    /// TCP port to accept peers on.
    pub listen_port: Option<u16>,
    /// Run a DHT node.
    pub dht: Option<bool>,
    /// UDP port of the DHT node.
    pub dht_port: Option<u16>,
    /// DHT bootstrap nodes (`host:port`), replacing the public routers.
    pub bootstrap: Option<Vec<String>>,
    /// `disabled`, `enabled`, `prefer` or `required`.
    #[serde(default, deserialize_with = "encryption")]
    pub encryption: Option<Encryption>,
    /// Accept and dial peers over TCP.
    pub tcp: Option<bool>,
    /// Accept and dial peers over uTP (BEP 29).
    pub utp: Option<bool>,
    /// Upload cap: bytes per second, or a rate such as `"2M"`.
    #[serde(default, deserialize_with = "rate")]
    pub upload_limit: Option<u64>,
    /// Download cap, like `upload_limit`.
    #[serde(default, deserialize_with = "rate")]
    pub download_limit: Option<u64>,
    /// Peer connections over every torrent.
    pub max_connections: Option<usize>,
    /// Torrents downloading at once (the others wait in the queue).
    pub max_active_downloads: Option<usize>,
    /// Torrents seeding at once.
    pub max_active_seeds: Option<usize>,
    /// A seed stops at this upload ratio...
    pub seed_ratio: Option<f64>,
    /// ... or after this many minutes of seeding.
    pub seed_time: Option<u64>,
    /// `pause` (default) or `remove` (the data stays).
    #[serde(default, deserialize_with = "seed_action")]
    pub on_seed_limit: Option<SeedLimitAction>,
    /// Peers unchoked by rate at once.
    pub upload_slots: Option<u16>,
    /// Connections per torrent.
    pub max_peers_per_torrent: Option<u16>,
    /// A folder watched for .torrent files to add.
    pub watch_dir: Option<PathBuf>,
    /// Where the session (torrents, resume data) lives.
    pub session_dir: Option<PathBuf>,
    /// The dashboard captures the mouse (click tabs and rows, the wheel scrolls).
    pub mouse: Option<bool>,
    /// The dashboard's colours: `dark`, `light` or `high-contrast`.
    #[serde(default, deserialize_with = "named")]
    pub theme: Option<Theme>,
    /// A download finished in the dashboard: `all` (bell and desktop notification), `bell`
    /// or `none`.
    #[serde(default, deserialize_with = "named")]
    pub notify: Option<Notify>,
}

/// A value written by its name (`theme`, `notify`): the type's own parser says what is wrong.
fn named<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr<Err = String>,
{
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

fn encryption<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Encryption>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

fn seed_action<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SeedLimitAction>, D::Error> {
    match String::deserialize(d)?.as_str() {
        "pause" => Ok(Some(SeedLimitAction::Pause)),
        "remove" => Ok(Some(SeedLimitAction::Remove)),
        other => Err(serde::de::Error::custom(format!(
            "on_seed_limit {other:?}: expected \"pause\" or \"remove\""
        ))),
    }
}

fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Rate {
        Bytes(u64),
        Text(String),
    }
    match Rate::deserialize(d)? {
        Rate::Bytes(n) => Ok(Some(n)),
        Rate::Text(t) => crate::cli::parse_rate(&t)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The `toml` crate's message names the line, the column and what was expected.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

/// The default place of the file: `$XDG_CONFIG_HOME/fast-peer/config.toml`, else
/// `~/.config/fast-peer/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("fast-peer").join("config.toml"))
}

/// Parse a config file's text; returns the settings and a warning per unknown key.
pub fn parse(text: &str, path: &Path) -> Result<(Settings, Vec<String>), ConfigError> {
    let err = |e: toml::de::Error| ConfigError::Parse {
        path: path.to_path_buf(),
        message: match e.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                format!("line {line}, column {column}: {}", e.message().trim_end())
            }
            None => e.message().trim_end().to_string(),
        },
    };
    let table: toml::Table = toml::from_str(text).map_err(err)?;
    let warnings = table
        .keys()
        .filter(|k| !KNOWN.contains(&k.as_str()))
        .map(|k| format!("{}: unknown key `{k}` ignored", path.display()))
        .collect();
    let settings: Settings = toml::from_str(text).map_err(err)?;
    Ok((settings, warnings))
}

/// The 1-based line and column (in characters) of byte `at` of `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Load `path`: a missing file is no settings (`required`: an error, for a path the user
/// named with `--config`).
pub fn load(path: &Path, required: bool) -> Result<(Settings, Vec<String>), ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            Ok((Settings::default(), Vec::new()))
        }
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Default,
    File,
    Flag,
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// The first of the flag, the file and the default.
fn pick<T>(flag: Option<T>, file: Option<T>, default: T) -> Sourced<T> {
    match (flag, file) {
        (Some(value), _) => Sourced {
            value,
            source: Source::Flag,
        },
        (None, Some(value)) => Sourced {
            value,
            source: Source::File,
        },
        (None, None) => Sourced {
            value: default,
            source: Source::Default,
        },
    }
}

/// The queue and seeding limits a file sets (`None`: it sets none of them).
fn queue_limits(f: &Settings) -> Option<QueueLimits> {
    let any = f.max_active_downloads.is_some()
        || f.max_active_seeds.is_some()
        || f.seed_ratio.is_some()
        || f.seed_time.is_some()
        || f.on_seed_limit.is_some();
    any.then(|| QueueLimits {
        max_active_downloads: f.max_active_downloads,
        max_active_seeds: f.max_active_seeds,
        seed_ratio: f.seed_ratio,
        seed_time: f.seed_time.map(|m| std::time::Duration::from_secs(m * 60)),
        on_seed_limit: f.on_seed_limit.unwrap_or_default(),
        ..QueueLimits::default()
    })
}

/// What the command line said about each setting (`None`: not given).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub download_dir: Option<PathBuf>,
    pub listen_port: Option<u16>,
    /// `--no-dht` (a flag can only turn the DHT off).
    pub no_dht: bool,
    pub dht_port: Option<u16>,
    pub bootstrap: Option<Vec<String>>,
    pub encryption: Option<Encryption>,
    /// `--no-tcp` and `--no-utp` (flags can only turn a transport off).
    pub no_tcp: bool,
    pub no_utp: bool,
    pub upload_limit: Option<u64>,
    pub download_limit: Option<u64>,
    pub upload_slots: Option<u16>,
    pub max_connections: Option<usize>,
    /// `--no-mouse` (a flag can only turn the mouse off).
    pub no_mouse: bool,
    pub theme: Option<Theme>,
}

/// The configuration in effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub download_dir: Sourced<PathBuf>,
    /// `None`: 6881, or a free port when it is taken.
    pub listen_port: Sourced<Option<u16>>,
    pub dht: Sourced<bool>,
    /// `None`: 6881, or a free port when it is taken.
    pub dht_port: Sourced<Option<u16>>,
    /// `None`: the public routers (and the saved nodes).
    pub bootstrap: Sourced<Option<Vec<String>>>,
    pub encryption: Sourced<Encryption>,
    pub tcp: Sourced<bool>,
    pub utp: Sourced<bool>,
    /// `None`: unlimited.
    pub upload_limit: Sourced<Option<u64>>,
    /// `None`: unlimited.
    pub download_limit: Sourced<Option<u64>>,
    pub upload_slots: Sourced<u16>,
    /// `None`: only the per-torrent cap.
    pub max_connections: Sourced<Option<usize>>,
    /// The queue and the seeding limits (from the file only).
    pub queue: Sourced<QueueLimits>,
    pub max_peers_per_torrent: Sourced<u16>,
    pub watch_dir: Sourced<Option<PathBuf>>,
    pub session_dir: Sourced<Option<PathBuf>>,
    pub mouse: Sourced<bool>,
    pub theme: Sourced<Theme>,
    /// From the file only.
    pub notify: Sourced<Notify>,
}

impl Effective {
    /// Flags over the file over the defaults.
    pub fn resolve(file: &Settings, flags: &Flags) -> Effective {
        let f = file.clone();
        Effective {
            download_dir: pick(
                flags.download_dir.clone(),
                f.download_dir,
                PathBuf::from("."),
            ),
            listen_port: pick(flags.listen_port.map(Some), f.listen_port.map(Some), None),
            dht: pick(flags.no_dht.then_some(false), f.dht, true),
            dht_port: pick(flags.dht_port.map(Some), f.dht_port.map(Some), None),
            bootstrap: pick(
                flags.bootstrap.clone().map(Some),
                f.bootstrap.map(Some),
                None,
            ),
            encryption: pick(flags.encryption, f.encryption, Encryption::default()),
            tcp: pick(flags.no_tcp.then_some(false), f.tcp, true),
            utp: pick(flags.no_utp.then_some(false), f.utp, true),
            upload_limit: pick(flags.upload_limit.map(Some), f.upload_limit.map(Some), None),
            download_limit: pick(
                flags.download_limit.map(Some),
                f.download_limit.map(Some),
                None,
            ),
            upload_slots: pick(flags.upload_slots, f.upload_slots, 4),
            max_connections: pick(
                flags.max_connections.map(Some),
                f.max_connections.map(Some),
                None,
            ),
            queue: pick(None, queue_limits(file), QueueLimits::default()),
            max_peers_per_torrent: pick(None, f.max_peers_per_torrent, 50),
            watch_dir: pick(None, f.watch_dir.map(Some), None),
            session_dir: pick(None, f.session_dir.map(Some), None),
            mouse: pick(flags.no_mouse.then_some(false), f.mouse, true),
            theme: pick(flags.theme, f.theme, Theme::default()),
            notify: pick(None, f.notify, Notify::default()),
        }
    }

    /// The configuration as a TOML file, each line commented with its source; unset
    /// optional values are shown commented out with what happens instead.
    pub fn render(&self, file: Option<&Path>) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# fast-peer configuration in effect (file: {})",
            file.map_or("none".to_string(), |p| p.display().to_string())
        );
        let q = |s: &str| format!("{s:?}");
        let path = |p: &Path| q(&p.display().to_string());
        line(
            &mut out,
            "download_dir",
            Some(path(&self.download_dir.value)),
            "",
            self.download_dir.source,
        );
        line(
            &mut out,
            "listen_port",
            self.listen_port.value.map(|p| p.to_string()),
            "6881, or a free port when taken",
            self.listen_port.source,
        );
        line(
            &mut out,
            "dht",
            Some(self.dht.value.to_string()),
            "",
            self.dht.source,
        );
        line(
            &mut out,
            "dht_port",
            self.dht_port.value.map(|p| p.to_string()),
            "6881, or a free port when taken",
            self.dht_port.source,
        );
        let list = |v: &Vec<String>| {
            format!(
                "[{}]",
                v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
            )
        };
        line(
            &mut out,
            "bootstrap",
            self.bootstrap.value.as_ref().map(list),
            "the public routers",
            self.bootstrap.source,
        );
        let enc = match self.encryption.value {
            Encryption::Disabled => "disabled",
            Encryption::Enabled => "enabled",
            Encryption::Prefer => "prefer",
            Encryption::Required => "required",
        };
        line(
            &mut out,
            "encryption",
            Some(q(enc)),
            "",
            self.encryption.source,
        );
        for (key, on) in [("tcp", &self.tcp), ("utp", &self.utp)] {
            line(&mut out, key, Some(on.value.to_string()), "", on.source);
        }
        line(
            &mut out,
            "upload_limit",
            self.upload_limit.value.map(|n| n.to_string()),
            "unlimited",
            self.upload_limit.source,
        );
        line(
            &mut out,
            "download_limit",
            self.download_limit.value.map(|n| n.to_string()),
            "unlimited",
            self.download_limit.source,
        );
        line(
            &mut out,
            "max_connections",
            self.max_connections.value.map(|n| n.to_string()),
            "only max_peers_per_torrent",
            self.max_connections.source,
        );
        let q = &self.queue.value;
        let queue_lines = [
            (
                "max_active_downloads",
                q.max_active_downloads.map(|n| n.to_string()),
                "no limit",
            ),
            (
                "max_active_seeds",
                q.max_active_seeds.map(|n| n.to_string()),
                "no limit",
            ),
            (
                "seed_ratio",
                q.seed_ratio.map(|r| r.to_string()),
                "no limit",
            ),
            (
                "seed_time",
                q.seed_time.map(|t| (t.as_secs() / 60).to_string()),
                "no limit (minutes)",
            ),
        ];
        for (key, value, otherwise) in queue_lines {
            line(&mut out, key, value, otherwise, self.queue.source);
        }
        let action = match q.on_seed_limit {
            SeedLimitAction::Pause => "pause",
            SeedLimitAction::Remove => "remove",
        };
        line(
            &mut out,
            "on_seed_limit",
            Some(format!("{action:?}")),
            "",
            self.queue.source,
        );
        line(
            &mut out,
            "upload_slots",
            Some(self.upload_slots.value.to_string()),
            "",
            self.upload_slots.source,
        );
        line(
            &mut out,
            "max_peers_per_torrent",
            Some(self.max_peers_per_torrent.value.to_string()),
            "",
            self.max_peers_per_torrent.source,
        );
        line(
            &mut out,
            "watch_dir",
            self.watch_dir.value.as_deref().map(path),
            "no watch folder",
            self.watch_dir.source,
        );
        line(
            &mut out,
            "session_dir",
            self.session_dir.value.as_deref().map(path),
            "no session yet",
            self.session_dir.source,
        );
        line(
            &mut out,
            "mouse",
            Some(self.mouse.value.to_string()),
            "",
            self.mouse.source,
        );
        line(
            &mut out,
            "theme",
            Some(format!("{:?}", self.theme.value.name())),
            "",
            self.theme.source,
        );
        line(
            &mut out,
            "notify",
            Some(format!("{:?}", self.notify.value.name())),
            "",
            self.notify.source,
        );
        out
    }
}

/// One `key = value  # source` line, or `# key = (instead)  # source` for an unset value.
fn line(out: &mut String, key: &str, value: Option<String>, instead: &str, source: Source) {
    let from = match source {
        Source::Default => "default",
        Source::File => "file",
        Source::Flag => "flag",
    };
    let text = match value {
        Some(v) => format!("{key} = {v}"),
        None => format!("# {key} = ({instead})"),
    };
    let _ = writeln!(out, "{text:<60} # {from}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("config.toml")
    }

    #[test]
    fn a_full_file_parses_with_rates_in_either_form() {
        let text = r#"
download_dir = "/srv/dl"
listen_port = 51413
dht = false
dht_port = 6882
bootstrap = ["127.0.0.1:7000"]
encryption = "prefer"
upload_limit = "2M"
upload_slots = 8
max_peers_per_torrent = 80
watch_dir = "/srv/watch"
session_dir = "/srv/session"
"#;
        let (s, warnings) = parse(text, p()).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(s.listen_port, Some(51413));
        assert_eq!(s.encryption, Some(Encryption::Prefer));
        assert_eq!(s.upload_limit, Some(2 << 20));
        assert_eq!(s.bootstrap, Some(vec!["127.0.0.1:7000".to_string()]));
        let (s, _) = parse("upload_limit = 100000", p()).unwrap();
        assert_eq!(s.upload_limit, Some(100_000));
        assert_eq!(parse("", p()).unwrap().0, Settings::default());
    }

    #[test]
    fn errors_name_the_line_column_and_expected_type() {
        let e = parse("dht = true\nlisten_port = \"abc\"\n", p())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("column"), "{e}");
        assert!(e.contains("u16") || e.contains("integer"), "{e}");
        let e = parse("encryption = \"sometimes\"", p())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 1") && e.contains("unknown encryption policy"),
            "{e}"
        );
        let e = parse("listen_port = 70000", p()).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = parse("dht = [", p()).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn unknown_keys_are_warnings() {
        let (s, w) = parse("listen_port = 7000\nwarp_drive = true\n", p()).unwrap();
        assert_eq!(s.listen_port, Some(7000));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("unknown key `warp_drive`"), "{w:?}");
    }

    #[test]
    fn flags_beat_the_file_which_beats_the_defaults() {
        let (file, _) = parse("listen_port = 7000\nupload_slots = 9\ndht = true\n", p()).unwrap();
        let flags = Flags {
            listen_port: Some(8000),
            no_dht: true,
            ..Flags::default()
        };
        let e = Effective::resolve(&file, &flags);
        assert_eq!(e.listen_port.value, Some(8000));
        assert_eq!(e.listen_port.source, Source::Flag);
        assert_eq!(
            (e.upload_slots.value, e.upload_slots.source),
            (9, Source::File)
        );
        assert_eq!((e.dht.value, e.dht.source), (false, Source::Flag));
        assert_eq!(e.encryption.source, Source::Default);
        let text = e.render(Some(p()));
        assert!(text.contains("listen_port = 8000"), "{text}");
        let slots = text
            .lines()
            .find(|l| l.starts_with("upload_slots"))
            .unwrap();
        assert!(slots.ends_with("# file"), "{slots}");
        // the rendering is itself a valid config file with the same values
        let (again, w) = parse(&text, p()).unwrap();
        assert!(w.is_empty());
        assert_eq!(
            Effective::resolve(&again, &Flags::default())
                .listen_port
                .value,
            Some(8000)
        );
    }

    #[test]
    fn the_transport_keys_parse_and_the_flags_only_turn_off() {
        let (s, w) = parse("tcp = false\nutp = true\n", p()).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!((s.tcp, s.utp), (Some(false), Some(true)));
        let e = Effective::resolve(&s, &Flags::default());
        assert_eq!((e.tcp.value, e.tcp.source), (false, Source::File));
        assert_eq!((e.utp.value, e.utp.source), (true, Source::File));
        let text = e.render(None);
        assert!(
            text.contains("tcp = false") && text.contains("utp = true"),
            "{text}"
        );
        let d = Effective::resolve(&Settings::default(), &Flags::default());
        assert_eq!((d.tcp.value, d.utp.value), (true, true));
        let flags = Flags {
            no_utp: true,
            ..Flags::default()
        };
        let f = Effective::resolve(&s, &flags);
        assert_eq!((f.utp.value, f.utp.source), (false, Source::Flag));
        assert_eq!(f.tcp.source, Source::File);
    }

    #[test]
    fn the_dashboard_keys_parse_resolve_and_render() {
        let (s, w) = parse(
            "mouse = false\ntheme = \"high-contrast\"\nnotify = \"bell\"\n",
            p(),
        )
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.mouse, Some(false));
        assert_eq!(s.theme, Some(Theme::HighContrast));
        assert_eq!(s.notify, Some(Notify::Bell));
        let e = Effective::resolve(&s, &Flags::default());
        assert_eq!((e.mouse.value, e.mouse.source), (false, Source::File));
        assert_eq!(e.theme.value, Theme::HighContrast);
        assert_eq!(
            (e.notify.value, e.notify.source),
            (Notify::Bell, Source::File)
        );
        let text = e.render(None);
        assert!(text.contains("theme = \"high-contrast\""), "{text}");
        assert!(text.contains("notify = \"bell\""), "{text}");
        assert_eq!(
            parse(&text, p()).unwrap().0.theme,
            Some(Theme::HighContrast)
        );
        // defaults: mouse on, dark, bell and notification; flags win over the file
        let d = Effective::resolve(&Settings::default(), &Flags::default());
        assert_eq!(
            (d.mouse.value, d.theme.value, d.notify.value),
            (true, Theme::Dark, Notify::All)
        );
        let (on, _) = parse("mouse = true\ntheme = \"light\"", p()).unwrap();
        let flags = Flags {
            no_mouse: true,
            theme: Some(Theme::Dark),
            ..Flags::default()
        };
        let f = Effective::resolve(&on, &flags);
        assert_eq!((f.mouse.value, f.mouse.source), (false, Source::Flag));
        assert_eq!((f.theme.value, f.theme.source), (Theme::Dark, Source::Flag));
        // a bad value names its line and what is expected
        let e = parse("dht = true\ntheme = \"neon\"", p())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("\"light\""), "{e}");
        let e = parse("notify = \"loud\"", p()).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("\"bell\""), "{e}");
        let e = parse("mouse = \"yes\"", p()).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("bool"), "{e}");
    }

    #[test]
    fn a_missing_default_file_is_no_settings_but_a_named_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.toml");
        assert_eq!(load(&missing, false).unwrap().0, Settings::default());
        assert!(load(&missing, true).is_err());
    }
}
