#!/usr/bin/env bash
# The whole test suite in one command: `bash scripts/test.sh` (CI runs it through .ci/run).
#
# 1. Installs what the interop tests need if it is missing (Debian/apt): python3-libtorrent
#    (libtorrent 2.0.8, imported by /usr/bin/python3), opentracker, aria2, mktorrent, tmux,
#    transmission-daemon and transmission-cli (Transmission 3.00, a uTP peer), iproute2
#    (network namespaces for the LEDBAT test; CI runs as root), and a C toolchain (the Rust
#    toolchain itself must be there).
# 2. cargo test --release --all-targets --no-fail-fast   (release: the interop tests move tens
#    of MiB; every failing test binary is reported, not only the first)
# 3. cargo fmt --check, cargo doc (links must resolve), cargo clippy --all-targets -D warnings
# 4. a short fuzz run: every cargo-fuzz target in fuzz/ for FUZZ_SECS seconds (default 8;
#    scripts/fuzz.sh installs cargo-fuzz when missing; needs the nightly toolchain).
#    A crash fails the script. Longer runs by hand: `bash scripts/fuzz.sh 300`.
# 2, 3 and 4 always run; the script exits non-zero if any (or 1) fails.
# All network traffic of the tests stays on 127.0.0.0/8, or inside network namespaces a test
# creates and deletes (tests/common/netns.rs).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '\n==> %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

apt_missing=()
pkg_installed() { dpkg -s "$1" >/dev/null 2>&1; }

if ! pkg_installed python3-libtorrent || ! /usr/bin/python3 -c 'import libtorrent' >/dev/null 2>&1; then
    apt_missing+=(python3-libtorrent)
fi
command -v opentracker >/dev/null 2>&1 || apt_missing+=(opentracker)
command -v aria2c >/dev/null 2>&1 || apt_missing+=(aria2)
command -v mktorrent >/dev/null 2>&1 || apt_missing+=(mktorrent)
command -v tmux >/dev/null 2>&1 || apt_missing+=(tmux)
command -v transmission-daemon >/dev/null 2>&1 || apt_missing+=(transmission-daemon)
command -v transmission-remote >/dev/null 2>&1 || apt_missing+=(transmission-cli)
# ip and tc build the LEDBAT test's network namespaces (tests/utp_ledbat.rs)
{ command -v ip && command -v tc; } >/dev/null 2>&1 || apt_missing+=(iproute2)
command -v cc >/dev/null 2>&1 || apt_missing+=(build-essential)

# Cargo may be installed by rustup without being on PATH (fresh login shells, CI).
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo is not installed (install the Rust toolchain with rustup first)" >&2
    exit 1
fi
if ! cargo clippy --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
    rustup component add clippy
fi

if [ "${#apt_missing[@]}" -gt 0 ]; then
    log "installing missing packages: ${apt_missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "${apt_missing[@]}"
fi

log "tool versions"
cargo --version
/usr/bin/python3 -c 'import libtorrent; print("libtorrent", libtorrent.__version__)'
aria2c --version | sed -n 1p
command -v opentracker

status=0

log "cargo test --release --all-targets"
if ! cargo test --release --all-targets --no-fail-fast; then
    status=1
    log "FAILED: cargo test"
fi

log "cargo fmt --check (rustfmt.toml; the fuzz crate too)"
if ! command -v rustfmt >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt
fi
if ! cargo fmt --check || ! (cd fuzz && cargo fmt --check); then
    status=1
    log "FAILED: cargo fmt --check (run cargo fmt)"
fi

log "cargo doc: every intra-doc link resolves"
if ! RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib; then
    status=1
    log "FAILED: cargo doc"
fi

log "cargo clippy --all-targets -- -D warnings"
if ! cargo clippy --all-targets -- -D warnings; then
    status=1
    log "FAILED: cargo clippy"
fi

log "fuzz: every target for ${FUZZ_SECS:-8} s"
if ! FUZZ_BUILD_FLAGS="${FUZZ_BUILD_FLAGS:---dev -s none}" bash scripts/fuzz.sh "${FUZZ_SECS:-8}"; then
    status=1
    log "FAILED: fuzz (a crashing input is in fuzz/artifacts/)"
fi

if [ "$status" -eq 0 ]; then
    log "all tests and lints passed"
fi
exit "$status"
