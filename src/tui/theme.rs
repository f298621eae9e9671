//! Every colour and style the dashboard uses, in one place. Colours are the 16 ANSI ones so
//! the dashboard follows the terminal's palette; state is also told by the glyph, so it reads
//! without colour (crossterm drops every colour when `NO_COLOR` is set and non-empty, and
//! keeps the glyphs and bold).
//!
//! Three themes ([`Theme`]): `dark` (the default, for a dark background), `light` (for a
//! white one: no white, gray or yellow text without a background of its own) and
//! `high-contrast` (only black, white and the bright colours; selections bold). The theme is
//! process-wide, set once at start ([`set`]); each style function reads it, so call sites
//! never pass it. [`scoped`] overrides it on one thread (tests render every theme side by
//! side). The piece map's states are colour-blind safe in every theme: blue verified,
//! yellow requested, magenta failed, gray missing (never red against green), each with its
//! own glyph.

use crate::engine::event::{PieceView, TorrentState};
use crate::engine::settings::FilePriority;
use ratatui::style::{Color, Modifier, Style};
use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};

/// A palette for the whole dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    /// Today's look, for a dark background.
    #[default]
    Dark,
    /// For a light (white) background.
    Light,
    /// Black, white and bright colours only; bold selections.
    HighContrast,
}

impl Theme {
    pub const ALL: [Theme; 3] = [Theme::Dark, Theme::Light, Theme::HighContrast];

    /// The name the config file and `--theme` use.
    pub fn name(self) -> &'static str {
        match self {
            Theme::Dark => "dark",
            Theme::Light => "light",
            Theme::HighContrast => "high-contrast",
        }
    }
}

impl std::str::FromStr for Theme {
    type Err = String;
    fn from_str(s: &str) -> Result<Theme, String> {
        Theme::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                format!("unknown theme {s:?}: expected \"dark\", \"light\" or \"high-contrast\"")
            })
    }
}

impl std::fmt::Display for Theme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

static GLOBAL: AtomicU8 = AtomicU8::new(0);

thread_local! {
    static SCOPED: Cell<Option<Theme>> = const { Cell::new(None) };
}

/// Use `theme` from now on (the dashboard calls it once, before the first frame).
pub fn set(theme: Theme) {
    GLOBAL.store(theme as u8, Ordering::Relaxed);
}

/// The theme in use on this thread.
pub fn current() -> Theme {
    SCOPED
        .with(Cell::get)
        .unwrap_or_else(|| match GLOBAL.load(Ordering::Relaxed) {
            1 => Theme::Light,
            2 => Theme::HighContrast,
            _ => Theme::Dark,
        })
}

/// Run `f` with `theme` on this thread only (other threads keep theirs).
pub fn scoped<R>(theme: Theme, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Theme>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SCOPED.with(|s| s.replace(Some(theme))));
    f()
}

/// The colours a theme gives each role.
struct Palette {
    /// Values, normal text.
    text: Color,
    /// Labels, inactive tabs.
    soft: Color,
    /// Borders, offsets, dimmed hints, things switched off.
    dim: Color,
    /// Keys, focus, downloading.
    accent: Color,
    header: Color,
    good: Color,
    warn: Color,
    bad: Color,
    /// The text and background of a selected row.
    select: (Color, Color),
    /// Text on [`Palette::bad`] (error spans, the status bar's errors).
    on_bad: Color,
    status: (Color, Color),
    overlay: (Color, Color),
    input: (Color, Color),
    incoming: Color,
    hex: Color,
    queued: Color,
    /// Piece map: verified (and the cool end of the rarity scale), its lighter neighbour.
    verified: Color,
    plenty: Color,
    /// Piece map: requested, its background when the text alone would not read.
    requested: Style,
    /// Failed pieces, pieces nobody has: a magenta background.
    on_magenta: (Color, Color),
    rare: (Color, Color),
    /// Pieces two peers have.
    scarce: (Color, Color),
    /// The selected peer's requests.
    peer: (Color, Color),
}

const DARK: Palette = Palette {
    text: Color::White,
    soft: Color::Gray,
    dim: Color::DarkGray,
    accent: Color::Cyan,
    header: Color::Yellow,
    good: Color::Green,
    warn: Color::Yellow,
    bad: Color::Red,
    select: (Color::White, Color::Blue),
    on_bad: Color::White,
    status: (Color::Black, Color::Gray),
    overlay: (Color::White, Color::Black),
    input: (Color::White, Color::Black),
    incoming: Color::Magenta,
    hex: Color::LightBlue,
    queued: Color::Blue,
    verified: Color::Blue,
    plenty: Color::LightBlue,
    requested: Style::new().fg(Color::Yellow),
    on_magenta: (Color::White, Color::Magenta),
    rare: (Color::Black, Color::LightMagenta),
    scarce: (Color::Black, Color::Yellow),
    peer: (Color::Black, Color::Cyan),
};

const LIGHT: Palette = Palette {
    text: Color::Black,
    soft: Color::DarkGray,
    dim: Color::DarkGray,
    accent: Color::Blue,
    header: Color::Blue,
    good: Color::Green,
    warn: Color::Magenta,
    bad: Color::Red,
    select: (Color::White, Color::Blue),
    on_bad: Color::White,
    status: (Color::White, Color::DarkGray),
    overlay: (Color::Black, Color::White),
    input: (Color::Black, Color::Gray),
    incoming: Color::Magenta,
    hex: Color::Blue,
    queued: Color::Cyan,
    verified: Color::Blue,
    plenty: Color::Cyan,
    requested: Style::new().fg(Color::Black).bg(Color::Yellow),
    on_magenta: (Color::White, Color::Magenta),
    rare: (Color::Black, Color::LightMagenta),
    scarce: (Color::Black, Color::Yellow),
    peer: (Color::Black, Color::Cyan),
};

const HIGH_CONTRAST: Palette = Palette {
    text: Color::White,
    soft: Color::White,
    dim: Color::White,
    accent: Color::LightCyan,
    header: Color::LightYellow,
    good: Color::LightGreen,
    warn: Color::LightYellow,
    bad: Color::LightRed,
    select: (Color::Black, Color::White),
    on_bad: Color::Black,
    status: (Color::Black, Color::White),
    overlay: (Color::White, Color::Black),
    input: (Color::Black, Color::White),
    incoming: Color::LightMagenta,
    hex: Color::LightBlue,
    queued: Color::LightBlue,
    verified: Color::LightBlue,
    plenty: Color::LightCyan,
    requested: Style::new().fg(Color::LightYellow),
    on_magenta: (Color::Black, Color::LightMagenta),
    rare: (Color::Black, Color::LightMagenta),
    scarce: (Color::Black, Color::LightYellow),
    peer: (Color::Black, Color::LightCyan),
};

fn p() -> &'static Palette {
    match current() {
        Theme::Dark => &DARK,
        Theme::Light => &LIGHT,
        Theme::HighContrast => &HIGH_CONTRAST,
    }
}

fn fg(c: Color) -> Style {
    Style::new().fg(c)
}

fn on((fg, bg): (Color, Color)) -> Style {
    Style::new().fg(fg).bg(bg)
}

pub fn base() -> Style {
    Style::new()
}
pub fn title() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}
pub fn tab() -> Style {
    fg(p().soft)
}
pub fn tab_selected() -> Style {
    let p = p();
    let (fg, bg) = match current() {
        Theme::Dark => (Color::Black, p.accent),
        _ => p.select,
    };
    on((fg, bg)).add_modifier(Modifier::BOLD)
}
pub fn border() -> Style {
    fg(p().dim)
}
pub fn border_focused() -> Style {
    fg(p().accent)
}
pub fn header() -> Style {
    fg(p().header).add_modifier(Modifier::BOLD)
}
pub fn selected() -> Style {
    on(p().select).add_modifier(Modifier::BOLD)
}
pub fn dim() -> Style {
    fg(p().dim)
}
pub fn key() -> Style {
    fg(p().accent).add_modifier(Modifier::BOLD)
}
pub fn label() -> Style {
    fg(p().soft)
}
pub fn value() -> Style {
    fg(p().text)
}
pub fn good() -> Style {
    fg(p().good)
}
pub fn warn() -> Style {
    fg(p().warn)
}
pub fn error() -> Style {
    fg(p().bad).add_modifier(Modifier::BOLD)
}
pub fn error_span() -> Style {
    let p = p();
    on((p.on_bad, p.bad)).add_modifier(Modifier::BOLD)
}
pub fn status_bar() -> Style {
    on(p().status)
}
/// The selected torrent's verdict in the status bar: the bar's colours, bold (readable in
/// every theme; the words say it is a warning).
pub fn status_warn() -> Style {
    on(p().status).add_modifier(Modifier::BOLD)
}
pub fn status_error() -> Style {
    let p = p();
    on((p.on_bad, p.bad))
}
pub fn overlay() -> Style {
    on(p().overlay)
}
pub fn gauge() -> Style {
    let p = p();
    on((p.good, p.dim))
}
pub fn outgoing() -> Style {
    fg(p().accent)
}
pub fn incoming() -> Style {
    fg(p().incoming)
}
pub fn hex() -> Style {
    fg(p().hex)
}
pub fn offset() -> Style {
    fg(p().dim)
}
pub fn input() -> Style {
    on(p().input)
}

pub fn torrent_state(s: TorrentState) -> Style {
    let p = p();
    match s {
        TorrentState::FetchingMetadata => fg(p.incoming),
        TorrentState::Checking => fg(p.warn),
        TorrentState::Downloading => fg(p.accent),
        TorrentState::Seeding => fg(p.good),
        TorrentState::Paused => fg(p.dim),
        TorrentState::Queued => fg(p.queued),
        TorrentState::Failed => error(),
    }
}

/// A file's priority in the Files pane.
pub fn priority(pr: FilePriority) -> Style {
    let p = p();
    match pr {
        FilePriority::Skip => fg(p.dim),
        FilePriority::Low => fg(p.queued),
        FilePriority::Normal => fg(p.text),
        FilePriority::High => fg(p.warn).add_modifier(Modifier::BOLD),
    }
}

/// Glyph and style of a piece-map cell.
pub fn piece(v: PieceView) -> (char, Style) {
    let p = p();
    match v {
        PieceView::Missing => ('·', fg(p.dim)),
        PieceView::Requested => ('▒', p.requested),
        PieceView::Verified => ('█', fg(p.verified)),
        PieceView::Failed => ('X', on(p.on_magenta).add_modifier(Modifier::BOLD)),
        PieceView::Unwanted => (' ', Style::new()),
    }
}

/// A cell that mixes verified and missing pieces (scaled map).
pub fn piece_partial() -> (char, Style) {
    ('▓', fg(p().verified))
}

/// A cell holding a piece the selected peer has requests in flight for.
pub fn piece_selected_peer() -> (char, Style) {
    ('▒', on(p().peer))
}

/// Rarity overlay: the fewer peers have a piece, the hotter the colour (magenta, yellow,
/// then blues: no red against green).
pub fn rarity(available: u16) -> (char, Style) {
    let p = p();
    match available {
        0 => ('0', on(p.on_magenta).add_modifier(Modifier::BOLD)),
        1 => ('1', on(p.rare)),
        2 => ('2', on(p.scarce)),
        3..=4 => ('▒', fg(p.plenty)),
        _ => ('░', fg(p.verified)),
    }
}

/// Piece map: a cell holding a piece the selected peer has. Its colours become the peer
/// colours (the glyph still tells our state: `·` a piece we lack and the peer can give, so
/// what the peer offers stands out; a verified `█` turns solid dark), and it is underlined,
/// which reads without colour. The glyph never changes, so it works over the state and the
/// rarity views alike.
pub fn peer_has(base: Style) -> Style {
    let (f, b) = p().peer;
    base.fg(f).bg(b).add_modifier(Modifier::UNDERLINED)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every style the theme hands out, by name.
    pub(crate) fn every_style() -> Vec<(String, Style)> {
        let mut v: Vec<(String, Style)> = vec![
            ("base".into(), base()),
            ("title".into(), title()),
            ("tab".into(), tab()),
            ("tab_selected".into(), tab_selected()),
            ("border".into(), border()),
            ("border_focused".into(), border_focused()),
            ("header".into(), header()),
            ("selected".into(), selected()),
            ("dim".into(), dim()),
            ("key".into(), key()),
            ("label".into(), label()),
            ("value".into(), value()),
            ("good".into(), good()),
            ("warn".into(), warn()),
            ("error".into(), error()),
            ("error_span".into(), error_span()),
            ("status_bar".into(), status_bar()),
            ("status_error".into(), status_error()),
            ("overlay".into(), overlay()),
            ("gauge".into(), gauge()),
            ("outgoing".into(), outgoing()),
            ("incoming".into(), incoming()),
            ("hex".into(), hex()),
            ("offset".into(), offset()),
            ("input".into(), input()),
            ("piece_partial".into(), piece_partial().1),
            ("piece_selected_peer".into(), piece_selected_peer().1),
        ];
        for s in [
            TorrentState::FetchingMetadata,
            TorrentState::Checking,
            TorrentState::Downloading,
            TorrentState::Seeding,
            TorrentState::Paused,
            TorrentState::Queued,
            TorrentState::Failed,
        ] {
            v.push((format!("{s:?}"), torrent_state(s)));
        }
        for pr in [
            FilePriority::Skip,
            FilePriority::Low,
            FilePriority::Normal,
            FilePriority::High,
        ] {
            v.push((format!("{pr:?}"), priority(pr)));
        }
        for pv in [
            PieceView::Missing,
            PieceView::Requested,
            PieceView::Verified,
            PieceView::Failed,
        ] {
            v.push((format!("piece {pv:?}"), piece(pv).1));
        }
        for a in 0..7 {
            v.push((format!("rarity {a}"), rarity(a).1));
        }
        v
    }

    #[test]
    fn names_parse_back_and_unknown_names_are_a_clear_error() {
        for t in Theme::ALL {
            assert_eq!(t.name().parse::<Theme>(), Ok(t));
        }
        let e = "solarized".parse::<Theme>().unwrap_err();
        assert!(
            e.contains("solarized") && e.contains("high-contrast"),
            "{e}"
        );
    }

    #[test]
    fn dark_is_the_default_and_keeps_todays_look() {
        assert_eq!(Theme::default(), Theme::Dark);
        scoped(Theme::Dark, || {
            assert_eq!(value(), Style::new().fg(Color::White));
            assert_eq!(
                selected(),
                Style::new()
                    .bg(Color::Blue)
                    .fg(Color::White)
                    .add_modifier(Modifier::BOLD)
            );
            assert_eq!(
                header(),
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
            );
            assert_eq!(
                tab_selected(),
                Style::new()
                    .fg(Color::Black)
                    .bg(Color::Cyan)
                    .add_modifier(Modifier::BOLD)
            );
        });
    }

    #[test]
    fn scoped_changes_only_this_thread_and_is_undone() {
        scoped(Theme::Light, || {
            assert_eq!(current(), Theme::Light);
            let other = std::thread::spawn(current).join().unwrap();
            assert_eq!(other, Theme::Dark, "the global theme is untouched");
        });
        assert_eq!(current(), Theme::Dark);
    }

    /// Text colours that do not read on a white background.
    fn pale(c: Option<Color>) -> bool {
        matches!(
            c,
            Some(Color::White | Color::Gray | Color::Yellow | Color::LightYellow)
        )
    }

    #[test]
    fn light_never_puts_pale_text_on_the_terminals_background() {
        scoped(Theme::Light, || {
            for (name, s) in every_style() {
                let own_bg = s.bg.is_some_and(|b| b != Color::Reset);
                assert!(!pale(s.fg) || own_bg, "{name}: {s:?} on white");
            }
        });
    }

    #[test]
    fn high_contrast_uses_only_black_white_and_bright_colours_and_bold_selections() {
        let allowed = |c: Color| {
            matches!(
                c,
                Color::Black
                    | Color::White
                    | Color::LightRed
                    | Color::LightGreen
                    | Color::LightYellow
                    | Color::LightBlue
                    | Color::LightMagenta
                    | Color::LightCyan
            )
        };
        scoped(Theme::HighContrast, || {
            for (name, s) in every_style() {
                for c in [s.fg, s.bg].into_iter().flatten() {
                    assert!(allowed(c), "{name}: {c:?}");
                }
            }
            assert!(selected().add_modifier.contains(Modifier::BOLD));
            assert!(tab_selected().add_modifier.contains(Modifier::BOLD));
        });
    }

    #[test]
    fn piece_states_differ_by_glyph_and_never_by_red_against_green_alone() {
        for t in Theme::ALL {
            scoped(t, || {
                let states = [
                    PieceView::Missing,
                    PieceView::Requested,
                    PieceView::Verified,
                    PieceView::Failed,
                ];
                let cells: Vec<(char, Style)> = states.iter().map(|s| piece(*s)).collect();
                for (i, a) in cells.iter().enumerate() {
                    for b in &cells[i + 1..] {
                        assert_ne!(a.0, b.0, "{t}: glyphs");
                    }
                }
                let red_green = |c: Option<Color>| {
                    matches!(
                        c,
                        Some(Color::Red | Color::LightRed | Color::Green | Color::LightGreen)
                    )
                };
                for (ch, s) in cells.iter().chain([piece_partial()].iter()) {
                    assert!(!red_green(s.fg) && !red_green(s.bg), "{t}: {ch} {s:?}");
                }
                assert_eq!(piece(PieceView::Verified).1.fg.map(is_blue), Some(true));
                let failed = piece(PieceView::Failed).1.bg;
                assert!(
                    matches!(failed, Some(Color::Magenta | Color::LightMagenta)),
                    "{t}"
                );
                for a in 0..7 {
                    let s = rarity(a).1;
                    assert!(!red_green(s.fg) && !red_green(s.bg), "{t}: rarity {a}");
                }
            });
        }
    }

    fn is_blue(c: Color) -> bool {
        matches!(c, Color::Blue | Color::LightBlue)
    }
}
