#!/usr/bin/python3
"""A libtorrent 2.0.8 peer for fast-peer's interop tests, driven by arguments.

Run it with /usr/bin/python3 (Debian's python3-libtorrent is only importable there).
Everything stays on 127.0.0.0/8: no DHT, LSD, UPnP or NAT-PMP, and one loopback IP per process.

Modes:

  create --path P --piece-length N --tracker URL --out T.torrent
      Make a v1-only torrent of file or folder P (piece hashes read from P). Prints the v1 info
      hash (40 hex) on stdout.

  seed --torrent T --data SAVE_PATH --ip IP [--port N] [--upload-limit B/s]
       [--corrupt --corrupt-dir DIR [--corrupt-every K]] [--no-tracker-wait]
      Seed T from SAVE_PATH (the folder that contains the torrent's name). Waits until the
      torrent is seeding and, unless --no-tracker-wait, until the first tracker announce reply,
      then prints `READY <listen_port> <peer_id_hex>` and serves until stdin closes, SIGTERM,
      or it is killed. With --corrupt it copies the data into DIR, flips one byte in every K-th
      piece (0, K, 2K, ...; default K=2), and serves that copy without hash checks; the indices
      of the corrupted pieces are printed to stderr.

  leech (--torrent T | --magnet URI) --out DIR --ip IP [--port N] [--peer IP:PORT ...]
        [--timeout S]
      Download into DIR and exit 0 once complete (exit 1 on timeout). Prints `DONE` on success.

The peer id is fixed per process: the `peer_fingerprint` setting is set to a full 20-byte id
(libtorrent 2.0 uses the fingerprint as the prefix of each torrent's peer id and fills the rest
randomly, so a 20-byte fingerprint makes the id known in advance; `session.id()` is not it).
"""

import argparse
import os
import random
import shutil
import signal
import string
import sys
import threading
import time

import libtorrent as lt


def log(msg):
    print(f"lt_peer[{os.getpid()}]: {msg}", file=sys.stderr, flush=True)


def make_peer_id():
    alphabet = string.ascii_letters + string.digits
    return "-LT2080-" + "".join(random.choice(alphabet) for _ in range(12))


def loopback_settings(ip, port):
    """What every scripted libtorrent session shares (also lt_dht.py): bound to ip:port,
    no port fallback, no local discovery, UPnP, NAT-PMP or interface watching."""
    host = f"[{ip}]" if ":" in ip else ip  # an IPv6 address, e.g. ::1
    return {
        "listen_interfaces": f"{host}:{port}",
        "outgoing_interfaces": ip,
        "listen_system_port_fallback": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
    }


def split_peer(p):
    """`IP:PORT` or `[IPv6]:PORT` as libtorrent's (ip, port)."""
    ip, port = p.rsplit(":", 1)
    return (ip.strip("[]"), int(port))


def make_session(ip, port, upload_limit=0, encryption="enabled", transport="tcp"):
    peer_id = make_peer_id()
    cat = lt.alert.category_t
    settings = {
        **loopback_settings(ip, port),
        "enable_dht": False,
        "dht_bootstrap_nodes": "",
        # Loopback: every peer may share an IP; with the default a seeder that connects to
        # itself bans 127.x for everybody.
        "allow_multiple_connections_per_ip": True,
        # --transport: tcp (the default), utp (TCP off both ways) or both.
        "enable_outgoing_utp": transport != "tcp",
        "enable_incoming_utp": transport != "tcp",
        "enable_outgoing_tcp": transport != "utp",
        "enable_incoming_tcp": transport != "utp",
        "min_reconnect_time": 1,
        "peer_connect_timeout": 3,
        "peer_fingerprint": peer_id,
        "user_agent": "lt_peer/libtorrent-2.0.8",
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "auto_manage_startup": 1,
        "active_limit": -1,
        "active_seeds": -1,
        "active_downloads": -1,
        "unchoke_slots_limit": -1,
        "ssrf_mitigation": False,
        "alert_mask": int(cat.error_notification | cat.status_notification
                          | cat.tracker_notification | cat.storage_notification
                          | cat.peer_notification),
    }
    if encryption == "rc4":
        # Message Stream Encryption with RC4 only, both ways: plaintext peers are refused.
        settings["out_enc_policy"] = int(lt.enc_policy.forced)
        settings["in_enc_policy"] = int(lt.enc_policy.forced)
        settings["allowed_enc_level"] = int(lt.enc_level.rc4)
        settings["prefer_rc4"] = True
    if upload_limit:
        settings["upload_rate_limit"] = int(upload_limit)
        # Otherwise peers on loopback are exempt from rate limits.
        settings["ignore_limits_on_local_network"] = False
    ses = lt.session(settings)
    return ses, peer_id


def wait_listening(ses, what="", timeout=20):
    """The session's listen port once it listens; exit 3 if it cannot (also used by lt_dht.py)."""
    prefix = f"{what}: " if what else ""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for a in ses.pop_alerts():
            if isinstance(a, lt.listen_failed_alert):
                log(f"{prefix}listen failed: {a.message()}")
                sys.exit(3)
        if ses.is_listening() and ses.listen_port() != 0:
            return ses.listen_port()
        time.sleep(0.02)
    log(f"{prefix}timed out waiting for the listen socket")
    sys.exit(3)


def stop_event(watch_stdin=True):
    """An event set on SIGTERM and, with watch_stdin, when stdin closes: the test process
    died, so nobody needs this peer any more (also used by lt_dht.py)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def run():
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        stop.set()
    if watch_stdin:
        threading.Thread(target=run, daemon=True).start()
    return stop


def corrupt_copy(ti, data_dir, corrupt_dir, every):
    """Copy the torrent's files from data_dir to corrupt_dir and flip one byte in every
    `every`-th piece. Returns the corrupted piece indices."""
    fs = ti.files()
    for i in range(fs.num_files()):
        rel = fs.file_path(i)
        src = os.path.join(data_dir, rel)
        dst = os.path.join(corrupt_dir, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
    corrupted = []
    for piece in range(0, ti.num_pieces(), every):
        size = ti.piece_size(piece)
        offset = size // 2
        for sl in ti.map_block(piece, offset, 1):
            path = os.path.join(corrupt_dir, fs.file_path(sl.file_index))
            with open(path, "r+b") as f:
                f.seek(sl.offset)
                b = f.read(1)
                f.seek(sl.offset)
                f.write(bytes([b[0] ^ 0xFF]))
        corrupted.append(piece)
    return corrupted


def cmd_create(args):
    path = os.path.abspath(args.path)
    fs = lt.file_storage()
    lt.add_files(fs, path)
    if fs.num_files() == 0:
        log(f"no files under {path}")
        sys.exit(2)
    # --hybrid: libtorrent 2.0's default (v1 + v2, files aligned with BEP 47 pad files)
    flags = 0 if args.hybrid else lt.create_torrent.v1_only
    ct = lt.create_torrent(fs, args.piece_length, flags)
    for url in args.tracker or []:
        ct.add_tracker(url)
    ct.set_creator("fast-peer tests (libtorrent 2.0.8)")
    lt.set_piece_hashes(ct, os.path.dirname(path))
    data = lt.bencode(ct.generate())
    with open(args.out, "wb") as f:
        f.write(data)
    ti = lt.torrent_info(args.out)
    print(str(ti.info_hashes().v1), flush=True)


def cmd_seed(args):
    ti = lt.torrent_info(args.torrent)
    save_path = os.path.abspath(args.data)
    if args.corrupt:
        if not args.corrupt_dir:
            log("--corrupt needs --corrupt-dir")
            sys.exit(2)
        save_path = os.path.abspath(args.corrupt_dir)
        os.makedirs(save_path, exist_ok=True)
        pieces = corrupt_copy(ti, os.path.abspath(args.data), save_path, args.corrupt_every)
        log(f"corrupted pieces: {' '.join(map(str, pieces))}")

    ses, peer_id = make_session(args.ip, args.port, args.upload_limit, args.encryption,
                                args.transport)
    if args.corrupt:
        # seed_mode alone would verify each piece on its first request and stop serving it.
        ses.apply_settings({"disable_hash_checks": True})
    port = wait_listening(ses)

    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = save_path
    flags = atp.flags
    flags &= ~lt.torrent_flags.auto_managed
    flags &= ~lt.torrent_flags.paused
    if args.corrupt:
        flags |= lt.torrent_flags.seed_mode
    atp.flags = flags
    h = ses.add_torrent(atp)

    stop = stop_event()

    has_trackers = len(list(ti.trackers())) > 0
    need_reply = has_trackers and not args.no_tracker_wait
    got_reply = False
    ready = False
    deadline = time.time() + args.ready_timeout
    while not stop.is_set():
        for a in ses.pop_alerts():
            if isinstance(a, lt.tracker_reply_alert):
                got_reply = True
            elif isinstance(a, (lt.tracker_error_alert, lt.tracker_warning_alert)):
                log(f"tracker: {a.message()}")
            elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert,
                                lt.listen_failed_alert, lt.hash_failed_alert)):
                log(a.message())
        if not ready:
            st = h.status()
            if st.errc.value() != 0:
                log(f"torrent error: {st.errc.message()}")
                sys.exit(4)
            if st.is_seeding and (got_reply or not need_reply):
                print(f"READY {port} {peer_id.encode('ascii').hex()}", flush=True)
                ready = True
            elif time.time() > deadline:
                log(f"not ready after {args.ready_timeout}s: state={st.state} "
                    f"progress={st.progress:.3f} tracker_reply={got_reply}")
                sys.exit(5)
        stop.wait(0.05)
    # Skip the session destructor: it would send `stopped` announces and may wait for them.
    os._exit(0)


def cmd_leech(args):
    os.makedirs(args.out, exist_ok=True)
    ses, _peer_id = make_session(args.ip, args.port, encryption=args.encryption,
                                 transport=args.transport)
    wait_listening(ses)
    if args.magnet:
        atp = lt.parse_magnet_uri(args.magnet)
    else:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(args.torrent)
    atp.save_path = os.path.abspath(args.out)
    flags = atp.flags
    flags &= ~lt.torrent_flags.auto_managed
    flags &= ~lt.torrent_flags.paused
    atp.flags = flags
    h = ses.add_torrent(atp)
    for p in args.peer or []:
        h.connect_peer(split_peer(p))

    stop = stop_event(watch_stdin=False)
    deadline = time.time() + args.timeout
    last_connect = time.time()
    while not stop.is_set():
        for a in ses.pop_alerts():
            if isinstance(a, (lt.tracker_error_alert, lt.torrent_error_alert,
                              lt.file_error_alert, lt.hash_failed_alert,
                              lt.metadata_failed_alert)):
                log(a.message())
        st = h.status()
        if st.has_metadata and (st.is_seeding or st.is_finished):
            # Make sure everything is on disk before reporting success.
            h.flush_cache()
            print("DONE", flush=True)
            sys.exit(0)
        if time.time() > deadline:
            log(f"timeout: state={st.state} progress={st.progress:.3f} peers={st.num_peers}")
            sys.exit(1)
        if args.peer and time.time() - last_connect > 2 and st.num_peers == 0:
            for p in args.peer:
                h.connect_peer(split_peer(p))
            last_connect = time.time()
        stop.wait(0.05)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)

    c = sub.add_parser("create")
    c.add_argument("--path", required=True)
    c.add_argument("--piece-length", type=int, required=True)
    c.add_argument("--tracker", action="append")
    c.add_argument("--out", required=True)
    c.add_argument("--hybrid", action="store_true")

    s = sub.add_parser("seed")
    s.add_argument("--torrent", required=True)
    s.add_argument("--data", required=True, help="save path: folder containing the torrent's name")
    s.add_argument("--ip", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--upload-limit", type=int, default=0, help="bytes per second, 0 = unlimited")
    s.add_argument("--corrupt", action="store_true")
    s.add_argument("--corrupt-dir")
    s.add_argument("--corrupt-every", type=int, default=2)
    s.add_argument("--no-tracker-wait", action="store_true")
    s.add_argument("--transport", choices=["tcp", "utp", "both"], default="tcp")
    s.add_argument("--ready-timeout", type=float, default=60)
    s.add_argument("--encryption", choices=["enabled", "rc4"], default="enabled",
                   help="rc4: require RC4 Message Stream Encryption both ways")

    l = sub.add_parser("leech")
    l.add_argument("--torrent")
    l.add_argument("--magnet")
    l.add_argument("--out", required=True)
    l.add_argument("--ip", default="127.0.0.1")
    l.add_argument("--port", type=int, default=0)
    l.add_argument("--peer", action="append")
    l.add_argument("--timeout", type=float, default=120)
    l.add_argument("--transport", choices=["tcp", "utp", "both"], default="tcp")
    l.add_argument("--encryption", choices=["enabled", "rc4"], default="enabled",
                   help="rc4: require RC4 Message Stream Encryption both ways")

    args = ap.parse_args()
    if args.mode == "create":
        cmd_create(args)
    elif args.mode == "seed":
        cmd_seed(args)
    else:
        if bool(args.torrent) == bool(args.magnet):
            ap.error("leech needs exactly one of --torrent or --magnet")
        cmd_leech(args)


if __name__ == "__main__":
    main()
