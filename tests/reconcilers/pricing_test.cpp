// PriceBook parsing (defaults, every validation error), node classification
// on each cloud's labels and interruption taints, node prices from the book
// or the fallback rates with the OpenCost per-unit split, pod requests and
// a pod's hourly rate.
#include "reconcilers/policy/pricing.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace frugal::policy {
namespace {

json node_json(const std::string& name, json labels, json allocatable,
               std::vector<std::string> taint_keys = {}) {
  json taints = json::array();
  for (const auto& k : taint_keys) taints.push_back({{"key", k}, {"effect", "NoSchedule"}});
  json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata", {{"name", name}, {"labels", std::move(labels)}}},
               {"spec", json::object()},
               {"status", {{"allocatable", std::move(allocatable)}}}};
  if (!taints.empty()) node["spec"]["taints"] = taints;
  return node;
}

json g5_allocatable() {
  return {{"cpu", "4"}, {"memory", "16Gi"}, {"nvidia.com/gpu", "1"}, {"pods", "110"}};
}

json book_json(json spec) {
  return {{"apiVersion", "ml.frugal.dev/v1alpha1"},
          {"kind", "PriceBook"},
          {"metadata", {{"name", "default"}}},
          {"spec", std::move(spec)}};
}

PriceBook g5_book() {
  auto book =
      parse_price_book(book_json({{"instanceTypes",
                                   {{{"name", "g5.xlarge"},
                                     {"onDemandHourlyUSD", 1.006},
                                     {"spotHourlyUSD", 0.3018},
                                     {"gpus", 1},
                                     {"gpuType", "A10G"},
                                     {"cpu", "4"},
                                     {"memory", "16Gi"}},
                                    {{"name", "m5.large"}, {"onDemandHourlyUSD", 0.096}}}}}));
  EXPECT_TRUE(book.has_value()) << book.error();
  return *book;
}

// ---- PriceBook parsing -----------------------------------------------------------

TEST(PriceBookParse, EmptySpecGetsTheContractDefaults) {
  auto book = parse_price_book({{"metadata", {{"name", "default"}}}});
  ASSERT_TRUE(book.has_value()) << book.error();
  EXPECT_EQ(book->name, "default");
  EXPECT_EQ(book->currency, "USD");
  EXPECT_TRUE(book->instance_types.empty());
  EXPECT_DOUBLE_EQ(book->fallback.cpu_core_hourly_usd, 0.031611);
  EXPECT_DOUBLE_EQ(book->fallback.memory_gib_hourly_usd, 0.004237);
  EXPECT_DOUBLE_EQ(book->fallback.gpu_hourly_usd, 0.95);
  EXPECT_DOUBLE_EQ(book->fallback.spot_multiplier, 1.0);
  ASSERT_EQ(book->capacity_type_labels.size(), 4u);
  EXPECT_EQ(book->capacity_type_labels[0].key, "karpenter.sh/capacity-type");
  EXPECT_EQ(book->capacity_type_labels[1].key, "eks.amazonaws.com/capacityType");
  EXPECT_EQ(book->capacity_type_labels[2].key, "cloud.google.com/gke-spot");
  EXPECT_EQ(book->capacity_type_labels[3].key, "kubernetes.azure.com/scalesetpriority");
  EXPECT_EQ(book->interruption_taints, default_interruption_taints());
  EXPECT_EQ(book->instance_type_label, "node.kubernetes.io/instance-type");
}

TEST(PriceBookParse, PartialFallbackKeepsDefaultsForMissingRates) {
  auto book = parse_price_book(book_json({{"fallback", {{"spotMultiplier", 0.3}}}}));
  ASSERT_TRUE(book.has_value()) << book.error();
  EXPECT_DOUBLE_EQ(book->fallback.spot_multiplier, 0.3);
  EXPECT_DOUBLE_EQ(book->fallback.cpu_core_hourly_usd, kOpenCostCpuCoreHourlyUSD);
  EXPECT_DOUBLE_EQ(book->fallback.gpu_hourly_usd, kOpenCostGpuHourlyUSD);
}

TEST(PriceBookParse, ReadsEveryInstanceTypeField) {
  PriceBook book = g5_book();
  ASSERT_EQ(book.instance_types.size(), 2u);
  const InstanceTypePrice* g5 = book.find("g5.xlarge");
  ASSERT_NE(g5, nullptr);
  EXPECT_DOUBLE_EQ(g5->on_demand_hourly_usd, 1.006);
  ASSERT_TRUE(g5->spot_hourly_usd.has_value());
  EXPECT_DOUBLE_EQ(*g5->spot_hourly_usd, 0.3018);
  EXPECT_EQ(g5->gpus, 1);
  EXPECT_EQ(g5->gpu_type, "A10G");
  EXPECT_EQ(g5->cpu_milli, 4000);
  EXPECT_EQ(g5->memory_bytes, int64_t{16} << 30);
  const InstanceTypePrice* m5 = book.find("m5.large");
  ASSERT_NE(m5, nullptr);
  EXPECT_FALSE(m5->spot_hourly_usd.has_value());
  EXPECT_EQ(m5->gpus, 0);
  EXPECT_EQ(book.find("p4d.24xlarge"), nullptr);
}

TEST(PriceBookParse, CustomLabelsAndTaintsReplaceTheDefaults) {
  auto book = parse_price_book(
      book_json({{"capacityTypeLabels",
                  {{{"key", "example.com/lifecycle"}, {"spotValues", {"preemptible"}}}}},
                 {"interruptionTaints", {"example.com/going-away"}},
                 {"instanceTypeLabel", "example.com/machine"}}));
  ASSERT_TRUE(book.has_value()) << book.error();
  ASSERT_EQ(book->capacity_type_labels.size(), 1u);
  EXPECT_EQ(book->capacity_type_labels[0].spot_values, std::vector<std::string>{"preemptible"});
  EXPECT_TRUE(book->capacity_type_labels[0].on_demand_values.empty());
  EXPECT_EQ(book->interruption_taints, std::vector<std::string>{"example.com/going-away"});
  EXPECT_EQ(book->instance_type_label, "example.com/machine");
}

TEST(PriceBookParse, ExplicitEmptyListsStayEmpty) {
  auto book = parse_price_book(
      book_json({{"capacityTypeLabels", json::array()}, {"interruptionTaints", json::array()}}));
  ASSERT_TRUE(book.has_value()) << book.error();
  EXPECT_TRUE(book->capacity_type_labels.empty());
  EXPECT_TRUE(book->interruption_taints.empty());
  // So a Karpenter spot node is on-demand to this book.
  NodeClass c = classify_node(node_json("n", {{"karpenter.sh/capacity-type", "spot"}}, {}), *book);
  EXPECT_EQ(c.capacity_type, CapacityType::kOnDemand);
}

struct InvalidCase {
  const char* what;
  json object;
  const char* error;  // a substring of the message
};

TEST(PriceBookParse, EachInvalidFieldIsNamedInTheError) {
  const json ok_type = {{"name", "a"}, {"onDemandHourlyUSD", 1}};
  const std::vector<InvalidCase> cases = {
      {"not an object", json::array(), "PriceBook: must be an object"},
      {"spec not an object", book_json("x"), "spec: must be an object"},
      {"currency", book_json({{"currency", "EUR"}}),
       "spec.currency: Unsupported value: \"EUR\": supported values: \"USD\""},
      {"currency type", book_json({{"currency", 1}}), "spec.currency: must be a string"},
      {"instanceTypes not a list", book_json({{"instanceTypes", {{"a", 1}}}}),
       "spec.instanceTypes: must be a list"},
      {"item not an object", book_json({{"instanceTypes", {1}}}),
       "spec.instanceTypes[0]: must be an object"},
      {"name missing", book_json({{"instanceTypes", {{{"onDemandHourlyUSD", 1}}}}}),
       "spec.instanceTypes[0].name: Required value"},
      {"name empty", book_json({{"instanceTypes", {{{"name", ""}, {"onDemandHourlyUSD", 1}}}}}),
       "spec.instanceTypes[0].name: Required value"},
      {"name duplicate", book_json({{"instanceTypes", {ok_type, ok_type}}}),
       "spec.instanceTypes[1].name: Duplicate value: \"a\""},
      {"on-demand missing", book_json({{"instanceTypes", {{{"name", "a"}}}}}),
       "spec.instanceTypes[0].onDemandHourlyUSD: Required value"},
      {"on-demand negative",
       book_json({{"instanceTypes",
                   {ok_type,
                    {{"name", "b"}, {"onDemandHourlyUSD", 1}},
                    {{"name", "c"}, {"onDemandHourlyUSD", -0.5}}}}}),
       "spec.instanceTypes[2].onDemandHourlyUSD: must be >= 0"},
      {"on-demand not a number",
       book_json({{"instanceTypes", {{{"name", "a"}, {"onDemandHourlyUSD", "1.0"}}}}}),
       "spec.instanceTypes[0].onDemandHourlyUSD: must be a number"},
      {"spot negative",
       book_json(
           {{"instanceTypes", {{{"name", "a"}, {"onDemandHourlyUSD", 1}, {"spotHourlyUSD", -1}}}}}),
       "spec.instanceTypes[0].spotHourlyUSD: must be >= 0"},
      {"gpus negative",
       book_json({{"instanceTypes", {{{"name", "a"}, {"onDemandHourlyUSD", 1}, {"gpus", -1}}}}}),
       "spec.instanceTypes[0].gpus: must be >= 0"},
      {"gpus fractional",
       book_json({{"instanceTypes", {{{"name", "a"}, {"onDemandHourlyUSD", 1}, {"gpus", 0.5}}}}}),
       "spec.instanceTypes[0].gpus: must be an integer"},
      {"gpuType",
       book_json({{"instanceTypes", {{{"name", "a"}, {"onDemandHourlyUSD", 1}, {"gpuType", 3}}}}}),
       "spec.instanceTypes[0].gpuType: must be a string"},
      {"cpu quantity",
       book_json({{"instanceTypes", {{{"name", "a"}, {"onDemandHourlyUSD", 1}, {"cpu", "four"}}}}}),
       "spec.instanceTypes[0].cpu: quantity \"four\": quantities must match"},
      {"memory negative",
       book_json(
           {{"instanceTypes", {{{"name", "a"}, {"onDemandHourlyUSD", 1}, {"memory", "-1Gi"}}}}}),
       "spec.instanceTypes[0].memory: must be >= 0"},
      {"fallback not an object", book_json({{"fallback", 1}}), "spec.fallback: must be an object"},
      {"fallback cpu negative", book_json({{"fallback", {{"cpuCoreHourlyUSD", -1}}}}),
       "spec.fallback.cpuCoreHourlyUSD: must be >= 0"},
      {"fallback memory type", book_json({{"fallback", {{"memoryGiBHourlyUSD", "x"}}}}),
       "spec.fallback.memoryGiBHourlyUSD: must be a number"},
      {"fallback gpu negative", book_json({{"fallback", {{"gpuHourlyUSD", -0.1}}}}),
       "spec.fallback.gpuHourlyUSD: must be >= 0"},
      {"spot multiplier above 1", book_json({{"fallback", {{"spotMultiplier", 1.5}}}}),
       "spec.fallback.spotMultiplier: must be <= 1"},
      {"spot multiplier below 0", book_json({{"fallback", {{"spotMultiplier", -0.5}}}}),
       "spec.fallback.spotMultiplier: must be >= 0"},
      {"labels not a list", book_json({{"capacityTypeLabels", "x"}}),
       "spec.capacityTypeLabels: must be a list"},
      {"label item not an object", book_json({{"capacityTypeLabels", {1}}}),
       "spec.capacityTypeLabels[0]: must be an object"},
      {"label key missing", book_json({{"capacityTypeLabels", {{{"spotValues", {"spot"}}}}}}),
       "spec.capacityTypeLabels[0].key: Required value"},
      {"label values not a list",
       book_json({{"capacityTypeLabels", {{{"key", "k"}, {"spotValues", "spot"}}}}}),
       "spec.capacityTypeLabels[0].spotValues: must be a list of strings"},
      {"label value not a string",
       book_json({{"capacityTypeLabels", {{{"key", "k"}, {"onDemandValues", {"x", 2}}}}}}),
       "spec.capacityTypeLabels[0].onDemandValues[1]: must be a string"},
      {"taints not a list", book_json({{"interruptionTaints", "x"}}),
       "spec.interruptionTaints: must be a list of strings"},
      {"taint empty", book_json({{"interruptionTaints", {"a", ""}}}),
       "spec.interruptionTaints[1]: must not be empty"},
      {"instance label empty", book_json({{"instanceTypeLabel", ""}}),
       "spec.instanceTypeLabel: must not be empty"},
  };
  for (const auto& c : cases) {
    auto book = parse_price_book(c.object);
    ASSERT_FALSE(book.has_value()) << c.what;
    EXPECT_NE(book.error().find(c.error), std::string::npos)
        << c.what << ": got \"" << book.error() << "\"";
  }
}

TEST(PriceBookParse, ReportsEveryProblemAtOnce) {
  auto book =
      parse_price_book(book_json({{"currency", "EUR"},
                                  {"instanceTypes", {{{"name", "a"}, {"onDemandHourlyUSD", -1}}}},
                                  {"fallback", {{"spotMultiplier", 2}}}}));
  ASSERT_FALSE(book.has_value());
  EXPECT_EQ(book.error(),
            "spec.currency: Unsupported value: \"EUR\": supported values: \"USD\"; "
            "spec.instanceTypes[0].onDemandHourlyUSD: must be >= 0; "
            "spec.fallback.spotMultiplier: must be <= 1");
}

// ---- Node classification -----------------------------------------------------------

TEST(NodeClassify, ReadsEachCloudsCapacityTypeLabel) {
  const PriceBook book = default_price_book();
  struct Case {
    json labels;
    CapacityType want;
  };
  const std::vector<Case> cases = {
      {{{"karpenter.sh/capacity-type", "spot"}}, CapacityType::kSpot},
      {{{"karpenter.sh/capacity-type", "on-demand"}}, CapacityType::kOnDemand},
      {{{"eks.amazonaws.com/capacityType", "SPOT"}}, CapacityType::kSpot},
      {{{"eks.amazonaws.com/capacityType", "ON_DEMAND"}}, CapacityType::kOnDemand},
      {{{"cloud.google.com/gke-spot", "true"}, {"cloud.google.com/gke-provisioning", "spot"}},
       CapacityType::kSpot},
      {{{"cloud.google.com/gke-provisioning", "standard"}}, CapacityType::kOnDemand},
      {{{"kubernetes.azure.com/scalesetpriority", "spot"}}, CapacityType::kSpot},
      {{{"kubernetes.azure.com/scalesetpriority", "regular"}}, CapacityType::kOnDemand},
      {json::object(), CapacityType::kOnDemand},
      // Values are case-sensitive, as label selectors are.
      {{{"eks.amazonaws.com/capacityType", "spot"}}, CapacityType::kOnDemand},
  };
  for (const auto& c : cases) {
    NodeClass got = classify_node(node_json("n1", c.labels, g5_allocatable()), book);
    EXPECT_EQ(got.capacity_type, c.want) << c.labels.dump();
    EXPECT_EQ(got.name, "n1");
  }
}

TEST(NodeClassify, ReadsTheInstanceTypeLabel) {
  PriceBook book = default_price_book();
  json labels = {{"node.kubernetes.io/instance-type", "g5.xlarge"}, {"example.com/machine", "big"}};
  EXPECT_EQ(classify_node(node_json("n", labels, {}), book).instance_type, "g5.xlarge");
  book.instance_type_label = "example.com/machine";
  EXPECT_EQ(classify_node(node_json("n", labels, {}), book).instance_type, "big");
  EXPECT_EQ(classify_node(node_json("n", json::object(), {}), book).instance_type, "");
}

TEST(NodeClassify, EachCloudsInterruptionTaintMarksTheNodeInterrupting) {
  const PriceBook book = default_price_book();
  for (const std::string taint : {"karpenter.sh/disrupted", "aws-node-termination-handler/spot-itn",
                                  "cloud.google.com/impending-node-termination",
                                  "remediator.kubernetes.azure.com/unschedulable"}) {
    NodeClass c = classify_node(node_json("n", json::object(), {}, {"other", taint}), book);
    EXPECT_TRUE(c.interrupting) << taint;
    EXPECT_EQ(c.interruption_taint, taint);
  }
}

TEST(NodeClassify, OtherTaintsAreNotInterruptions) {
  // AKS spot pools always carry scalesetpriority=spot:NoSchedule; that is not a notice.
  NodeClass c = classify_node(node_json("n", {{"kubernetes.azure.com/scalesetpriority", "spot"}},
                                        {}, {"kubernetes.azure.com/scalesetpriority"}),
                              default_price_book());
  EXPECT_EQ(c.capacity_type, CapacityType::kSpot);
  EXPECT_FALSE(c.interrupting);
  EXPECT_EQ(c.interruption_taint, "");
}

// ---- Node prices ---------------------------------------------------------------------

json g5_node(const std::string& capacity) {
  return node_json(
      "g5-" + capacity,
      {{"node.kubernetes.io/instance-type", "g5.xlarge"}, {"karpenter.sh/capacity-type", capacity}},
      g5_allocatable());
}

TEST(NodePricing, OnDemandNodeSplitsItsBookPriceAndReSumsExactly) {
  auto price = price_node(g5_node("on-demand"), g5_book());
  ASSERT_TRUE(price.has_value()) << price.error();
  EXPECT_EQ(price->source, PriceSource::kPriceBook);
  EXPECT_DOUBLE_EQ(price->hourly_usd, 1.006);
  EXPECT_DOUBLE_EQ(price->on_demand_hourly_usd, 1.006);
  const UnitRates& r = price->rates;
  // In the proportion of OpenCost's default rates...
  const double at_fallback = 4 * 0.031611 + 16 * 0.004237 + 1 * 0.95;  // 1.144236
  EXPECT_NEAR(r.cpu_core_hour, 0.031611 * 1.006 / at_fallback, 1e-15);
  EXPECT_NEAR(r.memory_gib_hour, 0.004237 * 1.006 / at_fallback, 1e-15);
  EXPECT_NEAR(r.gpu_hour, 0.95 * 1.006 / at_fallback, 1e-15);
  EXPECT_DOUBLE_EQ(r.cpu_core_hour / r.memory_gib_hour, 0.031611 / 0.004237);
  // ...and the whole node re-sums to its price.
  EXPECT_DOUBLE_EQ(4 * r.cpu_core_hour + 16 * r.memory_gib_hour + 1 * r.gpu_hour, 1.006);
  const PodRate whole = price_pod({4000, int64_t{16} << 30, 1, 1}, *price);
  EXPECT_DOUBLE_EQ(whole.hourly_usd, 1.006);
  EXPECT_DOUBLE_EQ(whole.on_demand_hourly_usd, 1.006);
}

TEST(NodePricing, SpotNodeUsesTheBooksSpotPriceAndKnowsItsOnDemandPrice) {
  auto price = price_node(g5_node("spot"), g5_book());
  ASSERT_TRUE(price.has_value());
  EXPECT_EQ(price->source, PriceSource::kPriceBook);
  EXPECT_DOUBLE_EQ(price->hourly_usd, 0.3018);
  EXPECT_DOUBLE_EQ(price->on_demand_hourly_usd, 1.006);
  const UnitRates& r = price->rates;
  EXPECT_DOUBLE_EQ(4 * r.cpu_core_hour + 16 * r.memory_gib_hour + r.gpu_hour, 0.3018);
  const UnitRates& od = price->on_demand_rates;
  EXPECT_DOUBLE_EQ(4 * od.cpu_core_hour + 16 * od.memory_gib_hour + od.gpu_hour, 1.006);
}

TEST(NodePricing, UnknownInstanceTypeFallsBackToRatesTimesAllocatable) {
  json node =
      node_json("x", {{"node.kubernetes.io/instance-type", "mystery.large"}}, g5_allocatable());
  auto price = price_node(node, g5_book());
  ASSERT_TRUE(price.has_value());
  EXPECT_EQ(price->source, PriceSource::kFallback);
  EXPECT_NEAR(price->hourly_usd, 1.144236, 1e-12);
  EXPECT_NEAR(price->on_demand_hourly_usd, 1.144236, 1e-12);
  EXPECT_NEAR(price->rates.cpu_core_hour, 0.031611, 1e-15);
  EXPECT_NEAR(price->rates.memory_gib_hour, 0.004237, 1e-15);
  EXPECT_NEAR(price->rates.gpu_hour, 0.95, 1e-15);
}

TEST(NodePricing, UnpricedSpotNodeAppliesTheSpotMultiplierAndStaysFallback) {
  auto book = parse_price_book(book_json({{"fallback", {{"spotMultiplier", 0.3}}}}));
  ASSERT_TRUE(book.has_value());
  json node = node_json("x", {{"eks.amazonaws.com/capacityType", "SPOT"}}, g5_allocatable());
  auto price = price_node(node, *book);
  ASSERT_TRUE(price.has_value());
  EXPECT_EQ(price->source, PriceSource::kFallback);
  EXPECT_NEAR(price->hourly_usd, 1.144236 * 0.3, 1e-12);
  EXPECT_NEAR(price->on_demand_hourly_usd, 1.144236, 1e-12);
  EXPECT_NEAR(price->rates.cpu_core_hour, 0.031611 * 0.3, 1e-15);
}

TEST(NodePricing, SpotNodeOfATypeWithoutSpotPriceFallsBackButKeepsTheBookOnDemandPrice) {
  json node = node_json(
      "m",
      {{"node.kubernetes.io/instance-type", "m5.large"}, {"karpenter.sh/capacity-type", "spot"}},
      {{"cpu", "2"}, {"memory", "8Gi"}});
  auto price = price_node(node, g5_book());
  ASSERT_TRUE(price.has_value());
  EXPECT_EQ(price->source, PriceSource::kFallback);
  EXPECT_NEAR(price->hourly_usd, 2 * 0.031611 + 8 * 0.004237, 1e-12);
  EXPECT_DOUBLE_EQ(price->on_demand_hourly_usd, 0.096);
}

TEST(NodePricing, BookGpuCountStandsInWhenTheDevicePluginHasNotReported) {
  json node = node_json("g", {{"node.kubernetes.io/instance-type", "g5.xlarge"}},
                        {{"cpu", "4"}, {"memory", "16Gi"}});
  auto price = price_node(node, g5_book());
  ASSERT_TRUE(price.has_value());
  EXPECT_DOUBLE_EQ(
      4 * price->rates.cpu_core_hour + 16 * price->rates.memory_gib_hour + price->rates.gpu_hour,
      1.006);
  EXPECT_GT(price->rates.gpu_hour, 0.8);
}

TEST(NodePricing, NodeWithNothingAllocatableHasZeroRates) {
  auto price = price_node(node_json("empty", json::object(), json::object()), default_price_book());
  ASSERT_TRUE(price.has_value());
  EXPECT_EQ(price->hourly_usd, 0);
  EXPECT_EQ(price->rates.cpu_core_hour, 0);
  EXPECT_EQ(price_pod({1000, 1 << 30, 0, 1}, *price).hourly_usd, 0);
}

TEST(NodePricing, BadAllocatableQuantityIsAnErrorNamingIt) {
  auto price =
      price_node(node_json("bad", json::object(), {{"cpu", "lots"}}), default_price_book());
  ASSERT_FALSE(price.has_value());
  EXPECT_NE(price.error().find("status.allocatable[cpu]"), std::string::npos) << price.error();
}

TEST(NodePricing, AllocatableWithoutPodsGetsTheKubeletDefault) {
  auto r = node_allocatable(node_json("n", json::object(), {{"cpu", "1"}}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->pods, kDefaultMaxPods);
  EXPECT_EQ(r->cpu_milli, 1000);
}

// ---- Pod requests and rates ------------------------------------------------------

json container(json requests, json limits = nullptr) {
  json c = {{"name", "c"}, {"image", "i"}, {"resources", json::object()}};
  if (!requests.is_null()) c["resources"]["requests"] = std::move(requests);
  if (!limits.is_null()) c["resources"]["limits"] = std::move(limits);
  return c;
}

TEST(PodRequests, ContainersAddUpAndLimitsStandInForMissingRequests) {
  json pod = {{"spec",
               {{"containers",
                 {container({{"cpu", "500m"}, {"memory", "1Gi"}}),
                  container(nullptr, {{"cpu", "1"}, {"memory", "2Gi"}, {"nvidia.com/gpu", "1"}}),
                  container({{"cpu", "250m"}}, {{"cpu", "2"}, {"memory", "512Mi"}})}}}}};
  auto r = pod_requests(pod);
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->cpu_milli, 1750);
  EXPECT_EQ(r->memory_bytes, (int64_t{3} << 30) + (int64_t{512} << 20));
  EXPECT_EQ(r->gpus, 1);
  EXPECT_EQ(r->pods, 1);
}

TEST(PodRequests, InitContainersCountAtTheirPeakAndSidecarsAddUp) {
  json big_init = container({{"cpu", "4"}, {"memory", "1Gi"}});
  json sidecar = container({{"cpu", "100m"}, {"memory", "64Mi"}});
  sidecar["restartPolicy"] = "Always";
  json pod = {{"spec",
               {{"initContainers", {big_init, sidecar}},
                {"containers", {container({{"cpu", "1"}, {"memory", "4Gi"}})}},
                {"overhead", {{"cpu", "50m"}}}}}};
  auto r = pod_requests(pod);
  ASSERT_TRUE(r.has_value()) << r.error();
  // max(containers 1 + sidecar 0.1, init 4) + overhead 0.05
  EXPECT_EQ(r->cpu_milli, 4050);
  // max(4Gi + 64Mi, 1Gi)
  EXPECT_EQ(r->memory_bytes, (int64_t{4} << 30) + (int64_t{64} << 20));
}

TEST(PodRequests, BadQuantityNamesTheContainerField) {
  json pod = {
      {"spec", {{"containers", {container({{"cpu", "1"}}), container({{"memory", "x"}})}}}}};
  auto r = pod_requests(pod);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("spec.containers[1].resources.requests[memory]"), std::string::npos)
      << r.error();
}

TEST(PodRate, RequestsTimesTheNodesPerUnitRates) {
  auto price = price_node(g5_node("spot"), g5_book());
  ASSERT_TRUE(price.has_value());
  const Resources half{2000, int64_t{8} << 30, 0, 1};
  const PodRate rate = price_pod(half, *price);
  EXPECT_DOUBLE_EQ(rate.hourly_usd,
                   2 * price->rates.cpu_core_hour + 8 * price->rates.memory_gib_hour);
  EXPECT_DOUBLE_EQ(rate.on_demand_hourly_usd, 2 * price->on_demand_rates.cpu_core_hour +
                                                  8 * price->on_demand_rates.memory_gib_hour);
  EXPECT_EQ(rate.gpus, 0);
  EXPECT_EQ(rate.source, PriceSource::kPriceBook);
  // Half the cpu and memory of a node costs less than half its price: the GPU share is large.
  EXPECT_LT(rate.hourly_usd, 0.3018 / 2);
}

TEST(PricingNames, SourceAndCapacityTypeStrings) {
  EXPECT_EQ(to_string(PriceSource::kPriceBook), "pricebook");
  EXPECT_EQ(to_string(PriceSource::kFallback), "fallback");
  EXPECT_EQ(to_string(CapacityType::kSpot), "spot");
  EXPECT_EQ(to_string(CapacityType::kOnDemand), "on-demand");
}

}  // namespace
}  // namespace frugal::policy
