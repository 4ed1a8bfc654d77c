// The step-controlled executor: AMKIR §3's sequentially consistent steps (a task is atomic, a signal
// adds, a wait passes once its threshold is met, the last barrier arrival releases every block) on
// host buffers, with the op references doing the compute.
#include "amk/replay/simulator.h"

#include <algorithm>
#include <cassert>
#include <random>

namespace amk::replay {

using ir::Instruction;
using ir::InstructionKind;
using executor::HostBuffer;

Simulator::Simulator(const ir::Program &program, uint32_t residentSlots)
    : program_(program), blocks_(static_cast<uint32_t>(program.blockPrograms.size())), residentSlots_(residentSlots),
      pc_(blocks_, 0), arrived_(blocks_, 0), started_(blocks_, residentSlots == 0 ? 1 : 0),
      barriersPassed_(blocks_, 0) {
  buffers_.reserve(program.buffers.size());
  for (const ir::Buffer &buffer : program.buffers)
    buffers_.emplace_back(buffer.dtype, buffer.shape);
  size_t elements = 0;
  for (const ir::Counter &counter : program.counters) {
    counterBase_.push_back(elements);
    elements += static_cast<size_t>(counter.size);
  }
  counters_.assign(elements, 0);
  signalLog_.resize(elements);
}

void Simulator::fillRandom(uint64_t seed) {
  // The generator's output is used directly (not a std:: distribution) so that a seed names the same
  // data with every standard library.
  std::mt19937_64 random(seed);
  for (executor::HostBuffer &buffer : buffers_) {
    switch (buffer.dtype()) {
    case ir::ast::DType::I32:
      buffer.zero();
      break;
    case ir::ast::DType::I8:
      for (int64_t e = 0; e < buffer.elements(); ++e)
        buffer.storeInt(e, static_cast<int64_t>(random() % 255) - 127);
      break;
    default:
      for (int64_t e = 0; e < buffer.elements(); ++e)
        buffer.store(e, static_cast<float>(static_cast<double>(random() >> 11) * 0x1.0p-52 - 1.0));
    }
  }
}

size_t Simulator::element(const Instruction &instruction) const {
  return counterBase_[instruction.counter] + static_cast<size_t>(instruction.counterIndex);
}

BlockPhase Simulator::phase(uint32_t block) const {
  if (!started_[block])
    return BlockPhase::NotStarted;
  if (pc_[block] >= program_.blockPrograms[block].size())
    return BlockPhase::Finished;
  return arrived_[block] ? BlockPhase::Arrived : BlockPhase::Running;
}

bool Simulator::allFinished() const {
  for (uint32_t k = 0; k < blocks_; ++k)
    if (!finished(k))
      return false;
  return true;
}

bool Simulator::enabled(uint32_t block) const {
  if (phase(block) != BlockPhase::Running)
    return false;
  const Instruction &instruction = program_.blockPrograms[block][pc_[block]];
  return instruction.kind != InstructionKind::Wait || counters_[element(instruction)] >= instruction.amount;
}

bool Simulator::canDispatch(uint32_t block) const {
  if (residentSlots_ == 0 || started_[block])
    return false;
  uint32_t resident = 0;
  for (uint32_t k = 0; k < blocks_; ++k)
    resident += started_[k] && !finished(k);
  return resident < residentSlots_;
}

bool Simulator::stuck() const {
  if (allFinished())
    return false;
  for (uint32_t k = 0; k < blocks_; ++k)
    if (enabled(k) || canDispatch(k))
      return false;
  return true;
}

const SimEvent &Simulator::step(uint32_t block) {
  assert(enabled(block));
  const uint32_t index = pc_[block];
  const Instruction &instruction = program_.blockPrograms[block][index];
  SimEvent event;
  event.block = block;
  event.index = index;
  switch (instruction.kind) {
  case InstructionKind::Task: {
    event.kind = StepKind::Task;
    std::vector<executor::Operand> outputs, inputs;
    for (const ir::Region &region : instruction.outputs)
      outputs.push_back({&buffers_[region.buffer], &region});
    for (const ir::Region &region : instruction.inputs)
      inputs.push_back({&buffers_[region.buffer], &region});
    if (std::optional<std::string> error =
            executor::runTask(instruction.op, {outputs, inputs, program_.sites[instruction.site].attributes}))
      event.error = *error;
    ++pc_[block];
    break;
  }
  case InstructionKind::Signal: {
    event.kind = StepKind::Signal;
    size_t e = element(instruction);
    counters_[e] += instruction.amount;
    event.value = counters_[e];
    signalLog_[e].emplace_back(counters_[e], events_.size());
    ++pc_[block];
    break;
  }
  case InstructionKind::Wait: {
    event.kind = StepKind::Wait;
    size_t e = element(instruction);
    event.value = counters_[e];
    const auto &log = signalLog_[e];
    auto crossing = std::lower_bound(log.begin(), log.end(), std::make_pair(instruction.amount, size_t{0}));
    if (instruction.amount > 0 && crossing != log.end())
      event.enabledBy = crossing->second;
    ++pc_[block];
    break;
  }
  case InstructionKind::Barrier: {
    event.kind = StepKind::Barrier;
    event.barrierNumber = barriersPassed_[block];
    arrived_[block] = 1;
    if (++arrivedCount_ == blocks_) {
      // The last arrival completes the barrier: every block passes it.
      event.completesBarrier = true;
      arrivedCount_ = 0;
      for (uint32_t k = 0; k < blocks_; ++k) {
        arrived_[k] = 0;
        ++barriersPassed_[k];
        ++pc_[k];
      }
    }
    break;
  }
  }
  events_.push_back(std::move(event));
  return events_.back();
}

const SimEvent &Simulator::dispatch(uint32_t block) {
  assert(canDispatch(block));
  started_[block] = 1;
  SimEvent event;
  event.kind = StepKind::Dispatch;
  event.block = block;
  events_.push_back(std::move(event));
  return events_.back();
}

std::vector<BlockPosition> Simulator::positions() const {
  std::vector<BlockPosition> out;
  for (uint32_t k = 0; k < blocks_; ++k) {
    BlockPhase p = phase(k);
    if (p == BlockPhase::Finished)
      continue;
    BlockPosition position;
    position.block = k;
    position.phase = p;
    position.index = pc_[k];
    if (p == BlockPhase::NotStarted) {
      out.push_back(std::move(position));
      continue;
    }
    const Instruction &instruction = program_.blockPrograms[k][pc_[k]];
    if (instruction.kind == InstructionKind::Wait) {
      size_t e = element(instruction);
      position.value = counters_[e];
      position.threshold = instruction.amount;
      position.atWait = counters_[e] < instruction.amount;
      for (uint32_t j = 0; j < blocks_; ++j) {
        const auto &code = program_.blockPrograms[j];
        for (size_t i = finished(j) ? code.size() : pc_[j]; i < code.size(); ++i)
          if (code[i].kind == InstructionKind::Signal && element(code[i]) == e) {
            position.waitsFor.push_back(j);
            break;
          }
      }
    } else if (p == BlockPhase::Arrived) {
      position.atBarrier = true;
      position.barrierNumber = barriersPassed_[k];
      position.value = arrivedCount_;
      position.threshold = blocks_;
      for (uint32_t j = 0; j < blocks_; ++j)
        if (!arrived_[j])
          position.waitsFor.push_back(j);
    }
    out.push_back(std::move(position));
  }
  return out;
}

uint64_t Simulator::counterValue(uint32_t counter, int64_t index) const {
  return counters_[counterBase_[counter] + static_cast<size_t>(index)];
}

std::string Simulator::countersText() const {
  std::string out;
  for (uint32_t c = 0; c < program_.counters.size(); ++c) {
    const ir::Counter &counter = program_.counters[c];
    for (int64_t i = 0; i < counter.size; ++i) {
      out += (out.empty() ? "" : ", ") + counter.name + (counter.isArray ? "[" + std::to_string(i) + "]" : "") + " = " +
             std::to_string(counterValue(c, i));
    }
  }
  return out;
}

} // namespace amk::replay
