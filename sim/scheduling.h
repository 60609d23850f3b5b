// The placement decision of kubesim's simulated scheduler: for one Pending
// pod and a snapshot of the nodes, which node it goes to or why none will take
// it. It reproduces the parts of kube-scheduler's default profile that matter
// for workloads without volumes or pod (anti-)affinity — the filters
// NodeUnschedulable, TaintToleration, NodeAffinity and NodeResourcesFit, in
// that order, and the failure message the scheduler writes to the pod's
// PodScheduled condition — and ranks fitting nodes deterministically instead
// of by weighted random tie-breaks. Pure functions: the engine gathers the
// state, calls schedule(), and binds or reports.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/api_error.h"
#include "sim/taint.h"

namespace kubesim {

// v1.Toleration. An empty op means "Equal", an empty key with "Exists"
// tolerates every taint, an empty effect matches every effect.
struct Toleration {
  std::string key;
  std::string op;
  std::string value;
  std::string effect;
};

// v1.Toleration.ToleratesTaint, to the letter.
bool tolerates(const Toleration& toleration, const Taint& taint);
bool tolerates(const std::vector<Toleration>& tolerations, const Taint& taint);
// pod.spec.tolerations as JSON; entries that are not objects are ignored.
std::vector<Toleration> parse_tolerations(const json& tolerations);
bool tolerates(const json& tolerations, const Taint& taint);

// What the engine knows about one node.
struct NodeSnapshot {
  std::string name;
  json node;  // v1 Node: labels, spec.taints, spec.unschedulable, status.conditions/allocatable
  // Sum of the requests (PodRequests::milli) of the non-terminal pods bound
  // to the node, "pods" included as count * 1000.
  std::map<std::string, int64_t> requested_milli;
  // Only for ranking: the same pods' cpu and memory with kube-scheduler's
  // defaults for containers that request none (PodRequests::scoring_*). When
  // absent, ranking uses requested_milli's cpu and memory.
  std::optional<int64_t> scoring_cpu_milli;
  std::optional<int64_t> scoring_memory_milli;
};

// A resource on a node, in milli-units.
struct ResourceUse {
  int64_t allocatable = 0;
  int64_t requested = 0;
};

// A taint with the reason TaintToleration reports when a pod does not
// tolerate it, formatted once per node rather than once per pod.
struct NodeTaint {
  Taint taint;
  std::string untolerated_reason;
};

// A node parsed once, so that scheduling many pods over it is cheap.
struct NodeInfo {
  std::string name;
  std::map<std::string, std::string, std::less<>> labels;
  // spec.taints in order, then the taints the node lifecycle controller
  // derives from conditions (not-ready, unreachable, *-pressure) when absent.
  std::vector<NodeTaint> taints;
  bool unschedulable = false;
  // status.allocatable and the snapshot's requested; a resource the node
  // does not list is absent here and has allocatable 0.
  std::map<std::string, ResourceUse, std::less<>> resources;
  int64_t scoring_cpu_milli = 0;
  int64_t scoring_memory_milli = 0;
};

// Errors (a malformed allocatable quantity) name the field.
Result<NodeInfo> node_info(const NodeSnapshot& snapshot);

// What one pod takes from a node.
struct PodRequests {
  // max(sum of containers + sidecars, max over init containers) + overhead,
  // per resource, requests defaulted from limits; always "pods": 1000.
  std::map<std::string, int64_t> milli;
  // cpu and memory as kube-scheduler ranks them: containers without a
  // request count 100m cpu / 200Mi memory, so best-effort pods spread too.
  int64_t scoring_cpu_milli = 0;
  int64_t scoring_memory_milli = 0;
};

// Errors (a malformed quantity) name the field, e.g.
// spec.containers[0].resources.requests[cpu].
Result<PodRequests> pod_requests(const json& pod);

// Account a pod bound to (or leaving) the node, e.g. between two
// schedule() calls in one pass over the queue.
void add_pod(NodeInfo& node, const PodRequests& pod);
void remove_pod(NodeInfo& node, const PodRequests& pod);

// v1.PodReasonUnschedulable / v1.PodReasonSchedulerError.
inline constexpr std::string_view kReasonUnschedulable = "Unschedulable";
inline constexpr std::string_view kReasonSchedulerError = "SchedulerError";

struct ScheduleDecision {
  std::optional<std::string> node;  // set when the pod fits somewhere
  std::string reason;               // PodScheduled=False reason when it does not
  std::string message;              // ... and its message, as kube-scheduler writes it
};

// Filters every node (no percentageOfNodesToScore sampling), then picks by:
// highest sum of matching preferred node-affinity weights; fewest
// PreferNoSchedule taints the pod does not tolerate; most free cpu+memory
// fraction after placement (LeastAllocated); smallest name.
ScheduleDecision schedule(const json& pod, const std::vector<NodeInfo>& nodes);

}  // namespace kubesim
