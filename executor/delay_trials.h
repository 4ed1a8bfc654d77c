// Delayed relaunches of a decode step, the run-time side of "an accepted schedule behaves as
// certified": a certified schedule has no race and no deadlock, so however its blocks are slowed down,
// a launch must complete and write exactly the same bytes. After a decode run the runner still holds
// the last step's inputs and the state that step read, so that step can be launched again; it is
// idempotent (it writes its own KV position with the values it wrote before and reads the cache after
// writing it; counters, scratch and outputs restart from zero at every launch).
#pragma once

#include "amk/ir/program.h"
#include "amk/executor/decode.h"
#include "amk/ir/result.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace amk::executor {

struct DelayTrialOptions {
  int64_t trials = 0;
  uint32_t maxDelayNs = 10'000; // the device sleeps at most about 1 ms per __nanosleep
  uint64_t seed = 1;
};

struct DelayReport {
  int64_t trials = 0;
  int64_t identical = 0; // completed with every output and state buffer bit-identical
  int64_t timedOut = 0;  // stopped by the watchdog
  int64_t differing = 0; // completed, but some output or state buffer differs
  int64_t failed = 0;    // stopped by a task (an index out of range)
  uint32_t largestDelayNs = 0;
  double delayedInstructionsPerLaunch = 0;
  // Set when relaunching the step without delays does not reproduce it: then the trials compare
  // against that relaunch, but the step is not idempotent and the report fails.
  std::optional<std::string> notIdempotent;
  std::vector<std::string> failures; // one line per trial that was not bit-identical

  bool ok() const { return identical == trials && !notIdempotent; }
};

// One trial's delays, per block and instruction of `program`: each block is slowed with probability
// 1/2; in a slowed block each instruction sleeps with probability 2^-u, u drawn uniformly from [0, 8)
// once per trial, for a uniform 1..maxDelayNs nanoseconds. Deterministic for a generator state.
std::vector<std::vector<uint32_t>> drawDelays(const ir::Program &program, uint32_t maxDelayNs, std::mt19937_64 &random);

// Empty when `actual` and `expected` hold the same bytes, else a line naming the buffer, how many
// elements differ and the first of them: "logits: 3 of 49152 elements differ, first [17]: 0.25 vs 0.2490234".
std::optional<std::string> describeDifference(const ir::Buffer &buffer, std::span<const std::byte> actual,
                                              std::span<const std::byte> expected);

// The output and state buffers of `program`: what a step writes that the trials compare.
std::vector<const ir::Buffer *> comparedBuffers(const ir::Program &program);

// Relaunches the step `runner` launched last: once without delays (it must reproduce that step's
// outputs and state), then `options.trials` times with drawDelays delays, each compared byte for byte
// with the undelayed relaunch. Leaves the runner without delays. An error is a failure to launch or
// read at all, not a trial that differs.
Result<DelayReport> runDelayTrials(StepRunner &runner, const DelayTrialOptions &options);

// "DELAYED: 20 of 20 launches bit-identical, 0 watchdog, 0 differing, 0 failed; ...": the summary line.
std::string summaryLine(const DelayReport &report, const DelayTrialOptions &options);

} // namespace amk::executor
