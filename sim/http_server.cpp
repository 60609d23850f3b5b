#include "sim/http_server.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kubesim {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// A response stalls only when the client stops reading; give it this long per write.
constexpr size_t kInitialReadBufferBytes = 16 * 1024;
constexpr std::chrono::seconds kWriteTimeout{60};
// After the last response on a connection: how long the client gets to read it
// and close before the socket is closed under it.
constexpr std::chrono::seconds kCloseTimeout{2};
// stop(): how long open connections get to finish before the io threads stop.
constexpr std::chrono::seconds kShutdownGrace{5};
// Accept errors such as EMFILE: Go's net/http Serve backs off 5ms doubling to 1s.
constexpr std::chrono::milliseconds kAcceptRetryMin{5};
constexpr std::chrono::milliseconds kAcceptRetryMax{1000};
// Read size while only waiting for the peer to close (watches, closing).
constexpr size_t kDrainChunkBytes = 4096;
// kube-apiserver sends this on every response so that nothing caches API data.
constexpr std::string_view kCacheControl = "no-cache, private";
constexpr std::string_view kLastChunk = "0\r\n\r\n";
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

void log_error(std::string_view message, std::string_view err) {
  std::ostringstream line;
  line << "kubesim http: " << message << " err=\"" << err << "\"\n";
  std::cerr << line.str();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> unescape(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi << 4 | lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

Response plain_error(int status, std::string text) {
  return Response{.status = status,
                  .content_type = "text/plain; charset=utf-8",
                  .body = std::to_string(status) + " " + std::move(text)};
}

Response status_error(const ApiError& error) {
  return Response{.status = error.code, .body = error.to_status().dump()};
}

// What Go's client needs to see to stay on HTTP/1.1: we select "http/1.1"
// when offered, and otherwise no protocol at all, never "h2".
int select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                const unsigned char* in, unsigned int inlen, void* /*arg*/) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  unsigned char selected_len = 0;
  if (SSL_select_next_proto(&selected, &selected_len, kHttp11, sizeof kHttp11, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  *outlen = selected_len;
  return SSL_TLSEXT_ERR_OK;
}

// The server side of a session that stop() can reach from another thread.
class Stoppable {
 public:
  virtual ~Stoppable() = default;
  virtual void shutdown() = 0;  // thread-safe: posts to the session's strand
};

// State every session shares with the server: the handler, the limits and the
// registry of live sessions that stop() walks. Sessions hold it by shared_ptr
// so that it outlives the last of them, wherever that one is destroyed.
struct ServerShared {
  Handler handler;
  size_t max_body_bytes = kDefaultMaxBodyBytes;
  std::chrono::seconds read_timeout = kDefaultReadTimeout;

  // False once stopping: the caller must close its connection.
  bool add(const void* key, std::weak_ptr<Stoppable> session) {
    std::lock_guard lock(mu);
    if (stopping) return false;
    sessions.emplace(key, std::move(session));
    return true;
  }
  void remove(const void* key) {
    std::lock_guard lock(mu);
    sessions.erase(key);
    if (sessions.empty()) cv.notify_all();
  }
  void shutdown_all() {
    std::vector<std::shared_ptr<Stoppable>> live;
    {
      std::lock_guard lock(mu);
      stopping = true;
      for (auto& [key, weak] : sessions) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    // Outside the lock: dropping `live` may destroy a session, which calls remove().
    for (auto& s : live) s->shutdown();
  }
  bool wait_until_empty(std::chrono::steady_clock::duration timeout) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return sessions.empty(); });
  }

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<const void*, std::weak_ptr<Stoppable>> sessions;
  bool stopping = false;
};

Request to_request(http::request<http::string_body>& req, std::string path,
                   std::map<std::string, std::string> query) {
  Request r;
  r.method = std::string(req.method_string());
  r.path = std::move(path);
  r.query = std::move(query);
  r.accept = std::string(req[http::field::accept]);
  r.content_type = std::string(req[http::field::content_type]);
  r.authorization = std::string(req[http::field::authorization]);
  r.user_agent = std::string(req[http::field::user_agent]);
  r.body = std::move(req.body());
  return r;
}

// Splits an origin-form ("/p?q") or absolute-form ("http://h/p?q") target.
std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  if (auto scheme = target.find("://"); scheme != std::string_view::npos && target[0] != '/') {
    auto slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

Reply call_handler(const Handler& handler, const Request& request) {
  try {
    Reply reply = handler(request);
    if (auto* watch = std::get_if<std::shared_ptr<WatchStream>>(&reply); watch && !*watch) {
      return status_error(internal_error("handler returned an empty watch stream"));
    }
    return reply;
  } catch (const std::exception& e) {
    log_error("Handler failed", e.what());
    return status_error(internal_error(std::string("handler failed: ") + e.what()));
  } catch (...) {
    log_error("Handler failed", "unknown exception");
    return status_error(internal_error("handler failed"));
  }
}

// The connection logic shared by plain and TLS sessions (CRTP, as in Beast's
// advanced_server_flex). Derived supplies stream(), shared_from_this(),
// weak_from_this() and do_graceful_close(). Every member function runs on the
// session's strand except shutdown().
template <class Derived>
class HttpSession : public Stoppable {
 public:
  void shutdown() override {
    net::post(derived().stream().get_executor(),
              [self = derived().shared_from_this()] { self->on_shutdown(); });
  }

 protected:
  enum class Phase { kReading, kWriting, kWatching, kClosing };

  HttpSession(const net::any_io_executor& ex, std::shared_ptr<ServerShared> shared)
      : shared_(std::move(shared)), watch_timer_(ex), close_timer_(ex) {
    // Beast's flat_buffer starts empty and reads 512 bytes at a time; a
    // request body of a few KiB should come in one read.
    buffer_.reserve(kInitialReadBufferBytes);
  }

  ~HttpSession() override {
    // Only io threads and the io_context hold sessions, so no watch callback
    // is running on this thread: clearing it cannot deadlock.
    if (watch_) {
      watch_->set_on_ready({});
      watch_->cancel();
    }
    shared_->remove(this);
  }

  Derived& derived() { return static_cast<Derived&>(*this); }
  auto& lowest() { return beast::get_lowest_layer(derived().stream()); }

  bool register_session() {
    if (shared_->add(this, derived().weak_from_this())) return true;
    beast::error_code ec;
    lowest().socket().close(ec);
    return false;
  }

  // ---- Reading a request ----

  void do_read() {
    if (stopping_) return close_now();
    phase_ = Phase::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(kMaxHeaderBytes));
    parser_->body_limit(shared_->max_body_bytes);
    lowest().expires_after(shared_->read_timeout);
    http::async_read_header(
        derived().stream(), buffer_, *parser_,
        beast::bind_front_handler(&HttpSession::on_read_header, derived().shared_from_this()));
  }

  void on_read_header(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return on_read_error(ec);
    if (!parser_->is_done() &&
        beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      lowest().expires_after(kWriteTimeout);
      net::async_write(
          derived().stream(), net::buffer(kContinue.data(), kContinue.size()),
          beast::bind_front_handler(&HttpSession::on_continue_sent, derived().shared_from_this()));
      return;
    }
    read_body();
  }

  void on_continue_sent(beast::error_code ec, size_t /*bytes*/) {
    if (ec || stopping_) return close_now();
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return handle_request();
    lowest().expires_after(shared_->read_timeout);
    http::async_read(
        derived().stream(), buffer_, *parser_,
        beast::bind_front_handler(&HttpSession::on_read_body, derived().shared_from_this()));
  }

  void on_read_body(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return on_read_error(ec);
    handle_request();
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return begin_close();  // client is done
    if (ec == http::error::body_limit) {
      ApiError too_large{.code = 413,
                         .reason = "RequestEntityTooLarge",
                         .message = "Request entity too large: limit is " +
                                    std::to_string(shared_->max_body_bytes)};
      return write_response(status_error(too_large), /*keep_alive=*/false);
    }
    if (ec == http::error::header_limit) {
      return write_response(plain_error(431, "Request Header Fields Too Large"), false);
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::partial_message) {
      return write_response(plain_error(400, "Bad Request"), false);
    }
    // Timeout, reset, truncated TLS, a half-sent request: nothing to answer.
    close_now();
  }

  // ---- Answering ----

  void handle_request() {
    auto& req = parser_->get();
    version_ = req.version();
    head_ = req.method() == http::verb::head;
    bool keep_alive = req.keep_alive();
    auto [raw_path, raw_query] = split_target(req.target());
    auto path = percent_decode_path(raw_path);
    if (!path) return write_response(plain_error(400, "Bad Request"), false);
    Request request = to_request(req, std::move(*path), parse_query(raw_query));
    parser_.reset();

    Reply reply = call_handler(shared_->handler, request);
    if (auto* response = std::get_if<Response>(&reply)) {
      write_response(std::move(*response), keep_alive);
    } else {
      start_watch(std::move(std::get<std::shared_ptr<WatchStream>>(reply)));
    }
  }

  void write_response(Response response, bool keep_alive) {
    if (response.status < 100 || response.status > 999) {
      response = status_error(
          internal_error("handler returned HTTP status " + std::to_string(response.status)));
    }
    phase_ = Phase::kWriting;
    res_.emplace();
    res_->version(version_);
    res_->result(static_cast<unsigned>(response.status));
    if (!response.content_type.empty()) res_->set(http::field::content_type, response.content_type);
    res_->set(http::field::cache_control, kCacheControl);
    for (const auto& [name, value] : response.headers) res_->insert(name, value);
    res_->keep_alive(keep_alive && !stopping_);
    if (head_) {
      res_->content_length(response.body.size());
    } else {
      res_->body() = std::move(response.body);
      res_->prepare_payload();
    }
    lowest().expires_after(kWriteTimeout);
    http::async_write(
        derived().stream(), *res_,
        beast::bind_front_handler(&HttpSession::on_write, derived().shared_from_this()));
  }

  void on_write(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return close_now();
    bool close = res_->need_eof();
    res_.reset();
    if (stopping_) return close_now();
    if (close) return begin_close();
    do_read();
  }

  // ---- Watches ----
  //
  // The response is chunked, one frame per chunk, and says "Connection:
  // close": the connection is not reused after a watch, so while it lasts the
  // only reads are those that notice the client going away, and no request can
  // be pipelined behind it. client-go opens a new connection per watch anyway.

  void start_watch(std::shared_ptr<WatchStream> watch) {
    phase_ = Phase::kWatching;
    watch_ = std::move(watch);
    chunked_ = version_ >= 11;
    http::response<http::empty_body> header{http::status::ok, version_};
    header.set(http::field::content_type, watch_->content_type);
    header.set(http::field::cache_control, kCacheControl);
    header.keep_alive(false);
    if (chunked_) header.chunked(true);
    std::ostringstream os;
    os << header.base();
    pending_header_ = os.str();

    lowest().expires_never();
    start_drain();
    schedule_tick(Clock::now());
    arm_watch_timer();
    // The producer may call on_ready from any thread; it only posts to our
    // strand, coalescing bursts, and never keeps the session alive.
    auto scheduled = ready_scheduled_;
    watch_->set_on_ready(
        [scheduled, weak = derived().weak_from_this(), ex = derived().stream().get_executor()] {
          if (scheduled->exchange(true, std::memory_order_acq_rel)) return;
          net::post(ex, [weak] {
            if (auto self = weak.lock()) self->on_watch_ready();
          });
        });
    pump_watch();  // the header goes out now: kubectl waits for it
  }

  void on_watch_ready() {
    ready_scheduled_->store(false, std::memory_order_release);
    pump_watch();
  }

  void pump_watch() {
    if (phase_ != Phase::kWatching || write_in_flight_ || !watch_) return;
    std::string out = std::exchange(pending_header_, {});
    bool ended = false;
    for (auto& frame : watch_->take(ended)) {
      if (frame.empty()) continue;  // an empty chunk would end the response
      if (chunked_) {
        char size[20];
        int n = std::snprintf(size, sizeof size, "%zx\r\n", frame.size());
        out.append(size, static_cast<size_t>(n));
        out += frame;
        out += "\r\n";
      } else {
        out += frame;
      }
    }
    // A watch cut on purpose (fault injection) ends as a network failure
    // would: the connection closes with no terminating chunk.
    if (ended && watch_->aborted()) return close_now();
    if (ended || end_requested_) {
      last_write_ = true;
      if (chunked_) out += kLastChunk;
    }
    if (out.empty()) return;
    out_ = std::move(out);
    write_in_flight_ = true;
    // Timed by our own timer: the stream's expiry is shared with the pending
    // drain read, which must never time out.
    write_deadline_ = Clock::now() + kWriteTimeout;
    if (write_deadline_ < timer_expiry_) arm_watch_timer();
    net::async_write(
        derived().stream(), net::buffer(out_),
        beast::bind_front_handler(&HttpSession::on_watch_write, derived().shared_from_this()));
  }

  void on_watch_write(beast::error_code ec, size_t /*bytes*/) {
    write_in_flight_ = false;
    write_deadline_ = Clock::time_point::max();
    out_.clear();
    if (ec) return close_now();  // cancels the watch: nobody is there to receive it
    if (!last_write_) return pump_watch();
    finish_watch(/*cancel=*/false);
    if (stopping_) return close_now();
    begin_close();
  }

  void schedule_tick(Clock::time_point now) {
    auto interval = watch_->tick_interval();
    next_tick_ = interval.count() > 0 ? now + interval : Clock::time_point::max();
  }

  // Wakes for the next of: a tick, the watch's deadline, a write's deadline.
  void arm_watch_timer() {
    auto next = end_requested_ ? write_deadline_
                               : std::min({watch_->deadline(), next_tick_, write_deadline_});
    timer_expiry_ = next;
    if (next == Clock::time_point::max()) {
      watch_timer_.cancel();  // a pending wait would keep the session alive
      return;
    }
    watch_timer_.expires_at(next);  // cancels an earlier wait, if any
    watch_timer_.async_wait(
        beast::bind_front_handler(&HttpSession::on_watch_timer, derived().shared_from_this()));
  }

  void on_watch_timer(beast::error_code ec) {
    if (ec || phase_ != Phase::kWatching || !watch_) return;
    timer_expiry_ = Clock::time_point::max();
    auto now = Clock::now();
    if (now >= write_deadline_) return close_now();  // the client stopped reading
    if (end_requested_) return arm_watch_timer();
    if (now >= watch_->deadline()) return end_watch();
    if (now >= next_tick_) {
      watch_->tick(now);
      schedule_tick(now);
    }
    arm_watch_timer();
  }

  // The server ends the watch (deadline, stop): flush what is queued, then
  // the last chunk, whether or not the producer honours cancel().
  void end_watch() {
    end_requested_ = true;
    watch_->cancel();
    pump_watch();
    arm_watch_timer();  // from now on only a stalled write needs waking for
  }

  void finish_watch(bool cancel) {
    if (!watch_) return;
    auto watch = std::move(watch_);
    watch->set_on_ready({});
    if (cancel) watch->cancel();
    watch_timer_.cancel();
  }

  // ---- Closing ----

  // Reads and discards until the peer closes. While watching, its end means
  // the client went away; while closing, it keeps our unread data from turning
  // the close into a reset that could destroy the response in flight.
  void start_drain() {
    drain_pending_ = true;
    derived().stream().async_read_some(
        buffer_.prepare(kDrainChunkBytes),
        beast::bind_front_handler(&HttpSession::on_drain, derived().shared_from_this()));
  }

  void on_drain(beast::error_code ec, size_t /*bytes*/) {
    drain_pending_ = false;
    if (!ec && phase_ != Phase::kReading && phase_ != Phase::kWriting) return start_drain();
    close_now();  // while watching: the client went away, so the watch is cancelled
  }

  void begin_close() {
    if (phase_ == Phase::kClosing) return;
    phase_ = Phase::kClosing;
    close_timer_.expires_after(kCloseTimeout);
    close_timer_.async_wait([self = derived().shared_from_this()](beast::error_code ec) {
      if (!ec) self->close_now();
    });
    derived().do_graceful_close();
  }

  void close_now() {
    phase_ = Phase::kClosing;
    finish_watch(/*cancel=*/true);
    watch_timer_.cancel();
    close_timer_.cancel();
    lowest().close();  // pending operations complete with operation_aborted
  }

  void on_shutdown() {
    stopping_ = true;
    switch (phase_) {
      case Phase::kReading:
      case Phase::kClosing:
        return close_now();
      case Phase::kWriting:
        return;  // on_write closes after the response
      case Phase::kWatching:
        if (!end_requested_) end_watch();
        return;
    }
  }

  std::shared_ptr<ServerShared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  unsigned version_ = 11;
  bool head_ = false;
  Phase phase_ = Phase::kReading;
  bool stopping_ = false;
  bool drain_pending_ = false;

  std::shared_ptr<WatchStream> watch_;
  std::shared_ptr<std::atomic<bool>> ready_scheduled_ = std::make_shared<std::atomic<bool>>(false);
  net::steady_timer watch_timer_;
  net::steady_timer close_timer_;
  std::string pending_header_;
  std::string out_;
  bool chunked_ = true;
  bool write_in_flight_ = false;
  Clock::time_point write_deadline_ = Clock::time_point::max();
  Clock::time_point next_tick_ = Clock::time_point::max();
  Clock::time_point timer_expiry_ = Clock::time_point::max();  // max: not armed
  bool end_requested_ = false;
  bool last_write_ = false;
};

class PlainSession : public HttpSession<PlainSession>,
                     public std::enable_shared_from_this<PlainSession> {
 public:
  PlainSession(tcp::socket&& socket, std::shared_ptr<ServerShared> shared)
      : HttpSession(socket.get_executor(), std::move(shared)), stream_(std::move(socket)) {}

  void run() {
    if (!register_session()) return;
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&PlainSession::do_read, shared_from_this()));
  }

  beast::tcp_stream& stream() { return stream_; }

  void do_graceful_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (!drain_pending_) start_drain();
  }

 private:
  beast::tcp_stream stream_;
};

class TlsSession : public HttpSession<TlsSession>, public std::enable_shared_from_this<TlsSession> {
 public:
  TlsSession(tcp::socket&& socket, ssl::context& ctx, std::shared_ptr<ServerShared> shared)
      : HttpSession(socket.get_executor(), std::move(shared)), stream_(std::move(socket), ctx) {}

  void run() {
    if (!register_session()) return;
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&TlsSession::on_run, shared_from_this()));
  }

  beast::ssl_stream<beast::tcp_stream>& stream() { return stream_; }

  void do_graceful_close() {
    if (drain_pending_) {
      // A read is outstanding (a watch ended): a TLS shutdown would be a
      // second concurrent read. The response is complete, so a plain FIN is
      // enough and the drain notices the client closing.
      beast::error_code ec;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->close_now(); });
  }

 private:
  void on_run() {
    lowest().expires_after(shared_->read_timeout);
    stream_.async_handshake(
        ssl::stream_base::server,
        beast::bind_front_handler(&TlsSession::on_handshake, shared_from_this()));
  }

  void on_handshake(beast::error_code ec) {
    if (ec) return close_now();
    do_read();
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
};

}  // namespace

std::optional<std::string> percent_decode_path(std::string_view raw_path) {
  return unescape(raw_path, /*plus_is_space=*/false);
}

std::map<std::string, std::string> parse_query(std::string_view raw_query) {
  std::map<std::string, std::string> out;
  while (!raw_query.empty()) {
    auto amp = raw_query.find('&');
    std::string_view pair = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view{} : raw_query.substr(amp + 1);
    if (pair.empty() || pair.find(';') != std::string_view::npos) continue;
    auto eq = pair.find('=');
    auto key = unescape(pair.substr(0, eq), true);
    auto value =
        unescape(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
    if (!key || !value) continue;
    out[std::move(*key)] = std::move(*value);
  }
  return out;
}

struct HttpServer::Impl {
  Impl(HttpServerOptions opts, Handler handler)
      : options(std::move(opts)),
        shared(std::make_shared<ServerShared>()),
        ioc(std::max(options.threads, 1)),
        acceptor(net::make_strand(ioc)),
        accept_timer(acceptor.get_executor()) {
    shared->handler = std::move(handler);
    shared->max_body_bytes = options.max_body_bytes;
    shared->read_timeout = options.read_timeout;
  }

  Result<void> configure_tls(const TlsMaterial& tls) {
    ssl_ctx.emplace(ssl::context::tls_server);
    SSL_CTX_set_min_proto_version(ssl_ctx->native_handle(), TLS1_2_VERSION);
    ssl_ctx->set_options(ssl::context::default_workarounds | ssl::context::single_dh_use);
    beast::error_code ec;
    ssl_ctx->use_certificate_chain(net::buffer(tls.server_cert_pem), ec);
    if (!ec) ssl_ctx->use_private_key(net::buffer(tls.server_key_pem), ssl::context::pem, ec);
    if (ec) return Unexpected(internal_error("loading TLS certificate and key: " + ec.message()));
    SSL_CTX_set_alpn_select_cb(ssl_ctx->native_handle(), select_alpn, nullptr);
    return {};
  }

  Result<void> listen() {
    beast::error_code ec;
    auto address = net::ip::make_address(options.address, ec);
    if (ec) return Unexpected(internal_error("invalid listen address \"" + options.address + "\""));
    tcp::endpoint endpoint(address, options.port);
    auto fail = [&](const char* step) {
      return Unexpected(internal_error(std::string(step) + " " + options.address + ":" +
                                       std::to_string(options.port) + ": " + ec.message()));
    };
    if (acceptor.open(endpoint.protocol(), ec); ec) return fail("open");
    if (acceptor.set_option(net::socket_base::reuse_address(true), ec); ec) return fail("reuse");
    if (acceptor.bind(endpoint, ec); ec) return fail("bind");
    if (acceptor.listen(net::socket_base::max_listen_connections, ec); ec) return fail("listen");
    bound_port = acceptor.local_endpoint(ec).port();
    if (ec) return fail("local endpoint of");
    return {};
  }

  void do_accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      on_accept(ec, std::move(socket));
    });
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      log_error("Failed to accept connection", ec.message());
      accept_timer.expires_after(accept_backoff);
      accept_backoff = std::min(accept_backoff * 2, kAcceptRetryMax);
      accept_timer.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && acceptor.is_open()) do_accept();
      });
      return;
    }
    accept_backoff = kAcceptRetryMin;
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // watch frames are small: no Nagle delay
    if (ssl_ctx) {
      std::make_shared<TlsSession>(std::move(socket), *ssl_ctx, shared)->run();
    } else {
      std::make_shared<PlainSession>(std::move(socket), shared)->run();
    }
    do_accept();
  }

  void run_io() {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        log_error("Recovered from exception on io thread", e.what());
      }
    }
  }

  HttpServerOptions options;
  std::shared_ptr<ServerShared> shared;
  std::optional<ssl::context> ssl_ctx;  // outlives the io_context and its sessions
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::steady_timer accept_timer;
  std::chrono::milliseconds accept_backoff = kAcceptRetryMin;
  std::vector<std::thread> threads;
  std::atomic<uint16_t> bound_port{0};  // read by port() without the lock
  bool started = false;
  bool stopped = false;
  std::mutex lifecycle_mu;  // start() and stop() may race from different threads
};

HttpServer::HttpServer(HttpServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

Result<void> HttpServer::start() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->started || impl_->stopped) {
    return Unexpected(internal_error("HttpServer::start called more than once"));
  }
  if (impl_->options.threads < 1) {
    return Unexpected(internal_error("HttpServer needs at least one io thread"));
  }
  if (impl_->options.tls) {
    if (auto r = impl_->configure_tls(*impl_->options.tls); !r) return r;
  }
  if (auto r = impl_->listen(); !r) return r;
  impl_->started = true;
  impl_->do_accept();
  for (int i = 0; i < impl_->options.threads; ++i) {
    impl_->threads.emplace_back([impl = impl_.get()] { impl->run_io(); });
  }
  return {};
}

uint16_t HttpServer::port() const { return impl_->bound_port.load(); }

void HttpServer::stop() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (!impl_->started) return;
  Impl* impl = impl_.get();
  net::post(impl->acceptor.get_executor(), [impl] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->accept_timer.cancel();
  });
  impl->shared->shutdown_all();
  if (!impl->shared->wait_until_empty(kShutdownGrace)) {
    log_error("Stopped with connections still open", "shutdown grace period expired");
  }
  impl->ioc.stop();
  for (auto& t : impl->threads) t.join();
  impl->threads.clear();
}

}  // namespace kubesim
