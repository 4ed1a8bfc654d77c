// An SMT model of the executions of a well-formed core program (docs/smt.md), decided by Z3: an
// independent oracle for the checker. It shares no analysis with progress.cpp, happens_before.cpp or
// conflicts.cpp; it encodes AMKIR §3 directly (event times, counter read points, vector clocks) and
// asks Z3 whether a complete execution exists and whether any conflicting pair can run unordered.
// No solver type appears here: Z3 is confined to smt.cpp.
#pragma once

#include "amk/checker/verdict.h"
#include "amk/ir/diagnostics.h"
#include "amk/ir/program.h"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace amk::checker {

struct SmtOptions {
  unsigned queryTimeoutMs = 10000; // one solver call; a call that runs out is undecided
  unsigned totalTimeoutMs = 60000; // the whole program; queries not started by then are undecided
  size_t maxRaces = 10;            // race witnesses kept (every racing source-line pair is counted)
  // First ask whether any conflicting pair can run unordered (one query for a race-free program),
  // then one query per pair for what a time-out left; false: one push/pop query per pair throughout.
  bool batchRaceQueries = true;
};

// Time-outs are never Safe: Safe means every query was decided and none found a violation.
enum class SmtStatus { Safe, Unsafe, Inconclusive };
const char *smtStatusName(SmtStatus status); // "safe", "unsafe", "inconclusive"

// One event of a model's execution: its step in the interleaving (the k-th barriers of all blocks
// share one step) and, for a wait, the counter value it read.
struct SmtEvent {
  InstructionRef at;
  int64_t step = 0;
  std::optional<uint64_t> valueRead;
};

struct SmtRace {
  InstructionRef first; // the earlier of the two in the model
  InstructionRef second;
  bool firstWrites = false;
  bool secondWrites = false;
  uint32_t buffer = 0;
  ir::Region overlap;
  // The model's execution up to the later of the two accesses, in time order: a real execution of
  // §3 in which neither access happens before the other.
  std::vector<SmtEvent> execution;
};

struct SmtDeadlock {
  // For each block that no execution runs to its end (to its unmatched barrier when barrier counts
  // differ): the first instruction that no execution gets past.
  std::vector<InstructionRef> stuck;
  bool stuckComplete = true; // false when a time-out left some block's position undecided
};

struct SmtFinding {
  Rule rule = Rule::Race;
  std::string message;
  std::optional<SmtRace> race;
  std::optional<SmtDeadlock> deadlock;
};

struct SmtStats {
  size_t events = 0;
  size_t clockVariables = 0;
  size_t conflictPairs = 0; // instruction pairs with overlapping footprints, one writing, two blocks
  size_t queries = 0;
  size_t satisfiable = 0;
  size_t unsatisfiable = 0;
  size_t undecided = 0;         // unknown answers (time-outs) and queries skipped for the total budget
  size_t pairsByModelReuse = 0; // racing pairs found by evaluating an earlier query's model
  double seconds = 0;
};

struct SmtVerdict {
  SmtStatus status = SmtStatus::Inconclusive;
  std::vector<SmtFinding> findings; // races capped at SmtOptions::maxRaces
  size_t racesFound = 0;            // distinct racing source-line pairs
  std::string undecided;            // what was left undecided, when anything was
  SmtStats stats;

  std::set<Rule> rules() const;
};

SmtVerdict verifySmt(const ir::Program &program, const SmtOptions &options = {});

// Clang-style diagnostics for Z3's findings, with the model's execution as notes.
std::vector<ir::Diagnostic> smtDiagnostics(const SmtVerdict &verdict, const ir::Program &program);

} // namespace amk::checker
