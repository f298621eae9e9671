#!/usr/bin/env bash
# uTP (issue 19), measured side by side in one run:
#
#   bash scripts/bench_utp.sh [--rounds N] [--timeout S] [--work DIR] [--no-build] [--skip-lt]
#                             [--skip-ledbat]
#
# 1. From two uTP-only libtorrent seeders (64 MiB, 256 KiB pieces): fast-peer --no-tcp,
#    libtorrent's own client over uTP and rqbit with its uTP on, interleaved rounds
#    (scripts/bench.sh --transport utp --cases 64m; report bench/results/utp-lt.md). Each
#    download is bounded by --timeout (default 90 s: rqbit 9.1's experimental uTP has not
#    finished 64 MiB in that time here).
# 2. fast-peer seeding to fast-peer, 1 GiB (1 MiB pieces) on 127.0.0.1: uTP only against TCP
#    only, interleaved rounds; throughput, and CPU seconds of the leecher and of the seeder.
# 3. LEDBAT beside TCP on a shaped veth link between two network namespaces (needs root):
#    the shares from tests/utp_ledbat.rs.
# Report: bench/results/utp.md (and stdout). Everything stays on 127.0.0.0/8 or inside the
# namespaces the LEDBAT test creates.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3
LT_PEER="$ROOT/scripts/lt_peer.py"
TOOL="$ROOT/scripts/bench_report.py"
WORK=/tmp/fast-peer-bench
ROUNDS=5
TIMEOUT=90
BUILD=1
LT=1
LEDBAT=1
OUT="$ROOT/bench/results/utp.md"
ARGS="$*"

while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --timeout) TIMEOUT="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --skip-lt) LT=0; shift ;;
        --skip-ledbat) LEDBAT=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_utp: unknown argument $1" >&2; exit 2 ;;
    esac
done
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench_utp: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench_lib.sh
. "$ROOT/scripts/bench_lib.sh"

if [ "$BUILD" = 1 ]; then
    (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
fi
mkdir -p "$WORK/bin" "$WORK/utp"
cp "$ROOT/target/release/fast-peer" "$WORK/bin/fast-peer-utp"
FP="$WORK/bin/fast-peer-utp"
RUN="$WORK/utp"
SEED_PID=""
trap '[ -n "$SEED_PID" ] && kill "$SEED_PID" 2>/dev/null; true' EXIT

{
    echo "# uTP benchmark (issue 19)"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)),"
    echo "fast-peer at git $(cd "$ROOT" && git rev-parse --short HEAD), libtorrent $($PY -c 'import libtorrent; print(libtorrent.__version__)'),"
    echo "$ROUNDS interleaved rounds per case; medians. Command: \`scripts/bench_utp.sh $ARGS\`."
    echo
} >"$RUN/report.md"

# 1 ------------------------------------------------------------------------------------------
if [ "$LT" = 1 ]; then
    log "1/3: from two uTP-only libtorrent seeders"
    bash "$ROOT/scripts/bench.sh" --no-build --transport utp --cases 64m --rounds "$ROUNDS" \
        --timeout "$TIMEOUT" \
        --clients fast-peer,libtorrent,rqbit --work "$WORK" --out "$ROOT/bench/results/utp-lt.md"
    {
        echo "## From two uTP-only libtorrent seeders (64 MiB)"
        echo
        sed -n '/^|/p' "$ROOT/bench/results/utp-lt.md"
        echo
        echo "(full report: bench/results/utp-lt.md)"
        echo
    } >>"$RUN/report.md"
fi

# 2 ------------------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'; }

log "2/3: fast-peer seed -> fast-peer download, 1 GiB, uTP against TCP"
prepare_case 1g
PORT=$(free_port)
"$FP" --no-dht seed "$SRC_TORRENT" --data "$DATA/$NAME" --port "$PORT" >"$RUN/seed.out" 2>"$RUN/seed.err" &
SEED_PID=$!
for _ in $(seq 600); do
    grep -q '^Seeding' "$RUN/seed.out" 2>/dev/null && break
    kill -0 "$SEED_PID" 2>/dev/null || die "fast-peer seed exited: $(tail -3 "$RUN/seed.err")"
    sleep 0.1
done
: >"$RUN/pair.tsv"
pair_run() { # transport round
    local tr=$1 r=$2 flag out="$RUN/out" s0 s1
    case "$tr" in utp) flag=--no-tcp ;; tcp) flag=--no-utp ;; esac
    rm -rf "$out"; mkdir -p "$out"; sync
    s0=$(ticks "$SEED_PID")
    /usr/bin/time -f '%e %U %S %M' -o "$RUN/time" timeout 300 \
        "$FP" --no-dht "$flag" download -o "$out/$NAME" "$SRC_TORRENT" --peer "127.0.0.1:$PORT" \
        >"$RUN/dl.out" 2>"$RUN/dl.err" || { log "$tr round $r failed: $(tail -2 "$RUN/dl.err")"; return; }
    s1=$(ticks "$SEED_PID")
    (cd "$out" && sha1sum --quiet --strict -c "$MANIFEST") >/dev/null || { log "$tr round $r: verify failed"; return; }
    read -r wall user sys rss <"$RUN/time"
    local mibs seedcpu
    mibs=$(awk -v b="$BYTES" -v w="$wall" 'BEGIN {printf "%.1f", b / 1048576 / w}')
    seedcpu=$(awk -v a="$s0" -v b="$s1" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tr" "$r" "$mibs" "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" "$seedcpu" "$((rss / 1024))" >>"$RUN/pair.tsv"
    log "$(printf '%-3s round %s: %7.1f MiB/s  leecher cpu %5.2f s  seeder cpu %5.2f s  rss %d MiB' "$tr" "$r" "$mibs" "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" "$seedcpu" "$((rss / 1024))")"
    rm -rf "$out"
}
pair_run utp 0 >/dev/null 2>&1 || true # warm-up (page cache, seeder's first read)
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then pair_run utp "$r"; pair_run tcp "$r"; else pair_run tcp "$r"; pair_run utp "$r"; fi
done
kill "$SEED_PID" 2>/dev/null || true
SEED_PID=""
$PY - "$RUN/pair.tsv" >>"$RUN/report.md" <<'PYEOF'
import statistics, sys
# round 0 is the untimed warm-up
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l and l.split("\t")[1] != "0"]
med = {}
print("## fast-peer seeding to fast-peer, 1 GiB on 127.0.0.1\n")
print("| transport | runs | MiB/s (median) | leecher CPU s | seeder CPU s | leecher RSS MiB |")
print("|---|---|---|---|---|---|")
for tr in ("utp", "tcp"):
    rs = [r for r in rows if r[0] == tr]
    if not rs:
        print(f"| {tr} | 0 | failed | | | |")
        continue
    m = lambda i: statistics.median(float(r[i]) for r in rs)
    med[tr] = m(2)
    print(f"| {tr} | {len(rs)} | {m(2):.1f} | {m(3):.2f} | {m(4):.2f} | {m(5):.0f} |")
if "utp" in med and "tcp" in med:
    print(f"\nuTP / TCP throughput: {med['utp'] / med['tcp']:.2f}x (target >= 0.5x)\n")
PYEOF

# 3 ------------------------------------------------------------------------------------------
if [ "$LEDBAT" = 1 ]; then
    log "3/3: LEDBAT beside TCP on a shaped veth link (tests/utp_ledbat.rs)"
    {
        echo "## LEDBAT beside a TCP bulk flow (8 Mbit/s tbf link at a router, 400 ms queue, namespaces)"
        echo
        for i in 1 2 3; do
            line=$(cd "$ROOT" && cargo test --release --quiet --test utp_ledbat -- --nocapture 2>&1 | grep '^ledbat:' || echo "ledbat: run $i failed")
            echo "- $line"
        done
        echo
    } >>"$RUN/report.md"
fi

cp "$RUN/report.md" "$OUT"
cat "$OUT"
