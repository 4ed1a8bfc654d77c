// The checker's entry point: certify a well-formed core program deadlock-free and race-free, or
// return every violated rule with its witness. Depends only on the program and the op registry.
#pragma once

#include "amk/checker/verdict.h"
#include "amk/ir/certificate.h"
#include "amk/ir/diagnostics.h"
#include "amk/ir/frontend.h"
#include "amk/ir/program.h"

#include <optional>
#include <string>
#include <vector>

namespace amk::checker {

inline constexpr const char *kCheckerVersion = ir::kCheckerVersion;

struct Options {
  size_t maxRaces = 10; // race violations reported per schedule, at least 1 (all are counted)
};

Verdict verify(const ir::Program &program, const Options &options = {});

// Each violation as a clang-style diagnostic: the primary location, then notes for every other
// instruction involved.
std::vector<ir::Diagnostic> toDiagnostics(const Verdict &verdict, const ir::Program &program);

// The verdict on a well-formed schedule as the certificate the GPU runtime takes (ir/certificate.h):
// certified when its program is safe, named by the hash of its canonical text and this checker's
// version; a rejection lists one line per violation, "RULE: message\n", for the tools that refuse to
// run what the checker rejects (amk-run, amk-tune).
ir::Certificate certify(const ir::Schedule &schedule);

// "block 3, 'wait done[0] >= 5' at 12:5 (l=0, b=3)"
std::string describeInstruction(const ir::Program &program, InstructionRef at);

} // namespace amk::checker
