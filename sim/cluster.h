// The simulated cluster behind `kubesim --cluster FILE`: node pools
// registered as Nodes, a scheduler, a kubelet running pods on a timeline,
// spot interruptions with notice, the Deployment/ReplicaSet/Endpoints
// controllers, and model-server pods answering real HTTP on loopback
// addresses. It acts only through the ApiServer's objects (Nodes, Pods,
// conditions, taints, Events, Endpoints), as the components of a real
// cluster act through the real API server, so a controller cannot tell the
// difference.
//
// One thread runs everything: store changes are queued by subscriptions and
// handled in order, and timers (a pod's startup, its work finishing, an
// interruption notice) fire at their due time. The decisions themselves are
// pure functions elsewhere (scheduling.h, pod_status.h, workload.h,
// workload_controllers.h, cluster_config.h); this file wires them to the API.
//
// Time: delays kubesim generates are sim seconds divided by `time_scale` in
// real time; object timestamps are real wall-clock time. A controller under
// test that computes durations from timestamps multiplies them by the same
// factor (docs/cluster-file.md).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "sim/apiserver.h"
#include "sim/cluster_config.h"
#include "sim/model_server.h"
#include "sim/pod_status.h"
#include "sim/scheduling.h"
#include "sim/workload.h"

namespace kubesim {

// Pod annotation: how long the container keeps running after SIGTERM before
// it exits (sim seconds; default 0, capped by the grace period).
inline constexpr char kStopSecondsAnnotation[] = "sim.frugal.dev/stop-seconds";
// Node annotation: `kubectl annotate node X sim.frugal.dev/interrupt=now`
// starts an interruption notice at once.
inline constexpr char kInterruptAnnotation[] = "sim.frugal.dev/interrupt";
// Node condition set when an interruption notice begins.
inline constexpr char kInterruptionCondition[] = "SpotInterruption";

struct ClusterOptions {
  double time_scale = 1.0;  // sim seconds per real second
  // Time source for delays and for the timestamps the cluster writes; null:
  // the real clock. Tests pass a FakeClock to step through a pod's life exactly.
  const frugal::Clock* clock = nullptr;
  int model_server_threads = 1;
  // Pods get addresses from 127.N.0.0/16 (N = this, 1-254; further /16s
  // follow if it fills up). Two kubesims on one machine need different N,
  // or their model servers collide.
  int pod_network_octet = 1;
  // How far ahead Poisson interruption times are drawn (sim seconds).
  double interruption_horizon_seconds = 30.0 * 24 * 3600;
};

class Cluster {
 public:
  Cluster(ApiServer& api, ClusterConfig config, ClusterOptions options = {});
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Registers the nodes and starts the loop. Also serves /kubesim/cluster
  // (summary) and /kubesim/work (checkpoints and runs, lost work) on the
  // API server.
  Result<void> start();
  void stop();

  // Sim seconds since start().
  double sim_now() const;
  // What /kubesim/work and /kubesim/cluster serve.
  json work_json() const;
  json summary_json() const;
  // Starts an interruption notice on a node now (as the annotation does).
  void interrupt(const std::string& node);
  // Holds every pending pod unbound, as a scheduler outage would, until
  // called again with false (tests: pods created meanwhile stay Pending
  // with no PodScheduled condition, then are scheduled against the nodes
  // as they are at that point).
  void pause_scheduling(bool paused);
  // Waits (in real time) until the loop has handled every change queued so
  // far and no timer is due on the cluster's clock (tests). False at the deadline.
  bool wait_idle(std::chrono::steady_clock::duration timeout);

 private:
  using SteadyTime = frugal::Clock::SteadyTime;
  struct Dirty {
    std::string gr;
    std::string ns;
    std::string name;
    auto operator<=>(const Dirty&) const = default;
  };
  struct Timer {
    SteadyTime due;
    uint64_t seq;
    std::function<void()> fire;
    bool operator>(const Timer& o) const { return due != o.due ? due > o.due : seq > o.seq; }
  };
  enum class PodState { Creating, Running, Stopping, Done };
  struct PodRun {
    std::string uid, ns, name, node;
    PodPlacement where;
    WorkloadSpec spec;
    PodState state = PodState::Creating;
    std::optional<RunRecord> run;  // while the container runs
    int restarts = 0;
    uint64_t generation = 0;  // bumps on each start, so stale timers do nothing
    bool serving = false;
  };
  struct NodeState {
    size_t pool = 0;
    int index = 0;
    std::string internal_ip;
    bool interrupting = false;
    std::vector<double> interruptions;  // sim times of notices still to come
  };

  // Runs `fn` on the loop thread and returns its answer (the loop's state
  // is touched by that thread only).
  json on_loop(std::function<json()> fn) const;
  json work_json_on_loop() const;
  json summary_json_on_loop() const;
  // Loop thread.
  void loop();
  void handle(const Dirty& d);
  void handle_pod(const std::string& ns, const std::string& name);
  void handle_node(const std::string& name);
  void schedule_pending();
  void sync_workload_controllers();
  void add_timer(double sim_delay, std::function<void()> fire);

  // The kubelet.
  void admit(const json& pod);
  void container_started(const std::string& uid, uint64_t generation);
  void work_finished(const std::string& uid, uint64_t generation);
  void begin_stop(const json& pod);
  void finish_stop(const std::string& uid);
  void forget(const std::string& uid, StopKind kind, const std::string& reason);
  void start_serving(PodRun& run);
  void stop_serving(PodRun& run);
  Result<json> write_status(const PodRun& run, const std::function<json(const json& pod)>& status);

  // Nodes and interruptions.
  Result<void> add_node(size_t pool, int index);
  void plan_interruptions(const std::string& node);
  void notice(const std::string& node);
  void terminate_node(const std::string& node);

  void event(const json& involved, const std::string& type, const std::string& reason,
             const std::string& message, const std::string& component,
             const std::string& host = {});
  std::string next_pod_ip();
  std::string random_suffix();
  TimePoint wall_now() const { return clock_.wall_now(); }

  ApiServer& api_;
  ClusterConfig config_;
  ClusterOptions options_;
  const frugal::Clock& clock_;
  SteadyTime started_{};

  mutable std::mutex mu_;  // inbox_, tasks_, timers_, stop_, busy_
  mutable std::condition_variable cv_;
  std::deque<Dirty> inbox_;
  mutable std::deque<std::function<void()>> tasks_;
  std::set<Dirty> queued_;
  bool stop_ = false;
  bool busy_ = false;
  std::vector<std::shared_ptr<Subscription>> subscriptions_;
  std::thread thread_;
  bool started_ok_ = false;

  // Loop-thread state; timers_ is also read by wait_idle() under mu_.
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  uint64_t timer_seq_ = 0;
  std::map<std::string, PodRun> runs_;                         // by pod uid
  std::map<std::string, std::set<std::string>> runs_by_name_;  // "ns/name" -> uids in runs_
  std::map<std::string, NodeState> nodes_;
  std::vector<int> next_index_;  // per pool, for replacement nodes
  CheckpointStore checkpoints_;
  std::map<std::string, PodRequests> requests_;       // by pod uid
  std::map<std::string, std::string> unschedulable_;  // pod uid -> last message written
  bool pods_changed_ = false;
  bool scheduling_paused_ = false;
  std::set<std::string> controller_namespaces_;  // namespaces whose controllers must sync
  uint64_t pod_ip_counter_ = 0;
  uint64_t interruptions_total_ = 0;
  std::mt19937_64 rng_;
  std::unique_ptr<ModelServerPool> servers_;
};

}  // namespace kubesim
