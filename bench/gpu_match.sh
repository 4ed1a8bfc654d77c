#!/usr/bin/env bash
# On a GPU machine: the megakernel's greedy tokens against HF transformers', every strategy.
#   bash bench/gpu_match.sh RESULTS_DIR [models...]
# 1. The committed fixtures (tests/fixtures, fp32 weights; HF's fp32 greedy continuation): the
#    megakernel runs them in fp32 and must agree on every token.
# 2. Random-weight checkpoints at published shapes, made and decoded by transformers in bf16 on the GPU
#    (scripts/hf_greedy.py): the megakernel runs the same checkpoint in bf16 and is compared token for
#    token; HF's per-step top-2 margins are recorded next to the tokens.
# Writes RESULTS_DIR/match.log and RESULTS_DIR/match.tsv (model, strategy, agreeing tokens, total,
# median step us). AMK_RUN points at the amk-run binary (default build/bin/amk-run); SKIP_FIXTURES=1
# skips part 1; CKPT_DIR keeps the checkpoints (and HF's records) outside the results.
set -uo pipefail
results=${1:?results directory}
shift
models=("${@:-smollm2-135m llama-3.2-1b}")
read -r -a models <<<"${models[*]}"
amk_run=${AMK_RUN:-build/bin/amk-run}
checkpoints=${CKPT_DIR:-$results/ckpt}
mkdir -p "$checkpoints"
log="$results/match.log"
tsv="$results/match.tsv"
: >"$log"
printf 'model\tstrategy\tagree\ttotal\tmedian_step_us\tstatus\n' >"$tsv"

run() { # model-dir label strategy expect-args...
  local dir=$1 label=$2 strategy=$3
  shift 3
  local output status
  output=$("$amk_run" "$dir" --strategy "$strategy" "$@" 2>&1)
  status=$?
  printf '== %s %s (exit %d)\n%s\n' "$label" "$strategy" "$status" "$output" | tee -a "$log"
  local agree total median
  agree=$(grep -oE '^(MATCH|MISMATCH): [0-9]+ of [0-9]+' <<<"$output" | awk '{print $2}')
  total=$(grep -oE '^(MATCH|MISMATCH): [0-9]+ of [0-9]+' <<<"$output" | awk '{print $4}')
  median=$(grep -oE 'median [0-9.]+' <<<"$output" | awk '{print $2}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$strategy" "${agree:--}" "${total:--}" "${median:--}" "$status" >>"$tsv"
}

fixtures=(tiny-gqa-tied tiny-llama3-untied tiny-mha-untied)
[ "${SKIP_FIXTURES:-0}" = 1 ] && fixtures=()
for fixture in "${fixtures[@]}"; do
  dir=tests/fixtures/$fixture
  prompt=$(python3 -c "import json;d=json.load(open('$dir/expected.json'));print(','.join(map(str,d['prompt'])))")
  expect=$(python3 -c "import json;d=json.load(open('$dir/expected.json'));print(','.join(map(str,d['greedy_tokens'])))")
  for strategy in barrier dataflow fused splitkv; do
    run "$dir" "$fixture" "$strategy" --blocks 16 --prompt-tokens "$prompt" --new 16 --expect "$expect"
  done
done

for model in "${models[@]}"; do
  dir=$checkpoints/$model
  [ -f "$dir/hf_greedy.json" ] || python3 scripts/hf_greedy.py "models/$model" "$dir" --new 32 2>&1 | tail -1 | tee -a "$log"
  for strategy in barrier dataflow fused splitkv; do
    run "$dir" "$model" "$strategy" --context 1024 --new 32 --expect-file "$dir/hf_greedy.json"
  done
done
column -t "$tsv"
