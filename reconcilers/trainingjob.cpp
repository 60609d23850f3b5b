#include "reconcilers/trainingjob.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <utility>

#include "controller/kube/log.h"
#include "reconcilers/conditions.h"
#include "reconcilers/policy/object_read.h"
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

using namespace policy::object_read;

int attempt_of(const json& pod) { return int_label(pod, kAttemptLabel); }

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

std::string money(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.4f", usd);
  return buf;
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
  double placement_timeout = kDefaultPlacementTimeoutSeconds;
  bool suspend = false;
  bool job_deleting = false;     // deletionTimestamp set, our finalizer holds it
  bool needs_finalizer = false;  // add ours before anything is created
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
  std::vector<std::string> avoid_pools;  // for admit(): pools that just failed to bind
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

kube::Result<void> TrainingJobReconciler::release(const kube::ResourceRef& resource,
                                                  const std::string& ns, const json& obj) {
  // kube-rs's finalizer helper: remove our entry by index, guarded by `test`
  // ops on the object's UID and the entry, so a concurrent change cannot make
  // us drop someone else's finalizer.
  const json& pod = obj;
  json current = obj;
  for (int tries = 0; tries < 2; ++tries) {
    const json& f = at(meta(current), "finalizers");
    if (!has_finalizer(current)) return {};
    size_t index = 0;
    while (f[index] != kCostFinalizer) ++index;
    const std::string path = "/metadata/finalizers/" + std::to_string(index);
    json patch = json::array({{{"op", "test"}, {"path", "/metadata/uid"}, {"value", uid_of(pod)}},
                              {{"op", "test"}, {"path", path}, {"value", kCostFinalizer}},
                              {{"op", "remove"}, {"path", path}}});
    auto r = client_.patch(resource, ns, name_of(pod), kube::PatchType::Json, patch);
    if (r || r.error().is_not_found()) return {};
    if (!r.error().is_invalid()) return frugal::Unexpected(r.error());
    // A test failed: the cached pod was stale. Read it afresh and try again.
    auto fresh = client_.get(resource, ns, name_of(pod));
    if (!fresh) {
      if (fresh.error().is_not_found()) return {};
      return frugal::Unexpected(fresh.error());
    }
    if (uid_of(*fresh) != uid_of(pod)) return {};
    current = *fresh;
  }
  return frugal::Unexpected(kube::Error{422, "Invalid", "the finalizers kept changing", {}, false});
}

kube::ReconcileOutcome TrainingJobReconciler::release_all(const kube::Key& key) {
  {
    std::lock_guard lock(mu_);
    expectations_.erase(key.str());
    own_writes_.erase(key.str());
  }
  std::string failed;
  for (const kube::ObjectPtr& pod : in_.pods.store().by_index(kPodsByJobIndex, key.str())) {
    auto r = release(kPods, key.ns, *pod);
    if (!r) failed = r.error().to_string();
  }
  if (!failed.empty()) return frugal::Unexpected(kube::ReconcileError::retry(failed));
  return kube::ReconcileResult::done();
}

kube::ReconcileOutcome TrainingJobReconciler::reconcile(const kube::Key& key) {
  const kube::ObjectPtr obj = in_.jobs.store().get(key.str());
  // Gone, or going without our finalizer (deleted before this controller
  // first saw it): there is no status left to settle into; the pods may go.
  // A job being deleted with the finalizer gets a full pass below: its
  // workers are stopped and their cost settled before it is let go.
  if (!obj || (deleting(*obj) && !has_finalizer(*obj))) return release_all(key);
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
  p.placement_timeout = static_cast<double>(
      integer(capacity, "placementTimeoutSeconds", kDefaultPlacementTimeoutSeconds));
  p.suspend = at(spec, "suspend") == true;
  p.job_deleting = deleting(p.job);
  p.needs_finalizer = !p.job_deleting && !has_finalizer(p.job);
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

policy::FallbackInput TrainingJobReconciler::fallback_input(Pass& p) const {
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
  return in;
}

bool TrainingJobReconciler::fall_back_if_due(Pass& p) {
  if (at(p.status, "fellBack") == true || p.preference != policy::Preference::kSpotWithFallback) {
    return false;
  }
  const policy::FallbackInput in = fallback_input(p);
  const policy::FallbackDecision d = policy::should_fall_back(in);
  if (!d.fall_back) {
    // Waiting makes no progress: look again when the deadline rule would fire.
    if (auto fires = policy::deadline_rule_fires_at(in)) {
      p.requeue_in(seconds_between(p.now, *fires) * time_scale_ + kDeadlineRuleSlackSeconds);
    }
    return false;
  }
  p.status["fellBack"] = true;
  p.condition(kCondFellBack, true, d.reason, d.message);
  p.event(kube::EventType::Warning, kCondFellBack, "Moving to on-demand capacity: " + d.message);
  return true;
}

void TrainingJobReconciler::withdraw(Pass& p, const std::string& reason,
                                     const std::string& message) {
  // Nothing ran (workers wait for the whole gang to rendezvous), so this is
  // neither a restart nor a failure: the next attempt simply starts over.
  p.attempt += 1;
  p.status["attempt"] = p.attempt;
  const std::string text =
      message + "; placing the gang again as attempt " + std::to_string(p.attempt);
  p.condition(kCondAdmitted, false, reason, text);
  p.event(kube::EventType::Warning, reason, text);
}

void TrainingJobReconciler::watch_binding(Pass& p, const std::vector<json>& current) {
  // The workers not yet bound to a node: since when, and what the scheduler says.
  std::optional<WallTime> since;
  std::string unbound;
  std::string why;
  for (const json& pod : current) {
    if (!node_of(pod).empty() || deleting(pod) || policy::pod_is_terminal(pod)) continue;
    const PodTimes t = pod_times(pod);
    if (t.created && (!since || *t.created < *since)) since = t.created;
    if (unbound.empty()) {
      unbound = name_of(pod);
      why = unschedulable_message(pod);
    }
  }
  if (!since) return;  // every worker is on its node: they are starting
  const std::string pool = str(p.status, "nodePool");
  // Deadline first: a spot gang that waits makes no progress.
  if (str(p.status, "capacityType") == "spot" && fall_back_if_due(p)) {
    withdraw(
        p, policy::kReasonDeadlineAtRisk,
        "the gang was still waiting for spot capacity on " + pool + " and the deadline is at risk");
    admit(p);
    return;
  }
  const double waited = seconds_between(*since, p.now) * time_scale_;
  if (waited < p.placement_timeout) {
    p.requeue_in(p.placement_timeout - waited);
    return;
  }
  withdraw(p, kReasonPlacementTimeout,
           "worker " + unbound + " was not bound to a node of " + pool + " within " +
               std::to_string(static_cast<int64_t>(p.placement_timeout)) +
               " s (capacity.placementTimeoutSeconds)" + (why.empty() ? "" : ": " + why));
  p.avoid_pools.push_back(pool);
  admit(p);
}

void TrainingJobReconciler::admit(Pass& p) {
  // Fallback first: it decides which pools are candidates.
  fall_back_if_due(p);
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
  gang.avoid_pools = p.avoid_pools;
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
  // Being deleted: no more admission; act() stops every worker and let_go()
  // lets the job go once their cost is settled.
  if (p.job_deleting) return;

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
      watch_binding(p, current);
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

void TrainingJobReconciler::emit(const Pass& p, const kube::EventInput& e) {
  // Every decision an Event reports is in the log too, for whoever reads
  // the controller's log rather than kubectl describe.
  log::info("TrainingJob event", {{"trainingjob", p.key.str()},
                                  {"reason", e.reason},
                                  {"attempt", p.attempt},
                                  {"message", e.message}});
  events_.record(e);
}

kube::ReconcileOutcome TrainingJobReconciler::act(Pass& p) {
  const std::string ns = p.key.ns;
  const std::string job_name = p.key.name;
  const std::string read_version = p.resource_version;
  // Writes to the job carry the version this pass read as a precondition:
  // a stale cache gets a 409 and a retry once it caught up.
  auto write_job = [&](const json& patch, const char* subresource) -> kube::Result<void> {
    auto written =
        client_.patch(kTrainingJobs, ns, job_name, kube::PatchType::Merge, patch, subresource);
    if (!written) return frugal::Unexpected(written.error());
    const std::string to = str(meta(*written), "resourceVersion");
    if (!to.empty()) p.resource_version = to;
    std::lock_guard lock(mu_);
    own_writes_[p.key.str()] = OwnWrite{read_version, clock_.now()};
    return {};
  };
  auto give_up = [](const kube::Error& e) -> kube::ReconcileOutcome {
    if (e.is_not_found()) return kube::ReconcileResult::done();
    return frugal::Unexpected(kube::ReconcileError::retry(e.to_string()));
  };
  // Our finalizer goes on before any worker exists, so that deleting the job
  // waits for its workers' cost to be settled.
  if (p.needs_finalizer) {
    json finalizers =
        at(meta(p.job), "finalizers").is_array() ? at(meta(p.job), "finalizers") : json::array();
    finalizers.push_back(kCostFinalizer);
    auto r = write_job(
        {{"metadata", {{"resourceVersion", p.resource_version}, {"finalizers", finalizers}}}}, "");
    if (!r) return give_up(r.error());
  }
  if (p.status != p.before) {
    auto r = write_job(
        {{"metadata", {{"resourceVersion", p.resource_version}}}, {"status", p.status}}, "status");
    if (!r) return give_up(r.error());
  }
  for (const auto& e : p.events) emit(p, e);

  std::string failed;
  auto note = [&failed](const kube::Error& e) {
    if (!e.is_not_found() && !e.is_already_exists()) failed = e.to_string();
  };
  // Cost is in status now: the settled pods may go.
  for (const json& pod : p.release) {
    auto r = release(kPods, ns, pod);
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
    if (!(old || p.job_deleting || (finished && !terminal))) continue;
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
  if (p.job_deleting) return let_go(p);
  if (p.requeue_sim) return kube::ReconcileResult::after(real_delay(*p.requeue_sim));
  return kube::ReconcileResult::done();
}

kube::ReconcileOutcome TrainingJobReconciler::let_go(Pass& p) {
  // Workers still stopping: their pods' changes bring the job back.
  for (const json& pod : p.pods) {
    if (p.settled.count(uid_of(pod)) == 0) return kube::ReconcileResult::done();
  }
  const json& cost = at(p.status, "cost");
  char gpu_hours[32];
  std::snprintf(gpu_hours, sizeof gpu_hours, "%.3f", num(cost, "gpuHours"));
  const std::string text = "Final cost " + money(num(cost, "totalUSD")) + " (spot savings " +
                           money(num(cost, "spotSavingsUSD")) + ", " + gpu_hours + " GPU-hours, " +
                           std::to_string(integer(p.status, "interruptions")) +
                           " interruption(s)); the job is deleted";
  emit(p, {p.ref, kube::EventType::Normal, kReasonCostSettled, text});
  auto r = release(kTrainingJobs, p.key.ns, p.job);
  if (!r) return frugal::Unexpected(kube::ReconcileError::retry(r.error().to_string()));
  {
    std::lock_guard lock(mu_);
    expectations_.erase(p.key.str());
    own_writes_.erase(p.key.str());
  }
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
