// The reference forward pass, one token at a time, in the order of HF's LlamaForCausalLM: embedding;
// per layer RMSNorm, q/k/v projections, rotate-half RoPE, KV cache, grouped-query attention, o_proj
// and residual, RMSNorm, SiLU-gated MLP and residual; final RMSNorm and the output projection.
#include "amk/model/reference.h"

#include "amk/model/numeric.h"
#include "amk/model/numeric.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>

namespace amk::model {

namespace {

Result<std::vector<float>> widen(const TensorView &tensor, std::vector<float> &out) {
  Result<std::vector<float>> values = toFloat32(tensor);
  if (values)
    out = std::move(*values);
  return values;
}

} // namespace

Result<ReferenceWeights> loadReferenceWeights(const Checkpoint &checkpoint) {
  Result<LlamaTensors> tensors = bindLlama(checkpoint);
  if (!tensors)
    return tensors.error();
  ReferenceWeights weights;
  weights.config = checkpoint.config();
  std::vector<std::pair<const TensorView *, std::vector<float> *>> todo;
  todo.emplace_back(&tensors->embed, &weights.embed);
  weights.layers.resize(tensors->layers.size());
  for (size_t i = 0; i < tensors->layers.size(); ++i) {
    const LlamaLayerTensors &from = tensors->layers[i];
    ReferenceWeights::Layer &to = weights.layers[i];
    for (auto [view, vector] :
         {std::pair{&from.inputNorm, &to.inputNorm}, std::pair{&from.q, &to.q}, std::pair{&from.k, &to.k},
          std::pair{&from.v, &to.v}, std::pair{&from.o, &to.o}, std::pair{&from.postNorm, &to.postNorm},
          std::pair{&from.gate, &to.gate}, std::pair{&from.up, &to.up}, std::pair{&from.down, &to.down}})
      todo.emplace_back(view, vector);
  }
  todo.emplace_back(&tensors->finalNorm, &weights.finalNorm);
  if (!tensors->tied)
    todo.emplace_back(&tensors->lmHead, &weights.lmHead);
  for (auto [view, vector] : todo) {
    Result<std::vector<float>> widened = widen(*view, *vector);
    if (!widened)
      return widened.error();
  }
  return weights;
}

void quantiseProjections(ReferenceWeights &weights, ir::ast::DType scaleType) {
  const int64_t columns = weights.config.hiddenSize;
  auto dequantise = [&](std::vector<float> &matrix, int64_t matrixColumns) {
    const int64_t rows = static_cast<int64_t>(matrix.size()) / matrixColumns;
    QuantisedRows q = quantiseRows(matrix, rows, matrixColumns, scaleType);
    for (size_t i = 0; i < matrix.size(); ++i)
      matrix[i] = static_cast<float>(q.values[i]) * q.scales[i / static_cast<size_t>(matrixColumns)];
  };
  for (ReferenceWeights::Layer &layer : weights.layers) {
    for (std::vector<float> *m : {&layer.q, &layer.k, &layer.v, &layer.gate, &layer.up})
      dequantise(*m, columns);
    dequantise(layer.o, weights.config.qSize());
    dequantise(layer.down, weights.config.intermediateSize);
  }
  if (weights.lmHead.empty())
    weights.lmHead = weights.embed;
  dequantise(weights.lmHead, columns);
}

Result<ReferenceWeights> loadReferenceWeights(const std::string &directory) {
  Result<Checkpoint> checkpoint = Checkpoint::open(directory);
  if (!checkpoint)
    return checkpoint.error();
  return loadReferenceWeights(*checkpoint);
}

// Each step is an fp32 tensor op in transformers (python scalars become fp32 operands), and
// `scalar / tensor` is evaluated there as reciprocal(tensor) * scalar; the same order here gives the
// same frequencies to the last bit in most cases.
std::vector<float> ropeInverseFrequencies(const model::RopeConfig &rope, int64_t headDim) {
  const float theta = static_cast<float>(rope.theta);
  std::vector<float> frequencies(static_cast<size_t>(headDim / 2));
  for (int64_t j = 0; j < headDim / 2; ++j) {
    float exponent = static_cast<float>(2 * j) / static_cast<float>(headDim);
    frequencies[static_cast<size_t>(j)] = 1.0f / ::powf(theta, exponent);
  }
  if (rope.scaling != model::RopeScaling::Llama3)
    return frequencies;

  const float factor = static_cast<float>(rope.factor);
  const float low = static_cast<float>(rope.lowFreqFactor);
  const float context = static_cast<float>(rope.originalMaxPosition);
  const float lowFreqWavelength =
      static_cast<float>(static_cast<double>(rope.originalMaxPosition) / rope.lowFreqFactor);
  const float highFreqWavelength =
      static_cast<float>(static_cast<double>(rope.originalMaxPosition) / rope.highFreqFactor);
  const float twoPi = static_cast<float>(2 * std::numbers::pi);
  const float highMinusLow = static_cast<float>(rope.highFreqFactor - rope.lowFreqFactor);
  for (float &f : frequencies) {
    const float wavelength = (1.0f / f) * twoPi;
    if (wavelength < highFreqWavelength)
      continue; // high frequency: kept
    if (wavelength > lowFreqWavelength) {
      f = f / factor; // low frequency: slowed down by the factor
      continue;
    }
    const float smooth = ((1.0f / wavelength) * context - low) / highMinusLow;
    f = (1.0f - smooth) * f / factor + smooth * f;
  }
  return frequencies;
}

int64_t argmax(std::span<const float> values) {
  int64_t best = -1;
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i]))
      continue;
    if (best < 0 || values[i] > values[static_cast<size_t>(best)])
      best = static_cast<int64_t>(i);
  }
  return best;
}

ReferenceModel::ReferenceModel(const ReferenceWeights &weights, ReferenceOptions options)
    : weights_(weights), config_(weights.config), options_(options),
      inverseFrequencies_(ropeInverseFrequencies(weights.config.rope, weights.config.headDim)),
      keyCache_(static_cast<size_t>(weights.config.numLayers)),
      valueCache_(static_cast<size_t>(weights.config.numLayers)) {}

float ReferenceModel::round(float value) const { return options_.roundToBf16 ? roundToBf16(value) : value; }

// HF: weight * (x * rsqrt(mean(x²) + eps)).to(input dtype); the normalised value is rounded to the
// activation dtype before the weight multiplies it.
std::vector<float> ReferenceModel::rmsnorm(const std::vector<float> &x, const std::vector<float> &weight) const {
  float sumOfSquares = 0;
  for (float value : x)
    sumOfSquares += value * value;
  const float mean = sumOfSquares / static_cast<float>(x.size());
  const float inverse = 1.0f / std::sqrt(mean + static_cast<float>(config_.rmsNormEps));
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    y[i] = round(weight[i] * round(x[i] * inverse));
  return y;
}

// y[r] = Σ_k W[r, k] x[k], W row-major [rows, x.size()], summed in order in fp32.
std::vector<float> ReferenceModel::matvec(const std::vector<float> &weight, const std::vector<float> &x,
                                          int64_t rows) const {
  const size_t columns = x.size();
  std::vector<float> y(static_cast<size_t>(rows));
  for (size_t r = 0; r < y.size(); ++r) {
    const float *row = weight.data() + r * columns;
    float sum = 0;
    for (size_t k = 0; k < columns; ++k)
      sum += row[k] * x[k];
    y[r] = round(sum);
  }
  return y;
}

// Rotate-half RoPE (HF's convention): element i of a head pairs with element i + d/2, both turned by
// the angle pos * f_(i mod d/2): v' = v * cos + rotate_half(v) * sin, rotate_half(v) = (-v2, v1).
void ReferenceModel::rope(std::vector<float> &vector, int64_t heads, int64_t pos) const {
  const size_t d = static_cast<size_t>(config_.headDim);
  const size_t half = d / 2;
  for (int64_t h = 0; h < heads; ++h) {
    float *head = vector.data() + static_cast<size_t>(h) * d;
    for (size_t i = 0; i < half; ++i) {
      const float angle = inverseFrequencies_[i] * static_cast<float>(pos);
      const float c = round(std::cos(angle));
      const float s = round(std::sin(angle));
      const float first = head[i];
      const float second = head[i + half];
      head[i] = round(round(first * c) - round(second * s));
      head[i + half] = round(round(second * c) + round(first * s));
    }
  }
}

Result<std::vector<float>> ReferenceModel::forward(int64_t token, int64_t pos) {
  if (token < 0 || token >= config_.vocabSize)
    return Error{"", "token " + std::to_string(token) + " is out of range (vocab_size " +
                         std::to_string(config_.vocabSize) + ")"};
  if (pos < 0 || pos > length_)
    return Error{"", "position " + std::to_string(pos) + " is not next: the KV cache " +
                         (length_ ? "holds positions 0.." + std::to_string(length_ - 1) : std::string("is empty")) +
                         ", so the next position is " + std::to_string(length_)};
  length_ = pos; // a rewind drops the positions from pos on

  const size_t hidden = static_cast<size_t>(config_.hiddenSize);
  const size_t headDim = static_cast<size_t>(config_.headDim);
  const size_t kvSize = static_cast<size_t>(config_.kvSize());
  const int64_t group = config_.groupSize();
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(headDim))); // HF: head_dim**-0.5

  std::vector<float> h(hidden);
  for (size_t i = 0; i < hidden; ++i)
    h[i] = round(weights_.embed[static_cast<size_t>(token) * hidden + i]);

  for (size_t l = 0; l < weights_.layers.size(); ++l) {
    const ReferenceWeights::Layer &layer = weights_.layers[l];

    std::vector<float> x = rmsnorm(h, layer.inputNorm);
    std::vector<float> q = matvec(layer.q, x, config_.qSize());
    std::vector<float> k = matvec(layer.k, x, config_.kvSize());
    std::vector<float> v = matvec(layer.v, x, config_.kvSize());
    rope(q, config_.numHeads, pos);
    rope(k, config_.numKvHeads, pos);

    std::vector<float> &keys = keyCache_[l];
    std::vector<float> &values = valueCache_[l];
    keys.resize(static_cast<size_t>(pos) * kvSize);
    values.resize(static_cast<size_t>(pos) * kvSize);
    keys.insert(keys.end(), k.begin(), k.end());
    values.insert(values.end(), v.begin(), v.end());

    // Query head `head` reads KV head head / group: consecutive query heads share one KV head.
    std::vector<float> attended(static_cast<size_t>(config_.qSize()));
    std::vector<float> scores(static_cast<size_t>(pos) + 1);
    for (int64_t head = 0; head < config_.numHeads; ++head) {
      const float *query = q.data() + static_cast<size_t>(head) * headDim;
      const size_t kvOffset = static_cast<size_t>(head / group) * headDim;
      float maxScore = -std::numeric_limits<float>::infinity();
      for (size_t p = 0; p < scores.size(); ++p) {
        const float *key = keys.data() + p * kvSize + kvOffset;
        float dot = 0;
        for (size_t i = 0; i < headDim; ++i)
          dot += query[i] * key[i];
        scores[p] = dot * scale;
        maxScore = std::max(maxScore, scores[p]);
      }
      float sum = 0;
      for (float &score : scores) {
        score = std::exp(score - maxScore);
        sum += score;
      }
      float *out = attended.data() + static_cast<size_t>(head) * headDim;
      for (size_t i = 0; i < headDim; ++i) {
        float weighted = 0;
        for (size_t p = 0; p < scores.size(); ++p)
          weighted += (scores[p] / sum) * values[p * kvSize + kvOffset + i];
        out[i] = round(weighted);
      }
    }
    std::vector<float> projected = matvec(layer.o, attended, config_.hiddenSize);
    for (size_t i = 0; i < hidden; ++i)
      h[i] = round(h[i] + projected[i]);

    x = rmsnorm(h, layer.postNorm);
    std::vector<float> gate = matvec(layer.gate, x, config_.intermediateSize);
    std::vector<float> up = matvec(layer.up, x, config_.intermediateSize);
    for (size_t i = 0; i < gate.size(); ++i) {
      const float silu = round(gate[i] / (1.0f + std::exp(-gate[i])));
      gate[i] = round(silu * up[i]);
    }
    std::vector<float> down = matvec(layer.down, gate, config_.hiddenSize);
    for (size_t i = 0; i < hidden; ++i)
      h[i] = round(h[i] + down[i]);
  }

  length_ = pos + 1;
  std::vector<float> x = rmsnorm(h, weights_.finalNorm);
  return matvec(weights_.outputProjection(), x, config_.vocabSize);
}

Result<std::vector<std::vector<float>>> teacherForcedLogits(const ReferenceWeights &weights,
                                                            std::span<const int64_t> tokens, ReferenceOptions options) {
  ReferenceModel model(weights, options);
  std::vector<std::vector<float>> logits;
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    Result<std::vector<float>> step = model.forward(tokens[pos], static_cast<int64_t>(pos));
    if (!step)
      return step.error();
    logits.push_back(std::move(*step));
  }
  return logits;
}

Result<Generation> greedyGenerate(const ReferenceWeights &weights, std::span<const int64_t> prompt, int64_t newTokens,
                                  ReferenceOptions options) {
  if (prompt.empty())
    return Error{"", "the prompt is empty; greedy decoding needs at least one token"};
  using Clock = std::chrono::steady_clock;
  ReferenceModel model(weights, options);
  Generation generation;
  std::vector<float> logits;
  int64_t pos = 0;
  auto runOne = [&](int64_t token) -> std::optional<Error> {
    Result<std::vector<float>> step = model.forward(token, pos++);
    if (!step)
      return step.error();
    logits = std::move(*step);
    return std::nullopt;
  };
  for (size_t i = 0; i + 1 < prompt.size(); ++i) {
    auto start = Clock::now();
    if (std::optional<Error> error = runOne(prompt[i]))
      return *error;
    generation.promptSeconds += std::chrono::duration<double>(Clock::now() - start).count();
  }
  int64_t next = prompt.back();
  for (int64_t n = 0; n < newTokens; ++n) {
    auto start = Clock::now();
    if (std::optional<Error> error = runOne(next))
      return *error;
    next = argmax(logits);
    generation.stepSeconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    if (next < 0)
      return Error{"", "the logits at position " + std::to_string(pos - 1) + " are all NaN"};
    generation.tokens.push_back(next);
  }
  return generation;
}

} // namespace amk::model
