// A sound static happens-before over the executed instructions: program order, barrier order and
// the synchronizes-with edges that every execution is guaranteed to have (AMKIR §3), computed as a
// monotone fixpoint on a Boost.Graph graph; queries answer in O(1) from per-segment vector clocks.
#pragma once

#include "checker/progress.h"
#include "checker/verdict.h"
#include "ir/program.h"

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
    return clock(segmentOf_[b.block][b.index])[a.block] > a.index;
  }

  // How many instructions of `block` (another block than b's) happen before b: they are exactly that
  // prefix of `block`'s program.
  uint32_t prefixBefore(InstructionRef b, uint32_t block) const { return clock(segmentOf_[b.block][b.index])[block]; }

  // Whether the release signal `signal` is guaranteed to synchronize with the acquire wait `wait`.
  bool guaranteed(InstructionRef signal, InstructionRef wait) const;

  // The sum of increments on the wait's counter element that it may read without `signal`:
  // every other signal not happens-after `signal` and not happens-after the wait.
  uint64_t readableWithout(InstructionRef signal, InstructionRef wait) const;

  size_t vertices() const { return vertices_; }
  size_t programOrderEdges() const { return programOrderEdges_; }
  size_t barrierEdges() const { return barrierEdges_; }
  size_t synchronizesWithEdges() const { return syncEdges_.size(); }
  size_t rounds() const { return rounds_; }

private:
  struct SyncEdge {
    InstructionRef signal;
    InstructionRef wait;
  };

  void computeClocks();
  void buildGraph(); // the Boost.Graph graph of the final relation; checks that it is acyclic
  const uint32_t *clock(uint32_t segment) const { return clocks_.data() + size_t(segment) * blocks_; }
  bool addGuaranteedEdges();
  const ir::Instruction &at(InstructionRef r) const { return program_.blockPrograms[r.block][r.index]; }

  const ir::Program &program_;
  const ProgressResult &progress_;
  uint32_t blocks_;
  std::vector<uint32_t> blockOffset_; // global vertex id of each block's first instruction
  std::vector<std::vector<uint32_t>> segmentOf_;
  // Per segment, `blocks_` entries: how many instructions of each block happen before it.
  std::vector<uint32_t> clocks_;
  std::vector<SyncEdge> syncEdges_;
  std::vector<uint32_t> position_;                  // per global vertex: its place in the maximal execution
  std::vector<std::vector<uint32_t>> incomingSync_; // per global wait vertex: indices into syncEdges_
  // Executed signals and acquire waits per counter element.
  struct CounterAccesses {
    std::vector<InstructionRef> signals;
    std::vector<InstructionRef> waits;
  };
  std::vector<CounterAccesses> perCounter_;
  std::unordered_map<uint64_t, size_t> counterSlot_; // counter element key -> index into perCounter_
  std::vector<std::vector<bool>> settledWaits_;      // per counter element, per wait: no candidate left
  size_t vertices_ = 0;
  size_t programOrderEdges_ = 0;
  size_t barrierEdges_ = 0;
  size_t rounds_ = 0;
};

} // namespace amk::checker
