// The adversarial campaign: mutate real lowerings with every operator, keep the distinct
// well-formed mutants (by canonical text), label each by an oracle and compare with the checker.
// Per operator it counts mutants, unsafe by oracle, accepted by the checker, false accepts (which
// must be zero), false rejects and inconclusive labels. Deterministic by seed: attempt `a` uses
// operator `a mod operators`, and a source and its edit drawn from a generator seeded by (seed, a).
#pragma once

#include "amk/fuzz/explicit.h"
#include "amk/fuzz/oracle.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace amk::fuzz {

struct CampaignOptions {
  uint64_t seed = 1;
  uint64_t count = 10'000;            // distinct well-formed mutants to label
  std::vector<std::string> sources;   // real lowerings (AMKIR files); sorted before use
  std::vector<std::string> operators; // operator ids; empty: all
  OracleOptions oracle;
  uint64_t maxAttemptsPerMutant = 30; // stop after count * this many attempts
  std::string adversarialDirectory;   // one minimised true positive per (operator, rules) ("" = none)
  std::string regressionDirectory;    // every false accept, minimised ("" = none)
  std::string falseRejectDirectory;   // every false reject, as is ("" = none)
};

struct OperatorRow {
  std::string id;
  uint64_t attempts = 0;
  uint64_t notApplicable = 0;
  uint64_t malformed = 0; // printed mutants the front end refuses: counted, never labelled
  uint64_t duplicates = 0;
  uint64_t mutants = 0; // distinct well-formed mutants, labelled
  uint64_t oracleUnsafe = 0, oracleSafe = 0, inconclusive = 0;
  uint64_t byExplorer = 0, byZ3 = 0;    // which oracle gave the label
  uint64_t z3Runs = 0, z3Undecided = 0; // Z3 ran (as label or cross-check) / timed out
  uint64_t checkerAccepted = 0;
  uint64_t falseAccepts = 0;
  uint64_t falseRejects = 0;
  uint64_t oracleDisagreements = 0;
  uint64_t ruleMismatches = 0;           // both unsafe, different rule sets (V002 and V003 as one class)
  std::map<std::string, uint64_t> rules; // oracle rule sets of the unsafe mutants ("AMK-V004": n)
};

struct SourceRow {
  std::string path;
  int64_t blocks = 0;
  size_t instructions = 0;
  std::string checker; // "safe" or the rules
  std::string oracle;  // "safe (explorer)", ...
  bool usable = false; // well-formed, certified and not shown unsafe: mutated
  uint64_t mutants = 0;
  double oracleSeconds = 0;
};

// One mutant worth a line in the report (false accepts, false rejects, disagreements).
struct NotableMutant {
  std::string kind; // "FALSE ACCEPT", "false reject", "oracle disagreement"
  uint64_t attempt = 0;
  std::string op;
  std::string source;
  std::string edit;
  std::string checker, explorer, z3;
  std::string file; // where it was written, if it was
};

struct CampaignResult {
  uint64_t seed = 0;
  uint64_t attempts = 0;
  std::vector<OperatorRow> operators;
  std::vector<SourceRow> sources;
  OperatorRow total;
  std::vector<NotableMutant> notable;
  std::vector<std::string> filesWritten;
  double seconds = 0;
  double medianCheckerMs = 0, medianExplorerMs = 0, medianZ3Ms = 0;
  bool sourcesAccepted = true; // every real lowering certified safe and labelled safe (or inconclusive)

  double falseRejectRate() const {
    return total.oracleSafe ? double(total.falseRejects) / double(total.oracleSafe) : 0;
  }
  bool passed() const { return sourcesAccepted && total.falseAccepts == 0 && total.oracleDisagreements == 0; }
};

// Called after every labelled mutant: (distinct mutants so far, target, attempts so far).
using CampaignProgress = std::function<void(uint64_t, uint64_t, uint64_t)>;

CampaignResult runCampaign(const CampaignOptions &options, const CampaignProgress &progress = {});

// The mutant of one attempt (what `runCampaign` would generate), or nullopt when the operator did
// not apply; `description` receives "operator on source: edit".
std::optional<std::string> campaignMutant(const CampaignOptions &options, uint64_t attempt, std::string &description);

std::string campaignTable(const CampaignResult &result);
nlohmann::json campaignJson(const CampaignResult &result);

} // namespace amk::fuzz
