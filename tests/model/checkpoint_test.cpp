// Checkpoint directories as a specification: single-file and sharded weights give the same tensors;
// tied embeddings; every Llama tensor checked for presence, dtype and the shape the config implies;
// and the errors for bad directories, configs and weight indexes, each naming the file.
#include "amk/model/checkpoint.h"
#include "amk/model/reference.h"
#include "checkpoint_support.h"

#include <gtest/gtest.h>

namespace amk::test {
namespace {

using namespace amk::model;

std::string errorOf(const std::string &dir) {
  Result<Checkpoint> checkpoint = Checkpoint::open(dir);
  if (checkpoint)
    return "(opened)";
  return checkpoint.error().render();
}

std::string bindErrorOf(const std::string &dir) {
  Result<Checkpoint> checkpoint = Checkpoint::open(dir);
  if (!checkpoint)
    return "open: " + checkpoint.error().render();
  Result<LlamaTensors> tensors = bindLlama(*checkpoint);
  return tensors ? "(bound)" : tensors.error().render();
}

TEST(Checkpoint, SingleFileBindsEveryLlamaTensor) {
  TempDir dir;
  TinyLlama model;
  Weights weights = randomWeights(model, 1);
  weights["model.layers.0.self_attn.rotary_emb.inv_freq"] = std::vector<float>(4, 1.0f); // old HF exports
  writeCheckpoint(dir.path(), model, weights);

  Result<Checkpoint> checkpoint = Checkpoint::open(dir.path().string());
  ASSERT_TRUE(checkpoint) << checkpoint.error().render();
  EXPECT_EQ(checkpoint->config().hiddenSize, 32);
  EXPECT_EQ(checkpoint->config().numKvHeads, 2);
  EXPECT_EQ(checkpoint->fileCount(), 1u);
  EXPECT_EQ(checkpoint->weightsFile(), dir / "model.safetensors");
  EXPECT_EQ(checkpoint->tensorNames().size(), weights.size());

  Result<LlamaTensors> tensors = bindLlama(*checkpoint);
  ASSERT_TRUE(tensors) << tensors.error().render();
  ASSERT_EQ(tensors->layers.size(), 2u);
  EXPECT_FALSE(tensors->tied);
  EXPECT_EQ(tensors->layers[1].k.name(), "model.layers.1.self_attn.k_proj.weight");
  EXPECT_EQ(tensors->layers[1].k.info->shape, (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(tensors->lmHead.name(), "lm_head.weight");
  EXPECT_EQ(tensors->unused, (std::vector<std::string>{"model.layers.0.self_attn.rotary_emb.inv_freq"}));
  Result<std::vector<float>> down = toFloat32(tensors->layers[0].down);
  ASSERT_TRUE(down);
  EXPECT_EQ(*down, weights["model.layers.0.mlp.down_proj.weight"]);
}

TEST(Checkpoint, ShardedCheckpointGivesTheSameTensorsAsOneFile) {
  TempDir single, sharded;
  TinyLlama model;
  Weights weights = randomWeights(model, 2);
  writeCheckpoint(single.path(), model, weights);
  writeCheckpoint(sharded.path(), model, weights, 3);
  ASSERT_TRUE(std::filesystem::exists(sharded.path() / "model.safetensors.index.json"));

  Result<Checkpoint> checkpoint = Checkpoint::open(sharded.path().string());
  ASSERT_TRUE(checkpoint) << checkpoint.error().render();
  EXPECT_EQ(checkpoint->fileCount(), 3u);
  EXPECT_EQ(checkpoint->weightsFile(), sharded / "model.safetensors.index.json");
  for (const auto &[name, values] : weights) {
    std::optional<TensorView> view = checkpoint->find(name);
    ASSERT_TRUE(view) << name;
    EXPECT_EQ(*toFloat32(*view), values) << name;
  }

  Result<ReferenceWeights> a = loadReferenceWeights(single.path().string());
  Result<ReferenceWeights> b = loadReferenceWeights(sharded.path().string());
  ASSERT_TRUE(a && b);
  std::vector<int64_t> tokens{3, 1, 4, 1, 5};
  EXPECT_EQ(*teacherForcedLogits(*a, tokens), *teacherForcedLogits(*b, tokens));
}

TEST(Checkpoint, SingleFileWinsOverAnIndex) {
  TempDir dir;
  TinyLlama model;
  writeCheckpoint(dir.path(), model, randomWeights(model, 3));
  writeBytes(dir.path() / "model.safetensors.index.json", "not even JSON");
  Result<Checkpoint> checkpoint = Checkpoint::open(dir.path().string());
  ASSERT_TRUE(checkpoint) << checkpoint.error().render();
  EXPECT_EQ(checkpoint->weightsFile(), dir / "model.safetensors");
}

TEST(Checkpoint, TiedEmbeddingsServeAsTheOutputProjection) {
  TempDir dir;
  TinyLlama model;
  model.tied = true;
  Weights weights = randomWeights(model, 4);
  writeCheckpoint(dir.path(), model, weights);
  Result<Checkpoint> checkpoint = Checkpoint::open(dir.path().string());
  ASSERT_TRUE(checkpoint);
  Result<LlamaTensors> tensors = bindLlama(*checkpoint);
  ASSERT_TRUE(tensors) << tensors.error().render();
  EXPECT_TRUE(tensors->tied);
  EXPECT_EQ(tensors->lmHead.name(), "model.embed_tokens.weight");
  EXPECT_TRUE(tensors->unused.empty());

  // A stored lm_head.weight is ignored when tied, as transformers ties over it; it is reported unused.
  TempDir stored;
  Weights withHead = weights;
  withHead["lm_head.weight"] = std::vector<float>(static_cast<size_t>(model.vocab * model.hidden), 7.0f);
  writeCheckpoint(stored.path(), model, withHead);
  Result<Checkpoint> second = Checkpoint::open(stored.path().string());
  ASSERT_TRUE(second);
  Result<LlamaTensors> bound = bindLlama(*second);
  ASSERT_TRUE(bound);
  EXPECT_EQ(bound->lmHead.name(), "model.embed_tokens.weight");
  EXPECT_EQ(bound->unused, (std::vector<std::string>{"lm_head.weight"}));

  Result<ReferenceWeights> a = loadReferenceWeights(dir.path().string());
  Result<ReferenceWeights> b = loadReferenceWeights(stored.path().string());
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->lmHead.empty());
  EXPECT_EQ(&a->outputProjection(), &a->embed);
  std::vector<int64_t> tokens{5, 6, 7};
  EXPECT_EQ(*teacherForcedLogits(*a, tokens), *teacherForcedLogits(*b, tokens));
}

TEST(Checkpoint, Bf16AndF16WeightsWidenExactly) {
  TempDir dir;
  TinyLlama model;
  Weights weights = randomWeights(model, 5);
  writeCheckpoint(dir.path(), model, weights);
  // Replace the final norm by bf16 and the embedding by f16 tensors; the rest stays f32.
  std::vector<TensorSpec> tensors;
  std::vector<uint16_t> normBits, embedBits;
  std::vector<float> normValues, embedValues;
  for (size_t i = 0; i < static_cast<size_t>(model.hidden); ++i) {
    normBits.push_back(static_cast<uint16_t>(0x3f80 + i)); // 1, 1 + 2^-7, ...
    normValues.push_back(1.0f + static_cast<float>(i) / 128.0f);
  }
  for (size_t i = 0; i < static_cast<size_t>(model.vocab * model.hidden); ++i) {
    uint16_t bits = static_cast<uint16_t>((i * 2654435761u) & 0x7bff); // finite f16 patterns, both signs
    bits = static_cast<uint16_t>(bits | ((i & 1) << 15));
    embedBits.push_back(bits);
    int exponent = (bits >> 10) & 0x1f, fraction = bits & 0x3ff;
    float magnitude = exponent ? std::ldexp(float(1024 + fraction), exponent - 25) : std::ldexp(float(fraction), -24);
    embedValues.push_back((bits & 0x8000) ? -magnitude : magnitude);
  }
  for (const auto &[name, values] : weights) {
    if (name == "model.norm.weight")
      tensors.push_back({name, "BF16", {model.hidden}, u16Bytes(normBits)});
    else if (name == "model.embed_tokens.weight")
      tensors.push_back({name, "F16", {model.vocab, model.hidden}, u16Bytes(embedBits)});
    else
      tensors.push_back({name, "F32", shapeOf(model, name), f32Bytes(values)});
  }
  writeBytes(dir.path() / "model.safetensors", safetensorsBytes(tensors));
  Result<ReferenceWeights> loaded = loadReferenceWeights(dir.path().string());
  ASSERT_TRUE(loaded) << loaded.error().render();
  EXPECT_EQ(loaded->finalNorm, normValues);
  EXPECT_EQ(loaded->embed, embedValues);
}

TEST(Checkpoint, BadDirectories) {
  TempDir dir;
  EXPECT_EQ(errorOf(dir / "absent"), dir / "absent" + ": error: no such directory");
  writeBytes(dir.path() / "file", "x");
  EXPECT_EQ(errorOf(dir / "file"), dir / "file" +
                                       ": error: not a directory; a checkpoint is a directory holding config.json and "
                                       "model.safetensors (or model.safetensors.index.json and its shards)");
  std::filesystem::create_directories(dir.path() / "empty");
  EXPECT_EQ(errorOf(dir / "empty"),
            dir / "empty/config.json" + ": error: no such file; a checkpoint directory holds the model's config.json");
  TinyLlama model;
  writeBytes(dir.path() / "noweights/config.json", model.configJson());
  EXPECT_EQ(errorOf(dir / "noweights"), dir / "noweights" +
                                            ": error: no model.safetensors or model.safetensors.index.json (only "
                                            "safetensors checkpoints are read, not pytorch_model.bin)");
}

TEST(Checkpoint, BadConfigShowsItsDiagnostics) {
  TempDir dir;
  writeBytes(dir.path() / "config.json", R"({"model_type": "llama", "hidden_act": "gelu"})");
  Result<Checkpoint> checkpoint = Checkpoint::open(dir.path().string());
  ASSERT_FALSE(checkpoint);
  EXPECT_EQ(checkpoint.error().file, dir / "config.json");
  EXPECT_EQ(checkpoint.error().message, "not a usable LlamaForCausalLM config");
  EXPECT_NE(checkpoint.error().detail.find("unsupported hidden_act \"gelu\""), std::string::npos)
      << checkpoint.error().detail;
}

// A number beyond a double makes nlohmann throw out_of_range rather than report a parse error; the
// config reader and the index reader turn it into an error value (found by fuzz-safetensors-header).
TEST(Checkpoint, ConfigNumberOutOfRangeIsAnError) {
  TempDir dir;
  writeBytes(dir.path() / "config.json", R"({"model_type": "llama", "hidden_size": 1e400})");
  const std::string config = errorOf(dir.path().string());
  EXPECT_EQ(config.rfind(dir / "config.json" + ": error: not a usable LlamaForCausalLM config\n", 0), 0u) << config;
  EXPECT_NE(config.find("invalid JSON: number overflow parsing '1e400' [AMK-M001]"), std::string::npos) << config;
  TinyLlama model;
  writeCheckpoint(dir.path() / "indexed", model, randomWeights(model, 8), 2);
  writeBytes(dir.path() / "indexed" / "model.safetensors.index.json", R"({"weight_map": {}, "total": 1e400})");
  EXPECT_EQ(errorOf(dir / "indexed"),
            dir / "indexed/model.safetensors.index.json" + ": error: not valid JSON: a number is out of range");
}

TEST(Checkpoint, MissingWrongShapeAndWrongDtypeTensors) {
  TinyLlama model;
  Weights weights = randomWeights(model, 6);
  {
    TempDir dir;
    Weights w = weights;
    w.erase("model.layers.1.mlp.up_proj.weight");
    writeCheckpoint(dir.path(), model, w);
    EXPECT_EQ(bindErrorOf(dir.path().string()),
              dir / "model.safetensors" + ": error: missing tensor 'model.layers.1.mlp.up_proj.weight'");
  }
  {
    TempDir dir;
    Weights w = weights;
    w.erase("lm_head.weight");
    writeCheckpoint(dir.path(), model, w);
    EXPECT_EQ(bindErrorOf(dir.path().string()),
              dir / "model.safetensors" + ": error: missing tensor 'lm_head.weight' (tie_word_embeddings is false, "
                                          "so the output projection must be stored)");
  }
  {
    // A k_proj of MHA shape in a GQA config (2 KV heads of 8).
    TempDir dir;
    std::vector<TensorSpec> tensors;
    for (const auto &[name, values] : weights)
      if (name == "model.layers.0.self_attn.k_proj.weight")
        tensors.push_back({name, "F32", {32, 32}, f32Bytes(std::vector<float>(32 * 32))});
      else
        tensors.push_back({name, "F32", shapeOf(model, name), f32Bytes(values)});
    writeBytes(dir.path() / "config.json", model.configJson());
    writeBytes(dir.path() / "model.safetensors", safetensorsBytes(tensors));
    EXPECT_EQ(bindErrorOf(dir.path().string()),
              dir / "model.safetensors" + ": error: tensor 'model.layers.0.self_attn.k_proj.weight' is f32[32, 32] "
                                          "but the config implies [16, 32] (num_key_value_heads * head_dim, "
                                          "hidden_size)");
  }
  {
    TempDir dir;
    std::vector<TensorSpec> tensors;
    for (const auto &[name, values] : weights)
      if (name == "model.norm.weight")
        tensors.push_back({name, "I32", {32}, std::string(128, '\0')});
      else
        tensors.push_back({name, "F32", shapeOf(model, name), f32Bytes(values)});
    writeBytes(dir.path() / "config.json", model.configJson());
    writeBytes(dir.path() / "model.safetensors", safetensorsBytes(tensors));
    EXPECT_EQ(bindErrorOf(dir.path().string()),
              dir / "model.safetensors" + ": error: tensor 'model.norm.weight' has dtype I32; weights must be BF16, "
                                          "F16 or F32");
  }
}

TEST(Checkpoint, BadWeightIndexes) {
  TinyLlama model;
  Weights weights = randomWeights(model, 7);
  auto withIndex = [&](const TempDir &dir, const std::string &index) {
    writeCheckpoint(dir.path(), model, weights, 2);
    writeBytes(dir.path() / "model.safetensors.index.json", index);
    return errorOf(dir.path().string());
  };
  {
    TempDir dir;
    EXPECT_EQ(withIndex(dir, "{\"weight_map\": "),
              dir / "model.safetensors.index.json" + ": error: not valid JSON at byte 15");
  }
  {
    TempDir dir;
    EXPECT_EQ(withIndex(dir, R"({"metadata": {}})"),
              dir / "model.safetensors.index.json" +
                  ": error: 'weight_map' must be an object mapping tensor names to shard files");
  }
  {
    TempDir dir;
    EXPECT_EQ(withIndex(dir, R"({"weight_map": {"model.norm.weight": 3}})"),
              dir / "model.safetensors.index.json" +
                  ": error: weight_map entry 'model.norm.weight' must be a shard file name, found number");
  }
  {
    TempDir dir;
    EXPECT_EQ(withIndex(dir, R"({"weight_map": {"model.norm.weight": "../model-00001-of-00002.safetensors"}})"),
              dir / "model.safetensors.index.json" +
                  ": error: weight_map puts tensor 'model.norm.weight' in '../model-00001-of-00002.safetensors', "
                  "which is not a file name in the checkpoint directory");
  }
  {
    TempDir dir;
    EXPECT_EQ(withIndex(dir, R"({"weight_map": {"model.norm.weight": "model-00009-of-00009.safetensors"}})"),
              dir / "model-00009-of-00009.safetensors" + ": error: cannot open the file (No such file or directory)");
  }
  {
    TempDir dir;
    EXPECT_EQ(withIndex(dir, R"({"weight_map": {"model.norm.weight": "model-00001-of-00002.safetensors",
                                                "model.layers.9.mlp.up_proj.weight":
                                                    "model-00001-of-00002.safetensors"}})"),
              dir / "model.safetensors.index.json" +
                  ": error: weight_map puts tensor 'model.layers.9.mlp.up_proj.weight' in "
                  "'model-00001-of-00002.safetensors', which holds no such tensor");
  }
  {
    // A shard that is itself malformed: its own error, naming the shard.
    TempDir dir;
    writeCheckpoint(dir.path(), model, weights, 2);
    writeBytes(dir.path() / "model-00002-of-00002.safetensors", "short");
    EXPECT_EQ(errorOf(dir.path().string()),
              dir / "model-00002-of-00002.safetensors" +
                  ": error: file is 5 bytes, shorter than the 8-byte header length (truncated file?)");
  }
}

} // namespace
} // namespace amk::test
