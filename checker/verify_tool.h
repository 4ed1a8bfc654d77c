// The amk-verify driver: check every file (on a few threads), then print the chosen report and
// write witness and Graphviz files. The tool's main is a thin shell over runVerifyTool.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

namespace amk::checker {

struct ToolOptions {
  std::vector<std::string> files;
  std::string format = "text";
  std::string witnessDirectory;
  std::string dotFile;
  bool stats = false;
  bool expect = false; // compare each file with its "# expect:" line and print a verdict table
  bool quiet = false;
  unsigned jobs = 1;
  size_t maxRaces = 10;
  bool z3 = false;                   // cross-check every well-formed file with the SMT model (checker/smt.h)
  unsigned z3TimeoutMs = 10000;      // per solver query
  unsigned z3TotalTimeoutMs = 60000; // per file
};

// The outcome over all files; main maps it to the exit code (0, 1, 2, 3, 101). InternalError: Z3
// proved a violation the checker did not report (the checker is unsound there).
enum class ToolOutcome { AllSafe, SomeUnsafe, InputError, Inconclusive, InternalError };

ToolOutcome runVerifyTool(const ToolOptions &options, std::ostream &out, std::ostream &err);

} // namespace amk::checker
