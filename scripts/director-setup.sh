#!/usr/bin/env bash
# Prepares this host as an LVS direct-routing director for ulvs: the LVS-DR sysctls
# (ip_forward=0, send_redirects=0 on all, default and IFACE) and bpffs for the XDP program.
# The director must not hold the VIP itself: ulvs answers ARP for it.
#
#   director-setup.sh IFACE
set -euo pipefail
iface=${1:?usage: director-setup.sh IFACE}
sysctl -qw net.ipv4.ip_forward=0 \
    net.ipv4.conf.all.send_redirects=0 \
    net.ipv4.conf.default.send_redirects=0 \
    "net.ipv4.conf.$iface.send_redirects=0"
if ! mountpoint -q /sys/fs/bpf; then
    mount -t bpf bpf /sys/fs/bpf
fi
