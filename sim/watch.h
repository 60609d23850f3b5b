// One watch request: subscribes to the store, filters events through the
// request's selectors (an object that stops matching is sent as DELETED, one
// that starts matching as ADDED, as the real watch cache does), encodes them
// as JSON or Table frames, and adds bookmarks, the server timeout and
// fault-injected drops.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "sim/request.h"
#include "sim/resource.h"
#include "sim/selector.h"
#include "sim/store.h"

namespace kubesim {

struct WatchOptions {
  ResourceInfo info;
  std::string ns;
  std::optional<LabelSelector> labels;
  std::optional<FieldSelector> fields;
  bool bookmarks = false;
  bool as_table = false;
  std::string include_object = "Metadata";  // for Table frames
  std::chrono::milliseconds bookmark_interval{30000};
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point drop_at = std::chrono::steady_clock::time_point::max();
  // A watcher this far behind is closed, as the real cache closes slow watchers.
  size_t max_pending = 100000;
  // For the in-stream 410 when the start version is already compacted.
  std::optional<ApiError> initial_error;
  // Watch-list (sendInitialEvents=true): after the initial ADDED events, a
  // bookmark annotated k8s.io/initial-events-end tells the client it has all.
  bool initial_events_end = false;
  // When the stream ends (cancel, timeout, drop): lets the server count watches.
  std::function<void()> on_close;
};

class WatchSession : public WatchStream, public std::enable_shared_from_this<WatchSession> {
 public:
  WatchSession(Store& store, WatchOptions opts);
  ~WatchSession() override;

  // Subscribes from `from_rv` (0: current state as ADDED first).
  Result<void> start(uint64_t from_rv);
  void cancel() override;
  void tick(std::chrono::steady_clock::time_point now) override;

  // Cuts the stream as a network failure would (admin endpoint, faults).
  void drop() {
    close_subscription();
    abort();
  }
  // Schedules drop() after `delay` (fault injection).
  void drop_after(std::chrono::milliseconds delay) {
    opts_.drop_at = std::chrono::steady_clock::now() + delay;
  }
  bool finished() const { return closed_; }

 protected:
  void produce() override;

 private:
  void on_event(const StoreEvent& ev);
  void close_subscription();
  std::string encode(const char* type, const ObjectPtr& obj, const StoreEvent* ev);
  bool matches(const json& obj) const;

  Store& store_;
  WatchOptions opts_;
  std::shared_ptr<Subscription> sub_;

  std::mutex pending_mu_;
  std::deque<StoreEvent> pending_;
  bool overflowed_ = false;

  uint64_t last_sent_rv_ = 0;
  std::chrono::steady_clock::time_point last_bookmark_ = std::chrono::steady_clock::now();
  std::atomic<bool> bookmark_due_{false};
  std::atomic<bool> initial_end_due_{false};
  std::atomic<bool> closed_{false};
};

// Encodes an ERROR watch event carrying `err` as a Status.
std::string watch_error_frame(const ApiError& err);

}  // namespace kubesim
