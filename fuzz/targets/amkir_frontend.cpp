// libFuzzer target: any byte string through lexer, parser and elaboration must end in a program or
// diagnostics, never a crash, a hang or unbounded memory; and whatever parses must print to text that
// parses back to the same AST, and printing that again must give the same text (the canonical form
// is a fixed point, which amk-fmt --check and the campaign's deduplication rely on).
#include "amk/ir/frontend.h"
#include "amk/ir/parser.h"
#include "amk/ir/printer.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  amk::ir::Schedule schedule =
      amk::ir::parseSchedule("fuzz.amkir", std::string(reinterpret_cast<const char *>(data), size));
  if (!schedule.ast)
    return 0;
  std::string printed = amk::ir::printSurface(*schedule.ast);
  amk::ir::Schedule again = amk::ir::parseSchedule("printed.amkir", printed, amk::ir::Stage::Parse);
  if (!again.ast || !amk::ir::ast::sameStructure(*schedule.ast, *again.ast))
    std::abort(); // the printer and the parser disagree
  if (amk::ir::printSurface(*again.ast) != printed)
    std::abort(); // the canonical form is not canonical
  return 0;
}
