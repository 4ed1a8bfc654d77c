// libFuzzer target: safetensors header validation (model/safetensors.h). Any bytes, read as a
// whole file and as a header with a data size taken from the first 8 bytes, must end in an error
// message or a header whose tensors tile the data section exactly; never a crash or an overflow.
#include "amk/model/safetensors.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

// What parseHeader promises of an accepted header; a violation is a validator bug.
void checkAccepted(const amk::model::Header &header, uint64_t dataBytes) {
  uint64_t covered = 0;
  for (const amk::model::TensorInfo &tensor : header.tensors) {
    if (tensor.begin != covered || tensor.end < tensor.begin || tensor.end > dataBytes)
      std::abort();
    if (tensor.end - tensor.begin != tensor.elementCount() * amk::model::dtypeBytes(tensor.dtype))
      std::abort();
    covered = tensor.end;
  }
  if (covered != dataBytes)
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto file = amk::model::parseSafetensors({reinterpret_cast<const std::byte *>(data), size}, "fuzz.safetensors");
  if (file)
    checkAccepted(file->header, size - file->dataOffset);

  if (size < 8)
    return 0;
  uint64_t dataBytes = 0;
  std::memcpy(&dataBytes, data, 8);
  dataBytes %= uint64_t(1) << 40; // large enough for any offset a short input can name
  std::string_view text(reinterpret_cast<const char *>(data) + 8, size - 8);
  auto header = amk::model::parseHeader(text, dataBytes, "fuzz.safetensors");
  if (header)
    checkAccepted(*header, dataBytes);
  return 0;
}
