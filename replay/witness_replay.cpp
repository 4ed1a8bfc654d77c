// Witness replay on the CPU. Every run is a Simulator driven by an explicit choice of which block
// moves: along the checker's maximal execution (deadlock, barrier mismatch, a race's first order),
// with one block held back (a race's second order), or along a dispatch order found by searching the
// bounded-residency executions (co-residency). Where the memory model, not an interleaving, lets the
// second access miss the first (relaxed or CTA-scoped synchronisation), the explorer's machine must
// confirm that nothing orders them before replay shows that outcome.
#include "amk/replay/witness_replay.h"

#include "amk/replay/explorer.h"
#include "amk/replay/machine.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <unordered_set>

namespace amk::replay {
namespace {

using ir::Instruction;
using ir::InstructionKind;
using executor::HostBuffer;

constexpr size_t kUnranked = SIZE_MAX;

// The maximal execution as a preference: at every step the enabled block whose next instruction
// comes first in it moves (instructions it never ran come last, lowest block first). Following it
// with no block held reproduces it exactly, since it is an execution of the same semantics.
class Guide {
public:
  Guide(const ir::Program &program, const std::vector<InstructionRef> &order) {
    rank_.resize(program.blockPrograms.size());
    for (size_t k = 0; k < program.blockPrograms.size(); ++k)
      rank_[k].assign(program.blockPrograms[k].size(), kUnranked);
    for (size_t i = 0; i < order.size(); ++i)
      rank_[order[i].block][order[i].index] = std::min(rank_[order[i].block][order[i].index], i);
  }

  // nullopt when no block other than `held` can move.
  std::optional<uint32_t> next(const Simulator &sim, std::optional<uint32_t> held = std::nullopt) const {
    std::optional<uint32_t> best;
    size_t bestRank = kUnranked;
    for (uint32_t k = 0; k < sim.blocks(); ++k) {
      if (k == held || !sim.enabled(k))
        continue;
      size_t rank = rank_[k][sim.pc(k)];
      if (!best || rank < bestRank) {
        best = k;
        bestRank = rank;
      }
    }
    return best;
  }

private:
  std::vector<std::vector<size_t>> rank_;
};

ReplayRun capture(const Simulator &sim, std::string title, std::string description) {
  ReplayRun run;
  run.title = std::move(title);
  run.description = std::move(description);
  run.residentSlots = sim.residentSlots();
  run.events = sim.events();
  run.blocked = sim.positions();
  run.finished = sim.allFinished();
  run.stuck = sim.stuck();
  run.counters = sim.countersText();
  return run;
}

std::vector<uint32_t> blocksOf(const std::vector<BlockPosition> &positions) {
  std::vector<uint32_t> out;
  for (const BlockPosition &p : positions)
    out.push_back(p.block);
  return out;
}

void noteTaskErrors(const ir::Program &program, const ReplayRun &run, std::vector<std::string> &notes) {
  for (const SimEvent &event : run.events)
    if (!event.error.empty())
      notes.push_back(run.title + ": " +
                      program.instructionText(event.block, event.index, ir::InstructionStyle::SourceLine) +
                      " in block " + std::to_string(event.block) + " failed and wrote nothing: " + event.error);
}

// ---------------------------------------------------------------------------------------------------
// Deadlock and barrier mismatch: the maximal execution, to the state where nothing moves.

ViolationReplay replayStuck(const ir::Program &program, const Witness &witness, const WitnessViolation &violation,
                            const ReplayOptions &options) {
  ViolationReplay out;
  out.rule = violation.rule;
  out.message = violation.message;
  Simulator sim(program);
  sim.fillRandom(options.seed);
  Guide guide(program, witness.maximalExecution);
  while (std::optional<uint32_t> block = guide.next(sim))
    sim.step(*block);
  out.runs.push_back(capture(sim, "the checker's maximal execution",
                             "every block runs as far as it can, in the order the checker's witness records"));
  const ReplayRun &run = out.runs.back();
  noteTaskErrors(program, run, out.notes);
  bool atWait = std::any_of(run.blocked.begin(), run.blocked.end(), [](const BlockPosition &p) { return p.atWait; });
  bool atBarrier =
      std::any_of(run.blocked.begin(), run.blocked.end(), [](const BlockPosition &p) { return p.atBarrier; });
  std::vector<uint32_t> stuck = blocksOf(run.blocked);
  if (run.stuck && (violation.rule == Rule::Deadlock ? atWait : atBarrier)) {
    out.exhibited = true;
    out.summary = blocksWord(stuck) + " of " + std::to_string(program.blocks) + " stuck after " +
                  std::to_string(run.events.size()) + " steps: no block can take another step";
  } else if (run.finished) {
    out.summary = "every block finished (" + std::to_string(run.events.size()) + " steps): no deadlock";
  } else {
    out.summary =
        blocksWord(stuck) + " stuck, but none " + (violation.rule == Rule::Deadlock ? "at a wait" : "at a barrier");
  }
  std::vector<uint32_t> expected;
  for (const WitnessStuck &s : violation.stuck)
    expected.push_back(s.at.block);
  std::sort(expected.begin(), expected.end());
  if (run.stuck && !expected.empty() && expected != stuck)
    out.notes.push_back("the witness names " + blocksWord(expected) + " as stuck; the replay leaves " +
                        blocksWord(stuck) + " stuck");
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Races: the conflicting pair in both orders.

void saveRegion(const executor::HostBuffer &buffer, const ir::Region &region, std::vector<std::byte> &to) {
  to.clear();
  const size_t width = buffer.elementBytes();
  executor::forEachRun(region, buffer.shape(), [&](int64_t first, int64_t count) {
    auto bytes = buffer.bytes().subspan(static_cast<size_t>(first) * width, static_cast<size_t>(count) * width);
    to.insert(to.end(), bytes.begin(), bytes.end());
  });
}

void restoreRegion(executor::HostBuffer &buffer, const ir::Region &region, const std::vector<std::byte> &from) {
  const size_t width = buffer.elementBytes();
  size_t at = 0;
  executor::forEachRun(region, buffer.shape(), [&](int64_t first, int64_t count) {
    size_t bytes = static_cast<size_t>(count) * width;
    std::memcpy(buffer.bytes().data() + static_cast<size_t>(first) * width, from.data() + at, bytes);
    at += bytes;
  });
}

bool touches(const std::vector<ir::Region> &regions, const ir::Region &overlap) {
  return std::any_of(regions.begin(), regions.end(), [&](const ir::Region &r) { return r.overlaps(overlap); });
}

struct PairPlan {
  InstructionRef a, b; // a runs first in the maximal execution
  ir::Region overlap;
  const Guide *guide = nullptr;
  const std::vector<Step> *prefix = nullptr;      // steps to take first, then the guide
  bool holdA = false;                             // keep block a.block before a until b has run
  bool staleView = false;                         // b misses a's effect on the overlap (see runPair)
  const std::vector<std::byte> *bWrote = nullptr; // staleView, a reads what b writes: b's values
};

struct PairRun {
  std::unique_ptr<Simulator> sim;
  std::optional<size_t> eventA, eventB;
  std::map<uint32_t, executor::HostBuffer> afterA, afterB; // the buffers each access's task wrote, right after it
  std::optional<executor::HostBuffer> seenByA, seenByB;    // the overlap's buffer as each task read it
  std::optional<executor::HostBuffer> overlapAfterBoth;    // the overlap's buffer once both have run
  std::vector<std::byte> overlapByB;             // the overlap right after b ran
  std::string error;
};

// Runs the schedule choosing blocks by `plan`. With staleView the run takes the same steps as the
// plain one, but the two accesses see each other as if b came first on the overlap: b reads the
// overlap as it was before a, a's write lands after b's, and a read by a sees what b writes. That is
// the outcome the memory model allows when nothing orders them (each is a read or a write of the
// same elements whose order no happens-before fixes), kept to the overlap so that the rest of both
// blocks' work is exactly as in the plain run.
PairRun runPair(const ir::Program &program, const ReplayOptions &options, const PairPlan &plan) {
  PairRun run;
  run.sim = std::make_unique<Simulator>(program);
  Simulator &sim = *run.sim;
  sim.fillRandom(options.seed);
  const Instruction &taskA = program.blockPrograms[plan.a.block][plan.a.index];
  const Instruction &taskB = program.blockPrograms[plan.b.block][plan.b.index];
  const bool aWrites = touches(taskA.outputs, plan.overlap), aReads = touches(taskA.inputs, plan.overlap);
  const bool bWrites = touches(taskB.outputs, plan.overlap), bReads = touches(taskB.inputs, plan.overlap);
  executor::HostBuffer &shared = sim.buffers()[plan.overlap.buffer];
  std::vector<std::byte> beforeA, current;
  size_t prefixAt = 0;
  for (;;) {
    std::optional<uint32_t> block;
    if (plan.prefix && prefixAt < plan.prefix->size()) {
      const Step &step = (*plan.prefix)[prefixAt++];
      if (step.kind == StepKind::Dispatch || step.block >= sim.blocks() || sim.pc(step.block) != step.index ||
          !sim.enabled(step.block)) {
        run.error = "step " + std::to_string(prefixAt - 1) + " of the interleaving is not possible here";
        return run;
      }
      block = step.block;
    } else {
      std::optional<uint32_t> held;
      if (plan.holdA && !run.eventB && sim.pc(plan.a.block) == plan.a.index)
        held = plan.a.block;
      block = plan.guide->next(sim, held);
    }
    if (!block)
      break;
    const uint32_t index = sim.pc(*block);
    const bool isA = *block == plan.a.block && index == plan.a.index;
    const bool isB = *block == plan.b.block && index == plan.b.index;
    const bool stale = plan.staleView && (isA || (isB && run.eventA));
    if (isA && stale) {
      saveRegion(shared, plan.overlap, beforeA);
      if (aReads && bWrites && plan.bWrote)
        restoreRegion(shared, plan.overlap, *plan.bWrote);
    }
    if (isB && stale && aWrites) {
      saveRegion(shared, plan.overlap, current);
      if (bReads)
        restoreRegion(shared, plan.overlap, beforeA);
    }
    if (isA)
      run.seenByA = shared;
    if (isB)
      run.seenByB = shared;
    sim.step(*block);
    if (isA) {
      run.eventA = sim.events().size() - 1;
      for (const ir::Region &r : taskA.outputs)
        run.afterA.insert_or_assign(r.buffer, sim.buffers()[r.buffer]);
      if (stale && !aWrites)
        restoreRegion(shared, plan.overlap, beforeA);
    }
    if (isB) {
      run.eventB = sim.events().size() - 1;
      for (const ir::Region &r : taskB.outputs)
        run.afterB.insert_or_assign(r.buffer, sim.buffers()[r.buffer]);
      saveRegion(shared, plan.overlap, run.overlapByB);
      if (stale && aWrites)
        restoreRegion(shared, plan.overlap, current);
    }
    if ((isA || isB) && run.eventA && run.eventB)
      run.overlapAfterBoth = shared;
  }
  return run;
}

uint64_t elementBits(const executor::HostBuffer &buffer, int64_t index) {
  uint64_t bits = 0;
  const size_t width = buffer.elementBytes();
  std::memcpy(&bits, buffer.bytes().data() + static_cast<size_t>(index) * width, width);
  return bits;
}

std::vector<int64_t> unflatten(int64_t flat, const std::vector<int64_t> &shape) {
  std::vector<int64_t> index(shape.size(), 0);
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

RegionDiff diffRegion(const ir::Program &program, std::string what, const ir::Region &region, const executor::HostBuffer &first,
                      const executor::HostBuffer &second, size_t listed) {
  RegionDiff diff;
  diff.what = std::move(what);
  diff.buffer = region.buffer;
  diff.region = region;
  const std::vector<int64_t> &shape = program.buffers[region.buffer].shape;
  const size_t width = first.elementBytes();
  executor::forEachRun(region, shape, [&](int64_t start, int64_t count) {
    for (int64_t e = start; e < start + count; ++e) {
      ++diff.elements;
      if (std::memcmp(first.bytes().data() + e * width, second.bytes().data() + e * width, width) == 0)
        continue;
      if (diff.differing++ < static_cast<int64_t>(listed))
        diff.listed.push_back(
            {unflatten(e, shape), first.load(e), second.load(e), elementBits(first, e), elementBits(second, e)});
    }
  });
  return diff;
}

ir::Region wholeBuffer(const ir::Program &program, uint32_t buffer) {
  ir::Region region;
  region.buffer = buffer;
  region.lo.assign(program.buffers[buffer].shape.size(), 0);
  region.hi = program.buffers[buffer].shape;
  return region;
}

// The interleaving of a run's steps for the explorer's machine, each wait reading its smallest
// admissible position (the read that orders least, docs/explorer.md R1): true when the machine finds
// the pair racing in it.
bool machineFindsRace(const ir::Program &program, const std::vector<SimEvent> &events, InstructionRef a,
                      InstructionRef b) {
  Machine machine(program, Tracking::HappensBefore);
  State state = machine.initial();
  std::vector<RaceWitness> races;
  for (const SimEvent &event : events) {
    Step step{event.kind, event.block, event.index, std::nullopt};
    if (event.kind == StepKind::Wait) {
      step.readPosition = machine.smallestReadPosition(state, event.block);
      if (!step.readPosition)
        return false;
    }
    if (!machine.whyInvalid(state, step).empty())
      return false;
    races.clear();
    machine.apply(state, step, &races);
    for (const RaceWitness &race : races)
      if ((race.first == a && race.second == b) || (race.first == b && race.second == a))
        return true;
  }
  return false;
}

std::string accessVerb(bool write) { return write ? "writes" : "reads"; }

// One racing instance replayed in two orders, or nothing when no execution leaves it unordered.
struct PairOutcome {
  RaceOrdering ordering = RaceOrdering::Interleaving;
  PairRun first, second;
  std::string firstText, secondText;
};

// Order 1 follows `prefix` (possibly empty), then the maximal execution. Order 2 is a real
// interleaving if one exists: holding a's block back and running every other step finds one
// whenever one exists, since holding a block back never enables anything. Otherwise b needs
// something a's block does only after a; replay shows b missing a's effect only when the explorer's
// machine confirms that nothing orders the two in the very execution of order 1.
std::optional<PairOutcome> tryPair(const ir::Program &program, const ReplayOptions &options, PairPlan plan,
                                   const std::vector<Step> &prefix, const WitnessRace &race) {
  const std::string overlapText = program.regionText(plan.overlap);
  const std::string firstBlock = "block " + std::to_string(plan.a.block),
                    secondBlock = "block " + std::to_string(plan.b.block);
  PairOutcome out;
  plan.prefix = &prefix;
  out.first = runPair(program, options, plan);
  if (!out.first.error.empty() || !out.first.eventA || !out.first.eventB || *out.first.eventB < *out.first.eventA)
    return std::nullopt;
  out.firstText = (prefix.empty() ? "the checker's maximal execution: " : "an execution the explorer found: ") +
                  firstBlock + " " + accessVerb(race.firstWrites) + " " + overlapText + " at step " +
                  std::to_string(*out.first.eventA) + ", " + secondBlock + " " + accessVerb(race.secondWrites) +
                  " it at step " + std::to_string(*out.first.eventB);

  PairPlan held = plan;
  held.prefix = nullptr;
  held.holdA = true;
  out.second = runPair(program, options, held);
  if (out.second.eventB && (!out.second.eventA || *out.second.eventB < *out.second.eventA)) {
    out.ordering = RaceOrdering::Interleaving;
    out.secondText = firstBlock + " held before its access until " + secondBlock + "'s ran: " + secondBlock + " " +
                     accessVerb(race.secondWrites) + " " + overlapText + " at step " +
                     std::to_string(*out.second.eventB) +
                     (out.second.eventA ? ", " + firstBlock + " " + accessVerb(race.firstWrites) + " it at step " +
                                              std::to_string(*out.second.eventA)
                                        : ", and " + firstBlock + " never reaches its access");
    return out;
  }
  std::string blockedAt;
  for (const BlockPosition &p : out.second.sim->positions())
    if (p.block == plan.b.block)
      blockedAt = positionText(program, p);
  if (!machineFindsRace(program, out.first.sim->events(), plan.a, plan.b))
    return std::nullopt;
  out.ordering = RaceOrdering::StaleView;
  std::vector<Step> steps;
  for (const SimEvent &e : out.first.sim->events())
    steps.push_back({e.kind, e.block, e.index, std::nullopt});
  PairPlan stale = plan;
  stale.prefix = &steps;
  stale.staleView = true;
  stale.bWrote = &out.first.overlapByB;
  out.second = runPair(program, options, stale);
  if (!out.second.error.empty() || !out.second.eventA || !out.second.eventB)
    return std::nullopt;
  out.firstText += ", and sees " + firstBlock + "'s effect; nothing orders the two accesses in this execution";
  std::string how = race.firstWrites && !race.secondWrites
                        ? secondBlock + " reads " + overlapText + " as it was before " + firstBlock + "'s write"
                    : race.firstWrites ? firstBlock + "'s write lands after " + secondBlock + "'s"
                                       : firstBlock + "'s read sees " + secondBlock + "'s write";
  out.secondText = "no interleaving runs " + secondBlock + "'s access first (with " + firstBlock + " held, " +
                   (blockedAt.empty() ? secondBlock + " cannot reach it" : blockedAt) + "); the same steps, but " +
                   how + ", which the memory model allows because nothing orders the two accesses";
  return out;
}

// The two source lines of a pair of instructions, in a fixed order.
std::pair<uint32_t, uint32_t> sourcePair(const ir::Program &program, InstructionRef x, InstructionRef y) {
  uint32_t p = program.blockPrograms[x.block][x.index].site, q = program.blockPrograms[y.block][y.index].site;
  return {std::min(p, q), std::max(p, q)};
}

ViolationReplay replayRace(const ir::Program &program, const Witness &witness, const WitnessViolation &violation,
                           const ReplayOptions &options) {
  ViolationReplay out;
  out.rule = violation.rule;
  out.message = violation.message;
  WitnessRace race = *violation.race;
  PairPlan plan;
  plan.a = race.first;
  plan.b = race.second;
  for (uint32_t i = 0; i < program.buffers.size(); ++i)
    if (program.buffers[i].name == race.buffer)
      plan.overlap.buffer = i;
  plan.overlap.lo = race.lo;
  plan.overlap.hi = race.hi;
  Guide guide(program, witness.maximalExecution);
  plan.guide = &guide;

  std::optional<PairOutcome> outcome = tryPair(program, options, plan, {}, race);
  if (!outcome) {
    // Search the executions: for the witness's instance, else for another instance of the same two
    // source lines, which the checker's one report per pair of lines stands for.
    ExploreOptions exploreOptions;
    exploreOptions.stateBudget = options.searchBudget;
    exploreOptions.maxRaceWitnesses = SIZE_MAX;
    ExploreResult found = explore(program, exploreOptions);
    const Finding *exact = nullptr, *sameLines = nullptr;
    const std::pair<uint32_t, uint32_t> lines = sourcePair(program, plan.a, plan.b);
    for (const Finding &f : found.findings) {
      if (!f.race || !f.interleaving)
        continue;
      if (f.race->first == plan.a && f.race->second == plan.b && !exact)
        exact = &f;
      if (sourcePair(program, f.race->first, f.race->second) == lines && !sameLines)
        sameLines = &f;
    }
    if (!exact && sameLines) {
      const RaceWitness &instance = *sameLines->race;
      out.notes.push_back("the witness's instance (block " + std::to_string(plan.a.block) + " " +
                          program.instructionText(plan.a.block, plan.a.index, ir::InstructionStyle::SourceLine) +
                          ", block " + std::to_string(plan.b.block) + " " +
                          program.instructionText(plan.b.block, plan.b.index, ir::InstructionStyle::SourceLine) +
                          ") is ordered in every execution; the checker reports one instance per pair of source "
                          "lines, and this replay shows another instance of the same lines, which races");
      plan.a = instance.first;
      plan.b = instance.second;
      plan.overlap = instance.overlap;
      race.first = instance.first;
      race.second = instance.second;
      race.firstWrites = instance.firstWrites;
      race.secondWrites = instance.secondWrites;
      race.buffer = program.buffers[instance.overlap.buffer].name;
      race.lo = instance.overlap.lo;
      race.hi = instance.overlap.hi;
    }
    if (const Finding *use = exact ? exact : sameLines) {
      std::vector<Step> prefix = use->interleaving->steps;
      outcome = tryPair(program, options, plan, prefix, race);
    }
    if (!outcome) {
      out.race = race;
      out.summary = "no execution was found in which the two accesses are unordered";
      out.notes.push_back(found.stats.budgetExhausted
                              ? "the explorer ran out of budget (" + std::to_string(options.searchBudget) +
                                    " states) before finding one; --budget raises it"
                              : "the explorer finds no execution of AMKIR section 3 in which these two source "
                                "lines race: the checker's report is a false reject");
      return out;
    }
  }
  out.race = race;
  out.ordering = outcome->ordering;
  PairRun &first = outcome->first, &second = outcome->second;
  const std::string overlapText = program.regionText(plan.overlap);
  const std::string firstBlock = "block " + std::to_string(plan.a.block),
                    secondBlock = "block " + std::to_string(plan.b.block);
  const std::string firstTitle = "order 1: " + firstBlock + "'s access first";
  const std::string secondTitle = "order 2: " + secondBlock + "'s access first";
  const std::string &firstText = outcome->firstText, &secondText = outcome->secondText;
  out.runs.push_back(capture(*first.sim, firstTitle, firstText));
  out.runs.back().highlighted = {*first.eventA, *first.eventB};
  out.runs.push_back(capture(*second.sim, secondTitle, secondText));
  out.runs.back().highlighted = {*second.eventB};
  if (second.eventA)
    out.runs.back().highlighted.push_back(*second.eventA);
  for (const ReplayRun &run : out.runs)
    noteTaskErrors(program, run, out.notes);

  // First what each task saw of the other's access (the race itself), then what it made of it.
  const Instruction &taskA = program.blockPrograms[plan.a.block][plan.a.index];
  const Instruction &taskB = program.blockPrograms[plan.b.block][plan.b.index];
  const bool aWrites = touches(taskA.outputs, plan.overlap), aReads = touches(taskA.inputs, plan.overlap);
  const bool bWrites = touches(taskB.outputs, plan.overlap), bReads = touches(taskB.inputs, plan.overlap);
  auto compare = [&](std::string what, const ir::Region &region, const std::optional<executor::HostBuffer> &x,
                     const std::optional<executor::HostBuffer> &y) {
    if (x && y)
      out.diffs.push_back(diffRegion(program, std::move(what), region, *x, *y, options.listedElements));
  };
  if (aWrites && bReads)
    compare(overlapText + " as " + secondBlock + " reads it", plan.overlap, first.seenByB, second.seenByB);
  if (aReads && bWrites)
    compare(overlapText + " as " + firstBlock + " reads it", plan.overlap, first.seenByA, second.seenByA);
  if (aWrites && bWrites)
    compare(overlapText + " once both have written", plan.overlap, first.overlapAfterBoth, second.overlapAfterBoth);
  auto compareOutputs = [&](const Instruction &task, const std::string &who, const std::map<uint32_t, executor::HostBuffer> &x,
                            const std::map<uint32_t, executor::HostBuffer> &y) {
    for (const ir::Region &r : task.outputs)
      if (x.count(r.buffer) && y.count(r.buffer)) {
        out.diffs.push_back(diffRegion(program, who + "'s output " + program.regionText(r), r, x.at(r.buffer),
                                       y.at(r.buffer), options.listedElements));
        out.diffs.back().output = true;
      }
  };
  compareOutputs(taskA, firstBlock, first.afterA, second.afterA);
  compareOutputs(taskB, secondBlock, first.afterB, second.afterB);
  std::erase_if(out.diffs, [](const RegionDiff &d) { return d.differing == 0; });
  for (uint32_t i = 0; i < program.buffers.size(); ++i) {
    if (program.buffers[i].readOnly())
      continue;
    RegionDiff d = diffRegion(program, program.buffers[i].name + " at the end of the launch", wholeBuffer(program, i),
                              first.sim->buffers()[i], second.sim->buffers()[i], options.listedElements);
    out.endStatesDiffer |= d.differing > 0;
    // A buffer one of the two tasks wrote whole was shown above already.
    bool shown = std::any_of(out.diffs.begin(), out.diffs.end(),
                             [&](const RegionDiff &e) { return e.region == d.region && e.differing == d.differing; });
    if (d.differing && !shown)
      out.finalDiffs.push_back(std::move(d));
  }
  out.valuesDiffer = !out.diffs.empty();
  const bool writeWrite = race.firstWrites && race.secondWrites;
  if (out.valuesDiffer) {
    out.exhibited = true;
    out.summary = "the two orders leave different values: " + out.diffs.front().what + " differs in " +
                  std::to_string(out.diffs.front().differing) + " of " + std::to_string(out.diffs.front().elements) +
                  " elements";
  } else if (writeWrite) {
    out.exhibited = true;
    out.summary = "the two orders leave " + overlapText + " last written by " + secondBlock + " and by " + firstBlock +
                  " respectively; on this data both writes store the same bits, so the values agree";
  } else {
    out.summary = "both orders ran, but the values agree on this data (seed " + std::to_string(options.seed) +
                  "); another --seed may show a difference";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Co-residency: a dispatch order that hangs with sms x occupancy resident blocks.

struct DispatchSearch {
  std::optional<Interleaving> hang;
  std::optional<Interleaving> reliance; // a resident block blocked while another is not resident
  bool exhausted = false;
  uint64_t states = 0;
};

// Depth-first over dispatch choices on the explorer's machine, tracking counter sums only: with
// those, every step of a resident block commutes with every other (docs/explorer.md R3), so only
// which block is dispatched into a free slot branches; lower blocks are tried first, as a GPU
// dispatches them.
class DispatchSearcher {
public:
  DispatchSearcher(const ir::Program &program, uint32_t slots, uint64_t budget)
      : machine_(program, Tracking::ProgressOnly, slots), slots_(slots), budget_(budget) {}

  DispatchSearch run() {
    std::vector<Step> path;
    visit(machine_.initial(), path);
    return std::move(result_);
  }

private:
  bool visit(State state, std::vector<Step> &path) {
    const size_t mark = path.size();
    for (bool moved = true; moved;) {
      moved = false;
      for (uint32_t block = 0; block < machine_.blocks(); ++block)
        if (std::optional<Step> step = machine_.enabledStep(state, block)) {
          machine_.apply(state, *step, nullptr);
          path.push_back(*step);
          moved = true;
          if (++result_.states > budget_) {
            result_.exhausted = true;
            path.resize(mark);
            return false;
          }
        }
    }
    if (machine_.allFinished(state)) {
      path.resize(mark);
      return false;
    }
    std::vector<uint32_t> waiting;
    bool blocked = false;
    for (uint32_t block = 0; block < machine_.blocks(); ++block) {
      NextKind kind = machine_.next(state, block);
      if (kind == NextKind::NotStarted)
        waiting.push_back(block);
      blocked |= kind == NextKind::Arrived || kind == NextKind::Wait;
    }
    if (!waiting.empty() && blocked && !result_.reliance)
      result_.reliance = Interleaving{slots_, path};
    if (waiting.empty() || machine_.freeSlots(state) == 0) {
      result_.hang = Interleaving{slots_, path};
      return true;
    }
    State key = state;
    machine_.canonicalize(key);
    if (!seen_.insert(machine_.encode(key)).second) {
      path.resize(mark);
      return false;
    }
    for (uint32_t block : waiting) {
      State next = state;
      Step dispatch{StepKind::Dispatch, block, 0, std::nullopt};
      machine_.apply(next, dispatch, nullptr);
      path.push_back(dispatch);
      if (visit(std::move(next), path))
        return true;
      path.pop_back();
      if (result_.exhausted)
        break;
    }
    path.resize(mark);
    return false;
  }

  Machine machine_;
  uint32_t slots_;
  uint64_t budget_;
  DispatchSearch result_;
  std::unordered_set<std::string> seen_;
};

// Follows a bounded-residency interleaving on the simulator; false if a step is not possible.
bool followDispatches(Simulator &sim, const Interleaving &interleaving) {
  for (const Step &step : interleaving.steps) {
    if (step.kind == StepKind::Dispatch) {
      if (!sim.canDispatch(step.block))
        return false;
      sim.dispatch(step.block);
    } else {
      if (sim.pc(step.block) != step.index || !sim.enabled(step.block))
        return false;
      sim.step(step.block);
    }
  }
  return true;
}

std::vector<uint32_t> dispatchOrder(const std::vector<SimEvent> &events) {
  std::vector<uint32_t> out;
  for (const SimEvent &e : events)
    if (e.kind == StepKind::Dispatch)
      out.push_back(e.block);
  return out;
}

std::string orderText(const std::vector<uint32_t> &blocks) {
  std::string out;
  for (uint32_t b : blocks)
    out += (out.empty() ? "" : ", ") + std::to_string(b);
  return out;
}

ViolationReplay replayCoResidency(const ir::Program &program, const WitnessViolation &violation,
                                  const ReplayOptions &options) {
  ViolationReplay out;
  out.rule = violation.rule;
  out.message = violation.message;
  const uint64_t slots =
      uint64_t(std::max<int64_t>(program.sms, 0)) * uint64_t(std::max<int64_t>(program.occupancy, 0));
  if (slots == 0 || slots >= uint64_t(program.blocks)) {
    out.summary = "the grid (" + std::to_string(program.blocks) + " blocks, " + std::to_string(slots) +
                  " resident slots) cannot be simulated with fewer resident blocks than it has";
    return out;
  }
  out.residentSlots = static_cast<uint32_t>(slots);
  const std::string bound = std::to_string(slots) + " resident blocks (sms=" + std::to_string(program.sms) +
                            " x occupancy=" + std::to_string(program.occupancy) + ")";
  DispatchSearch search = DispatchSearcher(program, out.residentSlots, options.searchBudget).run();
  if (search.hang) {
    Simulator sim(program, out.residentSlots);
    sim.fillRandom(options.seed);
    if (!followDispatches(sim, *search.hang)) {
      out.summary = "internal: the hanging dispatch order could not be replayed";
      return out;
    }
    out.runs.push_back(capture(sim, "with " + bound,
                               "a block is dispatched only when a resident one finishes; dispatch order " +
                                   orderText(dispatchOrder(sim.events()))));
    const ReplayRun &run = out.runs.back();
    noteTaskErrors(program, run, out.notes);
    std::vector<uint32_t> resident, absent;
    for (const BlockPosition &p : run.blocked)
      (p.phase == BlockPhase::NotStarted ? absent : resident).push_back(p.block);
    out.exhibited = run.stuck;
    out.summary =
        "with " + bound + " the launch hangs after " + std::to_string(run.events.size()) + " steps: " +
        (resident.empty() ? "" : blocksWord(resident) + " wait" + (resident.size() == 1 ? "s" : "") + " forever") +
        (absent.empty() ? ""
                        : (resident.empty() ? "" : " and ") + blocksWord(absent) +
                              (absent.size() == 1 ? " is" : " are") + " never dispatched");
    return out;
  }
  if (search.exhausted) {
    out.summary = "no hanging dispatch order found within " + std::to_string(options.searchBudget) +
                  " states; --budget raises it";
    return out;
  }
  out.summary = "every dispatch order finishes with " + bound + " (" + std::to_string(search.states) +
                " states searched): the rule rejects the launch because it relies on blocks being resident, "
                "but no hang exists";
  if (search.reliance) {
    Simulator sim(program, out.residentSlots);
    sim.fillRandom(options.seed);
    if (followDispatches(sim, *search.reliance)) {
      std::vector<BlockPosition> positions = sim.positions();
      std::vector<uint32_t> absent;
      for (const BlockPosition &p : positions)
        if (p.phase == BlockPhase::NotStarted)
          absent.push_back(p.block);
      for (const BlockPosition &p : positions)
        if (p.atWait || p.atBarrier)
          out.notes.push_back(positionText(program, p) + ", while " + blocksWord(absent) +
                              (absent.size() == 1 ? " is" : " are") + " not resident");
      // Run on to the end, dispatching the lowest waiting block whenever a slot frees.
      for (bool moved = true; moved;) {
        moved = false;
        for (uint32_t k = 0; k < sim.blocks() && !moved; ++k)
          if (sim.enabled(k) || sim.canDispatch(k)) {
            sim.enabled(k) ? (void)sim.step(k) : (void)sim.dispatch(k);
            moved = true;
          }
      }
      out.runs.push_back(capture(sim, "with " + bound,
                                 "a resident block waits while others are not resident, and the launch still "
                                 "finishes; dispatch order " +
                                     orderText(dispatchOrder(sim.events()))));
    }
  }
  return out;
}

std::string formatValue(const ir::ast::DType dtype, double value, uint64_t bits) {
  char text[64];
  switch (dtype) {
  case ir::ast::DType::I32:
  case ir::ast::DType::I8:
    std::snprintf(text, sizeof text, "%lld", static_cast<long long>(value));
    return text;
  case ir::ast::DType::F32:
    std::snprintf(text, sizeof text, "%.9g (0x%08" PRIx64 ")", value, bits);
    return text;
  default:
    std::snprintf(text, sizeof text, "%.5g (0x%04" PRIx64 ")", value, bits);
    return text;
  }
}

std::string indexText(const std::string &buffer, const std::vector<int64_t> &index) {
  std::string out = buffer + "[";
  for (size_t d = 0; d < index.size(); ++d)
    out += (d ? ", " : "") + std::to_string(index[d]);
  return out + "]";
}

std::string location(const ir::Program &program, InstructionRef at) {
  const ir::Site &site = program.sites[program.blockPrograms[at.block][at.index].site];
  return program.sourceName + ":" + std::to_string(site.range.begin.line) + ":" +
         std::to_string(site.range.begin.column);
}

void renderDiff(const ir::Program &program, const RegionDiff &diff, const std::string &firstName,
                const std::string &secondName, std::string &out) {
  out += program.sourceName + ": note: " + diff.what + " differs in " + std::to_string(diff.differing) + " of " +
         std::to_string(diff.elements) + " element" + (diff.elements == 1 ? "" : "s") + " (" + firstName + " vs " +
         secondName + ")" + (diff.listed.empty() ? "" : ":") + "\n";
  const ir::ast::DType dtype = program.buffers[diff.buffer].dtype;
  for (const ElementDiff &e : diff.listed)
    out += "    " + indexText(program.buffers[diff.buffer].name, e.index) + ": " +
           formatValue(dtype, e.first, e.firstBits) + " vs " + formatValue(dtype, e.second, e.secondBits) + "\n";
  if (diff.differing > static_cast<int64_t>(diff.listed.size()))
    out += "    ... " + std::to_string(diff.differing - static_cast<int64_t>(diff.listed.size())) + " more\n";
}

} // namespace

bool ReplayResult::allExhibited() const {
  return std::all_of(violations.begin(), violations.end(), [](const ViolationReplay &v) { return v.exhibited; });
}

std::string positionText(const ir::Program &program, const BlockPosition &position) {
  std::string who = "block " + std::to_string(position.block);
  if (position.phase == BlockPhase::NotStarted)
    return who + " is never dispatched: no resident block finishes to free a slot";
  std::string at = program.instructionText(position.block, position.index, ir::InstructionStyle::SourceLine);
  if (position.atBarrier)
    return who + " waits at barrier " + std::to_string(position.barrierNumber + 1) + ", " + at + ", reached by " +
           std::to_string(position.value) + " of " + std::to_string(position.threshold) + " blocks; " +
           blocksWord(position.waitsFor) + (position.waitsFor.size() == 1 ? " never arrives" : " never arrive");
  if (position.atWait) {
    const Instruction &instruction = program.blockPrograms[position.block][position.index];
    std::string text = who + " waits at " + at + ": " + program.counterText(instruction) + " is " +
                       std::to_string(position.value) + " < " + std::to_string(position.threshold);
    if (position.waitsFor.empty())
      return text + " and no unfinished block still holds a signal on it";
    if (position.waitsFor.size() == 1 && position.waitsFor[0] == position.block)
      return text + " and only its own later signal could raise it";
    return text + "; only " + blocksWord(position.waitsFor) +
           (position.waitsFor.size() == 1 ? " still holds" : " still hold") + " signals on it";
  }
  return who + " is at " + at;
}

ReplayResult replayWitness(const ir::Program &program, const Witness &witness, const ReplayOptions &options) {
  ReplayResult result;
  result.file = program.sourceName;
  result.seed = options.seed;
  for (const WitnessViolation &violation : witness.violations) {
    switch (violation.rule) {
    case Rule::CoResidency:
      result.violations.push_back(replayCoResidency(program, violation, options));
      break;
    case Rule::BarrierMismatch:
    case Rule::Deadlock:
      result.violations.push_back(replayStuck(program, witness, violation, options));
      break;
    case Rule::Race:
      result.violations.push_back(replayRace(program, witness, violation, options));
      break;
    }
  }
  return result;
}

std::string renderReplayText(const ReplayResult &result, const ir::Program &program) {
  std::string out;
  const std::string &file = program.sourceName;
  for (const ViolationReplay &v : result.violations) {
    out += file + ": " + ruleId(v.rule) + " " + ruleName(v.rule) + ": " +
           (v.exhibited ? "exhibited on the CPU: " : "not exhibited: ") + v.summary + "\n";
    if (v.race) {
      const WitnessRace &race = *v.race;
      out += location(program, race.first) + ": note: first access: block " + std::to_string(race.first.block) + " " +
             accessVerb(race.firstWrites) + " at " +
             program.instructionText(race.first.block, race.first.index, ir::InstructionStyle::SourceLine) + "\n";
      out += location(program, race.second) + ": note: second access: block " + std::to_string(race.second.block) +
             " " + accessVerb(race.secondWrites) + " at " +
             program.instructionText(race.second.block, race.second.index, ir::InstructionStyle::SourceLine) + "\n";
    }
    for (const ReplayRun &run : v.runs) {
      out += file + ": note: " + run.title + ": " + run.description + "\n";
      if (v.rule == Rule::Race)
        continue;
      for (const BlockPosition &p : run.blocked) {
        bool placed = p.phase != BlockPhase::NotStarted;
        out += (placed ? location(program, {p.block, p.index}) : file) + ": note: " + positionText(program, p) + "\n";
      }
      if (!run.counters.empty())
        out += file + ": note: counters: " + run.counters + "\n";
    }
    for (const RegionDiff &diff : v.diffs)
      renderDiff(program, diff, "order 1", "order 2", out);
    for (const RegionDiff &diff : v.finalDiffs)
      renderDiff(program, diff, "order 1", "order 2", out);
    for (const std::string &note : v.notes)
      out += file + ": note: " + note + "\n";
  }
  size_t shown = std::count_if(result.violations.begin(), result.violations.end(),
                               [](const ViolationReplay &v) { return v.exhibited; });
  out += file + ": " + std::to_string(shown) + " of " + std::to_string(result.violations.size()) + " violation" +
         (result.violations.size() == 1 ? "" : "s") + " exhibited (CPU replay, seed " + std::to_string(result.seed) +
         ")\n";
  return out;
}

} // namespace amk::replay
