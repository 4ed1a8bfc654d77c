// amk-replay end to end: exit codes (0 exhibited, 1 not exhibited or nothing to replay, 2 usage, input
// or GPU set-up error), witness files from amk-verify --witness-out, the stale-witness refusal, the
// report's lines and the self-contained timeline.
#include "test_support.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace amk::replay {
namespace {

namespace fs = std::filesystem;

std::string tool() { return (amk::test::binaryDir() / "bin" / "amk-replay").string(); }
std::string verifyTool() { return (amk::test::binaryDir() / "bin" / "amk-verify").string(); }
std::string corpusFile(const std::string &name) { return (amk::test::sourceDir() / "corpus" / name).string(); }

// A fresh directory under the build tree, removed when the test ends.
class TempDir {
public:
  explicit TempDir(const std::string &name) : path_(amk::test::binaryDir() / "tests" / ("amk-replay-" + name)) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path &path() const { return path_; }

private:
  fs::path path_;
};

TEST(AmkReplay, ExitCodesSayWhetherTheFailureWasExhibited) {
  struct Case {
    std::string arguments;
    int exitCode;
  };
  const Case cases[] = {
      {corpusFile("examples/deadlock_ring.amkir"), 0},
      {corpusFile("examples/race_relaxed_publish.amkir"), 0},
      {corpusFile("examples/barrier_mismatch.amkir"), 0},
      {corpusFile("examples/coresidency.amkir"), 0},
      {corpusFile("handwritten/coresidency_wait_only_unsafe.amkir"), 1}, // no dispatch order hangs
      {corpusFile("examples/ring_barrier.amkir"), 1},                    // safe: nothing to replay
      {corpusFile("malformed/b002_slice_out_of_bounds.amkir"), 2},
      {"/nonexistent.amkir", 2},
      {"--seed", 2},
      {"--no-such-flag " + corpusFile("examples/deadlock_ring.amkir"), 2},
      {"", 2},
  };
  for (const Case &c : cases) {
    amk::test::CommandResult result = amk::test::runCommand(tool() + " " + c.arguments);
    EXPECT_EQ(result.exitCode, c.exitCode) << c.arguments << "\n" << result.out << result.err;
  }
}

TEST(AmkReplay, ReplaysTheWitnessAmkVerifyWrites) {
  TempDir dir("witness");
  std::string schedule = corpusFile("examples/race_relaxed_publish.amkir");
  amk::test::CommandResult verified =
      amk::test::runCommand(verifyTool() + " --witness-out " + dir.path().string() + " " + schedule);
  ASSERT_EQ(verified.exitCode, 1) << verified.err;
  fs::path witness = dir.path() / "race_relaxed_publish.amkir.witness.json";
  ASSERT_TRUE(fs::exists(witness));
  amk::test::CommandResult replayed = amk::test::runCommand(tool() + " " + witness.string());
  EXPECT_EQ(replayed.exitCode, 0) << replayed.out << replayed.err;
  EXPECT_NE(replayed.out.find("race_relaxed_publish.amkir: AMK-V004 race: exhibited on the CPU: the two orders leave "
                              "different values: kc[0:1, 0:32, 0:16] as block 0 reads it differs in 16 of 512 "
                              "elements"),
            std::string::npos)
      << replayed.out;
  EXPECT_NE(replayed.out.find("no interleaving runs block 0's access first"), std::string::npos) << replayed.out;
  EXPECT_NE(replayed.out.find("race_relaxed_publish.amkir: 2 of 2 violations exhibited (CPU replay, seed 1)"),
            std::string::npos)
      << replayed.out;

  // A witness of another version of the file is refused, not replayed against the wrong text.
  TempDir other("stale");
  fs::path copy = other.path() / "race_relaxed_publish.amkir";
  fs::copy_file(schedule, copy);
  std::ofstream(copy, std::ios::app) << "# edited after verification\n";
  amk::test::CommandResult stale =
      amk::test::runCommand(tool() + " --schedule " + copy.string() + " " + witness.string());
  EXPECT_EQ(stale.exitCode, 2);
  EXPECT_NE(stale.err.find("the witness was written for another version of this file"), std::string::npos) << stale.err;
}

TEST(AmkReplay, RefusesWhatIsNotAWitness) {
  TempDir dir("bad");
  fs::path notJson = dir.path() / "broken.json";
  std::ofstream(notJson) << "{ not json";
  fs::path wrongSchema = dir.path() / "other.json";
  std::ofstream(wrongSchema) << R"({"schema": "amk-interleaving/1", "steps": []})";
  amk::test::CommandResult broken = amk::test::runCommand(tool() + " " + notJson.string());
  EXPECT_EQ(broken.exitCode, 2);
  EXPECT_EQ(broken.err, notJson.string() + ": error: not valid JSON\n");
  amk::test::CommandResult other = amk::test::runCommand(tool() + " " + wrongSchema.string());
  EXPECT_EQ(other.exitCode, 2);
  EXPECT_EQ(other.err, wrongSchema.string() + ": error: not a witness: expected \"schema\": \"amk-witness/1\"\n");
}

TEST(AmkReplay, ADeadlockReportNamesEveryStuckBlock) {
  amk::test::CommandResult result = amk::test::runCommand(tool() + " " + corpusFile("examples/deadlock_ring.amkir"));
  ASSERT_EQ(result.exitCode, 0) << result.err;
  EXPECT_NE(result.out.find("AMK-V003 deadlock: exhibited on the CPU:"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find(": note: counters: "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find(" waits at "), std::string::npos) << result.out;
}

TEST(AmkReplay, WritesASelfContainedTimeline) {
  TempDir dir("timeline");
  fs::path html = dir.path() / "t.html";
  amk::test::CommandResult result = amk::test::runCommand(tool() + " --timeline " + html.string() + " " +
                                                          corpusFile("handwritten/deadlock_and_race.amkir"));
  ASSERT_EQ(result.exitCode, 0) << result.out << result.err;
  std::string page = amk::test::readFile(html);
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(page.find("<svg"), std::string::npos);
  EXPECT_NE(page.find("class=\"race\""), std::string::npos) << "the racing pair is joined";
  EXPECT_NE(page.find("class=\"stuck\""), std::string::npos) << "the stuck blocks are marked";
  // Nothing is fetched from elsewhere: no scripts, links, images or remote URLs (the SVG namespace
  // is a name, not a fetch).
  for (const char *external : {"<script", "<link", "<img", "src=", "href=\"http", "url(http", "@import"})
    EXPECT_EQ(page.find(external), std::string::npos) << external;

  // Waits that pass get an arrow from the signal that let them pass.
  fs::path synced = dir.path() / "s.html";
  ASSERT_EQ(amk::test::runCommand(tool() + " --timeline " + synced.string() + " " +
                                  corpusFile("examples/race_early_threshold.amkir"))
                .exitCode,
            0);
  EXPECT_NE(amk::test::readFile(synced).find("class=\"sync\""), std::string::npos);
}

TEST(AmkReplay, GpuFailsClearlyWithoutADriver) {
  amk::test::CommandResult result =
      amk::test::runCommand(tool() + " --gpu --gpu-timeout 1 " + corpusFile("examples/deadlock_ring.amkir"));
  if (result.exitCode == 0)
    GTEST_SKIP() << "a GPU replayed it:\n" << result.out;
  EXPECT_EQ(result.exitCode, 2) << result.out << result.err;
  EXPECT_EQ(result.err.rfind("amk-replay: error: --gpu: ", 0), 0u) << result.err;
  EXPECT_TRUE(result.err.find("no CUDA driver") != std::string::npos ||
              result.err.find("no GPU runtime") != std::string::npos || result.err.find("CUDA") != std::string::npos)
      << result.err;
  // The CPU replay still ran and was printed first.
  EXPECT_NE(result.out.find("exhibited on the CPU"), std::string::npos) << result.out;
}

} // namespace
} // namespace amk::replay
