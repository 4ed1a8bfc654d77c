#include "amk/ir/elaborate.h"

#include "amk/ir/limits.h"
#include "amk/ir/printer.h"

#include <map>
#include <set>
#include <span>
#include <unordered_map>
#include <unordered_set>

namespace amk::ir {
namespace {

using ast::Expr;

struct Symbol {
  enum class Kind { Buffer, Counter } kind;
  uint32_t id;
};

struct Binding {
  std::string_view name;
  int64_t value;
};

// Thrown when elaboration must stop at once (limits, too many errors).
struct ElaborationAbort {};

std::string withBindings(const std::string &message, const std::string &bindings) {
  return bindings.empty() ? message : message + " (" + bindings + ")";
}

class Elaborator {
public:
  Elaborator(const ast::File &file, const SourceFile &source, Diagnostics &diagnostics)
      : file_(file), source_(source), diagnostics_(diagnostics) {}

  std::optional<Program> run() {
    program_.sourceName = source_.name();
    program_.arch = file_.target.arch;
    program_.sms = file_.target.sms;
    program_.blocks = file_.grid.blocks;
    program_.threads = file_.grid.threads;
    program_.occupancy = file_.grid.occupancy;
    for (const ast::Meta &meta : file_.metas)
      for (const ast::KeyValue &kv : meta.entries)
        program_.meta.push_back({kv.key, kv.value}); // keys are unique: the parser checks
    try {
      for (const ast::Stmt &stmt : file_.statements)
        collectDeclarationSites(stmt);
      // Pass 1 reports name, expression and signature errors and marks what they break; passes 2
      // and 3 skip those parts, so independent errors elsewhere are still found.
      resolve(file_.statements);
      mode_ = Mode::Count;
      walkTopLevel();
      if (instructions_ > limits::kMaxInstructions) {
        Diagnostic &d = diagnostics_.error("AMK-X003", file_.grid.range,
                                           "schedule elaborates to more than " +
                                               std::to_string(limits::kMaxInstructions) + " instructions (the limit)");
        d.notes.push_back(
            {keywordRange(*currentTopLevel_), "the limit was reached while elaborating this section", true});
        return std::nullopt;
      }
      program_.blockPrograms.resize(static_cast<size_t>(program_.blocks));
      for (size_t k = 0; k < program_.blockPrograms.size(); ++k)
        program_.blockPrograms[k].reserve(perBlock_[k]);
      mode_ = Mode::Build;
      steps_ = 0;
      walkTopLevel();
      checkCounterTotals();
    } catch (const ElaborationAbort &) {
      return std::nullopt;
    }
    if (diagnostics_.hasErrors())
      return std::nullopt;
    return std::move(program_);
  }

private:
  enum class Mode { Resolve, Count, Build };

  Diagnostic &error(const char *rule, SourceRange range, std::string message) {
    Diagnostic &d = diagnostics_.error(rule, range, std::move(message));
    if (diagnostics_.full())
      throw ElaborationAbort{};
    return d;
  }

  // Per-instance errors are reported once per (source node, rule): the first instance stands for all.
  Diagnostic *errorOnce(const void *node, const char *rule, SourceRange range, std::string message) {
    if (!reported_.insert({node, rule}).second)
      return nullptr;
    return &error(rule, range, std::move(message));
  }

  void declaredHere(Diagnostic *d, const std::string &what, SourceRange where) {
    if (d)
      d->notes.push_back({where, what + " declared here", true});
  }

  // ---- pass 1: names, expressions, op signatures, read-only buffers -------------------------

  void collectDeclarationSites(const ast::Stmt &stmt) {
    if (const auto *b = std::get_if<ast::BufferDecl>(&stmt.node))
      allDeclarations_.emplace(b->name, Declared{b->nameRange, "buffer"});
    if (const auto *c = std::get_if<ast::CounterDecl>(&stmt.node))
      allDeclarations_.emplace(c->name, Declared{c->nameRange, "counter"});
  }

  void declare(const std::string &name, SourceRange range, Symbol symbol) {
    auto [it, inserted] = symbols_.emplace(name, symbol);
    if (!inserted) {
      Diagnostic &d = error("AMK-N002", range, "'" + name + "' is declared twice");
      d.notes.push_back({declarationRange(it->second), "previous declaration of '" + name + "' here", true});
    }
  }

  SourceRange declarationRange(const Symbol &symbol) const {
    return symbol.kind == Symbol::Kind::Buffer ? program_.buffers[symbol.id].declaration
                                               : program_.counters[symbol.id].declaration;
  }

  const Symbol *lookup(const std::string &name, SourceRange use, const char *wanted) {
    auto it = symbols_.find(name);
    if (it != symbols_.end())
      return &it->second;
    auto later = allDeclarations_.find(name);
    if (later != allDeclarations_.end()) {
      Diagnostic &d = error("AMK-N001", use, "'" + name + "' is used before its declaration");
      d.notes.push_back({later->second.range, "'" + name + "' declared here", true});
    } else {
      error("AMK-N001", use, std::string("unknown ") + wanted + " '" + name + "'");
    }
    return nullptr;
  }

  void resolve(const std::vector<ast::Stmt> &statements) {
    for (const ast::Stmt &stmt : statements) {
      size_t before = diagnostics_.errorCount();
      resolveStatement(stmt);
      bool compound =
          std::holds_alternative<ast::ForLoop>(stmt.node) || std::holds_alternative<ast::BlocksSection>(stmt.node);
      // A section is skipped only when its own header is broken (errors inside it mark its statements).
      if (!compound && diagnostics_.errorCount() > before)
        broken_.insert(&stmt);
    }
  }

  void resolveStatement(const ast::Stmt &stmt) {
    std::visit(
        [&](const auto &node) {
          using T = std::decay_t<decltype(node)>;
          if constexpr (std::is_same_v<T, ast::BufferDecl>) {
            declare(node.name, node.nameRange, {Symbol::Kind::Buffer, static_cast<uint32_t>(program_.buffers.size())});
            program_.buffers.push_back({node.name, node.kind, node.dtype, node.shape, node.nameRange});
          } else if constexpr (std::is_same_v<T, ast::CounterDecl>) {
            declare(node.name, node.nameRange,
                    {Symbol::Kind::Counter, static_cast<uint32_t>(program_.counters.size())});
            program_.counters.push_back({node.name, node.size.value_or(1), node.size.has_value(), node.nameRange});
          } else if constexpr (std::is_same_v<T, ast::ForLoop> || std::is_same_v<T, ast::BlocksSection>) {
            size_t before = diagnostics_.errorCount();
            resolveExpr(node.lo);
            resolveExpr(node.hi);
            bool bound = checkNewVariable(node.variable, node.variableRange);
            if (diagnostics_.errorCount() > before)
              broken_.insert(&stmt);
            if (bound)
              scope_.push_back({node.variable, node.variableRange});
            resolve(node.body);
            if (bound)
              scope_.pop_back();
          } else {
            resolveInstruction(stmt);
          }
        },
        stmt.node);
  }

  bool checkNewVariable(const std::string &name, SourceRange range) {
    for (const auto &[outer, outerRange] : scope_)
      if (outer == name) {
        Diagnostic &d = error("AMK-N003", range, "loop variable '" + name + "' shadows an enclosing loop variable");
        d.notes.push_back({outerRange, "'" + name + "' bound here", true});
        return false;
      }
    // Buffers, counters and loop variables share one namespace, whichever comes first in the file.
    auto declared = allDeclarations_.find(name);
    if (declared != allDeclarations_.end()) {
      Diagnostic &d = error("AMK-N003", range,
                            "loop variable '" + name + "' reuses the name of a declared " + declared->second.kind);
      d.notes.push_back({declared->second.range, "'" + name + "' declared here", true});
      return false;
    }
    return true;
  }

  // Variables must be bound; products need a constant factor; divisors must be positive constants.
  void resolveExpr(const Expr &e) {
    switch (e.kind) {
    case Expr::Kind::Integer:
      return;
    case Expr::Kind::Variable: {
      for (const auto &[name, range] : scope_)
        if (name == e.name)
          return;
      auto it = symbols_.find(e.name);
      if (it != symbols_.end()) {
        Diagnostic &d =
            error("AMK-N004", e.range,
                  "'" + e.name + "' is a " + (it->second.kind == Symbol::Kind::Buffer ? "buffer" : "counter") +
                      ", not a loop variable");
        d.notes.push_back({declarationRange(it->second), "'" + e.name + "' declared here", true});
      } else
        error("AMK-N001", e.range, "unknown loop variable '" + e.name + "'");
      return;
    }
    case Expr::Kind::Negate:
      resolveExpr(*e.lhs);
      return;
    case Expr::Kind::Multiply:
      resolveExpr(*e.lhs);
      resolveExpr(*e.rhs);
      if (e.lhs->mentionsVariables() && e.rhs->mentionsVariables())
        error("AMK-E001", e.range,
              "non-affine expression '" + printExpr(e) + "': one factor of a product must be a constant");
      return;
    case Expr::Kind::Divide:
    case Expr::Kind::Modulo: {
      resolveExpr(*e.lhs);
      resolveExpr(*e.rhs);
      const char *what = e.kind == Expr::Kind::Divide ? "divisor" : "modulus";
      if (e.rhs->mentionsVariables()) {
        error("AMK-E001", e.range, "non-affine expression '" + printExpr(e) + "': the " + what + " must be a constant");
        return;
      }
      std::vector<Binding> none;
      std::optional<int64_t> divisor = evaluate(*e.rhs, none, nullptr);
      if (divisor && *divisor <= 0)
        error("AMK-E002", e.rhs->range,
              std::string(what) + " must be a positive constant, found " + std::to_string(*divisor) + " in '" +
                  printExpr(e) + "'");
      return;
    }
    default:
      resolveExpr(*e.lhs);
      resolveExpr(*e.rhs);
      return;
    }
  }

  void resolveRegion(const ast::Region &region, bool written, Site &site) {
    for (const ast::Index &index : region.indices) {
      if (index.kind != ast::Index::Kind::All)
        resolveExpr(index.lo);
      if (index.kind == ast::Index::Kind::Slice)
        resolveExpr(index.hi);
    }
    const Symbol *symbol = lookup(region.buffer, region.nameRange, "buffer");
    if (!symbol)
      return;
    if (symbol->kind != Symbol::Kind::Buffer) {
      Diagnostic &d = error("AMK-N004", region.nameRange, "'" + region.buffer + "' is a counter, not a buffer");
      d.notes.push_back({declarationRange(*symbol), "'" + region.buffer + "' declared here", true});
      return;
    }
    const Buffer &buffer = program_.buffers[symbol->id];
    if (region.indexed && region.indices.size() != buffer.shape.size()) {
      Diagnostic &d =
          error("AMK-B001", region.range,
                "region of '" + buffer.name + "' has " + std::to_string(region.indices.size()) +
                    " indices, but the buffer has " + std::to_string(buffer.shape.size()) +
                    (buffer.shape.size() == 1 ? " dimension " : " dimensions ") + shapeString(buffer.shape));
      d.notes.push_back({buffer.declaration, "buffer '" + buffer.name + "' declared here", true});
    }
    if (written && buffer.readOnly()) {
      Diagnostic &d =
          error("AMK-W001", region.range,
                "'" + site.text.substr(0, site.text.find(' ')) + "' writes to " + ast::bufferKindName(buffer.kind) +
                    " '" + buffer.name + "', which is read-only during the launch");
      d.notes.push_back({buffer.declaration, "buffer '" + buffer.name + "' declared here", true});
    }
  }

  void resolveCounter(const ast::CounterRef &ref) {
    if (ref.index)
      resolveExpr(*ref.index);
    const Symbol *symbol = lookup(ref.counter, ref.nameRange, "counter");
    if (!symbol)
      return;
    if (symbol->kind != Symbol::Kind::Counter) {
      Diagnostic &d = error("AMK-N004", ref.nameRange, "'" + ref.counter + "' is a buffer, not a counter");
      d.notes.push_back({declarationRange(*symbol), "'" + ref.counter + "' declared here", true});
      return;
    }
    const Counter &counter = program_.counters[symbol->id];
    if (counter.isArray && !ref.index) {
      Diagnostic &d = error("AMK-B004", ref.range,
                            "counter array '" + counter.name + "' needs an index (it has " +
                                std::to_string(counter.size) + " elements)");
      d.notes.push_back({counter.declaration, "counter '" + counter.name + "' declared here", true});
    } else if (!counter.isArray && ref.index) {
      Diagnostic &d = error("AMK-B004", ref.range, "'" + counter.name + "' is a single counter, not an array");
      d.notes.push_back({counter.declaration, "counter '" + counter.name + "' declared here", true});
    }
  }

  void resolveInstruction(const ast::Stmt &stmt) {
    Site site;
    site.range = stmt.range;
    site.text = printInstruction(stmt);
    for (const auto &[name, range] : scope_)
      site.loopVariables.push_back(name);
    std::visit(
        [&](const auto &node) {
          using T = std::decay_t<decltype(node)>;
          if constexpr (std::is_same_v<T, ast::Barrier>) {
            site.kind = InstructionKind::Barrier;
          } else if constexpr (std::is_same_v<T, ast::Signal>) {
            site.kind = InstructionKind::Signal;
            resolveCounter(node.counter);
            if (node.amount)
              resolveExpr(*node.amount);
          } else if constexpr (std::is_same_v<T, ast::Wait>) {
            site.kind = InstructionKind::Wait;
            resolveCounter(node.counter);
            resolveExpr(node.threshold);
          } else if constexpr (std::is_same_v<T, ast::Task>) {
            site.kind = InstructionKind::Task;
            resolveTask(node, site);
          }
        },
        stmt.node);
    siteOf_[&stmt] = static_cast<uint32_t>(program_.sites.size());
    program_.sites.push_back(std::move(site));
  }

  static std::string operandCounts(size_t outputs, size_t inputs) {
    return std::to_string(outputs) + (outputs == 1 ? " output and " : " outputs and ") + std::to_string(inputs) +
           (inputs == 1 ? " input" : " inputs");
  }

  static std::string signature(const OpInfo &op) {
    std::string out;
    for (size_t i = 0; i < op.outputNames.size(); ++i)
      out += (i ? ", " : "") + std::string(op.outputNames[i]);
    out += " <- ";
    for (size_t i = 0; i < op.inputNames.size(); ++i)
      out += (i ? ", " : "") + std::string(op.inputNames[i]);
    return out;
  }

  void resolveTask(const ast::Task &task, Site &site) {
    const OpInfo *op = findOp(task.op);
    for (const ast::Region &r : task.outputs)
      resolveRegion(r, true, site);
    for (const ast::Region &r : task.inputs)
      resolveRegion(r, false, site);
    if (!op) {
      std::string known;
      for (const OpInfo &info : allOps())
        known += (known.empty() ? "" : ", ") + std::string(info.name);
      error("AMK-T001", task.opRange, "unknown op '" + task.op + "' (the registry has: " + known + ")");
      return;
    }
    site.op = op->id;
    if (!op->variadic && (task.outputs.size() != op->outputNames.size() || task.inputs.size() != op->inputNames.size()))
      error("AMK-T002", task.opRange,
            "'" + task.op + "' takes " + operandCounts(op->outputNames.size(), op->inputNames.size()) + " (" +
                signature(*op) + "), found " + operandCounts(task.outputs.size(), task.inputs.size()));
    // Attributes: only declared ones, of their types; defaults for the rest, in registry order.
    for (const ast::KeyValue &kv : task.attributes)
      if (!op->findAttribute(kv.key)) {
        std::string accepted;
        for (const AttributeSpec &spec : op->attributes)
          accepted += (accepted.empty() ? "" : ", ") + std::string(spec.name);
        error("AMK-T005", kv.keyRange,
              "unknown attribute '" + kv.key + "' for '" + task.op + "' (" +
                  (accepted.empty() ? std::string("it takes none") : "it takes: " + accepted) + ")");
      }
    for (const AttributeSpec &spec : op->attributes) {
      const ast::KeyValue *given = nullptr;
      for (const ast::KeyValue &kv : task.attributes)
        if (kv.key == spec.name)
          given = &kv;
      if (!given) {
        if (spec.required)
          error("AMK-T006", task.opRange,
                "'" + task.op + "' needs attribute '" + std::string(spec.name) + "' (" + std::string(spec.meaning) +
                    ")");
        site.attributes.push_back(spec.defaultValue);
        continue;
      }
      site.attributes.push_back(checkAttribute(task, spec, *given));
    }
  }

  ast::Value checkAttribute(const ast::Task &task, const AttributeSpec &spec, const ast::KeyValue &kv) {
    ast::Value value = kv.value;
    std::string where = "attribute '" + kv.key + "' of '" + task.op + "'";
    auto mismatch = [&](const char *wanted) {
      error("AMK-T006", kv.value.range, where + " must be " + wanted + ", found " + printValue(kv.value));
      return spec.defaultValue;
    };
    switch (spec.type) {
    case AttributeType::Int: {
      const int64_t *i = std::get_if<int64_t>(&value.value);
      if (!i)
        return mismatch("an integer");
      if (spec.positive && *i <= 0)
        return mismatch("a positive integer");
      return value;
    }
    case AttributeType::Float: {
      if (const int64_t *i = std::get_if<int64_t>(&value.value))
        value.value = static_cast<double>(*i);
      const double *d = std::get_if<double>(&value.value);
      if (!d)
        return mismatch("a number");
      if (spec.positive && !(*d > 0))
        return mismatch("a positive number");
      return value;
    }
    case AttributeType::String: {
      const std::string *s = std::get_if<std::string>(&value.value);
      if (!s)
        return mismatch("a string");
      if (!spec.choices.empty()) {
        std::string choices;
        bool ok = false;
        for (std::string_view choice : spec.choices) {
          choices += (choices.empty() ? "" : ", ") + std::string(choice);
          ok = ok || choice == *s;
        }
        if (!ok) {
          error("AMK-T006", kv.value.range, where + " must be one of " + choices + ", found \"" + *s + "\"");
          return spec.defaultValue;
        }
      }
      return value;
    }
    }
    return value;
  }

  // ---- expression evaluation ------------------------------------------------------------------

  // Checked int64 evaluation; floor division and non-negative modulo by positive constants.
  // The loop values of an error message are formatted from `env` only when there is an error: this
  // runs for every expression of every instance.
  std::optional<int64_t> evaluate(const Expr &e, const std::vector<Binding> &env, const void *node) {
    switch (e.kind) {
    case Expr::Kind::Integer:
      return e.value;
    case Expr::Kind::Variable:
      for (auto it = env.rbegin(); it != env.rend(); ++it)
        if (it->name == e.name)
          return it->value;
      return std::nullopt; // unbound variables were reported in pass 1
    default:
      break;
    }
    std::optional<int64_t> a = evaluate(*e.lhs, env, node);
    if (!a)
      return std::nullopt;
    int64_t result = 0;
    bool overflow = false;
    if (e.kind == Expr::Kind::Negate) {
      overflow = __builtin_sub_overflow(int64_t{0}, *a, &result);
    } else {
      std::optional<int64_t> b = evaluate(*e.rhs, env, node);
      if (!b)
        return std::nullopt;
      switch (e.kind) {
      case Expr::Kind::Add:
        overflow = __builtin_add_overflow(*a, *b, &result);
        break;
      case Expr::Kind::Subtract:
        overflow = __builtin_sub_overflow(*a, *b, &result);
        break;
      case Expr::Kind::Multiply:
        overflow = __builtin_mul_overflow(*a, *b, &result);
        break;
      case Expr::Kind::Divide:
      case Expr::Kind::Modulo: {
        if (*b <= 0)
          return std::nullopt; // reported in pass 1
        // Floor semantics without overflow: C++ truncates, so adjust negative non-exact cases.
        int64_t q = *a / *b, r = *a % *b;
        if (r < 0) {
          q -= 1;
          r += *b;
        }
        result = e.kind == Expr::Kind::Divide ? q : r;
        break;
      }
      default:
        break;
      }
    }
    if (overflow) {
      errorOnce(
          node ? node : &e, "AMK-E003", e.range,
          withBindings("integer overflow evaluating '" + printExpr(e) + "' (values are 64-bit)", bindingText(env)));
      return std::nullopt;
    }
    return result;
  }

  static std::string bindingText(const std::vector<Binding> &env) {
    std::string out;
    for (const Binding &b : env)
      out += (out.empty() ? "" : ", ") + std::string(b.name) + "=" + std::to_string(b.value);
    return out;
  }
  std::string bindingText() const { return bindingText(env_); }

  std::optional<int64_t> eval(const Expr &e) { return evaluate(e, env_, &e); }

  // ---- passes 2 and 3: count, then build --------------------------------------------------

  void step() {
    if (++steps_ > limits::kMaxElaborationSteps) {
      Diagnostic &d = diagnostics_.error("AMK-X003", file_.grid.range,
                                         "elaboration takes more than " + std::to_string(limits::kMaxElaborationSteps) +
                                             " steps (loop iterations and instructions); the schedule is too large");
      d.notes.push_back(
          {keywordRange(*currentTopLevel_), "the limit was reached while elaborating this section", true});
      throw ElaborationAbort{};
    }
  }

  // The opening keyword of a section ('for', 'blocks'), for notes that point at it.
  static SourceRange keywordRange(const ast::Stmt &stmt) {
    uint32_t length = std::holds_alternative<ast::ForLoop>(stmt.node) ? 3 : 6;
    SourceRange r{stmt.range.begin, stmt.range.begin};
    r.end.offset += length;
    r.end.column += length;
    return r;
  }

  void walkTopLevel() {
    for (const ast::Stmt &stmt : file_.statements) {
      if (!std::holds_alternative<ast::ForLoop>(stmt.node) && !std::holds_alternative<ast::BlocksSection>(stmt.node))
        continue;
      currentTopLevel_ = &stmt;
      walk({&stmt, 1});
      if (mode_ == Mode::Count && instructions_ > limits::kMaxInstructions)
        return;
    }
  }

  void walk(std::span<const ast::Stmt> statements) {
    for (const ast::Stmt &stmt : statements) {
      if (broken_.count(&stmt))
        continue;
      if (const auto *loop = std::get_if<ast::ForLoop>(&stmt.node)) {
        walkFor(*loop);
      } else if (const auto *section = std::get_if<ast::BlocksSection>(&stmt.node)) {
        walkBlocks(*section);
      } else if (!std::holds_alternative<ast::BufferDecl>(stmt.node) &&
                 !std::holds_alternative<ast::CounterDecl>(stmt.node)) {
        step();
        ++instructions_;
        if (mode_ == Mode::Count) {
          ++perBlock_[static_cast<size_t>(currentBlock_)];
          if (instructions_ > limits::kMaxInstructions)
            return; // reported by the caller; no need to count further
        } else {
          build(stmt);
        }
      }
      if (mode_ == Mode::Count && instructions_ > limits::kMaxInstructions)
        return;
    }
  }

  void walkFor(const ast::ForLoop &loop) {
    std::optional<int64_t> lo = eval(loop.lo), hi = eval(loop.hi);
    if (!lo || !hi)
      return;
    for (int64_t i = *lo; i < *hi; ++i) {
      step();
      env_.push_back({loop.variable, i});
      walk(loop.body);
      env_.pop_back();
      if (mode_ == Mode::Count && instructions_ > limits::kMaxInstructions)
        return;
    }
  }

  void walkBlocks(const ast::BlocksSection &section) {
    std::optional<int64_t> lo = eval(section.lo), hi = eval(section.hi);
    if (!lo || !hi)
      return;
    if (*lo < *hi && (*lo < 0 || *hi > program_.blocks)) {
      errorOnce(&section, "AMK-B005", SourceRange{section.lo.range.begin, section.hi.range.end},
                withBindings("block range " + std::to_string(*lo) + ".." + std::to_string(*hi) +
                                 " is outside the grid 0.." + std::to_string(program_.blocks),
                             bindingText()));
      return;
    }
    for (int64_t k = *lo; k < *hi; ++k) {
      step();
      currentBlock_ = k;
      env_.push_back({section.variable, k});
      walk(section.body);
      env_.pop_back();
      if (mode_ == Mode::Count && instructions_ > limits::kMaxInstructions)
        return;
    }
  }

  std::optional<Region> buildRegion(const ast::Region &ast) {
    auto it = symbols_.find(ast.buffer);
    const Buffer &buffer = program_.buffers[it->second.id];
    Region region;
    region.buffer = it->second.id;
    size_t rank = buffer.shape.size();
    region.lo.assign(rank, 0);
    region.hi = buffer.shape;
    if (!ast.indexed)
      return region;
    bool ok = true;
    for (size_t d = 0; d < rank; ++d) {
      const ast::Index &index = ast.indices[d];
      int64_t size = buffer.shape[d];
      auto outOfBounds = [&](const std::string &what) {
        Diagnostic *diag = errorOnce(&index, "AMK-B002", index.range,
                                     withBindings(what + " is out of bounds for dimension " + std::to_string(d) +
                                                      " of '" + buffer.name + "' (size " + std::to_string(size) + ")",
                                                  bindingText()));
        declaredHere(diag, "buffer '" + buffer.name + "'", buffer.declaration);
        ok = false;
      };
      if (index.kind == ast::Index::Kind::All)
        continue;
      std::optional<int64_t> lo = eval(index.lo);
      if (!lo) {
        ok = false;
        continue;
      }
      if (index.kind == ast::Index::Kind::Point) {
        if (*lo < 0 || *lo >= size) {
          outOfBounds("index " + std::to_string(*lo));
          continue;
        }
        region.lo[d] = *lo;
        region.hi[d] = *lo + 1;
        region.pointDims |= 1u << d;
        continue;
      }
      std::optional<int64_t> hi = eval(index.hi);
      if (!hi) {
        ok = false;
        continue;
      }
      auto slice = [&] { return std::to_string(*lo) + ":" + std::to_string(*hi); };
      if (*hi <= *lo) {
        errorOnce(&index, "AMK-B003", index.range,
                  withBindings("slice " + slice() + " of '" + buffer.name + "' is empty", bindingText()));
        ok = false;
      } else if (*lo < 0 || *hi > size) {
        outOfBounds("slice " + slice());
      }
      region.lo[d] = *lo;
      region.hi[d] = *hi;
    }
    if (!ok)
      return std::nullopt;
    return region;
  }

  std::optional<int64_t> counterIndex(const ast::CounterRef &ref, uint32_t &counterId) {
    counterId = symbols_.find(ref.counter)->second.id;
    const Counter &counter = program_.counters[counterId];
    if (!ref.index)
      return 0;
    std::optional<int64_t> index = eval(*ref.index);
    if (!index)
      return std::nullopt;
    if (*index < 0 || *index >= counter.size) {
      Diagnostic *d =
          errorOnce(&ref, "AMK-B004", ref.range,
                    withBindings("index " + std::to_string(*index) + " is out of bounds for counter array '" +
                                     counter.name + "' (length " + std::to_string(counter.size) + ")",
                                 bindingText()));
      declaredHere(d, "counter '" + counter.name + "'", counter.declaration);
      return std::nullopt;
    }
    return index;
  }

  void build(const ast::Stmt &stmt) {
    uint32_t siteId = siteOf_.at(&stmt);
    const Site &site = program_.sites[siteId];
    Instruction instruction;
    instruction.kind = site.kind;
    instruction.site = siteId;
    instruction.loopValues.reserve(env_.size());
    for (const Binding &b : env_)
      instruction.loopValues.push_back(b.value);
    bool ok = std::visit(
        [&](const auto &node) -> bool {
          using T = std::decay_t<decltype(node)>;
          if constexpr (std::is_same_v<T, ast::Barrier>) {
            return true;
          } else if constexpr (std::is_same_v<T, ast::Signal>) {
            instruction.order = node.scope;
            std::optional<int64_t> index = counterIndex(node.counter, instruction.counter);
            std::optional<int64_t> amount = node.amount ? eval(*node.amount) : std::optional<int64_t>(1);
            if (!index || !amount)
              return false;
            if (*amount < 1 || static_cast<uint64_t>(*amount) > limits::kMaxCounterValue) {
              errorOnce(&node, "AMK-C001", node.amount->range,
                        withBindings("signal increment " + std::to_string(*amount) +
                                         " is outside 1..4294967295 (counters are 32-bit)",
                                     bindingText()));
              return false;
            }
            instruction.counterIndex = *index;
            instruction.amount = static_cast<uint64_t>(*amount);
            counterTotals_[{instruction.counter, *index}] += instruction.amount;
            firstSignal_.emplace(std::make_pair(instruction.counter, *index), stmt.range);
            return true;
          } else if constexpr (std::is_same_v<T, ast::Wait>) {
            instruction.order = node.scope;
            std::optional<int64_t> index = counterIndex(node.counter, instruction.counter);
            std::optional<int64_t> threshold = eval(node.threshold);
            if (!index || !threshold)
              return false;
            if (*threshold < 0 || static_cast<uint64_t>(*threshold) > limits::kMaxCounterValue) {
              errorOnce(&node, "AMK-C002", node.threshold.range,
                        withBindings("wait threshold " + std::to_string(*threshold) +
                                         " is outside 0..4294967295 (counters are 32-bit)",
                                     bindingText()));
              return false;
            }
            instruction.counterIndex = *index;
            instruction.amount = static_cast<uint64_t>(*threshold);
            return true;
          } else if constexpr (std::is_same_v<T, ast::Task>) {
            instruction.op = site.op;
            return buildTask(node, site, instruction);
          } else {
            return false;
          }
        },
        stmt.node);
    if (ok)
      program_.blockPrograms[static_cast<size_t>(currentBlock_)].push_back(std::move(instruction));
  }

  OperandType operandType(const Region &region) const {
    const Buffer &buffer = program_.buffers[region.buffer];
    OperandType t;
    t.dtype = buffer.dtype;
    t.shape = region.shape();
    t.elements = region.elements();
    t.bufferShape = buffer.shape;
    t.lo = region.lo;
    t.hi = region.hi;
    return t;
  }

  // "output 'y'" for named operands, "output 1" for opaque's.
  static std::string operandName(const OpInfo &op, bool isOutput, size_t i) {
    const auto &names = isOutput ? op.outputNames : op.inputNames;
    std::string kind = isOutput ? "output " : "input ";
    if (i < names.size())
      return kind + "'" + std::string(names[i]) + "'";
    return kind + std::to_string(i + 1);
  }

  bool buildTask(const ast::Task &task, const Site &site, Instruction &instruction) {
    bool ok = true;
    for (const ast::Region &r : task.outputs) {
      std::optional<Region> region = buildRegion(r);
      ok = ok && region;
      if (region)
        instruction.outputs.push_back(std::move(*region));
    }
    for (const ast::Region &r : task.inputs) {
      std::optional<Region> region = buildRegion(r);
      ok = ok && region;
      if (region)
        instruction.inputs.push_back(std::move(*region));
    }
    if (!ok)
      return false;
    const OpInfo &op = opInfo(site.op);
    std::vector<OperandType> outputs, inputs;
    for (const Region &r : instruction.outputs)
      outputs.push_back(operandType(r));
    for (const Region &r : instruction.inputs)
      inputs.push_back(operandType(r));
    if (std::optional<OperandRuleError> problem = op.checkOperands(outputs, inputs, site.attributes)) {
      const ast::Region &where = problem->isOutput ? task.outputs[problem->operand] : task.inputs[problem->operand];
      errorOnce(&task, problem->ruleId.c_str(), where.range,
                withBindings("'" + task.op + "' " + problem->message, bindingText()));
      return false;
    }
    // Aliasing: outputs may meet inputs only where the op works in place, and then exactly.
    for (size_t o = 0; o < instruction.outputs.size(); ++o) {
      const Region &out = instruction.outputs[o];
      for (size_t i = 0; i < instruction.inputs.size(); ++i) {
        const Region &in = instruction.inputs[i];
        if (!out.overlaps(in))
          continue;
        std::string message;
        if (!op.allowsInPlace(o, i))
          message = operandName(op, true, o) + " overlaps " + operandName(op, false, i) + " of '" + task.op +
                    "', which does not work in place on that operand";
        else if (!(out == in))
          message = operandName(op, true, o) + " overlaps " + operandName(op, false, i) + " of '" + task.op +
                    "' without being the same region (in-place use needs exactly " + program_.regionText(in) + ")";
        else
          continue;
        errorOnce(
            &task, "AMK-W002", task.outputs[o].range,
            withBindings(message + ": " + program_.regionText(out) + " and " + program_.regionText(in), bindingText()));
        return false;
      }
      for (size_t other = o + 1; other < instruction.outputs.size(); ++other)
        if (out.overlaps(instruction.outputs[other])) {
          errorOnce(&task, "AMK-W003", task.outputs[other].range,
                    withBindings("outputs " + std::to_string(o + 1) + " and " + std::to_string(other + 1) + " of '" +
                                     task.op + "' overlap: " + program_.regionText(out) + " and " +
                                     program_.regionText(instruction.outputs[other]),
                                 bindingText()));
          return false;
        }
    }
    return true;
  }

  void checkCounterTotals() {
    std::set<uint32_t> reported;
    for (const auto &[key, total] : counterTotals_) {
      if (total <= limits::kMaxCounterValue || reported.count(key.first))
        continue;
      reported.insert(key.first);
      const Counter &counter = program_.counters[key.first];
      std::string name = counter.name + (counter.isArray ? "[" + std::to_string(key.second) + "]" : "");
      Diagnostic &d = error("AMK-C003", counter.declaration,
                            "counter '" + name + "' receives " + std::to_string(total) +
                                " in one launch, more than 4294967295 (counters are 32-bit and must not wrap)");
      d.notes.push_back({firstSignal_.at(key), "'" + counter.name + "' incremented here", true});
    }
  }

  const ast::File &file_;
  const SourceFile &source_;
  Diagnostics &diagnostics_;
  Program program_;
  Mode mode_ = Mode::Resolve;

  std::map<std::string, Symbol, std::less<>> symbols_;
  struct Declared {
    SourceRange range;
    const char *kind; // "buffer" or "counter"
  };
  std::map<std::string, Declared, std::less<>> allDeclarations_;
  std::vector<std::pair<std::string, SourceRange>> scope_;
  std::unordered_map<const ast::Stmt *, uint32_t> siteOf_;
  std::set<std::pair<const void *, std::string>> reported_;
  std::unordered_set<const ast::Stmt *> broken_; // statements whose names or signatures did not resolve
  const ast::Stmt *currentTopLevel_ = nullptr;

  std::vector<Binding> env_;
  int64_t currentBlock_ = 0;
  uint64_t steps_ = 0;
  uint64_t instructions_ = 0;
  std::vector<uint64_t> perBlock_ = std::vector<uint64_t>(static_cast<size_t>(file_.grid.blocks), 0);
  std::map<std::pair<uint32_t, int64_t>, uint64_t> counterTotals_;
  std::map<std::pair<uint32_t, int64_t>, SourceRange> firstSignal_;
};

} // namespace

std::optional<Program> elaborate(const ast::File &file, const SourceFile &source, Diagnostics &diagnostics) {
  return Elaborator(file, source, diagnostics).run();
}

} // namespace amk::ir
