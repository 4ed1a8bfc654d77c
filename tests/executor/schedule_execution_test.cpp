// Planned schedules compute the model: for every fixture checkpoint (made by HF transformers) and
// every strategy, the CPU executor runs the schedule one position at a time, with the checkpoint's
// weights bound to the schedule's params, and its logits match the reference forward pass; its greedy
// tokens are HF's; and the outputs are bit-identical across executor modes and scheduler seeds.
#include "amk/ir/frontend.h"
#include "amk/lowering/plan.h"
#include "amk/model/checkpoint.h"
#include "amk/executor/executor.h"
#include "amk/model/reference.h"
#include "amk/executor/weights.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

namespace amk::executor {
namespace {

const std::string kFixtures = std::string(AMK_SOURCE_DIR) + "/tests/fixtures/";

struct Outputs {
  std::vector<std::vector<float>> logits;  // per position
  std::vector<std::vector<std::byte>> raw; // logits bytes per position, for bit-identity
  std::vector<int32_t> next;               // next_token per position
};

// Runs `tokens` from position 0, one launch per position.
Outputs execute(const ir::Program &program, const model::Checkpoint &checkpoint, const std::vector<int32_t> &tokens,
            const ExecutorOptions &options) {
  Outputs run;
  Executor executor(program);
  Result<std::vector<ParamBytes>> params = bindParams(program, checkpoint);
  EXPECT_TRUE(params) << (params ? "" : params.error().render());
  if (!params)
    return run;
  for (const ParamBytes &p : *params)
    EXPECT_FALSE(executor.setBytes(p.param, p.bytes));
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    const int32_t tok = tokens[pos], position = static_cast<int32_t>(pos);
    EXPECT_FALSE(executor.setInts("tok", std::span<const int32_t>(&tok, 1)));
    EXPECT_FALSE(executor.setInts("pos", std::span<const int32_t>(&position, 1)));
    ExecutionResult result = executor.run(options);
    EXPECT_EQ(result.status, ExecutionStatus::Completed) << result.report;
    const HostBuffer *logits = executor.buffer("logits");
    run.logits.push_back(logits->toFloats());
    run.raw.emplace_back(logits->bytes().begin(), logits->bytes().end());
    run.next.push_back(static_cast<int32_t>(executor.buffer("next_token")->loadInt(0)));
  }
  return run;
}

struct Case {
  std::string fixture;
  lowering::Strategy strategy;
  lowering::WeightFormat weights = lowering::WeightFormat::Model;
};

class ScheduleExecution : public testing::TestWithParam<Case> {};

TEST_P(ScheduleExecution, MatchesTheReferenceAndHf) {
  const Case &c = GetParam();
  const std::string directory = kFixtures + c.fixture;
  if (!std::filesystem::exists(directory + "/expected.json"))
    GTEST_SKIP() << "fixture " << c.fixture << " not generated (scripts/make_fixtures.py)";
  Result<model::Checkpoint> checkpoint = model::Checkpoint::open(directory);
  ASSERT_TRUE(checkpoint) << checkpoint.error().render();
  std::ifstream in(directory + "/expected.json");
  nlohmann::json expected = nlohmann::json::parse(in);
  std::vector<int32_t> prompt = expected["prompt"].get<std::vector<int32_t>>();
  std::vector<int32_t> greedy = expected["greedy_tokens"].get<std::vector<int32_t>>();

  lowering::PlanOptions options;
  options.strategy = c.strategy;
  options.target = *lowering::findTarget("h100");
  options.blocks = 6;
  options.rowsPerTile = 16;
  options.splits = 4;
  options.context = 32;
  options.weights = c.weights;
  Result<lowering::Plan> plan = lowering::planSchedule(checkpoint->config(), options);
  ASSERT_TRUE(plan) << plan.error().message;
  ir::Schedule schedule = ir::parseSchedule(c.fixture + ".amkir", plan->text);
  ASSERT_TRUE(schedule.wellFormed()) << schedule.renderDiagnostics();

  // The prompt, then HF's greedy continuation fed back (teacher forcing): every position's argmax
  // must be HF's next token.
  std::vector<int32_t> tokens = prompt;
  tokens.insert(tokens.end(), greedy.begin(), greedy.end() - 1);
  Outputs threads = execute(*schedule.program, *checkpoint, tokens, {ExecutionMode::Threads});
  ASSERT_EQ(threads.logits.size(), tokens.size());

  const bool bf16 = checkpoint->config().dtype == ir::ast::DType::BF16;
  Result<model::ReferenceWeights> weights = model::loadReferenceWeights(*checkpoint);
  ASSERT_TRUE(weights) << weights.error().render();
  // An int8 schedule computes with the dequantised projections: the reference takes the same ones.
  const bool int8 = c.weights == lowering::WeightFormat::Int8;
  if (int8)
    model::quantiseProjections(*weights, bf16 ? ir::ast::DType::BF16 : ir::ast::DType::F32);
  std::vector<int64_t> tokens64(tokens.begin(), tokens.end());
  model::ReferenceOptions referenceOptions;
  referenceOptions.roundToBf16 = bf16;
  Result<std::vector<std::vector<float>>> reference = teacherForcedLogits(*weights, tokens64, referenceOptions);
  ASSERT_TRUE(reference) << reference.error().render();
  // fp32 schedules differ from the reference only in summation order; bf16 schedules round at the
  // same points, so one bf16 ulp of the largest logit (at most 2^-7 of it) bounds them.
  const double tolerance = bf16 ? 1.0 / 128 : 1e-5;
  double worst = 0;
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    double maxDiff = 0, maxRef = 0;
    for (size_t i = 0; i < threads.logits[pos].size(); ++i) {
      maxDiff = std::max(maxDiff, std::abs(double(threads.logits[pos][i]) - (*reference)[pos][i]));
      maxRef = std::max(maxRef, std::abs(double((*reference)[pos][i])));
    }
    worst = std::max(worst, maxDiff / maxRef);
  }
  std::printf("%s %s%s: logits at %zu positions, max |schedule - reference| / max |reference| = %.3g (tolerance %.3g)\n",
              c.fixture.c_str(), lowering::strategyName(c.strategy), int8 ? " int8" : "", tokens.size(), worst,
              tolerance);
  EXPECT_LE(worst, tolerance);
  if (!bf16 && !int8) { // HF's tokens are those of the unquantised weights
    for (size_t i = 0; i < greedy.size(); ++i)
      EXPECT_EQ(threads.next[prompt.size() - 1 + i], greedy[i]) << "greedy token " << i;
  }

  // Bit-identical across modes and seeds: a certified schedule's output does not depend on the
  // interleaving.
  for (uint64_t seed : {1u, 7u, 42u}) {
    ExecutorOptions deterministic{ExecutionMode::Deterministic, seed};
    Outputs other = execute(*schedule.program, *checkpoint, tokens, deterministic);
    ASSERT_EQ(other.raw.size(), threads.raw.size());
    for (size_t pos = 0; pos < tokens.size(); ++pos)
      ASSERT_EQ(other.raw[pos], threads.raw[pos]) << "seed " << seed << ", position " << pos;
  }
}

// fused and headwise compute each MLP tile with rmsnorm_gate_up_silu, dataflow with rmsnorm, two
// matvec and silu_mul; the other ops of the three differ only in where the norm runs and how the
// rows are tiled, which changes no bit (docs/numerics.md). So the three must give the same logits
// and tokens bit for bit at every position: the fused MLP tile is exactly the ops it replaced.
TEST(FusedMlpTile, FusedAndHeadwiseLogitsAreDataflowsBitForBit) {
  for (const char *fixture : {"tiny-gqa-tied", "tiny-llama3-untied", "tiny-mha-untied", "tiny-gqa-tied-bf16"}) {
    const std::string directory = kFixtures + fixture;
    if (!std::filesystem::exists(directory + "/expected.json"))
      GTEST_SKIP() << "fixture " << fixture << " not generated (scripts/make_fixtures.py)";
    Result<model::Checkpoint> checkpoint = model::Checkpoint::open(directory);
    ASSERT_TRUE(checkpoint) << checkpoint.error().render();
    std::ifstream in(directory + "/expected.json");
    std::vector<int32_t> tokens = nlohmann::json::parse(in)["prompt"].get<std::vector<int32_t>>();
    std::map<lowering::Strategy, Outputs> outputs;
    for (lowering::Strategy s :
         {lowering::Strategy::Dataflow, lowering::Strategy::Fused, lowering::Strategy::Headwise}) {
      lowering::PlanOptions options;
      options.strategy = s;
      options.target = *lowering::findTarget("h100");
      options.blocks = 5;
      options.rowsPerTile = 16;
      options.context = 16;
      Result<lowering::Plan> plan = lowering::planSchedule(checkpoint->config(), options);
      ASSERT_TRUE(plan) << plan.error().message;
      ASSERT_EQ(plan->text.find("silu_mul") == std::string::npos, s != lowering::Strategy::Dataflow)
          << lowering::strategyName(s);
      ir::Schedule schedule = ir::parseSchedule(std::string(fixture) + ".amkir", plan->text);
      ASSERT_TRUE(schedule.wellFormed()) << schedule.renderDiagnostics();
      outputs[s] = execute(*schedule.program, *checkpoint, tokens, {ExecutionMode::Threads});
      ASSERT_EQ(outputs[s].raw.size(), tokens.size());
    }
    const Outputs &dataflow = outputs[lowering::Strategy::Dataflow];
    for (lowering::Strategy s : {lowering::Strategy::Fused, lowering::Strategy::Headwise}) {
      size_t equal = 0;
      for (size_t pos = 0; pos < tokens.size(); ++pos) {
        EXPECT_EQ(outputs[s].raw[pos], dataflow.raw[pos])
            << fixture << " " << lowering::strategyName(s) << ", position " << pos;
        EXPECT_EQ(outputs[s].next[pos], dataflow.next[pos])
            << fixture << " " << lowering::strategyName(s) << ", position " << pos;
        equal += outputs[s].raw[pos] == dataflow.raw[pos];
      }
      std::printf("%s %s vs dataflow: logits bit-identical at %zu of %zu positions (%zu logits each)\n", fixture,
                  lowering::strategyName(s), equal, tokens.size(), dataflow.logits[0].size());
    }
  }
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (const char *fixture : {"tiny-gqa-tied", "tiny-llama3-untied", "tiny-mha-untied", "tiny-gqa-tied-bf16"})
    for (lowering::Strategy s : lowering::allStrategies())
      all.push_back({fixture, s});
  // W8A16 on the bf16 fixture and an untied fp32 one, with the two fastest strategies.
  for (const char *fixture : {"tiny-gqa-tied-bf16", "tiny-llama3-untied"})
    for (lowering::Strategy s : {lowering::Strategy::Fused, lowering::Strategy::Headwise})
      all.push_back({fixture, s, lowering::WeightFormat::Int8});
  return all;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ScheduleExecution, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<Case> &info) {
                           std::string name = info.param.fixture + "_" + lowering::strategyName(info.param.strategy) +
                                              (info.param.weights == lowering::WeightFormat::Int8 ? "_int8" : "");
                           for (char &ch : name)
                             if (!isalnum(static_cast<unsigned char>(ch)))
                               ch = '_';
                           return name;
                         });

} // namespace
} // namespace amk::executor
