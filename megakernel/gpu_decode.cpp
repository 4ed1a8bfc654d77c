// GpuSchedule behind the StepRunner interface.
#include "amk/megakernel/gpu_decode.h"

#include "amk/executor/weights.h"

namespace amk::megakernel {

namespace {

class GpuStepRunner final : public executor::StepRunner {
public:
  GpuStepRunner(const ir::Program &program, std::unique_ptr<GpuSchedule> gpu)
      : program_(program), gpu_(std::move(gpu)) {}

  const ir::Program &program() const override { return program_; }

  std::string description() const override {
    return gpu_->deviceName() + ", occupancy " + std::to_string(gpu_->occupancy()) + ", " +
           std::to_string(gpu_->sharedMemoryBytes()) + " bytes of shared memory per block";
  }

  std::optional<Error> setInts(std::string_view buffer, std::span<const int32_t> values) override {
    return gpu_->setInts(buffer, values);
  }

  std::optional<Error> setDelays(const std::vector<std::vector<uint32_t>> &delaysNs) override {
    return gpu_->setDelays(delaysNs);
  }

  Result<executor::StepLaunch> launch() override {
    Result<LaunchResult> launched = zeroedLaunch();
    if (!launched)
      return launched.error();
    executor::StepLaunch launch;
    launch.status = launched->completed  ? executor::LaunchStatus::Completed
                    : launched->timedOut ? executor::LaunchStatus::TimedOut
                                         : executor::LaunchStatus::Failed;
    launch.report = std::move(launched->report);
    launch.milliseconds = launched->milliseconds;
    return launch;
  }

  Result<std::vector<std::byte>> readBytes(std::string_view buffer) const override { return gpu_->readBytes(buffer); }

  Result<std::vector<executor::ProfiledInstruction>> profiledLaunch() override {
    if (std::optional<Error> e = gpu_->setProfiling(true))
      return *e;
    Result<LaunchResult> launched = zeroedLaunch();
    if (std::optional<Error> e = gpu_->setProfiling(false))
      return *e;
    if (!launched)
      return launched.error();
    if (!launched->completed)
      return Error("amk-run", "the profiled launch did not complete: " + launched->report);
    return std::move(launched->profile);
  }

private:
  // Scratch and outputs start from zero, as on the CPU executor: a step's results never depend on the
  // previous step's, and a write a launch misses shows as a zero rather than as a stale value.
  Result<LaunchResult> zeroedLaunch() {
    if (std::optional<Error> e = gpu_->zeroScratchAndOutputs())
      return *e;
    return gpu_->launch();
  }

  const ir::Program &program_;
  std::unique_ptr<GpuSchedule> gpu_;
};

} // namespace

Result<std::unique_ptr<executor::StepRunner>> makeGpuStepRunner(const ir::Schedule &schedule,
                                                                const ir::Certificate &certificate,
                                                                const model::Checkpoint &checkpoint,
                                                                const GpuOptions &options) {
  Result<std::unique_ptr<GpuSchedule>> created = GpuSchedule::create(schedule, certificate, options);
  if (!created)
    return created.error();
  const ir::Program &program = *schedule.program;
  Result<std::vector<executor::ParamBytes>> params = executor::bindParams(program, checkpoint);
  if (!params)
    return params.error();
  for (const executor::ParamBytes &p : *params)
    if (std::optional<Error> e = (*created)->setBytes(p.param, p.bytes))
      return *e;
  return std::unique_ptr<executor::StepRunner>(std::make_unique<GpuStepRunner>(program, std::move(*created)));
}

} // namespace amk::megakernel
