// What `amk-run` does with a schedule, as a library call (on the GPU, or on the CPU executor): plan (or load) a
// schedule for a checkpoint, have it certified by the caller's checker, run greedy decoding with the megakernel, print
// the tokens and the per-step latency, and optionally compare them with expected tokens (HF's).
#pragma once

#include "ir/program.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace amk::megakernel {

struct GpuRunOptions {
  std::string modelDirectory;
  std::string schedulePath; // empty: plan one with the options below
  std::string strategy = "fused";
  std::string target = "h100";
  int64_t blocks = 0, rows = 16, splits = 4, context = 0;
  std::vector<int64_t> prompt;
  int64_t newTokens = 16;
  std::vector<int64_t> expect; // tokens the continuation must equal (e.g. HF's); empty: no check
  std::string expectFile;      // or read them from an hf_greedy.json ("tokens", "prompt")
  double timeoutSeconds = 5.0;
  bool quiet = false;
  std::string checkerVersion;
  bool cpu = false; // run the schedule with the CPU executor (threads mode) instead of the megakernel
};

// The checker's verdict on a schedule: nullopt when certified, else the rejection to print.
using Certifier = std::function<std::optional<std::string>(const ir::Program &)>;

enum class GpuRunOutcome { Ok, Mismatch, Refused, InputError, InternalError };

GpuRunOutcome runGpuRunTool(const GpuRunOptions &options, const Certifier &certify, std::ostream &out,
                            std::ostream &err);

} // namespace amk::megakernel
