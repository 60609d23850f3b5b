// The work queue's client-go invariants (dedup, no concurrent processing of a
// key, re-queue on done), its delays and rate limiting under a FakeClock, and
// shutdown. Nothing sleeps: blocked threads are observed with deadline-bounded
// polls (FakeClock::num_waiters(), flags), and time moves only by advance().
#include "controller/kube/workqueue.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "tests/support/poll.h"

namespace frugal::kube {
namespace {

using frugal::testing::spin_until;

using std::chrono::milliseconds;
using std::chrono::seconds;

// "prefix" + n, built by appending: g++ 12 at -O3 raises a false -Wrestrict
// on `"literal" + std::to_string(n)` (GCC bug 105329).
std::string numbered(const char* prefix, unsigned long n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

// Upper bound on how long a poll waits for another thread to reach a state.
// Generous because TSan slows threads down; polls normally end at once.

WorkQueueOptions fake_options(FakeClock& clock) {
  WorkQueueOptions options;
  options.name = "test";
  options.clock = &clock;
  return options;
}

// ---- FakeClock ----

TEST(FakeClock, AdvanceMovesSteadyAndWallTimeTogether) {
  FakeClock clock;
  const auto steady = clock.now();
  const auto wall = clock.wall_now();
  clock.advance(seconds(90));
  EXPECT_EQ(clock.now() - steady, seconds(90));
  EXPECT_EQ(clock.wall_now() - wall, seconds(90));
}

TEST(FakeClock, SetWallLeavesSteadyTimeAlone) {
  FakeClock clock;
  const auto steady = clock.now();
  const auto new_year = std::chrono::system_clock::time_point{} + seconds(1735689600);
  clock.set_wall(new_year);
  EXPECT_EQ(clock.wall_now(), new_year);
  EXPECT_EQ(clock.now(), steady);
}

TEST(FakeClock, WaitUntilPastDeadlineReturnsAtOnce) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock<std::mutex> lock(mu);
  EXPECT_FALSE(clock.wait_until(lock, cv, clock.now(), [] { return false; }));
  EXPECT_TRUE(lock.owns_lock());
}

TEST(FakeClock, AdvancePastDeadlineReleasesWaiter) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  const auto deadline = clock.now() + seconds(10);
  std::atomic<bool> returned{false};
  bool result = true;
  std::thread waiter([&] {
    std::unique_lock<std::mutex> lock(mu);
    result = clock.wait_until(lock, cv, deadline, [] { return false; });
    returned = true;
  });
  ASSERT_TRUE(spin_until([&] { return clock.num_waiters() == 1; }));
  clock.advance(seconds(9));
  EXPECT_FALSE(returned.load());  // still a second short (cannot have returned)
  clock.advance(seconds(1));
  waiter.join();
  EXPECT_TRUE(returned.load());
  EXPECT_FALSE(result);  // timed out
  EXPECT_EQ(clock.num_waiters(), 0u);
}

TEST(FakeClock, NotifyWithTruePredicateEndsWaitBeforeDeadline) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  bool result = false;
  std::thread waiter([&] {
    std::unique_lock<std::mutex> lock(mu);
    result = clock.wait_until(lock, cv, Clock::kNever, [&] { return ready; });
  });
  ASSERT_TRUE(spin_until([&] { return clock.num_waiters() == 1; }));
  {
    std::lock_guard<std::mutex> guard(mu);
    ready = true;
  }
  cv.notify_all();
  waiter.join();
  EXPECT_TRUE(result);
}

TEST(RealClock, WaitForWithTruePredicateReturnsAtOnce) {
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock<std::mutex> lock(mu);
  EXPECT_TRUE(real_clock().wait_for(lock, cv, std::chrono::hours(1), [] { return true; }));
  EXPECT_FALSE(real_clock().wait_until(lock, cv, real_clock().now(), [] { return false; }));
}

// ---- Queue basics ----

TEST(WorkQueue, HandsOutKeysInFifoOrder) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add("ns/a");
  q.add("ns/b");
  q.add("ns/c");
  EXPECT_EQ(q.get(), "ns/a");
  EXPECT_EQ(q.get(), "ns/b");
  EXPECT_EQ(q.get(), "ns/c");
}

TEST(WorkQueue, QueuesAKeyOnlyOnceUntilItIsTaken) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add("ns/a");
  q.add("ns/b");
  q.add("ns/a");
  q.add("ns/a");
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(q.get(), "ns/a");
  EXPECT_EQ(q.get(), "ns/b");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, KeyAddedWhileProcessingWaitsAndIsRequeuedOnDone) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add("ns/a");
  ASSERT_EQ(q.get(), "ns/a");
  q.add("ns/a");
  q.add("ns/a");
  EXPECT_EQ(q.len(), 0u);  // not handed to a second worker while processing
  q.done("ns/a");
  EXPECT_EQ(q.len(), 1u);  // once, despite two adds
  EXPECT_EQ(q.get(), "ns/a");
}

TEST(WorkQueue, DoneWithoutNewAddDoesNotRequeue) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add("ns/a");
  ASSERT_EQ(q.get(), "ns/a");
  q.done("ns/a");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, DoneForKeyNotBeingProcessedIsIgnored) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add("ns/a");
  q.done("ns/a");  // queued but never taken: must not be queued twice
  q.done("ns/unknown");
  EXPECT_EQ(q.len(), 1u);
}

TEST(WorkQueue, LenCountsNeitherProcessingNorDelayedKeys) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add("ns/a");
  q.add("ns/b");
  q.add_after("ns/c", seconds(1));
  ASSERT_EQ(q.get(), "ns/a");
  EXPECT_EQ(q.len(), 1u);
}

// ---- Delays ----

TEST(WorkQueue, AddAfterHoldsKeyUntilFakeTimePassesDelay) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add_after("ns/a", seconds(1));
  EXPECT_EQ(q.len(), 0u);
  clock.advance(milliseconds(999));
  EXPECT_EQ(q.len(), 0u);
  clock.advance(milliseconds(1));
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(q.get(), "ns/a");
}

TEST(WorkQueue, AddAfterReleasesKeysInReadyTimeOrder) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add_after("ns/c", seconds(3));
  q.add_after("ns/a", seconds(1));
  q.add_after("ns/b", seconds(2));
  q.add_after("ns/d", seconds(2));  // same time as b: FIFO
  clock.advance(seconds(3));
  EXPECT_EQ(q.get(), "ns/a");
  EXPECT_EQ(q.get(), "ns/b");
  EXPECT_EQ(q.get(), "ns/d");
  EXPECT_EQ(q.get(), "ns/c");
}

TEST(WorkQueue, AddAfterKeepsEarliestReadyTimeForSameKey) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add_after("ns/a", seconds(5));
  q.add_after("ns/a", seconds(1));   // earlier: wins
  q.add_after("ns/a", seconds(10));  // later: ignored
  clock.advance(seconds(1));
  EXPECT_EQ(q.len(), 1u);
  ASSERT_EQ(q.get(), "ns/a");
  q.done("ns/a");
  clock.advance(seconds(10));  // the superseded 5 s and 10 s entries never fire
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, DelayedAddOfKeyAlreadyQueuedIsDeduplicated) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add_after("ns/a", seconds(1));
  q.add("ns/a");
  EXPECT_EQ(q.len(), 1u);
  clock.advance(seconds(1));
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(q.get(), "ns/a");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, DelayedAddStillFiresAfterImmediateAddWasProcessed) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add_after("ns/a", seconds(1));
  q.add("ns/a");
  ASSERT_EQ(q.get(), "ns/a");
  q.done("ns/a");
  clock.advance(seconds(1));
  EXPECT_EQ(q.get(), "ns/a");  // as client-go: the requested later look still happens
}

TEST(WorkQueue, AddAfterWithNonPositiveDelayAddsAtOnce) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add_after("ns/a", Clock::Duration::zero());
  q.add_after("ns/b", -seconds(1));
  EXPECT_EQ(q.len(), 2u);
}

TEST(WorkQueue, BlockedGetIsReleasedWhenFakeTimeReachesDelayedKey) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add_after("ns/a", seconds(30));
  std::optional<std::string> got;
  std::thread worker([&] { got = q.get(); });
  ASSERT_TRUE(spin_until([&] { return clock.num_waiters() == 1; }));
  clock.advance(seconds(30));
  worker.join();
  EXPECT_EQ(got, "ns/a");
}

TEST(WorkQueue, EarlierDelayedAddWakesGetterWaitingForLaterKey) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add_after("ns/late", seconds(60));
  std::optional<std::string> got;
  std::thread worker([&] { got = q.get(); });
  ASSERT_TRUE(spin_until([&] { return clock.num_waiters() == 1; }));
  q.add_after("ns/soon", seconds(1));
  clock.advance(seconds(1));
  worker.join();
  EXPECT_EQ(got, "ns/soon");
}

TEST(WorkQueue, BlockedGetIsReleasedByAdd) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  std::optional<std::string> got;
  std::thread worker([&] { got = q.get(); });
  ASSERT_TRUE(spin_until([&] { return clock.num_waiters() == 1; }));
  q.add("ns/a");
  worker.join();
  EXPECT_EQ(got, "ns/a");
}

// ---- Rate limiting ----

TEST(WorkQueue, AddRateLimitedBacksOffExponentiallyPerKey) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));  // default limiter on the fake clock
  const std::vector<milliseconds> expected = {milliseconds(5), milliseconds(10), milliseconds(20),
                                              milliseconds(40)};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    q.add_rate_limited("ns/a");
    EXPECT_EQ(q.num_requeues("ns/a"), static_cast<int>(i + 1));
    clock.advance(expected[i] - milliseconds(1));
    EXPECT_EQ(q.len(), 0u) << "retry " << i << " released early";
    clock.advance(milliseconds(1));
    EXPECT_EQ(q.len(), 1u) << "retry " << i << " not released on time";
    ASSERT_EQ(q.get(), "ns/a");
    q.done("ns/a");
  }
}

TEST(WorkQueue, ForgetResetsRetryDelayToBase) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add_rate_limited("ns/a");
  q.add_rate_limited("ns/a");
  q.add_rate_limited("ns/a");
  EXPECT_EQ(q.num_requeues("ns/a"), 3);
  q.forget("ns/a");
  EXPECT_EQ(q.num_requeues("ns/a"), 0);
  clock.advance(milliseconds(5));  // the first (5 ms) retry is the live one
  ASSERT_EQ(q.get(), "ns/a");
  q.done("ns/a");
  q.add_rate_limited("ns/a");
  clock.advance(milliseconds(5));
  EXPECT_EQ(q.len(), 1u);
}

TEST(WorkQueue, UsesInjectedRateLimiter) {
  FakeClock clock;
  WorkQueueOptions options = fake_options(clock);
  options.rate_limiter =
      std::make_unique<ItemExponentialFailureRateLimiter>(seconds(1), seconds(2));
  WorkQueue q(std::move(options));
  q.add_rate_limited("ns/a");
  clock.advance(milliseconds(999));
  EXPECT_EQ(q.len(), 0u);
  clock.advance(milliseconds(1));
  EXPECT_EQ(q.len(), 1u);
}

// ---- Shutdown ----

TEST(WorkQueue, ShutDownWakesEveryBlockedGetter) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  constexpr int kGetters = 4;
  std::array<std::optional<std::string>, kGetters> got;
  std::vector<std::thread> getters;
  for (int i = 0; i < kGetters; ++i) {
    got[i] = "unset";
    getters.emplace_back([&, i] { got[i] = q.get(); });
  }
  ASSERT_TRUE(spin_until([&] { return clock.num_waiters() == kGetters; }));
  q.shut_down();
  for (auto& t : getters) t.join();
  for (const auto& g : got) EXPECT_EQ(g, std::nullopt);
  EXPECT_TRUE(q.shutting_down());
}

TEST(WorkQueue, ShutDownWakesGetterUsingRealClock) {
  WorkQueue q;
  std::atomic<bool> started{false};
  std::optional<std::string> got = "unset";
  std::thread worker([&] {
    started = true;
    got = q.get();
  });
  ASSERT_TRUE(spin_until([&] { return started.load(); }));
  q.shut_down();  // whether or not the getter is parked yet, it must return
  worker.join();
  EXPECT_EQ(got, std::nullopt);
}

TEST(WorkQueue, GetHandsOutQueuedKeysAfterShutDownThenStops) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add("ns/a");
  q.shut_down();
  EXPECT_EQ(q.get(), "ns/a");
  EXPECT_EQ(q.get(), std::nullopt);
}

TEST(WorkQueue, AddsAreIgnoredAfterShutDown) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add_after("ns/pending", seconds(1));
  q.shut_down();
  q.add("ns/a");
  q.add_after("ns/b", seconds(1));
  q.add_rate_limited("ns/c");
  clock.advance(seconds(10));
  EXPECT_EQ(q.len(), 0u);  // including the delayed key from before shutdown
  EXPECT_EQ(q.get(), std::nullopt);
}

TEST(WorkQueue, ShutDownWithDrainWaitsForInFlightWork) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add("ns/a");
  ASSERT_EQ(q.get(), "ns/a");
  std::atomic<bool> drained{false};
  std::thread drainer([&] {
    q.shut_down_with_drain();
    drained = true;
  });
  ASSERT_TRUE(spin_until([&] { return q.shutting_down(); }));
  EXPECT_FALSE(drained.load());  // "ns/a" is still processing, so it cannot have returned
  q.done("ns/a");
  drainer.join();
  EXPECT_TRUE(drained.load());
}

TEST(WorkQueue, ShutDownWithDrainReturnsAtOnceWhenIdle) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add("ns/queued-but-not-taken");
  q.shut_down_with_drain();
  EXPECT_TRUE(q.shutting_down());
}

TEST(WorkQueue, ShutDownCancelsDrainInProgress) {
  FakeClock clock;
  WorkQueue q(fake_options(clock));
  q.add("ns/a");
  ASSERT_EQ(q.get(), "ns/a");
  std::thread drainer([&] { q.shut_down_with_drain(); });
  ASSERT_TRUE(spin_until([&] { return q.shutting_down(); }));
  q.shut_down();
  drainer.join();  // returned although "ns/a" was never done
}

// ---- Concurrency ----

// Producers hammer add(); workers hammer get()/add()/done(). Pins that no key
// is ever processed by two workers at once and that no add is lost: every
// key's last add is seen by a processing that started after it.
TEST(WorkQueue, ConcurrentWorkersNeverProcessSameKeyTwiceAndLoseNoAdds) {
  constexpr int kKeys = 16;
  constexpr int kProducers = 4;
  constexpr int kWorkers = 8;
  constexpr int kAddsPerProducer = 2000;

  WorkQueue q;  // real clock: nothing here waits on time
  std::array<std::atomic<bool>, kKeys> in_processing{};
  std::array<std::atomic<int>, kKeys> version{};    // bumped before each producer add
  std::array<std::atomic<int>, kKeys> processed{};  // highest version a worker saw
  std::atomic<int> overlaps{0};
  std::atomic<int> handled{0};

  auto key_of = [](int i) { return numbered("ns/key-", i); };
  auto index_of = [](const std::string& key) { return std::stoi(key.substr(7)); };

  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      std::minstd_rand rng(static_cast<unsigned>(w));
      while (auto key = q.get()) {
        const int i = index_of(*key);
        if (in_processing[i].exchange(true)) overlaps++;
        const int seen = version[i].load();
        if (rng() % 8 == 0) {
          q.add(*key);  // a reconcile asking for another pass
          // Stay in processing a little, so a broken queue has time to hand
          // the re-added key to an idle worker.
          for (int spin = 0; spin < 50; ++spin) std::this_thread::yield();
        }
        int prev = processed[i].load();
        while (prev < seen && !processed[i].compare_exchange_weak(prev, seen)) {
        }
        in_processing[i].store(false);  // before done(): then another worker may take it
        handled++;
        q.done(*key);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::minstd_rand rng(static_cast<unsigned>(100 + p));
      for (int n = 0; n < kAddsPerProducer; ++n) {
        const int i = static_cast<int>(rng() % kKeys);
        version[i]++;
        q.add(key_of(i));
      }
    });
  }
  for (auto& t : producers) t.join();
  // Every producer add has happened; wait until workers have caught up with
  // all of them, then shut down.
  ASSERT_TRUE(spin_until([&] {
    for (int i = 0; i < kKeys; ++i) {
      if (processed[i].load() != version[i].load()) return false;
    }
    return true;
  }));
  q.shut_down_with_drain();
  for (auto& t : workers) t.join();

  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_GT(handled.load(), 0);
  for (int i = 0; i < kKeys; ++i) EXPECT_EQ(processed[i].load(), version[i].load()) << key_of(i);
}

// Same invariant with delayed and rate-limited adds released by a FakeClock
// that another thread keeps advancing: workers keep every key cycling through
// add_rate_limited / add_after until enough work has been done.
TEST(WorkQueue, DelayedAddsUnderConcurrencyNeverProcessSameKeyTwice) {
  constexpr int kKeys = 8;
  constexpr int kWorkers = 6;
  constexpr int kTarget = 3000;  // processings before shutting down

  FakeClock clock;
  WorkQueueOptions options = fake_options(clock);
  // Bounded per-item delays, so that the ticker below releases retries quickly.
  options.rate_limiter =
      std::make_unique<ItemExponentialFailureRateLimiter>(milliseconds(1), milliseconds(100));
  WorkQueue q(std::move(options));
  std::array<std::atomic<bool>, kKeys> in_processing{};
  std::atomic<int> overlaps{0};
  std::atomic<int> handled{0};
  std::atomic<bool> stop_ticking{false};

  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      std::minstd_rand rng(static_cast<unsigned>(w));
      while (auto key = q.get()) {
        const int i = std::stoi(key->substr(3));
        if (in_processing[i].exchange(true)) overlaps++;
        switch (rng() % 3) {
          case 0:
            q.add_rate_limited(*key);
            break;
          case 1:
            q.forget(*key);
            q.add_after(*key, milliseconds(static_cast<int>(rng() % 50)));
            break;
          default:
            q.add(*key);
            break;
        }
        in_processing[i].store(false);
        handled++;
        q.done(*key);
      }
    });
  }
  std::thread ticker([&] {
    while (!stop_ticking.load()) {
      clock.advance(milliseconds(10));
      std::this_thread::yield();
    }
  });
  for (int i = 0; i < kKeys; ++i) q.add_after(numbered("ns/", i), milliseconds(i * 10));
  const bool reached = spin_until([&] { return handled.load() >= kTarget; });
  q.shut_down_with_drain();
  stop_ticking = true;
  ticker.join();
  for (auto& t : workers) t.join();
  EXPECT_TRUE(reached) << "only " << handled.load() << " processings";
  EXPECT_EQ(overlaps.load(), 0);
}

// ---- Metrics ----

struct RecordingMetrics : QueueMetrics {
  std::size_t depth = 0;
  int adds = 0;
  int retries = 0;
  std::vector<Clock::Duration> latencies;
  std::vector<Clock::Duration> work;
  Clock::Duration unfinished_total{};
  Clock::Duration unfinished_longest{};

  void on_depth(std::size_t d) override { depth = d; }
  void on_add() override { ++adds; }
  void on_retry() override { ++retries; }
  void on_queue_latency(Clock::Duration d) override { latencies.push_back(d); }
  void on_work_duration(Clock::Duration d) override { work.push_back(d); }
  void on_unfinished_work(Clock::Duration total, Clock::Duration longest) override {
    unfinished_total = total;
    unfinished_longest = longest;
  }
};

TEST(WorkQueue, ReportsAddsDepthLatencyAndWorkDuration) {
  FakeClock clock;
  auto metrics = std::make_shared<RecordingMetrics>();
  WorkQueueOptions options = fake_options(clock);
  options.metrics = metrics;
  WorkQueue q(std::move(options));

  q.add("ns/a");
  q.add("ns/a");  // duplicate: not an add
  q.add("ns/b");
  EXPECT_EQ(metrics->adds, 2);
  EXPECT_EQ(metrics->depth, 2u);

  clock.advance(seconds(2));
  ASSERT_EQ(q.get(), "ns/a");
  EXPECT_EQ(metrics->depth, 1u);
  ASSERT_EQ(metrics->latencies.size(), 1u);
  EXPECT_EQ(metrics->latencies[0], seconds(2));

  clock.advance(seconds(3));
  q.done("ns/a");
  ASSERT_EQ(metrics->work.size(), 1u);
  EXPECT_EQ(metrics->work[0], seconds(3));

  q.add_rate_limited("ns/c");
  q.add_after("ns/d", seconds(1));
  EXPECT_EQ(metrics->retries, 2);
}

TEST(WorkQueue, ReportsUnfinishedWorkAndLongestRunningProcessor) {
  FakeClock clock;
  auto metrics = std::make_shared<RecordingMetrics>();
  WorkQueueOptions options = fake_options(clock);
  options.metrics = metrics;
  WorkQueue q(std::move(options));

  q.add("ns/a");
  q.add("ns/b");
  ASSERT_EQ(q.get(), "ns/a");
  clock.advance(seconds(10));
  ASSERT_EQ(q.get(), "ns/b");
  clock.advance(seconds(5));
  q.update_unfinished_work();
  EXPECT_EQ(metrics->unfinished_total, seconds(20));  // 15 s + 5 s
  EXPECT_EQ(metrics->unfinished_longest, seconds(15));
}

}  // namespace
}  // namespace frugal::kube
