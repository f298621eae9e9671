#!/usr/bin/env bash
# Screenshots of the dashboard from the real binary in a real terminal: Xvfb + xterm, the
# demo (`fast-peer demo`, everything on 127.0.0.1) driven pane by pane through tmux inside the
# xterm, each pane captured to screenshots/<n>-<pane>.png; at a second size, into
# screenshots/<cols>x<rows>/.
#
#   bash scripts/screenshots.sh [COLSxROWS]   (default 140x42; builds the release binary if needed)
#
# Installs what it needs with apt-get when missing: xvfb, xterm, x11-apps (xwd), imagemagick.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
size=${1:-140x42}
cols=${size%x*}
rows=${size#*x}
case "$cols$rows" in *[!0-9]*|'') echo "size: COLSxROWS, e.g. 80x24" >&2; exit 2 ;; esac
out="$root/screenshots"
[ "$size" = 140x42 ] || out="$out/$size"
mkdir -p "$out"

need=()
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xterm >/dev/null || need+=(xterm)
command -v xwd >/dev/null || need+=(x11-apps)
convert -version 2>/dev/null | grep -q ImageMagick || need+=(imagemagick)
command -v tmux >/dev/null || need+=(tmux)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] || need+=(fonts-dejavu-core)
if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

bin="$root/target/release/fast-peer"
[ -x "$bin" ] || cargo build --release
work=$(mktemp -d)
sock="fast-peer-shots-$$"
display=":$((90 + RANDOM % 100))"
cleanup() {
    tmux -L "$sock" kill-server 2>/dev/null || true
    [ -n "${xterm_pid:-}" ] && kill "$xterm_pid" 2>/dev/null || true
    [ -n "${xvfb_pid:-}" ] && kill "$xvfb_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

Xvfb "$display" -screen 0 1920x1200x24 -nolisten tcp &
xvfb_pid=$!
sleep 1
export DISPLAY="$display"
# the demo inside tmux inside xterm: tmux lets the script send keys to the dashboard
tmux -L "$sock" -f /dev/null new-session -d -s shots -x "$cols" -y "$rows" \
    "$bin demo --size 96 --dir $work/demo --log $work/tui.log"
tmux -L "$sock" set -g status off
xterm -geometry "${cols}x${rows}+0+0" -fa 'DejaVu Sans Mono' -fs 11 -bg black -fg gray90 \
    -e tmux -L "$sock" attach -t shots &
xterm_pid=$!

screen() { tmux -L "$sock" capture-pane -p -t shots; }
wait_for() { # pattern, seconds
    for _ in $(seq 1 $(( $2 * 10 ))); do
        screen | grep -q -- "$1" && return 0
        sleep 0.1
    done
    echo "timed out waiting for $1" >&2
    screen >&2
    return 1
}
shot() { # name
    sleep 0.6
    xwd -root -silent | convert xwd:- -crop "$(xwininfo -root | awk '/Width/{w=$2} /Height/{h=$2} END{print w"x"h"+0+0"}')" \
        -trim +repage "$out/$1.png"
    echo "screenshots/$1.png"
}
key() { tmux -L "$sock" send-keys -t shots "$@"; }

wait_for "1 Torrents" 90
sleep 15  # mid-download: pieces, peers and rates moving
shot 1-torrents
key 2; shot 2-pieces
key r; shot 2-pieces-rarity; key r
key 3; shot 3-peers
# a peer chosen in the Peers pane: the pieces it has over the piece map
key j; key 2; wait_for "pieces of" 10; shot 2-pieces-peer; key v
key 8; shot 8-handshake
key 4; shot 4-dht
# the files of the demo torrent: skip the last one, mid-download
key 9; key G; key Space; wait_for "skip" 10; shot 9-files; key Space
wait_for "complete: fast-peer-demo" 240
key 6; key o; key -l "$(ls "$work"/demo/*.torrent)"; key Enter
wait_for "info hash" 10; shot 6-decode
key 7
tmux -L "$sock" set-buffer -b m "magnet:?xt=urn:btih:c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00&dn=pasted-magnet&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce"
tmux -L "$sock" paste-buffer -p -b m -t shots
wait_for "valid magnet" 10; shot 7-magnet
key Enter
wait_for "pasted-magnet" 10
key j; key 5; shot 5-metadata
key 1; key k; shot 1-torrents-done
key '?'; shot help
key Escape
sleep 0.3
key q; sleep 0.5; key y
sleep 2
