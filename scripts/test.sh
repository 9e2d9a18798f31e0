#!/usr/bin/env bash
# Every ulvs test: unit tests, the netns tests (real namespaces, veths, the real binary, real HTTP
# clients and servers, for io = xdp and io = packet), and a build check of the fuzz targets.
# Needs root. Installs what is missing first.
#
#   sudo scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "test.sh needs root (network namespaces, XDP)" >&2; exit 1; }

scripts/deps.sh
if ! command -v cargo-fuzz >/dev/null; then
    cargo install --locked --quiet cargo-fuzz
fi

echo "== cargo test (unit, integration, netns)"
cargo test --all-targets

echo "== fuzz targets build (cargo fuzz build)"
(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --dev)
