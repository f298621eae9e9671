#!/usr/bin/env bash
# How exactly fast-peer keeps its rate limits (issue 17), on loopback.
#
#   bash scripts/bench_limits.sh [--rates 256K,1M,4M,16M,50M] [--seconds 10] [--work DIR]
#                                [--no-build] [--out FILE]
#
# For each rate R, content of R x SECONDS bytes (random, 256 KiB pieces):
# - download: `fast-peer download --download-limit R` from one unlimited libtorrent seeder;
# - upload: one unlimited libtorrent leecher downloads from `fast-peer seed --upload-limit R`.
# The achieved rate is the content size over the transfer's wall time (the download's whole
# run; the leecher's run, its start-up included), so a few hundred milliseconds of
# connection set-up count against us. Report: bench/results/limits.md (and stdout), with the
# error against the target. Everything runs on 127.0.0.0/8; everything started is stopped on
# exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3
LT_PEER="$ROOT/scripts/lt_peer.py"
WORK=/tmp/fast-peer-bench-limits
RATES=256K,1M,4M,16M,50M
SECONDS_EACH=10
BUILD=1
OUT_MD="$ROOT/bench/results/limits.md"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --rates) RATES="$2"; shift 2 ;;
        --seconds) SECONDS_EACH="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --out) OUT_MD="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench_limits: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
log() { echo "[bench_limits] $*" >&2; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

if [ "$BUILD" = 1 ]; then
    (cd "$ROOT" && cargo build --release --quiet)
fi
FP="$ROOT/target/release/fast-peer"
free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# bytes per second of a rate such as 256K or 50M (binary multiples, like the CLI)
bytes_of() {
    $PY -c 'import sys; s=sys.argv[1].upper(); m={"K":1<<10,"M":1<<20,"G":1<<30}
print(int(float(s[:-1])*m[s[-1]]) if s[-1] in m else int(s))' "$1"
}
now() { date +%s.%N; }

mkdir -p "$WORK" "$(dirname "$OUT_MD")"
ROWS="$WORK/rows.tsv"
: >"$ROWS"
IFS=, read -r -a RATE_LIST <<<"$RATES"
for r in "${RATE_LIST[@]}"; do
    rate=$(bytes_of "$r")
    size=$((rate * SECONDS_EACH))
    d="$WORK/$r"
    rm -rf "$d"; mkdir -p "$d/src"
    head -c "$size" /dev/urandom >"$d/src/data.bin"
    $PY "$LT_PEER" create --path "$d/src/data.bin" --piece-length 262144 \
        --tracker "http://127.0.0.1:1/announce" --out "$d/t.torrent" >/dev/null

    # download: one unlimited libtorrent seeder
    port=$(free_port)
    # a libtorrent peer exits when its stdin closes: keep it open while this script runs
    tail --pid="$$" -f /dev/null 2>/dev/null \
        | $PY "$LT_PEER" seed --torrent "$d/t.torrent" --data "$d/src" --ip 127.0.0.11 \
            --port "$port" --no-tracker-wait >"$d/seed.out" 2>"$d/seed.err" &
    sp=$!; PIDS+=("$sp")
    for _ in $(seq 300); do grep -q "^READY" "$d/seed.out" 2>/dev/null && break; sleep 0.1; done
    grep -q "^READY" "$d/seed.out" || { log "$r: the seeder is not ready: $(tail -3 "$d/seed.err")"; exit 1; }
    t0=$(now)
    "$FP" --no-dht download --download-limit "$r" --peer "127.0.0.11:$port" --port 0 \
        -o "$d/down/data.bin" "$d/t.torrent" >/dev/null 2>"$d/down.err"
    t1=$(now)
    cmp -s "$d/src/data.bin" "$d/down/data.bin" || { log "$r: download differs"; exit 1; }
    kill "$sp" 2>/dev/null || true; wait "$sp" 2>/dev/null || true
    printf 'download\t%s\t%s\t%s\t%s\n' "$r" "$rate" "$size" "$($PY -c "print($t1-$t0)")" >>"$ROWS"
    log "$r download: $($PY -c "print(f'{$size/($t1-$t0)/$rate*100:.1f} % of the limit')")"

    # upload: fast-peer seeds with the limit, one libtorrent leecher
    port=$(free_port)
    "$FP" --no-dht seed --upload-limit "$r" --port "$port" --data "$d/src/data.bin" \
        "$d/t.torrent" </dev/null >"$d/fseed.out" 2>"$d/fseed.err" &
    fp=$!; PIDS+=("$fp")
    for _ in $(seq 300); do grep -q "^Seeding" "$d/fseed.out" 2>/dev/null && break; sleep 0.1; done
    mkdir -p "$d/up"
    t0=$(now)
    $PY "$LT_PEER" leech --torrent "$d/t.torrent" --out "$d/up" --ip 127.0.0.21 \
        --peer "127.0.0.1:$port" --timeout $((SECONDS_EACH * 4 + 30)) </dev/null >/dev/null \
        2>"$d/leech.err"
    t1=$(now)
    cmp -s "$d/src/data.bin" "$d/up/data.bin" || { log "$r: upload differs"; exit 1; }
    kill "$fp" 2>/dev/null || true; wait "$fp" 2>/dev/null || true
    printf 'upload\t%s\t%s\t%s\t%s\n' "$r" "$rate" "$size" "$($PY -c "print($t1-$t0)")" >>"$ROWS"
    log "$r upload: $($PY -c "print(f'{$size/($t1-$t0)/$rate*100:.1f} % of the limit')")"
    rm -rf "$d"
done

$PY - "$ROWS" "$OUT_MD" "$SECONDS_EACH" <<'EOF'
import sys, datetime, platform
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
secs = sys.argv[3]
out = [
    f"# fast-peer rate limits: achieved vs set ({datetime.date.today()}, {platform.node()})",
    "",
    f"`scripts/bench_limits.sh`: content of limit x {secs} s, one unlimited libtorrent 2.0.8 peer on",
    "loopback; achieved = size / wall time of the whole transfer (start-up included).",
    "",
    "| direction | limit | size | wall s | achieved | of the limit |",
    "|---|---|---|---|---|---|",
]
for d, label, rate, size, wall in rows:
    rate, size, wall = int(rate), int(size), float(wall)
    ach = size / wall
    out.append(f"| {d} | {label}/s | {size/2**20:.1f} MiB | {wall:.2f} | {ach/2**20:.2f} MiB/s | {ach/rate*100:.1f} % |")
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
EOF
