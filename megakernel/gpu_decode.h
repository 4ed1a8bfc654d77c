// Greedy decoding on the GPU with a certified schedule: bind the checkpoint's weights to the
// schedule's params, then one cooperative launch per token, the KV cache staying on the device.
// The schedule follows the planner's conventions: inputs `tok` and `pos`, outputs `next_token`
// and `logits` (lowering/plan.h).
#pragma once

#include "ir/program.h"
#include "megakernel/checkpoint.h"
#include "megakernel/gpu_runtime.h"
#include "megakernel/result.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace amk::megakernel {

struct DecodeStep {
  int32_t position = 0;
  int32_t input = 0;  // the token fed at this position
  int32_t output = 0; // next_token after this step
  double milliseconds = 0;
};

struct GpuDecodeResult {
  std::string device;
  int occupancy = 0;
  size_t sharedBytes = 0;
  std::vector<int32_t> continuation;      // the generated tokens
  std::vector<DecodeStep> steps;          // every launch, prompt included
  std::vector<std::vector<float>> logits; // per step, when asked for
};

struct GpuDecodeOptions {
  GpuOptions gpu;
  bool keepLogits = false;
  // Called after every step (progress on a terminal); may be empty.
  std::function<void(const DecodeStep &)> onStep;
};

Result<GpuDecodeResult> gpuDecode(const ir::Program &program, const std::string &canonicalText,
                                  const Checkpoint &checkpoint, const std::vector<int32_t> &prompt, int64_t newTokens,
                                  const GpuDecodeOptions &options);

} // namespace amk::megakernel
