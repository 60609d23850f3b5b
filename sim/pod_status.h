// The pod status a real kubelet (v1.32, containerd runtime) reports at each
// step of a pod's life, as pure functions: the simulated kubelet in the engine
// decides *when* a pod moves on, these decide *what* the API then shows.
//
// Each status_* function returns the whole `status` object (the engine
// replaces the pod's status with it through the status subresource). The
// previous status is read from the pod itself, as the kubelet's status manager
// does, so that:
//   - a condition whose status did not change keeps its lastTransitionTime
//     (status_manager.go updateLastTransitionTime);
//   - conditions the kubelet does not own (readiness gates, DisruptionTarget
//     written by a controller) are kept, ahead of the kubelet's own, in the
//     order generateAPIPodStatus + mergePodStatus produce;
//   - restartCount, containerID and startedAt carry over between steps.
//
// Where the shapes come from (kubernetes v1.32):
//   pkg/kubelet/kubelet_pods.go   generateAPIPodStatus, getPhase,
//                                 convertToAPIContainerStatuses
//   pkg/kubelet/status/generate.go condition reasons and messages
//   pkg/kubelet/status/status_manager.go TerminatePod, mergePodStatus
//   pkg/kubelet/nodeshutdown       graceful node shutdown wording
//   pkg/controller/tainteviction, pkg/controller/podgc  DisruptionTarget reasons
//   pkg/apis/core/helper/qos       QoS class
//
// Simplifications, each deliberate:
//   - Init containers that run to completion are reported as having finished
//     instantly, at status.startTime (terminated, exit 0, reason Completed,
//     ready true). Sidecars (init containers with restartPolicy Always) are
//     treated like regular containers: created, started and stopped with them.
//   - Every regular container of a pod does the same thing: they start
//     together and, in status_terminated, exit with the same code.
//   - A terminal pod shows PodReadyToStartContainers False at once; a real
//     kubelet reports that one sync later, after it has removed the sandbox.
//   - No probes: status_running's `ready` says whether readiness has passed.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace kubesim {

using json = nlohmann::json;
using TimePoint = std::chrono::system_clock::time_point;

// Exit codes of a process killed by a signal: 128 + signal number.
inline constexpr int kExitCodeSigterm = 143;  // SIGTERM (15): graceful stop not handled
inline constexpr int kExitCodeSigkill = 137;  // SIGKILL (9): grace period ran out

// Where the kubelet runs the pod. startTime is when the kubelet acknowledged
// the pod (for kubesim: when it was bound).
struct PodPlacement {
  std::string host_ip;
  std::string pod_ip;  // empty while the sandbox has no network yet
  TimePoint start_time;
};

// Who ended a pod that did not end by itself.
enum class Disruption {
  // Graceful node shutdown (spot interruption notice, scale-down drain of the
  // machine): the kubelet stops containers; phase Failed, reason Terminated,
  // DisruptionTarget reason TerminationByKubelet.
  kNodeShutdown,
  // The node stopped answering and the taint-eviction controller gave up on
  // the pod (not-ready/unreachable NoExecute taint): it only adds
  // DisruptionTarget reason DeletionByTaintManager and then deletes the pod;
  // with no kubelet to report, phase and containers stay as last reported and
  // the node lifecycle controller has set Ready False.
  kTaintEviction,
  // The Node object is gone (instance terminated by the cloud): pod GC marks
  // the pod Failed with DisruptionTarget reason DeletionByPodGC and
  // force-deletes it; containers stay as last reported.
  kNodeDeleted,
};

// ---- Pieces, exposed for the engine and for tests --------------------------

// Guaranteed / Burstable / BestEffort, as the API server computes it at
// creation (requests default to limits where only a limit is given).
std::string pod_qos_class(const json& pod);

// "containerd://<64 hex>", deterministic in pod uid, container name and
// restart count, so a restarted container gets a new ID as it does for real.
std::string container_id(std::string_view pod_uid, std::string_view container,
                         int restart_count = 0);
// The image reference containerd reports: "nginx" -> "docker.io/library/nginx:latest".
std::string normalized_image(std::string_view image);
// "docker.io/library/nginx@sha256:<64 hex>", deterministic in the image.
std::string image_id(std::string_view image);
// Reason of a terminated container: 0 -> "Completed", otherwise "Error".
std::string exit_reason(int exit_code);
// Whether the kubelet would restart the pod's containers after they exit with
// this code (restartPolicy Always, or OnFailure with a non-zero code); if so,
// use status_restarted rather than status_terminated.
bool restarts_after_exit(const json& pod, int exit_code);

// ---- Conditions written by the scheduler and the API server -----------------

// PodScheduled True, as the binding subresource sets it.
json scheduled_condition(TimePoint now);
// PodScheduled False, reason Unschedulable, as the scheduler reports a failed
// attempt; message is its "0/3 nodes are available: ..." text.
json unschedulable_condition(const std::string& message, TimePoint now);

// ---- Status at each step of the pod's life ----------------------------------

// Bound and being set up: phase Pending, containers waiting ContainerCreating
// (PodInitializing when the pod has init containers), not ready.
json status_creating(const json& pod, const PodPlacement& where, TimePoint now);

// All containers started at `started_at`: phase Running; Ready and
// ContainersReady True when `ready`, else False with ContainersNotReady.
json status_running(const json& pod, const PodPlacement& where, TimePoint started_at, TimePoint now,
                    bool ready = true);

// The containers exited by themselves with `exit_code` and will not be
// restarted: phase Succeeded (all 0, reason Completed) or Failed (reason
// Error, or `reason` if given, e.g. "OOMKilled"); Ready False PodCompleted /
// PodFailed.
json status_terminated(const json& pod, const PodPlacement& where, int exit_code,
                       TimePoint finished_at, std::string_view reason = {});

// The containers exited with `exit_code` at `finished_at` and the kubelet
// started them again at `restarted_at`: phase Running, restartCount + 1,
// lastState holds the exit. Ready as in status_running.
json status_restarted(const json& pod, const PodPlacement& where, int exit_code,
                      TimePoint finished_at, TimePoint restarted_at, bool ready = true);

// A graceful deletion finished: the containers exited on SIGTERM with
// `exit_code` (0 if the workload handled it, kExitCodeSigterm if not,
// kExitCodeSigkill when the grace period ran out). A deleted pod is terminal
// whatever its restartPolicy: Succeeded when every container exited 0, else
// Failed. Containers that never started are reported as the kubelet's
// TerminatePod does: terminated, ContainerStatusUnknown, exit code 137.
json status_stopped(const json& pod, const PodPlacement& where, int exit_code,
                    TimePoint finished_at);

// The pod was ended by the node going away; see Disruption. `exit_code` is
// used only for kNodeShutdown (the containers' exit on the kubelet's kill).
json status_disrupted(const json& pod, const PodPlacement& where, Disruption why, int exit_code,
                      TimePoint now);

}  // namespace kubesim
