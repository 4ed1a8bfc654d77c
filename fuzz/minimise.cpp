// ddmin over the explicit form. Every candidate goes through the printer and the front end, so a
// property holds of a schedule text, exactly what ends up in a corpus file.
#include "amk/fuzz/minimise.h"

#include "amk/checker/verify.h"
#include "amk/ir/frontend.h"
#include "amk/replay/explorer.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

namespace amk::fuzz {
namespace {

struct Position {
  size_t block;
  size_t index;
};

std::vector<Position> allPositions(const ExplicitSchedule &s) {
  std::vector<Position> out;
  for (size_t k = 0; k < s.programs.size(); ++k)
    for (size_t i = 0; i < s.programs[k].size(); ++i)
      out.push_back({k, i});
  return out;
}

// `s` without the instructions at `positions[from, to)`.
ExplicitSchedule without(const ExplicitSchedule &s, const std::vector<Position> &positions, size_t from, size_t to) {
  ExplicitSchedule out = s;
  std::vector<std::vector<bool>> drop(s.programs.size());
  for (size_t k = 0; k < s.programs.size(); ++k)
    drop[k].assign(s.programs[k].size(), false);
  for (size_t i = from; i < to; ++i)
    drop[positions[i].block][positions[i].index] = true;
  for (size_t k = 0; k < s.programs.size(); ++k) {
    std::vector<ExplicitInstruction> kept;
    for (size_t i = 0; i < s.programs[k].size(); ++i)
      if (!drop[k][i])
        kept.push_back(s.programs[k][i]);
    out.programs[k] = std::move(kept);
  }
  return out;
}

std::optional<ir::Program> elaborated(const ExplicitSchedule &s) {
  ir::Schedule parsed = ir::parseSchedule("candidate.amkir", printExplicit(s));
  if (!parsed.program)
    return std::nullopt;
  return std::move(*parsed.program);
}

class Minimiser {
public:
  Minimiser(const SchedulePredicate &keeps, size_t maxTests) : keeps_(keeps), maxTests_(maxTests) {}

  ExplicitSchedule run(ExplicitSchedule s) {
    bool progress = true;
    while (progress && tests_ < maxTests_) {
      progress = false;
      progress |= dropBlocks(s);
      progress |= ddminInstructions(s);
      progress |= dropDeclarations(s);
    }
    return s;
  }

  size_t tests() const { return tests_; }

private:
  bool test(const ExplicitSchedule &candidate) {
    if (tests_ >= maxTests_)
      return false;
    ++tests_;
    return keeps_(candidate);
  }

  bool dropBlocks(ExplicitSchedule &s) {
    bool changed = false;
    for (size_t k = s.programs.size(); k-- > 0 && s.programs.size() > 1;) {
      ExplicitSchedule candidate = s;
      candidate.programs.erase(candidate.programs.begin() + static_cast<std::ptrdiff_t>(k));
      if (k < candidate.blockOrigin.size())
        candidate.blockOrigin.erase(candidate.blockOrigin.begin() + static_cast<std::ptrdiff_t>(k));
      if (test(candidate)) {
        s = std::move(candidate);
        changed = true;
      }
    }
    return changed;
  }

  // Zeller's ddmin, reducing to complements: remove one of n chunks at a time; on success keep the
  // smaller schedule and coarsen, else refine until single instructions.
  bool ddminInstructions(ExplicitSchedule &s) {
    bool changed = false;
    size_t chunks = 2;
    while (tests_ < maxTests_) {
      std::vector<Position> positions = allPositions(s);
      if (positions.empty())
        break;
      chunks = std::min(chunks, positions.size());
      size_t size = (positions.size() + chunks - 1) / chunks;
      bool removed = false;
      for (size_t start = 0; start < positions.size(); start += size) {
        ExplicitSchedule candidate = without(s, positions, start, std::min(positions.size(), start + size));
        if (test(candidate)) {
          s = std::move(candidate);
          removed = changed = true;
          chunks = std::max<size_t>(chunks - 1, 2);
          break;
        }
      }
      if (removed)
        continue;
      if (chunks >= positions.size())
        break;
      chunks = std::min(positions.size(), chunks * 2);
    }
    return changed;
  }

  bool dropDeclarations(ExplicitSchedule &s) {
    bool changed = false;
    if (!s.meta.empty()) {
      ExplicitSchedule candidate = s;
      candidate.meta.clear();
      if (test(candidate)) {
        s = std::move(candidate);
        changed = true;
      }
    }
    std::set<std::string> used;
    for (const auto &program : s.programs)
      for (const ExplicitInstruction &in : program) {
        used.insert(in.counter);
        for (const auto *list : {&in.outputs, &in.inputs})
          for (const ExplicitRegion &r : *list)
            used.insert(r.buffer);
      }
    ExplicitSchedule candidate = s;
    std::erase_if(candidate.buffers, [&](const ExplicitBuffer &b) { return !used.count(b.name); });
    std::erase_if(candidate.counters, [&](const ExplicitCounter &c) { return !used.count(c.name); });
    if ((candidate.buffers.size() != s.buffers.size() || candidate.counters.size() != s.counters.size()) &&
        test(candidate)) {
      s = std::move(candidate);
      changed = true;
    }
    return changed;
  }

  const SchedulePredicate &keeps_;
  size_t maxTests_;
  size_t tests_ = 0;
};

} // namespace

ExplicitSchedule minimiseSchedule(ExplicitSchedule schedule, const SchedulePredicate &keeps, size_t maxTests,
                                  MinimiseStats *stats) {
  Minimiser minimiser(keeps, maxTests);
  size_t instructionsBefore = schedule.instructionCount(), blocksBefore = schedule.programs.size();
  ExplicitSchedule result = minimiser.run(std::move(schedule));
  if (stats) {
    stats->tests = minimiser.tests();
    stats->instructionsBefore = instructionsBefore;
    stats->instructionsAfter = result.instructionCount();
    stats->blocksBefore = blocksBefore;
    stats->blocksAfter = result.programs.size();
  }
  return result;
}

SchedulePredicate checkerRejectsWith(std::set<std::string> rules) {
  return [rules = std::move(rules)](const ExplicitSchedule &s) {
    std::optional<ir::Program> program = elaborated(s);
    return program && checkerRules(*program) == rules;
  };
}

SchedulePredicate confirmedUnsafeWith(std::set<std::string> rules, uint64_t explorerBudget) {
  return [rules = std::move(rules), explorerBudget](const ExplicitSchedule &s) {
    std::optional<ir::Program> program = elaborated(s);
    if (!program || checkerRules(*program) != rules)
      return false;
    replay::ExploreOptions options;
    options.stateBudget = explorerBudget;
    options.maxRaceWitnesses = 1;
    replay::ExploreResult result = replay::explore(*program, options);
    if (result.outcome != replay::Outcome::Unsafe || result.stats.budgetExhausted)
      return false;
    std::set<std::string> found;
    for (replay::Rule rule : result.rules())
      found.insert(replay::ruleId(rule));
    return found == rules;
  };
}

namespace {

// Which source instructions a schedule still holds unchanged: same origin, in a block that came from
// the origin's block, with the same text.
class EditTracker {
public:
  explicit EditTracker(const ExplicitSchedule &source) : source_(source) {
    for (size_t k = 0; k < source.programs.size(); ++k)
      for (const ExplicitInstruction &in : source.programs[k])
        if (in.origin)
          byOrigin_[in.origin] = {static_cast<int64_t>(k), instructionText(in)};
  }

  std::set<uint32_t> unchanged(const ExplicitSchedule &s) const {
    std::set<uint32_t> out;
    for (size_t k = 0; k < s.programs.size(); ++k) {
      int64_t from = k < s.blockOrigin.size() ? s.blockOrigin[k] : -1;
      for (const ExplicitInstruction &in : s.programs[k]) {
        auto it = byOrigin_.find(in.origin);
        if (from >= 0 && it != byOrigin_.end() && it->second.first == from && it->second.second == instructionText(in))
          out.insert(in.origin);
      }
    }
    return out;
  }

  // The source restricted to the candidate's original blocks and to `keep`.
  ExplicitSchedule restricted(const ExplicitSchedule &candidate, const std::set<uint32_t> &keep) const {
    ExplicitSchedule out = source_;
    out.programs.clear();
    out.blockOrigin.clear();
    for (size_t k = 0; k < candidate.programs.size(); ++k) {
      int64_t from = k < candidate.blockOrigin.size() ? candidate.blockOrigin[k] : -1;
      if (from < 0 || from >= static_cast<int64_t>(source_.programs.size()))
        continue;
      std::vector<ExplicitInstruction> kept;
      for (const ExplicitInstruction &in : source_.programs[static_cast<size_t>(from)])
        if (keep.count(in.origin))
          kept.push_back(in);
      out.programs.push_back(std::move(kept));
      out.blockOrigin.push_back(from);
    }
    return out;
  }

  std::set<uint32_t> allOrigins() const {
    std::set<uint32_t> out;
    for (const auto &[origin, where] : byOrigin_)
      out.insert(origin);
    return out;
  }

private:
  const ExplicitSchedule &source_;
  std::map<uint32_t, std::pair<int64_t, std::string>> byOrigin_;
};

// A deadlock whose stuck blocks wait for each other in a cycle (the checker's witness).
bool hasWaitForCycle(const ExplicitSchedule &s) {
  std::optional<ir::Program> program = elaborated(s);
  if (!program)
    return false;
  checker::Verdict verdict = checker::verify(*program);
  for (const checker::Violation &v : verdict.violations)
    if (v.deadlock && !v.deadlock->cycle.empty())
      return true;
  return false;
}

bool provedSafe(const ExplicitSchedule &s, uint64_t explorerBudget) {
  std::optional<ir::Program> program = elaborated(s);
  if (!program || !checkerRules(*program).empty())
    return false;
  replay::ExploreOptions options;
  options.stateBudget = explorerBudget;
  return replay::explore(*program, options).outcome == replay::Outcome::Safe;
}

} // namespace

SchedulePredicate editStillCauses(const ExplicitSchedule &source, const ExplicitSchedule &mutant,
                                  std::set<std::string> rules, uint64_t explorerBudget) {
  // The predicate outlives the caller's schedules: it holds its own copy of the source.
  auto sourceCopy = std::make_shared<ExplicitSchedule>(source);
  auto tracker = std::make_shared<EditTracker>(*sourceCopy);
  std::set<uint32_t> edited;
  std::set<uint32_t> unchanged = tracker->unchanged(mutant);
  for (uint32_t origin : tracker->allOrigins())
    if (!unchanged.count(origin))
      edited.insert(origin);
  SchedulePredicate unsafe = confirmedUnsafeWith(std::move(rules), explorerBudget);
  // A wait-for cycle is the point of some edits; a lone unsatisfiable wait would keep the rule but
  // not the bug.
  bool cycle = hasWaitForCycle(mutant);
  return [tracker, sourceCopy, edited, unsafe, explorerBudget, cycle](const ExplicitSchedule &candidate) {
    if (!unsafe(candidate) || (cycle && !hasWaitForCycle(candidate)))
      return false;
    std::set<uint32_t> keep = tracker->unchanged(candidate);
    keep.insert(edited.begin(), edited.end());
    return provedSafe(tracker->restricted(candidate, keep), explorerBudget);
  };
}

SchedulePredicate falselyAccepted(const OracleOptions &oracle) {
  return [oracle](const ExplicitSchedule &s) {
    std::optional<ir::Program> program = elaborated(s);
    return program && judge(*program, oracle).falseAccept();
  };
}

} // namespace amk::fuzz
