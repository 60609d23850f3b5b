// Kubernetes Events (core/v1), recorded as client-go's tools/record does, so
// that `kubectl describe` shows what the controller did — and so that an
// object flapping in a hot loop cannot flood the API server with Events.
//
// Two parts:
//   * EventCorrelator (pure; an injected Clock, no I/O, no threads) decides
//     what each occurrence costs, with client-go's events_cache.go rules:
//       - aggregation: similar events (same object, type and reason,
//         different messages) become one "(combined from similar events): ..."
//         Event once kAggregateMaxEvents distinct messages were seen with no
//         gap longer than kAggregateInterval;
//       - de-duplication: an identical event (same object, type, reason,
//         message, source) is a merge patch of count/lastTimestamp/message on
//         the Event already written, not a new Event;
//       - spam filter: a token bucket per object, source and type (burst
//         kSpamBurst, one token per kSpamRefillInterval) spent on every write.
//     and keeps the writes to do in a bounded queue:
//       - coalescing: an occurrence whose Event already has a write queued
//         updates that write instead of queueing another, so 100 identical
//         events in a burst may cost a single create with count 100;
//       - unlike client-go, a repeat the spam filter holds back is not lost:
//         its patch waits (reserving the object's next token) and is written
//         then, carrying every count since, so the count on the server always
//         ends right; new Events beyond the burst are dropped, as client-go;
//       - a full queue drops the new write and counts it (client-go's
//         broadcaster: DropIfChannelFull).
//   * EventRecorder: the thread-safe front end. record() only correlates
//     under a short lock and never waits for I/O; one background thread
//     writes due writes through an EventSink (Client-backed in production,
//     fake in tests), retrying retryable failures later through the queue.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/clock.h"
#include "controller/kube/client.h"
#include "controller/kube/error.h"

namespace frugal::kube {

using json = nlohmann::json;

// client-go tools/record/events_cache.go defaults.
inline constexpr std::size_t kEventCacheEntries = 4096;         // maxLruCacheEntries
inline constexpr std::size_t kAggregateMaxEvents = 10;          // defaultAggregateMaxEvents
inline constexpr std::chrono::seconds kAggregateInterval{600};  // defaultAggregateIntervalInSeconds
inline constexpr double kSpamBurst = 25;                        // defaultSpamBurst
inline constexpr std::chrono::seconds kSpamRefillInterval{300};  // defaultSpamQPS = 1/300
inline constexpr std::string_view kCombinedMessagePrefix = "(combined from similar events): ";
// client-go tools/record/event.go: maxQueuedEvents (the broadcaster's queue).
inline constexpr std::size_t kEventQueueCapacity = 1000;
// client-go tools/record/event.go: maxTriesPerEvent and sleepDuration.
inline constexpr int kEventMaxTries = 12;
inline constexpr std::chrono::seconds kEventRetryInterval{10};

// core/v1 events.
ResourceRef event_resource();

// corev1.ObjectReference: the object an Event is about.
struct ObjectReference {
  std::string api_version;
  std::string kind;
  std::string ns;  // empty for cluster-scoped objects
  std::string name;
  std::string uid;
  std::string resource_version;
  std::string field_path;

  json to_json() const;
};

// The reference to an object as the API returned it (client-go GetReference).
ObjectReference reference_to(const json& object);

enum class EventType { Normal, Warning };
std::string_view to_string(EventType type);

// One occurrence, as a reconciler reports it.
struct EventInput {
  ObjectReference object;
  EventType type = EventType::Normal;
  std::string reason;   // UpperCamelCase, e.g. "SpotInterrupted"
  std::string message;  // for humans
};

// Who reports: source.component and reportingComponent (e.g.
// "frugal-controller"), reportingInstance (e.g. the pod name), source.host.
struct EventSource {
  std::string component;
  std::string instance;
  std::string host;
};

// One write to the API server.
struct EventWrite {
  enum class Op { Create, Patch };
  Op op = Op::Create;
  std::string key;  // the correlation key: one queued write per key
  std::string ns;
  std::string name;
  json event;  // the whole Event as it now stands (Create, or Patch of an Event that is gone)
  json patch;  // Patch: merge patch of count, lastTimestamp, message
  int attempt = 1;
};

// What add() did with an occurrence.
enum class Correlation {
  Created,           // a new Event was queued for create
  Patched,           // a count update was queued
  Coalesced,         // folded into a write already queued: no extra write
  Deferred,          // a count update waits for the object's next spam token
  DroppedSpam,       // a new Event beyond the object's spam burst
  DroppedQueueFull,  // the write queue was full
  DroppedStopped,    // the recorder is stopping
};
std::string_view to_string(Correlation c);

struct CorrelatorOptions {
  std::size_t cache_entries = kEventCacheEntries;
  std::size_t aggregate_max_events = kAggregateMaxEvents;
  Clock::Duration aggregate_interval = kAggregateInterval;
  double spam_burst = kSpamBurst;
  Clock::Duration spam_refill_interval = kSpamRefillInterval;
  std::size_t queue_capacity = kEventQueueCapacity;
  int max_tries = kEventMaxTries;
  Clock::Duration retry_interval = kEventRetryInterval;
};

struct EventStats {
  uint64_t created = 0;  // by outcome of add()
  uint64_t patched = 0;
  uint64_t coalesced = 0;
  uint64_t deferred = 0;
  uint64_t dropped_spam = 0;
  uint64_t dropped_queue_full = 0;
  uint64_t retried = 0;         // writes queued again after a retryable failure
  uint64_t write_failures = 0;  // writes given up on (EventRecorder only)
  uint64_t writes = 0;          // successful API calls (EventRecorder only)
};

namespace detail {
// A small LRU map, as the golang-lru caches client-go uses.
template <class V>
class LruCache {
 public:
  explicit LruCache(std::size_t capacity) : capacity_(capacity) {}
  // The value, marked most recently used; null when absent.
  V* get(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    items_.splice(items_.begin(), items_, it->second);
    return &it->second->second;
  }
  V& put(const std::string& key, V value) {
    if (V* v = get(key)) {
      *v = std::move(value);
      return *v;
    }
    if (capacity_ > 0 && items_.size() >= capacity_) {
      index_.erase(items_.back().first);
      items_.pop_back();
    }
    items_.emplace_front(key, std::move(value));
    index_[key] = items_.begin();
    return items_.front().second;
  }
  void erase(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    items_.erase(it->second);
    index_.erase(it);
  }
  std::size_t size() const { return items_.size(); }

 private:
  std::size_t capacity_;
  std::list<std::pair<std::string, V>> items_;  // most recently used first
  std::unordered_map<std::string, typename std::list<std::pair<std::string, V>>::iterator> index_;
};
}  // namespace detail

// Not thread-safe: EventRecorder serialises calls.
class EventCorrelator {
 public:
  EventCorrelator(const Clock& clock, EventSource source, CorrelatorOptions options = {});

  // Correlates one occurrence at clock.now() and queues the write it needs.
  Correlation add(const EventInput& input);
  // The oldest write that is due now, removed from the queue.
  std::optional<EventWrite> pop_due();
  // When the earliest queued write is due; Clock::kNever when none is queued.
  Clock::SteadyTime next_due() const;
  // A write failed in a way worth retrying: queue it again after
  // retry_interval, unless a newer write for the same Event is queued (it
  // carries the newer state), max_tries is reached or the queue is full.
  bool retry_later(EventWrite write);
  std::size_t queued() const { return pending_.size(); }
  const EventStats& stats() const { return stats_; }

 private:
  struct AggregateRecord {
    std::set<std::string> messages;  // client-go's localKeys
    Clock::SteadyTime last{};
  };
  struct EventLog {  // client-go's eventLog: what was written under a key
    uint64_t count = 0;
    std::string first_timestamp;
    std::string name;
  };
  struct TokenBucket {  // client-go's passive token bucket, plus reservations
    double tokens = 0;
    Clock::SteadyTime last{};
  };
  struct Pending {
    EventWrite write;
    Clock::SteadyTime due{};
  };

  std::string new_event_name(const std::string& object_name, Clock::WallTime t);
  bool spam_take(const std::string& key, Clock::SteadyTime now);
  Clock::SteadyTime spam_reserve(const std::string& key, Clock::SteadyTime now);
  TokenBucket& bucket(const std::string& key, Clock::SteadyTime now);
  void enqueue(EventWrite write, Clock::SteadyTime due, Clock::SteadyTime now);

  const Clock& clock_;
  const EventSource source_;
  const CorrelatorOptions options_;
  detail::LruCache<AggregateRecord> aggregates_;
  detail::LruCache<EventLog> logs_;
  detail::LruCache<TokenBucket> spam_;
  int64_t last_name_nanos_ = 0;

  // The write queue: one entry per key; ready in FIFO order, deferred by due time.
  std::unordered_map<std::string, Pending> pending_;
  std::deque<std::string> ready_;
  std::multimap<Clock::SteadyTime, std::string> deferred_;
  EventStats stats_;
};

// Where Events are written.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual Result<json> create(const std::string& ns, const json& event) = 0;
  virtual Result<json> patch(const std::string& ns, const std::string& name,
                             const json& merge_patch) = 0;
};

// Events through the API server. `client` must outlive the sink.
std::unique_ptr<EventSink> make_client_event_sink(Client& client);

struct EventRecorderOptions {
  EventSource source;
  const Clock* clock = nullptr;  // null: real_clock()
  CorrelatorOptions correlator;
};

class EventRecorder {
 public:
  // Starts the writer thread. `sink` must outlive the recorder.
  EventRecorder(EventSink& sink, EventRecorderOptions options);
  ~EventRecorder();  // stop()
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Never blocks on I/O: correlates under a short lock and returns.
  Correlation record(const EventInput& input);
  Correlation normal(const ObjectReference& object, std::string reason, std::string message) {
    return record({object, EventType::Normal, std::move(reason), std::move(message)});
  }
  Correlation warning(const ObjectReference& object, std::string reason, std::string message) {
    return record({object, EventType::Warning, std::move(reason), std::move(message)});
  }

  // Stops accepting events, writes what is due now once (no retries; writes
  // deferred to later are dropped), and joins the writer. Idempotent.
  void stop();

  EventStats stats() const;
  // For tests: no write is running and none is due (the writer waits for
  // time or for new events).
  bool idle() const;

 private:
  void writer_loop();
  // Performs one write; false when it failed in a way worth retrying.
  bool write(const EventWrite& w, Error& error);

  EventSink& sink_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  EventCorrelator correlator_;  // guarded by mu_
  bool stopping_ = false;
  bool writing_ = false;
  uint64_t writes_ = 0;
  uint64_t write_failures_ = 0;

  std::thread writer_;
};

}  // namespace frugal::kube
