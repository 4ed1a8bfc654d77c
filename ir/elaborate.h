// Elaboration: surface AST to core program, with every well-formedness rule of the AMKIR contract
// checked on the way (names, affine expressions, bounds of every instance, op shape and dtype rules,
// read-only buffers, in-place aliasing, 32-bit counters, size limits).
#pragma once

#include "amk/ir/ast.h"
#include "amk/ir/diagnostics.h"
#include "amk/ir/program.h"
#include "amk/ir/source.h"

#include <optional>

namespace amk::ir {

// The program when the schedule is well-formed; otherwise std::nullopt and the reasons.
std::optional<Program> elaborate(const ast::File &file, const SourceFile &source, Diagnostics &diagnostics);

} // namespace amk::ir
