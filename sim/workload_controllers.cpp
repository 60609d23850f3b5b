#include "sim/workload_controllers.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <set>
#include <string_view>

#include "sim/names.h"
#include "sim/selector.h"

namespace kubesim {

namespace {

// ---- Names the real controllers use -----------------------------------------

// pkg/controller/deployment/util/deployment_util.go
constexpr const char* kRevisionAnnotation = "deployment.kubernetes.io/revision";
constexpr const char* kRevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history";
constexpr const char* kDesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas";
constexpr const char* kMaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas";
// Deployment annotations never copied onto its ReplicaSets (annotationsToSkip).
const std::set<std::string> kAnnotationsNotCopied = {
    "kubectl.kubernetes.io/last-applied-configuration",
    kRevisionAnnotation,
    kRevisionHistoryAnnotation,
    kDesiredReplicasAnnotation,
    kMaxReplicasAnnotation,
    "deprecated.deployment.rollback.to"};
// deployment_controller.go: maxRevHistoryLengthInChars.
constexpr size_t kMaxRevisionHistoryChars = 2000;
// apps/v1 DefaultDeploymentUniqueLabelKey.
constexpr const char* kPodTemplateHashLabel = "pod-template-hash";
// apps/v1 defaults for an unset rollingUpdate.maxSurge / maxUnavailable.
constexpr const char* kDefaultMaxSurge = "25%";
constexpr const char* kDefaultMaxUnavailable = "25%";
// Spec defaults the API server fills (apps/v1 SetDefaults_Deployment).
constexpr int64_t kDefaultReplicas = 1;
// progressDeadlineSeconds == MaxInt32 means "no deadline" (util.HasProgressDeadline).
constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
// requeueStuckDeployment adds a second to avoid waking just before the deadline.
constexpr double kDeadlineRequeueSlackSeconds = 1;

// Condition types and reasons (deployment_util.go).
constexpr const char* kAvailable = "Available";
constexpr const char* kProgressing = "Progressing";
constexpr const char* kReplicaFailure = "ReplicaFailure";
constexpr const char* kNewRSCreatedReason = "NewReplicaSetCreated";
constexpr const char* kFoundNewRSReason = "FoundNewReplicaSet";
constexpr const char* kRSUpdatedReason = "ReplicaSetUpdated";
constexpr const char* kNewRSAvailableReason = "NewReplicaSetAvailable";
constexpr const char* kTimedOutReason = "ProgressDeadlineExceeded";
constexpr const char* kPausedReason = "DeploymentPaused";
constexpr const char* kResumedReason = "DeploymentResumed";
constexpr const char* kMinAvailableReason = "MinimumReplicasAvailable";
constexpr const char* kMinUnavailableReason = "MinimumReplicasUnavailable";

// replica_set.go: BurstReplicas, the most pods created or deleted in one sync.
constexpr int64_t kBurstReplicas = 500;
// controller.kubernetes.io/pod-deletion-cost (PodDeletionCost, beta and on since 1.22).
constexpr const char* kPodDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost";
// names.SimpleNameGenerator: a generated name is at most 63 characters.
constexpr size_t kMaxGeneratedNameBase = 58;
// Tries at a fresh suffix when a generated name is taken, before leaving the
// pod for the next sync (the server would answer AlreadyExists).
constexpr int kNameAttempts = 10;

// discovery/v1 well-known labels and the slice controller's identity.
constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";
constexpr const char* kManagedByLabel = "endpointslice.kubernetes.io/managed-by";
constexpr const char* kSliceControllerName = "endpointslice-controller.k8s.io";
constexpr const char* kHeadlessLabel = "service.kubernetes.io/headless";
constexpr const char* kZoneLabel = "topology.kubernetes.io/zone";
// endpointslice controller default --max-endpoints-per-slice.
constexpr size_t kMaxEndpointsPerSlice = 100;

// ---- JSON access ---------------------------------------------------------------

const json& null_json() {
  static const json kNull;
  return kNull;
}

const json& at(const json& obj, std::initializer_list<std::string_view> path) {
  const json* cur = &obj;
  for (std::string_view key : path) {
    if (!cur->is_object()) return null_json();
    auto it = cur->find(std::string(key));
    if (it == cur->end()) return null_json();
    cur = &*it;
  }
  return *cur;
}

std::string str_at(const json& obj, std::initializer_list<std::string_view> path,
                   const std::string& fallback = "") {
  const json& v = at(obj, path);
  return v.is_string() ? v.get<std::string>() : fallback;
}

int64_t int_at(const json& obj, std::initializer_list<std::string_view> path, int64_t fallback) {
  const json& v = at(obj, path);
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) return static_cast<int64_t>(v.get<double>());
  return fallback;
}

bool bool_at(const json& obj, std::initializer_list<std::string_view> path) {
  const json& v = at(obj, path);
  return v.is_boolean() && v.get<bool>();
}

std::string name_of(const json& obj) { return str_at(obj, {"metadata", "name"}); }
std::string namespace_of(const json& obj) { return str_at(obj, {"metadata", "namespace"}); }
std::string uid_of(const json& obj) { return str_at(obj, {"metadata", "uid"}); }
const json& labels_of(const json& obj) { return at(obj, {"metadata", "labels"}); }

bool being_deleted(const json& obj) {
  return !str_at(obj, {"metadata", "deletionTimestamp"}).empty();
}

std::optional<TimePoint> time_of(const json& value) {
  TimePoint t;
  if (!value.is_string() || !parse_rfc3339(value.get<std::string>(), t)) return std::nullopt;
  return t;
}

// Go's zero time when absent, so that it sorts as the real code's IsZero() checks expect.
TimePoint created_at(const json& obj) {
  return time_of(at(obj, {"metadata", "creationTimestamp"})).value_or(TimePoint{});
}

double seconds_between(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

// Counts in statuses are omitempty in the real types: a zero is not written.
void put_count(json& status, const char* key, int64_t value) {
  if (value != 0) {
    status[key] = value;
  } else {
    status.erase(key);
  }
}

// The object with null and empty fields dropped, which is how the real
// server's Semantic.DeepEqual (nil == empty) and omitempty see it.
json canonical(const json& v) {
  if (v.is_object()) {
    json out = json::object();
    for (const auto& [k, child] : v.items()) {
      json c = canonical(child);
      if (c.is_null() || ((c.is_object() || c.is_array()) && c.empty())) continue;
      out[k] = std::move(c);
    }
    return out;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& child : v) out.push_back(canonical(child));
    return out;
  }
  return v;
}

json delete_target(const json& obj) {
  json meta = {{"name", name_of(obj)}, {"namespace", namespace_of(obj)}};
  if (!uid_of(obj).empty()) meta["uid"] = uid_of(obj);
  return {{"metadata", meta}};
}

Action make_action(Action::Kind kind, const char* group, const char* resource, json object) {
  return Action{kind, group, resource, std::move(object)};
}

// An object as sent with a status write: no resourceVersion (see the header).
json for_status_write(json obj) {
  if (obj.contains("metadata")) obj["metadata"].erase("resourceVersion");
  return obj;
}

// Oldest first, names breaking ties (controller.ReplicaSetsByCreationTimestamp).
bool older(const json& a, const json& b) {
  TimePoint ta = created_at(a), tb = created_at(b);
  if (ta != tb) return ta < tb;
  return name_of(a) < name_of(b);
}

std::vector<json> sorted_by_name(std::vector<json> objs) {
  std::stable_sort(objs.begin(), objs.end(),
                   [](const json& a, const json& b) { return name_of(a) < name_of(b); });
  return objs;
}

// ---- Ownership -----------------------------------------------------------------

// metav1.NewControllerRef.
json controller_ref(const json& owner, const std::string& api_version, const std::string& kind) {
  return {{"apiVersion", api_version}, {"kind", kind},       {"name", name_of(owner)},
          {"uid", uid_of(owner)},      {"controller", true}, {"blockOwnerDeletion", true}};
}

const json* controller_of(const json& obj) {
  const json& refs = at(obj, {"metadata", "ownerReferences"});
  if (!refs.is_array()) return nullptr;
  for (const json& r : refs) {
    if (bool_at(r, {"controller"})) return &r;
  }
  return nullptr;
}

bool controlled_by(const json& obj, const json& owner, const std::string& kind) {
  const json* ref = controller_of(obj);
  if (!ref) return false;
  if (!uid_of(owner).empty()) return str_at(*ref, {"uid"}) == uid_of(owner);
  return str_at(*ref, {"kind"}) == kind && str_at(*ref, {"name"}) == name_of(owner);
}

struct Claimed {
  std::vector<json> owned;      // as the owner will see them (adopted ones with the new ref)
  std::vector<json> originals;  // the same objects as they were given
  std::vector<json> released;   // objects to update: they lost their owner reference
};

// ControllerRefManager.ClaimObject: keep what the owner controls and its
// selector still matches, release what it controls but no longer matches,
// adopt orphans that match. Nothing is adopted or released by an owner that is
// being deleted, and nothing being deleted is adopted.
Claimed claim(const json& owner, const json& owner_ref, const std::string& kind,
              const LabelSelector& selector, const std::vector<json>& candidates) {
  Claimed out;
  for (const json& obj : candidates) {
    const bool matches = selector.matches(labels_of(obj));
    if (controlled_by(obj, owner, kind)) {
      if (matches) {
        out.owned.push_back(obj);
        out.originals.push_back(obj);
      } else if (!being_deleted(owner)) {
        json copy = obj;
        json& refs = copy["metadata"]["ownerReferences"];
        refs.erase(std::remove_if(refs.begin(), refs.end(),
                                  [&](const json& r) { return bool_at(r, {"controller"}); }),
                   refs.end());
        out.released.push_back(std::move(copy));
      }
      continue;
    }
    if (controller_of(obj) || !matches || being_deleted(owner) || being_deleted(obj)) continue;
    json copy = obj;
    if (!copy["metadata"]["ownerReferences"].is_array()) {
      copy["metadata"]["ownerReferences"] = json::array();
    }
    copy["metadata"]["ownerReferences"].push_back(owner_ref);
    out.owned.push_back(std::move(copy));
    out.originals.push_back(obj);
  }
  return out;
}

// ---- Pods ----------------------------------------------------------------------

const json* ready_condition(const json& pod) {
  const json& conds = at(pod, {"status", "conditions"});
  if (!conds.is_array()) return nullptr;
  for (const json& c : conds) {
    if (str_at(c, {"type"}) == "Ready") return &c;
  }
  return nullptr;
}

// The time the pod became ready, when it is (podReadyTime).
std::optional<TimePoint> ready_since(const json& pod) {
  if (!is_pod_ready(pod)) return std::nullopt;
  return time_of(at(*ready_condition(pod), {"lastTransitionTime"}));
}

// controller.IsPodActive: not finished and not being deleted.
bool is_active(const json& pod) {
  const std::string phase = str_at(pod, {"status", "phase"});
  return phase != "Succeeded" && phase != "Failed" && !being_deleted(pod);
}

bool is_terminal(const json& pod) {
  const std::string phase = str_at(pod, {"status", "phase"});
  return phase == "Succeeded" || phase == "Failed";
}

int64_t max_restarts(const json& pod) {
  int64_t most = 0;
  const json& statuses = at(pod, {"status", "containerStatuses"});
  if (!statuses.is_array()) return 0;
  for (const json& s : statuses) most = std::max(most, int_at(s, {"restartCount"}, 0));
  return most;
}

int64_t deletion_cost(const json& pod) {
  const std::string text = str_at(pod, {"metadata", "annotations", kPodDeletionCostAnnotation});
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size() && v >= std::numeric_limits<int32_t>::min() && v <= kMaxInt32) return v;
  } catch (const std::exception&) {
  }
  return 0;  // helper.GetDeletionCostFromPodAnnotations: invalid reads as the default
}

// controller.ActivePodsWithRanks.Less's logarithmicRankDiff: the power of two
// of nanoseconds since each time, so that pods of about the same age tie.
int64_t logarithmic_rank_diff(TimePoint t1, TimePoint t2, TimePoint now) {
  auto rank = [&](TimePoint t) -> int64_t {
    const auto d = std::chrono::duration_cast<std::chrono::nanoseconds>(now - t).count();
    return d > 0 ? static_cast<int64_t>(std::log2(static_cast<double>(d))) : -1;
  };
  return rank(t1) - rank(t2);
}

// afterOrZero: t1 after t2, a zero time counting as after everything.
bool after_or_zero(TimePoint t1, TimePoint t2) {
  if (t1 == TimePoint{} || t2 == TimePoint{}) return t1 == TimePoint{};
  return t1 > t2;
}

// Orders two times the way LogarithmicScaleDown (on since 1.22) does: the
// more recent first when they differ by a power of two of age, else by UID as
// the real code does; nullopt only when the times are equal (next rule decides).
std::optional<bool> newer_first(TimePoint t1, TimePoint t2, TimePoint now, const json& a,
                                const json& b) {
  if (t1 == t2) return std::nullopt;
  if (t1 == TimePoint{} || t2 == TimePoint{}) return after_or_zero(t1, t2);
  const int64_t diff = logarithmic_rank_diff(t1, t2, now);
  if (diff == 0) return uid_of(a) < uid_of(b);
  return diff < 0;
}

// The pod-phase order of the deletion ranking: Pending < Unknown < Running.
int phase_ordinal(const json& pod) {
  const std::string phase = str_at(pod, {"status", "phase"});
  if (phase == "Unknown") return 1;
  if (phase == "Running") return 2;
  return 0;
}

// controller.ActivePodsWithRanks.Less: true when `a` should be deleted before
// `b`. rank = active related pods on the same node ("doubled up").
bool delete_before(const json& a, int rank_a, const json& b, int rank_b, TimePoint now) {
  const std::string node_a = str_at(a, {"spec", "nodeName"});
  const std::string node_b = str_at(b, {"spec", "nodeName"});
  if (node_a != node_b && (node_a.empty() || node_b.empty())) return node_a.empty();
  if (phase_ordinal(a) != phase_ordinal(b)) return phase_ordinal(a) < phase_ordinal(b);
  if (is_pod_ready(a) != is_pod_ready(b)) return !is_pod_ready(a);
  if (deletion_cost(a) != deletion_cost(b)) return deletion_cost(a) < deletion_cost(b);
  if (rank_a != rank_b) return rank_a > rank_b;
  if (is_pod_ready(a) && is_pod_ready(b)) {
    const TimePoint ra = ready_since(a).value_or(TimePoint{});
    const TimePoint rb = ready_since(b).value_or(TimePoint{});
    if (auto r = newer_first(ra, rb, now, a, b)) return *r;
  }
  if (max_restarts(a) != max_restarts(b)) return max_restarts(a) > max_restarts(b);
  if (auto r = newer_first(created_at(a), created_at(b), now, a, b)) return *r;
  return false;
}

// replica_set.go getPodsToDelete: the `count` pods to delete first.
std::vector<json> pods_to_delete(const std::vector<json>& active, size_t count, TimePoint now) {
  std::map<std::string, int> on_node;
  for (const json& p : active) ++on_node[str_at(p, {"spec", "nodeName"})];
  struct Ranked {
    const json* pod;
    int rank;
  };
  std::vector<Ranked> ranked;
  for (const json& p : active) ranked.push_back({&p, on_node[str_at(p, {"spec", "nodeName"})]});
  // Stable over a by-name order, so equal pods are picked the same way each time.
  std::stable_sort(ranked.begin(), ranked.end(), [&](const Ranked& x, const Ranked& y) {
    return delete_before(*x.pod, x.rank, *y.pod, y.rank, now);
  });
  std::vector<json> out;
  for (size_t i = 0; i < count && i < ranked.size(); ++i) out.push_back(*ranked[i].pod);
  return out;
}

// names.SimpleNameGenerator with the caller's suffix; a name no pod has yet.
std::optional<std::string> fresh_name(const std::string& prefix, std::set<std::string>& taken,
                                      const NameSuffix& random_suffix) {
  const std::string base = prefix.substr(0, kMaxGeneratedNameBase);
  for (int i = 0; i < kNameAttempts; ++i) {
    std::string name = base + random_suffix();
    if (taken.insert(name).second) return name;
  }
  return std::nullopt;
}

// ---- Pod-template hash -----------------------------------------------------------

// hash/fnv New32a.
constexpr uint32_t kFnvOffset = 2166136261u;
constexpr uint32_t kFnvPrime = 16777619u;

uint32_t fnv1a(std::string_view bytes, uint32_t h) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

// k8s.io/apimachinery/pkg/util/rand.SafeEncodeString: each byte mapped into an
// alphabet without vowels (no accidental words) or look-alike digits.
std::string safe_encode(std::string_view s) {
  constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (unsigned char c : s) out += kAlphabet[c % kAlphabet.size()];
  return out;
}

json without_hash_label(json pod_template) {
  if (pod_template.is_object() && pod_template.contains("metadata") &&
      pod_template["metadata"].contains("labels") &&
      pod_template["metadata"]["labels"].is_object()) {
    pod_template["metadata"]["labels"].erase(kPodTemplateHashLabel);
  }
  return pod_template;
}

// deploymentutil.EqualIgnoreHash.
bool equal_ignore_hash(const json& a, const json& b) {
  return canonical(without_hash_label(a)) == canonical(without_hash_label(b));
}

// ---- Deployment ------------------------------------------------------------------

int64_t spec_replicas(const json& obj) {
  return int_at(obj, {"spec", "replicas"}, kDefaultReplicas);
}

// intstr.GetScaledValueFromIntOrPercent; a malformed value reads as 0 (the
// controller ignores the error; validation is what rejects it).
int64_t scaled_value(const json& v, int64_t total, bool round_up) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (!v.is_string()) return 0;
  std::string s = v.get<std::string>();
  if (s.empty() || s.back() != '%') return 0;
  s.pop_back();
  int64_t percent = 0;
  try {
    size_t used = 0;
    percent = std::stoll(s, &used);
    if (used != s.size()) return 0;
  } catch (const std::exception&) {
    return 0;
  }
  const double scaled = static_cast<double>(percent) * static_cast<double>(total) / 100.0;
  return static_cast<int64_t>(round_up ? std::ceil(scaled) : std::floor(scaled));
}

// deploymentutil.Revision; unparsable or absent reads as 0.
int64_t revision_of(const json& rs) {
  const std::string text = str_at(rs, {"metadata", "annotations", kRevisionAnnotation});
  try {
    size_t used = 0;
    const int64_t v = std::stoll(text, &used);
    return used == text.size() ? v : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

json new_condition(const std::string& type, const std::string& status, const std::string& reason,
                   const std::string& message, const std::string& now) {
  return {{"type", type},          {"status", status},
          {"lastUpdateTime", now}, {"lastTransitionTime", now},
          {"reason", reason},      {"message", message}};
}

const json* find_condition(const json& status, const std::string& type) {
  const json& conds = at(status, {"conditions"});
  if (!conds.is_array()) return nullptr;
  for (const json& c : conds) {
    if (str_at(c, {"type"}) == type) return &c;
  }
  return nullptr;
}

void remove_condition(json& status, const std::string& type) {
  if (!status.contains("conditions")) return;
  json& conds = status["conditions"];
  conds.erase(std::remove_if(conds.begin(), conds.end(),
                             [&](const json& c) { return str_at(c, {"type"}) == type; }),
              conds.end());
  if (conds.empty()) status.erase("conditions");
}

// deploymentutil.SetDeploymentCondition: same status and reason is no change;
// a new reason with the same status keeps the transition time; the condition
// moves to the end of the list.
void set_condition(json& status, json condition) {
  const std::string type = condition["type"];
  if (const json* current = find_condition(status, type)) {
    if (str_at(*current, {"status"}) == condition["status"] &&
        str_at(*current, {"reason"}) == condition["reason"]) {
      return;
    }
    if (str_at(*current, {"status"}) == condition["status"]) {
      condition["lastTransitionTime"] = (*current)["lastTransitionTime"];
    }
  }
  remove_condition(status, type);
  status["conditions"].push_back(std::move(condition));
}

// One sync of one Deployment (deployment_controller.go syncDeployment and the
// strategy functions it calls), on working copies: the ReplicaSets and the
// Deployment are changed in memory, and finish() turns the differences into
// writes. ReplicaSets are held by index in rss_ because creation appends.
class DeploymentSync {
 public:
  DeploymentSync(const json& deployment, const std::vector<json>& namespace_rss,
                 const std::vector<json>& pods, TimePoint now)
      : original_(deployment),
        d_(deployment),
        namespace_rss_(namespace_rss),
        pods_(pods),
        now_(now),
        now_text_(rfc3339(now)) {
    if (!d_["status"].is_object()) d_["status"] = json::object();
  }

  Reconciliation run();

 private:
  struct Rs {
    json obj;
    json original;  // as given; null for one created in this sync
    bool deleted = false;
  };

  // -- facts about the deployment
  int64_t desired() const { return spec_replicas(d_); }
  bool rolling() const { return str_at(d_, {"spec", "strategy", "type"}) != "Recreate"; }
  bool paused() const { return bool_at(d_, {"spec", "paused"}); }
  int64_t generation() const { return int_at(d_, {"metadata", "generation"}, 0); }
  bool has_progress_deadline() const {
    const json& v = at(d_, {"spec", "progressDeadlineSeconds"});
    return v.is_number_integer() && v.get<int64_t>() != kMaxInt32;
  }
  int64_t progress_deadline() const { return int_at(d_, {"spec", "progressDeadlineSeconds"}, 0); }
  const json& rolling_param(const char* key) const {
    return at(d_, {"spec", "strategy", "rollingUpdate", key});
  }
  std::pair<int64_t, int64_t> fenceposts() const;
  int64_t max_surge() const { return rolling() ? fenceposts().first : 0; }
  int64_t max_unavailable() const;

  // -- ReplicaSet sets (indices into rss_)
  json& rs(size_t i) { return rss_[i].obj; }
  std::vector<size_t> all() const;
  std::vector<size_t> active(const std::vector<size_t>& idx) const;
  int64_t sum_spec(const std::vector<size_t>& idx) const;
  int64_t sum_status(const std::vector<size_t>& idx, const char* field) const;
  void sort_by_creation(std::vector<size_t>& idx) const;

  // -- steps of the real controller
  void claim_replicasets();
  void get_all_and_sync_revision(bool create);
  void sync_existing_new_rs(size_t i, int64_t new_revision);
  void create_new_rs(int64_t new_revision);
  void set_new_rs_annotations(json& rs, int64_t new_revision, bool exists);
  bool set_replicas_annotations(json& rs) const;
  int64_t new_rs_new_replicas() const;
  bool scale_rs(size_t i, int64_t replicas);
  bool scale_rs_if_needed(size_t i, int64_t replicas);
  bool is_scaling_event();
  void check_paused_conditions();
  void sync();
  void scale();
  void rollout_rolling();
  bool reconcile_new_rs();
  bool reconcile_old_rss();
  int64_t cleanup_unhealthy_replicas(std::vector<size_t> old, int64_t max_cleanup);
  int64_t scale_down_old_for_rolling_update(std::vector<size_t> old);
  void rollout_recreate();
  bool old_pods_running() const;
  void cleanup_deployment();
  json calculate_status() const;
  void sync_deployment_status() { d_["status"] = calculate_status(); }
  void sync_rollout_status();
  bool complete(const json& status) const;
  bool progressing(const json& status) const;
  bool timed_out(const json& status) const;
  void note_requeue(double seconds);
  Reconciliation finish();

  const json& original_;
  json d_;
  const std::vector<json>& namespace_rss_;
  const std::vector<json>& pods_;
  TimePoint now_;
  std::string now_text_;
  std::optional<LabelSelector> selector_;
  std::vector<Rs> rss_;
  std::vector<json> released_;
  std::optional<size_t> new_;
  std::vector<size_t> old_;
  bool stopped_ = false;  // a hash collision: this sync writes the new collisionCount only
  std::optional<double> requeue_;
};

// deploymentutil.ResolveFenceposts.
std::pair<int64_t, int64_t> DeploymentSync::fenceposts() const {
  const json& surge_v = rolling_param("maxSurge");
  const json& unavailable_v = rolling_param("maxUnavailable");
  int64_t surge =
      scaled_value(surge_v.is_null() ? json(kDefaultMaxSurge) : surge_v, desired(), true);
  int64_t unavailable = scaled_value(
      unavailable_v.is_null() ? json(kDefaultMaxUnavailable) : unavailable_v, desired(), false);
  // Validation forbids both zero, but rounding down can get there; the real
  // controller then allows one unavailable pod since surge may be blocked by quota.
  if (surge == 0 && unavailable == 0) unavailable = 1;
  return {surge, unavailable};
}

// deploymentutil.MaxUnavailable.
int64_t DeploymentSync::max_unavailable() const {
  if (!rolling() || desired() == 0) return 0;
  return std::min(fenceposts().second, desired());
}

std::vector<size_t> DeploymentSync::all() const {
  std::vector<size_t> out = old_;
  if (new_) out.push_back(*new_);
  return out;
}

std::vector<size_t> DeploymentSync::active(const std::vector<size_t>& idx) const {
  std::vector<size_t> out;
  for (size_t i : idx) {
    if (spec_replicas(rss_[i].obj) > 0) out.push_back(i);
  }
  return out;
}

int64_t DeploymentSync::sum_spec(const std::vector<size_t>& idx) const {
  int64_t n = 0;
  for (size_t i : idx) n += spec_replicas(rss_[i].obj);
  return n;
}

int64_t DeploymentSync::sum_status(const std::vector<size_t>& idx, const char* field) const {
  int64_t n = 0;
  for (size_t i : idx) n += int_at(rss_[i].obj, {"status", field}, 0);
  return n;
}

void DeploymentSync::sort_by_creation(std::vector<size_t>& idx) const {
  std::stable_sort(idx.begin(), idx.end(),
                   [&](size_t a, size_t b) { return older(rss_[a].obj, rss_[b].obj); });
}

// getReplicaSetsForDeployment.
void DeploymentSync::claim_replicasets() {
  std::vector<json> candidates = namespace_rss_;
  std::stable_sort(candidates.begin(), candidates.end(), older);
  Claimed c =
      claim(d_, controller_ref(d_, "apps/v1", "Deployment"), "Deployment", *selector_, candidates);
  for (size_t i = 0; i < c.owned.size(); ++i) rss_.push_back({c.owned[i], c.originals[i]});
  released_ = std::move(c.released);
}

// getAllReplicaSetsAndSyncRevision / getNewReplicaSet.
void DeploymentSync::get_all_and_sync_revision(bool create) {
  new_.reset();
  old_.clear();
  std::vector<size_t> idx;
  for (size_t i = 0; i < rss_.size(); ++i) {
    if (!rss_[i].deleted) idx.push_back(i);
  }
  sort_by_creation(idx);
  const json& tmpl = at(d_, {"spec", "template"});
  for (size_t i : idx) {
    if (!new_ && equal_ignore_hash(at(rss_[i].obj, {"spec", "template"}), tmpl)) {
      new_ = i;
    } else {
      old_.push_back(i);
    }
  }
  int64_t max_old_revision = 0;
  for (size_t i : old_) max_old_revision = std::max(max_old_revision, revision_of(rss_[i].obj));
  const int64_t new_revision = max_old_revision + 1;
  if (new_) {
    sync_existing_new_rs(*new_, new_revision);
  } else if (create) {
    create_new_rs(new_revision);
  }
}

void DeploymentSync::sync_existing_new_rs(size_t i, int64_t new_revision) {
  json& r = rs(i);
  set_new_rs_annotations(r, new_revision, true);
  const int64_t min_ready = int_at(d_, {"spec", "minReadySeconds"}, 0);
  if (int_at(r, {"spec", "minReadySeconds"}, 0) != min_ready) {
    put_count(r["spec"], "minReadySeconds", min_ready);
  }
  // The deployment's revision follows its new ReplicaSet's.
  d_["metadata"]["annotations"][kRevisionAnnotation] =
      str_at(r, {"metadata", "annotations", kRevisionAnnotation});
  if (has_progress_deadline() && !find_condition(d_["status"], kProgressing)) {
    set_condition(d_["status"],
                  new_condition(kProgressing, "True", kFoundNewRSReason,
                                "Found new replica set \"" + name_of(r) + "\"", now_text_));
  }
}

void DeploymentSync::create_new_rs(int64_t new_revision) {
  const json& cc = at(d_, {"status", "collisionCount"});
  const std::optional<int64_t> collision_count =
      cc.is_number_integer() ? std::optional<int64_t>(cc.get<int64_t>()) : std::nullopt;
  json tmpl = at(d_, {"spec", "template"});
  const std::string hash = pod_template_hash(tmpl, collision_count);
  const std::string name = name_of(d_) + "-" + hash;
  // A ReplicaSet of that name that is not this template's: bump the collision
  // count so the next sync hashes differently (getNewReplicaSet on AlreadyExists).
  for (const json& other : namespace_rss_) {
    if (name_of(other) == name) {
      d_["status"]["collisionCount"] = collision_count.value_or(0) + 1;
      stopped_ = true;
      return;
    }
  }
  tmpl["metadata"]["labels"][kPodTemplateHashLabel] = hash;
  json selector = at(d_, {"spec", "selector"});
  selector["matchLabels"][kPodTemplateHashLabel] = hash;
  json r = {{"apiVersion", "apps/v1"},
            {"kind", "ReplicaSet"},
            {"metadata",
             {{"name", name},
              {"namespace", namespace_of(d_)},
              {"labels", tmpl["metadata"]["labels"]},
              {"ownerReferences", json::array({controller_ref(d_, "apps/v1", "Deployment")})}}},
            {"spec", {{"replicas", 0}, {"selector", selector}, {"template", tmpl}}}};
  const int64_t min_ready = int_at(d_, {"spec", "minReadySeconds"}, 0);
  if (int_at(r, {"spec", "minReadySeconds"}, 0) != min_ready) {
    put_count(r["spec"], "minReadySeconds", min_ready);
  }
  rss_.push_back({r, json()});
  new_ = rss_.size() - 1;
  rs(*new_)["spec"]["replicas"] = new_rs_new_replicas();
  set_new_rs_annotations(rs(*new_), new_revision, false);
  if (has_progress_deadline()) {
    set_condition(d_["status"],
                  new_condition(kProgressing, "True", kNewRSCreatedReason,
                                "Created new replica set \"" + name + "\"", now_text_));
  }
  d_["metadata"]["annotations"][kRevisionAnnotation] = std::to_string(new_revision);
}

// The revision-history annotation with `revision` appended, the oldest
// entries dropped to stay within kMaxRevisionHistoryChars; unchanged when
// even that does not fit (SetNewReplicaSetAnnotations).
std::string append_revision_history(const std::string& history, const std::string& revision) {
  if (history.empty()) return revision;
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t comma = history.find(',', start);
    parts.push_back(history.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  size_t total = history.size() + revision.size() + 1;
  size_t first = 0;
  while (total > kMaxRevisionHistoryChars && first < parts.size()) {
    total -= parts[first].size() + 1;
    ++first;
  }
  if (total > kMaxRevisionHistoryChars) return history;
  std::string joined;
  for (size_t i = first; i < parts.size(); ++i) joined += parts[i] + ",";
  return joined + revision;
}

// deploymentutil.SetNewReplicaSetAnnotations: the deployment's annotations
// copied over, the revision raised to `new_revision` (remembering the old one
// when this is a rollback), and for a new set the replicas annotations.
void DeploymentSync::set_new_rs_annotations(json& r, int64_t new_revision, bool exists) {
  json& ann = r["metadata"]["annotations"];
  if (!ann.is_object()) ann = json::object();
  const json& d_ann = at(d_, {"metadata", "annotations"});
  if (d_ann.is_object()) {
    for (const auto& [k, v] : d_ann.items()) {
      if (!kAnnotationsNotCopied.count(k)) ann[k] = v;
    }
  }
  const bool had_revision = ann.contains(kRevisionAnnotation);
  const std::string old_text = str_at(ann, {kRevisionAnnotation});
  const int64_t old_revision = revision_of(r);
  if (!old_text.empty() && old_revision == 0 && old_text != "0") return;  // unparsable: left alone
  if (old_revision < new_revision) {
    ann[kRevisionAnnotation] = std::to_string(new_revision);
    if (had_revision) {
      ann[kRevisionHistoryAnnotation] =
          append_revision_history(str_at(ann, {kRevisionHistoryAnnotation}), old_text);
    }
  }
  if (!exists) set_replicas_annotations(r);
}

// deploymentutil.SetReplicasAnnotations: the deployment size (and with surge)
// the ReplicaSet was last scaled for, which proportional scaling reads back.
bool DeploymentSync::set_replicas_annotations(json& r) const {
  bool changed = false;
  json& ann = r["metadata"]["annotations"];
  if (!ann.is_object()) ann = json::object();
  const std::string want_desired = std::to_string(desired());
  const std::string want_max = std::to_string(desired() + max_surge());
  if (ann.value(kDesiredReplicasAnnotation, "") != want_desired) {
    ann[kDesiredReplicasAnnotation] = want_desired;
    changed = true;
  }
  if (ann.value(kMaxReplicasAnnotation, "") != want_max) {
    ann[kMaxReplicasAnnotation] = want_max;
    changed = true;
  }
  return changed;
}

// deploymentutil.NewRSNewReplicas.
int64_t DeploymentSync::new_rs_new_replicas() const {
  const int64_t current_new = spec_replicas(rss_[*new_].obj);
  if (!rolling()) return desired();
  const json& surge_v = rolling_param("maxSurge");
  const int64_t surge =
      scaled_value(surge_v.is_null() ? json(kDefaultMaxSurge) : surge_v, desired(), true);
  const int64_t current_pods = sum_spec(all());
  const int64_t max_total = desired() + surge;
  if (current_pods >= max_total) return current_new;
  const int64_t scale_up = std::min(max_total - current_pods, desired() - current_new);
  return current_new + scale_up;
}

// scaleReplicaSet: writes the size and the replicas annotations.
bool DeploymentSync::scale_rs(size_t i, int64_t replicas) {
  json& r = rs(i);
  const bool size_changes = spec_replicas(r) != replicas;
  json probe = r;
  const bool annotations_change = set_replicas_annotations(probe);
  if (size_changes || annotations_change) {
    r["spec"]["replicas"] = replicas;
    set_replicas_annotations(r);
  }
  return size_changes;
}

// scaleReplicaSetAndRecordEvent.
bool DeploymentSync::scale_rs_if_needed(size_t i, int64_t replicas) {
  if (spec_replicas(rs(i)) == replicas) return false;
  return scale_rs(i, replicas);
}

// isScalingEvent: an active ReplicaSet was sized for another deployment size.
bool DeploymentSync::is_scaling_event() {
  get_all_and_sync_revision(false);
  for (size_t i : active(all())) {
    const std::string text = str_at(rs(i), {"metadata", "annotations", kDesiredReplicasAnnotation});
    try {
      size_t used = 0;
      const int64_t v = std::stoll(text, &used);
      if (used == text.size() && v != desired()) return true;
    } catch (const std::exception&) {
    }
  }
  return false;
}

// checkPausedConditions.
void DeploymentSync::check_paused_conditions() {
  if (!has_progress_deadline()) return;
  const json* cond = find_condition(d_["status"], kProgressing);
  if (cond && str_at(*cond, {"reason"}) == kTimedOutReason) return;
  const bool paused_cond = cond && str_at(*cond, {"reason"}) == kPausedReason;
  if (paused() && !paused_cond) {
    set_condition(d_["status"], new_condition(kProgressing, "Unknown", kPausedReason,
                                              "Deployment is paused", now_text_));
  } else if (!paused() && paused_cond) {
    set_condition(d_["status"], new_condition(kProgressing, "Unknown", kResumedReason,
                                              "Deployment is resumed", now_text_));
  }
}

// sync: scaling (or paused) without rolling anything out.
void DeploymentSync::sync() {
  get_all_and_sync_revision(false);
  scale();
  if (paused()) cleanup_deployment();
  sync_deployment_status();
}

// scale: resize to the deployment's replicas, proportionally across the
// ReplicaSets of a rollout in progress.
void DeploymentSync::scale() {
  // FindActiveOrLatest.
  std::vector<size_t> old_newest_first = old_;
  sort_by_creation(old_newest_first);
  std::reverse(old_newest_first.begin(), old_newest_first.end());
  std::vector<size_t> candidates = old_newest_first;
  if (new_) candidates.push_back(*new_);
  const std::vector<size_t> act = active(candidates);
  std::optional<size_t> active_or_latest;
  if (act.size() == 1) {
    active_or_latest = act[0];
  } else if (act.empty() && (new_ || !old_newest_first.empty())) {
    active_or_latest = new_ ? *new_ : old_newest_first[0];
  }
  if (active_or_latest) {
    if (spec_replicas(rs(*active_or_latest)) != desired()) {
      scale_rs_if_needed(*active_or_latest, desired());
    }
    return;
  }
  // IsSaturated: the new ReplicaSet runs everything; old ones go to zero.
  if (new_) {
    const json& n = rs(*new_);
    const std::string want = std::to_string(desired());
    if (spec_replicas(n) == desired() &&
        str_at(n, {"metadata", "annotations", kDesiredReplicasAnnotation}) == want &&
        int_at(n, {"status", "availableReplicas"}, 0) == desired()) {
      for (size_t i : active(old_)) scale_rs_if_needed(i, 0);
      return;
    }
  }
  if (!rolling()) return;
  std::vector<size_t> rss = active(all());
  const int64_t allowed = desired() > 0 ? desired() + max_surge() : 0;
  const int64_t to_add = allowed - sum_spec(rss);
  if (to_add > 0) {  // ReplicaSetsBySizeNewer
    std::stable_sort(rss.begin(), rss.end(), [&](size_t a, size_t b) {
      if (spec_replicas(rs(a)) != spec_replicas(rs(b))) {
        return spec_replicas(rs(a)) > spec_replicas(rs(b));
      }
      return older(rs(b), rs(a));
    });
  } else if (to_add < 0) {  // ReplicaSetsBySizeOlder
    std::stable_sort(rss.begin(), rss.end(), [&](size_t a, size_t b) {
      if (spec_replicas(rs(a)) != spec_replicas(rs(b))) {
        return spec_replicas(rs(a)) > spec_replicas(rs(b));
      }
      return older(rs(a), rs(b));
    });
  }
  // GetProportion / getReplicaSetFraction.
  std::vector<int64_t> sizes;
  int64_t added = 0;
  for (size_t i : rss) {
    const int64_t current = spec_replicas(rs(i));
    int64_t proportion = 0;
    if (to_add != 0 && current != 0 && to_add != added) {
      int64_t fraction = 0;
      if (desired() == 0) {
        fraction = -current;
      } else {
        const int64_t max_now = desired() + max_surge();
        int64_t max_before = 0;
        try {
          max_before =
              std::stoll(str_at(rs(i), {"metadata", "annotations", kMaxReplicasAnnotation}));
        } catch (const std::exception&) {
        }
        if (max_before == 0) max_before = int_at(d_, {"status", "replicas"}, 0);
        if (max_before != 0) {
          const double size = static_cast<double>(current * max_now) / max_before;
          fraction = static_cast<int64_t>(std::round(size)) - current;
        }
      }
      const int64_t allowed_more = to_add - added;
      proportion = to_add > 0 ? std::min(fraction, allowed_more) : std::max(fraction, allowed_more);
    }
    sizes.push_back(current + proportion);
    added += proportion;
  }
  for (size_t k = 0; k < rss.size(); ++k) {
    if (k == 0 && to_add != 0) sizes[0] = std::max<int64_t>(0, sizes[0] + to_add - added);
    scale_rs(rss[k], sizes[k]);
  }
}

// rolloutRolling.
void DeploymentSync::rollout_rolling() {
  get_all_and_sync_revision(true);
  if (stopped_) return;
  if (reconcile_new_rs() || reconcile_old_rss()) {
    sync_rollout_status();
    return;
  }
  if (complete(d_["status"])) cleanup_deployment();
  sync_rollout_status();
}

// reconcileNewReplicaSet.
bool DeploymentSync::reconcile_new_rs() {
  const int64_t current = spec_replicas(rs(*new_));
  if (current == desired()) return false;
  if (current > desired()) return scale_rs_if_needed(*new_, desired());
  return scale_rs_if_needed(*new_, new_rs_new_replicas());
}

// reconcileOldReplicaSets: scale old ReplicaSets down as far as maxUnavailable
// allows, unhealthy replicas first.
bool DeploymentSync::reconcile_old_rss() {
  const std::vector<size_t> old = active(old_);
  if (sum_spec(old) == 0) return false;
  const int64_t min_available = desired() - max_unavailable();
  const json& n = rs(*new_);
  const int64_t new_unavailable = spec_replicas(n) - int_at(n, {"status", "availableReplicas"}, 0);
  const int64_t max_scaled_down = sum_spec(all()) - min_available - new_unavailable;
  if (max_scaled_down <= 0) return false;
  const int64_t cleaned = cleanup_unhealthy_replicas(old, max_scaled_down);
  const int64_t scaled = scale_down_old_for_rolling_update(old);
  return cleaned + scaled > 0;
}

int64_t DeploymentSync::cleanup_unhealthy_replicas(std::vector<size_t> old, int64_t max_cleanup) {
  sort_by_creation(old);
  int64_t total = 0;
  for (size_t i : old) {
    if (total >= max_cleanup) break;
    const int64_t replicas = spec_replicas(rs(i));
    const int64_t available = int_at(rs(i), {"status", "availableReplicas"}, 0);
    if (replicas == 0 || replicas == available) continue;
    const int64_t count = std::min(max_cleanup - total, replicas - available);
    if (count <= 0) continue;
    scale_rs_if_needed(i, replicas - count);
    total += count;
  }
  return total;
}

int64_t DeploymentSync::scale_down_old_for_rolling_update(std::vector<size_t> old) {
  const int64_t min_available = desired() - max_unavailable();
  const int64_t available = sum_status(all(), "availableReplicas");
  if (available <= min_available) return 0;
  sort_by_creation(old);
  const int64_t to_scale_down = available - min_available;
  int64_t total = 0;
  for (size_t i : old) {
    if (total >= to_scale_down) break;
    const int64_t replicas = spec_replicas(rs(i));
    if (replicas == 0) continue;
    const int64_t count = std::min(replicas, to_scale_down - total);
    scale_rs_if_needed(i, replicas - count);
    total += count;
  }
  return total;
}

// rolloutRecreate: old pods all gone before the new ReplicaSet scales up.
void DeploymentSync::rollout_recreate() {
  get_all_and_sync_revision(false);
  bool scaled_down = false;
  for (size_t i : active(old_)) scaled_down |= scale_rs_if_needed(i, 0);
  if (scaled_down || old_pods_running()) {
    sync_rollout_status();
    return;
  }
  if (!new_) {
    get_all_and_sync_revision(true);
    if (stopped_) return;
  }
  scale_rs_if_needed(*new_, desired());
  if (complete(d_["status"])) cleanup_deployment();
  sync_rollout_status();
}

// oldPodsRunning: old ReplicaSets report pods, or pods of theirs that have not
// finished still exist (terminating ones included).
bool DeploymentSync::old_pods_running() const {
  if (sum_status(old_, "replicas") > 0) return true;
  std::set<std::string> old_uids;
  for (size_t i : old_) old_uids.insert(uid_of(rss_[i].obj));
  for (const json& pod : pods_) {
    const json* ref = controller_of(pod);
    if (!ref || !old_uids.count(str_at(*ref, {"uid"}))) continue;
    if (!selector_->matches(labels_of(pod))) continue;
    if (!is_terminal(pod)) return true;
  }
  return false;
}

// cleanupDeployment: delete the oldest scaled-down ReplicaSets beyond revisionHistoryLimit.
void DeploymentSync::cleanup_deployment() {
  const json& limit_v = at(d_, {"spec", "revisionHistoryLimit"});
  if (!limit_v.is_number_integer() || limit_v.get<int64_t>() == kMaxInt32) return;
  std::vector<size_t> cleanable;
  for (size_t i : old_) {
    if (!being_deleted(rss_[i].obj) && !rss_[i].original.is_null()) cleanable.push_back(i);
  }
  const int64_t diff = static_cast<int64_t>(cleanable.size()) - limit_v.get<int64_t>();
  if (diff <= 0) return;
  // ReplicaSetsByRevision.
  std::stable_sort(cleanable.begin(), cleanable.end(), [&](size_t a, size_t b) {
    if (revision_of(rs(a)) != revision_of(rs(b))) return revision_of(rs(a)) < revision_of(rs(b));
    return older(rs(a), rs(b));
  });
  for (int64_t k = 0; k < diff; ++k) {
    Rs& r = rss_[cleanable[k]];
    const bool settled = int_at(r.obj, {"metadata", "generation"}, 0) <=
                         int_at(r.obj, {"status", "observedGeneration"}, 0);
    // One being changed in this very sync is not settled either.
    if (int_at(r.obj, {"status", "replicas"}, 0) != 0 || spec_replicas(r.obj) != 0 || !settled ||
        canonical(r.obj) != canonical(r.original)) {
      continue;
    }
    r.deleted = true;
  }
}

// calculateStatus.
json DeploymentSync::calculate_status() const {
  std::vector<size_t> rss = all();
  const int64_t available = sum_status(rss, "availableReplicas");
  const int64_t unavailable = std::max<int64_t>(0, sum_spec(rss) - available);
  json status = json::object();
  put_count(status, "observedGeneration", generation());
  put_count(status, "replicas", sum_status(rss, "replicas"));
  put_count(status, "updatedReplicas",
            new_ ? int_at(rss_[*new_].obj, {"status", "replicas"}, 0) : 0);
  put_count(status, "readyReplicas", sum_status(rss, "readyReplicas"));
  put_count(status, "availableReplicas", available);
  put_count(status, "unavailableReplicas", unavailable);
  const json& current = d_["status"];
  if (current.contains("collisionCount")) status["collisionCount"] = current["collisionCount"];
  if (current.contains("conditions")) status["conditions"] = current["conditions"];
  if (available >= desired() - max_unavailable()) {
    set_condition(status, new_condition(kAvailable, "True", kMinAvailableReason,
                                        "Deployment has minimum availability.", now_text_));
  } else {
    set_condition(status,
                  new_condition(kAvailable, "False", kMinUnavailableReason,
                                "Deployment does not have minimum availability.", now_text_));
  }
  return status;
}

// deploymentutil.DeploymentComplete.
bool DeploymentSync::complete(const json& status) const {
  return int_at(status, {"updatedReplicas"}, 0) == desired() &&
         int_at(status, {"replicas"}, 0) == desired() &&
         int_at(status, {"availableReplicas"}, 0) == desired() &&
         int_at(status, {"observedGeneration"}, 0) >= generation();
}

// deploymentutil.DeploymentProgressing: against the status before this sync.
bool DeploymentSync::progressing(const json& status) const {
  const json& before = d_["status"];
  auto get = [](const json& s, const char* f) { return int_at(s, {f}, 0); };
  const int64_t old_before = get(before, "replicas") - get(before, "updatedReplicas");
  const int64_t old_now = get(status, "replicas") - get(status, "updatedReplicas");
  return get(status, "updatedReplicas") > get(before, "updatedReplicas") || old_now < old_before ||
         get(status, "readyReplicas") > get(before, "readyReplicas") ||
         get(status, "availableReplicas") > get(before, "availableReplicas");
}

// deploymentutil.DeploymentTimedOut.
bool DeploymentSync::timed_out(const json& status) const {
  if (!has_progress_deadline()) return false;
  const json* cond = find_condition(status, kProgressing);
  if (!cond) return false;
  const std::string reason = str_at(*cond, {"reason"});
  if (reason == kNewRSAvailableReason) return false;
  if (reason == kTimedOutReason) return true;
  const auto from = time_of(at(*cond, {"lastUpdateTime"}));
  if (!from) return false;
  return *from + std::chrono::seconds(progress_deadline()) < now_;
}

void DeploymentSync::note_requeue(double seconds) {
  if (!requeue_ || seconds < *requeue_) requeue_ = seconds;
}

// syncRolloutStatus: counts, then the Progressing condition.
void DeploymentSync::sync_rollout_status() {
  json status = calculate_status();
  if (!has_progress_deadline()) remove_condition(status, kProgressing);
  const json* current = find_condition(d_["status"], kProgressing);
  const std::string rs_or_deployment = new_ ? "ReplicaSet \"" + name_of(rss_[*new_].obj) + "\""
                                            : "Deployment \"" + name_of(d_) + "\"";
  const bool already_complete =
      int_at(status, {"replicas"}, 0) == int_at(status, {"updatedReplicas"}, 0) && current &&
      str_at(*current, {"reason"}) == kNewRSAvailableReason;
  if (has_progress_deadline() && !already_complete) {
    if (complete(status)) {
      set_condition(status,
                    new_condition(kProgressing, "True", kNewRSAvailableReason,
                                  rs_or_deployment + " has successfully progressed.", now_text_));
    } else if (progressing(status)) {
      // Progress refreshes lastUpdateTime even with an unchanged reason.
      json cond = new_condition(kProgressing, "True", kRSUpdatedReason,
                                rs_or_deployment + " is progressing.", now_text_);
      if (current) {
        if (str_at(*current, {"status"}) == "True") {
          cond["lastTransitionTime"] = (*current)["lastTransitionTime"];
        }
        remove_condition(status, kProgressing);
      }
      set_condition(status, std::move(cond));
    } else if (timed_out(status)) {
      set_condition(status,
                    new_condition(kProgressing, "False", kTimedOutReason,
                                  rs_or_deployment + " has timed out progressing.", now_text_));
    }
  }
  // getReplicaFailures: the new ReplicaSet's failure first, else any old one's.
  std::optional<json> failure;
  std::vector<size_t> order;
  if (new_) order.push_back(*new_);
  for (size_t i : all()) order.push_back(i);
  for (size_t i : order) {
    if (failure) break;
    if (const json* c = find_condition(at(rss_[i].obj, {"status"}), kReplicaFailure)) {
      failure = json{{"type", kReplicaFailure},
                     {"status", (*c).value("status", "")},
                     {"lastUpdateTime", (*c).value("lastTransitionTime", now_text_)},
                     {"lastTransitionTime", (*c).value("lastTransitionTime", now_text_)},
                     {"reason", (*c).value("reason", "")},
                     {"message", (*c).value("message", "")}};
    }
  }
  if (failure) {
    set_condition(status, *failure);
  } else {
    remove_condition(status, kReplicaFailure);
  }
  // requeueStuckDeployment: look again when the progress deadline passes.
  if (has_progress_deadline() && current && !complete(status) &&
      str_at(*current, {"reason"}) != kTimedOutReason) {
    if (auto from = time_of(at(*current, {"lastUpdateTime"}))) {
      const double left = seconds_between(now_, *from + std::chrono::seconds(progress_deadline()));
      note_requeue(std::max(0.0, left) + kDeadlineRequeueSlackSeconds);
    }
  }
  d_["status"] = std::move(status);
}

Reconciliation DeploymentSync::run() {
  auto sel = LabelSelector::from_json(at(d_, {"spec", "selector"}));
  if (!sel) return {};  // validation rejects such a deployment; nothing sensible to do
  selector_ = std::move(*sel);
  // A selector that selects everything would fight every other controller:
  // the real one only records that it saw the generation.
  if (selector_->empty()) {
    if (int_at(d_, {"status", "observedGeneration"}, 0) < generation()) {
      d_["status"]["observedGeneration"] = generation();
    }
    return finish();
  }
  claim_replicasets();
  if (being_deleted(d_)) {
    get_all_and_sync_revision(false);
    sync_deployment_status();
    return finish();
  }
  check_paused_conditions();
  if (paused() || is_scaling_event()) {
    sync();
  } else if (rolling()) {
    rollout_rolling();
  } else {
    rollout_recreate();
  }
  return finish();
}

Reconciliation DeploymentSync::finish() {
  Reconciliation out;
  out.requeue_after_seconds = requeue_;
  for (json& r : released_) {
    out.actions.push_back(make_action(Action::Kind::kUpdate, "apps", "replicasets", std::move(r)));
  }
  for (Rs& r : rss_) {
    if (r.original.is_null()) {
      out.actions.push_back(make_action(Action::Kind::kCreate, "apps", "replicasets", r.obj));
    } else if (r.deleted) {
      out.actions.push_back(
          make_action(Action::Kind::kDelete, "apps", "replicasets", delete_target(r.obj)));
    } else if (canonical(r.obj) != canonical(r.original)) {
      out.actions.push_back(make_action(Action::Kind::kUpdate, "apps", "replicasets", r.obj));
    }
  }
  auto annotations = [](const json& d) { return canonical(at(d, {"metadata", "annotations"})); };
  if (annotations(d_) != annotations(original_)) {
    json update = original_;
    update["metadata"]["annotations"] = d_["metadata"]["annotations"];
    out.actions.push_back(make_action(Action::Kind::kUpdate, "apps", "deployments", update));
  }
  const json& before = at(original_, {"status"});
  if (d_["status"] != (before.is_object() ? before : json::object())) {
    out.actions.push_back(
        make_action(Action::Kind::kUpdateStatus, "apps", "deployments", for_status_write(d_)));
  }
  if (stopped_) out.requeue_after_seconds = 0;
  return out;
}

// ---- ReplicaSet --------------------------------------------------------------------

json pod_from_template(const json& rs, const std::string& name) {
  const json& tmpl = at(rs, {"spec", "template"});
  json meta = {{"name", name},
               {"generateName", name_of(rs) + "-"},
               {"namespace", namespace_of(rs)},
               {"ownerReferences", json::array({controller_ref(rs, "apps/v1", "ReplicaSet")})}};
  for (const char* f : {"labels", "annotations", "finalizers"}) {
    const json& v = at(tmpl, {"metadata", f});
    if ((v.is_object() || v.is_array()) && !v.empty()) meta[f] = v;
  }
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", meta},
          {"spec", at(tmpl, {"spec"}).is_object() ? at(tmpl, {"spec"}) : json::object()}};
}

// replica_set.go calculateStatus + updateReplicaSetStatus's observedGeneration.
json replicaset_status(const json& rs, const std::vector<json>& pods, TimePoint now) {
  json status = at(rs, {"status"}).is_object() ? at(rs, {"status"}) : json::object();
  auto template_labels =
      LabelSelector::from_set(at(rs, {"spec", "template", "metadata", "labels"}));
  const int64_t min_ready = int_at(rs, {"spec", "minReadySeconds"}, 0);
  int64_t fully_labeled = 0, ready = 0, available = 0;
  for (const json& pod : pods) {
    if (template_labels && template_labels->matches(labels_of(pod))) ++fully_labeled;
    if (is_pod_ready(pod)) {
      ++ready;
      if (is_pod_available(pod, min_ready, now)) ++available;
    }
  }
  status["replicas"] = static_cast<int64_t>(pods.size());  // not omitempty in the real type
  put_count(status, "fullyLabeledReplicas", fully_labeled);
  put_count(status, "readyReplicas", ready);
  put_count(status, "availableReplicas", available);
  put_count(status, "observedGeneration", int_at(rs, {"metadata", "generation"}, 0));
  return status;
}

// When the first ready-but-not-yet-available pod turns available.
std::optional<double> next_available_in(const std::vector<json>& pods, int64_t min_ready,
                                        TimePoint now) {
  std::optional<double> soonest;
  if (min_ready <= 0) return soonest;
  for (const json& pod : pods) {
    if (!is_pod_ready(pod) || is_pod_available(pod, min_ready, now)) continue;
    const auto since = ready_since(pod);
    if (!since) continue;
    const double left = seconds_between(now, *since + std::chrono::seconds(min_ready));
    if (!soonest || left < *soonest) soonest = std::max(0.0, left);
  }
  return soonest;
}

// ---- Endpoints ---------------------------------------------------------------------

bool is_headless(const json& svc) { return str_at(svc, {"spec", "clusterIP"}) == "None"; }
bool is_service_ip_set(const json& svc) {
  const std::string ip = str_at(svc, {"spec", "clusterIP"});
  return !ip.empty() && ip != "None";
}
bool publishes_not_ready(const json& svc) {
  return bool_at(svc, {"spec", "publishNotReadyAddresses"});
}

std::string pod_ip(const json& pod) {
  std::string ip = str_at(pod, {"status", "podIP"});
  if (ip.empty()) {
    const json& ips = at(pod, {"status", "podIPs"});
    if (ips.is_array() && !ips.empty()) ip = str_at(ips[0], {"ip"});
  }
  return ip;
}

// endpointsliceutil.ShouldPodBeInEndpoints.
bool should_be_in_endpoints(const json& pod, bool include_terminating) {
  if (is_terminal(pod) || pod_ip(pod).empty()) return false;
  return include_terminating || !being_deleted(pod);
}

// podutil.FindPort: a named targetPort is looked up in the pod's container
// ports (same protocol), a number is taken as is.
std::optional<int64_t> find_port(const json& pod, const json& service_port) {
  const json& target = at(service_port, {"targetPort"});
  const json& port = target.is_null() ? at(service_port, {"port"}) : target;
  if (port.is_number_integer()) return port.get<int64_t>();
  if (!port.is_string()) return std::nullopt;
  const std::string name = port.get<std::string>();
  const std::string protocol = str_at(service_port, {"protocol"}, "TCP");
  for (const char* list : {"containers", "initContainers"}) {
    const json& containers = at(pod, {"spec", list});
    if (!containers.is_array()) continue;
    for (const json& c : containers) {
      // Init containers count only as sidecars (restartPolicy Always).
      if (std::string_view(list) == "initContainers" && str_at(c, {"restartPolicy"}) != "Always") {
        continue;
      }
      const json& ports = at(c, {"ports"});
      if (!ports.is_array()) continue;
      for (const json& p : ports) {
        if (str_at(p, {"name"}) == name && str_at(p, {"protocol"}, "TCP") == protocol) {
          return int_at(p, {"containerPort"}, 0);
        }
      }
    }
  }
  return std::nullopt;
}

json target_ref(const json& pod) {
  return {{"kind", "Pod"},
          {"namespace", namespace_of(pod)},
          {"name", name_of(pod)},
          {"uid", uid_of(pod)}};
}

// endpointsliceutil.ShouldSetHostname.
std::string hostname_for(const json& pod, const json& svc) {
  const std::string host = str_at(pod, {"spec", "hostname"});
  if (!host.empty() && str_at(pod, {"spec", "subdomain"}) == name_of(svc) &&
      namespace_of(pod) == namespace_of(svc)) {
    return host;
  }
  return "";
}

// The service's ports as this pod serves them, in service order; pods lacking
// a named port are left out of that port.
struct ResolvedPort {
  const json* service_port;
  int64_t number;
};
std::vector<ResolvedPort> resolve_ports(const json& svc, const json& pod) {
  std::vector<ResolvedPort> out;
  const json& ports = at(svc, {"spec", "ports"});
  if (!ports.is_array()) return out;
  for (const json& sp : ports) {
    if (auto n = find_port(pod, sp)) out.push_back({&sp, *n});
  }
  return out;
}

json endpoint_port(const ResolvedPort& p) {
  json out = {{"port", p.number}, {"protocol", str_at(*p.service_port, {"protocol"}, "TCP")}};
  const std::string name = str_at(*p.service_port, {"name"});
  if (!name.empty()) out["name"] = name;
  const json& app = at(*p.service_port, {"appProtocol"});
  if (app.is_string()) out["appProtocol"] = app;
  return out;
}

// One pod address offered on one resolved port.
struct AddressOnPort {
  json address;
  json port;  // null for a headless service without ports
  bool ready;
};

bool address_less(const json& a, const json& b) {
  const std::string ip_a = str_at(a, {"ip"}), ip_b = str_at(b, {"ip"});
  if (ip_a != ip_b) return ip_a < ip_b;
  return str_at(a, {"targetRef", "uid"}) < str_at(b, {"targetRef", "uid"});
}

bool dump_less(const json& a, const json& b) { return a.dump() < b.dump(); }

// endpoints.RepackSubsets: ports offered by exactly the same addresses (with
// the same readiness) share one subset; an address ready on a port counts as
// ready there. The real order of subsets and ports follows a hash of their
// dump; this one sorts by content, which is as stable.
json repack_subsets(const std::vector<AddressOnPort>& entries) {
  // port dump -> address key (ip/pod uid) -> (address, ready)
  std::map<std::string, std::map<std::string, std::pair<json, bool>>> by_port;
  std::map<std::string, json> port_of;
  for (const AddressOnPort& e : entries) {
    const std::string port_key = e.port.dump();
    port_of[port_key] = e.port;
    const std::string addr_key =
        str_at(e.address, {"ip"}) + "/" + str_at(e.address, {"targetRef", "uid"});
    auto [it, inserted] = by_port[port_key].try_emplace(addr_key, e.address, e.ready);
    if (!inserted) it->second.second = it->second.second || e.ready;
  }
  struct Subset {
    json ready = json::array(), not_ready = json::array(), ports = json::array();
  };
  std::map<std::string, Subset> subsets;  // by the address set they are offered on
  for (const auto& [port_key, addrs] : by_port) {
    std::string key;
    for (const auto& [k, entry] : addrs) key += k + (entry.second ? "+" : "-") + ";";
    auto [it, inserted] = subsets.try_emplace(key);
    Subset& s = it->second;
    if (inserted) {
      for (const auto& [k, entry] : addrs) {
        (entry.second ? s.ready : s.not_ready).push_back(entry.first);
      }
    }
    if (!port_of[port_key].is_null()) s.ports.push_back(port_of[port_key]);
  }
  json out = json::array();
  for (auto& [key, s] : subsets) {
    std::sort(s.ready.begin(), s.ready.end(), address_less);
    std::sort(s.not_ready.begin(), s.not_ready.end(), address_less);
    std::sort(s.ports.begin(), s.ports.end(), dump_less);
    json subset = json::object();
    if (!s.ready.empty()) subset["addresses"] = s.ready;
    if (!s.not_ready.empty()) subset["notReadyAddresses"] = s.not_ready;
    if (!s.ports.empty()) subset["ports"] = s.ports;
    out.push_back(std::move(subset));
  }
  std::sort(out.begin(), out.end(), dump_less);
  return out;
}

// endpoints_controller.go syncService: the subsets for a service.
json desired_subsets(const json& svc, const std::vector<json>& pods) {
  const bool tolerate_unready = publishes_not_ready(svc);
  const json& ports = at(svc, {"spec", "ports"});
  const bool has_ports = ports.is_array() && !ports.empty();
  std::vector<AddressOnPort> entries;
  for (const json& pod : pods) {
    if (!should_be_in_endpoints(pod, tolerate_unready)) continue;
    json address = {{"ip", pod_ip(pod)}, {"targetRef", target_ref(pod)}};
    const std::string node = str_at(pod, {"spec", "nodeName"});
    if (!node.empty()) address["nodeName"] = node;
    const std::string host = hostname_for(pod, svc);
    if (!host.empty()) address["hostname"] = host;
    const bool ready = tolerate_unready || is_pod_ready(pod);
    if (!has_ports) {
      // Only headless services may go without ports; their addresses still count.
      if (is_headless(svc)) entries.push_back({address, json(), ready});
      continue;
    }
    for (const ResolvedPort& p : resolve_ports(svc, pod)) {
      entries.push_back({address, endpoint_port(p), ready});
    }
  }
  return repack_subsets(entries);
}

json endpoints_labels(const json& svc) {
  json labels = labels_of(svc).is_object() ? labels_of(svc) : json::object();
  if (!is_service_ip_set(svc)) {
    labels[kHeadlessLabel] = "";
  } else {
    labels.erase(kHeadlessLabel);
  }
  return labels;
}

std::optional<Action> endpoints_action(const json& svc, const std::vector<json>& pods,
                                       const std::optional<json>& current) {
  const json subsets = desired_subsets(svc, pods);
  const json labels = endpoints_labels(svc);
  if (current) {
    const json& have = at(*current, {"subsets"});
    const json have_subsets = have.is_array() ? have : json::array();
    const json have_labels = labels_of(*current).is_object() ? labels_of(*current) : json::object();
    if (canonical(have_subsets) == canonical(subsets) && have_labels == labels) return std::nullopt;
    json updated = *current;
    updated["metadata"]["labels"] = labels;
    if (subsets.empty()) {
      updated.erase("subsets");
    } else {
      updated["subsets"] = subsets;
    }
    return make_action(Action::Kind::kUpdate, "", "endpoints", std::move(updated));
  }
  json created = {{"apiVersion", "v1"},
                  {"kind", "Endpoints"},
                  {"metadata", {{"name", name_of(svc)}, {"namespace", namespace_of(svc)}}}};
  if (!labels.empty()) created["metadata"]["labels"] = labels;
  if (!subsets.empty()) created["subsets"] = subsets;
  return make_action(Action::Kind::kCreate, "", "endpoints", std::move(created));
}

// ---- EndpointSlices ----------------------------------------------------------------

// setEndpointSliceLabels: the service's labels, then the controller's own.
json slice_labels(const json& svc) {
  json labels = json::object();
  if (labels_of(svc).is_object()) {
    for (const auto& [k, v] : labels_of(svc).items()) {
      if (k == kServiceNameLabel || k == kManagedByLabel || k == kHeadlessLabel) continue;
      labels[k] = v;
    }
  }
  if (!is_service_ip_set(svc)) labels[kHeadlessLabel] = "";
  labels[kServiceNameLabel] = name_of(svc);
  labels[kManagedByLabel] = kSliceControllerName;
  return labels;
}

// podToEndpoint.
json slice_endpoint(const json& pod, const json& svc, const std::string& zone) {
  const bool serving = is_pod_ready(pod);
  const bool terminating = being_deleted(pod);
  // A terminating pod is never "ready" unless the service publishes not-ready addresses.
  const bool ready = publishes_not_ready(svc) || (serving && !terminating);
  json ep = {{"addresses", json::array({pod_ip(pod)})},
             {"conditions", {{"ready", ready}, {"serving", serving}, {"terminating", terminating}}},
             {"targetRef", target_ref(pod)}};
  const std::string node = str_at(pod, {"spec", "nodeName"});
  if (!node.empty()) ep["nodeName"] = node;
  if (!zone.empty()) ep["zone"] = zone;
  const std::string host = hostname_for(pod, svc);
  if (!host.empty()) ep["hostname"] = host;
  return ep;
}

// getEndpointPorts: every port carries its name, "" when unnamed.
json slice_ports(const json& svc, const json& pod) {
  json out = json::array();
  for (const ResolvedPort& p : resolve_ports(svc, pod)) {
    json port = {{"name", str_at(*p.service_port, {"name"})},
                 {"port", p.number},
                 {"protocol", str_at(*p.service_port, {"protocol"}, "TCP")}};
    const json& app = at(*p.service_port, {"appProtocol"});
    if (app.is_string()) port["appProtocol"] = app;
    out.push_back(std::move(port));
  }
  return out;
}

// Empty lists are stored as null by the real server (a nil slice round-trips
// through protobuf that way), so a slice without endpoints shows `endpoints: null`.
json list_or_null(const json& list) { return list.empty() ? json() : list; }
json null_as_empty(const json& v) { return v.is_array() ? v : json::array(); }

std::string endpoint_key(const json& ep) {
  const std::string uid = str_at(ep, {"targetRef", "uid"});
  const json& addrs = at(ep, {"addresses"});
  const std::string addr =
      addrs.is_array() && !addrs.empty() && addrs[0].is_string() ? addrs[0].get<std::string>() : "";
  return (uid.empty() ? str_at(ep, {"targetRef", "name"}) : uid) + "/" + addr;
}

json sorted_endpoints(json eps) {
  std::sort(eps.begin(), eps.end(), [](const json& a, const json& b) {
    const std::string na = str_at(a, {"targetRef", "name"}), nb = str_at(b, {"targetRef", "name"});
    if (na != nb) return na < nb;
    return endpoint_key(a) < endpoint_key(b);
  });
  return eps;
}

// The endpoints of one port mapping, placed in slices of at most
// kMaxEndpointsPerSlice: each endpoint stays in the slice that has it, new
// ones fill slices already being rewritten, then unchanged ones with room,
// then new slices (the real reconcileByPortMapping, simplified).
class SliceReconciler {
 public:
  SliceReconciler(const json& svc, const NameSuffix& random_suffix, std::set<std::string>& taken)
      : svc_(svc), suffix_(random_suffix), taken_(taken), labels_(slice_labels(svc)) {}

  void port_mapping(const json& ports, std::map<std::string, json> desired,
                    std::vector<json> existing, std::vector<Action>& out);
  json placeholder() const { return new_slice(json::array(), json::array()); }
  json new_slice(const json& ports, const json& endpoints) const;

 private:
  const json& svc_;
  const NameSuffix& suffix_;
  std::set<std::string>& taken_;
  json labels_;
};

json SliceReconciler::new_slice(const json& ports, const json& endpoints) const {
  std::string prefix = name_of(svc_) + "-";
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"generateName", prefix},
            {"namespace", namespace_of(svc_)},
            {"labels", labels_},
            {"ownerReferences", json::array({controller_ref(svc_, "v1", "Service")})}}},
          {"addressType", "IPv4"},
          {"endpoints", list_or_null(sorted_endpoints(endpoints))},
          {"ports", list_or_null(ports)}};
}

void SliceReconciler::port_mapping(const json& ports, std::map<std::string, json> desired,
                                   std::vector<json> existing, std::vector<Action>& out) {
  std::stable_sort(existing.begin(), existing.end(),
                   [](const json& a, const json& b) { return name_of(a) < name_of(b); });
  struct Slot {
    json slice;
    json endpoints;
    bool changed;
  };
  std::vector<Slot> slots;
  for (const json& slice : existing) {
    json kept = json::array();
    bool changed = false;
    for (const json& ep : null_as_empty(at(slice, {"endpoints"}))) {
      auto it = desired.find(endpoint_key(ep));
      if (it == desired.end()) {
        changed = true;
        continue;
      }
      if (canonical(it->second) != canonical(ep)) changed = true;
      kept.push_back(it->second);
      desired.erase(it);
    }
    if (labels_of(slice) != labels_ || at(slice, {"ports"}) != list_or_null(ports)) changed = true;
    slots.push_back({slice, kept, changed});
  }
  std::deque<json> remaining;
  for (auto& [k, ep] : desired) remaining.push_back(std::move(ep));
  auto fill = [&](Slot& s) {
    while (!remaining.empty() && s.endpoints.size() < kMaxEndpointsPerSlice) {
      s.endpoints.push_back(std::move(remaining.front()));
      remaining.pop_front();
      s.changed = true;
    }
  };
  for (Slot& s : slots) {
    if (s.changed && !s.endpoints.empty()) fill(s);
  }
  for (Slot& s : slots) {
    if (!s.changed) fill(s);
  }
  for (const Slot& s : slots) {
    if (s.endpoints.empty()) {
      out.push_back(make_action(Action::Kind::kDelete, "discovery.k8s.io", "endpointslices",
                                delete_target(s.slice)));
    } else if (s.changed) {
      json updated = s.slice;
      updated["metadata"]["labels"] = labels_;
      updated["endpoints"] = sorted_endpoints(s.endpoints);
      updated["ports"] = list_or_null(ports);
      if (updated == s.slice) continue;
      out.push_back(
          make_action(Action::Kind::kUpdate, "discovery.k8s.io", "endpointslices", updated));
    }
  }
  while (!remaining.empty()) {
    json chunk = json::array();
    while (!remaining.empty() && chunk.size() < kMaxEndpointsPerSlice) {
      chunk.push_back(std::move(remaining.front()));
      remaining.pop_front();
    }
    json slice = new_slice(ports, chunk);
    auto name = fresh_name(name_of(svc_) + "-", taken_, suffix_);
    if (!name) return;  // no free name this time; the next sync tries again
    slice["metadata"]["name"] = *name;
    out.push_back(make_action(Action::Kind::kCreate, "discovery.k8s.io", "endpointslices", slice));
  }
}

std::vector<Action> endpoint_slice_actions(const json& svc, const std::vector<json>& pods,
                                           const std::vector<json>& nodes,
                                           const std::vector<json>& current_slices,
                                           const NameSuffix& random_suffix) {
  std::vector<Action> out;
  std::set<std::string> taken;
  std::vector<json> mine;  // slices this controller manages for this service
  for (const json& s : sorted_by_name(current_slices)) {
    taken.insert(name_of(s));
    if (str_at(s, {"metadata", "labels", kServiceNameLabel}) != name_of(svc) ||
        str_at(s, {"metadata", "labels", kManagedByLabel}) != kSliceControllerName) {
      continue;
    }
    // Left by an earlier service of the same name, or of another address type.
    if (!controlled_by(s, svc, "Service") || str_at(s, {"addressType"}) != "IPv4") {
      out.push_back(make_action(Action::Kind::kDelete, "discovery.k8s.io", "endpointslices",
                                delete_target(s)));
      continue;
    }
    mine.push_back(s);
  }
  std::map<std::string, std::string> zone_of;
  std::set<std::string> known_nodes;
  for (const json& n : nodes) {
    known_nodes.insert(name_of(n));
    zone_of[name_of(n)] = str_at(n, {"metadata", "labels", kZoneLabel});
  }
  // Desired endpoints by port mapping (ports dump -> endpoint key -> endpoint).
  std::map<std::string, std::pair<json, std::map<std::string, json>>> by_ports;
  for (const json& pod : pods) {
    if (!should_be_in_endpoints(pod, true)) continue;
    const json ports = slice_ports(svc, pod);
    auto& group = by_ports[ports.dump()];
    group.first = ports;
    const std::string node = str_at(pod, {"spec", "nodeName"});
    // A pod on a node that is gone is left out, unless not-ready addresses are published.
    if (!known_nodes.count(node) && !publishes_not_ready(svc)) continue;
    json ep = slice_endpoint(pod, svc, zone_of[node]);
    const std::string key = endpoint_key(ep);
    group.second[key] = std::move(ep);
  }
  SliceReconciler rec(svc, random_suffix, taken);
  std::map<std::string, std::vector<json>> existing_by_ports;
  for (const json& s : mine) existing_by_ports[null_as_empty(at(s, {"ports"})).dump()].push_back(s);
  size_t desired_total = 0;
  for (const auto& [key, group] : by_ports) desired_total += group.second.size();
  if (desired_total == 0) {
    // No endpoints at all: exactly one placeholder slice, kept if it exists.
    const json placeholder = rec.placeholder();
    bool kept = false;
    for (const json& s : mine) {
      const bool is_placeholder = null_as_empty(at(s, {"endpoints"})).empty() &&
                                  null_as_empty(at(s, {"ports"})).empty() &&
                                  labels_of(s) == placeholder["metadata"]["labels"];
      if (is_placeholder && !kept) {
        kept = true;
        continue;
      }
      out.push_back(make_action(Action::Kind::kDelete, "discovery.k8s.io", "endpointslices",
                                delete_target(s)));
    }
    if (!kept) {
      json slice = placeholder;
      if (auto name = fresh_name(name_of(svc) + "-", taken, random_suffix)) {
        slice["metadata"]["name"] = *name;
        out.push_back(
            make_action(Action::Kind::kCreate, "discovery.k8s.io", "endpointslices", slice));
      }
    }
    return out;
  }
  for (auto& [key, group] : by_ports) {
    if (group.second.empty()) continue;
    std::vector<json> existing;
    if (auto it = existing_by_ports.find(key); it != existing_by_ports.end()) {
      existing = std::move(it->second);
      existing_by_ports.erase(it);
    }
    rec.port_mapping(group.first, std::move(group.second), std::move(existing), out);
  }
  for (const auto& [key, slices] : existing_by_ports) {
    for (const json& s : slices) {
      out.push_back(make_action(Action::Kind::kDelete, "discovery.k8s.io", "endpointslices",
                                delete_target(s)));
    }
  }
  return out;
}

}  // namespace

// ---- Public ------------------------------------------------------------------------

bool is_pod_ready(const json& pod) {
  const json* c = ready_condition(pod);
  return c && str_at(*c, {"status"}) == "True";
}

bool is_pod_available(const json& pod, int64_t min_ready_seconds, TimePoint now) {
  if (!is_pod_ready(pod)) return false;
  if (min_ready_seconds == 0) return true;
  const auto since = ready_since(pod);
  return since && *since + std::chrono::seconds(min_ready_seconds) < now;
}

std::string pod_template_hash(const json& pod_template, std::optional<int64_t> collision_count) {
  uint32_t h = fnv1a(canonical(pod_template).dump(), kFnvOffset);
  if (collision_count) {
    // binary.LittleEndian.PutUint32 into an 8-byte buffer: 4 bytes, then 4 zeros.
    const auto cc = static_cast<uint32_t>(*collision_count);
    std::string bytes(8, '\0');
    for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((cc >> (8 * i)) & 0xff);
    h = fnv1a(bytes, h);
  }
  return safe_encode(std::to_string(h));
}

Reconciliation reconcile_deployment(const json& deployment, const std::vector<json>& replicasets,
                                    const std::vector<json>& pods, TimePoint now) {
  return DeploymentSync(deployment, replicasets, pods, now).run();
}

Reconciliation reconcile_replicaset(const json& replicaset, const std::vector<json>& pods,
                                    TimePoint now, const NameSuffix& random_suffix) {
  Reconciliation out;
  auto selector = LabelSelector::from_json(at(replicaset, {"spec", "selector"}));
  if (!selector) return out;  // validation rejects such a ReplicaSet
  std::vector<json> active;
  std::set<std::string> taken;
  for (const json& p : sorted_by_name(pods)) {
    taken.insert(name_of(p));
    if (is_active(p)) active.push_back(p);
  }
  Claimed claimed = claim(replicaset, controller_ref(replicaset, "apps/v1", "ReplicaSet"),
                          "ReplicaSet", *selector, active);
  for (json& p : claimed.released) {
    out.actions.push_back(make_action(Action::Kind::kUpdate, "", "pods", std::move(p)));
  }
  for (size_t i = 0; i < claimed.owned.size(); ++i) {
    if (claimed.owned[i] != claimed.originals[i]) {
      out.actions.push_back(make_action(Action::Kind::kUpdate, "", "pods", claimed.owned[i]));
    }
  }
  const std::vector<json>& owned = claimed.owned;
  if (!being_deleted(replicaset)) {
    const int64_t diff = static_cast<int64_t>(owned.size()) - spec_replicas(replicaset);
    if (diff < 0) {
      const int64_t count = std::min(-diff, kBurstReplicas);
      for (int64_t i = 0; i < count; ++i) {
        auto name = fresh_name(name_of(replicaset) + "-", taken, random_suffix);
        if (!name) break;
        out.actions.push_back(
            make_action(Action::Kind::kCreate, "", "pods", pod_from_template(replicaset, *name)));
      }
    } else if (diff > 0) {
      const auto count = static_cast<size_t>(std::min(diff, kBurstReplicas));
      for (const json& p : pods_to_delete(owned, count, now)) {
        out.actions.push_back(make_action(Action::Kind::kDelete, "", "pods", delete_target(p)));
      }
    }
  }
  const json status = replicaset_status(replicaset, owned, now);
  const json& before = at(replicaset, {"status"});
  if (status != (before.is_object() ? before : json::object())) {
    json updated = for_status_write(replicaset);
    updated["status"] = status;
    out.actions.push_back(
        make_action(Action::Kind::kUpdateStatus, "apps", "replicasets", std::move(updated)));
  }
  out.requeue_after_seconds =
      next_available_in(owned, int_at(replicaset, {"spec", "minReadySeconds"}, 0), now);
  return out;
}

std::vector<Action> reconcile_service_endpoints(const json& service, const std::vector<json>& pods,
                                                const std::vector<json>& nodes,
                                                const std::optional<json>& current_endpoints,
                                                const std::vector<json>& current_slices,
                                                const NameSuffix& random_suffix) {
  std::vector<Action> out;
  const json& selector_set = at(service, {"spec", "selector"});
  // No selector: endpoints are the user's (or the mirroring controller's) to write.
  if (!selector_set.is_object() || selector_set.empty()) return out;
  if (being_deleted(service)) return out;
  auto selector = LabelSelector::from_set(selector_set);
  if (!selector) return out;
  std::vector<json> selected;
  for (const json& p : sorted_by_name(pods)) {
    if (selector->matches(labels_of(p))) selected.push_back(p);
  }
  // ExternalName services resolve by DNS name: no endpoints of pods, slices removed.
  if (str_at(service, {"spec", "type"}) == "ExternalName") {
    for (const json& s : sorted_by_name(current_slices)) {
      if (str_at(s, {"metadata", "labels", kServiceNameLabel}) == name_of(service) &&
          str_at(s, {"metadata", "labels", kManagedByLabel}) == kSliceControllerName) {
        out.push_back(make_action(Action::Kind::kDelete, "discovery.k8s.io", "endpointslices",
                                  delete_target(s)));
      }
    }
    return out;
  }
  if (auto a = endpoints_action(service, selected, current_endpoints)) out.push_back(*a);
  for (Action& a :
       endpoint_slice_actions(service, selected, nodes, current_slices, random_suffix)) {
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace kubesim
