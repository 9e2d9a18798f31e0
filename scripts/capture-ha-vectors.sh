#!/usr/bin/env bash
# Reproduces the VRRP/CARP test vectors in src/wire/vrrp.rs, src/wire/vrrp6.rs, src/wire/carp.rs,
# src/wire/icmpv6/unsolicited.rs and fuzz/seeds/wire_{vrrp,carp}: real keepalived (VRRPv2 with PASS auth,
# VRRPv3 with its default pseudo-header checksum, multicast and unicast, VRRPv3 over IPv6 multicast and
# unicast with its unsolicited Neighbour Advertisements) and real ucarp (with --pass) advertise in one
# namespace; tcpdump captures in the other.
#
#   sudo scripts/capture-ha-vectors.sh [OUTDIR]      (default: a temporary directory, printed at the end)
#
# Namespaces ${ULVS_LAB_TAG}cap-a (10.99.0.1, 2001:db8:99::1, link-local fe80::aff:fe63:1 from its MAC
# 02:00:0a:63:00:01) and ${ULVS_LAB_TAG}cap-b (10.99.0.2, 2001:db8:99::2), joined by one veth, DAD off; everything is removed on exit, failure included. Only the processes started here
# are stopped, by PID. Needs keepalived, ucarp and tcpdump.
set -euo pipefail
"$(dirname "$0")/deps.sh"

tag=${ULVS_LAB_TAG:-}
A="${tag}cap-a"
B="${tag}cap-b"
out=${1:-$(mktemp -d /tmp/ha-vectors.XXXXXX)}
work=$(mktemp -d /tmp/ha-capture.XXXXXX)
mkdir -p "$out"
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$A"
ip netns add "$B"
ip link add eth0 netns "$A" address 02:00:0a:63:00:01 type veth peer name eth0 netns "$B" address 02:00:0a:63:00:02
for ns in "$A" "$B"; do ip netns exec "$ns" ip link set lo up; done
ip netns exec "$A" ip addr add 10.99.0.1/24 dev eth0
ip netns exec "$B" ip addr add 10.99.0.2/24 dev eth0
ip netns exec "$A" ip addr add 2001:db8:99::1/64 dev eth0 nodad
ip netns exec "$B" ip addr add 2001:db8:99::2/64 dev eth0 nodad
for ns in "$A" "$B"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.accept_dad=0
    ip netns exec "$ns" ip link set eth0 up
done

# capture NAME SECONDS CMD...: runs CMD in namespace A for SECONDS while tcpdump records protocol 112 in B
# (and, with FILTER set, what it selects instead).
capture() {
    local name=$1 secs=$2
    shift 2
    ip netns exec "$B" tcpdump -i eth0 -U -n -w "$out/$name.pcap" ${FILTER:-ip proto 112} 2>/dev/null &
    local dump=$!
    pids+=("$dump")
    sleep 0.5
    ip netns exec "$A" "$@" >"$work/$name.log" 2>&1 &
    local peer=$!
    pids+=("$peer")
    sleep "$secs"
    kill "$peer" 2>/dev/null || true
    wait "$peer" 2>/dev/null || true
    sleep 0.3
    kill "$dump" 2>/dev/null || true
    wait "$dump" 2>/dev/null || true
    pids=()
    echo "== $name"
    tcpdump -r "$out/$name.pcap" -n -v -xx 2>/dev/null | head -40
}

# keepalived_conf VERSION INSTANCE_LINES GLOBAL_LINES [VIP VIP]: one instance, VRID 51, priority 150,
# state MASTER.
keepalived_conf() {
    local version=$1 extra_instance=$2 extra_global=$3 vip1=${4:-10.99.0.100/24} vip2=${5:-10.99.0.101/24}
    cat <<EOF
global_defs {
    router_id hc-capture
    $extra_global
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    version $version
    $extra_instance
    virtual_ipaddress {
        $vip1
        $vip2
    }
}
EOF
}

run_keepalived() {
    local name=$1
    exec keepalived -n -l -D -P -f "$work/$name.conf" -p "$work/$name.pid" \
        --vrrp_pid="$work/$name.vrrp.pid" --checkers_pid="$work/$name.checkers.pid"
}
export -f run_keepalived
export work

# keepalived enters BACKUP first even with state MASTER and takes over after Master_Down_Interval
# (3.4 s at priority 150), so each capture runs 5 s.

# VRRPv2, PASS auth: keepalived sends the first 8 bytes of "secret-pass" ("secret-p").
keepalived_conf 2 'authentication {
        auth_type PASS
        auth_pass secret-pass
    }' '' >"$work/vrrp2-pass.conf"
capture vrrp2-pass 5 bash -c 'run_keepalived vrrp2-pass'

# VRRPv3, keepalived's default checksum (with the IPv4 pseudo-header).
keepalived_conf 3 '' '' >"$work/vrrp3-pseudo.conf"
capture vrrp3-pseudo 5 bash -c 'run_keepalived vrrp3-pseudo'

# VRRPv3 unicast (unicast_src_ip/unicast_peer): the pseudo-header holds the peer's address, not the group.
keepalived_conf 3 'unicast_src_ip 10.99.0.1
    unicast_peer {
        10.99.0.2
    }' '' >"$work/vrrp3-unicast.conf"
capture vrrp3-unicast 5 bash -c 'run_keepalived vrrp3-unicast'

# keepalived 2.2.7 (Debian 12) has no v3_checksum_as_v2, so the RFC 9568 form (checksum over the message
# only) cannot be captured from it: the wire tests derive that vector from vrrp3-pseudo by refilling the
# checksum, and say so.

# VRRPv3 over IPv6 (RFC 5798 §5.1.2): from the link-local address to ff02::12, hop limit 255, the IPv6
# pseudo-header in the checksum, and keepalived's unsolicited Neighbour Advertisements for the VIPs on
# becoming master. The TERM at the end adds the priority-0 advert.
v6_vips=(2001:db8:99::100/64 2001:db8:99::101/64)
FILTER='ip6 proto 112 or (icmp6 and ip6[40] == 136)' keepalived_conf 3 '' '' "${v6_vips[@]}" >"$work/vrrp3-ipv6.conf"
FILTER='ip6 proto 112 or (icmp6 and ip6[40] == 136)' capture vrrp3-ipv6 5 bash -c 'run_keepalived vrrp3-ipv6'

# VRRPv3 over IPv6, unicast: to the peer's global address, from unicast_src_ip.
keepalived_conf 3 'unicast_src_ip 2001:db8:99::1
    unicast_peer {
        2001:db8:99::2
    }' '' "${v6_vips[@]}" >"$work/vrrp3-ipv6-unicast.conf"
FILTER='ip6 proto 112' capture vrrp3-ipv6-unicast 5 bash -c 'run_keepalived vrrp3-ipv6-unicast'

# ucarp, VHID 7, advbase 1, advskew 0, password "secret": master after 3 s of silence.
capture carp-pass 6 ucarp -i eth0 -s 10.99.0.1 -v 7 -p secret -a 10.99.0.100 -b 1 -k 0 \
    -u /bin/true -d /bin/true -z

echo "captures in $out"
