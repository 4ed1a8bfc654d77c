// The front end's diagnostics as a specification: each row is a malformed schedule and the exact
// text `parseSchedule("t.amkir", input).renderDiagnostics()` must return (Souper's parser tests are
// the model). Every rule id the front end emits has a row; AMK-X001 and AMK-F001 need a file on disk
// and live in bad_input_test.cpp. Rows with a comment state a judgment on what the message should be.
#include "amk/ir/frontend.h"
#include "test_support.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <algorithm>
#include <ostream>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace amk::ir {
namespace {

struct DiagnosticCase {
  std::string name; // the test's name: Rule_WhatIsWrong
  std::string input;
  std::string expected;
};

// gtest prints parameters of failing tests; the name is enough (the test body prints the rest).
void PrintTo(const DiagnosticCase &c, std::ostream *os) { *os << c.name; }

// Lines 1-3 of most rows; kDecls adds lines 4-7.
const std::string kHeader = "amkir 1\n"
                            "target sm_90 sms=132\n"
                            "grid blocks=4 threads=128\n";
const std::string kDecls = "scratch x : f32[8]\n"
                           "scratch y : f32[8]\n"
                           "counter c\n"
                           "counter cs[4]\n";

std::string repeat(const std::string &piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i)
    out += piece;
  return out;
}

// How a source line longer than 160 characters is echoed: a 160-character window that starts 60
// characters before the caret, "..." marking each cut side, then the caret line for `width` columns
// from 1-based `column`.
std::string windowed(const std::string &line, size_t column, size_t width) {
  size_t start = column - 1;
  size_t from = start > 60 ? start - 60 : 0;
  size_t to = std::min(line.size(), from + 160);
  std::string shown = (from > 0 ? "..." : "") + line.substr(from, to - from) + (to < line.size() ? "..." : "");
  std::string caret = std::string((from > 0 ? 3 : 0) + start - from, ' ') + "^";
  for (size_t i = start + 1; i < start + width && i < to; ++i)
    caret += '~';
  return shown + "\n" + caret + "\n";
}

// Rows whose inputs are too long to write out: the nesting limit (256 levels, sections included).
std::vector<DiagnosticCase> nestingRows() {
  std::vector<DiagnosticCase> rows;
  // Line 9 is "  opaque x[" then the expression; the blocks section is level 1, so the 256th
  // parenthesis (column 12 + 255) is the first one past the limit.
  std::string parens = "  opaque x[" + repeat("(", 300) + "b" + repeat(")", 300) + "] <-";
  rows.push_back(
      {"X002_DeepParentheses", kHeader + kDecls + "blocks b in 0..4 {\n" + parens + "\n}\n",
       "t.amkir:9:267: error: expression nested deeper than 256 levels [AMK-X002]\n" + windowed(parens, 267, 1)});
  std::string negations = "  opaque x[" + repeat("-", 300) + "b] <-";
  rows.push_back(
      {"X002_DeepNegations", kHeader + kDecls + "blocks b in 0..4 {\n" + negations + "\n}\n",
       "t.amkir:9:267: error: expression nested deeper than 256 levels [AMK-X002]\n" + windowed(negations, 267, 1)});
  // A flat chain nests one level per operator in the tree; the message must say so, or a user who
  // wrote no parentheses cannot see what is nested. The range runs from 'b' to the 255th "+0".
  std::string chain = "  opaque x[b" + repeat("+0", 300) + "] <-";
  rows.push_back({"X002_LongOperatorChain", kHeader + kDecls + "blocks b in 0..4 {\n" + chain + "\n}\n",
                  "t.amkir:9:12: error: expression nested deeper than 256 levels (each binary operator in a chain "
                  "counts as a level) [AMK-X002]\n" +
                      windowed(chain, 12, 511)});
  std::string loops, closings;
  for (int i = 0; i < 300; ++i) {
    loops += "for i" + std::to_string(i) + " in 0..1 {\n";
    closings += "}\n";
  }
  rows.push_back(
      {"X002_DeepSections", kHeader + loops + closings,
       "t.amkir:260:1: error: sections nested deeper than 256 levels [AMK-X002]\nfor i256 in 0..1 {\n^~~\n"});
  return rows;
}

std::vector<DiagnosticCase> allRows() {
  std::vector<DiagnosticCase> rows = {
      {"L001_InvalidCharacter", kHeader + "scratch x : f32[8] @\n",
       R"(t.amkir:4:20: error: invalid character '@' [AMK-L001]
scratch x : f32[8] @
                   ^
)"},
      {"L001_ControlCharacterInString", kHeader + std::string("meta note=\"x\x01y\"\n"),
       R"(t.amkir:4:13: error: invalid character '\x01' in string [AMK-L001]
meta note="x?y"
            ^
)"},
      // One diagnostic (no 'expected amkir 1' after it); the echoed line shows the invalid byte as '?', as it does
      // control characters.
      {"L002_NotUtf8", "amkir 1\n# caf\xff\ntarget sm_90 sms=132\ngrid blocks=4 threads=128\n",
       R"(t.amkir:2:6: error: file is not valid UTF-8: byte '\xff' at offset 13 [AMK-L002]
# caf?
     ^
)"},
      // The lexer drops the bad token; the parser must not then report the hole it leaves ('found ]').
      {"L003_MalformedNumber", kHeader + "scratch x : f32[8abc]\n",
       R"(t.amkir:4:17: error: malformed number '8abc' [AMK-L003]
scratch x : f32[8abc]
                ^~~~
)"},
      // No second diagnostic for the hole the dropped token leaves.
      {"L004_IntegerLiteralOverflow", kHeader + "scratch x : f32[99999999999999999999]\n",
       R"(t.amkir:4:17: error: integer literal '99999999999999999999' does not fit in 64 bits [AMK-L004]
scratch x : f32[99999999999999999999]
                ^~~~~~~~~~~~~~~~~~~~
)"},
      // No second diagnostic for the hole the dropped token leaves.
      {"L004_FloatOutOfRange", kHeader + "meta scale=1e999\n",
       R"(t.amkir:4:12: error: number '1e999' is out of range for a 64-bit float [AMK-L004]
meta scale=1e999
           ^~~~~
)"},
      {"L005_UnknownEscape", kHeader + "meta note=\"x\\ty\"\n",
       R"(t.amkir:4:13: error: unknown escape sequence '\t' in string (use \", \\ or \n) [AMK-L005]
meta note="x\ty"
            ^~
)"},
      // No second diagnostic for the hole the dropped token leaves.
      {"L006_UnterminatedString", kHeader + "meta note=\"abc\n",
       R"(t.amkir:4:11: error: unterminated string literal [AMK-L006]
meta note="abc
          ^~~~
)"},
      {"P001_MissingColon", kHeader + "scratch x f32[8]\n",
       R"(t.amkir:4:11: error: expected ':' after the buffer name, found 'f32' [AMK-P001]
scratch x f32[8]
          ^~~
)"},
      {"P001_KeywordAsName", kHeader + "scratch for : f32[8]\n",
       R"(t.amkir:4:9: error: expected a buffer name, found keyword 'for' [AMK-P001]
scratch for : f32[8]
        ^~~
)"},
      {"P001_TrailingToken", kHeader + "scratch x : f32[8] y\n",
       R"(t.amkir:4:20: error: expected end of line, found 'y' [AMK-P001]
scratch x : f32[8] y
                   ^
)"},
      {"P001_UnknownSyncScope", kHeader + kDecls + R"(blocks b in 0..4 {
  signal.weak c
}
)",
       R"(t.amkir:9:10: error: expected 'relaxed' or 'cta' after '.', found 'weak' [AMK-P001]
  signal.weak c
         ^~~~
)"},
      {"P001_MissingArrow", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x
}
)",
       R"(t.amkir:9:11: error: expected '<-' between the written and the read regions of 'opaque', found end of line [AMK-P001]
  opaque x
          ^
)"},
      // '>' is a likely typo for '>=': one diagnostic that says so, not 'invalid character' plus an error at '1'.
      {"P001_GreaterThanInWait", kHeader + kDecls + R"(blocks b in 0..4 {
  wait c > 1
}
)",
       R"(t.amkir:9:10: error: expected '>=' and a threshold, found '>' [AMK-P001]
  wait c > 1
         ^
)"},
      // The target line is there, only broken: no 'missing target line' as well.
      {"P001_TargetWithoutSms", R"(amkir 1
target sm_90
grid blocks=4 threads=128
)",
       R"(t.amkir:2:13: error: expected 'sms=' (the multiprocessor count), found end of line [AMK-P001]
target sm_90
            ^
)"},
      // Recovery consumes a stray '}' and goes on; it must not report the same brace again and again.
      {"P001_StrayClosingBrace", kHeader + R"(scratch x : f32[8]
}
scratch z f32[8]
)",
       R"(t.amkir:5:1: error: expected a declaration, 'for' or 'blocks', found '}' [AMK-P001]
}
^
t.amkir:6:11: error: expected ':' after the buffer name, found 'f32' [AMK-P001]
scratch z f32[8]
          ^~~
)"},
      // Recovery skips the rest of the broken line, its '}' included, and goes on with the next line.
      {"P001_BrokenSectionHeader", kHeader + R"(blocks b in 0..4 ( barrier }
scratch x f32[8]
)",
       R"(t.amkir:4:18: error: expected '{', found '(' [AMK-P001]
blocks b in 0..4 ( barrier }
                 ^
t.amkir:5:11: error: expected ':' after the buffer name, found 'f32' [AMK-P001]
scratch x f32[8]
          ^~~
)"},
      {"P002_EmptyFile", "",
       R"(t.amkir:1:1: error: file is empty; a schedule starts with 'amkir 1' [AMK-P002]

^
)"},
      {"P002_MissingVersionLine", "target sm_90 sms=132\n",
       R"(t.amkir:1:1: error: expected 'amkir 1' as the first line, found 'target' [AMK-P002]
target sm_90 sms=132
^~~~~~
)"},
      {"P002_MissingVersionNumber", "amkir\n",
       R"(t.amkir:1:6: error: expected a version number after 'amkir', found end of line [AMK-P002]
amkir
     ^
)"},
      {"P003_UnsupportedVersion", R"(amkir 2
target sm_90 sms=132
)",
       R"(t.amkir:1:7: error: unsupported amkir version 2 (this tool reads version 1) [AMK-P003]
amkir 2
      ^
)"},
      {"P004_InstructionOutsideBlocks", kHeader + "barrier\n",
       R"(t.amkir:4:1: error: instruction 'barrier' outside a 'blocks' section (instructions belong to blocks) [AMK-P004]
barrier
^~~~~~~
)"},
      {"P004_InstructionInTopLevelFor", kHeader + R"(for i in 0..2 {
  barrier
}
)",
       R"(t.amkir:5:3: error: instruction 'barrier' outside a 'blocks' section (instructions belong to blocks) [AMK-P004]
  barrier
  ^~~~~~~
)"},
      {"P005_NestedBlocks", kHeader + R"(blocks b in 0..4 {
  blocks c in 0..4 { barrier }
}
)",
       R"(t.amkir:5:3: error: 'blocks' sections do not nest [AMK-P005]
  blocks c in 0..4 { barrier }
  ^~~~~~
)"},
      {"P006_DeclarationInSection", kHeader + R"(blocks b in 0..4 {
  scratch x : f32[8]
}
)",
       R"(t.amkir:5:3: error: declaration of scratch inside a section; declarations go at the top level [AMK-P006]
  scratch x : f32[8]
  ^~~~~~~
)"},
      {"P006_GridLineInSection", kHeader + R"(for i in 0..2 {
  grid blocks=4 threads=128
}
)",
       R"(t.amkir:5:3: error: 'grid' line inside a section; it goes at the top level [AMK-P006]
  grid blocks=4 threads=128
  ^~~~
)"},
      // Like AMK-N002, point at the first one.
      {"P007_TargetTwice", kHeader + "target sm_80 sms=108\n",
       R"(t.amkir:4:1: error: 'target' given twice [AMK-P007]
target sm_80 sms=108
^~~~~~
t.amkir:2:1: note: previous 'target' line here
target sm_90 sms=132
^~~~~~
)"},
      // Like AMK-N002, point at the first one.
      {"P007_GridTwice", kHeader + "grid blocks=8 threads=128\n",
       R"(t.amkir:4:1: error: 'grid' given twice [AMK-P007]
grid blocks=8 threads=128
^~~~
t.amkir:3:1: note: previous 'grid' line here
grid blocks=4 threads=128
^~~~
)"},
      {"P008_MissingTarget", R"(amkir 1
grid blocks=4 threads=128
)",
       R"(t.amkir:3:1: error: missing 'target' line (for example: target sm_90 sms=132) [AMK-P008]

^
)"},
      {"P008_MissingGrid", R"(amkir 1
target sm_90 sms=132
)",
       R"(t.amkir:3:1: error: missing 'grid' line (for example: grid blocks=132 threads=256 occupancy=1) [AMK-P008]

^
)"},
      // The target line is there, only broken: no 'missing target line' as well.
      {"P009_InvalidArchitecture", R"(amkir 1
target gfx90a sms=132
grid blocks=4 threads=128
)",
       R"(t.amkir:2:8: error: invalid target architecture 'gfx90a' (expected sm_NN, for example sm_90) [AMK-P009]
target gfx90a sms=132
       ^~~~~~
)"},
      // Say what was found; the grid line is there, only broken: no 'missing grid line' as well.
      {"P009_BlocksOverLimit", R"(amkir 1
target sm_90 sms=132
grid blocks=65537 threads=128
)",
       R"(t.amkir:3:13: error: 'blocks' must be an integer from 1 to 65536, found 65537 [AMK-P009]
grid blocks=65537 threads=128
            ^~~~~
)"},
      // The grid line is there, only broken: no 'missing grid line' as well.
      {"P009_ThreadsNotWarpMultiple", R"(amkir 1
target sm_90 sms=132
grid blocks=4 threads=100
)",
       R"(t.amkir:3:23: error: grid threads=100 is not a multiple of the warp size 32 [AMK-P009]
grid blocks=4 threads=100
                      ^~~
)"},
      // The grid line is there, only broken: no 'missing grid line' as well.
      {"P009_UnknownGridAttribute", R"(amkir 1
target sm_90 sms=132
grid blocks=4 threads=128 warps=4
)",
       R"(t.amkir:3:27: error: unknown grid attribute 'warps' (expected blocks, threads, occupancy) [AMK-P009]
grid blocks=4 threads=128 warps=4
                          ^~~~~
)"},
      {"P010_UnknownElementType", kHeader + "scratch x : f64[8]\n",
       R"(t.amkir:4:13: error: unknown element type 'f64' (expected bf16, f16, f32, i32 or i8) [AMK-P010]
scratch x : f64[8]
            ^~~
)"},
      {"P011_ZeroDimension", kHeader + "scratch x : f32[0]\n",
       R"(t.amkir:4:17: error: dimension size must be at least 1, found 0 [AMK-P011]
scratch x : f32[0]
                ^
)"},
      {"P012_MissingClosingBrace", kHeader + R"(blocks b in 0..4 {
  barrier
)",
       // Reported where the '}' is missing (the end of the file), with the opening in a note: an error
       // inside the section (an unterminated string swallowing the '}') then sorts before it.
       R"(t.amkir:6:1: error: missing '}' at end of file [AMK-P012]

^
t.amkir:4:1: note: section opened here
blocks b in 0..4 {
^~~~~~
)"},
      {"P013_AttributeTwice", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x <- name="a" name="b"
}
)",
       R"(t.amkir:9:24: error: attribute 'name' given twice [AMK-P013]
  opaque x <- name="a" name="b"
                       ^~~~
)"},
      {"P013_MetadataKeyTwice", kHeader + R"(meta model="a"
meta model="b"
)",
       R"(t.amkir:5:6: error: metadata key 'model' given twice [AMK-P013]
meta model="b"
     ^~~~~
)"},
      {"N001_UnknownBuffer", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque z <- x
}
)",
       R"(t.amkir:9:10: error: unknown buffer 'z' [AMK-N001]
  opaque z <- x
         ^
)"},
      {"N001_UsedBeforeDeclaration", kHeader + R"(blocks b in 0..4 {
  opaque x <-
}
scratch x : f32[8]
)",
       R"(t.amkir:5:10: error: 'x' is used before its declaration [AMK-N001]
  opaque x <-
         ^
t.amkir:7:9: note: 'x' declared here
scratch x : f32[8]
        ^
)"},
      {"N001_UnknownCounter", kHeader + kDecls + R"(blocks b in 0..4 {
  signal d
}
)",
       R"(t.amkir:9:10: error: unknown counter 'd' [AMK-N001]
  signal d
         ^
)"},
      {"N001_UnknownLoopVariable", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x[i] <-
}
)",
       R"(t.amkir:9:12: error: unknown loop variable 'i' [AMK-N001]
  opaque x[i] <-
           ^
)"},
      {"N002_BufferDeclaredTwice", kHeader + R"(scratch x : f32[8]
state x : f32[4]
)",
       R"(t.amkir:5:7: error: 'x' is declared twice [AMK-N002]
state x : f32[4]
      ^
t.amkir:4:9: note: previous declaration of 'x' here
scratch x : f32[8]
        ^
)"},
      {"N002_CounterReusesBufferName", kHeader + R"(scratch x : f32[8]
counter x
)",
       R"(t.amkir:5:9: error: 'x' is declared twice [AMK-N002]
counter x
        ^
t.amkir:4:9: note: previous declaration of 'x' here
scratch x : f32[8]
        ^
)"},
      {"N003_LoopVariableShadows", kHeader + kDecls + R"(for i in 0..2 {
  blocks i in 0..4 { barrier }
}
)",
       R"(t.amkir:9:10: error: loop variable 'i' shadows an enclosing loop variable [AMK-N003]
  blocks i in 0..4 { barrier }
         ^
t.amkir:8:5: note: 'i' bound here
for i in 0..2 {
    ^
)"},
      {"N003_LoopVariableNamedLikeBuffer", kHeader + kDecls + "blocks x in 0..4 { barrier }\n",
       R"(t.amkir:8:8: error: loop variable 'x' reuses the name of a declared buffer [AMK-N003]
blocks x in 0..4 { barrier }
       ^
t.amkir:4:9: note: 'x' declared here
scratch x : f32[8]
        ^
)"},
      // Like the other AMK-N004 diagnostics, point at the declaration.
      {"N004_BufferAsLoopVariable", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x[y] <-
}
)",
       R"(t.amkir:9:12: error: 'y' is a buffer, not a loop variable [AMK-N004]
  opaque x[y] <-
           ^
t.amkir:5:9: note: 'y' declared here
scratch y : f32[8]
        ^
)"},
      {"N004_CounterAsBuffer", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque c <- x
}
)",
       R"(t.amkir:9:10: error: 'c' is a counter, not a buffer [AMK-N004]
  opaque c <- x
         ^
t.amkir:6:9: note: 'c' declared here
counter c
        ^
)"},
      {"N004_BufferAsCounter", kHeader + kDecls + R"(blocks b in 0..4 {
  signal x
}
)",
       R"(t.amkir:9:10: error: 'x' is a buffer, not a counter [AMK-N004]
  signal x
         ^
t.amkir:4:9: note: 'x' declared here
scratch x : f32[8]
        ^
)"},
      {"E001_ProductOfVariables", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x[b*b] <-
}
)",
       R"(t.amkir:9:12: error: non-affine expression 'b*b': one factor of a product must be a constant [AMK-E001]
  opaque x[b*b] <-
           ^~~
)"},
      {"E001_VariableDivisor", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x[8/b] <-
}
)",
       R"(t.amkir:9:12: error: non-affine expression '8/b': the divisor must be a constant [AMK-E001]
  opaque x[8/b] <-
           ^~~
)"},
      {"E002_ZeroDivisor", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x[b/0] <-
}
)",
       R"(t.amkir:9:14: error: divisor must be a positive constant, found 0 in 'b/0' [AMK-E002]
  opaque x[b/0] <-
             ^
)"},
      {"E002_NegativeModulus", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x[b%(1-3)] <-
}
)",
       R"(t.amkir:9:14: error: modulus must be a positive constant, found -2 in 'b%(1-3)' [AMK-E002]
  opaque x[b%(1-3)] <-
             ^~~~~
)"},
      {"E003_OverflowInIndex", kHeader + kDecls + R"(for i in 0..2 {
  blocks b in 0..4 {
    opaque x[4611686018427387904 * (i + 2) - 8] <-
  }
}
)",
       R"(t.amkir:10:14: error: integer overflow evaluating '4611686018427387904*(i+2)' (values are 64-bit) (i=0, b=0) [AMK-E003]
    opaque x[4611686018427387904 * (i + 2) - 8] <-
             ^~~~~~~~~~~~~~~~~~~~~~~~~~~~~
)"},
      {"E003_OverflowInRange", kHeader + kDecls + R"(for i in 9223372036854775807+1..0 {
}
)",
       R"(t.amkir:8:10: error: integer overflow evaluating '9223372036854775807+1' (values are 64-bit) [AMK-E003]
for i in 9223372036854775807+1..0 {
         ^~~~~~~~~~~~~~~~~~~~~
)"},
      // '1 dimension', not '1 dimensions'.
      {"B001_WrongIndexCount", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x[b, 0] <-
}
)",
       R"(t.amkir:9:10: error: region of 'x' has 2 indices, but the buffer has 1 dimension [8] [AMK-B001]
  opaque x[b, 0] <-
         ^~~~~~~
t.amkir:4:9: note: buffer 'x' declared here
scratch x : f32[8]
        ^
)"},
      {"B002_IndexOutOfBounds", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x[2*b+2] <-
}
)",
       R"(t.amkir:9:12: error: index 8 is out of bounds for dimension 0 of 'x' (size 8) (b=3) [AMK-B002]
  opaque x[2*b+2] <-
           ^~~~~
t.amkir:4:9: note: buffer 'x' declared here
scratch x : f32[8]
        ^
)"},
      {"B002_NegativeIndex", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x[b-1] <-
}
)",
       R"(t.amkir:9:12: error: index -1 is out of bounds for dimension 0 of 'x' (size 8) (b=0) [AMK-B002]
  opaque x[b-1] <-
           ^~~
t.amkir:4:9: note: buffer 'x' declared here
scratch x : f32[8]
        ^
)"},
      {"B002_SliceOutOfBounds", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x[3*b : 3*b+3] <-
}
)",
       R"(t.amkir:9:12: error: slice 6:9 is out of bounds for dimension 0 of 'x' (size 8) (b=2) [AMK-B002]
  opaque x[3*b : 3*b+3] <-
           ^~~~~~~~~~~
t.amkir:4:9: note: buffer 'x' declared here
scratch x : f32[8]
        ^
)"},
      {"B003_EmptySlice", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x[b : 2] <-
}
)",
       R"(t.amkir:9:12: error: slice 2:2 of 'x' is empty (b=2) [AMK-B003]
  opaque x[b : 2] <-
           ^~~~~
)"},
      {"B004_ArrayWithoutIndex", kHeader + kDecls + R"(blocks b in 0..4 {
  signal cs
}
)",
       R"(t.amkir:9:10: error: counter array 'cs' needs an index (it has 4 elements) [AMK-B004]
  signal cs
         ^~
t.amkir:7:9: note: counter 'cs' declared here
counter cs[4]
        ^~
)"},
      {"B004_IndexOnScalarCounter", kHeader + kDecls + R"(blocks b in 0..4 {
  signal c[b]
}
)",
       R"(t.amkir:9:10: error: 'c' is a single counter, not an array [AMK-B004]
  signal c[b]
         ^~~~
t.amkir:6:9: note: counter 'c' declared here
counter c
        ^
)"},
      {"B004_CounterIndexOutOfBounds", kHeader + kDecls + R"(blocks b in 0..4 {
  wait cs[b+1] >= 1
}
)",
       R"(t.amkir:9:8: error: index 4 is out of bounds for counter array 'cs' (length 4) (b=3) [AMK-B004]
  wait cs[b+1] >= 1
       ^~~~~~~
t.amkir:7:9: note: counter 'cs' declared here
counter cs[4]
        ^~
)"},
      {"B005_BlocksOutsideGrid", kHeader + kDecls + "blocks b in 0..5 { barrier }\n",
       R"(t.amkir:8:13: error: block range 0..5 is outside the grid 0..4 [AMK-B005]
blocks b in 0..5 { barrier }
            ^~~~
)"},
      {"B005_NegativeBlock", kHeader + kDecls + "blocks b in -1..2 { barrier }\n",
       R"(t.amkir:8:13: error: block range -1..2 is outside the grid 0..4 [AMK-B005]
blocks b in -1..2 { barrier }
            ^~~~~
)"},
      {"B005_BlocksOutsideGridInLoop", kHeader + kDecls + R"(for i in 0..3 {
  blocks b in i..i+3 { barrier }
}
)",
       R"(t.amkir:9:15: error: block range 2..5 is outside the grid 0..4 (i=2) [AMK-B005]
  blocks b in i..i+3 { barrier }
              ^~~~~~
)"},
      {"T001_UnknownOp", kHeader + kDecls + R"(blocks b in 0..4 {
  matmul x <- y
}
)",
       R"(t.amkir:9:3: error: unknown op 'matmul' (the registry has: copy, add, embed, rmsnorm, matvec, matvec_add, rope, kv_store, attention, silu_mul, argmax, rmsnorm_matvec, attention_partial, attention_merge, argmax_partial, argmax_merge, matvec_q8, matvec_q8_add, rmsnorm_matvec_q8, opaque, rmsnorm_gate_up_silu) [AMK-T001]
  matmul x <- y
  ^~~~~~
)"},
      {"T002_OperandCount", kHeader + kDecls + R"(blocks b in 0..4 {
  add x <- y
}
)",
       R"(t.amkir:9:3: error: 'add' takes 1 output and 2 inputs (y <- a, b), found 1 output and 1 input [AMK-T002]
  add x <- y
  ^~~
)"},
      {"T003_IntegerOperandOfAdd", kHeader + R"(scratch x : f32[8]
scratch t : i32[8]
blocks k in 0..1 {
  add x <- x, t
}
)",
       R"(t.amkir:7:15: error: 'add' operand 'b' must be bf16, f16 or f32, found i32 (k=0) [AMK-T003]
  add x <- x, t
              ^
)"},
      // The op's name once, not 'copy' copy converts.
      {"T003_CopyFloatToInteger", kHeader + R"(scratch x : f32[8]
scratch t : i32[8]
blocks k in 0..1 {
  copy t <- x
}
)",
       R"(t.amkir:7:8: error: 'copy' converts only between float types; 'y' is i32 and 'x' is f32 (k=0) [AMK-T003]
  copy t <- x
       ^
)"},
      // '1 element', not '1 elements'.
      {"T004_ElementCount", kHeader + R"(scratch x : f32[8]
scratch y : f32[8]
blocks k in 0..1 {
  copy y[0:1] <- x[0:2]
}
)",
       R"(t.amkir:7:8: error: 'copy' operand 'y' has 1 element f32[1], expected 2 (the element count of 'x') (k=0) [AMK-T004]
  copy y[0:1] <- x[0:2]
       ^~~~~~
)"},
      {"T004_MatvecColumns", kHeader + R"(param W : f32[4, 8]
scratch x : f32[4]
scratch y : f32[4]
blocks k in 0..1 {
  matvec y <- W, x
}
)",
       R"(t.amkir:8:18: error: 'matvec' operand 'x' has 4 elements f32[4], expected 8 (the column count of 'W') (k=0) [AMK-T004]
  matvec y <- W, x
                 ^
)"},
      {"T004_EmbedTokenNotScalar", kHeader + R"(param t : f32[16, 8]
input tok : i32[2]
scratch y : f32[8]
blocks k in 0..1 {
  embed y <- t, tok
}
)",
       R"(t.amkir:8:17: error: 'embed' operand 'tok' must be one element, found i32[2] (k=0) [AMK-T004]
  embed y <- t, tok
                ^~~
)"},
      {"T004_AttentionCacheShapes", kHeader + R"(scratch q : f32[8]
state kc : f32[16, 4]
state vc : f32[16, 8]
input pos : i32[1]
scratch o : f32[8]
blocks k in 0..1 {
  attention o <- q, kc, vc, pos
}
)",
       R"(t.amkir:10:25: error: 'attention' operand 'vcache' f32[16, 8] must have the shape of 'kcache' f32[16, 4] (k=0) [AMK-T004]
  attention o <- q, kc, vc, pos
                        ^~
)"},
      {"T005_UnknownAttribute", kHeader + kDecls + R"(blocks b in 0..4 {
  copy x <- y eps=1.0
}
)",
       R"(t.amkir:9:15: error: unknown attribute 'eps' for 'copy' (it takes none) [AMK-T005]
  copy x <- y eps=1.0
              ^~~
)"},
      {"T006_MissingRequiredAttribute", kHeader + R"(scratch v : f32[64]
input pos : i32[1]
blocks k in 0..1 {
  rope v <- v, pos
}
)",
       R"(t.amkir:7:3: error: 'rope' needs attribute 'head_dim' (rotary head dimension (even)) [AMK-T006]
  rope v <- v, pos
  ^~~~
)"},
      {"T006_AttributeOfWrongType", kHeader + R"(scratch v : f32[64]
input pos : i32[1]
blocks k in 0..1 {
  rope v <- v, pos head_dim="x"
}
)",
       R"(t.amkir:7:29: error: attribute 'head_dim' of 'rope' must be an integer, found "x" [AMK-T006]
  rope v <- v, pos head_dim="x"
                            ^~~
)"},
      {"T006_AttributeNotAChoice", kHeader + R"(scratch v : f32[64]
input pos : i32[1]
blocks k in 0..1 {
  rope v <- v, pos head_dim=64 scaling=yarn
}
)",
       R"(t.amkir:7:40: error: attribute 'scaling' of 'rope' must be one of none, llama3, found "yarn" [AMK-T006]
  rope v <- v, pos head_dim=64 scaling=yarn
                                       ^~~~
)"},
      {"W001_WriteToParam", kHeader + R"(param w : f32[8]
scratch x : f32[8]
blocks k in 0..1 {
  copy w <- x
}
)",
       R"(t.amkir:7:8: error: 'copy' writes to param 'w', which is read-only during the launch [AMK-W001]
  copy w <- x
       ^
t.amkir:4:7: note: buffer 'w' declared here
param w : f32[8]
      ^
)"},
      {"W001_WriteToInput", kHeader + R"(input w : f32[8]
blocks k in 0..1 {
  opaque w[0:4] <-
}
)",
       R"(t.amkir:6:10: error: 'opaque' writes to input 'w', which is read-only during the launch [AMK-W001]
  opaque w[0:4] <-
         ^~~~~~
t.amkir:4:7: note: buffer 'w' declared here
input w : f32[8]
      ^
)"},
      {"W002_OpNotInPlace", kHeader + R"(scratch x : f32[8]
blocks k in 0..1 {
  copy x <- x
}
)",
       R"(t.amkir:6:8: error: output 'y' overlaps input 'x' of 'copy', which does not work in place on that operand: x[0:8] and x[0:8] (k=0) [AMK-W002]
  copy x <- x
       ^
)"},
      {"W002_PartialOverlap", kHeader + R"(scratch x : f32[8]
scratch y : f32[8]
blocks k in 0..1 {
  add x[0:4] <- x[2:6], y[0:4]
}
)",
       R"(t.amkir:7:7: error: output 'y' overlaps input 'a' of 'add' without being the same region (in-place use needs exactly x[2:6]): x[0:4] and x[2:6] (k=0) [AMK-W002]
  add x[0:4] <- x[2:6], y[0:4]
      ^~~~~~
)"},
      // Opaque operands have no names: 'output 1', not 'output output 1'.
      {"W002_OpaquePartialOverlap", kHeader + R"(scratch x : f32[8]
blocks k in 0..1 {
  opaque x[0:4] <- x[2:6]
}
)",
       R"(t.amkir:6:10: error: output 1 overlaps input 1 of 'opaque' without being the same region (in-place use needs exactly x[2:6]): x[0:4] and x[2:6] (k=0) [AMK-W002]
  opaque x[0:4] <- x[2:6]
         ^~~~~~
)"},
      {"W003_OutputsOverlap", kHeader + R"(scratch x : f32[8]
scratch y : f32[8]
blocks k in 0..1 {
  opaque x[0:4], x[2:6] <- y
}
)",
       R"(t.amkir:7:18: error: outputs 1 and 2 of 'opaque' overlap: x[0:4] and x[2:6] (k=0) [AMK-W003]
  opaque x[0:4], x[2:6] <- y
                 ^~~~~~
)"},
      {"C001_ZeroIncrement", kHeader + kDecls + R"(blocks b in 0..4 {
  signal c + b
}
)",
       R"(t.amkir:9:14: error: signal increment 0 is outside 1..4294967295 (counters are 32-bit) (b=0) [AMK-C001]
  signal c + b
             ^
)"},
      {"C001_IncrementOver32Bits", kHeader + kDecls + R"(blocks b in 0..4 {
  signal c + 4294967296
}
)",
       R"(t.amkir:9:14: error: signal increment 4294967296 is outside 1..4294967295 (counters are 32-bit) (b=0) [AMK-C001]
  signal c + 4294967296
             ^~~~~~~~~~
)"},
      {"C002_NegativeThreshold", kHeader + kDecls + R"(blocks b in 0..4 {
  wait c >= b - 1
}
)",
       R"(t.amkir:9:13: error: wait threshold -1 is outside 0..4294967295 (counters are 32-bit) (b=0) [AMK-C002]
  wait c >= b - 1
            ^~~~~
)"},
      // The declaration alone does not show which signals add up: point at one.
      {"C003_TotalWrapsAround", kHeader + kDecls + R"(blocks b in 0..4 {
  signal c + 2000000000
}
)",
       R"(t.amkir:6:9: error: counter 'c' receives 8000000000 in one launch, more than 4294967295 (counters are 32-bit and must not wrap) [AMK-C003]
counter c
        ^
t.amkir:9:3: note: 'c' incremented here
  signal c + 2000000000
  ^~~~~~~~~~~~~~~~~~~~~
)"},
      // Counting stops at the limit, so the real count is unknown (10000001 is not it); point at the section that
      // reached it.
      {"X003_InstructionLimit", kHeader + R"(for i in 0..3000000 {
  blocks b in 0..4 { barrier }
}
)",
       R"(t.amkir:3:1: error: schedule elaborates to more than 10000000 instructions (the limit) [AMK-X003]
grid blocks=4 threads=128
^~~~~~~~~~~~~~~~~~~~~~~~~
t.amkir:4:1: note: the limit was reached while elaborating this section
for i in 0..3000000 {
^~~
)"},
      // Point at the section that reached the limit.
      {"X003_StepLimit", kHeader + R"(for i in 0..1000000000000 {
}
)",
       R"(t.amkir:3:1: error: elaboration takes more than 50000000 steps (loop iterations and instructions); the schedule is too large [AMK-X003]
grid blocks=4 threads=128
^~~~~~~~~~~~~~~~~~~~~~~~~
t.amkir:4:1: note: the limit was reached while elaborating this section
for i in 0..1000000000000 {
^~~
)"},
      {"X004_RankOverLimit", kHeader + "scratch z : f32[1,1,1,1,1,1,1,1,1]\n",
       R"(t.amkir:4:33: error: buffer 'z' has more than 8 dimensions [AMK-X004]
scratch z : f32[1,1,1,1,1,1,1,1,1]
                                ^
)"},
      {"X004_BufferOverOneTebibyte", kHeader + "scratch z : f32[1024,1024,1024,1024]\n",
       R"(t.amkir:4:16: error: buffer 'z' is larger than the limit of 1 TiB [AMK-X004]
scratch z : f32[1024,1024,1024,1024]
               ^~~~~~~~~~~~~~~~~~~~~
)"},
      {"X004_CounterArrayTooLong", kHeader + "counter z[1048577]\n",
       R"(t.amkir:4:11: error: counter array 'z' length 1048577 is outside 1..1048576 [AMK-X004]
counter z[1048577]
          ^~~~~~~
)"},
      // Each broken statement is reported once and parsing goes on; diagnostics come in file order, lexical ones
      // included.
      {"Recovery_ParseErrorsInFileOrder", kHeader + R"(scratch x f32[8]
scratch y : f99[8]
blocks b in 0..4 {
  signal.weak c
  barrier $
  barrier
}
scratch z : f32[0]
)",
       R"(t.amkir:4:11: error: expected ':' after the buffer name, found 'f32' [AMK-P001]
scratch x f32[8]
          ^~~
t.amkir:5:13: error: unknown element type 'f99' (expected bf16, f16, f32, i32 or i8) [AMK-P010]
scratch y : f99[8]
            ^~~
t.amkir:7:10: error: expected 'relaxed' or 'cta' after '.', found 'weak' [AMK-P001]
  signal.weak c
         ^~~~
t.amkir:8:11: error: invalid character '$' [AMK-L001]
  barrier $
          ^
t.amkir:11:17: error: dimension size must be at least 1, found 0 [AMK-P011]
scratch z : f32[0]
                ^
)"},
      {"Recovery_NameAndOpErrors", kHeader + kDecls + R"(scratch x : f32[4]
blocks b in 0..4 {
  opaque q <- x
  signal cs
  matmul x <- y
  opaque x[b*b] <-
}
)",
       R"(t.amkir:8:9: error: 'x' is declared twice [AMK-N002]
scratch x : f32[4]
        ^
t.amkir:4:9: note: previous declaration of 'x' here
scratch x : f32[8]
        ^
t.amkir:10:10: error: unknown buffer 'q' [AMK-N001]
  opaque q <- x
         ^
t.amkir:11:10: error: counter array 'cs' needs an index (it has 4 elements) [AMK-B004]
  signal cs
         ^~
t.amkir:7:9: note: counter 'cs' declared here
counter cs[4]
        ^~
t.amkir:12:3: error: unknown op 'matmul' (the registry has: copy, add, embed, rmsnorm, matvec, matvec_add, rope, kv_store, attention, silu_mul, argmax, rmsnorm_matvec, attention_partial, attention_merge, argmax_partial, argmax_merge, matvec_q8, matvec_q8_add, rmsnorm_matvec_q8, opaque, rmsnorm_gate_up_silu) [AMK-T001]
  matmul x <- y
  ^~~~~~
t.amkir:13:12: error: non-affine expression 'b*b': one factor of a product must be a constant [AMK-E001]
  opaque x[b*b] <-
           ^~~
)"},
      // A block range outside the grid must not hide the independent errors of other sections.
      {"Recovery_InstanceErrorsInSeveralSections", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque x[2*b+2] <-
  wait c >= b - 1
  signal cs[b] + 0
}
blocks b in 0..5 { barrier }
blocks b in 0..4 {
  opaque y[b:b] <-
}
)",
       R"(t.amkir:9:12: error: index 8 is out of bounds for dimension 0 of 'x' (size 8) (b=3) [AMK-B002]
  opaque x[2*b+2] <-
           ^~~~~
t.amkir:4:9: note: buffer 'x' declared here
scratch x : f32[8]
        ^
t.amkir:10:13: error: wait threshold -1 is outside 0..4294967295 (counters are 32-bit) (b=0) [AMK-C002]
  wait c >= b - 1
            ^~~~~
t.amkir:11:18: error: signal increment 0 is outside 1..4294967295 (counters are 32-bit) (b=0) [AMK-C001]
  signal cs[b] + 0
                 ^
t.amkir:13:13: error: block range 0..5 is outside the grid 0..4 [AMK-B005]
blocks b in 0..5 { barrier }
            ^~~~
t.amkir:15:12: error: slice 0:0 of 'y' is empty (b=0) [AMK-B003]
  opaque y[b:b] <-
           ^~~
)"},
      // An unknown name in one instruction must not hide an independent error in the next.
      {"Recovery_NameErrorAndInstanceError", kHeader + kDecls + R"(blocks b in 0..4 {
  opaque q <- x
  wait c >= b - 1
}
)",
       R"(t.amkir:9:10: error: unknown buffer 'q' [AMK-N001]
  opaque q <- x
         ^
t.amkir:10:13: error: wait threshold -1 is outside 0..4294967295 (counters are 32-bit) (b=0) [AMK-C002]
  wait c >= b - 1
            ^~~~~
)"},
  };
  for (DiagnosticCase &row : nestingRows())
    rows.push_back(std::move(row));
  return rows;
}

const std::vector<DiagnosticCase> &table() {
  static const std::vector<DiagnosticCase> rows = allRows();
  return rows;
}

std::string excerpt(const std::string &text) {
  constexpr size_t kShown = 2000;
  return text.size() <= kShown ? text : text.substr(0, kShown) + "\n... (" + std::to_string(text.size()) + " bytes)";
}

class DiagnosticsTable : public testing::TestWithParam<DiagnosticCase> {};

TEST_P(DiagnosticsTable, RendersExactly) {
  const DiagnosticCase &row = GetParam();
  Schedule schedule = parseSchedule("t.amkir", row.input);
  std::string actual = schedule.renderDiagnostics();
  EXPECT_FALSE(schedule.wellFormed()) << "a malformed input was accepted";
  EXPECT_EQ(actual, row.expected) << "input:\n" << excerpt(row.input) << "\nactual, as printed:\n" << excerpt(actual);
}

INSTANTIATE_TEST_SUITE_P(FrontEnd, DiagnosticsTable, testing::ValuesIn(table()),
                         [](const testing::TestParamInfo<DiagnosticCase> &info) { return info.param.name; });

// The table stays complete: a rule id that appears in the front end's sources needs a row.
TEST(DiagnosticsTableCoverage, EveryRuleIdHasARow) {
  const std::set<std::string> coveredElsewhere = {"AMK-F001", "AMK-X001"}; // bad_input_test.cpp
  std::set<std::string> emitted;
  const std::regex ruleId("\"(AMK-[A-Z][0-9]{3})\"");
  for (const auto &entry : std::filesystem::directory_iterator(test::sourceDir() / "ir")) {
    if (entry.path().extension() != ".cpp")
      continue;
    std::string text = test::readFile(entry.path());
    for (auto it = std::sregex_iterator(text.begin(), text.end(), ruleId); it != std::sregex_iterator(); ++it)
      emitted.insert((*it)[1].str());
  }
  ASSERT_FALSE(emitted.empty()) << "no rule ids found under " << (test::sourceDir() / "ir");
  for (const std::string &rule : emitted) {
    if (coveredElsewhere.count(rule))
      continue;
    bool found = std::any_of(table().begin(), table().end(), [&](const DiagnosticCase &row) {
      return row.expected.find("[" + rule + "]") != std::string::npos;
    });
    EXPECT_TRUE(found) << rule << " is emitted by ir/ but no row of the table expects it";
  }
}

} // namespace
} // namespace amk::ir
