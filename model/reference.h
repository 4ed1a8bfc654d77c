// The CPU reference forward pass of Llama decode: one token at a time against a KV cache, fp32
// weights and fp32 arithmetic, written to be read and trusted rather than to be fast. It is what the
// schedules' outputs and HF transformers' logits are compared with.
#pragma once

#include "amk/ir/ast.h"
#include "amk/model/model_config.h"
#include "amk/model/checkpoint.h"
#include "amk/ir/result.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace amk::model {

// fp32 copies of a checkpoint's Llama weights, row-major in HF's [out, in] layout.
struct ReferenceWeights {
  struct Layer {
    std::vector<float> inputNorm, q, k, v, o, postNorm, gate, up, down;
  };
  model::ModelConfig config;
  std::vector<float> embed; // [vocab, hidden]
  std::vector<Layer> layers;
  std::vector<float> finalNorm;
  std::vector<float> lmHead; // [vocab, hidden]; empty when tied, the embedding then serving

  const std::vector<float> &outputProjection() const { return lmHead.empty() ? embed : lmHead; }
};

Result<ReferenceWeights> loadReferenceWeights(const Checkpoint &checkpoint);
// Opens the checkpoint directory, binds its Llama tensors and widens them to fp32.
Result<ReferenceWeights> loadReferenceWeights(const std::string &directory);

// The W8A16 form of `weights`, as an int8 schedule (lowering/plan.h, WeightFormat::Int8) computes
// with them: every projection matrix (q, k, v, o, gate, up, down and the LM head, a tied model's
// getting its own copy) replaced by its dequantised values q[r, k] * scale[r] (quantiseRows with
// scales in `scaleType`; each product exact in fp32). Norms and the embedding table stay.
void quantiseProjections(ReferenceWeights &weights, ir::ast::DType scaleType);

struct ReferenceOptions {
  // Round activations to bf16 at the points docs/numerics.md lists (HF's rounding points in bf16),
  // arithmetic staying fp32: the reference for bf16 schedules. Off: plain fp32 throughout.
  bool roundToBf16 = false;
};

// RoPE inverse frequencies f_j = θ^(−2j/d), j < d/2, in fp32 as transformers computes them, with llama3
// scaling applied when the config sets it (transformers' _compute_llama3_parameters, docs/numerics.md).
std::vector<float> ropeInverseFrequencies(const model::RopeConfig &rope, int64_t headDim);

// The index of the largest value; NaN never wins and ties go to the lowest index (as torch.argmax).
// -1 for an empty or all-NaN input.
int64_t argmax(std::span<const float> values);

class ReferenceModel {
public:
  // WARNING: `weights` must outlive the model.
  explicit ReferenceModel(const ReferenceWeights &weights, ReferenceOptions options = {});

  // The logits [vocab] after `token` at position `pos`. Positions 0..pos-1 must be in the cache; a
  // `pos` below length() first drops the cached positions from `pos` on (a rewind).
  Result<std::vector<float>> forward(int64_t token, int64_t pos);

  int64_t length() const { return length_; } // positions in the KV cache
  void reset() { length_ = 0; }

private:
  float round(float value) const;
  std::vector<float> rmsnorm(const std::vector<float> &x, const std::vector<float> &weight) const;
  std::vector<float> matvec(const std::vector<float> &weight, const std::vector<float> &x, int64_t rows) const;
  void rope(std::vector<float> &vector, int64_t heads, int64_t pos) const;

  const ReferenceWeights &weights_;
  const model::ModelConfig &config_;
  ReferenceOptions options_;
  std::vector<float> inverseFrequencies_;
  // Per layer, [position][kv_heads * head_dim], grown as positions are added.
  std::vector<std::vector<float>> keyCache_, valueCache_;
  int64_t length_ = 0;
};

// The logits after each token of `tokens`, run one by one from position 0: what HF's
// model(input_ids).logits gives for the whole sequence.
Result<std::vector<std::vector<float>>>
teacherForcedLogits(const ReferenceWeights &weights, std::span<const int64_t> tokens, ReferenceOptions options = {});

struct Generation {
  std::vector<int64_t> tokens;     // the continuation, newTokens long
  double promptSeconds = 0;        // the forward passes over prompt tokens whose logits are not used
  std::vector<double> stepSeconds; // per new token: the forward pass whose logits chose it
};

// Greedy decoding: the prompt is run from position 0, then each new token is the argmax of the last
// logits and is fed back. Stops after `newTokens` tokens (no end-of-sequence token is special).
Result<Generation> greedyGenerate(const ReferenceWeights &weights, std::span<const int64_t> prompt, int64_t newTokens,
                                  ReferenceOptions options = {});

} // namespace amk::model
