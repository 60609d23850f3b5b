// Cheapest fit for a training gang: which node pool (instance type x
// capacity type) can take all N workers right now for the least money, or
// why none can — either never (a worker is larger than any node: the spec is
// invalid) or not now (wait in the queue). Pure: the TrainingJob reconciler
// builds PlacementNodes from its caches and calls choose_pool().
//
// Scope: the pods' own nodeSelector, affinity and tolerations are the
// scheduler's business, not this choice's; placement only skips nodes that
// are being interrupted, cordoned or not Ready, and honours the capacity
// preference and the instance-type allow-list.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"
#include "reconcilers/policy/pricing.h"

namespace frugal::policy {

enum class Preference { kSpot, kOnDemand, kSpotWithFallback };
// "Spot" | "OnDemand" | "SpotWithFallback" (spec.capacity.preference).
std::string_view to_string(Preference preference);
std::optional<Preference> parse_preference(std::string_view text);

// "g5.xlarge/spot", status.nodePool; "unknown" stands for a missing type.
std::string pool_name(std::string_view instance_type, CapacityType capacity_type);

struct PlacementNode {
  NodeClass node;  // name, capacity type, instance type, interrupting
  NodePrice price;
  Resources allocatable;
  Resources free;  // allocatable minus the requests of the non-terminal pods bound to it
  // A node is Ready unless its Ready condition is present and not "True", or
  // it carries the node.kubernetes.io/not-ready or /unreachable taint.
  bool ready = true;
  // spec.unschedulable (kubectl cordon) or the node.kubernetes.io/unschedulable taint.
  bool unschedulable = false;
};

// status.phase Succeeded or Failed: the pod no longer holds its requests.
bool pod_is_terminal(const json& pod);

// One Node object plus pod_requests() of each non-terminal pod bound to it.
Expected<PlacementNode, std::string> placement_node(const json& node,
                                                    const std::vector<Resources>& bound_pods,
                                                    const PriceBook& book);

struct GangRequest {
  int64_t workers = 1;
  Resources per_worker;  // pod_requests(template); pods = 1
  Preference preference = Preference::kSpotWithFallback;
  bool fell_back = false;                   // once true: on-demand pools only
  std::vector<std::string> instance_types;  // allow-list; empty = any
  // Pools (PoolChoice::name(), e.g. "g5.xlarge/spot") chosen only when no
  // other pool fits now: one that just failed to bind the gang.
  std::vector<std::string> avoid_pools;
};

struct PoolChoice {
  std::string instance_type;
  CapacityType capacity_type = CapacityType::kSpot;
  // Mean over the workers' assigned nodes of requests x per-unit rates.
  double price_per_worker_hourly_usd = 0;
  double on_demand_per_worker_hourly_usd = 0;
  // fallback when any assigned node is priced by fallback (never hidden).
  PriceSource source = PriceSource::kPriceBook;
  // Node name for each worker, from the first-fit packing (largest room first).
  std::vector<std::string> nodes;

  std::string name() const { return pool_name(instance_type, capacity_type); }
};

enum class NoFitKind {
  kNever,   // no eligible node could hold even one worker when empty: spec invalid
  kNotNow,  // some could, but no pool has room for the gang now: wait
};

struct NoFit {
  NoFitKind kind = NoFitKind::kNotNow;
  std::string reason;   // "RequestsExceedNodeCapacity" | "InsufficientCapacity"
  std::string message;  // kube-scheduler-like: what was short on how many nodes
};

inline constexpr char kReasonRequestsExceedNodeCapacity[] = "RequestsExceedNodeCapacity";
inline constexpr char kReasonInsufficientCapacity[] = "InsufficientCapacity";

// Pools are candidates by preference: Spot -> spot pools; OnDemand or
// fell_back -> on-demand pools; SpotWithFallback -> spot pools if one fits,
// else on-demand pools. A pool fits when first-fit over its usable nodes
// (most room first, then name) places all workers against free cpu, memory,
// GPUs and pod slots. The cheapest fitting pool per worker wins; ties (within
// 1e-9 USD/h) go to the lower on-demand price per worker, then the pool name.
Expected<PoolChoice, NoFit> choose_pool(const std::vector<PlacementNode>& nodes,
                                        const GangRequest& gang);

}  // namespace frugal::policy
