// What a training job has cost, exactly, and when it should stop gambling on
// spot: cost integration over pods' bound intervals (split where a node's
// price changed), the fallback rule, and the lost-work estimate. Pure: every
// instant, including "now", is passed in.
//
// Time: instants are std::chrono::system_clock::time_point (WallTime), what
// the reconciler parses from API timestamps and what Clock::wall_now()
// returns. Durations measured between instants are multiplied by
// `time_scale` (kubesim --time-scale: sim seconds per real second, 1 on a
// real cluster); every duration in seconds in this file's results and inputs
// (billable, progress, expected runtime, restart overhead, checkpoint
// interval) is in those scaled "work" seconds.
//
// Money: double USD. Each segment costs rate x seconds / 3600 and segments
// are summed with Neumaier compensation, so a total is within ~1e-12 relative
// of the exact sum: exact to the cent for any realistic job.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "reconcilers/policy/placement.h"

namespace frugal::policy {

using WallTime = std::chrono::system_clock::time_point;

inline constexpr double kSecondsPerHour = 3600.0;

// The pod's rate from `at` on (a node price change starts a new one).
struct RateChange {
  WallTime at;
  double hourly_usd = 0;
  double on_demand_hourly_usd = 0;
};

// One pod's time bound to a node: from PodScheduled=True (binding) until it
// terminated (container finishedAt) or was deleted.
struct PodInterval {
  WallTime start;
  std::optional<WallTime> end;  // nullopt: still bound, counts until `now`
  // The pod's rates. Order does not matter; the one in effect at an instant is
  // the latest change at or before it, and the earliest change also covers
  // any time before itself (the rate known when the pod was bound).
  std::vector<RateChange> rates;
  int64_t gpus = 0;
};

// A pod with one rate for its whole interval.
PodInterval pod_interval(WallTime start, std::optional<WallTime> end, const PodRate& rate);

struct CostTotals {
  double total_usd = 0;
  double spot_savings_usd = 0;  // on-demand equivalent minus paid, same time
  double gpu_hours = 0;
  double billable_seconds = 0;  // sum over pods of bound time

  // For adding the totals persisted in status (pods long gone) to new ones.
  CostTotals& operator+=(const CostTotals& o);
};

// Integrates every pod's [start, min(end, now)) against its rates. Intervals
// that end before they start, or start after now, count zero.
CostTotals integrate_cost(const std::vector<PodInterval>& pods, WallTime now,
                          double time_scale = 1.0);

// The burn rate now: the sum of the rates in effect for pods bound at `now`.
double burn_rate_hourly_usd(const std::vector<PodInterval>& pods, WallTime now);

// ---- Fallback to on-demand ---------------------------------------------------

inline constexpr int64_t kDefaultMaxInterruptions = 3;  // contract: capacity.maxInterruptions

inline constexpr char kReasonFallbackNotAllowed[] = "FallbackNotAllowed";
inline constexpr char kReasonMaxInterruptionsReached[] = "MaxInterruptionsReached";
inline constexpr char kReasonDeadlineAtRisk[] = "DeadlineAtRisk";
inline constexpr char kReasonNoExpectedRuntime[] = "NoExpectedRuntime";
inline constexpr char kReasonSpotOnTrack[] = "SpotOnTrack";

struct FallbackInput {
  Preference preference = Preference::kSpotWithFallback;
  int64_t interruptions = 0;
  int64_t max_interruptions = kDefaultMaxInterruptions;
  std::optional<WallTime> deadline;
  std::optional<double> expected_runtime_seconds;  // runPolicy.expectedRuntimeSeconds
  double progress_seconds = 0;                     // running time minus lost work so far
  double restart_overhead_seconds = 0;             // one more spot restart, e.g. measured startup
  double time_scale = 1.0;                         // work seconds per wall second
  WallTime now;
};

struct FallbackDecision {
  bool fall_back = false;
  std::string reason;   // one of the kReason* above
  std::string message;  // for the FellBackToOnDemand condition / an Event
};

// Only SpotWithFallback falls back. It does when interruptions >=
// max_interruptions, or when a deadline is set and
//   now + (expected_runtime - progress + restart_overhead) / time_scale > deadline.
// Without an expected runtime the deadline rule cannot apply (reason
// NoExpectedRuntime, no fallback). The caller keeps a fallback sticky.
FallbackDecision should_fall_back(const FallbackInput& in);

// When the deadline rule will fire if the job makes no progress from now on
// (a gang waiting for capacity or for its workers to be bound): the instant
// the time left drops below the work left plus a restart. nullopt when the
// rule cannot apply (not SpotWithFallback, no deadline or expected runtime).
// While a gang runs, work done and time left shrink together, so the rule's
// answer only changes while it does not.
std::optional<WallTime> deadline_rule_fires_at(const FallbackInput& in);

// ---- Lost work ---------------------------------------------------------------------

inline constexpr double kDefaultCheckpointIntervalSeconds =
    600;  // contract: checkpoint.intervalSeconds

struct CheckpointPolicy {
  bool has_volume = false;  // checkpoint.volume set: checkpoints survive a restart
  double interval_seconds = kDefaultCheckpointIntervalSeconds;
};

// The work a stopped run threw away, as far as the operator can know it: the
// workload is assumed to checkpoint every interval from the run's start, so
// the last checkpoint is at start + k x interval and the loss is the time run
// since then (run mod interval). Without a checkpoint volume (or with a
// non-positive interval) the whole run is lost. A run that resumed from a
// checkpoint at a work multiple of the interval (the usual case) sees the
// same boundaries as a step-based trainer.
double lost_work_estimate(double run_seconds, const CheckpointPolicy& checkpoint);
// The same for a run from `run_start` (container started) to `stopped`.
double lost_work_estimate(WallTime run_start, WallTime stopped, const CheckpointPolicy& checkpoint,
                          double time_scale = 1.0);

}  // namespace frugal::policy
