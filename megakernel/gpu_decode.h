// The megakernel as a StepRunner (decode.h): a certified decode-step schedule compiled for the GPU,
// the checkpoint's weights bound to its params, one cooperative launch per step, the KV cache staying
// on the device between launches.
#pragma once

#include "ir/program.h"
#include "megakernel/checkpoint.h"
#include "megakernel/decode.h"
#include "megakernel/gpu_runtime.h"
#include "megakernel/result.h"

#include <memory>
#include <string>

namespace amk::megakernel {

// `program` must be certified by the caller and outlive the runner; `canonicalText` is its canonical
// form (the kernel refuses a tape whose hash is not that text's).
Result<std::unique_ptr<StepRunner>> makeGpuStepRunner(const ir::Program &program, const std::string &canonicalText,
                                                      const Checkpoint &checkpoint, const GpuOptions &options);

} // namespace amk::megakernel
