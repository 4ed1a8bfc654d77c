// Documented limits of the front end (docs/amkir.md, "Limits"). Inputs past them are refused with a
// diagnostic, never a crash, a hang or unbounded memory.
#pragma once

#include <cstdint>

namespace amk::ir::limits {

inline constexpr uint64_t kMaxFileBytes = 64ull << 20;       // 64 MiB of schedule text
inline constexpr int kMaxNesting = 256;                      // expression and statement depth
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
// Fuzz builds (the libFuzzer targets; OSS-Fuzz and ClusterFuzzLite define this macro, and so does
// -DAMK_FUZZ=ON) refuse elaboration 50 times earlier. A few hundred bytes of nested loops reach the
// product limits, and one such input takes seconds under the sanitizers; with these limits the same
// refusal path runs in milliseconds and the fuzzers keep their rate. docs/fuzzing.md says why.
inline constexpr uint64_t kMaxInstructions = 200'000;
inline constexpr uint64_t kMaxElaborationSteps = 1'000'000;
#else
inline constexpr uint64_t kMaxInstructions = 10'000'000;     // elaborated instructions, all blocks
inline constexpr uint64_t kMaxElaborationSteps = 50'000'000; // loop iterations + instructions
#endif
inline constexpr int64_t kMaxBlocks = 65'536;
inline constexpr int64_t kMaxThreads = 1024;
inline constexpr int64_t kMaxOccupancy = 64;
inline constexpr int64_t kMaxSms = 1024;
inline constexpr int kMaxRank = 8;
inline constexpr uint64_t kMaxBufferBytes = 1ull << 40; // 1 TiB per buffer
inline constexpr int64_t kMaxCounterArray = 1 << 20;
inline constexpr uint64_t kMaxCounterValue = 0xFFFF'FFFFull; // counters are 32-bit

} // namespace amk::ir::limits
