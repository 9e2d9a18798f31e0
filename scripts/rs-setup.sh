#!/usr/bin/env bash
# Sets up (or undoes) this host as an LVS direct-routing real server for the given VIPs: each IPv4
# VIP on lo as /32, and arp_ignore=1 / arp_announce=2 on all and lo, so the host accepts packets for
# the VIP but never answers ARP for it nor uses it as an ARP source.
#
# An IPv6 VIP goes on lo as /128 with nodad (no duplicate-address probe: every real server holds
# it), and needs no sysctl (`up` says so): Linux answers a Neighbour
# Solicitation only for an address on the interface it arrived on (never for one on lo), and a
# solicitation it sends takes its source from the packet waiting only when that address is on the
# outgoing interface, else the interface's link-local address — so the VIP is never claimed on the LAN.
# That is what arp_ignore=1 and arp_announce=2 buy for IPv4.
#
#   rs-setup.sh up   [--persist] VIP...   add the VIPs, apply the sysctls (idempotent)
#   rs-setup.sh down VIP...               remove the VIPs; once no IPv4 VIP is left, restore the
#                                         sysctls to what they were before the first `up`
#   rs-setup.sh status                    the VIPs on lo and the four sysctls
#
# --persist also writes the sysctls to /etc/sysctl.d/90-ulvs-rs.conf (removed again by the `down`
# that restores them). The VIPs on lo are not persisted: add them to your network configuration
# (e.g. an `ip addr add VIP/32 dev lo` in ifupdown's `up` hook or a systemd-networkd .network).
#
# The previous sysctl values are saved in $ULVS_RS_STATE (default /var/lib/ulvs/rs-setup/net-INODE,
# one per network namespace), together with the VIPs this script added.
set -euo pipefail
# Often copied alone to a host, so it checks its two tools itself rather than through deps.sh.
command -v ip >/dev/null || { echo "rs-setup.sh: needs ip (Debian package iproute2)" >&2; exit 1; }
command -v sysctl >/dev/null || { echo "rs-setup.sh: needs sysctl (Debian package procps)" >&2; exit 1; }

usage() { echo "usage: rs-setup.sh up [--persist] VIP... | down VIP... | status" >&2; exit 2; }
cmd=${1:-}
[ -n "$cmd" ] || usage
shift

keys=(net.ipv4.conf.all.arp_ignore net.ipv4.conf.lo.arp_ignore net.ipv4.conf.all.arp_announce net.ipv4.conf.lo.arp_announce)
wanted=(1 1 2 2)
netns_inode=$(stat -L -c %i /proc/self/ns/net)
state=${ULVS_RS_STATE:-/var/lib/ulvs/rs-setup/net-$netns_inode}
persist_file=/etc/sysctl.d/90-ulvs-rs.conf

is_ipv4() { [[ $1 != *:* ]]; }
# Whether this script's state still lists an IPv4 VIP.
ipv4_left() { [ -e "$state/vips" ] && grep -qv ':' "$state/vips"; }

check_vips() {
    [ $# -gt 0 ] || usage
    local vip
    for vip in "$@"; do
        [[ $vip =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ || $vip =~ ^[0-9a-fA-F:]*:[0-9a-fA-F:.]*$ ]] ||
            { echo "rs-setup.sh: $vip is not an IPv4 or IPv6 address" >&2; exit 2; }
    done
}

case "$cmd" in
    up)
        persist=0
        if [ "${1:-}" = "--persist" ]; then persist=1; shift; fi
        check_vips "$@"
        mkdir -p "$state"
        ipv4=0
        for vip in "$@"; do is_ipv4 "$vip" && ipv4=1; done
        if [ "$ipv4" = 1 ]; then
            # Save the values from before the first `up` only: a second `up` must not save ours.
            if [ ! -e "$state/sysctl.saved" ]; then
                for key in "${keys[@]}"; do
                    echo "$key=$(sysctl -n "$key")"
                done >"$state/sysctl.saved.tmp"
                mv "$state/sysctl.saved.tmp" "$state/sysctl.saved"
            fi
            for i in "${!keys[@]}"; do
                sysctl -qw "${keys[$i]}=${wanted[$i]}"
            done
        fi
        touch "$state/vips"
        for vip in "$@"; do
            if is_ipv4 "$vip"; then
                ip addr replace "$vip/32" dev lo
            else
                ip -6 addr replace "$vip/128" dev lo nodad
                echo "rs-setup.sh: $vip/128 on lo (nodad). IPv6 needs no arp_ignore/arp_announce: Linux answers a" \
                    "Neighbour Solicitation only for an address of the interface it arrived on, never for one on lo," \
                    "and sends its own solicitations from the outgoing interface's address, so the VIP is never claimed."
            fi
            grep -qxF "$vip" "$state/vips" || echo "$vip" >>"$state/vips"
        done
        if [ "$persist" = 1 ] && [ "$ipv4" = 1 ]; then
            {
                echo "# LVS-DR real server (written by ulvs rs-setup.sh; removed by rs-setup.sh down)"
                for i in "${!keys[@]}"; do echo "${keys[$i]} = ${wanted[$i]}"; done
            } >"$persist_file"
            touch "$state/persisted"
        fi
        ;;
    down)
        check_vips "$@"
        for vip in "$@"; do
            if [[ $vip == *:* ]]; then
                ip -6 addr del "$vip/128" dev lo 2>/dev/null || true
            else
                ip addr del "$vip/32" dev lo 2>/dev/null || true
            fi
            if [ -e "$state/vips" ]; then
                grep -vxF "$vip" "$state/vips" >"$state/vips.tmp" || true
                mv "$state/vips.tmp" "$state/vips"
            fi
        done
        # Restore only when no IPv4 VIP this script added is left (another may still need them).
        if ! ipv4_left && [ -e "$state/sysctl.saved" ]; then
            while IFS= read -r line; do
                sysctl -qw "$line"
            done <"$state/sysctl.saved"
            if [ -e "$state/persisted" ]; then rm -f "$persist_file"; fi
            rm -f "$state/sysctl.saved" "$state/persisted"
        fi
        if [ ! -s "$state/vips" ]; then rm -rf "$state"; fi
        ;;
    status)
        ip -4 -o addr show dev lo | awk '$4 ~ /\/32$/ && $4 !~ /^127\./ {print "vip " $4}'
        ip -6 -o addr show dev lo | awk '$4 ~ /\/128$/ && $4 != "::1/128" {print "vip " $4}'
        for key in "${keys[@]}"; do echo "$key = $(sysctl -n "$key")"; done
        ;;
    *) usage ;;
esac
