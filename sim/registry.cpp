#include "sim/registry.h"

#include <mutex>

namespace kubesim {

namespace {

ResourceInfo builtin(std::string group, std::string version, std::string resource,
                     std::string kind, std::string singular, bool namespaced,
                     std::vector<std::string> short_names = {}) {
  ResourceInfo r;
  r.group = std::move(group);
  r.version = std::move(version);
  r.resource = std::move(resource);
  r.list_kind = kind + "List";
  r.kind = std::move(kind);
  r.singular = std::move(singular);
  r.namespaced = namespaced;
  r.short_names = std::move(short_names);
  return r;
}

}  // namespace

std::vector<ResourceInfo> builtin_resources() {
  std::vector<ResourceInfo> out;

  auto ns = builtin("", "v1", "namespaces", "Namespace", "namespace", false, {"ns"});
  ns.has_status = true;
  ns.selectable_fields = {"status.phase"};
  out.push_back(ns);

  auto node = builtin("", "v1", "nodes", "Node", "node", false, {"no"});
  node.has_status = true;
  node.selectable_fields = {"spec.unschedulable"};
  out.push_back(node);

  // Field labels from pkg/registry/core/pod/strategy.go (ToSelectableFields).
  auto pod = builtin("", "v1", "pods", "Pod", "pod", true, {"po"});
  pod.has_status = true;
  pod.has_binding = true;
  pod.has_eviction = true;
  pod.categories = {"all"};
  pod.selectable_fields = {"spec.nodeName",         "spec.restartPolicy",    "spec.schedulerName",
                           "spec.serviceAccountName", "spec.hostNetwork",      "status.phase",
                           "status.podIP",           "status.nominatedNodeName"};
  out.push_back(pod);

  auto svc = builtin("", "v1", "services", "Service", "service", true, {"svc"});
  svc.has_status = true;
  svc.categories = {"all"};
  out.push_back(svc);

  out.push_back(builtin("", "v1", "endpoints", "Endpoints", "endpoints", true, {"ep"}));
  out.push_back(builtin("", "v1", "configmaps", "ConfigMap", "configmap", true, {"cm"}));

  auto pvc = builtin("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim",
                     "persistentvolumeclaim", true, {"pvc"});
  pvc.has_status = true;
  out.push_back(pvc);

  auto secret = builtin("", "v1", "secrets", "Secret", "secret", true);
  secret.selectable_fields = {"type"};
  out.push_back(secret);

  // Field labels from pkg/registry/core/event/strategy.go.
  const std::vector<std::string> event_fields = {
      "involvedObject.kind",      "involvedObject.namespace",       "involvedObject.name",
      "involvedObject.uid",       "involvedObject.apiVersion",      "involvedObject.resourceVersion",
      "involvedObject.fieldPath", "reason",                         "reportingComponent",
      "source",                   "type"};
  auto core_event = builtin("", "v1", "events", "Event", "event", true, {"ev"});
  core_event.selectable_fields = event_fields;
  out.push_back(core_event);

  auto event = builtin("events.k8s.io", "v1", "events", "Event", "event", true, {"ev"});
  event.selectable_fields = {"regarding.kind",      "regarding.namespace", "regarding.name",
                             "regarding.uid",       "regarding.apiVersion", "reason",
                             "reportingController", "type"};
  out.push_back(event);

  auto deploy = builtin("apps", "v1", "deployments", "Deployment", "deployment", true, {"deploy"});
  deploy.has_status = true;
  deploy.scale = ScaleSubresource{".spec.replicas", ".status.replicas", ".status.selector"};
  deploy.categories = {"all"};
  out.push_back(deploy);

  auto rs = builtin("apps", "v1", "replicasets", "ReplicaSet", "replicaset", true, {"rs"});
  rs.has_status = true;
  rs.scale = ScaleSubresource{".spec.replicas", ".status.replicas", ".status.selector"};
  rs.categories = {"all"};
  out.push_back(rs);

  out.push_back(builtin("coordination.k8s.io", "v1", "leases", "Lease", "lease", true));

  auto crd = builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                     "CustomResourceDefinition", "customresourcedefinition", false, {"crd", "crds"});
  crd.has_status = true;
  out.push_back(crd);

  out.push_back(builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice",
                        "endpointslice", true));
  return out;
}

Registry::Registry() : builtins_(builtin_resources()) {}

std::optional<ResourceInfo> Registry::find(const std::string& group, const std::string& version,
                                           const std::string& resource) const {
  std::shared_lock lock(mu_);
  for (const auto& r : builtins_) {
    if (r.group == group && r.version == version && r.resource == resource) return r;
  }
  for (const auto& [name, versions] : crds_) {
    for (const auto& r : versions) {
      if (r.group == group && r.version == version && r.resource == resource) return r;
    }
  }
  return std::nullopt;
}

std::optional<ResourceInfo> Registry::find_group_resource(const std::string& gr) const {
  std::shared_lock lock(mu_);
  for (const auto& r : builtins_) {
    if (r.group_resource() == gr) return r;
  }
  std::optional<ResourceInfo> any;
  for (const auto& [name, versions] : crds_) {
    for (const auto& r : versions) {
      if (r.group_resource() != gr) continue;
      if (r.storage_version) return r;
      if (!any) any = r;
    }
  }
  return any;
}

std::optional<ResourceInfo> Registry::find_kind(const std::string& api_version,
                                                const std::string& kind) const {
  std::shared_lock lock(mu_);
  auto matches = [&](const ResourceInfo& r) {
    return r.kind == kind && r.api_version() == api_version;
  };
  for (const auto& r : builtins_) {
    if (matches(r)) return r;
  }
  for (const auto& [name, versions] : crds_) {
    for (const auto& r : versions) {
      if (matches(r)) return r;
    }
  }
  return std::nullopt;
}

std::vector<ResourceInfo> Registry::all() const {
  std::shared_lock lock(mu_);
  std::vector<ResourceInfo> out = builtins_;
  for (const auto& [name, versions] : crds_) out.insert(out.end(), versions.begin(), versions.end());
  return out;
}

uint64_t Registry::generation() const {
  std::shared_lock lock(mu_);
  return generation_;
}

void Registry::set_crd(const std::string& crd_name, std::vector<ResourceInfo> versions) {
  std::unique_lock lock(mu_);
  crds_[crd_name] = std::move(versions);
  ++generation_;
}

void Registry::remove_crd(const std::string& crd_name) {
  std::unique_lock lock(mu_);
  if (crds_.erase(crd_name)) ++generation_;
}

}  // namespace kubesim
