// Binding a HF checkpoint to a planned schedule's params: each `param` of the schedule is one HF
// tensor, or one per layer stacked on a first dimension (lowering/plan.h, weightBindings), converted
// to the param's element type. Shared by the CPU executor and the GPU runtime.
#pragma once

#include "ir/program.h"
#include "megakernel/checkpoint.h"
#include "megakernel/result.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace amk::megakernel {

struct ParamBytes {
  std::string param;
  std::vector<std::byte> bytes; // the whole buffer, in the param's element type
};

// Every param of `program` from `checkpoint`: a param the bindings do not know, a missing tensor, or
// a shape that differs from the declaration is an error naming both. A program with an i8 param is
// bound with the int8 (W8A16) bindings: its int8 rows and row scales are quantised here.
Result<std::vector<ParamBytes>> bindParams(const ir::Program &program, const Checkpoint &checkpoint);

// W8A16 quantisation of a row-major [rows, columns] matrix, one scale per row: the scale is the
// row's largest magnitude / 127 rounded to `scaleType` (0 for an all-zero row), and each value is
// round-to-nearest-even(w / scale) saturated to [-127, 127] (0 where the scale is 0). The
// dequantised weight is values[r, k] * scales[r].
struct QuantisedRows {
  std::vector<int8_t> values;
  std::vector<float> scales; // exactly representable in scaleType
};
QuantisedRows quantiseRows(const std::vector<float> &matrix, int64_t rows, int64_t columns,
                           ir::ast::DType scaleType);

// fp32 values rounded (to nearest even) into elements of `dtype`, as the buffers store them.
std::vector<std::byte> encodeFloats(const std::vector<float> &values, ir::ast::DType dtype);

} // namespace amk::megakernel
