// safetensors validation and memory mapping. The checks and their order follow the reference
// implementation (safetensors/src/tensor.rs: read_metadata, Metadata::validate), with messages that
// name the file, the tensor and the numbers involved.
#include "amk/model/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace amk::model {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian and is read in place; a big-endian host would need byte swaps");

namespace {

using nlohmann::json;

struct DTypeEntry {
  TensorDType dtype;
  const char *word;
  std::optional<ir::ast::DType> amkir; // the AMKIR type stored the same way; its word and size are AMKIR's
  const char *name;                    // the others' word in messages
  size_t bytes;
};

constexpr std::array<DTypeEntry, 15> kDTypes{{
    {TensorDType::Bool, "BOOL", std::nullopt, "bool", 1},
    {TensorDType::U8, "U8", std::nullopt, "u8", 1},
    {TensorDType::I8, "I8", ir::ast::DType::I8, nullptr, 0},
    {TensorDType::F8E5M2, "F8_E5M2", std::nullopt, "f8_e5m2", 1},
    {TensorDType::F8E4M3, "F8_E4M3", std::nullopt, "f8_e4m3", 1},
    {TensorDType::I16, "I16", std::nullopt, "i16", 2},
    {TensorDType::U16, "U16", std::nullopt, "u16", 2},
    {TensorDType::F16, "F16", ir::ast::DType::F16, nullptr, 0},
    {TensorDType::BF16, "BF16", ir::ast::DType::BF16, nullptr, 0},
    {TensorDType::I32, "I32", ir::ast::DType::I32, nullptr, 0},
    {TensorDType::U32, "U32", std::nullopt, "u32", 4},
    {TensorDType::F32, "F32", ir::ast::DType::F32, nullptr, 0},
    {TensorDType::F64, "F64", std::nullopt, "f64", 8},
    {TensorDType::I64, "I64", std::nullopt, "i64", 8},
    {TensorDType::U64, "U64", std::nullopt, "u64", 8},
}};

const DTypeEntry &entry(TensorDType dtype) {
  for (const DTypeEntry &e : kDTypes)
    if (e.dtype == dtype)
      return e;
  return kDTypes[0];
}

std::string knownWords() {
  std::string words;
  for (const DTypeEntry &e : kDTypes)
    words += (words.empty() ? "" : ", ") + std::string(e.word);
  return words;
}

// A JSON value in a message: one level deep and short, so that a hostile header can make neither a
// megabyte-long message nor a deep recursion in dump().
std::string show(const json &value) {
  auto scalar = [](const json &v) {
    if (v.is_array())
      return std::string("[...]");
    if (v.is_object())
      return std::string("{...}");
    return v.dump(-1, ' ', false, json::error_handler_t::replace);
  };
  std::string text;
  if (value.is_array() || value.is_object()) {
    text = value.is_array() ? "[" : "{";
    for (auto it = value.begin(); it != value.end() && text.size() <= 60; ++it) {
      text += text.size() > 1 ? "," : "";
      if (value.is_object())
        text += json(it.key()).dump(-1, ' ', false, json::error_handler_t::replace) + ":";
      text += scalar(it.value());
    }
    text += value.is_array() ? "]" : "}";
  } else {
    text = scalar(value);
  }
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

std::string quoted(const std::string &name) {
  std::string shown = name.size() > 200 ? name.substr(0, 197) + "..." : name;
  return "'" + shown + "'";
}

std::string range(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

// A non-negative JSON integer that fits `limit`; floats such as 4.0 are refused, as serde refuses them
// for usize.
std::optional<uint64_t> unsignedInteger(const json &value, uint64_t limit) {
  if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<int64_t>() >= 0))
    return std::nullopt;
  uint64_t v = value.get<uint64_t>();
  if (v > limit)
    return std::nullopt;
  return v;
}

class HeaderReader {
public:
  HeaderReader(uint64_t dataBytes, const std::string &fileName) : dataBytes_(dataBytes), fileName_(fileName) {}

  Result<Header> read(std::string_view text) {
    json root;
    try {
      root = json::parse(text.begin(), text.end());
    } catch (const json::parse_error &e) {
      // e.byte counts the bytes read, the failing one included: its offset is one less.
      return fail("header is not valid JSON at byte " + std::to_string(e.byte ? e.byte - 1 : 0));
    } catch (const json::exception &) {
      // Thrown for a number too large even for a double (1e400): out_of_range, not parse_error.
      return fail("header is not valid JSON: a number is out of range");
    }
    if (!root.is_object())
      return fail(std::string("header must be a JSON object, found ") + root.type_name());

    Header header;
    for (const auto &[name, value] : root.items()) {
      if (name == "__metadata__") {
        if (!readMetadata(value, header.metadata))
          return *error_;
        continue;
      }
      std::optional<TensorInfo> tensor = readTensor(name, value);
      if (!tensor)
        return *error_;
      header.tensors.push_back(std::move(*tensor));
    }
    if (!checkCoverage(header.tensors))
      return *error_;
    return header;
  }

private:
  Error fail(std::string message) {
    error_ = Error{fileName_, std::move(message)};
    return *error_;
  }
  Error failTensor(const std::string &name, const std::string &message) {
    return fail("tensor " + quoted(name) + ": " + message);
  }

  bool readMetadata(const json &value, std::map<std::string, std::string> &metadata) {
    if (value.is_null())
      return true;
    if (!value.is_object()) {
      fail(std::string("'__metadata__' must be an object of strings, found ") + value.type_name());
      return false;
    }
    for (const auto &[key, item] : value.items()) {
      if (!item.is_string()) {
        fail("'__metadata__' entry " + quoted(key) + " must be a string, found " + item.type_name());
        return false;
      }
      metadata[key] = item.get<std::string>();
    }
    return true;
  }

  std::optional<TensorInfo> readTensor(const std::string &name, const json &value) {
    if (!value.is_object()) {
      failTensor(name,
                 std::string("entry must be an object with dtype, shape and data_offsets, found ") + value.type_name());
      return std::nullopt;
    }
    for (const char *field : {"dtype", "shape", "data_offsets"})
      if (!value.contains(field)) {
        failTensor(name, std::string("missing '") + field + "'");
        return std::nullopt;
      }
    TensorInfo tensor;
    tensor.name = name;

    const json &dtype = value["dtype"];
    if (!dtype.is_string()) {
      failTensor(name, "'dtype' must be a string, found " + show(dtype));
      return std::nullopt;
    }
    std::optional<TensorDType> parsed = dtypeFromWord(dtype.get<std::string>());
    if (!parsed) {
      failTensor(name, "unknown dtype " + quoted(dtype.get<std::string>()) + " (known: " + knownWords() + ")");
      return std::nullopt;
    }
    tensor.dtype = *parsed;

    const json &shape = value["shape"];
    bool shapeOk = shape.is_array();
    if (shapeOk)
      for (const json &dim : shape) {
        std::optional<uint64_t> d = unsignedInteger(dim, uint64_t(INT64_MAX));
        if (!d) {
          shapeOk = false;
          break;
        }
        tensor.shape.push_back(static_cast<int64_t>(*d));
      }
    if (!shapeOk) {
      failTensor(name, "'shape' must be an array of non-negative integers, found " + show(shape));
      return std::nullopt;
    }

    const json &offsets = value["data_offsets"];
    std::optional<uint64_t> begin, end;
    if (offsets.is_array() && offsets.size() == 2) {
      begin = unsignedInteger(offsets[0], UINT64_MAX);
      end = unsignedInteger(offsets[1], UINT64_MAX);
    }
    if (!begin || !end) {
      failTensor(name, "'data_offsets' must be [begin, end] with non-negative integers, found " + show(offsets));
      return std::nullopt;
    }
    tensor.begin = *begin;
    tensor.end = *end;
    if (tensor.begin > tensor.end) {
      failTensor(name, "data_offsets " + range(tensor.begin, tensor.end) + " begin after they end");
      return std::nullopt;
    }
    if (tensor.end > dataBytes_) {
      failTensor(name, "data_offsets " + range(tensor.begin, tensor.end) + " end past the " +
                           std::to_string(dataBytes_) + "-byte data section (truncated file?)");
      return std::nullopt;
    }

    uint64_t bytes = dtypeBytes(tensor.dtype);
    for (int64_t dim : tensor.shape)
      if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes)) {
        failTensor(name, "shape " + show(shape) + " of " + dtypeName(tensor.dtype) + " overflows 64-bit sizes");
        return std::nullopt;
      }
    if (tensor.end - tensor.begin != bytes) {
      failTensor(name, "data_offsets " + range(tensor.begin, tensor.end) + " hold " +
                           std::to_string(tensor.end - tensor.begin) + " bytes but " + tensor.describe() + " needs " +
                           std::to_string(bytes));
      return std::nullopt;
    }
    return tensor;
  }

  // In offset order each tensor must start where the previous one ended, and the last must end where
  // the data section does: the reference refuses gaps and overlaps alike, and bytes left over.
  bool checkCoverage(std::vector<TensorInfo> &tensors) {
    std::stable_sort(tensors.begin(), tensors.end(), [](const TensorInfo &a, const TensorInfo &b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t covered = 0;
    const TensorInfo *previous = nullptr;
    for (const TensorInfo &tensor : tensors) {
      if (tensor.begin < covered) {
        failTensor(tensor.name, "data_offsets " + range(tensor.begin, tensor.end) + " overlap tensor " +
                                    quoted(previous->name) + " at " + range(previous->begin, previous->end));
        return false;
      }
      if (tensor.begin > covered) {
        failTensor(tensor.name, "data_offsets " + range(tensor.begin, tensor.end) + " leave bytes " +
                                    range(covered, tensor.begin) + " unused" +
                                    (previous ? " after tensor " + quoted(previous->name) : " at the data's start"));
        return false;
      }
      covered = tensor.end;
      previous = &tensor;
    }
    if (covered != dataBytes_) {
      fail("the tensors end at byte " + std::to_string(covered) + " of the " + std::to_string(dataBytes_) +
           "-byte data section; the last " + std::to_string(dataBytes_ - covered) + " bytes belong to no tensor");
      return false;
    }
    return true;
  }

  uint64_t dataBytes_;
  const std::string &fileName_;
  std::optional<Error> error_;
};

} // namespace

std::optional<TensorDType> dtypeFromWord(std::string_view word) {
  for (const DTypeEntry &e : kDTypes)
    if (word == e.word)
      return e.dtype;
  return std::nullopt;
}

const char *dtypeWord(TensorDType dtype) { return entry(dtype).word; }
std::optional<ir::ast::DType> amkirDType(TensorDType dtype) { return entry(dtype).amkir; }

const char *dtypeName(TensorDType dtype) {
  const DTypeEntry &e = entry(dtype);
  return e.amkir ? ir::ast::dtypeName(*e.amkir) : e.name;
}

size_t dtypeBytes(TensorDType dtype) {
  const DTypeEntry &e = entry(dtype);
  return e.amkir ? ir::ast::dtypeBytes(*e.amkir) : e.bytes;
}

bool isFloatWeight(TensorDType dtype) {
  const std::optional<ir::ast::DType> amkir = amkirDType(dtype);
  return amkir && ir::ast::isFloatType(*amkir);
}

uint64_t TensorInfo::elementCount() const {
  uint64_t count = 1;
  for (int64_t dim : shape)
    count *= static_cast<uint64_t>(dim); // validated not to overflow when the header was read
  return count;
}

std::string TensorInfo::describe() const {
  std::string text = std::string(dtypeName(dtype)) + "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

const TensorInfo *Header::find(std::string_view name) const {
  for (const TensorInfo &tensor : tensors)
    if (tensor.name == name)
      return &tensor;
  return nullptr;
}

Result<Header> parseHeader(std::string_view headerText, uint64_t dataBytes, const std::string &fileName) {
  return HeaderReader(dataBytes, fileName).read(headerText);
}

Result<Layout> parseSafetensors(std::span<const std::byte> file, const std::string &fileName) {
  if (file.size() < 8)
    return Error{fileName, "file is " + std::to_string(file.size()) +
                               " bytes, shorter than the 8-byte header length (truncated file?)"};
  uint64_t headerBytes = 0;
  std::memcpy(&headerBytes, file.data(), 8); // little-endian, as the static_assert above ensures
  if (headerBytes > kMaxHeaderBytes)
    return Error{fileName, "header length " + std::to_string(headerBytes) + " exceeds the limit of " +
                               std::to_string(kMaxHeaderBytes) + " bytes (not a safetensors file?)"};
  if (8 + headerBytes > file.size())
    return Error{fileName, "header length " + std::to_string(headerBytes) + " needs " +
                               std::to_string(8 + headerBytes) + " bytes but the file has " +
                               std::to_string(file.size()) + " (truncated file?)"};
  std::string_view text(reinterpret_cast<const char *>(file.data()) + 8, headerBytes);
  Result<Header> header = parseHeader(text, file.size() - 8 - headerBytes, fileName);
  if (!header)
    return header.error();
  return Layout{std::move(*header), 8 + headerBytes};
}

Result<SafetensorsFile> SafetensorsFile::open(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error{path, std::string("cannot open the file (") + std::strerror(errno) + ")"};
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return Error{path, "not a regular file"};
  }
  SafetensorsFile file;
  file.path_ = path;
  file.mappedBytes_ = static_cast<size_t>(info.st_size);
  if (file.mappedBytes_ > 0) { // mmap refuses length 0; parseSafetensors reports the empty file
    void *mapping = ::mmap(nullptr, file.mappedBytes_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      int saved = errno;
      ::close(fd);
      return Error{path, std::string("cannot map the file (") + std::strerror(saved) + ")"};
    }
    file.mapping_ = static_cast<const std::byte *>(mapping);
  }
  ::close(fd); // the mapping keeps the file's pages reachable
  Result<Layout> layout = parseSafetensors({file.mapping_, file.mappedBytes_}, path);
  if (!layout)
    return layout.error();
  file.layout_ = std::move(*layout);
  return file;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile &&other) noexcept { *this = std::move(other); }

SafetensorsFile &SafetensorsFile::operator=(SafetensorsFile &&other) noexcept {
  if (this != &other) {
    unmap();
    path_ = std::move(other.path_);
    layout_ = std::move(other.layout_);
    mapping_ = std::exchange(other.mapping_, nullptr);
    mappedBytes_ = std::exchange(other.mappedBytes_, 0);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { unmap(); }

void SafetensorsFile::unmap() {
  if (mapping_)
    ::munmap(const_cast<std::byte *>(mapping_), mappedBytes_);
  mapping_ = nullptr;
  mappedBytes_ = 0;
}

std::span<const std::byte> SafetensorsFile::bytes(const TensorInfo &tensor) const {
  return {mapping_ + layout_.dataOffset + tensor.begin, tensor.end - tensor.begin};
}

} // namespace amk::model
