// Delta debugging on the explicit form: the smallest schedule (blocks, instructions, declarations)
// that keeps a property, typically "the checker rejects it with exactly these rules" (and, for
// corpus files, "and the explorer confirms exactly these rules"). Edits are whole blocks, chunks of
// instructions (ddmin), then unused declarations and metadata.
#pragma once

#include "amk/fuzz/explicit.h"
#include "amk/fuzz/oracle.h"

#include <cstddef>
#include <functional>
#include <set>
#include <string>

namespace amk::fuzz {

// Called on candidate texts that are printed from the explicit form; must be deterministic.
using SchedulePredicate = std::function<bool(const ExplicitSchedule &)>;

struct MinimiseStats {
  size_t tests = 0; // predicate calls
  size_t instructionsBefore = 0, instructionsAfter = 0;
  size_t blocksBefore = 0, blocksAfter = 0;
};

// `keeps(schedule)` must hold on entry; it holds on the result. Stops early (keeping the best so
// far) after `maxTests` predicate calls.
ExplicitSchedule minimiseSchedule(ExplicitSchedule schedule, const SchedulePredicate &keeps, size_t maxTests = 20'000,
                                  MinimiseStats *stats = nullptr);

// Well-formed, and the checker reports exactly `rules` (non-empty).
SchedulePredicate checkerRejectsWith(std::set<std::string> rules);

// As above, and the explorer decides the schedule and finds exactly `rules` too, so the result is a
// true positive that the corpus tests (checker and explorer) both accept.
SchedulePredicate confirmedUnsafeWith(std::set<std::string> rules, uint64_t explorerBudget = 200'000);

// As confirmedUnsafeWith, and the mutation's edit stays the cause: the same context with the edit
// undone (the instructions of `source` that the candidate kept, plus those the edit changed, moved or
// deleted, in their original places, on the original grid) is certified safe and the explorer proves
// it safe. Without this a minimised deadlock can shrink to any lone wait, and a race to any two
// unsynchronised tasks, that no longer show the bug the operator made. `mutant` must come from
// mutating explicitForm(source) (instruction and block origins link the two).
SchedulePredicate editStillCauses(const ExplicitSchedule &source, const ExplicitSchedule &mutant,
                                  std::set<std::string> rules, uint64_t explorerBudget = 200'000);

// The checker certifies it and an oracle shows it unsafe (a false accept is kept while shrinking).
SchedulePredicate falselyAccepted(const OracleOptions &oracle);

} // namespace amk::fuzz
