// The simulated cluster at scale: how fast kubesim's scheduler binds and its
// kubelet starts pods on the 1,000-node cluster (sim/examples/bench-1000.yaml),
// and what 1,000 nodes and 20,000 running pods cost in memory. In-process
// (ApiServer + Cluster, no HTTP), with a time scale so large that container
// startup delays vanish: the figures are the cluster's own work per pod
// (scheduling over 1,000 nodes, status writes, Events), not simulated waits.
//
//   cluster_bench            # 20,000 pods on 1,000 nodes
//   cluster_bench --quick    # 2,000 pods: a smoke check
//   cluster_bench --pods=N --cluster=FILE
//
// For the ratio, the same number of plain pod creates is timed first on a
// server with no cluster: "started/s" against "created/s" says how much the
// cluster's work costs per pod on top of storing it.
#include <malloc.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include "bench/bench_report.h"
#include "sim/apiserver.h"
#include "sim/cluster.h"
#include "sim/cluster_config.h"
#include "sim/json_access.h"

namespace {

using frugal::bench::count;
using frugal::bench::fmt;
using frugal::bench::per_s;
using frugal::bench::progress;
using frugal::bench::rss_bytes;
using frugal::bench::seconds;
using kubesim::json;
using Steady = std::chrono::steady_clock;

constexpr auto kWaitLimit = std::chrono::minutes(10);
// Sim seconds per real second: a 2 s container startup takes 2 µs.
constexpr double kTimeScale = 1e6;

struct Options {
  size_t pods = 20000;
  std::string cluster = std::string(FRUGAL_SOURCE_DIR) + "/sim/examples/bench-1000.yaml";
};

json bench_pod(size_t i) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "p-" + std::to_string(i)}, {"namespace", "default"}}},
          {"spec",
           {{"containers",
             {{{"name", "main"},
               {"image", "busybox:1.36"},
               {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}}}}}},
            // Whatever pool it lands in: GPU and AKS spot pools are tainted.
            {"tolerations", {{{"operator", "Exists"}}}}}}};
}

// Counts pods as the cluster binds and starts them, from store events.
class Progress {
 public:
  void on_event(const kubesim::StoreEvent& ev) {
    const json& obj = *ev.object;
    const std::string uid = kubesim::string_at(kubesim::object_at(obj, "metadata"), "uid");
    const bool bound = !kubesim::string_at(kubesim::object_at(obj, "spec"), "nodeName").empty();
    const bool running =
        kubesim::string_at(kubesim::object_at(obj, "status"), "phase") == "Running";
    std::lock_guard lock(mu_);
    if (bound && bound_.insert(uid).second && bound_.size() == target_)
      first_all_bound_ = Steady::now();
    if (running && running_.insert(uid).second && running_.size() == target_) {
      first_all_running_ = Steady::now();
      cv_.notify_all();
    }
  }
  void expect(size_t n) {
    std::lock_guard lock(mu_);
    target_ = n;
  }
  bool wait_all_running() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWaitLimit, [&] { return running_.size() >= target_; });
  }
  Steady::time_point all_bound() const {
    std::lock_guard lock(mu_);
    return first_all_bound_;
  }
  Steady::time_point all_running() const {
    std::lock_guard lock(mu_);
    return first_all_running_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_set<std::string> bound_, running_;
  size_t target_ = 0;
  Steady::time_point first_all_bound_{}, first_all_running_{};
};

double plain_create_rate(size_t pods) {
  kubesim::ApiServer api;
  const auto start = Steady::now();
  for (size_t i = 0; i < pods; ++i) {
    if (!api.create("", "v1", "pods", "default", bench_pod(i))) return 0;
  }
  return static_cast<double>(pods) / seconds(Steady::now() - start);
}

int run(const Options& o) {
  progress("Plain pod creates, no cluster");
  const double create_rate = plain_create_rate(o.pods);
  malloc_trim(0);  // that server's heap goes back before the baseline is read

  auto config = kubesim::load_cluster_config(o.cluster);
  if (!config) {
    std::cerr << "cluster_bench: " << config.error() << "\n";
    return 1;
  }
  size_t nodes = 0;
  for (const auto& pool : config->pools) nodes += static_cast<size_t>(pool.count);
  // Spot interruptions would remove nodes mid-run: this measures steady state.
  for (auto& pool : config->pools) pool.interruptions = kubesim::InterruptionSpec{};

  const size_t rss0 = rss_bytes();
  kubesim::ApiServer api;
  kubesim::ClusterOptions co;
  co.time_scale = kTimeScale;
  co.pod_network_octet = 201;
  kubesim::Cluster cluster(api, *config, co);
  progress("Registering " + count(nodes) + " nodes");
  const auto nodes_start = Steady::now();
  if (auto ok = cluster.start(); !ok) {
    std::cerr << "cluster_bench: " << ok.error().message << "\n";
    return 1;
  }
  const double nodes_seconds = seconds(Steady::now() - nodes_start);
  if (!cluster.wait_idle(kWaitLimit)) return 1;
  const size_t rss_nodes = rss_bytes();

  Progress seen;
  seen.expect(o.pods);
  auto sub = api.store().subscribe("pods", "", api.store().current_rv(),
                                   [&](const kubesim::StoreEvent& ev) { seen.on_event(ev); });
  if (!sub) return 1;
  progress("Creating " + count(o.pods) + " pods while the cluster schedules and starts them");
  const double cpu0 = frugal::bench::process_cpu_seconds();
  const auto start = Steady::now();
  for (size_t i = 0; i < o.pods; ++i) {
    if (!api.create("", "v1", "pods", "default", bench_pod(i))) return 1;
  }
  const auto created = Steady::now();
  if (!seen.wait_all_running()) {
    std::cerr << "cluster_bench: not every pod was running after the time limit\n";
    return 1;
  }
  const double cpu = frugal::bench::process_cpu_seconds() - cpu0;
  const double bound_s = seconds(seen.all_bound() - start);
  const double running_s = seconds(seen.all_running() - start);
  if (!cluster.wait_idle(kWaitLimit)) return 1;
  const size_t rss_pods = rss_bytes();
  malloc_trim(0);
  const size_t rss_trimmed = rss_bytes();
  auto stats = api.store().list("events", "", nullptr, 0, "", 0);
  const size_t events = stats ? stats->items.size() : 0;
  api.store().unsubscribe(*sub);

  std::cout << "# Simulated cluster benchmark\n\n| | |\n|---|---|\n"
            << "| machine | " << frugal::bench::machine_line() << " |\n"
            << "| cluster | " << o.cluster.substr(o.cluster.rfind('/') + 1) << ": " << count(nodes)
            << " nodes in " << config->pools.size()
            << " pools (interruptions off); in-process ApiServer + Cluster, no HTTP; time scale "
            << fmt("%.0e", kTimeScale) << " so startup delays vanish |\n"
            << "| pods | " << count(o.pods)
            << " pods of 100m CPU / 128Mi, tolerating every taint, created in-process by one "
               "thread while the cluster's one loop thread schedules and starts them |\n\n";
  frugal::bench::Table t;
  t.row("Plain pod creates, no cluster", per_s(create_rate),
        "the same pods into a bare ApiServer: the cost of storing them");
  t.row("Nodes registered", count(nodes), fmt("in %.2f s", nodes_seconds));
  t.row("Pods scheduled (bound)", per_s(static_cast<double>(o.pods) / bound_s),
        "all " + count(o.pods) + fmt(" bound %.2f s after the first create; ", bound_s) +
            fmt("creates took %.2f s", seconds(created - start)));
  t.row("Pods started (Running, Ready)", per_s(static_cast<double>(o.pods) / running_s),
        fmt("%.2f s to all Running; ", running_s) +
            fmt("%.2f× the plain create rate; ",
                static_cast<double>(o.pods) / running_s / create_rate) +
            fmt("process CPU %.1f s ", cpu) +
            fmt("(%.0f µs per pod, creates included)", cpu * 1e6 / static_cast<double>(o.pods)));
  t.row("RSS, process start", fmt("%.1f MiB", static_cast<double>(rss0) / 1048576.0));
  t.row("RSS with " + count(nodes) + " nodes",
        fmt("%.1f MiB", static_cast<double>(rss_nodes) / 1048576.0),
        fmt("+%.1f KiB per node",
            static_cast<double>(rss_nodes - rss0) / 1024.0 / static_cast<double>(nodes)));
  t.row("RSS with " + count(nodes) + " nodes and " + count(o.pods) + " running pods",
        fmt("%.1f MiB", static_cast<double>(rss_pods) / 1048576.0),
        fmt("+%.1f KiB per pod, ",
            static_cast<double>(rss_pods - rss_nodes) / 1024.0 / static_cast<double>(o.pods)) +
            "its Events included (" + count(events) +
            " Events: Scheduled, Pulled, Created, Started)");
  t.row("... after malloc_trim(0)", fmt("%.1f MiB", static_cast<double>(rss_trimmed) / 1048576.0),
        fmt("+%.1f KiB per pod: what is really held; the rest is freed heap not yet returned",
            static_cast<double>(rss_trimmed - rss_nodes) / 1024.0 / static_cast<double>(o.pods)));
  t.print(std::cout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      o.pods = 2000;
    } else if (arg.rfind("--pods=", 0) == 0) {
      o.pods = std::stoul(arg.substr(7));
    } else if (arg.rfind("--cluster=", 0) == 0) {
      o.cluster = arg.substr(10);
    } else {
      std::cerr << "usage: cluster_bench [--quick] [--pods=N] [--cluster=FILE]\n";
      return 2;
    }
  }
  return run(o);
}
