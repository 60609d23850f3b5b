// The TrainingJob reconciler: runs a job's gang of workers on the cheapest
// pool that fits, restarts the whole gang from the last checkpoint when spot
// takes a node back, falls back to on-demand when spot keeps failing or the
// deadline is at risk, and keeps status.cost exact to the cent.
//
// Level-triggered, one status write per pass: the reconciler reads the job,
// its pods, the nodes and the PriceBook from the caches, decides (pure
// functions below and in policy/), writes status with the job's
// resourceVersion as a precondition (a stale cache gets a 409 and a retry,
// never a second interruption counted), and only then acts: releases cost
// finalizers, deletes stopped gangs, creates the next one.
//
// Cost accounting: every worker pod carries the finalizer
// ml.frugal.dev/cost-accounting (as batch Job's job-tracking finalizer), so
// it cannot vanish before its cost is in status.settled. A pod is settled
// once: its UID goes into status.settledPods in the same write that adds its
// cost, and the finalizer comes off after that write. The hourly rate a pod
// pays is recorded on the pod (annotations) when it is first seen bound, so
// it survives the node's deletion and controller restarts.
//
// Lost work: one estimate per stopped gang (not per worker: the workers of a
// data-parallel gang do the same work), the longest-running worker's time
// since its last checkpoint boundary (policy::lost_work_estimate), in sim
// seconds. Durations measured from timestamps are multiplied by
// ManagerOptions::time_scale; timers are divided by it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "controller/kube/client.h"
#include "controller/kube/events.h"
#include "controller/kube/informer.h"
#include "controller/kube/reconciler.h"
#include "controller/manager.h"
#include "reconcilers/gang.h"
#include "reconcilers/policy/cost.h"
#include "reconcilers/policy/placement.h"
#include "reconcilers/policy/pricing.h"

namespace frugal::reconcilers {

inline const kube::ResourceRef kTrainingJobs{"ml.frugal.dev", "v1alpha1", "trainingjobs",
                                             "TrainingJob", true};
inline const kube::ResourceRef kPods{"", "v1", "pods", "Pod", true};
inline const kube::ResourceRef kServices{"", "v1", "services", "Service", true};

// Held on every worker pod until its cost is in status.settled.
inline constexpr char kCostFinalizer[] = "ml.frugal.dev/cost-accounting";
// The rate a pod pays, recorded when it is first seen bound.
inline constexpr char kHourlyAnnotation[] = "ml.frugal.dev/hourly-usd";
inline constexpr char kOnDemandHourlyAnnotation[] = "ml.frugal.dev/on-demand-hourly-usd";
inline constexpr char kGpusAnnotation[] = "ml.frugal.dev/gpus";
inline constexpr char kPriceSourceAnnotation[] = "ml.frugal.dev/price-source";

// Pod cache indexes: "<namespace>/<job>" by the job label, and spec.nodeName.
inline constexpr char kPodsByJobIndex[] = "trainingjob";
inline constexpr char kPodsByNodeIndex[] = "node";

// While workers are bound, status.cost is refreshed this often (sim seconds).
inline constexpr double kCostRefreshSeconds = 30;
// A job waiting for capacity looks again this often (sim seconds).
inline constexpr double kQueueRetrySeconds = 30;
// Floor of any requeue delay in real time, so a large time scale cannot spin.
inline constexpr std::chrono::milliseconds kMinRequeue{50};

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

// ---- Pure helpers (unit-tested without a server) ------------------------------------

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

// ---- The reconciler ----------------------------------------------------------------

struct TrainingJobInformers {
  kube::Informer& jobs;
  kube::Informer& pods;
  kube::Informer& nodes;
  kube::Informer& pricebooks;
  kube::Informer& services;
};

class TrainingJobReconciler : public kube::Reconciler {
 public:
  TrainingJobReconciler(kube::Client& client, kube::EventRecorder& events,
                        TrainingJobInformers informers, const Clock& clock, double time_scale)
      : client_(client),
        events_(events),
        in_(informers),
        clock_(clock),
        time_scale_(time_scale > 0 ? time_scale : 1.0) {}
  kube::ReconcileOutcome reconcile(const kube::Key& key) override;

 private:
  struct Pass;  // one reconcile's gathered state and planned writes

  // Pods this controller created that the cache may not show yet
  // (client-go's ControllerExpectations): a pass that sees none of them
  // waits instead of creating a second gang.
  struct Expectation {
    int attempt = 0;
    std::set<std::string> names;
    Clock::SteadyTime created{};
  };

  kube::ReconcileOutcome release_all(const kube::Key& key);
  kube::Result<void> release(const std::string& ns, const kube::json& pod);
  std::optional<policy::PodRate> rate_of(const kube::json& pod, const policy::PriceBook& book);
  void settle(Pass& p);
  void decide(Pass& p);
  void admit(Pass& p);
  void stop_gang(Pass& p, const std::string& reason, const std::string& message, bool interruption);
  void finish(Pass& p, const std::string& phase, const std::string& reason,
              const std::string& message);
  void account(Pass& p);
  kube::ReconcileOutcome act(Pass& p);
  std::chrono::milliseconds real_delay(double sim_seconds) const;

  kube::Client& client_;
  kube::EventRecorder& events_;
  TrainingJobInformers in_;
  const Clock& clock_;
  double time_scale_;
  // The resourceVersion a status write was based on, until the cache moves past it.
  struct OwnWrite {
    std::string from;
    Clock::SteadyTime at{};
  };

  std::mutex mu_;                                    // guards expectations_ and own_writes_
  std::map<std::string, Expectation> expectations_;  // by job key
  std::map<std::string, OwnWrite> own_writes_;       // by job key
};

// Registers the TrainingJob controller: informers (TrainingJobs, Pods, Nodes,
// PriceBooks, Services), pod indexes by job and by node, and the wiring: a
// job's own spec or deletion changes, its pods and Service (by owner), and
// changes of a node its pods are on enqueue it. The reconciler must outlive
// manager.run().
std::unique_ptr<TrainingJobReconciler> add_trainingjob_controller(Manager& manager);

}  // namespace frugal::reconcilers
