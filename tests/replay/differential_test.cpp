// The reductions are exact: on random small programs the explorer finds exactly what a naive search
// finds. The naive search takes every enabled step of every block in every state, lets every wait
// read every admissible position of its counter's modification order, and merges only identical raw
// states (no canonical forms, no forgotten accesses); it drives the same step semantics (Machine), so
// what this compares is the reductions: lone steps, smallest reads, canonicalization.
#include "amk/replay/explorer.h"
#include "amk/replay/machine.h"
#include "replay/replay_support.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <unordered_set>

namespace amk::replay {
namespace {

struct NaiveOutcome {
  std::set<std::pair<InstructionRef, InstructionRef>> races;
  bool deadlock = false;
  bool deadlockAtWait = false;
  uint64_t states = 0;
  bool tooBig = false;
};

class NaiveSearch {
public:
  NaiveSearch(const Machine &machine, uint64_t limit) : machine_(machine), limit_(limit) {}

  NaiveOutcome run() {
    visit(machine_.initial());
    return out_;
  }

private:
  std::vector<Step> successors(const State &state) const {
    std::vector<Step> out;
    for (uint32_t block = 0; block < machine_.blocks(); ++block) {
      NextKind kind = machine_.next(state, block);
      if (kind == NextKind::Wait) {
        // Every position up to the longest modification order; whyInvalid keeps the admissible ones.
        uint64_t length = 0;
        for (const CounterState &counter : state.counters)
          length = std::max(length, counter.length);
        Step step{StepKind::Wait, block, state.pc[block], 0};
        for (uint64_t position = 0; position <= length; ++position) {
          step.readPosition = position;
          if (machine_.whyInvalid(state, step).empty())
            out.push_back(step);
        }
      } else if (kind == NextKind::NotStarted) {
        Step step{StepKind::Dispatch, block, 0, std::nullopt};
        if (machine_.whyInvalid(state, step).empty())
          out.push_back(step);
      } else if (std::optional<Step> step = machine_.enabledStep(state, block)) {
        out.push_back(*step);
      }
    }
    return out;
  }

  void visit(const State &state) {
    if (out_.tooBig || !seen_.insert(machine_.encode(state)).second)
      return;
    if (++out_.states > limit_) {
      out_.tooBig = true;
      return;
    }
    std::vector<Step> next = successors(state);
    if (next.empty() && !machine_.allFinished(state)) {
      out_.deadlock = true;
      for (const StuckBlock &stuck : machine_.deadlock(state).stuck)
        out_.deadlockAtWait |= stuck.reason == StuckReason::Wait;
    }
    for (const Step &step : next) {
      State successor = state;
      std::vector<RaceWitness> races;
      machine_.apply(successor, step, &races);
      for (const RaceWitness &race : races)
        out_.races.insert(std::minmax(race.first, race.second));
      visit(successor);
    }
  }

  const Machine &machine_;
  uint64_t limit_;
  std::unordered_set<std::string> seen_;
  NaiveOutcome out_;
};

// Three shapes: free (any instruction anywhere, mostly unsafe), structured (mostly the block's own
// tile) and rounds of publish-then-consume (the shape of real schedules, often safe, where the
// order, scope, amounts and thresholds of the synchronization decide).
std::string randomSchedule(std::mt19937 &rng, uint32_t &blocks) {
  auto pick = [&](uint32_t n) { return uint32_t(rng() % n); };
  blocks = 2 + pick(2);
  uint32_t sms = pick(6) == 0 ? 1 + pick(2) : 132;
  std::string text = "amkir 1\ntarget sm_90 sms=" + std::to_string(sms) + "\ngrid blocks=" + std::to_string(blocks) +
                     " threads=32 occupancy=1\ninput a : f32[8]\nscratch x : f32[8]\noutput y : f32[" +
                     std::to_string(blocks) + ", 8]\ncounter c\ncounter d\n";
  const char *orders[] = {"", "", "", ".relaxed", ".cta"};
  bool barriers = pick(4) == 0;
  uint32_t shape = pick(3);
  if (shape == 2) {
    // Publish-then-consume rounds (round r uses plane r of w): write the own tile, signal, wait,
    // read; every choice of order, amount and threshold perturbed a little.
    uint32_t rounds = blocks == 2 ? 1 + pick(2) : 1;
    text += "scratch w : f32[2, 8]\n";
    auto order = [&] { return std::string(pick(10) ? "" : orders[3 + pick(2)]); };
    for (uint32_t block = 0; block < blocks; ++block) {
      text += "blocks b in " + std::to_string(block) + ".." + std::to_string(block + 1) + " {\n";
      for (uint32_t r = 0; r < rounds; ++r) {
        std::string counter = r ? "d" : "c";
        std::string plane = "w[" + std::to_string(r) + ", ";
        std::string own = std::to_string(2 * block) + ":" + std::to_string(2 * block + 2);
        uint32_t next = (block + 1 + pick(blocks - 1)) % blocks;
        std::string other = pick(3) ? std::to_string(2 * next) + ":" + std::to_string(2 * next + 2) : "0:8";
        text += "  opaque " + plane + own + "] <- a[" + own + "]\n";
        if (pick(8) == 0)
          text += "  signal" + order() + " " + counter + "\n";
        text += "  signal" + order() + " " + counter + "\n";
        if (pick(4) == 0)
          text += "  wait.relaxed " + counter + " >= " + std::to_string(pick(blocks + 1)) + "\n";
        int threshold = int(blocks) + (pick(4) ? 0 : int(pick(3)) - 1);
        text += "  wait" + order() + " " + counter + " >= " + std::to_string(std::max(threshold, 0)) + "\n";
        text += "  opaque y[b, " + other + "] <- " + plane + other + "]\n";
      }
      text += "}\n";
    }
    return text;
  }
  bool structured = shape == 1;
  for (uint32_t block = 0; block < blocks; ++block) {
    text += "blocks b in " + std::to_string(block) + ".." + std::to_string(block + 1) + " {\n";
    uint32_t length = 1 + pick(structured ? 6 : 5);
    for (uint32_t i = 0; i < length; ++i) {
      uint32_t lo = 2 * pick(4), hi = std::min<uint32_t>(8, lo + 2 + 2 * pick(2));
      if (structured && pick(3)) {
        lo = 2 * block;
        hi = lo + 2;
      }
      std::string slice = std::to_string(lo) + ":" + std::to_string(hi);
      std::string counter = pick(3) ? "c" : "d";
      uint32_t amount = structured ? 1 : 1 + pick(2);
      uint32_t threshold = structured ? uint32_t(blocks) - pick(2) : pick(4);
      switch (pick(barriers ? 10 : 9)) {
      case 0:
      case 1:
      case 2:
        text += "  opaque x[" + slice + "] <- a[" + slice + "]\n";
        break;
      case 3:
      case 4:
        text += "  opaque y[b, " + slice + "] <- x[" + slice + "]\n";
        break;
      case 5:
      case 6:
        text += "  signal" + std::string(orders[pick(5)]) + " " + counter + " + " + std::to_string(amount) + "\n";
        break;
      case 7:
      case 8:
        text += "  wait" + std::string(orders[pick(5)]) + " " + counter + " >= " + std::to_string(threshold) + "\n";
        break;
      default:
        text += "  barrier\n";
      }
    }
    text += "}\n";
  }
  return text;
}

TEST(Differential, ReducedSearchFindsExactlyWhatTheNaiveSearchFinds) {
  std::mt19937 rng(20240611);
  int compared = 0, unsafe = 0, deadlocks = 0, boundedCompared = 0;
  for (int round = 0; round < 2000; ++round) {
    uint32_t blocks = 0;
    std::string text = randomSchedule(rng, blocks);
    ir::Schedule schedule = ir::parseSchedule("random-" + std::to_string(round), text);
    ASSERT_TRUE(schedule.wellFormed()) << schedule.renderDiagnostics() << text;
    const ir::Program &program = *schedule.program;

    Machine all(program, Tracking::HappensBefore);
    NaiveOutcome naive = NaiveSearch(all, 60'000).run();
    if (naive.tooBig)
      continue;
    ++compared;
    ExploreResult result = explore(program);
    ASSERT_FALSE(result.stats.budgetExhausted) << text;

    std::set<std::pair<InstructionRef, InstructionRef>> reported;
    for (const Finding &finding : result.findings)
      if (finding.race)
        reported.insert(std::minmax(finding.race->first, finding.race->second));
    EXPECT_EQ(result.stats.racingPairs, naive.races.size()) << text;
    for (const auto &pair : reported)
      EXPECT_TRUE(naive.races.count(pair)) << text;
    EXPECT_EQ(result.has(Rule::Race), !naive.races.empty()) << text;

    std::vector<uint32_t> counts = all.barrierCounts();
    bool mismatch = std::adjacent_find(counts.begin(), counts.end(), std::not_equal_to<>()) != counts.end();
    EXPECT_EQ(result.has(Rule::BarrierMismatch), mismatch) << text;
    EXPECT_EQ(result.has(Rule::Deadlock), naive.deadlockAtWait || (naive.deadlock && !mismatch)) << text;
    EXPECT_EQ(naive.deadlock, mismatch || result.has(Rule::Deadlock)) << text;
    test::expectWitnessesReplay(program, result);

    // Bounded residency: the naive search also dispatches at any moment, in any order.
    if (result.has(Rule::CoResidency)) {
      Machine bounded(program, Tracking::ProgressOnly, static_cast<uint32_t>(program.sms * program.occupancy));
      NaiveOutcome naiveBounded = NaiveSearch(bounded, 60'000).run();
      if (!naiveBounded.tooBig && !result.stats.limitedBudgetExhausted) {
        ++boundedCompared;
        const Finding &finding = result.findings.front();
        EXPECT_EQ(finding.deadlock.has_value(), naiveBounded.deadlock) << text;
      }
    }
    unsafe += result.outcome == Outcome::Unsafe;
    deadlocks += naive.deadlock;
  }
  // The sample must exercise both verdicts.
  EXPECT_GT(compared, 1800);
  EXPECT_GT(unsafe, 50);
  EXPECT_GT(compared - unsafe, 250);
  EXPECT_GT(deadlocks, 200);
  EXPECT_GT(boundedCompared, 200);
  std::cout << "compared " << compared << " programs (" << unsafe << " unsafe, " << deadlocks << " deadlocking, "
            << boundedCompared << " also under bounded residency)\n";
}

} // namespace
} // namespace amk::replay
