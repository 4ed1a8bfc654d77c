// The amk-interleaving/1 format and follow(): round trips, malformed inputs with their exact error
// text, and the steps follow() refuses because AMKIR §3 does not allow them.
#include "amk/replay/explorer.h"
#include "amk/replay/interleaving.h"
#include "replay/replay_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace amk::replay {
namespace {

TEST(Interleaving, RoundTripsThroughJson) {
  Interleaving interleaving;
  interleaving.residentSlots = 2;
  interleaving.steps = {{StepKind::Dispatch, 3, 0, std::nullopt},
                        {StepKind::Task, 3, 0, std::nullopt},
                        {StepKind::Signal, 3, 1, std::nullopt},
                        {StepKind::Wait, 3, 2, 7},
                        {StepKind::Barrier, 3, 3, std::nullopt}};
  nlohmann::json json = toJson(interleaving);
  EXPECT_EQ(json["schema"], "amk-interleaving/1");
  EXPECT_EQ(json["steps"][3], (nlohmann::json{{"block", 3}, {"index", 2}, {"kind", "wait"}, {"readPosition", 7}}));
  EXPECT_FALSE(json["steps"][0].contains("index"));
  std::string error;
  std::optional<Interleaving> back = interleavingFromJson(nlohmann::json::parse(json.dump()), error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(*back, interleaving);
}

TEST(Interleaving, RejectsMalformedJsonWithAReason) {
  struct Case {
    const char *json;
    const char *error;
  };
  const Case cases[] = {
      {R"({"steps": []})", R"(not an interleaving: expected "schema": "amk-interleaving/1")"},
      {R"({"schema": "amk-interleaving/1"})", R"(interleaving has no "steps" array)"},
      {R"({"schema": "amk-interleaving/1", "steps": [{"block": 0}]})",
       R"(step 0: expected an object with "block" and "kind")"},
      {R"({"schema": "amk-interleaving/1", "steps": [{"block": 0, "kind": "jump", "index": 0}]})",
       "step 0: unknown step kind 'jump'"},
      {R"({"schema": "amk-interleaving/1", "steps": [{"block": 0, "kind": "task"}]})",
       R"(step 0: expected a non-negative "index")"},
      {R"({"schema": "amk-interleaving/1", "steps": [{"block": 0, "kind": "wait", "index": 1}]})",
       R"(step 0: a wait needs "readPosition")"},
      {R"({"schema": "amk-interleaving/1", "steps": [{"block": 0, "kind": "task", "index": 1, "readPosition": 0}]})",
       R"(step 0: only a wait has "readPosition")"},
      {R"({"schema": "amk-interleaving/1", "residentSlots": -1, "steps": []})",
       R"("residentSlots" must be a non-negative integer)"},
  };
  for (const Case &c : cases) {
    std::string error;
    EXPECT_FALSE(interleavingFromJson(nlohmann::json::parse(c.json), error)) << c.json;
    EXPECT_EQ(error, c.error) << c.json;
  }
}

// Block 0 signals c twice (release, then relaxed); block 1 reads c with two waits.
const char *kTwoSignals = R"(
blocks b in 0..1 {
  opaque x <- a
  signal c
  signal.relaxed c
}
blocks b in 1..2 {
  wait c >= 1
  wait c >= 1
  opaque y[b, :] <- x
}
)";

Step task(uint32_t block, uint32_t index) { return {StepKind::Task, block, index, std::nullopt}; }
Step signal(uint32_t block, uint32_t index) { return {StepKind::Signal, block, index, std::nullopt}; }
Step wait(uint32_t block, uint32_t index, uint64_t position) { return {StepKind::Wait, block, index, position}; }

TEST(Follow, AcceptsAnAdmissibleExecutionAndReportsItsEnd) {
  ir::Program program = test::elaborate(test::header(2) + kTwoSignals);
  Interleaving run{0, {task(0, 0), signal(0, 1), signal(0, 2), wait(1, 0, 1), wait(1, 1, 2), task(1, 2)}};
  FollowResult result = follow(program, run);
  ASSERT_TRUE(result.valid()) << result.error;
  EXPECT_TRUE(result.finished);
  EXPECT_TRUE(result.races.empty()); // position 1 is the release that follows the write
  EXPECT_FALSE(result.deadlock);
}

TEST(Follow, RefusesStepsTheSemanticsDoesNotAllow) {
  ir::Program program = test::elaborate(test::header(2) + kTwoSignals);
  struct Case {
    std::vector<Step> steps;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{task(0, 1)}, "step 0: block 0 is at instruction 0, not 1"},
      {{signal(0, 0)}, "step 0: block 0 instruction 0 is a task, not a signal"},
      {{task(2, 0)}, "step 0: block 2 is not in the grid of 2"},
      {{wait(1, 0, 1)}, "step 0: block 1 wait c >= 1 cannot read position 1: only 0 increments have executed"},
      {{wait(1, 0, 0)}, "step 0: block 1 wait c >= 1 cannot read position 0: the value there is 0"},
      {{task(0, 0), signal(0, 1), signal(0, 2), wait(1, 0, 2), wait(1, 1, 1)},
       "step 4: block 1 wait c >= 1 cannot read position 1: the block already read position 2 (coherence)"},
      {{{StepKind::Dispatch, 0, 0, std::nullopt}},
       "step 0: dispatch step in an interleaving where every block is resident"},
  };
  for (const Case &c : cases) {
    FollowResult result = follow(program, Interleaving{0, c.steps});
    EXPECT_EQ(result.error, c.error);
  }
}

// A signal that happens-before a wait bounds what the wait may read from below.
TEST(Follow, AWaitCannotReadBeforeAnIncrementThatHappensBeforeIt) {
  ir::Program program = test::elaborate(test::header(2) + R"(
blocks b in 0..1 {
  signal c
  signal d
}
blocks b in 1..2 {
  signal c
  wait d >= 1
  wait c >= 1
}
)");
  // mo(c) = [block 1, block 0]; block 1 acquires d from block 0, so block 0's increment of c
  // (position 2) happens-before block 1's wait on c: position 1 is no longer admissible.
  Interleaving run{0, {signal(1, 0), signal(0, 0), signal(0, 1), wait(1, 1, 1), wait(1, 2, 1)}};
  FollowResult result = follow(program, run);
  EXPECT_EQ(result.error,
            "step 4: block 1 wait c >= 1 cannot read position 1: the increment at position 2 happens-before the wait");
  run.steps.back().readPosition = 2;
  EXPECT_TRUE(follow(program, run).valid());
}

TEST(Follow, BoundedResidencyNeedsAFreeSlot) {
  ir::Program program = test::elaborate(test::header(3, /*sms=*/2) + "blocks b in 0..3 { barrier }\n");
  Step dispatch0{StepKind::Dispatch, 0, 0, std::nullopt}, dispatch1{StepKind::Dispatch, 1, 0, std::nullopt},
      dispatch2{StepKind::Dispatch, 2, 0, std::nullopt};
  FollowResult full = follow(program, Interleaving{2, {dispatch0, dispatch1, dispatch2}});
  EXPECT_EQ(full.error, "step 2: no free slot to dispatch block 2: all 2 are taken");
  FollowResult stuck = follow(
      program,
      Interleaving{
          2, {dispatch0, dispatch1, {StepKind::Barrier, 0, 0, std::nullopt}, {StepKind::Barrier, 1, 0, std::nullopt}}});
  ASSERT_TRUE(stuck.valid()) << stuck.error;
  ASSERT_TRUE(stuck.deadlock);
  EXPECT_EQ(stuck.deadlock->stuck.size(), 3u);
  EXPECT_EQ(stuck.deadlock->stuck[2].reason, StuckReason::NotResident);
}

} // namespace
} // namespace amk::replay
