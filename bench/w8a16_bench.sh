#!/usr/bin/env bash
# On a GPU machine: W8A16 (int8 projection weights, quantised at load time) against the bf16
# megakernel on the same checkpoint, side by side in one run.
#   bash bench/w8a16_bench.sh RESULTS_DIR [model:strategy:rows:threads ...]
# (default: smollm2-135m:headwise:16:256 llama-3.2-1b:headwise:32:512 tinyllama-1.1b:headwise:32:512)
# Per model: a random-weight bf16 checkpoint (scripts/hf_greedy.py); amk-run in bf16 and in int8 with
# the same schedule knobs decodes NEW (default 64) greedy tokens from HF's prompt, checks every op of
# its last step against the CPU reference (--op-check) and times one step at KV 1 and 1024 (200
# launches, CUDA events); the bf16 run also checks its NEW tokens against HF's greedy decode. Then both run
# teacher-forced over the prompt + the bf16 continuation and scripts/w8a16_compare.py reports greedy
# agreement, teacher-forced argmax agreement and the perplexity ratio. The HBM floor of each weight
# format is its param bytes over the device-to-device copy bandwidth measured once at the start
# (scripts/torch_decode_bench.py's copy_bandwidth; FLOOR=0: no floor). Writes RESULTS_DIR/w8a16.tsv and one text file per run.
set -uo pipefail
results=${1:?usage: bash bench/w8a16_bench.sh RESULTS_DIR [model:strategy:rows:threads ...]}
shift
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(smollm2-135m:headwise:16:256 llama-3.2-1b:headwise:32:512 tinyllama-1.1b:headwise:32:512)
amk_run=${AMK_RUN:-build/bin/amk-run}
amk_plan=${AMK_PLAN:-build/bin/amk-plan}
new=${NEW:-64}
checkpoints=${CKPT_DIR:-$results/ckpt}
mkdir -p "$results" "$checkpoints"
tsv=$results/w8a16.tsv
printf 'model\tweights\tstrategy\trows\tthreads\tkv\tmedian_us\tfloor_us\tops\tnote\n' >"$tsv"
failed=0
# The device-to-device copy bandwidth (GB/s) the floors are computed from, measured once.
bandwidth=""
if [ "${FLOOR:-1}" = 1 ]; then
  bandwidth=$(python3 -c "import sys; sys.path.insert(0, 'scripts'); from torch_decode_bench import copy_bandwidth; print(copy_bandwidth() / 1e9)")
  echo "copy bandwidth: $bandwidth GB/s" | tee "$results/bandwidth.txt"
fi
# Bytes of a schedule's params (its `param` declarations).
param_bytes() {
  python3 - "$1" <<'PY'
import re, sys
size = {"bf16": 2, "f16": 2, "f32": 4, "i32": 4, "i8": 1}
total = 0
for line in open(sys.argv[1]):
    m = re.match(r"\s*param \w+ : (\w+)\[([0-9, ]+)\]", line)
    if m:
        n = 1
        for d in m.group(2).split(","):
            n *= int(d)
        total += n * size[m.group(1)]
print(total)
PY
}
for config in "${configs[@]}"; do
  IFS=: read -r model strategy rows threads <<<"$config"
  dir=$checkpoints/$model
  [ -f "$dir/hf_greedy.json" ] || python3 scripts/hf_greedy.py "models/$model" "$dir" --new "$new" || { failed=1; continue; }
  prompt=$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['prompt'])))" "$dir/hf_greedy.json")
  for weights in model int8; do
    name=$model-$weights
    "$amk_plan" "$dir" -t h100 -s "$strategy" -r "$rows" --threads "$threads" --context 2048 --weights "$weights" \
      -o "$results/$name.amkir" >/dev/null 2>&1 || failed=1
    floor=-
    if [ -n "$bandwidth" ]; then
      bytes=$(param_bytes "$results/$name.amkir")
      floor=$(python3 -c "import sys; print(round(int(sys.argv[1]) / (float(sys.argv[2]) * 1e9) * 1e6, 1))" "$bytes" "$bandwidth")
    fi
    expect=()
    [ "$weights" = model ] && expect=(--expect-file "$dir/hf_greedy.json")
    out=$results/amk-$name.txt
    "$amk_run" "$dir" --schedule "$results/$name.amkir" --prompt-tokens "$prompt" --new "$new" "${expect[@]}" \
      --op-check --bench-kv 1,1024 --bench-steps 200 >"$out" 2>&1 || failed=1
    ops=$(grep -oE '^OPS (MATCH|MISMATCH)' "$out" | awk '{print $2}')
    note=$(grep -oE '^(MATCH|MISMATCH): [0-9]+ of [0-9]+' "$out" | awk '{print "hf " $2 "/" $4}')
    for kv in 1 1024; do
      median=$(grep -oE "^bench: kv $kv: step us median [0-9.]+" "$out" | awk '{print $NF}')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$model" "$weights" "$strategy" "$rows" "$threads" "$kv" \
        "${median:--}" "$floor" "${ops:--}" "${note:--}" | tee -a "$tsv"
    done
  done
  continuation=$(grep -E '^tokens: ' "$results/amk-$model-model.txt" | sed 's/^tokens: //')
  forced="$prompt,$continuation"
  for weights in model int8; do
    "$amk_run" "$dir" --schedule "$results/$model-$weights.amkir" --force-tokens "$forced" \
      --logits-out "$results/logits-$model-$weights.npy" >"$results/forced-$model-$weights.txt" 2>&1 || failed=1
  done
  prompt_len=$(awk -F, '{print NF}' <<<"$prompt")
  python3 scripts/w8a16_compare.py --bf16-tokens "$results/amk-$model-model.txt" \
    --int8-tokens "$results/amk-$model-int8.txt" --forced "$forced" --prompt-len "$prompt_len" \
    --bf16-logits "$results/logits-$model-model.npy" --int8-logits "$results/logits-$model-int8.npy" \
    --json "$results/compare-$model.json" | tee "$results/compare-$model.txt" || failed=1
  rm -f "$results/logits-$model-model.npy" "$results/logits-$model-int8.npy"
done
exit "$failed"
