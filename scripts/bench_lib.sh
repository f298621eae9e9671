# Shared by scripts/bench.sh and scripts/bench_latency.sh (sourced, not run). The caller sets
# PY (python3 with libtorrent), TOOL (scripts/bench_report.py), LT_PEER (scripts/lt_peer.py),
# WORK (the cache folder) and defines log().

# A free TCP port on 127.0.0.1.
free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Content, torrents, manifests (cached in $WORK/data)

case_desc() {
    case "$1" in
        1g) echo "1 GiB single file, 1 MiB pieces" ;;
        16k) echo "256 MiB single file, 16 KiB pieces" ;;
        multi) echo "~31 MiB, 51 files in nested folders, 256 KiB pieces" ;;
        magnet) echo "64 MiB from a magnet link (metadata first), 256 KiB pieces" ;;
        64m) echo "64 MiB single file, 256 KiB pieces" ;;
    esac
}
case_piece() { case "$1" in 1g) echo 1048576 ;; 16k) echo 16384 ;; multi|magnet|64m) echo 262144 ;; esac; }

# Sets NAME (file or folder under $DATA/$case), SRC_TORRENT, MANIFEST, BYTES.
prepare_case() {
    local c=$1 d="$WORK/data/$1"
    mkdir -p "$d"
    if [ ! -f "$d/.name" ]; then
        log "$c: generating content"
        rm -rf "$d"; mkdir -p "$d"
        $PY "$TOOL" gen --case "$c" --dir "$d" >"$d/.name.tmp"
        mv "$d/.name.tmp" "$d/.name"
    fi
    NAME=$(cat "$d/.name")
    SRC_TORRENT="$WORK/data/$c.torrent"
    if [ ! -f "$SRC_TORRENT" ]; then
        log "$c: creating the torrent"
        $PY "$LT_PEER" create --path "$d/$NAME" --piece-length "$(case_piece "$c")" \
            --tracker "http://127.0.0.1:1/announce" --out "$SRC_TORRENT.tmp" >/dev/null
        mv "$SRC_TORRENT.tmp" "$SRC_TORRENT"
    fi
    MANIFEST="$WORK/data/$c.sha1"
    if [ ! -f "$MANIFEST" ]; then
        log "$c: hashing the source"
        (cd "$d" && find "$NAME" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha1sum) \
            >"$MANIFEST.tmp"
        mv "$MANIFEST.tmp" "$MANIFEST"
    fi
    BYTES=$(cd "$d" && find "$NAME" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
    DATA="$d"
}

