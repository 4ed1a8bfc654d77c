// Both execution modes of the CPU executor. Threads mode lowers AMKIR sync the way the CUDA runtime
// does (release fetch_add, acquire spin loads, a generation-counting grid barrier) so that a schedule
// runs with real concurrency; deterministic mode makes every task, signal, passing wait and barrier
// arrival one atomic step and lets a seeded generator choose the next block at every step.
#include "amk/executor/executor.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstring>
#include <memory>
#include <random>
#include <system_error>
#include <thread>

namespace amk::executor {

const char *statusName(ExecutionStatus status) {
  switch (status) {
  case ExecutionStatus::Completed:
    return "completed";
  case ExecutionStatus::Deadlocked:
    return "deadlocked";
  case ExecutionStatus::Error:
    return "error";
  }
  return "?";
}

namespace {

using ir::Instruction;
using ir::InstructionKind;

// "file:line:col" of the instruction's source line.
std::string location(const ir::Program &program, const Instruction &instruction) {
  const ir::SourceLocation &at = program.sites[instruction.site].range.begin;
  return program.sourceName + ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
}

// "instruction 3 'wait done[0] >= 4' (l=1, b=2)"
std::string describe(const ir::Program &program, uint32_t block, uint32_t index) {
  const Instruction &instruction = program.blockPrograms[block][index];
  std::string bindings = program.bindings(instruction);
  return "instruction " + std::to_string(index) + " '" +
         program.instructionText(instruction, ir::InstructionStyle::Regions) + "'" +
         (bindings.empty() ? "" : " (" + bindings + ")");
}

// Which barrier of its block (1-based) instruction `index` is.
uint64_t barrierOrdinal(const ir::Program &program, uint32_t block, uint32_t index) {
  const auto &instructions = program.blockPrograms[block];
  return static_cast<uint64_t>(std::count_if(instructions.begin(), instructions.begin() + index + 1,
                                             [](const Instruction &i) { return i.kind == InstructionKind::Barrier; }));
}

std::string stuckLine(const ir::Program &program, const StuckBlock &stuck) {
  const Instruction &instruction = program.blockPrograms[stuck.block][stuck.instruction];
  std::string line = location(program, instruction) + ": note: block " + std::to_string(stuck.block) + " stuck at " +
                     describe(program, stuck.block, stuck.instruction) + ": ";
  if (stuck.atBarrier)
    return line + "barrier " + std::to_string(barrierOrdinal(program, stuck.block, stuck.instruction)) +
           " reached by " + std::to_string(stuck.observed) + " of " + std::to_string(stuck.threshold) + " blocks";
  return line + "counter " + stuck.counter + " is " + std::to_string(stuck.observed) +
         ", the wait needs >= " + std::to_string(stuck.threshold);
}

std::string errorLine(const ir::Program &program, uint32_t block, uint32_t index, const std::string &message) {
  return location(program, program.blockPrograms[block][index]) + ": error: block " + std::to_string(block) + ", " +
         describe(program, block, index) + ": " + message;
}

std::string deadlockReport(const ir::Program &program, const std::string &why, const std::vector<StuckBlock> &stuck,
                           const std::vector<std::string> &extraNotes) {
  std::string report = program.sourceName + ": deadlock: " + std::to_string(stuck.size()) + " of " +
                       std::to_string(program.blocks) + " blocks cannot go on (" + why + ")\n";
  for (const StuckBlock &s : stuck)
    report += stuckLine(program, s) + "\n";
  for (const std::string &note : extraNotes)
    report += note + "\n";
  return report;
}

std::vector<uint64_t> toCounts(const std::vector<uint32_t> &pc) { return {pc.begin(), pc.end()}; }

} // namespace

// ---------------------------------------------------------------------------------------------------
// Buffers

Executor::Executor(const ir::Program &program) : program_(program) {
  buffers_.reserve(program.buffers.size());
  for (const ir::Buffer &buffer : program.buffers)
    buffers_.emplace_back(buffer.dtype, buffer.shape);
  for (const ir::Counter &counter : program.counters) {
    counterBase_.push_back(counterElements_);
    counterElements_ += static_cast<size_t>(counter.size);
  }
}

std::optional<size_t> Executor::find(std::string_view name) const {
  for (size_t i = 0; i < program_.buffers.size(); ++i)
    if (program_.buffers[i].name == name)
      return i;
  return std::nullopt;
}

const HostBuffer *Executor::buffer(std::string_view name) const {
  std::optional<size_t> index = find(name);
  return index ? &buffers_[*index] : nullptr;
}

HostBuffer *Executor::buffer(std::string_view name) {
  std::optional<size_t> index = find(name);
  return index ? &buffers_[*index] : nullptr;
}

namespace {

std::optional<Error> sizeMismatch(const ir::Program &program, std::string_view name, const HostBuffer *buffer,
                                  size_t given, const char *unit, size_t expected) {
  if (!buffer)
    return Error{program.sourceName, "no buffer named '" + std::string(name) + "'"};
  if (given != expected)
    return Error{program.sourceName, "buffer '" + std::string(name) + "' holds " + std::to_string(expected) + " " +
                                         unit + ", " + std::to_string(given) + " given"};
  return std::nullopt;
}

} // namespace

std::optional<Error> Executor::setBytes(std::string_view name, std::span<const std::byte> bytes) {
  HostBuffer *target = buffer(name);
  if (auto error = sizeMismatch(program_, name, target, bytes.size(), "bytes", target ? target->bytes().size() : 0))
    return error;
  std::memcpy(target->bytes().data(), bytes.data(), bytes.size());
  return std::nullopt;
}

std::optional<Error> Executor::setFloats(std::string_view name, std::span<const float> values) {
  HostBuffer *target = buffer(name);
  if (auto error = sizeMismatch(program_, name, target, values.size(), "elements",
                                target ? static_cast<size_t>(target->elements()) : 0))
    return error;
  target->setFloats(values);
  return std::nullopt;
}

std::optional<Error> Executor::setInts(std::string_view name, std::span<const int32_t> values) {
  HostBuffer *target = buffer(name);
  if (auto error = sizeMismatch(program_, name, target, values.size(), "elements",
                                target ? static_cast<size_t>(target->elements()) : 0))
    return error;
  if (target->dtype() != ir::ast::DType::I32 && target->dtype() != ir::ast::DType::I8)
    return Error{program_.sourceName, "buffer '" + std::string(name) + "' is " + ir::ast::dtypeName(target->dtype()) +
                                          ", not an integer type"};
  for (size_t i = 0; i < values.size(); ++i)
    target->storeInt(static_cast<int64_t>(i), values[i]);
  return std::nullopt;
}

std::optional<std::string> Executor::executeTask(const Instruction &instruction) {
  std::vector<Operand> outputs, inputs;
  outputs.reserve(instruction.outputs.size());
  inputs.reserve(instruction.inputs.size());
  for (const ir::Region &region : instruction.outputs)
    outputs.push_back(Operand{&buffers_[region.buffer], &region});
  for (const ir::Region &region : instruction.inputs)
    inputs.push_back(Operand{&buffers_[region.buffer], &region});
  return runTask(instruction.op, TaskOperands{outputs, inputs, program_.sites[instruction.site].attributes});
}

ExecutionResult Executor::run(const ExecutorOptions &options) {
  if (options.mode == ExecutionMode::Deterministic && !options.delaysNs.empty()) {
    ExecutionResult refused;
    refused.status = ExecutionStatus::Error;
    refused.report = program_.sourceName + ": error: delays need the threads mode (the deterministic scheduler "
                                           "has no time)\n";
    return refused;
  }
  // Scratch and outputs start from zero so that a run's results never depend on the previous run.
  for (size_t i = 0; i < buffers_.size(); ++i) {
    ir::ast::BufferKind kind = program_.buffers[i].kind;
    if (kind == ir::ast::BufferKind::Scratch || kind == ir::ast::BufferKind::Output)
      buffers_[i].zero();
  }
  return options.mode == ExecutionMode::Threads ? runThreads(options) : runDeterministic(options);
}

// ---------------------------------------------------------------------------------------------------
// Deterministic mode

ExecutionResult Executor::runDeterministic(const ExecutorOptions &options) {
  const auto blocks = static_cast<uint32_t>(program_.blockPrograms.size());
  std::mt19937_64 random(options.seed);
  std::vector<uint32_t> pc(blocks, 0);
  std::vector<uint8_t> arrived(blocks, 0);
  uint32_t arrivedCount = 0;
  std::vector<uint64_t> counters(counterElements_, 0);
  const auto element = [&](const Instruction &i) {
    return counterBase_[i.counter] + static_cast<size_t>(i.counterIndex);
  };

  ExecutionResult result;
  std::vector<uint32_t> runnable;
  runnable.reserve(blocks);
  for (;;) {
    runnable.clear();
    for (uint32_t b = 0; b < blocks; ++b) {
      const auto &instructions = program_.blockPrograms[b];
      if (pc[b] >= instructions.size())
        continue;
      const Instruction &next = instructions[pc[b]];
      bool ready = true;
      if (next.kind == InstructionKind::Wait)
        ready = counters[element(next)] >= next.amount;
      else if (next.kind == InstructionKind::Barrier)
        ready = !arrived[b];
      if (ready)
        runnable.push_back(b);
    }
    if (runnable.empty())
      break;
    // Modulo rather than a std:: distribution: the generator's output is fixed by the standard, a
    // distribution's is not, so a seed names the same interleaving with every standard library.
    const uint32_t b = runnable[static_cast<size_t>(random() % runnable.size())];
    const uint32_t index = pc[b];
    const Instruction &instruction = program_.blockPrograms[b][index];
    if (options.recordTrace)
      result.trace.push_back({b, index});
    switch (instruction.kind) {
    case InstructionKind::Task:
      if (std::optional<std::string> error = executeTask(instruction)) {
        result.status = ExecutionStatus::Error;
        result.report = errorLine(program_, b, index, *error) + "\n";
        result.executed = toCounts(pc);
        return result;
      }
      ++pc[b];
      break;
    case InstructionKind::Signal:
      counters[element(instruction)] += instruction.amount;
      ++pc[b];
      break;
    case InstructionKind::Wait:
      ++pc[b];
      break;
    case InstructionKind::Barrier:
      arrived[b] = 1;
      if (++arrivedCount == blocks) { // the last arrival completes the barrier for everyone
        for (uint32_t k = 0; k < blocks; ++k) {
          arrived[k] = 0;
          ++pc[k];
        }
        arrivedCount = 0;
      }
      break;
    }
  }

  result.executed = toCounts(pc);
  for (uint32_t b = 0; b < blocks; ++b) {
    if (pc[b] >= program_.blockPrograms[b].size())
      continue;
    const Instruction &at = program_.blockPrograms[b][pc[b]];
    StuckBlock stuck{b, pc[b], at.kind == InstructionKind::Barrier, {}, arrivedCount, blocks};
    if (!stuck.atBarrier) {
      stuck.counter = program_.counterText(at);
      stuck.observed = counters[element(at)];
      stuck.threshold = at.amount;
    }
    result.stuck.push_back(std::move(stuck));
  }
  if (!result.stuck.empty()) {
    result.status = ExecutionStatus::Deadlocked;
    result.report = deadlockReport(program_, "seed " + std::to_string(options.seed) + ": no block can take a step",
                                   result.stuck, {});
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Threads mode

namespace {

using Clock = std::chrono::steady_clock;

int64_t nowTicks() { return Clock::now().time_since_epoch().count(); }

struct SharedRun {
  explicit SharedRun(size_t counterElements, size_t traceCapacity)
      : counters(std::make_unique<std::atomic<uint32_t>[]>(counterElements)), trace(traceCapacity) {
    for (size_t i = 0; i < counterElements; ++i)
      counters[i].store(0, std::memory_order_relaxed);
  }

  std::unique_ptr<std::atomic<uint32_t>[]> counters;
  // Set on a time-out or a failed task: every thread leaves at its next instruction or spin.
  std::atomic<bool> abort{false};
  std::atomic<bool> timedOut{false};
  // The grid barrier: arrivals in the current generation, and the generation a waiter watches.
  std::atomic<uint32_t> barrierArrived{0};
  std::atomic<uint32_t> barrierGeneration{0};
  std::atomic<int64_t> lastProgress{nowTicks()}; // steady_clock ticks of the latest completed step
  std::atomic<size_t> traceNext{0};
  std::vector<TraceStep> trace; // slots handed out by traceNext, so writers never share one
};

enum class BlockState { Running, Finished, StuckWait, StuckBarrier, Stopped, Failed };

struct BlockOutcome {
  BlockState state = BlockState::Running;
  uint32_t pc = 0;
  std::string error;
};

// Spins until ready() holds; false when the run is aborted, by this spin's time-out or elsewhere.
// Short spins stay hot, then the thread yields, then sleeps, so that a grid of many blocks on few
// cores leaves the cores to the blocks that have work.
template <class Ready> bool spinUntil(Ready ready, SharedRun &shared, Clock::duration timeout) {
  const int64_t limit = std::chrono::duration_cast<Clock::duration>(timeout).count();
  for (uint64_t spins = 0;; ++spins) {
    if (ready())
      return true;
    if (shared.abort.load(std::memory_order_relaxed))
      return false;
    if (spins % 64 == 63 && nowTicks() - shared.lastProgress.load(std::memory_order_relaxed) > limit) {
      shared.timedOut.store(true, std::memory_order_relaxed);
      shared.abort.store(true, std::memory_order_relaxed);
      return false;
    }
    if (spins < 16)
      continue;
    if (spins < 1024)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

} // namespace

ExecutionResult Executor::runThreads(const ExecutorOptions &options) {
  const auto blocks = static_cast<uint32_t>(program_.blockPrograms.size());
  SharedRun shared(counterElements_, options.recordTrace ? program_.instructionCount() : 0);
  std::vector<BlockOutcome> outcomes(blocks);
  const Clock::duration timeout = options.timeout;

  const auto runBlock = [&](uint32_t b) {
    const auto &instructions = program_.blockPrograms[b];
    BlockOutcome &outcome = outcomes[b];
    for (uint32_t index = 0; index < instructions.size(); ++index) {
      outcome.pc = index;
      if (shared.abort.load(std::memory_order_relaxed)) {
        outcome.state = BlockState::Stopped;
        return;
      }
      if (b < options.delaysNs.size() && index < options.delaysNs[b].size() && options.delaysNs[b][index] > 0)
        std::this_thread::sleep_for(std::chrono::nanoseconds(options.delaysNs[b][index]));
      const Instruction &instruction = instructions[index];
      // Plain forms are GPU-scope release/acquire; .relaxed orders nothing, and .cta orders only
      // within its own block, which program order already does here: both lower to relaxed.
      const bool ordered = instruction.order == ir::SyncOrder::Default;
      const auto element = [&] {
        return counterBase_[instruction.counter] + static_cast<size_t>(instruction.counterIndex);
      };
      switch (instruction.kind) {
      case InstructionKind::Task:
        if (std::optional<std::string> error = executeTask(instruction)) {
          outcome.state = BlockState::Failed;
          outcome.error = errorLine(program_, b, index, *error);
          shared.abort.store(true, std::memory_order_relaxed);
          return;
        }
        break;
      case InstructionKind::Signal:
        shared.counters[element()].fetch_add(static_cast<uint32_t>(instruction.amount),
                                             ordered ? std::memory_order_release : std::memory_order_relaxed);
        break;
      case InstructionKind::Wait: {
        std::atomic<uint32_t> &counter = shared.counters[element()];
        const std::memory_order order = ordered ? std::memory_order_acquire : std::memory_order_relaxed;
        if (!spinUntil([&] { return counter.load(order) >= instruction.amount; }, shared, timeout)) {
          outcome.state = BlockState::StuckWait;
          return;
        }
        break;
      }
      case InstructionKind::Barrier: {
        // Generation counting: read the generation before arriving, so that the last arrival,
        // which needs this block's increment, cannot have moved it on already. The last arrival
        // resets the count before it publishes the new generation, so no block can arrive at the
        // next barrier into a stale count. acq_rel on the count and release/acquire on the
        // generation make everything before any arrival happen-before everything after the barrier.
        const uint32_t generation = shared.barrierGeneration.load(std::memory_order_acquire);
        if (options.recordTrace)
          shared.trace[shared.traceNext.fetch_add(1, std::memory_order_relaxed)] = {b, index};
        shared.lastProgress.store(nowTicks(), std::memory_order_relaxed);
        if (shared.barrierArrived.fetch_add(1, std::memory_order_acq_rel) + 1 == blocks) {
          shared.barrierArrived.store(0, std::memory_order_relaxed);
          shared.barrierGeneration.fetch_add(1, std::memory_order_release);
        } else if (!spinUntil([&] { return shared.barrierGeneration.load(std::memory_order_acquire) != generation; },
                              shared, timeout)) {
          outcome.state = BlockState::StuckBarrier;
          return;
        }
        continue; // recorded at its arrival
      }
      }
      if (options.recordTrace)
        shared.trace[shared.traceNext.fetch_add(1, std::memory_order_relaxed)] = {b, index};
      shared.lastProgress.store(nowTicks(), std::memory_order_relaxed);
    }
    outcome.pc = static_cast<uint32_t>(instructions.size());
    outcome.state = BlockState::Finished;
  };

  ExecutionResult result;
  std::vector<std::thread> threads;
  threads.reserve(blocks);
  std::string startFailure;
  for (uint32_t b = 0; b < blocks; ++b) {
    try {
      threads.emplace_back(runBlock, b);
    } catch (const std::system_error &failure) {
      startFailure = program_.sourceName + ": error: could not start the thread of block " + std::to_string(b) +
                     " of " + std::to_string(blocks) + ": " + failure.what();
      shared.abort.store(true, std::memory_order_relaxed);
      break;
    }
  }
  for (std::thread &thread : threads)
    thread.join();

  result.trace = std::move(shared.trace);
  result.trace.resize(std::min(result.trace.size(), shared.traceNext.load()));
  for (const BlockOutcome &outcome : outcomes)
    result.executed.push_back(outcome.pc);

  std::string errors;
  for (const BlockOutcome &outcome : outcomes)
    if (outcome.state == BlockState::Failed)
      errors += outcome.error + "\n";
  if (!startFailure.empty())
    errors += startFailure + "\n";
  if (!errors.empty()) {
    result.status = ExecutionStatus::Error;
    result.report = errors;
    return result;
  }
  if (!shared.timedOut.load())
    return result; // every block finished

  std::vector<std::string> running;
  for (uint32_t b = 0; b < blocks; ++b) {
    const BlockOutcome &outcome = outcomes[b];
    if (outcome.state == BlockState::StuckWait) {
      const Instruction &at = program_.blockPrograms[b][outcome.pc];
      const size_t element = counterBase_[at.counter] + static_cast<size_t>(at.counterIndex);
      result.stuck.push_back(
          {b, outcome.pc, false, program_.counterText(at), shared.counters[element].load(), at.amount});
    } else if (outcome.state == BlockState::StuckBarrier) {
      result.stuck.push_back({b, outcome.pc, true, {}, shared.barrierArrived.load(), blocks});
    } else if (outcome.state == BlockState::Stopped) {
      const Instruction &at = program_.blockPrograms[b][outcome.pc];
      running.push_back(location(program_, at) + ": note: block " + std::to_string(b) + " was stopped before " +
                        describe(program_, b, outcome.pc));
    }
  }
  result.status = ExecutionStatus::Deadlocked;
  result.report = deadlockReport(
      program_, "threads: no block completed an instruction for " + std::to_string(options.timeout.count()) + " ms",
      result.stuck, running);
  return result;
}

} // namespace amk::executor
