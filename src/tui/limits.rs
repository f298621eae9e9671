//! The limits dialog's model (`L`): the selected torrent's download and upload limits, and
//! the engine's download and upload limits and how many torrents download and seed at once.
//! Each field is a text input prefilled with the value in force; rates are typed like `500K`
//! or `2M` ([`crate::cli::parse_rate`]), and empty, `0` or `none` mean no limit.
//! [`LimitsForm::submit`] turns the fields into the changes to ask for (only what the user
//! changed), or names the first field it cannot read. Changed only by `App::update`; the view
//! draws it.

use crate::engine::event::TorrentId;
use crate::engine::queue::QueueLimits;
use crate::engine::settings::{GlobalLimits, TorrentSettings};
use crate::session::protocol::{LimitsChange, SettingsChange};
use tui_input::Input;

/// What a field sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    TorrentDownload,
    TorrentUpload,
    Download,
    Upload,
    MaxDownloads,
    MaxSeeds,
}

impl FieldKind {
    pub fn label(self) -> &'static str {
        match self {
            FieldKind::TorrentDownload | FieldKind::Download => "download",
            FieldKind::TorrentUpload | FieldKind::Upload => "upload",
            FieldKind::MaxDownloads => "downloads at once",
            FieldKind::MaxSeeds => "seeds at once",
        }
    }

    /// A rate (else a count).
    pub fn is_rate(self) -> bool {
        !matches!(self, FieldKind::MaxDownloads | FieldKind::MaxSeeds)
    }

    /// One of the torrent's own limits (else the engine's).
    pub fn is_torrent(self) -> bool {
        matches!(self, FieldKind::TorrentDownload | FieldKind::TorrentUpload)
    }
}

/// One input of the dialog and the value it started with (0: none).
#[derive(Debug, Clone)]
pub struct Field {
    pub kind: FieldKind,
    pub input: Input,
    initial: u64,
}

/// The dialog: its fields, which has the keyboard, and the last error.
#[derive(Debug, Clone)]
pub struct LimitsForm {
    /// The torrent whose limits the first two fields set, and its name (`None`: no torrent
    /// selected, the engine's fields only).
    pub torrent: Option<(TorrentId, String)>,
    pub fields: Vec<Field>,
    pub focus: usize,
    pub error: Option<String>,
}

/// A rate as it is typed: `2M`, `500K`, `1234`; empty for none.
pub fn rate_text(bps: Option<u64>) -> String {
    match bps {
        None | Some(0) => String::new(),
        Some(n) if n.is_multiple_of(1 << 30) => format!("{}G", n >> 30),
        Some(n) if n.is_multiple_of(1 << 20) => format!("{}M", n >> 20),
        Some(n) if n.is_multiple_of(1 << 10) => format!("{}K", n >> 10),
        Some(n) => n.to_string(),
    }
}

fn count_text(n: Option<usize>) -> String {
    n.filter(|n| *n > 0)
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// Whether `s` says "no limit".
fn is_none(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "" | "0" | "none" | "off" | "-" | "unlimited" | "∞"
    )
}

/// A rate field's value (0: none).
pub fn parse_limit(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if is_none(t) {
        return Ok(0);
    }
    crate::cli::parse_rate(t)
}

/// A count field's value (0: none).
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if is_none(t) {
        return Ok(0);
    }
    t.parse::<usize>()
        .map(|n| n as u64)
        .map_err(|_| format!("not a number of torrents: {t:?} (try 3, or 0 for no limit)"))
}

impl LimitsForm {
    /// The dialog for `torrent` (its id, name and settings) and the engine's limits now.
    pub fn new(
        torrent: Option<(TorrentId, String, &TorrentSettings)>,
        global: &GlobalLimits,
        queue: &QueueLimits,
    ) -> LimitsForm {
        let field = |kind, text: String, initial: u64| Field {
            kind,
            input: Input::new(text),
            initial,
        };
        let mut fields = Vec::new();
        if let Some((_, _, s)) = &torrent {
            let (d, u) = (s.limits.download, s.limits.upload);
            fields.push(field(
                FieldKind::TorrentDownload,
                rate_text(d),
                d.unwrap_or(0),
            ));
            fields.push(field(
                FieldKind::TorrentUpload,
                rate_text(u),
                u.unwrap_or(0),
            ));
        }
        let (d, u) = (global.download, global.upload);
        fields.push(field(FieldKind::Download, rate_text(d), d.unwrap_or(0)));
        fields.push(field(FieldKind::Upload, rate_text(u), u.unwrap_or(0)));
        let (md, ms) = (queue.max_active_downloads, queue.max_active_seeds);
        fields.push(field(
            FieldKind::MaxDownloads,
            count_text(md),
            md.unwrap_or(0) as u64,
        ));
        fields.push(field(
            FieldKind::MaxSeeds,
            count_text(ms),
            ms.unwrap_or(0) as u64,
        ));
        LimitsForm {
            torrent: torrent.map(|(id, name, _)| (id, name)),
            fields,
            focus: 0,
            error: None,
        }
    }

    /// Focus the next field (`forward`) or the previous one, wrapping around.
    pub fn move_focus(&mut self, forward: bool) {
        let n = self.fields.len().max(1);
        self.focus = if forward {
            (self.focus + 1) % n
        } else {
            (self.focus + n - 1) % n
        };
    }

    pub fn focused(&mut self) -> Option<&mut Input> {
        self.fields.get_mut(self.focus).map(|f| &mut f.input)
    }

    /// The changes the fields ask for (`None` where nothing changed): the torrent's and the
    /// engine's. A field that does not read is focused and its error returned.
    pub fn submit(&mut self) -> Result<(Option<SettingsChange>, Option<LimitsChange>), String> {
        let mut torrent = SettingsChange::default();
        let mut engine = LimitsChange::default();
        for (i, f) in self.fields.iter().enumerate() {
            let read = if f.kind.is_rate() {
                parse_limit(f.input.value())
            } else {
                parse_count(f.input.value())
            };
            let v = match read {
                Ok(v) => v,
                Err(e) => {
                    self.focus = i;
                    let whose = if f.kind.is_torrent() {
                        "torrent"
                    } else {
                        "engine"
                    };
                    let e = format!("{whose} {}: {e}", f.kind.label());
                    self.error = Some(e.clone());
                    return Err(e);
                }
            };
            if v == f.initial {
                continue;
            }
            let count = usize::try_from(v).unwrap_or(usize::MAX);
            match f.kind {
                FieldKind::TorrentDownload => torrent.download_limit = Some(v),
                FieldKind::TorrentUpload => torrent.upload_limit = Some(v),
                FieldKind::Download => engine.download_limit = Some(v),
                FieldKind::Upload => engine.upload_limit = Some(v),
                FieldKind::MaxDownloads => engine.max_active_downloads = Some(count),
                FieldKind::MaxSeeds => engine.max_active_seeds = Some(count),
            }
        }
        self.error = None;
        let torrent = (torrent != SettingsChange::default()).then_some(torrent);
        let engine = (engine != LimitsChange::default()).then_some(engine);
        Ok((torrent, engine))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_trip_and_none_reads_as_zero() {
        for n in [1, 1000, 1024, 500 << 10, 2 << 20, 3 << 30] {
            assert_eq!(parse_limit(&rate_text(Some(n))), Ok(n), "{n}");
        }
        for s in ["", " 0 ", "none", "OFF", "-"] {
            assert_eq!(parse_limit(s), Ok(0), "{s:?}");
        }
        assert!(parse_limit("fast").is_err());
        assert!(parse_limit("-5K").is_err());
        assert_eq!(parse_count("3"), Ok(3));
        assert!(parse_count("3.5").is_err());
        assert!(parse_count("99999999999999999999999").is_err());
    }

    #[test]
    fn only_changed_fields_are_asked_for() {
        let mut s = TorrentSettings::default();
        s.limits.upload = Some(500 << 10);
        let g = GlobalLimits::default();
        let q = QueueLimits {
            max_active_downloads: Some(3),
            ..QueueLimits::default()
        };
        let mut f = LimitsForm::new(Some((1, "t".into(), &s)), &g, &q);
        assert_eq!(f.fields[1].input.value(), "500K");
        assert_eq!(f.fields[4].input.value(), "3");
        assert_eq!(f.submit(), Ok((None, None)));
        f.fields[0].input = Input::new("2M".into());
        f.fields[4].input = Input::new("0".into());
        let (t, e) = f.submit().unwrap();
        assert_eq!(t.unwrap().download_limit, Some(2 << 20));
        let e = e.unwrap();
        assert_eq!(e.max_active_downloads, Some(0));
        assert_eq!(e.download_limit, None);
        f.fields[3].input = Input::new("lots".into());
        assert!(f.submit().unwrap_err().contains("engine upload"));
        assert_eq!(f.focus, 3);
    }
}
