#include "sim/discovery.h"

#include <algorithm>
#include <optional>
#include <regex>

namespace kubesim {

namespace {

// The verbs of every ordinary resource (sorted, as the real server sends them).
const std::vector<std::string> kAllVerbs = {"create", "delete", "deletecollection", "get",
                                            "list",   "patch",  "update",           "watch"};
const std::vector<std::string> kStatusVerbs = {"get", "patch", "update"};
const std::vector<std::string> kCreateOnly = {"create"};

struct KubeVersion {
  int major = 0;
  int stability = 0;  // 2 GA, 1 beta, 0 alpha
  int minor = 0;
};

std::optional<KubeVersion> parse_kube_version(const std::string& v) {
  static const std::regex re(R"(^v(\d+)(?:(alpha|beta)(\d+))?$)");
  std::smatch m;
  if (!std::regex_match(v, m, re)) {
    return std::nullopt;
  }
  KubeVersion out;
  out.major = std::stoi(m[1].str());
  if (!m[2].matched) {
    out.stability = 2;
  } else {
    out.stability = m[2].str() == "beta" ? 1 : 0;
    out.minor = std::stoi(m[3].str());
  }
  return out;
}

// A subresource as the server describes it: the kind it returns and its verbs.
struct Subresource {
  std::string name;  // "status"
  std::string group, version, kind;
  std::vector<std::string> verbs;
};

std::vector<Subresource> subresources_of(const ResourceInfo& r) {
  std::vector<Subresource> out;
  if (r.has_binding) {
    out.push_back({"binding", "", "v1", "Binding", kCreateOnly});
  }
  if (r.has_eviction) {
    out.push_back({"eviction", "policy", "v1", "Eviction", kCreateOnly});
  }
  if (r.scale) {
    out.push_back({"scale", "autoscaling", "v1", "Scale", kStatusVerbs});
  }
  if (r.has_status) {
    out.push_back({"status", r.group, r.version, r.kind, kStatusVerbs});
  }
  return out;  // sorted by name
}

json gvk_json(const std::string& group, const std::string& version, const std::string& kind) {
  return {{"group", group}, {"version", version}, {"kind", kind}};
}

// Versions of `group` in priority order, preferred first.
std::vector<std::string> versions_of(const std::string& group,
                                     const std::vector<ResourceInfo>& resources) {
  std::vector<std::string> out;
  for (const auto& r : resources) {
    if (r.group == group && std::find(out.begin(), out.end(), r.version) == out.end()) {
      out.push_back(r.version);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return compare_version_priority(a, b) > 0;
  });
  return out;
}

// Non-core groups in order of first appearance.
std::vector<std::string> groups_of(const std::vector<ResourceInfo>& resources) {
  std::vector<std::string> out;
  for (const auto& r : resources) {
    if (!r.group.empty() && std::find(out.begin(), out.end(), r.group) == out.end()) {
      out.push_back(r.group);
    }
  }
  return out;
}

std::vector<const ResourceInfo*> resources_in(const std::string& group, const std::string& version,
                                              const std::vector<ResourceInfo>& resources) {
  std::vector<const ResourceInfo*> out;
  for (const auto& r : resources) {
    if (r.group == group && r.version == version) {
      out.push_back(&r);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ResourceInfo* a, const ResourceInfo* b) { return a->resource < b->resource; });
  return out;
}

json group_version_entry(const std::string& group, const std::string& version) {
  return {{"groupVersion", group.empty() ? version : group + "/" + version}, {"version", version}};
}

json aggregated_version(const std::string& group, const std::string& version,
                        const std::vector<ResourceInfo>& resources) {
  json list = json::array();
  for (const ResourceInfo* r : resources_in(group, version, resources)) {
    json entry = {{"resource", r->resource},
                  {"responseKind", gvk_json(r->group, r->version, r->kind)},
                  {"scope", r->namespaced ? "Namespaced" : "Cluster"},
                  {"singularResource", r->singular},
                  {"verbs", resource_verbs(*r)}};
    if (!r->short_names.empty()) {
      entry["shortNames"] = r->short_names;
    }
    if (!r->categories.empty()) {
      entry["categories"] = r->categories;
    }
    json subs = json::array();
    for (const Subresource& s : subresources_of(*r)) {
      subs.push_back({{"subresource", s.name},
                      {"responseKind", gvk_json(s.group, s.version, s.kind)},
                      {"verbs", s.verbs}});
    }
    if (!subs.empty()) {
      entry["subresources"] = std::move(subs);
    }
    list.push_back(std::move(entry));
  }
  return {{"version", version}, {"resources", std::move(list)}, {"freshness", "Current"}};
}

json aggregated_group(const std::string& group, const std::vector<ResourceInfo>& resources) {
  json versions = json::array();
  for (const std::string& v : versions_of(group, resources)) {
    versions.push_back(aggregated_version(group, v, resources));
  }
  return {{"metadata", {{"name", group}}}, {"versions", std::move(versions)}};
}

}  // namespace

int compare_version_priority(const std::string& a, const std::string& b) {
  if (a == b) {
    return 0;
  }
  auto va = parse_kube_version(a);
  auto vb = parse_kube_version(b);
  if (!va && !vb) {
    return b.compare(a) > 0 ? 1 : -1;  // non-Kubernetes versions: alphabetical
  }
  if (!va) {
    return -1;
  }
  if (!vb) {
    return 1;
  }
  if (va->stability != vb->stability) {
    return va->stability - vb->stability;
  }
  if (va->major != vb->major) {
    return va->major - vb->major;
  }
  return va->minor - vb->minor;
}

std::vector<std::string> resource_verbs(const ResourceInfo& info) {
  if (info.group.empty() && info.resource == "namespaces") {
    return {"create", "delete", "get", "list", "patch", "update", "watch"};
  }
  return kAllVerbs;
}

json discovery_api_versions(const std::string& server_address) {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs",
           {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}}}};
}

json discovery_api_group_list(const std::vector<ResourceInfo>& resources) {
  json groups = json::array();
  for (const std::string& g : groups_of(resources)) {
    std::vector<std::string> versions = versions_of(g, resources);
    json vs = json::array();
    for (const std::string& v : versions) {
      vs.push_back(group_version_entry(g, v));
    }
    groups.push_back({{"name", g},
                      {"versions", std::move(vs)},
                      {"preferredVersion", group_version_entry(g, versions.front())}});
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", std::move(groups)}};
}

json discovery_api_resource_list(const std::string& group, const std::string& version,
                                 const std::vector<ResourceInfo>& resources) {
  json list = json::array();
  for (const ResourceInfo* r : resources_in(group, version, resources)) {
    json entry = {{"name", r->resource},
                  {"singularName", r->singular},
                  {"namespaced", r->namespaced},
                  {"kind", r->kind},
                  {"verbs", resource_verbs(*r)}};
    if (!r->short_names.empty()) {
      entry["shortNames"] = r->short_names;
    }
    if (!r->categories.empty()) {
      entry["categories"] = r->categories;
    }
    list.push_back(std::move(entry));
    for (const Subresource& s : subresources_of(*r)) {
      json sub = {{"name", r->resource + "/" + s.name},
                  {"singularName", ""},
                  {"namespaced", r->namespaced},
                  {"kind", s.kind},
                  {"verbs", s.verbs}};
      // group/version only where they differ from the list's own (Scale, Eviction).
      if (s.group != group || s.version != version) {
        sub["group"] = s.group;
        sub["version"] = s.version;
      }
      list.push_back(std::move(sub));
    }
  }
  // The real /api/v1 document carries no apiVersion; /apis/G/V ones do.
  json doc = {{"kind", "APIResourceList"},
              {"groupVersion", group.empty() ? version : group + "/" + version},
              {"resources", std::move(list)}};
  if (!group.empty()) {
    doc["apiVersion"] = "v1";
  }
  return doc;
}

json discovery_aggregated(bool core, const std::vector<ResourceInfo>& resources) {
  json items = json::array();
  if (core) {
    items.push_back(aggregated_group("", resources));
  } else {
    for (const std::string& g : groups_of(resources)) {
      items.push_back(aggregated_group(g, resources));
    }
  }
  return {{"kind", "APIGroupDiscoveryList"},
          {"apiVersion", "apidiscovery.k8s.io/v2"},
          {"metadata", json::object()},
          {"items", std::move(items)}};
}

}  // namespace kubesim
