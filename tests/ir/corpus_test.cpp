// The corpus states its own expectations: every file opens with an `# expect:` line. Examples are
// well-formed schedules (`# expect: safe` or `# expect: unsafe AMK-V00N`); malformed files are refused
// by the front end, and the first diagnostic carries the rule named on their expect line.
#include "amk/ir/frontend.h"
#include "test_support.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace amk::ir {
namespace {

std::string firstLine(const std::string &text) {
  std::string line = text.substr(0, text.find('\n'));
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  return line;
}

TEST(Corpus, ExamplesStateAVerdictAndAreWellFormed) {
  std::vector<std::filesystem::path> files = test::amkirFiles("corpus/examples");
  if (files.empty())
    GTEST_SKIP() << "corpus/examples has no .amkir files yet";
  // Tools report every violated property, so an unsafe example may name several rules.
  const std::regex expectLine(R"(# expect: (safe|unsafe( AMK-V[0-9]{3})+))");
  for (const std::filesystem::path &path : files) {
    SCOPED_TRACE(path.string());
    std::string text = test::readFile(path);
    EXPECT_TRUE(std::regex_match(firstLine(text), expectLine))
        << "the first line must be '# expect: safe' or '# expect: unsafe AMK-V00N', found: " << firstLine(text);
    Schedule schedule = loadSchedule(path.string());
    EXPECT_TRUE(schedule.wellFormed()) << schedule.renderDiagnostics();
  }
}

TEST(Corpus, MalformedFilesFailWithTheirStatedRule) {
  std::vector<std::filesystem::path> files = test::amkirFiles("corpus/malformed");
  if (files.empty())
    GTEST_SKIP() << "corpus/malformed has no .amkir files yet";
  const std::regex expectLine(R"(# expect: malformed (AMK-[A-Z][0-9]{3}))");
  for (const std::filesystem::path &path : files) {
    SCOPED_TRACE(path.string());
    std::string text = test::readFile(path);
    std::smatch match;
    std::string line = firstLine(text);
    if (!std::regex_match(line, match, expectLine)) {
      ADD_FAILURE() << "the first line must be '# expect: malformed AMK-XXXX', found: " << line;
      continue;
    }
    std::string expected = match[1];
    Schedule schedule = loadSchedule(path.string());
    EXPECT_FALSE(schedule.wellFormed()) << "expected " << expected << ", but the file is well-formed";
    if (schedule.diagnostics.all().empty()) {
      ADD_FAILURE() << "no diagnostic, expected " << expected;
      continue;
    }
    EXPECT_EQ(schedule.diagnostics.all().front().ruleId, expected) << schedule.renderDiagnostics();
  }
}

// A malformed file's expect line names its first diagnostic, so "first" must mean the earliest in the
// file whichever stage found it: here a parse error on line 4 and a lexer error on line 5.
TEST(Corpus, FirstDiagnosticIsTheEarliestInTheFile) {
  const std::string text = "amkir 1\ntarget sm_90 sms=1\ngrid blocks=1 threads=32\n"
                           "blocks b in 0..1 { wait c >= }\n"
                           "blocks b in 0..1 { barrier ; }\n";
  Schedule schedule = parseSchedule("order.amkir", text);
  const auto &all = schedule.diagnostics.all();
  ASSERT_EQ(all.size(), 2u) << schedule.renderDiagnostics();
  EXPECT_EQ(all[0].ruleId, "AMK-P001") << schedule.renderDiagnostics();
  EXPECT_EQ(all[0].range.begin.line, 4u);
  EXPECT_EQ(all[1].ruleId, "AMK-L001");
  EXPECT_EQ(all[1].range.begin.line, 5u);
}

} // namespace
} // namespace amk::ir
