// The checker against its two oracles on generated schedules: no false accept and no disagreement
// between the explorer and Z3 on a fixed slice of seeds; the generator is deterministic, always
// produces well-formed schedules, and covers both verdicts; minimisation keeps the failure.
#include "amk/fuzz/differential.h"
#include "amk/fuzz/generator.h"
#include "amk/ir/frontend.h"

#include <gtest/gtest.h>

namespace amk::fuzz {
namespace {

TEST(Generator, SameSeedSameScheduleAndAlwaysWellFormed) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    Choices a(seed), b(seed);
    std::string text = generateSchedule(a);
    EXPECT_EQ(text, generateSchedule(b)) << "seed " << seed;
    ir::Schedule schedule = ir::parseSchedule("g.amkir", text);
    ASSERT_TRUE(schedule.program) << "seed " << seed << "\n" << schedule.renderDiagnostics() << text;
  }
}

TEST(Generator, FuzzerBytesGiveWellFormedSchedules) {
  for (size_t length = 0; length < 64; ++length) {
    std::vector<uint8_t> bytes(length);
    for (size_t i = 0; i < length; ++i)
      bytes[i] = static_cast<uint8_t>(i * 37 + length);
    Choices choices(bytes.data(), bytes.size());
    std::string text = generateSchedule(choices);
    ir::Schedule schedule = ir::parseSchedule("g.amkir", text);
    EXPECT_TRUE(schedule.program) << schedule.renderDiagnostics() << text;
  }
}

// 400 schedules through all three: the figures are printed, and the two that must be zero are.
TEST(Differential, NoFalseAcceptNoOracleDisagreement) {
  DifferentialOptions options;
  options.firstSeed = 7001;
  options.count = 400;
  DifferentialSummary summary = runDifferential(options);
  std::cout << summaryTable(summary);
  EXPECT_EQ(summary.falseAccepts, 0u);
  EXPECT_EQ(summary.oracleDisagreements, 0u);
  EXPECT_EQ(summary.explorerUnknown, 0u) << "the slice is small enough to be explored completely";
  // Both verdicts occur, or the comparison says nothing.
  EXPECT_GT(summary.explorerSafe, 40u);
  EXPECT_GT(summary.explorerUnsafe, 40u);
}

TEST(Minimise, KeepsTheFailingLine) {
  std::string text = "a\nb\nkeep\nc\n";
  std::string small = minimise(text, [](const std::string &t) { return t.find("keep") != std::string::npos; });
  EXPECT_EQ(small, "keep\n");
}

} // namespace
} // namespace amk::fuzz
