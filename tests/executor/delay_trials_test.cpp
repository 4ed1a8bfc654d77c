// Delayed relaunches (megakernel/delay_trials.h) without a GPU: the drawn delays, the byte-for-byte
// comparison and its report, the trial loop against a scripted runner that misbehaves on purpose
// (a watchdog time-out, a differing buffer, a step that is not idempotent), and the CPU executor's
// delays, which reorder a racy schedule's blocks. Also the .npy writer and the direct copy of weights
// already in the param's type.
#include "amk/ir/frontend.h"
#include "amk/lowering/plan.h"
#include "amk/model/checkpoint.h"
#include "amk/executor/delay_trials.h"
#include "amk/executor/executor.h"
#include "amk/megakernel/npy.h"
#include "amk/executor/weights.h"
#include "test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace amk::executor {
namespace {

ir::Program parse(int blocks, const std::string &body) {
  const std::string text =
      "amkir 1\ntarget sm_90 sms=8\ngrid blocks=" + std::to_string(blocks) + " threads=128 occupancy=1\n" + body;
  ir::Schedule schedule = ir::parseSchedule("delays.amkir", text);
  if (!schedule.program) {
    ADD_FAILURE() << "not well-formed:\n" << schedule.renderDiagnostics() << "\n" << text;
    return {};
  }
  return std::move(*schedule.program);
}

template <class T> std::vector<std::byte> bytesOf(const std::vector<T> &values) {
  std::vector<std::byte> bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

TEST(DrawDelays, IsDeterministicBoundedAndSlowsSomeBlocksOnly) {
  ir::Program program;
  program.blockPrograms.resize(16);
  for (size_t k = 0; k < program.blockPrograms.size(); ++k)
    program.blockPrograms[k].resize(50 + k);
  std::mt19937_64 a(3), b(3);
  int trialsWithQuietBlocks = 0, trialsWithDelays = 0;
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::vector<uint32_t>> delays = drawDelays(program, 1000, a);
    ASSERT_EQ(delays, drawDelays(program, 1000, b)) << "trial " << trial;
    ASSERT_EQ(delays.size(), program.blockPrograms.size());
    bool quietBlock = false, delayed = false;
    for (size_t k = 0; k < delays.size(); ++k) {
      ASSERT_EQ(delays[k].size(), program.blockPrograms[k].size());
      bool any = false;
      for (uint32_t d : delays[k]) {
        EXPECT_LE(d, 1000u);
        any = any || d > 0;
      }
      quietBlock = quietBlock || !any;
      delayed = delayed || any;
    }
    trialsWithQuietBlocks += quietBlock;
    trialsWithDelays += delayed;
  }
  EXPECT_EQ(trialsWithQuietBlocks, 20) << "about half the blocks run at full speed in every trial";
  EXPECT_GE(trialsWithDelays, 18);
  std::mt19937_64 other(4);
  EXPECT_NE(drawDelays(program, 1000, other), drawDelays(program, 1000, a)) << "another seed, other delays";
}

TEST(DescribeDifference, NamesTheBufferTheCountAndTheFirstElement) {
  ir::Buffer cache{"k_cache", ir::ast::BufferKind::State, ir::ast::DType::F32, {2, 3}, {}};
  std::vector<float> expected{0, 1, 2, 3, 4, 5}, actual = expected;
  EXPECT_FALSE(describeDifference(cache, bytesOf(actual), bytesOf(expected)));
  actual[5] = 2.5f;
  actual[4] = -1.0f;
  EXPECT_EQ(describeDifference(cache, bytesOf(actual), bytesOf(expected)),
            "k_cache: 2 of 6 elements differ, first [1, 1]: -1 vs 4");

  ir::Buffer token{"next_token", ir::ast::BufferKind::Output, ir::ast::DType::I32, {1}, {}};
  EXPECT_EQ(describeDifference(token, bytesOf(std::vector<int32_t>{7}), bytesOf(std::vector<int32_t>{9})),
            "next_token: 1 of 1 elements differ, first [0]: 7 vs 9");

  ir::Buffer logits{"logits", ir::ast::BufferKind::Output, ir::ast::DType::BF16, {4}, {}};
  std::vector<uint16_t> bf16{0x3f80, 0x4000, 0x4040, 0x4080}, other = bf16; // 1, 2, 3, 4
  other[2] = 0x4041;                                                        // 3.015625
  EXPECT_EQ(describeDifference(logits, bytesOf(other), bytesOf(bf16)),
            "logits: 1 of 4 elements differ, first [2]: 3.015625 vs 3");
}

// A runner whose launches do what the test scripts: launch n (0 = the undelayed relaunch) writes
// `logits` and `k_cache` from `write(n)` or reports a time-out when `timeOut(n)`.
class ScriptedRunner final : public StepRunner {
public:
  explicit ScriptedRunner(const ir::Program &program) : program_(program) {
    contents_["logits"] = bytesOf(std::vector<float>{1, 2, 3, 4});
    contents_["k_cache"] = bytesOf(std::vector<float>{5, 6});
    contents_["next_token"] = bytesOf(std::vector<int32_t>{3});
  }

  std::function<std::vector<float>(int)> logitsOf = [](int) { return std::vector<float>{1, 2, 3, 4}; };
  std::function<bool(int)> timeOut = [](int) { return false; };
  std::vector<size_t> delayCalls; // instructions delayed in each setDelays call
  int launches = 0;

  const ir::Program &program() const override { return program_; }
  std::string description() const override { return "scripted"; }
  std::optional<Error> setInts(std::string_view, std::span<const int32_t>) override { return std::nullopt; }
  std::optional<Error> setDelays(const std::vector<std::vector<uint32_t>> &delaysNs) override {
    size_t delayed = 0;
    for (const auto &block : delaysNs)
      for (uint32_t d : block)
        delayed += d > 0;
    delayCalls.push_back(delaysNs.empty() ? 0 : delayed + 1); // 0: cleared
    return std::nullopt;
  }
  Result<StepLaunch> launch() override {
    const int n = launches++;
    StepLaunch launch;
    if (timeOut(n)) {
      launch.status = LaunchStatus::TimedOut;
      launch.report = "wait time-out after 5 s: block 1";
      return launch;
    }
    contents_["logits"] = bytesOf(logitsOf(n));
    return launch;
  }
  Result<std::vector<std::byte>> readBytes(std::string_view buffer) const override {
    auto it = contents_.find(std::string(buffer));
    if (it == contents_.end())
      return Error("", "no buffer '" + std::string(buffer) + "'");
    return it->second;
  }

private:
  const ir::Program &program_;
  std::map<std::string, std::vector<std::byte>> contents_;
};

const std::string kStepBuffers = R"(input tok : i32[1]
scratch h : f32[4]
state k_cache : f32[2]
output logits : f32[4]
output next_token : i32[1]
blocks b in 0..2 {
  add h <- logits, logits
}
)";

TEST(RunDelayTrials, CountsIdenticalTimedOutAndDifferingLaunches) {
  const ir::Program program = parse(2, kStepBuffers);
  ScriptedRunner runner(program);
  runner.timeOut = [](int n) { return n == 2; };
  runner.logitsOf = [](int n) { return n == 4 ? std::vector<float>{1, 2, 3.5f, 4} : std::vector<float>{1, 2, 3, 4}; };
  DelayTrialOptions options;
  options.trials = 5;
  options.maxDelayNs = 500;
  options.seed = 11;
  Result<DelayReport> report = runDelayTrials(runner, options);
  ASSERT_TRUE(report) << report.error().render();
  EXPECT_EQ(runner.launches, 6); // the undelayed relaunch, then five trials
  EXPECT_EQ(report->trials, 5);
  EXPECT_EQ(report->identical, 3);
  EXPECT_EQ(report->timedOut, 1);
  EXPECT_EQ(report->differing, 1);
  EXPECT_EQ(report->failed, 0);
  EXPECT_FALSE(report->notIdempotent);
  EXPECT_FALSE(report->ok());
  ASSERT_EQ(report->failures.size(), 2u);
  EXPECT_EQ(report->failures[0], "trial 2: watchdog: wait time-out after 5 s: block 1");
  EXPECT_EQ(report->failures[1], "trial 4: logits: 1 of 4 elements differ, first [2]: 3.5 vs 3");
  EXPECT_LE(report->largestDelayNs, 500u);
  ASSERT_EQ(runner.delayCalls.size(), 7u);
  EXPECT_EQ(runner.delayCalls.front(), 0u) << "the undelayed relaunch runs without delays";
  EXPECT_EQ(runner.delayCalls.back(), 0u) << "the runner is left without delays";
  EXPECT_EQ(summaryLine(*report, options)
                .rfind("DELAYED: 3 of 5 launches bit-identical, 1 watchdog, 1 differing, "
                       "0 failed; delays up to 500 ns (largest drawn ",
                       0),
            0u)
      << summaryLine(*report, options);
}

TEST(RunDelayTrials, AStepThatIsNotIdempotentFails) {
  const ir::Program program = parse(2, kStepBuffers);
  ScriptedRunner runner(program);
  runner.logitsOf = [](int) { return std::vector<float>{1, 2, 3, 8}; }; // the step itself wrote 4
  Result<DelayReport> report = runDelayTrials(runner, {2, 100, 1});
  ASSERT_TRUE(report) << report.error().render();
  EXPECT_EQ(report->identical, 2); // every trial equals the undelayed relaunch...
  ASSERT_TRUE(report->notIdempotent);
  EXPECT_EQ(*report->notIdempotent, "relaunching the last step without delays changed what it wrote: logits: 1 of 4 "
                                    "elements differ, first [3]: 8 vs 4");
  EXPECT_FALSE(report->ok()); // ...but the relaunch did not reproduce the step
}

TEST(RunDelayTrials, AnUndelayedRelaunchThatTimesOutIsAnError) {
  const ir::Program program = parse(2, kStepBuffers);
  ScriptedRunner runner(program);
  runner.timeOut = [](int n) { return n == 0; };
  Result<DelayReport> report = runDelayTrials(runner, {3, 100, 1});
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().message,
            "relaunching the last step without delays did not complete: wait time-out after 5 s: block 1");
}

TEST(ComparedBuffers, AreTheOutputsAndTheState) {
  const ir::Program program = parse(2, kStepBuffers);
  std::vector<std::string> names;
  for (const ir::Buffer *b : comparedBuffers(program))
    names.push_back(b->name);
  EXPECT_EQ(names, (std::vector<std::string>{"k_cache", "logits", "next_token"}));
}

// Block 1 reads x without waiting for block 0: delaying one block or the other decides what it reads.
TEST(ExecutorDelays, ReorderARacySchedulesBlocks) {
  const ir::Program program = parse(2, R"(input a : f32[4]
scratch x : f32[4]
output y : f32[4]
blocks b in 0..1 {
  add x <- a, a
}
blocks b in 1..2 {
  add y <- x, a
}
)");
  Executor executor(program);
  ASSERT_FALSE(executor.setFloats("a", std::vector<float>{1, 2, 3, 4}));
  ExecutorOptions options;
  const uint32_t long_ = 300'000'000; // 0.3 s: far longer than starting a thread
  options.delaysNs = {{long_}, {0}};
  ExecutionResult producerLate = executor.run(options);
  ASSERT_EQ(producerLate.status, ExecutionStatus::Completed) << producerLate.report;
  EXPECT_EQ(executor.buffer("y")->toFloats(), (std::vector<float>{1, 2, 3, 4})) << "x was still zero";
  options.delaysNs = {{0}, {long_}};
  ExecutionResult consumerLate = executor.run(options);
  ASSERT_EQ(consumerLate.status, ExecutionStatus::Completed) << consumerLate.report;
  EXPECT_EQ(executor.buffer("y")->toFloats(), (std::vector<float>{3, 6, 9, 12}));

  options.mode = ExecutionMode::Deterministic;
  ExecutionResult refused = executor.run(options);
  EXPECT_EQ(refused.status, ExecutionStatus::Error);
  EXPECT_EQ(refused.report,
            "delays.amkir: error: delays need the threads mode (the deterministic scheduler has no time)\n");
}

TEST(Npy, HeaderIsNumpysVersionOneAndTheDataIsAligned) {
  const std::vector<float> values{1.5f, -2.0f, 0.0f, 3.25f, 7.0f, 1e-3f};
  const std::string file = megakernel::npyFloat32(values, {2, 3});
  ASSERT_GE(file.size(), 10u);
  EXPECT_EQ(file.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t headerLength = static_cast<unsigned char>(file[8]) | static_cast<unsigned char>(file[9]) << 8;
  const std::string header = file.substr(10, headerLength);
  EXPECT_EQ((10 + headerLength) % 64, 0u);
  EXPECT_EQ(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 0), 0u) << header;
  EXPECT_EQ(header.back(), '\n');
  ASSERT_EQ(file.size(), 10 + headerLength + values.size() * 4);
  std::vector<float> back(values.size());
  std::memcpy(back.data(), file.data() + 10 + headerLength, back.size() * 4);
  EXPECT_EQ(back, values);

  EXPECT_NE(megakernel::npyFloat32(values, {6}).find("'shape': (6,), }"), std::string::npos);
  EXPECT_NE(megakernel::npyFloat32({}, {0, 5}).find("'shape': (0, 5), }"), std::string::npos);
  std::optional<Error> wrong = megakernel::writeNpyFloat32("/nonexistent/x.npy", values, {4});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->render(), "/nonexistent/x.npy: error: cannot write 6 values as an array of 4 elements");
}

// Tensors already in the param's type are copied as they are; the bytes equal widening and rounding.
// The bf16 fixture, a fused schedule of it in `weights` and the params bound to it.
struct BoundFixture {
  Result<model::Checkpoint> checkpoint = Error("", "not opened");
  ir::Schedule schedule;
  Result<std::vector<ParamBytes>> params = Error("", "not bound");
};

BoundFixture bindFixture(lowering::WeightFormat weights) {
  BoundFixture f;
  f.checkpoint = model::Checkpoint::open((test::sourceDir() / "tests" / "fixtures" / "tiny-gqa-tied-bf16").string());
  if (!f.checkpoint)
    return f;
  lowering::PlanOptions plan;
  plan.target = *lowering::findTarget("h100");
  plan.blocks = 4;
  plan.context = 16;
  plan.weights = weights;
  Result<lowering::Plan> planned = lowering::planSchedule(f.checkpoint->config(), plan);
  EXPECT_TRUE(planned) << planned.error().message;
  f.schedule = ir::parseSchedule("fixture.amkir", planned ? planned->text : "");
  EXPECT_TRUE(f.schedule.wellFormed()) << f.schedule.renderDiagnostics();
  if (f.schedule.wellFormed())
    f.params = bindParams(*f.schedule.program, *f.checkpoint);
  return f;
}

TEST(BindParams, CopiesTensorsOfTheParamsTypeAsTheyAre) {
  BoundFixture fixture = bindFixture(lowering::WeightFormat::Model);
  if (!fixture.checkpoint)
    GTEST_SKIP() << "fixture tiny-gqa-tied-bf16 absent (scripts/make_fixtures.py)";
  const Result<model::Checkpoint> &checkpoint = fixture.checkpoint;
  const ir::Schedule &schedule = fixture.schedule;
  const Result<std::vector<ParamBytes>> &params = fixture.params;
  ASSERT_TRUE(params) << params.error().render();
  std::map<std::string, lowering::WeightBinding> bindings;
  for (lowering::WeightBinding &b : lowering::weightBindings(checkpoint->config()))
    bindings.emplace(b.param, b);
  ASSERT_FALSE(params->empty());
  for (const ParamBytes &p : *params) {
    const lowering::WeightBinding &binding = bindings.at(p.param);
    const ir::Buffer *buffer = nullptr;
    for (const ir::Buffer &b : schedule.program->buffers)
      if (b.name == p.param)
        buffer = &b;
    ASSERT_NE(buffer, nullptr);
    EXPECT_EQ(buffer->dtype, ir::ast::DType::BF16) << p.param;
    std::vector<float> widened;
    for (int64_t l = 0; l < (binding.perLayer ? checkpoint->config().numLayers : 1); ++l) {
      std::string name = binding.hfPattern;
      if (size_t at = name.find("{l}"); at != std::string::npos)
        name.replace(at, 3, std::to_string(l));
      std::optional<model::TensorView> tensor = checkpoint->find(name);
      ASSERT_TRUE(tensor) << name;
      EXPECT_EQ(tensor->info->dtype, model::TensorDType::BF16) << name;
      Result<std::vector<float>> values = model::toFloat32(*tensor);
      ASSERT_TRUE(values);
      widened.insert(widened.end(), values->begin(), values->end());
    }
    EXPECT_EQ(p.bytes, model::encodeFloats(widened, ir::ast::DType::BF16)) << p.param;
  }
}

// W8A16 quantisation: scale = bf16(max|w| / 127) per row, q = nearest-even(w / scale) saturated to
// ±127; an all-zero row gets scale 0 and zeros. Dequantised, each weight is within half a step of
// its row's scale (plus the scale's own rounding, which the clamp absorbs at the row's maximum).
TEST(QuantiseRows, ScalesEachRowByItsLargestMagnitude) {
  const std::vector<float> matrix = {1.0f,  -0.5f, 0.25f,  0.0f, // row 0: max 1
                                     0.0f,  0.0f,  0.0f,   0.0f, // row 1: all zero
                                     -3.0f, 1.5f,  0.001f, 2.9f};
  model::QuantisedRows q = model::quantiseRows(matrix, 3, 4, ir::ast::DType::BF16);
  ASSERT_EQ(q.values.size(), 12u);
  EXPECT_EQ(q.scales[0], model::roundTo(ir::ast::DType::BF16, 1.0f / 127.0f));
  EXPECT_EQ(q.scales[1], 0.0f);
  EXPECT_EQ(q.scales[2], model::roundTo(ir::ast::DType::BF16, 3.0f / 127.0f));
  EXPECT_EQ(q.values[0], 127);
  EXPECT_EQ(q.values[1], static_cast<int8_t>(std::nearbyint(-0.5f / q.scales[0])));
  for (int k = 4; k < 8; ++k)
    EXPECT_EQ(q.values[static_cast<size_t>(k)], 0);
  EXPECT_EQ(q.values[8], -127);
  EXPECT_EQ(q.values[10], 0);
  for (size_t i = 0; i < matrix.size(); ++i) {
    const float scale = q.scales[i / 4];
    EXPECT_LE(std::fabs(q.values[i] * scale - matrix[i]), 0.5f * scale + std::fabs(matrix[i]) / 128) << i;
  }
}

// An int8 schedule binds its i8 params to the quantised rows and its _scale params to their scales.
TEST(BindParams, QuantisesTheProjectionsOfAnInt8Schedule) {
  BoundFixture fixture = bindFixture(lowering::WeightFormat::Int8);
  if (!fixture.checkpoint)
    GTEST_SKIP() << "fixture tiny-gqa-tied-bf16 absent (scripts/make_fixtures.py)";
  const Result<model::Checkpoint> &checkpoint = fixture.checkpoint;
  const Result<std::vector<ParamBytes>> &params = fixture.params;
  ASSERT_TRUE(params) << params.error().render();
  std::map<std::string, const ParamBytes *> byName;
  for (const ParamBytes &p : *params)
    byName[p.param] = &p;
  // The tied model's LM head is its own int8 copy of the embedding table; the table stays bf16.
  for (const char *name : {"w_q", "w_down", "lm_head"}) {
    ASSERT_TRUE(byName.count(name)) << name;
    ASSERT_TRUE(byName.count(std::string(name) + "_scale")) << name;
  }
  std::optional<model::TensorView> embed = checkpoint->find("model.embed_tokens.weight");
  ASSERT_TRUE(embed);
  Result<std::vector<float>> table = model::toFloat32(*embed);
  ASSERT_TRUE(table);
  const int64_t V = checkpoint->config().vocabSize, H = checkpoint->config().hiddenSize;
  model::QuantisedRows q = model::quantiseRows(*table, V, H, ir::ast::DType::BF16);
  const auto *values = reinterpret_cast<const std::byte *>(q.values.data());
  EXPECT_EQ(byName["lm_head"]->bytes, std::vector<std::byte>(values, values + q.values.size()));
  EXPECT_EQ(byName["lm_head_scale"]->bytes, model::encodeFloats(q.scales, ir::ast::DType::BF16));
  EXPECT_EQ(byName["embed"]->bytes, std::vector<std::byte>(embed->bytes.begin(), embed->bytes.end()));
  // A per-layer matrix: layer 1's rows follow layer 0's.
  std::optional<model::TensorView> down1 = checkpoint->find("model.layers.1.mlp.down_proj.weight");
  ASSERT_TRUE(down1);
  Result<std::vector<float>> down = model::toFloat32(*down1);
  ASSERT_TRUE(down);
  const int64_t I = checkpoint->config().intermediateSize;
  model::QuantisedRows qd = model::quantiseRows(*down, H, I, ir::ast::DType::BF16);
  const std::vector<std::byte> &bytes = byName["w_down"]->bytes;
  ASSERT_EQ(bytes.size(), static_cast<size_t>(2 * H * I));
  for (int64_t i = 0; i < H * I; ++i)
    ASSERT_EQ(static_cast<int8_t>(bytes[static_cast<size_t>(H * I + i)]), qd.values[static_cast<size_t>(i)]) << i;
}

// Quantising a tensor gives both params of its pair, whichever of the two is bound first: binding the
// params in reverse order gives every param the same bytes, and a per-layer scale param holds every
// layer's scales in layer order.
TEST(BindParams, BindsAnInt8PairTheSameInEitherOrder) {
  BoundFixture fixture = bindFixture(lowering::WeightFormat::Int8);
  if (!fixture.checkpoint)
    GTEST_SKIP() << "fixture tiny-gqa-tied-bf16 absent (scripts/make_fixtures.py)";
  ASSERT_TRUE(fixture.params) << fixture.params.error().render();
  ir::Program reversed = *fixture.schedule.program;
  std::reverse(reversed.buffers.begin(), reversed.buffers.end());
  Result<std::vector<ParamBytes>> again = bindParams(reversed, *fixture.checkpoint);
  ASSERT_TRUE(again) << again.error().render();
  std::map<std::string, std::vector<std::byte>> forward, backward;
  for (const ParamBytes &p : *fixture.params)
    forward[p.param] = p.bytes;
  for (const ParamBytes &p : *again)
    backward[p.param] = p.bytes;
  ASSERT_EQ(forward.size(), backward.size());
  for (const auto &[name, bytes] : forward) {
    ASSERT_TRUE(backward.count(name)) << name;
    EXPECT_EQ(bytes, backward[name]) << name;
  }
  const model::ModelConfig &config = fixture.checkpoint->config();
  std::vector<float> scales;
  for (int l = 0; l < config.numLayers; ++l) {
    std::optional<model::TensorView> down = fixture.checkpoint->find("model.layers." + std::to_string(l) + ".mlp.down_proj.weight");
    ASSERT_TRUE(down);
    Result<std::vector<float>> values = model::toFloat32(*down);
    ASSERT_TRUE(values);
    model::QuantisedRows q = model::quantiseRows(*values, config.hiddenSize, config.intermediateSize, ir::ast::DType::BF16);
    scales.insert(scales.end(), q.scales.begin(), q.scales.end());
  }
  EXPECT_EQ(forward["w_down_scale"], model::encodeFloats(scales, ir::ast::DType::BF16));
}

} // namespace
} // namespace amk::executor
