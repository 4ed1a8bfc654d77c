// The front end in one call: read a schedule file (size-capped), parse it, elaborate it. What the
// tools and the other components use to get from a path to a checked core program.
#pragma once

#include "amk/ir/ast.h"
#include "amk/ir/diagnostics.h"
#include "amk/ir/program.h"
#include "amk/ir/source.h"

#include <memory>
#include <optional>
#include <string>

namespace amk::ir {

struct Schedule {
  std::unique_ptr<SourceFile> source; // null when the file could not be read
  std::optional<ast::File> ast;       // set when it parsed
  std::optional<Program> program;     // set when it is well-formed
  Diagnostics diagnostics;
  std::string readError; // I/O failure, when source is null

  bool wellFormed() const { return program.has_value(); }
  std::string renderDiagnostics() const;
};

enum class Stage { Parse, Elaborate };

// Reads `path` ("-" for standard input) up to limits::kMaxFileBytes.
Schedule loadSchedule(const std::string &path, Stage upTo = Stage::Elaborate);
// The same from text already in memory.
Schedule parseSchedule(std::string name, std::string text, Stage upTo = Stage::Elaborate);

} // namespace amk::ir
