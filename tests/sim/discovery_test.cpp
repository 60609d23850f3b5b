#include "sim/discovery.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace kubesim {
namespace {

ResourceInfo make(std::string group, std::string version, std::string resource, std::string kind,
                  bool namespaced = true) {
  ResourceInfo r;
  r.group = std::move(group);
  r.version = std::move(version);
  r.resource = std::move(resource);
  r.kind = kind;
  r.list_kind = kind + "List";
  std::transform(kind.begin(), kind.end(), kind.begin(), ::tolower);
  r.singular = kind;
  r.namespaced = namespaced;
  return r;
}

std::vector<ResourceInfo> served() {
  ResourceInfo pods = make("", "v1", "pods", "Pod");
  pods.short_names = {"po"};
  pods.categories = {"all"};
  pods.has_status = pods.has_binding = pods.has_eviction = true;
  ResourceInfo ns = make("", "v1", "namespaces", "Namespace", false);
  ns.short_names = {"ns"};
  ns.has_status = true;
  ResourceInfo deploy = make("apps", "v1", "deployments", "Deployment");
  deploy.has_status = true;
  deploy.scale = ScaleSubresource{};
  ResourceInfo tj_alpha = make("ml.frugal.dev", "v1alpha1", "trainingjobs", "TrainingJob");
  tj_alpha.custom = true;
  tj_alpha.short_names = {"tj"};
  tj_alpha.categories = {"all", "frugal"};
  ResourceInfo tj_beta = tj_alpha;
  tj_beta.version = "v1beta1";
  return {pods,     ns,      deploy,
          tj_alpha, tj_beta, make("coordination.k8s.io", "v1", "leases", "Lease")};
}

const json* find_by(const json& arr, const std::string& key, const std::string& value) {
  for (const auto& e : arr) {
    if (e.value(key, "") == value) return &e;
  }
  return nullptr;
}

TEST(VersionPriority, SortsLikeTheKubernetesDocumentationExample) {
  std::vector<std::string> want = {"v10",     "v2",        "v1",        "v11beta2", "v10beta3",
                                   "v3beta1", "v12alpha1", "v11alpha2", "foo1",     "foo10"};
  std::vector<std::string> got = want;
  std::shuffle(got.begin(), got.end(), std::mt19937(7));
  std::sort(got.begin(), got.end(), [](const std::string& a, const std::string& b) {
    return compare_version_priority(a, b) > 0;
  });
  EXPECT_EQ(got, want);
  EXPECT_EQ(compare_version_priority("v1", "v1"), 0);
}

TEST(DiscoveryApiVersions, ListsV1WithTheServerAddress) {
  EXPECT_EQ(discovery_api_versions("127.0.0.1:6443"), json::parse(R"({
    "kind": "APIVersions", "versions": ["v1"],
    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]
  })"));
}

TEST(DiscoveryApiGroupList, ListsNonCoreGroupsInOrderWithPreferredVersionFirst) {
  json doc = discovery_api_group_list(served());
  EXPECT_EQ(doc["kind"], "APIGroupList");
  EXPECT_EQ(doc["apiVersion"], "v1");
  ASSERT_EQ(doc["groups"].size(), 3u);
  EXPECT_EQ(doc["groups"][0]["name"], "apps");
  EXPECT_EQ(doc["groups"][2]["name"], "coordination.k8s.io");
  EXPECT_EQ(doc["groups"][1], json::parse(R"({
    "name": "ml.frugal.dev",
    "versions": [{"groupVersion": "ml.frugal.dev/v1beta1", "version": "v1beta1"},
                 {"groupVersion": "ml.frugal.dev/v1alpha1", "version": "v1alpha1"}],
    "preferredVersion": {"groupVersion": "ml.frugal.dev/v1beta1", "version": "v1beta1"}
  })"));
}

TEST(DiscoveryApiResourceList, CoreListHasSortedResourcesSubresourcesAndNoApiVersion) {
  json doc = discovery_api_resource_list("", "v1", served());
  EXPECT_EQ(doc["kind"], "APIResourceList");
  EXPECT_EQ(doc["groupVersion"], "v1");
  EXPECT_FALSE(doc.contains("apiVersion"));
  std::vector<std::string> names;
  for (const auto& r : doc["resources"]) names.push_back(r["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"namespaces", "namespaces/status", "pods",
                                             "pods/binding", "pods/eviction", "pods/status"}));
  EXPECT_EQ(*find_by(doc["resources"], "name", "pods"), json::parse(R"({
    "name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
    "verbs": ["create","delete","deletecollection","get","list","patch","update","watch"],
    "shortNames": ["po"], "categories": ["all"]})"));
  EXPECT_EQ(*find_by(doc["resources"], "name", "pods/eviction"), json::parse(R"({
    "name": "pods/eviction", "singularName": "", "namespaced": true, "kind": "Eviction",
    "group": "policy", "version": "v1", "verbs": ["create"]})"));
  EXPECT_EQ(*find_by(doc["resources"], "name", "pods/binding"), json::parse(R"({
    "name": "pods/binding", "singularName": "", "namespaced": true, "kind": "Binding",
    "verbs": ["create"]})"));
  EXPECT_EQ(*find_by(doc["resources"], "name", "pods/status"), json::parse(R"({
    "name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod",
    "verbs": ["get", "patch", "update"]})"));
}

TEST(DiscoveryApiResourceList, NamespacesCannotBeDeletedAsACollection) {
  json doc = discovery_api_resource_list("", "v1", served());
  EXPECT_EQ((*find_by(doc["resources"], "name", "namespaces"))["verbs"],
            json::parse(R"(["create","delete","get","list","patch","update","watch"])"));
  EXPECT_FALSE((*find_by(doc["resources"], "name", "namespaces"))["namespaced"].get<bool>());
}

TEST(DiscoveryApiResourceList, ScaleSubresourceNamesAutoscalingV1Scale) {
  json doc = discovery_api_resource_list("apps", "v1", served());
  EXPECT_EQ(doc["apiVersion"], "v1");
  EXPECT_EQ(doc["groupVersion"], "apps/v1");
  EXPECT_EQ(*find_by(doc["resources"], "name", "deployments/scale"), json::parse(R"({
    "name": "deployments/scale", "singularName": "", "namespaced": true, "kind": "Scale",
    "group": "autoscaling", "version": "v1", "verbs": ["get", "patch", "update"]})"));
}

TEST(DiscoveryApiResourceList, UnservedGroupVersionHasNoResources) {
  EXPECT_TRUE(discovery_api_resource_list("apps", "v2", served())["resources"].empty());
}

TEST(DiscoveryAggregated, CoreDocumentHasOneUnnamedGroupWithResourcesAndSubresources) {
  json doc = discovery_aggregated(true, served());
  EXPECT_EQ(doc["kind"], "APIGroupDiscoveryList");
  EXPECT_EQ(doc["apiVersion"], "apidiscovery.k8s.io/v2");
  ASSERT_EQ(doc["items"].size(), 1u);
  const json& group = doc["items"][0];
  EXPECT_EQ(group["metadata"]["name"], "");
  ASSERT_EQ(group["versions"].size(), 1u);
  EXPECT_EQ(group["versions"][0]["version"], "v1");
  EXPECT_EQ(group["versions"][0]["freshness"], "Current");
  const json* pods = find_by(group["versions"][0]["resources"], "resource", "pods");
  ASSERT_NE(pods, nullptr);
  EXPECT_EQ(*pods, json::parse(R"({
    "resource": "pods",
    "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
    "scope": "Namespaced", "singularResource": "pod",
    "verbs": ["create","delete","deletecollection","get","list","patch","update","watch"],
    "shortNames": ["po"], "categories": ["all"],
    "subresources": [
      {"subresource": "binding", "responseKind": {"group": "", "version": "v1", "kind": "Binding"},
       "verbs": ["create"]},
      {"subresource": "eviction", "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"},
       "verbs": ["create"]},
      {"subresource": "status", "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
       "verbs": ["get", "patch", "update"]}]})"));
  const json* ns = find_by(group["versions"][0]["resources"], "resource", "namespaces");
  EXPECT_EQ((*ns)["scope"], "Cluster");
}

TEST(DiscoveryAggregated, ApisDocumentOrdersVersionsByPriority) {
  json doc = discovery_aggregated(false, served());
  ASSERT_EQ(doc["items"].size(), 3u);
  EXPECT_EQ(doc["items"][0]["metadata"]["name"], "apps");
  const json& ml = doc["items"][1];
  EXPECT_EQ(ml["metadata"]["name"], "ml.frugal.dev");
  ASSERT_EQ(ml["versions"].size(), 2u);
  EXPECT_EQ(ml["versions"][0]["version"], "v1beta1");
  EXPECT_EQ(ml["versions"][1]["version"], "v1alpha1");
  const json& tj = ml["versions"][1]["resources"][0];
  EXPECT_EQ(tj["responseKind"],
            json::parse(R"({"group":"ml.frugal.dev","version":"v1alpha1","kind":"TrainingJob"})"));
  EXPECT_EQ(tj["categories"], json::parse(R"(["all","frugal"])"));
  EXPECT_FALSE(tj.contains("subresources"));
  const json& scale = doc["items"][0]["versions"][0]["resources"][0]["subresources"][0];
  EXPECT_EQ(scale["subresource"], "scale");
  EXPECT_EQ(scale["responseKind"]["group"], "autoscaling");
}

}  // namespace
}  // namespace kubesim
