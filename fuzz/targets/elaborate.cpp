// libFuzzer target: raw bytes through the whole front end (lexer, parser, elaboration and every
// well-formedness check). What elaboration accepts must satisfy the validator's promises (regions and
// counter elements in bounds, no write to a param or input, counter sums within 32 bits, grid within
// limits), print in core form, and mean the same program when printed in explicit form and parsed
// again: a difference is an elaboration bug and aborts, leaving the input as the reproducer.
#include "amk/fuzz/explicit.h"
#include "amk/ir/frontend.h"
#include "amk/ir/limits.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>

namespace {

[[noreturn]] void fail(const std::string &why, const std::string &text) {
  std::fprintf(stderr, "elaboration invariant broken: %s\n--- input\n%s\n", why.c_str(), text.c_str());
  std::abort();
}

void checkInvariants(const amk::ir::Program &p, const std::string &text) {
  using amk::ir::InstructionKind;
  if (p.blocks < 1 || p.blocks > amk::ir::limits::kMaxBlocks ||
      static_cast<int64_t>(p.blockPrograms.size()) != p.blocks)
    fail("grid size", text);
  std::map<std::pair<uint32_t, int64_t>, uint64_t> sums;
  for (const auto &block : p.blockPrograms)
    for (const amk::ir::Instruction &in : block) {
      if (in.site >= p.sites.size())
        fail("site index", text);
      for (const auto *list : {&in.outputs, &in.inputs})
        for (const amk::ir::Region &r : *list) {
          if (r.buffer >= p.buffers.size())
            fail("buffer index", text);
          const amk::ir::Buffer &b = p.buffers[r.buffer];
          if (r.lo.size() != b.shape.size() || r.hi.size() != b.shape.size())
            fail("region rank of " + b.name, text);
          for (size_t d = 0; d < b.shape.size(); ++d)
            if (r.lo[d] < 0 || r.hi[d] > b.shape[d] || r.lo[d] >= r.hi[d])
              fail("region out of bounds in " + b.name, text);
        }
      for (const amk::ir::Region &r : in.outputs)
        if (p.buffers[r.buffer].readOnly())
          fail("write to read-only " + p.buffers[r.buffer].name, text);
      if (in.kind == InstructionKind::Signal || in.kind == InstructionKind::Wait) {
        if (in.counter >= p.counters.size() || in.counterIndex < 0 || in.counterIndex >= p.counters[in.counter].size)
          fail("counter element out of bounds", text);
        if (in.amount > amk::ir::limits::kMaxCounterValue)
          fail("amount past 32 bits", text);
        if (in.kind == InstructionKind::Signal) {
          if (in.amount == 0)
            fail("zero increment", text);
          uint64_t &sum = sums[{in.counter, in.counterIndex}];
          sum += in.amount;
          if (sum > amk::ir::limits::kMaxCounterValue)
            fail("counter can wrap", text);
        }
      }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  amk::ir::Schedule schedule = amk::ir::parseSchedule("fuzz.amkir", text);
  if (!schedule.program) {
    // Refused: there must be a reason, and it must render.
    if (!schedule.diagnostics.hasErrors())
      fail("malformed without an error diagnostic", text);
    (void)schedule.renderDiagnostics();
    return 0;
  }
  const amk::ir::Program &program = *schedule.program;
  checkInvariants(program, text);
  // Explicit printing of huge unrolled programs only costs time; the invariants above covered them.
  if (program.instructionCount() > 20'000 || program.blocks > 4096)
    return 0;
  (void)amk::ir::printCore(program);
  std::string explicitText = amk::fuzz::printExplicit(amk::fuzz::explicitForm(program));
  amk::ir::Schedule again = amk::ir::parseSchedule("explicit.amkir", explicitText);
  if (!again.program)
    fail("explicit form is malformed:\n" + again.renderDiagnostics() + "\n--- explicit form\n" + explicitText, text);
  std::string difference = amk::fuzz::programDifference(program, *again.program);
  if (!difference.empty())
    fail("explicit form elaborates to a different program (" + difference + ")\n--- explicit form\n" + explicitText,
         text);
  return 0;
}
