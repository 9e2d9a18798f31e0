#!/usr/bin/env bash
# Installs what ulvs needs to build and to run its lab on a fresh Debian 12 machine, and mounts
# bpffs. Idempotent: installs only what is missing.
set -euo pipefail

packages=(libelf-dev zlib1g-dev pkg-config clang llvm m4 libpcap-dev gcc-multilib gnuplot-nox
          iproute2 ethtool curl python3 iputils-arping tcpdump procps
          keepalived ucarp nftables)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! mountpoint -q /sys/fs/bpf; then
    mount -t bpf bpf /sys/fs/bpf
fi
if ! command -v cargo >/dev/null; then
    echo "deps: cargo is not on PATH (the machine's Rust toolchain is required)" >&2
    exit 1
fi
