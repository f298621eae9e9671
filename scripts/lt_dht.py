#!/usr/bin/python3
"""A private DHT of libtorrent 2.0.8 nodes on loopback, for fast-peer's DHT tests and bench.

Run it with /usr/bin/python3 (Debian's python3-libtorrent is only importable there).
Nothing leaves 127.0.0.0/8: `dht_bootstrap_nodes` is empty, LSD/UPnP/NAT-PMP are off, and
nodes only learn of each other through `add_dht_node`.

Modes:

  swarm --ip-prefix 127.0.N. --nodes K [--port P] [--seed T.torrent DATA_DIR ...]
        [--extra-node IP:PORT ...]
      Start K DHT nodes on 127.0.N.1..K (port P, default 6881), each told about all the
      others (and about every --extra-node), and for each --seed a seeder session with the DHT
      on 127.0.N.(100+i) that seeds T from DATA_DIR with its trackers removed, so peers can
      only be found through the DHT. Prints `NODE IP:PORT` for every DHT node, then
      `SEEDER IP:PORT INFO_HASH` once each seeder is seeding and has announced to the DHT,
      then `READY`, and runs until stdin closes or SIGTERM.

  leech --magnet URI --out DIR --ip IP [--port P] --node IP:PORT [...] [--timeout S]
      A DHT-only libtorrent client: downloads the magnet with peers from the DHT (bootstrapped
      from the given nodes), prints `DONE <seconds>` and exits 0 when complete (1 on timeout).
"""

import argparse
import os
import sys
import time

import libtorrent as lt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lt_peer import loopback_settings, stop_event, wait_listening  # noqa: E402  (shared with lt_peer.py)


def log(msg):
    print(f"lt_dht[{os.getpid()}]: {msg}", file=sys.stderr, flush=True)


def settings_for(ip, port):
    cat = lt.alert.category_t
    return {
        **loopback_settings(ip, port),
        "enable_dht": True,
        "dht_bootstrap_nodes": "",
        # all 127.x nodes would otherwise count as one, or as unroutable
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "dht_prefer_verified_node_ids": False,
        # 0 crashes 2.0.8 (division by zero)
        "dht_upload_rate_limit": 1 << 30,
        # every fast-peer process of a test run sends from 127.0.0.1: the default (5 packets
        # a second per IP) would block that address for dht_block_timeout (5 minutes)
        "dht_block_ratelimit": 100000,
        "allow_multiple_connections_per_ip": True,
        # fast-peer speaks TCP only
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "min_reconnect_time": 1,
        "peer_connect_timeout": 3,
        "ssrf_mitigation": False,
        "auto_manage_startup": 1,
        "active_limit": -1,
        "active_seeds": -1,
        "active_downloads": -1,
        "unchoke_slots_limit": -1,
        "alert_mask": int(cat.error_notification | cat.status_notification | cat.dht_notification
                          | cat.storage_notification),
    }


def parse_addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def cmd_swarm(args):
    stop = stop_event()
    nodes = []
    for i in range(1, args.nodes + 1):
        ip = f"{args.ip_prefix}{i}"
        ses = lt.session(settings_for(ip, args.port))
        port = wait_listening(ses, ip)
        nodes.append((ses, ip, port))
    addrs = [(ip, port) for _, ip, port in nodes] + [parse_addr(a) for a in args.extra_node]
    for ses, ip, port in nodes:
        for a in addrs:
            if a != (ip, port):
                ses.add_dht_node(a)
    for _, ip, port in nodes:
        print(f"NODE {ip}:{port}", flush=True)
    # let the nodes ping each other into their routing tables
    time.sleep(2)

    seeders = []
    for i, (torrent, data) in enumerate(args.seed):
        ip = f"{args.ip_prefix}{100 + i}"
        ses = lt.session(settings_for(ip, args.port))
        port = wait_listening(ses, ip)
        for a in addrs:
            ses.add_dht_node(a)
        ti = lt.torrent_info(torrent)
        atp = lt.add_torrent_params()
        atp.ti = ti
        atp.save_path = data
        atp.trackers = []
        flags = atp.flags
        flags &= ~lt.torrent_flags.auto_managed
        flags &= ~lt.torrent_flags.paused
        atp.flags = flags
        h = ses.add_torrent(atp)
        h.replace_trackers([])
        seeders.append((ses, h, ip, port, str(ti.info_hashes().v1)))

    deadline = time.time() + 120
    for ses, h, ip, port, ih in seeders:
        while not h.status().is_seeding:
            for a in ses.pop_alerts():
                if isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                    log(f"seeder {ip}: {a.message()}")
                    sys.exit(4)
            if time.time() > deadline:
                log(f"seeder {ip}: never started seeding")
                sys.exit(4)
            time.sleep(0.05)
        # announce now, and wait until one of our nodes received the announce_peer
        h.force_dht_announce()
        announced = False
        t0 = time.time()
        while not announced and time.time() - t0 < 30:
            for nses, _, _ in nodes:
                for a in nses.pop_alerts():
                    if isinstance(a, lt.dht_announce_alert) and str(a.info_hash) == ih:
                        announced = True
            ses.pop_alerts()
            time.sleep(0.05)
        if not announced:
            log(f"seeder {ip}: no node saw its announce within 30 s")
        print(f"SEEDER {ip}:{port} {ih}", flush=True)
    print("READY", flush=True)
    while not stop.is_set():
        for ses, _, _ in nodes:
            ses.pop_alerts()
        for ses, _, _, _, _ in seeders:
            ses.pop_alerts()
        stop.wait(0.5)


def cmd_leech(args):
    ses = lt.session(settings_for(args.ip, args.port))
    wait_listening(ses, args.ip)
    for n in args.node:
        ses.add_dht_node(parse_addr(n))
    atp = lt.parse_magnet_uri(args.magnet)
    atp.save_path = args.out
    atp.trackers = []
    started = time.time()
    h = ses.add_torrent(atp)
    deadline = started + args.timeout
    while time.time() < deadline:
        for a in ses.pop_alerts():
            if isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                log(a.message())
        s = h.status()
        if s.is_seeding or (s.has_metadata and s.state == lt.torrent_status.seeding):
            print(f"DONE {time.time() - started:.2f}", flush=True)
            return 0
        time.sleep(0.05)
    s = h.status()
    log(f"timed out: metadata={s.has_metadata} progress={s.progress:.3f} peers={s.num_peers}")
    return 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("swarm")
    s.add_argument("--ip-prefix", required=True)
    s.add_argument("--nodes", type=int, default=8)
    s.add_argument("--port", type=int, default=6881)
    s.add_argument("--seed", nargs=2, action="append", default=[], metavar=("TORRENT", "DATA"))
    s.add_argument("--extra-node", action="append", default=[])
    l = sub.add_parser("leech")
    l.add_argument("--magnet", required=True)
    l.add_argument("--out", required=True)
    l.add_argument("--ip", required=True)
    l.add_argument("--port", type=int, default=6881)
    l.add_argument("--node", action="append", default=[])
    l.add_argument("--timeout", type=float, default=120)
    args = p.parse_args()
    if args.cmd == "swarm":
        cmd_swarm(args)
        return 0
    return cmd_leech(args)


if __name__ == "__main__":
    sys.exit(main())
