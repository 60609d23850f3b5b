// kubesim's audit hook and fault rules scoped to one client's User-Agent:
// the two pieces the leader-election audit test stands on.
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "sim/apiserver.h"

namespace kubesim {
namespace {

Response send(ApiServer& api, const std::string& method, const std::string& path,
              const std::string& user_agent, const std::string& body = "") {
  Request req;
  req.method = method;
  req.path = path;
  req.user_agent = user_agent;
  req.body = body;
  req.content_type = "application/json";
  req.accept = "application/json";
  Reply r = api.handle(req);
  auto* resp = std::get_if<Response>(&r);
  return resp != nullptr ? *resp : Response{};
}

const char* kConfigMap = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}})";

TEST(Audit, RecordsEveryWriteWithWhoWhatAndTheAnswerButNoReads) {
  std::mutex mu;
  std::vector<json> records;
  ApiServerOptions options;
  options.audit = [&](const json& r) {
    std::lock_guard lock(mu);
    records.push_back(r);
  };
  ApiServer api(options);
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  EXPECT_EQ(send(api, "POST", cms, "writer/1 (replica-a)", kConfigMap).status, 201);
  EXPECT_EQ(send(api, "POST", cms, "writer/1 (replica-a)", kConfigMap).status, 409);
  EXPECT_EQ(send(api, "GET", cms + "/a", "reader").status, 200);
  EXPECT_EQ(send(api, "GET", cms, "reader").status, 200);
  EXPECT_EQ(send(api, "DELETE", cms + "/a", "writer/1 (replica-b)").status, 200);

  std::lock_guard lock(mu);
  ASSERT_EQ(records.size(), 3u) << "reads are not audited";
  EXPECT_EQ(records[0]["verb"], "create");
  EXPECT_EQ(records[0]["resource"], "configmaps");
  EXPECT_EQ(records[0]["namespace"], "default");
  EXPECT_EQ(records[0]["userAgent"], "writer/1 (replica-a)");
  EXPECT_EQ(records[0]["code"], 201);
  EXPECT_EQ(records[1]["code"], 409) << "refused writes are audited too";
  EXPECT_EQ(records[2]["verb"], "delete");
  EXPECT_EQ(records[2]["name"], "a");
  EXPECT_EQ(records[2]["userAgent"], "writer/1 (replica-b)");
  // RFC 3339 with microseconds, UTC: 2026-11-22T15:04:05.123456Z
  const std::string time = records[0]["time"];
  ASSERT_EQ(time.size(), 27u) << time;
  EXPECT_EQ(time[19], '.');
  EXPECT_EQ(time.back(), 'Z');
}

TEST(Audit, AFaultRuleWithAUserAgentHitsOnlyThatClient) {
  ApiServer api;
  auto rule =
      FaultInjector::parse_rule("verb=create,resource=configmaps,user_agent=(replica-a),code=500");
  ASSERT_TRUE(rule);
  EXPECT_EQ(rule->user_agent, "(replica-a)");
  api.faults().add_rule(*rule);
  const std::string cms = "/api/v1/namespaces/default/configmaps";
  EXPECT_EQ(send(api, "POST", cms, "frugal-controller (replica-a)", kConfigMap).status, 500);
  EXPECT_EQ(send(api, "POST", cms, "frugal-controller (replica-b)", kConfigMap).status, 201);
  EXPECT_EQ(api.faults().to_json()["rules"][0]["userAgent"], "(replica-a)");
}

}  // namespace
}  // namespace kubesim
