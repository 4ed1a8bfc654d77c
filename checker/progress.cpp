#include "amk/checker/progress.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/strong_components.hpp>

#include <algorithm>
#include <cassert>
#include <queue>
#include <unordered_map>

namespace amk::checker {
namespace {

using ir::Instruction;
using ir::InstructionKind;

struct Waiter {
  uint64_t threshold;
  uint32_t block;
  bool operator>(const Waiter &o) const { return threshold > o.threshold; }
};
using WaiterHeap = std::priority_queue<Waiter, std::vector<Waiter>, std::greater<Waiter>>;

class MaximalExecution {
public:
  explicit MaximalExecution(const ir::Program &program)
      : program_(program), blocks_(static_cast<uint32_t>(program.blockPrograms.size())), pc_(blocks_, 0),
        barriersPassed_(blocks_, 0), atBarrier_(blocks_, false) {}

  ProgressResult run() {
    for (uint32_t k = 0; k < blocks_; ++k)
      ready_.push_back(k);
    while (!ready_.empty()) {
      uint32_t k = ready_.back();
      ready_.pop_back();
      advance(k);
    }
    ProgressResult result;
    result.executed = pc_;
    result.order = std::move(order_);
    result.barrierCounts.resize(blocks_, 0);
    for (uint32_t k = 0; k < blocks_; ++k)
      for (const Instruction &i : program_.blockPrograms[k])
        result.barrierCounts[k] += i.kind == InstructionKind::Barrier;
    result.barriersMatch = std::adjacent_find(result.barrierCounts.begin(), result.barrierCounts.end(),
                                              std::not_equal_to<>()) == result.barrierCounts.end();
    bool allDone = true;
    for (uint32_t k = 0; k < blocks_; ++k)
      allDone = allDone && pc_[k] == program_.blockPrograms[k].size();
    if (!allDone)
      result.deadlock = witness(result);
    return result;
  }

private:
  uint64_t &value(uint64_t key) { return values_[key]; }

  void advance(uint32_t k) {
    const auto &code = program_.blockPrograms[k];
    while (pc_[k] < code.size()) {
      const Instruction &i = code[pc_[k]];
      switch (i.kind) {
      case InstructionKind::Task:
        break;
      case InstructionKind::Signal: {
        uint64_t key = counterKey(i.counter, i.counterIndex);
        uint64_t v = (value(key) += i.amount);
        auto it = waiters_.find(key);
        if (it != waiters_.end())
          while (!it->second.empty() && it->second.top().threshold <= v) {
            ready_.push_back(it->second.top().block);
            it->second.pop();
          }
        break;
      }
      case InstructionKind::Wait: {
        uint64_t key = counterKey(i.counter, i.counterIndex);
        if (value(key) < i.amount) {
          waiters_[key].push({i.amount, k});
          return;
        }
        break;
      }
      case InstructionKind::Barrier: {
        uint32_t generation = barriersPassed_[k];
        if (!atBarrier_[k]) {
          atBarrier_[k] = true;
          if (arrivals_.size() <= generation)
            arrivals_.resize(generation + 1);
          arrivals_[generation].push_back(k);
        }
        if (arrivals_[generation].size() < blocks_)
          return;
        // The last block arrived: every block at this barrier passes it, in block order.
        for (uint32_t j : arrivals_[generation]) {
          atBarrier_[j] = false;
          ++barriersPassed_[j];
          order_.push_back({j, pc_[j]});
          ++pc_[j];
          if (j != k)
            ready_.push_back(j);
        }
        continue;
      }
      }
      order_.push_back({k, pc_[k]});
      ++pc_[k];
    }
  }

  DeadlockWitness witness(const ProgressResult &result) {
    DeadlockWitness w;
    std::vector<bool> stuck(blocks_, false);
    for (uint32_t k = 0; k < blocks_; ++k) {
      if (pc_[k] == program_.blockPrograms[k].size())
        w.finished.push_back(k);
      else
        stuck[k] = true;
    }
    // Which counter elements each stuck block can still signal (from its stuck instruction on).
    std::vector<std::unordered_map<uint64_t, bool>> pendingSignals(blocks_);
    for (uint32_t k = 0; k < blocks_; ++k) {
      if (!stuck[k])
        continue;
      const auto &code = program_.blockPrograms[k];
      for (size_t i = pc_[k]; i < code.size(); ++i)
        if (code[i].kind == InstructionKind::Signal)
          pendingSignals[k][counterKey(code[i].counter, code[i].counterIndex)] = true;
    }
    for (uint32_t k = 0; k < blocks_; ++k) {
      if (!stuck[k])
        continue;
      const Instruction &i = program_.blockPrograms[k][pc_[k]];
      StuckBlock s;
      s.at = {k, pc_[k]};
      if (i.kind == InstructionKind::Wait) {
        uint64_t key = counterKey(i.counter, i.counterIndex);
        s.counter = i.counter;
        s.counterIndex = i.counterIndex;
        s.finalValue = value(key);
        s.threshold = i.amount;
        for (uint32_t j = 0; j < blocks_; ++j)
          if (stuck[j] && pendingSignals[j].count(key))
            s.waitsFor.push_back(j);
      } else {
        assert(i.kind == InstructionKind::Barrier);
        s.atBarrier = true;
        s.barrierNumber = barriersPassed_[k];
        s.arrived = static_cast<uint32_t>(arrivals_[s.barrierNumber].size());
        for (uint32_t j = 0; j < blocks_; ++j)
          if (!(atBarrier_[j] && barriersPassed_[j] == s.barrierNumber))
            s.waitsFor.push_back(j);
      }
      w.stuck.push_back(std::move(s));
    }
    w.cycle = findCycle(w, stuck);
    (void)result;
    return w;
  }

  // A cycle of the wait-for graph among stuck blocks (strong components, then a walk inside one).
  std::vector<uint32_t> findCycle(const DeadlockWitness &w, const std::vector<bool> &stuck) const {
    using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
    Graph graph(blocks_);
    std::vector<std::vector<uint32_t>> next(blocks_);
    for (const StuckBlock &s : w.stuck)
      for (uint32_t j : s.waitsFor)
        if (stuck[j]) {
          boost::add_edge(s.at.block, j, graph);
          next[s.at.block].push_back(j);
        }
    std::vector<int> component(blocks_);
    boost::strong_components(
        graph, boost::make_iterator_property_map(component.begin(), boost::get(boost::vertex_index, graph)));
    std::vector<int> componentSize(blocks_, 0);
    for (uint32_t k = 0; k < blocks_; ++k)
      ++componentSize[static_cast<size_t>(component[k])];
    for (const StuckBlock &s : w.stuck) {
      uint32_t start = s.at.block;
      bool selfLoop = std::find(next[start].begin(), next[start].end(), start) != next[start].end();
      if (selfLoop)
        return {start};
      if (componentSize[static_cast<size_t>(component[start])] < 2)
        continue;
      // Walk inside the component until a block repeats; the repeated stretch is a cycle.
      std::vector<uint32_t> path;
      std::vector<int> seenAt(blocks_, -1);
      uint32_t current = start;
      while (seenAt[current] < 0) {
        seenAt[current] = static_cast<int>(path.size());
        path.push_back(current);
        for (uint32_t j : next[current])
          if (component[j] == component[start]) {
            current = j;
            break;
          }
      }
      return std::vector<uint32_t>(path.begin() + seenAt[current], path.end());
    }
    return {};
  }

  const ir::Program &program_;
  uint32_t blocks_;
  std::vector<uint32_t> pc_;
  std::vector<uint32_t> barriersPassed_;
  std::vector<bool> atBarrier_;
  std::vector<std::vector<uint32_t>> arrivals_;
  std::unordered_map<uint64_t, uint64_t> values_;
  std::unordered_map<uint64_t, WaiterHeap> waiters_;
  std::vector<uint32_t> ready_;
  std::vector<InstructionRef> order_;
};

} // namespace

ProgressResult analyzeProgress(const ir::Program &program) { return MaximalExecution(program).run(); }

bool needsCoResidency(const ir::Program &program) {
  if (program.blocks <= program.sms * program.occupancy)
    return false;
  for (const auto &block : program.blockPrograms)
    for (const ir::Instruction &i : block)
      if (i.kind == InstructionKind::Barrier || i.kind == InstructionKind::Wait)
        return true;
  return false;
}

} // namespace amk::checker
