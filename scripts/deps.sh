#!/usr/bin/env bash
# Installs every Debian package that building ulvs, its scripts (demo, lab, test, bench,
# failover-bench, capture-ha-vectors, director-setup, rs-setup) and its tests use (BIRD 2 for the
# ECMP lab; promtool checks examples/prometheus/, a lab Prometheus scrapes a director; tshark
# decodes the sync datagrams a test captures), and mounts bpffs.
# This file is the one list: scripts check their tools against it, and the tests ask it which
# package a missing tool comes from. Idempotent: installs only what is missing.
#
#   scripts/deps.sh                  install what is missing (apt-get), mount bpffs
#   scripts/deps.sh --with TOOL...   the same, and an optional tool only one script uses (valgrind,
#                                    perf, bpftool)
#   scripts/deps.sh --check CMD...   install nothing; for each CMD not on PATH print one line naming
#                                    its package, and exit 1 if any is missing
#   scripts/deps.sh --package CMD    print the Debian package that provides CMD
set -euo pipefail

# Commands the scripts and tests run, and the package each comes from. Debian's minimal base
# already has coreutils, util-linux (taskset, mountpoint), grep, sed, mawk, bash and libc-bin
# (getconf); they are listed so --check and --package can name them too.
declare -A provider=(
    [clang]=clang [llc]=llvm [gcc]=build-essential [make]=build-essential [m4]=m4 [pkg-config]=pkg-config
    [ip]=iproute2 [ethtool]=ethtool [sysctl]=procps [kill]=procps [ps]=procps
    [curl]=curl [python3]=python3 [ping]=iputils-ping [arping]=iputils-arping [tcpdump]=tcpdump
    [keepalived]=keepalived [ucarp]=ucarp [nft]=nftables [gnuplot]=gnuplot-nox [bird]=bird2 [birdc]=bird2
    [promtool]=prometheus [prometheus]=prometheus [tshark]=tshark
    [taskset]=util-linux [mountpoint]=util-linux [mount]=mount [timeout]=coreutils [getconf]=libc-bin
)
# Libraries and headers the build needs (no command to check them by): libbpf-dev for
# bpf/bpf_helpers.h (bpf/*.bpf.c); libelf, zlib and libpcap for libxdp/libbpf, which xsk-rs builds
# from source; gcc-multilib for the 32-bit asm headers libxdp's own BPF programs include.
libraries=(libbpf-dev libelf-dev zlib1g-dev libpcap-dev)
[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] && libraries+=(gcc-multilib)
# Tools one script needs for itself, installed only when it asks (--with).
declare -A optional=([valgrind]=valgrind [perf]=linux-perf [bpftool]=bpftool)

package_of() {
    if [ -n "${provider[$1]:-}" ]; then echo "${provider[$1]}"
    elif [ -n "${optional[$1]:-}" ]; then echo "${optional[$1]}"
    else echo "unknown (not in scripts/deps.sh)"; return 1
    fi
}

check() {
    local cmd package missing=0
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null && continue
        if package=$(package_of "$cmd"); then
            echo "missing: $cmd (Debian package $package; scripts/deps.sh installs it)" >&2
        else
            echo "missing: $cmd (not a tool scripts/deps.sh knows)" >&2
        fi
        missing=1
    done
    return "$missing"
}

install_packages() {
    local package missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || { echo "deps: installing ${missing[*]} needs root" >&2; exit 1; }
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Debian's prometheus package enables and starts a Prometheus server on :9090; the tests only
    # run its binaries (promtool, and prometheus inside a lab namespace), so a director must not get
    # a server from this script. A policy-rc.d (unless the host has its own) denies every start
    # during the install, and the service is disabled after, with or without systemd running.
    local own_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        own_policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\n# scripts/deps.sh: no service starts while it installs\nexit 101\n' >"$own_policy"
        chmod 755 "$own_policy"
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ -n "$own_policy" ]; then rm -f "$own_policy"; trap - EXIT; fi
    if printf '%s\n' "${missing[@]}" | grep -qx prometheus; then quiet_prometheus; fi
}

# Only for a prometheus this script installed: an administrator's own server is left alone.
quiet_prometheus() {
    if [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    else
        # A chroot or container: no systemd to ask; the same symlinks, removed offline.
        if command -v deb-systemd-helper >/dev/null; then
            deb-systemd-helper disable prometheus.service >/dev/null 2>&1 || true
        fi
        if command -v update-rc.d >/dev/null; then update-rc.d prometheus disable >/dev/null 2>&1 || true; fi
    fi
    echo "deps: prometheus installed for its binaries only; its service is disabled (not started)"
}

extra=() with=()
case "${1:-}" in
    --check) shift; check "$@"; exit ;;
    --package) package_of "${2:?usage: deps.sh --package CMD}"; exit ;;
    --with)
        shift
        with=("$@")
        for tool in "$@"; do
            [ -n "${optional[$tool]:-}" ] || { echo "deps: no optional tool '$tool' (have: ${!optional[*]})" >&2; exit 2; }
            extra+=("${optional[$tool]}")
        done
        ;;
    "") ;;
    *) echo "usage: deps.sh [--with TOOL... | --check CMD... | --package CMD]" >&2; exit 2 ;;
esac

mapfile -t tools < <(printf '%s\n' "${provider[@]}" | sort -u)
install_packages "${tools[@]}" "${libraries[@]}" "${extra[@]}"
check "${!provider[@]}" "${with[@]}"
if ! mountpoint -q /sys/fs/bpf; then
    mount -t bpf bpf /sys/fs/bpf
fi
if ! command -v cargo >/dev/null; then
    echo "deps: cargo is not on PATH (the machine's Rust toolchain is required)" >&2
    exit 1
fi
