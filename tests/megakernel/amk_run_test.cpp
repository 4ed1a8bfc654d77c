// amk-run end to end: the built tool through the shell on a random checkpoint written by the test
// (and on a HF fixture when present). Exit codes: 0 ok, 2 for a bad directory, token or usage.
#include "amk/model/reference.h"
#include "checkpoint_support.h"
#include "test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace amk::test {
namespace {

std::string tool() { return (binaryDir() / "bin" / "amk-run").string(); }

std::string join(const std::vector<int64_t> &tokens) {
  std::string text;
  for (int64_t t : tokens)
    text += (text.empty() ? "" : " ") + std::to_string(t);
  return text;
}

TEST(AmkRun, PrintsTheGreedyContinuationAndStepTimes) {
  TempDir dir;
  TinyLlama model;
  writeCheckpoint(dir.path() / "tiny", model, randomWeights(model, 40));
  auto weights = model::loadReferenceWeights(dir / "tiny");
  ASSERT_TRUE(weights);
  std::vector<int64_t> prompt{1, 2, 3};
  auto expected = model::greedyGenerate(*weights, prompt, 5);
  ASSERT_TRUE(expected);

  CommandResult run = runCommand(tool() + " --cpu " + (dir / "tiny") + " --tokens 1,2,3 --new 5");
  ASSERT_EQ(run.exitCode, 0) << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_NE(run.out.find("model: tiny (2 layers, hidden 32, 4 heads, 2 KV heads, vocab 40)"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("step  position  token  ms\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("continuation: " + join(expected->tokens) + "\n"), std::string::npos) << run.out;
  // One line per step: step number, the position fed, the token chosen, milliseconds.
  std::istringstream lines(run.out);
  std::string line;
  int steps = 0;
  while (std::getline(lines, line)) {
    long step, position, token;
    double ms;
    if (std::sscanf(line.c_str(), "%ld %ld %ld %lf", &step, &position, &token, &ms) == 4) {
      EXPECT_EQ(step, steps + 1);
      EXPECT_EQ(position, 2 + steps);
      EXPECT_EQ(token, expected->tokens[size_t(steps)]);
      EXPECT_GE(ms, 0.0);
      ++steps;
    }
  }
  EXPECT_EQ(steps, 5);

  CommandResult quiet = runCommand(tool() + " --cpu " + (dir / "tiny") + " --tokens 1,2,3 --new 5 -q");
  ASSERT_EQ(quiet.exitCode, 0) << quiet.err;
  EXPECT_EQ(quiet.out, join(expected->tokens) + "\n");
}

TEST(AmkRun, ReproducesTheHfFixtureContinuation) {
  std::filesystem::path fixture = sourceDir() / "tests" / "fixtures" / "tiny-llama3-untied";
  if (!std::filesystem::is_directory(fixture))
    GTEST_SKIP() << "fixture tests/fixtures/tiny-llama3-untied is absent: run `python3 scripts/make_fixtures.py "
                    "tests/fixtures` where torch and transformers are installed";
  nlohmann::json expected = nlohmann::json::parse(readFile(fixture / "expected.json"));
  std::string prompt;
  for (int64_t t : expected.at("prompt"))
    prompt += (prompt.empty() ? "" : ",") + std::to_string(t);
  CommandResult run = runCommand(tool() + " --cpu " + fixture.string() + " --tokens " + prompt + " --new 16 -q");
  ASSERT_EQ(run.exitCode, 0) << run.err;
  EXPECT_EQ(run.out, join(expected.at("greedy_tokens").get<std::vector<int64_t>>()) + "\n");
}

TEST(AmkRun, BadInputsExitWithTwoAndSayWhy) {
  TempDir dir;
  TinyLlama model;
  writeCheckpoint(dir.path() / "tiny", model, randomWeights(model, 41));

  CommandResult absent = runCommand(tool() + " --cpu " + (dir / "absent") + " --tokens 1");
  EXPECT_EQ(absent.exitCode, 2);
  EXPECT_EQ(absent.err, dir / "absent" + ": error: no such directory\n");

  CommandResult token = runCommand(tool() + " --cpu " + (dir / "tiny") + " --tokens 1,40");
  EXPECT_EQ(token.exitCode, 2);
  EXPECT_EQ(token.err, "amk-run: error: --tokens: token 40 (position 1) is out of range; the model's vocab_size is "
                       "40\n");

  std::filesystem::remove(dir.path() / "tiny" / "model.safetensors");
  writeBytes(dir.path() / "tiny" / "model.safetensors", "truncated");
  CommandResult broken = runCommand(tool() + " --cpu " + (dir / "tiny") + " --tokens 1");
  EXPECT_EQ(broken.exitCode, 2);
  EXPECT_NE(broken.err.find("model.safetensors: error: header length"), std::string::npos) << broken.err;

  EXPECT_EQ(runCommand(tool() + " --tokens 1").exitCode, 2);                              // no --cpu
  EXPECT_EQ(runCommand(tool() + " --cpu " + (dir / "tiny")).exitCode, 2);                 // no --tokens
  EXPECT_EQ(runCommand(tool() + " --cpu " + (dir / "tiny") + " --tokens x").exitCode, 2); // not a number
  EXPECT_EQ(runCommand(tool() + " --cpu " + (dir / "tiny") + " --tokens 1 --new -1").exitCode, 2);
  EXPECT_EQ(runCommand(tool() + " --help").exitCode, 0);
}

// --cpu with a strategy: the CPU executor runs the certified schedule; its greedy tokens are HF's.
TEST(AmkRun, ExecutorRunsEveryStrategyToHfsContinuation) {
  const std::filesystem::path fixture = sourceDir() / "tests" / "fixtures" / "tiny-llama3-untied";
  if (!std::filesystem::exists(fixture / "expected.json"))
    GTEST_SKIP() << "fixture not generated";
  std::ifstream in(fixture / "expected.json");
  nlohmann::json expected = nlohmann::json::parse(in);
  std::string prompt;
  for (int64_t t : expected["prompt"].get<std::vector<int64_t>>())
    prompt += (prompt.empty() ? "" : ",") + std::to_string(t);
  const std::string greedy = join(expected["greedy_tokens"].get<std::vector<int64_t>>());
  for (const char *strategy : {"barrier", "dataflow", "fused", "splitkv"}) {
    CommandResult run = runCommand(tool() + " --cpu " + fixture.string() + " --strategy " + strategy +
                                   " --blocks 5 --context 32 --prompt-tokens " + prompt + " --new 16 -q");
    ASSERT_EQ(run.exitCode, 0) << strategy << ": " << run.err;
    std::string tokens = run.out;
    for (char &c : tokens)
      if (c == ',')
        c = ' ';
    EXPECT_EQ(tokens, greedy + "\n") << strategy;
  }
}

TEST(AmkRun, RefusesAScheduleTheCheckerRejects) {
  const std::filesystem::path fixture = sourceDir() / "tests" / "fixtures" / "tiny-gqa-tied";
  if (!std::filesystem::exists(fixture / "config.json"))
    GTEST_SKIP() << "fixture not generated";
  CommandResult run = runCommand(tool() + " --cpu " + fixture.string() + " --schedule " +
                                 (sourceDir() / "corpus" / "examples" / "race_relaxed_publish.amkir").string() +
                                 " --prompt-tokens 1");
  EXPECT_EQ(run.exitCode, 1) << run.err;
  EXPECT_NE(run.err.find("AMK-V004"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("refusing to launch"), std::string::npos) << run.err;
}

} // namespace
} // namespace amk::test
