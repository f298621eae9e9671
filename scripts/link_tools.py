#!/usr/bin/env python3
"""Load and probes for a shaped test link (tests/utp_ledbat.rs, scripts/bench_utp.sh), and a
fixed-answer tracker.

    link_tools.py recv PORT              accept one TCP connection, count what arrives, print
                                         the running total ("<bytes>") every 50 ms, then "done"
    link_tools.py send HOST PORT SECS    a bulk TCP flow: zeros as fast as the path takes them
    link_tools.py echo PORT              a UDP echo server
    link_tools.py ping HOST PORT N       N UDP round trips to an echo server, 250 ms apart:
                                         prints each round trip in milliseconds ("lost" if
                                         none within 2 s)
    link_tools.py tracker PORT PEER...   an HTTP tracker (IPv6 and IPv4) that answers every
                                         announce with these peers, IP:PORT in `peers` and
                                         [IPv6]:PORT in `peers6` (BEP 7), and prints
                                         "announce <client ip> <path>" for each; for a
                                         namespace test whose client will not take
                                         127.0.0.0/8 peers, and for the IPv6 tests

The TCP flow uses plain sockets and the kernel's congestion control: what a browser or `scp`
beside a BitTorrent client looks like to the network. The ping measures the queue a
download builds at the bottleneck.
"""
import socket
import sys
import time


def recv(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(1)
    print("listening", flush=True)
    conn, _ = ls.accept()
    conn.settimeout(0.05)
    buf = bytearray(1 << 16)
    total, last = 0, 0.0
    while True:
        try:
            n = conn.recv_into(buf)
            if n == 0:
                break
            total += n
        except socket.timeout:
            pass
        now = time.monotonic()
        if now - last >= 0.05:
            print(total, flush=True)
            last = now
    print(total, flush=True)
    print("done", flush=True)


def send(host, port, secs):
    s = socket.create_connection((host, port), timeout=10)
    data = b"\0" * (1 << 16)
    end = time.monotonic() + secs
    while time.monotonic() < end:
        s.sendall(data)
    s.close()


def echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    print("listening", flush=True)
    while True:
        d, a = s.recvfrom(64)
        s.sendto(d, a)


def ping(host, port, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    for i in range(n):
        t = time.monotonic()
        s.sendto(i.to_bytes(4, "big"), (host, port))
        try:
            while int.from_bytes(s.recv(64)[:4], "big") != i:
                pass  # a late answer to an earlier probe
            print(f"{(time.monotonic() - t) * 1000:.1f}", flush=True)
        except socket.timeout:
            print("lost", flush=True)
        time.sleep(max(0.0, 0.25 - (time.monotonic() - t)))


def tracker(port, peers):
    import http.server
    import ipaddress

    v4, v6 = b"", b""
    for peer in peers:
        ip, p = peer.rsplit(":", 1)
        addr = ipaddress.ip_address(ip.strip("[]"))
        compact = addr.packed + int(p).to_bytes(2, "big")
        if addr.version == 4:
            v4 += compact
        else:
            v6 += compact
    body = b"d8:completei1e10:incompletei1e8:intervali60e5:peers%d:%s6:peers6%d:%se" % (
        len(v4), v4, len(v6), v6)

    class Announce(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ip = self.client_address[0]
            ip = ip[7:] if ip.startswith("::ffff:") else ip  # an IPv4 client, as IPv4
            print(f"announce {ip} {self.path}", flush=True)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class DualStack(http.server.HTTPServer):
        """IPv6 and IPv4 on one socket where the system has IPv6, else IPv4."""
        address_family = socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET

        def server_bind(self):
            if self.address_family == socket.AF_INET6:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

    try:
        server = DualStack(("::" if socket.has_ipv6 else "0.0.0.0", port), Announce)
    except OSError:
        DualStack.address_family = socket.AF_INET
        server = DualStack(("0.0.0.0", port), Announce)
    print("listening", flush=True)
    server.serve_forever()


def main():
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "recv":
        recv(int(a[1]))
    elif len(a) == 4 and a[0] == "send":
        send(a[1], int(a[2]), float(a[3]))
    elif len(a) == 2 and a[0] == "echo":
        echo(int(a[1]))
    elif len(a) == 4 and a[0] == "ping":
        ping(a[1], int(a[2]), int(a[3]))
    elif len(a) >= 3 and a[0] == "tracker":
        tracker(int(a[1]), a[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
