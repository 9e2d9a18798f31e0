#!/usr/bin/env bash
# Client-visible failover gap: ulvs↔ulvs beside keepalived↔keepalived, on the same netns topology.
#
#   sudo scripts/failover-bench.sh [--intervals "1 0.1"] [--bin PATH]
#
# Topology: the lab (scripts/lab.sh) with two directors, dir 10.0.0.2 (priority 200, starts MASTER)
# and dir2 10.0.0.3 (priority 100), VRRPv3, one VIP 10.0.0.100.
# - ulvs pair: each director runs `ulvs run` with a UDP service VIP:5353 forwarded (LVS-DR) to the
#   lab's real servers, which answer from the VIP.
# - keepalived pair: each director runs keepalived (virtual_ipaddress VIP on its eth0) and answers
#   the probe itself (a UDP responder bound to VIP:5353 with IP_FREEBIND): keepalived has no
#   forwarding here, so this measures the same thing, who owns the VIP on the LAN, not LVS.
# The client sends a UDP probe to VIP:5353 every 10 ms from one socket and records when answers
# arrive; the gap is the longest time between two consecutive answers (so a gap of ~10 ms means
# no probe was lost). Two ways the master goes away:
# - crash: its LAN port goes down, then its daemon gets SIGKILL (a dead box: no resignation, and a
#   kernel that still held the VIP cannot keep answering);
# - stop: its daemon gets SIGTERM (VRRP's priority-0 advert: the backup waits only Skew_Time).
#
# --ecmp: the active-active gap instead (LAB_TOPOLOGY=ecmp: three ulvs directors announcing the VIP
# through BIRD 2 to an ECMP router with BFD 100 ms x 3; a UDP service VIP:5353, mh, [bgp] drain 5s).
# The probe runs 12 sockets at once, 12 flows the router's L4 hash spreads over the directors; the
# gap is the longest of any of them, so it is the gap of the flows of the director that leaves.
# dir2 leaves: drained (SIGTERM: the route is withdrawn, dir2 forwards on for 5 s, then stops) or
# crashed (link down, then SIGKILL: BFD takes it out). `--runs N` (default 5) runs of each.
# Everything runs in namespaces named fb-*, torn down on exit; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

intervals="1 0.1"
bin=
ecmp=
runs=5
while [ $# -gt 0 ]; do
    case "$1" in
        --intervals) intervals=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --ecmp) ecmp=1; shift ;;
        --runs) runs=$2; shift 2 ;;
        *) echo "usage: failover-bench.sh [--intervals \"1 0.1\"] [--ecmp [--runs N]] [--bin PATH]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "failover-bench.sh needs root (network namespaces, XDP)" >&2; exit 1; }
scripts/deps.sh
if [ -z "$bin" ]; then
    cargo build --release --quiet --bin ulvs
    bin=$PWD/target/release/ulvs
fi

prefix=${ULVS_LAB_TAG:-}fb
state=/run/ulvs-lab/$prefix
VIP=10.0.0.100
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    scripts/lab.sh down "$prefix" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { local n=$1; shift; ip netns exec "$prefix-$n" "$@"; }

# Probe: $2 UDP sockets (default 1), each a flow of its own, a datagram every 10 ms from each for
# $1 seconds; prints the longest gap between two answers on one socket (ms), how many answers came
# back and how many probes were sent, over all sockets.
probe() {
    in_ns client python3 - "$VIP" "$1" "${2:-1}" <<'PY'
import socket, sys, time
vip, duration, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
sockets = []
for _ in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    sockets.append({"s": s, "last": None})
start = time.monotonic(); next_send = start; gap = 0.0; answers = 0; sent = 0
while time.monotonic() - start < duration:
    now = time.monotonic()
    if now >= next_send:
        for sock in sockets:
            try:
                sock["s"].sendto(b"probe", (vip, 5353))
                sent += 1
            except OSError:
                pass
        next_send += 0.010
    for sock in sockets:
        try:
            while True:
                sock["s"].recvfrom(2048)
                t = time.monotonic(); answers += 1
                if sock["last"] is not None:
                    gap = max(gap, t - sock["last"])
                sock["last"] = t
        except BlockingIOError:
            pass
    time.sleep(0.001)
print(f"{gap * 1000:.0f} {answers} {sent}")
PY
}

# A UDP responder on a keepalived director: bound to the VIP even before it holds it.
responder() {
    ip netns exec "$prefix-$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND
s.bind((sys.argv[1], 5353))
while True:
    _, peer = s.recvfrom(2048)
    s.sendto(b"director\n", peer)
' "$VIP" >/dev/null 2>&1 &
    pids+=($!)
}

ulvs_conf() { # NODE PRIORITY INTERVAL
    cat <<EOF
[director]
interface = "eth0"
io = "xdp"
control = "$state/$1.sock"

[[service]]
vip = "$VIP"
port = 5353
protocol = "udp"
scheduler = "rr"
  [[service.real]]
  ip = "10.0.0.11"
  [[service.real]]
  ip = "10.0.0.12"

[[vrrp]]
name = "VI_1"
vrid = 51
priority = $2
interval = "$(python3 -c "print(round($3 * 1000))")ms"
vips = ["$VIP"]
EOF
}

keepalived_conf() { # PRIORITY INTERVAL
    cat <<EOF
global_defs {
  router_id fb
  enable_script_security
  script_user root
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  version 3
  priority $1
  advert_int $2
  virtual_ipaddress {
    $VIP/24 dev eth0
  }
}
EOF
}

start_pair() { # KIND INTERVAL
    for node in dir dir2; do
        local priority=100
        [ "$node" = dir ] && priority=200
        if [ "$1" = ulvs ]; then
            ulvs_conf "$node" "$priority" "$2" >"$state/$node.toml"
            # Not through in_ns: $! must be the daemon itself (ip netns exec execs it).
            ip netns exec "$prefix-$node" "$bin" run --config "$state/$node.toml" 2>"$state/$node.log" &
        else
            keepalived_conf "$priority" "$2" >"$state/$node.conf"
            responder "$node"
            ip netns exec "$prefix-$node" keepalived -n -l -P -f "$state/$node.conf" -p "$state/$node.kpid" \
                -r "$state/$node.vpid" -c "$state/$node.cpid" >"$state/$node.log" 2>&1 &
        fi
        pids+=($!)
        eval "pid_$node=$!"
    done
}

# Waits until dir is master (it answers the probe from the right place) and the pair is settled.
wait_master() { # KIND
    for _ in $(seq 1 100); do
        if [ "$1" = ulvs ]; then
            in_ns dir "$bin" ctl --control "$state/dir.sock" status 2>/dev/null | grep -q "^vrrp VI_1 MASTER" &&
                in_ns dir2 "$bin" ctl --control "$state/dir2.sock" status 2>/dev/null | grep -q "^vrrp VI_1 BACKUP" &&
                return 0
        else
            in_ns dir ip -4 addr show dev eth0 | grep -q "$VIP/" &&
                ! in_ns dir2 ip -4 addr show dev eth0 | grep -q "$VIP/" && return 0
        fi
        sleep 0.1
    done
    echo "failover-bench: the $1 pair did not settle:" >&2
    tail -n 5 "$state"/dir*.log >&2
    return 1
}

# A director leaves: crash (its port goes down, then SIGKILL) or stop (SIGTERM).
leave() { # NODE PID HOW
    if [ "$3" = crash ]; then
        # The port first: keepalived's VRRP child turns its parent's death into a graceful stop
        # with a priority-0 advert, which a dead box would never send.
        in_ns "$1" ip link set eth0 down
        kill -KILL "$2"
    else
        kill -TERM "$2"
    fi
}

# Keeps the logs, ends the run's daemons and takes the lab down.
end_run() {
    mkdir -p "/tmp/$prefix-logs" && cp "$state"/*.log "/tmp/$prefix-logs/" 2>/dev/null || true
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    pids=()
    scripts/lab.sh down "$prefix" >/dev/null
}

run_one() { # KIND INTERVAL HOW → prints the gap in ms
    LAB_DIRECTORS=2 scripts/lab.sh up "$prefix" 2 >/dev/null
    rm -f "$state"/*.sock
    mkdir -p "$state"
    start_pair "$1" "$2"
    wait_master "$1"
    sleep 1
    # The client must be talking to dir, or the run would measure nothing.
    in_ns client ping -c 1 -W 1 "$VIP" >/dev/null 2>&1 || true
    local dir_mac
    dir_mac=$(in_ns dir cat /sys/class/net/eth0/address)
    if ! in_ns client ip neigh show "$VIP" | grep -q "$dir_mac"; then
        echo "failover-bench: the client does not reach the VIP through dir" >&2
        return 1
    fi
    # Long enough for Master_Down_Interval (3 intervals + skew) plus a margin.
    local duration
    duration=$(python3 -c "print(2 + 4 * $2 + 1)")
    probe "$duration" >"$state/probe" &
    local probe_pid=$!
    sleep 1
    leave dir "$pid_dir" "$3"
    wait "$probe_pid"
    read -r gap answers sent <"$state/probe"
    end_run
    # A run where the first answers only came after the takeover would hide the gap.
    [ "$answers" -gt 50 ] || gap=NA
    echo "$gap"
}

ecmp_conf() { # NODE
    cat <<EOF
[director]
interface = "eth0"
io = "xdp"
control = "$state/$1.sock"
sloppy_tcp = true

[[service]]
vip = "$VIP"
port = 5353
protocol = "udp"
scheduler = "mh"
mh_port = true
  [[service.real]]
  ip = "10.0.0.11"
  [[service.real]]
  ip = "10.0.0.12"

[bgp]
table = 100
drain = "5s"
EOF
}

# How many directors the router sends the VIP's flows to.
next_hops() {
    in_ns router ip route show "$VIP" | grep -c 'via 10.0.0.' || true
}

run_ecmp() { # HOW (drain|crash) → prints the gap in ms, the answers and the probes sent
    LAB_TOPOLOGY=ecmp scripts/lab.sh up "$prefix" 2 >/dev/null
    local node
    for node in dir dir2 dir3; do
        ecmp_conf "$node" >"$state/$node.toml"
        # Not through in_ns: $! must be the daemon itself (ip netns exec execs it).
        ip netns exec "$prefix-$node" "$bin" run --config "$state/$node.toml" 2>"$state/$node.log" &
        pids+=($!)
        eval "pid_$node=$!"
    done
    for _ in $(seq 1 200); do [ "$(next_hops)" -eq 3 ] && break; sleep 0.05; done
    [ "$(next_hops)" -eq 3 ] || { echo "failover-bench: the directors did not all announce" >&2; return 1; }
    probe 5 12 >"$state/probe" &
    local probe_pid=$!
    sleep 1.5
    leave dir2 "$pid_dir2" "$1"
    wait "$probe_pid"
    local result
    result=$(cat "$state/probe")
    end_run
    echo "$result"
}

if [ -n "$ecmp" ]; then
    printf '%-30s %-4s %8s %8s %8s\n' "3 directors, BFD 100ms x 3" "run" "gap ms" "answers" "sent"
    for how in drain crash; do
        for run in $(seq 1 "$runs"); do
            read -r gap answers sent < <(run_ecmp "$how")
            printf '%-30s %-4s %8s %8s %8s\n' "dir2 leaves: $how" "$run" "$gap" "$answers" "$sent"
        done
    done
    exit 0
fi

printf '%-24s %-9s %14s %14s\n' "pair" "interval" "crash gap ms" "stop gap ms"
for interval in $intervals; do
    for kind in ulvs keepalived; do
        crash=$(run_one "$kind" "$interval" crash)
        stop=$(run_one "$kind" "$interval" stop)
        printf '%-24s %-9s %14s %14s\n' "$kind<->$kind" "${interval}s" "$crash" "$stop"
    done
done
