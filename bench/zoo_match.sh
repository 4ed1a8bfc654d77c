#!/usr/bin/env bash
# On a GPU machine: the megakernel against HF transformers on the zoo models, random weights in bf16.
#   bash bench/zoo_match.sh RESULTS_DIR [models...]
# For each model (default: the ten zoo models of models/, smallest first):
# 1. scripts/hf_zoo.py makes a random-weight bf16 checkpoint in CKPT_DIR/<model>, with HF's greedy
#    decode, its per-step top-2 margins and HF's logits on the teacher-forcing sequence (the prompt and
#    HF's greedy tokens), and the same from an fp32 copy of the weights as a noise yardstick;
# 2. per strategy: amk-run decodes greedily and compares with HF's tokens (--expect-file hf_zoo.json),
#    then runs teacher-forced on the sequence (--force-tokens) writing every step's logits
#    (--logits-out), which scripts/compare_logits.py compares with HF's: the largest relative error of
#    a position's logits and |ppl_amk / ppl_hf - 1|;
# 3. one row per (model, strategy) is appended to RESULTS_DIR/zoo.tsv; once every strategy of a model
#    has its row the checkpoint is deleted (the 8B one is 16 GB).
# Resumable: a (model, strategy) that has a row is skipped, so after a stop (a time limit) the same
# command goes on where it was; a checkpoint without hf_zoo.json is incomplete and made again. Progress
# goes to stdout, every tool's full output to RESULTS_DIR/zoo.log.
# Environment: AMK_RUN (the amk-run binary, default build/bin/amk-run), CKPT_DIR (checkpoints, default
# RESULTS_DIR/ckpt), STRATEGIES (default "fused dataflow"), NEW_TOKENS (default 64), CONTEXT (KV
# positions, default 1024), DELAY_TRIALS (default 0; > 0: the first strategy's greedy run also relaunches
# its last step that many times with random delays, amk-run --delay-trials), HF_ZOO_ARGS (more
# hf_zoo.py options, e.g. "--cycle 80", as run on 2026-12-02), KEEP_CKPT=1 (keep checkpoints), KEEP_LOGITS=1
# (keep amk-run's logits in RESULTS_DIR/logits), PYTHON (default python3).
set -uo pipefail
results=${1:?usage: bash bench/zoo_match.sh RESULTS_DIR [models...]}
shift
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(llama-68m smollm2-135m smollm2-360m smollm2-1.7b tinyllama-1.1b llama-3.2-1b
  llama-3.2-3b open-llama-3b-v2 llama-2-7b llama-3.1-8b)
read -r -a strategies <<<"${STRATEGIES:-fused dataflow}"
amk_run=${AMK_RUN:-build/bin/amk-run}
checkpoints=${CKPT_DIR:-$results/ckpt}
new_tokens=${NEW_TOKENS:-64}
context=${CONTEXT:-1024}
delay_trials=${DELAY_TRIALS:-0}
python=${PYTHON:-python3}
read -r -a hf_zoo_args <<<"${HF_ZOO_ARGS:-}"

[ -x "$amk_run" ] || { echo "zoo_match.sh: error: AMK_RUN=$amk_run is not an executable amk-run" >&2; exit 2; }
mkdir -p "$results/logits" "$checkpoints" || exit 2
log=$results/zoo.log
tsv=$results/zoo.tsv
columns=$'date\tgpu\tmodel\tstrategy\ttokens\tmax_logits_rel_err\tppl_ratio_err\tmin_hf_margin\tmin_hf_margin_ulps'
columns+=$'\thf_bf16_vs_fp32_rel_err\targmax_agree\tmedian_step_us\tdelayed\tstatus'
[ -s "$tsv" ] || printf '%s\n' "$columns" >"$tsv"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader -i 0 2>/dev/null | head -1)
gpu=${gpu:-unknown GPU}

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$log"; }
has_row() { awk -F'\t' -v m="$1" -v s="$2" '$3 == m && $4 == s { found = 1 } END { exit !found }' "$tsv"; }
# json FILE EXPRESSION: a value of the hf_zoo.json record `d`, printed by Python.
json() { "$python" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
row() { # model strategy tokens rel_err ppl_err margin margin_ulps noise argmax median delayed status
  local IFS=$'\t'
  printf '%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$gpu" "$*" >>"$tsv"
}

for model in "${models[@]}"; do
  pending=()
  for strategy in "${strategies[@]}"; do
    has_row "$model" "$strategy" || pending+=("$strategy")
  done
  if [ ${#pending[@]} -eq 0 ]; then
    say "$model: every strategy has its row, skipped"
    continue
  fi
  if [ ! -f "models/$model/config.json" ]; then
    say "$model: error: no models/$model/config.json"
    for strategy in "${pending[@]}"; do row "$model" "$strategy" - - - - - - - - - no-config; done
    continue
  fi
  dir=$checkpoints/$model
  started=$SECONDS
  if [ ! -f "$dir/hf_zoo.json" ]; then
    rm -rf "$dir"
    say "$model: making the checkpoint and HF's decode (scripts/hf_zoo.py ${hf_zoo_args[*]})"
    if ! "$python" scripts/hf_zoo.py "models/$model" "$dir" --new "$new_tokens" "${hf_zoo_args[@]}" >>"$log" 2>&1; then
      say "$model: error: scripts/hf_zoo.py failed (see $log)"
      for strategy in "${pending[@]}"; do row "$model" "$strategy" - - - - - - - - - hf_zoo-failed; done
      rm -rf "$dir"
      continue
    fi
  fi
  record=$dir/hf_zoo.json
  sequence=$(json "$record" '",".join(map(str, d["sequence"]))')
  margin=$(json "$record" '"%.4g" % d["min_margin"]')
  margin_ulps=$(json "$record" '"%.3g" % d["min_margin_ulps"]')
  noise=$(json "$record" '"%.3e" % d["fp32"]["logits_rel_err_max"]')
  say "$model: HF min margin $margin ($margin_ulps ulp), bf16-vs-fp32 logits rel err $noise [$((SECONDS - started)) s]"

  for strategy in "${pending[@]}"; do
    delay_args=()
    [ "$delay_trials" -gt 0 ] && [ "$strategy" = "${strategies[0]}" ] && delay_args=(--delay-trials "$delay_trials")
    output=$("$amk_run" "$dir" --strategy "$strategy" --context "$context" --new "$new_tokens" \
      --expect-file "$record" "${delay_args[@]}" 2>&1)
    greedy_status=$?
    printf '== %s %s greedy (exit %d)\n%s\n' "$model" "$strategy" "$greedy_status" "$output" >>"$log"
    tokens=$(grep -oE '^(MATCH|MISMATCH): [0-9]+ of [0-9]+' <<<"$output" | awk '{print $2 "/" $4}')
    median=$(grep -oE 'median [0-9.]+' <<<"$output" | awk '{print $2}')
    delayed=$(grep -oE '^DELAYED: [0-9]+ of [0-9]+' <<<"$output" | awk '{print $2 "/" $4}')
    status=ok
    if grep -q '^MISMATCH' <<<"$output"; then status=token-mismatch; fi
    if [ -n "$delayed" ] && ! grep -qE '^DELAYED: ([0-9]+) of \1 launches bit-identical' <<<"$output"; then
      status=delay-failure
    fi
    if [ "$greedy_status" -ne 0 ] && [ "$status" = ok ]; then status=amk-run-exit-$greedy_status; fi

    logits=$results/logits/$model-$strategy.npy
    output=$("$amk_run" "$dir" --strategy "$strategy" --context "$context" --force-tokens "$sequence" \
      --logits-out "$logits" 2>&1)
    forced_status=$?
    printf '== %s %s teacher-forced (exit %d)\n%s\n' "$model" "$strategy" "$forced_status" "$output" >>"$log"
    compared=(- - - - - -)
    if [ "$forced_status" -eq 0 ]; then
      if line=$("$python" scripts/compare_logits.py "$dir/hf_logits.npy" "$logits" --record "$record" --format tsv \
        2>>"$log"); then
        read -r -a compared <<<"$line" # max_rel_err worst_position ppl_hf ppl_amk ppl_ratio_err argmax
      else
        [ "$status" = ok ] && status=compare-failed
      fi
    elif [ "$status" = ok ]; then
      status=forced-exit-$forced_status
    fi
    [ "${KEEP_LOGITS:-0}" = 1 ] || rm -f "$logits"
    row "$model" "$strategy" "${tokens:--}" "${compared[0]}" "${compared[4]}" "$margin" "$margin_ulps" "$noise" \
      "${compared[5]}" "${median:--}" "${delayed:--}" "$status"
    say "$model $strategy: tokens ${tokens:--}, logits rel err ${compared[0]}, |ppl ratio - 1| ${compared[4]}," \
      "argmax ${compared[5]}, median step ${median:--} us${delayed:+, delayed $delayed}: $status"
  done

  complete=1
  for strategy in "${strategies[@]}"; do has_row "$model" "$strategy" || complete=0; done
  if [ "$complete" = 1 ] && [ "${KEEP_CKPT:-0}" != 1 ]; then
    rm -rf "$dir"
  fi
  say "$model: done [$((SECONDS - started)) s]"
done
if command -v column >/dev/null; then column -t -s $'\t' "$tsv"; else cat "$tsv"; fi
