// The checker's entry point: certify a well-formed core program deadlock-free and race-free, or
// return every violated rule with its witness. Depends only on the program and the op registry.
#pragma once

#include "amk/checker/verdict.h"
#include "amk/ir/diagnostics.h"
#include "amk/ir/program.h"
#include "amk/version.h"

#include <optional>
#include <string>
#include <vector>

namespace amk::checker {

inline constexpr const char *kCheckerVersion = "amk-verify " AMK_VERSION;

struct Options {
  size_t maxRaces = 10; // race violations reported per schedule, at least 1 (all are counted)
};

Verdict verify(const ir::Program &program, const Options &options = {});

// Each violation as a clang-style diagnostic: the primary location, then notes for every other
// instruction involved.
std::vector<ir::Diagnostic> toDiagnostics(const Verdict &verdict, const ir::Program &program);

// nullopt when `program` is certified; otherwise one line per violation, "RULE: message\n", for a
// tool that refuses to run what the checker rejects (amk-run, amk-tune).
std::optional<std::string> rejection(const ir::Program &program);

// "block 3, 'wait done[0] >= 5' at 12:5 (l=0, b=3)"
std::string describeInstruction(const ir::Program &program, InstructionRef at);

} // namespace amk::checker
