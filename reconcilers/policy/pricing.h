// What things cost: a PriceBook parsed from its API object, a Node classified
// (spot or on-demand, instance type, being interrupted), the Node's hourly
// price split into per-unit rates the way OpenCost splits it, and a pod's
// hourly rate on that node. Pure functions over JSON values and plain
// structs; the PriceBook and TrainingJob reconcilers gather the objects.
//
// Money is double USD throughout. Rates are derived by one division and one
// multiplication each, so they carry a relative error near 1e-16; the cost
// integrator (cost.h) sums with compensation so totals stay exact to the cent.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"

namespace frugal::policy {

using json = nlohmann::json;

// OpenCost's default pricing (opencost configs/default.json: CPU "0.031611",
// RAM "0.004237", GPU "0.95" USD per unit-hour), the contract's defaults for
// spec.fallback.
inline constexpr double kOpenCostCpuCoreHourlyUSD = 0.031611;
inline constexpr double kOpenCostMemoryGiBHourlyUSD = 0.004237;
inline constexpr double kOpenCostGpuHourlyUSD = 0.95;
// Contract: 1.0 = no assumed spot discount for unpriced spot nodes.
inline constexpr double kDefaultSpotMultiplier = 1.0;
inline constexpr char kDefaultCurrency[] = "USD";
inline constexpr char kDefaultInstanceTypeLabel[] = "node.kubernetes.io/instance-type";
// The extended resource GPUs are requested and priced by (NVIDIA device plugin).
inline constexpr char kGpuResource[] = "nvidia.com/gpu";
// kubelet --max-pods default; used only when a Node does not report
// allocatable "pods" (real kubelets always do).
inline constexpr int64_t kDefaultMaxPods = 110;

enum class CapacityType { kSpot, kOnDemand };
// "spot" | "on-demand", the status.capacityType values.
std::string_view to_string(CapacityType type);

enum class PriceSource { kPriceBook, kFallback };
// "pricebook" | "fallback", the price_source label values.
std::string_view to_string(PriceSource source);

// ---- PriceBook ----------------------------------------------------------------

struct InstanceTypePrice {
  std::string name;
  double on_demand_hourly_usd = 0;
  std::optional<double> spot_hourly_usd;  // absent: spot nodes of this type use fallback
  int64_t gpus = 0;
  std::string gpu_type;
  std::optional<int64_t> cpu_milli;     // spec cpu quantity, when given
  std::optional<int64_t> memory_bytes;  // spec memory quantity, when given
};

struct FallbackRates {
  double cpu_core_hourly_usd = kOpenCostCpuCoreHourlyUSD;
  double memory_gib_hourly_usd = kOpenCostMemoryGiBHourlyUSD;
  double gpu_hourly_usd = kOpenCostGpuHourlyUSD;
  double spot_multiplier = kDefaultSpotMultiplier;
};

// One capacity-type label rule. The first rule whose key the node carries
// with a listed value decides; a node matching none is on-demand.
struct CapacityTypeLabel {
  std::string key;
  std::vector<std::string> spot_values;
  std::vector<std::string> on_demand_values;
};

struct PriceBook {
  std::string name;  // metadata.name
  std::string currency = kDefaultCurrency;
  std::vector<InstanceTypePrice> instance_types;
  FallbackRates fallback;
  std::vector<CapacityTypeLabel> capacity_type_labels;
  std::vector<std::string> interruption_taints;
  std::string instance_type_label = kDefaultInstanceTypeLabel;

  const InstanceTypePrice* find(std::string_view instance_type) const;
};

// The contract's default labels (Karpenter, EKS, GKE, AKS) and taints.
std::vector<CapacityTypeLabel> default_capacity_type_labels();
std::vector<std::string> default_interruption_taints();
// A PriceBook with no instance types and every default: what pricing uses
// when the cluster has no PriceBook at all (every node priced by fallback).
PriceBook default_price_book();

// The whole PriceBook object as read from the API. Missing fields get the
// contract's defaults (as the server would have applied); a present but empty
// list stays empty. Every problem is reported, joined by "; ", each naming
// its field: "spec.instanceTypes[2].onDemandHourlyUSD: must be >= 0".
Expected<PriceBook, std::string> parse_price_book(const json& object);

// ---- Resources ------------------------------------------------------------------

// The resources the cost model and the placement care about, in the units
// kube-scheduler compares them in (cpu milli-cores; memory, GPUs and pods as
// whole values). Other extended resources are ignored.
struct Resources {
  int64_t cpu_milli = 0;
  int64_t memory_bytes = 0;
  int64_t gpus = 0;  // nvidia.com/gpu
  int64_t pods = 0;

  double cpu_cores() const { return static_cast<double>(cpu_milli) / 1000.0; }
  double memory_gib() const;
  Resources& operator+=(const Resources& o);
  Resources& operator-=(const Resources& o);
  friend bool operator==(const Resources&, const Resources&) = default;
};

// status.allocatable of a Node (pods defaults to kDefaultMaxPods when absent).
// Errors name the field: "status.allocatable[cpu]: quantities must match ...".
Expected<Resources, std::string> node_allocatable(const json& node);

// What a pod (or PodTemplateSpec: anything with a "spec") requests, as
// component-helpers PodRequests computes it: containers add up; each init
// container runs alone beside the sidecars (restartPolicy Always) started
// before it, and the pod needs the larger, per resource; spec.overhead adds.
// A container's limit stands in for an absent request (API server
// defaulting). pods is 1.
Expected<Resources, std::string> pod_requests(const json& pod);

// ---- Nodes ------------------------------------------------------------------------

struct NodeClass {
  std::string name;
  CapacityType capacity_type = CapacityType::kOnDemand;
  std::string instance_type;  // "" when the node has no instanceTypeLabel
  bool interrupting = false;
  std::string interruption_taint;  // the first matching taint key, when interrupting
};

NodeClass classify_node(const json& node, const PriceBook& book);

// Per-unit hourly rates a pod's requests are multiplied by.
struct UnitRates {
  double cpu_core_hour = 0;
  double memory_gib_hour = 0;
  double gpu_hour = 0;
};

struct NodePrice {
  double hourly_usd = 0;
  double on_demand_hourly_usd = 0;  // the same node on-demand, for savings
  PriceSource source = PriceSource::kFallback;
  UnitRates rates;            // hourly_usd split over the node's allocatable
  UnitRates on_demand_rates;  // on_demand_hourly_usd split the same way
};

// The OpenCost split: price P over a node with c cores, m GiB, g GPUs and
// fallback rates (rc, rm, rg) gives rates (rc, rm, rg) * P / (c*rc + m*rm + g*rg),
// so c*cpu + m*mem + g*gpu re-sums to P. A node whose allocatable is worth
// nothing at fallback rates gets zero rates (its price cannot be split).
UnitRates split_price(double hourly_usd, const Resources& allocatable,
                      const FallbackRates& fallback);

// Prices a classified node with the given allocatable.
//  - Instance type in the book, on-demand node: onDemandHourlyUSD, source pricebook.
//  - In the book, spot node with spotHourlyUSD: that, source pricebook.
//  - Otherwise fallback: rates x allocatable (x spotMultiplier on spot nodes),
//    source fallback. The on-demand equivalent is the book's onDemandHourlyUSD
//    when the type is listed, else the fallback rates x allocatable.
// Where the node does not report a GPU (or cpu/memory) count but the book's
// entry gives one, the entry's count is used for the split and fallback price.
NodePrice price_node(const NodeClass& node, const Resources& allocatable, const PriceBook& book);
// classify_node + node_allocatable + price_node.
Expected<NodePrice, std::string> price_node(const json& node, const PriceBook& book);

struct PodRate {
  double hourly_usd = 0;
  double on_demand_hourly_usd = 0;
  int64_t gpus = 0;
  PriceSource source = PriceSource::kFallback;
};

// requests (cores, GiB, GPUs) x the node's per-unit rates.
PodRate price_pod(const Resources& requests, const NodePrice& node);

}  // namespace frugal::policy
