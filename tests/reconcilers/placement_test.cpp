// Cheapest fit for a gang: pool choice and its tie-breaks, a gang spanning
// several nodes, never-fits vs not-now with scheduler-like messages, the
// capacity preferences and the fallen-back mode, the instance-type
// allow-list, and nodes skipped for interruption, cordon or NotReady.
#include "reconcilers/policy/placement.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace frugal::policy {
namespace {

constexpr int64_t kGi = int64_t{1} << 30;

PriceBook test_book() {
  auto book = parse_price_book(
      {{"metadata", {{"name", "default"}}},
       {"spec",
        {{"instanceTypes",
          {{{"name", "g5.xlarge"}, {"onDemandHourlyUSD", 1.006}, {"spotHourlyUSD", 0.3018}},
           {{"name", "g5.12xlarge"}, {"onDemandHourlyUSD", 5.672}, {"spotHourlyUSD", 1.7}},
           {{"name", "a.large"}, {"onDemandHourlyUSD", 1.0}, {"spotHourlyUSD", 0.5}},
           {{"name", "b.large"}, {"onDemandHourlyUSD", 0.9}, {"spotHourlyUSD", 0.5}},
           {{"name", "c.large"}, {"onDemandHourlyUSD", 1.0}, {"spotHourlyUSD", 0.5}},
           // Cheaper on-demand than any spot offer here, to show the preference order.
           {{"name", "cheap.od"}, {"onDemandHourlyUSD", 0.1}}}}}}});
  EXPECT_TRUE(book.has_value()) << book.error();
  return *book;
}

struct NodeSpec {
  std::string name;
  std::string type;
  std::string capacity = "spot";  // karpenter.sh/capacity-type value
  std::string cpu = "4";
  std::string memory = "16Gi";
  int gpus = 1;
  std::vector<std::string> taints;
  bool ready = true;
  bool cordoned = false;
};

json node_json(const NodeSpec& s) {
  json node = {{"metadata",
                {{"name", s.name},
                 {"labels",
                  {{"node.kubernetes.io/instance-type", s.type},
                   {"karpenter.sh/capacity-type", s.capacity}}}}},
               {"spec", json::object()},
               {"status",
                {{"allocatable",
                  {{"cpu", s.cpu},
                   {"memory", s.memory},
                   {"pods", "110"},
                   {"nvidia.com/gpu", std::to_string(s.gpus)}}},
                 {"conditions", {{{"type", "Ready"}, {"status", s.ready ? "True" : "False"}}}}}}};
  if (s.cordoned) node["spec"]["unschedulable"] = true;
  for (const auto& t : s.taints)
    node["spec"]["taints"].push_back({{"key", t}, {"effect", "NoSchedule"}});
  return node;
}

PlacementNode make(const NodeSpec& s, const std::vector<Resources>& bound = {},
                   const PriceBook& book = test_book()) {
  auto n = placement_node(node_json(s), bound, book);
  EXPECT_TRUE(n.has_value()) << n.error();
  return *n;
}

// The g5.xlarge shape: one worker fills the node.
const Resources kGpuWorker{4000, 16 * kGi, 1, 1};

GangRequest gang(int64_t workers, Resources each = kGpuWorker,
                 Preference preference = Preference::kSpotWithFallback) {
  GangRequest g;
  g.workers = workers;
  g.per_worker = each;
  g.preference = preference;
  return g;
}

NodeSpec g5(const std::string& name, const std::string& capacity = "spot") {
  return {name, "g5.xlarge", capacity};
}

NodeSpec g5_12(const std::string& name, const std::string& capacity = "spot") {
  return {name, "g5.12xlarge", capacity, "48", "192Gi", 4};
}

TEST(ChoosePool, PicksTheCheapestFittingPoolPerWorker) {
  std::vector<PlacementNode> nodes = {make(g5_12("big-0")), make(g5("small-0")),
                                      make(g5("small-1"))};
  auto choice = choose_pool(nodes, gang(2));
  ASSERT_TRUE(choice.has_value()) << choice.error().message;
  EXPECT_EQ(choice->name(), "g5.xlarge/spot");
  EXPECT_EQ(choice->instance_type, "g5.xlarge");
  EXPECT_EQ(choice->capacity_type, CapacityType::kSpot);
  EXPECT_DOUBLE_EQ(choice->price_per_worker_hourly_usd, 0.3018);
  EXPECT_DOUBLE_EQ(choice->on_demand_per_worker_hourly_usd, 1.006);
  EXPECT_EQ(choice->source, PriceSource::kPriceBook);
  EXPECT_EQ(choice->nodes, (std::vector<std::string>{"small-0", "small-1"}));
}

TEST(ChoosePool, GangSpansSeveralNodesAndNeedsThemAllNow) {
  // Four one-GPU workers: three small nodes are not enough, so the 4-GPU pool wins
  // even though it costs more per worker.
  std::vector<PlacementNode> nodes = {make(g5("small-0")), make(g5("small-1")), make(g5("small-2")),
                                      make(g5_12("big-0"))};
  auto choice = choose_pool(nodes, gang(4));
  ASSERT_TRUE(choice.has_value()) << choice.error().message;
  EXPECT_EQ(choice->name(), "g5.12xlarge/spot");
  EXPECT_EQ(choice->nodes, std::vector<std::string>(4, "big-0"));
  // The worker's share of the big node, by the OpenCost split: 1.144236 of 6.130832 fallback-$.
  EXPECT_NEAR(choice->price_per_worker_hourly_usd, 1.7 * 1.144236 / 6.130832, 1e-12);

  // Six workers: two big nodes, filled largest-room first, then by name.
  nodes.push_back(make(g5_12("big-1")));
  auto six = choose_pool(nodes, gang(6));
  ASSERT_TRUE(six.has_value()) << six.error().message;
  EXPECT_EQ(six->nodes,
            (std::vector<std::string>{"big-0", "big-0", "big-0", "big-0", "big-1", "big-1"}));
}

TEST(ChoosePool, BoundPodsTakeRoomAway) {
  const Resources half_gpu_node{2000, 8 * kGi, 0, 1};
  // small-0 keeps its GPU but only 2 cpu are free: no worker fits there.
  std::vector<PlacementNode> nodes = {make(g5("small-0"), {half_gpu_node}), make(g5("small-1"))};
  EXPECT_EQ(nodes[0].free, (Resources{2000, 8 * kGi, 1, 109}));
  auto one = choose_pool(nodes, gang(1));
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->nodes, std::vector<std::string>{"small-1"});
  auto two = choose_pool(nodes, gang(2));
  ASSERT_FALSE(two.has_value());
  EXPECT_EQ(two.error().kind, NoFitKind::kNotNow);
  EXPECT_EQ(two.error().reason, kReasonInsufficientCapacity);
  EXPECT_NE(two.error().message.find("1 Insufficient cpu, 1 Insufficient memory"),
            std::string::npos)
      << two.error().message;
  EXPECT_NE(two.error().message.find("g5.xlarge/spot fits 1 of 2"), std::string::npos)
      << two.error().message;
}

TEST(ChoosePool, PodSlotsCount) {
  NodeSpec s = g5("small-0");
  std::vector<Resources> bound(110, Resources{0, 0, 0, 1});
  auto choice = choose_pool({make(s, bound)}, gang(1, Resources{100, 0, 0, 1}));
  ASSERT_FALSE(choice.has_value());
  EXPECT_EQ(choice.error().kind, NoFitKind::kNotNow);
  EXPECT_NE(choice.error().message.find("1 Too many pods"), std::string::npos)
      << choice.error().message;
}

TEST(ChoosePool, TiesGoToTheLowerOnDemandPriceThenTheName) {
  // a.large and b.large both cost 0.5 on spot; b.large is cheaper on-demand.
  std::vector<PlacementNode> nodes = {make({"a-0", "a.large"}), make({"b-0", "b.large"})};
  auto choice = choose_pool(nodes, gang(1));
  ASSERT_TRUE(choice.has_value());
  EXPECT_EQ(choice->name(), "b.large/spot");
  // a.large and c.large are alike in every price: the name decides, whatever the node order.
  for (auto order :
       {std::vector<PlacementNode>{make({"c-0", "c.large"}), make({"a-0", "a.large"})},
        std::vector<PlacementNode>{make({"a-0", "a.large"}), make({"c-0", "c.large"})}}) {
    auto tie = choose_pool(order, gang(1));
    ASSERT_TRUE(tie.has_value());
    EXPECT_EQ(tie->name(), "a.large/spot");
  }
}

TEST(ChoosePool, NeverFitsWhenAWorkerExceedsTheLargestNode) {
  std::vector<PlacementNode> nodes = {make(g5("small-0")), make(g5_12("big-0")),
                                      make(g5_12("big-1", "on-demand"))};
  auto choice = choose_pool(nodes, gang(1, Resources{8000, 32 * kGi, 8, 1}));
  ASSERT_FALSE(choice.has_value());
  EXPECT_EQ(choice.error().kind, NoFitKind::kNever);
  EXPECT_EQ(choice.error().reason, kReasonRequestsExceedNodeCapacity);
  EXPECT_EQ(
      choice.error().message,
      "a worker (cpu: 8, memory: 32Gi, nvidia.com/gpu: 8) exceeds the allocatable of every "
      "eligible node: 0/3 nodes could ever fit it: 1 Insufficient cpu, 1 Insufficient memory, "
      "3 Insufficient nvidia.com/gpu (the most any node has: nvidia.com/gpu: 4).");
}

TEST(ChoosePool, NeverFitsWhenNoNodeHasEverythingAtOnce) {
  std::vector<PlacementNode> nodes = {make({"cpu-0", "c.large", "spot", "64", "16Gi", 0}),
                                      make({"gpu-0", "g5.xlarge", "spot", "4", "16Gi", 1})};
  auto choice = choose_pool(nodes, gang(1, Resources{32000, 8 * kGi, 1, 1}));
  ASSERT_FALSE(choice.has_value());
  EXPECT_EQ(choice.error().kind, NoFitKind::kNever);
  EXPECT_NE(choice.error().message.find("no node has all of them at once"), std::string::npos)
      << choice.error().message;
}

TEST(ChoosePool, BusyNodesMeanNotNowEvenForBigRequests) {
  // The 4-GPU node could take the gang, but it is full right now.
  std::vector<PlacementNode> nodes = {make(g5_12("big-0"), {Resources{1000, kGi, 4, 1}})};
  auto choice = choose_pool(nodes, gang(1, Resources{4000, 16 * kGi, 4, 1}));
  ASSERT_FALSE(choice.has_value());
  EXPECT_EQ(choice.error().kind, NoFitKind::kNotNow);
  EXPECT_EQ(choice.error().message,
            "no node pool has room for 1 worker(s) (cpu: 4, memory: 16Gi, nvidia.com/gpu: 4 each) "
            "now: 0/1 nodes fit a worker: 1 Insufficient nvidia.com/gpu.");
}

TEST(ChoosePool, NoNodesAtAllIsNotNow) {
  auto choice = choose_pool({}, gang(1));
  ASSERT_FALSE(choice.has_value());
  EXPECT_EQ(choice.error().kind, NoFitKind::kNotNow);
  EXPECT_NE(choice.error().message.find("no nodes available"), std::string::npos);
}

TEST(ChoosePool, SpotPreferenceTakesOnlySpotPools) {
  std::vector<PlacementNode> nodes = {make(g5("od-0", "on-demand")), make(g5("od-1", "on-demand"))};
  auto choice = choose_pool(nodes, gang(1, kGpuWorker, Preference::kSpot));
  ASSERT_FALSE(choice.has_value());
  EXPECT_EQ(choice.error().kind, NoFitKind::kNotNow);
  EXPECT_NE(choice.error().message.find("2 node(s) didn't match capacity preference Spot"),
            std::string::npos)
      << choice.error().message;
  nodes.push_back(make(g5("spot-0")));
  auto spot = choose_pool(nodes, gang(1, kGpuWorker, Preference::kSpot));
  ASSERT_TRUE(spot.has_value());
  EXPECT_EQ(spot->name(), "g5.xlarge/spot");
}

TEST(ChoosePool, OnDemandPreferenceIgnoresCheaperSpot) {
  std::vector<PlacementNode> nodes = {make(g5("spot-0")), make(g5("od-0", "on-demand"))};
  auto choice = choose_pool(nodes, gang(1, kGpuWorker, Preference::kOnDemand));
  ASSERT_TRUE(choice.has_value());
  EXPECT_EQ(choice->name(), "g5.xlarge/on-demand");
  EXPECT_DOUBLE_EQ(choice->price_per_worker_hourly_usd, 1.006);
}

TEST(ChoosePool, SpotWithFallbackPrefersAnyFittingSpotPoolOverCheaperOnDemand) {
  // Spot g5.12xlarge costs 0.317 per worker, on-demand cheap.od 0.1: spot still wins
  // while a spot pool fits.
  std::vector<PlacementNode> nodes = {make(g5_12("spot-big")),
                                      make({"od-0", "cheap.od", "on-demand"}),
                                      make({"od-1", "cheap.od", "on-demand"})};
  auto choice = choose_pool(nodes, gang(2));
  ASSERT_TRUE(choice.has_value());
  EXPECT_EQ(choice->name(), "g5.12xlarge/spot");
  // With on-demand asked for, the cheaper on-demand pool.
  auto od = choose_pool(nodes, gang(2, kGpuWorker, Preference::kOnDemand));
  ASSERT_TRUE(od.has_value());
  EXPECT_EQ(od->name(), "cheap.od/on-demand");
  EXPECT_DOUBLE_EQ(od->price_per_worker_hourly_usd, 0.1);
  // When no spot pool fits the gang, on-demand is taken.
  auto five = choose_pool(
      {make(g5("spot-0")), make(g5_12("od-big", "on-demand")), make(g5_12("od-big2", "on-demand"))},
      gang(5));
  ASSERT_TRUE(five.has_value()) << five.error().message;
  EXPECT_EQ(five->name(), "g5.12xlarge/on-demand");
  EXPECT_EQ(five->nodes.size(), 5u);
}

TEST(ChoosePool, AnAvoidedPoolIsTakenOnlyWhenNothingElseFits) {
  // The spot pool just failed to bind the gang: the next placement tries the
  // others first, on-demand included, and comes back to it only as a last resort.
  std::vector<PlacementNode> nodes = {make(g5("spot-0")), make(g5("spot-1")),
                                      make(g5("od-0", "on-demand")), make(g5("od-1", "on-demand"))};
  GangRequest g = gang(2);
  g.avoid_pools = {"g5.xlarge/spot"};
  auto choice = choose_pool(nodes, g);
  ASSERT_TRUE(choice.has_value()) << choice.error().message;
  EXPECT_EQ(choice->name(), "g5.xlarge/on-demand");
  nodes.pop_back();  // on-demand no longer holds two workers
  choice = choose_pool(nodes, g);
  ASSERT_TRUE(choice.has_value()) << choice.error().message;
  EXPECT_EQ(choice->name(), "g5.xlarge/spot");
  g.avoid_pools = {"g5.xlarge/on-demand"};
  EXPECT_EQ(choose_pool(nodes, g)->name(), "g5.xlarge/spot") << "avoiding a pool that does not fit";
}

TEST(ChoosePool, FallenBackJobsTakeOnlyOnDemand) {
  std::vector<PlacementNode> nodes = {make(g5("spot-0")), make(g5("od-0", "on-demand"))};
  GangRequest g = gang(1);
  g.fell_back = true;
  auto choice = choose_pool(nodes, g);
  ASSERT_TRUE(choice.has_value());
  EXPECT_EQ(choice->name(), "g5.xlarge/on-demand");
  auto none = choose_pool({make(g5("spot-0"))}, g);
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().message.find("1 node(s) were spot after the fallback to on-demand"),
            std::string::npos)
      << none.error().message;
}

TEST(ChoosePool, AllowListRestrictsInstanceTypes) {
  std::vector<PlacementNode> nodes = {make(g5("small-0")), make(g5_12("big-0"))};
  GangRequest g = gang(1);
  g.instance_types = {"g5.12xlarge"};
  auto choice = choose_pool(nodes, g);
  ASSERT_TRUE(choice.has_value());
  EXPECT_EQ(choice->name(), "g5.12xlarge/spot");
  g.instance_types = {"p4d.24xlarge"};
  auto none = choose_pool(nodes, g);
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().kind, NoFitKind::kNotNow);
  EXPECT_NE(none.error().message.find("2 node(s) didn't match the instance-type allow-list"),
            std::string::npos)
      << none.error().message;
}

TEST(ChoosePool, SkipsInterruptingCordonedAndNotReadyNodes) {
  NodeSpec interrupted = g5("spot-0");
  interrupted.taints = {"karpenter.sh/disrupted"};
  NodeSpec cordoned = g5("spot-1");
  cordoned.cordoned = true;
  NodeSpec not_ready = g5("spot-2");
  not_ready.ready = false;
  std::vector<PlacementNode> nodes = {make(interrupted), make(cordoned), make(not_ready)};
  auto choice = choose_pool(nodes, gang(1, kGpuWorker, Preference::kSpot));
  ASSERT_FALSE(choice.has_value());
  EXPECT_EQ(choice.error().kind, NoFitKind::kNotNow);  // the pool could fit: wait
  EXPECT_EQ(
      choice.error().message,
      "no node pool has room for 1 worker(s) (cpu: 4, memory: 16Gi, nvidia.com/gpu: 1 each) "
      "now: 0/3 nodes fit a worker: 1 node(s) had interruption taint {karpenter.sh/disrupted}, "
      "1 node(s) were not ready, 1 node(s) were unschedulable.");
  nodes.push_back(make(g5("spot-3")));
  auto ok = choose_pool(nodes, gang(1, kGpuWorker, Preference::kSpot));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->nodes, std::vector<std::string>{"spot-3"});
}

TEST(ChoosePool, FallbackPricedPoolSaysSo) {
  auto choice = choose_pool({make({"x-0", "mystery.large", "spot"})}, gang(1));
  ASSERT_TRUE(choice.has_value());
  EXPECT_EQ(choice->source, PriceSource::kFallback);
  EXPECT_NEAR(choice->price_per_worker_hourly_usd, 1.144236, 1e-12);
}

TEST(ChoosePool, ZeroWorkersIsInvalid) {
  auto choice = choose_pool({make(g5("small-0"))}, gang(0));
  ASSERT_FALSE(choice.has_value());
  EXPECT_EQ(choice.error().kind, NoFitKind::kNever);
}

TEST(PlacementNode, ReadsReadinessCordonAndTaints) {
  NodeSpec s = g5("n");
  s.taints = {"node.kubernetes.io/unreachable"};
  PlacementNode n = make(s);
  EXPECT_FALSE(n.ready);
  EXPECT_FALSE(n.unschedulable);
  s.taints = {"node.kubernetes.io/unschedulable"};
  n = make(s);
  EXPECT_TRUE(n.ready);
  EXPECT_TRUE(n.unschedulable);
  json bare = {{"metadata", {{"name", "bare"}}}, {"status", {{"allocatable", {{"cpu", "1"}}}}}};
  auto b = placement_node(bare, {}, default_price_book());
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->ready);  // no Ready condition reported: not known to be NotReady
  EXPECT_EQ(b->node.capacity_type, CapacityType::kOnDemand);
}

TEST(PlacementNode, TerminalPodsAreRecognised) {
  EXPECT_TRUE(pod_is_terminal({{"status", {{"phase", "Succeeded"}}}}));
  EXPECT_TRUE(pod_is_terminal({{"status", {{"phase", "Failed"}}}}));
  EXPECT_FALSE(pod_is_terminal({{"status", {{"phase", "Running"}}}}));
  EXPECT_FALSE(pod_is_terminal(json::object()));
}

TEST(PlacementNames, PreferenceAndPoolNames) {
  EXPECT_EQ(parse_preference("SpotWithFallback"), Preference::kSpotWithFallback);
  EXPECT_EQ(parse_preference("OnDemand"), Preference::kOnDemand);
  EXPECT_EQ(parse_preference("Spot"), Preference::kSpot);
  EXPECT_EQ(parse_preference("spot"), std::nullopt);
  EXPECT_EQ(pool_name("g5.xlarge", CapacityType::kOnDemand), "g5.xlarge/on-demand");
  EXPECT_EQ(pool_name("", CapacityType::kSpot), "unknown/spot");
}

}  // namespace
}  // namespace frugal::policy
