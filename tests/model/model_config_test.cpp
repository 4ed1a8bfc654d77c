// config.json reading as a specification: HF LlamaConfig's defaults, both RoPE forms, GQA and MHA,
// tied and untied embeddings, every zoo model at its published shape, and a refusal naming the field
// and value for everything decode does not implement.
#include "amk/model/model_config.h"

#include <gtest/gtest.h>

#include <string>

namespace amk::model {
namespace {

Result<ModelConfig> parse(const std::string &json) { return parseModelConfig("config.json", json, "test"); }

const char *kBase = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
  "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 256,
  "torch_dtype": "bfloat16")";

std::string with(const std::string &extra) { return std::string(kBase) + (extra.empty() ? "" : ", " + extra) + "}"; }

TEST(ModelConfig, HfDefaultsForAbsentFields) {
  Result<ModelConfig> r = parse(with(""));
  ASSERT_TRUE(r.ok()) << r.error().render();
  const ModelConfig &c = *r;
  EXPECT_EQ(c.numKvHeads, 4) << "absent num_key_value_heads means MHA";
  EXPECT_EQ(c.headDim, 16) << "absent head_dim is hidden_size / num_attention_heads";
  EXPECT_DOUBLE_EQ(c.rmsNormEps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
  EXPECT_EQ(c.rope.scaling, RopeScaling::None);
  EXPECT_FALSE(c.tieWordEmbeddings);
  EXPECT_EQ(c.maxPositionEmbeddings, 2048);
  EXPECT_EQ(c.dtype, ir::ast::DType::BF16);
}

TEST(ModelConfig, GroupedQueryAttentionAndExplicitHeadDim) {
  Result<ModelConfig> r = parse(with(R"("num_key_value_heads": 2, "head_dim": 32, "tie_word_embeddings": true)"));
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_EQ(r->numKvHeads, 2);
  EXPECT_EQ(r->groupSize(), 2);
  EXPECT_EQ(r->headDim, 32);
  EXPECT_EQ(r->qSize(), 128);
  EXPECT_EQ(r->kvSize(), 64);
  EXPECT_TRUE(r->tieWordEmbeddings);
}

TEST(ModelConfig, RopeScalingLlama3) {
  Result<ModelConfig> r = parse(with(R"("rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 32.0,
    "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})"));
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_EQ(r->rope.scaling, RopeScaling::Llama3);
  EXPECT_DOUBLE_EQ(r->rope.theta, 500000.0);
  EXPECT_DOUBLE_EQ(r->rope.factor, 32.0);
  EXPECT_EQ(r->rope.originalMaxPosition, 8192);
}

TEST(ModelConfig, RopeParametersFormCarriesTheta) {
  Result<ModelConfig> r =
      parse(with(R"("rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
    "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})"));
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_EQ(r->rope.scaling, RopeScaling::Llama3);
  EXPECT_DOUBLE_EQ(r->rope.theta, 500000.0);
  EXPECT_DOUBLE_EQ(r->rope.factor, 8.0);
  Result<ModelConfig> plain = parse(with(R"("rope_parameters": {"rope_type": "default", "rope_theta": 100000.0})"));
  ASSERT_TRUE(plain.ok()) << plain.error().render();
  EXPECT_EQ(plain->rope.scaling, RopeScaling::None);
  EXPECT_DOUBLE_EQ(plain->rope.theta, 100000.0);
}

TEST(ModelConfig, DtypeKeys) {
  EXPECT_EQ(parse(with(R"("dtype": "float16")"))->dtype, ir::ast::DType::F16) << "dtype wins over torch_dtype";
  Result<ModelConfig> f32 = parse(R"({"hidden_size": 64, "num_attention_heads": 4, "torch_dtype": "float32"})");
  ASSERT_TRUE(f32.ok()) << f32.error().render();
  EXPECT_EQ(f32->dtype, ir::ast::DType::F32);
}

struct Refusal {
  const char *name;
  std::string json;
  const char *message; // must appear in the rendered diagnostics
};

class ModelConfigRefusal : public testing::TestWithParam<Refusal> {};

TEST_P(ModelConfigRefusal, NamesTheFieldAndValue) {
  Result<ModelConfig> r = parse(GetParam().json);
  ASSERT_FALSE(r.ok()) << "expected a refusal";
  std::string text = r.error().render();
  EXPECT_NE(text.find(GetParam().message), std::string::npos) << text;
  EXPECT_NE(text.find("config.json:"), std::string::npos) << "the message names the file: " << text;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ModelConfigRefusal,
    testing::Values(
        Refusal{"Gelu", with(R"("hidden_act": "gelu")"), "unsupported hidden_act \"gelu\" (only silu is implemented)"},
        Refusal{"AttentionBias", with(R"("attention_bias": true)"), "unsupported attention_bias = true"},
        Refusal{"MlpBias", with(R"("mlp_bias": true)"), "unsupported mlp_bias = true"},
        Refusal{"Mistral", with(R"("model_type": "mistral")"), "unsupported model_type \"mistral\""},
        Refusal{"OtherArchitecture", R"({"architectures": ["GPT2LMHeadModel"], "hidden_size": 64})",
                "unsupported architectures [\"GPT2LMHeadModel\"]"},
        Refusal{"YarnScaling", with(R"("rope_scaling": {"rope_type": "yarn", "factor": 4.0})"),
                "unsupported rope_scaling.rope_type \"yarn\""},
        Refusal{"LinearScalingOldKey", with(R"("rope_scaling": {"type": "linear", "factor": 2.0})"),
                "unsupported rope_scaling.rope_type \"linear\""},
        Refusal{"Float8", with(R"("dtype": "float8_e4m3fn")"), "unsupported dtype \"float8_e4m3fn\""},
        Refusal{"KvHeadsNotDividing", with(R"("num_key_value_heads": 3)"),
                "num_attention_heads 4 is not a multiple of num_key_value_heads 3"},
        Refusal{"OddHeadDim", with(R"("head_dim": 15)"), "head_dim 15 must be even"},
        Refusal{"ZeroLayers", with(R"("num_hidden_layers": 0)"), "field 'num_hidden_layers' = 0 is out of range"},
        Refusal{"StringHidden", R"({"hidden_size": "64"})", "field 'hidden_size' must be an integer, found \"64\""},
        Refusal{"NegativeEps", with(R"("rms_norm_eps": -1)"), "field 'rms_norm_eps' = -1 must be a positive"},
        Refusal{"NotAnObject", "[1, 2]", "config.json must hold a JSON object"},
        Refusal{"BadLlama3Factors",
                with(R"("rope_scaling": {"rope_type": "llama3", "low_freq_factor": 4.0, "high_freq_factor": 1.0})"),
                "llama3 RoPE needs high_freq_factor"}),
    [](const testing::TestParamInfo<Refusal> &info) { return std::string(info.param.name); });

TEST(ModelConfig, MalformedJsonIsAnErrorNotACrash) {
  Result<ModelConfig> r = parse("{\"hidden_size\": 64,");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().render().find("config.json"), std::string::npos) << r.error().render();
}

TEST(ModelConfig, NumberBeyondADoubleIsAnErrorNotACrash) {
  Result<ModelConfig> r = parse(with(R"("rms_norm_eps": 1e400)"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().render().find("invalid JSON"), std::string::npos) << r.error().render();
}

TEST(ModelConfig, MissingDirectoryIsAReadError) {
  Result<ModelConfig> r = loadModelConfig("/nonexistent/model");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().render().find("/nonexistent/model"), std::string::npos) << r.error().render();
}

// The zoo at its published shapes (models/README.md).
struct ZooModel {
  const char *folder;
  int64_t hidden, intermediate, layers, heads, kvHeads, vocab;
  bool tied;
  double theta;
  bool llama3;
};

class Zoo : public testing::TestWithParam<ZooModel> {};

TEST_P(Zoo, PublishedShape) {
  const ZooModel &z = GetParam();
  Result<ModelConfig> r = loadModelConfig(std::string(AMK_SOURCE_DIR) + "/models/" + z.folder);
  ASSERT_TRUE(r.ok()) << r.error().render();
  const ModelConfig &c = *r;
  EXPECT_EQ(c.hiddenSize, z.hidden);
  EXPECT_EQ(c.intermediateSize, z.intermediate);
  EXPECT_EQ(c.numLayers, z.layers);
  EXPECT_EQ(c.numHeads, z.heads);
  EXPECT_EQ(c.numKvHeads, z.kvHeads);
  EXPECT_EQ(c.vocabSize, z.vocab);
  EXPECT_EQ(c.tieWordEmbeddings, z.tied);
  EXPECT_DOUBLE_EQ(c.rope.theta, z.theta);
  EXPECT_EQ(c.rope.scaling == RopeScaling::Llama3, z.llama3);
}

INSTANTIATE_TEST_SUITE_P(Models, Zoo,
                         testing::Values(ZooModel{"smollm2-135m", 576, 1536, 30, 9, 3, 49152, true, 1e5, false},
                                         ZooModel{"smollm2-360m", 960, 2560, 32, 15, 5, 49152, true, 1e5, false},
                                         ZooModel{"smollm2-1.7b", 2048, 8192, 24, 32, 32, 49152, true, 1.3e5, false},
                                         ZooModel{"tinyllama-1.1b", 2048, 5632, 22, 32, 4, 32000, false, 1e4, false},
                                         ZooModel{"llama-3.2-1b", 2048, 8192, 16, 32, 8, 128256, true, 5e5, true},
                                         ZooModel{"llama-3.2-3b", 3072, 8192, 28, 24, 8, 128256, true, 5e5, true},
                                         ZooModel{"llama-2-7b", 4096, 11008, 32, 32, 32, 32000, false, 1e4, false},
                                         ZooModel{"llama-3.1-8b", 4096, 14336, 32, 32, 8, 128256, false, 5e5, true},
                                         ZooModel{"open-llama-3b-v2", 3200, 8640, 26, 32, 32, 32000, false, 1e4, false},
                                         ZooModel{"llama-68m", 768, 3072, 2, 12, 12, 32000, false, 1e4, false}),
                         [](const testing::TestParamInfo<ZooModel> &info) {
                           std::string name = info.param.folder;
                           for (char &ch : name)
                             if (!isalnum(static_cast<unsigned char>(ch)))
                               ch = '_';
                           return name;
                         });

} // namespace
} // namespace amk::model
