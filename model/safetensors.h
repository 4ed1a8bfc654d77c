// safetensors reading: the header is validated as the format's reference implementation does
// (huggingface/safetensors), then tensors are views into a read-only memory mapping of the file, so
// a checkpoint of many gigabytes is opened without copying it.
#pragma once

#include "amk/ir/ast.h"
#include "amk/ir/result.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amk::model {

// The file format's own element types: every safetensors dtype with a whole number of bytes per
// element, a superset of AMKIR's (ir::ast::DType). Files holding any of them load; only those with an
// AMKIR float type (BF16, F16, F32) can be bound as weights (isFloatWeight).
enum class TensorDType { Bool, U8, I8, F8E5M2, F8E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

std::optional<TensorDType> dtypeFromWord(std::string_view word); // the header's word: "BF16", "F32", ...
const char *dtypeWord(TensorDType dtype);                        // "BF16"
const char *dtypeName(TensorDType dtype); // "bf16": AMKIR's word where AMKIR has the type, used in messages
size_t dtypeBytes(TensorDType dtype);
// The AMKIR type whose elements are stored the same way, if AMKIR has one.
std::optional<ir::ast::DType> amkirDType(TensorDType dtype);
bool isFloatWeight(TensorDType dtype);

struct TensorInfo {
  std::string name;
  TensorDType dtype = TensorDType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0; // byte offsets into the data section, [begin, end)
  uint64_t end = 0;

  uint64_t elementCount() const;
  std::string describe() const; // "bf16[64, 128]"
};

struct Header {
  std::vector<TensorInfo> tensors; // in data order (sorted by offsets)
  std::map<std::string, std::string> metadata;

  const TensorInfo *find(std::string_view name) const;
};

// The reference implementation's limit on the JSON header.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Validates a JSON header against a data section of `dataBytes` bytes: an object of tensor entries
// {dtype, shape, data_offsets} and an optional "__metadata__" map of strings; every entry's offsets in
// bounds and matching its shape and dtype; the entries, in offset order, covering the data section
// exactly (no overlap, no gap, nothing left over). Pure, so that it can be fuzzed; `fileName` only
// names the file in the error.
Result<Header> parseHeader(std::string_view headerText, uint64_t dataBytes, const std::string &fileName);

struct Layout {
  Header header;
  uint64_t dataOffset = 0; // where the data section starts in the file: 8 + header length
};

// A whole file in memory: the 8-byte little-endian header length, the header, the data section.
Result<Layout> parseSafetensors(std::span<const std::byte> file, const std::string &fileName);

// A safetensors file mapped read-only. Move-only; the views it hands out live as long as it does.
class SafetensorsFile {
public:
  static Result<SafetensorsFile> open(const std::string &path);

  SafetensorsFile(SafetensorsFile &&other) noexcept;
  SafetensorsFile &operator=(SafetensorsFile &&other) noexcept;
  SafetensorsFile(const SafetensorsFile &) = delete;
  SafetensorsFile &operator=(const SafetensorsFile &) = delete;
  ~SafetensorsFile();

  const std::string &path() const { return path_; }
  const Header &header() const { return layout_.header; }
  // The bytes of one tensor of this file's header (little-endian elements, possibly unaligned).
  std::span<const std::byte> bytes(const TensorInfo &tensor) const;

private:
  SafetensorsFile() = default;
  void unmap();

  std::string path_;
  Layout layout_;
  const std::byte *mapping_ = nullptr;
  size_t mappedBytes_ = 0;
};

} // namespace amk::model
