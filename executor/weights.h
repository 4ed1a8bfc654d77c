// Binding a HF checkpoint to a planned schedule's params: each `param` of the schedule is one HF
// tensor, or one per layer stacked on a first dimension (lowering/plan.h, weightBindings), converted
// to the param's element type. Shared by the CPU executor and the GPU runtime.
#pragma once

#include "amk/ir/program.h"
#include "amk/model/checkpoint.h"
#include "amk/ir/result.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace amk::executor {

struct ParamBytes {
  std::string param;
  std::vector<std::byte> bytes; // the whole buffer, in the param's element type
};

// Every param of `program` from `checkpoint`: a param the bindings do not know, a missing tensor, or
// a shape that differs from the declaration is an error naming both. A program with an i8 param is
// bound with the int8 (W8A16) bindings: its int8 rows and row scales are quantised here.
Result<std::vector<ParamBytes>> bindParams(const ir::Program &program, const model::Checkpoint &checkpoint);

} // namespace amk::executor
