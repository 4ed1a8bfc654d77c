#!/usr/bin/env bash
# ThreadSanitizer over the threaded paths of the tools: amk-verify --jobs over the whole corpus (every
# file one job, the real lowerings included) and amk-plan --matrix --jobs over the tiny configs, both
# built with -fsanitize=thread in build-tsan. Fails on any data race TSan reports or any verdict that
# differs from the corpus's expectations. About 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob

echo "== build amk-verify and amk-plan with -fsanitize=thread"
cmake -S . -B build-tsan -G Ninja -DAMK_BUILD_TESTS=OFF -DCMAKE_CXX_FLAGS="-fsanitize=thread" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build build-tsan --target amk-verify amk-plan

# exitcode: a TSan report must not pass for a verdict (amk-verify exits 0, 1, 2, 3 or 101).
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
run() {
  local rc=0
  "$@" >/dev/null || rc=$?
  if [ "$rc" -eq 66 ]; then
    echo "ci-tsan: ThreadSanitizer reported a data race in: $*" >&2
    exit 1
  fi
  return "$rc"
}

echo "== amk-verify --jobs 4 --expect over the corpus's schedules with an expectation"
run build-tsan/bin/amk-verify --expect --jobs 4 corpus/examples/*.amkir corpus/handwritten/*.amkir \
  corpus/malformed/*.amkir corpus/regressions/*.amkir
echo "== amk-verify --jobs 4 over the real lowerings and the adversarial counterexamples"
rc=0
run build-tsan/bin/amk-verify --jobs 4 --format json corpus/lowerings/*.amkir corpus/adversarial/*.amkir || rc=$?
if [ "$rc" -gt 1 ]; then
  echo "ci-tsan: amk-verify exited $rc on the lowerings and counterexamples" >&2
  exit 1
fi
echo "== amk-plan --matrix --jobs 2 over the tiny configs"
matrix="$(mktemp -d)"
trap 'rm -rf "$matrix"' EXIT
run build-tsan/bin/amk-plan --matrix "$matrix" --model tiny-gqa-tied --model tiny-mha-untied --jobs 2 --quiet
echo "ci-tsan: no data race reported"
