// The AMKIR parser: recursive descent over the token stream, with recovery at line granularity
// so that one run reports several errors.
#pragma once

#include "ir/ast.h"
#include "ir/diagnostics.h"
#include "ir/source.h"

#include <optional>

namespace amk::ir {

// Returns the AST when the file parsed without errors; otherwise std::nullopt, with the reasons in
// `diagnostics`.
std::optional<ast::File> parse(const SourceFile &file, Diagnostics &diagnostics);

} // namespace amk::ir
