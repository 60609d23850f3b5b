#include "reconcilers/cost_metrics.h"

#include <map>
#include <memory>
#include <set>

#include "reconcilers/policy/object_read.h"
#include "reconcilers/trainingjob.h"

namespace frugal::reconcilers {
namespace {

constexpr char kKind[] = "TrainingJob";
// Phases reported even at zero, so a dashboard's panels never go blank.
constexpr const char* kPhases[] = {"Queued",    "Admitted", "Running",  "Recovering",
                                   "Succeeded", "Failed",   "Suspended"};

using policy::object_read::num;

std::string key_of(const kube::json& job) {
  const kube::json meta = job.value("metadata", kube::json::object());
  return meta.value("namespace", "") + "/" + meta.value("name", "");
}

}  // namespace

std::vector<CostSample> trainingjob_cost_samples(const std::vector<kube::ObjectPtr>& jobs,
                                                 const std::vector<kube::ObjectPtr>& deleted) {
  std::vector<CostSample> out;
  std::map<std::pair<std::string, std::string>, int> phases;  // (namespace, phase) -> jobs
  std::map<std::string, bool> namespaces;
  for (const kube::ObjectPtr& job : jobs) {
    const kube::json meta = job->value("metadata", kube::json::object());
    const std::string ns = meta.value("namespace", "");
    namespaces[ns] = true;
    ++phases[{ns, job->value("status", kube::json::object()).value("phase", "Queued")}];
  }
  std::vector<kube::ObjectPtr> all = jobs;
  all.insert(all.end(), deleted.begin(), deleted.end());
  for (const kube::ObjectPtr& job : all) {
    const kube::json meta = job->value("metadata", kube::json::object());
    const std::string ns = meta.value("namespace", "");
    const std::string name = meta.value("name", "");
    const std::string team =
        meta.value("labels", kube::json::object()).value(kTeamLabel, std::string());
    const kube::json status = job->value("status", kube::json::object());
    const kube::json cost = status.value("cost", kube::json::object());
    const std::string capacity = status.value("capacityType", "");
    const std::vector<std::pair<std::string, std::string>> who = {{"team", team},
                                                                  {"namespace", ns},
                                                                  {"kind", kKind},
                                                                  {"name", name},
                                                                  {"capacity_type", capacity}};
    out.push_back({"frugal_cost_usd_total", "Money spent on a workload so far, in USD", true,
                   num(cost, "totalUSD"), who});
    out.push_back({"frugal_cost_rate_usd_per_hour",
                   "What a workload costs per hour right now, in USD", false,
                   num(cost, "ratePerHourUSD"), who});
    out.push_back({"frugal_spot_savings_usd_total",
                   "Money saved by running on spot instead of on-demand, in USD", true,
                   num(cost, "spotSavingsUSD"), who});
    out.push_back({"frugal_gpu_seconds_total", "GPU time a workload was billed for, in seconds",
                   true, num(cost, "gpuHours") * 3600.0, who});
    out.push_back({"frugal_trainingjob_interruptions_total",
                   "Spot interruptions a TrainingJob went through",
                   true,
                   num(status, "interruptions"),
                   {{"namespace", ns}, {"name", name}, {"reason", "SpotInterruption"}}});
    out.push_back({"frugal_trainingjob_lost_work_seconds_total",
                   "Work a TrainingJob lost to interruptions and restarts (time since its last "
                   "checkpoint), in seconds",
                   true,
                   num(cost, "lostWorkSeconds"),
                   {{"namespace", ns}, {"name", name}}});
  }
  for (const auto& [ns, present] : namespaces) {
    for (const char* phase : kPhases) {
      auto it = phases.find({ns, phase});
      out.push_back({"frugal_trainingjobs",
                     "TrainingJobs by phase",
                     false,
                     it == phases.end() ? 0.0 : static_cast<double>(it->second),
                     {{"namespace", ns}, {"phase", phase}}});
    }
  }
  return out;
}

void RecentlyDeleted::add(kube::ObjectPtr job, Clock::SteadyTime now) {
  const std::string key = key_of(*job);
  std::lock_guard lock(mu_);
  jobs_[key] = Entry{std::move(job), now};
}

std::vector<kube::ObjectPtr> RecentlyDeleted::current(Clock::SteadyTime now,
                                                      const std::vector<kube::ObjectPtr>& live) {
  std::set<std::string> live_keys;
  for (const kube::ObjectPtr& job : live) live_keys.insert(key_of(*job));
  std::vector<kube::ObjectPtr> out;
  std::lock_guard lock(mu_);
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (now - it->second.at >= retention_) {
      it = jobs_.erase(it);
      continue;
    }
    if (!live_keys.count(it->first)) out.push_back(it->second.job);
    ++it;
  }
  return out;
}

void add_cost_metrics(Manager& manager) {
  kube::Informer& jobs = manager.informer(kTrainingJobs);
  auto deleted = std::make_shared<RecentlyDeleted>(kDeletedSeriesRetention);
  const Clock& clock = manager.clock();
  jobs.add_handler(kube::EventHandler{
      nullptr, nullptr,
      [deleted, &clock](const kube::ObjectPtr& job) { deleted->add(job, clock.now()); }});
  manager.registry().add_collector([&jobs, deleted, &clock](metrics::CollectorSink& sink) {
    const std::vector<kube::ObjectPtr> live = jobs.store().list();
    for (const CostSample& s :
         trainingjob_cost_samples(live, deleted->current(clock.now(), live))) {
      std::vector<metrics::Label> labels;
      labels.reserve(s.labels.size());
      for (const auto& [k, v] : s.labels) labels.push_back({k, v});
      auto ok = s.counter ? sink.counter(s.name, s.help, s.value, labels)
                          : sink.gauge(s.name, s.help, s.value, labels);
      (void)ok;  // a refused sample is reported by the scrape itself
    }
  });
}

}  // namespace frugal::reconcilers
