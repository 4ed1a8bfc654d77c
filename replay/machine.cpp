// The AMKIR §3 step semantics, executed literally (modification orders, coherence, vector clocks).
#include "amk/replay/machine.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <map>
#include <type_traits>

namespace amk::replay {

using ir::Instruction;
using ir::InstructionKind;

Machine::Machine(const ir::Program &program, Tracking tracking, uint32_t residentSlots)
    : program_(program), tracking_(tracking), residentSlots_(residentSlots),
      blocks_(static_cast<uint32_t>(program.blocks)) {
  assert(program.blockPrograms.size() == blocks_);
  std::map<std::pair<uint32_t, int64_t>, uint32_t> ids;
  elementOf_.resize(blocks_);
  for (uint32_t block = 0; block < blocks_; ++block) {
    const auto &code = program.blockPrograms[block];
    elementOf_[block].assign(code.size(), UINT32_MAX);
    for (uint32_t index = 0; index < code.size(); ++index) {
      const Instruction &inst = code[index];
      if (inst.kind != InstructionKind::Signal && inst.kind != InstructionKind::Wait)
        continue;
      auto [it, inserted] = ids.try_emplace({inst.counter, inst.counterIndex}, uint32_t(elements_.size()));
      if (inserted)
        elements_.push_back(Element{inst.counter, inst.counterIndex, {}, {}});
      Element &element = elements_[it->second];
      elementOf_[block][index] = it->second;
      if (inst.kind == InstructionKind::Signal) {
        if (!element.lastSignal.empty() && element.lastSignal.back().first == block)
          element.lastSignal.back().second = index;
        else
          element.lastSignal.push_back({block, index});
      } else {
        if (element.waiters.empty() || element.waiters.back().block != block)
          element.waiters.push_back(BlockWaits{block, {}});
        element.waiters.back().waits.push_back(WaitSite{index, inst.amount});
      }
    }
  }
  for (Element &element : elements_)
    for (BlockWaits &waiter : element.waiters)
      for (size_t i = waiter.waits.size(); i-- > 1;)
        waiter.waits[i - 1].suffixMinThreshold =
            std::min(waiter.waits[i - 1].suffixMinThreshold, waiter.waits[i].suffixMinThreshold);
}

State Machine::initial() const {
  State state;
  state.pc.assign(blocks_, 0);
  state.arrived.assign(blocks_, 0);
  if (residentSlots_)
    state.started.assign(blocks_, 0);
  if (tracking_ == Tracking::HappensBefore)
    state.clocks.assign(size_t(blocks_) * blocks_, 0);
  state.counters.resize(elements_.size());
  if (tracking_ == Tracking::HappensBefore)
    for (CounterState &counter : state.counters)
      counter.lastRead.assign(blocks_, 0);
  return state;
}

bool Machine::finished(const State &state, uint32_t block) const {
  if (residentSlots_ && !state.started[block])
    return false;
  return state.pc[block] == program_.blockPrograms[block].size();
}

bool Machine::allFinished(const State &state) const {
  for (uint32_t block = 0; block < blocks_; ++block)
    if (!finished(state, block))
      return false;
  return true;
}

uint32_t Machine::freeSlots(const State &state) const {
  uint32_t resident = 0;
  for (uint32_t block = 0; block < blocks_; ++block)
    if (state.started[block] && !finished(state, block))
      ++resident;
  return resident >= residentSlots_ ? 0 : residentSlots_ - resident;
}

NextKind Machine::next(const State &state, uint32_t block) const {
  if (residentSlots_ && !state.started[block])
    return NextKind::NotStarted;
  const auto &code = program_.blockPrograms[block];
  if (state.pc[block] == code.size())
    return NextKind::Finished;
  switch (code[state.pc[block]].kind) {
  case InstructionKind::Task:
    return NextKind::Task;
  case InstructionKind::Signal:
    return NextKind::Signal;
  case InstructionKind::Wait:
    return NextKind::Wait;
  case InstructionKind::Barrier:
    return state.arrived[block] ? NextKind::Arrived : NextKind::Barrier;
  }
  return NextKind::Finished;
}

std::optional<uint64_t> Machine::firstReach(const CounterState &counter, uint64_t threshold) const {
  uint64_t position = counter.collapsed, sum = counter.collapsedSum;
  if (sum >= threshold)
    return position;
  for (const MoEntry &entry : counter.entries) {
    ++position;
    sum += entry.amount;
    if (sum >= threshold)
      return position;
  }
  return std::nullopt;
}

uint64_t Machine::prefixSum(const CounterState &counter, uint64_t position) const {
  assert(position >= counter.collapsed && position <= counter.length);
  uint64_t sum = counter.collapsedSum;
  for (uint64_t k = 0; k < position - counter.collapsed; ++k)
    sum += counter.entries[k].amount;
  return sum;
}

// The position of the latest increment that happens-before the block's next step (0: none beyond
// the collapsed summary). A block's own earlier signals count: program order is happens-before.
uint64_t Machine::happensBeforeBound(const State &state, const CounterState &counter, uint32_t block) const {
  const uint32_t *clock = clockRow(state, block);
  for (size_t k = counter.entries.size(); k-- > 0;)
    if (counter.entries[k].epoch <= clock[counter.entries[k].block])
      return counter.collapsed + k + 1;
  return 0;
}

std::optional<uint64_t> Machine::smallestReadPosition(const State &state, uint32_t block) const {
  const Instruction &wait = program_.blockPrograms[block][state.pc[block]];
  assert(wait.kind == InstructionKind::Wait);
  const CounterState &counter = state.counters[elementOf_[block][state.pc[block]]];
  if (counter.total < wait.amount)
    return std::nullopt;
  if (tracking_ == Tracking::ProgressOnly)
    return counter.length; // the latest value: always admissible
  assert(counter.tracked);
  std::optional<uint64_t> reach = firstReach(counter, wait.amount);
  assert(reach);
  return std::max({*reach, counter.lastRead[block], happensBeforeBound(state, counter, block)});
}

std::optional<Step> Machine::enabledStep(const State &state, uint32_t block) const {
  Step step;
  step.block = block;
  step.index = state.pc[block];
  switch (next(state, block)) {
  case NextKind::Finished:
  case NextKind::NotStarted:
  case NextKind::Arrived:
    return std::nullopt;
  case NextKind::Task:
    step.kind = StepKind::Task;
    return step;
  case NextKind::Signal:
    step.kind = StepKind::Signal;
    return step;
  case NextKind::Barrier:
    step.kind = StepKind::Barrier;
    return step;
  case NextKind::Wait:
    step.kind = StepKind::Wait;
    step.readPosition = smallestReadPosition(state, block);
    if (!step.readPosition)
      return std::nullopt;
    return step;
  }
  return std::nullopt;
}

std::optional<uint64_t> Machine::futureThreshold(const State &state, uint32_t element, uint32_t block) const {
  for (const BlockWaits &waiter : elements_[element].waiters) {
    if (waiter.block != block)
      continue;
    auto it = std::lower_bound(waiter.waits.begin(), waiter.waits.end(), state.pc[block],
                               [](const WaitSite &site, uint32_t pc) { return site.index < pc; });
    if (it == waiter.waits.end())
      return std::nullopt;
    return it->suffixMinThreshold;
  }
  return std::nullopt;
}

bool Machine::holdsSignal(const State &state, uint32_t element, uint32_t block) const {
  for (const auto &[signaller, last] : elements_[element].lastSignal)
    if (signaller == block)
      return !finished(state, block) && state.pc[block] <= last;
  return false;
}

bool Machine::contendedSignal(const State &state, uint32_t block) const {
  if (tracking_ == Tracking::ProgressOnly)
    return false; // only the sum is observed, and addition commutes
  uint32_t element = elementOf_[block][state.pc[block]];
  bool otherSignaller = false;
  for (const auto &[signaller, last] : elements_[element].lastSignal)
    if (signaller != block && holdsSignal(state, element, signaller))
      otherSignaller = true;
  if (!otherSignaller)
    return false;
  for (const BlockWaits &waiter : elements_[element].waiters)
    if (futureThreshold(state, element, waiter.block))
      return true;
  return false;
}

std::string Machine::whyInvalid(const State &state, const Step &step) const {
  if (step.block >= blocks_)
    return "block " + std::to_string(step.block) + " is not in the grid of " + std::to_string(blocks_);
  std::string who = "block " + std::to_string(step.block);
  if (step.kind == StepKind::Dispatch) {
    if (!residentSlots_)
      return "dispatch step in an interleaving where every block is resident";
    if (state.started[step.block])
      return who + " was already dispatched";
    if (!freeSlots(state))
      return "no free slot to dispatch " + who + ": all " + std::to_string(residentSlots_) + " are taken";
    return "";
  }
  NextKind kind = next(state, step.block);
  if (kind == NextKind::NotStarted)
    return who + " has not been dispatched";
  if (kind == NextKind::Finished)
    return who + " has finished";
  if (step.index != state.pc[step.block])
    return who + " is at instruction " + std::to_string(state.pc[step.block]) + ", not " + std::to_string(step.index);
  const Instruction &inst = program_.blockPrograms[step.block][step.index];
  StepKind expected = inst.kind == InstructionKind::Task     ? StepKind::Task
                      : inst.kind == InstructionKind::Signal ? StepKind::Signal
                      : inst.kind == InstructionKind::Wait   ? StepKind::Wait
                                                             : StepKind::Barrier;
  if (step.kind != expected)
    return who + " instruction " + std::to_string(step.index) + " is a " + stepKindName(expected) + ", not a " +
           stepKindName(step.kind);
  if (kind == NextKind::Arrived)
    return who + " has already arrived at this barrier";
  if (step.kind != StepKind::Wait)
    return "";
  if (!step.readPosition)
    return "wait without a read position";
  uint64_t position = *step.readPosition;
  const CounterState &counter = state.counters[elementOf_[step.block][step.index]];
  std::string at = who + " wait " + program_.counterText(inst) + " >= " + std::to_string(inst.amount) +
                   " cannot read position " + std::to_string(position) + ": ";
  if (position > counter.length)
    return at + "only " + std::to_string(counter.length) + " increments have executed";
  if (tracking_ == Tracking::ProgressOnly)
    return counter.total >= inst.amount ? "" : at + "the counter is below the threshold";
  if (position < counter.collapsed)
    return at + "positions up to " + std::to_string(counter.collapsed) + " were merged by the explorer";
  if (position < counter.lastRead[step.block])
    return at + "the block already read position " + std::to_string(counter.lastRead[step.block]) + " (coherence)";
  uint64_t bound = happensBeforeBound(state, counter, step.block);
  if (position < bound)
    return at + "the increment at position " + std::to_string(bound) + " happens-before the wait";
  uint64_t sum = prefixSum(counter, position);
  if (sum < inst.amount)
    return at + "the value there is " + std::to_string(sum);
  return "";
}

uint32_t Machine::tick(State &state, uint32_t block) const {
  if (tracking_ != Tracking::HappensBefore)
    return 0;
  return ++clockRow(state, block)[block];
}

void Machine::join(uint32_t *into, const uint32_t *from) const {
  for (uint32_t k = 0; k < blocks_; ++k)
    into[k] = std::max(into[k], from[k]);
}

const ir::Region &Machine::operandRegion(const Access &access) const {
  const Instruction &inst = program_.blockPrograms[access.block][access.index];
  return access.operand < inst.outputs.size() ? inst.outputs[access.operand]
                                              : inst.inputs[access.operand - inst.outputs.size()];
}

namespace {

ir::Region intersection(const ir::Region &a, const ir::Region &b) {
  ir::Region out;
  out.buffer = a.buffer;
  out.pointDims = a.pointDims | b.pointDims;
  for (size_t d = 0; d < a.lo.size(); ++d) {
    out.lo.push_back(std::max(a.lo[d], b.lo[d]));
    out.hi.push_back(std::min(a.hi[d], b.hi[d]));
  }
  return out;
}

} // namespace

// Checks the task's operands against every recorded access of another block and records them. An
// earlier access e happens-before this task exactly when e's event number is covered by this
// block's clock: every happens-before edge runs forward in the interleaving, so checking each access
// against the earlier ones examines every pair once.
void Machine::recordAccesses(State &state, uint32_t block, uint32_t index, uint32_t epoch,
                             std::vector<RaceWitness> *races) const {
  const Instruction &inst = program_.blockPrograms[block][index];
  const uint32_t *clock = clockRow(state, block);
  size_t earlier = state.accesses.size();
  size_t operands = inst.outputs.size() + inst.inputs.size();
  for (size_t operand = 0; operand < operands; ++operand) {
    Access access{block, index, epoch, static_cast<uint16_t>(operand), operand < inst.outputs.size()};
    const ir::Region &region = operandRegion(access);
    if (program_.buffers[region.buffer].readOnly())
      continue; // never written during the launch: reads of it never conflict
    for (size_t k = 0; k < earlier; ++k) {
      const Access &other = state.accesses[k];
      if (other.block == block || !(other.write || access.write) || other.epoch <= clock[other.block])
        continue;
      const ir::Region &otherRegion = operandRegion(other);
      if (!otherRegion.overlaps(region))
        continue;
      if (races)
        races->push_back(RaceWitness{{other.block, other.index},
                                     {block, index},
                                     other.write,
                                     access.write,
                                     region.buffer,
                                     intersection(otherRegion, region)});
    }
    state.accesses.push_back(access);
  }
}

void Machine::apply(State &state, const Step &step, std::vector<RaceWitness> *races) const {
  assert(whyInvalid(state, step).empty());
  uint32_t block = step.block;
  if (step.kind == StepKind::Dispatch) {
    state.started[block] = 1;
    return;
  }
  const Instruction &inst = program_.blockPrograms[block][step.index];
  uint32_t epoch = tick(state, block);
  switch (inst.kind) {
  case InstructionKind::Task:
    if (tracking_ == Tracking::HappensBefore)
      recordAccesses(state, block, step.index, epoch, races);
    ++state.pc[block];
    return;
  case InstructionKind::Signal: {
    CounterState &counter = state.counters[elementOf_[block][step.index]];
    counter.total += inst.amount;
    ++counter.length;
    if (tracking_ == Tracking::HappensBefore && counter.tracked) {
      MoEntry entry{block, epoch, inst.amount, inst.order == ir::SyncOrder::Default, {}};
      if (entry.release) {
        const uint32_t *clock = clockRow(state, block);
        entry.clock.assign(clock, clock + blocks_);
      }
      counter.entries.push_back(std::move(entry));
    }
    ++state.pc[block];
    return;
  }
  case InstructionKind::Wait: {
    CounterState &counter = state.counters[elementOf_[block][step.index]];
    if (tracking_ == Tracking::HappensBefore) {
      uint64_t position = *step.readPosition;
      // An acquire that reads position p synchronizes with every release at a position <= p: the
      // later increments are read-modify-writes, which continue each release sequence.
      if (inst.order == ir::SyncOrder::Default) {
        uint32_t *clock = clockRow(state, block);
        if (!counter.collapsedRelease.empty())
          join(clock, counter.collapsedRelease.data());
        for (uint64_t k = 0; k < position - counter.collapsed; ++k)
          if (counter.entries[k].release)
            join(clock, counter.entries[k].clock.data());
      }
      counter.lastRead[block] = std::max(counter.lastRead[block], position);
    }
    ++state.pc[block];
    return;
  }
  case InstructionKind::Barrier:
    state.arrived[block] = 1;
    if (++state.arrivedCount < blocks_)
      return;
    // The last arrival completes the barrier: everything before any block's k-th barrier
    // happens-before everything after any block's k-th barrier.
    if (tracking_ == Tracking::HappensBefore) {
      std::vector<uint32_t> all(blocks_, 0);
      for (uint32_t k = 0; k < blocks_; ++k)
        join(all.data(), clockRow(state, k));
      for (uint32_t k = 0; k < blocks_; ++k)
        std::copy(all.begin(), all.end(), clockRow(state, k));
    }
    for (uint32_t k = 0; k < blocks_; ++k) {
      state.arrived[k] = 0;
      ++state.pc[k];
    }
    state.arrivedCount = 0;
    ++state.barriersCompleted;
    return;
  }
}

void Machine::canonicalize(State &state) const {
  if (tracking_ != Tracking::HappensBefore)
    return;
  for (uint32_t e = 0; e < elements_.size(); ++e) {
    CounterState &counter = state.counters[e];
    if (!counter.tracked)
      continue;
    // Every future read of the element is at a position >= the smallest lower bound any block with
    // a wait still to run has: its last read, and where the sum first reaches its smallest remaining
    // threshold (the current length when it does not reach it yet).
    std::optional<uint64_t> floor;
    std::vector<uint64_t> lastRead(blocks_, 0);
    for (const BlockWaits &waiter : elements_[e].waiters) {
      std::optional<uint64_t> threshold = futureThreshold(state, e, waiter.block);
      if (!threshold)
        continue;
      uint64_t reach = firstReach(counter, *threshold).value_or(counter.length);
      uint64_t bound = std::max(counter.lastRead[waiter.block], reach);
      floor = floor ? std::min(*floor, bound) : bound;
      lastRead[waiter.block] = counter.lastRead[waiter.block];
    }
    if (!floor) {
      // Nobody reads the element again: its order is unobservable from here on.
      counter.tracked = false;
      counter.collapsed = counter.collapsedSum = 0;
      counter.collapsedRelease.clear();
      counter.entries.clear();
      counter.lastRead.clear();
      continue;
    }
    // Positions 1..floor are only ever read as part of a longer prefix: merge them (their order and
    // the positions of their signals no longer matter, only their sum and release clocks).
    uint64_t merge = *floor - counter.collapsed;
    for (uint64_t k = 0; k < merge; ++k) {
      const MoEntry &entry = counter.entries[k];
      counter.collapsedSum += entry.amount;
      if (entry.release) {
        if (counter.collapsedRelease.empty())
          counter.collapsedRelease.assign(blocks_, 0);
        join(counter.collapsedRelease.data(), entry.clock.data());
      }
    }
    counter.entries.erase(counter.entries.begin(), counter.entries.begin() + static_cast<ptrdiff_t>(merge));
    counter.collapsed = *floor;
    for (const BlockWaits &waiter : elements_[e].waiters)
      if (futureThreshold(state, e, waiter.block))
        lastRead[waiter.block] = std::max(lastRead[waiter.block], counter.collapsed);
    counter.lastRead = std::move(lastRead);
  }
  // An access that happens-before the current point of every other unfinished block
  // happens-before all their future accesses: it can never race again.
  std::erase_if(state.accesses, [&](const Access &access) {
    for (uint32_t k = 0; k < blocks_; ++k)
      if (k != access.block && !finished(state, k) && clockRow(state, k)[access.block] < access.epoch)
        return false;
    return true;
  });
  std::sort(state.accesses.begin(), state.accesses.end(), [](const Access &a, const Access &b) {
    return std::tie(a.block, a.epoch, a.operand) < std::tie(b.block, b.epoch, b.operand);
  });
  // A finished block's clock is never read again (release signals copied it when they ran).
  for (uint32_t k = 0; k < blocks_; ++k)
    if (finished(state, k))
      std::fill_n(clockRow(state, k), blocks_, 0);
}

namespace {

class Encoder {
public:
  template <typename T> void put(T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char *>(&value), sizeof value);
  }
  template <typename T> void putAll(const std::vector<T> &values) {
    put<uint64_t>(values.size());
    if (!values.empty())
      out_.append(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(T));
  }
  std::string take() { return std::move(out_); }

private:
  std::string out_;
};

} // namespace

std::string Machine::encode(const State &state) const {
  Encoder out;
  out.putAll(state.pc);
  out.putAll(state.arrived);
  out.putAll(state.started);
  out.put(state.barriersCompleted);
  out.putAll(state.clocks);
  for (const CounterState &counter : state.counters) {
    out.put<uint8_t>(counter.tracked);
    out.put(counter.total);
    out.put(counter.length);
    if (!counter.tracked || tracking_ != Tracking::HappensBefore)
      continue;
    out.put(counter.collapsed);
    out.put(counter.collapsedSum);
    out.putAll(counter.collapsedRelease);
    out.put<uint64_t>(counter.entries.size());
    for (const MoEntry &entry : counter.entries) {
      out.put(entry.block);
      out.put(entry.epoch);
      out.put(entry.amount);
      out.put<uint8_t>(entry.release);
      out.putAll(entry.clock);
    }
    out.putAll(counter.lastRead);
  }
  out.put<uint64_t>(state.accesses.size());
  for (const Access &access : state.accesses) {
    out.put(access.block);
    out.put(access.index);
    out.put(access.epoch);
    out.put(access.operand);
    out.put<uint8_t>(access.write);
  }
  return out.take();
}

std::vector<uint32_t> Machine::barrierCounts() const {
  std::vector<uint32_t> counts(blocks_, 0);
  for (uint32_t block = 0; block < blocks_; ++block)
    for (const Instruction &inst : program_.blockPrograms[block])
      counts[block] += inst.kind == InstructionKind::Barrier;
  return counts;
}

DeadlockWitness Machine::deadlock(const State &state) const {
  DeadlockWitness witness;
  witness.residentSlots = residentSlots_;
  for (uint32_t block = 0; block < blocks_; ++block) {
    NextKind kind = next(state, block);
    if (kind == NextKind::Finished) {
      witness.finished.push_back(block);
      continue;
    }
    if (kind == NextKind::Task || kind == NextKind::Signal || kind == NextKind::Barrier ||
        (kind == NextKind::Wait && smallestReadPosition(state, block)))
      continue; // it can move (only when describing a state that is not a deadlock)
    StuckBlock stuck;
    stuck.block = block;
    stuck.index = state.pc[block];
    if (kind == NextKind::NotStarted) {
      stuck.reason = StuckReason::NotResident;
    } else if (kind == NextKind::Arrived) {
      stuck.reason = StuckReason::Barrier;
      stuck.barrierNumber = state.barriersCompleted;
      stuck.arrived = state.arrivedCount;
      for (uint32_t k = 0; k < blocks_; ++k)
        if (!state.arrived[k])
          stuck.waitsFor.push_back(k);
    } else {
      assert(kind == NextKind::Wait);
      const Instruction &wait = program_.blockPrograms[block][state.pc[block]];
      uint32_t element = elementOf_[block][state.pc[block]];
      stuck.reason = StuckReason::Wait;
      stuck.counter = wait.counter;
      stuck.counterIndex = wait.counterIndex;
      stuck.value = state.counters[element].total;
      stuck.threshold = wait.amount;
      for (uint32_t k = 0; k < blocks_; ++k)
        if (holdsSignal(state, element, k))
          stuck.waitsFor.push_back(k);
    }
    witness.stuck.push_back(std::move(stuck));
  }
  // A cycle in the wait-for graph among the stuck blocks (depth-first search, colouring).
  std::vector<int> position(blocks_, -1); // index in witness.stuck
  for (size_t i = 0; i < witness.stuck.size(); ++i)
    position[witness.stuck[i].block] = static_cast<int>(i);
  std::vector<uint8_t> colour(witness.stuck.size(), 0); // 0 new, 1 on the path, 2 done
  std::vector<uint32_t> path;
  auto visit = [&](auto &&self, size_t i) -> bool {
    colour[i] = 1;
    path.push_back(witness.stuck[i].block);
    for (uint32_t target : witness.stuck[i].waitsFor) {
      int j = position[target];
      if (j < 0)
        continue;
      if (colour[size_t(j)] == 1) {
        auto from = std::find(path.begin(), path.end(), target);
        witness.cycle.assign(from, path.end());
        return true;
      }
      if (colour[size_t(j)] == 0 && self(self, size_t(j)))
        return true;
    }
    colour[i] = 2;
    path.pop_back();
    return false;
  };
  for (size_t i = 0; i < witness.stuck.size() && witness.cycle.empty(); ++i)
    if (colour[i] == 0)
      visit(visit, i);
  return witness;
}

} // namespace amk::replay
