#include "sim/openapi.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

namespace kubesim {
namespace {

ResourceInfo make(std::string group, std::string version, std::string resource, std::string kind,
                  bool namespaced = true) {
  ResourceInfo r;
  r.group = std::move(group);
  r.version = std::move(version);
  r.resource = std::move(resource);
  r.list_kind = kind + "List";
  r.kind = std::move(kind);
  r.namespaced = namespaced;
  return r;
}

const json kTrainingJobSchema = json::parse(R"({
  "type": "object",
  "description": "TrainingJob runs a gang of training workers.",
  "properties": {
    "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 40}}},
    "spec": {"type": "object", "description": "What to train.", "properties": {
      "capacity": {"type": "object", "description": "Where the workers may run.", "properties": {
        "spot": {"type": "boolean", "description": "Prefer spot capacity."}}}}}
  }
})");

std::vector<ResourceInfo> served() {
  ResourceInfo pods = make("", "v1", "pods", "Pod");
  pods.has_status = pods.has_binding = pods.has_eviction = true;
  ResourceInfo ns = make("", "v1", "namespaces", "Namespace", false);
  ResourceInfo deploy = make("apps", "v1", "deployments", "Deployment");
  deploy.has_status = true;
  deploy.scale = ScaleSubresource{};
  ResourceInfo tj = make("ml.frugal.dev", "v1alpha1", "trainingjobs", "TrainingJob");
  tj.custom = true;
  tj.has_status = true;
  tj.scale = ScaleSubresource{".spec.workers", ".status.readyWorkers", ""};
  tj.schema = kTrainingJobSchema;
  ResourceInfo crd = make("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                          "CustomResourceDefinition", false);
  return {pods, ns, deploy, tj, crd, make("coordination.k8s.io", "v1", "leases", "Lease")};
}

json gvk(const std::string& g, const std::string& v, const std::string& k) {
  return {{"group", g}, {"kind", k}, {"version", v}};
}

// Every operation object of a document, with its method.
std::vector<std::pair<std::string, const json*>> operations(const json& doc) {
  std::vector<std::pair<std::string, const json*>> out;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const char* m : {"get", "put", "post", "patch", "delete"}) {
      if (item.contains(m)) out.emplace_back(m, &item[m]);
    }
  }
  return out;
}

bool has_param(const json& op, const std::string& name) {
  for (const auto& p : op.value("parameters", json::array())) {
    if (p["name"] == name) return true;
  }
  return false;
}

TEST(OpenApiNames, DefinitionNamesFollowTheRealServer) {
  auto res = served();
  EXPECT_EQ(openapi_definition_name(res[0]), "io.k8s.api.core.v1.Pod");
  EXPECT_EQ(openapi_definition_name(res[2]), "io.k8s.api.apps.v1.Deployment");
  EXPECT_EQ(openapi_definition_name(res[3]), "dev.frugal.ml.v1alpha1.TrainingJob");
  EXPECT_EQ(openapi_definition_name(res[4]),
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition");
  EXPECT_EQ(openapi_definition_name(res[5]), "io.k8s.api.coordination.v1.Lease");
  EXPECT_EQ(openapi_v3_path("", "v1"), "api/v1");
  EXPECT_EQ(openapi_v3_path("ml.frugal.dev", "v1alpha1"), "apis/ml.frugal.dev/v1alpha1");
}

TEST(OpenApiIndex, ListsEveryGroupVersionWithTheHashOfItsDocument) {
  auto res = served();
  json index = openapi_v3_index(res);
  ASSERT_EQ(index["paths"].size(), 5u);
  std::string hash =
      openapi_content_hash(openapi_v3_group_version("ml.frugal.dev", "v1alpha1", res));
  EXPECT_EQ(hash.size(), 16u);
  EXPECT_EQ(index["paths"]["apis/ml.frugal.dev/v1alpha1"],
            json({{"serverRelativeURL", "/openapi/v3/apis/ml.frugal.dev/v1alpha1?hash=" + hash}}));
  EXPECT_TRUE(index["paths"].contains("api/v1"));
}

TEST(OpenApiIndex, HashChangesOnlyForTheGroupVersionWhoseSchemaChanged) {
  auto res = served();
  json before = openapi_v3_index(res);
  res[3].schema->at("properties")["spec"]["description"] = "Changed.";
  json after = openapi_v3_index(res);
  EXPECT_NE(before["paths"]["apis/ml.frugal.dev/v1alpha1"],
            after["paths"]["apis/ml.frugal.dev/v1alpha1"]);
  EXPECT_EQ(before["paths"]["apis/apps/v1"], after["paths"]["apis/apps/v1"]);
}

TEST(OpenApiGroupVersion, IsAnOpenApi3DocumentWithPathsAndSchemas) {
  json doc = openapi_v3_group_version("ml.frugal.dev", "v1alpha1", served());
  EXPECT_EQ(doc["openapi"], "3.0.0");
  EXPECT_TRUE(doc["info"].contains("title"));
  EXPECT_TRUE(
      doc["paths"].contains("/apis/ml.frugal.dev/v1alpha1/namespaces/{namespace}/trainingjobs"));
  EXPECT_TRUE(doc["paths"].contains(
      "/apis/ml.frugal.dev/v1alpha1/namespaces/{namespace}/trainingjobs/{name}"));
  EXPECT_TRUE(doc["paths"].contains("/apis/ml.frugal.dev/v1alpha1/trainingjobs"));
  EXPECT_TRUE(doc["paths"].contains(
      "/apis/ml.frugal.dev/v1alpha1/namespaces/{namespace}/trainingjobs/{name}/status"));
  EXPECT_TRUE(doc["paths"].contains(
      "/apis/ml.frugal.dev/v1alpha1/namespaces/{namespace}/trainingjobs/{name}/scale"));
}

TEST(OpenApiGroupVersion, UnservedGroupVersionHasNoPaths) {
  json doc = openapi_v3_group_version("batch", "v1", served());
  EXPECT_TRUE(doc["paths"].empty());
  EXPECT_TRUE(doc["components"]["schemas"].empty());
}

TEST(OpenApiGroupVersion, ClusterScopedResourceHasNoNamespacePaths) {
  json doc = openapi_v3_group_version("", "v1", served());
  EXPECT_TRUE(doc["paths"].contains("/api/v1/namespaces"));
  EXPECT_TRUE(doc["paths"].contains("/api/v1/namespaces/{name}"));
  const json& item = doc["paths"]["/api/v1/namespaces/{name}"];
  for (const auto& p : item["parameters"]) EXPECT_NE(p["name"], "namespace");
}

// kubectl's QueryParamVerifierV3 takes the first PATCH operation whose
// x-kubernetes-group-version-kind is the object's GVK and looks for the
// parameter among that operation's own parameters; map order is random, so
// every such operation must carry it.
TEST(OpenApiGroupVersion, EveryPatchOperationOffersServerSideFieldValidation) {
  auto res = served();
  for (const auto& [g, v] : std::vector<std::pair<std::string, std::string>>{
           {"", "v1"}, {"apps", "v1"}, {"ml.frugal.dev", "v1alpha1"}}) {
    json doc = openapi_v3_group_version(g, v, res);
    int patches = 0;
    for (const auto& [method, op] : operations(doc)) {
      if (method != "patch") continue;
      ++patches;
      EXPECT_TRUE((*op).contains("x-kubernetes-group-version-kind"));
      EXPECT_TRUE(has_param(*op, "fieldValidation")) << (*op)["operationId"];
      EXPECT_TRUE(has_param(*op, "fieldManager"));
      EXPECT_TRUE(has_param(*op, "dryRun"));
      EXPECT_TRUE(has_param(*op, "force"));
    }
    EXPECT_GT(patches, 0);
  }
  json core = openapi_v3_group_version("", "v1", res);
  const json& patch_ns = core["paths"]["/api/v1/namespaces/{name}"]["patch"];
  EXPECT_EQ(patch_ns["x-kubernetes-group-version-kind"], gvk("", "v1", "Namespace"));
}

TEST(OpenApiGroupVersion, CreateAndReplaceAlsoOfferFieldValidation) {
  json doc = openapi_v3_group_version("apps", "v1", served());
  EXPECT_TRUE(has_param(doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["post"],
                        "fieldValidation"));
  EXPECT_TRUE(
      has_param(doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["put"],
                "fieldValidation"));
}

// Advertising strategic merge patch would make kubectl apply compute patches
// from our shallow built-in schemas; without it kubectl uses its compiled-in
// types. See openapi.cpp.
TEST(OpenApiGroupVersion, PatchRequestBodiesNeverOfferStrategicMergePatch) {
  auto res = served();
  for (const auto& [g, v] : std::vector<std::pair<std::string, std::string>>{
           {"", "v1"}, {"apps", "v1"}, {"ml.frugal.dev", "v1alpha1"}}) {
    json doc = openapi_v3_group_version(g, v, res);
    for (const auto& [method, op] : operations(doc)) {
      if (method != "patch") continue;
      const json& content = (*op)["requestBody"]["content"];
      EXPECT_FALSE(content.contains("application/strategic-merge-patch+json"));
      EXPECT_TRUE(content.contains("application/merge-patch+json"));
      EXPECT_TRUE(content.contains("application/json-patch+json"));
      EXPECT_TRUE(content.contains("application/apply-patch+yaml"));
    }
  }
}

// kubectl explain: the GVK comes from the list/get operation of the resource
// path, the schema is the components entry carrying the same GVK.
TEST(OpenApiGroupVersion, ExplainFindsTheCustomResourceSchemaByGroupVersionKind) {
  json doc = openapi_v3_group_version("ml.frugal.dev", "v1alpha1", served());
  const json& list = doc["paths"]["/apis/ml.frugal.dev/v1alpha1/trainingjobs"]["get"];
  json want = gvk("ml.frugal.dev", "v1alpha1", "TrainingJob");
  ASSERT_EQ(list["x-kubernetes-group-version-kind"], want);
  int matches = 0;
  for (const auto& [name, schema] : doc["components"]["schemas"].items()) {
    for (const auto& g : schema.value("x-kubernetes-group-version-kind", json::array())) {
      if (g == want) {
        ++matches;
        EXPECT_EQ(name, "dev.frugal.ml.v1alpha1.TrainingJob");
      }
    }
  }
  EXPECT_EQ(matches, 1);
  const json& tj = doc["components"]["schemas"]["dev.frugal.ml.v1alpha1.TrainingJob"];
  EXPECT_EQ(tj["description"], "TrainingJob runs a gang of training workers.");
  EXPECT_EQ(tj["properties"]["spec"]["properties"]["capacity"]["description"],
            "Where the workers may run.");
  EXPECT_EQ(tj["properties"]["spec"]["properties"]["capacity"]["properties"]["spot"]["type"],
            "boolean");
  EXPECT_EQ(tj["properties"]["apiVersion"]["type"], "string");
  EXPECT_EQ(tj["properties"]["kind"]["type"], "string");
}

TEST(OpenApiGroupVersion, CustomResourceMetadataIsAlwaysTheFullObjectMeta) {
  json doc = openapi_v3_group_version("ml.frugal.dev", "v1alpha1", served());
  const json& meta =
      doc["components"]["schemas"]["dev.frugal.ml.v1alpha1.TrainingJob"]["properties"]["metadata"];
  EXPECT_EQ(
      meta["allOf"],
      json::parse(
          R"([{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}])"));
  EXPECT_FALSE(meta.contains("properties"));
  const json& om = doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"];
  for (const char* f :
       {"name", "namespace", "labels", "annotations", "ownerReferences", "finalizers",
        "resourceVersion", "uid", "creationTimestamp", "generation"}) {
    EXPECT_TRUE(om["properties"].contains(f)) << f;
  }
}

TEST(OpenApiGroupVersion, ListKindSchemaReferencesTheItemKind) {
  json doc = openapi_v3_group_version("ml.frugal.dev", "v1alpha1", served());
  const json& list = doc["components"]["schemas"]["dev.frugal.ml.v1alpha1.TrainingJobList"];
  EXPECT_EQ(list["x-kubernetes-group-version-kind"],
            json::array({gvk("ml.frugal.dev", "v1alpha1", "TrainingJobList")}));
  EXPECT_EQ(list["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/dev.frugal.ml.v1alpha1.TrainingJob");
  EXPECT_EQ(list["required"], json::array({"items"}));
}

TEST(OpenApiGroupVersion, BuiltinKindSchemaIsOpenAndTaggedWithItsKind) {
  json doc = openapi_v3_group_version("apps", "v1", served());
  const json& d = doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
  EXPECT_EQ(d["x-kubernetes-group-version-kind"], json::array({gvk("apps", "v1", "Deployment")}));
  EXPECT_EQ(d["x-kubernetes-preserve-unknown-fields"], true);
  EXPECT_EQ(d["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"], true);
  EXPECT_EQ(d["properties"]["spec"]["type"], "object");
  EXPECT_TRUE(d["properties"].contains("status"));
}

TEST(OpenApiGroupVersion, SubresourceOperationsNameTheirKinds) {
  auto res = served();
  json apps = openapi_v3_group_version("apps", "v1", res);
  const json& scale =
      apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
  EXPECT_EQ(scale["patch"]["x-kubernetes-group-version-kind"], gvk("autoscaling", "v1", "Scale"));
  EXPECT_EQ(apps["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"]
                ["x-kubernetes-group-version-kind"],
            json::array({gvk("autoscaling", "v1", "Scale")}));
  const json& status =
      apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"];
  EXPECT_EQ(status["put"]["x-kubernetes-group-version-kind"], gvk("apps", "v1", "Deployment"));
  json core = openapi_v3_group_version("", "v1", res);
  const json& eviction = core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"];
  EXPECT_EQ(eviction["post"]["x-kubernetes-group-version-kind"], gvk("policy", "v1", "Eviction"));
  const json& binding = core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/binding"];
  EXPECT_EQ(binding["post"]["x-kubernetes-group-version-kind"], gvk("", "v1", "Binding"));
  EXPECT_FALSE(binding.contains("get"));
}

TEST(OpenApiGroupVersion, PathParametersAreRequiredAndInlined) {
  json doc = openapi_v3_group_version("", "v1", served());
  const json& item = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"];
  std::set<std::string> names;
  for (const auto& p : item["parameters"]) {
    ASSERT_TRUE(p.contains("name")) << "parameters must be inline, not $ref";
    names.insert(p["name"]);
    if (p["in"] == "path") {
      EXPECT_EQ(p["required"], true);
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"name", "namespace", "pretty"}));
  EXPECT_EQ(item["get"]["x-kubernetes-action"], "get");
  EXPECT_EQ(item["delete"]["x-kubernetes-action"], "delete");
  const json& coll = doc["paths"]["/api/v1/namespaces/{namespace}/pods"];
  EXPECT_EQ(coll["get"]["x-kubernetes-action"], "list");
  EXPECT_EQ(coll["delete"]["x-kubernetes-action"], "deletecollection");
  EXPECT_TRUE(has_param(coll["get"], "labelSelector"));
  EXPECT_TRUE(has_param(coll["get"], "watch"));
}

TEST(OpenApiGroupVersion, OperationIdsAreUnique) {
  for (const auto& [g, v] : std::vector<std::pair<std::string, std::string>>{
           {"", "v1"}, {"apps", "v1"}, {"ml.frugal.dev", "v1alpha1"}}) {
    std::set<std::string> ids;
    json doc = openapi_v3_group_version(g, v, served());
    for (const auto& [method, op] : operations(doc)) {
      EXPECT_TRUE(ids.insert((*op)["operationId"].get<std::string>()).second)
          << (*op)["operationId"];
    }
  }
  json doc = openapi_v3_group_version("ml.frugal.dev", "v1alpha1", served());
  EXPECT_EQ(doc["paths"]["/apis/ml.frugal.dev/v1alpha1/namespaces/{namespace}/trainingjobs/{name}"]
               ["patch"]["operationId"],
            "patchMlFrugalDevV1alpha1NamespacedTrainingJob");
}

TEST(OpenApiGroupVersion, EveryReferenceResolvesWithinTheDocument) {
  auto res = served();
  for (const auto& [g, v] :
       std::vector<std::pair<std::string, std::string>>{{"", "v1"},
                                                        {"apps", "v1"},
                                                        {"ml.frugal.dev", "v1alpha1"},
                                                        {"apiextensions.k8s.io", "v1"},
                                                        {"coordination.k8s.io", "v1"}}) {
    json doc = openapi_v3_group_version(g, v, res);
    const json& schemas = doc["components"]["schemas"];
    int refs = 0;
    std::function<void(const json&)> walk = [&](const json& node) {
      if (node.is_object()) {
        if (node.contains("$ref")) {
          ++refs;
          std::string r = node["$ref"];
          const std::string prefix = "#/components/schemas/";
          ASSERT_EQ(r.rfind(prefix, 0), 0u) << r;
          EXPECT_TRUE(schemas.contains(r.substr(prefix.size()))) << r;
        }
        for (const auto& [k, child] : node.items()) walk(child);
      } else if (node.is_array()) {
        for (const auto& child : node) walk(child);
      }
    };
    walk(doc);
    EXPECT_GT(refs, 0);
  }
}

}  // namespace
}  // namespace kubesim
