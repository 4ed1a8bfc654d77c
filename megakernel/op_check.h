// Op by op: the device ops of one executed step against their CPU references. After a launch, every
// buffer is read back; each task is run again on the CPU with its op reference (megakernel/
// op_reference.h), in an order the schedule's synchronisation allows, and its outputs are compared
// with the device's. A task reads each input from the device's memory where the step left it as the
// task saw it (no task from this one on writes it), else from what the references computed for it:
// the input of an in-place op (rope rotates q and k where the projection wrote them) is the
// reference's projection output. An output that a later in-place op rewrites cannot be compared on
// its own; it is checked through that op's output (`chained`).
//
// Tolerances (docs/megakernel.md, "Device ops against the CPU references"): the device accumulates
// in fp32 in another order than the reference and rounds at the same points, so an output may differ
// by the rounding of its type: integers exactly; bf16 and f16 outputs by |d| <= 2^-7 |x| + 2^-12 m;
// fp32 outputs by |d| <= 2^-16 |x| + 2^-20 m; where x is the reference value and m the largest
// reference magnitude of the task's output region (cancellation in a long dot product).
#pragma once

#include "amk/ir/program.h"
#include "amk/executor/op_reference.h"

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace amk::megakernel {

struct OpCheckRow {
  std::string op;
  size_t tasks = 0;   // outputs compared with the device's
  size_t chained = 0; // outputs rewritten later by an in-place op, checked through its output
  size_t elements = 0;
  size_t failures = 0;       // elements outside the tolerance
  double maxAbsError = 0;    // over the checked elements
  double maxErrorOfTol = 0;  // max |d| / tolerance (<= 1 passes)
  std::string worst;         // the element with the largest |d| / tolerance, for messages
};

struct OpCheckResult {
  std::vector<OpCheckRow> rows; // one per op the step uses, registry order
  std::string error;            // a task whose reference failed (e.g. an index out of its region)
  bool ok() const;
};

// What the tolerance of an op's outputs reads besides the outputs themselves, by the op's tolerance
// scale (ir/ops.def): registry input and attribute indices, found by their registry names.
struct ToleranceOperands {
  ir::ToleranceScale scale = ir::ToleranceScale::Magnitude;
  std::optional<size_t> residual; // Residual: r
  std::optional<size_t> weight;   // NormalisedProjection: W, x, the norm weight w, and
  std::optional<size_t> vector;   //   the row scales s of the W8A16 form
  std::optional<size_t> normWeight;
  std::optional<size_t> rowScales;
  std::optional<size_t> upWeight; // GatedProjection: Wg (as weight), Wu, x and w (as normWeight)
  std::optional<size_t> headDim;  // RotatedPair: the attribute head_dim
  std::optional<size_t> eps;      // NormalisedProjection, GatedProjection: the attribute eps
  std::string missing;            // the first operand or attribute the registry lacks; empty: none
};
ToleranceOperands toleranceOperands(ir::OpId op);

// `buffers[i]` holds buffer i of `program` as the step left it (the device's memory, read back).
// The program must have run to completion (every block executed every instruction).
OpCheckResult checkOps(const ir::Program &program, const std::vector<executor::HostBuffer> &buffers);

// The table: op, tasks compared, chained, elements, failures, max |d|, max |d|/tol.
void printOpCheck(const OpCheckResult &result, std::ostream &out);

} // namespace amk::megakernel
