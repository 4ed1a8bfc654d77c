#!/usr/bin/env bash
# The main job on the bundled corpus, run from a build in build/: every schedule is checked by
# amk-verify against the verdict its "# expect:" line states (safe, unsafe with its rule ids, or
# malformed with the rule id of its first diagnostic), and the well-formed ones must be in canonical
# form. Prints the verdict table; fails on any mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
files=(corpus/examples/*.amkir corpus/handwritten/*.amkir corpus/malformed/*.amkir corpus/regressions/*.amkir)
build/bin/amk-verify --expect --jobs 2 "${files[@]}"
wellformed=(corpus/examples/*.amkir corpus/handwritten/*.amkir corpus/regressions/*.amkir)
build/bin/amk-fmt --check --quiet "${wellformed[@]}"
echo "all ${#wellformed[@]} well-formed corpus files are in canonical form"
