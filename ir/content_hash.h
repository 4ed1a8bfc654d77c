// The project's one content hash: SHA-256 of a text, written as 64 lowercase hex digits. It names
// a certified schedule (witness files, the kernel's stamp, the tape), dedupes fuzz mutants and keys
// the compiled-kernel cache, where a collision would silently run the wrong code: hence a
// cryptographic hash rather than a fast 64-bit one.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace amk::ir {

inline constexpr size_t kContentHashHexDigits = 64;

std::string contentHash(std::string_view text);

// The 32 bytes a content hash's hex digits spell (what the megakernel's tape header and launch
// parameters compare); nullopt when `hex` is not 64 hex digits.
std::optional<std::array<uint8_t, kContentHashHexDigits / 2>> contentHashBytes(std::string_view hex);

} // namespace amk::ir
