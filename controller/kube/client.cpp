// The REST client on libcurl. Requests reuse pooled easy handles (each keeps
// its own keep-alive connections); watches run on a dedicated handle driven
// by a multi handle so that `stop` is seen within `poll` even when the server
// sends nothing. Retry rules follow client-go's rest/request.go and
// rest/with_retry.go; see execute().
#include "controller/kube/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "controller/kube/credentials.h"
#include "controller/kube/rate_limiter.h"

namespace frugal::kube {

std::string ResourceRef::path(const std::string& ns, const std::string& name,
                              const std::string& subresource) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + resource;
  if (!name.empty()) {
    p += "/" + name;
    if (!subresource.empty()) p += "/" + subresource;
  }
  return p;
}

namespace {

using namespace std::chrono_literals;
using Seconds = std::chrono::duration<double>;

// We cap a server's Retry-After so that one bad answer cannot park a worker
// for minutes; client-go waits for whatever the server asks.
constexpr std::chrono::seconds kMaxRetryAfterWait{10};
// A 429 without Retry-After is still throttling; wait this long (client-go's
// with_retry.go falls back to 1 s for retriable answers without the header).
constexpr std::chrono::seconds kDefaultRetryAfter{1};
// Backoff between retries after connection errors: doubles from base to max.
constexpr std::chrono::milliseconds kConnectRetryBase{100};
constexpr std::chrono::milliseconds kConnectRetryMax{2000};
// client-go maxUnstructuredResponseTextBytes: how much of a non-Status error
// body goes into the message.
constexpr size_t kMaxErrorBodyInMessage = 2048;
// Largest response body (a big list) and largest single watch event we accept.
constexpr size_t kMaxResponseBytes = size_t{512} * 1024 * 1024;
constexpr size_t kMaxWatchEventBytes = size_t{64} * 1024 * 1024;
// client-go rest.DefaultQPS / DefaultBurst, used when the config says 0.
constexpr double kDefaultClientQps = 5;
constexpr int kDefaultClientBurst = 10;
// Idle easy handles kept for reuse; more concurrent callers get their own
// handle, which is freed (with its connections) when they are done.
constexpr size_t kMaxIdleHandles = 16;

// --- RAII for curl objects.
struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct MultiDeleter {
  void operator()(CURLM* h) const { curl_multi_cleanup(h); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlFree {
  void operator()(char* p) const { curl_free(p); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
using MultiPtr = std::unique_ptr<CURLM, MultiDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;
using UrlPtr = std::unique_ptr<CURLU, UrlDeleter>;
using CurlString = std::unique_ptr<char, CurlFree>;

// Removes an easy handle from a multi handle on scope exit.
class MultiAttachment {
 public:
  MultiAttachment(CURLM* multi, CURL* easy) : multi_(multi), easy_(easy) {
    attached_ = curl_multi_add_handle(multi_, easy_) == CURLM_OK;
  }
  ~MultiAttachment() {
    if (attached_) curl_multi_remove_handle(multi_, easy_);
  }
  MultiAttachment(const MultiAttachment&) = delete;
  MultiAttachment& operator=(const MultiAttachment&) = delete;
  bool attached() const { return attached_; }

 private:
  CURLM* multi_;
  CURL* easy_;
  bool attached_ = false;
};

void global_init() {
  // Process-wide and never undone: curl_global_cleanup is not thread-safe
  // and other clients may still be alive at exit.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool append_header(SlistPtr& list, const std::string& header) {
  curl_slist* next = curl_slist_append(list.get(), header.c_str());
  if (next == nullptr) return false;
  (void)list.release();  // `next` is the same list, now one longer
  list.reset(next);
  return true;
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

void add_param(std::string& query, std::string_view key, std::string_view value) {
  if (!query.empty()) query += '&';
  query += key;
  query += '=';
  query += percent_encode(value);
}

std::string list_query(const ListOptions& o, bool watch) {
  std::string q;
  if (watch) add_param(q, "watch", "true");
  if (!o.label_selector.empty()) add_param(q, "labelSelector", o.label_selector);
  if (!o.field_selector.empty()) add_param(q, "fieldSelector", o.field_selector);
  if (!watch && o.limit > 0) add_param(q, "limit", std::to_string(o.limit));
  if (!watch && !o.continue_token.empty()) add_param(q, "continue", o.continue_token);
  if (!o.resource_version.empty()) add_param(q, "resourceVersion", o.resource_version);
  if (!o.resource_version_match.empty())
    add_param(q, "resourceVersionMatch", o.resource_version_match);
  if (watch && o.timeout_seconds > 0)
    add_param(q, "timeoutSeconds", std::to_string(o.timeout_seconds));
  if (watch && o.allow_watch_bookmarks) add_param(q, "allowWatchBookmarks", "true");
  return q;
}

std::string string_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// client-go errors.NewGenericServerResponse: the reason a bare status implies.
std::string reason_for_status(long status) {
  switch (status) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 406: return "NotAcceptable";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return status >= 500 ? "InternalError" : "";
  }
}

// An HTTP error answer as an Error: the Status body when there is one,
// otherwise the (truncated) body text.
Error error_from_response(long status, const std::string& body,
                          std::optional<std::chrono::seconds> retry_after) {
  Error e;
  e.http_status = static_cast<int>(status);
  e.retry_after = retry_after.value_or(std::chrono::seconds(0));
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded() && j.is_object() && string_field(j, "kind") == "Status") {
    e.reason = string_field(j, "reason");
    e.message = string_field(j, "message");
  }
  if (e.reason.empty()) e.reason = reason_for_status(status);
  if (e.message.empty()) {
    std::string text = body.substr(0, kMaxErrorBodyInMessage);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    if (text.empty()) {
      e.message = "the server responded with status " + std::to_string(status);
    } else {
      e.message = "the server responded with status " + std::to_string(status) + ": " + text;
      if (body.size() > kMaxErrorBodyInMessage) e.message += " (truncated)";
    }
  }
  return e;
}

// Retry-After as client-go reads it: whole seconds only (no HTTP date).
std::optional<std::chrono::seconds> retry_after_header(CURL* easy) {
  curl_header* h = nullptr;
  if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h)
    return std::nullopt;
  std::string_view v(h->value);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (ec != std::errc() || end != v.data() + v.size() || seconds < 0) return std::nullopt;
  return std::chrono::seconds(seconds);
}

// The answer to one 429 or 5xx: how long to wait before trying again, or
// nothing when it must not be retried (client-go checkWait: 5xx only with
// Retry-After; we also retry a bare 429, which only says "slow down").
std::optional<std::chrono::nanoseconds> retry_wait(long status,
                                                   std::optional<std::chrono::seconds> ra) {
  if (status == 429) return std::min<std::chrono::nanoseconds>(ra.value_or(kDefaultRetryAfter),
                                                               kMaxRetryAfterWait);
  if (status >= 500 && status < 600 && ra)
    return std::min<std::chrono::nanoseconds>(*ra, kMaxRetryAfterWait);
  return std::nullopt;
}

// Connection failures where the request certainly never reached the server.
bool never_sent(CURLcode c) {
  return c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST ||
         c == CURLE_COULDNT_RESOLVE_PROXY;
}

// Connection failures after which an idempotent request may be repeated
// (client-go: connection reset and probable EOF, GET only).
bool connection_broken(CURLcode c) {
  return never_sent(c) || c == CURLE_RECV_ERROR || c == CURLE_SEND_ERROR ||
         c == CURLE_GOT_NOTHING || c == CURLE_PARTIAL_FILE;
}

std::string verb_for_method(const std::string& method) {
  if (method == "GET" || method == "HEAD") return "get";
  if (method == "POST") return "create";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return "delete";
  std::string v = method;
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v;
}

// The resource a raw path addresses, for metrics: "pods" in
// /api/v1/namespaces/ns/pods/x/binding, "" for non-resource paths.
std::string resource_from_path(const std::string& path) {
  std::vector<std::string_view> seg;
  std::string_view p(path);
  while (!p.empty()) {
    if (p.front() == '/') {
      p.remove_prefix(1);
      continue;
    }
    size_t slash = p.find('/');
    seg.push_back(p.substr(0, slash));
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash);
  }
  size_t i = 0;
  if (seg.size() >= 2 && seg[0] == "api") {
    i = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis") {
    i = 3;
  } else {
    return "";
  }
  if (seg.size() > i + 2 && seg[i] == "namespaces") i += 2;
  return i < seg.size() ? std::string(seg[i]) : std::string();
}

const char* patch_content_type(PatchType t) {
  switch (t) {
    case PatchType::Merge: return "application/merge-patch+json";
    case PatchType::Json: return "application/json-patch+json";
    case PatchType::StrategicMerge: return "application/strategic-merge-patch+json";
  }
  return "application/merge-patch+json";
}

Error client_error(std::string message) {
  Error e;
  e.message = std::move(message);
  return e;
}

Error transport_error(const std::string& method, const std::string& url, CURLcode code,
                      const char* errbuf) {
  Error e;
  e.transport = true;
  e.message = method + " " + url + ": " + (errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code));
  return e;
}

// One request as the client sends it (possibly several times).
struct Call {
  std::string method;
  std::string verb;      // for the observer
  std::string resource;  // for the observer
  std::string path;
  std::string query;
  std::optional<std::string> body;
  std::string content_type = "application/json";
};

// Accumulates a response body up to a limit.
struct BodySink {
  std::string data;
  bool overflow = false;
};

size_t write_body(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* sink = static_cast<BodySink*>(userdata);
  const size_t n = size * nmemb;
  if (sink->data.size() + n > kMaxResponseBytes) {
    sink->overflow = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  sink->data.append(ptr, n);
  return n;
}

// What one watch attempt has seen so far; lives on the watch caller's stack
// and is touched only from curl callbacks on that same thread.
struct WatchState {
  CURL* easy = nullptr;
  const std::function<bool(WatchEvent&&)>* on_event = nullptr;
  std::function<void(long)> on_headers;  // reports the attempt once the status is known
  long status = 0;                       // set when the headers are complete
  std::string pending;                   // bytes of an incomplete event line
  size_t scanned = 0;                    // prefix of `pending` known to hold no newline
  std::string error_body;                // body of a non-2xx answer
  bool stopped_by_caller = false;        // on_event returned false
  std::optional<Error> failure;          // undecodable event or oversized line
  std::exception_ptr exception;          // thrown by on_event, rethrown by watch()

  bool streaming() const { return status >= 200 && status < 300; }

  // Returns false to end the stream.
  bool deliver(std::string_view line) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
      line.remove_suffix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front())))
      line.remove_prefix(1);
    if (line.empty()) return true;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("type")) {
      Error e;
      e.transport = true;  // a garbled stream: the remedy is a new watch
      e.message = "cannot decode watch event: " +
                  std::string(line.substr(0, std::min<size_t>(line.size(), 200)));
      failure = std::move(e);
      return false;
    }
    WatchEvent ev{string_field(j, "type"), json()};
    if (auto it = j.find("object"); it != j.end()) ev.object = std::move(*it);
    try {
      if (!(*on_event)(std::move(ev))) {
        stopped_by_caller = true;
        return false;
      }
    } catch (...) {
      exception = std::current_exception();
      return false;
    }
    return true;
  }

  size_t write(const char* data, size_t n) {
    if (status == 0) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (!streaming()) {
      if (error_body.size() < kMaxErrorBodyInMessage * 4) error_body.append(data, n);
      return n;
    }
    pending.append(data, n);
    size_t start = 0;
    for (;;) {
      size_t nl = pending.find('\n', std::max(start, scanned));
      if (nl == std::string::npos) break;
      if (!deliver(std::string_view(pending).substr(start, nl - start))) return 0;
      start = nl + 1;
    }
    pending.erase(0, start);
    scanned = pending.size();
    if (pending.size() > kMaxWatchEventBytes) {
      Error e;
      e.transport = true;
      e.message = "watch event larger than " + std::to_string(kMaxWatchEventBytes) + " bytes";
      failure = std::move(e);
      return 0;
    }
    return n;
  }
};

size_t watch_write(char* ptr, size_t size, size_t nmemb, void* userdata) {
  return static_cast<WatchState*>(userdata)->write(ptr, size * nmemb);
}

size_t watch_header(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* st = static_cast<WatchState*>(userdata);
  const size_t n = size * nmemb;
  // The blank line that ends a header block; 1xx blocks are followed by more.
  if ((n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n')) {
    long code = 0;
    curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && st->status == 0) {
      st->status = code;
      if (st->on_headers) st->on_headers(code);
    }
  }
  return n;
}

}  // namespace

struct Client::Impl {
  // A pooled easy handle and the client certificate its connections use.
  struct Handle {
    EasyPtr easy;
    ClientCertificate cert;
  };

  // What one HTTP exchange produced.
  struct Attempt {
    CURLcode curl = CURLE_OK;
    std::string curl_error;
    long status = 0;
    std::string body;
    bool body_overflow = false;
    std::optional<std::chrono::seconds> retry_after;
  };

  Impl(RestConfig cfg, ClientOptions opts)
      : config(std::move(cfg)),
        options(opts),
        clock(opts.clock ? opts.clock : &real_clock()),
        credentials(config, CredentialOptions{.clock = clock}) {
    global_init();
    // client-go rest.RESTClientFor: QPS 0 and burst 0 mean the defaults, a
    // negative QPS means no client-side limit.
    const double qps = config.qps == 0 ? kDefaultClientQps : config.qps;
    const int burst = config.burst == 0 ? kDefaultClientBurst : config.burst;
    if (qps > 0) limiter = std::make_unique<BucketRateLimiter>(*clock, qps, std::max(1, burst));
    resolve_endpoint();
  }

  // Works out the URL prefix for requests. With tls_server_name the URL names
  // that host (so curl sends it as SNI and verifies the certificate against
  // it) while CURLOPT_CONNECT_TO sends the connection to the configured
  // address, which is what Go's tls.Config.ServerName achieves. The Host
  // header then carries tls_server_name too; API servers ignore it.
  void resolve_endpoint() {
    std::string server = config.server;
    while (!server.empty() && server.back() == '/') server.pop_back();
    UrlPtr url(curl_url());
    if (server.empty() || !url ||
        curl_url_set(url.get(), CURLUPART_URL, server.c_str(), 0) != CURLUE_OK) {
      config_error = client_error("invalid API server URL \"" + config.server + "\"" +
                                  (config.source.empty() ? "" : " in " + config.source));
      return;
    }
    char* raw = nullptr;
    curl_url_get(url.get(), CURLUPART_SCHEME, &raw, 0);
    CurlString scheme(raw);
    if (!scheme || (std::string_view(scheme.get()) != "https" &&
                    std::string_view(scheme.get()) != "http")) {
      config_error = client_error("API server URL \"" + config.server + "\" is not http(s)");
      return;
    }
    display_base = server;
    base_url = server;
    if (config.tls_server_name.empty() || std::string_view(scheme.get()) != "https") return;
    raw = nullptr;
    curl_url_get(url.get(), CURLUPART_HOST, &raw, 0);
    CurlString host(raw);
    raw = nullptr;
    curl_url_get(url.get(), CURLUPART_PORT, &raw, CURLU_DEFAULT_PORT);
    CurlString port(raw);
    if (!host || !port ||
        curl_url_set(url.get(), CURLUPART_HOST, config.tls_server_name.c_str(), 0) != CURLUE_OK) {
      config_error = client_error("cannot use tls-server-name \"" + config.tls_server_name + "\"");
      return;
    }
    raw = nullptr;
    curl_url_get(url.get(), CURLUPART_URL, &raw, 0);
    CurlString rewritten(raw);
    if (!rewritten) {
      config_error = client_error("cannot use tls-server-name \"" + config.tls_server_name + "\"");
      return;
    }
    base_url = rewritten.get();
    while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
    connect_to = config.tls_server_name + ":" + port.get() + ":" + host.get() + ":" + port.get();
  }

  // --- handle pool

  Handle acquire(const ClientCertificate& cert) {
    {
      std::lock_guard lock(pool_mu);
      while (!idle.empty()) {
        Handle h = std::move(idle.back());
        idle.pop_back();
        // Connections made with another client certificate must not be
        // reused: drop the handle, and its connections with it.
        if (h.cert == cert) return h;
      }
    }
    return Handle{EasyPtr(curl_easy_init()), cert};
  }

  void release(Handle h) {
    if (!h.easy) return;
    std::lock_guard lock(pool_mu);
    if (idle.size() < kMaxIdleHandles) idle.push_back(std::move(h));
  }

  // --- waiting

  // Sleeps on the injected clock; with `stop`, wakes every `poll` to check it.
  void sleep_for(std::chrono::nanoseconds d, const std::atomic<bool>* stop = nullptr,
                 std::chrono::milliseconds poll = 200ms) const {
    std::mutex mu;
    std::condition_variable cv;
    std::unique_lock lock(mu);
    const Clock::SteadyTime deadline = clock->deadline_after(d);
    while (clock->now() < deadline) {
      if (stop && stop->load()) return;
      Clock::SteadyTime until = deadline;
      if (stop) until = std::min(deadline, clock->deadline_after(poll));
      clock->wait_until(lock, cv, until, [] { return false; });
    }
  }

  void throttle() {
    if (!limiter) return;
    const std::chrono::nanoseconds wait = limiter->when("");
    if (wait <= std::chrono::nanoseconds::zero()) return;
    sleep_for(wait, &no_retries);
    if (options.observer) options.observer->on_rate_limited(Seconds(wait));
  }

  void report(const Call& call, long status, Clock::SteadyTime started) const {
    if (!options.observer) return;
    options.observer->on_request(call.verb, call.resource, static_cast<int>(status),
                                 Seconds(clock->now() - started));
  }

  // --- one exchange

  std::string url_for(const Call& call) const {
    return base_url + call.path + (call.query.empty() ? "" : "?" + call.query);
  }
  std::string display_url(const Call& call) const {
    return display_base + call.path + (call.query.empty() ? "" : "?" + call.query);
  }

  // Sets every option of a request on a freshly reset handle. `headers` and
  // `connect_to_list` must outlive the transfer.
  Result<void> configure(CURL* easy, const Call& call, const std::string& authorization,
                         const ClientCertificate& cert, bool watch, SlistPtr& headers,
                         SlistPtr& connect_to_list, char* errbuf) const {
    curl_easy_reset(easy);
    const std::string url = url_for(call);
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());  // curl copies strings
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for timeouts
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, config.user_agent.c_str());
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");  // whatever curl can decode
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::chrono::milliseconds(options.connect_timeout).count()));
    if (!watch && options.request_timeout.count() > 0) {
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(std::chrono::milliseconds(options.request_timeout).count()));
    }

    if (call.method == "GET") {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else if (call.method == "HEAD") {
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else {
      if (call.body) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, call.body->data());
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(call.body->size()));
      }
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, call.method.c_str());
    }

    bool ok = append_header(headers, "Accept: application/json");
    if (call.body) ok = ok && append_header(headers, "Content-Type: " + call.content_type);
    ok = ok && append_header(headers, "Expect:");  // no 100-continue round trip
    if (!authorization.empty()) ok = ok && append_header(headers, "Authorization: " + authorization);
    if (!ok) return Unexpected(client_error("out of memory building request headers"));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());

    if (!connect_to.empty()) {
      if (!append_header(connect_to_list, connect_to))
        return Unexpected(client_error("out of memory building request"));
      curl_easy_setopt(easy, CURLOPT_CONNECT_TO, connect_to_list.get());
    }

    // TLS. A configured CA replaces the system roots (as client-go's CAData).
    if (!config.ca_pem.empty()) {
      curl_blob ca{const_cast<char*>(config.ca_pem.data()), config.ca_pem.size(),
                   CURL_BLOB_COPY};
      if (curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &ca) != CURLE_OK)
        return Unexpected(client_error("libcurl cannot take a CA bundle from memory"));
      curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
    }
    if (config.insecure_skip_tls_verify) {
      curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!cert.empty()) {
      curl_blob c{const_cast<char*>(cert.cert_pem.data()), cert.cert_pem.size(), CURL_BLOB_COPY};
      curl_blob k{const_cast<char*>(cert.key_pem.data()), cert.key_pem.size(), CURL_BLOB_COPY};
      if (curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &c) != CURLE_OK ||
          curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &k) != CURLE_OK) {
        return Unexpected(client_error("libcurl cannot take a client certificate from memory"));
      }
      curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
    }
    return {};
  }

  void count_connections(CURL* easy) {
    long n = 0;
    if (curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &n) == CURLE_OK && n > 0)
      connections_opened.fetch_add(static_cast<uint64_t>(n));
  }

  Result<Attempt> perform(const Call& call, const std::string& authorization,
                          const ClientCertificate& cert) {
    Handle h = acquire(cert);
    if (!h.easy) return Unexpected(client_error("curl_easy_init failed"));
    struct Releaser {
      Impl* self;
      Handle* h;
      ~Releaser() { self->release(std::move(*h)); }
    } releaser{this, &h};

    CURL* easy = h.easy.get();
    char errbuf[CURL_ERROR_SIZE] = {};
    SlistPtr headers, connect_to_list;
    auto configured = configure(easy, call, authorization, cert, /*watch=*/false, headers,
                                connect_to_list, errbuf);
    if (!configured) return Unexpected(configured.error());
    BodySink sink;
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &write_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &sink);

    Attempt a;
    a.curl = curl_easy_perform(easy);
    count_connections(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &a.status);
    a.curl_error = errbuf;
    a.body = std::move(sink.data);
    a.body_overflow = sink.overflow;
    if (a.status != 0) a.retry_after = retry_after_header(easy);
    return a;
  }

  // After a 401: drop the rejected credential and say whether a retry would
  // send a different one (client-go retries once for refreshable credentials).
  bool refresh_after_unauthorized(const std::string& rejected, const ClientCertificate& cert) {
    credentials.invalidate(rejected);
    auto header = credentials.authorization_header();
    auto new_cert = credentials.current_client_cert();
    if (!header || !new_cert) return true;  // the retry reports the credential error
    return *header != rejected || *new_cert != cert;
  }

  // Sends a request with client-go's retry rules:
  //  * 429, and 5xx with Retry-After: the server did not process it, so any
  //    verb is repeated after the wait, up to max_retries;
  //  * connection errors: only GET, or requests that never left (connect
  //    failures), with a short doubling backoff;
  //  * 401: once, with refreshed credentials, when they changed.
  Result<json> execute(const Call& call) {
    if (config_error) return Unexpected(*config_error);
    int retries = 0;
    bool auth_refreshed = false;
    std::chrono::nanoseconds backoff = kConnectRetryBase;
    for (;;) {
      throttle();
      auto authorization = credentials.authorization_header();
      if (!authorization) return Unexpected(authorization.error());
      auto cert = credentials.current_client_cert();
      if (!cert) return Unexpected(cert.error());

      const Clock::SteadyTime started = clock->now();
      auto attempt = perform(call, *authorization, *cert);
      if (!attempt) return Unexpected(attempt.error());
      Attempt& a = *attempt;
      report(call, a.curl == CURLE_OK ? a.status : 0, started);

      if (a.curl != CURLE_OK) {
        if (a.body_overflow) {
          Error e = client_error(call.method + " " + display_url(call) +
                                 ": response larger than " + std::to_string(kMaxResponseBytes) +
                                 " bytes");
          e.transport = true;
          return Unexpected(std::move(e));
        }
        const bool may_retry =
            never_sent(a.curl) || (call.method == "GET" && connection_broken(a.curl));
        if (may_retry && retries < options.max_retries && !no_retries) {
          ++retries;
          sleep_for(backoff, &no_retries);
          backoff = std::min<std::chrono::nanoseconds>(backoff * 2, kConnectRetryMax);
          continue;
        }
        return Unexpected(
            transport_error(call.method, display_url(call), a.curl, a.curl_error.c_str()));
      }

      if (a.status == 401 && !auth_refreshed) {
        auth_refreshed = true;
        if (refresh_after_unauthorized(*authorization, *cert)) continue;
      }

      if (a.status >= 200 && a.status < 300) {
        if (a.body.empty()) return json::object();
        json j = json::parse(a.body, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) {
          Error e;
          e.http_status = static_cast<int>(a.status);
          e.reason = "InternalError";
          e.message = call.method + " " + display_url(call) + ": cannot decode response body: " +
                      a.body.substr(0, kMaxErrorBodyInMessage);
          return Unexpected(std::move(e));
        }
        return j;
      }

      Error e = error_from_response(a.status, a.body, a.retry_after);
      if (auto wait = retry_wait(a.status, a.retry_after);
          wait && retries < options.max_retries && !no_retries) {
        ++retries;
        sleep_for(*wait, &no_retries);
        continue;
      }
      return Unexpected(std::move(e));
    }
  }

  // --- watch

  enum class WatchOutcome { Done, Retry };

  Result<void> watch(const Call& call, const std::function<bool(WatchEvent&&)>& on_event,
                     const std::atomic<bool>& stop, std::chrono::milliseconds poll) {
    if (config_error) return Unexpected(*config_error);
    int retries = 0;
    bool auth_refreshed = false;
    std::chrono::nanoseconds backoff = kConnectRetryBase;
    const std::chrono::milliseconds poll_interval = std::max(poll, std::chrono::milliseconds(1));
    for (;;) {
      if (stop.load()) return {};
      throttle();
      if (stop.load()) return {};
      auto authorization = credentials.authorization_header();
      if (!authorization) return Unexpected(authorization.error());
      auto cert = credentials.current_client_cert();
      if (!cert) return Unexpected(cert.error());

      // A dedicated handle: a watch holds its connection for its whole life,
      // and a handle driven by a multi handle leaves its connections there.
      EasyPtr easy(curl_easy_init());
      MultiPtr multi(curl_multi_init());
      if (!easy || !multi) return Unexpected(client_error("curl initialisation failed"));
      char errbuf[CURL_ERROR_SIZE] = {};
      SlistPtr headers, connect_to_list;
      auto configured = configure(easy.get(), call, *authorization, *cert, /*watch=*/true,
                                  headers, connect_to_list, errbuf);
      if (!configured) return Unexpected(configured.error());

      const Clock::SteadyTime started = clock->now();
      bool reported = false;
      WatchState st;
      st.easy = easy.get();
      st.on_event = &on_event;
      st.on_headers = [&](long code) {
        reported = true;
        report(call, code, started);
      };
      curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, &watch_write);
      curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &st);
      curl_easy_setopt(easy.get(), CURLOPT_HEADERFUNCTION, &watch_header);
      curl_easy_setopt(easy.get(), CURLOPT_HEADERDATA, &st);

      CURLcode result = CURLE_OK;
      CURLMcode multi_result = CURLM_OK;
      bool stopped = false;
      {
        MultiAttachment attachment(multi.get(), easy.get());
        if (!attachment.attached()) return Unexpected(client_error("curl_multi_add_handle failed"));
        int running = 1;
        while (running) {
          multi_result = curl_multi_perform(multi.get(), &running);
          if (multi_result != CURLM_OK || !running) break;
          if (stop.load() || st.exception) {
            stopped = true;
            break;
          }
          int ignored = 0;
          curl_multi_poll(multi.get(), nullptr, 0, static_cast<int>(poll_interval.count()),
                          &ignored);
          if (stop.load()) {
            stopped = true;
            break;
          }
        }
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left)) {
          if (msg->msg == CURLMSG_DONE) result = msg->data.result;
        }
      }
      count_connections(easy.get());
      if (!reported) report(call, st.status, started);
      if (st.exception) std::rethrow_exception(st.exception);
      if (stopped || st.stopped_by_caller) return {};
      if (st.failure) return Unexpected(*st.failure);
      if (multi_result != CURLM_OK) {
        return Unexpected(client_error("GET " + display_url(call) + ": " +
                                       curl_multi_strerror(multi_result)));
      }

      if (st.status == 0) {
        // No answer at all. Only a connection that was never made is retried
        // here; anything later is the caller's to handle with a new watch.
        if (result == CURLE_OK) result = CURLE_GOT_NOTHING;
        if (never_sent(result) && retries < options.max_retries) {
          ++retries;
          sleep_for(backoff, &stop, poll_interval);
          backoff = std::min<std::chrono::nanoseconds>(backoff * 2, kConnectRetryMax);
          continue;
        }
        return Unexpected(transport_error("GET", display_url(call), result, errbuf));
      }
      if (st.streaming()) {
        if (result != CURLE_OK)
          return Unexpected(transport_error("GET", display_url(call), result, errbuf));
        // A final event without a trailing newline.
        if (!st.pending.empty() && !st.deliver(st.pending)) {
          if (st.exception) std::rethrow_exception(st.exception);
          if (st.failure) return Unexpected(*st.failure);
        }
        return {};
      }

      // An error answer: nothing was streamed, so the request may be repeated.
      if (st.status == 401 && !auth_refreshed) {
        auth_refreshed = true;
        if (refresh_after_unauthorized(*authorization, *cert)) continue;
      }
      auto retry_after = retry_after_header(easy.get());
      Error e = error_from_response(st.status, st.error_body, retry_after);
      if (auto wait = retry_wait(st.status, retry_after); wait && retries < options.max_retries) {
        ++retries;
        sleep_for(*wait, &stop, poll_interval);
        continue;
      }
      return Unexpected(std::move(e));
    }
  }

  RestConfig config;
  std::atomic<bool> no_retries{false};  // stop_retrying()
  ClientOptions options;
  const Clock* clock;
  CredentialProvider credentials;
  std::unique_ptr<BucketRateLimiter> limiter;  // null: no client-side limit (qps <= 0)
  std::optional<Error> config_error;           // the server URL is unusable
  std::string base_url;                        // what requests go to
  std::string display_base;                    // what error messages show
  std::string connect_to;                      // CURLOPT_CONNECT_TO entry for tls_server_name

  std::mutex pool_mu;
  std::vector<Handle> idle;
  std::atomic<uint64_t> connections_opened{0};
};

Client::Client(RestConfig config, ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(config), options)) {}

Client::~Client() = default;

void Client::stop_retrying() { impl_->no_retries = true; }

const RestConfig& Client::config() const { return impl_->config; }

uint64_t Client::connections_opened() const { return impl_->connections_opened.load(); }

Result<json> Client::get(const ResourceRef& r, const std::string& ns, const std::string& name,
                         const std::string& subresource) {
  return impl_->execute(Call{.method = "GET",
                             .verb = "get",
                             .resource = r.resource,
                             .path = r.path(ns, name, subresource)});
}

Result<json> Client::list(const ResourceRef& r, const std::string& ns, const ListOptions& opts) {
  return impl_->execute(Call{.method = "GET",
                             .verb = "list",
                             .resource = r.resource,
                             .path = r.path(ns),
                             .query = list_query(opts, /*watch=*/false)});
}

namespace {

std::string object_namespace(const ResourceRef& r, const std::string& ns, const json& obj) {
  if (!r.namespaced || !ns.empty()) return ns;
  if (auto m = obj.find("metadata"); m != obj.end() && m->is_object())
    return string_field(*m, "namespace");
  return ns;
}

std::string object_name(const json& obj) {
  if (auto m = obj.find("metadata"); m != obj.end() && m->is_object())
    return string_field(*m, "name");
  return "";
}

}  // namespace

Result<json> Client::create(const ResourceRef& r, const std::string& ns, const json& obj) {
  return impl_->execute(Call{.method = "POST",
                             .verb = "create",
                             .resource = r.resource,
                             .path = r.path(object_namespace(r, ns, obj)),
                             .body = obj.dump()});
}

Result<json> Client::update(const ResourceRef& r, const std::string& ns, const json& obj,
                            const std::string& subresource) {
  const std::string name = object_name(obj);
  if (name.empty())
    return Unexpected(client_error("update of " + r.resource + ": object has no metadata.name"));
  return impl_->execute(Call{.method = "PUT",
                             .verb = "update",
                             .resource = r.resource,
                             .path = r.path(object_namespace(r, ns, obj), name, subresource),
                             .body = obj.dump()});
}

Result<json> Client::patch(const ResourceRef& r, const std::string& ns, const std::string& name,
                           PatchType type, const json& patch, const std::string& subresource) {
  return impl_->execute(Call{.method = "PATCH",
                             .verb = "patch",
                             .resource = r.resource,
                             .path = r.path(ns, name, subresource),
                             .body = patch.dump(),
                             .content_type = patch_content_type(type)});
}

Result<json> Client::remove(const ResourceRef& r, const std::string& ns, const std::string& name,
                            const DeleteOptions& opts) {
  Call call{.method = "DELETE", .verb = "delete", .resource = r.resource, .path = r.path(ns, name)};
  json body = json::object();
  if (!opts.propagation_policy.empty()) body["propagationPolicy"] = opts.propagation_policy;
  if (opts.grace_period_seconds) body["gracePeriodSeconds"] = *opts.grace_period_seconds;
  if (!opts.precondition_uid.empty()) body["preconditions"]["uid"] = opts.precondition_uid;
  if (!opts.precondition_resource_version.empty())
    body["preconditions"]["resourceVersion"] = opts.precondition_resource_version;
  if (!body.empty()) {
    body["kind"] = "DeleteOptions";
    body["apiVersion"] = "v1";
    call.body = body.dump();
  }
  return impl_->execute(call);
}

Result<void> Client::watch(const ResourceRef& r, const std::string& ns, const ListOptions& opts,
                           const std::function<bool(WatchEvent&&)>& on_event,
                           const std::atomic<bool>& stop, std::chrono::milliseconds poll) {
  return impl_->watch(Call{.method = "GET",
                           .verb = "watch",
                           .resource = r.resource,
                           .path = r.path(ns),
                           .query = list_query(opts, /*watch=*/true)},
                      on_event, stop, poll);
}

Result<json> Client::request(const std::string& method, const std::string& path,
                             const std::string& query, const json* body,
                             const std::string& content_type) {
  Call call{.method = method,
            .verb = verb_for_method(method),
            .resource = resource_from_path(path),
            .path = path,
            .query = query,
            .content_type = content_type};
  if (body) call.body = body->dump();
  return impl_->execute(call);
}

}  // namespace frugal::kube
