// CPU reference implementations of every op of the registry (ir/ops.h), bound by op id: what a task
// computes on typed buffers, element by element, rounding exactly where docs/numerics.md says. The
// CPU executor runs schedules with these, and the CUDA device ops are checked against them.
#pragma once

#include "amk/ir/ast.h"
#include "amk/ir/ops.h"
#include "amk/ir/program.h"
#include "amk/megakernel/device/amk_abi.h"
#include "amk/model/numeric.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace amk::executor {

// Storage of one declared buffer: its element type, shape and bytes (row-major, little-endian, as
// on the GPU), so that a schedule's buffers can be compared bit for bit across executions.
class HostBuffer {
public:
  HostBuffer() = default;
  HostBuffer(ir::ast::DType dtype, std::vector<int64_t> shape);

  ir::ast::DType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int64_t elements() const { return elements_; }
  size_t elementBytes() const;
  std::span<std::byte> bytes() { return bytes_; }
  std::span<const std::byte> bytes() const { return bytes_; }

  // Element `index` (row-major over the whole buffer) widened to fp32: bf16 and f16 exactly, i32 and
  // i8 as integers.
  float load(int64_t index) const;
  // Stores `value` rounded to the element type (nearest even for bf16 and f16; nearest integer,
  // saturated, for i32 and i8).
  void store(int64_t index, float value);
  int64_t loadInt(int64_t index) const;        // i32 and i8 only
  void storeInt(int64_t index, int64_t value); // i32 and i8 only (truncated to the type's width)

  // The whole buffer as fp32, and set from fp32 values (rounded on store); sizes must match.
  std::vector<float> toFloats() const;
  void setFloats(std::span<const float> values);
  void zero();

private:
  ir::ast::DType dtype_ = ir::ast::DType::F32;
  std::vector<int64_t> shape_;
  int64_t elements_ = 0;
  std::vector<std::byte> bytes_;
};


// One operand of a task: a box of a buffer. The region's `buffer` id is not used here; `buffer`
// says where the elements are.
struct Operand {
  HostBuffer *buffer = nullptr;
  const ir::Region *region = nullptr;
};

struct TaskOperands {
  std::span<const Operand> outputs;
  std::span<const Operand> inputs;
  std::span<const ir::ast::Value> attributes; // registry order, defaults filled (as ir::Site holds them)
};

// Runs one task. Every input is read before any output is written, so in-place operands (an output
// naming an input exactly) are safe. The result is an error message (lowercase, naming the value)
// when a run-time index is out of its region, e.g. a `pos` outside a cache region; nothing is
// written then. Operand shapes and types are assumed well-formed (elaboration checked them).
using OpReference = std::optional<std::string> (*)(const TaskOperands &operands);

inline constexpr size_t kOpCount = ir::kOpCount; // one reference per op of ir/ops.def

// The reference of `op`; never null for a registry op.
OpReference opReference(ir::OpId op);
std::optional<std::string> runTask(ir::OpId op, const TaskOperands &operands);

// RoPE frequencies f_j = θ^(−2j/d) for j < d/2 in fp32, with llama3 scaling when `llama3` is set
// (docs/numerics.md, "llama3 RoPE scaling"); the rope op's attributes in registry order.
struct RopeParameters {
  int64_t headDim = 0;
  double theta = 10000.0;
  bool llama3 = false;
  double factor = 8.0;
  double lowFreqFactor = 1.0;
  double highFreqFactor = 4.0;
  int64_t originalMaxPosition = 8192;
};
RopeParameters ropeParameters(std::span<const ir::ast::Value> attributes);
std::vector<float> ropeFrequencies(const RopeParameters &parameters);

// The opaque op's hash: FNV-1a 64 over the input bytes in operand order (each region walked in
// row-major order), continued with the output element's index (8 bytes, little-endian).
inline constexpr uint64_t kFnvOffsetBasis = AMK_OPAQUE_FNV_OFFSET_BASIS;
inline constexpr uint64_t kFnvPrime = AMK_OPAQUE_FNV_PRIME;
uint64_t fnv1a(uint64_t hash, std::span<const std::byte> bytes);

// Calls visit(firstElement, count) for every contiguous run of `region` in `shape` (row-major, the
// last dimension innermost), in row-major order of the box.
template <class Visit> void forEachRun(const ir::Region &region, const std::vector<int64_t> &shape, Visit &&visit) {
  const size_t rank = shape.size();
  if (rank == 0) {
    visit(int64_t{0}, int64_t{1});
    return;
  }
  std::vector<int64_t> index(region.lo.begin(), region.lo.end());
  const int64_t run = region.hi[rank - 1] - region.lo[rank - 1];
  for (;;) {
    int64_t offset = 0;
    for (size_t d = 0; d < rank; ++d)
      offset = offset * shape[d] + index[d];
    visit(offset, run);
    // Odometer over every dimension but the last.
    size_t d = rank - 1;
    for (;;) {
      if (d == 0)
        return;
      --d;
      if (++index[d] < region.hi[d])
        break;
      index[d] = region.lo[d];
    }
  }
}

} // namespace amk::executor
