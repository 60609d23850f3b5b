#include "controller/kube/leader_election.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <utility>

#include "controller/kube/log.h"

namespace frugal::kube {

namespace {

using std::chrono::duration_cast;

std::string lease_object_name(const json& lease) {
  if (!lease.is_object() || !lease.contains("metadata")) return {};
  return lease["metadata"].value("name", "");
}

class ClientLeaseStore final : public LeaseStore {
 public:
  ClientLeaseStore(Client& client, std::string ns, std::string name)
      : client_(client), ns_(std::move(ns)), name_(std::move(name)) {}

  Result<json> get() override { return client_.get(lease_resource(), ns_, name_); }

  Result<json> create(const json& spec) override {
    const ResourceRef r = lease_resource();
    json lease = {{"apiVersion", r.api_version()},
                  {"kind", r.kind},
                  {"metadata", {{"name", name_}, {"namespace", ns_}}},
                  {"spec", spec}};
    return client_.create(r, ns_, lease);
  }

  Result<json> update(const json& lease) override {
    return client_.update(lease_resource(), ns_, lease);
  }

  std::string describe() const override { return ns_ + "/" + name_; }

 private:
  Client& client_;
  const std::string ns_;
  const std::string name_;
};

}  // namespace

ResourceRef lease_resource() {
  return ResourceRef{"coordination.k8s.io", "v1", "leases", "Lease", true};
}

std::unique_ptr<LeaseStore> make_client_lease_store(Client& client, std::string ns,
                                                    std::string name) {
  return std::make_unique<ClientLeaseStore>(client, std::move(ns), std::move(name));
}

LeaderElectionRecord record_from_lease_spec(const json& spec) {
  LeaderElectionRecord r;
  if (!spec.is_object()) return r;
  auto str = [&](const char* key) {
    auto it = spec.find(key);
    return it != spec.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto num = [&](const char* key) {
    auto it = spec.find(key);
    return it != spec.end() && it->is_number_integer() ? it->get<int64_t>() : int64_t{0};
  };
  r.holder_identity = str("holderIdentity");
  r.lease_duration_seconds = num("leaseDurationSeconds");
  r.acquire_time = str("acquireTime");
  r.renew_time = str("renewTime");
  r.leader_transitions = num("leaseTransitions");
  return r;
}

json lease_spec_from_record(const LeaderElectionRecord& r) {
  json spec = {{"holderIdentity", r.holder_identity},
               {"leaseDurationSeconds", r.lease_duration_seconds},
               {"leaseTransitions", r.leader_transitions}};
  if (!r.acquire_time.empty()) spec["acquireTime"] = r.acquire_time;
  if (!r.renew_time.empty()) spec["renewTime"] = r.renew_time;
  return spec;
}

std::string format_micro_time(Clock::WallTime t) {
  const int64_t us = duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  // Floor division, so instants before 1970 still print a valid time.
  int64_t secs = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

Expected<void, std::string> validate(const LeaderElectionConfig& c) {
  using Err = Unexpected<std::string>;
  if (c.identity.empty()) return Err("leader election identity is empty");
  if (c.lease_duration < std::chrono::seconds(1)) {
    return Err("leaseDuration must be at least one second (it is written in whole seconds)");
  }
  if (c.renew_deadline <= Clock::Duration::zero()) {
    return Err("renewDeadline must be greater than zero");
  }
  if (c.retry_period <= Clock::Duration::zero()) {
    return Err("retryPeriod must be greater than zero");
  }
  if (c.jitter_factor < 0) return Err("jitter factor must not be negative");
  if (c.lease_duration <= c.renew_deadline) {
    return Err("leaseDuration must be greater than renewDeadline");
  }
  if (std::chrono::duration<double>(c.renew_deadline).count() <=
      c.jitter_factor * std::chrono::duration<double>(c.retry_period).count()) {
    return Err("renewDeadline must be greater than retryPeriod*JitterFactor");
  }
  return {};
}

namespace {
LeaderElectionConfig checked(LeaderElectionConfig c) {
  if (auto ok = validate(c); !ok) throw std::invalid_argument(ok.error());
  return c;
}
}  // namespace

LeaderElector::LeaderElector(LeaseStore& store, LeaderElectionConfig config)
    : store_(store),
      config_(checked(std::move(config))),
      clock_(config_.clock ? *config_.clock : real_clock()),
      lease_name_(store.describe()),
      rng_(std::random_device{}()) {}

LeaderElector::~LeaderElector() { stop(); }

void LeaderElector::start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_) return;
    running_ = true;
  }
  if (thread_.joinable()) thread_.join();  // a loop that ended on its own
  thread_ = std::jthread([this](const std::stop_token& stop) { run_loop(stop); });
}

void LeaderElector::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

void LeaderElector::run(const std::stop_token& stop) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_) return;
    running_ = true;
  }
  run_loop(stop);
}

bool LeaderElector::is_leader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leading_;
}

std::string LeaderElector::leader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return observed_.holder_identity;
}

LeaderElectionRecord LeaderElector::observed_record() const {
  std::lock_guard<std::mutex> lock(mu_);
  return observed_;
}

LeaderElector::LoopStatus LeaderElector::loop_status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return LoopStatus{running_, parked_until_, call_in_flight_};
}

void LeaderElector::run_loop(const std::stop_token& stop) {
  // Stop requests must wake whatever wait the loop is in.
  std::stop_callback wake(stop, [this] {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  });
  {
    std::lock_guard<std::mutex> lock(mu_);
    helper_exit_ = false;
    leading_ = false;
  }
  // Joins the helper on every way out, after any call it is still running.
  struct HelperThread {
    LeaderElector& self;
    std::thread thread;
    ~HelperThread() {
      {
        std::lock_guard<std::mutex> lock(self.mu_);
        self.helper_exit_ = true;
        self.cv_.notify_all();
      }
      thread.join();
      std::lock_guard<std::mutex> lock(self.mu_);
      self.job_ = nullptr;
      self.call_in_flight_ = false;
      self.awaiting_call_ = false;
      self.parked_until_.reset();
      self.leading_ = false;
      self.running_ = false;
    }
  } helper{*this, std::thread([this] { helper_loop(); })};

  log::info("Attempting to acquire leader lease", {{"lease", lease_name_}});
  if (!acquire(stop)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    leading_ = true;
  }
  log::info("Successfully acquired lease",
            {{"lease", lease_name_}, {"identity", config_.identity}});
  if (config_.callbacks.on_started_leading) config_.callbacks.on_started_leading();
  renew(stop);  // returns with leading_ false
  if (config_.callbacks.on_stopped_leading) config_.callbacks.on_stopped_leading();
  if (config_.release_on_cancel) release();
}

bool LeaderElector::acquire(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    const std::optional<bool> ok =
        call([this] { return try_acquire_or_renew(); }, Clock::kNever, &stop);
    maybe_report_transition();
    if (ok.value_or(false)) return true;
    // client-go wait.JitterUntil(..., RetryPeriod, JitterFactor, sliding=true).
    if (!sleep_until(clock_.deadline_after(jittered(config_.retry_period)), stop)) return false;
  }
  return false;
}

void LeaderElector::renew(const std::stop_token& stop) {
  auto stop_leading = [this](const std::string& why) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      leading_ = false;
    }
    log::info("Stopped leading", {{"lease", lease_name_}, {"reason", why}});
  };
  // client-go renew(): wait.Until(round, RetryPeriod), where a round polls
  // tryAcquireOrRenew every RetryPeriod (the first at once) and fails when
  // none succeeded within RenewDeadline of the round's start.
  for (;;) {
    const Clock::SteadyTime deadline = clock_.deadline_after(config_.renew_deadline);
    bool renewed = false;
    while (!stop.stop_requested()) {
      const std::optional<bool> ok =
          call([this] { return try_acquire_or_renew(); }, deadline, &stop);
      maybe_report_transition();
      if (ok.value_or(false)) {
        renewed = true;
        break;
      }
      if (clock_.now() >= deadline) break;
      const Clock::SteadyTime next =
          std::min(clock_.deadline_after(config_.retry_period), deadline);
      if (!sleep_until(next, stop) || clock_.now() >= deadline) break;
    }
    if (stop.stop_requested()) return stop_leading("shutting down");
    if (!renewed) return stop_leading("failed to renew lease within the renew deadline");
    if (!sleep_until(clock_.deadline_after(config_.retry_period), stop)) {
      return stop_leading("shutting down");
    }
  }
}

void LeaderElector::release() {
  // client-go bounds release by RenewDeadline as well. Not stoppable: this is
  // the last thing a stopping loop does.
  const std::optional<bool> ok = call([this] { return release_lease(); },
                                      clock_.deadline_after(config_.renew_deadline), nullptr);
  if (!ok) log::error("Failed to release lease", {{"lease", lease_name_}, {"err", "timed out"}});
}

std::optional<bool> LeaderElector::call(std::function<bool()> fn, Clock::SteadyTime deadline,
                                        const std::stop_token* stop) {
  auto stopped = [stop] { return stop != nullptr && stop->stop_requested(); };
  std::unique_lock<std::mutex> lock(mu_);
  auto park = [&] {
    parked_until_ = deadline;
    awaiting_call_ = true;
    clock_.wait_until(lock, cv_, deadline, [&] { return !call_in_flight_ || stopped(); });
    awaiting_call_ = false;
    parked_until_.reset();
  };
  // A call given up on earlier may still run: wait for it first.
  if (call_in_flight_) park();
  if (call_in_flight_ || stopped()) return std::nullopt;
  job_ = std::move(fn);
  call_in_flight_ = true;
  cv_.notify_all();
  park();
  if (call_in_flight_) return std::nullopt;  // deadline or stop; the helper finishes it alone
  return result_;
}

bool LeaderElector::sleep_until(Clock::SteadyTime t, const std::stop_token& stop) {
  std::unique_lock<std::mutex> lock(mu_);
  parked_until_ = t;
  clock_.wait_until(lock, cv_, t, [&] { return stop.stop_requested(); });
  parked_until_.reset();
  return !stop.stop_requested();
}

void LeaderElector::helper_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return job_ != nullptr || helper_exit_; });
    if (helper_exit_) return;
    std::function<bool()> job = std::move(job_);
    job_ = nullptr;
    lock.unlock();
    const bool ok = job();
    lock.lock();
    result_ = ok;
    call_in_flight_ = false;
    // The loop is about to wake for this result: it is no longer idle.
    if (awaiting_call_) parked_until_.reset();
    cv_.notify_all();
  }
}

void LeaderElector::maybe_report_transition() {
  std::string holder;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (observed_.holder_identity == reported_leader_) return;
    reported_leader_ = observed_.holder_identity;
    holder = reported_leader_;
  }
  log::info("Observed new leader", {{"lease", lease_name_}, {"holder", holder}});
  if (config_.callbacks.on_new_leader) config_.callbacks.on_new_leader(holder);
}

Clock::Duration LeaderElector::jittered(Clock::Duration d) {
  // client-go wait.Jitter: d + rand.Float64() * maxFactor * d.
  if (config_.jitter_factor <= 0) return d;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double extra = unit(rng_) * config_.jitter_factor * static_cast<double>(d.count());
  return d + Clock::Duration(static_cast<Clock::Duration::rep>(extra));
}

void LeaderElector::set_observed_locked(const LeaderElectionRecord& record) {
  observed_ = record;
  observed_time_ = clock_.now();
}

bool LeaderElector::lease_valid_locked(Clock::SteadyTime now) const {
  return observed_time_ + std::chrono::seconds(observed_.lease_duration_seconds) > now;
}

bool LeaderElector::try_acquire_or_renew() {
  const Clock::SteadyTime now = clock_.now();
  const std::string stamp = format_micro_time(clock_.wall_now());
  LeaderElectionRecord desired;
  desired.holder_identity = config_.identity;
  desired.lease_duration_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count();
  desired.acquire_time = stamp;
  desired.renew_time = stamp;

  auto write = [&](const json& base) -> Result<json> {
    json lease = base;
    lease["spec"] = lease_spec_from_record(desired);
    return store_.update(lease);
  };

  // 1. Fast path (newer client-go): the leader updates optimistically
  // on the Lease it last wrote; any change by others makes this a 409.
  std::optional<LeaderElectionRecord> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (observed_.holder_identity == config_.identity && lease_valid_locked(now) &&
        !lease_object_name(lease_).empty()) {
      held = observed_;
    }
  }
  if (held) {
    desired.acquire_time = held->acquire_time;
    desired.leader_transitions = held->leader_transitions;
    Result<json> updated = write(lease_);
    if (updated) {
      lease_ = std::move(*updated);
      std::lock_guard<std::mutex> lock(mu_);
      set_observed_locked(desired);
      return true;
    }
    log::info("Failed to update lease optimistically, falling back to slow path",
              {{"lease", lease_name_}, {"err", updated.error().to_string()}});
    desired.acquire_time = stamp;
    desired.leader_transitions = 0;
  }

  // 2. Read the Lease, creating it when there is none.
  Result<json> got = store_.get();
  if (!got) {
    if (!got.error().is_not_found()) {
      log::error("Failed to get lease", {{"lease", lease_name_}, {"err", got.error().to_string()}});
      return false;
    }
    Result<json> created = store_.create(lease_spec_from_record(desired));
    if (!created) {
      log::error("Failed to create lease",
                 {{"lease", lease_name_}, {"err", created.error().to_string()}});
      return false;
    }
    lease_ = std::move(*created);
    std::lock_guard<std::mutex> lock(mu_);
    set_observed_locked(desired);
    return true;
  }
  lease_ = std::move(*got);
  const LeaderElectionRecord old = record_from_lease_spec(lease_.value("spec", json::object()));

  // 3. Judge the record: a change restarts the local expiry clock; a valid
  // Lease held by someone else is left alone.
  bool ours = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!(old == observed_)) set_observed_locked(old);
    ours = observed_.holder_identity == config_.identity;
    if (!old.holder_identity.empty() && lease_valid_locked(now) && !ours) return false;
  }

  // 4. Take or renew it.
  if (ours) {
    desired.acquire_time = old.acquire_time;
    desired.leader_transitions = old.leader_transitions;
  } else {
    desired.leader_transitions = old.leader_transitions + 1;
  }
  Result<json> updated = write(lease_);
  if (!updated) {
    log::error("Failed to update lease",
               {{"lease", lease_name_}, {"err", updated.error().to_string()}});
    return false;
  }
  lease_ = std::move(*updated);
  std::lock_guard<std::mutex> lock(mu_);
  set_observed_locked(desired);
  return true;
}

bool LeaderElector::release_lease() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (observed_.holder_identity != config_.identity) return true;
  }
  // client-go reads the Lease first to refresh its resourceVersion. Unlike
  // client-go we also check the fresh holder, so a release that comes late
  // (after a standby took over) never clobbers the new leader's record.
  Result<json> got = store_.get();
  if (!got) {
    log::error("Failed to release lease",
               {{"lease", lease_name_}, {"err", got.error().to_string()}});
    return false;
  }
  const LeaderElectionRecord current = record_from_lease_spec(got->value("spec", json::object()));
  if (current.holder_identity != config_.identity) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!(current == observed_)) set_observed_locked(current);
    return true;
  }
  const std::string stamp = format_micro_time(clock_.wall_now());
  LeaderElectionRecord released;
  released.lease_duration_seconds = kReleasedLeaseDurationSeconds;
  released.acquire_time = stamp;
  released.renew_time = stamp;
  released.leader_transitions = current.leader_transitions;
  json lease = std::move(*got);
  lease["spec"] = lease_spec_from_record(released);
  Result<json> updated = store_.update(lease);
  if (!updated) {
    log::error("Failed to release lease",
               {{"lease", lease_name_}, {"err", updated.error().to_string()}});
    return false;
  }
  lease_ = std::move(*updated);
  log::info("Released lease", {{"lease", lease_name_}});
  std::lock_guard<std::mutex> lock(mu_);
  set_observed_locked(released);
  return true;
}

}  // namespace frugal::kube
