// The CPU executor: runs an elaborated core program on host buffers with the op references, either
// with one OS thread per block (real concurrency, atomic counters, a real grid barrier, a time-out
// that turns a hang into a report) or on one thread under a seeded adversarial scheduler (exact
// deadlock detection, a reproducible interleaving per seed). docs/executor.md is the user's guide.
#pragma once

#include "amk/ir/program.h"
#include "amk/executor/op_reference.h"
#include "amk/ir/result.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amk::executor {

enum class ExecutionMode {
  Threads,       // one std::thread per block; counters are std::atomic<uint32_t>
  Deterministic, // one thread; a seeded scheduler picks which block takes each step
};

struct ExecutorOptions {
  ExecutionMode mode = ExecutionMode::Threads;
  uint64_t seed = 0; // Deterministic: the scheduler's std::mt19937_64 seed
  // Threads: a run in which no block completes an instruction for this long is stopped and
  // reported as a deadlock (a slow task does not trip it: progress is the whole grid's).
  std::chrono::milliseconds timeout{10'000};
  bool recordTrace = true;
  // Threads: nanoseconds block k sleeps before its instruction i (delaysNs[k][i]; missing entries: none),
  // the CPU counterpart of the megakernel's delay injection. Deterministic mode has no time: a run with
  // delays there is an error.
  std::vector<std::vector<uint32_t>> delaysNs{};
};

enum class ExecutionStatus { Completed, Deadlocked, Error };

// One step of an execution: block `block` executed its instruction `instruction` (a task, a signal,
// a wait that passed, or its arrival at a barrier).
struct TraceStep {
  uint32_t block = 0;
  uint32_t instruction = 0;
  friend bool operator==(const TraceStep &, const TraceStep &) = default;
};

// A block that could not go on: at a wait (counter element, its final value and the threshold) or
// at a barrier (how many blocks reached it, out of how many).
struct StuckBlock {
  uint32_t block = 0;
  uint32_t instruction = 0; // index in the block's program
  bool atBarrier = false;
  std::string counter;    // a wait's counter element, "done[3]"
  uint64_t observed = 0;  // wait: the counter's value; barrier: blocks arrived
  uint64_t threshold = 0; // wait: the threshold; barrier: blocks in the grid
};

struct ExecutionResult {
  ExecutionStatus status = ExecutionStatus::Completed;
  std::string report;             // empty when completed: the deadlock or the error, one line per fact
  std::vector<StuckBlock> stuck;  // Deadlocked: every block that could not go on
  std::vector<uint64_t> executed; // per block: instructions completed
  std::vector<TraceStep> trace;   // the steps in the order they happened (Threads: completion order)
};

const char *statusName(ExecutionStatus status);

class Executor {
public:
  // Allocates one zeroed byte array per declared buffer and the program's counters.
  // WARNING: `program` must outlive the executor.
  explicit Executor(const ir::Program &program);

  const ir::Program &program() const { return program_; }

  // Sets a whole buffer (params, inputs, state: whatever the host provides) by name: raw bytes of
  // exactly the declared size, fp32 values rounded to the element type, or integers (i32/i8).
  std::optional<Error> setBytes(std::string_view name, std::span<const std::byte> bytes);
  std::optional<Error> setFloats(std::string_view name, std::span<const float> values);
  std::optional<Error> setInts(std::string_view name, std::span<const int32_t> values);

  // Any buffer, read back after a run; null when no buffer has that name.
  const HostBuffer *buffer(std::string_view name) const;
  HostBuffer *buffer(std::string_view name);

  // One launch. Counters start at 0, scratch and output buffers are zeroed first; params, inputs and
  // state keep their contents, so a KV cache in state buffers carries over to the next run.
  ExecutionResult run(const ExecutorOptions &options = {});

private:
  ExecutionResult runThreads(const ExecutorOptions &options);
  ExecutionResult runDeterministic(const ExecutorOptions &options);
  std::optional<std::string> executeTask(const ir::Instruction &instruction);
  std::optional<size_t> find(std::string_view name) const;

  const ir::Program &program_;
  std::vector<HostBuffer> buffers_;
  std::vector<size_t> counterBase_; // per counter: its first element in the flat counter array
  size_t counterElements_ = 0;
};

} // namespace amk::executor
