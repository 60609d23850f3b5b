// Pins how custom resources are pruned, defaulted and validated against a
// CRD schema, and how CRD schemas themselves are checked, with the wording
// kube-apiserver uses (the expected strings are the real server's).
#include "sim/schema.h"

#include <gtest/gtest.h>

namespace kubesim {
namespace {

constexpr const char* kPrefix = "spec.versions[0].schema.openAPIV3Schema";

json schema_with_spec(const json& spec) {
  return {{"type", "object"}, {"properties", {{"spec", spec}}}};
}

json object_with_spec(const json& spec) {
  return {{"apiVersion", "example.com/v1"},
          {"kind", "TrainingJob"},
          {"metadata", {{"name", "job"}}},
          {"spec", spec}};
}

// A spec schema with the given properties.
json spec_props(const json& props) { return {{"type", "object"}, {"properties", props}}; }

// Validates `spec` against a spec schema; returns the causes.
std::vector<FieldCause> errors_for(const json& spec_schema, const json& spec) {
  json obj = object_with_spec(spec);
  return apply_schema(obj, schema_with_spec(spec_schema)).errors;
}

void expect_cause(const FieldCause& c, const std::string& reason, const std::string& message,
                  const std::string& field) {
  EXPECT_EQ(c.reason, reason);
  EXPECT_EQ(c.message, message);
  EXPECT_EQ(c.field, field);
}

std::string describe(const std::vector<FieldCause>& errs) {
  std::string out;
  for (const auto& e : errs) out += "\n  " + e.reason + " " + e.field + ": " + e.message;
  return out.empty() ? "no errors" : out;
}

// Exactly one cause, as given.
void expect_single(const std::vector<FieldCause>& errs, const std::string& reason,
                   const std::string& message, const std::string& field) {
  ASSERT_EQ(errs.size(), 1u) << describe(errs);
  expect_cause(errs[0], reason, message, field);
}

// --- value validation -------------------------------------------------------

TEST(SchemaValidation, MissingRequiredFieldIsFieldValueRequired) {
  json s = spec_props({{"template", {{"type", "object"}}}});
  s["required"] = {"template"};
  expect_single(errors_for(s, json::object()), "FieldValueRequired", "Required value",
                "spec.template");
}

TEST(SchemaValidation, EnumRejectsUnlistedStringListingSupportedValues) {
  json s = spec_props(
      {{"capacity",
        spec_props({{"preference",
                     {{"type", "string"}, {"enum", {"Spot", "OnDemand", "SpotWithFallback"}}}}})}});
  expect_single(errors_for(s, {{"capacity", {{"preference", "Foo"}}}}), "FieldValueNotSupported",
                "Unsupported value: \"Foo\": supported values: \"Spot\", \"OnDemand\", "
                "\"SpotWithFallback\"",
                "spec.capacity.preference");
  EXPECT_TRUE(errors_for(s, {{"capacity", {{"preference", "Spot"}}}}).empty());
}

TEST(SchemaValidation, EnumOfNumbersQuotesTheirJsonForm) {
  json s = spec_props({{"n", {{"type", "integer"}, {"enum", {1, 2}}}}});
  expect_single(errors_for(s, {{"n", 3}}), "FieldValueNotSupported",
                "Unsupported value: 3: supported values: \"1\", \"2\"", "spec.n");
}

TEST(SchemaValidation, EnumValueIsQuotedLikeGo) {
  json s = spec_props({{"x", {{"type", "string"}, {"enum", {"a"}}}}});
  expect_single(errors_for(s, {{"x", "say \"hi\"\n"}}), "FieldValueNotSupported",
                "Unsupported value: \"say \\\"hi\\\"\\n\": supported values: \"a\"", "spec.x");
}

TEST(SchemaValidation, MinimumRejectsSmallerInteger) {
  json s = spec_props({{"workers", {{"type", "integer"}, {"minimum", 1}}}});
  expect_single(errors_for(s, {{"workers", -1}}), "FieldValueInvalid",
                "Invalid value: -1: spec.workers in body should be greater than or equal to 1",
                "spec.workers");
  EXPECT_TRUE(errors_for(s, {{"workers", 1}}).empty());
}

TEST(SchemaValidation, ExclusiveMinimumRejectsTheBoundItself) {
  json s =
      spec_props({{"workers", {{"type", "integer"}, {"minimum", 1}, {"exclusiveMinimum", true}}}});
  expect_single(errors_for(s, {{"workers", 1}}), "FieldValueInvalid",
                "Invalid value: 1: spec.workers in body should be greater than 1", "spec.workers");
}

TEST(SchemaValidation, MaximumRejectsLargerFloat) {
  json s = spec_props({{"ratio", {{"type", "number"}, {"maximum", 2}}}});
  expect_single(errors_for(s, {{"ratio", 2.5}}), "FieldValueInvalid",
                "Invalid value: 2.5: spec.ratio in body should be less than or equal to 2",
                "spec.ratio");
  json excl =
      spec_props({{"ratio", {{"type", "number"}, {"maximum", 2}, {"exclusiveMaximum", true}}}});
  expect_single(errors_for(excl, {{"ratio", 2}}), "FieldValueInvalid",
                "Invalid value: 2: spec.ratio in body should be less than 2", "spec.ratio");
}

TEST(SchemaValidation, BoundsPrintLikeGoForFloatsAndIntegers) {
  json s = spec_props({{"n", {{"type", "number"}, {"minimum", 1000000}}}});
  expect_single(errors_for(s, {{"n", 0.5}}), "FieldValueInvalid",
                "Invalid value: 0.5: spec.n in body should be greater than or equal to 1e+06",
                "spec.n");
  expect_single(errors_for(s, {{"n", 5}}), "FieldValueInvalid",
                "Invalid value: 5: spec.n in body should be greater than or equal to 1000000",
                "spec.n");
}

TEST(SchemaValidation, MultipleOfForIntegersAndFloats) {
  json ints = spec_props({{"n", {{"type", "integer"}, {"multipleOf", 5}}}});
  expect_single(errors_for(ints, {{"n", 7}}), "FieldValueInvalid",
                "Invalid value: 7: spec.n in body should be a multiple of 5", "spec.n");
  EXPECT_TRUE(errors_for(ints, {{"n", 10}}).empty());
  json floats = spec_props({{"n", {{"type", "number"}, {"multipleOf", 0.1}}}});
  EXPECT_TRUE(errors_for(floats, {{"n", 0.3}}).empty());
  expect_single(errors_for(floats, {{"n", 0.25}}), "FieldValueInvalid",
                "Invalid value: 0.25: spec.n in body should be a multiple of 0.1", "spec.n");
}

TEST(SchemaValidation, WrongTypeReportsTheDataTypeAsValue) {
  json s = spec_props({{"workers", {{"type", "integer"}}}, {"name", {{"type", "string"}}}});
  expect_single(
      errors_for(s, {{"workers", "three"}}), "FieldValueTypeInvalid",
      "Invalid value: \"string\": spec.workers in body must be of type integer: \"string\"",
      "spec.workers");
  expect_single(errors_for(s, {{"name", true}}), "FieldValueTypeInvalid",
                "Invalid value: \"boolean\": spec.name in body must be of type string: \"boolean\"",
                "spec.name");
}

TEST(SchemaValidation, IntegralFloatIsAnIntegerAndIntegerIsANumber) {
  json s = spec_props({{"i", {{"type", "integer"}}}, {"n", {{"type", "number"}}}});
  EXPECT_TRUE(errors_for(s, {{"i", 2.0}, {"n", 2}}).empty());
  expect_single(errors_for(s, {{"i", 1.5}}), "FieldValueTypeInvalid",
                "Invalid value: \"number\": spec.i in body must be of type integer: \"number\"",
                "spec.i");
}

TEST(SchemaValidation, PatternMismatchQuotesThePattern) {
  json s = spec_props({{"x", {{"type", "string"}, {"pattern", "^[a-z]+$"}}}});
  expect_single(errors_for(s, {{"x", "ABC"}}), "FieldValueInvalid",
                "Invalid value: \"ABC\": spec.x in body should match '^[a-z]+$'", "spec.x");
  EXPECT_TRUE(errors_for(s, {{"x", "abc"}}).empty());
}

TEST(SchemaValidation, PatternMatchesAnywhereUnlessAnchored) {
  json s = spec_props({{"x", {{"type", "string"}, {"pattern", "[0-9]"}}}});
  EXPECT_TRUE(errors_for(s, {{"x", "abc1def"}}).empty());
}

TEST(SchemaValidation, MaxLengthIsTooLongWithoutTheValue) {
  json s = spec_props({{"x", {{"type", "string"}, {"maxLength", 3}}}});
  expect_single(errors_for(s, {{"x", "abcd"}}), "FieldValueTooLong",
                "Too long: may not be more than 3 bytes", "spec.x");
}

TEST(SchemaValidation, LengthsCountCharactersNotBytes) {
  json s = spec_props({{"x", {{"type", "string"}, {"maxLength", 3}}}});
  EXPECT_TRUE(errors_for(s, {{"x", "h\xC3\xA9\xC3\xA9"}}).empty());
}

TEST(SchemaValidation, MinLengthIsInvalidWithTheValue) {
  json s = spec_props({{"x", {{"type", "string"}, {"minLength", 3}}}});
  expect_single(errors_for(s, {{"x", "ab"}}), "FieldValueInvalid",
                "Invalid value: \"ab\": spec.x in body should be at least 3 chars long", "spec.x");
}

TEST(SchemaValidation, StringChecksStopAtTheFirstFailure) {
  json s = spec_props({{"x", {{"type", "string"}, {"maxLength", 2}, {"pattern", "^[0-9]+$"}}}});
  expect_single(errors_for(s, {{"x", "abcd"}}), "FieldValueTooLong",
                "Too long: may not be more than 2 bytes", "spec.x");
}

TEST(SchemaValidation, DateTimeFormatIsChecked) {
  json s = spec_props({{"at", {{"type", "string"}, {"format", "date-time"}}}});
  EXPECT_TRUE(errors_for(s, {{"at", "2024-01-02T03:04:05Z"}}).empty());
  EXPECT_TRUE(errors_for(s, {{"at", "2024-01-02T03:04:05.123+02:00"}}).empty());
  expect_single(errors_for(s, {{"at", "yesterday"}}), "FieldValueTypeInvalid",
                "Invalid value: \"yesterday\": spec.at in body must be of type date-time: "
                "\"yesterday\"",
                "spec.at");
  EXPECT_EQ(errors_for(s, {{"at", "2024-01-02T25:00:00Z"}}).size(), 1u);
}

TEST(SchemaValidation, DateFormatKnowsTheCalendar) {
  json s = spec_props({{"d", {{"type", "string"}, {"format", "date"}}}});
  EXPECT_TRUE(errors_for(s, {{"d", "2024-02-29"}}).empty());
  EXPECT_EQ(errors_for(s, {{"d", "2023-02-29"}}).size(), 1u);
  EXPECT_EQ(errors_for(s, {{"d", "2024-1-02"}}).size(), 1u);
}

TEST(SchemaValidation, ByteUuidDurationAndIpFormatsAreChecked) {
  const auto check = [](const char* format, const char* good, const char* bad) {
    json s = spec_props({{"v", {{"type", "string"}, {"format", format}}}});
    EXPECT_TRUE(errors_for(s, {{"v", good}}).empty()) << format << " " << good;
    expect_single(errors_for(s, {{"v", bad}}), "FieldValueTypeInvalid",
                  "Invalid value: \"" + std::string(bad) + "\": spec.v in body must be of type " +
                      format + ": \"" + bad + "\"",
                  "spec.v");
  };
  check("byte", "aGVsbG8=", "not base64!");
  check("uuid", "123e4567-e89b-12d3-a456-426614174000", "123");
  check("duration", "1h30m", "soon");
  check("duration", "5 minutes", "five");
  check("ipv4", "10.0.0.1", "10.0.0.256");
  check("ipv6", "fe80::1", "10.0.0.1");
  check("cidr", "10.0.0.0/8", "10.0.0.0/33");
  check("mac", "00:00:5e:00:53:01", "00:00:5e");
}

TEST(SchemaValidation, NumericAndUnknownFormatsAreIgnoredLikeTheServer) {
  json s = spec_props({{"n", {{"type", "integer"}, {"format", "int32"}}},
                       {"c", {{"type", "string"}, {"format", "color"}}}});
  EXPECT_TRUE(errors_for(s, {{"n", 5000000000LL}, {"c", "not a color"}}).empty());
}

TEST(SchemaValidation, ItemCountLimits) {
  json s = spec_props(
      {{"list",
        {{"type", "array"}, {"items", {{"type", "string"}}}, {"minItems", 2}, {"maxItems", 3}}}});
  expect_single(errors_for(s, {{"list", {"a"}}}), "FieldValueInvalid",
                "Invalid value: 1: spec.list in body should have at least 2 items", "spec.list");
  expect_single(errors_for(s, {{"list", {"a", "b", "c", "d"}}}), "FieldValueTooMany",
                "Too many: 4: must have at most 3 items", "spec.list");
}

TEST(SchemaValidation, PropertyCountLimits) {
  json s = spec_props({{"m",
                        {{"type", "object"},
                         {"additionalProperties", {{"type", "string"}}},
                         {"minProperties", 1},
                         {"maxProperties", 1}}}});
  expect_single(errors_for(s, {{"m", json::object()}}), "FieldValueInvalid",
                "Invalid value: 0: spec.m in body should have at least 1 properties", "spec.m");
  expect_single(errors_for(s, {{"m", {{"a", "x"}, {"b", "y"}}}}), "FieldValueTooMany",
                "Too many: 2: must have at most 1 items", "spec.m");
}

TEST(SchemaValidation, ArrayItemPathsUseIndexes) {
  json item = spec_props({{"name", {{"type", "string"}}}});
  item["required"] = {"name"};
  json s = spec_props({{"list", {{"type", "array"}, {"items", item}}}});
  expect_single(errors_for(s, {{"list", {{{"name", "a"}}, json::object()}}}), "FieldValueRequired",
                "Required value", "spec.list[1].name");
}

TEST(SchemaValidation, AdditionalPropertiesValuesUseDottedPaths) {
  json s =
      spec_props({{"m", {{"type", "object"}, {"additionalProperties", {{"type", "integer"}}}}}});
  expect_single(errors_for(s, {{"m", {{"a", "x"}}}}), "FieldValueTypeInvalid",
                "Invalid value: \"string\": spec.m.a in body must be of type integer: \"string\"",
                "spec.m.a");
}

TEST(SchemaValidation, NullArrayItemIsATypeError) {
  json s = spec_props({{"list", {{"type", "array"}, {"items", {{"type", "string"}}}}}});
  expect_single(errors_for(s, {{"list", {"a", nullptr}}}), "FieldValueTypeInvalid",
                "Invalid value: \"null\": spec.list[1] in body must be of type string: \"null\"",
                "spec.list[1]");
}

TEST(SchemaValidation, NonNullableNullFieldWithoutDefaultIsDroppedNotReported) {
  json s = spec_props({{"x", {{"type", "string"}}}});
  json obj = object_with_spec({{"x", nullptr}});
  SchemaResult r = apply_schema(obj, schema_with_spec(s));
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.unknown_fields.empty());
  EXPECT_FALSE(obj["spec"].contains("x"));
}

TEST(SchemaValidation, NullableFieldKeepsNull) {
  json s = spec_props({{"x", {{"type", "string"}, {"nullable", true}}}});
  json obj = object_with_spec({{"x", nullptr}});
  EXPECT_TRUE(apply_schema(obj, schema_with_spec(s)).errors.empty());
  ASSERT_TRUE(obj["spec"].contains("x"));
  EXPECT_TRUE(obj["spec"]["x"].is_null());
}

TEST(SchemaValidation, AnyOfFailureHasNoFieldAndKeepsTheBestAlternative) {
  json s = spec_props({{"a", {{"type", "string"}}}, {"b", {{"type", "string"}}}});
  s["anyOf"] = {{{"required", {"a"}}}, {{"required", {"b"}}}};
  auto errs = errors_for(s, json::object());
  ASSERT_EQ(errs.size(), 2u);
  expect_cause(errs[0], "FieldValueInvalid",
               "Invalid value: \"\": \"spec\" must validate at least one schema (anyOf)", "<nil>");
  expect_cause(errs[1], "FieldValueRequired", "Required value", "spec.a");
  EXPECT_TRUE(errors_for(s, {{"b", "x"}}).empty());
}

TEST(SchemaValidation, OneOfCountsValidAlternatives) {
  json s = spec_props({{"a", {{"type", "string"}}}, {"b", {{"type", "string"}}}});
  s["oneOf"] = {{{"required", {"a"}}}, {{"required", {"b"}}}};
  EXPECT_TRUE(errors_for(s, {{"a", "x"}}).empty());
  expect_single(errors_for(s, {{"a", "x"}, {"b", "y"}}), "FieldValueInvalid",
                "Invalid value: \"\": \"spec\" must validate one and only one schema (oneOf). "
                "Found 2 valid alternatives",
                "<nil>");
  auto none = errors_for(s, json::object());
  ASSERT_EQ(none.size(), 2u);
  EXPECT_EQ(none[0].message,
            "Invalid value: \"\": \"spec\" must validate one and only one schema (oneOf). Found "
            "none valid");
}

TEST(SchemaValidation, AllOfReportsEachFailureThenTheSummary) {
  json s =
      spec_props({{"x", {{"type", "integer"}, {"allOf", {{{"minimum", 1}}, {{"maximum", 10}}}}}}});
  auto errs = errors_for(s, {{"x", 20}});
  ASSERT_EQ(errs.size(), 2u);
  expect_cause(errs[0], "FieldValueInvalid",
               "Invalid value: 20: spec.x in body should be less than or equal to 10", "spec.x");
  expect_cause(errs[1], "FieldValueInvalid",
               "Invalid value: \"\": \"spec.x\" must validate all the schemas (allOf)", "<nil>");
}

TEST(SchemaValidation, NotRejectsMatchingValues) {
  json s = spec_props({{"x", {{"type", "string"}, {"not", {{"enum", {"forbidden"}}}}}}});
  EXPECT_TRUE(errors_for(s, {{"x", "fine"}}).empty());
  expect_single(errors_for(s, {{"x", "forbidden"}}), "FieldValueInvalid",
                "Invalid value: \"\": \"spec.x\" must not validate the schema (not)", "<nil>");
}

TEST(SchemaValidation, IntOrStringAcceptsPercentAndNumber) {
  json s = spec_props({{"maxUnavailable", {{"x-kubernetes-int-or-string", true}}}});
  EXPECT_TRUE(errors_for(s, {{"maxUnavailable", "10%"}}).empty());
  EXPECT_TRUE(errors_for(s, {{"maxUnavailable", 10}}).empty());
  expect_single(errors_for(s, {{"maxUnavailable", true}}), "FieldValueTypeInvalid",
                "Invalid value: \"boolean\": spec.maxUnavailable in body must be of type "
                "integer,string: \"boolean\"",
                "spec.maxUnavailable");
}

TEST(SchemaValidation, ForbiddenAdditionalPropertyIsReportedOnTheParent) {
  json s = spec_props({{"m",
                        {{"type", "object"},
                         {"x-kubernetes-preserve-unknown-fields", true},
                         {"additionalProperties", false}}}});
  expect_single(errors_for(s, {{"m", {{"k", 1}}}}), "FieldValueInvalid",
                "Invalid value: \"k\": spec.m.k in body is a forbidden property", "spec.m");
}

// --- defaulting -------------------------------------------------------------

TEST(SchemaDefaults, MissingFieldGetsItsDefault) {
  json s = spec_props({{"replicas", {{"type", "integer"}, {"default", 1}}}});
  json obj = object_with_spec(json::object());
  EXPECT_TRUE(apply_schema(obj, schema_with_spec(s)).errors.empty());
  EXPECT_EQ(obj["spec"]["replicas"], 1);
}

TEST(SchemaDefaults, DefaultedObjectGetsItsNestedDefaults) {
  json s = spec_props({{"resources",
                        {{"type", "object"},
                         {"default", json::object()},
                         {"properties", {{"cpu", {{"type", "string"}, {"default", "1"}}}}}}}});
  json obj = object_with_spec(json::object());
  apply_schema(obj, schema_with_spec(s));
  EXPECT_EQ(obj["spec"]["resources"], json({{"cpu", "1"}}));
}

TEST(SchemaDefaults, ArrayItemsAreDefaulted) {
  json item = spec_props({{"port", {{"type", "integer"}, {"default", 80}}}});
  json s = spec_props({{"list", {{"type", "array"}, {"items", item}}}});
  json obj = object_with_spec({{"list", {json::object(), {{"port", 81}}}}});
  apply_schema(obj, schema_with_spec(s));
  EXPECT_EQ(obj["spec"]["list"], json::parse(R"([{"port":80},{"port":81}])"));
}

TEST(SchemaDefaults, AdditionalPropertiesValuesAreDefaulted) {
  json value = spec_props({{"weight", {{"type", "integer"}, {"default", 1}}}});
  json s = spec_props({{"m", {{"type", "object"}, {"additionalProperties", value}}}});
  json obj = object_with_spec({{"m", {{"a", json::object()}, {"b", {{"weight", 5}}}}}});
  apply_schema(obj, schema_with_spec(s));
  EXPECT_EQ(obj["spec"]["m"], json::parse(R"({"a":{"weight":1},"b":{"weight":5}})"));
}

TEST(SchemaDefaults, NotAppliedWhenTheParentIsMissing) {
  json s = spec_props({{"opt", spec_props({{"x", {{"type", "integer"}, {"default", 3}}}})}});
  json obj = object_with_spec(json::object());
  apply_schema(obj, schema_with_spec(s));
  EXPECT_EQ(obj["spec"], json::object());
}

TEST(SchemaDefaults, NullReplacedOnlyWhenNotNullable) {
  json s = spec_props({{"a", {{"type", "integer"}, {"default", 1}}},
                       {"b", {{"type", "integer"}, {"nullable", true}, {"default", 1}}}});
  json obj = object_with_spec({{"a", nullptr}, {"b", nullptr}});
  EXPECT_TRUE(apply_schema(obj, schema_with_spec(s)).errors.empty());
  EXPECT_EQ(obj["spec"]["a"], 1);
  EXPECT_TRUE(obj["spec"]["b"].is_null());
}

TEST(SchemaDefaults, NullArrayItemGetsTheItemsDefault) {
  json s = spec_props(
      {{"list", {{"type", "array"}, {"items", {{"type", "string"}, {"default", "x"}}}}}});
  json obj = object_with_spec({{"list", {"a", nullptr}}});
  EXPECT_TRUE(apply_schema(obj, schema_with_spec(s)).errors.empty());
  EXPECT_EQ(obj["spec"]["list"], json({"a", "x"}));
}

// --- pruning ----------------------------------------------------------------

TEST(SchemaPruning, UnknownFieldsAtEveryLevelAreDroppedAndRecordedSorted) {
  json item = spec_props({{"name", {{"type", "string"}}}});
  json s = schema_with_spec(
      spec_props({{"a", {{"type", "string"}}}, {"list", {{"type", "array"}, {"items", item}}}}));
  json obj = object_with_spec({{"a", "x"}, {"b", 1}, {"list", {{{"name", "n"}, {"extra", 1}}}}});
  obj["status"] = {{"x", 1}};
  obj["extraTop"] = 1;
  SchemaResult r = apply_schema(obj, s);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.unknown_fields,
            (std::vector<std::string>{"extraTop", "spec.b", "spec.list[0].extra", "status"}));
  EXPECT_EQ(obj["spec"], json::parse(R"({"a":"x","list":[{"name":"n"}]})"));
  EXPECT_FALSE(obj.contains("status"));
  EXPECT_FALSE(obj.contains("extraTop"));
}

TEST(SchemaPruning, RootApiVersionKindAndMetadataAreKeptWhole) {
  json obj = object_with_spec(json::object());
  obj["metadata"]["labels"] = {{"a", "b"}};
  obj["metadata"]["notObjectMeta"] = 1;
  SchemaResult r = apply_schema(obj, schema_with_spec(spec_props(json::object())));
  EXPECT_TRUE(r.unknown_fields.empty());
  EXPECT_EQ(obj["apiVersion"], "example.com/v1");
  EXPECT_EQ(obj["kind"], "TrainingJob");
  EXPECT_EQ(obj["metadata"]["notObjectMeta"], 1);
}

TEST(SchemaPruning, PreserveUnknownFieldsKeepsUnknownButPrunesSpecifiedProperties) {
  json tmpl = {{"type", "object"},
               {"x-kubernetes-preserve-unknown-fields", true},
               {"properties", {{"spec", spec_props({{"name", {{"type", "string"}}}})}}}};
  json obj = object_with_spec(
      {{"template", {{"anything", {{"deep", {1, 2}}}}, {"spec", {{"name", "a"}, {"junk", 1}}}}}});
  SchemaResult r = apply_schema(obj, schema_with_spec(spec_props({{"template", tmpl}})));
  EXPECT_EQ(r.unknown_fields, std::vector<std::string>{"spec.template.spec.junk"});
  EXPECT_EQ(obj["spec"]["template"],
            json::parse(R"({"anything":{"deep":[1,2]},"spec":{"name":"a"}})"));
}

TEST(SchemaPruning, ObjectWithoutPropertiesLosesAllKeys) {
  json obj = object_with_spec({{"opts", {{"a", 1}}}});
  SchemaResult r =
      apply_schema(obj, schema_with_spec(spec_props({{"opts", {{"type", "object"}}}})));
  EXPECT_EQ(r.unknown_fields, std::vector<std::string>{"spec.opts.a"});
  EXPECT_EQ(obj["spec"]["opts"], json::object());
}

TEST(SchemaPruning, EmbeddedResourceKeepsTypeMetaAndObjectMeta) {
  json embedded = {{"type", "object"},
                   {"x-kubernetes-embedded-resource", true},
                   {"properties", {{"spec", spec_props({{"image", {{"type", "string"}}}})}}}};
  json obj = object_with_spec({{"pod",
                                {{"apiVersion", "v1"},
                                 {"kind", "Pod"},
                                 {"metadata", {{"name", "p"}, {"labels", {{"a", "b"}}}}},
                                 {"spec", {{"image", "busybox"}}},
                                 {"junk", true}}}});
  SchemaResult r = apply_schema(obj, schema_with_spec(spec_props({{"pod", embedded}})));
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.unknown_fields, std::vector<std::string>{"spec.pod.junk"});
  EXPECT_EQ(obj["spec"]["pod"]["metadata"]["labels"]["a"], "b");
  EXPECT_EQ(obj["spec"]["pod"]["kind"], "Pod");
}

TEST(SchemaPruning, EmbeddedResourceNeedsApiVersionAndKind) {
  json embedded = {{"type", "object"},
                   {"x-kubernetes-embedded-resource", true},
                   {"x-kubernetes-preserve-unknown-fields", true}};
  json s = spec_props({{"pod", embedded}});
  auto errs = errors_for(s, {{"pod", {{"metadata", {{"name", "p"}}}}}});
  ASSERT_EQ(errs.size(), 2u);
  expect_cause(errs[0], "FieldValueRequired", "Required value: must not be empty",
               "spec.pod.apiVersion");
  expect_cause(errs[1], "FieldValueRequired", "Required value: must not be empty", "spec.pod.kind");
  expect_single(
      errors_for(s, {{"pod", {{"apiVersion", "a/b/c"}, {"kind", "Pod"}}}}), "FieldValueInvalid",
      "Invalid value: \"a/b/c\": unexpected GroupVersion string: a/b/c", "spec.pod.apiVersion");
}

// --- list types -------------------------------------------------------------

TEST(SchemaListTypes, SetReportsEachRepeatedValueOnce) {
  json s = spec_props(
      {{"tags",
        {{"type", "array"}, {"x-kubernetes-list-type", "set"}, {"items", {{"type", "string"}}}}}});
  expect_single(errors_for(s, {{"tags", {"a", "b", "a", "a"}}}), "FieldValueDuplicate",
                "Duplicate value: \"a\"", "spec.tags[2]");
  EXPECT_TRUE(errors_for(s, {{"tags", {"a", "b"}}}).empty());
}

json ports_schema(const json& keys) {
  json item = spec_props({{"name", {{"type", "string"}}},
                          {"protocol", {{"type", "string"}}},
                          {"port", {{"type", "integer"}}}});
  item["required"] = {"name"};
  return spec_props({{"ports",
                      {{"type", "array"},
                       {"x-kubernetes-list-type", "map"},
                       {"x-kubernetes-list-map-keys", keys},
                       {"items", item}}}});
}

TEST(SchemaListTypes, MapReportsDuplicateKeyAsGoMap) {
  expect_single(
      errors_for(ports_schema({"name"}),
                 {{"ports",
                   {{{"name", "a"}, {"port", 1}}, {{"name", "b"}}, {{"name", "a"}, {"port", 2}}}}}),
      "FieldValueDuplicate", "Duplicate value: map[string]interface {}{\"name\":\"a\"}",
      "spec.ports[2]");
}

TEST(SchemaListTypes, MapWithSeveralKeysComparesAllOfThem) {
  json ports = {{{"name", "a"}, {"protocol", "TCP"}},
                {{"name", "a"}, {"protocol", "UDP"}},
                {{"name", "a"}, {"protocol", "TCP"}, {"port", 3}}};
  expect_single(errors_for(ports_schema({"name", "protocol"}), {{"ports", ports}}),
                "FieldValueDuplicate",
                "Duplicate value: map[string]interface {}{\"name\":\"a\", \"protocol\":\"TCP\"}",
                "spec.ports[2]");
}

TEST(SchemaListTypes, ListTypeErrorsComeAfterSchemaErrors) {
  json s = ports_schema({"name"});
  auto errs = errors_for(s, {{"ports", {{{"name", "a"}, {"port", "x"}}, {{"name", "a"}}}}});
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0].field, "spec.ports[0].port");
  EXPECT_EQ(errs[1].field, "spec.ports[1]");
  EXPECT_EQ(errs[1].reason, "FieldValueDuplicate");
}

// --- a realistic CRD end to end ---------------------------------------------

json training_job_schema() {
  return json::parse(R"({
    "type": "object",
    "properties": {
      "apiVersion": {"type": "string"},
      "kind": {"type": "string"},
      "metadata": {"type": "object"},
      "spec": {
        "type": "object",
        "required": ["template"],
        "properties": {
          "workers": {"type": "integer", "minimum": 1, "default": 1},
          "capacity": {
            "type": "object",
            "default": {},
            "properties": {
              "preference": {"type": "string", "enum": ["Spot", "OnDemand", "SpotWithFallback"],
                             "default": "OnDemand"},
              "maxPrice": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"}
            }
          },
          "checkpoint": {
            "type": "object",
            "properties": {"interval": {"type": "string", "format": "duration", "default": "10m"}}
          },
          "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
          "env": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "required": ["name"],
                      "properties": {"name": {"type": "string"}, "value": {"type": "string"}}}
          }
        }
      },
      "status": {
        "type": "object",
        "properties": {"phase": {"type": "string"},
                       "startedAt": {"type": "string", "format": "date-time"}}
      }
    }
  })");
}

TEST(SchemaTrainingJob, CrdSchemaIsStructural) {
  EXPECT_TRUE(check_structural_schema(training_job_schema(), kPrefix).empty());
}

TEST(SchemaTrainingJob, ValidJobIsDefaultedAndPrunedButTemplateKept) {
  json obj = object_with_spec(json::parse(R"({
    "template": {"spec": {"containers": [{"name": "trainer", "image": "pytorch"}]}, "x": 1},
    "debug": true
  })"));
  SchemaResult r = apply_schema(obj, training_job_schema());
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.unknown_fields, std::vector<std::string>{"spec.debug"});
  EXPECT_EQ(obj["spec"]["workers"], 1);
  EXPECT_EQ(obj["spec"]["capacity"], json({{"preference", "OnDemand"}}));
  EXPECT_FALSE(obj["spec"].contains("checkpoint"));
  EXPECT_EQ(obj["spec"]["template"]["x"], 1);
}

TEST(SchemaTrainingJob, InvalidJobReportsEveryViolation) {
  json obj = object_with_spec(json::parse(R"({
    "workers": 0,
    "capacity": {"preference": "Foo", "maxPrice": "cheap"},
    "checkpoint": {"interval": "often"}
  })"));
  SchemaResult r = apply_schema(obj, training_job_schema());
  ASSERT_EQ(r.errors.size(), 5u);
  expect_cause(r.errors[0], "FieldValueInvalid",
               "Invalid value: \"cheap\": spec.capacity.maxPrice in body should match "
               "'^[0-9]+(\\.[0-9]+)?$'",
               "spec.capacity.maxPrice");
  expect_cause(r.errors[1], "FieldValueNotSupported",
               "Unsupported value: \"Foo\": supported values: \"Spot\", \"OnDemand\", "
               "\"SpotWithFallback\"",
               "spec.capacity.preference");
  expect_cause(r.errors[2], "FieldValueTypeInvalid",
               "Invalid value: \"often\": spec.checkpoint.interval in body must be of type "
               "duration: \"often\"",
               "spec.checkpoint.interval");
  expect_cause(r.errors[3], "FieldValueInvalid",
               "Invalid value: 0: spec.workers in body should be greater than or equal to 1",
               "spec.workers");
  expect_cause(r.errors[4], "FieldValueRequired", "Required value", "spec.template");
}

// --- checking CRD schemas ---------------------------------------------------

TEST(StructuralSchema, PropertyWithoutTypeIsRejected) {
  json s = schema_with_spec(spec_props({{"foo", {{"description", "no type"}}}}));
  expect_single(check_structural_schema(s, kPrefix), "FieldValueRequired",
                "Required value: must not be empty for specified object fields",
                std::string(kPrefix) + ".properties[spec].properties[foo].type");
}

TEST(StructuralSchema, UntypedPreserveUnknownAndIntOrStringAreAllowed) {
  json s = schema_with_spec(spec_props({{"any", {{"x-kubernetes-preserve-unknown-fields", true}}},
                                        {"port", {{"x-kubernetes-int-or-string", true}}}}));
  EXPECT_TRUE(check_structural_schema(s, kPrefix).empty());
}

TEST(StructuralSchema, DefaultViolatingItsSchemaIsRejected) {
  json s = schema_with_spec(
      spec_props({{"workers", {{"type", "integer"}, {"minimum", 1}, {"default", 0}}},
                  {"name", {{"type", "string"}, {"default", 5}}}}));
  auto errs = check_structural_schema(s, kPrefix);
  ASSERT_EQ(errs.size(), 2u);
  expect_cause(errs[0], "FieldValueTypeInvalid",
               "Invalid value: \"integer\":  in body must be of type string: \"integer\"",
               std::string(kPrefix) + ".properties[spec].properties[name].default");
  expect_cause(errs[1], "FieldValueInvalid",
               "Invalid value: 0:  in body should be greater than or equal to 1",
               std::string(kPrefix) + ".properties[spec].properties[workers].default");
}

TEST(StructuralSchema, NestedDefaultErrorsNameTheFieldInsideTheDefault) {
  json s = schema_with_spec(
      spec_props({{"res",
                   {{"type", "object"},
                    {"default", {{"cpu", "lots"}}},
                    {"properties", {{"cpu", {{"type", "string"}, {"pattern", "^[0-9]+$"}}}}}}}}));
  expect_single(check_structural_schema(s, kPrefix), "FieldValueInvalid",
                "Invalid value: \"lots\": cpu in body should match '^[0-9]+$'",
                std::string(kPrefix) + ".properties[spec].properties[res].default.cpu");
}

TEST(StructuralSchema, DefaultWithUnknownFieldsIsRejected) {
  json s = schema_with_spec(spec_props({{"res",
                                         {{"type", "object"},
                                          {"default", {{"a", "x"}, {"b", "y"}}},
                                          {"properties", {{"a", {{"type", "string"}}}}}}}}));
  expect_single(check_structural_schema(s, kPrefix), "FieldValueInvalid",
                "Invalid value: map[string]interface {}{\"a\":\"x\", \"b\":\"y\"}: must not have "
                "unknown fields",
                std::string(kPrefix) + ".properties[spec].properties[res].default");
}

TEST(StructuralSchema, RootMustBeAnObject) {
  expect_single(check_structural_schema({{"type", "string"}}, kPrefix), "FieldValueInvalid",
                "Invalid value: \"string\": must be object at the root",
                std::string(kPrefix) + ".type");
}

TEST(StructuralSchema, StructuralViolationsAreSortedAndSkipDefaultChecks) {
  json s =
      schema_with_spec(spec_props({{"z", json::object()},
                                   {"a", json::object()},
                                   {"w", {{"type", "integer"}, {"minimum", 1}, {"default", 0}}}}));
  auto errs = check_structural_schema(s, kPrefix);
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0].field, std::string(kPrefix) + ".properties[spec].properties[a].type");
  EXPECT_EQ(errs[1].field, std::string(kPrefix) + ".properties[spec].properties[z].type");
}

TEST(StructuralSchema, TypesInsideJunctorsAreForbiddenExceptIntOrString) {
  json s = schema_with_spec(
      spec_props({{"x", {{"type", "string"}, {"anyOf", {{{"type", "string"}}}}}}}));
  expect_single(check_structural_schema(s, kPrefix), "FieldValueForbidden",
                "Forbidden: must be empty to be structural",
                std::string(kPrefix) + ".properties[spec].properties[x].anyOf[0].type");
  json ios =
      schema_with_spec(spec_props({{"x",
                                    {{"x-kubernetes-int-or-string", true},
                                     {"anyOf", {{{"type", "integer"}}, {{"type", "string"}}}}}}}));
  EXPECT_TRUE(check_structural_schema(ios, kPrefix).empty());
}

TEST(StructuralSchema, JunctorPropertiesMustBeSpecified) {
  json root = {{"type", "object"},
               {"properties", {{"spec", {{"type", "object"}}}}},
               {"anyOf", {{{"properties", {{"other", {{"minLength", 1}}}}}}}}};
  expect_single(check_structural_schema(root, kPrefix), "FieldValueRequired",
                std::string("Required value: because it is defined in ") + kPrefix +
                    ".anyOf[0].properties[other]",
                std::string(kPrefix) + ".properties[other]");
}

TEST(StructuralSchema, UniqueItemsIsForbidden) {
  json s = schema_with_spec(spec_props(
      {{"l", {{"type", "array"}, {"uniqueItems", true}, {"items", {{"type", "string"}}}}}}));
  expect_single(check_structural_schema(s, kPrefix), "FieldValueForbidden",
                "Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes "
                "quadratic",
                std::string(kPrefix) + ".properties[spec].properties[l].uniqueItems");
}

TEST(StructuralSchema, AdditionalPropertiesBesidePropertiesIsForbidden) {
  json s = schema_with_spec({{"type", "object"},
                             {"properties", {{"a", {{"type", "string"}}}}},
                             {"additionalProperties", {{"type", "string"}}}});
  expect_single(check_structural_schema(s, kPrefix), "FieldValueForbidden",
                "Forbidden: additionalProperties and properties are mutual exclusive",
                std::string(kPrefix) + ".properties[spec].additionalProperties");
}

TEST(StructuralSchema, UnsupportedTypeListsTheOpenApiTypes) {
  json s = schema_with_spec(spec_props({{"d", {{"type", "date"}}}}));
  expect_single(check_structural_schema(s, kPrefix), "FieldValueNotSupported",
                "Unsupported value: \"date\": supported values: \"array\", \"boolean\", "
                "\"integer\", \"number\", \"object\", \"string\"",
                std::string(kPrefix) + ".properties[spec].properties[d].type");
}

TEST(StructuralSchema, ListMapKeysMustBeRequiredOrDefaulted) {
  json s = schema_with_spec(ports_schema({"protocol"}));
  expect_single(check_structural_schema(s, kPrefix), "FieldValueRequired",
                "Required value: this property is in x-kubernetes-list-map-keys, so it must have a "
                "default or be a required property",
                std::string(kPrefix) +
                    ".properties[spec].properties[ports].items.properties[protocol].default");
  EXPECT_TRUE(check_structural_schema(schema_with_spec(ports_schema({"name"})), kPrefix).empty());
}

TEST(StructuralSchema, RootMetadataMayOnlyRestrictNames) {
  json ok = {{"type", "object"},
             {"properties",
              {{"metadata",
                {{"type", "object"},
                 {"properties", {{"name", {{"type", "string"}, {"maxLength", 20}}}}}}}}}};
  EXPECT_TRUE(check_structural_schema(ok, kPrefix).empty());
  json bad = ok;
  bad["properties"]["metadata"]["properties"]["labels"] = {{"type", "object"}};
  expect_single(check_structural_schema(bad, kPrefix), "FieldValueForbidden",
                "Forbidden: must not specify anything other than name and generateName, but "
                "metadata is implicitly specified",
                std::string(kPrefix) + ".properties[metadata]");
}

TEST(StructuralSchema, DefaultsInTopLevelMetadataAreForbidden) {
  json s = {{"type", "object"},
            {"properties", {{"metadata", {{"type", "object"}, {"default", {{"name", "x"}}}}}}}};
  expect_single(check_structural_schema(s, kPrefix), "FieldValueForbidden",
                "Forbidden: must not be set in top-level metadata",
                std::string(kPrefix) + ".properties[metadata].default");
}

TEST(StructuralSchema, EmbeddedObjectMetaDefaultsAreNotPruningChecked) {
  json pod = {{"type", "object"},
              {"x-kubernetes-embedded-resource", true},
              {"x-kubernetes-preserve-unknown-fields", true},
              {"properties",
               {{"metadata", {{"type", "object"}, {"default", {{"labels", {{"a", "b"}}}}}}}}}};
  EXPECT_TRUE(
      check_structural_schema(schema_with_spec(spec_props({{"pod", pod}})), kPrefix).empty());
}

TEST(StructuralSchema, NullableRootIsForbidden) {
  json s = {{"type", "object"}, {"nullable", true}};
  expect_single(check_structural_schema(s, kPrefix), "FieldValueForbidden",
                "Forbidden: nullable cannot be true at the root",
                std::string(kPrefix) + ".nullable");
}

}  // namespace
}  // namespace kubesim
