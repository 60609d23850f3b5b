#include "reconcilers/cost_metrics.h"

#include <map>

#include "reconcilers/trainingjob.h"

namespace frugal::reconcilers {
namespace {

constexpr char kKind[] = "TrainingJob";
// Phases reported even at zero, so a dashboard's panels never go blank.
constexpr const char* kPhases[] = {"Queued",    "Admitted", "Running",  "Recovering",
                                   "Succeeded", "Failed",   "Suspended"};

double number_at(const kube::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? it->get<double>() : 0.0;
}

}  // namespace

std::vector<CostSample> trainingjob_cost_samples(const std::vector<kube::ObjectPtr>& jobs) {
  std::vector<CostSample> out;
  std::map<std::pair<std::string, std::string>, int> phases;  // (namespace, phase) -> jobs
  std::map<std::string, bool> namespaces;
  for (const kube::ObjectPtr& job : jobs) {
    const kube::json meta = job->value("metadata", kube::json::object());
    const std::string ns = meta.value("namespace", "");
    const std::string name = meta.value("name", "");
    const std::string team =
        meta.value("labels", kube::json::object()).value(kTeamLabel, std::string());
    const kube::json status = job->value("status", kube::json::object());
    const kube::json cost = status.value("cost", kube::json::object());
    const std::string capacity = status.value("capacityType", "");
    const std::string phase = status.value("phase", "Queued");
    namespaces[ns] = true;
    ++phases[{ns, phase}];
    const std::vector<std::pair<std::string, std::string>> who = {{"team", team},
                                                                  {"namespace", ns},
                                                                  {"kind", kKind},
                                                                  {"name", name},
                                                                  {"capacity_type", capacity}};
    out.push_back({"frugal_cost_usd_total", "Money spent on a workload so far, in USD", true,
                   number_at(cost, "totalUSD"), who});
    out.push_back({"frugal_cost_rate_usd_per_hour",
                   "What a workload costs per hour right now, in USD", false,
                   number_at(cost, "ratePerHourUSD"), who});
    out.push_back({"frugal_spot_savings_usd_total",
                   "Money saved by running on spot instead of on-demand, in USD", true,
                   number_at(cost, "spotSavingsUSD"), who});
    out.push_back({"frugal_gpu_seconds_total", "GPU time a workload was billed for, in seconds",
                   true, number_at(cost, "gpuHours") * 3600.0, who});
    out.push_back({"frugal_trainingjob_interruptions_total",
                   "Spot interruptions a TrainingJob went through",
                   true,
                   number_at(status, "interruptions"),
                   {{"namespace", ns}, {"name", name}, {"reason", "SpotInterruption"}}});
    out.push_back({"frugal_trainingjob_lost_work_seconds_total",
                   "Work a TrainingJob lost to interruptions and restarts (time since its last "
                   "checkpoint), in seconds",
                   true,
                   number_at(cost, "lostWorkSeconds"),
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

void add_cost_metrics(Manager& manager) {
  const kube::Informer& jobs = manager.informer(kTrainingJobs);
  manager.registry().add_collector([&jobs](metrics::CollectorSink& sink) {
    for (const CostSample& s : trainingjob_cost_samples(jobs.store().list())) {
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
