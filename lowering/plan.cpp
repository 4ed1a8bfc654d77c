// The planner: writes one decode step of a Llama model as an AMKIR schedule.
//
// Layout shared by all strategies. Every activation has its own slice per layer (h[2l] enters layer
// l, h[2l+1] leaves its attention half, h[2l+2] its MLP half; q[l], attn[l], act[l], ...), so no
// buffer is written twice in one step and no consumer ever needs a write-after-read counter: the
// only orderings a schedule must provide are producer before consumer. Each stage splits its work
// into units (row tiles of a projection, KV heads, query heads, splits) and gives every block a
// contiguous, balanced run of units, written as two `blocks` sections with a `for` over the run.
//
// Synchronisation. Barrier: `barrier` in every block after every stage. The counter strategies
// signal after the writes a consumer needs and wait exactly for them: a whole-vector consumer (a
// projection reading x) waits for one signal from every block that wrote x (threshold = those
// blocks), a per-head consumer for the row tiles of its head (one signal per tile). Every counter
// element is waited for with its exact total, so each wait synchronises with every signal it
// counts, which is what the checker's guaranteed-signal rule needs to certify the schedule.
#include "amk/lowering/plan.h"

#include "amk/ir/frontend.h"
#include "amk/ir/printer.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <sstream>
#include <utility>

namespace amk::lowering {

const char *strategyName(Strategy strategy) {
  switch (strategy) {
  case Strategy::Barrier:
    return "barrier";
  case Strategy::Dataflow:
    return "dataflow";
  case Strategy::Fused:
    return "fused";
  case Strategy::SplitKv:
    return "splitkv";
  case Strategy::Headwise:
    return "headwise";
  }
  return "?";
}

std::vector<Strategy> allStrategies() {
  return {Strategy::Barrier, Strategy::Dataflow, Strategy::Fused, Strategy::SplitKv, Strategy::Headwise};
}

std::vector<std::string> allStrategyNames() {
  std::vector<std::string> names;
  for (Strategy s : allStrategies())
    names.push_back(strategyName(s));
  return names;
}

std::string strategyNamesText() {
  std::string text;
  for (const std::string &name : allStrategyNames())
    text += (text.empty() ? "" : ", ") + name;
  return text;
}

std::optional<Strategy> parseStrategy(const std::string &name) {
  for (Strategy s : allStrategies())
    if (name == strategyName(s))
      return s;
  return std::nullopt;
}

const char *weightFormatName(WeightFormat format) { return format == WeightFormat::Int8 ? "int8" : "model"; }

std::optional<WeightFormat> parseWeightFormat(const std::string &name) {
  if (name == "model")
    return WeightFormat::Model;
  if (name == "int8")
    return WeightFormat::Int8;
  return std::nullopt;
}

const std::vector<Target> &knownTargets() {
  static const std::vector<Target> targets = {
      {"a100", "sm_80", 108, "NVIDIA A100"},
      {"l4", "sm_89", 58, "NVIDIA L4"},
      {"l40s", "sm_89", 142, "NVIDIA L40S"},
      {"h100", "sm_90", 132, "NVIDIA H100 SXM"},
      {"rtx5090", "sm_120", 170, "NVIDIA GeForce RTX 5090"},
  };
  return targets;
}

std::optional<Target> findTarget(const std::string &nameOrArch) {
  for (const Target &t : knownTargets())
    if (t.name == nameOrArch)
      return t;
  for (const Target &t : knownTargets())
    if (t.arch == nameOrArch)
      return t;
  return std::nullopt;
}

std::vector<int64_t> WeightBinding::paramShape() const {
  if (encoding == WeightEncoding::RowScales)
    return {tensorShape.at(0)};
  return tensorShape;
}

std::vector<WeightBinding> weightBindings(const model::ModelConfig &m, WeightFormat format) {
  const int64_t H = m.hiddenSize, I = m.intermediateSize, V = m.vocabSize;
  std::vector<WeightBinding> bindings = {
      {"embed", "model.embed_tokens.weight", false, {V, H}},
      {"ln_attn", "model.layers.{l}.input_layernorm.weight", true, {H}},
      {"w_q", "model.layers.{l}.self_attn.q_proj.weight", true, {m.qSize(), H}},
      {"w_k", "model.layers.{l}.self_attn.k_proj.weight", true, {m.kvSize(), H}},
      {"w_v", "model.layers.{l}.self_attn.v_proj.weight", true, {m.kvSize(), H}},
      {"w_o", "model.layers.{l}.self_attn.o_proj.weight", true, {H, m.qSize()}},
      {"ln_mlp", "model.layers.{l}.post_attention_layernorm.weight", true, {H}},
      {"w_gate", "model.layers.{l}.mlp.gate_proj.weight", true, {I, H}},
      {"w_up", "model.layers.{l}.mlp.up_proj.weight", true, {I, H}},
      {"w_down", "model.layers.{l}.mlp.down_proj.weight", true, {H, I}},
      {"ln_final", "model.norm.weight", false, {H}},
  };
  // A tied model's LM head is the embedding table itself, read in place; in int8 it is its own
  // quantised copy of the table, the lookup still reading the table.
  if (!m.tieWordEmbeddings || format == WeightFormat::Int8)
    bindings.push_back({"lm_head", m.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight", false, {V, H}});
  if (format == WeightFormat::Int8) {
    std::vector<WeightBinding> scales;
    for (WeightBinding &b : bindings)
      if (b.param.starts_with("w_") || b.param == "lm_head") {
        b.encoding = WeightEncoding::Int8Rows;
        scales.push_back({b.param + "_scale", b.hfPattern, b.perLayer, b.tensorShape, WeightEncoding::RowScales});
      }
    bindings.insert(bindings.end(), scales.begin(), scales.end());
  }
  return bindings;
}

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// A float attribute as the shortest text that reads back to the same double.
std::string number(double v) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  std::string text(buffer, end);
  if (text.find_first_of(".e") == std::string::npos)
    text += ".0";
  return text;
}

// An affine expression over the schedule's loop variables, printed in AMKIR.
class Affine {
public:
  Affine(int64_t constant = 0) : constant_(constant) {} // NOLINT: constants convert implicitly
  static Affine var(const std::string &name) {
    Affine a;
    a.terms_.push_back({name, 1});
    return a;
  }
  Affine operator+(const Affine &o) const {
    Affine r = *this;
    r.constant_ += o.constant_;
    for (const auto &term : o.terms_) {
      auto it = std::find_if(r.terms_.begin(), r.terms_.end(), [&](const auto &t) { return t.first == term.first; });
      if (it == r.terms_.end())
        r.terms_.push_back(term);
      else
        it->second += term.second;
    }
    std::erase_if(r.terms_, [](const auto &t) { return t.second == 0; });
    return r;
  }
  Affine operator*(int64_t k) const {
    Affine r;
    if (k == 0)
      return r;
    r.constant_ = constant_ * k;
    for (const auto &[name, coefficient] : terms_)
      r.terms_.push_back({name, coefficient * k});
    return r;
  }
  std::string text() const {
    std::string out;
    for (const auto &[name, coefficient] : terms_) {
      std::string term = coefficient == 1 ? name : coefficient == -1 ? "-" + name : str(coefficient) + "*" + name;
      out += out.empty() || term[0] == '-' ? term : "+" + term;
    }
    if (out.empty())
      return str(constant_);
    if (constant_ > 0)
      out += "+" + str(constant_);
    else if (constant_ < 0)
      out += str(constant_);
    return out;
  }
  // floor(this / k), k > 0: folded when exact, `(e)/k` otherwise.
  std::string dividedText(int64_t k) const {
    if (k == 1)
      return text();
    bool exact = constant_ % k == 0;
    for (const auto &term : terms_)
      exact = exact && term.second % k == 0;
    if (exact) {
      Affine r;
      r.constant_ = constant_ / k;
      for (const auto &[name, coefficient] : terms_)
        r.terms_.push_back({name, coefficient / k});
      return r.text();
    }
    return (terms_.empty() ? text() : "(" + text() + ")") + "/" + str(k);
  }

private:
  std::vector<std::pair<std::string, int64_t>> terms_;
  int64_t constant_ = 0;
};

// `lo:hi` for a tile [t*size, (t+1)*size).
std::string tileSlice(const Affine &tile, int64_t size) {
  Affine lo = tile * size;
  return lo.text() + " : " + (lo + size).text();
}

// The largest divisor of n that is at most `wanted` (and at least 1).
int64_t divisorAtMost(int64_t n, int64_t wanted) {
  for (int64_t d = std::min(n, std::max<int64_t>(wanted, 1)); d > 1; --d)
    if (n % d == 0)
      return d;
  return 1;
}

class Writer {
public:
  void line(const std::string &text) { out_ += indent_ + text + "\n"; }
  void blank() { out_ += "\n"; }
  void open(const std::string &header) {
    line(header + " {");
    indent_ += "  ";
  }
  void close() {
    indent_.resize(indent_.size() - 2);
    line("}");
  }
  const std::string &text() const { return out_; }

private:
  std::string out_;
  std::string indent_;
};

// One section of a distributed stage: blocks [firstBlock, endBlock), each running `count` units
// starting at unit `start` (affine in b).
struct Section {
  int64_t firstBlock = 0, endBlock = 0, count = 0;
  Affine start;
};

// Units 0..n over `available` blocks from `firstBlock`, contiguous and balanced: the first n % P
// blocks get one unit more (P = min(n, available)).
std::vector<Section> distribute(int64_t n, int64_t firstBlock, int64_t available) {
  std::vector<Section> sections;
  int64_t participants = std::min(n, available);
  if (participants <= 0)
    return sections;
  int64_t each = n / participants, extra = n % participants;
  Affine b = Affine::var("b") + Affine(-firstBlock);
  if (extra > 0)
    sections.push_back({firstBlock, firstBlock + extra, each + 1, b * (each + 1)});
  sections.push_back({firstBlock + extra, firstBlock + participants, each, b * each + extra});
  return sections;
}

int64_t participants(int64_t n, int64_t available) { return std::min(n, available); }

class Planner {
public:
  Planner(const model::ModelConfig &model, const PlanOptions &options, int64_t blocks, int64_t context)
      : model_(model), options_(options), blocks_(blocks), context_(context), dtype_(ir::ast::dtypeName(model.dtype)) {
    const int64_t wanted = options.rowsPerTile;
    rowsQkv_ = divisorAtMost(model.headDim, wanted); // q, k and v tiles never straddle a head
    rowsO_ = divisorAtMost(model.hiddenSize, wanted);
    rowsMlp_ = divisorAtMost(model.intermediateSize, wanted);
    rowsDown_ = divisorAtMost(model.hiddenSize, wanted);
    rowsNorm_ = divisorAtMost(model.hiddenSize, wanted);
    rowsHead_ = divisorAtMost(model.vocabSize, wanted);
    groupSize_ = model.groupSize();
  }

  std::string run(PlanStats &stats) {
    header();
    declarations();
    embedding();
    writer_.open("for l in 0.." + str(model_.numLayers));
    attentionHalf();
    mlpHalf();
    writer_.close();
    head();
    stats.blocks = blocks_;
    stats.context = context_;
    stats.barrierRounds = barrierRounds_;
    stats.counters = counterElements_;
    stats.tileRows = {
        {"q/k/v", rowsQkv_}, {"o", rowsO_}, {"gate/up", rowsMlp_}, {"down", rowsDown_}, {"lm_head", rowsHead_}};
    return writer_.text();
  }

private:
  bool counters() const { return options_.strategy != Strategy::Barrier; }
  bool fused() const {
    return options_.strategy == Strategy::Fused || options_.strategy == Strategy::SplitKv ||
           options_.strategy == Strategy::Headwise;
  }
  bool headwise() const { return options_.strategy == Strategy::Headwise; }
  bool int8() const { return options_.weights == WeightFormat::Int8; }
  // An MLP tile as one rmsnorm_gate_up_silu task, with no gate and up buffers: the fused strategies
  // in the model dtype (the op has no int8 form).
  bool gateUpFused() const { return fused() && !int8(); }
  std::string lmHead() const { return model_.tieWordEmbeddings && !int8() ? "embed" : "lm_head"; }

  // A projection op by its model-dtype name, and its weight operands: rows `slice` of `param` (with
  // `layer`, e.g. "l, ", in front), followed by their scales in int8.
  std::string projectionOp(const std::string &op) const {
    if (!int8())
      return op;
    return op == "matvec_add" ? "matvec_q8_add" : op + "_q8";
  }
  std::string weightRows(const std::string &param, const std::string &layer, const std::string &slice) const {
    std::string operands = param + "[" + layer + slice + ", :]";
    if (int8())
      operands += ", " + param + "_scale[" + layer + slice + "]";
    return operands;
  }

  void header() {
    const model::ModelConfig &m = model_;
    writer_.line("# One batch-1 decode step of " + m.name + ", strategy " + strategyName(options_.strategy) +
                 ", planned by " + "amk-plan for " + options_.target.gpu + ".");
    writer_.line("amkir 1");
    writer_.line("target " + options_.target.arch + " sms=" + str(options_.target.sms));
    writer_.line("grid blocks=" + str(blocks_) + " threads=" + str(options_.threads) + " occupancy=1");
    writer_.line("meta model=\"" + m.name + "\" strategy=\"" + strategyName(options_.strategy) + "\" target=\"" +
                 options_.target.name + "\" rows_per_tile=" + str(options_.rowsPerTile) +
                 " splits=" + str(options_.strategy == Strategy::SplitKv ? options_.splits : 1) +
                 " context=" + str(context_) + (int8() ? " weights=\"int8\"" : ""));
    writer_.line("meta layers=" + str(m.numLayers) + " hidden=" + str(m.hiddenSize) + " intermediate=" +
                 str(m.intermediateSize) + " heads=" + str(m.numHeads) + " kv_heads=" + str(m.numKvHeads) +
                 " head_dim=" + str(m.headDim) + " vocab=" + str(m.vocabSize) + " tied=" + str(m.tieWordEmbeddings));
    writer_.blank();
  }

  void declarations() {
    const model::ModelConfig &m = model_;
    const int64_t L = m.numLayers, H = m.hiddenSize, I = m.intermediateSize;
    writer_.line("# Weights, named after their HF tensors; per-layer weights are stacked along the first dimension.");
    if (int8())
      writer_.line("# W8A16: projection weights as int8 rows, each with a scale in " + dtype_ +
                   ", quantised at load time.");
    for (const WeightBinding &wb : weightBindings(m, options_.weights)) {
      std::string shape = wb.perLayer ? str(L) : "";
      for (int64_t d : wb.paramShape())
        shape += (shape.empty() ? "" : ", ") + str(d);
      const char *what = wb.encoding == WeightEncoding::Int8Rows    ? " (int8 rows)"
                         : wb.encoding == WeightEncoding::RowScales ? " (row scales)"
                                                                    : "";
      writer_.line("param " + wb.param + " : " + (wb.encoding == WeightEncoding::Int8Rows ? "i8" : dtype_) + "[" +
                   shape + "]  # " + wb.hfPattern + what);
    }
    writer_.line("input tok : i32[1]");
    writer_.line("input pos : i32[1]");
    writer_.line("state k_cache : " + dtype_ + "[" + str(L) + ", " + str(m.numKvHeads) + ", " + str(context_) + ", " +
                 str(m.headDim) + "]  # [layer, KV head, position, head_dim]");
    writer_.line("state v_cache : " + dtype_ + "[" + str(L) + ", " + str(m.numKvHeads) + ", " + str(context_) + ", " +
                 str(m.headDim) + "]");
    writer_.line("scratch h : " + dtype_ + "[" + str(2 * L + 1) + ", " + str(H) +
                 "]  # residual stream: h[2l] enters layer l, h[2l+1] after its attention");
    if (!fused())
      writer_.line("scratch xn : " + dtype_ + "[" + str(2 * L + 1) + ", " + str(H) + "]  # RMS-normalised h[i]");
    writer_.line("scratch q : " + dtype_ + "[" + str(L) + ", " + str(m.qSize()) + "]");
    writer_.line("scratch k : " + dtype_ + "[" + str(L) + ", " + str(m.kvSize()) + "]");
    writer_.line("scratch v : " + dtype_ + "[" + str(L) + ", " + str(m.kvSize()) + "]");
    writer_.line("scratch attn : " + dtype_ + "[" + str(L) + ", " + str(m.qSize()) + "]");
    if (options_.strategy == Strategy::SplitKv) {
      writer_.line("scratch part : f32[" + str(L) + ", " + str(options_.splits) + ", " + str(m.qSize()) +
                   "]  # split-KV partial outputs [layer, split, head * head_dim]");
      writer_.line("scratch lse : f32[" + str(L) + ", " + str(options_.splits) + ", " + str(m.numHeads) + "]");
    }
    if (!gateUpFused()) {
      writer_.line("scratch gate : " + dtype_ + "[" + str(L) + ", " + str(I) + "]");
      writer_.line("scratch up : " + dtype_ + "[" + str(L) + ", " + str(I) + "]");
    }
    writer_.line("scratch act : " + dtype_ + "[" + str(L) + ", " + str(I) + "]");
    if (fused())
      writer_.line("scratch best : f32[" + str(participants(m.vocabSize / rowsHead_, blocks_)) +
                   ", 2]  # per-block (largest logit, its index)");
    // In the model dtype, as HF computes them: greedy decoding takes the argmax of the rounded logits.
    writer_.line("output logits : " + dtype_ + "[" + str(m.vocabSize) + "]");
    writer_.line("output next_token : i32[1]");
    if (counters()) {
      writer_.blank();
      counter("h_ready", 2 * L + 1, "h_ready[i]: one signal per block that wrote part of h[i]");
      if (!fused())
        counter("xn_ready", 2 * L + 1, "xn_ready[i]: one signal per block that wrote part of xn[i]");
      if (headwise()) {
        counter("kv_stored", L * m.numKvHeads, "kv_stored[l*kv_heads+g]: one signal each when k and v of KV head g are stored");
      } else {
        counter("qkv_ready", L * m.numKvHeads,
                "qkv_ready[l*kv_heads+g]: one signal per q, k or v row tile of KV group g of layer l");
        counter("kv_stored", L * m.numKvHeads, "kv_stored[l*kv_heads+g]: KV group g roped and stored");
      }
      counter("attn_ready", L, "attn_ready[l]: one signal per attention output task of layer l");
      if (options_.strategy == Strategy::SplitKv)
        counter("part_ready", L * m.numKvHeads, "part_ready[l*kv_heads+g]: one signal per split of group g");
      counter("act_ready", L, "act_ready[l]: one signal per block that wrote part of act[l]");
      counter("logits_ready", 1,
              fused() ? "one signal per block that wrote its partial argmax"
                      : "one signal per block that wrote part of the logits");
    }
    writer_.blank();
  }

  void counter(const std::string &name, int64_t size, const std::string &comment) {
    writer_.line("counter " + name + "[" + str(size) + "]  # " + comment);
    counterElements_ += size;
  }

  // After a stage: the barrier of the barrier strategy.
  void barrier() {
    if (counters())
      return;
    writer_.line("blocks b in 0.." + str(blocks_) + " { barrier }");
    ++barrierRounds_;
  }

  using Emit = std::function<void(const Affine &unit)>;
  using Frame = std::function<void(const Section &section)>;

  // A distributed stage: per section, `before` (waits), the units, `after` (signals).
  void stage(int64_t units, int64_t firstBlock, int64_t available, const Frame &before, const Emit &unit,
             const Frame &after) {
    for (const Section &s : distribute(units, firstBlock, available)) {
      writer_.open("blocks b in " + str(s.firstBlock) + ".." + str(s.endBlock));
      if (before)
        before(s);
      if (s.count == 1) {
        unit(s.start);
      } else {
        writer_.open("for j in 0.." + str(s.count));
        unit(s.start + Affine::var("j"));
        writer_.close();
      }
      if (after)
        after(s);
      writer_.close();
    }
  }

  // A stage of row tiles over all blocks; waits and one signal per participating block.
  void rowStage(int64_t tiles, const std::string &waitLine, const Emit &unit, const std::string &signalLine) {
    Frame before, after;
    if (counters() && !waitLine.empty())
      before = [&](const Section &) { writer_.line(waitLine); };
    if (counters() && !signalLine.empty())
      after = [&](const Section &) { writer_.line(signalLine); };
    stage(tiles, 0, blocks_, before, unit, after);
  }

  void embedding() {
    const int64_t H = model_.hiddenSize, rows = rowsNorm_;
    writer_.line("# Embedding: each block copies a column stripe of the token's row into h[0].");
    rowStage(
        H / rows, "",
        [&](const Affine &t) {
          writer_.line("embed h[0, " + tileSlice(t, rows) + "] <- embed[:, " + tileSlice(t, rows) + "], tok");
        },
        "signal h_ready[0]");
    hWriters_ = participants(H / rows, blocks_);
    barrier();
    writer_.blank();
  }

  // RMSNorm of h[index] into xn[index] (unfused strategies), as row tiles over all blocks.
  void norm(const std::string &index, const std::string &weight) {
    const int64_t H = model_.hiddenSize, rows = rowsNorm_;
    rowStage(
        H / rows, "wait h_ready[" + index + "] >= " + str(hWriters_),
        [&](const Affine &t) {
          writer_.line("rmsnorm xn[" + index + ", " + tileSlice(t, rows) + "] <- h[" + index + ", :], " + weight +
                       tileSlice(t, rows) + "] eps=" + number(model_.rmsNormEps));
        },
        "signal xn_ready[" + index + "]");
    normWriters_ = participants(H / rows, blocks_);
    barrier();
  }

  // `OP out <- W rows, x` with the normalised input, fused or not.
  std::string projection(const std::string &out, const std::string &weights, const std::string &index,
                         const std::string &normWeight) {
    if (fused())
      return projectionOp("rmsnorm_matvec") + " " + out + " <- " + weights + ", h[" + index + ", :], " + normWeight +
             "] eps=" + number(model_.rmsNormEps);
    return projectionOp("matvec") + " " + out + " <- " + weights + ", xn[" + index + ", :]";
  }

  std::string inputWait(const std::string &index) const {
    return fused() ? "wait h_ready[" + index + "] >= " + str(hWriters_)
                   : "wait xn_ready[" + index + "] >= " + str(normWriters_);
  }

  std::string ropeAttributes() const {
    std::string a = "head_dim=" + str(model_.headDim) + " theta=" + number(model_.rope.theta);
    if (model_.rope.scaling == model::RopeScaling::Llama3)
      a += " scaling=\"llama3\" factor=" + number(model_.rope.factor) +
           " low_freq_factor=" + number(model_.rope.lowFreqFactor) +
           " high_freq_factor=" + number(model_.rope.highFreqFactor) +
           " original_max_position=" + str(model_.rope.originalMaxPosition);
    return a;
  }

  void attentionHalf() {
    const std::string attnIn = "2*l", attnOut = "2*l+1";
    writer_.line("# Layer l, attention half.");
    if (!fused())
      norm(attnIn, "ln_attn[l, ");
    if (headwise()) {
      headwiseAttention(attnIn);
      outputProjection(attnIn, attnOut, model_.numHeads);
      return;
    }
    qkvProjections(attnIn);
    const int64_t kvBlocks = ropeAndStoreKv();
    const int64_t attnSignals =
        options_.strategy == Strategy::SplitKv ? splitKvAttention(kvBlocks) : perHeadAttention(kvBlocks);
    barrier();
    outputProjection(attnIn, attnOut, attnSignals);
  }

  // q, k and v projections: one signal per row tile to the counter of its KV group. When all their
  // tiles fit in the grid, q, k and v go to disjoint blocks (q from block 0, then k, then v), each
  // waiting for the input, so a block computes one projection tile and the three run side by side.
  // Otherwise the k and v tiles go to blocks 0..min(k tiles, B), a subset of those of the (at least
  // as many) q tiles, which already waited for the input: only the q stage waits.
  void qkvProjections(const std::string &attnIn) {
    const model::ModelConfig &m = model_;
    const int64_t Hkv = m.numKvHeads, rows = rowsQkv_;
    const int64_t tilesPerHead = m.headDim / rows;
    const int64_t qTiles = m.numHeads * tilesPerHead, kvTiles = Hkv * tilesPerHead;
    const bool spread = qTiles + 2 * kvTiles <= blocks_;
    auto projectionStage = [&](const std::string &buffer, const std::string &weight, int64_t heads,
                               int64_t headsPerGroup, int64_t firstBlock) {
      Frame before;
      if (counters() && (buffer == "q" || spread))
        before = [&](const Section &) { writer_.line(inputWait(attnIn)); };
      stage(
          heads * tilesPerHead, firstBlock, blocks_ - firstBlock, before,
          [&](const Affine &t) {
            writer_.line(projection(buffer + "[l, " + tileSlice(t, rows) + "]",
                                    weightRows(weight, "l, ", tileSlice(t, rows)), attnIn, "ln_attn[l, :"));
            if (counters())
              writer_.line("signal qkv_ready[" + str(Hkv) + "*l+" + t.dividedText(tilesPerHead * headsPerGroup) + "]");
          },
          nullptr);
    };
    projectionStage("q", "w_q", m.numHeads, groupSize_, 0);
    projectionStage("k", "w_k", Hkv, 1, spread ? qTiles : 0);
    projectionStage("v", "w_v", Hkv, 1, spread ? qTiles + kvTiles : 0);
    barrier();
  }

  // Per KV group: rope its query heads and its key head, store key and value at pos. These tasks
  // go to the last blocks, which have the fewest projection tiles. Returns how many blocks they take.
  int64_t ropeAndStoreKv() {
    const model::ModelConfig &m = model_;
    const int64_t D = m.headDim, Hkv = m.numKvHeads;
    const int64_t kvBlocks = participants(Hkv, blocks_);
    const int64_t qkvSignals = (groupSize_ + 2) * (D / rowsQkv_);
    stage(
        Hkv, blocks_ - kvBlocks, kvBlocks, nullptr,
        [&](const Affine &g) {
          const std::string group = str(Hkv) + "*l+" + g.text();
          if (counters())
            writer_.line("wait qkv_ready[" + group + "] >= " + str(qkvSignals));
          Affine qLo = g * (groupSize_ * D);
          writer_.line("rope q[l, " + qLo.text() + " : " + (qLo + groupSize_ * D).text() + "] <- q[l, " + qLo.text() +
                       " : " + (qLo + groupSize_ * D).text() + "], pos " + ropeAttributes());
          writer_.line("rope k[l, " + tileSlice(g, D) + "] <- k[l, " + tileSlice(g, D) + "], pos " + ropeAttributes());
          writer_.line("kv_store k_cache[l, " + g.text() + ", :, :] <- k[l, " + tileSlice(g, D) + "], pos");
          writer_.line("kv_store v_cache[l, " + g.text() + ", :, :] <- v[l, " + tileSlice(g, D) + "], pos");
          if (counters())
            writer_.line("signal kv_stored[" + group + "]");
        },
        nullptr);
    barrier();
    return kvBlocks;
  }

  // Split-KV: one task per (KV group, split), on the blocks before the KV tasks; then one merge per
  // group. Returns the signals the output projection waits for.
  int64_t splitKvAttention(int64_t kvBlocks) {
    const model::ModelConfig &m = model_;
    const int64_t D = m.headDim, Hkv = m.numKvHeads;
    const int64_t S = options_.splits, chunk = context_ / S;
    const int64_t partBlocks = std::max<int64_t>(blocks_ - kvBlocks, 1);
    stage(
        Hkv * S, 0, partBlocks, nullptr,
        [&](const Affine &u) {
          // u = g*S + s, written with the two loop-free parts recovered by the distribution:
          // the task's group and split are u/S and u%S.
          const std::string g = u.dividedText(S), s = "(" + u.text() + ")%" + str(S);
          const std::string group = str(Hkv) + "*l+" + g;
          writer_.line("wait kv_stored[" + group + "] >= 1");
          const std::string qs = "(" + g + ")*" + str(groupSize_ * D);
          const std::string heads = qs + " : " + qs + "+" + str(groupSize_ * D);
          const std::string lseHeads =
              "(" + g + ")*" + str(groupSize_) + " : (" + g + ")*" + str(groupSize_) + "+" + str(groupSize_);
          const std::string positions = "(" + s + ")*" + str(chunk) + " : (" + s + ")*" + str(chunk) + "+" + str(chunk);
          writer_.line("attention_partial part[l, " + s + ", " + heads + "], lse[l, " + s + ", " + lseHeads +
                       "] <- q[l, " + heads + "], k_cache[l, " + g + ", " + positions + ", :], v_cache[l, " + g + ", " +
                       positions + ", :], pos");
          writer_.line("signal part_ready[" + group + "]");
        },
        nullptr);
    barrier();
    stage(
        Hkv, 0, blocks_, nullptr,
        [&](const Affine &g) {
          const std::string group = str(Hkv) + "*l+" + g.text();
          if (counters())
            writer_.line("wait part_ready[" + group + "] >= " + str(S));
          Affine qLo = g * (groupSize_ * D);
          std::string heads = qLo.text() + " : " + (qLo + groupSize_ * D).text();
          Affine hLo = g * groupSize_;
          writer_.line("attention_merge attn[l, " + heads + "] <- part[l, :, " + heads + "], lse[l, :, " + hLo.text() +
                       " : " + (hLo + groupSize_).text() + "]");
          if (counters())
            writer_.line("signal attn_ready[l]");
        },
        nullptr);
    return Hkv;
  }

  // One task per query head, on the blocks just before the KV tasks when they fit. Returns the
  // signals the output projection waits for.
  int64_t perHeadAttention(int64_t kvBlocks) {
    const model::ModelConfig &m = model_;
    const int64_t D = m.headDim, Hkv = m.numKvHeads;
    const int64_t heads = m.numHeads;
    const int64_t available = std::max<int64_t>(blocks_ - kvBlocks, 1);
    const int64_t headBlocks = participants(heads, available);
    stage(
        heads, available - headBlocks, headBlocks, nullptr,
        [&](const Affine &h) {
          if (counters())
            writer_.line("wait kv_stored[" + str(Hkv) + "*l+" + h.dividedText(groupSize_) + "] >= 1");
          writer_.line("attention attn[l, " + tileSlice(h, D) + "] <- q[l, " + tileSlice(h, D) + "], k_cache[l, " +
                       h.dividedText(groupSize_) + ", :, :], v_cache[l, " + h.dividedText(groupSize_) + ", :, :], pos");
          if (counters())
            writer_.line("signal attn_ready[l]");
        },
        nullptr);
    return heads;
  }

  // Headwise: one task per head computes its whole projection (rows = head_dim), so rope and the KV
  // store need no other block. Query head h's block ropes it in place and later runs head h's
  // attention itself (program order orders the two); KV head g's k block ropes k and stores it, its
  // v block stores v, and each signals kv_stored once. Heads go to disjoint blocks (q, then k, then
  // v) when they fit in the grid; otherwise each kind starts at block 0. Every block does all its
  // projections before any attention, so no block waits for work placed after its own wait.
  void headwiseAttention(const std::string &attnIn) {
    const model::ModelConfig &m = model_;
    const int64_t D = m.headDim, H = m.numHeads, Hkv = m.numKvHeads;
    const bool spread = H + 2 * Hkv <= blocks_;
    const std::string wait = inputWait(attnIn);
    const Frame waitInput = [&](const Section &) { writer_.line(wait); };
    auto head = [&](const Affine &i) { return "[l, " + tileSlice(i, D) + "]"; };
    stage(
        H, 0, blocks_, waitInput,
        [&](const Affine &h) {
          writer_.line(projection("q" + head(h), weightRows("w_q", "l, ", tileSlice(h, D)), attnIn, "ln_attn[l, :"));
          writer_.line("rope q" + head(h) + " <- q" + head(h) + ", pos " + ropeAttributes());
        },
        nullptr);
    stage(
        Hkv, spread ? H : 0, spread ? blocks_ - H : blocks_, waitInput,
        [&](const Affine &g) {
          writer_.line(projection("k" + head(g), weightRows("w_k", "l, ", tileSlice(g, D)), attnIn, "ln_attn[l, :"));
          writer_.line("rope k" + head(g) + " <- k" + head(g) + ", pos " + ropeAttributes());
          writer_.line("kv_store k_cache[l, " + g.text() + ", :, :] <- k" + head(g) + ", pos");
          writer_.line("signal kv_stored[" + str(Hkv) + "*l+" + g.text() + "]");
        },
        nullptr);
    stage(
        Hkv, spread ? H + Hkv : 0, spread ? blocks_ - H - Hkv : blocks_, waitInput,
        [&](const Affine &g) {
          writer_.line(projection("v" + head(g), weightRows("w_v", "l, ", tileSlice(g, D)), attnIn, "ln_attn[l, :"));
          writer_.line("kv_store v_cache[l, " + g.text() + ", :, :] <- v" + head(g) + ", pos");
          writer_.line("signal kv_stored[" + str(Hkv) + "*l+" + g.text() + "]");
        },
        nullptr);
    stage(
        H, 0, blocks_, nullptr,
        [&](const Affine &h) {
          const std::string g = h.dividedText(groupSize_);
          writer_.line("wait kv_stored[" + str(Hkv) + "*l+" + g + "] >= 2");
          writer_.line("attention attn" + head(h) + " <- q" + head(h) + ", k_cache[l, " + g + ", :, :], v_cache[l, " +
                       g + ", :, :], pos");
          writer_.line("signal attn_ready[l]");
        },
        nullptr);
  }

  // Output projection with the residual: h[2l+1] = h[2l] + W_o attn, after `attnSignals` signals.
  void outputProjection(const std::string &attnIn, const std::string &attnOut, int64_t attnSignals) {
    const model::ModelConfig &m = model_;
    const int64_t oRows = rowsO_;
    rowStage(
        m.hiddenSize / oRows, "wait attn_ready[l] >= " + str(attnSignals),
        [&](const Affine &t) {
          writer_.line(projectionOp("matvec_add") + " h[" + attnOut + ", " + tileSlice(t, oRows) + "] <- " +
                       weightRows("w_o", "l, ", tileSlice(t, oRows)) + ", attn[l, :], h[" + attnIn + ", " +
                       tileSlice(t, oRows) + "]");
        },
        "signal h_ready[" + attnOut + "]");
    hWriters_ = participants(m.hiddenSize / oRows, blocks_);
    barrier();
  }

  void mlpHalf() {
    const model::ModelConfig &m = model_;
    const std::string mlpIn = "2*l+1", mlpOut = "2*l+2";
    writer_.line("# Layer l, MLP half.");
    if (!fused())
      norm(mlpIn, "ln_mlp[l, ");
    const int64_t rows = rowsMlp_;
    // A fused tile is one task instead of three (gate, up, silu_mul): two tasks' fixed costs fewer,
    // and h normalised once instead of twice.
    rowStage(
        m.intermediateSize / rows, inputWait(mlpIn),
        [&](const Affine &t) {
          const std::string slice = tileSlice(t, rows);
          if (gateUpFused()) {
            writer_.line("rmsnorm_gate_up_silu act[l, " + slice + "] <- " + weightRows("w_gate", "l, ", slice) + ", " +
                         weightRows("w_up", "l, ", slice) + ", h[" + mlpIn +
                         ", :], ln_mlp[l, :] eps=" + number(m.rmsNormEps));
            return;
          }
          writer_.line(projection("gate[l, " + slice + "]", weightRows("w_gate", "l, ", slice), mlpIn, "ln_mlp[l, :"));
          writer_.line(projection("up[l, " + slice + "]", weightRows("w_up", "l, ", slice), mlpIn, "ln_mlp[l, :"));
          writer_.line("silu_mul act[l, " + slice + "] <- gate[l, " + slice + "], up[l, " + slice + "]");
        },
        "signal act_ready[l]");
    const int64_t actWriters = participants(m.intermediateSize / rows, blocks_);
    barrier();
    const int64_t down = rowsDown_;
    rowStage(
        m.hiddenSize / down, "wait act_ready[l] >= " + str(actWriters),
        [&](const Affine &t) {
          writer_.line(projectionOp("matvec_add") + " h[" + mlpOut + ", " + tileSlice(t, down) + "] <- " +
                       weightRows("w_down", "l, ", tileSlice(t, down)) + ", act[l, :], h[" + mlpIn + ", " +
                       tileSlice(t, down) + "]");
        },
        "signal h_ready[" + mlpOut + "]");
    hWriters_ = participants(m.hiddenSize / down, blocks_);
    barrier();
  }

  void head() {
    const model::ModelConfig &m = model_;
    const std::string last = str(2 * m.numLayers);
    writer_.blank();
    writer_.line("# Final norm, LM head and the next token.");
    if (!fused())
      norm(last, "ln_final[");
    const int64_t rows = rowsHead_, tiles = m.vocabSize / rows;
    Frame before, after;
    if (counters())
      before = [&](const Section &) { writer_.line(inputWait(last)); };
    if (fused()) {
      // Each block's tiles are contiguous, so one partial argmax covers all its logits.
      after = [&](const Section &s) {
        Affine lo = s.start * rows;
        writer_.line("argmax_partial best[b, :] <- logits[" + lo.text() + " : " + (lo + s.count * rows).text() + "]");
        if (counters())
          writer_.line("signal logits_ready[0]");
      };
    } else if (counters()) {
      after = [&](const Section &) { writer_.line("signal logits_ready[0]"); };
    }
    stage(
        tiles, 0, blocks_, before,
        [&](const Affine &t) {
          const std::string slice = tileSlice(t, rows);
          if (fused())
            writer_.line(projectionOp("rmsnorm_matvec") + " logits[" + slice + "] <- " +
                         weightRows(lmHead(), "", slice) + ", h[" + last +
                         ", :], ln_final eps=" + number(m.rmsNormEps));
          else
            writer_.line(projectionOp("matvec") + " logits[" + slice + "] <- " + weightRows(lmHead(), "", slice) +
                         ", xn[" + last + ", :]");
        },
        after);
    barrier();
    const int64_t writers = participants(tiles, blocks_);
    writer_.open("blocks b in 0..1");
    if (counters())
      writer_.line("wait logits_ready[0] >= " + str(writers));
    if (fused())
      writer_.line("argmax_merge next_token <- best");
    else
      writer_.line("argmax next_token <- logits");
    writer_.close();
  }

  const model::ModelConfig &model_;
  const PlanOptions &options_;
  const int64_t blocks_;  // in the grid
  const int64_t context_; // KV cache positions
  const std::string dtype_;
  // Rows per task of each projection (divisors of its height), and query heads per KV head.
  int64_t rowsQkv_ = 1, rowsO_ = 1, rowsMlp_ = 1, rowsDown_ = 1, rowsNorm_ = 1, rowsHead_ = 1, groupSize_ = 1;
  int64_t hWriters_ = 0, normWriters_ = 0;
  int64_t barrierRounds_ = 0, counterElements_ = 0;
  Writer writer_;
};

} // namespace

Result<Plan> planSchedule(const model::ModelConfig &model, const PlanOptions &options) {
  if (options.target.sms <= 0)
    return Error("", "no target: give --target (one of a100, l4, l40s, h100, rtx5090, or an sm_ architecture)");
  int64_t blocks = options.blocks == 0 ? options.target.sms : options.blocks;
  if (blocks < 1 || blocks > options.target.sms)
    return Error("", "--blocks " + str(blocks) + " is outside 1.." + str(options.target.sms) +
                         ": a cooperative grid of " + options.target.name +
                         " holds at most one block per SM at occupancy 1");
  if (options.rowsPerTile < 1)
    return Error("", "--rows " + str(options.rowsPerTile) + " must be at least 1");
  if (options.threads < 32 || options.threads > 1024 || options.threads % 32 != 0)
    return Error("", "--threads " + str(options.threads) + " must be a multiple of 32 in 32..1024");
  int64_t context = options.context == 0 ? std::min<int64_t>(model.maxPositionEmbeddings, 4096) : options.context;
  if (context < 1 || context > model.maxPositionEmbeddings)
    return Error("", "--context " + str(context) + " is outside 1.." + str(model.maxPositionEmbeddings) +
                         " (max_position_embeddings of " + model.name + ")");
  if (options.strategy == Strategy::SplitKv && (options.splits < 1 || context % options.splits != 0))
    return Error("", "--splits " + str(options.splits) + " must be at least 1 and divide the context of " +
                         str(context) + " positions");
  if (model.numHeads % model.numKvHeads != 0 || model.headDim % 2 != 0)
    return Error("", "model " + model.name + ": " + str(model.numHeads) + " query heads over " + str(model.numKvHeads) +
                         " KV heads of head_dim " + str(model.headDim) + " cannot be planned");
  Planner planner(model, options, blocks, context);
  PlanStats stats;
  std::string text = planner.run(stats);
  // The canonical form, and a proof that the planner wrote well-formed AMKIR.
  ir::Schedule schedule = ir::parseSchedule(model.name + ".amkir", text);
  if (!schedule.wellFormed())
    return Error("", "internal error: the planned schedule is malformed:\n" + schedule.renderDiagnostics());
  for (const auto &instructions : schedule.program->blockPrograms)
    for (const ir::Instruction &instruction : instructions)
      (instruction.kind == ir::InstructionKind::Task ? stats.tasks : stats.syncs) += 1;
  return Plan{ir::printSurface(*schedule.ast), std::move(stats)};
}

} // namespace amk::lowering
