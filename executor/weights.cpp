// Checkpoint tensors → schedule param bytes, by the planner's weight bindings.
#include "amk/executor/weights.h"

#include "amk/lowering/plan.h"
#include "amk/executor/op_reference.h"
#include "amk/model/numeric.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

namespace amk::executor {

namespace {

bool sameType(model::TensorDType stored, ir::ast::DType param) { return model::amkirDType(stored) == param; }

} // namespace

Result<std::vector<ParamBytes>> bindParams(const ir::Program &program, const model::Checkpoint &checkpoint) {
  const model::ModelConfig &config = checkpoint.config();
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
      std::optional<model::TensorView> tensor = checkpoint.find(name);
      if (!tensor)
        return Error(checkpoint.weightsFile(), "tensor '" + name + "' for param '" + buffer.name + "' is missing");
      std::vector<int64_t> shape(tensor->info->shape.begin(), tensor->info->shape.end());
      if (shape != binding.tensorShape)
        return Error(*tensor->file, "tensor '" + name + "' has shape " + ir::shapeString(shape) + ", expected " +
                                        ir::shapeString(binding.tensorShape));
      // W8A16: the tensor's rows quantised; this param takes one half, its partner the other.
      if (quantised) {
        Result<std::vector<float>> widened = model::toFloat32(*tensor);
        if (!widened)
          return widened.error();
        const int64_t rows = binding.tensorShape[0], columns = binding.tensorShape[1];
        model::QuantisedRows q = model::quantiseRows(*widened, rows, columns, scaleType);
        const auto *first = reinterpret_cast<const std::byte *>(q.values.data());
        std::vector<std::byte> scales = model::encodeFloats(q.scales, scaleType);
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
      Result<std::vector<float>> widened = model::toFloat32(*tensor);
      if (!widened)
        return widened.error();
      std::vector<std::byte> encoded = model::encodeFloats(*widened, buffer.dtype);
      bytes.insert(bytes.end(), encoded.begin(), encoded.end());
    }
    params.push_back({buffer.name, std::move(bytes)});
  }
  return params;
}

} // namespace amk::executor
