// The checker against its oracles on one program: the explorer first (exact, cheap on the
// scaled-down lowerings), Z3 where the explorer cannot finish.
#include "amk/fuzz/oracle.h"

#include "amk/checker/smt.h"
#include "amk/checker/verify.h"
#include "amk/replay/explorer.h"

#include <chrono>

namespace amk::fuzz {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

} // namespace

const char *labelName(Label label) {
  switch (label) {
  case Label::Safe:
    return "safe";
  case Label::Unsafe:
    return "unsafe";
  case Label::Inconclusive:
    break;
  }
  return "inconclusive";
}

std::string ruleList(const std::set<std::string> &rules) {
  if (rules.empty())
    return "safe";
  std::string out;
  for (const std::string &r : rules)
    out += (out.empty() ? "" : ", ") + r;
  return out;
}

std::set<std::string> checkerRules(const ir::Program &program) {
  checker::Verdict verdict = checker::verify(program);
  std::set<std::string> rules;
  for (const checker::Violation &v : verdict.violations)
    rules.insert(checker::ruleId(v.rule));
  if (verdict.racesFound > 0)
    rules.insert(checker::ruleId(checker::Rule::Race));
  return rules;
}

Judgement judge(const ir::Program &program, const OracleOptions &options) {
  Judgement j;
  auto start = Clock::now();
  j.checkerRules = checkerRules(program);
  j.checkerSafe = j.checkerRules.empty();
  j.checkerSeconds = since(start);

  if (options.useExplorer) {
    start = Clock::now();
    replay::ExploreOptions explore;
    explore.stateBudget = options.explorerBudget;
    explore.maxRaceWitnesses = 1; // the label needs the rules, not every witness
    replay::ExploreResult result = replay::explore(program, explore);
    j.explorerSeconds = since(start);
    if (result.outcome != replay::Outcome::Unknown) {
      j.explorer = result.outcome == replay::Outcome::Safe ? Label::Safe : Label::Unsafe;
      for (replay::Rule rule : result.rules())
        j.explorerRules.insert(replay::ruleId(rule));
    } else {
      j.explorer = Label::Inconclusive;
    }
  }
  bool explorerDecided = j.explorer && *j.explorer != Label::Inconclusive;
  if (options.z3Always || (options.z3WhenUndecided && !explorerDecided)) {
    start = Clock::now();
    checker::SmtOptions smt;
    smt.queryTimeoutMs = options.z3QueryTimeoutMs;
    smt.totalTimeoutMs = options.z3TotalTimeoutMs;
    smt.maxRaces = 1;
    checker::SmtVerdict verdict = checker::verifySmt(program, smt);
    j.z3Seconds = since(start);
    j.z3 = verdict.status == checker::SmtStatus::Safe     ? Label::Safe
           : verdict.status == checker::SmtStatus::Unsafe ? Label::Unsafe
                                                          : Label::Inconclusive;
    for (checker::Rule rule : verdict.rules())
      j.z3Rules.insert(checker::ruleId(rule));
  }
  bool z3Decided = j.z3 && *j.z3 != Label::Inconclusive;
  if (explorerDecided) {
    j.label = *j.explorer;
    j.oracleRules = j.explorerRules;
    j.oracle = "explorer";
  } else if (z3Decided) {
    j.label = *j.z3;
    j.oracleRules = j.z3Rules;
    j.oracle = "z3";
  }
  // Both exact, so they must agree on the rules too (a mismatch counts as deadlock either way:
  // whether a barrier mismatch also leaves a block stuck at a wait is reported as V002 or V002+V003).
  auto deadlockAsOne = [](const std::set<std::string> &rules) {
    std::set<std::string> out;
    for (const std::string &r : rules)
      out.insert(r == "AMK-V002" ? "AMK-V003" : r);
    return out;
  };
  j.oraclesDisagree = explorerDecided && z3Decided &&
                      (*j.explorer != *j.z3 || deadlockAsOne(j.explorerRules) != deadlockAsOne(j.z3Rules));
  return j;
}

} // namespace amk::fuzz
