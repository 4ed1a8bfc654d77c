// HappensBefore on the smallest programs: program order, barrier order, the guaranteed
// synchronizes-with rule of AMKIR §3 (a release signal s is guaranteed to synchronize with an
// acquire wait w >= n only when the other signals w may read, leaving out those happening after s
// and those happening after w, add up to less than n), transitivity and the fixpoint.
#include "amk/checker/happens_before.h"
#include "amk/checker/progress.h"
#include "amk/ir/frontend.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace amk::checker {
namespace {

// A parsed program with its progress result and happens-before (which refers to both).
struct Analysed {
  ir::Program program;
  ProgressResult progress;
  std::unique_ptr<HappensBefore> hb;

  bool ordered(uint32_t blockA, uint32_t indexA, uint32_t blockB, uint32_t indexB) const {
    return hb->ordered({blockA, indexA}, {blockB, indexB});
  }
  bool guaranteed(uint32_t signalBlock, uint32_t signalIndex, uint32_t waitBlock, uint32_t waitIndex) const {
    return hb->guaranteed({signalBlock, signalIndex}, {waitBlock, waitIndex});
  }
  uint64_t readableWithout(uint32_t signalBlock, uint32_t signalIndex, uint32_t waitBlock, uint32_t waitIndex) const {
    return hb->readableWithout({signalBlock, signalIndex}, {waitBlock, waitIndex});
  }
};

std::unique_ptr<Analysed> analyse(int blocks, const std::string &body) {
  std::string text = "amkir 1\ntarget sm_90 sms=8\ngrid blocks=" + std::to_string(blocks) + " threads=128\n" + body;
  ir::Schedule schedule = ir::parseSchedule("hb.amkir", text);
  if (!schedule.program) {
    ADD_FAILURE() << "not well-formed:\n" << schedule.renderDiagnostics() << "\n" << text;
    return nullptr;
  }
  auto a = std::make_unique<Analysed>();
  a->program = std::move(*schedule.program);
  a->progress = analyzeProgress(a->program);
  EXPECT_TRUE(a->progress.finished()) << text;
  a->hb = std::make_unique<HappensBefore>(a->program, a->progress);
  return a;
}

TEST(HappensBefore, ProgramOrder) {
  auto a = analyse(2, "scratch x : f32[8]\nblocks b in 0..2 {\n  opaque x[b] <-\n  opaque x[b+2] <-\n"
                      "  opaque x[b+4] <-\n}\n");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ordered(0, 0, 0, 1));
  EXPECT_TRUE(a->ordered(0, 0, 0, 2)); // transitively
  EXPECT_FALSE(a->ordered(0, 1, 0, 0));
  EXPECT_FALSE(a->ordered(0, 1, 0, 1)) << "not reflexive";
  // Nothing orders two blocks without synchronisation.
  for (uint32_t i = 0; i < 3; ++i)
    for (uint32_t j = 0; j < 3; ++j) {
      EXPECT_FALSE(a->ordered(0, i, 1, j));
      EXPECT_FALSE(a->ordered(1, i, 0, j));
    }
  EXPECT_EQ(a->hb->synchronizesWithEdges(), 0u);
  EXPECT_EQ(a->hb->programOrderEdges(), 4u);
}

TEST(HappensBefore, BarrierOrder) {
  auto a = analyse(3, "scratch x : f32[8]\nblocks b in 0..3 {\n  opaque x[b] <-\n  barrier\n  opaque x[b+4] <-\n}\n");
  ASSERT_TRUE(a);
  for (uint32_t from = 0; from < 3; ++from)
    for (uint32_t to = 0; to < 3; ++to) {
      if (from == to)
        continue;
      EXPECT_TRUE(a->ordered(from, 0, to, 2)) << "before the barrier in " << from << ", after it in " << to;
      EXPECT_TRUE(a->ordered(from, 1, to, 2)) << "the barrier itself in " << from << ", after it in " << to;
      EXPECT_FALSE(a->ordered(from, 2, to, 0)) << "after-to-before";
      EXPECT_FALSE(a->ordered(from, 2, to, 2)) << "both after";
      EXPECT_FALSE(a->ordered(from, 0, to, 0)) << "both before";
    }
  EXPECT_EQ(a->hb->synchronizesWithEdges(), 0u);
}

TEST(HappensBefore, BarrierOrderIsPerGeneration) {
  // Between two barriers: after barrier 1 in one block is not ordered before anything before
  // barrier 2 in another block, but is before everything after barrier 2.
  auto a = analyse(2, "scratch x : f32[8]\nblocks b in 0..2 {\n  opaque x[b] <-\n  barrier\n  opaque x[b+2] <-\n"
                      "  barrier\n  opaque x[b+4] <-\n}\n");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ordered(0, 0, 1, 2));
  EXPECT_TRUE(a->ordered(0, 0, 1, 4));
  EXPECT_TRUE(a->ordered(0, 2, 1, 4));
  EXPECT_FALSE(a->ordered(0, 2, 1, 2));
  EXPECT_FALSE(a->ordered(1, 4, 0, 2));
}

// Blocks 0 and 1 write and signal c; block 2 waits c >= n and reads.
std::string producersConsumer(const std::string &threshold) {
  return "scratch x : f32[8]\ncounter c\n"
         "blocks b in 0..2 {\n  opaque x[4*b : 4*b+4] <-\n  signal c\n}\n"
         "blocks b in 2..3 {\n  wait c >= " +
         threshold + "\n  opaque <- x\n}\n";
}

TEST(HappensBefore, ExactCountSynchronizesWithEverySignal) {
  auto a = analyse(3, producersConsumer("2"));
  ASSERT_TRUE(a);
  for (uint32_t k = 0; k < 2; ++k) {
    EXPECT_TRUE(a->guaranteed(k, 1, 2, 0));
    EXPECT_EQ(a->readableWithout(k, 1, 2, 0), 1u);
    EXPECT_TRUE(a->ordered(k, 1, 2, 0));
    EXPECT_TRUE(a->ordered(k, 0, 2, 1)) << "write of block " << k << " before the read";
    EXPECT_FALSE(a->ordered(2, 1, k, 0));
  }
  EXPECT_EQ(a->hb->synchronizesWithEdges(), 2u);
  EXPECT_FALSE(a->ordered(0, 0, 1, 1)) << "the producers stay unordered";
}

TEST(HappensBefore, ThresholdBelowTheSignalCountOrdersNothing) {
  auto a = analyse(3, producersConsumer("1"));
  ASSERT_TRUE(a);
  for (uint32_t k = 0; k < 2; ++k) {
    EXPECT_FALSE(a->guaranteed(k, 1, 2, 0));
    EXPECT_EQ(a->readableWithout(k, 1, 2, 0), 1u);
    EXPECT_FALSE(a->ordered(k, 1, 2, 0));
    EXPECT_FALSE(a->ordered(k, 0, 2, 1));
  }
  EXPECT_EQ(a->hb->synchronizesWithEdges(), 0u);
}

TEST(HappensBefore, ThresholdZeroOrdersNothing) {
  auto a = analyse(2, "counter c\nblocks b in 0..1 { signal c }\nblocks b in 1..2 { wait c >= 0 }\n");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->guaranteed(0, 0, 1, 0));
  EXPECT_FALSE(a->ordered(0, 0, 1, 0));
}

TEST(HappensBefore, FirstOfSeveralSignalsInProgramOrderIsGuaranteed) {
  // Block 0 signals c twice; block 1 waits c >= 1. Every value >= 1 is at or after the first
  // increment in modification order, so the first signal is guaranteed; the second is not.
  auto a = analyse(2, "scratch x : f32[8]\ncounter c\n"
                      "blocks b in 0..1 {\n  opaque x[0:4] <-\n  signal c\n  opaque x[4:8] <-\n  signal c\n}\n"
                      "blocks b in 1..2 {\n  wait c >= 1\n  opaque <- x\n}\n");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->guaranteed(0, 1, 1, 0));
  EXPECT_EQ(a->readableWithout(0, 1, 1, 0), 0u) << "the second signal happens after the first";
  EXPECT_FALSE(a->guaranteed(0, 3, 1, 0));
  EXPECT_EQ(a->readableWithout(0, 3, 1, 0), 1u);
  EXPECT_TRUE(a->ordered(0, 0, 1, 1));
  EXPECT_FALSE(a->ordered(0, 2, 1, 1)) << "the second write is not published by a wait >= 1";
  EXPECT_FALSE(a->ordered(0, 3, 1, 0));
}

TEST(HappensBefore, ReadableWithoutSumsTheOtherIncrements) {
  // Increments 3, 2 and 5 from three blocks (block 0 also signals +4 after its +3), a wait >= 8 in
  // block 3 that then signals +7 itself.
  auto a = analyse(4, "counter c\n"
                      "blocks b in 0..1 {\n  signal c + 3\n  signal c + 4\n}\n"
                      "blocks b in 1..2 { signal c + 2 }\n"
                      "blocks b in 2..3 { signal c + 5 }\n"
                      "blocks b in 3..4 {\n  wait c >= 8\n  signal c + 7\n}\n");
  ASSERT_TRUE(a);
  // Without block 0's +3: 2 + 5 (its +4 is after it, block 3's +7 after the wait).
  EXPECT_EQ(a->readableWithout(0, 0, 3, 0), 7u);
  EXPECT_TRUE(a->guaranteed(0, 0, 3, 0));
  // Without block 0's +4: 3 + 2 + 5.
  EXPECT_EQ(a->readableWithout(0, 1, 3, 0), 10u);
  EXPECT_FALSE(a->guaranteed(0, 1, 3, 0));
  // Without block 1's +2: 3 + 4 + 5 = 12.
  EXPECT_EQ(a->readableWithout(1, 0, 3, 0), 12u);
  EXPECT_FALSE(a->guaranteed(1, 0, 3, 0));
  // Without block 2's +5: 3 + 4 + 2 = 9.
  EXPECT_EQ(a->readableWithout(2, 0, 3, 0), 9u);
  EXPECT_FALSE(a->guaranteed(2, 0, 3, 0));
  // A signal after the wait never synchronizes with it.
  EXPECT_FALSE(a->guaranteed(3, 1, 3, 0));
  EXPECT_TRUE(a->ordered(0, 0, 3, 1));
  EXPECT_FALSE(a->ordered(1, 0, 3, 1));
}

TEST(HappensBefore, OwnEarlierSignalCountsAsReadable) {
  // Block 1 signals c itself before waiting c >= 2: with block 0's signal missing it reads at most 1.
  auto a = analyse(3, "counter c\n"
                      "blocks b in 0..1 { signal c }\n"
                      "blocks b in 1..2 {\n  signal c\n  wait c >= 2\n}\n"
                      "blocks b in 2..3 { signal c }\n");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->readableWithout(0, 0, 1, 1), 2u);
  EXPECT_FALSE(a->guaranteed(0, 0, 1, 1));

  auto b = analyse(2, "counter c\n"
                      "blocks b in 0..1 { signal c }\n"
                      "blocks b in 1..2 {\n  signal c\n  wait c >= 2\n}\n");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->readableWithout(0, 0, 1, 1), 1u);
  EXPECT_TRUE(b->guaranteed(0, 0, 1, 1));
  EXPECT_TRUE(b->ordered(0, 0, 1, 1));
}

TEST(HappensBefore, RelaxedAndCtaFormsOrderNothing) {
  for (const char *signal : {"signal.relaxed", "signal.cta", "signal"})
    for (const char *wait : {"wait.relaxed", "wait.cta", "wait"}) {
      bool plain = std::string(signal) == "signal" && std::string(wait) == "wait";
      auto a = analyse(2, std::string("scratch x : f32[8]\ncounter c\n") + "blocks b in 0..1 {\n  opaque x <-\n  " +
                              signal + " c\n}\nblocks b in 1..2 {\n  " + wait + " c >= 1\n  opaque <- x\n}\n");
      ASSERT_TRUE(a);
      SCOPED_TRACE(std::string(signal) + " / " + wait);
      EXPECT_EQ(a->guaranteed(0, 1, 1, 0), plain);
      EXPECT_EQ(a->ordered(0, 1, 1, 0), plain);
      EXPECT_EQ(a->ordered(0, 0, 1, 1), plain);
      EXPECT_EQ(a->hb->synchronizesWithEdges(), plain ? 1u : 0u);
    }
}

TEST(HappensBefore, RelaxedSignalsStillCountAsReadable) {
  // A relaxed +1 from block 1 can let `wait c >= 1` pass without block 0's release signal.
  auto a = analyse(3, "scratch x : f32[8]\ncounter c\n"
                      "blocks b in 0..1 {\n  opaque x <-\n  signal c\n}\n"
                      "blocks b in 1..2 { signal.relaxed c }\n"
                      "blocks b in 2..3 {\n  wait c >= 1\n  opaque <- x\n}\n");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->readableWithout(0, 1, 2, 0), 1u);
  EXPECT_FALSE(a->guaranteed(0, 1, 2, 0));
  EXPECT_FALSE(a->ordered(0, 0, 2, 1));

  // With the threshold at 2 the release signal is needed.
  auto b = analyse(3, "scratch x : f32[8]\ncounter c\n"
                      "blocks b in 0..1 {\n  opaque x <-\n  signal c\n}\n"
                      "blocks b in 1..2 { signal.relaxed c }\n"
                      "blocks b in 2..3 {\n  wait c >= 2\n  opaque <- x\n}\n");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->guaranteed(0, 1, 2, 0));
  EXPECT_TRUE(b->ordered(0, 0, 2, 1));
  EXPECT_FALSE(b->guaranteed(1, 0, 2, 0)) << "relaxed";
}

TEST(HappensBefore, OtherCounterElementsDoNotCount) {
  auto a = analyse(3, "counter c[2]\n"
                      "blocks b in 0..1 { signal c[0] }\n"
                      "blocks b in 1..2 { signal c[1] }\n"
                      "blocks b in 2..3 { wait c[0] >= 1 }\n");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->readableWithout(0, 0, 2, 0), 0u);
  EXPECT_TRUE(a->guaranteed(0, 0, 2, 0));
  EXPECT_FALSE(a->guaranteed(1, 0, 2, 0));
  EXPECT_FALSE(a->ordered(1, 0, 2, 0));
}

TEST(HappensBefore, TransitiveThroughAThirdBlock) {
  auto a = analyse(3, "scratch x : f32[8]\ncounter a\ncounter b1\n"
                      "blocks b in 0..1 {\n  opaque x <-\n  signal a\n}\n"
                      "blocks b in 1..2 {\n  wait a >= 1\n  signal b1\n}\n"
                      "blocks b in 2..3 {\n  wait b1 >= 1\n  opaque <- x\n}\n");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ordered(0, 0, 1, 1));
  EXPECT_TRUE(a->ordered(0, 0, 2, 1));
  EXPECT_TRUE(a->ordered(0, 1, 2, 0));
  EXPECT_FALSE(a->ordered(2, 1, 0, 0));
  EXPECT_FALSE(a->ordered(2, 0, 1, 0));
}

TEST(HappensBefore, FixpointNeedsASecondRound) {
  // Block 1 waits c >= 1 and then signals c; block 2 waits c >= 1. Round one: block 1's wait must
  // read block 0's signal (its own comes after it), so s0 -> w1. Block 2's wait could read block 1's
  // signal instead, so s0 -> w2 is not guaranteed yet. Round two: block 1's signal now happens after
  // s0, so reading it means reading s0 too: s0 -> w2.
  auto a = analyse(3, "scratch x : f32[8]\ncounter c\n"
                      "blocks b in 0..1 {\n  opaque x <-\n  signal c\n}\n"
                      "blocks b in 1..2 {\n  wait c >= 1\n  signal c\n}\n"
                      "blocks b in 2..3 {\n  wait c >= 1\n  opaque <- x\n}\n");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->guaranteed(0, 1, 1, 0));
  EXPECT_TRUE(a->ordered(0, 1, 1, 1));
  EXPECT_EQ(a->readableWithout(0, 1, 2, 0), 0u);
  EXPECT_TRUE(a->guaranteed(0, 1, 2, 0));
  EXPECT_TRUE(a->ordered(0, 0, 2, 1)) << "the write is published to block 2";
  EXPECT_FALSE(a->guaranteed(1, 1, 2, 0)) << "block 2 may read block 0's increment alone";
  EXPECT_EQ(a->hb->synchronizesWithEdges(), 2u);
  EXPECT_GE(a->hb->rounds(), 3u) << "initial clocks, then one recomputation per round that added edges";
}

TEST(HappensBefore, WaitAfterItsSignalInHappensBeforeIsNotGuaranteed) {
  // Block 1 waits for c >= 1 before (by a barrier) block 0 signals: block 1's wait happens before
  // that signal, so the signal cannot synchronize with it; block 2's signal satisfies it.
  auto a = analyse(3, "counter c\n"
                      "blocks b in 2..3 { signal c }\n"
                      "blocks b in 1..2 { wait c >= 1 }\n"
                      "blocks b in 0..3 { barrier }\n"
                      "blocks b in 0..1 { signal c }\n");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ordered(1, 0, 0, 1));
  EXPECT_FALSE(a->guaranteed(0, 1, 1, 0));
  EXPECT_TRUE(a->guaranteed(2, 0, 1, 0));
  EXPECT_EQ(a->readableWithout(2, 0, 1, 0), 0u);
}

} // namespace
} // namespace amk::checker
