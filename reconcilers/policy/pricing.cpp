#include "reconcilers/policy/pricing.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <utility>

#include "common/quantity.h"
#include "reconcilers/policy/object_read.h"

namespace frugal::policy {
namespace {

using object_read::at;

constexpr double kBytesPerGiB = 1024.0 * 1024.0 * 1024.0;

std::string string_or_dump(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// Collects "<path>: <problem>" strings.
class Problems {
 public:
  void add(const std::string& path, const std::string& what) {
    list_.push_back(path + ": " + what);
  }
  bool empty() const { return list_.empty(); }
  std::string joined() const {
    std::string out;
    for (const auto& p : list_) out += (out.empty() ? "" : "; ") + p;
    return out;
  }

 private:
  std::vector<std::string> list_;
};

// Shortest text for a bound: 0 -> "0", 0.5 -> "0.5".
std::string number_text(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

std::string index_path(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// A number field: nullopt when absent (or null) or wrong.
std::optional<double> read_number(const json& parent, const char* key, const std::string& path,
                                  Problems& problems, double minimum,
                                  std::optional<double> maximum = std::nullopt) {
  const json& v = at(parent, key);
  if (v.is_null()) return std::nullopt;
  const std::string where = path + "." + key;
  if (!v.is_number()) {
    problems.add(where, "must be a number");
    return std::nullopt;
  }
  const double d = v.get<double>();
  if (d < minimum) {
    problems.add(where, "must be >= " + number_text(minimum));
    return std::nullopt;
  }
  if (maximum && d > *maximum) {
    problems.add(where, "must be <= " + number_text(*maximum));
    return std::nullopt;
  }
  return d;
}

std::optional<std::string> read_string(const json& parent, const char* key, const std::string& path,
                                       Problems& problems) {
  const json& v = at(parent, key);
  if (v.is_null()) return std::nullopt;
  if (!v.is_string()) {
    problems.add(path + "." + key, "must be a string");
    return std::nullopt;
  }
  return v.get<std::string>();
}

std::vector<std::string> read_string_list(const json& v, const std::string& where,
                                          Problems& problems) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (!v.is_array()) {
    problems.add(where, "must be a list of strings");
    return out;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) {
      problems.add(index_path(where, i), "must be a string");
      continue;
    }
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

// A quantity given as a string (or a bare number).
std::optional<int64_t> read_quantity(const json& parent, const char* key, const std::string& path,
                                     Problems& problems) {
  const json& v = at(parent, key);
  if (v.is_null()) return std::nullopt;
  const std::string where = path + "." + key;
  if (!v.is_string() && !v.is_number()) {
    problems.add(where, "must be a quantity string");
    return std::nullopt;
  }
  auto milli = parse_quantity_milli(string_or_dump(v));
  if (!milli) {
    problems.add(where, milli.error());
    return std::nullopt;
  }
  if (*milli < 0) {
    problems.add(where, "must be >= 0");
    return std::nullopt;
  }
  return *milli;
}

// Calls each(path[i], element) for every element of `list`, which must be a
// list of objects: anything else is a problem at the list's or the element's path.
template <class Each>
void for_each_object(const json& list, const std::string& path, Problems& problems, Each each) {
  if (!list.is_array()) {
    problems.add(path, "must be a list");
    return;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = index_path(path, i);
    if (!list[i].is_object()) {
      problems.add(where, "must be an object");
      continue;
    }
    each(where, list[i]);
  }
}

void parse_instance_types(const json& list, PriceBook& book, Problems& problems) {
  const std::string path = "spec.instanceTypes";
  if (list.is_null()) return;
  std::set<std::string> seen;
  for_each_object(list, path, problems, [&](const std::string& where, const json& item) {
    InstanceTypePrice t;
    if (auto name = read_string(item, "name", where, problems)) {
      if (name->empty()) {
        problems.add(where + ".name", "Required value");
      } else if (!seen.insert(*name).second) {
        problems.add(where + ".name", "Duplicate value: \"" + *name + "\"");
      }
      t.name = *name;
    } else if (at(item, "name").is_null()) {
      problems.add(where + ".name", "Required value");
    }
    if (auto od = read_number(item, "onDemandHourlyUSD", where, problems, 0)) {
      t.on_demand_hourly_usd = *od;
    } else if (at(item, "onDemandHourlyUSD").is_null()) {
      problems.add(where + ".onDemandHourlyUSD", "Required value");
    }
    t.spot_hourly_usd = read_number(item, "spotHourlyUSD", where, problems, 0);
    const json& gpus = at(item, "gpus");
    if (!gpus.is_null()) {
      if (!gpus.is_number_integer()) {
        problems.add(where + ".gpus", "must be an integer");
      } else if (gpus.get<int64_t>() < 0) {
        problems.add(where + ".gpus", "must be >= 0");
      } else {
        t.gpus = gpus.get<int64_t>();
      }
    }
    t.gpu_type = read_string(item, "gpuType", where, problems).value_or("");
    t.cpu_milli = read_quantity(item, "cpu", where, problems);
    if (auto mem = read_quantity(item, "memory", where, problems)) {
      t.memory_bytes = milli_to_units_ceil(*mem);
    }
    book.instance_types.push_back(std::move(t));
  });
}

void parse_fallback(const json& fallback, PriceBook& book, Problems& problems) {
  const std::string path = "spec.fallback";
  if (fallback.is_null()) return;
  if (!fallback.is_object()) {
    problems.add(path, "must be an object");
    return;
  }
  FallbackRates& f = book.fallback;
  f.cpu_core_hourly_usd = read_number(fallback, "cpuCoreHourlyUSD", path, problems, 0)
                              .value_or(kOpenCostCpuCoreHourlyUSD);
  f.memory_gib_hourly_usd = read_number(fallback, "memoryGiBHourlyUSD", path, problems, 0)
                                .value_or(kOpenCostMemoryGiBHourlyUSD);
  f.gpu_hourly_usd =
      read_number(fallback, "gpuHourlyUSD", path, problems, 0).value_or(kOpenCostGpuHourlyUSD);
  f.spot_multiplier = read_number(fallback, "spotMultiplier", path, problems, 0, 1.0)
                          .value_or(kDefaultSpotMultiplier);
}

void parse_capacity_type_labels(const json& list, PriceBook& book, Problems& problems) {
  const std::string path = "spec.capacityTypeLabels";
  if (list.is_null()) {
    book.capacity_type_labels = default_capacity_type_labels();
    return;
  }
  for_each_object(list, path, problems, [&](const std::string& where, const json& item) {
    CapacityTypeLabel rule;
    rule.key = read_string(item, "key", where, problems).value_or("");
    if (rule.key.empty() && (at(item, "key").is_null() || at(item, "key").is_string())) {
      problems.add(where + ".key", "Required value");
    }
    rule.spot_values = read_string_list(at(item, "spotValues"), where + ".spotValues", problems);
    rule.on_demand_values =
        read_string_list(at(item, "onDemandValues"), where + ".onDemandValues", problems);
    book.capacity_type_labels.push_back(std::move(rule));
  });
}

bool contains(const std::vector<std::string>& values, const std::string& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

}  // namespace

std::string_view to_string(CapacityType type) {
  return type == CapacityType::kSpot ? "spot" : "on-demand";
}

std::string_view to_string(PriceSource source) {
  return source == PriceSource::kPriceBook ? "pricebook" : "fallback";
}

const InstanceTypePrice* PriceBook::find(std::string_view instance_type) const {
  for (const auto& t : instance_types) {
    if (t.name == instance_type) return &t;
  }
  return nullptr;
}

std::vector<CapacityTypeLabel> default_capacity_type_labels() {
  return {
      // Karpenter well-known label (karpenter.sh concepts/scheduling).
      {"karpenter.sh/capacity-type", {"spot"}, {"on-demand"}},
      // EKS managed node groups' CapacityType.
      {"eks.amazonaws.com/capacityType", {"SPOT"}, {"ON_DEMAND"}},
      // GKE spot VMs (concepts/spot-vms); on-demand nodes carry no such label.
      {"cloud.google.com/gke-spot", {"true"}, {}},
      // AKS spot node pools (spot-node-pool); regular pools are "regular" or unlabelled.
      {"kubernetes.azure.com/scalesetpriority", {"spot"}, {"regular"}},
  };
}

std::vector<std::string> default_interruption_taints() {
  return {
      "karpenter.sh/disrupted",                         // Karpenter v1 disruption
      "aws-node-termination-handler/spot-itn",          // AWS NTH spot interruption
      "cloud.google.com/impending-node-termination",    // GKE node termination handler
      "remediator.kubernetes.azure.com/unschedulable",  // AKS node auto-drain
  };
}

PriceBook default_price_book() {
  PriceBook book;
  book.capacity_type_labels = default_capacity_type_labels();
  book.interruption_taints = default_interruption_taints();
  return book;
}

Expected<PriceBook, std::string> parse_price_book(const json& object) {
  if (!object.is_object()) return Unexpected(std::string("PriceBook: must be an object"));
  PriceBook book;
  Problems problems;
  const json& name = at(at(object, "metadata"), "name");
  if (name.is_string()) book.name = name.get<std::string>();
  const json& spec = at(object, "spec");
  if (!spec.is_null() && !spec.is_object()) {
    problems.add("spec", "must be an object");
    return Unexpected(problems.joined());
  }

  if (auto currency = read_string(spec, "currency", "spec", problems)) {
    if (*currency != kDefaultCurrency) {
      problems.add("spec.currency",
                   "Unsupported value: \"" + *currency + "\": supported values: \"USD\"");
    }
    book.currency = *currency;
  }
  parse_instance_types(at(spec, "instanceTypes"), book, problems);
  parse_fallback(at(spec, "fallback"), book, problems);
  parse_capacity_type_labels(at(spec, "capacityTypeLabels"), book, problems);

  const json& taints = at(spec, "interruptionTaints");
  book.interruption_taints = taints.is_null()
                                 ? default_interruption_taints()
                                 : read_string_list(taints, "spec.interruptionTaints", problems);
  for (size_t i = 0; i < book.interruption_taints.size(); ++i) {
    if (book.interruption_taints[i].empty()) {
      problems.add(index_path("spec.interruptionTaints", i), "must not be empty");
    }
  }
  if (auto label = read_string(spec, "instanceTypeLabel", "spec", problems)) {
    if (label->empty()) problems.add("spec.instanceTypeLabel", "must not be empty");
    book.instance_type_label = *label;
  }

  if (!problems.empty()) return Unexpected(problems.joined());
  return book;
}

// ---- Resources ------------------------------------------------------------------

double Resources::memory_gib() const { return static_cast<double>(memory_bytes) / kBytesPerGiB; }

Resources& Resources::operator+=(const Resources& o) {
  cpu_milli += o.cpu_milli;
  memory_bytes += o.memory_bytes;
  gpus += o.gpus;
  pods += o.pods;
  return *this;
}

Resources& Resources::operator-=(const Resources& o) {
  cpu_milli -= o.cpu_milli;
  memory_bytes -= o.memory_bytes;
  gpus -= o.gpus;
  pods -= o.pods;
  return *this;
}

namespace {

// A resource list as name -> milli-units; errors name "<path>[<resource>]".
Expected<std::map<std::string, int64_t>, std::string> resource_list(const json& list,
                                                                    const std::string& path) {
  std::map<std::string, int64_t> out;
  if (list.is_null()) return out;
  if (!list.is_object()) return Unexpected(path + ": must be an object");
  for (const auto& [name, value] : list.items()) {
    auto milli = parse_quantity_milli(string_or_dump(value));
    if (!milli) return Unexpected(path + "[" + name + "]: " + milli.error());
    out.emplace(name, *milli);
  }
  return out;
}

int64_t milli_of(const std::map<std::string, int64_t>& list, const char* name) {
  auto it = list.find(name);
  return it == list.end() ? 0 : it->second;
}

// cpu stays in milli-units; the others are whole values, rounded up as
// Quantity.Value() does.
Resources to_resources(const std::map<std::string, int64_t>& list) {
  Resources r;
  r.cpu_milli = milli_of(list, "cpu");
  r.memory_bytes = milli_to_units_ceil(milli_of(list, "memory"));
  r.gpus = milli_to_units_ceil(milli_of(list, kGpuResource));
  r.pods = milli_to_units_ceil(milli_of(list, "pods"));
  return r;
}

Resources max_each(const Resources& a, const Resources& b) {
  return {std::max(a.cpu_milli, b.cpu_milli), std::max(a.memory_bytes, b.memory_bytes),
          std::max(a.gpus, b.gpus), std::max(a.pods, b.pods)};
}

struct ContainerRequests {
  Resources requests;
  bool sidecar = false;
};

Expected<std::vector<ContainerRequests>, std::string> container_list(const json& spec,
                                                                     const char* field) {
  std::vector<ContainerRequests> out;
  const json& list = at(spec, field);
  if (list.is_null()) return out;
  if (!list.is_array()) return Unexpected("spec." + std::string(field) + ": must be a list");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = "spec." + std::string(field) + "[" + std::to_string(i) + "]";
    const json& resources = at(list[i], "resources");
    auto requests = resource_list(at(resources, "requests"), where + ".resources.requests");
    if (!requests) return Unexpected(std::move(requests).error());
    auto limits = resource_list(at(resources, "limits"), where + ".resources.limits");
    if (!limits) return Unexpected(std::move(limits).error());
    // SetDefaults_Pod: a limit without a request requests the limit.
    for (const auto& [name, milli] : *limits) requests->try_emplace(name, milli);
    const json& restart = at(list[i], "restartPolicy");
    out.push_back({to_resources(*requests), restart.is_string() && restart == "Always"});
  }
  return out;
}

}  // namespace

Expected<Resources, std::string> node_allocatable(const json& node) {
  const json& allocatable = at(at(node, "status"), "allocatable");
  auto list = resource_list(allocatable, "status.allocatable");
  if (!list) return Unexpected(std::move(list).error());
  Resources r = to_resources(*list);
  if (list->find("pods") == list->end()) r.pods = kDefaultMaxPods;
  return r;
}

Expected<Resources, std::string> pod_requests(const json& pod) {
  const json& spec = at(pod, "spec");
  auto containers = container_list(spec, "containers");
  if (!containers) return Unexpected(std::move(containers).error());
  auto inits = container_list(spec, "initContainers");
  if (!inits) return Unexpected(std::move(inits).error());
  auto overhead = resource_list(at(spec, "overhead"), "spec.overhead");
  if (!overhead) return Unexpected(std::move(overhead).error());

  Resources total;
  for (const auto& c : *containers) total += c.requests;
  Resources sidecars;
  Resources init_peak;
  for (const auto& c : *inits) {
    if (c.sidecar) {
      total += c.requests;
      sidecars += c.requests;
      init_peak = max_each(init_peak, sidecars);
    } else {
      Resources running = c.requests;
      running += sidecars;
      init_peak = max_each(init_peak, running);
    }
  }
  total = max_each(total, init_peak);
  total += to_resources(*overhead);
  total.pods = 1;
  return total;
}

// ---- Nodes ------------------------------------------------------------------------

NodeClass classify_node(const json& node, const PriceBook& book) {
  NodeClass out;
  const json& metadata = at(node, "metadata");
  const json& name = at(metadata, "name");
  if (name.is_string()) out.name = name.get<std::string>();
  const json& labels = at(metadata, "labels");

  for (const auto& rule : book.capacity_type_labels) {
    const json& v = at(labels, rule.key);
    if (v.is_null()) continue;
    const std::string value = string_or_dump(v);
    if (contains(rule.spot_values, value)) {
      out.capacity_type = CapacityType::kSpot;
      break;
    }
    if (contains(rule.on_demand_values, value)) {
      out.capacity_type = CapacityType::kOnDemand;
      break;
    }
  }
  const json& type = at(labels, book.instance_type_label);
  if (!type.is_null()) out.instance_type = string_or_dump(type);

  const json& taints = at(at(node, "spec"), "taints");
  if (taints.is_array()) {
    for (const auto& t : taints) {
      const json& key = at(t, "key");
      if (!key.is_string()) continue;
      if (contains(book.interruption_taints, key.get<std::string>())) {
        out.interrupting = true;
        out.interruption_taint = key.get<std::string>();
        break;
      }
    }
  }
  return out;
}

UnitRates split_price(double hourly_usd, const Resources& allocatable,
                      const FallbackRates& fallback) {
  const double at_fallback = allocatable.cpu_cores() * fallback.cpu_core_hourly_usd +
                             allocatable.memory_gib() * fallback.memory_gib_hourly_usd +
                             static_cast<double>(allocatable.gpus) * fallback.gpu_hourly_usd;
  if (!(at_fallback > 0)) return {};
  const double ratio = hourly_usd / at_fallback;
  return {fallback.cpu_core_hourly_usd * ratio, fallback.memory_gib_hourly_usd * ratio,
          fallback.gpu_hourly_usd * ratio};
}

NodePrice price_node(const NodeClass& node, const Resources& allocatable, const PriceBook& book) {
  const InstanceTypePrice* entry = book.find(node.instance_type);
  // A node whose device plugin has not reported yet still has its GPUs.
  Resources sized = allocatable;
  if (entry) {
    if (sized.gpus == 0) sized.gpus = entry->gpus;
    if (sized.cpu_milli == 0 && entry->cpu_milli) sized.cpu_milli = *entry->cpu_milli;
    if (sized.memory_bytes == 0 && entry->memory_bytes) sized.memory_bytes = *entry->memory_bytes;
  }
  const FallbackRates& f = book.fallback;
  const double at_fallback = sized.cpu_cores() * f.cpu_core_hourly_usd +
                             sized.memory_gib() * f.memory_gib_hourly_usd +
                             static_cast<double>(sized.gpus) * f.gpu_hourly_usd;

  NodePrice price;
  const bool spot = node.capacity_type == CapacityType::kSpot;
  if (entry && !spot) {
    price.hourly_usd = entry->on_demand_hourly_usd;
    price.source = PriceSource::kPriceBook;
  } else if (entry && spot && entry->spot_hourly_usd) {
    price.hourly_usd = *entry->spot_hourly_usd;
    price.source = PriceSource::kPriceBook;
  } else {
    price.hourly_usd = spot ? at_fallback * f.spot_multiplier : at_fallback;
    price.source = PriceSource::kFallback;
  }
  price.on_demand_hourly_usd = entry ? entry->on_demand_hourly_usd : at_fallback;
  price.rates = split_price(price.hourly_usd, sized, f);
  price.on_demand_rates = split_price(price.on_demand_hourly_usd, sized, f);
  return price;
}

Expected<NodePrice, std::string> price_node(const json& node, const PriceBook& book) {
  auto allocatable = node_allocatable(node);
  if (!allocatable) return Unexpected(std::move(allocatable).error());
  return price_node(classify_node(node, book), *allocatable, book);
}

PodRate price_pod(const Resources& requests, const NodePrice& node) {
  auto rate = [&](const UnitRates& r) {
    return requests.cpu_cores() * r.cpu_core_hour + requests.memory_gib() * r.memory_gib_hour +
           static_cast<double>(requests.gpus) * r.gpu_hour;
  };
  return {rate(node.rates), rate(node.on_demand_rates), requests.gpus, node.source};
}

}  // namespace frugal::policy
