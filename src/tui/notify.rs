//! Telling the user a download finished while they look elsewhere: the terminal bell (BEL)
//! and a desktop notification through the terminal (OSC 9, as iTerm2, kitty, WezTerm and
//! Windows Terminal read it; OSC 777 `notify`, as urxvt, foot and VTE terminals read it).
//! Terminals ignore the OSC they do not know.
//!
//! [`Completions`] decides when: once per torrent, and only for a torrent this dashboard saw
//! downloading (one already complete when the dashboard started or attached is not news). The
//! model queues the names; the loop writes [`escapes`] to the terminal between frames. A
//! torrent's name comes from the network: [`sanitise`] strips every control character before
//! it goes into an escape sequence, so a hostile name cannot end the sequence and inject its
//! own.

use crate::engine::event::{TorrentId, TorrentState};
use std::collections::HashSet;

/// What a finished download does (config key `notify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Notify {
    /// The bell and a desktop notification.
    #[default]
    All,
    /// The bell only.
    Bell,
    /// Nothing (the status bar still says it).
    None,
}

impl Notify {
    pub const ALL: [Notify; 3] = [Notify::All, Notify::Bell, Notify::None];

    /// The name the config file uses.
    pub fn name(self) -> &'static str {
        match self {
            Notify::All => "all",
            Notify::Bell => "bell",
            Notify::None => "none",
        }
    }
}

impl std::str::FromStr for Notify {
    type Err = String;
    fn from_str(s: &str) -> Result<Notify, String> {
        Notify::ALL
            .into_iter()
            .find(|n| n.name() == s)
            .ok_or_else(|| format!("unknown notify {s:?}: expected \"all\", \"bell\" or \"none\""))
    }
}

impl std::fmt::Display for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Longest name put into a notification, in characters.
pub const MAX_NAME: usize = 120;

/// `name` without control characters (C0, DEL, C1: ESC, BEL, CSI and ST among them), at
/// most [`MAX_NAME`] characters.
pub fn sanitise(name: &str) -> String {
    let mut out: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME + 1)
        .collect();
    if out.chars().count() > MAX_NAME {
        out = out.chars().take(MAX_NAME - 1).collect();
        out.push('…');
    }
    out
}

/// The bytes to write to the terminal when torrent `name` completes.
pub fn escapes(mode: Notify, name: &str) -> String {
    let body = format!("{} is complete", sanitise(name));
    match mode {
        Notify::None => String::new(),
        Notify::Bell => "\x07".into(),
        Notify::All => {
            format!("\x07\x1b]9;fast-peer: {body}\x07\x1b]777;notify;fast-peer;{body}\x07")
        }
    }
}

/// Which completions are news.
#[derive(Debug, Default)]
pub struct Completions {
    /// Torrents seen downloading (or fetching their metadata) here.
    downloading: HashSet<TorrentId>,
    notified: HashSet<TorrentId>,
    /// Names of the torrents that completed since the loop last looked.
    pub queued: Vec<String>,
}

impl Completions {
    /// Torrent `id` is in `state` now.
    pub fn saw(&mut self, id: TorrentId, state: TorrentState) {
        if matches!(
            state,
            TorrentState::Downloading | TorrentState::FetchingMetadata
        ) {
            self.downloading.insert(id);
        }
    }

    /// The engine says torrent `id` is complete: queue `name` if that is news.
    pub fn completed(&mut self, id: TorrentId, name: &str) {
        if self.downloading.contains(&id) && self.notified.insert(id) {
            self.queued.push(name.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modes_write_the_bell_and_both_osc_notifications() {
        assert_eq!(escapes(Notify::None, "x"), "");
        assert_eq!(escapes(Notify::Bell, "x"), "\x07");
        assert_eq!(
            escapes(Notify::All, "debian.iso"),
            "\x07\x1b]9;fast-peer: debian.iso is complete\x07\
             \x1b]777;notify;fast-peer;debian.iso is complete\x07"
        );
        for n in Notify::ALL {
            assert_eq!(n.name().parse::<Notify>(), Ok(n));
        }
        assert!("loud".parse::<Notify>().unwrap_err().contains("\"bell\""));
    }

    #[test]
    fn a_hostile_name_cannot_inject_escape_sequences() {
        let hostile = "evil\x07\x1b]0;pwned\x07\x1b[2J\u{9b}31m\u{9c}\r\n\x7fname";
        let clean = sanitise(hostile);
        assert_eq!(clean, "evil]0;pwned[2J31mname");
        let out = escapes(Notify::All, hostile);
        // only our own: the bell and two BEL terminators, two ESCs
        assert_eq!(out.matches('\x07').count(), 3);
        assert_eq!(out.matches('\x1b').count(), 2);
        assert!(
            !out.chars()
                .any(|c| c.is_control() && c != '\x07' && c != '\x1b')
        );
        let long = "a".repeat(1000);
        assert_eq!(sanitise(&long).chars().count(), MAX_NAME);
        assert_eq!(sanitise("ünïcødé ✓"), "ünïcødé ✓");
    }

    #[test]
    fn only_a_download_seen_here_is_news_and_only_once() {
        let mut c = Completions::default();
        // already complete when the dashboard came: no news
        c.saw(1, TorrentState::Seeding);
        c.completed(1, "old");
        // downloaded here: news, once
        c.saw(2, TorrentState::Downloading);
        c.completed(2, "new");
        c.completed(2, "new");
        c.saw(2, TorrentState::Downloading);
        c.completed(2, "new");
        c.saw(3, TorrentState::FetchingMetadata);
        c.completed(3, "magnet");
        assert_eq!(c.queued, vec!["new".to_string(), "magnet".to_string()]);
    }
}
