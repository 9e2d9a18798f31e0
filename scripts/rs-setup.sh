#!/usr/bin/env bash
# Sets up (or undoes) this host as an LVS direct-routing real server for the given VIPs:
# each VIP on lo as /32, and arp_ignore=1 / arp_announce=2 on all and lo, so the host accepts
# packets for the VIP but never answers ARP for it or uses it as an ARP source.
#
#   rs-setup.sh up VIP...      rs-setup.sh down VIP...
set -euo pipefail
cmd=${1:?usage: rs-setup.sh up|down VIP...}
shift
[ $# -gt 0 ] || { echo "usage: rs-setup.sh up|down VIP..." >&2; exit 2; }
case "$cmd" in
    up)
        sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.lo.arp_ignore=1 \
            net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.lo.arp_announce=2
        for vip in "$@"; do
            ip addr replace "$vip/32" dev lo
        done
        ;;
    down)
        for vip in "$@"; do
            ip addr del "$vip/32" dev lo 2>/dev/null || true
        done
        sysctl -qw net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.lo.arp_ignore=0 \
            net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.lo.arp_announce=0
        ;;
    *) echo "usage: rs-setup.sh up|down VIP..." >&2; exit 2 ;;
esac
