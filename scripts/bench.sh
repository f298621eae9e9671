#!/usr/bin/env bash
# fast-peer download (and seeding) speed, side by side with aria2 and libtorrent, on loopback.
#
#   bash scripts/bench.sh [--cases 1g,16k,multi,magnet] [--rounds N] [--work DIR] [--timeout S]
#                         [--clients fast-peer,aria2,libtorrent,rqbit] [--no-build] [--no-install]
#   FP_BASE=/path/to/old/fast-peer bash scripts/bench.sh --clients fast-peer,fast-peer-base,...
#   runs an older build of ours beside the current one, interleaved in the same run;
#   --clients fast-peer,fast-peer-seq compares `download --sequential` with rarest first.
#                         [--out FILE]
#   bash scripts/bench.sh --seeding [--cases 1g] [--rounds N] ...
#   bash scripts/bench.sh --transport utp --cases 64m --clients fast-peer,libtorrent,rqbit
#
# --transport utp (issue 19): the libtorrent seeders and leecher run with TCP off both ways,
# fast-peer with --no-tcp, rqbit with its uTP switched on (where its --help offers a flag);
# aria2 has no uTP and is left out. Default: tcp.
#
# Download mode (default): two libtorrent seeders (127.0.0.11, 127.0.0.12, scripts/lt_peer.py)
# announce to opentracker on 127.0.0.1 (HTTP); then, round by round, each client downloads the
# whole torrent into an empty folder: `fast-peer download`, aria2c, libtorrent (lt_peer.py leech
# on 127.0.0.21) and rqbit 9.1.0 (installed with `cargo install` when missing, unless
# --no-install; run with its DHT off). Each run is timed with /usr/bin/time -v (wall, max
# RSS, user+sys CPU), bounded by --timeout, and verified with sha1sum against the source; the
# output is deleted between runs. One untimed warm-up download per case (and per seeder in
# seeding mode) comes first. Report: bench/results/latest.md (and stdout).
#
# Seeding mode (--seeding, issue 4): libtorrent and aria2 download the case from ONE
# `fast-peer seed` and, interleaved in the same run, from ONE libtorrent seeder (each seeder has
# its own tracker so the leecher sees only that one). Report: bench/results/latest-seeding.md.
# Needs the `fast-peer seed` subcommand; exits 2 without it.
#
# Cases: 1g = 1 GiB single file, 1 MiB pieces; 16k = 256 MiB single file, 16 KiB pieces;
# multi = ~31 MiB in nested folders (spaces, empty files), 256 KiB pieces; 64m = 64 MiB single
# file, 256 KiB pieces (the uTP comparison); magnet = 64 MiB,
# 256 KiB pieces, every client starts from a magnet link naming only the loopback tracker
# (`fast-peer magnet_download`, metadata first). Content is an
# AES-CTR keystream (deterministic, incompressible), made once and cached in the work dir
# (default /tmp/fast-peer-bench) together with its torrents and sha1 manifests.
#
# Everything runs on 127.0.0.0/8 and nothing else is contacted (proxy variables are cleared;
# the torrents name only the local tracker). Everything started is stopped on exit; if this
# script is killed outright, seeders and trackers notice within a second and stop too, and a
# running client is bounded by its timeout. Machine: the numbers are indicative on a shared box.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3
LT_PEER="$ROOT/scripts/lt_peer.py"
TOOL="$ROOT/scripts/bench_report.py"

WORK=/tmp/fast-peer-bench
ROUNDS=3
TIMEOUT=300
CASES=""
CLIENTS="fast-peer,aria2,libtorrent,rqbit"
MODE=download
TRANSPORT=tcp
BUILD=1
INSTALL_RQBIT=1
OUT_MD=""
CMDLINE="scripts/bench.sh $*"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --cases|--case) CASES="${CASES:+$CASES,}$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        --timeout) TIMEOUT="$2"; shift 2 ;;
        --clients) CLIENTS="$2"; shift 2 ;;
        --seeding) MODE=seeding; shift ;;
        --transport) TRANSPORT="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-install) INSTALL_RQBIT=0; shift ;;
        --out) OUT_MD="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$CASES" ]; then
    if [ "$MODE" = seeding ]; then CASES=1g; else CASES=1g,16k,multi,magnet; fi
fi
if [ -z "$OUT_MD" ]; then
    if [ "$MODE" = seeding ]; then OUT_MD="$ROOT/bench/results/latest-seeding.md"
    else OUT_MD="$ROOT/bench/results/latest.md"; fi
fi
IFS=, read -r -a CASE_LIST <<<"$CASES"
for c in "${CASE_LIST[@]}"; do
    case "$c" in 1g|16k|multi|magnet|64m) ;; *) echo "bench: unknown case $c (1g, 16k, multi, magnet, 64m)" >&2; exit 2 ;; esac
done
case "$TRANSPORT" in tcp|utp) ;; *) echo "bench: --transport is tcp or utp" >&2; exit 2 ;; esac
[ "$TRANSPORT" = tcp ] || [ "$MODE" = download ] || { echo "bench: --transport utp is for download mode" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --rounds needs a positive number" >&2; exit 2; }

# Loopback only: no proxy may turn a tracker request into a trip outside 127.0.0.0/8.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY ftp_proxy FTP_PROXY
export no_proxy='*' NO_PROXY='*'

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench_lib.sh
. "$ROOT/scripts/bench_lib.sh"

for tool in opentracker aria2c openssl sha1sum timeout /usr/bin/time; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (see /work/shared/LOOPBACK.md)"
done
$PY -c 'import libtorrent' 2>/dev/null || die "python3-libtorrent is missing for $PY"

# ---------------------------------------------------------------------------------------------
# Process bookkeeping

MAIN_PID=$$
LONG_PIDS=()   # trackers and seeders
CUR_PID=""     # the /usr/bin/time of the run in progress

cleanup() {
    set +e
    if [ -n "$CUR_PID" ]; then
        # time -> timeout (its own process group) -> client
        for c in $(pgrep -P "$CUR_PID" 2>/dev/null); do
            kill -TERM -- "-$c" 2>/dev/null || kill -TERM "$c" 2>/dev/null
        done
        kill -TERM "$CUR_PID" 2>/dev/null
    fi
    stop_long
}
stop_long() {
    local p alive
    for p in "${LONG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 30); do
        alive=0
        for p in "${LONG_PIDS[@]}"; do if kill -0 "$p" 2>/dev/null; then alive=1; fi; done
        if [ $alive = 0 ]; then break; fi
        sleep 0.1
    done
    for p in "${LONG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    LONG_PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Start "$@" in the background with a watcher that kills it (by pid) when this script is gone.
# Sets SPAWNED.
spawn_guarded() {
    local name=$1; shift
    "$@" </dev/null >"$RUN/$name.out" 2>"$RUN/$name.err" &
    SPAWNED=$!
    LONG_PIDS+=("$SPAWNED")
    ( tail --pid="$MAIN_PID" -f /dev/null 2>/dev/null; kill -TERM "$SPAWNED" 2>/dev/null ) \
        </dev/null >/dev/null 2>&1 &
}

# An opentracker on 127.0.0.1 (TCP and UDP on one port). Debian's opentracker is built with a
# whitelist: every info hash it should serve is given here. Sets TRACKER_URL.
start_tracker() {
    local name=$1 port ih; shift
    local dir="$RUN/$name.d"
    mkdir -p "$dir"
    : >"$dir/whitelist"
    for ih in "$@"; do echo "$ih" >>"$dir/whitelist"; done
    port=$(free_port)
    spawn_guarded "$name" bash -c 'cd "$1" && exec opentracker -i 127.0.0.1 -p "$2" -P "$2" -d . -w whitelist' \
        _ "$dir" "$port"
    TRACKER_URL="http://127.0.0.1:$port/announce"
    for _ in $(seq 100); do
        if $PY "$TOOL" scrape --tracker "$TRACKER_URL" --infohash "$(printf '0%.0s' {1..40})" \
            >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$SPAWNED" 2>/dev/null || break
        sleep 0.1
    done
    die "opentracker did not start: $(cat "$RUN/$name.err")"
}

# Wait until the tracker lists at least N seeders for the info hash.
wait_seeders() {
    local url=$1 ih=$2 want=$3 secs=$4 c _i
    for _ in $(seq $((secs * 10))); do
        read -r c _i < <($PY "$TOOL" scrape --tracker "$url" --infohash "$ih" 2>/dev/null || echo "0 0")
        [ "$c" -ge "$want" ] && return 0
        sleep 0.1
    done
    return 1
}

# A libtorrent seeder on its own loopback IP; its stdin stays open until this script exits.
# Sets SEEDER_PID.
start_lt_seeder() {
    local name=$1 ip=$2 torrent=$3 data=$4
    tail --pid="$MAIN_PID" -f /dev/null 2>/dev/null \
        | $PY "$LT_PEER" seed --torrent "$torrent" --data "$data" --ip "$ip" --ready-timeout 120 \
            --transport "$TRANSPORT" \
            >"$RUN/$name.out" 2>"$RUN/$name.err" &
    SEEDER_PID=$!
    LONG_PIDS+=("$SEEDER_PID")
}

wait_ready() {
    local name=$1 pid=$2
    for _ in $(seq 3000); do
        grep -q '^READY' "$RUN/$name.out" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || die "$name exited before READY: $(tail -5 "$RUN/$name.err")"
        if grep -q 'failure message' "$RUN/$name.err" 2>/dev/null; then
            die "$name: the tracker refuses it: $(grep -m1 'failure message' "$RUN/$name.err")"
        fi
        sleep 0.1
    done
    die "$name not READY after 300 s"
}

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # user+sys ticks of pids
    local t=0 p v
    for p in "$@"; do
        v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
hwm_kb() { # the largest VmHWM among pids
    local m=0 p v
    for p in "$@"; do
        v=$(awk '/^VmHWM/{print $2}' "/proc/$p/status" 2>/dev/null) || v=0
        [ "${v:-0}" -gt "$m" ] && m=$v
    done
    echo "$m"
}

# ---------------------------------------------------------------------------------------------
# Content, torrents, manifests: scripts/bench_lib.sh (prepare_case)

# ---------------------------------------------------------------------------------------------
# One timed run

RESULTS=""
printf_row() { # fields... -> results
    local IFS=$'\t'
    echo "$*" >>"$RESULTS"
}

# client_cmd CLIENT TORRENT OUTDIR -> CMD array (TORRENT may be a magnet URI)
client_cmd() {
    local client=$1 t=$2 out=$3
    if [[ "$t" == magnet:* ]]; then
        case "$client" in
            fast-peer) CMD=("$FP" ${FAST_PEER_ARGS:-} $FP_TRANSPORT magnet_download -o "$out/$NAME" "$t") ;;
            fast-peer-base) CMD=("$FP_BASE" magnet_download -o "$out/$NAME" "$t") ;;
            libtorrent) CMD=("$PY" "$LT_PEER" leech --magnet "$t" --out "$out" --ip 127.0.0.21
                             --timeout "$TIMEOUT" --transport "$TRANSPORT") ;;
            *) client_cmd_torrent "$client" "$t" "$out" ;;
        esac
    else
        client_cmd_torrent "$client" "$t" "$out"
    fi
}
client_cmd_torrent() {
    local client=$1 t=$2 out=$3
    case "$client" in
        # FAST_PEER_ARGS: extra arguments for debugging, e.g. FAST_PEER_ARGS=-vv
        fast-peer) CMD=("$FP" ${FAST_PEER_ARGS:-} $FP_TRANSPORT --no-dht download -o "$out/$NAME" "$t") ;;
        # an older build of ours, to show a change's effect in the same run
        fast-peer-base) CMD=("$FP_BASE" --no-dht download -o "$out/$NAME" "$t") ;;
        # pieces in order (streaming), to show what sequential costs against rarest first
        fast-peer-seq) CMD=("$FP" --no-dht download --sequential -o "$out/$NAME" "$t") ;;
        aria2) CMD=(aria2c --seed-time=0 --enable-dht=false --enable-dht6=false
                    --bt-enable-lpd=false --disable-ipv6=true --no-conf=true --dir="$out"
                    --file-allocation=none --bt-tracker-connect-timeout=2
                    --console-log-level=warn --summary-interval=0 "$t") ;;
        libtorrent) CMD=("$PY" "$LT_PEER" leech --torrent "$t" --out "$out" --ip 127.0.0.21
                         --timeout "$TIMEOUT" --transport "$TRANSPORT") ;;
        # rqbit would otherwise map its port through UPnP and announce on the LAN (LSD)
        rqbit) CMD=(rqbit --disable-dht --disable-dht-persistence --disable-upnp-port-forward
                    --disable-lsd $RQBIT_TRANSPORT download --exit-on-finish
                    -o "$out" "$t") ;;
    esac
}

# run_one CASE CLIENT SEEDER_LABEL ROUND TORRENT SEEDER_PIDS...
run_one() {
    local c=$1 client=$2 seeder=$3 round=$4 t=$5; shift 5
    local seeder_pids=("$@")
    local out="$RUN/out" tag="$RUN/log/$c-$client-$seeder-r$round"
    rm -rf "$out"; sync; mkdir -p "$out"
    client_cmd "$client" "$t" "$out"
    local c0 rc=0
    c0=$(cpu_ticks "${seeder_pids[@]}")
    (cd "$out" && exec /usr/bin/time -v -o "$tag.time" timeout -k 10 "$TIMEOUT" "${CMD[@]}") \
        </dev/null >"$tag.out" 2>"$tag.err" &
    CUR_PID=$!
    wait "$CUR_PID" || rc=$?
    CUR_PID=""
    local c1 scpu shwm
    c1=$(cpu_ticks "${seeder_pids[@]}")
    scpu=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
    shwm=$(hwm_kb "${seeder_pids[@]}")

    local wall rss user sys ok=1 note=""
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' \
        "$tag.time" 2>/dev/null)
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tag.time" 2>/dev/null)
    user=$(awk -F': ' '/User time/ {print $2}' "$tag.time" 2>/dev/null)
    sys=$(awk -F': ' '/System time/ {print $2}' "$tag.time" 2>/dev/null)
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        ok=0; note="timeout ${TIMEOUT}s"
    elif [ "$rc" != 0 ]; then
        ok=0; note="exit $rc"
    elif ! (cd "$out" && sha1sum --quiet --strict -c "$MANIFEST") >"$tag.verify" 2>&1; then
        ok=0; note="verify failed"
    fi
    printf_row "$MODE" "$c" "$(case_desc "$c")" "$client" "$seeder" "$round" "$ok" \
        "${wall:-0}" "${rss:-0}" "${user:-0}" "${sys:-0}" "$BYTES" "$scpu" "$shwm" "$note"
    if [ $ok = 1 ]; then
        log "$(printf '%-6s %-10s seeder=%-9s round %s: %6.2f s  %7.1f MiB/s  rss %5d MiB  cpu %5.2f s  seeders cpu %s s' \
            "$c" "$client" "$seeder" "$round" "$wall" \
            "$(awk -v b="$BYTES" -v w="$wall" 'BEGIN {print (w > 0 ? b / 1048576 / w : 0)}')" \
            "$((rss / 1024))" "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" "$scpu")"
    else
        log "$c $client seeder=$seeder round $round: FAILED ($note); logs: $tag.*"
        tail -3 "$tag.err" >&2 || true
    fi
    rm -rf "$out"
}

# warm_up CASE TORRENT: one untimed download before the timed rounds. The first download
# from freshly started seeders is the slowest for whichever client runs it (in 3-round runs
# every client's round-1 time was its worst), so without this the client that opens round 1
# always paid for it.
warm_up() {
    local c=$1 t=$2 out="$RUN/out"
    rm -rf "$out"; mkdir -p "$out"
    client_cmd "${CLIENT_LIST[0]}" "$t" "$out"
    log "$c: warm-up download with ${CLIENT_LIST[0]} (not timed)"
    (cd "$out" && exec timeout -k 10 "$TIMEOUT" "${CMD[@]}") </dev/null >"$RUN/log/$c-warm-up.out" 2>&1 \
        || log "$c: the warm-up download failed (ignored; see $RUN/log/$c-warm-up.out)"
    rm -rf "$out"; sync
}

# ---------------------------------------------------------------------------------------------
# Setup

mkdir -p "$WORK"
RUN="$WORK/run"
rm -rf "$RUN"; mkdir -p "$RUN/log"
RESULTS="$RUN/results.tsv"
printf 'mode\tcase\tdesc\tclient\tseeder\tround\tok\twall_s\trss_kb\tuser_s\tsys_s\tbytes\tseeder_cpu_s\tseeder_rss_kb\tnote\n' \
    >"$RESULTS"

if [ "$BUILD" = 1 ]; then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
fi
[ -x "$ROOT/target/release/fast-peer" ] || die "no target/release/fast-peer (drop --no-build)"
# A private copy: a rebuild in the tree during the benchmark must not swap the binary mid-run.
mkdir -p "$WORK/bin"
cp "$ROOT/target/release/fast-peer" "$WORK/bin/fast-peer.tmp"
mv "$WORK/bin/fast-peer.tmp" "$WORK/bin/fast-peer"
FP="$WORK/bin/fast-peer"

if [ "$MODE" = seeding ] && ! "$FP" seed --help >/dev/null 2>&1; then
    echo "bench: --seeding needs the \`fast-peer seed\` subcommand, and \`fast-peer seed --help\` fails with this build" >&2
    exit 2
fi

NOTES=("one untimed warm-up download per case before the timed rounds (the first download from fresh seeders was every client's slowest)")
FP_TRANSPORT=""
RQBIT_TRANSPORT=""
if [ "$TRANSPORT" = utp ]; then
    FP_TRANSPORT="--no-tcp"
    NOTES+=("uTP only: libtorrent seeders and leecher with TCP off both ways, fast-peer --no-tcp")
fi
IFS=, read -r -a WANT_CLIENTS <<<"$CLIENTS"
CLIENT_LIST=()
for cl in "${WANT_CLIENTS[@]}"; do
    case "$cl" in
        fast-peer|fast-peer-seq|libtorrent) CLIENT_LIST+=("$cl") ;;
        aria2)
            if [ "$TRANSPORT" = utp ]; then NOTES+=("aria2 has no uTP: left out")
            else CLIENT_LIST+=("$cl"); fi ;;
        fast-peer-base)
            [ -x "${FP_BASE:-}" ] || die "fast-peer-base needs FP_BASE=/path/to/an/older/fast-peer"
            NOTES+=("fast-peer-base is $("$FP_BASE" --version 2>/dev/null | head -1) from $FP_BASE")
            CLIENT_LIST+=("$cl") ;;
        rqbit)
            if ! command -v rqbit >/dev/null 2>&1 && [ "$INSTALL_RQBIT" = 1 ]; then
                log "rqbit is not on PATH: cargo install rqbit --version 9.1.0 --locked (about 4 minutes)"
                cargo install rqbit --version 9.1.0 --locked >&2 || NOTES+=("cargo install rqbit failed")
                export PATH="$HOME/.cargo/bin:$PATH"
            fi
            if ! command -v rqbit >/dev/null 2>&1; then
                NOTES+=("rqbit is not on PATH: skipped")
            elif ! rqbit --help 2>&1 | grep -q -- --disable-dht; then
                NOTES+=("this rqbit has no --disable-dht: skipped (it could leave loopback)")
            elif [ "$TRANSPORT" = utp ]; then
                # rqbit's uTP is experimental and its flag has changed between versions
                RQBIT_TRANSPORT=$(rqbit --help 2>&1 | grep -o -- '--[a-z-]*enable-utp[a-z-]*' | head -1 || true)
                if [ -n "$RQBIT_TRANSPORT" ]; then
                    CLIENT_LIST+=(rqbit)
                    NOTES+=("rqbit with $RQBIT_TRANSPORT")
                else
                    NOTES+=("this rqbit offers no uTP switch in --help: skipped")
                fi
            else
                CLIENT_LIST+=(rqbit)
                NOTES+=("rqbit command line not validated against every rqbit version: check its failures")
            fi ;;
        *) die "unknown client $cl (fast-peer, fast-peer-base, fast-peer-seq, aria2, libtorrent, rqbit)" ;;
    esac
done
if [ "$MODE" = seeding ]; then
    CLIENT_LIST=()
    for cl in libtorrent aria2; do
        [[ ",$CLIENTS," == *",$cl,"* ]] && CLIENT_LIST+=("$cl")
    done
fi
[ "${#CLIENT_LIST[@]}" -gt 0 ] || die "no client to run"

git_rev=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
git_dirty=$(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ", uncommitted changes in the tree" || true)
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "nproc=$(nproc)"
    echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "kernel=$(uname -r)"
    echo "fast_peer=$("$FP" --version 2>/dev/null | head -1), release binary built $(date -u -r "$ROOT/target/release/fast-peer" '+%Y-%m-%d %H:%M UTC') (tree at git $git_rev$git_dirty when the benchmark started)"
    echo "aria2=$(aria2c --version | head -1)"
    echo "libtorrent=$($PY -c 'import libtorrent; print(libtorrent.__version__)')"
    echo "opentracker=$(dpkg-query -W -f '${Version}' opentracker 2>/dev/null || echo unknown)"
    if command -v rqbit >/dev/null 2>&1; then echo "rqbit=$(rqbit --version 2>&1 | head -1)"; fi
    echo "transport=$TRANSPORT"
    echo "rounds=$ROUNDS"
    echo "timeout=$TIMEOUT"
    echo "command=$CMDLINE"
} >"$RUN/meta"

# ---------------------------------------------------------------------------------------------
# Download mode

bench_download() {
    local c r i n client ihs=()
    for c in "${CASE_LIST[@]}"; do
        prepare_case "$c"
        ihs+=("$($PY "$TOOL" infohash "$SRC_TORRENT")")
    done
    start_tracker tracker "${ihs[@]}"
    local url=$TRACKER_URL
    log "opentracker at $url"
    for c in "${CASE_LIST[@]}"; do
        prepare_case "$c"
        local t="$RUN/$c.torrent"
        $PY "$TOOL" retrack --in "$SRC_TORRENT" --out "$t" --announce "$url"
        local ih; ih=$($PY "$TOOL" infohash "$t")
        log "$c: starting two libtorrent seeders ($NAME, $BYTES bytes)"
        start_lt_seeder "$c-seed1" 127.0.0.11 "$t" "$DATA"; local s1=$SEEDER_PID
        start_lt_seeder "$c-seed2" 127.0.0.12 "$t" "$DATA"; local s2=$SEEDER_PID
        wait_ready "$c-seed1" "$s1"
        wait_ready "$c-seed2" "$s2"
        wait_seeders "$url" "$ih" 2 30 || die "$c: the tracker does not list both seeders"
        local src=$t
        if [ "$c" = magnet ]; then
            src="magnet:?xt=urn:btih:$ih&dn=$NAME&tr=$($PY -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$url")"
        fi
        warm_up "$c" "$src"
        n=${#CLIENT_LIST[@]}
        for r in $(seq "$ROUNDS"); do
            for i in $(seq 0 $((n - 1))); do
                client=${CLIENT_LIST[$(((i + r - 1) % n))]}
                run_one "$c" "$client" "lt x2" "$r" "$src" "$s1" "$s2"
            done
        done
        kill -TERM "$s1" "$s2" 2>/dev/null || true
        wait "$s1" "$s2" 2>/dev/null || true
    done
}

# ---------------------------------------------------------------------------------------------
# Seeding mode

bench_seeding() {
    local c r i n
    for c in "${CASE_LIST[@]}"; do
        prepare_case "$c"
        local ih; ih=$($PY "$TOOL" infohash "$SRC_TORRENT")
        start_tracker "$c-tracker-fp" "$ih"; local url_fp=$TRACKER_URL
        start_tracker "$c-tracker-lt" "$ih"; local url_lt=$TRACKER_URL
        local t_fp="$RUN/$c-fp.torrent" t_lt="$RUN/$c-lt.torrent"
        $PY "$TOOL" retrack --in "$SRC_TORRENT" --out "$t_fp" --announce "$url_fp"
        $PY "$TOOL" retrack --in "$SRC_TORRENT" --out "$t_lt" --announce "$url_lt"

        local port; port=$(free_port)
        log "$c: fast-peer seed on port $port ($url_fp), libtorrent seeder on 127.0.0.11 ($url_lt)"
        spawn_guarded "$c-fp-seed" "$FP" --no-dht seed "$t_fp" --data "$DATA/$NAME" --port "$port"
        local sfp=$SPAWNED
        start_lt_seeder "$c-lt-seed" 127.0.0.11 "$t_lt" "$DATA"; local slt=$SEEDER_PID
        wait_ready "$c-lt-seed" "$slt"
        local ok=0
        for _ in $(seq 300); do
            if wait_seeders "$url_fp" "$ih" 1 1; then ok=1; break; fi
            kill -0 "$sfp" 2>/dev/null || break
        done
        [ $ok = 1 ] || die "fast-peer seed never announced itself as a seeder: $(tail -5 "$RUN/$c-fp-seed.err")"
        wait_seeders "$url_lt" "$ih" 1 30 || die "the libtorrent seeder is not on its tracker"

        warm_up "$c" "$t_fp"
        warm_up "$c" "$t_lt"
        n=${#CLIENT_LIST[@]}
        local combos=()
        for client in "${CLIENT_LIST[@]}"; do combos+=("$client fast-peer" "$client libtorrent"); done
        local m=${#combos[@]}
        for r in $(seq "$ROUNDS"); do
            for i in $(seq 0 $((m - 1))); do
                local combo=${combos[$(((i + r - 1) % m))]}
                local client=${combo% *} seeder=${combo#* }
                if [ "$seeder" = fast-peer ]; then
                    kill -0 "$sfp" 2>/dev/null || die "fast-peer seed died: $(tail -5 "$RUN/$c-fp-seed.err")"
                    run_one "$c" "$client" fast-peer "$r" "$t_fp" "$sfp"
                else
                    run_one "$c" "$client" libtorrent "$r" "$t_lt" "$slt"
                fi
            done
        done
        stop_long
    done
}

if [ "$MODE" = seeding ]; then
    NOTES+=("fast-peer seed was given --data $WORK/data/<case>/<name> (the file itself, like download -o)")
    bench_seeding
else
    bench_download
fi

( IFS='|'; echo "notes=${NOTES[*]:-}" ) >>"$RUN/meta"
log "report: $OUT_MD (raw runs: $RESULTS, logs: $RUN/log)"
$PY "$TOOL" report --results "$RESULTS" --meta "$RUN/meta" --mode "$MODE" --out "$OUT_MD"
