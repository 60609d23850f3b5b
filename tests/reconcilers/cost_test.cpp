// Exact cost integration (to the cent across rate changes and several pods,
// spot savings, GPU hours, billable seconds, the time scale), the fallback
// rule, and the lost-work estimate.
#include "reconcilers/policy/cost.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace frugal::policy {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// 2024-01-01T00:00:00Z, as FakeClock starts.
const WallTime kT0 = WallTime{} + seconds(1704067200);

int64_t cents(double usd) { return std::llround(usd * 100); }

PodRate rate(double hourly, double on_demand, int64_t gpus = 0) {
  return {hourly, on_demand, gpus, PriceSource::kPriceBook};
}

TEST(CostIntegration, OnePodOneRate) {
  const std::vector<PodInterval> pods = {pod_interval(kT0, kT0 + hours(2), rate(1.006, 1.006, 1))};
  const CostTotals c = integrate_cost(pods, kT0 + hours(5));
  EXPECT_NEAR(c.total_usd, 2.012, 1e-12);
  EXPECT_NEAR(c.spot_savings_usd, 0, 1e-12);  // on-demand pays on-demand
  EXPECT_DOUBLE_EQ(c.gpu_hours, 2);
  EXPECT_DOUBLE_EQ(c.billable_seconds, 7200);
}

TEST(CostIntegration, RateChangeMidRunSplitsThePodExactlyToTheCent) {
  // Spot at 0.3018 for 90 minutes, then the node's spot price moves to 0.35.
  PodInterval pod = pod_interval(kT0, kT0 + minutes(135), rate(0.3018, 1.006, 1));
  pod.rates.push_back({kT0 + minutes(90), 0.35, 1.006});
  const CostTotals c = integrate_cost({pod}, kT0 + hours(3));
  // 0.3018 * 1.5 + 0.35 * 0.75 = 0.4527 + 0.2625
  EXPECT_NEAR(c.total_usd, 0.7152, 1e-12);
  EXPECT_EQ(cents(c.total_usd), 72);
  // 1.006 * 2.25 - 0.7152
  EXPECT_NEAR(c.spot_savings_usd, 1.5483, 1e-12);
  EXPECT_EQ(cents(c.spot_savings_usd), 155);
  EXPECT_DOUBLE_EQ(c.gpu_hours, 2.25);
  EXPECT_DOUBLE_EQ(c.billable_seconds, 135 * 60);
}

TEST(CostIntegration, RatesInAnyOrderAndOutsideTheIntervalAreHandled) {
  PodInterval pod;
  pod.start = kT0 + hours(1);
  pod.end = kT0 + hours(3);
  pod.rates = {{kT0 + hours(2), 2.0, 4.0},  // from 2h
               {kT0 + hours(5), 100, 100},  // after the pod ended: ignored
               {kT0, 1.0, 4.0}};            // before the pod: in effect at its start
  const CostTotals c = integrate_cost({pod}, kT0 + hours(6));
  EXPECT_NEAR(c.total_usd, 3.0, 1e-12);
  EXPECT_NEAR(c.spot_savings_usd, 5.0, 1e-12);

  // A first rate known only after binding still covers the time before it.
  PodInterval late;
  late.start = kT0;
  late.end = kT0 + hours(2);
  late.rates = {{kT0 + hours(1), 0.5, 1.0}};
  EXPECT_NEAR(integrate_cost({late}, kT0 + hours(2)).total_usd, 1.0, 1e-12);
}

TEST(CostIntegration, SeveralPodsOpenAndClosed) {
  const std::vector<PodInterval> pods = {
      // worker-0: whole run, still bound at now
      pod_interval(kT0, std::nullopt, rate(0.3018, 1.006, 1)),
      // worker-1: interrupted after 40 minutes
      pod_interval(kT0, kT0 + minutes(40), rate(0.3018, 1.006, 1)),
      // worker-1's replacement, on-demand after fallback, bound 20 minutes later
      pod_interval(kT0 + minutes(60), std::nullopt, rate(1.006, 1.006, 1)),
  };
  const WallTime now = kT0 + minutes(150);
  const CostTotals c = integrate_cost(pods, now);
  const double paid = 0.3018 * 2.5 + 0.3018 * (40.0 / 60) + 1.006 * 1.5;
  EXPECT_NEAR(c.total_usd, paid, 1e-12);
  EXPECT_NEAR(c.spot_savings_usd, (1.006 - 0.3018) * (2.5 + 40.0 / 60), 1e-12);
  EXPECT_NEAR(c.gpu_hours, 2.5 + 40.0 / 60 + 1.5, 1e-12);
  EXPECT_DOUBLE_EQ(c.billable_seconds, (150 + 40 + 90) * 60);
  EXPECT_NEAR(burn_rate_hourly_usd(pods, now), 0.3018 + 1.006, 1e-12);
}

TEST(CostIntegration, ManyRateChangesStayExact) {
  // An hour cut into 3600 one-second segments at an awkward rate re-sums to the rate.
  PodInterval pod;
  pod.start = kT0;
  pod.end = kT0 + hours(1);
  for (int i = 0; i < 3600; ++i) pod.rates.push_back({kT0 + seconds(i), 1.006, 1.006});
  const CostTotals c = integrate_cost({pod}, kT0 + hours(1));
  EXPECT_NEAR(c.total_usd, 1.006, 1e-13);
  // And a month of one pod at 1.006 $/h, with a sub-millisecond edge.
  const CostTotals month = integrate_cost(
      {pod_interval(kT0, kT0 + hours(24 * 30) + milliseconds(1), rate(1.006, 1.006))},
      kT0 + hours(24 * 31));
  EXPECT_NEAR(month.total_usd, 1.006 * (720 + 1e-3 / 3600), 1e-9);
  EXPECT_EQ(cents(month.total_usd), 72432);
}

TEST(CostIntegration, TimeScaleMultipliesMeasuredDurations) {
  // kubesim --time-scale 60: one real minute is a simulated hour.
  const std::vector<PodInterval> pods = {pod_interval(kT0, kT0 + minutes(2), rate(0.5, 1.5, 2))};
  const CostTotals c = integrate_cost(pods, kT0 + minutes(3), 60);
  EXPECT_NEAR(c.total_usd, 1.0, 1e-12);
  EXPECT_NEAR(c.spot_savings_usd, 2.0, 1e-12);
  EXPECT_NEAR(c.gpu_hours, 4.0, 1e-12);
  EXPECT_DOUBLE_EQ(c.billable_seconds, 7200);
}

TEST(CostIntegration, EmptyBackwardsAndFutureIntervalsCountNothing) {
  const std::vector<PodInterval> pods = {
      pod_interval(kT0 + hours(2), kT0 + hours(1), rate(1, 1, 1)),  // ends before it starts
      pod_interval(kT0 + hours(10), std::nullopt, rate(1, 1, 1)),   // starts after now
      pod_interval(kT0, kT0, rate(1, 1, 1)),                        // zero length
  };
  const CostTotals c = integrate_cost(pods, kT0 + hours(5));
  EXPECT_EQ(c.total_usd, 0);
  EXPECT_EQ(c.gpu_hours, 0);
  EXPECT_EQ(c.billable_seconds, 0);
  EXPECT_EQ(burn_rate_hourly_usd(pods, kT0 + hours(5)), 0);
}

TEST(CostIntegration, AnEndAfterNowIsClippedToNow) {
  const CostTotals c =
      integrate_cost({pod_interval(kT0, kT0 + hours(4), rate(1, 1))}, kT0 + hours(1));
  EXPECT_NEAR(c.total_usd, 1.0, 1e-12);
}

TEST(CostIntegration, PersistedTotalsAdd) {
  CostTotals persisted{10.0, 5.0, 2.0, 7200};
  persisted += CostTotals{0.25, 0.5, 1.0, 3600};
  EXPECT_DOUBLE_EQ(persisted.total_usd, 10.25);
  EXPECT_DOUBLE_EQ(persisted.spot_savings_usd, 5.5);
  EXPECT_DOUBLE_EQ(persisted.gpu_hours, 3.0);
  EXPECT_DOUBLE_EQ(persisted.billable_seconds, 10800);
}

// ---- Fallback rule ----------------------------------------------------------------

FallbackInput spot_job() {
  FallbackInput in;
  in.preference = Preference::kSpotWithFallback;
  in.max_interruptions = 3;
  in.now = kT0;
  return in;
}

TEST(FallbackRule, SpotAndOnDemandPreferencesNeverFallBack) {
  for (Preference p : {Preference::kSpot, Preference::kOnDemand}) {
    FallbackInput in = spot_job();
    in.preference = p;
    in.interruptions = 10;
    in.deadline = kT0 - hours(1);
    in.expected_runtime_seconds = 3600;
    const FallbackDecision d = should_fall_back(in);
    EXPECT_FALSE(d.fall_back);
    EXPECT_EQ(d.reason, kReasonFallbackNotAllowed);
    EXPECT_NE(d.message.find(std::string(to_string(p))), std::string::npos) << d.message;
  }
}

TEST(FallbackRule, FallsBackAtMaxInterruptions) {
  FallbackInput in = spot_job();
  in.interruptions = 2;
  EXPECT_FALSE(should_fall_back(in).fall_back);
  EXPECT_EQ(should_fall_back(in).reason, kReasonSpotOnTrack);
  in.interruptions = 3;
  const FallbackDecision d = should_fall_back(in);
  EXPECT_TRUE(d.fall_back);
  EXPECT_EQ(d.reason, kReasonMaxInterruptionsReached);
  EXPECT_EQ(d.message, "3 spot interruption(s) reached maxInterruptions 3");
  in.interruptions = 4;
  EXPECT_TRUE(should_fall_back(in).fall_back);
  // maxInterruptions 0: on-demand from the start (0 >= 0).
  in.interruptions = 0;
  in.max_interruptions = 0;
  EXPECT_TRUE(should_fall_back(in).fall_back);
}

TEST(FallbackRule, AWaitingJobKnowsWhenTheDeadlineRuleWillFire) {
  FallbackInput in = spot_job();
  EXPECT_FALSE(deadline_rule_fires_at(in)) << "no deadline";
  in.deadline = kT0 + hours(2);
  EXPECT_FALSE(deadline_rule_fires_at(in)) << "no expected runtime";
  in.expected_runtime_seconds = 3 * 3600;
  in.restart_overhead_seconds = 300;
  in.progress_seconds = 1.5 * 3600;
  in.time_scale = 10;  // 1.5 h of work + 5 min = 5700 sim s = 570 s of wall time
  auto fires = deadline_rule_fires_at(in);
  ASSERT_TRUE(fires);
  EXPECT_EQ(*fires, kT0 + hours(2) - std::chrono::seconds(570));
  // Waiting without progress: on track just before, at risk just after.
  in.now = *fires - std::chrono::milliseconds(1);
  EXPECT_FALSE(should_fall_back(in).fall_back);
  in.now = *fires + std::chrono::milliseconds(1);
  EXPECT_EQ(should_fall_back(in).reason, kReasonDeadlineAtRisk);
  in.preference = Preference::kSpot;
  EXPECT_FALSE(deadline_rule_fires_at(in)) << "only SpotWithFallback falls back";
}

TEST(FallbackRule, DeadlineAtRiskWhenRemainingWorkPlusARestartOverrunsIt) {
  FallbackInput in = spot_job();
  in.deadline = kT0 + hours(2);
  in.expected_runtime_seconds = 3 * 3600;
  in.restart_overhead_seconds = 300;
  in.progress_seconds = 1.5 * 3600;  // 1.5 h left + 5 min < 2 h
  FallbackDecision d = should_fall_back(in);
  EXPECT_FALSE(d.fall_back);
  EXPECT_EQ(d.reason, kReasonSpotOnTrack);

  in.progress_seconds = 3900;  // 1h55m left + 5 min: exactly 2 h, still fits
  EXPECT_FALSE(should_fall_back(in).fall_back);

  in.progress_seconds = 3899;  // one second more
  d = should_fall_back(in);
  EXPECT_TRUE(d.fall_back);
  EXPECT_EQ(d.reason, kReasonDeadlineAtRisk);
  EXPECT_EQ(d.message,
            "1h55m1s of work left plus a 5m0s spot restart would not finish before the deadline "
            "(2h0m0s left)");
}

TEST(FallbackRule, PassedDeadlineFallsBack) {
  FallbackInput in = spot_job();
  in.deadline = kT0 - minutes(1);
  in.expected_runtime_seconds = 600;
  in.progress_seconds = 599;
  EXPECT_TRUE(should_fall_back(in).fall_back);
}

TEST(FallbackRule, ProgressBeyondTheExpectedRuntimeLeavesOnlyTheRestart) {
  FallbackInput in = spot_job();
  in.deadline = kT0 + minutes(10);
  in.expected_runtime_seconds = 600;
  in.progress_seconds = 900;
  in.restart_overhead_seconds = 120;
  EXPECT_FALSE(should_fall_back(in).fall_back);
}

TEST(FallbackRule, WithoutExpectedRuntimeTheDeadlineRuleCannotApply) {
  FallbackInput in = spot_job();
  in.deadline = kT0 - hours(1);  // even a passed deadline
  const FallbackDecision d = should_fall_back(in);
  EXPECT_FALSE(d.fall_back);
  EXPECT_EQ(d.reason, kReasonNoExpectedRuntime);
  EXPECT_NE(d.message.find("expectedRuntimeSeconds"), std::string::npos) << d.message;
  // Interruptions still count.
  in.interruptions = 3;
  EXPECT_EQ(should_fall_back(in).reason, kReasonMaxInterruptionsReached);
}

TEST(FallbackRule, InterruptionsAreCheckedBeforeTheDeadline) {
  FallbackInput in = spot_job();
  in.interruptions = 3;
  in.deadline = kT0 - hours(1);
  in.expected_runtime_seconds = 3600;
  EXPECT_EQ(should_fall_back(in).reason, kReasonMaxInterruptionsReached);
}

TEST(FallbackRule, TimeScaleShrinksTheWallTimeWorkNeeds) {
  FallbackInput in = spot_job();
  in.deadline = kT0 + minutes(2);
  in.expected_runtime_seconds = 3600;  // one simulated hour
  in.restart_overhead_seconds = 600;
  EXPECT_TRUE(should_fall_back(in).fall_back);  // at scale 1: 70 minutes > 2
  in.time_scale = 60;                           // 70 sim-minutes = 70 real seconds
  EXPECT_FALSE(should_fall_back(in).fall_back);
}

// ---- Lost work ------------------------------------------------------------------------

TEST(LostWork, WithoutACheckpointVolumeTheWholeRunIsLost) {
  EXPECT_DOUBLE_EQ(lost_work_estimate(1500, CheckpointPolicy{false, 600}), 1500);
}

TEST(LostWork, WithCheckpointsOnlyTimeSinceTheLastBoundaryIsLost) {
  const CheckpointPolicy every_10m{true, 600};
  EXPECT_DOUBLE_EQ(lost_work_estimate(1500, every_10m), 300);
  EXPECT_DOUBLE_EQ(lost_work_estimate(1200, every_10m), 0);
  EXPECT_DOUBLE_EQ(lost_work_estimate(599, every_10m), 599);  // before the first checkpoint
  EXPECT_DOUBLE_EQ(lost_work_estimate(0, every_10m), 0);
  EXPECT_DOUBLE_EQ(lost_work_estimate(-5, every_10m), 0);
  EXPECT_DOUBLE_EQ(lost_work_estimate(100, CheckpointPolicy{true, 0}), 100);
  EXPECT_DOUBLE_EQ(CheckpointPolicy{}.interval_seconds, 600);
}

TEST(LostWork, FromInstantsWithTheTimeScale) {
  const CheckpointPolicy every_10m{true, 600};
  EXPECT_DOUBLE_EQ(lost_work_estimate(kT0, kT0 + seconds(1500), every_10m), 300);
  // 25 real seconds at 60x are 1500 sim seconds.
  EXPECT_DOUBLE_EQ(lost_work_estimate(kT0, kT0 + seconds(25), every_10m, 60), 300);
}

}  // namespace
}  // namespace frugal::policy
