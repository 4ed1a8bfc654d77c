// Schedule strategies: one batch-1 decode step of a Llama-family model as an AMKIR schedule. The
// strategies differ in how stages synchronise (grid barriers, or counters per producer tile) and in
// what they fuse (RMSNorm into the projection prologue, split-KV attention, a split argmax).
#pragma once

#include "amk/ir/result.h"
#include "amk/model/model_config.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace amk::lowering {

enum class Strategy {
  Barrier,  // a grid barrier between stages
  Dataflow, // counters: each consumer waits only for the producer tiles it reads
  Fused,    // Dataflow, with RMSNorm fused into the projections, each MLP tile's gate, up and SiLU in one
            // task (model-dtype weights), and the argmax split over the LM head
  SplitKv,  // Fused, with attention split over the KV positions and merged per KV head
  Headwise, // Fused, with one task per q, k or v head (rope and KV store in the same block) and each
            // query head's attention on the block that projected it
};

const char *strategyName(Strategy strategy); // "barrier", "dataflow", "fused", "splitkv", "headwise"
std::optional<Strategy> parseStrategy(const std::string &name);
std::vector<Strategy> allStrategies();
// Every strategy's name in allStrategies() order, and the same as one "barrier, dataflow, ..." line:
// what the tools accept, list in their help and search by default.
std::vector<std::string> allStrategyNames();
std::string strategyNamesText();

// A GPU the schedule is planned for: its architecture and multiprocessor count.
struct Target {
  std::string name; // "h100"
  std::string arch; // "sm_90"
  int64_t sms = 0;
  std::string gpu; // "NVIDIA H100 SXM"
};

const std::vector<Target> &knownTargets();
// A target by name ("h100") or by architecture ("sm_90": its first GPU in the table).
std::optional<Target> findTarget(const std::string &nameOrArch);

// How the projection weights are stored. Int8 (W8A16): the q, k, v, o, gate, up, down and LM head
// matrices as int8 rows with one scale per row in the model's dtype, quantised from the checkpoint
// at load time, and the projections as the `_q8` ops; activations, norms and the embedding table
// stay in the model's dtype.
enum class WeightFormat { Model, Int8 };
const char *weightFormatName(WeightFormat format); // "model", "int8"
std::optional<WeightFormat> parseWeightFormat(const std::string &name);

struct PlanOptions {
  Strategy strategy = Strategy::Fused;
  WeightFormat weights = WeightFormat::Model;
  Target target;
  int64_t blocks = 0;       // 0: one block per SM of the target
  int64_t rowsPerTile = 16; // rows of a weight matrix one task computes (rounded down to a divisor)
  int64_t splits = 4;       // KV position splits of SplitKv
  int64_t context = 0;      // KV cache positions; 0: max_position_embeddings, at most 4096
  int64_t threads = 256;
};

struct PlanStats {
  int64_t blocks = 0;
  int64_t context = 0;
  int64_t tasks = 0; // elaborated compute tasks
  int64_t syncs = 0; // elaborated barriers, signals and waits
  int64_t barrierRounds = 0;
  int64_t counters = 0;                                  // counter elements
  std::vector<std::pair<std::string, int64_t>> tileRows; // effective rows per tile of each projection
};

struct Plan {
  std::string text; // the schedule, in canonical AMKIR
  PlanStats stats;
};

// The error names the knob and value that make no schedule for this model; one starting "internal
// error" is a planner bug.
Result<Plan> planSchedule(const model::ModelConfig &model, const PlanOptions &options);

// The HF tensor each schedule `param` is made of: per-layer params stack the tensor of every layer
// along a new first dimension. The planner declares its params from this table, and the runtime
// binds checkpoint tensors with it.
enum class WeightEncoding {
  Values,    // the tensor's values in the param's type
  Int8Rows,  // int8 rows of the tensor quantised per row (megakernel/weights.h, quantiseRows)
  RowScales, // the scale of each of those rows: one element per row
};

struct WeightBinding {
  std::string param;     // "w_q"
  std::string hfPattern; // "model.layers.{l}.self_attn.q_proj.weight" ({l}: the layer)
  bool perLayer = false;
  std::vector<int64_t> tensorShape; // the HF tensor's shape (one layer's)
  WeightEncoding encoding = WeightEncoding::Values;

  std::vector<int64_t> paramShape() const; // one layer's part of the param
};

std::vector<WeightBinding> weightBindings(const model::ModelConfig &model, WeightFormat format = WeightFormat::Model);

} // namespace amk::lowering
