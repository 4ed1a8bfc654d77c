// amk_replay's explorer: an explicit-state search over every execution AMKIR §3 allows for a core
// program (modification orders of the counters, which value each wait reads, vector-clock
// happens-before), deciding deadlock, barrier mismatch, co-residency and races exactly, with the
// interleaving that exhibits each violation. It is an oracle for the checker: it shares nothing with
// checker/ but the elaborated program. docs/explorer.md states the reductions and why they are exact.
#pragma once

#include "amk/ir/program.h"
#include "amk/replay/interleaving.h"
#include "amk/replay/verdict.h"

#include <cstdint>
#include <string>
#include <vector>

namespace amk::replay {

struct ExploreOptions {
  // States generated (every step taken counts one) per exploration; past it the answer is unknown
  // unless a violation was already found (then unsafe, with budgetExhausted set).
  uint64_t stateBudget = 200'000;
  // Bytes of stored canonical states; past it, as for the state budget.
  uint64_t memoryBudgetBytes = uint64_t(1) << 30;
  size_t maxRaceWitnesses = 8; // distinct racing instruction pairs reported with an interleaving
};

ExploreResult explore(const ir::Program &program, const ExploreOptions &options = {});

// The result of driving the machine along a given interleaving.
struct FollowResult {
  std::string error; // empty when every step was valid
  size_t failedStep = 0;
  std::vector<RaceWitness> races;          // every racing pair among the executed accesses, in detection order
  bool finished = false;                   // every block ran to completion
  std::optional<DeadlockWitness> deadlock; // set when nothing can move and some block is unfinished
  bool valid() const { return error.empty(); }
};

// Executes `interleaving` step by step, checking that each step is allowed (the block is at that
// instruction, a wait's read position is admissible, a dispatch has a free slot) and recording every
// race it exhibits. This is what replay follows; the tests use it to confirm every witness.
FollowResult follow(const ir::Program &program, const Interleaving &interleaving);

// Block numbers for messages: "0-3, 5, 7", and with its noun, "block 3" or "blocks 0-3, 5".
std::string blockList(const std::vector<uint32_t> &blocks);
std::string blocksWord(const std::vector<uint32_t> &blocks);

} // namespace amk::replay
