#include "reconcilers/policy/cost.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "reconcilers/policy/object_read.h"

namespace frugal::policy {
namespace {

// Neumaier's compensated sum: exact to within one rounding of the result for
// the few thousand terms a job produces.
class Sum {
 public:
  void add(double x) {
    const double t = sum_ + x;
    if (std::abs(sum_) >= std::abs(x)) {
      carry_ += (sum_ - t) + x;
    } else {
      carry_ += (x - t) + sum_;
    }
    sum_ = t;
  }
  double value() const { return sum_ + carry_; }

 private:
  double sum_ = 0;
  double carry_ = 0;
};

using object_read::seconds_between;

std::vector<RateChange> sorted(std::vector<RateChange> rates) {
  std::stable_sort(rates.begin(), rates.end(),
                   [](const RateChange& a, const RateChange& b) { return a.at < b.at; });
  return rates;
}

// "1h2m3s" for messages, whole seconds.
std::string duration_text(double seconds) {
  const bool negative = seconds < 0;
  auto s = static_cast<int64_t>(std::llround(std::abs(seconds)));
  std::string out = negative ? "-" : "";
  if (s >= 3600) out += std::to_string(s / 3600) + "h";
  if (s >= 60) out += std::to_string(s / 60 % 60) + "m";
  out += std::to_string(s % 60) + "s";
  return out;
}

}  // namespace

PodInterval pod_interval(WallTime start, std::optional<WallTime> end, const PodRate& rate) {
  PodInterval p;
  p.start = start;
  p.end = end;
  p.rates = {RateChange{start, rate.hourly_usd, rate.on_demand_hourly_usd}};
  p.gpus = rate.gpus;
  return p;
}

CostTotals& CostTotals::operator+=(const CostTotals& o) {
  total_usd += o.total_usd;
  spot_savings_usd += o.spot_savings_usd;
  gpu_hours += o.gpu_hours;
  billable_seconds += o.billable_seconds;
  return *this;
}

CostTotals integrate_cost(const std::vector<PodInterval>& pods, WallTime now, double time_scale) {
  Sum paid;
  Sum on_demand;
  Sum gpu_hours;
  Sum billable;
  for (const PodInterval& pod : pods) {
    const WallTime end = std::min(pod.end.value_or(now), now);
    if (end <= pod.start) continue;
    const double seconds = seconds_between(pod.start, end) * time_scale;
    billable.add(seconds);
    gpu_hours.add(static_cast<double>(pod.gpus) * seconds / kSecondsPerHour);

    const std::vector<RateChange> rates = sorted(pod.rates);
    for (size_t i = 0; i < rates.size(); ++i) {
      // Segment i covers [rates[i].at, rates[i+1].at), the first from -inf.
      const WallTime from = i == 0 ? pod.start : std::max(pod.start, rates[i].at);
      const WallTime to = i + 1 < rates.size() ? std::min(end, rates[i + 1].at) : end;
      if (to <= from) continue;
      const double hours = seconds_between(from, to) * time_scale / kSecondsPerHour;
      paid.add(rates[i].hourly_usd * hours);
      on_demand.add(rates[i].on_demand_hourly_usd * hours);
    }
  }
  CostTotals out;
  out.total_usd = paid.value();
  // Savings as one compensated difference, not two rounded totals.
  Sum savings = on_demand;
  savings.add(-out.total_usd);
  out.spot_savings_usd = savings.value();
  out.gpu_hours = gpu_hours.value();
  out.billable_seconds = billable.value();
  return out;
}

double burn_rate_hourly_usd(const std::vector<PodInterval>& pods, WallTime now) {
  Sum rate;
  for (const PodInterval& pod : pods) {
    if (pod.start > now || (pod.end && *pod.end <= now) || pod.rates.empty()) continue;
    const std::vector<RateChange> rates = sorted(pod.rates);
    const RateChange* current = &rates.front();
    for (const auto& r : rates) {
      if (r.at <= now) current = &r;
    }
    rate.add(current->hourly_usd);
  }
  return rate.value();
}

FallbackDecision should_fall_back(const FallbackInput& in) {
  if (in.preference != Preference::kSpotWithFallback) {
    return {false, kReasonFallbackNotAllowed,
            "capacity preference " + std::string(to_string(in.preference)) +
                " never falls back to on-demand"};
  }
  if (in.interruptions >= in.max_interruptions) {
    return {true, kReasonMaxInterruptionsReached,
            std::to_string(in.interruptions) + " spot interruption(s) reached maxInterruptions " +
                std::to_string(in.max_interruptions)};
  }
  const std::string interruptions = std::to_string(in.interruptions) + " of " +
                                    std::to_string(in.max_interruptions) +
                                    " allowed interruption(s)";
  if (!in.deadline) return {false, kReasonSpotOnTrack, interruptions + "; no deadline"};
  if (!in.expected_runtime_seconds) {
    return {false, kReasonNoExpectedRuntime,
            interruptions +
                "; a deadline is set but runPolicy.expectedRuntimeSeconds is not, so "
                "the deadline rule cannot apply"};
  }
  const double remaining = std::max(0.0, *in.expected_runtime_seconds - in.progress_seconds);
  const double scale = in.time_scale > 0 ? in.time_scale : 1.0;
  const double needed_wall = (remaining + in.restart_overhead_seconds) / scale;
  const double left_wall = seconds_between(in.now, *in.deadline);
  const std::string budget = duration_text(remaining) + " of work left plus a " +
                             duration_text(in.restart_overhead_seconds) + " spot restart";
  if (needed_wall > left_wall) {
    return {true, kReasonDeadlineAtRisk,
            budget + " would not finish before the deadline (" + duration_text(left_wall * scale) +
                " left)"};
  }
  return {false, kReasonSpotOnTrack,
          interruptions + "; " + budget + " fits before the deadline (" +
              duration_text(left_wall * scale) + " left)"};
}

std::optional<WallTime> deadline_rule_fires_at(const FallbackInput& in) {
  if (in.preference != Preference::kSpotWithFallback || !in.deadline ||
      !in.expected_runtime_seconds) {
    return std::nullopt;
  }
  const double remaining = std::max(0.0, *in.expected_runtime_seconds - in.progress_seconds);
  const double scale = in.time_scale > 0 ? in.time_scale : 1.0;
  const double needed_wall = (remaining + in.restart_overhead_seconds) / scale;
  return *in.deadline -
         std::chrono::duration_cast<WallTime::duration>(std::chrono::duration<double>(needed_wall));
}

double lost_work_estimate(double run_seconds, const CheckpointPolicy& checkpoint) {
  if (run_seconds <= 0) return 0;
  if (!checkpoint.has_volume || !(checkpoint.interval_seconds > 0)) return run_seconds;
  return std::fmod(run_seconds, checkpoint.interval_seconds);
}

double lost_work_estimate(WallTime run_start, WallTime stopped, const CheckpointPolicy& checkpoint,
                          double time_scale) {
  return lost_work_estimate(seconds_between(run_start, stopped) * time_scale, checkpoint);
}

}  // namespace frugal::policy
