// The explicit form: from an elaborated program to editable per-block instruction lists and back to
// AMKIR text, plus the canonical text used to deduplicate mutants and a structural comparison of
// programs that the round-trip tests and the elaboration fuzz target rely on.
#include "amk/fuzz/explicit.h"

#include "amk/ir/frontend.h"
#include "amk/ir/ops.h"
#include "amk/ir/printer.h"

#include <sstream>

namespace amk::fuzz {

size_t ExplicitSchedule::instructionCount() const {
  size_t n = 0;
  for (const auto &program : programs)
    n += program.size();
  return n;
}

const ExplicitBuffer *ExplicitSchedule::findBuffer(const std::string &name) const {
  for (const ExplicitBuffer &b : buffers)
    if (b.name == name)
      return &b;
  return nullptr;
}

const ExplicitCounter *ExplicitSchedule::findCounter(const std::string &name) const {
  for (const ExplicitCounter &c : counters)
    if (c.name == name)
      return &c;
  return nullptr;
}

namespace {

ExplicitRegion explicitRegion(const ir::Program &program, const ir::Region &region) {
  ExplicitRegion out;
  out.buffer = program.buffers[region.buffer].name;
  for (size_t d = 0; d < region.lo.size(); ++d)
    out.indices.push_back({region.lo[d], region.hi[d], (region.pointDims & (1u << d)) != 0});
  return out;
}

std::string regionText(const ExplicitRegion &region) {
  std::string out = region.buffer + "[";
  for (size_t d = 0; d < region.indices.size(); ++d) {
    const ExplicitIndex &index = region.indices[d];
    out += d ? ", " : "";
    out += index.point ? std::to_string(index.lo) : std::to_string(index.lo) + ":" + std::to_string(index.hi);
  }
  return out + "]";
}

bool sameValue(const ir::ast::Value &a, const ir::ast::Value &b) { return a.value == b.value; }

} // namespace

ExplicitSchedule explicitForm(const ir::Program &program) {
  ExplicitSchedule out;
  out.arch = program.arch;
  out.sms = program.sms;
  out.threads = program.threads;
  out.occupancy = program.occupancy;
  out.meta = program.meta;
  for (const ir::Buffer &b : program.buffers)
    out.buffers.push_back({b.name, b.kind, b.dtype, b.shape});
  for (const ir::Counter &c : program.counters)
    out.counters.push_back({c.name, c.size, c.isArray});
  out.programs.resize(program.blockPrograms.size());
  uint32_t origin = 0;
  for (size_t k = 0; k < program.blockPrograms.size(); ++k) {
    out.blockOrigin.push_back(static_cast<int64_t>(k));
    for (const ir::Instruction &in : program.blockPrograms[k]) {
      ExplicitInstruction e;
      e.origin = ++origin;
      e.kind = in.kind;
      e.order = in.order;
      if (in.kind == ir::InstructionKind::Task) {
        const ir::OpInfo &info = ir::opInfo(in.op);
        e.op = std::string(info.name);
        for (const ir::Region &r : in.outputs)
          e.outputs.push_back(explicitRegion(program, r));
        for (const ir::Region &r : in.inputs)
          e.inputs.push_back(explicitRegion(program, r));
        // Every registry attribute, defaults included: the printed task then means the same
        // whatever the defaults are.
        const ir::Site &site = program.sites[in.site];
        for (size_t a = 0; a < info.attributes.size() && a < site.attributes.size(); ++a)
          e.attributes.push_back({std::string(info.attributes[a].name), site.attributes[a]});
      } else if (in.kind != ir::InstructionKind::Barrier) {
        const ir::Counter &counter = program.counters[in.counter];
        e.counter = counter.name;
        if (counter.isArray)
          e.counterElement = in.counterIndex;
        e.amount = in.amount;
      }
      out.programs[k].push_back(std::move(e));
    }
  }
  return out;
}

std::string instructionText(const ExplicitInstruction &in) {
  switch (in.kind) {
  case ir::InstructionKind::Barrier:
    return "barrier";
  case ir::InstructionKind::Signal:
  case ir::InstructionKind::Wait: {
    std::string counter = in.counter + (in.counterElement ? "[" + std::to_string(*in.counterElement) + "]" : "");
    if (in.kind == ir::InstructionKind::Wait)
      return std::string("wait") + ir::syncSuffix(in.order) + " " + counter + " >= " + std::to_string(in.amount);
    return std::string("signal") + ir::syncSuffix(in.order) + " " + counter +
           (in.amount == 1 ? "" : " + " + std::to_string(in.amount));
  }
  case ir::InstructionKind::Task:
    break;
  }
  std::string out = in.op;
  for (size_t i = 0; i < in.outputs.size(); ++i)
    out += (i ? ", " : " ") + regionText(in.outputs[i]);
  out += " <-";
  for (size_t i = 0; i < in.inputs.size(); ++i)
    out += (i ? ", " : " ") + regionText(in.inputs[i]);
  for (const ExplicitAttribute &a : in.attributes)
    out += " " + a.key + "=" + ir::printValue(a.value);
  return out;
}

std::string printExplicit(const ExplicitSchedule &s, const std::vector<std::string> &headerComments) {
  std::ostringstream out;
  for (const std::string &c : headerComments)
    out << "#" << (c.empty() || c[0] == ' ' ? "" : " ") << c << "\n";
  out << "amkir 1\n"
      << "target " << s.arch << " sms=" << s.sms << "\n"
      << "grid blocks=" << s.blocks() << " threads=" << s.threads << " occupancy=" << s.occupancy << "\n";
  for (const ir::MetaEntry &m : s.meta)
    out << "meta " << m.key << "=" << ir::printValue(m.value) << "\n";
  if (!s.buffers.empty())
    out << "\n";
  for (const ExplicitBuffer &b : s.buffers) {
    out << ir::ast::bufferKindName(b.kind) << " " << b.name << " : " << ir::ast::dtypeName(b.dtype) << "[";
    for (size_t d = 0; d < b.shape.size(); ++d)
      out << (d ? ", " : "") << b.shape[d];
    out << "]\n";
  }
  if (!s.counters.empty())
    out << "\n";
  for (const ExplicitCounter &c : s.counters)
    out << "counter " << c.name << (c.isArray ? "[" + std::to_string(c.size) + "]" : "") << "\n";
  // Runs of blocks with the same program share one section, which keeps barrier-only or idle
  // blocks from drowning the file.
  std::vector<std::vector<std::string>> lines(s.programs.size());
  for (size_t k = 0; k < s.programs.size(); ++k)
    for (const ExplicitInstruction &in : s.programs[k])
      lines[k].push_back(instructionText(in));
  for (size_t k = 0; k < s.programs.size();) {
    size_t end = k + 1;
    while (end < s.programs.size() && lines[end] == lines[k])
      ++end;
    if (!lines[k].empty()) {
      out << "\nblocks b in " << k << ".." << end << " {\n";
      for (const std::string &line : lines[k])
        out << "  " << line << "\n";
      out << "}\n";
    }
    k = end;
  }
  return out.str();
}

std::optional<std::string> canonicalText(const std::string &text) {
  ir::Schedule parsed = ir::parseSchedule("mutant.amkir", text, ir::Stage::Parse);
  if (!parsed.ast)
    return std::nullopt;
  return ir::printSurface(*parsed.ast);
}

std::string programDifference(const ir::Program &a, const ir::Program &b) {
  if (a.arch != b.arch || a.sms != b.sms || a.blocks != b.blocks || a.threads != b.threads ||
      a.occupancy != b.occupancy)
    return "target or grid";
  if (a.buffers.size() != b.buffers.size())
    return "buffer count";
  for (size_t i = 0; i < a.buffers.size(); ++i)
    if (a.buffers[i].name != b.buffers[i].name || a.buffers[i].kind != b.buffers[i].kind ||
        a.buffers[i].dtype != b.buffers[i].dtype || a.buffers[i].shape != b.buffers[i].shape)
      return "buffer " + a.buffers[i].name;
  if (a.counters.size() != b.counters.size())
    return "counter count";
  for (size_t i = 0; i < a.counters.size(); ++i)
    if (a.counters[i].name != b.counters[i].name || a.counters[i].size != b.counters[i].size ||
        a.counters[i].isArray != b.counters[i].isArray)
      return "counter " + a.counters[i].name;
  if (a.blockPrograms.size() != b.blockPrograms.size())
    return "block count";
  for (size_t k = 0; k < a.blockPrograms.size(); ++k) {
    const auto &pa = a.blockPrograms[k], &pb = b.blockPrograms[k];
    if (pa.size() != pb.size())
      return "block " + std::to_string(k) + " instruction count";
    for (size_t i = 0; i < pa.size(); ++i) {
      const ir::Instruction &x = pa[i], &y = pb[i];
      std::string where = "block " + std::to_string(k) + " instruction " + std::to_string(i);
      // Buffer and counter ids index the same declaration lists, compared above.
      if (x.kind != y.kind || x.order != y.order || x.op != y.op || x.counter != y.counter ||
          x.counterIndex != y.counterIndex || x.amount != y.amount || x.outputs != y.outputs || x.inputs != y.inputs)
        return where;
      const auto &ax = a.sites[x.site].attributes, &ay = b.sites[y.site].attributes;
      if (ax.size() != ay.size())
        return where + " attributes";
      for (size_t j = 0; j < ax.size(); ++j)
        if (!sameValue(ax[j], ay[j]))
          return where + " attribute " + std::to_string(j);
    }
  }
  return "";
}

} // namespace amk::fuzz
