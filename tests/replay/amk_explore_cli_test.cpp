// amk-explore end to end: exit codes (0 safe, 1 unsafe, 2 usage/malformed, 3 unknown), the summary
// line, and the JSON form with its interleaving.
#include "test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace amk::replay {
namespace {

std::string tool() { return (amk::test::binaryDir() / "bin" / "amk-explore").string(); }
std::string corpusFile(const std::string &name) { return (amk::test::sourceDir() / "corpus" / name).string(); }

TEST(AmkExplore, ExitCodesFollowTheVerdict) {
  struct Case {
    std::string arguments;
    int exitCode;
  };
  const Case cases[] = {
      {corpusFile("examples/ring_barrier.amkir"), 0},
      {corpusFile("examples/race_cta_scope.amkir"), 1},
      {corpusFile("examples/ring_barrier.amkir") + " " + corpusFile("examples/deadlock_ring.amkir"), 1},
      {corpusFile("malformed/b002_slice_out_of_bounds.amkir"), 2},
      {corpusFile("malformed/b002_slice_out_of_bounds.amkir") + " " + corpusFile("examples/race_cta_scope.amkir"), 2},
      {"/nonexistent.amkir", 2},
      {"--budget 3 " + corpusFile("examples/llama2_decode.amkir"), 3},
      {"--budget 0 " + corpusFile("examples/llama2_decode.amkir"), 2},
      {"--no-such-flag", 2},
      {"", 2},
  };
  for (const Case &c : cases) {
    amk::test::CommandResult result = amk::test::runCommand(tool() + " " + c.arguments);
    EXPECT_EQ(result.exitCode, c.exitCode) << c.arguments << "\n" << result.out << result.err;
  }
}

TEST(AmkExplore, TextEndsWithASummaryLine) {
  amk::test::CommandResult result =
      amk::test::runCommand(tool() + " " + corpusFile("examples/race_relaxed_publish.amkir"));
  EXPECT_NE(result.out.find("race_relaxed_publish.amkir:37:3: error: race on kc[0, 0:32, 0:16]: block 1 writes it at "
                            "line 29"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("race_relaxed_publish.amkir: unsafe [AMK-V004] ("), std::string::npos) << result.out;
}

TEST(AmkExplore, JsonCarriesTheWitnessInterleaving) {
  amk::test::CommandResult result =
      amk::test::runCommand(tool() + " --json " + corpusFile("examples/deadlock_ring.amkir"));
  ASSERT_EQ(result.exitCode, 1) << result.err;
  nlohmann::json json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["verdict"], "unsafe");
  EXPECT_EQ(json["rules"], nlohmann::json::array({"AMK-V003"}));
  const nlohmann::json &finding = json["findings"][0];
  EXPECT_EQ(finding["deadlock"]["stuck"].size(), 3u);
  EXPECT_EQ(finding["deadlock"]["cycle"].size(), 3u);
  EXPECT_EQ(finding["interleaving"]["schema"], "amk-interleaving/1");
  EXPECT_EQ(finding["interleaving"]["steps"].size(), 3u); // the three copies before the waits
}

} // namespace
} // namespace amk::replay
