// API semantics of kubesim, driven through ApiServer::handle without HTTP:
// versions, conflicts, status split, finalizers, garbage collection, CRDs,
// schema validation, pagination, watches, faults.
#include "sim/apiserver.h"
#include "sim/http_server.h"

#include <gtest/gtest.h>

#include <thread>

#include "sim/watch.h"

namespace kubesim {
namespace {

using namespace std::chrono_literals;

const char* kCrd = R"({
  "apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.test.frugal.dev"},
  "spec": {
    "group": "test.frugal.dev",
    "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
    "versions": [{
      "name": "v1", "served": true, "storage": true,
      "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                               "statusReplicasPath": ".status.replicas"}},
      "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
      "schema": {"openAPIV3Schema": {
        "type": "object",
        "properties": {
          "spec": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1},
            "replicas": {"type": "integer", "default": 1},
            "color": {"type": "string", "enum": ["red", "blue"], "default": "red"}}},
          "status": {"type": "object", "properties": {
            "phase": {"type": "string"}, "replicas": {"type": "integer"}}}}}}
    }]
  }
})";

class ApiServerTest : public ::testing::Test {
 protected:
  ApiServerTest() : api_(make_options()) {}

  static ApiServerOptions make_options() {
    ApiServerOptions o;
    o.history_limit = 1000;
    o.bookmark_interval = 50ms;
    return o;
  }

  Response call(const std::string& method, const std::string& path, const std::string& body = "",
                const std::string& content_type = "application/json",
                const std::string& accept = "application/json") {
    Request req;
    req.method = method;
    auto q = path.find('?');
    req.path = path.substr(0, q);
    if (q != std::string::npos) req.query = parse_query(path.substr(q + 1));
    req.body = body;
    req.content_type = content_type;
    req.accept = accept;
    Reply r = api_.handle(req);
    if (auto* resp = std::get_if<Response>(&r)) return *resp;
    ADD_FAILURE() << "expected a response, got a watch stream for " << path;
    return Response{};
  }

  std::shared_ptr<WatchStream> watch(const std::string& path) {
    Request req;
    req.method = "GET";
    auto q = path.find('?');
    req.path = path.substr(0, q);
    if (q != std::string::npos) req.query = parse_query(path.substr(q + 1));
    req.query["watch"] = "true";
    Reply r = api_.handle(req);
    auto* stream = std::get_if<std::shared_ptr<WatchStream>>(&r);
    if (!stream) {
      ADD_FAILURE() << "expected a watch stream: " << std::get<Response>(r).body;
      return nullptr;
    }
    (*stream)->set_on_ready([] {});
    return *stream;
  }

  // Collects watch events until `n` arrived or the deadline passed.
  std::vector<json> events(WatchStream& s, size_t n, std::chrono::milliseconds within = 2000ms) {
    std::vector<json> out;
    auto deadline = std::chrono::steady_clock::now() + within;
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      bool ended = false;
      s.tick(std::chrono::steady_clock::now());
      for (auto& f : s.take(ended)) out.push_back(json::parse(f));
      if (ended) break;
      if (out.size() < n) std::this_thread::sleep_for(5ms);
    }
    return out;
  }

  static json body(const Response& r) { return json::parse(r.body); }

  json create_crd() {
    auto r = call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", kCrd);
    EXPECT_EQ(r.status, 201) << r.body;
    return body(r);
  }

  Response create_widget(const std::string& name, int size, const std::string& extra = "") {
    std::string b = R"({"apiVersion":"test.frugal.dev/v1","kind":"Widget","metadata":{"name":")" +
                    name + R"("},"spec":{"size":)" + std::to_string(size) + extra + "}}";
    return call("POST", "/apis/test.frugal.dev/v1/namespaces/default/widgets", b);
  }

  Response create_cm(const std::string& name, const std::string& meta_extra = "") {
    return call("POST", "/api/v1/namespaces/default/configmaps",
                R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + "\"" +
                    meta_extra + R"(},"data":{"k":"v"}})");
  }

  ApiServer api_;
};

TEST_F(ApiServerTest, CreateSetsServerFieldsAndAnswers201) {
  auto r = create_cm("a");
  ASSERT_EQ(r.status, 201) << r.body;
  json o = body(r);
  EXPECT_FALSE(o["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE(o["metadata"]["resourceVersion"].get<std::string>().empty());
  EXPECT_FALSE(o["metadata"]["creationTimestamp"].get<std::string>().empty());
  EXPECT_EQ(o["metadata"]["namespace"], "default");
}

TEST_F(ApiServerTest, DuplicateCreateIsAlreadyExists409) {
  ASSERT_EQ(create_cm("a").status, 201);
  auto r = create_cm("a");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(body(r)["reason"], "AlreadyExists");
  EXPECT_EQ(body(r)["message"], "configmaps \"a\" already exists");
}

TEST_F(ApiServerTest, GenerateNameAddsARandomSuffix) {
  auto r = call("POST", "/api/v1/namespaces/default/configmaps",
                R"({"metadata":{"generateName":"job-"},"data":{}})");
  ASSERT_EQ(r.status, 201) << r.body;
  std::string name = body(r)["metadata"]["name"];
  EXPECT_EQ(name.rfind("job-", 0), 0u);
  EXPECT_EQ(name.size(), 9u);
}

TEST_F(ApiServerTest, CreateInAMissingNamespaceIsNotFound) {
  auto r = call("POST", "/api/v1/namespaces/nope/configmaps", R"({"metadata":{"name":"a"}})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body(r)["message"], "namespaces \"nope\" not found");
}

TEST_F(ApiServerTest, StaleResourceVersionUpdateIsConflict409) {
  json o = body(create_cm("a"));
  json first = o;
  first["data"]["k"] = "v2";
  ASSERT_EQ(call("PUT", "/api/v1/namespaces/default/configmaps/a", first.dump()).status, 200);
  json stale = o;
  stale["data"]["k"] = "v3";
  auto r = call("PUT", "/api/v1/namespaces/default/configmaps/a", stale.dump());
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(body(r)["reason"], "Conflict");
  EXPECT_NE(body(r)["message"].get<std::string>().find("the object has been modified"),
            std::string::npos);
}

TEST_F(ApiServerTest, AnUpdateThatChangesNothingKeepsTheResourceVersion) {
  json o = body(create_cm("a"));
  auto r = call("PUT", "/api/v1/namespaces/default/configmaps/a", o.dump());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body(r)["metadata"]["resourceVersion"], o["metadata"]["resourceVersion"]);
}

TEST_F(ApiServerTest, GenerationBumpsOnSpecChangesOnlyAndStatusIsSplit) {
  create_crd();
  json w = body(create_widget("w", 2));
  ASSERT_EQ(w["metadata"]["generation"], 1);
  // Defaults from the schema were applied.
  EXPECT_EQ(w["spec"]["replicas"], 1);
  EXPECT_EQ(w["spec"]["color"], "red");

  // Main endpoint: status ignored, spec change bumps generation.
  json upd = w;
  upd["spec"]["size"] = 3;
  upd["status"] = {{"phase", "Hacked"}};
  json after = body(call("PUT", "/apis/test.frugal.dev/v1/namespaces/default/widgets/w", upd.dump()));
  EXPECT_EQ(after["metadata"]["generation"], 2);
  EXPECT_FALSE(after.contains("status"));

  // Status endpoint: spec ignored, generation unchanged.
  json st = after;
  st["spec"]["size"] = 99;
  st["status"] = {{"phase", "Running"}};
  json s2 = body(call("PUT", "/apis/test.frugal.dev/v1/namespaces/default/widgets/w/status", st.dump()));
  EXPECT_EQ(s2["metadata"]["generation"], 2);
  EXPECT_EQ(s2["spec"]["size"], 3);
  EXPECT_EQ(s2["status"]["phase"], "Running");
  // Metadata-only change: new resourceVersion, same generation.
  json lab = s2;
  lab["metadata"]["labels"] = {{"a", "b"}};
  json s3 = body(call("PUT", "/apis/test.frugal.dev/v1/namespaces/default/widgets/w", lab.dump()));
  EXPECT_EQ(s3["metadata"]["generation"], 2);
  EXPECT_NE(s3["metadata"]["resourceVersion"], s2["metadata"]["resourceVersion"]);
}

TEST_F(ApiServerTest, InvalidCustomResourceIs422NamingTheField) {
  create_crd();
  auto r = create_widget("bad", 0);
  ASSERT_EQ(r.status, 422) << r.body;
  json s = body(r);
  EXPECT_EQ(s["reason"], "Invalid");
  EXPECT_EQ(s["details"]["causes"][0]["field"], "spec.size");
  EXPECT_NE(s["message"].get<std::string>().find("Widget.test.frugal.dev \"bad\" is invalid"),
            std::string::npos)
      << s["message"];
}

TEST_F(ApiServerTest, UnknownFieldsArePrunedWithAWarningOrRejectedWhenStrict) {
  create_crd();
  auto warn = create_widget("w", 1, R"(,"bogus":true)");
  ASSERT_EQ(warn.status, 201) << warn.body;
  EXPECT_FALSE(body(warn)["spec"].contains("bogus"));
  ASSERT_EQ(warn.headers.size(), 1u);
  EXPECT_EQ(warn.headers[0].first, "Warning");
  EXPECT_NE(warn.headers[0].second.find("unknown field \\\"spec.bogus\\\""), std::string::npos)
      << warn.headers[0].second;

  auto strict = call("POST",
                     "/apis/test.frugal.dev/v1/namespaces/default/widgets?fieldValidation=Strict",
                     R"({"apiVersion":"test.frugal.dev/v1","kind":"Widget","metadata":{"name":"s"},)"
                     R"("spec":{"size":1,"bogus":true}})");
  EXPECT_EQ(strict.status, 400);
  EXPECT_NE(body(strict)["message"].get<std::string>().find("unknown field \"spec.bogus\""),
            std::string::npos);
}

TEST_F(ApiServerTest, StrategicMergePatchOnACustomResourceIs415) {
  create_crd();
  ASSERT_EQ(create_widget("w", 1).status, 201);
  auto r = call("PATCH", "/apis/test.frugal.dev/v1/namespaces/default/widgets/w",
                R"({"spec":{"size":2}})", "application/strategic-merge-patch+json");
  EXPECT_EQ(r.status, 415);
  auto ok = call("PATCH", "/apis/test.frugal.dev/v1/namespaces/default/widgets/w",
                 R"({"spec":{"size":2}})", "application/merge-patch+json");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(body(ok)["spec"]["size"], 2);
}

TEST_F(ApiServerTest, JsonPatchWithAFailingTestIs422AndChangesNothing) {
  json o = body(create_cm("a"));
  auto r = call("PATCH", "/api/v1/namespaces/default/configmaps/a",
                R"([{"op":"test","path":"/data/k","value":"other"},{"op":"replace","path":"/data/k","value":"x"}])",
                "application/json-patch+json");
  EXPECT_EQ(r.status, 422);
  auto g = body(call("GET", "/api/v1/namespaces/default/configmaps/a"));
  EXPECT_EQ(g["data"]["k"], "v");
  EXPECT_EQ(g["metadata"]["resourceVersion"], o["metadata"]["resourceVersion"]);
}

TEST_F(ApiServerTest, DryRunCreateStoresNothing) {
  auto r = call("POST", "/api/v1/namespaces/default/configmaps?dryRun=All",
                R"({"metadata":{"name":"dry"}})");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/configmaps/dry").status, 404);
}

TEST_F(ApiServerTest, PaginatedListIsAConsistentSnapshot) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(create_cm("cm" + std::to_string(i)).status, 201);
  json p1 = body(call("GET", "/api/v1/namespaces/default/configmaps?limit=2"));
  ASSERT_EQ(p1["items"].size(), 2u);
  EXPECT_EQ(p1["metadata"]["remainingItemCount"], 3);
  std::string token = p1["metadata"]["continue"];
  // Changes after the first page do not show in later pages.
  ASSERT_EQ(call("DELETE", "/api/v1/namespaces/default/configmaps/cm3").status, 200);
  ASSERT_EQ(create_cm("cm5").status, 201);
  json p2 = body(call("GET", "/api/v1/namespaces/default/configmaps?limit=10&continue=" + token));
  std::vector<std::string> names;
  for (const auto& i : p2["items"]) names.push_back(i["metadata"]["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"cm2", "cm3", "cm4"}));
  EXPECT_FALSE(p2["metadata"].contains("continue"));
}

TEST_F(ApiServerTest, AContinueTokenPastCompactionIs410Expired) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(create_cm("cm" + std::to_string(i)).status, 201);
  json p1 = body(call("GET", "/api/v1/namespaces/default/configmaps?limit=1"));
  ASSERT_EQ(create_cm("later").status, 201);
  ASSERT_EQ(call("POST", "/kubesim/compact").status, 200);
  auto r = call("GET", "/api/v1/namespaces/default/configmaps?limit=1&continue=" +
                           p1["metadata"]["continue"].get<std::string>());
  EXPECT_EQ(r.status, 410);
  EXPECT_EQ(body(r)["reason"], "Expired");
}

TEST_F(ApiServerTest, LabelAndFieldSelectorsFilterLists) {
  ASSERT_EQ(create_cm("a", R"(,"labels":{"app":"x"})").status, 201);
  ASSERT_EQ(create_cm("b", R"(,"labels":{"app":"y"})").status, 201);
  json l = body(call("GET", "/api/v1/namespaces/default/configmaps?labelSelector=app%3Dx"));
  ASSERT_EQ(l["items"].size(), 1u);
  l = body(call("GET", "/api/v1/namespaces/default/configmaps?labelSelector=app in (x)"));
  ASSERT_EQ(l["items"].size(), 1u);
  EXPECT_EQ(l["items"][0]["metadata"]["name"], "a");
  json f = body(call("GET", "/api/v1/configmaps?fieldSelector=metadata.name!=a"));
  ASSERT_EQ(f["items"].size(), 1u);
  auto bad = call("GET", "/api/v1/configmaps?fieldSelector=spec.nodeName==x");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(body(bad)["message"], "field label not supported: spec.nodeName");
}

TEST_F(ApiServerTest, FinalizersHoldDeletionAndCannotBeAddedWhileDeleting) {
  ASSERT_EQ(create_cm("f", R"(,"finalizers":["test/hold"])").status, 201);
  auto d = call("DELETE", "/api/v1/namespaces/default/configmaps/f");
  ASSERT_EQ(d.status, 200);
  json held = body(call("GET", "/api/v1/namespaces/default/configmaps/f"));
  ASSERT_TRUE(held["metadata"].contains("deletionTimestamp"));
  json more = held;
  more["metadata"]["finalizers"].push_back("test/another");
  auto r = call("PUT", "/api/v1/namespaces/default/configmaps/f", more.dump());
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(body(r)["message"].get<std::string>().find("no new finalizers"), std::string::npos);
  auto cleared = call("PATCH", "/api/v1/namespaces/default/configmaps/f",
                      R"({"metadata":{"finalizers":null}})", "application/merge-patch+json");
  EXPECT_EQ(cleared.status, 200);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/configmaps/f").status, 404);
}

TEST_F(ApiServerTest, DeletePreconditionMismatchIsConflict) {
  ASSERT_EQ(create_cm("p").status, 201);
  auto r = call("DELETE", "/api/v1/namespaces/default/configmaps/p",
                R"({"preconditions":{"uid":"not-the-uid"}})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/configmaps/p").status, 200);
}

json owned_cm(const std::string& name, const json& owner, bool block) {
  return {{"metadata",
           {{"name", name},
            {"ownerReferences",
             {{{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"name", owner["metadata"]["name"]},
               {"uid", owner["metadata"]["uid"]},
               {"blockOwnerDeletion", block}}}}}}};
}

TEST_F(ApiServerTest, BackgroundDeletionCollectsDependents) {
  json owner = body(create_cm("owner"));
  ASSERT_EQ(call("POST", "/api/v1/namespaces/default/configmaps", owned_cm("child", owner, false).dump()).status, 201);
  ASSERT_EQ(call("DELETE", "/api/v1/namespaces/default/configmaps/owner").status, 200);
  api_.wait_gc_idle();
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/configmaps/child").status, 404);
}

TEST_F(ApiServerTest, ForegroundDeletionRemovesDependentsBeforeTheOwner) {
  json owner = body(create_cm("owner"));
  ASSERT_EQ(call("POST", "/api/v1/namespaces/default/configmaps",
                 owned_cm("child", owner, true).dump()).status, 201);
  // Hold the child with a finalizer, so the owner must wait for it.
  ASSERT_EQ(call("PATCH", "/api/v1/namespaces/default/configmaps/child",
                 R"({"metadata":{"finalizers":["test/hold"]}})", "application/merge-patch+json").status,
            200);
  ASSERT_EQ(call("DELETE", "/api/v1/namespaces/default/configmaps/owner",
                 R"({"propagationPolicy":"Foreground"})").status, 200);
  api_.wait_gc_idle();
  json o = body(call("GET", "/api/v1/namespaces/default/configmaps/owner"));
  EXPECT_TRUE(o["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(o["metadata"]["finalizers"], json::array({"foregroundDeletion"}));
  json c = body(call("GET", "/api/v1/namespaces/default/configmaps/child"));
  EXPECT_TRUE(c["metadata"].contains("deletionTimestamp"));
  // Release the child: then the owner goes too.
  ASSERT_EQ(call("PATCH", "/api/v1/namespaces/default/configmaps/child",
                 R"([{"op":"remove","path":"/metadata/finalizers/0"}])",
                 "application/json-patch+json").status, 200);
  api_.wait_gc_idle();
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/configmaps/child").status, 404);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/configmaps/owner").status, 404);
}

TEST_F(ApiServerTest, OrphanDeletionKeepsDependentsAndDropsTheReference) {
  json owner = body(create_cm("owner"));
  ASSERT_EQ(call("POST", "/api/v1/namespaces/default/configmaps", owned_cm("child", owner, false).dump()).status, 201);
  ASSERT_EQ(call("DELETE", "/api/v1/namespaces/default/configmaps/owner?propagationPolicy=Orphan").status, 200);
  api_.wait_gc_idle();
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/configmaps/owner").status, 404);
  json c = body(call("GET", "/api/v1/namespaces/default/configmaps/child"));
  EXPECT_FALSE(c["metadata"].contains("ownerReferences"));
}

TEST_F(ApiServerTest, CrdServesItsResourceUntilDeletedWithItsObjects) {
  EXPECT_EQ(call("GET", "/apis/test.frugal.dev/v1").status, 404);
  json crd = create_crd();
  EXPECT_EQ(crd["status"]["conditions"][1]["type"], "Established");
  json rl = body(call("GET", "/apis/test.frugal.dev/v1"));
  ASSERT_FALSE(rl["resources"].empty());
  EXPECT_EQ(rl["resources"][0]["name"], "widgets");
  ASSERT_EQ(create_widget("w", 1).status, 201);
  ASSERT_EQ(call("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.test.frugal.dev").status, 200);
  api_.wait_gc_idle();
  EXPECT_EQ(call("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.test.frugal.dev").status, 404);
  EXPECT_EQ(call("GET", "/apis/test.frugal.dev/v1").status, 404);
  EXPECT_EQ(call("GET", "/apis/test.frugal.dev/v1/namespaces/default/widgets").status, 404);
}

TEST_F(ApiServerTest, ScaleSubresourceReadsAndWritesReplicas) {
  create_crd();
  ASSERT_EQ(create_widget("w", 1).status, 201);
  json s = body(call("GET", "/apis/test.frugal.dev/v1/namespaces/default/widgets/w/scale"));
  EXPECT_EQ(s["kind"], "Scale");
  EXPECT_EQ(s["spec"]["replicas"], 1);
  auto r = call("PATCH", "/apis/test.frugal.dev/v1/namespaces/default/widgets/w/scale",
                R"({"spec":{"replicas":4}})", "application/merge-patch+json");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(call("GET", "/apis/test.frugal.dev/v1/namespaces/default/widgets/w"))["spec"]["replicas"], 4);
}

TEST_F(ApiServerTest, NamespaceDeletionRemovesItsContents) {
  ASSERT_EQ(call("POST", "/api/v1/namespaces", R"({"metadata":{"name":"team"}})").status, 201);
  ASSERT_EQ(call("POST", "/api/v1/namespaces/team/configmaps", R"({"metadata":{"name":"a"}})").status, 201);
  ASSERT_EQ(call("DELETE", "/api/v1/namespaces/team").status, 200);
  api_.wait_gc_idle();
  EXPECT_EQ(call("GET", "/api/v1/namespaces/team/configmaps/a").status, 404);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/team").status, 404);
}

TEST_F(ApiServerTest, WatchSendsChangesAndSelectorTransitions) {
  ASSERT_EQ(create_cm("a", R"(,"labels":{"app":"x"})").status, 201);
  auto s = watch("/api/v1/namespaces/default/configmaps?labelSelector=app=x");
  ASSERT_TRUE(s);
  auto initial = events(*s, 1);
  ASSERT_EQ(initial.size(), 1u);
  EXPECT_EQ(initial[0]["type"], "ADDED");
  // Relabelling out of the selector is a DELETED for this watcher.
  ASSERT_EQ(call("PATCH", "/api/v1/namespaces/default/configmaps/a",
                 R"({"metadata":{"labels":{"app":"y"}}})", "application/merge-patch+json").status, 200);
  auto gone = events(*s, 1);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0]["type"], "DELETED");
  ASSERT_EQ(call("PATCH", "/api/v1/namespaces/default/configmaps/a",
                 R"({"metadata":{"labels":{"app":"x"}}})", "application/merge-patch+json").status, 200);
  auto back = events(*s, 1);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0]["type"], "ADDED");
  s->cancel();
}

TEST_F(ApiServerTest, WatchFromAVersionResumesAndBookmarksWhenAllowed) {
  json a = body(create_cm("a"));
  const std::string rv = a["metadata"]["resourceVersion"];
  ASSERT_EQ(call("DELETE", "/api/v1/namespaces/default/configmaps/a").status, 200);
  auto s = watch("/api/v1/namespaces/default/configmaps?resourceVersion=" + rv +
                 "&allowWatchBookmarks=true");
  ASSERT_TRUE(s);
  auto evs = events(*s, 2);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0]["type"], "DELETED");
  EXPECT_EQ(evs[0]["object"]["data"]["k"], "v");  // the last state
  EXPECT_EQ(evs[1]["type"], "BOOKMARK");
  EXPECT_EQ(evs[1]["object"]["kind"], "ConfigMap");
  s->cancel();
}

TEST_F(ApiServerTest, WatchFromACompactedVersionGetsAnInStreamExpiredError) {
  json a = body(create_cm("a"));
  const std::string rv = a["metadata"]["resourceVersion"];
  ASSERT_EQ(create_cm("b").status, 201);
  ASSERT_EQ(call("POST", "/kubesim/compact").status, 200);
  auto s = watch("/api/v1/namespaces/default/configmaps?resourceVersion=" + rv);
  ASSERT_TRUE(s);
  auto evs = events(*s, 1);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0]["type"], "ERROR");
  EXPECT_EQ(evs[0]["object"]["code"], 410);
  EXPECT_EQ(evs[0]["object"]["reason"], "Expired");

  // Switched to HTTP status at run time.
  ASSERT_EQ(call("PUT", "/kubesim/faults", R"({"rules":[],"expiredWatchAsHttpStatus":true})").status, 200);
  auto r = call("GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv);
  EXPECT_EQ(r.status, 410);
}

TEST_F(ApiServerTest, WatchEndsAtTimeoutSeconds) {
  auto s = watch("/api/v1/namespaces/default/configmaps?timeoutSeconds=1");
  ASSERT_TRUE(s);
  EXPECT_LE(s->deadline(), std::chrono::steady_clock::now() + 1s);
}

TEST_F(ApiServerTest, InjectedFaultsAnswerWithTheConfiguredError) {
  ASSERT_EQ(call("PUT", "/kubesim/faults",
                 R"({"rules":[{"verb":"list","resource":"configmaps","code":429,"retryAfterSeconds":3,"remaining":1}]})")
                .status,
            200);
  auto r = call("GET", "/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(r.status, 429);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Retry-After", "3"}));
  // remaining=1: the next request passes.
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/configmaps").status, 200);
  // Other verbs were never affected.
  EXPECT_EQ(create_cm("x").status, 201);
}

TEST_F(ApiServerTest, InjectedWatchDropCutsTheStream) {
  ASSERT_EQ(call("PUT", "/kubesim/faults",
                 R"({"rules":[{"verb":"watch","dropWatchAfterMs":10}]})").status, 200);
  auto s = watch("/api/v1/namespaces/default/configmaps");
  ASSERT_TRUE(s);
  auto deadline = std::chrono::steady_clock::now() + 2s;
  bool ended = false;
  while (!ended && std::chrono::steady_clock::now() < deadline) {
    s->tick(std::chrono::steady_clock::now());
    (void)s->take(ended);
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(ended);
  EXPECT_TRUE(s->aborted());
}

TEST(ApiServerAuth, ATokenIsRequiredExceptForHealthChecks) {
  ApiServerOptions o;
  o.token = "s3cret";
  ApiServer api(o);
  Request req;
  req.method = "GET";
  req.path = "/api/v1/namespaces";
  EXPECT_EQ(std::get<Response>(api.handle(req)).status, 401);
  req.authorization = "Bearer s3cret";
  EXPECT_EQ(std::get<Response>(api.handle(req)).status, 200);
  Request health;
  health.method = "GET";
  health.path = "/healthz";
  EXPECT_EQ(std::get<Response>(api.handle(health)).status, 200);
}

}  // namespace
}  // namespace kubesim
