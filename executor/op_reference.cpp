// The CPU references of the registry ops. Each op gathers its input regions into fp32 (row-major
// over each box), computes in fp32 with sequential accumulation, and scatters its outputs with
// rounding to the output type; the extra rounding points of docs/numerics.md are explicit roundTo
// calls. Run-time indices (a token, a position) are buffer indices and must lie inside the region.
#include "amk/executor/op_reference.h"

#include "amk/model/numeric.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <variant>

namespace amk::executor {

using ir::ast::DType;

// ---------------------------------------------------------------------------------------------------
// HostBuffer

HostBuffer::HostBuffer(DType dtype, std::vector<int64_t> shape) : dtype_(dtype), shape_(std::move(shape)) {
  elements_ = 1;
  for (int64_t extent : shape_)
    elements_ *= extent;
  bytes_.assign(static_cast<size_t>(elements_) * elementBytes(), std::byte{0});
}

size_t HostBuffer::elementBytes() const { return ir::ast::dtypeBytes(dtype_); }

namespace {

template <class T> T loadAs(const std::byte *at) {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}
template <class T> void storeAs(std::byte *at, T value) { std::memcpy(at, &value, sizeof(T)); }

// Typed loops over one contiguous run, so that the dtype switch is taken once per run.
void loadRun(const HostBuffer &buffer, int64_t first, int64_t count, float *out) {
  const std::byte *at = buffer.bytes().data() + static_cast<size_t>(first) * buffer.elementBytes();
  switch (buffer.dtype()) {
  case DType::BF16:
    for (int64_t i = 0; i < count; ++i)
      out[i] = model::bf16ToFloat(loadAs<uint16_t>(at + 2 * i));
    return;
  case DType::F16:
    for (int64_t i = 0; i < count; ++i)
      out[i] = model::f16ToFloat(loadAs<uint16_t>(at + 2 * i));
    return;
  case DType::F32:
    std::memcpy(out, at, static_cast<size_t>(count) * sizeof(float));
    return;
  case DType::I32:
    for (int64_t i = 0; i < count; ++i)
      out[i] = static_cast<float>(loadAs<int32_t>(at + 4 * i));
    return;
  case DType::I8:
    for (int64_t i = 0; i < count; ++i)
      out[i] = static_cast<float>(loadAs<int8_t>(at + i));
    return;
  }
}

void storeRun(HostBuffer &buffer, int64_t first, int64_t count, const float *values) {
  std::byte *at = buffer.bytes().data() + static_cast<size_t>(first) * buffer.elementBytes();
  switch (buffer.dtype()) {
  case DType::BF16:
    for (int64_t i = 0; i < count; ++i)
      storeAs<uint16_t>(at + 2 * i, model::floatToBf16(values[i]));
    return;
  case DType::F16:
    for (int64_t i = 0; i < count; ++i)
      storeAs<uint16_t>(at + 2 * i, model::floatToF16(values[i]));
    return;
  case DType::F32:
    std::memcpy(at, values, static_cast<size_t>(count) * sizeof(float));
    return;
  case DType::I32:
    for (int64_t i = 0; i < count; ++i)
      storeAs<int32_t>(at + 4 * i, static_cast<int32_t>(model::roundTo(DType::I32, values[i])));
    return;
  case DType::I8:
    for (int64_t i = 0; i < count; ++i)
      storeAs<int8_t>(at + i, static_cast<int8_t>(model::roundTo(DType::I8, values[i])));
    return;
  }
}

} // namespace

float HostBuffer::load(int64_t index) const {
  assert(index >= 0 && index < elements_);
  float value = 0;
  loadRun(*this, index, 1, &value);
  return value;
}

void HostBuffer::store(int64_t index, float value) {
  assert(index >= 0 && index < elements_);
  storeRun(*this, index, 1, &value);
}

int64_t HostBuffer::loadInt(int64_t index) const {
  assert(index >= 0 && index < elements_);
  const std::byte *at = bytes_.data() + static_cast<size_t>(index) * elementBytes();
  if (dtype_ == DType::I32)
    return loadAs<int32_t>(at);
  assert(dtype_ == DType::I8);
  return loadAs<int8_t>(at);
}

void HostBuffer::storeInt(int64_t index, int64_t value) {
  assert(index >= 0 && index < elements_);
  std::byte *at = bytes_.data() + static_cast<size_t>(index) * elementBytes();
  if (dtype_ == DType::I32)
    return storeAs<int32_t>(at, static_cast<int32_t>(value));
  assert(dtype_ == DType::I8);
  storeAs<int8_t>(at, static_cast<int8_t>(value));
}

std::vector<float> HostBuffer::toFloats() const {
  std::vector<float> values(static_cast<size_t>(elements_));
  loadRun(*this, 0, elements_, values.data());
  return values;
}

void HostBuffer::setFloats(std::span<const float> values) {
  assert(static_cast<int64_t>(values.size()) == elements_);
  storeRun(*this, 0, elements_, values.data());
}

void HostBuffer::zero() { std::fill(bytes_.begin(), bytes_.end(), std::byte{0}); }

uint64_t fnv1a(uint64_t hash, std::span<const std::byte> bytes) {
  for (std::byte b : bytes) {
    hash ^= static_cast<uint64_t>(b);
    hash *= kFnvPrime;
  }
  return hash;
}

// ---------------------------------------------------------------------------------------------------
// Attributes and RoPE frequencies

namespace {

double number(const ir::ast::Value &value) {
  if (const int64_t *i = std::get_if<int64_t>(&value.value))
    return static_cast<double>(*i);
  if (const double *d = std::get_if<double>(&value.value))
    return *d;
  assert(false && "a numeric attribute holds a string");
  return 0;
}

int64_t integer(const ir::ast::Value &value) {
  if (const int64_t *i = std::get_if<int64_t>(&value.value))
    return *i;
  return static_cast<int64_t>(number(value));
}

} // namespace

RopeParameters ropeParameters(std::span<const ir::ast::Value> attributes) {
  // Registry order: head_dim, theta, scaling, factor, low_freq_factor, high_freq_factor,
  // original_max_position.
  assert(attributes.size() == 7);
  RopeParameters parameters;
  parameters.headDim = integer(attributes[0]);
  parameters.theta = number(attributes[1]);
  const std::string *scaling = std::get_if<std::string>(&attributes[2].value);
  parameters.llama3 = scaling && *scaling == "llama3";
  parameters.factor = number(attributes[3]);
  parameters.lowFreqFactor = number(attributes[4]);
  parameters.highFreqFactor = number(attributes[5]);
  parameters.originalMaxPosition = integer(attributes[6]);
  return parameters;
}

// Each step is one fp32 operation in the order transformers evaluates it (`2π / f` as reciprocal
// then product, as torch does for a scalar over a tensor), so that the frequencies match HF's to the
// last bit in most cases.
std::vector<float> ropeFrequencies(const RopeParameters &parameters) {
  const int64_t d = parameters.headDim;
  const float theta = static_cast<float>(parameters.theta);
  std::vector<float> frequencies(static_cast<size_t>(d / 2));
  for (int64_t j = 0; j < d / 2; ++j) {
    const float exponent = static_cast<float>(2 * j) / static_cast<float>(d);
    frequencies[static_cast<size_t>(j)] = 1.0f / std::pow(theta, exponent);
  }
  if (!parameters.llama3)
    return frequencies;

  const float factor = static_cast<float>(parameters.factor);
  const float low = static_cast<float>(parameters.lowFreqFactor);
  const float context = static_cast<float>(parameters.originalMaxPosition);
  const auto original = static_cast<double>(parameters.originalMaxPosition);
  const float lowFreqWavelength = static_cast<float>(original / parameters.lowFreqFactor);
  const float highFreqWavelength = static_cast<float>(original / parameters.highFreqFactor);
  const float twoPi = static_cast<float>(2 * std::numbers::pi);
  const float highMinusLow = static_cast<float>(parameters.highFreqFactor - parameters.lowFreqFactor);
  for (float &f : frequencies) {
    const float wavelength = (1.0f / f) * twoPi;
    if (wavelength < highFreqWavelength)
      continue; // high frequency: kept
    if (wavelength > lowFreqWavelength) {
      f = f / factor; // low frequency: slowed by the factor
      continue;
    }
    const float smooth = ((1.0f / wavelength) * context - low) / highMinusLow;
    f = (1.0f - smooth) * f / factor + smooth * f;
  }
  return frequencies;
}

// ---------------------------------------------------------------------------------------------------
// Operand access

namespace {

std::vector<float> gather(const Operand &operand) {
  std::vector<float> values(static_cast<size_t>(operand.region->elements()));
  float *out = values.data();
  forEachRun(*operand.region, operand.buffer->shape(), [&](int64_t first, int64_t count) {
    loadRun(*operand.buffer, first, count, out);
    out += count;
  });
  return values;
}

// Rounds to the output's element type on store.
void scatter(const Operand &operand, std::span<const float> values) {
  assert(static_cast<int64_t>(values.size()) == operand.region->elements());
  const float *in = values.data();
  forEachRun(*operand.region, operand.buffer->shape(), [&](int64_t first, int64_t count) {
    storeRun(*operand.buffer, first, count, in);
    in += count;
  });
}

std::vector<std::byte> gatherBytes(const Operand &operand) {
  const size_t size = operand.buffer->elementBytes();
  std::vector<std::byte> bytes;
  bytes.reserve(static_cast<size_t>(operand.region->elements()) * size);
  forEachRun(*operand.region, operand.buffer->shape(), [&](int64_t first, int64_t count) {
    auto run = operand.buffer->bytes().subspan(static_cast<size_t>(first) * size, static_cast<size_t>(count) * size);
    bytes.insert(bytes.end(), run.begin(), run.end());
  });
  return bytes;
}

void scatterBytes(const Operand &operand, std::span<const std::byte> bytes) {
  const size_t size = operand.buffer->elementBytes();
  assert(bytes.size() == static_cast<size_t>(operand.region->elements()) * size);
  size_t at = 0;
  forEachRun(*operand.region, operand.buffer->shape(), [&](int64_t first, int64_t count) {
    std::memcpy(operand.buffer->bytes().data() + static_cast<size_t>(first) * size, bytes.data() + at,
                static_cast<size_t>(count) * size);
    at += static_cast<size_t>(count) * size;
  });
}

int64_t firstElement(const Operand &operand) {
  int64_t first = -1;
  forEachRun(*operand.region, operand.buffer->shape(), [&](int64_t offset, int64_t) {
    if (first < 0)
      first = offset;
  });
  return first;
}

// A one-element i32 operand (`pos`, `tok`).
int64_t readScalar(const Operand &operand) { return operand.buffer->loadInt(firstElement(operand)); }
void writeScalar(const Operand &operand, int64_t value) { operand.buffer->storeInt(firstElement(operand), value); }

// The buffer dimensions the region's shape keeps (its slice and whole dimensions), in order.
std::vector<size_t> shapeDimensions(const ir::Region &region) {
  std::vector<size_t> dims;
  for (size_t d = 0; d < region.lo.size(); ++d)
    if (!(region.pointDims & (1u << d)))
      dims.push_back(d);
  return dims;
}

ir::Region narrowed(const ir::Region &region, size_t dimension, int64_t lo, int64_t hi) {
  ir::Region part = region;
  part.lo[dimension] = lo;
  part.hi[dimension] = hi;
  return part;
}

std::string rangeText(int64_t lo, int64_t hi) { return std::to_string(lo) + ".." + std::to_string(hi - 1); }

// ---------------------------------------------------------------------------------------------------
// The ops

std::optional<std::string> copyOp(const TaskOperands &ops) {
  const Operand &y = ops.outputs[0], &x = ops.inputs[0];
  if (y.buffer->dtype() == x.buffer->dtype())
    scatterBytes(y, gatherBytes(x)); // bit for bit, NaN payloads and integers included
  else
    scatter(y, gather(x));
  return std::nullopt;
}

std::optional<std::string> addOp(const TaskOperands &ops) {
  std::vector<float> a = gather(ops.inputs[0]);
  const std::vector<float> b = gather(ops.inputs[1]);
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = a[i] + b[i];
  scatter(ops.outputs[0], a);
  return std::nullopt;
}

std::optional<std::string> embedOp(const TaskOperands &ops) {
  const Operand &table = ops.inputs[0];
  const int64_t token = readScalar(ops.inputs[1]);
  const size_t rows = shapeDimensions(*table.region)[0];
  const int64_t lo = table.region->lo[rows], hi = table.region->hi[rows];
  if (token < lo || token >= hi)
    return "token " + std::to_string(token) + " is outside the table region's rows " + rangeText(lo, hi);
  const ir::Region row = narrowed(*table.region, rows, token, token + 1);
  scatter(ops.outputs[0], gather(Operand{table.buffer, &row}));
  return std::nullopt;
}

// inv = 1/sqrt(mean(x²) + eps) over the whole x, summed in order.
float inverseRms(const std::vector<float> &x, double eps) {
  float sumOfSquares = 0;
  for (float value : x)
    sumOfSquares += value * value;
  const float mean = sumOfSquares / static_cast<float>(x.size());
  return 1.0f / std::sqrt(mean + static_cast<float>(eps));
}

std::optional<std::string> rmsNormOp(const TaskOperands &ops) {
  const Operand &x = ops.inputs[0], &w = ops.inputs[1];
  const std::vector<float> xs = gather(x);
  std::vector<float> ws = gather(w);
  const float inv = inverseRms(xs, number(ops.attributes[0]));
  const DType xType = x.buffer->dtype();
  // y receives the slice a:b of the normalised x that w takes of its own last dimension.
  const auto a = static_cast<size_t>(w.region->lo.back());
  for (size_t i = 0; i < ws.size(); ++i)
    ws[i] = ws[i] * model::roundTo(xType, xs[a + i] * inv);
  scatter(ops.outputs[0], ws);
  return std::nullopt;
}

// y[r] = Σ_k W[r, k] x[k], in order of k.
std::vector<float> matvec(const std::vector<float> &weights, const std::vector<float> &x) {
  const size_t columns = x.size();
  std::vector<float> y(weights.size() / columns);
  for (size_t r = 0; r < y.size(); ++r) {
    const float *row = weights.data() + r * columns;
    float sum = 0;
    for (size_t k = 0; k < columns; ++k)
      sum += row[k] * x[k];
    y[r] = sum;
  }
  return y;
}

std::optional<std::string> matVecOp(const TaskOperands &ops) {
  scatter(ops.outputs[0], matvec(gather(ops.inputs[0]), gather(ops.inputs[1])));
  return std::nullopt;
}

std::optional<std::string> matVecAddOp(const TaskOperands &ops) {
  std::vector<float> y = matvec(gather(ops.inputs[0]), gather(ops.inputs[1]));
  const std::vector<float> residual = gather(ops.inputs[2]);
  const DType yType = ops.outputs[0].buffer->dtype();
  for (size_t r = 0; r < y.size(); ++r)
    y[r] = residual[r] + model::roundTo(yType, y[r]); // HF: residual + o_proj(...), the product rounded first
  scatter(ops.outputs[0], y);
  return std::nullopt;
}

std::optional<std::string> ropeOp(const TaskOperands &ops) {
  std::vector<float> v = gather(ops.inputs[0]);
  const int64_t pos = readScalar(ops.inputs[1]);
  const RopeParameters parameters = ropeParameters(ops.attributes);
  const std::vector<float> frequencies = ropeFrequencies(parameters);
  const DType type = ops.outputs[0].buffer->dtype();
  const auto round = [type](float value) { return model::roundTo(type, value); };
  const auto d = static_cast<size_t>(parameters.headDim);
  const size_t half = d / 2;
  for (size_t head = 0; head < v.size() / d; ++head) {
    float *x = v.data() + head * d;
    for (size_t i = 0; i < half; ++i) {
      const float angle = frequencies[i] * static_cast<float>(pos);
      const float c = round(std::cos(angle));
      const float s = round(std::sin(angle));
      const float first = x[i], second = x[i + half];
      x[i] = round(first * c) - round(second * s);
      x[i + half] = round(second * c) + round(first * s);
    }
  }
  scatter(ops.outputs[0], v);
  return std::nullopt;
}

std::optional<std::string> kvStoreOp(const TaskOperands &ops) {
  const Operand &cache = ops.outputs[0];
  const int64_t pos = readScalar(ops.inputs[1]);
  const size_t positions = shapeDimensions(*cache.region)[0];
  const int64_t lo = cache.region->lo[positions], hi = cache.region->hi[positions];
  if (pos < lo || pos >= hi)
    return "position " + std::to_string(pos) + " is outside the cache region's positions " + rangeText(lo, hi);
  const ir::Region row = narrowed(*cache.region, positions, pos, pos + 1);
  scatter(Operand{cache.buffer, &row}, gather(ops.inputs[0]));
  return std::nullopt;
}

struct Attended {
  std::vector<float> out; // per head, the normalised weighted sum of the values
  std::vector<float> lse; // per head, m + log Σ exp(s_p − m); −∞ over no positions
};

// Decode attention of every head in q over the cache positions first..last-1 (buffer indices inside
// the cache regions), in fp32, each sum in position order.
Attended attend(const std::vector<float> &q, const Operand &kcache, const Operand &vcache, int64_t first,
                int64_t last) {
  const std::vector<size_t> dims = shapeDimensions(*kcache.region);
  const auto d = static_cast<size_t>(kcache.region->hi[dims[1]] - kcache.region->lo[dims[1]]);
  const size_t heads = q.size() / d;
  Attended result{std::vector<float>(q.size(), 0.0f),
                  std::vector<float>(heads, -std::numeric_limits<float>::infinity())};
  if (last <= first)
    return result;
  const ir::Region kRows = narrowed(*kcache.region, dims[0], first, last);
  const ir::Region vRows = narrowed(*vcache.region, shapeDimensions(*vcache.region)[0], first, last);
  const std::vector<float> keys = gather(Operand{kcache.buffer, &kRows});
  const std::vector<float> values = gather(Operand{vcache.buffer, &vRows});
  const auto count = static_cast<size_t>(last - first);
  const float sqrtD = std::sqrt(static_cast<float>(d));
  std::vector<float> weights(count);
  for (size_t h = 0; h < heads; ++h) {
    const float *query = q.data() + h * d;
    float maxScore = -std::numeric_limits<float>::infinity();
    for (size_t p = 0; p < count; ++p) {
      float dot = 0;
      for (size_t i = 0; i < d; ++i)
        dot += query[i] * keys[p * d + i];
      weights[p] = dot / sqrtD;
      maxScore = std::max(maxScore, weights[p]);
    }
    float sum = 0;
    for (float &w : weights) {
      w = std::exp(w - maxScore);
      sum += w;
    }
    float *out = result.out.data() + h * d;
    for (size_t i = 0; i < d; ++i) {
      float weighted = 0;
      for (size_t p = 0; p < count; ++p)
        weighted += (weights[p] / sum) * values[p * d + i];
      out[i] = weighted;
    }
    result.lse[h] = maxScore + std::log(sum);
  }
  return result;
}

std::optional<std::string> attentionOp(const TaskOperands &ops) {
  const Operand &kcache = ops.inputs[1];
  const int64_t pos = readScalar(ops.inputs[3]);
  const size_t positions = shapeDimensions(*kcache.region)[0];
  const int64_t lo = kcache.region->lo[positions], hi = kcache.region->hi[positions];
  if (pos < 0 || lo > 0 || pos >= hi)
    return "attention over positions 0.." + std::to_string(pos) + " needs them inside the cache region's positions " +
           rangeText(lo, hi);
  scatter(ops.outputs[0], attend(gather(ops.inputs[0]), kcache, ops.inputs[2], 0, pos + 1).out);
  return std::nullopt;
}

std::optional<std::string> attentionPartialOp(const TaskOperands &ops) {
  const Operand &kcache = ops.inputs[1];
  const int64_t pos = readScalar(ops.inputs[3]);
  if (pos < 0)
    return "position " + std::to_string(pos) + " is negative";
  const size_t positions = shapeDimensions(*kcache.region)[0];
  const int64_t p0 = kcache.region->lo[positions];
  const int64_t p1 = std::min(kcache.region->hi[positions], pos + 1);
  Attended attended = attend(gather(ops.inputs[0]), kcache, ops.inputs[2], p0, p1);
  scatter(ops.outputs[0], attended.out);
  scatter(ops.outputs[1], attended.lse);
  return std::nullopt;
}

std::optional<std::string> attentionMergeOp(const TaskOperands &ops) {
  const std::vector<float> parts = gather(ops.inputs[0]);
  const std::vector<float> lse = gather(ops.inputs[1]);
  const std::vector<int64_t> lseShape = ops.inputs[1].region->shape();
  const auto splits = static_cast<size_t>(lseShape[0]), heads = static_cast<size_t>(lseShape[1]);
  const size_t width = parts.size() / splits; // heads * head_dim
  const size_t d = width / heads;
  std::vector<float> out(width, 0.0f);
  std::vector<float> scale(splits);
  for (size_t h = 0; h < heads; ++h) {
    float maxLse = -std::numeric_limits<float>::infinity();
    for (size_t s = 0; s < splits; ++s)
      maxLse = std::max(maxLse, lse[s * heads + h]);
    if (maxLse == -std::numeric_limits<float>::infinity())
      continue; // every split was empty: nothing attended, the output stays 0
    float total = 0;
    for (size_t s = 0; s < splits; ++s) {
      scale[s] = std::exp(lse[s * heads + h] - maxLse);
      total += scale[s];
    }
    for (size_t i = 0; i < d; ++i) {
      float weighted = 0;
      for (size_t s = 0; s < splits; ++s)
        weighted += scale[s] * parts[s * width + h * d + i];
      out[h * d + i] = weighted / total;
    }
  }
  scatter(ops.outputs[0], out);
  return std::nullopt;
}

// g[i] = round_g(silu(g[i])) · u[i], in place: the values of gate g (read from a buffer of type gType)
// and up u as silu_mul combines them.
void siluTimes(std::vector<float> &g, const std::vector<float> &u, DType gType) {
  for (size_t i = 0; i < g.size(); ++i)
    g[i] = model::roundTo(gType, g[i] / (1.0f + std::exp(-g[i]))) * u[i]; // HF applies silu to the gate's dtype
}

std::optional<std::string> siluMulOp(const TaskOperands &ops) {
  std::vector<float> g = gather(ops.inputs[0]);
  siluTimes(g, gather(ops.inputs[1]), ops.inputs[0].buffer->dtype());
  scatter(ops.outputs[0], g);
  return std::nullopt;
}

// The index of the largest value; NaN never wins, ties go to the lowest index; -1 when every value
// is NaN.
int64_t largest(const std::vector<float> &values) {
  int64_t best = -1;
  for (size_t i = 0; i < values.size(); ++i)
    if (!std::isnan(values[i]) && (best < 0 || values[i] > values[static_cast<size_t>(best)]))
      best = static_cast<int64_t>(i);
  return best;
}

std::optional<std::string> argmaxOp(const TaskOperands &ops) {
  writeScalar(ops.outputs[0], largest(gather(ops.inputs[0])));
  return std::nullopt;
}

std::optional<std::string> argmaxPartialOp(const TaskOperands &ops) {
  const std::vector<float> x = gather(ops.inputs[0]);
  const int64_t best = largest(x);
  const std::array<float, 2> result =
      best < 0 ? std::array<float, 2>{std::numeric_limits<float>::quiet_NaN(), -1.0f}
               : std::array<float, 2>{x[static_cast<size_t>(best)],
                                      static_cast<float>(ops.inputs[0].region->lo.back() + best)};
  scatter(ops.outputs[0], result);
  return std::nullopt;
}

std::optional<std::string> argmaxMergeOp(const TaskOperands &ops) {
  const std::vector<float> best = gather(ops.inputs[0]);
  float bestValue = 0, bestIndex = -1;
  for (size_t p = 0; p + 1 < best.size(); p += 2) {
    const float value = best[p], index = best[p + 1];
    if (std::isnan(value) || index < 0)
      continue; // a slice of NaNs only
    if (bestIndex < 0 || value > bestValue || (value == bestValue && index < bestIndex)) {
      bestValue = value;
      bestIndex = index;
    }
  }
  writeScalar(ops.outputs[0], static_cast<int64_t>(bestIndex));
  return std::nullopt;
}

std::optional<std::string> opaqueOp(const TaskOperands &ops) {
  uint64_t hash = kFnvOffsetBasis;
  for (const Operand &input : ops.inputs)
    hash = fnv1a(hash, gatherBytes(input));
  // Every input is hashed before any output is written: an output may name an input exactly.
  for (const Operand &output : ops.outputs) {
    const size_t size = output.buffer->elementBytes();
    const auto count = static_cast<uint64_t>(output.region->elements());
    std::vector<std::byte> bytes(static_cast<size_t>(count) * size);
    for (uint64_t j = 0; j < count; ++j) {
      std::array<std::byte, 8> index;
      for (size_t b = 0; b < 8; ++b)
        index[b] = static_cast<std::byte>(j >> (8 * b));
      const uint64_t element = fnv1a(hash, index);
      for (size_t b = 0; b < size; ++b)
        bytes[j * size + b] = static_cast<std::byte>(element >> (8 * b));
    }
    scatterBytes(output, bytes);
  }
  return std::nullopt;
}

// n'[k] = round_x(w[k] · round_x(x[k] · inv)): exactly what rmsnorm would store in a buffer of x's
// type, so the fused ops give the bits of rmsnorm followed by their projection.
std::vector<float> normalisedInput(const Operand &x, const Operand &w, const ir::ast::Value &eps) {
  std::vector<float> normalised = gather(x);
  const std::vector<float> weight = gather(w);
  const float inv = inverseRms(normalised, number(eps));
  const DType xType = x.buffer->dtype();
  for (size_t k = 0; k < normalised.size(); ++k)
    normalised[k] = model::roundTo(xType, weight[k] * model::roundTo(xType, normalised[k] * inv));
  return normalised;
}

std::optional<std::string> rmsNormMatVecOp(const TaskOperands &ops) {
  scatter(ops.outputs[0], matvec(gather(ops.inputs[0]), normalisedInput(ops.inputs[1], ops.inputs[2], ops.attributes[0])));
  return std::nullopt;
}

// rmsnorm_matvec of the gate and of the up rows, each rounded to y's type as their buffers would
// store them, then silu_mul: the bits of those three ops, with x normalised once.
std::optional<std::string> rmsNormGateUpSiluOp(const TaskOperands &ops) {
  const std::vector<float> normalised = normalisedInput(ops.inputs[2], ops.inputs[3], ops.attributes[0]);
  const DType yType = ops.outputs[0].buffer->dtype();
  auto projected = [&](const Operand &weights) {
    std::vector<float> values = matvec(gather(weights), normalised);
    for (float &v : values)
      v = model::roundTo(yType, v);
    return values;
  };
  std::vector<float> gate = projected(ops.inputs[0]);
  siluTimes(gate, projected(ops.inputs[1]), yType);
  scatter(ops.outputs[0], gate);
  return std::nullopt;
}

// The W8A16 projections: y[r] = s[r] · Σ_k W[r, k] x[k], the integer weights widened exactly, the
// sum in order of k in fp32 and then scaled once (docs/numerics.md).
std::vector<float> matvecQ8(const TaskOperands &ops, const std::vector<float> &x) {
  std::vector<float> y = matvec(gather(ops.inputs[0]), x);
  const std::vector<float> scales = gather(ops.inputs[1]);
  for (size_t r = 0; r < y.size(); ++r)
    y[r] *= scales[r];
  return y;
}

std::optional<std::string> matVecQ8Op(const TaskOperands &ops) {
  scatter(ops.outputs[0], matvecQ8(ops, gather(ops.inputs[2])));
  return std::nullopt;
}

std::optional<std::string> matVecQ8AddOp(const TaskOperands &ops) {
  std::vector<float> y = matvecQ8(ops, gather(ops.inputs[2]));
  const std::vector<float> residual = gather(ops.inputs[3]);
  const DType yType = ops.outputs[0].buffer->dtype();
  for (size_t r = 0; r < y.size(); ++r)
    y[r] = residual[r] + model::roundTo(yType, y[r]);
  scatter(ops.outputs[0], y);
  return std::nullopt;
}

std::optional<std::string> rmsNormMatVecQ8Op(const TaskOperands &ops) {
  scatter(ops.outputs[0], matvecQ8(ops, normalisedInput(ops.inputs[2], ops.inputs[3], ops.attributes[0])));
  return std::nullopt;
}

constexpr size_t slot(ir::OpId op) { return static_cast<size_t>(op); }

constexpr std::array<OpReference, kOpCount> kReferences = [] {
  std::array<OpReference, kOpCount> table{};
  table[slot(ir::OpId::Copy)] = copyOp;
  table[slot(ir::OpId::Add)] = addOp;
  table[slot(ir::OpId::Embed)] = embedOp;
  table[slot(ir::OpId::RmsNorm)] = rmsNormOp;
  table[slot(ir::OpId::MatVec)] = matVecOp;
  table[slot(ir::OpId::MatVecAdd)] = matVecAddOp;
  table[slot(ir::OpId::Rope)] = ropeOp;
  table[slot(ir::OpId::KvStore)] = kvStoreOp;
  table[slot(ir::OpId::Attention)] = attentionOp;
  table[slot(ir::OpId::SiluMul)] = siluMulOp;
  table[slot(ir::OpId::Argmax)] = argmaxOp;
  table[slot(ir::OpId::RmsNormMatVec)] = rmsNormMatVecOp;
  table[slot(ir::OpId::AttentionPartial)] = attentionPartialOp;
  table[slot(ir::OpId::AttentionMerge)] = attentionMergeOp;
  table[slot(ir::OpId::ArgmaxPartial)] = argmaxPartialOp;
  table[slot(ir::OpId::ArgmaxMerge)] = argmaxMergeOp;
  table[slot(ir::OpId::MatVecQ8)] = matVecQ8Op;
  table[slot(ir::OpId::MatVecQ8Add)] = matVecQ8AddOp;
  table[slot(ir::OpId::RmsNormMatVecQ8)] = rmsNormMatVecQ8Op;
  table[slot(ir::OpId::Opaque)] = opaqueOp;
  table[slot(ir::OpId::RmsNormGateUpSilu)] = rmsNormGateUpSiluOp;
  return table;
}();

// A new op of ir/ops.def must come with its reference (tests/megakernel/op_table_test.cpp names the missing one).
static_assert(std::ranges::all_of(kReferences, [](OpReference f) { return f != nullptr; }),
              "every op of ir/ops.def needs a CPU reference in kReferences");

} // namespace

OpReference opReference(ir::OpId op) {
  assert(slot(op) < kOpCount);
  return kReferences[slot(op)];
}

std::optional<std::string> runTask(ir::OpId op, const TaskOperands &operands) { return opReference(op)(operands); }

} // namespace amk::executor
