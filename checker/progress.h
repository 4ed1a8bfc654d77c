// Progress analysis: the maximal execution of a co-resident grid. Counters only grow and waits are
// threshold tests, so running every enabled step until none is left reaches the same final state in
// whatever order it is done; blocks left unfinished there are stuck in every fair execution.
#pragma once

#include "amk/checker/verdict.h"
#include "amk/ir/program.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace amk::checker {

// Key of one counter element: counter id in the high bits, element index in the low bits.
inline uint64_t counterKey(uint32_t counter, int64_t index) {
  return (static_cast<uint64_t>(counter) << 32) | static_cast<uint64_t>(index);
}

struct ProgressResult {
  std::vector<uint32_t> executed;      // per block: how many of its instructions ran
  std::vector<InstructionRef> order;   // the maximal execution, a linear extension of happens-before
  std::vector<uint32_t> barrierCounts; // per block: barriers in its program
  bool barriersMatch = true;
  std::optional<DeadlockWitness> deadlock; // set when some block cannot finish

  bool finished() const { return !deadlock.has_value(); }
};

ProgressResult analyzeProgress(const ir::Program &program);

// Co-residency: a grid larger than sms x occupancy may not be resident at once, so any barrier or
// wait may wait for a block that is never scheduled.
bool needsCoResidency(const ir::Program &program);

} // namespace amk::checker
