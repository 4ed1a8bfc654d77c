// Witness replay on the GPU (amk-replay --gpu): launches the rejected schedule with the megakernel
// runtime (megakernel/gpu_runtime.h) under its watchdog, so that a deadlock ends as a time-out report,
// and orders a race's two accesses by delay injection (a sleep before the access that must come
// late), comparing what the two launches leave. It needs the CPU replay's result to know which races
// an interleaving can reorder. Without a GPU runtime in the build, or without a driver, it says so.
#pragma once

#include "amk/ir/frontend.h"
#include "amk/ir/program.h"
#include "amk/replay/witness.h"
#include "amk/replay/witness_replay.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace amk::replay {

struct GpuReplayOptions {
  int device = 0;
  double timeoutSeconds = 2.0; // the watchdog: a wait or barrier spinning longer stops the kernel
  // The sleep before the access that must come late. The device's __nanosleep sleeps at most about
  // a millisecond, which is ample for the small schedules replay is for.
  uint32_t delayNs = 1'000'000;
  std::string cacheDirectory; // compiled kernels; empty: the runtime's default
};

struct GpuViolationReplay {
  Rule rule = Rule::Race;
  // False where a GPU cannot be made to show it (co-residency; a race that only a stale read shows):
  // the CPU replay stands alone then, and the exit code does not count it.
  bool applicable = true;
  bool exhibited = false;
  std::string summary;
  std::vector<std::string> notes;
};

struct GpuReplayResult {
  std::string error;  // set when nothing could be launched (no GPU runtime, no driver, refused grid)
  std::string device; // the GPU's name
  std::vector<GpuViolationReplay> violations;
  bool allExhibited() const;
};

// True when this build has the GPU runtime (the CUDA toolkit was found at configure time).
bool gpuReplayBuilt();

// `schedule` is the well-formed schedule the witness is for (the witness's content hash must name
// it: the runtime launches a rejected schedule only under its own witness); `cpu` is replayWitness's
// result for the same witness, with the same seed.
GpuReplayResult replayOnGpu(const ir::Schedule &schedule, const Witness &witness, const ReplayResult &cpu,
                            const ReplayOptions &options, const GpuReplayOptions &gpu);

std::string renderGpuText(const GpuReplayResult &result, const ir::Program &program);

} // namespace amk::replay
