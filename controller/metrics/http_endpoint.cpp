#include "controller/metrics/http_endpoint.h"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <optional>

namespace frugal::metrics {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto kReadTimeout = std::chrono::seconds(10);
constexpr size_t kMaxRequestBytes = 16 * 1024;
constexpr const char* kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const EndpointHandlers& handlers)
      : stream_(std::move(socket)), handlers_(handlers) {}

  void start() { read(); }

 private:
  void read() {
    req_ = {};
    parser_.emplace();
    parser_->header_limit(kMaxRequestBytes);
    parser_->body_limit(kMaxRequestBytes);
    stream_.expires_after(kReadTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec) return close();
    req_ = parser_->release();
    respond();
  }

  void respond() {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(req_.version());
    res->keep_alive(req_.keep_alive());
    res->set(http::field::server, "frugal-controller");
    res->set(http::field::content_type, "text/plain; charset=utf-8");
    const std::string target(req_.target());
    const std::string path = target.substr(0, target.find('?'));
    if (req_.method() != http::verb::get && req_.method() != http::verb::head) {
      res->result(http::status::method_not_allowed);
      res->body() = "method not allowed\n";
    } else if (path == "/metrics" && handlers_.metrics) {
      res->result(http::status::ok);
      res->set(http::field::content_type, kExpositionContentType);
      res->body() = handlers_.metrics();
    } else if (path == "/healthz" || path == "/livez" || path == "/readyz") {
      const auto& check = path == "/readyz" ? handlers_.readyz : handlers_.healthz;
      std::string problem = check ? check() : std::string{};
      res->result(problem.empty() ? http::status::ok : http::status::service_unavailable);
      res->body() = problem.empty() ? "ok\n" : problem + "\n";
    } else {
      res->result(http::status::not_found);
      res->body() = "404 page not found\n";
    }
    if (req_.method() == http::verb::head) {
      res->content_length(res->body().size());
      res->body().clear();
    }
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !res->keep_alive()) return self->close();
                        self->read();
                      });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
  const EndpointHandlers& handlers_;
};

}  // namespace

struct HttpEndpoint::Impl {
  explicit Impl(EndpointHandlers h) : handlers(std::move(h)), acceptor(io) {}

  void accept() {
    acceptor.async_accept(net::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      } else {
        std::make_shared<Session>(std::move(socket), handlers)->start();
      }
      accept();
    });
  }

  EndpointHandlers handlers;
  net::io_context io{1};
  tcp::acceptor acceptor;
  std::thread thread;
};

HttpEndpoint::HttpEndpoint(std::string address, uint16_t port, EndpointHandlers handlers)
    : impl_(std::make_unique<Impl>(std::move(handlers))),
      address_(std::move(address)),
      port_(port) {}

HttpEndpoint::~HttpEndpoint() { stop(); }

frugal::Expected<void, std::string> HttpEndpoint::start() {
  beast::error_code ec;
  auto addr = net::ip::make_address(address_.empty() ? "0.0.0.0" : address_, ec);
  if (ec) return frugal::Unexpected("'" + address_ + "' is not an IP address");
  tcp::endpoint ep(addr, port_);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return frugal::Unexpected(address_ + ":" + std::to_string(port_) + ": " + ec.message());
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
  return {};
}

void HttpEndpoint::stop() {
  if (!impl_->thread.joinable()) return;
  net::post(impl_->io, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  impl_->io.stop();
  impl_->thread.join();
}

bool parse_bind_address(const std::string& text, std::string& host, uint16_t& port) {
  if (text.empty() || text == "0") return false;
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  host = text.substr(0, colon);
  if (host.empty()) host = "0.0.0.0";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  try {
    int p = std::stoi(text.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    port = static_cast<uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

}  // namespace frugal::metrics
