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
#
# Targets (issue 16, this 2-core machine): start < 3 s, idle CPU < 2 % of one core, RSS <
# 150 MiB, announces spread out. Report: bench/results/session.md (and stdout).
set -euo pipefail

N=1000
IDLE=60
WORK=/tmp/fast-peer-bench-session
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/bench/results/session.md"
while [ $# -gt 0 ]; do
    case "$1" in
        --torrents) N="$2"; shift 2 ;;
        --idle) IDLE="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
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

wait_seeding() {
    local deadline=$((SECONDS + 600))
    while :; do
        read -r seeding total < <(status_seeding)
        [ "$seeding" = "$N" ] && return 0
        [ $SECONDS -lt $deadline ] || { echo "bench_session: only $seeding/$total seeding after 600 s" >&2; exit 1; }
        sleep 0.05
    done
}

log "first start: adding $N torrents (their data is checked once)"
start_daemon
until "$FP" status >/dev/null 2>&1; do sleep 0.05; done
ls "$WORK"/torrents/*.torrent | xargs -n 200 "$FP" add --dir "$WORK/data" >/dev/null
wait_seeding
kill -TERM "$DAEMON"; wait "$DAEMON" 2>/dev/null || true

log "restart: timing until every torrent seeds"
: >"$WORK/announces.log"
t0=$(date +%s.%N)
start_daemon
wait_seeding
t1=$(date +%s.%N)
START=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
log "all $N seeding after $START s; waiting for the $N announces, then idle for $IDLE s"
# idle means after the start-up announces (spread over ~N/50 s by the engine's announce gate)
deadline=$((SECONDS + 120))
while [ "$(wc -l <"$WORK/announces.log")" -lt "$N" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
sleep 2

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$DAEMON/stat"; }
c0=$(cpu)
sleep "$IDLE"
c1=$(cpu)
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
kill -TERM "$DAEMON"; wait "$DAEMON" 2>/dev/null || true

mkdir -p "$(dirname "$OUT")"
{
    echo "# fast-peer session benchmark"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs; git $(cd "$ROOT" && git rev-parse --short HEAD)"
    echo "- $N torrents of 64 KiB, complete, restarted with their resume data; one fake HTTP tracker on 127.0.0.1"
    echo "- command: \`scripts/bench_session.sh --torrents $N --idle $IDLE\`"
    echo
    echo "| measure | value | target |"
    echo "|---|---:|---:|"
    echo "| start until all seeding | $START s | < 3 s |"
    echo "| idle CPU over $IDLE s | $IDLE_CPU % of one core | < 2 % |"
    echo "| peak RSS | $RSS MiB | < 150 MiB |"
    echo "| announces after the restart | $ANN | $N |"
    echo "| most announces in one second | $MAXSEC | spread out |"
    echo "| seconds the announces spanned | $SPAN s | |"
} | tee "$OUT"
