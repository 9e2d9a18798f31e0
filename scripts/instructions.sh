#!/usr/bin/env bash
# Instructions per packet for each pipeline case, counted by callgrind (reproducible on a busy
# machine, unlike time). Cases and what they run: benches/instructions.rs.
#
#   scripts/instructions.sh [COUNT] [CASE...]     # default 200000 packets per case, every case
set -euo pipefail
cd "$(dirname "$0")/.."
# valgrind only for this script: installed here, not by every deps.sh run.
scripts/deps.sh --with valgrind
count=${1:-200000}
shift || true
bin=$(cargo bench --bench instructions --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*instructions-[0-9a-f]*\)).*/\1/p')
[ -x "$bin" ] || { echo "instructions.sh: bench binary not found" >&2; exit 1; }
cases=("$@")
[ ${#cases[@]} -gt 0 ] || mapfile -t cases < <("$bin" --list)
printf '%-16s %12s\n' case instr/packet
for case in "${cases[@]}"; do
    collected=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
        --toggle-collect='*measured*' "$bin" "$case" "$count" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    awk -v c="$case" -v n="$collected" -v k="$count" 'BEGIN { printf "%-16s %12.1f\n", c, n / k }'
done
