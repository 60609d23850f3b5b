// Runs a Reconciler: a rate-limited, de-duplicating work queue fed with keys,
// and N worker threads that take a key, reconcile it, and requeue it as the
// outcome says. A key is never reconciled by two workers at once (the queue's
// processing set), and a key changed during its reconcile runs again after.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "controller/kube/reconciler.h"
#include "controller/kube/workqueue.h"

namespace frugal::kube {

// For metrics and logs; every method may be called from any worker.
class ControllerObserver {
 public:
  virtual ~ControllerObserver() = default;
  // result: "success", "requeue_after", "error", "terminal_error"
  virtual void on_reconcile(const std::string& controller, const std::string& result,
                            std::chrono::duration<double> took) = 0;
  virtual void on_error(const std::string& /*controller*/, const Key& /*key*/,
                        const std::string& /*message*/, bool /*terminal*/) {}
};

struct ControllerOptions {
  std::string name;
  int concurrency = 1;  // controller-runtime's MaxConcurrentReconciles default
  const Clock* clock = nullptr;
  ControllerObserver* observer = nullptr;  // not owned
  std::shared_ptr<QueueMetrics> queue_metrics;
  std::unique_ptr<RateLimiter> rate_limiter;  // null: client-go's default controller limiter
};

class ControllerLoop {
 public:
  ControllerLoop(Reconciler& reconciler, ControllerOptions options);
  ~ControllerLoop();
  ControllerLoop(const ControllerLoop&) = delete;
  ControllerLoop& operator=(const ControllerLoop&) = delete;

  const std::string& name() const { return name_; }
  void enqueue(const Key& key) { queue_.add(key.str()); }
  void enqueue_after(const Key& key, Clock::Duration d) { queue_.add_after(key.str(), d); }
  WorkQueue& queue() { return queue_; }

  // Starts the workers. Idempotent.
  void start();
  // Stops taking new keys, lets in-flight reconciles finish, joins workers.
  void stop();
  bool running() const { return running_; }

 private:
  void worker();
  void process(const std::string& key);

  std::string name_;
  Reconciler& reconciler_;
  const Clock& clock_;
  ControllerObserver* observer_;
  int concurrency_;
  WorkQueue queue_;
  std::vector<std::thread> workers_;
  std::atomic<bool> running_{false};
};

}  // namespace frugal::kube
