#include "amk/megakernel/op_check.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <optional>
#include <sstream>

namespace amk::megakernel {
namespace {

using ir::InstructionKind;

struct TaskRef {
  uint32_t block = 0;
  uint32_t index = 0;
};

// One order in which the step may have run its tasks: blocks run in turn as far as their waits
// and barriers let them. A certified schedule has no race, so conflicting accesses are ordered the
// same way in every execution, and this order tells, for each task, which writes come after it.
std::optional<std::vector<TaskRef>> linearise(const ir::Program &program) {
  const size_t blocks = program.blockPrograms.size();
  std::vector<size_t> base(program.counters.size() + 1, 0);
  for (size_t c = 0; c < program.counters.size(); ++c)
    base[c + 1] = base[c] + static_cast<size_t>(std::max<int64_t>(program.counters[c].size, 1));
  std::vector<uint64_t> counters(base.back(), 0);
  std::vector<size_t> pc(blocks, 0);
  std::vector<TaskRef> order;
  for (;;) {
    bool progressed = false;
    for (size_t k = 0; k < blocks; ++k) {
      const std::vector<ir::Instruction> &instructions = program.blockPrograms[k];
      while (pc[k] < instructions.size()) {
        const ir::Instruction &in = instructions[pc[k]];
        if (in.kind == InstructionKind::Barrier)
          break;
        if (in.kind == InstructionKind::Wait &&
            counters[base[in.counter] + static_cast<size_t>(in.counterIndex)] < in.amount)
          break;
        if (in.kind == InstructionKind::Signal)
          counters[base[in.counter] + static_cast<size_t>(in.counterIndex)] += in.amount;
        if (in.kind == InstructionKind::Task)
          order.push_back({static_cast<uint32_t>(k), static_cast<uint32_t>(pc[k])});
        ++pc[k];
        progressed = true;
      }
    }
    bool finished = true, allAtBarrier = true;
    for (size_t k = 0; k < blocks; ++k) {
      const bool done = pc[k] == program.blockPrograms[k].size();
      finished = finished && done;
      allAtBarrier = allAtBarrier && !done && program.blockPrograms[k][pc[k]].kind == InstructionKind::Barrier;
    }
    if (finished)
      return order;
    if (allAtBarrier) {
      for (size_t &p : pc)
        ++p;
      continue;
    }
    if (!progressed)
      return std::nullopt;
  }
}

bool isInteger(ir::ast::DType dtype) { return dtype == ir::ast::DType::I32 || dtype == ir::ast::DType::I8; }

// |d| allowed for reference value x in a region whose largest reference magnitude is m.
double tolerance(ir::ast::DType dtype, double x, double m) {
  switch (dtype) {
  case ir::ast::DType::BF16:
  case ir::ast::DType::F16:
    return std::ldexp(std::fabs(x), -7) + std::ldexp(m, -12);
  case ir::ast::DType::F32:
    return std::ldexp(std::fabs(x), -16) + std::ldexp(m, -20);
  default:
    return 0;
  }
}

// Element indices (row-major over the buffer) of a region, in row-major order of the box.
template <class Visit> void forEachElement(const ir::Region &region, const std::vector<int64_t> &shape, Visit &&visit) {
  executor::forEachRun(region, shape, [&](int64_t first, int64_t count) {
    for (int64_t e = first; e < first + count; ++e)
      visit(e);
  });
}

double attributeNumber(const ir::ast::Value &value) {
  if (const auto *real = std::get_if<double>(&value.value))
    return *real;
  if (const auto *integer = std::get_if<int64_t>(&value.value))
    return static_cast<double>(*integer);
  return 0;
}

// The rope's head dimension, 0 where it is not a usable one.
size_t headDimension(const ToleranceOperands &roles, const ir::Site &site) {
  if (!roles.headDim || *roles.headDim >= site.attributes.size())
    return 0;
  const auto *headDim = std::get_if<int64_t>(&site.attributes[*roles.headDim].value);
  return headDim && *headDim > 1 ? static_cast<size_t>(*headDim) : 0;
}

// One row of a normalised projection W n, n = w ⊙ x / rms(x) unrounded, in double: its value and its
// largest term |W_rk w_k x_k / rms|.
struct ProjectedRow {
  double value = 0;
  double largest = 0;
};

std::vector<ProjectedRow> normalisedRows(const std::vector<double> &W, const std::vector<double> &x,
                                         const std::vector<double> &w, double inv, size_t rows) {
  const size_t cols = x.size();
  std::vector<ProjectedRow> projected(rows);
  for (size_t r = 0; r < rows; ++r)
    for (size_t k = 0; k < cols && r * cols + k < W.size() && k < w.size(); ++k) {
      const double term = W[r * cols + k] * w[k] * x[k] * inv;
      projected[r].value += term;
      projected[r].largest = std::max(projected[r].largest, std::fabs(term));
    }
  return projected;
}

// The magnitude each output element's tolerance is relative to, in the region's element order, by the
// op's tolerance scale (ir/ops.def). For most ops it is the reference value itself. Two kinds of op
// end in a sum of separately rounded terms, whose rounding errors scale with the terms, not with
// their (possibly cancelling) sum: rope's outputs come from a rotation of a pair (x_i, x_{i+d/2}), so
// they scale with the pair's norm; matvec_add's y = round(W x) + r scales with |W x| + |r|
// (matvec_q8_add's likewise). rmsnorm_matvec's rounded, normalised input and rmsnorm_gate_up_silu's
// two projections through silu(g) · u are discussed below.
std::vector<double> toleranceScales(const ir::Instruction &task, const ir::Site &site, const executor::HostBuffer &reference,
                                    const std::vector<executor::Operand> &inputs, const ir::Region &out,
                                    const std::vector<int64_t> &shape) {
  std::vector<double> values;
  forEachElement(out, shape, [&](int64_t e) { values.push_back(reference.load(e)); });
  std::vector<double> scales(values.size());
  const ToleranceOperands roles = toleranceOperands(task.op);
  auto present = [&](std::optional<size_t> input) { return input && *input < inputs.size(); };
  auto elements = [&](const executor::Operand &operand) {
    std::vector<double> v;
    forEachElement(*operand.region, operand.buffer->shape(), [&](int64_t e) { v.push_back(operand.buffer->load(e)); });
    return v;
  };
  switch (roles.scale) {
  case ir::ToleranceScale::Magnitude:
    break;
  case ir::ToleranceScale::RotatedPair: {
    if (site.attributes.empty())
      break;
    const size_t d = headDimension(roles, site);
    for (size_t k = 0; k < values.size(); ++k) {
      const size_t j = d ? k % d : 0, half = d / 2;
      const size_t partner = d == 0 ? k : j < half ? k + half : k - half;
      scales[k] = partner < values.size() ? std::hypot(values[k], values[partner]) : std::fabs(values[k]);
    }
    return scales;
  }
  case ir::ToleranceScale::Residual: {
    if (!present(roles.residual))
      break;
    const std::vector<double> residual = elements(inputs[*roles.residual]);
    for (size_t k = 0; k < values.size(); ++k)
      scales[k] = k < residual.size() ? std::fabs(values[k] - residual[k]) + std::fabs(residual[k]) : std::fabs(values[k]);
    return scales;
  }
  case ir::ToleranceScale::NormalisedProjection:
  case ir::ToleranceScale::GatedProjection: {
    const bool gated = roles.scale == ir::ToleranceScale::GatedProjection;
    if (!present(roles.weight) || !present(roles.vector) || !present(roles.normWeight) || !roles.eps ||
        *roles.eps >= site.attributes.size() || (roles.rowScales && !present(roles.rowScales)) ||
        (gated && !present(roles.upWeight)))
      break;
    // The normalised input is rounded before the product, with an inverse RMS the device sums in
    // another order: an element near a rounding boundary may round the other way there, moving its
    // term by one rounding step. Up to four such steps of the row's largest term are allowed. The
    // W8A16 form's terms carry the row's scale.
    const std::vector<double> x = elements(inputs[*roles.vector]), w = elements(inputs[*roles.normWeight]);
    const double eps = attributeNumber(site.attributes[*roles.eps]);
    double squares = 0;
    for (double v : x)
      squares += v * v;
    const double inv = x.empty() ? 0 : 1 / std::sqrt(squares / static_cast<double>(x.size()) + eps);
    const std::vector<ProjectedRow> rows = normalisedRows(elements(inputs[*roles.weight]), x, w, inv, values.size());
    if (!gated) {
      const std::vector<double> rowScale = roles.rowScales ? elements(inputs[*roles.rowScales]) : std::vector<double>{};
      for (size_t r = 0; r < values.size(); ++r) {
        double largest = rows[r].largest;
        if (roles.rowScales)
          largest *= r < rowScale.size() ? std::fabs(rowScale[r]) : 0.0;
        scales[r] = std::fabs(values[r]) + 2 * largest;
      }
      return scales;
    }
    // y = round(round(silu(g)) · u), g and u rounded normalised projections. Each may be off by what
    // rmsnorm_matvec's check allows it: Δg = tolerance(|g| + 2 (its row's largest term), the task's
    // largest |g|), Δu likewise. silu's slope lies in [-0.1, 1.1] and changes by at most 0.5 per unit
    // (|silu''| <= 1/2), so over g ± Δg it is at most s' = min(1.1, |silu'(g)| + (Δg + 2^-8 |g|) / 2)
    // (2^-8 |g|: g here is the unrounded sum): the gate's error reaches y as at most s' |u| Δg, the
    // up's as |silu(g)| Δu, both together s' Δg Δu. silu's rounding may go the other way (|u silu(g)|
    // in rounding units) and so may y's (|y|). The scale is that bound in the output type's rounding
    // units, so that the check's tolerance of it adds nothing but the m term of y.
    const std::vector<ProjectedRow> up = normalisedRows(elements(inputs[*roles.upWeight]), x, w, inv, values.size());
    const ir::ast::DType dtype = reference.dtype();
    const double unit = tolerance(dtype, 1, 0);
    if (unit == 0)
      break;
    double largestGate = 0, largestUp = 0;
    for (size_t r = 0; r < values.size(); ++r) {
      largestGate = std::max(largestGate, std::fabs(rows[r].value));
      largestUp = std::max(largestUp, std::fabs(up[r].value));
    }
    for (size_t r = 0; r < values.size(); ++r) {
      const double g = rows[r].value, u = up[r].value;
      const double sigmoid = 1 / (1 + std::exp(-g)), silu = g * sigmoid;
      const double gateError = tolerance(dtype, std::fabs(g) + 2 * rows[r].largest, largestGate);
      const double upError = tolerance(dtype, std::fabs(u) + 2 * up[r].largest, largestUp);
      const double slope =
          std::min(1.1, std::fabs(sigmoid * (1 + g * (1 - sigmoid))) + (gateError + 0x1p-8 * std::fabs(g)) / 2);
      const double error = slope * std::fabs(u) * gateError + std::fabs(silu) * upError + slope * gateError * upError;
      scales[r] = std::fabs(values[r]) + std::fabs(u * silu) + error / unit;
    }
    return scales;
  }
  }
  for (size_t k = 0; k < values.size(); ++k)
    scales[k] = std::fabs(values[k]);
  return scales;
}

// Per element of a rope's output region (in region order): the length of its input pair's upstream
// tolerances when the input is a chained output (kept in `inherited`); empty otherwise.
std::vector<double> chainedRopeTolerance(const ir::Instruction &task, const ir::Site &site, const ir::Region &out,
                                         const std::vector<int64_t> &shape,
                                         const std::vector<std::vector<double>> &inherited) {
  const ToleranceOperands roles = toleranceOperands(task.op);
  if (roles.scale != ir::ToleranceScale::RotatedPair || site.attributes.empty() || task.inputs.empty() ||
      !(task.inputs[0] == out))
    return {};
  const std::vector<double> &carried = inherited[out.buffer];
  if (carried.empty())
    return {};
  const size_t d = headDimension(roles, site);
  std::vector<int64_t> elements;
  forEachElement(out, shape, [&](int64_t e) { elements.push_back(e); });
  std::vector<double> passed(elements.size());
  for (size_t k = 0; k < elements.size(); ++k) {
    const size_t j = d ? k % d : 0, half = d / 2;
    const size_t partner = d == 0 ? k : j < half ? k + half : k - half;
    const double own = carried[static_cast<size_t>(elements[k])];
    passed[k] = partner < elements.size() ? std::hypot(own, carried[static_cast<size_t>(elements[partner])]) : own;
  }
  return passed;
}

} // namespace

ToleranceOperands toleranceOperands(ir::OpId op) {
  const ir::OpInfo &info = ir::opInfo(op);
  ToleranceOperands roles;
  roles.scale = ir::opTraits(op).tolerance;
  auto input = [&](std::string_view name) -> std::optional<size_t> {
    for (size_t i = 0; i < info.inputNames.size(); ++i)
      if (info.inputNames[i] == name)
        return i;
    if (roles.missing.empty())
      roles.missing = "input '" + std::string(name) + "'";
    return std::nullopt;
  };
  auto attribute = [&](std::string_view name) -> std::optional<size_t> {
    for (size_t a = 0; a < info.attributes.size(); ++a)
      if (info.attributes[a].name == name)
        return a;
    if (roles.missing.empty())
      roles.missing = "attribute '" + std::string(name) + "'";
    return std::nullopt;
  };
  switch (roles.scale) {
  case ir::ToleranceScale::Magnitude:
    break;
  case ir::ToleranceScale::RotatedPair:
    roles.headDim = attribute("head_dim");
    break;
  case ir::ToleranceScale::Residual:
    roles.residual = input("r");
    break;
  case ir::ToleranceScale::NormalisedProjection:
    roles.weight = input("W");
    roles.vector = input("x");
    roles.normWeight = input("w");
    roles.eps = attribute("eps");
    if (ir::opTraits(op).family == ir::ProjectionFamily::MatVecQ8)
      roles.rowScales = input("s");
    break;
  case ir::ToleranceScale::GatedProjection:
    roles.weight = input("Wg");
    roles.upWeight = input("Wu");
    roles.vector = input("x");
    roles.normWeight = input("w");
    roles.eps = attribute("eps");
    break;
  }
  return roles;
}

bool OpCheckResult::ok() const {
  if (!error.empty())
    return false;
  return std::all_of(rows.begin(), rows.end(), [](const OpCheckRow &r) { return r.failures == 0; });
}

OpCheckResult checkOps(const ir::Program &program, const std::vector<executor::HostBuffer> &buffers) {
  OpCheckResult result;
  if (buffers.size() != program.buffers.size()) {
    result.error = "op check: " + std::to_string(buffers.size()) + " buffers read back for a program of " +
                   std::to_string(program.buffers.size());
    return result;
  }
  std::optional<std::vector<TaskRef>> order = linearise(program);
  if (!order) {
    result.error = "op check: the schedule does not run to completion, so no step can be checked";
    return result;
  }
  auto at = [&](TaskRef t) -> const ir::Instruction & { return program.blockPrograms[t.block][t.index]; };

  // Per buffer, the writes in that order: (place in the order, region).
  struct Write {
    size_t place;
    const ir::Region *region;
  };
  std::vector<std::vector<Write>> writes(program.buffers.size());
  for (size_t p = 0; p < order->size(); ++p)
    for (const ir::Region &r : at((*order)[p]).outputs)
      writes[r.buffer].push_back({p, &r});
  // Whether a task at or after `place` (at: the task itself included) writes into `r`.
  auto writtenFrom = [&](size_t place, bool inclusive, const ir::Region &r) {
    const std::vector<Write> &w = writes[r.buffer];
    auto it = inclusive ? std::lower_bound(w.begin(), w.end(), place,
                                           [](const Write &x, size_t p) { return x.place < p; })
                        : std::upper_bound(w.begin(), w.end(), place,
                                           [](size_t p, const Write &x) { return p < x.place; });
    return std::any_of(it, w.end(), [&](const Write &x) { return x.region->overlaps(r); });
  };

  // The tasks run again in that order on a shadow of the memory: each input is read from the
  // device's memory where the step left it as the task read it (nothing writes it from the task on),
  // else from the shadow, which holds what the references computed for it (an in-place op's
  // input, e.g. rope's q). Outputs go to the shadow and are compared with the device's where they
  // are final (nothing writes them later); an output that a later in-place op rewrites is checked
  // through that op's output.
  std::vector<std::optional<OpCheckRow>> rows(executor::kOpCount);
  std::vector<std::vector<double>> inherited(program.buffers.size()); // per element, of chained outputs
  std::vector<std::optional<executor::HostBuffer>> shadow(program.buffers.size());
  auto shadowOf = [&](uint32_t buffer) -> executor::HostBuffer & {
    if (!shadow[buffer])
      shadow[buffer] = buffers[buffer];
    return *shadow[buffer];
  };
  std::vector<executor::Operand> outputs, inputs;
  for (size_t p = 0; p < order->size(); ++p) {
    const ir::Instruction &task = at((*order)[p]);
    std::optional<OpCheckRow> &row = rows[static_cast<size_t>(task.op)];
    if (!row) {
      row.emplace();
      row->op = std::string(ir::opInfo(task.op).name);
    }
    outputs.clear();
    inputs.clear();
    for (const ir::Region &in : task.inputs) {
      executor::HostBuffer *source = writtenFrom(p, true, in) ? &shadowOf(in.buffer)
                                                    : const_cast<executor::HostBuffer *>(&buffers[in.buffer]); // only read
      inputs.push_back(executor::Operand{source, &in});
    }
    for (const ir::Region &out : task.outputs)
      outputs.push_back(executor::Operand{&shadowOf(out.buffer), &out});
    if (std::optional<std::string> failed =
            executor::runTask(task.op, executor::TaskOperands{outputs, inputs, program.sites[task.site].attributes})) {
      result.error = "op check: block " + std::to_string((*order)[p].block) + " instruction " +
                     std::to_string((*order)[p].index) + " (" + program.sites[task.site].text + "): " + *failed;
      return result;
    }
    bool compared = false;
    for (const ir::Region &out : task.outputs)
      compared = compared || !writtenFrom(p, false, out);
    if (!compared) {
      ++row->chained;
      // What the later in-place op reads from the shadow may differ from what the device read by up
      // to this task's tolerance: keep it for that op.
      for (const ir::Region &out : task.outputs) {
        const ir::ast::DType dtype = program.buffers[out.buffer].dtype;
        if (isInteger(dtype))
          continue;
        const executor::HostBuffer &reference = *shadow[out.buffer];
        const std::vector<int64_t> &shape = program.buffers[out.buffer].shape;
        double largest = 0;
        forEachElement(out, shape, [&](int64_t e) { largest = std::max(largest, double(std::fabs(reference.load(e)))); });
        const std::vector<double> scales = toleranceScales(task, program.sites[task.site], reference, inputs, out, shape);
        std::vector<double> &carried = inherited[out.buffer];
        carried.resize(static_cast<size_t>(reference.elements()), 0.0);
        size_t k = 0;
        forEachElement(out, shape, [&](int64_t e) { carried[static_cast<size_t>(e)] = tolerance(dtype, scales[k++], largest); });
      }
      continue;
    }
    ++row->tasks;
    for (const ir::Region &out : task.outputs) {
      if (writtenFrom(p, false, out))
        continue; // rewritten later: checked through the later op
      const executor::HostBuffer &device = buffers[out.buffer];
      executor::HostBuffer &reference = *shadow[out.buffer];
      const std::vector<int64_t> &shape = program.buffers[out.buffer].shape;
      const ir::ast::DType dtype = program.buffers[out.buffer].dtype;
      double largest = 0;
      if (!isInteger(dtype))
        forEachElement(out, shape, [&](int64_t e) { largest = std::max(largest, double(std::fabs(reference.load(e)))); });
      const std::vector<double> scales = isInteger(dtype) ? std::vector<double>{} : toleranceScales(task, program.sites[task.site], reference, inputs, out, shape);
      // rope rotates pairs of a chained input in place: an input pair's error, at most its upstream
      // tolerances, passes through the rotation with its length.
      const std::vector<double> passed = chainedRopeTolerance(task, program.sites[task.site], out, shape, inherited);
      size_t k = 0;
      forEachElement(out, shape, [&](int64_t e) {
        ++row->elements;
        const double scale = isInteger(dtype) ? 0 : scales[k++];
        double d, tol;
        std::string shown;
        if (isInteger(dtype)) {
          d = std::fabs(double(device.loadInt(e) - reference.loadInt(e)));
          tol = 0;
        } else {
          const double x = reference.load(e), y = device.load(e);
          d = (std::isnan(x) != std::isnan(y)) ? INFINITY : (std::isnan(x) ? 0 : std::fabs(x - y));
          tol = tolerance(dtype, scale, largest) + (passed.empty() ? 0.0 : passed[k - 1]);
        }
        row->maxAbsError = std::max(row->maxAbsError, d);
        const double ofTol = d == 0 ? 0 : (tol > 0 ? d / tol : INFINITY);
        if (d > tol)
          ++row->failures;
        if (ofTol > row->maxErrorOfTol || (row->worst.empty() && d > tol)) {
          row->maxErrorOfTol = ofTol;
          std::ostringstream where;
          where << program.buffers[out.buffer].name << " element " << e << ": device "
                << (isInteger(dtype) ? double(device.loadInt(e)) : double(device.load(e))) << ", reference "
                << (isInteger(dtype) ? double(reference.loadInt(e)) : double(reference.load(e))) << " (block "
                << (*order)[p].block << ", " << program.sites[task.site].text << ")";
          row->worst = where.str();
        }
      });
    }
  }
  for (std::optional<OpCheckRow> &row : rows)
    if (row)
      result.rows.push_back(std::move(*row));
  return result;
}

void printOpCheck(const OpCheckResult &result, std::ostream &out) {
  out << std::left << std::setw(20) << "op" << std::right << std::setw(8) << "tasks" << std::setw(9) << "chained"
      << std::setw(11) << "elements" << std::setw(10) << "failures" << std::setw(13) << "max |d|" << std::setw(13)
      << "max |d|/tol" << "\n";
  for (const OpCheckRow &r : result.rows) {
    out << std::left << std::setw(20) << r.op << std::right << std::setw(8) << r.tasks << std::setw(9) << r.chained
        << std::setw(11) << r.elements << std::setw(10) << r.failures << std::setw(13) << std::setprecision(4)
        << r.maxAbsError << std::setw(13) << std::setprecision(4) << r.maxErrorOfTol << "\n";
    if (r.failures)
      out << "  worst: " << r.worst << "\n";
  }
  if (!result.error.empty())
    out << result.error << "\n";
}

} // namespace amk::megakernel
