#!/usr/bin/env bash
# The ulvs lab demo: builds ulvs, creates the netns lab (client, director, rs1, rs2 on one bridge),
# runs `ulvs run` on the director, makes 100 HTTP requests from the client to http://VIP/ and prints
# which real server answered how often, then the director's counters. Tears the lab down on exit or
# Ctrl-C.
#
# --ha: failover instead. Two directors, dir 10.0.0.2 (priority 200) and dir2 10.0.0.3 (priority
# 100), share the VIP with VRRPv3 every 200 ms. While the client makes its requests the master gets
# SIGTERM (it resigns with a priority-0 advert, dir2 takes over); then, under a second round of
# requests, dir starts again and preempts back. Prints the roles, who answered and how many failed.
#
# --ecmp: active-active instead (LAB_TOPOLOGY=ecmp). Three directors announce the VIP through BIRD 2
# to a router that spreads the flows over them (ECMP, L4 hash, BFD), each with
# examples/ecmp/ulvs.toml (mh, sloppy_tcp, [bgp]). 300 HTTP requests from the client on its own
# subnet: who answered and each director's share. Then, under a second round of requests, dir is
# drained (SIGTERM: withdraw, keep forwarding 5 s, stop) and dir2 crashes (link down, SIGKILL; BFD
# takes it out): who answered, how many failed, and the router's route before and after each.
#
#   sudo scripts/demo.sh [--ha | --ecmp] [--io auto|xdp|packet] [--scheduler rr|wrr|lc|wlc|sh|mh] [--requests N]
set -euo pipefail
cd "$(dirname "$0")/.."

ha= ecmp= io=auto scheduler=wrr requests=100
pace= # seconds between two requests (--ha: long enough that both takeovers happen under load)
while [ $# -gt 0 ]; do
    case "$1" in
        --ha) ha=1 pace=0.05; shift ;;
        --ecmp) ecmp=1 requests=300; shift ;;
        --io) io=$2; shift 2 ;;
        --scheduler) scheduler=$2; shift 2 ;;
        --requests) requests=$2; shift 2 ;;
        *) echo "usage: demo.sh [--ha | --ecmp] [--io auto|xdp|packet] [--scheduler NAME] [--requests N]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "demo.sh needs root (network namespaces, XDP)" >&2; exit 1; }

scripts/deps.sh
cargo build --release --quiet
ulvs=$PWD/target/release/ulvs

prefix=${ULVS_LAB_TAG:-}ulvsdemo
state=/run/ulvs-lab/$prefix
declare -A daemon=() # director → the pid of the `ulvs run` we started there
client_loop=
cleanup() {
    [ -n "$client_loop" ] && kill "$client_loop" 2>/dev/null || true
    for pid in "${daemon[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
    scripts/lab.sh down "$prefix"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The ulvs.toml of director NODE; with a PRIORITY, it shares the VIP in a VRRPv3 instance.
config() { # NODE [PRIORITY]
    cat <<TOML
[director]
interface = "eth0"
io = "$io"
control = "$state/$1.sock"

[[service]]
vip = "10.0.0.100"
port = 80
protocol = "tcp"
scheduler = "$scheduler"

  [[service.real]]
  ip = "10.0.0.11"
  weight = 3
  [[service.real]]
  ip = "10.0.0.12"
  weight = 1
TOML
    [ -z "${2:-}" ] || cat <<TOML

[[vrrp]]
name = "VI_1"
protocol = "vrrp3"
vrid = 51
priority = $2
interval = "200ms"
vips = ["10.0.0.100"]
TOML
}

start() { # NODE [PRIORITY]: runs ulvs there and waits for its control socket
    config "$@" >"$state/$1.toml"
    rm -f "$state/$1.sock"
    # `ip netns exec` execs ulvs, so $! is the daemon itself.
    ip netns exec "$prefix-$1" "$ulvs" run --config "$state/$1.toml" 2>"$state/$1.log" &
    daemon[$1]=$!
    for _ in $(seq 1 100); do
        [ -S "$state/$1.sock" ] && return 0
        kill -0 "${daemon[$1]}" 2>/dev/null || { cat "$state/$1.log"; exit 1; }
        sleep 0.1
    done
}

ctl() { # NODE ARGS...
    ip netns exec "$prefix-$1" "$ulvs" ctl --control "$state/$1.sock" "${@:2}"
}

requests() { # one line per request: the real server that answered, or FAILED
    for _ in $(seq 1 "$requests"); do
        ip netns exec "$prefix-client" curl -s --max-time 2 http://10.0.0.100/ || echo "FAILED"
        [ -z "$pace" ] || sleep "$pace"
    done
}

tally() { sort | uniq -c | sed 's/^/   /'; }

if [ -n "$ecmp" ]; then
    # shellcheck source=scripts/demo-ecmp.sh
    . scripts/demo-ecmp.sh
    exit 0
fi

if [ -z "$ha" ]; then
    scripts/lab.sh up "$prefix" 2
    echo "== starting ulvs on the director (io=$io, scheduler=$scheduler, weights rs1:rs2 = 3:1)"
    start dir
    sed 's/^/   ulvs: /' "$state/dir.log"

    echo "== $requests requests from the client to http://10.0.0.100/"
    requests | tally

    echo "== the client's neighbour entry for the VIP (the director's MAC: $(ip netns exec "$prefix-dir" cat /sys/class/net/eth0/address))"
    ip netns exec "$prefix-client" ip neigh show 10.0.0.100 | sed 's/^/   /'
    echo "== ulvs ctl -L -n --stats"
    ctl dir -L -n --stats | sed 's/^/   /'
    echo "== ulvs ctl -L -n"
    ctl dir -L -n | sed 's/^/   /'
    echo "== ulvs ctl status"
    ctl dir status | sed 's/^/   /'
    exit 0
fi

role() { # NODE → its `ulvs ctl status` vrrp line
    ctl "$1" status 2>/dev/null | grep '^vrrp' || echo "(not running)"
}

roles() {
    for node in dir dir2; do echo "   $node: $(role "$node")"; done
}

wait_role() { # NODE ROLE (the start of the status line after the name), for at most 5 s
    for _ in $(seq 1 50); do
        role "$1" | grep -q "^vrrp VI_1 $2 " && return 0
        sleep 0.1
    done
    echo "demo: $1 did not become $2" >&2
    return 1
}

# The requests in the background; once a quarter of them are answered, runs ACTION... . Then the
# tally and how many failed.
under_load() { # ACTION...
    requests >"$state/answers" &
    client_loop=$!
    for _ in $(seq 1 100); do
        [ "$(wc -l <"$state/answers")" -ge $((requests / 4)) ] && break
        sleep 0.05
    done
    "$@"
    wait "$client_loop"
    client_loop=
    tally <"$state/answers"
    echo "   failed: $(grep -c FAILED "$state/answers" || true) of $requests"
}

stop_dir() {
    echo "   (SIGTERM to dir's ulvs, pid ${daemon[dir]})"
    kill -TERM "${daemon[dir]}"
    wait "${daemon[dir]}" || true
    unset 'daemon[dir]'
    wait_role dir2 MASTER
    echo "   (dir2 is MASTER; requests made so far: $(wc -l <"$state/answers"))"
}

restart_dir() {
    echo "   (dir's ulvs starts again)"
    start dir 200
    wait_role dir MASTER
    echo "   (dir is MASTER again; requests made so far: $(wc -l <"$state/answers"))"
}

LAB_DIRECTORS=2 scripts/lab.sh up "$prefix" 2
echo "== starting ulvs on dir (priority 200) and dir2 (priority 100): VRRPv3 VRID 51, 200 ms, VIP 10.0.0.100"
start dir 200
wait_role dir MASTER
start dir2 100
wait_role dir2 "BACKUP priority 100 master 10.0.0.2"
roles

echo "== $requests requests to http://10.0.0.100/; after a quarter the master, dir, gets SIGTERM"
under_load stop_dir
roles

echo "== $requests more requests; after a quarter dir starts again and preempts back"
under_load restart_dir
wait_role dir2 "BACKUP priority 100 master 10.0.0.2"
roles
