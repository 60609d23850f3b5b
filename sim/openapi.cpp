#include "sim/openapi.h"

#include <cstdint>
#include <cstdio>
#include <set>

namespace kubesim {

namespace {

constexpr const char* kRefPrefix = "#/components/schemas/";
constexpr const char* kMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.";

// Why no PATCH operation lists application/strategic-merge-patch+json, not
// even for built-ins: kubectl apply (cmd/apply/patcher.go) first asks the GV
// document whether the PATCH operation of the object's GVK accepts strategic
// merge patch. If it does, kubectl computes the three-way patch from the
// published schema and its x-kubernetes-patch-strategy/-merge-key extensions.
// Our built-in schemas are deliberately shallow (spec and status are open
// objects), so that computation fails and kubectl prints "warning: error
// calculating patch from openapi v3 spec: unable to find api field ..." on
// every apply before falling back (verified against kubectl 1.32). When the
// content type is absent, kubectl logs at -v=5 only, tries /openapi/v2 (which
// kubesim answers 404; the error is ignored) and uses the patch metadata
// compiled into kubectl for the built-in types: the same strategic merge patch
// a real cluster gets ($setElementOrder/containers, env merged by name).
// Custom resources never accept strategic merge patch, on a real server too;
// kubectl sends them a JSON merge patch.
const std::vector<std::string> kPatchContentTypes = {
    "application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"};

const char* kApiVersionDoc =
    "APIVersion defines the versioned schema of this representation of an object. Servers should "
    "convert recognized schemas to the latest internal value, and may reject unrecognized values. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#resources";
const char* kKindDoc =
    "Kind is a string value representing the REST resource this object represents. Servers may "
    "infer this from the endpoint the client submits requests to. Cannot be updated. In "
    "CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#types-kinds";
const char* kMetadataDoc =
    "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#metadata";
const char* kListMetadataDoc =
    "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#types-kinds";

json schema_ref(const std::string& name) { return {{"$ref", std::string(kRefPrefix) + name}}; }

json gvk(const std::string& group, const std::string& version, const std::string& kind) {
  return {{"group", group}, {"kind", kind}, {"version", version}};
}

json str(const std::string& description) {
  return {{"type", "string"}, {"description", description}};
}

json typed(const std::string& type, const std::string& description,
           const std::string& format = "") {
  json s = {{"type", type}, {"description", description}};
  if (!format.empty()) {
    s["format"] = format;
  }
  return s;
}

json string_map(const std::string& description, const std::string& format = "") {
  json item = {{"type", "string"}, {"default", ""}};
  if (!format.empty()) {
    item["format"] = format;
  }
  return {{"type", "object"}, {"additionalProperties", item}, {"description", description}};
}

json open_object(const std::string& description) {
  return {{"type", "object"},
          {"description", description},
          {"x-kubernetes-preserve-unknown-fields", true}};
}

json array_of(json items, const std::string& description) {
  return {{"type", "array"}, {"items", std::move(items)}, {"description", description}};
}

// allOf keeps the sibling description visible to `kubectl explain`.
json meta_ref(const std::string& name, const std::string& description) {
  return {{"allOf", json::array({schema_ref(std::string(kMeta) + name)})},
          {"default", json::object()},
          {"description", description}};
}

std::string capitalize(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') {
    s[0] = static_cast<char>(s[0] - 'a' + 'A');
  }
  return s;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

// "" -> "Core", "coordination.k8s.io" -> "Coordination", "ml.frugal.dev" -> "MlFrugalDev".
std::string group_camel(const std::string& group) {
  if (group.empty()) {
    return "Core";
  }
  std::string g = group;
  const std::string suffix = ".k8s.io";
  if (g.size() > suffix.size() && g.compare(g.size() - suffix.size(), suffix.size(), suffix) == 0) {
    g.resize(g.size() - suffix.size());
  }
  std::string out;
  for (const std::string& part : split(g, '.')) {
    for (const std::string& word : split(part, '-')) {
      out += capitalize(word);
    }
  }
  return out;
}

// The Go package segment of a built-in group: "" -> core, "apps" -> apps,
// "rbac.authorization.k8s.io" -> rbac.
std::string builtin_package(const std::string& group) {
  if (group.empty()) {
    return "core";
  }
  return split(group, '.')[0];
}

std::string builtin_definition_prefix(const std::string& group, const std::string& version) {
  if (group == "apiextensions.k8s.io") {
    return "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions." + version + ".";
  }
  if (group == "apiregistration.k8s.io") {
    return "io.k8s.kube-aggregator.pkg.apis.apiregistration." + version + ".";
  }
  return "io.k8s.api." + builtin_package(group) + "." + version + ".";
}

std::string definition_prefix(const ResourceInfo& r) {
  if (!r.custom) {
    return builtin_definition_prefix(r.group, r.version);
  }
  std::vector<std::string> parts = split(r.group, '.');
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    out += *it + ".";
  }
  return out + r.version + ".";
}

// ---- Shared apimachinery schemas ----------------------------------------

json object_meta_schema() {
  json owner_refs = array_of(
      schema_ref(std::string(kMeta) + "OwnerReference"),
      "List of objects depended by this object. If ALL objects in the list have been deleted, "
      "this object will be garbage collected. If this object is managed by a controller, then an "
      "entry in this list will point to this controller, with the controller field set to true. "
      "There cannot be more than one managing controller.");
  owner_refs["x-kubernetes-list-map-keys"] = {"uid"};
  owner_refs["x-kubernetes-list-type"] = "map";
  owner_refs["x-kubernetes-patch-merge-key"] = "uid";
  owner_refs["x-kubernetes-patch-strategy"] = "merge";
  json finalizers = array_of(
      {{"type", "string"}, {"default", ""}},
      "Must be empty before the object is deleted from the registry. Each entry is an identifier "
      "for the responsible component that will remove the entry from the list.");
  finalizers["x-kubernetes-list-type"] = "set";
  finalizers["x-kubernetes-patch-strategy"] = "merge";
  return {
      {"description",
       "ObjectMeta is metadata that all persisted resources must have, which includes all objects "
       "users must create."},
      {"type", "object"},
      {"properties",
       {{"annotations",
         string_map("Annotations is an unstructured key value map stored with a resource that may "
                    "be set by external tools to store and retrieve arbitrary metadata. They are "
                    "not queryable and should be preserved when modifying objects.")},
        {"creationTimestamp",
         typed("string",
               "CreationTimestamp is a timestamp representing the server time when this object "
               "was created. It is represented in RFC3339 form and is in UTC. Populated by the "
               "system. Read-only.",
               "date-time")},
        {"deletionGracePeriodSeconds",
         typed("integer",
               "Number of seconds allowed for this object to gracefully terminate before it will "
               "be removed from the system. Only set when deletionTimestamp is also set.",
               "int64")},
        {"deletionTimestamp",
         typed("string",
               "DeletionTimestamp is RFC 3339 date and time at which this resource will be "
               "deleted. This field is set by the server when a graceful deletion is requested by "
               "the user. Populated by the system when a graceful deletion is requested. "
               "Read-only.",
               "date-time")},
        {"finalizers", finalizers},
        {"generateName",
         str("GenerateName is an optional prefix, used by the server, to generate a unique name "
             "ONLY IF the Name field has not been provided.")},
        {"generation",
         typed("integer",
               "A sequence number representing a specific generation of the desired state. "
               "Populated by the system. Read-only.",
               "int64")},
        {"labels",
         string_map("Map of string keys and values that can be used to organize and categorize "
                    "(scope and select) objects. May match selectors of replication controllers "
                    "and services.")},
        {"managedFields",
         array_of(schema_ref(std::string(kMeta) + "ManagedFieldsEntry"),
                  "ManagedFields maps workflow-id and version to the set of fields that are "
                  "managed by that workflow. This is mostly for internal housekeeping, and users "
                  "typically shouldn't need to set or understand this field.")},
        {"name", str("Name must be unique within a namespace. Is required when creating resources, "
                     "although some resources may allow a client to request the generation of an "
                     "appropriate name automatically. Cannot be updated.")},
        {"namespace",
         str("Namespace defines the space within which each name must be unique. An empty "
             "namespace is equivalent to the \"default\" namespace. Cannot be updated.")},
        {"ownerReferences", owner_refs},
        {"resourceVersion",
         str("An opaque value that represents the internal version of this object that can be "
             "used by clients to determine when objects have changed. Populated by the system. "
             "Read-only.")},
        {"selfLink", str("Deprecated: selfLink is a legacy read-only field that is no longer "
                         "populated by the system.")},
        {"uid",
         str("UID is the unique in time and space value for this object. It is typically "
             "generated by the server on successful creation of a resource and is not allowed to "
             "change on PUT operations. Populated by the system. Read-only.")}}}};
}

json owner_reference_schema() {
  return {{"description",
           "OwnerReference contains enough information to let you identify an owning object. An "
           "owning object must be in the same namespace as the dependent, or be cluster-scoped, "
           "so there is no namespace field."},
          {"type", "object"},
          {"required", {"apiVersion", "kind", "name", "uid"}},
          {"x-kubernetes-map-type", "atomic"},
          {"properties",
           {{"apiVersion", str("API version of the referent.")},
            {"blockOwnerDeletion",
             typed("boolean",
                   "If true, AND if the owner has the \"foregroundDeletion\" finalizer, then the "
                   "owner cannot be deleted from the key-value store until this reference is "
                   "removed.")},
            {"controller",
             typed("boolean", "If true, this reference points to the managing controller.")},
            {"kind", str("Kind of the referent.")},
            {"name", str("Name of the referent.")},
            {"uid", str("UID of the referent.")}}}};
}

json managed_fields_entry_schema() {
  return {
      {"description",
       "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource "
       "that the fieldset applies to."},
      {"type", "object"},
      {"properties",
       {{"apiVersion",
         str("APIVersion defines the version of this resource that this field set applies to.")},
        {"fieldsType", str("FieldsType is the discriminator for the different fields format and "
                           "version. There is currently only one possible value: \"FieldsV1\"")},
        {"fieldsV1", open_object("FieldsV1 holds the first JSON version format as described in the "
                                 "\"FieldsV1\" type.")},
        {"manager", str("Manager is an identifier of the workflow managing these fields.")},
        {"operation",
         str("Operation is the type of operation which lead to this ManagedFieldsEntry being "
             "created. The only valid values for this field are 'Apply' and 'Update'.")},
        {"subresource",
         str("Subresource is the name of the subresource used to update that object, or empty "
             "string if the object was updated through the main resource.")},
        {"time", typed("string", "Time is the timestamp of when the ManagedFields entry was added.",
                       "date-time")}}}};
}

json list_meta_schema() {
  return {{"description",
           "ListMeta describes metadata that synthetic resources must have, including lists and "
           "various status objects."},
          {"type", "object"},
          {"properties",
           {{"continue", str("continue may be set if the user set a limit on the number of items "
                             "returned, and indicates that the server has more data available.")},
            {"remainingItemCount", typed("integer",
                                         "remainingItemCount is the number of subsequent items in "
                                         "the list which are not included in this list response.",
                                         "int64")},
            {"resourceVersion",
             str("String that identifies the server's internal version of this object that can be "
                 "used by clients to determine when objects have changed.")},
            {"selfLink", str("Deprecated: selfLink is a legacy read-only field that is no longer "
                             "populated by the system.")}}}};
}

json delete_options_schema(const std::string& group, const std::string& version) {
  json gvks = json::array({gvk("", "v1", "DeleteOptions")});
  if (!group.empty()) {
    gvks.push_back(gvk(group, version, "DeleteOptions"));
  }
  return {
      {"description", "DeleteOptions may be provided when deleting an API object."},
      {"type", "object"},
      {"x-kubernetes-group-version-kind", gvks},
      {"properties",
       {{"apiVersion", str(kApiVersionDoc)},
        {"dryRun", array_of({{"type", "string"}, {"default", ""}},
                            "When present, indicates that modifications should not be persisted.")},
        {"gracePeriodSeconds",
         typed("integer", "The duration in seconds before the object should be deleted.", "int64")},
        {"kind", str(kKindDoc)},
        {"orphanDependents", typed("boolean", "Deprecated: please use the PropagationPolicy.")},
        {"preconditions", schema_ref(std::string(kMeta) + "Preconditions")},
        {"propagationPolicy", str("Whether and how garbage collection will be performed: 'Orphan', "
                                  "'Background' or 'Foreground'.")}}}};
}

json preconditions_schema() {
  return {{"description",
           "Preconditions must be fulfilled before an operation (update, delete, etc.) is carried "
           "out."},
          {"type", "object"},
          {"properties",
           {{"resourceVersion", str("Specifies the target ResourceVersion")},
            {"uid", str("Specifies the target UID.")}}}};
}

json status_schema() {
  return {
      {"description", "Status is a return value for calls that don't return other objects."},
      {"type", "object"},
      {"x-kubernetes-group-version-kind", json::array({gvk("", "v1", "Status")})},
      {"properties",
       {{"apiVersion", str(kApiVersionDoc)},
        {"code",
         typed("integer", "Suggested HTTP return code for this status, 0 if not set.", "int32")},
        {"details", schema_ref(std::string(kMeta) + "StatusDetails")},
        {"kind", str(kKindDoc)},
        {"message", str("A human-readable description of the status of this operation.")},
        {"metadata", meta_ref("ListMeta", kListMetadataDoc)},
        {"reason",
         str("A machine-readable description of why this operation is in the \"Failure\" status.")},
        {"status", str("Status of the operation. One of: \"Success\" or \"Failure\".")}}}};
}

json status_details_schema() {
  json cause = {
      {"type", "object"},
      {"description", "StatusCause provides more information about an api.Status failure."},
      {"properties",
       {{"field", str("The field of the resource that has caused this error, as named by its JSON "
                      "serialization.")},
        {"message", str("A human-readable description of the cause of the error.")},
        {"reason", str("A machine-readable description of the cause of the error.")}}}};
  return {
      {"description",
       "StatusDetails is a set of additional properties that MAY be set by the server to provide "
       "additional information about a response."},
      {"type", "object"},
      {"properties",
       {{"causes",
         array_of(
             cause,
             "The Causes array includes more details associated with the StatusReason failure.")},
        {"group",
         str("The group attribute of the resource associated with the status StatusReason.")},
        {"kind",
         str("The kind attribute of the resource associated with the status StatusReason.")},
        {"name", str("The name attribute of the resource associated with the status StatusReason "
                     "(when there is a single name which can be described).")},
        {"retryAfterSeconds",
         typed("integer",
               "If specified, the time in seconds before the operation should be retried.",
               "int32")},
        {"uid", str("UID of the resource.")}}}};
}

json patch_schema() {
  return {{"description",
           "Patch is provided to give a concrete name and type to the Kubernetes PATCH request "
           "body."},
          {"type", "object"}};
}

// The subresource kinds a GV document may have to describe.
void add_scale_schemas(json& schemas) {
  schemas["io.k8s.api.autoscaling.v1.Scale"] = {
      {"description", "Scale represents a scaling request for a resource."},
      {"type", "object"},
      {"x-kubernetes-group-version-kind", json::array({gvk("autoscaling", "v1", "Scale")})},
      {"properties",
       {{"apiVersion", str(kApiVersionDoc)},
        {"kind", str(kKindDoc)},
        {"metadata", meta_ref("ObjectMeta", kMetadataDoc)},
        {"spec",
         {{"allOf", json::array({schema_ref("io.k8s.api.autoscaling.v1.ScaleSpec")})},
          {"default", json::object()},
          {"description", "spec defines the behavior of the scale."}}},
        {"status",
         {{"allOf", json::array({schema_ref("io.k8s.api.autoscaling.v1.ScaleStatus")})},
          {"default", json::object()},
          {"description", "status is the current status of the scale. Read-only."}}}}}};
  schemas["io.k8s.api.autoscaling.v1.ScaleSpec"] = {
      {"description", "ScaleSpec describes the attributes of a scale subresource."},
      {"type", "object"},
      {"properties",
       {{"replicas",
         typed("integer", "replicas is the desired number of instances for the scaled object.",
               "int32")}}}};
  schemas["io.k8s.api.autoscaling.v1.ScaleStatus"] = {
      {"description", "ScaleStatus represents the current status of a scale subresource."},
      {"type", "object"},
      {"required", {"replicas"}},
      {"properties",
       {{"replicas",
         typed("integer",
               "replicas is the actual number of observed instances of the scaled object.",
               "int32")},
        {"selector", str("selector is the label query over pods that should match the replicas "
                         "count, in the serialized form of a label selector.")}}}};
}

void add_eviction_schema(json& schemas) {
  schemas["io.k8s.api.policy.v1.Eviction"] = {
      {"description",
       "Eviction evicts a pod from its node subject to certain policies and safety constraints. "
       "This is a subresource of Pod. A request to cause such an eviction is created by POSTing "
       "to .../pods/<pod name>/evictions."},
      {"type", "object"},
      {"x-kubernetes-group-version-kind", json::array({gvk("policy", "v1", "Eviction")})},
      {"properties",
       {{"apiVersion", str(kApiVersionDoc)},
        {"deleteOptions",
         {{"allOf", json::array({schema_ref(std::string(kMeta) + "DeleteOptions")})},
          {"description", "DeleteOptions may be provided"}}},
        {"kind", str(kKindDoc)},
        {"metadata",
         meta_ref("ObjectMeta", "ObjectMeta describes the pod that is being evicted.")}}}};
}

void add_binding_schemas(json& schemas) {
  schemas["io.k8s.api.core.v1.Binding"] = {
      {"description",
       "Binding ties one object to another; for example, a pod is bound to a node by a "
       "scheduler."},
      {"type", "object"},
      {"required", {"target"}},
      {"x-kubernetes-group-version-kind", json::array({gvk("", "v1", "Binding")})},
      {"properties",
       {{"apiVersion", str(kApiVersionDoc)},
        {"kind", str(kKindDoc)},
        {"metadata", meta_ref("ObjectMeta", kMetadataDoc)},
        {"target",
         {{"allOf", json::array({schema_ref("io.k8s.api.core.v1.ObjectReference")})},
          {"default", json::object()},
          {"description", "The target object that you want to bind to the standard object."}}}}}};
  schemas["io.k8s.api.core.v1.ObjectReference"] = {
      {"description",
       "ObjectReference contains enough information to let you inspect or modify the referred "
       "object."},
      {"type", "object"},
      {"x-kubernetes-map-type", "atomic"},
      {"properties",
       {{"apiVersion", str("API version of the referent.")},
        {"fieldPath", str("If referring to a piece of an object instead of an entire object, this "
                          "string should contain a valid JSON/Go field access statement.")},
        {"kind", str("Kind of the referent.")},
        {"name", str("Name of the referent.")},
        {"namespace", str("Namespace of the referent.")},
        {"resourceVersion",
         str("Specific resourceVersion to which this reference is made, if any.")},
        {"uid", str("UID of the referent.")}}}};
}

// ---- Kind schemas --------------------------------------------------------

json spec_field(const std::string& kind) {
  return open_object("Specification of the desired behavior of the " + kind +
                     ". More info: https://git.k8s.io/community/contributors/devel/"
                     "sig-architecture/api-conventions.md#spec-and-status");
}

json status_field(const std::string& kind) {
  return open_object("Most recently observed status of the " + kind +
                     ". This data may not be up to date. Populated by the system. Read-only. "
                     "More info: https://git.k8s.io/community/contributors/devel/"
                     "sig-architecture/api-conventions.md#spec-and-status");
}

// The top of a built-in kind: its description and its fields besides
// apiVersion/kind/metadata. Deeper structure is left open (preserve unknown
// fields): kubesim publishes enough for `kubectl explain` to orient a user,
// not the full upstream schema.
struct BuiltinShape {
  std::string description;
  json fields;  // property name -> schema
};

BuiltinShape builtin_shape(const ResourceInfo& r) {
  const std::string gr = r.group_resource();
  const std::string& k = r.kind;
  json spec_status = {{"spec", spec_field(k)}, {"status", status_field(k)}};
  if (gr == "pods") {
    return {
        "Pod is a collection of containers that can run on a host. This resource is created "
        "by clients and scheduled onto hosts.",
        spec_status};
  }
  if (gr == "namespaces") {
    return {"Namespace provides a scope for Names. Use of multiple namespaces is optional.",
            spec_status};
  }
  if (gr == "nodes") {
    return {
        "Node is a worker node in Kubernetes. Each node will have a unique identifier in the "
        "cache (i.e. in etcd).",
        spec_status};
  }
  if (gr == "services") {
    return {
        "Service is a named abstraction of software service (for example, mysql) consisting "
        "of local port (for example 3306) that the proxy listens on, and the selector that "
        "determines which pods will answer requests sent through the proxy.",
        spec_status};
  }
  if (gr == "deployments.apps") {
    return {"Deployment enables declarative updates for Pods and ReplicaSets.", spec_status};
  }
  if (gr == "customresourcedefinitions.apiextensions.k8s.io") {
    return {
        "CustomResourceDefinition represents a resource that should be exposed on the API "
        "server.  Its name MUST be in the format <.spec.name>.<.spec.group>.",
        spec_status};
  }
  if (gr == "leases.coordination.k8s.io") {
    return {"Lease defines a lease concept.", {{"spec", spec_field(k)}}};
  }
  if (gr == "configmaps") {
    return {"ConfigMap holds configuration data for pods to consume.",
            {{"data", string_map("Data contains the configuration data. Each key must consist of "
                                 "alphanumeric characters, '-', '_' or '.'.")},
             {"binaryData", string_map("BinaryData contains the binary data. Values are "
                                       "base64-encoded byte sequences.",
                                       "byte")},
             {"immutable", typed("boolean",
                                 "Immutable, if set to true, ensures that data stored "
                                 "in the ConfigMap cannot be updated.")}}};
  }
  if (gr == "secrets") {
    return {
        "Secret holds secret data of a certain type. The total bytes of the values in the "
        "Data field must be less than MaxSecretSize bytes.",
        {{"data", string_map("Data contains the secret data. The serialized form of the "
                             "secret data is a base64 encoded string.",
                             "byte")},
         {"stringData", string_map("stringData allows specifying non-binary secret data in "
                                   "string form. It is provided as a write-only input field "
                                   "for convenience.")},
         {"type", str("Used to facilitate programmatic handling of secret data.")},
         {"immutable", typed("boolean",
                             "Immutable, if set to true, ensures that data stored "
                             "in the Secret cannot be updated.")}}};
  }
  if (gr == "endpoints") {
    return {"Endpoints is a collection of endpoints that implement the actual service.",
            {{"subsets", array_of(open_object("EndpointSubset is a group of addresses with a "
                                              "common set of ports."),
                                  "The set of all endpoints is the union of all subsets.")}}};
  }
  if (gr == "endpointslices.discovery.k8s.io") {
    return {"EndpointSlice represents a set of service endpoints.",
            {{"addressType", str("addressType specifies the type of address carried by this "
                                 "EndpointSlice: IPv4, IPv6 or FQDN.")},
             {"endpoints", array_of(open_object("Endpoint represents a single logical backend."),
                                    "endpoints is a list of unique endpoints in this slice.")},
             {"ports", array_of(open_object("EndpointPort represents a Port used by an "
                                            "EndpointSlice."),
                                "ports specifies the list of network ports exposed by each "
                                "endpoint in this slice.")}}};
  }
  if (gr == "events") {
    return {
        "Event is a report of an event somewhere in the cluster.  Events have a limited "
        "retention time and triggers and messages may evolve with time.",
        {{"action", str("What action was taken/failed regarding to the Regarding object.")},
         {"count", typed("integer", "The number of times this event has occurred.", "int32")},
         {"eventTime", typed("string", "Time when this Event was first observed.", "date-time")},
         {"firstTimestamp",
          typed("string", "The time at which the event was first recorded.", "date-time")},
         {"involvedObject", open_object("The object that this event is about.")},
         {"lastTimestamp",
          typed("string",
                "The time at which the most recent occurrence of this event was recorded.",
                "date-time")},
         {"message", str("A human-readable description of the status of this operation.")},
         {"reason", str("This should be a short, machine understandable string that gives the "
                        "reason for the transition into the object's current status.")},
         {"related", open_object("Optional secondary object for more complex actions.")},
         {"reportingComponent", str("Name of the controller that emitted this Event.")},
         {"reportingInstance", str("ID of the controller instance.")},
         {"series", open_object("Data about the Event series this event represents.")},
         {"source", open_object("The component reporting this event.")},
         {"type",
          str("Type of this event (Normal, Warning), new types could be added in the future")}}};
  }
  if (gr == "events.events.k8s.io") {
    return {
        "Event is a report of an event somewhere in the cluster. It generally denotes some "
        "state change in the system.",
        {{"action",
          str("action is what action was taken/failed regarding to the regarding object.")},
         {"deprecatedCount", typed("integer",
                                   "deprecatedCount is the deprecated field assuring backward "
                                   "compatibility with core.v1 Event type.",
                                   "int32")},
         {"deprecatedFirstTimestamp",
          typed("string",
                "deprecatedFirstTimestamp is the deprecated field assuring backward compatibility "
                "with core.v1 Event type.",
                "date-time")},
         {"deprecatedLastTimestamp",
          typed("string",
                "deprecatedLastTimestamp is the deprecated field assuring backward compatibility "
                "with core.v1 Event type.",
                "date-time")},
         {"deprecatedSource", open_object("deprecatedSource is the deprecated field assuring "
                                          "backward compatibility with core.v1 Event type.")},
         {"eventTime", typed("string", "eventTime is the time when this Event was first observed.",
                             "date-time")},
         {"note", str("note is a human-readable description of the status of this operation.")},
         {"reason", str("reason is why the action was taken.")},
         {"regarding", open_object("regarding contains the object this Event is about.")},
         {"related",
          open_object("related is the optional secondary object for more complex actions.")},
         {"reportingController",
          str("reportingController is the name of the controller that emitted this Event.")},
         {"reportingInstance", str("reportingInstance is the ID of the controller instance.")},
         {"series", open_object("series is data about the Event series this event represents.")},
         {"type", str("type is the type of this event (Normal, Warning).")}}};
  }
  return {k + " is a built-in kind served by kubesim; its full schema is not published here.",
          spec_status};
}

json builtin_kind_schema(const ResourceInfo& r) {
  BuiltinShape shape = builtin_shape(r);
  json props = {{"apiVersion", str(kApiVersionDoc)},
                {"kind", str(kKindDoc)},
                {"metadata", meta_ref("ObjectMeta", kMetadataDoc)}};
  for (auto it = shape.fields.begin(); it != shape.fields.end(); ++it) {
    props[it.key()] = it.value();
  }
  return {{"description", shape.description},
          {"type", "object"},
          {"properties", std::move(props)},
          {"x-kubernetes-preserve-unknown-fields", true},
          {"x-kubernetes-group-version-kind", json::array({gvk(r.group, r.version, r.kind)})}};
}

// The CRD's openAPIV3Schema, with apiVersion/kind/metadata as the real server
// publishes them (metadata always the full ObjectMeta, whatever the CRD says).
json custom_kind_schema(const ResourceInfo& r) {
  json s = r.schema && r.schema->is_object()
               ? *r.schema
               : json{{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
  if (!s.contains("type")) {
    s["type"] = "object";
  }
  json& props = s["properties"];
  if (!props.is_object()) {
    props = json::object();
  }
  props["apiVersion"] = str(kApiVersionDoc);
  props["kind"] = str(kKindDoc);
  props["metadata"] = meta_ref("ObjectMeta", kMetadataDoc);
  props["metadata"].erase("default");
  s["x-kubernetes-group-version-kind"] = json::array({gvk(r.group, r.version, r.kind)});
  return s;
}

json list_schema(const ResourceInfo& r) {
  std::string list_kind = r.list_kind.empty() ? r.kind + "List" : r.list_kind;
  return {{"description", list_kind + " is a list of " + r.kind},
          {"type", "object"},
          {"required", {"items"}},
          {"properties",
           {{"apiVersion", str(kApiVersionDoc)},
            {"items", array_of(schema_ref(openapi_definition_name(r)),
                               "List of " + r.resource +
                                   ". More info: https://git.k8s.io/community/contributors/"
                                   "devel/sig-architecture/api-conventions.md")},
            {"kind", str(kKindDoc)},
            {"metadata", meta_ref("ListMeta", kListMetadataDoc)}}},
          {"x-kubernetes-group-version-kind", json::array({gvk(r.group, r.version, list_kind)})}};
}

// ---- Operations ----------------------------------------------------------

json query_param(const std::string& name, const std::string& type, const std::string& description) {
  return {{"name", name},
          {"in", "query"},
          {"description", description},
          {"schema", {{"type", type}, {"uniqueItems", true}}}};
}

json path_param(const std::string& name, const std::string& description) {
  return {{"name", name},
          {"in", "path"},
          {"required", true},
          {"description", description},
          {"schema", {{"type", "string"}, {"uniqueItems", true}}}};
}

json pretty_param() {
  return query_param("pretty", "string",
                     "If 'true', then the output is pretty printed. Defaults to 'false' unless "
                     "the user-agent indicates a browser or command-line HTTP tool (curl and "
                     "wget).");
}

json namespace_param() {
  return path_param("namespace", "object name and auth scope, such as for teams and projects");
}

json dry_run_param() {
  return query_param("dryRun", "string",
                     "When present, indicates that modifications should not be persisted. An "
                     "invalid or unrecognized dryRun directive will result in an error response "
                     "and no further processing of the request. Valid values are: - All: all dry "
                     "run stages will be processed");
}

json field_manager_param(bool patch) {
  std::string d =
      "fieldManager is a name associated with the actor or entity that is making these changes. "
      "The value must be less than or 128 characters long, and only contain printable "
      "characters, as defined by https://golang.org/pkg/unicode/#IsPrint.";
  if (patch) {
    d += " This field is required for apply requests (application/apply-patch) but optional for "
         "non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).";
  }
  return query_param("fieldManager", "string", d);
}

// The parameter kubectl's QueryParamVerifierV3 looks for on PATCH operations.
json field_validation_param() {
  return query_param(
      "fieldValidation", "string",
      "fieldValidation instructs the server on how to handle objects in the request "
      "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This "
      "will ignore any unknown fields that are silently dropped from the object, and will ignore "
      "all but the last duplicate field that the decoder encounters. - Warn: This will send a "
      "warning via the standard warning response header for each unknown field that is dropped "
      "from the object, and for each duplicate field that is encountered. - Strict: This will "
      "fail the request with a BadRequest error if any unknown fields would be dropped from the "
      "object, or if any duplicate fields are present.");
}

json write_params(bool patch) {
  json p = json::array({dry_run_param(), field_manager_param(patch), field_validation_param()});
  if (patch) {
    p.push_back(query_param("force", "boolean",
                            "Force is going to \"force\" Apply requests. It means user will "
                            "re-acquire conflicting fields owned by other people. Force flag must "
                            "be unset for non-apply patch requests."));
  }
  return p;
}

json list_params() {
  return json::array(
      {query_param("allowWatchBookmarks", "boolean",
                   "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
       query_param("continue", "string",
                   "The continue option should be set when retrieving more results from the "
                   "server."),
       query_param("fieldSelector", "string",
                   "A selector to restrict the list of returned objects by their fields. "
                   "Defaults to everything."),
       query_param("labelSelector", "string",
                   "A selector to restrict the list of returned objects by their labels. "
                   "Defaults to everything."),
       query_param("limit", "integer",
                   "limit is a maximum number of responses to return for a list call."),
       query_param("resourceVersion", "string",
                   "resourceVersion sets a constraint on what resource versions a request may be "
                   "served from."),
       query_param("resourceVersionMatch", "string",
                   "resourceVersionMatch determines how resourceVersion is applied to list "
                   "calls."),
       query_param("sendInitialEvents", "boolean",
                   "`sendInitialEvents=true` may be set together with `watch=true`."),
       query_param("timeoutSeconds", "integer",
                   "Timeout for the list/watch call. This limits the duration of the call, "
                   "regardless of any activity or inactivity."),
       query_param("watch", "boolean",
                   "Watch for changes to the described resources and return them as a stream of "
                   "add, update, and remove notifications. Specify resourceVersion.")});
}

json delete_params() {
  return json::array(
      {dry_run_param(),
       query_param("gracePeriodSeconds", "integer",
                   "The duration in seconds before the object should be deleted. Value must be "
                   "non-negative integer. The value zero indicates delete immediately."),
       query_param("orphanDependents", "boolean",
                   "Deprecated: please use the PropagationPolicy, this field will be deprecated "
                   "in 1.7."),
       query_param("propagationPolicy", "string",
                   "Whether and how garbage collection will be performed. Acceptable values are: "
                   "'Orphan', 'Background', 'Foreground'.")});
}

json responses(std::initializer_list<int> codes, const std::string& schema) {
  json out = json::object();
  for (int code : codes) {
    const char* text = code == 200 ? "OK" : code == 201 ? "Created" : "Accepted";
    out[std::to_string(code)] = {{"description", text},
                                 {"content",
                                  {{"application/json", {{"schema", schema_ref(schema)}}},
                                   {"application/yaml", {{"schema", schema_ref(schema)}}}}}};
  }
  out["401"] = {{"description", "Unauthorized"}};
  return out;
}

json body(const std::string& schema, bool required) {
  json b = {{"content", {{"*/*", {{"schema", schema_ref(schema)}}}}}};
  if (required) {
    b["required"] = true;
  }
  return b;
}

json patch_body() {
  json content = json::object();
  for (const std::string& ct : kPatchContentTypes) {
    content[ct] = {{"schema", schema_ref(std::string(kMeta) + "Patch")}};
  }
  return {{"content", std::move(content)}, {"required", true}};
}

struct OpSpec {
  std::string action;  // x-kubernetes-action
  std::string id;
  std::string description;
  json gvk;
  json params = json::array();
  json body;  // null for none
  json responses;
};

json operation(const OpSpec& o, const std::string& tag) {
  json op = {{"description", o.description},
             {"operationId", o.id},
             {"tags", {tag}},
             {"responses", o.responses},
             {"x-kubernetes-action", o.action},
             {"x-kubernetes-group-version-kind", o.gvk}};
  if (!o.params.empty()) {
    op["parameters"] = o.params;
  }
  if (!o.body.is_null()) {
    op["requestBody"] = o.body;
  }
  return op;
}

struct GvContext {
  std::string group, version;
  std::string prefix;  // "/api/v1" or "/apis/G/V"
  std::string op_gv;   // "CoreV1", "AppsV1", "MlFrugalDevV1alpha1"
  std::string tag;     // "core_v1", "mlFrugalDev_v1alpha1"
};

void add_resource_paths(const GvContext& gv, const ResourceInfo& r, json& paths) {
  const std::string def = openapi_definition_name(r);
  const std::string list_def = def + "List";
  const json kind_gvk = gvk(r.group, r.version, r.kind);
  const std::string scope = r.namespaced ? "Namespaced" : "";
  const std::string ns_segment = r.namespaced ? "/namespaces/{namespace}" : "";
  const std::string collection = gv.prefix + ns_segment + "/" + r.resource;
  const std::string item = collection + "/{name}";
  const std::string status_def = std::string(kMeta) + "Status";
  const std::string delete_def = std::string(kMeta) + "DeleteOptions";

  auto base_params = [&](bool with_name, const std::string& name_kind) {
    json p = json::array();
    if (with_name) {
      p.push_back(path_param("name", "name of the " + name_kind));
    }
    if (r.namespaced) {
      p.push_back(namespace_param());
    }
    p.push_back(pretty_param());
    return p;
  };

  // Collection: list, create, delete collection.
  json coll = {{"parameters", base_params(false, "")}};
  coll["get"] = operation(
      {"list", "list" + gv.op_gv + scope + r.kind, "list or watch objects of kind " + r.kind,
       kind_gvk, list_params(), nullptr, responses({200}, list_def)},
      gv.tag);
  coll["post"] =
      operation({"post", "create" + gv.op_gv + scope + r.kind, "create a " + r.kind, kind_gvk,
                 write_params(false), body(def, true), responses({200, 201, 202}, def)},
                gv.tag);
  json dc_params = list_params();
  for (const auto& p : delete_params()) {
    dc_params.push_back(p);
  }
  coll["delete"] = operation({"deletecollection", "deleteCollection" + gv.op_gv + scope + r.kind,
                              "delete collection of " + r.kind, kind_gvk, dc_params,
                              body(delete_def, false), responses({200}, status_def)},
                             gv.tag);
  paths[collection] = std::move(coll);

  // Item: read, replace, patch, delete.
  json one = {{"parameters", base_params(true, r.kind)}};
  one["get"] = operation({"get", "read" + gv.op_gv + scope + r.kind, "read the specified " + r.kind,
                          kind_gvk, json::array(), nullptr, responses({200}, def)},
                         gv.tag);
  one["put"] =
      operation({"put", "replace" + gv.op_gv + scope + r.kind, "replace the specified " + r.kind,
                 kind_gvk, write_params(false), body(def, true), responses({200, 201}, def)},
                gv.tag);
  one["patch"] = operation(
      {"patch", "patch" + gv.op_gv + scope + r.kind, "partially update the specified " + r.kind,
       kind_gvk, write_params(true), patch_body(), responses({200, 201}, def)},
      gv.tag);
  one["delete"] =
      operation({"delete", "delete" + gv.op_gv + scope + r.kind, "delete a " + r.kind, kind_gvk,
                 delete_params(), body(delete_def, false), responses({200, 202}, status_def)},
                gv.tag);
  paths[item] = std::move(one);

  // Every namespace at once.
  if (r.namespaced) {
    json all = {{"parameters", json::array({pretty_param()})}};
    all["get"] = operation({"list", "list" + gv.op_gv + r.kind + "ForAllNamespaces",
                            "list or watch objects of kind " + r.kind, kind_gvk, list_params(),
                            nullptr, responses({200}, list_def)},
                           gv.tag);
    paths[gv.prefix + "/" + r.resource] = std::move(all);
  }

  // get/put/patch subresources: status (the kind itself) and scale (autoscaling/v1 Scale).
  auto rw_subresource = [&](const std::string& sub, const std::string& suffix,
                            const std::string& sub_def, const json& sub_gvk,
                            const std::string& sub_kind) {
    json p = {{"parameters", base_params(true, sub_kind)}};
    p["get"] = operation({"get", "read" + gv.op_gv + scope + r.kind + suffix,
                          "read " + sub + " of the specified " + r.kind, sub_gvk, json::array(),
                          nullptr, responses({200}, sub_def)},
                         gv.tag);
    p["put"] = operation({"put", "replace" + gv.op_gv + scope + r.kind + suffix,
                          "replace " + sub + " of the specified " + r.kind, sub_gvk,
                          write_params(false), body(sub_def, true), responses({200, 201}, sub_def)},
                         gv.tag);
    p["patch"] = operation({"patch", "patch" + gv.op_gv + scope + r.kind + suffix,
                            "partially update " + sub + " of the specified " + r.kind, sub_gvk,
                            write_params(true), patch_body(), responses({200, 201}, sub_def)},
                           gv.tag);
    paths[item + "/" + sub] = std::move(p);
  };
  if (r.has_status) {
    rw_subresource("status", "Status", def, kind_gvk, r.kind);
  }
  if (r.scale) {
    rw_subresource("scale", "Scale", "io.k8s.api.autoscaling.v1.Scale",
                   gvk("autoscaling", "v1", "Scale"), "Scale");
  }

  // create-only subresources.
  auto create_subresource = [&](const std::string& sub, const std::string& suffix,
                                const std::string& sub_def, const json& sub_gvk,
                                const std::string& sub_kind) {
    json p = {{"parameters", base_params(true, sub_kind)}};
    p["post"] = operation(
        {"post", "create" + gv.op_gv + scope + r.kind + suffix, "create " + sub + " of a " + r.kind,
         sub_gvk, write_params(false), body(sub_def, true), responses({200, 201, 202}, sub_def)},
        gv.tag);
    paths[item + "/" + sub] = std::move(p);
  };
  if (r.has_binding) {
    create_subresource("binding", "Binding", "io.k8s.api.core.v1.Binding", gvk("", "v1", "Binding"),
                       "Binding");
  }
  if (r.has_eviction) {
    create_subresource("eviction", "Eviction", "io.k8s.api.policy.v1.Eviction",
                       gvk("policy", "v1", "Eviction"), "Eviction");
  }
}

// FNV-1a, 64 bit: cheap, stable across runs and platforms.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::string openapi_v3_path(const std::string& group, const std::string& version) {
  return group.empty() ? "api/" + version : "apis/" + group + "/" + version;
}

std::string openapi_definition_name(const ResourceInfo& info) {
  return definition_prefix(info) + info.kind;
}

json openapi_v3_group_version(const std::string& group, const std::string& version,
                              const std::vector<ResourceInfo>& resources) {
  std::string camel = group_camel(group);
  std::string tag_group = camel;
  tag_group[0] = static_cast<char>(tag_group[0] - 'A' + 'a');
  GvContext gv{group, version, "/" + openapi_v3_path(group, version), camel + capitalize(version),
               tag_group + "_" + version};

  json paths = json::object();
  json schemas = json::object();
  bool any = false, scale = false, eviction = false, binding = false;
  for (const ResourceInfo& r : resources) {
    if (r.group != group || r.version != version) {
      continue;
    }
    any = true;
    add_resource_paths(gv, r, paths);
    std::string def = openapi_definition_name(r);
    schemas[def] = r.custom ? custom_kind_schema(r) : builtin_kind_schema(r);
    schemas[def + "List"] = list_schema(r);
    scale = scale || r.scale.has_value();
    eviction = eviction || r.has_eviction;
    binding = binding || r.has_binding;
  }
  if (any) {
    const std::string meta = kMeta;
    schemas[meta + "ObjectMeta"] = object_meta_schema();
    schemas[meta + "OwnerReference"] = owner_reference_schema();
    schemas[meta + "ManagedFieldsEntry"] = managed_fields_entry_schema();
    schemas[meta + "ListMeta"] = list_meta_schema();
    schemas[meta + "DeleteOptions"] = delete_options_schema(group, version);
    schemas[meta + "Preconditions"] = preconditions_schema();
    schemas[meta + "Status"] = status_schema();
    schemas[meta + "StatusDetails"] = status_details_schema();
    schemas[meta + "Patch"] = patch_schema();
    if (scale) {
      add_scale_schemas(schemas);
    }
    if (eviction) {
      add_eviction_schema(schemas);
    }
    if (binding) {
      add_binding_schemas(schemas);
    }
  }
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "unversioned"}}},
          {"paths", std::move(paths)},
          {"components", {{"schemas", std::move(schemas)}}}};
}

std::string openapi_content_hash(const json& doc) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llX", static_cast<unsigned long long>(fnv1a(doc.dump())));
  return buf;
}

json openapi_v3_index(const std::vector<ResourceInfo>& resources) {
  std::set<std::pair<std::string, std::string>> gvs;
  for (const ResourceInfo& r : resources) {
    gvs.insert({r.group, r.version});
  }
  json paths = json::object();
  for (const auto& [group, version] : gvs) {
    std::string path = openapi_v3_path(group, version);
    std::string hash = openapi_content_hash(openapi_v3_group_version(group, version, resources));
    std::string url = "/openapi/v3/" + path;
    url += "?hash=" + hash;
    paths[path] = {{"serverRelativeURL", std::move(url)}};
  }
  return {{"paths", std::move(paths)}};
}

}  // namespace kubesim
