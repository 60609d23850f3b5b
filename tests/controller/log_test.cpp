// Log lines in the Kubernetes style, as text and as JSON.
#include "controller/kube/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace frugal::log {
namespace {

TEST(Log, TextLinesQuoteStringsButNotNumbers) {
  std::string line = render(Format::Text, Level::Info, "Reconciled TrainingJob",
                            {{"namespace", "ml"}, {"name", "a \"b\""}, {"attempt", 3},
                             {"leader", true}},
                            "2026-01-01T00:00:00.000000Z");
  EXPECT_EQ(line,
            "I 2026-01-01T00:00:00.000000Z \"Reconciled TrainingJob\" namespace=\"ml\" "
            "name=\"a \\\"b\\\"\" attempt=3 leader=true");
}

TEST(Log, JsonLinesAreOneObjectWithTypedValues) {
  std::string line = render(Format::Json, Level::Error, "Lost the lease", {{"attempt", 2}},
                            "2026-01-01T00:00:00.000000Z");
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["msg"], "Lost the lease");
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["attempt"], 2);
}

TEST(Log, LevelsParseByNameOrNumber) {
  Level l;
  ASSERT_TRUE(parse_level("debug", l));
  EXPECT_EQ(l, Level::Debug);
  ASSERT_TRUE(parse_level("0", l));
  EXPECT_EQ(l, Level::Error);
  EXPECT_FALSE(parse_level("loud", l));
  Format f;
  EXPECT_TRUE(parse_format("json", f));
  EXPECT_FALSE(parse_format("xml", f));
}

}  // namespace
}  // namespace frugal::log
