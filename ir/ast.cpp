#include "amk/ir/ast.h"

namespace amk::ir::ast {

bool Expr::mentionsVariables() const {
  if (kind == Kind::Variable)
    return true;
  return (lhs && lhs->mentionsVariables()) || (rhs && rhs->mentionsVariables());
}

const char *bufferKindName(BufferKind kind) {
  switch (kind) {
  case BufferKind::Param:
    return "param";
  case BufferKind::Input:
    return "input";
  case BufferKind::State:
    return "state";
  case BufferKind::Scratch:
    return "scratch";
  case BufferKind::Output:
    return "output";
  }
  return "?";
}

const char *dtypeName(DType dtype) {
  switch (dtype) {
  case DType::BF16:
    return "bf16";
  case DType::F16:
    return "f16";
  case DType::F32:
    return "f32";
  case DType::I32:
    return "i32";
  case DType::I8:
    return "i8";
  }
  return "?";
}

size_t dtypeBytes(DType dtype) {
  switch (dtype) {
  case DType::BF16:
  case DType::F16:
    return 2;
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::I8:
    return 1;
  }
  return 1;
}

const char *syncSuffix(SyncScope scope) {
  switch (scope) {
  case SyncScope::Relaxed:
    return ".relaxed";
  case SyncScope::Cta:
    return ".cta";
  case SyncScope::Default:
    break;
  }
  return "";
}

bool isFloatType(DType dtype) { return dtype == DType::BF16 || dtype == DType::F16 || dtype == DType::F32; }

// ---- structural equality: everything but source ranges ----------------------------------------

bool sameStructure(const Expr &a, const Expr &b) {
  if (a.kind != b.kind)
    return false;
  switch (a.kind) {
  case Expr::Kind::Integer:
    return a.value == b.value;
  case Expr::Kind::Variable:
    return a.name == b.name;
  case Expr::Kind::Negate:
    return sameStructure(*a.lhs, *b.lhs);
  default:
    return sameStructure(*a.lhs, *b.lhs) && sameStructure(*a.rhs, *b.rhs);
  }
}

namespace {

bool same(const Trivia &a, const Trivia &b) {
  return a.blankLineBefore == b.blankLineBefore && a.leadingComments == b.leadingComments &&
         a.trailingComment == b.trailingComment;
}

bool same(const Index &a, const Index &b) {
  if (a.kind != b.kind)
    return false;
  if (a.kind == Index::Kind::All)
    return true;
  if (!sameStructure(a.lo, b.lo))
    return false;
  return a.kind == Index::Kind::Point || sameStructure(a.hi, b.hi);
}

bool same(const Region &a, const Region &b) {
  if (a.buffer != b.buffer || a.indexed != b.indexed || a.indices.size() != b.indices.size())
    return false;
  for (size_t i = 0; i < a.indices.size(); ++i)
    if (!same(a.indices[i], b.indices[i]))
      return false;
  return true;
}

bool same(const std::vector<Region> &a, const std::vector<Region> &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!same(a[i], b[i]))
      return false;
  return true;
}

bool same(const CounterRef &a, const CounterRef &b) {
  if (a.counter != b.counter || a.index.has_value() != b.index.has_value())
    return false;
  return !a.index || sameStructure(*a.index, *b.index);
}

bool same(const std::vector<KeyValue> &a, const std::vector<KeyValue> &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].key != b[i].key || a[i].value.value != b[i].value.value)
      return false;
  return true;
}

bool same(const std::vector<Stmt> &a, const std::vector<Stmt> &b);

template <typename Section> bool sameSection(const Section &a, const Section &b) {
  return a.variable == b.variable && sameStructure(a.lo, b.lo) && sameStructure(a.hi, b.hi) &&
         a.openingComment == b.openingComment && same(a.body, b.body) && same(a.closing, b.closing);
}

bool same(const Stmt &a, const Stmt &b) {
  if (a.node.index() != b.node.index() || !same(a.trivia, b.trivia))
    return false;
  return std::visit(
      [&](const auto &x) -> bool {
        using T = std::decay_t<decltype(x)>;
        const T &y = std::get<T>(b.node);
        if constexpr (std::is_same_v<T, BufferDecl>) {
          return x.kind == y.kind && x.name == y.name && x.dtype == y.dtype && x.shape == y.shape;
        } else if constexpr (std::is_same_v<T, CounterDecl>) {
          return x.name == y.name && x.size == y.size;
        } else if constexpr (std::is_same_v<T, ForLoop> || std::is_same_v<T, BlocksSection>) {
          return sameSection(x, y);
        } else if constexpr (std::is_same_v<T, Barrier>) {
          return true;
        } else if constexpr (std::is_same_v<T, Signal>) {
          if (x.scope != y.scope || !same(x.counter, y.counter) || x.amount.has_value() != y.amount.has_value())
            return false;
          return !x.amount || sameStructure(*x.amount, *y.amount);
        } else if constexpr (std::is_same_v<T, Wait>) {
          return x.scope == y.scope && same(x.counter, y.counter) && sameStructure(x.threshold, y.threshold);
        } else {
          static_assert(std::is_same_v<T, Task>);
          return x.op == y.op && same(x.outputs, y.outputs) && same(x.inputs, y.inputs) &&
                 same(x.attributes, y.attributes);
        }
      },
      a.node);
}

bool same(const std::vector<Stmt> &a, const std::vector<Stmt> &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!same(a[i], b[i]))
      return false;
  return true;
}

} // namespace

bool sameStructure(const File &a, const File &b) {
  if (a.version != b.version || !same(a.versionTrivia, b.versionTrivia))
    return false;
  if (a.target.arch != b.target.arch || a.target.sms != b.target.sms || !same(a.target.trivia, b.target.trivia))
    return false;
  if (a.grid.blocks != b.grid.blocks || a.grid.threads != b.grid.threads || a.grid.occupancy != b.grid.occupancy ||
      !same(a.grid.trivia, b.grid.trivia))
    return false;
  if (a.metas.size() != b.metas.size())
    return false;
  for (size_t i = 0; i < a.metas.size(); ++i)
    if (!same(a.metas[i].entries, b.metas[i].entries) || !same(a.metas[i].trivia, b.metas[i].trivia))
      return false;
  return same(a.statements, b.statements) && a.trailingComments == b.trailingComments;
}

} // namespace amk::ir::ast
