// The reference forward pass against computations written independently in this file: position 0 by
// hand (attention returns v there), and a whole-sequence forward in double with the causal mask
// written out; plus RoPE frequencies branch by branch, GQA as MHA with repeated KV heads, the KV
// cache's rewind, greedy decoding against recomputation, and the bf16 rounding mode.
#include "amk/model/numeric.h"
#include "amk/model/reference.h"
#include "checkpoint_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <limits>
#include <numbers>

namespace amk::test {
namespace {

using namespace amk::model;
using Vector = std::vector<double>;

ReferenceWeights load(const TinyLlama &model, const Weights &weights, const TempDir &dir) {
  writeCheckpoint(dir.path(), model, weights);
  Result<ReferenceWeights> loaded = loadReferenceWeights(dir.path().string());
  EXPECT_TRUE(loaded) << loaded.error().render();
  return loaded ? std::move(*loaded) : ReferenceWeights{};
}

Vector matvec(const std::vector<float> &w, const Vector &x) {
  Vector y(w.size() / x.size(), 0.0);
  for (size_t r = 0; r < y.size(); ++r)
    for (size_t k = 0; k < x.size(); ++k)
      y[r] += double(w[r * x.size() + k]) * x[k];
  return y;
}

Vector rmsnorm(const Vector &x, const std::vector<float> &w, double eps) {
  double meanSquare = 0;
  for (double v : x)
    meanSquare += v * v / double(x.size());
  Vector y(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    y[i] = double(w[i]) * x[i] / std::sqrt(meanSquare + eps);
  return y;
}

Vector mlp(const TinyLlama &m, const Weights &w, const std::string &p, const Vector &h) {
  Vector n = rmsnorm(h, w.at(p + "post_attention_layernorm.weight"), m.eps);
  Vector gate = matvec(w.at(p + "mlp.gate_proj.weight"), n), up = matvec(w.at(p + "mlp.up_proj.weight"), n);
  Vector act(gate.size());
  for (size_t i = 0; i < gate.size(); ++i)
    act[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
  return matvec(w.at(p + "mlp.down_proj.weight"), act);
}

Vector embedding(const TinyLlama &m, const Weights &w, int64_t token) {
  const std::vector<float> &table = w.at("model.embed_tokens.weight");
  return Vector(table.begin() + token * m.hidden, table.begin() + (token + 1) * m.hidden);
}

Vector logitsOf(const TinyLlama &m, const Weights &w, const Vector &h) {
  return matvec(w.at(m.tied ? "model.embed_tokens.weight" : "lm_head.weight"),
                rmsnorm(h, w.at("model.norm.weight"), m.eps));
}

void add(Vector &h, const Vector &delta) {
  for (size_t i = 0; i < h.size(); ++i)
    h[i] += delta[i];
}

// The frequency of pair j: θ^(−2j/d), then llama3's three wavelength bands (docs/numerics.md), in double.
double frequency(const TinyLlama &m, int64_t j) {
  double f = std::pow(m.theta, -2.0 * double(j) / double(m.headDim()));
  if (!m.llama3)
    return f;
  const double context = 32, low = 1, high = 4, factor = 8;
  double wavelength = 2 * std::numbers::pi / f;
  if (wavelength < context / high)
    return f;
  if (wavelength > context / low)
    return f / factor;
  double t = (context / wavelength - low) / (high - low);
  return (1 - t) * f / factor + t * f;
}

// Rotates each (x[i], x[i + d/2]) of every head by the angle pos * f_i, as a 2-D rotation.
void rotate(const TinyLlama &m, Vector &x, int64_t pos) {
  const int64_t d = m.headDim();
  for (size_t head = 0; head < x.size() / size_t(d); ++head)
    for (int64_t i = 0; i < d / 2; ++i) {
      double angle = double(pos) * frequency(m, i);
      double &a = x[head * size_t(d) + size_t(i)];
      double &b = x[head * size_t(d) + size_t(i + d / 2)];
      double ra = a * std::cos(angle) - b * std::sin(angle), rb = b * std::cos(angle) + a * std::sin(angle);
      a = ra;
      b = rb;
    }
}

// The whole sequence at once, in double, no cache: every position's K and V computed first, then each
// position t attends to positions 0..t. Query head h reads KV head floor(h * kv_heads / heads).
std::vector<Vector> naiveLogits(const TinyLlama &m, const Weights &w, const std::vector<int64_t> &tokens) {
  const size_t T = tokens.size();
  const size_t d = size_t(m.headDim());
  std::vector<Vector> h(T);
  for (size_t t = 0; t < T; ++t)
    h[t] = embedding(m, w, tokens[t]);
  for (int64_t l = 0; l < m.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    std::vector<Vector> q(T), k(T), v(T);
    for (size_t t = 0; t < T; ++t) {
      Vector n = rmsnorm(h[t], w.at(p + "input_layernorm.weight"), m.eps);
      q[t] = matvec(w.at(p + "self_attn.q_proj.weight"), n);
      k[t] = matvec(w.at(p + "self_attn.k_proj.weight"), n);
      v[t] = matvec(w.at(p + "self_attn.v_proj.weight"), n);
      rotate(m, q[t], int64_t(t));
      rotate(m, k[t], int64_t(t));
    }
    for (size_t t = 0; t < T; ++t) {
      Vector attended(size_t(m.heads) * d, 0.0);
      for (int64_t head = 0; head < m.heads; ++head) {
        size_t kvHead = size_t(head * m.kvHeads / m.heads);
        Vector weights(T, 0.0); // masked positions keep weight 0
        double total = 0;
        for (size_t s = 0; s <= t; ++s) {
          double dot = 0;
          for (size_t i = 0; i < d; ++i)
            dot += q[t][size_t(head) * d + i] * k[s][kvHead * d + i];
          weights[s] = std::exp(dot / std::sqrt(double(d)));
          total += weights[s];
        }
        for (size_t s = 0; s < T; ++s)
          for (size_t i = 0; i < d; ++i)
            attended[size_t(head) * d + i] += weights[s] / total * v[s][kvHead * d + i];
      }
      add(h[t], matvec(w.at(p + "self_attn.o_proj.weight"), attended));
      add(h[t], mlp(m, w, p, h[t]));
    }
  }
  std::vector<Vector> logits;
  for (size_t t = 0; t < T; ++t)
    logits.push_back(logitsOf(m, w, h[t]));
  return logits;
}

template <class A, class B> Comparison compareAll(const std::vector<A> &actual, const std::vector<B> &expected) {
  std::vector<double> a, b;
  for (const auto &row : actual)
    a.insert(a.end(), row.begin(), row.end());
  for (const auto &row : expected)
    b.insert(b.end(), row.begin(), row.end());
  return compare(a, b);
}

// At position 0 the softmax has one entry, so attention returns v: the logits follow from the
// embedding, v_proj, o_proj, the MLP and the norms alone, whatever q_proj and k_proj hold.
TEST(Reference, PositionZeroByHand) {
  TinyLlama m;
  m.layers = 1;
  Weights w = randomWeights(m, 11);
  for (float &x : w["model.layers.0.self_attn.q_proj.weight"])
    x *= 1000.0f;
  TempDir dir;
  ReferenceWeights weights = load(m, w, dir);

  const int64_t token = 17;
  Vector h = embedding(m, w, token);
  Vector v = matvec(w.at("model.layers.0.self_attn.v_proj.weight"),
                    rmsnorm(h, w.at("model.layers.0.input_layernorm.weight"), m.eps));
  Vector attended; // query heads 0 and 1 read KV head 0; heads 2 and 3 read KV head 1
  for (int64_t head = 0; head < m.heads; ++head) {
    size_t kvHead = size_t(head / (m.heads / m.kvHeads));
    attended.insert(attended.end(), v.begin() + long(kvHead * size_t(m.headDim())),
                    v.begin() + long((kvHead + 1) * size_t(m.headDim())));
  }
  add(h, matvec(w.at("model.layers.0.self_attn.o_proj.weight"), attended));
  add(h, mlp(m, w, "model.layers.0.", h));
  Vector expected = logitsOf(m, w, h);

  ReferenceModel model(weights);
  Result<std::vector<float>> logits = model.forward(token, 0);
  ASSERT_TRUE(logits) << logits.error().render();
  Comparison c = compare(*logits, expected);
  std::cout << "position 0 by hand, 1 layer: logits[" << expected.size() << "] max |a-b| " << c.maxAbsDiff
            << ", max |b| " << c.maxAbsExpected << ", relative " << c.relative() << " (tolerance 1e-5)\n";
  EXPECT_LE(c.relative(), 1e-5);
}

struct SequenceCase {
  const char *name;
  TinyLlama model;
};

std::vector<SequenceCase> sequenceCases() {
  TinyLlama gqa;
  TinyLlama llama3;
  llama3.llama3 = true;
  llama3.theta = 500000.0;
  TinyLlama mhaTied;
  mhaTied.kvHeads = 4;
  mhaTied.tied = true;
  mhaTied.layers = 3;
  TinyLlama wideHeads; // head_dim 16, one KV head for all four query heads
  wideHeads.hidden = 64;
  wideHeads.kvHeads = 1;
  return {{"gqa", gqa}, {"llama3 rope", llama3}, {"mha tied, 3 layers", mhaTied}, {"mqa, head_dim 16", wideHeads}};
}

TEST(Reference, TeacherForcedLogitsMatchAWholeSequenceComputationInDouble) {
  const std::vector<int64_t> tokens{1, 17, 5, 39, 0, 22, 22, 8, 30, 3, 11, 2};
  uint32_t seed = 20;
  for (const SequenceCase &c : sequenceCases()) {
    Weights w = randomWeights(c.model, seed++);
    TempDir dir;
    ReferenceWeights weights = load(c.model, w, dir);
    Result<std::vector<std::vector<float>>> logits = teacherForcedLogits(weights, tokens);
    ASSERT_TRUE(logits) << logits.error().render();
    Comparison cmp = compareAll(*logits, naiveLogits(c.model, w, tokens));
    std::cout << c.name << ": teacher-forced logits [" << tokens.size() << " x " << c.model.vocab
              << "] vs the double-precision whole-sequence forward: max |a-b| " << cmp.maxAbsDiff << ", max |b| "
              << cmp.maxAbsExpected << ", relative " << cmp.relative() << " (tolerance 1e-5)\n";
    EXPECT_LE(cmp.relative(), 1e-5) << c.name;
  }
}

TEST(Reference, RopeFrequenciesDefault) {
  model::RopeConfig rope;
  rope.theta = 10000.0;
  std::vector<float> f = ropeInverseFrequencies(rope, 8);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_FLOAT_EQ(f[0], 1.0f);
  EXPECT_FLOAT_EQ(f[1], 0.1f);
  EXPECT_FLOAT_EQ(f[2], 0.01f);
  EXPECT_FLOAT_EQ(f[3], 0.001f);
}

// tiny-llama3-untied's setting: θ 5e5, head_dim 16, factor 8, low 1, high 4, original context 64, so
// wavelengths below 16 are kept, above 64 slowed 8×, and in between blended.
TEST(Reference, RopeFrequenciesLlama3EachBand) {
  model::RopeConfig rope;
  rope.theta = 500000.0;
  rope.scaling = model::RopeScaling::Llama3;
  rope.factor = 8;
  rope.lowFreqFactor = 1;
  rope.highFreqFactor = 4;
  rope.originalMaxPosition = 64;
  std::vector<float> f = ropeInverseFrequencies(rope, 16);
  ASSERT_EQ(f.size(), 8u);
  auto unscaled = [](int j) { return std::pow(500000.0, -2.0 * j / 16.0); };
  EXPECT_LT(2 * std::numbers::pi / unscaled(0), 16.0);
  EXPECT_FLOAT_EQ(f[0], 1.0f); // kept
  double wavelength1 = 2 * std::numbers::pi / unscaled(1);
  ASSERT_GT(wavelength1, 16.0);
  ASSERT_LT(wavelength1, 64.0);
  double t = (64.0 / wavelength1 - 1.0) / 3.0;
  EXPECT_NEAR(f[1], (1 - t) * unscaled(1) / 8 + t * unscaled(1), 1e-6 * unscaled(1)); // blended
  for (int j = 2; j < 8; ++j) {
    EXPECT_GT(2 * std::numbers::pi / unscaled(j), 64.0);
    EXPECT_NEAR(f[size_t(j)], unscaled(j) / 8, 1e-6 * unscaled(j)) << "j " << j; // slowed
  }
}

// GQA is MHA whose KV heads repeat: query heads 2i and 2i+1 read KV head i.
TEST(Reference, GroupedQueryAttentionIsMhaWithRepeatedKvHeads) {
  TinyLlama gqa;
  TinyLlama mha = gqa;
  mha.kvHeads = gqa.heads;
  Weights w = randomWeights(gqa, 30);
  Weights repeated = w;
  const size_t rowsPerHead = size_t(gqa.headDim()) * size_t(gqa.hidden);
  for (int64_t l = 0; l < gqa.layers; ++l)
    for (const char *which : {"k_proj", "v_proj"}) {
      const std::string name = "model.layers." + std::to_string(l) + ".self_attn." + which + ".weight";
      std::vector<float> expanded;
      for (int64_t head = 0; head < mha.kvHeads; ++head) {
        size_t kvHead = size_t(head / (gqa.heads / gqa.kvHeads));
        expanded.insert(expanded.end(), w[name].begin() + long(kvHead * rowsPerHead),
                        w[name].begin() + long((kvHead + 1) * rowsPerHead));
      }
      repeated[name] = expanded;
    }
  TempDir a, b;
  ReferenceWeights gqaWeights = load(gqa, w, a);
  ReferenceWeights mhaWeights = load(mha, repeated, b);
  std::vector<int64_t> tokens{4, 8, 15, 16, 23, 39};
  EXPECT_EQ(*teacherForcedLogits(gqaWeights, tokens), *teacherForcedLogits(mhaWeights, tokens));
}

TEST(Reference, TiedIsUntiedWithTheEmbeddingAsLmHead) {
  TinyLlama tied;
  tied.tied = true;
  TinyLlama untied;
  Weights w = randomWeights(tied, 31);
  Weights withHead = w;
  withHead["lm_head.weight"] = w["model.embed_tokens.weight"];
  TempDir a, b;
  ReferenceWeights tiedWeights = load(tied, w, a);
  ReferenceWeights untiedWeights = load(untied, withHead, b);
  std::vector<int64_t> tokens{9, 9, 1, 0};
  EXPECT_EQ(*teacherForcedLogits(tiedWeights, tokens), *teacherForcedLogits(untiedWeights, tokens));
}

TEST(Reference, RewindingTheCacheForgetsLaterPositions) {
  TinyLlama m;
  TempDir dir;
  ReferenceWeights weights = load(m, randomWeights(m, 32), dir);
  ReferenceModel model(weights);
  for (int64_t pos = 0; pos < 4; ++pos)
    ASSERT_TRUE(model.forward(10 + pos, pos));
  EXPECT_EQ(model.length(), 4);
  Result<std::vector<float>> rewound = model.forward(33, 1);
  ASSERT_TRUE(rewound);
  EXPECT_EQ(model.length(), 2);
  std::vector<int64_t> fresh{10, 33};
  EXPECT_EQ(*rewound, teacherForcedLogits(weights, fresh)->back());

  Result<std::vector<float>> skipped = model.forward(1, 5);
  ASSERT_FALSE(skipped);
  EXPECT_EQ(skipped.error().render(),
            "error: position 5 is not next: the KV cache holds positions 0..1, so the next position is 2");
  Result<std::vector<float>> badToken = model.forward(40, 2);
  ASSERT_FALSE(badToken);
  EXPECT_EQ(badToken.error().message, "token 40 is out of range (vocab_size 40)");
  EXPECT_FALSE(model.forward(-1, 2));
  model.reset();
  EXPECT_EQ(model.length(), 0);
  EXPECT_EQ(model.forward(1, 1).error().message,
            "position 1 is not next: the KV cache is empty, so the next position is 0");
}

TEST(Reference, GreedyDecodingAgreesWithRecomputingEveryPrefix) {
  TinyLlama m;
  m.llama3 = true;
  TempDir dir;
  ReferenceWeights weights = load(m, randomWeights(m, 33), dir);
  std::vector<int64_t> prompt{1, 2, 3};
  Result<Generation> generation = greedyGenerate(weights, prompt, 10);
  ASSERT_TRUE(generation) << generation.error().render();
  ASSERT_EQ(generation->tokens.size(), 10u);
  EXPECT_EQ(generation->stepSeconds.size(), 10u);
  std::vector<int64_t> sequence = prompt;
  for (int64_t token : generation->tokens) {
    std::vector<float> last = teacherForcedLogits(weights, sequence)->back();
    EXPECT_EQ(token, argmax(last));
    sequence.push_back(argmax(last));
  }
  EXPECT_TRUE(greedyGenerate(weights, prompt, 0)->tokens.empty());
  EXPECT_EQ(greedyGenerate(weights, std::vector<int64_t>{}, 3).error().message,
            "the prompt is empty; greedy decoding needs at least one token");
}

TEST(Reference, ArgmaxTiesAndNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(argmax(std::vector<float>{1, 3, 3, 2}), 1);
  EXPECT_EQ(argmax(std::vector<float>{nan, 0, nan, -1}), 1);
  EXPECT_EQ(
      argmax(std::vector<float>{-std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}), 0);
  EXPECT_EQ(argmax(std::vector<float>{nan}), -1);
  EXPECT_EQ(argmax(std::vector<float>{}), -1);
}

// With bf16 rounding every stored activation, and so every logit, is a bf16 value; the logits stay
// close to the fp32 ones (bf16 keeps 8 significant bits).
TEST(Reference, Bf16RoundingModeStoresBf16Values) {
  TinyLlama m;
  TempDir dir;
  ReferenceWeights weights = load(m, randomWeights(m, 34), dir);
  std::vector<int64_t> tokens{5, 4, 3, 2, 1};
  ReferenceOptions bf16;
  bf16.roundToBf16 = true;
  auto rounded = teacherForcedLogits(weights, tokens, bf16);
  auto exact = teacherForcedLogits(weights, tokens);
  ASSERT_TRUE(rounded && exact);
  for (const std::vector<float> &row : *rounded)
    for (float x : row)
      ASSERT_EQ(roundToBf16(x), x);
  Comparison c = compareAll(*rounded, *exact);
  std::cout << "bf16 rounding vs fp32: relative " << c.relative() << " (tolerance 5e-2)\n";
  EXPECT_LE(c.relative(), 5e-2);
  EXPECT_GT(c.maxAbsDiff, 0.0);
}

} // namespace
} // namespace amk::test
