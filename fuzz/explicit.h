// The explicit form of a schedule: the elaborated per-block program as an editable value that prints
// back to AMKIR, one `blocks` section per block (or per run of blocks with identical programs), every
// loop unrolled and every index a constant. Mutation operators and the minimiser edit this form,
// because a bug that a real lowering would make (one block's signal missing, one tile off by a row)
// is one edit here but rarely one edit of the loop-and-affine-index surface text.
#pragma once

#include "amk/ir/ast.h"
#include "amk/ir/program.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace amk::fuzz {

// One dimension of a region: a point (drops the dimension from the region's shape) or a slice
// [lo, hi).
struct ExplicitIndex {
  int64_t lo = 0;
  int64_t hi = 1;
  bool point = false;
  friend bool operator==(const ExplicitIndex &, const ExplicitIndex &) = default;
};

struct ExplicitRegion {
  std::string buffer;
  std::vector<ExplicitIndex> indices; // one per buffer dimension
  friend bool operator==(const ExplicitRegion &, const ExplicitRegion &) = default;
};

struct ExplicitAttribute {
  std::string key;
  ir::ast::Value value;
};

struct ExplicitInstruction {
  ir::InstructionKind kind = ir::InstructionKind::Task;
  ir::SyncOrder order = ir::SyncOrder::Default;
  std::string op; // tasks: the registry name
  std::vector<ExplicitRegion> outputs;
  std::vector<ExplicitRegion> inputs;
  std::vector<ExplicitAttribute> attributes;
  std::string counter;                   // signal, wait
  std::optional<int64_t> counterElement; // set for counter arrays
  uint64_t amount = 0;                   // signal: increment; wait: threshold
  // Which instruction of the schedule given to explicitForm this one came from (1-based; 0: made by
  // an edit). Not printed; the minimiser uses it to tell a mutation's edit from its context.
  uint32_t origin = 0;

  bool isSync() const { return kind != ir::InstructionKind::Task; }
  bool writes() const { return !outputs.empty(); }
};

struct ExplicitBuffer {
  std::string name;
  ir::ast::BufferKind kind = ir::ast::BufferKind::Scratch;
  ir::ast::DType dtype = ir::ast::DType::F32;
  std::vector<int64_t> shape;
};

struct ExplicitCounter {
  std::string name;
  int64_t size = 1;
  bool isArray = false;
};

struct ExplicitSchedule {
  std::string arch = "sm_90";
  int64_t sms = 1;
  int64_t threads = 128;
  int64_t occupancy = 1;
  std::vector<ir::MetaEntry> meta;
  std::vector<ExplicitBuffer> buffers;
  std::vector<ExplicitCounter> counters;
  std::vector<std::vector<ExplicitInstruction>> programs; // programs[k]: block k; the grid has programs.size() blocks
  // blockOrigin[k]: the block of the schedule given to explicitForm that block k came from (-1, or
  // missing at the end: a block added by an edit).
  std::vector<int64_t> blockOrigin;

  int64_t blocks() const { return static_cast<int64_t>(programs.size()); }
  size_t instructionCount() const;
  const ExplicitBuffer *findBuffer(const std::string &name) const;
  const ExplicitCounter *findCounter(const std::string &name) const;
};

ExplicitSchedule explicitForm(const ir::Program &program);

// AMKIR text; `headerComments` (without '#') open the file, before `amkir 1`.
std::string printExplicit(const ExplicitSchedule &schedule, const std::vector<std::string> &headerComments = {});

// One instruction as it appears in the printed form ("signal.relaxed done[2] + 3").
std::string instructionText(const ExplicitInstruction &instruction);

// The canonical surface form of a schedule text (ir/printer.h printSurface of its parse), or nullopt
// when it does not parse. Two schedules with the same canonical text are the same schedule.
std::optional<std::string> canonicalText(const std::string &text);

// Structural equality of two elaborated programs by name (buffers, counters, every block's
// instructions with their boxes, counter elements, amounts, scopes and attributes); source ranges,
// sites, loop values and metadata are ignored. Empty when equal, else what differs first.
std::string programDifference(const ir::Program &a, const ir::Program &b);

} // namespace amk::fuzz
