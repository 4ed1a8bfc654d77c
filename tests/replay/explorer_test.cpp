// The explorer on small programs, one per AMKIR §3 situation it must decide: each states the verdict,
// the rule ids, the witness it names, and that the witness interleaving replays to it.
#include "amk/replay/explorer.h"
#include "replay/replay_support.h"

#include <gtest/gtest.h>

namespace amk::replay {
namespace {

using test::elaborate;
using test::expectWitnessesReplay;
using test::header;

std::vector<Rule> rules(std::initializer_list<Rule> list) { return list; }

const Finding &only(const ExploreResult &result, Rule rule) {
  for (const Finding &finding : result.findings)
    if (finding.rule == rule)
      return finding;
  ADD_FAILURE() << "no " << ruleId(rule) << " finding";
  static Finding none;
  return none;
}

TEST(Explorer, ExactCountProducerConsumerIsSafe) {
  ir::Program program = elaborate(header(3) + R"(
blocks b in 0..2 {
  opaque x[8*b : 8*b+8] <- a[8*b : 8*b+8]
  signal c
}
blocks b in 2..3 {
  wait c >= 2
  opaque y[b, :] <- x
}
)");
  ExploreResult result = explore(program);
  EXPECT_EQ(result.outcome, Outcome::Safe);
  EXPECT_TRUE(result.findings.empty());
  EXPECT_FALSE(result.stats.budgetExhausted);
}

// Three producers, a threshold of 2: the wait can read the prefix of the modification order made of
// any two of the three increments, so each producer in turn is the one it does not synchronize with.
TEST(Explorer, ThresholdOneTooLowWithSeveralProducersRaces) {
  ir::Program program = elaborate(header(4) + R"(
blocks b in 0..3 {
  opaque x[4*b : 4*b+4] <- a[4*b : 4*b+4]
  signal c
}
blocks b in 3..4 {
  wait c >= 2
  opaque y[b, :] <- x
}
)");
  ExploreResult result = explore(program);
  EXPECT_EQ(result.outcome, Outcome::Unsafe);
  EXPECT_EQ(result.rules(), rules({Rule::Race}));
  EXPECT_EQ(result.stats.racingPairs, 3u); // every producer's write against the consumer's read
  for (const Finding &finding : result.findings) {
    ASSERT_TRUE(finding.race);
    EXPECT_EQ(finding.race->second, (InstructionRef{3, 1}));
    EXPECT_TRUE(finding.race->firstWrites);
    EXPECT_FALSE(finding.race->secondWrites);
    EXPECT_EQ(program.regionText(finding.race->overlap), "x[" + std::to_string(4 * finding.race->first.block) + ":" +
                                                             std::to_string(4 * finding.race->first.block + 4) + "]");
    // The wait read a prefix of two increments.
    for (const Step &step : finding.interleaving->steps) {
      if (step.kind == StepKind::Wait) {
        EXPECT_EQ(step.readPosition, 2u);
      }
    }
  }
  expectWitnessesReplay(program, result);
}

TEST(Explorer, RelaxedSignalPublishesNothing) {
  ir::Program program = elaborate(header(2) + R"(
blocks b in 0..1 {
  opaque x <- a
  signal.relaxed c
}
blocks b in 1..2 {
  wait c >= 1
  opaque y[b, :] <- x
}
)");
  ExploreResult result = explore(program);
  EXPECT_EQ(result.rules(), rules({Rule::Race}));
  const Finding &race = only(result, Rule::Race);
  ASSERT_TRUE(race.race);
  EXPECT_EQ(race.race->first, (InstructionRef{0, 0}));
  EXPECT_EQ(race.race->second, (InstructionRef{1, 1}));
  EXPECT_EQ(program.buffers[race.race->buffer].name, "x");
  expectWitnessesReplay(program, result);
}

TEST(Explorer, RelaxedWaitAcquiresNothing) {
  ir::Program program = elaborate(header(2) + R"(
blocks b in 0..1 {
  opaque x <- a
  signal c
}
blocks b in 1..2 {
  wait.relaxed c >= 1
  opaque y[b, :] <- x
}
)");
  EXPECT_EQ(explore(program).rules(), rules({Rule::Race}));
}

TEST(Explorer, CtaScopeOrdersNothingAcrossBlocks) {
  for (std::string forms : {"signal.cta c|wait c >= 1", "signal c|wait.cta c >= 1", "signal.cta c|wait.cta c >= 1"}) {
    std::string signal = forms.substr(0, forms.find('|')), wait = forms.substr(forms.find('|') + 1);
    ir::Program program = elaborate(header(2) + "blocks b in 0..1 {\n  opaque x <- a\n  " + signal +
                                    "\n}\nblocks b in 1..2 {\n  " + wait + "\n  opaque y[b, :] <- x\n}\n");
    ExploreResult result = explore(program);
    EXPECT_EQ(result.rules(), rules({Rule::Race})) << forms;
    expectWitnessesReplay(program, result);
  }
}

TEST(Explorer, CtaWithinOneBlockIsProgramOrder) {
  ir::Program program = elaborate(header(2) + R"(
blocks b in 0..2 {
  opaque x[8*b : 8*b+8] <- a[8*b : 8*b+8]
  signal.cta e[b]
  wait.cta e[b] >= 1
  opaque y[b, :] <- x[8*b : 8*b+8]
}
)");
  EXPECT_EQ(explore(program).outcome, Outcome::Safe);
}

// Block 0 publishes two halves with two signals in program order; a wait >= 1 reads at least the
// first increment, which is the release that follows the first half.
TEST(Explorer, ProgramOrderedSignalsWithWaitForOneAreSafe) {
  ir::Program program = elaborate(header(2) + R"(
blocks b in 0..1 {
  opaque x[0:8] <- a[0:8]
  signal c
  opaque x[8:16] <- a[8:16]
  signal c
}
blocks b in 1..2 {
  wait c >= 1
  opaque y[b, 0:8] <- x[0:8]
}
)");
  ExploreResult result = explore(program);
  EXPECT_EQ(result.outcome, Outcome::Safe);

  // Reading the second half needs the second increment: >= 1 is not enough.
  ir::Program tooFar = elaborate(header(2) + R"(
blocks b in 0..1 {
  opaque x[0:8] <- a[0:8]
  signal c
  opaque x[8:16] <- a[8:16]
  signal c
}
blocks b in 1..2 {
  wait c >= 1
  opaque y[b, :] <- x
}
)");
  ExploreResult race = explore(tooFar);
  EXPECT_EQ(race.rules(), rules({Rule::Race}));
  EXPECT_EQ(only(race, Rule::Race).race->first, (InstructionRef{0, 2}));
  EXPECT_EQ(program.regionText(only(race, Rule::Race).race->overlap), "x[8:16]");
  expectWitnessesReplay(tooFar, race);
}

TEST(Explorer, WaitForCycleDeadlocks) {
  ir::Program program = elaborate(header(2) + R"(
blocks b in 0..1 {
  wait d >= 1
  signal c
}
blocks b in 1..2 {
  wait c >= 1
  signal d
}
)");
  ExploreResult result = explore(program);
  EXPECT_EQ(result.outcome, Outcome::Unsafe);
  EXPECT_EQ(result.rules(), rules({Rule::Deadlock}));
  const Finding &deadlock = only(result, Rule::Deadlock);
  ASSERT_TRUE(deadlock.deadlock);
  ASSERT_EQ(deadlock.deadlock->stuck.size(), 2u);
  for (const StuckBlock &stuck : deadlock.deadlock->stuck) {
    EXPECT_EQ(stuck.reason, StuckReason::Wait);
    EXPECT_EQ(stuck.index, 0u);
    EXPECT_EQ(stuck.value, 0u);
    EXPECT_EQ(stuck.threshold, 1u);
    EXPECT_EQ(stuck.waitsFor, std::vector<uint32_t>{1 - stuck.block});
  }
  std::vector<uint32_t> cycle = deadlock.deadlock->cycle;
  std::sort(cycle.begin(), cycle.end());
  EXPECT_EQ(cycle, (std::vector<uint32_t>{0, 1}));
  EXPECT_TRUE(deadlock.interleaving->steps.empty());
  expectWitnessesReplay(program, result);
}

TEST(Explorer, BarrierMismatchIsReportedOnceWhenOnlyBarriersAreStuck) {
  ir::Program program = elaborate(header(2) + R"(
blocks b in 0..2 {
  opaque x[8*b : 8*b+8] <- a[8*b : 8*b+8]
  for i in 0..b+1 { barrier }
}
)");
  ExploreResult result = explore(program);
  EXPECT_EQ(result.rules(), rules({Rule::BarrierMismatch}));
  const Finding &mismatch = only(result, Rule::BarrierMismatch);
  EXPECT_EQ(mismatch.barrierCounts, (std::vector<uint32_t>{1, 2}));
  ASSERT_TRUE(mismatch.deadlock);
  ASSERT_EQ(mismatch.deadlock->stuck.size(), 1u);
  EXPECT_EQ(mismatch.deadlock->stuck[0].block, 1u);
  EXPECT_EQ(mismatch.deadlock->stuck[0].reason, StuckReason::Barrier);
  EXPECT_EQ(mismatch.deadlock->stuck[0].barrierNumber, 1u);
  EXPECT_EQ(mismatch.deadlock->finished, std::vector<uint32_t>{0});
  expectWitnessesReplay(program, result);
}

TEST(Explorer, BarrierMismatchWithAStuckWaitIsAlsoADeadlock) {
  ir::Program program = elaborate(header(2) + R"(
blocks b in 0..1 {
  barrier
  barrier
  signal c
}
blocks b in 1..2 {
  barrier
  wait c >= 1
}
)");
  EXPECT_EQ(explore(program).rules(), rules({Rule::BarrierMismatch, Rule::Deadlock}));
}

TEST(Explorer, CoResidencyReportsTheBoundedDeadlock) {
  ir::Program program = elaborate(header(4, /*sms=*/2) + R"(
blocks b in 0..4 {
  opaque x[4*b : 4*b+4] <- a[4*b : 4*b+4]
  barrier
  opaque y[b, :] <- x
}
)");
  ExploreResult result = explore(program);
  EXPECT_EQ(result.rules(), rules({Rule::CoResidency})); // co-resident, it is safe
  const Finding &finding = only(result, Rule::CoResidency);
  ASSERT_TRUE(finding.deadlock);
  EXPECT_EQ(finding.deadlock->residentSlots, 2u);
  size_t notResident = 0, atBarrier = 0;
  for (const StuckBlock &stuck : finding.deadlock->stuck) {
    notResident += stuck.reason == StuckReason::NotResident;
    atBarrier += stuck.reason == StuckReason::Barrier;
  }
  EXPECT_EQ(notResident, 2u);
  EXPECT_EQ(atBarrier, 2u);
  ASSERT_TRUE(finding.interleaving);
  EXPECT_EQ(finding.interleaving->residentSlots, 2u);
  EXPECT_EQ(finding.interleaving->steps.front().kind, StepKind::Dispatch);
  EXPECT_TRUE(result.stats.limitedExplored);
  expectWitnessesReplay(program, result);
}

// The rule holds even when every dispatch order finishes: the launch relies on it.
TEST(Explorer, CoResidencyWithoutABoundedDeadlockIsStillReported) {
  ir::Program program = elaborate(header(3, /*sms=*/2) + R"(
blocks b in 0..2 {
  opaque x[8*b : 8*b+8] <- a[8*b : 8*b+8]
  signal c
}
blocks b in 2..3 {
  wait c >= 2
  opaque y[b, :] <- x
}
)");
  ExploreResult result = explore(program);
  EXPECT_EQ(result.rules(), rules({Rule::CoResidency}));
  const Finding &finding = only(result, Rule::CoResidency);
  EXPECT_FALSE(finding.deadlock);
  EXPECT_FALSE(result.stats.limitedBudgetExhausted);
  ASSERT_TRUE(finding.interleaving); // block 2 spinning while a producer is not resident
  expectWitnessesReplay(program, result);
}

TEST(Explorer, NoSyncNeedsNoCoResidency) {
  ir::Program program = elaborate(header(4, /*sms=*/1) + R"(
blocks b in 0..4 {
  opaque x[4*b : 4*b+4] <- a[4*b : 4*b+4]
  signal c
}
)");
  EXPECT_EQ(explore(program).outcome, Outcome::Safe);
}

// Block 0's relaxed increment comes first in the modification order (block 1 waits for it), then
// block 1 writes x and releases c. Block 2 runs its acquire wait only after block 1's release has
// executed (it first waits, relaxed, for d, which block 1 signals afterwards), so the latest value
// of c would synchronize it with block 1. But nothing orders block 1's release before block 2's
// wait, so the wait may read position 1 (block 0's relaxed increment), which already meets the
// threshold and synchronizes with nothing: the read of x races with block 1's write. An explorer
// that lets waits read only the latest value calls this safe.
TEST(Explorer, StaleReadOfAnEarlierIncrementRaces) {
  ir::Program program = elaborate(header(3) + R"(
blocks b in 0..1 {
  signal.relaxed c
}
blocks b in 1..2 {
  wait.relaxed c >= 1
  opaque x <- a
  signal c
  signal.relaxed d
}
blocks b in 2..3 {
  wait.relaxed d >= 1
  wait c >= 1
  opaque y[b, :] <- x
}
)");
  ExploreResult result = explore(program);
  EXPECT_EQ(result.rules(), rules({Rule::Race}));
  const Finding &race = only(result, Rule::Race);
  EXPECT_EQ(race.race->first, (InstructionRef{1, 1}));
  EXPECT_EQ(race.race->second, (InstructionRef{2, 2}));
  // In the witness, block 2's wait on c runs after both increments and reads the first.
  const std::vector<Step> &steps = race.interleaving->steps;
  auto wait = std::find_if(steps.begin(), steps.end(),
                           [](const Step &s) { return s.block == 2 && s.kind == StepKind::Wait && s.index == 1; });
  ASSERT_NE(wait, steps.end());
  EXPECT_EQ(wait->readPosition, 1u);
  auto release = std::find_if(steps.begin(), steps.end(), [](const Step &s) { return s.block == 1 && s.index == 2; });
  EXPECT_LT(release - steps.begin(), wait - steps.begin());
  expectWitnessesReplay(program, result);

  // The same interleaving with the wait reading the latest value (position 2) has no race.
  Interleaving latest = *race.interleaving;
  for (Step &step : latest.steps)
    if (step.block == 2 && step.index == 1)
      step.readPosition = 2;
  FollowResult replayed = follow(program, latest);
  ASSERT_TRUE(replayed.valid()) << replayed.error;
  EXPECT_TRUE(replayed.races.empty());
}

// Coherence: once a block has read position 2 of c, a later wait of the same block cannot read
// position 1 even if that prefix meets its threshold.
TEST(Explorer, CoherenceForbidsReadingBackwards) {
  ir::Program program = elaborate(header(3) + R"(
blocks b in 0..1 {
  signal.relaxed c
}
blocks b in 1..2 {
  opaque x <- a
  signal c
}
blocks b in 2..3 {
  wait.relaxed c >= 2
  wait c >= 1
  opaque y[b, :] <- x
}
)");
  // Whatever the order, the acquire reads position 2, which includes block 1's release.
  EXPECT_EQ(explore(program).outcome, Outcome::Safe);
}

TEST(Explorer, BudgetExhaustionIsUnknownNeverSafe) {
  ir::Program program = elaborate(header(4) + R"(
blocks b in 0..4 {
  opaque x[4*b : 4*b+4] <- a[4*b : 4*b+4]
  signal c
  wait c >= 4
  opaque y[b, :] <- x
}
)");
  ExploreOptions options;
  options.stateBudget = 5;
  ExploreResult cut = explore(program, options);
  EXPECT_EQ(cut.outcome, Outcome::Unknown);
  EXPECT_TRUE(cut.stats.budgetExhausted);
  EXPECT_TRUE(cut.findings.empty());
  ExploreResult full = explore(program);
  EXPECT_EQ(full.outcome, Outcome::Safe);
  EXPECT_GT(full.stats.statesGenerated, 5u);
}

TEST(Explorer, AViolationFoundBeforeTheBudgetRunsOutIsStillUnsafe) {
  ir::Program program = elaborate(header(2) + R"(
blocks b in 0..2 { opaque x <- a[0:16] }
blocks b in 0..2 {
  signal c
  wait c >= 2
  signal d
  wait d >= 2
}
)");
  ExploreOptions options;
  options.stateBudget = 3;
  ExploreResult result = explore(program, options);
  EXPECT_EQ(result.outcome, Outcome::Unsafe);
  EXPECT_TRUE(result.stats.budgetExhausted);
  EXPECT_EQ(result.rules(), rules({Rule::Race}));
}

TEST(Explorer, ReadOnlyBuffersNeverRace) {
  ir::Program program = elaborate(header(2) + "blocks b in 0..2 { opaque y[b, :] <- a }\n");
  EXPECT_EQ(explore(program).outcome, Outcome::Safe);
}

TEST(Explorer, PartialOverlapInEveryDimensionRaces) {
  ir::Program program = elaborate(R"(amkir 1
target sm_90 sms=132
grid blocks=2 threads=128 occupancy=1
input a : f32[8, 8]
scratch m : f32[8, 8]
blocks b in 0..1 { opaque m[0:4, 2:6] <- a[0:4, 2:6] }
blocks b in 1..2 { opaque m[3:8, 5:8] <- a[3:8, 5:8] }
)");
  ExploreResult result = explore(program);
  ASSERT_EQ(result.rules(), rules({Rule::Race}));
  EXPECT_EQ(program.regionText(only(result, Rule::Race).race->overlap), "m[3:4, 5:6]");
}

} // namespace
} // namespace amk::replay
