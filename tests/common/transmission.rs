//! Transmission 3.00 (`transmission-daemon`, driven with `transmission-remote`), the second
//! independent uTP implementation the interop tests meet (libutp; uTP is on by default). Each
//! daemon has its own config folder, peer address on the test's network and RPC port on
//! 127.0.0.1; DHT, local peer discovery, PEX and port mapping are off, so it only talks to
//! the tracker and peers the test gives it. Killed on drop.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::{Daemon, free_port};

pub struct Transmission {
    daemon: Daemon,
    /// The network namespace it runs in (its RPC is on that namespace's loopback).
    netns: Option<String>,
    rpc: String,
    pub ip: String,
    pub port: u16,
    _config: tempfile::TempDir,
}

/// `program`, run inside `netns` when given (`ip netns exec` execs it).
fn in_netns(netns: Option<&str>, program: &str) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, program]);
            c
        }
        None => Command::new(program),
    }
}

impl Transmission {
    /// A daemon whose peers see it at `ip` (TCP and uTP on a free port), saving into `dir`.
    pub fn start(ip: &str, dir: &Path) -> Transmission {
        Transmission::start_in(None, ip, dir)
    }

    /// [`Transmission::start`] inside the network namespace `netns`. Transmission will not
    /// connect out to 127.0.0.0/8 (it calls those addresses martian), so a test where it
    /// downloads runs it in a namespace with ordinary addresses.
    pub fn start_in(netns: Option<&str>, ip: &str, dir: &Path) -> Transmission {
        let config = tempfile::tempdir().unwrap();
        let (port, rpc_port) = (free_port(), free_port());
        let settings = serde_json::json!({
            "bind-address-ipv4": ip,
            "bind-address-ipv6": "::1",
            "dht-enabled": false,
            "lpd-enabled": false,
            "pex-enabled": false,
            "utp-enabled": true,
            "port-forwarding-enabled": false,
            "peer-port": port,
            "peer-port-random-on-start": false,
            "rpc-enabled": true,
            "rpc-bind-address": "127.0.0.1",
            "rpc-port": rpc_port,
            "rpc-authentication-required": false,
            "rpc-whitelist-enabled": false,
            "rpc-host-whitelist-enabled": false,
            "download-dir": dir,
            "incomplete-dir-enabled": false,
            "start-added-torrents": true,
            "message-level": 3,
        });
        fs::write(config.path().join("settings.json"), settings.to_string()).unwrap();
        let mut cmd = in_netns(netns, "transmission-daemon");
        cmd.arg("-f").arg("-g").arg(config.path());
        let t = Transmission {
            daemon: Daemon::spawn(&mut cmd, false),
            netns: netns.map(str::to_string),
            rpc: format!("127.0.0.1:{rpc_port}"),
            ip: ip.to_string(),
            port,
            _config: config,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !t.remote(&["-l"]).0 {
            assert!(
                Instant::now() < deadline,
                "transmission-daemon: no RPC\n{}",
                t.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
        t
    }

    /// `transmission-remote RPC ARGS`: (success, stdout).
    fn remote(&self, args: &[&str]) -> (bool, String) {
        match in_netns(self.netns.as_deref(), "transmission-remote")
            .arg(&self.rpc)
            .args(args)
            .output()
        {
            Ok(o) => (
                o.status.success(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
            ),
            Err(e) => panic!("transmission-remote: {e}"),
        }
    }

    /// Add `torrent`, its data in (or to be saved into) `dir`.
    pub fn add(&self, torrent: &Path, dir: &Path) {
        let (ok, out) =
            self.remote(&["-a", torrent.to_str().unwrap(), "-w", dir.to_str().unwrap()]);
        assert!(
            ok && out.contains("success"),
            "transmission-remote -a: {out}\n{}",
            self.log()
        );
    }

    /// `ip:port`, where peers reach it.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Waits until the first torrent is complete ("Percent Done: 100%") and verified.
    pub fn wait_complete(&self, secs: u64) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (_, info) = self.remote(&["-t", "1", "-i"]);
            let verifying = info.contains("State: Verifying") || info.contains("Will Verify");
            if info.contains("Percent Done: 100%") && !verifying {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not complete after {secs} s:\n{info}"));
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Its torrent's details and peers, and its log, for failure messages.
    pub fn log(&self) -> String {
        let info = self.remote(&["-t", "1", "-i"]).1;
        let peers = self.remote(&["-t", "1", "-pi"]).1;
        let trackers = self.remote(&["-t", "1", "-it"]).1;
        format!(
            "--- transmission -i ---\n{info}\n--- peers ---\n{peers}\n--- trackers ---\n{trackers}\n--- log ---\n{}",
            self.daemon.log()
        )
    }
}
