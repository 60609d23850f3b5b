// The manager: owns the API client, the shared informers, the reconcile
// loops, leader election, and the metrics and health endpoints, and runs
// them in the order controller-runtime does: endpoints, caches, (wait for
// sync, then for the lease), controllers. Losing the lease stops every
// controller at once; SIGTERM drains them and releases the lease.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "controller/kube/client.h"
#include "controller/kube/controller_loop.h"
#include "controller/kube/events.h"
#include "controller/kube/informer.h"
#include "controller/kube/leader_election.h"
#include "controller/kube/lister_watcher.h"
#include "controller/metrics/http_endpoint.h"
#include "controller/metrics/registry.h"
#include "controller/runtime_metrics.h"

namespace frugal {

struct ManagerOptions {
  std::string namespace_scope;                      // empty: all namespaces
  std::string metrics_bind_address = ":8080";       // "0" disables
  std::string health_probe_bind_address = ":8081";  // "0" disables
  bool leader_elect = false;
  std::string leader_election_namespace = "default";
  std::string leader_election_id = "frugal-controller-leader";
  std::string identity;  // empty: hostname + random suffix
  int concurrency = 1;
  // How long run() waits for caches before giving up (controller-runtime's
  // CacheSyncTimeout default is 2 minutes).
  std::chrono::seconds cache_sync_timeout{120};
  kube::LeaderElectionConfig leader_election;  // durations; identity/callbacks are set by run()
  const Clock* clock = nullptr;
  // Simulation only (kubesim --time-scale): sim seconds per real second.
  // Reconcilers multiply durations they measure (costs, deadlines, runtime
  // limits) and divide timers they set by it, so they agree with a
  // time-scaled simulated cluster. Always 1 against a real cluster.
  double time_scale = 1.0;
};

// Exit codes of run().
enum class ManagerExit { Stopped = 0, LeaseLost = 1, StartFailed = 2 };

class Manager {
 public:
  Manager(ManagerOptions options, kube::RestConfig rest);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  kube::Client& client() { return *client_; }
  metrics::Registry& registry() { return registry_; }
  const ManagerOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }
  RuntimeMetrics& runtime_metrics() { return *runtime_metrics_; }
  // Events reported as component "frugal-controller", instance = identity;
  // aggregated and rate-limited per object (see kube/events.h).
  kube::EventRecorder& events();

  // The shared informer for a resource (scoped to --namespace when the
  // resource is namespaced), created on first use and started by run().
  kube::Informer& informer(const kube::ResourceRef& resource);
  // A reconcile loop, started by run() once caches are in sync and, with
  // leader election, once this replica leads.
  kube::ControllerLoop& add_controller(const std::string& name, kube::Reconciler& reconciler);

  // Wiring: changes to objects in `informer` enqueue their own key...
  void enqueue_own(kube::ControllerLoop& loop, kube::Informer& informer);
  // ...or the keys of their owners of kind `owner_kind` (children → parent).
  void enqueue_owners(kube::ControllerLoop& loop, kube::Informer& informer,
                      const std::string& owner_kind);

  // Blocks until `stop` is set (clean exit) or the lease is lost.
  ManagerExit run(const std::atomic<bool>& stop);

  bool caches_synced() const { return synced_; }
  bool leading() const { return leading_; }
  uint16_t metrics_port() const;
  uint16_t health_port() const;

 private:
  struct InformerEntry {
    std::unique_ptr<kube::ListerWatcher> lw;
    std::unique_ptr<kube::Informer> informer;
  };

  void start_controllers();
  void stop_controllers();

  ManagerOptions options_;
  const Clock& clock_;
  metrics::Registry registry_;
  std::unique_ptr<RuntimeMetrics> runtime_metrics_;
  std::unique_ptr<kube::Client> client_;
  std::unique_ptr<kube::EventSink> event_sink_;
  std::unique_ptr<kube::EventRecorder> events_;
  std::mutex events_mu_;
  std::map<std::string, InformerEntry> informers_;
  std::vector<std::unique_ptr<kube::ControllerLoop>> controllers_;
  std::unique_ptr<metrics::HttpEndpoint> metrics_endpoint_;
  std::unique_ptr<metrics::HttpEndpoint> health_endpoint_;
  std::unique_ptr<kube::LeaseStore> lease_store_;
  std::unique_ptr<kube::LeaderElector> elector_;
  std::atomic<bool> synced_{false};
  std::atomic<bool> leading_{false};
  std::atomic<bool> lost_lease_{false};
  std::atomic<bool> controllers_running_{false};
};

}  // namespace frugal
