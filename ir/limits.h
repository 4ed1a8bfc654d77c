// Documented limits of the front end (docs/amkir.md, "Limits"). Inputs past them are refused with a
// diagnostic, never a crash, a hang or unbounded memory.
#pragma once

#include <cstdint>

namespace amk::ir::limits {

inline constexpr uint64_t kMaxFileBytes = 64ull << 20;       // 64 MiB of schedule text
inline constexpr int kMaxNesting = 256;                      // expression and statement depth
inline constexpr uint64_t kMaxInstructions = 10'000'000;     // elaborated instructions, all blocks
inline constexpr uint64_t kMaxElaborationSteps = 50'000'000; // loop iterations + instructions
inline constexpr int64_t kMaxBlocks = 65'536;
inline constexpr int64_t kMaxThreads = 1024;
inline constexpr int64_t kMaxOccupancy = 64;
inline constexpr int64_t kMaxSms = 1024;
inline constexpr int kMaxRank = 8;
inline constexpr uint64_t kMaxBufferBytes = 1ull << 40; // 1 TiB per buffer
inline constexpr int64_t kMaxCounterArray = 1 << 20;
inline constexpr uint64_t kMaxCounterValue = 0xFFFF'FFFFull; // counters are 32-bit

} // namespace amk::ir::limits
