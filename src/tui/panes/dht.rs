//! DHT pane (BEP 5): our node id and port, KRPC counters, the routing-table buckets with
//! node counts by state, and the lookups in progress. "DHT off" when the engine runs none.

use crate::engine::event::{DhtLookupKind, DhtNodeState};
use crate::tui::app::App;
use crate::tui::theme;
use crate::tui::widgets::{duration, field, pane_block};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Row, Table, Widget};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(d) = &app.dht else {
        crate::tui::widgets::empty(
            area,
            buf,
            " DHT ".into(),
            "DHT off: this engine runs without a DHT node (peers come from trackers, magnets and PEX).",
        );
        return;
    };
    let [head, buckets, lookups] = area.layout(&Layout::vertical([
        Constraint::Length(5),
        Constraint::Min(0),
        Constraint::Length((d.lookups.len() as u16 + 3).min(10)),
    ]));
    let total: usize = d.buckets.iter().map(|b| b.nodes.len()).sum();
    Paragraph::new(vec![
        field("node id", d.node_id.to_string()),
        field("port", format!("{} (UDP)   nodes {total} in {} buckets", d.port, d.buckets.len())),
        field(
            "krpc",
            format!(
                "{} queries sent, {} answered, {} timed out, {} received; storing {} peers for {} torrents",
                d.queries_sent, d.responses_received, d.timeouts, d.queries_received, d.stored_peers, d.stored_torrents
            ),
        ),
    ])
    .block(pane_block(" DHT ".into()))
    .render(head, buf);

    let rows: Vec<Row> = d
        .buckets
        .iter()
        .skip(app.scroll as usize)
        .map(|b| {
            let count = |s: DhtNodeState| b.nodes.iter().filter(|n| n.state == s).count();
            let bar: String = b
                .nodes
                .iter()
                .map(|n| match n.state {
                    DhtNodeState::Good => '●',
                    DhtNodeState::Questionable => '◐',
                    DhtNodeState::Bad => '○',
                })
                .collect();
            Row::new(vec![
                Span::raw(format!("{:3}", b.prefix_len)),
                Span::raw(format!("{:2}", b.nodes.len())),
                Span::styled(count(DhtNodeState::Good).to_string(), theme::good()),
                Span::styled(count(DhtNodeState::Questionable).to_string(), theme::warn()),
                Span::styled(count(DhtNodeState::Bad).to_string(), theme::error()),
                Span::raw(b.replacements.to_string()),
                Span::raw(duration(b.since_changed)),
                Span::styled(bar, theme::good()),
            ])
        })
        .collect();
    Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(4),
            Constraint::Length(4),
            Constraint::Length(4),
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Min(8),
        ],
    )
    .header(
        Row::new(vec![
            "bits",
            "nodes",
            "good",
            "q",
            "bad",
            "repl",
            "changed",
            "nodes (● good ◐ questionable ○ bad)",
        ])
        .style(theme::header()),
    )
    .block(pane_block(
        " routing table (bucket: shared prefix bits with our id) ".into(),
    ))
    .render(buckets, buf);

    let rows: Vec<Row> = d
        .lookups
        .iter()
        .map(|l| {
            Row::new(vec![
                Span::raw(match l.kind {
                    DhtLookupKind::FindNode => "find_node",
                    DhtLookupKind::GetPeers => "get_peers",
                    DhtLookupKind::Announce => "announce",
                }),
                Span::styled(l.target.to_string(), theme::hex()),
                Span::raw(l.queried.to_string()),
                Span::raw(l.in_flight.to_string()),
                Span::raw(l.timed_out.to_string()),
                Span::raw(l.peers_found.to_string()),
                Span::raw(duration(l.elapsed)),
                Span::styled(
                    if l.done { "done" } else { "running" },
                    if l.done { theme::dim() } else { theme::good() },
                ),
            ])
        })
        .collect();
    Table::new(
        rows,
        [
            Constraint::Length(10),
            Constraint::Min(12),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(8),
        ],
    )
    .header(
        Row::new(vec![
            "lookup",
            "target",
            "queried",
            "in flight",
            "timed out",
            "peers",
            "time",
            "",
        ])
        .style(theme::header()),
    )
    .block(pane_block(format!(" lookups ({}) ", d.lookups.len())))
    .render(lookups, buf);
}
