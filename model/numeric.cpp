// Element rounding and encoding shared by the checkpoint reader, the fp32 reference, the CPU
// executor and weight binding: one definition of each conversion (docs/numerics.md).
#include "amk/model/numeric.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace amk::model {

using ir::ast::DType;

uint16_t floatToF16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) { // infinity, or NaN made quiet with the top of its payload kept
    if (magnitude == 0x7f800000u)
      return static_cast<uint16_t>(sign | 0x7c00u);
    return static_cast<uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  }
  const int32_t exponent = static_cast<int32_t>(magnitude >> 23) - 127; // unbiased
  const uint32_t mantissa = magnitude & 0x7fffffu;
  if (exponent >= -14) { // a normal binary16 unless rounding or the exponent overflows
    if (exponent > 15)
      return static_cast<uint16_t>(sign | 0x7c00u);
    uint32_t half = (static_cast<uint32_t>(exponent + 15) << 10) | (mantissa >> 13);
    const uint32_t rest = mantissa & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))
      ++half; // a carry into the exponent is right, up to infinity (0x7c00)
    return static_cast<uint16_t>(sign | half);
  }
  // Subnormal: the significand in units of 2^-24 is significand24 * 2^(exponent + 1 - 23 + 23).
  const uint32_t significand = mantissa | 0x800000u;
  const int32_t shift = -exponent - 1; // >= 14
  if (shift > 24)
    return sign; // below half the smallest subnormal (float subnormals included)
  uint32_t half = significand >> shift;
  const uint32_t rest = significand & ((1u << shift) - 1u);
  const uint32_t halfway = 1u << (shift - 1);
  if (rest > halfway || (rest == halfway && (half & 1u)))
    ++half; // may become the smallest normal, 0x400, which is the right encoding
  return static_cast<uint16_t>(sign | half);
}

float roundTo(DType dtype, float value) {
  switch (dtype) {
  case DType::BF16:
    return roundToBf16(value);
  case DType::F16:
    return f16ToFloat(floatToF16(value));
  case DType::F32:
    return value;
  case DType::I32:
  case DType::I8:
    break;
  }
  if (std::isnan(value))
    return 0;
  const float low = dtype == DType::I8 ? -128.0f : -2147483648.0f;
  const float high = dtype == DType::I8 ? 127.0f : 2147483520.0f; // the largest float below 2^31
  return std::clamp(std::nearbyint(value), low, high);
}

QuantisedRows quantiseRows(const std::vector<float> &matrix, int64_t rows, int64_t columns,
                           ir::ast::DType scaleType) {
  QuantisedRows q;
  q.values.resize(static_cast<size_t>(rows * columns));
  q.scales.resize(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = matrix.data() + r * columns;
    float largest = 0;
    for (int64_t k = 0; k < columns; ++k)
      largest = std::max(largest, std::fabs(row[k]));
    const float scale = roundTo(scaleType, largest / 127.0f);
    q.scales[static_cast<size_t>(r)] = scale;
    for (int64_t k = 0; k < columns; ++k) {
      float v = scale > 0 ? std::nearbyint(row[k] / scale) : 0.0f; // the default rounding: nearest even
      v = std::clamp(v, -127.0f, 127.0f);
      q.values[static_cast<size_t>(r * columns + k)] = static_cast<int8_t>(v);
    }
  }
  return q;
}

std::vector<std::byte> encodeFloats(const std::vector<float> &values, ir::ast::DType dtype) {
  std::vector<std::byte> bytes;
  switch (dtype) {
  case ir::ast::DType::BF16:
  case ir::ast::DType::F16:
    bytes.resize(values.size() * 2);
    for (size_t i = 0; i < values.size(); ++i) {
      uint16_t h = dtype == ir::ast::DType::BF16 ? floatToBf16(values[i]) : floatToF16(values[i]);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
    break;
  case ir::ast::DType::F32:
    bytes.resize(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    break;
  case ir::ast::DType::I32:
    bytes.resize(values.size() * 4);
    for (size_t i = 0; i < values.size(); ++i) {
      int32_t v = static_cast<int32_t>(values[i]);
      std::memcpy(bytes.data() + 4 * i, &v, 4);
    }
    break;
  case ir::ast::DType::I8:
    bytes.resize(values.size());
    for (size_t i = 0; i < values.size(); ++i)
      bytes[i] = static_cast<std::byte>(static_cast<int8_t>(values[i]));
    break;
  }
  return bytes;
}

} // namespace amk::model
