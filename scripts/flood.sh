#!/usr/bin/env bash
# The SYN flood bench: a director with a large connection table takes a flood of SYNs from millions of
# random sources while clients hold keep-alive connections through it. Shows what must hold: none of
# the held connections breaks, their latency before and during, resident memory flat once the
# table is full, evictions by class (ESTABLISHED never while half-open entries exist), and the
# new-connection rate.
#
#   sudo scripts/flood.sh [--flows N] [--seconds S] [--table N] [--held N] [--out DIR]
#
#   --flows N    distinct SYN flows, from every address of 100.64.0.0/10 in a scattered order
#                (default 5000000)
#   --seconds S  how long `ulvs gen` floods, as fast as it can (default 30)
#   --table N    the director's `connections` (default 1000000)
#   --held N     keep-alive connections held through the flood, each making a request every 100 ms
#                (default 40)
#   --out DIR    where flood.csv (one row a second), flood.txt (the summary) and the plot go
#                (default target/flood); the plot is also copied to docs/flood-memory.svg
#                unless --out is given
#
# Topology: the netns lab (scripts/lab.sh, one queue per veth) — client 10.0.0.1 holds the
# connections to VIP:80, served by rs1/rs2 (HTTP) — plus gen 10.0.0.3 (`ulvs gen`, pinned to CPU 1)
# and sink 10.0.0.4. The flood goes to VIP:9, a second service whose one real server is the sink:
# `ulvs sink` counts what the director forwards, so the 2 vCPUs go to the generator and the
# director (pinned to CPU 0, one worker) rather than to millions of SYN-ACKs; the connection table
# is one for all services, so the flood fills the same table the held connections live in.
# Everything started is stopped, and the namespaces removed, on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "flood.sh needs root (network namespaces, XDP)" >&2; exit 1; }

flows=5000000 seconds=30 table=1000000 held=40 out="" 
while [ $# -gt 0 ]; do
    case $1 in
        --flows) flows=${2:?}; shift ;;
        --seconds) seconds=${2:?}; shift ;;
        --table) table=${2:?}; shift ;;
        --held) held=${2:?}; shift ;;
        --out) out=${2:?}; shift ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "flood.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
plot_to_docs=false
if [ -z "$out" ]; then out=target/flood; plot_to_docs=true; fi
mkdir -p "$out"

if [ -n "${ULVS_BIN:-}" ]; then
    scripts/deps.sh --check ip taskset python3 gnuplot
else
    scripts/deps.sh
    cargo build --release --quiet
    ULVS_BIN=$PWD/target/release/ulvs
fi
BIN=$ULVS_BIN
P="${ULVS_LAB_TAG:-}flood"
LAB=/run/ulvs-lab/$P
VIP=10.0.0.100
log() { echo "flood: $*" >&2; }
ns() { echo "$P-$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }

cleanup() {
    local pid live
    live=$(jobs -pr)
    for pid in $live; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $live; do timeout 5 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
    for n in gen sink; do ip netns del "$(ns "$n")" 2>/dev/null || true; done
    scripts/lab.sh down "$P" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Joins NODE to the lab's bridge, as scripts/lab.sh does (one queue each way).
plug() {
    local node=$1 addr=$2
    ip netns add "$(ns "$node")"
    ip link add eth0 netns "$(ns "$node")" type veth peer name "p-$node" netns "$(ns sw)"
    in_ns sw ip link set "p-$node" master br0 up
    in_ns "$node" ip link set lo up
    in_ns "$node" ip addr add "$addr/24" dev eth0
    in_ns "$node" ip link set eth0 up
}

# Waits up to 20 s for FILE to contain PATTERN, failing if PID ended first.
wait_for() {
    local file=$1 pattern=$2 pid=$3 i
    for i in $(seq 1 400); do
        grep -q -- "$pattern" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { log "process ended:"; cat "$file" >&2; return 1; }
        sleep 0.05
    done
    log "timed out waiting for '$pattern' in $file"; cat "$file" >&2; return 1
}

LAB_QUEUES=1 scripts/lab.sh up "$P" 2 >/dev/null
plug gen 10.0.0.3
plug sink 10.0.0.4
DIR_MAC=$(in_ns dir cat /sys/class/net/eth0/address)
SINK_MAC=$(in_ns sink cat /sys/class/net/eth0/address)

cat >"$LAB/flood.toml" <<EOF
[director]
interface = "eth0"
io = "xdp"
queues = 1
cpus = [0]
connections = $table
control = "$LAB/ulvs.sock"

[[service]]
vip = "$VIP"
port = 80
scheduler = "rr"
  [[service.real]]
  ip = "10.0.0.11"
  [[service.real]]
  ip = "10.0.0.12"

[[service]]
vip = "$VIP"
port = 9
scheduler = "rr"
  [[service.real]]
  ip = "10.0.0.4"
  mac = "$SINK_MAC"
EOF
in_ns dir env RUST_LOG=info "$BIN" run --config "$LAB/flood.toml" >"$LAB/ulvs.log" 2>&1 &
ULVS_PID=$!
wait_for "$LAB/ulvs.log" "control socket" "$ULVS_PID"
ctl() { in_ns dir "$BIN" ctl --control "$LAB/ulvs.sock" "$@"; }

in_ns sink taskset -c 0 "$BIN" sink -i eth0 --vip "$VIP" --duration "$((seconds + 120))s" --idle 3600s >"$LAB/sink.out" 2>&1 &
SINK_PID=$!
wait_for "$LAB/sink.out" "sink: ready" "$SINK_PID"

mkdir -p "$LAB/held"
in_ns client python3 scripts/held-latency.py "$VIP" "$held" "$LAB/held" 0.1 >"$LAB/held.out" 2>"$LAB/held.err" &
HELD_PID=$!
for _ in $(seq 1 200); do [ -e "$LAB/held/ready" ] && break; sleep 0.1; done
[ -e "$LAB/held/ready" ] || { log "the held connections did not open"; cat "$LAB/held.err" >&2; exit 1; }

# One row a second: time, resident memory, table entries, connections scheduled, evictions by class.
sampler() {
    local start=$1
    echo "t_s,rss_kib,table_entries,connections,evicted_half_open,evicted_closing,evicted_udp,evicted_established"
    while true; do
        local t rss status
        t=$(python3 -c "import time; print(f'{time.monotonic() - $start:.1f}')")
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$ULVS_PID/status" 2>/dev/null || echo 0)
        status=$(ctl status 2>/dev/null || true)
        echo "$t,$rss,$(awk -v ORS=, '
            /^worker / { for (i = 1; i < NF; i++) s[$i] += $(i + 1) }
            END { print s["table_entries"] + 0, s["conns"] + 0, s["evicted_half_open"] + 0, s["evicted_closing"] + 0,
                  s["evicted_udp"] + 0; printf "%d", s["evicted_established"] + 0 }' OFS=, <<<"$status")"
        sleep 1
    done
}
START=$(python3 -c "import time; print(time.monotonic())")
sampler "$START" >"$out/flood.csv" &
SAMPLER_PID=$!

echo before >"$LAB/held/phase"
sleep 10
echo during >"$LAB/held/phase"
FLOOD_AT=$(python3 -c "import time; print(f'{time.monotonic() - $START:.1f}')")
in_ns gen taskset -c 1 "$BIN" gen -i eth0 --dst-mac "$DIR_MAC" --dst "$VIP:9" --src-prefix 100.64.0.0/10 \
    --kind syn --frame-bytes 64 --flows "$flows" --duration "${seconds}s" >"$LAB/gen.out" 2>"$LAB/gen.err"
FLOOD_END=$(python3 -c "import time; print(f'{time.monotonic() - $START:.1f}')")
echo after >"$LAB/held/phase"
sleep 10
touch "$LAB/held/stop"
wait "$HELD_PID" || true
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
status=$(ctl status)
kill -TERM "$SINK_PID" 2>/dev/null || true
wait "$SINK_PID" 2>/dev/null || true

kv() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" "$2" | tail -1; }
sent=$(kv frames "$LAB/gen.out")
gen_pps=$(kv pps "$LAB/gen.out")
received=$(sed -n 's/.*received=\([0-9]*\).*/\1/p' "$LAB/sink.out" | tail -1)
broke=$(awk '$1 == "kept" && $3 > 0' "$LAB/held.out" | wc -l)
kept=$(awk '$1 == "kept"' "$LAB/held.out" | wc -l)
python3 - "$out/flood.csv" "$FLOOD_AT" "$FLOOD_END" "$LAB/held.out" "$sent" "$gen_pps" "${received:-0}" "$table" "$flows" \
    "$broke" "$kept" >"$out/flood.txt" <<'EOF'
import csv, sys
path, start, end, held, sent, gen_pps, received, table, flows, broke, kept = sys.argv[1:]
start, end = float(start), float(end)
rows = [r for r in csv.DictReader(open(path)) if r["t_s"]]
num = lambda r, k: int(float(r[k] or 0))
during = [r for r in rows if start <= float(r["t_s"]) <= end + 1]
full = next((r for r in rows if num(r, "table_entries") >= int(table) * 0.99), None)
rate = 0.0
if len(during) >= 2:
    a, b = during[0], during[-1]
    rate = (num(b, "connections") - num(a, "connections")) / max(0.001, float(b["t_s"]) - float(a["t_s"]))
last = rows[-1]
print(f"flood: {sent} SYNs from {flows} distinct flows (100.64.0.0/10) in {end - start:.1f} s, "
      f"{float(gen_pps or 0):.0f}/s sent; {received} forwarded to the flood's real server")
print(f"new connections during the flood: {rate:.0f}/s (ulvs ctl status: conns)")
print(f"held keep-alive connections: {kept} held, {broke} broke")
for line in open(held):
    if line.startswith("phase"):
        print("latency " + line.strip())
print(f"table: capacity {table}, entries at the end {num(last, 'table_entries')}")
print(f"evictions: half-open {num(last, 'evicted_half_open')}, closing {num(last, 'evicted_closing')}, "
      f"udp {num(last, 'evicted_udp')}, established {num(last, 'evicted_established')}")
if full:
    after = [num(r, "rss_kib") for r in rows if float(r["t_s"]) >= float(full["t_s"])]
    print(f"resident memory: {num(rows[0], 'rss_kib') // 1024} MiB at start, {num(full, 'rss_kib') // 1024} MiB when the "
          f"table was full (t = {full['t_s']} s), {min(after) // 1024}-{max(after) // 1024} MiB from then on")
else:
    print(f"resident memory: {num(rows[0], 'rss_kib') // 1024} MiB at start, {num(last, 'rss_kib') // 1024} MiB at the end "
          f"(the table never filled)")
EOF
cat "$out/flood.txt"

gnuplot <<EOF
set terminal svg size 900,480 dynamic font "sans,12"
set output "$out/flood-memory.svg"
set datafile separator ","
set key top left
set xlabel "seconds"
set ylabel "resident memory (MiB)"
set y2label "connection-table entries (thousands)"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set title "ulvs under a SYN flood: $flows flows from random sources, table of $table, $held held connections"
set object 1 rect from $FLOOD_AT, graph 0 to $FLOOD_END, graph 1 fc rgb "#f2dede" fs solid 0.5 noborder behind
set label 1 "flood" at $FLOOD_AT, graph 0.95 offset 1,0
plot "$out/flood.csv" using 1:(\$2/1024) skip 1 with lines lw 2 title "ulvs VmRSS (MiB)", \
     "$out/flood.csv" using 1:(\$3/1000) skip 1 axes x1y2 with lines lw 2 dt 2 title "table entries (k)"
EOF
if $plot_to_docs; then
    cp "$out/flood-memory.svg" docs/flood-memory.svg
    cp "$out/flood.csv" docs/flood.csv
fi
log "written: $out/flood.csv, $out/flood.txt, $out/flood-memory.svg"
