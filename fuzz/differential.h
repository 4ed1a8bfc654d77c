// Differential testing of the checker against the two oracles that share no analysis with it: the
// explicit-state explorer (replay/) and the Z3 encoding (checker/smt). A schedule the checker
// certifies that an oracle shows unsafe is a false accept; one it rejects that the explorer proves
// safe is a false reject; the oracles must agree wherever both decide.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace amk::fuzz {

struct DifferentialOptions {
  uint64_t firstSeed = 1;
  uint64_t count = 1000;
  bool useZ3 = true;
  uint64_t explorerStateBudget = 200'000;
  unsigned z3TimeoutMs = 10'000;
  std::string regressionDirectory; // where minimised false accepts are written ("" = nowhere)
};

// What the three said about one schedule: "safe", "unsafe AMK-V00N,...", "unknown"/"inconclusive",
// "not run".
struct DifferentialCase {
  uint64_t seed = 0;
  std::string checker;
  std::string explorer;
  std::string z3;
  bool falseAccept = false;
  bool falseReject = false;
  bool oracleDisagreement = false;
  double checkerSeconds = 0, explorerSeconds = 0, z3Seconds = 0;
};

struct DifferentialSummary {
  uint64_t schedules = 0;
  uint64_t checkerSafe = 0;
  uint64_t explorerSafe = 0, explorerUnsafe = 0, explorerUnknown = 0;
  uint64_t z3Safe = 0, z3Unsafe = 0, z3Inconclusive = 0;
  uint64_t falseAccepts = 0;
  uint64_t falseRejects = 0;        // checker unsafe, explorer safe
  uint64_t oracleDisagreements = 0; // explorer and Z3 both decided and differ
  double medianCheckerSeconds = 0, medianExplorerSeconds = 0, medianZ3Seconds = 0;
  std::vector<DifferentialCase> notable; // every false accept, false reject and disagreement
  std::vector<std::string> regressionFiles;

  double falseRejectRate() const { return explorerSafe ? double(falseRejects) / double(explorerSafe) : 0; }
};

// Checks one schedule text with all three.
DifferentialCase compareOne(uint64_t seed, const std::string &schedule, const DifferentialOptions &options);

// The campaign; `progress` is called after each schedule (done, total).
DifferentialSummary runDifferential(const DifferentialOptions &options,
                                    const std::function<void(uint64_t, uint64_t)> &progress = {});

// Greedy line deletion: the smallest schedule (by lines) for which `stillFails` holds.
std::string minimise(const std::string &schedule, const std::function<bool(const std::string &)> &stillFails);

std::string summaryTable(const DifferentialSummary &summary);

} // namespace amk::fuzz
