#include "common/quantity.h"

#include <gtest/gtest.h>

namespace frugal {
namespace {

int64_t milli(const char* text) {
  auto r = parse_quantity_milli(text);
  EXPECT_TRUE(r) << text << ": " << (r ? "" : r.error());
  return r ? *r : -1;
}

TEST(Quantity, ParsesPlainDecimalAndMilliUnits) {
  EXPECT_EQ(milli("2"), 2000);
  EXPECT_EQ(milli("0.5"), 500);
  EXPECT_EQ(milli("250m"), 250);
  EXPECT_EQ(milli("1.5"), 1500);
  EXPECT_EQ(milli("+3"), 3000);
  EXPECT_EQ(milli("-1"), -1000);
}

TEST(Quantity, ParsesBinaryAndDecimalSuffixesAndExponents) {
  EXPECT_EQ(milli("1Ki"), 1024 * 1000);
  EXPECT_EQ(milli("16Gi"), int64_t{16} * 1024 * 1024 * 1024 * 1000);
  EXPECT_EQ(milli("1.5Gi"), int64_t{3} * 512 * 1024 * 1024 * 1000);
  EXPECT_EQ(milli("2k"), 2000 * 1000);
  EXPECT_EQ(milli("1M"), int64_t{1000000} * 1000);
  EXPECT_EQ(milli("2e3"), 2000 * 1000);
  EXPECT_EQ(milli("1E-3"), 1);
}

TEST(Quantity, RoundsFractionsOfAMilliUnitUp) {
  EXPECT_EQ(milli("1n"), 1);
  EXPECT_EQ(milli("1500u"), 2);
  EXPECT_EQ(milli("0.0001"), 1);
}

TEST(Quantity, RejectsMalformedTextNamingIt) {
  for (const char* bad : {"", "abc", "1.2.3", "5 Gi", "1Gb", "--1", "1e", "Gi"}) {
    auto r = parse_quantity_milli(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().find(std::string("\"") + bad + "\""), std::string::npos) << r.error();
  }
  EXPECT_FALSE(parse_quantity_milli("99999999999999999Ei"));
}

TEST(Quantity, FormatsMilliAndWholeAndBinaryUnits) {
  EXPECT_EQ(format_quantity_milli(250), "250m");
  EXPECT_EQ(format_quantity_milli(4000), "4");
  EXPECT_EQ(format_quantity_milli(int64_t{16} * 1024 * 1024 * 1024 * 1000, true), "16Gi");
  EXPECT_EQ(format_quantity_milli(1000 * 1000, true), "1000");
  EXPECT_EQ(milli_to_units_ceil(1500), 2);
  EXPECT_EQ(milli_to_units_ceil(2000), 2);
}

}  // namespace
}  // namespace frugal
