// The planner as a specification: every strategy, for every tiny config and a spread of knobs, is
// well-formed, certified by the checker, and touches exactly the tensors a decode step needs (each
// projection weight element read by exactly one task, every activation element produced by exactly
// one task); the strategies differ in the way they say; knobs that do not fit are refused by name.
#include "amk/checker/verify.h"
#include "amk/ir/frontend.h"
#include "amk/lowering/plan.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace amk::lowering {
namespace {

model::ModelConfig model(const std::string &folder) {
  Result<model::ModelConfig> r = model::loadModelConfig(std::string(AMK_SOURCE_DIR) + "/models/" + folder);
  EXPECT_TRUE(r.ok()) << r.error().render();
  model::ModelConfig config = r ? *r : model::ModelConfig{};
  config.name = folder;
  return config;
}

PlanOptions options(Strategy strategy, int64_t blocks, int64_t rows, int64_t splits = 4) {
  PlanOptions o;
  o.strategy = strategy;
  o.target = *findTarget("h100");
  o.blocks = blocks;
  o.rowsPerTile = rows;
  o.splits = splits;
  return o;
}

// Calls `visit(flat index)` for every element of a region of a buffer of `shape`.
template <typename F> void forEachElement(const ir::Region &r, const std::vector<int64_t> &shape, F visit) {
  std::vector<int64_t> index(r.lo);
  for (size_t d = 0; d < shape.size(); ++d)
    if (r.hi[d] <= r.lo[d])
      return;
  while (true) {
    int64_t flat = 0;
    for (size_t d = 0; d < shape.size(); ++d)
      flat = flat * shape[d] + index[d];
    visit(flat);
    size_t d = shape.size();
    while (d > 0) {
      --d;
      if (++index[d] < r.hi[d])
        break;
      index[d] = r.lo[d];
      if (d == 0)
        return;
    }
    if (shape.empty())
      return;
  }
}

struct Case {
  std::string model;
  Strategy strategy;
  int64_t blocks, rows, splits;
  WeightFormat weights = WeightFormat::Model;
};

std::string caseName(const testing::TestParamInfo<Case> &info) {
  std::string name = info.param.model + "_" + strategyName(info.param.strategy) + "_b" +
                     std::to_string(info.param.blocks) + "_r" + std::to_string(info.param.rows) + "_s" +
                     std::to_string(info.param.splits) + (info.param.weights == WeightFormat::Int8 ? "_int8" : "");
  for (char &c : name)
    if (!isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return name;
}

std::vector<Case> tinyCases() {
  std::vector<Case> cases;
  for (const char *m : {"tiny-gqa-tied", "tiny-mha-untied", "tiny-llama3-untied"})
    for (Strategy s : allStrategies())
      for (auto [blocks, rows] : {std::pair<int64_t, int64_t>{1, 16}, {3, 4}, {4, 16}, {7, 8}, {16, 64}, {132, 1}})
        cases.push_back({m, s, blocks, rows, s == Strategy::SplitKv ? (rows == 4 ? 1 : rows == 8 ? 8 : 4) : 4});
  // W8A16: every strategy, a tied and an untied model.
  for (const char *m : {"tiny-gqa-tied", "tiny-llama3-untied"})
    for (Strategy s : allStrategies())
      for (auto [blocks, rows] : {std::pair<int64_t, int64_t>{3, 4}, {7, 8}})
        cases.push_back({m, s, blocks, rows, s == Strategy::SplitKv ? (rows == 4 ? 1 : 8) : 4, WeightFormat::Int8});
  return cases;
}

class TinyPlan : public testing::TestWithParam<Case> {};

TEST_P(TinyPlan, IsCertifiedAndTouchesExactlyTheDecodeTensors) {
  const Case &c = GetParam();
  model::ModelConfig m = model(c.model);
  PlanOptions planOptions = options(c.strategy, c.blocks, c.rows, c.splits);
  planOptions.weights = c.weights;
  Result<Plan> result = planSchedule(m, planOptions);
  ASSERT_TRUE(result) << result.error().message;
  ir::Schedule schedule = ir::parseSchedule("plan.amkir", result->text);
  ASSERT_TRUE(schedule.wellFormed()) << schedule.renderDiagnostics();
  const ir::Program &program = *schedule.program;
  EXPECT_EQ(program.blocks, c.blocks);

  checker::Verdict verdict = checker::verify(program);
  if (!verdict.safe()) {
    std::string why;
    for (const ir::Diagnostic &d : checker::toDiagnostics(verdict, program))
      why += d.message + "\n";
    ADD_FAILURE() << "the checker rejects the plan:\n" << why;
  }

  // Reads per element of every param, and first writes (by a task that does not also read the
  // region it writes: in-place updates such as rope come after the first write) of every other buffer.
  std::vector<std::vector<int>> reads(program.buffers.size()), writes(program.buffers.size());
  for (size_t b = 0; b < program.buffers.size(); ++b) {
    int64_t elements = 1;
    for (int64_t d : program.buffers[b].shape)
      elements *= d;
    reads[b].assign(elements, 0);
    writes[b].assign(elements, 0);
  }
  for (const auto &instructions : program.blockPrograms)
    for (const ir::Instruction &in : instructions) {
      if (in.kind != ir::InstructionKind::Task)
        continue;
      for (const ir::Region &r : in.inputs)
        forEachElement(r, program.buffers[r.buffer].shape, [&](int64_t i) { ++reads[r.buffer][i]; });
      for (const ir::Region &r : in.outputs) {
        bool inPlace = false;
        for (const ir::Region &i : in.inputs)
          inPlace = inPlace || i == r;
        if (!inPlace)
          forEachElement(r, program.buffers[r.buffer].shape, [&](int64_t i) { ++writes[r.buffer][i]; });
      }
    }
  const std::set<std::string> projections = {"w_q", "w_k", "w_v", "w_o", "w_gate", "w_up", "w_down", "lm_head"};
  for (size_t b = 0; b < program.buffers.size(); ++b) {
    const ir::Buffer &buffer = program.buffers[b];
    SCOPED_TRACE(buffer.name);
    if (buffer.kind == ir::ast::BufferKind::Input)
      continue;
    if (buffer.kind == ir::ast::BufferKind::Param) {
      // A projection's rows and their int8 scales are read exactly once; a tied table twice (lookup
      // and LM head) unless the LM head is its own int8 copy.
      const bool int8 = c.weights == WeightFormat::Int8;
      int expected = projections.count(buffer.name) || buffer.name.ends_with("_scale") ? 1
                     : buffer.name == "embed" && m.tieWordEmbeddings                   ? (int8 ? 0 : 2)
                                                                                       : 0;
      if (int8 && projections.count(buffer.name)) {
        ASSERT_EQ(buffer.dtype, ir::ast::DType::I8);
      }
      for (size_t i = 0; i < reads[b].size(); ++i) {
        if (expected > 0)
          ASSERT_EQ(reads[b][i], expected) << "element " << i << " of a projection weight";
        else
          ASSERT_GE(reads[b][i], 1) << "element " << i << " is never read";
      }
      continue;
    }
    for (size_t i = 0; i < writes[b].size(); ++i)
      ASSERT_EQ(writes[b][i], 1) << "element " << i << " must be produced by exactly one task";
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, TinyPlan, testing::ValuesIn(tinyCases()), caseName);

std::map<ir::OpId, int> opCounts(const ir::Program &program, int &barriers, int &waits) {
  std::map<ir::OpId, int> counts;
  barriers = waits = 0;
  for (const auto &instructions : program.blockPrograms)
    for (const ir::Instruction &in : instructions) {
      if (in.kind == ir::InstructionKind::Task)
        ++counts[in.op];
      barriers += in.kind == ir::InstructionKind::Barrier;
      waits += in.kind == ir::InstructionKind::Wait;
    }
  return counts;
}

TEST(Plan, StrategiesDifferInSynchronisationAndFusion) {
  model::ModelConfig m = model("tiny-gqa-tied");
  std::map<Strategy, std::map<ir::OpId, int>> ops;
  std::map<Strategy, int> barriers, waits;
  for (Strategy s : allStrategies()) {
    Result<Plan> r = planSchedule(m, options(s, 8, 16));
    ASSERT_TRUE(r) << r.error().message;
    ir::Schedule schedule = ir::parseSchedule("plan.amkir", r->text);
    ASSERT_TRUE(schedule.wellFormed());
    ops[s] = opCounts(*schedule.program, barriers[s], waits[s]);
  }
  using ir::OpId;
  EXPECT_GT(barriers[Strategy::Barrier], 0);
  EXPECT_EQ(waits[Strategy::Barrier], 0);
  for (Strategy s : {Strategy::Dataflow, Strategy::Fused, Strategy::SplitKv, Strategy::Headwise}) {
    EXPECT_EQ(barriers[s], 0) << strategyName(s);
    EXPECT_GT(waits[s], 0) << strategyName(s);
  }
  EXPECT_GT(ops[Strategy::Dataflow][OpId::RmsNorm], 0);
  EXPECT_EQ(ops[Strategy::Dataflow][OpId::RmsNormMatVec], 0);
  EXPECT_EQ(ops[Strategy::Fused][OpId::RmsNorm], 0);
  EXPECT_GT(ops[Strategy::Fused][OpId::RmsNormMatVec], 0);
  EXPECT_GT(ops[Strategy::Fused][OpId::ArgmaxPartial], 0);
  EXPECT_EQ(ops[Strategy::Fused][OpId::AttentionPartial], 0);
  EXPECT_EQ(ops[Strategy::SplitKv][OpId::Attention], 0);
  EXPECT_EQ(ops[Strategy::SplitKv][OpId::AttentionPartial], 2 * 2 * 4) << "layers x KV heads x splits";
  EXPECT_EQ(ops[Strategy::SplitKv][OpId::AttentionMerge], 2 * 2);
  // Headwise: one projection task per q, k and v head, each q and k head roped where it was projected.
  EXPECT_EQ(ops[Strategy::Headwise][OpId::Rope], 2 * (4 + 2)) << "layers x (query heads + KV heads)";
  EXPECT_EQ(ops[Strategy::Headwise][OpId::Attention], 2 * 4) << "layers x query heads";
  EXPECT_EQ(ops[Strategy::Headwise][OpId::KvStore], 2 * 2 * 2) << "layers x KV heads x (k, v)";
  EXPECT_LT(waits[Strategy::Headwise], waits[Strategy::Fused]);
  // The fused strategies compute each MLP tile (16 of the 128 intermediate rows) in one task; the
  // others keep gate, up and silu_mul apart.
  for (Strategy s : {Strategy::Fused, Strategy::SplitKv, Strategy::Headwise}) {
    EXPECT_EQ(ops[s][OpId::RmsNormGateUpSilu], 2 * 128 / 16) << strategyName(s) << ": layers x MLP tiles";
    EXPECT_EQ(ops[s][OpId::SiluMul], 0) << strategyName(s);
    EXPECT_EQ(ops[s][OpId::RmsNormMatVec], 2 * (64 + 2 * 32) / 16 + 256 / 16)
        << strategyName(s) << ": only the q, k, v and LM head projections";
  }
  for (Strategy s : {Strategy::Barrier, Strategy::Dataflow}) {
    EXPECT_EQ(ops[s][OpId::RmsNormGateUpSilu], 0) << strategyName(s);
    EXPECT_EQ(ops[s][OpId::SiluMul], 2 * 128 / 16) << strategyName(s);
  }
}

// Where the MLP tile is one task, the schedule has no gate and up buffers; where it is three, it has
// them (int8 weights keep the three tasks: the fused op has no int8 form).
TEST(Plan, FusedMlpTilesNeedNoGateAndUpBuffers) {
  model::ModelConfig m = model("tiny-llama3-untied");
  for (Strategy s : allStrategies())
    for (WeightFormat weights : {WeightFormat::Model, WeightFormat::Int8}) {
      PlanOptions o = options(s, 4, 16);
      o.weights = weights;
      Result<Plan> r = planSchedule(m, o);
      ASSERT_TRUE(r) << r.error().message;
      ir::Schedule schedule = ir::parseSchedule("plan.amkir", r->text);
      ASSERT_TRUE(schedule.wellFormed()) << schedule.renderDiagnostics();
      std::set<std::string> buffers;
      for (const ir::Buffer &b : schedule.program->buffers)
        buffers.insert(b.name);
      int barriers = 0, waits = 0;
      std::map<ir::OpId, int> ops = opCounts(*schedule.program, barriers, waits);
      const bool oneTask = s != Strategy::Barrier && s != Strategy::Dataflow && weights == WeightFormat::Model;
      SCOPED_TRACE(std::string(strategyName(s)) + " " + weightFormatName(weights));
      EXPECT_EQ(ops[ir::OpId::RmsNormGateUpSilu] > 0, oneTask);
      EXPECT_EQ(ops[ir::OpId::SiluMul] > 0, !oneTask);
      EXPECT_EQ(buffers.count("gate"), oneTask ? 0u : 1u);
      EXPECT_EQ(buffers.count("up"), oneTask ? 0u : 1u);
      EXPECT_EQ(buffers.count("act"), 1u);
    }
}

TEST(Plan, ParamsFollowTheWeightBindings) {
  for (const char *folder : {"tiny-gqa-tied", "tiny-llama3-untied"}) {
    model::ModelConfig m = model(folder);
    Result<Plan> r = planSchedule(m, options(Strategy::Fused, 4, 16));
    ASSERT_TRUE(r) << r.error().message;
    ir::Schedule schedule = ir::parseSchedule("plan.amkir", r->text);
    ASSERT_TRUE(schedule.wellFormed());
    std::map<std::string, std::vector<int64_t>> params;
    for (const ir::Buffer &b : schedule.program->buffers)
      if (b.kind == ir::ast::BufferKind::Param)
        params[b.name] = b.shape;
    std::vector<WeightBinding> bindings = weightBindings(m);
    EXPECT_EQ(params.size(), bindings.size());
    for (const WeightBinding &wb : bindings) {
      std::vector<int64_t> shape = wb.tensorShape;
      if (wb.perLayer)
        shape.insert(shape.begin(), m.numLayers);
      EXPECT_EQ(params[wb.param], shape) << wb.param;
    }
    EXPECT_EQ(params.count("lm_head"), m.tieWordEmbeddings ? 0u : 1u);
  }
}

TEST(Plan, Int8WeightsUseTheQ8OpsAndDeclareRowScales) {
  for (const char *folder : {"tiny-gqa-tied", "tiny-llama3-untied"}) {
    model::ModelConfig m = model(folder);
    PlanOptions o = options(Strategy::Fused, 4, 16);
    o.weights = WeightFormat::Int8;
    Result<Plan> r = planSchedule(m, o);
    ASSERT_TRUE(r) << r.error().message;
    ir::Schedule schedule = ir::parseSchedule("plan.amkir", r->text);
    ASSERT_TRUE(schedule.wellFormed()) << schedule.renderDiagnostics();
    std::map<std::string, const ir::Buffer *> params;
    for (const ir::Buffer &b : schedule.program->buffers)
      if (b.kind == ir::ast::BufferKind::Param)
        params[b.name] = &b;
    for (const WeightBinding &wb : weightBindings(m, WeightFormat::Int8)) {
      ASSERT_TRUE(params.count(wb.param)) << wb.param;
      std::vector<int64_t> shape = wb.paramShape();
      if (wb.perLayer)
        shape.insert(shape.begin(), m.numLayers);
      EXPECT_EQ(params[wb.param]->shape, shape) << wb.param;
      EXPECT_EQ(params[wb.param]->dtype, wb.encoding == WeightEncoding::Int8Rows ? ir::ast::DType::I8 : ir::ast::DType::BF16)
          << wb.param;
    }
    EXPECT_EQ(params.size(), weightBindings(m, WeightFormat::Int8).size());
    EXPECT_TRUE(params.count("lm_head")) << "int8: the LM head is its own quantised matrix, tied or not";
    int barriers = 0, waits = 0;
    std::map<ir::OpId, int> ops = opCounts(*schedule.program, barriers, waits);
    EXPECT_EQ(ops[ir::OpId::RmsNormMatVec] + ops[ir::OpId::MatVec] + ops[ir::OpId::MatVecAdd], 0);
    EXPECT_GT(ops[ir::OpId::RmsNormMatVecQ8], 0);
    EXPECT_EQ(ops[ir::OpId::MatVecQ8Add], 2 * (m.hiddenSize / 16) * m.numLayers) << "o and down tiles";
  }
}

TEST(Plan, LargestModelStaysReadable) {
  model::ModelConfig m = model("llama-3.1-8b");
  // Whatever the strategy, a task per 16-row tile of every layer's o, MLP (gate and up in one task
  // at least) and down projections and of the LM head: 53,072 for this model.
  const int64_t tiles = m.numLayers * (2 * m.hiddenSize + m.intermediateSize) / 16 + m.vocabSize / 16;
  for (Strategy s : allStrategies()) {
    Result<Plan> r = planSchedule(m, options(s, 132, 16, 8));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_LT(r->text.size(), 64u * 1024) << strategyName(s) << ": loops over layers and blocks, not lines";
    EXPECT_GT(r->stats.tasks, tiles) << strategyName(s) << ": the elaborated program is the whole decode step";
  }
}

TEST(Plan, TileRowsAreDivisorsSoTilesNeverStraddleAHead) {
  model::ModelConfig m = model("open-llama-3b-v2"); // head_dim 100
  Result<Plan> r = planSchedule(m, options(Strategy::Dataflow, 132, 16));
  ASSERT_TRUE(r) << r.error().message;
  std::map<std::string, int64_t> rows(r->stats.tileRows.begin(), r->stats.tileRows.end());
  EXPECT_EQ(rows["q/k/v"], 10) << "the largest divisor of head_dim 100 not above 16";
  EXPECT_EQ(rows["lm_head"], 16);
}

struct BadKnob {
  const char *name;
  PlanOptions options;
  const char *message;
};

TEST(Plan, KnobsThatDoNotFitAreRefusedByName) {
  model::ModelConfig m = model("tiny-gqa-tied"); // 128 positions
  PlanOptions noTarget = options(Strategy::Fused, 4, 16);
  noTarget.target = Target{};
  PlanOptions context = options(Strategy::Fused, 4, 16);
  context.context = 4096;
  std::vector<BadKnob> table = {
      {"TooManyBlocks", options(Strategy::Fused, 133, 16), "--blocks 133 is outside 1..132"},
      {"ZeroRows", options(Strategy::Fused, 4, 0), "--rows 0 must be at least 1"},
      {"SplitsNotDividing", options(Strategy::SplitKv, 4, 16, 3),
       "--splits 3 must be at least 1 and divide the context of 128 positions"},
      {"ContextTooLong", context, "--context 4096 is outside 1..128 (max_position_embeddings of tiny-gqa-tied)"},
      {"NoTarget", noTarget, "no target"},
  };
  for (const BadKnob &k : table) {
    Result<Plan> r = planSchedule(m, k.options);
    EXPECT_FALSE(r) << k.name;
    EXPECT_NE(r.error().message.find(k.message), std::string::npos) << k.name << ": " << r.error().message;
  }
}

TEST(Plan, Targets) {
  EXPECT_EQ(findTarget("h100")->sms, 132);
  EXPECT_EQ(findTarget("sm_90")->name, "h100");
  EXPECT_EQ(findTarget("a100")->arch, "sm_80");
  EXPECT_EQ(findTarget("l4")->sms, 58);
  EXPECT_EQ(findTarget("l40s")->sms, 142);
  EXPECT_EQ(findTarget("rtx5090")->arch, "sm_120");
  EXPECT_FALSE(findTarget("sm_75"));
}

} // namespace
} // namespace amk::lowering
