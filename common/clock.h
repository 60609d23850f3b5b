// An injectable clock, so that everything that depends on time (work-queue
// delays, rate limiters, backoff, leader election, cost integration) can be
// tested with no real sleeping.
//
// Two kinds of time:
//   now()      monotonic time (steady_clock) for deadlines and intervals;
//   wall_now() calendar time (system_clock) for timestamps written to the API
//              (lease renewTime, status times, cost-month boundaries).
//
// Waiting. Code that blocks until "something happens or a deadline passes"
// does not call std::condition_variable::wait_until itself; it calls
// Clock::wait_until(lock, cv, deadline, pred). On RealClock that is exactly
// cv.wait_until on steady time. On FakeClock the deadline is in fake time:
// the wait returns when pred() holds (woken by the caller's own cv
// notifications, as usual) or when advance() moves fake time past the
// deadline. That is what lets a test say "advance 5 s" and see a delayed
// work-queue item released, or a leader elector renew, deterministically.
//
// How FakeClock wakes waiters without lost wake-ups or deadlocks:
//   * A waiter registers its (mutex, cv) pair with the clock for the
//     duration of the wait; advance() updates the time first, then, for each
//     registered pair, locks and unlocks the waiter's mutex and notifies its
//     cv. Because the waiter holds its mutex from the moment it reads the time
//     until it is parked in cv.wait, advance() either happens before that read
//     (the waiter sees the new time) or its notify reaches the parked waiter.
//   * Lock order is registry -> caller's mutex. A waiter therefore releases
//     its own mutex while it registers and unregisters (both take the
//     registry lock). This is allowed by the wait contract: like a
//     condition-variable wait, wait_until may release the lock, and it
//     re-evaluates pred() under the lock before it returns.
//   * The fake time itself is behind a separate leaf mutex, so now() may be
//     called while holding any other lock (e.g. inside a queue operation).
//   * advance() must not be called while holding a mutex that a waiter uses.
// num_waiters() lets a test wait (with a deadline-bounded poll) until a
// thread is parked before it moves time, which makes such tests exact.
#pragma once

#include <cassert>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <utility>

namespace frugal {

class Clock {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  using WallTime = std::chrono::system_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  // A deadline that never passes: waits end only when their predicate holds.
  static constexpr SteadyTime kNever = SteadyTime::max();

  virtual ~Clock() = default;

  virtual SteadyTime now() const = 0;
  virtual WallTime wall_now() const = 0;

  // Blocks until pred() is true or now() >= deadline. `lock` must hold the
  // mutex that guards the state pred() reads and that notifiers of `cv` take.
  // The lock may be released and re-acquired while waiting (as with any
  // condition-variable wait); on return it is held and the result is pred()
  // evaluated under it. `false` normally means the deadline passed, but as
  // with any condition variable another thread may have consumed the
  // condition meanwhile, so callers re-check their state in a loop.
  template <class Pred>
  bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                  SteadyTime deadline, Pred pred) const {
    return do_wait_until(lock, cv, deadline, std::function<bool()>(std::move(pred)));
  }

  // wait_until(now() + timeout), saturating instead of overflowing.
  template <class Pred>
  bool wait_for(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, Duration timeout,
                Pred pred) const {
    return wait_until(lock, cv, deadline_after(timeout), std::move(pred));
  }

  // now() + d, clamped to kNever so that "wait forever"-sized durations are safe.
  SteadyTime deadline_after(Duration d) const {
    const SteadyTime t = now();
    if (d > Duration::zero() && t > kNever - d) return kNever;
    return t + d;
  }

 protected:
  virtual bool do_wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                             SteadyTime deadline, const std::function<bool()>& pred) const = 0;
};

class RealClock final : public Clock {
 public:
  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }

 protected:
  bool do_wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                     SteadyTime deadline, const std::function<bool()>& pred) const override {
    // A time_point::max() deadline would overflow inside the timed wait.
    if (deadline == kNever) {
      cv.wait(lock, pred);
      return true;
    }
    return cv.wait_until(lock, deadline, pred);
  }
};

// The process-wide real clock, the default wherever a Clock is injected.
inline Clock& real_clock() {
  static RealClock clock;
  return clock;
}

class FakeClock final : public Clock {
 public:
  // Fake steady time starts an hour after the epoch rather than at it, so a
  // default-constructed SteadyTime (often used as "never happened") is
  // distinguishable from "now" in tests. Wall time starts at a fixed instant
  // (2024-01-01T00:00:00Z) so that tests are reproducible.
  static constexpr SteadyTime kDefaultStart = SteadyTime{} + std::chrono::hours(1);
  static constexpr WallTime kDefaultWallStart = WallTime{} + std::chrono::seconds(1704067200);

  explicit FakeClock(SteadyTime start = kDefaultStart, WallTime wall_start = kDefaultWallStart)
      : now_(start), wall_(wall_start) {}

  FakeClock(const FakeClock&) = delete;
  FakeClock& operator=(const FakeClock&) = delete;

  SteadyTime now() const override {
    std::lock_guard<std::mutex> guard(time_mu_);
    return now_;
  }

  WallTime wall_now() const override {
    std::lock_guard<std::mutex> guard(time_mu_);
    return wall_;
  }

  // Moves steady and wall time forward by d and wakes every waiter so it can
  // re-check its deadline. Time never goes backwards: d must be >= 0.
  void advance(Duration d) {
    assert(d >= Duration::zero());
    {
      std::lock_guard<std::mutex> guard(time_mu_);
      now_ += d;
      wall_ += std::chrono::duration_cast<WallTime::duration>(d);
    }
    std::lock_guard<std::mutex> guard(waiters_mu_);
    for (const Waiter& w : waiters_) {
      // Taking the waiter's mutex orders this notify after the waiter is
      // parked (or after it has read the new time); see the file comment.
      { std::lock_guard<std::mutex> sync(*w.mu); }
      w.cv->notify_all();
    }
  }

  // Sets wall time only (e.g. to cross a month boundary). Steady time, and so
  // every pending deadline, is unaffected, as with a real wall-clock step.
  void set_wall(WallTime t) {
    std::lock_guard<std::mutex> guard(time_mu_);
    wall_ = t;
  }

  // Threads currently blocked in wait_until on this clock.
  std::size_t num_waiters() const {
    std::lock_guard<std::mutex> guard(waiters_mu_);
    return waiters_.size();
  }

 protected:
  bool do_wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                     SteadyTime deadline, const std::function<bool()>& pred) const override {
    assert(lock.owns_lock());
    std::mutex* mu = lock.mutex();
    // Register without holding the caller's mutex (lock order: registry first).
    lock.unlock();
    std::list<Waiter>::iterator self;
    {
      std::lock_guard<std::mutex> guard(waiters_mu_);
      self = waiters_.insert(waiters_.end(), Waiter{mu, &cv});
    }
    lock.lock();
    while (!pred() && now() < deadline) cv.wait(lock);
    lock.unlock();
    {
      std::lock_guard<std::mutex> guard(waiters_mu_);
      waiters_.erase(self);
    }
    lock.lock();
    return pred();
  }

 private:
  struct Waiter {
    std::mutex* mu;
    std::condition_variable* cv;
  };

  mutable std::mutex time_mu_;  // leaf lock: guards now_ and wall_ only
  SteadyTime now_;
  WallTime wall_;

  // Registered waiters. While an entry is listed its owner is inside
  // do_wait_until, so the mutex and cv it points to are alive.
  mutable std::mutex waiters_mu_;
  mutable std::list<Waiter> waiters_;
};

}  // namespace frugal
