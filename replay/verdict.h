// What the explorer concludes about one core program, in its own types (the explorer is an oracle
// for the checker and shares no analysis code with it): safe, unsafe with one witness per violated
// rule, each carrying the interleaving that exhibits it, or unknown when the state budget ran out.
#pragma once

#include "amk/ir/program.h"
#include "amk/replay/interleaving.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace amk::replay {

// The AMKIR §3 rules, in the order used when one word must summarise a verdict.
enum class Rule : uint8_t { CoResidency, BarrierMismatch, Deadlock, Race };
const char *ruleId(Rule rule);   // "AMK-V001" ...
const char *ruleName(Rule rule); // "co-residency" ...

struct InstructionRef {
  uint32_t block = 0;
  uint32_t index = 0; // position in the block's program
  friend bool operator==(const InstructionRef &, const InstructionRef &) = default;
  friend auto operator<=>(const InstructionRef &, const InstructionRef &) = default;
};

enum class StuckReason : uint8_t { Wait, Barrier, NotResident };

// One unfinished block of a state where nothing can move, and what it waits for.
struct StuckBlock {
  uint32_t block = 0;
  StuckReason reason = StuckReason::Wait;
  uint32_t index = 0; // the instruction it is at (Wait, Barrier)
  // Wait: the counter element, the sum of the increments executed so far, the threshold.
  uint32_t counter = 0;
  int64_t counterIndex = 0;
  uint64_t value = 0;
  uint64_t threshold = 0;
  // Barrier: which barrier (0-based) and how many blocks have reached it.
  uint32_t barrierNumber = 0;
  uint32_t arrived = 0;
  // Wait: the unfinished blocks that still hold a signal on the counter (itself included).
  // Barrier: the blocks that have not reached it. NotResident: empty (it waits for a free slot).
  std::vector<uint32_t> waitsFor;
};

struct DeadlockWitness {
  uint32_t residentSlots = 0; // 0: every block resident; else the co-residency bound explored
  std::vector<StuckBlock> stuck;
  std::vector<uint32_t> finished;
  std::vector<uint32_t> cycle; // a cycle of the wait-for graph (first block repeated implicitly), if any
};

struct RaceWitness {
  InstructionRef first;  // executed first in the interleaving
  InstructionRef second; // the step that completes the race (the last step of the interleaving)
  bool firstWrites = false;
  bool secondWrites = false;
  uint32_t buffer = 0;
  ir::Region overlap; // the intersection of the two boxes
  friend bool operator==(const RaceWitness &, const RaceWitness &) = default;
};

struct Finding {
  Rule rule = Rule::Race;
  std::string message;
  std::optional<DeadlockWitness> deadlock;
  std::optional<RaceWitness> race;
  std::vector<uint32_t> barrierCounts;      // BarrierMismatch: per block
  std::optional<Interleaving> interleaving; // the execution that exhibits it
  std::vector<std::string> notes;
};

enum class Outcome : uint8_t { Safe, Unsafe, Unknown };
const char *outcomeName(Outcome outcome);

struct ExploreStats {
  uint64_t statesGenerated = 0;        // every state reached by a step, all resident
  uint64_t statesStored = 0;           // distinct states kept for duplicate detection (branch points)
  uint64_t duplicateStates = 0;        // branch points found already explored
  uint64_t terminalStates = 0;         // states where nothing can move
  uint64_t limitedStatesGenerated = 0; // the same for the co-residency exploration
  uint64_t limitedStatesStored = 0;
  uint64_t storedKeyBytes = 0;
  bool budgetExhausted = false;        // the all-resident exploration stopped early
  bool limitedBudgetExhausted = false; // the co-residency exploration stopped early
  bool limitedExplored = false;
  size_t racingPairs = 0; // distinct racing instruction pairs found
  double seconds = 0;
};

struct ExploreResult {
  Outcome outcome = Outcome::Unknown;
  std::vector<Finding> findings; // ordered by rule
  ExploreStats stats;
  bool has(Rule rule) const;
  std::vector<Rule> rules() const; // distinct, in order
};

} // namespace amk::replay
