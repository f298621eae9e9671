#!/usr/bin/env bash
# Key-to-screen latency of the dashboard while the engine downloads at full speed.
#
# Starts `fast-peer demo --fast --size MIB` (unlimited seeders on 127.0.0.1) in a detached tmux
# session, waits until the download runs, then N times: sends a pane key with tmux send-keys
# and polls capture-pane until the new pane's title is on screen. Prints each sample and the
# median / p90 / max in ms. The numbers include tmux's own round trips (a capture-pane call
# costs about a millisecond), so they are an upper bound.
#
#   bash scripts/tui_latency.sh [MIB=1024] [N=40]      (FP_BIN=path: another build)
#
# Samples under load are taken only while the download runs (the count is printed): pick MIB
# large enough for N samples.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1024}
n=${2:-40}
bin=${FP_BIN:-target/release/fast-peer}
[ -x "$bin" ] || cargo build --release
work=$(mktemp -d)
sock="fast-peer-latency-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$work"' EXIT
tmux -L "$sock" -f /dev/null new-session -d -s lat -x 120 -y 40 \
    "$bin demo --fast --size $size --dir $work/demo --log $work/tui.log"
python3 - "$sock" "$n" <<'PY'
import subprocess, sys, time, statistics
sock, n = sys.argv[1], int(sys.argv[2])
def tmux(*a):
    return subprocess.run(["tmux", "-L", sock, *a], capture_output=True, text=True).stdout
def screen():
    return tmux("capture-pane", "-p", "-t", "lat")
deadline = time.time() + 120
while "downloading" not in screen():
    if time.time() > deadline:
        sys.exit("the download never showed: " + screen())
    time.sleep(0.05)
panes = [("3", "Peers of"), ("2", "Pieces:"), ("1", "Torrents (")]
def downloading():
    # the status bar says "complete: <name>" when it is over (on every pane)
    return "complete:" not in screen()
def measure(count, label, during_download=False):
    samples = []
    for i in range(count):
        # a sample counts as "downloading" only if the download still ran after it
        if during_download and not downloading():
            print(f"{label}: the download ended after {len(samples)} samples")
            break
        key, marker = panes[i % len(panes)]
        t0 = time.perf_counter()
        tmux("send-keys", "-t", "lat", key)
        while marker not in screen():
            if time.perf_counter() - t0 > 5:
                sys.exit(f"key {key}: {marker!r} never showed")
            # a short pause between polls: a tight loop of tmux clients would steal the CPU
            # the dashboard needs
            time.sleep(0.002)
        samples.append((time.perf_counter() - t0) * 1000)
        s = screen()
        rate = next((l for l in s.splitlines() if "↓" in l), "").strip()[:40]
        print(f"{label} key {key}: {samples[-1]:6.1f} ms   status: {rate}")
        time.sleep(0.1)
    samples.sort()
    print(f"{label}: {len(samples)} samples, median {statistics.median(samples):.1f} ms, "
          f"p90 {samples[max(int(len(samples) * 0.9) - 1, 0)]:.1f} ms, max {samples[-1]:.1f} ms")
measure(n, "downloading", during_download=True)
# baseline: the same measurement once the download is over (tmux's own cost)
deadline = time.time() + 600
while "complete:" not in screen():
    if time.time() > deadline:
        sys.exit("the download did not complete")
    time.sleep(0.2)
time.sleep(1)
measure(n, "idle")
PY
