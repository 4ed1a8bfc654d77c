// The CPU executor on small schedules written inline, in both modes: publication through counters
// and barriers, deadlocks that end in a report naming block, counter, value and threshold (never a
// hang), a race that shows as differing outputs across scheduler seeds while its race-free twin is
// bit-identical everywhere, and the toy Llama decode step of the corpus giving the same bits in every
// mode, seed and run, with its KV cache carried across steps.
#include "amk/ir/frontend.h"
#include "amk/executor/executor.h"
#include "test_support.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace amk::executor {
namespace {

ir::Program parse(int blocks, const std::string &body, const std::string &name = "test.amkir") {
  const std::string text =
      "amkir 1\ntarget sm_90 sms=8\ngrid blocks=" + std::to_string(blocks) + " threads=128 occupancy=1\n" + body;
  ir::Schedule schedule = ir::parseSchedule(name, text);
  if (!schedule.program) {
    ADD_FAILURE() << "not well-formed:\n" << schedule.renderDiagnostics() << "\n" << text;
    return {};
  }
  return std::move(*schedule.program);
}

ExecutorOptions threads(std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) {
  ExecutorOptions options;
  options.mode = ExecutionMode::Threads;
  options.timeout = timeout;
  return options;
}

ExecutorOptions deterministic(uint64_t seed) {
  ExecutorOptions options;
  options.mode = ExecutionMode::Deterministic;
  options.seed = seed;
  return options;
}

std::vector<std::byte> bytesOf(const Executor &executor, const std::string &name) {
  const HostBuffer *buffer = executor.buffer(name);
  EXPECT_NE(buffer, nullptr) << name;
  if (!buffer)
    return {};
  return {buffer->bytes().begin(), buffer->bytes().end()};
}

size_t traceIndex(const ExecutionResult &result, uint32_t block, uint32_t instruction) {
  for (size_t i = 0; i < result.trace.size(); ++i)
    if (result.trace[i] == TraceStep{block, instruction})
      return i;
  ADD_FAILURE() << "block " << block << " instruction " << instruction << " is not in the trace";
  return result.trace.size();
}

void expectCompleted(const ir::Program &program, const ExecutionResult &result) {
  ASSERT_EQ(result.status, ExecutionStatus::Completed) << result.report;
  EXPECT_TRUE(result.report.empty());
  EXPECT_TRUE(result.stuck.empty());
  ASSERT_EQ(result.executed.size(), program.blockPrograms.size());
  for (size_t b = 0; b < program.blockPrograms.size(); ++b)
    EXPECT_EQ(result.executed[b], program.blockPrograms[b].size()) << "block " << b;
  // One trace step per instruction: a barrier is recorded at each block's arrival.
  EXPECT_EQ(result.trace.size(), program.instructionCount());
}

const std::string kProducerConsumer = R"(input a : f32[4]
scratch x : f32[4]
output y : f32[4]
counter ready
blocks b in 0..1 {
  add x <- a, a
  signal ready
}
blocks b in 1..2 {
  wait ready >= 1
  add y <- x, a
}
)";

TEST(Executor, ProducerConsumerInBothModes) {
  const ir::Program program = parse(2, kProducerConsumer);
  Executor executor(program);
  const std::vector<float> a = {1.5f, -2.0f, 0.25f, 8.0f};
  ASSERT_FALSE(executor.setFloats("a", a));
  const std::vector<float> expected = {4.5f, -6.0f, 0.75f, 24.0f};
  for (int run = 0; run < 5; ++run) {
    ExecutionResult result = executor.run(threads());
    expectCompleted(program, result);
    EXPECT_EQ(executor.buffer("y")->toFloats(), expected) << "threads run " << run;
    EXPECT_LT(traceIndex(result, 0, 1), traceIndex(result, 1, 0)) << "the wait passed before the signal";
  }
  // Counters start at zero in every run: the wait never passes before this run's signal.
  for (uint64_t seed = 0; seed < 30; ++seed) {
    ExecutionResult result = executor.run(deterministic(seed));
    expectCompleted(program, result);
    EXPECT_EQ(executor.buffer("y")->toFloats(), expected) << "seed " << seed;
    EXPECT_LT(traceIndex(result, 0, 1), traceIndex(result, 1, 0)) << "seed " << seed;
  }
}

TEST(Executor, BarrierSeparatesPhasesAndIsReusable) {
  const ir::Program program = parse(4, R"(input a : f32[4]
scratch x : f32[4]
scratch y : f32[4]
output z : f32[4]
blocks b in 0..4 {
  add x[b] <- a[b], a[b]
  barrier
  add y[b] <- x[(b+1)%4], a[b]
  barrier
  add z[b] <- y[(b+3)%4], y[b]
}
)");
  Executor executor(program);
  const std::vector<float> a = {1, 10, 100, 1000};
  ASSERT_FALSE(executor.setFloats("a", a));
  std::vector<float> y(4), expected(4);
  for (size_t b = 0; b < 4; ++b)
    y[b] = 2 * a[(b + 1) % 4] + a[b];
  for (size_t b = 0; b < 4; ++b)
    expected[b] = y[(b + 3) % 4] + y[b];
  for (int run = 0; run < 20; ++run) {
    expectCompleted(program, executor.run(threads()));
    ASSERT_EQ(executor.buffer("z")->toFloats(), expected) << "threads run " << run;
  }
  for (uint64_t seed = 0; seed < 30; ++seed) {
    ExecutionResult result = executor.run(deterministic(seed));
    expectCompleted(program, result);
    ASSERT_EQ(executor.buffer("z")->toFloats(), expected) << "seed " << seed;
    // No block's second-phase task runs before every block has arrived at the first barrier.
    for (uint32_t b = 0; b < 4; ++b)
      for (uint32_t k = 0; k < 4; ++k)
        EXPECT_LT(traceIndex(result, k, 1), traceIndex(result, b, 2));
  }
}

// Both blocks signal once; block 1 waits for 3.
const std::string kStuckWait = R"(counter done
blocks b in 0..2 {
  signal done
}
blocks b in 1..2 {
  wait done >= 3
}
)";

TEST(Executor, DeadlockedWaitIsReportedInBothModes) {
  const ir::Program program = parse(2, kStuckWait, "stuck.amkir");
  Executor executor(program);
  const std::string note =
      "stuck.amkir:9:3: note: block 1 stuck at instruction 1 'wait done >= 3' (b=1): counter done is 2, the wait "
      "needs >= 3";

  ExecutionResult exact = executor.run(deterministic(7));
  std::printf("%s", exact.report.c_str());
  ASSERT_EQ(exact.status, ExecutionStatus::Deadlocked);
  ASSERT_EQ(exact.stuck.size(), 1u);
  EXPECT_EQ(exact.stuck[0].block, 1u);
  EXPECT_EQ(exact.stuck[0].instruction, 1u);
  EXPECT_EQ(exact.stuck[0].counter, "done");
  EXPECT_EQ(exact.stuck[0].observed, 2u);
  EXPECT_EQ(exact.stuck[0].threshold, 3u);
  EXPECT_EQ(exact.report,
            "stuck.amkir: deadlock: 1 of 2 blocks cannot go on (seed 7: no block can take a step)\n" + note + "\n");
  EXPECT_EQ(exact.executed, (std::vector<uint64_t>{1, 1}));

  const auto start = std::chrono::steady_clock::now();
  ExecutionResult timed = executor.run(threads(std::chrono::milliseconds(200)));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s(threads mode returned after %.3f s)\n", timed.report.c_str(), seconds);
  EXPECT_LT(seconds, 5.0);
  ASSERT_EQ(timed.status, ExecutionStatus::Deadlocked);
  ASSERT_EQ(timed.stuck.size(), 1u);
  EXPECT_EQ(timed.stuck[0].block, 1u);
  EXPECT_EQ(timed.stuck[0].counter, "done");
  EXPECT_EQ(timed.stuck[0].observed, 2u);
  EXPECT_EQ(timed.stuck[0].threshold, 3u);
  EXPECT_NE(timed.report.find("no block completed an instruction for 200 ms"), std::string::npos) << timed.report;
  EXPECT_NE(timed.report.find(note), std::string::npos) << timed.report;
}

// Block 0 reaches a barrier that block 1, which has none, never reaches.
TEST(Executor, DeadlockedBarrierIsReportedInBothModes) {
  const ir::Program program = parse(3, R"(input a : f32[2]
scratch x : f32[2]
blocks b in 0..2 {
  barrier
}
blocks b in 2..3 {
  copy x <- a
}
)",
                                    "barrier.amkir");
  Executor executor(program);
  for (const ExecutorOptions &options : {deterministic(3), threads(std::chrono::milliseconds(200))}) {
    ExecutionResult result = executor.run(options);
    std::printf("%s", result.report.c_str());
    ASSERT_EQ(result.status, ExecutionStatus::Deadlocked);
    ASSERT_EQ(result.stuck.size(), 2u);
    for (uint32_t b = 0; b < 2; ++b) {
      EXPECT_EQ(result.stuck[b].block, b);
      EXPECT_TRUE(result.stuck[b].atBarrier);
      EXPECT_EQ(result.stuck[b].observed, 2u);
      EXPECT_EQ(result.stuck[b].threshold, 3u);
      EXPECT_NE(result.report.find("block " + std::to_string(b) + " stuck at instruction 0 'barrier' (b=" +
                                   std::to_string(b) + "): barrier 1 reached by 2 of 3 blocks"),
                std::string::npos)
          << result.report;
    }
    EXPECT_EQ(result.executed[2], 1u);
  }
}

// A deadlock among many threads, some of them spinning at a barrier and some at waits, still ends
// with every thread joined.
TEST(Executor, ThreadsModeStopsEveryThreadOnTimeOut) {
  const ir::Program program = parse(16, R"(counter c[2]
blocks b in 0..8 {
  wait c[0] >= 1
}
blocks b in 8..16 {
  signal c[1]
  barrier
}
)");
  Executor executor(program);
  ExecutionResult result = executor.run(threads(std::chrono::milliseconds(100)));
  ASSERT_EQ(result.status, ExecutionStatus::Deadlocked);
  EXPECT_EQ(result.stuck.size(), 16u);
  EXPECT_NE(result.report.find("counter c[0] is 0, the wait needs >= 1"), std::string::npos) << result.report;
  EXPECT_NE(result.report.find("barrier 1 reached by 8 of 16 blocks"), std::string::npos) << result.report;
}

// Block 1 reads x while block 0 may still be writing it: without the wait the two opaque tasks run
// in either order, and y, a hash of x, tells which.
std::string racyProducerConsumer(bool withWait) {
  return std::string(R"(input a : f32[4]
scratch x : f32[4]
output y : f32[4]
counter ready
blocks b in 0..1 {
  opaque x <- a name="produce"
  signal ready
}
blocks b in 1..2 {
)") + (withWait ? "  wait ready >= 1\n" : "") +
         R"(  opaque y <- x name="consume"
}
)";
}

TEST(Executor, RaceShowsAsDifferentOutputsAcrossSeeds) {
  const ir::Program program = parse(2, racyProducerConsumer(false));
  Executor executor(program);
  ASSERT_FALSE(executor.setFloats("a", std::vector<float>{1, 2, 3, 4}));
  std::set<std::vector<std::byte>> outputs;
  uint64_t firstDifferent = 0;
  for (uint64_t seed = 0; seed <= 200 && outputs.size() < 2; ++seed) {
    ExecutionResult result = executor.run(deterministic(seed));
    expectCompleted(program, result);
    outputs.insert(bytesOf(executor, "y"));
    firstDifferent = seed;
  }
  std::printf("racy schedule: %zu different outputs by seed %llu\n", outputs.size(),
              static_cast<unsigned long long>(firstDifferent));
  EXPECT_EQ(outputs.size(), 2u);
}

TEST(Executor, RaceFreeTwinIsBitIdenticalAcrossSeedsAndModes) {
  const ir::Program program = parse(2, racyProducerConsumer(true));
  Executor executor(program);
  ASSERT_FALSE(executor.setFloats("a", std::vector<float>{1, 2, 3, 4}));
  expectCompleted(program, executor.run(deterministic(0)));
  const std::vector<std::byte> reference = bytesOf(executor, "y");
  EXPECT_NE(reference, std::vector<std::byte>(reference.size()));
  for (uint64_t seed = 1; seed < 50; ++seed) {
    expectCompleted(program, executor.run(deterministic(seed)));
    ASSERT_EQ(bytesOf(executor, "y"), reference) << "seed " << seed;
  }
  for (int run = 0; run < 10; ++run) {
    expectCompleted(program, executor.run(threads()));
    ASSERT_EQ(bytesOf(executor, "y"), reference) << "threads run " << run;
  }
}

TEST(Executor, SettersCheckNamesAndSizes) {
  const ir::Program program = parse(2, kProducerConsumer, "set.amkir");
  Executor executor(program);
  std::optional<Error> error = executor.setFloats("nope", std::vector<float>{1});
  ASSERT_TRUE(error);
  EXPECT_EQ(error->render(), "set.amkir: error: no buffer named 'nope'");
  error = executor.setFloats("a", std::vector<float>{1, 2});
  ASSERT_TRUE(error);
  EXPECT_EQ(error->render(), "set.amkir: error: buffer 'a' holds 4 elements, 2 given");
  error = executor.setInts("a", std::vector<int32_t>{1, 2, 3, 4});
  ASSERT_TRUE(error);
  EXPECT_EQ(error->render(), "set.amkir: error: buffer 'a' is f32, not an integer type");
  std::vector<std::byte> raw(16, std::byte{0});
  raw[3] = std::byte{0x3f};
  raw[2] = std::byte{0x80}; // 1.0f little-endian: 00 00 80 3f
  EXPECT_FALSE(executor.setBytes("a", raw));
  EXPECT_EQ(executor.buffer("a")->load(0), 1.0f);
  EXPECT_EQ(executor.buffer("missing"), nullptr);
}

// ---------------------------------------------------------------------------------------------------
// The toy Llama decode step of the corpus

struct DecodeRun {
  std::vector<std::vector<std::byte>> snapshots; // per step: logits, next_token, kc, vc
  std::vector<int32_t> tokens;
};

class LlamaDecode : public ::testing::Test {
protected:
  void SetUp() override {
    schedule_ = ir::loadSchedule((test::sourceDir() / "corpus/examples/llama2_decode.amkir").string());
    ASSERT_TRUE(schedule_.program) << schedule_.renderDiagnostics();
    // Random weights, the same for every executor: norms near 1, the rest small.
    std::mt19937_64 random(2026);
    for (const ir::Buffer &buffer : schedule_.program->buffers) {
      if (buffer.kind != ir::ast::BufferKind::Param)
        continue;
      const bool norm = buffer.name.rfind("ln", 0) == 0;
      std::uniform_real_distribution<float> values(norm ? 0.9f : -0.25f, norm ? 1.1f : 0.25f);
      int64_t count = 1;
      for (int64_t extent : buffer.shape)
        count *= extent;
      std::vector<float> data(static_cast<size_t>(count));
      for (float &v : data)
        v = buffer.name == "emb" ? 4 * values(random) : values(random);
      weights_.emplace_back(buffer.name, std::move(data));
    }
  }

  DecodeRun decode(const ExecutorOptions &options, const std::vector<int32_t> &tokens) {
    DecodeRun run;
    Executor executor(*schedule_.program);
    for (const auto &[name, data] : weights_)
      EXPECT_FALSE(executor.setFloats(name, data));
    for (size_t pos = 0; pos < tokens.size(); ++pos) {
      EXPECT_FALSE(executor.setInts("tok", std::vector<int32_t>{tokens[pos]}));
      EXPECT_FALSE(executor.setInts("pos", std::vector<int32_t>{static_cast<int32_t>(pos)}));
      ExecutionResult result = executor.run(options);
      expectCompleted(*schedule_.program, result);
      std::vector<std::byte> snapshot;
      for (const char *name : {"logits", "next_token", "kc", "vc"}) {
        std::vector<std::byte> bytes = bytesOf(executor, name);
        snapshot.insert(snapshot.end(), bytes.begin(), bytes.end());
      }
      run.snapshots.push_back(std::move(snapshot));
      // The chosen token is the argmax of the logits, which are finite and not all equal.
      const std::vector<float> logits = executor.buffer("logits")->toFloats();
      size_t best = 0;
      for (size_t i = 0; i < logits.size(); ++i) {
        EXPECT_TRUE(std::isfinite(logits[i]));
        if (logits[i] > logits[best])
          best = i;
      }
      EXPECT_NE(logits[best], logits[(best + 1) % logits.size()]);
      run.tokens.push_back(static_cast<int32_t>(executor.buffer("next_token")->loadInt(0)));
      EXPECT_EQ(run.tokens.back(), static_cast<int32_t>(best));
    }
    // Positions 0..2 of the KV cache are filled, position 3 is not.
    const HostBuffer &kc = *executor.buffer("kc");
    for (int64_t p = 0; p < 4; ++p) {
      bool any = false;
      for (int64_t i = 0; i < 16; ++i)
        any |= kc.load(p * 16 + i) != 0.0f;
      EXPECT_EQ(any, p < static_cast<int64_t>(tokens.size())) << "position " << p;
    }
    return run;
  }

  ir::Schedule schedule_;
  std::vector<std::pair<std::string, std::vector<float>>> weights_;
};

TEST_F(LlamaDecode, BitIdenticalAcrossModesSeedsAndRuns) {
  const std::vector<int32_t> tokens = {5, 17, 42};
  const DecodeRun reference = decode(deterministic(0), tokens);
  std::printf("greedy tokens after each step: %d %d %d\n", reference.tokens[0], reference.tokens[1],
              reference.tokens[2]);
  std::vector<std::pair<std::string, ExecutorOptions>> configurations;
  for (uint64_t seed : {0, 1, 2, 3, 17, 99})
    configurations.emplace_back("seed " + std::to_string(seed), deterministic(seed));
  for (int run = 0; run < 3; ++run)
    configurations.emplace_back("threads run " + std::to_string(run), threads());
  for (const auto &[name, options] : configurations) {
    const DecodeRun other = decode(options, tokens);
    ASSERT_EQ(other.snapshots.size(), reference.snapshots.size());
    for (size_t step = 0; step < tokens.size(); ++step)
      EXPECT_EQ(other.snapshots[step], reference.snapshots[step]) << name << ", step " << step;
  }
}

// A position past the KV cache is a run-time error, reported with the block and the instruction,
// and it ends the run in both modes (the other threads leave their waits).
TEST_F(LlamaDecode, PositionOutsideTheCacheIsAnError) {
  for (const ExecutorOptions &options : {deterministic(5), threads()}) {
    Executor executor(*schedule_.program);
    ASSERT_FALSE(executor.setInts("pos", std::vector<int32_t>{32}));
    const auto start = std::chrono::steady_clock::now();
    ExecutionResult result = executor.run(options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s", result.report.c_str());
    ASSERT_EQ(result.status, ExecutionStatus::Error);
    EXPECT_LT(seconds, 5.0);
    // Blocks 2 (keys) and 3 (values) both store at pos; whichever runs first fails first.
    const std::regex line(R"(llama2_decode\.amkir:\d+:\d+: error: block [23], instruction \d+ 'kv_store [kv]c\[0, 0, )"
                          R"(0:32, 0:16\] <- qkv\[(64:80|96:112)\], pos\[0:1\]' \(l=0, b=[23], kvh=0\): position 32 )"
                          R"(is outside the cache region's positions 0\.\.31)");
    EXPECT_TRUE(std::regex_search(result.report, line)) << result.report;
  }
}

} // namespace
} // namespace amk::executor
