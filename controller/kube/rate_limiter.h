// How long to wait before retrying: client-go's work-queue rate limiters
// (k8s.io/client-go/util/workqueue/default_rate_limiters.go) and the
// reflector's list/watch backoff (k8s.io/apimachinery/pkg/util/wait,
// ExponentialBackoffManager). All take an injected Clock so tests need no
// real time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"

namespace frugal::kube {

// client-go defaults (util/workqueue/default_rate_limiters.go,
// DefaultTypedControllerRateLimiter): per-item exponential 5 ms .. 1000 s,
// overall token bucket 10 qps with a burst of 100.
inline constexpr std::chrono::nanoseconds kDefaultItemBaseDelay = std::chrono::milliseconds(5);
inline constexpr std::chrono::nanoseconds kDefaultItemMaxDelay = std::chrono::seconds(1000);
inline constexpr double kDefaultBucketQps = 10.0;
inline constexpr int kDefaultBucketBurst = 100;

// Decides how long an item waits before it is retried. Implementations are
// thread-safe: the work queue calls them from every worker.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // The delay before `item` may be processed again; counts as one failure.
  virtual std::chrono::nanoseconds when(const std::string& item) = 0;
  // The item succeeded (or was given up on): drop its failure history.
  virtual void forget(const std::string& item) = 0;
  // Failures recorded for `item` since it was last forgotten.
  virtual int num_requeues(const std::string& item) const = 0;
};

// base * 2^failures, capped at max_delay, per item.
class ItemExponentialFailureRateLimiter final : public RateLimiter {
 public:
  explicit ItemExponentialFailureRateLimiter(
      std::chrono::nanoseconds base_delay = kDefaultItemBaseDelay,
      std::chrono::nanoseconds max_delay = kDefaultItemMaxDelay);

  std::chrono::nanoseconds when(const std::string& item) override;
  void forget(const std::string& item) override;
  int num_requeues(const std::string& item) const override;

 private:
  const std::chrono::nanoseconds base_delay_;
  const std::chrono::nanoseconds max_delay_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, int> failures_;
};

// An overall token bucket, as golang.org/x/time/rate's Limiter.Reserve():
// the bucket starts full, refills at `qps` tokens a second up to `burst`,
// and every when() takes a token, going into debt when empty, so the delay
// is the time until that debt is repaid. Not per item: forget() and
// num_requeues() do nothing. `qps` must be positive.
class BucketRateLimiter final : public RateLimiter {
 public:
  explicit BucketRateLimiter(const Clock& clock = real_clock(), double qps = kDefaultBucketQps,
                             int burst = kDefaultBucketBurst);

  std::chrono::nanoseconds when(const std::string& item) override;
  void forget(const std::string& item) override;
  int num_requeues(const std::string& item) const override;

 private:
  const Clock& clock_;
  const double qps_;
  const double burst_;
  std::mutex mu_;
  double tokens_;
  Clock::SteadyTime last_;
};

// The longest delay any of its limiters asks for; forget() goes to all of
// them; num_requeues() is the largest count.
class MaxOfRateLimiter final : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);

  std::chrono::nanoseconds when(const std::string& item) override;
  void forget(const std::string& item) override;
  int num_requeues(const std::string& item) const override;

 private:
  std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

// client-go's DefaultControllerRateLimiter: max(per-item exponential 5 ms ..
// 1000 s, bucket 10 qps / burst 100). The bucket only limits overall retry
// speed; the per-item part is what a single failing key sees.
std::unique_ptr<RateLimiter> default_controller_rate_limiter(const Clock& clock = real_clock());

// Reflector list/watch backoff defaults, from k8s.io/client-go/tools/cache/
// reflector.go NewReflectorWithOptions:
//   wait.NewExponentialBackoffManager(800*time.Millisecond, 30*time.Second,
//                                     2*time.Minute, 2.0, 1.0, realClock)
// "backoff will stop at [30,60) sec interval which is 0.22 QPS. If we don't
// backoff for 2min, assume API server is healthy and we reset the backoff."
struct BackoffOptions {
  std::chrono::nanoseconds initial = std::chrono::milliseconds(800);
  std::chrono::nanoseconds max = std::chrono::seconds(30);  // cap on the un-jittered step; 0: none
  std::chrono::nanoseconds reset_after = std::chrono::minutes(2);
  double factor = 2.0;
  double jitter = 1.0;  // each delay is d + uniform[0,1) * jitter * d
};

// Exponential backoff between failed list/watch attempts, as
// wait.exponentialBackoffManagerImpl + wait.Backoff.Step():
//   * delays grow initial, initial*factor, ... ; the un-jittered value is
//     capped at `max`, jitter is added on top (so capped delays are in
//     [max, max*(1+jitter)));
//   * if more than `reset_after` passed since the previous next() (or since
//     construction), the sequence starts again from `initial`.
// One Backoff belongs to one retry loop; it is not thread-safe.
class Backoff {
 public:
  // Returns a uniformly distributed value in [0, 1).
  using RandomSource = std::function<double()>;

  // A null `random` uses a private Mersenne Twister seeded from
  // std::random_device.
  explicit Backoff(const Clock& clock = real_clock(), BackoffOptions options = {},
                   RandomSource random = nullptr);

  // How long to wait before the next attempt; call once per failure.
  std::chrono::nanoseconds next();
  // Start again from `initial` (e.g. after a watch ran long enough to count as healthy).
  void reset();

  const BackoffOptions& options() const { return options_; }

 private:
  const Clock& clock_;
  BackoffOptions options_;
  RandomSource random_;
  std::chrono::nanoseconds current_;  // the un-jittered next step
  bool capped_ = false;               // current_ reached options_.max; stop growing
  Clock::SteadyTime last_start_;      // when next() was last called
};

}  // namespace frugal::kube
