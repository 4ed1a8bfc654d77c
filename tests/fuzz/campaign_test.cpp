// The adversarial campaign and the minimiser: a slice of the campaign on the real lowerings has no
// false accept and keeps every lowering accepted; the campaign is deterministic by seed; the
// minimiser shrinks a rejected mutant and keeps its rule; the files the campaign committed
// (corpus/lowerings, corpus/adversarial) say what they are and mean it.
#include "amk/fuzz/campaign.h"
#include "amk/fuzz/minimise.h"
#include "amk/fuzz/mutation.h"
#include "amk/ir/frontend.h"
#include "amk/replay/explorer.h"
#include "test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <regex>

namespace amk::fuzz {
namespace {

std::vector<std::string> loweringPaths() {
  std::vector<std::string> out;
  for (const std::filesystem::path &p : test::amkirFiles("corpus/lowerings"))
    out.push_back(p.string());
  return out;
}

std::string firstLines(const std::string &text, size_t n) {
  std::string out;
  size_t at = 0;
  for (size_t i = 0; i < n && at < text.size(); ++i) {
    size_t end = text.find('\n', at);
    out += text.substr(at, end - at) + "\n";
    at = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}

TEST(Campaign, SliceHasNoFalseAcceptAndKeepsRealLoweringsAccepted) {
  CampaignOptions options;
  options.sources = loweringPaths();
  options.seed = 11;
  options.count = 320;
  CampaignResult result = runCampaign(options);
  std::cout << campaignTable(result);
  EXPECT_TRUE(result.sourcesAccepted);
  EXPECT_EQ(result.total.falseAccepts, 0u);
  EXPECT_EQ(result.total.oracleDisagreements, 0u);
  EXPECT_EQ(result.total.mutants, 320u);
  EXPECT_EQ(result.total.inconclusive, 0u) << "the micro lowerings are small enough for the explorer";
  EXPECT_GT(result.total.oracleUnsafe, 100u);
  EXPECT_GT(result.total.oracleSafe, 10u);
  EXPECT_TRUE(result.passed());
  for (const OperatorRow &row : result.operators)
    EXPECT_GT(row.mutants, 0u) << row.id << " made no mutant in the slice";
}

TEST(Campaign, DeterministicBySeed) {
  CampaignOptions options;
  options.sources = loweringPaths();
  options.seed = 5;
  options.count = 60;
  auto stable = [](nlohmann::json j) {
    j.erase("seconds");
    j.erase("medianMs");
    for (auto &s : j["sources"])
      s.erase("oracleSeconds");
    return j.dump();
  };
  std::string first = stable(campaignJson(runCampaign(options)));
  EXPECT_EQ(first, stable(campaignJson(runCampaign(options))));
  options.seed = 6;
  EXPECT_NE(first, stable(campaignJson(runCampaign(options))));
}

TEST(Campaign, ReplayGivesTheAttemptsMutant) {
  CampaignOptions options;
  options.sources = loweringPaths();
  std::string description;
  std::optional<std::string> a = campaignMutant(options, 3, description);
  ASSERT_TRUE(a);
  EXPECT_NE(description.find("corpus/lowerings/"), std::string::npos) << description;
  std::string again;
  EXPECT_EQ(campaignMutant(options, 3, again), a);
  EXPECT_EQ(again, description);
}

TEST(Campaign, RejectedSourceFailsTheCampaign) {
  CampaignOptions options;
  options.sources = {(test::sourceDir() / "corpus/handwritten/write_write_race.amkir").string()};
  options.count = 5;
  CampaignResult result = runCampaign(options);
  EXPECT_FALSE(result.sourcesAccepted);
  EXPECT_FALSE(result.passed());
  EXPECT_EQ(result.total.mutants, 0u);
}

// A real lowering without one of its waits: the checker reports a race, the explorer agrees; the
// minimiser keeps exactly that rule and both verdicts while removing most of the schedule.
TEST(Minimiser, ShrinksAndKeepsTheRule) {
  std::string path;
  for (const std::string &p : loweringPaths())
    if (p.find("dataflow-b3") != std::string::npos)
      path = p;
  ASSERT_FALSE(path.empty()) << "no dataflow lowering on 3 blocks";
  ir::Schedule schedule = ir::loadSchedule(path);
  ASSERT_TRUE(schedule.program);
  ExplicitSchedule source = explicitForm(*schedule.program);
  const MutationOperator *dropWait = findMutationOperator("drop-wait");
  ASSERT_TRUE(dropWait);
  std::optional<ExplicitSchedule> rejected;
  std::set<std::string> rules;
  for (uint64_t seed = 1; seed < 50 && !rejected; ++seed) {
    Choices choices(seed);
    std::optional<Mutation> m = mutate(source, *dropWait, choices);
    ASSERT_TRUE(m);
    ir::Schedule parsed = ir::parseSchedule("m.amkir", printExplicit(m->schedule));
    ASSERT_TRUE(parsed.program);
    rules = checkerRules(*parsed.program);
    if (rules == std::set<std::string>{"AMK-V004"})
      rejected = m->schedule;
  }
  ASSERT_TRUE(rejected) << "no dropped wait made a race";
  MinimiseStats stats;
  ExplicitSchedule small = minimiseSchedule(*rejected, confirmedUnsafeWith(rules), 20'000, &stats);
  EXPECT_LT(stats.instructionsAfter, stats.instructionsBefore / 4);
  EXPECT_LE(stats.instructionsAfter, 8u);
  ir::Schedule minimal = ir::parseSchedule("small.amkir", printExplicit(small));
  ASSERT_TRUE(minimal.program) << minimal.renderDiagnostics();
  EXPECT_EQ(checkerRules(*minimal.program), rules);
  replay::ExploreResult explored = replay::explore(*minimal.program);
  ASSERT_EQ(explored.outcome, replay::Outcome::Unsafe);
  EXPECT_TRUE(explored.has(replay::Rule::Race));

  // Checker-only minimisation keeps the rule too.
  ExplicitSchedule checkerOnly = minimiseSchedule(*rejected, checkerRejectsWith(rules));
  ir::Schedule alone = ir::parseSchedule("alone.amkir", printExplicit(checkerOnly));
  ASSERT_TRUE(alone.program);
  EXPECT_EQ(checkerRules(*alone.program), rules);
}

// A wait-for cycle made by inserting one wait: the plain rule-keeping minimiser may shrink it to any
// lone unsatisfiable wait, but editStillCauses keeps the edit and the cycle, dropping the rest.
TEST(Minimiser, KeepsTheEditThatCausesTheDeadlock) {
  std::string text = "amkir 1\ntarget sm_90 sms=8\ngrid blocks=3 threads=128\nscratch x : f32[12]\n"
                     "counter c\ncounter d\n"
                     "blocks b in 0..3 { opaque x[4*b : 4*b+4] <- }\n"
                     "blocks b in 0..1 {\n signal d\n opaque <- x[0:4]\n}\n"
                     "blocks b in 1..2 {\n wait d >= 1\n signal c\n}\n"
                     "blocks b in 2..3 { opaque <- x[8:12] }\n";
  ir::Schedule schedule = ir::parseSchedule("source.amkir", text);
  ASSERT_TRUE(schedule.program) << schedule.renderDiagnostics();
  ASSERT_TRUE(checkerRules(*schedule.program).empty());
  ExplicitSchedule source = explicitForm(*schedule.program);
  ExplicitSchedule mutant = source;
  ExplicitInstruction wait;
  wait.kind = ir::InstructionKind::Wait;
  wait.counter = "c";
  wait.amount = 1;
  mutant.programs[0].insert(mutant.programs[0].begin() + 1, wait); // before 'signal d'
  ir::Schedule parsed = ir::parseSchedule("mutant.amkir", printExplicit(mutant));
  ASSERT_TRUE(parsed.program);
  std::set<std::string> rules = checkerRules(*parsed.program);
  ASSERT_EQ(rules, std::set<std::string>{"AMK-V003"});

  ExplicitSchedule loneWait = minimiseSchedule(mutant, confirmedUnsafeWith(rules));
  EXPECT_EQ(loneWait.instructionCount(), 1u) << printExplicit(loneWait);

  ExplicitSchedule cycle = minimiseSchedule(mutant, editStillCauses(source, mutant, rules));
  EXPECT_EQ(printExplicit(cycle), "amkir 1\ntarget sm_90 sms=8\ngrid blocks=2 threads=128 occupancy=1\n\n"
                                  "counter c\ncounter d\n\n"
                                  "blocks b in 0..1 {\n  wait c >= 1\n  signal d\n}\n\n"
                                  "blocks b in 1..2 {\n  wait d >= 1\n  signal c\n}\n");
}

TEST(CorpusLowerings, EachSaysHowItWasMadeAndIsSafe) {
  std::vector<std::string> paths = loweringPaths();
  ASSERT_GE(paths.size(), 16u);
  std::set<std::string> strategies;
  for (const std::string &path : paths) {
    std::string text = test::readFile(path);
    std::string head = firstLines(text, 2);
    EXPECT_TRUE(std::regex_search(
        head,
        std::regex(
            R"(^# expect: safe\n# generated by: amk-plan models/micro-\S+ -s (barrier|dataflow|fused|splitkv|headwise) )")))
        << path << " opens with:\n"
        << head;
    std::smatch m;
    if (std::regex_search(head, m, std::regex(R"(-s (\w+))")))
      strategies.insert(m[1]);
    ir::Schedule schedule = ir::loadSchedule(path);
    ASSERT_TRUE(schedule.program) << path;
    EXPECT_TRUE(checkerRules(*schedule.program).empty()) << path;
    replay::ExploreResult explored = replay::explore(*schedule.program);
    EXPECT_EQ(explored.outcome, replay::Outcome::Safe) << path;
    EXPECT_LE(schedule.program->blocks, 3) << path;
  }
  EXPECT_EQ(strategies, (std::set<std::string>{"barrier", "dataflow", "fused", "splitkv", "headwise"}));
}

TEST(CorpusAdversarial, EachIsAConfirmedTruePositiveWithItsProvenance) {
  std::vector<std::filesystem::path> paths = test::amkirFiles("corpus/adversarial");
  ASSERT_GE(paths.size(), 10u);
  const std::regex expectLine(R"(^# expect: unsafe (AMK-V\d{3}(, AMK-V\d{3})*)\n)");
  for (const std::filesystem::path &path : paths) {
    std::string text = test::readFile(path);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(text, m, expectLine)) << path;
    std::set<std::string> expected;
    std::string list = m[1];
    static const std::regex id(R"(AMK-V\d{3})");
    for (auto it = std::sregex_iterator(list.begin(), list.end(), id); it != std::sregex_iterator(); ++it)
      expected.insert(it->str());
    EXPECT_NE(text.find("operator "), std::string::npos) << path << " does not name its operator";
    EXPECT_NE(text.find("corpus/lowerings/"), std::string::npos) << path << " does not name its source lowering";
    EXPECT_NE(text.find("--seed"), std::string::npos) << path << " does not name its seed";
    ir::Schedule schedule = ir::loadSchedule(path.string());
    ASSERT_TRUE(schedule.program) << path;
    EXPECT_EQ(checkerRules(*schedule.program), expected) << path;
    replay::ExploreResult explored = replay::explore(*schedule.program);
    ASSERT_EQ(explored.outcome, replay::Outcome::Unsafe) << path;
    std::set<std::string> found;
    for (replay::Rule rule : explored.rules())
      found.insert(replay::ruleId(rule));
    EXPECT_EQ(found, expected) << path;
    EXPECT_EQ(canonicalText(text), text) << path << " is not in canonical form";
  }
}

} // namespace
} // namespace amk::fuzz
