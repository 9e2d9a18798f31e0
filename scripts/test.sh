#!/usr/bin/env bash
# Every ulvs test: the fuzz targets built and their committed corpora replayed, then unit tests, the port tests and the netns
# tests (real namespaces, veths, the real binary, real HTTP clients and servers, for io = xdp and
# io = packet), and the criterion benches once each in test mode. Needs root. Installs what is
# missing first.
#
#   sudo scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "test.sh needs root (network namespaces, XDP)" >&2; exit 1; }

scripts/deps.sh
if ! command -v cargo-fuzz >/dev/null; then
    cargo install --locked --quiet cargo-fuzz
fi

echo "== fuzz targets: build, and replay each committed corpus once (scripts/fuzz.sh --replay --dev)"
FUZZ_NICE=0 scripts/fuzz.sh --replay --dev

echo "== cargo test --all-targets (unit, ports, netns, benches in test mode)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Every test binary runs even when one fails, and the tally below is printed either way.
status=0
cargo test --all-targets --no-fail-fast 2>&1 | tee "$log" || status=$?
passed=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ passed' | awk '{s += $1} END {print s + 0}')
failed=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ failed' | awk '{s += $1} END {print s + 0}')
echo "tests: $passed passed, $failed failed"
exit "$status"
