//! One-shot connections to peers: `peers` (ask the trackers), `handshake` (BEP 3),
//! `magnet_handshake` and `nhandshake` (BEP 3 + BEP 10, both sides of the negotiation).

use super::{SwarmOptions, load_torrent, parse_magnet};
use crate::engine::tracker::announce_tiers;
use crate::proto::extension::ExtensionHandshake;
use crate::proto::handshake::{Handshake, Reserved};
use crate::proto::id::{InfoHash, PeerId, to_hex};
use crate::proto::message::{DEFAULT_MAX_MESSAGE_LEN, Message};
use crate::proto::tracker::{AnnounceRequest, Event};
use color_eyre::Result;
use color_eyre::eyre::{WrapErr, bail, eyre};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// `peers`: ask the trackers (BEP 12 order) once and print the peers, one `IP:PORT` a line.
pub async fn peers(path: &Path, port: Option<u16>) -> Result<()> {
    let m = load_torrent(path)?;
    let tiers = m.trackers();
    if tiers.is_empty() {
        bail!("the torrent names no tracker");
    }
    let req = AnnounceRequest {
        info_hash: m.info_hash,
        peer_id: PeerId::generate(),
        port: port.unwrap_or(6881),
        uploaded: 0,
        downloaded: 0,
        left: m.info.total_length,
        event: Event::Started,
        numwant: Some(200),
        key: rand::random(),
        tracker_id: None,
        ipv6: None,
    };
    let (_url, resp) = announce_tiers(&tiers, &req, Duration::from_secs(15))
        .await
        .map_err(|e| eyre!("{e}"))
        .wrap_err("announce to the trackers")?;
    let mut out = String::new();
    for p in resp.peers {
        out.push_str(&format!("{p}\n"));
    }
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

/// `handshake`: exchange BEP 3 handshakes with one peer and print its id.
pub async fn handshake(
    path: &Path,
    peer: SocketAddr,
    encryption: crate::engine::conn::Encryption,
) -> Result<()> {
    let m = load_torrent(path)?;
    // the engine's dialer: our full reserved bits, and only the BEP 10 bit for a peer that
    // hangs up on them (the course's test peers)
    let dialer = crate::engine::conn::Dialer::new(encryption, Default::default());
    let (_, theirs) = dialer
        .connect(peer, m.info_hash, PeerId::generate())
        .await
        .map_err(|e| eyre!("{e}"))
        .wrap_err_with(|| format!("handshake with {peer}"))?;
    println!("Peer ID: {}", theirs.peer_id);
    Ok(())
}

/// Peers to try for a one-shot connection: `--peer`, then `x.pe`, then the trackers.
async fn candidate_peers(
    info_hash: InfoHash,
    tiers: &[Vec<String>],
    given: &[SocketAddr],
    left: u64,
) -> Result<Vec<SocketAddr>> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    if tiers.is_empty() {
        bail!("no peer given and no tracker to ask");
    }
    let req = AnnounceRequest {
        info_hash,
        peer_id: PeerId::generate(),
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left,
        event: Event::Started,
        numwant: Some(50),
        key: rand::random(),
        tracker_id: None,
        ipv6: None,
    };
    let (_url, resp) = announce_tiers(tiers, &req, Duration::from_secs(15))
        .await
        .map_err(|e| eyre!("{e}"))
        .wrap_err("announce to the trackers")?;
    if resp.peers.is_empty() {
        bail!("the trackers know no peers for {info_hash}");
    }
    Ok(resp.peers)
}

/// Both sides of a negotiated handshake (BEP 3 + BEP 10).
pub struct Negotiated {
    pub addr: SocketAddr,
    pub ours: Handshake,
    pub theirs: Handshake,
    pub our_ext: ExtensionHandshake,
    pub their_ext: Option<ExtensionHandshake>,
}

/// Connect, exchange BEP 3 handshakes, then BEP 10 extension handshakes (when the peer sets
/// the extension bit), skipping any other message the peer sends first.
pub async fn negotiate(
    addr: SocketAddr,
    info_hash: InfoHash,
    encryption: crate::engine::conn::Encryption,
) -> Result<Negotiated> {
    let peer_id = PeerId::generate();
    let fut = async {
        let dialer = crate::engine::conn::Dialer::new(encryption, Default::default());
        let (mut conn, theirs) = dialer
            .connect(addr, info_hash, peer_id)
            .await
            .map_err(|e| eyre!("{e}"))
            .wrap_err_with(|| format!("handshake with {addr}"))?;
        let ours = Handshake {
            reserved: conn.reserved(),
            info_hash,
            peer_id,
        };
        let our_ext =
            crate::engine::conn::our_extension_handshake(None, true, None, Some(addr.ip()));
        if !conn.negotiated(&theirs, Reserved::EXTENSION) {
            return Ok(Negotiated {
                addr,
                ours,
                theirs,
                our_ext,
                their_ext: None,
            });
        }
        // our extension handshake is the first message after the handshake (strict peers
        // expect nothing else first)
        conn.send(&Message::Extended {
            id: 0,
            payload: bytes::Bytes::from(our_ext.encode()),
        });
        conn.flush().await.wrap_err("send extension handshake")?;
        loop {
            while let Some(m) = conn
                .next_message(DEFAULT_MAX_MESSAGE_LEN)
                .map_err(|e| eyre!("{e}"))?
            {
                if let Message::Extended { id: 0, payload } = m {
                    let ext = ExtensionHandshake::decode(&payload)
                        .map_err(|e| eyre!("{e}"))
                        .wrap_err("decode the peer's extension handshake")?;
                    return Ok(Negotiated {
                        addr,
                        ours,
                        theirs,
                        our_ext,
                        their_ext: Some(ext),
                    });
                }
            }
            match conn.transfer(true).await {
                Ok(_) => {}
                Err(crate::engine::error::PeerError::Protocol(_)) => {
                    bail!("{addr} closed the connection before its extension handshake")
                }
                Err(e) => return Err(eyre!("{e}")),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .map_err(|_| eyre!("{addr}: timed out"))?
}

/// Try peers in order until one negotiates.
async fn negotiate_any(
    peers: &[SocketAddr],
    info_hash: InfoHash,
    encryption: crate::engine::conn::Encryption,
) -> Result<Negotiated> {
    let mut errors = Vec::new();
    for p in peers {
        match negotiate(*p, info_hash, encryption).await {
            Ok(n) => return Ok(n),
            Err(e) => errors.push(format!("{p}: {e:#}")),
        }
    }
    bail!("no peer answered: {}", errors.join("; "))
}

/// `magnet_handshake`: the peer's id and the id it gave `ut_metadata`.
pub async fn magnet_handshake(uri: &str, opts: SwarmOptions) -> Result<()> {
    let m = parse_magnet(uri)?;
    let mut given = opts.peers.clone();
    given.extend(m.peers.iter().copied());
    let tiers: Vec<Vec<String>> = m.trackers.iter().map(|t| vec![t.clone()]).collect();
    let peers = candidate_peers(m.info_hash, &tiers, &given, 1).await?;
    let n = negotiate_any(&peers, m.info_hash, opts.encryption).await?;
    let id = n
        .their_ext
        .as_ref()
        .and_then(|e| e.m.get(crate::proto::extension::UT_METADATA).copied())
        .ok_or_else(|| eyre!("{} does not support ut_metadata", n.addr))?;
    println!("Peer ID: {}", n.theirs.peer_id);
    println!("Peer Metadata Extension ID: {id}");
    Ok(())
}

fn reserved_names(r: &Reserved) -> Vec<&'static str> {
    r.names()
}

fn side_json(h: &Handshake, ext: Option<&ExtensionHandshake>) -> serde_json::Value {
    use serde_json::json;
    let ext = ext.map(|e| {
        json!({
            "m": e.m,
            "v": e.v,
            "p": e.p,
            "reqq": e.reqq,
            "yourip": e.yourip.map(|ip| ip.to_string()),
            "metadata_size": e.metadata_size,
            "upload_only": e.upload_only,
        })
    });
    json!({
        "peer_id": h.peer_id.to_string(),
        "client": h.peer_id.client(),
        "reserved": to_hex(&h.reserved.0),
        "reserved_bits": reserved_names(&h.reserved),
        "extension_handshake": ext,
    })
}

/// The text form of `nhandshake`: one row per field, ours next to theirs.
pub fn format_negotiated(n: &Negotiated) -> String {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    rows.push((
        "Peer ID".into(),
        n.ours.peer_id.to_string(),
        n.theirs.peer_id.to_string(),
    ));
    rows.push((
        "Client".into(),
        opt(n.ours.peer_id.client()),
        opt(n.theirs.peer_id.client()),
    ));
    rows.push((
        "Reserved".into(),
        to_hex(&n.ours.reserved.0),
        to_hex(&n.theirs.reserved.0),
    ));
    for (bit, name) in [
        (Reserved::EXTENSION, "extension protocol"),
        (Reserved::DHT, "dht"),
        (Reserved::FAST, "fast"),
    ] {
        let yn = |r: &Reserved| {
            if r.has(bit) {
                "yes".to_string()
            } else {
                "no".to_string()
            }
        };
        rows.push((
            format!("  {name}"),
            yn(&n.ours.reserved),
            yn(&n.theirs.reserved),
        ));
    }
    let theirs = n.their_ext.as_ref();
    let mut names: Vec<&String> = n.our_ext.m.keys().collect();
    if let Some(t) = theirs {
        names.extend(t.m.keys());
    }
    names.sort();
    names.dedup();
    for name in names {
        let get = |e: Option<&ExtensionHandshake>| {
            opt(e.and_then(|e| e.m.get(name)).map(|v| v.to_string()))
        };
        rows.push((format!("m.{name}"), get(Some(&n.our_ext)), get(theirs)));
    }
    let field = |f: &dyn Fn(&ExtensionHandshake) -> Option<String>| {
        (opt(f(&n.our_ext)), opt(theirs.and_then(f)))
    };
    for (name, (a, b)) in [
        ("v", field(&|e| e.v.clone())),
        ("p", field(&|e| e.p.map(|v| v.to_string()))),
        ("reqq", field(&|e| e.reqq.map(|v| v.to_string()))),
        ("yourip", field(&|e| e.yourip.map(|v| v.to_string()))),
        (
            "metadata_size",
            field(&|e| e.metadata_size.map(|v| v.to_string())),
        ),
        (
            "upload_only",
            field(&|e| e.upload_only.map(|v| v.to_string())),
        ),
    ] {
        rows.push((name.to_string(), a, b));
    }
    let width = |cell: fn(&(String, String, String)) -> &str, min: usize| {
        rows.iter()
            .map(|r| cell(r).chars().count())
            .max()
            .unwrap_or(0)
            .max(min)
    };
    let (w0, w1) = (width(|r| &r.0, 6), width(|r| &r.1, 4));
    let mut out = format!("Peer: {}\n", n.addr);
    if theirs.is_none() {
        out.push_str("The peer does not support the extension protocol (BEP 10).\n");
    }
    out.push_str(&format!("{:w0$}  {:w1$}  {}\n", "", "ours", "theirs"));
    for (a, b, c) in rows {
        out.push_str(&format!("{a:w0$}  {b:w1$}  {c}\n"));
    }
    out
}

/// `nhandshake`: the full negotiated handshake with one peer, both sides.
pub async fn nhandshake(
    source: &str,
    peer: Option<SocketAddr>,
    json: bool,
    opts: SwarmOptions,
) -> Result<()> {
    let (info_hash, tiers, mut given, left) = if source.starts_with("magnet:") {
        let m = parse_magnet(source)?;
        (
            m.info_hash,
            m.trackers
                .iter()
                .map(|t| vec![t.clone()])
                .collect::<Vec<_>>(),
            m.peers.clone(),
            1,
        )
    } else {
        let m = load_torrent(Path::new(source))?;
        (m.info_hash, m.trackers(), Vec::new(), m.info.total_length)
    };
    given.extend(opts.peers.iter().copied());
    let peers = match peer {
        Some(p) => vec![p],
        None => candidate_peers(info_hash, &tiers, &given, left).await?,
    };
    let n = negotiate_any(&peers, info_hash, opts.encryption).await?;
    if json {
        let v = serde_json::json!({
            "peer": n.addr.to_string(),
            "info_hash": info_hash.to_string(),
            "ours": side_json(&n.ours, Some(&n.our_ext)),
            "theirs": side_json(&n.theirs, n.their_ext.as_ref()),
        });
        println!("{v}");
    } else {
        std::io::stdout().write_all(format_negotiated(&n).as_bytes())?;
    }
    Ok(())
}
