#!/usr/bin/env bash
# The emitted megakernel builds with nvcc for sm_80, sm_90 and sm_120: a planned schedule is lowered by
# amk-lower and its kernel compiled to a cubin per architecture. Nothing runs (CI has no GPU).
#   nvcc_compile.sh BIN_DIR NVCC SOURCE_DIR
set -euo pipefail
bin=$1 nvcc=$2 source=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/amk-plan" "$source/models/tiny-llama3-untied" --strategy splitkv --target h100 --blocks 16 -o "$work/step.amkir"
"$bin/amk-lower" "$work/step.amkir" -o "$work/kernel.cu"
for arch in sm_80 sm_90 sm_120; do
  "$nvcc" -arch="$arch" -std=c++17 -I "$source/megakernel/device" -I "$source/ir" -cubin -o "$work/$arch.cubin" "$work/kernel.cu"
  echo "kernel.cu compiled for $arch: $(stat -c %s "$work/$arch.cubin") bytes"
done
