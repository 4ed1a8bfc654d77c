#include "amk/fuzz/differential.h"

#include "amk/checker/smt.h"
#include "amk/checker/verify.h"
#include "amk/fuzz/generator.h"
#include "amk/ir/frontend.h"
#include "amk/replay/explorer.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace amk::fuzz {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

template <typename Rules> std::string verdictText(bool safe, const Rules &rules) {
  if (safe)
    return "safe";
  std::string out = "unsafe";
  bool first = true;
  for (const std::string &rule : rules) {
    out += (first ? " " : ",") + rule;
    first = false;
  }
  return out;
}

// Deadlock-like rules compared as one class: the tools agree that a block cannot finish, and
// differ only in whether a barrier mismatch is reported once or also as a deadlock.
std::set<std::string> normalised(const std::set<std::string> &rules) {
  std::set<std::string> out;
  for (const std::string &r : rules)
    out.insert(r == "AMK-V002" ? "AMK-V003" : r);
  return out;
}

double median(std::vector<double> values) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

struct Verdicts {
  std::optional<std::set<std::string>> checker;  // nullopt: not well-formed
  std::optional<std::set<std::string>> explorer; // nullopt: unknown
  std::optional<std::set<std::string>> z3;       // nullopt: inconclusive or not run
  bool explorerDecided = false, z3Decided = false;
};

} // namespace

DifferentialCase compareOne(uint64_t seed, const std::string &schedule, const DifferentialOptions &options) {
  DifferentialCase result;
  result.seed = seed;
  ir::Schedule parsed = ir::parseSchedule("seed-" + std::to_string(seed) + ".amkir", schedule);
  if (!parsed.program) {
    result.checker = "malformed";
    result.explorer = result.z3 = "not run";
    return result;
  }
  const ir::Program &program = *parsed.program;

  auto start = Clock::now();
  checker::Verdict verdict = checker::verify(program);
  result.checkerSeconds = since(start);
  std::set<std::string> checkerRules;
  for (const checker::Violation &v : verdict.violations)
    checkerRules.insert(checker::ruleId(v.rule));
  if (verdict.racesFound > 0)
    checkerRules.insert("AMK-V004");
  result.checker = verdictText(verdict.safe(), checkerRules);

  start = Clock::now();
  replay::ExploreOptions exploreOptions;
  exploreOptions.stateBudget = options.explorerStateBudget;
  replay::ExploreResult explored = replay::explore(program, exploreOptions);
  result.explorerSeconds = since(start);
  std::set<std::string> explorerRules;
  for (replay::Rule rule : explored.rules())
    explorerRules.insert(replay::ruleId(rule));
  bool explorerUnsafe = explored.outcome == replay::Outcome::Unsafe;
  bool explorerSafe = explored.outcome == replay::Outcome::Safe;
  result.explorer = explorerSafe ? "safe" : explorerUnsafe ? verdictText(false, explorerRules) : "unknown";

  bool z3Unsafe = false, z3Safe = false;
  std::set<std::string> z3Rules;
  if (options.useZ3) {
    start = Clock::now();
    checker::SmtOptions smtOptions;
    smtOptions.queryTimeoutMs = options.z3TimeoutMs;
    smtOptions.totalTimeoutMs = options.z3TimeoutMs * 4;
    checker::SmtVerdict smt = checker::verifySmt(program, smtOptions);
    result.z3Seconds = since(start);
    for (checker::Rule rule : smt.rules())
      z3Rules.insert(checker::ruleId(rule));
    z3Unsafe = smt.status == checker::SmtStatus::Unsafe;
    z3Safe = smt.status == checker::SmtStatus::Safe;
    result.z3 = z3Safe ? "safe" : z3Unsafe ? verdictText(false, z3Rules) : "inconclusive";
  } else {
    result.z3 = "not run";
  }

  result.falseAccept = verdict.safe() && (explorerUnsafe || z3Unsafe);
  result.falseReject = !verdict.safe() && explorerSafe;
  if (options.useZ3 && (explorerSafe || explorerUnsafe) && (z3Safe || z3Unsafe))
    result.oracleDisagreement =
        explorerSafe != z3Safe || (explorerUnsafe && normalised(explorerRules) != normalised(z3Rules));
  return result;
}

std::string minimise(const std::string &schedule, const std::function<bool(const std::string &)> &stillFails) {
  std::vector<std::string> lines;
  std::istringstream in(schedule);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  auto join = [](const std::vector<std::string> &ls) {
    std::string out;
    for (const std::string &l : ls)
      out += l + "\n";
    return out;
  };
  bool shrunk = true;
  while (shrunk) {
    shrunk = false;
    for (size_t i = 0; i < lines.size(); ++i) {
      std::vector<std::string> candidate = lines;
      candidate.erase(candidate.begin() + static_cast<std::ptrdiff_t>(i));
      if (stillFails(join(candidate))) {
        lines = std::move(candidate);
        shrunk = true;
        --i;
      }
    }
  }
  return join(lines);
}

DifferentialSummary runDifferential(const DifferentialOptions &options,
                                    const std::function<void(uint64_t, uint64_t)> &progress) {
  DifferentialSummary summary;
  std::vector<double> checkerTimes, explorerTimes, z3Times;
  for (uint64_t i = 0; i < options.count; ++i) {
    uint64_t seed = options.firstSeed + i;
    Choices choices(seed);
    std::string schedule = generateSchedule(choices);
    DifferentialCase c = compareOne(seed, schedule, options);
    ++summary.schedules;
    summary.checkerSafe += c.checker == "safe";
    summary.explorerSafe += c.explorer == "safe";
    summary.explorerUnknown += c.explorer == "unknown";
    summary.explorerUnsafe += c.explorer.rfind("unsafe", 0) == 0;
    summary.z3Safe += c.z3 == "safe";
    summary.z3Inconclusive += c.z3 == "inconclusive";
    summary.z3Unsafe += c.z3.rfind("unsafe", 0) == 0;
    summary.falseAccepts += c.falseAccept;
    summary.falseRejects += c.falseReject;
    summary.oracleDisagreements += c.oracleDisagreement;
    checkerTimes.push_back(c.checkerSeconds);
    explorerTimes.push_back(c.explorerSeconds);
    if (options.useZ3)
      z3Times.push_back(c.z3Seconds);
    if (c.falseAccept && !options.regressionDirectory.empty()) {
      DifferentialOptions quick = options;
      std::string small =
          minimise(schedule, [&](const std::string &text) { return compareOne(seed, text, quick).falseAccept; });
      DifferentialCase minimal = compareOne(seed, small, options);
      std::string oracleVerdict = minimal.explorer.rfind("unsafe", 0) == 0 ? minimal.explorer : minimal.z3;
      std::filesystem::create_directories(options.regressionDirectory);
      std::filesystem::path path =
          std::filesystem::path(options.regressionDirectory) / ("differential-seed-" + std::to_string(seed) + ".amkir");
      std::ofstream out(path);
      out << "# expect: " << oracleVerdict << "\n"
          << "# found by: amk-fuzz differential --seed " << seed << " --count 1 (checker: " << minimal.checker
          << ", explorer: " << minimal.explorer << ", z3: " << minimal.z3 << "), minimised\n"
          << small;
      summary.regressionFiles.push_back(path.string());
    }
    if (c.falseAccept || c.falseReject || c.oracleDisagreement)
      summary.notable.push_back(c);
    if (progress)
      progress(i + 1, options.count);
  }
  summary.medianCheckerSeconds = median(checkerTimes);
  summary.medianExplorerSeconds = median(explorerTimes);
  summary.medianZ3Seconds = median(z3Times);
  return summary;
}

std::string summaryTable(const DifferentialSummary &s) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(3);
  out << "schedules compared            " << s.schedules << "\n"
      << "checker safe                  " << s.checkerSafe << "\n"
      << "explorer safe/unsafe/unknown  " << s.explorerSafe << " / " << s.explorerUnsafe << " / " << s.explorerUnknown
      << "\n"
      << "z3 safe/unsafe/inconclusive   " << s.z3Safe << " / " << s.z3Unsafe << " / " << s.z3Inconclusive << "\n"
      << "false accepts                 " << s.falseAccepts << "\n"
      << "false rejects                 " << s.falseRejects << " (" << 100.0 * s.falseRejectRate()
      << "% of explorer-safe)\n"
      << "oracle disagreements          " << s.oracleDisagreements << "\n"
      << "median ms checker/explorer/z3 " << 1000 * s.medianCheckerSeconds << " / " << 1000 * s.medianExplorerSeconds
      << " / " << 1000 * s.medianZ3Seconds << "\n";
  for (const DifferentialCase &c : s.notable)
    out << (c.falseAccept   ? "FALSE ACCEPT"
            : c.falseReject ? "false reject"
                            : "DISAGREEMENT")
        << " seed " << c.seed << ": checker " << c.checker << "; explorer " << c.explorer << "; z3 " << c.z3 << "\n";
  for (const std::string &f : s.regressionFiles)
    out << "regression written: " << f << "\n";
  return out.str();
}

} // namespace amk::fuzz
