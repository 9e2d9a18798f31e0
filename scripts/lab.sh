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
#
# LAB_TOPOLOGY=ecmp builds the active-active lab instead (issue 21): a client on its own subnet
# (PREFIX-client 10.1.0.1/24) behind a router (PREFIX-router: 10.1.0.254 towards the client,
# 10.0.0.254 on the bridge) running BIRD 2 with ECMP into its kernel (merge paths,
# fib_multipath_hash_policy = 1: the L4 hash) and BFD; LAB_DIRECTORS directors (default 3: dir
# 10.0.0.2, dir2 10.0.0.3, dir3 10.0.0.4), each with BIRD 2 and a BGP session to the router, that
# export what ulvs puts in table 100; and the real servers, whose default gateway is the router
# (their direct-routing replies go client-ward through it). The BIRD configurations are
# examples/ecmp/bird-director.conf and bird-router.conf with each node's address put in; their
# control sockets are /run/ulvs-lab/PREFIX/bird-NODE.ctl (birdc -s …) and their logs beside them.
# With LAB_IPV6=on the ECMP lab is dual stack too: the client 2001:db8:1::1/64 behind the router
# (2001:db8:1::254, and 2001:db8::254 on the bridge, forwarding with the L4 hash), every node on the
# bridge at 2001:db8::N/64, the real servers' IPv6 default route via the router, and a second BGP
# session per director over IPv6 carrying the IPv6 VIPs (the examples' `uplink6` and `director6`).
# All addresses live only inside these namespaces.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: lab.sh up|down PREFIX [REAL_SERVERS]}
prefix=${2:?usage: lab.sh up|down PREFIX [REAL_SERVERS]}
count=${3:-2}
# Two queues per veth, so the director runs two workers by default (one per RX queue).
queues=${LAB_QUEUES:-2}
topology=${LAB_TOPOLOGY:-lan}
case "$topology" in lan) default_directors=1 ;; ecmp) default_directors=3 ;;
    *) echo "lab.sh: LAB_TOPOLOGY is lan or ecmp, not $topology" >&2; exit 2 ;; esac
directors=${LAB_DIRECTORS:-$default_directors}
offloads=${LAB_OFFLOADS:-on}
ipv6=${LAB_IPV6:-off}
case "$offloads" in on|off) ;; *) echo "lab.sh: LAB_OFFLOADS is on or off, not $offloads" >&2; exit 2 ;; esac
state=/run/ulvs-lab/$prefix
VIP=10.0.0.100
VIP6=2001:db8::100
"$here/deps.sh" --check ip ethtool sysctl python3 || exit 1

ns() { echo "$prefix-$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }

# A new namespace for NODE, without IPv6 Duplicate Address Detection: the lab's addresses are unique
# by construction, and while an interface's link-local address is still tentative (the first second
# or two after it comes up) Linux sends no Neighbour Solicitation from it, so a real server could
# not reach a client that came before its DAD ended (its SYN-ACK waits a retransmit, 1 s or more).
add_ns() {
    ip netns add "$(ns "$1")"
    in_ns "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# Joins namespace NODE to the bridge with a veth pair created directly inside the namespaces, so no
# interface ever appears (or collides) in the host's namespace.
plug() {
    local node=$1 addr=$2 port="p-$1"
    add_ns "$node"
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
    add_ns sw
    in_ns sw ip link add br0 type bridge
    in_ns sw ip link set br0 up
    if [ "$topology" = ecmp ]; then
        up_ecmp
        return
    fi
    plug client 10.0.0.1
    plug dir 10.0.0.2
    in_ns dir "$here/director-setup.sh" eth0
    if [ "$directors" -ge 2 ]; then
        plug dir2 10.0.0.3
        in_ns dir2 "$here/director-setup.sh" eth0
    fi
    real_servers
}

# The real servers: the VIP on lo (scripts/rs-setup.sh), an HTTP server on :80 and a UDP service
# on VIP:5353 answering with their name; GATEWAY (and GATEWAY6 in a dual-stack lab), when given,
# becomes their default route.
real_servers() { # [GATEWAY [GATEWAY6]]
    for i in $(seq 1 "$count"); do
        plug "rs$i" "10.0.0.$((10 + i))"
        [ -z "${1:-}" ] || in_ns "rs$i" ip route add default via "$1"
        [ -z "${2:-}" ] || [ "$ipv6" != on ] || in_ns "rs$i" ip -6 route add default via "$2"
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

# BIRD 2 in NODE's namespace on CONFIG (its log beside it), in the foreground so $! is BIRD.
bird_on() { # NODE CONFIG
    ip netns exec "$(ns "$1")" bird -f -c "$2" -s "$state/bird-$1.ctl" -P "$state/bird-$1.birdpid" \
        >"$state/bird-$1.log" 2>&1 &
    echo $! >"$state/bird-$1.pid"
}

director_name() { # INDEX (1-based) → dir, dir2, dir3 …
    if [ "$1" -eq 1 ]; then echo dir; else echo "dir$1"; fi
}

# bird-director.conf without its IPv6 session (the blocks from "# IPv6 VIPs" on), for an IPv4 lab.
ipv4_only() { sed '/^# IPv6 VIPs/,$d'; }

up_ecmp() {
    "$here/deps.sh" --check bird birdc || exit 1
    local examples=$here/../examples/ecmp i node addr
    plug router 10.0.0.254
    add_ns client
    ip link add eth0 netns "$(ns client)" numtxqueues "$queues" numrxqueues "$queues" type veth \
        peer name eth1 netns "$(ns router)" numtxqueues "$queues" numrxqueues "$queues"
    in_ns client ip link set lo up
    in_ns client ip addr add 10.1.0.1/24 dev eth0
    in_ns client ip link set eth0 up
    in_ns client ip route add default via 10.1.0.254
    in_ns router ip addr add 10.1.0.254/24 dev eth1
    if [ "$ipv6" = on ]; then
        in_ns client ip -6 addr add 2001:db8:1::1/64 dev eth0 nodad
        in_ns client ip -6 route add default via 2001:db8:1::254
        in_ns router ip -6 addr add 2001:db8:1::254/64 dev eth1 nodad
        in_ns router sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.fib_multipath_hash_policy=1
    fi
    in_ns router ip link set eth1 up
    if [ "$offloads" = off ]; then
        in_ns client ethtool -K eth0 tx off tso off gso off gro off >/dev/null
        in_ns router ethtool -K eth1 tx off tso off gso off gro off >/dev/null
    fi
    # A router: it forwards, and hashes each flow's addresses and ports onto one ECMP next hop.
    in_ns router sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
    # The router's BIRD: the example's sessions, one per director of this lab.
    {
        echo "log \"$state/bird-router.log\" all;"
        grep -v '^protocol bgp dir' "$examples/bird-router.conf"
        for i in $(seq 1 "$directors"); do
            echo "protocol bgp dir$i from director { neighbor 10.0.0.$((1 + i)) as 65001; }"
            [ "$ipv6" != on ] || echo "protocol bgp dir${i}v6 from director6 { neighbor 2001:db8::$((1 + i)) as 65001; }"
        done
    } >"$state/bird-router.conf"
    bird_on router "$state/bird-router.conf"
    for i in $(seq 1 "$directors"); do
        node=$(director_name "$i")
        addr=10.0.0.$((1 + i))
        plug "$node" "$addr"
        in_ns "$node" "$here/director-setup.sh" eth0
        {
            echo "log \"$state/bird-$node.log\" all;"
            sed -e "s/^router id 10.0.0.2;/router id $addr;/" -e "s/local 10.0.0.2 as/local $addr as/" \
                -e "s/local 2001:db8::2 as/local 2001:db8::${addr##*.} as/" "$examples/bird-director.conf" |
                if [ "$ipv6" = on ]; then cat; else ipv4_only; fi
        } >"$state/bird-$node.conf"
        bird_on "$node" "$state/bird-$node.conf"
    done
    real_servers 10.0.0.254 2001:db8::254
    # Every session established (BFD up with it) before anyone uses the lab.
    local sessions=$directors
    [ "$ipv6" != on ] || sessions=$((2 * directors))
    for _ in $(seq 1 100); do
        [ "$(in_ns router birdc -s "$state/bird-router.ctl" show protocols 2>/dev/null |
            grep -c ' Established')" -eq "$sessions" ] && return 0
        sleep 0.1
    done
    echo "lab.sh: the router's BGP sessions did not all come up:" >&2
    in_ns router birdc -s "$state/bird-router.ctl" show protocols >&2 || true
    return 1
}

down() {
    if [ -d "$state" ]; then
        for pidfile in "$state"/*.pid; do
            [ -e "$pidfile" ] || continue
            kill "$(cat "$pidfile")" 2>/dev/null || true
        done
        rm -rf "$state"
    fi
    for name in $(ip netns list | awk '{print $1}' | grep -E "^$prefix-(sw|client|router|dir[0-9]*|rs[0-9]+)$" || true); do
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
