#include "sim/model_server.h"

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <exception>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sim/names.h"

namespace kubesim {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Beast's default header limit is 8 KiB; a proxy in front adds X-Forwarded-*
// and tracing headers, so allow what nginx does in total
// (large_client_header_buffers 4 x 8 KiB). Over it: 431.
constexpr uint32_t kModelMaxHeaderBytes = 32 * 1024;
// How long a client may take to send a request's header, and again its body;
// also the idle keep-alive limit. Longer than Go's http.Transport
// IdleConnTimeout (90 s), so that a proxy's pooled connection is retired by
// the proxy and never closed under it by us (the reuse race).
constexpr std::chrono::seconds kModelReadTimeout{120};
// A response stalls only when the client stops reading; give it this long per write.
constexpr std::chrono::seconds kModelWriteTimeout{60};
// Accept errors such as EMFILE: Go's net/http Serve backs off 5ms doubling to 1s.
constexpr std::chrono::milliseconds kAcceptRetryMin{5};
constexpr std::chrono::milliseconds kAcceptRetryMax{1000};
constexpr size_t kInitialReadBufferBytes = 8 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr const char* kJson = "application/json";
constexpr const char* kText = "text/plain; charset=utf-8";

// Set on the pool's io threads: stop() must not wait for them from one of them.
thread_local const void* t_io_pool = nullptr;

void log_error(std::string_view message, std::string_view err) {
  std::ostringstream line;
  line << "kubesim model-server: " << message << " err=\"" << err << "\"\n";
  std::cerr << line.str();
}

std::string endpoint_text(const ModelServerOptions& o) {
  return o.address + ":" + std::to_string(o.port);
}

Result<void> validate(const ModelServerOptions& o) {
  beast::error_code ec;
  net::ip::make_address(o.address, ec);
  if (ec) return Unexpected(bad_request("model server address \"" + o.address + "\" is not an IP"));
  if (o.port == 0) return Unexpected(bad_request("model server port must be 1..65535"));
  if (o.latency_ms < 0) return Unexpected(bad_request("model server latency_ms must be >= 0"));
  if (o.max_concurrency < 1) {
    return Unexpected(bad_request("model server max_concurrency must be >= 1"));
  }
  return {};
}

// Everything of the model response but the request id, serialised once per
// server: the JSON ends `"requestId":` and each response appends `N}`.
std::string response_prefix(const ModelServerOptions& o) {
  nlohmann::ordered_json j;
  j["model"] = o.pod_name;
  j["pod"] = o.pod_namespace + "/" + o.pod_name;
  j["podIP"] = o.address;
  j["latencyMs"] = o.latency_ms;
  std::string s = j.dump();
  s.pop_back();  // the closing brace
  s += ",\"requestId\":";
  return s;
}

json stats_json(const ModelServerStats& s, const ModelServerOptions& o) {
  return json{{"requestsTotal", s.requests_total},
              {"rejectedTotal", s.rejected_total},
              {"inFlight", s.in_flight},
              {"queued", s.queued},
              {"maxInFlightSeen", s.max_in_flight_seen},
              {"startedAt", rfc3339(s.started_at)},
              {"latencyMs", o.latency_ms},
              {"maxConcurrency", o.max_concurrency},
              {"maxQueue", o.max_queue}};
}

class Session;

// One model server: the acceptor, its sessions and the computing slots. Every
// member except `published_` (and the constants) is touched only on `strand`.
class ModelServer : public std::enable_shared_from_this<ModelServer> {
 public:
  enum class Admission { kComputeNow, kQueued, kRejected };

  ModelServer(net::io_context& ioc, ModelServerOptions opts)
      : options(std::move(opts)),
        prefix(response_prefix(options)),
        strand(net::make_strand(ioc)),
        acceptor_(strand),
        accept_timer_(strand),
        started_at_(std::chrono::system_clock::now()) {
    publish();
  }

  // Runs on the caller's thread before any asynchronous operation exists.
  Result<void> listen() {
    beast::error_code ec;
    tcp::endpoint endpoint(net::ip::make_address(options.address, ec), options.port);
    auto fail = [&](const char* step) {
      return Unexpected(
          internal_error(std::string(step) + " " + endpoint_text(options) + ": " + ec.message()));
    };
    if (acceptor_.open(endpoint.protocol(), ec); ec) return fail("open");
    // A restarted pod binds again while the connections its predecessor
    // closed sit in TIME_WAIT; it never lets two listeners share the port.
    if (acceptor_.set_option(net::socket_base::reuse_address(true), ec); ec) return fail("reuse");
    if (acceptor_.bind(endpoint, ec); ec) return fail("bind");
    if (acceptor_.listen(net::socket_base::max_listen_connections, ec); ec) return fail("listen");
    return {};
  }

  void do_accept() {
    acceptor_.async_accept(strand,
                           [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                             self->on_accept(ec, std::move(socket));
                           });
  }

  Admission admit(const std::shared_ptr<Session>& session, uint64_t& request_id);
  void release();
  void shutdown();

  ModelServerStats snapshot() const {
    std::lock_guard lock(published_mu_);
    return published_;
  }

  const ModelServerOptions options;
  const std::string prefix;
  const net::strand<net::io_context::executor_type> strand;

 private:
  friend class Session;

  void on_accept(beast::error_code ec, tcp::socket socket);

  void publish() {
    std::lock_guard lock(published_mu_);
    published_ = ModelServerStats{.requests_total = requests_total_,
                                  .rejected_total = rejected_total_,
                                  .in_flight = computing_,
                                  .queued = static_cast<int>(waiting_.size()),
                                  .max_in_flight_seen = max_in_flight_seen_,
                                  .started_at = started_at_};
  }

  tcp::acceptor acceptor_;
  net::steady_timer accept_timer_;
  std::chrono::milliseconds accept_backoff_ = kAcceptRetryMin;
  const std::chrono::system_clock::time_point started_at_;
  bool stopped_ = false;
  int computing_ = 0;
  std::deque<std::shared_ptr<Session>> waiting_;  // FIFO, as a real server's queue
  std::unordered_map<const Session*, std::weak_ptr<Session>> sessions_;  // what shutdown() cuts
  uint64_t requests_total_ = 0;
  uint64_t rejected_total_ = 0;
  int max_in_flight_seen_ = 0;

  mutable std::mutex published_mu_;
  ModelServerStats published_;  // the engine's thread reads this copy
};

// One connection. Its socket and timer run on the server's strand, so every
// member function runs there too. At most one request is handled at a time:
// while it waits for a slot or computes, nothing is read, and pipelined
// requests wait in the buffer, as HTTP/1.1 requires.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<ModelServer> server)
      : stream_(std::move(socket)), server_(std::move(server)), compute_timer_(server_->strand) {
    buffer_.reserve(kInitialReadBufferBytes);
  }

  // The last reference is dropped by a handler on the strand, by shutdown()
  // on the strand, or by the io_context's destructor after the io threads
  // joined: touching the server's registry here is never concurrent.
  ~Session() { server_->sessions_.erase(this); }

  void run() {
    if (server_->stopped_) return close_now();
    server_->sessions_.emplace(this, weak_from_this());
    do_read();
  }

  bool closed() const { return closed_; }

  // A computing slot was granted: wait out the simulated inference time.
  void compute() {
    computing_ = true;
    if (server_->options.latency_ms == 0) return on_computed({});
    compute_timer_.expires_after(std::chrono::milliseconds(server_->options.latency_ms));
    compute_timer_.async_wait(beast::bind_front_handler(&Session::on_computed, shared_from_this()));
  }

  void close_now() {
    if (closed_) return;
    closed_ = true;
    compute_timer_.cancel();
    if (computing_) {
      computing_ = false;
      server_->release();
    }
    stream_.close();  // pending operations complete with operation_aborted
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->header_limit(kModelMaxHeaderBytes);
    parser_->body_limit(kModelMaxBodyBytes);
    stream_.expires_after(kModelReadTimeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, size_t /*bytes*/) {
    if (closed_) return;
    if (ec) return on_read_error(ec);
    if (!parser_->is_done() &&
        beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      stream_.expires_after(kModelWriteTimeout);
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       beast::bind_front_handler(&Session::on_continue_sent, shared_from_this()));
      return;
    }
    read_body();
  }

  void on_continue_sent(beast::error_code ec, size_t /*bytes*/) {
    if (closed_) return;
    if (ec) return close_now();
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return on_request();
    stream_.expires_after(kModelReadTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, size_t /*bytes*/) {
    if (closed_) return;
    if (ec) return on_read_error(ec);
    on_request();
  }

  void on_read_error(beast::error_code ec) {
    keep_alive_ = false;
    if (ec == http::error::body_limit) {
      return respond(http::status::payload_too_large, kText,
                     "413 request body over " + std::to_string(kModelMaxBodyBytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return respond(http::status::request_header_fields_too_large, kText,
                     "431 Request Header Fields Too Large");
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return respond(http::status::bad_request, kText, "400 Bad Request");
    }
    // The client closed, timed out, reset or sent half a request: nothing to answer.
    close_now();
  }

  void on_request() {
    const auto& req = parser_->get();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    head_ = req.method() == http::verb::head;
    beast::string_view target = req.target();
    beast::string_view path = target.substr(0, target.find('?'));
    bool health = path == kModelHealthPath;
    bool stats = path == kModelStatsPath;
    parser_.reset();  // frees the body: a simulated model ignores its input

    // The two reserved paths answer whatever the method: a probe or a
    // scrape must never wait behind inference.
    if (health) return respond(http::status::ok, kText, "ok");
    if (stats) {
      return respond(http::status::ok, kJson,
                     stats_json(server_->snapshot(), server_->options).dump());
    }
    switch (server_->admit(shared_from_this(), request_id_)) {
      case ModelServer::Admission::kComputeNow:
        return compute();
      case ModelServer::Admission::kQueued:
        return;  // the server calls compute() when a slot frees up
      case ModelServer::Admission::kRejected:
        return respond(
            http::status::service_unavailable, kJson,
            json{{"error", "queue full"}, {"maxQueue", server_->options.max_queue}}.dump());
    }
  }

  void on_computed(beast::error_code ec) {
    if (ec || closed_ || !computing_) return;
    computing_ = false;
    server_->release();
    respond(http::status::ok, kJson, server_->prefix + std::to_string(request_id_) + "}");
  }

  void respond(http::status status, const char* content_type, std::string body) {
    res_.emplace(status, version_);
    res_->set(http::field::content_type, content_type);
    res_->keep_alive(keep_alive_);
    if (head_) {
      res_->content_length(body.size());
    } else {
      res_->body() = std::move(body);
      res_->prepare_payload();
    }
    stream_.expires_after(kModelWriteTimeout);
    http::async_write(stream_, *res_,
                      beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, size_t /*bytes*/) {
    if (closed_) return;
    if (ec) return close_now();
    bool close = res_->need_eof();
    res_.reset();
    if (close) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return close_now();
    }
    do_read();
  }

  beast::tcp_stream stream_;
  std::shared_ptr<ModelServer> server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  net::steady_timer compute_timer_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  bool computing_ = false;  // holds one of the server's slots
  bool closed_ = false;
  uint64_t request_id_ = 0;
};

void ModelServer::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || stopped_) return;
  if (ec) {
    log_error("Failed to accept connection on " + endpoint_text(options), ec.message());
    accept_timer_.expires_after(accept_backoff_);
    accept_backoff_ = std::min(accept_backoff_ * 2, kAcceptRetryMax);
    accept_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
      if (!wait_ec && !self->stopped_) self->do_accept();
    });
    return;
  }
  accept_backoff_ = kAcceptRetryMin;
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // small responses: no Nagle delay
  std::make_shared<Session>(std::move(socket), shared_from_this())->run();
  do_accept();
}

ModelServer::Admission ModelServer::admit(const std::shared_ptr<Session>& session,
                                          uint64_t& request_id) {
  request_id = ++requests_total_;
  Admission admission = Admission::kRejected;
  if (computing_ < options.max_concurrency) {
    ++computing_;
    max_in_flight_seen_ = std::max(max_in_flight_seen_, computing_);
    admission = Admission::kComputeNow;
  } else if (waiting_.size() < options.max_queue) {
    waiting_.push_back(session);
    admission = Admission::kQueued;
  } else {
    ++rejected_total_;
  }
  publish();
  return admission;
}

// A request finished computing (or its connection was cut): its slot goes to
// the longest-waiting request. With latency 0 compute() finishes at once and
// re-enters here, but then nothing ever waits, so the recursion is one deep.
void ModelServer::release() {
  if (stopped_) return;
  --computing_;
  while (computing_ < options.max_concurrency && !waiting_.empty()) {
    auto next = std::move(waiting_.front());
    waiting_.pop_front();
    if (next->closed()) continue;
    ++computing_;
    max_in_flight_seen_ = std::max(max_in_flight_seen_, computing_);
    next->compute();
  }
  publish();
}

// Like a killed process: the listener and every connection close now, and
// requests waiting or computing get no answer.
void ModelServer::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  beast::error_code ignored;
  acceptor_.close(ignored);
  accept_timer_.cancel();
  std::vector<std::shared_ptr<Session>> live;
  live.reserve(sessions_.size());
  for (auto& [ptr, weak] : sessions_) {
    if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  // Cleared before closing: a session destroyed below erases itself from it.
  sessions_.clear();
  for (auto& s : live) s->close_now();
  computing_ = 0;
  auto waiting = std::move(waiting_);
  waiting_.clear();
  publish();
}

}  // namespace

struct ModelServerPool::Impl {
  explicit Impl(int thread_count) : ioc(thread_count), work(net::make_work_guard(ioc)) {
    for (int i = 0; i < thread_count; ++i) threads.emplace_back([this] { run_io(); });
  }

  void run_io() {
    t_io_pool = this;
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        log_error("Recovered from exception on io thread", e.what());
      }
    }
  }

  // Waits until the server is closed, except on an io thread, where waiting
  // could deadlock the pool: there the close is only scheduled.
  void close(const std::shared_ptr<ModelServer>& server) {
    if (t_io_pool == this) {
      net::dispatch(server->strand, [server] { server->shutdown(); });
      return;
    }
    std::promise<void> done;
    auto closed = done.get_future();
    net::dispatch(server->strand, [server, &done] {
      server->shutdown();
      done.set_value();
    });
    closed.wait();
  }

  net::io_context ioc;  // first member: destroyed last, after the servers' handlers
  net::executor_work_guard<net::io_context::executor_type> work;
  std::vector<std::thread> threads;
  mutable std::mutex mu;  // guards servers; never held while waiting for a strand
  std::map<std::string, std::shared_ptr<ModelServer>> servers;
};

ModelServerPool::ModelServerPool(int threads)
    : impl_(std::make_unique<Impl>(std::max(threads, 1))) {}

ModelServerPool::~ModelServerPool() {
  std::map<std::string, std::shared_ptr<ModelServer>> servers;
  {
    std::lock_guard lock(impl_->mu);
    servers.swap(impl_->servers);
  }
  for (auto& [key, server] : servers) impl_->close(server);
  servers.clear();
  // Every socket and timer is closed; what is left are aborted completions,
  // which the io_context's destructor destroys along with their sessions.
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
}

Result<void> ModelServerPool::start(const std::string& key, ModelServerOptions options) {
  if (auto valid = validate(options); !valid) return valid;
  std::lock_guard lock(impl_->mu);
  if (impl_->servers.count(key)) return Unexpected(already_exists("", "modelservers", key));
  auto server = std::make_shared<ModelServer>(impl_->ioc, std::move(options));
  if (auto listening = server->listen(); !listening) return listening;
  impl_->servers.emplace(key, server);
  net::post(server->strand, [server] { server->do_accept(); });
  return {};
}

void ModelServerPool::stop(const std::string& key) {
  std::shared_ptr<ModelServer> server;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->servers.find(key);
    if (it == impl_->servers.end()) return;
    server = std::move(it->second);
    impl_->servers.erase(it);
  }
  impl_->close(server);
}

std::optional<ModelServerStats> ModelServerPool::stats(const std::string& key) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->servers.find(key);
  if (it == impl_->servers.end()) return std::nullopt;
  return it->second->snapshot();
}

bool ModelServerPool::running(const std::string& key) const {
  std::lock_guard lock(impl_->mu);
  return impl_->servers.count(key) > 0;
}

size_t ModelServerPool::size() const {
  std::lock_guard lock(impl_->mu);
  return impl_->servers.size();
}

}  // namespace kubesim
