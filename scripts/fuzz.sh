#!/usr/bin/env bash
# A fuzz campaign over ulvs's cargo-fuzz targets (fuzz/fuzz_targets/), each started from its
# committed, minimised corpus (fuzz/corpus/TARGET, plus fuzz/seeds/TARGET where there is one).
#
#   scripts/fuzz.sh [--minutes N | --seconds N | --runs N] [--replay] [TARGET…]
#
#   --minutes N   fuzz each target for N minutes (default 1); --seconds N likewise
#   --runs N      fuzz each target for N executions instead (e.g. --runs 10000000)
#   --replay      only run each target once over its corpus (a regression check; what test.sh does)
#   --dev         build and run the dev profile (no optimisation: quick to build, slow to fuzz;
#                 test.sh replays with it)
#   TARGET…       the targets to run (default: every target, one after the other)
#
# Prints, per target: executions, executions per second, coverage (libFuzzer's edge count and
# features), corpus size, and the result. What a run finds goes back into fuzz/corpus/TARGET, merged
# and minimised (libFuzzer's -merge=1: the smallest set of inputs with the same coverage), ready
# to commit. On a crash it stops: the input is kept under fuzz/artifacts/TARGET/, shown in hex, and
# the command that reproduces it is printed; the script exits 1.
#
# Runs at nice 19 (the fuzzers take a whole core each and a shared machine's builds come first);
# FUZZ_NICE=0 overrides. libFuzzer needs nightly-only flags, which RUSTC_BOOTSTRAP=1 allows on stable.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
runs=""
replay=false
profile=release
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) seconds=$(($2 * 60)); shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --replay) replay=true; shift ;;
        --dev) profile=dev; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done

scripts/deps.sh >/dev/null
if ! command -v cargo-fuzz >/dev/null; then
    cargo install --locked --quiet cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
nice_level="${FUZZ_NICE:-19}"

cd fuzz
all=$(cargo fuzz list)
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets <<<"$all"
fi
for target in "${targets[@]}"; do
    grep -qx "$target" <<<"$all" || { echo "fuzz.sh: no target $target (have: $(echo $all))" >&2; exit 2; }
done

if [ "$profile" = dev ]; then
    echo "== building the fuzz targets (dev, ASan)"
    nice -n "$nice_level" cargo fuzz build --dev >/dev/null
    bin_dir="target/x86_64-unknown-linux-gnu/debug"
else
    echo "== building the fuzz targets (release, debug assertions, ASan)"
    nice -n "$nice_level" cargo fuzz build >/dev/null
    bin_dir="target/x86_64-unknown-linux-gnu/release"
fi
work="target/fuzz-work"
mkdir -p "$work"

summary=()
for target in "${targets[@]}"; do
    corpus="corpus/$target"
    found="$work/$target"
    mkdir -p "$corpus" "$found" "artifacts/$target"
    inputs=("$corpus")
    [ -d "seeds/$target" ] && inputs+=("seeds/$target")
    # A single input running 10 s is a hang, reported as a crash.
    options=(-artifact_prefix="artifacts/$target/" -print_final_stats=1 -timeout=10)
    [ -f "dicts/$target.dict" ] && options+=(-dict="dicts/$target.dict")
    [ -f "options/$target" ] && mapfile -t -O "${#options[@]}" options < "options/$target"
    if $replay; then
        options+=(-runs=0)
        echo "== $target: replaying $(find "${inputs[@]}" -type f | wc -l) input(s)"
    elif [ -n "$runs" ]; then
        options+=(-runs="$runs")
        echo "== $target: $runs executions"
    else
        options+=(-max_total_time="$seconds")
        echo "== $target: $seconds s"
    fi
    log="$work/$target.log"
    status=0
    if $replay; then
        nice -n "$nice_level" "$bin_dir/$target" "${options[@]}" "${inputs[@]}" >"$log" 2>&1 || status=$?
    else
        nice -n "$nice_level" "$bin_dir/$target" "${options[@]}" "$found" "${inputs[@]}" >"$log" 2>&1 || status=$?
    fi
    execs=$(grep -oP 'stat::number_of_executed_units:\s*\K[0-9]+' "$log" | tail -1 || true)
    rate=$(grep -oP 'stat::average_exec_per_sec:\s*\K[0-9]+' "$log" | tail -1 || true)
    cov=$(grep -oP '^#[0-9]+.*\bcov: \K[0-9]+' "$log" | tail -1 || true)
    ft=$(grep -oP '^#[0-9]+.*\bft: \K[0-9]+' "$log" | tail -1 || true)
    if [ "$status" -ne 0 ]; then
        crash=$(grep -oP 'Test unit written to \K\S+' "$log" | tail -1 || true)
        echo
        grep -E 'panicked|ERROR: |SUMMARY' "$log" | head -5 || true
        echo "== $target CRASHED after ${execs:-?} executions (log: fuzz/$log)"
        if [ -n "$crash" ]; then
            echo "input: fuzz/$crash ($(stat -c %s "$crash") bytes)"
            od -A x -t x1z -v "$crash" | head -16
            echo "reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target $crash)"
        fi
        exit 1
    fi
    if ! $replay; then
        # Merge what this run found into the committed corpus, keeping the smallest set with the
        # same coverage.
        merged="$work/$target.merged"
        rm -rf "$merged" && mkdir -p "$merged"
        nice -n "$nice_level" "$bin_dir/$target" -merge=1 "$merged" "$corpus" "$found" >"$work/$target.merge.log" 2>&1
        rm -rf "$corpus" && mv "$merged" "$corpus"
        rm -rf "$found"
    fi
    size=$(find "$corpus" -type f | wc -l)
    printf '   %s: %s execs, %s execs/s, cov %s, ft %s, corpus %s\n' "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$size"
    summary+=("$(printf '| %s | %s | %s | %s | %s | %s | 0 |' "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$size")")
done

echo
echo "| target | execs | execs/s | cov (edges) | ft (features) | corpus | crashes |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${summary[@]}"
