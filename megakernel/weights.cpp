// Checkpoint tensors → schedule param bytes, by the planner's weight bindings.
#include "megakernel/weights.h"

#include "lowering/plan.h"
#include "megakernel/op_reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

namespace amk::megakernel {

namespace {

uint16_t toBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN: keep it quiet
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

uint16_t toF16(float f) {
  // Round to nearest even through the exact binary16 grid: normal, subnormal, overflow to infinity.
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u)
    return static_cast<uint16_t>(sign | 0x7e00u);
  if (magnitude >= 0x477ff000u) // rounds to at least 65520: infinity
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (magnitude < 0x38800000u) { // below the smallest normal half: subnormal or zero
    if (magnitude < 0x33000000u)
      return static_cast<uint16_t>(sign);
    const uint32_t exponent = magnitude >> 23;
    const uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exponent; // 14 .. 24
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u)))
      ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

bool sameType(DType stored, ir::ast::DType param) {
  return (stored == DType::BF16 && param == ir::ast::DType::BF16) ||
         (stored == DType::F16 && param == ir::ast::DType::F16) ||
         (stored == DType::F32 && param == ir::ast::DType::F32);
}

} // namespace

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
      uint16_t h = dtype == ir::ast::DType::BF16 ? toBf16(values[i]) : toF16(values[i]);
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

Result<std::vector<ParamBytes>> bindParams(const ir::Program &program, const Checkpoint &checkpoint) {
  const lowering::ModelConfig &config = checkpoint.config();
  const bool int8 = std::any_of(program.buffers.begin(), program.buffers.end(), [](const ir::Buffer &b) {
    return b.kind == ir::ast::BufferKind::Param && b.dtype == ir::ast::DType::I8;
  });
  std::map<std::string, lowering::WeightBinding> bindings;
  for (lowering::WeightBinding &b :
       lowering::weightBindings(config, int8 ? lowering::WeightFormat::Int8 : lowering::WeightFormat::Model))
    bindings.emplace(b.param, std::move(b));
  std::vector<ParamBytes> params;
  // W8A16: quantising a tensor gives both its int8 rows and its row scales. The first param of such a
  // pair to be bound quantises once and leaves its partner's bytes here.
  std::map<std::string, std::vector<std::byte>> partnerBytes;
  for (const ir::Buffer &buffer : program.buffers) {
    if (buffer.kind != ir::ast::BufferKind::Param)
      continue;
    auto it = bindings.find(buffer.name);
    if (it == bindings.end())
      return Error(program.sourceName, "param '" + buffer.name + "' is not a weight of a Llama checkpoint");
    const lowering::WeightBinding &binding = it->second;
    std::vector<int64_t> expected = binding.paramShape();
    if (binding.perLayer)
      expected.insert(expected.begin(), config.numLayers);
    if (expected != buffer.shape)
      return Error(program.sourceName, "param '" + buffer.name + "' has shape " + ir::shapeString(buffer.shape) +
                                           " but the checkpoint's config implies " + ir::shapeString(expected));
    const bool quantised = binding.encoding != lowering::WeightEncoding::Values;
    const bool rowsParam = binding.encoding == lowering::WeightEncoding::Int8Rows;
    if (quantised && (rowsParam ? buffer.dtype != ir::ast::DType::I8 : !ir::ast::isFloatType(buffer.dtype)))
      return Error(program.sourceName, "param '" + buffer.name + "' must be " + (rowsParam ? "i8" : "bf16, f16 or f32") +
                                           " (W8A16 " + (rowsParam ? "int8 rows" : "row scales") + "), found " +
                                           ir::ast::dtypeName(buffer.dtype));
    // Rows and scales are quantised with the scale param's type, so that they agree.
    ir::ast::DType scaleType = buffer.dtype;
    std::string partner;
    if (rowsParam) {
      partner = buffer.name + "_scale";
      auto scale = std::find_if(program.buffers.begin(), program.buffers.end(),
                                [&](const ir::Buffer &b) { return b.name == partner; });
      if (scale == program.buffers.end() || !ir::ast::isFloatType(scale->dtype))
        return Error(program.sourceName, "int8 param '" + buffer.name + "' needs a float param '" + partner +
                                             "' with its row scales");
      scaleType = scale->dtype;
    } else if (quantised) {
      partner = buffer.name.substr(0, buffer.name.size() - std::string("_scale").size());
    }
    if (auto ready = partnerBytes.find(buffer.name); ready != partnerBytes.end()) {
      params.push_back({buffer.name, std::move(ready->second)});
      partnerBytes.erase(ready);
      continue;
    }
    const int64_t copies = binding.perLayer ? config.numLayers : 1;
    std::vector<std::byte> bytes;
    int64_t elements = 1;
    for (int64_t d : buffer.shape)
      elements *= d;
    bytes.reserve(static_cast<size_t>(elements) * ir::ast::dtypeBytes(buffer.dtype));
    for (int64_t l = 0; l < copies; ++l) {
      std::string name = binding.hfPattern;
      if (size_t at = name.find("{l}"); at != std::string::npos)
        name.replace(at, 3, std::to_string(l));
      std::optional<TensorView> tensor = checkpoint.find(name);
      if (!tensor)
        return Error(checkpoint.weightsFile(), "tensor '" + name + "' for param '" + buffer.name + "' is missing");
      std::vector<int64_t> shape(tensor->info->shape.begin(), tensor->info->shape.end());
      if (shape != binding.tensorShape)
        return Error(*tensor->file, "tensor '" + name + "' has shape " + ir::shapeString(shape) + ", expected " +
                                        ir::shapeString(binding.tensorShape));
      // W8A16: the tensor's rows quantised; this param takes one half, its partner the other.
      if (quantised) {
        Result<std::vector<float>> widened = toFloat32(*tensor);
        if (!widened)
          return widened.error();
        const int64_t rows = binding.tensorShape[0], columns = binding.tensorShape[1];
        QuantisedRows q = quantiseRows(*widened, rows, columns, scaleType);
        const auto *first = reinterpret_cast<const std::byte *>(q.values.data());
        std::vector<std::byte> scales = encodeFloats(q.scales, scaleType);
        std::vector<std::byte> &other = partnerBytes[partner];
        if (rowsParam) {
          bytes.insert(bytes.end(), first, first + q.values.size());
          other.insert(other.end(), scales.begin(), scales.end());
        } else {
          bytes.insert(bytes.end(), scales.begin(), scales.end());
          other.insert(other.end(), first, first + q.values.size());
        }
        continue;
      }
      // A tensor already in the param's type is copied as it is: widening to fp32 and rounding back
      // gives the same bits (a signalling NaN's payload aside) at the cost of passes over gigabytes.
      if (sameType(tensor->info->dtype, buffer.dtype)) {
        bytes.insert(bytes.end(), tensor->bytes.begin(), tensor->bytes.end());
        continue;
      }
      Result<std::vector<float>> widened = toFloat32(*tensor);
      if (!widened)
        return widened.error();
      std::vector<std::byte> encoded = encodeFloats(*widened, buffer.dtype);
      bytes.insert(bytes.end(), encoded.begin(), encoded.end());
    }
    params.push_back({buffer.name, std::move(bytes)});
  }
  return params;
}

} // namespace amk::megakernel
