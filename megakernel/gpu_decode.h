// The megakernel as a StepRunner (decode.h): a certified decode-step schedule compiled for the GPU,
// the checkpoint's weights bound to its params, one cooperative launch per step, the KV cache staying
// on the device between launches.
#pragma once

#include "amk/ir/certificate.h"
#include "amk/ir/frontend.h"
#include "amk/model/checkpoint.h"
#include "amk/executor/decode.h"
#include "amk/megakernel/gpu_runtime.h"
#include "amk/ir/result.h"

#include <memory>
#include <string>

namespace amk::megakernel {

// `schedule` must be well-formed and outlive the runner; `certificate` is the checker's verdict on it,
// which GpuSchedule::create requires to certify exactly this schedule with this build's checker.
Result<std::unique_ptr<executor::StepRunner>> makeGpuStepRunner(const ir::Schedule &schedule,
                                                                const ir::Certificate &certificate,
                                                                const model::Checkpoint &checkpoint,
                                                                const GpuOptions &options);

} // namespace amk::megakernel
