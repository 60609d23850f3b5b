// kubesim's API logic: routes a Request to discovery, OpenAPI, CRUD, patch,
// watch, subresources and admin endpoints, and applies the semantics of the
// real API server (resource versions, generation, status split, finalizers,
// garbage collection, CRDs, schema validation). Transport-free: the HTTP
// server hands it parsed requests; tests may call it directly.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sim/faults.h"
#include "sim/registry.h"
#include "sim/request.h"
#include "sim/store.h"

namespace kubesim {

class WatchSession;

struct ApiServerOptions {
  std::string token;  // bearer token required on every request but health checks; empty: none
  // client-go reads bookmarks only to advance its resourceVersion; the real
  // watch cache sends them about once a minute. Shorter here so short tests see them.
  std::chrono::milliseconds bookmark_interval{30000};
  // kube-apiserver's --min-request-timeout default (1800 s): watches without
  // timeoutSeconds end after a random time in [min, 2*min].
  std::chrono::seconds min_request_timeout{1800};
  size_t history_limit = Store::kDefaultHistoryLimit;
  std::string server_address = "127.0.0.1:6443";
  // When true, a watch from a compacted resourceVersion is answered with HTTP
  // 410; when false (the real server's behaviour with its watch cache) with
  // HTTP 200 and an in-stream ERROR event carrying the 410 Status.
  bool expired_watch_as_http_status = false;
  uint64_t seed = 1;
  // Called once for every write request (create, update, patch, delete,
  // deletecollection) after it is answered, with one audit record:
  // {"time" (RFC 3339, microseconds), "verb", "resource" (group/resource),
  // "subresource", "namespace", "name", "userAgent", "code"}. Tests use it to
  // prove who wrote what when (e.g. no write from a replica that lost its
  // lease). Must be thread-safe; null: no audit.
  std::function<void(const json& record)> audit;
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  };
};

// Parsed DeleteOptions (body or query).
struct DeleteOptions {
  std::string propagation;  // Background, Foreground, Orphan; empty: the resource's default
  std::optional<int64_t> grace_period_seconds;
  std::string precondition_uid;
  std::string precondition_rv;
  bool dry_run = false;
};

class ApiServer {
 public:
  explicit ApiServer(ApiServerOptions opts = {});
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Thread-safe entry point for the transport.
  Reply handle(const Request& req);

  // In-process access for tests and the simulated cluster.
  Store& store() { return store_; }
  Registry& registry() { return registry_; }
  FaultInjector& faults() { return faults_; }
  Result<json> create(const std::string& group, const std::string& version,
                      const std::string& resource, const std::string& ns, json obj);
  Result<json> get(const std::string& group, const std::string& version,
                   const std::string& resource, const std::string& ns, const std::string& name);
  Result<json> update(const std::string& group, const std::string& version,
                      const std::string& resource, const std::string& ns, json obj,
                      bool status = false);
  // Atomic read-modify-write of one object (or its status when `status`):
  // `change` sees the current object and returns the desired one; no
  // resourceVersion conflict is possible. For kubesim's own components.
  Result<json> modify(const std::string& group, const std::string& version,
                      const std::string& resource, const std::string& ns, const std::string& name,
                      bool status, const std::function<Result<json>(const json& current)>& change);
  // What POST pods/NAME/binding does: sets spec.nodeName (409 when already
  // bound or being deleted) and records PodScheduled=True.
  Result<void> bind_pod(const std::string& ns, const std::string& name, const std::string& node);
  // Serves /kubesim/PREFIX[/...] (admin endpoints of components built on the
  // API server, e.g. the simulated cluster). Same auth as every request.
  void add_admin_endpoint(const std::string& prefix, std::function<Reply(const Request&)> handler) {
    std::lock_guard lock(admin_mu_);
    admin_extensions_.emplace_back(prefix, std::move(handler));
  }
  void remove_admin_endpoint(const std::string& prefix) {
    std::lock_guard lock(admin_mu_);
    std::erase_if(admin_extensions_, [&](const auto& e) { return e.first == prefix; });
  }
  Result<json> remove(const std::string& group, const std::string& version,
                      const std::string& resource, const std::string& ns, const std::string& name,
                      DeleteOptions opts = {});

  // Ends every open watch (fault injection); returns how many.
  size_t drop_watches();
  size_t active_watches();
  // Waits until the garbage collector has nothing queued (tests).
  void wait_gc_idle();

 private:
  struct Target;
  // Per-request write settings.
  struct WriteContext {
    bool dry_run = false;
    // Strict, Warn or Ignore; Warn is the server's default since 1.27.
    std::string field_validation = "Warn";
    std::vector<std::string> warnings;
  };

  Reply route(const Request& req);
  Reply handle_admin(const Request& req);
  Reply handle_resource(const Request& req, Target& t);
  Reply serve_resource(const Request& req, Target& t, const std::string& verb);
  void audit(const Request& req, const Target& t, const std::string& verb, const Reply& reply);

  Result<Reply> do_get(const Request& req, const Target& t);
  Result<Reply> do_list(const Request& req, const Target& t);
  Result<Reply> do_watch(const Request& req, const Target& t);
  Result<Reply> do_create(const Request& req, const Target& t);
  Result<Reply> do_update(const Request& req, const Target& t);
  Result<Reply> do_patch(const Request& req, const Target& t);
  Result<Reply> do_delete(const Request& req, const Target& t);
  Result<Reply> do_delete_collection(const Request& req, const Target& t);
  Result<Reply> do_scale(const Request& req, const Target& t);
  Result<Reply> do_binding(const Request& req, const Target& t);
  Result<Reply> do_eviction(const Request& req, const Target& t);

  // The write pipeline shared by HTTP and in-process callers.
  Result<ObjectPtr> create_object(const ResourceInfo& info, const std::string& ns, json obj,
                                  WriteContext& ctx);
  // `change` turns the current object into the desired one (update or patch).
  Result<ObjectPtr> update_object(const ResourceInfo& info, const std::string& ns,
                                  const std::string& name, bool status_subresource,
                                  const std::function<Result<json>(const json& current)>& change,
                                  WriteContext& ctx);
  // Returns the object still present (finalizers, graceful) or null when gone.
  Result<ObjectPtr> delete_object(const ResourceInfo& info, const std::string& ns,
                                  const std::string& name, const DeleteOptions& opts,
                                  bool& deleted_now);

  Result<void> admit(const ResourceInfo& info, json& obj, const json* old, WriteContext& ctx);
  void after_write(const ResourceInfo& info, const ObjectPtr& before, const ObjectPtr& after);

  // Garbage collection, namespace and CRD cleanup (apiserver_gc.cpp).
  void gc_enqueue(const std::string& uid);
  void gc_loop();
  void gc_process(const std::string& uid);
  void cleanup_namespace(const json& ns_obj);
  void cleanup_crd(const json& crd);

  json present(const ResourceInfo& info, const json& obj) const;
  Response object_response(int status, const Request& req, const ResourceInfo& info,
                           const json& obj) const;
  std::string now_rfc3339() const;

  ApiServerOptions opts_;
  Store store_;
  Registry registry_;
  FaultInjector faults_;

  // OpenAPI documents are costly to build and change only with the registry.
  std::mutex openapi_mu_;
  uint64_t openapi_generation_ = 0;
  std::map<std::string, std::string> openapi_cache_;  // "" = index, else "group/version"
  std::string openapi_document(const std::string& key, const std::function<json()>& build);

  std::mutex admin_mu_;
  std::vector<std::pair<std::string, std::function<Reply(const Request&)>>> admin_extensions_;

  std::mutex watches_mu_;
  std::vector<std::weak_ptr<WatchSession>> watches_;

  std::mutex gc_mu_;
  std::condition_variable gc_cv_;
  std::condition_variable gc_idle_cv_;
  std::deque<std::string> gc_queue_;
  bool gc_busy_ = false;
  bool stopping_ = false;
  std::thread gc_thread_;
};

}  // namespace kubesim
