// The controller's work queue: de-duplicating, delaying and rate-limited, as
// client-go's util/workqueue (queue.go, delaying_queue.go,
// rate_limiting_queue.go), keyed by reconcile key ("namespace/name").
//
// Invariants, as in client-go:
//   * a key is waiting in the queue at most once (the `dirty` set);
//   * a key handed out by get() is in `processing` until done(), and is never
//     handed to another worker meanwhile;
//   * a key added while it is processing is only marked dirty, and goes back
//     into the queue when done() is called, so the change is not lost.
//
// Delayed adds (add_after, add_rate_limited) wait in a min-heap ordered by
// ready time; a key waits there at most once, keeping its earliest ready
// time. Unlike client-go there is no background "waiting loop" thread:
// blocked get() calls sleep on the injected Clock until the earliest ready
// time and move due keys into the queue, and every other operation does the
// same on entry. With a FakeClock, advance() therefore releases delayed keys
// to blocked workers, and len() reflects them right away.
//
// Shutdown, as client-go: shut_down() makes later adds no-ops and wakes every
// blocked get(); get() still hands out keys already queued, then returns
// nullopt. Delayed keys not yet due are dropped. shut_down_with_drain() also
// waits until every key being processed is done().
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "controller/kube/rate_limiter.h"

namespace frugal::kube {

// Observer for queue metrics, so the queue does not depend on a metrics
// library; the manager implements it with Prometheus collectors (client-go's
// workqueue_depth, _adds_total, _retries_total, _queue_duration_seconds,
// _work_duration_seconds, _unfinished_work_seconds,
// _longest_running_processor_seconds). Called with the queue's lock held:
// implementations must be cheap and must not call back into the queue.
class QueueMetrics {
 public:
  virtual ~QueueMetrics() = default;
  // Keys waiting to be processed, counting keys dirty while processing (as client-go).
  virtual void on_depth(std::size_t /*depth*/) {}
  // A key became dirty (an add that was not a duplicate).
  virtual void on_add() {}
  // A delayed add (add_after or add_rate_limited), as client-go counts retries.
  virtual void on_retry() {}
  // Time from a key becoming dirty to a worker getting it.
  virtual void on_queue_latency(Clock::Duration /*waited*/) {}
  // Time from get() to done() for one key.
  virtual void on_work_duration(Clock::Duration /*worked*/) {}
  // Sum of in-flight processing time and the oldest in-flight one; reported
  // by WorkQueue::update_unfinished_work(), which the manager calls periodically.
  virtual void on_unfinished_work(Clock::Duration /*total*/, Clock::Duration /*longest*/) {}
};

struct WorkQueueOptions {
  std::string name;                           // for logs and metric labels
  const Clock* clock = nullptr;               // null: real_clock()
  std::unique_ptr<RateLimiter> rate_limiter;  // null: default_controller_rate_limiter(clock)
  std::shared_ptr<QueueMetrics> metrics;      // null: no metrics
};

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions options = {});
  // Shuts the queue down. Threads blocked in get() must have returned (been
  // joined) before the queue is destroyed.
  ~WorkQueue();

  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  const std::string& name() const { return name_; }

  // Marks `key` as needing processing. No-op if it is already waiting, or
  // after shutdown; deferred to done() if it is being processed.
  void add(const std::string& key);
  // add(key) once `delay` has passed on the clock; delay <= 0 adds now.
  void add_after(const std::string& key, Clock::Duration delay);
  // add_after(key, rate_limiter.when(key)): the retry path after an error.
  void add_rate_limited(const std::string& key);
  // Clears the key's failure history in the rate limiter (call on success).
  void forget(const std::string& key);
  // Failures recorded for the key since the last forget().
  int num_requeues(const std::string& key) const;

  // Blocks until a key is ready and returns it, now owned by the caller
  // until done(key). Returns nullopt once the queue is shut down and empty.
  std::optional<std::string> get();
  // The caller has finished processing `key`; re-queues it if it was added
  // meanwhile. Ignored for a key that is not being processed.
  void done(const std::string& key);

  // Keys ready for a worker (not counting those processing or not yet due).
  std::size_t len();

  void shut_down();
  // shut_down(), then wait until no key is being processed.
  void shut_down_with_drain();
  bool shutting_down() const;

  // Reports in-flight work to QueueMetrics::on_unfinished_work.
  void update_unfinished_work();

 private:
  struct Delayed {
    Clock::SteadyTime ready;
    std::uint64_t seq;  // insertion order: FIFO among equal ready times; stale-entry check
    std::string key;
    // std::priority_queue is a max-heap; "greater" puts the earliest on top.
    bool operator>(const Delayed& o) const {
      return ready != o.ready ? ready > o.ready : seq > o.seq;
    }
  };
  struct Waiting {
    Clock::SteadyTime ready;
    std::uint64_t seq;
  };

  void add_locked(const std::string& key, Clock::SteadyTime now);
  void promote_due_locked(Clock::SteadyTime now);
  Clock::SteadyTime next_ready_locked();
  void report_depth_locked() const;

  const std::string name_;
  const Clock& clock_;
  const std::unique_ptr<RateLimiter> rate_limiter_;
  const std::shared_ptr<QueueMetrics> metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;        // queue non-empty, earlier delayed key, or shutdown
  std::condition_variable drain_cv_;  // processing became empty, or drain cancelled
  std::deque<std::string> queue_;     // ready keys, FIFO
  // Keys needing processing -> when they became dirty (for queue latency).
  std::unordered_map<std::string, Clock::SteadyTime> dirty_;
  // Keys handed out by get() -> when processing started.
  std::unordered_map<std::string, Clock::SteadyTime> processing_;
  // Delayed keys: the heap may hold stale entries (superseded by an earlier
  // ready time); `waiting_` holds the live one per key.
  std::priority_queue<Delayed, std::vector<Delayed>, std::greater<>> delayed_;
  std::unordered_map<std::string, Waiting> waiting_;
  std::uint64_t next_seq_ = 0;
  bool shutting_down_ = false;
  bool drain_ = false;
};

}  // namespace frugal::kube
