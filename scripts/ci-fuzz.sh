#!/usr/bin/env bash
# Fuzzing in CI: builds the libFuzzer targets with clang-14 (ASan + UBSan) in build-fuzz, runs each
# for a bounded time, replays every corpus file through every target, and runs a 1,000-mutant slice
# of the adversarial campaign with the normal build's amk-fuzz. Fails on any crash, sanitizer report,
# false accept, oracle disagreement or real lowering the checker rejects. About 7 minutes on 2 cores
# with the defaults; a crash input is kept under build-fuzz/artifacts/ and reproduces with
# `build-fuzz/bin/<target> <file>`.
#
# Environment: AMK_FUZZ_SECONDS (per target, default 60), AMK_FUZZ_JOBS (targets fuzzed at once,
# default: the number of CPUs, at most 2), AMK_BUILD_DIR (the normal build with bin/amk-fuzz, default
# build), AMK_CAMPAIGN_COUNT (default 1000).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${AMK_FUZZ_SECONDS:-60}"
jobs="${AMK_FUZZ_JOBS:-$(nproc)}"
if [ "$jobs" -gt 2 ]; then jobs=2; fi
build="${AMK_BUILD_DIR:-build}"
campaign_count="${AMK_CAMPAIGN_COUNT:-1000}"
targets=(fuzz-amkir-frontend fuzz-elaborate fuzz-checker fuzz-differential fuzz-safetensors-header)

if ! command -v clang++-14 >/dev/null; then
  echo "ci-fuzz: clang++-14 is missing (scripts/bootstrap.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 2
fi
if ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "ci-fuzz: the libFuzzer runtime is missing (apt-get install libclang-rt-14-dev)" >&2
  exit 2
fi

echo "== build the fuzz targets (clang-14, -fsanitize=fuzzer,address,undefined)"
CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DAMK_FUZZ=ON -DAMK_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz --target "${targets[@]}"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
artifacts="build-fuzz/artifacts"
mkdir -p "$artifacts"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Seeds: every schedule of the corpus (well-formed, unsafe and malformed) plus the fuzz seeds; the
# differential target reads its input as generator choices and gets its own byte seeds.
amkir_seeds=(corpus/examples corpus/handwritten corpus/malformed corpus/lowerings corpus/fuzz/frontend)
[ -d corpus/adversarial ] && amkir_seeds+=(corpus/adversarial)
[ -d corpus/regressions ] && amkir_seeds+=(corpus/regressions)

fuzz_one() {
  local target="$1" out="$work/$1.log"
  local args=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 -print_final_stats=1
              -artifact_prefix="$artifacts/$target-")
  mkdir -p "$work/$target-corpus"
  case "$target" in
    fuzz-differential) args+=(-max_len=4096 "$work/$target-corpus" corpus/fuzz/differential) ;;
    fuzz-safetensors-header) args+=(-max_len=4096 "$work/$target-corpus" corpus/fuzz/safetensors) ;;
    fuzz-amkir-frontend) args+=(-dict=corpus/fuzz/amkir.dict -max_len=16384 "$work/$target-corpus" "${amkir_seeds[@]}") ;;
    *) args+=(-dict=corpus/fuzz/amkir.dict -max_len=65536 "$work/$target-corpus" "${amkir_seeds[@]}") ;;
  esac
  if "build-fuzz/bin/$target" "${args[@]}" >"$out" 2>&1; then
    echo "$target: ok, $(grep -o 'stat::number_of_executed_units: [0-9]*' "$out" | awk '{print $2}') executions in ${seconds} s"
  else
    echo "$target: FAILED (log below; reproducer under $artifacts/)"
    tail -60 "$out"
    return 1
  fi
}

echo "== fuzz each target for ${seconds} s (${jobs} at a time)"
failed=0
pids=()
for target in "${targets[@]}"; do
  fuzz_one "$target" &
  pids+=($!)
  if [ "${#pids[@]}" -ge "$jobs" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" -eq 0 ] || { echo "ci-fuzz: a fuzz target failed" >&2; exit 1; }

echo "== replay every corpus file through every target"
mapfile -t files < <(find corpus -type f \( -name '*.amkir' -o -path 'corpus/fuzz/frontend/*' \) | sort)
mapfile -t bytes < <(find corpus/fuzz/differential -type f | sort)
mapfile -t checkpoints < <(find corpus/fuzz/safetensors tests/fixtures -type f \( -name '*.safetensors' -o -name '*.bin' \) | sort)
for target in "${targets[@]}"; do
  case "$target" in
    fuzz-safetensors-header) inputs=("${checkpoints[@]}") ;;
    fuzz-differential) inputs=("${files[@]}" "${bytes[@]}") ;;
    *) inputs=("${files[@]}") ;;
  esac
  if ! "build-fuzz/bin/$target" -runs=1 "${inputs[@]}" >"$work/replay-$target.log" 2>&1; then
    echo "$target: FAILED on a corpus file"
    tail -60 "$work/replay-$target.log"
    exit 1
  fi
  echo "$target: ${#inputs[@]} files replayed"
done

echo "== adversarial campaign slice (${campaign_count} mutants of corpus/lowerings)"
amk_fuzz="$build/bin/amk-fuzz"
if [ ! -x "$amk_fuzz" ]; then
  # No normal build: use the instrumented one (slower, but checks the same).
  cmake --build build-fuzz --target amk-fuzz
  amk_fuzz="build-fuzz/bin/amk-fuzz"
fi
"$amk_fuzz" campaign --seed 1 --count "$campaign_count" --quiet --json "$work/campaign.json" \
  --regressions corpus/regressions
echo "ci-fuzz: all passed"
