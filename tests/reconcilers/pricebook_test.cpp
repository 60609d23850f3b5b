// The PriceBook controller against kubesim in-process: the CRDs and the
// default PriceBook from crds/, the demo cluster's nodes, and a Manager
// running the controller over HTTP. Its status must count the nodes it
// prices, name the ones that fall back, and the node-cost metric must carry
// each node's price source.
#include "reconcilers/pricebook.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/yaml_json.h"
#include "sim/apiserver.h"
#include "sim/cluster_config.h"
#include "sim/http_server.h"
#include "tests/support/frugal_kubesim.h"

namespace frugal::reconcilers {
namespace {

using testing::eventually;

const std::string& kRoot = testing::kRepoRoot;

class PriceBookControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<kubesim::HttpServer>(
        kubesim::HttpServerOptions{}, [this](const kubesim::Request& r) { return api_.handle(r); });
    ASSERT_TRUE(server_->start());
    testing::install_frugal_crds(api_);
    if (HasFatalFailure()) return;
    auto demo = kubesim::load_cluster_config(kRoot + "/sim/examples/demo.yaml");
    ASSERT_TRUE(demo) << demo.error();
    for (const auto& pool : demo->pools) {
      for (int i = 0; i < pool.count; ++i) {
        ASSERT_TRUE(
            api_.create("", "v1", "nodes", "",
                        kubesim::node_object(*demo, pool, i, std::chrono::system_clock::now())));
      }
    }
    auto book = yaml_file_to_json(kRoot + "/crds/examples/pricebook-default.yaml");
    ASSERT_TRUE(book) << book.error();
    auto created = api_.create("ml.frugal.dev", "v1alpha1", "pricebooks", "", (*book)[0]);
    ASSERT_TRUE(created) << created.error().message;

    kube::RestConfig rest;
    rest.server = "http://127.0.0.1:" + std::to_string(server_->port());
    ManagerOptions options;
    options.metrics_bind_address = "0";
    options.health_probe_bind_address = "0";
    manager_ = std::make_unique<Manager>(options, rest);
    reconciler_ = add_pricebook_controller(*manager_);
    runner_ = std::thread([this] { manager_->run(stop_); });
  }

  void TearDown() override {
    stop_ = true;
    if (runner_.joinable()) runner_.join();
    manager_.reset();
    server_->stop();
  }

  kube::json status() {
    auto pb = api_.get("ml.frugal.dev", "v1alpha1", "pricebooks", "", "default");
    return pb ? pb->value("status", kube::json::object()) : kube::json::object();
  }

  kubesim::ApiServer api_;
  std::unique_ptr<kubesim::HttpServer> server_;
  std::unique_ptr<Manager> manager_;
  std::unique_ptr<PriceBookReconciler> reconciler_;
  std::atomic<bool> stop_{false};
  std::thread runner_;
};

TEST_F(PriceBookControllerTest, CountsPricedNodesAndNamesTheOnesOnFallbackRates) {
  ASSERT_TRUE(eventually([&] { return status().value("nodesPriced", -1) == 7; }))
      << status().dump();
  EXPECT_EQ(status()["nodesUsingFallback"], 0);
  EXPECT_EQ(status()["conditions"][0]["reason"], "Priced");
  EXPECT_EQ(status()["observedGeneration"], 1);

  // A node of a type the book does not list: priced by fallback, and said so.
  kube::json odd = {{"apiVersion", "v1"},
                    {"kind", "Node"},
                    {"metadata",
                     {{"name", "mystery-0"},
                      {"labels",
                       {{"node.kubernetes.io/instance-type", "x9.mystery"},
                        {"karpenter.sh/capacity-type", "spot"}}}}},
                    {"status",
                     {{"allocatable", {{"cpu", "8"}, {"memory", "32Gi"}, {"nvidia.com/gpu", "1"}}},
                      {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
  ASSERT_TRUE(api_.create("", "v1", "nodes", "", odd));
  ASSERT_TRUE(eventually([&] { return status().value("nodesUsingFallback", -1) == 1; }))
      << status().dump();
  EXPECT_EQ(status()["fallbackNodes"], kube::json::array({"mystery-0"}));
  EXPECT_EQ(status()["conditions"][0]["reason"], "NodesUsingFallback");
  ASSERT_TRUE(eventually([&] {
    auto events = api_.store().list("events", "", nullptr, 0, "", 0);
    for (const auto& e : events->items) {
      if ((*e)["reason"] == "NodesUsingFallback") return true;
    }
    return false;
  }));

  const std::string metrics = manager_->registry().expose();
  EXPECT_NE(metrics.find("frugal_node_hourly_cost_usd{capacity_type=\"spot\",instance_type=\"x9."
                         "mystery\",node=\"mystery-0\",price_source=\"fallback\"}"),
            std::string::npos)
      << metrics;
  EXPECT_NE(
      metrics.find("frugal_node_hourly_cost_usd{capacity_type=\"on-demand\",instance_type="
                   "\"g5.xlarge\",node=\"gpu-on-demand-0\",price_source=\"pricebook\"} 1.006"),
      std::string::npos)
      << metrics;
}

}  // namespace
}  // namespace frugal::reconcilers
