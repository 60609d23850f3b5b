// Discovery documents, built from the resources kubesim serves right now:
//   /api                 APIVersions
//   /apis                APIGroupList
//   /api/v1, /apis/G/V   APIResourceList
//   /api, /apis with Accept application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList
//                        APIGroupDiscoveryList (aggregated discovery, what kubectl 1.32 asks for
//                        first)
// Pure functions of the resource list. Groups keep the order in which they
// first appear in the input (kubectl resolves ambiguous names by that order);
// versions are sorted by Kubernetes version priority, preferred first;
// resources are sorted by name, as the real server sorts them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/resource.h"

namespace kubesim {

using json = nlohmann::json;

// The media type parameters a client sends to ask for aggregated discovery,
// and that the response's Content-Type must carry for kubectl to accept it:
// "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList".
inline constexpr const char* kAggregatedDiscoveryContentType =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

// k8s.io/apimachinery/pkg/version.CompareKubeAwareVersionStrings: > 0 when `a`
// has the higher priority (v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > "foo").
int compare_version_priority(const std::string& a, const std::string& b);

// The verbs the real server lists for a resource: the full set, except that
// namespaces cannot be deleted as a collection.
std::vector<std::string> resource_verbs(const ResourceInfo& info);

// /api
json discovery_api_versions(const std::string& server_address);

// /apis (legacy, non-aggregated): every group but the core one.
json discovery_api_group_list(const std::vector<ResourceInfo>& resources);

// /api/v1 or /apis/G/V; an APIResourceList with no resources when the
// group/version is not served (the caller answers 404 instead).
json discovery_api_resource_list(const std::string& group, const std::string& version,
                                 const std::vector<ResourceInfo>& resources);

// Aggregated discovery (apidiscovery.k8s.io/v2 APIGroupDiscoveryList): the
// core group alone when `core`, else every other group.
json discovery_aggregated(bool core, const std::vector<ResourceInfo>& resources);

}  // namespace kubesim
