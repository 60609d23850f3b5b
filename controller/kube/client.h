// The Kubernetes REST client: JSON over HTTP(S) with libcurl, authentication
// from a RestConfig, a client-side rate limit, 429/Retry-After handling, safe
// retries, and streaming watches. Knows resources only as group/version/
// resource; nothing here knows what a TrainingJob is.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/clock.h"
#include "controller/kube/error.h"
#include "controller/kube/rest_config.h"

namespace frugal::kube {

using json = nlohmann::json;

// Which collection a request addresses.
struct ResourceRef {
  std::string group;  // "" for core
  std::string version;
  std::string resource;  // plural
  std::string kind;      // for error messages and events
  bool namespaced = true;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // /api/v1/namespaces/NS/pods/NAME/SUB or /apis/G/V/RES/NAME; empty parts are left out.
  std::string path(const std::string& ns = {}, const std::string& name = {},
                   const std::string& subresource = {}) const;
};

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;
  std::string continue_token;
  std::string resource_version;
  std::string resource_version_match;  // "", "Exact", "NotOlderThan"
  // Watch only.
  int64_t timeout_seconds = 0;
  bool allow_watch_bookmarks = false;
};

struct DeleteOptions {
  std::string propagation_policy;  // "", "Background", "Foreground", "Orphan"
  std::optional<int64_t> grace_period_seconds;
  std::string precondition_uid;
  std::string precondition_resource_version;
};

enum class PatchType { Merge, Json, StrategicMerge };

// One watch event as the server sent it: ADDED, MODIFIED, DELETED, BOOKMARK
// or ERROR (object is then a Status).
struct WatchEvent {
  std::string type;
  json object;
};

// Called by the client for every request it sends, for metrics.
class ClientObserver {
 public:
  virtual ~ClientObserver() = default;
  // verb: get, list, watch, create, update, patch, delete; code: HTTP status or 0.
  virtual void on_request(const std::string& verb, const std::string& resource, int code,
                          std::chrono::duration<double> latency) = 0;
  virtual void on_rate_limited(std::chrono::duration<double> /*waited*/) {}
};

struct ClientOptions {
  const Clock* clock = &real_clock();
  ClientObserver* observer = nullptr;  // not owned; may be null
  // Per-request timeout for non-watch requests (client-go has none by
  // default; controller-runtime callers usually set one).
  std::chrono::seconds request_timeout{30};
  std::chrono::seconds connect_timeout{10};
  // How many times an idempotent request (GET, and any request that failed
  // before it reached the server) is retried on a connection error, and how
  // many 429/5xx-with-Retry-After answers are retried (client-go: 10).
  int max_retries = 10;
};

class Client {
 public:
  Client(RestConfig config, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Result<json> get(const ResourceRef& r, const std::string& ns, const std::string& name,
                   const std::string& subresource = {});
  // One page; follow metadata.continue for more.
  Result<json> list(const ResourceRef& r, const std::string& ns, const ListOptions& opts = {});
  Result<json> create(const ResourceRef& r, const std::string& ns, const json& obj);
  Result<json> update(const ResourceRef& r, const std::string& ns, const json& obj,
                      const std::string& subresource = {});
  Result<json> update_status(const ResourceRef& r, const std::string& ns, const json& obj) {
    return update(r, ns, obj, "status");
  }
  Result<json> patch(const ResourceRef& r, const std::string& ns, const std::string& name,
                     PatchType type, const json& patch, const std::string& subresource = {});
  // Returns the object if it still exists (finalizers) or a Status.
  Result<json> remove(const ResourceRef& r, const std::string& ns, const std::string& name,
                      const DeleteOptions& opts = {});

  // Streams a watch. `on_event` runs on the calling thread for each event and
  // returns false to stop. Returns when the server ends the stream (Ok), the
  // connection fails (Error, transport), `on_event` says stop, or `stop`
  // becomes true (checked at least every `poll` interval).
  Result<void> watch(const ResourceRef& r, const std::string& ns, const ListOptions& opts,
                     const std::function<bool(WatchEvent&&)>& on_event,
                     const std::atomic<bool>& stop,
                     std::chrono::milliseconds poll = std::chrono::milliseconds(200));

  // Any request, for the rest: e.g. POST .../pods/NAME/binding.
  Result<json> request(const std::string& method, const std::string& path,
                       const std::string& query, const json* body,
                       const std::string& content_type = "application/json");

  const RestConfig& config() const;

  // From now on every request is tried once: no retries after connection
  // errors or 429/Retry-After answers, and waits already under way (backoff,
  // the client-side rate limit) end at once. A stopping manager calls it, so
  // that a reconcile in flight against an API server that is gone fails in
  // milliseconds instead of retrying for seconds, while one against a healthy
  // server still completes (client-go gets the same from a cancelled context,
  // except that a cancelled context fails even requests that would succeed).
  void stop_retrying();

  // New connections (TCP, and TLS when https) opened so far, summed from
  // curl's CURLINFO_NUM_CONNECTS: shows that keep-alive works (tests, metrics).
  uint64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace frugal::kube
