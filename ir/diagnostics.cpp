#include "ir/diagnostics.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace amk::ir {

Diagnostic &Diagnostics::error(std::string ruleId, SourceRange range, std::string message) {
  Diagnostic d;
  d.severity = Severity::Error;
  d.ruleId = std::move(ruleId);
  d.range = range;
  d.message = std::move(message);
  add(std::move(d));
  if (dropped_ > 0 && all_.size() >= limit_) {
    overflow_ = Diagnostic{};
    return overflow_;
  }
  return all_.back();
}

void Diagnostics::add(Diagnostic diagnostic) {
  if (diagnostic.severity == Severity::Error)
    ++errorCount_;
  if (all_.size() >= limit_) {
    ++dropped_;
    return;
  }
  all_.push_back(std::move(diagnostic));
}

void Diagnostics::sortByLocation() {
  std::stable_sort(all_.begin(), all_.end(), [](const Diagnostic &a, const Diagnostic &b) {
    return a.range.begin.offset < b.range.begin.offset;
  });
}

namespace {

const char *severityName(Severity s) {
  switch (s) {
  case Severity::Error:
    return "error";
  case Severity::Warning:
    return "warning";
  case Severity::Note:
    return "note";
  }
  return "error";
}

// Echo the source line (tabs kept so the caret lines up) and underline [begin, end) on that line.
void renderSnippet(std::string &out, const SourceFile &file, const SourceRange &range) {
  std::string_view line = file.lineText(range.begin.line);
  std::string printable;
  printable.reserve(line.size());
  for (char c : line) {
    unsigned char u = static_cast<unsigned char>(c);
    printable.push_back((u < 0x20 && c != '\t') || u == 0x7f ? '?' : c);
  }
  out += printable;
  out += '\n';
  uint32_t start = range.begin.column - 1;
  uint32_t stop = range.end.line == range.begin.line ? range.end.column - 1 : static_cast<uint32_t>(line.size());
  if (stop <= start)
    stop = start + 1;
  std::string caret;
  for (uint32_t i = 0; i < start; ++i)
    caret.push_back(i < line.size() && line[i] == '\t' ? '\t' : ' ');
  caret.push_back('^');
  for (uint32_t i = start + 1; i < stop && i < line.size(); ++i)
    caret.push_back('~');
  out += caret;
  out += '\n';
}

std::string position(const SourceFile &file, const SourceRange &range) {
  return file.name() + ":" + std::to_string(range.begin.line) + ":" + std::to_string(range.begin.column);
}

} // namespace

std::string renderText(const Diagnostic &diagnostic, const SourceFile &file) {
  std::string out = position(file, diagnostic.range) + ": " + severityName(diagnostic.severity) + ": " +
                    diagnostic.message + " [" + diagnostic.ruleId + "]\n";
  renderSnippet(out, file, diagnostic.range);
  for (const DiagnosticNote &note : diagnostic.notes) {
    if (note.hasRange) {
      out += position(file, note.range) + ": note: " + note.message + "\n";
      renderSnippet(out, file, note.range);
    } else {
      out += file.name() + ": note: " + note.message + "\n";
    }
  }
  return out;
}

std::string renderText(const Diagnostics &diagnostics, const SourceFile &file) {
  std::string out;
  for (const Diagnostic &d : diagnostics.all())
    out += renderText(d, file);
  if (diagnostics.dropped() > 0)
    out += file.name() + ": note: " + std::to_string(diagnostics.dropped()) +
           " more diagnostics not shown (limit " + std::to_string(diagnostics.all().size()) + ")\n";
  return out;
}

nlohmann::json toJson(const Diagnostic &diagnostic, const SourceFile &file) {
  auto rangeJson = [](const SourceRange &r) {
    return nlohmann::json{{"begin", {{"line", r.begin.line}, {"column", r.begin.column}}},
                          {"end", {{"line", r.end.line}, {"column", r.end.column}}}};
  };
  nlohmann::json notes = nlohmann::json::array();
  for (const DiagnosticNote &note : diagnostic.notes) {
    nlohmann::json n{{"message", note.message}};
    if (note.hasRange)
      n["range"] = rangeJson(note.range);
    notes.push_back(std::move(n));
  }
  return nlohmann::json{{"severity", severityName(diagnostic.severity)},
                        {"rule", diagnostic.ruleId},
                        {"file", file.name()},
                        {"range", rangeJson(diagnostic.range)},
                        {"message", diagnostic.message},
                        {"notes", std::move(notes)}};
}

} // namespace amk::ir
