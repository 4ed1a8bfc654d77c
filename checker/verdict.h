// What the checker concludes about one schedule: safe, or every violated rule with a witness that
// names blocks, instructions (source line, block, loop values), counters and buffers.
#pragma once

#include "amk/ir/program.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace amk::checker {

// Stable rule ids, in the order used when one word must summarise a verdict.
enum class Rule { CoResidency, BarrierMismatch, Deadlock, Race };
const char *ruleId(Rule rule);   // "AMK-V001" ...
const char *ruleName(Rule rule); // "co-residency" ...

struct InstructionRef {
  uint32_t block = 0;
  uint32_t index = 0; // position in the block's program
  friend bool operator==(const InstructionRef &, const InstructionRef &) = default;
};

// One block that cannot finish, and what it waits for at the end of the maximal execution.
struct StuckBlock {
  InstructionRef at;
  bool atBarrier = false;
  // Wait: the counter element, its final value and the threshold.
  uint32_t counter = 0;
  int64_t counterIndex = 0;
  uint64_t finalValue = 0;
  uint64_t threshold = 0;
  // Barrier: which barrier (0-based) and how many blocks reached it.
  uint32_t barrierNumber = 0;
  uint32_t arrived = 0;
  // Blocks still holding a signal on the awaited counter (wait-for edges), or the blocks that never
  // arrive at the barrier.
  std::vector<uint32_t> waitsFor;
};

struct DeadlockWitness {
  std::vector<StuckBlock> stuck;
  std::vector<uint32_t> cycle;    // blocks of a wait-for cycle (first repeated implicitly); empty if none
  std::vector<uint32_t> finished; // blocks that ran to completion
};

struct BarrierMismatchWitness {
  std::vector<uint32_t> barrierCounts; // per block
};

struct RaceWitness {
  InstructionRef first; // the earlier one in the maximal execution
  InstructionRef second;
  bool firstWrites = false;
  bool secondWrites = false;
  uint32_t buffer = 0;
  ir::Region overlap; // the intersection of the two footprints
  std::string why;    // why no happens-before orders them
  // The synchronisation that looks as if it orders them but is not guaranteed to, when there is one.
  std::optional<InstructionRef> nearSignal;
  std::optional<InstructionRef> nearWait;
};

struct Violation {
  Rule rule = Rule::Race;
  std::string message;
  std::optional<DeadlockWitness> deadlock;
  std::optional<BarrierMismatchWitness> barriers;
  std::optional<RaceWitness> race;
};

struct Stats {
  size_t blocks = 0;
  size_t instructions = 0;
  size_t executedInstructions = 0;
  size_t graphVertices = 0;
  size_t graphEdges = 0;
  size_t programOrderEdges = 0;
  size_t barrierEdges = 0;
  size_t synchronizesWithEdges = 0;
  size_t fixpointRounds = 0;
  size_t accesses = 0;
  size_t conflictPairsChecked = 0;
  double progressSeconds = 0;
  double happensBeforeSeconds = 0;
  double conflictSeconds = 0;
};

struct Verdict {
  // A race hidden by the report cap still makes the schedule unsafe.
  bool safe() const { return violations.empty() && racesFound == 0; }
  std::vector<Violation> violations; // deduplicated and capped
  size_t racesFound = 0;             // distinct racing instruction pairs before the cap (by source line pair)
  Stats stats;
  // The maximal execution (a linear extension of happens-before), kept for unsafe schedules only:
  // replay follows it.
  std::vector<InstructionRef> execution;
};

} // namespace amk::checker
