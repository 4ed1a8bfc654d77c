// The model description that planning, the CPU reference and the runtime share: the fields of a
// HuggingFace `LlamaForCausalLM` config.json that decode needs, validated. Anything the project does
// not implement (another activation, biases, an unknown RoPE type) is refused, naming the field.
#pragma once

#include "amk/ir/ast.h"
#include "amk/ir/result.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace amk::model {

enum class RopeScaling { None, Llama3 };

struct RopeConfig {
  double theta = 10000.0;
  RopeScaling scaling = RopeScaling::None;
  double factor = 8.0; // llama3 only
  double lowFreqFactor = 1.0;
  double highFreqFactor = 4.0;
  int64_t originalMaxPosition = 8192;
};

struct ModelConfig {
  std::string name; // the directory or file stem it came from, for messages and metadata
  int64_t hiddenSize = 0;
  int64_t intermediateSize = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t numKvHeads = 0; // config's num_key_value_heads; equal to numHeads when absent (MHA)
  int64_t headDim = 0;    // config's head_dim; hiddenSize / numHeads when absent
  int64_t vocabSize = 0;
  double rmsNormEps = 1e-6;
  RopeConfig rope;
  bool tieWordEmbeddings = false;
  int64_t maxPositionEmbeddings = 2048;
  ir::ast::DType dtype = ir::ast::DType::BF16; // bf16, f16 or f32: the weights' type

  int64_t qSize() const { return numHeads * headDim; }
  int64_t kvSize() const { return numKvHeads * headDim; }
  int64_t groupSize() const { return numHeads / numKvHeads; } // query heads per KV head
  // Parameter count of the decoder weights (embedding counted once when tied).
  int64_t parameterCount() const;
};

// `path` is a checkpoint directory (its config.json is read) or a config.json file itself. A refused
// config's error carries every clang-style diagnostic, rendered, as its detail.
Result<ModelConfig> loadModelConfig(const std::string &path);
// The same from text in memory; `name` is used for messages.
Result<ModelConfig> parseModelConfig(std::string fileName, std::string text, std::string modelName);

} // namespace amk::model
