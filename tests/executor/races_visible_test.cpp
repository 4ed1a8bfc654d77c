// Races are visible and certified schedules are not: under the executor's adversarial scheduler, a
// racy schedule of the checker's corpus produces different outputs across 100 seeds, while every
// schedule the corpus expects safe produces the same bytes in every buffer under every seed.
#include "amk/ir/frontend.h"
#include "amk/executor/executor.h"
#include "test_support.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace amk::executor {
namespace {

// Every buffer the schedule may write, concatenated, after one deterministic run with `seed`.
std::vector<std::byte> outputsUnder(const ir::Program &program, uint64_t seed, ExecutionStatus &status) {
  Executor executor(program);
  ExecutorOptions options{ExecutionMode::Deterministic, seed};
  options.recordTrace = false;
  ExecutionResult result = executor.run(options);
  status = result.status;
  std::vector<std::byte> all;
  for (const ir::Buffer &b : program.buffers)
    if (!b.readOnly()) {
      std::span<const std::byte> bytes = executor.buffer(b.name)->bytes();
      all.insert(all.end(), bytes.begin(), bytes.end());
    }
  return all;
}

std::string firstLine(const std::filesystem::path &path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

TEST(RacesVisible, RacyCorpusScheduleGivesDifferentOutputsAcrossSeeds) {
  const std::filesystem::path file =
      test::sourceDir() / "corpus" / "handwritten" / "pc_threshold_one_too_low_race.amkir";
  ASSERT_EQ(firstLine(file).rfind("# expect: unsafe AMK-V004", 0), 0u);
  ir::Schedule schedule = ir::loadSchedule(file.string());
  ASSERT_TRUE(schedule.wellFormed()) << schedule.renderDiagnostics();
  std::set<std::vector<std::byte>> distinct;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    ExecutionStatus status;
    distinct.insert(outputsUnder(*schedule.program, seed, status));
    ASSERT_EQ(status, ExecutionStatus::Completed);
  }
  std::printf("%s: %zu distinct outputs over 100 seeds\n", file.filename().c_str(), distinct.size());
  EXPECT_GE(distinct.size(), 2u);
}

TEST(RacesVisible, CertifiedCorpusSchedulesGiveOneOutputAcrossSeeds) {
  size_t checked = 0;
  for (const char *folder : {"examples", "handwritten"})
    for (const std::filesystem::path &file : test::amkirFiles(std::string("corpus/") + folder)) {
      if (firstLine(file) != "# expect: safe")
        continue;
      ir::Schedule schedule = ir::loadSchedule(file.string());
      ASSERT_TRUE(schedule.wellFormed()) << file << schedule.renderDiagnostics();
      if (schedule.program->blocks > 64)
        continue; // the deterministic scheduler scans every block per step; large grids take long
      std::set<std::vector<std::byte>> distinct;
      for (uint64_t seed = 0; seed < 100; ++seed) {
        ExecutionStatus status;
        distinct.insert(outputsUnder(*schedule.program, seed, status));
        ASSERT_EQ(status, ExecutionStatus::Completed) << file << ", seed " << seed;
      }
      EXPECT_EQ(distinct.size(), 1u) << file;
      ++checked;
    }
  std::printf("%zu certified corpus schedules: one output each over 100 seeds\n", checked);
  EXPECT_GE(checked, 20u);
}

} // namespace
} // namespace amk::executor
