#include "amk/ir/program.h"

#include "amk/ir/printer.h"

namespace amk::ir {

std::vector<int64_t> Region::shape() const {
  std::vector<int64_t> out;
  for (size_t d = 0; d < lo.size(); ++d)
    if (!(pointDims & (1u << d)))
      out.push_back(hi[d] - lo[d]);
  return out;
}

int64_t Region::elements() const {
  int64_t n = 1;
  for (size_t d = 0; d < lo.size(); ++d)
    n *= hi[d] - lo[d];
  return n;
}

bool Region::overlaps(const Region &other) const {
  if (buffer != other.buffer)
    return false;
  for (size_t d = 0; d < lo.size(); ++d)
    if (hi[d] <= other.lo[d] || other.hi[d] <= lo[d])
      return false;
  return true;
}

size_t Program::instructionCount() const {
  size_t n = 0;
  for (const auto &block : blockPrograms)
    n += block.size();
  return n;
}

std::string Program::bindings(const Instruction &instruction) const {
  const Site &site = sites[instruction.site];
  std::string out;
  for (size_t i = 0; i < instruction.loopValues.size() && i < site.loopVariables.size(); ++i)
    out += (i ? ", " : "") + site.loopVariables[i] + "=" + std::to_string(instruction.loopValues[i]);
  return out;
}

std::string Program::regionText(const Region &region) const {
  const Buffer &buffer = buffers[region.buffer];
  std::string out = buffer.name + "[";
  for (size_t d = 0; d < region.lo.size(); ++d) {
    if (d)
      out += ", ";
    if (region.pointDims & (1u << d))
      out += std::to_string(region.lo[d]);
    else
      out += std::to_string(region.lo[d]) + ":" + std::to_string(region.hi[d]);
  }
  return out + "]";
}

std::string Program::counterText(const Instruction &instruction) const {
  const Counter &counter = counters[instruction.counter];
  if (!counter.isArray)
    return counter.name;
  return counter.name + "[" + std::to_string(instruction.counterIndex) + "]";
}

std::string Program::instructionText(const Instruction &instruction, InstructionStyle style) const {
  const Site &site = sites[instruction.site];
  if (style == InstructionStyle::SourceLine) {
    const std::string loopValues = bindings(instruction);
    return std::to_string(site.range.begin.line) + ":" + std::to_string(site.range.begin.column) + " '" + site.text +
           "'" + (loopValues.empty() ? "" : " (" + loopValues + ")");
  }
  switch (instruction.kind) {
  case InstructionKind::Barrier:
    return "barrier";
  case InstructionKind::Signal:
    return std::string("signal") + syncSuffix(instruction.order) + " " + counterText(instruction) +
           (style == InstructionStyle::Brief && instruction.amount == 1 ? ""
                                                                        : " + " + std::to_string(instruction.amount));
  case InstructionKind::Wait:
    return std::string("wait") + syncSuffix(instruction.order) + " " + counterText(instruction) +
           " >= " + std::to_string(instruction.amount);
  case InstructionKind::Task:
    break;
  }
  std::string out(opInfo(instruction.op).name);
  if (style == InstructionStyle::Brief)
    return out;
  for (size_t i = 0; i < instruction.outputs.size(); ++i)
    out += (i ? ", " : " ") + regionText(instruction.outputs[i]);
  out += " <-";
  for (size_t i = 0; i < instruction.inputs.size(); ++i)
    out += (i ? ", " : " ") + regionText(instruction.inputs[i]);
  if (style == InstructionStyle::Core) {
    const auto &specs = opInfo(instruction.op).attributes;
    for (size_t i = 0; i < specs.size() && i < site.attributes.size(); ++i)
      out += " " + std::string(specs[i].name) + "=" + printValue(site.attributes[i]);
  }
  return out;
}

std::string printCore(const Program &program) {
  std::string out = "# core program of " + program.sourceName + ": " + std::to_string(program.blocks) + " blocks, " +
                    std::to_string(program.instructionCount()) + " instructions\n";
  out += "target " + program.arch + " sms=" + std::to_string(program.sms) + "\n";
  out += "grid blocks=" + std::to_string(program.blocks) + " threads=" + std::to_string(program.threads) +
         " occupancy=" + std::to_string(program.occupancy) + "\n";
  for (size_t k = 0; k < program.blockPrograms.size(); ++k) {
    const auto &block = program.blockPrograms[k];
    out += "\nblock " + std::to_string(k) + " (" + std::to_string(block.size()) + " instructions)\n";
    for (size_t i = 0; i < block.size(); ++i) {
      const Instruction &instruction = block[i];
      const Site &site = program.sites[instruction.site];
      std::string bindings = program.bindings(instruction);
      out += "  " + std::to_string(i) + ": " + program.instructionText(instruction, InstructionStyle::Core) + "  # " +
             std::to_string(site.range.begin.line) + ":" + std::to_string(site.range.begin.column) +
             (bindings.empty() ? "" : " " + bindings) + "\n";
    }
  }
  return out;
}

} // namespace amk::ir
