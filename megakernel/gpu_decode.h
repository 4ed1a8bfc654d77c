// The megakernel as a StepRunner (decode.h): a certified decode-step schedule compiled for the GPU,
// the checkpoint's weights bound to its params, one cooperative launch per step, the KV cache staying
// on the device between launches.
#pragma once

#include "amk/ir/program.h"
#include "amk/model/checkpoint.h"
#include "amk/executor/decode.h"
#include "amk/megakernel/gpu_runtime.h"
#include "amk/ir/result.h"

#include <memory>
#include <string>

namespace amk::megakernel {

// `program` must be certified by the caller and outlive the runner; `canonicalText` is its canonical
// form (the kernel refuses a tape whose hash is not that text's).
Result<std::unique_ptr<executor::StepRunner>> makeGpuStepRunner(const ir::Program &program, const std::string &canonicalText,
                                                      const model::Checkpoint &checkpoint, const GpuOptions &options);

} // namespace amk::megakernel
