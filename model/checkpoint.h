// A HuggingFace checkpoint directory: config.json plus model.safetensors, or a sharded
// model.safetensors.index.json with its shard files. Tensors are views into the mapped files; the Llama
// binding checks that every weight the config implies is there with its shape and a float dtype.
#pragma once

#include "amk/model/model_config.h"
#include "amk/ir/result.h"
#include "amk/model/safetensors.h"

#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amk::model {

// One tensor of a checkpoint. WARNING: points into its Checkpoint, which must outlive the view.
struct TensorView {
  const TensorInfo *info = nullptr; // name, dtype, shape
  std::span<const std::byte> bytes;
  const std::string *file = nullptr; // the safetensors file it lives in

  const std::string &name() const { return info->name; }
};

class Checkpoint {
public:
  // The single-file form is preferred when both are present, as transformers' from_pretrained does.
  static Result<Checkpoint> open(const std::string &directory);

  const model::ModelConfig &config() const { return config_; }
  const std::string &directory() const { return directory_; }
  // model.safetensors or model.safetensors.index.json: the file that says which tensors exist.
  const std::string &weightsFile() const { return weightsFile_; }
  size_t fileCount() const { return files_.size(); }

  std::optional<TensorView> find(std::string_view name) const;
  std::vector<std::string> tensorNames() const; // sorted

private:
  struct Location {
    size_t file = 0;
    size_t tensor = 0; // index into that file's header().tensors
  };

  std::string directory_;
  std::string weightsFile_;
  model::ModelConfig config_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, Location, std::less<>> tensors_;
};

// The widened elements of a BF16, F16 or F32 tensor (exact); other dtypes are refused, naming the tensor.
Result<std::vector<float>> toFloat32(const TensorView &tensor);

struct LlamaLayerTensors {
  TensorView inputNorm; // model.layers.{i}.input_layernorm.weight            [hidden]
  TensorView q;         // self_attn.q_proj.weight                             [heads * head_dim, hidden]
  TensorView k;         // self_attn.k_proj.weight                             [kv_heads * head_dim, hidden]
  TensorView v;         // self_attn.v_proj.weight                             [kv_heads * head_dim, hidden]
  TensorView o;         // self_attn.o_proj.weight                             [hidden, heads * head_dim]
  TensorView postNorm;  // post_attention_layernorm.weight                     [hidden]
  TensorView gate;      // mlp.gate_proj.weight                                [intermediate, hidden]
  TensorView up;        // mlp.up_proj.weight                                  [intermediate, hidden]
  TensorView down;      // mlp.down_proj.weight                                [hidden, intermediate]
};

struct LlamaTensors {
  TensorView embed; // model.embed_tokens.weight [vocab, hidden]
  std::vector<LlamaLayerTensors> layers;
  TensorView finalNorm; // model.norm.weight [hidden]
  TensorView lmHead;    // lm_head.weight [vocab, hidden]; the embedding itself when tied
  bool tied = false;
  std::vector<std::string> unused; // tensors of the checkpoint that no weight above uses (sorted)
};

// Every tensor LlamaForCausalLM has for the checkpoint's config, present with the shape the config
// implies and a float dtype. With tie_word_embeddings the output projection is the embedding and a
// stored lm_head.weight is ignored, as transformers ties it over whatever was loaded.
Result<LlamaTensors> bindLlama(const Checkpoint &checkpoint);

} // namespace amk::model
