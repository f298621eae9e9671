//! Handshake pane: for the selected peer, the BEP 3 handshake (reserved bits decoded, peer
//! id and client) and the BEP 10 extension handshake, ours and theirs side by side, then the
//! last messages exchanged. The title says how the connection travels (plaintext, or Message
//! Stream Encryption with a plaintext or RC4 payload).

use crate::engine::conn::{our_extension_handshake, our_reserved};
use crate::engine::event::{Direction, PeerSnapshot};
use crate::proto::extension::ExtensionHandshake;
use crate::proto::handshake::Reserved;
use crate::proto::id::{PeerId, to_hex};
use crate::tui::app::App;
use crate::tui::theme;
use crate::tui::widgets::{duration, field, pane_block};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, Widget, Wrap};

/// Names of the reserved bits set (BEP 10 extension protocol, BEP 5 DHT, BEP 6 Fast), and the
/// other bits as `byte[i]=0x..`.
pub fn reserved_bits(r: &[u8; 8]) -> String {
    let known = Reserved(*r);
    let mut names: Vec<String> = known.names().iter().map(|s| s.to_string()).collect();
    let mut rest = *r;
    for (byte, mask) in [Reserved::EXTENSION, Reserved::DHT, Reserved::FAST] {
        rest[byte] &= !mask;
    }
    for (i, b) in rest.iter().enumerate().filter(|(_, b)| **b != 0) {
        names.push(format!("byte[{i}]=0x{b:02x}"));
    }
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn side(
    title: &str,
    reserved: &[u8; 8],
    peer_id: &PeerId,
    ext: Option<&ExtensionHandshake>,
) -> Vec<Line<'static>> {
    let mut l = vec![
        Line::styled(title.to_string(), theme::header()),
        field("reserved", to_hex(reserved)),
        field("  bits", reserved_bits(reserved)),
        field(
            "peer id",
            String::from_utf8_lossy(&peer_id.0)
                .chars()
                .map(|c| if c.is_ascii_graphic() { c } else { '.' })
                .collect::<String>(),
        ),
        field(
            "  client",
            peer_id.client().unwrap_or_else(|| "unknown".into()),
        ),
    ];
    match ext {
        None => l.push(Line::styled("no extension handshake", theme::dim())),
        Some(e) => {
            l.push(Line::styled(
                "extension handshake (BEP 10)",
                theme::header(),
            ));
            l.push(field("v", e.v.clone().unwrap_or_else(|| "-".into())));
            let m: Vec<String> = e.m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            l.push(field(
                "m",
                if m.is_empty() {
                    "-".into()
                } else {
                    m.join(" ")
                },
            ));
            l.push(field(
                "reqq",
                e.reqq.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            ));
            l.push(field(
                "metadata_size",
                e.metadata_size
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
            ));
            l.push(field(
                "p",
                e.p.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            ));
            if let Some(ip) = e.yourip {
                l.push(field("yourip", ip.to_string()));
            }
            if let Some(u) = e.upload_only {
                l.push(field("upload_only", u.to_string()));
            }
        }
    }
    l
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(p) = app.selected_peer() else {
        crate::tui::widgets::empty(
            area,
            buf,
            " Handshake ".into(),
            "No peer selected (pick one in the Peers pane).",
        );
        return;
    };
    let title = format!(" Handshake with {} · {} ", p.addr, p.wire.label());
    let [top, bottom] = area.layout(&Layout::vertical([
        Constraint::Length(14),
        Constraint::Min(0),
    ]));
    let block = pane_block(title);
    let inner = block.inner(top);
    block.render(top, buf);
    let [ours_a, theirs_a] = inner.layout(&Layout::horizontal([
        Constraint::Ratio(1, 2),
        Constraint::Ratio(1, 2),
    ]));
    let meta = app.torrent().and_then(|t| app.metainfo.get(&t.id));
    let ours_ext = our_extension_handshake(
        meta.and_then(|m| u32::try_from(m.raw_info.len()).ok()),
        meta.is_none_or(|m| !m.info.private),
        Some(app.listen_port),
        Some(p.addr.ip()),
    );
    let ours = side("ours", &our_reserved().0, &app.our_peer_id, Some(&ours_ext));
    let theirs = side("theirs", &p.reserved, &p.peer_id, p.extension.as_deref());
    Paragraph::new(ours)
        .wrap(Wrap { trim: true })
        .render(ours_a, buf);
    Paragraph::new(theirs)
        .wrap(Wrap { trim: true })
        .render(theirs_a, buf);
    render_messages(p, bottom, buf);
}

fn render_messages(p: &PeerSnapshot, area: Rect, buf: &mut Buffer) {
    let rows: Vec<Row> = p
        .recent
        .iter()
        .rev()
        .map(|m| {
            let (arrow, style) = match m.direction {
                Direction::Out => ("→ out", theme::outgoing()),
                Direction::In => ("← in", theme::incoming()),
            };
            Row::new(vec![
                Span::styled(arrow, style),
                Span::raw(m.kind),
                Span::raw(m.index.map(|i| i.to_string()).unwrap_or_default()),
                Span::raw(m.length.to_string()),
                Span::styled(format!("{} ago", duration(m.age)), theme::dim()),
            ])
        })
        .collect();
    Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(15),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Min(8),
        ],
    )
    .header(Row::new(vec!["", "message", "piece", "bytes", "when"]).style(theme::header()))
    .block(pane_block(format!(
        " last {} messages (newest first) ",
        p.recent.len()
    )))
    .render(area, buf);
}
