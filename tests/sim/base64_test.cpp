#include "sim/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace kubesim {
namespace {

TEST(Base64, EncodesRfc4648TestVectorsWithPadding) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, DecodesWhatItEncodesForEveryByteValue) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t len = 0; len <= all.size(); len += 37) {
    std::string data = all.substr(0, len);
    EXPECT_EQ(base64_decode(base64_encode(data)), data) << len;
    EXPECT_EQ(base64url_decode(base64url_encode(data)), data) << len;
  }
}

TEST(Base64, SkipsLineBreaksLikeGo) { EXPECT_EQ(base64_decode("Zm9v\r\nYmFy\n"), "foobar"); }

TEST(Base64, RejectsCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(base64_decode("Zm9v!mFy"));
  EXPECT_FALSE(base64_decode("Zm9-"));  // URL alphabet in a standard string
  EXPECT_FALSE(base64url_decode("Zm9+"));
}

TEST(Base64, StandardDecodingRequiresExactPadding) {
  EXPECT_FALSE(base64_decode("Zg"));
  EXPECT_FALSE(base64_decode("Zg="));
  EXPECT_FALSE(base64_decode("Zg==="));
  EXPECT_FALSE(base64_decode("Zg==Zg=="));  // data after padding
  EXPECT_FALSE(base64_decode("Z"));
  EXPECT_EQ(base64_decode("Zg=="), "f");
}

TEST(Base64, UrlEncodingUsesDashAndUnderscoreWithoutPadding) {
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
}

TEST(Base64, UrlDecodingRejectsPaddingAndImpossibleLengths) {
  EXPECT_FALSE(base64url_decode("Zg=="));
  EXPECT_FALSE(base64url_decode("Zm9vY"));  // 5 symbols cannot come from whole bytes
}

TEST(Base64, ContinueTokenRoundTripsThroughUrlEncoding) {
  std::string token = R"({"v":"meta.k8s.io/v1","rv":12345,"start":"default/pod-b\u0000"})";
  auto encoded = base64url_encode(token);
  EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos);
  EXPECT_EQ(base64url_decode(encoded), token);
}

}  // namespace
}  // namespace kubesim
