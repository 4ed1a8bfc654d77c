// libFuzzer target for the checker, structure-aware: the custom mutator parses the input, applies one
// of the campaign's mutation operators to its explicit form and prints it back, so most inputs stay
// well-formed schedules one bug away from a real one (byte-level mutation still runs a quarter of
// the time, and on inputs that do not parse). Each well-formed input is checked; on small programs
// the explorer labels it too, and a certified schedule the explorer shows unsafe (a false accept)
// aborts. The verdict must also survive printing in explicit form (same program, same verdict).
#include "amk/fuzz/explicit.h"
#include "amk/fuzz/generator.h"
#include "amk/fuzz/mutation.h"
#include "amk/fuzz/oracle.h"
#include "amk/ir/frontend.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t maxSize);

namespace {

// Small enough for the explorer to decide quickly; larger inputs are only checked.
constexpr size_t kExplorerInstructions = 400;
constexpr int64_t kExplorerBlocks = 6;

[[noreturn]] void fail(const std::string &why, const std::string &text) {
  std::fprintf(stderr, "%s\n--- input\n%s\n", why.c_str(), text.c_str());
  std::abort();
}

} // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t maxSize, unsigned int seed) {
  amk::fuzz::Choices choices(seed);
  if (choices.chance(25))
    return LLVMFuzzerMutate(data, size, maxSize);
  amk::ir::Schedule schedule =
      amk::ir::parseSchedule("input.amkir", std::string(reinterpret_cast<const char *>(data), size));
  if (!schedule.program || schedule.program->instructionCount() > 5'000)
    return LLVMFuzzerMutate(data, size, maxSize);
  auto operators = amk::fuzz::mutationOperators();
  const amk::fuzz::MutationOperator &op = operators[choices.below(operators.size())];
  std::optional<amk::fuzz::Mutation> mutation =
      amk::fuzz::mutate(amk::fuzz::explicitForm(*schedule.program), op, choices);
  if (!mutation)
    return LLVMFuzzerMutate(data, size, maxSize);
  std::string text = amk::fuzz::printExplicit(mutation->schedule);
  if (text.size() > maxSize)
    return LLVMFuzzerMutate(data, size, maxSize);
  std::memcpy(data, text.data(), text.size());
  return text.size();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  amk::ir::Schedule schedule = amk::ir::parseSchedule("fuzz.amkir", text);
  if (!schedule.program || schedule.program->instructionCount() > 20'000)
    return 0;
  const amk::ir::Program &program = *schedule.program;
  std::set<std::string> rules;
  if (program.instructionCount() <= kExplorerInstructions && program.blocks <= kExplorerBlocks) {
    amk::fuzz::OracleOptions oracle;
    oracle.explorerBudget = 20'000;
    oracle.z3WhenUndecided = false; // Z3 per input would slow the fuzzer a hundredfold
    amk::fuzz::Judgement judgement = amk::fuzz::judge(program, oracle);
    if (judgement.falseAccept())
      fail("FALSE ACCEPT: the checker certifies a schedule the explorer shows unsafe (" +
               amk::fuzz::ruleList(judgement.explorerRules) + ")",
           text);
    rules = judgement.checkerRules;
  } else {
    rules = amk::fuzz::checkerRules(program);
  }
  amk::ir::Schedule again =
      amk::ir::parseSchedule("explicit.amkir", amk::fuzz::printExplicit(amk::fuzz::explicitForm(program)));
  if (!again.program)
    fail("the explicit form does not elaborate", text);
  if (amk::fuzz::checkerRules(*again.program) != rules)
    fail("the checker's verdict changes when the schedule is printed in explicit form", text);
  return 0;
}
