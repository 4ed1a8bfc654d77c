// The op reference of docs/amkir.md section 12 is the registry's: the text between its markers must
// be exactly what `amk-fmt --list-ops` prints (ir::opReferenceMarkdown), so that the docs never state
// a rule elaboration does not check.
#include "amk/ir/ops.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace amk::ir {
namespace {

constexpr const char *kBegin = "<!-- begin: amk-fmt --list-ops -->\n";
constexpr const char *kEnd = "<!-- end: amk-fmt --list-ops -->";

std::string readSource(const std::string &path) {
  std::ifstream in(std::string(AMK_SOURCE_DIR) + "/" + path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(OpReferenceDocs, Section12IsTheGeneratedReference) {
  const std::string doc = readSource("docs/amkir.md");
  ASSERT_FALSE(doc.empty()) << "cannot read docs/amkir.md under " << AMK_SOURCE_DIR;
  const size_t begin = doc.find(kBegin);
  ASSERT_NE(begin, std::string::npos) << "docs/amkir.md lacks the marker " << kBegin;
  const size_t from = begin + std::string(kBegin).size();
  const size_t end = doc.find(kEnd, from);
  ASSERT_NE(end, std::string::npos) << "docs/amkir.md lacks the marker " << kEnd;
  EXPECT_EQ(doc.substr(from, end - from), opReferenceMarkdown())
      << "docs/amkir.md section 12 differs from the registry: paste the output of build/bin/amk-fmt --list-ops "
         "between its markers";
}

// Every op has its row in the summary table and its entry in the rules, in registry order.
TEST(OpReferenceDocs, EveryOpHasARowAndARule) {
  const std::string markdown = opReferenceMarkdown();
  size_t row = 0, rule = markdown.find("Rules per op:");
  ASSERT_NE(rule, std::string::npos);
  for (const OpInfo &op : allOps()) {
    row = markdown.find("| `" + std::string(op.name) + "` |", row);
    EXPECT_LT(row, markdown.find("Rules per op:")) << "no table row for '" << op.name << "'";
    rule = markdown.find("- **" + std::string(op.name) + "** `", rule);
    EXPECT_NE(rule, std::string::npos) << "no rules entry for '" << op.name << "'";
  }
}

TEST(OpReferenceDocs, AttributesAreListedWithTheirDefaults) {
  const std::string markdown = opReferenceMarkdown();
  EXPECT_NE(markdown.find("| `eps` | float | `1e-06` | > 0 | added to the mean square |"), std::string::npos);
  EXPECT_NE(markdown.find("| `head_dim` | integer | required | > 0 |"), std::string::npos);
  EXPECT_NE(markdown.find("| `scaling` | string | `\"none\"` | `none` or `llama3` |"), std::string::npos);
  EXPECT_NE(markdown.find("In place: output y may be exactly input r"), std::string::npos);
}

} // namespace
} // namespace amk::ir
