#!/usr/bin/env bash
# Reproduces the IPv6, ICMPv6 and NDP test vectors in src/wire/ipv6.rs, src/wire/icmpv6.rs and
# fuzz/seeds/wire_{ipv6,icmpv6}: real Linux stacks in three namespaces send what a director meets on
# an IPv6 LAN, and tcpdump records it on the client's link.
#
#   sudo scripts/capture-ipv6-vectors.sh [OUTDIR]     (default: a temporary directory, printed at the end)
#
# Namespaces ${ULVS_LAB_TAG}cap6-a (client, 2001:db8:1::1, 02:00:00:00:06:01), ${ULVS_LAB_TAG}cap6-r
# (router, 2001:db8:1::ff / 2001:db8:2::ff) and ${ULVS_LAB_TAG}cap6-b (server, 2001:db8:2::2); the
# router's link to the server has an MTU of 1280, so a bigger packet from the client earns a Packet
# Too Big. Checksum offload is off on the client, so captured checksums are whole. Everything is
# removed on exit, failure included; only processes started here are stopped, by PID.
#
# What is captured (OUTDIR/ipv6.pcap, and one file per frame in OUTDIR/frames/NAME.bin):
#   ns, na            the router's address resolved: Neighbour Solicitation (with the source
#                     link-layer option) and the solicited Advertisement (R, S, O; target link-layer)
#   echo-request, echo-reply     ping -6
#   udp               a UDP datagram to a closed port, and the port-unreachable it earns (unreach)
#   tcp-syn           a TCP SYN to the server
#   frag-first, frag-last        a 3000-byte UDP datagram in three fragments (the first with the
#                     ports), sent after the Packet Too Big taught the client the 1280 path MTU
#   ptb               the router's Packet Too Big (MTU 1280) for a 1400-byte packet
#   exthdr            UDP behind hop-by-hop options, a segment routing header and destination options
#   mld               an MLDv2 report (hop-by-hop with router alert, as the kernel sends it)
#   dad-ns            Duplicate Address Detection's solicitation for a new address (unspecified
#                     source, no option), and then
#   unsolicited-na    the Advertisement the address announces itself with once DAD passed
#                     (ndisc_notify: O set, S clear, to all nodes)
set -euo pipefail
"$(dirname "$0")/deps.sh"

tag=${ULVS_LAB_TAG:-}
A="${tag}cap6-a"
R="${tag}cap6-r"
B="${tag}cap6-b"
out=${1:-$(mktemp -d /tmp/ipv6-vectors.XXXXXX)}
mkdir -p "$out/frames"
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    for ns in "$A" "$R" "$B"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

for ns in "$A" "$R" "$B"; do
    ip netns add "$ns"
    ip netns exec "$ns" ip link set lo up
done
ip link add eth0 netns "$A" address 02:00:00:00:06:01 type veth peer name eth0 netns "$R" address 02:00:00:00:06:fe
ip link add eth1 netns "$R" address 02:00:00:00:06:fd type veth peer name eth0 netns "$B" address 02:00:00:00:06:02
ip netns exec "$R" ip link set eth1 mtu 1280
ip netns exec "$B" ip link set eth0 mtu 1280
ip netns exec "$R" sysctl -qw net.ipv6.conf.all.forwarding=1
ip netns exec "$A" ethtool -K eth0 tx off >/dev/null
ip netns exec "$A" ip addr add 2001:db8:1::1/64 dev eth0 nodad
ip netns exec "$R" ip addr add 2001:db8:1::ff/64 dev eth0 nodad
ip netns exec "$R" ip addr add 2001:db8:2::ff/64 dev eth1 nodad
ip netns exec "$B" ip addr add 2001:db8:2::2/64 dev eth0 nodad
for ns in "$A" "$R" "$B"; do ip netns exec "$ns" ip link set eth0 up; done
ip netns exec "$R" ip link set eth1 up
ip netns exec "$A" ip -6 route add default via 2001:db8:1::ff
ip netns exec "$B" ip -6 route add default via 2001:db8:2::ff
# Wait for the link-local addresses (the router's NA comes from one) before sending anything.
for _ in $(seq 50); do
    ip netns exec "$A" ip -6 addr show dev eth0 scope link tentative | grep -q inet6 || break
    sleep 0.1
done

ip netns exec "$A" tcpdump -i eth0 -U -n -w "$out/ipv6.pcap" ip6 2>/dev/null &
pids+=($!)
sleep 0.5

in_a() { ip netns exec "$A" "$@"; }
# A TCP listener on the server for the SYN, bounded in time.
ip netns exec "$B" timeout 10 python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.bind(("2001:db8:2::2", 80)); s.listen(1)
c, _ = s.accept(); c.close()' &
pids+=($!)
sleep 0.3

in_a ping -6 -c1 -W2 -s 56 2001:db8:2::2 >/dev/null
in_a python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.sendto(b"ping\n", ("2001:db8:2::2", 5353))'
sleep 0.3
in_a python3 -c '
import socket
s = socket.create_connection(("2001:db8:2::2", 80), timeout=3); s.close()'
# 1400 bytes to the server: the router answers with Packet Too Big (MTU 1280).
in_a python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, 62, 2)  # IPV6_MTU_DISCOVER = IPV6_PMTUDISC_DO: no local fragmenting
s.sendto(bytes(1352), ("2001:db8:2::2", 9))'
sleep 0.3
# Then 3000 bytes: fragmented by the client to the path MTU it just learnt.
in_a python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.sendto(bytes(range(256)) * 11 + bytes(184), ("2001:db8:2::2", 9))'
# Hop-by-hop (PadN), a segment routing header (type 4) through the router, destination options (PadN).
in_a python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_HOPOPTS, bytes([0, 0, 1, 4, 0, 0, 0, 0]))
final, via = socket.inet_pton(socket.AF_INET6, "2001:db8:2::2"), socket.inet_pton(socket.AF_INET6, "2001:db8:1::ff")
srh = bytes([0, 4, 4, 1, 1, 0, 0, 0]) + final + via
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RTHDR, srh)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, bytes([0, 0, 1, 4, 0, 0, 0, 0]))
s.sendto(b"ext\n", ("2001:db8:2::2", 7))'
# Joining a group sends an MLDv2 report (hop-by-hop, router alert).
in_a python3 -c '
import socket, struct, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
group = socket.inet_pton(socket.AF_INET6, "ff05::1:3")
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group + struct.pack("@I", socket.if_nametoindex("eth0")))
time.sleep(0.3)'
# A new address announces itself with an unsolicited Advertisement; DAD solicits first.
in_a sysctl -qw net.ipv6.conf.eth0.ndisc_notify=1
in_a ip addr add 2001:db8:1::6/64 dev eth0
# DAD takes a second (one solicitation, RetransTimer); the announcement follows it.
sleep 2
kill "${pids[0]}" 2>/dev/null || true
wait "${pids[0]}" 2>/dev/null || true

tshark -r "$out/ipv6.pcap" -n 2>/dev/null
# One file per named frame: the first frame matching each tshark filter, whole Ethernet frame.
extract() {
    local name=$1 filter=$2
    local n
    n=$(tshark -r "$out/ipv6.pcap" -n -Y "$filter" -T fields -e frame.number 2>/dev/null | head -1)
    [ -n "$n" ] || { echo "no frame for $name ($filter)" >&2; return 1; }
    # The frame's own bytes from the pcap (tshark -x would add what it reassembled).
    python3 - "$out/ipv6.pcap" "$n" "$out/frames/$name.bin" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
endian = "<" if data[:4] == bytes.fromhex("d4c3b2a1") else ">"
at, wanted = 24, int(sys.argv[2])
for number in range(1, wanted + 1):
    caplen = struct.unpack(endian + "I", data[at + 8:at + 12])[0]
    frame = data[at + 16:at + 16 + caplen]
    at += 16 + caplen
open(sys.argv[3], "wb").write(frame)
PY
    echo "$name: frame $n, $(stat -c %s "$out/frames/$name.bin") bytes"
}
extract ns 'icmpv6.type == 135 && ipv6.src != ::'
extract na 'icmpv6.type == 136 && icmpv6.nd.na.flag.s == 1'
extract echo-request 'icmpv6.type == 128'
extract echo-reply 'icmpv6.type == 129'
extract udp 'udp.dstport == 5353'
extract unreach 'icmpv6.type == 1'
extract tcp-syn 'tcp.flags.syn == 1 && tcp.flags.ack == 0'
extract frag-first 'ipv6.fraghdr.offset == 0 && ipv6.fraghdr.more == 1'
extract frag-last 'ipv6.fraghdr.offset > 0 && ipv6.fraghdr.more == 0'
extract ptb 'icmpv6.type == 2'
extract exthdr 'ipv6.routing && udp'
extract mld 'icmpv6.type == 143'
extract unsolicited-na 'icmpv6.type == 136 && icmpv6.nd.na.flag.s == 0'
extract dad-ns 'icmpv6.type == 135 && ipv6.src == ::'
echo "captures in $out"
