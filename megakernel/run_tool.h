// What amk-run does, as a library call: load a checkpoint, run the prompt and print the greedy
// continuation with the time of every step. Only main turns the outcome into an exit code.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace amk::megakernel {

struct RunOptions {
  // Where it runs and on which checkpoint: `--cpu DIR` runs on the CPU. Without a schedule (the only
  // form so far) that is the reference forward pass; `--schedule` will select the CPU executor.
  std::string cpuModelDirectory;
  std::vector<int64_t> tokens; // the prompt
  int64_t newTokens = 16;
  bool roundToBf16 = false; // the reference rounds activations to bf16 (docs/numerics.md)
  bool quiet = false;       // print only the continuation
};

enum class RunOutcome { Ok, InputError, InternalError };

RunOutcome runRunTool(const RunOptions &options, std::ostream &out, std::ostream &err);

} // namespace amk::megakernel
