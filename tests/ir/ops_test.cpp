// The op registry as a specification (AMKIR.md section 4): for every op, a table of one-instruction
// schedules that must be well-formed, or must be refused with a given rule id as the first diagnostic
// and a given phrase in its message. Also: the registry lists exactly the ops of section 4, with
// their operands, in-place pairs and attributes, and absent attributes get their registry defaults.
#include "amk/ir/frontend.h"
#include "amk/ir/ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace amk::ir {
namespace {

constexpr const char *kWellFormed = "";

// One instruction placed alone in `blocks b in 0..1 { ... }` after the declarations, which are given
// as ';'-separated lines.
std::string wrap(const std::string &declarations, const std::string &instruction) {
  std::string text = "amkir 1\ntarget sm_90 sms=132\ngrid blocks=1 threads=128 occupancy=1\n";
  size_t start = 0;
  while (start <= declarations.size()) {
    size_t end = declarations.find(';', start);
    if (end == std::string::npos)
      end = declarations.size();
    std::string line = declarations.substr(start, end - start);
    line.erase(0, line.find_first_not_of(' '));
    if (!line.empty())
      text += line + "\n";
    start = end + 1;
  }
  return text + "blocks b in 0..1 {\n  " + instruction + "\n}\n";
}

uint32_t instructionLine(const std::string &text) {
  return static_cast<uint32_t>(std::count(text.begin(), text.end(), '\n')) - 1;
}

struct Row {
  const char *name;
  const char *instruction;
  const char *rule; // kWellFormed, or the rule id of the first diagnostic
  const char *message;
};

struct OpCase {
  std::string declarations;
  std::string name;
  std::string instruction;
  std::string rule;
  std::string message;
};

std::vector<OpCase> table(const char *declarations, std::initializer_list<Row> rows) {
  std::vector<OpCase> cases;
  for (const Row &row : rows)
    cases.push_back({declarations, row.name, row.instruction, row.rule, row.message});
  return cases;
}

std::string caseName(const testing::TestParamInfo<OpCase> &info) { return info.param.name; }

void PrintTo(const OpCase &c, std::ostream *os) { *os << c.instruction; }

class OpRules : public testing::TestWithParam<OpCase> {};

TEST_P(OpRules, FirstDiagnostic) {
  const OpCase &c = GetParam();
  std::string text = wrap(c.declarations, c.instruction);
  Schedule schedule = parseSchedule("op.amkir", text);
  if (c.rule.empty()) {
    EXPECT_TRUE(schedule.wellFormed()) << "expected well-formed:\n" << text << schedule.renderDiagnostics();
    return;
  }
  ASSERT_FALSE(schedule.wellFormed()) << "expected " << c.rule << ", but this is well-formed:\n" << text;
  ASSERT_FALSE(schedule.diagnostics.all().empty());
  const Diagnostic &first = schedule.diagnostics.all().front();
  EXPECT_EQ(first.ruleId, c.rule) << text << schedule.renderDiagnostics();
  EXPECT_NE(first.message.find(c.message), std::string::npos)
      << "message: " << first.message << "\nexpected to contain: " << c.message;
  EXPECT_EQ(first.range.begin.line, instructionLine(text)) << schedule.renderDiagnostics();
}

// ---- copy: y <- x, same element count; float types convert, other types must match -------------

INSTANTIATE_TEST_SUITE_P(
    Copy, OpRules,
    testing::ValuesIn(table(
        "scratch y : f32[8]; scratch x : bf16[8]; scratch m : f32[2, 4]; scratch i : i32[8]; scratch j : i32[2, 4];"
        "scratch q : i8[8]; param w : f32[8]; input t : i32[8]; state s : f16[8]; output o : f32[8]",
        {
            {"ConvertsBetweenFloatTypes", "copy y <- x", kWellFormed, ""},
            {"AnyShapeWithTheSameCount", "copy y <- m", kWellFormed, ""},
            {"SlicesAndPoints", "copy m[1, :] <- x[0:4]", kWellFormed, ""},
            {"IntegersOfOneType", "copy i <- j", kWellFormed, ""},
            {"StateFromParam", "copy s <- w", kWellFormed, ""},
            {"OutputBuffer", "copy o <- s", kWellFormed, ""},
            {"DisjointPartsOfOneBuffer", "copy y[0:4] <- y[4:8]", kWellFormed, ""},
            {"WrongElementCount", "copy y <- x[0:4]", "AMK-T004",
             "operand 'y' has 8 elements f32[8], expected 4 (the element count of 'x')"},
            {"IntFromFloat", "copy i <- y", "AMK-T003", "converts only between float types; 'y' is i32 and 'x' is f32"},
            {"FloatFromInt", "copy y <- i", "AMK-T003", "'y' is f32 and 'x' is i32"},
            {"IntTypesDiffer", "copy q <- i", "AMK-T003", "'y' is i8 and 'x' is i32"},
            {"NoInput", "copy y <-", "AMK-T002",
             "'copy' takes 1 output and 1 input (y <- x), found 1 output and 0 inputs"},
            {"TwoInputs", "copy y <- x, x", "AMK-T002", "found 1 output and 2 inputs"},
            {"TwoOutputs", "copy y, o <- x", "AMK-T002", "found 2 outputs and 1 input"},
            {"UnknownAttribute", "copy y <- x scale=2", "AMK-T005",
             "unknown attribute 'scale' for 'copy' (it takes none)"},
            {"WritesParam", "copy w <- y", "AMK-W001",
             "'copy' writes to param 'w', which is read-only during the launch"},
            {"WritesInput", "copy t <- i", "AMK-W001", "'copy' writes to input 't'"},
            {"ExactAliasNotInPlace", "copy y <- y", "AMK-W002",
             "output 'y' overlaps input 'x' of 'copy', which does not work in place"},
            {"PartialOverlap", "copy y[0:4] <- y[2:6]", "AMK-W002", "y[0:4] and y[2:6]"},
        })),
    caseName);

// ---- add: y <- a, b; float; one element count; y may alias a ------------------------------------

INSTANTIATE_TEST_SUITE_P(
    Add, OpRules,
    testing::ValuesIn(
        table("scratch y : f32[8]; scratch a : f32[8]; scratch c : bf16[2, 4]; scratch h : f16[4]; scratch i : i32[8];"
              "param w : f32[8]",
              {
                  {"MixedFloatTypes", "add y <- a, c", kWellFormed, ""},
                  {"InPlaceOnA", "add a <- a, c", kWellFormed, ""},
                  {"InPlaceOnASlice", "add a[0:4] <- a[0:4], a[4:8]", kWellFormed, ""},
                  {"Slices", "add y[0:4] <- a[4:8], h", kWellFormed, ""},
                  {"ReadsParam", "add y <- w, a", kWellFormed, ""},
                  {"BWrongCount", "add y <- a, h", "AMK-T004",
                   "operand 'b' has 4 elements f16[4], expected 8 (the element count of 'a')"},
                  {"YWrongCount", "add h <- a, c", "AMK-T004", "operand 'y' has 4 elements f16[4], expected 8"},
                  {"IntB", "add y <- a, i", "AMK-T003", "operand 'b' must be bf16, f16 or f32, found i32"},
                  {"IntA", "add y <- i, a", "AMK-T003", "operand 'a' must be bf16, f16 or f32, found i32"},
                  {"IntY", "add i <- a, c", "AMK-T003", "operand 'y' must be bf16, f16 or f32, found i32"},
                  {"OneInput", "add y <- a", "AMK-T002",
                   "'add' takes 1 output and 2 inputs (y <- a, b), found 1 output and 1 input"},
                  {"ThreeInputs", "add y <- a, c, c", "AMK-T002", "found 1 output and 3 inputs"},
                  {"UnknownAttribute", "add y <- a, c alpha=1", "AMK-T005", "unknown attribute 'alpha' for 'add'"},
                  {"AliasOfBNotAllowed", "add c <- a, c", "AMK-W002",
                   "output 'y' overlaps input 'b' of 'add', which does not work in place"},
                  {"PartialOverlapOfA", "add a[0:4] <- a[2:6], h", "AMK-W002",
                   "without being the same region (in-place use needs exactly a[2:6])"},
                  {"AliasOfAButOverlapOfB", "add a[0:4] <- a[0:4], a[2:6]", "AMK-W002",
                   "output 'y' overlaps input 'b' of 'add', which does not work in place"},
                  {"WritesParam", "add w <- a, c", "AMK-W001", "'add' writes to param 'w'"},
              })),
    caseName);

// ---- embed: x <- table, tok; table float [V, H]; tok one i32; x float, H elements ---------------

INSTANTIATE_TEST_SUITE_P(
    Embed, OpRules,
    testing::ValuesIn(table(
        "param table : bf16[16, 8]; param tables : f32[2, 16, 8]; param vec : f32[16]; param itable : i8[16, 8];"
        "scratch st : f32[16, 8]; input tok : i32[1]; input toks : i32[4]; input ftok : f32[1];"
        "scratch x : f32[8]; scratch x4 : f32[4]; scratch xi : i32[8]",
        {
            {"Table", "embed x <- table, tok", kWellFormed, ""},
            {"PointsDropDimensions", "embed x <- tables[1, :, :], toks[2]", kWellFormed, ""},
            {"ColumnSlice", "embed x4 <- table[:, 0:4], tok", kWellFormed, ""},
            {"OneElementSliceOfTok", "embed x <- table, toks[3:4]", kWellFormed, ""},
            {"XWrongCount", "embed x4 <- table, tok", "AMK-T004",
             "operand 'x' has 4 elements f32[4], expected 8 (the row length of 'table')"},
            {"TableRank1", "embed x <- vec, tok", "AMK-T004",
             "operand 'table' must be a matrix [vocab, hidden], found f32[16]"},
            {"TableRank3", "embed x <- tables, tok", "AMK-T004",
             "operand 'table' must be a matrix [vocab, hidden], found f32[2, 16, 8]"},
            {"IntTable", "embed x <- itable, tok", "AMK-T003", "operand 'table' must be bf16, f16 or f32, found i8"},
            {"FloatTok", "embed x <- table, ftok", "AMK-T003", "operand 'tok' must be i32, found f32"},
            {"SeveralToks", "embed x <- table, toks", "AMK-T004", "operand 'tok' must be one element, found i32[4]"},
            {"IntX", "embed xi <- table, tok", "AMK-T003", "operand 'x' must be bf16, f16 or f32, found i32"},
            {"NoTok", "embed x <- table", "AMK-T002",
             "'embed' takes 1 output and 2 inputs (x <- table, tok), found 1 output and 1 input"},
            {"TwoOutputs", "embed x, x4 <- table, tok", "AMK-T002", "found 2 outputs and 2 inputs"},
            {"UnknownAttribute", "embed x <- table, tok vocab=16", "AMK-T005", "unknown attribute 'vocab' for 'embed'"},
            {"WritesParam", "embed table[0, :] <- table, tok", "AMK-W001", "'embed' writes to param 'table'"},
            {"NotInPlace", "embed st[0, :] <- st, tok", "AMK-W002",
             "output 'x' overlaps input 'table' of 'embed', which does not work in place"},
        })),
    caseName);

// ---- rmsnorm: y[a:b] <- x, w[a:b] eps= ----------------------------------------------------------

INSTANTIATE_TEST_SUITE_P(
    RmsNorm, OpRules,
    testing::ValuesIn(table(
        "scratch x : f32[8]; scratch m : f32[2, 8]; scratch xi : i32[8]; scratch y : bf16[8]; scratch y4 : f32[4];"
        "scratch yi : i32[8]; param w : bf16[8]; param ws : f32[3, 8]; param w6 : f32[6]; param wi : i32[8]",
        {
            {"WholeVector", "rmsnorm y <- x, w", kWellFormed, ""},
            {"Slice", "rmsnorm y4 <- x, w[4:8]", kWellFormed, ""},
            {"SliceOfStackedWeights", "rmsnorm y4 <- x, ws[2, 0:4]", kWellFormed, ""},
            {"RowOfMatrixAsX", "rmsnorm y <- m[1, :], w eps=1e-5", kWellFormed, ""},
            {"IntegerEps", "rmsnorm y <- x, w eps=1", kWellFormed, ""},
            {"YWrongCount", "rmsnorm y4 <- x, w", "AMK-T004",
             "operand 'y' has 4 elements f32[4], expected 8 (the element count of the 'w' slice)"},
            {"XNotVector", "rmsnorm y <- m, w", "AMK-T004", "operand 'x' must be a vector, found f32[2, 8]"},
            {"WNotVector", "rmsnorm y <- x, ws", "AMK-T004", "operand 'w' must be a vector slice, found f32[3, 8]"},
            {"WOfOtherLength", "rmsnorm y <- x, w6", "AMK-T004",
             "operand 'w' must be a slice of the last dimension of a weight as long as 'x' (8), found a slice of [6]"},
            {"WNotAlongLastDimension", "rmsnorm y4 <- x, ws[0:3, 2]", "AMK-T004",
             "operand 'w' must be a slice of the last dimension"},
            {"IntX", "rmsnorm y <- xi, w", "AMK-T003", "operand 'x' must be bf16, f16 or f32, found i32"},
            {"IntW", "rmsnorm y <- x, wi", "AMK-T003", "operand 'w' must be bf16, f16 or f32, found i32"},
            {"IntY", "rmsnorm yi <- x, w", "AMK-T003", "operand 'y' must be bf16, f16 or f32, found i32"},
            {"NoWeight", "rmsnorm y <- x", "AMK-T002",
             "'rmsnorm' takes 1 output and 2 inputs (y <- x, w), found 1 output and 1 input"},
            {"UnknownAttribute", "rmsnorm y <- x, w epsilon=1e-5", "AMK-T005",
             "unknown attribute 'epsilon' for 'rmsnorm' (it takes: eps)"},
            {"ZeroEps", "rmsnorm y <- x, w eps=0", "AMK-T006",
             "attribute 'eps' of 'rmsnorm' must be a positive number, found 0"},
            {"NegativeEps", "rmsnorm y <- x, w eps=-1e-5", "AMK-T006", "must be a positive number, found -1e-05"},
            {"StringEps", "rmsnorm y <- x, w eps=\"small\"", "AMK-T006", "must be a number, found \"small\""},
            {"NotInPlace", "rmsnorm x <- x, w", "AMK-W002",
             "output 'y' overlaps input 'x' of 'rmsnorm', which does not work in place"},
            {"WritesParam", "rmsnorm w <- x, w", "AMK-W001", "'rmsnorm' writes to param 'w'"},
        })),
    caseName);

// ---- matvec: y[r0:r1] <- W[r0:r1, 0:K], x[0:K] --------------------------------------------------

INSTANTIATE_TEST_SUITE_P(
    MatVec, OpRules,
    testing::ValuesIn(table(
        "param W : bf16[4, 8]; param W3 : bf16[2, 4, 8]; param Wi : i8[4, 8]; scratch x : f32[8];"
        "scratch xi : i32[8]; scratch y : f32[4]; scratch y8 : f32[8]; scratch yi : i32[4]; scratch s : f32[16]",
        {
            {"WholeMatrix", "matvec y <- W, x", kWellFormed, ""},
            {"RowSlice", "matvec y[0:2] <- W[2:4, :], x", kWellFormed, ""},
            {"LayerOfStackedWeights", "matvec y <- W3[1, :, :], x", kWellFormed, ""},
            {"ColumnSlice", "matvec y[0:2] <- W[0:2, 0:4], x[4:8]", kWellFormed, ""},
            {"DisjointPartsOfOneBuffer", "matvec s[0:4] <- W, s[8:16]", kWellFormed, ""},
            {"YWrongCount", "matvec y8 <- W, x", "AMK-T004",
             "operand 'y' has 8 elements f32[8], expected 4 (the row count of 'W')"},
            {"XWrongCount", "matvec y <- W, x[0:4]", "AMK-T004",
             "operand 'x' has 4 elements f32[4], expected 8 (the column count of 'W')"},
            {"WRank3", "matvec y <- W3, x", "AMK-T004", "operand 'W' must be a matrix [rows, K], found bf16[2, 4, 8]"},
            {"WRank1", "matvec y[0] <- W[0, :], x", "AMK-T004",
             "operand 'W' must be a matrix [rows, K], found bf16[8]"},
            {"IntW", "matvec y <- Wi, x", "AMK-T003", "operand 'W' must be bf16, f16 or f32, found i8"},
            {"IntX", "matvec y <- W, xi", "AMK-T003", "operand 'x' must be bf16, f16 or f32, found i32"},
            {"IntY", "matvec yi <- W, x", "AMK-T003", "operand 'y' must be bf16, f16 or f32, found i32"},
            {"NoX", "matvec y <- W", "AMK-T002",
             "'matvec' takes 1 output and 2 inputs (y <- W, x), found 1 output and 1 input"},
            {"ThreeInputs", "matvec y <- W, x, y", "AMK-T002", "found 1 output and 3 inputs"},
            {"UnknownAttribute", "matvec y <- W, x bias=1", "AMK-T005", "unknown attribute 'bias' for 'matvec'"},
            {"NotInPlace", "matvec s[0:4] <- W, s[0:8]", "AMK-W002",
             "output 'y' overlaps input 'x' of 'matvec', which does not work in place"},
            {"WritesParam", "matvec W[0, 0:4] <- W, x", "AMK-W001", "'matvec' writes to param 'W'"},
        })),
    caseName);

// ---- matvec_add: y[r0:r1] <- W[r0:r1, :], x, r[r0:r1]; y may alias r ----------------------------

INSTANTIATE_TEST_SUITE_P(
    MatVecAdd, OpRules,
    testing::ValuesIn(
        table("param W : bf16[4, 8]; param W3 : bf16[2, 4, 8]; scratch x : f32[8]; scratch y : f32[4];"
              "scratch y8 : f32[8]; scratch r : f32[4]; scratch r8 : f32[8]; scratch ri : i32[4]; scratch s : f32[16]",
              {
                  {"Residual", "matvec_add y <- W, x, r", kWellFormed, ""},
                  {"InPlaceOnR", "matvec_add r <- W, x, r", kWellFormed, ""},
                  {"InPlaceOnRWithinOneBuffer", "matvec_add s[0:4] <- W, s[8:16], s[0:4]", kWellFormed, ""},
                  {"RowSlice", "matvec_add y[0:2] <- W[2:4, :], x, r[2:4]", kWellFormed, ""},
                  {"RWrongCount", "matvec_add y <- W, x, r8", "AMK-T004",
                   "operand 'r' has 8 elements f32[8], expected 4 (the row count of 'W')"},
                  {"YWrongCount", "matvec_add y8 <- W, x, r", "AMK-T004", "operand 'y' has 8 elements"},
                  {"XWrongCount", "matvec_add y <- W, r, r", "AMK-T004", "operand 'x' has 4 elements"},
                  {"WRank3", "matvec_add y <- W3, x, r", "AMK-T004", "operand 'W' must be a matrix [rows, K]"},
                  {"IntR", "matvec_add y <- W, x, ri", "AMK-T003", "operand 'r' must be bf16, f16 or f32, found i32"},
                  {"NoResidual", "matvec_add y <- W, x", "AMK-T002",
                   "'matvec_add' takes 1 output and 3 inputs (y <- W, x, r), found 1 output and 2 inputs"},
                  {"UnknownAttribute", "matvec_add y <- W, x, r alpha=1", "AMK-T005",
                   "unknown attribute 'alpha' for 'matvec_add'"},
                  {"PartialOverlapOfR", "matvec_add s[0:4] <- W, x, s[2:6]", "AMK-W002",
                   "output 'y' overlaps input 'r' of 'matvec_add' without being the same region (in-place use needs "
                   "exactly s[2:6])"},
                  {"AliasOfXNotAllowed", "matvec_add s[0:4] <- W, s[0:8], s[8:12]", "AMK-W002",
                   "output 'y' overlaps input 'x' of 'matvec_add', which does not work in place"},
              })),
    caseName);

// ---- rope: v[a:b] <- v[a:b], pos theta= head_dim= scaling ---------------------------------------

INSTANTIATE_TEST_SUITE_P(
    Rope, OpRules,
    testing::ValuesIn(table(
        "scratch q : f32[8]; scratch qb : bf16[2, 8]; scratch v6 : f32[6]; scratch qi : i32[8]; param pw : f32[8];"
        "input pos : i32[1]; input pos2 : i32[2]; input fpos : f32[1]",
        {
            {"InPlace", "rope q <- q, pos head_dim=4", kWellFormed, ""},
            {"InPlaceSlice", "rope q[0:4] <- q[0:4], pos head_dim=4 theta=500000.0", kWellFormed, ""},
            {"Llama3Scaling",
             "rope qb[1, :] <- qb[1, :], pos head_dim=8 scaling=llama3 factor=32 low_freq_factor=1 "
             "high_freq_factor=4 original_max_position=8192",
             kWellFormed, ""},
            {"IntegerTheta", "rope q <- q, pos head_dim=2 theta=10000", kWellFormed, ""},
            {"PosFromVector", "rope q <- q, pos2[1] head_dim=8", kWellFormed, ""},
            {"NoHeadDim", "rope q <- q, pos", "AMK-T006", "'rope' needs attribute 'head_dim'"},
            {"OddHeadDim", "rope q <- q, pos head_dim=3", "AMK-T004",
             "attribute head_dim=3 must be even (rotate-half pairs)"},
            {"NotWholeHeads", "rope v6 <- v6, pos head_dim=4", "AMK-T004",
             "operand 'v' has 6 elements, not a whole number of heads of head_dim=4"},
            {"ZeroHeadDim", "rope q <- q, pos head_dim=0", "AMK-T006",
             "attribute 'head_dim' of 'rope' must be a positive integer, found 0"},
            {"FloatHeadDim", "rope q <- q, pos head_dim=4.0", "AMK-T006", "must be an integer, found 4.0"},
            {"NegativeTheta", "rope q <- q, pos head_dim=4 theta=-1.0", "AMK-T006",
             "attribute 'theta' of 'rope' must be a positive number, found -1.0"},
            {"UnknownScaling", "rope q <- q, pos head_dim=4 scaling=yarn", "AMK-T006",
             "attribute 'scaling' of 'rope' must be one of none, llama3, found \"yarn\""},
            {"NumericScaling", "rope q <- q, pos head_dim=4 scaling=2", "AMK-T006", "must be a string, found 2"},
            {"FloatOriginalMaxPosition", "rope q <- q, pos head_dim=4 original_max_position=8192.5", "AMK-T006",
             "attribute 'original_max_position' of 'rope' must be an integer"},
            {"UnknownAttribute", "rope q <- q, pos head_dim=4 base=1.0", "AMK-T005",
             "unknown attribute 'base' for 'rope' (it takes: head_dim, theta, scaling, factor, low_freq_factor, "
             "high_freq_factor, original_max_position)"},
            {"IntV", "rope qi <- qi, pos head_dim=4", "AMK-T003", "operand 'v' must be bf16, f16 or f32, found i32"},
            {"FloatPos", "rope q <- q, fpos head_dim=4", "AMK-T003", "operand 'pos' must be i32, found f32"},
            {"SeveralPos", "rope q <- q, pos2 head_dim=4", "AMK-T004",
             "operand 'pos' must be one element, found i32[2]"},
            {"NoPos", "rope q <- q head_dim=4", "AMK-T002",
             "'rope' takes 1 output and 2 inputs (v <- v, pos), found 1 output and 1 input"},
            {"PartialOverlap", "rope q[0:4] <- q[2:6], pos head_dim=4", "AMK-W002",
             "without being the same region (in-place use needs exactly q[2:6])"},
            {"WritesParam", "rope pw <- pw, pos head_dim=4", "AMK-W001", "'rope' writes to param 'pw'"},
        })),
    caseName);

// ---- kv_store: cache[l, h, :, :] <- v[a:b], pos --------------------------------------------------

INSTANTIATE_TEST_SUITE_P(
    KvStore, OpRules,
    testing::ValuesIn(table(
        "state kc : bf16[2, 3, 16, 4]; state kci : i32[16, 4]; scratch c : f32[16, 4]; param pc : f32[16, 4];"
        "scratch k : f32[12]; scratch kd : f32[8]; scratch ki : i32[4]; input pos : i32[1]; input pos2 : i32[2]",
        {
            {"OneHeadOfOneLayer", "kv_store kc[1, 2, :, :] <- k[4:8], pos", kWellFormed, ""},
            {"WholeBuffer", "kv_store c <- k[0:4], pos", kWellFormed, ""},
            {"PositionWindow", "kv_store kc[0, 0, 0:8, :] <- k[8:12], pos2[0]", kWellFormed, ""},
            {"VWrongCount", "kv_store kc[1, 2, :, :] <- kd, pos", "AMK-T004",
             "operand 'v' has 8 elements f32[8], expected 4 (the head_dim of 'cache')"},
            {"CacheRank3", "kv_store kc[1, :, :, :] <- k[0:4], pos", "AMK-T004",
             "operand 'cache' must be a matrix [positions, head_dim], found bf16[3, 16, 4]"},
            {"CacheRank1", "kv_store kc[1, 2, 3, :] <- k[0:4], pos", "AMK-T004",
             "operand 'cache' must be a matrix [positions, head_dim], found bf16[4]"},
            {"IntCache", "kv_store kci <- k[0:4], pos", "AMK-T003",
             "operand 'cache' must be bf16, f16 or f32, found i32"},
            {"IntV", "kv_store c <- ki, pos", "AMK-T003", "operand 'v' must be bf16, f16 or f32, found i32"},
            {"SeveralPos", "kv_store c <- k[0:4], pos2", "AMK-T004", "operand 'pos' must be one element, found i32[2]"},
            {"NoPos", "kv_store c <- k[0:4]", "AMK-T002",
             "'kv_store' takes 1 output and 2 inputs (cache <- v, pos), found 1 output and 1 input"},
            {"UnknownAttribute", "kv_store c <- k[0:4], pos layer=1", "AMK-T005",
             "unknown attribute 'layer' for 'kv_store'"},
            {"NotInPlace", "kv_store c <- c[0, :], pos", "AMK-W002",
             "output 'cache' overlaps input 'v' of 'kv_store', which does not work in place"},
            {"WritesParam", "kv_store pc <- k[0:4], pos", "AMK-W001", "'kv_store' writes to param 'pc'"},
        })),
    caseName);

// ---- attention: o[a:b] <- q[a:b], kcache[l,h,:,:], vcache[l,h,:,:], pos --------------------------

INSTANTIATE_TEST_SUITE_P(
    Attention, OpRules,
    testing::ValuesIn(table(
        "state kc : bf16[2, 16, 4]; state vc : bf16[2, 16, 4]; state vc8 : bf16[2, 16, 8]; state kci : i32[16, 4];"
        "scratch q : f32[8]; scratch q6 : f32[6]; scratch qi : i32[8]; scratch o : f32[8]; scratch o4 : f32[4];"
        "scratch oi : i32[8]; input pos : i32[1]; input pos2 : i32[2]",
        {
            {"TwoHeads", "attention o <- q, kc[0, :, :], vc[0, :, :], pos", kWellFormed, ""},
            {"OneHead", "attention o4 <- q[4:8], kc[1, :, :], vc[1, :, :], pos", kWellFormed, ""},
            {"PositionWindow", "attention o[0:4] <- q[0:4], kc[1, 0:8, :], vc[1, 0:8, :], pos2[1]", kWellFormed, ""},
            {"VCacheOtherHeadDim", "attention o <- q, kc[0, :, :], vc8[0, :, :], pos", "AMK-T004",
             "operand 'vcache' bf16[16, 8] must have the shape of 'kcache' bf16[16, 4]"},
            {"VCacheOtherPositions", "attention o <- q, kc[0, :, :], vc[0, 0:8, :], pos", "AMK-T004",
             "operand 'vcache' bf16[8, 4] must have the shape of 'kcache' bf16[16, 4]"},
            {"NotWholeHeads", "attention o <- q6, kc[0, :, :], vc[0, :, :], pos", "AMK-T004",
             "operand 'q' has 6 elements, not a whole number of heads of 4"},
            {"OWrongCount", "attention o4 <- q, kc[0, :, :], vc[0, :, :], pos", "AMK-T004",
             "operand 'o' has 4 elements f32[4], expected 8 (the element count of 'q')"},
            {"KCacheRank3", "attention o <- q, kc, vc, pos", "AMK-T004",
             "operand 'kcache' must be a matrix [positions, head_dim], found bf16[2, 16, 4]"},
            {"IntKCache", "attention o <- q, kci, vc[0, :, :], pos", "AMK-T003",
             "operand 'kcache' must be bf16, f16 or f32, found i32"},
            {"IntQ", "attention o <- qi, kc[0, :, :], vc[0, :, :], pos", "AMK-T003",
             "operand 'q' must be bf16, f16 or f32, found i32"},
            {"IntO", "attention oi <- q, kc[0, :, :], vc[0, :, :], pos", "AMK-T003",
             "operand 'o' must be bf16, f16 or f32, found i32"},
            {"SeveralPos", "attention o <- q, kc[0, :, :], vc[0, :, :], pos2", "AMK-T004",
             "operand 'pos' must be one element, found i32[2]"},
            {"NoPos", "attention o <- q, kc[0, :, :], vc[0, :, :]", "AMK-T002",
             "'attention' takes 1 output and 4 inputs (o <- q, kcache, vcache, pos), found 1 output and 3 inputs"},
            {"UnknownAttribute", "attention o <- q, kc[0, :, :], vc[0, :, :], pos scale=0.5", "AMK-T005",
             "unknown attribute 'scale' for 'attention'"},
            {"NotInPlace", "attention q <- q, kc[0, :, :], vc[0, :, :], pos", "AMK-W002",
             "output 'o' overlaps input 'q' of 'attention', which does not work in place"},
            {"WritesInput", "attention pos <- q, kc[0, :, :], vc[0, :, :], pos", "AMK-W001",
             "'attention' writes to input 'pos'"},
        })),
    caseName);

// ---- silu_mul: y <- g, u ------------------------------------------------------------------------

INSTANTIATE_TEST_SUITE_P(
    SiluMul, OpRules,
    testing::ValuesIn(table(
        "scratch y : f32[8]; scratch g : bf16[8]; scratch u : f32[2, 4]; scratch u4 : f32[4]; scratch ui : i32[8];"
        "param pw : f32[8]",
        {
            {"MixedShapes", "silu_mul y <- g, u", kWellFormed, ""},
            {"Slices", "silu_mul y[0:4] <- g[4:8], u4", kWellFormed, ""},
            {"DisjointPartsOfOneBuffer", "silu_mul u4 <- y[0:4], y[4:8]", kWellFormed, ""},
            {"UWrongCount", "silu_mul y <- g, u4", "AMK-T004",
             "operand 'u' has 4 elements f32[4], expected 8 (the element count of 'g')"},
            {"YWrongCount", "silu_mul u4 <- g, u", "AMK-T004", "operand 'y' has 4 elements f32[4], expected 8"},
            {"IntU", "silu_mul y <- g, ui", "AMK-T003", "operand 'u' must be bf16, f16 or f32, found i32"},
            {"IntY", "silu_mul ui <- g, u", "AMK-T003", "operand 'y' must be bf16, f16 or f32, found i32"},
            {"OneInput", "silu_mul y <- g", "AMK-T002",
             "'silu_mul' takes 1 output and 2 inputs (y <- g, u), found 1 output and 1 input"},
            {"UnknownAttribute", "silu_mul y <- g, u beta=1.0", "AMK-T005", "unknown attribute 'beta' for 'silu_mul'"},
            {"NotInPlace", "silu_mul y <- y, u", "AMK-W002",
             "output 'y' overlaps input 'g' of 'silu_mul', which does not work in place"},
            {"WritesParam", "silu_mul pw <- g, u", "AMK-W001", "'silu_mul' writes to param 'pw'"},
        })),
    caseName);

// ---- argmax: i <- x ----------------------------------------------------------------------------

INSTANTIATE_TEST_SUITE_P(
    Argmax, OpRules,
    testing::ValuesIn(table(
        "scratch x : f32[16]; scratch xb : bf16[2, 8]; scratch xi : i32[16]; output i : i32[1]; scratch i2 : i32[2];"
        "scratch fi : f32[1]; input ti : i32[1]",
        {
            {"Vector", "argmax i <- x", kWellFormed, ""},
            {"Matrix", "argmax i <- xb", kWellFormed, ""},
            {"PointOutput", "argmax i2[1] <- x[0:8]", kWellFormed, ""},
            {"OneElementSliceOutput", "argmax i2[0:1] <- xb[1, :]", kWellFormed, ""},
            {"SeveralOutputElements", "argmax i2 <- x", "AMK-T004", "operand 'i' must be one element, found i32[2]"},
            {"FloatOutput", "argmax fi <- x", "AMK-T003", "operand 'i' must be i32, found f32"},
            {"IntInput", "argmax i <- xi", "AMK-T003", "operand 'x' must be bf16, f16 or f32, found i32"},
            {"TwoInputs", "argmax i <- x, x", "AMK-T002",
             "'argmax' takes 1 output and 1 input (i <- x), found 1 output and 2 inputs"},
            {"NoOutput", "argmax <- x", "AMK-T002", "found 0 outputs and 1 input"},
            {"UnknownAttribute", "argmax i <- x k=1", "AMK-T005", "unknown attribute 'k' for 'argmax'"},
            {"WritesInput", "argmax ti <- x", "AMK-W001", "'argmax' writes to input 'ti'"},
        })),
    caseName);

// ---- rmsnorm_matvec: y <- W, x, w eps= ----------------------------------------------------------

INSTANTIATE_TEST_SUITE_P(
    RmsNormMatVec, OpRules,
    testing::ValuesIn(
        table("param W : bf16[2, 16, 8]; param ln : bf16[2, 8]; scratch x : bf16[8]; scratch y : f32[16];"
              "scratch x4 : f32[4]; scratch xi : i32[8]; param lnw : bf16[4]",
              {
                  {"Rows", "rmsnorm_matvec y[0:4] <- W[1, 0:4, :], x, ln[1, :] eps=1e-05", kWellFormed, ""},
                  {"WholeMatrix", "rmsnorm_matvec y <- W[0, :, :], x, ln[0, :]", kWellFormed, ""},
                  {"XWrongCount", "rmsnorm_matvec y <- W[0, :, :], x4, ln[0, :]", "AMK-T004",
                   "operand 'x' has 4 elements f32[4], expected 8 (the column count of 'W')"},
                  {"NormWeightWrongCount", "rmsnorm_matvec y <- W[0, :, :], x, lnw", "AMK-T004",
                   "operand 'w' has 4 elements bf16[4], expected 8 (the column count of 'W')"},
                  {"YWrongCount", "rmsnorm_matvec y[0:4] <- W[0, :, :], x, ln[0, :]", "AMK-T004",
                   "operand 'y' has 4 elements f32[4], expected 16 (the row count of 'W')"},
                  {"WRank3", "rmsnorm_matvec y <- W, x, ln[0, :]", "AMK-T004",
                   "operand 'W' must be a matrix [rows, K], found bf16[2, 16, 8]"},
                  {"IntX", "rmsnorm_matvec y <- W[0, :, :], xi, ln[0, :]", "AMK-T003",
                   "operand 'x' must be bf16, f16 or f32, found i32"},
                  {"NoNormWeight", "rmsnorm_matvec y <- W[0, :, :], x", "AMK-T002",
                   "'rmsnorm_matvec' takes 1 output and 3 inputs (y <- W, x, w), found 1 output and 2 inputs"},
                  {"ZeroEps", "rmsnorm_matvec y <- W[0, :, :], x, ln[0, :] eps=0.0", "AMK-T006", "eps"},
                  {"WritesParam", "rmsnorm_matvec ln[0, :] <- W[0, 0:8, :], x, ln[1, :]", "AMK-W001",
                   "'rmsnorm_matvec' writes to param 'ln'"},
              })),
    caseName);

// ---- rmsnorm_gate_up_silu: y <- Wg, Wu, x, w eps= -----------------------------------------------

INSTANTIATE_TEST_SUITE_P(
    RmsNormGateUpSilu, OpRules,
    testing::ValuesIn(table(
        "param Wg : bf16[2, 16, 8]; param Wu : bf16[2, 16, 8]; param ln : bf16[2, 8]; scratch x : bf16[8];"
        "scratch y : bf16[16]; scratch x4 : f32[4]; scratch xi : i32[8]; param lnw : bf16[4]; param W9 : bf16[16, 9];"
        "scratch yi : i32[16]",
        {
            {"Rows", "rmsnorm_gate_up_silu y[0:4] <- Wg[1, 0:4, :], Wu[1, 0:4, :], x, ln[1, :] eps=1e-05", kWellFormed,
             ""},
            {"WholeMatrices", "rmsnorm_gate_up_silu y <- Wg[0, :, :], Wu[0, :, :], x, ln[0, :]", kWellFormed, ""},
            {"OtherRowsOfUp", "rmsnorm_gate_up_silu y[0:4] <- Wg[0, 0:4, :], Wu[1, 8:12, :], x, ln[0, :]", kWellFormed,
             ""},
            {"UpOtherRowCount", "rmsnorm_gate_up_silu y[0:4] <- Wg[0, 0:4, :], Wu[0, 0:8, :], x, ln[0, :]", "AMK-T004",
             "operand 'Wu' bf16[8, 8] must have the shape of 'Wg' bf16[4, 8]"},
            {"UpOtherColumnCount", "rmsnorm_gate_up_silu y <- Wg[0, :, :], W9, x, ln[0, :]", "AMK-T004",
             "operand 'Wu' bf16[16, 9] must have the shape of 'Wg' bf16[16, 8]"},
            {"UpVector", "rmsnorm_gate_up_silu y[0:8] <- Wg[0, 0:8, :], Wu[0, 0, :], x, ln[0, :]", "AMK-T004",
             "operand 'Wu' must be a matrix [rows, K], found bf16[8]"},
            {"XWrongCount", "rmsnorm_gate_up_silu y <- Wg[0, :, :], Wu[0, :, :], x4, ln[0, :]", "AMK-T004",
             "operand 'x' has 4 elements f32[4], expected 8 (the column count of 'Wg')"},
            {"NormWeightWrongCount", "rmsnorm_gate_up_silu y <- Wg[0, :, :], Wu[0, :, :], x, lnw", "AMK-T004",
             "operand 'w' has 4 elements bf16[4], expected 8 (the column count of 'Wg')"},
            {"YWrongCount", "rmsnorm_gate_up_silu y[0:4] <- Wg[0, :, :], Wu[0, :, :], x, ln[0, :]", "AMK-T004",
             "operand 'y' has 4 elements bf16[4], expected 16 (the row count of 'Wg')"},
            {"GateRank3", "rmsnorm_gate_up_silu y <- Wg, Wu[0, :, :], x, ln[0, :]", "AMK-T004",
             "operand 'Wg' must be a matrix [rows, K], found bf16[2, 16, 8]"},
            {"IntX", "rmsnorm_gate_up_silu y <- Wg[0, :, :], Wu[0, :, :], xi, ln[0, :]", "AMK-T003",
             "operand 'x' must be bf16, f16 or f32, found i32"},
            {"IntY", "rmsnorm_gate_up_silu yi <- Wg[0, :, :], Wu[0, :, :], x, ln[0, :]", "AMK-T003",
             "operand 'y' must be bf16, f16 or f32, found i32"},
            {"NoUp", "rmsnorm_gate_up_silu y <- Wg[0, :, :], x, ln[0, :]", "AMK-T002",
             "'rmsnorm_gate_up_silu' takes 1 output and 4 inputs (y <- Wg, Wu, x, w), found 1 output and 3 inputs"},
            {"ZeroEps", "rmsnorm_gate_up_silu y <- Wg[0, :, :], Wu[0, :, :], x, ln[0, :] eps=0.0", "AMK-T006", "eps"},
            {"WritesParam", "rmsnorm_gate_up_silu ln[0, :] <- Wg[0, 0:8, :], Wu[0, 0:8, :], x, ln[1, :]", "AMK-W001",
             "'rmsnorm_gate_up_silu' writes to param 'ln'"},
        })),
    caseName);

// ---- attention_partial: part, lse <- q, kcache[l, h, p0:p1, :], vcache[...], pos ------------------

INSTANTIATE_TEST_SUITE_P(
    AttentionPartial, OpRules,
    testing::ValuesIn(table(
        "state kc : bf16[2, 2, 16, 4]; state vc : bf16[2, 2, 16, 4]; scratch q : bf16[8]; input pos : i32[1];"
        "scratch part : f32[2, 4, 8]; scratch lse : f32[2, 4, 2]; scratch q6 : f32[6]; scratch l1 : f32[1]",
        {
            {"OneSplit", "attention_partial part[0, 1, :], lse[0, 1, :] <- q, kc[0, 1, 4:8, :], vc[0, 1, 4:8, :], pos",
             kWellFormed, ""},
            {"OneHead", "attention_partial part[0, 0, 0:4], l1 <- q[4:8], kc[1, 0, :, :], vc[1, 0, :, :], pos",
             kWellFormed, ""},
            {"OtherPositions",
             "attention_partial part[0, 0, :], lse[0, 0, :] <- q, kc[0, 0, 0:4, :], vc[0, 0, 4:8, :], pos", "AMK-T004",
             "operand 'vcache' starts at position 4, 'kcache' at position 0 (both must take the same positions)"},
            {"OtherLength",
             "attention_partial part[0, 0, :], lse[0, 0, :] <- q, kc[0, 0, 0:4, :], vc[0, 0, 0:8, :], pos", "AMK-T004",
             "operand 'vcache' bf16[8, 4] must have the shape of 'kcache' bf16[4, 4]"},
            {"LseWrongCount", "attention_partial part[0, 0, :], l1 <- q, kc[0, 0, :, :], vc[0, 0, :, :], pos",
             "AMK-T004", "operand 'lse' has 1 element f32[1], expected 2 (one per query head)"},
            {"PartWrongCount",
             "attention_partial part[0, 0, 0:4], lse[0, 0, :] <- q, kc[0, 0, :, :], vc[0, 0, :, :], pos", "AMK-T004",
             "operand 'part' has 4 elements f32[4], expected 8 (the element count of 'q')"},
            {"NotWholeHeads",
             "attention_partial part[0, 0, :], lse[0, 0, :] <- q6, kc[0, 0, :, :], vc[0, 0, :, :], pos", "AMK-T004",
             "operand 'q' has 6 elements, not a whole number of heads of 4"},
            {"OneOutput", "attention_partial part[0, 0, :] <- q, kc[0, 0, :, :], vc[0, 0, :, :], pos", "AMK-T002",
             "'attention_partial' takes 2 outputs and 4 inputs (part, lse <- q, kcache, vcache, pos), found 1 output "
             "and 4 inputs"},
        })),
    caseName);

// ---- attention_merge: o <- part[:, h, :], lse[:, h, :] -------------------------------------------

INSTANTIATE_TEST_SUITE_P(
    AttentionMerge, OpRules,
    testing::ValuesIn(
        table("scratch part : f32[2, 4, 8]; scratch lse : f32[2, 4, 2]; scratch o : bf16[2, 8]; scratch o4 : bf16[4];"
              "scratch lse3 : f32[3, 2]; scratch part3 : f32[4, 6]; scratch lse4 : f32[4, 4]",
              {
                  {"FourSplits", "attention_merge o[1, :] <- part[1, :, :], lse[1, :, :]", kWellFormed, ""},
                  {"OneSplit", "attention_merge o[0, :] <- part[0, 2:3, :], lse[0, 2:3, :]", kWellFormed, ""},
                  {"SplitCountsDiffer", "attention_merge o[0, :] <- part[0, :, :], lse3", "AMK-T004",
                   "operand 'lse' f32[3, 2] must have as many splits as 'part' f32[4, 8]"},
                  {"NotWholeHeads", "attention_merge o[0, 0:6] <- part3, lse4", "AMK-T004",
                   "operand 'part' rows of 6 are not a whole number of 4 heads"},
                  {"OWrongCount", "attention_merge o4 <- part[0, :, :], lse[0, :, :]", "AMK-T004",
                   "operand 'o' has 4 elements bf16[4], expected 8 (the row length of 'part')"},
                  {"PartVector", "attention_merge o[0, :] <- part[0, 0, :], lse[0, :, :]", "AMK-T004",
                   "operand 'part' must be a matrix [splits, heads * head_dim], found f32[8]"},
              })),
    caseName);

// ---- argmax_partial: best <- x[a:b]; argmax_merge: i <- best -------------------------------------

INSTANTIATE_TEST_SUITE_P(
    ArgmaxPartialAndMerge, OpRules,
    testing::ValuesIn(table(
        "scratch logits : f32[64]; scratch m : f32[4, 16]; scratch best : f32[4, 2]; scratch bb : bf16[4, 2];"
        "output i : i32[1]; scratch b3 : f32[4, 3]; scratch fi : f32[1]",
        {
            {"Slice", "argmax_partial best[1, :] <- logits[16:32]", kWellFormed, ""},
            {"RowOfMatrix", "argmax_partial best[0, :] <- m[2, 0:8]", kWellFormed, ""},
            {"Merge", "argmax_merge i <- best", kWellFormed, ""},
            {"MergeSomePartials", "argmax_merge i <- best[0:2, :]", kWellFormed, ""},
            {"ColumnOfMatrix", "argmax_partial best[0, :] <- m[0:4, 1]", "AMK-T004",
             "operand 'x' must be a slice of its buffer's last dimension, found f32[4]"},
            {"MatrixInput", "argmax_partial best[0, :] <- m", "AMK-T004",
             "operand 'x' must be a vector slice, found f32[4, 16]"},
            {"Bf16Best", "argmax_partial bb[0, :] <- logits", "AMK-T003", "operand 'best' must be f32, found bf16"},
            {"BestOneElement", "argmax_partial best[0, 0:1] <- logits", "AMK-T004",
             "operand 'best' has 1 element f32[1], expected 2 (a value and its index)"},
            {"MergeThreeColumns", "argmax_merge i <- b3", "AMK-T004",
             "operand 'best' must be [partials, 2] (value, index), found f32[4, 3]"},
            {"MergeBf16", "argmax_merge i <- bb", "AMK-T003", "operand 'best' must be f32, found bf16"},
            {"MergeFloatOutput", "argmax_merge fi <- best", "AMK-T003", "operand 'i' must be i32, found f32"},
        })),
    caseName);

// ---- opaque: outs... <- ins... name=; no shape rules; an out may equal an in exactly -------------

INSTANTIATE_TEST_SUITE_P(
    Opaque, OpRules,
    testing::ValuesIn(table(
        "scratch x : f32[8]; scratch z : i8[2, 3]; state s : bf16[4]; param w : f32[8]; input t : i32[1]",
        {
            {"NoOperands", "opaque <-", kWellFormed, ""},
            {"OnlyAName", "opaque <- name=\"noop\"", kWellFormed, ""},
            {"OnlyOutputs", "opaque x <- name=\"write\"", kWellFormed, ""},
            {"OnlyInputs", "opaque <- x, w, t", kWellFormed, ""},
            {"ManyOfAnyType", "opaque x, z, s <- w, t name=\"many\"", kWellFormed, ""},
            {"ReadModifyWrite", "opaque x <- x", kWellFormed, ""},
            {"ReadModifyWriteAndDisjointRead", "opaque x[0:4] <- x[0:4], x[4:8]", kWellFormed, ""},
            {"TwoExactPairs", "opaque x[0:4], x[4:8] <- x[0:4], x[4:8]", kWellFormed, ""},
            {"OutputEqualsTwoInputs", "opaque x <- x, x", kWellFormed, ""},
            {"DisjointRows", "opaque z[1, :] <- z[0, :], w", kWellFormed, ""},
            {"PartialOverlap", "opaque x[0:4] <- x[2:6]", "AMK-W002",
             "output 1 overlaps input 1 of 'opaque' without being the same region (in-place use needs exactly "
             "x[2:6])"},
            {"ExactAndPartialOverlap", "opaque x[0:4] <- x[0:4], x[2:6]", "AMK-W002",
             "output 1 overlaps input 2 of 'opaque' without being the same region"},
            {"SameOutputTwice", "opaque x, x <-", "AMK-W003", "outputs 1 and 2 of 'opaque' overlap: x[0:8] and x[0:8]"},
            {"OverlappingOutputs", "opaque x[0:4], x[3:8] <- name=\"two\"", "AMK-W003",
             "outputs 1 and 2 of 'opaque' overlap: x[0:4] and x[3:8]"},
            {"LaterOutputsOverlap", "opaque s, x[0:4], x[2:6] <-", "AMK-W003",
             "outputs 2 and 3 of 'opaque' overlap: x[0:4] and x[2:6]"},
            {"OverlappingRowsOfMatrix", "opaque z[0:2, 1], z[1, :] <-", "AMK-W003",
             "outputs 1 and 2 of 'opaque' overlap: z[0:2, 1] and z[1, 0:3]"},
            {"WritesParam", "opaque w <- x", "AMK-W001", "'opaque' writes to param 'w'"},
            {"WritesInput", "opaque x, t <- x", "AMK-W001", "'opaque' writes to input 't'"},
            {"IntegerName", "opaque <- name=3", "AMK-T006", "attribute 'name' of 'opaque' must be a string, found 3"},
            {"UnknownAttribute", "opaque <- label=\"x\"", "AMK-T005",
             "unknown attribute 'label' for 'opaque' (it takes: name)"},
            {"UnknownOp", "gemm x <- w", "AMK-T001",
             "unknown op 'gemm' (the registry has: copy, add, embed, rmsnorm, matvec, matvec_add, rope, kv_store, "
             "attention, silu_mul, argmax, rmsnorm_matvec, attention_partial, attention_merge, argmax_partial, "
             "argmax_merge, matvec_q8, matvec_q8_add, rmsnorm_matvec_q8, opaque, rmsnorm_gate_up_silu)"},
        })),
    caseName);

// ---- the registry itself ------------------------------------------------------------------------

struct Signature {
  const char *op;
  OpId id;
  std::vector<std::string_view> outputs;
  std::vector<std::string_view> inputs;
  std::vector<std::pair<size_t, size_t>> inPlace;
  std::vector<std::string_view> attributes;
};

// AMKIR.md section 4, the minimum set for Llama-family batch-1 decode.
const std::vector<Signature> kSection4 = {
    {"copy", OpId::Copy, {"y"}, {"x"}, {}, {}},
    {"add", OpId::Add, {"y"}, {"a", "b"}, {{0, 0}}, {}},
    {"embed", OpId::Embed, {"x"}, {"table", "tok"}, {}, {}},
    {"rmsnorm", OpId::RmsNorm, {"y"}, {"x", "w"}, {}, {"eps"}},
    {"matvec", OpId::MatVec, {"y"}, {"W", "x"}, {}, {}},
    {"matvec_add", OpId::MatVecAdd, {"y"}, {"W", "x", "r"}, {{0, 2}}, {}},
    {"rope",
     OpId::Rope,
     {"v"},
     {"v", "pos"},
     {{0, 0}},
     {"head_dim", "theta", "scaling", "factor", "low_freq_factor", "high_freq_factor", "original_max_position"}},
    {"kv_store", OpId::KvStore, {"cache"}, {"v", "pos"}, {}, {}},
    {"attention", OpId::Attention, {"o"}, {"q", "kcache", "vcache", "pos"}, {}, {}},
    {"silu_mul", OpId::SiluMul, {"y"}, {"g", "u"}, {}, {}},
    {"argmax", OpId::Argmax, {"i"}, {"x"}, {}, {}},
    // The fused and split ops the lowering strategies add (docs/amkir.md section 12).
    {"rmsnorm_matvec", OpId::RmsNormMatVec, {"y"}, {"W", "x", "w"}, {}, {"eps"}},
    {"attention_partial", OpId::AttentionPartial, {"part", "lse"}, {"q", "kcache", "vcache", "pos"}, {}, {}},
    {"attention_merge", OpId::AttentionMerge, {"o"}, {"part", "lse"}, {}, {}},
    {"argmax_partial", OpId::ArgmaxPartial, {"best"}, {"x"}, {}, {}},
    {"argmax_merge", OpId::ArgmaxMerge, {"i"}, {"best"}, {}, {}},
    // The W8A16 projections (docs/amkir.md section 12).
    {"matvec_q8", OpId::MatVecQ8, {"y"}, {"W", "s", "x"}, {}, {}},
    {"matvec_q8_add", OpId::MatVecQ8Add, {"y"}, {"W", "s", "x", "r"}, {{0, 3}}, {}},
    {"rmsnorm_matvec_q8", OpId::RmsNormMatVecQ8, {"y"}, {"W", "s", "x", "w"}, {}, {"eps"}},
    {"opaque", OpId::Opaque, {}, {}, {}, {"name"}},
    // The MLP tile of the fused strategies (docs/amkir.md section 12).
    {"rmsnorm_gate_up_silu", OpId::RmsNormGateUpSilu, {"y"}, {"Wg", "Wu", "x", "w"}, {}, {"eps"}},
};

TEST(OpRegistry, ListsEveryOpOfSection4) {
  std::set<std::string_view> expected, listed;
  for (const Signature &s : kSection4)
    expected.insert(s.op);
  for (const OpInfo &op : allOps())
    listed.insert(op.name);
  EXPECT_EQ(listed, expected);
  EXPECT_EQ(allOps().size(), kSection4.size()) << "an op is listed twice";
}

// The registry is bound to ir/ops.def: entry i is op i, under the name the .def gives it, so that
// the tape's op ids mean the same on the host and on the device.
TEST(OpRegistry, FollowsTheOpTableInOrder) {
  ASSERT_EQ(allOps().size(), kOpCount) << "ir/ops.def and the registry (ir/ops.cpp) list different numbers of ops";
  for (size_t i = 0; i < kOpCount; ++i) {
    const OpInfo &op = allOps()[i];
    EXPECT_EQ(static_cast<size_t>(op.id), i) << op.name;
    EXPECT_EQ(op.name, kOpTraits[i].name) << "registry entry " << i;
    EXPECT_EQ(kOpTraits[i].id, op.id) << op.name;
    EXPECT_EQ(&opInfo(op.id), &op) << op.name;
    EXPECT_EQ(findOp(op.name), &op) << op.name;
  }
}

// The facts of ir/ops.def that name inputs name inputs the registry has, with the roles the
// lowering and the runtime give them.
TEST(OpRegistry, TheTablesInputFactsNameTheRegistrysOperands) {
  for (const OpInfo &op : allOps()) {
    SCOPED_TRACE(op.name);
    const OpTraits &traits = opTraits(op.id);
    EXPECT_EQ(traits.weightInput >= 0, traits.weightInputs > 0);
    for (int w = 0; w < traits.weightInputs; ++w) {
      const auto input = static_cast<size_t>(traits.weightInput + w);
      ASSERT_LT(input, op.inputNames.size());
      EXPECT_TRUE(op.inputNames[input].starts_with("W"))
          << "weight input " << input << " '" << op.inputNames[input] << "' is no weight matrix";
    }
    if (traits.cacheInput >= 0) {
      ASSERT_LT(static_cast<size_t>(traits.cacheInput) + 2, op.inputNames.size());
      EXPECT_EQ(op.inputNames[static_cast<size_t>(traits.cacheInput)], "kcache");
      EXPECT_EQ(op.inputNames[static_cast<size_t>(traits.cacheInput) + 1], "vcache");
      EXPECT_EQ(op.inputNames[static_cast<size_t>(traits.cacheInput) + 2], "pos");
    }
    // A projection family, a projection's shared memory and its weight come together.
    const bool projection = traits.family != ProjectionFamily::None;
    EXPECT_EQ(projection, traits.weightInput >= 0);
    EXPECT_EQ(projection, traits.sharedMemory == SharedMemoryUse::Projection ||
                              traits.sharedMemory == SharedMemoryUse::NormalisedProjection);
    EXPECT_EQ(traits.sharedMemory == SharedMemoryUse::Attention, traits.cacheInput >= 0);
  }
}

TEST(OpRegistry, OperandsInPlacePairsAndAttributesFollowSection4) {
  for (const Signature &s : kSection4) {
    SCOPED_TRACE(s.op);
    const OpInfo *op = findOp(s.op);
    ASSERT_NE(op, nullptr);
    EXPECT_EQ(op->name, s.op);
    EXPECT_EQ(op->id, s.id);
    EXPECT_EQ(&opInfo(s.id), op);
    EXPECT_EQ(op->variadic, s.id == OpId::Opaque);
    if (op->variadic) {
      EXPECT_TRUE(op->allowsInPlace(0, 0));
      EXPECT_TRUE(op->allowsInPlace(3, 5));
    } else {
      EXPECT_EQ(op->outputNames, s.outputs);
      EXPECT_EQ(op->inputNames, s.inputs);
      for (size_t o = 0; o < op->outputNames.size(); ++o)
        for (size_t i = 0; i < op->inputNames.size(); ++i) {
          bool allowed = std::find(s.inPlace.begin(), s.inPlace.end(), std::make_pair(o, i)) != s.inPlace.end();
          EXPECT_EQ(op->allowsInPlace(o, i), allowed) << "output " << o << ", input " << i;
        }
    }
    std::vector<std::string_view> attributes;
    for (const AttributeSpec &spec : op->attributes) {
      attributes.push_back(spec.name);
      EXPECT_EQ(op->findAttribute(spec.name), &spec);
    }
    EXPECT_EQ(attributes, s.attributes);
    EXPECT_EQ(op->findAttribute("no_such_attribute"), nullptr);
    EXPECT_NE(op->checkOperands, nullptr);
    EXPECT_FALSE(op->rules.empty());
  }
  EXPECT_EQ(findOp("gemm"), nullptr);
  EXPECT_EQ(findOp("Copy"), nullptr);
  ASSERT_NE(findOp("rope"), nullptr);
  const AttributeSpec *headDim = findOp("rope")->findAttribute("head_dim");
  ASSERT_NE(headDim, nullptr);
  EXPECT_TRUE(headDim->required);
  EXPECT_FALSE(findOp("rope")->findAttribute("theta")->required);
  EXPECT_FALSE(findOp("rmsnorm")->findAttribute("eps")->required);
}

// ---- attributes in the elaborated program: registry order, defaults filled in -------------------

struct AttributeCase {
  const char *name;
  const char *declarations;
  const char *instruction;
  OpId op;
  std::vector<ast::Value> expected;
};

ast::Value intValue(int64_t v) { return {v, {}}; }
ast::Value floatValue(double v) { return {v, {}}; }
ast::Value stringValue(const char *v) { return {std::string(v), {}}; }

std::string valueText(const ast::Value &v) {
  if (const int64_t *i = std::get_if<int64_t>(&v.value))
    return "int " + std::to_string(*i);
  if (const double *d = std::get_if<double>(&v.value))
    return "float " + std::to_string(*d);
  return "string \"" + std::get<std::string>(v.value) + "\"";
}

void PrintTo(const AttributeCase &c, std::ostream *os) { *os << c.instruction; }

class SiteAttributes : public testing::TestWithParam<AttributeCase> {};

TEST_P(SiteAttributes, DefaultsFilledInRegistryOrder) {
  const AttributeCase &c = GetParam();
  std::string text = wrap(c.declarations, c.instruction);
  Schedule schedule = parseSchedule("attributes.amkir", text);
  ASSERT_TRUE(schedule.wellFormed()) << text << schedule.renderDiagnostics();
  const Program &program = *schedule.program;
  ASSERT_EQ(program.sites.size(), 1u);
  const Site &site = program.sites[0];
  EXPECT_EQ(site.kind, InstructionKind::Task);
  EXPECT_EQ(site.op, c.op);
  ASSERT_EQ(program.blockPrograms.at(0).size(), 1u);
  EXPECT_EQ(program.blockPrograms[0][0].op, c.op);
  ASSERT_EQ(site.attributes.size(), c.expected.size());
  for (size_t i = 0; i < c.expected.size(); ++i)
    EXPECT_EQ(site.attributes[i].value, c.expected[i].value)
        << "attribute " << opInfo(c.op).attributes[i].name << ": found " << valueText(site.attributes[i])
        << ", expected " << valueText(c.expected[i]);
}

const char *kRopeDeclarations = "scratch q : f32[8]; input pos : i32[1]";
const char *kNormDeclarations = "scratch x : f32[8]; scratch y : f32[8]; param w : f32[8]";

INSTANTIATE_TEST_SUITE_P(
    Registry, SiteAttributes,
    testing::Values(
        AttributeCase{"RmsNormDefaultEps", kNormDeclarations, "rmsnorm y <- x, w", OpId::RmsNorm, {floatValue(1e-6)}},
        AttributeCase{"RmsNormIntegerEpsBecomesFloat",
                      kNormDeclarations,
                      "rmsnorm y <- x, w eps=1",
                      OpId::RmsNorm,
                      {floatValue(1.0)}},
        AttributeCase{"RopeDefaults",
                      kRopeDeclarations,
                      "rope q <- q, pos head_dim=4",
                      OpId::Rope,
                      {intValue(4), floatValue(10000.0), stringValue("none"), floatValue(8.0), floatValue(1.0),
                       floatValue(4.0), intValue(8192)}},
        AttributeCase{"RopeGivenInAnyOrder",
                      kRopeDeclarations,
                      "rope q <- q, pos original_max_position=4096 scaling=llama3 theta=500000 head_dim=8 factor=32.0",
                      OpId::Rope,
                      {intValue(8), floatValue(500000.0), stringValue("llama3"), floatValue(32.0), floatValue(1.0),
                       floatValue(4.0), intValue(4096)}},
        AttributeCase{"OpaqueDefaultName", "scratch x : f32[8]", "opaque x <-", OpId::Opaque, {stringValue("")}},
        AttributeCase{
            "OpaqueName", "scratch x : f32[8]", "opaque x <- name=\"produce\"", OpId::Opaque, {stringValue("produce")}},
        AttributeCase{"CopyHasNone", "scratch x : f32[8]; scratch y : f32[8]", "copy y <- x", OpId::Copy, {}}),
    [](const testing::TestParamInfo<AttributeCase> &info) { return std::string(info.param.name); });

} // namespace
} // namespace amk::ir
