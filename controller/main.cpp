// frugal-controller: the Frugal manager. See `frugal-controller --help`.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "controller/echo_reconciler.h"
#include "controller/kube/config.h"
#include "controller/kube/log.h"
#include "controller/manager.h"
#include "reconcilers/cost_metrics.h"
#include "reconcilers/pricebook.h"
#include "reconcilers/trainingjob.h"

namespace {

std::atomic<bool> g_stop{false};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "frugal-controller runs Frugal's reconcilers against a Kubernetes API server.\n"
      "It finds the cluster like kubectl and controller-runtime do: --kubeconfig, else "
      "$KUBECONFIG, else the in-cluster service account, else ~/.kube/config."};
  std::string kubeconfig, context, ns;
  std::string metrics_addr = ":8080", health_addr = ":8081";
  bool leader_elect = false;
  std::string le_namespace = "default", le_id = "frugal-controller-leader", le_identity;
  double lease_duration = 15, renew_deadline = 10, retry_period = 2;
  double qps = 20;
  int burst = 30, concurrency = 1;
  std::string log_format = "text", log_level = "info";
  bool echo = false;
  double time_scale = 1;
  std::vector<std::string> controllers = {"pricebook", "trainingjob"};

  app.add_option("--kubeconfig", kubeconfig,
                 "Path to a kubeconfig; overrides $KUBECONFIG and in-cluster config");
  app.add_option("--context", context, "kubeconfig context to use (default: current-context)");
  app.add_option("--namespace", ns,
                 "Watch and reconcile only this namespace (default: all namespaces)");
  app.add_option("--metrics-bind-address", metrics_addr,
                 "HOST:PORT serving /metrics (Prometheus text format); \"0\" disables")
      ->capture_default_str();
  app.add_option("--health-probe-bind-address", health_addr,
                 "HOST:PORT serving /healthz and /readyz (ready once caches are synced); \"0\" "
                 "disables")
      ->capture_default_str();
  app.add_flag("--leader-elect", leader_elect,
               "Run as one of several replicas: only the holder of a coordination.k8s.io Lease "
               "reconciles");
  app.add_option("--leader-election-namespace", le_namespace, "Namespace of the Lease")
      ->capture_default_str();
  app.add_option("--leader-election-id", le_id, "Name of the Lease")->capture_default_str();
  app.add_option("--leader-election-identity", le_identity,
                 "This replica's name in the Lease and in its User-Agent (default: $POD_NAME or "
                 "the hostname, plus a random suffix)");
  app.add_option("--leader-election-lease-duration", lease_duration,
                 "Seconds a standby waits, after it last saw the lease change, before taking it "
                 "(client-go default 15)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--leader-election-renew-deadline", renew_deadline,
                 "Seconds the leader keeps trying to renew before it stops leading (client-go "
                 "default 10)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--leader-election-retry-period", retry_period,
                 "Seconds between attempts to acquire or renew (client-go default 2)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--kube-api-qps", qps, "Client-side rate limit on API requests per second")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--kube-api-burst", burst, "Burst above --kube-api-qps")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--concurrency", concurrency,
                 "Reconcile workers per controller (one key is never reconciled by two at once)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--log-format", log_format, "text (klog style) or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", log_level, "error, info, debug or trace (or 0-3)")
      ->capture_default_str();
  app.add_option("--time-scale", time_scale,
                 "Simulation only: sim seconds per real second, the same factor kubesim "
                 "--time-scale was given, so that costs, deadlines and timers agree with the "
                 "simulated cluster. Leave at 1 on a real cluster")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--controllers", controllers,
                 "Controllers to run, comma-separated: pricebook (PriceBook status and node "
                 "prices), trainingjob (TrainingJobs on spot with checkpoint recovery, and the "
                 "cost metrics), or none. Each needs its CRDs installed (crds/)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::IsMember({"pricebook", "trainingjob", "none"}));
  app.add_flag("--enable-echo-controller", echo,
               "Test only: run a trivial ConfigMap reconciler that annotates ConfigMaps labelled "
               "frugal.dev/echo=true with a digest of their data");
  CLI11_PARSE(app, argc, argv);

  frugal::log::Format fmt;
  frugal::log::Level lvl;
  frugal::log::parse_format(log_format, fmt);
  if (!frugal::log::parse_level(log_level, lvl)) {
    std::cerr << "frugal-controller: --log-level: '" << log_level
              << "' is not one of error, info, debug, trace" << std::endl;
    return 2;
  }
  frugal::log::configure(fmt, lvl);

  auto rest = frugal::kube::load_rest_config({kubeconfig, context});
  if (!rest) {
    std::cerr << "frugal-controller: " << rest.error().message << std::endl;
    return 2;
  }
  rest->qps = qps;
  rest->burst = burst;

  frugal::ManagerOptions opts;
  opts.namespace_scope = ns;
  opts.metrics_bind_address = metrics_addr;
  opts.health_probe_bind_address = health_addr;
  opts.leader_elect = leader_elect;
  opts.leader_election_namespace = le_namespace;
  opts.leader_election_id = le_id;
  opts.identity = le_identity;
  opts.concurrency = concurrency;
  opts.time_scale = time_scale;
  auto secs = [](double s) {
    return std::chrono::duration_cast<frugal::Clock::Duration>(std::chrono::duration<double>(s));
  };
  opts.leader_election.lease_duration = secs(lease_duration);
  opts.leader_election.renew_deadline = secs(renew_deadline);
  opts.leader_election.retry_period = secs(retry_period);

  // Stop signals are taken by a dedicated thread with sigwait, so no handler
  // runs in the middle of arbitrary code.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::thread signals([&stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig != 0) {
      frugal::log::info("Received a stop signal; draining", {{"signal", sig}});
      g_stop = true;
    }
  });
  signals.detach();

  frugal::Manager manager(opts, *rest);
  std::unique_ptr<frugal::EchoReconciler> echo_reconciler;
  if (echo) {
    auto& cms = manager.informer(frugal::kConfigMaps);
    echo_reconciler = std::make_unique<frugal::EchoReconciler>(manager.client(), cms);
    auto& loop = manager.add_controller("echo", *echo_reconciler);
    manager.enqueue_own(loop, cms);
  }
  auto enabled = [&](const std::string& name) {
    return std::find(controllers.begin(), controllers.end(), name) != controllers.end();
  };
  std::unique_ptr<frugal::reconcilers::PriceBookReconciler> pricebook_reconciler;
  if (enabled("pricebook")) {
    pricebook_reconciler = frugal::reconcilers::add_pricebook_controller(manager);
  }
  std::unique_ptr<frugal::reconcilers::TrainingJobReconciler> trainingjob_reconciler;
  if (enabled("trainingjob")) {
    trainingjob_reconciler = frugal::reconcilers::add_trainingjob_controller(manager);
    frugal::reconcilers::add_cost_metrics(manager);
  }
  frugal::log::info("Starting manager", {{"server", rest->server},
                                         {"namespace", ns.empty() ? "<all>" : ns},
                                         {"leaderElection", leader_elect}});
  auto exit = manager.run(g_stop);
  frugal::log::info("Manager stopped", {{"exit", static_cast<int>(exit)}});
  return static_cast<int>(exit);
}
