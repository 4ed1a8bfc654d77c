#!/usr/bin/env bash
# On a GPU machine: per-step decode latency at batch 1, the megakernel against the best torch baseline
# over the same weights and the HBM floor, measured in one run.
#   bash bench/decode_bench.sh RESULTS_DIR [models...]      (default: smollm2-135m tinyllama-1.1b llama-3.2-1b)
# Per model: a random-weight bf16 checkpoint (scripts/hf_greedy.py, HF's greedy decode of 8 tokens);
# for each strategy (STRATEGIES, default "headwise fused barrier dataflow splitkv") amk-run decodes the prompt
# and checks its 8 tokens against HF's (a fast wrong kernel does not count), then times one step at KV
# lengths 1 and 1024 (--bench-kv 1,1024: 200 launches after 20 warm-up, kernel time by CUDA events);
# scripts/torch_decode_bench.py times two torch baselines at the same KV lengths, each checked against
# HF's logits first: HF's own model with a StaticCache and torch.compile(mode="reduce-overhead")
# (hf_static_compile) and a hand-written bf16 step with sdpa over the live KV positions, compiled and
# captured in one CUDA graph per KV length (torch_step_graph); best torch is the faster of those that
# passed. It also measures the copy bandwidth the floor is computed from. Writes RESULTS_DIR/amk-*.txt,
# torch-*.json and RESULTS_DIR/decode-bench.tsv, whose columns are: model, strategy, rows, threads, kv,
# median_us (the megakernel), hbm_floor_us, hf_static_compile_us, torch_step_graph_us, best_torch_us,
# tokens (HF's tokens matched), ops (the op check); a baseline that failed its check or its compile reads
# "-" (its error is in torch-MODEL.json, and the run exits 1). RESULTS_DIR/reference-megakernels.tsv is a
# copy of bench/reference-megakernels.tsv: published figures of other megakernels, beside the measured rows.
# AMK_RUN points at the amk-run binary (default build/bin/amk-run); CKPT_DIR keeps the checkpoints.
# ROWS (default "16") and THREADS (default "256") list the tile heights and block sizes tried for each
# strategy; every run also checks each op of its last decode step against the CPU reference
# (--op-check). PROFILE=1 adds one profiled launch per KV length (amk-run --profile): its summary
# goes to the run's text file and every instruction to amk-*.kvN.tsv. TORCH=0 leaves the baselines and
# the floor out (their columns read "-").
set -uo pipefail
results=${1:?usage: bash bench/decode_bench.sh RESULTS_DIR [models...]}
shift
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(smollm2-135m tinyllama-1.1b llama-3.2-1b)
read -r -a strategies <<<"${STRATEGIES:-headwise fused barrier dataflow splitkv}"
read -r -a rows_list <<<"${ROWS:-16}"
read -r -a threads_list <<<"${THREADS:-256}"
amk_run=${AMK_RUN:-build/bin/amk-run}
checkpoints=${CKPT_DIR:-$results/ckpt}
mkdir -p "$results" "$checkpoints"
tsv=$results/decode-bench.tsv
printf 'model\tstrategy\trows\tthreads\tkv\tmedian_us\thbm_floor_us\thf_static_compile_us\ttorch_step_graph_us\tbest_torch_us\ttokens\tops\n' >"$tsv"
failed=0
cp "$(dirname "$0")/reference-megakernels.tsv" "$results/" || failed=1
# The floor and the baselines' medians at one KV length, from a torch-*.json record: four fields,
# "-" for each one the record lacks (no record, or a baseline that failed).
torch_columns() {
  python3 - "$1" "$2" <<'PY' 2>/dev/null || echo "- - - -"
import json, sys
record, kv = json.load(open(sys.argv[1])), sys.argv[2]
def field(value):
    return "-" if value is None else str(round(value, 1))
print(field(record.get("hbm_floor_us")),
      *(field(record.get(key, {}).get(kv)) for key in ("hf_static_compile_us", "torch_step_graph_us", "best_torch_us")))
PY
}
for model in "${models[@]}"; do
  dir=$checkpoints/$model
  [ -f "$dir/hf_greedy.json" ] || python3 scripts/hf_greedy.py "models/$model" "$dir" --new 8 || { failed=1; continue; }
  if [ "${TORCH:-1}" = 1 ]; then
    rm -f "$results/torch-$model.json"
    python3 scripts/torch_decode_bench.py "models/$model" --kv 1,1024 --steps 200 --json "$results/torch-$model.json" \
      >"$results/torch-$model.txt" 2>&1 || failed=1
  fi
  declare -A torch_at=()
  for kv in 1 1024; do
    torch_at[$kv]=$(torch_columns "$results/torch-$model.json" "$kv")
  done
  for strategy in "${strategies[@]}"; do
    for rows in "${rows_list[@]}"; do
      for threads in "${threads_list[@]}"; do
        name=$model-$strategy-r$rows-t$threads
        out=$results/amk-$name.txt
        profile=()
        [ "${PROFILE:-0}" = 1 ] && profile=(--profile "$results/amk-$name")
        "$amk_run" "$dir" --strategy "$strategy" --rows "$rows" --threads "$threads" --context 2048 \
          --expect-file "$dir/hf_greedy.json" --new 8 --op-check --bench-kv 1,1024 --bench-steps 200 "${profile[@]}" \
          >"$out" 2>&1 || failed=1
        tokens=$(grep -oE '^(MATCH|MISMATCH): [0-9]+ of [0-9]+' "$out" | awk '{print $2 "/" $4}')
        ops=$(grep -oE '^OPS (MATCH|MISMATCH)' "$out" | awk '{print $2}')
        for kv in 1 1024; do
          median=$(grep -oE "^bench: kv $kv: step us median [0-9.]+" "$out" | awk '{print $NF}')
          read -r floor hf_static step_graph best <<<"${torch_at[$kv]}"
          printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$model" "$strategy" "$rows" "$threads" "$kv" \
            "${median:--}" "$floor" "$hf_static" "$step_graph" "$best" "${tokens:--}" "${ops:--}" | tee -a "$tsv"
        done
      done
    done
  done
done
exit "$failed"
