// The cost metrics read from TrainingJob status: every series and label.
#include "reconcilers/cost_metrics.h"

#include <gtest/gtest.h>

namespace frugal::reconcilers {
namespace {

kube::ObjectPtr job(const std::string& ns, const std::string& name, const std::string& phase,
                    double total, const std::string& team = "") {
  kube::json j = {{"metadata", {{"namespace", ns}, {"name", name}}},
                  {"status",
                   {{"phase", phase},
                    {"capacityType", "spot"},
                    {"interruptions", 2},
                    {"cost",
                     {{"totalUSD", total},
                      {"ratePerHourUSD", 0.6},
                      {"spotSavingsUSD", 1.25},
                      {"gpuHours", 0.5},
                      {"lostWorkSeconds", 120}}}}}};
  if (!team.empty()) j["metadata"]["labels"] = {{kTeamLabel, team}};
  return std::make_shared<const kube::json>(j);
}

const CostSample* find(const std::vector<CostSample>& samples, const std::string& name,
                       const std::string& label, const std::string& value) {
  for (const CostSample& s : samples) {
    if (s.name != name) continue;
    for (const auto& [k, v] : s.labels) {
      if (k == label && v == value) return &s;
    }
  }
  return nullptr;
}

TEST(CostMetrics, EachJobReportsItsSpendRateSavingsGpuTimeInterruptionsAndLostWork) {
  const auto samples = trainingjob_cost_samples({job("ml", "llama", "Running", 3.5, "nlp")});
  const CostSample* cost = find(samples, "frugal_cost_usd_total", "name", "llama");
  ASSERT_NE(cost, nullptr);
  EXPECT_TRUE(cost->counter);
  EXPECT_DOUBLE_EQ(cost->value, 3.5);
  EXPECT_EQ(cost->labels,
            (std::vector<std::pair<std::string, std::string>>{{"team", "nlp"},
                                                              {"namespace", "ml"},
                                                              {"kind", "TrainingJob"},
                                                              {"name", "llama"},
                                                              {"capacity_type", "spot"}}));
  EXPECT_DOUBLE_EQ(find(samples, "frugal_cost_rate_usd_per_hour", "name", "llama")->value, 0.6);
  EXPECT_FALSE(find(samples, "frugal_cost_rate_usd_per_hour", "name", "llama")->counter);
  EXPECT_DOUBLE_EQ(find(samples, "frugal_spot_savings_usd_total", "name", "llama")->value, 1.25);
  EXPECT_DOUBLE_EQ(find(samples, "frugal_gpu_seconds_total", "name", "llama")->value, 1800);
  EXPECT_DOUBLE_EQ(find(samples, "frugal_trainingjob_interruptions_total", "name", "llama")->value,
                   2);
  EXPECT_DOUBLE_EQ(
      find(samples, "frugal_trainingjob_lost_work_seconds_total", "name", "llama")->value, 120);
}

TEST(CostMetrics, JobsArePerPhaseWithEveryPhasePresentAndATeamlessJobHasAnEmptyTeam) {
  const auto samples = trainingjob_cost_samples(
      {job("ml", "a", "Running", 1), job("ml", "b", "Running", 1), job("ml", "c", "Succeeded", 1)});
  int running = -1, succeeded = -1, failed = -1;
  for (const CostSample& s : samples) {
    if (s.name != "frugal_trainingjobs") continue;
    if (s.labels[1].second == "Running") running = static_cast<int>(s.value);
    if (s.labels[1].second == "Succeeded") succeeded = static_cast<int>(s.value);
    if (s.labels[1].second == "Failed") failed = static_cast<int>(s.value);
  }
  EXPECT_EQ(running, 2);
  EXPECT_EQ(succeeded, 1);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(find(samples, "frugal_cost_usd_total", "name", "a")->labels[0],
            (std::pair<std::string, std::string>{"team", ""}));
}

TEST(CostMetrics, ADeletedJobKeepsItsFinalSeriesForTheRetentionButLeavesThePhaseCounts) {
  using std::chrono::minutes;
  const Clock::SteadyTime t0{};
  RecentlyDeleted deleted(minutes(10));
  deleted.add(job("ml", "gone", "Succeeded", 4.25), t0);
  const std::vector<kube::ObjectPtr> live = {job("ml", "other", "Running", 1)};

  auto kept = deleted.current(t0 + minutes(9), live);
  ASSERT_EQ(kept.size(), 1u);
  const auto samples = trainingjob_cost_samples(live, kept);
  ASSERT_NE(find(samples, "frugal_cost_usd_total", "name", "gone"), nullptr);
  EXPECT_DOUBLE_EQ(find(samples, "frugal_cost_usd_total", "name", "gone")->value, 4.25);
  for (const CostSample& s : samples) {
    if (s.name == "frugal_trainingjobs" && s.labels[1].second == "Succeeded") {
      EXPECT_EQ(s.value, 0) << "a deleted job is no longer a job in any phase";
    }
  }
  // A new job of the same name owns the series at once.
  EXPECT_TRUE(deleted.current(t0 + minutes(9), {job("ml", "gone", "Queued", 0)}).empty());
  // After the retention the series go.
  EXPECT_TRUE(deleted.current(t0 + minutes(10), live).empty());
  EXPECT_TRUE(deleted.current(t0 + minutes(1), live).empty()) << "forgotten, not hidden";
}

TEST(CostMetrics, NoJobsNoSeries) { EXPECT_TRUE(trainingjob_cost_samples({}).empty()); }

}  // namespace
}  // namespace frugal::reconcilers
