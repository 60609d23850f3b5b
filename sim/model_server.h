// Simulated model servers. A Ready pod annotated sim.frugal.dev/model-server
// answers real HTTP/1.1 on its podIP (a loopback address, 127.x.y.z) and its
// first container port, so that Frugal's activator and benchmarks (wrk) talk
// to something that behaves like an inference server: a fixed latency per
// request, a concurrency limit with a FIFO queue behind it, keep-alive. A pod
// that is not Ready has no listener, so clients see "connection refused"
// exactly as with a real pod whose process is not up.
//
// One io_context and a small thread pool serve every model server. A server
// is an acceptor plus its sessions, all on one strand, so its queue and
// counters need no lock; the engine's thread only reads a published copy of
// the counters. Sessions follow sim/http_server.cpp: Beast async sessions
// kept alive by shared_from_this, a timeout on every read, header and body
// limits.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "sim/api_error.h"

namespace kubesim {

// Defaults of the pod annotations sim.frugal.dev/model-latency-ms and
// sim.frugal.dev/model-max-concurrency (the shared conventions of kubesim).
inline constexpr int kDefaultModelLatencyMs = 50;
inline constexpr int kDefaultModelMaxConcurrency = 4;
// Requests waiting for a computing slot beyond this many are answered 503.
// Real servers bound their queue too (TorchServe's job_queue_size defaults to
// 100); 1,000 is deep enough that a benchmark sees queueing latency grow long
// before it sees 503s, and small enough to bound memory.
inline constexpr size_t kDefaultModelMaxQueue = 1000;
// Request bodies (a prompt, a batch of inputs) up to this are accepted; a
// larger one is answered 413 and the connection is closed.
inline constexpr size_t kModelMaxBodyBytes = size_t{1} << 20;

// Paths a model server answers itself, without the simulated inference time.
inline constexpr const char* kModelHealthPath = "/healthz";  // readiness probes
inline constexpr const char* kModelStatsPath = "/sim/stats";

struct ModelServerOptions {
  std::string address;  // the pod's IP, an IP literal (127.x.y.z in kubesim)
  uint16_t port = 0;    // the pod's first container port; 0 is rejected
  std::string pod_namespace;
  std::string pod_name;
  int latency_ms = kDefaultModelLatencyMs;            // simulated inference time; >= 0
  int max_concurrency = kDefaultModelMaxConcurrency;  // requests computing at once; >= 1
  size_t max_queue = kDefaultModelMaxQueue;           // requests waiting for a slot
};

// Counters of one server. Each value is exact; together they are a snapshot
// taken under one lock, so in_flight + queued never double-counts a request.
struct ModelServerStats {
  uint64_t requests_total = 0;  // model requests received (not /healthz, /sim/stats), 503s included
  uint64_t rejected_total = 0;  // of those, answered 503 because the queue was full
  int in_flight = 0;            // computing now (waiting on the latency timer)
  int queued = 0;               // waiting for a computing slot
  int max_in_flight_seen = 0;
  std::chrono::system_clock::time_point started_at;
};

class ModelServerPool {
 public:
  // `threads` io threads (at least 1) serve every server of the pool.
  explicit ModelServerPool(int threads = 1);
  // Stops every server (as stop()) and joins the io threads.
  ~ModelServerPool();
  ModelServerPool(const ModelServerPool&) = delete;
  ModelServerPool& operator=(const ModelServerPool&) = delete;

  // Binds options.address:options.port and starts serving under `key` (the
  // pod's uid). Errors are returned: invalid options (400), `key` already
  // running (409), and a failed bind, e.g. address in use (500, the message
  // names address:port). The listener is up when this returns.
  Result<void> start(const std::string& key, ModelServerOptions options);
  // Closes the listener and every connection of that server at once:
  // requests in flight are cut, as when the pod's process is killed. When
  // this returns, connecting is refused and the port may be bound again. An
  // unknown key is a no-op. Call it from outside the pool's io threads (from
  // one of them it cannot wait, so it only schedules the close).
  void stop(const std::string& key);

  std::optional<ModelServerStats> stats(const std::string& key) const;
  bool running(const std::string& key) const;
  size_t size() const;  // servers running

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kubesim
