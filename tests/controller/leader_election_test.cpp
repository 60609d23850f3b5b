// Leader election as client-go's: who acquires, when a leader steps down,
// when a standby may take over (local observation, never the holder's
// renewTime), release, conflicts and callbacks. The unit tests run electors
// on real threads against an in-memory Lease under a FakeClock: time moves
// only in steps of kStep, and only once every elector is parked waiting for
// time (LeaderElector::loop_status), so every instant below is exact. One
// integration test runs two electors against kubesim with the real Client.
#include "controller/kube/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
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

using std::chrono::milliseconds;
using std::chrono::seconds;

// Upper bound on how long a poll waits for another thread to reach a state.
// Generous because TSan slows threads down; polls normally end at once.
// Fake time moves in steps of this size; every timing here is a multiple of it.
constexpr Clock::Duration kStep = milliseconds(100);

Error api_error(int status, std::string reason, std::string message) {
  Error e;
  e.http_status = status;
  e.reason = std::move(reason);
  e.message = std::move(message);
  return e;
}

// One Lease in memory with the API server's rules: resourceVersion bumps on
// every write, 409 on a stale update or a duplicate create.
class LeaseServer {
 public:
  Result<json> get() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!lease_) return Unexpected(api_error(404, "NotFound", "leases \"leader\" not found"));
    return *lease_;
  }

  Result<json> create(const json& spec) {
    std::lock_guard<std::mutex> lock(mu_);
    if (lease_) {
      return Unexpected(api_error(409, "AlreadyExists", "leases \"leader\" already exists"));
    }
    lease_ = json{{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", "leader"}, {"namespace", "default"}}},
                  {"spec", spec}};
    bump_locked();
    return *lease_;
  }

  Result<json> update(const json& lease) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!lease_) return Unexpected(api_error(404, "NotFound", "leases \"leader\" not found"));
    if (lease["metadata"].value("resourceVersion", "") !=
        (*lease_)["metadata"].value("resourceVersion", "")) {
      ++conflicts_;
      return Unexpected(api_error(409, "Conflict",
                                  "the object has been modified; please apply your changes to "
                                  "the latest version and try again"));
    }
    lease_ = lease;
    bump_locked();
    return *lease_;
  }

  // Another process writes the spec (creating the Lease if needed).
  void put(const LeaderElectionRecord& record) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!lease_) lease_ = json{{"metadata", {{"name", "leader"}, {"namespace", "default"}}}};
    (*lease_)["spec"] = lease_spec_from_record(record);
    bump_locked();
  }

  // Another process changes metadata only: the record is the same, the
  // resourceVersion is not.
  void touch() {
    std::lock_guard<std::mutex> lock(mu_);
    (*lease_)["metadata"]["annotations"]["touched"] = std::to_string(rv_);
    bump_locked();
  }

  LeaderElectionRecord record() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lease_ ? record_from_lease_spec((*lease_)["spec"]) : LeaderElectionRecord{};
  }

  int conflicts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return conflicts_;
  }

 private:
  void bump_locked() { (*lease_)["metadata"]["resourceVersion"] = std::to_string(++rv_); }

  mutable std::mutex mu_;
  std::optional<json> lease_;
  int64_t rv_ = 100;
  int conflicts_ = 0;
};

// One replica's connection to the LeaseServer, with its own faults: errors,
// latency (on the fake clock) and a gate that holds calls until opened.
class FakeLeaseStore final : public LeaseStore {
 public:
  FakeLeaseStore(LeaseServer& server, FakeClock& clock) : server_(server), clock_(clock) {}

  Result<json> get() override {
    if (auto e = enter()) return Unexpected(*e);
    return server_.get();
  }
  Result<json> create(const json& spec) override {
    if (auto e = enter()) return Unexpected(*e);
    return server_.create(spec);
  }
  Result<json> update(const json& lease) override {
    if (auto e = enter()) return Unexpected(*e);
    return server_.update(lease);
  }
  std::string describe() const override { return "default/leader"; }

  void set_failing(bool failing) {
    std::lock_guard<std::mutex> lock(mu_);
    failing_ = failing;
  }
  void set_latency(Clock::Duration latency) {
    std::lock_guard<std::mutex> lock(mu_);
    latency_ = latency;
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
  // Opens the gate and ends latency waits at once (teardown: a stopping
  // elector waits for its last call before it releases).
  void unblock() {
    std::lock_guard<std::mutex> lock(mu_);
    gate_closed_ = false;
    latency_ = Clock::Duration::zero();
    unblocked_ = true;
    cv_.notify_all();
  }
  // Set while a call waits in the gate (kNever) or in its latency.
  std::optional<Clock::SteadyTime> blocked_until() const {
    std::lock_guard<std::mutex> lock(mu_);
    return blocked_until_;
  }

 private:
  std::optional<Error> enter() {
    std::unique_lock<std::mutex> lock(mu_);
    if (gate_closed_) {
      blocked_until_ = Clock::kNever;
      cv_.wait(lock, [this] { return !gate_closed_; });
      blocked_until_.reset();
    }
    if (latency_ > Clock::Duration::zero()) {
      const Clock::SteadyTime until = clock_.deadline_after(latency_);
      blocked_until_ = until;
      clock_.wait_until(lock, cv_, until, [this] { return unblocked_; });
      blocked_until_.reset();
    }
    if (failing_) {
      Error e;
      e.transport = true;
      e.message = "connection refused";
      return e;
    }
    return std::nullopt;
  }

  LeaseServer& server_;
  FakeClock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool failing_ = false;
  bool gate_closed_ = false;
  bool unblocked_ = false;
  Clock::Duration latency_{};
  std::optional<Clock::SteadyTime> blocked_until_;
};

// A controller replica: its store, its elector and what its callbacks saw.
struct Replica {
  Replica(LeaseServer& server, FakeClock& clock, const std::string& identity,
          const std::function<void(Replica&)>& on_stopped = nullptr)
      : store(server, clock), elector(store, config(clock, identity, on_stopped)) {}

  LeaderElectionConfig config(FakeClock& clock, const std::string& identity,
                              const std::function<void(Replica&)>& on_stopped) {
    LeaderElectionConfig c;
    c.identity = identity;
    c.clock = &clock;
    c.jitter_factor = 0;  // exact retry instants; jitter has its own test
    c.callbacks.on_started_leading = [this] { ++started; };
    c.callbacks.on_stopped_leading = [this, on_stopped] {
      ++stopped;
      if (on_stopped) on_stopped(*this);
    };
    c.callbacks.on_new_leader = [this](const std::string& who) {
      std::lock_guard<std::mutex> lock(mu);
      leaders.push_back(who);
    };
    return c;
  }

  std::vector<std::string> seen_leaders() {
    std::lock_guard<std::mutex> lock(mu);
    return leaders;
  }

  // Parked until a future instant, with no Lease call running that is not
  // itself waiting on time: only advancing the clock can make it act.
  bool waiting_for_time(const FakeClock& clock) const {
    const auto st = elector.loop_status();
    if (!st.running) return true;
    if (!st.parked_until || *st.parked_until <= clock.now()) return false;
    if (!st.call_in_flight) return true;
    const auto blocked = store.blocked_until();
    return blocked && *blocked > clock.now();
  }

  FakeLeaseStore store;
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  std::mutex mu;
  std::vector<std::string> leaders;
  LeaderElector elector;  // last: destroyed (stopped) first
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  Replica& add(const std::string& identity,
               const std::function<void(Replica&)>& on_stopped = nullptr) {
    replicas_.push_back(std::make_unique<Replica>(server_, clock_, identity, on_stopped));
    return *replicas_.back();
  }

  void TearDown() override {
    for (auto& r : replicas_) r->store.unblock();
    for (auto& r : replicas_) r->elector.stop();
    replicas_.clear();
  }

  // Waits until every elector is waiting only for time.
  void settle() {
    ASSERT_TRUE(spin_until([&] {
      for (auto& r : replicas_) {
        if (!r->waiting_for_time(clock_)) return false;
      }
      return true;
    })) << "an elector did not settle at t="
        << seconds_since_start() << "s";
  }

  // Moves time forward by `d` in steps, settling before and after each and
  // calling `check` after each.
  void advance(Clock::Duration d, const std::function<void()>& check = nullptr) {
    for (Clock::Duration done{}; done < d; done += kStep) {
      settle();
      clock_.advance(kStep);
      settle();
      if (check) check();
    }
  }

  // Advances until `pred` holds (checked after each step) or `limit` passed;
  // returns the time at which it held.
  std::optional<Clock::Duration> advance_until(const std::function<bool()>& pred,
                                               Clock::Duration limit) {
    settle();
    if (pred()) return now();
    for (Clock::Duration done{}; done < limit; done += kStep) {
      clock_.advance(kStep);
      settle();
      if (pred()) return now();
    }
    return std::nullopt;
  }

  // Fake time since the test began.
  Clock::Duration now() const { return clock_.now() - start_; }
  double seconds_since_start() const { return std::chrono::duration<double>(now()).count(); }
  std::string wall_stamp(Clock::Duration offset = {}) const {
    return format_micro_time(clock_.wall_now() +
                             std::chrono::duration_cast<Clock::WallTime::duration>(offset));
  }

  FakeClock clock_;
  const Clock::SteadyTime start_ = clock_.now();
  LeaseServer server_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

// ---- pure helpers ----

TEST(LeaderElectionRecordTest, MicroTimeHasSixFractionDigitsInUtc) {
  const auto t = Clock::WallTime{} + seconds(1704067200) + std::chrono::microseconds(123456);
  EXPECT_EQ(format_micro_time(t), "2024-01-01T00:00:00.123456Z");
  EXPECT_EQ(format_micro_time(Clock::WallTime{} + seconds(1704067200)),
            "2024-01-01T00:00:00.000000Z");
}

TEST(LeaderElectionRecordTest, RoundTripsThroughLeaseSpecFieldNames) {
  LeaderElectionRecord r{"a", 15, "2024-01-01T00:00:00.000000Z", "2024-01-01T00:00:02.000000Z", 3};
  const json spec = lease_spec_from_record(r);
  EXPECT_EQ(spec["holderIdentity"], "a");
  EXPECT_EQ(spec["leaseDurationSeconds"], 15);
  EXPECT_EQ(spec["acquireTime"], "2024-01-01T00:00:00.000000Z");
  EXPECT_EQ(spec["renewTime"], "2024-01-01T00:00:02.000000Z");
  EXPECT_EQ(spec["leaseTransitions"], 3);
  EXPECT_EQ(record_from_lease_spec(spec), r);
  EXPECT_EQ(record_from_lease_spec(json::object()), LeaderElectionRecord{});
}

TEST(LeaderElectionConfigTest, RejectsWhatClientGoRejects) {
  LeaderElectionConfig ok;
  ok.identity = "a";
  EXPECT_TRUE(validate(ok));  // the client-go / controller-runtime defaults

  auto with = [&](const std::function<void(LeaderElectionConfig&)>& change) {
    LeaderElectionConfig c = ok;
    change(c);
    return static_cast<bool>(validate(c));
  };
  EXPECT_FALSE(with([](auto& c) { c.identity.clear(); }));
  EXPECT_FALSE(with([](auto& c) { c.lease_duration = c.renew_deadline; }));
  EXPECT_FALSE(with([](auto& c) { c.renew_deadline = milliseconds(2400); }));  // 1.2 * 2s
  EXPECT_FALSE(with([](auto& c) { c.retry_period = Clock::Duration::zero(); }));
  EXPECT_FALSE(with([](auto& c) { c.lease_duration = milliseconds(900); }));

  FakeClock clock;
  LeaseServer server;
  FakeLeaseStore store(server, clock);
  LeaderElectionConfig bad = ok;
  bad.identity.clear();
  EXPECT_THROW({ LeaderElector elector(store, bad); }, std::invalid_argument);
}

// ---- elections ----

TEST_F(LeaderElectionTest, SingleCandidateCreatesAbsentLeaseAndRenewsEveryRetryPeriod) {
  Replica& a = add("a");
  a.elector.start();
  settle();
  EXPECT_TRUE(a.elector.is_leader());
  EXPECT_EQ(a.started, 1);
  EXPECT_EQ(a.elector.leader(), "a");
  LeaderElectionRecord r = server_.record();
  EXPECT_EQ(r.holder_identity, "a");
  EXPECT_EQ(r.lease_duration_seconds, 15);
  EXPECT_EQ(r.leader_transitions, 0);
  EXPECT_EQ(r.acquire_time, "2024-01-01T00:00:00.000000Z");
  EXPECT_EQ(r.renew_time, "2024-01-01T00:00:00.000000Z");
  EXPECT_TRUE(
      std::regex_match(r.renew_time, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")));

  advance(seconds(2));
  r = server_.record();
  EXPECT_EQ(r.renew_time, "2024-01-01T00:00:02.000000Z");
  EXPECT_EQ(r.acquire_time, "2024-01-01T00:00:00.000000Z") << "renewal keeps acquireTime";
  advance(seconds(60));
  EXPECT_TRUE(a.elector.is_leader());
  EXPECT_EQ(server_.record().renew_time, "2024-01-01T00:01:02.000000Z");
  EXPECT_EQ(a.stopped, 0);
  EXPECT_EQ(a.seen_leaders(), std::vector<std::string>{"a"});
}

TEST_F(LeaderElectionTest, OfTwoCandidatesStartedTogetherExactlyOneLeads) {
  Replica& a = add("a");
  Replica& b = add("b");
  a.elector.start();
  b.elector.start();
  settle();
  auto exactly_one = [&] {
    ASSERT_NE(a.elector.is_leader(), b.elector.is_leader()) << "t=" << seconds_since_start();
  };
  exactly_one();
  Replica& leader = a.elector.is_leader() ? a : b;
  Replica& standby = a.elector.is_leader() ? b : a;
  advance(seconds(60), exactly_one);
  EXPECT_TRUE(leader.elector.is_leader());
  EXPECT_EQ(leader.started, 1);
  EXPECT_EQ(standby.started, 0);
  EXPECT_EQ(server_.record().leader_transitions, 0);
  EXPECT_EQ(standby.elector.leader(), leader.elector.observed_record().holder_identity);
  EXPECT_EQ(standby.seen_leaders(),
            std::vector<std::string>{leader.elector.observed_record().holder_identity});
}

TEST_F(LeaderElectionTest, LeaderWhoseRenewalsFailStopsAtRenewDeadlineAndStandbyWaitsForExpiry) {
  Replica& a = add("a");
  Replica& b = add("b");
  a.elector.start();  // t=0: creates the Lease, renews at 0, 2, 4, 6, 8
  advance(seconds(1));
  b.elector.start();  // t=1: polls at 1, 3, 5, 7, 9 ...
  advance(seconds(8));
  ASSERT_TRUE(a.elector.is_leader());
  a.store.set_failing(true);  // t=9: a's API connection breaks after its renewal at 8

  std::optional<Clock::Duration> a_stopped;
  std::optional<Clock::Duration> b_started;
  advance(seconds(20), [&] {
    if (!a_stopped && !a.elector.is_leader()) a_stopped = now();
    if (!b_started && b.elector.is_leader()) b_started = now();
    ASSERT_FALSE(a.elector.is_leader() && b.elector.is_leader()) << "t=" << seconds_since_start();
  });
  // The last round began at 10 (8 + retry 2); with no success by 10 + 10 a stops.
  ASSERT_TRUE(a_stopped);
  EXPECT_EQ(*a_stopped, seconds(20));
  EXPECT_EQ(a.stopped, 1);
  // b last saw the record change at 9 (a's renewal at 8), so it may take the
  // Lease once 9 + 15 = 24 has passed: on its poll at 25.
  ASSERT_TRUE(b_started);
  EXPECT_EQ(*b_started, seconds(25));
  EXPECT_EQ(b.started, 1);
  const LeaderElectionRecord r = server_.record();
  EXPECT_EQ(r.holder_identity, "b");
  EXPECT_EQ(r.leader_transitions, 1);
  EXPECT_EQ(r.acquire_time, wall_stamp(seconds(25) - now()));
  EXPECT_EQ(b.seen_leaders(), (std::vector<std::string>{"a", "b"}));
}

// The holder's renewTime says nothing to us; only when we saw the record
// change does. Whatever the dead holder's clock wrote, takeover waits exactly
// lease_duration of our own observation.
class DeadHolderTest : public LeaderElectionTest,
                       public ::testing::WithParamInterface<Clock::Duration> {};

TEST_P(DeadHolderTest, LeaseOfDeadHolderIsTakenOnlyAfterLeaseDurationOfLocalObservation) {
  const std::string skewed = wall_stamp(GetParam());
  server_.put({"ghost", 15, skewed, skewed, 3});
  Replica& a = add("a");
  a.elector.start();  // observes the record at 0; polls every 2 s
  const auto took = advance_until([&] { return a.elector.is_leader(); }, seconds(60));
  ASSERT_TRUE(took);
  EXPECT_EQ(*took, seconds(16)) << "first poll after 0 + 15";
  const LeaderElectionRecord r = server_.record();
  EXPECT_EQ(r.holder_identity, "a");
  EXPECT_EQ(r.leader_transitions, 4);
  EXPECT_EQ(a.seen_leaders(), (std::vector<std::string>{"ghost", "a"}));
}

INSTANTIATE_TEST_SUITE_P(HolderClockSkew, DeadHolderTest,
                         ::testing::Values(Clock::Duration::zero(), -std::chrono::hours(1),
                                           std::chrono::hours(1), std::chrono::hours(24 * 365)));

TEST_F(LeaderElectionTest, HolderThatKeepsChangingItsRecordIsNeverDisplacedWhateverItsClockSays) {
  // The holder's clock runs an hour behind ours; what matters is that its
  // record changes within every lease_duration.
  int n = 0;
  auto renew_ghost = [&] {
    const std::string stamp = wall_stamp(-std::chrono::hours(1) + seconds(n++));
    server_.put({"ghost", 15, stamp, stamp, 0});
  };
  renew_ghost();
  Replica& a = add("a");
  a.elector.start();
  for (int i = 0; i < 12; ++i) {
    advance(seconds(10));
    renew_ghost();
  }
  EXPECT_FALSE(a.elector.is_leader());
  EXPECT_EQ(a.started, 0);
  EXPECT_EQ(server_.record().holder_identity, "ghost");
}

TEST_F(LeaderElectionTest, ReleaseOnStopHandsOverWithinOneRetryPeriod) {
  std::optional<LeaderElectionRecord> at_stop;
  Replica& a = add("a", [&](Replica&) { at_stop = server_.record(); });
  Replica& b = add("b");
  a.elector.start();
  advance(seconds(1));
  b.elector.start();
  advance(seconds(4));
  ASSERT_TRUE(a.elector.is_leader());

  a.elector.stop();  // t=5
  EXPECT_FALSE(a.elector.is_leader());
  EXPECT_EQ(a.stopped, 1);
  ASSERT_TRUE(at_stop);
  EXPECT_EQ(at_stop->holder_identity, "a") << "work stops before the Lease is released";
  const LeaderElectionRecord released = server_.record();
  EXPECT_EQ(released.holder_identity, "");
  EXPECT_EQ(released.lease_duration_seconds, kReleasedLeaseDurationSeconds);
  EXPECT_EQ(released.renew_time, wall_stamp());
  EXPECT_EQ(released.acquire_time, wall_stamp());

  const Clock::Duration released_at = now();
  const auto took = advance_until([&] { return b.elector.is_leader(); }, seconds(15));
  ASSERT_TRUE(took);
  EXPECT_LE(*took - released_at, kDefaultRetryPeriod);
  EXPECT_EQ(server_.record().holder_identity, "b");
  EXPECT_EQ(server_.record().leader_transitions, 1);
  EXPECT_EQ(b.seen_leaders(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(a.seen_leaders(), std::vector<std::string>{"a"});
}

TEST_F(LeaderElectionTest, ConflictOnRenewalFallsBackToReadAndKeepsLeading) {
  Replica& a = add("a");
  a.elector.start();
  advance(seconds(3));
  server_.touch();  // someone else wrote the Lease (metadata only) at t=3
  advance(seconds(1), [&] { ASSERT_TRUE(a.elector.is_leader()); });
  EXPECT_EQ(server_.conflicts(), 1) << "the optimistic renewal at 4 met the new resourceVersion";
  EXPECT_EQ(server_.record().renew_time, wall_stamp()) << "and the slow path renewed at 4";
  advance(seconds(20), [&] { ASSERT_TRUE(a.elector.is_leader()); });
  EXPECT_EQ(a.stopped, 0);
  EXPECT_EQ(server_.conflicts(), 1);
}

TEST_F(LeaderElectionTest, LeaderStepsDownAtRenewDeadlineWhenAnotherHolderTookTheLease) {
  Replica& a = add("a");
  a.elector.start();
  advance(seconds(3));
  const std::string stamp = wall_stamp();
  server_.put({"intruder", 15, stamp, stamp, 1});  // t=3
  const auto stopped = advance_until([&] { return !a.elector.is_leader(); }, seconds(30));
  ASSERT_TRUE(stopped);
  // The round that began at 4 could not renew by 4 + 10.
  EXPECT_EQ(*stopped, seconds(14));
  EXPECT_EQ(a.seen_leaders(), (std::vector<std::string>{"a", "intruder"}));
  EXPECT_EQ(server_.record().holder_identity, "intruder") << "release left the new holder alone";
  EXPECT_GE(server_.conflicts(), 1);
}

TEST_F(LeaderElectionTest, HungRenewalStopsLeadingAtDeadlineWithoutWaitingForTheRequest) {
  Replica& a = add("a");
  Replica& b = add("b");
  a.elector.start();
  advance(seconds(1));
  b.elector.start();
  advance(seconds(8));
  a.store.close_gate();  // t=9: a's next request never returns

  std::optional<Clock::Duration> a_stopped;
  std::optional<Clock::Duration> b_started;
  advance(seconds(20), [&] {
    if (!a_stopped && !a.elector.is_leader()) a_stopped = now();
    if (!b_started && b.elector.is_leader()) b_started = now();
  });
  EXPECT_TRUE(a.store.blocked_until()) << "the renewal is still hanging";
  ASSERT_TRUE(a_stopped);
  EXPECT_EQ(*a_stopped, seconds(20));
  EXPECT_EQ(a.stopped, 1);
  ASSERT_TRUE(b_started);
  EXPECT_EQ(*b_started, seconds(25));

  // The hung renewal finally reaches the server: too late, b's write came
  // first, so it is a conflict; release then sees b holds the Lease.
  a.store.open_gate();
  settle();
  EXPECT_EQ(server_.record().holder_identity, "b");
  EXPECT_TRUE(b.elector.is_leader());
  EXPECT_FALSE(a.elector.is_leader());
}

TEST_F(LeaderElectionTest, SlowButTimelyRenewalsKeepLeadership) {
  Replica& a = add("a");
  Replica& b = add("b");
  a.elector.start();
  settle();
  a.store.set_latency(seconds(3));  // under renew_deadline
  b.elector.start();
  advance(seconds(60), [&] {
    ASSERT_TRUE(a.elector.is_leader()) << "t=" << seconds_since_start();
    ASSERT_FALSE(b.elector.is_leader());
  });
  EXPECT_EQ(a.stopped, 0);
}

TEST_F(LeaderElectionTest, CandidateStoppedBeforeLeadingCallsNoLeadershipCallbacks) {
  server_.put({"ghost", 15, wall_stamp(), wall_stamp(), 0});
  Replica& a = add("a");
  a.elector.start();
  advance(seconds(5));
  a.elector.stop();
  EXPECT_EQ(a.started, 0);
  EXPECT_EQ(a.stopped, 0);
  EXPECT_EQ(server_.record().holder_identity, "ghost") << "nothing to release";
  EXPECT_FALSE(a.elector.loop_status().running);
}

TEST_F(LeaderElectionTest, RunReturnsAfterLosingLeadership) {
  Replica& a = add("a");
  a.elector.start();
  advance(seconds(1));
  a.store.set_failing(true);
  advance(seconds(15));
  EXPECT_FALSE(a.elector.is_leader());
  EXPECT_FALSE(a.elector.loop_status().running) << "as client-go's Run, the loop has ended";
  a.store.set_failing(false);
  a.elector.start();  // a restart competes again: the Lease is still a's own
  settle();
  EXPECT_TRUE(a.elector.is_leader());
  EXPECT_EQ(a.started, 2);
}

TEST_F(LeaderElectionTest, AcquireRetriesAreJitteredWithinClientGoBounds) {
  const std::string stamp = wall_stamp();
  server_.put({"ghost", 15, stamp, stamp, 0});
  LeaseServer& server = server_;
  FakeLeaseStore store(server, clock_);
  LeaderElectionConfig c;
  c.identity = "a";
  c.clock = &clock_;  // default jitter 1.2
  LeaderElector a(store, c);
  a.start();
  // Waits between polls are in [2 s, 4.4 s): the ghost, observed at 0, is
  // taken on the first poll at or after 15 s, no later than 15 + 4.4 s.
  std::optional<Clock::Duration> took;
  for (Clock::Duration t{}; t < seconds(30) && !took; t += kStep) {
    ASSERT_TRUE(spin_until([&] {
      const auto st = a.loop_status();
      return st.parked_until && *st.parked_until > clock_.now() && !st.call_in_flight;
    }));
    if (a.is_leader()) took = now();
    clock_.advance(kStep);
  }
  ASSERT_TRUE(took);
  EXPECT_GE(*took, seconds(15));
  EXPECT_LT(*took, seconds(15) + milliseconds(4500));
  a.stop();
}

// ---- against kubesim, with the real Client and clock ----

TEST(LeaderElectionKubesim, StandbyLeadsWithinRetryPeriodOfLeaderRelease) {
  kubesim::ApiServer api;
  kubesim::HttpServer http({}, [&api](const kubesim::Request& r) { return api.handle(r); });
  ASSERT_TRUE(http.start());
  RestConfig rc;
  rc.server = "http://127.0.0.1:" + std::to_string(http.port());
  Client client(rc);

  // Short timings: lease 2 s, renew deadline 1.5 s, retry 0.2 s (jittered up to 0.44 s).
  auto config = [](const std::string& identity) {
    LeaderElectionConfig c;
    c.identity = identity;
    c.lease_duration = seconds(2);
    c.renew_deadline = milliseconds(1500);
    c.retry_period = milliseconds(200);
    return c;
  };
  auto store_a = make_client_lease_store(client, "default", "frugal-leader");
  auto store_b = make_client_lease_store(client, "default", "frugal-leader");
  LeaderElector a(*store_a, config("replica-a"));
  LeaderElector b(*store_b, config("replica-b"));
  a.start();
  b.start();
  ASSERT_TRUE(spin_until([&] { return a.is_leader() || b.is_leader(); }));
  LeaderElector& leader = a.is_leader() ? a : b;
  LeaderElector& standby = a.is_leader() ? b : a;
  const std::string leader_id = a.is_leader() ? "replica-a" : "replica-b";
  const std::string standby_id = a.is_leader() ? "replica-b" : "replica-a";
  ASSERT_TRUE(spin_until([&] { return standby.leader() == leader_id; }));
  EXPECT_FALSE(standby.is_leader());

  const auto released = std::chrono::steady_clock::now();
  leader.stop();
  ASSERT_TRUE(spin_until([&] { return standby.is_leader(); }));
  const auto handover = std::chrono::steady_clock::now() - released;
  // One jittered retry (<= 0.44 s) plus scheduling margin; well under the
  // 2 s a standby would wait for an unreleased lease.
  EXPECT_LT(handover, milliseconds(1500));

  Result<json> lease = client.get(lease_resource(), "default", "frugal-leader");
  ASSERT_TRUE(lease) << lease.error().to_string();
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], standby_id);
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  EXPECT_EQ((*lease)["spec"]["leaseDurationSeconds"], 2);
  EXPECT_TRUE(std::regex_match((*lease)["spec"]["renewTime"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")));
  standby.stop();
  http.stop();
}

}  // namespace
}  // namespace frugal::kube
