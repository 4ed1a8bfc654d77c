// Elaboration as a specification (AMKIR.md sections 2 and 3): which instructions each block gets and
// in which order, what every elaborated instruction carries (source position, loop values, concrete
// regions, counters, amounts and orders), integer semantics of the affine expressions, the 32-bit
// counter rules, and the exact core form that printCore writes.
#include "amk/ir/frontend.h"
#include "amk/ir/printer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace amk::ir {
namespace {

std::string header(int blocks) {
  return "amkir 1\ntarget sm_90 sms=132\ngrid blocks=" + std::to_string(blocks) + " threads=128 occupancy=1\n";
}

// One line per instruction: the opaque task's name (or the sync instruction) and its loop values.
std::string label(const Program &program, const Instruction &instruction) {
  const Site &site = program.sites[instruction.site];
  std::string text;
  switch (instruction.kind) {
  case InstructionKind::Task:
    text = instruction.op == OpId::Opaque ? std::get<std::string>(site.attributes.at(0).value)
                                          : std::string(opInfo(instruction.op).name);
    break;
  case InstructionKind::Barrier:
    text = "barrier";
    break;
  case InstructionKind::Signal:
    text = "signal " + program.counterText(instruction) + "+" + std::to_string(instruction.amount);
    break;
  case InstructionKind::Wait:
    text = "wait " + program.counterText(instruction) + ">=" + std::to_string(instruction.amount);
    break;
  }
  std::string bindings = program.bindings(instruction);
  return bindings.empty() ? text : text + " @ " + bindings;
}

std::vector<std::string> labels(const Program &program, size_t block) {
  std::vector<std::string> out;
  for (const Instruction &instruction : program.blockPrograms.at(block))
    out.push_back(label(program, instruction));
  return out;
}

using Labels = std::vector<std::string>;

// ---- which instructions each block gets -----------------------------------------------------------

TEST(Elaborate, BlockProgramsConcatenateContributionsInFileOrder) {
  Schedule s = parseSchedule("order.amkir", header(4) + R"(
blocks b in 0..2 { opaque <- name="A" }
blocks b in 1..4 { opaque <- name="B" }
blocks b in 0..4 {
  opaque <- name="C"
  opaque <- name="D"
}
blocks b in 3..4 { opaque <- name="E" }
blocks b in 0..1 { opaque <- name="F" }
)");
  ASSERT_TRUE(s.wellFormed()) << s.renderDiagnostics();
  const Program &p = *s.program;
  ASSERT_EQ(p.blockPrograms.size(), 4u);
  EXPECT_EQ(labels(p, 0), (Labels{"A @ b=0", "C @ b=0", "D @ b=0", "F @ b=0"}));
  EXPECT_EQ(labels(p, 1), (Labels{"A @ b=1", "B @ b=1", "C @ b=1", "D @ b=1"}));
  EXPECT_EQ(labels(p, 2), (Labels{"B @ b=2", "C @ b=2", "D @ b=2"}));
  EXPECT_EQ(labels(p, 3), (Labels{"B @ b=3", "C @ b=3", "D @ b=3", "E @ b=3"}));
  EXPECT_EQ(p.instructionCount(), 15u);
}

TEST(Elaborate, ForUnrollsInOrder) {
  Schedule s = parseSchedule("for.amkir", header(2) + R"(
for i in 0..3 {
  blocks b in 0..2 { opaque <- name="A" }
  blocks b in 1..2 { opaque <- name="B" }
}
for i in 3..3 {
  blocks b in 0..2 { opaque <- name="never" }
}
for i in 5..2 {
  blocks b in 0..2 { opaque <- name="never" }
}
for n in -2..1 {
  blocks b in 0..1 { opaque <- name="N" }
}
blocks b in 0..1 { opaque <- name="C" }
)");
  ASSERT_TRUE(s.wellFormed()) << s.renderDiagnostics();
  const Program &p = *s.program;
  EXPECT_EQ(labels(p, 0), (Labels{"A @ i=0, b=0", "A @ i=1, b=0", "A @ i=2, b=0", "N @ n=-2, b=0", "N @ n=-1, b=0",
                                  "N @ n=0, b=0", "C @ b=0"}));
  EXPECT_EQ(labels(p, 1),
            (Labels{"A @ i=0, b=1", "B @ i=0, b=1", "A @ i=1, b=1", "B @ i=1, b=1", "A @ i=2, b=1", "B @ i=2, b=1"}));
}

TEST(Elaborate, BlocksRangesPickExactlyTheBlocksInRange) {
  Schedule s = parseSchedule("ranges.amkir", header(8) + R"(
blocks b in 2..5 { opaque <- name="R" }
for i in 0..4 {
  blocks b in 2*i..2*i+1 { opaque <- name="S" }
}
blocks b in 7..8 { opaque <- name="L" }
)");
  ASSERT_TRUE(s.wellFormed()) << s.renderDiagnostics();
  const Program &p = *s.program;
  ASSERT_EQ(p.blockPrograms.size(), 8u);
  for (int k = 0; k < 8; ++k) {
    Labels expected;
    if (k >= 2 && k < 5)
      expected.push_back("R @ b=" + std::to_string(k));
    if (k % 2 == 0)
      expected.push_back("S @ i=" + std::to_string(k / 2) + ", b=" + std::to_string(k));
    if (k == 7)
      expected.push_back("L @ b=7");
    EXPECT_EQ(labels(p, static_cast<size_t>(k)), expected) << "block " << k;
  }
}

TEST(Elaborate, EmptyRangesContributeNothingEvenOutsideTheGrid) {
  Schedule s = parseSchedule("empty.amkir", header(2) + R"(
scratch x : f32[2]
blocks b in 0..0 { opaque <- name="E" }
blocks b in 1..1 { opaque <- name="E" }
blocks b in 2..2 { opaque <- name="E" }
blocks b in 5..5 { opaque <- name="E" }
blocks b in 100..3 { opaque <- name="E" }
blocks b in -4..-9 { opaque <- name="E" }
blocks b in -1..-1 { opaque <- name="E" }
blocks b in 9..9 { opaque x[b+100] <- name="E" }
for i in 0..3 {
  blocks b in 2+i..2 { opaque <- name="E" }
}
blocks b in 0..2 { opaque <- name="X" }
)");
  ASSERT_TRUE(s.wellFormed()) << s.renderDiagnostics();
  const Program &p = *s.program;
  EXPECT_EQ(labels(p, 0), (Labels{"X @ b=0"}));
  EXPECT_EQ(labels(p, 1), (Labels{"X @ b=1"}));
}

TEST(Elaborate, ForInsideBlocksBody) {
  Schedule s = parseSchedule("inner.amkir", header(2) + R"(
blocks b in 0..2 {
  opaque <- name="pre"
  for j in 0..3 {
    opaque <- name="J"
    for k in j..2 { opaque <- name="K" }
  }
  opaque <- name="post"
}
)");
  ASSERT_TRUE(s.wellFormed()) << s.renderDiagnostics();
  const Program &p = *s.program;
  for (int b = 0; b < 2; ++b) {
    std::string at = "b=" + std::to_string(b);
    EXPECT_EQ(labels(p, static_cast<size_t>(b)),
              (Labels{"pre @ " + at, "J @ " + at + ", j=0", "K @ " + at + ", j=0, k=0", "K @ " + at + ", j=0, k=1",
                      "J @ " + at + ", j=1", "K @ " + at + ", j=1, k=1", "J @ " + at + ", j=2", "post @ " + at}));
  }
}

TEST(Elaborate, OuterLoopVariablesAreVisibleInInnerSections) {
  Schedule s = parseSchedule("nest.amkir", header(3) + R"(
scratch x : f32[2, 3, 4, 8]
for l in 0..2 {
  for h in 0..3 {
    blocks b in h..h+1 {
      for k in 0..2 { opaque x[l, b, h+k, 0:l+h+1] <- name="T" }
    }
  }
}
)");
  ASSERT_TRUE(s.wellFormed()) << s.renderDiagnostics();
  const Program &p = *s.program;
  ASSERT_EQ(p.sites.size(), 1u);
  EXPECT_EQ(p.sites[0].loopVariables, (std::vector<std::string>{"l", "h", "b", "k"}));
  for (int64_t h = 0; h < 3; ++h) {
    const auto &block = p.blockPrograms[static_cast<size_t>(h)];
    ASSERT_EQ(block.size(), 4u) << "block " << h;
    size_t n = 0;
    for (int64_t l = 0; l < 2; ++l)
      for (int64_t k = 0; k < 2; ++k, ++n) {
        const Instruction &instruction = block[n];
        EXPECT_EQ(instruction.site, 0u);
        EXPECT_EQ(instruction.loopValues, (std::vector<int64_t>{l, h, h, k}));
        ASSERT_EQ(instruction.outputs.size(), 1u);
        EXPECT_EQ(instruction.outputs[0].lo, (std::vector<int64_t>{l, h, h + k, 0}));
        EXPECT_EQ(instruction.outputs[0].hi, (std::vector<int64_t>{l + 1, h + 1, h + k + 1, l + h + 1}));
      }
  }
}

// ---- what an elaborated instruction carries --------------------------------------------------------

TEST(Elaborate, InstructionsKeepTheirSourcePositions) {
  // Columns count bytes from 1; the lines are deliberately not in canonical indentation.
  const std::string text = "amkir 1\n"                                     // 1
                           "target sm_90 sms=132\n"                        // 2
                           "grid blocks=2 threads=128 occupancy=1\n"       // 3
                           "counter c\n"                                   // 4
                           "blocks b in 0..2 {\n"                          // 5
                           "  signal c\n"                                  // 6
                           "      barrier\n"                               // 7
                           "}\n"                                           // 8
                           "blocks b in 1..2 { wait c >= 2 }\n"            // 9
                           "for i in 0..2 {\n"                             // 10
                           "  blocks b in 0..2 { opaque <- name=\"T\" }\n" // 11
                           "}\n";
  Schedule s = parseSchedule("where.amkir", text);
  ASSERT_TRUE(s.wellFormed()) << s.renderDiagnostics();
  const Program &p = *s.program;
  ASSERT_EQ(p.sites.size(), 4u);
  struct Where {
    uint32_t line, column, endColumn;
    const char *text;
    InstructionKind kind;
  };
  const Where expected[] = {{6, 3, 11, "signal c", InstructionKind::Signal},
                            {7, 7, 14, "barrier", InstructionKind::Barrier},
                            {9, 20, 31, "wait c >= 2", InstructionKind::Wait},
                            {11, 22, 40, "opaque <- name=\"T\"", InstructionKind::Task}};
  for (size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(expected[i].text);
    EXPECT_EQ(p.sites[i].range.begin.line, expected[i].line);
    EXPECT_EQ(p.sites[i].range.begin.column, expected[i].column);
    EXPECT_EQ(p.sites[i].range.end.line, expected[i].line);
    EXPECT_EQ(p.sites[i].range.end.column, expected[i].endColumn);
    EXPECT_EQ(p.sites[i].text, expected[i].text);
    EXPECT_EQ(p.sites[i].kind, expected[i].kind);
  }
  // Every instance points at its site; instances of one line share it.
  auto sitesOf = [&](size_t block) {
    std::vector<uint32_t> out;
    for (const Instruction &instruction : p.blockPrograms[block]) {
      out.push_back(instruction.site);
      EXPECT_EQ(instruction.kind, p.sites[instruction.site].kind);
      EXPECT_EQ(instruction.loopValues.size(), p.sites[instruction.site].loopVariables.size());
    }
    return out;
  };
  EXPECT_EQ(sitesOf(0), (std::vector<uint32_t>{0, 1, 3, 3}));
  EXPECT_EQ(sitesOf(1), (std::vector<uint32_t>{0, 1, 2, 3, 3}));
  EXPECT_EQ(p.sites[3].loopVariables, (std::vector<std::string>{"i", "b"}));
  EXPECT_EQ(p.blockPrograms[1][4].loopValues, (std::vector<int64_t>{1, 1}));
}

TEST(Elaborate, RegionsBecomeConcreteBoxes) {
  Schedule s = parseSchedule("regions.amkir", header(2) + R"(
scratch w : f32[3, 8, 6]
scratch u : f32[3, 8, 6]
blocks b in 0..2 {
  opaque w[b+1, 2*b : 2*b+4, :] <- u[0, 0, 5], u, u[:, 7, 1:3] name="R"
}
)");
  ASSERT_TRUE(s.wellFormed()) << s.renderDiagnostics();
  const Program &p = *s.program;
  ASSERT_EQ(p.buffers.size(), 2u);
  EXPECT_EQ(p.buffers[0].name, "w");
  EXPECT_EQ(p.buffers[0].shape, (std::vector<int64_t>{3, 8, 6}));
  EXPECT_EQ(p.buffers[0].dtype, ast::DType::F32);
  EXPECT_EQ(p.buffers[0].kind, ast::BufferKind::Scratch);
  const Instruction &task = p.blockPrograms[1][0];
  ASSERT_EQ(task.outputs.size(), 1u);
  ASSERT_EQ(task.inputs.size(), 3u);

  const Region &out = task.outputs[0];
  EXPECT_EQ(out.buffer, 0u);
  EXPECT_EQ(out.lo, (std::vector<int64_t>{2, 2, 0}));
  EXPECT_EQ(out.hi, (std::vector<int64_t>{3, 6, 6}));
  EXPECT_EQ(out.pointDims, 0b001u);
  EXPECT_EQ(out.shape(), (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(out.elements(), 24);
  EXPECT_EQ(p.regionText(out), "w[2, 2:6, 0:6]");

  const Region &point = task.inputs[0];
  EXPECT_EQ(point.buffer, 1u);
  EXPECT_EQ(point.lo, (std::vector<int64_t>{0, 0, 5}));
  EXPECT_EQ(point.hi, (std::vector<int64_t>{1, 1, 6}));
  EXPECT_EQ(point.pointDims, 0b111u);
  EXPECT_EQ(point.shape(), (std::vector<int64_t>{}));
  EXPECT_EQ(point.elements(), 1);
  EXPECT_EQ(p.regionText(point), "u[0, 0, 5]");

  const Region &whole = task.inputs[1];
  EXPECT_EQ(whole.lo, (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(whole.hi, (std::vector<int64_t>{3, 8, 6}));
  EXPECT_EQ(whole.pointDims, 0u);
  EXPECT_EQ(whole.shape(), (std::vector<int64_t>{3, 8, 6}));
  EXPECT_EQ(whole.elements(), 144);

  const Region &middle = task.inputs[2];
  EXPECT_EQ(middle.lo, (std::vector<int64_t>{0, 7, 1}));
  EXPECT_EQ(middle.hi, (std::vector<int64_t>{3, 8, 3}));
  EXPECT_EQ(middle.pointDims, 0b010u);
  EXPECT_EQ(middle.shape(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(middle.elements(), 6);

  EXPECT_TRUE(whole.overlaps(point));
  EXPECT_TRUE(point.overlaps(middle) == false);
  EXPECT_FALSE(out.overlaps(whole)) << "different buffers never overlap";
  const Region &block0 = p.blockPrograms[0][0].outputs[0];
  EXPECT_EQ(block0.lo, (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(block0.hi, (std::vector<int64_t>{2, 4, 6}));
}

TEST(Elaborate, DivisionAndModuloFloorOnNegativeValues) {
  Schedule s = parseSchedule("floor.amkir", header(5) + R"(
scratch x : f32[16]
blocks b in 0..5 {
  opaque x[(b-3)/2 + 8] <- name="div"
  opaque x[(b-3)%2] <- name="mod"
  opaque x[-b/2 + 8] <- name="neg"
  opaque x[(b-3)%3 + 3*((b-3)/3) + 8] <- name="identity"
  opaque x[-7/2 + 10] <- name="c1"
  opaque x[-7%3] <- name="c2"
  opaque x[(0-9)/4 + 9] <- name="c3"
}
)");
  ASSERT_TRUE(s.wellFormed()) << s.renderDiagnostics();
  const Program &p = *s.program;
  // b-3 runs over -3..1: floor((b-3)/2) = -2 -1 -1 0 0; (b-3) mod 2 = 1 0 1 0 1; floor(-b/2) = 0 -1 -1 -2 -2.
  const int64_t div[] = {6, 7, 7, 8, 8};
  const int64_t mod[] = {1, 0, 1, 0, 1};
  const int64_t neg[] = {8, 7, 7, 6, 6};
  for (size_t b = 0; b < 5; ++b) {
    SCOPED_TRACE("b=" + std::to_string(b));
    const auto &block = p.blockPrograms[b];
    ASSERT_EQ(block.size(), 7u);
    EXPECT_EQ(block[0].outputs[0].lo[0], div[b]);
    EXPECT_EQ(block[1].outputs[0].lo[0], mod[b]);
    EXPECT_EQ(block[2].outputs[0].lo[0], neg[b]);
    EXPECT_EQ(block[3].outputs[0].lo[0], static_cast<int64_t>(b) + 5);
    EXPECT_EQ(block[4].outputs[0].lo[0], 6); // floor(-3.5) = -4
    EXPECT_EQ(block[5].outputs[0].lo[0], 2); // -7 mod 3 = 2
    EXPECT_EQ(block[6].outputs[0].lo[0], 6); // floor(-9/4) = -3
  }
}

TEST(Elaborate, SignalsAndWaits) {
  Schedule s = parseSchedule("sync.amkir", header(3) + R"(
counter c
counter d[4]
blocks b in 0..3 {
  signal c
  signal c + 3
  signal d[b+1] + 2*b+1
  signal.relaxed c
  signal.cta d[0] + 5
  wait c >= 2*b
  wait.relaxed d[3] >= 7
  wait.cta c >= 0
  wait d[b] >= 4294967295
}
)");
  ASSERT_TRUE(s.wellFormed()) << s.renderDiagnostics();
  const Program &p = *s.program;
  ASSERT_EQ(p.counters.size(), 2u);
  EXPECT_EQ(p.counters[0].name, "c");
  EXPECT_EQ(p.counters[0].size, 1);
  EXPECT_FALSE(p.counters[0].isArray);
  EXPECT_EQ(p.counters[1].name, "d");
  EXPECT_EQ(p.counters[1].size, 4);
  EXPECT_TRUE(p.counters[1].isArray);
  struct Expected {
    InstructionKind kind;
    SyncOrder order;
    uint32_t counter;
    int64_t index;
    uint64_t amount;
  };
  for (int64_t b = 0; b < 3; ++b) {
    SCOPED_TRACE("block " + std::to_string(b));
    const Expected expected[] = {
        {InstructionKind::Signal, SyncOrder::Default, 0, 0, 1},
        {InstructionKind::Signal, SyncOrder::Default, 0, 0, 3},
        {InstructionKind::Signal, SyncOrder::Default, 1, b + 1, static_cast<uint64_t>(2 * b + 1)},
        {InstructionKind::Signal, SyncOrder::Relaxed, 0, 0, 1},
        {InstructionKind::Signal, SyncOrder::Cta, 1, 0, 5},
        {InstructionKind::Wait, SyncOrder::Default, 0, 0, static_cast<uint64_t>(2 * b)},
        {InstructionKind::Wait, SyncOrder::Relaxed, 1, 3, 7},
        {InstructionKind::Wait, SyncOrder::Cta, 0, 0, 0},
        {InstructionKind::Wait, SyncOrder::Default, 1, b, 4294967295u},
    };
    const auto &block = p.blockPrograms[static_cast<size_t>(b)];
    ASSERT_EQ(block.size(), std::size(expected));
    for (size_t i = 0; i < block.size(); ++i) {
      SCOPED_TRACE("instruction " + std::to_string(i));
      EXPECT_EQ(block[i].kind, expected[i].kind);
      EXPECT_EQ(block[i].order, expected[i].order);
      EXPECT_EQ(block[i].counter, expected[i].counter);
      EXPECT_EQ(block[i].counterIndex, expected[i].index);
      EXPECT_EQ(block[i].amount, expected[i].amount);
      EXPECT_TRUE(block[i].outputs.empty() && block[i].inputs.empty());
    }
    EXPECT_EQ(p.counterText(block[2]), "d[" + std::to_string(b + 1) + "]");
    EXPECT_EQ(p.counterText(block[0]), "c");
  }
}

TEST(Elaborate, HeaderAndMetadata) {
  Schedule s = parseSchedule("meta.amkir", R"(amkir 1
target sm_80 sms=108
grid blocks=3 threads=256 occupancy=2
meta model="smollm2-135m" layers=30
meta eps=1e-5
)");
  ASSERT_TRUE(s.wellFormed()) << s.renderDiagnostics();
  const Program &p = *s.program;
  EXPECT_EQ(p.sourceName, "meta.amkir");
  EXPECT_EQ(p.arch, "sm_80");
  EXPECT_EQ(p.sms, 108);
  EXPECT_EQ(p.blocks, 3);
  EXPECT_EQ(p.threads, 256);
  EXPECT_EQ(p.occupancy, 2);
  ASSERT_EQ(p.blockPrograms.size(), 3u) << "every block has a program, even an empty one";
  EXPECT_EQ(p.instructionCount(), 0u);
  ASSERT_EQ(p.meta.size(), 3u);
  EXPECT_EQ(p.meta[0].key, "model");
  EXPECT_EQ(std::get<std::string>(p.meta[0].value.value), "smollm2-135m");
  EXPECT_EQ(p.meta[1].key, "layers");
  EXPECT_EQ(std::get<int64_t>(p.meta[1].value.value), 30);
  EXPECT_EQ(p.meta[2].key, "eps");
  EXPECT_EQ(std::get<double>(p.meta[2].value.value), 1e-5);
}

// ---- refusals found while elaborating: the first diagnostic's rule and message -----------------------

struct Refusal {
  const char *name;
  int blocks;
  const char *body; // after the header
  const char *rule; // empty: well-formed
  const char *message;
};

void PrintTo(const Refusal &c, std::ostream *os) { *os << c.body; }

class ElaborationRules : public testing::TestWithParam<Refusal> {};

TEST_P(ElaborationRules, FirstDiagnostic) {
  const Refusal &c = GetParam();
  std::string text = header(c.blocks) + c.body;
  Schedule s = parseSchedule("rules.amkir", text);
  if (std::string(c.rule).empty()) {
    EXPECT_TRUE(s.wellFormed()) << text << s.renderDiagnostics();
    return;
  }
  ASSERT_TRUE(s.ast) << "must parse:\n" << text << s.renderDiagnostics();
  ASSERT_FALSE(s.wellFormed()) << "expected " << c.rule << ", but this is well-formed:\n" << text;
  ASSERT_FALSE(s.diagnostics.all().empty());
  const Diagnostic &first = s.diagnostics.all().front();
  EXPECT_EQ(first.ruleId, c.rule) << text << s.renderDiagnostics();
  EXPECT_NE(first.message.find(c.message), std::string::npos)
      << "message: " << first.message << "\nexpected to contain: " << c.message;
}

INSTANTIATE_TEST_SUITE_P(
    Elaborate, ElaborationRules,
    testing::Values(
        // blocks ranges must lie within the grid unless they are empty
        Refusal{"RangePastTheGrid", 2, "blocks b in 0..3 { barrier }\n", "AMK-B005",
                "block range 0..3 is outside the grid 0..2"},
        Refusal{"RangeBelowZero", 2, "blocks b in -1..1 { barrier }\n", "AMK-B005",
                "block range -1..1 is outside the grid 0..2"},
        Refusal{"RangeOutsideInOneIteration", 2, "for i in 0..3 {\n  blocks b in 2..2+i { barrier }\n}\n", "AMK-B005",
                "block range 2..3 is outside the grid 0..2 (i=1)"},
        // affine expressions; divisors and moduli are positive constants
        Refusal{"ProductOfVariables", 2, "scratch x : f32[8]\nblocks b in 0..2 { opaque x[b*b] <- }\n", "AMK-E001",
                "non-affine expression 'b*b'"},
        Refusal{"VariableDivisor", 2, "scratch x : f32[8]\nblocks b in 1..2 { opaque x[4/b] <- }\n", "AMK-E001",
                "the divisor must be a constant"},
        Refusal{"VariableModulus", 2, "scratch x : f32[8]\nblocks b in 1..2 { opaque x[4%b] <- }\n", "AMK-E001",
                "the modulus must be a constant"},
        Refusal{"ZeroDivisor", 2, "scratch x : f32[8]\nblocks b in 0..2 { opaque x[b/0] <- }\n", "AMK-E002",
                "divisor must be a positive constant, found 0"},
        Refusal{"NegativeModulus", 2, "scratch x : f32[8]\nblocks b in 0..2 { opaque x[b%(1-2)] <- }\n", "AMK-E002",
                "modulus must be a positive constant, found -1"},
        Refusal{"ConstantProduct", 2, "scratch x : f32[8]\nblocks b in 0..2 { opaque x[(1+2)*b] <- }\n", "", ""},
        // bounds of every elaborated instance
        Refusal{"PointOutOfBoundsInOneInstance", 3, "scratch x : f32[5]\nblocks b in 0..3 { opaque x[2*b+1] <- }\n",
                "AMK-B002", "index 5 is out of bounds for dimension 0 of 'x' (size 5) (b=2)"},
        Refusal{"NegativePoint", 1, "scratch x : f32[5]\nblocks b in 0..1 { opaque x[b-1] <- }\n", "AMK-B002",
                "index -1 is out of bounds for dimension 0 of 'x' (size 5) (b=0)"},
        Refusal{"SlicePastTheEnd", 2, "scratch x : f32[2, 5]\nblocks b in 0..2 { opaque x[b, 3*b : 3*b+3] <- }\n",
                "AMK-B002", "slice 3:6 is out of bounds for dimension 1 of 'x' (size 5) (b=1)"},
        Refusal{"EmptySlice", 2, "scratch x : f32[5]\nblocks b in 0..2 { opaque x[1:2-b] <- }\n", "AMK-B003",
                "slice 1:1 of 'x' is empty (b=1)"},
        Refusal{"WrongIndexCount", 1, "scratch x : f32[2, 5]\nblocks b in 0..1 { opaque x[0] <- }\n", "AMK-B001",
                "region of 'x' has 1 indices, but the buffer has 2 dimensions [2, 5]"},
        // op rules and aliasing hold for every instance
        Refusal{"ShapeRuleInOneInstance", 2,
                "scratch y : f32[8]\nscratch x : f32[8]\nblocks b in 0..2 { copy y[0:4*b+4] <- x[0:4] }\n", "AMK-T004",
                "'copy' operand 'y' has 8 elements f32[8], expected 4 (the element count of 'x') (b=1)"},
        Refusal{"AliasingInOneInstance", 2,
                "scratch x : f32[8]\nblocks b in 0..2 { opaque x[0:4] <- x[2*b : 2*b+4] }\n", "AMK-W002",
                "x[0:4] and x[2:6] (b=1)"},
        // names
        Refusal{"UnknownBuffer", 1, "blocks b in 0..1 { opaque y <- }\n", "AMK-N001", "unknown buffer 'y'"},
        Refusal{"UseBeforeDeclaration", 1, "blocks b in 0..1 { opaque y <- }\nscratch y : f32[1]\n", "AMK-N001",
                "'y' is used before its declaration"},
        Refusal{"BufferAndCounterShareANamespace", 1, "scratch y : f32[1]\ncounter y\n", "AMK-N002",
                "'y' is declared twice"},
        Refusal{"ShadowingLoopVariable", 1, "for i in 0..1 {\n  blocks i in 0..1 { barrier }\n}\n", "AMK-N003",
                "loop variable 'i' shadows an enclosing loop variable"},
        Refusal{"CounterAsBuffer", 1, "counter c\nblocks b in 0..1 { opaque c <- }\n", "AMK-N004",
                "'c' is a counter, not a buffer"},
        // counters: 32-bit increments, thresholds and totals; array indices
        Refusal{"ZeroIncrement", 1, "counter c\nblocks b in 0..1 { signal c + 0 }\n", "AMK-C001",
                "signal increment 0 is outside 1..4294967295"},
        Refusal{"NegativeIncrementInOneInstance", 2, "counter c\nblocks b in 0..2 { signal c + b-1 }\n", "AMK-C001",
                "signal increment -1 is outside 1..4294967295 (counters are 32-bit) (b=0)"},
        Refusal{"IncrementPast32Bits", 1, "counter c\nblocks b in 0..1 { signal c + 4294967296 }\n", "AMK-C001",
                "signal increment 4294967296 is outside 1..4294967295"},
        Refusal{"LargestIncrement", 1, "counter c\nblocks b in 0..1 { signal c + 4294967295 }\n", "", ""},
        Refusal{"ThresholdPast32Bits", 1, "counter c\nblocks b in 0..1 { wait c >= 4294967296 }\n", "AMK-C002",
                "wait threshold 4294967296 is outside 0..4294967295"},
        Refusal{"NegativeThreshold", 1, "counter c\nblocks b in 0..1 { wait c >= -1 }\n", "AMK-C002",
                "wait threshold -1 is outside 0..4294967295"},
        Refusal{"TotalPast32Bits", 2, "counter c\nblocks b in 0..2 { signal c + 2147483648 }\n", "AMK-C003",
                "counter 'c' receives 4294967296 in one launch, more than 4294967295"},
        Refusal{"TotalExactly32Bits", 2,
                "counter c\nblocks b in 0..1 { signal c + 2147483648 }\nblocks b in 1..2 { signal c + 2147483647 }\n",
                "", ""},
        Refusal{"TotalOverLoopIterations", 1,
                "counter c\nfor i in 0..3 {\n  blocks b in 0..1 { signal.relaxed c + 2000000000 }\n}\n", "AMK-C003",
                "counter 'c' receives 6000000000 in one launch"},
        Refusal{"TotalsPerArrayElement", 2, "counter d[2]\nblocks b in 0..2 { signal d[b] + 4294967295 }\n", "", ""},
        Refusal{"TotalOfOneArrayElement", 2, "counter d[2]\nblocks b in 0..2 { signal d[1] + 4294967295 }\n",
                "AMK-C003", "counter 'd[1]' receives 8589934590 in one launch"},
        Refusal{"CounterIndexOutOfBounds", 2, "counter d[2]\nblocks b in 0..2 { signal d[b+1] }\n", "AMK-B004",
                "index 2 is out of bounds for counter array 'd' (length 2) (b=1)"},
        Refusal{"CounterArrayWithoutIndex", 1, "counter d[2]\nblocks b in 0..1 { wait d >= 1 }\n", "AMK-B004",
                "counter array 'd' needs an index (it has 2 elements)"},
        Refusal{"IndexedScalarCounter", 1, "counter c\nblocks b in 0..1 { signal c[0] }\n", "AMK-B004",
                "'c' is a single counter, not an array"}),
    [](const testing::TestParamInfo<Refusal> &info) { return std::string(info.param.name); });

// The example of AMKIR.md section 2, verbatim: the contract's own schedule is well-formed and
// elaborates as its comments say.
TEST(Elaborate, ContractExample) {
  Schedule s = parseSchedule("contract.amkir", R"(amkir 1
# comments run to the end of the line
target sm_90 sms=132                       # architecture and multiprocessor count
grid blocks=132 threads=256 occupancy=1    # blocks in the grid; blocks per SM the launch relies on
meta model="smollm2-135m"                  # free key=value metadata (strings, ints, floats)

param   w_qkv : bf16[30, 960, 576]         # weights: read-only during the launch
input   tok   : i32[1]                     # written by the host before the launch, read-only during it
input   pos   : i32[1]
state   kc    : bf16[30, 3, 2048, 64]      # persists across launches (KV cache)
scratch xn    : bf16[576]                  # per-launch temporaries
scratch qkv   : bf16[960]
output  logits: f32[49152]                 # read by the host after the launch
counter done[30]                           # monotonic counters, zero at launch start

for l in 0..30 {                           # half-open range; unrolled in order
  blocks b in 0..120 {                     # these instructions go to blocks 0..119, with b bound
    matvec qkv[8*b : 8*b+8] <- w_qkv[l, 8*b : 8*b+8, :], xn[:]
    signal done[l]                         # release, +1
  }
  blocks b in 0..132 {
    wait done[l] >= 120                    # acquire
  }
  blocks b in 0..132 { barrier }
}
)");
  ASSERT_TRUE(s.wellFormed()) << s.renderDiagnostics();
  const Program &p = *s.program;
  ASSERT_EQ(p.blockPrograms.size(), 132u);
  EXPECT_EQ(p.instructionCount(), 30u * (120 * 2 + 132 + 132));
  EXPECT_EQ(p.blockPrograms[0].size(), 30u * 4);
  EXPECT_EQ(p.blockPrograms[131].size(), 30u * 2);
  const Instruction &matvec = p.blockPrograms[7][4]; // layer 1, block 7
  EXPECT_EQ(matvec.op, OpId::MatVec);
  EXPECT_EQ(p.regionText(matvec.outputs[0]), "qkv[56:64]");
  EXPECT_EQ(p.regionText(matvec.inputs[0]), "w_qkv[1, 56:64, 0:576]");
  EXPECT_EQ(matvec.inputs[0].shape(), (std::vector<int64_t>{8, 576}));
  EXPECT_EQ(label(p, p.blockPrograms[7][5]), "signal done[1]+1 @ l=1, b=7");
  EXPECT_EQ(label(p, p.blockPrograms[7][6]), "wait done[1]>=120 @ l=1, b=7");
  EXPECT_EQ(label(p, p.blockPrograms[131][1]), "barrier @ l=0, b=131");
}

// ---- the core form --------------------------------------------------------------------------------

TEST(Elaborate, PrintCoreGolden) {
  const std::string text = R"(amkir 1
target sm_90 sms=4
grid blocks=2 threads=64 occupancy=1

scratch x : f32[2, 4]
counter c[2]

for i in 0..2 {
  blocks b in 0..2 {
    opaque x[b, 2*i : 2*i+2] <- x[1-b, :] name="mix"
    signal.relaxed c[b] + i+1
  }
}
blocks b in 1..2 { wait c[0] >= 3 }
blocks b in 0..2 { barrier }
)";
  Schedule s = parseSchedule("golden.amkir", text);
  ASSERT_TRUE(s.wellFormed()) << s.renderDiagnostics();
  const std::string expected = R"(# core program of golden.amkir: 2 blocks, 11 instructions
target sm_90 sms=4
grid blocks=2 threads=64 occupancy=1

block 0 (5 instructions)
  0: opaque x[0, 0:2] <- x[1, 0:4] name="mix"  # 10:5 i=0, b=0
  1: signal.relaxed c[0] + 1  # 11:5 i=0, b=0
  2: opaque x[0, 2:4] <- x[1, 0:4] name="mix"  # 10:5 i=1, b=0
  3: signal.relaxed c[0] + 2  # 11:5 i=1, b=0
  4: barrier  # 15:20 b=0

block 1 (6 instructions)
  0: opaque x[1, 0:2] <- x[0, 0:4] name="mix"  # 10:5 i=0, b=1
  1: signal.relaxed c[1] + 1  # 11:5 i=0, b=1
  2: opaque x[1, 2:4] <- x[0, 0:4] name="mix"  # 10:5 i=1, b=1
  3: signal.relaxed c[1] + 2  # 11:5 i=1, b=1
  4: wait c[0] >= 3  # 14:20 b=1
  5: barrier  # 15:20 b=1
)";
  EXPECT_EQ(printCore(*s.program), expected);
}

} // namespace
} // namespace amk::ir
