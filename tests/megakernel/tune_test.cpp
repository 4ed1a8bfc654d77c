// amk-tune's search (megakernel/tune.h) on the CPU executor with a small fixture: every candidate
// goes through the certifier first, rejected ones are counted and never run, knobs the planner
// cannot use are counted as unplannable, and the fastest timed schedule is written out.
#include "amk/ir/frontend.h"
#include "amk/megakernel/tune.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace amk::megakernel {
namespace {

const std::string kModel = std::string(AMK_SOURCE_DIR) + "/tests/fixtures/tiny-gqa-tied-bf16";

// What a certifier of these tests says about a schedule (the search runs on the CPU executor, which
// does not read the certificate; the real certifier is checker::certify).
ir::Certificate verdict(const ir::Schedule &schedule, std::string rejection = "") {
  return {rejection.empty(), ir::scheduleHash(*schedule.ast), ir::kCheckerVersion, std::move(rejection)};
}

TuneOptions smallSearch(const std::string &name) {
  TuneOptions o;
  o.modelDirectory = kModel;
  o.context = 16;
  o.strategies = {"fused", "barrier"};
  o.rows = {4, 8};
  o.threads = {64};
  o.prompt = {1, 2, 3};
  o.newTokens = 3;
  o.kv = 3;
  o.steps = 3;
  o.cpu = true;
  const std::string dir = ::testing::TempDir() + "amk-tune-" + name;
  std::filesystem::create_directories(dir);
  o.outputPath = dir + "/best.amkir";
  o.tracePath = dir + "/trace.tsv";
  return o;
}

std::vector<std::string> lines(const std::string &path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

TEST(Tune, WritesTheFastestCertifiedScheduleAndATraceRowPerCandidate) {
  if (!std::filesystem::exists(kModel + "/config.json"))
    GTEST_SKIP() << "fixture tiny-gqa-tied-bf16 not generated (scripts/make_fixtures.py)";
  TuneOptions o = smallSearch("all");
  std::set<std::string> certified;
  auto certify = [&](const ir::Schedule &schedule) {
    certified.insert(std::to_string(schedule.program->blocks) + "/" + std::to_string(schedule.program->threads));
    return verdict(schedule);
  };
  std::ostringstream out, err;
  ASSERT_EQ(runTune(o, certify, out, err), TuneOutcome::Ok) << err.str();
  std::cout << out.str();
  // The default (fused rows=16 threads=256) and 2 strategies x 2 tile heights at 64 threads.
  EXPECT_NE(out.str().find("[5/5]"), std::string::npos);
  EXPECT_NE(out.str().find("timed 5, rejected by the checker (never launched) 0"), std::string::npos) << out.str();
  EXPECT_TRUE(certified.count("132/256") && certified.count("132/64"));
  EXPECT_EQ(lines(o.tracePath).size(), 6u); // header + one row per candidate
  ir::Schedule best = ir::loadSchedule(o.outputPath);
  ASSERT_TRUE(best.wellFormed()) << best.renderDiagnostics();
  // The written schedule is the one the summary names.
  const std::string summary = out.str().substr(out.str().find("best: "));
  const bool fused = summary.rfind("best: fused", 0) == 0;
  EXPECT_EQ(best.program->blocks, 132);
  bool sawBarrier = false;
  for (const auto &block : best.program->blockPrograms)
    for (const ir::Instruction &in : block)
      sawBarrier = sawBarrier || in.kind == ir::InstructionKind::Barrier;
  EXPECT_EQ(sawBarrier, !fused);
}

TEST(Tune, RejectedCandidatesAreCountedAndNeverTimed) {
  if (!std::filesystem::exists(kModel + "/config.json"))
    GTEST_SKIP() << "fixture tiny-gqa-tied-bf16 not generated (scripts/make_fixtures.py)";
  TuneOptions o = smallSearch("rejected");
  // A certifier that rejects every schedule with grid barriers (the barrier strategy's).
  auto certify = [](const ir::Schedule &schedule) {
    for (const auto &block : schedule.program->blockPrograms)
      for (const ir::Instruction &in : block)
        if (in.kind == ir::InstructionKind::Barrier)
          return verdict(schedule, "AMK-V000: rejected for the test\n");
    return verdict(schedule);
  };
  std::ostringstream out, err;
  ASSERT_EQ(runTune(o, certify, out, err), TuneOutcome::Ok) << err.str();
  std::cout << out.str();
  EXPECT_NE(out.str().find("timed 3, rejected by the checker (never launched) 2"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("barrier rows=4 threads=64: rejected by the checker: AMK-V000"), std::string::npos);
  for (const std::string &row : lines(o.tracePath))
    if (row.rfind("barrier", 0) == 0) {
      EXPECT_NE(row.find("\trejected by the checker\t"), std::string::npos) << row;
      EXPECT_NE(row.find("\t0\t0\t0\t"), std::string::npos) << "a rejected candidate has no time: " << row;
    }
}

TEST(Tune, UnplannableKnobsAreCountedAndARejectedDefaultStopsTheSearch) {
  if (!std::filesystem::exists(kModel + "/config.json"))
    GTEST_SKIP() << "fixture tiny-gqa-tied-bf16 not generated (scripts/make_fixtures.py)";
  TuneOptions o = smallSearch("unplannable");
  o.strategies = {"fused"};
  o.rows = {0, 4};
  auto accept = [](const ir::Schedule &schedule) { return verdict(schedule); };
  std::ostringstream out, err;
  ASSERT_EQ(runTune(o, accept, out, err), TuneOutcome::Ok) << err.str();
  EXPECT_NE(out.str().find("fused rows=0 threads=64: unplannable: --rows 0 must be at least 1"), std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("unplannable 1"), std::string::npos);

  auto rejectAll = [](const ir::Schedule &schedule) { return verdict(schedule, "AMK-V000: no\n"); };
  std::ostringstream out2, err2;
  EXPECT_EQ(runTune(o, rejectAll, out2, err2), TuneOutcome::NoCandidate);
  EXPECT_NE(err2.str().find("the default schedule (fused rows=16 threads=256) was not timed"), std::string::npos)
      << err2.str();
}

// An expect file's tokens continue its own prompt: a search that decodes another prompt cannot be
// checked against them, and a file without "tokens" is refused by name.
TEST(Tune, AnExpectFileOfAnotherPromptOrWithoutTokensIsRefused) {
  if (!std::filesystem::exists(kModel + "/config.json"))
    GTEST_SKIP() << "fixture tiny-gqa-tied-bf16 not generated (scripts/make_fixtures.py)";
  TuneOptions o = smallSearch("expect");
  const std::string expect = ::testing::TempDir() + "amk-tune-expect.json";
  std::ofstream(expect) << R"({"prompt": [7, 8, 9], "tokens": [1, 2, 3]})";
  o.expectFile = expect;
  auto accept = [](const ir::Schedule &schedule) { return verdict(schedule); };
  std::ostringstream out, err;
  EXPECT_EQ(runTune(o, accept, out, err), TuneOutcome::InputError);
  EXPECT_NE(err.str().find("continues another prompt than --prompt-tokens"), std::string::npos) << err.str();
  std::ofstream(expect) << R"({"prompt": [1, 2, 3]})";
  std::ostringstream out2, err2;
  EXPECT_EQ(runTune(o, accept, out2, err2), TuneOutcome::InputError);
  EXPECT_NE(err2.str().find(expect + ": error: not an hf_greedy.json or hf_zoo.json record"), std::string::npos)
      << err2.str();
}

} // namespace
} // namespace amk::megakernel
