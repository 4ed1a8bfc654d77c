// The GPU runtime of one certified schedule: takes the checker's certificate for it and refuses
// any other, compiles the emitted megakernel with NVRTC for the device at hand (cached by source and
// architecture), uploads its instruction tape and buffers, confirms the schedule's occupancy claim
// with the CUDA occupancy API, and launches it cooperatively under that certificate, turning a
// time-out or a refused launch recorded by the kernel into a report. CUDA types stay inside
// gpu_runtime.cpp.
#pragma once

#include "amk/ir/certificate.h"
#include "amk/ir/frontend.h"
#include "amk/ir/program.h"
#include "amk/megakernel/profile.h"
#include "amk/ir/result.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amk::megakernel {

struct GpuOptions {
  int device = 0;
  double timeoutSeconds = 5.0; // a wait or barrier spinning longer stops the kernel with a report
  uint32_t traceCapacity = 0;  // > 0: record each block's first traceCapacity instruction indices
  std::string cacheDirectory;  // compiled kernels; empty: $XDG_CACHE_HOME/amk or ~/.cache/amk
  // Shared memory per block for staged weights (docs/megakernel.md): the ring gets at most this, and
  // never more than the tasks leave free; 0 reads every weight from global memory.
  size_t stageBytes = 160 * 1024;
};


struct LaunchResult {
  bool completed = false;
  bool timedOut = false;                    // a wait or barrier passed the watchdog's time-out
  std::string report;                       // why not: the block, instruction, counter, value and threshold
  double milliseconds = 0;                  // kernel time, CUDA events
  std::vector<std::vector<uint32_t>> trace; // per block, when tracing
  std::vector<executor::ProfiledInstruction> profile; // every executed instruction, when profiling
};

class GpuSchedule {
public:
  // `schedule` must be well-formed and outlive the GpuSchedule; `certificate` is the checker's verdict
  // on it (checker::certify). Refused, before any CUDA call, unless the certificate certifies this
  // schedule (the hash of its canonical text) and comes from this build's checker (ir::kCheckerVersion).
  // Every launch runs under that certificate: the kernel checks it against the tape's header.
  static Result<std::unique_ptr<GpuSchedule>> create(const ir::Schedule &schedule, const ir::Certificate &certificate,
                                                     const GpuOptions &options);
  // amk-replay's opt-in, and no one else's: a schedule the checker rejected, launched under the
  // watchdog to show that its violations are real. `verdict` (the witness's) must still name this
  // schedule; its verdict and checker version are not checked.
  static Result<std::unique_ptr<GpuSchedule>>
  createRejectedForReplay(const ir::Schedule &schedule, const ir::Certificate &verdict, const GpuOptions &options);
  ~GpuSchedule();

  std::optional<Error> setBytes(std::string_view buffer, std::span<const std::byte> bytes);
  std::optional<Error> setInts(std::string_view buffer, std::span<const int32_t> values);
  Result<std::vector<std::byte>> readBytes(std::string_view buffer) const;
  std::optional<Error> zeroBuffer(std::string_view buffer);
  // Zeroes every scratch and output buffer before the next launch, as the CPU executor does before
  // each run (the decode loop's launches; a replay uploads every buffer itself).
  std::optional<Error> zeroScratchAndOutputs();

  // Zeroes counters, the barrier and the error record, then one cooperative launch. A launch the
  // kernel refuses (AMK_BAD_LAUNCH: its grid, block size or tape is not the certified one) is an
  // Error naming the check that failed, with expected and got.
  Result<LaunchResult> launch();
  // Nanoseconds to sleep before each tape instruction (per block, per instruction); empty: none.
  std::optional<Error> setDelays(const std::vector<std::vector<uint32_t>> &delaysNs);
  // While on, every launch records each instruction's start and end (%globaltimer) in its result.
  std::optional<Error> setProfiling(bool on);

  std::string deviceName() const;
  int multiprocessors() const;
  int occupancy() const; // blocks per SM the kernel can keep resident
  size_t sharedMemoryBytes() const;
  const std::string &kernelSource() const;

  struct State;

private:
  static Result<std::unique_ptr<GpuSchedule>> make(const ir::Schedule &schedule, const ir::Certificate &certificate,
                                                   const GpuOptions &options, ir::LaunchPolicy policy);
  explicit GpuSchedule(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// NVRTC compilation of an emitted kernel source for `arch` ("sm_90") to a cubin, cached under
// `cacheDirectory` (empty: the default) by source, headers and architecture. Needs no GPU.
Result<std::vector<char>> compileMegakernel(const std::string &source, const std::string &arch,
                                            const std::string &cacheDirectory = "");

// The NVRTC headers of the device interpreter (megakernel/device/amk_device.cuh, megakernel/device/amk_abi.h)
// and the op table it takes its op ids from (ir/ops.def, included as "ops.def").
std::vector<std::pair<std::string, std::string>> deviceHeaders();

} // namespace amk::megakernel
