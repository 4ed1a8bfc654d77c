// The content hash is SHA-256 (FIPS 180-4's test vectors), as 64 lowercase hex digits, and its 32
// bytes are the ones those digits spell.
#include "amk/ir/content_hash.h"

#include <gtest/gtest.h>

namespace amk::ir {
namespace {

TEST(ContentHash, IsSha256InLowercaseHex) {
  EXPECT_EQ(contentHash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(contentHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(contentHash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(ContentHash, SeesEveryByte) {
  EXPECT_NE(contentHash("amkir 1\n"), contentHash("amkir 1\r\n"));
  EXPECT_NE(contentHash(std::string_view("a\0b", 3)), contentHash(std::string_view("a\0c", 3)));
}

TEST(ContentHash, BytesAreTheOnesTheDigitsSpell) {
  const auto bytes = contentHashBytes(contentHash("abc"));
  ASSERT_TRUE(bytes);
  EXPECT_EQ((*bytes)[0], 0xba);
  EXPECT_EQ((*bytes)[1], 0x78);
  EXPECT_EQ((*bytes)[31], 0xad);
  EXPECT_EQ(contentHashBytes(std::string(64, 'F')), contentHashBytes(std::string(64, 'f')));
  EXPECT_FALSE(contentHashBytes(""));
  EXPECT_FALSE(contentHashBytes(std::string(63, '0')));
  EXPECT_FALSE(contentHashBytes(std::string(63, '0') + "g"));
}

} // namespace
} // namespace amk::ir
