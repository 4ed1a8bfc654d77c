#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build of AMK's libFuzzer targets: every library and target is compiled
# with $CXX $CXXFLAGS (the sanitizer and coverage flags come from the environment) and the targets
# link $LIB_FUZZING_ENGINE. Seed corpora, the AMKIR dictionary and option files go next to the
# binaries in $OUT, and so does libz3 (the runner image has no Z3; patchelf points the targets at it).
cd "$SRC/amk"
cmake -S . -B build-cflite -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_CXX_FLAGS="$CXXFLAGS" \
  -DAMK_BUILD_TESTS=OFF \
  -DAMK_WERROR=OFF \
  -DAMK_LIB_FUZZING_ENGINE="$LIB_FUZZING_ENGINE"
cmake --build build-cflite --target amk-fuzz-targets

targets=(fuzz-amkir-frontend fuzz-elaborate fuzz-checker fuzz-differential fuzz-safetensors-header)
mkdir -p "$OUT/lib"
for t in "${targets[@]}"; do
  cp "build-cflite/bin/$t" "$OUT/"
  # Shared libraries that the base-runner image does not have.
  ldd "build-cflite/bin/$t" | awk '/libz3/ {print $3}' | while read -r lib; do cp -L "$lib" "$OUT/lib/"; done
  # shellcheck disable=SC2016 # $ORIGIN is for the dynamic loader, not the shell
  patchelf --set-rpath '$ORIGIN/lib' "$OUT/$t"
done

# Text targets start from every schedule of the corpus; the differential target's inputs are
# generator choices, so any bytes will do and it gets its own small seeds.
zip -q -j "$OUT/seeds-amkir.zip" corpus/*/*.amkir corpus/fuzz/frontend/*
for t in fuzz-amkir-frontend fuzz-elaborate fuzz-checker; do
  cp "$OUT/seeds-amkir.zip" "$OUT/${t}_seed_corpus.zip"
  cp corpus/fuzz/amkir.dict "$OUT/$t.dict"
done
rm "$OUT/seeds-amkir.zip"
zip -q -j "$OUT/fuzz-differential_seed_corpus.zip" corpus/fuzz/differential/*
zip -q -j "$OUT/fuzz-safetensors-header_seed_corpus.zip" corpus/fuzz/safetensors/*
printf '[libfuzzer]\nmax_len = 65536\n' > "$OUT/fuzz-checker.options"
printf '[libfuzzer]\nmax_len = 65536\n' > "$OUT/fuzz-elaborate.options"
printf '[libfuzzer]\nmax_len = 4096\ntimeout = 60\n' > "$OUT/fuzz-differential.options"
printf '[libfuzzer]\nmax_len = 4096\n' > "$OUT/fuzz-safetensors-header.options"
