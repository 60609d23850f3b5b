#include "controller/kube/controller_loop.h"

namespace frugal::kube {

namespace {
WorkQueueOptions queue_options(ControllerOptions& o) {
  WorkQueueOptions q;
  q.name = o.name;
  q.clock = o.clock;
  q.rate_limiter = std::move(o.rate_limiter);
  q.metrics = o.queue_metrics;
  return q;
}
}  // namespace

ControllerLoop::ControllerLoop(Reconciler& reconciler, ControllerOptions options)
    : name_(options.name),
      reconciler_(reconciler),
      clock_(options.clock ? *options.clock : real_clock()),
      observer_(options.observer),
      concurrency_(options.concurrency < 1 ? 1 : options.concurrency),
      queue_(queue_options(options)) {}

ControllerLoop::~ControllerLoop() { stop(); }

void ControllerLoop::start() {
  if (running_.exchange(true)) return;
  for (int i = 0; i < concurrency_; ++i) workers_.emplace_back([this] { worker(); });
}

void ControllerLoop::stop() {
  if (!running_.exchange(false)) return;
  queue_.shut_down_with_drain();
  for (auto& w : workers_) w.join();
  workers_.clear();
}

void ControllerLoop::worker() {
  while (auto key = queue_.get()) {
    process(*key);
    queue_.done(*key);
  }
}

void ControllerLoop::process(const std::string& key) {
  const auto started = clock_.now();
  ReconcileOutcome outcome = frugal::Unexpected(ReconcileError::retry("reconciler threw"));
  try {
    outcome = reconciler_.reconcile(Key::parse(key));
  } catch (const std::exception& e) {
    // An exception must not cross the worker thread; treat it as a retryable error.
    outcome = frugal::Unexpected(ReconcileError::retry(std::string("reconciler threw: ") + e.what()));
  }
  const std::chrono::duration<double> took = clock_.now() - started;
  std::string result;
  if (outcome) {
    queue_.forget(key);
    if (outcome->requeue_after) {
      queue_.add_after(key, *outcome->requeue_after);
      result = "requeue_after";
    } else {
      result = "success";
    }
  } else if (outcome.error().terminal) {
    queue_.forget(key);
    result = "terminal_error";
    if (observer_) observer_->on_error(name_, Key::parse(key), outcome.error().message, true);
  } else {
    queue_.add_rate_limited(key);
    result = "error";
    if (observer_) observer_->on_error(name_, Key::parse(key), outcome.error().message, false);
  }
  if (observer_) observer_->on_reconcile(name_, result, took);
}

}  // namespace frugal::kube
