// parse∘print is the identity (ARCHITECTURE.md, ir/): on every corpus file, on thousands of random
// syntactically valid ASTs (seeded, so a failure names the seed and prints the program), and on a few
// hand-written cases that pin down the canonical spelling of expressions and comments.
#include "amk/ir/frontend.h"
#include "amk/ir/printer.h"
#include "test_support.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace amk::ir {
namespace {

// ---- corpus files ---------------------------------------------------------------------------------

bool isExample(const std::filesystem::path &path) {
  std::string relative = path.lexically_relative(test::sourceDir() / "corpus").generic_string();
  return relative.rfind("examples/", 0) == 0;
}

TEST(RoundTrip, CorpusFilesSurvivePrintAndParse) {
  std::vector<std::filesystem::path> files = test::amkirFiles("corpus");
  if (files.empty())
    GTEST_SKIP() << "corpus/ has no .amkir files yet";
  size_t parsed = 0;
  for (const std::filesystem::path &path : files) {
    SCOPED_TRACE(path.string());
    std::string text = test::readFile(path);
    Schedule original = parseSchedule(path.string(), text, Stage::Parse);
    if (!original.ast) {
      EXPECT_FALSE(isExample(path)) << "an example must parse:\n" << original.renderDiagnostics();
      continue; // malformed at the syntax level: there is no AST to print
    }
    ++parsed;
    std::string printed = printSurface(*original.ast);
    Schedule reparsed = parseSchedule(path.string(), printed, Stage::Parse);
    ASSERT_TRUE(reparsed.ast) << "the printed form does not parse:\n"
                              << reparsed.renderDiagnostics() << "---\n"
                              << printed;
    EXPECT_TRUE(ast::sameStructure(*original.ast, *reparsed.ast)) << "printed form:\n" << printed;
    EXPECT_EQ(printSurface(*reparsed.ast), printed) << "printing is not idempotent";
    if (isExample(path)) {
      EXPECT_EQ(printed, text) << "examples are kept in canonical form (amk-fmt)";
    }
  }
  RecordProperty("parsed", static_cast<int>(parsed));
}

// ---- canonical spelling -------------------------------------------------------------------------

struct Spelling {
  const char *written;
  const char *canonical;
};

void PrintTo(const Spelling &c, std::ostream *os) { *os << c.written; }

class ExpressionSpelling : public testing::TestWithParam<Spelling> {};

TEST_P(ExpressionSpelling, PrintsCanonically) {
  const Spelling &c = GetParam();
  std::string text = std::string("amkir 1\ntarget sm_90 sms=1\ngrid blocks=1 threads=32 occupancy=1\n") +
                     "blocks b in 0..1 { wait c >= " + c.written + " }\n";
  Schedule s = parseSchedule("expr.amkir", text, Stage::Parse);
  ASSERT_TRUE(s.ast) << s.renderDiagnostics();
  const auto &section = std::get<ast::BlocksSection>(s.ast->statements.at(0).node);
  const auto &wait = std::get<ast::Wait>(section.body.at(0).node);
  std::string printed = printExpr(wait.threshold);
  EXPECT_EQ(printed, c.canonical);
  Schedule again = parseSchedule("expr.amkir",
                                 "amkir 1\ntarget sm_90 sms=1\ngrid blocks=1 threads=32\n"
                                 "blocks b in 0..1 { wait c >= " +
                                     printed + " }\n",
                                 Stage::Parse);
  ASSERT_TRUE(again.ast) << again.renderDiagnostics();
  const auto &section2 = std::get<ast::BlocksSection>(again.ast->statements.at(0).node);
  EXPECT_TRUE(ast::sameStructure(wait.threshold, std::get<ast::Wait>(section2.body.at(0).node).threshold));
}

INSTANTIATE_TEST_SUITE_P(
    RoundTrip, ExpressionSpelling,
    testing::Values(Spelling{"(a-b)-c", "a-b-c"}, Spelling{"a-(b-c)", "a-(b-c)"}, Spelling{"a-(b+c)", "a-(b+c)"},
                    Spelling{"a+(b+c)", "a+(b+c)"}, Spelling{"(a*b)/c", "a*b/c"}, Spelling{"a/(b*c)", "a/(b*c)"},
                    Spelling{"a%(b%c)", "a%(b%c)"}, Spelling{"(a+b)*c", "(a+b)*c"}, Spelling{"a + b * c", "a+b*c"},
                    Spelling{"( ( 7 ) )", "7"}, Spelling{"-(a+b)", "-(a+b)"}, Spelling{"-(-a)", "--a"},
                    Spelling{"-a*b", "-a*b"}, Spelling{"-(a*b)", "-(a*b)"}, Spelling{"a - -3", "a--3"},
                    Spelling{"a*(-3)", "a*-3"}, Spelling{"(a)%(4)", "a%4"}, Spelling{"8*b+8", "8*b+8"}));

TEST(RoundTrip, FormattingKeepsEveryComment) {
  const std::string messy = "# leading comment of the file\n"
                            "amkir 1   # version\n"
                            "\n"
                            "target   sm_90 sms=132\n"
                            "grid blocks=2 threads=128   occupancy=1\n"
                            "meta model=\"m\"   layers=2 eps=1e-5 word=llama3\n"
                            "\n"
                            "\n"
                            "# about x\n"
                            "scratch x:f32[8]   # trailing\t \n"
                            "counter   c\n"
                            "for i in 0 .. 2 {   # opening\n"
                            "\n"
                            "  blocks b in 0..2 {\n"
                            "        opaque x[ 4*b:4*b+4 ] <- name=\"p\"\n"
                            "\n"
                            "    # closing comment\n"
                            "\n"
                            "  }\n"
                            "}\n"
                            "blocks b in 0..2 {\n"
                            "  barrier\n"
                            "}  # after\n"
                            "# the end\n";
  const std::string canonical = "# leading comment of the file\n"
                                "amkir 1  # version\n"
                                "\n"
                                "target sm_90 sms=132\n"
                                "grid blocks=2 threads=128 occupancy=1\n"
                                "meta model=\"m\" layers=2 eps=1e-05 word=\"llama3\"\n"
                                "\n"
                                "# about x\n"
                                "scratch x : f32[8]  # trailing\n"
                                "counter c\n"
                                "for i in 0..2 {  # opening\n"
                                "  blocks b in 0..2 {\n"
                                "    opaque x[4*b : 4*b+4] <- name=\"p\"\n"
                                "    # closing comment\n"
                                "  }\n"
                                "}\n"
                                "blocks b in 0..2 { barrier }  # after\n"
                                "# the end\n";
  Schedule s = parseSchedule("messy.amkir", messy, Stage::Parse);
  ASSERT_TRUE(s.ast) << s.renderDiagnostics();
  EXPECT_EQ(printSurface(*s.ast), canonical);
  Schedule again = parseSchedule("canonical.amkir", canonical, Stage::Parse);
  ASSERT_TRUE(again.ast) << again.renderDiagnostics();
  EXPECT_TRUE(ast::sameStructure(*s.ast, *again.ast));
  EXPECT_EQ(printSurface(*again.ast), canonical);
}

// Found by fuzz-amkir-frontend (corpus/fuzz/frontend/comment-cr-at-eof.txt): a comment that ends
// in a carriage return at the end of the file printed as "#...\r\n", which reads back as a CRLF line
// without the '\r', so printing was not a fixed point. A comment's text never ends in '\r'.
TEST(RoundTrip, CommentEndingInCarriageReturnIsCanonical) {
  for (const std::string tail : {"# note\r", "# note\r\r", "# note \r\t", "# note\r\r\n"}) {
    const std::string text = "amkir 1\ntarget sm_90 sms=132\ngrid blocks=1 threads=32 occupancy=1\n" + tail;
    Schedule s = parseSchedule("t.amkir", text, Stage::Parse);
    ASSERT_TRUE(s.ast) << s.renderDiagnostics();
    const std::string printed = printSurface(*s.ast);
    EXPECT_NE(printed.find("# note\n"), std::string::npos) << printed;
    Schedule again = parseSchedule("printed.amkir", printed, Stage::Parse);
    ASSERT_TRUE(again.ast) << again.renderDiagnostics();
    EXPECT_TRUE(ast::sameStructure(*s.ast, *again.ast));
    EXPECT_EQ(printSurface(*again.ast), printed);
  }
}

// ---- random ASTs --------------------------------------------------------------------------------

const std::set<std::string> kKeywords = {"amkir",  "target",  "grid", "meta", "param",  "input",   "state",  "scratch",
                                         "output", "counter", "for",  "in",   "blocks", "barrier", "signal", "wait"};

// Generates ASTs inside the image of the parser: only what parsing some text can produce (integer
// literals non-negative, no blank line before `amkir` or a body's first statement, comments without
// trailing blanks or line breaks, names that are not keywords).
class AstGenerator {
public:
  AstGenerator(uint64_t seed, std::map<std::string, int> &features) : rng_(seed), features_(features) {}

  ast::File file() {
    ast::File f;
    f.version = 1;
    f.versionTrivia = trivia(false);
    static const char *arches[] = {"sm_90", "sm_90a", "sm_80", "sm_89", "sm_100", "sm_100a"};
    f.target.arch = arches[below(std::size(arches))];
    f.target.sms = chance(50) ? between(1, 132) : between(1, 1024);
    f.target.trivia = trivia(true);
    f.grid.blocks = chance(70) ? between(1, 256) : between(1, 65536);
    f.grid.threads = 32 * between(1, 32);
    f.grid.occupancy = between(1, 64);
    f.grid.trivia = trivia(true);
    std::set<std::string> metaKeys;
    for (int i = below(3); i > 0; --i) {
      ast::Meta meta;
      // Metadata keys are unique across all meta lines of a file.
      while (meta.entries.empty())
        for (ast::KeyValue &kv : keyValues(1 + below(3)))
          if (metaKeys.insert(kv.key).second)
            meta.entries.push_back(std::move(kv));
      meta.trivia = trivia(true);
      f.metas.push_back(std::move(meta));
      use("meta");
    }
    for (int i = below(9); i > 0; --i)
      f.statements.push_back(topLevel(3));
    f.trailingComments = comments(chance(20) ? 1 + below(2) : 0);
    return f;
  }

private:
  int64_t between(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  size_t below(size_t n) { return static_cast<size_t>(between(0, static_cast<int64_t>(n) - 1)); }
  bool chance(int percent) { return between(0, 99) < percent; }
  void use(const std::string &feature) { ++features_[feature]; }

  std::string name() {
    static const char *pool[] = {"x",      "y",   "w_qkv",   "b",     "l",   "_",         "_t0",    "e",
                                 "E",      "e5",  "relaxed", "cta",   "sms", "name",      "inn",    "for_",
                                 "Blocks", "FOR", "signal_", "waits", "x9",  "occupancy", "threads"};
    if (chance(50))
      return pool[below(std::size(pool))];
    static const std::string first = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
    static const std::string rest = first + "0123456789";
    while (true) {
      std::string out(1, first[below(first.size())]);
      for (size_t n = below(8); n > 0; --n)
        out += rest[below(rest.size())];
      if (!kKeywords.count(out))
        return out;
    }
  }

  std::string commentText() {
    static const char *pieces[] = {
        " ",  "a",      "Z",    "#", "\"", "\\", "\t", "\xc3\xa9",      "\xe2\x86\x92", "{", "}",
        "<-", "x[0:8]", "0..8", ";", "'",  "=",  "%",  " expect: safe", "amkir 1",      "  "};
    std::string out;
    for (size_t n = below(8); n > 0; --n)
      out += pieces[below(std::size(pieces))];
    while (!out.empty() && (out.back() == ' ' || out.back() == '\t'))
      out.pop_back();
    use(out.empty() ? "empty comment" : "comment");
    return out;
  }

  std::vector<std::string> comments(size_t n) {
    std::vector<std::string> out;
    for (; n > 0; --n)
      out.push_back(commentText());
    return out;
  }

  ast::Trivia trivia(bool allowBlank) {
    ast::Trivia t;
    t.blankLineBefore = allowBlank && chance(25);
    if (t.blankLineBefore)
      use("blank line");
    if (chance(25)) {
      t.leadingComments = comments(1 + below(3));
      use("leading comment");
    }
    if (chance(25)) {
      t.trailingComment = commentText();
      use("trailing comment");
    }
    return t;
  }

  int64_t literal() {
    switch (below(4)) {
    case 0:
      return between(0, 9);
    case 1:
      return between(0, 1'000'000);
    case 2:
      return std::numeric_limits<int64_t>::max() - between(0, 3);
    default:
      return between(0, std::numeric_limits<int64_t>::max());
    }
  }

  ast::Expr expr(int depth) {
    ast::Expr e;
    if (depth <= 0 || chance(35)) {
      if (chance(50)) {
        e.kind = ast::Expr::Kind::Integer;
        e.value = literal();
        use("integer");
      } else {
        e.kind = ast::Expr::Kind::Variable;
        e.name = name();
        use("variable");
      }
      return e;
    }
    static const ast::Expr::Kind kinds[] = {ast::Expr::Kind::Negate,   ast::Expr::Kind::Add,
                                            ast::Expr::Kind::Subtract, ast::Expr::Kind::Multiply,
                                            ast::Expr::Kind::Divide,   ast::Expr::Kind::Modulo};
    static const char *names[] = {"negate", "add", "subtract", "multiply", "divide", "modulo"};
    size_t k = below(std::size(kinds));
    e.kind = kinds[k];
    use(names[k]);
    e.lhs = std::make_unique<ast::Expr>(expr(depth - 1));
    if (e.kind != ast::Expr::Kind::Negate)
      e.rhs = std::make_unique<ast::Expr>(expr(depth - 1));
    return e;
  }

  ast::Value value() {
    ast::Value v;
    switch (below(3)) {
    case 0: {
      // Negative integers are spelled with a '-' before the literal, so the most negative int64 has no
      // spelling.
      int64_t magnitude = literal();
      v.value = chance(30) ? -magnitude : magnitude;
      use("int value");
      break;
    }
    case 1: {
      static const double specials[] = {
          0.5, 1e-6, 1e-5, 10000.0, 1e300, 5e-324, 1.7976931348623157e308, 123456789012345680000.0, 100.0, 0.1, 2.5e-8};
      double d =
          chance(50) ? specials[below(std::size(specials))] : std::uniform_real_distribution<double>(0.0, 1e6)(rng_);
      v.value = chance(30) ? -d : d;
      use("float value");
      break;
    }
    default: {
      static const char *pieces[] = {"a", " ",   "\"", "\\", "\n",     "\t", "\xc3\xa9",
                                     "#", "x=1", "'",  "{}", "llama3", "\\n"};
      std::string s;
      for (size_t n = below(6); n > 0; --n)
        s += pieces[below(std::size(pieces))];
      v.value = s;
      use("string value");
      break;
    }
    }
    return v;
  }

  std::vector<ast::KeyValue> keyValues(size_t n) {
    std::vector<ast::KeyValue> out;
    std::set<std::string> keys;
    while (out.size() < n) {
      ast::KeyValue kv;
      kv.key = name();
      if (!keys.insert(kv.key).second)
        continue;
      kv.value = value();
      out.push_back(std::move(kv));
    }
    return out;
  }

  ast::Region region() {
    ast::Region r;
    r.buffer = name();
    if (chance(30)) {
      use("bare region");
      return r;
    }
    r.indexed = true;
    for (size_t n = 1 + below(4); n > 0; --n) {
      ast::Index index;
      switch (below(3)) {
      case 0:
        index.kind = ast::Index::Kind::Point;
        index.lo = expr(2);
        use("point index");
        break;
      case 1:
        index.kind = ast::Index::Kind::Slice;
        index.lo = expr(2);
        index.hi = expr(2);
        use("slice index");
        break;
      default:
        index.kind = ast::Index::Kind::All;
        use("whole index");
        break;
      }
      r.indices.push_back(std::move(index));
    }
    return r;
  }

  ast::CounterRef counterRef() {
    ast::CounterRef ref;
    ref.counter = name();
    if (chance(50)) {
      ref.index = expr(2);
      use("counter index");
    }
    return ref;
  }

  ast::SyncScope scope() {
    static const ast::SyncScope scopes[] = {ast::SyncScope::Default, ast::SyncScope::Relaxed, ast::SyncScope::Cta};
    static const char *names[] = {"default scope", "relaxed scope", "cta scope"};
    size_t k = below(3);
    use(names[k]);
    return scopes[k];
  }

  ast::Stmt instruction() {
    ast::Stmt stmt;
    stmt.trivia = trivia(true);
    switch (below(6)) {
    case 0:
      stmt.node = ast::Barrier{};
      use("barrier");
      break;
    case 1: {
      ast::Signal signal;
      signal.scope = scope();
      signal.counter = counterRef();
      if (chance(50)) {
        signal.amount = expr(3);
        use("signal amount");
      }
      stmt.node = std::move(signal);
      use("signal");
      break;
    }
    case 2: {
      ast::Wait wait;
      wait.scope = scope();
      wait.counter = counterRef();
      wait.threshold = expr(3);
      stmt.node = std::move(wait);
      use("wait");
      break;
    }
    default: {
      ast::Task task;
      task.op = name();
      for (size_t n = below(4); n > 0; --n)
        task.outputs.push_back(region());
      for (size_t n = below(4); n > 0; --n)
        task.inputs.push_back(region());
      task.attributes = keyValues(below(4));
      if (task.outputs.size() > 1 && task.inputs.size() > 1 && !task.attributes.empty())
        use("task with several outputs, inputs and attributes");
      stmt.node = std::move(task);
      use("task");
      break;
    }
    }
    return stmt;
  }

  // A section's body: a blank line before its first statement is not kept by the parser, and the
  // closing '}' keeps only the comments before it.
  template <typename Section, typename Make> void fillSection(Section &section, Make make) {
    section.variable = name();
    section.lo = expr(2);
    section.hi = expr(2);
    if (chance(20)) {
      section.openingComment = commentText();
      use("opening comment");
    }
    for (size_t n = chance(10) ? 0 : 1 + below(4); n > 0; --n) {
      ast::Stmt stmt = make();
      if (section.body.empty())
        stmt.trivia.blankLineBefore = false;
      section.body.push_back(std::move(stmt));
    }
    if (section.body.empty())
      use("empty body");
    if (chance(20)) {
      section.closing.leadingComments = comments(1 + below(2));
      use("closing comment");
    }
  }

  // Inside a blocks body: instructions and for loops of instructions.
  ast::Stmt inBlocks(int depth) {
    if (depth <= 0 || chance(80))
      return instruction();
    ast::Stmt stmt;
    stmt.trivia = trivia(true);
    ast::ForLoop loop;
    fillSection(loop, [&] { return inBlocks(depth - 1); });
    stmt.node = std::move(loop);
    use("for inside blocks");
    return stmt;
  }

  ast::Stmt blocksSection(int depth) {
    ast::Stmt stmt;
    stmt.trivia = trivia(true);
    ast::BlocksSection section;
    fillSection(section, [&] { return inBlocks(depth - 1); });
    stmt.node = std::move(section);
    use("blocks");
    return stmt;
  }

  // A top-level for holds for loops and blocks sections.
  ast::Stmt topFor(int depth) {
    ast::Stmt stmt;
    stmt.trivia = trivia(true);
    ast::ForLoop loop;
    fillSection(loop, [&] { return depth > 1 && chance(30) ? topFor(depth - 1) : blocksSection(depth - 1); });
    stmt.node = std::move(loop);
    use("for");
    return stmt;
  }

  ast::Stmt topLevel(int depth) {
    switch (below(4)) {
    case 0: {
      ast::Stmt stmt;
      stmt.trivia = trivia(true);
      ast::BufferDecl decl;
      decl.kind = static_cast<ast::BufferKind>(below(5));
      decl.dtype = static_cast<ast::DType>(below(5));
      decl.name = name();
      size_t rank = 1 + below(8);
      for (size_t d = 0; d < rank; ++d)
        decl.shape.push_back(rank <= 3 ? between(1, 1000) : between(1, 4)); // stays under the 1 TiB limit
      use(std::string("buffer ") + ast::bufferKindName(decl.kind) + " " + ast::dtypeName(decl.dtype));
      stmt.node = std::move(decl);
      return stmt;
    }
    case 1: {
      ast::Stmt stmt;
      stmt.trivia = trivia(true);
      ast::CounterDecl decl;
      decl.name = name();
      if (chance(50)) {
        decl.size = between(1, 1 << 20);
        use("counter array");
      }
      use("counter");
      stmt.node = std::move(decl);
      return stmt;
    }
    case 2:
      return topFor(depth);
    default:
      return blocksSection(depth);
    }
  }

  std::mt19937_64 rng_;
  std::map<std::string, int> &features_;
};

TEST(RoundTrip, RandomAstsSurvivePrintAndParse) {
  constexpr int kPrograms = 2500;
  constexpr uint64_t kFirstSeed = 20240601;
  std::map<std::string, int> features;
  int failures = 0;
  for (int i = 0; i < kPrograms && failures < 3; ++i) {
    uint64_t seed = kFirstSeed + static_cast<uint64_t>(i);
    ast::File generated = AstGenerator(seed, features).file();
    std::string text = printSurface(generated);
    Schedule parsed = parseSchedule("random.amkir", text, Stage::Parse);
    if (!parsed.ast) {
      ++failures;
      ADD_FAILURE() << "seed " << seed << ": the printed program does not parse\n"
                    << parsed.renderDiagnostics() << "--- program:\n"
                    << text;
      continue;
    }
    EXPECT_TRUE(parsed.diagnostics.all().empty()) << parsed.renderDiagnostics();
    if (!ast::sameStructure(generated, *parsed.ast)) {
      ++failures;
      ADD_FAILURE() << "seed " << seed << ": parse(print(ast)) differs from ast\n--- program:\n"
                    << text << "--- reprinted:\n"
                    << printSurface(*parsed.ast);
      continue;
    }
    std::string again = printSurface(*parsed.ast);
    if (again != text) {
      ++failures;
      ADD_FAILURE() << "seed " << seed << ": printing is not idempotent\n--- first:\n"
                    << text << "--- second:\n"
                    << again;
    }
  }
  // The generator must keep reaching every construct, or this test silently proves less.
  const char *required[] = {"integer",
                            "variable",
                            "negate",
                            "add",
                            "subtract",
                            "multiply",
                            "divide",
                            "modulo",
                            "bare region",
                            "point index",
                            "slice index",
                            "whole index",
                            "counter index",
                            "default scope",
                            "relaxed scope",
                            "cta scope",
                            "barrier",
                            "signal",
                            "signal amount",
                            "wait",
                            "task",
                            "task with several outputs, inputs and attributes",
                            "int value",
                            "float value",
                            "string value",
                            "blocks",
                            "for",
                            "for inside blocks",
                            "empty body",
                            "counter",
                            "counter array",
                            "meta",
                            "comment",
                            "empty comment",
                            "leading comment",
                            "trailing comment",
                            "opening comment",
                            "closing comment",
                            "blank line"};
  for (const char *feature : required)
    EXPECT_GT(features[feature], 0) << "the generator never produced: " << feature;
  for (const char *kind : {"param", "input", "state", "scratch", "output"})
    for (const char *dtype : {"bf16", "f16", "f32", "i32", "i8"})
      EXPECT_GT(features[std::string("buffer ") + kind + " " + dtype], 0) << kind << " " << dtype;
}

} // namespace
} // namespace amk::ir
