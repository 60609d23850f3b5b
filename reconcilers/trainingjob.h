// The TrainingJob reconciler: runs a job's gang of workers on the cheapest
// pool that fits, restarts the whole gang from the last checkpoint when spot
// takes a node back, falls back to on-demand when spot keeps failing or the
// deadline is at risk, and keeps status.cost exact to the cent.
//
// Level-triggered, one status write per pass: the reconciler reads the job,
// its pods, the nodes and the PriceBook from the caches, decides (pure
// functions in trainingjob_rules.h and policy/), writes status with the job's
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
#include "reconcilers/trainingjob_rules.h"

namespace frugal::reconcilers {

inline const kube::ResourceRef kTrainingJobs{"ml.frugal.dev", "v1alpha1", "trainingjobs",
                                             "TrainingJob", true};
inline const kube::ResourceRef kPods{"", "v1", "pods", "Pod", true};
inline const kube::ResourceRef kServices{"", "v1", "services", "Service", true};

// Pod cache indexes: "<namespace>/<job>" by the job label, and spec.nodeName.
inline constexpr char kPodsByJobIndex[] = "trainingjob";
inline constexpr char kPodsByNodeIndex[] = "node";

// While workers are bound, status.cost is refreshed this often (sim seconds).
inline constexpr double kCostRefreshSeconds = 30;
// A job waiting for capacity looks again this often (sim seconds).
inline constexpr double kQueueRetrySeconds = 30;
// capacity.placementTimeoutSeconds when the spec does not say (sim seconds).
inline constexpr double kDefaultPlacementTimeoutSeconds = 300;
// A pass timed for the instant the deadline rule fires comes this much after
// it (sim seconds), so that the rule, strict at that instant, has fired.
inline constexpr double kDeadlineRuleSlackSeconds = 0.5;
// Floor of any requeue delay in real time, so a large time scale cannot spin.
inline constexpr std::chrono::milliseconds kMinRequeue{50};

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
  // Removes kCostFinalizer from a pod or a TrainingJob.
  kube::Result<void> release(const kube::ResourceRef& resource, const std::string& ns,
                             const kube::json& obj);
  std::optional<policy::PodRate> rate_of(const kube::json& pod, const policy::PriceBook& book);
  void settle(Pass& p);
  void decide(Pass& p);
  void admit(Pass& p);
  policy::FallbackInput fallback_input(Pass& p) const;
  // Applies the fallback rule; true when it just moved the job to on-demand.
  bool fall_back_if_due(Pass& p);
  // A gang whose workers wait unbound: fall back if the deadline is at risk,
  // place it again after capacity.placementTimeoutSeconds.
  void watch_binding(Pass& p, const std::vector<kube::json>& current);
  void withdraw(Pass& p, const std::string& reason, const std::string& message);
  void stop_gang(Pass& p, const std::string& reason, const std::string& message, bool interruption);
  void finish(Pass& p, const std::string& phase, const std::string& reason,
              const std::string& message);
  void account(Pass& p);
  kube::ReconcileOutcome act(Pass& p);
  // Records an Event about the job and logs it.
  void emit(const Pass& p, const kube::EventInput& e);
  // A deleted job whose workers are all settled: a CostSettled Event with
  // the final figures, then its finalizer comes off.
  kube::ReconcileOutcome let_go(Pass& p);
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
