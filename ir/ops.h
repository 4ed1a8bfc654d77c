// The op registry: the one place that says what each compute op reads and writes, which operand
// shapes and element types it accepts, where it may work in place, and which attributes it takes.
// CPU and CUDA implementations elsewhere are bound to these entries by OpId.
#pragma once

#include "amk/ir/ast.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amk::ir {

enum class OpId : uint16_t {
  Copy,
  Add,
  Embed,
  RmsNorm,
  MatVec,
  MatVecAdd,
  Rope,
  KvStore,
  Attention,
  SiluMul,
  Argmax,
  RmsNormMatVec,
  AttentionPartial,
  AttentionMerge,
  ArgmaxPartial,
  ArgmaxMerge,
  MatVecQ8,
  MatVecQ8Add,
  RmsNormMatVecQ8,
  Opaque,
};

enum class AttributeType { Int, Float, String };

struct AttributeSpec {
  std::string_view name;
  AttributeType type;
  bool required = false;
  ast::Value defaultValue;               // used when not required and absent
  std::vector<std::string_view> choices; // String attributes: the allowed words (empty: any)
  bool positive = false;                 // Int/Float attributes: must be > 0
  std::string_view meaning;
};

// What the shape and dtype rules see of one elaborated operand.
struct OperandType {
  ast::DType dtype = ast::DType::F32;
  std::vector<int64_t> shape;       // the region's shape: sliced and whole dimensions, points dropped
  int64_t elements = 1;             // product of shape
  std::vector<int64_t> bufferShape; // the whole buffer's shape
  std::vector<int64_t> lo;          // the region's start in every buffer dimension
  std::vector<int64_t> hi;          // and its end (exclusive)
};

struct OperandRuleError {
  std::string ruleId; // AMK-T003 (element type) or AMK-T004 (shape)
  bool isOutput = false;
  size_t operand = 0; // index within the outputs or the inputs
  std::string message;
};

struct OpInfo {
  OpId id;
  std::string_view name;
  std::string_view meaning;
  std::vector<std::string_view> outputNames; // formal operand names, for messages and docs
  std::vector<std::string_view> inputNames;
  bool variadic = false; // opaque: any number of outputs and inputs
  // (output, input) pairs that may name the same region (exactly). Opaque: any pair.
  std::vector<std::pair<size_t, size_t>> inPlace;
  std::vector<AttributeSpec> attributes;
  std::string_view shapeRule; // one-line statement of the rule, for docs and messages
  // Attributes come in registry order with defaults filled in.
  std::optional<OperandRuleError> (*checkOperands)(const std::vector<OperandType> &outputs,
                                                   const std::vector<OperandType> &inputs,
                                                   const std::vector<ast::Value> &attributes);

  bool allowsInPlace(size_t output, size_t input) const;
  const AttributeSpec *findAttribute(std::string_view attribute) const;
};

std::span<const OpInfo> allOps();
const OpInfo *findOp(std::string_view name);
const OpInfo &opInfo(OpId id);

std::string shapeString(const std::vector<int64_t> &shape);

} // namespace amk::ir
