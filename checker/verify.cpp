#include "amk/checker/verify.h"

#include "amk/checker/conflicts.h"
#include "amk/checker/happens_before.h"
#include "amk/checker/progress.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <stdexcept>

namespace amk::checker {
namespace {

using ir::InstructionKind;
using ir::SyncOrder;
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

const ir::Instruction &at(const ir::Program &program, InstructionRef r) {
  return program.blockPrograms[r.block][r.index];
}

std::string instructionText(const ir::Program &program, InstructionRef r) {
  return program.instructionText(r.block, r.index, ir::InstructionStyle::Brief);
}

std::string blockList(const std::vector<uint32_t> &blocks) {
  std::string out;
  for (size_t i = 0; i < blocks.size();) {
    size_t j = i;
    while (j + 1 < blocks.size() && blocks[j + 1] == blocks[j] + 1)
      ++j;
    out += (out.empty() ? "" : ", ") + std::to_string(blocks[i]) + (j > i ? "-" + std::to_string(blocks[j]) : "");
    i = j + 1;
  }
  return out;
}

std::string scopeProblem(const ir::Instruction &i, const char *what) {
  if (i.order == SyncOrder::Relaxed)
    return std::string("the ") + what + " is relaxed, so it orders nothing";
  if (i.order == SyncOrder::Cta)
    return std::string("the ") + what + " is .cta-scoped, so it orders nothing in other blocks";
  return "";
}

// Why no happens-before orders the pair: name the synchronisation that looks as if it should.
void explainRace(const ir::Program &program, const ProgressResult &progress, const HappensBefore &hb,
                 RaceWitness &race) {
  for (int direction = 0; direction < 2; ++direction) {
    InstructionRef from = direction == 0 ? race.first : race.second;
    InstructionRef to = direction == 0 ? race.second : race.first;
    // Latest wait before `to` in its block on a counter that `from`'s block signals after `from`.
    for (uint32_t wi = to.index; wi-- > 0;) {
      const ir::Instruction &wait = program.blockPrograms[to.block][wi];
      if (wait.kind != InstructionKind::Wait)
        continue;
      for (uint32_t si = from.index + 1; si < progress.executed[from.block]; ++si) {
        const ir::Instruction &signal = program.blockPrograms[from.block][si];
        if (signal.kind != InstructionKind::Signal || signal.counter != wait.counter ||
            signal.counterIndex != wait.counterIndex)
          continue;
        InstructionRef s{from.block, si}, w{to.block, wi};
        race.nearSignal = s;
        race.nearWait = w;
        std::string problem = scopeProblem(signal, "signal");
        if (problem.empty())
          problem = scopeProblem(wait, "wait");
        if (!problem.empty()) {
          race.why = "'" + instructionText(program, s) + "' of block " + std::to_string(s.block) + " reaches '" +
                     instructionText(program, w) + "' of block " + std::to_string(w.block) + ", but " + problem;
          return;
        }
        if (hb.ordered(w, s)) {
          race.why = "'" + instructionText(program, w) + "' of block " + std::to_string(w.block) + " happens before '" +
                     instructionText(program, s) + "' of block " + std::to_string(s.block);
          return;
        }
        uint64_t others = hb.readableWithout(s, w);
        race.why = "'" + instructionText(program, w) + "' (block " + std::to_string(w.block) +
                   ") can pass without the signal of block " + std::to_string(s.block) +
                   ": the other signals it may read add up to " + std::to_string(others) +
                   " >= " + std::to_string(wait.amount) + ", so '" + instructionText(program, s) + "' of block " +
                   std::to_string(s.block) + " is not guaranteed before it";
        if (!hb.guaranteed(s, w) && hb.ordered(s, w))
          race.why = "'" + instructionText(program, s) + "' is ordered before the wait, but not after the access";
        return;
      }
    }
  }
  race.why = "no barrier separates them, and block " + std::to_string(race.first.block) +
             " signals no counter after its access that block " + std::to_string(race.second.block) +
             " waits for before its access";
}

} // namespace

const char *ruleId(Rule rule) {
  switch (rule) {
  case Rule::CoResidency:
    return "AMK-V001";
  case Rule::BarrierMismatch:
    return "AMK-V002";
  case Rule::Deadlock:
    return "AMK-V003";
  case Rule::Race:
    return "AMK-V004";
  }
  return "AMK-V000";
}

const char *ruleName(Rule rule) {
  switch (rule) {
  case Rule::CoResidency:
    return "co-residency";
  case Rule::BarrierMismatch:
    return "barrier-mismatch";
  case Rule::Deadlock:
    return "deadlock";
  case Rule::Race:
    return "race";
  }
  return "?";
}

std::string describeInstruction(const ir::Program &program, InstructionRef r) {
  const ir::Instruction &i = at(program, r);
  const ir::Site &site = program.sites[i.site];
  std::string bindings = program.bindings(i);
  return "block " + std::to_string(r.block) + ", '" + instructionText(program, r) + "' at " +
         std::to_string(site.range.begin.line) + ":" + std::to_string(site.range.begin.column) +
         (bindings.empty() ? "" : " (" + bindings + ")");
}

Verdict verify(const ir::Program &program, const Options &options) {
  Verdict verdict;
  verdict.stats.blocks = program.blockPrograms.size();
  verdict.stats.instructions = program.instructionCount();

  auto start = Clock::now();
  if (needsCoResidency(program)) {
    Violation v;
    v.rule = Rule::CoResidency;
    v.message = "the grid has " + std::to_string(program.blocks) + " blocks but only " + std::to_string(program.sms) +
                " SMs x occupancy " + std::to_string(program.occupancy) + " = " +
                std::to_string(program.sms * program.occupancy) +
                " can be resident at once, and the schedule has barriers or waits: a block may wait for one that is "
                "never scheduled";
    verdict.violations.push_back(std::move(v));
  }
  ProgressResult progress = analyzeProgress(program);
  if (!progress.barriersMatch) {
    Violation v;
    v.rule = Rule::BarrierMismatch;
    std::map<uint32_t, std::vector<uint32_t>> byCount;
    for (uint32_t k = 0; k < progress.barrierCounts.size(); ++k)
      byCount[progress.barrierCounts[k]].push_back(k);
    std::string detail;
    for (const auto &[count, blocks] : byCount)
      detail += (detail.empty() ? "" : "; ") + std::string(blocks.size() == 1 ? "block " : "blocks ") +
                blockList(blocks) + (blocks.size() == 1 ? " reaches " : " reach ") + std::to_string(count) +
                (count == 1 ? " barrier" : " barriers");
    v.message = "blocks reach different numbers of barriers (" + detail + "): a barrier completes only when all " +
                std::to_string(program.blocks) + " blocks reach it";
    v.barriers = BarrierMismatchWitness{progress.barrierCounts};
    verdict.violations.push_back(std::move(v));
  }
  // A deadlock in which every stuck block waits at a barrier is the barrier mismatch itself: it is
  // reported once, as AMK-V002, with the stuck blocks as its witness.
  bool explainedByMismatch = false;
  if (progress.deadlock && !progress.barriersMatch) {
    explainedByMismatch = std::all_of(progress.deadlock->stuck.begin(), progress.deadlock->stuck.end(),
                                      [](const StuckBlock &s) { return s.atBarrier; });
    for (Violation &v : verdict.violations)
      if (v.rule == Rule::BarrierMismatch)
        v.deadlock = progress.deadlock;
  }
  if (progress.deadlock && !explainedByMismatch) {
    Violation v;
    v.rule = Rule::Deadlock;
    const DeadlockWitness &w = *progress.deadlock;
    v.message = std::to_string(w.stuck.size()) + " of " + std::to_string(program.blocks) + " blocks can never finish";
    v.deadlock = w;
    verdict.violations.push_back(std::move(v));
  }
  verdict.stats.progressSeconds = secondsSince(start);
  for (uint32_t executed : progress.executed)
    verdict.stats.executedInstructions += executed;

  start = Clock::now();
  HappensBefore hb(program, progress);
  verdict.stats.happensBeforeSeconds = secondsSince(start);
  verdict.stats.graphVertices = hb.vertices();
  verdict.stats.programOrderEdges = hb.programOrderEdges();
  verdict.stats.barrierEdges = hb.barrierEdges();
  verdict.stats.synchronizesWithEdges = hb.synchronizesWithEdges();
  verdict.stats.graphEdges =
      hb.programOrderEdges() + hb.barrierEdges() + hb.synchronizesWithEdges() + hb.prefixEdges();
  verdict.stats.fixpointRounds = hb.rounds();

  start = Clock::now();
  RaceSearch search = findRaces(program, progress, hb);
  verdict.stats.conflictSeconds = secondsSince(start);
  verdict.stats.accesses = search.accesses;
  verdict.stats.conflictPairsChecked = search.pairsChecked;
  verdict.racesFound = search.races.size();
  // At least one race is always reported in full: the cap limits the report, never the verdict.
  const size_t reported = std::max<size_t>(options.maxRaces, 1);
  for (size_t r = 0; r < search.races.size() && r < reported; ++r) {
    RaceWitness race = std::move(search.races[r]);
    explainRace(program, progress, hb, race);
    Violation v;
    v.rule = Rule::Race;
    const ir::Buffer &buffer = program.buffers[race.buffer];
    v.message = "data race on " + std::string(ir::ast::bufferKindName(buffer.kind)) + " '" + buffer.name + "' " +
                program.regionText(race.overlap) + ": block " + std::to_string(race.first.block) + " " +
                (race.firstWrites ? "writes" : "reads") + " it and block " + std::to_string(race.second.block) + " " +
                (race.secondWrites ? "writes" : "reads") + " it, and no happens-before orders them";
    v.race = std::move(race);
    verdict.violations.push_back(std::move(v));
  }
  if (!verdict.safe())
    verdict.execution = std::move(progress.order);
  return verdict;
}

ir::Certificate certify(const ir::Schedule &schedule) {
  if (!schedule.wellFormed())
    throw std::logic_error("checker::certify needs a well-formed schedule");
  const ir::Program &program = *schedule.program;
  const Verdict verdict = verify(program);
  ir::Certificate certificate;
  certificate.certified = verdict.safe();
  certificate.scheduleHash = ir::scheduleHash(*schedule.ast);
  certificate.checkerVersion = kCheckerVersion;
  for (const ir::Diagnostic &d : toDiagnostics(verdict, program))
    certificate.rejection += d.ruleId + ": " + d.message + "\n";
  return certificate;
}

std::vector<ir::Diagnostic> toDiagnostics(const Verdict &verdict, const ir::Program &program) {
  std::vector<ir::Diagnostic> out;
  auto rangeOf = [&](InstructionRef r) { return program.sites[at(program, r).site].range; };
  for (const Violation &v : verdict.violations) {
    ir::Diagnostic d;
    d.ruleId = ruleId(v.rule);
    d.message = v.message;
    switch (v.rule) {
    case Rule::CoResidency: {
      d.range = program.sites.empty() ? ir::SourceRange{} : program.sites.front().range;
      // Point at the first barrier or wait: the synchronisation that needs co-residency.
      for (const auto &block : program.blockPrograms) {
        bool found = false;
        for (const ir::Instruction &i : block)
          if (i.kind == InstructionKind::Barrier || i.kind == InstructionKind::Wait) {
            d.range = program.sites[i.site].range;
            found = true;
            break;
          }
        if (found)
          break;
      }
      break;
    }
    case Rule::BarrierMismatch:
    case Rule::Deadlock: {
      if (!v.deadlock) {
        for (const ir::Site &site : program.sites)
          if (site.kind == InstructionKind::Barrier) {
            d.range = site.range;
            break;
          }
        break;
      }
      const DeadlockWitness &w = *v.deadlock;
      const StuckBlock &first = w.stuck.front();
      d.range = rangeOf(first.at);
      size_t shown = 0;
      for (const StuckBlock &s : w.stuck) {
        if (shown++ == 8) {
          d.notes.push_back({{}, std::to_string(w.stuck.size() - 8) + " more stuck blocks not shown", false});
          break;
        }
        std::string what;
        if (s.atBarrier) {
          std::vector<uint32_t> missing;
          for (uint32_t j : s.waitsFor)
            missing.push_back(j);
          what = "waits at barrier " + std::to_string(s.barrierNumber + 1) + ", which " + std::to_string(s.arrived) +
                 " of " + std::to_string(program.blocks) + " blocks reach; missing: block" +
                 (missing.size() == 1 ? " " : "s ") + blockList(missing);
        } else {
          const ir::Counter &counter = program.counters[s.counter];
          std::string name = counter.name + (counter.isArray ? "[" + std::to_string(s.counterIndex) + "]" : "");
          what = "waits for " + name + " >= " + std::to_string(s.threshold) + ", but " + name + " ends at " +
                 std::to_string(s.finalValue);
          if (s.waitsFor.empty())
            what += "; no block that is still running signals it";
          else
            what += "; it can still be signalled only by stuck block" +
                    std::string(s.waitsFor.size() == 1 ? " " : "s ") + blockList(s.waitsFor);
        }
        d.notes.push_back({rangeOf(s.at), describeInstruction(program, s.at) + " " + what, true});
      }
      if (!w.cycle.empty()) {
        std::string cycle;
        for (uint32_t b : w.cycle)
          cycle += "block " + std::to_string(b) + " -> ";
        cycle += "block " + std::to_string(w.cycle.front());
        d.notes.push_back({{},
                           w.cycle.size() == 1
                               ? "block " + std::to_string(w.cycle.front()) + " waits for its own later signal"
                               : "wait-for cycle: " + cycle,
                           false});
      }
      if (!w.finished.empty())
        d.notes.push_back({{},
                           std::string(w.finished.size() == 1 ? "block " : "blocks ") + blockList(w.finished) +
                               (w.finished.size() == 1 ? " finishes" : " finish"),
                           false});
      break;
    }
    case Rule::Race: {
      const RaceWitness &r = *v.race;
      d.range = rangeOf(r.second);
      d.notes.push_back({rangeOf(r.first),
                         (r.firstWrites ? "written by " : "read by ") + describeInstruction(program, r.first), true});
      d.notes.push_back({rangeOf(r.second),
                         (r.secondWrites ? "written by " : "read by ") + describeInstruction(program, r.second), true});
      if (r.nearWait)
        d.notes.push_back({rangeOf(*r.nearWait), r.why, true});
      else
        d.notes.push_back({{}, r.why, false});
      break;
    }
    }
    out.push_back(std::move(d));
  }
  return out;
}

} // namespace amk::checker
