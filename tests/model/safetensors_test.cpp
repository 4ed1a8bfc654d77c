// safetensors reading as a specification: a well-formed file's tensors and metadata; every header
// validation rule as a table of malformed header -> exact message; the length prefix and truncation at
// every byte; and exact widening of bf16 and f16.
#include "amk/model/checkpoint.h"
#include "amk/model/numeric.h"
#include "amk/model/safetensors.h"
#include "checkpoint_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace amk::test {
namespace {

using namespace amk::model;

TEST(Safetensors, LoadsTensorsMetadataAndBytes) {
  TempDir dir;
  // bf16[3] first makes the f32 tensor after it start at byte 6: tensors need not be aligned.
  std::string bytes = safetensorsBytes({{"b", "BF16", {3}, u16Bytes({0x3f80, 0xc000, 0x4049})},
                                        {"a", "F32", {2, 2}, f32Bytes({1.5f, -2.0f, 0.25f, 1e30f})},
                                        {"half", "F16", {2}, u16Bytes({0x3c00, 0x0001})},
                                        {"ids", "I64", {1}, std::string(8, '\0')},
                                        {"empty", "F32", {0, 4}, ""}},
                                       {{"format", "pt"}});
  writeBytes(dir.path() / "model.safetensors", bytes);
  Result<SafetensorsFile> file = SafetensorsFile::open(dir / "model.safetensors");
  ASSERT_TRUE(file) << file.error().render();
  const Header &header = file->header();
  ASSERT_EQ(header.tensors.size(), 5u);
  EXPECT_EQ(header.metadata.at("format"), "pt");

  const TensorInfo *a = header.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, TensorDType::F32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a->begin, 6u);
  EXPECT_EQ(a->end, 22u);
  EXPECT_EQ(a->describe(), "f32[2, 2]");
  EXPECT_EQ(header.find("missing"), nullptr);
  // In data order, the zero-size tensor sitting at its offset.
  std::vector<std::string> order;
  for (const TensorInfo &t : header.tensors)
    order.push_back(t.name);
  EXPECT_EQ(order, (std::vector<std::string>{"b", "a", "half", "ids", "empty"}));

  TensorView view{a, file->bytes(*a), &file->path()};
  Result<std::vector<float>> values = toFloat32(view);
  ASSERT_TRUE(values);
  EXPECT_EQ(*values, (std::vector<float>{1.5f, -2.0f, 0.25f, 1e30f}));

  const TensorInfo *b = header.find("b");
  Result<std::vector<float>> widened = toFloat32(TensorView{b, file->bytes(*b), &file->path()});
  ASSERT_TRUE(widened);
  EXPECT_EQ(*widened, (std::vector<float>{1.0f, -2.0f, 3.140625f}));

  const TensorInfo *half = header.find("half");
  Result<std::vector<float>> halves = toFloat32(TensorView{half, file->bytes(*half), &file->path()});
  ASSERT_TRUE(halves);
  EXPECT_EQ(*halves, (std::vector<float>{1.0f, std::ldexp(1.0f, -24)}));

  // Non-float tensors load with the file but are refused as weights, naming the tensor.
  const TensorInfo *ids = header.find("ids");
  Result<std::vector<float>> refused = toFloat32(TensorView{ids, file->bytes(*ids), &file->path()});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "tensor 'ids' has dtype I64; weights must be BF16, F16 or F32");
}

TEST(Safetensors, EmptyHeaderAndEmptyDataAreValid) {
  Result<Header> header = parseHeader("{}", 0, "empty.safetensors");
  ASSERT_TRUE(header);
  EXPECT_TRUE(header->tensors.empty());
  // The Python writer pads the header with spaces, and a null __metadata__ is accepted as absent.
  EXPECT_TRUE(parseHeader(R"({"__metadata__": null}     )", 0, "x"));
}

struct HeaderCase {
  const char *header;
  uint64_t dataBytes;
  const char *message;
};

// Each malformed header and the exact message; the file name is the Error's, rendered before it.
const HeaderCase kMalformedHeaders[] = {
    {R"({"a": )", 0, "header is not valid JSON at byte 6"},
    {"\xff", 0, "header is not valid JSON at byte 0"},
    {"{\"a\": \"\xff\"}", 0, "header is not valid JSON at byte 7"}, // invalid UTF-8 in a string
    // Found by fuzz-safetensors-header: nlohmann throws out_of_range, not parse_error, for 1E400, which
    // escaped the parser's catch and ended the process.
    {R"({"a": 1E400})", 0, "header is not valid JSON: a number is out of range"},
    {R"({"w": {"dtype": "F32", "shape": [1E400], "data_offsets": [0, 4]}})", 4,
     "header is not valid JSON: a number is out of range"},
    {R"([1, 2])", 0, "header must be a JSON object, found array"},
    {R"({"__metadata__": 3})", 0, "'__metadata__' must be an object of strings, found number"},
    {R"({"__metadata__": {"format": 1}})", 0, "'__metadata__' entry 'format' must be a string, found number"},
    {R"({"w": 5})", 0, "tensor 'w': entry must be an object with dtype, shape and data_offsets, found number"},
    {R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4, "tensor 'w': missing 'dtype'"},
    {R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4, "tensor 'w': missing 'shape'"},
    {R"({"w": {"dtype": "F32", "shape": [1]}})", 4, "tensor 'w': missing 'data_offsets'"},
    {R"({"w": {"dtype": 7, "shape": [1], "data_offsets": [0, 4]}})", 4,
     "tensor 'w': 'dtype' must be a string, found 7"},
    {R"({"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 4]}})", 4,
     "tensor 'w': unknown dtype 'Q4' (known: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, "
     "F64, I64, U64)"},
    {R"({"w": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}})", 4,
     "tensor 'w': unknown dtype 'f32' (known: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, "
     "F64, I64, U64)"},
    {R"({"w": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 4]}})", 4,
     "tensor 'w': 'shape' must be an array of non-negative integers, found [2,-1]"},
    {R"({"w": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}})", 4,
     "tensor 'w': 'shape' must be an array of non-negative integers, found [1.0]"},
    {R"({"w": {"dtype": "F32", "shape": {"n": 1}, "data_offsets": [0, 4]}})", 4,
     "tensor 'w': 'shape' must be an array of non-negative integers, found {\"n\":1}"},
    {R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4]}})", 4,
     "tensor 'w': 'data_offsets' must be [begin, end] with non-negative integers, found [4]"},
    {R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 4,
     "tensor 'w': 'data_offsets' must be [begin, end] with non-negative integers, found [-4,0]"},
    {R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})", 8,
     "tensor 'w': 'data_offsets' must be [begin, end] with non-negative integers, found [0,4,8]"},
    {R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8,
     "tensor 'w': data_offsets [8, 4) begin after they end"},
    {R"({"w": {"dtype": "F32", "shape": [32], "data_offsets": [0, 128]}})", 64,
     "tensor 'w': data_offsets [0, 128) end past the 64-byte data section (truncated file?)"},
    {R"({"model.norm.weight": {"dtype": "BF16", "shape": [64], "data_offsets": [10, 20]}})", 20,
     "tensor 'model.norm.weight': data_offsets [10, 20) hold 10 bytes but bf16[64] needs 128"},
    {R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 12]}})", 12,
     "tensor 'w': data_offsets [0, 12) hold 12 bytes but f32[2, 3] needs 24"},
    {R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", 0,
     "tensor 'w': shape [4294967296,4294967296] of f32 overflows 64-bit sizes"},
    {R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8,
     "tensor 'w': data_offsets [4, 8) leave bytes [0, 4) unused at the data's start"},
    {R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
         "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
     12, "tensor 'b': data_offsets [8, 12) leave bytes [4, 8) unused after tensor 'a'"},
    {R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
         "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
     8, "tensor 'b': data_offsets [4, 8) overlap tensor 'a' at [0, 8)"},
    {R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
         "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
     4, "tensor 'b': data_offsets [0, 4) overlap tensor 'a' at [0, 4)"},
    {R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 8,
     "the tensors end at byte 4 of the 8-byte data section; the last 4 bytes belong to no tensor"},
    {R"({})", 3, "the tensors end at byte 0 of the 3-byte data section; the last 3 bytes belong to no tensor"},
};

TEST(Safetensors, MalformedHeadersGiveExactMessages) {
  for (const HeaderCase &c : kMalformedHeaders) {
    Result<Header> header = parseHeader(c.header, c.dataBytes, "model.safetensors");
    ASSERT_FALSE(header) << "accepted: " << c.header;
    EXPECT_EQ(header.error().file, "model.safetensors");
    EXPECT_EQ(header.error().message, c.message) << "header: " << c.header;
  }
}

TEST(Safetensors, ErrorsRenderWithTheFileName) {
  Result<Header> header = parseHeader(
      R"({"model.norm.weight": {"dtype": "BF16", "shape": [64], "data_offsets": [10, 20]}})", 20, "model.safetensors");
  ASSERT_FALSE(header);
  EXPECT_EQ(header.error().render(), "model.safetensors: error: tensor 'model.norm.weight': data_offsets [10, 20) "
                                     "hold 10 bytes but bf16[64] needs 128");
}

std::string withLength(uint64_t length, const std::string &rest) {
  return std::string(reinterpret_cast<const char *>(&length), 8) + rest;
}

Result<Layout> parseBytes(const std::string &bytes) {
  return parseSafetensors({reinterpret_cast<const std::byte *>(bytes.data()), bytes.size()}, "model.safetensors");
}

TEST(Safetensors, LengthPrefixIsChecked) {
  EXPECT_EQ(parseBytes(std::string("\x02\0\0\0\0", 5)).error().message,
            "file is 5 bytes, shorter than the 8-byte header length (truncated file?)");
  EXPECT_EQ(parseBytes(withLength(uint64_t(1) << 40, "{}")).error().message,
            "header length 1099511627776 exceeds the limit of 100000000 bytes (not a safetensors file?)");
  EXPECT_EQ(parseBytes(withLength(100'000'001, "{}")).error().message,
            "header length 100000001 exceeds the limit of 100000000 bytes (not a safetensors file?)");
  EXPECT_EQ(parseBytes(withLength(100, std::string(42, ' '))).error().message,
            "header length 100 needs 108 bytes but the file has 50 (truncated file?)");
  EXPECT_EQ(parseBytes(withLength(UINT64_MAX, "{}")).error().message,
            "header length 18446744073709551615 exceeds the limit of 100000000 bytes (not a safetensors file?)");
  Result<Layout> layout = parseBytes(withLength(2, "{}"));
  ASSERT_TRUE(layout) << layout.error().render();
  EXPECT_EQ(layout->dataOffset, 10u);
}

// Every proper prefix of a valid file is refused with a message, never a crash: the length prefix,
// the header or the data section is then short.
TEST(Safetensors, EveryTruncationIsRefused) {
  TempDir dir;
  std::string bytes = safetensorsBytes({{"a", "F32", {3}, f32Bytes({1, 2, 3})}, {"b", "BF16", {2}, u16Bytes({1, 2})}});
  for (size_t size = 0; size < bytes.size(); ++size) {
    writeBytes(dir.path() / "cut.safetensors", bytes.substr(0, size));
    Result<SafetensorsFile> file = SafetensorsFile::open(dir / "cut.safetensors");
    ASSERT_FALSE(file) << "a file cut to " << size << " of " << bytes.size() << " bytes was accepted";
    EXPECT_NE(file.error().message.find("truncated file?"), std::string::npos) << file.error().render();
  }
  writeBytes(dir.path() / "whole.safetensors", bytes);
  EXPECT_TRUE(SafetensorsFile::open(dir / "whole.safetensors"));
}

TEST(Safetensors, UnreadableFiles) {
  TempDir dir;
  Result<SafetensorsFile> missing = SafetensorsFile::open(dir / "absent.safetensors");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().render(),
            dir / "absent.safetensors" + ": error: cannot open the file (No such file or directory)");
  Result<SafetensorsFile> directory = SafetensorsFile::open(dir.path().string());
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().message, "not a regular file");
  writeBytes(dir.path() / "empty.safetensors", "");
  Result<SafetensorsFile> empty = SafetensorsFile::open(dir / "empty.safetensors");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message, "file is 0 bytes, shorter than the 8-byte header length (truncated file?)");
}

TEST(Safetensors, DtypeWordsAndSizes) {
  for (const char *word : {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
                           "F64", "I64", "U64"}) {
    std::optional<TensorDType> dtype = dtypeFromWord(word);
    ASSERT_TRUE(dtype) << word;
    EXPECT_STREQ(dtypeWord(*dtype), word);
  }
  EXPECT_EQ(dtypeBytes(TensorDType::BF16), 2u);
  EXPECT_EQ(dtypeBytes(TensorDType::F64), 8u);
  EXPECT_TRUE(isFloatWeight(TensorDType::F16));
  EXPECT_FALSE(isFloatWeight(TensorDType::F64));
  EXPECT_FALSE(dtypeFromWord("F4"));
}

// bf16 widening is exact and rounding back returns the same bits, for every non-NaN pattern.
TEST(Numeric, Bf16WideningIsExactForEveryPattern) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    float value = bf16ToFloat(static_cast<uint16_t>(bits));
    ASSERT_EQ(std::bit_cast<uint32_t>(value), bits << 16);
    if (!std::isnan(value)) {
      ASSERT_EQ(floatToBf16(value), bits) << "pattern " << bits;
    }
  }
}

TEST(Numeric, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 lies halfway between bf16's 1 and 1 + 2^-7: to the even one, 1.
  EXPECT_EQ(roundToBf16(1.0f + std::ldexp(1.0f, -8)), 1.0f);
  // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: to the even one, 1 + 2^-6.
  EXPECT_EQ(roundToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(roundToBf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 1.0f + std::ldexp(1.0f, -7));
  EXPECT_EQ(roundToBf16(std::numeric_limits<float>::max()), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(roundToBf16(std::numeric_limits<float>::quiet_NaN())));
}

// f16 widening against the format's definition, evaluated in double, for all 65536 patterns.
TEST(Numeric, F16WideningMatchesTheDefinitionForEveryPattern) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    int sign = (bits >> 15) ? -1 : 1;
    int exponent = (bits >> 10) & 0x1f;
    int fraction = bits & 0x3ff;
    double expected = exponent == 0    ? sign * std::ldexp(double(fraction), -24)
                      : exponent == 31 ? (fraction ? std::nan("") : sign * std::numeric_limits<double>::infinity())
                                       : sign * std::ldexp(double(1024 + fraction), exponent - 25);
    float actual = f16ToFloat(static_cast<uint16_t>(bits));
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(actual)) << "pattern " << bits;
      continue;
    }
    ASSERT_EQ(double(actual), expected) << "pattern " << bits;
    ASSERT_EQ(std::signbit(actual), sign < 0) << "pattern " << bits;
  }
  EXPECT_EQ(f16ToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(f16ToFloat(0x0400), std::ldexp(1.0f, -14));
}

} // namespace
} // namespace amk::test
