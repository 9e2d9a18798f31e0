#!/usr/bin/env bash
# The ulvs lab demo: builds ulvs, creates the netns lab (client, director, rs1, rs2 on one bridge),
# runs `ulvs run` on the director, makes 100 HTTP requests from the client to http://VIP/ and prints
# which real server answered how often, then the director's counters. Tears the lab down on exit or
# Ctrl-C.
#
#   sudo scripts/demo.sh [--io auto|xdp|packet] [--scheduler rr|wrr|lc|wlc|sh|mh] [--requests N]
set -euo pipefail
cd "$(dirname "$0")/.."

io=auto scheduler=wrr requests=100
while [ $# -gt 0 ]; do
    case "$1" in
        --io) io=$2; shift 2 ;;
        --scheduler) scheduler=$2; shift 2 ;;
        --requests) requests=$2; shift 2 ;;
        *) echo "usage: demo.sh [--io auto|xdp|packet] [--scheduler NAME] [--requests N]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "demo.sh needs root (network namespaces, XDP)" >&2; exit 1; }

scripts/deps.sh
cargo build --release --quiet
ulvs=$PWD/target/release/ulvs

prefix=ulvsdemo
state=/run/ulvs-lab/$prefix
daemon_pid=
cleanup() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
    scripts/lab.sh down "$prefix"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/lab.sh up "$prefix" 2
cat >"$state/ulvs.toml" <<TOML
[director]
interface = "eth0"
io = "$io"
control = "$state/ulvs.sock"

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

echo "== starting ulvs on the director (io=$io, scheduler=$scheduler, weights rs1:rs2 = 3:1)"
ip netns exec "$prefix-dir" "$ulvs" run --config "$state/ulvs.toml" 2>"$state/ulvs.log" &
daemon_pid=$!
for _ in $(seq 1 100); do
    [ -S "$state/ulvs.sock" ] && break
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$state/ulvs.log"; exit 1; }
    sleep 0.1
done
sed 's/^/   ulvs: /' "$state/ulvs.log"

echo "== $requests requests from the client to http://10.0.0.100/"
for _ in $(seq 1 "$requests"); do
    ip netns exec "$prefix-client" curl -s --max-time 2 http://10.0.0.100/ || echo "FAILED"
done | sort | uniq -c | sed 's/^/   /'

echo "== the client's neighbour entry for the VIP (the director's MAC: $(ip netns exec "$prefix-dir" cat /sys/class/net/eth0/address))"
ip netns exec "$prefix-client" ip neigh show 10.0.0.100 | sed 's/^/   /'
echo "== ulvs ctl -L -n --stats"
ip netns exec "$prefix-dir" "$ulvs" ctl --control "$state/ulvs.sock" -L -n --stats | sed 's/^/   /'
echo "== ulvs ctl -L -n"
ip netns exec "$prefix-dir" "$ulvs" ctl --control "$state/ulvs.sock" -L -n | sed 's/^/   /'
echo "== ulvs ctl status"
ip netns exec "$prefix-dir" "$ulvs" ctl --control "$state/ulvs.sock" status | sed 's/^/   /'
