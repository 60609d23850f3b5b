#include "sim/model_server.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/poll.h"

namespace kubesim {
namespace {

using frugal::testing::eventually;

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every client operation is bounded by this through tcp_stream's timeouts.
constexpr auto kOpTimeout = 10s;
// Container ports are fixed, so tests use high ports unlikely to be taken and
// move on to the next one when a bind fails (another process holds it).
constexpr uint16_t kBasePort = 39217;
constexpr int kPortAttempts = 50;

struct Reply {
  int status = 0;
  std::string body;
  std::string content_type;
  bool keep_alive = true;
  json doc() const { return json::parse(body, nullptr, /*allow_exceptions=*/false); }
};

// One client connection with its own io_context, driven on the calling
// thread, so that each client thread of a test is independent.
class Client {
 public:
  beast::error_code connect(const std::string& address, uint16_t port) {
    tcp::endpoint endpoint(net::ip::make_address(address), port);
    stream_.expires_after(kOpTimeout);
    beast::error_code result;
    stream_.async_connect(endpoint, [&](beast::error_code ec) { result = ec; });
    drive();
    return result;
  }

  beast::error_code write(http::request<http::string_body> req) {
    req.set(http::field::host, "model");
    req.prepare_payload();
    stream_.expires_after(kOpTimeout);
    beast::error_code result;
    http::async_write(stream_, req, [&](beast::error_code ec, size_t) { result = ec; });
    drive();
    return result;
  }

  beast::error_code write_raw(const std::string& bytes) {
    stream_.expires_after(kOpTimeout);
    beast::error_code result;
    net::async_write(stream_, net::buffer(bytes),
                     [&](beast::error_code ec, size_t) { result = ec; });
    drive();
    return result;
  }

  beast::error_code read(Reply& out) {
    http::response<http::string_body> res;
    stream_.expires_after(kOpTimeout);
    beast::error_code result;
    http::async_read(stream_, buffer_, res, [&](beast::error_code ec, size_t) { result = ec; });
    drive();
    if (result) return result;
    out = Reply{.status = static_cast<int>(res.result_int()),
                .body = res.body(),
                .content_type = std::string(res[http::field::content_type]),
                .keep_alive = res.keep_alive()};
    return {};
  }

  beast::error_code roundtrip(http::request<http::string_body> req, Reply& out) {
    if (auto ec = write(std::move(req))) return ec;
    return read(out);
  }

  // Reads until the server closes the connection; the error says how it ended.
  beast::error_code read_until_closed() {
    char byte;
    for (;;) {
      stream_.expires_after(kOpTimeout);
      beast::error_code result;
      stream_.async_read_some(net::buffer(&byte, 1),
                              [&](beast::error_code ec, size_t) { result = ec; });
      drive();
      if (result) return result;
    }
  }

 private:
  void drive() {
    ioc_.restart();
    ioc_.run();
  }

  net::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_;
};

http::request<http::string_body> request(http::verb verb, std::string target,
                                         std::string body = {}) {
  http::request<http::string_body> req{verb, target, 11};
  req.body() = std::move(body);
  return req;
}

struct Outcome {
  beast::error_code ec;
  Reply reply;
  Clock::duration elapsed{};
  Clock::time_point finished;
};

// One request on a fresh connection, timed from connect to the last byte.
Outcome fetch(const std::string& address, uint16_t port, const std::string& target = "/predict") {
  Outcome out;
  auto begin = Clock::now();
  Client client;
  out.ec = client.connect(address, port);
  if (!out.ec) out.ec = client.roundtrip(request(http::verb::get, target), out.reply);
  out.finished = Clock::now();
  out.elapsed = out.finished - begin;
  return out;
}

bool refused(const std::string& address, uint16_t port) {
  Client client;
  return client.connect(address, port) == net::error::connection_refused;
}

ModelServerOptions options(std::string address, std::string name, int latency_ms = 0,
                           int max_concurrency = 4) {
  return ModelServerOptions{.address = std::move(address),
                            .port = kBasePort,
                            .pod_namespace = "ml",
                            .pod_name = std::move(name),
                            .latency_ms = latency_ms,
                            .max_concurrency = max_concurrency};
}

// Starts `key` on the first port from kBasePort that binds; returns it (0: none did).
uint16_t start_on_free_port(ModelServerPool& pool, const std::string& key, ModelServerOptions o) {
  for (int i = 0; i < kPortAttempts; ++i, ++o.port) {
    if (pool.start(key, o)) return o.port;
  }
  ADD_FAILURE() << "no free port from " << kBasePort;
  return 0;
}

int ms(Clock::duration d) {
  return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

TEST(ModelServerTest, AnswersOnThePodAddressWithThePodIdentity) {
  ModelServerPool pool;
  uint16_t port = start_on_free_port(pool, "uid-1", options("127.77.1.1", "llama"));
  ASSERT_NE(port, 0);

  auto out = fetch("127.77.1.1", port, "/v1/completions?x=1");
  ASSERT_FALSE(out.ec) << out.ec.message();
  EXPECT_EQ(out.reply.status, 200);
  EXPECT_EQ(out.reply.content_type, "application/json");
  json doc = out.reply.doc();
  EXPECT_EQ(doc["model"], "llama");
  EXPECT_EQ(doc["pod"], "ml/llama");
  EXPECT_EQ(doc["podIP"], "127.77.1.1");
  EXPECT_EQ(doc["latencyMs"], 0);
  EXPECT_EQ(doc["requestId"], 1);
  EXPECT_TRUE(pool.running("uid-1"));
  EXPECT_EQ(pool.size(), 1u);
}

TEST(ModelServerTest, RefusesConnectionsBeforeStartAndAfterStop) {
  ModelServerPool pool;
  const std::string address = "127.77.2.1";
  uint16_t port = 0;
  for (uint16_t p = kBasePort; p < kBasePort + kPortAttempts && port == 0; ++p) {
    if (refused(address, p) && pool.start("uid-2", [&] {
          auto o = options(address, "m");
          o.port = p;
          return o;
        }())) {
      port = p;
    }
  }
  ASSERT_NE(port, 0) << "no port was free to start on";
  EXPECT_FALSE(fetch(address, port).ec);

  pool.stop("uid-2");
  EXPECT_TRUE(refused(address, port));
  EXPECT_FALSE(pool.running("uid-2"));
  EXPECT_FALSE(pool.stats("uid-2").has_value());
  EXPECT_EQ(pool.size(), 0u);
  pool.stop("uid-2");  // unknown key: a no-op
}

TEST(ModelServerTest, StoppedThenStartedServerAnswersAgainOnTheSamePort) {
  ModelServerPool pool;
  auto o = options("127.77.3.1", "m");
  o.port = start_on_free_port(pool, "uid-3", o);
  ASSERT_NE(o.port, 0);
  // A keep-alive connection is open when the server stops, as with a proxy's pool.
  Client idle;
  ASSERT_FALSE(idle.connect(o.address, o.port));
  Reply r;
  ASSERT_FALSE(idle.roundtrip(request(http::verb::get, "/"), r));

  pool.stop("uid-3");
  EXPECT_TRUE(refused(o.address, o.port));
  EXPECT_TRUE(idle.read_until_closed());  // the open connection was closed too
  auto restarted = pool.start("uid-3", o);
  ASSERT_TRUE(restarted) << restarted.error().message;

  auto out = fetch(o.address, o.port);
  ASSERT_FALSE(out.ec) << out.ec.message();
  EXPECT_EQ(out.reply.status, 200);
  EXPECT_EQ(out.reply.doc()["requestId"], 1);  // a new process: counters start again
}

TEST(ModelServerTest, AppliesTheLatencyToEachRequest) {
  ModelServerPool pool;
  uint16_t port = start_on_free_port(pool, "uid-4", options("127.77.4.1", "m", 150));
  ASSERT_NE(port, 0);
  auto out = fetch("127.77.4.1", port);
  ASSERT_FALSE(out.ec) << out.ec.message();
  EXPECT_EQ(out.reply.status, 200);
  EXPECT_GE(ms(out.elapsed), 150);
}

TEST(ModelServerTest, ComputesAtMostMaxConcurrencyRequestsAtOnce) {
  constexpr int kLimit = 4;
  constexpr int kLatencyMs = 100;
  ModelServerPool pool(2);  // two io threads; each server's strand still serialises its state
  uint16_t port = start_on_free_port(pool, "uid-5", options("127.77.5.1", "m", kLatencyMs, kLimit));
  ASSERT_NE(port, 0);

  std::vector<Outcome> outcomes(3 * kLimit);
  std::vector<std::thread> clients;
  auto begin = Clock::now();
  for (auto& out : outcomes) {
    clients.emplace_back([&out, port] { out = fetch("127.77.5.1", port); });
  }
  for (auto& t : clients) t.join();
  auto elapsed = Clock::now() - begin;

  for (const auto& out : outcomes) {
    ASSERT_FALSE(out.ec) << out.ec.message();
    EXPECT_EQ(out.reply.status, 200);
  }
  EXPECT_GE(ms(elapsed), 3 * kLatencyMs);
  auto stats = pool.stats("uid-5");
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->max_in_flight_seen, kLimit);
  EXPECT_EQ(stats->requests_total, 3u * kLimit);
  EXPECT_EQ(stats->in_flight, 0);
  EXPECT_EQ(stats->queued, 0);
}

TEST(ModelServerTest, QueuedRequestsAreServedInArrivalOrder) {
  ModelServerPool pool;
  uint16_t port = start_on_free_port(pool, "uid-6", options("127.77.6.1", "m", 200, 1));
  ASSERT_NE(port, 0);
  auto stats = [&] { return pool.stats("uid-6").value(); };

  Outcome a, b, c;
  std::thread ta([&] { a = fetch("127.77.6.1", port); });
  ASSERT_TRUE(eventually([&] { return stats().in_flight == 1; }));
  std::thread tb([&] { b = fetch("127.77.6.1", port); });
  ASSERT_TRUE(eventually([&] { return stats().queued == 1; }));
  std::thread tc([&] { c = fetch("127.77.6.1", port); });
  ASSERT_TRUE(eventually([&] { return stats().queued == 2; }));
  ta.join();
  tb.join();
  tc.join();

  for (const auto* out : {&a, &b, &c}) ASSERT_FALSE(out->ec) << out->ec.message();
  EXPECT_EQ(b.reply.doc()["requestId"], 2);
  EXPECT_EQ(c.reply.doc()["requestId"], 3);
  EXPECT_LT(a.finished, b.finished);
  EXPECT_LT(b.finished, c.finished);
  EXPECT_GE(ms(c.elapsed), 2 * 200);  // b's inference, then its own
}

TEST(ModelServerTest, AnswersServiceUnavailableWhenTheQueueIsFull) {
  ModelServerPool pool;
  auto o = options("127.77.7.1", "m", 300, 1);
  o.max_queue = 1;
  uint16_t port = start_on_free_port(pool, "uid-7", o);
  ASSERT_NE(port, 0);
  auto stats = [&] { return pool.stats("uid-7").value(); };

  Outcome a, b;
  std::thread ta([&] { a = fetch("127.77.7.1", port); });
  ASSERT_TRUE(eventually([&] { return stats().in_flight == 1; }));
  std::thread tb([&] { b = fetch("127.77.7.1", port); });
  ASSERT_TRUE(eventually([&] { return stats().queued == 1; }));
  auto c = fetch("127.77.7.1", port);
  ta.join();
  tb.join();

  ASSERT_FALSE(c.ec) << c.ec.message();
  EXPECT_EQ(c.reply.status, 503);
  EXPECT_EQ(a.reply.status, 200);
  EXPECT_EQ(b.reply.status, 200);
  EXPECT_EQ(stats().requests_total, 3u);
  EXPECT_EQ(stats().rejected_total, 1u);
}

TEST(ModelServerTest, ServesSeveralRequestsOnOneKeepAliveConnection) {
  ModelServerPool pool;
  uint16_t port = start_on_free_port(pool, "uid-8", options("127.77.8.1", "m", 5));
  ASSERT_NE(port, 0);
  Client client;
  ASSERT_FALSE(client.connect("127.77.8.1", port));
  for (int i = 1; i <= 5; ++i) {
    Reply r;
    auto verb = i % 2 ? http::verb::get : http::verb::post;
    ASSERT_FALSE(client.roundtrip(request(verb, "/predict", R"({"prompt":"hi"})"), r));
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(r.doc()["requestId"], i);
  }
}

TEST(ModelServerTest, ClosesTheConnectionWhenTheClientAsks) {
  ModelServerPool pool;
  uint16_t port = start_on_free_port(pool, "uid-9", options("127.77.9.1", "m"));
  ASSERT_NE(port, 0);
  Client client;
  ASSERT_FALSE(client.connect("127.77.9.1", port));
  auto req = request(http::verb::get, "/predict");
  req.keep_alive(false);
  Reply r;
  ASSERT_FALSE(client.roundtrip(std::move(req), r));
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_EQ(client.read_until_closed(), net::error::eof);
}

TEST(ModelServerTest, HealthzAnswersAtOnceWhileEverySlotComputes) {
  constexpr int kLatencyMs = 5000;
  ModelServerPool pool;
  uint16_t port = start_on_free_port(pool, "uid-10", options("127.77.10.1", "m", kLatencyMs, 1));
  ASSERT_NE(port, 0);
  Outcome busy;
  std::thread t([&] { busy = fetch("127.77.10.1", port); });
  ASSERT_TRUE(eventually([&] { return pool.stats("uid-10")->in_flight == 1; }));

  auto health = fetch("127.77.10.1", port, "/healthz");
  ASSERT_FALSE(health.ec) << health.ec.message();
  EXPECT_EQ(health.reply.status, 200);
  EXPECT_LT(ms(health.elapsed), kLatencyMs / 2);
  EXPECT_EQ(pool.stats("uid-10")->requests_total, 1u);  // probes are not model requests

  pool.stop("uid-10");  // ends the busy request instead of waiting it out
  t.join();
}

TEST(ModelServerTest, StopCutsRequestsInFlightLikeAKilledProcess) {
  constexpr int kLatencyMs = 10000;
  ModelServerPool pool;
  uint16_t port = start_on_free_port(pool, "uid-11", options("127.77.11.1", "m", kLatencyMs, 1));
  ASSERT_NE(port, 0);
  Outcome computing, queued;
  std::thread t1([&] { computing = fetch("127.77.11.1", port); });
  ASSERT_TRUE(eventually([&] { return pool.stats("uid-11")->in_flight == 1; }));
  std::thread t2([&] { queued = fetch("127.77.11.1", port); });
  ASSERT_TRUE(eventually([&] { return pool.stats("uid-11")->queued == 1; }));

  pool.stop("uid-11");
  t1.join();
  t2.join();
  EXPECT_TRUE(computing.ec);
  EXPECT_TRUE(queued.ec);
  EXPECT_LT(ms(computing.elapsed), kLatencyMs / 2);
}

TEST(ModelServerTest, StatsPathReportsTheCountersAsJson) {
  ModelServerPool pool;
  uint16_t port = start_on_free_port(pool, "uid-12", options("127.77.12.1", "m"));
  ASSERT_NE(port, 0);
  ASSERT_FALSE(fetch("127.77.12.1", port).ec);
  ASSERT_FALSE(fetch("127.77.12.1", port).ec);

  auto out = fetch("127.77.12.1", port, "/sim/stats");
  ASSERT_FALSE(out.ec) << out.ec.message();
  EXPECT_EQ(out.reply.status, 200);
  json doc = out.reply.doc();
  EXPECT_EQ(doc["requestsTotal"], 2);
  EXPECT_EQ(doc["inFlight"], 0);
  EXPECT_EQ(doc["queued"], 0);
  EXPECT_EQ(doc["maxInFlightSeen"], 1);
  ASSERT_TRUE(doc["startedAt"].is_string());
  EXPECT_EQ(doc["startedAt"].get<std::string>().back(), 'Z');
  EXPECT_EQ(pool.stats("uid-12")->requests_total, 2u);  // the scrape is not counted
}

TEST(ModelServerTest, ServersOnDifferentLoopbackAddressesShareAPort) {
  ModelServerPool pool(2);
  auto a = options("127.77.13.1", "alpha");
  auto b = options("127.77.13.2", "beta");
  uint16_t port = 0;
  for (int i = 0; i < kPortAttempts && port == 0; ++i, ++a.port, ++b.port) {
    if (!pool.start("uid-a", a)) continue;
    if (pool.start("uid-b", b)) {
      port = a.port;
    } else {
      pool.stop("uid-a");
    }
  }
  ASSERT_NE(port, 0);
  EXPECT_EQ(fetch("127.77.13.1", port).reply.doc()["model"], "alpha");
  EXPECT_EQ(fetch("127.77.13.2", port).reply.doc()["model"], "beta");
}

TEST(ModelServerTest, BindErrorNamesTheAddressAndPort) {
  ModelServerPool pool;
  auto o = options("127.77.14.1", "m");
  o.port = start_on_free_port(pool, "uid-14", o);
  ASSERT_NE(o.port, 0);
  auto second = pool.start("uid-other", o);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("127.77.14.1:" + std::to_string(o.port)), std::string::npos)
      << second.error().message;
  EXPECT_EQ(pool.start("uid-14", o).error().code, 409);  // the key runs already
  EXPECT_EQ(pool.size(), 1u);
}

TEST(ModelServerTest, RejectsInvalidOptions) {
  ModelServerPool pool;
  auto o = options("not-an-ip", "m");
  EXPECT_EQ(pool.start("k", o).error().code, 400);
  o = options("127.77.15.1", "m");
  o.port = 0;
  EXPECT_EQ(pool.start("k", o).error().code, 400);
  o = options("127.77.15.1", "m", 0, 0);
  EXPECT_EQ(pool.start("k", o).error().code, 400);
  o = options("127.77.15.1", "m", -1);
  EXPECT_EQ(pool.start("k", o).error().code, 400);
  EXPECT_EQ(pool.size(), 0u);
}

TEST(ModelServerTest, AcceptsBodiesUpToOneMebibyteAndRefusesLarger) {
  ModelServerPool pool;
  uint16_t port = start_on_free_port(pool, "uid-16", options("127.77.16.1", "m"));
  ASSERT_NE(port, 0);
  Client client;
  ASSERT_FALSE(client.connect("127.77.16.1", port));
  Reply r;
  ASSERT_FALSE(client.roundtrip(
      request(http::verb::post, "/predict", std::string(kModelMaxBodyBytes, 'x')), r));
  EXPECT_EQ(r.status, 200);

  // The header alone announces too much: answered 413 before any body is sent.
  Client big;
  ASSERT_FALSE(big.connect("127.77.16.1", port));
  ASSERT_FALSE(big.write_raw("POST /predict HTTP/1.1\r\nHost: m\r\nContent-Length: " +
                             std::to_string(kModelMaxBodyBytes + 1) + "\r\n\r\n"));
  ASSERT_FALSE(big.read(r));
  EXPECT_EQ(r.status, 413);
  EXPECT_FALSE(r.keep_alive);
}

}  // namespace
}  // namespace kubesim
