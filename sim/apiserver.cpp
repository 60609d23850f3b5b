#include "sim/apiserver.h"

#include <algorithm>
#include <random>
#include <sstream>

#include "sim/base64.h"
#include "sim/builtin_objects.h"
#include "sim/crd.h"
#include "sim/discovery.h"
#include "sim/jsonpath.h"
#include "sim/names.h"
#include "sim/openapi.h"
#include "sim/patch.h"
#include "sim/schema.h"
#include "sim/selector.h"
#include "sim/table.h"
#include "sim/watch.h"

namespace kubesim {

namespace {

constexpr const char* kVersionJson = R"({
  "major": "1",
  "minor": "32",
  "gitVersion": "v1.32.0-kubesim",
  "gitCommit": "0000000000000000000000000000000000000000",
  "gitTreeState": "clean",
  "buildDate": "2026-01-01T00:00:00Z",
  "goVersion": "go1.23.0",
  "compiler": "gc",
  "platform": "linux/amd64"
})";

// Finalizers the server itself acts on (metav1.FinalizerOrphanDependents, ...).
constexpr const char* kForegroundFinalizer = "foregroundDeletion";
constexpr const char* kOrphanFinalizer = "orphan";
constexpr const char* kCrdCleanupFinalizer = "customresourcecleanup.apiextensions.k8s.io";
// Pods: the default spec.terminationGracePeriodSeconds.
constexpr int64_t kDefaultPodGraceSeconds = 30;

const char* kTableAccept = "as=Table";
const char* kPartialAccept = "as=PartialObjectMetadata";

Response json_response(int status, const json& body) {
  Response r;
  r.status = status;
  r.body = body.dump();
  return r;
}

Response error_response(const ApiError& err) {
  Response r = json_response(err.code, err.to_status());
  if (err.retry_after_seconds > 0) {
    r.headers.emplace_back("Retry-After", std::to_string(err.retry_after_seconds));
  }
  return r;
}

json success_status(const ResourceInfo& info, const json& obj) {
  const json& meta = obj["metadata"];
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", json::object()},
          {"status", "Success"},
          {"details",
           {{"name", meta.value("name", "")},
            {"group", info.group},
            {"kind", info.resource},
            {"uid", meta.value("uid", "")}}}};
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : path) {
    if (c == '/') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

// RFC 7234 warn-text is a quoted string: quotes and backslashes escaped.
std::pair<std::string, std::string> warning_header(const std::string& text) {
  std::string quoted;
  for (char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return {"Warning", "299 - \"" + quoted + "\""};
}

// The real server's answer to a verb a path does not support.
ApiError not_allowed() {
  return method_not_allowed("the server does not allow this method on the requested resource");
}

bool truthy(const std::string& v) { return v == "true" || v == "1"; }

const json& meta_of(const json& obj) {
  static const json kEmpty = json::object();
  auto it = obj.find("metadata");
  return it != obj.end() && it->is_object() ? *it : kEmpty;
}

std::vector<std::string> finalizers_of(const json& obj) {
  std::vector<std::string> out;
  const json& meta = meta_of(obj);
  auto it = meta.find("finalizers");
  if (it == meta.end() || !it->is_array()) return out;
  for (const auto& f : *it) {
    if (f.is_string()) out.push_back(f.get<std::string>());
  }
  return out;
}

bool has_finalizer(const json& obj, const std::string& f) {
  auto all = finalizers_of(obj);
  return std::find(all.begin(), all.end(), f) != all.end();
}

bool being_deleted(const json& obj) { return meta_of(obj).contains("deletionTimestamp"); }

// Everything but metadata and status: a change here bumps generation.
json spec_part(const json& obj) {
  json copy = obj;
  if (copy.is_object()) {
    copy.erase("metadata");
    copy.erase("status");
    copy.erase("apiVersion");
    copy.erase("kind");
  }
  return copy;
}

// Equality that ignores what every write changes anyway.
bool same_object(const json& a, const json& b) {
  json x = a, y = b;
  for (json* o : {&x, &y}) {
    if (o->contains("metadata")) {
      (*o)["metadata"].erase("resourceVersion");
      (*o)["metadata"].erase("managedFields");
    }
  }
  return x == y;
}

struct ContinueToken {
  uint64_t rv = 0;
  std::string start;
};

std::string encode_continue(uint64_t rv, const std::string& key) {
  json t = {{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", key}};
  return base64url_encode(t.dump());
}

Result<ContinueToken> decode_continue(const std::string& token) {
  auto raw = base64url_decode(token);
  if (!raw) return Unexpected(bad_request("continue key is not valid: illegal base64 data"));
  auto j = json::parse(*raw, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("rv") || !j.contains("start") ||
      j.value("v", "") != "meta.k8s.io/v1") {
    return Unexpected(
        bad_request("continue key is not valid: incorrect encoded start "
                    "resourceVersion (version meta.k8s.io/v1)"));
  }
  return ContinueToken{j["rv"].get<uint64_t>(), j["start"].get<std::string>()};
}

Result<uint64_t> parse_rv(const std::string& s) {
  if (s.empty()) return uint64_t{0};
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return Unexpected(ApiError{.code = 400,
                                 .reason = "BadRequest",
                                 .message = "resourceVersion: Invalid value: \"" + s +
                                            "\": must be a valid resource version"});
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

Result<int64_t> parse_int(const std::string& name, const std::string& s) {
  try {
    size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
    return static_cast<int64_t>(v);
  } catch (const std::exception&) {
    return Unexpected(bad_request(name + ": invalid value \"" + s + "\""));
  }
}

std::string verb_of(const Request& req, bool has_name, bool watch) {
  if (req.method == "GET") return watch ? "watch" : (has_name ? "get" : "list");
  if (req.method == "POST") return "create";
  if (req.method == "PUT") return "update";
  if (req.method == "PATCH") return "patch";
  if (req.method == "DELETE") return has_name ? "delete" : "deletecollection";
  return "unknown";
}

}  // namespace

// What a request addresses.
struct ApiServer::Target {
  ResourceInfo info;
  std::string ns;
  std::string name;
  std::string subresource;
  bool watch = false;
};

ApiServer::ApiServer(ApiServerOptions opts)
    : opts_(std::move(opts)), store_(opts_.history_limit), faults_(opts_.seed) {
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    auto r = create("", "v1", "namespaces", "", json{{"metadata", {{"name", ns}}}});
    (void)r;
  }
  gc_thread_ = std::thread([this] { gc_loop(); });
}

ApiServer::~ApiServer() {
  {
    std::lock_guard lock(gc_mu_);
    stopping_ = true;
  }
  gc_cv_.notify_all();
  if (gc_thread_.joinable()) gc_thread_.join();
  drop_watches();
}

std::string ApiServer::now_rfc3339() const { return rfc3339(opts_.now()); }

json ApiServer::present(const ResourceInfo& info, const json& obj) const {
  if (obj.value("apiVersion", "") == info.api_version()) return obj;
  json copy = obj;
  copy["apiVersion"] = info.api_version();
  return copy;
}

Response ApiServer::object_response(int status, const Request& req, const ResourceInfo& info,
                                    const json& obj) const {
  if (req.accept.find(kTableAccept) != std::string::npos) {
    json table =
        to_table(info, {present(info, obj)}, req.param("includeObject", "Metadata"), opts_.now());
    Response r = json_response(status, table);
    r.content_type = "application/json;as=Table;v=v1;g=meta.k8s.io";
    return r;
  }
  if (req.accept.find(kPartialAccept) != std::string::npos) {
    Response r = json_response(status, json{{"kind", "PartialObjectMetadata"},
                                            {"apiVersion", "meta.k8s.io/v1"},
                                            {"metadata", meta_of(obj)}});
    r.content_type = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io";
    return r;
  }
  return json_response(status, present(info, obj));
}

namespace {
// /healthz, /livez, /readyz and their per-check sub-paths: answered without auth.
bool is_health_path(const std::string& path) {
  for (const char* base : {"/healthz", "/livez", "/readyz"}) {
    const std::string b = base;
    if (path == b || path.rfind(b + "/", 0) == 0) return true;
  }
  return false;
}
}  // namespace

Reply ApiServer::handle(const Request& req) {
  if (is_health_path(req.path)) {
    Response r;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "ok";
    return r;
  }
  if (!opts_.token.empty() && req.authorization != "Bearer " + opts_.token) {
    return error_response(unauthorized());
  }
  try {
    return route(req);
  } catch (const std::exception& e) {
    // A bug must not take the server down; answer like the real server's panic handler.
    return error_response(internal_error(std::string("kubesim: unexpected error: ") + e.what()));
  }
}

Reply ApiServer::route(const Request& req) {
  const std::string& path = req.path;
  if (path == "/version" || path == "/version/") {
    Response r;
    r.body = kVersionJson;
    return r;
  }
  if (path.rfind("/kubesim/", 0) == 0) return handle_admin(req);

  const bool aggregated = req.accept.find("as=APIGroupDiscoveryList") != std::string::npos;
  auto aggregated_response = [&](bool core) {
    Response r = json_response(200, discovery_aggregated(core, registry_.all()));
    r.content_type = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    return r;
  };
  if (path == "/openapi/v3" || path == "/openapi/v3/") {
    Response r;
    r.body = openapi_document("", [this] { return openapi_v3_index(registry_.all()); });
    return r;
  }
  if (path.rfind("/openapi/v3/", 0) == 0) {
    auto parts = split_path(path.substr(std::string("/openapi/v3/").size()));
    std::string group, version;
    if (parts.size() == 2 && parts[0] == "api") {
      version = parts[1];
    } else if (parts.size() == 3 && parts[0] == "apis") {
      group = parts[1];
      version = parts[2];
    } else {
      return error_response(not_found_path());
    }
    auto all = registry_.all();
    bool served = std::any_of(all.begin(), all.end(), [&](const ResourceInfo& r) {
      return r.group == group && r.version == version;
    });
    if (!served) return error_response(not_found_path());
    Response r;
    r.body = openapi_document(group + "/" + version,
                              [&] { return openapi_v3_group_version(group, version, all); });
    return r;
  }

  auto parts = split_path(path);
  if (parts.empty()) {
    json paths = json::array(
        {"/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v3", "/readyz", "/version"});
    return json_response(200, json{{"paths", paths}});
  }
  if (parts[0] != "api" && parts[0] != "apis") return error_response(not_found_path());

  size_t gv_len;
  std::string group, version;
  if (parts[0] == "api") {
    if (parts.size() == 1) {
      if (aggregated) return aggregated_response(true);
      return json_response(200, discovery_api_versions(opts_.server_address));
    }
    version = parts[1];
    gv_len = 2;
  } else {
    if (parts.size() == 1) {
      if (aggregated) return aggregated_response(false);
      return json_response(200, discovery_api_group_list(registry_.all()));
    }
    group = parts[1];
    if (parts.size() == 2) {
      json list = discovery_api_group_list(registry_.all());
      for (const auto& g : list["groups"]) {
        if (g.value("name", "") == group) {
          json out = g;
          out["kind"] = "APIGroup";
          out["apiVersion"] = "v1";
          return json_response(200, out);
        }
      }
      return error_response(not_found_path());
    }
    version = parts[2];
    gv_len = 3;
  }
  auto all = registry_.all();
  const bool gv_served = std::any_of(all.begin(), all.end(), [&](const ResourceInfo& r) {
    return r.group == group && r.version == version;
  });
  if (!gv_served) return error_response(not_found_path());
  if (parts.size() == gv_len) {
    return json_response(200, discovery_api_resource_list(group, version, all));
  }

  std::vector<std::string> rest(parts.begin() + static_cast<long>(gv_len), parts.end());
  Target t;
  if (!rest.empty() && rest[0] == "watch") {
    t.watch = true;
    rest.erase(rest.begin());
  }
  if (rest.empty()) return error_response(not_found_path());
  std::optional<ResourceInfo> info;
  if (rest[0] == "namespaces" && rest.size() >= 3) {
    auto nested = registry_.find(group, version, rest[2]);
    if (nested && nested->namespaced) {
      info = nested;
      t.ns = rest[1];
      rest.erase(rest.begin(), rest.begin() + 2);
    }
  }
  if (!info) info = registry_.find(group, version, rest[0]);
  if (!info) return error_response(not_found_path());
  t.info = *info;
  if (rest.size() > 1) t.name = rest[1];
  if (rest.size() > 2) t.subresource = rest[2];
  if (rest.size() > 3) return error_response(not_found_path());
  if (truthy(req.param("watch"))) t.watch = true;
  return handle_resource(req, t);
}

std::string ApiServer::openapi_document(const std::string& key,
                                        const std::function<json()>& build) {
  std::lock_guard lock(openapi_mu_);
  const uint64_t gen = registry_.generation();
  if (gen != openapi_generation_) {
    openapi_cache_.clear();
    openapi_generation_ = gen;
  }
  auto it = openapi_cache_.find(key);
  if (it == openapi_cache_.end()) it = openapi_cache_.emplace(key, build().dump()).first;
  return it->second;
}

Reply ApiServer::handle_resource(const Request& req, Target& t) {
  if (auto io = req.param("includeObject"); !io.empty() && !is_valid_include_object(io)) {
    return error_response(bad_request("includeObject: Unsupported value: \"" + io +
                                      "\": supported values: \"Metadata\", \"None\", \"Object\""));
  }
  if (!req.body.empty() && req.content_type.find("protobuf") != std::string::npos) {
    // kubesim speaks JSON only; client-go falls back to JSON on this answer.
    return error_response(unsupported_media_type(
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml"));
  }
  const std::string verb = verb_of(req, !t.name.empty(), t.watch && req.method == "GET");
  Reply reply = serve_resource(req, t, verb);
  if (opts_.audit && verb != "get" && verb != "list" && verb != "watch") audit(req, t, verb, reply);
  return reply;
}

void ApiServer::audit(const Request& req, const Target& t, const std::string& verb,
                      const Reply& reply) {
  const auto now = opts_.now();
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          now.time_since_epoch()).count() % 1000000;
  char fraction[16];
  std::snprintf(fraction, sizeof fraction, ".%06lld", static_cast<long long>(micros));
  std::string time = rfc3339(now);
  if (!time.empty() && time.back() == 'Z') time.insert(time.size() - 1, fraction);
  const auto* response = std::get_if<Response>(&reply);
  opts_.audit(json{{"time", time},
                   {"verb", verb},
                   {"resource", t.info.group_resource()},
                   {"subresource", t.subresource},
                   {"namespace", t.ns},
                   {"name", t.name},
                   {"userAgent", req.user_agent},
                   {"code", response != nullptr ? response->status : 200}});
}

Reply ApiServer::serve_resource(const Request& req, Target& t, const std::string& verb) {
  FaultDecision fault = faults_.decide(verb, t.info.group_resource(), req.user_agent);
  if (fault.latency.count() > 0) std::this_thread::sleep_for(fault.latency);
  if (fault.error) return error_response(*fault.error);

  Result<Reply> result = Unexpected(not_found_path());
  const std::string& sub = t.subresource;
  if (!sub.empty()) {
    const bool known =
        (sub == "status" && t.info.has_status) || (sub == "scale" && t.info.scale) ||
        (sub == "binding" && t.info.has_binding) || (sub == "eviction" && t.info.has_eviction) ||
        (sub == "finalize" && t.info.resource == "namespaces" && t.info.group.empty());
    if (!known) return error_response(not_found_path());
  }
  if (sub == "scale") {
    result = do_scale(req, t);
  } else if (sub == "binding") {
    result = req.method == "POST" ? do_binding(req, t) : Result<Reply>(Unexpected(not_allowed()));
  } else if (sub == "eviction") {
    result = req.method == "POST" ? do_eviction(req, t) : Result<Reply>(Unexpected(not_allowed()));
  } else if (req.method == "GET") {
    if (t.watch) {
      if (!t.name.empty()) {
        // A watch on one object is a watch with a name field selector.
        Request narrowed = req;
        std::string fs = "metadata.name=" + t.name;
        if (!req.param("fieldSelector").empty()) fs += "," + req.param("fieldSelector");
        narrowed.query["fieldSelector"] = fs;
        Target all = t;
        all.name.clear();
        result = do_watch(narrowed, all);
      } else {
        result = do_watch(req, t);
      }
    } else if (t.name.empty()) {
      result = do_list(req, t);
    } else {
      result = do_get(req, t);
    }
  } else if (req.method == "POST") {
    if (!t.name.empty() && sub.empty()) {
      result = Unexpected(not_allowed());
    } else {
      result = do_create(req, t);
    }
  } else if (req.method == "PUT") {
    result = t.name.empty() ? Result<Reply>(Unexpected(not_allowed())) : do_update(req, t);
  } else if (req.method == "PATCH") {
    result = t.name.empty() ? Result<Reply>(Unexpected(not_allowed())) : do_patch(req, t);
  } else if (req.method == "DELETE") {
    result = t.name.empty() ? do_delete_collection(req, t) : do_delete(req, t);
  } else {
    result = Unexpected(not_allowed());
  }
  if (!result) return error_response(result.error());
  if (fault.drop_watch_after.count() > 0) {
    if (auto* stream = std::get_if<std::shared_ptr<WatchStream>>(&*result)) {
      if (auto session = std::dynamic_pointer_cast<WatchSession>(*stream)) {
        session->drop_after(fault.drop_watch_after);
      }
    }
  }
  return std::move(*result);
}

// ---------------------------------------------------------------- reads

Result<Reply> ApiServer::do_get(const Request& req, const Target& t) {
  if (t.info.namespaced && t.ns.empty()) return Unexpected(not_found_path());
  auto obj = store_.get(t.info.group_resource(), t.info.namespaced ? t.ns : "", t.name);
  if (!obj) return Unexpected(not_found(t.info.group, t.info.resource, t.name));
  if (t.subresource == "status" || t.subresource.empty()) {
    return Reply{object_response(200, req, t.info, *obj)};
  }
  return Unexpected(not_found_path());
}

Result<Reply> ApiServer::do_list(const Request& req, const Target& t) {
  std::optional<LabelSelector> labels;
  std::optional<FieldSelector> fields;
  if (auto s = req.param("labelSelector"); !s.empty()) {
    auto parsed = LabelSelector::parse(s);
    if (!parsed) return Unexpected(parsed.error());
    labels = *parsed;
  }
  if (auto s = req.param("fieldSelector"); !s.empty()) {
    auto parsed = FieldSelector::parse(s, t.info.selectable_fields);
    if (!parsed) return Unexpected(parsed.error());
    fields = *parsed;
  }
  size_t limit = 0;
  if (auto s = req.param("limit"); !s.empty()) {
    auto v = parse_int("limit", s);
    if (!v) return Unexpected(v.error());
    if (*v > 0) limit = static_cast<size_t>(*v);
  }
  uint64_t at_rv = 0;
  std::string after;
  if (auto c = req.param("continue"); !c.empty()) {
    auto token = decode_continue(c);
    if (!token) return Unexpected(token.error());
    at_rv = token->rv;
    after = token->start;
  } else if (req.param("resourceVersionMatch") == "Exact") {
    auto rv = parse_rv(req.param("resourceVersion"));
    if (!rv) return Unexpected(rv.error());
    if (*rv == 0) {
      return Unexpected(
          bad_request("resourceVersionMatch: Forbidden: resourceVersionMatch \"Exact\" "
                      "is forbidden for resourceVersion \"0\""));
    }
    at_rv = *rv;
    if (at_rv < store_.compacted_rv()) {
      return Unexpected(expired("too old resource version: " + std::to_string(at_rv) + " (" +
                                std::to_string(store_.compacted_rv()) + ")"));
    }
  }
  std::string ns = t.info.namespaced ? t.ns : "";
  if (fields) {
    if (auto exact_ns = fields->exact("metadata.namespace"); exact_ns && ns.empty()) ns = *exact_ns;
  }
  auto filter = [&](const json& obj) {
    if (labels) {
      const json& meta = meta_of(obj);
      if (!labels->matches(meta.contains("labels") ? meta["labels"] : json())) return false;
    }
    return !fields || fields->matches(obj);
  };
  auto page =
      store_.list(t.info.group_resource(), ns,
                  labels || fields ? Store::Filter(filter) : Store::Filter(), at_rv, after, limit);
  if (!page) {
    ApiError err = page.error();
    return Unexpected(err);
  }
  json meta = {{"resourceVersion", std::to_string(page->rv)}};
  if (!page->next_key.empty()) {
    meta["continue"] = encode_continue(page->rv, page->next_key);
    if (page->remaining) meta["remainingItemCount"] = *page->remaining;
  }
  if (req.accept.find(kTableAccept) != std::string::npos) {
    std::vector<json> objs;
    objs.reserve(page->items.size());
    for (const auto& o : page->items) objs.push_back(present(t.info, *o));
    json table = to_table(t.info, objs, req.param("includeObject", "Metadata"), opts_.now());
    table["metadata"] = meta;
    Response r = json_response(200, table);
    r.content_type = "application/json;as=Table;v=v1;g=meta.k8s.io";
    return Reply{r};
  }
  // Built by hand: one string for 10k objects beats building a json array copy.
  std::string body;
  const bool partial = req.accept.find(kPartialAccept) != std::string::npos;
  // Size the body from the first item, so a 10k-item list grows once at most.
  const size_t per_item = page->items.empty() ? 0 : page->items.front()->dump().size() + 16;
  body.reserve(page->items.size() * per_item + 256);
  body += "{\"kind\":\"";
  body += partial ? "PartialObjectMetadataList" : t.info.list_kind;
  body += "\",\"apiVersion\":\"";
  body += partial ? "meta.k8s.io/v1" : t.info.api_version();
  body += "\",\"metadata\":" + meta.dump() + ",\"items\":[";
  bool first = true;
  for (const auto& o : page->items) {
    if (!first) body += ',';
    first = false;
    if (partial) {
      body += json{{"kind", "PartialObjectMetadata"},
                   {"apiVersion", "meta.k8s.io/v1"},
                   {"metadata", meta_of(*o)}}
                  .dump();
    } else if (o->value("apiVersion", "") == t.info.api_version()) {
      body += o->dump();
    } else {
      body += present(t.info, *o).dump();
    }
  }
  body += "]}";
  Response r;
  r.body = std::move(body);
  if (partial) r.content_type = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io";
  return Reply{std::move(r)};
}

Result<Reply> ApiServer::do_watch(const Request& req, const Target& t) {
  WatchOptions w;
  w.info = t.info;
  w.ns = t.info.namespaced ? t.ns : "";
  if (auto s = req.param("labelSelector"); !s.empty()) {
    auto parsed = LabelSelector::parse(s);
    if (!parsed) return Unexpected(parsed.error());
    w.labels = *parsed;
  }
  if (auto s = req.param("fieldSelector"); !s.empty()) {
    auto parsed = FieldSelector::parse(s, t.info.selectable_fields);
    if (!parsed) return Unexpected(parsed.error());
    w.fields = *parsed;
    if (auto exact_ns = w.fields->exact("metadata.namespace"); exact_ns && w.ns.empty()) {
      w.ns = *exact_ns;
    }
  }
  w.bookmarks = truthy(req.param("allowWatchBookmarks"));
  w.as_table = req.accept.find(kTableAccept) != std::string::npos;
  w.include_object = req.param("includeObject", "Metadata");
  w.bookmark_interval = opts_.bookmark_interval;
  const auto now = std::chrono::steady_clock::now();
  if (auto s = req.param("timeoutSeconds"); !s.empty()) {
    auto v = parse_int("timeoutSeconds", s);
    if (!v) return Unexpected(v.error());
    w.deadline = now + std::chrono::seconds(std::max<int64_t>(*v, 0));
  } else {
    // As kube-apiserver: a random timeout in [min, 2*min] spreads reconnects.
    static thread_local std::mt19937_64 rng{opts_.seed};
    std::uniform_int_distribution<int64_t> dist(opts_.min_request_timeout.count(),
                                                2 * opts_.min_request_timeout.count());
    w.deadline = now + std::chrono::seconds(dist(rng));
  }
  auto rv = parse_rv(req.param("resourceVersion"));
  if (!rv) return Unexpected(rv.error());
  const bool initial_events = truthy(req.param("sendInitialEvents"));
  uint64_t from = initial_events ? 0 : *rv;
  if (from != 0 && from < store_.compacted_rv()) {
    ApiError err = expired("too old resource version: " + std::to_string(from) + " (" +
                           std::to_string(store_.compacted_rv()) + ")");
    if (opts_.expired_watch_as_http_status) return Unexpected(err);
    w.initial_error = err;
  }
  w.initial_events_end = initial_events;
  auto session = std::make_shared<WatchSession>(store_, std::move(w));
  auto started = session->start(from);
  if (!started) {
    if (opts_.expired_watch_as_http_status) return Unexpected(started.error());
    // Compacted between the check and the subscription: report in-stream.
    WatchOptions again;
    again.info = t.info;
    again.initial_error = started.error();
    session = std::make_shared<WatchSession>(store_, std::move(again));
    (void)session->start(0);
  }
  {
    std::lock_guard lock(watches_mu_);
    watches_.erase(
        std::remove_if(watches_.begin(), watches_.end(), [](const auto& w) { return w.expired(); }),
        watches_.end());
    watches_.push_back(session);
  }
  return Reply{std::static_pointer_cast<WatchStream>(session)};
}

size_t ApiServer::drop_watches() {
  std::vector<std::shared_ptr<WatchSession>> live;
  {
    std::lock_guard lock(watches_mu_);
    for (auto& w : watches_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
    watches_.clear();
  }
  for (auto& s : live) s->drop();
  return live.size();
}

size_t ApiServer::active_watches() {
  std::lock_guard lock(watches_mu_);
  size_t n = 0;
  for (auto& w : watches_) {
    auto s = w.lock();
    if (s && !s->finished()) ++n;
  }
  return n;
}

// ---------------------------------------------------------------- writes

namespace {

Result<json> parse_body(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    return Unexpected(bad_request("the body of the request could not be decoded as JSON"));
  }
  if (!j.is_object()) {
    return Unexpected(bad_request("the body of the request must be a JSON object"));
  }
  return j;
}

Result<void> check_type(const ResourceInfo& info, json& obj) {
  const std::string api_version = obj.value("apiVersion", "");
  const std::string kind = obj.value("kind", "");
  if (api_version.empty() && kind.empty()) {
    obj["apiVersion"] = info.api_version();
    obj["kind"] = info.kind;
    return {};
  }
  if (kind != info.kind) {
    return Unexpected(bad_request("the kind in the data (" + kind +
                                  ") does not match the expected kind (" + info.kind + ")"));
  }
  if (api_version != info.api_version()) {
    return Unexpected(bad_request("the API version in the data (" + api_version +
                                  ") does not match the expected API version (" +
                                  info.api_version() + ")"));
  }
  return {};
}

}  // namespace

void ApiServer::after_write(const ResourceInfo& info, const ObjectPtr& before,
                            const ObjectPtr& after) {
  const bool is_crd =
      info.group == "apiextensions.k8s.io" && info.resource == "customresourcedefinitions";
  const bool is_ns = info.group.empty() && info.resource == "namespaces";
  if (after) {
    // Deletion in progress with server-side work to do: hand to the collector.
    if (being_deleted(*after) &&
        (has_finalizer(*after, kForegroundFinalizer) || has_finalizer(*after, kOrphanFinalizer) ||
         (is_crd && has_finalizer(*after, kCrdCleanupFinalizer)) || is_ns)) {
      gc_enqueue(meta_of(*after).value("uid", ""));
    }
    if (is_crd && !being_deleted(*after)) {
      registry_.set_crd(meta_of(*after).value("name", ""), crd_resources(*after));
    }
    return;
  }
  if (!before) return;
  // Gone for good: its dependents and its own owners may have work now.
  gc_enqueue(meta_of(*before).value("uid", ""));
  for (const auto& ref : meta_of(*before).value("ownerReferences", json::array())) {
    if (ref.contains("uid")) gc_enqueue(ref["uid"].get<std::string>());
  }
  if (is_crd) registry_.remove_crd(meta_of(*before).value("name", ""));
  // A namespace or CRD waiting for its contents to go may now be done.
  const std::string ns = meta_of(*before).value("namespace", "");
  if (!ns.empty()) {
    if (auto ns_obj = store_.get("namespaces", "", ns); ns_obj && being_deleted(*ns_obj)) {
      gc_enqueue(meta_of(*ns_obj).value("uid", ""));
    }
  }
  if (info.custom) {
    auto crd =
        store_.get("customresourcedefinitions.apiextensions.k8s.io", "", info.group_resource());
    if (crd && being_deleted(*crd)) gc_enqueue(meta_of(*crd).value("uid", ""));
  }
}

Result<void> ApiServer::admit(const ResourceInfo& info, json& obj, const json* old,
                              WriteContext& ctx) {
  const std::string name = meta_of(obj).value("name", "");
  // Custom resources: defaults, pruning and schema validation.
  if (info.custom && info.schema) {
    SchemaResult sr = apply_schema(obj, *info.schema);
    if (!sr.unknown_fields.empty()) {
      if (ctx.field_validation == "Strict") {
        std::string msg = "strict decoding error: ";
        for (size_t i = 0; i < sr.unknown_fields.size(); ++i) {
          if (i) msg += ", ";
          msg += "unknown field \"" + sr.unknown_fields[i] + "\"";
        }
        return Unexpected(bad_request(msg));
      }
      if (ctx.field_validation == "Warn") {
        for (const auto& f : sr.unknown_fields)
          ctx.warnings.push_back("unknown field \"" + f + "\"");
      }
    }
    if (!sr.errors.empty()) return Unexpected(invalid(info.group, info.kind, name, sr.errors));
  }
  auto causes = validate_builtin(info, obj, old);
  if (!causes.empty()) return Unexpected(invalid(info.group, info.kind, name, causes));
  return {};
}

Result<ObjectPtr> ApiServer::create_object(const ResourceInfo& info, const std::string& path_ns,
                                           json obj, WriteContext& ctx) {
  if (auto ok = check_type(info, obj); !ok) return Unexpected(ok.error());
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = json::object();
  json& meta = obj["metadata"];
  std::string ns;
  if (info.namespaced) {
    const std::string body_ns = meta.value("namespace", "");
    if (!body_ns.empty() && !path_ns.empty() && body_ns != path_ns) {
      return Unexpected(
          bad_request("the namespace of the provided object does not match the "
                      "namespace sent on the request"));
    }
    ns = path_ns.empty() ? body_ns : path_ns;
    if (ns.empty()) return Unexpected(not_found_path());
    meta["namespace"] = ns;
    auto ns_obj = store_.get("namespaces", "", ns);
    if (!ns_obj) return Unexpected(not_found("", "namespaces", ns));
    if (being_deleted(*ns_obj)) {
      return Unexpected(ApiError{.code = 403,
                                 .reason = "Forbidden",
                                 .message = info.resource + " \"" + meta.value("name", "") +
                                            "\" is forbidden: unable to create new content in "
                                            "namespace " +
                                            ns + " because it is being terminated",
                                 .details_name = meta.value("name", ""),
                                 .details_group = info.group,
                                 .details_kind = info.resource});
    }
  } else {
    meta.erase("namespace");
  }
  if (meta.value("name", "").empty()) {
    const std::string prefix = meta.value("generateName", "");
    if (prefix.empty()) {
      return Unexpected(invalid(
          info.group, info.kind, "",
          {FieldCause{"FieldValueRequired", "Required value: name or generateName is required",
                      "metadata.name"}}));
    }
    meta["name"] = generate_name(prefix);
  }
  const std::string name = meta["name"];
  // Fields only the server sets.
  for (const char* f : {"uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "generation", "managedFields", "selfLink"}) {
    meta.erase(f);
  }
  if (info.has_status && !(info.group.empty() && info.resource == "nodes")) obj.erase("status");
  default_builtin(info, obj);
  if (auto ok = admit(info, obj, nullptr, ctx); !ok) return Unexpected(ok.error());
  meta["uid"] = new_uid();
  meta["creationTimestamp"] = now_rfc3339();
  if (info.custom || obj.contains("spec")) meta["generation"] = 1;
  if (info.group == "apiextensions.k8s.io" && info.resource == "customresourcedefinitions") {
    auto f = finalizers_of(obj);
    if (std::find(f.begin(), f.end(), kCrdCleanupFinalizer) == f.end())
      f.push_back(kCrdCleanupFinalizer);
    meta["finalizers"] = f;
    obj["status"] = established_crd_status(obj, json::object(), now_rfc3339());
  }
  if (ctx.dry_run) {
    if (store_.get(info.group_resource(), ns, name)) {
      return Unexpected(already_exists(info.group, info.resource, name));
    }
    return std::make_shared<const json>(std::move(obj));
  }
  ObjectPtr created;
  auto result =
      store_.mutate(info.group_resource(), ns, name, [&](const json* current) -> Result<Mutation> {
        if (current) {
          return Unexpected(already_exists(info.group, info.resource, name));
        }
        return Mutation{Mutation::Kind::Put, obj};
      });
  if (!result) return result;
  after_write(info, nullptr, *result);
  return result;
}

Result<ObjectPtr> ApiServer::update_object(
    const ResourceInfo& info, const std::string& ns, const std::string& name, bool status_sub,
    const std::function<Result<json>(const json& current)>& change, WriteContext& ctx) {
  ObjectPtr before;
  bool finalized = false;
  auto decide = [&](const json* current) -> Result<Mutation> {
    if (!current) return Unexpected(not_found(info.group, info.resource, name));
    before = std::make_shared<const json>(*current);
    auto desired = change(*current);
    if (!desired) return Unexpected(std::move(desired).error());
    json obj = std::move(*desired);
    if (!obj.is_object()) return Unexpected(bad_request("the object must be a JSON object"));
    if (auto ok = check_type(info, obj); !ok) return Unexpected(ok.error());
    if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = json::object();
    json& meta = obj["metadata"];
    const json& old_meta = meta_of(*current);
    if (meta.value("name", name) != name) {
      return Unexpected(bad_request("the name of the object (" + meta.value("name", "") +
                                    ") does not match the name on the URL (" + name + ")"));
    }
    if (info.namespaced && meta.value("namespace", ns) != ns) {
      return Unexpected(
          bad_request("the namespace of the provided object does not match the "
                      "namespace sent on the request"));
    }
    // Optimistic concurrency: a resourceVersion in the request must be current.
    const std::string want_rv = meta.value("resourceVersion", "");
    if (!want_rv.empty() && want_rv != old_meta.value("resourceVersion", "")) {
      return Unexpected(conflict(info.group, info.resource, name,
                                 "the object has been modified; please apply your changes to the "
                                 "latest version and try again"));
    }
    // The status split.
    if (info.has_status) {
      if (status_sub) {
        json merged = *current;
        if (obj.contains("status")) {
          merged["status"] = obj["status"];
        } else {
          merged.erase("status");
        }
        obj = std::move(merged);
      } else if (current->contains("status")) {
        obj["status"] = (*current)["status"];
      } else {
        obj.erase("status");
      }
    }
    json& m = obj["metadata"];
    // Server-owned metadata never changes through an update.
    m["name"] = name;
    if (info.namespaced) m["namespace"] = ns;
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation"}) {
      if (old_meta.contains(f)) {
        m[f] = old_meta[f];
      } else {
        m.erase(f);
      }
    }
    m["resourceVersion"] = old_meta.value("resourceVersion", "");
    if (being_deleted(*current)) {
      std::vector<std::string> added;
      auto old_f = finalizers_of(*current);
      for (const auto& f : finalizers_of(obj)) {
        if (std::find(old_f.begin(), old_f.end(), f) == old_f.end()) added.push_back(f);
      }
      if (!added.empty()) {
        std::string list;
        for (const auto& f : added) list += (list.empty() ? "\"" : ", \"") + f + "\"";
        return Unexpected(invalid(info.group, info.kind, name,
                                  {FieldCause{"FieldValueForbidden",
                                              "Forbidden: no new finalizers can be added if the "
                                              "object is being deleted, found new finalizers "
                                              "[]string{" +
                                                  list + "}",
                                              "metadata.finalizers"}}));
      }
    }
    if (!status_sub) default_builtin(info, obj);
    if (auto ok = admit(info, obj, current, ctx); !ok) return Unexpected(ok.error());
    if (!status_sub && spec_part(obj) != spec_part(*current) && old_meta.contains("generation")) {
      m["generation"] = old_meta["generation"].get<int64_t>() + 1;
    }
    if (info.group == "apiextensions.k8s.io" && info.resource == "customresourcedefinitions" &&
        !status_sub) {
      obj["status"] =
          established_crd_status(obj, current->value("status", json::object()), now_rfc3339());
    }
    // A write that changes nothing is not a write: no new resourceVersion,
    // no event (etcd3 store's GuaranteedUpdate does the same).
    if (same_object(obj, *current)) return Mutation{Mutation::Kind::Nothing, {}};
    if (being_deleted(obj) && finalizers_of(obj).empty() &&
        !(info.group.empty() && info.resource == "namespaces" &&
          !obj.value("spec", json::object()).value("finalizers", json::array()).empty())) {
      finalized = true;
      if (ctx.dry_run) return Mutation{Mutation::Kind::Nothing, {}};
      return Mutation{Mutation::Kind::Delete, {}};
    }
    if (ctx.dry_run) {
      before = std::make_shared<const json>(std::move(obj));
      return Mutation{Mutation::Kind::Nothing, {}};
    }
    return Mutation{Mutation::Kind::Put, std::move(obj)};
  };
  auto result = store_.mutate(info.group_resource(), ns, name, decide);
  if (!result) return result;
  if (ctx.dry_run) return before;
  if (finalized) {
    after_write(info, before, nullptr);
  } else if (*result != before) {
    after_write(info, before, *result);
  }
  return result;
}

Result<ObjectPtr> ApiServer::delete_object(const ResourceInfo& info, const std::string& ns,
                                           const std::string& name, const DeleteOptions& opts,
                                           bool& deleted_now) {
  deleted_now = false;
  ObjectPtr before;
  const bool is_pod = info.group.empty() && info.resource == "pods";
  const bool is_ns = info.group.empty() && info.resource == "namespaces";
  auto decide = [&](const json* current) -> Result<Mutation> {
    if (!current) return Unexpected(not_found(info.group, info.resource, name));
    before = std::make_shared<const json>(*current);
    const json& meta = meta_of(*current);
    if (!opts.precondition_uid.empty() && opts.precondition_uid != meta.value("uid", "")) {
      return Unexpected(
          conflict(info.group, info.resource, name,
                   "Precondition failed: UID in precondition: " + opts.precondition_uid +
                       ", UID in object meta: " + meta.value("uid", "")));
    }
    if (!opts.precondition_rv.empty() &&
        opts.precondition_rv != meta.value("resourceVersion", "")) {
      return Unexpected(
          conflict(info.group, info.resource, name,
                   "Precondition failed: ResourceVersion in precondition: " + opts.precondition_rv +
                       ", ResourceVersion in object meta: " + meta.value("resourceVersion", "")));
    }
    json obj = *current;
    json& m = obj["metadata"];
    auto fins = finalizers_of(obj);
    auto add_fin = [&](const char* f) {
      if (std::find(fins.begin(), fins.end(), f) == fins.end()) fins.push_back(f);
    };
    if (!being_deleted(*current)) {
      if (opts.propagation == "Foreground") add_fin(kForegroundFinalizer);
      if (opts.propagation == "Orphan") add_fin(kOrphanFinalizer);
    }
    if (!fins.empty()) m["finalizers"] = fins;

    int64_t grace = 0;
    if (is_pod && current->value("spec", json::object()).contains("nodeName") &&
        !(*current)["spec"]["nodeName"].get<std::string>().empty()) {
      // A pod on a node waits for its kubelet to stop it (graceful deletion).
      grace = opts.grace_period_seconds.value_or(
          current->value("spec", json::object())
              .value("terminationGracePeriodSeconds", kDefaultPodGraceSeconds));
      const std::string phase = current->value("status", json::object()).value("phase", "");
      if (phase == "Succeeded" || phase == "Failed") grace = 0;
    }
    const bool ns_pending = is_ns;  // namespaces always go through the namespace finalizer
    if (fins.empty() && grace <= 0 && !ns_pending) {
      deleted_now = true;
      if (opts.dry_run) return Mutation{Mutation::Kind::Nothing, {}};
      return Mutation{Mutation::Kind::Delete, {}};
    }
    const auto now = opts_.now();
    if (!being_deleted(*current)) {
      m["deletionTimestamp"] = rfc3339(now + std::chrono::seconds(grace));
      m["deletionGracePeriodSeconds"] = grace;
    } else if (grace >= 0 && grace < meta.value("deletionGracePeriodSeconds", int64_t{0})) {
      // A shorter grace period may be asked for later (kubectl delete --grace-period=0 --force).
      m["deletionTimestamp"] = rfc3339(now + std::chrono::seconds(grace));
      m["deletionGracePeriodSeconds"] = grace;
    }
    if (is_ns) obj["status"]["phase"] = "Terminating";
    if (opts.dry_run || same_object(obj, *current)) {
      before = std::make_shared<const json>(std::move(obj));
      return Mutation{Mutation::Kind::Nothing, {}};
    }
    return Mutation{Mutation::Kind::Put, std::move(obj)};
  };
  auto result = store_.mutate(info.group_resource(), ns, name, decide);
  if (!result) return result;
  if (opts.dry_run) return deleted_now ? ObjectPtr{} : before;
  if (deleted_now) {
    after_write(info, before, nullptr);
    return ObjectPtr{};
  }
  if (*result && *result != before) after_write(info, before, *result);
  return *result ? *result : before;
}

Result<Reply> ApiServer::do_create(const Request& req, const Target& t) {
  auto body = parse_body(req.body);
  if (!body) return Unexpected(body.error());
  WriteContext ctx;
  ctx.dry_run = req.param("dryRun") == "All";
  if (auto fv = req.param("fieldValidation"); !fv.empty()) {
    if (fv != "Strict" && fv != "Warn" && fv != "Ignore") {
      return Unexpected(bad_request("fieldValidation: Unsupported value: \"" + fv +
                                    "\": supported values: \"Ignore\", \"Strict\", \"Warn\""));
    }
    ctx.field_validation = fv;
  }
  if (t.info.namespaced && t.ns.empty()) {
    // POST /api/v1/pods is not a real endpoint; the namespace comes from the path.
    return Unexpected(not_allowed());
  }
  auto created = create_object(t.info, t.ns, std::move(*body), ctx);
  if (!created) return Unexpected(created.error());
  Response r = object_response(201, req, t.info, **created);
  for (const auto& w : ctx.warnings) r.headers.push_back(warning_header(w));
  return Reply{r};
}

Result<Reply> ApiServer::do_update(const Request& req, const Target& t) {
  if (t.subresource == "finalize") {
    // namespaces/finalize: only spec.finalizers changes.
    auto body = parse_body(req.body);
    if (!body) return Unexpected(body.error());
    WriteContext ctx;
    auto result = update_object(
        t.info, "", t.name, false,
        [&](const json& current) -> Result<json> {
          json obj = current;
          obj["spec"]["finalizers"] =
              body->value("spec", json::object()).value("finalizers", json::array());
          return obj;
        },
        ctx);
    if (!result) return Unexpected(result.error());
    if (!*result) return Reply{json_response(200, success_status(t.info, *body))};
    return Reply{object_response(200, req, t.info, **result)};
  }
  auto body = parse_body(req.body);
  if (!body) return Unexpected(body.error());
  WriteContext ctx;
  ctx.dry_run = req.param("dryRun") == "All";
  if (auto fv = req.param("fieldValidation"); !fv.empty()) ctx.field_validation = fv;
  const std::string ns = t.info.namespaced ? t.ns : "";
  auto result = update_object(
      t.info, ns, t.name, t.subresource == "status",
      [&](const json&) -> Result<json> { return *body; }, ctx);
  if (!result) return Unexpected(result.error());
  if (!*result) {
    return Reply{json_response(200, success_status(t.info, *body))};
  }
  Response r = object_response(200, req, t.info, **result);
  for (const auto& w : ctx.warnings) r.headers.push_back(warning_header(w));
  return Reply{r};
}

Result<Reply> ApiServer::do_patch(const Request& req, const Target& t) {
  auto type = patch_type_from_content_type(req.content_type);
  const std::string accepted = t.info.custom
                                   ? "application/json-patch+json, application/merge-patch+json, "
                                     "application/apply-patch+yaml"
                                   : "application/json-patch+json, application/merge-patch+json, "
                                     "application/strategic-merge-patch+json, "
                                     "application/apply-patch+yaml";
  if (!type || (*type == PatchType::StrategicMerge && t.info.custom)) {
    return Unexpected(unsupported_media_type(
        "the body of the request was in an unknown format - accepted media types include: " +
        accepted));
  }
  if (*type == PatchType::Apply) {
    // Server-side apply needs managedFields tracking, which kubesim does not
    // keep; refused rather than approximated (README: Limits).
    return Unexpected(unsupported_media_type(
        "kubesim does not implement server-side apply (application/apply-patch+yaml); use "
        "client-side kubectl apply or a merge patch"));
  }
  auto patch = json::parse(req.body, nullptr, false);
  if (patch.is_discarded()) {
    return Unexpected(bad_request("the body of the request could not be decoded as JSON"));
  }
  WriteContext ctx;
  ctx.dry_run = req.param("dryRun") == "All";
  if (auto fv = req.param("fieldValidation"); !fv.empty()) ctx.field_validation = fv;
  const std::string ns = t.info.namespaced ? t.ns : "";
  auto apply = [&](const json& current) -> Result<json> {
    json base = present(t.info, current);
    switch (*type) {
      case PatchType::Merge: {
        json out = merge_patch(base, patch);
        return out;
      }
      case PatchType::Json:
        return json_patch(base, patch);
      case PatchType::StrategicMerge:
        return strategic_merge_patch(base, patch, t.info.kind);
      case PatchType::Apply:
        break;
    }
    return Unexpected(internal_error("unreachable patch type"));
  };
  // The patched object's resourceVersion is a precondition only if the patch set it.
  auto change = [&](const json& current) -> Result<json> {
    auto out = apply(current);
    if (!out) return out;
    if (!out->is_object()) return Unexpected(bad_request("the patch must produce an object"));
    return out;
  };
  auto result = update_object(t.info, ns, t.name, t.subresource == "status", change, ctx);
  if (!result) return Unexpected(result.error());
  if (!*result) return Reply{json_response(200, json::object())};
  Response r = object_response(200, req, t.info, **result);
  for (const auto& w : ctx.warnings) r.headers.push_back(warning_header(w));
  return Reply{r};
}

namespace {

Result<DeleteOptions> read_delete_options(const Request& req) {
  DeleteOptions o;
  if (!req.body.empty()) {
    auto body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return Unexpected(
          bad_request("the body of the request could not be decoded as DeleteOptions"));
    }
    o.propagation = body.value("propagationPolicy", "");
    if (body.contains("gracePeriodSeconds") && body["gracePeriodSeconds"].is_number()) {
      o.grace_period_seconds = body["gracePeriodSeconds"].get<int64_t>();
    }
    if (body.contains("preconditions") && body["preconditions"].is_object()) {
      o.precondition_uid = body["preconditions"].value("uid", "");
      o.precondition_rv = body["preconditions"].value("resourceVersion", "");
    }
    if (body.contains("orphanDependents") && body["orphanDependents"].is_boolean() &&
        o.propagation.empty()) {
      o.propagation = body["orphanDependents"].get<bool>() ? "Orphan" : "Background";
    }
    for (const auto& d : body.value("dryRun", json::array())) {
      if (d == "All") o.dry_run = true;
    }
  }
  if (auto p = req.param("propagationPolicy"); !p.empty()) o.propagation = p;
  if (auto g = req.param("gracePeriodSeconds"); !g.empty()) {
    auto v = parse_int("gracePeriodSeconds", g);
    if (!v) return Unexpected(v.error());
    o.grace_period_seconds = *v;
  }
  if (req.param("dryRun") == "All") o.dry_run = true;
  if (!o.propagation.empty() && o.propagation != "Background" && o.propagation != "Foreground" &&
      o.propagation != "Orphan") {
    return Unexpected(invalid("", "DeleteOptions", "",
                              {FieldCause{"FieldValueNotSupported",
                                          "Unsupported value: \"" + o.propagation +
                                              "\": supported values: \"Foreground\", "
                                              "\"Background\", \"Orphan\"",
                                          "propagationPolicy"}}));
  }
  return o;
}

}  // namespace

Result<Reply> ApiServer::do_delete(const Request& req, const Target& t) {
  auto opts = read_delete_options(req);
  if (!opts) return Unexpected(opts.error());
  bool deleted_now = false;
  const std::string ns = t.info.namespaced ? t.ns : "";
  auto last = store_.get(t.info.group_resource(), ns, t.name);
  auto result = delete_object(t.info, ns, t.name, *opts, deleted_now);
  if (!result) return Unexpected(result.error());
  if (deleted_now || !*result) {
    json obj = last ? *last : json{{"metadata", {{"name", t.name}}}};
    return Reply{json_response(200, success_status(t.info, obj))};
  }
  return Reply{object_response(200, req, t.info, **result)};
}

Result<Reply> ApiServer::do_delete_collection(const Request& req, const Target& t) {
  auto opts = read_delete_options(req);
  if (!opts) return Unexpected(opts.error());
  Request list_req = req;
  list_req.accept = "application/json";
  list_req.query.erase("limit");
  list_req.query.erase("continue");
  auto listed = do_list(list_req, t);
  if (!listed) return Unexpected(listed.error());
  json list = json::parse(std::get<Response>(*listed).body);
  for (const auto& item : list["items"]) {
    bool deleted_now = false;
    const json& m = item["metadata"];
    auto r =
        delete_object(t.info, m.value("namespace", ""), m.value("name", ""), *opts, deleted_now);
    if (!r && r.error().code != 404) return Unexpected(r.error());
  }
  return Reply{json_response(200, list)};
}

// ---------------------------------------------------------------- subresources

Result<Reply> ApiServer::do_scale(const Request& req, const Target& t) {
  const std::string ns = t.info.namespaced ? t.ns : "";
  const ScaleSubresource& scale = *t.info.scale;
  auto to_scale = [&](const json& obj) {
    auto read = [&](const std::string& path) -> json {
      auto vals = jsonpath_eval(obj, path);
      return vals.empty() ? json() : vals.front();
    };
    json s = {{"kind", "Scale"},
              {"apiVersion", "autoscaling/v1"},
              {"metadata",
               {{"name", meta_of(obj).value("name", "")},
                {"namespace", meta_of(obj).value("namespace", "")},
                {"uid", meta_of(obj).value("uid", "")},
                {"resourceVersion", meta_of(obj).value("resourceVersion", "")},
                {"creationTimestamp", meta_of(obj).value("creationTimestamp", "")}}},
              {"spec", json::object()},
              {"status", {{"replicas", 0}}}};
    if (json r = read(scale.spec_replicas_path); r.is_number()) s["spec"]["replicas"] = r;
    if (json r = read(scale.status_replicas_path); r.is_number()) s["status"]["replicas"] = r;
    if (!scale.label_selector_path.empty()) {
      if (json sel = read(scale.label_selector_path); sel.is_string())
        s["status"]["selector"] = sel;
    }
    return s;
  };
  if (req.method == "GET") {
    auto obj = store_.get(t.info.group_resource(), ns, t.name);
    if (!obj) return Unexpected(not_found(t.info.group, t.info.resource, t.name));
    return Reply{json_response(200, to_scale(*obj))};
  }
  if (req.method != "PUT" && req.method != "PATCH") {
    return Unexpected(not_allowed());
  }
  auto body = json::parse(req.body, nullptr, false);
  if (body.is_discarded())
    return Unexpected(bad_request("the body of the request could not be decoded as JSON"));
  WriteContext ctx;
  ctx.dry_run = req.param("dryRun") == "All";
  auto change = [&](const json& current) -> Result<json> {
    json s = to_scale(current);
    json desired;
    if (req.method == "PUT") {
      desired = body;
    } else {
      auto type = patch_type_from_content_type(req.content_type);
      if (!type || *type == PatchType::Apply) {
        return Unexpected(
            unsupported_media_type("the body of the request was in an unknown format"));
      }
      if (*type == PatchType::Json) {
        auto r = json_patch(s, body);
        if (!r) return r;
        desired = *r;
      } else {
        desired = merge_patch(s, body);
      }
    }
    const std::string want_rv =
        desired.value("metadata", json::object()).value("resourceVersion", "");
    if (!want_rv.empty() && want_rv != meta_of(current).value("resourceVersion", "")) {
      return Unexpected(conflict(t.info.group, t.info.resource, t.name,
                                 "the object has been modified; please apply your changes to the "
                                 "latest version and try again"));
    }
    json replicas = desired.value("spec", json::object()).value("replicas", json());
    if (!replicas.is_number_integer() || replicas.get<int64_t>() < 0) {
      return Unexpected(invalid(
          "autoscaling", "Scale", t.name,
          {FieldCause{"FieldValueInvalid",
                      "Invalid value: " + replicas.dump() + ": must be greater than or equal to 0",
                      "spec.replicas"}}));
    }
    // Write replicas at the spec path (".spec.replicas" -> /spec/replicas).
    json obj = current;
    json* node = &obj;
    std::string path = scale.spec_replicas_path;
    std::stringstream ss(path.substr(path[0] == '.' ? 1 : 0));
    std::string part;
    std::vector<std::string> parts;
    while (std::getline(ss, part, '.')) parts.push_back(part);
    for (size_t i = 0; i + 1 < parts.size(); ++i) node = &(*node)[parts[i]];
    (*node)[parts.back()] = replicas;
    obj["metadata"]["resourceVersion"] = meta_of(current).value("resourceVersion", "");
    return obj;
  };
  auto result = update_object(t.info, ns, t.name, false, change, ctx);
  if (!result) return Unexpected(result.error());
  return Reply{json_response(200, to_scale(**result))};
}

Result<Reply> ApiServer::do_binding(const Request& req, const Target& t) {
  auto body = parse_body(req.body);
  if (!body) return Unexpected(body.error());
  const std::string node = body->value("target", json::object()).value("name", "");
  if (node.empty()) {
    return Unexpected(invalid("", "Binding", t.name,
                              {FieldCause{"FieldValueRequired", "Required value", "target.name"}}));
  }
  auto bound = bind_pod(t.ns, t.name, node);
  if (!bound) return Unexpected(bound.error());
  json status = {{"kind", "Status"},
                 {"apiVersion", "v1"},
                 {"metadata", json::object()},
                 {"status", "Success"},
                 {"code", 201}};
  return Reply{json_response(201, status)};
}

Result<Reply> ApiServer::do_eviction(const Request& req, const Target& t) {
  auto body = parse_body(req.body);
  if (!body) return Unexpected(body.error());
  DeleteOptions opts;
  if (body->contains("deleteOptions") && (*body)["deleteOptions"].is_object()) {
    const json& d = (*body)["deleteOptions"];
    if (d.contains("gracePeriodSeconds"))
      opts.grace_period_seconds = d["gracePeriodSeconds"].get<int64_t>();
  }
  // No PodDisruptionBudgets in kubesim, so an eviction is always allowed.
  bool deleted_now = false;
  auto result = delete_object(t.info, t.ns, t.name, opts, deleted_now);
  if (!result) return Unexpected(result.error());
  json status = {{"kind", "Status"},
                 {"apiVersion", "v1"},
                 {"metadata", json::object()},
                 {"status", "Success"},
                 {"code", 201}};
  return Reply{json_response(201, status)};
}

// ---------------------------------------------------------------- admin

Reply ApiServer::handle_admin(const Request& req) {
  const std::string what = req.path.substr(std::string("/kubesim/").size());
  {
    std::lock_guard lock(admin_mu_);
    for (const auto& [prefix, handler] : admin_extensions_) {
      if (what == prefix || what.starts_with(prefix + "/")) return handler(req);
    }
  }
  if (what == "faults") {
    if (req.method == "GET") {
      json out = faults_.to_json();
      out["expiredWatchAsHttpStatus"] = opts_.expired_watch_as_http_status;
      return json_response(200, out);
    }
    if (req.method == "DELETE") {
      faults_.set_rules({});
      return json_response(200, faults_.to_json());
    }
    if (req.method == "PUT") {
      auto body = parse_body(req.body);
      if (!body) return error_response(body.error());
      std::vector<FaultRule> rules;
      for (const auto& r : body->value("rules", json::array())) {
        auto rule = FaultInjector::rule_from_json(r);
        if (!rule) return error_response(rule.error());
        rules.push_back(*rule);
      }
      faults_.set_rules(std::move(rules));
      if (body->contains("expiredWatchAsHttpStatus")) {
        opts_.expired_watch_as_http_status = (*body)["expiredWatchAsHttpStatus"].get<bool>();
      }
      return json_response(200, faults_.to_json());
    }
  } else if (what == "compact" && req.method == "POST") {
    uint64_t rv = store_.current_rv();
    if (auto s = req.param("resourceVersion"); !s.empty()) {
      auto parsed = parse_rv(s);
      if (!parsed) return error_response(parsed.error());
      rv = *parsed;
    }
    store_.compact(rv);
    return json_response(200, json{{"compactedResourceVersion", store_.compacted_rv()},
                                   {"currentResourceVersion", store_.current_rv()}});
  } else if (what == "drop-watches" && req.method == "POST") {
    return json_response(200, json{{"dropped", drop_watches()}});
  } else if (what == "stats" && req.method == "GET") {
    StoreStats s = store_.stats();
    return json_response(200, json{{"objects", s.objects},
                                   {"history", s.history},
                                   {"currentResourceVersion", s.current_rv},
                                   {"compactedResourceVersion", s.compacted_rv},
                                   {"watches", active_watches()}});
  }
  return error_response(not_found_path());
}

// ---------------------------------------------------------------- in-process API

namespace {
Result<ResourceInfo> lookup(const Registry& reg, const std::string& g, const std::string& v,
                            const std::string& r) {
  auto info = reg.find(g, v, r);
  if (!info) return Unexpected(not_found_path());
  return *info;
}
}  // namespace

Result<void> ApiServer::bind_pod(const std::string& ns, const std::string& name,
                                 const std::string& node) {
  auto info = lookup(registry_, "", "v1", "pods");
  if (!info) return Unexpected(info.error());
  WriteContext ctx;
  auto result = update_object(
      *info, ns, name, false,
      [&](const json& current) -> Result<json> {
        const std::string bound = current.value("spec", json::object()).value("nodeName", "");
        if (!bound.empty()) {
          return Unexpected(
              conflict("", "pods", name,
                       "pod " + name + " is already assigned to node \"" + bound + "\""));
        }
        if (being_deleted(current)) {
          return Unexpected(conflict("", "pods", name,
                                     "pod " + name +
                                         " is being deleted, "
                                         "cannot be assigned to a host"));
        }
        json obj = current;
        obj["spec"]["nodeName"] = node;
        return obj;
      },
      ctx);
  if (!result) return Unexpected(result.error());
  // The binding also records PodScheduled=True, as the real registry does.
  WriteContext sctx;
  (void)update_object(
      *info, ns, name, true,
      [&](const json& current) -> Result<json> {
        json obj = current;
        json conds = obj.value("status", json::object()).value("conditions", json::array());
        json updated = json::array();
        for (const auto& c : conds) {
          if (c.value("type", "") != "PodScheduled") updated.push_back(c);
        }
        updated.push_back({{"type", "PodScheduled"},
                           {"status", "True"},
                           {"lastProbeTime", nullptr},
                           {"lastTransitionTime", now_rfc3339()}});
        obj["status"]["conditions"] = updated;
        return obj;
      },
      sctx);
  return {};
}

Result<json> ApiServer::create(const std::string& group, const std::string& version,
                               const std::string& resource, const std::string& ns, json obj) {
  auto info = lookup(registry_, group, version, resource);
  if (!info) return Unexpected(info.error());
  WriteContext ctx;
  auto r = create_object(*info, ns, std::move(obj), ctx);
  if (!r) return Unexpected(r.error());
  return present(*info, **r);
}

Result<json> ApiServer::get(const std::string& group, const std::string& version,
                            const std::string& resource, const std::string& ns,
                            const std::string& name) {
  auto info = lookup(registry_, group, version, resource);
  if (!info) return Unexpected(info.error());
  auto obj = store_.get(info->group_resource(), info->namespaced ? ns : "", name);
  if (!obj) return Unexpected(not_found(group, resource, name));
  return present(*info, *obj);
}

Result<json> ApiServer::update(const std::string& group, const std::string& version,
                               const std::string& resource, const std::string& ns, json obj,
                               bool status) {
  auto info = lookup(registry_, group, version, resource);
  if (!info) return Unexpected(info.error());
  WriteContext ctx;
  const std::string name = meta_of(obj).value("name", "");
  auto r = update_object(
      *info, info->namespaced ? ns : "", name, status,
      [&](const json&) -> Result<json> { return obj; }, ctx);
  if (!r) return Unexpected(r.error());
  if (!*r) return json();
  return present(*info, **r);
}

Result<json> ApiServer::modify(const std::string& group, const std::string& version,
                               const std::string& resource, const std::string& ns,
                               const std::string& name, bool status,
                               const std::function<Result<json>(const json& current)>& change) {
  auto info = lookup(registry_, group, version, resource);
  if (!info) return Unexpected(info.error());
  WriteContext ctx;
  auto r = update_object(*info, info->namespaced ? ns : "", name, status, change, ctx);
  if (!r) return Unexpected(r.error());
  if (!*r) return json();
  return present(*info, **r);
}

Result<json> ApiServer::remove(const std::string& group, const std::string& version,
                               const std::string& resource, const std::string& ns,
                               const std::string& name, DeleteOptions opts) {
  auto info = lookup(registry_, group, version, resource);
  if (!info) return Unexpected(info.error());
  bool deleted_now = false;
  auto r = delete_object(*info, info->namespaced ? ns : "", name, opts, deleted_now);
  if (!r) return Unexpected(r.error());
  if (!*r) return json();
  return present(*info, **r);
}

}  // namespace kubesim
