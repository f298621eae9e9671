#!/usr/bin/env bash
# Download speed over a long round trip, side by side: fast-peer, rqbit 9.1.0 and libtorrent.
#
#   bash scripts/bench_latency.sh [--delay-ms MS] [--rounds N] [--no-build] [--out FILE]
#
# One libtorrent seeder (scripts/lt_peer.py) of the 64 MiB "magnet" content of scripts/bench.sh
# (256 KiB pieces, cached in /tmp/fast-peer-bench) sits behind scripts/delay_relay.py, which
# delays every byte by MS milliseconds each way (default 20: a 40 ms round trip, no bandwidth
# cap). Each client is given the relay's address as its only peer (`fast-peer download --peer`,
# `rqbit --initial-peers`, `lt_peer.py leech --peer`; aria2 has no way to be given a peer and
# is left out) and downloads into an empty folder. Rounds are interleaved, each run is timed as
# a whole process with /usr/bin/time and verified with sha1sum. What it measures: how fast a
# client fills the pipe when every request costs a round trip (the request pipeline's depth
# and how fast it grows). Report: bench/results/latency-latest.md (and stdout). Nothing leaves
# 127.0.0.0/8.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3
TOOL="$ROOT/scripts/bench_report.py"
LT_PEER="$ROOT/scripts/lt_peer.py"
WORK=/tmp/fast-peer-bench
DELAY_MS=20
ROUNDS=5
BUILD=1
OUT_MD="$ROOT/bench/results/latency-latest.md"
CMDLINE="scripts/bench_latency.sh $*"
while [ $# -gt 0 ]; do
    case "$1" in
        --delay-ms) DELAY_MS="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --out) OUT_MD="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_latency: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "bench_latency: --rounds needs a positive number" >&2; exit 2; }
[[ "$DELAY_MS" =~ ^[0-9]+$ ]] || { echo "bench_latency: --delay-ms needs a whole number" >&2; exit 2; }

die() { echo "bench_latency: $*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }
# shellcheck source=bench_lib.sh
. "$ROOT/scripts/bench_lib.sh"
$PY -c 'import libtorrent' 2>/dev/null || die "python3-libtorrent missing (apt-get install python3-libtorrent)"
if [ "$BUILD" = 1 ]; then (cd "$ROOT" && cargo build --release --quiet); fi
FP="$ROOT/target/release/fast-peer"
[ -x "$FP" ] || die "no $FP"
CLIENTS=(fast-peer libtorrent)
if command -v rqbit >/dev/null 2>&1; then CLIENTS+=(rqbit); else echo "bench_latency: rqbit not on PATH, left out" >&2; fi
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

prepare_case magnet # sets DATA, NAME, SRC_TORRENT, MANIFEST, BYTES
TORRENT=$SRC_TORRENT
WANT=$(cut -d' ' -f1 "$MANIFEST")

RUN="$(mktemp -d /tmp/fast-peer-bench-latency.XXXXXX)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$RUN"
}
trap cleanup EXIT
wait_line() { # FILE PATTERN PID WHAT
    for _ in $(seq 600); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || die "$4 exited: $(tail -3 "$1" "$1.err" 2>/dev/null)"
        sleep 0.1
    done
    die "$4 not ready after 60 s"
}

SEED_PORT=$(free_port)
RELAY_PORT=$(free_port)
# the seeder's stdin stays open until this script exits (lt_peer.py stops when it closes)
tail --pid=$$ -f /dev/null | $PY "$ROOT/scripts/lt_peer.py" seed --torrent "$TORRENT" --data "$DATA" \
    --ip 127.0.0.51 --port "$SEED_PORT" --no-tracker-wait >"$RUN/seed" 2>"$RUN/seed.err" &
PIDS+=($!)
wait_line "$RUN/seed" '^READY' "$!" "the libtorrent seeder"
$PY "$ROOT/scripts/delay_relay.py" 127.0.0.52 "$RELAY_PORT" 127.0.0.51 "$SEED_PORT" \
    "$(awk "BEGIN {print $DELAY_MS / 1000}")" >"$RUN/relay" 2>"$RUN/relay.err" &
PIDS+=($!)
wait_line "$RUN/relay" '^READY' "$!" "the delay relay"
PEER="127.0.0.52:$RELAY_PORT"

RESULTS="$RUN/results"
: >"$RESULTS"
for round in $(seq "$ROUNDS"); do
    for client in "${CLIENTS[@]}"; do
        out="$RUN/out"
        rm -rf "$out"; mkdir -p "$out"
        case "$client" in
            fast-peer) cmd=("$FP" --no-dht download --peer "$PEER" -o "$out/$NAME" "$TORRENT") ;;
            rqbit) cmd=(rqbit --disable-dht --disable-dht-persistence --disable-upnp-port-forward --disable-lsd download --exit-on-finish
                        --initial-peers "$PEER" -o "$out" "$TORRENT") ;;
            libtorrent) cmd=("$PY" "$ROOT/scripts/lt_peer.py" leech --torrent "$TORRENT" --out "$out"
                             --ip 127.0.0.53 --peer "$PEER" --timeout 120) ;;
        esac
        rc=0
        (cd "$out" && /usr/bin/time -f "%e %U %S %M" -o "$RUN/time" timeout -k 5 120 "${cmd[@]}") \
            </dev/null >"$RUN/run.out" 2>"$RUN/run.err" || rc=$?
        got=$(sha1sum "$out/$NAME" 2>/dev/null | cut -d' ' -f1 || true)
        read -r wall user sys rss < <(tail -1 "$RUN/time")
        ok=0; [ "$rc" = 0 ] && [ "$got" = "$WANT" ] && ok=1
        printf '%s\t%s\t%s\t%s\t%s\n' "$client" "$ok" "$wall" "$(awk "BEGIN {print $user + $sys}")" "$rss" >>"$RESULTS"
        printf 'round %s %-10s %6.2f s  %s\n' "$round" "$client" "$wall" "$([ $ok = 1 ] && echo verified || echo "FAILED (exit $rc)")"
    done
done

$PY - "$RESULTS" "$BYTES" "$DELAY_MS" "$ROUNDS" "$CMDLINE" "$("$FP" --version)" >"$OUT_MD" <<'PYEOF'
import statistics, sys, datetime
path, size, delay, rounds, cmdline, version = sys.argv[1:7]
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
clients = []
for r in rows:
    if r[0] not in clients:
        clients.append(r[0])
med = {}
out = ["# fast-peer over a long round trip", "",
       f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {version}",
       f"- 64 MiB (256 KiB pieces) from one libtorrent seeder behind a relay adding {delay} ms each way "
       f"(round trip {2 * int(delay)} ms, no bandwidth cap); each client is given the relay as its only peer",
       f"- {rounds} interleaved rounds, whole-process wall time, every run verified with sha1sum; medians",
       f"- command: `{cmdline}`", "",
       "| client | ok | wall s | MiB/s | CPU s | fast-peer speed ratio | runs (wall s) |",
       "|---|---|---:|---:|---:|---:|---|"]
for c in clients:
    rs = [r for r in rows if r[0] == c]
    ok = [r for r in rs if r[1] == "1"]
    med[c] = statistics.median(float(r[2]) for r in ok) if ok else None
for c in clients:
    rs = [r for r in rows if r[0] == c]
    ok = [r for r in rs if r[1] == "1"]
    w = med[c]
    cpu = statistics.median(float(r[3]) for r in ok) if ok else None
    fp = med.get("fast-peer")
    ratio = "–" if c == "fast-peer" or not (w and fp) else f"{w / fp:.2f}"
    runs = " ".join(f"{float(r[2]):.2f}" if r[1] == "1" else "FAIL" for r in rs)
    fmt = lambda x, f: "–" if x is None else f.format(x)
    out.append(f"| {c} | {len(ok)}/{len(rs)} | {fmt(w, '{:.2f}')} | "
               f"{fmt(w and int(size) / 1048576 / w, '{:.1f}')} | {fmt(cpu, '{:.2f}')} | {ratio} | {runs} |")
print("\n".join(out))
PYEOF
cat "$OUT_MD"
