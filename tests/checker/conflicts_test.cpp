// Footprint conflicts (findRaces and verify): which pairs of accesses of different blocks race, the
// overlap box, deduplication per source-instruction pair, the race cap, and the race witness.
#include "checker/conflicts.h"
#include "checker/happens_before.h"
#include "checker/progress.h"
#include "checker/verify.h"
#include "ir/frontend.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace amk::checker {
namespace {

ir::Program parse(int blocks, const std::string &body) {
  std::string text = "amkir 1\ntarget sm_90 sms=8\ngrid blocks=" + std::to_string(blocks) + " threads=128\n" + body;
  ir::Schedule schedule = ir::parseSchedule("conflicts.amkir", text);
  if (!schedule.program) {
    ADD_FAILURE() << "not well-formed:\n" << schedule.renderDiagnostics() << "\n" << text;
    return {};
  }
  return std::move(*schedule.program);
}

RaceSearch races(const ir::Program &program) {
  ProgressResult progress = analyzeProgress(program);
  HappensBefore hb(program, progress);
  return findRaces(program, progress, hb);
}

std::set<Rule> rules(const Verdict &v) {
  std::set<Rule> out;
  for (const Violation &violation : v.violations)
    out.insert(violation.rule);
  return out;
}

std::vector<const RaceWitness *> raceWitnesses(const Verdict &v) {
  std::vector<const RaceWitness *> out;
  for (const Violation &violation : v.violations)
    if (violation.rule == Rule::Race) {
      EXPECT_TRUE(violation.race.has_value());
      if (violation.race)
        out.push_back(&*violation.race);
    }
  return out;
}

ir::Region box(uint32_t buffer, std::vector<int64_t> lo, std::vector<int64_t> hi) {
  ir::Region r;
  r.buffer = buffer;
  r.lo = std::move(lo);
  r.hi = std::move(hi);
  return r;
}

TEST(Conflicts, DisjointTilesDoNotRace) {
  ir::Program p = parse(4, "scratch x : f32[16]\nblocks b in 0..4 {\n  opaque x[4*b : 4*b+4] <-\n"
                           "  opaque <- x[4*b : 4*b+4]\n}\n");
  RaceSearch r = races(p);
  EXPECT_TRUE(r.races.empty());
  EXPECT_EQ(r.accesses, 8u);
  EXPECT_TRUE(verify(p).safe());
}

TEST(Conflicts, OverlapByOneElementRaces) {
  ir::Program p = parse(2, "scratch x : f32[16]\n"
                           "blocks b in 0..1 { opaque x[0:5] <- }\n"
                           "blocks b in 1..2 { opaque x[4:8] <- }\n");
  RaceSearch r = races(p);
  ASSERT_EQ(r.races.size(), 1u);
  EXPECT_EQ(r.races[0].buffer, 0u);
  EXPECT_EQ(r.races[0].overlap.lo, (std::vector<int64_t>{4}));
  EXPECT_EQ(r.races[0].overlap.hi, (std::vector<int64_t>{5}));
  EXPECT_TRUE(r.races[0].firstWrites);
  EXPECT_TRUE(r.races[0].secondWrites);

  Verdict v = verify(p);
  EXPECT_EQ(rules(v), (std::set<Rule>{Rule::Race}));
  EXPECT_EQ(v.racesFound, 1u);
  auto witnesses = raceWitnesses(v);
  ASSERT_EQ(witnesses.size(), 1u);
  EXPECT_EQ(witnesses[0]->overlap.lo, (std::vector<int64_t>{4}));
  EXPECT_EQ(witnesses[0]->overlap.hi, (std::vector<int64_t>{5}));
  EXPECT_EQ(p.regionText(witnesses[0]->overlap), "x[4:5]");

  // Touching ends (x[0:4] and x[4:8]) do not overlap.
  EXPECT_TRUE(verify(parse(2, "scratch x : f32[16]\n"
                              "blocks b in 0..1 { opaque x[0:4] <- }\n"
                              "blocks b in 1..2 { opaque x[4:8] <- }\n"))
                  .safe());
}

TEST(Conflicts, MultiDimensionalBoxesMustOverlapInEveryDimension) {
  // Rows overlap (2:4), columns do not (0:4 vs 4:8): no race.
  ir::Program apart = parse(2, "scratch y : f32[8, 8]\nscratch z : f32[4]\n"
                               "blocks b in 0..1 { opaque y[0:4, 0:4] <- }\n"
                               "blocks b in 1..2 { opaque y[2:6, 4:8] <- }\n");
  EXPECT_TRUE(races(apart).races.empty());
  EXPECT_TRUE(verify(apart).safe());

  // Columns 3:8 overlap 0:4 in column 3: race on y[2:4, 3:4].
  ir::Program touching = parse(2, "scratch z : f32[4]\nscratch y : f32[8, 8]\n"
                                  "blocks b in 0..1 { opaque y[0:4, 0:4] <- }\n"
                                  "blocks b in 1..2 { opaque <- y[2:6, 3:8] }\n");
  RaceSearch r = races(touching);
  ASSERT_EQ(r.races.size(), 1u);
  EXPECT_EQ(r.races[0].buffer, 1u);
  EXPECT_EQ(r.races[0].overlap, box(1, {2, 3}, {4, 4}));
  EXPECT_EQ(touching.regionText(r.races[0].overlap), "y[2:4, 3:4]");

  // Three dimensions, points included: same row and plane, overlapping columns.
  ir::Program points = parse(3, "scratch t : f32[2, 4, 8]\n"
                                "blocks b in 0..1 { opaque t[1, 2, 0:5] <- }\n"
                                "blocks b in 1..2 { opaque t[1, 3, 0:8] <- }\n"
                                "blocks b in 2..3 { opaque <- t[1, 2:3, 4:8] }\n");
  RaceSearch pr = races(points);
  ASSERT_EQ(pr.races.size(), 1u);
  EXPECT_EQ(pr.races[0].overlap.lo, (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(pr.races[0].overlap.hi, (std::vector<int64_t>{2, 3, 5}));
  EXPECT_EQ(pr.races[0].first.block + pr.races[0].second.block, 2u) << "blocks 0 and 2";
}

TEST(Conflicts, ReadsNeverConflictWithReads) {
  ir::Program p = parse(3, "scratch x : f32[16]\noutput y : f32[3]\n"
                           "blocks b in 0..3 {\n  opaque y[b] <- x\n  opaque <- x[b : b+8]\n}\n");
  RaceSearch r = races(p);
  EXPECT_TRUE(r.races.empty());
  // Only the three unordered pairs of writes to y are examined (disjoint), never two reads of x.
  EXPECT_EQ(r.pairsChecked, 3u) << "reads are compared with writes only";
  EXPECT_TRUE(verify(p).safe());
}

TEST(Conflicts, ParamsAndInputsNeverRace) {
  ir::Program p = parse(3, "param w : f32[16]\ninput i : i32[1]\nscratch x : f32[3]\n"
                           "blocks b in 0..3 { opaque x[b] <- w, i, w[b : b+4] }\n");
  RaceSearch r = races(p);
  EXPECT_TRUE(r.races.empty());
  EXPECT_EQ(r.accesses, 3u) << "only the writes of x are accesses";
  EXPECT_TRUE(verify(p).safe());
}

TEST(Conflicts, OutputsAndStateRaceLikeScratch) {
  ir::Program p = parse(2, "output o : f32[4]\nstate s : f32[4]\n"
                           "blocks b in 0..2 {\n  opaque o[b : b+2] <-\n  opaque <- s\n}\n"
                           "blocks b in 1..2 { opaque s[3] <- }\n");
  Verdict v = verify(p);
  EXPECT_EQ(rules(v), (std::set<Rule>{Rule::Race}));
  EXPECT_EQ(v.racesFound, 2u) << "o[1:2] (written by both) and s[3] (read by block 0, written by block 1)";
}

TEST(Conflicts, WriteWriteRace) {
  ir::Program p = parse(2, "scratch x : f32[8]\ncounter c\n"
                           "blocks b in 0..2 {\n  opaque x[0:4] <-\n  signal c\n}\n");
  Verdict v = verify(p);
  auto witnesses = raceWitnesses(v);
  ASSERT_EQ(witnesses.size(), 1u);
  EXPECT_TRUE(witnesses[0]->firstWrites);
  EXPECT_TRUE(witnesses[0]->secondWrites);
  EXPECT_NE(witnesses[0]->first.block, witnesses[0]->second.block);
  EXPECT_EQ(witnesses[0]->first.index, 0u);
  EXPECT_EQ(witnesses[0]->second.index, 0u);
  EXPECT_EQ(witnesses[0]->overlap, box(0, {0}, {4}));
}

TEST(Conflicts, ReadModifyWriteRacesWithAnotherBlocksRead) {
  // An opaque whose output equals its input exactly (allowed) in block 0; block 1 reads it.
  ir::Program p = parse(2, "scratch x : f32[8]\n"
                           "blocks b in 0..1 { opaque x[0:4] <- x[0:4] }\n"
                           "blocks b in 1..2 { opaque <- x[3:8] }\n");
  RaceSearch r = races(p);
  ASSERT_EQ(r.races.size(), 1u);
  EXPECT_EQ(r.races[0].overlap, box(0, {3}, {4}));
}

TEST(Conflicts, RacesAreDeduplicatedPerSourceInstructionPair) {
  // One source line writes x in all 4 blocks: 6 racing block pairs, one source pair.
  ir::Program same = parse(4, "scratch x : f32[8]\nblocks b in 0..4 { opaque x <- }\n");
  RaceSearch r = races(same);
  EXPECT_EQ(r.races.size(), 1u);
  EXPECT_EQ(r.pairsChecked, 6u) << "every overlapping pair is checked";
  Verdict v = verify(same);
  EXPECT_EQ(v.racesFound, 1u);
  EXPECT_EQ(raceWitnesses(v).size(), 1u);

  // Writers (one line, disjoint tiles) against a reader line in every block: one pair of lines.
  ir::Program lines =
      parse(4, "scratch x : f32[8]\nblocks b in 0..4 {\n  opaque x[2*b : 2*b+2] <-\n  opaque <- x\n}\n");
  EXPECT_EQ(races(lines).races.size(), 1u);
  EXPECT_EQ(verify(lines).racesFound, 1u);

  // The same pair of lines racing on two buffers is still one pair.
  ir::Program twoBuffers =
      parse(2, "scratch x : f32[8]\nscratch y : f32[8]\nblocks b in 0..2 { opaque x[b], y[b] <- x[1-b], y[1-b] }\n");
  EXPECT_EQ(verify(twoBuffers).racesFound, 1u);

  // A loop unrolled in one section: each iteration is the same source line.
  ir::Program loop =
      parse(2, "scratch x : f32[8]\nblocks b in 0..2 {\n  for i in 0..4 {\n    opaque x[2*i : 2*i+2] <-\n"
               "  }\n}\n");
  EXPECT_EQ(verify(loop).racesFound, 1u);
}

TEST(Conflicts, RacesFoundCountsAllWhileMaxRacesCapsTheViolations) {
  // Five writer lines in block 0, one reader line in block 1: five distinct pairs of lines.
  ir::Program p = parse(2, "scratch x : f32[8]\n"
                           "blocks b in 0..1 {\n  opaque x[0] <-\n  opaque x[1] <-\n  opaque x[2] <-\n"
                           "  opaque x[3] <-\n  opaque x[4] <-\n}\n"
                           "blocks b in 1..2 { opaque <- x }\n");
  Verdict all = verify(p);
  EXPECT_EQ(all.racesFound, 5u);
  EXPECT_EQ(raceWitnesses(all).size(), 5u);

  Options capped;
  capped.maxRaces = 2;
  Verdict two = verify(p, capped);
  EXPECT_EQ(two.racesFound, 5u);
  EXPECT_EQ(raceWitnesses(two).size(), 2u);
  EXPECT_EQ(two.violations.size(), 2u);

  // A cap of 0 may show no race or one, but must never certify the schedule (a false accept).
  capped.maxRaces = 0;
  Verdict none = verify(p, capped);
  EXPECT_EQ(none.racesFound, 5u);
  EXPECT_LE(raceWitnesses(none).size(), 1u);
  EXPECT_FALSE(none.safe()) << "a schedule with races must not be reported safe when the cap hides races";
}

TEST(Conflicts, ManyAccessesFindEveryOverlap) {
  // One long write against many short reads spread along the buffer, more than the sweep's
  // compaction interval: every reader that overlaps it races (each is its own line pair here).
  std::string body = "scratch x : f32[200]\nblocks b in 0..1 { opaque x[50:150] <- }\nblocks b in 1..2 {\n";
  for (int i = 0; i < 100; ++i)
    body += "  opaque <- x[" + std::to_string(2 * i) + ":" + std::to_string(2 * i + 2) + "]\n";
  body += "}\n";
  ir::Program p = parse(2, body);
  RaceSearch r = races(p);
  EXPECT_EQ(r.races.size(), 50u);
  for (const RaceWitness &w : r.races) {
    EXPECT_GE(w.overlap.lo[0], 50);
    EXPECT_LE(w.overlap.hi[0], 150);
    EXPECT_EQ(w.overlap.hi[0] - w.overlap.lo[0], 2);
  }
}

TEST(Conflicts, OrderedAccessesDoNotRace) {
  ir::Program synced = parse(2, "scratch x : f32[8]\ncounter c\n"
                                "blocks b in 0..1 {\n  opaque x <-\n  signal c\n}\n"
                                "blocks b in 1..2 {\n  wait c >= 1\n  opaque x <- x\n}\n");
  EXPECT_TRUE(verify(synced).safe());
  ir::Program barrier = parse(3, "scratch x : f32[8]\n"
                                 "blocks b in 0..3 {\n  opaque x[b] <-\n  barrier\n  opaque x[b+3] <- x[0:3]\n}\n");
  EXPECT_TRUE(verify(barrier).safe());
}

TEST(Conflicts, WitnessNamesTheAccessesAndWhyRelaxed) {
  ir::Program p = parse(2, "scratch x : f32[8]\ncounter c\n"
                           "blocks b in 0..1 {\n  opaque x[0:4] <-\n  signal.relaxed c\n}\n"
                           "blocks b in 1..2 {\n  wait c >= 1\n  opaque <- x[2:8]\n}\n");
  Verdict v = verify(p);
  EXPECT_EQ(rules(v), (std::set<Rule>{Rule::Race}));
  auto witnesses = raceWitnesses(v);
  ASSERT_EQ(witnesses.size(), 1u);
  const RaceWitness &w = *witnesses[0];
  EXPECT_EQ(w.first, (InstructionRef{0, 0})) << "the write comes first in the maximal execution";
  EXPECT_EQ(w.second, (InstructionRef{1, 1}));
  EXPECT_TRUE(w.firstWrites);
  EXPECT_FALSE(w.secondWrites);
  EXPECT_EQ(w.buffer, 0u);
  EXPECT_EQ(w.overlap, box(0, {2}, {4}));
  ASSERT_TRUE(w.nearSignal.has_value());
  ASSERT_TRUE(w.nearWait.has_value());
  EXPECT_EQ(*w.nearSignal, (InstructionRef{0, 1}));
  EXPECT_EQ(*w.nearWait, (InstructionRef{1, 0}));
  EXPECT_NE(w.why.find("relaxed"), std::string::npos) << w.why;
  // It names the signal and the wait that look as if they order the accesses.
  EXPECT_NE(w.why.find("signal.relaxed c"), std::string::npos) << w.why;
  EXPECT_NE(w.why.find("wait c >= 1"), std::string::npos) << w.why;
  EXPECT_FALSE(v.execution.empty()) << "unsafe verdicts keep the maximal execution";
}

TEST(Conflicts, WitnessWhyForARelaxedWait) {
  ir::Program p = parse(2, "scratch x : f32[8]\ncounter c\n"
                           "blocks b in 0..1 {\n  opaque x <-\n  signal c\n}\n"
                           "blocks b in 1..2 {\n  wait.relaxed c >= 1\n  opaque <- x\n}\n");
  auto witnesses = raceWitnesses(verify(p));
  ASSERT_EQ(witnesses.size(), 1u);
  ASSERT_TRUE(witnesses[0]->nearWait.has_value());
  EXPECT_NE(witnesses[0]->why.find("relaxed"), std::string::npos) << witnesses[0]->why;
}

TEST(Conflicts, WitnessWhyForCtaScope) {
  ir::Program p = parse(2, "scratch x : f32[8]\ncounter c\n"
                           "blocks b in 0..1 {\n  opaque x <-\n  signal.cta c\n}\n"
                           "blocks b in 1..2 {\n  wait c >= 1\n  opaque <- x\n}\n");
  auto witnesses = raceWitnesses(verify(p));
  ASSERT_EQ(witnesses.size(), 1u);
  EXPECT_NE(witnesses[0]->why.find(".cta"), std::string::npos) << witnesses[0]->why;
}

TEST(Conflicts, WitnessWhyForAThresholdTooLow) {
  // Two producer lines (so two pairs of lines race), a consumer waiting for one signal of two.
  ir::Program p = parse(3, "scratch x : f32[8]\ncounter c\n"
                           "blocks b in 0..1 {\n  opaque x[0:4] <-\n  signal c\n}\n"
                           "blocks b in 1..2 {\n  opaque x[4:8] <-\n  signal c\n}\n"
                           "blocks b in 2..3 {\n  wait c >= 1\n  opaque <- x\n}\n");
  Verdict v = verify(p);
  auto witnesses = raceWitnesses(v);
  ASSERT_EQ(witnesses.size(), 2u);
  for (const RaceWitness *w : witnesses) {
    ASSERT_TRUE(w->nearSignal.has_value());
    ASSERT_TRUE(w->nearWait.has_value());
    EXPECT_EQ(*w->nearWait, (InstructionRef{2, 0}));
    EXPECT_EQ(w->nearSignal->block, w->first.block == 2 ? w->second.block : w->first.block);
    EXPECT_NE(w->why.find("can pass without the signal of block " + std::to_string(w->nearSignal->block)),
              std::string::npos)
        << w->why;
    EXPECT_EQ(w->why.find("relaxed"), std::string::npos) << w->why;
    EXPECT_NE(w->why.find("wait c >= 1"), std::string::npos) << w->why;
  }
}

TEST(Conflicts, WitnessWhyWithoutAnySynchronisation) {
  ir::Program p = parse(2, "scratch x : f32[8]\nblocks b in 0..1 { opaque x <- }\nblocks b in 1..2 { opaque <- x }\n");
  auto witnesses = raceWitnesses(verify(p));
  ASSERT_EQ(witnesses.size(), 1u);
  EXPECT_FALSE(witnesses[0]->nearSignal.has_value());
  EXPECT_FALSE(witnesses[0]->nearWait.has_value());
  EXPECT_FALSE(witnesses[0]->why.empty());
}

TEST(Conflicts, RacesAmongExecutedInstructionsOfADeadlockedSchedule) {
  // Block 1 never gets past its wait, so its later write never runs and cannot race; its earlier
  // write does.
  ir::Program p = parse(2, "scratch x : f32[8]\ncounter c\n"
                           "blocks b in 0..1 { opaque x[0:4] <- }\n"
                           "blocks b in 1..2 {\n  opaque x[2:3] <-\n  wait c >= 1\n  opaque x[0:8] <-\n}\n");
  Verdict v = verify(p);
  EXPECT_EQ(rules(v), (std::set<Rule>{Rule::Deadlock, Rule::Race}));
  EXPECT_EQ(v.racesFound, 1u);
  auto witnesses = raceWitnesses(v);
  ASSERT_EQ(witnesses.size(), 1u);
  EXPECT_EQ(witnesses[0]->overlap, box(0, {2}, {3}));
}

TEST(Conflicts, IntersectionOfBoxes) {
  ir::Region a = box(2, {0, 4, 1}, {3, 8, 2});
  a.pointDims = 4;
  ir::Region b = box(2, {2, 0, 1}, {6, 5, 2});
  ir::Region i = intersection(a, b);
  EXPECT_EQ(i.buffer, 2u);
  EXPECT_EQ(i.lo, (std::vector<int64_t>{2, 4, 1}));
  EXPECT_EQ(i.hi, (std::vector<int64_t>{3, 5, 2}));
  EXPECT_TRUE(a.overlaps(b));
  EXPECT_FALSE(a.overlaps(box(2, {3, 0, 0}, {4, 8, 4})));
  EXPECT_FALSE(a.overlaps(box(1, {0, 4, 1}, {3, 8, 2}))) << "other buffer";
}

} // namespace
} // namespace amk::checker
