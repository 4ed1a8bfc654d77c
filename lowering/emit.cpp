// Core program → instruction tape and kernel source. Every operand region becomes a matrix view
// (offset, rows, columns, row stride); a region that is no such view (two strided dimensions) is
// refused with its source line rather than lowered approximately.
#include "amk/lowering/emit.h"

#include "amk/ir/content_hash.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <variant>
#include <vector>

namespace amk::lowering {

namespace {

// AmkDType is plain C for NVRTC, so it cannot name ir::ast::DType; it spells the same values, and the
// tape stores the one as the other.
static_assert(AMK_BF16 == static_cast<int>(ir::ast::DType::BF16));
static_assert(AMK_F16 == static_cast<int>(ir::ast::DType::F16));
static_assert(AMK_F32 == static_cast<int>(ir::ast::DType::F32));
static_assert(AMK_I32 == static_cast<int>(ir::ast::DType::I32));
static_assert(AMK_I8 == static_cast<int>(ir::ast::DType::I8));

int dtypeCode(ir::ast::DType dtype) { return static_cast<int>(dtype); }

// The region as rows x cols with a uniform row stride, or an error. Columns run along the last
// dimension; rows along the one leading dimension with extent > 1, or along several when every
// dimension after the first such one is whole (the box is then contiguous rows).
std::string toOperand(const ir::Program &program, const ir::Region &region, AmkOperand &operand) {
  const ir::Buffer &buffer = program.buffers[region.buffer];
  const std::vector<int64_t> &shape = buffer.shape;
  const size_t rank = shape.size();
  std::memset(&operand, 0, sizeof operand);
  operand.stage = -1; // read from global memory unless stageWeights stages it
  operand.buffer = region.buffer;
  operand.dtype = dtypeCode(buffer.dtype);
  std::vector<int64_t> stride(rank, 1);
  for (size_t d = rank; d-- > 1;)
    stride[d - 1] = stride[d] * shape[d];
  int64_t offset = 0;
  for (size_t d = 0; d < rank; ++d)
    offset += region.lo[d] * stride[d];
  operand.offset = offset;
  if (rank == 0) {
    operand.rows = operand.cols = 1;
    return "";
  }
  operand.cols = static_cast<int>(region.hi[rank - 1] - region.lo[rank - 1]);
  operand.colLo = static_cast<int>(region.lo[rank - 1]);
  operand.rowStride = stride[rank - 1 == 0 ? 0 : rank - 2];
  operand.rows = 1;
  std::vector<size_t> wide;
  for (size_t d = 0; d + 1 < rank; ++d)
    if (region.hi[d] - region.lo[d] > 1)
      wide.push_back(d);
  if (wide.empty())
    return "";
  if (wide.size() == 1) {
    operand.rows = static_cast<int>(region.hi[wide[0]] - region.lo[wide[0]]);
    operand.rowStride = stride[wide[0]];
    operand.rowLo = static_cast<int>(region.lo[wide[0]]);
    return "";
  }
  // Several wide dimensions: contiguous when every dimension after the first wide one is whole.
  for (size_t d = wide[0] + 1; d < rank; ++d)
    if (region.lo[d] != 0 || region.hi[d] != shape[d])
      return "region " + program.regionText(region) + " is not a matrix view (several strided dimensions)";
  int64_t rows = 1;
  for (size_t d = wide[0]; d + 1 < rank; ++d)
    rows *= region.hi[d] - region.lo[d];
  operand.rows = static_cast<int>(rows);
  operand.rowStride = shape[rank - 1];
  operand.rowLo = 0;
  return "";
}

float attributeNumber(const ir::ast::Value &value) {
  if (const int64_t *i = std::get_if<int64_t>(&value.value))
    return static_cast<float>(*i);
  if (const double *d = std::get_if<double>(&value.value))
    return static_cast<float>(*d);
  const std::string &s = std::get<std::string>(value.value);
  return s == "llama3" ? 1.0f : 0.0f; // rope's scaling word; opaque's name is not needed on the device
}

// The prefetch hints of every wait and barrier (megakernel/device/amk_abi.h): the weight operands of the projections
// (each of the weight inputs ir/ops.def names) and the cache operands of the attentions (its cache inputs) that
// follow it before the block's next synchronisation, as many as fit in its operand slots.
void addPrefetchHints(Tape &tape) {
  for (size_t k = 0; k + 1 < tape.blockStart.size(); ++k) {
    const uint32_t end = tape.blockStart[k + 1];
    for (uint32_t i = tape.blockStart[k]; i < end; ++i) {
      AmkInstr &sync = tape.instructions[i];
      if (sync.kind != AMK_WAIT && sync.kind != AMK_BARRIER)
        continue;
      std::vector<AmkOperand> whole, clipped;
      const AmkOperand *position = nullptr;
      for (uint32_t j = i + 1; j < end && tape.instructions[j].kind == AMK_TASK; ++j) {
        const AmkInstr &task = tape.instructions[j];
        const AmkOperand *inputs = task.operands + task.outputs;
        const ir::OpTraits &traits = ir::opTraits(static_cast<ir::OpId>(task.op));
        for (int w = 0; w < traits.weightInputs; ++w)
          if (inputs[traits.weightInput + w].stage < 0) // a staged weight is already on its way
            whole.push_back(inputs[traits.weightInput + w]);
        if (traits.cacheInput >= 0) {
          // kcache, vcache, then the position they are read up to (ir/ops.def).
          const AmkOperand *cache = inputs + traits.cacheInput;
          if (!position || std::memcmp(position, &cache[2], sizeof(AmkOperand)) == 0) {
            clipped.push_back(cache[0]);
            clipped.push_back(cache[1]);
            position = &cache[2];
          }
        }
      }
      const size_t clippedSlots = clipped.empty() ? 0 : std::min<size_t>(clipped.size(), AMK_MAX_OPERANDS - 1);
      const size_t wholeSlots = std::min(whole.size(), AMK_MAX_OPERANDS - clippedSlots - (clippedSlots ? 1 : 0));
      size_t slot = 0;
      for (size_t w = 0; w < wholeSlots; ++w)
        sync.operands[slot++] = whole[w];
      for (size_t c = 0; c < clippedSlots; ++c)
        sync.operands[slot++] = clipped[c];
      if (clippedSlots)
        sync.operands[slot++] = *position;
      sync.outputs = static_cast<int>(wholeSlots);
      sync.inputs = static_cast<int>(clippedSlots);
    }
  }
}

// A task followed by a signal carries it (AmkInstr::folded): the device signals right after the
// task's closing block barrier instead of running the signal's record as an instruction of its own.
void foldSignals(Tape &tape) {
  for (size_t k = 0; k + 1 < tape.blockStart.size(); ++k)
    for (uint32_t i = tape.blockStart[k]; i + 1 < tape.blockStart[k + 1]; ++i) {
      AmkInstr &task = tape.instructions[i];
      const AmkInstr &signal = tape.instructions[i + 1];
      if (task.kind != AMK_TASK || signal.kind != AMK_SIGNAL)
        continue;
      task.folded = 1;
      task.counter = signal.counter;
      task.amount = signal.amount;
      task.order = signal.order;
      ++i; // the signal's record is skipped by the device
    }
}

// Whether the device runs record i of its block (a signal folded into the task before it is not).
bool executes(const Tape &tape, uint32_t first, uint32_t i) {
  return !(i > first && tape.instructions[i].kind == AMK_SIGNAL && tape.instructions[i - 1].kind == AMK_TASK &&
           tape.instructions[i - 1].folded);
}

// Params that some task writes: never staged, whatever the checker said of the schedule (amk-replay
// runs rejected schedules too), so a staged read can never return a value a program-order read would not.
std::vector<bool> writtenBuffers(const ir::Program &program) {
  std::vector<bool> written(program.buffers.size(), false);
  for (const std::vector<ir::Instruction> &block : program.blockPrograms)
    for (const ir::Instruction &in : block)
      if (in.kind == ir::InstructionKind::Task)
        for (const ir::Region &r : in.outputs)
          written[r.buffer] = true;
  return written;
}

// Weight staging (megakernel/device/amk_abi.h, docs/megakernel.md): per block, the weight operands of
// its projections, in program order, get consecutive places in a ring of `ringBytes` bytes of shared
// memory, wrapping around. Each one's bulk copy is started by the earliest record of the block that
// (1) comes after the last task reading the ring bytes it overwrites, (2) comes after the last task
// that waited on the ring barrier it uses, and (3) has a free copy slot; at the latest by the task
// itself, else the operand stays in global memory. Only param buffers that no task writes are staged.
void stageWeights(Tape &tape, const ir::Program &program, uint32_t ringBytes) {
  if (ringBytes == 0)
    return;
  const std::vector<bool> written = writtenBuffers(program);
  for (size_t k = 0; k + 1 < tape.blockStart.size(); ++k) {
    const uint32_t first = tape.blockStart[k], end = tape.blockStart[k + 1];
    struct Placed {
      uint32_t lo, hi, reader;
    };
    std::vector<Placed> placed;
    std::vector<int64_t> barrierReader(AMK_STAGE_BARRIERS, -1);
    std::vector<uint32_t> barrierUses(AMK_STAGE_BARRIERS, 0);
    uint32_t head = 0;
    int nextBarrier = 0;
    for (uint32_t j = first; j < end; ++j) {
      AmkInstr &task = tape.instructions[j];
      if (task.kind != AMK_TASK)
        continue;
      const ir::OpTraits &traits = ir::opTraits(static_cast<ir::OpId>(task.op));
      for (int weight = 0; weight < traits.weightInputs; ++weight) {
        AmkOperand &w = task.operands[task.outputs + traits.weightInput + weight];
        const ir::Buffer &buffer = program.buffers[w.buffer];
        if (buffer.kind != ir::ast::BufferKind::Param || written[w.buffer])
          continue;
        const int64_t size = static_cast<int64_t>(ir::ast::dtypeBytes(buffer.dtype));
        const int64_t bytes = static_cast<int64_t>(w.rows) * w.cols * size, from = w.offset * size;
        if ((w.rows > 1 && w.rowStride != w.cols) || bytes % 16 != 0 || from % 16 != 0 || bytes > ringBytes ||
            bytes >= (int64_t{1} << 20))
          continue;
        uint32_t lo = head;
        if (lo + bytes > ringBytes)
          lo = 0;
        const uint32_t hi = lo + static_cast<uint32_t>(bytes);
        int64_t earliest = first;
        for (auto it = placed.rbegin(); it != placed.rend(); ++it)
          if (it->lo < hi && lo < it->hi) {
            earliest = std::max<int64_t>(earliest, it->reader + 1); // the newest overlap is read last
            break;
          }
        const int barrier = nextBarrier;
        earliest = std::max<int64_t>(earliest, barrierReader[barrier] + 1);
        int64_t issue = -1;
        for (int64_t i = earliest; i <= j; ++i)
          if (executes(tape, first, static_cast<uint32_t>(i)) && tape.instructions[i].copies < AMK_MAX_COPIES) {
            issue = i;
            break;
          }
        if (issue < 0)
          continue;
        const int phase = static_cast<int>(barrierUses[barrier] & 1);
        AmkInstr &issuer = tape.instructions[issue];
        AmkCopy &copy = issuer.copy[issuer.copies++];
        copy.buffer = w.buffer;
        copy.bytes = static_cast<uint32_t>(bytes);
        copy.from = from;
        copy.ring = static_cast<int>(lo);
        copy.barrier = barrier * 2 + phase;
        w.stage = static_cast<int>(lo);
        w.stageBarrier = barrier * 2 + phase;
        ++barrierUses[barrier];
        barrierReader[barrier] = j;
        nextBarrier = (nextBarrier + 1) % AMK_STAGE_BARRIERS;
        placed.push_back({lo, hi, j});
        head = (hi + 127) & ~127u;
      }
    }
  }
}

} // namespace

std::array<uint32_t, AMK_SCHEDULE_HASH_WORDS> scheduleHashWords(const std::string &scheduleHash) {
  std::array<uint32_t, AMK_SCHEDULE_HASH_WORDS> words{};
  if (auto bytes = ir::contentHashBytes(scheduleHash)) {
    static_assert(sizeof words == sizeof *bytes);
    std::memcpy(words.data(), bytes->data(), sizeof words);
  }
  return words;
}

std::array<uint32_t, AMK_CHECKER_HASH_WORDS> checkerHashWords(const std::string &checkerVersion) {
  std::array<uint32_t, AMK_CHECKER_HASH_WORDS> words{};
  const auto bytes = ir::contentHashBytes(ir::contentHash(checkerVersion));
  static_assert(sizeof words <= sizeof *bytes);
  std::memcpy(words.data(), bytes->data(), sizeof words);
  return words;
}

Result<Tape> buildTape(const ir::Program &program, const std::string &canonicalText, const std::string &checkerVersion,
                       const TapeOptions &options) {
  Tape tape;
  tape.scheduleHash = ir::contentHash(canonicalText);
  tape.checkerVersion = checkerVersion;
  tape.blocks = program.blocks;
  tape.threads = program.threads;
  for (const ir::Buffer &b : program.buffers) {
    int64_t elements = 1;
    for (int64_t d : b.shape)
      elements *= d;
    tape.buffers.push_back({b.name, dtypeCode(b.dtype), elements, static_cast<int>(b.kind)});
  }
  std::vector<uint32_t> counterBase;
  for (const ir::Counter &c : program.counters) {
    counterBase.push_back(static_cast<uint32_t>(tape.counterNames.size()));
    for (int64_t i = 0; i < c.size; ++i)
      tape.counterNames.push_back(c.isArray ? c.name + "[" + std::to_string(i) + "]" : c.name);
  }
  for (size_t k = 0; k < program.blockPrograms.size(); ++k) {
    tape.blockStart.push_back(static_cast<uint32_t>(tape.instructions.size()));
    for (const ir::Instruction &in : program.blockPrograms[k]) {
      AmkInstr out;
      std::memset(&out, 0, sizeof out);
      out.site = in.site;
      auto fail = [&](const std::string &why) {
        const ir::Site &site = program.sites[in.site];
        return Error("", program.sourceName + ":" + std::to_string(site.range.begin.line) + ":" +
                             std::to_string(site.range.begin.column) + ": '" + site.text + "' (block " +
                             std::to_string(k) + "): " + why);
      };
      switch (in.kind) {
      case ir::InstructionKind::Task: {
        out.kind = AMK_TASK;
        out.op = static_cast<int>(in.op);
        out.outputs = static_cast<int>(in.outputs.size());
        out.inputs = static_cast<int>(in.inputs.size());
        if (in.outputs.size() + in.inputs.size() > AMK_MAX_OPERANDS) {
          return fail("more than " + std::to_string(AMK_MAX_OPERANDS) + " operands");
        }
        size_t slot = 0;
        for (const auto *regions : {&in.outputs, &in.inputs})
          for (const ir::Region &r : *regions)
            if (std::string why = toOperand(program, r, out.operands[slot++]); !why.empty())
              return fail(why);
        const std::vector<ir::ast::Value> &attributes = program.sites[in.site].attributes;
        for (size_t a = 0; a < attributes.size() && a < AMK_MAX_ATTRIBUTES; ++a)
          out.attributes[a] = attributeNumber(attributes[a]);
        break;
      }
      case ir::InstructionKind::Barrier:
        out.kind = AMK_BARRIER;
        break;
      case ir::InstructionKind::Signal:
      case ir::InstructionKind::Wait:
        out.kind = in.kind == ir::InstructionKind::Signal ? AMK_SIGNAL : AMK_WAIT;
        out.order = in.order == ir::SyncOrder::Default   ? AMK_ORDER_GPU
                    : in.order == ir::SyncOrder::Relaxed ? AMK_ORDER_RELAXED
                                                         : AMK_ORDER_CTA;
        out.counter = counterBase[in.counter] + static_cast<uint32_t>(in.counterIndex);
        out.amount = static_cast<uint32_t>(in.amount);
        break;
      }
      tape.instructions.push_back(out);
    }
  }
  tape.blockStart.push_back(static_cast<uint32_t>(tape.instructions.size()));
  foldSignals(tape);
  stageWeights(tape, program, options.ringBytes);
  tape.ringBytes = options.ringBytes;
  addPrefetchHints(tape);
  AmkTapeHeader &header = tape.header;
  header.magic = AMK_TAPE_MAGIC;
  header.version = AMK_TAPE_VERSION;
  header.blocks = static_cast<uint32_t>(program.blocks);
  header.threads = static_cast<uint32_t>(program.threads);
  header.instructions = static_cast<uint32_t>(tape.instructions.size());
  const auto scheduleWords = scheduleHashWords(tape.scheduleHash);
  const auto checkerWords = checkerHashWords(checkerVersion);
  std::copy(scheduleWords.begin(), scheduleWords.end(), header.scheduleHash);
  std::copy(checkerWords.begin(), checkerWords.end(), header.checkerHash);
  return tape;
}

std::string kernelCompileUnit(const Tape &tape) {
  // The projection families the tape uses: the kernel compiles only those (amk_device.cuh).
  bool matvec = false, matvecQ8 = false;
  for (const AmkInstr &in : tape.instructions) {
    if (in.kind != AMK_TASK)
      continue;
    const ir::ProjectionFamily family = ir::opTraits(static_cast<ir::OpId>(in.op)).family;
    matvec = matvec || family == ir::ProjectionFamily::MatVec;
    matvecQ8 = matvecQ8 || family == ir::ProjectionFamily::MatVecQ8;
  }
  std::ostringstream out;
  out << "#define AMK_THREADS " << tape.threads << "\n"
      << "#define AMK_WITH_MATVEC " << (matvec ? 1 : 0) << "\n"
      << "#define AMK_WITH_MATVEC_Q8 " << (matvecQ8 ? 1 : 0) << "\n"
      << "#include \"amk_device.cuh\"\n";
  return out.str();
}

std::string emitKernel(const Tape &tape, const EmitOptions &options) {
  std::ostringstream out;
  out << "// AMK megakernel for schedule " << options.scheduleName << "\n"
      << "// schedule content hash " << tape.scheduleHash << " (SHA-256 of its canonical text), "
      << (options.rejected ? "REJECTED by " + tape.checkerVersion + ", lowered for replay only"
                           : "certified by " + tape.checkerVersion)
      << "\n"
      << "// " << tape.blocks << " blocks x " << tape.threads << " threads, " << tape.instructions.size()
      << " tape instructions, " << tape.counterNames.size() << " counter elements.\n"
      << "// Generated by amk-lower: the persistent cooperative kernel interprets the schedule's instruction\n"
      << "// tape, which the host runtime builds from the certified schedule and uploads. The code below\n"
      << "// depends only on the block size and the op families, so one compile serves every such tape;\n"
      << "// the tape's header carries the hashes above, and the kernel runs it only under a launch\n"
      << "// certified for them (docs/megakernel.md, \"Certificate binding\").\n"
      << kernelCompileUnit(tape);
  return out.str();
}

} // namespace amk::lowering
