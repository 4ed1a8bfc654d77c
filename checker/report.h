// amk-verify's reports: clang-style text, a versioned JSON document, SARIF 2.1.0, replayable witness
// files and a Graphviz view of a witness. The driver that checks files and picks among these is
// checker/verify_tool.h.
#pragma once

#include "amk/checker/smt.h"
#include "amk/checker/verdict.h"
#include "amk/ir/frontend.h"

#include <nlohmann/json_fwd.hpp>

#include <set>
#include <string>
#include <vector>

namespace amk::checker {

inline constexpr const char *kJsonSchema = "amk-verify/1";
inline constexpr const char *kWitnessSchema = "amk-witness/1";

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

// "file.amkir: unsafe: AMK-V004 race x2 (4 blocks, 30 instructions)", or why the file has no verdict.
std::string verdictLine(const FileResult &result);
// "file.amkir: z3: unsafe: AMK-V004 race x2 (14 queries, 0.02 s): agrees with the checker", or what
// the disagreement means.
std::string z3Line(const FileResult &result);
std::string ruleListText(const std::set<Rule> &rules); // "AMK-V003, AMK-V004"

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
