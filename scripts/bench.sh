#!/usr/bin/env bash
# The end-to-end benchmark, on one veth topology, in one run: ulvs beside
#   l2fwd-xdp / l2fwd-packet   a plain MAC-rewrite forwarder written directly on xsk-rs / AF_PACKET,
#                              sharing no code with ulvs's data path: the I/O ceiling;
#   port-xdp / port-packet     the same rewrite on ulvs's own ports (filter, rings, kicks), no pipeline;
#   kernel-forward, xdp-tx     the kernel's own forwarding and an in-kernel XDP_TX program,
# so that one run splits ulvs's cost into I/O ceiling → port → pipeline (ratios in results.csv).
#
#   sudo scripts/bench.sh [--quick | --smoke] [--family 4|6|both] [--repeat N] [--window SECONDS] [--no-conn | --conn-only]
#
#   (default)  64 and 1500 B frames x 1, 1k and 1M flows x 1 and 2 queues, all six subjects, then
#              the connection-rate and memory section (SYN flood of 1M new flows through ulvs), and
#              connection sync's cost (200k 3-datagram UDP flows without and with [sync]).
#   --quick    64 B, 1 and 1k flows, 1 queue, every subject but xdp-tx, no connection section.
#   --smoke    a few thousand frames per subject through ulvs-xdp, ulvs-packet and the kernel: checks
#              that the harness works (used by the netns test), measures nothing worth reading.
#   --subjects "A B" --frames "64 1500" --flows "1 1000" --queues "1 2"   narrow the matrix.
#   --family F IPv4 (4, the default), IPv6 (6) or both in one run (both): every subject but xdp-tx
#              forwards UDP to an IPv6 VIP (2001:db8::100 on the sink's lo) from 2001:db8:1::/120;
#              the matrix's 64 B cell runs at 78 B for IPv6 (its smallest frame: the header is 20 B
#              longer), other sizes as they are. With both, IPv4 and IPv6 runs of a cell take turns,
#              and results.csv gives each IPv6 row's rate against its IPv4 twin (ratio_to_ipv4).
#   --window S seconds of traffic per repetition (default 5, quick 2); --repeat N (default 3).
#   --hugepages N  reserve N 2 MiB huge pages for the run (vm.nr_hugepages, put back on exit): the
#              forwarders' UMEMs then use them (8 per queue), as a tuned host would.
#
# Topology (namespaces NAME = ${ULVS_LAB_TAG}ulvsb-*, veth pairs created inside them, one bridge):
#   gen 10.71.0.1 ──┐
#   dir 10.71.0.2 ──┼── br0 (in ns sw)      VIP 10.71.0.100 lives on the sink's lo (a DR real
#   sink 10.71.0.3 ─┘                       server); the generator's flows come from 10.71.1.0-255.
# With IPv6: 2001:db8::1, ::2, ::3 (/64, nodad), VIP 2001:db8::100, flows from 2001:db8:1::0-ff.
# The generator sends to the VIP with the director's MAC; the director (whichever subject) sends the
# frame on to the sink's MAC out of the same port; `ulvs sink` counts it, with loss and latency.
# Pinning (2 vCPUs): generator and sink on CPU 0, the forwarder on CPU 1 (2-queue runs: CPUs 0-1).
#
# Output: a table on stdout; target/bench/results.csv and results.json (medians of the repetitions),
# raw.csv (every repetition), conn.csv (connection rate and memory), results.svg (gnuplot).
# Nothing host-wide is changed; the namespaces and every process started are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench.sh needs root (network namespaces, XDP)" >&2; exit 1; }

profile=full repeat=3 window=5 conn=1 only_subjects="" only_frames="" only_flows="" only_queues="" hugepages=""
families=4
while [ $# -gt 0 ]; do
    case $1 in
        --quick) profile=quick window=2 conn=0 ;;
        --smoke) profile=smoke window=1 repeat=1 conn=0 ;;
        --repeat) repeat=${2:?}; shift ;;
        --window) window=${2:?}; shift ;;
        --no-conn) conn=0 ;;
        --conn-only) profile=none conn=1 ;;
        --subjects) only_subjects=${2:?}; shift ;;
        --frames) only_frames=${2:?}; shift ;;
        --flows) only_flows=${2:?}; shift ;;
        --queues) only_queues=${2:?}; shift ;;
        --hugepages) hugepages=${2:?}; shift ;;
        --family) families=${2:?}; shift ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$repeat" -ge 1 ] && [ "$window" -ge 1 ] || { echo "bench.sh: --repeat and --window must be >= 1" >&2; exit 2; }
case $families in
    4|6) ;;
    both|"4 6"|4,6) families="4 6" ;;
    *) echo "bench.sh: --family takes 4, 6 or both, not '$families'" >&2; exit 2 ;;
esac

if [ -n "${ULVS_BIN:-}" ]; then
    scripts/deps.sh --check ip ethtool sysctl taskset python3
else
    scripts/deps.sh
    cargo build --release --quiet
    ULVS_BIN=$PWD/target/release/ulvs
fi
BIN=$ULVS_BIN
OUT=${BENCH_OUT:-target/bench}
mkdir -p "$OUT"
P="${ULVS_LAB_TAG:-}ulvsb"
STATE=$(mktemp -d "/tmp/${P}.XXXXXX")
PORT=9
# The addresses of one family: the VIP, the first flow source, the sink (the real server).
use_family() {
    FAMILY=$1
    if [ "$FAMILY" = 6 ]; then
        VIP=2001:db8::100 SRC=2001:db8:1:: REAL=2001:db8::3 DST="[2001:db8::100]:$PORT"
    else
        VIP=10.71.0.100 SRC=10.71.1.0 REAL=10.71.0.3 DST="10.71.0.100:$PORT"
    fi
}
use_family 4
# IPv6 has no 64 B frame (Ethernet + IPv6 + TCP + FCS = 78): the smallest cell runs at 78 B.
frame_of() { if [ "$FAMILY" = 6 ] && [ "$1" -lt 78 ]; then echo 78; else echo "$1"; fi; }
GEN_CPU=0 SINK_CPU=0

ns() { echo "$P-$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }
log() { echo "bench: $*" >&2; }

hugepages_before=""
cleanup() {
    # Only this shell's jobs still running: a pid that ended may have been reused by someone else.
    local pid live
    live=$(jobs -pr)
    for pid in $live; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $live; do timeout 5 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
    topology_down
    [ -n "$hugepages_before" ] && echo "$hugepages_before" >/proc/sys/vm/nr_hugepages
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$STATE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -n "$hugepages" ]; then
    hugepages_before=$(cat /proc/sys/vm/nr_hugepages)
    echo "$hugepages" >/proc/sys/vm/nr_hugepages
    log "reserved $(cat /proc/sys/vm/nr_hugepages) huge pages (was $hugepages_before)"
fi

topology_down() {
    local n
    for n in gen dir sink sw; do ip netns del "$(ns "$n")" 2>/dev/null || true; done
}

# Joins NODE to the bridge; veths created inside the namespaces, QUEUES queues each way.
plug() {
    local node=$1 addr=$2 queues=$3 port="p-$1"
    ip netns add "$(ns "$node")"
    ip link add eth0 netns "$(ns "$node")" numtxqueues "$queues" numrxqueues "$queues" type veth \
        peer name "$port" netns "$(ns sw)" numtxqueues "$queues" numrxqueues "$queues"
    in_ns sw ip link set "$port" master br0 up
    in_ns "$node" ip link set lo up
    in_ns "$node" ip addr add "$addr/16" dev eth0
    # Global IPv6 beside IPv4 when an IPv6 run is asked for; nodad: usable at once.
    case " $families " in *" 6 "*) in_ns "$node" ip -6 addr add "2001:db8::${addr##*.}/64" dev eth0 nodad ;; esac
    in_ns "$node" ip link set eth0 up
    # As on a real wire: full checksums, no GSO super-frames, no GRO merging at the director.
    in_ns "$node" ethtool -K eth0 tx off tso off gso off gro off >/dev/null 2>&1 || true
    in_ns sw ethtool -K "$port" tso off gso off gro off >/dev/null 2>&1 || true
}

topology_up() {
    local queues=$1
    topology_down
    ip netns add "$(ns sw)"
    in_ns sw ip link add br0 type bridge
    in_ns sw ip link set br0 up
    plug gen 10.71.0.1 "$queues"
    plug dir 10.71.0.2 "$queues"
    plug sink 10.71.0.3 "$queues"
    in_ns dir sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.all.send_redirects=0 \
        net.ipv4.conf.default.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
    # Per-device NAPI tuning inside the director's namespace (not host-wide): helps AF_XDP on veth.
    in_ns dir sh -c 'echo 2 > /sys/class/net/eth0/napi_defer_hard_irqs; echo 200000 > /sys/class/net/eth0/gro_flush_timeout' 2>/dev/null || true
    in_ns sink ip addr add 10.71.0.100/32 dev lo
    case " $families " in *" 6 "*) in_ns sink ip -6 addr add 2001:db8::100/128 dev lo nodad ;; esac
    in_ns sink sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
    DIR_MAC=$(in_ns dir cat /sys/class/net/eth0/address)
    SINK_MAC=$(in_ns sink cat /sys/class/net/eth0/address)
    QUEUES=$queues
    if [ "$queues" -gt 1 ]; then DIR_CPUS=0-1; else DIR_CPUS=1; fi
}

# Runs CMD in the background in namespace NS, output to FILE; sets $started to its pid.
spawn() {
    local n=$1 file=$2; shift 2
    ip netns exec "$(ns "$n")" "$@" >"$file" 2>&1 &
    started=$!
}

# Waits (up to 10 s) until FILE contains PATTERN; fails if process PID died first.
wait_for() {
    local file=$1 pattern=$2 pid=$3 i
    for i in $(seq 1 200); do
        grep -q -- "$pattern" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { log "process died:"; cat "$file" >&2; return 1; }
        sleep 0.05
    done
    log "timed out waiting for '$pattern' in $file"; cat "$file" >&2; return 1
}

stop_pid() {
    local pid=$1
    jobs -pr | grep -qx "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }  # ended already
    kill -TERM "$pid" 2>/dev/null || true
    timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# "xdp (native attach, copy bind)" -> "native/copy" (XDP attach mode / AF_XDP bind mode); "packet" stays.
mode_word() { sed 's/^xdp (\([a-z]*\) attach, \([a-z/-]*\) bind)$/\1\/\2/'; }

write_config() {
    local io=$1 protocol=$2 file=$3
    cat >"$file" <<EOF
[director]
interface = "eth0"
io = "$io"
queues = $QUEUES
control = "$STATE/ulvs.sock"
connections = 1048576

[[service]]
vip = "$VIP"
port = $PORT
protocol = "$protocol"
scheduler = "wlc"

  [[service.real]]
  ip = "$REAL"
  mac = "$SINK_MAC"
${SYNC_CONF:-}
EOF
}

# Starts SUBJECT on the director; sets FWD_PID (the forwarding process, empty for the kernel) and
# MODE (how XDP attached, where it applies).
subject_up() {
    local subject=$1 protocol=${2:-udp}
    FWD_PID="" MODE="-" EXTRA_PIDS=()
    case $subject in
        ulvs-xdp|ulvs-packet)
            write_config "${subject#ulvs-}" "$protocol" "$STATE/ulvs.toml"
            spawn dir "$STATE/fwd.log" taskset -c "$DIR_CPUS" env RUST_LOG=info "$BIN" run --config "$STATE/ulvs.toml"
            FWD_PID=$started
            wait_for "$STATE/fwd.log" "control socket" "$FWD_PID"
            local i
            for i in $(seq 1 100); do
                in_ns dir "$BIN" ctl --control "$STATE/ulvs.sock" status >"$STATE/status" 2>/dev/null && break
                kill -0 "$FWD_PID" 2>/dev/null || { cat "$STATE/fwd.log" >&2; return 1; }
                sleep 0.05
            done
            MODE=$(sed -n 's/^io: //p' "$STATE/status" | mode_word)
            ;;
        l2fwd-xdp|l2fwd-packet)
            spawn dir "$STATE/fwd.log" taskset -c "$DIR_CPUS" "$BIN" bench-l2fwd -i eth0 --io "${subject#l2fwd-}" \
                --queues "$QUEUES" --vip "$VIP" --dst-mac "$SINK_MAC"
            FWD_PID=$started
            wait_for "$STATE/fwd.log" "^l2fwd: " "$FWD_PID"
            MODE=$(sed -n 's/^l2fwd: \([a-z]*\) .*/\1/p' "$STATE/fwd.log" | head -1)
            if [ "$MODE" = xdp ]; then MODE=native/copy; fi
            ;;
        port-xdp|port-packet)
            spawn dir "$STATE/fwd.log" taskset -c "$DIR_CPUS" "$BIN" bench-port -i eth0 --io "${subject#port-}" \
                --queues "$QUEUES" --vip "$VIP" --dst-mac "$SINK_MAC"
            FWD_PID=$started
            wait_for "$STATE/fwd.log" "^port: " "$FWD_PID"
            MODE=$(sed -n 's/^port: \(.*\) on eth0.*/\1/p' "$STATE/fwd.log" | head -1 | mode_word)
            ;;
        kernel-forward)
            if [ "$FAMILY" = 6 ]; then
                in_ns dir sysctl -qw net.ipv6.conf.all.forwarding=1
                in_ns dir ip -6 route replace "$VIP/128" via "$REAL" dev eth0
                in_ns dir ip -6 neigh replace "$REAL" lladdr "$SINK_MAC" dev eth0 nud permanent
            else
                in_ns dir sysctl -qw net.ipv4.ip_forward=1
                in_ns dir ip route replace "$VIP/32" via "$REAL" dev eth0
                in_ns dir ip neigh replace "$REAL" lladdr "$SINK_MAC" dev eth0 nud permanent
            fi
            ;;
        xdp-tx)
            spawn sw "$STATE/pass.log" "$BIN" bench-xdp-tx -i p-dir --pass
            EXTRA_PIDS+=("$started")
            wait_for "$STATE/pass.log" "attached" "$started"
            spawn dir "$STATE/fwd.log" "$BIN" bench-xdp-tx -i eth0 --dst-mac "$SINK_MAC" --vip "$VIP"
            EXTRA_PIDS+=("$started")
            wait_for "$STATE/fwd.log" "attached" "$started"
            MODE=$(sed -n 's/.* in \([a-z]*\) mode$/\1/p' "$STATE/fwd.log" | head -1)
            ;;
        generator) ;;
    esac
}

subject_down() {
    local subject=$1 pid
    if [ "${subject#ulvs-}" != "$subject" ] && [ -n "$FWD_PID" ]; then
        # How the frames spread over the workers (queues): the 2-queue runs depend on it.
        in_ns dir "$BIN" ctl --control "$STATE/ulvs.sock" status 2>/dev/null |
            awk -v s="$subject" '/^worker [0-9]/ { printf "%s worker %s rx %s", (n++ ? "," : "bench: " s ":"), $2, $4 } END { if (n) print "" }' >&2 || true
    fi
    [ -n "$FWD_PID" ] && stop_pid "$FWD_PID"
    for pid in "${EXTRA_PIDS[@]}"; do stop_pid "$pid"; done
    if [ "$subject" = kernel-forward ]; then
        in_ns dir sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
        in_ns dir ip route del "$VIP" 2>/dev/null || true
    fi
    return 0
}

# Where frames can be lost between generator and sink, as name=count words: the director's veth
# refusing to hand frames to the bridge (tx_dropped), the bridge ports' and the sink's receive drops.
drop_sites() {
    local n
    for n in "dir eth0 tx_dropped" "dir eth0 rx_dropped" "sw p-dir rx_dropped" "sw p-sink tx_dropped" "sink eth0 rx_dropped"; do
        set -- $n
        printf '%s/%s/%s=%s ' "$1" "$2" "$3" "$(in_ns "$1" cat "/sys/class/net/$2/statistics/$3" 2>/dev/null || echo 0)"
    done
}

# /proc/stat of CPU LINE ("cpu" = all, "cpu1") as: user nice system idle iowait irq softirq steal
cpu_snapshot() { awk -v line="$1" '$1 == line { print $2, $3, $4, $5, $6, $7, $8, $9 }' /proc/stat; }
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
proc_user_ticks() { awk '{ print $14 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2" | head -1; }

# One window of traffic against the running subject; appends a row to raw.csv.
measure() {
    local subject=$1 frame=$2 flows=$3 rep=$4 kind=${5:-udp} dst_mac=$DIR_MAC
    [ "$subject" = generator ] && dst_mac=$SINK_MAC
    local dir_line=cpu1
    [ "$QUEUES" -gt 1 ] && dir_line=cpu  # the director has both CPUs
    spawn sink "$STATE/sink.out" taskset -c "$SINK_CPU" "$BIN" sink -i eth0 --queues "$QUEUES" --vip "$VIP" \
        --duration "$((window + 10))s" --idle 700ms
    local sink_pid=$started
    wait_for "$STATE/sink.out" "sink: ready" "$sink_pid"
    local count_arg=()
    [ "$profile" = smoke ] && count_arg=(--count 5000)
    local all0 dir0 t0 u0 all1 dir1 t1 u1 drops0 drops1
    drops0=$(drop_sites)
    all0=$(cpu_snapshot cpu) dir0=$(cpu_snapshot "$dir_line") t0=0 u0=0
    [ -n "$FWD_PID" ] && t0=$(proc_ticks "$FWD_PID") u0=$(proc_user_ticks "$FWD_PID")
    in_ns gen taskset -c "$GEN_CPU" "$BIN" gen -i eth0 --queues "$QUEUES" --dst-mac "$dst_mac" --dst "$DST" \
        --src "$SRC" --kind "$kind" --frame-bytes "$frame" --flows "$flows" --duration "${window}s" \
        "${count_arg[@]}" >"$STATE/gen.out" 2>"$STATE/gen.err" || { cat "$STATE/gen.err" >&2; return 1; }
    all1=$(cpu_snapshot cpu) dir1=$(cpu_snapshot "$dir_line") t1=0 u1=0
    [ -n "$FWD_PID" ] && t1=$(proc_ticks "$FWD_PID") u1=$(proc_user_ticks "$FWD_PID")
    wait "$sink_pid" || true
    drops1=$(drop_sites)
    log "$subject: frames lost on the way: $(paste -d' ' <(echo "$drops0" | tr ' ' '\n') <(echo "$drops1" | tr ' ' '\n') |
        awk '{ split($1, a, "="); split($2, b, "="); printf "%s +%d  ", a[1], b[2] - a[2] }')"
    python3 - "$subject" "$frame" "$flows" "$QUEUES" "$rep" "$MODE" "$STATE/gen.out" "$STATE/sink.out" \
        "$all0" "$all1" "$dir0" "$dir1" "$t0" "$t1" "$(getconf CLK_TCK)" "$u0" "$u1" "$FAMILY" >>"$OUT/raw.csv" <<'EOF'
import sys
subject, frame, flows, queues, rep, mode, gen_out, sink_out = sys.argv[1:9]
all0, all1, dir0, dir1 = ([int(x) for x in a.split()] for a in sys.argv[9:13])
t0, t1, hz = int(sys.argv[13]), int(sys.argv[14]), int(sys.argv[15])
u0, u1 = int(sys.argv[16]), int(sys.argv[17])
family = sys.argv[18]
def kv(path, prefix):
    for line in open(path):
        if line.startswith(prefix):  # the machine-readable summary line
            return dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
    return {}
gen, sink = kv(gen_out, "gen: io="), kv(sink_out, "sink: io=")
def split(a, b):
    d = [y - x for x, y in zip(a, b)]
    total = sum(d) or 1
    user, system, softirq = d[0] + d[1], d[2] + d[5], d[6]
    return [100.0 * v / total for v in (user + system + softirq, user, system, softirq)]
busy, user, system, softirq = split(dir0, dir1)
host_busy = split(all0, all1)[0]
received = int(sink.get("received", 0))
ns_per_pkt = (t1 - t0) * 1e9 / hz / received if received and t1 > t0 else ""
user_ns_per_pkt = (u1 - u0) * 1e9 / hz / received if received and u1 > u0 else ""
expected = int(sink.get("expected", 0)); lost = int(sink.get("lost", 0))
sent = int(gen.get("frames", 0))
loss = 100.0 * (sent - received) / sent if sent else 0.0
print(",".join(str(v) for v in [subject, frame, flows, queues, rep, float(sink.get("pps", 0)) / 1e6,
      float(sink.get("gbps", 0)), busy, user, system, softirq, host_busy, ns_per_pkt,
      sink.get("p50_us", ""), sink.get("p99_us", ""), max(loss, 0.0), float(gen.get("pps", 0)) / 1e6, mode, received,
      user_ns_per_pkt, family]))
EOF
    local last
    last=$(tail -1 "$OUT/raw.csv")
    log "$(echo "$last" | awk -F, '{ printf "%-14s IPv%s %4s B %7s flows %s q rep %s: %7.3f Mpps  dir cpu %5.1f%%  fwd %s ns/pkt  p99 %s us  loss %.1f%%  (%s)", $1, $21, $2, $3, $4, $5, $6, $8, ($13 == "" ? "-" : sprintf("%.0f", $13)), $15, $16, $18 }')"
}

# One repetition of SUBJECT over IP FAMILY on a fresh start of it.
run_once() {
    local subject=$1 frame=$2 flows=$3 rep=$4
    use_family "$5"
    frame=$(frame_of "$frame")
    subject_up "$subject" || { log "$subject did not start; skipped"; subject_down "$subject"; return 0; }
    measure "$subject" "$frame" "$flows" "$rep" || log "$subject IPv$FAMILY $frame B $flows flows rep $rep failed"
    subject_down "$subject"
}

# Every subject of one cell, repetition by repetition: the subjects take turns (in an order that
# rotates each repetition), so a drift of the machine over the cell (another job, thermal, the
# host) falls on all of them alike instead of on whichever ran last.
# With both families, each subject's IPv4 and IPv6 runs take turns in the same rotation.
run_cell() {
    local frame=$1 flows=$2 rep i n family subject entry list=()
    for family in $families; do
        for subject in $subjects; do
            # xdp-tx's program (bpf/ulvs_mac_tx.bpf.c) matches IPv4 only.
            [ "$family" = 6 ] && [ "$subject" = xdp-tx ] && continue
            list+=("$subject@$family")
        done
    done
    n=${#list[@]}
    for rep in $(seq 1 "$repeat"); do
        if [ "$profile" != smoke ]; then
            for family in $families; do run_once generator "$frame" "$flows" "$rep" "$family"; done
        fi
        for i in $(seq 0 $((n - 1))); do
            entry=${list[$(( (i + rep - 1) % n ))]}
            run_once "${entry%@*}" "$frame" "$flows" "$rep" "${entry#*@}"
        done
    done
}

case $profile in
    full) frames="64 1500" flow_counts="1 1000 1000000" queue_counts="1 2"
          subjects="ulvs-xdp ulvs-packet port-xdp port-packet l2fwd-xdp l2fwd-packet kernel-forward xdp-tx" ;;
    quick) frames="64" flow_counts="1 1000" queue_counts="1"
           subjects="ulvs-xdp ulvs-packet port-xdp port-packet l2fwd-xdp l2fwd-packet kernel-forward" ;;
    smoke) frames="64" flow_counts="1000" queue_counts="1" subjects="ulvs-xdp ulvs-packet kernel-forward" ;;
    none) frames="" flow_counts="" queue_counts="" subjects="" ;;
esac

subjects=${only_subjects:-$subjects} frames=${only_frames:-$frames}
flow_counts=${only_flows:-$flow_counts} queue_counts=${only_queues:-$queue_counts}
# --conn-only keeps the last matrix's rows, so the report shows both.
[ "$profile" = none ] && [ -f "$OUT/raw.csv" ] ||
echo "subject,frame_bytes,flows,queues,rep,mpps,gbps,cpu_pct,cpu_user,cpu_sys,cpu_softirq,host_cpu_pct,fwd_cpu_ns_per_pkt,p50_us,p99_us,loss_pct,gen_mpps,xdp_mode,received,fwd_user_ns_per_pkt,family" >"$OUT/raw.csv"
started_at=$(date +%s)
[ "$conn" = 1 ] || [ "$profile" = none ] || rm -f "$OUT/conn.csv"
for queues in $queue_counts; do
    topology_up "$queues"
    log "topology up: $queues queue(s); director cpus $DIR_CPUS, generator and sink cpu $GEN_CPU"
    for frame in $frames; do
        for flows in $flow_counts; do
            run_cell "$frame" "$flows"
        done
    done
done

# Connection rate and memory: 1M SYNs of distinct flows through ulvs-xdp, twice (the second pass,
# paced, fills in what the first lost; SYN_RECV entries live 60 s), VmRSS before and after, connections from `ulvs ctl status`.
if [ "$conn" = 1 ]; then
    topology_up 1
    PORT=80
    use_family 4
    subject_up ulvs-xdp tcp
    rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$FWD_PID/status"; }
    tracked() { in_ns dir "$BIN" ctl --control "$STATE/ulvs.sock" status |
        awk '/^worker/ { for (i = 1; i < NF; i++) { if ($i == "conns") c += $(i+1); if ($i == "expired" || $i == "evicted") c -= $(i+1) } } END { print c + 0 }'; }
    rss_before=$(rss)
    spawn sink "$STATE/sink.out" taskset -c "$SINK_CPU" "$BIN" sink -i eth0 --vip "$VIP" --duration 60s --idle 1s
    sink_pid=$started
    wait_for "$STATE/sink.out" "sink: ready" "$sink_pid"
    in_ns gen taskset -c "$GEN_CPU" "$BIN" gen -i eth0 --dst-mac "$DIR_MAC" --dst "$VIP:$PORT" --src "$SRC" \
        --kind syn --frame-bytes 64 --flows 1000000 --count 1000000 --duration 30s >"$STATE/gen.out" 2>/dev/null
    wait "$sink_pid" || true
    cps=$(kv pps "$STATE/sink.out")
    created_first=$(tracked)
    # The second pass at a rate ulvs keeps up with, so that (nearly) all 1M end up tracked.
    refill_rate=$(python3 -c "print(max(20000, int(float('${cps:-0}') * 0.8)))")
    in_ns gen taskset -c "$GEN_CPU" "$BIN" gen -i eth0 --dst-mac "$DIR_MAC" --dst "$VIP:$PORT" --src "$SRC" \
        --kind syn --frame-bytes 64 --flows 1000000 --count 1000000 --rate "$refill_rate" --duration 45s >/dev/null 2>&1
    sleep 0.5
    conns=$(tracked)
    rss_after=$(rss)
    subject_down ulvs-xdp
    bytes=$(( conns > 0 ? (rss_after - rss_before) * 1024 / conns : 0 ))
    {
        echo "metric,value"
        echo "new_connections_per_s,${cps:-0}"
        echo "connections_after_first_pass,$created_first"
        echo "tracked_connections,$conns"
        echo "rss_before_kib,$rss_before"
        echo "rss_after_kib,$rss_after"
        echo "bytes_per_connection,$bytes"
    } >"$OUT/conn.csv"
    log "connections: ${cps:-0} new/s (SYN flood, 1 worker); $conns tracked; VmRSS $rss_before -> $rss_after KiB = $bytes B/connection"

    # Connection sync's cost: 200k UDP flows of 3 datagrams each at 180k datagrams/s, near what one
    # worker forwards (the third datagram syncs a flow, as IPVS decides), through ulvs-xdp without
    # and with [sync] (multicast out of the same port); connections/s = what the sink got / 3. Sync bytes on the wire per connection from
    # `ulvs ctl status`: each datagram's Ethernet (14 + 4 FCS), IP+UDP (28) and header (8) shared by
    # its entries, 36 bytes per entry.
    PORT=9
    use_family 4
    for sync in off on; do
        SYNC_CONF=""
        [ "$sync" = on ] && SYNC_CONF=$'\n[sync]\ninterface = "eth0"\nsyncid = 1'
        subject_up ulvs-xdp udp
        spawn sink "$STATE/sink-sync.out" taskset -c "$SINK_CPU" "$BIN" sink -i eth0 --vip "$VIP" --duration 40s --idle 1s
        sink_pid=$started
        wait_for "$STATE/sink-sync.out" "sink: ready" "$sink_pid"
        in_ns gen taskset -c "$GEN_CPU" "$BIN" gen -i eth0 --dst-mac "$DIR_MAC" --dst "$VIP:$PORT" --src "$SRC" \
            --kind udp --frame-bytes 64 --flows 200000 --count 600000 --rate 180000 --duration 30s >/dev/null 2>&1
        wait "$sink_pid" || true
        flows=$(python3 -c "print(int(float('$(kv pps "$STATE/sink-sync.out")' or 0) / 3))")
        if [ "$sync" = on ]; then
            sync_line=$(in_ns dir "$BIN" ctl --control "$STATE/ulvs.sock" status | grep '^sync: ' || true)
            read -r datagrams entries < <(echo "$sync_line" | awk '{ print $4, $6 }')
            sync_bytes=$(python3 -c "d, e = ${datagrams:-0}, ${entries:-0}; print(round((d * 54 + e * 36) / e, 1) if e else 0)")
            sync_on=$flows
        else
            sync_off=$flows
        fi
        subject_down ulvs-xdp
    done
    SYNC_CONF=""
    sync_ratio=$(python3 -c "print(round(${sync_on:-0} / ${sync_off:-1}, 3) if ${sync_off:-0} else 0)")
    {
        echo "sync_off_connections_per_s,${sync_off:-0}"
        echo "sync_on_connections_per_s,${sync_on:-0}"
        echo "sync_on_off_ratio,$sync_ratio"
        echo "sync_entries_sent,${entries:-0}"
        echo "sync_datagrams_sent,${datagrams:-0}"
        echo "sync_wire_bytes_per_connection,${sync_bytes:-0}"
    } >>"$OUT/conn.csv"
    log "sync: ${sync_off:-0} connections/s without, ${sync_on:-0} with (x$sync_ratio); ${entries:-0} entries in ${datagrams:-0} datagrams = ${sync_bytes:-0} B on the wire per connection"
fi
topology_down
log "done in $(( $(date +%s) - started_at )) s"

python3 scripts/bench-report.py "$OUT"
