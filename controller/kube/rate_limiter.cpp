#include "controller/kube/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <utility>

namespace frugal::kube {

ItemExponentialFailureRateLimiter::ItemExponentialFailureRateLimiter(
    std::chrono::nanoseconds base_delay, std::chrono::nanoseconds max_delay)
    : base_delay_(base_delay), max_delay_(max_delay) {}

std::chrono::nanoseconds ItemExponentialFailureRateLimiter::when(const std::string& item) {
  int exp = 0;
  {
    std::lock_guard<std::mutex> guard(mu_);
    int& failures = failures_[item];
    exp = failures;
    if (failures < std::numeric_limits<int>::max()) ++failures;
  }
  // Computed in floating point, as client-go does, so a large exponent
  // saturates at max_delay instead of overflowing.
  const double backoff = static_cast<double>(base_delay_.count()) * std::pow(2.0, exp);
  if (backoff >= static_cast<double>(max_delay_.count())) return max_delay_;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(backoff));
}

void ItemExponentialFailureRateLimiter::forget(const std::string& item) {
  std::lock_guard<std::mutex> guard(mu_);
  failures_.erase(item);
}

int ItemExponentialFailureRateLimiter::num_requeues(const std::string& item) const {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = failures_.find(item);
  return it == failures_.end() ? 0 : it->second;
}

BucketRateLimiter::BucketRateLimiter(const Clock& clock, double qps, int burst)
    : clock_(clock),
      qps_(qps),
      burst_(static_cast<double>(burst)),
      tokens_(static_cast<double>(burst)),
      last_(clock.now()) {}

std::chrono::nanoseconds BucketRateLimiter::when(const std::string& /*item*/) {
  std::lock_guard<std::mutex> guard(mu_);
  const Clock::SteadyTime now = clock_.now();
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  tokens_ -= 1.0;
  if (tokens_ >= 0.0) return std::chrono::nanoseconds::zero();
  // Time until the debt is repaid at qps_ tokens a second.
  return std::chrono::nanoseconds(static_cast<std::int64_t>(-tokens_ * 1e9 / qps_));
}

void BucketRateLimiter::forget(const std::string& /*item*/) {}

int BucketRateLimiter::num_requeues(const std::string& /*item*/) const { return 0; }

MaxOfRateLimiter::MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {}

std::chrono::nanoseconds MaxOfRateLimiter::when(const std::string& item) {
  // Every limiter is asked, not just until one is large: each records the call.
  std::chrono::nanoseconds longest = std::chrono::nanoseconds::zero();
  for (auto& limiter : limiters_) longest = std::max(longest, limiter->when(item));
  return longest;
}

void MaxOfRateLimiter::forget(const std::string& item) {
  for (auto& limiter : limiters_) limiter->forget(item);
}

int MaxOfRateLimiter::num_requeues(const std::string& item) const {
  int most = 0;
  for (const auto& limiter : limiters_) most = std::max(most, limiter->num_requeues(item));
  return most;
}

std::unique_ptr<RateLimiter> default_controller_rate_limiter(const Clock& clock) {
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(std::make_unique<ItemExponentialFailureRateLimiter>(kDefaultItemBaseDelay,
                                                                         kDefaultItemMaxDelay));
  limiters.push_back(
      std::make_unique<BucketRateLimiter>(clock, kDefaultBucketQps, kDefaultBucketBurst));
  return std::make_unique<MaxOfRateLimiter>(std::move(limiters));
}

namespace {

Backoff::RandomSource default_random_source() {
  // Shared state lives in the closure; Backoff is single-owner, so no lock.
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [engine]() { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

}  // namespace

Backoff::Backoff(const Clock& clock, BackoffOptions options, RandomSource random)
    : clock_(clock),
      options_(options),
      random_(random ? std::move(random) : default_random_source()),
      current_(options.initial),
      last_start_(clock.now()) {}

std::chrono::nanoseconds Backoff::next() {
  const Clock::SteadyTime now = clock_.now();
  if (now - last_start_ > options_.reset_after) {
    current_ = options_.initial;
    capped_ = false;
  }
  last_start_ = now;

  // As wait.Backoff.Step(): return the current step, then grow it; once the
  // cap is hit the step stays there.
  const std::chrono::nanoseconds step = current_;
  if (!capped_ && options_.factor != 0.0) {
    const double grown = static_cast<double>(current_.count()) * options_.factor;
    const bool has_cap = options_.max > std::chrono::nanoseconds::zero();
    if (has_cap && grown > static_cast<double>(options_.max.count())) {
      current_ = options_.max;
      capped_ = true;
    } else {
      current_ = std::chrono::nanoseconds(static_cast<std::int64_t>(
          std::min(grown, static_cast<double>(std::numeric_limits<std::int64_t>::max()) / 2.0)));
    }
  }
  if (options_.jitter <= 0.0) return step;
  const double extra = random_() * options_.jitter * static_cast<double>(step.count());
  return step + std::chrono::nanoseconds(static_cast<std::int64_t>(extra));
}

void Backoff::reset() {
  current_ = options_.initial;
  capped_ = false;
  last_start_ = clock_.now();
}

}  // namespace frugal::kube
