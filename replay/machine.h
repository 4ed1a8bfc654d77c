// The AMKIR §3 execution machine: one state of one execution of a core program, and the steps that
// move it. The explorer searches over it; follow() drives it along a given interleaving. Everything
// the memory model makes observable lives here: each counter element's modification order (the order
// in which its signals executed) with the vector clock of every release signal, the position each
// block last read from each counter, one vector clock per block (joined at barriers and at acquire
// waits) and the accesses that may still race.
#pragma once

#include "amk/ir/program.h"
#include "amk/replay/interleaving.h"
#include "amk/replay/verdict.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace amk::replay {

enum class Tracking : uint8_t {
  HappensBefore, // clocks, modification orders, accesses: races and deadlocks
  ProgressOnly,  // counter sums only: deadlocks (enabledness depends on nothing else)
};

// One increment in a counter element's modification order.
struct MoEntry {
  uint32_t block = 0;
  uint32_t epoch = 0; // the signal's own event number in its block (its clock's own component)
  uint64_t amount = 0;
  bool release = false;
  std::vector<uint32_t> clock; // release signals only: the signal's vector clock
};

struct CounterState {
  // False once no block will wait on the element again: its order can never be observed, so the
  // explorer forgets it (signals still count in total and length).
  bool tracked = true;
  uint64_t total = 0;  // sum of every increment executed
  uint64_t length = 0; // increments executed: positions run 0..length
  // Positions 1..collapsed are merged into one summary (see Machine::canonicalize): their sum and the
  // join of their release clocks. Every future read is at a position >= collapsed.
  uint64_t collapsed = 0;
  uint64_t collapsedSum = 0;
  std::vector<uint32_t> collapsedRelease;
  std::vector<MoEntry> entries;   // positions collapsed+1 .. length
  std::vector<uint64_t> lastRead; // per block: the latest position it read (coherence)
};

// A task operand that may still race: its block, instruction, event number and which operand.
struct Access {
  uint32_t block = 0;
  uint32_t index = 0;
  uint32_t epoch = 0;
  uint16_t operand = 0; // outputs first, then inputs
  bool write = false;
};

struct State {
  std::vector<uint32_t> pc;     // per block: the next instruction
  std::vector<uint8_t> arrived; // per block: waiting at the current barrier
  uint32_t arrivedCount = 0;
  uint32_t barriersCompleted = 0;
  std::vector<uint8_t> started;       // limited residency only: dispatched
  std::vector<uint32_t> clocks;       // HappensBefore: blocks x blocks, row k = block k's vector clock
  std::vector<CounterState> counters; // per counter element in use
  std::vector<Access> accesses;
};

enum class NextKind : uint8_t { Finished, NotStarted, Task, Signal, Wait, Barrier, Arrived };

class Machine {
public:
  // residentSlots = 0: every block is resident from the start; N: at most N at a time.
  Machine(const ir::Program &program, Tracking tracking, uint32_t residentSlots = 0);

  const ir::Program &program() const { return program_; }
  uint32_t blocks() const { return blocks_; }
  Tracking tracking() const { return tracking_; }
  uint32_t residentSlots() const { return residentSlots_; }
  size_t elementCount() const { return elements_.size(); }

  State initial() const;

  NextKind next(const State &state, uint32_t block) const;
  bool finished(const State &state, uint32_t block) const;
  bool allFinished(const State &state) const;
  uint32_t freeSlots(const State &state) const; // limited residency only

  // The step `block` takes next if it can move (a wait reads its smallest admissible position).
  std::optional<Step> enabledStep(const State &state, uint32_t block) const;
  // A wait of `block` at its pc: the smallest position it may read, nullopt if the counter cannot
  // reach the threshold yet.
  std::optional<uint64_t> smallestReadPosition(const State &state, uint32_t block) const;
  // True when the block's next step is a signal whose place in the modification order can matter:
  // another unfinished block still holds a signal on the element and some block still waits on it.
  bool contendedSignal(const State &state, uint32_t block) const;

  // Empty when `step` may be taken in `state`, else why not.
  std::string whyInvalid(const State &state, const Step &step) const;
  // Takes a valid step. Races it completes (pairs with an earlier access) are appended to `races`.
  void apply(State &state, const Step &step, std::vector<RaceWitness> *races) const;

  // Rewrites the state into the canonical representative of its class (same future behaviour, same
  // races, same deadlocks); see docs/explorer.md for why each rewrite is exact.
  void canonicalize(State &state) const;
  // The canonical state as bytes, for duplicate detection.
  std::string encode(const State &state) const;

  // Who is stuck and on what: every unfinished block that cannot move (all of them in a deadlock).
  DeadlockWitness deadlock(const State &state) const;
  std::vector<uint32_t> barrierCounts() const;
  const ir::Region &operandRegion(const Access &access) const;

private:
  struct WaitSite {
    uint32_t index;
    uint64_t suffixMinThreshold; // smallest threshold among this wait and the block's later ones
  };
  struct BlockWaits {
    uint32_t block;
    std::vector<WaitSite> waits; // by index
  };
  struct Element {
    uint32_t counter;
    int64_t counterIndex;
    std::vector<std::pair<uint32_t, uint32_t>> lastSignal; // (block, index of its last signal on it)
    std::vector<BlockWaits> waiters;
  };

  uint32_t *clockRow(State &state, uint32_t block) const { return state.clocks.data() + size_t(block) * blocks_; }
  const uint32_t *clockRow(const State &state, uint32_t block) const {
    return state.clocks.data() + size_t(block) * blocks_;
  }
  uint32_t tick(State &state, uint32_t block) const;
  void join(uint32_t *into, const uint32_t *from) const;
  // The smallest threshold among the waits `block` has yet to execute on `element`.
  std::optional<uint64_t> futureThreshold(const State &state, uint32_t element, uint32_t block) const;
  bool holdsSignal(const State &state, uint32_t element, uint32_t block) const;
  std::optional<uint64_t> firstReach(const CounterState &counter, uint64_t threshold) const;
  uint64_t prefixSum(const CounterState &counter, uint64_t position) const;
  uint64_t happensBeforeBound(const State &state, const CounterState &counter, uint32_t block) const;
  void recordAccesses(State &state, uint32_t block, uint32_t index, uint32_t epoch,
                      std::vector<RaceWitness> *races) const;

  const ir::Program &program_;
  Tracking tracking_;
  uint32_t residentSlots_;
  uint32_t blocks_;
  std::vector<Element> elements_;
  std::vector<std::vector<uint32_t>> elementOf_; // [block][index] for signals and waits
};

} // namespace amk::replay
