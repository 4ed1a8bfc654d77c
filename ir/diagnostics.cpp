#include "amk/ir/diagnostics.h"

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

bool validUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (length == 0 || i + length > text.size())
      return false;
    for (size_t k = 1; k < length; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80)
        return false;
    i += length;
  }
  return true;
}

bool isContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Echo the source line (tabs kept so the caret lines up; control bytes, and every non-ASCII byte of a
// line that is not valid UTF-8, shown as '?') and underline [begin, end) on that line. Lines longer
// than kMaxShown are cut to a window around the caret.
void renderSnippet(std::string &out, const SourceFile &file, const SourceRange &range) {
  constexpr size_t kMaxShown = 160;
  std::string_view line = file.lineText(range.begin.line);
  size_t start = range.begin.column - 1;
  size_t stop = range.end.line == range.begin.line ? range.end.column - 1 : line.size();
  if (stop <= start)
    stop = start + 1;
  std::string prefix, suffix;
  if (line.size() > kMaxShown) {
    size_t from = start > 60 ? start - 60 : 0;
    while (from > 0 && from < line.size() && isContinuationByte(line[from]))
      --from;
    size_t to = std::min(line.size(), from + kMaxShown);
    while (to < line.size() && isContinuationByte(line[to]))
      ++to;
    if (from > 0)
      prefix = "...";
    if (to < line.size())
      suffix = "...";
    line = line.substr(from, to - from);
    start -= from;
    stop = std::min(stop - from, line.size() + 1);
  }
  bool utf8 = validUtf8(line);
  std::string printable = prefix;
  for (char c : line) {
    unsigned char u = static_cast<unsigned char>(c);
    bool control = (u < 0x20 && c != '\t') || u == 0x7f;
    printable.push_back(control || (u >= 0x80 && !utf8) ? '?' : c);
  }
  out += printable + suffix + '\n';
  // One caret column per character: UTF-8 continuation bytes take no column.
  std::string caret(prefix.size(), ' ');
  for (size_t i = 0; i < start && i < line.size(); ++i)
    if (!utf8 || !isContinuationByte(line[i]))
      caret.push_back(line[i] == '\t' ? '\t' : ' ');
  for (size_t i = line.size(); i < start; ++i)
    caret.push_back(' ');
  caret.push_back('^');
  for (size_t i = start + 1; i < stop && i < line.size(); ++i)
    if (!utf8 || !isContinuationByte(line[i]))
      caret.push_back('~');
  out += caret + '\n';
}

std::string position(const SourceFile &file, const SourceRange &range) {
  return file.name() + ":" + std::to_string(range.begin.line) + ":" + std::to_string(range.begin.column);
}

} // namespace

std::string renderText(const Diagnostic &diagnostic, const SourceFile &file) {
  std::string where = diagnostic.hasLocation ? position(file, diagnostic.range) : file.name();
  std::string out =
      where + ": " + severityName(diagnostic.severity) + ": " + diagnostic.message + " [" + diagnostic.ruleId + "]\n";
  if (diagnostic.hasLocation)
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
    out += file.name() + ": note: " + std::to_string(diagnostics.dropped()) + " more diagnostics not shown (limit " +
           std::to_string(diagnostics.limit()) + ")\n";
  else if (diagnostics.full())
    out += file.name() + ": note: stopped after " + std::to_string(diagnostics.limit()) +
           " diagnostics; there may be more\n";
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
  nlohmann::json out{{"severity", severityName(diagnostic.severity)},
                     {"rule", diagnostic.ruleId},
                     {"file", file.name()},
                     {"message", diagnostic.message},
                     {"notes", std::move(notes)}};
  if (diagnostic.hasLocation)
    out["range"] = rangeJson(diagnostic.range);
  return out;
}

} // namespace amk::ir
