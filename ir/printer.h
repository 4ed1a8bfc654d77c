// Printers: the canonical surface form of an AST (what amk-fmt writes; parsing it gives back the
// same AST) and the elaborated core form (one instruction list per block).
#pragma once

#include "amk/ir/ast.h"

#include <string>

namespace amk::ir {

struct Program;

std::string printSurface(const ast::File &file);
std::string printExpr(const ast::Expr &expr);
std::string printRegion(const ast::Region &region);
std::string printValue(const ast::Value &value);
// One declaration or instruction on one line (no comments), as the surface printer writes it.
std::string printInstruction(const ast::Stmt &stmt);

} // namespace amk::ir
