// The simulated cluster's loop: subscriptions in, API writes out. See cluster.h.
#include "sim/cluster.h"

#include <algorithm>
#include <cmath>
#include <future>

#include "sim/json_access.h"
#include "sim/names.h"
#include "sim/workload_controllers.h"

namespace kubesim {
namespace {

using std::chrono::duration;
using std::chrono::duration_cast;
using std::chrono::steady_clock;

constexpr char kPods[] = "pods";
constexpr char kNodes[] = "nodes";
constexpr char kServices[] = "services";
constexpr char kDeployments[] = "deployments.apps";
constexpr char kReplicaSets[] = "replicasets.apps";
constexpr char kSchedulerName[] = "default-scheduler";
constexpr char kKubeletComponent[] = "kubelet";
constexpr char kNodeControllerComponent[] = "node-controller";
// A model-server pod without a container port serves on this one.
constexpr uint16_t kDefaultModelPort = 8080;
// How long an admin endpoint waits for the loop to answer.
constexpr auto kAdminAnswerLimit = std::chrono::seconds(10);
// A pod whose grace period is unset gets the API default (v1.DefaultTerminationGracePeriodSeconds).
constexpr double kDefaultGraceSeconds = 30;

bool terminal(const json& pod) {
  const std::string phase = string_at(object_at(pod, "status"), "phase");
  return phase == "Succeeded" || phase == "Failed";
}

bool being_deleted(const json& obj) {
  return object_at(obj, "metadata").contains("deletionTimestamp");
}

std::string meta_string(const json& obj, const char* key) {
  return string_at(object_at(obj, "metadata"), key);
}

// Every group the built-in controllers write (core, apps, discovery.k8s.io) is at v1.
constexpr char kControllerVersion[] = "v1";

std::vector<json> list_objects(ApiServer& api, const std::string& gr, const std::string& ns) {
  std::vector<json> out;
  auto page = api.store().list(gr, ns, nullptr, 0, "", 0);
  if (!page) return out;
  out.reserve(page->items.size());
  for (const auto& obj : page->items) out.push_back(*obj);
  return out;
}

uint16_t model_port(const json& pod) {
  for (const json& c : array_at(object_at(pod, "spec"), "containers")) {
    for (const json& p : array_at(c, "ports")) {
      if (p.contains("containerPort") && p["containerPort"].is_number_integer()) {
        return static_cast<uint16_t>(p["containerPort"].get<int>());
      }
    }
  }
  return kDefaultModelPort;
}

double grace_seconds(const json& pod) {
  const json& meta = object_at(pod, "metadata");
  if (meta.contains("deletionGracePeriodSeconds") &&
      meta["deletionGracePeriodSeconds"].is_number()) {
    return meta["deletionGracePeriodSeconds"].get<double>();
  }
  const json& spec = object_at(pod, "spec");
  if (spec.contains("terminationGracePeriodSeconds") &&
      spec["terminationGracePeriodSeconds"].is_number()) {
    return spec["terminationGracePeriodSeconds"].get<double>();
  }
  return kDefaultGraceSeconds;
}

double stop_seconds(const json& pod) {
  const json& annotations = object_at(object_at(pod, "metadata"), "annotations");
  const std::string v = string_at(annotations, kStopSecondsAnnotation);
  if (v.empty()) return 0;
  try {
    return std::max(0.0, std::stod(v));
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

Cluster::Cluster(ApiServer& api, ClusterConfig config, ClusterOptions options)
    : api_(api),
      config_(std::move(config)),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : frugal::real_clock()),
      rng_(config_.seed),
      servers_(std::make_unique<ModelServerPool>(std::max(1, options.model_server_threads))) {
  if (!(options_.time_scale > 0)) options_.time_scale = 1;
  options_.pod_network_octet = std::clamp(options_.pod_network_octet, 1, 254);
}

Cluster::~Cluster() { stop(); }

double Cluster::sim_now() const {
  return duration<double>(clock_.now() - started_).count() * options_.time_scale;
}

Result<void> Cluster::start() {
  started_ = clock_.now();
  next_index_.assign(config_.pools.size(), 0);
  for (size_t p = 0; p < config_.pools.size(); ++p) {
    for (int i = 0; i < config_.pools[p].count; ++i) {
      if (auto ok = add_node(p, i); !ok) return ok;
    }
    next_index_[p] = config_.pools[p].count;
  }
  for (const char* gr : {kNodes, kPods, kServices, kDeployments, kReplicaSets}) {
    auto sub = api_.store().subscribe(gr, "", 0, [this](const StoreEvent& ev) {
      const json& meta = object_at(*ev.object, "metadata");
      Dirty d{ev.group_resource, string_at(meta, "namespace"), string_at(meta, "name")};
      std::lock_guard lock(mu_);
      if (queued_.insert(d).second) inbox_.push_back(std::move(d));
      cv_.notify_one();
    });
    if (!sub) return Unexpected(sub.error());
    subscriptions_.push_back(*sub);
  }
  api_.add_admin_endpoint("work", [this](const Request&) -> Reply {
    Response r;
    r.body = work_json().dump();
    return r;
  });
  api_.add_admin_endpoint("cluster", [this](const Request&) -> Reply {
    Response r;
    r.body = summary_json().dump();
    return r;
  });
  started_ok_ = true;
  thread_ = std::thread([this] { loop(); });
  return {};
}

void Cluster::stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (const auto& sub : subscriptions_) api_.store().unsubscribe(sub);
  subscriptions_.clear();
  if (started_ok_) {
    api_.remove_admin_endpoint("work");
    api_.remove_admin_endpoint("cluster");
  }
  servers_.reset();
}

json Cluster::on_loop(std::function<json()> fn) const {
  auto task = std::make_shared<std::packaged_task<json()>>(std::move(fn));
  std::future<json> result = task->get_future();
  {
    std::lock_guard lock(mu_);
    if (stop_ || !thread_.joinable()) return json{{"error", "the cluster is not running"}};
    tasks_.push_back([task] { (*task)(); });
  }
  cv_.notify_all();
  if (result.wait_for(kAdminAnswerLimit) != std::future_status::ready) {
    return json{{"error", "the cluster loop did not answer in time"}};
  }
  return result.get();
}

json Cluster::work_json() const {
  return on_loop([this] { return work_json_on_loop(); });
}

json Cluster::summary_json() const {
  return on_loop([this] { return summary_json_on_loop(); });
}

json Cluster::work_json_on_loop() const {
  json out = checkpoints_.to_json(sim_now());
  out["simSeconds"] = sim_now();
  return out;
}

json Cluster::summary_json_on_loop() const {
  json nodes = json::array();
  for (const auto& [name, n] : nodes_) {
    nodes.push_back(
        {{"name", name}, {"pool", config_.pools[n.pool].name}, {"interrupting", n.interrupting}});
  }
  size_t running = 0, serving = 0;
  for (const auto& [uid, r] : runs_) {
    running += r.state == PodState::Running ? 1 : 0;
    serving += r.serving ? 1 : 0;
  }
  return {{"simSeconds", sim_now()},     {"timeScale", options_.time_scale},
          {"seed", config_.seed},        {"nodes", nodes},
          {"podsTracked", runs_.size()}, {"podsRunning", running},
          {"modelServers", serving},     {"interruptions", interruptions_total_}};
}

bool Cluster::wait_idle(std::chrono::steady_clock::duration timeout) {
  const auto deadline = steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, deadline, [this] {
    return inbox_.empty() && tasks_.empty() && !busy_ &&
           (timers_.empty() || timers_.top().due > clock_.now());
  });
}

void Cluster::interrupt(const std::string& node) {
  {
    std::lock_guard lock(mu_);
    Dirty d{"interrupt", "", node};
    if (queued_.insert(d).second) inbox_.push_back(std::move(d));
  }
  cv_.notify_all();
}

void Cluster::pause_scheduling(bool paused) {
  on_loop([this, paused] {
    scheduling_paused_ = paused;
    if (!paused) schedule_pending();
    return json();
  });
}

// ---------------------------------------------------------------- the loop

void Cluster::add_timer(double sim_delay, std::function<void()> fire) {
  const auto real = duration<double>(std::max(0.0, sim_delay) / options_.time_scale);
  std::lock_guard lock(mu_);
  timers_.push(Timer{clock_.now() + duration_cast<frugal::Clock::Duration>(real), ++timer_seq_,
                     std::move(fire)});
}

void Cluster::loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    const auto now = clock_.now();
    if (inbox_.empty() && tasks_.empty() && (timers_.empty() || timers_.top().due > now)) {
      busy_ = false;
      cv_.notify_all();  // wait_idle
      const SteadyTime until = timers_.empty() ? frugal::Clock::kNever : timers_.top().due;
      clock_.wait_until(lock, cv_, until,
                        [this] { return stop_ || !inbox_.empty() || !tasks_.empty(); });
      continue;
    }
    busy_ = true;
    std::deque<Dirty> batch;
    batch.swap(inbox_);
    std::deque<std::function<void()>> tasks;
    tasks.swap(tasks_);
    queued_.clear();
    std::vector<Timer> due;
    while (!timers_.empty() && timers_.top().due <= now) {
      due.push_back(timers_.top());
      timers_.pop();
    }
    lock.unlock();
    // Writes made here come back as store events: they are queued, handled
    // in the next round, and change nothing more once the state settles.
    for (const Dirty& d : batch) handle(d);
    for (Timer& t : due) t.fire();
    if (pods_changed_) {
      pods_changed_ = false;
      schedule_pending();
    }
    if (!controller_namespaces_.empty()) sync_workload_controllers();
    for (auto& task : tasks) task();
    lock.lock();
  }
}

void Cluster::handle(const Dirty& d) {
  if (d.gr == kPods) {
    handle_pod(d.ns, d.name);
    pods_changed_ = true;
    controller_namespaces_.insert(d.ns);
  } else if (d.gr == kNodes) {
    handle_node(d.name);
    pods_changed_ = true;  // capacity or taints may have changed
  } else if (d.gr == "interrupt") {
    if (nodes_.count(d.name) != 0 && !nodes_[d.name].interrupting) notice(d.name);
  } else {
    controller_namespaces_.insert(d.ns);
  }
}

void Cluster::handle_pod(const std::string& ns, const std::string& name) {
  ObjectPtr pod = api_.store().get(kPods, ns, name);
  if (!pod) {
    // Gone from the API: forget whatever ran under that name.
    auto named = runs_by_name_.find(ns + "/" + name);
    if (named == runs_by_name_.end()) return;
    const std::set<std::string> uids = named->second;  // forget() edits the index
    for (const std::string& uid : uids) forget(uid, StopKind::kKilled, "pod deleted");
    return;
  }
  const std::string uid = meta_string(*pod, "uid");
  const std::string node = string_at(object_at(*pod, "spec"), "nodeName");
  auto run = runs_.find(uid);
  if (node.empty()) {
    if (being_deleted(*pod)) (void)api_.remove("", "v1", kPods, ns, name);
    return;
  }
  if (run == runs_.end()) {
    if (terminal(*pod)) return;
    if (nodes_.count(node) == 0) return;  // bound to a node this cluster does not run
    if (being_deleted(*pod)) {
      // Deleted before the kubelet got to it: nothing to stop.
      DeleteOptions now;
      now.grace_period_seconds = 0;
      (void)api_.remove("", "v1", kPods, ns, name, now);
      return;
    }
    admit(*pod);
    return;
  }
  if (being_deleted(*pod) && run->second.state != PodState::Stopping &&
      run->second.state != PodState::Done) {
    begin_stop(*pod);
  } else if (being_deleted(*pod) && run->second.state == PodState::Done) {
    DeleteOptions now;
    now.grace_period_seconds = 0;
    (void)api_.remove("", "v1", kPods, ns, name, now);
  }
}

void Cluster::handle_node(const std::string& name) {
  ObjectPtr node = api_.store().get(kNodes, "", name);
  if (!node) return;
  const json& annotations = object_at(object_at(*node, "metadata"), "annotations");
  if (string_at(annotations, kInterruptAnnotation) == "now") {
    auto it = nodes_.find(name);
    if (it != nodes_.end() && !it->second.interrupting) notice(name);
  }
}

// ---------------------------------------------------------------- scheduler

void Cluster::schedule_pending() {
  if (scheduling_paused_) return;
  auto pods = api_.store().list(kPods, "", nullptr, 0, "", 0);
  if (!pods) return;
  std::vector<ObjectPtr> pending;
  std::map<std::string, std::map<std::string, int64_t>> requested;
  std::map<std::string, std::pair<int64_t, int64_t>> scoring;
  for (const ObjectPtr& pod : pods->items) {
    const std::string uid = meta_string(*pod, "uid");
    auto req = requests_.find(uid);
    if (req == requests_.end()) {
      auto parsed = pod_requests(*pod);
      req = requests_.emplace(uid, parsed ? *parsed : PodRequests{}).first;
    }
    const std::string node = string_at(object_at(*pod, "spec"), "nodeName");
    if (node.empty()) {
      const std::string scheduler = string_at(object_at(*pod, "spec"), "schedulerName");
      if (!being_deleted(*pod) && !terminal(*pod) &&
          (scheduler.empty() || scheduler == kSchedulerName)) {
        pending.push_back(pod);
      }
      continue;
    }
    if (terminal(*pod)) continue;
    auto& sum = requested[node];
    for (const auto& [resource, milli] : req->second.milli) sum[resource] += milli;
    scoring[node].first += req->second.scoring_cpu_milli;
    scoring[node].second += req->second.scoring_memory_milli;
  }
  if (pending.empty()) return;
  std::vector<NodeInfo> infos;
  for (const auto& [name, state] : nodes_) {
    ObjectPtr node = api_.store().get(kNodes, "", name);
    if (!node) continue;
    NodeSnapshot snap{name, *node, requested[name], scoring[name].first, scoring[name].second};
    auto info = node_info(snap);
    if (info) infos.push_back(std::move(*info));
  }
  // First come, first served, as the scheduler's active queue (equal priority).
  std::stable_sort(pending.begin(), pending.end(), [](const ObjectPtr& a, const ObjectPtr& b) {
    return meta_string(*a, "creationTimestamp") < meta_string(*b, "creationTimestamp");
  });
  for (const ObjectPtr& pod : pending) {
    const std::string ns = meta_string(*pod, "namespace");
    const std::string name = meta_string(*pod, "name");
    const std::string uid = meta_string(*pod, "uid");
    ScheduleDecision decision = schedule(*pod, infos);
    if (decision.node) {
      if (!api_.bind_pod(ns, name, *decision.node)) continue;
      unschedulable_.erase(uid);
      for (NodeInfo& info : infos) {
        if (info.name == *decision.node) add_pod(info, requests_[uid]);
      }
      event(*pod, "Normal", "Scheduled",
            "Successfully assigned " + ns + "/" + name + " to " + *decision.node, kSchedulerName);
      continue;
    }
    if (unschedulable_[uid] == decision.message) continue;  // said already
    unschedulable_[uid] = decision.message;
    const json condition = unschedulable_condition(decision.message, wall_now());
    (void)api_.modify("", "v1", kPods, ns, name, true, [&](const json& current) -> Result<json> {
      json obj = current;
      json conditions = json::array();
      for (const json& c : array_at(object_at(current, "status"), "conditions")) {
        if (string_at(c, "type") != "PodScheduled") conditions.push_back(c);
      }
      json cond = condition;
      cond["reason"] = decision.reason;
      conditions.push_back(cond);
      obj["status"]["conditions"] = conditions;
      if (!obj["status"].contains("phase")) obj["status"]["phase"] = "Pending";
      return obj;
    });
    event(*pod, "Warning", "FailedScheduling", decision.message, kSchedulerName);
  }
}

// ---------------------------------------------------------------- kubelet

Result<json> Cluster::write_status(const PodRun& run,
                                   const std::function<json(const json& pod)>& status) {
  return api_.modify("", "v1", kPods, run.ns, run.name, true,
                     [&](const json& current) -> Result<json> {
                       if (meta_string(current, "uid") != run.uid) {
                         return Unexpected(not_found("", kPods, run.name));
                       }
                       json obj = current;
                       obj["status"] = status(current);
                       return obj;
                     });
}

void Cluster::admit(const json& pod) {
  PodRun run;
  run.uid = meta_string(pod, "uid");
  run.ns = meta_string(pod, "namespace");
  run.name = meta_string(pod, "name");
  run.node = string_at(object_at(pod, "spec"), "nodeName");
  ParsedWorkload parsed = parse_workload(pod);
  run.spec = parsed.spec;
  for (const std::string& problem : parsed.errors) {
    event(pod, "Warning", "InvalidSimAnnotation", problem + "; using the default",
          kKubeletComponent, string_at(object_at(pod, "spec"), "nodeName"));
  }
  run.where = PodPlacement{nodes_[run.node].internal_ip, next_pod_ip(), wall_now()};
  const uint64_t generation = ++run.generation;
  auto [it, inserted] = runs_.emplace(run.uid, std::move(run));
  if (inserted) runs_by_name_[it->second.ns + "/" + it->second.name].insert(it->first);
  PodRun& r = it->second;
  (void)write_status(
      r, [&](const json& current) { return status_creating(current, r.where, wall_now()); });
  const std::string uid = r.uid;
  add_timer(r.spec.startup_seconds,
            [this, uid, generation] { container_started(uid, generation); });
}

void Cluster::container_started(const std::string& uid, uint64_t generation) {
  auto it = runs_.find(uid);
  if (it == runs_.end() || it->second.generation != generation ||
      it->second.state == PodState::Stopping || it->second.state == PodState::Done) {
    return;
  }
  PodRun& r = it->second;
  const double now = sim_now();
  r.run = checkpoints_.start_run(r.ns + "/" + r.name, r.uid, r.spec, now);
  r.state = PodState::Running;
  const TimePoint started = wall_now();
  auto written = write_status(r, [&](const json& current) {
    return status_running(current, r.where, started, started, true);
  });
  if (!written) return;
  for (const json& c : array_at(object_at(*written, "spec"), "containers")) {
    const std::string container = string_at(c, "name");
    event(*written, "Normal", "Pulled",
          "Container image \"" + string_at(c, "image") + "\" already present on machine",
          kKubeletComponent, r.node);
    event(*written, "Normal", "Created", "Created container " + container, kKubeletComponent,
          r.node);
    event(*written, "Normal", "Started", "Started container " + container, kKubeletComponent,
          r.node);
  }
  if (r.spec.model_server) start_serving(r);
  const std::optional<double> done = checkpoints_.completion_time(*r.run);
  if (done) {
    add_timer(*done - now, [this, uid, generation] { work_finished(uid, generation); });
  }
}

void Cluster::work_finished(const std::string& uid, uint64_t generation) {
  auto it = runs_.find(uid);
  if (it == runs_.end() || it->second.generation != generation ||
      it->second.state != PodState::Running) {
    return;
  }
  PodRun& r = it->second;
  checkpoints_.stop_run(*r.run, sim_now(), StopKind::kCompleted, "completed");
  r.run.reset();
  stop_serving(r);
  const int code = r.spec.exit_code;
  const TimePoint finished = wall_now();
  ObjectPtr pod = api_.store().get(kPods, r.ns, r.name);
  if (pod && restarts_after_exit(*pod, code)) {
    // restartPolicy Always or OnFailure: the container starts again (no
    // CrashLoopBackOff delay in kubesim) and resumes from its checkpoint.
    ++r.restarts;
    r.state = PodState::Creating;
    const uint64_t next = ++r.generation;
    (void)write_status(r, [&](const json& current) {
      return status_restarted(current, r.where, code, finished, finished, false);
    });
    add_timer(r.spec.startup_seconds, [this, uid, next] { container_started(uid, next); });
    return;
  }
  r.state = PodState::Done;
  (void)write_status(
      r, [&](const json& current) { return status_terminated(current, r.where, code, finished); });
}

void Cluster::begin_stop(const json& pod) {
  auto it = runs_.find(meta_string(pod, "uid"));
  if (it == runs_.end()) return;
  PodRun& r = it->second;
  const bool was_running = r.state == PodState::Running;
  if (was_running) {
    for (const json& c : array_at(object_at(pod, "spec"), "containers")) {
      event(pod, "Normal", "Killing", "Stopping container " + string_at(c, "name"),
            kKubeletComponent, r.node);
    }
  }
  r.state = PodState::Stopping;
  ++r.generation;  // pending start/finish timers no longer apply
  stop_serving(r);
  // SIGTERM now; the container exits after its stop time, or is killed when
  // the grace period runs out first.
  const double grace = grace_seconds(pod);
  const double exits_after = stop_seconds(pod);
  const bool killed = was_running && exits_after > grace;
  // The work goes on during the stop time; what is saved is decided when it ends.
  const std::string uid = r.uid;
  add_timer(std::min(exits_after, grace), [this, uid, killed] {
    auto run = runs_.find(uid);
    if (run == runs_.end()) return;
    PodRun& r = run->second;
    const int code =
        killed ? kExitCodeSigkill : (r.spec.checkpoint_on_sigterm ? 0 : kExitCodeSigterm);
    if (r.run) {
      checkpoints_.stop_run(*r.run, sim_now(), killed ? StopKind::kKilled : StopKind::kGraceful,
                            killed ? "killed after the grace period" : "deleted (SIGTERM)");
      r.run.reset();
    }
    (void)write_status(
        r, [&](const json& current) { return status_stopped(current, r.where, code, wall_now()); });
    finish_stop(uid);
  });
}

void Cluster::finish_stop(const std::string& uid) {
  auto it = runs_.find(uid);
  if (it == runs_.end()) return;
  PodRun& r = it->second;
  r.state = PodState::Done;
  // The kubelet's final delete (grace 0) removes the pod from the API.
  DeleteOptions now;
  now.grace_period_seconds = 0;
  now.precondition_uid = uid;
  (void)api_.remove("", "v1", kPods, r.ns, r.name, now);
}

void Cluster::forget(const std::string& uid, StopKind kind, const std::string& reason) {
  auto it = runs_.find(uid);
  if (it == runs_.end()) return;
  PodRun& r = it->second;
  stop_serving(r);
  if (r.run) checkpoints_.stop_run(*r.run, sim_now(), kind, reason);
  requests_.erase(uid);
  unschedulable_.erase(uid);
  auto named = runs_by_name_.find(r.ns + "/" + r.name);
  if (named != runs_by_name_.end() && named->second.erase(uid) && named->second.empty()) {
    runs_by_name_.erase(named);
  }
  runs_.erase(it);
}

void Cluster::start_serving(PodRun& r) {
  ObjectPtr pod = api_.store().get(kPods, r.ns, r.name);
  if (!pod) return;
  ModelServerOptions o;
  o.address = r.where.pod_ip;
  o.port = model_port(*pod);
  o.pod_namespace = r.ns;
  o.pod_name = r.name;
  o.latency_ms = r.spec.model_latency_ms;
  o.max_concurrency = r.spec.model_max_concurrency;
  auto ok = servers_->start(r.uid, o);
  if (!ok) {
    event(*pod, "Warning", "ModelServerFailed", ok.error().message, kKubeletComponent, r.node);
    return;
  }
  r.serving = true;
}

void Cluster::stop_serving(PodRun& r) {
  if (!r.serving) return;
  servers_->stop(r.uid);
  r.serving = false;
}

// ---------------------------------------------------------------- nodes

Result<void> Cluster::add_node(size_t pool_index, int index) {
  const NodePool& pool = config_.pools[pool_index];
  json node = node_object(config_, pool, index, wall_now());
  const std::string name = node_name(pool, index);
  NodeState state;
  state.pool = pool_index;
  state.index = index;
  const uint64_t n = nodes_.size() + static_cast<uint64_t>(index) * 7919 + pool_index * 104729;
  state.internal_ip = "10." + std::to_string(1 + pool_index % 250) + "." +
                      std::to_string((n / 250) % 250) + "." + std::to_string(1 + n % 250);
  json& addresses = node["status"]["addresses"];
  if (!addresses.is_array()) addresses = json::array();
  json kept = json::array();
  for (const json& a : addresses) {
    if (string_at(a, "type") != "InternalIP") kept.push_back(a);
  }
  kept.insert(kept.begin(), json{{"type", "InternalIP"}, {"address", state.internal_ip}});
  addresses = kept;
  auto created = api_.create("", "v1", kNodes, "", node);
  if (!created) return Unexpected(created.error());
  nodes_[name] = std::move(state);
  plan_interruptions(name);
  return {};
}

void Cluster::plan_interruptions(const std::string& name) {
  NodeState& state = nodes_[name];
  const NodePool& pool = config_.pools[state.pool];
  if (pool.capacity_type != CapacityType::Spot) return;
  const double now = started_ == SteadyTime{} ? 0 : sim_now();
  for (double at : interruption_times(config_, pool, name, state.index,
                                      options_.interruption_horizon_seconds)) {
    // A replacement node only sees what falls after it joined.
    if (at < now) continue;
    add_timer(at - now, [this, name] {
      auto it = nodes_.find(name);
      if (it != nodes_.end() && !it->second.interrupting) notice(name);
    });
  }
}

void Cluster::notice(const std::string& name) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;
  NodeState& state = it->second;
  state.interrupting = true;
  ++interruptions_total_;
  const NodePool& pool = config_.pools[state.pool];
  const double notice_seconds = pool.interruptions.notice_seconds;
  const Taint taint = interruption_taint(pool.cloud);
  const TimePoint at = wall_now();
  const std::string ends =
      rfc3339(at + duration_cast<std::chrono::system_clock::duration>(
                       duration<double>(notice_seconds / options_.time_scale)));
  const std::string message = "Spot interruption notice: the " +
                              std::string(to_string(pool.cloud)) + " instance " + name + " (" +
                              pool.instance_type + ") will be terminated in " +
                              std::to_string(static_cast<int>(notice_seconds)) + " s, at " + ends;
  auto updated =
      api_.modify("", "v1", kNodes, "", name, false, [&](const json& current) -> Result<json> {
        json obj = current;
        json& taints = obj["spec"]["taints"];
        if (!taints.is_array()) taints = json::array();
        json t = {{"key", taint.key}, {"effect", taint.effect}, {"timeAdded", rfc3339(at)}};
        if (!taint.value.empty()) t["value"] = taint.value;
        taints.push_back(t);
        return obj;
      });
  (void)api_.modify("", "v1", kNodes, "", name, true, [&](const json& current) -> Result<json> {
    json obj = current;
    json& conditions = obj["status"]["conditions"];
    if (!conditions.is_array()) conditions = json::array();
    conditions.push_back({{"type", kInterruptionCondition},
                          {"status", "True"},
                          {"reason", "SpotInterruptionNotice"},
                          {"message", message},
                          {"lastHeartbeatTime", rfc3339(at)},
                          {"lastTransitionTime", rfc3339(at)}});
    return obj;
  });
  if (updated) event(*updated, "Warning", "SpotInterrupted", message, kNodeControllerComponent);
  add_timer(notice_seconds, [this, name] { terminate_node(name); });
}

void Cluster::terminate_node(const std::string& name) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;
  const size_t pool = it->second.pool;
  // The instance goes away: every pod still on it dies without a chance to
  // save (kubelet's graceful node shutdown reports them as below).
  std::vector<std::string> uids;
  for (const auto& [uid, r] : runs_) {
    if (r.node == name) uids.push_back(uid);
  }
  for (const std::string& uid : uids) {
    PodRun& r = runs_[uid];
    if (r.state == PodState::Done) continue;
    ++r.generation;
    stop_serving(r);
    if (r.run) {
      checkpoints_.stop_run(*r.run, sim_now(), StopKind::kKilled, "spot interruption");
      r.run.reset();
    }
    const bool was_stopping = r.state == PodState::Stopping;
    r.state = PodState::Done;
    (void)write_status(r, [&](const json& current) {
      return status_disrupted(current, r.where, Disruption::kNodeShutdown, kExitCodeSigkill,
                              wall_now());
    });
    if (was_stopping) finish_stop(uid);
  }
  nodes_.erase(it);
  (void)api_.remove("", "v1", kNodes, "", name);
  const NodePool& p = config_.pools[pool];
  if (p.replacement_delay_seconds) {
    add_timer(*p.replacement_delay_seconds, [this, pool] {
      const int index = next_index_[pool]++;
      (void)add_node(pool, index);
    });
  }
}

// ---------------------------------------------------------------- built-in controllers

void Cluster::sync_workload_controllers() {
  std::set<std::string> namespaces;
  namespaces.swap(controller_namespaces_);
  const TimePoint now = wall_now();
  const NameSuffix suffix = [this] { return random_suffix(); };
  auto apply = [this](const std::vector<Action>& actions) {
    for (const Action& a : actions) {
      const std::string version = kControllerVersion;
      const std::string ns = meta_string(a.object, "namespace");
      switch (a.kind) {
        case Action::Kind::kCreate:
          (void)api_.create(a.group, version, a.resource, ns, a.object);
          break;
        case Action::Kind::kUpdate:
          (void)api_.update(a.group, version, a.resource, ns, a.object);
          break;
        case Action::Kind::kUpdateStatus:
          (void)api_.modify(a.group, version, a.resource, ns, meta_string(a.object, "name"), true,
                            [&](const json& current) -> Result<json> {
                              json obj = current;
                              obj["status"] = a.object.value("status", json::object());
                              return obj;
                            });
          break;
        case Action::Kind::kDelete:
          (void)api_.remove(a.group, version, a.resource, ns, meta_string(a.object, "name"));
          break;
      }
    }
  };
  std::vector<json> nodes;
  bool nodes_listed = false;
  for (const std::string& ns : namespaces) {
    const std::vector<json> pods = list_objects(api_, kPods, ns);
    const std::vector<json> replicasets = list_objects(api_, kReplicaSets, ns);
    for (const json& d : list_objects(api_, kDeployments, ns)) {
      Reconciliation r = reconcile_deployment(d, replicasets, pods, now);
      apply(r.actions);
      if (r.requeue_after_seconds) {
        add_timer(*r.requeue_after_seconds, [this, ns] { controller_namespaces_.insert(ns); });
      }
    }
    for (const json& rs : replicasets) {
      Reconciliation r = reconcile_replicaset(rs, pods, now, suffix);
      apply(r.actions);
      if (r.requeue_after_seconds) {
        add_timer(*r.requeue_after_seconds, [this, ns] { controller_namespaces_.insert(ns); });
      }
    }
    const std::vector<json> services = list_objects(api_, kServices, ns);
    if (services.empty()) continue;
    if (!nodes_listed) {
      nodes = list_objects(api_, kNodes, "");
      nodes_listed = true;
    }
    const std::vector<json> slices = list_objects(api_, "endpointslices.discovery.k8s.io", ns);
    for (const json& svc : services) {
      ObjectPtr endpoints = api_.store().get("endpoints", ns, meta_string(svc, "name"));
      std::optional<json> current;
      if (endpoints) current = *endpoints;
      apply(reconcile_service_endpoints(svc, pods, nodes, current, slices, suffix));
    }
  }
}

// ---------------------------------------------------------------- helpers

void Cluster::event(const json& involved, const std::string& type, const std::string& reason,
                    const std::string& message, const std::string& component,
                    const std::string& host) {
  const json& meta = object_at(involved, "metadata");
  const std::string ns =
      string_at(meta, "namespace").empty() ? "default" : string_at(meta, "namespace");
  const std::string when = rfc3339(wall_now());
  json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata",
              {{"name", string_at(meta, "name") + "." + random_suffix() + random_suffix()},
               {"namespace", ns}}},
             {"involvedObject",
              {{"apiVersion", involved.value("apiVersion", "v1")},
               {"kind", involved.value("kind", "")},
               {"name", string_at(meta, "name")},
               {"namespace", string_at(meta, "namespace")},
               {"uid", string_at(meta, "uid")},
               {"resourceVersion", string_at(meta, "resourceVersion")}}},
             {"reason", reason},
             {"message", message},
             {"type", type},
             {"source", {{"component", component}}},
             {"reportingComponent", component},
             {"firstTimestamp", when},
             {"lastTimestamp", when},
             {"count", 1}};
  if (!host.empty()) ev["source"]["host"] = host;
  (void)api_.create("", "v1", "events", ns, ev);
}

std::string Cluster::next_pod_ip() {
  // 127.N.x.y with y in 1..254: no network or broadcast-looking addresses.
  constexpr uint64_t kPerThird = 254;
  uint64_t n = pod_ip_counter_++;
  const uint64_t last = 1 + n % kPerThird;
  n /= kPerThird;
  const uint64_t third = n % 256;
  const uint64_t second =
      1 + (static_cast<uint64_t>(options_.pod_network_octet - 1) + n / 256) % 254;
  return "127." + std::to_string(second) + "." + std::to_string(third) + "." + std::to_string(last);
}

std::string Cluster::random_suffix() {
  // The alphabet of the API server's generateName (utilrand.String).
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out(5, 'x');
  for (char& c : out) c = kAlphabet[rng_() % (sizeof(kAlphabet) - 1)];
  return out;
}

}  // namespace kubesim
