// What kubesim knows about one served resource (one group/version/resource):
// its names, scope, subresources, and for custom resources the schema and
// printer columns from the CRD. Built-ins and CRDs share this description so
// that storage, discovery, OpenAPI and Table output treat them alike.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kubesim {

using json = nlohmann::json;

struct PrinterColumn {
  std::string name;         // "Phase"
  std::string type;         // integer, number, string, boolean, date
  std::string format;       // optional, e.g. "name"
  std::string description;  // optional
  std::string json_path;    // ".status.phase"
  int priority = 0;         // 0 = shown by default, >0 only with -o wide
};

struct ScaleSubresource {
  std::string spec_replicas_path = ".spec.replicas";
  std::string status_replicas_path = ".status.replicas";
  std::string label_selector_path;  // optional
};

struct ResourceInfo {
  std::string group;     // "" for core
  std::string version;   // "v1"
  std::string resource;  // plural, "pods"
  std::string kind;      // "Pod"
  std::string list_kind;
  std::string singular;  // "pod"
  std::vector<std::string> short_names;
  std::vector<std::string> categories;  // e.g. "all"
  bool namespaced = true;

  bool has_status = false;  // /status subresource
  std::optional<ScaleSubresource> scale;
  bool has_binding = false;   // pods/binding
  bool has_eviction = false;  // pods/eviction

  // Field selector labels the real server accepts for this resource, beyond
  // metadata.name and metadata.namespace (always accepted).
  std::vector<std::string> selectable_fields;

  // Custom resources only.
  bool custom = false;
  bool storage_version = true;  // the CRD version objects are stored as
  std::optional<json> schema;   // openAPIV3Schema
  std::vector<PrinterColumn> printer_columns;

  // "apps/v1" or "v1".
  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // "deployments.apps" or "pods": the key storage uses, shared by all versions.
  std::string group_resource() const { return group.empty() ? resource : resource + "." + group; }
};

}  // namespace kubesim
