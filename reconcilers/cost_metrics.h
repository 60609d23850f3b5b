// The cost metrics Frugal exports, read at scrape time from the TrainingJob
// cache: what each job has cost, what it burns per hour, what spot saved, its
// GPU time, interruptions and lost work, and how many jobs are in each phase.
// Status is the source of truth (persisted, so a controller restart loses
// nothing); a job's series disappear with the job. Counters carry the job's
// cumulative totals, so Prometheus' rate() and increase() work across
// controller restarts.
#pragma once

#include <string>
#include <vector>

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

// The samples for these TrainingJobs (pure: tests pin every series).
std::vector<CostSample> trainingjob_cost_samples(const std::vector<kube::ObjectPtr>& jobs);

// Serves them on the manager's /metrics from its TrainingJob informer.
void add_cost_metrics(Manager& manager);

}  // namespace frugal::reconcilers
