// The checker's headline behaviour on the smallest programs: a producer/consumer pair with an exact
// count is safe; one signal too few is a deadlock; a threshold one too low with several producers is
// a race.
#include "amk/checker/verify.h"
#include "amk/ir/frontend.h"

#include <gtest/gtest.h>

namespace amk::checker {
namespace {

Verdict check(const std::string &threshold) {
  std::string text = "amkir 1\ntarget sm_90 sms=8\ngrid blocks=3 threads=128\nscratch x : f32[8]\ncounter done\n"
                     "blocks b in 0..2 {\n  opaque x[4*b : 4*b+4] <-\n  signal done\n}\n"
                     "blocks b in 2..3 {\n  wait done >= " +
                     threshold + "\n  opaque <- x\n}\n";
  ir::Schedule schedule = ir::parseSchedule("pc.amkir", text);
  EXPECT_TRUE(schedule.program) << schedule.renderDiagnostics();
  return verify(*schedule.program);
}

TEST(VerifySmoke, ExactCountIsSafe) { EXPECT_TRUE(check("2").safe()); }

TEST(VerifySmoke, ThresholdAboveSignalsDeadlocks) {
  Verdict v = check("3");
  ASSERT_EQ(v.violations.size(), 1u);
  EXPECT_EQ(v.violations[0].rule, Rule::Deadlock);
  ASSERT_TRUE(v.violations[0].deadlock);
  EXPECT_EQ(v.violations[0].deadlock->stuck.at(0).finalValue, 2u);
  EXPECT_EQ(v.violations[0].deadlock->stuck.at(0).threshold, 3u);
}

TEST(VerifySmoke, ThresholdBelowSignalsRaces) {
  Verdict v = check("1");
  ASSERT_FALSE(v.safe());
  EXPECT_EQ(v.violations[0].rule, Rule::Race);
}

} // namespace
} // namespace amk::checker
