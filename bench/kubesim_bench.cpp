// kubesim's scale benchmark, answering the issue's questions in one run:
// does it hold 100,000 custom objects, how fast are they created, how long
// does a LIST of 10,000 take, and do 1,000 concurrent watchers keep up.
// Everything goes over real HTTP on loopback to an in-process server, and the
// figures come out as a Markdown table (hack/bench.sh stores it under
// bench/results/). A harness rather than Google Benchmark cases because the
// phases build on each other (watchers need the objects) and what matters is
// how figures from the same run compare, not per-iteration timings.
//
//   kubesim_bench            # the issue's sizes: 100k objects, 1,000 watchers
//   kubesim_bench --quick    # 10k objects, 100 watchers: a smoke check
//   kubesim_bench --objects=50000 --watchers=500 ...   # see usage()
//
// Exits non-zero if any request fails or any watcher misses, repeats or
// reorders an event.
#include <pthread.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/bench_report.h"
#include "sim/apiserver.h"
#include "sim/http_server.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using kubesim::json;
using namespace frugal::bench;

// ------------------------------------------------------------------ settings

struct Options {
  size_t objects = 100000;  // the issue: "holds 100,000 objects in memory"
  size_t namespaces = 10;   // objects spread evenly: one namespace holds objects/namespaces
  size_t watchers = 1000;   // the issue: "a watch with 1,000 concurrent watchers"
  size_t updates = 2000;    // writes every watcher must receive
  size_t batch = 2000;      // creates timed once without and once with the watchers open
  size_t list_runs = 5;     // LIST timings are the median of this many runs
  size_t list_page = 500;   // client-go's reflector pages lists by 500 (pager default)
  int clients = 4;          // keep-alive writer connections, one thread each
  int server_threads = 2;   // HttpServerOptions::threads default
  int watch_threads = 1;    // client io threads reading every watch stream
  size_t note_bytes = 560;  // filler that makes a stored object about 1 KiB
  std::string commit = "unknown";
};

// A request that has not been answered in this long means the server is stuck.
constexpr std::chrono::seconds kRequestTimeout{60};
// Opening every watch, and delivering every event of a phase, must finish within these.
constexpr std::chrono::seconds kWatchOpenTimeout{60};
constexpr std::chrono::seconds kDeliveryTimeout{180};
// How often the main thread looks at the watchers' progress while it waits.
constexpr std::chrono::milliseconds kPollInterval{2};
// Per-watch client read buffer cap: frames are ~1 KiB and the parser consumes
// chunk bodies as they arrive, so a small buffer keeps client memory out of
// the server's RSS figure.
constexpr size_t kWatchBufferBytes = 16 * 1024;
// Beast reads at most the buffer's free capacity (but at least 512 bytes) per
// read_some, and a parser that consumes as it goes keeps that capacity small:
// an unreserved buffer reads a 10 MB LIST 512 bytes per recv, which made the
// client, not the server, the thing measured. So it is reserved up front.
constexpr size_t kClientBufferBytes = 64 * 1024;

constexpr const char* kResourcePath = "/apis/bench.kubesim.dev/v1";
// Threads are named so that /proc tells server CPU from client CPU.
constexpr const char* kServerThreadName = "ks-server";

const char* kCrd = R"({
  "apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition",
  "metadata": {"name": "blobs.bench.kubesim.dev"},
  "spec": {
    "group": "bench.kubesim.dev",
    "scope": "Namespaced",
    "names": {"plural": "blobs", "singular": "blob", "kind": "Blob", "listKind": "BlobList"},
    "versions": [{
      "name": "v1", "served": true, "storage": true,
      "schema": {"openAPIV3Schema": {
        "type": "object",
        "properties": {
          "spec": {"type": "object", "properties": {
            "replicas": {"type": "integer", "minimum": 0},
            "image": {"type": "string"},
            "priority": {"type": "integer"},
            "enabled": {"type": "boolean"},
            "payload": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
          "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}
    }]
  }
})";

void usage() {
  std::cerr << "usage: kubesim_bench [--quick] [--objects=N] [--namespaces=N] [--watchers=N]\n"
               "                     [--updates=N] [--batch=N] [--list-runs=N] [--list-page=N]\n"
               "                     [--clients=N] [--server-threads=N] [--watch-threads=N]\n"
               "                     [--commit=SHA]\n"
               "KUBESIM_BENCH_COMMIT in the environment also sets the commit shown.\n";
}

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  if (const char* c = std::getenv("KUBESIM_BENCH_COMMIT"); c && *c) o.commit = c;
  std::map<std::string, size_t*> sizes = {
      {"--objects", &o.objects},     {"--namespaces", &o.namespaces}, {"--watchers", &o.watchers},
      {"--updates", &o.updates},     {"--batch", &o.batch},           {"--list-runs", &o.list_runs},
      {"--list-page", &o.list_page}, {"--note-bytes", &o.note_bytes}};
  std::map<std::string, int*> ints = {{"--clients", &o.clients},
                                      {"--server-threads", &o.server_threads},
                                      {"--watch-threads", &o.watch_threads}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick") {
      o.objects = 10000;
      o.watchers = 100;
      continue;
    }
    auto eq = arg.find('=');
    std::string key = arg.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (key == "--commit") {
      o.commit = value;
      continue;
    }
    long long v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size() || v < 0) {
      std::cerr << "kubesim_bench: bad argument " << arg << "\n";
      return std::nullopt;
    }
    if (auto s = sizes.find(key); s != sizes.end()) {
      *s->second = static_cast<size_t>(v);
    } else if (auto n = ints.find(key); n != ints.end()) {
      *n->second = static_cast<int>(v);
    } else {
      std::cerr << "kubesim_bench: unknown argument " << arg << "\n";
      return std::nullopt;
    }
  }
  if (o.namespaces == 0 || o.objects < o.namespaces || o.watchers == 0 || o.updates == 0 ||
      o.batch == 0 || o.clients < 1 || o.server_threads < 1 || o.watch_threads < 1 ||
      o.list_runs == 0 || o.list_page == 0) {
    std::cerr << "kubesim_bench: sizes and thread counts must be positive\n";
    return std::nullopt;
  }
  return o;
}

// ------------------------------------------------------------------ process metrics

// CPU seconds used so far by the server's threads (named kServerThreadName),
// from each thread's schedstat (nanoseconds on CPU).
double server_cpu_seconds() {
  double total = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    if (read_first_line(task.path() / "comm") != kServerThreadName) continue;
    std::istringstream stat(read_first_line(task.path() / "schedstat"));
    unsigned long long ns = 0;
    stat >> ns;
    total += static_cast<double>(ns) / 1e9;
  }
  return total;
}

// Wall time and the CPU split of one phase.
class PhaseClock {
 public:
  PhaseClock()
      : start_(Clock::now()), server_(server_cpu_seconds()), process_(process_cpu_seconds()) {}
  struct Reading {
    double wall = 0, server_cpu = 0, client_cpu = 0;
  };
  Reading read() const {
    Reading r;
    r.wall = std::chrono::duration<double>(Clock::now() - start_).count();
    r.server_cpu = server_cpu_seconds() - server_;
    r.client_cpu = process_cpu_seconds() - process_ - r.server_cpu;
    return r;
  }

 private:
  Clock::time_point start_;
  double server_;
  double process_;
};


// ------------------------------------------------------------------ failures

// Every failure is kept (the first few printed) and makes the run exit 1.
class Failures {
 public:
  void add(std::string what) {
    std::lock_guard lock(mu_);
    if (messages_.size() < kKept) messages_.push_back(std::move(what));
    ++count_;
  }
  size_t count() const {
    std::lock_guard lock(mu_);
    return count_;
  }
  std::vector<std::string> messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }

 private:
  static constexpr size_t kKept = 20;
  mutable std::mutex mu_;
  std::vector<std::string> messages_;
  size_t count_ = 0;
};

Failures g_failures;


// ------------------------------------------------------------------ JSON scraping

// The server writes objects with nlohmann's sorted keys, so metadata (and its
// resourceVersion) comes before spec, and the bench's payload has no such key:
// the first match is the object's. Full parsing of 4 GB of watch frames would
// make the client, not the server, the thing measured.
uint64_t scrape_rv(std::string_view text) {
  constexpr std::string_view kKey = "\"resourceVersion\":\"";
  auto at = text.find(kKey);
  if (at == std::string_view::npos) return 0;
  uint64_t rv = 0;
  const char* p = text.data() + at + kKey.size();
  std::from_chars(p, text.data() + text.size(), rv);
  return rv;
}

// ------------------------------------------------------------------ blocking HTTP client

struct HttpReply {
  int status = 0;  // 0: transport error, see `error`
  std::string body;
  std::string error;
};

// One keep-alive connection, used by one thread. Blocking calls, each run as
// an async operation on a private io_context so that every one has a deadline
// (Asio's blocking socket calls ignore SO_RCVTIMEO).
class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : endpoint_(net::ip::make_address("127.0.0.1"), port) {
    buffer_.reserve(kClientBufferBytes);
  }

  HttpReply send(http::verb method, const std::string& target, std::string body = {},
                 std::string_view content_type = "application/json") {
    HttpReply reply;
    send_into(reply, method, target, std::move(body), content_type);
    return reply;
  }

  // As send(), but reads the body into `reply.body` reusing its capacity, so
  // that timing a 10 MB LIST does not time the client's page faults.
  void send_into(HttpReply& reply, http::verb method, const std::string& target,
                 std::string body = {}, std::string_view content_type = "application/json") {
    reply.status = 0;
    reply.error.clear();
    reply.body.clear();
    if (!stream_.socket().is_open()) {
      if (auto ec = run([&](auto done) { stream_.async_connect(endpoint_, done); }); ec) {
        reply.error = "connect: " + ec.message();
        return;
      }
      beast::error_code ignored;
      stream_.socket().set_option(tcp::no_delay(true), ignored);
    }
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::accept, "application/json");
    req.keep_alive(true);
    if (!body.empty()) {
      req.set(http::field::content_type, content_type);
      req.body() = std::move(body);
    }
    req.prepare_payload();
    if (auto ec = run([&](auto done) { http::async_write(stream_, req, done); }); ec) {
      return fail(reply, "write", ec);
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // a 10k-object LIST is ~11 MB
    parser.get().body().swap(reply.body);
    auto ec = run([&](auto done) { http::async_read(stream_, buffer_, parser, done); });
    auto res = parser.release();
    reply.body.swap(res.body());
    if (ec) return fail(reply, "read", ec);
    reply.status = static_cast<int>(res.result_int());
    if (res.need_eof()) close();
  }

 private:
  template <class Start>
  beast::error_code run(Start start) {
    beast::error_code result = net::error::would_block;
    stream_.expires_after(kRequestTimeout);
    start([&](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }
  void fail(HttpReply& reply, const char* step, beast::error_code ec) {
    reply.error = std::string(step) + ": " + ec.message();
    close();
  }
  void close() {
    beast::error_code ignored;
    stream_.socket().close(ignored);
    buffer_.clear();
  }

  net::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_;
  tcp::endpoint endpoint_;
};

// Runs `count` calls of `op(client, i)` spread over `clients` threads, each
// with its own connection, all released at once. Returns the wall time from
// the release to the last reply.
double run_parallel(uint16_t port, int clients, size_t count,
                    const std::function<void(HttpClient&, size_t)>& op) {
  std::atomic<size_t> next{0};
  std::latch ready(clients + 1);
  std::latch go(1);
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&] {
      pthread_setname_np(pthread_self(), "bench-writer");
      HttpClient client(port);
      // Connect before the clock starts: a GET of something small.
      auto warm = client.send(http::verb::get, "/version");
      if (warm.status != 200) g_failures.add("writer could not connect: " + warm.error);
      ready.count_down();
      go.wait();
      for (size_t i = next++; i < count; i = next++) op(client, i);
    });
  }
  ready.arrive_and_wait();
  const auto start = Clock::now();
  go.count_down();
  for (auto& t : threads) t.join();
  return seconds(Clock::now() - start);
}

// ------------------------------------------------------------------ objects

std::string ns_name(size_t n) { return "bench-" + std::to_string(n); }
std::string blob_name(size_t i) {
  char name[32];
  std::snprintf(name, sizeof name, "blob-%07zu", i);
  return name;
}

// A Blob of about 1 KiB as stored: a few typed spec fields the schema checks
// and a preserved-unknown payload whose note is varied per object.
std::string blob_body(const std::string& ns, const std::string& name, size_t i,
                      const std::string& note_template) {
  std::string note = note_template;
  char stamp[24];
  int n = std::snprintf(stamp, sizeof stamp, "%016zx", i * 2654435761u);
  note.replace(0, std::min(note.size(), static_cast<size_t>(n)), stamp,
               std::min(note.size(), static_cast<size_t>(n)));
  std::string b;
  b.reserve(512 + note.size());
  b += R"({"apiVersion":"bench.kubesim.dev/v1","kind":"Blob","metadata":{"name":")";
  b += name;
  b += R"(","namespace":")";
  b += ns;
  b += R"(","labels":{"app":"kubesim-bench","shard":")";
  b += std::to_string(i % 16);
  b += R"("}},"spec":{"replicas":)";
  b += std::to_string(i % 5 + 1);
  b += R"(,"image":"registry.local/bench/worker:v1.2.3","priority":)";
  b += std::to_string(i % 100);
  b += R"(,"enabled":true,"payload":{"note":")";
  b += note;
  b += R"(","tags":["train","gpu","spot"],"limits":{"cpu":"500m","memory":"1Gi"},"index":)";
  b += std::to_string(i);
  b += "}}}";
  return b;
}

std::string make_note_template(size_t bytes) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(bytes, 'x');
  for (size_t i = 0; i < bytes; ++i) s[i] = kAlphabet[(i * 7 + 3) % (sizeof kAlphabet - 1)];
  return s;
}

// ------------------------------------------------------------------ watchers

// One event as a watcher received it.
struct Received {
  uint64_t rv;
  Clock::time_point at;
};

// One watch connection, driven by the fleet's io threads: connect, send the
// request, read the header, then read the chunked body until the end, handing
// every complete line (one event) to on_line. Only one operation is ever
// outstanding, so its handlers never run concurrently.
struct Watcher {
  Watcher(net::io_context& ioc, size_t id) : socket(ioc), id(id) {
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    buffer.reserve(kWatchBufferBytes);
    on_chunk = [this](std::uint64_t, std::string_view body, beast::error_code&) {
      on_body(body);
      return body.size();
    };
    parser.on_chunk_body(on_chunk);
  }

  void on_body(std::string_view body) {
    const auto now = Clock::now();
    while (!body.empty()) {
      auto nl = body.find('\n');
      if (nl == std::string_view::npos) {
        partial.append(body);
        return;
      }
      if (partial.empty()) {
        on_line(body.substr(0, nl), now);
      } else {
        partial.append(body.substr(0, nl));
        on_line(partial, now);
        partial.clear();
      }
      body.remove_prefix(nl + 1);
    }
  }

  void on_line(std::string_view line, Clock::time_point now) {
    constexpr std::string_view kPrefix = "{\"type\":\"";
    if (line.rfind(kPrefix, 0) != 0) {
      error = "malformed frame: " + std::string(line.substr(0, 80));
      return;
    }
    auto type = line.substr(kPrefix.size(), line.find('"', kPrefix.size()) - kPrefix.size());
    if (type != expected_type) {
      // BOOKMARK was not asked for; ERROR, or ADDED during updates, is a bug.
      if (bad_type.empty()) bad_type = std::string(line.substr(0, 200));
      ++unexpected;
    } else {
      received.push_back({scrape_rv(line), now});
    }
    // Release: the main thread reads `received` once the count says all arrived.
    counter->fetch_add(1, std::memory_order_release);
  }

  tcp::socket socket;
  size_t id;
  beast::flat_buffer buffer{kWatchBufferBytes};
  http::response_parser<http::empty_body> parser;
  std::function<size_t(std::uint64_t, std::string_view, beast::error_code&)> on_chunk;
  std::string request;
  std::string partial;
  std::vector<Received> received;
  std::string expected_type = "MODIFIED";
  size_t unexpected = 0;
  std::string bad_type;
  std::string error;
  bool ended = false;
  std::atomic<size_t>* counter = nullptr;
};

// Many watchers on a few client threads, no thread per watch.
class WatchFleet {
 public:
  WatchFleet(uint16_t port, size_t count, int threads)
      : endpoint_(net::ip::make_address("127.0.0.1"), port), threads_(threads) {
    watchers_.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      watchers_.push_back(std::make_unique<Watcher>(ioc_, i));
      watchers_.back()->counter = &events_;
    }
  }

  ~WatchFleet() { stop(); }
  WatchFleet(const WatchFleet&) = delete;
  WatchFleet& operator=(const WatchFleet&) = delete;

  // Starts every watch at once; returns after all have their 200 header (then
  // the server has subscribed them) or the deadline passed.
  bool open(const std::string& target) {
    for (auto& w : watchers_) {
      w->request = "GET " + target +
                   " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
                   "User-Agent: kubesim-bench\r\n\r\n";
      start(*w);
    }
    for (int i = 0; i < threads_; ++i) {
      io_threads_.emplace_back([this] {
        pthread_setname_np(pthread_self(), "bench-watch");
        ioc_.run();
      });
    }
    const auto deadline = Clock::now() + kWatchOpenTimeout;
    while (opened_.load() + failed_.load() < watchers_.size() && Clock::now() < deadline) {
      std::this_thread::sleep_for(kPollInterval);
    }
    return opened_.load() == watchers_.size();
  }

  // Readies every watcher for a phase whose events all have this type.
  // Only call while no events are in flight.
  void expect(const std::string& type, size_t events_each) {
    for (auto& w : watchers_) {
      w->expected_type = type;
      w->received.clear();
      w->received.reserve(events_each);
    }
    events_.store(0);
  }

  // Waits until every watcher got `each` events; false at the deadline.
  bool wait_events(size_t each) {
    const size_t total = each * watchers_.size();
    const auto deadline = Clock::now() + kDeliveryTimeout;
    while (events_.load(std::memory_order_acquire) < total && Clock::now() < deadline) {
      if (failed_.load() > 0) return false;
      std::this_thread::sleep_for(kPollInterval);
    }
    return events_.load() >= total;
  }

  size_t events() const { return events_.load(); }
  size_t opened() const { return opened_.load(); }
  const std::vector<std::unique_ptr<Watcher>>& watchers() const { return watchers_; }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    net::post(ioc_, [this] {
      for (auto& w : watchers_) {
        beast::error_code ignored;
        w->socket.close(ignored);
      }
    });
    for (auto& t : io_threads_) t.join();
  }

 private:
  void start(Watcher& w) {
    w.socket.async_connect(endpoint_, [this, &w](beast::error_code ec) {
      if (ec) return fail(w, "connect: " + ec.message());
      beast::error_code ignored;
      w.socket.set_option(tcp::no_delay(true), ignored);
      net::async_write(w.socket, net::buffer(w.request), [this, &w](beast::error_code ec, size_t) {
        if (ec) return fail(w, "write: " + ec.message());
        http::async_read_header(w.socket, w.buffer, w.parser,
                                [this, &w](beast::error_code ec, size_t) { on_header(w, ec); });
      });
    });
  }

  void on_header(Watcher& w, beast::error_code ec) {
    if (ec) return fail(w, "read header: " + ec.message());
    if (w.parser.get().result_int() != 200) {
      return fail(w, "status " + std::to_string(w.parser.get().result_int()));
    }
    ++opened_;
    http::async_read(w.socket, w.buffer, w.parser, [this, &w](beast::error_code ec, size_t) {
      w.ended = true;
      if (stopped_) return;
      fail(w, ec ? "stream: " + ec.message() : "the server ended the watch early");
    });
  }

  void fail(Watcher& w, std::string what) {
    if (stopped_) return;
    w.error = std::move(what);
    ++failed_;
    g_failures.add("watcher " + std::to_string(w.id) + ": " + w.error);
  }

  net::io_context ioc_;
  tcp::endpoint endpoint_;
  int threads_;
  std::vector<std::unique_ptr<Watcher>> watchers_;
  std::vector<std::thread> io_threads_;
  std::atomic<size_t> events_{0};
  std::atomic<size_t> opened_{0};
  std::atomic<size_t> failed_{0};
  std::atomic<bool> stopped_{false};
};

// What one phase of writes delivered to the watchers.
struct Delivery {
  bool complete = false;    // every watcher got every event
  size_t bad = 0;           // watchers that missed, repeated or reordered an event
  double all_received = 0;  // from the first write's start to the last watcher's last event
  double lag_p50 = 0, lag_p99 = 0, lag_max = 0;  // reply → last watcher, seconds
};

// One write as its writer saw it.
struct Write {
  uint64_t rv = 0;
  Clock::time_point replied;
};

// Checks every watcher got exactly the writes' versions in ascending order and
// measures, per write, how long after its reply the last watcher had it.
Delivery check_delivery(const WatchFleet& fleet, std::vector<Write> writes,
                        Clock::time_point phase_start, const char* phase) {
  Delivery d;
  std::sort(writes.begin(), writes.end(),
            [](const Write& a, const Write& b) { return a.rv < b.rv; });
  std::vector<Clock::time_point> last(writes.size(), Clock::time_point::min());
  for (const auto& w : fleet.watchers()) {
    bool ok = w->error.empty() && w->unexpected == 0 && w->received.size() == writes.size();
    for (size_t k = 0; ok && k < writes.size(); ++k) {
      ok = w->received[k].rv == writes[k].rv;
      last[k] = std::max(last[k], w->received[k].at);
    }
    if (!ok) {
      if (d.bad++ == 0) {
        std::string why = w->error;
        if (w->unexpected) why += " unexpected frame: " + w->bad_type;
        if (why.empty()) {
          why = "got " + std::to_string(w->received.size()) + " of " +
                std::to_string(writes.size()) + " events, or out of order";
        }
        g_failures.add(std::string(phase) + ": watcher " + std::to_string(w->id) + ": " + why);
      }
    }
  }
  if (d.bad > 0) {
    g_failures.add(std::string(phase) + ": " + std::to_string(d.bad) + " of " +
                   std::to_string(fleet.watchers().size()) + " watchers saw a wrong sequence");
    return d;
  }
  d.complete = true;
  std::vector<double> lags;
  lags.reserve(writes.size());
  Clock::time_point end = phase_start;
  for (size_t k = 0; k < writes.size(); ++k) {
    lags.push_back(std::max(0.0, seconds(last[k] - writes[k].replied)));
    end = std::max(end, last[k]);
  }
  d.all_received = seconds(end - phase_start);
  d.lag_p50 = percentile(lags, 0.50);
  d.lag_p99 = percentile(lags, 0.99);
  d.lag_max = percentile(lags, 1.0);
  return d;
}

// ------------------------------------------------------------------ report

std::string mib(double bytes) { return fmt("%.1f MiB", bytes / (1024.0 * 1024.0)); }
std::string ms(double s) { return fmt("%.1f ms", s * 1e3); }
// The CPU split of a phase, and the share of the machine the process got:
// well under 100% means other work on the machine slowed the wall times.
std::string cpu_note(const PhaseClock::Reading& r) {
  const double share = (r.server_cpu + r.client_cpu) / std::max(r.wall, 1e-9) /
                       std::max(1u, std::thread::hardware_concurrency());
  return fmt("CPU: server %.2f s", r.server_cpu) + fmt(", client %.2f s", r.client_cpu) +
         fmt(" in %.2f s wall", r.wall) + fmt(" (%.0f%% of all CPUs)", share * 100);
}

// ------------------------------------------------------------------ the run

class Bench {
 public:
  explicit Bench(Options o) : o_(std::move(o)), note_(make_note_template(o_.note_bytes)) {}

  int run() {
    machine_ = machine_line();
    load_start_ = load_average();
    // The server's threads inherit the creating thread's name.
    pthread_setname_np(pthread_self(), kServerThreadName);
    kubesim::ApiServer api;
    kubesim::HttpServerOptions http_opts;
    http_opts.threads = o_.server_threads;
    kubesim::HttpServer server(http_opts, [&](const kubesim::Request& r) { return api.handle(r); });
    auto started = server.start();
    pthread_setname_np(pthread_self(), "bench-main");
    if (!started) {
      std::cerr << "kubesim_bench: server did not start: " << started.error().message << "\n";
      return 1;
    }
    port_ = server.port();
    api_ = &api;

    if (setup() && create_all() && list_timings() && watch_phases()) {
      // Every phase ran; failures, if any, are counted below.
    }
    load_end_ = load_average();
    progress("Stopping the server");
    server.stop();
    report(std::cout);
    return g_failures.count() == 0 ? 0 : 1;
  }

 private:
  // CRD, namespaces, the baseline RSS.
  bool setup() {
    HttpClient c(port_);
    auto crd =
        c.send(http::verb::post, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", kCrd);
    if (crd.status != 201)
      return fatal("creating the CRD: " + std::to_string(crd.status) + " " + crd.error + crd.body);
    std::vector<std::string> namespaces;
    for (size_t n = 0; n < o_.namespaces; ++n) namespaces.push_back(ns_name(n));
    namespaces.push_back(kBatchQuietNs);
    namespaces.push_back(kBatchWatchedNs);
    for (const auto& ns : namespaces) {
      auto r = c.send(
          http::verb::post, "/api/v1/namespaces",
          json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}}.dump());
      if (r.status != 201)
        return fatal("creating namespace " + ns + ": " + std::to_string(r.status) + " " + r.error);
    }
    rss_base_ = rss_bytes();
    return true;
  }

  // Phase 1: every object, over HTTP, no watchers.
  bool create_all() {
    progress("Creating " + count(o_.objects) + " objects");
    std::atomic<size_t> json_bytes{0};
    PhaseClock clock;
    double wall = run_parallel(port_, o_.clients, o_.objects, [&](HttpClient& c, size_t i) {
      const std::string ns = ns_name(i % o_.namespaces);
      auto r = c.send(http::verb::post, std::string(kResourcePath) + "/namespaces/" + ns + "/blobs",
                      blob_body(ns, blob_name(i), i, note_));
      if (r.status != 201) {
        g_failures.add("create " + blob_name(i) + ": " + std::to_string(r.status) + " " + r.error +
                       r.body.substr(0, 300));
        return;
      }
      json_bytes += r.body.size();
    });
    create_cpu_ = clock.read();
    create_rate_ = static_cast<double>(o_.objects) / wall;
    create_wall_ = wall;
    object_json_bytes_ = static_cast<double>(json_bytes.load()) / static_cast<double>(o_.objects);
    rss_objects_ = rss_bytes();
    objects_in_store_ = api_->store().stats().objects;
    auto blobs = api_->store().list("blobs.bench.kubesim.dev", "", nullptr, 0, "", 0);
    blobs_in_store_ = blobs ? blobs->items.size() : 0;
    if (blobs_in_store_ != o_.objects) {
      g_failures.add("the store holds " + count(blobs_in_store_) + " Blobs, not " +
                     count(o_.objects));
    }
    return g_failures.count() == 0 || fatal("creates failed");
  }

  // Phase 2: LIST one namespace's objects, whole and paginated, over HTTP and in-process.
  bool list_timings() {
    progress("Timing LIST");
    const size_t expected = objects_in_ns(0);
    const std::string path = std::string(kResourcePath) + "/namespaces/" + ns_name(0) + "/blobs";
    HttpClient c(port_);

    HttpReply reply;
    auto http_page = [&](const std::string& cont, size_t limit, std::string& body) {
      std::string target = path;
      if (limit) target += "?limit=" + std::to_string(limit);
      if (!cont.empty()) target += "&continue=" + cont;
      reply.body.swap(body);
      c.send_into(reply, http::verb::get, target);
      reply.body.swap(body);
      if (reply.status != 200) {
        g_failures.add("LIST " + target + ": " + std::to_string(reply.status) + " " + reply.error);
      }
    };
    auto inproc_page = [&](const std::string& cont, size_t limit, std::string& body) {
      kubesim::Request req;
      req.method = "GET";
      req.path = path;
      req.accept = "application/json";
      if (limit) req.query["limit"] = std::to_string(limit);
      if (!cont.empty()) req.query["continue"] = cont;
      auto served = api_->handle(req);
      auto* res = std::get_if<kubesim::Response>(&served);
      if (!res || res->status != 200) {
        g_failures.add("in-process LIST failed");
        body.clear();
        return;
      }
      body = std::move(res->body);
    };
    using PageFn = std::function<void(const std::string&, size_t, std::string&)>;
    // Times one whole listing (all pages) into `bodies`, reused from run to
    // run; returns how many pages it took.
    std::vector<std::string> bodies;
    auto list_once = [&](const PageFn& page, size_t limit, double& secs) {
      const auto start = Clock::now();
      std::string cont;
      size_t pages = 0;
      do {
        if (bodies.size() <= pages) bodies.emplace_back();
        page(cont, limit, bodies[pages]);
        cont = limit ? scrape_continue(bodies[pages]) : "";
      } while (!bodies[pages++].empty() && !cont.empty());
      secs = seconds(Clock::now() - start);
      return pages;
    };
    auto measure = [&](const PageFn& page, size_t limit, const char* what, size_t* body_bytes) {
      std::vector<double> times;
      for (size_t run = 0; run < o_.list_runs; ++run) {
        double secs = 0;
        const size_t pages = list_once(page, limit, secs);
        times.push_back(secs);
        size_t items = 0, bytes = 0;
        for (size_t p = 0; p < pages; ++p) {
          const std::string& b = bodies[p];
          auto j = json::parse(b, nullptr, false);
          if (!j.is_discarded() && j.contains("items")) items += j["items"].size();
          bytes += b.size();
        }
        if (body_bytes) *body_bytes = bytes;
        if (items != expected) {
          g_failures.add(std::string(what) + ": listed " + std::to_string(items) + " of " +
                         std::to_string(expected));
        }
      }
      return median(times);
    };
    list_items_ = expected;
    list_http_ = measure(http_page, 0, "HTTP LIST", &list_body_bytes_);
    list_http_paged_ = measure(http_page, o_.list_page, "HTTP paginated LIST", nullptr);
    list_inproc_ = measure(inproc_page, 0, "in-process LIST", nullptr);
    list_inproc_paged_ = measure(inproc_page, o_.list_page, "in-process paginated LIST", nullptr);
    // Every object of the resource, all namespaces, in pages: how pagination scales with size.
    {
      const std::string all = std::string(kResourcePath) + "/blobs";
      auto page_all = [&](const std::string& cont, size_t limit, std::string& body) {
        kubesim::Request req;
        req.method = "GET";
        req.path = all;
        req.accept = "application/json";
        if (limit) req.query["limit"] = std::to_string(limit);
        if (!cont.empty()) req.query["continue"] = cont;
        auto served = api_->handle(req);
        auto* res = std::get_if<kubesim::Response>(&served);
        body.clear();
        if (res && res->status == 200) body = std::move(res->body);
      };
      std::vector<double> full, paged;
      for (size_t run = 0; run < o_.list_runs; ++run) {
        double secs = 0;
        list_once(page_all, 0, secs);
        full.push_back(secs);
        list_once(page_all, o_.list_page, secs);
        paged.push_back(secs);
      }
      list_all_inproc_ = median(full);
      list_all_inproc_paged_ = median(paged);
    }
    return g_failures.count() == 0 || fatal("LIST failed");
  }

  // Phases 3-5: creates without watchers, then the watchers, updates and
  // creates with them open.
  bool watch_phases() {
    // The writer-cost baseline: the same batch of creates, nobody watching.
    progress("Creating " + count(o_.batch) + " objects, no watchers");
    std::vector<Write> quiet_writes;
    double quiet_wall = create_batch(kBatchQuietNs, quiet_writes, batch_quiet_cpu_);
    batch_rate_quiet_ = static_cast<double>(o_.batch) / quiet_wall;

    const uint64_t from_rv = api_->store().current_rv();
    progress("Opening " + count(o_.watchers) + " watches");
    WatchFleet fleet(port_, o_.watchers, o_.watch_threads);
    const size_t rss_before_watch = rss_bytes();
    const auto open_start = Clock::now();
    const std::string target = std::string(kResourcePath) +
                               "/blobs?watch=true&resourceVersion=" + std::to_string(from_rv) +
                               "&timeoutSeconds=3600";
    if (!fleet.open(target)) {
      return fatal("only " + std::to_string(fleet.opened()) + " of " + std::to_string(o_.watchers) +
                   " watches opened");
    }
    watch_open_ = seconds(Clock::now() - open_start);
    rss_watch_delta_ = static_cast<double>(rss_bytes()) - static_cast<double>(rss_before_watch);
    active_watches_ = api_->active_watches();

    // Updates at full speed; every watcher must see each one.
    progress("Updating " + count(o_.updates) + " objects with the watchers open");
    fleet.expect("MODIFIED", o_.updates);
    std::vector<Write> updates(o_.updates);
    {
      PhaseClock clock;
      const auto start = Clock::now();
      const size_t per_ns = objects_in_ns(0);
      double wall = run_parallel(port_, o_.clients, o_.updates, [&](HttpClient& c, size_t j) {
        // Objects of namespace 0 are those with index % namespaces == 0.
        const std::string name = blob_name((j % per_ns) * o_.namespaces);
        auto r = c.send(http::verb::patch,
                        std::string(kResourcePath) + "/namespaces/" + ns_name(0) + "/blobs/" + name,
                        R"({"spec":{"replicas":)" + std::to_string(1000 + j) + "}}",
                        "application/merge-patch+json");
        updates[j] = {scrape_rv(r.body), Clock::now()};
        if (r.status != 200)
          g_failures.add("update " + name + ": " + std::to_string(r.status) + " " + r.error);
      });
      update_rate_ = static_cast<double>(o_.updates) / wall;
      progress("Updates done; waiting for every watcher to receive them");
      if (!fleet.wait_events(o_.updates)) {
        g_failures.add("updates: watchers got " + count(fleet.events()) + " of " +
                       count(o_.updates * o_.watchers) + " events within " +
                       std::to_string(kDeliveryTimeout.count()) + " s");
      }
      update_cpu_ = clock.read();
      update_delivery_ = check_delivery(fleet, updates, start, "updates");
    }

    // The same batch of creates as before, now with every watcher open.
    progress("Creating " + count(o_.batch) + " objects with the watchers open");
    fleet.expect("ADDED", o_.batch);
    {
      PhaseClock clock;
      const auto start = Clock::now();
      std::vector<Write> watched_writes;
      PhaseClock::Reading unused;
      double wall = create_batch(kBatchWatchedNs, watched_writes, unused);
      batch_rate_watched_ = static_cast<double>(o_.batch) / wall;
      if (!fleet.wait_events(o_.batch)) {
        g_failures.add("creates: watchers got " + count(fleet.events()) + " of " +
                       count(o_.batch * o_.watchers) + " events within " +
                       std::to_string(kDeliveryTimeout.count()) + " s");
      }
      batch_watched_cpu_ = clock.read();
      batch_delivery_ = check_delivery(fleet, watched_writes, start, "creates");
    }
    rss_end_ = rss_bytes();
    fleet.stop();
    watched_ = true;
    return true;
  }

  double create_batch(const std::string& ns, std::vector<Write>& writes, PhaseClock::Reading& cpu) {
    writes.assign(o_.batch, {});
    PhaseClock clock;
    double wall = run_parallel(port_, o_.clients, o_.batch, [&](HttpClient& c, size_t i) {
      const size_t index = o_.objects + i;
      auto r = c.send(http::verb::post, std::string(kResourcePath) + "/namespaces/" + ns + "/blobs",
                      blob_body(ns, blob_name(index), index, note_));
      writes[i] = {scrape_rv(r.body), Clock::now()};
      if (r.status != 201)
        g_failures.add("create in " + ns + ": " + std::to_string(r.status) + " " + r.error);
    });
    cpu = clock.read();
    return wall;
  }

  size_t objects_in_ns(size_t n) const {
    return o_.objects / o_.namespaces + (n < o_.objects % o_.namespaces ? 1 : 0);
  }

  static std::string scrape_continue(const std::string& body) {
    constexpr std::string_view kKey = "\"continue\":\"";
    // metadata comes before items; look only near the start.
    std::string_view head(body.data(), std::min<size_t>(body.size(), 1024));
    auto at = head.find(kKey);
    if (at == std::string_view::npos) return {};
    auto start = at + kKey.size();
    return body.substr(start, body.find('"', start) - start);
  }

  bool fatal(const std::string& why) {
    g_failures.add(why);
    return false;
  }

  void report(std::ostream& os) const {
    const double n = static_cast<double>(o_.objects);
    const double obj_delta = static_cast<double>(rss_objects_) - static_cast<double>(rss_base_);
    os << "# kubesim scale benchmark\n\n";
    os << "| | |\n|---|---|\n";
    os << "| commit | " << o_.commit << " |\n";
    os << "| machine | " << machine_ << "; 1-minute load average " << load_start_ << " at start, "
       << load_end_ << " at end |\n";
    os << "| server | in-process ApiServer + HttpServer, plain HTTP on 127.0.0.1, "
       << o_.server_threads << " io threads |\n";
    os << "| clients | " << o_.clients
       << " keep-alive Beast connections (one thread each) for writes; " << o_.watch_threads
       << " client io thread(s) reading all watch streams; the clients run in the same process "
          "and share the CPUs with the server |\n";
    os << "| objects | " << count(o_.objects) << " Blobs (CRD with schema) in " << o_.namespaces
       << " namespaces; " << fmt("%.0f", object_json_bytes_) << " bytes of JSON each as stored |\n";
    os << "| watch | " << count(o_.watchers) << " watchers on all namespaces; " << count(o_.updates)
       << " updates (merge patch), then " << count(o_.batch) << " creates |\n\n";

    Table t;
    t.row("Blobs held in the store", count(blobs_in_store_),
          "all created over HTTP; " + count(objects_in_store_) +
              " objects in all, namespaces and the CRD included");
    t.row("Create rate, 0 watchers (" + count(o_.objects) + " creates)", per_s(create_rate_),
          fmt("%.1f s total; ", create_wall_) +
              fmt("server CPU %.0f µs per create; ", create_cpu_.server_cpu * 1e6 / n) +
              cpu_note(create_cpu_));
    t.row("RSS before objects", mib(static_cast<double>(rss_base_)),
          "server + clients, one process");
    t.row("RSS with objects", mib(static_cast<double>(rss_objects_)), "");
    t.row("RSS delta per object", fmt("%.0f bytes", obj_delta / n),
          fmt("%.1f× the object's JSON size", obj_delta / n / std::max(1.0, object_json_bytes_)) +
              "; includes the store's indexes and its " +
              count(kubesim::Store::kDefaultHistoryLimit) + "-event history");
    const std::string li = count(list_items_);
    t.row("LIST " + li + " objects, HTTP, whole", ms(list_http_),
          mib(static_cast<double>(list_body_bytes_)) + " body; median of " +
              std::to_string(o_.list_runs));
    t.row("LIST " + li + " objects, HTTP, limit=" + std::to_string(o_.list_page),
          ms(list_http_paged_), fmt("%.2f× whole", list_http_paged_ / list_http_));
    t.row("LIST " + li + " objects, in-process handle(), whole", ms(list_inproc_),
          fmt("HTTP costs %.2f× in-process", list_http_ / list_inproc_));
    t.row("LIST " + li + " objects, in-process, limit=" + std::to_string(o_.list_page),
          ms(list_inproc_paged_), fmt("%.2f× whole", list_inproc_paged_ / list_inproc_));
    t.row("LIST all " + count(blobs_in_store_) + " objects, in-process, whole",
          ms(list_all_inproc_),
          fmt("%.1f× the ", list_all_inproc_ / list_inproc_) + li + "-object list");
    t.row("LIST all objects, in-process, limit=" + std::to_string(o_.list_page),
          ms(list_all_inproc_paged_),
          fmt("%.2f× whole", list_all_inproc_paged_ / list_all_inproc_));
    if (watched_) {
      const double deliveries = static_cast<double>(o_.updates * o_.watchers);
      t.row("Open " + count(o_.watchers) + " watches", ms(watch_open_),
            count(active_watches_) + " active on the server; " +
                fmt("RSS +%.1f KiB per watch",
                    rss_watch_delta_ / 1024.0 / static_cast<double>(o_.watchers)));
      t.row("Update rate with " + count(o_.watchers) + " watchers", per_s(update_rate_),
            count(o_.updates) + " merge patches, " + std::to_string(o_.clients) + " writers");
      if (update_delivery_.complete) {
        t.row("All watchers received all updates", fmt("%.2f s", update_delivery_.all_received),
              count(static_cast<size_t>(deliveries)) + " deliveries, from the first write; " +
                  cpu_note(update_cpu_));
        t.row("Watch deliveries/s", per_s(deliveries / update_delivery_.all_received),
              fmt("server CPU %.2f µs per delivery", update_cpu_.server_cpu * 1e6 / deliveries));
        t.row("Lag, update reply → last watcher (p50 / p99 / max)",
              ms(update_delivery_.lag_p50) + " / " + ms(update_delivery_.lag_p99) + " / " +
                  ms(update_delivery_.lag_max),
              "over all " + count(o_.updates) + " updates");
      } else {
        t.row("All watchers received all updates", "FAILED",
              std::to_string(update_delivery_.bad) + " watchers wrong; see failures");
      }
      t.row("Create rate, 0 watchers (" + count(o_.batch) + " creates)", per_s(batch_rate_quiet_),
            cpu_note(batch_quiet_cpu_));
      t.row("Create rate, " + count(o_.watchers) + " watchers (" + count(o_.batch) + " creates)",
            per_s(batch_rate_watched_),
            fmt("**%.2f×** the 0-watcher rate", batch_rate_watched_ / batch_rate_quiet_));
      // CPU rather than wall time: the figure other load on the machine moves least.
      const double batch = static_cast<double>(o_.batch);
      const double quiet_us = batch_quiet_cpu_.server_cpu * 1e6 / batch;
      const double watched_us = batch_watched_cpu_.server_cpu * 1e6 / batch;
      t.row("Server CPU per create, 0 → " + count(o_.watchers) + " watchers",
            fmt("%.0f µs → ", quiet_us) + fmt("%.0f µs", watched_us),
            fmt("**%.0f×**; with watchers this includes delivering the event to each",
                watched_us / quiet_us));
      if (batch_delivery_.complete) {
        t.row("All watchers received all creates", fmt("%.2f s", batch_delivery_.all_received),
              fmt("lag p99 %.1f ms", batch_delivery_.lag_p99 * 1e3) + "; " +
                  cpu_note(batch_watched_cpu_));
      } else {
        t.row("All watchers received all creates", "FAILED", "see failures");
      }
      t.row("RSS at the end", mib(static_cast<double>(rss_end_)),
            "includes client-side event records");
      t.row("Watch correctness",
            update_delivery_.complete && batch_delivery_.complete ? "pass" : "FAIL",
            "every watcher saw every event exactly once, in resourceVersion order");
    }
    t.print(os);
    if (g_failures.count()) {
      os << "\n## Failures (" << g_failures.count() << ")\n\n";
      for (const auto& m : g_failures.messages()) os << "- " << m << "\n";
    }
  }

  static constexpr const char* kBatchQuietNs = "bench-batch-quiet";
  static constexpr const char* kBatchWatchedNs = "bench-batch-watched";

  Options o_;
  std::string note_;
  std::string machine_, load_start_, load_end_;
  uint16_t port_ = 0;
  kubesim::ApiServer* api_ = nullptr;

  size_t rss_base_ = 0, rss_objects_ = 0, rss_end_ = 0;
  double rss_watch_delta_ = 0;
  double create_rate_ = 0, create_wall_ = 0, object_json_bytes_ = 0;
  size_t objects_in_store_ = 0, blobs_in_store_ = 0;
  PhaseClock::Reading create_cpu_, update_cpu_, batch_quiet_cpu_, batch_watched_cpu_;
  size_t list_items_ = 0, list_body_bytes_ = 0;
  double list_http_ = 0, list_http_paged_ = 0, list_inproc_ = 0, list_inproc_paged_ = 0;
  double list_all_inproc_ = 0, list_all_inproc_paged_ = 0;
  bool watched_ = false;
  double watch_open_ = 0, update_rate_ = 0, batch_rate_quiet_ = 0, batch_rate_watched_ = 0;
  size_t active_watches_ = 0;
  Delivery update_delivery_, batch_delivery_;
};

}  // namespace

int main(int argc, char** argv) {
  auto opts = parse_args(argc, argv);
  if (!opts) {
    usage();
    return 2;
  }
  // 1,000 watches are 2,000 sockets in this one process, plus the writers'.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  try {
    return Bench(std::move(*opts)).run();
  } catch (const std::exception& e) {
    std::cerr << "kubesim_bench: " << e.what() << "\n";
    return 1;
  }
}
