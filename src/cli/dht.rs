//! `dht`: the DHT alone (BEP 5): a magnet downloaded with peers from the DHT only, a lookup
//! of an info hash's peers, or the routing table.

use super::SwarmOptions;
use super::download::magnet_download;
use crate::engine::dht::{DhtConfig, LookupEvent};
use crate::engine::event::DhtNodeState;
use crate::engine::storage::OutputTarget;
use crate::proto::id::InfoHash;
use color_eyre::Result;
use color_eyre::eyre::{WrapErr, eyre};
use std::io::Write;
use std::time::{Duration, Instant};

fn need_dht(opts: &SwarmOptions) -> Result<DhtConfig> {
    opts.dht
        .clone()
        .ok_or_else(|| eyre!("the dht command needs the DHT: drop --no-dht"))
}

/// `dht MAGNET`: peers from the DHT only (no tracker), metadata, download, verify; the engine
/// announces us to the DHT as it goes.
pub async fn dht_download(uri: &str, target: OutputTarget, mut opts: SwarmOptions) -> Result<()> {
    need_dht(&opts)?;
    opts.no_trackers = true;
    magnet_download(uri, target, opts).await
}

/// `dht --lookup HASH`: stdout one `IP:PORT` per peer; stderr nodes asked and time taken.
pub async fn dht_lookup(hash: &str, opts: &SwarmOptions) -> Result<()> {
    let info_hash: InfoHash = hash
        .trim()
        .parse()
        .map_err(|e| eyre!("{e}"))
        .wrap_err("parse the info hash")?;
    let node = crate::engine::dht::spawn(need_dht(opts)?)
        .await
        .wrap_err("start the DHT node")?;
    let started = Instant::now();
    let table = node.bootstrapped().await;
    eprintln!(
        "bootstrapped: {table} nodes in the routing table after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut found = node.get_peers(info_hash);
    let mut peers = 0usize;
    let mut stdout = std::io::stdout();
    while let Some(ev) = found.recv().await {
        match ev {
            LookupEvent::Peer(p) => {
                peers += 1;
                writeln!(stdout, "{p}")?;
                stdout.flush()?;
            }
            LookupEvent::Done {
                queried,
                timed_out,
                elapsed,
                ..
            } => {
                eprintln!(
                    "queried {queried} nodes ({timed_out} timed out) in {:.2} s; {peers} peers",
                    elapsed.as_secs_f64()
                );
            }
        }
    }
    node.shutdown().await;
    Ok(())
}

/// `dht --table`: bootstrap, let the bucket refreshes run, print the routing table.
pub async fn dht_table(opts: &SwarmOptions) -> Result<()> {
    let node = crate::engine::dht::spawn(need_dht(opts)?)
        .await
        .wrap_err("start the DHT node")?;
    node.bootstrapped().await;
    // the refresh lookups that follow the bootstrap fill the far buckets: give them a moment
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let busy = node
            .snapshot()
            .is_some_and(|s| s.lookups.iter().any(|l| !l.done));
        if !busy || Instant::now() > deadline {
            break;
        }
    }
    let snap = node
        .snapshot()
        .ok_or_else(|| eyre!("the DHT node did not start"))?;
    let mut out = format!("Node ID: {}\nPort: {}\n", snap.node_id, snap.port);
    out.push_str(&format!(
        "{:<6}  {:<40}  {:<21}  {:<12}  {}\n",
        "bucket", "node id", "address", "state", "last seen"
    ));
    for b in &snap.buckets {
        for n in &b.nodes {
            let state = match n.state {
                DhtNodeState::Good => "good",
                DhtNodeState::Questionable => "questionable",
                DhtNodeState::Bad => "bad",
            };
            let seen = n
                .last_seen
                .map(|d| format!("{:.1}s ago", d.as_secs_f64()))
                .unwrap_or_else(|| "never".into());
            out.push_str(&format!(
                "{:<6}  {}  {:<21}  {:<12}  {}\n",
                b.prefix_len,
                n.id,
                n.addr.to_string(),
                state,
                seen
            ));
        }
    }
    std::io::stdout().write_all(out.as_bytes())?;
    node.shutdown().await;
    Ok(())
}
