// Greedy decoding with one cooperative launch per position.
#include "megakernel/gpu_decode.h"

#include "megakernel/weights.h"

#include <algorithm>
#include <cstring>

namespace amk::megakernel {

Result<GpuDecodeResult> gpuDecode(const ir::Program &program, const std::string &canonicalText,
                                  const Checkpoint &checkpoint, const std::vector<int32_t> &prompt, int64_t newTokens,
                                  const GpuDecodeOptions &options) {
  for (const char *name : {"tok", "pos", "next_token", "logits"}) {
    bool found = false;
    for (const ir::Buffer &b : program.buffers)
      found = found || b.name == name;
    if (!found)
      return Error(program.sourceName, std::string("the schedule has no buffer '") + name +
                                           "' (a decode schedule reads tok and pos and writes logits and next_token)");
  }
  if (prompt.empty())
    return Error("", "the prompt is empty");
  Result<std::unique_ptr<GpuSchedule>> created = GpuSchedule::create(program, canonicalText, options.gpu);
  if (!created)
    return created.error();
  GpuSchedule &gpu = **created;
  Result<std::vector<ParamBytes>> params = bindParams(program, checkpoint);
  if (!params)
    return params.error();
  for (const ParamBytes &p : *params)
    if (std::optional<Error> e = gpu.setBytes(p.param, p.bytes))
      return *e;

  GpuDecodeResult result;
  result.device = gpu.deviceName();
  result.occupancy = gpu.occupancy();
  result.sharedBytes = gpu.sharedMemoryBytes();
  // The prompt's positions, then one step per generated token but the last.
  const int64_t steps = static_cast<int64_t>(prompt.size()) + std::max<int64_t>(newTokens - 1, 0);
  int32_t token = prompt[0];
  for (int64_t pos = 0; pos < steps; ++pos) {
    if (pos < static_cast<int64_t>(prompt.size()))
      token = prompt[static_cast<size_t>(pos)];
    const int32_t position = static_cast<int32_t>(pos);
    if (auto e = gpu.setInts("tok", std::span<const int32_t>(&token, 1)))
      return *e;
    if (auto e = gpu.setInts("pos", std::span<const int32_t>(&position, 1)))
      return *e;
    Result<LaunchResult> launched = gpu.launch();
    if (!launched)
      return launched.error();
    if (!launched->completed)
      return Error(program.sourceName,
                   "the megakernel stopped at position " + std::to_string(pos) + ": " + launched->report);
    Result<std::vector<std::byte>> next = gpu.readBytes("next_token");
    if (!next)
      return next.error();
    int32_t output = 0;
    std::memcpy(&output, next->data(), 4);
    DecodeStep step{position, token, output, launched->milliseconds};
    result.steps.push_back(step);
    if (options.onStep)
      options.onStep(step);
    if (options.keepLogits) {
      Result<std::vector<std::byte>> logits = gpu.readBytes("logits");
      if (!logits)
        return logits.error();
      std::vector<float> values(logits->size() / 4);
      std::memcpy(values.data(), logits->data(), values.size() * 4);
      result.logits.push_back(std::move(values));
    }
    if (pos + 1 >= static_cast<int64_t>(prompt.size())) {
      if (static_cast<int64_t>(result.continuation.size()) < newTokens)
        result.continuation.push_back(output);
      token = output;
    }
  }
  return result;
}

} // namespace amk::megakernel
