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

} // namespace amk::ir
