// The client runtime's costs, answering the issue's three questions in one
// run: how much memory a cached object takes (with and without the
// strip_unused_fields transform), how many watch events an informer
// processes per second, and how many no-op reconciles per second the
// controller loop runs. The figures come out as a Markdown table
// (hack/bench.sh stores it under bench/results/). A harness rather than
// Google Benchmark cases, as kubesim_bench: the phases need a populated
// server and separate processes, and what matters is how figures from the
// same run compare.
//
// Processes, so that each figure measures only what it claims to:
//   * kubesim runs in a child forked before any thread exists (it links
//     kubesim_lib, no separate binary needed); it creates the objects itself
//     in-process, and later applies the updates the informer must see. Its
//     memory and CPU are not the measuring process's.
//   * each memory measurement runs in a fresh re-exec of this binary
//     (--role=cache), whose only job is one informer: RSS before the
//     informer starts and after it has synced, with or without the
//     transform, so the two figures start from the same clean heap.
//   * events/s and reconciles/s run in the main process.
//
// Events/s three ways, because one number would mislead: live (the server
// applies the updates while the informer watches, so the rate is capped by
// how fast kubesim writes), backlog (the updates are applied first and the
// informer's watch then receives them all from the server's history: the
// informer with HTTP and parsing), and alone (a scripted ListerWatcher feeds
// prepared events: the informer's own work, no network, no parsing).
//
//   controller_bench            # the issue's sizes: 100k objects, 20k updates, 200k keys
//   controller_bench --quick    # a tenth of each: a smoke check
//   controller_bench --objects=N --updates=N --keys=N ...   # see usage()
//   controller_bench --only=reconciles      # one phase (memory, events, reconciles)
// To profile the cache by hand: `controller_bench --role=server --objects=N`
// prints "ready PORT ..." and serves until stdin closes; then
// `heaptrack controller_bench --role=cache --url=http://127.0.0.1:PORT --objects=N`.
//
// Exits non-zero if a phase fails (a missing object or event, a server
// error); a missed target is reported, not an error.
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_report.h"
#include "controller/kube/cache_store.h"
#include "controller/kube/client.h"
#include "controller/kube/controller_loop.h"
#include "controller/kube/informer.h"
#include "controller/kube/lister_watcher.h"
#include "controller/kube/reconciler.h"
#include "sim/apiserver.h"
#include "sim/http_server.h"

extern char** environ;

namespace {

namespace kube = frugal::kube;
using json = nlohmann::json;
using Steady = std::chrono::steady_clock;
using namespace frugal::bench;

// ------------------------------------------------------------------ settings

struct Options {
  size_t objects = 100000;   // the issue: "100k custom objects of ~2 KB each"
  size_t namespaces = 10;    // objects spread evenly over them
  size_t updates = 20000;    // the issue: M = 20,000 updates seen by the informer
  size_t keys = 200000;      // the issue: N = 200,000 distinct keys
  size_t dedup_keys = 1000;  // the issue: 1,000 keys re-added repeatedly
  size_t dedup_ms = 2000;    // how long those keys are re-added, per run
  size_t runs = 3;           // reconcile runs per case; the median is reported
  int writers = 1;           // server-side threads applying the updates
  int server_threads = 2;    // HttpServerOptions::threads default
  std::string commit = "unknown";
  // Phases to run: any of memory, events, reconciles, comma-separated.
  std::string only = "memory,events,reconciles";
  std::vector<std::string> ignored;  // arguments meant for other benches (BENCH_ARGS)
  // Internal: the memory-measuring child.
  std::string role;
  std::string url;
  bool transform = true;
};

// Any wait for the server or the informer longer than this means something is stuck.
constexpr std::chrono::seconds kSyncTimeout{300};
constexpr std::chrono::seconds kPhaseTimeout{180};
// How often a waiting thread looks at progress it cannot be notified of.
constexpr std::chrono::milliseconds kPollInterval{1};
// Objects parsed to measure the in-memory size of one parsed object.
constexpr size_t kParseSamples = 2000;
// The issue's targets.
constexpr double kTargetBytesPerObject = 3 * 1024;
constexpr double kTargetReconcilesPerSecond = 20000;

constexpr char kGroup[] = "bench.frugal.dev";
constexpr char kVersion[] = "v1";
constexpr char kPlural[] = "trainingruns";
constexpr char kKind[] = "TrainingRun";
constexpr char kLastApplied[] = "kubectl.kubernetes.io/last-applied-configuration";

void usage() {
  std::cerr
      << "usage: controller_bench [--quick] [--objects=N] [--namespaces=N] [--updates=N]\n"
         "                        [--keys=N] [--dedup-keys=N] [--dedup-ms=N] [--runs=N]\n"
         "                        [--writers=N] [--server-threads=N] [--commit=SHA]\n"
         "                        [--only=memory,events,reconciles]\n"
         "KUBESIM_BENCH_COMMIT in the environment also sets the commit shown. Other\n"
         "--name=value arguments (BENCH_ARGS meant for another bench) are listed and ignored.\n";
}

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  if (const char* c = std::getenv("KUBESIM_BENCH_COMMIT"); c && *c) o.commit = c;
  std::map<std::string, size_t*> sizes = {
      {"--objects", &o.objects}, {"--namespaces", &o.namespaces}, {"--updates", &o.updates},
      {"--keys", &o.keys},       {"--dedup-keys", &o.dedup_keys}, {"--dedup-ms", &o.dedup_ms},
      {"--runs", &o.runs}};
  std::map<std::string, int*> ints = {{"--writers", &o.writers},
                                      {"--server-threads", &o.server_threads}};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return std::nullopt;
    if (arg == "--quick") {
      o.objects = 10000;
      o.updates = 2000;
      o.keys = 20000;
      o.dedup_ms = 500;
      continue;
    }
    const auto eq = arg.find('=');
    const std::string key = arg.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (key == "--commit") {
      o.commit = value;
    } else if (key == "--only") {
      o.only = value;
    } else if (key == "--role") {
      o.role = value;
    } else if (key == "--url") {
      o.url = value;
    } else if (key == "--transform") {
      o.transform = value != "0";
    } else if (sizes.count(key) != 0 || ints.count(key) != 0) {
      long long v = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || end != value.data() + value.size() || v <= 0) {
        std::cerr << "controller_bench: bad argument " << arg << "\n";
        return std::nullopt;
      }
      if (auto s = sizes.find(key); s != sizes.end()) *s->second = static_cast<size_t>(v);
      if (auto n = ints.find(key); n != ints.end()) *n->second = static_cast<int>(v);
    } else if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      o.ignored.push_back(arg);
    } else {
      std::cerr << "controller_bench: unknown argument " << arg << "\n";
      return std::nullopt;
    }
  }
  if (o.role.empty() && (o.objects < o.namespaces || o.updates > o.objects)) {
    std::cerr << "controller_bench: need objects >= namespaces and updates <= objects\n";
    return std::nullopt;
  }
  return o;
}

// ------------------------------------------------------------------ formatting

std::string bytes(double b) { return count(static_cast<size_t>(b + 0.5)) + " B"; }
std::string met(bool ok) { return ok ? "**met**" : "**missed**"; }


// ------------------------------------------------------------------ process metrics

// Bytes malloc has handed out and not had back (mallinfo2: uordblks + hblkhd).
size_t heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// utime + stime of another process, from /proc/PID/stat.
double other_process_cpu_seconds(pid_t pid) {
  const std::string stat = read_first_line("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// steady_clock is CLOCK_MONOTONIC, the same clock in every process on the machine,
// so the server child's timestamps can be compared with ours.
int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now().time_since_epoch())
      .count();
}

// ------------------------------------------------------------------ the objects

std::string ns_name(size_t n) { return "bench-" + std::to_string(n); }
std::string object_name(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "run-%07zu", i);
  return buf;
}

// A TrainingRun as `kubectl apply` leaves it and a controller then updates
// it: the spec, the last-applied annotation (the applied manifest: metadata
// and spec), managedFields for kubectl's and the controller's writes, and a
// status. About 2 KB of JSON as the server sends it; the parts the
// transform drops are roughly half.
json training_run(size_t i, const std::string& ns, int replicas) {
  const std::string name = object_name(i);
  json labels = {{"app.kubernetes.io/name", "trainer"},
                 {"frugal.dev/team", "team-" + std::to_string(i % 17)}};
  json spec = {
      {"image", "registry.example.com/ml/trainer:2026.11-cuda12"},
      {"command", {"python", "-m", "trainer"}},
      {"args", {"--epochs=40", "--lr=0.0003", "--data=s3://datasets/shard-" + std::to_string(i)}},
      {"replicas", replicas},
      {"resources", {{"cpu", "8"}, {"memory", "64Gi"}, {"nvidia.com/gpu", "1"}}},
      {"maxHourlyCost", "12.50"},
      {"preemptible", true},
      {"checkpointIntervalSeconds", 600}};
  json applied = {
      {"apiVersion", std::string(kGroup) + "/" + kVersion},
      {"kind", kKind},
      {"metadata",
       {{"annotations", json::object()}, {"labels", labels}, {"name", name}, {"namespace", ns}}},
      {"spec", spec}};
  const std::string time = "2026-11-22T14:10:00Z";
  json managed = json::array(
      {{{"manager", "kubectl-client-side-apply"},
        {"operation", "Update"},
        {"apiVersion", std::string(kGroup) + "/" + kVersion},
        {"time", time},
        {"fieldsType", "FieldsV1"},
        {"fieldsV1",
         {{"f:metadata",
           {{"f:annotations",
             {{".", json::object()}, {std::string("f:") + kLastApplied, json::object()}}},
            {"f:labels",
             {{".", json::object()},
              {"f:app.kubernetes.io/name", json::object()},
              {"f:frugal.dev/team", json::object()}}}}},
          {"f:spec",
           {{".", json::object()},
            {"f:image", json::object()},
            {"f:command", json::object()},
            {"f:args", json::object()},
            {"f:replicas", json::object()},
            {"f:resources", json::object()},
            {"f:maxHourlyCost", json::object()},
            {"f:preemptible", json::object()},
            {"f:checkpointIntervalSeconds", json::object()}}}}}},
       {{"manager", "frugal-controller"},
        {"operation", "Update"},
        {"apiVersion", std::string(kGroup) + "/" + kVersion},
        {"time", time},
        {"fieldsType", "FieldsV1"},
        {"fieldsV1",
         {{"f:status",
           {{".", json::object()},
            {"f:phase", json::object()},
            {"f:costSoFar", json::object()},
            {"f:conditions", json::object()}}}}}}});
  return {{"apiVersion", std::string(kGroup) + "/" + kVersion},
          {"kind", kKind},
          {"metadata",
           {{"name", name},
            {"namespace", ns},
            {"labels", labels},
            {"annotations", {{kLastApplied, applied.dump()}}},
            {"managedFields", managed}}},
          {"spec", spec},
          {"status",
           {{"phase", "Running"},
            {"observedGeneration", 1},
            {"startTime", time},
            {"costSoFar", "3.1416"},
            {"conditions",
             {{{"type", "Ready"},
               {"status", "True"},
               {"reason", "PodsRunning"},
               {"message", "4/4 replicas running"},
               {"lastTransitionTime", time}}}}}}};
}

const char* kCrd = R"({
  "apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition",
  "metadata": {"name": "trainingruns.bench.frugal.dev"},
  "spec": {
    "group": "bench.frugal.dev",
    "scope": "Namespaced",
    "names": {"plural": "trainingruns", "singular": "trainingrun", "kind": "TrainingRun",
              "listKind": "TrainingRunList"},
    "versions": [{
      "name": "v1", "served": true, "storage": true,
      "schema": {"openAPIV3Schema": {
        "type": "object",
        "properties": {
          "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
          "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}
    }]
  }
})";

kube::ResourceRef resource_ref() {
  return kube::ResourceRef{kGroup, kVersion, kPlural, kKind, true};
}

// Bytes of each part of one object as serialized (the parts the transform drops first).
struct Breakdown {
  double managed_fields = 0, last_applied = 0, spec = 0, status = 0, metadata = 0, total = 0;
  void add(const json& obj) {
    const json& meta = obj.at("metadata");
    total += static_cast<double>(obj.dump().size());
    metadata += static_cast<double>(meta.dump().size());
    if (auto mf = meta.find("managedFields"); mf != meta.end()) {
      managed_fields += static_cast<double>(mf->dump().size());
    }
    if (auto a = meta.find("annotations"); a != meta.end()) {
      if (auto la = a->find(kLastApplied); la != a->end()) {
        last_applied += static_cast<double>(la->dump().size());
      }
    }
    if (auto s = obj.find("spec"); s != obj.end()) spec += static_cast<double>(s->dump().size());
    if (auto s = obj.find("status"); s != obj.end())
      status += static_cast<double>(s->dump().size());
  }
  json mean(size_t n) const {
    const double d = static_cast<double>(std::max<size_t>(n, 1));
    return {{"managed_fields", managed_fields / d},
            {"last_applied", last_applied / d},
            {"spec", spec / d},
            {"status", status / d},
            {"metadata", metadata / d},
            {"total", total / d}};
  }
};

// ------------------------------------------------------------------ line I/O between processes

bool write_line(int fd, const std::string& line) {
  std::string s = line + "\n";
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

// Reads one '\n'-terminated line; nullopt at end of file.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  std::optional<std::string> next() {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      char chunk[4096];
      ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buf_;
};

// ------------------------------------------------------------------ the server child

// Runs in the forked child: kubesim on an ephemeral port, the objects created
// in-process, then commands from the parent, one a line:
//   update M R -> sets spec.replicas to R on objects 0..M-1, then
//                 answers "updated <first write start ns> <last write end ns> <errors>"
//   quit       -> stops the server and exits
// The first line it sends is
//   ready <port> <objects> <setup seconds> <breakdown json> | error <message>
[[noreturn]] void server_child(const Options& o, int ctl_fd, int rep_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  pthread_setname_np(pthread_self(), "ks-server");
  auto fail = [&](const std::string& what) {
    write_line(rep_fd, "error " + what);
    _exit(1);
  };
  kubesim::ApiServerOptions api_opts;
  // The backlog phase watches from before M updates: they must all still be
  // in the server's history.
  api_opts.history_limit = std::max(kubesim::Store::kDefaultHistoryLimit, 2 * o.updates + 1000);
  kubesim::ApiServer api(api_opts);
  kubesim::HttpServerOptions http_opts;
  http_opts.threads = o.server_threads;
  kubesim::HttpServer server(http_opts, [&](const kubesim::Request& r) { return api.handle(r); });
  if (auto started = server.start(); !started) fail("server: " + started.error().message);

  const auto setup_start = Steady::now();
  if (auto r = api.create("apiextensions.k8s.io", "v1", "customresourcedefinitions", "",
                          json::parse(kCrd));
      !r) {
    fail("CRD: " + r.error().message);
  }
  for (size_t n = 0; n < o.namespaces; ++n) {
    auto r = api.create(
        "", "v1", "namespaces", "",
        {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_name(n)}}}});
    if (!r) fail("namespace: " + r.error().message);
  }
  // Create without status, then update with the status and managedFields,
  // as kubectl then a controller would: kubesim, like the real server, drops
  // client-sent managedFields on create and ignores an update that changes
  // only them, but keeps them on an update that changes something else.
  std::atomic<size_t> next{0};
  std::atomic<size_t> errors{0};
  std::mutex breakdown_mu;
  Breakdown breakdown;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      Breakdown local;
      for (size_t i = next++; i < o.objects; i = next++) {
        const std::string ns = ns_name(i % o.namespaces);
        json want = training_run(i, ns, 4);
        json managed = std::move(want["metadata"]["managedFields"]);
        json status = std::move(want["status"]);
        want["metadata"].erase("managedFields");
        want.erase("status");
        auto created = api.create(kGroup, kVersion, kPlural, ns, std::move(want));
        if (!created) {
          ++errors;
          continue;
        }
        (*created)["metadata"]["managedFields"] = std::move(managed);
        (*created)["status"] = std::move(status);
        auto updated = api.update(kGroup, kVersion, kPlural, ns, std::move(*created));
        if (!updated) {
          ++errors;
          continue;
        }
        local.add(*updated);
      }
      std::lock_guard lock(breakdown_mu);
      breakdown.managed_fields += local.managed_fields;
      breakdown.last_applied += local.last_applied;
      breakdown.spec += local.spec;
      breakdown.status += local.status;
      breakdown.metadata += local.metadata;
      breakdown.total += local.total;
    });
  }
  for (auto& t : threads) t.join();
  threads.clear();
  if (errors > 0) fail(std::to_string(errors.load()) + " creates or updates failed");
  const double setup = seconds(Steady::now() - setup_start);
  write_line(rep_fd, "ready " + std::to_string(server.port()) + " " + std::to_string(o.objects) +
                         " " + std::to_string(setup) + " " + breakdown.mean(o.objects).dump());

  LineReader commands(ctl_fd);
  while (auto line = commands.next()) {
    std::istringstream in(*line);
    std::string cmd;
    in >> cmd;
    if (cmd == "update") {
      size_t m = 0;
      int replicas = 0;
      in >> m >> replicas;
      std::atomic<size_t> next_update{0};
      std::atomic<size_t> update_errors{0};
      const int64_t start = steady_ns();
      for (int t = 0; t < o.writers; ++t) {
        threads.emplace_back([&] {
          for (size_t i = next_update++; i < m; i = next_update++) {
            const std::string ns = ns_name(i % o.namespaces);
            auto cur = api.get(kGroup, kVersion, kPlural, ns, object_name(i));
            if (!cur) {
              ++update_errors;
              continue;
            }
            (*cur)["spec"]["replicas"] = replicas;
            if (!api.update(kGroup, kVersion, kPlural, ns, std::move(*cur))) ++update_errors;
          }
        });
      }
      for (auto& t : threads) t.join();
      threads.clear();
      const int64_t end = steady_ns();
      write_line(rep_fd, "updated " + std::to_string(start) + " " + std::to_string(end) + " " +
                             std::to_string(update_errors.load()));
    } else if (cmd == "quit") {
      break;
    }
  }
  server.stop();
  _exit(0);
}

struct ServerChild {
  pid_t pid = -1;
  int ctl = -1;  // commands to the child
  std::unique_ptr<LineReader> replies;
  uint16_t port = 0;
  double setup_seconds = 0;
  json breakdown;  // mean bytes per object part, as served

  std::optional<std::string> reply() { return replies->next(); }
  void quit() {
    if (pid <= 0) return;
    write_line(ctl, "quit");
    ::close(ctl);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
  }
};

// Forks the server child. Must run before this process starts any thread.
std::optional<ServerChild> start_server(const Options& o, std::string& error) {
  int ctl[2], rep[2];
  if (pipe2(ctl, O_CLOEXEC) != 0 || pipe2(rep, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::cout.flush();
  std::cerr.flush();
  const pid_t pid = fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    return std::nullopt;
  }
  if (pid == 0) {
    ::close(ctl[1]);
    ::close(rep[0]);
    server_child(o, ctl[0], rep[1]);
  }
  ::close(ctl[0]);
  ::close(rep[1]);
  ServerChild child;
  child.pid = pid;
  child.ctl = ctl[1];
  child.replies = std::make_unique<LineReader>(rep[0]);
  auto line = child.reply();
  if (!line || line->rfind("ready ", 0) != 0) {
    error = "server child: " + line.value_or("exited");
    return std::nullopt;
  }
  std::istringstream in(line->substr(6));
  size_t objects = 0;
  in >> child.port >> objects >> child.setup_seconds;
  std::string rest;
  std::getline(in, rest);
  child.breakdown = json::parse(rest);
  return child;
}

// ------------------------------------------------------------------ informer plumbing

// Counts informer errors and watch restarts: any during a timed phase is reported.
class CountingObserver : public kube::InformerObserver {
 public:
  void on_watch_restart(const std::string&, const std::string& reason) override {
    std::lock_guard lock(mu_);
    restarts_.push_back(reason);
  }
  void on_error(const std::string&, const std::string& verb, const kube::Error& e) override {
    std::lock_guard lock(mu_);
    errors_.push_back(verb + ": " + e.to_string());
  }
  std::string summary() const {
    std::lock_guard lock(mu_);
    if (restarts_.empty() && errors_.empty()) return "";
    std::string s = std::to_string(restarts_.size()) + " watch restarts, " +
                    std::to_string(errors_.size()) + " errors";
    if (!errors_.empty()) s += " (first: " + errors_.front() + ")";
    return s;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> restarts_;
  std::vector<std::string> errors_;
};

// A REST client for the bench: no client-side rate limit (qps <= 0), so the
// informer, not the limiter, is what is measured.
kube::RestConfig bench_rest_config(const std::string& url) {
  kube::RestConfig c;
  c.server = url;
  c.qps = -1;
  c.user_agent = "controller-bench";
  return c;
}

// ------------------------------------------------------------------ memory: the child's side

// Heap growth per object over kParseSamples results of `make`, all held at once.
template <class Make>
double heap_per_sample(Make make) {
  std::vector<decltype(make())> held;
  held.reserve(kParseSamples);
  const size_t before = heap_in_use();
  for (size_t i = 0; i < kParseSamples; ++i) held.push_back(make());
  return static_cast<double>(heap_in_use() - before) / static_cast<double>(kParseSamples);
}

// --role=cache: one informer over every object; prints one line
// "cache-result <json>" with the RSS and heap figures.
int cache_child(const Options& o) {
  kube::Client client(bench_rest_config(o.url));
  auto lw = kube::make_client_lister_watcher(client, resource_ref(), "");
  // Load the client's code and open its connection before the baseline.
  if (auto warm = lw->list(kube::ListOptions{.limit = 1}); !warm) {
    std::cerr << "cache child: warm-up list: " << warm.error().to_string() << "\n";
    return 1;
  }
  CountingObserver observer;
  kube::InformerOptions io;
  io.name = kPlural;
  io.observer = &observer;
  if (!o.transform) io.transform = nullptr;
  kube::Informer informer(*lw, io);

  const size_t rss0 = rss_bytes();
  const size_t heap0 = heap_in_use();
  const auto start = Steady::now();
  informer.start();
  if (!informer.wait_for_sync(Steady::now() + kSyncTimeout)) {
    std::cerr << "cache child: informer did not sync: " << observer.summary() << "\n";
    return 1;
  }
  const double sync_seconds = seconds(Steady::now() - start);
  const size_t rss1 = rss_bytes();
  const size_t heap1 = heap_in_use();
  malloc_trim(0);
  const size_t rss2 = rss_bytes();
  const size_t cached = informer.store().size();

  // What is cached, serialized again.
  Breakdown stored;
  for (const kube::ObjectPtr& obj : informer.store().list()) stored.add(*obj);

  // The in-memory size of one object held in different forms, from the heap
  // growth of kParseSamples copies: the share of the per-object figure that
  // is the representation itself, and what other representations would take.
  json result;
  if (o.transform) {
    auto one = client.get(resource_ref(), ns_name(0), object_name(0));
    if (!one) {
      std::cerr << "cache child: get: " << one.error().to_string() << "\n";
      return 1;
    }
    const std::string text = one->dump();
    json stripped = *one;
    kube::strip_unused_fields(stripped);
    const std::string stripped_text = stripped.dump();
    {
      std::vector<json> parsed;
      parsed.reserve(kParseSamples);
      const size_t h0 = heap_in_use();
      for (size_t i = 0; i < kParseSamples; ++i) parsed.push_back(json::parse(text));
      const size_t h1 = heap_in_use();
      for (json& p : parsed) kube::strip_unused_fields(p);
      const size_t h2 = heap_in_use();
      result["parsed_whole"] = static_cast<double>(h1 - h0) / static_cast<double>(kParseSamples);
      result["parsed_stripped"] = static_cast<double>(h2 - h0) / static_cast<double>(kParseSamples);
    }
    result["parsed_text"] = text.size();
    result["stripped_text"] = stripped_text.size();
    result["as_ordered_json"] =
        heap_per_sample([&] { return nlohmann::ordered_json::parse(stripped_text); });
    result["as_string"] =
        heap_per_sample([&] { return std::make_shared<const std::string>(stripped_text); });
    // What a cold read costs: get() of objects outside the hot set, each
    // decoded from its CBOR (the store's hot set holds the last ones synced,
    // so read from the other end of the key list).
    const std::vector<std::string> keys = informer.store().keys();
    const size_t cold = std::min(kParseSamples, keys.size());
    const auto get_start = Steady::now();
    size_t members = 0;
    for (size_t i = 0; i < cold; ++i) members += informer.store().get(keys[i])->size();
    result["cold_get_us"] = seconds(Steady::now() - get_start) * 1e6 / static_cast<double>(cold);
    if (members == 0) return 1;  // keeps the reads from being optimised away
  }
  result["packed_bytes"] = informer.store().packed_bytes();
  informer.stop();

  result["objects"] = cached;
  result["sync_seconds"] = sync_seconds;
  result["rss_before"] = rss0;
  result["rss_synced"] = rss1;
  result["rss_trimmed"] = rss2;
  result["heap_before"] = heap0;
  result["heap_synced"] = heap1;
  result["stored"] = stored.mean(cached);
  result["problems"] = observer.summary();
  std::cout << "cache-result " << result.dump() << std::endl;
  return cached == o.objects ? 0 : 1;
}

// ------------------------------------------------------------------ memory: the parent's side

// Runs this binary again as --role=cache and returns its result.
std::optional<json> run_cache_child(const Options& o, uint16_t port, bool transform,
                                    std::string& error) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::vector<std::string> args = {"/proc/self/exe",
                                   "--role=cache",
                                   "--url=http://127.0.0.1:" + std::to_string(port),
                                   std::string("--transform=") + (transform ? "1" : "0"),
                                   "--objects=" + std::to_string(o.objects),
                                   "--namespaces=" + std::to_string(o.namespaces)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    error = std::string("posix_spawn: ") + std::strerror(rc);
    return std::nullopt;
  }
  LineReader lines(out[0]);
  std::optional<json> result;
  while (auto line = lines.next()) {
    if (line->rfind("cache-result ", 0) == 0) result = json::parse(line->substr(13));
  }
  ::close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !result) {
    error = "cache child (transform " + std::string(transform ? "on" : "off") +
            ") failed, status " + std::to_string(status);
    return std::nullopt;
  }
  return result;
}

// ------------------------------------------------------------------ events/s

// Counts on_update calls and stamps the target-th, for a waiting thread.
class UpdateCounter {
 public:
  explicit UpdateCounter(size_t target) : target_(target) {}
  void on_update() {
    const size_t n = ++count_;
    if (n == 1) first_cpu_ = thread_cpu_seconds();
    if (n == target_) {
      last_ns_ = steady_ns();
      last_cpu_ = thread_cpu_seconds();
      std::lock_guard lock(mu_);
      done_ = true;
      cv_.notify_all();
    }
  }
  bool wait(std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done_; });
  }
  size_t count() const { return count_; }
  int64_t last_ns() const { return last_ns_; }
  // CPU of the informer thread between the first and the last update it handled.
  double informer_cpu() const { return last_cpu_ - first_cpu_; }

 private:
  const size_t target_;
  std::atomic<size_t> count_{0};
  double first_cpu_ = 0, last_cpu_ = 0;
  int64_t last_ns_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

// Holds the informer's first watch until open(): the informer lists, the
// server applies the updates meanwhile, and the watch then starts from the
// list's resourceVersion and receives them all at once from the server's
// history. What is timed is then the informer (with HTTP and parsing), not
// how fast the server can write.
class GatedListerWatcher final : public kube::ListerWatcher {
 public:
  explicit GatedListerWatcher(kube::ListerWatcher& inner) : inner_(inner) {}
  kube::Result<json> list(const kube::ListOptions& opts) override { return inner_.list(opts); }
  kube::Result<void> watch(const kube::ListOptions& opts, const kube::WatchEventFn& on_event,
                           const std::atomic<bool>& stop) override {
    {
      std::unique_lock lock(mu_);
      while (!open_ && !stop) cv_.wait_for(lock, kPollInterval);
      if (stop) return {};
    }
    return inner_.watch(opts, on_event, stop);
  }
  // Returns when it opened (steady_ns()).
  int64_t open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
    return steady_ns();
  }

 private:
  kube::ListerWatcher& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

struct EventsResult {
  bool ok = false;
  std::string error;
  double sync_seconds = 0;
  double rate = 0;        // events the handler saw per second
  double write_rate = 0;  // end-to-end only: updates the server applied per second
  double lag_after_writes = 0;
  double informer_cpu_per_event = 0;
  double server_cpu = 0;
  double wall = 0;
  std::string problems;
};

// Informer over HTTP against the server child, which applies the updates:
// live (`backlog` false: while the informer watches, so the rate is at most
// the server's write rate) or before the informer's watch starts (`backlog`:
// the events arrive as fast as the server streams its history).
EventsResult events_end_to_end(const Options& o, ServerChild& server, bool backlog, int replicas) {
  EventsResult r;
  kube::Client client(bench_rest_config("http://127.0.0.1:" + std::to_string(server.port)));
  auto lw = kube::make_client_lister_watcher(client, resource_ref(), "");
  GatedListerWatcher gated(*lw);
  CountingObserver observer;
  kube::InformerOptions io;
  io.name = kPlural;
  io.observer = &observer;
  kube::Informer informer(backlog ? static_cast<kube::ListerWatcher&>(gated) : *lw, io);
  if (!backlog) gated.open();
  UpdateCounter counter(o.updates);
  informer.add_handler(
      {nullptr, [&](const kube::ObjectPtr&, const kube::ObjectPtr&) { counter.on_update(); },
       nullptr});
  const auto start = Steady::now();
  informer.start();
  if (!informer.wait_for_sync(Steady::now() + kSyncTimeout)) {
    r.error = "end-to-end informer did not sync: " + observer.summary();
    return r;
  }
  r.sync_seconds = seconds(Steady::now() - start);
  progress("Informer synced " + count(informer.store().size()) + " objects; server applies " +
           count(o.updates) + " updates");
  const double server_cpu0 = other_process_cpu_seconds(server.pid);
  write_line(server.ctl, "update " + std::to_string(o.updates) + " " + std::to_string(replicas));
  auto reply = server.reply();
  if (!reply || reply->rfind("updated ", 0) != 0) {
    r.error = "server child: " + reply.value_or("exited");
    return r;
  }
  int64_t write_start = 0, write_end = 0;
  size_t write_errors = 0;
  std::istringstream(reply->substr(8)) >> write_start >> write_end >> write_errors;
  if (write_errors > 0) {
    r.error = std::to_string(write_errors) + " server-side updates failed";
    return r;
  }
  const double write_cpu = other_process_cpu_seconds(server.pid) - server_cpu0;
  const int64_t timed_from = backlog ? gated.open() : write_start;
  if (!counter.wait(kPhaseTimeout)) {
    r.error = "the informer saw " + count(counter.count()) + " of " + count(o.updates) +
              " updates: " + observer.summary();
    return r;
  }
  r.server_cpu = other_process_cpu_seconds(server.pid) - server_cpu0 - (backlog ? write_cpu : 0);
  r.wall = static_cast<double>(counter.last_ns() - timed_from) / 1e9;
  r.rate = static_cast<double>(o.updates) / r.wall;
  r.write_rate =
      static_cast<double>(o.updates) / (static_cast<double>(write_end - write_start) / 1e9);
  r.lag_after_writes = static_cast<double>(counter.last_ns() - write_end) / 1e9;
  r.informer_cpu_per_event = counter.informer_cpu() / static_cast<double>(o.updates - 1);
  r.problems = observer.summary();
  informer.stop();
  r.ok = true;
  return r;
}

// Lists a prepared list once, then feeds prepared watch events as fast as the
// informer takes them: the informer alone, no network and no JSON parsing.
class ScriptedListerWatcher final : public kube::ListerWatcher {
 public:
  ScriptedListerWatcher(json list, std::vector<kube::WatchEvent> events)
      : list_(std::move(list)), events_(std::move(events)) {}

  kube::Result<json> list(const kube::ListOptions&) override {
    std::lock_guard lock(mu_);
    if (listed_) {  // a relist (not expected): the same resourceVersion, nothing new
      return json{
          {"kind", "TrainingRunList"}, {"metadata", list_metadata_}, {"items", json::array()}};
    }
    listed_ = true;
    list_metadata_ = list_["metadata"];
    return std::move(list_);
  }

  kube::Result<void> watch(const kube::ListOptions&, const kube::WatchEventFn& on_event,
                           const std::atomic<bool>& stop) override {
    {
      std::unique_lock lock(mu_);
      while (!go_ && !stop) cv_.wait_for(lock, kPollInterval);
      if (fed_ || stop) return wait_for_stop(lock, stop);
      fed_ = true;
      started_ns_ = steady_ns();
    }
    for (kube::WatchEvent& ev : events_) {
      if (!on_event(std::move(ev))) return {};
    }
    std::unique_lock lock(mu_);
    return wait_for_stop(lock, stop);
  }

  void go() {
    std::lock_guard lock(mu_);
    go_ = true;
    cv_.notify_all();
  }
  int64_t started_ns() {
    std::lock_guard lock(mu_);
    return started_ns_;
  }

 private:
  // A watch that stays open without events, as a quiet server's would.
  kube::Result<void> wait_for_stop(std::unique_lock<std::mutex>& lock,
                                   const std::atomic<bool>& stop) {
    while (!stop) cv_.wait_for(lock, kPollInterval);
    return {};
  }

  std::mutex mu_;
  std::condition_variable cv_;
  json list_;
  json list_metadata_;
  std::vector<kube::WatchEvent> events_;
  bool listed_ = false, go_ = false, fed_ = false;
  int64_t started_ns_ = 0;
};

// Stamps an object with what the server would have set.
json as_served(json obj, size_t i, uint64_t rv) {
  json& meta = obj["metadata"];
  meta["uid"] = "00000000-0000-4000-8000-" + std::to_string(100000000000 + i);
  meta["resourceVersion"] = std::to_string(rv);
  meta["generation"] = 1;
  meta["creationTimestamp"] = "2026-11-22T14:10:00Z";
  return obj;
}

EventsResult events_informer_only(const Options& o, bool transform) {
  EventsResult r;
  const size_t n = o.updates;
  json list = {{"apiVersion", std::string(kGroup) + "/" + kVersion},
               {"kind", "TrainingRunList"},
               {"metadata", {{"resourceVersion", std::to_string(n + 1)}}},
               {"items", json::array()}};
  std::vector<kube::WatchEvent> events;
  events.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string ns = ns_name(i % o.namespaces);
    list["items"].push_back(as_served(training_run(i, ns, 4), i, i + 1));
    events.push_back({"MODIFIED", as_served(training_run(i, ns, 5), i, n + 2 + i)});
  }
  ScriptedListerWatcher lw(std::move(list), std::move(events));
  CountingObserver observer;
  kube::InformerOptions io;
  io.name = kPlural;
  io.observer = &observer;
  io.page_size = 0;
  if (!transform) io.transform = nullptr;
  kube::Informer informer(lw, io);
  UpdateCounter counter(n);
  informer.add_handler(
      {nullptr, [&](const kube::ObjectPtr&, const kube::ObjectPtr&) { counter.on_update(); },
       nullptr});
  informer.start();
  if (!informer.wait_for_sync(Steady::now() + kSyncTimeout)) {
    r.error = "scripted informer did not sync: " + observer.summary();
    return r;
  }
  lw.go();
  if (!counter.wait(kPhaseTimeout)) {
    r.error = "the scripted informer handled " + count(counter.count()) + " of " + count(n) +
              " events: " + observer.summary();
    return r;
  }
  r.wall = static_cast<double>(counter.last_ns() - lw.started_ns()) / 1e9;
  r.rate = static_cast<double>(n) / r.wall;
  r.informer_cpu_per_event = counter.informer_cpu() / static_cast<double>(n - 1);
  r.problems = observer.summary();
  informer.stop();
  r.ok = true;
  return r;
}

// ------------------------------------------------------------------ reconciles/s

// Returns at once; counts, and stamps the moment the count reaches `target`.
class NoopReconciler final : public kube::Reconciler {
 public:
  explicit NoopReconciler(size_t target) : target_(target) {}
  kube::ReconcileOutcome reconcile(const kube::Key&) override {
    if (++count_ == target_) {
      done_at_ = Steady::now();
      std::lock_guard lock(mu_);
      done_ = true;
      cv_.notify_all();
    }
    return kube::ReconcileResult::done();
  }
  bool wait(std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done_; });
  }
  size_t count() const { return count_; }
  Steady::time_point done_at() const { return done_at_; }

 private:
  const size_t target_;
  std::atomic<size_t> count_{0};
  Steady::time_point done_at_{};
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

struct ReconcileFigures {
  bool ok = false;
  std::string error;
  double enqueue_rate = 0;  // distinct: adds/s before the workers start
  double rate = 0;          // reconciles/s
  double adds_rate = 0;     // dedup: adds/s while the workers run
  size_t reconciles = 0;
  size_t adds = 0;
  double wall = 0;
  double cpu_share = 0;  // process CPU / (wall * CPUs)
};

std::vector<kube::Key> make_keys(size_t n, size_t namespaces) {
  std::vector<kube::Key> keys;
  keys.reserve(n);
  for (size_t i = 0; i < n; ++i) keys.push_back({ns_name(i % namespaces), object_name(i)});
  return keys;
}

double cpu_share(double cpu, double wall) {
  return cpu / std::max(wall, 1e-9) / std::max(1u, std::thread::hardware_concurrency());
}

// N distinct keys enqueued before the workers start; time until each is reconciled once.
ReconcileFigures reconcile_distinct(const std::vector<kube::Key>& keys, int concurrency) {
  ReconcileFigures r;
  NoopReconciler noop(keys.size());
  kube::ControllerOptions co;
  co.name = "bench";
  co.concurrency = concurrency;
  kube::ControllerLoop loop(noop, std::move(co));
  const auto enqueue_start = Steady::now();
  for (const kube::Key& k : keys) loop.enqueue(k);
  r.enqueue_rate = static_cast<double>(keys.size()) / seconds(Steady::now() - enqueue_start);
  const double cpu0 = process_cpu_seconds();
  const auto start = Steady::now();
  loop.start();
  if (!noop.wait(kPhaseTimeout)) {
    r.error = "reconciled " + count(noop.count()) + " of " + count(keys.size()) + " keys";
    return r;
  }
  r.wall = seconds(noop.done_at() - start);
  r.cpu_share = cpu_share(process_cpu_seconds() - cpu0, r.wall);
  loop.stop();
  r.reconciles = noop.count();
  if (r.reconciles != keys.size()) {
    r.error = count(r.reconciles) + " reconciles for " + count(keys.size()) + " distinct keys";
    return r;
  }
  r.rate = static_cast<double>(keys.size()) / r.wall;
  r.ok = true;
  return r;
}

// One producer re-adds `keys` round-robin for `window` while the workers
// run: the reconcile rate under a steady stream of duplicate adds. Counted
// over the window; stop() then drains what is left.
ReconcileFigures reconcile_dedup(const std::vector<kube::Key>& keys,
                                 std::chrono::milliseconds window, int concurrency) {
  // Adds between two looks at the clock.
  constexpr size_t kAddsPerCheck = 1000;
  ReconcileFigures r;
  NoopReconciler noop(0);  // no target: count only
  kube::ControllerOptions co;
  co.name = "bench";
  co.concurrency = concurrency;
  kube::ControllerLoop loop(noop, std::move(co));
  const double cpu0 = process_cpu_seconds();
  const auto start = Steady::now();
  loop.start();
  size_t adds = 0;
  auto now = start;
  while (now - start < window) {
    for (size_t i = 0; i < kAddsPerCheck; ++i, ++adds) loop.enqueue(keys[adds % keys.size()]);
    now = Steady::now();
  }
  const size_t in_window = noop.count();
  r.wall = seconds(now - start);
  r.cpu_share = cpu_share(process_cpu_seconds() - cpu0, r.wall);
  loop.stop();  // shut_down_with_drain: every key already queued is still handed out
  r.reconciles = in_window;
  r.adds = adds;
  r.adds_rate = static_cast<double>(adds) / r.wall;
  r.rate = static_cast<double>(in_window) / r.wall;
  if (noop.count() < std::min(adds, keys.size()) || noop.count() > adds) {
    r.error = count(noop.count()) + " reconciles for " + count(adds) + " adds of " +
              count(keys.size()) + " keys";
    return r;
  }
  r.ok = true;
  return r;
}

// Runs `run` `times` times; the run with the median rate, and the range of rates.
struct Repeated {
  ReconcileFigures median;
  double min_rate = 0, max_rate = 0;
  std::string error;
};
Repeated repeat(size_t times, const std::function<ReconcileFigures()>& run) {
  std::vector<ReconcileFigures> all;
  Repeated out;
  for (size_t i = 0; i < times; ++i) {
    all.push_back(run());
    if (!all.back().ok) {
      out.error = all.back().error;
      out.median = all.back();
      return out;
    }
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.rate < b.rate; });
  out.median = all[all.size() / 2];
  out.min_rate = all.front().rate;
  out.max_rate = all.back().rate;
  return out;
}

// ------------------------------------------------------------------ the run

int orchestrate(const Options& o) {
  const std::string machine = machine_line();
  const std::string load_start = load_average();
  std::vector<std::string> failures;

  auto wanted = [&](const char* phase) {
    return ("," + o.only + ",").find("," + std::string(phase) + ",") != std::string::npos;
  };
  const bool do_memory = wanted("memory"), do_events = wanted("events"),
             do_reconciles = wanted("reconciles");

  std::string error;
  std::optional<ServerChild> server;
  if (do_memory || do_events) {
    progress("Starting kubesim in a child process; it creates " + count(o.objects) + " objects");
    server = start_server(o, error);
    if (!server) {
      std::cerr << "controller_bench: " << error << "\n";
      return 1;
    }
    progress("Server ready on port " + std::to_string(server->port));
  }

  // 1. Memory per cached object, each in a fresh process.
  std::optional<json> with, without;
  if (do_memory) {
    progress("Memory: informer with the transform (fresh process)");
    with = run_cache_child(o, server->port, true, error);
    if (!with) failures.push_back(error);
    progress("Memory: informer without the transform (fresh process)");
    without = run_cache_child(o, server->port, false, error);
    if (!without) failures.push_back(error);
  }

  // 2. Events/s.
  EventsResult e2e, backlog, alone, alone_raw;
  if (do_events) {
    progress("Events: informer over HTTP, " + count(o.updates) + " live updates");
    e2e = events_end_to_end(o, *server, false, 5);
    if (!e2e.ok) failures.push_back(e2e.error);
    progress("Events: informer over HTTP, " + count(o.updates) + " updates as a backlog");
    backlog = events_end_to_end(o, *server, true, 6);
    if (!backlog.ok) failures.push_back(backlog.error);
  }
  if (server) server->quit();
  if (do_events) {
    progress("Events: informer alone, scripted events");
    alone = events_informer_only(o, true);
    if (!alone.ok) failures.push_back(alone.error);
    alone_raw = events_informer_only(o, false);
    if (!alone_raw.ok) failures.push_back(alone_raw.error);
  }

  // 3. Reconciles/s.
  Repeated d1, d2, h1, h2;
  if (do_reconciles) {
    progress("Reconciles: " + count(o.keys) + " distinct keys");
    const std::vector<kube::Key> keys = make_keys(o.keys, o.namespaces);
    d1 = repeat(o.runs, [&] { return reconcile_distinct(keys, 1); });
    d2 = repeat(o.runs, [&] { return reconcile_distinct(keys, 2); });
    progress("Reconciles: " + count(o.dedup_keys) + " keys re-added for " + count(o.dedup_ms) +
             " ms");
    const std::vector<kube::Key> hot = make_keys(o.dedup_keys, o.namespaces);
    const std::chrono::milliseconds window(o.dedup_ms);
    h1 = repeat(o.runs, [&] { return reconcile_dedup(hot, window, 1); });
    h2 = repeat(o.runs, [&] { return reconcile_dedup(hot, window, 2); });
    for (const auto* r : {&d1, &d2, &h1, &h2}) {
      if (!r->error.empty()) failures.push_back(r->error);
    }
  }
  const std::string load_end = load_average();

  // ---------------------------------------------------------------- report
  std::ostream& os = std::cout;
  os << "# Controller runtime benchmark\n\n";
  os << "| | |\n|---|---|\n";
  os << "| commit | " << o.commit << " |\n";
  os << "| machine | " << machine << "; 1-minute load average " << load_start << " at start, "
     << load_end << " at end |\n";
  if (server) {
    os << "| server | kubesim (ApiServer + HttpServer, plain HTTP on 127.0.0.1, "
       << o.server_threads
       << " io threads) in a forked child process; objects created in-process in "
       << fmt("%.1f s", server->setup_seconds) << " |\n";
  }
  os << "| objects | " << count(o.objects) << " TrainingRuns (CRD) in " << o.namespaces
     << " namespaces, each with kubectl's last-applied annotation and two managedFields entries "
        "|\n";
  os << "| client | frugal::kube::Client (libcurl), client-side rate limit off; informer pages "
        "lists by "
     << kube::kDefaultListPageSize << " |\n";
  if (!o.ignored.empty()) {
    os << "| ignored arguments |";
    for (const auto& a : o.ignored) os << " `" << a << "`";
    os << " |\n";
  }
  os << "\n";

  Table t;
  const json served = server ? server->breakdown : json::object();
  const double served_total = served.value("total", 0.0);
  if (server)
    t.row("Object as served (JSON)", bytes(served_total),
          fmt("managedFields %.0f B", served.value("managed_fields", 0.0)) +
              fmt(", last-applied annotation %.0f B", served.value("last_applied", 0.0)) +
              fmt(", spec %.0f B", served.value("spec", 0.0)) +
              fmt(", status %.0f B", served.value("status", 0.0)) +
              fmt(", metadata in all %.0f B", served.value("metadata", 0.0)));
  auto per_object = [&](const json& m, const char* after) {
    return (m.value(after, 0.0) - m.value("rss_before", 0.0)) /
           static_cast<double>(std::max<size_t>(m.value("objects", size_t{0}), 1));
  };
  auto heap_per_object = [&](const json& m) {
    return (m.value("heap_synced", 0.0) - m.value("heap_before", 0.0)) /
           static_cast<double>(std::max<size_t>(m.value("objects", size_t{0}), 1));
  };
  if (with && without) {
    const double w = per_object(*with, "rss_synced"), wo = per_object(*without, "rss_synced");
    const double cached_json = (*with)["stored"].value("total", 0.0);
    t.row("Object as cached, with the transform (re-serialized)", bytes(cached_json),
          fmt("%.2f× as served", cached_json / served_total));
    t.row("RSS per cached object, with the transform", bytes(w),
          fmt("%.2f× its served JSON, ", w / served_total) +
              fmt("%.2f× its cached JSON; ", w / cached_json) +
              "target < 3 KiB (3,072 B): " + met(w < kTargetBytesPerObject));
    t.row("RSS per cached object, without the transform", bytes(wo),
          fmt("%.2f× its served JSON; ", wo / served_total) +
              fmt("the transform saves %.0f%%", (1 - w / wo) * 100));
    const double hw = heap_per_object(*with), hwo = heap_per_object(*without);
    t.row("Heap in use per cached object (mallinfo2), with / without",
          bytes(hw) + " / " + bytes(hwo),
          fmt("RSS − heap = %.0f B", w - hw) +
              fmt(" / %.0f B per object of allocator slack", wo - hwo));
    t.row("RSS per cached object after malloc_trim(0), with / without",
          bytes(per_object(*with, "rss_trimmed")) + " / " +
              bytes(per_object(*without, "rss_trimmed")),
          "what the process could give back");
    t.row("One object parsed into nlohmann::json, whole / stripped",
          bytes(with->value("parsed_whole", 0.0)) + " / " +
              bytes(with->value("parsed_stripped", 0.0)),
          fmt("%.2f× / ", with->value("parsed_whole", 0.0) / with->value("parsed_text", 1.0)) +
              fmt("%.2f× the served JSON; heap growth over ",
                  with->value("parsed_stripped", 0.0) / with->value("parsed_text", 1.0)) +
              count(kParseSamples) + " parses");
    const double stripped_dom = with->value("parsed_stripped", 0.0);
    const double as_ordered = with->value("as_ordered_json", 0.0);
    const double as_string = with->value("as_string", 0.0);
    const double packed = with->value("packed_bytes", 0.0) / std::max(1.0, with->value("objects", 1.0));
    t.row("The stripped object as the store holds it (CBOR), and held instead as nlohmann::json / "
          "ordered_json / JSON text",
          bytes(packed) + " / " + bytes(stripped_dom) + " / " + bytes(as_ordered) + " / " +
              bytes(as_string),
          fmt("for %.0f B of JSON; ", with->value("stripped_text", 0.0)) +
              fmt("keys, indexes and the hot set of 1,024 decoded objects add %.0f B per object "
                  "(heap per cached object minus the CBOR); ",
                  hw - packed) +
              fmt("a cold read (get() outside the hot set, decoding the CBOR) costs %.1f µs",
                  with->value("cold_get_us", 0.0)));
    t.row(
        "Informer sync (list " + count(o.objects) + " objects), with / without",
        fmt("%.1f s", with->value("sync_seconds", 0.0)) +
            fmt(" / %.1f s", without->value("sync_seconds", 0.0)),
        fmt("RSS before sync %.1f MiB", with->value("rss_before", 0.0) / 1048576.0) +
            fmt(", after %.1f MiB", with->value("rss_synced", 0.0) / 1048576.0) +
            fmt(" / %.1f MiB", without->value("rss_synced", 0.0) / 1048576.0) +
            (with->value("problems", "").empty() ? "" : "; " + with->value("problems", "")) +
            (without->value("problems", "").empty() ? "" : "; " + without->value("problems", "")));
  }
  if (e2e.ok) {
    t.row("Informer events/s, end to end, live (" + count(o.updates) + " updates over HTTP)",
          per_s(e2e.rate),
          "first server-side write to the handler seeing the last; server applied them at " +
              per_s(e2e.write_rate) + " (" + std::to_string(o.writers) + " writer thread" +
              (o.writers == 1 ? "" : "s") +
              fmt("); last event handled %+.1f ms", e2e.lag_after_writes * 1e3) +
              " after the writers finished" +
              fmt("; informer thread CPU %.1f µs/event", e2e.informer_cpu_per_event * 1e6) +
              fmt("; server process CPU %.2f s", e2e.server_cpu) +
              fmt(" in %.2f s wall", e2e.wall) + (e2e.problems.empty() ? "" : "; " + e2e.problems));
  }
  if (backlog.ok) {
    t.row("Informer events/s, end to end, backlog (" + count(o.updates) +
              " updates applied before the watch starts)",
          per_s(backlog.rate),
          "watch opened to the handler seeing the last; the server streams them from its history" +
              fmt("; informer thread CPU %.1f µs/event", backlog.informer_cpu_per_event * 1e6) +
              fmt("; server process CPU %.2f s", backlog.server_cpu) +
              fmt(" in %.2f s wall", backlog.wall) +
              (e2e.ok ? fmt("; %.2f× the live rate", backlog.rate / e2e.rate) : std::string()) +
              (backlog.problems.empty() ? "" : "; " + backlog.problems));
  }
  if (alone.ok) {
    t.row("Informer events/s, informer alone (scripted ListerWatcher)", per_s(alone.rate),
          "prepared MODIFIED events of the same objects, no network or parsing; " +
              fmt("informer thread CPU %.1f µs/event", alone.informer_cpu_per_event * 1e6) +
              (backlog.ok ? fmt("; %.1f× the end-to-end backlog rate", alone.rate / backlog.rate)
                          : ""));
  }
  if (alone_raw.ok && alone.ok) {
    t.row("Informer events/s, informer alone, no transform", per_s(alone_raw.rate),
          fmt("informer thread CPU %.1f µs/event", alone_raw.informer_cpu_per_event * 1e6) +
              fmt("; with − without the transform: %+.1f µs/event",
                  (alone.informer_cpu_per_event - alone_raw.informer_cpu_per_event) * 1e6));
  }
  const std::string runs = std::to_string(o.runs);
  auto range = [&](const Repeated& r) {
    return "median of " + runs + fmt(" runs (%.0f", r.min_rate) + fmt("–%.0f /s)", r.max_rate);
  };
  if (d1.error.empty()) {
    const ReconcileFigures& m = d1.median;
    t.row("No-op reconciles/s, " + count(o.keys) + " distinct keys, concurrency 1", per_s(m.rate),
          range(d1) + fmt("; %.3f s; ", m.wall) +
              "target > 20,000/s: " + met(m.rate > kTargetReconcilesPerSecond) +
              fmt("; process CPU %.0f%% of all CPUs", m.cpu_share * 100) +
              "; the keys were enqueued first at " + per_s(m.enqueue_rate));
  }
  if (d2.error.empty()) {
    const ReconcileFigures& m = d2.median;
    t.row("No-op reconciles/s, " + count(o.keys) + " distinct keys, concurrency 2", per_s(m.rate),
          range(d2) + fmt("; %.3f s; ", m.wall) +
              (d1.error.empty() ? fmt("**%.2f×** concurrency 1; ", m.rate / d1.median.rate)
                                : std::string()) +
              "target > 20,000/s: " + met(m.rate > kTargetReconcilesPerSecond) +
              fmt("; process CPU %.0f%% of all CPUs", m.cpu_share * 100));
  }
  for (const auto& [r, c] : {std::pair{&h1, 1}, std::pair{&h2, 2}}) {
    if (!r->error.empty()) continue;
    const ReconcileFigures& m = r->median;
    t.row(
        "No-op reconciles/s, " + count(o.dedup_keys) + " keys re-added for " + count(o.dedup_ms) +
            " ms, concurrency " + std::to_string(c),
        per_s(m.rate),
        range(*r) + "; " + count(m.reconciles) + " reconciles for " + count(m.adds) + " adds" +
            fmt(" (%.1f adds per reconcile)",
                static_cast<double>(m.adds) /
                    static_cast<double>(std::max<size_t>(m.reconciles, 1))) +
            "; one producer thread adding at " + per_s(m.adds_rate) +
            (c == 2 && h1.error.empty() ? fmt("; **%.2f×** concurrency 1", m.rate / h1.median.rate)
                                        : std::string()) +
            fmt("; process CPU %.0f%% of all CPUs", m.cpu_share * 100));
  }
  t.print(os);
  if (!failures.empty()) {
    os << "\n**Failures (" << failures.size() << "):**\n\n";
    for (const auto& f : failures) os << "- " << f << "\n";
  }
  return failures.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse_args(argc, argv);
  if (!options) {
    usage();
    return 2;
  }
  if (options->role == "cache") return cache_child(*options);
  // The server child on its own, commands on stdin, for profiling a
  // --role=cache run by hand (heaptrack, massif).
  if (options->role == "server") server_child(*options, STDIN_FILENO, STDOUT_FILENO);
  if (!options->role.empty()) {
    std::cerr << "controller_bench: unknown role " << options->role << "\n";
    return 2;
  }
  return orchestrate(*options);
}
