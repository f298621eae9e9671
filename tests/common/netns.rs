//! Small networks of a test's own: two hosts A and B (network namespaces) and a router R
//! between them, joined by veth pairs, R's link toward one host shaped with the `tbf` qdisc
//! (this kernel has no `netem`). The bottleneck sits in the router, as on a real path: shaped
//! in the sender's own qdisc, TCP's small-queue limit would hold a TCP sender to a couple of
//! packets per queue delay, which no real network does. Nothing is routed out of the three
//! namespaces (their only interfaces are the pairs and loopback), so every packet stays
//! inside them. Building needs root and iproute2; a test that cannot build its network fails
//! loudly, it never skips. The namespaces are deleted on drop.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::process::Command;

/// A host of the [`Link`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    A,
    B,
}

/// Hosts A (10.77.1.1) and B (10.77.2.1), routed through R.
pub struct Link {
    /// A, B, R.
    names: [String; 3],
}

/// Runs `program ARGS` (iproute2), failing the test with its stderr.
fn must(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (iproute2) cannot run: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}\n(network namespace tests need root and iproute2)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Link {
    /// The three namespaces (named after `tag` and this process), their veth pairs,
    /// addresses and routes, and forwarding in R.
    pub fn new(tag: &str) -> Link {
        let pid = std::process::id();
        let names = ["a", "b", "r"].map(|s| format!("fp-{tag}-{pid}-{s}"));
        for n in &names {
            let _ = Command::new("ip").args(["netns", "del", n]).output(); // a leftover
            must("ip", &["netns", "add", n]);
            must("ip", &["-n", n, "link", "set", "lo", "up"]);
        }
        let link = Link { names };
        let r = link.names[2].as_str();
        for end in [End::A, End::B] {
            let (ns, peer) = (link.ns(end), Self::router_dev(end));
            must(
                "ip",
                &[
                    "-n", ns, "link", "add", "veth0", "type", "veth", "peer", "name", peer,
                    "netns", r,
                ],
            );
            let (host, gw) = Self::addrs(end);
            must(
                "ip",
                &[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{host}/24"),
                    "dev",
                    "veth0",
                ],
            );
            must(
                "ip",
                &["-n", r, "addr", "add", &format!("{gw}/24"), "dev", peer],
            );
            must("ip", &["-n", ns, "link", "set", "veth0", "up"]);
            must("ip", &["-n", r, "link", "set", peer, "up"]);
            must("ip", &["-n", ns, "route", "add", "default", "via", gw]);
        }
        must(
            "ip",
            &["netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
        );
        link
    }

    /// The host's namespace.
    pub fn ns(&self, end: End) -> &str {
        &self.names[end as usize]
    }

    /// (host address, router address) on the end's subnet.
    fn addrs(end: End) -> (&'static str, &'static str) {
        match end {
            End::A => ("10.77.1.1", "10.77.1.254"),
            End::B => ("10.77.2.1", "10.77.2.254"),
        }
    }

    /// R's interface toward the end.
    fn router_dev(end: End) -> &'static str {
        match end {
            End::A => "to-a",
            End::B => "to-b",
        }
    }

    /// The host's address.
    pub fn ip(&self, end: End) -> &'static str {
        Self::addrs(end).0
    }

    /// Shape what R forwards toward `end`: a token bucket of `kbit` kbit/s whose queue holds
    /// `latency_ms` of traffic (a bottleneck with a buffer, where delay grows before loss).
    pub fn shape_toward(&self, end: End, kbit: u64, latency_ms: u64) {
        let (rate, latency) = (format!("{kbit}kbit"), format!("{latency_ms}ms"));
        let dev = Self::router_dev(end);
        let args = [
            "-n",
            &self.names[2],
            "qdisc",
            "replace",
            "dev",
            dev,
            "root",
            "tbf",
        ];
        let shape = ["rate", &rate, "burst", "16kb", "latency", &latency];
        must("tc", &[&args[..], &shape[..]].concat());
    }

    /// Give the host the IPv6 address `cidr` (e.g. `2001:db8::2/64`) on its link, usable at
    /// once (no duplicate address detection).
    pub fn add_ipv6(&self, end: End, cidr: &str) {
        must(
            "ip",
            &[
                "-n",
                self.ns(end),
                "addr",
                "add",
                cidr,
                "dev",
                "veth0",
                "nodad",
            ],
        );
    }

    /// `cmd` run inside the host's namespace (`ip netns exec` execs it: the child is the
    /// program itself, so killing the child kills it).
    pub fn exec(&self, end: End, cmd: &Command) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.ns(end)])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            c.current_dir(dir);
        }
        c
    }

    /// Bytes the host received on its link so far (headers included).
    pub fn rx_bytes(&self, end: End) -> u64 {
        // sysfs shows the reader's namespace, so read from inside
        let out = Command::new("ip")
            .args(["netns", "exec", self.ns(end), "cat"])
            .arg("/sys/class/net/veth0/statistics/rx_bytes")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim().parse().unwrap_or_else(|_| {
            let err = String::from_utf8_lossy(&out.stderr);
            panic!("rx_bytes of {}: {err}", self.ns(end))
        })
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}
