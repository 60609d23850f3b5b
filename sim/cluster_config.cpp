// Parses and validates the cluster file (docs/cluster-file.md) and derives
// Node objects and interruption times from it. Validation collects every
// problem rather than stopping at the first, so one run of kubesim shows a
// user all that is wrong with their file, each with its line and field path.
#include "sim/cluster_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "common/quantity.h"
#include "sim/names.h"
#include "sim/selector.h"

namespace kubesim {
namespace {

// ---- Defaults and limits ------------------------------------------------------

constexpr uint64_t kDefaultSeed = 1;  // same as kubesim's --seed default
constexpr std::string_view kDefaultRegion = "us-east-1";
constexpr std::string_view kDefaultMaxPods = "110";  // real kubelet: --max-pods default 110
// Node names are <pool>-<index> and also the kubernetes.io/hostname label
// value, which may hold 63 characters: 63 - 1 ('-') - 10 (digits of INT_MAX).
constexpr size_t kMaxPoolNameLength = 52;
// 20x the 5,000 nodes Kubernetes is tested at; anything larger is a typo that
// would otherwise allocate millions of nodes.
constexpr int64_t kMaxNodesPerPool = 100000;
constexpr double kSecondsPerHour = 3600;
// One notice a second per node. More is a typo, and would make
// interruption_times() return millions of times for a day's horizon.
constexpr double kMaxRatePerNodeHour = 3600;

// What a node reports about itself (status.nodeInfo and friends).
constexpr std::string_view kKubeletVersion = "v1.32.0";
constexpr std::string_view kContainerRuntimeVersion = "containerd://1.7.22";
constexpr std::string_view kKernelVersion = "6.1.0-kubesim";
constexpr int kKubeletPort = 10250;  // real kubelet: --port default 10250
constexpr std::string_view kOperatingSystem = "linux";
constexpr std::string_view kArchitecture = "amd64";
constexpr std::string_view kProviderIdScheme = "kubesim://";

constexpr std::string_view kSimPoolLabel = "sim.frugal.dev/pool";

// ---- Deterministic randomness -------------------------------------------------
// Our own generator rather than <random>'s distributions, whose output is
// implementation-defined: the same seed must give the same run on any build.

// FNV-1a, 64-bit (Fowler, Noll, Vo): offset basis and prime from the spec.
constexpr uint64_t kFnvOffsetBasis = 14695981039346656037ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;

uint64_t fnv1a(std::string_view s) {
  uint64_t h = kFnvOffsetBasis;
  for (unsigned char c : s) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

// SplitMix64 (Steele, Lea, Flood 2014; constants from Vigna's splitmix64.c):
// passes BigCrush and, unlike mt19937, is cheap to seed per node.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) from the top 53 bits (a double's mantissa).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

// Separate streams for separate purposes, so adding a use of randomness for
// node identities never shifts interruption times.
enum class Stream : uint64_t { kInterruptions = 1, kIdentity = 2 };

SplitMix64 node_rng(uint64_t seed, std::string_view node_name, Stream stream) {
  SplitMix64 mixer(seed ^ static_cast<uint64_t>(stream));
  return SplitMix64(mixer.next() ^ fnv1a(node_name));
}

// ---- Problem collection -------------------------------------------------------

class Problems {
 public:
  explicit Problems(std::string source) : source_(std::move(source)) {}

  // `at` locates the problem in the file; an undefined node gives no line.
  void add(const YAML::Node& at, const std::string& path, const std::string& what) {
    Entry e;
    if (at.IsDefined()) e.mark = at.Mark();
    e.text = (path.empty() ? std::string("(top level)") : path) + ": " + what;
    entries_.push_back(std::move(e));
  }
  bool empty() const { return entries_.empty(); }
  // In file order, whatever order the checks ran in; unplaced problems last.
  std::string text() const {
    std::vector<Entry> sorted = entries_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Entry& a, const Entry& b) {
      auto key = [](const YAML::Mark& m) {
        return std::pair(m.line < 0 ? INT_MAX : m.line, m.column);
      };
      return key(a.mark) < key(b.mark);
    });
    std::string out;
    for (const auto& e : sorted) {
      if (!out.empty()) out += "\n";
      out += source_;
      if (e.mark.line >= 0) {
        out += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
      }
      out += ": " + e.text;
    }
    return out;
  }

 private:
  struct Entry {
    YAML::Mark mark = YAML::Mark::null_mark();
    std::string text;
  };
  std::string source_;
  std::vector<Entry> entries_;
};

std::string quote(std::string_view s) { return json(std::string(s)).dump(); }

bool simple_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// "a.b" for identifiers, "a[nvidia.com/gpu]" for keys that hold dots or slashes.
std::string child(const std::string& path, std::string_view key) {
  if (!simple_key(key)) return path + "[" + std::string(key) + "]";
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
std::string item(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

std::string join(const std::vector<std::string_view>& parts, std::string_view sep) {
  std::string out;
  for (auto p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

std::string describe(const YAML::Node& n) {
  if (n.IsNull()) return "nothing";
  if (n.IsSequence()) return n.size() == 0 ? "an empty list" : "a list";
  if (n.IsMap()) return "a mapping";
  return quote(n.Scalar());
}

// ---- Typed readers ------------------------------------------------------------

struct Field {
  YAML::Node key;
  YAML::Node value;
};
// Ordered by key, so that defaults and checks see a stable order.
using Fields = std::map<std::string, Field>;

// A mapping's entries; reports duplicate keys and keys not in `allowed`.
std::optional<Fields> read_map(const YAML::Node& node, const std::string& path,
                               const std::vector<std::string_view>& allowed, Problems& problems) {
  if (!node.IsMap()) {
    problems.add(node, path, "must be a mapping, got " + describe(node));
    return std::nullopt;
  }
  Fields fields;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) {
      problems.add(it->first, path, "keys must be plain strings");
      continue;
    }
    const std::string key = it->first.Scalar();
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      problems.add(it->first, child(path, key),
                   "unknown field " + quote(key) + " (allowed: " + join(allowed, ", ") + ")");
      continue;
    }
    if (fields.count(key)) {
      problems.add(it->first, child(path, key), "duplicate key " + quote(key));
      continue;
    }
    fields.emplace(key, Field{it->first, it->second});
  }
  return fields;
}

const Field* find(const Fields& fields, std::string_view key) {
  auto it = fields.find(std::string(key));
  return it == fields.end() ? nullptr : &it->second;
}

std::optional<std::string> read_string(const YAML::Node& n, const std::string& path,
                                       Problems& problems) {
  if (!n.IsScalar()) {
    problems.add(n, path, "must be a string, got " + describe(n));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<int64_t> read_integer(const YAML::Node& n, const std::string& path,
                                    Problems& problems) {
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size()) return v;
  }
  problems.add(n, path, "must be an integer, got " + describe(n));
  return std::nullopt;
}

std::optional<double> read_number(const YAML::Node& n, const std::string& path,
                                  Problems& problems) {
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size() && std::isfinite(v)) return v;
  }
  problems.add(n, path, "must be a number, got " + describe(n));
  return std::nullopt;
}

std::optional<double> read_non_negative(const YAML::Node& n, const std::string& path,
                                        Problems& problems) {
  auto v = read_number(n, path, problems);
  if (v && *v < 0) {
    problems.add(n, path, "must not be negative, got " + n.Scalar());
    return std::nullopt;
  }
  return v;
}

// One of `names`, mapped to its value.
template <class E>
std::optional<E> read_enum(const YAML::Node& n, const std::string& path,
                           const std::vector<std::pair<std::string_view, E>>& names,
                           Problems& problems) {
  auto s = read_string(n, path, problems);
  if (!s) return std::nullopt;
  for (const auto& [name, value] : names) {
    if (*s == name) return value;
  }
  std::vector<std::string_view> allowed;
  for (const auto& entry : names) allowed.push_back(entry.first);
  problems.add(n, path, "must be one of " + join(allowed, ", ") + "; got " + quote(*s));
  return std::nullopt;
}

// Label key and value checked with the API server's own rules and wording,
// less the selector's own field path: `"bad key": name part must consist of...`.
std::optional<std::string> label_error(const std::string& key, const std::string& value) {
  auto ok = LabelSelector::from_set(json{{key, value}});
  if (ok) return std::nullopt;
  const std::string& message = ok.error().message;
  constexpr std::string_view kInvalid = ": Invalid value: ";
  const auto at = message.find(kInvalid);
  return at == std::string::npos ? message : message.substr(at + kInvalid.size());
}

// ---- Enumerations ---------------------------------------------------------------

const std::vector<std::pair<std::string_view, Cloud>> kClouds = {
    {"karpenter", Cloud::Karpenter}, {"eks", Cloud::Eks}, {"gke", Cloud::Gke}, {"aks", Cloud::Aks}};
const std::vector<std::pair<std::string_view, CapacityType>> kCapacityTypes = {
    {"spot", CapacityType::Spot}, {"on-demand", CapacityType::OnDemand}};
// core/v1 TaintEffect values.
const std::vector<std::pair<std::string_view, std::string_view>> kTaintEffects = {
    {"NoSchedule", "NoSchedule"},
    {"PreferNoSchedule", "PreferNoSchedule"},
    {"NoExecute", "NoExecute"}};

const std::vector<std::string_view> kTopKeys = {"seed", "region", "nodePools"};
const std::vector<std::string_view> kPoolKeys = {
    "name",  "cloud",  "region", "instanceType",  "capacityType", "count",
    "zones", "labels", "taints", "interruptions", "replacement",  "allocatable"};
const std::vector<std::string_view> kTaintKeys = {"key", "value", "effect"};
const std::vector<std::string_view> kInterruptionKeys = {"ratePerNodeHour", "at", "noticeSeconds"};
const std::vector<std::string_view> kScriptedKeys = {"node", "afterSeconds"};
const std::vector<std::string_view> kReplacementKeys = {"delaySeconds"};

// ---- Resources ------------------------------------------------------------------

// Unprefixed resource names the API accepts (core/v1 ResourceName constants).
bool standard_resource(std::string_view name) {
  return name == "cpu" || name == "memory" || name == "pods" || name == "ephemeral-storage" ||
         name.rfind("hugepages-", 0) == 0;
}

// Extended resources (nvidia.com/gpu) are counted in whole units, as are pods.
bool needs_whole_units(std::string_view name) {
  if (name == "pods") return true;
  const auto slash = name.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view domain = name.substr(0, slash);
  const std::string_view k8s = "kubernetes.io";
  const bool native =
      domain == k8s || (domain.size() > k8s.size() &&
                        domain.substr(domain.size() - k8s.size() - 1) == "." + std::string(k8s));
  return !native;
}

void read_allocatable(const YAML::Node& node, const std::string& path, NodePool& pool,
                      Problems& problems) {
  auto fields = read_map(node, path, {}, problems);
  if (!fields) return;
  for (const auto& [name, field] : *fields) {
    const std::string at = child(path, name);
    if (name.find('/') == std::string::npos && !standard_resource(name)) {
      problems.add(field.key, at,
                   "unknown resource " + quote(name) +
                       ": use cpu, memory, pods, ephemeral-storage, hugepages-<size> or a "
                       "domain-prefixed name such as nvidia.com/gpu");
      continue;
    }
    if (auto e = label_error(name, "")) {
      problems.add(field.key, at, "invalid resource name: " + *e);
      continue;
    }
    auto text = read_string(field.value, at, problems);
    if (!text) continue;
    auto milli = frugal::parse_quantity_milli(*text);
    if (!milli) {
      problems.add(field.value, at, milli.error());
      continue;
    }
    if (*milli < 0) {
      problems.add(field.value, at, "must not be negative, got " + *text);
      continue;
    }
    if (needs_whole_units(name) && *milli % 1000 != 0) {
      problems.add(field.value, at, "must be a whole number, got " + *text);
      continue;
    }
    pool.allocatable[name] = *text;
  }
  for (std::string_view required : {"cpu", "memory"}) {
    if (!fields->count(std::string(required))) {
      problems.add(node, child(path, required), "required");
    }
  }
  pool.allocatable.try_emplace("pods", kDefaultMaxPods);
}

// ---- Pool sections ------------------------------------------------------------------

// Labels kubesim sets itself may not be overridden: a pool that relabelled its
// own zone or capacity type would contradict its other fields.
std::set<std::string> reserved_labels(const ClusterConfig& config, const NodePool& pool) {
  NodePool bare = pool;
  bare.labels.clear();
  std::set<std::string> out;
  for (const auto& entry : node_labels(config, bare, 0)) out.insert(entry.first);
  // Both capacity types' labels: an on-demand AKS pool may not claim to be spot.
  for (CapacityType type : {CapacityType::Spot, CapacityType::OnDemand}) {
    for (const auto& entry : capacity_labels(pool.cloud, type)) out.insert(entry.first);
  }
  return out;
}

void read_labels(const YAML::Node& node, const std::string& path, const ClusterConfig& config,
                 NodePool& pool, Problems& problems) {
  auto fields = read_map(node, path, {}, problems);
  if (!fields) return;
  const auto reserved = reserved_labels(config, pool);
  for (const auto& [key, field] : *fields) {
    const std::string at = child(path, key);
    if (reserved.count(key)) {
      problems.add(field.key, at, quote(key) + " is set by kubesim from the pool's other fields");
      continue;
    }
    std::string value;
    if (!field.value.IsNull()) {
      auto v = read_string(field.value, at, problems);
      if (!v) continue;
      value = *v;
    }
    if (auto e = label_error(key, value)) {
      problems.add(field.key, at, *e);
      continue;
    }
    pool.labels[key] = value;
  }
}

void read_taints(const YAML::Node& node, const std::string& path, NodePool& pool,
                 Problems& problems) {
  if (!node.IsSequence()) {
    problems.add(node, path, "must be a list, got " + describe(node));
    return;
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string at = item(path, i);
    auto fields = read_map(node[i], at, kTaintKeys, problems);
    if (!fields) continue;
    Taint taint;
    bool ok = true;
    for (std::string_view required : {"key", "effect"}) {
      if (!find(*fields, required)) {
        problems.add(node[i], child(at, required), "required");
        ok = false;
      }
    }
    if (const Field* f = find(*fields, "key")) {
      auto key = read_string(f->value, child(at, "key"), problems);
      ok = ok && key;
      if (key) taint.key = *key;
    }
    if (const Field* f = find(*fields, "value"); f && !f->value.IsNull()) {
      auto value = read_string(f->value, child(at, "value"), problems);
      ok = ok && value;
      if (value) taint.value = *value;
    }
    if (const Field* f = find(*fields, "effect")) {
      auto effect = read_enum(f->value, child(at, "effect"), kTaintEffects, problems);
      ok = ok && effect;
      if (effect) taint.effect = *effect;
    }
    if (!ok) continue;
    // Taint keys and values follow the label rules (validateNodeTaints).
    if (auto e = label_error(taint.key, taint.value)) {
      problems.add(node[i], at, *e);
      continue;
    }
    pool.taints.push_back(std::move(taint));
  }
}

// A node index in 0..count-1; `count_known`: whether count parsed, so that
// the upper bound can be checked.
std::optional<int> read_scripted_index(const YAML::Node& n, const std::string& path,
                                       bool count_known, int count, Problems& problems) {
  auto index = read_integer(n, path, problems);
  if (!index) return std::nullopt;
  if (count_known && (*index < 0 || *index >= count)) {
    problems.add(n, path,
                 std::to_string(*index) + " is out of range: the pool has " +
                     std::to_string(count) + " nodes (indices 0.." + std::to_string(count - 1) +
                     ")");
    return std::nullopt;
  }
  if (*index < 0) {
    problems.add(n, path, "must not be negative, got " + n.Scalar());
    return std::nullopt;
  }
  return static_cast<int>(*index);
}

void read_scripted(const YAML::Node& node, const std::string& path, bool count_known,
                   NodePool& pool, Problems& problems) {
  if (!node.IsSequence()) {
    problems.add(node, path, "must be a list, got " + describe(node));
    return;
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string at = item(path, i);
    auto fields = read_map(node[i], at, kScriptedKeys, problems);
    if (!fields) continue;
    // A scripted entry is kept only when both its fields are valid.
    std::optional<int> index;
    if (const Field* f = find(*fields, "node")) {
      index = read_scripted_index(f->value, child(at, "node"), count_known, pool.count, problems);
    } else {
      problems.add(node[i], child(at, "node"), "required");
    }
    std::optional<double> after;
    if (const Field* f = find(*fields, "afterSeconds")) {
      after = read_non_negative(f->value, child(at, "afterSeconds"), problems);
    } else {
      problems.add(node[i], child(at, "afterSeconds"), "required");
    }
    if (index.has_value() && after.has_value()) {
      pool.interruptions.at.push_back({index.value(), after.value()});
    }
  }
}

void read_interruptions(const YAML::Node& node, const std::string& path, bool count_known,
                        NodePool& pool, Problems& problems) {
  auto fields = read_map(node, path, kInterruptionKeys, problems);
  if (!fields) return;
  if (pool.capacity_type != CapacityType::Spot) {
    problems.add(node, path,
                 "only spot pools are interrupted; this pool's capacityType is " +
                     std::string(to_string(pool.capacity_type)));
    return;
  }
  if (const Field* f = find(*fields, "ratePerNodeHour")) {
    if (auto v = read_non_negative(f->value, child(path, "ratePerNodeHour"), problems)) {
      if (*v > kMaxRatePerNodeHour) {
        problems.add(f->value, child(path, "ratePerNodeHour"),
                     "must be at most " + std::to_string(static_cast<int>(kMaxRatePerNodeHour)) +
                         " (one notice a second per node), got " + f->value.Scalar());
      } else {
        pool.interruptions.rate_per_node_hour = *v;
      }
    }
  }
  if (const Field* f = find(*fields, "noticeSeconds")) {
    if (auto v = read_non_negative(f->value, child(path, "noticeSeconds"), problems)) {
      pool.interruptions.notice_seconds = *v;
    }
  }
  if (const Field* f = find(*fields, "at")) {
    read_scripted(f->value, child(path, "at"), count_known, pool, problems);
  }
}

void read_replacement(const YAML::Node& node, const std::string& path, NodePool& pool,
                      Problems& problems) {
  auto fields = read_map(node, path, kReplacementKeys, problems);
  if (!fields) return;
  const Field* f = find(*fields, "delaySeconds");
  if (!f) {
    problems.add(node, child(path, "delaySeconds"), "required");
    return;
  }
  if (auto v = read_non_negative(f->value, child(path, "delaySeconds"), problems)) {
    pool.replacement_delay_seconds = *v;
  }
}

// The zone names each provider uses for its first zone in a region.
std::string default_zone(Cloud cloud, const std::string& region) {
  switch (cloud) {
    case Cloud::Karpenter:
    case Cloud::Eks:
      return region + "a";  // AWS: us-east-1a
    case Cloud::Gke:
      return region + "-a";  // GCP: us-central1-a
    case Cloud::Aks:
      return region + "-1";  // AKS topology.kubernetes.io/zone: eastus-1
  }
  return region;
}

void read_zones(const YAML::Node& node, const std::string& path, NodePool& pool,
                Problems& problems) {
  if (!node.IsSequence() || node.size() == 0) {
    problems.add(
        node, path,
        "must be a non-empty list of zones (omit it for the default), got " + describe(node));
    return;
  }
  for (size_t i = 0; i < node.size(); ++i) {
    auto zone = read_string(node[i], item(path, i), problems);
    if (!zone) continue;
    if (zone->empty() || label_error("z", *zone)) {
      problems.add(node[i], item(path, i),
                   "must be a valid label value (zone names label nodes), got " + quote(*zone));
      continue;
    }
    pool.zones.push_back(*zone);
  }
}

void read_name(const Field* f, const YAML::Node& pool_node, const std::string& path, NodePool& pool,
               Problems& problems) {
  if (!f) {
    problems.add(pool_node, child(path, "name"), "required");
    return;
  }
  auto name = read_string(f->value, child(path, "name"), problems);
  if (!name) return;
  if (!is_dns1123_label(*name)) {
    problems.add(f->value, child(path, "name"), quote(*name) + ": " + dns1123_label_message());
  } else if (name->size() > kMaxPoolNameLength) {
    problems.add(f->value, child(path, "name"),
                 "must be at most " + std::to_string(kMaxPoolNameLength) +
                     " characters, so that node names <name>-<index> fit the 63-character "
                     "kubernetes.io/hostname label");
  } else {
    pool.name = *name;
  }
}

std::optional<NodePool> read_pool(const YAML::Node& node, const std::string& path,
                                  const ClusterConfig& config, Problems& problems) {
  auto fields = read_map(node, path, kPoolKeys, problems);
  if (!fields) return std::nullopt;
  NodePool pool;
  const Fields& f = *fields;

  read_name(find(f, "name"), node, path, pool, problems);
  if (const Field* c = find(f, "cloud")) {
    if (auto v = read_enum(c->value, child(path, "cloud"), kClouds, problems)) pool.cloud = *v;
  }
  pool.region = config.region;
  if (const Field* r = find(f, "region")) {
    if (auto v = read_string(r->value, child(path, "region"), problems)) {
      if (v->empty() || label_error("r", *v)) {
        problems.add(r->value, child(path, "region"), "must be a valid label value");
      } else {
        pool.region = *v;
      }
    }
  }
  if (const Field* t = find(f, "instanceType")) {
    if (auto v = read_string(t->value, child(path, "instanceType"), problems)) {
      if (v->empty() || label_error("t", *v)) {
        problems.add(t->value, child(path, "instanceType"),
                     "must be a valid label value (it labels nodes), got " + quote(*v));
      } else {
        pool.instance_type = *v;
      }
    }
  } else {
    problems.add(node, child(path, "instanceType"), "required");
  }
  if (const Field* c = find(f, "capacityType")) {
    if (auto v = read_enum(c->value, child(path, "capacityType"), kCapacityTypes, problems)) {
      pool.capacity_type = *v;
    }
  }
  bool count_ok = false;
  if (const Field* c = find(f, "count")) {
    if (auto v = read_integer(c->value, child(path, "count"), problems)) {
      if (*v < 0) {
        problems.add(c->value, child(path, "count"),
                     "must not be negative, got " + c->value.Scalar());
      } else if (*v > kMaxNodesPerPool) {
        problems.add(c->value, child(path, "count"),
                     "must be at most " + std::to_string(kMaxNodesPerPool));
      } else {
        pool.count = static_cast<int>(*v);
        count_ok = true;
      }
    }
  } else {
    problems.add(node, child(path, "count"), "required");
  }
  if (const Field* z = find(f, "zones")) {
    read_zones(z->value, child(path, "zones"), pool, problems);
  }
  if (pool.zones.empty()) pool.zones.push_back(default_zone(pool.cloud, pool.region));

  if (const Field* a = find(f, "allocatable")) {
    read_allocatable(a->value, child(path, "allocatable"), pool, problems);
  } else {
    problems.add(node, child(path, "allocatable"), "required (at least cpu and memory)");
  }
  if (const Field* l = find(f, "labels")) {
    read_labels(l->value, child(path, "labels"), config, pool, problems);
  }
  if (const Field* t = find(f, "taints")) {
    read_taints(t->value, child(path, "taints"), pool, problems);
  }
  pool.interruptions.notice_seconds = default_notice_seconds(pool.cloud);
  if (const Field* i = find(f, "interruptions")) {
    read_interruptions(i->value, child(path, "interruptions"), count_ok, pool, problems);
  }
  if (const Field* r = find(f, "replacement")) {
    read_replacement(r->value, child(path, "replacement"), pool, problems);
  }
  return pool;
}

void read_pools(const YAML::Node& node, const std::string& path, ClusterConfig& config,
                Problems& problems) {
  if (!node.IsSequence() || node.size() == 0) {
    problems.add(node, path, "must be a non-empty list of node pools, got " + describe(node));
    return;
  }
  std::map<std::string, size_t> seen;  // pool name -> index of its first definition
  for (size_t i = 0; i < node.size(); ++i) {
    auto pool = read_pool(node[i], item(path, i), config, problems);
    if (!pool) continue;
    if (!pool->name.empty()) {
      auto [it, inserted] = seen.emplace(pool->name, i);
      if (!inserted) {
        problems.add(
            node[i]["name"], child(item(path, i), "name"),
            "duplicate pool name " + quote(pool->name) + " (also " + item(path, it->second) + ")");
      }
    }
    config.pools.push_back(std::move(*pool));
  }
}

std::optional<uint64_t> read_seed(const YAML::Node& n, Problems& problems) {
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size()) return v;
  }
  problems.add(n, "seed", "must be an integer from 0 to 18446744073709551615, got " + describe(n));
  return std::nullopt;
}

// ---- Node identity ------------------------------------------------------------------

std::string hex(uint64_t v, int digits) {
  std::string out(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0 && v; --i, v >>= 4) {
    out[static_cast<size_t>(i)] = "0123456789abcdef"[v & 0xf];
  }
  return out;
}

std::string uuid_like(SplitMix64& rng) {
  const std::string h = hex(rng.next(), 16) + hex(rng.next(), 16);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

// What `cat /etc/os-release` says on each provider's default node image.
std::string_view os_image(Cloud cloud) {
  switch (cloud) {
    case Cloud::Karpenter:
    case Cloud::Eks:
      return "Amazon Linux 2023";
    case Cloud::Gke:
      return "Container-Optimized OS from Google";
    case Cloud::Aks:
      return "Ubuntu 22.04.5 LTS";
  }
  return "Linux";
}

json condition(std::string_view type, std::string_view status, std::string_view reason,
               std::string_view message, const std::string& when) {
  return {{"type", type},
          {"status", status},
          {"lastHeartbeatTime", when},
          {"lastTransitionTime", when},
          {"reason", reason},
          {"message", message}};
}

json taint_json(const Taint& t) {
  json out = {{"key", t.key}, {"effect", t.effect}};
  if (!t.value.empty()) out["value"] = t.value;  // core/v1 Taint.Value is omitempty
  return out;
}

}  // namespace

// ---- Public API -------------------------------------------------------------------------

std::string_view to_string(Cloud cloud) {
  for (const auto& [name, value] : kClouds) {
    if (value == cloud) return name;
  }
  return "unknown";
}

std::string_view to_string(CapacityType capacity_type) {
  return capacity_type == CapacityType::Spot ? "spot" : "on-demand";
}

ConfigResult<ClusterConfig> parse_cluster_config(const std::string& yaml_text,
                                                 const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    std::string where = source_name;
    if (e.mark.line >= 0) {
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    return frugal::Unexpected(where + ": invalid YAML: " + e.msg);
  }
  Problems problems(source_name);
  ClusterConfig config;
  auto fields = read_map(root, "", kTopKeys, problems);
  if (!fields) return frugal::Unexpected(problems.text());

  config.seed = kDefaultSeed;
  if (const Field* s = find(*fields, "seed")) {
    if (auto v = read_seed(s->value, problems)) config.seed = *v;
  }
  config.region = std::string(kDefaultRegion);
  if (const Field* r = find(*fields, "region")) {
    if (auto v = read_string(r->value, "region", problems)) {
      if (v->empty() || label_error("r", *v)) {
        problems.add(r->value, "region", "must be a valid label value, got " + quote(*v));
      } else {
        config.region = *v;
      }
    }
  }
  if (const Field* p = find(*fields, "nodePools")) {
    read_pools(p->value, "nodePools", config, problems);
  } else {
    problems.add(root, "nodePools", "required: the cluster's node pools");
  }
  if (!problems.empty()) return frugal::Unexpected(problems.text());
  return config;
}

ConfigResult<ClusterConfig> load_cluster_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return frugal::Unexpected(path + ": cannot read the cluster file: " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return frugal::Unexpected(path + ": cannot read the cluster file: " + std::strerror(errno));
  }
  return parse_cluster_config(text.str(), path);
}

std::optional<std::pair<std::string, std::string>> capacity_label(Cloud cloud,
                                                                  CapacityType capacity_type) {
  const bool spot = capacity_type == CapacityType::Spot;
  switch (cloud) {
    case Cloud::Karpenter:
      // karpenter.sh docs (concepts/scheduling, well-known labels): spot | on-demand.
      return std::pair<std::string, std::string>{"karpenter.sh/capacity-type",
                                                 spot ? "spot" : "on-demand"};
    case Cloud::Eks:
      // EKS managed node groups, CapacityType SPOT | ON_DEMAND (AWS CDK aws_eks.CapacityType).
      return std::pair<std::string, std::string>{"eks.amazonaws.com/capacityType",
                                                 spot ? "SPOT" : "ON_DEMAND"};
    case Cloud::Gke:
      // GKE docs (concepts/spot-vms): select spot with cloud.google.com/gke-spot=true; every
      // node also carries cloud.google.com/gke-provisioning = spot | standard.
      if (spot) return std::pair<std::string, std::string>{"cloud.google.com/gke-spot", "true"};
      return std::pair<std::string, std::string>{"cloud.google.com/gke-provisioning", "standard"};
    case Cloud::Aks:
      // AKS docs (spot-node-pool): spot nodes get kubernetes.azure.com/scalesetpriority=spot;
      // regular-priority nodes get no such label.
      if (spot) {
        return std::pair<std::string, std::string>{"kubernetes.azure.com/scalesetpriority", "spot"};
      }
      return std::nullopt;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> capacity_labels(Cloud cloud,
                                                                 CapacityType capacity_type) {
  std::vector<std::pair<std::string, std::string>> out;
  if (auto primary = capacity_label(cloud, capacity_type)) out.push_back(*primary);
  if (cloud == Cloud::Gke && capacity_type == CapacityType::Spot) {
    out.emplace_back("cloud.google.com/gke-provisioning", "spot");
  }
  return out;
}

std::string_view pool_label_key(Cloud cloud) {
  switch (cloud) {
    case Cloud::Karpenter:
      return "karpenter.sh/nodepool";  // Karpenter v1 NodePool name
    case Cloud::Eks:
      return "eks.amazonaws.com/nodegroup";  // EKS managed node group name
    case Cloud::Gke:
      return "cloud.google.com/gke-nodepool";  // GKE node pool name
    case Cloud::Aks:
      return "kubernetes.azure.com/agentpool";  // AKS agent pool name
  }
  return kSimPoolLabel;
}

Taint interruption_taint(Cloud cloud) {
  switch (cloud) {
    case Cloud::Karpenter:
      // Karpenter v1 taints a node it is disrupting (interruption included) with
      // karpenter.sh/disrupted:NoSchedule, no value (karpenter.sh concepts/disruption;
      // v1 roadmap: replaces karpenter.sh/disruption=disrupting:NoSchedule).
      return {"karpenter.sh/disrupted", "", "NoSchedule"};
    case Cloud::Eks:
      // aws-node-termination-handler pkg/node/node.go: TaintSpotItn adds
      // SpotInterruptionTaint "aws-node-termination-handler/spot-itn" with effect
      // NoSchedule and the event id as value; we have no event id, so no value.
      return {"aws-node-termination-handler/spot-itn", "", "NoSchedule"};
    case Cloud::Gke:
      // GoogleCloudPlatform/k8s-node-termination-handler, deployed with
      // --taint=cloud.google.com/impending-node-termination::NoSchedule (empty value).
      return {"cloud.google.com/impending-node-termination", "", "NoSchedule"};
    case Cloud::Aks:
      // AKS node auto-drain (learn.microsoft.com azure/aks/node-auto-drain): on a spot
      // node's Preempt scheduled event AKS cordons and drains it and the node "may
      // receive a taint with remediator.kubernetes.azure.com/unschedulable". The docs
      // do not name the effect; NoSchedule is what a cordon means.
      return {"remediator.kubernetes.azure.com/unschedulable", "", "NoSchedule"};
  }
  return {"karpenter.sh/disrupted", "", "NoSchedule"};
}

double default_notice_seconds(Cloud cloud) {
  switch (cloud) {
    case Cloud::Karpenter:
    case Cloud::Eks:
      return 120;  // EC2 spot interruption notice: two minutes
    case Cloud::Gke:
      return 30;  // GKE docs: spot/preemptible VMs stop 30 s after the preemption notice
    case Cloud::Aks:
      return 30;  // Azure Scheduled Events: Preempt is announced at least 30 s ahead
  }
  return 0;
}

std::string node_name(const NodePool& pool, int index) {
  return pool.name + "-" + std::to_string(index);
}

std::map<std::string, std::string> node_labels(const ClusterConfig& config, const NodePool& pool,
                                               int index) {
  (void)config;  // the pool already carries its resolved region
  const std::string name = node_name(pool, index);
  const std::string zone = pool.zones.empty()
                               ? default_zone(pool.cloud, pool.region)
                               : pool.zones[static_cast<size_t>(index) % pool.zones.size()];
  std::map<std::string, std::string> labels = {
      {"kubernetes.io/hostname", name},
      {"kubernetes.io/os", std::string(kOperatingSystem)},
      {"kubernetes.io/arch", std::string(kArchitecture)},
      {"node.kubernetes.io/instance-type", pool.instance_type},
      {"topology.kubernetes.io/zone", zone},
      {"topology.kubernetes.io/region", pool.region},
      {std::string(pool_label_key(pool.cloud)), pool.name},
      {std::string(kSimPoolLabel), pool.name},
  };
  for (auto& [key, value] : capacity_labels(pool.cloud, pool.capacity_type)) {
    labels[key] = value;
  }
  for (const auto& [key, value] : pool.labels) labels.emplace(key, value);
  return labels;
}

std::vector<Taint> node_taints(const NodePool& pool) {
  std::vector<Taint> taints = pool.taints;
  auto add_once = [&](Taint t) {
    const bool present = std::any_of(taints.begin(), taints.end(), [&](const Taint& x) {
      return x.key == t.key && x.effect == t.effect;
    });
    if (!present) taints.push_back(std::move(t));
  };
  // AKS spot pools always carry this taint (AKS docs, spot-node-pool); GKE
  // Standard spot pools carry none, and neither do AWS node groups by default.
  if (pool.cloud == Cloud::Aks && pool.capacity_type == CapacityType::Spot) {
    add_once({"kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule"});
  }
  return taints;
}

json node_object(const ClusterConfig& config, const NodePool& pool, int index,
                 std::chrono::system_clock::time_point created) {
  const std::string name = node_name(pool, index);
  const std::string when = rfc3339(created);

  json taints = json::array();
  for (const auto& t : node_taints(pool)) taints.push_back(taint_json(t));
  json spec = {{"providerID", std::string(kProviderIdScheme) + pool.name + "/" + name}};
  if (!taints.empty()) spec["taints"] = std::move(taints);

  json resources = json::object();
  for (const auto& [resource, quantity] : pool.allocatable) resources[resource] = quantity;

  SplitMix64 ids = node_rng(config.seed, name, Stream::kIdentity);
  const std::string machine_id = hex(ids.next(), 16) + hex(ids.next(), 16);
  const std::string system_uuid = uuid_like(ids);
  const std::string boot_id = uuid_like(ids);

  return {
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata",
       {{"name", name},
        {"labels", node_labels(config, pool, index)},
        // What a real kubelet annotates its Node with at registration.
        {"annotations",
         {{"node.alpha.kubernetes.io/ttl", "0"},
          {"volumes.kubernetes.io/controller-managed-attach-detach", "true"}}}}},
      {"spec", std::move(spec)},
      {"status",
       {{"capacity", resources},
        {"allocatable", resources},
        // The kubelet's conditions, in its order, with its reasons and messages.
        {"conditions",
         json::array({condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                                "kubelet has sufficient memory available", when),
                      condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                                "kubelet has no disk pressure", when),
                      condition("PIDPressure", "False", "KubeletHasSufficientPID",
                                "kubelet has sufficient PID available", when),
                      condition("Ready", "True", "KubeletReady", "kubelet is posting ready status",
                                when)})},
        {"addresses", json::array({{{"type", "Hostname"}, {"address", name}}})},
        {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", kKubeletPort}}}}},
        // kubeProxyVersion is left out: kubelets stopped reporting it in 1.31.
        {"nodeInfo",
         {{"machineID", machine_id},
          {"systemUUID", system_uuid},
          {"bootID", boot_id},
          {"kernelVersion", kKernelVersion},
          {"osImage", os_image(pool.cloud)},
          {"containerRuntimeVersion", kContainerRuntimeVersion},
          {"kubeletVersion", kKubeletVersion},
          {"operatingSystem", kOperatingSystem},
          {"architecture", kArchitecture}}}}},
  };
}

std::vector<double> interruption_times(const ClusterConfig& config, const NodePool& pool,
                                       const std::string& node_name, int index,
                                       double horizon_seconds) {
  std::vector<double> times;
  const double rate_per_second = pool.interruptions.rate_per_node_hour / kSecondsPerHour;
  if (rate_per_second > 0) {
    SplitMix64 rng = node_rng(config.seed, node_name, Stream::kInterruptions);
    // Exponential gaps by inversion: -ln(1 - U) / rate, with 1 - U in (0, 1].
    for (double t = 0;;) {
      t += -std::log1p(-rng.uniform()) / rate_per_second;
      if (t >= horizon_seconds) break;
      times.push_back(t);
    }
  }
  for (const auto& s : pool.interruptions.at) {
    if (s.node_index == index && s.after_seconds < horizon_seconds) {
      times.push_back(s.after_seconds);
    }
  }
  std::sort(times.begin(), times.end());
  return times;
}

}  // namespace kubesim
