// Binding a HF checkpoint to a planned schedule's params: each `param` of the schedule is one HF
// tensor, or one per layer stacked on a first dimension (lowering/plan.h, weightBindings), converted
// to the param's element type. Shared by the CPU executor and the GPU runtime.
#pragma once

#include "ir/program.h"
#include "megakernel/checkpoint.h"
#include "megakernel/result.h"

#include <cstddef>
#include <string>
#include <vector>

namespace amk::megakernel {

struct ParamBytes {
  std::string param;
  std::vector<std::byte> bytes; // the whole buffer, in the param's element type
};

// Every param of `program` from `checkpoint`: a param the bindings do not know, a missing tensor, or
// a shape that differs from the declaration is an error naming both.
Result<std::vector<ParamBytes>> bindParams(const ir::Program &program, const Checkpoint &checkpoint);

// fp32 values rounded (to nearest even) into elements of `dtype`, as the buffers store them.
std::vector<std::byte> encodeFloats(const std::vector<float> &values, ir::ast::DType dtype);

} // namespace amk::megakernel
