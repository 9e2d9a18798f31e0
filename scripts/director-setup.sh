#!/usr/bin/env bash
# Prepares this host as an LVS direct-routing director for ulvs: the LVS-DR sysctls (ip_forward=0,
# send_redirects=0 on all, default and IFACE; with IPv6, net.ipv6.conf.all.forwarding=0) and bpffs
# for the XDP program. The director must not hold the VIP itself: ulvs answers ARP (an IPv6 VIP:
# Neighbour Solicitations) for it.
#
#   director-setup.sh [--persist] [--deps] IFACE
#
# --persist  also writes the sysctls to /etc/sysctl.d/90-ulvs-director.conf, and bpffs to
#            /etc/fstab (when not there yet), so they survive a reboot
# --deps     also installs the packages building ulvs needs (Debian/Ubuntu, apt-get)
set -euo pipefail
# Often copied alone to a host, so it checks its two tools itself rather than through deps.sh.
command -v ip >/dev/null || { echo "director-setup.sh: needs ip (Debian package iproute2)" >&2; exit 1; }
command -v sysctl >/dev/null || { echo "director-setup.sh: needs sysctl (Debian package procps)" >&2; exit 1; }

usage() { echo "usage: director-setup.sh [--persist] [--deps] IFACE" >&2; exit 2; }
persist=0
deps=0
while [ $# -gt 0 ]; do
    case "$1" in
        --persist) persist=1; shift ;;
        --deps) deps=1; shift ;;
        -*) usage ;;
        *) break ;;
    esac
done
iface=${1:-}
[ -n "$iface" ] || usage
[ -e "/sys/class/net/$iface" ] || { echo "director-setup.sh: no interface $iface" >&2; exit 1; }

settings=(
    net.ipv4.ip_forward=0
    net.ipv4.conf.all.send_redirects=0
    net.ipv4.conf.default.send_redirects=0
    "net.ipv4.conf.$iface.send_redirects=0"
)
# A director routes no IPv6 either (ulvs checks it when a service is IPv6).
[ -d /proc/sys/net/ipv6 ] && settings+=(net.ipv6.conf.all.forwarding=0)
sysctl -qw "${settings[@]}"
if [ "$persist" = 1 ]; then
    {
        echo "# LVS-DR director for ulvs (written by director-setup.sh)"
        printf '%s\n' "${settings[@]}" | sed 's/=/ = /'
    } >/etc/sysctl.d/90-ulvs-director.conf
fi

if ! mountpoint -q /sys/fs/bpf; then
    mount -t bpf bpf /sys/fs/bpf
fi
if [ "$persist" = 1 ] && ! grep -qE '^\S+\s+/sys/fs/bpf\s' /etc/fstab; then
    echo "bpf /sys/fs/bpf bpf defaults 0 0" >>/etc/fstab
fi

if [ "$deps" = 1 ]; then
    # Everything building ulvs and its lab need: the one list, in deps.sh beside this script.
    "$(dirname "$0")/deps.sh"
fi
