// The code side of the lowering as a specification: every operand region becomes the matrix view the
// device interpreter reads (offset, rows, columns, row stride, and where slices start), sync
// instructions find their flat counter elements, the tape keeps each block's program in order, its
// header names the schedule and the checker by their hashes, the kernel source names the schedule's
// hash. (That every op of ir/ops.def reaches the device interpreter is tests/megakernel/op_table_test.cpp's.)
#include "amk/ir/certificate.h"
#include "amk/ir/content_hash.h"
#include "amk/ir/frontend.h"
#include "amk/ir/ops.h"
#include "amk/ir/printer.h"
#include "amk/lowering/emit.h"
#include "amk/lowering/plan.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace amk::lowering {
namespace {

const std::string kChecker = "amk-verify 0.1.0";

struct Lowered {
  ir::Schedule schedule;
  Result<Tape> tape = Error("", "the schedule is malformed");
};

Lowered lower(const std::string &body, const std::string &declarations, int blocks = 2, uint32_t ringBytes = 0) {
  std::string text = "amkir 1\ntarget sm_90 sms=132\ngrid blocks=" + std::to_string(blocks) +
                     " threads=128 occupancy=1\n" + declarations + "\n" + body;
  Lowered l{ir::parseSchedule("t.amkir", text)};
  EXPECT_TRUE(l.schedule.wellFormed()) << l.schedule.renderDiagnostics();
  if (l.schedule.wellFormed())
    l.tape = buildTape(*l.schedule.program, ir::printSurface(*l.schedule.ast), kChecker, {ringBytes});
  return l;
}

TEST(Tape, OperandsAreMatrixViews) {
  Lowered l = lower("blocks b in 0..1 {\n"
                    "  matvec y[4:8] <- W[1, 4:8, :], x\n"
                    "  embed y <- E[:, 8:24], tok\n"
                    "  attention_partial part[1, 0:8], lse[1, 0:2] <- q, kc[1, 0, 8:12, :], vc[1, 0, 8:12, :], pos\n"
                    "  argmax_partial best[0, :] <- logits[32:48]\n"
                    "}\n",
                    "param W : bf16[2, 16, 32]\nparam E : bf16[100, 32]\nscratch x : f32[32]\nscratch y : f32[16]\n"
                    "input tok : i32[1]\ninput pos : i32[1]\nscratch q : f32[8]\nstate kc : bf16[2, 2, 16, 4]\n"
                    "state vc : bf16[2, 2, 16, 4]\nscratch part : f32[2, 8]\nscratch lse : f32[2, 2]\n"
                    "scratch best : f32[2, 2]\nscratch logits : f32[64]");
  ASSERT_TRUE(l.tape.ok()) << l.tape.error().message;
  const std::vector<AmkInstr> &tape = l.tape->instructions;
  ASSERT_EQ(tape.size(), 4u);
  const AmkOperand &W = tape[0].operands[1];
  EXPECT_EQ(W.offset, 1 * 16 * 32 + 4 * 32) << "W[1, 4:8, :] starts at layer 1, row 4";
  EXPECT_EQ(W.rows, 4);
  EXPECT_EQ(W.cols, 32);
  EXPECT_EQ(W.rowStride, 32);
  EXPECT_EQ(W.dtype, AMK_BF16);
  const AmkOperand &y = tape[0].operands[0];
  EXPECT_EQ(y.offset, 4);
  EXPECT_EQ(y.rows * y.cols, 4);
  const AmkOperand &E = tape[1].operands[1];
  EXPECT_EQ(E.offset, 8) << "a column stripe starts at its first column";
  EXPECT_EQ(E.rows, 100);
  EXPECT_EQ(E.cols, 16);
  EXPECT_EQ(E.rowStride, 32) << "rows of a stripe are a whole embedding row apart";
  const AmkOperand &k = tape[2].operands[2 + 1];
  EXPECT_EQ(k.rowLo, 8) << "a KV slice says which position it starts at";
  EXPECT_EQ(k.rows, 4);
  EXPECT_EQ(k.offset, ((1 * 2 + 0) * 16 + 8) * 4);
  EXPECT_EQ(tape[2].outputs, 2);
  EXPECT_EQ(tape[2].inputs, 4);
  const AmkOperand &logits = tape[3].operands[1];
  EXPECT_EQ(logits.colLo, 32) << "an argmax slice says which index it starts at";
}

TEST(Tape, ContiguousBoxesOfSeveralDimensionsAreRows) {
  Lowered l = lower("blocks b in 0..1 { opaque kc[0:2, 0:2, :, :] <- }\n", "state kc : f32[2, 2, 8, 4]");
  ASSERT_TRUE(l.tape.ok()) << l.tape.error().message;
  const AmkOperand &o = l.tape->instructions[0].operands[0];
  EXPECT_EQ(o.rows, 32);
  EXPECT_EQ(o.cols, 4);
  EXPECT_EQ(o.rowStride, 4);
}

TEST(Tape, TwoStridedDimensionsAreRefusedWithTheirLine) {
  Lowered l = lower("blocks b in 0..1 {\n  opaque kc[0:2, 0:2, 0:3, :] <-\n}\n", "state kc : f32[2, 2, 8, 4]");
  ASSERT_FALSE(l.tape.ok());
  EXPECT_NE(l.tape.error().message.find("t.amkir:6:3"), std::string::npos) << l.tape.error().message;
  EXPECT_NE(l.tape.error().message.find("is not a matrix view"), std::string::npos) << l.tape.error().message;
}

TEST(Tape, SyncInstructionsUseFlatCounterElementsInBlockOrder) {
  Lowered l = lower("blocks b in 0..2 {\n  signal done[b] + 3\n  wait.relaxed flag >= 2\n  barrier\n}\n",
                    "counter flag\ncounter done[2]\n");
  ASSERT_TRUE(l.tape.ok()) << l.tape.error().message;
  const Tape &t = *l.tape;
  ASSERT_EQ(t.blockStart, (std::vector<uint32_t>{0, 3, 6}));
  EXPECT_EQ(t.counterNames, (std::vector<std::string>{"flag", "done[0]", "done[1]"}));
  EXPECT_EQ(t.instructions[3].kind, AMK_SIGNAL);
  EXPECT_EQ(t.instructions[3].counter, 2u) << "done[1] of block 1";
  EXPECT_EQ(t.instructions[3].amount, 3u);
  EXPECT_EQ(t.instructions[3].order, AMK_ORDER_GPU);
  EXPECT_EQ(t.instructions[4].kind, AMK_WAIT);
  EXPECT_EQ(t.instructions[4].order, AMK_ORDER_RELAXED);
  EXPECT_EQ(t.instructions[4].counter, 0u);
  EXPECT_EQ(t.instructions[5].kind, AMK_BARRIER);
}

// A wait's and a barrier's operand slots carry what the tasks after them (up to the next
// synchronisation) read: projection weights whole, then attention's cache operands clipped at the
// position, then the position operand.
TEST(Tape, WaitsAndBarriersCarryPrefetchHintsForTheTasksAfterThem) {
  Lowered l = lower("blocks b in 0..1 {\n"
                    "  wait flag >= 1\n"
                    "  matvec y[0:4] <- W[1, 0:4, :], x\n"
                    "  attention q2 <- q, kc[1, 0, :, :], vc[1, 0, :, :], pos\n"
                    "  matvec_add y[4:8] <- W[0, 4:8, :], x, y[4:8]\n"
                    "  signal flag + 1\n"
                    "  matvec y[8:12] <- W[0, 8:12, :], x\n"
                    "  barrier\n"
                    "  silu_mul y[0:4] <- y[4:8], y[8:12]\n"
                    "}\n",
                    "counter flag\nparam W : bf16[2, 16, 32]\nscratch x : f32[32]\nscratch y : f32[16]\n"
                    "input pos : i32[1]\nscratch q : f32[4]\nscratch q2 : f32[4]\nstate kc : bf16[2, 2, 16, 4]\n"
                    "state vc : bf16[2, 2, 16, 4]",
                    1);
  ASSERT_TRUE(l.tape.ok()) << l.tape.error().message;
  const std::vector<AmkInstr> &tape = l.tape->instructions;
  ASSERT_EQ(tape.size(), 8u);
  const AmkInstr &wait = tape[0];
  ASSERT_EQ(wait.kind, AMK_WAIT);
  ASSERT_EQ(wait.outputs, 2) << "two projections before the signal";
  ASSERT_EQ(wait.inputs, 2) << "the attention's k and v caches";
  EXPECT_EQ(wait.operands[0].offset, tape[1].operands[1].offset) << "W[1, 0:4, :]";
  EXPECT_EQ(wait.operands[1].offset, tape[3].operands[1].offset) << "W[0, 4:8, :]";
  EXPECT_EQ(wait.operands[2].buffer, tape[2].operands[2].buffer) << "kc";
  EXPECT_EQ(wait.operands[3].buffer, tape[2].operands[3].buffer) << "vc";
  EXPECT_EQ(wait.operands[4].buffer, tape[2].operands[4].buffer) << "pos, last";
  EXPECT_EQ(wait.counter, 0u) << "the hints leave the wait itself alone";
  EXPECT_EQ(wait.amount, 1u);
  const AmkInstr &barrier = tape[6];
  ASSERT_EQ(barrier.kind, AMK_BARRIER);
  EXPECT_EQ(barrier.outputs, 0) << "silu_mul reads no weights";
  EXPECT_EQ(barrier.inputs, 0);
  EXPECT_EQ(tape[4].outputs, 0) << "a signal carries no hints";
}

// An MLP tile reads two weights whole, its gate rows and its up rows: the wait before it hints both.
TEST(Tape, AGateUpTaskHintsBothOfItsWeights) {
  Lowered l = lower("blocks b in 0..1 {\n"
                    "  wait flag >= 1\n"
                    "  rmsnorm_gate_up_silu act[1, 0:4] <- Wg[1, 0:4, :], Wu[1, 0:4, :], h, ln[1, :] eps=1e-05\n"
                    "  rmsnorm_gate_up_silu act[1, 4:8] <- Wg[1, 4:8, :], Wu[1, 4:8, :], h, ln[1, :] eps=1e-05\n"
                    "}\n",
                    "counter flag\nparam Wg : bf16[2, 16, 32]\nparam Wu : bf16[2, 16, 32]\nparam ln : bf16[2, 32]\n"
                    "scratch h : bf16[32]\nscratch act : bf16[2, 16]",
                    1);
  ASSERT_TRUE(l.tape.ok()) << l.tape.error().message;
  const std::vector<AmkInstr> &tape = l.tape->instructions;
  ASSERT_EQ(tape.size(), 3u);
  const AmkInstr &wait = tape[0];
  ASSERT_EQ(wait.kind, AMK_WAIT);
  ASSERT_EQ(wait.outputs, 4) << "gate and up rows of both tasks";
  EXPECT_EQ(wait.inputs, 0);
  const uint32_t gate = tape[1].operands[1].buffer, up = tape[1].operands[2].buffer;
  EXPECT_NE(gate, up);
  for (int k = 0; k < 4; ++k) {
    const AmkOperand &hint = wait.operands[k], &weight = tape[1 + k / 2].operands[1 + k % 2];
    EXPECT_EQ(hint.buffer, weight.buffer) << "hint " << k;
    EXPECT_EQ(hint.offset, weight.offset) << "hint " << k;
    EXPECT_EQ(hint.rows, 4) << "hint " << k;
    EXPECT_EQ(hint.cols, 32) << "hint " << k;
  }
  EXPECT_EQ(tape[1].attributes[0], 1e-05f) << "eps";
}

// Each strategy's schedule of the tiny llama3 config on 8 blocks of an H100, parsed.
struct PlannedStrategy {
  Strategy strategy;
  std::string text;
  ir::Schedule schedule;
};

std::vector<PlannedStrategy> planEveryStrategy() {
  std::vector<PlannedStrategy> planned;
  Result<model::ModelConfig> config =
      model::loadModelConfig(std::string(AMK_SOURCE_DIR) + "/models/tiny-llama3-untied");
  EXPECT_TRUE(config.ok()) << config.error().render();
  if (!config.ok())
    return planned;
  for (Strategy s : allStrategies()) {
    PlanOptions o;
    o.strategy = s;
    o.target = *findTarget("h100");
    o.blocks = 8;
    Result<Plan> plan = planSchedule(*config, o);
    EXPECT_TRUE(plan) << plan.error().message;
    if (!plan)
      continue;
    ir::Schedule schedule = ir::parseSchedule("p.amkir", plan->text);
    EXPECT_TRUE(schedule.wellFormed()) << strategyName(s);
    if (schedule.wellFormed())
      planned.push_back({s, plan->text, std::move(schedule)});
  }
  EXPECT_EQ(planned.size(), allStrategies().size());
  return planned;
}

TEST(Tape, EveryPlannedStrategyLowers) {
  for (const PlannedStrategy &planned : planEveryStrategy()) {
    const Strategy s = planned.strategy;
    const ir::Schedule &schedule = planned.schedule;
    Result<Tape> tape = buildTape(*schedule.program, planned.text, kChecker);
    ASSERT_TRUE(tape.ok()) << strategyName(s) << ": " << tape.error().message;
    EXPECT_EQ(tape->instructions.size(), schedule.program->instructionCount());
    // RoPE carries its llama3 attributes as numbers: head_dim, theta, scaling, factor, ...
    for (const AmkInstr &in : tape->instructions)
      if (in.kind == AMK_TASK && in.op == static_cast<int>(ir::OpId::Rope)) {
        EXPECT_EQ(in.attributes[0], 16.0f);
        EXPECT_EQ(in.attributes[2], 1.0f) << "llama3";
        EXPECT_EQ(in.attributes[3], 8.0f);
      }
  }
}

// The header record the device reads before the first instruction (megakernel/device/amk_abi.h):
// the tape's ABI version, its grid, its length, all 32 bytes of the schedule's content hash and the
// first 16 of the checker version's, as bytes in the order the hex digits spell them.
TEST(Tape, HeaderNamesTheScheduleTheCheckerTheGridAndTheLength) {
  Lowered a = lower("blocks b in 0..3 {\n  signal done[b] + 1\n  barrier\n}\n", "counter done[3]", 3);
  ASSERT_TRUE(a.tape.ok()) << a.tape.error().message;
  const AmkTapeHeader &h = a.tape->header;
  EXPECT_EQ(h.magic, AMK_TAPE_MAGIC);
  EXPECT_EQ(std::memcmp(&h.magic, "AMKT", 4), 0);
  EXPECT_EQ(h.version, static_cast<unsigned>(AMK_TAPE_VERSION));
  EXPECT_EQ(h.blocks, 3u);
  EXPECT_EQ(h.threads, 128u);
  EXPECT_EQ(h.instructions, 6u);
  EXPECT_EQ(h.instructions, a.tape->instructions.size());

  const std::string hash = ir::contentHash(ir::printSurface(*a.schedule.ast));
  EXPECT_EQ(a.tape->scheduleHash, hash);
  EXPECT_EQ(a.tape->scheduleHash, ir::scheduleHash(*a.schedule.ast)) << "the name every tool gives it";
  const auto bytes = ir::contentHashBytes(hash);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(std::memcmp(h.scheduleHash, bytes->data(), 32), 0) << "all 32 bytes, in the hex digits' order";
  const auto checkerBytes = ir::contentHashBytes(ir::contentHash(kChecker));
  EXPECT_EQ(a.tape->checkerVersion, kChecker);
  EXPECT_EQ(std::memcmp(h.checkerHash, checkerBytes->data(), 16), 0) << "the first 16 bytes";
  const auto scheduleWords = scheduleHashWords(hash);
  const auto checkerWords = checkerHashWords(kChecker);
  EXPECT_EQ(std::memcmp(h.scheduleHash, scheduleWords.data(), sizeof h.scheduleHash), 0)
      << "the launch parameters are filled by the same words";
  EXPECT_EQ(std::memcmp(h.checkerHash, checkerWords.data(), sizeof h.checkerHash), 0);

  // Another schedule, or another checker, is another header.
  Lowered b = lower("blocks b in 0..3 {\n  signal done[b] + 2\n  barrier\n}\n", "counter done[3]", 3);
  ASSERT_TRUE(b.tape.ok());
  EXPECT_NE(std::memcmp(h.scheduleHash, b.tape->header.scheduleHash, sizeof h.scheduleHash), 0);
  Result<Tape> other = buildTape(*a.schedule.program, ir::printSurface(*a.schedule.ast), "amk-verify 0.0.9");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(std::memcmp(h.scheduleHash, other->header.scheduleHash, sizeof h.scheduleHash), 0);
  EXPECT_NE(std::memcmp(h.checkerHash, other->header.checkerHash, sizeof h.checkerHash), 0);
  EXPECT_EQ(scheduleHashWords("not a hash"), (std::array<uint32_t, AMK_SCHEDULE_HASH_WORDS>{}))
      << "a malformed hash is no schedule's";
}

// A task followed by a signal carries it: the device signals after the task's closing barrier and
// skips the signal's record, which stays in the tape (traces and delays still index it).
TEST(Tape, SignalsFoldIntoTheTaskBeforeThem) {
  Lowered l = lower("blocks b in 0..1 {\n  copy y <- x\n  signal done[1] +2\n  signal done[0]\n  wait done[0] >= 1\n"
                    "  copy x <- y\n}\n",
                    "scratch x : f32[8]\nscratch y : f32[8]\ncounter done[2]", 1);
  ASSERT_TRUE(l.tape.ok()) << l.tape.error().message;
  const std::vector<AmkInstr> &tape = l.tape->instructions;
  ASSERT_EQ(tape.size(), 5u);
  EXPECT_EQ(tape[0].folded, 1);
  EXPECT_EQ(tape[0].counter, tape[1].counter);
  EXPECT_EQ(tape[0].amount, 2u);
  EXPECT_EQ(tape[1].kind, AMK_SIGNAL) << "the folded signal's record stays";
  EXPECT_EQ(tape[2].kind, AMK_SIGNAL);
  EXPECT_EQ(tape[4].folded, 0) << "a task with no signal after it carries none";
}

// Weight staging: the weight rows of each projection are copied into the block's ring in shared
// memory by an earlier record; a copy never overwrites ring bytes a task still has to read, and
// never starts before the last task waiting on its ring barrier's previous phase.
TEST(Tape, WeightsAreStagedAheadOfTheirTasks) {
  // Four projection tiles of 8 x 32 bf16 rows (512 bytes each) through a 1024-byte ring.
  Lowered l = lower("blocks b in 0..1 {\n  wait go[0] >= 1\n"
                    "  for t in 0..4 {\n    matvec y[8*t : 8*t+8] <- W[8*t : 8*t+8, :], x\n  }\n}\n",
                    "param W : bf16[32, 32]\nscratch x : f32[32]\nscratch y : f32[32]\ncounter go[1]", 1, 1024);
  ASSERT_TRUE(l.tape.ok()) << l.tape.error().message;
  const std::vector<AmkInstr> &tape = l.tape->instructions;
  ASSERT_EQ(tape.size(), 5u);
  // The first two tiles fit the ring at once: their copies start with the block's first record,
  // before its wait. The third overwrites the first tile's bytes: its copy starts once that tile's
  // task is done, with the task after it.
  EXPECT_EQ(tape[0].copies, 2);
  EXPECT_EQ(tape[1].copies, 0);
  EXPECT_EQ(tape[2].copies, 1);
  EXPECT_EQ(tape[3].copies, 1);
  for (int t = 0; t < 4; ++t) {
    const AmkOperand &W = tape[1 + t].operands[1];
    EXPECT_EQ(W.stage, (t % 2) * 512) << "tile " << t;
  }
  EXPECT_EQ(tape[0].copy[1].from, 8 * 32 * 2) << "byte offset of the second tile's rows";
  EXPECT_EQ(tape[0].copy[1].bytes, 512u);
  EXPECT_EQ(tape[2].copy[0].ring, 0);
  EXPECT_EQ(tape[0].outputs, 0) << "a staged weight is not also an L2 prefetch hint";
  // Each copy's barrier and phase is the one its task waits for.
  EXPECT_EQ(tape[0].copy[0].barrier, tape[1].operands[1].stageBarrier);
  EXPECT_EQ(tape[3].copy[0].barrier, tape[4].operands[1].stageBarrier);
}

// Only params are staged: no task writes one (the front end refuses that, AMK-W001, and the lowering
// checks it again), so reading one early cannot change a value; a scratch operand is never staged.
TEST(Tape, OnlyParamsAreStaged) {
  Lowered l = lower("blocks b in 0..1 {\n  matvec y[0:8] <- S[0:8, :], x\n  matvec y[8:16] <- W[0:8, :], x\n}\n",
                    "param W : bf16[8, 32]\nscratch S : bf16[8, 32]\nscratch x : f32[32]\nscratch y : f32[16]", 1, 4096);
  ASSERT_TRUE(l.tape.ok()) << l.tape.error().message;
  const std::vector<AmkInstr> &tape = l.tape->instructions;
  EXPECT_EQ(tape[0].operands[1].stage, -1) << "scratch";
  EXPECT_GE(tape[1].operands[1].stage, 0) << "a param";
  int copies = 0;
  for (const AmkInstr &in : tape)
    for (int c = 0; c < in.copies; ++c) {
      ++copies;
      EXPECT_EQ(l.schedule.program->buffers[in.copy[c].buffer].name, "W");
    }
  EXPECT_EQ(copies, 1);
}

// Every strategy's lowering of a real model: every copy reads a param no task writes, lies inside
// the ring and its buffer, and reaches the operand of a later task of its block that reads it.
TEST(Tape, StagedCopiesOfEveryStrategyReadUnwrittenParams) {
  for (const PlannedStrategy &planned : planEveryStrategy()) {
    const Strategy s = planned.strategy;
    const ir::Schedule &schedule = planned.schedule;
    const uint32_t ring = 8192;
    Result<Tape> tape = buildTape(*schedule.program, planned.text, kChecker, {ring});
    ASSERT_TRUE(tape.ok()) << tape.error().message;
    std::vector<bool> written(schedule.program->buffers.size(), false);
    for (const auto &block : schedule.program->blockPrograms)
      for (const ir::Instruction &in : block)
        for (const ir::Region &r : in.outputs)
          written[r.buffer] = true;
    int copies = 0, staged = 0;
    for (size_t k = 0; k + 1 < tape->blockStart.size(); ++k)
      for (uint32_t i = tape->blockStart[k]; i < tape->blockStart[k + 1]; ++i) {
        const AmkInstr &in = tape->instructions[i];
        for (int c = 0; c < in.copies; ++c) {
          const AmkCopy &copy = in.copy[c];
          ++copies;
          const ir::Buffer &b = schedule.program->buffers[copy.buffer];
          EXPECT_EQ(b.kind, ir::ast::BufferKind::Param) << strategyName(s) << ": " << b.name;
          EXPECT_FALSE(written[copy.buffer]) << b.name;
          EXPECT_LE(copy.ring + copy.bytes, ring);
          EXPECT_LE(copy.from + copy.bytes, tape->buffers[copy.buffer].elements * 2);
          bool consumed = false;
          for (uint32_t j = i; j < tape->blockStart[k + 1] && !consumed; ++j) {
            const AmkInstr &task = tape->instructions[j];
            for (int q = 0; task.kind == AMK_TASK && q < task.outputs + task.inputs; ++q)
              consumed = consumed || (task.operands[q].stage == copy.ring &&
                                      task.operands[q].stageBarrier == copy.barrier && task.operands[q].buffer == copy.buffer);
          }
          EXPECT_TRUE(consumed) << strategyName(s) << ": a copy no later task of its block reads";
        }
        for (int q = 0; in.kind == AMK_TASK && q < in.outputs + in.inputs; ++q)
          staged += in.operands[q].stage >= 0;
      }
    EXPECT_EQ(copies, staged) << strategyName(s) << ": one copy per staged operand";
    EXPECT_GT(copies, 0) << strategyName(s) << ": the projections' weights are staged";
  }
}

TEST(Kernel, SourceNamesTheScheduleHashAndChecker) {
  Lowered a = lower("blocks b in 0..2 { barrier }\n", "");
  Lowered b = lower("blocks b in 0..2 { barrier }\nblocks b in 0..2 { barrier }\n", "");
  ASSERT_TRUE(a.tape.ok() && b.tape.ok());
  EXPECT_NE(a.tape->scheduleHash, b.tape->scheduleHash);
  std::string source = emitKernel(*a.tape, {"t.amkir"});
  EXPECT_EQ(a.tape->scheduleHash.size(), 64u);
  EXPECT_EQ(source.rfind("// AMK megakernel for schedule t.amkir\n// schedule content hash " + a.tape->scheduleHash +
                             " (SHA-256 of its canonical text)",
                         0),
            0u)
      << source;
  EXPECT_NE(source.find("certified by amk-verify 0.1.0\n"), std::string::npos);
  EXPECT_NE(emitKernel(*a.tape, {"t.amkir", true}).find("REJECTED by amk-verify 0.1.0, lowered for replay only\n"),
            std::string::npos);
  EXPECT_NE(source.find("#define AMK_THREADS 128\n"), std::string::npos);
  EXPECT_NE(source.find("#include \"amk_device.cuh\""), std::string::npos);
  // What is compiled is the source without its header, the same for both schedules: one cubin
  // serves every tape of a block size and op families.
  const std::string unit = kernelCompileUnit(*a.tape);
  EXPECT_EQ(source.substr(source.size() - unit.size()), unit);
  EXPECT_EQ(unit, kernelCompileUnit(*b.tape));
  EXPECT_EQ(unit.find("AMK_BLOCKS"), std::string::npos);
  EXPECT_EQ(unit.find(a.tape->scheduleHash), std::string::npos);
  EXPECT_NE(unit.find("#define AMK_WITH_MATVEC 0\n#define AMK_WITH_MATVEC_Q8 0\n"), std::string::npos) << unit;
}

} // namespace
} // namespace amk::lowering
