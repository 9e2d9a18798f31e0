# scripts/demo.sh --ecmp: sourced by demo.sh (its options, `ctl`, `requests`, `tally`, the
# `daemon` table and the cleanup trap are demo.sh's). Three directors behind an ECMP router.

directors=(dir dir2 dir3)

ecmp_start() { # NODE: examples/ecmp/ulvs.toml with this lab's io and control socket, mh over ports too
    sed -e "s|^interface = \"eth0\"|interface = \"eth0\"\nio = \"$io\"\ncontrol = \"$state/$1.sock\"|" \
        -e 's|^scheduler = "mh"|scheduler = "mh"\nmh_port = true|' examples/ecmp/ulvs.toml >"$state/$1.toml"
    rm -f "$state/$1.sock"
    ip netns exec "$prefix-$1" "$ulvs" run --config "$state/$1.toml" 2>"$state/$1.log" &
    daemon[$1]=$!
    for _ in $(seq 1 100); do
        [ -S "$state/$1.sock" ] && return 0
        kill -0 "${daemon[$1]}" 2>/dev/null || { cat "$state/$1.log"; exit 1; }
        sleep 0.1
    done
}

router_route() { # the router's route to the VIP, indented
    ip netns exec "$prefix-router" ip route show 10.0.0.100 | sed 's/^/   /'
}

next_hops() { # how many directors the router sends the VIP's flows to
    ip netns exec "$prefix-router" ip route show 10.0.0.100 | grep -c 'via 10.0.0.'
}

wait_next_hops() { # COUNT, for at most 10 s
    for _ in $(seq 1 200); do
        [ "$(next_hops)" -eq "$1" ] && return 0
        sleep 0.05
    done
    echo "demo: the router does not have $1 next hops:" >&2
    router_route >&2
    return 1
}

conns() { # NODE → the connections it scheduled (its -L -n --stats Conns)
    ctl "$1" -L -n --stats | awk '$1 == "TCP" { print $3 }'
}

shares() { # each director's share since `before` (a director that has stopped: as it last said)
    local node now
    for node in "${directors[@]}"; do
        now=$(conns "$node" 2>/dev/null || echo "${last[$node]:-}")
        if [ -n "$now" ]; then
            echo "   $node: $((now - ${before[$node]:-0})) connection(s)"
        else
            echo "   $node: (not running)"
        fi
    done
}

snapshot_conns() {
    local node
    for node in "${directors[@]}"; do before[$node]=$(conns "$node" 2>/dev/null || echo 0); done
}

LAB_TOPOLOGY=ecmp scripts/lab.sh up "$prefix" 2
echo "== three directors (BIRD 2 each, AS 65001) behind a router (BIRD 2, AS 65000, ECMP on the L4 hash, BFD)"
for node in "${directors[@]}"; do ecmp_start "$node"; done
wait_next_hops 3
echo "   router: ip route show 10.0.0.100"
router_route
declare -A before=() last=()
snapshot_conns

echo "== $requests requests from the client (10.1.0.1) to http://10.0.0.100/, each on a new connection"
requests | tally
echo "   each director's share:"
shares

echo "== $requests more; after a quarter dir is drained (SIGTERM), after half dir2 crashes (link down, SIGKILL)"
pace=0.02
snapshot_conns
requests >"$state/answers" &
client_loop=$!
for _ in $(seq 1 200); do [ "$(wc -l <"$state/answers")" -ge $((requests / 4)) ] && break; sleep 0.05; done
echo "   (SIGTERM to dir's ulvs: it withdraws the VIP, forwards on for 5 s, then stops)"
kill -TERM "${daemon[dir]}"
wait_next_hops 2
last[dir]=$(conns dir)
echo "   router: ip route show 10.0.0.100 (dir withdrawn)"
router_route
for _ in $(seq 1 200); do [ "$(wc -l <"$state/answers")" -ge $((requests / 2)) ] && break; sleep 0.05; done
echo "   (dir2's link goes down and its ulvs gets SIGKILL: BFD tells the router)"
last[dir2]=$(conns dir2)
ip netns exec "$prefix-dir2" ip link set eth0 down
kill -KILL "${daemon[dir2]}"
wait "${daemon[dir2]}" 2>/dev/null || true
wait_next_hops 1
echo "   router: ip route show 10.0.0.100 (dir2 gone)"
router_route
wait "$client_loop"
client_loop=
tally <"$state/answers"
echo "   failed: $(grep -c FAILED "$state/answers" || true) of $requests"
wait "${daemon[dir]}" 2>/dev/null || true
unset 'daemon[dir]' 'daemon[dir2]'
echo "   each director's share of this round:"
shares
echo "== dir3's view: ulvs ctl status (bgp lines)"
ctl dir3 status | grep '^bgp' | sed 's/^/   /'
