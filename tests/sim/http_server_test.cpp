#include "sim/http_server.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sim/tls.h"
#include "tests/support/poll.h"

namespace kubesim {
namespace {

using frugal::testing::eventually;

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every client operation is bounded by this through tcp_stream's timeouts.
constexpr auto kOpTimeout = 10s;

// ---- Server-side test doubles ----

// A watch the test drives by hand: frames and the end come from the test
// thread (or any other), cancel() and tick() are recorded.
class TestWatch : public WatchStream {
 public:
  TestWatch(Clock::time_point deadline, std::chrono::milliseconds tick, bool frame_per_tick) {
    deadline_ = deadline;
    tick_interval_ = tick;
    frame_per_tick_ = frame_per_tick;
  }
  void send(std::string frame) { push(std::move(frame)); }
  void finish() { end(); }
  void cancel() override {
    cancelled = true;
    WatchStream::cancel();
  }
  void tick(Clock::time_point) override {
    ++ticks;
    if (frame_per_tick_) push("{\"tick\":" + std::to_string(ticks.load()) + "}\n");
  }

  std::atomic<bool> cancelled{false};
  std::atomic<int> ticks{0};

 private:
  bool frame_per_tick_ = false;
};

class WatchRegistry {
 public:
  void add(std::shared_ptr<TestWatch> w) {
    std::lock_guard lock(mu_);
    watches_.push_back(std::move(w));
  }
  std::vector<std::shared_ptr<TestWatch>> all() const {
    std::lock_guard lock(mu_);
    return watches_;
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return watches_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<TestWatch>> watches_;
};

// Routes: /echo (the parsed request as JSON), /headers, /throw and /watch
// (?deadlineMs=&tickMs=&tickFrames=1), anything else 404.
Handler test_handler(WatchRegistry& watches) {
  return [&watches](const Request& req) -> Reply {
    if (req.path == "/watch") {
      auto deadline =
          req.query.count("deadlineMs")
              ? Clock::now() + std::chrono::milliseconds(std::stoi(req.param("deadlineMs")))
              : Clock::time_point::max();
      auto tick = std::chrono::milliseconds(std::stoi(req.param("tickMs", "1000")));
      auto w = std::make_shared<TestWatch>(deadline, tick, req.param("tickFrames") == "1");
      w->content_type = "application/json;stream=watch";
      watches.add(w);
      return w;
    }
    if (req.path == "/throw") throw std::runtime_error("boom");
    if (req.path == "/headers") {
      return Response{.status = 201,
                      .content_type = "text/plain",
                      .body = "made",
                      .headers = {{"X-Test", "yes"}, {"Retry-After", "3"}}};
    }
    if (req.path == "/echo" || req.path.starts_with("/echo/")) {
      json q = json::object();
      for (const auto& [k, v] : req.query) q[k] = v;
      return Response{.body = json{{"method", req.method},
                                   {"path", req.path},
                                   {"query", q},
                                   {"accept", req.accept},
                                   {"contentType", req.content_type},
                                   {"authorization", req.authorization},
                                   {"userAgent", req.user_agent},
                                   {"body", req.body}}
                                  .dump()};
    }
    return Response{.status = 404, .body = "{}"};
  };
}

class TestServer {
 public:
  explicit TestServer(HttpServerOptions options = {})
      : server_(std::move(options), test_handler(watches)) {
    auto started = server_.start();
    if (!started) throw std::runtime_error(started.error().message);
  }
  uint16_t port() const { return server_.port(); }
  void stop() { server_.stop(); }

  WatchRegistry watches;

 private:
  HttpServer server_;
};

// ---- Client side: Beast over a background io_context, one op at a time ----

struct OpResult {
  beast::error_code ec;
  size_t bytes = 0;
};

// Starts an async operation, passing it a handler that fulfils a promise, and
// waits. (Not net::use_future: g++ 12 with sanitizers warns inside it.)
template <class Start>
OpResult await(Start start) {
  auto done = std::make_shared<std::promise<OpResult>>();
  auto result = done->get_future();
  start([done](beast::error_code ec, size_t bytes = 0) { done->set_value({ec, bytes}); });
  return result.get();
}

// As await, throwing system_error on failure.
template <class Start>
size_t run(Start start) {
  auto r = await(std::move(start));
  if (r.ec) throw boost::system::system_error(r.ec);
  return r.bytes;
}

class ClientLoop {
 public:
  ClientLoop() : guard_(net::make_work_guard(ioc_)), thread_([this] { ioc_.run(); }) {}
  ClientLoop(const ClientLoop&) = delete;
  ClientLoop& operator=(const ClientLoop&) = delete;
  ~ClientLoop() {
    guard_.reset();
    ioc_.stop();
    thread_.join();
  }
  net::io_context& ioc() { return ioc_; }

 private:
  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> guard_;
  std::thread thread_;
};

http::request<http::string_body> get(const std::string& target) {
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  return req;
}

// Reads one chunked response chunk by chunk (Beast's documented pattern).
class ChunkReader {
 public:
  ChunkReader() {
    parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser_.on_chunk_header(on_header_);
    parser_.on_chunk_body(on_body_);
  }
  http::response_parser<http::empty_body>& parser() { return parser_; }
  std::string take_chunk() { return std::exchange(chunk_, {}); }

 private:
  std::string chunk_;
  std::function<void(std::uint64_t, std::string_view, beast::error_code&)> on_header_ =
      [this](std::uint64_t size, std::string_view, beast::error_code&) {
        chunk_.clear();
        chunk_.reserve(size);
      };
  std::function<std::size_t(std::uint64_t, std::string_view, beast::error_code&)> on_body_ =
      [this](std::uint64_t remain, std::string_view body, beast::error_code& ec) {
        if (remain == body.size()) ec = http::error::end_of_chunk;
        chunk_.append(body.data(), body.size());
        return body.size();
      };
  http::response_parser<http::empty_body> parser_;
};

// One client connection; Stream is beast::tcp_stream or an ssl_stream over it.
template <class Stream>
class Connection {
 public:
  template <class... Args>
  explicit Connection(Args&&... args) : stream_(std::forward<Args>(args)...) {}

  void connect(uint16_t port) {
    lowest().expires_after(kOpTimeout);
    tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
    run([&](auto handler) { lowest().async_connect(endpoint, std::move(handler)); });
  }

  Stream& stream() { return stream_; }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void send(http::request<http::string_body> req) {
    req.prepare_payload();
    lowest().expires_after(kOpTimeout);
    run([&](auto handler) { http::async_write(stream_, req, std::move(handler)); });
  }

  void send_raw(const std::string& bytes) {
    lowest().expires_after(kOpTimeout);
    run([&](auto handler) { net::async_write(stream_, net::buffer(bytes), std::move(handler)); });
  }

  http::response<http::string_body> receive() {
    http::response<http::string_body> res;
    lowest().expires_after(kOpTimeout);
    run([&](auto handler) { http::async_read(stream_, buffer_, res, std::move(handler)); });
    return res;
  }

  http::response<http::string_body> request(http::request<http::string_body> req) {
    send(std::move(req));
    return receive();
  }

  // True once the server has closed the connection (EOF or reset).
  bool closed_by_server() {
    char byte = 0;
    lowest().expires_after(kOpTimeout);
    auto r = await(
        [&](auto handler) { stream_.async_read_some(net::buffer(&byte, 1), std::move(handler)); });
    return r.ec && r.ec != beast::error::timeout;
  }

  // Like closed_by_server, but discards whatever arrives before the close.
  bool closed_after_any_bytes() {
    for (;;) {
      char buf[512];
      lowest().expires_after(kOpTimeout);
      auto r = await(
          [&](auto handler) { stream_.async_read_some(net::buffer(buf), std::move(handler)); });
      if (r.ec) return r.ec != beast::error::timeout;
    }
  }

  // Watch responses.
  http::response_parser<http::empty_body>::value_type& read_watch_header() {
    lowest().expires_after(kOpTimeout);
    run([&](auto handler) {
      http::async_read_header(stream_, buffer_, chunks_.parser(), std::move(handler));
    });
    return chunks_.parser().get();
  }
  // The next chunk's payload, or nullopt once the response has ended.
  std::optional<std::string> next_chunk() {
    if (chunks_.parser().is_done()) return std::nullopt;
    lowest().expires_after(kOpTimeout);
    auto r = await([&](auto handler) {
      http::async_read(stream_, buffer_, chunks_.parser(), std::move(handler));
    });
    if (r.ec == http::error::end_of_chunk) return chunks_.take_chunk();
    if (r.ec) throw boost::system::system_error(r.ec);
    return std::nullopt;  // the last chunk arrived
  }

  void close() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }

 private:
  Stream stream_;
  beast::flat_buffer buffer_;
  ChunkReader chunks_;
};

using PlainConnection = Connection<beast::tcp_stream>;
using TlsConnection = Connection<beast::ssl_stream<beast::tcp_stream>>;

// ---- URL decoding ----

TEST(PercentDecodePath, DecodesEscapesIncludingSlashAndKeepsPlus) {
  EXPECT_EQ(percent_decode_path("/api/v1/namespaces/a%20b/pods/c%2Fd+e"),
            "/api/v1/namespaces/a b/pods/c/d+e");
}

TEST(PercentDecodePath, RejectsMalformedEscapes) {
  EXPECT_FALSE(percent_decode_path("/a%zz"));
  EXPECT_FALSE(percent_decode_path("/a%2"));
  EXPECT_FALSE(percent_decode_path("/a%"));
}

TEST(ParseQuery, DecodesLikeGoUrlParseQuery) {
  auto q = parse_query("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1&flag&empty=&a=b=c");
  EXPECT_EQ(q["labelSelector"], "app=web,tier in (a)");
  EXPECT_EQ(q["watch"], "1");
  EXPECT_EQ(q["flag"], "");
  EXPECT_EQ(q["empty"], "");
  EXPECT_EQ(q["a"], "b=c");
  EXPECT_EQ(q.size(), 5u);
}

TEST(ParseQuery, DropsPairsWithSemicolonsOrBadEscapes) {
  auto q = parse_query("good=1&bad=%zz&k;v=1&%gg=2&&x=%41");
  EXPECT_EQ(q, (std::map<std::string, std::string>{{"good", "1"}, {"x", "A"}}));
}

TEST(ParseQuery, LastRepeatedValueWins) { EXPECT_EQ(parse_query("limit=1&limit=2")["limit"], "2"); }

// ---- Plain request/response ----

TEST(HttpServer, BindsAnEphemeralPort) {
  TestServer server;
  EXPECT_NE(server.port(), 0);
}

TEST(HttpServer, StartFailsWhenPortIsTaken) {
  TestServer first;
  WatchRegistry watches;
  HttpServer second({.port = first.port()}, test_handler(watches));
  auto started = second.start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find(std::to_string(first.port())), std::string::npos);
}

TEST(HttpServer, StartFailsOnInvalidAddress) {
  WatchRegistry watches;
  HttpServer server({.address = "not an address"}, test_handler(watches));
  EXPECT_FALSE(server.start());
}

TEST(HttpServer, AnswersWithStatusBodyAndHeaders) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  auto res = c.request(get("/headers"));
  EXPECT_EQ(res.result_int(), 201);
  EXPECT_EQ(res.body(), "made");
  EXPECT_EQ(res[http::field::content_type], "text/plain");
  EXPECT_EQ(res[http::field::content_length], "4");
  EXPECT_EQ(res[http::field::cache_control], "no-cache, private");
  EXPECT_EQ(res["X-Test"], "yes");
  EXPECT_EQ(res[http::field::retry_after], "3");
}

TEST(HttpServer, PassesMethodHeadersAndBodyToHandler) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  http::request<http::string_body> req{http::verb::post, "/echo", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::accept, "application/json;as=Table;g=meta.k8s.io;v=v1");
  req.set(http::field::content_type, "application/merge-patch+json");
  req.set(http::field::authorization, "Bearer abc");
  req.set(http::field::user_agent, "kubectl/v1.32.0");
  req.body() = R"({"spec":{}})";
  auto res = c.request(req);
  ASSERT_EQ(res.result_int(), 200);
  auto got = json::parse(res.body());
  EXPECT_EQ(got["method"], "POST");
  EXPECT_EQ(got["accept"], "application/json;as=Table;g=meta.k8s.io;v=v1");
  EXPECT_EQ(got["contentType"], "application/merge-patch+json");
  EXPECT_EQ(got["authorization"], "Bearer abc");
  EXPECT_EQ(got["userAgent"], "kubectl/v1.32.0");
  EXPECT_EQ(got["body"], R"({"spec":{}})");
}

TEST(HttpServer, DecodesPathAndQueryBeforeCallingHandler) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  auto res = c.request(get("/echo/a%20b/c%2Fd?labelSelector=app%3Dx%2Cy&name=a+b&flag&bad=%zz"));
  ASSERT_EQ(res.result_int(), 200);
  auto got = json::parse(res.body());
  EXPECT_EQ(got["path"], "/echo/a b/c/d");
  EXPECT_EQ(got["query"], (json{{"labelSelector", "app=x,y"}, {"name", "a b"}, {"flag", ""}}));
}

TEST(HttpServer, AnswersMalformedPathEscapeWith400) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  auto res = c.request(get("/echo/%zz"));
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_TRUE(c.closed_by_server());
}

TEST(HttpServer, KeepsConnectionAliveForASecondRequest) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  auto first = c.request(get("/echo?n=1"));
  EXPECT_TRUE(first.keep_alive());
  auto second = c.request(get("/echo?n=2"));
  EXPECT_EQ(json::parse(first.body())["query"]["n"], "1");
  EXPECT_EQ(json::parse(second.body())["query"]["n"], "2");
}

TEST(HttpServer, ClosesConnectionWhenClientAsksForIt) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  auto req = get("/echo");
  req.keep_alive(false);
  auto res = c.request(req);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(c.closed_by_server());
}

TEST(HttpServer, AnswersHandlerExceptionWith500Status) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  auto res = c.request(get("/throw"));
  EXPECT_EQ(res.result_int(), 500);
  auto status = json::parse(res.body());
  EXPECT_EQ(status["kind"], "Status");
  EXPECT_EQ(status["reason"], "InternalError");
  // The connection survives a failed handler.
  EXPECT_EQ(c.request(get("/echo")).result_int(), 200);
}

TEST(HttpServer, AnswersHeadWithLengthButNoBody) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  http::request<http::string_body> req{http::verb::head, "/headers", 11};
  req.set(http::field::host, "127.0.0.1");
  c.send(req);
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // a HEAD response has no body whatever Content-Length says
  beast::flat_buffer buffer;
  c.lowest().expires_after(kOpTimeout);
  run([&](auto handler) { http::async_read(c.stream(), buffer, parser, std::move(handler)); });
  EXPECT_EQ(parser.get()[http::field::content_length], "4");
  EXPECT_EQ(c.request(get("/echo")).result_int(), 200);  // nothing stray on the wire
}

// ---- Limits ----

TEST(HttpServer, AnswersBodyOverLimitWith413AndCloses) {
  TestServer server({.max_body_bytes = 1024});
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  http::request<http::string_body> req{http::verb::post, "/echo", 11};
  req.set(http::field::host, "127.0.0.1");
  req.body() = std::string(4096, 'x');
  auto res = c.request(req);
  EXPECT_EQ(res.result_int(), 413);
  auto status = json::parse(res.body());
  EXPECT_EQ(status["reason"], "RequestEntityTooLarge");
  EXPECT_EQ(status["code"], 413);
  EXPECT_TRUE(c.closed_by_server());
}

TEST(HttpServer, AnswersChunkedBodyOverLimitWith413) {
  TestServer server({.max_body_bytes = 1024});
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  std::string chunk(800, 'y');
  c.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk +
             "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
  EXPECT_EQ(c.receive().result_int(), 413);
}

TEST(HttpServer, AcceptsBodyAtTheLimit) {
  TestServer server({.max_body_bytes = 1024});
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  http::request<http::string_body> req{http::verb::post, "/echo", 11};
  req.set(http::field::host, "127.0.0.1");
  req.body() = std::string(1024, 'x');
  auto res = c.request(req);
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_EQ(json::parse(res.body())["body"].get<std::string>().size(), 1024u);
}

TEST(HttpServer, SendsContinueBeforeReadingBodyWhenAsked) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  c.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  auto interim = c.receive();  // Beast reads the 100 as a response of its own
  EXPECT_EQ(interim.result_int(), 100);
  c.send_raw("hello");
  auto res = c.receive();
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_EQ(json::parse(res.body())["body"], "hello");
}

TEST(HttpServer, AnswersOversizedHeaderWith431) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  // Raw: Beast's own serializer refuses a field this large.
  c.send_raw("GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(kMaxHeaderBytes, 'h') +
             "\r\n\r\n");
  EXPECT_EQ(c.receive().result_int(), 431);
}

TEST(HttpServer, AnswersMalformedRequestWith400AndCloses) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  c.send_raw("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_EQ(c.receive().result_int(), 400);
  EXPECT_TRUE(c.closed_by_server());
}

TEST(HttpServer, ClosesConnectionThatSendsNothingWithinReadTimeout) {
  TestServer server({.read_timeout = std::chrono::seconds(1)});
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  auto start = Clock::now();
  EXPECT_TRUE(c.closed_by_server());
  EXPECT_LT(Clock::now() - start, 5s);
}

// ---- Watches ----

TEST(HttpServer, SendsWatchHeaderBeforeAnyFrame) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  c.send(get("/watch"));
  auto& header = c.read_watch_header();
  EXPECT_EQ(header.result_int(), 200);
  EXPECT_TRUE(header.chunked());
  EXPECT_EQ(header[http::field::content_type], "application/json;stream=watch");
  EXPECT_EQ(header[http::field::cache_control], "no-cache, private");
}

TEST(HttpServer, StreamsFramesPushedFromAnotherThreadAsChunks) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  c.send(get("/watch"));
  c.read_watch_header();
  ASSERT_EQ(server.watches.size(), 1u);
  auto watch = server.watches.all()[0];

  std::thread([&] { watch->send("{\"type\":\"ADDED\"}\n"); }).join();
  EXPECT_EQ(c.next_chunk(), "{\"type\":\"ADDED\"}\n");

  std::thread([&] {
    watch->send("{\"type\":\"MODIFIED\"}\n");
    watch->send("{\"type\":\"DELETED\"}\n");
    watch->finish();
  }).join();
  EXPECT_EQ(c.next_chunk(), "{\"type\":\"MODIFIED\"}\n");
  EXPECT_EQ(c.next_chunk(), "{\"type\":\"DELETED\"}\n");
  EXPECT_EQ(c.next_chunk(), std::nullopt);
  EXPECT_FALSE(watch->cancelled);  // it ended on its own
}

TEST(HttpServer, EndsWatchResponseAtDeadlineAndCancelsStream) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  auto start = Clock::now();
  c.send(get("/watch?deadlineMs=200"));
  c.read_watch_header();
  EXPECT_EQ(c.next_chunk(), std::nullopt);  // the last chunk, not an error
  EXPECT_GE(Clock::now() - start, 200ms);
  EXPECT_TRUE(server.watches.all()[0]->cancelled);
  EXPECT_TRUE(c.closed_by_server());
}

TEST(HttpServer, TicksWatchAtItsInterval) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  c.send(get("/watch?tickMs=20&tickFrames=1"));
  c.read_watch_header();
  EXPECT_EQ(c.next_chunk(), "{\"tick\":1}\n");
  EXPECT_EQ(c.next_chunk(), "{\"tick\":2}\n");
  EXPECT_EQ(c.next_chunk(), "{\"tick\":3}\n");
}

TEST(HttpServer, CancelsWatchWhenClientDisconnects) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  c.send(get("/watch"));
  c.read_watch_header();
  auto watch = server.watches.all()[0];
  EXPECT_FALSE(watch->cancelled);
  c.close();
  EXPECT_TRUE(eventually([&] { return watch->cancelled.load(); }));
}

TEST(HttpServer, DeliversPushedFrameTo200ConcurrentWatches) {
  constexpr size_t kWatches = 200;
  TestServer server;
  ClientLoop loop;
  std::vector<std::unique_ptr<PlainConnection>> clients;
  for (size_t i = 0; i < kWatches; ++i) {
    auto c = std::make_unique<PlainConnection>(loop.ioc());
    c->connect(server.port());
    c->send(get("/watch"));
    clients.push_back(std::move(c));
  }
  for (auto& c : clients) ASSERT_EQ(c->read_watch_header().result_int(), 200);
  ASSERT_EQ(server.watches.size(), kWatches);

  std::thread producer([&] {
    for (auto& w : server.watches.all()) w->send("{\"type\":\"BOOKMARK\"}\n");
  });
  producer.join();
  for (auto& c : clients) EXPECT_EQ(c->next_chunk(), "{\"type\":\"BOOKMARK\"}\n");
}

TEST(HttpServer, StopEndsOpenWatchesAndReturns) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  c.send(get("/watch"));
  c.read_watch_header();
  auto watch = server.watches.all()[0];
  watch->send("{\"n\":1}\n");
  auto start = Clock::now();
  server.stop();
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_TRUE(watch->cancelled);
  EXPECT_EQ(c.next_chunk(), "{\"n\":1}\n");
  EXPECT_EQ(c.next_chunk(), std::nullopt);
}

TEST(HttpServer, StopClosesIdleConnections) {
  TestServer server;
  ClientLoop loop;
  PlainConnection c(loop.ioc());
  c.connect(server.port());
  EXPECT_EQ(c.request(get("/echo")).result_int(), 200);
  auto start = Clock::now();
  server.stop();
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_TRUE(c.closed_by_server());
}

// ---- TLS ----

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = generate_tls_material({}, {});
    ASSERT_TRUE(m) << m.error().message;
    material_ = *m;
    server_ = std::make_unique<TestServer>(HttpServerOptions{.tls = material_});
  }

  // A client context trusting `ca_pem` only, verifying the peer and its IP SAN.
  static ssl::context client_context(const std::string& ca_pem) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.add_certificate_authority(net::buffer(ca_pem));
    ctx.set_verify_mode(ssl::verify_peer);
    return ctx;
  }

  static void handshake(TlsConnection& c, uint16_t port) {
    c.connect(port);
    c.stream().set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    c.lowest().expires_after(kOpTimeout);
    run([&](auto handler) {
      c.stream().async_handshake(ssl::stream_base::client, std::move(handler));
    });
  }

  TlsMaterial material_;
  std::unique_ptr<TestServer> server_;
  ClientLoop loop_;
};

TEST_F(TlsTest, ServesRequestsOverTlsVerifiedAgainstGeneratedCa) {
  auto ctx = client_context(material_.ca_cert_pem);
  TlsConnection c(loop_.ioc(), ctx);
  handshake(c, server_->port());
  auto res = c.request(get("/echo?x=1"));
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_EQ(json::parse(res.body())["query"]["x"], "1");
  EXPECT_EQ(c.request(get("/echo?x=2")).result_int(), 200);  // keep-alive over TLS
}

TEST_F(TlsTest, HandshakeFailsAgainstAnotherCa) {
  auto other = generate_tls_material({}, {});
  ASSERT_TRUE(other);
  auto ctx = client_context(other->ca_cert_pem);
  TlsConnection c(loop_.ioc(), ctx);
  EXPECT_THROW(handshake(c, server_->port()), boost::system::system_error);
}

TEST_F(TlsTest, NegotiatesHttp11WhenClientOffersH2) {
  auto ctx = client_context(material_.ca_cert_pem);
  static constexpr unsigned char kProtos[] = {2,   'h', '2', 8,   'h', 't',
                                              't', 'p', '/', '1', '.', '1'};
  ASSERT_EQ(SSL_CTX_set_alpn_protos(ctx.native_handle(), kProtos, sizeof kProtos), 0);
  TlsConnection c(loop_.ioc(), ctx);
  handshake(c, server_->port());
  const unsigned char* selected = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(c.stream().native_handle(), &selected, &len);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(selected), len), "http/1.1");
  EXPECT_EQ(c.request(get("/echo")).result_int(), 200);
}

TEST_F(TlsTest, NegotiatesNoProtocolWhenClientOffersOnlyH2) {
  auto ctx = client_context(material_.ca_cert_pem);
  static constexpr unsigned char kProtos[] = {2, 'h', '2'};
  ASSERT_EQ(SSL_CTX_set_alpn_protos(ctx.native_handle(), kProtos, sizeof kProtos), 0);
  TlsConnection c(loop_.ioc(), ctx);
  handshake(c, server_->port());
  const unsigned char* selected = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(c.stream().native_handle(), &selected, &len);
  EXPECT_EQ(len, 0u);
}

TEST_F(TlsTest, StreamsWatchFramesOverTlsAndCancelsOnDisconnect) {
  auto ctx = client_context(material_.ca_cert_pem);
  TlsConnection c(loop_.ioc(), ctx);
  handshake(c, server_->port());
  c.send(get("/watch"));
  EXPECT_TRUE(c.read_watch_header().chunked());
  auto watch = server_->watches.all()[0];
  std::thread([&] { watch->send("{\"a\":1}\n"); }).join();
  EXPECT_EQ(c.next_chunk(), "{\"a\":1}\n");
  c.close();
  EXPECT_TRUE(eventually([&] { return watch->cancelled.load(); }));
}

TEST_F(TlsTest, DropsPlainHttpClientOnTlsPort) {
  PlainConnection c(loop_.ioc());
  c.connect(server_->port());
  c.send(get("/echo"));
  EXPECT_TRUE(c.closed_after_any_bytes());  // perhaps after a TLS alert
}

}  // namespace
}  // namespace kubesim
