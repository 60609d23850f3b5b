#include "sim/jsonpath.h"

#include <gtest/gtest.h>

namespace kubesim {
namespace {

const json kPod = json::parse(R"({
  "metadata": {"name": "web-0", "labels": {"app": "web", "app.kubernetes.io/name": "frontend"}},
  "spec": {"replicas": 3, "containers": [
    {"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
    {"name": "sidecar", "image": "envoy:1.30"}]},
  "status": {"conditions": [
    {"type": "Initialized", "status": "True"},
    {"type": "Ready", "status": "False", "priority": 2}],
    "ratio": 0.5, "phase": "Running"}
})");

TEST(JsonPathEval, SelectsNestedField) {
  EXPECT_EQ(jsonpath_eval(kPod, ".spec.replicas"), std::vector<json>{3});
  EXPECT_EQ(jsonpath_eval(kPod, ".status.phase"), std::vector<json>{"Running"});
}

TEST(JsonPathEval, AcceptsDollarRootAndTemplateBraces) {
  EXPECT_EQ(jsonpath_eval(kPod, "$.spec.replicas"), std::vector<json>{3});
  EXPECT_EQ(jsonpath_eval(kPod, "{.spec.replicas}"), std::vector<json>{3});
}

TEST(JsonPathEval, MissingKeyYieldsNothing) {
  EXPECT_TRUE(jsonpath_eval(kPod, ".spec.nodeName").empty());
  EXPECT_TRUE(jsonpath_eval(kPod, ".spec.replicas.deeper").empty());
}

TEST(JsonPathEval, IndexesArraysIncludingNegativeAndOutOfRange) {
  EXPECT_EQ(jsonpath_eval(kPod, ".status.conditions[0].type"), std::vector<json>{"Initialized"});
  EXPECT_EQ(jsonpath_eval(kPod, ".status.conditions[-1].type"), std::vector<json>{"Ready"});
  EXPECT_TRUE(jsonpath_eval(kPod, ".status.conditions[5].type").empty());
}

TEST(JsonPathEval, WildcardSelectsEveryElementInOrder) {
  EXPECT_EQ(jsonpath_eval(kPod, ".spec.containers[*].image"),
            (std::vector<json>{"nginx:1.25", "envoy:1.30"}));
}

TEST(JsonPathEval, DotWildcardSelectsEveryMapValueInKeyOrder) {
  EXPECT_EQ(jsonpath_eval(kPod, ".metadata.labels.*"), (std::vector<json>{"web", "frontend"}));
}

TEST(JsonPathEval, SlicesAndUnions) {
  json arr = {{"a", json::array({0, 1, 2, 3, 4})}};
  EXPECT_EQ(jsonpath_eval(arr, ".a[1:3]"), (std::vector<json>{1, 2}));
  EXPECT_EQ(jsonpath_eval(arr, ".a[::2]"), (std::vector<json>{0, 2, 4}));
  EXPECT_EQ(jsonpath_eval(arr, ".a[-2:]"), (std::vector<json>{3, 4}));
  EXPECT_EQ(jsonpath_eval(arr, ".a[0,4]"), (std::vector<json>{0, 4}));
}

TEST(JsonPathEval, FilterByEqualityThenField) {
  EXPECT_EQ(jsonpath_eval(kPod, R"(.status.conditions[?(@.type=="Ready")].status)"),
            std::vector<json>{"False"});
  EXPECT_EQ(jsonpath_eval(kPod, ".status.conditions[?(@.type == 'Initialized')].status"),
            std::vector<json>{"True"});
}

TEST(JsonPathEval, FilterByNumericComparisonAndExistence) {
  EXPECT_EQ(jsonpath_eval(kPod, ".status.conditions[?(@.priority > 1)].type"),
            std::vector<json>{"Ready"});
  EXPECT_EQ(jsonpath_eval(kPod, ".status.conditions[?(@.priority)].type"),
            std::vector<json>{"Ready"});
  EXPECT_EQ(jsonpath_eval(kPod, R"(.status.conditions[?(@.type!="Ready")].type)"),
            std::vector<json>{"Initialized"});
}

TEST(JsonPathEval, BracketKeyAndEscapedDotsReachKeysWithDots) {
  EXPECT_EQ(jsonpath_eval(kPod, ".metadata.labels['app']"), std::vector<json>{"web"});
  EXPECT_EQ(jsonpath_eval(kPod, ".metadata.labels['app.kubernetes.io/name']"),
            std::vector<json>{"frontend"});
  EXPECT_EQ(jsonpath_eval(kPod, R"(.metadata.labels.app\.kubernetes\.io/name)"),
            std::vector<json>{"frontend"});
}

TEST(JsonPathEval, RecursiveDescentFindsFieldAtAnyDepth) {
  EXPECT_EQ(jsonpath_eval(kPod, "..containerPort"), std::vector<json>{80});
  EXPECT_EQ(jsonpath_eval(kPod, ".spec..image"), (std::vector<json>{"nginx:1.25", "envoy:1.30"}));
}

TEST(JsonPathEval, DotAloneSelectsTheWholeObject) {
  json obj = {{"a", 1}};
  EXPECT_EQ(jsonpath_eval(obj, "."), std::vector<json>{obj});
}

TEST(JsonPathEval, MalformedPathSelectsNothing) {
  EXPECT_TRUE(jsonpath_eval(kPod, ".spec.containers[0").empty());
}

TEST(JsonPathValidate, AcceptsPrinterColumnPaths) {
  EXPECT_TRUE(jsonpath_validate(".status.phase").has_value());
  EXPECT_TRUE(jsonpath_validate(R"(.status.conditions[?(@.type=="Ready")].status)").has_value());
  EXPECT_TRUE(jsonpath_validate(".metadata.labels['app']").has_value());
}

TEST(JsonPathValidate, RejectsEmptyAndPathsNotStartingWithDot) {
  auto empty = jsonpath_validate("");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().message, "must not be empty");
  auto no_dot = jsonpath_validate("spec.replicas");
  ASSERT_FALSE(no_dot.has_value());
  EXPECT_EQ(no_dot.error().code, 400);
  EXPECT_EQ(no_dot.error().message, "must be a simple json path starting with .");
}

TEST(JsonPathValidate, RejectsSyntaxErrors) {
  EXPECT_FALSE(jsonpath_validate(".spec.containers[0").has_value());
  EXPECT_FALSE(jsonpath_validate(".a[?(@.x=~1)]").has_value());
  EXPECT_FALSE(jsonpath_validate(".a[x]").has_value());
  EXPECT_EQ(jsonpath_parse_error(".spec.containers[0"), "unterminated array");
}

TEST(JsonPathPrintValue, PrintsLikeTheGoJsonPathPrinter) {
  EXPECT_EQ(jsonpath_print_value("Running"), "Running");
  EXPECT_EQ(jsonpath_print_value(3), "3");
  EXPECT_EQ(jsonpath_print_value(2.5), "2.5");
  EXPECT_EQ(jsonpath_print_value(3.0), "3");
  EXPECT_EQ(jsonpath_print_value(4294967296.0), "4.294967296e+09");
  EXPECT_EQ(jsonpath_print_value(0.00001), "1e-05");
  EXPECT_EQ(jsonpath_print_value(true), "true");
  EXPECT_EQ(jsonpath_print_value(json::parse(R"({"b":1,"a":"<x>"})")),
            R"({"a":"\u003cx\u003e","b":1})");
  EXPECT_EQ(jsonpath_print_value(json::parse("[1,2.0]")), "[1,2]");
}

TEST(JsonPathCellText, JoinsValuesWithCommasAndShowsNoneForNoMatch) {
  EXPECT_EQ(jsonpath_cell_text({}), "<none>");
  EXPECT_EQ(jsonpath_cell_text({"nginx:1.25", "envoy:1.30"}), "nginx:1.25,envoy:1.30");
  EXPECT_EQ(jsonpath_cell_text({json::parse(R"({"app":"web","tier":"fe"})")}),
            "map[app:web tier:fe]");
  EXPECT_EQ(jsonpath_cell_text({json::parse(R"(["a","b"])")}), "[a b]");
  EXPECT_EQ(jsonpath_cell_text({nullptr}), "<nil>");
}

}  // namespace
}  // namespace kubesim
