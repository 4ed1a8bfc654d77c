// Checkpoint directories: config.json through lowering's validated model description, weights from one
// safetensors file or from the shards a weight map names, and the Llama tensor names with the shapes
// the config implies.
#include "amk/model/checkpoint.h"

#include "amk/model/numeric.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace amk::model {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uintmax_t kMaxIndexBytes = 64 << 20;

std::string quoted(const std::string &text) { return "'" + text + "'"; }

// A shard named by the weight map must be a plain file name inside the checkpoint directory: the index
// is data from elsewhere and must not reach files outside it.
bool plainFileName(const std::string &name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

} // namespace

Result<Checkpoint> Checkpoint::open(const std::string &directory) {
  std::error_code ec;
  if (!fs::exists(directory, ec))
    return Error{directory, "no such directory"};
  if (!fs::is_directory(directory, ec))
    return Error{directory, "not a directory; a checkpoint is a directory holding config.json and "
                            "model.safetensors (or model.safetensors.index.json and its shards)"};
  const fs::path dir(directory);
  const std::string configPath = (dir / "config.json").string();
  if (!fs::exists(configPath, ec))
    return Error{configPath, "no such file; a checkpoint directory holds the model's config.json"};
  // The config reader reports every JSON error as a diagnostic; should any nlohmann exception still
  // escape it, a library must not throw it at amk-run's user.
  Result<model::ModelConfig> config = [&]() -> Result<model::ModelConfig> {
    try {
      return model::loadModelConfig(directory);
    } catch (const nlohmann::json::exception &) {
      return Error{configPath, "not valid JSON: a number is out of range"};
    }
  }();
  if (!config)
    return config.error();

  Checkpoint checkpoint;
  checkpoint.directory_ = directory;
  checkpoint.config_ = *config;

  const std::string single = (dir / "model.safetensors").string();
  const std::string index = (dir / "model.safetensors.index.json").string();
  if (fs::exists(single, ec)) {
    Result<SafetensorsFile> file = SafetensorsFile::open(single);
    if (!file)
      return file.error();
    checkpoint.weightsFile_ = single;
    checkpoint.files_.push_back(std::move(*file));
    const std::vector<TensorInfo> &tensors = checkpoint.files_[0].header().tensors;
    for (size_t t = 0; t < tensors.size(); ++t)
      checkpoint.tensors_[tensors[t].name] = Location{0, t};
    return checkpoint;
  }
  if (!fs::exists(index, ec))
    return Error{directory, "no model.safetensors or model.safetensors.index.json (only safetensors "
                            "checkpoints are read, not pytorch_model.bin)"};

  checkpoint.weightsFile_ = index;
  uintmax_t size = fs::file_size(index, ec);
  if (ec || size > kMaxIndexBytes)
    return Error{index, ec ? "cannot read the file (" + ec.message() + ")"
                           : "larger than " + std::to_string(kMaxIndexBytes) + " bytes; not a weight index"};
  std::ifstream in(index, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in)
    return Error{index, "cannot read the file"};
  json root;
  try {
    root = json::parse(text.str());
  } catch (const json::parse_error &e) {
    return Error{index, "not valid JSON at byte " + std::to_string(e.byte ? e.byte - 1 : 0)};
  } catch (const nlohmann::json::exception &) { // a number beyond a double (1e400) throws out_of_range
    return Error{index, "not valid JSON: a number is out of range"};
  }
  if (!root.is_object() || !root.contains("weight_map") || !root["weight_map"].is_object())
    return Error{index, "'weight_map' must be an object mapping tensor names to shard files"};

  std::map<std::string, size_t> shardIndex; // shard file name -> index into files_
  for (const auto &[tensorName, shardValue] : root["weight_map"].items()) {
    if (!shardValue.is_string())
      return Error{index, "weight_map entry " + quoted(tensorName) + " must be a shard file name, found " +
                              std::string(shardValue.type_name())};
    const std::string shard = shardValue.get<std::string>();
    if (!plainFileName(shard))
      return Error{index, "weight_map puts tensor " + quoted(tensorName) + " in " + quoted(shard) +
                              ", which is not a file name in the checkpoint directory"};
    auto [it, fresh] = shardIndex.try_emplace(shard, checkpoint.files_.size());
    if (fresh) {
      Result<SafetensorsFile> file = SafetensorsFile::open((dir / shard).string());
      if (!file)
        return file.error();
      checkpoint.files_.push_back(std::move(*file));
    }
    const Header &header = checkpoint.files_[it->second].header();
    const TensorInfo *info = header.find(tensorName);
    if (!info)
      return Error{index, "weight_map puts tensor " + quoted(tensorName) + " in " + quoted(shard) +
                              ", which holds no such tensor"};
    checkpoint.tensors_[tensorName] = Location{it->second, static_cast<size_t>(info - header.tensors.data())};
  }
  return checkpoint;
}

std::optional<TensorView> Checkpoint::find(std::string_view name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    return std::nullopt;
  const SafetensorsFile &file = files_[it->second.file];
  const TensorInfo &info = file.header().tensors[it->second.tensor];
  return TensorView{&info, file.bytes(info), &file.path()};
}

std::vector<std::string> Checkpoint::tensorNames() const {
  std::vector<std::string> names;
  for (const auto &[name, location] : tensors_)
    names.push_back(name);
  return names;
}

Result<std::vector<float>> toFloat32(const TensorView &tensor) {
  const uint64_t count = tensor.info->elementCount();
  std::vector<float> values(count);
  const std::byte *data = tensor.bytes.data();
  // memcpy per element: tensors in a safetensors file need not be aligned to their element size.
  switch (tensor.info->dtype) {
  case TensorDType::F32:
    std::memcpy(values.data(), data, count * sizeof(float));
    break;
  case TensorDType::BF16:
  case TensorDType::F16:
    for (uint64_t i = 0; i < count; ++i) {
      uint16_t bits;
      std::memcpy(&bits, data + 2 * i, 2);
      values[i] = tensor.info->dtype == TensorDType::BF16 ? bf16ToFloat(bits) : f16ToFloat(bits);
    }
    break;
  default:
    return Error{*tensor.file, "tensor " + quoted(tensor.name()) + " has dtype " + dtypeWord(tensor.info->dtype) +
                                   "; weights must be BF16, F16 or F32"};
  }
  return values;
}

namespace {

class LlamaBinder {
public:
  explicit LlamaBinder(const Checkpoint &checkpoint) : checkpoint_(checkpoint), config_(checkpoint.config()) {}

  Result<LlamaTensors> bind() {
    const int64_t hidden = config_.hiddenSize;
    const int64_t inter = config_.intermediateSize;
    LlamaTensors tensors;
    tensors.tied = config_.tieWordEmbeddings;
    if (!take("model.embed_tokens.weight", {config_.vocabSize, hidden}, "vocab_size, hidden_size", tensors.embed))
      return *error_;
    tensors.layers.resize(static_cast<size_t>(config_.numLayers));
    for (int64_t i = 0; i < config_.numLayers; ++i) {
      const std::string prefix = "model.layers." + std::to_string(i) + ".";
      LlamaLayerTensors &layer = tensors.layers[static_cast<size_t>(i)];
      bool ok = take(prefix + "input_layernorm.weight", {hidden}, "hidden_size", layer.inputNorm) &&
                take(prefix + "self_attn.q_proj.weight", {config_.qSize(), hidden},
                     "num_attention_heads * head_dim, hidden_size", layer.q) &&
                take(prefix + "self_attn.k_proj.weight", {config_.kvSize(), hidden},
                     "num_key_value_heads * head_dim, hidden_size", layer.k) &&
                take(prefix + "self_attn.v_proj.weight", {config_.kvSize(), hidden},
                     "num_key_value_heads * head_dim, hidden_size", layer.v) &&
                take(prefix + "self_attn.o_proj.weight", {hidden, config_.qSize()},
                     "hidden_size, num_attention_heads * head_dim", layer.o) &&
                take(prefix + "post_attention_layernorm.weight", {hidden}, "hidden_size", layer.postNorm) &&
                take(prefix + "mlp.gate_proj.weight", {inter, hidden}, "intermediate_size, hidden_size", layer.gate) &&
                take(prefix + "mlp.up_proj.weight", {inter, hidden}, "intermediate_size, hidden_size", layer.up) &&
                take(prefix + "mlp.down_proj.weight", {hidden, inter}, "hidden_size, intermediate_size", layer.down);
      if (!ok)
        return *error_;
    }
    if (!take("model.norm.weight", {hidden}, "hidden_size", tensors.finalNorm))
      return *error_;
    if (tensors.tied) {
      tensors.lmHead = tensors.embed;
    } else if (!take("lm_head.weight", {config_.vocabSize, hidden}, "vocab_size, hidden_size", tensors.lmHead,
                     " (tie_word_embeddings is false, so the output projection must be stored)")) {
      return *error_;
    }
    for (const std::string &name : checkpoint_.tensorNames())
      if (!used_.count(name))
        tensors.unused.push_back(name);
    return tensors;
  }

private:
  bool take(const std::string &name, const std::vector<int64_t> &shape, const char *why, TensorView &out,
            const std::string &missingHint = "") {
    std::optional<TensorView> view = checkpoint_.find(name);
    if (!view) {
      error_ = Error{checkpoint_.weightsFile(), "missing tensor " + quoted(name) + missingHint};
      return false;
    }
    if (!isFloatWeight(view->info->dtype)) {
      error_ = Error{*view->file, "tensor " + quoted(name) + " has dtype " + dtypeWord(view->info->dtype) +
                                      "; weights must be BF16, F16 or F32"};
      return false;
    }
    if (view->info->shape != shape) {
      std::string expected = "[";
      for (size_t i = 0; i < shape.size(); ++i)
        expected += (i ? ", " : "") + std::to_string(shape[i]);
      error_ = Error{*view->file, "tensor " + quoted(name) + " is " + view->info->describe() +
                                      " but the config implies " + expected + "] (" + why + ")"};
      return false;
    }
    used_.insert(name);
    out = *view;
    return true;
  }

  const Checkpoint &checkpoint_;
  const model::ModelConfig &config_;
  std::set<std::string> used_;
  std::optional<Error> error_;
};

} // namespace

Result<LlamaTensors> bindLlama(const Checkpoint &checkpoint) { return LlamaBinder(checkpoint).bind(); }

} // namespace amk::model
