// config.json reading: HF LlamaConfig's defaults for absent fields, both RoPE forms (`rope_theta` +
// `rope_scaling`, and transformers' newer `rope_parameters`), and a refusal naming the field and
// value for anything decode here does not implement.
#include "amk/model/model_config.h"

#include "amk/ir/diagnostics.h"
#include "amk/ir/source.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace amk::model {

namespace {

using nlohmann::json;

constexpr size_t kMaxConfigBytes = 1 << 20;

class ConfigReader {
public:
  ConfigReader(const ir::SourceFile &file, const json &root, ir::Diagnostics &diagnostics)
      : file_(file), root_(root), diagnostics_(diagnostics) {}

  // The location of `"key"` in the text (after `"parent"` when nested); the file start if not found.
  ir::SourceRange where(const std::string &key, const std::string &parent = "") const {
    const std::string &text = file_.text();
    size_t from = 0;
    if (!parent.empty()) {
      size_t p = text.find("\"" + parent + "\"");
      if (p != std::string::npos)
        from = p;
    }
    size_t at = key.empty() ? std::string::npos : text.find("\"" + key + "\"", from);
    if (at == std::string::npos)
      at = 0;
    uint32_t begin = static_cast<uint32_t>(at);
    uint32_t end = static_cast<uint32_t>(std::min(text.size(), at + key.size() + 2));
    return {file_.locationAt(begin), file_.locationAt(end)};
  }

  void error(const std::string &rule, const std::string &key, const std::string &message,
             const std::string &parent = "") {
    diagnostics_.error(rule, where(key, parent), message);
  }

  static std::string show(const json &value) {
    std::string text = value.dump();
    return text.size() > 60 ? text.substr(0, 57) + "..." : text;
  }

  // An integer field, HF default when absent; must be at least `minimum`.
  int64_t integer(const json &object, const std::string &key, int64_t fallback, int64_t minimum = 1,
                  const std::string &parent = "") {
    auto it = object.find(key);
    if (it == object.end() || it->is_null())
      return fallback;
    const std::string qualified = parent.empty() ? key : parent + "." + key;
    if (!it->is_number_integer() && !(it->is_number_float() && std::floor(it->get<double>()) == it->get<double>())) {
      error("AMK-M003", key, "field '" + qualified + "' must be an integer, found " + show(*it), parent);
      return fallback;
    }
    int64_t value = it->is_number_integer() ? it->get<int64_t>() : static_cast<int64_t>(it->get<double>());
    if (value < minimum || value > (int64_t(1) << 40)) {
      error("AMK-M004", key,
            "field '" + qualified + "' = " + show(*it) + " is out of range (at least " + std::to_string(minimum) + ")",
            parent);
      return fallback;
    }
    return value;
  }

  double number(const json &object, const std::string &key, double fallback, const std::string &parent = "") {
    auto it = object.find(key);
    if (it == object.end() || it->is_null())
      return fallback;
    const std::string qualified = parent.empty() ? key : parent + "." + key;
    if (!it->is_number()) {
      error("AMK-M003", key, "field '" + qualified + "' must be a number, found " + show(*it), parent);
      return fallback;
    }
    double value = it->get<double>();
    if (!(value > 0) || !std::isfinite(value)) {
      error("AMK-M004", key, "field '" + qualified + "' = " + show(*it) + " must be a positive finite number", parent);
      return fallback;
    }
    return value;
  }

  bool boolean(const json &object, const std::string &key, bool fallback) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null())
      return fallback;
    if (!it->is_boolean()) {
      error("AMK-M003", key, "field '" + key + "' must be true or false, found " + show(*it));
      return fallback;
    }
    return it->get<bool>();
  }

  std::optional<std::string> string(const json &object, const std::string &key, const std::string &parent = "") {
    auto it = object.find(key);
    if (it == object.end() || it->is_null())
      return std::nullopt;
    if (!it->is_string()) {
      error("AMK-M003", key,
            "field '" + (parent.empty() ? key : parent + "." + key) + "' must be a string, found " + show(*it), parent);
      return std::nullopt;
    }
    return it->get<std::string>();
  }

  // rope_scaling (with rope_theta beside it) or rope_parameters (which carries rope_theta itself).
  void readRope(RopeConfig &rope) {
    rope.theta = number(root_, "rope_theta", 10000.0);
    const char *objectKey = nullptr;
    for (const char *candidate : {"rope_parameters", "rope_scaling"}) {
      auto it = root_.find(candidate);
      if (it != root_.end() && !it->is_null()) {
        objectKey = candidate;
        break;
      }
    }
    if (!objectKey)
      return;
    const std::string parent = objectKey;
    const json &object = root_[parent];
    if (!object.is_object()) {
      error("AMK-M003", parent, "field '" + parent + "' must be an object, found " + show(object));
      return;
    }
    if (parent == "rope_parameters")
      rope.theta = number(object, "rope_theta", rope.theta, parent);
    std::optional<std::string> type = string(object, "rope_type", parent);
    if (!type)
      type = string(object, "type", parent);
    if (!type || *type == "default") {
      rope.scaling = RopeScaling::None;
      return;
    }
    if (*type != "llama3") {
      error("AMK-M005", "rope_type",
            "unsupported " + parent + ".rope_type \"" + *type + "\" (supported: \"default\", \"llama3\")", parent);
      return;
    }
    rope.scaling = RopeScaling::Llama3;
    rope.factor = number(object, "factor", rope.factor, parent);
    rope.lowFreqFactor = number(object, "low_freq_factor", rope.lowFreqFactor, parent);
    rope.highFreqFactor = number(object, "high_freq_factor", rope.highFreqFactor, parent);
    rope.originalMaxPosition = integer(object, "original_max_position_embeddings", rope.originalMaxPosition, 1, parent);
    if (rope.highFreqFactor <= rope.lowFreqFactor)
      error("AMK-M006", "high_freq_factor",
            "llama3 RoPE needs high_freq_factor (" + std::to_string(rope.highFreqFactor) +
                ") greater than low_freq_factor (" + std::to_string(rope.lowFreqFactor) + ")",
            parent);
  }

  void requireChoice(const std::string &key, const std::vector<std::string> &allowed, const std::string &what) {
    std::optional<std::string> value = string(root_, key);
    if (!value)
      return;
    for (const std::string &a : allowed)
      if (*value == a)
        return;
    error("AMK-M005", key, "unsupported " + key + " \"" + *value + "\" (" + what + ")");
  }

  void requireFalse(const std::string &key) {
    if (boolean(root_, key, false))
      error("AMK-M005", key, "unsupported " + key + " = true (only bias-free Llama projections are implemented)");
  }

  ModelConfig read(std::string name) {
    ModelConfig config;
    config.name = std::move(name);
    if (!root_.is_object()) {
      error("AMK-M003", "", "config.json must hold a JSON object, found " + show(root_));
      return config;
    }
    requireChoice("model_type", {"llama"}, "only \"llama\" models are implemented");
    if (auto it = root_.find("architectures"); it != root_.end() && it->is_array()) {
      bool llama = false;
      for (const json &a : *it)
        llama = llama || (a.is_string() && a.get<std::string>() == "LlamaForCausalLM");
      if (!llama)
        error("AMK-M005", "architectures",
              "unsupported architectures " + show(*it) + " (only LlamaForCausalLM is implemented)");
    }
    requireChoice("hidden_act", {"silu"}, "only silu is implemented");
    requireFalse("attention_bias");
    requireFalse("mlp_bias");

    // Defaults are HF LlamaConfig's.
    config.hiddenSize = integer(root_, "hidden_size", 4096);
    config.intermediateSize = integer(root_, "intermediate_size", 11008);
    config.numLayers = integer(root_, "num_hidden_layers", 32);
    config.numHeads = integer(root_, "num_attention_heads", 32);
    config.numKvHeads = integer(root_, "num_key_value_heads", config.numHeads);
    config.vocabSize = integer(root_, "vocab_size", 32000);
    config.maxPositionEmbeddings = integer(root_, "max_position_embeddings", 2048);
    config.rmsNormEps = number(root_, "rms_norm_eps", 1e-6);
    config.tieWordEmbeddings = boolean(root_, "tie_word_embeddings", false);
    readRope(config.rope);

    bool headDimGiven = root_.contains("head_dim") && !root_["head_dim"].is_null();
    if (headDimGiven) {
      config.headDim = integer(root_, "head_dim", 0);
    } else if (config.hiddenSize % config.numHeads != 0) {
      error("AMK-M006", "num_attention_heads",
            "hidden_size " + std::to_string(config.hiddenSize) + " is not divisible by num_attention_heads " +
                std::to_string(config.numHeads) + " and head_dim is absent");
    } else {
      config.headDim = config.hiddenSize / config.numHeads;
    }
    if (config.headDim % 2 != 0)
      error("AMK-M006", headDimGiven ? "head_dim" : "num_attention_heads",
            "head_dim " + std::to_string(config.headDim) + " must be even for rotate-half RoPE");
    if (config.numHeads % config.numKvHeads != 0)
      error("AMK-M006", "num_key_value_heads",
            "num_attention_heads " + std::to_string(config.numHeads) + " is not a multiple of num_key_value_heads " +
                std::to_string(config.numKvHeads));

    std::optional<std::string> dtype = string(root_, "dtype");
    std::string dtypeKey = "dtype";
    if (!dtype) {
      dtype = string(root_, "torch_dtype");
      dtypeKey = "torch_dtype";
    }
    if (!dtype || *dtype == "float32")
      config.dtype = ir::ast::DType::F32;
    else if (*dtype == "bfloat16")
      config.dtype = ir::ast::DType::BF16;
    else if (*dtype == "float16")
      config.dtype = ir::ast::DType::F16;
    else
      error("AMK-M005", dtypeKey,
            "unsupported " + dtypeKey + " \"" + *dtype + "\" (supported: bfloat16, float16, float32)");
    return config;
  }

private:
  const ir::SourceFile &file_;
  const json &root_;
  ir::Diagnostics &diagnostics_;
};

} // namespace

int64_t ModelConfig::parameterCount() const {
  int64_t perLayer =
      hiddenSize * (qSize() + 2 * kvSize()) + qSize() * hiddenSize + 3 * hiddenSize * intermediateSize + 2 * hiddenSize;
  int64_t embeddings = vocabSize * hiddenSize * (tieWordEmbeddings ? 1 : 2);
  return numLayers * perLayer + embeddings + hiddenSize;
}

namespace {

Error refusal(const ir::SourceFile &file, const ir::Diagnostics &diagnostics) {
  std::string detail = ir::renderText(diagnostics, file);
  while (!detail.empty() && detail.back() == '\n')
    detail.pop_back();
  return Error(file.name(), "not a usable LlamaForCausalLM config", std::move(detail));
}

} // namespace

Result<ModelConfig> parseModelConfig(std::string fileName, std::string text, std::string modelName) {
  const ir::SourceFile file(std::move(fileName), std::move(text));
  ir::Diagnostics diagnostics;
  json root;
  try {
    root = json::parse(file.text());
  } catch (const json::parse_error &e) {
    uint32_t at = static_cast<uint32_t>(std::min<size_t>(e.byte ? e.byte - 1 : 0, file.text().size()));
    std::string what = e.what();
    if (size_t colon = what.find("]: "); colon != std::string::npos)
      what = what.substr(colon + 3);
    diagnostics.error("AMK-M001", {file.locationAt(at), file.locationAt(at)}, "invalid JSON: " + what);
    return refusal(file, diagnostics);
  } catch (const json::exception &e) {
    // Not a syntax error: a number beyond a double (1e400) and the like.
    std::string what = e.what();
    if (size_t colon = what.find("] "); colon != std::string::npos)
      what = what.substr(colon + 2);
    diagnostics.error("AMK-M001", {file.locationAt(0), file.locationAt(0)}, "invalid JSON: " + what);
    return refusal(file, diagnostics);
  }
  ConfigReader reader(file, root, diagnostics);
  ModelConfig config = reader.read(std::move(modelName));
  if (diagnostics.hasErrors())
    return refusal(file, diagnostics);
  return config;
}

Result<ModelConfig> loadModelConfig(const std::string &path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path file = path;
  std::string name;
  if (fs::is_directory(file, ec)) {
    name = fs::path(path).lexically_normal().filename().string();
    if (name.empty())
      name = fs::path(path).lexically_normal().parent_path().filename().string();
    file /= "config.json";
  } else {
    name = file.stem().string();
    if (name == "config")
      name = file.parent_path().filename().string();
  }
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return Error(file.string(), "cannot read the model config (no such file or not readable)");
  auto size = fs::file_size(file, ec);
  if (ec || size > kMaxConfigBytes)
    return Error(file.string(),
                 "config.json is larger than " + std::to_string(kMaxConfigBytes) + " bytes; not a model config");
  std::ostringstream text;
  text << in.rdbuf();
  return parseModelConfig(file.string(), text.str(), name);
}

} // namespace amk::model
