// The AMKIR parser: recursive descent over the token stream, with recovery at line granularity
// so that one run reports several errors.
#pragma once

#include "amk/ir/ast.h"
#include "amk/ir/diagnostics.h"
#include "amk/ir/source.h"

#include <optional>

namespace amk::ir {

// Returns the AST when the file parsed without errors; otherwise std::nullopt, with the reasons in
// `diagnostics`.
std::optional<ast::File> parse(const SourceFile &file, Diagnostics &diagnostics);

} // namespace amk::ir
