// The mutation operators and the explicit form they edit, on the real lowerings of corpus/lowerings:
// the explicit form means the same program; every operator applies to some real lowering and makes
// a well-formed schedule that differs from it; there are at least twenty, each documented with the
// bug it models; mutants are deduplicated by canonical text.
#include "amk/fuzz/campaign.h"
#include "amk/fuzz/explicit.h"
#include "amk/fuzz/mutation.h"
#include "amk/ir/frontend.h"
#include "test_support.h"

#include <gtest/gtest.h>

#include <set>

namespace amk::fuzz {
namespace {

struct Lowering {
  std::string path;
  ir::Program program;
  ExplicitSchedule schedule;
  std::string canonical; // of the explicit form
};

const std::vector<Lowering> &lowerings() {
  static const std::vector<Lowering> all = [] {
    std::vector<Lowering> out;
    for (const std::filesystem::path &path : test::amkirFiles("corpus/lowerings")) {
      ir::Schedule schedule = ir::loadSchedule(path.string());
      EXPECT_TRUE(schedule.program) << path << "\n" << schedule.renderDiagnostics();
      if (!schedule.program)
        continue;
      ExplicitSchedule e = explicitForm(*schedule.program);
      out.push_back({path.string(), *schedule.program, e, canonicalText(printExplicit(e)).value_or("")});
    }
    return out;
  }();
  return all;
}

// A counter-synchronised lowering (the barrier strategy has no signals or waits).
const Lowering &dataflowLowering() {
  for (const Lowering &l : lowerings())
    if (l.path.find("dataflow-b2") != std::string::npos)
      return l;
  ADD_FAILURE() << "no dataflow lowering in corpus/lowerings";
  return lowerings().front();
}

TEST(ExplicitForm, RealLoweringsElaborateToTheSameProgram) {
  ASSERT_GE(lowerings().size(), 16u) << "corpus/lowerings should hold the micro-* lowerings of every strategy";
  for (const Lowering &l : lowerings()) {
    std::string text = printExplicit(l.schedule);
    ir::Schedule again = ir::parseSchedule("explicit.amkir", text);
    ASSERT_TRUE(again.program) << l.path << "\n" << again.renderDiagnostics();
    EXPECT_EQ(programDifference(l.program, *again.program), "") << l.path;
    // Printing is deterministic and the explicit form of the explicit form is itself.
    EXPECT_EQ(printExplicit(explicitForm(*again.program)), text) << l.path;
  }
}

TEST(ExplicitForm, HandwrittenCorpusElaboratesToTheSameProgram) {
  for (const char *folder : {"corpus/examples", "corpus/handwritten"})
    for (const std::filesystem::path &path : test::amkirFiles(folder)) {
      ir::Schedule schedule = ir::loadSchedule(path.string());
      ASSERT_TRUE(schedule.program) << path;
      ir::Schedule again =
          ir::parseSchedule("explicit.amkir", printExplicit(explicitForm(*schedule.program)), ir::Stage::Elaborate);
      ASSERT_TRUE(again.program) << path << "\n" << again.renderDiagnostics();
      EXPECT_EQ(programDifference(*schedule.program, *again.program), "") << path;
    }
}

TEST(MutationOperators, AtLeastTwentyEachDocumented) {
  std::string doc = test::readFile(test::sourceDir() / "docs/fuzzing.md");
  std::set<std::string_view> ids;
  for (const MutationOperator &op : mutationOperators()) {
    EXPECT_TRUE(ids.insert(op.id).second) << "duplicate id " << op.id;
    EXPECT_FALSE(op.summary.empty()) << op.id;
    EXPECT_FALSE(op.models.empty()) << op.id;
    EXPECT_NE(doc.find("`" + std::string(op.id) + "`"), std::string::npos)
        << op.id << " is not described in docs/fuzzing.md";
    EXPECT_EQ(findMutationOperator(op.id), &op);
  }
  EXPECT_GE(ids.size(), 20u);
  EXPECT_EQ(findMutationOperator("no-such-operator"), nullptr);
}

class EachOperator : public testing::TestWithParam<const MutationOperator *> {};

// Over the real lowerings and a few seeds, the operator applies, its mutants always parse (they
// may fail elaboration: a widened tile can break an op's shape rule), and some are well-formed and
// different from their source.
TEST_P(EachOperator, MakesWellFormedDifferentSchedulesFromRealLowerings) {
  const MutationOperator &op = *GetParam();
  size_t applied = 0, wellFormedAndDifferent = 0;
  for (const Lowering &l : lowerings())
    for (uint64_t seed = 1; seed <= 6; ++seed) {
      Choices choices(seed * 7919 + l.path.size());
      std::optional<Mutation> mutation = mutate(l.schedule, op, choices);
      if (!mutation)
        continue;
      ++applied;
      EXPECT_EQ(mutation->op, &op);
      EXPECT_FALSE(mutation->description.empty());
      std::string text = printExplicit(mutation->schedule);
      ir::Schedule parsed = ir::parseSchedule("mutant.amkir", text);
      ASSERT_TRUE(parsed.ast) << op.id << " on " << l.path << " does not even parse:\n"
                              << parsed.renderDiagnostics() << text;
      if (parsed.program && canonicalText(text) != l.canonical)
        ++wellFormedAndDifferent;
    }
  EXPECT_GT(applied, 0u) << op.id << " applies to no real lowering";
  EXPECT_GT(wellFormedAndDifferent, 0u) << op.id << " never made a well-formed, different schedule";
}

INSTANTIATE_TEST_SUITE_P(Operators, EachOperator, testing::ValuesIn([] {
                           std::vector<const MutationOperator *> all;
                           for (const MutationOperator &op : mutationOperators())
                             all.push_back(&op);
                           return all;
                         }()),
                         [](const testing::TestParamInfo<const MutationOperator *> &info) {
                           std::string name(info.param->id);
                           for (char &c : name)
                             if (c == '-')
                               c = '_';
                           return name;
                         });

TEST(MutationOperators, SameSeedSameMutant) {
  const Lowering &l = lowerings().front();
  for (const MutationOperator &op : mutationOperators()) {
    Choices a(42), b(42);
    std::optional<Mutation> x = mutate(l.schedule, op, a), y = mutate(l.schedule, op, b);
    ASSERT_EQ(x.has_value(), y.has_value()) << op.id;
    if (x) {
      EXPECT_EQ(printExplicit(x->schedule), printExplicit(y->schedule)) << op.id;
    }
  }
}

TEST(Dedup, CanonicalTextIgnoresLayoutOnly) {
  std::string a = "amkir 1\ntarget sm_90 sms=4\ngrid blocks=2 threads=128\nscratch x : f32[8]\n"
                  "blocks b in 0..2 { opaque x[4*b : 4*b+4] <- }\n";
  std::string b = "amkir   1\ntarget sm_90   sms=4\ngrid threads=128 blocks=2\nscratch x:f32[8]\n"
                  "blocks b in 0..2 {\n  opaque x[4*b:4*b+4] <-\n}\n";
  std::string c = "amkir 1\ntarget sm_90 sms=4\ngrid blocks=2 threads=128\nscratch x : f32[8]\n"
                  "blocks b in 0..2 { opaque x[4*b : 4*b+5] <- }\n";
  ASSERT_TRUE(canonicalText(a));
  EXPECT_EQ(canonicalText(a), canonicalText(b));
  EXPECT_NE(canonicalText(a), canonicalText(c));
  EXPECT_FALSE(canonicalText("amkir 1\nblocks {\n"));
}

// An operator with few places (weakening one signal) saturates: every distinct mutant is labelled
// once, and further attempts are counted as duplicates, not as new mutants.
TEST(Dedup, CampaignCountsEachDistinctMutantOnce) {
  const Lowering &l = dataflowLowering();
  std::set<std::string> distinct;
  size_t signals = 0;
  for (const auto &program : l.schedule.programs)
    for (const ExplicitInstruction &in : program)
      signals += in.kind == ir::InstructionKind::Signal && in.order == ir::SyncOrder::Default;
  ASSERT_GT(signals, 0u);
  CampaignOptions options;
  options.sources = {l.path};
  options.operators = {"relax-signal"};
  options.count = 400;
  options.maxAttemptsPerMutant = 1; // 400 attempts: far more than there are signals
  CampaignResult result = runCampaign(options);
  ASSERT_EQ(result.operators.size(), 1u);
  const OperatorRow &row = result.operators[0];
  EXPECT_LE(row.mutants, signals);
  EXPECT_GE(row.mutants, 1u);
  EXPECT_GT(row.duplicates, 0u);
  EXPECT_EQ(row.mutants + row.duplicates + row.malformed + row.notApplicable, row.attempts);
}

} // namespace
} // namespace amk::fuzz
