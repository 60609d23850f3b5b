#include "sim/scheduling.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "common/quantity.h"

namespace kubesim {
namespace {

// ---- Names and defaults, with where they come from -------------------------

constexpr std::string_view kCpu = "cpu";
constexpr std::string_view kMemory = "memory";
// v1.ResourcePods: one slot per pod, in milli-units like every other resource.
constexpr std::string_view kPods = "pods";
constexpr int64_t kPodSlotMilli = 1000;
// kube-scheduler pkg/scheduler/util/pod_resources.go: DefaultMilliCPURequest
// (0.1 core) and DefaultMemoryRequest (200 MB), what a container without a
// request counts as when nodes are ranked.
constexpr int64_t kDefaultScoringCpuMilli = 100;
constexpr int64_t kDefaultScoringMemoryMilli = int64_t{200} * 1024 * 1024 * 1000;

constexpr std::string_view kNoSchedule = "NoSchedule";
constexpr std::string_view kNoExecute = "NoExecute";
constexpr std::string_view kPreferNoSchedule = "PreferNoSchedule";
// v1.TaintNodeUnschedulable: the NodeUnschedulable filter lets a pod onto a
// cordoned node when it tolerates this taint with effect NoSchedule.
constexpr std::string_view kTaintUnschedulable = "node.kubernetes.io/unschedulable";
// v1.TaintNodeNotReady / TaintNodeUnreachable and the pressure taints the
// node lifecycle controller adds (TaintNodesByCondition) with effect
// NoSchedule; kubesim's nodes carry only conditions, so they are derived here.
constexpr std::string_view kTaintNotReady = "node.kubernetes.io/not-ready";
constexpr std::string_view kTaintUnreachable = "node.kubernetes.io/unreachable";
struct ConditionTaint {
  std::string_view condition;  // taints the node when this condition is "True"
  std::string_view taint;
};
constexpr ConditionTaint kPressureTaints[] = {
    {"MemoryPressure", "node.kubernetes.io/memory-pressure"},
    {"DiskPressure", "node.kubernetes.io/disk-pressure"},
    {"PIDPressure", "node.kubernetes.io/pid-pressure"},
    {"NetworkUnavailable", "node.kubernetes.io/network-unavailable"},
};

// Filter reasons, verbatim from kube-scheduler's plugins:
// nodeunschedulable.ErrReasonUnschedulable,
// nodeaffinity.ErrReasonPod, and noderesources fitsRequest's "Too many pods"
// and fmt.Sprintf("Insufficient %v", resourceName).
constexpr std::string_view kReasonNodeUnschedulable = "node(s) were unschedulable";
constexpr std::string_view kReasonNodeAffinity =
    "node(s) didn't match Pod's node affinity/selector";
constexpr std::string_view kReasonTooManyPods = "Too many pods";
constexpr std::string_view kInsufficientPrefix = "Insufficient ";
// tainttoleration Filter: fmt.Sprintf("node(s) had untolerated taint {%s: %s}",
// taint.Key, taint.Value) — up to k8s 1.34.1; kubernetes#134740 (1.35, and
// 1.34.2 via #135023) replaced it with "node(s) had untolerated taint(s)".
std::string untolerated_taint_reason(const Taint& t) {
  return "node(s) had untolerated taint {" + t.key + ": " + t.value + "}";
}
// framework.FitError.Error(): NoNodeAvailableMsg, the sorted histogram, then
// the PostFilter (DefaultPreemption) message, as real clusters print it (AKS
// troubleshooting docs): "0/2 nodes are available: 2 node(s) had untolerated
// taint {CriticalAddonsOnly: true}. preemption: 0/2 nodes are available: 2
// Preemption is not helpful for scheduling." kubesim never preempts, so every
// node gets the "not helpful" verdict (the real one says "No preemption
// victims found for incoming pod" for nodes short of resources).
constexpr std::string_view kPreemptionNotHelpful = "Preemption is not helpful for scheduling";
// scheduler.ErrNoNodesAvailable, reported with reason Unschedulable.
constexpr std::string_view kNoNodesAvailable = "no nodes available to schedule pods";

// ---- JSON access -------------------------------------------------------------------

const json& child(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

// An array field of a JSON object; empty when absent or not an array (range-for
// over a JSON scalar would visit the scalar itself).
const json& array_field(const json& object, const char* key) {
  static const json kEmpty = json::array();
  const json& v = child(object, key);
  return v.is_array() ? v : kEmpty;
}

// A string field of a JSON object; "" when absent or not a string (a
// hand-written object may carry null where the API would omit the field).
std::string string_field(const json& object, const char* key) {
  const json& v = child(object, key);
  return v.is_string() ? v.get<std::string>() : "";
}

// ---- Quantities --------------------------------------------------------------

using ResourceList = std::map<std::string, int64_t>;

FieldCause invalid_field(std::string field, const json& value, const std::string& why) {
  return FieldCause{"FieldValueInvalid", "Invalid value: " + value.dump() + ": " + why,
                    std::move(field)};
}

// A Quantity as JSON: normally a string, but resource.Quantity also decodes
// plain JSON numbers.
frugal::Expected<int64_t, std::string> quantity_milli(const json& value) {
  if (value.is_string()) return frugal::parse_quantity_milli(value.get_ref<const std::string&>());
  if (value.is_number()) return frugal::parse_quantity_milli(value.dump());
  return frugal::Unexpected(std::string("must be a quantity"));
}

// A v1.ResourceList at `field` ("spec.overhead"); absent or null is empty.
frugal::Expected<ResourceList, FieldCause> parse_resource_list(const json& list,
                                                               const std::string& field) {
  ResourceList out;
  if (list.is_null()) return out;
  if (!list.is_object()) return frugal::Unexpected(invalid_field(field, list, "must be an object"));
  for (const auto& [name, value] : list.items()) {
    auto milli = quantity_milli(value);
    if (!milli) {
      return frugal::Unexpected(invalid_field(field + "[" + name + "]", value, milli.error()));
    }
    out.emplace(name, *milli);
  }
  return out;
}

void add_list(ResourceList& into, const ResourceList& more) {
  for (const auto& [name, milli] : more) into[name] += milli;
}

void max_list(ResourceList& into, const ResourceList& other) {
  for (const auto& [name, milli] : other) {
    auto [it, inserted] = into.emplace(name, milli);
    if (!inserted) it->second = std::max(it->second, milli);
  }
}

struct ContainerRequests {
  ResourceList requests;  // as the scheduler's NodeResourcesFit sees them
  ResourceList scoring;   // cpu and memory with the ranking defaults
  bool sidecar = false;   // init container with restartPolicy Always
};

frugal::Expected<ContainerRequests, FieldCause> container_requests(const json& container,
                                                                   const std::string& at) {
  const json& resources = child(container, "resources");
  auto requests = parse_resource_list(child(resources, "requests"), at + ".resources.requests");
  if (!requests) return frugal::Unexpected(std::move(requests).error());
  auto limits = parse_resource_list(child(resources, "limits"), at + ".resources.limits");
  if (!limits) return frugal::Unexpected(std::move(limits).error());

  ContainerRequests out;
  out.requests = std::move(*requests);
  // API server defaulting (SetDefaults_Pod in pkg/apis/core/v1/defaults.go):
  // a resource with a limit but no request requests its limit.
  for (const auto& [name, milli] : *limits) out.requests.try_emplace(name, milli);
  auto requested_or = [&](std::string_view name, int64_t fallback) {
    auto it = out.requests.find(std::string(name));
    return it == out.requests.end() ? fallback : it->second;
  };
  out.scoring[std::string(kCpu)] = requested_or(kCpu, kDefaultScoringCpuMilli);
  out.scoring[std::string(kMemory)] = requested_or(kMemory, kDefaultScoringMemoryMilli);
  out.sidecar = string_field(container, "restartPolicy") == "Always";
  return out;
}

// component-helpers resource.PodRequests: containers and sidecars add up;
// each plain init container runs alone beside the sidecars started before
// it, and the pod needs the larger of the two, per resource.
ResourceList combine(const std::vector<ContainerRequests>& containers,
                     const std::vector<ContainerRequests>& init_containers,
                     ResourceList ContainerRequests::*which) {
  ResourceList total;
  for (const auto& c : containers) add_list(total, c.*which);
  ResourceList sidecars;
  ResourceList init_peak;
  for (const auto& c : init_containers) {
    if (c.sidecar) {
      add_list(total, c.*which);
      add_list(sidecars, c.*which);
      max_list(init_peak, sidecars);
    } else {
      ResourceList running = c.*which;
      add_list(running, sidecars);
      max_list(init_peak, running);
    }
  }
  max_list(total, init_peak);
  return total;
}

frugal::Expected<std::vector<ContainerRequests>, FieldCause> all_container_requests(
    const json& spec, const char* list_name) {
  std::vector<ContainerRequests> out;
  if (!spec.is_object()) return out;
  auto it = spec.find(list_name);
  if (it == spec.end() || !it->is_array()) return out;
  for (size_t i = 0; i < it->size(); ++i) {
    auto c = container_requests((*it)[i],
                                std::string("spec.") + list_name + "[" + std::to_string(i) + "]");
    if (!c) return frugal::Unexpected(std::move(c).error());
    out.push_back(std::move(*c));
  }
  return out;
}

// metadata.name of a pod or node, "" when absent.
std::string object_name(const json& object) {
  return string_field(child(object, "metadata"), "name");
}

std::string string_or_dump(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// ---- Node selector terms -----------------------------------------------------

enum class SelectorOp { kIn, kNotIn, kExists, kDoesNotExist, kGt, kLt };

struct SelectorRequirement {
  std::string key;
  SelectorOp op = SelectorOp::kExists;
  std::vector<std::string> values;
  int64_t bound = 0;  // Gt/Lt
};

// v1.NodeSelectorTerm. A term with no requirement at all selects nothing.
struct SelectorTerm {
  std::vector<SelectorRequirement> expressions;  // on node labels
  std::vector<SelectorRequirement> fields;       // on metadata.name (In/NotIn, one value)
};

// strconv.ParseInt(s, 10, 64).
std::optional<int64_t> parse_int64(std::string_view s) {
  const bool plus = !s.empty() && s[0] == '+';
  if (plus) s.remove_prefix(1);
  if (s.empty() || (plus && s[0] == '-')) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<SelectorOp> parse_op(const std::string& op) {
  static const std::pair<std::string_view, SelectorOp> kOps[] = {
      {"In", SelectorOp::kIn},         {"NotIn", SelectorOp::kNotIn},
      {"Exists", SelectorOp::kExists}, {"DoesNotExist", SelectorOp::kDoesNotExist},
      {"Gt", SelectorOp::kGt},         {"Lt", SelectorOp::kLt}};
  for (auto [name, value] : kOps) {
    if (op == name) return value;
  }
  return std::nullopt;
}

// nodeaffinity's nodeSelectorRequirementsAsSelector rules: In/NotIn need
// values, Exists/DoesNotExist none, Gt/Lt exactly one integer.
std::optional<SelectorRequirement> parse_expression(const json& r) {
  if (!r.is_object()) return std::nullopt;
  SelectorRequirement req;
  req.key = string_field(r, "key");
  auto op = parse_op(string_field(r, "operator"));
  if (!op) return std::nullopt;
  req.op = *op;
  for (const auto& v : array_field(r, "values")) {
    if (v.is_string()) req.values.push_back(v.get<std::string>());
  }
  switch (req.op) {
    case SelectorOp::kIn:
    case SelectorOp::kNotIn:
      if (req.values.empty()) return std::nullopt;
      break;
    case SelectorOp::kExists:
    case SelectorOp::kDoesNotExist:
      if (!req.values.empty()) return std::nullopt;
      break;
    case SelectorOp::kGt:
    case SelectorOp::kLt: {
      if (req.values.size() != 1) return std::nullopt;
      auto bound = parse_int64(req.values[0]);
      if (!bound) return std::nullopt;
      req.bound = *bound;
      break;
    }
  }
  return req;
}

// nodeaffinity's NodeSelectorRequirementsAsFieldSelector: only In and NotIn,
// each with exactly one value.
std::optional<SelectorRequirement> parse_field(const json& r) {
  auto req = parse_expression(r);
  if (!req || (req->op != SelectorOp::kIn && req->op != SelectorOp::kNotIn) ||
      req->values.size() != 1) {
    return std::nullopt;
  }
  return req;
}

// Empty and malformed terms are dropped, as LazyErrorNodeSelector skips them.
std::optional<SelectorTerm> parse_term(const json& term) {
  SelectorTerm out;
  for (const auto& r : array_field(term, "matchExpressions")) {
    auto req = parse_expression(r);
    if (!req) return std::nullopt;
    out.expressions.push_back(std::move(*req));
  }
  for (const auto& r : array_field(term, "matchFields")) {
    auto req = parse_field(r);
    if (!req) return std::nullopt;
    out.fields.push_back(std::move(*req));
  }
  if (out.expressions.empty() && out.fields.empty()) return std::nullopt;
  return out;
}

using Labels = std::map<std::string, std::string, std::less<>>;

// labels.Requirement.Matches.
bool matches(const SelectorRequirement& r, const Labels& labels) {
  auto it = labels.find(r.key);
  const bool has = it != labels.end();
  auto in_values = [&] {
    return std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
  };
  switch (r.op) {
    case SelectorOp::kIn:
      return has && in_values();
    case SelectorOp::kNotIn:
      return !has || !in_values();
    case SelectorOp::kExists:
      return has;
    case SelectorOp::kDoesNotExist:
      return !has;
    case SelectorOp::kGt:
    case SelectorOp::kLt: {
      if (!has) return false;
      auto v = parse_int64(it->second);
      if (!v) return false;
      return r.op == SelectorOp::kGt ? *v > r.bound : *v < r.bound;
    }
  }
  return false;
}

// A node's only selectable field is metadata.name; any other reads as "".
bool matches_field(const SelectorRequirement& r, const NodeInfo& node) {
  const std::string_view value = r.key == "metadata.name" ? std::string_view(node.name) : "";
  const bool equal = value == r.values[0];
  return r.op == SelectorOp::kIn ? equal : !equal;
}

bool matches(const SelectorTerm& term, const NodeInfo& node) {
  for (const auto& r : term.expressions) {
    if (!matches(r, node.labels)) return false;
  }
  for (const auto& r : term.fields) {
    if (!matches_field(r, node)) return false;
  }
  return true;
}

// ---- The pod, parsed once per schedule() call ----------------------------------

struct RequestedResource {
  std::string name;
  int64_t milli = 0;
  std::string insufficient_reason;  // "Insufficient <name>" or "Too many pods"
  bool is_pods = false;
};

struct PreferredTerm {
  int64_t weight = 0;
  SelectorTerm term;
};

struct SchedulingPod {
  PodRequests requests;
  std::vector<RequestedResource> resources;  // requests.milli, with their failure reasons
  std::vector<Toleration> tolerations;
  bool tolerates_unschedulable = false;
  std::vector<std::pair<std::string, std::string>> node_selector;
  // requiredDuringSchedulingIgnoredDuringExecution, when present: the pod
  // fits a node that matches any term (none, when every term was dropped).
  std::optional<std::vector<SelectorTerm>> required_terms;
  std::vector<PreferredTerm> preferred;
};

Result<SchedulingPod> parse_pod(const json& pod) {
  SchedulingPod out;
  auto requests = pod_requests(pod);
  if (!requests) return Unexpected(std::move(requests).error());
  out.requests = std::move(*requests);
  for (const auto& [name, milli] : out.requests.milli) {
    const bool is_pods = name == kPods;
    out.resources.push_back(
        {name, milli,
         is_pods ? std::string(kReasonTooManyPods) : std::string(kInsufficientPrefix) + name,
         is_pods});
  }

  const json& spec = child(pod, "spec");
  out.tolerations = parse_tolerations(child(spec, "tolerations"));
  out.tolerates_unschedulable = tolerates(
      out.tolerations, Taint{std::string(kTaintUnschedulable), "", std::string(kNoSchedule)});
  const json& selector = child(spec, "nodeSelector");
  if (selector.is_object()) {
    for (const auto& [key, value] : selector.items()) {
      out.node_selector.emplace_back(key, string_or_dump(value));
    }
  }
  const json& node_affinity = child(child(spec, "affinity"), "nodeAffinity");
  const json& required = child(node_affinity, "requiredDuringSchedulingIgnoredDuringExecution");
  if (required.is_object()) {
    out.required_terms.emplace();
    for (const auto& t : array_field(required, "nodeSelectorTerms")) {
      if (auto term = parse_term(t)) out.required_terms->push_back(std::move(*term));
    }
  }
  for (const auto& p :
       array_field(node_affinity, "preferredDuringSchedulingIgnoredDuringExecution")) {
    const json& weight = child(p, "weight");
    if (!weight.is_number_integer() || weight.get<int64_t>() == 0) continue;
    if (auto term = parse_term(child(p, "preference"))) {
      out.preferred.push_back({weight.get<int64_t>(), std::move(*term)});
    }
  }
  return out;
}

// ---- Filters, in the default profile's order -------------------------------------

bool blocks_scheduling(const Taint& t) { return t.effect == kNoSchedule || t.effect == kNoExecute; }

bool matches_node_selector(const SchedulingPod& pod, const NodeInfo& node) {
  for (const auto& [key, value] : pod.node_selector) {
    auto it = node.labels.find(key);
    if (it == node.labels.end() || it->second != value) return false;
  }
  if (!pod.required_terms) return true;
  for (const auto& term : *pod.required_terms) {
    if (matches(term, node)) return true;
  }
  return false;
}

const ResourceUse& use_of(const NodeInfo& node, std::string_view resource) {
  static const ResourceUse kNone;
  auto it = node.resources.find(resource);
  return it == node.resources.end() ? kNone : it->second;
}

// The reasons of the first filter that rejects the node, appended to
// `reasons`; nothing when the pod fits. The views point into the pod and the
// node. Like the real framework, filters stop at the first failing plugin,
// and NodeResourcesFit reports every short resource at once.
void filter(const SchedulingPod& pod, const NodeInfo& node,
            std::vector<std::string_view>& reasons) {
  if (node.unschedulable && !pod.tolerates_unschedulable) {
    reasons.push_back(kReasonNodeUnschedulable);
    return;
  }
  for (const auto& t : node.taints) {
    if (blocks_scheduling(t.taint) && !tolerates(pod.tolerations, t.taint)) {
      reasons.push_back(t.untolerated_reason);
      return;
    }
  }
  if (!matches_node_selector(pod, node)) {
    reasons.push_back(kReasonNodeAffinity);
    return;
  }
  for (const auto& r : pod.resources) {
    const ResourceUse& use = use_of(node, r.name);
    // fitsRequest checks the pod count always, other resources only when requested.
    const bool short_of = r.is_pods ? use.requested + r.milli > use.allocatable
                                    : r.milli > 0 && r.milli > use.allocatable - use.requested;
    if (short_of) reasons.push_back(r.insufficient_reason);
  }
}

// ---- Ranking -------------------------------------------------------------------------

struct Rank {
  int64_t preferred_weight = 0;       // higher is better
  int64_t intolerable_prefer = 0;     // lower is better
  double free_fraction = 0;           // higher is better
  const std::string* name = nullptr;  // lower is better
};

bool better(const Rank& a, const Rank& b) {
  if (a.preferred_weight != b.preferred_weight) return a.preferred_weight > b.preferred_weight;
  if (a.intolerable_prefer != b.intolerable_prefer) {
    return a.intolerable_prefer < b.intolerable_prefer;
  }
  if (a.free_fraction != b.free_fraction) return a.free_fraction > b.free_fraction;
  return *a.name < *b.name;
}

// noderesources leastRequestedScore, unscaled: the share left free after
// placement, 0 when the node has none of the resource or would be over.
double free_share(int64_t requested, int64_t allocatable) {
  if (allocatable <= 0 || requested > allocatable) return 0;
  return static_cast<double>(allocatable - requested) / static_cast<double>(allocatable);
}

Rank rank(const SchedulingPod& pod, const NodeInfo& node) {
  Rank r;
  r.name = &node.name;
  for (const auto& p : pod.preferred) {
    if (matches(p.term, node)) r.preferred_weight += p.weight;
  }
  for (const auto& t : node.taints) {
    if (t.taint.effect == kPreferNoSchedule && !tolerates(pod.tolerations, t.taint)) {
      ++r.intolerable_prefer;
    }
  }
  r.free_fraction = free_share(node.scoring_cpu_milli + pod.requests.scoring_cpu_milli,
                               use_of(node, kCpu).allocatable) +
                    free_share(node.scoring_memory_milli + pod.requests.scoring_memory_milli,
                               use_of(node, kMemory).allocatable);
  return r;
}

// ---- The failure message -------------------------------------------------------------

// Reason -> number of nodes. Views into the pod and nodes, which outlive it.
using Histogram = std::map<std::string_view, int>;

// FitError.Error(): "<count> <reason>" strings sorted as strings (so "10 x"
// sorts before "2 y", as Go's sort.Strings does), joined with ", ".
std::string unschedulable_message(size_t node_count, const Histogram& histogram) {
  std::vector<std::string> entries;
  entries.reserve(histogram.size());
  for (const auto& [reason, n] : histogram) {
    entries.push_back(std::to_string(n) + " " + std::string(reason));
  }
  std::sort(entries.begin(), entries.end());
  const std::string all = std::to_string(node_count);
  std::string msg = "0/" + all + " nodes are available:";
  for (size_t i = 0; i < entries.size(); ++i) {
    msg += i == 0 ? " " : ", ";
    msg += entries[i];
  }
  msg += ". preemption: 0/" + all + " nodes are available: " + all + " " +
         std::string(kPreemptionNotHelpful) + ".";
  return msg;
}

// ---- Node parsing helpers -----------------------------------------------------------

void add_condition_taint(NodeInfo& info, std::string_view key) {
  for (const auto& t : info.taints) {
    if (t.taint.key == key && t.taint.effect == kNoSchedule) return;
  }
  Taint taint{std::string(key), "", std::string(kNoSchedule)};
  std::string reason = untolerated_taint_reason(taint);
  info.taints.push_back({std::move(taint), std::move(reason)});
}

// The node lifecycle controller's view of the conditions: Ready False (or
// missing) -> not-ready, Unknown -> unreachable, a pressure condition True ->
// its pressure taint.
void add_condition_taints(NodeInfo& info, const json& conditions) {
  std::string ready;
  std::vector<std::string_view> pressures;
  for (const auto& c : conditions) {
    const std::string type = string_field(c, "type");
    const std::string status = string_field(c, "status");
    if (type == "Ready") ready = status;
    for (const auto& p : kPressureTaints) {
      if (type == p.condition && status == "True") pressures.push_back(p.taint);
    }
  }
  if (ready == "Unknown") {
    add_condition_taint(info, kTaintUnreachable);
  } else if (ready != "True") {
    add_condition_taint(info, kTaintNotReady);
  }
  for (auto p : pressures) add_condition_taint(info, p);
}

}  // namespace

// ---- Public ---------------------------------------------------------------------------

bool tolerates(const Toleration& t, const Taint& taint) {
  if (!t.effect.empty() && t.effect != taint.effect) return false;
  if (!t.key.empty() && t.key != taint.key) return false;
  if (t.op.empty() || t.op == "Equal") return t.value == taint.value;
  return t.op == "Exists";
}

bool tolerates(const std::vector<Toleration>& tolerations, const Taint& taint) {
  for (const auto& t : tolerations) {
    if (tolerates(t, taint)) return true;
  }
  return false;
}

std::vector<Toleration> parse_tolerations(const json& tolerations) {
  std::vector<Toleration> out;
  if (!tolerations.is_array()) return out;
  for (const auto& t : tolerations) {
    if (!t.is_object()) continue;
    out.push_back(Toleration{string_field(t, "key"), string_field(t, "operator"),
                             string_field(t, "value"), string_field(t, "effect")});
  }
  return out;
}

bool tolerates(const json& tolerations, const Taint& taint) {
  return tolerates(parse_tolerations(tolerations), taint);
}

Result<NodeInfo> node_info(const NodeSnapshot& snapshot) {
  const json& node = snapshot.node;
  NodeInfo info;
  info.name = snapshot.name.empty() ? object_name(node) : snapshot.name;
  auto fail = [&](FieldCause cause) {
    return Unexpected(invalid("", "Node", info.name, {std::move(cause)}));
  };
  const json& labels = child(child(node, "metadata"), "labels");
  if (labels.is_object()) {
    for (const auto& [key, value] : labels.items()) info.labels.emplace(key, string_or_dump(value));
  }
  const json& spec = child(node, "spec");
  for (const auto& t : array_field(spec, "taints")) {
    if (!t.is_object()) continue;
    Taint taint{string_field(t, "key"), string_field(t, "value"), string_field(t, "effect")};
    std::string reason = untolerated_taint_reason(taint);
    info.taints.push_back({std::move(taint), std::move(reason)});
  }
  info.unschedulable = child(spec, "unschedulable") == true;
  add_condition_taints(info, array_field(child(node, "status"), "conditions"));

  auto allocatable =
      parse_resource_list(child(child(node, "status"), "allocatable"), "status.allocatable");
  if (!allocatable) return fail(std::move(allocatable).error());
  for (const auto& [name, milli] : *allocatable) info.resources[name].allocatable = milli;
  for (const auto& [name, milli] : snapshot.requested_milli)
    info.resources[name].requested += milli;
  info.scoring_cpu_milli = snapshot.scoring_cpu_milli.value_or(use_of(info, kCpu).requested);
  info.scoring_memory_milli =
      snapshot.scoring_memory_milli.value_or(use_of(info, kMemory).requested);
  return info;
}

Result<PodRequests> pod_requests(const json& pod) {
  const json& spec = child(pod, "spec");
  auto fail = [&](FieldCause cause) {
    return Unexpected(invalid("", "Pod", object_name(pod), {std::move(cause)}));
  };
  auto containers = all_container_requests(spec, "containers");
  if (!containers) return fail(std::move(containers).error());
  auto init_containers = all_container_requests(spec, "initContainers");
  if (!init_containers) return fail(std::move(init_containers).error());
  auto overhead = parse_resource_list(child(spec, "overhead"), "spec.overhead");
  if (!overhead) return fail(std::move(overhead).error());

  PodRequests out;
  out.milli = combine(*containers, *init_containers, &ContainerRequests::requests);
  ResourceList scoring = combine(*containers, *init_containers, &ContainerRequests::scoring);
  // Overhead counts for fitting and for ranking alike (PodRequests without
  // ExcludeOverhead in both of the scheduler's calls).
  add_list(out.milli, *overhead);
  add_list(scoring, *overhead);
  out.milli[std::string(kPods)] = kPodSlotMilli;
  out.scoring_cpu_milli = scoring[std::string(kCpu)];
  out.scoring_memory_milli = scoring[std::string(kMemory)];
  return out;
}

void add_pod(NodeInfo& node, const PodRequests& pod) {
  for (const auto& [name, milli] : pod.milli) node.resources[name].requested += milli;
  node.scoring_cpu_milli += pod.scoring_cpu_milli;
  node.scoring_memory_milli += pod.scoring_memory_milli;
}

void remove_pod(NodeInfo& node, const PodRequests& pod) {
  for (const auto& [name, milli] : pod.milli) node.resources[name].requested -= milli;
  node.scoring_cpu_milli -= pod.scoring_cpu_milli;
  node.scoring_memory_milli -= pod.scoring_memory_milli;
}

ScheduleDecision schedule(const json& pod_json, const std::vector<NodeInfo>& nodes) {
  ScheduleDecision decision;
  if (nodes.empty()) {
    decision.reason = kReasonUnschedulable;
    decision.message = kNoNodesAvailable;
    return decision;
  }
  auto pod = parse_pod(pod_json);
  if (!pod) {
    decision.reason = kReasonSchedulerError;
    decision.message = pod.error().message;
    return decision;
  }

  std::optional<Rank> best;
  Histogram histogram;
  std::vector<std::string_view> reasons;
  for (const auto& node : nodes) {
    reasons.clear();
    filter(*pod, node, reasons);
    if (!reasons.empty()) {
      for (auto r : reasons) ++histogram[r];
      continue;
    }
    Rank r = rank(*pod, node);
    if (!best || better(r, *best)) best = r;
  }
  if (best) {
    decision.node = *best->name;
    return decision;
  }
  decision.reason = kReasonUnschedulable;
  decision.message = unschedulable_message(nodes.size(), histogram);
  return decision;
}

}  // namespace kubesim
