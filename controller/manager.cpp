#include "controller/manager.h"

#include <unistd.h>

#include <cstdlib>
#include <random>
#include <thread>

#include "controller/kube/log.h"
#include "controller/metrics/process_metrics.h"

namespace frugal {

namespace {

// controller-runtime's default: the hostname plus a random suffix, so two
// replicas on one host (or a restarted pod) never share an identity.
std::string default_identity() {
  if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') {
    return std::string(pod) + "_" + std::to_string(std::random_device{}());
  }
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "frugal");
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "_%08x", rd());
  return std::string(host) + suffix;
}

std::string resource_key(const kube::ResourceRef& r) { return r.resource + "." + r.group; }

// How often run() looks at the stop flag and the lease while it waits.
constexpr auto kPollInterval = std::chrono::milliseconds(50);

}  // namespace

Manager::Manager(ManagerOptions options, kube::RestConfig rest)
    : options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : real_clock()),
      runtime_metrics_(std::make_unique<RuntimeMetrics>(registry_)) {
  metrics::add_process_collector(registry_);
  if (options_.identity.empty()) options_.identity = default_identity();
  // The identity in the User-Agent lets the API server's audit log (and
  // kubesim's --audit-log) tell replicas apart.
  rest.user_agent += " (" + options_.identity + ")";
  kube::ClientOptions copts;
  copts.clock = &clock_;
  copts.observer = runtime_metrics_.get();
  client_ = std::make_unique<kube::Client>(std::move(rest), copts);
  runtime_metrics_->set_leader(!options_.leader_elect);
}

kube::EventRecorder& Manager::events() {
  std::lock_guard lock(events_mu_);
  if (!events_) {
    event_sink_ = kube::make_client_event_sink(*client_);
    kube::EventRecorderOptions o;
    o.source = {"frugal-controller", options_.identity, ""};
    o.clock = &clock_;
    events_ = std::make_unique<kube::EventRecorder>(*event_sink_, o);
  }
  return *events_;
}

Manager::~Manager() {
  stop_controllers();
  {
    std::lock_guard lock(events_mu_);
    if (events_) events_->stop();
  }
  if (elector_) elector_->stop();
  for (auto& [name, e] : informers_) e.informer->stop();
}

kube::Informer& Manager::informer(const kube::ResourceRef& resource) {
  auto key = resource_key(resource);
  auto it = informers_.find(key);
  if (it != informers_.end()) return *it->second.informer;
  InformerEntry e;
  e.lw = kube::make_client_lister_watcher(*client_, resource,
                                          resource.namespaced ? options_.namespace_scope : "");
  kube::InformerOptions io;
  io.name = resource.resource;
  io.clock = &clock_;
  io.observer = runtime_metrics_.get();
  e.informer = std::make_unique<kube::Informer>(*e.lw, io);
  auto& ref = *e.informer;
  informers_.emplace(key, std::move(e));
  return ref;
}

kube::ControllerLoop& Manager::add_controller(const std::string& name,
                                              kube::Reconciler& reconciler) {
  kube::ControllerOptions co;
  co.name = name;
  co.concurrency = options_.concurrency;
  co.clock = &clock_;
  co.observer = runtime_metrics_.get();
  co.queue_metrics = runtime_metrics_->queue_metrics(name);
  controllers_.push_back(std::make_unique<kube::ControllerLoop>(reconciler, std::move(co)));
  return *controllers_.back();
}

void Manager::enqueue_own(kube::ControllerLoop& loop, kube::Informer& informer) {
  auto enqueue = [&loop](const kube::ObjectPtr& obj) {
    const auto& meta = (*obj)["metadata"];
    loop.enqueue({meta.value("namespace", ""), meta.value("name", "")});
  };
  informer.add_handler(kube::EventHandler{
      enqueue, [enqueue](const kube::ObjectPtr&, const kube::ObjectPtr& now) { enqueue(now); },
      enqueue});
}

void Manager::enqueue_owners(kube::ControllerLoop& loop, kube::Informer& informer,
                             const std::string& owner_kind) {
  auto enqueue = [&loop, owner_kind](const kube::ObjectPtr& obj) {
    const auto& meta = (*obj)["metadata"];
    for (const auto& ref : meta.value("ownerReferences", kube::json::array())) {
      if (ref.value("kind", "") == owner_kind) {
        loop.enqueue({meta.value("namespace", ""), ref.value("name", "")});
      }
    }
  };
  informer.add_handler(kube::EventHandler{
      enqueue,
      [enqueue](const kube::ObjectPtr& old_obj, const kube::ObjectPtr& now) {
        enqueue(old_obj);  // an owner reference that was removed still concerns that owner
        enqueue(now);
      },
      enqueue});
}

uint16_t Manager::metrics_port() const { return metrics_endpoint_ ? metrics_endpoint_->port() : 0; }
uint16_t Manager::health_port() const { return health_endpoint_ ? health_endpoint_->port() : 0; }

void Manager::start_controllers() {
  if (controllers_running_.exchange(true)) return;
  for (auto& c : controllers_) c->start();
  log::info("Started controllers", {{"count", static_cast<int>(controllers_.size())}});
}

void Manager::stop_controllers() {
  if (!controllers_running_.exchange(false)) return;
  for (auto& c : controllers_) c->stop();
  log::info("Stopped controllers");
}

ManagerExit Manager::run(const std::atomic<bool>& stop) {
  // 1. Endpoints first, so probes answer while caches fill.
  std::string host;
  uint16_t port = 0;
  if (metrics::parse_bind_address(options_.metrics_bind_address, host, port)) {
    metrics_endpoint_ = std::make_unique<metrics::HttpEndpoint>(
        host, port, metrics::EndpointHandlers{[this] { return registry_.expose(); }, {}, {}});
    if (auto ok = metrics_endpoint_->start(); !ok) {
      log::error("Could not serve metrics",
                 {{"address", options_.metrics_bind_address}, {"err", ok.error()}});
      return ManagerExit::StartFailed;
    }
    log::info("Serving metrics", {{"address", host + ":" + std::to_string(metrics_port())}});
  }
  if (metrics::parse_bind_address(options_.health_probe_bind_address, host, port)) {
    health_endpoint_ = std::make_unique<metrics::HttpEndpoint>(
        host, port,
        metrics::EndpointHandlers{
            {},
            [this] { return lost_lease_ ? std::string("leader election lost") : std::string{}; },
            [this] {
              return synced_ ? std::string{} : std::string("informer caches not synced");
            }});
    if (auto ok = health_endpoint_->start(); !ok) {
      log::error("Could not serve health probes",
                 {{"address", options_.health_probe_bind_address}, {"err", ok.error()}});
      return ManagerExit::StartFailed;
    }
    log::info("Serving health probes", {{"address", host + ":" + std::to_string(health_port())}});
  }

  // 2. Caches, on every replica (a standby with warm caches takes over fast).
  for (auto& [name, e] : informers_) e.informer->start();
  const auto sync_deadline = clock_.now() + options_.cache_sync_timeout;
  for (auto& [name, e] : informers_) {
    while (!e.informer->has_synced()) {
      if (stop) return ManagerExit::Stopped;
      if (clock_.now() >= sync_deadline) {
        log::error("Timed out waiting for cache to sync", {{"resource", name}});
        return ManagerExit::StartFailed;
      }
      e.informer->wait_for_sync(std::min(sync_deadline, clock_.now() + kPollInterval));
    }
  }
  synced_ = true;
  log::info("Caches synced", {{"informers", static_cast<int>(informers_.size())}});

  // 3. Leadership, then controllers.
  if (options_.leader_elect) {
    lease_store_ = kube::make_client_lease_store(*client_, options_.leader_election_namespace,
                                                 options_.leader_election_id);
    kube::LeaderElectionConfig cfg = options_.leader_election;
    cfg.identity = options_.identity;
    cfg.clock = &clock_;
    cfg.callbacks.on_started_leading = [this] {
      leading_ = true;
      runtime_metrics_->set_leader(true);
      log::info("Became the leader", {{"identity", options_.identity}});
      start_controllers();
    };
    cfg.callbacks.on_stopped_leading = [this] {
      // Work stops before the lease can pass to anyone else.
      stop_controllers();
      const bool was_leading = leading_.exchange(false);
      runtime_metrics_->set_leader(false);
      if (was_leading) lost_lease_ = true;
    };
    cfg.callbacks.on_new_leader = [](const std::string& id) {
      if (!id.empty()) log::info("Observed a new leader", {{"identity", id}});
    };
    if (auto ok = kube::validate(cfg); !ok) {
      log::error("Invalid leader election settings", {{"err", ok.error()}});
      return ManagerExit::StartFailed;
    }
    elector_ = std::make_unique<kube::LeaderElector>(*lease_store_, cfg);
    elector_->start();
  } else {
    start_controllers();
  }

  while (!stop) {
    if (lost_lease_ && !stop) {
      log::error("Lost the leader lease; exiting so a fresh process can stand for election");
      break;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  const bool lease_lost = lost_lease_ && !stop;
  // 4. Drain: controllers first (in-flight reconciles finish), their last
  // Events, then release the lease. Requests are tried once from here on, so
  // the drain is quick even when the API server went down with us (Ctrl-C
  // on a whole local setup) and nothing waits out a retry backoff.
  client_->stop_retrying();
  stop_controllers();
  {
    std::lock_guard lock(events_mu_);
    if (events_) events_->stop();
  }
  if (elector_) {
    lost_lease_ = false;  // our own release is not a loss
    elector_->stop();
  }
  for (auto& [name, e] : informers_) e.informer->stop();
  if (metrics_endpoint_) metrics_endpoint_->stop();
  if (health_endpoint_) health_endpoint_->stop();
  return lease_lost ? ManagerExit::LeaseLost : ManagerExit::Stopped;
}

}  // namespace frugal
