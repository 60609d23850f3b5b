// Event recording: the correlator's client-go rules (de-duplication into a
// count, aggregation of similar events, the per-object spam filter) and our
// queue on top (coalescing, deferred count updates, bounded size), as pure
// logic under a FakeClock; then the recorder's writer thread against a fake
// sink (fallback create, retries, never blocking the caller), and once
// against kubesim through the real Client.
#include "controller/kube/events.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "controller/kube/client.h"
#include "controller/kube/rest_config.h"
#include "sim/apiserver.h"
#include "sim/http_server.h"
#include "tests/support/poll.h"

namespace frugal::kube {
namespace {

using frugal::testing::spin_until;

using std::chrono::seconds;

// "prefix" + n, built by appending: g++ 12 at -O3 raises a false -Wrestrict
// on `"literal" + std::to_string(n)` (GCC bug 105329).
std::string numbered(const char* prefix, int n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

const EventSource kSource{"frugal-controller", "frugal-controller-7d9f", "node-1"};

ObjectReference job(const std::string& name) {
  return {"ml.frugal.dev/v1alpha1", "TrainingJob", "team-a", name, "uid-" + name, "42", ""};
}

EventInput warning(const ObjectReference& obj, std::string reason, std::string message) {
  return {obj, EventType::Warning, std::move(reason), std::move(message)};
}

// Pops every due write.
std::vector<EventWrite> drain(EventCorrelator& c) {
  std::vector<EventWrite> out;
  while (auto w = c.pop_due()) out.push_back(std::move(*w));
  return out;
}

// ---- EventCorrelator ----

TEST(EventCorrelator, IdenticalEventsQueuedTogetherBecomeOneCreateWithTheirCount) {
  FakeClock clock;
  EventCorrelator c(clock, kSource);
  EXPECT_EQ(c.add(warning(job("a"), "BackOff", "Back-off restarting")), Correlation::Created);
  for (int i = 1; i < 100; ++i) {
    ASSERT_EQ(c.add(warning(job("a"), "BackOff", "Back-off restarting")), Correlation::Coalesced);
  }
  const auto writes = drain(c);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].op, EventWrite::Op::Create);
  EXPECT_EQ(writes[0].event["count"], 100);
  EXPECT_EQ(c.stats().coalesced, 99u);
  EXPECT_EQ(c.next_due(), Clock::kNever);
}

TEST(EventCorrelator, IdenticalEventsWrittenOneByOneArePatchedAndTheLastCountWaitsForAToken) {
  FakeClock clock;
  EventCorrelator c(clock, kSource);
  std::vector<EventWrite> writes;
  std::vector<Correlation> outcomes;
  for (int i = 0; i < 100; ++i) {
    outcomes.push_back(c.add(warning(job("a"), "BackOff", "Back-off restarting")));
    for (auto& w : drain(c)) writes.push_back(std::move(w));  // a writer that keeps up
  }
  EXPECT_EQ(outcomes[0], Correlation::Created);
  EXPECT_EQ(outcomes[1], Correlation::Patched);
  EXPECT_EQ(outcomes[24], Correlation::Patched);
  EXPECT_EQ(outcomes[25], Correlation::Deferred) << "the 26th write exceeds the burst of 25";
  EXPECT_EQ(outcomes[99], Correlation::Coalesced);

  ASSERT_EQ(writes.size(), 25u);
  EXPECT_EQ(writes[0].op, EventWrite::Op::Create);
  EXPECT_EQ(writes[1].op, EventWrite::Op::Patch);
  EXPECT_EQ(writes[1].name, writes[0].name);
  EXPECT_EQ(writes[1].patch, (json{{"count", 2},
                                   {"lastTimestamp", "2024-01-01T00:00:00Z"},
                                   {"message", "Back-off restarting"}}));
  EXPECT_EQ(writes[24].patch["count"], 25);

  // The held-back count goes out once the object earns its next token.
  EXPECT_EQ(c.next_due(), clock.now() + kSpamRefillInterval);
  clock.advance(kSpamRefillInterval - seconds(1));
  EXPECT_FALSE(c.pop_due());
  clock.advance(seconds(1));
  const auto last = drain(c);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].op, EventWrite::Op::Patch);
  EXPECT_EQ(last[0].name, writes[0].name);
  EXPECT_EQ(last[0].patch["count"], 100);
  EXPECT_EQ(last[0].patch["lastTimestamp"], "2024-01-01T00:00:00Z");
}

TEST(EventCorrelator, SpamFilterDropsNewEventsBeyondBurstPerObjectAndType) {
  FakeClock clock;
  EventCorrelator c(clock, kSource);
  int created = 0;
  int dropped = 0;
  for (int i = 0; i < 30; ++i) {
    const Correlation r = c.add(warning(job("a"), numbered("Reason", i), "flapping"));
    created += r == Correlation::Created;
    dropped += r == Correlation::DroppedSpam;
    drain(c);
  }
  EXPECT_EQ(created, 25);
  EXPECT_EQ(dropped, 5);
  EXPECT_EQ(c.stats().dropped_spam, 5u);
  // Other objects, and other types of the same object, have buckets of their own.
  EXPECT_EQ(c.add(warning(job("b"), "Reason0", "flapping")), Correlation::Created);
  EXPECT_EQ(c.add({job("a"), EventType::Normal, "Reason0", "fine"}), Correlation::Created);
  // One token per refill interval.
  clock.advance(kSpamRefillInterval);
  EXPECT_EQ(c.add(warning(job("a"), "Reason25", "flapping")), Correlation::Created)
      << "a dropped event is new again, not a patch of an Event never written";
  EXPECT_EQ(c.add(warning(job("a"), "Reason26", "flapping")), Correlation::DroppedSpam);
}

TEST(EventCorrelator, SimilarEventsAreCombinedOnceTenDistinctMessagesArrive) {
  FakeClock clock;
  EventCorrelator c(clock, kSource);
  for (int i = 1; i <= 9; ++i) {
    ASSERT_EQ(c.add(warning(job("a"), "FailedScheduling", numbered("0/", i) + " nodes fit")),
              Correlation::Created);
    clock.advance(seconds(59));  // gaps under the 10-minute interval
  }
  const auto separate = drain(c);
  ASSERT_EQ(separate.size(), 9u);
  EXPECT_EQ(separate[8].event["message"], "0/9 nodes fit");

  ASSERT_EQ(c.add(warning(job("a"), "FailedScheduling", "0/10 nodes fit")), Correlation::Created);
  auto combined = drain(c);
  ASSERT_EQ(combined.size(), 1u);
  EXPECT_EQ(combined[0].event["message"], "(combined from similar events): 0/10 nodes fit");
  EXPECT_EQ(combined[0].event["reason"], "FailedScheduling");
  EXPECT_EQ(combined[0].event["count"], 1);

  ASSERT_EQ(c.add(warning(job("a"), "FailedScheduling", "0/11 nodes fit")), Correlation::Patched);
  auto more = drain(c);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].name, combined[0].name);
  EXPECT_EQ(more[0].patch["count"], 2);
  EXPECT_EQ(more[0].patch["message"], "(combined from similar events): 0/11 nodes fit");
  // Another reason of the same object is not similar.
  EXPECT_EQ(c.add(warning(job("a"), "Preempted", "0/12 nodes fit")), Correlation::Created);
}

TEST(EventCorrelator, SimilarEventsFurtherApartThanTheIntervalAreNotCombined) {
  FakeClock clock;
  EventCorrelator c(clock, kSource);
  for (int i = 1; i <= 12; ++i) {
    ASSERT_EQ(c.add(warning(job("a"), "FailedScheduling", numbered("attempt ", i))),
              Correlation::Created);
    const auto w = drain(c);
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0].event["message"], numbered("attempt ", i));
    clock.advance(kAggregateInterval + seconds(1));
  }
}

TEST(EventCorrelator, EventCarriesClientGoFieldsAndName) {
  FakeClock clock;  // wall time 2024-01-01T00:00:00Z = 0x17a6101701650000 ns
  EventCorrelator c(clock, kSource);
  ASSERT_EQ(c.add({job("train-1"), EventType::Normal, "Admitted", "Admitted to pool spot-a"}),
            Correlation::Created);
  auto w = drain(c);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].op, EventWrite::Op::Create);
  EXPECT_EQ(w[0].ns, "team-a");
  EXPECT_EQ(w[0].name, "train-1.17a6101701650000");
  const json expected = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", "train-1.17a6101701650000"}, {"namespace", "team-a"}}},
      {"involvedObject",
       {{"apiVersion", "ml.frugal.dev/v1alpha1"},
        {"kind", "TrainingJob"},
        {"namespace", "team-a"},
        {"name", "train-1"},
        {"uid", "uid-train-1"},
        {"resourceVersion", "42"}}},
      {"reason", "Admitted"},
      {"message", "Admitted to pool spot-a"},
      {"type", "Normal"},
      {"source", {{"component", "frugal-controller"}, {"host", "node-1"}}},
      {"firstTimestamp", "2024-01-01T00:00:00Z"},
      {"lastTimestamp", "2024-01-01T00:00:00Z"},
      {"count", 1},
      {"reportingComponent", "frugal-controller"},
      {"reportingInstance", "frugal-controller-7d9f"}};
  EXPECT_EQ(w[0].event, expected);

  // A cluster-scoped object's Events live in "default"; names stay unique
  // even at the same instant.
  ObjectReference team{"ml.frugal.dev/v1alpha1", "Team", "", "research", "uid-r", "", ""};
  ASSERT_EQ(c.add({team, EventType::Warning, "OverBudget", "Spent 101%"}), Correlation::Created);
  w = drain(c);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].ns, "default");
  EXPECT_EQ(w[0].name, "research.17a6101701650001");

  // A repeat later keeps firstTimestamp and moves lastTimestamp.
  clock.advance(seconds(90));
  ASSERT_EQ(c.add({job("train-1"), EventType::Normal, "Admitted", "Admitted to pool spot-a"}),
            Correlation::Patched);
  w = drain(c);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].name, "train-1.17a6101701650000");
  EXPECT_EQ(w[0].event["firstTimestamp"], "2024-01-01T00:00:00Z");
  EXPECT_EQ(w[0].event["lastTimestamp"], "2024-01-01T00:01:30Z");
  EXPECT_EQ(w[0].patch["lastTimestamp"], "2024-01-01T00:01:30Z");
}

TEST(EventCorrelator, FullQueueDropsNewWritesButStillCoalesces) {
  FakeClock clock;
  CorrelatorOptions options;
  options.queue_capacity = 3;
  EventCorrelator c(clock, kSource, options);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(c.add(warning(job(numbered("j", i)), "BackOff", "x")), Correlation::Created);
  }
  EXPECT_EQ(c.add(warning(job("j3"), "BackOff", "x")), Correlation::DroppedQueueFull);
  EXPECT_EQ(c.add(warning(job("j0"), "BackOff", "x")), Correlation::Coalesced);
  EXPECT_EQ(c.stats().dropped_queue_full, 1u);
  auto w = c.pop_due();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->event["count"], 2);
  EXPECT_EQ(c.add(warning(job("j3"), "BackOff", "x")), Correlation::Created)
      << "the dropped event was never written, so it is new";
}

TEST(EventCorrelator, RetryWaitsTheRetryIntervalAndGivesUpAfterMaxTries) {
  FakeClock clock;
  EventCorrelator c(clock, kSource);
  ASSERT_EQ(c.add(warning(job("a"), "BackOff", "x")), Correlation::Created);
  auto w = c.pop_due();
  ASSERT_TRUE(w);
  int tries = 1;
  while (c.retry_later(*w)) {
    EXPECT_FALSE(c.pop_due());
    EXPECT_EQ(c.next_due(), clock.now() + kEventRetryInterval);
    clock.advance(kEventRetryInterval);
    w = c.pop_due();
    ASSERT_TRUE(w);
    EXPECT_EQ(w->attempt, ++tries);
  }
  EXPECT_EQ(tries, kEventMaxTries);

  // A failed write is not retried when newer state for its Event is queued.
  ASSERT_EQ(c.add(warning(job("b"), "BackOff", "x")), Correlation::Created);
  auto failed = c.pop_due();
  ASSERT_TRUE(failed);
  ASSERT_EQ(c.add(warning(job("b"), "BackOff", "x")), Correlation::Patched);
  EXPECT_FALSE(c.retry_later(*failed));
}

// ---- EventRecorder ----

// An in-memory Events API with a gate that holds calls and injectable errors.
class FakeSink final : public EventSink {
 public:
  Result<json> create(const std::string& ns, const json& event) override {
    std::unique_lock<std::mutex> lock(mu_);
    enter(lock);
    ++creates_;
    if (auto e = injected()) return Unexpected(*e);
    const std::string key = ns + "/" + event["metadata"].value("name", "");
    if (events_.count(key) != 0) return Unexpected(error(409, "AlreadyExists"));
    events_[key] = event;
    return event;
  }

  Result<json> patch(const std::string& ns, const std::string& name,
                     const json& merge_patch) override {
    std::unique_lock<std::mutex> lock(mu_);
    enter(lock);
    ++patches_;
    if (auto e = injected()) return Unexpected(*e);
    auto it = events_.find(ns + "/" + name);
    if (it == events_.end()) return Unexpected(error(404, "NotFound"));
    it->second.merge_patch(merge_patch);
    return it->second;
  }

  void close_gate() {
    std::lock_guard<std::mutex> lock(mu_);
    gate_closed_ = true;
  }
  void open_gate() {
    std::lock_guard<std::mutex> lock(mu_);
    gate_closed_ = false;
    cv_.notify_all();
  }
  int blocked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return blocked_;
  }
  void fail_next(int status, std::string reason) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.push_back(error(status, std::move(reason)));
  }
  void forget_all() {  // the Events' TTL passed
    std::lock_guard<std::mutex> lock(mu_);
    events_.clear();
  }
  std::map<std::string, json> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  int creates() const {
    std::lock_guard<std::mutex> lock(mu_);
    return creates_;
  }
  int patches() const {
    std::lock_guard<std::mutex> lock(mu_);
    return patches_;
  }

 private:
  static Error error(int status, std::string reason) {
    Error e;
    e.http_status = status;
    e.reason = std::move(reason);
    return e;
  }
  void enter(std::unique_lock<std::mutex>& lock) {
    ++blocked_;
    cv_.wait(lock, [this] { return !gate_closed_; });
    --blocked_;
  }
  std::optional<Error> injected() {
    if (failures_.empty()) return std::nullopt;
    Error e = failures_.front();
    failures_.erase(failures_.begin());
    return e;
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool gate_closed_ = false;
  int blocked_ = 0;
  int creates_ = 0;
  int patches_ = 0;
  std::vector<Error> failures_;
  std::map<std::string, json> events_;
};

EventRecorderOptions recorder_options(const Clock& clock) {
  EventRecorderOptions o;
  o.source = kSource;
  o.clock = &clock;
  return o;
}

TEST(EventRecorder, HundredIdenticalEventsEndAsOneEventWithCountHundred) {
  FakeClock clock;
  FakeSink sink;
  EventRecorder recorder(sink, recorder_options(clock));
  for (int i = 0; i < 100; ++i) recorder.warning(job("a"), "BackOff", "Back-off restarting");
  ASSERT_TRUE(spin_until([&] { return recorder.idle(); }));
  if (recorder.stats().deferred > 0) {  // the writer kept up well enough to spend the burst
    clock.advance(kSpamRefillInterval);
    ASSERT_TRUE(spin_until([&] { return recorder.idle(); }));
  }
  const auto events = sink.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events.begin()->second["count"], 100);
  EXPECT_EQ(sink.creates(), 1);
  // At most the burst of 25 plus the one held-back count update.
  EXPECT_LE(sink.creates() + sink.patches(), 26);
  EXPECT_EQ(recorder.stats().writes, static_cast<uint64_t>(sink.creates() + sink.patches()));
}

TEST(EventRecorder, FullQueueDropsEventsWithoutBlockingTheCaller) {
  FakeClock clock;
  FakeSink sink;
  EventRecorderOptions options = recorder_options(clock);
  options.correlator.queue_capacity = 4;
  EventRecorder recorder(sink, options);
  sink.close_gate();
  recorder.warning(job("j0"), "BackOff", "x");
  ASSERT_TRUE(spin_until([&] { return sink.blocked() == 1; })) << "the writer holds j0";

  // The API hangs; reconcilers keep recording and must not wait for it.
  std::atomic<bool> done{false};
  std::thread reconciler([&] {
    for (int i = 1; i <= 8; ++i) recorder.warning(job(numbered("j", i)), "BackOff", "x");
    done = true;
  });
  const bool returned = spin_until([&] { return done.load(); });
  sink.open_gate();
  reconciler.join();
  ASSERT_TRUE(returned) << "record() blocked on a hanging API";
  EXPECT_EQ(recorder.stats().dropped_queue_full, 4u);
  ASSERT_TRUE(spin_until([&] { return recorder.idle(); }));
  EXPECT_EQ(sink.events().size(), 5u);
}

TEST(EventRecorder, PatchOfAnEventThatIsGoneCreatesItWithTheFullCount) {
  FakeClock clock;
  FakeSink sink;
  EventRecorder recorder(sink, recorder_options(clock));
  recorder.warning(job("a"), "BackOff", "x");
  ASSERT_TRUE(spin_until([&] { return recorder.idle() && sink.events().size() == 1; }));
  const std::string name = sink.events().begin()->first;
  sink.forget_all();
  recorder.warning(job("a"), "BackOff", "x");
  ASSERT_TRUE(spin_until([&] { return recorder.idle() && sink.events().size() == 1; }));
  EXPECT_EQ(sink.events().begin()->first, name);
  EXPECT_EQ(sink.events().begin()->second["count"], 2);
  EXPECT_EQ(sink.patches(), 1);
  EXPECT_EQ(sink.creates(), 2);
}

TEST(EventRecorder, RetryableFailureIsRetriedAfterTheRetryInterval) {
  FakeClock clock;
  FakeSink sink;
  EventRecorder recorder(sink, recorder_options(clock));
  sink.fail_next(503, "ServiceUnavailable");
  recorder.warning(job("a"), "BackOff", "x");
  ASSERT_TRUE(spin_until([&] { return recorder.idle() && sink.creates() == 1; }));
  EXPECT_TRUE(sink.events().empty());
  EXPECT_EQ(recorder.stats().retried, 1u);
  clock.advance(kEventRetryInterval);
  ASSERT_TRUE(spin_until([&] { return recorder.idle() && sink.events().size() == 1; }));
  EXPECT_EQ(recorder.stats().writes, 1u);

  // A rejected Event (422) is not retried: it is logged and counted.
  sink.fail_next(422, "Invalid");
  recorder.warning(job("b"), "BackOff", "x");
  ASSERT_TRUE(spin_until([&] { return recorder.idle() && recorder.stats().write_failures == 1; }));
  EXPECT_EQ(sink.events().size(), 1u);
}

TEST(EventRecorder, StopWritesWhatIsDueAndRefusesMore) {
  FakeClock clock;
  FakeSink sink;
  EventRecorder recorder(sink, recorder_options(clock));
  for (int i = 0; i < 3; ++i) recorder.normal(job(numbered("j", i)), "Admitted", "ok");
  recorder.stop();
  EXPECT_EQ(sink.events().size(), 3u);
  EXPECT_EQ(recorder.normal(job("late"), "Admitted", "ok"), Correlation::DroppedStopped);
  recorder.stop();  // idempotent
}

// ---- against kubesim, with the real Client ----

TEST(EventsKubesim, RepeatedEventIsOneEventWithItsCount) {
  kubesim::ApiServer api;
  kubesim::HttpServer http({}, [&api](const kubesim::Request& r) { return api.handle(r); });
  ASSERT_TRUE(http.start());
  RestConfig rc;
  rc.server = "http://127.0.0.1:" + std::to_string(http.port());
  Client client(rc);
  auto sink = make_client_event_sink(client);
  EventRecorderOptions options;
  options.source = kSource;
  EventRecorder recorder(*sink, options);

  const ObjectReference pod{"v1", "Pod", "default", "trainer-0", "uid-p", "", ""};
  for (int i = 0; i < 5; ++i) recorder.warning(pod, "SpotInterrupted", "Node reclaimed by cloud");
  json items;
  ASSERT_TRUE(spin_until([&] {
    if (!recorder.idle()) return false;
    Result<json> list = client.list(event_resource(), "default");
    if (!list) return false;
    items = (*list)["items"];
    return items.size() == 1 && items[0].value("count", 0) == 5;
  })) << items.dump();
  const json& e = items[0];
  EXPECT_EQ(e["involvedObject"]["name"], "trainer-0");
  EXPECT_EQ(e["reason"], "SpotInterrupted");
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["source"]["component"], "frugal-controller");
  EXPECT_EQ(e["reportingInstance"], "frugal-controller-7d9f");
  EXPECT_EQ(e["metadata"]["name"].get<std::string>().rfind("trainer-0.", 0), 0u);
  recorder.stop();
  http.stop();
}

}  // namespace
}  // namespace frugal::kube
