#include "amk/ir/ops.h"

#include <cstdio>
#include <cstdlib>
#include <initializer_list>

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

// The normalised projections of the model dtype: the weights named in `weights` (inputs 0, 1, ...,
// each [R, K], all of the first one's shape), then x and the norm weight w (K elements each); y has
// R elements.
Result checkNormalisedProjection(const Operands &out, const Operands &in,
                                 std::initializer_list<std::string_view> weights) {
  const std::string_view first = *weights.begin();
  const OperandType &W = in[0];
  size_t operand = 0;
  for (std::string_view name : weights) {
    const OperandType &weight = in[operand];
    AMK_CHECK(requireFloat(weight, false, operand, name));
    AMK_CHECK(requireRank(weight, 2, false, operand, name, "matrix [rows, K]"));
    if (weight.shape != W.shape)
      return shapeError(false, operand,
                        "operand '" + std::string(name) + "' " + typeOf(weight) + " must have the shape of '" +
                            std::string(first) + "' " + typeOf(W));
    ++operand;
  }
  const std::string columns = "the column count of '" + std::string(first) + "'";
  const OperandType &x = in[operand], &w = in[operand + 1];
  AMK_CHECK(requireFloat(x, false, operand, "x"));
  AMK_CHECK(requireElements(x, W.shape[1], false, operand, "x", columns));
  AMK_CHECK(requireFloat(w, false, operand + 1, "w"));
  AMK_CHECK(requireElements(w, W.shape[1], false, operand + 1, "w", columns));
  AMK_CHECK(requireFloat(out[0], true, 0, "y"));
  AMK_CHECK(requireElements(out[0], W.shape[0], true, 0, "y", "the row count of '" + std::string(first) + "'"));
  return std::nullopt;
}

Result checkRmsNormMatVec(const Operands &out, const Operands &in, const Attributes &) {
  return checkNormalisedProjection(out, in, {"W"});
}
Result checkRmsNormGateUpSilu(const Operands &out, const Operands &in, const Attributes &) {
  return checkNormalisedProjection(out, in, {"Wg", "Wu"});
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
// and then what the form adds.
enum class Q8Form {
  Plain,          // matvec_q8: nothing
  Residual,       // matvec_q8_add: the residual r, one per row
  NormalisedInput // rmsnorm_matvec_q8: the norm weight w, one per column
};

Result checkMatVecQ8(const Operands &out, const Operands &in, Q8Form form) {
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
  switch (form) {
  case Q8Form::Plain:
    break;
  case Q8Form::Residual:
    AMK_CHECK(requireFloat(in[3], false, 3, "r"));
    AMK_CHECK(requireElements(in[3], W.shape[0], false, 3, "r", "the row count of 'W'"));
    break;
  case Q8Form::NormalisedInput:
    AMK_CHECK(requireFloat(in[3], false, 3, "w"));
    AMK_CHECK(requireElements(in[3], W.shape[1], false, 3, "w", "the column count of 'W'"));
    break;
  }
  return std::nullopt;
}

Result checkMatVecQ8Plain(const Operands &out, const Operands &in, const Attributes &) {
  return checkMatVecQ8(out, in, Q8Form::Plain);
}
Result checkMatVecQ8Add(const Operands &out, const Operands &in, const Attributes &) {
  return checkMatVecQ8(out, in, Q8Form::Residual);
}
Result checkRmsNormMatVecQ8(const Operands &out, const Operands &in, const Attributes &) {
  return checkMatVecQ8(out, in, Q8Form::NormalisedInput);
}

Result checkOpaque(const Operands &, const Operands &, const Attributes &) { return std::nullopt; }

#undef AMK_CHECK

ast::Value intValue(int64_t v) { return ast::Value{v, {}}; }
ast::Value floatValue(double v) { return ast::Value{v, {}}; }
ast::Value stringValue(std::string v) { return ast::Value{std::move(v), {}}; }

using T = AttributeType;

const AttributeSpec kEps{.name = "eps",
                         .type = T::Float,
                         .defaultValue = floatValue(1e-6),
                         .positive = true,
                         .meaning = "added to the mean square"};

// Ops that move or combine elements one for one.
std::vector<OpInfo> elementwiseOps() {
  return {
      {.id = OpId::Copy,
       .name = "copy",
       .meaning = "y = x",
       .outputNames = {"y"},
       .inputNames = {"x"},
       .rules = "If both are float, any float types (the copy converts); otherwise the dtypes must be equal (`i32` "
                "to `i32`, `i8` to `i8`). y has x's element count (shapes may differ).",
       .checkOperands = checkCopy},
      {.id = OpId::Add,
       .name = "add",
       .meaning = "y = a + b",
       .outputNames = {"y"},
       .inputNames = {"a", "b"},
       .inPlace = {{0, 0}},
       .rules = "All float; b and y have a's element count.",
       .checkOperands = checkAdd},
      {.id = OpId::SiluMul,
       .name = "silu_mul",
       .meaning = "y = silu(g) * u",
       .outputNames = {"y"},
       .inputNames = {"g", "u"},
       .rules = "All float; u and y have g's element count.",
       .checkOperands = checkSiluMul},
  };
}

// The layer's vector ops: the embedding lookup, the norm and the rotary embedding.
std::vector<OpInfo> vectorOps() {
  return {
      {.id = OpId::Embed,
       .name = "embed",
       .meaning = "x = table[tok]",
       .outputNames = {"x"},
       .inputNames = {"table", "tok"},
       .rules = "table float of rank 2 `[V, H]` (a column slice such as `emb[:, 16*b : 16*b+16]` is allowed); tok "
                "one i32 element; x float with H elements.",
       .checkOperands = checkEmbed},
      {.id = OpId::RmsNorm,
       .name = "rmsnorm",
       .meaning = "y = (x / rms(x))[a:b] * w[a:b], normalised over the whole vector x",
       .outputNames = {"y"},
       .inputNames = {"x", "w"},
       .attributes = {kEps},
       .rules = "x float of rank 1 (n elements); w float of rank 1, a slice `a:b` of the last dimension of a buffer "
                "whose last dimension has length n (all other dimensions of w indexed by points, as in `ln[l, "
                "16*b : 16*b+16]`); y float with `b-a` elements.",
       .checkOperands = checkRmsNorm},
      {.id = OpId::Rope,
       .name = "rope",
       .meaning = "rotary embedding of the heads in v at position pos (HF rotate-half)",
       .outputNames = {"v"},
       .inputNames = {"v", "pos"},
       .inPlace = {{0, 0}},
       .attributes = {{.name = "head_dim",
                       .type = T::Int,
                       .required = true,
                       .positive = true,
                       .meaning = "rotary head dimension (even)"},
                      {.name = "theta",
                       .type = T::Float,
                       .defaultValue = floatValue(10000.0),
                       .positive = true,
                       .meaning = "rope base"},
                      {.name = "scaling",
                       .type = T::String,
                       .defaultValue = stringValue("none"),
                       .choices = {"none", "llama3"},
                       .meaning = "frequency scaling"},
                      {.name = "factor",
                       .type = T::Float,
                       .defaultValue = floatValue(8.0),
                       .positive = true,
                       .meaning = "llama3 scaling factor"},
                      {.name = "low_freq_factor",
                       .type = T::Float,
                       .defaultValue = floatValue(1.0),
                       .positive = true,
                       .meaning = "llama3 low frequency factor"},
                      {.name = "high_freq_factor",
                       .type = T::Float,
                       .defaultValue = floatValue(4.0),
                       .positive = true,
                       .meaning = "llama3 high frequency factor"},
                      {.name = "original_max_position",
                       .type = T::Int,
                       .defaultValue = intValue(8192),
                       .positive = true,
                       .meaning = "llama3 original context length"}},
       .rules = "The input v is float with a whole number of heads of `head_dim` elements; `head_dim` must be even "
                "(AMK-T004); the output is float with the input's element count; pos one i32 element. The four "
                "llama3 attributes are accepted whatever `scaling` is.",
       .checkOperands = checkRope},
  };
}

// The model-dtype projections, with the norm fused into their prologue (and an MLP tile's activation into
// its epilogue) included.
std::vector<OpInfo> projectionOps() {
  return {
      {.id = OpId::MatVec,
       .name = "matvec",
       .meaning = "y = W x",
       .outputNames = {"y"},
       .inputNames = {"W", "x"},
       .rules = "W float of rank 2 `[R, K]`; x float with K elements; y float with R elements.",
       .checkOperands = checkMatVec},
      {.id = OpId::MatVecAdd,
       .name = "matvec_add",
       .meaning = "y = W x + r (residual fused)",
       .outputNames = {"y"},
       .inputNames = {"W", "x", "r"},
       .inPlace = {{0, 2}},
       .rules = "As matvec; r float with R elements.",
       .checkOperands = checkMatVec},
      {.id = OpId::RmsNormMatVec,
       .name = "rmsnorm_matvec",
       .meaning = "y = W (x / rms(x) * w): the norm fused into the projection's prologue",
       .outputNames = {"y"},
       .inputNames = {"W", "x", "w"},
       .attributes = {kEps},
       .rules = "W float of rank 2 `[R, K]`; x and w float with K elements each (w is the whole norm weight, as in "
                "`ln[l, :]`); y float with R elements. Every task normalises the whole of x itself, so a projection "
                "split over many blocks needs no normalised buffer and no synchronisation for it.",
       .checkOperands = checkRmsNormMatVec},
      {.id = OpId::RmsNormGateUpSilu,
       .name = "rmsnorm_gate_up_silu",
       .meaning = "y = silu(Wg n) * (Wu n), n = x / rms(x) * w: an MLP tile's norm, gate and up projections and "
                  "activation in one task",
       .outputNames = {"y"},
       .inputNames = {"Wg", "Wu", "x", "w"},
       .attributes = {kEps},
       .rules = "Wg and Wu float of rank 2 `[R, K]`, of the same shape; x and w float with K elements each (w is the "
                "whole norm weight, as in `ln[l, :]`); y float with R elements. x is normalised once, as "
                "rmsnorm_matvec normalises it, for both projections; each projection is rounded to y's type before "
                "the activation, so the op gives the bits of two rmsnorm_matvec into buffers of y's type followed "
                "by silu_mul.",
       .checkOperands = checkRmsNormGateUpSilu},
  };
}

// The W8A16 projections: int8 weight rows with one scale per row (`amk-plan --weights int8`).
std::vector<OpInfo> int8ProjectionOps() {
  return {
      {.id = OpId::MatVecQ8,
       .name = "matvec_q8",
       .meaning = "y = s ⊙ (W x): int8 weight rows, one scale per row (W8A16)",
       .outputNames = {"y"},
       .inputNames = {"W", "s", "x"},
       .rules = "W i8 of rank 2 `[R, K]`; s float with R elements (one scale per row); x float with K elements; y "
                "float with R elements: y[r] = s[r] · Σₖ W[r,k] x[k].",
       .checkOperands = checkMatVecQ8Plain},
      {.id = OpId::MatVecQ8Add,
       .name = "matvec_q8_add",
       .meaning = "y = s ⊙ (W x) + r",
       .outputNames = {"y"},
       .inputNames = {"W", "s", "x", "r"},
       .inPlace = {{0, 3}},
       .rules = "As matvec_q8, and r float with R elements, added after the scaled product is rounded to y's type.",
       .checkOperands = checkMatVecQ8Add},
      {.id = OpId::RmsNormMatVecQ8,
       .name = "rmsnorm_matvec_q8",
       .meaning = "y = s ⊙ (W (x / rms(x) * w))",
       .outputNames = {"y"},
       .inputNames = {"W", "s", "x", "w"},
       .attributes = {kEps},
       .rules = "As rmsnorm_matvec with int8 rows W and their scales s.",
       .checkOperands = checkRmsNormMatVecQ8},
  };
}

// The KV cache and attention over it, whole or split over position slices.
std::vector<OpInfo> attentionOps() {
  return {
      {.id = OpId::KvStore,
       .name = "kv_store",
       .meaning = "cache[pos, :] = v",
       .outputNames = {"cache"},
       .inputNames = {"v", "pos"},
       .rules = "cache float of rank 2 `[P, D]` (typically `kc[l, h, :, :]`); v float with D elements; pos one i32 "
                "element. The footprint is the whole cache region, since the position is a run-time value.",
       .checkOperands = checkKvStore},
      {.id = OpId::Attention,
       .name = "attention",
       .meaning = "causal decode attention of the q heads over positions 0..pos",
       .outputNames = {"o"},
       .inputNames = {"q", "kcache", "vcache", "pos"},
       .rules = "kcache float of rank 2 `[P, D]`; vcache float of the same shape; q float with a whole number of "
                "heads of D elements, all attending over this one KV head; pos one i32 element; o float with q's "
                "element count.",
       .checkOperands = checkAttention},
      {.id = OpId::AttentionPartial,
       .name = "attention_partial",
       .meaning = "split-KV attention over the cache regions' position slice, with its log-sum-exp",
       .outputNames = {"part", "lse"},
       .inputNames = {"q", "kcache", "vcache", "pos"},
       .rules = "As attention, but over the position slice `p0:p1` that the cache regions take (`kc[l, h, p0:p1, "
                ":]`; kcache and vcache must take the same positions), clipped to `0..pos`: part (float, q's element "
                "count) is the normalised partial output of each head, lse (float, one element per head) its "
                "log-sum-exp; a slice wholly after pos gives part = 0 and lse = -inf.",
       .checkOperands = checkAttentionPartial},
      {.id = OpId::AttentionMerge,
       .name = "attention_merge",
       .meaning = "the log-sum-exp weighted combination of split partials",
       .outputNames = {"o"},
       .inputNames = {"part", "lse"},
       .rules = "part float of rank 2 `[S, H*D]` (S splits of the partial outputs of H heads), lse float of rank 2 "
                "`[S, H]`; o float with H*D elements.",
       .checkOperands = checkAttentionMerge},
  };
}

// The greedy choice of the next token, whole or split over slices of the logits.
std::vector<OpInfo> argmaxOps() {
  return {
      {.id = OpId::Argmax,
       .name = "argmax",
       .meaning = "i = index of the largest element of x (ties: lowest index)",
       .outputNames = {"i"},
       .inputNames = {"x"},
       .rules = "x float (any shape); i one i32 element.",
       .checkOperands = checkArgmax},
      {.id = OpId::ArgmaxPartial,
       .name = "argmax_partial",
       .meaning = "(largest element of the slice x, its index in the buffer's last dimension)",
       .outputNames = {"best"},
       .inputNames = {"x"},
       .rules = "x float of rank 1, a slice of its buffer's last dimension (at most 2^24 long, so that an index is "
                "exact in f32); best f32 with 2 elements: the largest value and its index in that last dimension "
                "(ties: lowest index; NaN never wins).",
       .checkOperands = checkArgmaxPartial},
      {.id = OpId::ArgmaxMerge,
       .name = "argmax_merge",
       .meaning = "index of the best partial (ties: lowest index)",
       .outputNames = {"i"},
       .inputNames = {"best"},
       .rules = "best f32 of rank 2 `[P, 2]`; i one i32 element: the index of the largest partial value (ties: "
                "lowest index).",
       .checkOperands = checkArgmaxMerge},
  };
}

// The op of schedules imported from other systems, hand-written examples and random testing.
std::vector<OpInfo> opaqueOps() {
  return {
      {.id = OpId::Opaque,
       .name = "opaque",
       .meaning = "every output element becomes a fixed hash of all input elements",
       .variadic = true,
       .attributes = {{.name = "name", .type = T::String, .defaultValue = stringValue(""), .meaning = "a label"}},
       .rules = "Any number of outputs and inputs, including none; no dtype or shape rules. Used for schedules "
                "imported from other systems, hand-written examples and random testing.",
       .checkOperands = checkOpaque},
  };
}

// A registry that disagrees with ir/ops.def would bind ops to the wrong checks and references: no
// tool may run with it.
[[noreturn]] void registryMismatch(const std::string &message) {
  std::fprintf(stderr, "amk: internal error: %s\n", message.c_str());
  std::abort();
}

// The families' entries placed at their ids; every line of ir/ops.def must have exactly one, under
// the same name.
std::vector<OpInfo> buildRegistry() {
  std::vector<std::optional<OpInfo>> slots(kOpCount);
  for (std::vector<OpInfo> family :
       {elementwiseOps(), vectorOps(), projectionOps(), int8ProjectionOps(), attentionOps(), argmaxOps(), opaqueOps()})
    for (OpInfo &op : family) {
      const size_t slot = static_cast<size_t>(op.id);
      if (slot >= kOpCount || slots[slot])
        registryMismatch("ir/ops.cpp has a second registry entry for op " + std::to_string(slot) + " ('" +
                         std::string(op.name) + "')");
      if (op.name != kOpTraits[slot].name)
        registryMismatch("ir/ops.cpp names op " + std::to_string(slot) + " '" + std::string(op.name) +
                         "', ir/ops.def names it '" + std::string(kOpTraits[slot].name) + "'");
      slots[slot] = std::move(op);
    }
  std::vector<OpInfo> ops;
  for (size_t slot = 0; slot < kOpCount; ++slot) {
    if (!slots[slot])
      registryMismatch("op '" + std::string(kOpTraits[slot].name) +
                       "' of ir/ops.def has no registry entry in ir/ops.cpp");
    ops.push_back(std::move(*slots[slot]));
  }
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
