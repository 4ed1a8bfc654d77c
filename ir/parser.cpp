#include "amk/ir/parser.h"

#include "amk/ir/lexer.h"
#include "amk/ir/limits.h"
#include "amk/ir/printer.h"

#include <algorithm>
#include <set>
#include <string>

namespace amk::ir {
namespace {

using ast::Expr;

const std::set<std::string, std::less<>> kKeywords = {"amkir",  "target",  "grid",   "meta",    "param", "input",
                                                      "state",  "scratch", "output", "counter", "for",   "in",
                                                      "blocks", "barrier", "signal", "wait"};

bool isDeclKeyword(std::string_view word) {
  return word == "param" || word == "input" || word == "state" || word == "scratch" || word == "output";
}

// Thrown to abandon the whole parse (nesting past the limit, too many errors).
struct ParseAbort {};

class Parser {
public:
  Parser(const SourceFile &file, Diagnostics &diagnostics)
      : diagnostics_(diagnostics), tokens_(tokenize(file, diagnostics)) {}

  std::optional<ast::File> run() {
    // Past a UTF-8 error there are no tokens: anything more would only be noise.
    for (const Diagnostic &d : diagnostics_.all())
      if (d.ruleId == "AMK-L002")
        return std::nullopt;
    ast::File result;
    try {
      parseFile(result);
    } catch (const ParseAbort &) {
      return std::nullopt;
    }
    if (diagnostics_.hasErrors())
      return std::nullopt;
    return result;
  }

private:
  // ---- token access --------------------------------------------------------------------------

  const Token &peek(size_t ahead = 0) const {
    size_t i = index_ + ahead;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  bool at(TokenKind kind) const { return peek().kind == kind; }
  bool atWord(std::string_view word) const { return at(TokenKind::Identifier) && peek().text == word; }
  const Token &advance() {
    const Token &t = peek();
    if (index_ < tokens_.size() - 1)
      ++index_;
    lastEnd_ = t.range.end;
    return t;
  }

  static std::string describe(const Token &t) {
    switch (t.kind) {
    case TokenKind::Newline:
    case TokenKind::EndOfFile:
      return tokenKindName(t.kind);
    case TokenKind::Comment:
      return "comment";
    case TokenKind::String:
      return "string \"" + quoteForMessage(t.stringValue) + "\"";
    default:
      return "'" + quoteForMessage(t.text) + "'";
    }
  }

  [[noreturn]] void failAt(const Token &t, const std::string &expected) {
    error("AMK-P001", t.range, "expected " + expected + ", found " + describe(t));
    throw StatementError{};
  }

  Diagnostic &error(const char *rule, SourceRange range, std::string message) {
    Diagnostic &d = diagnostics_.error(rule, range, std::move(message));
    if (diagnostics_.full())
      throw ParseAbort{};
    return d;
  }

  const Token &expect(TokenKind kind, const std::string &expected) {
    if (!at(kind))
      failAt(peek(), expected);
    return advance();
  }

  const Token &expectWord(std::string_view word) {
    if (!atWord(word))
      failAt(peek(), "'" + std::string(word) + "'");
    return advance();
  }

  std::string expectName(const std::string &what, SourceRange &range) {
    if (!at(TokenKind::Identifier))
      failAt(peek(), what);
    const Token &t = peek();
    if (kKeywords.count(t.text)) {
      error("AMK-P001", t.range, "expected " + what + ", found keyword '" + std::string(t.text) + "'");
      throw StatementError{};
    }
    advance();
    range = t.range;
    return std::string(t.text);
  }

  // Thrown to abandon one statement; parsing resumes at the next line.
  struct StatementError {};

  SourceRange rangeFrom(SourceLocation begin) const { return SourceRange{begin, lastEnd_}; }

  // ---- trivia and statement boundaries -----------------------------------------------------

  // Consumes blank lines and full-line comments before a statement. Blank lines between the
  // comments and the statement are not kept; one blank line before them is.
  ast::Trivia collectTrivia() {
    ast::Trivia trivia;
    bool atLineStart = true;
    while (at(TokenKind::Newline) || at(TokenKind::Comment)) {
      if (at(TokenKind::Comment)) {
        trivia.leadingComments.push_back(advance().stringValue);
        atLineStart = false;
        continue;
      }
      advance();
      if (atLineStart && trivia.leadingComments.empty())
        trivia.blankLineBefore = true;
      atLineStart = true;
    }
    return trivia;
  }

  // A statement ends at a line break, at a '}' that closes its section, or at the end of the file.
  void endStatement(ast::Trivia &trivia, bool insideBody) {
    if (at(TokenKind::Comment))
      trivia.trailingComment = advance().stringValue;
    if (at(TokenKind::Newline)) {
      advance();
      return;
    }
    if (at(TokenKind::EndOfFile) || (insideBody && at(TokenKind::RBrace)))
      return;
    failAt(peek(), "end of line");
  }

  // Skips the rest of a broken statement: to the end of its line, or past the matching '}' of a
  // section it opened, so that one mistake yields one diagnostic.
  void recover() {
    int depth = 0;
    while (!at(TokenKind::EndOfFile)) {
      if (at(TokenKind::LBrace)) {
        ++depth;
      } else if (at(TokenKind::RBrace)) {
        if (depth == 0)
          return;
        --depth;
        if (depth == 0) {
          advance();
          return;
        }
      } else if (at(TokenKind::Newline) && depth == 0) {
        advance();
        return;
      }
      advance();
    }
  }

  void enterNesting(SourceRange where, const char *what) {
    if (++depth_ > limits::kMaxNesting) {
      diagnostics_.error("AMK-X002", where,
                         std::string(what) + " nested deeper than " + std::to_string(limits::kMaxNesting) + " levels");
      throw ParseAbort{};
    }
  }
  void leaveNesting() { --depth_; }

  // ---- file ----------------------------------------------------------------------------------

  void parseFile(ast::File &file) {
    file.versionTrivia = collectTrivia();
    file.versionTrivia.blankLineBefore = false;
    parseVersion(file);
    bool sawTarget = false, sawGrid = false;
    while (true) {
      ast::Trivia trivia = collectTrivia();
      if (at(TokenKind::EndOfFile)) {
        file.trailingComments = std::move(trivia.leadingComments);
        break;
      }
      try {
        parseTopLevel(file, std::move(trivia), sawTarget, sawGrid);
      } catch (const StatementError &) {
        recover();
        if (at(TokenKind::RBrace))
          advance(); // a '}' at the top level closes nothing: skip it after reporting once
      }
    }
    SourceRange end{peek().range.begin, peek().range.begin};
    if (!sawTarget)
      error("AMK-P008", end, "missing 'target' line (for example: target sm_90 sms=132)");
    if (!sawGrid)
      error("AMK-P008", end, "missing 'grid' line (for example: grid blocks=132 threads=256 occupancy=1)");
  }

  void parseVersion(ast::File &file) {
    SourceLocation begin = peek().range.begin;
    if (!atWord("amkir")) {
      error("AMK-P002", peek().range, "expected 'amkir 1' as the first line, found " + describe(peek()));
      throw ParseAbort{};
    }
    advance();
    if (!at(TokenKind::Integer)) {
      error("AMK-P002", peek().range, "expected a version number after 'amkir', found " + describe(peek()));
      throw ParseAbort{};
    }
    const Token &version = advance();
    if (version.intValue != 1) {
      error("AMK-P003", version.range,
            "unsupported amkir version " + std::to_string(version.intValue) + " (this tool reads version 1)");
      throw ParseAbort{};
    }
    file.version = version.intValue;
    file.versionRange = rangeFrom(begin);
    try {
      endStatement(file.versionTrivia, false);
    } catch (const StatementError &) {
      recover();
    }
  }

  void parseTopLevel(ast::File &file, ast::Trivia trivia, bool &sawTarget, bool &sawGrid) {
    const Token &t = peek();
    if (t.kind != TokenKind::Identifier)
      failAt(t, "a declaration, 'for' or 'blocks'");
    if (t.text == "target") {
      SourceLocation begin = t.range.begin;
      if (sawTarget) {
        Diagnostic &d = error("AMK-P007", t.range, "'target' given twice");
        d.notes.push_back({firstTarget_, "previous 'target' line here", true});
        throw StatementError{};
      }
      sawTarget = true; // even if the line is broken: it is there, not missing
      firstTarget_ = t.range;
      file.target = parseTarget();
      file.target.range = rangeFrom(begin);
      endStatement(trivia, false);
      file.target.trivia = std::move(trivia);
      return;
    }
    if (t.text == "grid") {
      SourceLocation begin = t.range.begin;
      if (sawGrid) {
        Diagnostic &d = error("AMK-P007", t.range, "'grid' given twice");
        d.notes.push_back({firstGrid_, "previous 'grid' line here", true});
        throw StatementError{};
      }
      sawGrid = true;
      firstGrid_ = t.range;
      file.grid = parseGrid();
      file.grid.range = rangeFrom(begin);
      endStatement(trivia, false);
      file.grid.trivia = std::move(trivia);
      return;
    }
    if (t.text == "meta") {
      SourceLocation begin = t.range.begin;
      advance();
      ast::Meta meta;
      meta.entries = parseKeyValues("metadata");
      if (meta.entries.empty())
        failAt(peek(), "key=value after 'meta'");
      for (const ast::KeyValue &kv : meta.entries)
        if (!metaKeys_.insert(kv.key).second) {
          error("AMK-P013", kv.keyRange, "metadata key '" + kv.key + "' given twice");
          throw StatementError{};
        }
      meta.range = rangeFrom(begin);
      endStatement(trivia, false);
      meta.trivia = std::move(trivia);
      file.metas.push_back(std::move(meta));
      return;
    }
    file.statements.push_back(parseStatement(std::move(trivia), Context::TopLevel));
  }

  ast::Target parseTarget() {
    advance();
    ast::Target target;
    SourceRange archRange;
    if (!at(TokenKind::Identifier))
      failAt(peek(), "an architecture such as sm_90");
    const Token &arch = advance();
    archRange = arch.range;
    std::string_view spelling = arch.text;
    // sm_ then digits, optionally one trailing 'a' (sm_90a).
    std::string_view digits = spelling.size() > 3 && spelling.substr(0, 3) == "sm_" ? spelling.substr(3) : "";
    if (!digits.empty() && digits.back() == 'a')
      digits.remove_suffix(1);
    bool valid = !digits.empty() && digits.size() <= 4 &&
                 std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!valid) {
      error("AMK-P009", arch.range,
            "invalid target architecture '" + std::string(spelling) + "' (expected sm_NN, for example sm_90)");
      throw StatementError{};
    }
    target.arch = std::string(spelling);
    target.archRange = archRange;
    std::vector<ast::KeyValue> entries = parseKeyValues("target");
    bool sawSms = false;
    for (const ast::KeyValue &kv : entries) {
      if (kv.key != "sms") {
        error("AMK-P009", kv.keyRange, "unknown target attribute '" + kv.key + "' (expected sms)");
        throw StatementError{};
      }
      target.sms = requireCount(kv, limits::kMaxSms);
      sawSms = true;
    }
    if (!sawSms)
      failAt(peek(), "'sms=' (the multiprocessor count)");
    return target;
  }

  ast::Grid parseGrid() {
    SourceRange gridRange = advance().range;
    ast::Grid grid;
    bool sawBlocks = false, sawThreads = false;
    for (const ast::KeyValue &kv : parseKeyValues("grid")) {
      if (kv.key == "blocks") {
        grid.blocks = requireCount(kv, limits::kMaxBlocks);
        sawBlocks = true;
      } else if (kv.key == "threads") {
        grid.threads = requireCount(kv, limits::kMaxThreads);
        if (grid.threads % 32 != 0) {
          error("AMK-P009", kv.value.range,
                "grid threads=" + std::to_string(grid.threads) + " is not a multiple of the warp size 32");
          throw StatementError{};
        }
        sawThreads = true;
      } else if (kv.key == "occupancy") {
        grid.occupancy = requireCount(kv, limits::kMaxOccupancy);
      } else {
        error("AMK-P009", kv.keyRange, "unknown grid attribute '" + kv.key + "' (expected blocks, threads, occupancy)");
        throw StatementError{};
      }
    }
    if (!sawBlocks || !sawThreads) {
      std::string missing = !sawBlocks && !sawThreads ? "'blocks=' and 'threads='"
                            : !sawBlocks              ? "'blocks='"
                                                      : "'threads='";
      error("AMK-P009", gridRange, "grid is missing " + missing);
      throw StatementError{};
    }
    return grid;
  }

  int64_t requireCount(const ast::KeyValue &kv, int64_t maximum) {
    const int64_t *value = std::get_if<int64_t>(&kv.value.value);
    if (!value || *value < 1 || *value > maximum) {
      error("AMK-P009", kv.value.range,
            "'" + kv.key + "' must be an integer from 1 to " + std::to_string(maximum) + ", found " +
                printValue(kv.value));
      throw StatementError{};
    }
    return *value;
  }

  // key=value pairs up to the end of the line; keys are unique.
  std::vector<ast::KeyValue> parseKeyValues(const char *what) {
    std::vector<ast::KeyValue> entries;
    std::set<std::string> seen;
    while (at(TokenKind::Identifier)) {
      ast::KeyValue kv;
      const Token &key = advance();
      kv.key = std::string(key.text);
      kv.keyRange = key.range;
      expect(TokenKind::Equals, "'=' after '" + kv.key + "'");
      kv.value = parseValue();
      if (!seen.insert(kv.key).second) {
        error("AMK-P013", kv.keyRange, std::string(what) + " key '" + kv.key + "' given twice");
        throw StatementError{};
      }
      entries.push_back(std::move(kv));
    }
    return entries;
  }

  ast::Value parseValue() {
    ast::Value value;
    SourceLocation begin = peek().range.begin;
    bool negative = false;
    if (at(TokenKind::Minus)) {
      advance();
      negative = true;
    }
    const Token &t = peek();
    if (t.kind == TokenKind::Integer) {
      advance();
      value.value = negative ? -t.intValue : t.intValue;
    } else if (t.kind == TokenKind::Float) {
      advance();
      value.value = negative ? -t.floatValue : t.floatValue;
    } else if (t.kind == TokenKind::String && !negative) {
      advance();
      value.value = t.stringValue;
    } else if (t.kind == TokenKind::Identifier && !negative) {
      // A bare word is a string (scaling=llama3).
      advance();
      value.value = std::string(t.text);
    } else {
      failAt(t, "a value (integer, number, string or word)");
    }
    value.range = rangeFrom(begin);
    return value;
  }

  // ---- statements ----------------------------------------------------------------------------

  enum class Context { TopLevel, ForAtTopLevel, BlocksBody };

  ast::Stmt parseStatement(ast::Trivia trivia, Context context) {
    const Token &t = peek();
    ast::Stmt stmt;
    SourceLocation begin = t.range.begin;
    if (t.kind != TokenKind::Identifier)
      failAt(t, context == Context::BlocksBody ? "an instruction" : "a declaration, 'for' or 'blocks'");
    std::string_view word = t.text;
    bool inBody = context != Context::TopLevel;
    if (isDeclKeyword(word) || word == "counter") {
      if (context != Context::TopLevel) {
        error("AMK-P006", t.range,
              "declaration of " + std::string(word) + " inside a section; declarations go at the top level");
        throw StatementError{};
      }
      if (word == "counter")
        stmt.node = parseCounterDecl();
      else
        stmt.node = parseBufferDecl();
    } else if (word == "for") {
      stmt.node = parseFor(context);
    } else if (word == "blocks") {
      if (context == Context::BlocksBody) {
        error("AMK-P005", t.range, "'blocks' sections do not nest");
        throw StatementError{};
      }
      stmt.node = parseBlocks();
    } else if (word == "target" || word == "grid" || word == "meta" || word == "amkir") {
      error("AMK-P006", t.range, "'" + std::string(word) + "' line inside a section; it goes at the top level");
      throw StatementError{};
    } else {
      if (context != Context::BlocksBody) {
        error("AMK-P004", t.range,
              "instruction '" + std::string(word) + "' outside a 'blocks' section (instructions belong to blocks)");
        throw StatementError{};
      }
      parseInstruction(stmt);
    }
    stmt.range = rangeFrom(begin);
    endStatement(trivia, inBody);
    stmt.trivia = std::move(trivia);
    return stmt;
  }

  ast::BufferDecl parseBufferDecl() {
    const Token &kindToken = advance();
    ast::BufferDecl decl;
    std::string_view k = kindToken.text;
    decl.kind = k == "param"     ? ast::BufferKind::Param
                : k == "input"   ? ast::BufferKind::Input
                : k == "state"   ? ast::BufferKind::State
                : k == "scratch" ? ast::BufferKind::Scratch
                                 : ast::BufferKind::Output;
    decl.name = expectName("a buffer name", decl.nameRange);
    expect(TokenKind::Colon, "':' after the buffer name");
    if (!at(TokenKind::Identifier))
      failAt(peek(), "an element type (bf16, f16, f32, i32, i8)");
    const Token &dtype = advance();
    static const std::pair<std::string_view, ast::DType> dtypes[] = {{"bf16", ast::DType::BF16},
                                                                     {"f16", ast::DType::F16},
                                                                     {"f32", ast::DType::F32},
                                                                     {"i32", ast::DType::I32},
                                                                     {"i8", ast::DType::I8}};
    bool known = false;
    for (auto [name, value] : dtypes)
      if (dtype.text == name) {
        decl.dtype = value;
        known = true;
      }
    if (!known) {
      error("AMK-P010", dtype.range,
            "unknown element type '" + quoteForMessage(dtype.text) + "' (expected bf16, f16, f32, i32 or i8)");
      throw StatementError{};
    }
    SourceLocation shapeBegin = peek().range.begin;
    expect(TokenKind::LBracket, "'[' and the buffer's shape");
    while (true) {
      const Token &dim = expect(TokenKind::Integer, "a dimension size (a positive integer)");
      if (dim.intValue < 1) {
        error("AMK-P011", dim.range, "dimension size must be at least 1, found " + std::to_string(dim.intValue));
        throw StatementError{};
      }
      decl.shape.push_back(dim.intValue);
      if (decl.shape.size() > static_cast<size_t>(limits::kMaxRank)) {
        error("AMK-X004", dim.range,
              "buffer '" + decl.name + "' has more than " + std::to_string(limits::kMaxRank) + " dimensions");
        throw StatementError{};
      }
      if (at(TokenKind::Comma)) {
        advance();
        continue;
      }
      expect(TokenKind::RBracket, "',' or ']' in the shape");
      break;
    }
    decl.shapeRange = rangeFrom(shapeBegin);
    // Overflow-checked size in bytes.
    uint64_t bytes = ast::dtypeBytes(decl.dtype);
    for (int64_t d : decl.shape) {
      if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes) || bytes > limits::kMaxBufferBytes) {
        error("AMK-X004", decl.shapeRange, "buffer '" + decl.name + "' is larger than the limit of 1 TiB");
        throw StatementError{};
      }
    }
    return decl;
  }

  ast::CounterDecl parseCounterDecl() {
    advance();
    ast::CounterDecl decl;
    decl.name = expectName("a counter name", decl.nameRange);
    if (at(TokenKind::LBracket)) {
      advance();
      const Token &size = expect(TokenKind::Integer, "the counter array's length");
      if (size.intValue < 1 || size.intValue > limits::kMaxCounterArray) {
        error("AMK-X004", size.range,
              "counter array '" + decl.name + "' length " + std::to_string(size.intValue) + " is outside 1.." +
                  std::to_string(limits::kMaxCounterArray));
        throw StatementError{};
      }
      decl.size = size.intValue;
      expect(TokenKind::RBracket, "']' after the counter array's length");
    }
    return decl;
  }

  template <typename Section> void parseRangeHeader(Section &section, const char *what) {
    section.variable = expectName(std::string("a loop variable after '") + what + "'", section.variableRange);
    expectWord("in");
    section.lo = parseExpr();
    expect(TokenKind::DotDot, "'..' in the range");
    section.hi = parseExpr();
  }

  template <typename Section> void parseBody(Section &section, Context bodyContext, SourceRange opening) {
    expect(TokenKind::LBrace, "'{'");
    enterNesting(opening, "sections");
    if (at(TokenKind::Comment))
      section.openingComment = advance().stringValue;
    while (true) {
      ast::Trivia trivia = collectTrivia();
      if (at(TokenKind::RBrace)) {
        advance();
        section.closing = std::move(trivia);
        section.closing.blankLineBefore = false;
        break;
      }
      if (at(TokenKind::EndOfFile)) {
        Diagnostic &d = error("AMK-P012", peek().range, "missing '}' at end of file");
        d.notes.push_back({opening, "section opened here", true});
        throw ParseAbort{};
      }
      if (section.body.empty())
        trivia.blankLineBefore = false;
      try {
        section.body.push_back(parseStatement(std::move(trivia), bodyContext));
      } catch (const StatementError &) {
        recover();
      }
    }
    leaveNesting();
  }

  ast::ForLoop parseFor(Context context) {
    SourceRange opening = advance().range;
    ast::ForLoop loop;
    parseRangeHeader(loop, "for");
    parseBody(loop, context == Context::BlocksBody ? Context::BlocksBody : Context::ForAtTopLevel, opening);
    return loop;
  }

  ast::BlocksSection parseBlocks() {
    SourceRange opening = advance().range;
    ast::BlocksSection section;
    parseRangeHeader(section, "blocks");
    parseBody(section, Context::BlocksBody, opening);
    return section;
  }

  ast::SyncScope parseScope() {
    if (!at(TokenKind::Dot))
      return ast::SyncScope::Default;
    advance();
    if (atWord("relaxed")) {
      advance();
      return ast::SyncScope::Relaxed;
    }
    if (atWord("cta")) {
      advance();
      return ast::SyncScope::Cta;
    }
    failAt(peek(), "'relaxed' or 'cta' after '.'");
  }

  ast::CounterRef parseCounterRef() {
    ast::CounterRef ref;
    SourceLocation begin = peek().range.begin;
    ref.counter = expectName("a counter name", ref.nameRange);
    if (at(TokenKind::LBracket)) {
      advance();
      ref.index = parseExpr();
      expect(TokenKind::RBracket, "']' after the counter index");
    }
    ref.range = rangeFrom(begin);
    return ref;
  }

  void parseInstruction(ast::Stmt &stmt) {
    const Token &head = advance();
    if (head.text == "barrier") {
      stmt.node = ast::Barrier{};
      return;
    }
    if (head.text == "signal") {
      ast::Signal signal;
      signal.scope = parseScope();
      signal.counter = parseCounterRef();
      if (at(TokenKind::Plus)) {
        advance();
        signal.amount = parseExpr();
      }
      stmt.node = std::move(signal);
      return;
    }
    if (head.text == "wait") {
      ast::Wait wait;
      wait.scope = parseScope();
      wait.counter = parseCounterRef();
      expect(TokenKind::GreaterEqual, "'>=' and a threshold");
      wait.threshold = parseExpr();
      stmt.node = std::move(wait);
      return;
    }
    ast::Task task;
    task.op = std::string(head.text);
    task.opRange = head.range;
    if (!at(TokenKind::Arrow)) {
      while (true) {
        task.outputs.push_back(parseRegion());
        if (!at(TokenKind::Comma))
          break;
        advance();
      }
    }
    expect(TokenKind::Arrow, "'<-' between the written and the read regions of '" + task.op + "'");
    if (at(TokenKind::Identifier) && peek(1).kind != TokenKind::Equals) {
      while (true) {
        task.inputs.push_back(parseRegion());
        if (!at(TokenKind::Comma))
          break;
        advance();
      }
    }
    std::set<std::string> seen;
    while (at(TokenKind::Identifier)) {
      ast::KeyValue kv;
      const Token &key = advance();
      kv.key = std::string(key.text);
      kv.keyRange = key.range;
      expect(TokenKind::Equals, "'=' after attribute '" + kv.key + "'");
      kv.value = parseValue();
      if (!seen.insert(kv.key).second) {
        error("AMK-P013", kv.keyRange, "attribute '" + kv.key + "' given twice");
        throw StatementError{};
      }
      task.attributes.push_back(std::move(kv));
    }
    stmt.node = std::move(task);
  }

  ast::Region parseRegion() {
    ast::Region region;
    SourceLocation begin = peek().range.begin;
    region.buffer = expectName("a buffer region", region.nameRange);
    if (at(TokenKind::LBracket)) {
      advance();
      region.indexed = true;
      while (true) {
        region.indices.push_back(parseIndex());
        if (at(TokenKind::Comma)) {
          advance();
          continue;
        }
        expect(TokenKind::RBracket, "',' or ']' in the region of '" + region.buffer + "'");
        break;
      }
    }
    region.range = rangeFrom(begin);
    return region;
  }

  ast::Index parseIndex() {
    ast::Index index;
    SourceLocation begin = peek().range.begin;
    if (at(TokenKind::Colon)) {
      advance();
      index.kind = ast::Index::Kind::All;
    } else {
      index.lo = parseExpr();
      if (at(TokenKind::Colon)) {
        advance();
        index.kind = ast::Index::Kind::Slice;
        index.hi = parseExpr();
      } else {
        index.kind = ast::Index::Kind::Point;
      }
    }
    index.range = rangeFrom(begin);
    return index;
  }

  // ---- expressions ---------------------------------------------------------------------------
  // expr := term (('+'|'-') term)* ; term := unary (('*'|'/'|'%') unary)* ;
  // unary := '-' unary | INT | NAME | '(' expr ')'. Depth is bounded, including long operator chains.

  Expr combine(Expr::Kind kind, Expr lhs, Expr rhs, int &depth, int rhsDepth) {
    Expr e;
    e.kind = kind;
    e.range = SourceRange{lhs.range.begin, rhs.range.end};
    e.lhs = std::make_unique<Expr>(std::move(lhs));
    e.rhs = std::make_unique<Expr>(std::move(rhs));
    depth = 1 + std::max(depth, rhsDepth);
    if (depth_ + depth > limits::kMaxNesting) {
      diagnostics_.error("AMK-X002", e.range,
                         "expression nested deeper than " + std::to_string(limits::kMaxNesting) +
                             " levels (each binary operator in a chain counts as a level)");
      throw ParseAbort{};
    }
    return e;
  }

  Expr parseExpr() {
    int depth = 0;
    return parseAdditive(depth);
  }

  Expr parseAdditive(int &depth) {
    Expr lhs = parseMultiplicative(depth);
    while (at(TokenKind::Plus) || at(TokenKind::Minus)) {
      Expr::Kind kind = advance().kind == TokenKind::Plus ? Expr::Kind::Add : Expr::Kind::Subtract;
      int rhsDepth = 0;
      Expr rhs = parseMultiplicative(rhsDepth);
      lhs = combine(kind, std::move(lhs), std::move(rhs), depth, rhsDepth);
    }
    return lhs;
  }

  Expr parseMultiplicative(int &depth) {
    Expr lhs = parseUnary(depth);
    while (at(TokenKind::Star) || at(TokenKind::Slash) || at(TokenKind::Percent)) {
      TokenKind op = advance().kind;
      Expr::Kind kind = op == TokenKind::Star    ? Expr::Kind::Multiply
                        : op == TokenKind::Slash ? Expr::Kind::Divide
                                                 : Expr::Kind::Modulo;
      int rhsDepth = 0;
      Expr rhs = parseUnary(rhsDepth);
      lhs = combine(kind, std::move(lhs), std::move(rhs), depth, rhsDepth);
    }
    return lhs;
  }

  Expr parseUnary(int &depth) {
    const Token &t = peek();
    if (t.kind == TokenKind::Minus) {
      advance();
      enterNesting(t.range, "expression");
      int inner = 0;
      Expr operand = parseUnary(inner);
      leaveNesting();
      Expr e;
      e.kind = Expr::Kind::Negate;
      e.range = SourceRange{t.range.begin, operand.range.end};
      e.lhs = std::make_unique<Expr>(std::move(operand));
      depth = inner + 1;
      return e;
    }
    if (t.kind == TokenKind::Integer) {
      advance();
      Expr e;
      e.kind = Expr::Kind::Integer;
      e.value = t.intValue;
      e.range = t.range;
      depth = 1;
      return e;
    }
    if (t.kind == TokenKind::Identifier) {
      if (kKeywords.count(t.text))
        failAt(t, "an expression");
      advance();
      Expr e;
      e.kind = Expr::Kind::Variable;
      e.name = std::string(t.text);
      e.range = t.range;
      depth = 1;
      return e;
    }
    if (t.kind == TokenKind::LParen) {
      advance();
      enterNesting(t.range, "expression");
      Expr inner = parseAdditive(depth);
      leaveNesting();
      expect(TokenKind::RParen, "')'");
      inner.range = rangeFrom(t.range.begin);
      return inner;
    }
    failAt(t, "an expression");
  }

  Diagnostics &diagnostics_;
  std::vector<Token> tokens_;
  size_t index_ = 0;
  int depth_ = 0;
  SourceLocation lastEnd_;
  SourceRange firstTarget_;
  std::set<std::string> metaKeys_;
  SourceRange firstGrid_;
};

} // namespace

std::optional<ast::File> parse(const SourceFile &file, Diagnostics &diagnostics) {
  if (diagnostics.hasErrors())
    return std::nullopt;
  return Parser(file, diagnostics).run();
}

} // namespace amk::ir
