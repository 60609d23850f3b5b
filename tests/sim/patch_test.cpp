// Pins the three PATCH formats to their specifications: the RFC 7386 and
// RFC 6902 appendix examples, and strategic merge patch as the real API
// server applies it to built-in kinds (k8s.io/apimachinery strategicpatch).
#include "sim/patch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kubesim {
namespace {

json parse(const char* text) { return json::parse(text); }

json apply_json_patch(const json& target, const json& ops) {
  auto result = json_patch(target, ops);
  EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().message);
  return result ? *result : json();
}

ApiError json_patch_error(const json& target, const json& ops) {
  auto result = json_patch(target, ops);
  EXPECT_FALSE(result.has_value()) << "unexpectedly applied: " << (result ? result->dump() : "");
  return result ? ApiError{} : result.error();
}

json apply_smp(const json& target, const json& patch, const std::string& kind) {
  auto result = strategic_merge_patch(target, patch, kind);
  EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().message);
  return result ? *result : json();
}

ApiError smp_error(const json& target, const json& patch, const std::string& kind) {
  auto result = strategic_merge_patch(target, patch, kind);
  EXPECT_FALSE(result.has_value()) << "unexpectedly applied: " << (result ? result->dump() : "");
  return result ? ApiError{} : result.error();
}

// Every key starting with '$' anywhere in `value`, to prove directives never leak.
void collect_dollar_keys(const json& value, std::vector<std::string>& found) {
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      if (!key.empty() && key.front() == '$') found.push_back(key);
      collect_dollar_keys(child, found);
    }
  } else if (value.is_array()) {
    for (const auto& child : value) collect_dollar_keys(child, found);
  }
}

std::vector<std::string> dollar_keys(const json& value) {
  std::vector<std::string> found;
  collect_dollar_keys(value, found);
  return found;
}

// ---------------------------------------------------------------------------
// Content types

TEST(PatchTypeFromContentType, MapsTheFourPatchMediaTypes) {
  EXPECT_EQ(patch_type_from_content_type("application/merge-patch+json"), PatchType::Merge);
  EXPECT_EQ(patch_type_from_content_type("application/json-patch+json"), PatchType::Json);
  EXPECT_EQ(patch_type_from_content_type("application/strategic-merge-patch+json"),
            PatchType::StrategicMerge);
  EXPECT_EQ(patch_type_from_content_type("application/apply-patch+yaml"), PatchType::Apply);
}

TEST(PatchTypeFromContentType, IgnoresParametersAndCase) {
  EXPECT_EQ(patch_type_from_content_type("application/merge-patch+json; charset=utf-8"),
            PatchType::Merge);
  EXPECT_EQ(patch_type_from_content_type("Application/Apply-Patch+YAML;charset=utf-8"),
            PatchType::Apply);
}

TEST(PatchTypeFromContentType, RejectsOtherMediaTypes) {
  EXPECT_EQ(patch_type_from_content_type("application/json"), std::nullopt);
  EXPECT_EQ(patch_type_from_content_type(""), std::nullopt);
  EXPECT_EQ(patch_type_from_content_type("application/merge-patch+jsonx"), std::nullopt);
}

// ---------------------------------------------------------------------------
// RFC 7386

TEST(MergePatch, MatchesEveryRfc7386AppendixExample) {
  struct Case {
    const char* target;
    const char* patch;
    const char* result;
  };
  const Case cases[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
      {R"({"a":"b"})", R"(["c"])", R"(["c"])"},
      {R"({"a":"foo"})", R"(null)", R"(null)"},
      {R"({"a":"foo"})", R"("bar")", R"("bar")"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(merge_patch(parse(c.target), parse(c.patch)), parse(c.result))
        << c.target << " + " << c.patch;
  }
}

TEST(MergePatch, MatchesRfc7386Section3Example) {
  const json target = parse(R"({
    "title": "Goodbye!",
    "author": {"givenName": "John", "familyName": "Doe"},
    "tags": ["example", "sample"],
    "content": "This will be unchanged"})");
  const json patch = parse(R"({
    "title": "Hello!",
    "phoneNumber": "+01-123-456-7890",
    "author": {"familyName": null},
    "tags": ["example"]})");
  EXPECT_EQ(merge_patch(target, patch), parse(R"({
    "title": "Hello!",
    "author": {"givenName": "John"},
    "tags": ["example"],
    "content": "This will be unchanged",
    "phoneNumber": "+01-123-456-7890"})"));
}

// ---------------------------------------------------------------------------
// RFC 6902 appendix A

TEST(JsonPatch, A1AddsAnObjectMember) {
  EXPECT_EQ(apply_json_patch(parse(R"({"foo":"bar"})"),
                             parse(R"([{"op":"add","path":"/baz","value":"qux"}])")),
            parse(R"({"baz":"qux","foo":"bar"})"));
}

TEST(JsonPatch, A2AddsAnArrayElementAtAnIndex) {
  EXPECT_EQ(apply_json_patch(parse(R"({"foo":["bar","baz"]})"),
                             parse(R"([{"op":"add","path":"/foo/1","value":"qux"}])")),
            parse(R"({"foo":["bar","qux","baz"]})"));
}

TEST(JsonPatch, A3RemovesAnObjectMember) {
  EXPECT_EQ(apply_json_patch(parse(R"({"baz":"qux","foo":"bar"})"),
                             parse(R"([{"op":"remove","path":"/baz"}])")),
            parse(R"({"foo":"bar"})"));
}

TEST(JsonPatch, A4RemovesAnArrayElement) {
  EXPECT_EQ(apply_json_patch(parse(R"({"foo":["bar","qux","baz"]})"),
                             parse(R"([{"op":"remove","path":"/foo/1"}])")),
            parse(R"({"foo":["bar","baz"]})"));
}

TEST(JsonPatch, A5ReplacesAValue) {
  EXPECT_EQ(apply_json_patch(parse(R"({"baz":"qux","foo":"bar"})"),
                             parse(R"([{"op":"replace","path":"/baz","value":"boo"}])")),
            parse(R"({"baz":"boo","foo":"bar"})"));
}

TEST(JsonPatch, A6MovesAValue) {
  EXPECT_EQ(
      apply_json_patch(parse(R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})"),
                       parse(R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])")),
      parse(R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})"));
}

TEST(JsonPatch, A7MovesAnArrayElement) {
  EXPECT_EQ(apply_json_patch(parse(R"({"foo":["all","grass","cows","eat"]})"),
                             parse(R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])")),
            parse(R"({"foo":["all","cows","eat","grass"]})"));
}

TEST(JsonPatch, A8PassingTestsLeaveTheDocumentUnchanged) {
  const json doc = parse(R"({"baz":"qux","foo":["a",2,"c"]})");
  EXPECT_EQ(apply_json_patch(doc, parse(R"([{"op":"test","path":"/baz","value":"qux"},
                                            {"op":"test","path":"/foo/1","value":2}])")),
            doc);
}

TEST(JsonPatch, A9FailedTestIs422InvalidNamingThePath) {
  const ApiError error = json_patch_error(parse(R"({"baz":"qux"})"),
                                          parse(R"([{"op":"test","path":"/baz","value":"bar"}])"));
  EXPECT_EQ(error.code, 422);
  EXPECT_EQ(error.reason, "Invalid");
  EXPECT_EQ(error.message, "testing value /baz failed: test failed");
}

TEST(JsonPatch, A10AddsANestedMemberObject) {
  EXPECT_EQ(apply_json_patch(parse(R"({"foo":"bar"})"),
                             parse(R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])")),
            parse(R"({"foo":"bar","child":{"grandchild":{}}})"));
}

TEST(JsonPatch, A11IgnoresUnrecognizedOperationMembers) {
  EXPECT_EQ(apply_json_patch(parse(R"({"foo":"bar"})"),
                             parse(R"([{"op":"add","path":"/baz","value":"qux","xyz":123}])")),
            parse(R"({"foo":"bar","baz":"qux"})"));
}

TEST(JsonPatch, A12AddingToANonexistentTargetIs422) {
  const ApiError error = json_patch_error(
      parse(R"({"foo":"bar"})"), parse(R"([{"op":"add","path":"/baz/bat","value":"qux"}])"));
  EXPECT_EQ(error.code, 422);
  EXPECT_EQ(error.message, "add operation does not apply: doc is missing path: /baz/bat");
}

TEST(JsonPatch, A14UnescapesTildeZeroAfterTildeOne) {
  const json doc = parse(R"({"/":9,"~1":10})");
  EXPECT_EQ(apply_json_patch(doc, parse(R"([{"op":"test","path":"/~01","value":10}])")), doc);
}

TEST(JsonPatch, A15TestDoesNotEquateStringsAndNumbers) {
  const ApiError error = json_patch_error(parse(R"({"/":9,"~1":10})"),
                                          parse(R"([{"op":"test","path":"/~01","value":"10"}])"));
  EXPECT_EQ(error.code, 422);
  EXPECT_EQ(error.message, "testing value /~01 failed: test failed");
}

TEST(JsonPatch, A16DashAppendsAnArrayValueAsOneElement) {
  EXPECT_EQ(apply_json_patch(parse(R"({"foo":["bar"]})"),
                             parse(R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])")),
            parse(R"({"foo":["bar",["abc","def"]]})"));
}

// ---------------------------------------------------------------------------
// RFC 6902 beyond the appendix

TEST(JsonPatch, SlashEscapeReachesKeysContainingSlashes) {
  EXPECT_EQ(
      apply_json_patch(parse(R"({"metadata":{"labels":{"app.kubernetes.io/name":"a"}}})"),
                       parse(R"([{"op":"replace","path":"/metadata/labels/app.kubernetes.io~1name",
                                  "value":"b"}])")),
      parse(R"({"metadata":{"labels":{"app.kubernetes.io/name":"b"}}})"));
}

TEST(JsonPatch, CopiesAValue) {
  EXPECT_EQ(apply_json_patch(parse(R"({"a":{"x":1},"b":{}})"),
                             parse(R"([{"op":"copy","from":"/a/x","path":"/b/y"}])")),
            parse(R"({"a":{"x":1},"b":{"y":1}})"));
}

TEST(JsonPatch, EmptyPathReplacesTheWholeDocument) {
  EXPECT_EQ(apply_json_patch(parse(R"({"a":1})"),
                             parse(R"([{"op":"replace","path":"","value":{"b":2}}])")),
            parse(R"({"b":2})"));
}

TEST(JsonPatch, TestComparesNumbersByValue) {
  const json doc = parse(R"({"a":1})");
  EXPECT_EQ(apply_json_patch(doc, parse(R"([{"op":"test","path":"/a","value":1.0}])")), doc);
}

TEST(JsonPatch, GuardedFinalizerRemovalAppliesWhenTheTestHolds) {
  // The kube-rs finalizer helper's patch: remove our entry only if it is
  // still where we saw it.
  const json pod = parse(R"({"metadata":{"finalizers":["frugal.dev/cleanup","other"]}})");
  const json ops = parse(R"([
    {"op":"test","path":"/metadata/finalizers/0","value":"frugal.dev/cleanup"},
    {"op":"remove","path":"/metadata/finalizers/0"}])");
  EXPECT_EQ(apply_json_patch(pod, ops), parse(R"({"metadata":{"finalizers":["other"]}})"));
}

TEST(JsonPatch, GuardedFinalizerRemovalFailsWholeWhenTheTestFails) {
  const json pod = parse(R"({"metadata":{"finalizers":["other","frugal.dev/cleanup"]}})");
  const ApiError error = json_patch_error(pod, parse(R"([
    {"op":"test","path":"/metadata/finalizers/0","value":"frugal.dev/cleanup"},
    {"op":"remove","path":"/metadata/finalizers/0"}])"));
  EXPECT_EQ(error.code, 422);
  EXPECT_EQ(error.reason, "Invalid");
  EXPECT_EQ(error.message, "testing value /metadata/finalizers/0 failed: test failed");
}

TEST(JsonPatch, AddPastTheEndOfAnArrayIs422) {
  const ApiError error =
      json_patch_error(parse(R"({"a":[1,2]})"), parse(R"([{"op":"add","path":"/a/3","value":0}])"));
  EXPECT_EQ(error.code, 422);
  EXPECT_EQ(error.message,
            "add operation does not apply: invalid index \"3\" for an array of 2 elements: /a/3");
}

TEST(JsonPatch, AddAtTheEndIndexAppends) {
  EXPECT_EQ(
      apply_json_patch(parse(R"({"a":[1,2]})"), parse(R"([{"op":"add","path":"/a/2","value":3}])")),
      parse(R"({"a":[1,2,3]})"));
}

TEST(JsonPatch, IndexWithLeadingZeroIs422) {
  EXPECT_EQ(
      json_patch_error(parse(R"({"a":[1,2]})"), parse(R"([{"op":"remove","path":"/a/01"}])")).code,
      422);
}

TEST(JsonPatch, DashIsOnlyValidForAdd) {
  EXPECT_EQ(
      json_patch_error(parse(R"({"a":[1,2]})"), parse(R"([{"op":"remove","path":"/a/-"}])")).code,
      422);
}

TEST(JsonPatch, RemovingAMissingMemberIs422) {
  const ApiError error =
      json_patch_error(parse(R"({"a":1})"), parse(R"([{"op":"remove","path":"/b"}])"));
  EXPECT_EQ(error.code, 422);
  EXPECT_EQ(error.message, "remove operation does not apply: doc is missing path: /b");
}

TEST(JsonPatch, ReplacingAMissingMemberIs422) {
  EXPECT_EQ(
      json_patch_error(parse(R"({"a":1})"), parse(R"([{"op":"replace","path":"/b","value":2}])"))
          .code,
      422);
}

TEST(JsonPatch, MovingAValueIntoItsOwnChildIs422) {
  EXPECT_EQ(json_patch_error(parse(R"({"a":{"b":1}})"),
                             parse(R"([{"op":"move","from":"/a","path":"/a/b/c"}])"))
                .code,
            422);
}

TEST(JsonPatch, DocumentThatIsNotAnArrayIs400) {
  const ApiError error = json_patch_error(parse(R"({})"), parse(R"({"op":"add"})"));
  EXPECT_EQ(error.code, 400);
  EXPECT_EQ(error.reason, "BadRequest");
}

TEST(JsonPatch, MalformedOperationsAre400) {
  const char* malformed[] = {
      R"([{"path":"/a","value":1}])",               // no op
      R"([{"op":"add","value":1}])",                // no path
      R"([{"op":"frobnicate","path":"/a"}])",       // unknown op
      R"([{"op":"add","path":"/a"}])",              // add without value
      R"([{"op":"move","path":"/a"}])",             // move without from
      R"([{"op":"add","path":"a","value":1}])",     // pointer without leading '/'
      R"([{"op":"add","path":"/a~2","value":1}])",  // bad escape
      R"([42])",                                    // operation not an object
  };
  for (const char* ops : malformed) {
    const ApiError error = json_patch_error(parse(R"({"a":0})"), parse(ops));
    EXPECT_EQ(error.code, 400) << ops;
    EXPECT_EQ(error.reason, "BadRequest") << ops;
  }
}

TEST(JsonPatch, MalformedLaterOperationRejectsBeforeAnyApplies) {
  // Decoding happens first, so a bad op is a 400 even after a failing test.
  const ApiError error = json_patch_error(
      parse(R"({"a":0})"),
      parse(R"([{"op":"test","path":"/a","value":1},{"op":"bogus","path":"/a"}])"));
  EXPECT_EQ(error.code, 400);
}

// ---------------------------------------------------------------------------
// Strategic merge patch

const char* const kTwoContainerPod = R"({
  "kind": "Pod",
  "metadata": {"name": "p", "labels": {"app": "web", "tier": "front"}},
  "spec": {"containers": [
    {"name": "app", "image": "app:v1", "ports": [{"containerPort": 8080, "protocol": "TCP"}],
     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
    {"name": "sidecar", "image": "proxy:v1"}]}})";

TEST(StrategicMergePatch, ContainersMergeByNameAndKeepTheOthers) {
  const json result =
      apply_smp(parse(kTwoContainerPod),
                parse(R"({"spec":{"containers":[{"name":"sidecar","image":"proxy:v2"}]}})"), "Pod");
  EXPECT_EQ(result["spec"]["containers"], parse(R"([
    {"name": "app", "image": "app:v1", "ports": [{"containerPort": 8080, "protocol": "TCP"}],
     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
    {"name": "sidecar", "image": "proxy:v2"}])"));
}

TEST(StrategicMergePatch, EnvMergesByNameInsideItsContainer) {
  const json result = apply_smp(parse(kTwoContainerPod), parse(R"({"spec":{"containers":[
    {"name":"app","env":[{"name":"B","value":"3"},{"name":"C","value":"4"}]}]}})"),
                                "Pod");
  EXPECT_EQ(result["spec"]["containers"][0]["env"],
            parse(R"([{"name":"A","value":"1"},{"name":"B","value":"3"},
                      {"name":"C","value":"4"}])"));
  EXPECT_EQ(result["spec"]["containers"][1], parse(R"({"name":"sidecar","image":"proxy:v1"})"));
}

TEST(StrategicMergePatch, NewEntryWithoutElementOrderLeadsLikeTheRealServer) {
  // strategicpatch's normalizeElementOrder puts entries the live list lacks
  // before the server-only ones; kubectl apply avoids this with
  // $setElementOrder.
  const json result =
      apply_smp(parse(kTwoContainerPod),
                parse(R"({"spec":{"containers":[{"name":"debug","image":"busybox"}]}})"), "Pod");
  std::vector<std::string> names;
  for (const auto& c : result["spec"]["containers"]) names.push_back(c["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"debug", "app", "sidecar"}));
}

TEST(StrategicMergePatch, PatchDeleteRemovesTheEntryWithThatKey) {
  const json result =
      apply_smp(parse(kTwoContainerPod),
                parse(R"({"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}})"), "Pod");
  ASSERT_EQ(result["spec"]["containers"].size(), 1u);
  EXPECT_EQ(result["spec"]["containers"][0]["name"], "app");
}

TEST(StrategicMergePatch, PatchDeleteOfAnEnvEntryKeepsTheRest) {
  const json result = apply_smp(parse(kTwoContainerPod), parse(R"({"spec":{"containers":[
    {"name":"app","env":[{"name":"A","$patch":"delete"}]}]}})"),
                                "Pod");
  EXPECT_EQ(result["spec"]["containers"][0]["env"], parse(R"([{"name":"B","value":"2"}])"));
}

TEST(StrategicMergePatch, SetElementOrderOrdersTheMergedListAndIsNotStored) {
  const json result = apply_smp(parse(kTwoContainerPod), parse(R"({"spec":{
    "$setElementOrder/containers":[{"name":"sidecar"},{"name":"new"},{"name":"app"}],
    "containers":[{"name":"new","image":"new:v1"}]}})"),
                                "Pod");
  std::vector<std::string> names;
  for (const auto& c : result["spec"]["containers"]) names.push_back(c["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"sidecar", "new", "app"}));
  EXPECT_EQ(dollar_keys(result), std::vector<std::string>{});
}

TEST(StrategicMergePatch, SetElementOrderKeepsUnlistedEntriesAfterListedOnes) {
  const json pod = parse(R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}})");
  const json result = apply_smp(
      pod, parse(R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}]}})"), "Pod");
  EXPECT_EQ(result, parse(R"({"spec":{"containers":[{"name":"b"},{"name":"a"},{"name":"c"}]}})"));
}

TEST(StrategicMergePatch, SetElementOrderKeepsAServerOnlyEntryThatLedInFront) {
  // normalizeElementOrder interleaves server-only entries by live position:
  // an injected init-style container listed first stays first.
  const json pod = parse(R"({"spec":{"containers":[{"name":"injected"},{"name":"app"}]}})");
  const json result = apply_smp(pod, parse(R"({"spec":{
    "$setElementOrder/containers":[{"name":"app"}],
    "containers":[{"name":"app","image":"app:v2"}]}})"),
                                "Pod");
  EXPECT_EQ(
      result,
      parse(R"({"spec":{"containers":[{"name":"injected"},{"name":"app","image":"app:v2"}]}})"));
}

TEST(StrategicMergePatch, SetElementOrderThatContradictsThePatchIs400) {
  const ApiError error = smp_error(parse(kTwoContainerPod), parse(R"({"spec":{
    "$setElementOrder/containers":[{"name":"app"},{"name":"sidecar"}],
    "containers":[{"name":"sidecar","image":"x"},{"name":"app","image":"y"}]}})"),
                                   "Pod");
  EXPECT_EQ(error.code, 400);
}

TEST(StrategicMergePatch, KubectlApplyChangingOneImageKeepsTheOtherContainer) {
  const json deployment = parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "annotations": {"deployment.kubernetes.io/revision": "1"}},
    "spec": {"replicas": 2, "template": {
      "metadata": {"labels": {"app": "web"}},
      "spec": {"containers": [
        {"name": "app", "image": "app:v1", "ports": [{"containerPort": 8080, "protocol": "TCP"}]},
        {"name": "sidecar", "image": "proxy:v1"}]}}}})");
  // What kubectl apply computes when only app's image changed in the file.
  const json patch = parse(R"({
    "metadata": {"annotations": {
      "kubectl.kubernetes.io/last-applied-configuration": "{\"kind\":\"Deployment\"}"}},
    "spec": {"template": {"spec": {
      "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
      "containers": [{"image": "app:v2", "name": "app"}]}}}})");
  const json result = apply_smp(deployment, patch, "Deployment");
  EXPECT_EQ(result, parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "annotations": {
      "deployment.kubernetes.io/revision": "1",
      "kubectl.kubernetes.io/last-applied-configuration": "{\"kind\":\"Deployment\"}"}},
    "spec": {"replicas": 2, "template": {
      "metadata": {"labels": {"app": "web"}},
      "spec": {"containers": [
        {"name": "app", "image": "app:v2", "ports": [{"containerPort": 8080, "protocol": "TCP"}]},
        {"name": "sidecar", "image": "proxy:v1"}]}}}})"));
}

TEST(StrategicMergePatch, RetainKeysDropsUnlistedFieldsOfTheMap) {
  // kubectl apply switching a Deployment from RollingUpdate to Recreate.
  const json deployment = parse(R"({"spec":{"strategy":{
    "type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}})");
  const json result = apply_smp(
      deployment, parse(R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})"),
      "Deployment");
  EXPECT_EQ(result, parse(R"({"spec":{"strategy":{"type":"Recreate"}}})"));
}

TEST(StrategicMergePatch, RetainKeysSwitchesAVolumeSource) {
  const json pod = parse(R"({"spec":{"volumes":[
    {"name":"data","emptyDir":{}},{"name":"cache","emptyDir":{"medium":"Memory"}}]}})");
  const json result = apply_smp(pod, parse(R"({"spec":{"volumes":[
    {"name":"data","$retainKeys":["configMap","name"],"configMap":{"name":"cm"}}]}})"),
                                "Pod");
  EXPECT_EQ(result, parse(R"({"spec":{"volumes":[
    {"name":"data","configMap":{"name":"cm"}},{"name":"cache","emptyDir":{"medium":"Memory"}}]}})"));
}

TEST(StrategicMergePatch, RetainKeysNotListingAPatchedFieldIs400) {
  const ApiError error = smp_error(
      parse(R"({"spec":{"strategy":{"type":"RollingUpdate"}}})"),
      parse(R"({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{"maxSurge":1}}}})"),
      "Deployment");
  EXPECT_EQ(error.code, 400);
}

TEST(StrategicMergePatch, FinalizersAreAUnion) {
  const json result = apply_smp(parse(R"({"metadata":{"finalizers":["a","b"]}})"),
                                parse(R"({"metadata":{"finalizers":["b","c"]}})"), "ConfigMap");
  EXPECT_EQ(result, parse(R"({"metadata":{"finalizers":["a","b","c"]}})"));
}

TEST(StrategicMergePatch, DeleteFromPrimitiveListRemovesFinalizers) {
  const json result = apply_smp(
      parse(R"({"metadata":{"finalizers":["a","b","c"]}})"),
      parse(R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a","c"]}})"), "ConfigMap");
  EXPECT_EQ(result, parse(R"({"metadata":{"finalizers":["b"]}})"));
}

TEST(StrategicMergePatch, KubectlFinalizerRemovalWithElementOrder) {
  const json result =
      apply_smp(parse(R"({"metadata":{"finalizers":["a","b","c"]}})"), parse(R"({"metadata":{
    "$deleteFromPrimitiveList/finalizers":["b"],
    "$setElementOrder/finalizers":["c","a"]}})"),
                "Secret");
  EXPECT_EQ(result, parse(R"({"metadata":{"finalizers":["c","a"]}})"));
}

TEST(StrategicMergePatch, NamespaceSpecFinalizersAreReplacedNotUnioned) {
  const json result = apply_smp(parse(R"({"spec":{"finalizers":["kubernetes"]}})"),
                                parse(R"({"spec":{"finalizers":["other"]}})"), "Namespace");
  EXPECT_EQ(result, parse(R"({"spec":{"finalizers":["other"]}})"));
}

TEST(StrategicMergePatch, TolerationsAreReplacedWhole) {
  const json pod = parse(R"({"spec":{"tolerations":[
    {"key":"a","operator":"Exists"},{"key":"b","operator":"Exists"}]}})");
  const json result =
      apply_smp(pod, parse(R"({"spec":{"tolerations":[{"key":"c","operator":"Exists"}]}})"), "Pod");
  EXPECT_EQ(result, parse(R"({"spec":{"tolerations":[{"key":"c","operator":"Exists"}]}})"));
}

TEST(StrategicMergePatch, NodeTaintsAreReplacedWhole) {
  const json node = parse(R"({"spec":{"taints":[{"key":"a","effect":"NoSchedule"}]}})");
  const json result =
      apply_smp(node, parse(R"({"spec":{"taints":[{"key":"b","effect":"NoExecute"}]}})"), "Node");
  EXPECT_EQ(result, parse(R"({"spec":{"taints":[{"key":"b","effect":"NoExecute"}]}})"));
}

TEST(StrategicMergePatch, ServicePortsMergeByPort) {
  const json service = parse(R"({"spec":{"ports":[
    {"name":"http","port":80,"targetPort":8080},{"name":"https","port":443,"targetPort":8443}]}})");
  const json result = apply_smp(
      service, parse(R"({"spec":{"ports":[{"port":443,"targetPort":9443}]}})"), "Service");
  EXPECT_EQ(result, parse(R"({"spec":{"ports":[
    {"name":"http","port":80,"targetPort":8080},{"name":"https","port":443,"targetPort":9443}]}})"));
}

TEST(StrategicMergePatch, ContainerPortsMergeByContainerPort) {
  const json pod = parse(R"({"spec":{"containers":[{"name":"app","ports":[
    {"containerPort":80,"name":"http"},{"containerPort":9090,"name":"metrics"}]}]}})");
  const json result = apply_smp(pod, parse(R"({"spec":{"containers":[{"name":"app","ports":[
    {"containerPort":9090,"protocol":"TCP"}]}]}})"),
                                "Pod");
  EXPECT_EQ(result["spec"]["containers"][0]["ports"], parse(R"([{"containerPort":80,"name":"http"},
                      {"containerPort":9090,"name":"metrics","protocol":"TCP"}])"));
}

TEST(StrategicMergePatch, InitContainerPortsAndVolumeMountsMergeLikeContainers) {
  const json pod = parse(R"({"spec":{"initContainers":[{"name":"init",
    "ports":[{"containerPort":80}],"volumeMounts":[{"mountPath":"/a","name":"x"}]}]}})");
  const json result = apply_smp(pod, parse(R"({"spec":{"initContainers":[{"name":"init",
    "ports":[{"containerPort":81}],"volumeMounts":[{"mountPath":"/a","readOnly":true}]}]}})"),
                                "Pod");
  EXPECT_EQ(result, parse(R"({"spec":{"initContainers":[{"name":"init",
    "ports":[{"containerPort":81},{"containerPort":80}],
    "volumeMounts":[{"mountPath":"/a","name":"x","readOnly":true}]}]}})"));
}

TEST(StrategicMergePatch, ServiceAccountImagePullSecretsAreReplacedUnlikePodSpecs) {
  const json account = parse(R"({"imagePullSecrets":[{"name":"a"}],"secrets":[{"name":"s1"}]})");
  const json result =
      apply_smp(account, parse(R"({"imagePullSecrets":[{"name":"b"}],"secrets":[{"name":"s2"}]})"),
                "ServiceAccount");
  EXPECT_EQ(
      result,
      parse(R"({"imagePullSecrets":[{"name":"b"}],"secrets":[{"name":"s2"},{"name":"s1"}]})"));
}

TEST(StrategicMergePatch, EndpointsPortsAreReplacedNotMerged) {
  const json endpoints = parse(R"({"subsets":[{"addresses":[{"ip":"10.0.0.1"}],
    "ports":[{"port":80}]}]})");
  const json result = apply_smp(
      endpoints, parse(R"({"subsets":[{"addresses":[{"ip":"10.0.0.2"}],"ports":[{"port":81}]}]})"),
      "Endpoints");
  EXPECT_EQ(result,
            parse(R"({"subsets":[{"addresses":[{"ip":"10.0.0.2"}],"ports":[{"port":81}]}]})"));
}

TEST(StrategicMergePatch, NodeStatusConditionsAndAddressesMergeByType) {
  const json node = parse(R"({"status":{
    "conditions":[{"type":"Ready","status":"True"},{"type":"DiskPressure","status":"False"}],
    "addresses":[{"type":"InternalIP","address":"10.0.0.1"},{"type":"Hostname","address":"n1"}]}})");
  const json result = apply_smp(node, parse(R"({"status":{
    "conditions":[{"type":"Ready","status":"False"}],
    "addresses":[{"type":"Hostname","address":"n2"}]}})"),
                                "Node");
  EXPECT_EQ(result, parse(R"({"status":{
    "conditions":[{"type":"Ready","status":"False"},{"type":"DiskPressure","status":"False"}],
    "addresses":[{"type":"InternalIP","address":"10.0.0.1"},{"type":"Hostname","address":"n2"}]}})"));
}

TEST(StrategicMergePatch, OwnerReferencesMergeByUid) {
  const json result = apply_smp(
      parse(R"({"metadata":{"ownerReferences":[{"uid":"1","name":"a"},{"uid":"2","name":"b"}]}})"),
      parse(R"({"metadata":{"ownerReferences":[{"uid":"2","controller":true}]}})"), "Pod");
  EXPECT_EQ(result, parse(R"({"metadata":{"ownerReferences":[
    {"uid":"1","name":"a"},{"uid":"2","name":"b","controller":true}]}})"));
}

TEST(StrategicMergePatch, NullDeletesMapKeysAndMapsMerge) {
  const json result =
      apply_smp(parse(kTwoContainerPod),
                parse(R"({"metadata":{"labels":{"tier":null,"env":"prod"}}})"), "Pod");
  EXPECT_EQ(result["metadata"]["labels"], parse(R"({"app":"web","env":"prod"})"));
}

TEST(StrategicMergePatch, PatchReplaceInAMapReplacesTheMap) {
  const json result =
      apply_smp(parse(kTwoContainerPod),
                parse(R"({"metadata":{"labels":{"$patch":"replace","only":"this"}}})"), "Pod");
  EXPECT_EQ(result["metadata"]["labels"], parse(R"({"only":"this"})"));
}

TEST(StrategicMergePatch, PatchDeleteInAMapEmptiesIt) {
  const json result = apply_smp(parse(kTwoContainerPod),
                                parse(R"({"metadata":{"labels":{"$patch":"delete"}}})"), "Pod");
  EXPECT_EQ(result["metadata"]["labels"], json::object());
}

TEST(StrategicMergePatch, PatchReplaceInAListReplacesTheList) {
  const json result = apply_smp(parse(kTwoContainerPod), parse(R"({"spec":{"containers":[
    {"$patch":"replace"},{"name":"solo","image":"solo:v1"}]}})"),
                                "Pod");
  EXPECT_EQ(result["spec"]["containers"], parse(R"([{"name":"solo","image":"solo:v1"}])"));
}

TEST(StrategicMergePatch, DirectivesInsideANewFieldAreNotStored) {
  const json result = apply_smp(parse(R"({"metadata":{"name":"d"}})"), parse(R"({"spec":{
    "template":{"spec":{
      "$setElementOrder/containers":[{"name":"a"}],
      "containers":[{"name":"a","env":[{"name":"X","value":"1"},{"name":"Y","$patch":"delete"}]}]}},
    "strategy":{"$retainKeys":["type"],"type":"Recreate"},
    "selector":{"matchLabels":{"app":"d","gone":null}}}})"),
                                "Deployment");
  EXPECT_EQ(dollar_keys(result), std::vector<std::string>{});
  EXPECT_EQ(result, parse(R"({"metadata":{"name":"d"},"spec":{
    "template":{"spec":{
      "containers":[{"name":"a","env":[{"name":"X","value":"1"}]}]}},
    "strategy":{"type":"Recreate"},
    "selector":{"matchLabels":{"app":"d"}}}})"));
}

TEST(StrategicMergePatch, UnknownPatchDirectiveValueIs400) {
  const ApiError error = smp_error(parse(kTwoContainerPod),
                                   parse(R"({"metadata":{"labels":{"$patch":"explode"}}})"), "Pod");
  EXPECT_EQ(error.code, 400);
  EXPECT_EQ(error.reason, "BadRequest");
}

TEST(StrategicMergePatch, MergeListEntryWithoutItsKeyIs400) {
  const ApiError error = smp_error(
      parse(kTwoContainerPod), parse(R"({"spec":{"containers":[{"image":"nameless"}]}})"), "Pod");
  EXPECT_EQ(error.code, 400);
  EXPECT_EQ(error.message,
            R"(map: {"image":"nameless"} does not contain declared merge key: name)");
}

TEST(StrategicMergePatch, DeleteEntryWithoutItsKeyIs400) {
  EXPECT_EQ(smp_error(parse(kTwoContainerPod),
                      parse(R"({"spec":{"containers":[{"$patch":"delete"}]}})"), "Pod")
                .code,
            400);
}

TEST(StrategicMergePatch, PatchThatIsNotAnObjectIs400) {
  EXPECT_EQ(smp_error(parse(kTwoContainerPod), parse(R"([{"op":"add"}])"), "Pod").code, 400);
}

TEST(StrategicMergePatch, ScalarsReplaceAndUnlistedListsReplace) {
  const json result = apply_smp(parse(kTwoContainerPod), parse(R"({"spec":{"containers":[
    {"name":"app","image":"app:v3","args":["--x"]}]}})"),
                                "Pod");
  EXPECT_EQ(result["spec"]["containers"][0]["image"], "app:v3");
  EXPECT_EQ(result["spec"]["containers"][0]["args"], parse(R"(["--x"])"));
}

}  // namespace
}  // namespace kubesim
