// A sound static happens-before over the executed instructions: program order, barrier order and
// the synchronizes-with edges that every execution is guaranteed to have (AMKIR §3), computed as a
// monotone fixpoint on a Boost.Graph graph; queries answer in O(1) from per-segment vector clocks.
#pragma once

#include "amk/checker/progress.h"
#include "amk/checker/verdict.h"
#include "amk/ir/program.h"

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace amk::checker {

class HappensBefore {
public:
  HappensBefore(const ir::Program &program, const ProgressResult &progress);

  // a happens-before b (a != b), over executed instructions.
  bool ordered(InstructionRef a, InstructionRef b) const {
    if (a.block == b.block)
      return a.index < b.index;
    return clock(segmentOf_[blockOffset_[b.block] + b.index])[a.block] > a.index;
  }

  // How many instructions of `block` (another block than b's) happen before b: they are exactly that
  // prefix of `block`'s program.
  uint32_t prefixBefore(InstructionRef b, uint32_t block) const {
    return clock(segmentOf_[blockOffset_[b.block] + b.index])[block];
  }

  // The segment of an executed instruction (segments only grow along a block's program) and a
  // segment's vector clock: `blocks` entries, entry k = how many instructions of block k happen
  // before every instruction of the segment (for the segment's own block: the index of its first
  // instruction). prefixBefore(b, k) == segmentClock(segment(b))[k].
  uint32_t segment(InstructionRef r) const { return segmentOf_[blockOffset_[r.block] + r.index]; }
  const uint32_t *segmentClock(uint32_t segment) const { return clock(segment); }
  size_t segments() const { return blocks_ ? clocks_.size() / blocks_ : 0; }

  // Whether the release signal `signal` is guaranteed to synchronize with the acquire wait `wait`.
  bool guaranteed(InstructionRef signal, InstructionRef wait) const;

  // The sum of increments on the wait's counter element that it may read without `signal`:
  // every other signal not happens-after `signal` and not happens-after the wait.
  uint64_t readableWithout(InstructionRef signal, InstructionRef wait) const;

  size_t vertices() const { return vertices_; }
  size_t programOrderEdges() const { return programOrderEdges_; }
  size_t barrierEdges() const { return barrierEdges_; }
  size_t synchronizesWithEdges() const { return synchronizesWithEdges_; }
  // Edges of the generalised rule: from the last instruction of a block's qualifying prefix to a
  // wait (docs/checker.md, "The generalised rule").
  size_t prefixEdges() const { return prefixEdges_; }
  size_t rounds() const { return rounds_; }

private:
  void computeClocks();
  void buildGraph(); // the Boost.Graph graph of the final relation; checks that it is acyclic
  const uint32_t *clock(uint32_t segment) const { return clocks_.data() + size_t(segment) * blocks_; }
  // One round of the fixpoint under the relation `ordered` (a happens before b): adds every edge
  // it guarantees; whether it added any.
  template <class Order> bool addGuaranteedEdges(const Order &ordered);
  // One round of the generalised rule under the current clocks: for every wait with signals not yet
  // ordered before it, the longest prefix of each other block whose every instruction happens before
  // it; whether any prefix grew.
  bool addPrefixEdges();
  const ir::Instruction &at(InstructionRef r) const { return program_.blockPrograms[r.block][r.index]; }

  const ir::Program &program_;
  const ProgressResult &progress_;
  uint32_t blocks_;
  std::vector<uint32_t> blockOffset_; // global vertex id of each block's first instruction
  std::vector<uint32_t> segmentOf_;   // per global vertex
  // Per global vertex: what computeClocks needs to know of the instruction, and for an acquire
  // wait, its counter element (index into perCounter_) and its place among the element's waits.
  enum : uint8_t { kStartsSegment = 1, kAfterBarrier = 2, kBarrier = 4, kAcquire = 8 };
  std::vector<uint8_t> flags_;
  std::vector<uint32_t> waitCounter_;
  std::vector<uint32_t> waitIndex_;
  // Per segment, `blocks_` entries: how many instructions of each block happen before it.
  std::vector<uint32_t> clocks_;
  std::vector<uint32_t> position_;               // per global vertex: its place in the maximal execution
  std::vector<std::vector<uint32_t>> barrierAt_; // per block: its executed barriers (first round only)
  // Executed signals and acquire waits per counter element, with the synchronizes-with edges.
  struct CounterAccesses {
    std::vector<InstructionRef> signals;
    // Per signal: its place in the maximal execution, its increment, whether it is a release.
    std::vector<uint32_t> signalPosition;
    std::vector<uint64_t> signalAmount;
    std::vector<bool> signalReleases;
    std::vector<InstructionRef> waits;
    std::vector<uint64_t> waitThreshold;
    std::vector<bool> settled; // per wait: no candidate signal left
    // Per wait: the signals (places in `signals`) guaranteed to synchronize with it, in the order
    // the fixpoint found them.
    std::vector<std::vector<uint32_t>> incoming;
    // Per wait: the last instruction of each block's prefix that the generalised rule orders before
    // it, one entry per block, the latest found.
    std::vector<std::vector<InstructionRef>> prefixes;
  };
  std::vector<CounterAccesses> perCounter_;
  // Counter element -> index into perCounter_: elementSlot_[elementBase_[counter] + index], or by
  // key in counterSlot_ when the counters have too many elements for a table.
  static constexpr uint32_t kNoSlot = UINT32_MAX;
  std::vector<uint64_t> elementBase_;
  std::vector<uint32_t> elementSlot_;
  std::unordered_map<uint64_t, size_t> counterSlot_;
  size_t addSlot(uint32_t counter, int64_t index);
  size_t findSlot(uint32_t counter, int64_t index) const; // kNoSlot if the element has no access
  size_t synchronizesWithEdges_ = 0;
  size_t prefixEdges_ = 0;
  size_t vertices_ = 0;
  size_t programOrderEdges_ = 0;
  size_t barrierEdges_ = 0;
  size_t rounds_ = 0;
};

} // namespace amk::checker
