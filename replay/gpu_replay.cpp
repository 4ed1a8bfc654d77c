// GPU witness replay over the megakernel runtime. Each launch starts from the same seeded buffers as
// the CPU replay (the runtime keeps device buffers between launches, so every one is uploaded again),
// with the watchdog armed; races are ordered by sleeping before one access, then the other.
#include "amk/replay/gpu_replay.h"

#ifdef AMK_HAVE_GPU_RUNTIME
#include "amk/megakernel/gpu_runtime.h"
#endif

#include <algorithm>
#include <cstring>

namespace amk::replay {

bool GpuReplayResult::allExhibited() const {
  return error.empty() && std::all_of(violations.begin(), violations.end(),
                                      [](const GpuViolationReplay &v) { return v.exhibited || !v.applicable; });
}

bool gpuReplayBuilt() {
#ifdef AMK_HAVE_GPU_RUNTIME
  return true;
#else
  return false;
#endif
}

#ifndef AMK_HAVE_GPU_RUNTIME

GpuReplayResult replayOnGpu(const ir::Schedule &, const Witness &, const ReplayResult &, const ReplayOptions &,
                            const GpuReplayOptions &) {
  GpuReplayResult result;
  result.error = "this build has no GPU runtime (configure with the CUDA toolkit to build it); the CPU replay "
                 "runs without --gpu";
  return result;
}

#else

namespace {

using megakernel::GpuSchedule;
using megakernel::LaunchResult;

// Uploads the seeded data every launch starts from (scratch and outputs zero, as the CPU replay).
std::optional<std::string> upload(GpuSchedule &gpu, const ir::Program &program, uint64_t seed) {
  Simulator data(program);
  data.fillRandom(seed);
  for (size_t i = 0; i < program.buffers.size(); ++i)
    if (std::optional<amk::Error> error = gpu.setBytes(program.buffers[i].name, data.buffers()[i].bytes()))
      return error->render();
  return std::nullopt;
}

struct Launch {
  std::string error;
  LaunchResult result;
  std::vector<std::vector<std::byte>> buffers; // every buffer after the launch
};

Launch launchOnce(GpuSchedule &gpu, const ir::Program &program, uint64_t seed,
                  const std::vector<std::vector<uint32_t>> &delays) {
  Launch launch;
  if (std::optional<std::string> error = upload(gpu, program, seed)) {
    launch.error = *error;
    return launch;
  }
  if (std::optional<amk::Error> error = gpu.setDelays(delays)) {
    launch.error = error->render();
    return launch;
  }
  amk::Result<LaunchResult> result = gpu.launch();
  if (!result) {
    launch.error = result.error().render();
    return launch;
  }
  launch.result = std::move(*result);
  for (const ir::Buffer &buffer : program.buffers) {
    amk::Result<std::vector<std::byte>> bytes = gpu.readBytes(buffer.name);
    if (!bytes) {
      launch.error = bytes.error().render();
      return launch;
    }
    launch.buffers.push_back(std::move(*bytes));
  }
  return launch;
}

// Where each block was when the kernel stopped, from the trace (the instructions each block began).
void notePositions(const ir::Program &program, const LaunchResult &result, std::vector<std::string> &notes) {
  for (size_t k = 0; k < result.trace.size() && k < program.blockPrograms.size(); ++k) {
    const auto &trace = result.trace[k];
    const size_t length = program.blockPrograms[k].size();
    if (trace.empty()) {
      notes.push_back("block " + std::to_string(k) + " began no instruction");
      continue;
    }
    uint32_t last = trace.back();
    if (trace.size() == length && last + 1 == length)
      notes.push_back("block " + std::to_string(k) + " began every instruction (last: " +
                      program.instructionText(static_cast<uint32_t>(k), last, ir::InstructionStyle::SourceLine) + ")");
    else
      notes.push_back("block " + std::to_string(k) + " stopped in instruction " + std::to_string(last) + ", " +
                      program.instructionText(static_cast<uint32_t>(k), last, ir::InstructionStyle::SourceLine));
  }
}

int64_t differingElements(const ir::Program &program, const ir::Region &region, const std::vector<std::byte> &x,
                          const std::vector<std::byte> &y) {
  const size_t width = ir::ast::dtypeBytes(program.buffers[region.buffer].dtype);
  int64_t differing = 0;
  executor::forEachRun(region, program.buffers[region.buffer].shape, [&](int64_t first, int64_t count) {
    for (int64_t e = first; e < first + count; ++e)
      differing += std::memcmp(x.data() + e * width, y.data() + e * width, width) != 0;
  });
  return differing;
}

GpuViolationReplay replayStuckOnGpu(GpuSchedule &gpu, const ir::Program &program, Rule rule,
                                    const ReplayOptions &options, const GpuReplayOptions &settings) {
  GpuViolationReplay out;
  out.rule = rule;
  Launch launch = launchOnce(gpu, program, options.seed, {});
  if (!launch.error.empty()) {
    out.summary = "the launch failed: " + launch.error;
    return out;
  }
  if (launch.result.completed) {
    out.summary = "the launch completed in " + std::to_string(launch.result.milliseconds) + " ms: no hang";
    return out;
  }
  out.exhibited = launch.result.report.find("time-out") != std::string::npos;
  out.summary = "the watchdog stopped the kernel after " + std::to_string(settings.timeoutSeconds) +
                " s: " + launch.result.report;
  notePositions(program, launch.result, out.notes);
  return out;
}

// A launch shows only what it leaves, not what a task read. The first seed from options.seed on under
// which the CPU replay's two orders end with different buffers, so that the GPU's two launches can
// differ too; nullopt when none of the next few does.
std::optional<uint64_t> seedThatShows(const ir::Program &program, const Witness &witness, size_t violation,
                                      const ReplayOptions &options) {
  Witness one = witness;
  one.violations = {witness.violations[violation]};
  for (uint64_t seed = options.seed; seed < options.seed + 16; ++seed) {
    ReplayOptions tried = options;
    tried.seed = seed;
    ReplayResult result = replayWitness(program, one, tried);
    if (result.violations.front().endStatesDiffer)
      return seed;
  }
  return std::nullopt;
}

GpuViolationReplay replayRaceOnGpu(GpuSchedule &gpu, const ir::Program &program, const Witness &witness,
                                   size_t violation, const ViolationReplay &cpu, const ReplayOptions &options,
                                   const GpuReplayOptions &settings) {
  GpuViolationReplay out;
  out.rule = Rule::Race;
  const WitnessRace &race = *cpu.race;
  if (cpu.ordering != RaceOrdering::Interleaving) {
    out.applicable = false;
    out.summary = "no delay can run block " + std::to_string(race.second.block) + "'s access first: it needs block " +
                  std::to_string(race.first.block) +
                  "'s progress past its own access (the CPU replay showed the race as a stale read, which the GPU "
                  "may produce but replay cannot force)";
    return out;
  }
  const std::optional<uint64_t> shows = seedThatShows(program, witness, violation, options);
  if (!shows) {
    out.applicable = false;
    out.summary = "in the CPU replay the two orders end with the same buffers (they differ only in what a task "
                  "read, or both writes store the same bits), and a launch shows only what it leaves";
    return out;
  }
  const uint64_t seed = *shows;
  if (seed != options.seed)
    out.notes.push_back("launched with data seed " + std::to_string(seed) + ": under seed " +
                        std::to_string(options.seed) + " the two orders end with the same buffers");
  std::vector<std::vector<uint32_t>> delays(program.blockPrograms.size());
  for (size_t k = 0; k < delays.size(); ++k)
    delays[k].assign(program.blockPrograms[k].size(), 0);
  delays[race.second.block][race.second.index] = settings.delayNs;
  Launch first = launchOnce(gpu, program, seed, delays);
  delays[race.second.block][race.second.index] = 0;
  delays[race.first.block][race.first.index] = settings.delayNs;
  Launch second = launchOnce(gpu, program, seed, delays);
  if (!first.error.empty() || !second.error.empty()) {
    out.summary = "a launch failed: " + first.error + second.error;
    return out;
  }
  if (!first.result.completed || !second.result.completed)
    out.notes.push_back("a launch did not complete: " + first.result.report + second.result.report);
  // The tasks' outputs first (each region once), then every other writable buffer.
  const ir::Instruction &taskA = program.blockPrograms[race.first.block][race.first.index];
  const ir::Instruction &taskB = program.blockPrograms[race.second.block][race.second.index];
  std::vector<ir::Region> regions = taskA.outputs;
  for (const ir::Region &region : taskB.outputs)
    if (std::find(regions.begin(), regions.end(), region) == regions.end())
      regions.push_back(region);
  for (uint32_t i = 0; i < program.buffers.size(); ++i) {
    if (program.buffers[i].readOnly())
      continue;
    ir::Region whole;
    whole.buffer = i;
    whole.lo.assign(program.buffers[i].shape.size(), 0);
    whole.hi = program.buffers[i].shape;
    regions.push_back(std::move(whole));
  }
  int64_t total = 0;
  for (const ir::Region &region : regions) {
    int64_t n = differingElements(program, region, first.buffers[region.buffer], second.buffers[region.buffer]);
    if (n)
      out.notes.push_back(program.regionText(region) + " differs in " + std::to_string(n) + " of " +
                          std::to_string(region.elements()) + " elements at the end of the two launches");
    total += n;
  }
  out.exhibited = total > 0;
  out.summary = out.exhibited ? "a " + std::to_string(settings.delayNs) +
                                    " ns sleep before one access, then the "
                                    "other, leaves different values"
                              : "both launches leave the same values in every writable buffer";
  return out;
}

} // namespace

GpuReplayResult replayOnGpu(const ir::Schedule &schedule, const Witness &witness, const ReplayResult &cpu,
                            const ReplayOptions &options, const GpuReplayOptions &settings) {
  GpuReplayResult result;
  const ir::Program &program = *schedule.program;
  megakernel::GpuOptions gpuOptions;
  gpuOptions.device = settings.device;
  gpuOptions.timeoutSeconds = settings.timeoutSeconds;
  gpuOptions.cacheDirectory = settings.cacheDirectory;
  size_t longest = 0;
  for (const auto &code : program.blockPrograms)
    longest = std::max(longest, code.size());
  gpuOptions.traceCapacity = static_cast<uint32_t>(longest);
  // The witness is the checker's rejection of this schedule: the runtime's replay opt-in launches it
  // under the watchdog, and still refuses a witness of another schedule.
  ir::Certificate rejection;
  rejection.scheduleHash = witness.contentHash;
  rejection.checkerVersion = witness.checker;
  for (const WitnessViolation &v : witness.violations)
    rejection.rejection += std::string(ruleId(v.rule)) + ": " + v.message + "\n";
  amk::Result<std::unique_ptr<GpuSchedule>> created =
      GpuSchedule::createRejectedForReplay(schedule, rejection, gpuOptions);
  if (!created) {
    result.error = created.error().render();
    return result;
  }
  GpuSchedule &gpu = **created;
  result.device = gpu.deviceName();
  for (size_t i = 0; i < witness.violations.size() && i < cpu.violations.size(); ++i) {
    const WitnessViolation &violation = witness.violations[i];
    switch (violation.rule) {
    case Rule::CoResidency: {
      GpuViolationReplay out;
      out.rule = violation.rule;
      out.applicable = false;
      out.summary = "not replayable on a GPU: a cooperative launch runs only when every block is resident, so the "
                    "hang needs the CPU replay's bounded residency";
      result.violations.push_back(std::move(out));
      break;
    }
    case Rule::BarrierMismatch:
    case Rule::Deadlock:
      result.violations.push_back(replayStuckOnGpu(gpu, program, violation.rule, options, settings));
      break;
    case Rule::Race:
      result.violations.push_back(replayRaceOnGpu(gpu, program, witness, i, cpu.violations[i], options, settings));
      break;
    }
  }
  return result;
}

#endif

std::string renderGpuText(const GpuReplayResult &result, const ir::Program &program) {
  const std::string &file = program.sourceName;
  if (!result.error.empty())
    return file + ": gpu: error: " + result.error + "\n";
  std::string out;
  for (const GpuViolationReplay &v : result.violations) {
    out += file + ": " + ruleId(v.rule) + " " + ruleName(v.rule) + ": " +
           (v.exhibited    ? "exhibited on the GPU (" + result.device + "): "
            : v.applicable ? "not exhibited on the GPU: "
                           : "not replayed on the GPU: ") +
           v.summary + "\n";
    for (const std::string &note : v.notes)
      out += file + ": note: gpu: " + note + "\n";
  }
  return out;
}

} // namespace amk::replay
