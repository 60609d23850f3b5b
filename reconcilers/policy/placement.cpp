#include "reconcilers/policy/placement.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "common/quantity.h"
#include "reconcilers/policy/object_read.h"

namespace frugal::policy {
namespace {

// Prices closer than this (USD per worker-hour) are a tie: they come from
// the same book entry split over slightly different allocatables.
constexpr double kPriceTieUSD = 1e-9;

// Taints the node lifecycle controller and kubectl cordon put on nodes
// (k8s.io/api/core/v1 well_known_taints.go).
constexpr std::string_view kTaintNotReady = "node.kubernetes.io/not-ready";
constexpr std::string_view kTaintUnreachable = "node.kubernetes.io/unreachable";
constexpr std::string_view kTaintUnschedulable = "node.kubernetes.io/unschedulable";

// kube-scheduler's wording where one exists (NodeUnschedulable's
// ErrReasonUnschedulable, noderesources' "Insufficient %v" / "Too many pods").
constexpr std::string_view kReasonUnschedulableNode = "node(s) were unschedulable";
constexpr std::string_view kReasonNotReady = "node(s) were not ready";
constexpr std::string_view kReasonNotAllowed = "node(s) didn't match the instance-type allow-list";
constexpr std::string_view kReasonTooManyPods = "Too many pods";

using object_read::at;

// How many copies of `worker` fit into `room`.
int64_t copies_fitting(const Resources& room, const Resources& worker) {
  int64_t n = std::max<int64_t>(0, worker.pods > 0 ? room.pods / worker.pods : room.pods);
  auto limit = [&](int64_t have, int64_t need) {
    if (need > 0) n = std::min(n, std::max<int64_t>(0, have / need));
  };
  limit(room.cpu_milli, worker.cpu_milli);
  limit(room.memory_bytes, worker.memory_bytes);
  limit(room.gpus, worker.gpus);
  return n;
}

// The "Insufficient X" reasons for one worker against `room`, in the
// scheduler's resource order (pods, cpu, memory, extended).
std::vector<std::string> shortages(const Resources& room, const Resources& worker) {
  std::vector<std::string> out;
  if (room.pods < std::max<int64_t>(worker.pods, 1)) out.emplace_back(kReasonTooManyPods);
  if (worker.cpu_milli > room.cpu_milli) out.emplace_back("Insufficient cpu");
  if (worker.memory_bytes > room.memory_bytes) out.emplace_back("Insufficient memory");
  if (worker.gpus > room.gpus) out.push_back(std::string("Insufficient ") + kGpuResource);
  return out;
}

std::string describe(const Resources& r) {
  std::vector<std::string> parts;
  if (r.cpu_milli > 0) parts.push_back("cpu: " + format_quantity_milli(r.cpu_milli));
  if (r.memory_bytes > 0) {
    parts.push_back("memory: " + format_quantity_milli(r.memory_bytes * 1000, true));
  }
  if (r.gpus > 0) parts.push_back(std::string(kGpuResource) + ": " + std::to_string(r.gpus));
  if (parts.empty()) return "no resources";
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

// FitError.Error() style: "<n> <reason>" sorted as strings, joined by ", ".
std::string histogram_text(const std::map<std::string, int>& histogram) {
  std::vector<std::string> entries;
  entries.reserve(histogram.size());
  for (const auto& [reason, n] : histogram) entries.push_back(std::to_string(n) + " " + reason);
  std::sort(entries.begin(), entries.end());
  std::string out;
  for (const auto& e : entries) out += (out.empty() ? "" : ", ") + e;
  return out;
}

bool allowed_type(const GangRequest& gang, const std::string& type) {
  return gang.instance_types.empty() ||
         std::find(gang.instance_types.begin(), gang.instance_types.end(), type) !=
             gang.instance_types.end();
}

struct Candidate {
  const PlacementNode* node;
  int64_t room;  // workers it can take now
};

struct Pool {
  std::string instance_type;
  CapacityType capacity_type;
  std::vector<Candidate> nodes;
  int64_t room = 0;
};

// First fit over the pool's nodes, most room first, then by name.
PoolChoice pack(Pool& pool, const GangRequest& gang) {
  std::sort(pool.nodes.begin(), pool.nodes.end(), [](const Candidate& a, const Candidate& b) {
    if (a.room != b.room) return a.room > b.room;
    return a.node->node.name < b.node->node.name;
  });
  PoolChoice choice;
  choice.instance_type = pool.instance_type;
  choice.capacity_type = pool.capacity_type;
  double paid = 0;
  double on_demand = 0;
  bool fallback = false;
  for (const Candidate& c : pool.nodes) {
    const PodRate rate = price_pod(gang.per_worker, c.node->price);
    for (int64_t i = 0; i < c.room && static_cast<int64_t>(choice.nodes.size()) < gang.workers;
         ++i) {
      choice.nodes.push_back(c.node->node.name);
      paid += rate.hourly_usd;
      on_demand += rate.on_demand_hourly_usd;
      fallback = fallback || c.node->price.source == PriceSource::kFallback;
    }
    if (static_cast<int64_t>(choice.nodes.size()) >= gang.workers) break;
  }
  const double n = static_cast<double>(choice.nodes.size());
  choice.price_per_worker_hourly_usd = paid / n;
  choice.on_demand_per_worker_hourly_usd = on_demand / n;
  choice.source = fallback ? PriceSource::kFallback : PriceSource::kPriceBook;
  return choice;
}

bool cheaper(const PoolChoice& a, const PoolChoice& b) {
  if (std::abs(a.price_per_worker_hourly_usd - b.price_per_worker_hourly_usd) > kPriceTieUSD) {
    return a.price_per_worker_hourly_usd < b.price_per_worker_hourly_usd;
  }
  if (std::abs(a.on_demand_per_worker_hourly_usd - b.on_demand_per_worker_hourly_usd) >
      kPriceTieUSD) {
    return a.on_demand_per_worker_hourly_usd < b.on_demand_per_worker_hourly_usd;
  }
  return a.name() < b.name();
}

}  // namespace

std::string_view to_string(Preference preference) {
  switch (preference) {
    case Preference::kSpot:
      return "Spot";
    case Preference::kOnDemand:
      return "OnDemand";
    case Preference::kSpotWithFallback:
      return "SpotWithFallback";
  }
  return "SpotWithFallback";
}

std::optional<Preference> parse_preference(std::string_view text) {
  for (Preference p : {Preference::kSpot, Preference::kOnDemand, Preference::kSpotWithFallback}) {
    if (text == to_string(p)) return p;
  }
  return std::nullopt;
}

std::string pool_name(std::string_view instance_type, CapacityType capacity_type) {
  return std::string(instance_type.empty() ? "unknown" : instance_type) + "/" +
         std::string(to_string(capacity_type));
}

bool pod_is_terminal(const json& pod) {
  const json& phase = at(at(pod, "status"), "phase");
  return phase.is_string() && (phase == "Succeeded" || phase == "Failed");
}

Expected<PlacementNode, std::string> placement_node(const json& node,
                                                    const std::vector<Resources>& bound_pods,
                                                    const PriceBook& book) {
  auto allocatable = node_allocatable(node);
  if (!allocatable) return Unexpected(std::move(allocatable).error());
  PlacementNode out;
  out.node = classify_node(node, book);
  out.allocatable = *allocatable;
  out.price = price_node(out.node, out.allocatable, book);
  out.free = out.allocatable;
  for (const auto& pod : bound_pods) out.free -= pod;

  const json& spec = at(node, "spec");
  out.unschedulable = at(spec, "unschedulable") == true;
  const json& taints = at(spec, "taints");
  if (taints.is_array()) {
    for (const auto& t : taints) {
      const json& key = at(t, "key");
      if (!key.is_string()) continue;
      if (key == kTaintNotReady || key == kTaintUnreachable) out.ready = false;
      if (key == kTaintUnschedulable) out.unschedulable = true;
    }
  }
  const json& conditions = at(at(node, "status"), "conditions");
  if (conditions.is_array()) {
    for (const auto& c : conditions) {
      if (at(c, "type") == "Ready" && at(c, "status") != "True") out.ready = false;
    }
  }
  return out;
}

Expected<PoolChoice, NoFit> choose_pool(const std::vector<PlacementNode>& nodes,
                                        const GangRequest& gang) {
  const std::string each = describe(gang.per_worker);
  if (gang.workers < 1) {
    return Unexpected(
        NoFit{NoFitKind::kNever, kReasonRequestsExceedNodeCapacity,
              "the gang needs at least 1 worker, got " + std::to_string(gang.workers)});
  }
  const bool on_demand_only = gang.fell_back || gang.preference == Preference::kOnDemand;
  const bool spot_only = !on_demand_only && gang.preference == Preference::kSpot;
  auto wanted = [&](CapacityType t) {
    if (on_demand_only) return t == CapacityType::kOnDemand;
    if (spot_only) return t == CapacityType::kSpot;
    return true;
  };
  const std::string preference_reason =
      gang.fell_back
          ? "node(s) were spot after the fallback to on-demand"
          : "node(s) didn't match capacity preference " + std::string(to_string(gang.preference));

  std::map<std::string, int> now_reasons;   // why a node takes no worker now
  std::map<std::string, int> ever_reasons;  // why an empty eligible node takes none
  std::map<std::string, Pool> pools;        // by pool name
  Resources largest;                        // per resource, over eligible nodes
  int eligible = 0;
  int ever_fit = 0;
  int fit_now = 0;
  for (const PlacementNode& n : nodes) {
    if (!allowed_type(gang, n.node.instance_type)) {
      ++now_reasons[std::string(kReasonNotAllowed)];
      continue;
    }
    if (!wanted(n.node.capacity_type)) {
      ++now_reasons[preference_reason];
      continue;
    }
    ++eligible;
    largest.cpu_milli = std::max(largest.cpu_milli, n.allocatable.cpu_milli);
    largest.memory_bytes = std::max(largest.memory_bytes, n.allocatable.memory_bytes);
    largest.gpus = std::max(largest.gpus, n.allocatable.gpus);
    largest.pods = std::max(largest.pods, n.allocatable.pods);
    const std::vector<std::string> never = shortages(n.allocatable, gang.per_worker);
    if (never.empty()) {
      ++ever_fit;
    } else {
      for (const auto& r : never) ++ever_reasons[r];
    }

    if (n.unschedulable) {
      ++now_reasons[std::string(kReasonUnschedulableNode)];
      continue;
    }
    if (!n.ready) {
      ++now_reasons[std::string(kReasonNotReady)];
      continue;
    }
    if (n.node.interrupting) {
      ++now_reasons["node(s) had interruption taint {" + n.node.interruption_taint + "}"];
      continue;
    }
    const int64_t room = copies_fitting(n.free, gang.per_worker);
    if (room == 0) {
      for (const auto& r : shortages(n.free, gang.per_worker)) ++now_reasons[r];
      continue;
    }
    ++fit_now;
    const std::string name = pool_name(n.node.instance_type, n.node.capacity_type);
    Pool& pool = pools[name];
    pool.instance_type = n.node.instance_type;
    pool.capacity_type = n.node.capacity_type;
    pool.nodes.push_back({&n, room});
    pool.room += room;
  }

  // Spot first under SpotWithFallback; a single tier otherwise.
  std::vector<CapacityType> tiers;
  if (on_demand_only) {
    tiers = {CapacityType::kOnDemand};
  } else if (spot_only) {
    tiers = {CapacityType::kSpot};
  } else {
    tiers = {CapacityType::kSpot, CapacityType::kOnDemand};
  }
  auto avoided = [&gang](const std::string& name) {
    return std::find(gang.avoid_pools.begin(), gang.avoid_pools.end(), name) !=
           gang.avoid_pools.end();
  };
  for (const bool avoiding : {true, false}) {
    for (CapacityType tier : tiers) {
      std::optional<PoolChoice> best;
      for (auto& [name, pool] : pools) {  // by name: deterministic
        if (pool.capacity_type != tier || pool.room < gang.workers) continue;
        if (avoiding && avoided(name)) continue;
        PoolChoice choice = pack(pool, gang);
        if (!best || cheaper(choice, *best)) best = std::move(choice);
      }
      if (best) return *std::move(best);
    }
    if (gang.avoid_pools.empty()) break;
  }

  const std::string total = std::to_string(nodes.size());
  if (eligible > 0 && ever_fit == 0) {
    std::string msg = "a worker (" + each + ") exceeds the allocatable of every eligible node: 0/" +
                      std::to_string(eligible) +
                      " nodes could ever fit it: " + histogram_text(ever_reasons);
    std::vector<std::string> largest_parts;
    if (gang.per_worker.cpu_milli > largest.cpu_milli) {
      largest_parts.push_back("cpu: " + format_quantity_milli(largest.cpu_milli));
    }
    if (gang.per_worker.memory_bytes > largest.memory_bytes) {
      largest_parts.push_back("memory: " +
                              format_quantity_milli(largest.memory_bytes * 1000, true));
    }
    if (gang.per_worker.gpus > largest.gpus) {
      largest_parts.push_back(std::string(kGpuResource) + ": " + std::to_string(largest.gpus));
    }
    if (largest_parts.empty()) {
      msg += " (no node has all of them at once)";
    } else {
      std::string parts;
      for (const auto& p : largest_parts) parts += (parts.empty() ? "" : ", ") + p;
      msg += " (the most any node has: " + parts + ")";
    }
    return Unexpected(NoFit{NoFitKind::kNever, kReasonRequestsExceedNodeCapacity, msg + "."});
  }

  std::string msg = "no node pool has room for " + std::to_string(gang.workers) + " worker(s) (" +
                    each + " each) now: " + std::to_string(fit_now) + "/" + total +
                    " nodes fit a worker";
  if (nodes.empty()) msg = "no node pool has room for the gang now: no nodes available";
  if (!now_reasons.empty()) msg += ": " + histogram_text(now_reasons);
  std::string partial;
  for (const auto& [name, pool] : pools) {
    partial += (partial.empty() ? "" : ", ") + name + " fits " + std::to_string(pool.room) +
               " of " + std::to_string(gang.workers);
  }
  if (!partial.empty()) msg += "; " + partial;
  return Unexpected(NoFit{NoFitKind::kNotNow, kReasonInsufficientCapacity, msg + "."});
}

}  // namespace frugal::policy
