// kubesim: a local Kubernetes API server for Frugal's tests, demo and
// benchmarks. See `kubesim --help` and docs/kubesim.md.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "sim/apiserver.h"
#include "sim/cluster.h"
#include "sim/cluster_config.h"
#include "sim/http_server.h"
#include "sim/kubeconfig.h"
#include "sim/names.h"
#include "sim/tls.h"

namespace {

// Kubernetes-style log line: capitalised message, key=value pairs.
void log_info(const std::string& msg) {
  std::cerr << "I " << kubesim::rfc3339(std::chrono::system_clock::now()) << " " << msg
            << std::endl;
}

bool split_listen(const std::string& listen, std::string& host, uint16_t& port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  host = listen.substr(0, colon);
  try {
    int p = std::stoi(listen.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    port = static_cast<uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  return !host.empty();
}

// --audit-log: one JSON line per write, flushed as written so a test can
// read the file while kubesim runs (or after it was killed).
class AuditLog {
 public:
  static std::shared_ptr<AuditLog> open(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "a");
    return f == nullptr ? nullptr : std::shared_ptr<AuditLog>(new AuditLog(f));
  }
  ~AuditLog() { std::fclose(file_); }
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;
  void write(const kubesim::json& record) {
    const std::string line = record.dump() + "\n";
    std::lock_guard lock(mu_);
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fflush(file_);
  }

 private:
  explicit AuditLog(std::FILE* f) : file_(f) {}
  std::mutex mu_;
  std::FILE* file_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "kubesim: a local Kubernetes API server that kubectl and Frugal's controller use "
      "unchanged.\n\nStart it, then point kubectl at the kubeconfig it writes:\n"
      "  kubesim --listen 127.0.0.1:0 --kubeconfig-out /tmp/kubesim.kubeconfig --tls --token s3cret\n"
      "  KUBECONFIG=/tmp/kubesim.kubeconfig kubectl get namespaces\n\n"
      "Admin endpoints (same port, same auth): GET/PUT/DELETE /kubesim/faults, "
      "POST /kubesim/compact[?resourceVersion=N], POST /kubesim/drop-watches, GET /kubesim/stats; "
      "with --cluster also GET /kubesim/cluster (nodes, pods, sim time) and GET /kubesim/work "
      "(checkpoints and lost work per pod)."};
  std::string listen = "127.0.0.1:0";
  std::string kubeconfig_out;
  bool tls = false;
  std::string token;
  size_t history = kubesim::Store::kDefaultHistoryLimit;
  double bookmark_interval = 30;
  int min_request_timeout = 1800;
  std::vector<std::string> faults;
  bool expired_as_http = false;
  uint64_t seed = 1;
  int threads = 2;
  std::string audit_log;
  std::string cluster_file;
  double time_scale = 1;
  int pod_network_octet = 1;

  app.add_option("--listen", listen,
                 "Address and port to serve on, HOST:PORT; port 0 picks a free port, printed on "
                 "stdout and written into --kubeconfig-out")
      ->capture_default_str();
  app.add_option("--kubeconfig-out", kubeconfig_out,
                 "Write a kubeconfig for this server here (mode 0600), once it is listening");
  app.add_flag("--tls", tls,
               "Serve HTTPS with a freshly generated self-signed CA; the CA goes into the "
               "kubeconfig as certificate-authority-data");
  app.add_option("--token", token,
                 "Require 'Authorization: Bearer TOKEN' on every request except /healthz, "
                 "/livez and /readyz; written into the kubeconfig");
  app.add_option("--history", history,
                 "How many changes to keep for watches and paginated lists; older resource "
                 "versions answer 410 Expired")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--bookmark-interval", bookmark_interval,
                 "Seconds between BOOKMARK events on watches that allow them")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--min-request-timeout", min_request_timeout,
                 "Watches without timeoutSeconds end after a random time between this many "
                 "seconds and twice that (as kube-apiserver)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--fault", faults,
                 "Fault rule, repeatable: comma-separated key=value with keys verb, resource, "
                 "code (500|429|409|503), probability, retry_after_seconds, latency_ms, "
                 "drop_watch_after_ms, remaining. E.g. --fault verb=list,resource=pods,code=500,"
                 "probability=0.2");
  app.add_flag("--expired-watch-as-http-status", expired_as_http,
               "Answer a watch from a compacted resourceVersion with HTTP 410 instead of an "
               "in-stream ERROR event (the real server with its watch cache does the latter)");
  app.add_option("--seed", seed, "Seed for fault injection and watch timeouts")
      ->capture_default_str();
  app.add_option("--cluster", cluster_file,
                 "Run a simulated cluster described by this YAML file (node pools, spot "
                 "interruptions, seed; see docs/cluster-file.md and sim/examples/): nodes, a "
                 "scheduler, a kubelet, Deployment/ReplicaSet/Endpoints controllers and model "
                 "servers on 127.x addresses. Without it kubesim is an API server only");
  app.add_option("--time-scale", time_scale,
                 "Sim seconds per real second for every delay the simulated cluster makes "
                 "(container startup, work, interruption notices); object timestamps stay real, "
                 "so give a controller under test the same factor. When not 1, timestamps carry "
                 "microseconds (valid RFC 3339), since one real second is many sim seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--pod-network", pod_network_octet,
                 "With --cluster: pods get addresses from 127.N.0.0/16 and their model servers "
                 "listen there; give two kubesims on one machine different N")
      ->capture_default_str()
      ->check(CLI::Range(1, 254));
  app.add_option("--audit-log", audit_log,
                 "Append one JSON line per write request (create, update, patch, delete) to "
                 "this file: time with microseconds, verb, resource, subresource, namespace, "
                 "name, userAgent and the answer's code");
  app.add_option("--threads", threads, "HTTP worker threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);

  std::string host;
  uint16_t port = 0;
  if (!split_listen(listen, host, port)) {
    std::cerr << "kubesim: --listen: '" << listen << "' is not HOST:PORT" << std::endl;
    return 2;
  }

  kubesim::ApiServerOptions opts;
  opts.token = token;
  opts.history_limit = history;
  opts.bookmark_interval =
      std::chrono::milliseconds(static_cast<int64_t>(bookmark_interval * 1000));
  opts.min_request_timeout = std::chrono::seconds(min_request_timeout);
  opts.expired_watch_as_http_status = expired_as_http;
  opts.seed = seed;
  std::shared_ptr<AuditLog> audit;
  if (!audit_log.empty()) {
    audit = AuditLog::open(audit_log);
    if (!audit) {
      std::cerr << "kubesim: --audit-log: cannot open " << audit_log << ": "
                << std::strerror(errno) << std::endl;
      return 2;
    }
    opts.audit = [audit](const kubesim::json& record) { audit->write(record); };
  }
  auto api = std::make_unique<kubesim::ApiServer>(opts);
  for (const auto& spec : faults) {
    auto rule = kubesim::FaultInjector::parse_rule(spec);
    if (!rule) {
      std::cerr << "kubesim: --fault: " << rule.error().message << std::endl;
      return 2;
    }
    api->faults().add_rule(*rule);
  }

  std::unique_ptr<kubesim::Cluster> cluster;
  if (!cluster_file.empty()) {
    auto config = kubesim::load_cluster_config(cluster_file);
    if (!config) {
      std::cerr << "kubesim: --cluster: " << config.error() << std::endl;
      return 2;
    }
    if (time_scale != 1) kubesim::set_timestamp_fraction_digits(6);
    kubesim::ClusterOptions copts;
    copts.time_scale = time_scale;
    copts.pod_network_octet = pod_network_octet;
    cluster = std::make_unique<kubesim::Cluster>(*api, std::move(*config), copts);
    if (auto started = cluster->start(); !started) {
      std::cerr << "kubesim: --cluster: " << started.error().message << std::endl;
      return 1;
    }
  }

  kubesim::HttpServerOptions http;
  http.address = host;
  http.port = port;
  http.threads = threads;
  std::string ca_pem;
  if (tls) {
    auto material = kubesim::generate_tls_material({host, "127.0.0.1"}, {"localhost"});
    if (!material) {
      std::cerr << "kubesim: generating TLS material: " << material.error().message << std::endl;
      return 1;
    }
    ca_pem = material->ca_cert_pem;
    http.tls = *material;
  }

  // Block the stop signals before any thread starts, so only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  kubesim::HttpServer server(http, [&api](const kubesim::Request& req) { return api->handle(req); });
  if (auto started = server.start(); !started) {
    std::cerr << "kubesim: cannot listen on " << listen << ": " << started.error().message
              << std::endl;
    return 1;
  }
  const std::string url =
      std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(server.port());
  if (!kubeconfig_out.empty()) {
    kubesim::KubeconfigParams kp;
    kp.server = url;
    if (!ca_pem.empty()) kp.ca_pem = ca_pem;
    if (!token.empty()) kp.token = token;
    auto written = kubesim::write_kubeconfig_file(kubeconfig_out, kubesim::make_kubeconfig(kp));
    if (!written) {
      std::cerr << "kubesim: --kubeconfig-out " << kubeconfig_out << ": "
                << written.error().message << std::endl;
      return 1;
    }
  }
  std::cout << "kubesim listening on " << url << std::endl;
  log_info("\"Serving\" address=\"" + url + "\" tls=" + (tls ? "true" : "false") +
           " auth=" + (token.empty() ? "none" : "token") +
           (kubeconfig_out.empty() ? "" : " kubeconfig=\"" + kubeconfig_out + "\""));

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log_info("\"Shutting down\" signal=" + std::to_string(sig));
  server.stop();
  cluster.reset();
  api.reset();
  return 0;
}
