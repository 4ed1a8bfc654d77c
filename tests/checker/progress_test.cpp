// analyzeProgress on the smallest programs: which blocks finish, what the stuck ones wait for (final
// counter value against the threshold, the blocks that still hold a signal, the barrier arrivals),
// wait-for cycles, barrier counts, co-residency, and that the maximal execution is a linear
// extension of the program, barrier and counter constraints (AMKIR §3).
#include "amk/checker/progress.h"
#include "amk/checker/verify.h"
#include "amk/ir/frontend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace amk::checker {
namespace {

using ir::InstructionKind;

// A schedule with `blocks` blocks: the header, then `body` (declarations and sections).
ir::Program parse(int blocks, const std::string &body, int sms = 8, int occupancy = 1) {
  std::string text = "amkir 1\ntarget sm_90 sms=" + std::to_string(sms) + "\ngrid blocks=" + std::to_string(blocks) +
                     " threads=128 occupancy=" + std::to_string(occupancy) + "\n" + body;
  ir::Schedule schedule = ir::parseSchedule("progress.amkir", text);
  if (!schedule.program) {
    ADD_FAILURE() << "not well-formed:\n" << schedule.renderDiagnostics() << "\n" << text;
    return {};
  }
  return std::move(*schedule.program);
}

const StuckBlock *stuckAt(const DeadlockWitness &w, uint32_t block) {
  for (const StuckBlock &s : w.stuck)
    if (s.at.block == block)
      return &s;
  return nullptr;
}

std::vector<uint32_t> sorted(std::vector<uint32_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// The cycle as reported is a wait-for cycle: each block waits for the next (and the last for the first).
void expectWaitForCycle(const DeadlockWitness &w, const std::vector<uint32_t> &expectedBlocks) {
  EXPECT_EQ(sorted(w.cycle), sorted(expectedBlocks));
  for (size_t i = 0; i < w.cycle.size(); ++i) {
    uint32_t from = w.cycle[i], to = w.cycle[(i + 1) % w.cycle.size()];
    const StuckBlock *s = stuckAt(w, from);
    ASSERT_NE(s, nullptr) << "cycle block " << from << " is not stuck";
    EXPECT_NE(std::find(s->waitsFor.begin(), s->waitsFor.end(), to), s->waitsFor.end())
        << "block " << from << " does not wait for block " << to;
  }
}

// The order is a valid linear extension of what the program allows: every block's executed
// instructions appear exactly once and in program order; each wait appears after signals whose
// increments reach its threshold; each barrier generation appears after every block's instructions
// before that barrier.
void expectLinearExtension(const ir::Program &program, const ProgressResult &progress) {
  const size_t blocks = program.blockPrograms.size();
  ASSERT_EQ(progress.executed.size(), blocks);
  size_t total = 0;
  for (uint32_t e : progress.executed)
    total += e;
  ASSERT_EQ(progress.order.size(), total);
  std::vector<uint32_t> next(blocks, 0);
  std::vector<std::vector<size_t>> position(blocks);
  for (size_t k = 0; k < blocks; ++k)
    position[k].assign(progress.executed[k], SIZE_MAX);
  std::map<uint64_t, uint64_t> value;
  for (size_t p = 0; p < progress.order.size(); ++p) {
    InstructionRef r = progress.order[p];
    ASSERT_LT(r.block, blocks);
    ASSERT_EQ(r.index, next[r.block]) << "block " << r.block << " out of program order at position " << p;
    ++next[r.block];
    position[r.block][r.index] = p;
    const ir::Instruction &i = program.blockPrograms[r.block][r.index];
    uint64_t key = counterKey(i.counter, i.counterIndex);
    if (i.kind == InstructionKind::Signal)
      value[key] += i.amount;
    if (i.kind == InstructionKind::Wait) {
      EXPECT_GE(value[key], i.amount) << "wait of block " << r.block << " at " << r.index
                                      << " passes before enough signals, at position " << p;
    }
  }
  for (size_t k = 0; k < blocks; ++k)
    EXPECT_EQ(next[k], progress.executed[k]);
  // Barrier generations.
  std::vector<std::vector<uint32_t>> barriers(blocks);
  for (size_t k = 0; k < blocks; ++k)
    for (uint32_t i = 0; i < progress.executed[k]; ++i)
      if (program.blockPrograms[k][i].kind == InstructionKind::Barrier)
        barriers[k].push_back(i);
  for (size_t k = 0; k < blocks; ++k)
    ASSERT_EQ(barriers[k].size(), barriers[0].size()) << "blocks passed different numbers of barriers";
  for (size_t g = 0; g < barriers[0].size(); ++g) {
    size_t lastArrival = 0, firstPass = SIZE_MAX;
    for (size_t k = 0; k < blocks; ++k) {
      uint32_t b = barriers[k][g];
      if (b > 0)
        lastArrival = std::max(lastArrival, position[k][b - 1]);
      firstPass = std::min(firstPass, position[k][b]);
    }
    EXPECT_GT(firstPass, lastArrival) << "barrier " << g << " passed before every block arrived";
  }
}

TEST(Progress, AllBlocksFinish) {
  ir::Program p = parse(3, "scratch x : f32[8]\ncounter c\n"
                           "blocks b in 0..2 {\n  opaque x[4*b : 4*b+4] <-\n  signal c\n}\n"
                           "blocks b in 2..3 {\n  wait c >= 2\n  opaque <- x\n}\n"
                           "blocks b in 0..3 { barrier }\n");
  ProgressResult r = analyzeProgress(p);
  EXPECT_TRUE(r.finished());
  EXPECT_FALSE(r.deadlock.has_value());
  EXPECT_EQ(r.executed, (std::vector<uint32_t>{3, 3, 3}));
  EXPECT_EQ(r.barrierCounts, (std::vector<uint32_t>{1, 1, 1}));
  EXPECT_TRUE(r.barriersMatch);
  EXPECT_EQ(r.order.size(), 9u);
  expectLinearExtension(p, r);
}

TEST(Progress, EmptyBlocksFinish) {
  ir::Program p = parse(2, "scratch x : f32[8]\nblocks b in 0..1 { opaque x <- }\n");
  ProgressResult r = analyzeProgress(p);
  EXPECT_TRUE(r.finished());
  EXPECT_EQ(r.executed, (std::vector<uint32_t>{1, 0}));
  EXPECT_EQ(r.barrierCounts, (std::vector<uint32_t>{0, 0}));
  EXPECT_TRUE(r.barriersMatch);
}

TEST(Progress, StuckWaitReportsFinalValueAndThreshold) {
  ir::Program p = parse(3, "counter c\n"
                           "blocks b in 0..2 { signal c + 2 }\n"
                           "blocks b in 2..3 {\n  wait c >= 5\n  signal c\n}\n");
  ProgressResult r = analyzeProgress(p);
  ASSERT_FALSE(r.finished());
  const DeadlockWitness &w = *r.deadlock;
  ASSERT_EQ(w.stuck.size(), 1u);
  const StuckBlock &s = w.stuck[0];
  EXPECT_EQ(s.at, (InstructionRef{2, 0}));
  EXPECT_FALSE(s.atBarrier);
  EXPECT_EQ(s.counter, 0u);
  EXPECT_EQ(s.counterIndex, 0);
  EXPECT_EQ(s.finalValue, 4u);
  EXPECT_EQ(s.threshold, 5u);
  // Its own later signal is the only one left: the wait waits for its own block.
  EXPECT_EQ(s.waitsFor, (std::vector<uint32_t>{2}));
  EXPECT_EQ(w.cycle, (std::vector<uint32_t>{2}));
  EXPECT_EQ(sorted(w.finished), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(r.executed, (std::vector<uint32_t>{1, 1, 0}));
  expectLinearExtension(p, r);
}

TEST(Progress, StuckWaitOnArrayElementNamesTheElement) {
  ir::Program p = parse(2, "counter a\ncounter c[3]\n"
                           "blocks b in 0..1 {\n  signal c[0]\n  signal c[2]\n}\n"
                           "blocks b in 1..2 {\n  wait c[2] >= 1\n  wait c[1] >= 1\n}\n");
  ProgressResult r = analyzeProgress(p);
  ASSERT_FALSE(r.finished());
  ASSERT_EQ(r.deadlock->stuck.size(), 1u);
  const StuckBlock &s = r.deadlock->stuck[0];
  EXPECT_EQ(s.at, (InstructionRef{1, 1}));
  EXPECT_EQ(s.counter, 1u);
  EXPECT_EQ(s.counterIndex, 1);
  EXPECT_EQ(s.finalValue, 0u);
  EXPECT_EQ(s.threshold, 1u);
  EXPECT_TRUE(s.waitsFor.empty()); // nobody still running signals c[1]
  EXPECT_TRUE(r.deadlock->cycle.empty());
  EXPECT_EQ(r.deadlock->finished, (std::vector<uint32_t>{0}));
}

TEST(Progress, WaitsForListsStuckBlocksHoldingASignal) {
  // Block 0 waits for c >= 3; block 3 signals c twice and finishes. Block 1 would signal c, but is
  // stuck on d first; block 2 would signal c and d, but is stuck on e (which nobody signals).
  ir::Program p = parse(4, "counter c\ncounter d\ncounter e\n"
                           "blocks b in 0..1 { wait c >= 3 }\n"
                           "blocks b in 1..2 {\n  wait d >= 1\n  signal c\n}\n"
                           "blocks b in 2..3 {\n  wait e >= 1\n  signal c\n  signal d\n}\n"
                           "blocks b in 3..4 {\n  signal c\n  signal c\n}\n");
  ProgressResult r = analyzeProgress(p);
  ASSERT_FALSE(r.finished());
  const DeadlockWitness &w = *r.deadlock;
  EXPECT_EQ(w.stuck.size(), 3u);
  EXPECT_EQ(w.finished, (std::vector<uint32_t>{3}));
  const StuckBlock *s0 = stuckAt(w, 0);
  ASSERT_NE(s0, nullptr);
  EXPECT_EQ(s0->finalValue, 2u);
  EXPECT_EQ(s0->threshold, 3u);
  EXPECT_EQ(sorted(s0->waitsFor), (std::vector<uint32_t>{1, 2}));
  const StuckBlock *s1 = stuckAt(w, 1);
  ASSERT_NE(s1, nullptr);
  EXPECT_EQ(s1->counter, 1u);
  EXPECT_EQ(s1->waitsFor, (std::vector<uint32_t>{2}));
  const StuckBlock *s2 = stuckAt(w, 2);
  ASSERT_NE(s2, nullptr);
  EXPECT_EQ(s2->counter, 2u);
  EXPECT_TRUE(s2->waitsFor.empty());
  EXPECT_TRUE(w.cycle.empty()) << "0 -> {1, 2}, 1 -> 2, 2 -> nothing: no cycle";
  expectLinearExtension(p, r);
}

TEST(Progress, TwoBlockWaitForCycle) {
  ir::Program p = parse(3, "counter a\ncounter b2\n"
                           "blocks b in 0..1 {\n  wait a >= 1\n  signal b2\n}\n"
                           "blocks b in 1..2 {\n  wait b2 >= 1\n  signal a\n}\n"
                           "blocks b in 2..3 { signal b2 }\n");
  // With block 2 signalling b2, block 1 passes and signals a, and block 0 passes: no deadlock.
  EXPECT_TRUE(analyzeProgress(p).finished());

  ir::Program q = parse(3, "counter a\ncounter b2\n"
                           "blocks b in 0..1 {\n  wait a >= 1\n  signal b2\n}\n"
                           "blocks b in 1..2 {\n  wait b2 >= 1\n  signal a\n}\n");
  ProgressResult r = analyzeProgress(q);
  ASSERT_FALSE(r.finished());
  const DeadlockWitness &w = *r.deadlock;
  EXPECT_EQ(w.stuck.size(), 2u);
  EXPECT_EQ(w.finished, (std::vector<uint32_t>{2}));
  EXPECT_EQ(stuckAt(w, 0)->waitsFor, (std::vector<uint32_t>{1}));
  EXPECT_EQ(stuckAt(w, 1)->waitsFor, (std::vector<uint32_t>{0}));
  ASSERT_EQ(w.cycle.size(), 2u);
  expectWaitForCycle(w, {0, 1});
  EXPECT_EQ(r.executed, (std::vector<uint32_t>{0, 0, 0}));
}

TEST(Progress, ThreeBlockWaitForCycle) {
  // The ring with the wait before the signal; block 3 is stuck too, waiting on block 0's counter,
  // but is not part of the cycle.
  ir::Program p = parse(4, "scratch g : f32[4, 8]\ncounter ready[4]\n"
                           "blocks b in 0..3 {\n  opaque g[b, :] <-\n  wait ready[(b+1)%3] >= 1\n"
                           "  signal ready[b]\n}\n"
                           "blocks b in 3..4 { wait ready[0] >= 1 }\n");
  ProgressResult r = analyzeProgress(p);
  ASSERT_FALSE(r.finished());
  const DeadlockWitness &w = *r.deadlock;
  EXPECT_EQ(w.stuck.size(), 4u);
  EXPECT_TRUE(w.finished.empty());
  for (uint32_t k = 0; k < 3; ++k) {
    const StuckBlock *s = stuckAt(w, k);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->at, (InstructionRef{k, 1}));
    EXPECT_EQ(s->counterIndex, (k + 1) % 3);
    EXPECT_EQ(s->waitsFor, (std::vector<uint32_t>{(k + 1) % 3}));
  }
  EXPECT_EQ(stuckAt(w, 3)->waitsFor, (std::vector<uint32_t>{0}));
  ASSERT_EQ(w.cycle.size(), 3u);
  expectWaitForCycle(w, {0, 1, 2});
  EXPECT_EQ(r.executed, (std::vector<uint32_t>{1, 1, 1, 0}));
  expectLinearExtension(p, r);
}

TEST(Progress, SelfWaitIsACycleOfOneBlock) {
  ir::Program q = parse(2, "counter c\ncounter other\n"
                           "blocks b in 0..1 {\n  wait c >= 1\n  signal c\n}\n"
                           "blocks b in 1..2 { signal other }\n");
  ProgressResult r = analyzeProgress(q);
  ASSERT_FALSE(r.finished());
  const DeadlockWitness &w = *r.deadlock;
  ASSERT_EQ(w.stuck.size(), 1u);
  EXPECT_EQ(w.stuck[0].waitsFor, (std::vector<uint32_t>{0}));
  EXPECT_EQ(w.cycle, (std::vector<uint32_t>{0}));
  EXPECT_EQ(w.finished, (std::vector<uint32_t>{1}));
}

TEST(Progress, RelaxedAndCtaSignalsCountTowardProgress) {
  ir::Program p = parse(3, "counter c\n"
                           "blocks b in 0..1 { signal.relaxed c }\n"
                           "blocks b in 1..2 { signal.cta c + 2 }\n"
                           "blocks b in 2..3 {\n  wait.relaxed c >= 3\n  wait.cta c >= 3\n  wait c >= 3\n}\n");
  ProgressResult r = analyzeProgress(p);
  EXPECT_TRUE(r.finished());
  expectLinearExtension(p, r);
}

TEST(Progress, BarrierMismatch) {
  // Blocks 0 and 1 reach a barrier that block 2 never reaches.
  ir::Program p = parse(3, "scratch x : f32[8]\n"
                           "blocks b in 0..3 { opaque x[b] <- }\n"
                           "blocks b in 0..2 {\n  barrier\n  opaque x[b+4] <-\n}\n");
  ProgressResult r = analyzeProgress(p);
  EXPECT_EQ(r.barrierCounts, (std::vector<uint32_t>{1, 1, 0}));
  EXPECT_FALSE(r.barriersMatch);
  ASSERT_FALSE(r.finished());
  const DeadlockWitness &w = *r.deadlock;
  ASSERT_EQ(w.stuck.size(), 2u);
  for (uint32_t k = 0; k < 2; ++k) {
    const StuckBlock *s = stuckAt(w, k);
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(s->atBarrier);
    EXPECT_EQ(s->at, (InstructionRef{k, 1}));
    EXPECT_EQ(s->barrierNumber, 0u);
    EXPECT_EQ(s->arrived, 2u);
    EXPECT_EQ(s->waitsFor, (std::vector<uint32_t>{2}));
  }
  EXPECT_EQ(w.finished, (std::vector<uint32_t>{2}));
  EXPECT_TRUE(w.cycle.empty());
  EXPECT_EQ(r.executed, (std::vector<uint32_t>{1, 1, 1}));
  expectLinearExtension(p, r);

  Verdict v = verify(p);
  std::set<Rule> rules;
  for (const Violation &violation : v.violations)
    rules.insert(violation.rule);
  // Every stuck block waits at a barrier: the deadlock is the mismatch itself, reported once as
  // AMK-V002 with the stuck blocks as its witness.
  EXPECT_EQ(rules, (std::set<Rule>{Rule::BarrierMismatch}));
  for (const Violation &violation : v.violations)
    if (violation.rule == Rule::BarrierMismatch) {
      ASSERT_TRUE(violation.barriers);
      EXPECT_EQ(violation.barriers->barrierCounts, (std::vector<uint32_t>{1, 1, 0}));
      ASSERT_TRUE(violation.deadlock);
      EXPECT_EQ(violation.deadlock->stuck.size(), 2u);
    }
}

TEST(Progress, BarrierMismatchWithABlockStuckAtAWaitIsAlsoADeadlock) {
  // Block 2 has no barrier and waits for a signal that block 0 sends only after the barrier.
  ir::Program p = parse(3, "counter c\n"
                           "blocks b in 0..2 { barrier }\n"
                           "blocks b in 0..1 { signal c }\n"
                           "blocks b in 2..3 { wait c >= 1 }\n");
  ProgressResult r = analyzeProgress(p);
  EXPECT_FALSE(r.barriersMatch);
  ASSERT_FALSE(r.finished());
  EXPECT_EQ(r.deadlock->stuck.size(), 3u);
  EXPECT_EQ(stuckAt(*r.deadlock, 2)->waitsFor, (std::vector<uint32_t>{0}));
  EXPECT_EQ(stuckAt(*r.deadlock, 0)->waitsFor, (std::vector<uint32_t>{2}));
  expectWaitForCycle(*r.deadlock, {0, 2});
  std::set<Rule> rules;
  for (const Violation &violation : verify(p).violations)
    rules.insert(violation.rule);
  EXPECT_EQ(rules, (std::set<Rule>{Rule::BarrierMismatch, Rule::Deadlock}));
}

TEST(Progress, SecondBarrierInASubsetOfBlocks) {
  // Everyone passes the first barrier; only blocks 1 and 2 reach a second one.
  ir::Program p = parse(4, "scratch x : f32[8]\n"
                           "blocks b in 0..4 {\n  opaque x[b] <-\n  barrier\n  opaque <- x\n}\n"
                           "blocks b in 1..3 {\n  barrier\n  opaque x[b+4] <-\n}\n");
  ProgressResult r = analyzeProgress(p);
  EXPECT_EQ(r.barrierCounts, (std::vector<uint32_t>{1, 2, 2, 1}));
  EXPECT_FALSE(r.barriersMatch);
  ASSERT_FALSE(r.finished());
  const DeadlockWitness &w = *r.deadlock;
  ASSERT_EQ(w.stuck.size(), 2u);
  for (uint32_t k : {1u, 2u}) {
    const StuckBlock *s = stuckAt(w, k);
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(s->atBarrier);
    EXPECT_EQ(s->at, (InstructionRef{k, 3}));
    EXPECT_EQ(s->barrierNumber, 1u);
    EXPECT_EQ(s->arrived, 2u);
    EXPECT_EQ(sorted(s->waitsFor), (std::vector<uint32_t>{0, 3}));
  }
  EXPECT_EQ(w.finished, (std::vector<uint32_t>{0, 3}));
  EXPECT_EQ(r.executed, (std::vector<uint32_t>{3, 3, 3, 3}));
  expectLinearExtension(p, r);
}

TEST(Progress, EqualBarrierCountsCanStillDeadlock) {
  // Same number of barriers, but block 1 reaches its barrier only after a wait that needs block 0
  // past the barrier: barriersMatch holds, and both blocks are stuck.
  ir::Program p = parse(2, "counter c\n"
                           "blocks b in 0..1 {\n  barrier\n  signal c\n}\n"
                           "blocks b in 1..2 {\n  wait c >= 1\n  barrier\n}\n");
  ProgressResult r = analyzeProgress(p);
  EXPECT_TRUE(r.barriersMatch);
  ASSERT_FALSE(r.finished());
  const DeadlockWitness &w = *r.deadlock;
  ASSERT_EQ(w.stuck.size(), 2u);
  EXPECT_TRUE(stuckAt(w, 0)->atBarrier);
  EXPECT_EQ(stuckAt(w, 0)->arrived, 1u);
  EXPECT_EQ(stuckAt(w, 0)->waitsFor, (std::vector<uint32_t>{1}));
  EXPECT_FALSE(stuckAt(w, 1)->atBarrier);
  EXPECT_EQ(stuckAt(w, 1)->waitsFor, (std::vector<uint32_t>{0}));
  expectWaitForCycle(w, {0, 1});
  std::set<Rule> rules;
  for (const Violation &violation : verify(p).violations)
    rules.insert(violation.rule);
  EXPECT_EQ(rules, (std::set<Rule>{Rule::Deadlock}));
}

TEST(Progress, MaximalExecutionIsALinearExtension) {
  // A pipeline over 4 blocks with barriers, exact counts, several counters and a relay.
  ir::Program p = parse(4, "scratch x : f32[4, 16]\nscratch y : f32[16]\ncounter c[4]\ncounter all\n"
                           "blocks b in 1..4 {\n  wait c[b-1] >= 1\n  opaque x[b, :] <- x[b-1, :]\n"
                           "  signal c[b]\n  signal all + 2\n}\n"
                           "blocks b in 0..1 {\n  opaque x[0, :] <-\n  signal c[0]\n  wait all >= 6\n}\n"
                           "blocks b in 0..4 { barrier }\n"
                           "blocks b in 0..4 {\n  opaque y[4*b : 4*b+4] <- x[b, :]\n  signal c[(b+1)%4] + 3\n"
                           "  wait c[b] >= 4\n  barrier\n  opaque <- y\n}\n");
  ProgressResult r = analyzeProgress(p);
  EXPECT_TRUE(r.finished());
  expectLinearExtension(p, r);
}

TEST(Progress, RandomProgramsGiveLinearExtensions) {
  std::mt19937 rng(20240611);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int deadlocked = 0;
  for (int n = 0; n < 200; ++n) {
    int blocks = pick(2, 5);
    std::string body = "scratch x : f32[16]\ncounter c[3]\n";
    int segments = pick(1, 3);
    for (int s = 0; s < segments; ++s) {
      for (int k = 0; k < blocks; ++k) {
        body += "blocks b in " + std::to_string(k) + ".." + std::to_string(k + 1) + " {\n";
        for (int i = pick(1, 4); i > 0; --i) {
          int kind = pick(0, 2);
          if (kind == 0)
            body += "  opaque x[" + std::to_string(pick(0, 15)) + "] <-\n";
          else if (kind == 1)
            body += "  signal c[" + std::to_string(pick(0, 2)) + "] + " + std::to_string(pick(1, 2)) + "\n";
          else
            body += "  wait c[" + std::to_string(pick(0, 2)) + "] >= " + std::to_string(pick(0, 3)) + "\n";
        }
        body += "}\n";
      }
      if (s + 1 < segments)
        body += "blocks b in 0.." + std::to_string(blocks - (pick(0, 9) == 0 ? 1 : 0)) + " { barrier }\n";
    }
    ir::Program p = parse(blocks, body);
    if (p.blockPrograms.empty())
      return;
    ProgressResult r = analyzeProgress(p);
    deadlocked += !r.finished();
    SCOPED_TRACE(body);
    expectLinearExtension(p, r);
    if (r.deadlock) {
      // Every unfinished block is reported exactly once, at its next instruction, which is a wait
      // that its counter does not satisfy or a barrier that not all blocks reach.
      std::set<uint32_t> reported;
      for (const StuckBlock &s : r.deadlock->stuck) {
        EXPECT_TRUE(reported.insert(s.at.block).second);
        EXPECT_EQ(s.at.index, r.executed[s.at.block]);
        if (!s.atBarrier) {
          EXPECT_LT(s.finalValue, s.threshold);
        } else {
          EXPECT_LT(s.arrived, static_cast<uint32_t>(blocks));
        }
      }
      for (uint32_t k : r.deadlock->finished) {
        EXPECT_EQ(r.executed[k], p.blockPrograms[k].size());
      }
      EXPECT_EQ(reported.size() + r.deadlock->finished.size(), static_cast<size_t>(blocks));
    } else {
      for (int k = 0; k < blocks; ++k) {
        EXPECT_EQ(r.executed[k], p.blockPrograms[k].size());
      }
    }
  }
  EXPECT_GT(deadlocked, 0);
  EXPECT_LT(deadlocked, 200);
}

TEST(Progress, CoResidency) {
  const std::string withWait = "counter c\nblocks b in 0..4 { signal c }\nblocks b in 0..1 { wait c >= 4 }\n";
  const std::string withBarrier = "blocks b in 0..4 { barrier }\n";
  const std::string withoutSync = "scratch x : f32[8]\ncounter c\nblocks b in 0..4 {\n  opaque x[2*b : 2*b+2] <-\n"
                                  "  signal c\n}\n";
  // 4 blocks on 2 SMs at occupancy 1: not all resident.
  EXPECT_TRUE(needsCoResidency(parse(4, withWait, 2, 1)));
  EXPECT_TRUE(needsCoResidency(parse(4, withBarrier, 2, 1)));
  EXPECT_FALSE(needsCoResidency(parse(4, withoutSync, 2, 1))) << "signals never block";
  // Occupancy 2 makes room for all 4; so do 4 SMs.
  EXPECT_FALSE(needsCoResidency(parse(4, withWait, 2, 2)));
  EXPECT_FALSE(needsCoResidency(parse(4, withBarrier, 4, 1)));
  EXPECT_TRUE(needsCoResidency(parse(4, withBarrier, 3, 1)));

  Verdict v = verify(parse(4, withWait, 2, 1));
  ASSERT_EQ(v.violations.size(), 1u);
  EXPECT_EQ(v.violations[0].rule, Rule::CoResidency);
  EXPECT_TRUE(verify(parse(4, withoutSync, 2, 1)).safe());
  EXPECT_TRUE(verify(parse(4, withWait, 2, 2)).safe());
}

} // namespace
} // namespace amk::checker
