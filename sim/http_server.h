// kubesim's HTTP/1.1 transport: accepts connections (plain or TLS), parses
// requests into kubesim::Request, calls the Handler and writes its Reply —
// a complete Response, or a WatchStream sent as a chunked response for as
// long as the watch lasts. Knows nothing of Kubernetes beyond what kubectl
// needs from a transport (HTTP/1.1 over TLS, no h2).
//
// Modelled on Boost.Beast's advanced_server_flex example: one session object
// per connection kept alive by shared_from_this, a strand per session, a
// timeout on every read and limits on header and body sizes. Watches need no
// thread of their own: a session waits on a timer and on the stream's
// readiness callback, so 1,000 watches run on two io threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sim/api_error.h"
#include "sim/request.h"
#include "sim/tls.h"

namespace kubesim {

// Larger than kube-apiserver's 3 MiB (MaxRequestBodyBytes) so that big custom
// resources still fit; a request over it is answered 413.
inline constexpr size_t kDefaultMaxBodyBytes = size_t{16} * 1024 * 1024;
// Go's net/http DefaultMaxHeaderBytes (1 MB); a request over it is answered 431.
inline constexpr size_t kMaxHeaderBytes = 1 << 20;
// How long a client may take to send a request's header, and again its body,
// before the connection is closed; also the idle keep-alive limit.
inline constexpr std::chrono::seconds kDefaultReadTimeout{30};

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // an IP literal
  uint16_t port = 0;                  // 0: an ephemeral port, see HttpServer::port()
  int threads = 2;                    // io threads; all connections and watches share them
  std::optional<TlsMaterial> tls;     // set: HTTPS only (ALPN http/1.1); unset: plain HTTP
  size_t max_body_bytes = kDefaultMaxBodyBytes;
  std::chrono::seconds read_timeout = kDefaultReadTimeout;
};

class HttpServer {
 public:
  // `handler` is called concurrently from the io threads.
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the io threads. Once only; an error (bad
  // address, port in use, unusable TLS material) is returned, not thrown.
  Result<void> start();
  // The bound port, the ephemeral one when options.port was 0; 0 before start().
  uint16_t port() const;
  // Stops accepting, ends every watch (its client sees the response finish),
  // closes every connection, waits for them briefly and joins the io
  // threads. Idempotent. Must not be called from a handler.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// URL decoding with Go's net/url semantics, which is what kube-apiserver sees.
// A path: %XX decoded ('%2F' too), '+' kept; nullopt on a malformed escape.
std::optional<std::string> percent_decode_path(std::string_view raw_path);
// A query string as url.ParseQuery reads it: pairs split on '&', '+' is a
// space, pairs with a ';' or a malformed escape are dropped, a key without
// '=' has an empty value. Repeated keys: the last value wins (Request::query).
std::map<std::string, std::string> parse_query(std::string_view raw_query);

}  // namespace kubesim
