// The Z3 model of executions (checker/smt.h) as an oracle: the headline cases of AMKIR §3 decided
// from the semantics alone, witnesses that are real executions, time-outs that are never "safe",
// both query strategies giving one answer, amk-verify --z3's verdict combination, and agreement
// with the checker on every file of corpus/examples and corpus/handwritten (the checker may only be
// more conservative, on races; each such difference is printed).
#include "amk/checker/report.h"
#include "amk/checker/smt.h"
#include "amk/checker/verify.h"
#include "amk/checker/verify_tool.h"
#include "amk/ir/frontend.h"
#include "test_support.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

namespace amk::checker {
namespace {

const char *kHeader = "amkir 1\ntarget sm_90 sms=8\ngrid blocks=3 threads=128\n";

ir::Schedule parse(const std::string &body, const std::string &header = kHeader) {
  ir::Schedule schedule = ir::parseSchedule("smt.amkir", header + body);
  EXPECT_TRUE(schedule.program) << schedule.renderDiagnostics();
  return schedule;
}

SmtVerdict z3(const std::string &body, SmtOptions options = {}) {
  ir::Schedule schedule = parse(body);
  if (!schedule.program)
    return {};
  return verifySmt(*schedule.program, options);
}

std::set<Rule> rulesOf(const SmtVerdict &v) { return v.rules(); }

// Two producers write halves of x and signal done; block 2 waits for `threshold` and reads all of x.
std::string producerConsumer(int threshold) {
  return "scratch x : f32[8]\ncounter done\n"
         "blocks b in 0..2 {\n  opaque x[4*b : 4*b+4] <-\n  signal done\n}\n"
         "blocks b in 2..3 {\n  wait done >= " +
         std::to_string(threshold) + "\n  opaque <- x\n}\n";
}

TEST(Smt, ExactCountIsSafe) {
  SmtVerdict v = z3(producerConsumer(2));
  EXPECT_EQ(v.status, SmtStatus::Safe);
  EXPECT_TRUE(v.findings.empty());
  EXPECT_EQ(v.stats.conflictPairs, 2u);
  EXPECT_EQ(v.stats.undecided, 0u);
}

TEST(Smt, ThresholdAboveSignalsDeadlocks) {
  SmtVerdict v = z3(producerConsumer(3));
  EXPECT_EQ(v.status, SmtStatus::Unsafe);
  EXPECT_EQ(rulesOf(v), std::set<Rule>{Rule::Deadlock});
  ASSERT_EQ(v.findings.size(), 1u);
  ASSERT_TRUE(v.findings[0].deadlock);
  // Only the consumer is stuck, at its wait; the producers finish.
  ASSERT_EQ(v.findings[0].deadlock->stuck.size(), 1u);
  EXPECT_EQ(v.findings[0].deadlock->stuck[0], (InstructionRef{2, 0}));
  EXPECT_TRUE(v.findings[0].deadlock->stuckComplete);
  EXPECT_NE(v.findings[0].message.find("no complete execution exists"), std::string::npos);
}

TEST(Smt, ThresholdBelowSignalsWithSeveralProducersRaces) {
  SmtVerdict v = z3(producerConsumer(1));
  EXPECT_EQ(v.status, SmtStatus::Unsafe);
  EXPECT_EQ(rulesOf(v), std::set<Rule>{Rule::Race});
  // Both producers' writes race with the read (either signal alone passes the wait); they come from
  // one source line, so they count as one racing line pair.
  EXPECT_EQ(v.racesFound, 1u);
  ASSERT_EQ(v.findings.size(), 1u);
  const SmtRace &race = *v.findings[0].race;
  EXPECT_TRUE(race.firstWrites);
  EXPECT_FALSE(race.secondWrites);
  EXPECT_EQ(race.second, (InstructionRef{2, 1}));
  // The witness is an execution in time order that ends at the later access, and its wait read 1.
  ASSERT_FALSE(race.execution.empty());
  EXPECT_EQ(race.execution.back().at, race.second);
  for (size_t i = 1; i < race.execution.size(); ++i)
    EXPECT_LE(race.execution[i - 1].step, race.execution[i].step);
  bool sawWait = false;
  for (const SmtEvent &e : race.execution)
    if (e.at == InstructionRef{2, 0}) {
      sawWait = true;
      ASSERT_TRUE(e.valueRead);
      EXPECT_EQ(*e.valueRead, 1u);
    }
  EXPECT_TRUE(sawWait);
}

TEST(Smt, RelaxedSignalRaces) {
  SmtVerdict v = z3("scratch x : f32[8]\ncounter c\n"
                    "blocks b in 0..1 {\n  opaque x <-\n  signal.relaxed c\n}\n"
                    "blocks b in 1..2 {\n  wait c >= 1\n  opaque <- x\n}\n");
  EXPECT_EQ(rulesOf(v), std::set<Rule>{Rule::Race});
  // The same with a release signal is safe.
  EXPECT_EQ(z3("scratch x : f32[8]\ncounter c\n"
               "blocks b in 0..1 {\n  opaque x <-\n  signal c\n}\n"
               "blocks b in 1..2 {\n  wait c >= 1\n  opaque <- x\n}\n")
                .status,
            SmtStatus::Safe);
}

TEST(Smt, CtaScopedSignalAndWaitRaceAcrossBlocks) {
  EXPECT_EQ(rulesOf(z3("scratch x : f32[8]\ncounter c\n"
                       "blocks b in 0..1 {\n  opaque x <-\n  signal.cta c\n}\n"
                       "blocks b in 1..2 {\n  wait c >= 1\n  opaque <- x\n}\n")),
            std::set<Rule>{Rule::Race});
  EXPECT_EQ(rulesOf(z3("scratch x : f32[8]\ncounter c\n"
                       "blocks b in 0..1 {\n  opaque x <-\n  signal c\n}\n"
                       "blocks b in 1..2 {\n  wait.cta c >= 1\n  opaque <- x\n}\n")),
            std::set<Rule>{Rule::Race});
  // Within one block .cta orders nothing more than program order does: no cross-block access here.
  EXPECT_EQ(z3("scratch x : f32[3, 8]\ncounter c[3]\n"
               "blocks b in 0..3 {\n  opaque x[b, :] <-\n  signal.cta c[b]\n  wait.cta c[b] >= 1\n"
               "  opaque <- x[b, :]\n}\n")
                .status,
            SmtStatus::Safe);
}

// Block 0 writes two halves, signalling after each; its increments reach the counter in program
// order, so any value >= 1 includes the first: reading the first half after wait >= 1 is safe,
// reading the second is not.
TEST(Smt, ProgramOrderedSignalsOfOneBlock) {
  std::string program = "scratch x : f32[8]\ncounter c\n"
                        "blocks b in 0..1 {\n  opaque x[0:4] <-\n  signal c\n  opaque x[4:8] <-\n  signal c\n}\n"
                        "blocks b in 1..2 {\n  wait c >= 1\n  opaque <- x[0:4]\n}\n";
  EXPECT_EQ(z3(program).status, SmtStatus::Safe);
  std::string tooFar = "scratch x : f32[8]\ncounter c\n"
                       "blocks b in 0..1 {\n  opaque x[0:4] <-\n  signal c\n  opaque x[4:8] <-\n  signal c\n}\n"
                       "blocks b in 1..2 {\n  wait c >= 1\n  opaque <- x[4:8]\n}\n";
  EXPECT_EQ(rulesOf(z3(tooFar)), std::set<Rule>{Rule::Race});
}

TEST(Smt, BarrierOrdersWritesBeforeReads) {
  std::string safe = "scratch x : f32[3, 8]\noutput y : f32[3, 24]\n"
                     "blocks b in 0..3 {\n  opaque x[b, :] <-\n  barrier\n  opaque y[b, :] <- x\n}\n";
  EXPECT_EQ(z3(safe).status, SmtStatus::Safe);
  // Rewriting x after the barrier races with the other blocks' reads after it.
  std::string rewrite = "scratch x : f32[3, 8]\noutput y : f32[3, 24]\n"
                        "blocks b in 0..3 {\n  opaque x[b, :] <-\n  barrier\n  opaque y[b, :] <- x\n"
                        "  opaque x[b, :] <-\n}\n";
  EXPECT_EQ(rulesOf(z3(rewrite)), std::set<Rule>{Rule::Race});
}

TEST(Smt, BarrierMismatchIsReportedAndIsNotADeadlockByItself) {
  SmtVerdict v = z3("scratch x : f32[3, 8]\nblocks b in 0..3 {\n  opaque x[b, :] <-\n}\n"
                    "blocks b in 0..2 {\n  barrier\n  opaque <- x\n}\n");
  // Blocks 0 and 1 stop at the barrier block 2 never reaches: their reads never run, nothing races.
  EXPECT_EQ(rulesOf(v), std::set<Rule>{Rule::BarrierMismatch});
}

TEST(Smt, TransitivityThroughAThirdBlock) {
  std::string relay = "scratch x : f32[8]\ncounter a\ncounter c\n"
                      "blocks b in 0..1 {\n  opaque x <-\n  signal a\n}\n"
                      "blocks b in 2..3 {\n  wait a >= 1\n  signal c\n}\n"
                      "blocks b in 1..2 {\n  wait c >= 1\n  opaque <- x\n}\n";
  EXPECT_EQ(z3(relay).status, SmtStatus::Safe);
  // The relay signalling before it waits breaks the chain.
  std::string early = "scratch x : f32[8]\ncounter a\ncounter c\n"
                      "blocks b in 0..1 {\n  opaque x <-\n  signal a\n}\n"
                      "blocks b in 2..3 {\n  signal c\n  wait a >= 1\n}\n"
                      "blocks b in 1..2 {\n  wait c >= 1\n  opaque <- x\n}\n";
  EXPECT_EQ(rulesOf(z3(early)), std::set<Rule>{Rule::Race});
}

TEST(Smt, WaitForCycleDeadlocks) {
  SmtVerdict v = z3("scratch x : f32[2, 8]\ncounter ready[2]\n"
                    "blocks b in 0..2 {\n  opaque x[b, :] <-\n  wait ready[(b+1)%2] >= 1\n  signal ready[b]\n"
                    "  opaque <- x[(b+1)%2, :]\n}\n");
  EXPECT_EQ(rulesOf(v), std::set<Rule>{Rule::Deadlock});
  ASSERT_TRUE(v.findings.at(0).deadlock);
  EXPECT_EQ(v.findings[0].deadlock->stuck, (std::vector<InstructionRef>{{0, 1}, {1, 1}}));
}

TEST(Smt, RacesBehindADeadlockNeverRun) {
  // The reads after the stuck waits would race with the other block's write, but never execute.
  SmtVerdict v = z3("scratch x : f32[8]\ncounter c\n"
                    "blocks b in 0..1 {\n  opaque x <-\n}\n"
                    "blocks b in 1..2 {\n  wait c >= 1\n  opaque <- x\n}\n");
  EXPECT_EQ(rulesOf(v), std::set<Rule>{Rule::Deadlock});
}

TEST(Smt, CoResidencyByItsRule) {
  ir::Schedule schedule = parse("scratch x : f32[3, 8]\n"
                                "blocks b in 0..3 {\n  opaque x[b, :] <-\n  barrier\n  opaque <- x\n}\n",
                                "amkir 1\ntarget sm_90 sms=2\ngrid blocks=3 threads=128 occupancy=1\n");
  ASSERT_TRUE(schedule.program);
  EXPECT_EQ(verifySmt(*schedule.program).rules(), std::set<Rule>{Rule::CoResidency});
}

// An "any of" wait that either relay satisfies, each relay ordered after the write (AMKIR §3).
const char *kAnyOf = "scratch x : f32[8]\ncounter a\ncounter r\n"
                     "blocks b in 0..1 {\n  opaque x <-\n  signal a\n}\n"
                     "blocks b in 1..3 {\n  wait a >= 1\n  signal r\n}\n"
                     "blocks b in 3..4 {\n  wait r >= 1\n  opaque <- x\n}\n";
const char *kFourBlocks = "amkir 1\ntarget sm_90 sms=8\ngrid blocks=4 threads=128\n";

// Whichever relay's add the reader's wait reads, that relay waited for block 0's release: Z3 proves
// every execution orders the pair, and the generalised rule (docs/checker.md) orders block 0's write
// before the read, so the checker agrees.
TEST(Smt, AnyOfRelaysAreSafeAndTheCheckerAgrees) {
  ir::Schedule schedule = parse(kAnyOf, kFourBlocks);
  ASSERT_TRUE(schedule.program);
  Verdict checker = verify(*schedule.program);
  SmtVerdict smt = verifySmt(*schedule.program);
  EXPECT_EQ(smt.status, SmtStatus::Safe);
  EXPECT_TRUE(checker.safe()) << "violations: " << checker.violations.size();
  EXPECT_EQ(crossCheck(checker, smt).agreement, Agreement::Agree);
}

// A known incompleteness the rules keep: ordering that follows from an earlier read of the same
// counter (the relaxed spin to 2 means the plain wait reads both producers' adds).
const char *kEarlierRead = "scratch x : f32[8]\ncounter c\n"
                           "blocks b in 0..2 {\n  opaque x[4*b : 4*b+4] <-\n  signal c\n}\n"
                           "blocks b in 2..3 {\n  wait.relaxed c >= 2\n  wait c >= 1\n  opaque <- x\n}\n";
const char *kThreeBlocks = "amkir 1\ntarget sm_90 sms=8\ngrid blocks=3 threads=128\n";

TEST(Smt, AnEarlierReadIsSafeWhereTheCheckerIsConservative) {
  ir::Schedule schedule = parse(kEarlierRead, kThreeBlocks);
  ASSERT_TRUE(schedule.program);
  Verdict checker = verify(*schedule.program);
  SmtVerdict smt = verifySmt(*schedule.program);
  EXPECT_EQ(smt.status, SmtStatus::Safe);
  EXPECT_EQ(checkerRules(checker), std::set<Rule>{Rule::Race});
  CrossCheck c = crossCheck(checker, smt);
  EXPECT_EQ(c.agreement, Agreement::Conservative);
  EXPECT_EQ(c.unconfirmed, std::set<Rule>{Rule::Race});
}

// The other known incompleteness: ordering that follows from coherence. A plain wait reads at least
// what its block already read (here a relaxed spin to 2, so both producers) ...
TEST(Smt, ReadsAreCoherentWithTheBlocksEarlierReads) {
  SmtVerdict v = z3("scratch x : f32[8]\ncounter c\n"
                    "blocks b in 0..2 {\n  opaque x[4*b : 4*b+4] <-\n  signal c\n}\n"
                    "blocks b in 2..3 {\n  wait.relaxed c >= 2\n  wait c >= 1\n  opaque <- x\n}\n");
  EXPECT_EQ(v.status, SmtStatus::Safe);
  // Without the earlier read the plain wait may see either producer alone.
  EXPECT_EQ(rulesOf(z3("scratch x : f32[8]\ncounter c\n"
                       "blocks b in 0..2 {\n  opaque x[4*b : 4*b+4] <-\n  signal c\n}\n"
                       "blocks b in 2..3 {\n  wait c >= 1\n  wait.relaxed c >= 2\n  opaque <- x\n}\n")),
            std::set<Rule>{Rule::Race});
}

// ... and at least every increment that happens before it: block 0's relaxed add follows block 1's
// release add in time (block 0 spins on e first), and happens before block 2's `wait c >= 0` through
// d, so that wait reads both adds and synchronizes with block 1.
TEST(Smt, ReadsAreCoherentWithIncrementsThatHappenBefore) {
  std::string program = "scratch x : f32[8]\ncounter c\ncounter d\ncounter e\n"
                        "blocks b in 1..2 {\n  opaque x <-\n  signal c\n  signal e\n}\n"
                        "blocks b in 0..1 {\n  wait.relaxed e >= 1\n  signal.relaxed c\n  signal d\n}\n"
                        "blocks b in 2..3 {\n  wait d >= 1\n  wait c >= 0\n  opaque <- x\n}\n";
  EXPECT_EQ(z3(program).status, SmtStatus::Safe);
  // With a relaxed wait on d nothing happens before block 2's read of c: it may read 0.
  std::string relaxed = program;
  relaxed.replace(relaxed.find("wait d >= 1"), 11, "wait.relaxed d >= 1");
  EXPECT_EQ(rulesOf(z3(relaxed)), std::set<Rule>{Rule::Race});
}

TEST(Smt, TimeOutsAreNeverSafe) {
  SmtOptions noTime;
  noTime.totalTimeoutMs = 0;
  SmtVerdict v = z3(producerConsumer(2), noTime);
  EXPECT_EQ(v.status, SmtStatus::Inconclusive);
  EXPECT_FALSE(v.undecided.empty());
  EXPECT_EQ(v.stats.queries, 0u);
  // A violation by rule is still proved without a query.
  ir::Schedule schedule = parse(producerConsumer(2), "amkir 1\ntarget sm_90 sms=1\ngrid blocks=3 threads=128\n");
  ASSERT_TRUE(schedule.program);
  SmtVerdict coResidency = verifySmt(*schedule.program, noTime);
  EXPECT_EQ(coResidency.status, SmtStatus::Unsafe);
  EXPECT_FALSE(coResidency.undecided.empty());
}

TEST(Smt, PairwiseAndBatchedQueriesAgree) {
  SmtOptions pairwise;
  pairwise.batchRaceQueries = false;
  for (const char *name : {"race_early_threshold.amkir", "q8_splitk_matvec.amkir", "race_cta_scope.amkir"}) {
    ir::Schedule schedule = ir::loadSchedule((test::sourceDir() / "corpus/examples" / name).string());
    ASSERT_TRUE(schedule.program) << name;
    SmtVerdict batched = verifySmt(*schedule.program);
    SmtVerdict single = verifySmt(*schedule.program, pairwise);
    EXPECT_EQ(batched.status, single.status) << name;
    EXPECT_EQ(batched.racesFound, single.racesFound) << name;
    EXPECT_EQ(batched.rules(), single.rules()) << name;
  }
}

TEST(Smt, CrossCheckTreatsAViolationTheCheckerMissedAsAnInternalError) {
  Verdict safe;
  SmtVerdict race;
  race.status = SmtStatus::Unsafe;
  race.racesFound = 1;
  race.findings.push_back(SmtFinding{Rule::Race, "data race", std::nullopt, std::nullopt});
  CrossCheck c = crossCheck(safe, race);
  EXPECT_EQ(c.agreement, Agreement::CheckerMissed);
  EXPECT_EQ(c.missed, std::set<Rule>{Rule::Race});

  SmtVerdict undecided;
  undecided.status = SmtStatus::Inconclusive;
  undecided.undecided = "2 of 2 conflicting pairs";
  EXPECT_EQ(crossCheck(safe, undecided).agreement, Agreement::Inconclusive);
  SmtVerdict proved;
  proved.status = SmtStatus::Safe;
  EXPECT_EQ(crossCheck(safe, proved).agreement, Agreement::Agree);
}

// amk-verify --z3 through its library entry point: the verdict stays the checker's, the output says
// what Z3 concluded, and time-outs on a certified file make the run inconclusive.
class VerifyToolZ3 : public testing::Test {
protected:
  std::string write(const std::string &name, const std::string &text) {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() /
        ("amk-smt-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" + name);
    std::ofstream(path) << text;
    written_.push_back(path);
    return path.string();
  }
  void TearDown() override {
    for (const auto &p : written_)
      std::filesystem::remove(p);
  }
  std::vector<std::filesystem::path> written_;
};

TEST_F(VerifyToolZ3, ReportsAgreementConservativeRejectionsAndTimeOuts) {
  ToolOptions options;
  options.z3 = true;
  options.files = {write("safe.amkir", kHeader + producerConsumer(2)),
                   write("race.amkir", kHeader + producerConsumer(1))};
  std::ostringstream out, err;
  EXPECT_EQ(runVerifyTool(options, out, err), ToolOutcome::SomeUnsafe);
  EXPECT_NE(out.str().find("safe.amkir: z3: safe"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("race.amkir: z3: unsafe: AMK-V004 race x1"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("agrees with the checker"), std::string::npos) << out.str();

  options.files = {write("earlier_read.amkir", kThreeBlocks + std::string(kEarlierRead))};
  out.str("");
  EXPECT_EQ(runVerifyTool(options, out, err), ToolOutcome::SomeUnsafe);
  EXPECT_NE(out.str().find("rejection (AMK-V004) is conservative"), std::string::npos) << out.str();

  options.files = {write("safe.amkir", kHeader + producerConsumer(2))};
  options.z3TotalTimeoutMs = 0;
  out.str("");
  EXPECT_EQ(runVerifyTool(options, out, err), ToolOutcome::Inconclusive);
  EXPECT_NE(out.str().find("z3: inconclusive"), std::string::npos) << out.str();
  // An unsafe file outranks the inconclusive one.
  options.files.push_back(write("race.amkir", kHeader + producerConsumer(1)));
  EXPECT_EQ(runVerifyTool(options, out, err), ToolOutcome::SomeUnsafe);
}

std::set<std::pair<uint32_t, uint32_t>> raceLines(const ir::Program &program, InstructionRef a, InstructionRef b) {
  auto line = [&](InstructionRef r) {
    return program.sites[program.blockPrograms[r.block][r.index].site].range.begin.line;
  };
  return {{std::min(line(a), line(b)), std::max(line(a), line(b))}};
}

class SmtCorpus : public testing::TestWithParam<std::filesystem::path> {};

TEST_P(SmtCorpus, AgreesWithTheChecker) {
  const std::filesystem::path &path = GetParam();
  ir::Schedule schedule = ir::loadSchedule(path.string());
  ASSERT_TRUE(schedule.program) << path << " is malformed:\n" << schedule.renderDiagnostics();
  const ir::Program &program = *schedule.program;
  Options all;
  all.maxRaces = 1u << 20;
  Verdict checker = verify(program, all);
  SmtOptions options;
  options.maxRaces = 1u << 20;
  SmtVerdict smt = verifySmt(program, options);
  ASSERT_NE(smt.status, SmtStatus::Inconclusive) << path << ": undecided: " << smt.undecided;
  ASSERT_TRUE(smt.undecided.empty()) << path << ": undecided: " << smt.undecided;

  std::string witnesses;
  for (const ir::Diagnostic &d : smtDiagnostics(smt, program))
    witnesses += ir::renderText(d, *schedule.source);
  CrossCheck c = crossCheck(checker, smt);
  EXPECT_TRUE(c.missed.empty()) << path << ": z3 proves violations the checker missed:\n" << witnesses;
  if (checker.safe()) {
    EXPECT_EQ(smt.status, SmtStatus::Safe) << path << ":\n" << witnesses;
  }
  // Deadlock, co-residency and barrier mismatch are exact in both; only races may be conservative.
  for (Rule rule : c.unconfirmed)
    EXPECT_EQ(rule, Rule::Race) << path << ": the checker reports " << ruleId(rule) << ", z3 refutes it";
  if (!c.unconfirmed.empty())
    std::cout << "[ note ] " << path.filename().string()
              << ": checker-unsafe / z3-safe on races (a conservative rejection)\n";

  // Race by race: every source-line pair Z3 shows racing, the checker reports too.
  std::set<std::pair<uint32_t, uint32_t>> checkerPairs, smtPairs;
  for (const Violation &v : checker.violations)
    if (v.race)
      checkerPairs.merge(raceLines(program, v.race->first, v.race->second));
  for (const SmtFinding &f : smt.findings)
    if (f.race)
      smtPairs.merge(raceLines(program, f.race->first, f.race->second));
  for (const auto &pair : smtPairs)
    EXPECT_TRUE(checkerPairs.count(pair))
        << path << ": z3 shows lines " << pair.first << " and " << pair.second << " racing, the checker does not:\n"
        << witnesses;
  for (const auto &pair : checkerPairs)
    if (!smtPairs.count(pair))
      std::cout << "[ note ] " << path.filename().string() << ": the checker's race between lines " << pair.first
                << " and " << pair.second << " is conservative (z3: ordered in every execution)\n";
}

std::vector<std::filesystem::path> corpus() {
  std::vector<std::filesystem::path> files = test::amkirFiles("corpus/examples");
  for (const auto &f : test::amkirFiles("corpus/handwritten"))
    files.push_back(f);
  return files;
}

std::string caseName(const testing::TestParamInfo<std::filesystem::path> &info) {
  std::string name = info.param.parent_path().filename().string() + "_" + info.param.stem().string();
  for (char &c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Corpus, SmtCorpus, testing::ValuesIn(corpus()), caseName);

} // namespace
} // namespace amk::checker
