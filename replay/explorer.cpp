// The search: depth-first over the states of the AMKIR §3 machine, taking one step alone whenever it
// commutes with everything the other blocks can do (tasks, barrier arrivals, enabled waits reading
// their smallest admissible position, signals whose place in the order cannot matter), branching
// only over the signals whose order can be observed (and, under a co-residency bound, over which
// block is dispatched), and merging canonical states. docs/explorer.md proves each reduction.
#include "amk/replay/explorer.h"
#include "amk/replay/machine.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <set>
#include <unordered_map>

namespace amk::replay {

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
  return "?";
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

const char *outcomeName(Outcome outcome) {
  switch (outcome) {
  case Outcome::Safe:
    return "safe";
  case Outcome::Unsafe:
    return "unsafe";
  case Outcome::Unknown:
    return "unknown";
  }
  return "?";
}

bool ExploreResult::has(Rule rule) const {
  return std::any_of(findings.begin(), findings.end(), [&](const Finding &f) { return f.rule == rule; });
}

std::vector<Rule> ExploreResult::rules() const {
  std::vector<Rule> out;
  for (const Finding &finding : findings)
    if (std::find(out.begin(), out.end(), finding.rule) == out.end())
      out.push_back(finding.rule);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

constexpr uint32_t kRoot = UINT32_MAX;

struct RaceFound {
  RaceWitness witness;
  Interleaving interleaving;
};

class Search {
public:
  Search(const Machine &machine, const ExploreOptions &options) : machine_(machine), options_(options) {}

  void run() {
    expand(machine_.initial(), kRoot, {});
    while (!stack_.empty() && !exhausted) {
      Frame &frame = stack_.back();
      if (frame.next == frame.choices.size()) {
        stack_.pop_back();
        continue;
      }
      Step choice = frame.choices[frame.next++];
      State state = frame.state;
      uint32_t node = frame.node;
      std::vector<Step> chain;
      take(state, choice, node, chain); // `frame` may dangle from here on
      if (!exhausted)
        expand(std::move(state), node, std::move(chain));
    }
  }

  uint64_t generated = 0;
  uint64_t duplicates = 0;
  uint64_t terminals = 0;
  uint64_t keyBytes = 0;
  bool exhausted = false;
  std::optional<std::pair<DeadlockWitness, Interleaving>> deadlock;
  std::vector<RaceFound> races;
  std::set<std::pair<InstructionRef, InstructionRef>> racingPairs;
  // Co-residency bound: the first state where a resident block is blocked while another block has
  // not been dispatched.
  std::optional<std::pair<DeadlockWitness, Interleaving>> reliance;
  uint64_t stored() const { return nodes_.size(); }

private:
  struct Node {
    uint32_t parent;
    std::vector<Step> steps; // from the parent's state to this one
  };
  struct Frame {
    State state;
    uint32_t node;
    std::vector<Step> choices;
    size_t next = 0;
  };

  Interleaving pathTo(uint32_t node, const std::vector<Step> &tail) const {
    std::vector<uint32_t> chain;
    for (uint32_t n = node; n != kRoot; n = nodes_[n].parent)
      chain.push_back(n);
    Interleaving out;
    out.residentSlots = machine_.residentSlots();
    for (size_t i = chain.size(); i-- > 0;)
      out.steps.insert(out.steps.end(), nodes_[chain[i]].steps.begin(), nodes_[chain[i]].steps.end());
    out.steps.insert(out.steps.end(), tail.begin(), tail.end());
    return out;
  }

  void take(State &state, const Step &step, uint32_t node, std::vector<Step> &chain) {
    std::vector<RaceWitness> found;
    machine_.apply(state, step, &found);
    chain.push_back(step);
    if (++generated > options_.stateBudget)
      exhausted = true;
    for (const RaceWitness &race : found) {
      auto key = std::minmax(race.first, race.second);
      if (!racingPairs.insert(key).second)
        continue;
      if (races.size() < options_.maxRaceWitnesses)
        races.push_back({race, pathTo(node, chain)});
    }
    if (machine_.residentSlots() && !reliance)
      checkReliance(state, node, chain);
  }

  void checkReliance(const State &state, uint32_t node, const std::vector<Step> &chain) {
    bool pending = false, blocked = false;
    for (uint32_t block = 0; block < machine_.blocks(); ++block) {
      NextKind kind = machine_.next(state, block);
      pending |= kind == NextKind::NotStarted;
      blocked |= kind == NextKind::Arrived || (kind == NextKind::Wait && !machine_.enabledStep(state, block));
    }
    if (pending && blocked)
      reliance.emplace(machine_.deadlock(state), pathTo(node, chain));
  }

  // A step that commutes with every step the other blocks can take from here on, if there is one.
  std::optional<Step> loneStep(const State &state) {
    uint32_t blocks = machine_.blocks();
    for (uint32_t k = 0; k < blocks; ++k) {
      uint32_t block = (preferred_ + k) % blocks;
      NextKind kind = machine_.next(state, block);
      if (kind == NextKind::Signal && machine_.contendedSignal(state, block))
        continue;
      if (std::optional<Step> step = machine_.enabledStep(state, block)) {
        preferred_ = block;
        return step;
      }
    }
    return std::nullopt;
  }

  std::vector<Step> choices(const State &state) const {
    std::vector<Step> out;
    for (uint32_t block = 0; block < machine_.blocks(); ++block)
      if (std::optional<Step> step = machine_.enabledStep(state, block))
        out.push_back(*step);
    if (machine_.residentSlots() && machine_.freeSlots(state))
      for (uint32_t block = 0; block < machine_.blocks(); ++block)
        if (machine_.next(state, block) == NextKind::NotStarted)
          out.push_back(Step{StepKind::Dispatch, block, 0, std::nullopt});
    return out;
  }

  void expand(State state, uint32_t parent, std::vector<Step> chain) {
    while (!exhausted) {
      std::optional<Step> step = loneStep(state);
      if (!step)
        break;
      take(state, *step, parent, chain);
    }
    if (exhausted)
      return;
    std::vector<Step> next = choices(state);
    if (next.empty()) {
      ++terminals;
      if (!machine_.allFinished(state) && !deadlock)
        deadlock.emplace(machine_.deadlock(state), pathTo(parent, chain));
      return;
    }
    machine_.canonicalize(state);
    std::string key = machine_.encode(state);
    if (seen_.count(key)) {
      ++duplicates;
      return;
    }
    keyBytes += key.size() + chain.size() * sizeof(Step) + 64;
    if (keyBytes > options_.memoryBudgetBytes) {
      exhausted = true;
      return;
    }
    uint32_t node = static_cast<uint32_t>(nodes_.size());
    nodes_.push_back(Node{parent, std::move(chain)});
    seen_.emplace(std::move(key), node);
    stack_.push_back(Frame{std::move(state), node, std::move(next), 0});
  }

  const Machine &machine_;
  const ExploreOptions &options_;
  std::vector<Node> nodes_;
  std::unordered_map<std::string, uint32_t> seen_;
  std::vector<Frame> stack_;
  uint32_t preferred_ = 0;
};

// "block 3 holds" / "blocks 3, 4 hold"
std::string blocksVerb(const std::vector<uint32_t> &blocks, const std::string &singular, const std::string &plural) {
  return blocksWord(blocks) + " " + (blocks.size() == 1 ? singular : plural);
}

// "line 12 (opaque x[8*b : 8*b+8] <- a[8*b : 8*b+8], b=1)"
std::string where(const ir::Program &program, InstructionRef ref) {
  const ir::Instruction &inst = program.blockPrograms[ref.block][ref.index];
  const ir::Site &site = program.sites[inst.site];
  std::string bindings = program.bindings(inst);
  return "line " + std::to_string(site.range.begin.line) + " (" + site.text +
         (bindings.empty() ? "" : ", " + bindings) + ")";
}

std::string describeStuck(const ir::Program &program, const StuckBlock &stuck) {
  std::string who = "block " + std::to_string(stuck.block);
  switch (stuck.reason) {
  case StuckReason::NotResident:
    return who + " is never dispatched: no resident block finishes to free a slot";
  case StuckReason::Barrier:
    return who + " waits at barrier " + std::to_string(stuck.barrierNumber + 1) + ", " +
           where(program, {stuck.block, stuck.index}) + ", reached by " + std::to_string(stuck.arrived) + " of " +
           std::to_string(program.blocks) + " blocks; " + blocksVerb(stuck.waitsFor, "never arrives", "never arrive");
  case StuckReason::Wait: {
    const ir::Instruction &inst = program.blockPrograms[stuck.block][stuck.index];
    std::string text = who + " waits at " + where(program, {stuck.block, stuck.index}) + ": " +
                       program.counterText(inst) + " is " + std::to_string(stuck.value) + " < " +
                       std::to_string(stuck.threshold);
    if (stuck.waitsFor.empty())
      return text + " and no unfinished block still holds a signal on it";
    if (stuck.waitsFor.size() == 1 && stuck.waitsFor[0] == stuck.block)
      return text + " and only its own later signal could raise it";
    return text + "; only " + blocksVerb(stuck.waitsFor, "still holds", "still hold") + " signals on it";
  }
  }
  return who;
}

std::vector<uint32_t> stuckBlocks(const DeadlockWitness &witness) {
  std::vector<uint32_t> out;
  for (const StuckBlock &stuck : witness.stuck)
    out.push_back(stuck.block);
  return out;
}

std::string cycleText(const DeadlockWitness &witness) {
  std::string out;
  for (uint32_t block : witness.cycle)
    out += std::to_string(block) + " -> ";
  return out + std::to_string(witness.cycle.front());
}

Finding deadlockFinding(const ir::Program &program, Rule rule, const DeadlockWitness &witness,
                        const Interleaving &interleaving) {
  Finding finding;
  finding.rule = rule;
  std::vector<uint32_t> stuck = stuckBlocks(witness);
  finding.message = blocksWord(stuck) + " can never finish";
  if (!witness.cycle.empty())
    finding.message += " (wait-for cycle " + cycleText(witness) + ")";
  for (const StuckBlock &s : witness.stuck)
    finding.notes.push_back(describeStuck(program, s));
  finding.deadlock = witness;
  finding.interleaving = interleaving;
  return finding;
}

// "1 wait", "2 waits"
std::string counted(size_t n, const std::string &noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

std::string accessWord(bool write) { return write ? "writes" : "reads"; }

// Co-residency (AMKIR §3): a grid larger than the resident slots that ever blocks relies on blocks
// that need not be resident. The bounded exploration looks for a dispatch order that deadlocks.
std::optional<Finding> coResidencyFinding(const ir::Program &program, const ExploreOptions &options,
                                          ExploreStats &stats) {
  uint64_t slots = uint64_t(std::max<int64_t>(program.sms, 0)) * uint64_t(std::max<int64_t>(program.occupancy, 0));
  size_t barriers = 0, waits = 0;
  for (const auto &code : program.blockPrograms)
    for (const ir::Instruction &inst : code) {
      barriers += inst.kind == ir::InstructionKind::Barrier;
      waits += inst.kind == ir::InstructionKind::Wait;
    }
  if (uint64_t(program.blocks) <= slots || barriers + waits == 0)
    return std::nullopt;
  Finding finding;
  finding.rule = Rule::CoResidency;
  finding.message = "grid of " + std::to_string(program.blocks) + " blocks exceeds the " + std::to_string(slots) +
                    " resident slots (sms=" + std::to_string(program.sms) +
                    " x occupancy=" + std::to_string(program.occupancy) + ") and the program has " +
                    counted(waits, "wait") + " and " + counted(barriers, "barrier");
  std::optional<std::pair<DeadlockWitness, Interleaving>> limitedDeadlock, reliance;
  if (slots > 0) {
    Machine bounded(program, Tracking::ProgressOnly, static_cast<uint32_t>(slots));
    Search limited(bounded, options);
    limited.run();
    stats.limitedExplored = true;
    stats.limitedStatesGenerated = limited.generated;
    stats.limitedStatesStored = limited.stored();
    stats.limitedBudgetExhausted = limited.exhausted;
    limitedDeadlock = limited.deadlock;
    reliance = limited.reliance;
  }
  if (limitedDeadlock) {
    const DeadlockWitness &witness = limitedDeadlock->first;
    finding.notes.push_back("with " + std::to_string(slots) + " resident blocks, " + blocksWord(stuckBlocks(witness)) +
                            " can never finish in this dispatch order");
    for (const StuckBlock &s : witness.stuck)
      finding.notes.push_back(describeStuck(program, s));
    finding.deadlock = witness;
    finding.interleaving = limitedDeadlock->second;
    return finding;
  }
  if (stats.limitedExplored && !stats.limitedBudgetExhausted)
    finding.notes.push_back("with " + std::to_string(slots) +
                            " resident blocks every dispatch order still finishes; the launch relies on it anyway");
  else if (stats.limitedExplored)
    finding.notes.push_back("the bounded-residency exploration ran out of budget before finding a deadlock");
  if (reliance) {
    std::vector<uint32_t> absent;
    for (const StuckBlock &s : reliance->first.stuck)
      if (s.reason == StuckReason::NotResident)
        absent.push_back(s.block);
    for (const StuckBlock &s : reliance->first.stuck) {
      bool blocked = s.reason == StuckReason::Barrier || (s.reason == StuckReason::Wait && s.value < s.threshold);
      if (blocked)
        finding.notes.push_back(describeStuck(program, s) + ", while " + blocksVerb(absent, "is", "are") +
                                " not resident");
    }
    finding.interleaving = reliance->second;
  }
  return finding;
}

// Blocks reaching different numbers of grid barriers, with the search's deadlock (if any) as its
// witness.
std::optional<Finding> barrierMismatchFinding(const ir::Program &program, const std::vector<uint32_t> &counts,
                                              const Search &search) {
  if (std::adjacent_find(counts.begin(), counts.end(), std::not_equal_to<>()) == counts.end())
    return std::nullopt;
  Finding finding;
  finding.rule = Rule::BarrierMismatch;
  std::vector<uint32_t> distinct = counts;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  finding.message = "blocks reach different numbers of grid barriers:";
  for (size_t i = 0; i < distinct.size(); ++i) {
    std::vector<uint32_t> which;
    for (uint32_t block = 0; block < counts.size(); ++block)
      if (counts[block] == distinct[i])
        which.push_back(block);
    finding.message += std::string(i ? "," : "") + " " + blocksWord(which) + " " +
                       (which.size() == 1 ? "reaches " : "reach ") + std::to_string(distinct[i]);
  }
  finding.barrierCounts = counts;
  if (search.deadlock) {
    Finding stuck = deadlockFinding(program, Rule::BarrierMismatch, search.deadlock->first, search.deadlock->second);
    finding.notes = stuck.notes;
    finding.deadlock = stuck.deadlock;
    finding.interleaving = stuck.interleaving;
  }
  return finding;
}

// One finding per race the search kept, the last noting how many more racing pairs it counted.
void addRaceFindings(const ir::Program &program, const Search &search, std::vector<Finding> &findings) {
  for (const RaceFound &race : search.races) {
    const RaceWitness &w = race.witness;
    Finding finding;
    finding.rule = Rule::Race;
    finding.message = "race on " + program.regionText(w.overlap) + ": block " + std::to_string(w.first.block) + " " +
                      accessWord(w.firstWrites) + " it at " + where(program, w.first) + " and block " +
                      std::to_string(w.second.block) + " " + accessWord(w.secondWrites) + " it at " +
                      where(program, w.second) + ", and neither happens-before the other in this execution";
    finding.race = w;
    finding.interleaving = race.interleaving;
    findings.push_back(std::move(finding));
  }
  if (!search.races.empty() && search.racingPairs.size() > search.races.size())
    findings.back().notes.push_back(std::to_string(search.racingPairs.size() - search.races.size()) +
                                    " more racing instruction pairs not shown");
}

} // namespace

ExploreResult explore(const ir::Program &program, const ExploreOptions &options) {
  auto start = std::chrono::steady_clock::now();
  ExploreResult result;

  Machine all(program, Tracking::HappensBefore);
  Search search(all, options);
  search.run();
  result.stats.statesGenerated = search.generated;
  result.stats.statesStored = search.stored();
  result.stats.duplicateStates = search.duplicates;
  result.stats.terminalStates = search.terminals;
  result.stats.storedKeyBytes = search.keyBytes;
  result.stats.budgetExhausted = search.exhausted;
  result.stats.racingPairs = search.racingPairs.size();

  if (std::optional<Finding> finding = coResidencyFinding(program, options, result.stats))
    result.findings.push_back(std::move(*finding));
  std::optional<Finding> mismatch = barrierMismatchFinding(program, all.barrierCounts(), search);
  const bool barriersDiffer = mismatch.has_value();
  if (mismatch)
    result.findings.push_back(std::move(*mismatch));

  if (search.deadlock) {
    const DeadlockWitness &witness = search.deadlock->first;
    bool atWait = std::any_of(witness.stuck.begin(), witness.stuck.end(),
                              [](const StuckBlock &s) { return s.reason == StuckReason::Wait; });
    // A deadlock where every stuck block waits at a barrier is the barrier mismatch itself (with
    // equal counts no such state exists: a finished block passed every barrier).
    if (atWait || !barriersDiffer)
      result.findings.push_back(deadlockFinding(program, Rule::Deadlock, witness, search.deadlock->second));
  }
  addRaceFindings(program, search, result.findings);

  std::stable_sort(result.findings.begin(), result.findings.end(),
                   [](const Finding &a, const Finding &b) { return a.rule < b.rule; });
  if (!result.findings.empty())
    result.outcome = Outcome::Unsafe;
  else
    result.outcome = result.stats.budgetExhausted ? Outcome::Unknown : Outcome::Safe;
  result.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

FollowResult follow(const ir::Program &program, const Interleaving &interleaving) {
  FollowResult result;
  Machine machine(program, Tracking::HappensBefore, interleaving.residentSlots);
  State state = machine.initial();
  for (size_t i = 0; i < interleaving.steps.size(); ++i) {
    std::string why = machine.whyInvalid(state, interleaving.steps[i]);
    if (!why.empty()) {
      result.error = "step " + std::to_string(i) + ": " + why;
      result.failedStep = i;
      return result;
    }
    machine.apply(state, interleaving.steps[i], &result.races);
  }
  result.finished = machine.allFinished(state);
  bool canMove = false;
  for (uint32_t block = 0; block < machine.blocks(); ++block)
    canMove |= machine.enabledStep(state, block).has_value() || (machine.residentSlots() && machine.freeSlots(state) &&
                                                                 machine.next(state, block) == NextKind::NotStarted);
  if (!result.finished && !canMove)
    result.deadlock = machine.deadlock(state);
  return result;
}

// "0-3, 5, 7"
std::string blockList(const std::vector<uint32_t> &blocks) {
  std::string out;
  for (size_t i = 0; i < blocks.size();) {
    size_t j = i;
    while (j + 1 < blocks.size() && blocks[j + 1] == blocks[j] + 1)
      ++j;
    out += (out.empty() ? "" : ", ") + std::to_string(blocks[i]);
    if (j > i)
      out += (j == i + 1 ? ", " : "-") + std::to_string(blocks[j]);
    i = j + 1;
  }
  return out;
}

std::string blocksWord(const std::vector<uint32_t> &blocks) {
  return (blocks.size() == 1 ? "block " : "blocks ") + blockList(blocks);
}

} // namespace amk::replay
