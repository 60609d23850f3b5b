// Pins label and field selector behaviour, including error wording, to what
// the real API server (k8s.io/apimachinery labels/fields) does.
#include "sim/selector.h"

#include <gtest/gtest.h>

namespace kubesim {
namespace {

LabelSelector parse_ok(std::string_view text) {
  auto s = LabelSelector::parse(text);
  EXPECT_TRUE(s.has_value()) << text << ": " << (s ? "" : s.error().message);
  return s ? *s : LabelSelector::nothing();
}

std::string parse_error(std::string_view text) {
  auto s = LabelSelector::parse(text);
  EXPECT_FALSE(s.has_value()) << text << " parsed as " << (s ? s->to_string() : "");
  if (s) {
    return "";
  }
  EXPECT_EQ(s.error().code, 400);
  EXPECT_EQ(s.error().reason, "BadRequest");
  return s.error().message;
}

const json kWeb = {{"app", "web"}, {"tier", "frontend"}, {"env", "prod"}};

// ---- Label selector: operators ---------------------------------------------

TEST(LabelSelectorParse, EqualsMatchesOnlyThatValue) {
  auto s = parse_ok("app=web");
  EXPECT_TRUE(s.matches(kWeb));
  EXPECT_FALSE(s.matches({{"app", "db"}}));
  EXPECT_FALSE(s.matches(json::object()));
}

TEST(LabelSelectorParse, DoubleEqualsMeansEquals) {
  auto s = parse_ok("app==web");
  EXPECT_TRUE(s.matches(kWeb));
  EXPECT_FALSE(s.matches({{"app", "db"}}));
  EXPECT_EQ(s.to_string(), "app==web");
}

TEST(LabelSelectorParse, NotEqualsMatchesOtherValuesAndMissingKey) {
  auto s = parse_ok("app!=web");
  EXPECT_FALSE(s.matches(kWeb));
  EXPECT_TRUE(s.matches({{"app", "db"}}));
  EXPECT_TRUE(s.matches(json::object()));
}

TEST(LabelSelectorParse, InRequiresKeyWithListedValue) {
  auto s = parse_ok("env in (prod,staging)");
  EXPECT_TRUE(s.matches(kWeb));
  EXPECT_TRUE(s.matches({{"env", "staging"}}));
  EXPECT_FALSE(s.matches({{"env", "dev"}}));
  EXPECT_FALSE(s.matches(json::object()));
}

TEST(LabelSelectorParse, NotInMatchesOtherValuesAndMissingKey) {
  auto s = parse_ok("env notin (prod)");
  EXPECT_FALSE(s.matches(kWeb));
  EXPECT_TRUE(s.matches({{"env", "dev"}}));
  EXPECT_TRUE(s.matches(json::object()));
}

TEST(LabelSelectorParse, BareKeyMeansExists) {
  auto s = parse_ok("tier");
  EXPECT_TRUE(s.matches(kWeb));
  EXPECT_TRUE(s.matches({{"tier", ""}}));
  EXPECT_FALSE(s.matches({{"app", "web"}}));
  EXPECT_EQ(s.requirements().at(0).op, LabelOperator::kExists);
}

TEST(LabelSelectorParse, BangKeyMeansDoesNotExist) {
  auto s = parse_ok("!canary");
  EXPECT_TRUE(s.matches(kWeb));
  EXPECT_FALSE(s.matches({{"canary", "true"}}));
  EXPECT_EQ(s.requirements().at(0).op, LabelOperator::kDoesNotExist);
}

TEST(LabelSelectorParse, GreaterAndLessThanCompareIntegers) {
  auto gt = parse_ok("replicas>2");
  EXPECT_TRUE(gt.matches({{"replicas", "3"}}));
  EXPECT_FALSE(gt.matches({{"replicas", "2"}}));
  EXPECT_FALSE(gt.matches({{"replicas", "many"}}));
  EXPECT_FALSE(gt.matches(json::object()));
  auto lt = parse_ok("replicas<2");
  EXPECT_TRUE(lt.matches({{"replicas", "1"}}));
  EXPECT_FALSE(lt.matches({{"replicas", "2"}}));
}

TEST(LabelSelectorParse, EmptyValueAfterEqualsMatchesEmptyLabel) {
  auto s = parse_ok("app=,tier");
  EXPECT_TRUE(s.matches({{"app", ""}, {"tier", "x"}}));
  EXPECT_FALSE(s.matches({{"tier", "x"}}));
}

TEST(LabelSelectorParse, InAndNotInAreOrdinaryWordsInValuePosition) {
  auto s = parse_ok("in in (in,notin)");
  EXPECT_TRUE(s.matches({{"in", "notin"}}));
  EXPECT_FALSE(s.matches({{"in", "x"}}));
}

TEST(LabelSelectorParse, EmptyParenthesesHoldTheEmptyString) {
  auto s = parse_ok("a in ()");
  EXPECT_TRUE(s.matches({{"a", ""}}));
  EXPECT_FALSE(s.matches({{"a", "x"}}));
  EXPECT_EQ(parse_ok("a in (x,,y)").to_string(), "a in (,x,y)");
}

// ---- Label selector: combinations, whitespace, String() --------------------

TEST(LabelSelectorParse, AllRequirementsMustMatch) {
  auto s = parse_ok("app=web,tier!=backend,env in (prod),!canary,tier");
  EXPECT_TRUE(s.matches(kWeb));
  EXPECT_FALSE(s.matches({{"app", "web"}, {"tier", "backend"}, {"env", "prod"}}));
  EXPECT_FALSE(s.matches({{"app", "web"}, {"tier", "frontend"}, {"env", "prod"}, {"canary", "1"}}));
}

TEST(LabelSelectorParse, WhitespaceAroundTokensIsIgnored) {
  auto s = parse_ok("  app = web ,\tenv  in  ( prod , dev ) , ! canary , tier ");
  EXPECT_TRUE(s.matches(kWeb));
  // Sorted by key, so "!canary" sorts as "canary".
  EXPECT_EQ(s.to_string(), "app=web,!canary,env in (dev,prod),tier");
}

TEST(LabelSelectorParse, EmptyStringSelectsEverything) {
  EXPECT_TRUE(parse_ok("").empty());
  EXPECT_TRUE(parse_ok("   ").empty());
  EXPECT_TRUE(parse_ok("").matches(json(nullptr)));
  EXPECT_FALSE(parse_ok("a").empty());
}

TEST(LabelSelectorParse, ToStringSortsByKeyAndValues) {
  EXPECT_EQ(parse_ok("z=1,a notin (c,b),m,!n,q>5").to_string(), "a notin (b,c),m,!n,q>5,z=1");
}

TEST(LabelSelectorParse, PrefixedKeysAreAccepted) {
  auto s = parse_ok("app.kubernetes.io/name=web");
  EXPECT_TRUE(s.matches({{"app.kubernetes.io/name", "web"}}));
}

TEST(LabelSelectorMatches, NullOrNonObjectLabelsHaveNoKeys) {
  EXPECT_FALSE(parse_ok("a").matches(json(nullptr)));
  EXPECT_TRUE(parse_ok("!a").matches(json(nullptr)));
  EXPECT_TRUE(parse_ok("a!=b").matches(json::array()));
}

// ---- Label selector: errors ------------------------------------------------

TEST(LabelSelectorParseErrors, InvalidKeyIsReportedWithNilPath) {
  EXPECT_EQ(parse_error("-app=web"),
            "unable to parse requirement: <nil>: Invalid value: \"-app\": name part must consist "
            "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
            "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
}

TEST(LabelSelectorParseErrors, InvalidKeyPrefixAndTooLongName) {
  std::string long_name(64, 'a');
  EXPECT_EQ(parse_error("Example.com/" + long_name),
            "unable to parse requirement: <nil>: Invalid value: \"Example.com/" + long_name +
                "\": prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                "character (e.g. 'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'); name part "
                "must be no more than 63 characters");
  EXPECT_NE(parse_error("/a").find("prefix part must be non-empty"), std::string::npos);
  EXPECT_NE(parse_error("a/b/c").find("a qualified name must consist of"), std::string::npos);
}

TEST(LabelSelectorParseErrors, InvalidValueIsReportedUnderValuesPath) {
  EXPECT_EQ(parse_error("app=web-"),
            "unable to parse requirement: values[0][app]: Invalid value: \"web-\": a valid label "
            "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
            "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  "
            "or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
  std::string too_long = parse_error("app=" + std::string(64, 'v'));
  EXPECT_EQ(too_long.rfind("unable to parse requirement: values[0][app]: Invalid value: ", 0), 0u);
  EXPECT_NE(too_long.find("must be no more than 63 characters"), std::string::npos);
}

TEST(LabelSelectorParseErrors, UnclosedParenthesis) {
  EXPECT_EQ(parse_error("env in (prod"),
            "unable to parse requirement: found '', expected: ',' or ')'");
  EXPECT_EQ(parse_error("env in ("),
            "unable to parse requirement: found '', expected: ',', ')' or identifier");
}

TEST(LabelSelectorParseErrors, SetOperatorWithoutParenthesis) {
  EXPECT_EQ(parse_error("env in prod"), "unable to parse requirement: found 'prod' expected: '('");
}

TEST(LabelSelectorParseErrors, MissingOperatorBetweenWords) {
  EXPECT_EQ(parse_error("app web"),
            "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt");
}

TEST(LabelSelectorParseErrors, SeparatorMistakes) {
  EXPECT_EQ(parse_error(",a"), "found ',', expected: !, identifier, or 'end of string'");
  EXPECT_EQ(parse_error("a,"), "found '', expected: identifier after ','");
  EXPECT_EQ(parse_error("a=b c"), "found 'c', expected: ',' or 'end of string'");
  EXPECT_EQ(parse_error("!a=b"), "found '=', expected: ',' or 'end of string'");
  EXPECT_EQ(parse_error("a=(b)"), "unable to parse requirement: found '(', expected: identifier");
}

TEST(LabelSelectorParseErrors, GreaterThanNeedsAnInteger) {
  EXPECT_EQ(parse_error("a>b"),
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' "
            "operators, the value must be an integer");
}

// ---- Label selector: metav1.LabelSelector ----------------------------------

TEST(LabelSelectorFromJson, MatchLabelsAndExpressionsAreAnded) {
  auto s = LabelSelector::from_json(json::parse(R"({
      "matchLabels": {"app": "web"},
      "matchExpressions": [
        {"key": "env", "operator": "In", "values": ["prod", "staging"]},
        {"key": "tier", "operator": "NotIn", "values": ["backend"]},
        {"key": "tier", "operator": "Exists"},
        {"key": "canary", "operator": "DoesNotExist"}
      ]})"));
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_TRUE(s->matches(kWeb));
  EXPECT_FALSE(s->matches({{"app", "web"}, {"env", "dev"}, {"tier", "frontend"}}));
  EXPECT_FALSE(s->matches({{"app", "web"}, {"env", "prod"}}));
  EXPECT_FALSE(s->matches({{"app", "web"}, {"env", "prod"}, {"tier", "x"}, {"canary", "y"}}));
  EXPECT_EQ(s->to_string(), "app=web,!canary,env in (prod,staging),tier notin (backend),tier");
}

TEST(LabelSelectorFromJson, EmptyObjectSelectsEverything) {
  auto s = LabelSelector::from_json(json::object());
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->empty());
  EXPECT_TRUE(s->matches(kWeb));
  EXPECT_TRUE(s->matches(json(nullptr)));
  auto empty_parts = LabelSelector::from_json(
      {{"matchLabels", json::object()}, {"matchExpressions", json::array()}});
  ASSERT_TRUE(empty_parts.has_value());
  EXPECT_TRUE(empty_parts->empty());
}

TEST(LabelSelectorFromJson, NullSelectsNothing) {
  auto s = LabelSelector::from_json(json(nullptr));
  ASSERT_TRUE(s.has_value());
  EXPECT_FALSE(s->empty());
  EXPECT_FALSE(s->matches(kWeb));
  EXPECT_FALSE(s->matches(json::object()));
  EXPECT_EQ(s->to_string(), "");
}

TEST(LabelSelectorFromJson, UnknownOperatorIsRejected) {
  auto s = LabelSelector::from_json(
      {{"matchExpressions", {{{"key", "a"}, {"operator", "Equals"}, {"values", {"b"}}}}}});
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, 400);
  EXPECT_EQ(s.error().message, "\"Equals\" is not a valid pod selector operator");
}

TEST(LabelSelectorFromJson, InWithoutValuesIsRejected) {
  auto s = LabelSelector::from_json({{"matchExpressions", {{{"key", "a"}, {"operator", "In"}}}}});
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().message,
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty");
}

TEST(LabelSelectorFromJson, ExistsWithValuesIsRejected) {
  auto s = LabelSelector::from_json(
      {{"matchExpressions", {{{"key", "a"}, {"operator", "Exists"}, {"values", {"b"}}}}}});
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().message,
            "values: Invalid value: [\"b\"]: values set must be empty for exists and does not "
            "exist");
}

TEST(LabelSelectorFromJson, SeveralProblemsAreAggregated) {
  auto s = LabelSelector::from_json(
      {{"matchExpressions",
        {{{"key", "bad key"}, {"operator", "NotIn"}, {"values", json::array()}}}}});
  ASSERT_FALSE(s.has_value());
  const std::string& m = s.error().message;
  EXPECT_EQ(m.front(), '[');
  EXPECT_NE(m.find("key: Invalid value: \"bad key\": name part must consist"), std::string::npos);
  EXPECT_NE(m.find(", values: Invalid value: null: for 'in', 'notin'"), std::string::npos);
  EXPECT_EQ(m.back(), ']');
}

TEST(LabelSelectorFromJson, InvalidMatchLabelValueIsRejected) {
  auto s = LabelSelector::from_json({{"matchLabels", {{"app", "a b"}}}});
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().message.rfind("values[0][app]: Invalid value: \"a b\": a valid label", 0),
            0u);
}

TEST(LabelSelectorFromJson, WrongJsonShapesAreBadRequests) {
  auto not_object = LabelSelector::from_json("app=web");
  ASSERT_FALSE(not_object.has_value());
  EXPECT_EQ(not_object.error().message,
            "json: cannot unmarshal string into Go value of type v1.LabelSelector");
  auto number_label = LabelSelector::from_json({{"matchLabels", {{"app", 1}}}});
  ASSERT_FALSE(number_label.has_value());
  EXPECT_EQ(number_label.error().code, 400);
}

TEST(LabelSelectorFromSet, MapBecomesEqualityRequirements) {
  auto s = LabelSelector::from_set({{"app", "web"}, {"tier", "frontend"}});
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->matches(kWeb));
  EXPECT_FALSE(s->matches({{"app", "web"}}));
  EXPECT_EQ(s->to_string(), "app=web,tier=frontend");
  auto none = LabelSelector::from_set(json(nullptr));
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

// ---- Field selector --------------------------------------------------------

const std::vector<std::string> kPodFields = {"spec.nodeName", "status.phase", "spec.hostNetwork",
                                             "spec.priority"};
const std::vector<std::string> kEventFields = {"involvedObject.kind", "involvedObject.name"};

const json kPod = json::parse(R"({
  "metadata": {"name": "web-1", "namespace": "prod"},
  "spec": {"nodeName": "node-a", "hostNetwork": false, "priority": 1000},
  "status": {"phase": "Running"}
})");

FieldSelector field_ok(std::string_view text, const std::vector<std::string>& allowed) {
  auto s = FieldSelector::parse(text, allowed);
  EXPECT_TRUE(s.has_value()) << text << ": " << (s ? "" : s.error().message);
  return s ? *s : FieldSelector{};
}

std::string field_error(std::string_view text, const std::vector<std::string>& allowed) {
  auto s = FieldSelector::parse(text, allowed);
  EXPECT_FALSE(s.has_value()) << text;
  if (s) {
    return "";
  }
  EXPECT_EQ(s.error().code, 400);
  return s.error().message;
}

TEST(FieldSelectorParse, EqualsOnNestedPaths) {
  EXPECT_TRUE(field_ok("spec.nodeName=node-a", kPodFields).matches(kPod));
  EXPECT_FALSE(field_ok("spec.nodeName=node-b", kPodFields).matches(kPod));
  EXPECT_TRUE(field_ok("status.phase==Running", kPodFields).matches(kPod));
  EXPECT_TRUE(field_ok("metadata.name=web-1,metadata.namespace=prod", {}).matches(kPod));
}

TEST(FieldSelectorParse, NotEquals) {
  EXPECT_FALSE(field_ok("status.phase!=Running", kPodFields).matches(kPod));
  EXPECT_TRUE(field_ok("status.phase!=Pending", kPodFields).matches(kPod));
}

TEST(FieldSelectorParse, MissingFieldsReadAsEmpty) {
  json unscheduled = {{"metadata", {{"name", "p"}}}, {"spec", json::object()}};
  EXPECT_TRUE(field_ok("spec.nodeName=", kPodFields).matches(unscheduled));
  EXPECT_FALSE(field_ok("spec.nodeName!=", kPodFields).matches(unscheduled));
  EXPECT_TRUE(field_ok("spec.nodeName!=", kPodFields).matches(kPod));
  EXPECT_TRUE(field_ok("status.phase=", kPodFields).matches(json(nullptr)));
}

TEST(FieldSelectorParse, BooleansAndNumbersCompareAsText) {
  EXPECT_TRUE(field_ok("spec.hostNetwork=false", kPodFields).matches(kPod));
  EXPECT_TRUE(field_ok("spec.priority=1000", kPodFields).matches(kPod));
  EXPECT_EQ(field_value(kPod, "spec.hostNetwork"), "false");
  EXPECT_EQ(field_value(kPod, "spec.priority"), "1000");
  EXPECT_EQ(field_value(kPod, "spec"), "");
  EXPECT_EQ(field_value(kPod, "spec.nodeName.deeper"), "");
}

TEST(FieldSelectorParse, EventInvolvedObjectFields) {
  json event = {{"involvedObject", {{"kind", "Pod"}, {"name", "web-1"}}}};
  EXPECT_TRUE(
      field_ok("involvedObject.kind=Pod,involvedObject.name=web-1", kEventFields).matches(event));
  EXPECT_FALSE(field_ok("involvedObject.kind=Node", kEventFields).matches(event));
}

TEST(FieldSelectorParse, EmptySelectorAndEmptyTermsMatchEverything) {
  EXPECT_TRUE(field_ok("", {}).empty());
  EXPECT_TRUE(field_ok("", {}).matches(kPod));
  auto s = field_ok("metadata.name=web-1,,", {});
  EXPECT_EQ(s.requirements().size(), 1u);
}

TEST(FieldSelectorParse, BackslashEscapesCommaEqualsAndBackslash) {
  auto s = field_ok(R"(metadata.name=a\,b\=c\\d)", {});
  ASSERT_EQ(s.requirements().size(), 1u);
  EXPECT_EQ(s.requirements()[0].value, R"(a,b=c\d)");
  EXPECT_TRUE(s.matches({{"metadata", {{"name", R"(a,b=c\d)"}}}}));
  EXPECT_EQ(s.to_string(), R"(metadata.name=a\,b\=c\\d)");
}

TEST(FieldSelectorParse, FirstOperatorSplitsTheTerm) {
  auto s = field_ok("metadata.name!=a\\=b", {});
  EXPECT_TRUE(s.requirements()[0].not_equal);
  EXPECT_EQ(s.requirements()[0].value, "a=b");
}

TEST(FieldSelectorParseErrors, UnsupportedFieldLabel) {
  EXPECT_EQ(field_error("spec.restartPolicy=Always", kPodFields),
            "field label not supported: spec.restartPolicy");
  EXPECT_EQ(field_error("status.phase=Running", {}), "field label not supported: status.phase");
  EXPECT_EQ(field_error("metadata.name =x", {}), "field label not supported: metadata.name ");
}

TEST(FieldSelectorParseErrors, TermWithoutOperator) {
  EXPECT_EQ(field_error("metadata.name=a,foo", {}),
            "invalid selector: 'metadata.name=a,foo'; can't understand 'foo'");
}

TEST(FieldSelectorParseErrors, BadEscapes) {
  EXPECT_EQ(field_error(R"(metadata.name=a\x)", {}),
            "invalid field selector: invalid escape sequence: \\x");
  EXPECT_EQ(field_error(R"(metadata.name=a\)", {}),
            "invalid field selector: invalid escape sequence: \\");
  // Go formats the rune with %v: its code point, 61 for '='.
  EXPECT_EQ(field_error("metadata.name=a=b", {}),
            "invalid field selector: unescaped character in value: 61");
}

TEST(FieldSelectorExact, ReturnsValuePinnedByEquals) {
  auto s =
      field_ok("metadata.namespace=prod,metadata.name==web-1,status.phase!=Failed", kPodFields);
  EXPECT_EQ(s.exact("metadata.name"), "web-1");
  EXPECT_EQ(s.exact("metadata.namespace"), "prod");
  EXPECT_EQ(s.exact("status.phase"), std::nullopt);
  EXPECT_EQ(field_ok("metadata.name!=x", {}).exact("metadata.name"), std::nullopt);
  EXPECT_EQ(field_ok("", {}).exact("metadata.name"), std::nullopt);
}

}  // namespace
}  // namespace kubesim
