#!/usr/bin/env bash
# On a GPU machine: compute-sanitizer's memcheck, racecheck and synccheck over the megakernel of a
# small model, every strategy with the model's weights and two with W8A16 weights (--weights int8),
# greedy decoding checked against HF's tokens.
#   bash bench/sanitizers.sh RESULTS_DIR [fixture]
# The fixture (default tests/fixtures/tiny-gqa-tied, fp32) is decoded for 3 tokens with 16 blocks;
# each tool's full output goes to RESULTS_DIR/sanitizer-<tool>-<strategy>[-int8].log and a summary
# line per run to RESULTS_DIR/sanitizers.tsv. The int8 runs print their tokens without comparing them
# (quantised weights change the logits, so HF's tokens are not theirs to match). racecheck reports
# shared-memory hazards (the megakernel's cross-block communication goes through global memory, which
# the checker certifies); synccheck,
# invalid uses of __syncthreads; memcheck, out-of-bounds and misaligned accesses, and leaks
# (--leak-check full). Exit status 1 when any run reports an error or fails its token check.
# AMK_RUN points at the amk-run binary (default build/bin/amk-run); COMPUTE_SANITIZER at the tool.
set -uo pipefail
results=${1:?results directory}
fixture=${2:-tests/fixtures/tiny-gqa-tied}
amk_run=${AMK_RUN:-build/bin/amk-run}
sanitizer=${COMPUTE_SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}
mkdir -p "$results"
tsv="$results/sanitizers.tsv"
printf 'tool\tstrategy\tweights\texit\terror_summary\ttokens\n' >"$tsv"
prompt=$(python3 -c "import json;d=json.load(open('$fixture/expected.json'));print(','.join(map(str,d['prompt'])))")
expect=$(python3 -c "import json;d=json.load(open('$fixture/expected.json'));print(','.join(map(str,d['greedy_tokens'][:3])))")
"$sanitizer" --version | head -2 | tee "$results/sanitizer-version.txt"
failed=0
for tool in memcheck racecheck synccheck; do
  extra=()
  [ "$tool" = memcheck ] && extra=(--leak-check full)
  for run in barrier:model dataflow:model fused:model splitkv:model headwise:model fused:int8 headwise:int8; do
    strategy=${run%%:*} weights=${run#*:}
    log="$results/sanitizer-$tool-$strategy.log"
    check=(--expect "$expect")
    if [ "$weights" = int8 ]; then
      log="$results/sanitizer-$tool-$strategy-int8.log"
      check=()
    fi
    "$sanitizer" --tool "$tool" "${extra[@]}" --error-exitcode 99 \
      "$amk_run" "$fixture" --strategy "$strategy" --weights "$weights" --blocks 16 --prompt-tokens "$prompt" \
      --new 3 "${check[@]}" --timeout 120 >"$log" 2>&1
    status=$?
    summary=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|LEAK SUMMARY' "$log" | tr '\n' ' ')
    tokens=$(grep -oE '^(MATCH|MISMATCH): [0-9]+ of [0-9]+' "$log" | head -1)
    [ "$weights" = int8 ] && tokens=$(grep -oE '^tokens: [0-9,]+' "$log" | head -1)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$strategy" "$weights" "$status" "${summary:--}" "${tokens:--}" |
      tee -a "$tsv"
    [ "$status" -eq 0 ] || failed=1
  done
done
exit "$failed"
