// Lease-based leader election, as client-go's tools/leaderelection with the
// LeaseLock resource lock (a coordination.k8s.io/v1 Lease), so that of several
// controller replicas exactly one does the work and a standby takes over when
// the leader dies, stalls or shuts down.
//
// The rules, as client-go (leaderelection.go, tryAcquireOrRenew):
//   * a candidate takes the Lease when it is absent, held by itself, released
//     (empty holderIdentity), or expired;
//   * "expired" is judged by LOCAL observation: the steady time at which this
//     process last saw the Lease's record change, plus the record's
//     leaseDurationSeconds. The holder's renewTime is written for humans and
//     never compared with our clock, so clock skew between machines cannot
//     make two replicas lead at once;
//   * the leader renews every retry_period; when a round of renewals has not
//     succeeded within renew_deadline it stops leading at once, even while a
//     request is still hanging (client-go gives up on the request's goroutine
//     the same way). Because lease_duration > renew_deadline + retry_period,
//     the old leader has stopped before any standby can see the lease expire;
//   * every write is an update guarded by the Lease's resourceVersion, so of
//     two candidates racing for an expired Lease one gets a 409 and loses;
//   * release (client-go's ReleaseOnCancel) writes holderIdentity "",
//     leaseDurationSeconds 1 and fresh times, so a standby takes over on its
//     next retry instead of waiting out the lease.
//
// Threads: run() is the election loop; Lease reads and writes happen on a
// helper thread it owns, so that the loop can stop leading at the deadline
// without waiting for a request to return. Callbacks run on the loop's thread
// with no lock held; they must return promptly and must not call stop().
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/expected.h"
#include "controller/kube/client.h"
#include "controller/kube/error.h"

namespace frugal::kube {

using json = nlohmann::json;

// client-go's leaderelection timings as controller-runtime sets them
// (pkg/manager/manager.go: defaultLeaseDuration 15s, defaultRenewDeadline
// 10s, defaultRetryPeriod 2s).
inline constexpr std::chrono::seconds kDefaultLeaseDuration{15};
inline constexpr std::chrono::seconds kDefaultRenewDeadline{10};
inline constexpr std::chrono::seconds kDefaultRetryPeriod{2};
// client-go leaderelection.JitterFactor: a candidate waits retry_period
// times [1, 1 + 1.2) between attempts to acquire, so candidates spread out.
inline constexpr double kDefaultLeaderElectionJitter = 1.2;
// client-go release(): the released record's leaseDurationSeconds.
inline constexpr int64_t kReleasedLeaseDurationSeconds = 1;

// coordination.k8s.io/v1 leases.
ResourceRef lease_resource();

// The one Lease an election is held on: a thin, swappable view so that tests
// can use an in-memory Lease with injected errors and latency.
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;
  // The Lease object; an Error with is_not_found() when there is none.
  virtual Result<json> get() = 0;
  // Creates the Lease with this spec; AlreadyExists when another was faster.
  virtual Result<json> create(const json& spec) = 0;
  // Replaces the Lease with `lease`: an object as returned by get/create/
  // update with its spec changed. Its metadata.resourceVersion is the
  // precondition: a Conflict when the Lease changed meanwhile.
  virtual Result<json> update(const json& lease) = 0;
  // "namespace/name", for logs.
  virtual std::string describe() const = 0;
};

// A LeaseStore on the API server. `client` must outlive the store.
std::unique_ptr<LeaseStore> make_client_lease_store(Client& client, std::string ns,
                                                    std::string name);

// client-go's resourcelock.LeaderElectionRecord: what a Lease spec says.
// Times are kept as the strings written (MicroTime); they are never parsed,
// because decisions use local observation time only.
struct LeaderElectionRecord {
  std::string holder_identity;
  int64_t lease_duration_seconds = 0;
  std::string acquire_time;
  std::string renew_time;
  int64_t leader_transitions = 0;  // Lease spec.leaseTransitions

  bool operator==(const LeaderElectionRecord&) const = default;
};

// Lease spec <-> record, as client-go's LeaseSpecToLeaderElectionRecord and
// LeaderElectionRecordToLeaseSpec (absent fields read as zero values).
LeaderElectionRecord record_from_lease_spec(const json& spec);
json lease_spec_from_record(const LeaderElectionRecord& record);

// metav1.MicroTime in UTC: "2006-01-02T15:04:05.000000Z".
std::string format_micro_time(Clock::WallTime t);

struct LeaderCallbacks {
  // This replica became the leader: start the guarded work.
  std::function<void()> on_started_leading;
  // This replica stopped leading (renewal failed, or stop()): stop the
  // guarded work now. Called only after on_started_leading. With
  // release_on_cancel, the Lease is released after this returns, so work
  // stopped synchronously here never overlaps the next leader's.
  std::function<void()> on_stopped_leading;
  // The observed holder changed (our own identity included); "" means the
  // Lease was released and nobody holds it.
  std::function<void(const std::string& identity)> on_new_leader;
};

struct LeaderElectionConfig {
  std::string identity;  // unique per replica, e.g. the pod name plus a random suffix
  Clock::Duration lease_duration = kDefaultLeaseDuration;  // written in whole seconds
  Clock::Duration renew_deadline = kDefaultRenewDeadline;
  Clock::Duration retry_period = kDefaultRetryPeriod;
  double jitter_factor = kDefaultLeaderElectionJitter;
  // client-go's ReleaseOnCancel; controller-runtime's LeaderElectionReleaseOnCancel.
  bool release_on_cancel = true;
  const Clock* clock = nullptr;  // null: real_clock()
  LeaderCallbacks callbacks;
};

// client-go NewLeaderElector's checks: positive durations, lease_duration >
// renew_deadline > jitter_factor * retry_period, a non-empty identity.
Expected<void, std::string> validate(const LeaderElectionConfig& config);

class LeaderElector {
 public:
  // `store` must outlive the elector. An invalid config (see validate) is a
  // programming error and throws std::invalid_argument.
  LeaderElector(LeaseStore& store, LeaderElectionConfig config);
  ~LeaderElector();  // stop()
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // The election loop: tries to acquire until it succeeds or `stop` is
  // requested; then leads, renewing, until renewal fails or `stop` is
  // requested; then calls on_stopped_leading and (release_on_cancel)
  // releases the Lease. Returns after leadership ended, as client-go's Run:
  // a replica that lost its lease should restart (controller-runtime exits)
  // rather than trust state it built while leading. Returns at once if the
  // loop is already running.
  void run(const std::stop_token& stop);
  // run() on a thread of the elector's own. Idempotent while it runs.
  void start();
  // Requests the loop to stop and joins it (releasing the Lease if leading).
  void stop();

  // True from just before on_started_leading until just before
  // on_stopped_leading (the moment renewal failed or stop began). Thread-safe.
  bool is_leader() const;
  // The holder last observed ("" for none yet or released), as GetLeader.
  std::string leader() const;
  // The record last observed or written.
  LeaderElectionRecord observed_record() const;

  // For tests and debugging: what the loop is doing. It is waiting only for
  // time to pass when it is parked until a future instant and no Lease
  // request is running (or the one running is itself waiting on time).
  struct LoopStatus {
    bool running = false;
    std::optional<Clock::SteadyTime> parked_until;
    bool call_in_flight = false;
  };
  LoopStatus loop_status() const;

 private:
  void run_loop(const std::stop_token& stop);
  bool acquire(const std::stop_token& stop);
  void renew(const std::stop_token& stop);
  void release();
  // Runs `fn` on the helper thread and waits for its result until `deadline`
  // or stop. nullopt: gave up; the call finishes alone, and the next call
  // waits for it first (Lease calls never overlap).
  std::optional<bool> call(std::function<bool()> fn, Clock::SteadyTime deadline,
                           const std::stop_token* stop);
  // Parks until `t`; false when stopped first.
  bool sleep_until(Clock::SteadyTime t, const std::stop_token& stop);
  void helper_loop();
  void maybe_report_transition();
  Clock::Duration jittered(Clock::Duration d);

  // Helper thread only: client-go's tryAcquireOrRenew and release.
  bool try_acquire_or_renew();
  bool release_lease();
  void set_observed_locked(const LeaderElectionRecord& record);
  bool lease_valid_locked(Clock::SteadyTime now) const;

  LeaseStore& store_;
  const LeaderElectionConfig config_;
  const Clock& clock_;
  const std::string lease_name_;  // store_.describe()

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Election state, guarded by mu_.
  bool running_ = false;
  bool leading_ = false;
  LeaderElectionRecord observed_;
  Clock::SteadyTime observed_time_{};
  std::string reported_leader_;
  // The loop <-> helper hand-off, guarded by mu_.
  std::function<bool()> job_;
  bool call_in_flight_ = false;
  bool awaiting_call_ = false;  // the loop is parked on the call's result
  bool helper_exit_ = false;
  bool result_ = false;
  std::optional<Clock::SteadyTime> parked_until_;

  // Helper thread only: the Lease last read or written; its
  // resourceVersion guards the next update.
  json lease_;
  // Loop thread only.
  std::minstd_rand rng_;

  std::jthread thread_;  // start()/stop()
};

}  // namespace frugal::kube
