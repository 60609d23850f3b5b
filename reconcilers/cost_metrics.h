// The cost metrics Frugal exports, read at scrape time from the TrainingJob
// cache: what each job has cost, what it burns per hour, what spot saved, its
// GPU time, interruptions and lost work, and how many jobs are in each phase.
// Status is the source of truth (persisted, so a controller restart loses
// nothing). A deleted job's series stay, at their settled final values, for
// kDeletedSeriesRetention after it is gone (so the next scrapes record the
// cost its workers ran up while being stopped), then disappear. Counters carry the job's
// cumulative totals, so Prometheus' rate() and increase() work across
// controller restarts.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "controller/kube/cache_store.h"
#include "controller/manager.h"

namespace frugal::reconcilers {

// A job's team: its label frugal.dev/team (empty until Teams exist).
inline constexpr char kTeamLabel[] = "frugal.dev/team";

struct CostSample {
  std::string name;
  std::string help;
  bool counter = false;  // else gauge
  double value = 0;
  std::vector<std::pair<std::string, std::string>> labels;
};

// How long a deleted job's final series are still served: several scrape
// intervals at any usual setting.
inline constexpr std::chrono::minutes kDeletedSeriesRetention{10};

// The samples for these TrainingJobs (pure: tests pin every series).
// `deleted`: final states of jobs gone recently; they report their cost
// series but are not counted in frugal_trainingjobs.
std::vector<CostSample> trainingjob_cost_samples(const std::vector<kube::ObjectPtr>& jobs,
                                                 const std::vector<kube::ObjectPtr>& deleted = {});

// The final states of deleted jobs, each kept for `retention` after its
// deletion was seen. Thread-safe (informer handlers add, scrapes read).
class RecentlyDeleted {
 public:
  explicit RecentlyDeleted(Clock::Duration retention) : retention_(retention) {}
  void add(kube::ObjectPtr job, Clock::SteadyTime now);
  // Those deleted less than `retention` before `now`, except any whose
  // namespace/name is among `live` again (a new job of the same name owns
  // the series). Forgets the expired ones.
  std::vector<kube::ObjectPtr> current(Clock::SteadyTime now,
                                       const std::vector<kube::ObjectPtr>& live);

 private:
  struct Entry {
    kube::ObjectPtr job;
    Clock::SteadyTime at;
  };
  Clock::Duration retention_;
  std::mutex mu_;
  std::map<std::string, Entry> jobs_;  // by namespace/name
};

// Serves them on the manager's /metrics from its TrainingJob informer.
void add_cost_metrics(Manager& manager);

}  // namespace frugal::reconcilers
