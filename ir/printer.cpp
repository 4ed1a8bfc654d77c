#include "amk/ir/printer.h"

#include <charconv>

namespace amk::ir {
namespace {

using ast::Expr;

int precedence(const Expr &e) {
  switch (e.kind) {
  case Expr::Kind::Add:
  case Expr::Kind::Subtract:
    return 1;
  case Expr::Kind::Multiply:
  case Expr::Kind::Divide:
  case Expr::Kind::Modulo:
    return 2;
  default:
    return 3;
  }
}

const char *operatorSpelling(Expr::Kind kind) {
  switch (kind) {
  case Expr::Kind::Add:
    return "+";
  case Expr::Kind::Subtract:
    return "-";
  case Expr::Kind::Multiply:
    return "*";
  case Expr::Kind::Divide:
    return "/";
  case Expr::Kind::Modulo:
    return "%";
  default:
    return "?";
  }
}

void printExprTo(std::string &out, const Expr &e) {
  switch (e.kind) {
  case Expr::Kind::Integer:
    out += std::to_string(e.value);
    return;
  case Expr::Kind::Variable:
    out += e.name;
    return;
  case Expr::Kind::Negate: {
    out += '-';
    bool parens = e.lhs->isBinary();
    if (parens)
      out += '(';
    printExprTo(out, *e.lhs);
    if (parens)
      out += ')';
    return;
  }
  default: {
    int p = precedence(e);
    bool leftParens = precedence(*e.lhs) < p;
    bool rightParens = precedence(*e.rhs) <= p;
    if (leftParens)
      out += '(';
    printExprTo(out, *e.lhs);
    if (leftParens)
      out += ')';
    out += operatorSpelling(e.kind);
    if (rightParens)
      out += '(';
    printExprTo(out, *e.rhs);
    if (rightParens)
      out += ')';
    return;
  }
  }
}

bool isAtom(const Expr &e) { return e.kind == Expr::Kind::Integer || e.kind == Expr::Kind::Variable; }

std::string quoteString(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string printCounterRef(const ast::CounterRef &ref) {
  std::string out = ref.counter;
  if (ref.index)
    out += "[" + printExpr(*ref.index) + "]";
  return out;
}

std::string printKeyValues(const std::vector<ast::KeyValue> &entries) {
  std::string out;
  for (const ast::KeyValue &kv : entries) {
    if (!out.empty())
      out += ' ';
    out += kv.key + "=" + printValue(kv.value);
  }
  return out;
}

class SurfacePrinter {
public:
  std::string run(const ast::File &file) {
    line(file.versionTrivia, "amkir " + std::to_string(file.version));
    line(file.target.trivia, "target " + file.target.arch + " sms=" + std::to_string(file.target.sms));
    line(file.grid.trivia, "grid blocks=" + std::to_string(file.grid.blocks) + " threads=" +
                               std::to_string(file.grid.threads) + " occupancy=" + std::to_string(file.grid.occupancy));
    for (const ast::Meta &meta : file.metas)
      line(meta.trivia, "meta " + printKeyValues(meta.entries));
    for (const ast::Stmt &stmt : file.statements)
      statement(stmt);
    for (const std::string &comment : file.trailingComments)
      out_ += "#" + comment + "\n";
    return std::move(out_);
  }

private:
  void indent() { out_.append(2 * static_cast<size_t>(depth_), ' '); }

  void leading(const ast::Trivia &trivia) {
    // No blank line opens a file or a section body (the parser drops those too).
    if (trivia.blankLineBefore && !out_.empty() && !justOpened_)
      out_ += '\n';
    justOpened_ = false;
    for (const std::string &comment : trivia.leadingComments) {
      indent();
      out_ += "#" + comment + "\n";
    }
  }

  void line(const ast::Trivia &trivia, const std::string &text) {
    leading(trivia);
    indent();
    out_ += text;
    trailing(trivia.trailingComment);
    out_ += '\n';
  }

  void trailing(const std::optional<std::string> &comment) {
    if (comment)
      out_ += "  #" + *comment;
  }

  static bool isInstruction(const ast::Stmt &stmt) {
    return !std::holds_alternative<ast::ForLoop>(stmt.node) && !std::holds_alternative<ast::BlocksSection>(stmt.node);
  }

  static bool hasTrivia(const ast::Trivia &t) { return !t.leadingComments.empty() || t.trailingComment; }

  template <typename Section> void section(const ast::Stmt &stmt, const char *keyword, const Section &s) {
    leading(stmt.trivia);
    indent();
    out_ += std::string(keyword) + " " + s.variable + " in " + printExpr(s.lo) + ".." + printExpr(s.hi) + " {";
    // A lone instruction without comments stays on one line: `blocks b in 0..132 { barrier }`.
    if (s.body.size() == 1 && isInstruction(s.body[0]) && !hasTrivia(s.body[0].trivia) && !s.openingComment &&
        !hasTrivia(s.closing)) {
      out_ += " " + instruction(s.body[0]) + " }";
      trailing(stmt.trivia.trailingComment);
      out_ += '\n';
      return;
    }
    trailing(s.openingComment);
    out_ += '\n';
    justOpened_ = true;
    ++depth_;
    for (const ast::Stmt &inner : s.body)
      statement(inner);
    justOpened_ = false;
    for (const std::string &comment : s.closing.leadingComments) {
      indent();
      out_ += "#" + comment + "\n";
    }
    --depth_;
    indent();
    out_ += "}";
    trailing(stmt.trivia.trailingComment);
    out_ += '\n';
  }

  void statement(const ast::Stmt &stmt) {
    if (const auto *loop = std::get_if<ast::ForLoop>(&stmt.node))
      return section(stmt, "for", *loop);
    if (const auto *blocks = std::get_if<ast::BlocksSection>(&stmt.node))
      return section(stmt, "blocks", *blocks);
    line(stmt.trivia, instruction(stmt));
  }

  static std::string regions(const std::vector<ast::Region> &list) {
    std::string out;
    for (size_t i = 0; i < list.size(); ++i) {
      if (i)
        out += ", ";
      out += printRegion(list[i]);
    }
    return out;
  }

public:
  // Declarations and instructions: everything that fits on one line.
  static std::string instruction(const ast::Stmt &stmt) {
    return std::visit(
        [](const auto &x) -> std::string {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, ast::BufferDecl>) {
            std::string out =
                std::string(ast::bufferKindName(x.kind)) + " " + x.name + " : " + ast::dtypeName(x.dtype) + "[";
            for (size_t i = 0; i < x.shape.size(); ++i)
              out += (i ? ", " : "") + std::to_string(x.shape[i]);
            return out + "]";
          } else if constexpr (std::is_same_v<T, ast::CounterDecl>) {
            return "counter " + x.name + (x.size ? "[" + std::to_string(*x.size) + "]" : "");
          } else if constexpr (std::is_same_v<T, ast::Barrier>) {
            return "barrier";
          } else if constexpr (std::is_same_v<T, ast::Signal>) {
            std::string out = std::string("signal") + ast::syncSuffix(x.scope) + " " + printCounterRef(x.counter);
            if (x.amount)
              out += " + " + printExpr(*x.amount);
            return out;
          } else if constexpr (std::is_same_v<T, ast::Wait>) {
            return std::string("wait") + ast::syncSuffix(x.scope) + " " + printCounterRef(x.counter) +
                   " >= " + printExpr(x.threshold);
          } else if constexpr (std::is_same_v<T, ast::Task>) {
            std::string out = x.op;
            if (!x.outputs.empty())
              out += " " + regions(x.outputs);
            out += " <-";
            if (!x.inputs.empty())
              out += " " + regions(x.inputs);
            if (!x.attributes.empty())
              out += " " + printKeyValues(x.attributes);
            return out;
          } else {
            return "";
          }
        },
        stmt.node);
  }

  std::string out_;
  int depth_ = 0;
  bool justOpened_ = false;
};

} // namespace

std::string printExpr(const ast::Expr &expr) {
  std::string out;
  printExprTo(out, expr);
  return out;
}

std::string printRegion(const ast::Region &region) {
  std::string out = region.buffer;
  if (!region.indexed)
    return out;
  out += '[';
  for (size_t i = 0; i < region.indices.size(); ++i) {
    const ast::Index &index = region.indices[i];
    if (i)
      out += ", ";
    switch (index.kind) {
    case ast::Index::Kind::All:
      out += ':';
      break;
    case ast::Index::Kind::Point:
      out += printExpr(index.lo);
      break;
    case ast::Index::Kind::Slice:
      // Simple bounds pack tightly (x[0:8]); compound ones get air (x[8*b : 8*b+8]).
      out += printExpr(index.lo) + (isAtom(index.lo) && isAtom(index.hi) ? ":" : " : ") + printExpr(index.hi);
      break;
    }
  }
  out += ']';
  return out;
}

std::string printValue(const ast::Value &value) {
  if (const int64_t *i = std::get_if<int64_t>(&value.value))
    return std::to_string(*i);
  if (const double *d = std::get_if<double>(&value.value)) {
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, *d);
    std::string text(buffer, ec == std::errc() ? end : buffer);
    if (text.find_first_of(".e") == std::string::npos)
      text += ".0"; // keep it a number, not an integer
    return text;
  }
  return quoteString(std::get<std::string>(value.value));
}

std::string printSurface(const ast::File &file) { return SurfacePrinter().run(file); }

std::string printInstruction(const ast::Stmt &stmt) { return SurfacePrinter::instruction(stmt); }

} // namespace amk::ir
