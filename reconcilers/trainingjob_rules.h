// The TrainingJob controller's decisions that need no server: reading pod
// lifetimes and recorded rates, the spec rules the schema cannot state, where
// a gang may go (taints, tolerations, node affinity), what a gang's pods say
// and how long it ran. Pure functions of API objects and the clock's reading;
// trainingjob.cpp gathers the objects and acts on the answers.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "controller/kube/client.h"
#include "reconcilers/gang.h"
#include "reconcilers/policy/cost.h"
#include "reconcilers/policy/placement.h"
#include "reconcilers/policy/pricing.h"

namespace frugal::reconcilers {

// Held on every worker pod until its cost is in status.settled.
inline constexpr char kCostFinalizer[] = "ml.frugal.dev/cost-accounting";
// The rate a pod pays, recorded when it is first seen bound.
inline constexpr char kHourlyAnnotation[] = "ml.frugal.dev/hourly-usd";
inline constexpr char kOnDemandHourlyAnnotation[] = "ml.frugal.dev/on-demand-hourly-usd";
inline constexpr char kGpusAnnotation[] = "ml.frugal.dev/gpus";
inline constexpr char kPriceSourceAnnotation[] = "ml.frugal.dev/price-source";

// Condition types (contract) and the reasons this reconciler writes.
inline constexpr char kCondAdmitted[] = "Admitted";
inline constexpr char kCondRunning[] = "Running";
inline constexpr char kCondRecovering[] = "Recovering";
inline constexpr char kCondFellBack[] = "FellBackToOnDemand";
inline constexpr char kCondSucceeded[] = "Succeeded";
inline constexpr char kCondFailed[] = "Failed";
inline constexpr char kCondSuspended[] = "Suspended";
inline constexpr char kCondInvalidSpec[] = "InvalidSpec";

inline constexpr char kReasonInvalidSpec[] = "InvalidSpec";
inline constexpr char kReasonCheckpointVolumeNotFound[] = "CheckpointVolumeNotFound";
inline constexpr char kReasonInvalidTemplate[] = "InvalidTemplate";
inline constexpr char kReasonBackoffLimitExceeded[] = "BackoffLimitExceeded";
inline constexpr char kReasonDeadlineExceeded[] = "DeadlineExceeded";
inline constexpr char kReasonSpotInterrupted[] = "SpotInterrupted";
inline constexpr char kReasonWorkerFailed[] = "WorkerFailed";
inline constexpr char kReasonWorkerDeleted[] = "WorkerDeleted";
inline constexpr char kReasonPlacementTimeout[] = "PlacementTimeout";
inline constexpr char kReasonCostSettled[] = "CostSettled";

// RFC 3339 as the API writes it (fractional seconds and offsets allowed).
std::optional<policy::WallTime> parse_time(std::string_view text);

// A pod's life as the cost model sees it.
struct PodTimes {
  std::optional<policy::WallTime> created;   // metadata.creationTimestamp
  std::optional<policy::WallTime> bound;     // PodScheduled=True lastTransitionTime
  std::optional<policy::WallTime> started;   // earliest container startedAt
  std::optional<policy::WallTime> finished;  // latest container finishedAt
  std::optional<policy::WallTime> deleted;   // metadata.deletionTimestamp
};
PodTimes pod_times(const kube::json& pod);

// The bound interval the pod pays for: from binding to the latest container
// finishedAt, else the deletionTimestamp when being deleted, else open (now).
// nullopt when the pod was never bound.
std::optional<policy::PodInterval> pod_cost_interval(const kube::json& pod,
                                                     const policy::PodRate& rate);

// The rate recorded on the pod by rate_annotations(), if any.
std::optional<policy::PodRate> recorded_rate(const kube::json& pod);
kube::json rate_annotations(const policy::PodRate& rate);

// The scheduler's reason a pod is not bound (its PodScheduled=False
// condition's message, e.g. "0/5 nodes are available: ..."), or "".
std::string unschedulable_message(const kube::json& pod);

// Failed with condition DisruptionTarget=True: the pod was killed by its
// node going away (spot interruption, node shutdown, pod GC), not by itself.
bool pod_disrupted(const kube::json& pod);

// Spec rules the schema cannot state; the message, or "" when the spec is fine.
struct SpecProblem {
  std::string reason;
  std::string message;
};
std::optional<SpecProblem> validate_spec(const kube::json& job);

// Taints Frugal tolerates for its workers without the template saying so:
// a capacity-type taint (its key is one of the PriceBook's capacity-type
// labels, e.g. AKS's kubernetes.azure.com/scalesetpriority=spot), and the
// taint named after an extended resource the worker requests (what the
// ExtendedResourceToleration admission plugin adds: nvidia.com/gpu for GPU
// workers). Any other taint keeps workers off unless the template tolerates it.
bool auto_tolerated(const std::string& taint_key, const policy::PriceBook& book,
                    const policy::Resources& per_worker);

// The first NoSchedule/NoExecute taint of `node` that keeps the workers off:
// neither an interruption taint (those nodes are skipped as interrupting),
// nor auto-tolerated, nor tolerated by `tolerations` (the template's, as in
// v1 ToleratesTaint). Empty when the workers may go there.
std::string untolerated_taint(const kube::json& node, const kube::json& tolerations,
                              const policy::PriceBook& book, const policy::Resources& per_worker);

// Where the chosen pool's nodes are, as node-affinity expressions and the
// tolerations they need: instance type In [type]; the capacity-type label
// rule the nodes matched (key In [value]), or for on-demand nodes carrying
// no capacity label, key NotIn spotValues for every rule; and each
// auto-tolerated NoSchedule/NoExecute taint of the nodes, as
// {key, operator: Exists, effect}.
GangPlacement gang_placement(const policy::PoolChoice& choice,
                             const std::vector<kube::json>& pool_nodes,
                             const policy::PriceBook& book, const policy::Resources& per_worker);

// What the current attempt's pods say, in order of precedence.
enum class GangState {
  kAbsent,       // no pod of this attempt
  kInterrupted,  // a worker disrupted, or on a node being interrupted
  kFailed,       // a worker failed by itself (counts against backoffLimit)
  kBroken,       // a worker deleted or missing by someone else's hand
  kIncomplete,   // fewer pods than workers, none stopped: create the rest
  kSucceeded,    // every worker succeeded
  kRunning,      // every worker running
  kStarting,     // the rest
};
struct GangAssessment {
  GangState state = GangState::kAbsent;
  std::string message;          // which workers, on which nodes
  std::set<int> missing_ranks;  // kIncomplete
};
// `interrupting`: names of nodes carrying an interruption taint.
GangAssessment assess_gang(const std::vector<kube::json>& pods, int workers,
                           const std::set<std::string>& interrupting);

// Measures over one gang's pods, in sim seconds (x time_scale).
struct GangClock {
  double running_seconds = 0;  // longest container run so far
  double lost_seconds = 0;     // longest run since its last checkpoint boundary
  double startup_seconds = 0;  // creation to running, of the slowest worker
};
GangClock gang_clock(const std::vector<kube::json>& pods, policy::WallTime now,
                     const policy::CheckpointPolicy& checkpoint, double time_scale);

}  // namespace frugal::reconcilers
