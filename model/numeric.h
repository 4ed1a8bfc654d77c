// Element conversions between the weight dtypes and fp32: exact widening of bf16 and f16, and
// rounding to bf16 (nearest, ties to even) where docs/numerics.md places a rounding point.
#pragma once

#include "amk/ir/ast.h"

#include <bit>
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <vector>

namespace amk::model {

// bf16 is the top half of an fp32, so widening is a shift.
inline float bf16ToFloat(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

// IEEE binary16: 1 sign, 5 exponent (bias 15), 10 fraction bits; every value, subnormals, infinities
// and NaNs included, is exactly representable in fp32.
inline float f16ToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t fraction = bits & 0x3ffu;
  if (exponent == 0x1f) // infinity or NaN (the payload kept)
    return std::bit_cast<float>(sign | 0x7f800000u | (fraction << 13));
  if (exponent == 0) { // zero or subnormal: fraction * 2^-24, exact in fp32
    float magnitude = std::ldexp(static_cast<float>(fraction), -24);
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (fraction << 13));
}

// Round to nearest even, as torch's fp32 -> bf16 cast does; a NaN stays a (quiet) NaN.
inline uint16_t floatToBf16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if (std::isnan(value))
    return static_cast<uint16_t>((bits >> 16) | 0x40u);
  uint32_t roundingBias = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + roundingBias) >> 16);
}

inline float roundToBf16(float value) { return bf16ToFloat(floatToBf16(value)); }

// IEEE binary16, round to nearest even (subnormals, overflow to infinity, NaN kept quiet).
uint16_t floatToF16(float value);

// fp32 rounded to `dtype` and widened back: the value a store of `value` leaves in such a buffer.
float roundTo(ir::ast::DType dtype, float value);

// fp32 values rounded (to nearest even) into elements of `dtype`, as the buffers store them.
std::vector<std::byte> encodeFloats(const std::vector<float> &values, ir::ast::DType dtype);

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

} // namespace amk::model
