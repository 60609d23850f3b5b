#include "common/yaml_json.h"

#include <gtest/gtest.h>

namespace frugal {
namespace {

using nlohmann::json;

TEST(YamlJson, ScalarsFollowTheCoreSchemaAndQuotedOnesStayStrings) {
  auto docs = yaml_documents_to_json(R"(
a: true
b: "true"
c: 42
d: '42'
e: 1.5
f: null
g: ~
h: 16Gi
i: 0.5e3
j: [1, "2", x]
k: {nested: {deep: False}}
)");
  ASSERT_TRUE(docs) << docs.error();
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ((*docs)[0], json::parse(R"({"a":true,"b":"true","c":42,"d":"42","e":1.5,"f":null,
    "g":null,"h":"16Gi","i":500.0,"j":[1,"2","x"],"k":{"nested":{"deep":false}}})"));
}

TEST(YamlJson, SplitsDocumentsAndSkipsEmptyOnes) {
  auto docs = yaml_documents_to_json("---\nkind: A\n---\n---\nkind: B\n");
  ASSERT_TRUE(docs);
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[1]["kind"], "B");
}

TEST(YamlJson, ErrorsNameLineAndColumnAndMissingFiles) {
  auto bad = yaml_documents_to_json("a: [1, 2\nb: c\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("line "), std::string::npos) << bad.error();
  auto missing = yaml_file_to_json("/nonexistent.yaml");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("/nonexistent.yaml"), std::string::npos);
}

}  // namespace
}  // namespace frugal
