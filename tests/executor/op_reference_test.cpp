// The op references against independent straightforward computations (double precision, written
// out here) on small hand-made buffers, each with a stated tolerance and a printed comparison; the
// exact cases of docs/numerics.md (bf16/f16 rounding, the extra rounding points, argmax ties and NaN,
// attention at position 0, split attention, the fused norm) are checked bit for bit.
#include "amk/model/numeric.h"
#include "amk/executor/op_reference.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <numbers>
#include <random>
#include <string>
#include <vector>

namespace amk::executor {
namespace {

using ir::OpId;
using ir::ast::DType;
using ir::ast::Value;

HostBuffer makeBuffer(DType dtype, std::vector<int64_t> shape, const std::vector<float> &values = {}) {
  HostBuffer buffer(dtype, std::move(shape));
  if (!values.empty())
    buffer.setFloats(values);
  return buffer;
}

// A box: [lo, hi) per dimension; bit d of `points` marks dimension d as indexed by a point.
ir::Region box(std::vector<int64_t> lo, std::vector<int64_t> hi, uint32_t points = 0) {
  ir::Region region;
  region.lo = std::move(lo);
  region.hi = std::move(hi);
  region.pointDims = points;
  return region;
}

ir::Region whole(const HostBuffer &buffer) {
  return box(std::vector<int64_t>(buffer.shape().size(), 0), buffer.shape());
}

struct Arg {
  HostBuffer *buffer;
  ir::Region region;
};
Arg all(HostBuffer &buffer) { return {&buffer, whole(buffer)}; }

// The op's attributes in registry order: defaults, with `given` replacing some by name.
std::vector<Value> attributes(OpId op, const std::map<std::string, Value> &given = {}) {
  std::vector<Value> values;
  for (const ir::AttributeSpec &spec : ir::opInfo(op).attributes) {
    auto it = given.find(std::string(spec.name));
    values.push_back(it != given.end() ? it->second : spec.defaultValue);
  }
  return values;
}

std::optional<std::string> run(OpId op, const std::vector<Arg> &outputs, const std::vector<Arg> &inputs,
                               const std::vector<Value> &attrs) {
  std::vector<Operand> outs, ins;
  for (const Arg &arg : outputs)
    outs.push_back({arg.buffer, &arg.region});
  for (const Arg &arg : inputs)
    ins.push_back({arg.buffer, &arg.region});
  return runTask(op, TaskOperands{outs, ins, attrs});
}
std::optional<std::string> run(OpId op, const std::vector<Arg> &outputs, const std::vector<Arg> &inputs) {
  return run(op, outputs, inputs, attributes(op));
}

// Compares element by element, prints what was compared, and fails past the tolerance (absolute,
// plus `relative` times the expected magnitude).
void expectClose(const std::string &what, const std::vector<float> &actual, const std::vector<double> &expected,
                 double absolute, double relative = 0) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  double maxDiff = 0, maxAllowedExcess = -1;
  for (size_t i = 0; i < actual.size(); ++i) {
    double diff = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    maxDiff = std::max(maxDiff, diff);
    double allowed = absolute + relative * std::fabs(expected[i]);
    maxAllowedExcess = std::max(maxAllowedExcess, diff - allowed);
    EXPECT_LE(diff, allowed) << what << " element " << i << ": " << actual[i] << " vs " << expected[i];
  }
  std::printf("[%s] %zu elements, max abs diff %.3g (tolerance %.3g abs + %.3g rel)\n", what.c_str(), actual.size(),
              maxDiff, absolute, relative);
}

std::vector<float> randomValues(size_t n, uint64_t seed, float low = -1, float high = 1) {
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<float> distribution(low, high);
  std::vector<float> values(n);
  for (float &v : values)
    v = distribution(random);
  return values;
}

uint32_t bitsOf(float value) { return std::bit_cast<uint32_t>(value); }

// ---------------------------------------------------------------------------------------------------

TEST(OpReference, EveryRegistryOpHasAReference) {
  ASSERT_EQ(ir::allOps().size(), kOpCount) << "a new OpId needs an entry in the op reference table";
  for (const ir::OpInfo &op : ir::allOps())
    EXPECT_NE(opReference(op.id), nullptr) << op.name;
}

TEST(OpReference, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: the even one (1) wins; 1 + 3·2^-8 lies halfway
  // between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
  EXPECT_EQ(model::roundToBf16(1.0f + 0x1p-8f), 1.0f);
  EXPECT_EQ(model::roundToBf16(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);
  EXPECT_EQ(model::roundToBf16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f); // just above halfway
  EXPECT_EQ(model::roundToBf16(-(1.0f + 0x1p-8f)), -1.0f);
  EXPECT_EQ(model::roundToBf16(std::numeric_limits<float>::max()), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(model::roundToBf16(std::numeric_limits<float>::quiet_NaN())));
  // Every bf16 value round-trips, and every midpoint between neighbours rounds to the even one.
  for (uint32_t h = 0; h < 0x7f7f; ++h) {
    const float lo = model::bf16ToFloat(static_cast<uint16_t>(h)), hi = model::bf16ToFloat(static_cast<uint16_t>(h + 1));
    ASSERT_EQ(model::floatToBf16(lo), h);
    const float mid = lo + (hi - lo) / 2; // exact, and no overflow near the largest values
    ASSERT_EQ(model::floatToBf16(mid), (h & 1) ? h + 1 : h) << std::hex << h;
    ASSERT_EQ(model::floatToBf16(std::nextafter(mid, hi)), h + 1) << std::hex << h;
    ASSERT_EQ(model::floatToBf16(std::nextafter(mid, lo)), h) << std::hex << h;
  }
}

TEST(OpReference, F16RoundsToNearestEven) {
  EXPECT_EQ(model::floatToF16(1.0f), 0x3c00);
  EXPECT_EQ(model::floatToF16(1.0f + 0x1p-11f), 0x3c00);     // halfway, even is 1
  EXPECT_EQ(model::floatToF16(1.0f + 3 * 0x1p-11f), 0x3c02); // halfway, even is 1 + 2^-9
  EXPECT_EQ(model::floatToF16(65504.0f), 0x7bff);            // the largest finite
  EXPECT_EQ(model::floatToF16(65520.0f), 0x7c00);            // halfway to 65536: rounds to infinity
  EXPECT_EQ(model::floatToF16(0x1p-24f), 0x0001);            // the smallest subnormal
  EXPECT_EQ(model::floatToF16(0x1p-25f), 0x0000);            // halfway to it: even is 0
  EXPECT_EQ(model::floatToF16(3 * 0x1p-26f), 0x0001);        // above halfway
  EXPECT_EQ(model::floatToF16(-0x1p-14f), 0x8400);           // the smallest normal, negative
  EXPECT_EQ(model::floatToF16(0x1p-14f - 0x1p-25f), 0x0400); // rounds up into the normals
  EXPECT_EQ(model::floatToF16(1e-30f), 0x0000);              // far below
  EXPECT_EQ(model::floatToF16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(model::floatToF16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(model::floatToF16(std::numeric_limits<float>::quiet_NaN()) & 0x7e00, 0x7e00);
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    const float lo = model::f16ToFloat(static_cast<uint16_t>(h)), hi = model::f16ToFloat(static_cast<uint16_t>(h + 1));
    ASSERT_EQ(model::floatToF16(lo), h);
    ASSERT_EQ(model::floatToF16(-lo), h | 0x8000);
    const float mid = lo + (hi - lo) / 2;
    ASSERT_EQ(model::floatToF16(mid), (h & 1) ? h + 1 : h) << std::hex << h;
    ASSERT_EQ(model::floatToF16(std::nextafter(mid, hi)), h + 1) << std::hex << h;
    ASSERT_EQ(model::floatToF16(std::nextafter(mid, lo)), h) << std::hex << h;
  }
}

TEST(OpReference, BuffersStoreLittleEndianAndConvertIntegers) {
  HostBuffer ints(DType::I32, {2});
  ints.storeInt(1, -7);
  EXPECT_EQ(ints.loadInt(1), -7);
  EXPECT_EQ(ints.load(1), -7.0f);
  EXPECT_EQ(static_cast<unsigned>(ints.bytes()[4]), 0xf9u); // -7 little-endian
  HostBuffer bytes(DType::I8, {1});
  bytes.store(0, 300.0f); // saturates
  EXPECT_EQ(bytes.loadInt(0), 127);
  HostBuffer halfs(DType::BF16, {1});
  halfs.store(0, 1.0f + 0x1p-8f);
  EXPECT_EQ(halfs.load(0), 1.0f);
}

// A region is walked in row-major order of its box: copy a 2 x 3 sub-box of a [2, 3, 4] buffer,
// with a point in the middle, into a flat slice.
TEST(OpReference, CopyWalksRegionsRowMajorAndRoundsOnStore) {
  std::vector<float> values(24);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(i) + 0.5f + 0x1p-12f; // not a bf16 value
  HostBuffer x = makeBuffer(DType::F32, {2, 3, 4}, values);
  HostBuffer y = makeBuffer(DType::BF16, {10});
  // x[0:2, 1, 1:4] has shape [2, 3]: elements (0,1,1) (0,1,2) (0,1,3) (1,1,1) (1,1,2) (1,1,3).
  ASSERT_FALSE(run(OpId::Copy, {{&y, box({2}, {8})}}, {{&x, box({0, 1, 1}, {2, 2, 4}, 0b010)}}));
  const std::vector<int> expectedIndex = {5, 6, 7, 17, 18, 19};
  for (int i = 0; i < 10; ++i) {
    float expected = (i >= 2 && i < 8) ? model::roundToBf16(values[static_cast<size_t>(expectedIndex[i - 2])]) : 0.0f;
    EXPECT_EQ(y.load(i), expected) << i;
  }
  // Same types copy bit for bit (a NaN payload, integers).
  HostBuffer a = makeBuffer(DType::F32, {2}), b = makeBuffer(DType::F32, {2});
  const float payloadNaN = std::bit_cast<float>(0x7fa00001u);
  a.setFloats(std::vector<float>{payloadNaN, -0.0f});
  ASSERT_FALSE(run(OpId::Copy, {all(b)}, {all(a)}));
  EXPECT_EQ(bitsOf(b.load(0)), 0x7fa00001u);
  EXPECT_EQ(bitsOf(b.load(1)), 0x80000000u);
  HostBuffer i = makeBuffer(DType::I32, {3}), j = makeBuffer(DType::I32, {3});
  i.storeInt(2, 123456789);
  ASSERT_FALSE(run(OpId::Copy, {all(j)}, {all(i)}));
  EXPECT_EQ(j.loadInt(2), 123456789);
}

TEST(OpReference, AddInPlaceRoundsOnStore) {
  HostBuffer a = makeBuffer(DType::BF16, {3}, {1.0f, 2.0f, -4.0f});
  HostBuffer b = makeBuffer(DType::F32, {3}, {0x1p-8f, 0x1p-7f, 0.25f});
  ASSERT_FALSE(run(OpId::Add, {all(a)}, {all(a), all(b)}));
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7, 2 + 2^-7 halfway between 2 and 2 + 2^-6: both round
  // to the even neighbour; -3.75 is exact.
  EXPECT_EQ(a.toFloats(), (std::vector<float>{1.0f, 2.0f, -3.75f}));
}

TEST(OpReference, EmbedTakesTheTokenRowOfTheRegion) {
  const std::vector<float> table = randomValues(5 * 8, 1);
  HostBuffer emb = makeBuffer(DType::BF16, {5, 8}, table);
  HostBuffer tok = makeBuffer(DType::I32, {1});
  tok.storeInt(0, 3);
  HostBuffer x = makeBuffer(DType::F32, {4});
  ASSERT_FALSE(run(OpId::Embed, {all(x)}, {{&emb, box({0, 2}, {5, 6})}, all(tok)}));
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(x.load(i), model::roundToBf16(table[3 * 8 + 2 + static_cast<size_t>(i)]));
  tok.storeInt(0, 5);
  std::optional<std::string> error = run(OpId::Embed, {all(x)}, {{&emb, box({0, 2}, {5, 6})}, all(tok)});
  ASSERT_TRUE(error);
  EXPECT_EQ(*error, "token 5 is outside the table region's rows 0..4");
}

TEST(OpReference, RmsNormAgainstDouble) {
  const std::vector<float> xs = randomValues(8, 2, -2, 2), ws = randomValues(16, 3, 0.5f, 1.5f);
  HostBuffer x = makeBuffer(DType::F32, {8}, xs);
  HostBuffer ln = makeBuffer(DType::F32, {2, 8}, ws);
  HostBuffer y = makeBuffer(DType::F32, {4});
  // y = the slice 2:6 of the normalised x, times ln[1, 2:6].
  ASSERT_FALSE(run(OpId::RmsNorm, {all(y)}, {all(x), {&ln, box({1, 2}, {2, 6}, 0b01)}},
                   attributes(OpId::RmsNorm, {{"eps", Value{1e-5, {}}}})));
  double meanSquare = 0;
  for (float v : xs)
    meanSquare += double(v) * v / 8;
  const double inv = 1 / std::sqrt(meanSquare + 1e-5);
  std::vector<double> expected;
  for (int i = 0; i < 4; ++i)
    expected.push_back(ws[8 + 2 + static_cast<size_t>(i)] * xs[2 + static_cast<size_t>(i)] * inv);
  expectClose("rmsnorm f32", y.toFloats(), expected, 0, 1e-6);
}

// In bf16 the normalised value is rounded to x's type before the weight multiplies it: with
// x = (1, 1 + 2^-7, ...) the normalised values are not bf16 values, and w = 1 + 2^-7 makes the
// difference between rounding once and twice visible.
TEST(OpReference, RmsNormRoundsTheNormalisedValueToXsType) {
  const std::vector<float> xs = {1.0f, 1.0f + 0x1p-7f, 1.5f, 0.75f};
  HostBuffer x = makeBuffer(DType::BF16, {4}, xs);
  HostBuffer w = makeBuffer(DType::BF16, {4}, std::vector<float>(4, 1.0f + 0x1p-7f));
  HostBuffer y = makeBuffer(DType::F32, {4});
  ASSERT_FALSE(run(OpId::RmsNorm, {all(y)}, {all(x), all(w)}));
  float sum = 0;
  for (float v : xs)
    sum += v * v;
  const float inv = 1.0f / std::sqrt(sum / 4 + 1e-6f);
  for (int i = 0; i < 4; ++i) {
    const float twice = (1.0f + 0x1p-7f) * model::roundToBf16(xs[static_cast<size_t>(i)] * inv);
    EXPECT_EQ(y.load(i), twice) << i;
    // The product of two bf16 values is exact in fp32, so y holds exactly w · round(n).
    EXPECT_EQ(model::roundToBf16(y.load(i) / (1.0f + 0x1p-7f)), y.load(i) / (1.0f + 0x1p-7f));
  }
}

TEST(OpReference, MatVecAgainstDouble) {
  const std::vector<float> ws = randomValues(2 * 6 * 12, 4), xs = randomValues(16, 5);
  HostBuffer w = makeBuffer(DType::F32, {2, 6, 12}, ws);
  HostBuffer x = makeBuffer(DType::F32, {16}, xs);
  HostBuffer y = makeBuffer(DType::F32, {6});
  // W = w[1, :, 1:11] (6 x 10), x = x[3:13].
  ASSERT_FALSE(run(OpId::MatVec, {all(y)}, {{&w, box({1, 0, 1}, {2, 6, 11}, 0b001)}, {&x, box({3}, {13})}}));
  std::vector<double> expected(6, 0);
  for (size_t r = 0; r < 6; ++r)
    for (size_t k = 0; k < 10; ++k)
      expected[r] += double(ws[72 + r * 12 + 1 + k]) * xs[3 + k];
  expectClose("matvec f32", y.toFloats(), expected, 1e-6, 1e-6);
}

// The product is rounded to y's type before the residual is added: W x = 1 + 2^-9 rounds to 1 in
// bf16, and 1 + 2^-8 then rounds (halfway, to even) to 1; without the intermediate rounding the sum
// 1 + 3·2^-9 would round up to 1 + 2^-7.
TEST(OpReference, MatVecAddRoundsTheProductBeforeTheResidual) {
  HostBuffer w = makeBuffer(DType::BF16, {1, 2}, {1.0f, 0x1p-9f});
  HostBuffer x = makeBuffer(DType::BF16, {2}, {1.0f, 1.0f});
  HostBuffer h = makeBuffer(DType::BF16, {1}, {0x1p-8f});
  ASSERT_FALSE(run(OpId::MatVecAdd, {all(h)}, {all(w), all(x), all(h)}));
  EXPECT_EQ(h.load(0), 1.0f);

  const std::vector<float> ws = randomValues(4 * 8, 6), xs = randomValues(8, 7), rs = randomValues(4, 8);
  HostBuffer W = makeBuffer(DType::F32, {4, 8}, ws), X = makeBuffer(DType::F32, {8}, xs);
  HostBuffer R = makeBuffer(DType::F32, {4}, rs);
  ASSERT_FALSE(run(OpId::MatVecAdd, {all(R)}, {all(W), all(X), all(R)}));
  std::vector<double> expected(rs.begin(), rs.end());
  for (size_t r = 0; r < 4; ++r)
    for (size_t k = 0; k < 8; ++k)
      expected[r] += double(ws[r * 8 + k]) * xs[k];
  expectClose("matvec_add f32", R.toFloats(), expected, 1e-6, 1e-6);
}

// θ^(−2j/d) and the llama3 rule of docs/numerics.md, in double.
std::vector<double> frequenciesInDouble(const RopeParameters &p) {
  std::vector<double> f;
  for (int64_t j = 0; j < p.headDim / 2; ++j) {
    double base = std::pow(p.theta, -2.0 * double(j) / double(p.headDim));
    if (p.llama3) {
      const double wavelength = 2 * std::numbers::pi / base, n = double(p.originalMaxPosition);
      if (wavelength > n / p.lowFreqFactor)
        base /= p.factor;
      else if (wavelength >= n / p.highFreqFactor) {
        const double t = (n / wavelength - p.lowFreqFactor) / (p.highFreqFactor - p.lowFreqFactor);
        base = (1 - t) * base / p.factor + t * base;
      }
    }
    f.push_back(base);
  }
  return f;
}

TEST(OpReference, RopeFrequenciesWithLlama3Scaling) {
  // Wavelengths 2π·θ^(2j/16) with θ = 5e5 against N/H = 16 and N/L = 64: j = 0 is kept, j = 1 is
  // blended, j >= 2 are divided by the factor.
  RopeParameters p{16, 5e5, true, 8.0, 1.0, 4.0, 64};
  const std::vector<float> actual = ropeFrequencies(p);
  expectClose("rope frequencies llama3", actual, frequenciesInDouble(p), 0, 2e-6);
  const std::vector<double> unscaled = frequenciesInDouble({16, 5e5, false, 8.0, 1.0, 4.0, 64});
  EXPECT_FLOAT_EQ(actual[0], static_cast<float>(unscaled[0]));
  EXPECT_NE(actual[1], static_cast<float>(unscaled[1]));
  EXPECT_NE(actual[1], static_cast<float>(unscaled[1] / 8));
  EXPECT_FLOAT_EQ(actual[5], static_cast<float>(unscaled[5] / 8));
}

TEST(OpReference, RopeAgainstDouble) {
  const int64_t d = 8, pos = 5;
  const std::vector<float> vs = randomValues(3 * d, 9);
  HostBuffer v = makeBuffer(DType::F32, {3 * d}, vs);
  HostBuffer p = makeBuffer(DType::I32, {1});
  p.storeInt(0, pos);
  const std::map<std::string, Value> given = {{"head_dim", Value{d, {}}}, {"theta", Value{100.0, {}}}};
  // Two heads in place, at v[8:24].
  ASSERT_FALSE(run(OpId::Rope, {{&v, box({8}, {24})}}, {{&v, box({8}, {24})}, all(p)}, attributes(OpId::Rope, given)));
  const std::vector<double> f = frequenciesInDouble({d, 100.0, false, 8, 1, 4, 8192});
  std::vector<double> expected(vs.begin(), vs.end());
  for (int64_t head = 1; head < 3; ++head)
    for (int64_t i = 0; i < d / 2; ++i) {
      const size_t a = static_cast<size_t>(head * d + i), b = a + static_cast<size_t>(d / 2);
      const double angle = pos * f[static_cast<size_t>(i)];
      expected[a] = vs[a] * std::cos(angle) - vs[b] * std::sin(angle);
      expected[b] = vs[b] * std::cos(angle) + vs[a] * std::sin(angle);
    }
  expectClose("rope f32", v.toFloats(), expected, 2e-6);

  // At position 0 the rotation is the identity, exactly, in bf16 as well.
  HostBuffer w = makeBuffer(DType::BF16, {d}, randomValues(static_cast<size_t>(d), 10));
  const std::vector<float> before = w.toFloats();
  p.storeInt(0, 0);
  ASSERT_FALSE(run(OpId::Rope, {all(w)}, {all(w), all(p)}, attributes(OpId::Rope, given)));
  EXPECT_EQ(w.toFloats(), before);
}

TEST(OpReference, RopeInBf16StaysWithinRounding) {
  const int64_t d = 16, pos = 3;
  const std::vector<float> vs = randomValues(static_cast<size_t>(d), 11);
  HostBuffer v = makeBuffer(DType::BF16, {d}, vs);
  const std::vector<float> rounded = v.toFloats();
  HostBuffer p = makeBuffer(DType::I32, {1});
  p.storeInt(0, pos);
  ASSERT_FALSE(run(OpId::Rope, {all(v)}, {all(v), all(p)}, attributes(OpId::Rope, {{"head_dim", Value{d, {}}}})));
  const std::vector<double> f = frequenciesInDouble({d, 10000.0, false, 8, 1, 4, 8192});
  std::vector<double> expected(rounded.begin(), rounded.end());
  for (size_t i = 0; i < static_cast<size_t>(d / 2); ++i) {
    const size_t b = i + static_cast<size_t>(d / 2);
    expected[i] = rounded[i] * std::cos(pos * f[i]) - rounded[b] * std::sin(pos * f[i]);
    expected[b] = rounded[b] * std::cos(pos * f[i]) + rounded[i] * std::sin(pos * f[i]);
  }
  // cos, sin, both products and the sum are each rounded to bf16 (2^-8 relative): a few ulps of 1.
  expectClose("rope bf16", v.toFloats(), expected, 3 * 0x1p-8, 0);
  for (float value : v.toFloats())
    EXPECT_EQ(model::roundToBf16(value), value);
}

TEST(OpReference, KvStoreWritesRowPosAndRefusesOutOfRange) {
  HostBuffer cache = makeBuffer(DType::BF16, {2, 2, 4, 3});
  const std::vector<float> vs = {0.1f, -2.5f, 3.0f};
  HostBuffer v = makeBuffer(DType::F32, {3}, vs);
  HostBuffer pos = makeBuffer(DType::I32, {1});
  pos.storeInt(0, 2);
  const Arg region{&cache, box({1, 0, 0, 0}, {2, 1, 4, 3}, 0b0011)}; // cache[1, 0, :, :]
  ASSERT_FALSE(run(OpId::KvStore, {region}, {all(v), all(pos)}));
  const std::vector<float> contents = cache.toFloats();
  for (size_t i = 0; i < contents.size(); ++i) {
    const size_t row = 1 * 24 + 0 * 12 + 2 * 3;
    float expected = (i >= row && i < row + 3) ? model::roundToBf16(vs[i - row]) : 0.0f;
    EXPECT_EQ(contents[i], expected) << i;
  }
  pos.storeInt(0, 4);
  std::optional<std::string> error = run(OpId::KvStore, {region}, {{&v, whole(v)}, {&pos, whole(pos)}});
  ASSERT_TRUE(error);
  EXPECT_EQ(*error, "position 4 is outside the cache region's positions 0..3");
  EXPECT_EQ(cache.toFloats(), contents) << "nothing may be written on an error";
  pos.storeInt(0, -1);
  EXPECT_TRUE(run(OpId::KvStore, {region}, {{&v, whole(v)}, {&pos, whole(pos)}}));
}

// Attention of `heads` query heads of dimension d over positions 0..pos, in double.
std::vector<double> attentionInDouble(const std::vector<float> &q, const std::vector<float> &k,
                                      const std::vector<float> &v, size_t d, size_t pos) {
  std::vector<double> out(q.size(), 0);
  for (size_t h = 0; h < q.size() / d; ++h) {
    std::vector<double> s(pos + 1);
    double m = -INFINITY, sum = 0;
    for (size_t p = 0; p <= pos; ++p) {
      for (size_t i = 0; i < d; ++i)
        s[p] += double(q[h * d + i]) * k[p * d + i];
      s[p] /= std::sqrt(double(d));
      m = std::max(m, s[p]);
    }
    for (double &x : s)
      sum += (x = std::exp(x - m));
    for (size_t p = 0; p <= pos; ++p)
      for (size_t i = 0; i < d; ++i)
        out[h * d + i] += s[p] / sum * v[p * d + i];
  }
  return out;
}

struct AttentionData {
  static constexpr size_t kD = 4, kPositions = 6, kHeads = 2;
  std::vector<float> qs = randomValues(kHeads * kD, 12, -2, 2);
  std::vector<float> ks = randomValues(kPositions * kD, 13, -2, 2);
  std::vector<float> vs = randomValues(kPositions * kD, 14);
  HostBuffer q = makeBuffer(DType::F32, {int64_t(kHeads * kD)}, qs);
  // One layer, one KV head: kc[0, 0, :, :].
  HostBuffer kc = makeBuffer(DType::F32, {1, 1, int64_t(kPositions), int64_t(kD)}, ks);
  HostBuffer vc = makeBuffer(DType::F32, {1, 1, int64_t(kPositions), int64_t(kD)}, vs);
  HostBuffer pos = makeBuffer(DType::I32, {1});

  Arg cache(HostBuffer &c, int64_t p0, int64_t p1) { return {&c, box({0, 0, p0, 0}, {1, 1, p1, int64_t(kD)}, 0b0011)}; }
};

TEST(OpReference, AttentionAgainstDouble) {
  AttentionData data;
  HostBuffer o = makeBuffer(DType::F32, {int64_t(AttentionData::kHeads * AttentionData::kD)});
  data.pos.storeInt(0, 3);
  ASSERT_FALSE(run(OpId::Attention, {all(o)},
                   {all(data.q), data.cache(data.kc, 0, 6), data.cache(data.vc, 0, 6), all(data.pos)}));
  expectClose("attention f32", o.toFloats(), attentionInDouble(data.qs, data.ks, data.vs, AttentionData::kD, 3), 0,
              1e-6);
  data.pos.storeInt(0, 6);
  std::optional<std::string> error = run(
      OpId::Attention, {all(o)}, {all(data.q), data.cache(data.kc, 0, 6), data.cache(data.vc, 0, 6), all(data.pos)});
  ASSERT_TRUE(error);
  EXPECT_EQ(*error, "attention over positions 0..6 needs them inside the cache region's positions 0..5");
}

TEST(OpReference, AttentionAtPositionZeroReturnsVExactly) {
  AttentionData data;
  HostBuffer vc = makeBuffer(DType::BF16, {1, 1, 6, 4}, data.vs);
  HostBuffer o = makeBuffer(DType::F32, {8});
  data.pos.storeInt(0, 0);
  ASSERT_FALSE(
      run(OpId::Attention, {all(o)}, {all(data.q), data.cache(data.kc, 0, 6), data.cache(vc, 0, 6), all(data.pos)}));
  for (size_t h = 0; h < 2; ++h)
    for (size_t i = 0; i < 4; ++i)
      EXPECT_EQ(o.load(int64_t(h * 4 + i)), model::roundToBf16(data.vs[i])) << h << " " << i;
}

// Three splits of the positions (0:2, 2:4, 4:6) at pos = 3: the last is wholly after pos, so it
// contributes part = 0 and lse = -inf; merged, the splits equal attention over 0..3.
TEST(OpReference, SplitAttentionMergedEqualsFullAttention) {
  AttentionData data;
  constexpr int64_t kWidth = AttentionData::kHeads * AttentionData::kD;
  data.pos.storeInt(0, 3);
  HostBuffer full = makeBuffer(DType::F32, {kWidth});
  ASSERT_FALSE(run(OpId::Attention, {all(full)},
                   {all(data.q), data.cache(data.kc, 0, 6), data.cache(data.vc, 0, 6), all(data.pos)}));
  HostBuffer part = makeBuffer(DType::F32, {3, kWidth});
  HostBuffer lse = makeBuffer(DType::F32, {3, 2});
  for (int64_t s = 0; s < 3; ++s)
    ASSERT_FALSE(run(
        OpId::AttentionPartial, {{&part, box({s, 0}, {s + 1, kWidth}, 0b01)}, {&lse, box({s, 0}, {s + 1, 2}, 0b01)}},
        {all(data.q), data.cache(data.kc, 2 * s, 2 * s + 2), data.cache(data.vc, 2 * s, 2 * s + 2), all(data.pos)}));
  for (int64_t i = 0; i < kWidth; ++i)
    EXPECT_EQ(part.load(2 * kWidth + i), 0.0f);
  EXPECT_EQ(lse.load(4), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(lse.load(5), -std::numeric_limits<float>::infinity());
  // The first split's lse is log Σ exp(s_p) over positions 0 and 1.
  for (size_t h = 0; h < 2; ++h) {
    double sum = 0;
    for (size_t p = 0; p < 2; ++p) {
      double s = 0;
      for (size_t i = 0; i < 4; ++i)
        s += double(data.qs[h * 4 + i]) * data.ks[p * 4 + i];
      sum += std::exp(s / 2);
    }
    EXPECT_NEAR(lse.load(int64_t(h)), std::log(sum), 1e-5);
  }
  HostBuffer merged = makeBuffer(DType::F32, {kWidth});
  ASSERT_FALSE(run(OpId::AttentionMerge, {all(merged)}, {all(part), all(lse)}));
  const std::vector<float> reference = full.toFloats();
  std::vector<double> expected(reference.begin(), reference.end());
  expectClose("split attention merged vs attention", merged.toFloats(), expected, 0, 1e-6);
}

TEST(OpReference, SiluMulRoundsSiluToGsType) {
  const std::vector<float> gs = randomValues(16, 15, -4, 4);
  HostBuffer g = makeBuffer(DType::BF16, {16}, gs);
  std::vector<float> us(16);
  for (size_t i = 0; i < 16; ++i)
    us[i] = std::ldexp(1.0f, int(i % 5) - 2); // powers of two: y / u is exactly the rounded silu
  HostBuffer u = makeBuffer(DType::F32, {16}, us);
  HostBuffer y = makeBuffer(DType::F32, {16});
  ASSERT_FALSE(run(OpId::SiluMul, {all(y)}, {all(g), all(u)}));
  std::vector<double> expected;
  for (size_t i = 0; i < 16; ++i) {
    const double gi = g.load(int64_t(i));
    expected.push_back(gi / (1 + std::exp(-gi)) * us[i]);
    const float silu = y.load(int64_t(i)) / us[i];
    EXPECT_EQ(model::roundToBf16(silu), silu) << "silu must be rounded to bf16, element " << i;
  }
  expectClose("silu_mul (bf16 silu)", y.toFloats(), expected, 0, 0x1p-8);
}

TEST(OpReference, ArgmaxTiesGoLowAndNaNNeverWins) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  HostBuffer i = makeBuffer(DType::I32, {1});
  auto argmaxOf = [&](std::vector<float> values) {
    HostBuffer x = makeBuffer(DType::F32, {int64_t(values.size())}, values);
    EXPECT_FALSE(run(OpId::Argmax, {all(i)}, {all(x)}));
    return i.loadInt(0);
  };
  EXPECT_EQ(argmaxOf({1, 3, 2, 3}), 1);
  EXPECT_EQ(argmaxOf({nan, 1, 5, nan, 5}), 2);
  EXPECT_EQ(argmaxOf({-INFINITY, -INFINITY}), 0);
  EXPECT_EQ(argmaxOf({nan, nan}), -1);
  // Over a 2-d region, the index counts in row-major order of the box.
  HostBuffer x = makeBuffer(DType::BF16, {3, 4}, {0, 0, 0, 0, 1, 7, 2, 9, 3, 9, 0, 0});
  ASSERT_FALSE(run(OpId::Argmax, {all(i)}, {{&x, box({1, 1}, {3, 4})}}));
  EXPECT_EQ(i.loadInt(0), 2); // elements 7 2 9 | 9 0 0: the first 9
}

TEST(OpReference, ArgmaxPartialsMergedEqualArgmax) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> values = randomValues(20, 16);
  values[3] = 5;
  values[15] = 5;              // a tie across partials: index 3 must win
  values[8] = values[9] = nan; // NaNs inside a partial
  HostBuffer x = makeBuffer(DType::F32, {2, 20}, std::vector<float>(40, nan));
  for (size_t k = 0; k < 20; ++k)
    x.store(int64_t(20 + k), values[k]); // the vector is row 1; row 0 is all NaN
  HostBuffer best = makeBuffer(DType::F32, {4, 2});
  const int64_t bounds[] = {0, 7, 14, 20};
  for (int64_t s = 0; s < 3; ++s)
    ASSERT_FALSE(run(OpId::ArgmaxPartial, {{&best, box({s, 0}, {s + 1, 2}, 0b01)}},
                     {{&x, box({1, bounds[s]}, {2, bounds[s + 1]}, 0b01)}}));
  ASSERT_FALSE(run(OpId::ArgmaxPartial, {{&best, box({3, 0}, {4, 2}, 0b01)}}, {{&x, box({0, 0}, {1, 5}, 0b01)}}));
  EXPECT_EQ(best.load(0), 5.0f);
  EXPECT_EQ(best.load(1), 3.0f);
  EXPECT_EQ(best.load(5), 15.0f); // the third partial's index is in the buffer's last dimension
  EXPECT_TRUE(std::isnan(best.load(6)));
  EXPECT_EQ(best.load(7), -1.0f);
  HostBuffer i = makeBuffer(DType::I32, {1});
  ASSERT_FALSE(run(OpId::ArgmaxMerge, {all(i)}, {all(best)}));
  EXPECT_EQ(i.loadInt(0), 3);
  // Partials in reverse order still give the lowest index on a tie.
  HostBuffer reversed = makeBuffer(DType::F32, {2, 2}, {5, 15, 5, 3});
  ASSERT_FALSE(run(OpId::ArgmaxMerge, {all(i)}, {all(reversed)}));
  EXPECT_EQ(i.loadInt(0), 3);
}

// The fused op must give the bits of rmsnorm into a buffer of x's type followed by matvec.
TEST(OpReference, RmsNormMatVecEqualsRmsNormThenMatVec) {
  for (DType xType : {DType::BF16, DType::F16, DType::F32}) {
    const std::vector<float> xs = randomValues(32, 17, -3, 3), ws = randomValues(32, 18, 0.5f, 1.5f);
    HostBuffer W = makeBuffer(DType::BF16, {8, 32}, randomValues(8 * 32, 19));
    HostBuffer x = makeBuffer(xType, {32}, xs), w = makeBuffer(DType::BF16, {32}, ws);
    HostBuffer fused = makeBuffer(DType::F32, {8}), normed = makeBuffer(xType, {32}),
               split = makeBuffer(DType::F32, {8});
    const std::vector<Value> eps = attributes(OpId::RmsNormMatVec, {{"eps", Value{1e-5, {}}}});
    ASSERT_FALSE(run(OpId::RmsNormMatVec, {all(fused)}, {all(W), all(x), all(w)}, eps));
    ASSERT_FALSE(run(OpId::RmsNorm, {all(normed)}, {all(x), all(w)}, eps));
    ASSERT_FALSE(run(OpId::MatVec, {all(split)}, {all(W), all(normed)}));
    for (int64_t r = 0; r < 8; ++r)
      EXPECT_EQ(bitsOf(fused.load(r)), bitsOf(split.load(r))) << ir::ast::dtypeName(xType) << " row " << r;
  }
}

// The fused MLP tile must give the bits of the three ops it replaces: rmsnorm_matvec of the gate rows
// and of the up rows into buffers of y's type, then silu_mul, for every float type of x and of y, on
// rows taken out of the middle of stacked weights.
TEST(OpReference, RmsNormGateUpSiluEqualsGateAndUpProjectionsThenSiluMul) {
  const int64_t R = 16, K = 48;
  const std::vector<Value> eps = attributes(OpId::RmsNormGateUpSilu, {{"eps", Value{1e-5, {}}}});
  for (DType xType : {DType::BF16, DType::F32})
    for (DType yType : {DType::BF16, DType::F16, DType::F32}) {
      size_t compared = 0, equal = 0, roundingMatters = 0;
      for (uint64_t seed : {51u, 52u, 53u, 54u}) {
        HostBuffer Wg = makeBuffer(DType::BF16, {2, 2 * R, K}, randomValues(4 * R * K, seed, -0.5f, 0.5f));
        HostBuffer Wu = makeBuffer(DType::BF16, {2, 2 * R, K}, randomValues(4 * R * K, seed + 100, -0.5f, 0.5f));
        HostBuffer x = makeBuffer(xType, {K}, randomValues(K, seed + 200, -3, 3));
        HostBuffer w = makeBuffer(DType::BF16, {K}, randomValues(K, seed + 300, 0.5f, 1.5f));
        const Arg gateRows{&Wg, box({1, R / 2, 0}, {2, R / 2 + R, K}, 0b001)}; // Wg[1, R/2 : R/2+R, :]
        const Arg upRows{&Wu, box({0, R, 0}, {1, 2 * R, K}, 0b001)};           // Wu[0, R : 2R, :]
        HostBuffer fused = makeBuffer(yType, {R}), gate = makeBuffer(yType, {R}), up = makeBuffer(yType, {R}),
                   composed = makeBuffer(yType, {R});
        ASSERT_FALSE(run(OpId::RmsNormGateUpSilu, {all(fused)}, {gateRows, upRows, all(x), all(w)}, eps));
        ASSERT_FALSE(run(OpId::RmsNormMatVec, {all(gate)}, {gateRows, all(x), all(w)}, eps));
        ASSERT_FALSE(run(OpId::RmsNormMatVec, {all(up)}, {upRows, all(x), all(w)}, eps));
        ASSERT_FALSE(run(OpId::SiluMul, {all(composed)}, {all(gate), all(up)}));
        // The same projections kept in f32 until the store: where y's type is narrower, some element
        // must come out otherwise, or this test would not see the rounding of g and u.
        HostBuffer gate32 = makeBuffer(DType::F32, {R}), up32 = makeBuffer(DType::F32, {R}),
                   unrounded = makeBuffer(yType, {R});
        ASSERT_FALSE(run(OpId::RmsNormMatVec, {all(gate32)}, {gateRows, all(x), all(w)}, eps));
        ASSERT_FALSE(run(OpId::RmsNormMatVec, {all(up32)}, {upRows, all(x), all(w)}, eps));
        for (int64_t r = 0; r < R; ++r) {
          const float g = gate32.load(r);
          unrounded.store(r, model::roundTo(yType, g / (1.0f + std::exp(-g))) * up32.load(r));
        }
        for (int64_t r = 0; r < R; ++r) {
          ++compared;
          equal += bitsOf(fused.load(r)) == bitsOf(composed.load(r));
          roundingMatters += bitsOf(fused.load(r)) != bitsOf(unrounded.load(r));
          EXPECT_EQ(bitsOf(fused.load(r)), bitsOf(composed.load(r)))
              << "x " << ir::ast::dtypeName(xType) << ", y " << ir::ast::dtypeName(yType) << ", seed " << seed
              << ", row " << r << ": " << fused.load(r) << " vs " << composed.load(r);
        }
      }
      if (yType != DType::F32) {
        EXPECT_GT(roundingMatters, 0u) << "no element depends on rounding g and u to " << ir::ast::dtypeName(yType);
      }
      std::printf("[rmsnorm_gate_up_silu vs rmsnorm_matvec (gate), rmsnorm_matvec (up), silu_mul] x %s, y %s: %zu "
                  "elements over 4 seeds, %zu bit-identical; %zu differ from unrounded g and u\n",
                  ir::ast::dtypeName(xType), ir::ast::dtypeName(yType), compared, equal, roundingMatters);
    }
}

// W8A16: y[r] = s[r] · Σ_k q[r, k] x[k], against the same sum in double over the dequantised weights
// (fp32 summation error only: |d| <= 2^-20 of Σ|terms|); the _add and rmsnorm forms are the
// matvec_q8 of the unfused ops, bit for bit.
TEST(OpReference, MatVecQ8ScalesEachRowsIntegerSum) {
  const int64_t R = 8, K = 48;
  std::vector<float> q = randomValues(R * K, 31, -127, 127);
  for (float &v : q)
    v = std::nearbyint(v);
  const std::vector<float> s = randomValues(R, 32, 0.001f, 0.02f), xs = randomValues(K, 33, -2, 2);
  HostBuffer W = makeBuffer(DType::I8, {R, K}, q), S = makeBuffer(DType::BF16, {R}, s), x = makeBuffer(DType::BF16, {K}, xs);
  HostBuffer y = makeBuffer(DType::F32, {R});
  ASSERT_FALSE(run(OpId::MatVecQ8, {all(y)}, {all(W), all(S), all(x)}));
  for (int64_t r = 0; r < R; ++r) {
    double sum = 0, magnitude = 0;
    for (int64_t k = 0; k < K; ++k) {
      const double term = double(W.load(r * K + k)) * S.load(r) * x.load(k);
      sum += term;
      magnitude += std::fabs(term);
    }
    EXPECT_NEAR(y.load(r), sum, std::ldexp(magnitude, -20)) << "row " << r;
  }
  // Saturation of the element type: i8 stores clamp.
  HostBuffer clamp = makeBuffer(DType::I8, {2}, {300.0f, -300.0f});
  EXPECT_EQ(clamp.loadInt(0), 127);
  EXPECT_EQ(clamp.loadInt(1), -128);
}

TEST(OpReference, MatVecQ8AddAndRmsNormMatVecQ8ComposeLikeTheirModelDtypeForms) {
  const int64_t R = 8, K = 32;
  std::vector<float> q = randomValues(R * K, 41, -127, 127);
  for (float &v : q)
    v = std::nearbyint(v);
  HostBuffer W = makeBuffer(DType::I8, {R, K}, q), S = makeBuffer(DType::BF16, {R}, randomValues(R, 42, 0.001f, 0.02f));
  HostBuffer x = makeBuffer(DType::BF16, {K}, randomValues(K, 43, -3, 3));
  HostBuffer w = makeBuffer(DType::BF16, {K}, randomValues(K, 44, 0.5f, 1.5f));
  HostBuffer residual = makeBuffer(DType::BF16, {R}, randomValues(R, 45, -4, 4));
  // matvec_q8_add = residual + round(matvec_q8), in place on the residual.
  HostBuffer product = makeBuffer(DType::BF16, {R}), added = residual;
  ASSERT_FALSE(run(OpId::MatVecQ8, {all(product)}, {all(W), all(S), all(x)}));
  ASSERT_FALSE(run(OpId::MatVecQ8Add, {all(added)}, {all(W), all(S), all(x), all(added)}));
  for (int64_t r = 0; r < R; ++r)
    EXPECT_EQ(bitsOf(added.load(r)), bitsOf(model::roundTo(DType::BF16, residual.load(r) + product.load(r)))) << "row " << r;
  // rmsnorm_matvec_q8 = rmsnorm into x's type, then matvec_q8.
  const std::vector<Value> eps = attributes(OpId::RmsNormMatVecQ8, {{"eps", Value{1e-5, {}}}});
  HostBuffer fused = makeBuffer(DType::F32, {R}), normed = makeBuffer(DType::BF16, {K}), split = makeBuffer(DType::F32, {R});
  ASSERT_FALSE(run(OpId::RmsNormMatVecQ8, {all(fused)}, {all(W), all(S), all(x), all(w)}, eps));
  ASSERT_FALSE(run(OpId::RmsNorm, {all(normed)}, {all(x), all(w)}, attributes(OpId::RmsNorm, {{"eps", Value{1e-5, {}}}})));
  ASSERT_FALSE(run(OpId::MatVecQ8, {all(split)}, {all(W), all(S), all(normed)}));
  for (int64_t r = 0; r < R; ++r)
    EXPECT_EQ(bitsOf(fused.load(r)), bitsOf(split.load(r))) << "row " << r;
}

TEST(OpReference, OpaqueIsTheFnvHashOfItsInputsAndTheIndex) {
  HostBuffer a = makeBuffer(DType::I8, {3});
  a.storeInt(0, 1);
  a.storeInt(1, -1);
  a.storeInt(2, 7);
  HostBuffer b = makeBuffer(DType::BF16, {1}, {1.0f}); // 0x3f80, little-endian 80 3f
  HostBuffer out = makeBuffer(DType::I32, {2, 2});
  ASSERT_FALSE(run(OpId::Opaque, {{&out, box({1, 0}, {2, 2}, 0b01)}}, {all(a), all(b)},
                   attributes(OpId::Opaque, {{"name", Value{std::string("mix"), {}}}})));
  for (uint64_t j = 0; j < 2; ++j) {
    std::vector<std::byte> bytes = {std::byte{0x01}, std::byte{0xff}, std::byte{0x07}, std::byte{0x80},
                                    std::byte{0x3f}};
    for (int k = 0; k < 8; ++k)
      bytes.push_back(static_cast<std::byte>(j >> (8 * k)));
    EXPECT_EQ(static_cast<uint32_t>(out.loadInt(int64_t(2 + j))), static_cast<uint32_t>(fnv1a(kFnvOffsetBasis, bytes)))
        << j;
  }
  EXPECT_EQ(out.loadInt(0), 0);
  // Read-modify-write: the output names the input; the hash is of the old contents.
  HostBuffer c = makeBuffer(DType::F32, {2});
  ASSERT_FALSE(run(OpId::Opaque, {all(c)}, {all(c)}));
  const std::vector<float> once = c.toFloats();
  ASSERT_FALSE(run(OpId::Opaque, {all(c)}, {all(c)}));
  EXPECT_NE(bitsOf(c.load(0)), bitsOf(once[0]));
}

} // namespace
} // namespace amk::executor
