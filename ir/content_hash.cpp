#include "amk/ir/content_hash.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace amk::ir {

std::string contentHash(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr) != 1 ||
      length * 2 != kContentHashHexDigits)
    throw std::runtime_error("sha-256 failed in libcrypto");
  static constexpr char kHexDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(kContentHashHexDigits);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHexDigits[digest[i] >> 4];
    hex += kHexDigits[digest[i] & 0xf];
  }
  return hex;
}

std::optional<std::array<uint8_t, kContentHashHexDigits / 2>> contentHashBytes(std::string_view hex) {
  if (hex.size() != kContentHashHexDigits)
    return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  std::array<uint8_t, kContentHashHexDigits / 2> bytes{};
  for (size_t i = 0; i < bytes.size(); ++i) {
    const int high = nibble(hex[2 * i]), low = nibble(hex[2 * i + 1]);
    if (high < 0 || low < 0)
      return std::nullopt;
    bytes[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return bytes;
}

} // namespace amk::ir
