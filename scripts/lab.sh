#!/usr/bin/env bash
# The ulvs netns lab: a client, a director and N LVS-DR real servers on one bridge.
#
#   scripts/lab.sh up   PREFIX [REAL_SERVERS]   build it (default 2 real servers)
#   scripts/lab.sh down PREFIX                  tear it down (idempotent)
#
# Namespaces: PREFIX-sw (the bridge), PREFIX-client 10.0.0.1, PREFIX-dir 10.0.0.2,
# PREFIX-rs1 10.0.0.11, PREFIX-rs2 10.0.0.12, ...; the VIP is 10.0.0.100. Inside each namespace the
# LAN port is eth0. Real servers hold the VIP on lo with arp_ignore=1 / arp_announce=2 (scripts/
# rs-setup.sh) and run an HTTP server on :80 and a UDP service on VIP:5353 that answer with their own
# name. The director gets the LVS-DR
# sysctls (ip_forward=0, send_redirects=0) and does NOT hold the VIP: ulvs answers ARP for it.
# LAB_DIRECTORS=2 adds a second director, PREFIX-dir2 10.0.0.3, set up like the first (for HA).
# Every veth keeps its default offloads, as in a lab anyone builds: senders on this host leave
# TCP/UDP checksums partial and hand over GSO frames bigger than the MTU. LAB_OFFLOADS=off turns
# checksum and segmentation offload off on every node and bridge port, to model real NICs (which
# finish checksums and segment on the wire).
# LAB_IPV6=on makes the lab dual stack: every node also gets 2001:db8::N/64 (client ::1, dir ::2,
# dir2 ::3, rsN ::1N), the real servers hold the IPv6 VIP 2001:db8::100 on lo as well (rs-setup.sh)
# and run the HTTP service on [::]:80 too.
# All addresses live only inside these namespaces.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: lab.sh up|down PREFIX [REAL_SERVERS]}
prefix=${2:?usage: lab.sh up|down PREFIX [REAL_SERVERS]}
count=${3:-2}
# Two queues per veth, so the director runs two workers by default (one per RX queue).
queues=${LAB_QUEUES:-2}
directors=${LAB_DIRECTORS:-1}
offloads=${LAB_OFFLOADS:-on}
ipv6=${LAB_IPV6:-off}
case "$offloads" in on|off) ;; *) echo "lab.sh: LAB_OFFLOADS is on or off, not $offloads" >&2; exit 2 ;; esac
state=/run/ulvs-lab/$prefix
VIP=10.0.0.100
VIP6=2001:db8::100
"$here/deps.sh" --check ip ethtool sysctl python3 || exit 1

ns() { echo "$prefix-$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }

# Joins namespace NODE to the bridge with a veth pair created directly inside the namespaces, so no
# interface ever appears (or collides) in the host's namespace.
plug() {
    local node=$1 addr=$2 port="p-$1"
    ip netns add "$(ns "$node")"
    ip link add eth0 netns "$(ns "$node")" numtxqueues "$queues" numrxqueues "$queues" type veth \
        peer name "$port" netns "$(ns sw)" numtxqueues "$queues" numrxqueues "$queues"
    in_ns sw ip link set "$port" master br0 up
    in_ns "$node" ip link set lo up
    in_ns "$node" ip addr add "$addr/24" dev eth0
    if [ "$ipv6" = on ]; then
        in_ns "$node" ip -6 addr add "2001:db8::${addr##*.}/64" dev eth0 nodad
    fi
    in_ns "$node" ip link set eth0 up
    if [ "$offloads" = off ]; then
        # As behind real NICs: full checksums and MTU-sized frames on the wire.
        in_ns "$node" ethtool -K eth0 tx off tso off gso off gro off >/dev/null
        in_ns sw ethtool -K "$port" tso off gso off gro off >/dev/null
    fi
}

up() {
    down 2>/dev/null || true
    mkdir -p "$state"
    ip netns add "$(ns sw)"
    in_ns sw ip link add br0 type bridge
    in_ns sw ip link set br0 up
    plug client 10.0.0.1
    plug dir 10.0.0.2
    in_ns dir "$here/director-setup.sh" eth0
    if [ "$directors" -ge 2 ]; then
        plug dir2 10.0.0.3
        in_ns dir2 "$here/director-setup.sh" eth0
    fi
    for i in $(seq 1 "$count"); do
        plug "rs$i" "10.0.0.$((10 + i))"
        # Its saved sysctls live with the lab's state, and go when the lab does.
        vips=("$VIP")
        [ "$ipv6" = on ] && vips+=("$VIP6")
        in_ns "rs$i" env ULVS_RS_STATE="$state/rs$i-setup" "$here/rs-setup.sh" up "${vips[@]}" >/dev/null
        # `ip netns exec` execs the server, so $! is the server's own pid (through the in_ns
        # function it would be a subshell's, and killing that would leave the server running).
        ip netns exec "$(ns "rs$i")" python3 "$here/http-rs.py" "rs$i" 80 >/dev/null 2>&1 &
        echo $! >"$state/http-rs$i.pid"
        ip netns exec "$(ns "rs$i")" python3 "$here/udp-rs.py" "rs$i" "$VIP" 5353 >/dev/null 2>&1 &
        echo $! >"$state/udp-rs$i.pid"
        if [ "$ipv6" = on ]; then
            ip netns exec "$(ns "rs$i")" python3 "$here/http-rs.py" "rs$i" 80 --ipv6 >/dev/null 2>&1 &
            echo $! >"$state/http6-rs$i.pid"
        fi
    done
    echo "$count" >"$state/count"
    for i in $(seq 1 "$count"); do
        for _ in $(seq 1 50); do
            in_ns "rs$i" bash -c 'exec 3<>/dev/tcp/127.0.0.1/80' 2>/dev/null &&
                { [ "$ipv6" != on ] || in_ns "rs$i" bash -c 'exec 3<>/dev/tcp/::1/80' 2>/dev/null; } && break
            sleep 0.1
        done
    done
}

down() {
    if [ -d "$state" ]; then
        for pidfile in "$state"/*.pid; do
            [ -e "$pidfile" ] || continue
            kill "$(cat "$pidfile")" 2>/dev/null || true
        done
        rm -rf "$state"
    fi
    for name in $(ip netns list | awk '{print $1}' | grep -E "^$prefix-(sw|client|dir|dir2|rs[0-9]+)$" || true); do
        # Processes still inside (a crashed test's daemon) would keep the veths alive.
        for pid in $(ip netns pids "$name" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
        ip netns del "$name"
    done
}

case "$cmd" in
    up) up ;;
    down) down ;;
    *) echo "usage: lab.sh up|down PREFIX [REAL_SERVERS]" >&2; exit 2 ;;
esac
