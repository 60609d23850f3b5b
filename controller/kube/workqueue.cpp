#include "controller/kube/workqueue.h"

#include <algorithm>
#include <utility>

namespace frugal::kube {

WorkQueue::WorkQueue(WorkQueueOptions options)
    : name_(std::move(options.name)),
      clock_(options.clock != nullptr ? *options.clock : real_clock()),
      rate_limiter_(options.rate_limiter ? std::move(options.rate_limiter)
                                         : default_controller_rate_limiter(clock_)),
      metrics_(std::move(options.metrics)) {}

WorkQueue::~WorkQueue() { shut_down(); }

void WorkQueue::add(const std::string& key) {
  std::lock_guard<std::mutex> guard(mu_);
  add_locked(key, clock_.now());
}

void WorkQueue::add_after(const std::string& key, Clock::Duration delay) {
  std::lock_guard<std::mutex> guard(mu_);
  if (shutting_down_) return;
  if (metrics_) metrics_->on_retry();
  const Clock::SteadyTime now = clock_.now();
  if (delay <= Clock::Duration::zero()) {
    add_locked(key, now);
    return;
  }
  const Clock::SteadyTime ready = now > Clock::kNever - delay ? Clock::kNever : now + delay;
  // A key already waiting keeps the earlier of its two ready times.
  auto it = waiting_.find(key);
  if (it != waiting_.end() && it->second.ready <= ready) return;
  const bool sooner_than_all = ready < next_ready_locked();
  const std::uint64_t seq = next_seq_++;
  waiting_[key] = Waiting{ready, seq};
  delayed_.push(Delayed{ready, seq, key});
  // Blocked getters sleep until the previous earliest ready time; make them
  // recompute their deadline.
  if (sooner_than_all) cv_.notify_all();
}

void WorkQueue::add_rate_limited(const std::string& key) {
  // The limiter has its own lock; it is never called with mu_ held.
  add_after(key, rate_limiter_->when(key));
}

void WorkQueue::forget(const std::string& key) { rate_limiter_->forget(key); }

int WorkQueue::num_requeues(const std::string& key) const {
  return rate_limiter_->num_requeues(key);
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    promote_due_locked(clock_.now());
    if (!queue_.empty()) break;
    if (shutting_down_) return std::nullopt;
    const Clock::SteadyTime deadline = next_ready_locked();
    clock_.wait_until(lock, cv_, deadline, [&] {
      return !queue_.empty() || shutting_down_ || next_ready_locked() < deadline;
    });
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  const Clock::SteadyTime now = clock_.now();
  auto dirty = dirty_.find(key);  // every queued key is dirty
  if (metrics_) metrics_->on_queue_latency(now - dirty->second);
  dirty_.erase(dirty);
  processing_.emplace(key, now);
  report_depth_locked();
  return key;
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = processing_.find(key);
  // Not ours to finish: re-queuing it would break "queued at most once".
  if (it == processing_.end()) return;
  if (metrics_) metrics_->on_work_duration(clock_.now() - it->second);
  processing_.erase(it);
  if (dirty_.count(key) != 0) {
    queue_.push_back(key);
    cv_.notify_one();
  }
  if (processing_.empty()) drain_cv_.notify_all();
}

std::size_t WorkQueue::len() {
  std::lock_guard<std::mutex> guard(mu_);
  promote_due_locked(clock_.now());
  return queue_.size();
}

void WorkQueue::shut_down() {
  std::lock_guard<std::mutex> guard(mu_);
  shutting_down_ = true;
  drain_ = false;  // also releases a shut_down_with_drain() in progress
  delayed_ = {};
  waiting_.clear();
  cv_.notify_all();
  drain_cv_.notify_all();
}

void WorkQueue::shut_down_with_drain() {
  std::unique_lock<std::mutex> lock(mu_);
  shutting_down_ = true;
  drain_ = true;
  delayed_ = {};
  waiting_.clear();
  cv_.notify_all();
  // No deadline, so no clock: only done() or shut_down() can end this wait.
  drain_cv_.wait(lock, [&] { return processing_.empty() || !drain_; });
}

bool WorkQueue::shutting_down() const {
  std::lock_guard<std::mutex> guard(mu_);
  return shutting_down_;
}

void WorkQueue::update_unfinished_work() {
  std::lock_guard<std::mutex> guard(mu_);
  if (!metrics_) return;
  const Clock::SteadyTime now = clock_.now();
  Clock::Duration total = Clock::Duration::zero();
  Clock::Duration longest = Clock::Duration::zero();
  for (const auto& [key, started] : processing_) {
    total += now - started;
    longest = std::max(longest, now - started);
  }
  metrics_->on_unfinished_work(total, longest);
}

void WorkQueue::add_locked(const std::string& key, Clock::SteadyTime now) {
  if (shutting_down_) return;
  if (!dirty_.emplace(key, now).second) return;  // already waiting
  if (metrics_) {
    metrics_->on_add();
    report_depth_locked();
  }
  // Being processed: done() puts it back in the queue.
  if (processing_.count(key) != 0) return;
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::promote_due_locked(Clock::SteadyTime now) {
  while (!delayed_.empty()) {
    const Delayed& top = delayed_.top();
    auto it = waiting_.find(top.key);
    const bool live = it != waiting_.end() && it->second.seq == top.seq;
    if (live && top.ready > now) return;
    if (live) {
      std::string key = top.key;
      waiting_.erase(it);
      delayed_.pop();
      add_locked(key, now);
    } else {
      delayed_.pop();  // superseded by an earlier ready time
    }
  }
}

Clock::SteadyTime WorkQueue::next_ready_locked() {
  while (!delayed_.empty()) {
    const Delayed& top = delayed_.top();
    auto it = waiting_.find(top.key);
    if (it != waiting_.end() && it->second.seq == top.seq) return top.ready;
    delayed_.pop();
  }
  return Clock::kNever;
}

void WorkQueue::report_depth_locked() const {
  if (metrics_) metrics_->on_depth(dirty_.size());
}

}  // namespace frugal::kube
