// Ground truth for a mutant: the checker's verdict next to an oracle's label. The explorer
// (replay/) decides small programs exactly; where its state budget runs out, the Z3 encoding
// (checker/smt) decides within a time limit; what neither decides is inconclusive and is never
// counted as safe or unsafe. Labels come from these, never from what a mutation operator meant.
#pragma once

#include "amk/ir/program.h"

#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace amk::fuzz {

enum class Label { Safe, Unsafe, Inconclusive };
const char *labelName(Label label); // "safe", "unsafe", "inconclusive"

struct OracleOptions {
  bool useExplorer = true;
  uint64_t explorerBudget = 200'000;
  bool z3WhenUndecided = true; // Z3 when the explorer is not run or says unknown
  bool z3Always = false;       // also Z3 when the explorer decided (cross-check; a disagreement is reported)
  unsigned z3QueryTimeoutMs = 10'000;
  unsigned z3TotalTimeoutMs = 60'000;
};

struct Judgement {
  bool checkerSafe = false;
  std::set<std::string> checkerRules; // "AMK-V00N"
  Label label = Label::Inconclusive;
  std::set<std::string> oracleRules; // of the oracle that gave the label
  std::string oracle = "none";       // "explorer", "z3", "none"
  std::optional<Label> explorer, z3; // each oracle's own answer, when it ran
  std::set<std::string> explorerRules, z3Rules;
  bool oraclesDisagree = false; // both decided and differ (safe vs unsafe, or the rules found)
  double checkerSeconds = 0, explorerSeconds = 0, z3Seconds = 0;

  // Any oracle that shows a violation is enough: a certified schedule must be safe for both.
  bool falseAccept() const { return checkerSafe && (explorer == Label::Unsafe || z3 == Label::Unsafe); }
  bool falseReject() const { return !checkerSafe && label == Label::Safe; }
};

// The checker's rules alone ("safe" when the set is empty).
std::set<std::string> checkerRules(const ir::Program &program);

Judgement judge(const ir::Program &program, const OracleOptions &options);

// "AMK-V002, AMK-V003" (empty set: "safe").
std::string ruleList(const std::set<std::string> &rules);

} // namespace amk::fuzz
