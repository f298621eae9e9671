#!/usr/bin/env bash
# Run every cargo-fuzz target in fuzz/ for SECONDS each (default 15): `bash scripts/fuzz.sh [SECONDS] [TARGET...]`.
#
# Targets come from `cargo fuzz list`, so a new fuzz_targets/*.rs with its [[bin]] in
# fuzz/Cargo.toml is picked up with no change here. Each target starts from the committed
# seeds (fuzz/seeds/<target>/, optional) plus whatever earlier runs grew in fuzz/corpus/<target>/
# (not committed). A crash leaves its input in fuzz/artifacts/<target>/ and makes this script
# exit non-zero; turn it into a regression test in the normal suite.
# Installs cargo-fuzz when missing; needs the nightly toolchain (rustup toolchain install nightly).
#
# FUZZ_BUILD_FLAGS picks the build (default: optimised with AddressSanitizer, for long runs).
# scripts/test.sh uses `--dev -s none`: an unoptimised build without sanitizer compiles in about
# half the time, which matters more than executions per second for a smoke run. Rust code is
# memory-safe, so what the fuzzers hunt for is panics, which every build catches.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs="${1:-15}"
shift || true

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
        rustup toolchain install nightly --profile minimal
    else
        echo "fuzz.sh: the nightly toolchain is needed for cargo-fuzz" >&2
        exit 1
    fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi

read -r -a build_flags <<<"${FUZZ_BUILD_FLAGS:-}"
cargo +nightly fuzz build "${build_flags[@]}"

status=0
total=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    dirs=("fuzz/corpus/$t")
    [ -d "fuzz/seeds/$t" ] && dirs+=("fuzz/seeds/$t")
    log="fuzz/target/$t.log"
    mkdir -p fuzz/target
    if cargo +nightly fuzz run "${build_flags[@]}" "$t" "${dirs[@]}" -- -max_total_time="$secs" -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
        printf 'fuzz %-14s %10s executions, no crash\n' "$t" "${runs:-?}"
        total=$((total + ${runs:-0}))
    else
        status=1
        printf 'fuzz %-14s CRASHED, see %s and fuzz/artifacts/%s/\n' "$t" "$log" "$t"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -5 || true
    fi
done
echo "fuzz: $total executions in total"
exit "$status"
