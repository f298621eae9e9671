//! The dashboard: a ratatui model/update/view loop over the download engine.
//!
//! [`run`] (and [`run_demo`], on the embedded demo swarm) owns the terminal: raw mode, the
//! alternate screen, bracketed paste and mouse capture (unless [`Look::mouse`] is off) are
//! switched on by [`TerminalGuard`] and switched off when it drops, on a panic (a hook restores the terminal before the report is printed), on
//! Ctrl-C (a key in raw mode), SIGINT and SIGTERM. Terminal input is read on its own thread
//! (crossterm's `read` blocks) and forwarded to one `select!` over input, engine events, the
//! results of engine commands and a frame tick. Keys redraw at once; engine events only mark
//! the screen dirty and the tick redraws at most [`FPS`] times a second, so a flood of events
//! never costs more than a frame. Logs go to a file (tracing), never to the screen. Between
//! frames the loop also writes the bell and notifications of finished downloads ([`notify`]).
//!
//! # Layout
//! - [`action`]: the `Action` enum and the one key table (also rendered by the help overlay)
//! - [`app`]: the model and `App::update` (the dialogs' keys and the user's changes to files,
//!   order, limits and queue in its children `app/dialogs.rs`, `app/controls.rs`);
//!   [`decode`]: the decode pane's model (a bencode tree);
//!   [`files`]: the Files pane's model (the file tree, progress, what its keys do);
//!   [`limits`]: the limits dialog's model; [`held`]: changes shown before the engine's
//!   pictures show them; [`tree`]: moving and folding in either tree; [`history`]: the
//!   recent past of the rates, for the charts; [`hits`]: where the last frame drew what the
//!   mouse can reach; [`notify`]: when and how a finished download is announced; [`list`]:
//!   the Torrents list's sort, filter and marks
//! - [`view`]: `impl Widget for &App`, the frame layout and overlays
//! - [`panes`]: one module per pane; they read the model and never change it
//! - [`widgets`]: drawing and formatting helpers shared by the view and the panes
//! - [`theme`]: every style, in the theme chosen at start
//!
//! Imports between these files go one way (no cycles): `view -> panes -> widgets -> theme`,
//! `view, panes -> app -> action, decode, files, held, history, hits, limits, list, notify`;
//! `decode, files -> tree`; `panes -> hits -> action`; `backend -> action, app, widgets`.

pub mod action;
pub mod app;
pub mod backend;
pub mod decode;
pub mod files;
pub mod held;
pub mod history;
pub mod hits;
pub mod limits;
pub mod list;
pub mod notify;
pub mod panes;
pub mod theme;
pub mod tree;
pub mod view;
pub mod widgets;

use crate::demo::{DemoOptions, DemoSwarm, SeederProfile, loopback_config};
use crate::engine::event::EngineEvent;
use crate::engine::{EngineConfig, spawn};
use crate::session::{SessionError, SessionOptions, control, spawn_session};
use action::Action;
use app::App;
use backend::{Backend, add_source, ask_peer_pieces, run_effect};
use color_eyre::Result;
use color_eyre::eyre::{WrapErr, eyre};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event, KeyEventKind, MouseButton, MouseEventKind,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use std::io::{Stdout, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// Frames per second at most (engine-driven redraws).
pub const FPS: f64 = 30.0;

/// How the dashboard looks and behaves, whatever it watches (config keys `mouse`, `theme`,
/// `notify`; flags `--no-mouse`, `--theme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    /// Capture the mouse: click tabs and rows, the wheel scrolls.
    pub mouse: bool,
    pub theme: theme::Theme,
    /// What a download that finishes here does.
    pub notify: notify::Notify,
}

impl Default for Look {
    fn default() -> Look {
        Look {
            mouse: true,
            theme: theme::Theme::default(),
            notify: notify::Notify::default(),
        }
    }
}

/// What `fast-peer` / `fast-peer tui` starts with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The engine as the CLI configures it.
    pub config: EngineConfig,
    /// .torrent paths and magnet links to add at start.
    pub sources: Vec<String>,
    /// Downloads go to `dir/<name>`.
    pub dir: PathBuf,
    /// Log file (default: `fast-peer.log` in the temporary folder).
    pub log_file: Option<PathBuf>,
    /// The user's session: the dashboard owns it (remembers its torrents, serves the control
    /// socket) unless another instance does. `None`: a bare engine.
    pub session: Option<SessionOptions>,
    pub look: Look,
}

/// Options of `fast-peer demo`.
#[derive(Debug, Clone, Default)]
pub struct DemoTui {
    pub dir: Option<PathBuf>,
    /// Content size in bytes (`None`: the demo default).
    pub size: Option<u64>,
    /// Unlimited seeders (full speed) instead of the watchable rate-limited ones.
    pub fast: bool,
    pub log_file: Option<PathBuf>,
    pub look: Look,
}

/// Seeders of the watchable demo: about 1.7 MiB/s together (the default 48 MiB content takes
/// roughly half a minute), one of them corrupt so hash failures and a ban show up.
pub fn watchable_profiles() -> Vec<SeederProfile> {
    let p = |label: &str, rate: u64, corrupt: Option<u32>| SeederProfile {
        label: label.into(),
        upload_limit: Some(rate),
        corrupt_piece_one_in: corrupt,
        encryption: Default::default(),
    };
    // one seeder insists on RC4: the leecher reaches it through the MSE fallback
    let rc4 = SeederProfile {
        encryption: crate::engine::conn::Encryption::Required,
        ..p("steady-2", 384 << 10, None)
    };
    vec![
        p("steady", 512 << 10, None),
        p("slow", 256 << 10, None),
        p("corrupt", 512 << 10, Some(8)),
        rc4,
        p("slow-2", 128 << 10, None),
    ]
}

/// Send logs to `file` (default: fast-peer.log in the temporary folder); returns its path.
pub fn init_logging(file: Option<PathBuf>) -> PathBuf {
    let path = file.unwrap_or_else(|| std::env::temp_dir().join("fast-peer.log"));
    if let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let filter = tracing_subscriber::EnvFilter::try_from_env("FAST_PEER_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("fast_peer=info"));
        let _ = tracing_subscriber::fmt()
            .with_writer(std::sync::Mutex::new(f))
            .with_ansi(false)
            .with_env_filter(filter)
            .try_init();
    }
    path
}

/// Raw mode, alternate screen, bracketed paste and (when asked) mouse capture for as long as
/// it lives.
pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

/// Undo everything [`TerminalGuard::new`] did; safe to call twice.
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    // mouse capture off whether or not it was on: a terminal left reporting the mouse types
    // escape sequences into the shell at every click
    let _ = execute!(
        std::io::stdout(),
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

impl TerminalGuard {
    /// `mouse`: capture the mouse too (crossterm asks for SGR reports, so every column of a
    /// wide terminal is reported).
    pub fn new(mouse: bool) -> Result<TerminalGuard> {
        // restore before the panic report, or it lands in the alternate screen in raw mode
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        enable_raw_mode().wrap_err("enable raw mode")?;
        let mut stdout = std::io::stdout();
        if let Err(e) = execute!(
            stdout,
            EnterAlternateScreen,
            EnableBracketedPaste,
            ratatui::crossterm::cursor::Hide
        ) {
            restore_terminal();
            return Err(e).wrap_err("enter the alternate screen");
        }
        if mouse && let Err(e) = execute!(stdout, EnableMouseCapture) {
            restore_terminal();
            return Err(e).wrap_err("capture the mouse");
        }
        let terminal =
            Terminal::new(CrosstermBackend::new(stdout)).wrap_err("set up the terminal")?;
        Ok(TerminalGuard { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Read terminal events on a thread until `stop` is set or the loop goes away.
fn spawn_input(tx: mpsc::Sender<Event>, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if tx.blocking_send(ev).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                },
                Ok(false) => {}
                Err(_) => return,
            }
        }
    });
}

/// Test seam for the "terminal restored on panic" end-to-end test: with
/// `FAST_PEER_TUI_PANIC_KEY=c` in the environment, pressing `c` panics inside the event loop.
fn panic_if_test_key(k: &ratatui::crossterm::event::KeyEvent) {
    if let ratatui::crossterm::event::KeyCode::Char(c) = k.code
        && let Some(want) = std::env::var_os("FAST_PEER_TUI_PANIC_KEY")
        && want
            .to_str()
            .is_some_and(|w| w.chars().eq(std::iter::once(c)))
    {
        panic!("FAST_PEER_TUI_PANIC_KEY={c} pressed: a deliberate panic");
    }
}

/// Turn a terminal event into an action for the app.
pub fn action_for_event(app: &App, ev: Event) -> Option<Action> {
    match ev {
        // key release / repeat reports (kitty protocol) are not presses
        Event::Key(k) if k.kind == KeyEventKind::Press => {
            panic_if_test_key(&k);
            app.action_for_key(k)
        }
        Event::Paste(text) => Some(Action::Paste(text)),
        Event::Resize(w, h) => Some(Action::Resize(w, h)),
        Event::Mouse(m) => {
            let (col, row) = (m.column, m.row);
            match m.kind {
                MouseEventKind::Down(MouseButton::Left) => Some(Action::Click { col, row }),
                MouseEventKind::ScrollDown => Some(Action::Scroll { col, row, delta: 1 }),
                MouseEventKind::ScrollUp => Some(Action::Scroll {
                    col,
                    row,
                    delta: -1,
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The loop: input, engine events, command results, frame tick.
async fn event_loop(
    guard: &mut TerminalGuard,
    app: &mut App,
    backend: &Backend,
    mut events: mpsc::Receiver<EngineEvent>,
    dir: &Path,
    startup: Vec<String>,
    look: Look,
) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let (in_tx, mut in_rx) = mpsc::channel(256);
    spawn_input(in_tx, stop.clone());
    let (notice_tx, mut notice_rx) = mpsc::unbounded_channel::<String>();
    // answers to the dashboard's questions (a peer's pieces)
    let (answer_tx, mut answer_rx) = mpsc::unbounded_channel::<Action>();
    for s in startup {
        let (backend, dir, tx) = (backend.clone(), dir.to_path_buf(), notice_tx.clone());
        tokio::spawn(async move {
            let msg = match add_source(&backend, &s, &dir).await {
                Ok(m) => m,
                Err(e) => format!("error: {s}: {}", backend::causes(&e)),
            };
            let _ = tx.send(msg);
        });
    }
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / FPS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .wrap_err("listen for SIGTERM")?;
    let mut engine_open = true;
    // each torrent's info hash, for the session's commands
    let mut hashes = std::collections::HashMap::new();
    let mut dirty = true;
    let result = loop {
        if app.should_quit {
            break Ok(());
        }
        let mut draw_now = false;
        tokio::select! {
            ev = in_rx.recv() => match ev {
                // the terminal sends none when not asked to, but a stray report (typed, or
                // from a terminal that ignores the request) must not act either
                Some(Event::Mouse(_)) if !look.mouse => {}
                Some(ev) => {
                    if let Some(a) = action_for_event(app, ev) {
                        app.update(a);
                    }
                    draw_now = true;
                }
                None => break Err(eyre!("the terminal input closed")),
            },
            ev = events.recv(), if engine_open => match ev {
                Some(ev) => {
                    if let EngineEvent::TorrentAdded { id, info_hash, .. } = &ev {
                        hashes.insert(*id, *info_hash);
                    }
                    app.update(Action::Engine(Box::new(ev)));
                    dirty = true;
                }
                None => {
                    engine_open = false;
                    let gone = format!("error: {}", app.engine_gone);
                    app.notify(gone, true);
                    dirty = true;
                }
            },
            Some(msg) = notice_rx.recv() => {
                app.update(Action::Notice(msg));
                dirty = true;
            }
            Some(answer) = answer_rx.recv() => {
                app.update(answer);
                dirty = true;
            }
            _ = tick.tick() => draw_now = dirty,
            _ = tokio::signal::ctrl_c() => app.update(Action::ForceQuit),
            _ = sigterm.recv() => app.update(Action::ForceQuit),
        }
        for e in app.effects.drain(..) {
            match e {
                app::Effect::PeerPieces { torrent, addr } => {
                    ask_peer_pieces(torrent, addr, backend, &hashes, &answer_tx)
                }
                e => run_effect(e, backend, &hashes, dir, &notice_tx),
            }
        }
        let done = std::mem::take(&mut app.completions.queued);
        if !done.is_empty() {
            // between frames, so the sequences never land inside one; a terminal that cannot
            // take them is no reason to stop
            let out = guard.terminal.backend_mut();
            for name in done {
                let _ = out.write_all(notify::escapes(look.notify, &name).as_bytes());
            }
            let _ = out.flush();
        }
        if draw_now {
            guard
                .terminal
                .draw(|f| f.render_widget(&*app, f.area()))
                .wrap_err("draw")?;
            dirty = false;
        }
    };
    stop.store(true, Ordering::Relaxed);
    result
}

/// `fast-peer` / `fast-peer tui`: the dashboard over a new engine.
pub async fn run(opts: Options) -> Result<()> {
    let log = init_logging(opts.log_file.clone());
    tracing::info!("dashboard starting; log in {}", log.display());
    let peer_id = opts.config.peer_id;
    let (backend, events, remark) = start_backend(&opts).await?;
    tracing::info!("{remark}");
    theme::set(opts.look.theme);
    let mut guard = TerminalGuard::new(opts.look.mouse)?;
    let mut app = App::new(peer_id);
    if matches!(backend, Backend::Attached(_)) {
        app.engine_gone = "the instance this dashboard watched stopped or dropped it; quit and \
            run `fast-peer tui` again"
            .into();
    }
    app.notify(format!("{remark}; log: {}", log.display()), false);
    let result = event_loop(
        &mut guard,
        &mut app,
        &backend,
        events,
        &opts.dir,
        opts.sources.clone(),
        opts.look,
    )
    .await;
    drop(guard);
    let _ = tokio::time::timeout(Duration::from_secs(10), backend.shutdown()).await;
    result
}

/// The session when the dashboard can own it; the instance that owns it, attached over its
/// control socket, when another does; else a bare engine. And a word on which.
async fn start_backend(opts: &Options) -> Result<(Backend, mpsc::Receiver<EngineEvent>, String)> {
    let fallback = |why: String| async move {
        let (handle, events) = spawn(opts.config.clone())
            .await
            .wrap_err("start the engine")?;
        let why = format!("listening on port {}; {why}", handle.listen_port());
        Ok::<_, color_eyre::Report>((Backend::Engine(handle), events, why))
    };
    let Some(session) = opts.session.clone() else {
        return fallback("no session".into()).await;
    };
    let dir = session.session_dir.clone();
    let socket = session.socket.clone();
    match spawn_session(session).await {
        Ok((handle, events)) => {
            let port = handle.engine.listen_port();
            let remark = format!("listening on port {port}; session in {}", dir.display());
            Ok((Backend::Session(handle), events, remark))
        }
        Err(e @ SessionError::Lock(_)) => match control::watch(&socket).await {
            Ok(events) => {
                let remark = format!(
                    "attached to the running instance ({}); quitting leaves it running",
                    socket.display()
                );
                Ok((Backend::Attached(socket), events, remark))
            }
            Err(why) => {
                let remark = format!(
                    "{e}, and attaching failed ({why}): torrents added here are not remembered"
                );
                fallback(remark).await
            }
        },
        Err(e) => fallback(format!("no session ({e})")).await,
    }
}

/// `fast-peer demo`: the embedded swarm on loopback, a leecher downloading from it, and the
/// dashboard on the leecher.
pub async fn run_demo(opts: DemoTui) -> Result<()> {
    let log = init_logging(opts.log_file.clone());
    let mut demo = DemoOptions {
        dir: opts.dir.clone(),
        ..DemoOptions::default()
    };
    if let Some(s) = opts.size {
        demo.size = s;
    }
    eprintln!(
        "fast-peer demo: starting the swarm on 127.0.0.1 (log: {})…",
        log.display()
    );
    let swarm = if opts.fast {
        DemoSwarm::start(demo).await
    } else {
        DemoSwarm::start_with(demo, watchable_profiles()).await
    }
    .map_err(|e| eyre!("{e}"))
    .wrap_err("demo swarm")?;
    let out = swarm
        .download_dir()
        .map_err(|e| eyre!("{e}"))
        .wrap_err("demo swarm")?;
    // the demo's own loopback DHT, so the DHT pane has something true to show
    let config = EngineConfig {
        dht: Some(swarm.dht_config()),
        ..loopback_config()
    };
    let peer_id = config.peer_id;
    let (handle, events, _id) = swarm
        .start_leecher_with(&out, config)
        .await
        .map_err(|e| eyre!("{e}"))
        .wrap_err("demo leecher")?;
    let result = async {
        theme::set(opts.look.theme);
        let mut guard = TerminalGuard::new(opts.look.mouse)?;
        let mut app = App::new(peer_id);
        app.notify(
            format!(
                "demo: {} seeders on 127.0.0.1, tracker {}",
                swarm.seeders().len(),
                swarm.announce_url()
            ),
            false,
        );
        let r = event_loop(
            &mut guard,
            &mut app,
            &Backend::Engine(handle.clone()),
            events,
            &out,
            Vec::new(),
            opts.look,
        )
        .await;
        drop(guard);
        r
    }
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(5), handle.shutdown()).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), swarm.shutdown()).await;
    result
}
