// The TrainingJob controller: its pure helpers, then the whole controller
// against kubesim in-process (API server over HTTP, a simulated cluster of a
// spot GPU pool and an on-demand GPU pool at time scale 100, the CRDs and the
// default PriceBook from crds/, a Manager running the PriceBook and
// TrainingJob controllers). Each case drives a job through a life the
// simulated cluster really gives it — success, interruption, fallback, loss
// of work without checkpoints, failures, an impossible spec — and checks
// status, pods and the cluster's work ledger (/kubesim/work).
#include "reconcilers/trainingjob.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <thread>

#include "common/yaml_json.h"
#include "reconcilers/conditions.h"
#include "reconcilers/cost_metrics.h"
#include "reconcilers/pricebook.h"
#include "sim/apiserver.h"
#include "sim/cluster.h"
#include "sim/cluster_config.h"
#include "sim/http_server.h"
#include "sim/names.h"
#include "tests/reconcilers/sim_cluster.h"
#include "tests/support/frugal_kubesim.h"

namespace frugal::reconcilers {
namespace {

using testing::eventually;

using json = kube::json;
using std::chrono::seconds;

// ---- Pure helpers -------------------------------------------------------------------------

TEST(TrainingJobHelpers, ParseTimeReadsWhatTheApiWrites) {
  auto t = parse_time("2026-03-01T18:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(rfc3339(*t), "2026-03-01T18:00:00Z");
  auto frac = parse_time("2026-03-01T18:00:00.250Z");
  ASSERT_TRUE(frac);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(*frac - *t).count(), 250);
  auto offset = parse_time("2026-03-01T20:00:00+02:00");
  ASSERT_TRUE(offset);
  EXPECT_EQ(*offset, *t);
  EXPECT_FALSE(parse_time("yesterday"));
  EXPECT_FALSE(parse_time(""));
}

json bound_pod() {
  return json::parse(R"({
    "metadata": {"name": "w", "uid": "u1", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"nodeName": "n1"},
    "status": {"phase": "Succeeded",
      "conditions": [{"type": "PodScheduled", "status": "True",
                      "lastTransitionTime": "2026-01-01T00:00:01Z"}],
      "containerStatuses": [
        {"name": "a", "state": {"terminated": {"startedAt": "2026-01-01T00:00:05Z",
                                               "finishedAt": "2026-01-01T00:01:01Z"}}},
        {"name": "b", "state": {"terminated": {"startedAt": "2026-01-01T00:00:04Z",
                                               "finishedAt": "2026-01-01T00:00:31Z"}}}]}})");
}

TEST(TrainingJobHelpers, APodPaysFromBindingToItsLastContainerFinishing) {
  policy::PodRate rate;
  rate.hourly_usd = 3.6;
  rate.on_demand_hourly_usd = 7.2;
  rate.gpus = 1;
  auto interval = pod_cost_interval(bound_pod(), rate);
  ASSERT_TRUE(interval);
  ASSERT_TRUE(interval->end);
  EXPECT_EQ(rfc3339(interval->start), "2026-01-01T00:00:01Z");
  EXPECT_EQ(rfc3339(*interval->end), "2026-01-01T00:01:01Z");
  const auto totals = policy::integrate_cost({*interval}, *interval->end, 10.0);
  EXPECT_NEAR(totals.total_usd, 3.6 * 600 / 3600, 1e-12) << "60 s x time scale 10";
  EXPECT_NEAR(totals.spot_savings_usd, 3.6 * 600 / 3600, 1e-12);

  json deleted = bound_pod();
  deleted["status"]["containerStatuses"] = json::array();
  deleted["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:41Z";
  EXPECT_EQ(rfc3339(*pod_cost_interval(deleted, rate)->end), "2026-01-01T00:00:41Z");
  json live = bound_pod();
  live["status"]["containerStatuses"] = json::array();
  EXPECT_FALSE(pod_cost_interval(live, rate)->end) << "open: counts until now";
  json pending = bound_pod();
  pending["spec"].erase("nodeName");
  pending["status"]["conditions"] = json::array();
  EXPECT_FALSE(pod_cost_interval(pending, rate)) << "never bound: pays nothing";
}

TEST(TrainingJobHelpers, TheRateRecordedOnAPodReadsBackExactly) {
  policy::PodRate rate;
  rate.hourly_usd = 0.1 + 0.2;
  rate.on_demand_hourly_usd = 1.006;
  rate.gpus = 2;
  rate.source = policy::PriceSource::kPriceBook;
  json pod = {{"metadata", {{"annotations", rate_annotations(rate)}}}};
  auto back = recorded_rate(pod);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->hourly_usd, rate.hourly_usd);
  EXPECT_EQ(back->on_demand_hourly_usd, rate.on_demand_hourly_usd);
  EXPECT_EQ(back->gpus, 2);
  EXPECT_EQ(back->source, policy::PriceSource::kPriceBook);
  EXPECT_FALSE(recorded_rate(json::object()));
}

TEST(TrainingJobHelpers, ACheckpointVolumeMustBeInTheTemplate) {
  json job = json::parse(R"({"spec": {"checkpoint": {"volume": "ckpt"},
    "template": {"spec": {"containers": [{"name": "c"}], "volumes": [{"name": "data"}]}}}})");
  auto problem = validate_spec(job);
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->reason, kReasonCheckpointVolumeNotFound);
  EXPECT_EQ(problem->message,
            "spec.checkpoint.volume: volume \"ckpt\" is not in spec.template.spec.volumes "
            "(have: data)");
  job["spec"]["template"]["spec"]["volumes"].push_back({{"name", "ckpt"}});
  EXPECT_FALSE(validate_spec(job));
}

TEST(TrainingJobHelpers, PlacementSelectsThePoolsLabelsAndToleratesItsTaintsButNotInterruption) {
  const policy::PriceBook book = policy::default_price_book();
  policy::PoolChoice spot;
  spot.instance_type = "g5.xlarge";
  spot.capacity_type = policy::CapacityType::kSpot;
  json node = json::parse(R"({"metadata": {"name": "n", "labels": {
      "node.kubernetes.io/instance-type": "g5.xlarge", "karpenter.sh/capacity-type": "spot"}},
    "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
                        {"key": "karpenter.sh/disrupted", "effect": "NoSchedule"},
                        {"key": "soft", "effect": "PreferNoSchedule"}]}})");
  policy::Resources gpu_worker;
  gpu_worker.gpus = 1;
  GangPlacement g = gang_placement(spot, {node}, book, gpu_worker);
  EXPECT_EQ(g.capacity_type, "spot");
  ASSERT_EQ(g.match_expressions.size(), 2u);
  EXPECT_EQ(g.match_expressions[0],
            json::parse(R"({"key": "node.kubernetes.io/instance-type", "operator": "In",
                            "values": ["g5.xlarge"]})"));
  EXPECT_EQ(g.match_expressions[1],
            json::parse(R"({"key": "karpenter.sh/capacity-type", "operator": "In",
                            "values": ["spot"]})"));
  ASSERT_EQ(g.tolerations.size(), 1u);
  EXPECT_EQ(
      g.tolerations[0],
      json::parse(R"({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})"));

  // On-demand nodes without any capacity label: kept off every spot label instead.
  policy::PoolChoice od = spot;
  od.capacity_type = policy::CapacityType::kOnDemand;
  json plain = {{"metadata",
                 {{"name", "p"}, {"labels", {{"node.kubernetes.io/instance-type", "g5.xlarge"}}}}}};
  g = gang_placement(od, {plain}, book, gpu_worker);
  ASSERT_EQ(g.match_expressions.size(), 1u + 4u);
  EXPECT_EQ(g.match_expressions[1]["operator"], "NotIn");
  EXPECT_EQ(g.match_expressions[1]["key"], "karpenter.sh/capacity-type");
  EXPECT_EQ(g.match_expressions[1]["values"], json::array({"spot"}));
}

TEST(TrainingJobHelpers, WorkersStayOffNodesWithTaintsTheyDoNotTolerate) {
  const policy::PriceBook book = policy::default_price_book();
  const json gpu_node = json::parse(R"({"metadata": {"name": "g"},
    "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]}})");
  const json aks_spot = json::parse(R"({"metadata": {"name": "a"},
    "spec": {"taints": [{"key": "kubernetes.azure.com/scalesetpriority", "value": "spot",
                         "effect": "NoSchedule"}]}})");
  const json team_node = json::parse(R"({"metadata": {"name": "t"},
    "spec": {"taints": [{"key": "team", "value": "vision", "effect": "NoExecute"},
                        {"key": "soft", "effect": "PreferNoSchedule"}]}})");
  policy::Resources cpu_worker;
  cpu_worker.cpu_milli = 1000;
  policy::Resources gpu_worker = cpu_worker;
  gpu_worker.gpus = 1;
  const json none = json::array();
  EXPECT_EQ(untolerated_taint(gpu_node, none, book, cpu_worker), "nvidia.com/gpu")
      << "a CPU worker stays off GPU nodes";
  EXPECT_EQ(untolerated_taint(gpu_node, none, book, gpu_worker), "")
      << "a GPU worker gets the GPU taint tolerated (ExtendedResourceToleration)";
  EXPECT_EQ(untolerated_taint(aks_spot, none, book, cpu_worker), "")
      << "capacity-type taints are Frugal's business";
  EXPECT_EQ(untolerated_taint(team_node, none, book, cpu_worker), "team");
  EXPECT_EQ(untolerated_taint(team_node, json::parse(R"([{"key": "team", "value": "vision"}])"),
                              book, cpu_worker),
            "");
  EXPECT_EQ(untolerated_taint(team_node, json::parse(R"([{"key": "team", "value": "nlp"}])"), book,
                              cpu_worker),
            "team");
  EXPECT_EQ(
      untolerated_taint(team_node, json::parse(R"([{"operator": "Exists"}])"), book, cpu_worker),
      "");
  EXPECT_EQ(untolerated_taint(team_node, json::parse(R"([{"key": "team", "operator": "Exists",
                                               "effect": "NoSchedule"}])"),
                              book, cpu_worker),
            "team")
      << "a NoSchedule toleration does not cover a NoExecute taint";
}

json gang_pod(const std::string& name, int rank, const std::string& phase,
              const std::string& node = "n1") {
  return {{"metadata", {{"name", name}, {"labels", {{kRankLabel, std::to_string(rank)}}}}},
          {"spec", {{"nodeName", node}}},
          {"status", {{"phase", phase}}}};
}

TEST(TrainingJobHelpers, AGangIsInterruptedBeforeFailedBeforeDoneAndCountsItsMissingRanks) {
  EXPECT_EQ(assess_gang({}, 2, {}).state, GangState::kAbsent);
  EXPECT_EQ(assess_gang({gang_pod("a", 0, "Running"), gang_pod("b", 1, "Running")}, 2, {}).state,
            GangState::kRunning);
  EXPECT_EQ(assess_gang({gang_pod("a", 0, "Running"), gang_pod("b", 1, "Pending")}, 2, {}).state,
            GangState::kStarting);
  EXPECT_EQ(
      assess_gang({gang_pod("a", 0, "Succeeded"), gang_pod("b", 1, "Succeeded")}, 2, {}).state,
      GangState::kSucceeded);
  auto incomplete = assess_gang({gang_pod("b", 1, "Running")}, 3, {});
  EXPECT_EQ(incomplete.state, GangState::kIncomplete);
  EXPECT_EQ(incomplete.missing_ranks, (std::set<int>{0, 2}));

  json failed = gang_pod("b", 1, "Failed");
  EXPECT_EQ(assess_gang({gang_pod("a", 0, "Running"), failed}, 2, {}).state, GangState::kFailed);
  // The node going away beats the failure it causes.
  json disrupted = failed;
  disrupted["status"]["conditions"] = {{{"type", "DisruptionTarget"}, {"status", "True"}}};
  EXPECT_EQ(assess_gang({gang_pod("a", 0, "Running"), disrupted}, 2, {}).state,
            GangState::kInterrupted);
  auto noticed = assess_gang({gang_pod("a", 0, "Running", "n2"), failed}, 2, {"n2"});
  EXPECT_EQ(noticed.state, GangState::kInterrupted);
  EXPECT_NE(noticed.message.find("node n2 is being interrupted"), std::string::npos)
      << noticed.message;
  json deleted = gang_pod("a", 0, "Running");
  deleted["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  EXPECT_EQ(assess_gang({deleted, gang_pod("b", 1, "Running")}, 2, {}).state, GangState::kBroken);
}

TEST(TrainingJobHelpers, AGangsClockTakesItsSlowestWorkerAndTheTimeSinceACheckpoint) {
  json pod = bound_pod();
  const auto now = *parse_time("2026-01-01T00:10:00Z");
  policy::CheckpointPolicy ckpt{true, 25};
  GangClock c = gang_clock({pod}, now, ckpt, 2.0);
  EXPECT_DOUBLE_EQ(c.running_seconds, (61 - 4) * 2.0) << "earliest start to latest finish";
  EXPECT_DOUBLE_EQ(c.lost_seconds, std::fmod(114.0, 25.0));
  EXPECT_DOUBLE_EQ(c.startup_seconds, 4 * 2.0);
  ckpt.has_volume = false;
  EXPECT_DOUBLE_EQ(gang_clock({pod}, now, ckpt, 2.0).lost_seconds, 114.0)
      << "no checkpoint volume: the whole run is lost";
}

// ---- Against the simulated cluster ------------------------------------------------------

class TrainingJobControllerTest : public ::testing::Test, protected SimCluster {
 protected:
  void SetUp() override {
    start_cluster(71);
    if (HasFatalFailure()) return;
    kube::RestConfig rest;
    rest.server = server_url();
    ManagerOptions options;
    options.metrics_bind_address = "0";
    options.health_probe_bind_address = "0";
    options.time_scale = kTimeScale;
    manager_ = std::make_unique<Manager>(options, rest);
    pricebook_ = add_pricebook_controller(*manager_);
    reconciler_ = add_trainingjob_controller(*manager_);
    add_cost_metrics(*manager_);
    runner_ = std::thread([this] { manager_->run(stop_); });
  }

  void TearDown() override {
    stop_ = true;
    if (runner_.joinable()) runner_.join();
    manager_.reset();
    stop_cluster();
  }

  std::unique_ptr<Manager> manager_;
  std::unique_ptr<PriceBookReconciler> pricebook_;
  std::unique_ptr<TrainingJobReconciler> reconciler_;
  std::atomic<bool> stop_{false};
  std::thread runner_;
};

TEST_F(TrainingJobControllerTest, ASpotJobSucceedsAndItsCostIsExactFromThePodTimestamps) {
  create(job("finetune", 2, 600));
  ASSERT_TRUE(eventually([&] { return phase("finetune") == "Succeeded"; }))
      << status("finetune").dump();
  // Settled: both pods accounted for, finalizers off.
  ASSERT_TRUE(eventually([&] {
    return status("finetune")["settledPods"].size() == 2 && !held("finetune-a0-0") &&
           !held("finetune-a0-1");
  })) << status("finetune").dump();

  const json s = status("finetune");
  EXPECT_EQ(s["capacityType"], "spot");
  EXPECT_EQ(s["instanceType"], "g5.xlarge");
  EXPECT_EQ(s["nodePool"], "g5.xlarge/spot");
  EXPECT_EQ(s["interruptions"], 0);
  EXPECT_EQ(s["attempt"], 0);
  EXPECT_EQ(condition("finetune", "Succeeded")["status"], "True");
  EXPECT_TRUE(s.contains("startTime"));
  EXPECT_TRUE(s.contains("completionTime"));

  // The same integral, recomputed here from the pods: bound (PodScheduled)
  // to finished, times the time scale, at the spot price of the whole node.
  double expected = 0;
  double seconds_bound = 0;
  for (const char* name : {"finetune-a0-0", "finetune-a0-1"}) {
    const json p = pod(name);
    EXPECT_EQ(p["metadata"]["annotations"][kPriceSourceAnnotation], "pricebook");
    EXPECT_EQ(p["metadata"]["labels"][kCapacityTypeLabel], "spot");
    EXPECT_EQ(node_of(name).rfind("gpu-spot-", 0), 0u) << node_of(name);
    std::string bound;
    for (const json& c : p["status"]["conditions"]) {
      if (c["type"] == "PodScheduled") bound = c["lastTransitionTime"];
    }
    const std::string finished =
        p["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"];
    const double secs =
        std::chrono::duration<double>(*parse_time(finished) - *parse_time(bound)).count() *
        kTimeScale;
    seconds_bound += secs;
    expected += secs * kSpotHourly / 3600;
  }
  const json& cost = s["cost"];
  EXPECT_GT(cost["totalUSD"].get<double>(), 0);
  EXPECT_NEAR(cost["totalUSD"].get<double>(), expected, 0.01) << cost.dump();
  EXPECT_NEAR(cost["billableSeconds"].get<double>(), seconds_bound, 1e-3)
      << "status.cost rounds seconds to the millisecond";
  EXPECT_NEAR(cost["gpuHours"].get<double>(), seconds_bound / 3600, 1e-6)
      << "status.cost rounds GPU hours to the microhour";
  EXPECT_NEAR(cost["spotSavingsUSD"].get<double>(), seconds_bound * (1.006 - kSpotHourly) / 3600,
              0.01);
  EXPECT_GT(cost["spotSavingsUSD"].get<double>(), 0);
  EXPECT_EQ(cost["ratePerHourUSD"], 0.0) << "nothing runs any more";
  EXPECT_TRUE(event_seen("finetune", "Admitted"));
  EXPECT_TRUE(eventually([&] { return event_seen("finetune", "Succeeded"); }));
}

TEST_F(TrainingJobControllerTest,
       AnInterruptedGangStopsDuringTheNoticeAndResumesFromItsCheckpoint) {
  create(job("resume", 2, 800));
  wait_running("resume", 0, 150);
  const std::string hit = node_of("resume-a0-0");
  interrupt(hit);

  ASSERT_TRUE(eventually([&] { return status("resume").value("interruptions", 0) == 1; }))
      << status("resume").dump();
  EXPECT_EQ(condition("resume", "Recovering")["reason"], "SpotInterrupted");
  // Both old workers were stopped gracefully during the notice, so they
  // checkpointed on SIGTERM and lost nothing.
  ASSERT_TRUE(eventually([&] {
    return !run_of("resume-a0-0").value("running", true) &&
           !run_of("resume-a0-1").value("running", true);
  }));
  for (const char* old : {"resume-a0-0", "resume-a0-1"}) {
    EXPECT_EQ(run_of(old)["reason"], "deleted (SIGTERM)") << run_of(old).dump();
    EXPECT_EQ(run_of(old)["lostWork"], 0.0) << run_of(old).dump();
  }
  // Attempt 1 on spot again, never on the interrupted node.
  ASSERT_TRUE(eventually([&] {
    return pod_phase("resume-a1-0") == "Running" && pod_phase("resume-a1-1") == "Running";
  })) << status("resume").dump();
  for (const char* now : {"resume-a1-0", "resume-a1-1"}) {
    EXPECT_EQ(node_of(now).rfind("gpu-spot-", 0), 0u) << node_of(now);
    EXPECT_NE(node_of(now), hit);
    EXPECT_GT(run_of(now)["resumedFrom"].get<double>(), 0) << run_of(now).dump();
  }
  EXPECT_EQ(status("resume")["capacityType"], "spot");

  ASSERT_TRUE(eventually([&] { return phase("resume") == "Succeeded"; }))
      << status("resume").dump();
  const json s = status("resume");
  EXPECT_EQ(s["interruptions"], 1);
  EXPECT_EQ(s["restarts"], 1);
  EXPECT_EQ(s["failures"], 0);
  EXPECT_EQ(s["attempt"], 1);
  EXPECT_EQ(condition("resume", "Recovering")["status"], "False");
  EXPECT_TRUE(eventually([&] { return event_seen("resume", "SpotInterrupted"); }));
  // The old attempt's pods were settled and removed.
  ASSERT_TRUE(eventually([&] { return pod("resume-a0-0").empty() && pod("resume-a0-1").empty(); }));
  EXPECT_GT(status("resume")["cost"]["totalUSD"].get<double>(), 0);
}

TEST_F(TrainingJobControllerTest, AfterMaxInterruptionsTheJobFallsBackToOnDemand) {
  json j = job("fallback", 2, 2000);
  j["spec"]["capacity"]["maxInterruptions"] = 1;
  create(j);
  wait_running("fallback", 0, 50);
  interrupt(node_of("fallback-a0-0"));

  ASSERT_TRUE(eventually([&] {
    return condition("fallback", "FellBackToOnDemand")["status"] == "True";
  })) << status("fallback").dump();
  EXPECT_EQ(condition("fallback", "FellBackToOnDemand")["reason"], "MaxInterruptionsReached");
  ASSERT_TRUE(eventually([&] {
    return pod_phase("fallback-a1-0") == "Running" && pod_phase("fallback-a1-1") == "Running";
  })) << status("fallback").dump();
  const json s = status("fallback");
  EXPECT_EQ(s["capacityType"], "on-demand");
  EXPECT_EQ(s["nodePool"], "g5.xlarge/on-demand");
  EXPECT_EQ(s["fellBack"], true);
  for (const char* now : {"fallback-a1-0", "fallback-a1-1"}) {
    EXPECT_EQ(node_of(now).rfind("gpu-on-demand-", 0), 0u) << node_of(now);
  }
  EXPECT_TRUE(eventually([&] { return event_seen("fallback", "FellBackToOnDemand"); }));
}

TEST_F(TrainingJobControllerTest,
       WithoutACheckpointVolumeAnInterruptionRestartsFromZeroAndLosesWork) {
  create(job("scratch", 1, 2000, /*checkpoints=*/false));
  wait_running("scratch", 0, 200);
  interrupt(node_of("scratch-a0-0"));
  ASSERT_TRUE(eventually([&] {
    const json run = run_of("scratch-a1-0");
    return run.is_object() && run.value("running", false);
  })) << status("scratch").dump();
  EXPECT_EQ(run_of("scratch-a1-0")["resumedFrom"], 0.0);
  EXPECT_GT(run_of("scratch-a0-0")["workDone"].get<double>(), 0);
  const json s = status("scratch");
  EXPECT_EQ(s["interruptions"], 1);
  EXPECT_GE(s["cost"]["lostWorkSeconds"].get<double>(), 200) << s.dump();
}

TEST_F(TrainingJobControllerTest,
       FailuresBeyondTheBackoffLimitFailTheJobAndInterruptionsDoNotCount) {
  json j = job("crashy", 1, 200);
  j["spec"]["template"]["metadata"]["annotations"]["sim.frugal.dev/exit-code"] = "3";
  j["spec"]["runPolicy"] = {{"backoffLimit", 1}};
  create(j);
  wait_running("crashy", 0, 0);
  interrupt(node_of("crashy-a0-0"));  // before the worker fails: an interruption, not a failure

  ASSERT_TRUE(eventually([&] { return phase("crashy") == "Failed"; })) << status("crashy").dump();
  const json s = status("crashy");
  EXPECT_EQ(condition("crashy", "Failed")["reason"], "BackoffLimitExceeded");
  EXPECT_EQ(s["interruptions"], 1);
  EXPECT_EQ(s["failures"], 2);
  EXPECT_EQ(s["restarts"], 2) << "one after the interruption, one after the first failure";
  EXPECT_EQ(s["attempt"], 2);
  EXPECT_TRUE(s.contains("completionTime"));
  EXPECT_EQ(pod_phase("crashy-a2-0"), "Failed") << "the last attempt's pod is kept";
  EXPECT_TRUE(eventually([&] { return event_seen("crashy", "BackoffLimitExceeded"); }));
}

TEST_F(TrainingJobControllerTest, ASpecNoNodeCanRunFailsAsInvalidAndTheControllerCarriesOn) {
  json big = job("too-big", 1, 100);
  big["spec"]["template"]["spec"]["containers"][0]["resources"] = {
      {"requests", {{"cpu", "1"}, {"memory", "1Gi"}, {"nvidia.com/gpu", 8}}},
      {"limits", {{"nvidia.com/gpu", 8}}}};
  create(big);
  json lost = job("no-volume", 1, 100);
  lost["spec"]["checkpoint"]["volume"] = "missing";
  create(lost);
  create(job("fine", 1, 100));

  ASSERT_TRUE(eventually([&] { return phase("too-big") == "Failed"; })) << status("too-big").dump();
  EXPECT_EQ(condition("too-big", "Failed")["reason"], "InvalidSpec");
  const json invalid = condition("too-big", "InvalidSpec");
  EXPECT_EQ(invalid["status"], "True");
  EXPECT_EQ(invalid["reason"], "RequestsExceedNodeCapacity");
  const std::string message = invalid["message"];
  EXPECT_NE(message.find("Insufficient nvidia.com/gpu"), std::string::npos) << message;
  EXPECT_NE(message.find("the most any node has: nvidia.com/gpu: 1"), std::string::npos) << message;
  EXPECT_EQ(condition("too-big", "Failed")["message"], message);
  EXPECT_TRUE(eventually([&] { return event_seen("too-big", "InvalidSpec"); }));
  EXPECT_TRUE(pod("too-big-a0-0").empty()) << "nothing was created";

  ASSERT_TRUE(eventually([&] { return phase("no-volume") == "Failed"; }));
  EXPECT_EQ(condition("no-volume", "InvalidSpec")["message"],
            "spec.checkpoint.volume: volume \"missing\" is not in spec.template.spec.volumes "
            "(have: ckpt)");

  ASSERT_TRUE(eventually([&] { return phase("fine") == "Succeeded"; })) << status("fine").dump();
  EXPECT_EQ(phase("too-big"), "Failed") << "a failed job stays failed";
}

TEST_F(TrainingJobControllerTest, ASuspendedJobStopsItsWorkersAndResumesFromItsCheckpoint) {
  create(job("pausable", 1, 2000));
  wait_running("pausable", 0, 150);
  edit_spec("pausable", [](json& spec) { spec["suspend"] = true; });
  ASSERT_TRUE(eventually([&] {
    return phase("pausable") == "Suspended" && pods_of("pausable") == 0;
  })) << status("pausable").dump();
  EXPECT_EQ(run_of("pausable-a0-0")["reason"], "deleted (SIGTERM)");
  EXPECT_EQ(condition("pausable", "Suspended")["status"], "True");
  EXPECT_EQ(status("pausable")["cost"]["ratePerHourUSD"], 0.0) << "nothing is paid while suspended";

  edit_spec("pausable", [](json& spec) { spec["suspend"] = false; });
  ASSERT_TRUE(eventually([&] { return pod_phase("pausable-a1-0") == "Running"; }))
      << status("pausable").dump();
  EXPECT_GT(run_of("pausable-a1-0")["resumedFrom"].get<double>(), 0);
  EXPECT_EQ(condition("pausable", "Suspended")["status"], "False");
  const json s = status("pausable");
  EXPECT_EQ(s["interruptions"], 0);
  EXPECT_EQ(s["failures"], 0);
}

TEST_F(TrainingJobControllerTest, MaxRuntimeFailsARunawayJobAndTheTtlDeletesItWithItsPods) {
  json j = job("runaway", 2, 100000);
  j["spec"]["runPolicy"] = {{"maxRuntimeSeconds", 200}, {"ttlSecondsAfterFinished", 100}};
  create(j);
  ASSERT_TRUE(eventually([&] { return phase("runaway") == "Failed"; })) << status("runaway").dump();
  EXPECT_EQ(condition("runaway", "Failed")["reason"], "DeadlineExceeded");
  EXPECT_GE(status("runaway")["runningSeconds"].get<double>(), 200);
  // The TTL runs out 100 sim seconds later: the job goes, and its pods with
  // it (their cost finalizers released, nothing left hanging).
  ASSERT_TRUE(eventually([&] { return !job_exists("runaway") && pods_of("runaway") == 0; }))
      << status("runaway").dump() << " pods left: " << pods_of("runaway");
}

TEST_F(TrainingJobControllerTest, DeletingARunningJobStopsItsWorkersAndSettlesTheirCostFirst) {
  create(job("doomed", 2, 100000));
  wait_running("doomed", 0, 100);
  auto tj = api_.get("ml.frugal.dev", "v1alpha1", "trainingjobs", "default", "doomed");
  ASSERT_TRUE(tj);
  EXPECT_EQ((*tj)["metadata"]["finalizers"], json::array({kCostFinalizer}))
      << "the job is held until its workers' cost is settled";
  const double before = status("doomed")["cost"]["totalUSD"].get<double>();
  const auto deleted_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(api_.remove("ml.frugal.dev", "v1alpha1", "trainingjobs", "default", "doomed"));

  ASSERT_TRUE(eventually([&] { return !job_exists("doomed") && pods_of("doomed") == 0; }))
      << status("doomed").dump() << " pods left: " << pods_of("doomed");
  const double elapsed_sim =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - deleted_at).count() *
      kTimeScale;
  // The workers were stopped gracefully (they checkpointed on SIGTERM).
  for (const char* w : {"doomed-a0-0", "doomed-a0-1"}) {
    EXPECT_EQ(run_of(w)["reason"], "deleted (SIGTERM)") << run_of(w).dump();
  }
  // The final cost was settled and reported before the job went: at least
  // what status showed before the delete, at most that plus both workers'
  // rate for the time since.
  ASSERT_TRUE(eventually([&] { return event_seen("doomed", kReasonCostSettled); }));
  const std::string message = event_of("doomed", kReasonCostSettled).value("message", "");
  double settled = -1;
  ASSERT_EQ(std::sscanf(message.c_str(), "Final cost $%lf", &settled), 1) << message;
  EXPECT_GE(settled, before - 0.0002) << message;
  EXPECT_LE(settled, before + 2 * kSpotHourly * elapsed_sim / 3600 + 0.01) << message;
  EXPECT_GT(settled, 0);
  // /metrics still reports the settled total (for the scrapes after the
  // delete), though the job no longer counts in any phase.
  const std::string series =
      "frugal_cost_usd_total{capacity_type=\"spot\",kind=\"TrainingJob\",name=\"doomed\","
      "namespace=\"default\",team=\"\"} ";
  // Once the controller's cache has seen the job go.
  std::string metrics;
  ASSERT_TRUE(eventually([&] {
    metrics = manager_->registry().expose();
    return metrics.find("frugal_trainingjobs{namespace=\"default\",phase=\"Running\"} 1") ==
           std::string::npos;
  })) << metrics;
  const size_t at = metrics.find(series);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_NEAR(std::stod(metrics.substr(at + series.size())), settled, 1e-4);
}

TEST_F(TrainingJobControllerTest, AGangThatIsNeverBoundIsPlacedAgainOnAnotherPool) {
  // The scheduler binds nothing (an outage, or capacity the controller
  // cannot see): the spot pool looks free but the gang waits unbound.
  cluster_->pause_scheduling(true);
  json j = job("stuck", 2, 300);
  j["spec"]["capacity"]["placementTimeoutSeconds"] = 150;
  create(j);
  ASSERT_TRUE(eventually([&] { return !pod("stuck-a0-1").empty(); }));
  EXPECT_EQ(status("stuck")["nodePool"], "g5.xlarge/spot");
  // After 150 sim seconds the gang is withdrawn and placed on the next pool
  // (where the scheduler, back at work, binds it before its own timeout).
  ASSERT_TRUE(eventually([&] { return !pod("stuck-a1-1").empty(); })) << status("stuck").dump();
  cluster_->pause_scheduling(false);
  EXPECT_EQ(status("stuck")["nodePool"], "g5.xlarge/on-demand");
  EXPECT_TRUE(eventually([&] { return event_seen("stuck", kReasonPlacementTimeout); }));

  ASSERT_TRUE(eventually([&] { return phase("stuck") == "Succeeded"; })) << status("stuck").dump();
  const json s = status("stuck");
  EXPECT_EQ(s["attempt"], 1);
  EXPECT_EQ(s["restarts"], 0) << "nothing had run: not a restart";
  EXPECT_EQ(s["failures"], 0);
  EXPECT_EQ(s["interruptions"], 0);
  EXPECT_EQ(s["capacityType"], "on-demand");
  EXPECT_EQ(node_of("stuck-a1-0").rfind("gpu-on-demand-", 0), 0u) << node_of("stuck-a1-0");
  // The withdrawn workers never ran and cost nothing: the bill is the
  // on-demand gang's alone, with no spot savings.
  EXPECT_TRUE(eventually([&] { return pod("stuck-a0-0").empty() && pod("stuck-a0-1").empty(); }));
  EXPECT_EQ(s["cost"]["spotSavingsUSD"], 0.0);
  EXPECT_GT(s["cost"]["totalUSD"].get<double>(), 0);
}

TEST_F(TrainingJobControllerTest, ASpotGangWaitingPastItsDeadlineBudgetFallsBackToOnDemand) {
  cluster_->pause_scheduling(true);
  // 200 s of work (2 s of wall time at x100) and a deadline 3.5 s away: spot
  // at first, but waiting unbound eats the slack, and 1.5 s later the
  // deadline rule moves the gang to on-demand.
  json j = job("due", 1, 200);
  j["spec"]["runPolicy"] = {{"expectedRuntimeSeconds", 200}};
  j["spec"]["capacity"]["placementTimeoutSeconds"] = 100000;
  j["spec"]["capacity"]["deadline"] =
      rfc3339(std::chrono::system_clock::now() + std::chrono::milliseconds(3500));
  create(j);
  ASSERT_TRUE(eventually([&] { return !pod("due-a0-0").empty(); }));
  EXPECT_EQ(status("due")["capacityType"], "spot");
  ASSERT_TRUE(eventually([&] { return !pod("due-a1-0").empty(); })) << status("due").dump();
  EXPECT_EQ(status("due")["capacityType"], "on-demand");
  EXPECT_EQ(condition("due", kCondFellBack)["reason"], policy::kReasonDeadlineAtRisk);
  EXPECT_EQ(status("due")["fellBack"], true);
  cluster_->pause_scheduling(false);
  ASSERT_TRUE(eventually([&] { return phase("due") == "Succeeded"; })) << status("due").dump();
  EXPECT_EQ(node_of("due-a1-0").rfind("gpu-on-demand-", 0), 0u) << node_of("due-a1-0");
  EXPECT_EQ(status("due")["restarts"], 0);
}

// The cost metrics a finished job leaves, scraped as Prometheus would, pass
// promtool's checks of the exposition format and naming conventions.
TEST_F(TrainingJobControllerTest, CostMetricsOfAFinishedJobPassPromtool) {
  create(job("metered", 1, 300));
  ASSERT_TRUE(eventually([&] { return phase("metered") == "Succeeded"; }))
      << status("metered").dump();
  const std::string metrics = manager_->registry().expose();
  EXPECT_NE(metrics.find("frugal_cost_usd_total{capacity_type=\"spot\",kind=\"TrainingJob\","
                         "name=\"metered\""),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("frugal_trainingjobs{namespace=\"default\",phase=\"Succeeded\"} 1"),
            std::string::npos);
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_FAIL() << "promtool missing: hack/install-deps.sh installs the prometheus package";
  }
  const std::string file = ::testing::TempDir() + "/frugal-metrics.txt";
  {
    std::ofstream out(file);
    out << metrics;
  }
  const std::string cmd = "promtool check metrics < " + file + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string said;
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr) said += buf;
  const int rc = pclose(p);
  EXPECT_EQ(rc, 0) << said;
  EXPECT_EQ(said, "") << "promtool's complaints";
}

}  // namespace
}  // namespace frugal::reconcilers
