// The core program: what elaboration makes of a schedule. One instruction list per block, every
// loop unrolled, every region a concrete box, every instruction pointing back at its source line
// and the loop-variable values that produced it. The checker, the executors and the lowering all
// read this form, never the surface AST.
#pragma once

#include "amk/ir/ast.h"
#include "amk/ir/ops.h"
#include "amk/ir/source.h"

#include <cstdint>
#include <string>
#include <vector>

namespace amk::ir {

struct Buffer {
  std::string name;
  ast::BufferKind kind = ast::BufferKind::Scratch;
  ast::DType dtype = ast::DType::F32;
  std::vector<int64_t> shape;
  SourceRange declaration;

  bool readOnly() const { return kind == ast::BufferKind::Param || kind == ast::BufferKind::Input; }
};

struct Counter {
  std::string name;
  int64_t size = 1;     // number of elements
  bool isArray = false; // declared as name[size]
  SourceRange declaration;
};

// A box in one buffer: [lo[d], hi[d]) in every dimension of the buffer. Dimensions indexed by a
// point have hi = lo + 1 and are not part of the region's shape.
struct Region {
  uint32_t buffer = 0;
  std::vector<int64_t> lo;
  std::vector<int64_t> hi;
  uint32_t pointDims = 0; // bit d set: dimension d was indexed by a point

  std::vector<int64_t> shape() const;
  int64_t elements() const;
  bool overlaps(const Region &other) const;
  friend bool operator==(const Region &, const Region &) = default;
};

enum class InstructionKind : uint8_t { Task, Barrier, Signal, Wait };

// The core program keeps the scope as written: plain signal = release, plain wait = acquire, both at
// GPU scope.
using SyncOrder = ast::SyncScope;
using ast::syncSuffix;

// How an instruction is printed; each reader of a message was written around one of these.
enum class InstructionStyle : uint8_t {
  Core,       // "matmul h[0:8] <- x[0:8], w[0:8, 0:4] tile=8", "signal done[1] + 1": the core form's line
  Regions,    // Core without the task's attributes
  Brief,      // a task by its op name alone; a signal of 1 without its "+ 1"
  SourceLine, // "12:5 'wait done[b] >= 4' (l=1, b=2)": the source line as written, with its loop values
};

// One source instruction (one line of the schedule), shared by all its elaborated instances.
struct Site {
  SourceRange range;
  std::string text;                       // the instruction as printed in canonical form
  std::vector<std::string> loopVariables; // enclosing variables, outermost first (blocks variable included)
  InstructionKind kind = InstructionKind::Task;
  OpId op = OpId::Opaque;             // tasks
  std::vector<ast::Value> attributes; // tasks: one per registry attribute, defaults filled in
};

struct Instruction {
  InstructionKind kind = InstructionKind::Task;
  SyncOrder order = SyncOrder::Default;
  OpId op = OpId::Opaque;
  uint32_t site = 0;
  uint32_t counter = 0;     // Signal/Wait: counter id
  int64_t counterIndex = 0; // Signal/Wait: element of a counter array (0 for a scalar)
  uint64_t amount = 0;      // Signal: increment; Wait: threshold
  std::vector<Region> outputs;
  std::vector<Region> inputs;
  std::vector<int64_t> loopValues; // values of the site's loopVariables, in the same order
};

struct MetaEntry {
  std::string key;
  ast::Value value;
};

struct Program {
  std::string sourceName;
  std::string arch;
  int64_t sms = 0;
  int64_t blocks = 0;
  int64_t threads = 0;
  int64_t occupancy = 1;
  std::vector<MetaEntry> meta;
  std::vector<Buffer> buffers;
  std::vector<Counter> counters;
  std::vector<Site> sites;
  std::vector<std::vector<Instruction>> blockPrograms; // blockPrograms[k]: the instructions of block k

  size_t instructionCount() const;
  // "l=3, b=17": the loop values of one instruction, for messages.
  std::string bindings(const Instruction &instruction) const;
  // "qkv[0:8]" / "w[3, 0:8, 0:576]": a region with concrete bounds.
  std::string regionText(const Region &region) const;
  std::string counterText(const Instruction &instruction) const;
  std::string instructionText(const Instruction &instruction, InstructionStyle style) const;
  std::string instructionText(uint32_t block, uint32_t index, InstructionStyle style) const {
    return instructionText(blockPrograms[block][index], style);
  }
};

// The core form: per block, one line per instruction with its source position and loop values.
std::string printCore(const Program &program);

} // namespace amk::ir
