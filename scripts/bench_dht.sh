#!/usr/bin/env bash
# Magnet-to-complete through a private DHT (BEP 5), side by side: `fast-peer dht`, libtorrent
# (scripts/lt_dht.py leech, DHT only) and aria2 (--enable-dht, --dht-entry-point), on loopback.
#
#   scripts/bench_dht.sh [--size MIB] [--runs N] [--no-build] [--out FILE]
#
# One libtorrent seeder (no tracker) announced into a private DHT of 8 libtorrent nodes on
# 127.0.85.x (scripts/lt_dht.py swarm). Each client gets only a magnet link (info hash, no
# tracker, no peer) and one DHT node as its entry point, starts with an empty routing table
# and an empty folder, and is timed from start to exit (metadata, download, verification).
# Runs are interleaved (fast-peer, libtorrent, aria2, fast-peer, ...); every result is checked
# by SHA-1. Prints one line per run and the median per client. Nothing leaves 127.0.0.0/8.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SIZE_MIB=64
RUNS=3
BUILD=1
OUT_FILE=""
while [ $# -gt 0 ]; do
    case "$1" in
        --size) SIZE_MIB="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --out) OUT_FILE="$2"; shift 2 ;;
        *) echo "usage: $0 [--size MIB] [--runs N] [--no-build] [--out FILE]" >&2; exit 2 ;;
    esac
done

die() { echo "bench_dht: $*" >&2; exit 1; }
command -v aria2c >/dev/null || die "aria2c missing (apt-get install aria2)"
/usr/bin/python3 -c 'import libtorrent' 2>/dev/null || die "python3-libtorrent missing"
if [ $BUILD = 1 ]; then (cd "$ROOT" && cargo build --release --quiet); fi
FP="$ROOT/target/release/fast-peer"
[ -x "$FP" ] || die "no $FP"

WORK="$(mktemp -d /tmp/fast-peer-bench-dht.XXXXXX)"
SWARM_PID=""
cleanup() {
    if [ -n "$SWARM_PID" ]; then kill "$SWARM_PID" 2>/dev/null || true; wait "$SWARM_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

NAME="bench-$SIZE_MIB.bin"
mkdir -p "$WORK/data"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$WORK/data/$NAME"
WANT="$(sha1sum "$WORK/data/$NAME" | cut -d' ' -f1)"
HASH="$(/usr/bin/python3 "$ROOT/scripts/lt_peer.py" create --path "$WORK/data/$NAME" \
    --piece-length $((1024 * 1024)) --tracker http://127.0.0.1:1/announce --out "$WORK/t.torrent")"
MAGNET="magnet:?xt=urn:btih:$HASH"

# the private DHT; its stdin is a fifo we hold open, so it lives as long as this script
mkfifo "$WORK/swarm.in"
/usr/bin/python3 "$ROOT/scripts/lt_dht.py" swarm --ip-prefix 127.0.85. --nodes 8 --port 6881 \
    --seed "$WORK/t.torrent" "$WORK/data" <"$WORK/swarm.in" >"$WORK/swarm.out" 2>"$WORK/swarm.err" &
SWARM_PID=$!
exec 9>"$WORK/swarm.in"
for _ in $(seq 1500); do
    grep -q '^READY' "$WORK/swarm.out" 2>/dev/null && break
    kill -0 "$SWARM_PID" 2>/dev/null || die "lt_dht.py died: $(cat "$WORK/swarm.err")"
    sleep 0.1
done
grep -q '^READY' "$WORK/swarm.out" || die "the private DHT never got ready"
NODE="$(awk '/^NODE/ {print $2; exit}' "$WORK/swarm.out")"
NODE_IP="${NODE%:*}"; NODE_PORT="${NODE##*:}"

now() { date +%s.%N; }
results=()
run_one() {
    local client="$1" run="$2" out="$WORK/out-$1-$2"
    mkdir -p "$out"
    local t0 t1 ok
    t0="$(now)"
    case "$client" in
        fast-peer)
            "$FP" --bootstrap "$NODE" --dht-port 0 --dht-state "$out.dht.dat" dht --port 0 \
                --dir "$out" "$MAGNET" >"$out.log" 2>&1 ;;
        libtorrent)
            /usr/bin/python3 "$ROOT/scripts/lt_dht.py" leech --magnet "$MAGNET" --out "$out" \
                --ip 127.0.85.201 --port $((20000 + run)) --node "$NODE" --timeout 300 >"$out.log" 2>&1 ;;
        aria2)
            aria2c --enable-dht=true --enable-dht6=false --dht-entry-point="$NODE_IP:$NODE_PORT" \
                --dht-listen-port=$((21000 + run)) --dht-file-path="$out.aria2-dht.dat" \
                --listen-port=$((22000 + run)) --seed-time=0 --bt-enable-lpd=false \
                --enable-peer-exchange=false --disable-ipv6=true --no-conf=true \
                --file-allocation=none --summary-interval=0 --console-log-level=warn \
                --bt-save-metadata=false --dir="$out" "$MAGNET" >"$out.log" 2>&1 ;;
    esac
    t1="$(now)"
    local got
    got="$(sha1sum "$out/$NAME" 2>/dev/null | cut -d' ' -f1 || true)"
    if [ "$got" = "$WANT" ]; then ok=ok; else ok="BAD($(tail -3 "$out.log" | tr '\n' ' '))"; fi
    local secs
    secs="$(echo "$t1 - $t0" | bc -l)"
    printf '%-10s run %d  %6.2f s  %s\n' "$client" "$run" "$secs" "$ok"
    results+=("$client $secs $ok")
    rm -rf "$out"
}

echo "magnet-to-complete, ${SIZE_MIB} MiB, private DHT of 8 libtorrent nodes + 1 libtorrent seeder on 127.0.85.x"
echo "fast-peer $("$FP" --version | head -1), git $(cd "$ROOT" && git rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC')"
for run in $(seq "$RUNS"); do
    for client in fast-peer libtorrent aria2; do
        run_one "$client" "$run"
    done
done
echo "median:"
for client in fast-peer libtorrent aria2; do
    med="$(printf '%s\n' "${results[@]}" | awk -v c="$client" '$1 == c && $3 == "ok" {print $2}' | sort -n |
        awk '{a[NR] = $1} END {if (NR == 0) print "n/a"; else if (NR % 2) printf "%.2f", a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2}')"
    printf '  %-10s %s s\n' "$client" "$med"
done | tee "${OUT_FILE:-/dev/null}"
