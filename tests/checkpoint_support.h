// Test helpers for the megakernel suite: a tiny safetensors writer, random Llama checkpoints at small
// shapes written to a temporary directory, and the relative error the comparisons report.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace amk::test {

// A temporary directory, removed with everything in it when the test ends.
class TempDir {
public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "amk-megakernel-test-XXXXXX").string();
    if (mkdtemp(pattern.data()))
      path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty())
      std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  const std::filesystem::path &path() const { return path_; }
  std::string operator/(const std::string &name) const { return (path_ / name).string(); }

private:
  std::filesystem::path path_;
};

inline void writeBytes(const std::filesystem::path &path, const std::string &bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

struct TensorSpec {
  std::string name;
  std::string dtype; // the header's word: "F32", "BF16", ...
  std::vector<int64_t> shape;
  std::string bytes; // little-endian elements
};

// The format as the Python writer produces it: tensors laid out in the given order, the JSON header
// padded with spaces to a multiple of 8 bytes.
inline std::string safetensorsBytes(const std::vector<TensorSpec> &tensors,
                                    const std::map<std::string, std::string> &metadata = {}) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty())
    header["__metadata__"] = metadata;
  std::string data;
  for (const TensorSpec &t : tensors) {
    header[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t length = text.size();
  std::string file(reinterpret_cast<const char *>(&length), 8);
  return file + text + data;
}

inline std::string f32Bytes(const std::vector<float> &values) {
  return std::string(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(float));
}

inline std::string u16Bytes(const std::vector<uint16_t> &values) {
  return std::string(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(uint16_t));
}

// Shapes of a small Llama; the config.json written for it has every field loadModelConfig reads.
struct TinyLlama {
  int64_t hidden = 32;
  int64_t intermediate = 48;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t kvHeads = 2;
  int64_t vocab = 40;
  bool tied = false;
  double theta = 10000.0;
  bool llama3 = false; // rope_scaling llama3, factor 8, low 1, high 4, original context 32
  double eps = 1e-5;

  int64_t headDim() const { return hidden / heads; }

  std::string configJson() const {
    nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                             {"model_type", "llama"},
                             {"hidden_act", "silu"},
                             {"hidden_size", hidden},
                             {"intermediate_size", intermediate},
                             {"num_hidden_layers", layers},
                             {"num_attention_heads", heads},
                             {"num_key_value_heads", kvHeads},
                             {"vocab_size", vocab},
                             {"rms_norm_eps", eps},
                             {"rope_theta", theta},
                             {"tie_word_embeddings", tied},
                             {"max_position_embeddings", 64},
                             {"torch_dtype", "float32"}};
    if (llama3)
      config["rope_scaling"] = {{"rope_type", "llama3"},
                                {"factor", 8.0},
                                {"low_freq_factor", 1.0},
                                {"high_freq_factor", 4.0},
                                {"original_max_position_embeddings", 32}};
    return config.dump(2);
  }

  // Every tensor of LlamaForCausalLM with its HF [out, in] shape, in HF's order.
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensorShapes() const {
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
    shapes.push_back({"model.embed_tokens.weight", {vocab, hidden}});
    for (int64_t i = 0; i < layers; ++i) {
      std::string p = "model.layers." + std::to_string(i) + ".";
      shapes.push_back({p + "input_layernorm.weight", {hidden}});
      shapes.push_back({p + "self_attn.q_proj.weight", {heads * headDim(), hidden}});
      shapes.push_back({p + "self_attn.k_proj.weight", {kvHeads * headDim(), hidden}});
      shapes.push_back({p + "self_attn.v_proj.weight", {kvHeads * headDim(), hidden}});
      shapes.push_back({p + "self_attn.o_proj.weight", {hidden, heads * headDim()}});
      shapes.push_back({p + "post_attention_layernorm.weight", {hidden}});
      shapes.push_back({p + "mlp.gate_proj.weight", {intermediate, hidden}});
      shapes.push_back({p + "mlp.up_proj.weight", {intermediate, hidden}});
      shapes.push_back({p + "mlp.down_proj.weight", {hidden, intermediate}});
    }
    shapes.push_back({"model.norm.weight", {hidden}});
    if (!tied)
      shapes.push_back({"lm_head.weight", {vocab, hidden}});
    return shapes;
  }
};

using Weights = std::map<std::string, std::vector<float>>;

// Random weights spread like a trained model's: norms near 1, projections scaled by 1/sqrt(fan_in).
inline Weights randomWeights(const TinyLlama &model, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Weights weights;
  for (const auto &[name, shape] : model.tensorShapes()) {
    int64_t count = 1;
    for (int64_t d : shape)
      count *= d;
    std::vector<float> values(static_cast<size_t>(count));
    bool norm = name.find("norm") != std::string::npos;
    float scale = name.find("embed") != std::string::npos ? 0.5f : norm ? 0.1f : 1.0f / std::sqrt(float(shape.back()));
    for (float &v : values)
      v = (norm ? 1.0f : 0.0f) + scale * normal(rng);
    weights[name] = std::move(values);
  }
  return weights;
}

inline std::vector<int64_t> shapeOf(const TinyLlama &model, const std::string &name) {
  for (const auto &[n, shape] : model.tensorShapes())
    if (n == name)
      return shape;
  return {static_cast<int64_t>(0)};
}

// config.json plus model.safetensors (shards == 1) or model-0000i-of-0000n.safetensors shards with
// model.safetensors.index.json. Tensors missing from `weights` are not written.
inline void writeCheckpoint(const std::filesystem::path &dir, const TinyLlama &model, const Weights &weights,
                            int shards = 1) {
  writeBytes(dir / "config.json", model.configJson());
  std::vector<std::vector<TensorSpec>> files(static_cast<size_t>(shards));
  nlohmann::json weightMap = nlohmann::json::object();
  size_t i = 0;
  for (const auto &[name, values] : weights) {
    std::vector<int64_t> shape = shapeOf(model, name);
    if (shape == std::vector<int64_t>{0})
      shape = {static_cast<int64_t>(values.size())};
    size_t shard = i++ % static_cast<size_t>(shards);
    files[shard].push_back({name, "F32", shape, f32Bytes(values)});
    char fileName[64];
    std::snprintf(fileName, sizeof fileName, "model-%05zu-of-%05d.safetensors", shard + 1, shards);
    weightMap[name] = fileName;
  }
  if (shards == 1) {
    writeBytes(dir / "model.safetensors", safetensorsBytes(files[0]));
    return;
  }
  for (size_t s = 0; s < files.size(); ++s) {
    char fileName[64];
    std::snprintf(fileName, sizeof fileName, "model-%05zu-of-%05d.safetensors", s + 1, shards);
    writeBytes(dir / fileName, safetensorsBytes(files[s]));
  }
  writeBytes(dir / "model.safetensors.index.json",
             nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", weightMap}}.dump(2));
}

// max |a - b| / max |b| over all elements: the comparisons' tolerance is stated in these terms.
struct Comparison {
  double maxAbsDiff = 0;
  double maxAbsExpected = 0;
  double relative() const { return maxAbsExpected > 0 ? maxAbsDiff / maxAbsExpected : maxAbsDiff; }
};

template <class A, class B> Comparison compare(const std::vector<A> &actual, const std::vector<B> &expected) {
  Comparison c;
  EXPECT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < std::min(actual.size(), expected.size()); ++i) {
    c.maxAbsDiff = std::max(c.maxAbsDiff, std::abs(double(actual[i]) - double(expected[i])));
    c.maxAbsExpected = std::max(c.maxAbsExpected, std::abs(double(expected[i])));
  }
  return c;
}

} // namespace amk::test
