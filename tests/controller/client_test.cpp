// Pins the REST client's behaviour against kubesim served over real HTTP(S)
// on an ephemeral port: CRUD and patch flavours, error classes, pagination,
// status subresource, TLS and bearer tokens, 401 refresh, 429/5xx retries,
// connection errors, watches (events, stop, 410 both ways, cut streams),
// keep-alive connection reuse and the client-side rate limit. A few tests use
// a hand-written HTTP handler for answers kubesim never gives.
#include "controller/kube/client.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sim/apiserver.h"
#include "sim/http_server.h"
#include "sim/tls.h"
#include "tests/support/poll.h"

namespace frugal::kube {
namespace {

using frugal::testing::eventually;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const ResourceRef kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
const ResourceRef kCrds{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                        "CustomResourceDefinition", false};
const ResourceRef kWidgets{"test.frugal.dev", "v1", "widgets", "Widget", true};

// kubesim's ApiServer served over HTTP, or HTTPS with a fresh CA.
class Sim {
 public:
  struct Options {
    kubesim::ApiServerOptions api;
    bool tls = false;
    std::vector<std::string> dns_sans;
  };

  Sim() : Sim(Options{}) {}
  explicit Sim(Options o)
      : tls_(o.tls ? make_tls(o.dns_sans) : std::nullopt),
        api(std::move(o.api)),
        http_(kubesim::HttpServerOptions{.tls = tls_},
              [this](const kubesim::Request& r) { return api.handle(r); }) {
    auto started = http_.start();
    if (!started) throw std::runtime_error("kubesim: " + started.error().message);
  }

  uint16_t port() const { return http_.port(); }
  std::string url() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
  }
  const std::string& ca_pem() const { return tls_->ca_cert_pem; }
  RestConfig config() const {
    RestConfig c;
    c.server = url();
    if (tls_) c.ca_pem = tls_->ca_cert_pem;
    return c;
  }

 private:
  static std::optional<kubesim::TlsMaterial> make_tls(const std::vector<std::string>& dns_sans) {
    auto m = kubesim::generate_tls_material({}, dns_sans);
    if (!m) throw std::runtime_error("tls: " + m.error().message);
    return std::move(*m);
  }

  std::optional<kubesim::TlsMaterial> tls_;

 public:
  kubesim::ApiServer api;

 private:
  kubesim::HttpServer http_;
};

// A plain HTTP server with a hand-written handler.
class RawServer {
 public:
  explicit RawServer(kubesim::Handler handler) : http_({}, std::move(handler)) {
    auto started = http_.start();
    if (!started) throw std::runtime_error("server: " + started.error().message);
  }
  RestConfig config() const {
    RestConfig c;
    c.server = "http://127.0.0.1:" + std::to_string(http_.port());
    return c;
  }

 private:
  kubesim::HttpServer http_;
};

class RecordingObserver : public ClientObserver {
 public:
  struct Record {
    std::string verb, resource;
    int code;
  };
  void on_request(const std::string& verb, const std::string& resource, int code,
                  std::chrono::duration<double> /*latency*/) override {
    std::lock_guard lock(mu_);
    records_.push_back({verb, resource, code});
  }
  void on_rate_limited(std::chrono::duration<double> /*waited*/) override {
    std::lock_guard lock(mu_);
    ++rate_limited_;
  }
  std::vector<Record> records() const {
    std::lock_guard lock(mu_);
    return records_;
  }
  std::vector<int> codes() const {
    std::vector<int> out;
    for (const auto& r : records()) out.push_back(r.code);
    return out;
  }
  int rate_limited() const {
    std::lock_guard lock(mu_);
    return rate_limited_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Record> records_;
  int rate_limited_ = 0;
};

json config_map(const std::string& name, json data = json::object(), json labels = nullptr) {
  json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", name}, {"namespace", "default"}}},
             {"data", std::move(data)}};
  if (!labels.is_null()) cm["metadata"]["labels"] = std::move(labels);
  return cm;
}

std::string rv_of(const json& obj) { return obj["metadata"]["resourceVersion"].get<std::string>(); }

// A watch running on its own thread, collecting events until told to stop.
class WatchRunner {
 public:
  using Predicate = std::function<bool(const WatchEvent&)>;  // true: stop after this event

  WatchRunner(
      Client& client, const ResourceRef& r, ListOptions opts,
      Predicate last = [](const WatchEvent&) { return false; },
      std::chrono::milliseconds poll = 50ms)
      : thread_([this, &client, r, opts = std::move(opts), last = std::move(last), poll] {
          auto result = client.watch(
              r, "default", opts,
              [this, &last](WatchEvent&& e) {
                bool stop_now = last(e);
                std::lock_guard lock(mu_);
                events_.push_back(std::move(e));
                return !stop_now;
              },
              stop_, poll);
          std::lock_guard lock(mu_);
          result_ = std::move(result);
          done_ = true;
        }) {}
  ~WatchRunner() {
    stop_ = true;
    thread_.join();
  }
  WatchRunner(const WatchRunner&) = delete;
  WatchRunner& operator=(const WatchRunner&) = delete;

  void stop() { stop_ = true; }
  bool done() const {
    std::lock_guard lock(mu_);
    return done_;
  }
  // Waits for the watch to return; false (and the watch told to stop) on timeout.
  bool wait_done(std::chrono::milliseconds within = 10s) {
    if (eventually([this] { return done(); }, within)) return true;
    stop();
    return false;
  }
  std::vector<WatchEvent> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  Result<void> result() const {
    std::lock_guard lock(mu_);
    return result_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<WatchEvent> events_;
  Result<void> result_;
  bool done_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A fresh directory under TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "frugal-client-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary | std::ios::trunc) << content;
    return (path_ / name).string();
  }

 private:
  fs::path path_;
};

// ---- paths

TEST(ClientResourceRef, BuildsCoreGroupNamespacedAndClusterPaths) {
  EXPECT_EQ(kConfigMaps.path("default", "x"), "/api/v1/namespaces/default/configmaps/x");
  EXPECT_EQ(kConfigMaps.path(), "/api/v1/configmaps");
  EXPECT_EQ(kConfigMaps.path("ns"), "/api/v1/namespaces/ns/configmaps");
  ResourceRef pods{"", "v1", "pods", "Pod", true};
  EXPECT_EQ(pods.path("ns", "p", "status"), "/api/v1/namespaces/ns/pods/p/status");
  EXPECT_EQ(kWidgets.path("ns", "w", "status"),
            "/apis/test.frugal.dev/v1/namespaces/ns/widgets/w/status");
  EXPECT_EQ(kCrds.path("ignored", "a.b"),
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/a.b");
  ResourceRef nodes{"", "v1", "nodes", "Node", false};
  EXPECT_EQ(nodes.path(), "/api/v1/nodes");
  EXPECT_EQ(kWidgets.api_version(), "test.frugal.dev/v1");
  EXPECT_EQ(kConfigMaps.api_version(), "v1");
}

// ---- CRUD and errors

TEST(ClientCrud, CreatesGetsUpdatesAndDeletesConfigMap) {
  Sim sim;
  RecordingObserver obs;
  Client client(sim.config(), {.observer = &obs});

  auto created = client.create(kConfigMaps, "default", config_map("cm", {{"a", "1"}}));
  ASSERT_TRUE(created) << created.error().to_string();
  EXPECT_FALSE((*created)["metadata"]["uid"].get<std::string>().empty());

  auto got = client.get(kConfigMaps, "default", "cm");
  ASSERT_TRUE(got) << got.error().to_string();
  EXPECT_EQ((*got)["data"]["a"], "1");

  json changed = *got;
  changed["data"]["a"] = "2";
  auto updated = client.update(kConfigMaps, "default", changed);
  ASSERT_TRUE(updated) << updated.error().to_string();
  EXPECT_EQ((*updated)["data"]["a"], "2");
  EXPECT_NE(rv_of(*updated), rv_of(*got));

  auto removed = client.remove(kConfigMaps, "default", "cm");
  ASSERT_TRUE(removed) << removed.error().to_string();
  auto gone = client.get(kConfigMaps, "default", "cm");
  ASSERT_FALSE(gone);
  EXPECT_TRUE(gone.error().is_not_found()) << gone.error().to_string();
  EXPECT_EQ(gone.error().reason, "NotFound");
  EXPECT_FALSE(gone.error().transport);

  std::vector<std::string> verbs;
  for (const auto& r : obs.records()) {
    verbs.push_back(r.verb);
    EXPECT_EQ(r.resource, "configmaps");
  }
  EXPECT_EQ(verbs, (std::vector<std::string>{"create", "get", "update", "delete", "get"}));
  EXPECT_EQ(obs.codes(), (std::vector<int>{201, 200, 200, 200, 404}));
}

TEST(ClientCrud, TakesNamespaceFromObjectWhenNoneGiven) {
  Sim sim;
  Client client(sim.config());
  ASSERT_TRUE(client.create(kConfigMaps, "", config_map("cm")));
  EXPECT_TRUE(client.get(kConfigMaps, "default", "cm"));
}

TEST(ClientCrud, PatchesWithMergeJsonAndStrategicMerge) {
  Sim sim;
  Client client(sim.config());
  ASSERT_TRUE(client.create(kConfigMaps, "default", config_map("cm", {{"a", "1"}, {"b", "1"}})));

  auto merged = client.patch(kConfigMaps, "default", "cm", PatchType::Merge,
                             {{"data", {{"a", nullptr}, {"b", "2"}}}});
  ASSERT_TRUE(merged) << merged.error().to_string();
  EXPECT_FALSE((*merged)["data"].contains("a"));
  EXPECT_EQ((*merged)["data"]["b"], "2");

  auto jsonp = client.patch(kConfigMaps, "default", "cm", PatchType::Json,
                            json::array({{{"op", "test"}, {"path", "/data/b"}, {"value", "2"}},
                                         {{"op", "add"}, {"path", "/data/c"}, {"value", "3"}}}));
  ASSERT_TRUE(jsonp) << jsonp.error().to_string();
  EXPECT_EQ((*jsonp)["data"]["c"], "3");

  auto failed_test =
      client.patch(kConfigMaps, "default", "cm", PatchType::Json,
                   json::array({{{"op", "test"}, {"path", "/data/b"}, {"value", "stale"}}}));
  ASSERT_FALSE(failed_test);
  EXPECT_TRUE(failed_test.error().is_invalid()) << failed_test.error().to_string();

  auto strategic = client.patch(kConfigMaps, "default", "cm", PatchType::StrategicMerge,
                                {{"metadata", {{"labels", {{"tier", "x"}}}}}});
  ASSERT_TRUE(strategic) << strategic.error().to_string();
  EXPECT_EQ((*strategic)["metadata"]["labels"]["tier"], "x");
  EXPECT_EQ((*strategic)["data"]["b"], "2");
}

TEST(ClientErrors, DuplicateCreateIsAlreadyExists) {
  Sim sim;
  Client client(sim.config());
  ASSERT_TRUE(client.create(kConfigMaps, "default", config_map("cm")));
  auto again = client.create(kConfigMaps, "default", config_map("cm"));
  ASSERT_FALSE(again);
  EXPECT_TRUE(again.error().is_already_exists()) << again.error().to_string();
  EXPECT_FALSE(again.error().is_conflict());
  EXPECT_NE(again.error().message.find("\"cm\""), std::string::npos) << again.error().message;
}

TEST(ClientErrors, StaleUpdateIsConflict) {
  Sim sim;
  Client client(sim.config());
  auto created = client.create(kConfigMaps, "default", config_map("cm", {{"a", "1"}}));
  ASSERT_TRUE(created);
  json first = *created, second = *created;
  first["data"]["a"] = "2";
  ASSERT_TRUE(client.update(kConfigMaps, "default", first));
  second["data"]["a"] = "3";
  auto stale = client.update(kConfigMaps, "default", second);
  ASSERT_FALSE(stale);
  EXPECT_TRUE(stale.error().is_conflict()) << stale.error().to_string();
  EXPECT_FALSE(stale.error().is_retryable());
}

TEST(ClientErrors, DeleteWithStalePreconditionIsConflict) {
  Sim sim;
  Client client(sim.config());
  auto created = client.create(kConfigMaps, "default", config_map("cm"));
  ASSERT_TRUE(created);
  auto updated =
      client.patch(kConfigMaps, "default", "cm", PatchType::Merge, {{"data", {{"x", "y"}}}});
  ASSERT_TRUE(updated);

  auto stale = client.remove(kConfigMaps, "default", "cm",
                             {.precondition_resource_version = rv_of(*created)});
  ASSERT_FALSE(stale);
  EXPECT_TRUE(stale.error().is_conflict()) << stale.error().to_string();

  auto wrong_uid = client.remove(kConfigMaps, "default", "cm", {.precondition_uid = "nope"});
  ASSERT_FALSE(wrong_uid);
  EXPECT_TRUE(wrong_uid.error().is_conflict()) << wrong_uid.error().to_string();

  auto ok = client.remove(kConfigMaps, "default", "cm",
                          {.precondition_uid = (*updated)["metadata"]["uid"].get<std::string>(),
                           .precondition_resource_version = rv_of(*updated)});
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_TRUE(client.get(kConfigMaps, "default", "cm").error().is_not_found());
}

TEST(ClientErrors, UpdateWithoutNameFailsWithoutARequest) {
  Sim sim;
  RecordingObserver obs;
  Client client(sim.config(), {.observer = &obs});
  auto r = client.update(kConfigMaps, "default", json{{"metadata", json::object()}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("metadata.name"), std::string::npos);
  EXPECT_TRUE(obs.records().empty());
}

TEST(ClientErrors, NonStatusErrorBodyBecomesTruncatedMessage) {
  const std::string big(5000, 'x');
  RawServer server([&](const kubesim::Request& req) -> kubesim::Reply {
    if (req.path == "/small")
      return kubesim::Response{
          .status = 502, .content_type = "text/plain", .body = "bad gateway\n"};
    return kubesim::Response{.status = 418, .content_type = "text/plain", .body = big};
  });
  Client client(server.config());

  auto small = client.request("GET", "/small", "", nullptr);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().http_status, 502);
  EXPECT_EQ(small.error().reason, "InternalError");
  EXPECT_NE(small.error().message.find("bad gateway"), std::string::npos) << small.error().message;
  EXPECT_TRUE(small.error().is_retryable());

  auto large = client.request("GET", "/large", "", nullptr);
  ASSERT_FALSE(large);
  EXPECT_EQ(large.error().http_status, 418);
  EXPECT_LT(large.error().message.size(), 2200u);
  EXPECT_NE(large.error().message.find("truncated"), std::string::npos);
}

TEST(ClientErrors, UndecodableSuccessBodyIsAnError) {
  RawServer server([](const kubesim::Request&) -> kubesim::Reply {
    return kubesim::Response{.status = 200, .body = "{not json"};
  });
  Client client(server.config());
  auto r = client.request("GET", "/x", "", nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot decode"), std::string::npos) << r.error().message;
}

TEST(ClientErrors, InvalidServerUrlIsReportedOnEveryRequest) {
  RestConfig cfg;
  cfg.server = "ftp://example.com";
  Client client(cfg);
  auto r = client.get(kConfigMaps, "default", "x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("ftp://example.com"), std::string::npos) << r.error().message;
}

// ---- lists and raw requests

TEST(ClientList, PaginatesWithLimitAndContinue) {
  Sim sim;
  Client client(sim.config());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client.create(kConfigMaps, "default",
                              config_map("page-" + std::to_string(i), {}, {{"app", "page"}})));
  }
  ASSERT_TRUE(client.create(kConfigMaps, "default", config_map("other", {}, {{"app", "other"}})));

  std::set<std::string> names;
  ListOptions opts{.label_selector = "app=page", .limit = 2};
  int pages = 0;
  for (;;) {
    auto page = client.list(kConfigMaps, "default", opts);
    ASSERT_TRUE(page) << page.error().to_string();
    ++pages;
    EXPECT_LE((*page)["items"].size(), 2u);
    for (const auto& item : (*page)["items"])
      names.insert(item["metadata"]["name"].get<std::string>());
    std::string next = (*page)["metadata"].value("continue", "");
    if (next.empty()) break;
    opts.continue_token = next;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names.size(), 5u);
  EXPECT_FALSE(names.count("other"));
}

TEST(ClientRequest, SendsRawRequestsAndNamesTheResourceForTheObserver) {
  Sim sim;
  RecordingObserver obs;
  Client client(sim.config(), {.observer = &obs});
  json cm = config_map("raw");
  auto created = client.request("POST", "/api/v1/namespaces/default/configmaps", "", &cm);
  ASSERT_TRUE(created) << created.error().to_string();
  auto listed = client.request("GET", "/api/v1/namespaces/default/configmaps", "limit=1", nullptr);
  ASSERT_TRUE(listed) << listed.error().to_string();
  EXPECT_EQ((*listed)["items"].size(), 1u);
  auto version = client.request("GET", "/version", "", nullptr);
  ASSERT_TRUE(version) << version.error().to_string();

  auto records = obs.records();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].verb, "create");
  EXPECT_EQ(records[0].resource, "configmaps");
  EXPECT_EQ(records[1].verb, "get");
  EXPECT_EQ(records[1].resource, "configmaps");
  EXPECT_EQ(records[2].resource, "");
}

// ---- custom resources and the status subresource

const char* kWidgetCrd = R"({
  "apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.test.frugal.dev"},
  "spec": {
    "group": "test.frugal.dev",
    "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
    "versions": [{
      "name": "v1", "served": true, "storage": true,
      "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {
        "type": "object",
        "properties": {
          "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
          "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}
    }]
  }
})";

TEST(ClientCrd, UpdatesStatusSubresourceOfCustomResource) {
  Sim sim;
  Client client(sim.config());
  auto crd = client.create(kCrds, "", json::parse(kWidgetCrd));
  ASSERT_TRUE(crd) << crd.error().to_string();
  ASSERT_TRUE(eventually([&] { return client.list(kWidgets, "default").has_value(); }));

  json widget = {{"apiVersion", "test.frugal.dev/v1"},
                 {"kind", "Widget"},
                 {"metadata", {{"name", "w"}, {"namespace", "default"}}},
                 {"spec", {{"size", 1}}}};
  auto created = client.create(kWidgets, "default", widget);
  ASSERT_TRUE(created) << created.error().to_string();

  json with_status = *created;
  with_status["status"] = {{"phase", "Ready"}};
  auto status = client.update_status(kWidgets, "default", with_status);
  ASSERT_TRUE(status) << status.error().to_string();
  EXPECT_EQ((*status)["status"]["phase"], "Ready");

  // The main endpoint ignores status; the status endpoint ignores spec.
  json main = *status;
  main["spec"]["size"] = 2;
  main["status"]["phase"] = "Ignored";
  auto updated = client.update(kWidgets, "default", main);
  ASSERT_TRUE(updated) << updated.error().to_string();
  EXPECT_EQ((*updated)["spec"]["size"], 2);
  EXPECT_EQ((*updated)["status"]["phase"], "Ready");

  auto patched = client.patch(kWidgets, "default", "w", PatchType::Merge,
                              {{"status", {{"phase", "Done"}}}, {"spec", {{"size", 9}}}}, "status");
  ASSERT_TRUE(patched) << patched.error().to_string();
  EXPECT_EQ((*patched)["status"]["phase"], "Done");
  EXPECT_EQ((*patched)["spec"]["size"], 2);

  auto strategic =
      client.patch(kWidgets, "default", "w", PatchType::StrategicMerge, {{"spec", {{"size", 3}}}});
  ASSERT_FALSE(strategic);
  EXPECT_EQ(strategic.error().http_status, 415) << strategic.error().to_string();

  EXPECT_TRUE(client.remove(kCrds, "", "widgets.test.frugal.dev"));
}

// ---- TLS and authentication

TEST(ClientTls, WorksWithCaAndBearerTokenOverOneConnection) {
  Sim sim({.api = {.token = "s3cret"}, .tls = true});
  RestConfig cfg = sim.config();
  cfg.bearer_token = "s3cret";
  Client client(cfg);
  auto created = client.create(kConfigMaps, "default", config_map("cm"));
  ASSERT_TRUE(created) << created.error().to_string();
  ASSERT_TRUE(client.get(kConfigMaps, "default", "cm"));
  EXPECT_EQ(client.connections_opened(), 1u);
}

TEST(ClientTls, FailsWithoutCaWithACertificateError) {
  Sim sim({.api = {.token = "s3cret"}, .tls = true});
  RestConfig cfg = sim.config();
  cfg.ca_pem.clear();
  cfg.bearer_token = "s3cret";
  RecordingObserver obs;
  Client client(cfg, {.observer = &obs});
  auto r = client.get(kConfigMaps, "default", "cm");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().transport);
  EXPECT_EQ(r.error().http_status, 0);
  EXPECT_NE(r.error().message.find("certificate"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(sim.url()), std::string::npos) << r.error().message;
  EXPECT_EQ(obs.records().size(), 1u);  // a TLS failure is not retried
}

TEST(ClientTls, InsecureSkipVerifyConnectsWithoutCa) {
  Sim sim({.tls = true});
  RestConfig cfg = sim.config();
  cfg.ca_pem.clear();
  cfg.insecure_skip_tls_verify = true;
  Client client(cfg);
  auto r = client.list(kConfigMaps, "default");
  EXPECT_TRUE(r) << r.error().to_string();
}

TEST(ClientTls, VerifiesTheCertificateAgainstTlsServerName) {
  Sim sim({.tls = true, .dns_sans = {"api.frugal.test"}});
  RestConfig cfg = sim.config();
  cfg.tls_server_name = "api.frugal.test";
  Client good(cfg);
  auto ok = good.list(kConfigMaps, "default");
  EXPECT_TRUE(ok) << ok.error().to_string();

  cfg.tls_server_name = "other.frugal.test";
  Client bad(cfg);
  auto r = bad.list(kConfigMaps, "default");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().transport);
  EXPECT_NE(r.error().message.find("other.frugal.test"), std::string::npos) << r.error().message;
}

TEST(ClientAuth, WrongTokenIsUnauthorizedAndNotRetried) {
  Sim sim({.api = {.token = "s3cret"}, .tls = true});
  RestConfig cfg = sim.config();
  cfg.bearer_token = "wrong";
  RecordingObserver obs;
  Client client(cfg, {.observer = &obs});
  auto r = client.get(kConfigMaps, "default", "cm");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is_unauthorized()) << r.error().to_string();
  EXPECT_EQ(obs.codes(), std::vector<int>{401});
}

TEST(ClientAuth, RetriesOnceWithRotatedTokenFileAfter401) {
  Sim sim({.api = {.token = "new-token"}});
  TempDir dir;
  RestConfig cfg = sim.config();
  cfg.bearer_token_file = dir.write("token", "old-token\n");
  RecordingObserver obs;
  Client client(cfg, {.observer = &obs});

  // The file still holds the old token: re-reading it changes nothing, so no retry.
  auto first = client.list(kConfigMaps, "default");
  ASSERT_FALSE(first);
  EXPECT_TRUE(first.error().is_unauthorized());
  EXPECT_EQ(obs.codes(), std::vector<int>{401});

  // Rotated: the cached token is rejected once, the re-read one is accepted.
  dir.write("token", "new-token\n");
  auto second = client.list(kConfigMaps, "default");
  ASSERT_TRUE(second) << second.error().to_string();
  EXPECT_EQ(obs.codes(), (std::vector<int>{401, 401, 200}));
}

// ---- retries

TEST(ClientRetry, WaitsOutTooManyRequestsAndSucceeds) {
  Sim sim;
  RecordingObserver obs;
  Client client(sim.config(), {.observer = &obs});
  ASSERT_TRUE(client.create(kConfigMaps, "default", config_map("cm")));
  sim.api.faults().set_rules({kubesim::FaultRule{.verb = "get",
                                                 .resource = "configmaps",
                                                 .code = 429,
                                                 .retry_after_seconds = 1,
                                                 .remaining = 2}});
  const auto start = std::chrono::steady_clock::now();
  auto r = client.get(kConfigMaps, "default", "cm");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1900ms);  // two Retry-After: 1
  auto codes = obs.codes();
  EXPECT_EQ(std::vector<int>(codes.begin() + 1, codes.end()), (std::vector<int>{429, 429, 200}));
}

TEST(ClientRetry, GivesUpOnTooManyRequestsAfterMaxRetries) {
  Sim sim;
  RecordingObserver obs;
  Client client(sim.config(), {.observer = &obs, .max_retries = 1});
  sim.api.faults().set_rules(
      {kubesim::FaultRule{.verb = "create", .code = 429, .retry_after_seconds = 1}});
  auto r = client.create(kConfigMaps, "default", config_map("cm"));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is_too_many_requests()) << r.error().to_string();
  EXPECT_EQ(r.error().retry_after, 1s);
  EXPECT_EQ(obs.codes(), (std::vector<int>{429, 429}));
}

TEST(ClientRetry, ReturnsServerErrorWithoutRetryAfterAtOnce) {
  Sim sim;
  RecordingObserver obs;
  Client client(sim.config(), {.observer = &obs});
  sim.api.faults().set_rules({kubesim::FaultRule{.verb = "list", .code = 500, .remaining = 1}});
  auto r = client.list(kConfigMaps, "default");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is_server_error()) << r.error().to_string();
  EXPECT_TRUE(r.error().is_retryable());
  EXPECT_EQ(r.error().retry_after, 0s);
  EXPECT_EQ(obs.codes(), std::vector<int>{500});
  EXPECT_TRUE(client.list(kConfigMaps, "default"));  // the rule is used up
}

TEST(ClientRetry, RetriesServerErrorWithRetryAfterForAnyVerb) {
  std::atomic<int> calls{0};
  RawServer server([&](const kubesim::Request&) -> kubesim::Reply {
    if (calls.fetch_add(1) < 2) {
      return kubesim::Response{
          .status = 503,
          .body =
              R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","message":"busy","code":503})",
          .headers = {{"Retry-After", "0"}}};
    }
    return kubesim::Response{.status = 201, .body = R"({"kind":"ConfigMap"})"};
  });
  RecordingObserver obs;
  Client client(server.config(), {.observer = &obs});
  auto r = client.create(kConfigMaps, "default", config_map("cm"));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(obs.codes(), (std::vector<int>{503, 503, 201}));
}

// A server address where nothing listens any more: connections are refused.
RestConfig refused_config() {
  uint16_t port = 0;
  {
    RawServer gone([](const kubesim::Request&) -> kubesim::Reply { return kubesim::Response{}; });
    port = static_cast<uint16_t>(std::stoi(gone.config().server.substr(17)));
  }
  RestConfig cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string(port);
  return cfg;
}

TEST(ClientRetry, RetriesRefusedConnectionThenReportsItWithTheUrl) {
  const RestConfig cfg = refused_config();
  RecordingObserver obs;
  Client client(cfg, {.observer = &obs, .max_retries = 2});
  auto r = client.create(kConfigMaps, "default", config_map("cm"));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().transport);
  EXPECT_TRUE(r.error().is_retryable());
  EXPECT_NE(r.error().message.find("POST " + cfg.server + "/api/v1/namespaces/default/configmaps"),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(obs.codes(), (std::vector<int>{0, 0, 0}));  // never reached the server: retried
}

TEST(ClientRetry, AfterStopRetryingEachRequestIsTriedOnceAndWaitsUnderWayEnd) {
  const RestConfig cfg = refused_config();
  RecordingObserver obs;
  Client client(cfg, {.observer = &obs});  // 10 retries: about 13 s of backoff
  // One request is already backing off when the stop comes.
  std::atomic<bool> done{false};
  std::thread in_flight([&] {
    auto r = client.get(kConfigMaps, "default", "cm");
    EXPECT_TRUE(!r && r.error().transport);
    done = true;
  });
  ASSERT_TRUE(frugal::testing::eventually([&] { return obs.codes().size() >= 2; }));
  const auto stopped = std::chrono::steady_clock::now();
  client.stop_retrying();
  ASSERT_TRUE(frugal::testing::eventually([&] { return done.load(); }, 5s));
  in_flight.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 1s) << "its backoff was cut short";
  EXPECT_LT(obs.codes().size(), 11u);
  // A new one is tried exactly once.
  const size_t before = obs.codes().size();
  auto r = client.create(kConfigMaps, "default", config_map("cm"));
  ASSERT_FALSE(r);
  EXPECT_EQ(obs.codes().size(), before + 1);
}

// ---- watches

TEST(ClientWatch, ReceivesAddedModifiedDeletedFromAnotherThread) {
  Sim sim;
  Client client(sim.config());
  auto list = client.list(kConfigMaps, "default");
  ASSERT_TRUE(list);
  WatchRunner watch(client, kConfigMaps,
                    {.resource_version = (*list)["metadata"]["resourceVersion"].get<std::string>()},
                    [](const WatchEvent& e) { return e.type == "DELETED"; });

  ASSERT_TRUE(client.create(kConfigMaps, "default", config_map("cm", {{"a", "1"}})));
  ASSERT_TRUE(
      client.patch(kConfigMaps, "default", "cm", PatchType::Merge, {{"data", {{"a", "2"}}}}));
  ASSERT_TRUE(client.remove(kConfigMaps, "default", "cm"));

  ASSERT_TRUE(watch.wait_done());
  auto result = watch.result();
  EXPECT_TRUE(result) << result.error().to_string();
  auto events = watch.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, "ADDED");
  EXPECT_EQ(events[1].type, "MODIFIED");
  EXPECT_EQ(events[1].object["data"]["a"], "2");
  EXPECT_EQ(events[2].type, "DELETED");
  EXPECT_EQ(events[2].object["metadata"]["name"], "cm");
}

TEST(ClientWatch, StopsPromptlyWhenStopIsSet) {
  Sim sim;
  RecordingObserver obs;
  Client client(sim.config(), {.observer = &obs});
  WatchRunner watch(
      client, kConfigMaps, {}, [](const WatchEvent&) { return false; }, 50ms);
  ASSERT_TRUE(eventually([&] { return sim.api.active_watches() == 1; }));
  // An event through the stream proves the client has the answer's headers
  // (on a loaded machine the server may register the watch well before).
  ASSERT_TRUE(sim.api.create("", "v1", "configmaps", "default", config_map("seen")));
  ASSERT_TRUE(eventually([&] { return !watch.events().empty(); }));

  const auto start = std::chrono::steady_clock::now();
  watch.stop();
  ASSERT_TRUE(watch.wait_done(5s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 750ms);  // poll is 50 ms
  EXPECT_TRUE(watch.result());
  ASSERT_EQ(obs.records().size(), 1u);
  EXPECT_EQ(obs.records()[0].verb, "watch");
  EXPECT_EQ(obs.records()[0].code, 200);
  EXPECT_TRUE(eventually([&] { return sim.api.active_watches() == 0; }));
}

TEST(ClientWatch, ServerTimeoutEndsTheWatchCleanly) {
  Sim sim;
  Client client(sim.config());
  WatchRunner watch(client, kConfigMaps, {.timeout_seconds = 1});
  ASSERT_TRUE(watch.wait_done());
  EXPECT_TRUE(watch.result()) << watch.result().error().to_string();
}

TEST(ClientWatch, CompactedVersionYieldsInStreamExpiredError) {
  Sim sim;
  Client client(sim.config());
  auto created = client.create(kConfigMaps, "default", config_map("cm"));
  ASSERT_TRUE(created);
  ASSERT_TRUE(
      client.patch(kConfigMaps, "default", "cm", PatchType::Merge, {{"data", {{"a", "1"}}}}));
  sim.api.store().compact(sim.api.store().current_rv());

  WatchRunner watch(client, kConfigMaps, {.resource_version = rv_of(*created)},
                    [](const WatchEvent& e) { return e.type == "ERROR"; });
  ASSERT_TRUE(watch.wait_done());
  EXPECT_TRUE(watch.result());
  auto events = watch.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "ERROR");
  EXPECT_EQ(events[0].object["code"], 410);
  EXPECT_EQ(events[0].object["reason"], "Expired");
}

TEST(ClientWatch, CompactedVersionAsHttpStatusIsExpiredError) {
  Sim sim({.api = {.expired_watch_as_http_status = true}});
  Client client(sim.config());
  auto created = client.create(kConfigMaps, "default", config_map("cm"));
  ASSERT_TRUE(created);
  ASSERT_TRUE(
      client.patch(kConfigMaps, "default", "cm", PatchType::Merge, {{"data", {{"a", "1"}}}}));
  sim.api.store().compact(sim.api.store().current_rv());

  WatchRunner watch(client, kConfigMaps, {.resource_version = rv_of(*created)});
  ASSERT_TRUE(watch.wait_done());
  auto result = watch.result();
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().is_expired()) << result.error().to_string();
  EXPECT_EQ(result.error().http_status, 410);
  EXPECT_TRUE(watch.events().empty());
}

TEST(ClientWatch, CutStreamIsATransportError) {
  Sim sim;
  Client client(sim.config());
  sim.api.faults().set_rules({kubesim::FaultRule{.verb = "watch", .drop_watch_after_ms = 100}});
  WatchRunner watch(client, kConfigMaps, {});
  ASSERT_TRUE(watch.wait_done());
  auto result = watch.result();
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().transport) << result.error().to_string();
  EXPECT_NE(result.error().message.find("watch=true"), std::string::npos) << result.error().message;
}

// A watch stream written by hand: events split across chunks, the last one
// without a newline.
class ScriptedStream : public kubesim::WatchStream {
 public:
  explicit ScriptedStream(std::vector<std::string> frames) {
    for (auto& f : frames) push(std::move(f));
    end();
  }
};

TEST(ClientWatch, JoinsEventsSplitAcrossChunks) {
  RawServer server([](const kubesim::Request&) -> kubesim::Reply {
    return std::make_shared<ScriptedStream>(
        std::vector<std::string>{R"({"type":"ADDED","obj)",
                                 R"(ect":{"n":1}})"
                                 "\n"
                                 R"({"type":"MODIFIED","object":{"n":2}})"
                                 "\r\n\n",
                                 R"({"type":"DELETED","object":{"n":3}})"});
  });
  Client client(server.config());
  WatchRunner watch(client, kConfigMaps, {});
  ASSERT_TRUE(watch.wait_done());
  EXPECT_TRUE(watch.result()) << watch.result().error().to_string();
  auto events = watch.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, "ADDED");
  EXPECT_EQ(events[0].object["n"], 1);
  EXPECT_EQ(events[1].type, "MODIFIED");
  EXPECT_EQ(events[2].type, "DELETED");
  EXPECT_EQ(events[2].object["n"], 3);
}

TEST(ClientWatch, UndecodableEventEndsTheWatchWithAnError) {
  RawServer server([](const kubesim::Request&) -> kubesim::Reply {
    return std::make_shared<ScriptedStream>(
        std::vector<std::string>{R"({"type":"ADDED","object":{}})"
                                 "\n",
                                 "garbage\n"});
  });
  Client client(server.config());
  WatchRunner watch(client, kConfigMaps, {});
  ASSERT_TRUE(watch.wait_done());
  ASSERT_FALSE(watch.result());
  EXPECT_NE(watch.result().error().message.find("garbage"), std::string::npos);
  EXPECT_EQ(watch.events().size(), 1u);
}

TEST(ClientWatch, RethrowsWhatTheCallbackThrows) {
  Sim sim;
  Client client(sim.config());
  ASSERT_TRUE(client.create(kConfigMaps, "default", config_map("cm")));
  std::atomic<bool> stop{false};
  EXPECT_THROW((void)client.watch(
                   kConfigMaps, "default", {},
                   [](WatchEvent&&) -> bool { throw std::runtime_error("boom"); }, stop),
               std::runtime_error);
}

TEST(ClientWatch, RefusedConnectionIsATransportError) {
  const RestConfig cfg = refused_config();
  Client client(cfg, {.max_retries = 1});
  std::atomic<bool> stop{false};
  auto r = client.watch(
      kConfigMaps, "default", {}, [](WatchEvent&&) { return true; }, stop);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().transport);
}

// ---- connections and rate limit

TEST(ClientConnection, ReusesOneConnectionForFiftySequentialGets) {
  Sim sim;
  RestConfig cfg = sim.config();
  cfg.qps = -1;  // no client-side limit: this test is about connections
  Client client(cfg);
  ASSERT_TRUE(client.create(kConfigMaps, "default", config_map("cm")));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(client.get(kConfigMaps, "default", "cm"));
  EXPECT_EQ(client.connections_opened(), 1u);
}

TEST(ClientConnection, ConcurrentCallersShareAPoolOfConnections) {
  Sim sim;
  RestConfig cfg = sim.config();
  cfg.qps = -1;
  Client client(cfg);
  ASSERT_TRUE(client.create(kConfigMaps, "default", config_map("cm")));
  constexpr int kThreads = 4;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (!client.get(kConfigMaps, "default", "cm")) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(client.connections_opened(), static_cast<uint64_t>(kThreads));
}

TEST(ClientRateLimit, WaitsOnTheInjectedClock) {
  Sim sim;
  RestConfig cfg = sim.config();
  cfg.qps = 1;
  cfg.burst = 1;
  FakeClock clock;
  RecordingObserver obs;
  Client client(cfg, {.clock = &clock, .observer = &obs});
  ASSERT_TRUE(client.list(kConfigMaps, "default"));  // the burst
  std::atomic<bool> done{false};
  std::thread second([&] {
    EXPECT_TRUE(client.list(kConfigMaps, "default"));
    done = true;
  });
  ASSERT_TRUE(eventually([&] { return clock.num_waiters() == 1; }));
  EXPECT_FALSE(done.load());
  clock.advance(1s);
  EXPECT_TRUE(eventually([&] { return done.load(); }));
  second.join();
  EXPECT_EQ(obs.rate_limited(), 1);
}

TEST(ClientRateLimit, SpacesRequestsAtQpsAfterTheBurst) {
  Sim sim;
  RestConfig cfg = sim.config();
  cfg.qps = 20;
  cfg.burst = 1;
  RecordingObserver obs;
  Client client(cfg, {.observer = &obs});
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 11; ++i) ASSERT_TRUE(client.list(kConfigMaps, "default"));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 450ms);  // 10 waits of 50 ms
  EXPECT_GE(obs.rate_limited(), 9);
}

}  // namespace
}  // namespace frugal::kube
