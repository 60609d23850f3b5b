#include "sim/workload_controllers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "sim/apiserver.h"
#include "sim/http_server.h"
#include "sim/names.h"

namespace kubesim {
namespace {

using std::chrono::seconds;

TimePoint time_at(const std::string& text) {
  TimePoint t;
  EXPECT_TRUE(parse_rfc3339(text, t)) << text;
  return t;
}

const TimePoint kStart = time_at("2024-05-01T12:00:00Z");
constexpr const char* kNamespace = "default";
constexpr const char* kHashAlphabet = "bcdfghjklmnpqrstvwxz2456789";

// A seeded suffix source, like the engine's.
NameSuffix seeded_suffix(uint32_t seed) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [rng] {
    std::string out;
    for (int i = 0; i < 5; ++i) out += kHashAlphabet[(*rng)() % 27];
    return out;
  };
}

json pod_template(const std::string& image) {
  return {{"metadata", {{"labels", {{"app", "web"}}}}},
          {"spec",
           {{"containers", json::array({{{"name", "web"},
                                         {"image", image},
                                         {"ports", json::array({{{"name", "http"},
                                                                 {"containerPort", 8080},
                                                                 {"protocol", "TCP"}}})}}})},
            {"restartPolicy", "Always"}}}};
}

// A Deployment as the API server stores it after defaulting.
json deployment(int replicas, const std::string& image = "web:v1") {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata",
           {{"name", "web"},
            {"namespace", kNamespace},
            {"uid", "uid-deploy"},
            {"generation", 1},
            {"resourceVersion", "1"},
            {"creationTimestamp", rfc3339(kStart)}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", "web"}}}}},
            {"template", pod_template(image)},
            {"strategy",
             {{"type", "RollingUpdate"},
              {"rollingUpdate", {{"maxSurge", "25%"}, {"maxUnavailable", "25%"}}}}},
            {"revisionHistoryLimit", 10},
            {"progressDeadlineSeconds", 600}}}};
}

json ready_condition(bool ready, TimePoint since) {
  return {{"type", "Ready"},
          {"status", ready ? "True" : "False"},
          {"lastTransitionTime", rfc3339(since)}};
}

// A pod of `owner` (a ReplicaSet) in the given state.
json pod(const std::string& name, const json& owner, const std::string& phase, bool ready,
         const std::string& node = "node-a", TimePoint created = kStart) {
  json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata",
             {{"name", name},
              {"namespace", kNamespace},
              {"uid", "uid-" + name},
              {"creationTimestamp", rfc3339(created)},
              {"labels", {{"app", "web"}}}}},
            {"spec", pod_template("web:v1")["spec"]},
            {"status", {{"phase", phase}}}};
  if (!owner.is_null()) {
    p["metadata"]["ownerReferences"] = json::array({{{"apiVersion", "apps/v1"},
                                                     {"kind", "ReplicaSet"},
                                                     {"name", owner["metadata"]["name"]},
                                                     {"uid", owner["metadata"]["uid"]},
                                                     {"controller", true},
                                                     {"blockOwnerDeletion", true}}});
  }
  if (!node.empty()) p["spec"]["nodeName"] = node;
  if (phase == "Running") {
    p["status"]["podIP"] = "10.0.0." + std::to_string(std::hash<std::string>{}(name) % 250 + 1);
    p["status"]["conditions"] = json::array({ready_condition(ready, created)});
  }
  return p;
}

json replicaset(const std::string& name, int replicas) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "ReplicaSet"},
          {"metadata",
           {{"name", name},
            {"namespace", kNamespace},
            {"uid", "uid-" + name},
            {"generation", 1},
            {"resourceVersion", "1"},
            {"creationTimestamp", rfc3339(kStart)},
            {"labels", {{"app", "web"}}}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", "web"}}}}},
            {"template", pod_template("web:v1")}}}};
}

std::vector<const Action*> of_kind(const std::vector<Action>& actions, Action::Kind kind,
                                   const std::string& resource) {
  std::vector<const Action*> out;
  for (const Action& a : actions) {
    if (a.kind == kind && a.resource == resource) out.push_back(&a);
  }
  return out;
}

std::vector<std::string> deleted_names(const std::vector<Action>& actions) {
  std::vector<std::string> out;
  for (const Action* a : of_kind(actions, Action::Kind::kDelete, "pods")) {
    out.push_back(a->object["metadata"]["name"]);
  }
  return out;
}

const json* condition(const json& status, const std::string& type) {
  if (!status.contains("conditions")) return nullptr;
  for (const json& c : status["conditions"]) {
    if (c["type"] == type) return &c;
  }
  return nullptr;
}

// A tiny API server and kubelet: applies actions the way kubesim would
// (uids, creation times, generation bumps, the status split, resourceVersion
// checks) and starts pods on demand.
class FakeCluster {
 public:
  explicit FakeCluster(json d, uint32_t seed = 7) : suffix_(seeded_suffix(seed)) {
    deployments_.push_back(std::move(d));
  }

  json& deploy() { return deployments_[0]; }
  std::vector<json>& replicasets() { return replicasets_; }
  std::vector<json>& pods() { return pods_; }
  TimePoint now() const { return now_; }
  void advance(seconds s) { now_ += s; }
  const std::vector<std::string>& log() const { return log_; }

  // Every action applied so far, as text, for determinism checks.
  void apply(const std::vector<Action>& actions) {
    for (const Action& a : actions) apply_one(a);
  }

  std::vector<Action> sync_deployment() {
    Reconciliation r = reconcile_deployment(deploy(), replicasets_, pods_, now_);
    apply(r.actions);
    return r.actions;
  }

  std::vector<Action> sync_replicasets() {
    std::vector<Action> all;
    std::vector<json> snapshot = replicasets_;
    for (const json& rs : snapshot) {
      Reconciliation r = reconcile_replicaset(rs, pods_, now_, suffix_);
      apply(r.actions);
      all.insert(all.end(), r.actions.begin(), r.actions.end());
    }
    return all;
  }

  // The kubelet: binds and readies up to `n` pending pods (oldest name first).
  int start_pods(int n) {
    int started = 0;
    for (json& p : pods_) {
      if (started == n) break;
      if (p["status"].value("phase", "") != "Pending") continue;
      p["spec"]["nodeName"] = "node-" + std::to_string(started % 2);
      p["status"]["phase"] = "Running";
      p["status"]["podIP"] = "10.1.0." + std::to_string(++ip_);
      p["status"]["conditions"] = json::array({ready_condition(true, now_)});
      ++started;
    }
    return started;
  }

  // Runs controllers (and a kubelet starting everything) until nothing changes.
  int settle(int max_rounds = 50) {
    for (int round = 0; round < max_rounds; ++round) {
      size_t n = sync_deployment().size();
      n += sync_replicasets().size();
      n += static_cast<size_t>(start_pods(1000));
      advance(seconds(1));
      if (n == 0) return round;
    }
    ADD_FAILURE() << "did not settle in " << max_rounds << " rounds";
    return max_rounds;
  }

  // Changes the deployment spec as a user's update would.
  void edit_spec(const std::function<void(json& spec)>& change) {
    change(deploy()["spec"]);
    deploy()["metadata"]["generation"] = deploy()["metadata"]["generation"].get<int>() + 1;
    bump(deploy());
  }

  const json* rs_named(const std::string& name) const {
    for (const json& r : replicasets_) {
      if (r["metadata"]["name"] == name) return &r;
    }
    return nullptr;
  }

 private:
  std::vector<json>& list(const std::string& resource) {
    if (resource == "deployments") return deployments_;
    if (resource == "replicasets") return replicasets_;
    return pods_;
  }

  void bump(json& obj) { obj["metadata"]["resourceVersion"] = std::to_string(++rv_); }

  void apply_one(const Action& a) {
    log_.push_back(std::to_string(static_cast<int>(a.kind)) + " " + a.resource + " " +
                   a.object.dump());
    std::vector<json>& objs = list(a.resource);
    const std::string name = a.object["metadata"].value("name", "");
    auto it = std::find_if(objs.begin(), objs.end(),
                           [&](const json& o) { return o["metadata"]["name"] == name; });
    switch (a.kind) {
      case Action::Kind::kCreate: {
        ASSERT_EQ(it, objs.end()) << "already exists: " << name;
        json obj = a.object;
        obj["metadata"]["uid"] = "uid-" + name;
        obj["metadata"]["creationTimestamp"] = rfc3339(now_);
        obj["metadata"]["generation"] = 1;
        if (a.resource == "pods") obj["status"] = {{"phase", "Pending"}};
        bump(obj);
        objs.push_back(std::move(obj));
        break;
      }
      case Action::Kind::kUpdate: {
        ASSERT_NE(it, objs.end()) << "update of missing " << name;
        ASSERT_EQ(a.object["metadata"].value("resourceVersion", ""),
                  (*it)["metadata"].value("resourceVersion", ""))
            << "stale update of " << name;
        json obj = a.object;
        if (it->contains("status")) obj["status"] = (*it)["status"];
        obj["metadata"]["generation"] = (*it)["metadata"]["generation"];
        if (obj["spec"] != (*it)["spec"]) {
          obj["metadata"]["generation"] = (*it)["metadata"]["generation"].get<int>() + 1;
        }
        bump(obj);
        *it = std::move(obj);
        break;
      }
      case Action::Kind::kUpdateStatus:
        ASSERT_NE(it, objs.end()) << "status update of missing " << name;
        ASSERT_FALSE(a.object["metadata"].contains("resourceVersion"));
        (*it)["status"] = a.object["status"];
        bump(*it);
        break;
      case Action::Kind::kDelete:
        ASSERT_NE(it, objs.end()) << "delete of missing " << name;
        objs.erase(it);
        break;
    }
  }

  std::vector<json> deployments_, replicasets_, pods_;
  NameSuffix suffix_;
  TimePoint now_ = kStart;
  int rv_ = 100;
  int ip_ = 0;
  std::vector<std::string> log_;
};

// ---- Pod-template hash ---------------------------------------------------------

TEST(PodTemplateHash, IsStableUsesTheSafeAlphabetAndChangesWithTemplateOrCollisionCount) {
  const json a = pod_template("web:v1");
  const std::string h = pod_template_hash(a, std::nullopt);
  EXPECT_EQ(h, pod_template_hash(a, std::nullopt));
  EXPECT_GE(h.size(), 1u);
  EXPECT_LE(h.size(), 10u);  // the decimal digits of a uint32
  // SafeEncodeString of decimal digits only ever yields these ten characters.
  EXPECT_EQ(h.find_first_not_of("456789bcdf"), std::string::npos) << h;
  EXPECT_NE(h, pod_template_hash(pod_template("web:v2"), std::nullopt));
  EXPECT_NE(h, pod_template_hash(a, 1));
  EXPECT_NE(pod_template_hash(a, 1), pod_template_hash(a, 2));
}

// ---- Deployment -> ReplicaSet ----------------------------------------------------

TEST(DeploymentController, NewDeploymentCreatesReplicaSetNamedByHashWithLabelsOwnerAndAnnotations) {
  json d = deployment(3);
  d["metadata"]["annotations"] = {{"team", "ml"},
                                  {"kubectl.kubernetes.io/last-applied-configuration", "{}"}};
  Reconciliation r = reconcile_deployment(d, {}, {}, kStart);
  auto creates = of_kind(r.actions, Action::Kind::kCreate, "replicasets");
  ASSERT_EQ(creates.size(), 1u);
  const json& rs = creates[0]->object;
  const std::string hash = pod_template_hash(d["spec"]["template"], std::nullopt);
  EXPECT_EQ(creates[0]->group, "apps");
  EXPECT_EQ(rs["metadata"]["name"], "web-" + hash);
  EXPECT_EQ(rs["metadata"]["namespace"], kNamespace);
  EXPECT_EQ(rs["metadata"]["labels"], json({{"app", "web"}, {"pod-template-hash", hash}}));
  EXPECT_EQ(rs["spec"]["selector"]["matchLabels"],
            json({{"app", "web"}, {"pod-template-hash", hash}}));
  EXPECT_EQ(rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"], hash);
  EXPECT_EQ(rs["spec"]["template"]["spec"], d["spec"]["template"]["spec"]);
  EXPECT_EQ(rs["spec"]["replicas"], 3);
  EXPECT_EQ(rs["metadata"]["ownerReferences"], json::array({{{"apiVersion", "apps/v1"},
                                                             {"kind", "Deployment"},
                                                             {"name", "web"},
                                                             {"uid", "uid-deploy"},
                                                             {"controller", true},
                                                             {"blockOwnerDeletion", true}}}));
  EXPECT_EQ(rs["metadata"]["annotations"], json({{"deployment.kubernetes.io/revision", "1"},
                                                 {"deployment.kubernetes.io/desired-replicas", "3"},
                                                 {"deployment.kubernetes.io/max-replicas", "4"},
                                                 {"team", "ml"}}));
  // The deployment records its revision (a metadata write) and its status.
  auto updates = of_kind(r.actions, Action::Kind::kUpdate, "deployments");
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0]->object["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            "1");
  EXPECT_EQ(updates[0]->object["metadata"]["resourceVersion"], "1");
  auto status = of_kind(r.actions, Action::Kind::kUpdateStatus, "deployments");
  ASSERT_EQ(status.size(), 1u);
  const json& st = status[0]->object["status"];
  EXPECT_EQ(st["observedGeneration"], 1);
  const json* progressing = condition(st, "Progressing");
  ASSERT_TRUE(progressing);
  EXPECT_EQ((*progressing)["reason"], "NewReplicaSetCreated");
  EXPECT_EQ((*progressing)["message"], "Created new replica set \"web-" + hash + "\"");
  const json* available = condition(st, "Available");
  ASSERT_TRUE(available);
  EXPECT_EQ((*available)["status"], "False");
  EXPECT_EQ((*available)["reason"], "MinimumReplicasUnavailable");
}

TEST(DeploymentController, ReachesCompleteStatusAndThenWritesNothing) {
  FakeCluster c(deployment(3));
  c.settle();
  ASSERT_EQ(c.replicasets().size(), 1u);
  EXPECT_EQ(c.pods().size(), 3u);
  const json& st = c.deploy()["status"];
  EXPECT_EQ(st["replicas"], 3);
  EXPECT_EQ(st["updatedReplicas"], 3);
  EXPECT_EQ(st["readyReplicas"], 3);
  EXPECT_EQ(st["availableReplicas"], 3);
  EXPECT_FALSE(st.contains("unavailableReplicas"));  // omitempty
  EXPECT_EQ(st["observedGeneration"], 1);
  const json* available = condition(st, "Available");
  ASSERT_TRUE(available);
  EXPECT_EQ((*available)["status"], "True");
  EXPECT_EQ((*available)["reason"], "MinimumReplicasAvailable");
  EXPECT_EQ((*available)["message"], "Deployment has minimum availability.");
  const json* progressing = condition(st, "Progressing");
  ASSERT_TRUE(progressing);
  EXPECT_EQ((*progressing)["reason"], "NewReplicaSetAvailable");
  EXPECT_EQ((*progressing)["message"],
            "ReplicaSet \"" + c.replicasets()[0]["metadata"]["name"].get<std::string>() +
                "\" has successfully progressed.");
  // Converged: another sync of everything changes nothing.
  EXPECT_TRUE(reconcile_deployment(c.deploy(), c.replicasets(), c.pods(), c.now()).actions.empty());
  EXPECT_TRUE(c.sync_replicasets().empty());
}

TEST(DeploymentController, ScalingResizesTheReplicaSetAndItsAnnotations) {
  FakeCluster c(deployment(3));
  c.settle();
  c.edit_spec([](json& spec) { spec["replicas"] = 5; });
  auto actions = c.sync_deployment();
  auto updates = of_kind(actions, Action::Kind::kUpdate, "replicasets");
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0]->object["spec"]["replicas"], 5);
  EXPECT_EQ(
      updates[0]->object["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"],
      "5");
  EXPECT_EQ(updates[0]->object["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"],
            "7");
  c.settle();
  EXPECT_EQ(c.pods().size(), 5u);
  EXPECT_EQ(c.deploy()["status"]["availableReplicas"], 5);
}

// Counts that the rollout invariants are about.
struct RolloutView {
  int64_t spec_total = 0;
  int64_t ready_pods = 0;
  int64_t new_spec = 0;
  int64_t old_spec = 0;
};

RolloutView view(FakeCluster& c, const std::string& new_hash) {
  RolloutView v;
  for (const json& rs : c.replicasets()) {
    const int64_t n = rs["spec"]["replicas"];
    v.spec_total += n;
    (rs["metadata"]["labels"]["pod-template-hash"] == new_hash ? v.new_spec : v.old_spec) += n;
  }
  for (const json& p : c.pods()) v.ready_pods += is_pod_ready(p) ? 1 : 0;
  return v;
}

TEST(DeploymentController, RollingUpdateStaysWithinSurgeAndUnavailabilityAndConvergesToNewSet) {
  json d = deployment(4);
  d["spec"]["strategy"]["rollingUpdate"] = {{"maxSurge", 1}, {"maxUnavailable", "25%"}};
  FakeCluster c(d);
  c.settle();
  c.edit_spec([](json& spec) { spec["template"] = pod_template("web:v2"); });
  const std::string new_hash = pod_template_hash(pod_template("web:v2"), std::nullopt);
  constexpr int64_t kDesired = 4, kSurge = 1, kUnavailable = 1;
  bool saw_both_sets = false;
  int rounds = 0;
  for (; rounds < 100; ++rounds) {
    size_t n = c.sync_deployment().size();
    RolloutView v = view(c, new_hash);
    EXPECT_LE(v.spec_total, kDesired + kSurge) << "round " << rounds;
    EXPECT_GE(v.ready_pods, kDesired - kUnavailable) << "round " << rounds;
    saw_both_sets |= v.new_spec > 0 && v.old_spec > 0;
    n += c.sync_replicasets().size();
    v = view(c, new_hash);
    EXPECT_LE(static_cast<int64_t>(c.pods().size()), kDesired + kSurge) << "round " << rounds;
    EXPECT_GE(v.ready_pods, kDesired - kUnavailable) << "round " << rounds;
    n += static_cast<size_t>(c.start_pods(1));  // a slow kubelet: one pod at a time
    c.advance(seconds(1));
    if (n == 0) break;
  }
  EXPECT_TRUE(saw_both_sets);
  EXPECT_GT(rounds, 4);  // step by step, not all at once
  RolloutView v = view(c, new_hash);
  EXPECT_EQ(v.new_spec, kDesired);
  EXPECT_EQ(v.old_spec, 0);
  for (const json& p : c.pods()) {
    EXPECT_EQ(p["metadata"]["labels"]["pod-template-hash"], new_hash);
    EXPECT_EQ(p["spec"]["containers"][0]["image"], "web:v2");
  }
  const json& st = c.deploy()["status"];
  EXPECT_EQ(st["updatedReplicas"], kDesired);
  EXPECT_EQ(st["availableReplicas"], kDesired);
  EXPECT_EQ((*condition(st, "Progressing"))["reason"], "NewReplicaSetAvailable");
  EXPECT_EQ(c.deploy()["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
  // The old set is kept (history limit 10) at zero, revision 1.
  ASSERT_EQ(c.replicasets().size(), 2u);
}

TEST(DeploymentController, FirstRollingStepSurgesNewAndScalesOldDownByMaxUnavailable) {
  FakeCluster c(deployment(4));  // 25%/25% of 4: surge 1, unavailable 1
  c.settle();
  c.edit_spec([](json& spec) { spec["template"] = pod_template("web:v2"); });
  auto actions = c.sync_deployment();
  auto creates = of_kind(actions, Action::Kind::kCreate, "replicasets");
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0]->object["spec"]["replicas"], 1);
  EXPECT_EQ(creates[0]->object["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            "2");
  auto updates = of_kind(actions, Action::Kind::kUpdate, "replicasets");
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0]->object["spec"]["replicas"], 3);
}

TEST(DeploymentController, ScalingMidRolloutIsProportionalWithLeftoversToTheLargestSet) {
  FakeCluster c(deployment(4));
  c.settle();
  const std::string old_name = c.replicasets()[0]["metadata"]["name"];
  c.edit_spec([](json& spec) { spec["template"] = pod_template("web:v2"); });
  c.sync_deployment();  // new 1, old 3
  c.edit_spec([](json& spec) { spec["replicas"] = 8; });
  c.sync_deployment();
  // 8 + 25% surge = 10 allowed, 6 to add: old 3*10/5 -> +3, new 1*10/5 -> +1,
  // the 2 left over to the largest (getReplicaSetFraction and scale()).
  for (const json& rs : c.replicasets()) {
    const bool is_old = rs["metadata"]["name"] == old_name;
    EXPECT_EQ(rs["spec"]["replicas"], is_old ? 8 : 2) << rs["metadata"]["name"];
    EXPECT_EQ(rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"], "8");
    EXPECT_EQ(rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"], "10");
  }
  c.settle();
  EXPECT_EQ(c.deploy()["status"]["updatedReplicas"], 8);
  EXPECT_EQ(c.deploy()["status"]["availableReplicas"], 8);
}

TEST(DeploymentController, ZeroSurgeAndZeroUnavailableStillRollsOutOnePodAtATime) {
  json d = deployment(3);
  d["spec"]["strategy"]["rollingUpdate"] = {{"maxSurge", 0}, {"maxUnavailable", 0}};
  FakeCluster c(d);
  c.settle();
  c.edit_spec([](json& spec) { spec["template"] = pod_template("web:v2"); });
  c.sync_deployment();
  int64_t total = 0;
  for (const json& rs : c.replicasets()) total += rs["spec"]["replicas"].get<int64_t>();
  EXPECT_EQ(total, 2);  // one unavailable allowed, none surged
  c.settle();
  EXPECT_EQ(c.deploy()["status"]["updatedReplicas"], 3);
}

TEST(DeploymentController, RecreateScalesOldToZeroAndWaitsForItsPodsBeforeCreatingNew) {
  json d = deployment(2);
  d["spec"]["strategy"] = {{"type", "Recreate"}};
  FakeCluster c(d);
  c.settle();
  c.edit_spec([](json& spec) { spec["template"] = pod_template("web:v2"); });
  auto actions = c.sync_deployment();
  EXPECT_TRUE(of_kind(actions, Action::Kind::kCreate, "replicasets").empty());
  ASSERT_EQ(of_kind(actions, Action::Kind::kUpdate, "replicasets").size(), 1u);
  EXPECT_EQ(c.replicasets()[0]["spec"]["replicas"], 0);
  // Old pods still exist (the ReplicaSet has not acted yet): no new set.
  actions = c.sync_deployment();
  EXPECT_TRUE(of_kind(actions, Action::Kind::kCreate, "replicasets").empty());
  c.sync_replicasets();  // deletes the old pods (its status still counts them)
  EXPECT_TRUE(c.pods().empty());
  EXPECT_TRUE(of_kind(c.sync_deployment(), Action::Kind::kCreate, "replicasets").empty());
  c.sync_replicasets();  // now reports 0 replicas
  actions = c.sync_deployment();
  auto creates = of_kind(actions, Action::Kind::kCreate, "replicasets");
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0]->object["spec"]["replicas"], 2);  // straight to full size
  c.settle();
  EXPECT_EQ(c.deploy()["status"]["updatedReplicas"], 2);
  EXPECT_EQ(c.deploy()["status"]["availableReplicas"], 2);
}

TEST(DeploymentController, RecreateWaitsForTerminatingOldPods) {
  json d = deployment(1);
  d["spec"]["strategy"] = {{"type", "Recreate"}};
  FakeCluster c(d);
  c.settle();
  c.edit_spec([](json& spec) { spec["template"] = pod_template("web:v2"); });
  c.sync_deployment();
  c.sync_replicasets();
  c.sync_replicasets();
  // A pod still terminating holds the new set back.
  json lingering = pod("web-old-x", c.replicasets()[0], "Running", true);
  lingering["metadata"]["deletionTimestamp"] = rfc3339(c.now());
  c.pods().push_back(lingering);
  EXPECT_TRUE(of_kind(c.sync_deployment(), Action::Kind::kCreate, "replicasets").empty());
  c.pods().clear();
  EXPECT_EQ(of_kind(c.sync_deployment(), Action::Kind::kCreate, "replicasets").size(), 1u);
}

TEST(DeploymentController, PausedDeploymentScalesButDoesNotRollOutUntilResumed) {
  FakeCluster c(deployment(2));
  c.settle();
  c.edit_spec([](json& spec) {
    spec["paused"] = true;
    spec["template"] = pod_template("web:v2");
  });
  auto actions = c.sync_deployment();
  EXPECT_TRUE(of_kind(actions, Action::Kind::kCreate, "replicasets").empty());
  const json* progressing = condition(c.deploy()["status"], "Progressing");
  ASSERT_TRUE(progressing);
  EXPECT_EQ((*progressing)["status"], "Unknown");
  EXPECT_EQ((*progressing)["reason"], "DeploymentPaused");
  EXPECT_EQ((*progressing)["message"], "Deployment is paused");
  c.edit_spec([](json& spec) { spec["replicas"] = 3; });
  c.settle();
  ASSERT_EQ(c.replicasets().size(), 1u);
  EXPECT_EQ(c.replicasets()[0]["spec"]["replicas"], 3);
  EXPECT_EQ(c.replicasets()[0]["spec"]["template"]["spec"]["containers"][0]["image"], "web:v1");
  c.edit_spec([](json& spec) { spec["paused"] = false; });
  c.settle();
  ASSERT_EQ(c.replicasets().size(), 2u);
  EXPECT_EQ(c.deploy()["status"]["updatedReplicas"], 3);
  EXPECT_EQ((*condition(c.deploy()["status"], "Progressing"))["reason"], "NewReplicaSetAvailable");
}

TEST(DeploymentController, RevisionHistoryLimitDeletesOldestScaledDownSets) {
  json d = deployment(1);
  d["spec"]["revisionHistoryLimit"] = 1;
  FakeCluster c(d);
  c.settle();
  for (const char* image : {"web:v2", "web:v3", "web:v4"}) {
    c.edit_spec([&](json& spec) { spec["template"] = pod_template(image); });
    c.settle();
  }
  // The current set plus one old one.
  ASSERT_EQ(c.replicasets().size(), 2u);
  std::vector<std::string> revisions;
  for (const json& rs : c.replicasets()) {
    revisions.push_back(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]);
  }
  std::sort(revisions.begin(), revisions.end());
  EXPECT_EQ(revisions, (std::vector<std::string>{"3", "4"}));
}

TEST(DeploymentController, RollingBackReusesTheOldSetWithANewRevisionAndHistory) {
  FakeCluster c(deployment(1));
  c.settle();
  const std::string first = c.replicasets()[0]["metadata"]["name"];
  c.edit_spec([](json& spec) { spec["template"] = pod_template("web:v2"); });
  c.settle();
  c.edit_spec([](json& spec) { spec["template"] = pod_template("web:v1"); });
  c.settle();
  ASSERT_EQ(c.replicasets().size(), 2u);
  const json* rs = c.rs_named(first);
  ASSERT_TRUE(rs);
  EXPECT_EQ((*rs)["spec"]["replicas"], 1);
  EXPECT_EQ((*rs)["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3");
  EXPECT_EQ((*rs)["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"], "1");
}

TEST(DeploymentController, NameCollisionBumpsCollisionCountInsteadOfCreating) {
  json d = deployment(1);
  const std::string hash = pod_template_hash(d["spec"]["template"], std::nullopt);
  json squatter = replicaset("web-" + hash, 0);
  squatter["metadata"]["labels"] = {{"app", "other"}};
  squatter["spec"]["selector"]["matchLabels"] = {{"app", "other"}};
  squatter["spec"]["template"]["metadata"]["labels"] = {{"app", "other"}};
  Reconciliation r = reconcile_deployment(d, {squatter}, {}, kStart);
  EXPECT_TRUE(of_kind(r.actions, Action::Kind::kCreate, "replicasets").empty());
  auto status = of_kind(r.actions, Action::Kind::kUpdateStatus, "deployments");
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0]->object["status"]["collisionCount"], 1);
  ASSERT_TRUE(r.requeue_after_seconds);
  d["status"] = status[0]->object["status"];
  r = reconcile_deployment(d, {squatter}, {}, kStart);
  auto creates = of_kind(r.actions, Action::Kind::kCreate, "replicasets");
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0]->object["metadata"]["name"],
            "web-" + pod_template_hash(d["spec"]["template"], 1));
}

TEST(DeploymentController, AdoptsAMatchingOrphanReplicaSet) {
  json d = deployment(2);
  json orphan = replicaset("web-orphan", 2);
  orphan["spec"]["template"] = d["spec"]["template"];
  Reconciliation r = reconcile_deployment(d, {orphan}, {}, kStart);
  auto updates = of_kind(r.actions, Action::Kind::kUpdate, "replicasets");
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0]->object["metadata"]["ownerReferences"][0]["uid"], "uid-deploy");
  EXPECT_TRUE(of_kind(r.actions, Action::Kind::kCreate, "replicasets").empty());
}

TEST(DeploymentController, ProgressDeadlineExceededWhenPodsNeverBecomeReady) {
  json d = deployment(1);
  d["spec"]["progressDeadlineSeconds"] = 30;
  FakeCluster c(d);
  c.sync_deployment();
  c.sync_replicasets();  // a pod that never starts
  Reconciliation r = reconcile_deployment(c.deploy(), c.replicasets(), c.pods(), c.now());
  ASSERT_TRUE(r.requeue_after_seconds);
  EXPECT_NEAR(*r.requeue_after_seconds, 31, 1e-9);
  c.advance(seconds(31));
  c.sync_deployment();
  const json* progressing = condition(c.deploy()["status"], "Progressing");
  ASSERT_TRUE(progressing);
  EXPECT_EQ((*progressing)["status"], "False");
  EXPECT_EQ((*progressing)["reason"], "ProgressDeadlineExceeded");
  EXPECT_EQ((*progressing)["message"],
            "ReplicaSet \"" + c.replicasets()[0]["metadata"]["name"].get<std::string>() +
                "\" has timed out progressing.");
}

TEST(DeploymentController, SameInputGivesSameActions) {
  auto run = [] {
    FakeCluster c(deployment(3), 11);
    c.settle();
    c.edit_spec([](json& spec) { spec["template"] = pod_template("web:v2"); });
    c.settle();
    return c.log();
  };
  EXPECT_EQ(run(), run());
}

// ---- ReplicaSet -> Pods ------------------------------------------------------------

TEST(ReplicaSetController, CreatesMissingPodsNamedByGenerateNameWithOwnerAndTemplate) {
  json rs = replicaset("web-abc", 3);
  rs["spec"]["template"]["metadata"]["annotations"] = {{"sim.frugal.dev/work-seconds", "5"}};
  Reconciliation r = reconcile_replicaset(rs, {}, kStart, seeded_suffix(1));
  auto creates = of_kind(r.actions, Action::Kind::kCreate, "pods");
  ASSERT_EQ(creates.size(), 3u);
  std::set<std::string> names;
  for (const Action* a : creates) {
    const json& p = a->object;
    const std::string name = p["metadata"]["name"];
    names.insert(name);
    ASSERT_EQ(name.size(), std::string("web-abc-").size() + 5);
    EXPECT_EQ(name.rfind("web-abc-", 0), 0u);
    EXPECT_EQ(p["metadata"]["generateName"], "web-abc-");
    EXPECT_EQ(p["metadata"]["labels"], json({{"app", "web"}}));
    EXPECT_EQ(p["metadata"]["annotations"]["sim.frugal.dev/work-seconds"], "5");
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["uid"], "uid-web-abc");
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["controller"], true);
    EXPECT_EQ(p["spec"], rs["spec"]["template"]["spec"]);
  }
  EXPECT_EQ(names.size(), 3u);
  auto status = of_kind(r.actions, Action::Kind::kUpdateStatus, "replicasets");
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0]->object["status"], json({{"replicas", 0}, {"observedGeneration", 1}}));
}

TEST(ReplicaSetController, LongNamesAreTruncatedLikeGenerateName) {
  const std::string long_name(70, 'a');
  json rs = replicaset(long_name, 1);
  Reconciliation r = reconcile_replicaset(rs, {}, kStart, seeded_suffix(1));
  auto creates = of_kind(r.actions, Action::Kind::kCreate, "pods");
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0]->object["metadata"]["name"].get<std::string>().size(), 63u);
}

TEST(ReplicaSetController, ScaleDownDeletesUnassignedThenPendingThenNotReadyThenNewestReady) {
  json rs = replicaset("web-abc", 1);
  const TimePoint t0 = kStart;
  std::vector<json> pods = {
      pod("ready-old", rs, "Running", true, "node-a", t0),
      pod("ready-new", rs, "Running", true, "node-b", t0 + seconds(100)),
      pod("not-ready", rs, "Running", false, "node-c", t0),
      pod("pending", rs, "Pending", false, "node-d", t0),
      pod("unassigned", rs, "Pending", false, "", t0),
  };
  // Ready times: the newer pod became ready later.
  pods[1]["status"]["conditions"][0]["lastTransitionTime"] = rfc3339(t0 + seconds(100));
  const TimePoint now = t0 + seconds(1000);
  for (size_t keep = 4; keep >= 1; --keep) {
    rs["spec"]["replicas"] = keep;
    Reconciliation r = reconcile_replicaset(rs, pods, now, seeded_suffix(1));
    std::vector<std::string> expected_order = {"unassigned", "pending", "not-ready", "ready-new"};
    std::vector<std::string> expected(expected_order.begin(),
                                      expected_order.begin() + (pods.size() - keep));
    EXPECT_EQ(deleted_names(r.actions), expected) << "keeping " << keep;
  }
}

TEST(ReplicaSetController, ScaleDownPrefersLowerDeletionCostAndDoubledUpNodes) {
  json rs = replicaset("web-abc", 2);
  std::vector<json> pods = {
      pod("a", rs, "Running", true, "node-a"),
      pod("b", rs, "Running", true, "node-a"),
      pod("c", rs, "Running", true, "node-b"),
  };
  // Two on node-a: one of them goes first.
  Reconciliation r = reconcile_replicaset(rs, pods, kStart + seconds(10), seeded_suffix(1));
  ASSERT_EQ(deleted_names(r.actions).size(), 1u);
  EXPECT_NE(deleted_names(r.actions)[0], "c");
  // A cheap pod goes before everything else that is equally healthy.
  pods[2]["metadata"]["annotations"] = {{"controller.kubernetes.io/pod-deletion-cost", "-10"}};
  r = reconcile_replicaset(rs, pods, kStart + seconds(10), seeded_suffix(1));
  EXPECT_EQ(deleted_names(r.actions), std::vector<std::string>{"c"});
}

TEST(ReplicaSetController, FailedPodsAreReplacedAndTerminatingOnesNotCounted) {
  json rs = replicaset("web-abc", 2);
  json failed = pod("failed", rs, "Failed", false);
  json terminating = pod("terminating", rs, "Running", true);
  terminating["metadata"]["deletionTimestamp"] = rfc3339(kStart);
  json running = pod("running", rs, "Running", true);
  Reconciliation r =
      reconcile_replicaset(rs, {failed, terminating, running}, kStart, seeded_suffix(1));
  EXPECT_EQ(of_kind(r.actions, Action::Kind::kCreate, "pods").size(), 1u);
  EXPECT_TRUE(deleted_names(r.actions).empty());  // the failed pod is left for pod GC
  auto status = of_kind(r.actions, Action::Kind::kUpdateStatus, "replicasets");
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0]->object["status"]["replicas"], 1);
  EXPECT_EQ(status[0]->object["status"]["readyReplicas"], 1);
}

TEST(ReplicaSetController, StatusCountsLabelsReadinessAndAvailabilityAfterMinReadySeconds) {
  json rs = replicaset("web-abc", 3);
  rs["metadata"]["generation"] = 4;
  rs["spec"]["minReadySeconds"] = 10;
  rs["spec"]["template"]["metadata"]["labels"]["tier"] = "front";
  std::vector<json> pods = {pod("a", rs, "Running", true), pod("b", rs, "Running", true),
                            pod("c", rs, "Running", false)};
  pods[0]["metadata"]["labels"]["tier"] = "front";
  pods[1]["status"]["conditions"][0]["lastTransitionTime"] = rfc3339(kStart + seconds(5));
  const TimePoint now = kStart + seconds(12);  // a: ready 12 s, b: ready 7 s
  Reconciliation r = reconcile_replicaset(rs, pods, now, seeded_suffix(1));
  auto status = of_kind(r.actions, Action::Kind::kUpdateStatus, "replicasets");
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0]->object["status"], json({{"replicas", 3},
                                               {"fullyLabeledReplicas", 1},
                                               {"readyReplicas", 2},
                                               {"availableReplicas", 1},
                                               {"observedGeneration", 4}}));
  ASSERT_TRUE(r.requeue_after_seconds);
  EXPECT_NEAR(*r.requeue_after_seconds, 3, 1e-9);  // b becomes available at 15 s
  // The same state again: nothing to write.
  rs["status"] = status[0]->object["status"];
  r = reconcile_replicaset(rs, pods, now, seeded_suffix(1));
  EXPECT_TRUE(r.actions.empty());
}

TEST(ReplicaSetController, AdoptsOrphansAndReleasesPodsThatNoLongerMatch) {
  json rs = replicaset("web-abc", 2);
  json orphan = pod("orphan", json(), "Running", true);
  json strayed = pod("strayed", rs, "Running", true);
  strayed["metadata"]["labels"] = {{"app", "other"}};
  Reconciliation r = reconcile_replicaset(rs, {orphan, strayed}, kStart, seeded_suffix(1));
  auto updates = of_kind(r.actions, Action::Kind::kUpdate, "pods");
  ASSERT_EQ(updates.size(), 2u);
  std::map<std::string, json> by_name;
  for (const Action* a : updates) by_name[a->object["metadata"]["name"]] = a->object;
  EXPECT_EQ(by_name["orphan"]["metadata"]["ownerReferences"][0]["uid"], "uid-web-abc");
  EXPECT_TRUE(by_name["strayed"]["metadata"]["ownerReferences"].empty());
  // One adopted, one still missing.
  EXPECT_EQ(of_kind(r.actions, Action::Kind::kCreate, "pods").size(), 1u);
}

// ---- Service -> Endpoints / EndpointSlices -------------------------------------------

json service(const json& target_port = "http") {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata",
           {{"name", "web"},
            {"namespace", kNamespace},
            {"uid", "uid-svc"},
            {"labels", {{"team", "ml"}}}}},
          {"spec",
           {{"selector", {{"app", "web"}}},
            {"clusterIP", "10.96.0.10"},
            {"ports", json::array({{{"name", "http"},
                                    {"port", 80},
                                    {"protocol", "TCP"},
                                    {"targetPort", target_port}}})}}}};
}

std::vector<json> nodes() {
  return {
      {{"metadata", {{"name", "node-a"}, {"labels", {{"topology.kubernetes.io/zone", "z1"}}}}}},
      {{"metadata", {{"name", "node-b"}, {"labels", {{"topology.kubernetes.io/zone", "z2"}}}}}}};
}

json with_ip(json p, const std::string& ip) {
  p["status"]["podIP"] = ip;
  return p;
}

std::vector<json> service_pods() {
  return {with_ip(pod("ready-1", json(), "Running", true, "node-a"), "10.0.0.1"),
          with_ip(pod("ready-2", json(), "Running", true, "node-b"), "10.0.0.2"),
          with_ip(pod("starting", json(), "Running", false, "node-a"), "10.0.0.3"),
          pod("no-ip", json(), "Pending", false, "node-a"),
          with_ip(pod("done", json(), "Succeeded", false, "node-a"), "10.0.0.4")};
}

const Action* only(const std::vector<Action>& actions, Action::Kind kind,
                   const std::string& resource) {
  auto found = of_kind(actions, kind, resource);
  EXPECT_EQ(found.size(), 1u) << resource;
  return found.empty() ? nullptr : found[0];
}

TEST(EndpointsController, ReadyAndNotReadyAddressesWithNamedTargetPortResolved) {
  auto actions = reconcile_service_endpoints(service(), service_pods(), nodes(), std::nullopt, {},
                                             seeded_suffix(3));
  const Action* ep = only(actions, Action::Kind::kCreate, "endpoints");
  ASSERT_TRUE(ep);
  const json& e = ep->object;
  EXPECT_EQ(e["metadata"]["name"], "web");
  EXPECT_EQ(e["metadata"]["labels"], json({{"team", "ml"}}));
  ASSERT_EQ(e["subsets"].size(), 1u);
  const json& s = e["subsets"][0];
  EXPECT_EQ(s["ports"], json::parse(R"([{"name":"http","port":8080,"protocol":"TCP"}])"));
  ASSERT_EQ(s["addresses"].size(), 2u);
  EXPECT_EQ(s["addresses"][0], json::parse(R"({"ip":"10.0.0.1","nodeName":"node-a",
      "targetRef":{"kind":"Pod","namespace":"default","name":"ready-1","uid":"uid-ready-1"}})"));
  EXPECT_EQ(s["addresses"][1]["ip"], "10.0.0.2");
  ASSERT_EQ(s["notReadyAddresses"].size(), 1u);
  EXPECT_EQ(s["notReadyAddresses"][0]["targetRef"]["name"], "starting");
}

TEST(EndpointsController, NumericTargetPortIsUsedAsIs) {
  auto actions = reconcile_service_endpoints(service(9090), service_pods(), nodes(), std::nullopt,
                                             {}, seeded_suffix(3));
  const Action* ep = only(actions, Action::Kind::kCreate, "endpoints");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->object["subsets"][0]["ports"][0]["port"], 9090);
}

TEST(EndpointsController, PodsOfferingDifferentPortsGetSeparateSubsetsAndSlices) {
  json svc = service();
  svc["spec"]["ports"].push_back(
      {{"name", "metrics"}, {"port", 9090}, {"protocol", "TCP"}, {"targetPort", "metrics"}});
  json both = with_ip(pod("both", json(), "Running", true, "node-a"), "10.0.0.1");
  both["spec"]["containers"][0]["ports"].push_back(
      {{"name", "metrics"}, {"containerPort", 9100}, {"protocol", "TCP"}});
  json http_only = with_ip(pod("http-only", json(), "Running", true, "node-a"), "10.0.0.2");
  auto actions = reconcile_service_endpoints(svc, {both, http_only}, nodes(), std::nullopt, {},
                                             seeded_suffix(3));
  const Action* ep = only(actions, Action::Kind::kCreate, "endpoints");
  ASSERT_TRUE(ep);
  // http on both pods; metrics on one: two subsets.
  ASSERT_EQ(ep->object["subsets"].size(), 2u);
  std::map<size_t, json> by_size;
  for (const json& s : ep->object["subsets"]) by_size[s["addresses"].size()] = s;
  EXPECT_EQ(by_size[2]["ports"], json::parse(R"([{"name":"http","port":8080,"protocol":"TCP"}])"));
  EXPECT_EQ(by_size[1]["ports"],
            json::parse(R"([{"name":"metrics","port":9100,"protocol":"TCP"}])"));
  EXPECT_EQ(by_size[1]["addresses"][0]["targetRef"]["name"], "both");
  // Slices group endpoints by their whole port list: one slice each.
  EXPECT_EQ(of_kind(actions, Action::Kind::kCreate, "endpointslices").size(), 2u);
}

TEST(EndpointsController, EndpointSliceCarriesConditionsZonesPortsAndLabels) {
  json terminating = with_ip(pod("leaving", json(), "Running", true, "node-b"), "10.0.0.9");
  terminating["metadata"]["deletionTimestamp"] = rfc3339(kStart);
  std::vector<json> pods = service_pods();
  pods.push_back(terminating);
  auto actions =
      reconcile_service_endpoints(service(), pods, nodes(), std::nullopt, {}, seeded_suffix(3));
  const Action* create = only(actions, Action::Kind::kCreate, "endpointslices");
  ASSERT_TRUE(create);
  const json& slice = create->object;
  EXPECT_EQ(create->group, "discovery.k8s.io");
  const std::string name = slice["metadata"]["name"];
  EXPECT_EQ(name.size(), std::string("web-").size() + 5);
  EXPECT_EQ(slice["metadata"]["generateName"], "web-");
  EXPECT_EQ(slice["metadata"]["labels"],
            json({{"team", "ml"},
                  {"kubernetes.io/service-name", "web"},
                  {"endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io"}}));
  EXPECT_EQ(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
  EXPECT_EQ(slice["metadata"]["ownerReferences"][0]["uid"], "uid-svc");
  EXPECT_EQ(slice["addressType"], "IPv4");
  EXPECT_EQ(slice["ports"], json::parse(R"([{"name":"http","port":8080,"protocol":"TCP"}])"));
  std::map<std::string, json> by_pod;
  for (const json& e : slice["endpoints"]) by_pod[e["targetRef"]["name"]] = e;
  ASSERT_EQ(by_pod.size(), 4u);  // ready-1, ready-2, starting, leaving
  EXPECT_EQ(by_pod["ready-1"], json::parse(R"({"addresses":["10.0.0.1"],
      "conditions":{"ready":true,"serving":true,"terminating":false},
      "nodeName":"node-a","zone":"z1",
      "targetRef":{"kind":"Pod","namespace":"default","name":"ready-1","uid":"uid-ready-1"}})"));
  EXPECT_EQ(by_pod["starting"]["conditions"],
            json({{"ready", false}, {"serving", false}, {"terminating", false}}));
  EXPECT_EQ(by_pod["leaving"]["conditions"],
            json({{"ready", false}, {"serving", true}, {"terminating", true}}));
  // Endpoints leave terminating pods out altogether.
  const Action* ep = only(actions, Action::Kind::kCreate, "endpoints");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->object.dump().find("leaving"), std::string::npos);
}

TEST(EndpointsController, HeadlessServiceIsLabelledAndMayHaveNoPorts) {
  json svc = service();
  svc["spec"]["clusterIP"] = "None";
  svc["spec"].erase("ports");
  auto actions =
      reconcile_service_endpoints(svc, service_pods(), nodes(), std::nullopt, {}, seeded_suffix(3));
  const Action* ep = only(actions, Action::Kind::kCreate, "endpoints");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->object["metadata"]["labels"]["service.kubernetes.io/headless"], "");
  ASSERT_EQ(ep->object["subsets"].size(), 1u);
  EXPECT_FALSE(ep->object["subsets"][0].contains("ports"));
  EXPECT_EQ(ep->object["subsets"][0]["addresses"].size(), 2u);
  const Action* slice = only(actions, Action::Kind::kCreate, "endpointslices");
  ASSERT_TRUE(slice);
  EXPECT_TRUE(slice->object["ports"].is_null());
  EXPECT_EQ(slice->object["metadata"]["labels"]["service.kubernetes.io/headless"], "");
  EXPECT_EQ(slice->object["endpoints"].size(), 3u);
}

TEST(EndpointsController, PublishNotReadyAddressesMakesEveryAddressReady) {
  json svc = service();
  svc["spec"]["clusterIP"] = "None";
  svc["spec"]["publishNotReadyAddresses"] = true;
  auto actions =
      reconcile_service_endpoints(svc, service_pods(), nodes(), std::nullopt, {}, seeded_suffix(3));
  const Action* ep = only(actions, Action::Kind::kCreate, "endpoints");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->object["subsets"][0]["addresses"].size(), 3u);
  EXPECT_FALSE(ep->object["subsets"][0].contains("notReadyAddresses"));
  const Action* slice = only(actions, Action::Kind::kCreate, "endpointslices");
  ASSERT_TRUE(slice);
  for (const json& e : slice->object["endpoints"]) EXPECT_EQ(e["conditions"]["ready"], true);
}

TEST(EndpointsController, ServiceWithoutSelectorIsLeftAlone) {
  json svc = service();
  svc["spec"].erase("selector");
  json existing = {{"metadata", {{"name", "web"}, {"namespace", kNamespace}}},
                   {"subsets", json::array({{{"addresses", json::array({{{"ip", "1.2.3.4"}}})}}})}};
  EXPECT_TRUE(
      reconcile_service_endpoints(svc, service_pods(), nodes(), existing, {}, seeded_suffix(3))
          .empty());
}

// Applies created/updated endpoints objects to the "current" state.
void apply_endpoint_actions(const std::vector<Action>& actions, std::optional<json>& endpoints,
                            std::vector<json>& slices) {
  for (const Action& a : actions) {
    json obj = a.object;
    const std::string name = obj["metadata"].value("name", "");
    if (a.resource == "endpoints") {
      ASSERT_NE(a.kind, Action::Kind::kDelete);
      obj["metadata"]["resourceVersion"] = "2";
      endpoints = obj;
      continue;
    }
    auto it = std::find_if(slices.begin(), slices.end(),
                           [&](const json& s) { return s["metadata"]["name"] == name; });
    if (a.kind == Action::Kind::kDelete) {
      ASSERT_NE(it, slices.end());
      slices.erase(it);
    } else if (it != slices.end()) {
      *it = obj;
    } else {
      slices.push_back(obj);
    }
  }
}

TEST(EndpointsController, NothingChangesNothingIsWrittenAndChangesUpdateInPlace) {
  std::optional<json> endpoints;
  std::vector<json> slices;
  std::vector<json> pods = service_pods();
  apply_endpoint_actions(
      reconcile_service_endpoints(service(), pods, nodes(), endpoints, slices, seeded_suffix(3)),
      endpoints, slices);
  EXPECT_TRUE(
      reconcile_service_endpoints(service(), pods, nodes(), endpoints, slices, seeded_suffix(3))
          .empty());
  // The starting pod turns ready: both objects are updated, no slice is added.
  pods[2]["status"]["conditions"][0]["status"] = "True";
  auto actions =
      reconcile_service_endpoints(service(), pods, nodes(), endpoints, slices, seeded_suffix(4));
  ASSERT_EQ(actions.size(), 2u);
  const Action* ep = only(actions, Action::Kind::kUpdate, "endpoints");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->object["subsets"][0]["addresses"].size(), 3u);
  EXPECT_EQ(ep->object["metadata"]["resourceVersion"], "2");
  const Action* slice = only(actions, Action::Kind::kUpdate, "endpointslices");
  ASSERT_TRUE(slice);
  EXPECT_EQ(slice->object["metadata"]["name"], slices[0]["metadata"]["name"]);
  // All pods gone: empty endpoints, and one placeholder slice in place of the old one.
  apply_endpoint_actions(actions, endpoints, slices);
  actions =
      reconcile_service_endpoints(service(), {}, nodes(), endpoints, slices, seeded_suffix(5));
  ep = only(actions, Action::Kind::kUpdate, "endpoints");
  ASSERT_TRUE(ep);
  EXPECT_FALSE(ep->object.contains("subsets"));
  EXPECT_EQ(of_kind(actions, Action::Kind::kDelete, "endpointslices").size(), 1u);
  const Action* placeholder = only(actions, Action::Kind::kCreate, "endpointslices");
  ASSERT_TRUE(placeholder);
  EXPECT_TRUE(placeholder->object["endpoints"].is_null());
  EXPECT_TRUE(placeholder->object["ports"].is_null());
  apply_endpoint_actions(actions, endpoints, slices);
  EXPECT_TRUE(
      reconcile_service_endpoints(service(), {}, nodes(), endpoints, slices, seeded_suffix(6))
          .empty());
}

TEST(EndpointsController, LargeServicesAreSplitIntoSlicesOfAHundred) {
  std::vector<json> pods;
  for (int i = 0; i < 250; ++i) {
    pods.push_back(with_ip(pod("p" + std::to_string(1000 + i), json(), "Running", true, "node-a"),
                           "10.2." + std::to_string(i / 200) + "." + std::to_string(i % 200)));
  }
  auto actions =
      reconcile_service_endpoints(service(), pods, nodes(), std::nullopt, {}, seeded_suffix(3));
  auto creates = of_kind(actions, Action::Kind::kCreate, "endpointslices");
  ASSERT_EQ(creates.size(), 3u);
  std::vector<size_t> sizes;
  for (const Action* a : creates) sizes.push_back(a->object["endpoints"].size());
  EXPECT_EQ(sizes, (std::vector<size_t>{100, 100, 50}));
}

TEST(EndpointsController, PodsOnVanishedNodesAreLeftOutOfSlices) {
  auto actions = reconcile_service_endpoints(service(), service_pods(), {nodes()[0]}, std::nullopt,
                                             {}, seeded_suffix(3));
  const Action* slice = only(actions, Action::Kind::kCreate, "endpointslices");
  ASSERT_TRUE(slice);
  for (const json& e : slice->object["endpoints"]) EXPECT_NE(e["nodeName"], "node-b");
}

TEST(EndpointsController, SameInputGivesSameActions) {
  auto run = [] {
    auto actions = reconcile_service_endpoints(service(), service_pods(), nodes(), std::nullopt, {},
                                               seeded_suffix(9));
    std::string out;
    for (const Action& a : actions) out += a.resource + a.object.dump();
    return out;
  };
  EXPECT_EQ(run(), run());
}

// ---- Against kubesim: the engine's job done by hand ------------------------------

// Drives the controllers against a real in-process kubesim, applying their
// actions through its API, so that what they write is what kubesim accepts
// (defaulting, the status split, resource versions) and converges.
class ControllersAgainstKubesim : public ::testing::Test {
 protected:
  ControllersAgainstKubesim() : api_(options()) {}

  ApiServerOptions options() {
    ApiServerOptions o;
    o.now = [this] { return now_; };
    return o;
  }

  Response call(const std::string& method, const std::string& path, const json& body = nullptr,
                const std::string& accept = "application/json") {
    Request req;
    req.method = method;
    auto q = path.find('?');
    req.path = path.substr(0, q);
    if (q != std::string::npos) req.query = parse_query(path.substr(q + 1));
    if (!body.is_null()) req.body = body.dump();
    req.content_type = "application/json";
    req.accept = accept;
    Reply r = api_.handle(req);
    auto* resp = std::get_if<Response>(&r);
    if (!resp) {
      ADD_FAILURE() << "a watch for " << path;
      return {};
    }
    return *resp;
  }

  static std::string collection(const std::string& resource) {
    if (resource == "deployments" || resource == "replicasets") {
      return "/apis/apps/v1/namespaces/default/" + resource;
    }
    if (resource == "endpointslices") {
      return "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";
    }
    return "/api/v1/namespaces/default/" + resource;
  }

  std::vector<json> list(const std::string& resource) {
    Response r = call("GET", collection(resource));
    EXPECT_EQ(r.status, 200) << r.body;
    const json parsed = json::parse(r.body);
    std::vector<json> out;
    for (const json& item : parsed["items"]) out.push_back(item);
    return out;
  }

  size_t apply(const std::vector<Action>& actions) {
    for (const Action& a : actions) {
      const std::string base = collection(a.resource);
      const std::string name = a.object["metadata"].value("name", "");
      Response r;
      switch (a.kind) {
        case Action::Kind::kCreate:
          r = call("POST", base, a.object);
          break;
        case Action::Kind::kUpdate:
          r = call("PUT", base + "/" + name, a.object);
          break;
        case Action::Kind::kUpdateStatus:
          r = call("PUT", base + "/" + name + "/status", a.object);
          break;
        case Action::Kind::kDelete:
          r = call("DELETE", base + "/" + name);
          break;
      }
      EXPECT_LT(r.status, 300) << a.resource << " " << name << ": " << r.body;
    }
    return actions.size();
  }

  // The kubelet's part: pods start at once and get an IP; deleted pods go.
  size_t kubelet() {
    size_t changes = 0;
    for (json p : list("pods")) {
      const std::string name = p["metadata"]["name"];
      if (p["metadata"].contains("deletionTimestamp")) {
        call("DELETE", collection("pods") + "/" + name + "?gracePeriodSeconds=0");
        ++changes;
      } else if (p["status"].value("phase", "") == "Pending") {
        json binding = {{"apiVersion", "v1"},
                        {"kind", "Binding"},
                        {"metadata", {{"name", name}}},
                        {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", "node-a"}}}};
        Response bound = call("POST", collection("pods") + "/" + name + "/binding", binding);
        EXPECT_EQ(bound.status, 201) << bound.body;
        p = json::parse(call("GET", collection("pods") + "/" + name).body);
        p["status"]["phase"] = "Running";
        p["status"]["podIP"] = "10.4.0." + std::to_string(++ip_);
        p["status"]["conditions"] = json::array({ready_condition(true, now_)});
        Response r = call("PUT", collection("pods") + "/" + name + "/status", p);
        EXPECT_EQ(r.status, 200) << r.body;
        ++changes;
      }
    }
    return changes;
  }

  void settle() {
    for (int round = 0; round < 60; ++round) {
      size_t n = 0;
      for (const json& d : list("deployments")) {
        n += apply(reconcile_deployment(d, list("replicasets"), list("pods"), now_).actions);
      }
      for (const json& rs : list("replicasets")) {
        n += apply(reconcile_replicaset(rs, list("pods"), now_, suffix_).actions);
      }
      n += kubelet();
      for (const json& svc : list("services")) {
        std::optional<json> ep;
        Response r =
            call("GET", collection("endpoints") + "/" + svc["metadata"]["name"].get<std::string>());
        if (r.status == 200) ep = json::parse(r.body);
        n += apply(reconcile_service_endpoints(svc, list("pods"), {kNode}, ep,
                                               list("endpointslices"), suffix_));
      }
      now_ += seconds(1);
      if (n == 0) return;
    }
    ADD_FAILURE() << "did not settle";
  }

  const json kNode = {{"metadata", {{"name", "node-a"}}}};
  TimePoint now_ = kStart;
  int ip_ = 0;
  NameSuffix suffix_ = seeded_suffix(5);
  ApiServer api_;
};

TEST_F(ControllersAgainstKubesim, DeploymentRollsOutThroughTheApiAndConverges) {
  json d = {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata", {{"name", "web"}}},
            {"spec",
             {{"replicas", 3},
              {"selector", {{"matchLabels", {{"app", "web"}}}}},
              {"template", pod_template("web:v1")}}}};
  ASSERT_EQ(call("POST", collection("deployments"), d).status, 201);
  settle();
  EXPECT_EQ(list("replicasets").size(), 1u);
  EXPECT_EQ(list("pods").size(), 3u);
  json got = json::parse(call("GET", collection("deployments") + "/web").body);
  EXPECT_EQ(got["status"]["availableReplicas"], 3);
  EXPECT_EQ(got["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
  got["spec"]["template"] = pod_template("web:v2");
  ASSERT_EQ(call("PUT", collection("deployments") + "/web", got).status, 200);
  settle();
  got = json::parse(call("GET", collection("deployments") + "/web").body);
  EXPECT_EQ(got["status"]["observedGeneration"], 2);
  EXPECT_EQ(got["status"]["updatedReplicas"], 3);
  EXPECT_EQ(got["status"]["availableReplicas"], 3);
  for (const json& p : list("pods")) EXPECT_EQ(p["spec"]["containers"][0]["image"], "web:v2");
  // kubectl get rs: DESIRED CURRENT READY of both sets.
  Response table = call("GET", collection("replicasets"), nullptr,
                        "application/json;as=Table;v=v1;g=meta.k8s.io");
  ASSERT_EQ(table.status, 200) << table.body;
  std::multiset<std::string> rows;
  const json t = json::parse(table.body);
  for (const json& row : t["rows"]) {
    rows.insert(row["cells"][1].dump() + "/" + row["cells"][2].dump() + "/" +
                row["cells"][3].dump());
  }
  EXPECT_EQ(rows, (std::multiset<std::string>{"0/0/0", "3/3/3"}));
}

TEST_F(ControllersAgainstKubesim, ServiceEndpointsFollowPodsThroughTheApi) {
  json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", "web"}}},
              {"spec",
               {{"selector", {{"app", "web"}}},
                {"ports", json::array({{{"port", 80}, {"targetPort", "http"}}})}}}};
  ASSERT_EQ(call("POST", collection("services"), svc).status, 201);
  json rs = replicaset("web-1", 2);
  rs["metadata"].erase("uid");
  rs["metadata"].erase("resourceVersion");
  rs["metadata"].erase("creationTimestamp");
  ASSERT_EQ(call("POST", collection("replicasets"), rs).status, 201);
  settle();
  json ep = json::parse(call("GET", collection("endpoints") + "/web").body);
  ASSERT_EQ(ep["subsets"].size(), 1u);
  EXPECT_EQ(ep["subsets"][0]["addresses"].size(), 2u);
  EXPECT_EQ(ep["subsets"][0]["ports"][0]["port"], 8080);
  const std::vector<json> slices = list("endpointslices");
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(slices[0]["endpoints"].size(), 2u);
  EXPECT_EQ(slices[0]["metadata"]["ownerReferences"][0]["kind"], "Service");
  // Scaled to zero: the addresses go, a placeholder slice stays.
  json current = json::parse(call("GET", collection("replicasets") + "/web-1").body);
  current["spec"]["replicas"] = 0;
  ASSERT_EQ(call("PUT", collection("replicasets") + "/web-1", current).status, 200);
  settle();
  EXPECT_TRUE(list("pods").empty());
  ep = json::parse(call("GET", collection("endpoints") + "/web").body);
  EXPECT_FALSE(ep.contains("subsets"));
  ASSERT_EQ(list("endpointslices").size(), 1u);
  EXPECT_TRUE(list("endpointslices")[0]["endpoints"].is_null());
}

TEST_F(ControllersAgainstKubesim, ReplicaSetsAreServedWithDefaultsScaleAndValidation) {
  json rs = replicaset("plain", 0);
  rs["metadata"] = {{"name", "plain"}};
  rs["spec"].erase("replicas");
  Response r = call("POST", collection("replicasets"), rs);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["spec"]["replicas"], 1);
  EXPECT_EQ(json::parse(r.body)["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
  r = call("GET", collection("replicasets") + "/plain/scale");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["spec"]["replicas"], 1);
  json bad = replicaset("bad", 1);
  bad["metadata"] = {{"name", "bad"}};
  bad["spec"]["template"]["metadata"]["labels"] = {{"app", "other"}};
  EXPECT_EQ(call("POST", collection("replicasets"), bad).status, 422);
  r = call("GET", "/apis/apps/v1");
  bool found = false;
  const json discovery = json::parse(r.body);
  for (const json& res : discovery["resources"]) {
    if (res["name"] == "replicasets") {
      found = true;
      EXPECT_EQ(res["shortNames"], json::array({"rs"}));
      EXPECT_EQ(res["kind"], "ReplicaSet");
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(ControllersAgainstKubesim, PersistentVolumeClaimsAreDefaultedValidatedAndPrinted) {
  json pvc = {{"apiVersion", "v1"},
              {"kind", "PersistentVolumeClaim"},
              {"metadata", {{"name", "data"}}},
              {"spec",
               {{"accessModes", json::array({"ReadWriteOnce"})},
                {"resources", {{"requests", {{"storage", "10Gi"}}}}}}}};
  Response r = call("POST", collection("persistentvolumeclaims"), pvc);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["spec"]["volumeMode"], "Filesystem");
  EXPECT_EQ(json::parse(r.body)["status"]["phase"], "Pending");
  json no_modes = pvc;
  no_modes["metadata"]["name"] = "bad";
  no_modes["spec"].erase("accessModes");
  r = call("POST", collection("persistentvolumeclaims"), no_modes);
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("at least 1 access mode is required"), std::string::npos) << r.body;
  Response table = call("GET", collection("persistentvolumeclaims"), nullptr,
                        "application/json;as=Table;v=v1;g=meta.k8s.io");
  ASSERT_EQ(table.status, 200);
  const json t = json::parse(table.body);
  std::vector<std::string> columns;
  for (const json& c : t["columnDefinitions"]) columns.push_back(c["name"]);
  EXPECT_EQ(columns, (std::vector<std::string>{"Name", "Status", "Volume", "Capacity",
                                               "Access Modes", "StorageClass",
                                               "VolumeAttributesClass", "Age", "VolumeMode"}));
  EXPECT_EQ(t["rows"][0]["cells"],
            json::parse(R"(["data","Pending","","","","","<unset>","0s","Filesystem"])"));
  r = call("GET", "/api/v1");
  bool found = false;
  const json discovery = json::parse(r.body);
  for (const json& res : discovery["resources"]) {
    if (res["name"] == "persistentvolumeclaims") {
      found = true;
      EXPECT_EQ(res["shortNames"], json::array({"pvc"}));
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace kubesim
