// The op reference of docs/amkir.md section 12, written from the registry so that the docs cannot
// drift from what elaboration checks (tests/ir/ops_markdown_test.cpp compares the two).
#include "amk/ir/ops.h"
#include "amk/ir/printer.h"

#include <sstream>

namespace amk::ir {
namespace {

// The docs' prose is wrapped at this width, as the hand-written parts of docs/amkir.md are.
constexpr size_t kLineWidth = 100;

// Whether markdown could read a line that starts with `word` as a new list item, quote, table row or
// heading rather than as the paragraph's continuation.
bool marksABlock(const std::string &word) {
  if (word == "-" || word == "+" || word == "*" || word == "=" || word[0] == '>' || word[0] == '|' || word[0] == '#')
    return true;
  const size_t digits = word.find_first_not_of("0123456789");
  return digits != 0 && digits != std::string::npos && (word[digits] == '.' || word[digits] == ')');
}

// `text` as lines of at most kLineWidth characters (a longer word stands alone, and a word that
// would start a block stays on the line before), every line after the first indented by `indent`
// spaces.
std::string wrapped(const std::string &text, size_t indent) {
  std::istringstream words(text);
  std::string out, line, word;
  while (words >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > kLineWidth && !marksABlock(word)) {
      out += line + "\n";
      line = std::string(indent, ' ');
    } else if (!line.empty() && line.find_first_not_of(' ') != std::string::npos) {
      line += ' ';
    }
    line += word;
  }
  return out + line + "\n";
}

std::string joined(const std::vector<std::string_view> &names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i ? ", " : "") + std::string(names[i]);
  return out;
}

std::string operands(const OpInfo &op) {
  if (op.variadic)
    return "outs... <- ins...";
  return joined(op.outputNames) + " <- " + joined(op.inputNames);
}

std::string inPlaceSentence(const OpInfo &op) {
  if (op.variadic)
    return "In place: any output may name an input exactly (read-modify-write).";
  if (op.inPlace.empty())
    return "Not in place.";
  std::string out = "In place:";
  for (size_t k = 0; k < op.inPlace.size(); ++k) {
    auto [output, input] = op.inPlace[k];
    out += std::string(k ? ";" : "") + " output " + std::string(op.outputNames[output]) + " may be exactly input " +
           std::string(op.inputNames[input]);
  }
  return out + " (or be a region of its own).";
}

const char *typeWord(AttributeType type) {
  switch (type) {
  case AttributeType::Int:
    return "integer";
  case AttributeType::Float:
    return "float";
  case AttributeType::String:
    return "string";
  }
  return "";
}

std::string constraint(const AttributeSpec &spec) {
  if (spec.positive)
    return "> 0";
  if (spec.choices.empty())
    return "any";
  std::string out;
  for (size_t i = 0; i < spec.choices.size(); ++i)
    out += std::string(i == 0                         ? ""
                       : i + 1 == spec.choices.size() ? " or "
                                                      : ", ") +
           "`" + std::string(spec.choices[i]) + "`";
  return out;
}

std::string attributeTable(const OpInfo &op) {
  std::string out = "  | attribute | type | default | constraint | meaning |\n  |---|---|---|---|---|\n";
  for (const AttributeSpec &spec : op.attributes)
    out += "  | `" + std::string(spec.name) + "` | " + typeWord(spec.type) + " | " +
           (spec.required ? std::string("required") : "`" + printValue(spec.defaultValue) + "`") + " | " +
           constraint(spec) + " | " + std::string(spec.meaning) + " |\n";
  return out;
}

} // namespace

std::string opReferenceMarkdown() {
  std::string out = "| op | operands | meaning |\n|---|---|---|\n";
  for (const OpInfo &op : allOps())
    out += "| `" + std::string(op.name) + "` | `" + operands(op) + "` | " + std::string(op.meaning) + " |\n";
  out += "\nRules per op:\n\n";
  for (const OpInfo &op : allOps()) {
    std::string entry = "- **" + std::string(op.name) + "** `" + operands(op) + "`. " + std::string(op.rules) + " " +
                        inPlaceSentence(op) + (op.attributes.empty() ? " No attributes." : " Attributes:");
    out += wrapped(entry, 2);
    if (!op.attributes.empty())
      out += "\n" + attributeTable(op) + "\n";
  }
  return out;
}

} // namespace amk::ir
