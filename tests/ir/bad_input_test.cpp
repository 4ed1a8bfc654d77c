// Bad input gets a clear diagnostic, never a crash, a hang or unbounded memory: degenerate files,
// garbage bytes, line-ending variants, inputs past every documented limit (ir/limits.h), reused
// names and unreadable paths. Exact message texts are specified in diagnostics_table_test.cpp; these
// tests pin the rule id and, where it matters, the position or the amount of output.
#include "amk/ir/frontend.h"
#include "amk/ir/limits.h"
#include "amk/ir/printer.h"
#include "test_support.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace amk::ir {
namespace {

const std::string kHeader = "amkir 1\n"
                            "target sm_90 sms=132\n"
                            "grid blocks=4 threads=128\n";

std::vector<std::string> ruleIds(const Schedule &schedule) {
  std::vector<std::string> rules;
  for (const Diagnostic &d : schedule.diagnostics.all())
    rules.push_back(d.ruleId);
  return rules;
}

bool hasRule(const Schedule &schedule, const std::string &rule) {
  for (const Diagnostic &d : schedule.diagnostics.all())
    if (d.ruleId == rule)
      return true;
  return false;
}

std::string repeat(const std::string &piece, int times) {
  std::string out;
  out.reserve(piece.size() * static_cast<size_t>(times));
  for (int i = 0; i < times; ++i)
    out += piece;
  return out;
}

// A schedule whose one instruction indexes x with `expression`.
std::string indexedBy(const std::string &expression) {
  return kHeader + "scratch x : f32[8]\nblocks b in 0..1 {\n  opaque x[" + expression + "] <-\n}\n";
}

// Asserts the schedule was refused and that `rule` is among its diagnostics; prints them otherwise.
void expectRefusedWith(const Schedule &schedule, const std::string &rule) {
  EXPECT_FALSE(schedule.wellFormed());
  EXPECT_TRUE(hasRule(schedule, rule)) << "expected " << rule << ", got:\n" << schedule.renderDiagnostics();
}

class BadInputFile : public testing::Test {
protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "amk-bad-input-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::filesystem::path dir_;
};

// ---- degenerate files -------------------------------------------------------------------------

// An empty file is refused with AMK-P002 (a schedule starts with 'amkir 1').
TEST(BadInput, EmptyFileIsRefusedWithP002) {
  Schedule schedule = parseSchedule("t.amkir", "");
  EXPECT_FALSE(schedule.ast);
  EXPECT_FALSE(schedule.wellFormed());
  EXPECT_EQ(ruleIds(schedule), std::vector<std::string>{"AMK-P002"}) << schedule.renderDiagnostics();
}

// Random bytes, NULs included, are refused as not UTF-8 (AMK-L002) before any parsing.
TEST(BadInput, BinaryGarbageIsRefusedAsNotUtf8WithL002) {
  std::mt19937 random(20240611);
  for (int sample = 0; sample < 20; ++sample) {
    std::string bytes(4096, '\0');
    for (char &c : bytes)
      c = static_cast<char>(random() & 0xff);
    bytes[100] = '\0';
    bytes[200] = static_cast<char>(0xff); // never valid in UTF-8, whatever the dice say
    Schedule schedule = parseSchedule("t.amkir", bytes);
    EXPECT_FALSE(schedule.wellFormed()) << "sample " << sample;
    ASSERT_FALSE(schedule.diagnostics.all().empty()) << "sample " << sample;
    EXPECT_EQ(schedule.diagnostics.all().front().ruleId, "AMK-L002") << schedule.renderDiagnostics();
  }
}

// Valid-UTF-8 garbage built from the language's own tokens and NULs reaches the parser and the
// elaborator; every sample ends with at least one diagnostic (or is accepted) and never crashes.
TEST(BadInput, TokenSoupWithNulsIsRefusedWithoutCrash) {
  // clang-format off
  const std::vector<std::string> pieces = {
      "blocks", "for",  "in",  "b",  "x",  "c",   "scratch", "counter", "signal", "wait", "barrier", "opaque",
      "copy",   "f32",  "0",   "1",  "8",  "..",  "{",       "}",       "[",      "]",    "(",       ")",
      ":",      ",",    "<-",  ">=", "+",  "-",   "*",       "/",       "%",      "=",    "\"s\"",   "#c",
      " ",      "\n",   "\t",  "\r\n", std::string(1, '\0'), "9223372036854775807"};
  // clang-format on
  std::mt19937 random(7);
  for (int sample = 0; sample < 200; ++sample) {
    std::string text = kHeader + "scratch x : f32[8]\ncounter c\n";
    for (int i = 0; i < 400; ++i)
      text += pieces[random() % pieces.size()];
    Schedule schedule = parseSchedule("t.amkir", text);
    if (schedule.wellFormed())
      continue;
    EXPECT_FALSE(schedule.diagnostics.all().empty()) << "refused without a diagnostic:\n" << text;
    EXPECT_LE(schedule.diagnostics.all().size(), Diagnostics::kDefaultLimit);
    EXPECT_FALSE(schedule.renderDiagnostics().empty());
  }
}

// A lone 0xff byte in a comment is one AMK-L002 at that byte, with no follow-on parse errors.
TEST(BadInput, NonUtf8ByteInCommentIsOneL002AtTheByte) {
  Schedule schedule = parseSchedule("t.amkir", kHeader + "# caf\xff\nscratch x : f32[8]\n");
  EXPECT_FALSE(schedule.wellFormed());
  ASSERT_EQ(ruleIds(schedule), std::vector<std::string>{"AMK-L002"}) << schedule.renderDiagnostics();
  const Diagnostic &d = schedule.diagnostics.all().front();
  EXPECT_EQ(d.range.begin.line, 4u);
  EXPECT_EQ(d.range.begin.column, 6u);
}

// ---- line endings -----------------------------------------------------------------------------

const char *kLineEndingSample = R"(amkir 1
# a comment above the target
target sm_90 sms=132
grid blocks=2 threads=128 occupancy=1

scratch x : f32[8]  # trailing comment
counter ready

blocks b in 0..2 {
  opaque x[4*b : 4*b+4] <- name="produce"
  signal ready
}
blocks b in 1..2 { wait ready >= 2 }
)";

std::string withCrlf(const std::string &text) {
  std::string out;
  for (char c : text) {
    if (c == '\n')
      out += '\r';
    out += c;
  }
  return out;
}

// CRLF line endings are accepted: the same canonical text and the same core program as LF.
TEST(BadInput, CrlfLineEndingsGiveTheSameProgramAsLf) {
  Schedule lf = parseSchedule("t.amkir", kLineEndingSample);
  Schedule crlf = parseSchedule("t.amkir", withCrlf(kLineEndingSample));
  ASSERT_TRUE(lf.wellFormed()) << lf.renderDiagnostics();
  ASSERT_TRUE(crlf.wellFormed()) << crlf.renderDiagnostics();
  EXPECT_EQ(printSurface(*crlf.ast), printSurface(*lf.ast));
  EXPECT_EQ(printCore(*crlf.program), printCore(*lf.program));
}

// Diagnostics in a CRLF file read exactly as in the LF file: same positions, no '\r' echoed.
TEST(BadInput, CrlfDiagnosticsMatchLf) {
  std::string lf = kHeader + "scratch x : f32[8]\nblocks b in 0..4 {\n  opaque x[2*b+2] <-\n}\n";
  Schedule fromLf = parseSchedule("t.amkir", lf);
  Schedule fromCrlf = parseSchedule("t.amkir", withCrlf(lf));
  ASSERT_TRUE(hasRule(fromLf, "AMK-B002")) << fromLf.renderDiagnostics();
  EXPECT_EQ(fromCrlf.renderDiagnostics(), fromLf.renderDiagnostics());
}

// A carriage return not followed by a line feed is not a line break but an invalid character (AMK-L001).
TEST(BadInput, LoneCarriageReturnIsInvalidCharacterL001) {
  Schedule schedule = parseSchedule("t.amkir", kHeader + "scratch x : f32[8]\rscratch y : f32[8]\n");
  EXPECT_FALSE(schedule.wellFormed());
  ASSERT_FALSE(schedule.diagnostics.all().empty());
  const Diagnostic &first = schedule.diagnostics.all().front();
  EXPECT_EQ(first.ruleId, "AMK-L001") << schedule.renderDiagnostics();
  EXPECT_EQ(first.message, "invalid character '\\x0d'");
  EXPECT_EQ(first.range.begin.line, 4u);
  EXPECT_EQ(first.range.begin.column, 19u);
}

// ---- size limits ------------------------------------------------------------------------------

// A sparse 1 GiB file is refused with AMK-X001 after reading at most the limit, not the whole file.
TEST_F(BadInputFile, FileOverSizeLimitIsRefusedWithX001) {
  std::filesystem::path huge = dir_ / "huge.amkir";
  { std::ofstream create(huge, std::ios::binary); }
  std::filesystem::resize_file(huge, 1ull << 30); // sparse: no disk blocks, no time
  Schedule schedule = loadSchedule(huge.string());
  EXPECT_FALSE(schedule.source);
  EXPECT_FALSE(schedule.wellFormed());
  EXPECT_EQ(ruleIds(schedule), std::vector<std::string>{"AMK-X001"});
  EXPECT_NE(schedule.renderDiagnostics().find(huge.string()), std::string::npos) << schedule.renderDiagnostics();
  EXPECT_NE(schedule.renderDiagnostics().find("[AMK-X001]"), std::string::npos) << schedule.renderDiagnostics();
}

// Text over the limit handed to parseSchedule is refused with AMK-X001 in a few lines, without
// echoing the (single, 64 MiB) source line.
TEST(BadInput, TextOverSizeLimitIsRefusedWithShortX001) {
  Schedule schedule = parseSchedule("t.amkir", std::string(limits::kMaxFileBytes + 1, 'a'));
  EXPECT_FALSE(schedule.wellFormed());
  EXPECT_EQ(ruleIds(schedule), std::vector<std::string>{"AMK-X001"});
  std::string rendered = schedule.renderDiagnostics();
  EXPECT_LT(rendered.size(), 1000u) << "the diagnostic echoes " << rendered.size() << " bytes; it starts:\n"
                                    << rendered.substr(0, 300);
}

// ---- nesting limit (AMK-X002) ------------------------------------------------------------------

// 10,000 nested parentheses are refused with AMK-X002, not a stack overflow.
TEST(BadInput, TenThousandNestedParenthesesAreX002) {
  Schedule schedule = parseSchedule("t.amkir", indexedBy(repeat("(", 10000) + "b" + repeat(")", 10000)));
  EXPECT_EQ(ruleIds(schedule), std::vector<std::string>{"AMK-X002"}) << schedule.renderDiagnostics();
}

// 10,000 nested negations are refused with AMK-X002, not a stack overflow.
TEST(BadInput, TenThousandNestedNegationsAreX002) {
  Schedule schedule = parseSchedule("t.amkir", indexedBy(repeat("-", 10000) + "b"));
  EXPECT_EQ(ruleIds(schedule), std::vector<std::string>{"AMK-X002"}) << schedule.renderDiagnostics();
}

// A 100,000-term 1+1+... chain is refused with AMK-X002 (its tree is that deep), not a stack overflow.
TEST(BadInput, HundredThousandTermChainIsX002) {
  Schedule schedule = parseSchedule("t.amkir", indexedBy("1" + repeat("+1", 99999)));
  EXPECT_EQ(ruleIds(schedule), std::vector<std::string>{"AMK-X002"}) << schedule.renderDiagnostics();
}

// 10,000 nested 'for' sections are refused with AMK-X002, not a stack overflow.
TEST(BadInput, TenThousandNestedForSectionsAreX002) {
  std::string text = kHeader;
  for (int i = 0; i < 10000; ++i)
    text += "for i" + std::to_string(i) + " in 0..1 {\n";
  text += repeat("}\n", 10000);
  Schedule schedule = parseSchedule("t.amkir", text);
  EXPECT_EQ(ruleIds(schedule), std::vector<std::string>{"AMK-X002"}) << schedule.renderDiagnostics();
}

// ---- integer overflow -------------------------------------------------------------------------

// An integer literal past 2^63-1 is refused with AMK-L004.
TEST(BadInput, IntegerLiteralOverflowIsL004) {
  Schedule schedule =
      parseSchedule("t.amkir", kHeader + "counter c\nblocks b in 0..1 {\n  wait c >= 9223372036854775808\n}\n");
  EXPECT_FALSE(schedule.wellFormed());
  ASSERT_FALSE(schedule.diagnostics.all().empty());
  EXPECT_EQ(schedule.diagnostics.all().front().ruleId, "AMK-L004") << schedule.renderDiagnostics();
}

// 64-bit overflow while evaluating an index (2^63-1 + b with b = 1) is refused with AMK-E003.
TEST(BadInput, OverflowDuringEvaluationIsE003) {
  std::string text = kHeader + "scratch x : f32[8]\nblocks b in 0..2 {\n  opaque x[9223372036854775807 + b] <-\n}\n";
  expectRefusedWith(parseSchedule("t.amkir", text), "AMK-E003");
}

// ---- elaboration limits (AMK-X003) -------------------------------------------------------------

// A loop of 10^12 iterations with an empty body stops at the step limit (AMK-X003) instead of running.
TEST(BadInput, TrillionIterationEmptyLoopIsX003) {
  Schedule schedule = parseSchedule("t.amkir", kHeader + "for i in 0..1000000000000 {\n}\n");
  EXPECT_EQ(ruleIds(schedule), std::vector<std::string>{"AMK-X003"}) << schedule.renderDiagnostics();
}

// A loop of 10^12 iterations with a one-instruction body stops at a limit (AMK-X003) instead of running.
TEST(BadInput, TrillionIterationLoopWithSmallBodyIsX003) {
  Schedule schedule =
      parseSchedule("t.amkir", kHeader + "for i in 0..1000000000000 {\n  blocks b in 0..1 { barrier }\n}\n");
  EXPECT_EQ(ruleIds(schedule), std::vector<std::string>{"AMK-X003"}) << schedule.renderDiagnostics();
}

// 2.6 million iterations of 4 barriers (10.4 million instructions) pass the instruction limit: AMK-X003.
TEST(BadInput, OverTenMillionInstructionsIsX003) {
  Schedule schedule = parseSchedule("t.amkir", kHeader + "for i in 0..2600000 {\n  blocks b in 0..4 { barrier }\n}\n");
  ASSERT_EQ(ruleIds(schedule), std::vector<std::string>{"AMK-X003"}) << schedule.renderDiagnostics();
  const std::string &message = schedule.diagnostics.all().front().message;
  EXPECT_NE(message.find("10000000"), std::string::npos) << message;
  EXPECT_NE(message.find("instructions"), std::string::npos) << message;
}

// ---- reused names -----------------------------------------------------------------------------

// A buffer declared twice is AMK-N002.
TEST(BadInput, BufferDeclaredTwiceIsN002) {
  expectRefusedWith(parseSchedule("t.amkir", kHeader + "scratch x : f32[8]\noutput x : f32[8]\n"), "AMK-N002");
}

// A counter that takes a buffer's name is AMK-N002 (buffers and counters share one namespace).
TEST(BadInput, CounterNamedLikeBufferIsN002) {
  expectRefusedWith(parseSchedule("t.amkir", kHeader + "scratch x : f32[8]\ncounter x[4]\n"), "AMK-N002");
}

// A loop variable that shadows an enclosing loop variable is AMK-N003.
TEST(BadInput, ShadowingLoopVariableIsN003) {
  expectRefusedWith(parseSchedule("t.amkir", kHeader + "blocks b in 0..4 {\n  for b in 0..2 { barrier }\n}\n"),
                    "AMK-N003");
}

// A loop variable named like a buffer is AMK-N003.
TEST(BadInput, LoopVariableNamedLikeBufferIsN003) {
  expectRefusedWith(parseSchedule("t.amkir", kHeader + "scratch x : f32[8]\nfor x in 0..2 {\n}\n"), "AMK-N003");
}

// ---- absurd sizes -----------------------------------------------------------------------------

// A buffer one byte over 1 TiB is AMK-X004.
TEST(BadInput, BufferOverOneTebibyteIsX004) {
  expectRefusedWith(parseSchedule("t.amkir", kHeader + "scratch x : i8[1099511627777]\n"), "AMK-X004");
}

// A buffer of exactly 1 TiB is within the limit (nothing is allocated for it).
TEST(BadInput, BufferOfExactlyOneTebibyteIsAccepted) {
  Schedule schedule = parseSchedule("t.amkir", kHeader + "scratch x : i8[1024, 1024, 1024, 1024]\n");
  EXPECT_TRUE(schedule.wellFormed()) << schedule.renderDiagnostics();
}

// A counter array longer than 2^20 is AMK-X004.
TEST(BadInput, CounterArrayOverTwoToTheTwentyIsX004) {
  expectRefusedWith(parseSchedule("t.amkir", kHeader + "counter c[1048577]\n"), "AMK-X004");
}

// A counter array of exactly 2^20 is within the limit.
TEST(BadInput, CounterArrayOfTwoToTheTwentyIsAccepted) {
  Schedule schedule = parseSchedule("t.amkir", kHeader + "counter c[1048576]\n");
  EXPECT_TRUE(schedule.wellFormed()) << schedule.renderDiagnostics();
}

// More than 65536 grid blocks is AMK-P009.
TEST(BadInput, GridOver65536BlocksIsP009) {
  expectRefusedWith(parseSchedule("t.amkir", "amkir 1\ntarget sm_90 sms=132\ngrid blocks=65537 threads=128\n"),
                    "AMK-P009");
}

// A thread count that is not a multiple of the warp size is AMK-P009.
TEST(BadInput, ThreadsNotMultipleOf32IsP009) {
  expectRefusedWith(parseSchedule("t.amkir", "amkir 1\ntarget sm_90 sms=132\ngrid blocks=4 threads=48\n"), "AMK-P009");
}

// A buffer of rank 9 (over the maximum of 8) is AMK-X004.
TEST(BadInput, RankOverEightIsX004) {
  expectRefusedWith(parseSchedule("t.amkir", kHeader + "scratch x : f32[1, 1, 1, 1, 1, 1, 1, 1, 1]\n"), "AMK-X004");
}

// ---- unreadable paths (AMK-F001) ---------------------------------------------------------------

// Loading a directory is refused with AMK-F001 naming the path.
TEST_F(BadInputFile, DirectoryIsRefusedWithF001) {
  Schedule schedule = loadSchedule(dir_.string());
  EXPECT_FALSE(schedule.source);
  EXPECT_EQ(ruleIds(schedule), std::vector<std::string>{"AMK-F001"});
  EXPECT_EQ(schedule.renderDiagnostics().rfind(dir_.string() + ": error: ", 0), 0u) << schedule.renderDiagnostics();
}

// Loading a missing file is refused with AMK-F001 naming the path and the system's reason.
TEST_F(BadInputFile, MissingFileIsRefusedWithF001) {
  std::string missing = (dir_ / "missing.amkir").string();
  Schedule schedule = loadSchedule(missing);
  EXPECT_FALSE(schedule.source);
  EXPECT_EQ(ruleIds(schedule), std::vector<std::string>{"AMK-F001"});
  EXPECT_EQ(schedule.renderDiagnostics(),
            missing + ": error: cannot open file: No such file or directory [AMK-F001]\n");
}

// ---- many errors ------------------------------------------------------------------------------

// 60 broken lines give 50 diagnostics (the cap) and a final note saying that more were not shown.
TEST(BadInput, ManyErrorsStopAtTheCapWithANote) {
  Schedule schedule = parseSchedule("t.amkir", kHeader + repeat("scratch : f32[8]\n", 60));
  EXPECT_EQ(schedule.diagnostics.all().size(), Diagnostics::kDefaultLimit);
  std::string rendered = schedule.renderDiagnostics();
  size_t lastLine = rendered.rfind('\n', rendered.size() - 2);
  std::string last = rendered.substr(lastLine + 1);
  EXPECT_EQ(last.rfind("t.amkir: note: ", 0), 0u) << "the output ends without saying it was cut short:\n" << last;
}

} // namespace
} // namespace amk::ir
