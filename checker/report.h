// amk-verify's reports: clang-style text, a versioned JSON document, SARIF 2.1.0, replayable witness
// files and a Graphviz view of a witness. The tool's main is a thin shell over runVerifyTool.
#pragma once

#include "amk/checker/smt.h"
#include "amk/checker/verdict.h"
#include "amk/ir/frontend.h"

#include <nlohmann/json_fwd.hpp>

#include <iosfwd>
#include <set>
#include <string>
#include <vector>

namespace amk::checker {

inline constexpr const char *kJsonSchema = "amk-verify/1";
inline constexpr const char *kWitnessSchema = "amk-witness/1";

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

// One checked file: what the front end and the checker said.
struct FileResult {
  ir::Schedule schedule;
  std::optional<Verdict> verdict; // set when the schedule was well-formed
  std::optional<SmtVerdict> smt;  // set when the schedule was well-formed and --z3 was given
};

// How Z3's verdict relates to the checker's, rule by rule.
enum class Agreement {
  Agree,         // the same rules (or Z3 confirms every rule the checker reports)
  Conservative,  // Z3 decided everything and refutes some rule the checker reports
  CheckerMissed, // Z3 proves a rule the checker does not report: an internal error
  Inconclusive,  // Z3 left undecided what would confirm or refute the checker
};
struct CrossCheck {
  Agreement agreement = Agreement::Agree;
  std::set<Rule> missed;      // proved by Z3, not reported by the checker
  std::set<Rule> unconfirmed; // reported by the checker, refuted (or undecided) by Z3
};
std::set<Rule> checkerRules(const Verdict &verdict);
CrossCheck crossCheck(const Verdict &checker, const SmtVerdict &smt);
const char *agreementName(Agreement agreement); // "agrees", "conservative", "checker-missed", "inconclusive"

nlohmann::json witnessJson(const FileResult &result);
nlohmann::json reportJson(const std::vector<FileResult> &results);
nlohmann::json sarifJson(const std::vector<FileResult> &results);
std::string witnessDot(const FileResult &result);

// The verdict a corpus file states on its "# expect:" line ("safe", "unsafe AMK-V003, AMK-V004",
// "malformed AMK-P001"), normalised; empty when the file has none.
std::string expectedVerdict(const std::string &text);
// The same form for what the tools concluded.
std::string actualVerdict(const FileResult &result);

} // namespace amk::checker
