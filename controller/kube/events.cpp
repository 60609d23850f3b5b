#include "controller/kube/events.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <utility>

#include "controller/kube/log.h"

namespace frugal::kube {

namespace {

// Joins key parts with a separator that cannot occur in names or reasons, so
// that ("ab", "c") and ("a", "bc") differ (client-go joins with "").
std::string join_key(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) {
    out.append(p);
    out.push_back('\x1f');
  }
  return out;
}

// metav1.Time: RFC 3339 in UTC with whole seconds.
std::string format_time(Clock::WallTime t) {
  const std::time_t secs =
      std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

class ClientEventSink final : public EventSink {
 public:
  explicit ClientEventSink(Client& client) : client_(client) {}
  Result<json> create(const std::string& ns, const json& event) override {
    return client_.create(event_resource(), ns, event);
  }
  Result<json> patch(const std::string& ns, const std::string& name,
                     const json& merge_patch) override {
    return client_.patch(event_resource(), ns, name, PatchType::Merge, merge_patch);
  }

 private:
  Client& client_;
};

}  // namespace

ResourceRef event_resource() { return ResourceRef{"", "v1", "events", "Event", true}; }

std::unique_ptr<EventSink> make_client_event_sink(Client& client) {
  return std::make_unique<ClientEventSink>(client);
}

json ObjectReference::to_json() const {
  json ref = json::object();
  auto set = [&](const char* key, const std::string& value) {
    if (!value.empty()) ref[key] = value;
  };
  set("apiVersion", api_version);
  set("kind", kind);
  set("namespace", ns);
  set("name", name);
  set("uid", uid);
  set("resourceVersion", resource_version);
  set("fieldPath", field_path);
  return ref;
}

ObjectReference reference_to(const json& object) {
  ObjectReference ref;
  if (!object.is_object()) return ref;
  ref.api_version = object.value("apiVersion", "");
  ref.kind = object.value("kind", "");
  const json meta = object.value("metadata", json::object());
  ref.ns = meta.value("namespace", "");
  ref.name = meta.value("name", "");
  ref.uid = meta.value("uid", "");
  ref.resource_version = meta.value("resourceVersion", "");
  return ref;
}

std::string_view to_string(EventType type) {
  return type == EventType::Warning ? "Warning" : "Normal";
}

std::string_view to_string(Correlation c) {
  switch (c) {
    case Correlation::Created:
      return "Created";
    case Correlation::Patched:
      return "Patched";
    case Correlation::Coalesced:
      return "Coalesced";
    case Correlation::Deferred:
      return "Deferred";
    case Correlation::DroppedSpam:
      return "DroppedSpam";
    case Correlation::DroppedQueueFull:
      return "DroppedQueueFull";
    case Correlation::DroppedStopped:
      return "DroppedStopped";
  }
  return "Unknown";
}

// ---- EventCorrelator ----

EventCorrelator::EventCorrelator(const Clock& clock, EventSource source, CorrelatorOptions options)
    : clock_(clock),
      source_(std::move(source)),
      options_(options),
      aggregates_(options.cache_entries),
      logs_(options.cache_entries),
      spam_(options.cache_entries) {}

Correlation EventCorrelator::add(const EventInput& in) {
  const Clock::SteadyTime now = clock_.now();
  const Clock::WallTime wall = clock_.wall_now();
  const std::string stamp = format_time(wall);
  const std::string_view type = to_string(in.type);
  const ObjectReference& obj = in.object;
  // The source is the same for every event of this correlator, so the keys
  // leave it out; otherwise they are client-go's getSpamKey,
  // EventAggregatorByReasonFunc and getEventKey.
  const std::string spam_key =
      join_key({obj.api_version, obj.kind, obj.ns, obj.name, obj.uid, type});
  const std::string aggregate_key = spam_key + join_key({in.reason});
  std::string key = aggregate_key + join_key({obj.field_path, in.message});
  std::string message = in.message;

  // 1. Aggregation (EventAggregator.EventAggregate): once the distinct
  // messages for this reason reach the limit, with no gap over the interval
  // since the last one, the event becomes the combined event.
  AggregateRecord* agg = aggregates_.get(aggregate_key);
  if (agg == nullptr || now - agg->last > options_.aggregate_interval) {
    agg = &aggregates_.put(aggregate_key, AggregateRecord{});
  }
  agg->messages.insert(in.message);
  agg->last = now;
  if (agg->messages.size() >= options_.aggregate_max_events) {
    agg->messages.erase(agg->messages.begin());  // client-go: PopAny, to stay below the limit
    key = aggregate_key;
    message = std::string(kCombinedMessagePrefix) + in.message;
  }

  // 2. De-duplication (eventLogger.eventObserve): a key already written is a
  // count update of the same Event.
  const EventLog* seen = logs_.get(key);
  const bool repeat = seen != nullptr;
  EventLog entry = repeat ? *seen : EventLog{0, stamp, new_event_name(obj.name, wall)};
  entry.count += 1;
  logs_.put(key, entry);

  const std::string ns = obj.ns.empty() ? "default" : obj.ns;  // client-go: NamespaceDefault
  json source = {{"component", source_.component}};
  if (!source_.host.empty()) source["host"] = source_.host;
  json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", entry.name}, {"namespace", ns}}},
                {"involvedObject", obj.to_json()},
                {"reason", in.reason},
                {"message", message},
                {"type", type},
                {"source", std::move(source)},
                {"firstTimestamp", entry.first_timestamp},
                {"lastTimestamp", stamp},
                {"count", entry.count},
                {"reportingComponent", source_.component},
                {"reportingInstance", source_.instance}};
  json patch = {{"count", entry.count}, {"lastTimestamp", stamp}, {"message", message}};

  // 3. Coalescing: a write for this Event is already queued; bring it up to date.
  if (auto it = pending_.find(key); it != pending_.end()) {
    EventWrite& w = it->second.write;
    if (w.name != entry.name) w.op = EventWrite::Op::Create;  // its cache entry was evicted
    w.name = entry.name;
    w.event = std::move(event);
    if (w.op == EventWrite::Op::Patch) w.patch = std::move(patch);
    ++stats_.coalesced;
    return Correlation::Coalesced;
  }

  if (pending_.size() >= options_.queue_capacity) {
    if (!repeat) logs_.erase(key);  // never written: a later one starts afresh
    ++stats_.dropped_queue_full;
    return Correlation::DroppedQueueFull;
  }

  EventWrite w;
  w.op = repeat ? EventWrite::Op::Patch : EventWrite::Op::Create;
  w.key = key;
  w.ns = ns;
  w.name = entry.name;
  w.event = std::move(event);
  if (repeat) w.patch = std::move(patch);

  // 4. Spam filter (EventSourceObjectSpamFilter): every write spends a token.
  if (spam_take(spam_key, now)) {
    enqueue(std::move(w), now, now);
    if (repeat) {
      ++stats_.patched;
      return Correlation::Patched;
    }
    ++stats_.created;
    return Correlation::Created;
  }
  if (!repeat) {
    logs_.erase(key);
    ++stats_.dropped_spam;
    return Correlation::DroppedSpam;
  }
  enqueue(std::move(w), spam_reserve(spam_key, now), now);
  ++stats_.deferred;
  return Correlation::Deferred;
}

std::optional<EventWrite> EventCorrelator::pop_due() {
  const Clock::SteadyTime now = clock_.now();
  while (!deferred_.empty() && deferred_.begin()->first <= now) {
    ready_.push_back(std::move(deferred_.begin()->second));
    deferred_.erase(deferred_.begin());
  }
  while (!ready_.empty()) {
    const std::string key = std::move(ready_.front());
    ready_.pop_front();
    auto it = pending_.find(key);
    if (it == pending_.end()) continue;
    EventWrite w = std::move(it->second.write);
    pending_.erase(it);
    return w;
  }
  return std::nullopt;
}

Clock::SteadyTime EventCorrelator::next_due() const {
  Clock::SteadyTime due = Clock::kNever;
  if (!ready_.empty()) {
    auto it = pending_.find(ready_.front());
    if (it != pending_.end()) due = it->second.due;
  }
  if (!deferred_.empty()) due = std::min(due, deferred_.begin()->first);
  return due;
}

bool EventCorrelator::retry_later(EventWrite write) {
  if (pending_.count(write.key) != 0) return false;
  if (write.attempt >= options_.max_tries) return false;
  if (pending_.size() >= options_.queue_capacity) return false;
  ++write.attempt;
  const Clock::SteadyTime now = clock_.now();
  enqueue(std::move(write), now + options_.retry_interval, now);
  ++stats_.retried;
  return true;
}

void EventCorrelator::enqueue(EventWrite write, Clock::SteadyTime due, Clock::SteadyTime now) {
  const std::string key = write.key;
  pending_[key] = Pending{std::move(write), due};
  if (due <= now) {
    ready_.push_back(key);
  } else {
    deferred_.emplace(due, key);
  }
}

std::string EventCorrelator::new_event_name(const std::string& object_name, Clock::WallTime t) {
  // client-go: fmt.Sprintf("%v.%x", ref.Name, t.UnixNano()). Two events at
  // the same nanosecond (a fake clock) still get distinct names.
  int64_t nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  nanos = std::max(nanos, last_name_nanos_ + 1);
  last_name_nanos_ = nanos;
  char hex[32];
  std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(nanos));
  return object_name + "." + hex;
}

EventCorrelator::TokenBucket& EventCorrelator::bucket(const std::string& key,
                                                      Clock::SteadyTime now) {
  TokenBucket* b = spam_.get(key);
  if (b == nullptr) b = &spam_.put(key, TokenBucket{options_.spam_burst, now});
  const double refilled = std::chrono::duration<double>(now - b->last).count() /
                          std::chrono::duration<double>(options_.spam_refill_interval).count();
  b->tokens = std::min(options_.spam_burst, b->tokens + refilled);
  b->last = now;
  return *b;
}

bool EventCorrelator::spam_take(const std::string& key, Clock::SteadyTime now) {
  TokenBucket& b = bucket(key, now);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

Clock::SteadyTime EventCorrelator::spam_reserve(const std::string& key, Clock::SteadyTime now) {
  // Spends a token now that will only exist later; the write waits for it.
  TokenBucket& b = bucket(key, now);
  b.tokens -= 1;
  if (b.tokens >= 0) return now;
  const std::chrono::duration<double> wait =
      std::chrono::duration<double>(options_.spam_refill_interval) * -b.tokens;
  return now + std::chrono::ceil<Clock::Duration>(wait);
}

// ---- EventRecorder ----

EventRecorder::EventRecorder(EventSink& sink, EventRecorderOptions options)
    : sink_(sink),
      clock_(options.clock ? *options.clock : real_clock()),
      correlator_(clock_, std::move(options.source), options.correlator) {
  writer_ = std::thread([this] { writer_loop(); });
}

EventRecorder::~EventRecorder() { stop(); }

Correlation EventRecorder::record(const EventInput& input) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return Correlation::DroppedStopped;
  const Correlation c = correlator_.add(input);
  if (c == Correlation::Created || c == Correlation::Patched || c == Correlation::Deferred) {
    cv_.notify_all();
  }
  return c;
}

void EventRecorder::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
}

EventStats EventRecorder::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  EventStats s = correlator_.stats();
  s.writes = writes_;
  s.write_failures = write_failures_;
  return s;
}

bool EventRecorder::idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !writing_ && correlator_.next_due() > clock_.now();
}

void EventRecorder::writer_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    std::optional<EventWrite> w = correlator_.pop_due();
    if (!w) {
      if (stopping_) return;
      const Clock::SteadyTime due = correlator_.next_due();
      clock_.wait_until(lock, cv_, due, [&] {
        const Clock::SteadyTime next = correlator_.next_due();
        return stopping_ || next < due || next <= clock_.now();
      });
      continue;
    }
    writing_ = true;
    lock.unlock();
    Error error;
    const bool ok = write(*w, error);
    lock.lock();
    writing_ = false;
    if (ok) {
      ++writes_;
      continue;
    }
    const std::string event = w->ns + "/" + w->name;
    if (!stopping_ && error.is_retryable() && correlator_.retry_later(*w)) {
      log::debug("Failed to write event, will retry",
                 {{"event", event}, {"attempt", w->attempt}, {"err", error.to_string()}});
      continue;
    }
    ++write_failures_;
    log::error("Failed to write event",
               {{"event", event}, {"attempt", w->attempt}, {"err", error.to_string()}});
  }
}

bool EventRecorder::write(const EventWrite& w, Error& error) {
  auto create = [&]() {
    Result<json> r = sink_.create(w.ns, w.event);
    // client-go: AlreadyExists means an earlier attempt got through.
    if (r || r.error().is_already_exists()) return true;
    error = r.error();
    return false;
  };
  if (w.op == EventWrite::Op::Create) return create();
  Result<json> r = sink_.patch(w.ns, w.name, w.patch);
  if (r) return true;
  // client-go recordEvent: the Event is gone (its TTL passed, or its create
  // failed), so create it whole, count included.
  if (r.error().is_not_found()) return create();
  error = r.error();
  return false;
}

}  // namespace frugal::kube
