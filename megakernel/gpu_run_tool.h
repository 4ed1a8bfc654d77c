// What `amk-run` does with a schedule, as a library call (on the GPU, or on the CPU executor): plan (or load) a
// schedule for a checkpoint, have it certified by the caller's checker, decode with it (greedily, or teacher-forced
// on a given sequence), print the tokens and the per-step latency, and optionally compare them with expected tokens
// (HF's), write every step's logits to a .npy file, and relaunch the last step with random delays.
#pragma once

#include "amk/ir/certificate.h"
#include "amk/ir/frontend.h"
#include "amk/model/checkpoint.h"
#include "amk/executor/decode.h"
#include "amk/executor/delay_trials.h"
#include "amk/megakernel/gpu_runtime.h"

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
  std::string weights = "model"; // "int8": W8A16 projections, quantised at load time
  int64_t blocks = 0, rows = 16, splits = 4, context = 0, threads = 256;
  std::vector<int64_t> prompt;
  int64_t newTokens = 16;
  std::vector<int64_t> expect; // tokens the continuation must equal (e.g. HF's); empty: no check
  std::string expectFile;      // or read them from an hf_greedy.json / hf_zoo.json ("tokens", "prompt")
  // Teacher forcing: feed exactly these tokens, position i getting token i, instead of greedy feedback
  // (then prompt, newTokens and the expected tokens are not used and must be empty).
  std::vector<int64_t> forceTokens;
  std::string logitsOut; // write every step's logits here: .npy, float32 [steps, vocab]
  executor::DelayTrialOptions delays;
  // After decoding: read every buffer back and run each task of the last step again with its CPU
  // reference on the device's inputs (megakernel/op_check.h); any element off its tolerance fails.
  bool opCheck = false;
  // After decoding: time one step at each of these KV lengths (position L - 1), benchSteps launches
  // each after 20 warm-up launches, kernel time by CUDA events; reports median, p10 and p90.
  std::vector<int64_t> benchKv;
  int64_t benchSteps = 200;
  // With benchKv: one profiled launch per KV length after its timing (megakernel/profile.h); the
  // summary is printed and every instruction written to <profilePrefix>.kv<N>.tsv.
  std::string profilePrefix;
  double timeoutSeconds = 5.0;
  // Shared memory per block for weights staged ahead of their tasks (GpuOptions::stageBytes).
  size_t stageBytes = GpuOptions{}.stageBytes;
  bool quiet = false;
  bool cpu = false; // run the schedule with the CPU executor (threads mode) instead of the megakernel
};

// The checker's verdict on a well-formed schedule, as the certificate the GPU runtime takes
// (checker::certify); a rejected one carries the rejection to print.
using Certifier = std::function<ir::Certificate(const ir::Schedule &)>;

enum class GpuRunOutcome {
  Ok,
  Mismatch,     // the continuation differs from the expected tokens
  DelayFailure, // a delayed relaunch timed out, stopped or wrote different bytes
  OpMismatch,   // --op-check: a device op's output differs from its CPU reference beyond tolerance
  Refused,      // the checker rejects the schedule
  InputError,
  InternalError,
};

// Reads "tokens" into `expect` (and "prompt", when `prompt` is empty) from an hf_greedy.json or
// hf_zoo.json record; an error names the file and what is missing.
std::optional<Error> readExpectFile(const std::string &path, std::vector<int32_t> &expect,
                                    std::vector<int32_t> &prompt);

// The megakernel on the GPU, or with `cpu` (the only choice in a build without the GPU runtime) the
// CPU executor, running the well-formed `schedule` with the checkpoint's weights. The GPU refuses it
// unless `certificate` certifies it (GpuSchedule::create); the schedule must outlive the runner.
Result<std::unique_ptr<executor::StepRunner>> makeStepRunner(bool cpu, double timeoutSeconds,
                                                             const ir::Schedule &schedule,
                                                             const ir::Certificate &certificate,
                                                             const model::Checkpoint &checkpoint,
                                                             size_t stageBytes = GpuOptions{}.stageBytes);

GpuRunOutcome runGpuRunTool(const GpuRunOptions &options, const Certifier &certify, std::ostream &out,
                            std::ostream &err);

} // namespace amk::megakernel
