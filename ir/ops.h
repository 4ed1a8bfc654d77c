// The op registry: the one place that says what each compute op reads and writes, which operand
// shapes and element types it accepts, where it may work in place, and which attributes it takes.
// The ops, their ids and their per-op facts for the lowering and the device come from ir/ops.def;
// CPU and CUDA implementations elsewhere are bound to these entries by OpId.
#pragma once

#include "amk/ir/ast.h"

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amk::ir {

// The op ids, as ir/ops.def numbers them (the instruction tape stores them).
enum class OpId : uint16_t {
#define AMK_OP(value, id, ...) id = value,
#include "amk/ir/ops.def"
};

// The projection family whose device code a task runs (the kernel compiles only the families its
// tape uses).
enum class ProjectionFamily : uint8_t { None, MatVec, MatVecQ8 };

// What a task stages in the kernel's dynamic shared memory.
enum class SharedMemoryUse : uint8_t { None, Projection, NormalisedProjection, Attention };

// What the op check's tolerance of an output element is relative to (docs/megakernel.md).
enum class ToleranceScale : uint8_t { Magnitude, RotatedPair, Residual, NormalisedProjection, GatedProjection };

// The per-op facts of ir/ops.def that the lowering, the GPU runtime and the op check read; they
// need no registry, so they are constant expressions.
struct OpTraits {
  OpId id;
  std::string_view name;
  std::string_view deviceName; // the device's enumerator (megakernel/device/amk_device.cuh)
  int weightInput;             // the first input a projection reads whole (a param, prefetched), or -1
  int weightInputs;            // how many consecutive inputs from weightInput on are such weights
  int cacheInput;              // an attention's kcache input, followed by vcache and pos, or -1
  ProjectionFamily family;
  SharedMemoryUse sharedMemory;
  ToleranceScale tolerance;
};

inline constexpr OpTraits kOpTraits[] = {
#define AMK_OP(value, id, deviceId, name, weightInput, weightInputs, cacheInput, family, sharedMemory, tolerance)      \
  {OpId::id,                                                                                                           \
   name,                                                                                                               \
   "AMK_OP_" #deviceId,                                                                                                \
   weightInput,                                                                                                        \
   weightInputs,                                                                                                       \
   cacheInput,                                                                                                         \
   ProjectionFamily::family,                                                                                           \
   SharedMemoryUse::sharedMemory,                                                                                      \
   ToleranceScale::tolerance},
#include "amk/ir/ops.def"
};

inline constexpr size_t kOpCount = std::size(kOpTraits);

// Tables indexed by op id (the registry, the CPU references) need the ids dense and in order.
static_assert(
    [] {
      for (size_t i = 0; i < kOpCount; ++i)
        if (static_cast<size_t>(kOpTraits[i].id) != i)
          return false;
      return true;
    }(),
    "ir/ops.def must number its ops 0, 1, 2, ... in the order of its lines");

// An op reads weights whole exactly when it names a first one.
static_assert(
    [] {
      for (const OpTraits &op : kOpTraits)
        if ((op.weightInput >= 0) != (op.weightInputs > 0) || op.weightInputs < 0)
          return false;
      return true;
    }(),
    "ir/ops.def: WEIGHTS must be 0 exactly when WEIGHT_INPUT is -1");

// An id read back from a tape is checked, never trusted: asserts stay on in every build.
constexpr const OpTraits &opTraits(OpId id) {
  assert(static_cast<size_t>(id) < kOpCount && "an op id outside ir/ops.def");
  return kOpTraits[static_cast<size_t>(id)];
}

enum class AttributeType { Int, Float, String };

struct AttributeSpec {
  std::string_view name;
  AttributeType type;
  bool required = false;
  ast::Value defaultValue = {};               // used when not required and absent
  std::vector<std::string_view> choices = {}; // String attributes: the allowed words (empty: any)
  bool positive = false;                      // Int/Float attributes: must be > 0
  std::string_view meaning = {};
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
  std::vector<std::string_view> outputNames = {}; // formal operand names, for messages and docs
  std::vector<std::string_view> inputNames = {};
  bool variadic = false; // opaque: any number of outputs and inputs
  // (output, input) pairs that may name the same region (exactly). Opaque: any pair.
  std::vector<std::pair<size_t, size_t>> inPlace = {};
  std::vector<AttributeSpec> attributes = {};
  // The dtype and shape rules in words, as docs/amkir.md section 12 states them (`amk-fmt
  // --list-ops` adds the in-place pairs and the attributes).
  std::string_view rules;
  // Attributes come in registry order with defaults filled in.
  std::optional<OperandRuleError> (*checkOperands)(const std::vector<OperandType> &outputs,
                                                   const std::vector<OperandType> &inputs,
                                                   const std::vector<ast::Value> &attributes);

  bool allowsInPlace(size_t output, size_t input) const;
  const AttributeSpec *findAttribute(std::string_view attribute) const;
};

// In OpId order: allOps()[i].id == OpId(i), with the name ir/ops.def gives it.
std::span<const OpInfo> allOps();
const OpInfo *findOp(std::string_view name);
const OpInfo &opInfo(OpId id);

std::string shapeString(const std::vector<int64_t> &shape);

// The op reference of docs/amkir.md section 12 as markdown, from the registry: a summary table, then
// each op's operands, rules, in-place pairs and attributes (`amk-fmt --list-ops` prints it).
std::string opReferenceMarkdown();

} // namespace amk::ir
