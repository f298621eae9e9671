#!/usr/bin/python3
"""Helpers for scripts/bench.sh (standard library only; talks to 127.0.0.0/8 only).

  gen --case 1g|16k|multi|magnet --dir PARENT
      Write the case's deterministic content under PARENT (an AES-128-CTR keystream from
      `openssl enc`, a different key per case: incompressible, reproducible, fast). Prints the
      name of the file or folder it made.
  retrack --in T --out T2 --announce URL
      Copy torrent T with its announce URL replaced (the info dict, hence the info hash, is
      unchanged).
  infohash T
      Print the v1 info hash (40 hex).
  scrape --tracker ANNOUNCE_URL --infohash HEX
      Print `complete incomplete` from the tracker's scrape reply (0 0 if the torrent is
      unknown; exit 1 if the tracker does not answer).
  report --results TSV --meta META --mode download|seeding [--out MD]
      Medians and ratios as a markdown report, printed to stdout and written to MD.
"""

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import urllib.parse
import urllib.request

MiB = 1024 * 1024

# ---------------------------------------------------------------------------------------------
# Content

CASES = {
    # name: (key, what)
    "1g": ("00112233445566778899aabbccddeeff", ("file", "bench-1g.bin", 1024 * MiB)),
    "16k": ("0f1e2d3c4b5a69788796a5b4c3d2e1f0", ("file", "bench-256m-16k.bin", 256 * MiB)),
    "multi": ("a5a5a5a55a5a5a5a0123456789abcdef", ("dir", "bench multi", None)),
    # downloaded from a magnet link: metadata (BEP 9) first, then the pieces
    "magnet": ("5a5a5a5aa5a5a5a5fedcba9876543210", ("file", "bench-magnet-64m.bin", 64 * MiB)),
    # the uTP comparison (issue 19): a .torrent this time
    "64m": ("3c3c3c3cc3c3c3c30f0f0f0ff0f0f0f0", ("file", "bench-64m.bin", 64 * MiB)),
}

# About 31 MiB in nested folders: names with spaces, zero-length files, sizes that make files
# start and end in the middle of pieces.
MULTI_FILES = [
    ("README.txt", 1234),
    ("empty at root.txt", 0),
    ("docs/a.txt", 100_000),
    ("docs/nested deeper/b c.bin", 3_333_333),
    ("docs/nested deeper/empty.bin", 0),
    ("media/clip 01.bin", 7_777_777),
    ("media/clip 02.bin", 5_000_001),
    ("media/sub/one/two/three/deep.bin", 2_500_000),
    ("media/sub/one/tiny.bin", 17),
    ("src/x/y/z/file with spaces.dat", 6_000_000),
] + [(f"src/x/y/z/small {i:02d}.dat", 1 + (i * 7919 * 13) % 200_000) for i in range(40)] + [
    ("zz last.bin", 4 * MiB + 1),
]


class Keystream:
    def __init__(self, key):
        self.zero = open("/dev/zero", "rb")
        self.proc = subprocess.Popen(
            ["openssl", "enc", "-aes-128-ctr", "-nosalt", "-K", key, "-iv", "0" * 32],
            stdin=self.zero, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def copy_to(self, path, size):
        with open(path, "wb") as f:
            left = size
            while left:
                chunk = self.proc.stdout.read(min(left, 4 * MiB))
                if not chunk:
                    raise SystemExit("openssl stream ended early")
                f.write(chunk)
                left -= len(chunk)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.zero.close()


def cmd_gen(a):
    key, (kind, name, size) = CASES[a.case]
    os.makedirs(a.dir, exist_ok=True)
    final = os.path.join(a.dir, name)
    tmp = final + ".partial"
    ks = Keystream(key)
    try:
        if kind == "file":
            ks.copy_to(tmp, size)
        else:
            for rel, sz in MULTI_FILES:
                p = os.path.join(tmp, rel)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                ks.copy_to(p, sz)
    finally:
        ks.close()
    os.rename(tmp, final)
    print(name)


# ---------------------------------------------------------------------------------------------
# Bencode (just enough for torrents and scrape replies)

def bdecode(data, i=0):
    c = data[i:i + 1]
    if c == b"i":
        j = data.index(b"e", i)
        return int(data[i + 1:j]), j + 1
    if c == b"l":
        out, i = [], i + 1
        while data[i:i + 1] != b"e":
            v, i = bdecode(data, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while data[i:i + 1] != b"e":
            k, i = bdecode(data, i)
            v, i = bdecode(data, i)
            out[k] = v
        return out, i + 1
    j = data.index(b":", i)
    n = int(data[i:j])
    return data[j + 1:j + 1 + n], j + 1 + n


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, str):
        return bencode(v.encode())
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"
    raise TypeError(type(v))


def info_slice(raw):
    """The exact bytes of the info dict (re-encoding could reorder a non-canonical torrent)."""
    assert raw[:1] == b"d"
    i = 1
    while raw[i:i + 1] != b"e":
        k, i = bdecode(raw, i)
        start = i
        _, i = bdecode(raw, i)
        if k == b"info":
            return raw[start:i]
    raise SystemExit("no info dict")


def cmd_retrack(a):
    raw = open(a.infile, "rb").read()
    info = info_slice(raw)
    t, _ = bdecode(raw)
    t.pop(b"announce-list", None)
    t[b"announce"] = a.announce.encode()
    t[b"info"] = b"\0INFO\0"
    out = bencode(t).replace(bencode(b"\0INFO\0"), info, 1)
    assert hashlib.sha1(info_slice(out)).digest() == hashlib.sha1(info).digest()
    with open(a.out + ".tmp", "wb") as f:
        f.write(out)
    os.rename(a.out + ".tmp", a.out)


def cmd_infohash(a):
    print(hashlib.sha1(info_slice(open(a.torrent, "rb").read())).hexdigest())


def cmd_scrape(a):
    url = a.tracker
    host = urllib.parse.urlsplit(url).hostname or ""
    if not host.startswith("127."):
        raise SystemExit(f"refusing to contact {host}: loopback only")
    if not url.endswith("/announce"):
        raise SystemExit("announce URL must end in /announce")
    ih = bytes.fromhex(a.infohash)
    surl = url[: -len("/announce")] + "/scrape?info_hash=" + urllib.parse.quote_from_bytes(ih)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        body = opener.open(surl, timeout=2).read()
        d, _ = bdecode(body)
        f = d.get(b"files", {}).get(ih, {})
        print(f.get(b"complete", 0), f.get(b"incomplete", 0))
    except Exception as e:  # tracker not up (yet)
        print(f"scrape: {e}", file=sys.stderr)
        sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Report

def read_meta(path):
    meta = {}
    for line in open(path):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            meta[k] = v
    return meta


def read_results(path):
    rows = []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            if line.strip():
                rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    return rows


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, nd=2):
    return "–" if x is None else f"{x:.{nd}f}"


def summarize(rows, cpus=None):
    ok = [r for r in rows if r["ok"] == "1"]
    s = {
        # share of the machine's CPU time the client and the seeders used together during the
        # run: near 1.0 the run is CPU-bound and the wall follows the CPU every process spends
        "busy": med([(float(r["user_s"]) + float(r["sys_s"]) + float(r["seeder_cpu_s"]))
                     / (float(r["wall_s"]) * cpus)
                     for r in ok if cpus and r.get("seeder_cpu_s") and float(r["wall_s"]) > 0]),
        "n": len(rows),
        "ok": len(ok),
        "wall": med([float(r["wall_s"]) for r in ok]),
        "rss": med([int(r["rss_kb"]) / 1024 for r in ok]),
        "cpu": med([float(r["user_s"]) + float(r["sys_s"]) for r in ok]),
        "seeder_cpu": med([float(r["seeder_cpu_s"]) for r in ok if r.get("seeder_cpu_s")]),
        "seeder_rss": max([int(r["seeder_rss_kb"]) / 1024 for r in ok
                           if r.get("seeder_rss_kb", "0") not in ("", "0")], default=None),
        "bytes": int(rows[0]["bytes"]) if rows else 0,
        "walls": " ".join(
            (f"{float(r['wall_s']):.1f}" if r["ok"] == "1" else f"FAIL({r['note']})") for r in rows),
    }
    s["mibs"] = s["bytes"] / MiB / s["wall"] if s["wall"] else None
    return s


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def facts(meta):
    out = [
        f"- date: {meta.get('date', '?')}",
        f"- machine: {meta.get('nproc', '?')} CPUs ({meta.get('cpu', '?')}), "
        f"{meta.get('mem', '?')} RAM, kernel {meta.get('kernel', '?')}; shared machine, "
        f"numbers are indicative",
        f"- fast-peer: {meta.get('fast_peer', '?')}",
        f"- aria2: {meta.get('aria2', '?')}",
        f"- libtorrent: {meta.get('libtorrent', '?')} (scripts/lt_peer.py)",
        f"- opentracker: {meta.get('opentracker', '?')}",
        f"- rqbit: {meta.get('rqbit', 'not on PATH: skipped')}",
        f"- rounds: {meta.get('rounds', '?')}, per-run timeout {meta.get('timeout', '?')} s, "
        f"clients interleaved round by round (start rotated each round)",
        f"- command: `{meta.get('command', '?')}`",
    ]
    return out


def report_download(rows, meta):
    lines = ["# fast-peer download benchmark", ""] + facts(meta) + [
        "",
        "Swarm: two libtorrent seeders (127.0.0.11, 127.0.0.12) found through opentracker on "
        "127.0.0.1 (HTTP). Each client downloads the whole torrent into an empty folder; wall, peak "
        "RSS and user+sys CPU come from `/usr/bin/time -v` around the whole process (start-up and "
        "shutdown included), every run is verified with sha1sum against the source. Medians over "
        "the runs that verified. Ratios are fast-peer against that row's client: speed = their "
        "wall / our wall (>1: fast-peer is faster), RSS and CPU = ours / theirs (<1: fast-peer "
        "uses less). Seeders CPU = user+sys of both libtorrent seeders during the run. CPU busy = "
        "(client CPU + seeders CPU) / (wall x CPUs), median over the runs: near 1.00 the "
        "machine's cores were saturated, so the wall follows the CPU time of every process.",
        "",
    ]
    cases = []
    for r in rows:
        if r["case"] not in cases:
            cases.append(r["case"])
    for case in cases:
        crow = [r for r in rows if r["case"] == case]
        size = int(crow[0]["bytes"])
        lines += [f"## {case} ({crow[0]['desc']}, {size / MiB:.1f} MiB)", "",
                  "| client | ok | wall s | MiB/s | peak RSS MiB | CPU s | seeders CPU s "
                  "| CPU busy | fast-peer speed ratio | RSS ratio | CPU ratio | runs (wall s) |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        clients = []
        for r in crow:
            if r["client"] not in clients:
                clients.append(r["client"])
        cpus = int(meta["nproc"]) if meta.get("nproc", "").isdigit() else None
        sums = {c: summarize([r for r in crow if r["client"] == c], cpus) for c in clients}
        fp = sums.get("fast-peer")
        for c in clients:
            s = sums[c]
            if c == "fast-peer" or fp is None:
                rs = ("–", "–", "–")
            else:
                rs = (fmt(ratio(s["wall"], fp["wall"])), fmt(ratio(fp["rss"], s["rss"])),
                      fmt(ratio(fp["cpu"], s["cpu"])))
            lines.append(
                f"| {c} | {s['ok']}/{s['n']} | {fmt(s['wall'])} | {fmt(s['mibs'], 1)} | "
                f"{fmt(s['rss'], 1)} | {fmt(s['cpu'])} | {fmt(s['seeder_cpu'])} | "
                f"{fmt(s['busy'])} | {rs[0]} | {rs[1]} | {rs[2]} | {s['walls']} |")
        lines.append("")
    return lines


def report_seeding(rows, meta):
    lines = ["# fast-peer seeding benchmark (issue 4)", ""] + facts(meta) + [
        "",
        "Reverse direction: each leecher downloads the case from ONE seeder, either "
        "`fast-peer seed` or one libtorrent seeder (each seeder has its own opentracker, so the "
        "leecher sees exactly one seeder). Leecher wall/RSS/CPU from `/usr/bin/time -v`; seeder "
        "CPU = the seeder process's user+sys during the run (from /proc), seeder RSS = its peak "
        "(VmHWM) over the whole session. Speed ratio = wall with the libtorrent seeder / wall "
        "with the fast-peer seeder (>1: fast-peer seeds faster); seeder CPU ratio = fast-peer / "
        "libtorrent (<1: fast-peer is cheaper).",
        "",
    ]
    cases = []
    for r in rows:
        if r["case"] not in cases:
            cases.append(r["case"])
    for case in cases:
        crow = [r for r in rows if r["case"] == case]
        size = int(crow[0]["bytes"])
        lines += [f"## {case} ({crow[0]['desc']}, {size / MiB:.1f} MiB)", "",
                  "| leecher | seeder | ok | wall s | MiB/s | leecher RSS MiB | leecher CPU s "
                  "| seeder CPU s | seeder peak RSS MiB | speed ratio | seeder CPU ratio "
                  "| runs (wall s) |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        leechers = []
        for r in crow:
            if r["client"] not in leechers:
                leechers.append(r["client"])
        for lc in leechers:
            seeders = []
            for r in crow:
                if r["client"] == lc and r["seeder"] not in seeders:
                    seeders.append(r["seeder"])
            sums = {sd: summarize([r for r in crow if r["client"] == lc and r["seeder"] == sd])
                    for sd in seeders}
            fp = sums.get("fast-peer")
            for sd in seeders:
                s = sums[sd]
                if sd == "fast-peer" or fp is None:
                    rs = ("–", "–")
                else:
                    rs = (fmt(ratio(s["wall"], fp["wall"])),
                          fmt(ratio(fp["seeder_cpu"], s["seeder_cpu"])))
                lines.append(
                    f"| {lc} | {sd} | {s['ok']}/{s['n']} | {fmt(s['wall'])} | "
                    f"{fmt(s['mibs'], 1)} | {fmt(s['rss'], 1)} | {fmt(s['cpu'])} | "
                    f"{fmt(s['seeder_cpu'])} | {fmt(s['seeder_rss'], 1)} | {rs[0]} | {rs[1]} | "
                    f"{s['walls']} |")
        lines.append("")
    return lines


def cmd_report(a):
    rows = read_results(a.results)
    meta = read_meta(a.meta)
    lines = (report_seeding if a.mode == "seeding" else report_download)(rows, meta)
    notes = [l for l in meta.get("notes", "").split("|") if l.strip()]
    if notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    text = "\n".join(lines)
    print(text)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--case", required=True, choices=sorted(CASES))
    g.add_argument("--dir", required=True)
    r = sub.add_parser("retrack")
    r.add_argument("--in", dest="infile", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--announce", required=True)
    i = sub.add_parser("infohash")
    i.add_argument("torrent")
    s = sub.add_parser("scrape")
    s.add_argument("--tracker", required=True)
    s.add_argument("--infohash", required=True)
    p = sub.add_parser("report")
    p.add_argument("--results", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--mode", choices=["download", "seeding"], default="download")
    p.add_argument("--out")
    a = ap.parse_args()
    {"gen": cmd_gen, "retrack": cmd_retrack, "infohash": cmd_infohash, "scrape": cmd_scrape,
     "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
