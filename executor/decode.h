// Decoding with a certified decode-step schedule, on whatever runs it: the megakernel on a GPU
// (gpu_decode.h) or the CPU executor (here). A StepRunner holds one schedule with its weights bound and
// its state (the KV cache) kept between launches; `decode` feeds it one token per launch, greedily or
// teacher-forced, and collects next_token and the logits of every step. The schedule follows the
// planner's conventions (lowering/plan.h): inputs `tok` and `pos`, outputs `next_token` and `logits`.
#pragma once

#include "amk/ir/program.h"
#include "amk/model/checkpoint.h"
#include "amk/ir/result.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amk::executor {

// One executed instruction of a profiled launch.
struct ProfiledInstruction {
  uint32_t block = 0, index = 0; // the block and the instruction's index in its sequence
  int kind = 0, op = 0;          // AmkKind (megakernel/device/amk_abi.h); ir::OpId of a task
  uint32_t site = 0;             // source instruction
  uint64_t startNs = 0, endNs = 0;
};

enum class LaunchStatus {
  Completed,
  TimedOut, // a wait or barrier spun past the watchdog (GPU) or no block progressed (CPU executor)
  Failed,   // a task stopped the run (an index out of range)
};

struct StepLaunch {
  LaunchStatus status = LaunchStatus::Completed;
  std::string report; // why not completed: the block, the instruction and what it waited for
  double milliseconds = 0;
};

// One schedule loaded for execution. A launch runs every block's instructions once: counters start at
// zero, scratch and output buffers are zeroed first, params, inputs and state keep their contents.
class StepRunner {
public:
  virtual ~StepRunner() = default;

  virtual const ir::Program &program() const = 0;
  // Where it runs, for the report: "NVIDIA H200, occupancy 1, 9232 bytes of shared memory per block".
  virtual std::string description() const = 0;
  virtual std::optional<Error> setInts(std::string_view buffer, std::span<const int32_t> values) = 0;
  // Nanoseconds to sleep before each instruction, per block and instruction; empty: none.
  virtual std::optional<Error> setDelays(const std::vector<std::vector<uint32_t>> &delaysNs) = 0;
  virtual Result<StepLaunch> launch() = 0;
  // A whole buffer's bytes, in its element type.
  virtual Result<std::vector<std::byte>> readBytes(std::string_view buffer) const = 0;
  // One launch that records every instruction's start and end; runners without clocks refuse.
  virtual Result<std::vector<ProfiledInstruction>> profiledLaunch() {
    return Error("amk-run", "profiling needs the GPU runtime");
  }
};

// The CPU executor in threads mode (one thread per block) with `checkpoint`'s weights bound to the
// program's params; `timeout`: how long no block may progress before a launch counts as timed out.
// `program` must outlive the runner.
Result<std::unique_ptr<StepRunner>> makeExecutorStepRunner(const ir::Program &program, const model::Checkpoint &checkpoint,
                                                           std::chrono::milliseconds timeout);

// Which token each step feeds. Greedy: the prompt, position i getting prompt[i], then each step's
// next_token, until `newTokens` tokens are generated (the last one is not fed: prompt + newTokens - 1
// steps). Teacher forcing: exactly `tokens`, one per step, whatever the schedule predicts.
struct DecodeFeed {
  enum class Mode { Greedy, TeacherForced };
  Mode mode = Mode::Greedy;
  std::vector<int32_t> tokens; // the prompt, or the forced sequence
  int64_t newTokens = 0;       // greedy only

  static DecodeFeed greedy(std::vector<int32_t> prompt, int64_t newTokens);
  static DecodeFeed teacherForced(std::vector<int32_t> sequence);
  int64_t steps() const;
};

struct DecodeStep {
  int32_t position = 0;
  int32_t input = 0;  // the token fed at this position
  int32_t output = 0; // next_token after this step
  double milliseconds = 0;
};

struct DecodeRun {
  std::vector<DecodeStep> steps;     // every launch, prompt included
  std::vector<int32_t> continuation; // greedy: the generated tokens; teacher forcing: empty
  int64_t vocab = 0;                 // elements of the logits buffer
  std::vector<float> logits;         // when kept: steps x vocab, row-major, widened to fp32
};

// The q-quantile (0..1) of v by nearest rank; 0 for an empty v.
double percentile(std::vector<double> v, double q);

// Kernel times in microseconds of `steps` launches of one step at KV length `kv` (position kv - 1,
// token 1), after `warmup` launches that are not kept. A launch that does not complete is an error.
Result<std::vector<double>> timeSteps(StepRunner &runner, int64_t kv, int64_t steps, int64_t warmup = 20);

// Runs `feed` from position 0 (the runner's state is assumed fresh). A launch that does not complete
// is an error naming the position and the runner's report.
Result<DecodeRun> decode(StepRunner &runner, const DecodeFeed &feed, bool keepLogits);

} // namespace amk::executor
