// The built-in controllers of kube-controller-manager that a real cluster runs
// for workloads and services, as pure decision functions:
//   Deployment -> ReplicaSets   (pkg/controller/deployment: sync.go, rolling.go,
//                                recreate.go, progress.go, util/deployment_util.go)
//   ReplicaSet -> Pods          (pkg/controller/replicaset/replica_set.go)
//   Service    -> Endpoints     (pkg/controller/endpoint/endpoints_controller.go)
//   Service    -> EndpointSlices (pkg/controller/endpointslice, staging
//   endpointslice/reconciler.go)
// Each call is one sync of one object: it looks at the full current state and
// returns the writes to make now. The caller applies them through the API and
// calls again when anything changed (or after requeue_after_seconds); repeated
// calls converge, and a call on converged state returns no action. Same input,
// same output: lists are sorted (by creation time, then name) wherever order
// decides anything, and randomness comes only from the injected name suffix.
//
// Writes and optimistic concurrency: kUpdate objects carry the resourceVersion
// they were computed from, so a concurrent change makes the write fail with a
// conflict and the next sync redoes it. kUpdateStatus objects carry none: the
// controller owns the status it writes, and a deployment may get a metadata
// update (its revision annotation) and a status update in the same sync.
// kDelete objects hold only metadata {namespace, name, uid}.
//
// Not modelled: events (ScalingReplicaSet, SuccessfulCreate...), the
// expectations cache (kubesim's store is read-after-write), rollbacks through
// the deprecated rollbackTo annotation, the endpoints' last-change-trigger-time
// annotation and the 1000-address Endpoints truncation, dual-stack services.
// A deleted Service's Endpoints object is deleted by the real controller; the
// caller does that (EndpointSlices carry an owner reference and go by GC).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kubesim {

using json = nlohmann::json;
using TimePoint = std::chrono::system_clock::time_point;

struct Action {
  enum class Kind { kCreate, kUpdate, kUpdateStatus, kDelete };
  Kind kind = Kind::kCreate;
  std::string group;     // "", "apps", "discovery.k8s.io"
  std::string resource;  // "deployments", "replicasets", "pods", "endpoints", "endpointslices"
  json object;
};

struct Reconciliation {
  std::vector<Action> actions;
  // Sync again after this many sim seconds even if nothing else changes: a
  // ready pod turns available after minReadySeconds, a rollout may pass its
  // progress deadline.
  std::optional<double> requeue_after_seconds;
};

// Returns 5 random lowercase alphanumerics, the part of a generateName the
// server would pick (the engine decides how random: a seeded RNG in tests).
using NameSuffix = std::function<std::string()>;

// One sync of a Deployment. `replicasets`: every ReplicaSet in its namespace
// (owned ones are picked out, orphans matching the selector adopted, name
// collisions detected); `pods`: the pods in its namespace (Recreate waits for
// old ones to be gone).
Reconciliation reconcile_deployment(const json& deployment, const std::vector<json>& replicasets,
                                    const std::vector<json>& pods, TimePoint now);

// One sync of a ReplicaSet. `pods`: the pods in its namespace. `now` decides
// availability (minReadySeconds) and the scale-down order.
Reconciliation reconcile_replicaset(const json& replicaset, const std::vector<json>& pods,
                                    TimePoint now, const NameSuffix& random_suffix);

// One sync of a Service's Endpoints object and EndpointSlices (both
// controllers at once; they read the same pods). `pods`: the pods in its
// namespace; `nodes`: all nodes (slices carry the zone, and skip pods whose
// node is gone, as the real controller does); `current_slices`: the
// EndpointSlices in the namespace (those of other services are ignored).
// Services without a selector get no action.
std::vector<Action> reconcile_service_endpoints(const json& service, const std::vector<json>& pods,
                                                const std::vector<json>& nodes,
                                                const std::optional<json>& current_endpoints,
                                                const std::vector<json>& current_slices,
                                                const NameSuffix& random_suffix);

// The pod-template-hash label value for a pod template (controller.ComputeHash
// shape: FNV-1a 32 over the template, then the collision count as 8
// little-endian bytes, the decimal hash encoded with rand.SafeEncodeString).
// The real one hashes a spew dump of the Go struct; this one hashes the
// template's canonical JSON (sorted keys, null and empty fields dropped), so
// values differ from a real cluster's but are stable and look alike.
std::string pod_template_hash(const json& pod_template, std::optional<int64_t> collision_count);

// podutil.IsPodReady: the Ready condition is True.
bool is_pod_ready(const json& pod);
// podutil.IsPodAvailable: ready, and for more than min_ready_seconds.
bool is_pod_available(const json& pod, int64_t min_ready_seconds, TimePoint now);

}  // namespace kubesim
