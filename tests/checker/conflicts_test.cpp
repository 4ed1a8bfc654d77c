// Footprint conflicts (findRaces and verify): which pairs of accesses of different blocks race, the
// overlap box, deduplication per source-instruction pair, the race cap, and the race witness.
#include "amk/checker/conflicts.h"
#include "amk/checker/happens_before.h"
#include "amk/checker/progress.h"
#include "amk/checker/verify.h"
#include "amk/ir/frontend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace amk::checker {
namespace {

ir::Program parse(int blocks, const std::string &body, int sms = 8) {
  std::string text = "amkir 1\ntarget sm_90 sms=" + std::to_string(sms) + "\ngrid blocks=" + std::to_string(blocks) +
                     " threads=128\n" + body;
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
  // Reads of x are never compared with reads, and the three unordered writes of y are disjoint
  // tiles, which the index never puts side by side.
  EXPECT_EQ(r.candidates, 0u) << "reads are compared with writes only, disjoint tiles not at all";
  EXPECT_EQ(r.pairsChecked, 0u);
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

// ---------------------------------------------------------------------------------------------
// The race search's index (per buffer, a sweep in the maximal execution's order with an interval
// index on one key dimension and the happens-before window of each access) against an all-pairs
// reference: every pair of accesses of different blocks, one writing, unordered, whose boxes
// overlap, deduplicated by source-instruction pair keeping the first in the order buffer, higher
// block, its access, lower block, its access. The two must give the same witnesses in the same order.

struct AllPairs {
  std::vector<RaceWitness> races;
  size_t unorderedPairs = 0; // pairs of different blocks, one writing, not ordered (overlapping or not)
};

AllPairs allPairs(const ir::Program &program) {
  ProgressResult progress = analyzeProgress(program);
  HappensBefore hb(program, progress);
  const uint32_t blocks = static_cast<uint32_t>(progress.executed.size());
  struct Access {
    InstructionRef at;
    bool write;
    const ir::Region *region;
  };
  std::vector<std::vector<std::vector<Access>>> lists(program.buffers.size(), std::vector<std::vector<Access>>(blocks));
  for (uint32_t k = 0; k < blocks; ++k)
    for (uint32_t i = 0; i < progress.executed[k]; ++i) {
      const ir::Instruction &instruction = program.blockPrograms[k][i];
      if (instruction.kind != ir::InstructionKind::Task)
        continue;
      for (const ir::Region &r : instruction.outputs)
        lists[r.buffer][k].push_back({{k, i}, true, &r});
      for (const ir::Region &r : instruction.inputs)
        if (!program.buffers[r.buffer].readOnly())
          lists[r.buffer][k].push_back({{k, i}, false, &r});
    }
  std::vector<std::vector<size_t>> position(blocks);
  for (uint32_t k = 0; k < blocks; ++k)
    position[k].resize(progress.executed[k]);
  for (size_t p = 0; p < progress.order.size(); ++p)
    position[progress.order[p].block][progress.order[p].index] = p;
  AllPairs out;
  std::set<std::pair<uint32_t, uint32_t>> seen;
  for (const auto &perBlock : lists)
    for (uint32_t kb = 0; kb < blocks; ++kb)
      for (const Access &b : perBlock[kb])
        for (uint32_t ka = 0; ka < kb; ++ka)
          for (const Access &a : perBlock[ka]) {
            if (!a.write && !b.write)
              continue;
            if (hb.ordered(a.at, b.at) || hb.ordered(b.at, a.at))
              continue;
            ++out.unorderedPairs;
            if (!a.region->overlaps(*b.region))
              continue;
            uint32_t sa = program.blockPrograms[ka][a.at.index].site, sb = program.blockPrograms[kb][b.at.index].site;
            if (!seen.insert({std::min(sa, sb), std::max(sa, sb)}).second)
              continue;
            bool aFirst = position[ka][a.at.index] < position[kb][b.at.index];
            const Access &first = aFirst ? a : b, &second = aFirst ? b : a;
            RaceWitness w;
            w.first = first.at;
            w.second = second.at;
            w.firstWrites = first.write;
            w.secondWrites = second.write;
            w.buffer = a.region->buffer;
            w.overlap = intersection(*a.region, *b.region);
            out.races.push_back(w);
          }
  return out;
}

std::string describe(const ir::Program &p, const RaceWitness &w) {
  return "block " + std::to_string(w.first.block) + " #" + std::to_string(w.first.index) + " and block " +
         std::to_string(w.second.block) + " #" + std::to_string(w.second.index) + " on " + p.regionText(w.overlap);
}

// Expects the search to report exactly the reference's witnesses, in the same order.
void expectSameAsAllPairs(const ir::Program &p, const std::string &context) {
  RaceSearch search = races(p);
  AllPairs reference = allPairs(p);
  ASSERT_EQ(search.races.size(), reference.races.size()) << context;
  for (size_t r = 0; r < search.races.size(); ++r) {
    const RaceWitness &x = search.races[r], &y = reference.races[r];
    EXPECT_TRUE(x.first == y.first && x.second == y.second && x.firstWrites == y.firstWrites &&
                x.secondWrites == y.secondWrites && x.buffer == y.buffer && x.overlap == y.overlap)
        << context << "\nrace " << r << ": index " << describe(p, x) << ", all pairs " << describe(p, y);
  }
  EXPECT_LE(search.pairsChecked, reference.unorderedPairs) << context;
}

// 16 blocks, 24 tiles of 4 elements each, interleaved (tile 16*i+b belongs to block b): every block
// writes its tiles and then reads them back, all in one phase, with no synchronisation at all.
std::string interleavedTiles(const std::string &before, const std::string &after) {
  return "scratch x : f32[1536]\n" + before +
         "blocks b in 0..16 {\n"
         "  for i in 0..24 {\n"
         "    opaque x[4*(16*i+b) : 4*(16*i+b)+4] <-\n"
         "  }\n"
         "  for i in 0..24 {\n"
         "    opaque <- x[4*(16*i+b) : 4*(16*i+b)+4]\n"
         "  }\n"
         "}\n" +
         after;
}

TEST(ConflictIndex, ManyDisjointTilesInOnePhaseDoNotRace) {
  ir::Program p = parse(16, interleavedTiles("", ""));
  RaceSearch r = races(p);
  EXPECT_TRUE(r.races.empty());
  EXPECT_EQ(r.accesses, 16u * 48u);
  // Every pair of accesses of two blocks with a write is unordered (about 200k pairs); the index
  // puts none of them side by side, since no two tiles of different blocks meet.
  EXPECT_GT(allPairs(p).unorderedPairs, 200000u);
  EXPECT_EQ(r.candidates, 0u);
  EXPECT_EQ(r.pairsChecked, 0u);
  EXPECT_TRUE(verify(p).safe());
}

TEST(ConflictIndex, AnOffByOneOverlapAmongManyTilesIsFound) {
  // Tile 16*10+8 (block 8) starts at 672; block 7 writes x[671:673], one element into it. The
  // extra line goes before the tiles in one variant and after them in the other, so the racing
  // pair is met from either side of the sweep.
  const std::string extra = "blocks b in 7..8 { opaque x[671:673] <- }\n";
  for (bool before : {false, true}) {
    std::string text = before ? interleavedTiles(extra, "") : interleavedTiles("", extra);
    ir::Program p = parse(16, text);
    RaceSearch r = races(p);
    ASSERT_EQ(r.races.size(), 2u) << "block 8 writes the element and reads it back: two pairs of lines\n" << text;
    for (const RaceWitness &w : r.races) {
      EXPECT_EQ(w.overlap, box(0, {672}, {673})) << describe(p, w);
      EXPECT_EQ(std::min(w.first.block, w.second.block), 7u);
      EXPECT_EQ(std::max(w.first.block, w.second.block), 8u);
    }
    EXPECT_TRUE(r.races[0].firstWrites && r.races[0].secondWrites) << "the write of block 8 comes first";
    EXPECT_LE(r.candidates, 4u) << "only the tiles that meet x[671:673]";
    expectSameAsAllPairs(p, text);
    Verdict v = verify(p);
    EXPECT_EQ(v.racesFound, 2u);
  }
}

TEST(ConflictIndex, BoxesThatMeetInTheKeyDimensionOnlyDoNotRace) {
  // First phase: each block writes 4 single rows of v (narrow in dimension 0, whole in dimension
  // 1), so dimension 0 is the key. After the barrier each block writes a column tile spanning
  // rows 0:40: every pair meets in dimension 0, none in dimension 1.
  const std::string columns = "scratch v : f32[64, 64]\n"
                              "blocks b in 0..16 {\n"
                              "  for i in 0..4 {\n"
                              "    opaque v[16*i+b, :] <-\n"
                              "  }\n"
                              "  barrier\n"
                              "  opaque v[b : b+40, 4*b : 4*b+4] <-\n"
                              "}\n";
  ir::Program apart = parse(16, columns, 16);
  RaceSearch r = races(apart);
  EXPECT_TRUE(r.races.empty());
  EXPECT_EQ(r.pairsChecked, 16u * 15u / 2u)
      << "every pair of column tiles meets in the key dimension and is compared as a whole box";
  EXPECT_EQ(r.candidates, r.pairsChecked) << "the rows before the barrier are outside every window";
  expectSameAsAllPairs(apart, columns);
  EXPECT_TRUE(verify(apart).safe());

  // Block 9 reaches one column too far, into block 10's columns 40:44, at rows 9:49 and 10:50.
  const std::string over = "blocks b in 9..10 { opaque <- v[20:21, 39:41] }\n";
  ir::Program oneColumn = parse(16, columns + over, 16);
  RaceSearch o = races(oneColumn);
  ASSERT_EQ(o.races.size(), 1u);
  EXPECT_EQ(o.races[0].overlap, box(0, {20, 40}, {21, 41}));
  EXPECT_EQ(std::min(o.races[0].first.block, o.races[0].second.block), 9u);
  EXPECT_EQ(std::max(o.races[0].first.block, o.races[0].second.block), 10u);
  expectSameAsAllPairs(oneColumn, columns + over);

  // Three dimensions: planes and rows shared by all, the last dimension split between blocks.
  const std::string planes = "state t : f32[4, 4, 64]\n"
                             "blocks b in 0..16 {\n"
                             "  opaque t[:, 1:4, 4*b : 4*b+4] <-\n"
                             "  opaque <- t[1:3, :, 4*b : 4*b+4]\n"
                             "}\n"
                             "blocks b in 3..4 { opaque <- t[2, 2, 16] }\n";
  ir::Program deep = parse(16, planes);
  RaceSearch d = races(deep);
  ASSERT_EQ(d.races.size(), 1u) << "block 3 reads element 16, written by block 4";
  EXPECT_EQ(d.races[0].overlap, box(0, {2, 2, 16}, {3, 3, 17}));
  expectSameAsAllPairs(deep, planes);
}

TEST(ConflictIndex, AccessesOrderedByEarlierPhasesAreNotCompared) {
  // Tiles, then every block reads the whole buffer, then tiles again: every read meets every
  // write, but a barrier (or an all-to-all counter) orders each phase after the one before.
  for (const std::string sync : {"barrier", "signal c\n  wait c >= 8"}) {
    const std::string text = "scratch x : f32[64]\ncounter c\n"
                             "blocks b in 0..8 {\n"
                             "  opaque x[8*b : 8*b+8] <-\n  " +
                             sync + "\n  opaque <- x\n" + (sync == "barrier" ? "  barrier\n" : "") +
                             "  opaque x[8*(7-b) : 8*(7-b)+8] <-\n"
                             "}\n";
    ir::Program p = parse(8, text);
    RaceSearch r = races(p);
    if (sync == "barrier") {
      EXPECT_TRUE(r.races.empty()) << text;
      EXPECT_EQ(r.candidates, 0u) << text;
    } else {
      // Without the second barrier the last tiles race with other blocks' whole reads: found, and
      // only those pairs are compared.
      EXPECT_EQ(r.races.size(), 1u) << text;
      EXPECT_EQ(r.candidates, 8u * 7u) << text;
    }
    expectSameAsAllPairs(p, text);
  }
}

TEST(ConflictIndex, SparseAndRarelyTouchedBuffersAreStillExact) {
  // 6004 instructions: the key dimension of a buffer is judged on every second one, which misses
  // `big` (touched at positions 3001 and 6003 only), and big's coordinates are a million apart
  // (searched, not tabled). Block 1 runs first in the maximal execution.
  const std::string text = "scratch s : f32[8000]\nscratch big : f32[4, 2000000]\n"
                           "blocks b in 0..2 {\n  for i in 0..3001 {\n    opaque s[4000*b+i] <-\n  }\n}\n"
                           "blocks b in 0..1 { opaque big[1, 999999:1000001], big[2, 0:1] <- }\n"
                           "blocks b in 1..2 { opaque <- big[0:2, 1000000:1000002], big[1, 999998:999999] }\n";
  ir::Program p = parse(2, text);
  ASSERT_EQ(p.instructionCount(), 6004u);
  RaceSearch r = races(p);
  ASSERT_EQ(r.races.size(), 1u);
  EXPECT_EQ(r.races[0].overlap, box(1, {1, 1000000}, {2, 1000001}));
  EXPECT_EQ(r.races[0].first, (InstructionRef{1, 3001})) << "block 1 runs first";
  EXPECT_EQ(r.races[0].second, (InstructionRef{0, 3001}));
  EXPECT_EQ(r.candidates, 1u) << "only the pair that meets in big's key dimension; the touching one is not compared";
  expectSameAsAllPairs(p, text);
}

// Block 7 runs first in the maximal execution and on its own (its `extra`), then signals a counter
// that nobody waits for: nothing it does happens before anything of the other blocks. Blocks 0-6 go
// through 24 phases: write a tile of x, y and z (z[0:56]), all-to-all counter, read the whole of x
// and y, all-to-all counter; then `last`.
std::string farBehind(const std::string &extra, const std::string &last = "") {
  return "scratch x : f32[56]\nscratch y : f32[700]\nscratch own : f32[8]\nscratch z : f32[64]\n"
         "counter c[48]\ncounter done\n"
         "blocks b in 7..8 {\n  opaque own <-\n" +
         extra +
         "  signal done\n}\n"
         "blocks b in 0..7 {\n"
         "  for p in 0..24 {\n"
         "    opaque x[8*b : 8*b+8], y[8*b : 8*b+8], z[8*b : 8*b+8] <-\n"
         "    signal c[2*p]\n    wait c[2*p] >= 7\n"
         "    opaque <- x, y[0:56]\n"
         "    signal c[2*p+1]\n    wait c[2*p+1] >= 7\n"
         "  }\n" +
         last + "}\n";
}

TEST(ConflictIndex, ABlockFarBehindDoesNotStretchEveryWindow) {
  // Without care every window would reach back to block 7's first instruction, and each whole read
  // would meet every tile written in every earlier phase (thousands of ordered pairs).
  const std::string alone = farBehind("");
  ir::Program p = parse(8, alone);
  RaceSearch r = races(p);
  EXPECT_TRUE(r.races.empty());
  EXPECT_LT(r.candidates, 400u) << "about 300 in the first phases, before block 7 counts as far behind (7200 if every "
                                   "window reached back to block 7)";
  expectSameAsAllPairs(p, alone);

  // Block 7 also writes x[3], which races with block 0's tiles and with every whole read, and
  // z[58], which only block 2's last instruction touches, long after block 7 counts as far behind
  // and among many accesses of z: all found, block 7's accesses being compared on their own.
  const std::string racing = farBehind("  opaque x[3], z[58] <-\n", "  opaque z[56+b] <-\n");
  ir::Program q = parse(8, racing);
  RaceSearch rq = races(q);
  ASSERT_EQ(rq.races.size(), 3u) << "x[3] against the tile line and the whole-read line; z[58]";
  for (const RaceWitness &w : rq.races)
    EXPECT_EQ(w.first, (InstructionRef{7, 1})) << "block 7 runs first";
  EXPECT_EQ(rq.races[0].overlap, box(0, {3}, {4}));
  EXPECT_EQ(rq.races[2].overlap, box(3, {58}, {59}));
  EXPECT_EQ(rq.races[2].second, (InstructionRef{2, 24 * 6}));
  expectSameAsAllPairs(q, racing);

  // With many accesses of y (more than are worth comparing one by one), block 7 bounds y's
  // windows again: slower, still exact.
  const std::string busy = farBehind("  for i in 0..100 {\n    opaque y[500+i] <-\n  }\n  opaque y[40] <-\n");
  ir::Program z = parse(8, busy);
  RaceSearch rz = races(z);
  ASSERT_EQ(rz.races.size(), 2u) << "y[40] against block 5's tiles and the whole reads";
  expectSameAsAllPairs(z, busy);
}

// Random schedules for the comparison: 2-8 blocks; one to three buffers of rank 1-3 (scratch,
// state, output) and sometimes a param; phases of shared sections (every block, regions tiled by
// the block id or the loop variable, sometimes a barrier) or per-block sections; tasks on random
// boxes (whole buffer, points, slices, tiles that may overlap their neighbours by a little);
// plain, relaxed and .cta signals and waits on a few counters, with thresholds that may hold,
// hold only for some executions, or never hold (deadlocks leave accesses unexecuted).
class RandomSchedule {
public:
  explicit RandomSchedule(uint64_t seed) : rng_(seed) {}

  std::string text() {
    blocks_ = between(2, 8);
    std::string out;
    const int buffers = between(1, 3);
    const char *kinds[] = {"scratch", "scratch", "state", "output"};
    for (int n = 0; n < buffers; ++n) {
      std::vector<int64_t> shape;
      switch (between(1, 3)) {
      case 1:
        shape = {between(8, 64)};
        break;
      case 2:
        shape = {between(2, 6), between(8, 32)};
        break;
      default:
        shape = {between(2, 3), between(2, 4), between(8, 16)};
      }
      shapes_.push_back(shape);
      out += std::string(kinds[between(0, 3)]) + " x" + std::to_string(n) + " : f32[";
      for (size_t d = 0; d < shape.size(); ++d)
        out += (d ? ", " : "") + std::to_string(shape[d]);
      out += "]\n";
    }
    if (chance(30)) {
      shapes_.push_back({16});
      readOnly_ = static_cast<int>(shapes_.size()) - 1;
      out += "param x" + std::to_string(readOnly_) + " : f32[16]\n";
    }
    out += "counter c[3]\ncounter d\n";
    for (int phases = between(2, 5); phases > 0; --phases) {
      if (chance(50)) {
        out += "blocks b in 0.." + std::to_string(blocks_) + " {\n";
        for (int n = between(1, 4); n > 0; --n)
          out += "  " + instruction(true) + "\n";
        out += "}\n";
      } else {
        for (int k = 0; k < blocks_; ++k) {
          if (chance(30))
            continue;
          out += "blocks b in " + std::to_string(k) + ".." + std::to_string(k + 1) + " {\n";
          for (int n = between(1, 6); n > 0; --n)
            out += "  " + instruction(false) + "\n";
          out += "}\n";
        }
      }
    }
    return out;
  }

  int blocks() const { return blocks_; }

private:
  int between(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(int percent) { return between(0, 99) < percent; }

  // One dimension of extent e: `:`, a point, a slice, a tile by the block id, or (in a loop of
  // `trips` iterations) a tile by i.
  std::string dimension(int64_t e, int trips) {
    const int pick = between(0, 99);
    const int64_t B = blocks_;
    if (pick < 10)
      return ":";
    if (pick < 25)
      return std::to_string(between(0, static_cast<int>(e) - 1));
    if (pick < 55 && e / B >= 1) {
      // Tile t by b: T*b+o : T*b+o+w, w up to T+1 (overlapping the neighbour's tile).
      const int64_t T = between(1, static_cast<int>(e / B));
      const int64_t w = std::min<int64_t>(between(1, static_cast<int>(T) + 1), e - T * (B - 1));
      const int64_t o = between(0, static_cast<int>(e - T * (B - 1) - w));
      return std::to_string(T) + "*b+" + std::to_string(o) + " : " + std::to_string(T) + "*b+" + std::to_string(o + w);
    }
    if (pick < 70 && trips > 1 && e / trips >= 1) {
      const int64_t S = between(1, static_cast<int>(e / trips));
      const int64_t w = std::min<int64_t>(between(1, static_cast<int>(S) + 1), e - S * (trips - 1));
      const int64_t o = between(0, static_cast<int>(e - S * (trips - 1) - w));
      return std::to_string(S) + "*i+" + std::to_string(o) + " : " + std::to_string(S) + "*i+" + std::to_string(o + w);
    }
    const int64_t w = between(1, static_cast<int>(e));
    const int64_t lo = between(0, static_cast<int>(e - w));
    return std::to_string(lo) + ":" + std::to_string(lo + w);
  }

  std::string region(int buffer, int trips) {
    std::string name = "x" + std::to_string(buffer);
    if (chance(5))
      return name;
    name += "[";
    for (size_t d = 0; d < shapes_[buffer].size(); ++d)
      name += (d ? ", " : "") + dimension(shapes_[buffer][d], trips);
    return name + "]";
  }

  std::string task(int trips) {
    std::vector<int> writable;
    for (int n = 0; n < static_cast<int>(shapes_.size()); ++n)
      if (n != readOnly_)
        writable.push_back(n);
    std::shuffle(writable.begin(), writable.end(), rng_);
    const size_t outs = std::min<size_t>(writable.size(), between(0, 2));
    std::string out, in;
    for (size_t n = 0; n < outs; ++n)
      out += std::string(n ? ", " : "") + region(writable[n], trips);
    std::vector<int> readable;
    for (int n = 0; n < static_cast<int>(shapes_.size()); ++n)
      if (std::find(writable.begin(), writable.begin() + outs, n) == writable.begin() + outs)
        readable.push_back(n);
    for (int n = between(outs == 0 ? 1 : 0, 2); n > 0 && !readable.empty(); --n)
      in += std::string(in.empty() ? "" : ", ") +
            region(readable[between(0, static_cast<int>(readable.size()) - 1)], trips);
    if (out.empty() && in.empty())
      out = region(writable.front(), trips);
    return "opaque " + out + (out.empty() ? "" : " ") + "<-" + (in.empty() ? "" : " " + in);
  }

  std::string counter() { return chance(75) ? "c[" + std::to_string(between(0, 2)) + "]" : "d"; }

  std::string instruction(bool shared) {
    const int pick = between(0, 99);
    if (pick < 55)
      return task(1);
    if (pick < 65) {
      const int trips = between(2, 4);
      return "for i in 0.." + std::to_string(trips) + " { " + task(trips) + " }";
    }
    const int order = between(0, 19);
    const std::string suffix = order == 0 ? ".relaxed" : order == 1 ? ".cta" : "";
    if (pick < 82)
      return "signal" + suffix + " " + counter() + (chance(20) ? " + 2" : "");
    if (pick < 97 || !shared)
      return "wait" + suffix + " " + counter() + " >= " + std::to_string(between(1, blocks_));
    return "barrier";
  }

  std::mt19937_64 rng_;
  int blocks_ = 2;
  std::vector<std::vector<int64_t>> shapes_;
  int readOnly_ = -1;
};

TEST(ConflictIndex, AgreesWithAllPairsOnRandomSchedules) {
  int racy = 0, clean = 0, compared = 0;
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    RandomSchedule generator(seed);
    std::string body = generator.text();
    std::string text =
        "amkir 1\ntarget sm_90 sms=8\ngrid blocks=" + std::to_string(generator.blocks()) + " threads=128\n" + body;
    ir::Schedule schedule = ir::parseSchedule("random.amkir", text);
    ASSERT_TRUE(schedule.program) << "seed " << seed << ": not well-formed:\n"
                                  << schedule.renderDiagnostics() << "\n"
                                  << text;
    const ir::Program &p = *schedule.program;
    expectSameAsAllPairs(p, "seed " + std::to_string(seed) + ":\n" + text);
    if (HasFailure())
      return; // one schedule is enough to look at
    RaceSearch r = races(p);
    (r.races.empty() ? clean : racy) += 1;
    compared += r.pairsChecked > 0;
  }
  // The sample must hold both verdicts to mean anything.
  EXPECT_GE(racy, 100);
  EXPECT_GE(clean, 40);
  EXPECT_GE(compared, 200) << "schedules in which the index put some pair of boxes side by side";
}

} // namespace
} // namespace amk::checker
