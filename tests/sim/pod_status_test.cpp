// Pins the pod status kubesim's simulated kubelet writes to what a real
// kubelet (v1.32, containerd) reports: conditions and their order, reasons and
// messages, container states, phases, disruption wording and QoS classes.
#include "sim/pod_status.h"

#include <gtest/gtest.h>

#include <set>

#include "sim/names.h"

namespace kubesim {
namespace {

constexpr std::time_t kBase = 1700000000;  // 2023-11-14T22:13:20Z

TimePoint at(int seconds) { return std::chrono::system_clock::from_time_t(kBase + seconds); }
std::string when(int seconds) { return rfc3339(at(seconds)); }

const PodPlacement kWhere{"10.0.1.7", "10.244.1.12", at(1)};

// A two-container training pod, just bound (t=1) after being scheduled at t=0.
json training_pod() {
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", "train-0"}, {"namespace", "ml"}, {"uid", "6f1f0c52-9d0e-4d7e-a0a4-3a1d1e0e2b11"}}},
      {"spec",
       {{"nodeName", "node-a"},
        {"restartPolicy", "Never"},
        {"containers",
         {{{"name", "trainer"},
           {"image", "pytorch/pytorch:2.3.0"},
           {"resources", {{"requests", {{"cpu", "4"}, {"memory", "16Gi"}}}}},
           {"volumeMounts", {{{"name", "ckpt"}, {"mountPath", "/ckpt"}}}}},
          {{"name", "logger"}, {"image", "busybox"}}}}}},
      {"status", {{"phase", "Pending"}, {"conditions", {scheduled_condition(at(0))}}}}};
  return pod;
}

// The pod as the API holds it after the engine wrote `status`.
json with_status(json pod, json status) {
  pod["status"] = std::move(status);
  return pod;
}

std::vector<std::string> condition_types(const json& status) {
  std::vector<std::string> out;
  for (const json& c : status["conditions"]) out.push_back(c["type"]);
  return out;
}

const json& condition(const json& status, std::string_view type) {
  for (const json& c : status["conditions"]) {
    if (c["type"] == type) return c;
  }
  static const json kMissing;
  ADD_FAILURE() << "no condition " << type << " in " << status.dump();
  return kMissing;
}

const json& container(const json& status, std::string_view name,
                      const char* list = "containerStatuses") {
  for (const json& c : status[list]) {
    if (c["name"] == name) return c;
  }
  static const json kMissing;
  ADD_FAILURE() << "no container " << name << " in " << status.dump();
  return kMissing;
}

const std::vector<std::string> kKubeletOrder = {"PodReadyToStartContainers", "Initialized", "Ready",
                                                "ContainersReady", "PodScheduled"};

// ---- Creating ---------------------------------------------------------------

TEST(StatusCreating, IsPendingWithContainersWaitingContainerCreating) {
  json s = status_creating(training_pod(), kWhere, at(1));
  EXPECT_EQ(s["phase"], "Pending");
  EXPECT_EQ(condition_types(s), kKubeletOrder);
  EXPECT_EQ(condition(s, "PodReadyToStartContainers")["status"], "True");
  EXPECT_EQ(condition(s, "Initialized")["status"], "True");
  for (const char* type : {"Ready", "ContainersReady"}) {
    const json& c = condition(s, type);
    EXPECT_EQ(c["status"], "False");
    EXPECT_EQ(c["reason"], "ContainersNotReady");
    // Spec order, Go's []string formatting.
    EXPECT_EQ(c["message"], "containers with unready status: [trainer logger]");
    EXPECT_EQ(c["lastTransitionTime"], when(1));
    EXPECT_TRUE(c["lastProbeTime"].is_null());
  }
  // Set by the binding at t=0 and unchanged since.
  EXPECT_EQ(condition(s, "PodScheduled")["lastTransitionTime"], when(0));

  const json& trainer = container(s, "trainer");
  EXPECT_EQ(trainer["state"], json({{"waiting", {{"reason", "ContainerCreating"}}}}));
  EXPECT_EQ(trainer["image"], "pytorch/pytorch:2.3.0");  // the spec's, until the runtime has it
  EXPECT_EQ(trainer["imageID"], "");
  EXPECT_FALSE(trainer.contains("containerID"));
  EXPECT_EQ(trainer["ready"], false);
  EXPECT_EQ(trainer["started"], false);
  EXPECT_EQ(trainer["restartCount"], 0);
  EXPECT_EQ(trainer["lastState"], json::object());
  EXPECT_EQ(trainer["volumeMounts"], json::parse(R"([{"name":"ckpt","mountPath":"/ckpt"}])"));

  EXPECT_EQ(s["hostIP"], "10.0.1.7");
  EXPECT_EQ(s["hostIPs"], json::parse(R"([{"ip":"10.0.1.7"}])"));
  EXPECT_EQ(s["podIP"], "10.244.1.12");
  EXPECT_EQ(s["podIPs"], json::parse(R"([{"ip":"10.244.1.12"}])"));
  EXPECT_EQ(s["startTime"], when(1));
  EXPECT_EQ(s["qosClass"], "Burstable");
}

TEST(StatusCreating, ListsContainerStatusesSortedByNameAsTheKubeletDoes) {
  json s = status_creating(training_pod(), kWhere, at(1));
  ASSERT_EQ(s["containerStatuses"].size(), 2u);
  EXPECT_EQ(s["containerStatuses"][0]["name"], "logger");
  EXPECT_EQ(s["containerStatuses"][1]["name"], "trainer");
}

TEST(StatusCreating, WithoutPodNetworkYetIsNotReadyToStartContainers) {
  PodPlacement no_ip{"10.0.1.7", "", at(1)};
  json s = status_creating(training_pod(), no_ip, at(1));
  EXPECT_EQ(condition(s, "PodReadyToStartContainers")["status"], "False");
  EXPECT_FALSE(s.contains("podIP"));
  EXPECT_FALSE(s.contains("podIPs"));
}

TEST(StatusCreating, InitContainersAreReportedCompletedAndMainOnesPodInitializing) {
  json pod = training_pod();
  pod["spec"]["initContainers"] = {{{"name", "fetch"}, {"image", "alpine:3.20"}}};
  json s = status_creating(pod, kWhere, at(1));
  const json& init = container(s, "fetch", "initContainerStatuses");
  EXPECT_EQ(init["state"]["terminated"]["exitCode"], 0);
  EXPECT_EQ(init["state"]["terminated"]["reason"], "Completed");
  EXPECT_EQ(init["state"]["terminated"]["startedAt"], when(1));
  EXPECT_EQ(init["ready"], true);
  EXPECT_EQ(init["started"], false);
  EXPECT_EQ(init["image"], "docker.io/library/alpine:3.20");
  EXPECT_EQ(container(s, "trainer")["state"]["waiting"]["reason"], "PodInitializing");
  EXPECT_EQ(condition(s, "Initialized")["status"], "True");
}

// ---- Running ----------------------------------------------------------------

TEST(StatusRunning, IsRunningAndReadyWithRuntimeImageAndContainerIDs) {
  json pod = with_status(training_pod(), status_creating(training_pod(), kWhere, at(1)));
  json s = status_running(pod, kWhere, at(3), at(3));
  EXPECT_EQ(s["phase"], "Running");
  EXPECT_EQ(condition_types(s), kKubeletOrder);
  for (const char* type : {"Ready", "ContainersReady"}) {
    const json& c = condition(s, type);
    EXPECT_EQ(c["status"], "True");
    EXPECT_FALSE(c.contains("reason"));
    EXPECT_FALSE(c.contains("message"));
    EXPECT_EQ(c["lastTransitionTime"], when(3));
  }
  const json& trainer = container(s, "trainer");
  EXPECT_EQ(trainer["state"], json({{"running", {{"startedAt", when(3)}}}}));
  EXPECT_EQ(trainer["ready"], true);
  EXPECT_EQ(trainer["started"], true);
  EXPECT_EQ(trainer["image"], "docker.io/pytorch/pytorch:2.3.0");
  EXPECT_EQ(trainer["imageID"], image_id("pytorch/pytorch:2.3.0"));
  EXPECT_EQ(trainer["containerID"],
            container_id("6f1f0c52-9d0e-4d7e-a0a4-3a1d1e0e2b11", "trainer"));
}

TEST(StatusRunning, KeepsTransitionTimesOfConditionsWhoseStatusDidNotChange) {
  json pod = with_status(training_pod(), status_creating(training_pod(), kWhere, at(1)));
  json s = status_running(pod, kWhere, at(3), at(3));
  EXPECT_EQ(condition(s, "PodScheduled")["lastTransitionTime"], when(0));
  EXPECT_EQ(condition(s, "Initialized")["lastTransitionTime"], when(1));
  EXPECT_EQ(condition(s, "PodReadyToStartContainers")["lastTransitionTime"], when(1));
  EXPECT_EQ(condition(s, "Ready")["lastTransitionTime"], when(3));

  // A later sync with nothing new moves nothing, startedAt included.
  json again = status_running(with_status(pod, s), kWhere, at(9), at(9));
  EXPECT_EQ(again["conditions"], s["conditions"]);
  EXPECT_EQ(container(again, "trainer")["state"]["running"]["startedAt"], when(3));
}

TEST(StatusRunning, NotYetReadyReportsContainersNotReady) {
  json s = status_running(training_pod(), kWhere, at(3), at(3), /*ready=*/false);
  EXPECT_EQ(s["phase"], "Running");
  EXPECT_EQ(condition(s, "Ready")["reason"], "ContainersNotReady");
  EXPECT_EQ(container(s, "trainer")["started"], true);
  EXPECT_EQ(container(s, "trainer")["ready"], false);
}

TEST(StatusRunning, ReadinessGateWithoutItsConditionKeepsThePodNotReady) {
  json pod = training_pod();
  pod["spec"]["readinessGates"] = {{{"conditionType", "frugal.dev/warm"}}};
  json s = status_running(pod, kWhere, at(3), at(3));
  EXPECT_EQ(condition(s, "ContainersReady")["status"], "True");
  const json& ready = condition(s, "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "ReadinessGatesNotReady");
  EXPECT_EQ(ready["message"],
            "corresponding condition of pod readiness gate \"frugal.dev/warm\" does not exist.");

  // A controller sets the gate's condition: the kubelet keeps it, first.
  pod["status"]["conditions"].push_back(
      {{"type", "frugal.dev/warm"}, {"status", "True"}, {"lastTransitionTime", when(4)}});
  json gated = status_running(pod, kWhere, at(3), at(5));
  EXPECT_EQ(condition(gated, "Ready")["status"], "True");
  EXPECT_EQ(gated["conditions"][0]["type"], "frugal.dev/warm");
  EXPECT_EQ(gated["conditions"][0]["lastTransitionTime"], when(4));
}

// ---- Terminated -------------------------------------------------------------

json running_pod() {
  json pod = with_status(training_pod(), status_creating(training_pod(), kWhere, at(1)));
  return with_status(pod, status_running(pod, kWhere, at(3), at(3)));
}

TEST(StatusTerminated, ExitZeroSucceedsWithPodCompleted) {
  json s = status_terminated(running_pod(), kWhere, 0, at(100));
  EXPECT_EQ(s["phase"], "Succeeded");
  EXPECT_EQ(condition_types(s), kKubeletOrder);
  for (const char* type : {"Ready", "ContainersReady"}) {
    const json& c = condition(s, type);
    EXPECT_EQ(c["status"], "False");
    EXPECT_EQ(c["reason"], "PodCompleted");
    EXPECT_FALSE(c.contains("message"));
    EXPECT_EQ(c["lastTransitionTime"], when(100));
  }
  const json& init = condition(s, "Initialized");
  EXPECT_EQ(init["reason"], "PodCompleted");
  EXPECT_EQ(init["lastTransitionTime"], when(1));  // still True: unchanged
  EXPECT_EQ(condition(s, "PodReadyToStartContainers")["status"], "False");

  const json& trainer = container(s, "trainer");
  const json& t = trainer["state"]["terminated"];
  EXPECT_EQ(t["exitCode"], 0);
  EXPECT_EQ(t["reason"], "Completed");
  EXPECT_EQ(t["startedAt"], when(3));
  EXPECT_EQ(t["finishedAt"], when(100));
  EXPECT_EQ(t["containerID"], trainer["containerID"]);
  EXPECT_EQ(trainer["ready"], false);
  EXPECT_EQ(trainer["started"], false);
  EXPECT_EQ(s["podIP"], "10.244.1.12");  // kept after the end
}

TEST(StatusTerminated, NonZeroExitFailsWithReasonErrorAndPodFailed) {
  json s = status_terminated(running_pod(), kWhere, 3, at(100));
  EXPECT_EQ(s["phase"], "Failed");
  EXPECT_EQ(condition(s, "Ready")["reason"], "PodFailed");
  EXPECT_EQ(condition(s, "ContainersReady")["reason"], "PodFailed");
  EXPECT_FALSE(condition(s, "Initialized").contains("reason"));
  EXPECT_EQ(container(s, "trainer")["state"]["terminated"]["exitCode"], 3);
  EXPECT_EQ(container(s, "trainer")["state"]["terminated"]["reason"], "Error");
}

TEST(StatusTerminated, ReasonCanBeGivenForAnOomKill) {
  json s = status_terminated(running_pod(), kWhere, kExitCodeSigkill, at(50), "OOMKilled");
  EXPECT_EQ(s["phase"], "Failed");
  EXPECT_EQ(container(s, "trainer")["state"]["terminated"]["reason"], "OOMKilled");
}

// A real kubelet's status of a terminal pod, as posted in
// https://github.com/kite-org/kite/issues/136 (containerd runtime, 2025):
//   "conditions": [ ...PodReadyToStartContainers...,
//     {"type":"Initialized","status":"True","lastProbeTime":null,"lastTransitionTime":"2025-09-01T23:53:36Z"},
//     {"type":"Ready","status":"False","lastProbeTime":null,"lastTransitionTime":"...","reason":"PodFailed"},
//     {"type":"ContainersReady","status":"False","lastProbeTime":null,"lastTransitionTime":"...","reason":"PodFailed"},
//     {"type":"PodScheduled","status":"True","lastProbeTime":null,"lastTransitionTime":"..."}],
//   "hostIP":"10.3.4.13","hostIPs":[{"ip":"10.3.4.13"}],"podIP":"10.0.0.17","podIPs":[{"ip":"10.0.0.17"}],
//   "startTime":"2025-09-01T23:53:36Z",
//   "containerStatuses":[{"name":"apply-jansora-app-job","state":{"terminated":{"exitCode":0,
//     "reason":"Completed","startedAt":"...","finishedAt":"...",
//     "containerID":"containerd://018103c2f115b9bd973d11a9670380bded6acb18a2fba8718ecef9dd6fb4e07d"
TEST(StatusTerminated, MatchesTheShapeOfARealKubeletsFailedPodStatus) {
  json s = status_terminated(running_pod(), kWhere, 3, at(100));
  auto keys = [](const json& o) {
    std::set<std::string> k;
    for (auto it = o.begin(); it != o.end(); ++it) k.insert(it.key());
    return k;
  };
  using Keys = std::set<std::string>;
  EXPECT_EQ(keys(condition(s, "Initialized")),
            Keys({"type", "status", "lastProbeTime", "lastTransitionTime"}));
  EXPECT_EQ(keys(condition(s, "Ready")),
            Keys({"type", "status", "lastProbeTime", "lastTransitionTime", "reason"}));
  EXPECT_EQ(keys(condition(s, "PodScheduled")),
            Keys({"type", "status", "lastProbeTime", "lastTransitionTime"}));
  EXPECT_EQ(keys(container(s, "logger")["state"]["terminated"]),
            Keys({"exitCode", "reason", "startedAt", "finishedAt", "containerID"}));
  std::string id = container(s, "logger")["containerID"];
  EXPECT_EQ(id.rfind("containerd://", 0), 0u);
  EXPECT_EQ(id.size(), std::string("containerd://").size() + 64);
  EXPECT_EQ(s["hostIPs"][0].size(), 1u);
  EXPECT_EQ(s["podIPs"][0].size(), 1u);
}

TEST(RestartsAfterExit, FollowsTheRestartPolicy) {
  json pod = training_pod();
  EXPECT_FALSE(restarts_after_exit(pod, 3));
  pod["spec"]["restartPolicy"] = "OnFailure";
  EXPECT_TRUE(restarts_after_exit(pod, 3));
  EXPECT_FALSE(restarts_after_exit(pod, 0));
  pod["spec"].erase("restartPolicy");  // defaults to Always
  EXPECT_TRUE(restarts_after_exit(pod, 0));
}

TEST(StatusRestarted, CountsTheRestartAndKeepsTheExitInLastState) {
  json before = running_pod();
  json s = status_restarted(before, kWhere, 1, at(40), at(42));
  EXPECT_EQ(s["phase"], "Running");
  const json& trainer = container(s, "trainer");
  EXPECT_EQ(trainer["restartCount"], 1);
  EXPECT_EQ(trainer["state"]["running"]["startedAt"], when(42));
  const json& last = trainer["lastState"]["terminated"];
  EXPECT_EQ(last["exitCode"], 1);
  EXPECT_EQ(last["reason"], "Error");
  EXPECT_EQ(last["startedAt"], when(3));
  EXPECT_EQ(last["finishedAt"], when(40));
  EXPECT_EQ(last["containerID"], container(before["status"], "trainer")["containerID"]);
  EXPECT_NE(trainer["containerID"], last["containerID"]);
}

// ---- Stopped by a deletion -----------------------------------------------------

TEST(StatusStopped, SigtermExitFailsEvenWhenThePodWouldRestart) {
  json pod = running_pod();
  pod["spec"]["restartPolicy"] = "Always";
  json s = status_stopped(pod, kWhere, kExitCodeSigterm, at(60));
  EXPECT_EQ(s["phase"], "Failed");
  EXPECT_EQ(container(s, "trainer")["state"]["terminated"]["exitCode"], 143);
  EXPECT_EQ(container(s, "trainer")["state"]["terminated"]["reason"], "Error");
  EXPECT_EQ(condition(s, "Ready")["reason"], "PodFailed");
}

TEST(StatusStopped, HandledSigtermSucceeds) {
  json pod = running_pod();
  pod["spec"]["restartPolicy"] = "Always";
  EXPECT_EQ(status_stopped(pod, kWhere, 0, at(60))["phase"], "Succeeded");
}

TEST(StatusStopped, ContainersThatNeverStartedAreReportedAsStatusUnknown) {
  json pod = with_status(training_pod(), status_creating(training_pod(), kWhere, at(1)));
  json s = status_stopped(pod, kWhere, 0, at(2));
  EXPECT_EQ(s["phase"], "Failed");
  const json& t = container(s, "trainer")["state"]["terminated"];
  EXPECT_EQ(t["exitCode"], 137);
  EXPECT_EQ(t["reason"], "ContainerStatusUnknown");
  EXPECT_EQ(t["message"], "The container could not be located when the pod was terminated");
  EXPECT_TRUE(t["startedAt"].is_null());
  EXPECT_TRUE(t["finishedAt"].is_null());
  EXPECT_FALSE(container(s, "trainer").contains("containerID"));
}

// ---- Disrupted ------------------------------------------------------------------

TEST(StatusDisrupted, NodeShutdownFailsThePodWithTheKubeletsWordsAndDisruptionTarget) {
  json s =
      status_disrupted(running_pod(), kWhere, Disruption::kNodeShutdown, kExitCodeSigterm, at(70));
  EXPECT_EQ(s["phase"], "Failed");
  EXPECT_EQ(s["reason"], "Terminated");
  EXPECT_EQ(s["message"], "Pod was terminated in response to imminent node shutdown.");
  std::vector<std::string> order = kKubeletOrder;
  order.push_back("DisruptionTarget");  // appended as the pod turns terminal
  EXPECT_EQ(condition_types(s), order);
  const json& target = condition(s, "DisruptionTarget");
  EXPECT_EQ(target["status"], "True");
  EXPECT_EQ(target["reason"], "TerminationByKubelet");
  EXPECT_EQ(target["message"], "Pod was terminated in response to imminent node shutdown.");
  EXPECT_EQ(target["lastTransitionTime"], when(70));
  EXPECT_EQ(condition(s, "Ready")["reason"], "PodFailed");
  EXPECT_EQ(container(s, "trainer")["state"]["terminated"]["exitCode"], 143);
  EXPECT_EQ(container(s, "trainer")["state"]["terminated"]["reason"], "Error");
}

TEST(StatusDisrupted, NodeShutdownLeavesAFinishedPodAlone) {
  json done = running_pod();
  done = with_status(done, status_terminated(done, kWhere, 0, at(50)));
  EXPECT_EQ(status_disrupted(done, kWhere, Disruption::kNodeShutdown, 143, at(70)), done["status"]);
}

TEST(StatusDisrupted, TaintEvictionMarksNotReadyAndAddsDisruptionTargetOnly) {
  json before = running_pod();
  json s = status_disrupted(before, kWhere, Disruption::kTaintEviction, 0, at(400));
  EXPECT_EQ(s["phase"], "Running");  // no kubelet left to report otherwise
  EXPECT_EQ(s["containerStatuses"], before["status"]["containerStatuses"]);
  const json& ready = condition(s, "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["lastTransitionTime"], when(400));
  EXPECT_EQ(condition(s, "ContainersReady")["status"], "True");
  const json& target = s["conditions"].back();
  EXPECT_EQ(target["type"], "DisruptionTarget");
  EXPECT_EQ(target["reason"], "DeletionByTaintManager");
  EXPECT_EQ(target["message"], "Taint manager: deleting due to NoExecute taint");
}

TEST(StatusDisrupted, DeletedNodeFailsThePodThroughPodGC) {
  json before = running_pod();
  json s = status_disrupted(before, kWhere, Disruption::kNodeDeleted, 0, at(500));
  EXPECT_EQ(s["phase"], "Failed");
  EXPECT_EQ(s["containerStatuses"], before["status"]["containerStatuses"]);
  const json& target = s["conditions"].back();
  EXPECT_EQ(target["reason"], "DeletionByPodGC");
  EXPECT_EQ(target["message"], "PodGC: node no longer exists");
  EXPECT_EQ(target["lastTransitionTime"], when(500));
}

// ---- Sidecars -----------------------------------------------------------------

TEST(StatusSidecar, RunsWithThePodAndIsListedFirstWhenUnready) {
  json pod = training_pod();
  pod["spec"]["initContainers"] = {
      {{"name", "proxy"}, {"image", "envoyproxy/envoy:v1.30"}, {"restartPolicy", "Always"}}};
  json creating = status_creating(pod, kWhere, at(1));
  EXPECT_EQ(condition(creating, "Ready")["message"],
            "containers with unready status: [proxy trainer logger]");
  json running = status_running(with_status(pod, creating), kWhere, at(3), at(3));
  const json& proxy = container(running, "proxy", "initContainerStatuses");
  EXPECT_EQ(proxy["state"]["running"]["startedAt"], when(3));
  EXPECT_EQ(proxy["ready"], true);
}

// ---- QoS --------------------------------------------------------------------------

json pod_with(std::vector<json> resources) {
  json pod = {{"spec", {{"containers", json::array()}}}};
  int i = 0;
  for (json& r : resources) {
    pod["spec"]["containers"].push_back(
        {{"name", "c" + std::to_string(i++)}, {"image", "x"}, {"resources", std::move(r)}});
  }
  return pod;
}

TEST(PodQosClass, NoRequestsOrLimitsIsBestEffort) {
  EXPECT_EQ(pod_qos_class(pod_with({json::object()})), "BestEffort");
  EXPECT_EQ(pod_qos_class(pod_with({{{"requests", {{"cpu", "0"}}}}})), "BestEffort");
  // Only cpu and memory count.
  EXPECT_EQ(pod_qos_class(pod_with({{{"limits", {{"nvidia.com/gpu", "1"}}}}})), "BestEffort");
}

TEST(PodQosClass, RequestsBelowLimitsOrMissingLimitsAreBurstable) {
  EXPECT_EQ(pod_qos_class(pod_with({{{"requests", {{"cpu", "1"}}}}})), "Burstable");
  EXPECT_EQ(pod_qos_class(pod_with({{{"requests", {{"cpu", "1"}, {"memory", "1Gi"}}},
                                     {"limits", {{"cpu", "2"}, {"memory", "1Gi"}}}}})),
            "Burstable");
  // One container without limits spoils it for the pod.
  EXPECT_EQ(
      pod_qos_class(pod_with({{{"limits", {{"cpu", "1"}, {"memory", "1Gi"}}}}, json::object()})),
      "Burstable");
  // Only a cpu limit.
  EXPECT_EQ(pod_qos_class(pod_with({{{"limits", {{"cpu", "1"}}}}})), "Burstable");
}

TEST(PodQosClass, EqualRequestsAndLimitsForCpuAndMemoryAreGuaranteed) {
  EXPECT_EQ(pod_qos_class(pod_with({{{"requests", {{"cpu", "500m"}, {"memory", "1Gi"}}},
                                     {"limits", {{"cpu", "0.5"}, {"memory", "1024Mi"}}}}})),
            "Guaranteed");
  // Limits alone: requests default to them.
  EXPECT_EQ(pod_qos_class(pod_with({{{"limits", {{"cpu", "2"}, {"memory", "4Gi"}}}},
                                    {{"limits", {{"cpu", "1"}, {"memory", "1Gi"}}}}})),
            "Guaranteed");
}

TEST(PodQosClass, InitContainersCount) {
  json pod = pod_with({{{"limits", {{"cpu", "1"}, {"memory", "1Gi"}}}}});
  pod["spec"]["initContainers"] = {
      {{"name", "init"}, {"image", "x"}, {"resources", {{"requests", {{"cpu", "1"}}}}}}};
  EXPECT_EQ(pod_qos_class(pod), "Burstable");
}

// ---- Images and IDs --------------------------------------------------------------

TEST(NormalizedImage, FollowsDockerReferenceNormalisation) {
  EXPECT_EQ(normalized_image("nginx"), "docker.io/library/nginx:latest");
  EXPECT_EQ(normalized_image("nginx:1.27"), "docker.io/library/nginx:1.27");
  EXPECT_EQ(normalized_image("bitnami/redis"), "docker.io/bitnami/redis:latest");
  EXPECT_EQ(normalized_image("ghcr.io/org/app:v1"), "ghcr.io/org/app:v1");
  EXPECT_EQ(normalized_image("localhost/app"), "localhost/app:latest");
  EXPECT_EQ(normalized_image("registry:5000/team/app"), "registry:5000/team/app:latest");
  EXPECT_EQ(normalized_image("index.docker.io/library/busybox:1"), "docker.io/library/busybox:1");
}

TEST(ImageId, IsTheRepositoryAtADigest) {
  std::string id = image_id("nginx:1.27");
  EXPECT_EQ(id.rfind("docker.io/library/nginx@sha256:", 0), 0u);
  EXPECT_EQ(id.size(), std::string("docker.io/library/nginx@sha256:").size() + 64);
  EXPECT_EQ(id, image_id("docker.io/library/nginx:1.27"));
  EXPECT_NE(id, image_id("nginx:1.26"));
  std::string digest = "sha256:" + std::string(64, 'a');
  EXPECT_EQ(image_id("nginx@" + digest), "docker.io/library/nginx@" + digest);
}

TEST(ContainerId, IsDeterministicPerPodContainerAndRestart) {
  EXPECT_EQ(container_id("uid-1", "main"), container_id("uid-1", "main"));
  EXPECT_NE(container_id("uid-1", "main"), container_id("uid-2", "main"));
  EXPECT_NE(container_id("uid-1", "main"), container_id("uid-1", "side"));
  EXPECT_NE(container_id("uid-1", "main", 0), container_id("uid-1", "main", 1));
}

// ---- Scheduler conditions ----------------------------------------------------------

TEST(SchedulerConditions, HaveTheSchedulersShape) {
  EXPECT_EQ(scheduled_condition(at(0)), json({{"type", "PodScheduled"},
                                              {"status", "True"},
                                              {"lastProbeTime", nullptr},
                                              {"lastTransitionTime", when(0)}}));
  json c = unschedulable_condition("0/3 nodes are available: 3 Insufficient cpu.", at(5));
  EXPECT_EQ(c["status"], "False");
  EXPECT_EQ(c["reason"], "Unschedulable");
  EXPECT_EQ(c["message"], "0/3 nodes are available: 3 Insufficient cpu.");
  EXPECT_EQ(c["lastTransitionTime"], when(5));
}

}  // namespace
}  // namespace kubesim
