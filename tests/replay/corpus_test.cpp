// The explorer against the corpus: every schedule in corpus/examples and corpus/handwritten opens
// with `# expect: safe` or `# expect: unsafe AMK-V00N[, AMK-V00M...]`, and the explorer, deciding
// each one by exhaustive search within the default budget, must find exactly those rules, with every
// witness interleaving replaying to its violation.
#include "amk/replay/explorer.h"
#include "replay/replay_support.h"
#include "test_support.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace amk::replay {
namespace {

struct CorpusFile {
  std::filesystem::path path;
};

void PrintTo(const CorpusFile &file, std::ostream *os) {
  *os << file.path.parent_path().filename().string() << "/" << file.path.filename().string();
}

std::vector<CorpusFile> corpus() {
  std::vector<CorpusFile> out;
  for (const char *folder : {"corpus/examples", "corpus/handwritten", "corpus/regressions"})
    for (const auto &path : amk::test::amkirFiles(folder))
      out.push_back({path});
  return out;
}

class ExplorerCorpus : public ::testing::TestWithParam<CorpusFile> {};

TEST_P(ExplorerCorpus, FindsExactlyTheExpectedRules) {
  std::string text = amk::test::readFile(GetParam().path);
  std::string first = text.substr(0, text.find('\n'));
  std::set<std::string> expected;
  static const std::regex id(R"(AMK-V\d{3})");
  for (auto it = std::sregex_iterator(first.begin(), first.end(), id); it != std::sregex_iterator(); ++it)
    expected.insert(it->str());
  bool expectSafe = first.rfind("# expect: safe", 0) == 0;
  ASSERT_TRUE(expectSafe || !expected.empty()) << "no expect line: " << first;

  ir::Program program = test::elaborate(text, GetParam().path.string());
  ExploreResult result = explore(program);
  ASSERT_NE(result.outcome, Outcome::Unknown) << "budget exhausted";
  EXPECT_FALSE(result.stats.budgetExhausted);
  std::set<std::string> found;
  for (Rule rule : result.rules())
    found.insert(ruleId(rule));
  EXPECT_EQ(result.outcome == Outcome::Safe, expectSafe);
  EXPECT_EQ(found, expected);
  test::expectWitnessesReplay(program, result);
}

INSTANTIATE_TEST_SUITE_P(Corpus, ExplorerCorpus, ::testing::ValuesIn(corpus()),
                         [](const ::testing::TestParamInfo<CorpusFile> &info) {
                           std::string name = info.param.path.parent_path().filename().string() + "_" +
                                              info.param.path.stem().string();
                           for (char &c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           return name;
                         });

} // namespace
} // namespace amk::replay
