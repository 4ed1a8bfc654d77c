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

  computeClocks();
  while (addGuaranteedEdges())
    computeClocks();
}

void HappensBefore::computeClocks() {
  ++rounds_;
  const uint32_t instructions = blockOffset_[blocks_];
  // Completed barriers: every block passed the same number of them, so block 0's count is theirs.
  std::vector<std::vector<uint32_t>> barrierAt(blocks_); // per block: indices of its executed barriers
  for (uint32_t k = 0; k < blocks_; ++k)
    for (uint32_t i = 0; i < progress_.executed[k]; ++i)
      if (program_.blockPrograms[k][i].kind == InstructionKind::Barrier)
        barrierAt[k].push_back(i);
  const uint32_t generations = blocks_ ? static_cast<uint32_t>(barrierAt[0].size()) : 0;
  for (uint32_t k = 0; k < blocks_; ++k)
    if (barrierAt[k].size() != generations)
      throw std::logic_error("executed barrier counts differ between blocks");

  Graph graph(instructions + generations);
  programOrderEdges_ = 0;
  barrierEdges_ = 0;
  for (uint32_t k = 0; k < blocks_; ++k)
    for (uint32_t i = 0; i + 1 < progress_.executed[k]; ++i) {
      boost::add_edge(blockOffset_[k] + i, blockOffset_[k] + i + 1, graph);
      ++programOrderEdges_;
    }
  std::vector<uint32_t> generationAfter(instructions, UINT32_MAX); // instruction right after barrier g
  for (uint32_t g = 0; g < generations; ++g)
    for (uint32_t k = 0; k < blocks_; ++k) {
      uint32_t b = barrierAt[k][g];
      boost::add_edge(blockOffset_[k] + b, instructions + g, graph);
      ++barrierEdges_;
      if (b + 1 < progress_.executed[k]) {
        boost::add_edge(instructions + g, blockOffset_[k] + b + 1, graph);
        generationAfter[blockOffset_[k] + b + 1] = g;
        ++barrierEdges_;
      }
    }
  for (const SyncEdge &e : syncEdges_)
    boost::add_edge(blockOffset_[e.signal.block] + e.signal.index, blockOffset_[e.wait.block] + e.wait.index, graph);
  vertices_ = instructions + generations;

  std::vector<Graph::vertex_descriptor> reversed;
  reversed.reserve(vertices_);
  boost::topological_sort(graph, std::back_inserter(reversed)); // throws boost::not_a_dag on a cycle

  std::vector<uint32_t> vertexBlock(instructions);
  for (uint32_t k = 0; k < blocks_; ++k)
    std::fill(vertexBlock.begin() + blockOffset_[k], vertexBlock.begin() + blockOffset_[k + 1], k);

  clocks_.clear();
  std::vector<std::vector<uint32_t>> barrierClock(generations, std::vector<uint32_t>(blocks_, 0));
  auto joinInstruction = [&](std::vector<uint32_t> &into, InstructionRef from) {
    const std::vector<uint32_t> &source = clocks_[segmentOf_[from.block][from.index]];
    for (uint32_t j = 0; j < blocks_; ++j)
      into[j] = std::max(into[j], source[j]);
    into[from.block] = std::max(into[from.block], from.index + 1);
  };
  for (auto it = reversed.rbegin(); it != reversed.rend(); ++it) {
    uint32_t v = static_cast<uint32_t>(*it);
    if (v >= instructions) {
      uint32_t g = v - instructions;
      for (uint32_t k = 0; k < blocks_; ++k)
        joinInstruction(barrierClock[g], {k, barrierAt[k][g]});
      continue;
    }
    uint32_t k = vertexBlock[v];
    uint32_t i = v - blockOffset_[k];
    const ir::Instruction &instruction = program_.blockPrograms[k][i];
    bool startsSegment = i == 0 || generationAfter[v] != UINT32_MAX ||
                         (instruction.kind == InstructionKind::Wait && instruction.order == SyncOrder::Default);
    if (!startsSegment) {
      segmentOf_[k][i] = segmentOf_[k][i - 1];
      continue;
    }
    std::vector<uint32_t> clock(blocks_, 0);
    if (i > 0)
      joinInstruction(clock, {k, i - 1});
    if (generationAfter[v] != UINT32_MAX) {
      const std::vector<uint32_t> &b = barrierClock[generationAfter[v]];
      for (uint32_t j = 0; j < blocks_; ++j)
        clock[j] = std::max(clock[j], b[j]);
    }
    for (uint32_t e : incomingSync_[v])
      joinInstruction(clock, syncEdges_[e].signal);
    segmentOf_[k][i] = static_cast<uint32_t>(clocks_.size());
    clocks_.push_back(std::move(clock));
  }
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
