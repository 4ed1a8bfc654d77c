#include "checker/happens_before.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/topological_sort.hpp>

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <unordered_map>

namespace amk::checker {
namespace {

using ir::InstructionKind;
using ir::SyncOrder;
using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;

} // namespace

HappensBefore::HappensBefore(const ir::Program &program, const ProgressResult &progress)
    : program_(program), progress_(progress), blocks_(static_cast<uint32_t>(program.blockPrograms.size())) {
  blockOffset_.resize(blocks_ + 1, 0);
  for (uint32_t k = 0; k < blocks_; ++k)
    blockOffset_[k + 1] = blockOffset_[k] + progress.executed[k];
  segmentOf_.resize(blocks_);
  for (uint32_t k = 0; k < blocks_; ++k)
    segmentOf_[k].assign(progress.executed[k], 0);

  for (uint32_t k = 0; k < blocks_; ++k)
    for (uint32_t i = 0; i < progress.executed[k]; ++i) {
      const ir::Instruction &instruction = program.blockPrograms[k][i];
      if (instruction.kind != InstructionKind::Signal && instruction.kind != InstructionKind::Wait)
        continue;
      uint64_t key = counterKey(instruction.counter, instruction.counterIndex);
      auto [it, inserted] = counterSlot_.emplace(key, perCounter_.size());
      if (inserted)
        perCounter_.emplace_back();
      CounterAccesses &accesses = perCounter_[it->second];
      if (instruction.kind == InstructionKind::Signal)
        accesses.signals.push_back({k, i});
      else if (instruction.order == SyncOrder::Default)
        accesses.waits.push_back({k, i}); // relaxed and .cta waits synchronize with nothing
    }
  settledWaits_.resize(perCounter_.size());
  for (size_t c = 0; c < perCounter_.size(); ++c)
    settledWaits_[c].assign(perCounter_[c].waits.size(), false);
  incomingSync_.resize(blockOffset_[blocks_]);
  position_.resize(blockOffset_[blocks_]);
  for (uint32_t p = 0; p < progress.order.size(); ++p)
    position_[blockOffset_[progress.order[p].block] + progress.order[p].index] = p;

  computeClocks();
  while (addGuaranteedEdges())
    computeClocks();
  buildGraph();
}

// Clocks are computed in the order of the maximal execution: it runs every instruction after its
// program-order predecessor, after every block's arrival at a barrier it passes, and after every
// signal a guaranteed edge brings to a wait (the wait cannot pass without it in any execution, that
// one included), so it is a topological order of the graph.
void HappensBefore::computeClocks() {
  ++rounds_;
  const size_t width = blocks_;
  // Completed barriers: every block passed the same number of them.
  std::vector<uint32_t> barriersPassed(blocks_, 0);
  std::vector<uint32_t> generationArrivals;
  std::vector<uint32_t> barrierClock; // per generation, `width` entries
  clocks_.clear();
  auto joinInstruction = [&](uint32_t *into, InstructionRef from) {
    const uint32_t *source = clocks_.data() + size_t(segmentOf_[from.block][from.index]) * width;
    for (size_t j = 0; j < width; ++j)
      into[j] = std::max(into[j], source[j]);
    into[from.block] = std::max(into[from.block], from.index + 1);
  };
  std::vector<uint32_t> clock(width);
  for (InstructionRef at : progress_.order) {
    const uint32_t k = at.block, i = at.index;
    const ir::Instruction &instruction = program_.blockPrograms[k][i];
    const bool afterBarrier = i > 0 && program_.blockPrograms[k][i - 1].kind == InstructionKind::Barrier;
    const bool startsSegment = i == 0 || afterBarrier ||
                               (instruction.kind == InstructionKind::Wait && instruction.order == SyncOrder::Default);
    if (!startsSegment) {
      segmentOf_[k][i] = segmentOf_[k][i - 1];
    } else {
      std::fill(clock.begin(), clock.end(), 0);
      if (i > 0)
        joinInstruction(clock.data(), {k, i - 1});
      if (afterBarrier) {
        const uint32_t *b = barrierClock.data() + size_t(barriersPassed[k] - 1) * width;
        for (size_t j = 0; j < width; ++j)
          clock[j] = std::max(clock[j], b[j]);
      }
      for (uint32_t e : incomingSync_[blockOffset_[k] + i])
        joinInstruction(clock.data(), syncEdges_[e].signal);
      segmentOf_[k][i] = static_cast<uint32_t>(clocks_.size() / width);
      clocks_.insert(clocks_.end(), clock.begin(), clock.end());
    }
    if (instruction.kind == InstructionKind::Barrier) {
      // The maximal execution lists all blocks' k-th barriers together, after every arrival.
      uint32_t g = barriersPassed[k]++;
      if (generationArrivals.size() <= g) {
        generationArrivals.resize(g + 1, 0);
        barrierClock.resize((g + 1) * width, 0);
      }
      ++generationArrivals[g];
      joinInstruction(barrierClock.data() + size_t(g) * width, at);
    }
  }
  for (uint32_t g = 0; g < generationArrivals.size(); ++g)
    if (generationArrivals[g] != blocks_)
      throw std::logic_error("a barrier generation in the maximal execution misses some block");
}

void HappensBefore::buildGraph() {
  const uint32_t instructions = blockOffset_[blocks_];
  std::vector<std::vector<uint32_t>> barrierAt(blocks_);
  for (uint32_t k = 0; k < blocks_; ++k)
    for (uint32_t i = 0; i < progress_.executed[k]; ++i)
      if (program_.blockPrograms[k][i].kind == InstructionKind::Barrier)
        barrierAt[k].push_back(i);
  const uint32_t generations = blocks_ ? static_cast<uint32_t>(barrierAt[0].size()) : 0;
  Graph graph(instructions + generations);
  programOrderEdges_ = 0;
  barrierEdges_ = 0;
  for (uint32_t k = 0; k < blocks_; ++k)
    for (uint32_t i = 0; i + 1 < progress_.executed[k]; ++i) {
      boost::add_edge(blockOffset_[k] + i, blockOffset_[k] + i + 1, graph);
      ++programOrderEdges_;
    }
  for (uint32_t g = 0; g < generations; ++g)
    for (uint32_t k = 0; k < blocks_; ++k) {
      uint32_t b = barrierAt[k].at(g);
      boost::add_edge(blockOffset_[k] + b, instructions + g, graph);
      ++barrierEdges_;
      if (b + 1 < progress_.executed[k]) {
        boost::add_edge(instructions + g, blockOffset_[k] + b + 1, graph);
        ++barrierEdges_;
      }
    }
  for (const SyncEdge &e : syncEdges_)
    boost::add_edge(blockOffset_[e.signal.block] + e.signal.index, blockOffset_[e.wait.block] + e.wait.index, graph);
  vertices_ = instructions + generations;
  std::vector<Graph::vertex_descriptor> order;
  order.reserve(vertices_);
  boost::topological_sort(graph, std::back_inserter(order)); // throws boost::not_a_dag on a cycle
}

uint64_t HappensBefore::readableWithout(InstructionRef signal, InstructionRef wait) const {
  const ir::Instruction &w = at(wait);
  auto slot = counterSlot_.find(counterKey(w.counter, w.counterIndex));
  uint64_t sum = 0;
  if (slot == counterSlot_.end())
    return sum;
  for (InstructionRef t : perCounter_[slot->second].signals)
    if (!(t == signal) && !ordered(wait, t) && !ordered(signal, t))
      sum += at(t).amount;
  return sum;
}

bool HappensBefore::guaranteed(InstructionRef signal, InstructionRef wait) const {
  const ir::Instruction &s = at(signal), &w = at(wait);
  if (s.kind != InstructionKind::Signal || w.kind != InstructionKind::Wait)
    return false;
  if (s.order != SyncOrder::Default || w.order != SyncOrder::Default)
    return false;
  if (s.counter != w.counter || s.counterIndex != w.counterIndex || ordered(wait, signal))
    return false;
  return readableWithout(signal, wait) < w.amount;
}

bool HappensBefore::addGuaranteedEdges() {
  bool added = false;
  for (size_t c = 0; c < perCounter_.size(); ++c) {
    const CounterAccesses &accesses = perCounter_[c];
    for (size_t wi = 0; wi < accesses.waits.size(); ++wi) {
      if (settledWaits_[c][wi])
        continue;
      InstructionRef wait = accesses.waits[wi];
      uint64_t threshold = at(wait).amount;
      // Signals the wait can read: all but those that happen after it.
      std::vector<InstructionRef> readable;
      uint64_t total = 0;
      for (InstructionRef t : accesses.signals)
        if (!ordered(wait, t)) {
          readable.push_back(t);
          total += at(t).amount;
        }
      bool pending = false;
      for (InstructionRef s : readable) {
        const ir::Instruction &signal = at(s);
        if (signal.order != SyncOrder::Default || s.block == wait.block || ordered(s, wait))
          continue;
        uint64_t others = total - signal.amount;
        if (others >= threshold) {
          // Signals that happen after s are in the modification order after it: reading them means
          // reading s too, so they do not count towards passing without s.
          for (InstructionRef t : readable)
            if (!(t == s) && ordered(s, t))
              others -= at(t).amount;
        }
        if (others < threshold) {
          uint32_t waitVertex = blockOffset_[wait.block] + wait.index;
          // computeClocks relies on this: a guaranteed signal ran before the wait in the maximal execution.
          if (position_[blockOffset_[s.block] + s.index] > position_[waitVertex])
            throw std::logic_error("a guaranteed signal runs after its wait in the maximal execution");
          incomingSync_[waitVertex].push_back(static_cast<uint32_t>(syncEdges_.size()));
          syncEdges_.push_back({s, wait});
          added = true;
        } else {
          pending = true;
        }
      }
      if (!pending)
        settledWaits_[c][wi] = true;
    }
  }
  return added;
}

} // namespace amk::checker
