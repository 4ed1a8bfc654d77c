// Every schedule in corpus/examples and corpus/handwritten states its verdict on its first line:
// `# expect: safe` or `# expect: unsafe AMK-V00N[, AMK-V00M...]` (every violated rule, sorted).
// Each file is one test case: it must be well-formed, and the checker must certify exactly the
// expected files safe and reject the others with exactly the listed set of rule ids.
#include "amk/checker/verify.h"
#include "amk/ir/diagnostics.h"
#include "amk/ir/frontend.h"
#include "test_support.h"

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace amk::checker {
namespace {

struct CorpusFile {
  std::string folder; // relative to the source tree
  std::filesystem::path path;
};

// Printed by GoogleTest when a case fails (instead of the raw bytes of the struct).
void PrintTo(const CorpusFile &file, std::ostream *os) { *os << file.folder << "/" << file.path.filename().string(); }

struct Expectation {
  bool safe = false;
  std::vector<std::string> rules; // as written, in order
};

// Parses the first line; nullopt (with `error` set) when it is not a well-formed expect line.
std::optional<Expectation> parseExpectation(const std::string &text, std::string &error) {
  std::string first = text.substr(0, text.find('\n'));
  if (!first.empty() && first.back() == '\r')
    first.pop_back();
  static const std::regex safeLine(R"(^# expect: safe\s*$)");
  static const std::regex unsafeLine(R"(^# expect: unsafe (AMK-V\d{3}(, AMK-V\d{3})*)\s*$)");
  std::smatch m;
  if (std::regex_match(first, m, safeLine))
    return Expectation{true, {}};
  if (!std::regex_match(first, m, unsafeLine)) {
    error =
        "the first line must be '# expect: safe' or '# expect: unsafe AMK-V00N[, AMK-V00M...]', got '" + first + "'";
    return std::nullopt;
  }
  Expectation e;
  std::string list = m[1].str();
  static const std::regex id(R"(AMK-V\d{3})");
  for (auto it = std::sregex_iterator(list.begin(), list.end(), id); it != std::sregex_iterator(); ++it)
    e.rules.push_back(it->str());
  return e;
}

std::string joined(const std::set<std::string> &ids) {
  std::string out;
  for (const std::string &id : ids)
    out += (out.empty() ? "" : ", ") + id;
  return out.empty() ? "(none)" : out;
}

std::vector<CorpusFile> corpusFiles() {
  std::vector<CorpusFile> files;
  for (const std::string folder : {"corpus/examples", "corpus/handwritten", "corpus/regressions"})
    for (const std::filesystem::path &path : test::amkirFiles(folder))
      files.push_back({folder, path});
  return files;
}

// "handwritten_pc_exact_count_safe": the folder's last component and the file's stem, with every
// character GoogleTest does not allow in a name replaced by '_'.
std::string caseName(const testing::TestParamInfo<CorpusFile> &info) {
  std::string folder = std::filesystem::path(info.param.folder).filename().string();
  std::string name = folder + "_" + info.param.path.stem().string();
  for (char &c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return name;
}

class CorpusVerdict : public testing::TestWithParam<CorpusFile> {};

TEST_P(CorpusVerdict, MatchesExpectLine) {
  const CorpusFile &file = GetParam();
  std::string text = test::readFile(file.path);
  std::string error;
  std::optional<Expectation> expected = parseExpectation(text, error);
  ASSERT_TRUE(expected) << file.path.string() << ": " << error;
  if (!expected->safe) {
    std::set<std::string> distinct(expected->rules.begin(), expected->rules.end());
    EXPECT_EQ(std::vector<std::string>(distinct.begin(), distinct.end()), expected->rules)
        << file.path.string() << ": list each rule id once, sorted";
    for (const std::string &id : distinct)
      EXPECT_TRUE(id >= "AMK-V001" && id <= "AMK-V004") << file.path.string() << ": unknown rule id " << id;
  }

  ir::Schedule schedule = ir::loadSchedule(file.path.string());
  ASSERT_TRUE(schedule.source) << file.path.string() << ": " << schedule.readError;
  ASSERT_TRUE(schedule.wellFormed()) << file.path.string() << " is malformed:\n" << schedule.renderDiagnostics();

  Verdict verdict = verify(*schedule.program);
  std::set<std::string> actual;
  for (const Violation &v : verdict.violations)
    actual.insert(ruleId(v.rule));
  std::set<std::string> wanted(expected->rules.begin(), expected->rules.end());

  auto rendered = [&] {
    std::string out;
    for (const ir::Diagnostic &d : toDiagnostics(verdict, *schedule.program))
      out += ir::renderText(d, *schedule.source);
    return out.empty() ? std::string("(no diagnostics)\n") : out;
  };
  if (expected->safe) {
    EXPECT_TRUE(verdict.safe()) << file.path.string() << " is expected safe but the checker rejects it ("
                                << joined(actual) << "):\n"
                                << rendered();
  } else {
    if (verdict.safe())
      ADD_FAILURE() << file.path.string() << " is expected unsafe (" << joined(wanted)
                    << ") but the checker certifies it safe: a false accept";
    else
      EXPECT_EQ(actual, wanted) << file.path.string() << ": expected " << joined(wanted) << ", the checker reports "
                                << joined(actual) << ":\n"
                                << rendered();
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, CorpusVerdict, testing::ValuesIn(corpusFiles()), caseName);

} // namespace
} // namespace amk::checker
