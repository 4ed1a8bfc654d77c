#!/usr/bin/env bash
# Runs amk-bench-checker for 10k, 100k and 1M elaborated instructions, one process per size so that
# peak memory is per size, and writes bench/results/checker-<date>.{txt,json}.
# Builds nothing.
#
#   bench/run_checker_bench.sh [BIN_DIR]        BIN_DIR defaults to build/bin (relative to the repo)
#
# Environment: AMK_BENCH_SIZES="10000 100000 1000000" (the sizes), AMK_BENCH_REPS (repetitions per
# size; default: the binary's, 7 / 5 / 1), AMK_BENCH_CPU (pin to this CPU; default: not pinned),
# AMK_BENCH_OUT (results folder; default bench/results), AMK_BENCH_TIMEOUT (seconds per size, default 5400;
# a size that runs out gets a "did not finish" row).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bindir=${1:-build/bin}
case $bindir in /*) ;; *) [ -d "$bindir" ] || bindir=$root/$bindir ;; esac
bin=$bindir/amk-bench-checker
if [ ! -x "$bin" ]; then
  echo "run_checker_bench.sh: no executable $bin" >&2
  echo "  build it first: cmake --build <build dir> --target amk-bench-checker, then pass <build dir>/bin" >&2
  exit 2
fi
command -v jq >/dev/null || { echo "run_checker_bench.sh: needs jq to merge the JSON results" >&2; exit 2; }

sizes=${AMK_BENCH_SIZES:-"10000 100000 1000000"}
limit=${AMK_BENCH_TIMEOUT:-5400}
outdir=${AMK_BENCH_OUT:-$root/bench/results}
mkdir -p "$outdir"
day=$(date -u +%Y-%m-%d)
txt=$outdir/checker-$day.txt
json=$outdir/checker-$day.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The checker is single-threaded, so it uses one core either way. AMK_BENCH_CPU=N pins it to CPU N
# (steadier on a quiet machine; on a busy one it keeps the scheduler from moving it to an idle CPU).
pin=()
if [ -n "${AMK_BENCH_CPU:-}" ] && command -v taskset >/dev/null; then
  pin=(taskset -c "$AMK_BENCH_CPU")
fi
reps=()
[ -n "${AMK_BENCH_REPS:-}" ] && reps=(--reps "$AMK_BENCH_REPS")

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
mem_total=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain 2>/dev/null | head -1)" ]; then commit="$commit (working tree modified)"; fi

{
  echo "# amk-bench-checker: generated Llama-decode schedules, 132 blocks, parse+elaborate and checker phases"
  echo "# date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# machine:  $(nproc) CPUs ($(getconf _NPROCESSORS_ONLN) online), $cpu_model, $mem_total memory, $(uname -sr)"
  echo "# pinned:   ${pin[*]:-not pinned (the checker is single-threaded; set AMK_BENCH_CPU to pin)}"
  echo "# load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min load average before the run)"
  echo "# binary:   $bin"
  echo "# commit:   $commit"
  echo "# times are medians over the repetitions (column reps), wall clock, seconds; peak MiB is VmHWM of"
  echo "# the process measuring that size; pairs = unordered access pairs (different blocks, one writing) whose"
  echo "# whole boxes were compared: those the conflict search's interval index put side by side (projections"
  echo "# that meet on the buffer's key dimension, inside the happens-before window of the later access)"
  echo "#"
} >"$tmp/header"

first=1
for size in $sizes; do
  header=(--no-header)
  [ $first = 1 ] && header=()
  first=0
  echo "run_checker_bench.sh: size $size" >&2
  status=0
  timeout "$limit" "${pin[@]}" "$bin" --size "$size" "${reps[@]}" "${header[@]}" --json "$tmp/$size.json" \
    >"$tmp/$size.txt" || status=$?
  cat "$tmp/$size.txt" | tee -a "$tmp/table"
  if [ $status = 124 ] || [ $status -gt 128 ]; then
    # Out of time or killed: a row that says so, in the table and in the JSON, rather than no row.
    why="timeout after $limit s (AMK_BENCH_TIMEOUT)"
    [ $status != 124 ] && why="killed by signal $((status - 128))"
    printf '%10s %6s  did not finish: %s\n' "~$size" 132 "$why" | tee -a "$tmp/table"
    jq -n --argjson t "$size" --argjson s "$limit" --arg why "$why" \
      '{machine: {}, results: [{target: $t, instructions: $t, timed_out: true, timeout_s: $s, why: $why}]}' \
      >"$tmp/$size.json"
  elif [ $status != 0 ]; then
    echo "run_checker_bench.sh: size $size failed (exit $status)" >&2
    exit 1
  fi
done

# Targets: 100k checked in <= 0.5 s; 100k -> 1M growth no worse than n log n.
jq -s '{machine: ((map(.machine) | add) + {cpus_online: '"$(getconf _NPROCESSORS_ONLN)"', pinned: "'"${pin[*]:-}"'",
                                   commit: "'"$commit"'"}),
        results: map(.results[])}' "$tmp"/*.json >"$tmp/merged.json"
jq '.results |= sort_by(.instructions)' "$tmp/merged.json" >"$json"
summary=$(jq -r '
  def row(n): [.results[] | select(.target == n)][0];
  (row(100000)) as $m | (row(1000000)) as $l |
  if $m == null then "targets: (no 100k row)"
  elif $m.timed_out then "target 100k <= 0.5 s: did not finish (\($m.why)): MISSED"
  else
    "target 100k <= 0.5 s:   total \($m.total_s * 1000 | round / 1000) s wall, \($m.total_cpu_s * 1000 | round / 1000) s CPU (verify only \($m.verify_s * 1000 | round / 1000) s wall): \(if $m.total_s <= 0.5 then "MET" else "MISSED" end)",
    (if $l == null then empty elif $l.timed_out then
      "target growth 100k->1M: 1M did not finish (\($l.why)): MISSED"
    else
      ($l.instructions / $m.instructions) as $r |
      ($r * (($l.instructions | log) / ($m.instructions | log))) as $nlogn |
      "target growth 100k->1M: x\($l.total_s / $m.total_s * 10 | round / 10) wall, x\($l.total_cpu_s / $m.total_cpu_s * 10 | round / 10) CPU for x\($r * 100 | round / 100) instructions; n log n allows x\($nlogn * 10 | round / 10): \(if $l.total_s / $m.total_s <= $nlogn then "MET" else "MISSED" end)",
      "  per phase 100k->1M: parse+elab x\($l.parse_elab_s / $m.parse_elab_s * 10 | round / 10), progress x\($l.progress_s / $m.progress_s * 10 | round / 10), hb x\($l.hb_s / $m.hb_s * 10 | round / 10), conflicts x\($l.conflicts_s / $m.conflicts_s * 10 | round / 10); pairs x\($l.conflict_pairs / $m.conflict_pairs * 10 | round / 10)"
    end)
  end' "$json")

{ cat "$tmp/header" "$tmp/table"; echo "#"; echo "$summary" | sed 's/^/# /'; } >"$txt"
echo "$summary"
echo "run_checker_bench.sh: wrote $txt and $json" >&2
