#!/usr/bin/env bash
# The session at scale (issue 16): a daemon with N complete torrents (default 1000, 64 KiB
# each), restarted. Measures, on loopback only:
#   - start: from `fast-peer daemon` until `status` lists every torrent as seeding;
#   - idle CPU: user+sys of the daemon over IDLE seconds (default 60) once all are seeding and
#     have announced, as a percentage of one core;
#   - peak RSS (VmHWM) of the daemon;
#   - how the trackers' announces are spread: the most announces in any one second, and over
#     how many seconds the N `started` announces arrived (a fake HTTP tracker on 127.0.0.1
#     records them).
#
#   bash scripts/bench_session.sh [--torrents N] [--idle SECONDS] [--work DIR] [--out FILE]
#                                 [--no-rqbit]
#
# rqbit 9.1 (when on PATH, unless --no-rqbit) gets the same session: its server with a
# persistence folder and --fastresume, the same N torrents added over its HTTP API (on
# 127.0.0.1; DHT, UPnP and LSD off), stopped and restarted; measured the same way (start:
# until its API lists every torrent live and finished).
#
# Targets (issue 16, this 2-core machine): start < 3 s, idle CPU < 2 % of one core, RSS <
# 150 MiB, announces spread out. Report: bench/results/session.md (and stdout).
set -euo pipefail

N=1000
IDLE=60
RQBIT=1
WORK=/tmp/fast-peer-bench-session
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/bench/results/session.md"
while [ $# -gt 0 ]; do
    case "$1" in
        --torrents) N="$2"; shift 2 ;;
        --idle) IDLE="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --no-rqbit) RQBIT=0; shift ;;
        *) echo "bench_session: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { echo "==> $*" >&2; }
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

log "building the release binary"
(cd "$ROOT" && cargo build --release --quiet)
FP="$ROOT/target/release/fast-peer"

rm -rf "$WORK"
mkdir -p "$WORK/data" "$WORK/torrents" "$WORK/home/run" "$WORK/home/data" "$WORK/home/config/fast-peer"
export XDG_RUNTIME_DIR="$WORK/home/run" XDG_DATA_HOME="$WORK/home/data" XDG_CONFIG_HOME="$WORK/home/config"

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# a tracker that answers every announce with no peers and writes down when each came
TRACKER_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$TRACKER_PORT" "$WORK/announces.log" <<'PY' &
import sys, time, http.server
port, path = int(sys.argv[1]), sys.argv[2]
out = open(path, "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        out.write(f"{time.time():.3f} {self.path.split('?')[0]}\n")
        body = b"d8:intervali1800e5:peers0:e"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
PIDS+=($!)

log "making $N torrents of 64 KiB"
python3 - "$WORK/data" "$N" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, f"t{i:05}.bin"), "wb") as f:
        f.write(os.urandom(64 * 1024))
PY
for f in "$WORK"/data/*.bin; do
    b=$(basename "$f" .bin)
    "$FP" create "$f" -o "$WORK/torrents/$b.torrent" \
        --tracker "http://127.0.0.1:$TRACKER_PORT/announce" >/dev/null
done

LISTEN=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$XDG_CONFIG_HOME/fast-peer/config.toml" <<EOF
download_dir = "$WORK/data"
dht = false
listen_port = $LISTEN
EOF

status_seeding() {
    "$FP" status --json 2>/dev/null | python3 -c '
import json, sys
t = json.load(sys.stdin)["torrents"]
print(sum(1 for x in t if x["state"] == "seeding"), len(t))' 2>/dev/null || echo "0 0"
}

start_daemon() {
    "$FP" daemon --log "$WORK/daemon.log" &
    DAEMON=$!
    PIDS+=("$DAEMON")
}

wait_seeding_with() {
    local deadline=$((SECONDS + 600)) seeding total
    while :; do
        read -r seeding total < <("$1")
        [ "$seeding" = "$N" ] && return 0
        [ $SECONDS -lt $deadline ] || { echo "bench_session: only $seeding/$total seeding after 600 s" >&2; exit 1; }
        sleep 0.05
    done
}

log "first start: adding $N torrents (their data is checked once)"
start_daemon
until "$FP" status >/dev/null 2>&1; do sleep 0.05; done
ls "$WORK"/torrents/*.torrent | xargs -n 200 "$FP" add --dir "$WORK/data" >/dev/null
wait_seeding_with status_seeding
kill -TERM "$DAEMON"; wait "$DAEMON" 2>/dev/null || true

# measure SEEDING_CMD: until it says N, then the announces, idle CPU and RSS of PID $DAEMON
# sets START IDLE_CPU RSS ANN MAXSEC SPAN
measure() {
    : >"$WORK/announces.log"
    local t0 t1
    t0=$(date +%s.%N)
    "$1"
    wait_seeding_with "$2"
    t1=$(date +%s.%N)
    START=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
    log "all $N seeding after $START s; waiting for the $N announces, then idle for $IDLE s"
    # idle means after the start-up announces (fast-peer spreads them over ~N/50 s)
    local deadline=$((SECONDS + 120))
    while [ "$(wc -l <"$WORK/announces.log")" -lt "$N" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    sleep 2
    local ticks c0 c1
    ticks=$(getconf CLK_TCK)
    c0=$(awk '{print $14 + $15}' "/proc/$DAEMON/stat")
    sleep "$IDLE"
    c1=$(awk '{print $14 + $15}' "/proc/$DAEMON/stat")
    IDLE_CPU=$(python3 -c "print(f'{($c1 - $c0) / $ticks / $IDLE * 100:.2f}')")
    RSS=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$DAEMON/status")
    read -r ANN MAXSEC SPAN < <(python3 - "$WORK/announces.log" <<'PY'
import sys, collections
ts = [float(l.split()[0]) for l in open(sys.argv[1]) if l.strip()]
if not ts:
    print(0, 0, 0); sys.exit()
per = collections.Counter(int(t) for t in ts)
print(len(ts), max(per.values()), f"{max(ts) - min(ts):.1f}")
PY
)
}

log "restart: timing until every torrent seeds"
measure start_daemon status_seeding
FP_ROW="| fast-peer | $START s | $IDLE_CPU % | $RSS MiB | $ANN | $MAXSEC | $SPAN s |"
kill -TERM "$DAEMON"; wait "$DAEMON" 2>/dev/null || true

RQ_ROW=""
if [ "$RQBIT" = 1 ] && command -v rqbit >/dev/null 2>&1; then
    API=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    RQ_LISTEN=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$WORK/rqbit"
    start_rqbit() {
        rqbit --disable-dht --disable-dht-persistence --disable-upnp-port-forward --disable-lsd \
            --http-api-listen-addr "127.0.0.1:$API" --listen-port "$RQ_LISTEN" \
            server start --persistence-location "$WORK/rqbit" --fastresume "$WORK/data/" \
            >"$WORK/rqbit.log" 2>&1 &
        DAEMON=$!
        PIDS+=("$DAEMON")
    }
    rqbit_seeding() {
        curl -s "127.0.0.1:$API/torrents?with_stats=true" 2>/dev/null | python3 -c '
import json, sys
t = json.load(sys.stdin)["torrents"]
print(sum(1 for x in t if (x.get("stats") or {}).get("state") == "live" and x["stats"].get("finished")), len(t))' 2>/dev/null || echo "0 0"
    }
    log "rqbit: first start, adding $N torrents over its HTTP API"
    start_rqbit
    until curl -s "127.0.0.1:$API/" >/dev/null 2>&1; do sleep 0.05; done
    for t in "$WORK"/torrents/*.torrent; do
        curl -s -X POST --data-binary @"$t" "127.0.0.1:$API/torrents?overwrite=true" >/dev/null
    done
    wait_seeding_with rqbit_seeding
    kill -TERM "$DAEMON"; wait "$DAEMON" 2>/dev/null || true
    log "rqbit: restart"
    measure start_rqbit rqbit_seeding
    RQ_ROW="| rqbit 9.1.0 (--fastresume) | $START s | $IDLE_CPU % | $RSS MiB | $ANN | $MAXSEC | $SPAN s |"
    kill -TERM "$DAEMON"; wait "$DAEMON" 2>/dev/null || true
fi

mkdir -p "$(dirname "$OUT")"
{
    echo "# Session benchmark: $N torrents restarted"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs; git $(cd "$ROOT" && git rev-parse --short HEAD)"
    echo "- $N torrents of 64 KiB, complete, restarted with their resume data; one fake HTTP tracker on 127.0.0.1"
    echo "- command: \`scripts/bench_session.sh --torrents $N --idle $IDLE\`"
    echo "- targets (issue 16): start < 3 s, idle CPU < 2 % of one core, RSS < 150 MiB, announces spread out"
    echo
    echo "| client | start until all seeding | idle CPU over $IDLE s | peak RSS | announces | most in one second | spanned |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    echo "$FP_ROW"
    [ -n "$RQ_ROW" ] && echo "$RQ_ROW"
} | tee "$OUT"
