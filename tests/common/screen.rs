//! The dashboard drawn into ratatui's `TestBackend`, for the pane tests: the buffer, and its
//! text one line per row; and the engine picture the tests feed it.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use fast_peer::engine::event::{
    DhtSnapshot, EngineEvent, EngineSnapshot, TorrentId, TorrentSnapshot,
};
use fast_peer::tui::action::Action;
use fast_peer::tui::app::App;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

/// One frame of `app` at `w`x`h`.
pub fn draw(app: &App, w: u16, h: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| f.render_widget(app, f.area())).unwrap();
    term.backend().buffer().clone()
}

/// A buffer's text, one line per row.
pub fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf.cell((x, y)).map(|c| c.symbol()).unwrap_or(" "));
        }
        out.push('\n');
    }
    out
}

/// One frame of `app` at `w`x`h`, as text.
pub fn screen(app: &App, w: u16, h: u16) -> String {
    text(&draw(app, w, h))
}

/// An engine picture of `torrents` (the queue in `queue`'s order; listening on 6881), as the
/// action the dashboard takes in.
pub fn picture(
    torrents: Vec<TorrentSnapshot>,
    queue: Vec<TorrentId>,
    dht: Option<DhtSnapshot>,
) -> Action {
    Action::Engine(Box::new(EngineEvent::Snapshot(Box::new(EngineSnapshot {
        listen_port: 6881,
        torrents,
        dht,
        queue,
        ..Default::default()
    }))))
}
