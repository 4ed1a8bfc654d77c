// Diagnostics as values: {severity, rule id, range, message, notes}, rendered as clang-style text
// or JSON. Libraries collect them; only tools decide what to print and which exit code to use.
#pragma once

#include "amk/ir/source.h"

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace amk::ir {

enum class Severity { Error, Warning, Note };

struct DiagnosticNote {
  SourceRange range;
  std::string message;
  bool hasRange = true;
};

struct Diagnostic {
  Severity severity = Severity::Error;
  std::string ruleId; // stable, e.g. "AMK-P001"; listed in docs/amkir.md
  SourceRange range;
  std::string message; // lowercase, no final period, names the things involved
  std::vector<DiagnosticNote> notes;
  bool hasLocation = true; // false: about the file as a whole (too large, unreadable); no line to show
};

// Collects diagnostics for one file, up to a cap (past it, one final note says how many were dropped).
class Diagnostics {
public:
  static constexpr size_t kDefaultLimit = 50;

  explicit Diagnostics(size_t limit = kDefaultLimit) : limit_(limit) {}

  // The returned reference is valid until the next call; use it to attach notes.
  Diagnostic &error(std::string ruleId, SourceRange range, std::string message);
  void add(Diagnostic diagnostic);

  bool hasErrors() const { return errorCount_ > 0; }
  size_t errorCount() const { return errorCount_; }
  bool full() const { return all_.size() >= limit_; }
  size_t limit() const { return limit_; }
  size_t dropped() const { return dropped_; }
  const std::vector<Diagnostic> &all() const { return all_; }
  // Orders diagnostics by source position (stable: equal positions keep their order).
  void sortByLocation();

private:
  size_t limit_;
  size_t errorCount_ = 0;
  size_t dropped_ = 0;
  std::vector<Diagnostic> all_;
  Diagnostic overflow_; // receives writes once the cap is reached
};

// clang style: "file:line:col: error: message [RULE]", the source line, a caret line, then notes.
std::string renderText(const Diagnostic &diagnostic, const SourceFile &file);
std::string renderText(const Diagnostics &diagnostics, const SourceFile &file);
nlohmann::json toJson(const Diagnostic &diagnostic, const SourceFile &file);

} // namespace amk::ir
