#include "reconcilers/trainingjob.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <utility>

#include "controller/kube/log.h"
#include "reconcilers/conditions.h"
#include "reconcilers/pricebook.h"

namespace frugal::reconcilers {
namespace {

using json = kube::json;
using policy::WallTime;

// client-go's ExpectationsTimeout: how long pods this controller created may
// stay invisible in the cache before it stops waiting for them.
constexpr std::chrono::minutes kExpectationsTimeout{5};
// How long a pass waits for the cache to show this controller's own last
// status write before it goes ahead anyway (and lets a 409 sort it out).
constexpr std::chrono::seconds kOwnWriteTimeout{5};
// How soon a pass that found the cache behind its own write looks again.
constexpr std::chrono::milliseconds kOwnWriteRetry{20};

const json& at(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string str(const json& obj, const char* key) {
  const json& v = at(obj, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

double num(const json& obj, const char* key, double fallback = 0) {
  const json& v = at(obj, key);
  return v.is_number() ? v.get<double>() : fallback;
}

int64_t integer(const json& obj, const char* key, int64_t fallback = 0) {
  const json& v = at(obj, key);
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number()) return static_cast<int64_t>(v.get<double>());
  return fallback;
}

std::optional<int64_t> opt_integer(const json& obj, const char* key) {
  const json& v = at(obj, key);
  if (!v.is_number()) return std::nullopt;
  return integer(obj, key);
}

const json& meta(const json& obj) { return at(obj, "metadata"); }
std::string name_of(const json& obj) { return str(meta(obj), "name"); }
std::string uid_of(const json& obj) { return str(meta(obj), "uid"); }
bool deleting(const json& obj) { return meta(obj).contains("deletionTimestamp"); }
std::string phase_of(const json& pod) { return str(at(pod, "status"), "phase"); }
std::string node_of(const json& pod) { return str(at(pod, "spec"), "nodeName"); }

std::string label(const json& obj, const char* key) { return str(at(meta(obj), "labels"), key); }

int attempt_of(const json& pod) {
  const std::string a = label(pod, kAttemptLabel);
  if (a.empty()) return -1;
  char* end = nullptr;
  const long v = std::strtol(a.c_str(), &end, 10);
  return (end && *end == '\0') ? static_cast<int>(v) : -1;
}

int rank_of(const json& pod) {
  const std::string r = label(pod, kRankLabel);
  if (r.empty()) return -1;
  char* end = nullptr;
  const long v = std::strtol(r.c_str(), &end, 10);
  return (end && *end == '\0') ? static_cast<int>(v) : -1;
}

bool has_finalizer(const json& obj) {
  const json& f = at(meta(obj), "finalizers");
  if (!f.is_array()) return false;
  return std::find(f.begin(), f.end(), json(kCostFinalizer)) != f.end();
}

bool owned_by(const json& pod, const std::string& uid) {
  const json& refs = at(meta(pod), "ownerReferences");
  if (!refs.is_array()) return false;
  for (const json& r : refs) {
    if (str(r, "kind") == "TrainingJob" && str(r, "uid") == uid) return true;
  }
  return false;
}

double seconds_between(WallTime from, WallTime to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string money(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.4f", usd);
  return buf;
}

std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::optional<double> parse_double(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (!end || *end != '\0' || !std::isfinite(v)) return std::nullopt;
  return v;
}

json totals_json(const policy::CostTotals& t, double lost, double running) {
  return {{"totalUSD", t.total_usd}, {"spotSavingsUSD", t.spot_savings_usd},
          {"gpuHours", t.gpu_hours}, {"billableSeconds", t.billable_seconds},
          {"lostWorkSeconds", lost}, {"runningSeconds", running}};
}

policy::CostTotals totals_of(const json& settled) {
  policy::CostTotals t;
  t.total_usd = num(settled, "totalUSD");
  t.spot_savings_usd = num(settled, "spotSavingsUSD");
  t.gpu_hours = num(settled, "gpuHours");
  t.billable_seconds = num(settled, "billableSeconds");
  return t;
}

bool is_finished(const std::string& phase) { return phase == "Succeeded" || phase == "Failed"; }

// A condition's status is "True".
bool condition_true(const json& status, const std::string& type) {
  const json* c = find_condition(status, type);
  return c && str(*c, "status") == "True";
}

}  // namespace

// ---- Pure helpers -------------------------------------------------------------------

std::optional<WallTime> parse_time(std::string_view text) {
  const std::string s(text);
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  WallTime t = std::chrono::system_clock::from_time_t(timegm(&tm));
  size_t i = static_cast<size_t>(consumed);
  if (i < s.size() && s[i] == '.') {
    double scale = 0.1;
    double frac = 0;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, scale /= 10) {
      frac += (s[i] - '0') * scale;
    }
    t += std::chrono::duration_cast<WallTime::duration>(std::chrono::duration<double>(frac));
  }
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) return t;
  int oh = 0;
  int om = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-') &&
      std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) == 2) {
    const auto offset = std::chrono::hours(oh) + std::chrono::minutes(om);
    return s[i] == '+' ? t - offset : t + offset;
  }
  return std::nullopt;
}

PodTimes pod_times(const json& pod) {
  PodTimes t;
  t.created = parse_time(str(meta(pod), "creationTimestamp"));
  t.deleted = parse_time(str(meta(pod), "deletionTimestamp"));
  const json& status = at(pod, "status");
  const json& conditions = at(status, "conditions");
  if (conditions.is_array()) {
    for (const json& c : conditions) {
      if (str(c, "type") == "PodScheduled" && str(c, "status") == "True") {
        t.bound = parse_time(str(c, "lastTransitionTime"));
      }
    }
  }
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const json& statuses = at(status, list);
    if (!statuses.is_array()) continue;
    for (const json& cs : statuses) {
      const json& state = at(cs, "state");
      for (const char* s : {"running", "terminated"}) {
        if (auto started = parse_time(str(at(state, s), "startedAt"))) {
          if (!t.started || *started < *t.started) t.started = started;
        }
      }
      if (auto finished = parse_time(str(at(state, "terminated"), "finishedAt"))) {
        if (!t.finished || *finished > *t.finished) t.finished = finished;
      }
    }
  }
  return t;
}

std::optional<policy::PodInterval> pod_cost_interval(const json& pod, const policy::PodRate& rate) {
  const PodTimes t = pod_times(pod);
  if (!t.bound || node_of(pod).empty()) return std::nullopt;
  std::optional<WallTime> end = t.finished;
  if (!end && t.deleted) end = t.deleted;
  return policy::pod_interval(*t.bound, end, rate);
}

std::optional<policy::PodRate> recorded_rate(const json& pod) {
  const json& annotations = at(meta(pod), "annotations");
  auto hourly = parse_double(str(annotations, kHourlyAnnotation));
  auto on_demand = parse_double(str(annotations, kOnDemandHourlyAnnotation));
  auto gpus = parse_double(str(annotations, kGpusAnnotation));
  if (!hourly || !on_demand || !gpus) return std::nullopt;
  policy::PodRate r;
  r.hourly_usd = *hourly;
  r.on_demand_hourly_usd = *on_demand;
  r.gpus = static_cast<int64_t>(*gpus);
  r.source = str(annotations, kPriceSourceAnnotation) == "pricebook"
                 ? policy::PriceSource::kPriceBook
                 : policy::PriceSource::kFallback;
  return r;
}

json rate_annotations(const policy::PodRate& rate) {
  return {{kHourlyAnnotation, exact(rate.hourly_usd)},
          {kOnDemandHourlyAnnotation, exact(rate.on_demand_hourly_usd)},
          {kGpusAnnotation, std::to_string(rate.gpus)},
          {kPriceSourceAnnotation, std::string(policy::to_string(rate.source))}};
}

bool pod_disrupted(const json& pod) {
  const json& conditions = at(at(pod, "status"), "conditions");
  if (!conditions.is_array()) return false;
  for (const json& c : conditions) {
    if (str(c, "type") == "DisruptionTarget" && str(c, "status") == "True") return true;
  }
  return false;
}

std::optional<SpecProblem> validate_spec(const json& job) {
  const json& spec = at(job, "spec");
  const json& pod_spec = at(at(spec, "template"), "spec");
  const std::string volume = str(at(spec, "checkpoint"), "volume");
  if (!volume.empty()) {
    std::vector<std::string> names;
    const json& volumes = at(pod_spec, "volumes");
    bool found = false;
    if (volumes.is_array()) {
      for (const json& v : volumes) {
        names.push_back(str(v, "name"));
        found = found || names.back() == volume;
      }
    }
    if (!found) {
      std::string have;
      for (const auto& n : names) have += (have.empty() ? "" : ", ") + n;
      return SpecProblem{kReasonCheckpointVolumeNotFound,
                         "spec.checkpoint.volume: volume \"" + volume +
                             "\" is not in spec.template.spec.volumes (" +
                             (names.empty() ? std::string("there are none") : "have: " + have) +
                             ")"};
    }
  }
  auto requests = policy::pod_requests(at(spec, "template"));
  if (!requests) {
    return SpecProblem{kReasonInvalidTemplate, "spec.template: " + requests.error()};
  }
  return std::nullopt;
}

bool auto_tolerated(const std::string& taint_key, const policy::PriceBook& book,
                    const policy::Resources& per_worker) {
  if (taint_key == policy::kGpuResource && per_worker.gpus > 0) return true;
  for (const auto& rule : book.capacity_type_labels) {
    if (rule.key == taint_key) return true;
  }
  return false;
}

std::string untolerated_taint(const json& node, const json& tolerations,
                              const policy::PriceBook& book, const policy::Resources& per_worker) {
  const json& taints = at(at(node, "spec"), "taints");
  if (!taints.is_array()) return {};
  for (const json& t : taints) {
    const std::string key = str(t, "key");
    const std::string effect = str(t, "effect");
    if (effect != "NoSchedule" && effect != "NoExecute") continue;
    if (std::find(book.interruption_taints.begin(), book.interruption_taints.end(), key) !=
        book.interruption_taints.end()) {
      continue;
    }
    if (auto_tolerated(key, book, per_worker)) continue;
    bool tolerated = false;
    if (tolerations.is_array()) {
      for (const json& tol : tolerations) {
        const std::string op = str(tol, "operator").empty() ? "Equal" : str(tol, "operator");
        const std::string tol_effect = str(tol, "effect");
        if (!tol_effect.empty() && tol_effect != effect) continue;
        if (op == "Exists") {
          tolerated = str(tol, "key").empty() || str(tol, "key") == key;
        } else {
          tolerated = str(tol, "key") == key && str(tol, "value") == str(t, "value");
        }
        if (tolerated) break;
      }
    }
    if (!tolerated) return key;
  }
  return {};
}

GangPlacement gang_placement(const policy::PoolChoice& choice, const std::vector<json>& pool_nodes,
                             const policy::PriceBook& book, const policy::Resources& per_worker) {
  GangPlacement g;
  g.instance_type = choice.instance_type;
  g.capacity_type = std::string(policy::to_string(choice.capacity_type));
  g.match_expressions.push_back({{"key", book.instance_type_label},
                                 {"operator", "In"},
                                 {"values", json::array({choice.instance_type})}});
  // The capacity-type rule the nodes matched, as classify_node reads it.
  const bool spot = choice.capacity_type == policy::CapacityType::kSpot;
  std::optional<json> matched;
  for (const json& node : pool_nodes) {
    const json& labels = at(meta(node), "labels");
    for (const auto& rule : book.capacity_type_labels) {
      const std::string value = str(labels, rule.key.c_str());
      if (value.empty()) continue;
      const auto& values = spot ? rule.spot_values : rule.on_demand_values;
      if (std::find(values.begin(), values.end(), value) != values.end()) {
        matched = json{{"key", rule.key}, {"operator", "In"}, {"values", json::array({value})}};
        break;
      }
    }
    if (matched) break;
  }
  if (matched) {
    g.match_expressions.push_back(*matched);
  } else if (!spot) {
    // On-demand nodes carrying no capacity label: keep off every spot label.
    for (const auto& rule : book.capacity_type_labels) {
      if (rule.spot_values.empty()) continue;
      g.match_expressions.push_back(
          {{"key", rule.key}, {"operator", "NotIn"}, {"values", rule.spot_values}});
    }
  }
  for (const json& node : pool_nodes) {
    const json& taints = at(at(node, "spec"), "taints");
    if (!taints.is_array()) continue;
    for (const json& t : taints) {
      const std::string key = str(t, "key");
      const std::string effect = str(t, "effect");
      if (key.empty() || (effect != "NoSchedule" && effect != "NoExecute")) continue;
      if (!auto_tolerated(key, book, per_worker)) continue;
      json toleration = {{"key", key}, {"operator", "Exists"}, {"effect", effect}};
      if (std::find(g.tolerations.begin(), g.tolerations.end(), toleration) ==
          g.tolerations.end()) {
        g.tolerations.push_back(std::move(toleration));
      }
    }
  }
  return g;
}

GangAssessment assess_gang(const std::vector<json>& pods, int workers,
                           const std::set<std::string>& interrupting) {
  GangAssessment a;
  if (pods.empty()) return a;
  std::vector<std::string> interrupted;
  std::vector<std::string> failed;
  std::vector<std::string> broken;
  std::set<int> ranks;
  int succeeded = 0;
  int running = 0;
  for (const json& pod : pods) {
    const std::string name = name_of(pod);
    const std::string node = node_of(pod);
    const std::string phase = phase_of(pod);
    ranks.insert(rank_of(pod));
    const bool terminal = phase == "Succeeded" || phase == "Failed";
    if (pod_disrupted(pod) && phase != "Succeeded") {
      interrupted.push_back(name + " (disrupted on " + (node.empty() ? "?" : node) + ")");
    } else if (!terminal && !node.empty() && interrupting.count(node) != 0) {
      interrupted.push_back(name + " (node " + node + " is being interrupted)");
    } else if (phase == "Failed") {
      std::string why = str(at(pod, "status"), "reason");
      const json& statuses = at(at(pod, "status"), "containerStatuses");
      if (statuses.is_array()) {
        for (const json& cs : statuses) {
          const json& term = at(at(cs, "state"), "terminated");
          if (term.is_object() && integer(term, "exitCode") != 0) {
            why = "exit code " + std::to_string(integer(term, "exitCode"));
            break;
          }
        }
      }
      failed.push_back(name + (why.empty() ? "" : " (" + why + ")"));
    } else if (deleting(pod) && phase != "Succeeded") {
      broken.push_back(name + " (deleted)");
    }
    succeeded += phase == "Succeeded" ? 1 : 0;
    running += phase == "Running" && !deleting(pod) ? 1 : 0;
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  };
  if (!interrupted.empty()) {
    a.state = GangState::kInterrupted;
    a.message = "spot capacity was taken back: " + join(interrupted);
  } else if (!failed.empty()) {
    a.state = GangState::kFailed;
    a.message = "worker(s) failed: " + join(failed);
  } else if (!broken.empty()) {
    a.state = GangState::kBroken;
    a.message = "worker(s) deleted before they finished: " + join(broken);
  } else if (static_cast<int>(pods.size()) < workers) {
    a.state = GangState::kIncomplete;
    for (int r = 0; r < workers; ++r) {
      if (ranks.count(r) == 0) a.missing_ranks.insert(r);
    }
    a.message = std::to_string(workers - static_cast<int>(pods.size())) + " worker(s) missing";
  } else if (succeeded >= workers) {
    a.state = GangState::kSucceeded;
    a.message = "all " + std::to_string(workers) + " worker(s) succeeded";
  } else if (running >= workers) {
    a.state = GangState::kRunning;
    a.message = "all " + std::to_string(workers) + " worker(s) running";
  } else {
    a.state = GangState::kStarting;
    a.message = std::to_string(running) + "/" + std::to_string(workers) + " worker(s) running";
  }
  return a;
}

GangClock gang_clock(const std::vector<json>& pods, WallTime now,
                     const policy::CheckpointPolicy& checkpoint, double time_scale) {
  GangClock g;
  for (const json& pod : pods) {
    const PodTimes t = pod_times(pod);
    if (!t.started) continue;
    const WallTime end = std::min(t.finished.value_or(now), now);
    const double run = std::max(0.0, seconds_between(*t.started, end) * time_scale);
    g.running_seconds = std::max(g.running_seconds, run);
    g.lost_seconds = std::max(g.lost_seconds, policy::lost_work_estimate(run, checkpoint));
    if (t.created) {
      g.startup_seconds =
          std::max(g.startup_seconds, seconds_between(*t.created, *t.started) * time_scale);
    }
  }
  return g;
}

// ---- The reconciler ------------------------------------------------------------------

// One pass: what was read, what was decided, what to write.
struct TrainingJobReconciler::Pass {
  kube::Key key;
  json job;
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  kube::ObjectReference ref;
  WallTime now;
  policy::PriceBook book;

  // spec
  int workers = 1;
  policy::Preference preference = policy::Preference::kSpotWithFallback;
  int64_t max_interruptions = policy::kDefaultMaxInterruptions;
  int64_t backoff_limit = 3;
  std::optional<int64_t> max_runtime;
  std::optional<int64_t> ttl;
  std::optional<double> expected_runtime;
  std::optional<WallTime> deadline;
  bool suspend = false;
  policy::CheckpointPolicy checkpoint;
  std::vector<std::string> instance_types;

  // status, as read and as it will be written
  json before;
  json status;
  int attempt = 0;
  std::set<std::string> settled;  // pod UIDs

  std::vector<json> pods;                        // owned by this job, every attempt
  std::map<std::string, policy::PodRate> rates;  // by pod UID

  // planned writes, done after the status write
  std::vector<json> release;  // pods whose finalizer comes off
  bool create = false;
  GangPlacement placement;
  std::set<int> ranks;
  bool delete_job = false;
  std::vector<kube::EventInput> events;
  std::optional<double> requeue_sim;  // sim seconds

  std::vector<json> current() const {
    std::vector<json> out;
    for (const json& p : pods) {
      if (attempt_of(p) == attempt) out.push_back(p);
    }
    return out;
  }
  void requeue_in(double sim_seconds) {
    sim_seconds = std::max(0.0, sim_seconds);
    if (!requeue_sim || sim_seconds < *requeue_sim) requeue_sim = sim_seconds;
  }
  void event(kube::EventType type, std::string reason, std::string message) {
    events.push_back({ref, type, std::move(reason), std::move(message)});
  }
  void set_phase(const std::string& phase) {
    if (str(status, "phase") != phase) {
      status["phase"] = phase;
      status["lastTransitionTime"] = rfc3339(now);
    }
  }
  void condition(const std::string& type, bool value, const std::string& reason,
                 const std::string& message) {
    set_condition(status, type, value ? "True" : "False", reason, message, generation, now);
  }
  // Turns a condition False only if it is there (never adds a False one).
  void clear(const std::string& type, const std::string& reason, const std::string& message) {
    if (find_condition(status, type)) condition(type, false, reason, message);
  }
  json& settled_totals() {
    json& s = status["settled"];
    if (!s.is_object()) s = json::object();
    return s;
  }
  void add_settled(const char* field, double v) {
    json& s = settled_totals();
    s[field] = num(s, field) + v;
  }
};

std::chrono::milliseconds TrainingJobReconciler::real_delay(double sim_seconds) const {
  const auto ms = std::chrono::milliseconds(
      static_cast<int64_t>(std::ceil(sim_seconds / time_scale_ * 1000.0)));
  return std::max(ms, kMinRequeue);
}

std::optional<policy::PodRate> TrainingJobReconciler::rate_of(const json& pod,
                                                              const policy::PriceBook& book) {
  if (auto r = recorded_rate(pod)) return r;
  const std::string node_name = node_of(pod);
  if (node_name.empty()) return std::nullopt;
  auto requests = policy::pod_requests(pod);
  if (!requests) return std::nullopt;
  if (kube::ObjectPtr node = in_.nodes.store().get(node_name)) {
    auto price = policy::price_node(*node, book);
    if (price) return policy::price_pod(*requests, *price);
  }
  // The node is gone already: price it as its pool, from the pod's own labels
  // and the book's entry for the type.
  policy::NodeClass cls;
  cls.name = node_name;
  cls.instance_type = label(pod, kInstanceTypeLabel);
  cls.capacity_type = label(pod, kCapacityTypeLabel) == "spot" ? policy::CapacityType::kSpot
                                                               : policy::CapacityType::kOnDemand;
  policy::Resources allocatable = *requests;
  if (const auto* entry = book.find(cls.instance_type)) {
    if (entry->cpu_milli) allocatable.cpu_milli = *entry->cpu_milli;
    if (entry->memory_bytes) allocatable.memory_bytes = *entry->memory_bytes;
    allocatable.gpus = std::max(allocatable.gpus, entry->gpus);
  }
  return policy::price_pod(*requests, policy::price_node(cls, allocatable, book));
}

kube::Result<void> TrainingJobReconciler::release(const std::string& ns, const json& pod) {
  // kube-rs's finalizer helper: remove our entry by index, guarded by `test`
  // ops on the pod's UID and the entry, so a concurrent change cannot make
  // us drop someone else's finalizer.
  json current = pod;
  for (int tries = 0; tries < 2; ++tries) {
    const json& f = at(meta(current), "finalizers");
    if (!has_finalizer(current)) return {};
    size_t index = 0;
    while (f[index] != kCostFinalizer) ++index;
    const std::string path = "/metadata/finalizers/" + std::to_string(index);
    json patch = json::array({{{"op", "test"}, {"path", "/metadata/uid"}, {"value", uid_of(pod)}},
                              {{"op", "test"}, {"path", path}, {"value", kCostFinalizer}},
                              {{"op", "remove"}, {"path", path}}});
    auto r = client_.patch(kPods, ns, name_of(pod), kube::PatchType::Json, patch);
    if (r || r.error().is_not_found()) return {};
    if (!r.error().is_invalid()) return frugal::Unexpected(r.error());
    // A test failed: the cached pod was stale. Read it afresh and try again.
    auto fresh = client_.get(kPods, ns, name_of(pod));
    if (!fresh) {
      if (fresh.error().is_not_found()) return {};
      return frugal::Unexpected(fresh.error());
    }
    if (uid_of(*fresh) != uid_of(pod)) return {};
    current = *fresh;
  }
  return frugal::Unexpected(
      kube::Error{422, "Invalid", "the pod's finalizers kept changing", {}, false});
}

kube::ReconcileOutcome TrainingJobReconciler::release_all(const kube::Key& key) {
  {
    std::lock_guard lock(mu_);
    expectations_.erase(key.str());
    own_writes_.erase(key.str());
  }
  std::string failed;
  for (const kube::ObjectPtr& pod : in_.pods.store().by_index(kPodsByJobIndex, key.str())) {
    auto r = release(key.ns, *pod);
    if (!r) failed = r.error().to_string();
  }
  if (!failed.empty()) return frugal::Unexpected(kube::ReconcileError::retry(failed));
  return kube::ReconcileResult::done();
}

kube::ReconcileOutcome TrainingJobReconciler::reconcile(const kube::Key& key) {
  const kube::ObjectPtr obj = in_.jobs.store().get(key.str());
  // Gone or going: nothing is settled any more; the pods may go.
  if (!obj || deleting(*obj)) return release_all(key);
  {
    // The cache has not caught up with the last status this controller
    // wrote: deciding from it would count the same interruption twice (the
    // write's precondition would catch it, as a 409, at the cost of a pass).
    std::lock_guard lock(mu_);
    auto it = own_writes_.find(key.str());
    if (it != own_writes_.end()) {
      if (str(meta(*obj), "resourceVersion") == it->second.from &&
          clock_.now() - it->second.at < kOwnWriteTimeout) {
        return kube::ReconcileResult::after(kOwnWriteRetry);
      }
      own_writes_.erase(it);
    }
  }

  Pass p;
  p.key = key;
  p.job = *obj;
  p.uid = uid_of(p.job);
  p.resource_version = str(meta(p.job), "resourceVersion");
  p.generation = integer(meta(p.job), "generation");
  p.ref = kube::reference_to(p.job);
  p.now = clock_.wall_now();
  p.book = active_price_book(in_.pricebooks);

  const json& spec = at(p.job, "spec");
  p.workers = static_cast<int>(std::max<int64_t>(1, integer(spec, "workers", 1)));
  const json& capacity = at(spec, "capacity");
  p.preference = policy::parse_preference(str(capacity, "preference"))
                     .value_or(policy::Preference::kSpotWithFallback);
  p.max_interruptions = integer(capacity, "maxInterruptions", policy::kDefaultMaxInterruptions);
  p.deadline = parse_time(str(capacity, "deadline"));
  if (at(capacity, "instanceTypes").is_array()) {
    for (const json& t : at(capacity, "instanceTypes")) {
      if (t.is_string()) p.instance_types.push_back(t.get<std::string>());
    }
  }
  const json& run_policy = at(spec, "runPolicy");
  p.backoff_limit = integer(run_policy, "backoffLimit", 3);
  p.max_runtime = opt_integer(run_policy, "maxRuntimeSeconds");
  p.ttl = opt_integer(run_policy, "ttlSecondsAfterFinished");
  if (auto e = opt_integer(run_policy, "expectedRuntimeSeconds")) {
    p.expected_runtime = static_cast<double>(*e);
  }
  p.suspend = at(spec, "suspend") == true;
  const json& checkpoint = at(spec, "checkpoint");
  p.checkpoint.has_volume = !str(checkpoint, "volume").empty();
  p.checkpoint.interval_seconds =
      num(checkpoint, "intervalSeconds", policy::kDefaultCheckpointIntervalSeconds);

  p.before = at(p.job, "status").is_object() ? at(p.job, "status") : json::object();
  p.status = p.before;
  p.attempt = static_cast<int>(integer(p.status, "attempt"));
  p.status["attempt"] = p.attempt;
  if (!p.status.contains("fellBack")) p.status["fellBack"] = false;
  for (const char* counter : {"interruptions", "restarts", "failures"}) {
    if (!p.status.contains(counter)) p.status[counter] = 0;
  }
  const json& settled_pods = at(p.status, "settledPods");
  if (settled_pods.is_array()) {
    for (const json& u : settled_pods) {
      if (u.is_string()) p.settled.insert(u.get<std::string>());
    }
  }

  for (const kube::ObjectPtr& pod : in_.pods.store().by_index(kPodsByJobIndex, key.str())) {
    if (owned_by(*pod, p.uid)) {
      p.pods.push_back(*pod);
    } else if (has_finalizer(*pod)) {
      p.release.push_back(*pod);  // a former job of this name: its cost has nowhere to go
    }
  }
  std::sort(p.pods.begin(), p.pods.end(),
            [](const json& a, const json& b) { return name_of(a) < name_of(b); });

  // Record each bound pod's rate on it while its node is still there.
  for (const json& pod : p.pods) {
    auto rate = rate_of(pod, p.book);
    if (!rate) continue;
    p.rates[uid_of(pod)] = *rate;
    if (recorded_rate(pod) || p.settled.count(uid_of(pod)) != 0) continue;
    auto r = client_.patch(kPods, key.ns, name_of(pod), kube::PatchType::Merge,
                           json{{"metadata", {{"annotations", rate_annotations(*rate)}}}});
    if (!r && !r.error().is_not_found()) {
      log::error("Failed to record a pod's rate",
                 {{"pod", key.ns + "/" + name_of(pod)}, {"err", r.error().to_string()}});
    }
  }

  settle(p);
  decide(p);
  account(p);
  return act(p);
}

void TrainingJobReconciler::settle(Pass& p) {
  std::set<std::string> present;
  for (const json& pod : p.pods) present.insert(uid_of(pod));
  // Pods no longer in the cache are gone for good: their UIDs need not stay.
  for (auto it = p.settled.begin(); it != p.settled.end();) {
    it = present.count(*it) ? std::next(it) : p.settled.erase(it);
  }
  for (const json& pod : p.pods) {
    const std::string uid = uid_of(pod);
    if (p.settled.count(uid)) {
      if (has_finalizer(pod)) p.release.push_back(pod);
      continue;
    }
    const PodTimes t = pod_times(pod);
    const bool terminal = policy::pod_is_terminal(pod);
    const bool gone = deleting(pod) && (node_of(pod).empty() || (t.deleted && p.now >= *t.deleted));
    if (!terminal && !gone) continue;
    auto rate = p.rates.find(uid);
    if (rate != p.rates.end()) {
      if (auto interval = pod_cost_interval(pod, rate->second)) {
        if (interval->end && *interval->end > p.now) interval->end = p.now;
        const policy::CostTotals c = policy::integrate_cost({*interval}, p.now, time_scale_);
        p.add_settled("totalUSD", c.total_usd);
        p.add_settled("spotSavingsUSD", c.spot_savings_usd);
        p.add_settled("gpuHours", c.gpu_hours);
        p.add_settled("billableSeconds", c.billable_seconds);
      }
    }
    p.settled.insert(uid);
    if (has_finalizer(pod)) p.release.push_back(pod);
  }
  p.status["settledPods"] = json(std::vector<std::string>(p.settled.begin(), p.settled.end()));
  json& s = p.settled_totals();
  for (const char* f : {"totalUSD", "spotSavingsUSD", "gpuHours", "billableSeconds",
                        "lostWorkSeconds", "runningSeconds"}) {
    if (!s.contains(f)) s[f] = 0.0;
  }
}

void TrainingJobReconciler::finish(Pass& p, const std::string& phase, const std::string& reason,
                                   const std::string& message) {
  const GangClock clock = gang_clock(p.current(), p.now, p.checkpoint, time_scale_);
  p.add_settled("runningSeconds", clock.running_seconds);
  if (phase == "Failed" && reason != kReasonInvalidSpec) {
    p.add_settled("lostWorkSeconds", clock.lost_seconds);
  }
  p.set_phase(phase);
  if (!p.status.contains("completionTime")) p.status["completionTime"] = rfc3339(p.now);
  p.condition(phase == "Succeeded" ? kCondSucceeded : kCondFailed, true, reason, message);
  p.clear(kCondRunning, reason, message);
  p.clear(kCondRecovering, reason, message);
  p.event(phase == "Succeeded" ? kube::EventType::Normal : kube::EventType::Warning,
          phase == "Succeeded" ? "Succeeded" : reason, message);
}

void TrainingJobReconciler::stop_gang(Pass& p, const std::string& reason,
                                      const std::string& message, bool interruption) {
  const GangClock clock = gang_clock(p.current(), p.now, p.checkpoint, time_scale_);
  p.add_settled("runningSeconds", clock.running_seconds);
  p.add_settled("lostWorkSeconds", clock.lost_seconds);
  if (interruption) p.status["interruptions"] = integer(p.status, "interruptions") + 1;
  p.status["restarts"] = integer(p.status, "restarts") + 1;
  p.attempt += 1;
  p.status["attempt"] = p.attempt;
  char lost[64];
  std::snprintf(lost, sizeof lost, "%.0f", clock.lost_seconds);
  const std::string text = message + "; restarting the gang as attempt " +
                           std::to_string(p.attempt) + " (about " + lost +
                           " s of work since the last checkpoint lost)";
  p.set_phase("Recovering");
  p.condition(kCondRecovering, true, reason, text);
  p.clear(kCondRunning, reason, text);
  p.event(kube::EventType::Warning, reason, text);
}

void TrainingJobReconciler::admit(Pass& p) {
  // Fallback first: it decides which pools are candidates.
  if (at(p.status, "fellBack") != true && p.preference == policy::Preference::kSpotWithFallback) {
    policy::FallbackInput in;
    in.preference = p.preference;
    in.interruptions = integer(p.status, "interruptions");
    in.max_interruptions = p.max_interruptions;
    in.deadline = p.deadline;
    in.expected_runtime_seconds = p.expected_runtime;
    const json& s = p.settled_totals();
    in.progress_seconds = std::max(0.0, num(s, "runningSeconds") - num(s, "lostWorkSeconds"));
    in.restart_overhead_seconds = num(p.status, "startupSeconds");
    in.time_scale = time_scale_;
    in.now = p.now;
    const policy::FallbackDecision d = policy::should_fall_back(in);
    if (d.fall_back) {
      p.status["fellBack"] = true;
      p.condition(kCondFellBack, true, d.reason, d.message);
      p.event(kube::EventType::Warning, kCondFellBack,
              "Moving to on-demand capacity: " + d.message);
    }
  }
  const bool fell_back = at(p.status, "fellBack") == true;

  auto requests = policy::pod_requests(at(at(p.job, "spec"), "template"));
  if (!requests) {
    p.condition(kCondInvalidSpec, true, kReasonInvalidTemplate, requests.error());
    finish(p, "Failed", kReasonInvalidSpec, requests.error());
    return;
  }
  // Room on each node: this job's own pods of earlier attempts, and any of
  // its pods being deleted, are on their way out and do not count.
  std::vector<policy::PlacementNode> nodes;
  std::map<std::string, kube::ObjectPtr> node_objects;
  const json& tolerations = at(at(at(at(p.job, "spec"), "template"), "spec"), "tolerations");
  for (const kube::ObjectPtr& node : in_.nodes.store().list()) {
    const std::string name = name_of(*node);
    // A node whose taints the workers do not tolerate is not theirs, however
    // cheap (a CPU job stays off GPU nodes tainted for GPU work).
    if (!untolerated_taint(*node, tolerations, p.book, *requests).empty()) continue;
    std::vector<policy::Resources> bound;
    for (const kube::ObjectPtr& pod : in_.pods.store().by_index(kPodsByNodeIndex, name)) {
      if (policy::pod_is_terminal(*pod)) continue;
      if (owned_by(*pod, p.uid) && (attempt_of(*pod) != p.attempt || deleting(*pod))) continue;
      if (auto r = policy::pod_requests(*pod)) bound.push_back(*r);
    }
    auto placed = policy::placement_node(*node, bound, p.book);
    if (!placed) continue;  // a node reporting nonsense takes no workers
    nodes.push_back(*std::move(placed));
    node_objects[name] = node;
  }
  policy::GangRequest gang;
  gang.workers = p.workers;
  gang.per_worker = *requests;
  gang.per_worker.pods = 1;
  gang.preference = p.preference;
  gang.fell_back = fell_back;
  gang.instance_types = p.instance_types;
  auto choice = policy::choose_pool(nodes, gang);
  if (!choice) {
    const policy::NoFit& no = choice.error();
    if (no.kind == policy::NoFitKind::kNever) {
      p.condition(kCondInvalidSpec, true, no.reason, no.message);
      finish(p, "Failed", kReasonInvalidSpec, no.message);
      return;
    }
    const json* admitted = find_condition(p.status, kCondAdmitted);
    const bool newly =
        !admitted || str(*admitted, "status") != "False" || str(*admitted, "reason") != no.reason;
    p.condition(kCondAdmitted, false, no.reason, no.message);
    p.set_phase(condition_true(p.status, kCondRecovering) ? "Recovering" : "Queued");
    if (newly) p.event(kube::EventType::Normal, no.reason, no.message);
    p.requeue_in(kQueueRetrySeconds);
    return;
  }
  std::vector<json> pool_nodes;
  for (const std::string& n : choice->nodes) {
    auto it = node_objects.find(n);
    if (it != node_objects.end()) pool_nodes.push_back(*it->second);
  }
  p.placement = gang_placement(*choice, pool_nodes, p.book, gang.per_worker);
  p.create = true;
  for (int r = 0; r < p.workers; ++r) p.ranks.insert(r);
  p.status["capacityType"] = p.placement.capacity_type;
  p.status["instanceType"] = choice->instance_type;
  p.status["nodePool"] = choice->name();
  const std::string message = std::to_string(p.workers) + " worker(s) on " + choice->name() +
                              " at " + money(choice->price_per_worker_hourly_usd) + "/h each (" +
                              std::string(policy::to_string(choice->source)) + " price), attempt " +
                              std::to_string(p.attempt);
  p.condition(kCondAdmitted, true, "PoolChosen", message);
  p.set_phase(condition_true(p.status, kCondRecovering) ? "Recovering" : "Admitted");
  p.event(kube::EventType::Normal, "Admitted", message);
}

void TrainingJobReconciler::decide(Pass& p) {
  std::string phase = str(p.status, "phase");
  // A spec fixed after InvalidSpec gets another look.
  if (phase == "Failed" && condition_true(p.status, kCondInvalidSpec) &&
      integer(p.status, "observedGeneration", -1) != p.generation) {
    p.condition(kCondInvalidSpec, false, "SpecChanged", "the spec changed since it was rejected");
    p.condition(kCondFailed, false, "SpecChanged", "the spec changed since it was rejected");
    p.status.erase("completionTime");
    phase = "";
  }
  p.status["observedGeneration"] = p.generation;

  if (is_finished(phase)) {
    if (p.ttl) {
      auto done = parse_time(str(p.status, "completionTime"));
      const double left =
          done ? static_cast<double>(*p.ttl) - seconds_between(*done, p.now) * time_scale_ : 0;
      if (left <= 0) {
        p.delete_job = true;
      } else {
        p.requeue_in(left);
      }
    }
    return;
  }
  if (auto problem = validate_spec(p.job)) {
    p.condition(kCondInvalidSpec, true, problem->reason, problem->message);
    finish(p, "Failed", kReasonInvalidSpec, problem->message);
    return;
  }

  const std::vector<json> current = p.current();
  const GangClock clock = gang_clock(current, p.now, p.checkpoint, time_scale_);
  const double ran = num(p.settled_totals(), "runningSeconds") + clock.running_seconds;
  if (p.max_runtime && ran >= static_cast<double>(*p.max_runtime)) {
    finish(p, "Failed", kReasonDeadlineExceeded,
           "the job ran " + std::to_string(static_cast<int64_t>(ran)) +
               " s, more than runPolicy.maxRuntimeSeconds " + std::to_string(*p.max_runtime));
    return;
  }

  if (p.suspend) {
    bool live = false;
    for (const json& pod : current) live = live || !deleting(pod);
    if (live) {
      p.add_settled("runningSeconds", clock.running_seconds);
      p.attempt += 1;
      p.status["attempt"] = p.attempt;
    }
    if (str(p.status, "phase") != "Suspended") {
      p.event(kube::EventType::Normal, kCondSuspended, "The job is suspended; workers deleted");
    }
    p.set_phase("Suspended");
    p.condition(kCondSuspended, true, "Suspended", "spec.suspend is true");
    p.clear(kCondRunning, "Suspended", "spec.suspend is true");
    return;
  }
  if (condition_true(p.status, kCondSuspended)) {
    p.condition(kCondSuspended, false, "Resumed", "spec.suspend is false");
    p.event(kube::EventType::Normal, "Resumed", "The job resumes from its last checkpoint");
    p.set_phase("Queued");
  }

  std::set<std::string> interrupting;
  for (const json& pod : current) {
    const std::string node = node_of(pod);
    if (node.empty()) continue;
    if (kube::ObjectPtr n = in_.nodes.store().get(node)) {
      if (policy::classify_node(*n, p.book).interrupting) interrupting.insert(node);
    }
  }
  GangAssessment gang = assess_gang(current, p.workers, interrupting);

  // Pods created by the last pass that the cache has not shown yet: wait
  // for them rather than create the gang twice.
  {
    std::lock_guard lock(mu_);
    auto it = expectations_.find(p.key.str());
    if (it != expectations_.end()) {
      Expectation& e = it->second;
      for (const json& pod : current) e.names.erase(name_of(pod));
      const bool waiting = e.attempt == p.attempt && !e.names.empty() &&
                           clock_.now() - e.created < kExpectationsTimeout;
      if (!waiting) {
        expectations_.erase(it);
      } else if (gang.state == GangState::kAbsent || gang.state == GangState::kIncomplete) {
        gang.state = GangState::kStarting;
        p.requeue_in(kCostRefreshSeconds);
      }
    }
  }

  switch (gang.state) {
    case GangState::kInterrupted:
      stop_gang(p, kReasonSpotInterrupted, gang.message, true);
      admit(p);
      break;
    case GangState::kFailed: {
      const int64_t failures = integer(p.status, "failures") + 1;
      p.status["failures"] = failures;
      if (failures > p.backoff_limit) {
        finish(p, "Failed", kReasonBackoffLimitExceeded,
               gang.message + "; " + std::to_string(failures) +
                   " failure(s) exceed runPolicy.backoffLimit " + std::to_string(p.backoff_limit));
      } else {
        stop_gang(p, kReasonWorkerFailed,
                  gang.message + " (failure " + std::to_string(failures) + " of " +
                      std::to_string(p.backoff_limit) + " allowed)",
                  false);
        admit(p);
      }
      break;
    }
    case GangState::kBroken:
      stop_gang(p, kReasonWorkerDeleted, gang.message, false);
      admit(p);
      break;
    case GangState::kAbsent:
      admit(p);
      break;
    case GangState::kIncomplete: {
      // Finish the gang this attempt started on the same pool, if it still exists.
      std::vector<json> pool_nodes;
      policy::PoolChoice choice;
      choice.instance_type = str(p.status, "instanceType");
      choice.capacity_type = str(p.status, "capacityType") == "spot"
                                 ? policy::CapacityType::kSpot
                                 : policy::CapacityType::kOnDemand;
      for (const kube::ObjectPtr& node : in_.nodes.store().list()) {
        const policy::NodeClass cls = policy::classify_node(*node, p.book);
        if (cls.instance_type == choice.instance_type &&
            cls.capacity_type == choice.capacity_type) {
          pool_nodes.push_back(*node);
        }
      }
      if (pool_nodes.empty() || choice.instance_type.empty()) {
        stop_gang(p, kReasonWorkerDeleted, gang.message + " and pool " + choice.name() + " is gone",
                  false);
        admit(p);
      } else {
        policy::Resources per_worker;
        if (auto r = policy::pod_requests(at(at(p.job, "spec"), "template"))) per_worker = *r;
        p.placement = gang_placement(choice, pool_nodes, p.book, per_worker);
        p.create = true;
        p.ranks = gang.missing_ranks;
      }
      break;
    }
    case GangState::kSucceeded:
      finish(p, "Succeeded", "AllWorkersSucceeded", gang.message);
      break;
    case GangState::kRunning:
      if (str(p.status, "phase") != "Running") {
        p.status["startupSeconds"] = clock.startup_seconds;
        if (condition_true(p.status, kCondRecovering)) {
          p.condition(kCondRecovering, false, "Recovered",
                      "the gang runs again as attempt " + std::to_string(p.attempt));
        }
      }
      if (!p.status.contains("startTime")) p.status["startTime"] = rfc3339(p.now);
      p.set_phase("Running");
      p.condition(kCondRunning, true, "AllWorkersRunning", gang.message);
      if (p.max_runtime) p.requeue_in(static_cast<double>(*p.max_runtime) - ran);
      break;
    case GangState::kStarting:
      break;
  }
}

void TrainingJobReconciler::account(Pass& p) {
  std::vector<policy::PodInterval> live;
  bool bound = false;
  for (const json& pod : p.pods) {
    const std::string uid = uid_of(pod);
    if (p.settled.count(uid)) continue;
    auto rate = p.rates.find(uid);
    if (rate == p.rates.end()) continue;
    if (auto interval = pod_cost_interval(pod, rate->second)) {
      live.push_back(*interval);
      bound = bound || !interval->end || *interval->end > p.now;
    }
  }
  const json& s = p.settled_totals();
  policy::CostTotals total = totals_of(s);
  total += policy::integrate_cost(live, p.now, time_scale_);
  json cost = totals_json(total, num(s, "lostWorkSeconds"), 0);
  cost.erase("runningSeconds");
  cost["ratePerHourUSD"] = policy::burn_rate_hourly_usd(live, p.now);
  // What people read (kubectl get tj, dashboards) is rounded: money to a
  // hundredth of a cent, hours to the microhour, seconds to the millisecond.
  // The exact sums stay in status.settled.
  for (auto& [field, value] : cost.items()) {
    if (!value.is_number()) continue;
    const double scale = field.ends_with("USD") ? 1e4 : field == "gpuHours" ? 1e6 : 1e3;
    value = std::round(value.get<double>() * scale) / scale;
  }
  p.status["cost"] = cost;
  double running = num(s, "runningSeconds");
  if (!is_finished(str(p.status, "phase"))) {
    running += gang_clock(p.current(), p.now, p.checkpoint, time_scale_).running_seconds;
  }
  p.status["runningSeconds"] = running;
  if (bound || !live.empty()) p.requeue_in(kCostRefreshSeconds);
}

kube::ReconcileOutcome TrainingJobReconciler::act(Pass& p) {
  const std::string ns = p.key.ns;
  const std::string job_name = p.key.name;
  if (p.status != p.before) {
    json patch = {{"metadata", {{"resourceVersion", p.resource_version}}}, {"status", p.status}};
    auto written =
        client_.patch(kTrainingJobs, ns, job_name, kube::PatchType::Merge, patch, "status");
    if (!written) {
      if (written.error().is_not_found()) return kube::ReconcileResult::done();
      // A conflict means the cache was stale: try again once it caught up.
      return frugal::Unexpected(kube::ReconcileError::retry(written.error().to_string()));
    }
    const std::string to = str(meta(*written), "resourceVersion");
    if (!to.empty() && to != p.resource_version) {
      std::lock_guard lock(mu_);
      own_writes_[p.key.str()] = OwnWrite{p.resource_version, clock_.now()};
    }
  }
  for (const auto& e : p.events) events_.record(e);

  std::string failed;
  auto note = [&failed](const kube::Error& e) {
    if (!e.is_not_found() && !e.is_already_exists()) failed = e.to_string();
  };
  // Cost is in status now: the settled pods may go.
  for (const json& pod : p.release) {
    auto r = release(ns, pod);
    if (!r) note(r.error());
  }
  // Stopped gangs go: live pods of earlier attempts (gracefully, so they can
  // checkpoint), every live pod of a finished job, and terminal pods of
  // earlier attempts (the finished attempt's pods stay, as batch Jobs' do).
  const bool finished = is_finished(str(p.status, "phase"));
  for (const json& pod : p.pods) {
    if (deleting(pod)) continue;
    const bool old = attempt_of(pod) < p.attempt;
    const bool terminal = policy::pod_is_terminal(pod);
    if (!(old || (finished && !terminal))) continue;
    kube::DeleteOptions o;
    o.precondition_uid = uid_of(pod);
    auto r = client_.remove(kPods, ns, name_of(pod), o);
    if (!r) note(r.error());
  }
  if (p.delete_job) {
    kube::DeleteOptions o;
    o.propagation_policy = "Background";
    o.precondition_uid = p.uid;
    auto r = client_.remove(kTrainingJobs, ns, job_name, o);
    if (!r) note(r.error());
    log::info("Deleted a finished TrainingJob after its TTL", {{"trainingjob", p.key.str()}});
  }
  if (p.create) {
    if (!in_.services.store().get(ns + "/" + service_name(job_name))) {
      auto r = client_.create(kServices, ns, rendezvous_service(p.job));
      if (!r) note(r.error());
    }
    Expectation e;
    e.attempt = p.attempt;
    e.created = clock_.now();
    for (int rank : p.ranks) {
      json pod = worker_pod(p.job, p.attempt, rank, p.placement);
      pod["metadata"]["finalizers"] = json::array({kCostFinalizer});
      auto r = client_.create(kPods, ns, pod);
      if (r || r.error().is_already_exists()) {
        e.names.insert(name_of(pod));
      } else {
        note(r.error());
      }
    }
    std::lock_guard lock(mu_);
    expectations_[p.key.str()] = std::move(e);
  }
  if (!failed.empty()) return frugal::Unexpected(kube::ReconcileError::retry(failed));
  if (p.requeue_sim) return kube::ReconcileResult::after(real_delay(*p.requeue_sim));
  return kube::ReconcileResult::done();
}

std::unique_ptr<TrainingJobReconciler> add_trainingjob_controller(Manager& manager) {
  auto& jobs = manager.informer(kTrainingJobs);
  auto& pods = manager.informer(kPods);
  auto& nodes = manager.informer(kNodes);
  auto& pricebooks = manager.informer(kPriceBooks);
  auto& services = manager.informer(kServices);
  pods.add_index(kPodsByJobIndex, [](const json& pod) -> std::vector<std::string> {
    const std::string job = label(pod, kJobLabel);
    if (job.empty()) return {};
    return {str(meta(pod), "namespace") + "/" + job};
  });
  pods.add_index(kPodsByNodeIndex, [](const json& pod) -> std::vector<std::string> {
    const std::string node = node_of(pod);
    if (node.empty()) return {};
    return {node};
  });
  auto reconciler = std::make_unique<TrainingJobReconciler>(
      manager.client(), manager.events(),
      TrainingJobInformers{jobs, pods, nodes, pricebooks, services}, manager.clock(),
      manager.options().time_scale);
  auto& loop = manager.add_controller("trainingjob", *reconciler);

  // The job itself: its spec or its deletion, not the status this controller
  // writes (controller-runtime's GenerationChangedPredicate, plus deletion).
  auto enqueue_job = [&loop](const kube::ObjectPtr& obj) {
    loop.enqueue({str(meta(*obj), "namespace"), name_of(*obj)});
  };
  jobs.add_handler(
      kube::EventHandler{enqueue_job,
                         [enqueue_job](const kube::ObjectPtr& old_obj, const kube::ObjectPtr& obj) {
                           json a = *old_obj;
                           json b = *obj;
                           for (json* o : {&a, &b}) {
                             o->erase("status");
                             if ((*o)["metadata"].is_object())
                               (*o)["metadata"].erase("resourceVersion");
                           }
                           if (a != b) enqueue_job(obj);
                         },
                         enqueue_job});
  manager.enqueue_owners(loop, pods, "TrainingJob");
  manager.enqueue_owners(loop, services, "TrainingJob");
  // A node's change (an interruption taint, a DisruptionTarget-to-be, its
  // departure) concerns the jobs with pods on it.
  auto jobs_on_node = [&loop, &pods](const kube::ObjectPtr& node) {
    std::set<std::string> keys;
    for (const kube::ObjectPtr& pod : pods.store().by_index(kPodsByNodeIndex, name_of(*node))) {
      const std::string job = label(*pod, kJobLabel);
      if (!job.empty()) keys.insert(str(meta(*pod), "namespace") + "/" + job);
    }
    for (const std::string& k : keys) loop.enqueue(kube::Key::parse(k));
  };
  nodes.add_handler(kube::EventHandler{
      jobs_on_node,
      [jobs_on_node](const kube::ObjectPtr&, const kube::ObjectPtr& n) { jobs_on_node(n); },
      jobs_on_node});
  return reconciler;
}

}  // namespace frugal::reconcilers
