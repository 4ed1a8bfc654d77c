// NumPy .npy files (format version 1.0) of fp32 arrays, as numpy.load reads them: amk-run writes the
// logits of a decode run this way (--logits-out), one row per step.
#pragma once

#include "amk/ir/result.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace amk::megakernel {

// The bytes of a little-endian float32 C-order array of `shape` holding `values`; the header is
// padded so that the data starts at a multiple of 64 bytes, as numpy itself writes.
std::string npyFloat32(std::span<const float> values, const std::vector<int64_t> &shape);

// Writes npyFloat32(values, shape) to `path`; the element count must match the shape.
std::optional<Error> writeNpyFloat32(const std::string &path, std::span<const float> values,
                                     const std::vector<int64_t> &shape);

} // namespace amk::megakernel
