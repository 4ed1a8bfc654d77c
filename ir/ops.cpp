#include "amk/ir/ops.h"

#include <cassert>

namespace amk::ir {

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

namespace {

using ast::DType;
using Operands = std::vector<OperandType>;
using Result = std::optional<OperandRuleError>;
using Attributes = std::vector<ast::Value>;

Result dtypeError(bool isOutput, size_t operand, std::string message) {
  return OperandRuleError{"AMK-T003", isOutput, operand, std::move(message)};
}
Result shapeError(bool isOutput, size_t operand, std::string message) {
  return OperandRuleError{"AMK-T004", isOutput, operand, std::move(message)};
}

std::string typeOf(const OperandType &t) { return std::string(ast::dtypeName(t.dtype)) + shapeString(t.shape); }

std::string count(int64_t n, const char *noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

// Each helper checks one operand and names it in the message.
Result requireFloat(const OperandType &t, bool isOutput, size_t operand, std::string_view name) {
  if (ast::isFloatType(t.dtype))
    return std::nullopt;
  return dtypeError(isOutput, operand,
                    "operand '" + std::string(name) + "' must be bf16, f16 or f32, found " + ast::dtypeName(t.dtype));
}

Result requireI32Scalar(const OperandType &t, bool isOutput, size_t operand, std::string_view name) {
  if (t.dtype != DType::I32)
    return dtypeError(isOutput, operand,
                      "operand '" + std::string(name) + "' must be i32, found " + ast::dtypeName(t.dtype));
  if (t.elements != 1)
    return shapeError(isOutput, operand, "operand '" + std::string(name) + "' must be one element, found " + typeOf(t));
  return std::nullopt;
}

Result requireElements(const OperandType &t, int64_t expected, bool isOutput, size_t operand, std::string_view name,
                       const std::string &why) {
  if (t.elements == expected)
    return std::nullopt;
  return shapeError(isOutput, operand,
                    "operand '" + std::string(name) + "' has " + count(t.elements, "element") + " " + typeOf(t) +
                        ", expected " + std::to_string(expected) + " (" + why + ")");
}

Result requireRank(const OperandType &t, size_t rank, bool isOutput, size_t operand, std::string_view name,
                   std::string_view form) {
  if (t.shape.size() == rank)
    return std::nullopt;
  return shapeError(isOutput, operand,
                    "operand '" + std::string(name) + "' must be a " + std::string(form) + ", found " + typeOf(t));
}

#define AMK_CHECK(expr)                                                                                                \
  if (Result r = (expr))                                                                                               \
  return r

Result checkCopy(const Operands &out, const Operands &in, const Attributes &) {
  bool bothFloat = ast::isFloatType(out[0].dtype) && ast::isFloatType(in[0].dtype);
  if (!bothFloat && out[0].dtype != in[0].dtype)
    return dtypeError(true, 0,
                      std::string("converts only between float types; 'y' is ") + ast::dtypeName(out[0].dtype) +
                          " and 'x' is " + ast::dtypeName(in[0].dtype));
  AMK_CHECK(requireElements(out[0], in[0].elements, true, 0, "y", "the element count of 'x'"));
  return std::nullopt;
}

Result checkElementwise2(const Operands &out, const Operands &in, std::string_view a, std::string_view b) {
  AMK_CHECK(requireFloat(out[0], true, 0, "y"));
  AMK_CHECK(requireFloat(in[0], false, 0, a));
  AMK_CHECK(requireFloat(in[1], false, 1, b));
  AMK_CHECK(requireElements(in[1], in[0].elements, false, 1, b, "the element count of '" + std::string(a) + "'"));
  AMK_CHECK(requireElements(out[0], in[0].elements, true, 0, "y", "the element count of '" + std::string(a) + "'"));
  return std::nullopt;
}

Result checkAdd(const Operands &out, const Operands &in, const Attributes &) {
  return checkElementwise2(out, in, "a", "b");
}
Result checkSiluMul(const Operands &out, const Operands &in, const Attributes &) {
  return checkElementwise2(out, in, "g", "u");
}

Result checkEmbed(const Operands &out, const Operands &in, const Attributes &) {
  AMK_CHECK(requireFloat(in[0], false, 0, "table"));
  AMK_CHECK(requireRank(in[0], 2, false, 0, "table", "matrix [vocab, hidden]"));
  AMK_CHECK(requireI32Scalar(in[1], false, 1, "tok"));
  AMK_CHECK(requireFloat(out[0], true, 0, "x"));
  AMK_CHECK(requireElements(out[0], in[0].shape[1], true, 0, "x", "the row length of 'table'"));
  return std::nullopt;
}

Result checkRmsNorm(const Operands &out, const Operands &in, const Attributes &) {
  const OperandType &x = in[0], &w = in[1];
  AMK_CHECK(requireFloat(x, false, 0, "x"));
  AMK_CHECK(requireFloat(w, false, 1, "w"));
  AMK_CHECK(requireFloat(out[0], true, 0, "y"));
  AMK_CHECK(requireRank(x, 1, false, 0, "x", "vector"));
  AMK_CHECK(requireRank(w, 1, false, 1, "w", "vector slice"));
  // The slice of x that y receives is the slice w takes of its own (length-n) last dimension.
  if (w.bufferShape.back() != x.elements || w.hi.back() - w.lo.back() != w.elements)
    return shapeError(false, 1,
                      "operand 'w' must be a slice of the last dimension of a weight as long as 'x' (" +
                          std::to_string(x.elements) + "), found a slice of " + shapeString(w.bufferShape));
  AMK_CHECK(requireElements(out[0], w.elements, true, 0, "y", "the element count of the 'w' slice"));
  return std::nullopt;
}

Result checkMatVec(const Operands &out, const Operands &in, const Attributes &) {
  const OperandType &W = in[0], &x = in[1];
  AMK_CHECK(requireFloat(W, false, 0, "W"));
  AMK_CHECK(requireRank(W, 2, false, 0, "W", "matrix [rows, K]"));
  AMK_CHECK(requireFloat(x, false, 1, "x"));
  AMK_CHECK(requireElements(x, W.shape[1], false, 1, "x", "the column count of 'W'"));
  AMK_CHECK(requireFloat(out[0], true, 0, "y"));
  AMK_CHECK(requireElements(out[0], W.shape[0], true, 0, "y", "the row count of 'W'"));
  if (in.size() == 3) {
    AMK_CHECK(requireFloat(in[2], false, 2, "r"));
    AMK_CHECK(requireElements(in[2], W.shape[0], false, 2, "r", "the row count of 'W'"));
  }
  return std::nullopt;
}

Result checkRope(const Operands &out, const Operands &in, const Attributes &attributes) {
  AMK_CHECK(requireFloat(in[0], false, 0, "v"));
  int64_t headDim = std::get<int64_t>(attributes[0].value);
  if (headDim % 2 != 0)
    return shapeError(false, 0, "attribute head_dim=" + std::to_string(headDim) + " must be even (rotate-half pairs)");
  if (in[0].elements % headDim != 0)
    return shapeError(false, 0,
                      "operand 'v' has " + std::to_string(in[0].elements) +
                          " elements, not a whole number of heads of head_dim=" + std::to_string(headDim));
  AMK_CHECK(requireFloat(out[0], true, 0, "v"));
  AMK_CHECK(requireI32Scalar(in[1], false, 1, "pos"));
  AMK_CHECK(requireElements(out[0], in[0].elements, true, 0, "v", "the element count of the input 'v'"));
  return std::nullopt;
}

Result checkKvStore(const Operands &out, const Operands &in, const Attributes &) {
  const OperandType &cache = out[0];
  AMK_CHECK(requireFloat(cache, true, 0, "cache"));
  AMK_CHECK(requireRank(cache, 2, true, 0, "cache", "matrix [positions, head_dim]"));
  AMK_CHECK(requireFloat(in[0], false, 0, "v"));
  AMK_CHECK(requireElements(in[0], cache.shape[1], false, 0, "v", "the head_dim of 'cache'"));
  AMK_CHECK(requireI32Scalar(in[1], false, 1, "pos"));
  return std::nullopt;
}

Result checkAttention(const Operands &out, const Operands &in, const Attributes &) {
  const OperandType &q = in[0], &k = in[1], &v = in[2];
  AMK_CHECK(requireFloat(k, false, 1, "kcache"));
  AMK_CHECK(requireRank(k, 2, false, 1, "kcache", "matrix [positions, head_dim]"));
  AMK_CHECK(requireFloat(v, false, 2, "vcache"));
  if (v.shape != k.shape)
    return shapeError(false, 2, "operand 'vcache' " + typeOf(v) + " must have the shape of 'kcache' " + typeOf(k));
  AMK_CHECK(requireFloat(q, false, 0, "q"));
  int64_t headDim = k.shape[1];
  if (q.elements % headDim != 0)
    return shapeError(false, 0,
                      "operand 'q' has " + std::to_string(q.elements) + " elements, not a whole number of heads of " +
                          std::to_string(headDim));
  AMK_CHECK(requireI32Scalar(in[3], false, 3, "pos"));
  AMK_CHECK(requireFloat(out[0], true, 0, "o"));
  AMK_CHECK(requireElements(out[0], q.elements, true, 0, "o", "the element count of 'q'"));
  return std::nullopt;
}

Result checkArgmax(const Operands &out, const Operands &in, const Attributes &) {
  AMK_CHECK(requireFloat(in[0], false, 0, "x"));
  AMK_CHECK(requireI32Scalar(out[0], true, 0, "i"));
  return std::nullopt;
}

Result checkRmsNormMatVec(const Operands &out, const Operands &in, const Attributes &) {
  const OperandType &W = in[0], &x = in[1], &w = in[2];
  AMK_CHECK(requireFloat(W, false, 0, "W"));
  AMK_CHECK(requireRank(W, 2, false, 0, "W", "matrix [rows, K]"));
  AMK_CHECK(requireFloat(x, false, 1, "x"));
  AMK_CHECK(requireElements(x, W.shape[1], false, 1, "x", "the column count of 'W'"));
  AMK_CHECK(requireFloat(w, false, 2, "w"));
  AMK_CHECK(requireElements(w, W.shape[1], false, 2, "w", "the column count of 'W'"));
  AMK_CHECK(requireFloat(out[0], true, 0, "y"));
  AMK_CHECK(requireElements(out[0], W.shape[0], true, 0, "y", "the row count of 'W'"));
  return std::nullopt;
}

// The position range an attention_partial covers is the position slice of its cache regions, so
// both caches must take the same one.
Result checkAttentionPartial(const Operands &out, const Operands &in, const Attributes &) {
  const OperandType &q = in[0], &k = in[1], &v = in[2];
  AMK_CHECK(requireFloat(k, false, 1, "kcache"));
  AMK_CHECK(requireRank(k, 2, false, 1, "kcache", "matrix [positions, head_dim]"));
  AMK_CHECK(requireFloat(v, false, 2, "vcache"));
  if (v.shape != k.shape)
    return shapeError(false, 2, "operand 'vcache' " + typeOf(v) + " must have the shape of 'kcache' " + typeOf(k));
  size_t kPositions = k.lo.size() - 2, vPositions = v.lo.size() - 2;
  if (k.lo[kPositions] != v.lo[vPositions])
    return shapeError(false, 2,
                      "operand 'vcache' starts at position " + std::to_string(v.lo[vPositions]) +
                          ", 'kcache' at position " + std::to_string(k.lo[kPositions]) +
                          " (both must take the same positions)");
  AMK_CHECK(requireFloat(q, false, 0, "q"));
  int64_t headDim = k.shape[1];
  if (q.elements % headDim != 0)
    return shapeError(false, 0,
                      "operand 'q' has " + std::to_string(q.elements) + " elements, not a whole number of heads of " +
                          std::to_string(headDim));
  AMK_CHECK(requireI32Scalar(in[3], false, 3, "pos"));
  AMK_CHECK(requireFloat(out[0], true, 0, "part"));
  AMK_CHECK(requireElements(out[0], q.elements, true, 0, "part", "the element count of 'q'"));
  AMK_CHECK(requireFloat(out[1], true, 1, "lse"));
  AMK_CHECK(requireElements(out[1], q.elements / headDim, true, 1, "lse", "one per query head"));
  return std::nullopt;
}

Result checkAttentionMerge(const Operands &out, const Operands &in, const Attributes &) {
  const OperandType &part = in[0], &lse = in[1];
  AMK_CHECK(requireFloat(part, false, 0, "part"));
  AMK_CHECK(requireRank(part, 2, false, 0, "part", "matrix [splits, heads * head_dim]"));
  AMK_CHECK(requireFloat(lse, false, 1, "lse"));
  AMK_CHECK(requireRank(lse, 2, false, 1, "lse", "matrix [splits, heads]"));
  if (lse.shape[0] != part.shape[0])
    return shapeError(false, 1, "operand 'lse' " + typeOf(lse) + " must have as many splits as 'part' " + typeOf(part));
  if (part.shape[1] % lse.shape[1] != 0)
    return shapeError(false, 0,
                      "operand 'part' rows of " + std::to_string(part.shape[1]) + " are not a whole number of " +
                          std::to_string(lse.shape[1]) + " heads");
  AMK_CHECK(requireFloat(out[0], true, 0, "o"));
  AMK_CHECK(requireElements(out[0], part.shape[1], true, 0, "o", "the row length of 'part'"));
  return std::nullopt;
}

// The partial's index is a position in x's buffer's last dimension, so x must be a slice of that
// dimension alone; it is stored as f32, exact below 2^24.
Result checkArgmaxPartial(const Operands &out, const Operands &in, const Attributes &) {
  const OperandType &x = in[0];
  AMK_CHECK(requireFloat(x, false, 0, "x"));
  AMK_CHECK(requireRank(x, 1, false, 0, "x", "vector slice"));
  if (x.hi.back() - x.lo.back() != x.elements)
    return shapeError(false, 0, "operand 'x' must be a slice of its buffer's last dimension, found " + typeOf(x));
  if (x.bufferShape.back() > (int64_t{1} << 24))
    return shapeError(false, 0,
                      "operand 'x' has a last dimension of " + std::to_string(x.bufferShape.back()) +
                          ", above 2^24 (indices are stored as f32)");
  if (out[0].dtype != DType::F32)
    return dtypeError(true, 0, std::string("operand 'best' must be f32, found ") + ast::dtypeName(out[0].dtype));
  AMK_CHECK(requireElements(out[0], 2, true, 0, "best", "a value and its index"));
  return std::nullopt;
}

Result checkArgmaxMerge(const Operands &out, const Operands &in, const Attributes &) {
  const OperandType &best = in[0];
  if (best.dtype != DType::F32)
    return dtypeError(false, 0, std::string("operand 'best' must be f32, found ") + ast::dtypeName(best.dtype));
  AMK_CHECK(requireRank(best, 2, false, 0, "best", "matrix [partials, 2]"));
  if (best.shape[1] != 2)
    return shapeError(false, 0, "operand 'best' must be [partials, 2] (value, index), found " + typeOf(best));
  AMK_CHECK(requireI32Scalar(out[0], true, 0, "i"));
  return std::nullopt;
}

// The W8A16 projections: int8 rows W with one float scale per row, inputs in the order W, s, x
// and then r (matvec_q8_add) or the norm weight w (rmsnorm_matvec_q8).
Result checkMatVecQ8(const Operands &out, const Operands &in, std::string_view extra) {
  const OperandType &W = in[0], &s = in[1], &x = in[2];
  if (W.dtype != DType::I8)
    return dtypeError(false, 0, std::string("operand 'W' must be i8, found ") + ast::dtypeName(W.dtype));
  AMK_CHECK(requireRank(W, 2, false, 0, "W", "matrix [rows, K]"));
  AMK_CHECK(requireFloat(s, false, 1, "s"));
  AMK_CHECK(requireElements(s, W.shape[0], false, 1, "s", "one scale per row of 'W'"));
  AMK_CHECK(requireFloat(x, false, 2, "x"));
  AMK_CHECK(requireElements(x, W.shape[1], false, 2, "x", "the column count of 'W'"));
  AMK_CHECK(requireFloat(out[0], true, 0, "y"));
  AMK_CHECK(requireElements(out[0], W.shape[0], true, 0, "y", "the row count of 'W'"));
  if (extra == "r") {
    AMK_CHECK(requireFloat(in[3], false, 3, "r"));
    AMK_CHECK(requireElements(in[3], W.shape[0], false, 3, "r", "the row count of 'W'"));
  } else if (extra == "w") {
    AMK_CHECK(requireFloat(in[3], false, 3, "w"));
    AMK_CHECK(requireElements(in[3], W.shape[1], false, 3, "w", "the column count of 'W'"));
  }
  return std::nullopt;
}

Result checkMatVecQ8Plain(const Operands &out, const Operands &in, const Attributes &) {
  return checkMatVecQ8(out, in, "");
}
Result checkMatVecQ8Add(const Operands &out, const Operands &in, const Attributes &) {
  return checkMatVecQ8(out, in, "r");
}
Result checkRmsNormMatVecQ8(const Operands &out, const Operands &in, const Attributes &) {
  return checkMatVecQ8(out, in, "w");
}

Result checkOpaque(const Operands &, const Operands &, const Attributes &) { return std::nullopt; }

#undef AMK_CHECK

ast::Value intValue(int64_t v) { return ast::Value{v, {}}; }
ast::Value floatValue(double v) { return ast::Value{v, {}}; }
ast::Value stringValue(std::string v) { return ast::Value{std::move(v), {}}; }

std::vector<OpInfo> buildRegistry() {
  using T = AttributeType;
  std::vector<OpInfo> ops;
  ops.push_back({OpId::Copy,
                 "copy",
                 "y = x",
                 {"y"},
                 {"x"},
                 false,
                 {},
                 {},
                 "same element count; float types convert, others must match",
                 checkCopy});
  ops.push_back({OpId::Add,
                 "add",
                 "y = a + b",
                 {"y"},
                 {"a", "b"},
                 false,
                 {{0, 0}},
                 {},
                 "float; a, b and y have the same element count",
                 checkAdd});
  ops.push_back({OpId::Embed,
                 "embed",
                 "x = table[tok]",
                 {"x"},
                 {"table", "tok"},
                 false,
                 {},
                 {},
                 "table float [V, H]; tok i32, one element; x float, H elements",
                 checkEmbed});
  ops.push_back({OpId::RmsNorm,
                 "rmsnorm",
                 "y = (x / rms(x))[a:b] * w[a:b], over the whole vector x",
                 {"y"},
                 {"x", "w"},
                 false,
                 {},
                 {{"eps", T::Float, false, floatValue(1e-6), {}, true, "added to the mean square"}},
                 "x float vector of n; w a float slice a:b of a length-n last dimension; y has b-a elements",
                 checkRmsNorm});
  ops.push_back({OpId::MatVec,
                 "matvec",
                 "y = W x",
                 {"y"},
                 {"W", "x"},
                 false,
                 {},
                 {},
                 "W float [R, K]; x float, K elements; y float, R elements",
                 checkMatVec});
  ops.push_back({OpId::MatVecAdd,
                 "matvec_add",
                 "y = W x + r (residual fused)",
                 {"y"},
                 {"W", "x", "r"},
                 false,
                 {{0, 2}},
                 {},
                 "as matvec; r float, R elements",
                 checkMatVec});
  ops.push_back({OpId::Rope,
                 "rope",
                 "rotary embedding of the heads in v at position pos (HF rotate-half)",
                 {"v"},
                 {"v", "pos"},
                 false,
                 {{0, 0}},
                 {{"head_dim", T::Int, true, {}, {}, true, "rotary head dimension (even)"},
                  {"theta", T::Float, false, floatValue(10000.0), {}, true, "rope base"},
                  {"scaling", T::String, false, stringValue("none"), {"none", "llama3"}, false, "frequency scaling"},
                  {"factor", T::Float, false, floatValue(8.0), {}, true, "llama3 scaling factor"},
                  {"low_freq_factor", T::Float, false, floatValue(1.0), {}, true, "llama3 low frequency factor"},
                  {"high_freq_factor", T::Float, false, floatValue(4.0), {}, true, "llama3 high frequency factor"},
                  {"original_max_position", T::Int, false, intValue(8192), {}, true, "llama3 original context length"}},
                 "v float, a whole number of heads of head_dim (even); pos i32, one element",
                 checkRope});
  ops.push_back({OpId::KvStore,
                 "kv_store",
                 "cache[pos, :] = v",
                 {"cache"},
                 {"v", "pos"},
                 false,
                 {},
                 {},
                 "cache float [P, D]; v float, D elements; pos i32, one element",
                 checkKvStore});
  ops.push_back({OpId::Attention,
                 "attention",
                 "causal decode attention of the q heads over positions 0..pos",
                 {"o"},
                 {"q", "kcache", "vcache", "pos"},
                 false,
                 {},
                 {},
                 "kcache, vcache float [P, D]; q, o float, a whole number of heads of D; pos i32",
                 checkAttention});
  ops.push_back({OpId::SiluMul,
                 "silu_mul",
                 "y = silu(g) * u",
                 {"y"},
                 {"g", "u"},
                 false,
                 {},
                 {},
                 "float; g, u and y have the same element count",
                 checkSiluMul});
  ops.push_back({OpId::Argmax,
                 "argmax",
                 "i = index of the largest element of x (ties: lowest index)",
                 {"i"},
                 {"x"},
                 false,
                 {},
                 {},
                 "x float; i i32, one element",
                 checkArgmax});
  ops.push_back({OpId::RmsNormMatVec,
                 "rmsnorm_matvec",
                 "y = W (x / rms(x) * w): the RMS norm of the whole x fused into the projection's prologue",
                 {"y"},
                 {"W", "x", "w"},
                 false,
                 {},
                 {{"eps", T::Float, false, floatValue(1e-6), {}, true, "added to the mean square"}},
                 "W float [R, K]; x and w float, K elements; y float, R elements",
                 checkRmsNormMatVec});
  ops.push_back({OpId::AttentionPartial,
                 "attention_partial",
                 "split-KV decode attention of the q heads over the cache's position slice p0:p1 (up to pos): "
                 "normalised partial output and its log-sum-exp",
                 {"part", "lse"},
                 {"q", "kcache", "vcache", "pos"},
                 false,
                 {},
                 {},
                 "kcache, vcache float [P, D], the same positions; q, part float, a whole number of heads of D; lse "
                 "float, one per head; pos i32",
                 checkAttentionPartial});
  ops.push_back({OpId::AttentionMerge,
                 "attention_merge",
                 "o = the log-sum-exp weighted combination of the split partial outputs",
                 {"o"},
                 {"part", "lse"},
                 false,
                 {},
                 {},
                 "part float [S, H*D]; lse float [S, H]; o float, H*D elements",
                 checkAttentionMerge});
  ops.push_back({OpId::ArgmaxPartial,
                 "argmax_partial",
                 "best = (the largest element of the slice x, its index in x's buffer's last dimension)",
                 {"best"},
                 {"x"},
                 false,
                 {},
                 {},
                 "x float, a slice of its buffer's last dimension (at most 2^24 long); best f32, 2 elements",
                 checkArgmaxPartial});
  ops.push_back({OpId::ArgmaxMerge,
                 "argmax_merge",
                 "i = the index of the best partial (ties: lowest index)",
                 {"i"},
                 {"best"},
                 false,
                 {},
                 {},
                 "best f32 [P, 2]; i i32, one element",
                 checkArgmaxMerge});
  ops.push_back({OpId::MatVecQ8,
                 "matvec_q8",
                 "y = s * (W x): int8 weight rows W, one scale per row (W8A16)",
                 {"y"},
                 {"W", "s", "x"},
                 false,
                 {},
                 {},
                 "W i8 [R, K]; s float, R elements; x float, K elements; y float, R elements",
                 checkMatVecQ8Plain});
  ops.push_back({OpId::MatVecQ8Add,
                 "matvec_q8_add",
                 "y = s * (W x) + r: matvec_q8 with the residual fused",
                 {"y"},
                 {"W", "s", "x", "r"},
                 false,
                 {{0, 3}},
                 {},
                 "as matvec_q8; r float, R elements",
                 checkMatVecQ8Add});
  ops.push_back({OpId::RmsNormMatVecQ8,
                 "rmsnorm_matvec_q8",
                 "y = s * (W (x / rms(x) * w)): rmsnorm_matvec over int8 weight rows with one scale per row",
                 {"y"},
                 {"W", "s", "x", "w"},
                 false,
                 {},
                 {{"eps", T::Float, false, floatValue(1e-6), {}, true, "added to the mean square"}},
                 "W i8 [R, K]; s float, R elements; x and w float, K elements; y float, R elements",
                 checkRmsNormMatVecQ8});
  ops.push_back({OpId::Opaque,
                 "opaque",
                 "every output element becomes a fixed hash of all input elements",
                 {},
                 {},
                 true,
                 {},
                 {{"name", T::String, false, stringValue(""), {}, false, "a label"}},
                 "none; an output may name an input exactly (read-modify-write)",
                 checkOpaque});
  for (size_t i = 0; i < ops.size(); ++i)
    assert(static_cast<size_t>(ops[i].id) == i && "registry order must follow OpId");
  return ops;
}

const std::vector<OpInfo> &registry() {
  static const std::vector<OpInfo> ops = buildRegistry();
  return ops;
}

} // namespace

bool OpInfo::allowsInPlace(size_t output, size_t input) const {
  if (variadic)
    return true;
  for (auto [o, i] : inPlace)
    if (o == output && i == input)
      return true;
  return false;
}

const AttributeSpec *OpInfo::findAttribute(std::string_view attribute) const {
  for (const AttributeSpec &spec : attributes)
    if (spec.name == attribute)
      return &spec;
  return nullptr;
}

std::span<const OpInfo> allOps() { return registry(); }

const OpInfo *findOp(std::string_view name) {
  for (const OpInfo &op : registry())
    if (op.name == name)
      return &op;
  return nullptr;
}

const OpInfo &opInfo(OpId id) { return registry()[static_cast<size_t>(id)]; }

} // namespace amk::ir
