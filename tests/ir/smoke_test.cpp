// The smallest end-to-end specification of the front end: a well-formed schedule elaborates to the
// expected per-block programs, and canonical text survives print(parse(text)) unchanged.
#include "amk/ir/frontend.h"
#include "amk/ir/printer.h"

#include <gtest/gtest.h>

namespace amk::ir {
namespace {

const char *kTwoBlocks = R"(amkir 1
target sm_90 sms=132
grid blocks=2 threads=128 occupancy=1

scratch x : f32[8]
counter ready

blocks b in 0..2 {
  opaque x[4*b : 4*b+4] <- name="produce"
  signal ready
}
blocks b in 1..2 { wait ready >= 2 }
)";

TEST(FrontEndSmoke, ElaboratesAndRoundTrips) {
  Schedule schedule = parseSchedule("two.amkir", kTwoBlocks);
  ASSERT_TRUE(schedule.program) << schedule.renderDiagnostics();
  const Program &p = *schedule.program;
  ASSERT_EQ(p.blockPrograms.size(), 2u);
  EXPECT_EQ(p.blockPrograms[0].size(), 2u);
  EXPECT_EQ(p.blockPrograms[1].size(), 3u);
  EXPECT_EQ(p.blockPrograms[1][2].kind, InstructionKind::Wait);
  EXPECT_EQ(p.blockPrograms[1][2].amount, 2u);
  EXPECT_EQ(p.regionText(p.blockPrograms[1][0].outputs[0]), "x[4:8]");
  EXPECT_EQ(printSurface(*schedule.ast), kTwoBlocks);
}

} // namespace
} // namespace amk::ir
