#!/usr/bin/env bash
# On a GPU machine: per-step decode latency at batch 1, the megakernel against a torch.compile + CUDA
# graph baseline over the same weights and the HBM floor, measured in one run.
#   bash bench/decode_bench.sh RESULTS_DIR [models...]      (default: smollm2-135m tinyllama-1.1b llama-3.2-1b)
# Per model: a random-weight bf16 checkpoint (scripts/hf_greedy.py, HF's greedy decode of 8 tokens);
# for each strategy (STRATEGIES, default "headwise fused barrier dataflow splitkv") amk-run decodes the prompt
# and checks its 8 tokens against HF's (a fast wrong kernel does not count), then times one step at KV
# lengths 1 and 1024 (--bench-kv 1,1024: 200 launches after 20 warm-up, kernel time by CUDA events);
# scripts/torch_decode_bench.py times the baseline at the same KV lengths (its logits checked against
# HF's first) and measures the copy bandwidth the floor is computed from. Writes RESULTS_DIR/amk-*.txt,
# torch-*.json, and RESULTS_DIR/decode-bench.tsv (model, strategy, kv, median us, floor us, torch us).
# AMK_RUN points at the amk-run binary (default build/bin/amk-run); CKPT_DIR keeps the checkpoints.
# ROWS (default "16") and THREADS (default "256") list the tile heights and block sizes tried for each
# strategy; every run also checks each op of its last decode step against the CPU reference
# (--op-check). PROFILE=1 adds one profiled launch per KV length (amk-run --profile): its summary
# goes to the run's text file and every instruction to amk-*.kvN.tsv. TORCH=0 leaves the baseline and
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
printf 'model\tstrategy\trows\tthreads\tkv\tmedian_us\thbm_floor_us\ttorch_compile_graph_us\ttokens\tops\n' >"$tsv"
failed=0
for model in "${models[@]}"; do
  dir=$checkpoints/$model
  [ -f "$dir/hf_greedy.json" ] || python3 scripts/hf_greedy.py "models/$model" "$dir" --new 8 || { failed=1; continue; }
  if [ "${TORCH:-1}" = 1 ]; then
    python3 scripts/torch_decode_bench.py "models/$model" --kv 1,1024 --steps 200 --json "$results/torch-$model.json" \
      >"$results/torch-$model.txt" 2>&1 || failed=1
  fi
  read -r floor torch1 torch1024 < <(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); t=d['torch_compile_graph_step_us']; print(round(d['hbm_floor_us'],1), round(t['1'],1), round(t['1024'],1))" "$results/torch-$model.json" 2>/dev/null || echo "- - -")
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
          torch=$torch1; [ "$kv" = 1024 ] && torch=$torch1024
          printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$model" "$strategy" "$rows" "$threads" "$kv" \
            "${median:--}" "$floor" "$torch" "${tokens:--}" "${ops:--}" | tee -a "$tsv"
        done
      done
    done
  done
done
exit "$failed"
