// The op-by-op check (megakernel/op_check.h) on the CPU: a step of every strategy run by the CPU
// executor must pass it with every op compared and no element off (the executor runs the very
// references the check uses, so any difference would be a bug of the check), and a single element
// changed in a task's output by more than its tolerance must be found, named and counted.
#include "amk/ir/frontend.h"
#include "amk/lowering/plan.h"
#include "amk/model/checkpoint.h"
#include "amk/model/numeric.h"
#include "amk/executor/executor.h"
#include "amk/megakernel/gpu_run_tool.h"
#include "amk/megakernel/op_check.h"
#include "amk/executor/weights.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>

namespace amk::megakernel {
namespace {

const std::string kFixtures = std::string(AMK_SOURCE_DIR) + "/tests/fixtures/";

struct Step {
  ir::Schedule schedule;
  std::vector<executor::HostBuffer> buffers;
};

// Plans `strategy` for the bf16 fixture, runs positions 0..2 on the CPU executor and keeps the
// buffers the last step left.
std::optional<Step> runStep(lowering::Strategy strategy) {
  const std::string directory = kFixtures + "tiny-gqa-tied-bf16";
  Result<model::Checkpoint> checkpoint = model::Checkpoint::open(directory);
  EXPECT_TRUE(checkpoint) << checkpoint.error().render();
  if (!checkpoint)
    return std::nullopt;
  lowering::PlanOptions options;
  options.strategy = strategy;
  options.target = *lowering::findTarget("h100");
  options.blocks = 5;
  options.rowsPerTile = 16;
  options.splits = 2;
  options.context = 16;
  Result<lowering::Plan> plan = lowering::planSchedule(checkpoint->config(), options);
  EXPECT_TRUE(plan) << plan.error().message;
  if (!plan)
    return std::nullopt;
  Step step{ir::parseSchedule("step.amkir", plan->text), {}};
  EXPECT_TRUE(step.schedule.wellFormed()) << step.schedule.renderDiagnostics();
  const ir::Program &program = *step.schedule.program;
  executor::Executor executor(program);
  Result<std::vector<executor::ParamBytes>> params = executor::bindParams(program, *checkpoint);
  EXPECT_TRUE(params);
  if (!params)
    return std::nullopt;
  for (const executor::ParamBytes &p : *params)
    EXPECT_FALSE(executor.setBytes(p.param, p.bytes));
  executor::ExecutorOptions threads;
  threads.mode = executor::ExecutionMode::Threads;
  for (int32_t pos : {0, 1, 2}) {
    const int32_t tok = 3 + 5 * pos;
    EXPECT_FALSE(executor.setInts("tok", std::span<const int32_t>(&tok, 1)));
    EXPECT_FALSE(executor.setInts("pos", std::span<const int32_t>(&pos, 1)));
    executor::ExecutionResult result = executor.run(threads);
    EXPECT_EQ(result.status, executor::ExecutionStatus::Completed) << result.report;
  }
  for (const ir::Buffer &b : program.buffers)
    step.buffers.push_back(*executor.buffer(b.name));
  return step;
}

class OpCheck : public testing::TestWithParam<lowering::Strategy> {};

TEST_P(OpCheck, TheExecutorsStepPassesWithEveryOpCompared) {
  if (!std::filesystem::exists(kFixtures + "tiny-gqa-tied-bf16/config.json"))
    GTEST_SKIP() << "fixture tiny-gqa-tied-bf16 not generated (scripts/make_fixtures.py)";
  std::optional<Step> step = runStep(GetParam());
  ASSERT_TRUE(step);
  OpCheckResult result = checkOps(*step->schedule.program, step->buffers);
  printOpCheck(result, std::cout);
  EXPECT_TRUE(result.ok()) << result.error;
  ASSERT_FALSE(result.rows.empty());
  for (const OpCheckRow &row : result.rows) {
    EXPECT_GT(row.tasks, 0u) << row.op;
    // Only the q and k projections are rewritten later (by rope, in place).
    if (row.op != "rmsnorm_matvec" && row.op != "matvec") {
      EXPECT_EQ(row.chained, 0u) << row.op;
    }
    EXPECT_EQ(row.maxAbsError, 0.0) << row.op << ": same references, same inputs";
  }
  // The fused strategies' MLP tiles are one task each, compared like every other.
  const bool fused = GetParam() != lowering::Strategy::Barrier && GetParam() != lowering::Strategy::Dataflow;
  EXPECT_EQ(std::count_if(result.rows.begin(), result.rows.end(),
                          [](const OpCheckRow &row) { return row.op == "rmsnorm_gate_up_silu"; }),
            fused ? 1 : 0);
}

INSTANTIATE_TEST_SUITE_P(Strategies, OpCheck,
                         testing::Values(lowering::Strategy::Barrier, lowering::Strategy::Dataflow,
                                         lowering::Strategy::Fused, lowering::Strategy::SplitKv,
                                         lowering::Strategy::Headwise),
                         [](const testing::TestParamInfo<lowering::Strategy> &info) {
                           return std::string(lowering::strategyName(info.param));
                         });

TEST(OpCheckFailure, AnOutputElementOffByMoreThanItsToleranceIsFound) {
  if (!std::filesystem::exists(kFixtures + "tiny-gqa-tied-bf16/config.json"))
    GTEST_SKIP() << "fixture tiny-gqa-tied-bf16 not generated (scripts/make_fixtures.py)";
  std::optional<Step> step = runStep(lowering::Strategy::Fused);
  ASSERT_TRUE(step);
  const ir::Program &program = *step->schedule.program;
  // Change element 5 of the logits (written by one rmsnorm_matvec task) by 3% of its value: bf16
  // allows 2^-7 (0.8%) plus a small share of the region's largest magnitude.
  size_t logits = 0;
  while (program.buffers[logits].name != "logits")
    ++logits;
  executor::HostBuffer &buffer = step->buffers[logits];
  const float before = buffer.load(5);
  buffer.store(5, before * 1.03f + (before == 0 ? 1.0f : 0.0f));
  OpCheckResult result = checkOps(program, step->buffers);
  printOpCheck(result, std::cout);
  EXPECT_FALSE(result.ok());
  // The task that wrote it fails on exactly that element. (The argmax over the changed logits may
  // fail too, if the change made element 5 the largest: then its device output is stale.)
  bool found = false;
  for (const OpCheckRow &row : result.rows) {
    if (row.op == "rmsnorm_matvec") {
      found = true;
      EXPECT_EQ(row.failures, 1u);
      EXPECT_NE(row.worst.find("logits element 5"), std::string::npos) << row.worst;
    } else if (row.op.rfind("argmax", 0) != 0) {
      EXPECT_EQ(row.failures, 0u) << row.op;
    }
  }
  EXPECT_TRUE(found);
}

// rope rewrites its input in place, so the check feeds it the reference's value of the projection
// before it, which the device's may differ from by the projection's tolerance. That difference passes
// through the rotation: a device whose projection is one bf16 step off in every element, and whose
// rope is exact on what it read, passes; an output four steps further off does not.
TEST(OpCheckChained, RopeOfAChainedProjectionAllowsTheProjectionsTolerance) {
  const std::string head = "amkir 1\ntarget sm_90 sms=1\ngrid blocks=1 threads=32 occupancy=1\n"
                           "param W : bf16[16, 16]\nparam x : bf16[16]\ninput pos : i32[1]\n";
  const ir::Schedule checked = ir::parseSchedule(
      "chain.amkir", head + "scratch q : bf16[16]\nblocks b in 0..1 {\n  matvec q <- W, x\n"
                            "  rope q <- q, pos head_dim=8 theta=10000.0\n}\n");
  const ir::Schedule project =
      ir::parseSchedule("project.amkir", head + "scratch q : bf16[16]\nblocks b in 0..1 {\n  matvec q <- W, x\n}\n");
  const ir::Schedule rotate = ir::parseSchedule(
      "rotate.amkir", head + "state q : bf16[16]\nblocks b in 0..1 {\n  rope q <- q, pos head_dim=8 theta=10000.0\n}\n");
  for (const ir::Schedule *s : {&checked, &project, &rotate})
    ASSERT_TRUE(s->wellFormed()) << s->renderDiagnostics();
  std::vector<float> w(256), x(16);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = std::sin(0.37 * double(i) + 1.0) * 0.9f;
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = std::cos(0.61 * double(i)) * 1.3f;
  const int32_t pos = 7;
  auto run = [&](const ir::Program &program, const std::vector<float> *q) {
    executor::Executor executor(program);
    EXPECT_FALSE(executor.setFloats("W", w));
    EXPECT_FALSE(executor.setFloats("x", x));
    EXPECT_FALSE(executor.setInts("pos", std::span<const int32_t>(&pos, 1)));
    if (q) {
      EXPECT_FALSE(executor.setFloats("q", *q));
    }
    EXPECT_EQ(executor.run({executor::ExecutionMode::Threads}).status, executor::ExecutionStatus::Completed);
    std::vector<executor::HostBuffer> buffers;
    for (const ir::Buffer &b : program.buffers)
      buffers.push_back(*executor.buffer(b.name));
    return buffers;
  };
  std::vector<executor::HostBuffer> device = run(*checked.program, nullptr);
  const size_t qIndex = device.size() - 1;
  // The projection one bf16 step up in every element, then rotated exactly.
  std::vector<float> projected = run(*project.program, nullptr)[qIndex].toFloats();
  for (float &v : projected) {
    uint32_t bits = std::bit_cast<uint32_t>(v) + (1u << 16);
    v = std::bit_cast<float>(bits);
  }
  device[qIndex] = run(*rotate.program, &projected)[qIndex];
  OpCheckResult passed = checkOps(*checked.program, device);
  printOpCheck(passed, std::cout);
  EXPECT_TRUE(passed.ok());
  // Four more steps on one element: beyond the projection's and the rope's tolerances together.
  const float v = device[qIndex].load(3);
  device[qIndex].store(3, std::bit_cast<float>(std::bit_cast<uint32_t>(v) + (4u << 16)));
  OpCheckResult failed = checkOps(*checked.program, device);
  printOpCheck(failed, std::cout);
  EXPECT_FALSE(failed.ok());
}

// rmsnorm_gate_up_silu's output is silu(g) · u of two normalised projections, so its tolerance carries
// theirs through the product (ir::ToleranceScale::GatedProjection). A device whose gate and up
// projections each land one bf16 step away from the reference's (a rounding the other way), followed
// by an exact activation, passes; one element 10 % off fails alone (the tolerance is a few bf16 steps
// of y: each of g, u, silu and y may round the other way), and so does a device that swaps the roles
// of gate and up.
TEST(OpCheckGated, TheGateAndUpErrorsPassThroughTheActivation) {
  const std::string head = "amkir 1\ntarget sm_90 sms=1\ngrid blocks=1 threads=32 occupancy=1\n"
                           "param Wg : bf16[16, 512]\nparam Wu : bf16[16, 512]\nparam ln : bf16[512]\n"
                           "param x : bf16[512]\n";
  const ir::Schedule fused = ir::parseSchedule(
      "fused.amkir", head + "scratch y : bf16[16]\nblocks b in 0..1 {\n  rmsnorm_gate_up_silu y <- Wg, Wu, x, ln "
                            "eps=1e-05\n}\n");
  const ir::Schedule projections = ir::parseSchedule(
      "projections.amkir",
      head + "scratch g : bf16[16]\nscratch u : bf16[16]\nblocks b in 0..1 {\n"
             "  rmsnorm_matvec g <- Wg, x, ln eps=1e-05\n  rmsnorm_matvec u <- Wu, x, ln eps=1e-05\n}\n");
  for (const ir::Schedule *s : {&fused, &projections})
    ASSERT_TRUE(s->wellFormed()) << s->renderDiagnostics();
  std::vector<float> gate(16 * 512), up(16 * 512), x(512), ln(512);
  for (size_t i = 0; i < gate.size(); ++i) {
    gate[i] = std::sin(0.37 * double(i) + 1.0) * 0.1f;
    up[i] = std::cos(0.53 * double(i) + 0.2) * 0.1f;
  }
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = std::cos(0.61 * double(i)) * 1.3f;
    ln[i] = 1.0f + 0.4f * std::sin(0.29 * double(i));
  }
  auto run = [&](const ir::Program &program) {
    executor::Executor executor(program);
    EXPECT_FALSE(executor.setFloats("Wg", gate));
    EXPECT_FALSE(executor.setFloats("Wu", up));
    EXPECT_FALSE(executor.setFloats("x", x));
    EXPECT_FALSE(executor.setFloats("ln", ln));
    EXPECT_EQ(executor.run({executor::ExecutionMode::Threads}).status, executor::ExecutionStatus::Completed);
    std::vector<executor::HostBuffer> buffers;
    for (const ir::Buffer &b : program.buffers)
      buffers.push_back(*executor.buffer(b.name));
    return buffers;
  };
  std::vector<executor::HostBuffer> device = run(*fused.program);
  const size_t yIndex = device.size() - 1;
  const std::vector<executor::HostBuffer> projected = run(*projections.program);
  const std::vector<float> g = projected[projected.size() - 2].toFloats(), u = projected.back().toFloats();
  auto stepAway = [](float v) { return std::bit_cast<float>(std::bit_cast<uint32_t>(v) + (1u << 16)); };
  auto activation = [](float gateValue, float upValue) {
    return model::roundToBf16(gateValue / (1.0f + std::exp(-gateValue))) * upValue;
  };
  size_t negativeGates = 0;
  for (size_t r = 0; r < g.size(); ++r) {
    negativeGates += g[r] < 0;
    device[yIndex].store(int64_t(r), activation(stepAway(g[r]), stepAway(u[r])));
  }
  EXPECT_GT(negativeGates, 2u) << "both sides of silu should be exercised";
  OpCheckResult passed = checkOps(*fused.program, device);
  printOpCheck(passed, std::cout);
  EXPECT_TRUE(passed.ok());
  ASSERT_EQ(passed.rows.size(), 1u);
  EXPECT_GT(passed.rows[0].maxAbsError, 0.0) << "the device differs from the reference";

  const float v = device[yIndex].load(5);
  device[yIndex].store(5, v * 1.1f + (v == 0 ? 1.0f : 0.0f));
  OpCheckResult failed = checkOps(*fused.program, device);
  printOpCheck(failed, std::cout);
  ASSERT_EQ(failed.rows.size(), 1u);
  EXPECT_EQ(failed.rows[0].failures, 1u);
  EXPECT_NE(failed.rows[0].worst.find("y element 5"), std::string::npos) << failed.rows[0].worst;

  for (size_t r = 0; r < g.size(); ++r)
    device[yIndex].store(int64_t(r), activation(u[r], g[r]));
  OpCheckResult swapped = checkOps(*fused.program, device);
  printOpCheck(swapped, std::cout);
  ASSERT_EQ(swapped.rows.size(), 1u);
  EXPECT_GT(swapped.rows[0].failures, 8u) << "silu(u) · g must not pass for silu(g) · u";
}

TEST(OpCheckFailure, ABufferCountMismatchIsAnError) {
  ir::Schedule schedule = ir::parseSchedule("one.amkir", "amkir 1\ntarget sm_90 sms=1\ngrid blocks=1 threads=32 occupancy=1\n"
                                                         "scratch x : f32[4]\nblocks b in 0..1 {\n}\n");
  ASSERT_TRUE(schedule.wellFormed()) << schedule.renderDiagnostics();
  OpCheckResult result = checkOps(*schedule.program, {});
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.error.find("1"), std::string::npos) << result.error;
}

// A certifier that accepts everything: the run is on the CPU executor, which reads no certificate.
ir::Certificate certifyForTheCpu(const ir::Schedule &schedule) {
  return {true, ir::scheduleHash(*schedule.ast), ir::kCheckerVersion, ""};
}

// amk-run --op-check --bench-kv through the CPU executor: the table, the verdict and one bench line
// per KV length.

TEST(OpCheckRunTool, AmkRunChecksTheLastStepAndTimesEachKvLength) {
  if (!std::filesystem::exists(kFixtures + "tiny-gqa-tied-bf16/config.json"))
    GTEST_SKIP() << "fixture tiny-gqa-tied-bf16 not generated (scripts/make_fixtures.py)";
  GpuRunOptions options;
  options.modelDirectory = kFixtures + "tiny-gqa-tied-bf16";
  options.cpu = true;
  options.strategy = "splitkv";
  options.blocks = 4;
  options.context = 16;
  options.prompt = {1, 2, 3};
  options.newTokens = 2;
  options.opCheck = true;
  options.benchKv = {1, 16};
  options.benchSteps = 3;
  std::ostringstream out, err;
  GpuRunOutcome outcome = runGpuRunTool(
      options, certifyForTheCpu, out, err);
  std::cout << out.str() << err.str();
  EXPECT_EQ(outcome, GpuRunOutcome::Ok) << err.str();
  EXPECT_NE(out.str().find("OPS MATCH"), std::string::npos);
  EXPECT_NE(out.str().find("bench: kv 1: step us median"), std::string::npos);
  EXPECT_NE(out.str().find("bench: kv 16: step us median"), std::string::npos);

  options.benchKv = {17};
  std::ostringstream out2, err2;
  EXPECT_EQ(runGpuRunTool(options, certifyForTheCpu, out2, err2),
            GpuRunOutcome::InputError);
  EXPECT_NE(err2.str().find("--bench-kv 17"), std::string::npos) << err2.str();
}

} // namespace
} // namespace amk::megakernel
