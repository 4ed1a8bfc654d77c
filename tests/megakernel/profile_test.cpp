// The profile summary of amk-run --profile (megakernel/profile.h) on a hand-made launch: time per op
// and per kind of synchronisation, the interpreter's time between instructions, shares of block time.
#include "amk/ir/ops.h"
#include "amk/megakernel/device/amk_abi.h"
#include "amk/megakernel/profile.h"

#include <gtest/gtest.h>

namespace amk::megakernel {
namespace {

executor::ProfiledInstruction at(uint32_t block, uint32_t index, int kind, int op, uint64_t start, uint64_t end) {
  return {block, index, kind, op, 0, start, end};
}

TEST(Profile, SummarisesTimePerOpAndSynchronisationAndBetweenInstructions) {
  const int matvec = static_cast<int>(ir::OpId::MatVec);
  // Block 0: matvec 1000..4000, signal 4400..5000. Block 1: wait 1000..6000, matvec 6000..8000.
  const std::vector<executor::ProfiledInstruction> launch = {
      at(0, 0, AMK_TASK, matvec, 1000, 4000), at(0, 1, AMK_SIGNAL, 0, 4400, 5000),
      at(1, 0, AMK_WAIT, 0, 1000, 6000), at(1, 1, AMK_TASK, matvec, 6000, 8000)};
  ProfileSummary s = summariseProfile(launch);
  std::cout << formatProfile(s);
  EXPECT_EQ(s.blocks, 2u);
  EXPECT_DOUBLE_EQ(s.spanUs, 7.0);
  EXPECT_DOUBLE_EQ(s.meanBlockUs, (4.0 + 7.0) / 2);
  ASSERT_EQ(s.rows.size(), 4u);
  EXPECT_EQ(s.rows[0].what, "matvec") << "largest total first";
  EXPECT_EQ(s.rows[0].count, 2u);
  EXPECT_DOUBLE_EQ(s.rows[0].totalUs, 5.0);
  EXPECT_DOUBLE_EQ(s.rows[0].meanUs, 2.5);
  EXPECT_DOUBLE_EQ(s.rows[0].maxUs, 3.0);
  EXPECT_DOUBLE_EQ(s.rows[0].perBlockUs, 2.5);
  EXPECT_DOUBLE_EQ(s.rows[0].share, 5.0 / 11.0) << "of 4 + 7 us of block time";
  EXPECT_EQ(s.rows[1].what, "wait");
  EXPECT_DOUBLE_EQ(s.rows[1].totalUs, 5.0);
  EXPECT_EQ(s.rows[2].what, "signal");
  EXPECT_DOUBLE_EQ(s.rows[2].totalUs, 0.6);
  EXPECT_EQ(s.rows[3].what, "between instructions");
  EXPECT_NEAR(s.rows[3].totalUs, 0.4, 1e-9) << "block 0 idled from 4000 to 4400";
  const std::string tsv = profileTsv(launch);
  EXPECT_NE(tsv.find("1\t1\t0\tmatvec\t5000\t7000\n"), std::string::npos) << "times from the first start\n" << tsv;
}

TEST(Profile, AnEmptyLaunchSummarisesToNothing) {
  ProfileSummary s = summariseProfile({});
  EXPECT_EQ(s.blocks, 0u);
  EXPECT_TRUE(s.rows.empty());
}

} // namespace
} // namespace amk::megakernel
