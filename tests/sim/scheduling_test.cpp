#include "sim/scheduling.h"

#include <gtest/gtest.h>

namespace kubesim {
namespace {

constexpr const char* kPreemption4 =
    " preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.";

json ready_conditions() { return json::array({{{"type", "Ready"}, {"status", "True"}}}); }

json make_node(const std::string& name, const std::string& cpu, const std::string& memory,
               json extra_allocatable = json::object()) {
  json allocatable = {{"cpu", cpu}, {"memory", memory}, {"pods", "110"}};
  allocatable.update(extra_allocatable);
  return {{"metadata", {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
          {"spec", json::object()},
          {"status", {{"allocatable", allocatable}, {"conditions", ready_conditions()}}}};
}

NodeInfo info(const json& node, std::map<std::string, int64_t> requested = {}) {
  auto parsed = node_info(NodeSnapshot{node["metadata"]["name"], node, std::move(requested)});
  EXPECT_TRUE(parsed.has_value());
  return parsed ? *parsed : NodeInfo{};
}

json container(json requests, json limits = nullptr) {
  json resources = json::object();
  if (!requests.is_null()) resources["requests"] = std::move(requests);
  if (!limits.is_null()) resources["limits"] = std::move(limits);
  return {{"name", "main"}, {"image", "busybox"}, {"resources", resources}};
}

json make_pod(json requests, json spec_extra = json::object()) {
  json spec = {{"containers", json::array({container(std::move(requests))})}};
  spec.update(spec_extra);
  return {{"metadata", {{"name", "p"}, {"namespace", "default"}}}, {"spec", spec}};
}

std::string unschedulable(const std::string& reasons, size_t nodes) {
  const std::string n = std::to_string(nodes);
  return "0/" + n + " nodes are available: " + reasons + ". preemption: 0/" + n +
         " nodes are available: " + n + " Preemption is not helpful for scheduling.";
}

// ---- Resource fit ----------------------------------------------------------------------

TEST(SchedulingFit, PicksTheNodeWithRoomForCpuAndMemory) {
  std::vector<NodeInfo> nodes{info(make_node("small", "1", "1Gi")),
                              info(make_node("big", "4", "8Gi"))};
  auto d = schedule(make_pod({{"cpu", "2"}, {"memory", "2Gi"}}), nodes);
  ASSERT_TRUE(d.node.has_value());
  EXPECT_EQ(*d.node, "big");
  EXPECT_TRUE(d.reason.empty());
}

TEST(SchedulingFit, CountsWhatIsAlreadyRequestedOnTheNode) {
  std::vector<NodeInfo> nodes{info(make_node("a", "4", "8Gi"), {{"cpu", 3000}, {"pods", 1000}}),
                              info(make_node("b", "4", "8Gi"), {{"cpu", 1500}, {"pods", 1000}})};
  auto d = schedule(make_pod({{"cpu", "2500m"}}), nodes);
  ASSERT_TRUE(d.node.has_value());
  EXPECT_EQ(*d.node, "b");
}

TEST(SchedulingFit, RefusalCountsEachShortResourceOfEachNode) {
  std::vector<NodeInfo> nodes{info(make_node("cpu-short", "1", "8Gi")),
                              info(make_node("mem-short", "4", "1Gi")),
                              info(make_node("both-short", "1", "1Gi"))};
  auto d = schedule(make_pod({{"cpu", "2"}, {"memory", "2Gi"}}), nodes);
  EXPECT_FALSE(d.node.has_value());
  EXPECT_EQ(d.reason, "Unschedulable");
  EXPECT_EQ(d.message, unschedulable("2 Insufficient cpu, 2 Insufficient memory", 3));
}

TEST(SchedulingFit, ExtendedResourceTheNodeDoesNotListHasNone) {
  std::vector<NodeInfo> nodes{info(make_node("cpu-only", "8", "32Gi")),
                              info(make_node("gpu", "8", "32Gi", {{"nvidia.com/gpu", "1"}}))};
  auto d = schedule(make_pod({{"cpu", "1"}, {"nvidia.com/gpu", "1"}}), nodes);
  ASSERT_TRUE(d.node.has_value());
  EXPECT_EQ(*d.node, "gpu");

  auto two = schedule(make_pod({{"nvidia.com/gpu", "2"}}), nodes);
  EXPECT_FALSE(two.node.has_value());
  EXPECT_EQ(two.message, unschedulable("2 Insufficient nvidia.com/gpu", 2));
}

TEST(SchedulingFit, TooManyPodsWhenThePodSlotsAreFullEvenForAnEmptyRequest) {
  json node = make_node("full", "8", "32Gi", {{"pods", "2"}});
  std::vector<NodeInfo> nodes{info(node, {{"pods", 2000}})};
  auto d = schedule(make_pod(nullptr), nodes);
  EXPECT_FALSE(d.node.has_value());
  EXPECT_EQ(d.message, unschedulable("1 Too many pods", 1));

  std::vector<NodeInfo> one_left{info(node, {{"pods", 1000}})};
  EXPECT_EQ(schedule(make_pod(nullptr), one_left).node, "full");
}

TEST(SchedulingFit, AddPodUsesUpTheNode) {
  NodeInfo node = info(make_node("n", "2", "4Gi"));
  auto req = pod_requests(make_pod({{"cpu", "1500m"}}));
  ASSERT_TRUE(req.has_value());
  std::vector<NodeInfo> nodes{node};
  EXPECT_EQ(schedule(make_pod({{"cpu", "1500m"}}), nodes).node, "n");
  add_pod(nodes[0], *req);
  EXPECT_FALSE(schedule(make_pod({{"cpu", "1500m"}}), nodes).node.has_value());
  remove_pod(nodes[0], *req);
  EXPECT_EQ(schedule(make_pod({{"cpu", "1500m"}}), nodes).node, "n");
}

// ---- Pod requests ----------------------------------------------------------------------

TEST(SchedulingRequests, RequestsDefaultToLimits) {
  json pod = make_pod(nullptr);
  pod["spec"]["containers"][0] =
      container({{"cpu", "250m"}}, {{"cpu", "1"}, {"memory", "1Gi"}, {"nvidia.com/gpu", "1"}});
  auto req = pod_requests(pod);
  ASSERT_TRUE(req.has_value());
  EXPECT_EQ(req->milli.at("cpu"), 250);  // an explicit request wins over the limit
  EXPECT_EQ(req->milli.at("memory"), (int64_t{1} << 30) * 1000);
  EXPECT_EQ(req->milli.at("nvidia.com/gpu"), 1000);
  EXPECT_EQ(req->milli.at("pods"), 1000);
}

TEST(SchedulingRequests, InitContainersCountByTheirMaximumNotTheirSum) {
  json pod = make_pod(nullptr);
  pod["spec"]["containers"] =
      json::array({container({{"cpu", "1"}, {"memory", "1Gi"}}), container({{"cpu", "1"}})});
  pod["spec"]["initContainers"] =
      json::array({container({{"cpu", "3"}}), container({{"cpu", "2"}, {"memory", "512Mi"}})});
  auto req = pod_requests(pod);
  ASSERT_TRUE(req.has_value());
  EXPECT_EQ(req->milli.at("cpu"), 3000);                          // max(1+1, 3, 2)
  EXPECT_EQ(req->milli.at("memory"), (int64_t{1} << 30) * 1000);  // max(1Gi, 512Mi)
}

TEST(SchedulingRequests, SidecarsAddToContainersAndToLaterInitContainers) {
  json pod = make_pod({{"cpu", "1"}});
  json sidecar = container({{"cpu", "500m"}});
  sidecar["restartPolicy"] = "Always";
  pod["spec"]["initContainers"] = json::array({sidecar, container({{"cpu", "2"}})});
  auto req = pod_requests(pod);
  ASSERT_TRUE(req.has_value());
  EXPECT_EQ(req->milli.at("cpu"), 2500);  // max(1 + 0.5, 0.5 + 2)
}

TEST(SchedulingRequests, OverheadIsAdded) {
  json pod = make_pod({{"cpu", "1"}}, {{"overhead", {{"cpu", "250m"}, {"memory", "120Mi"}}}});
  auto req = pod_requests(pod);
  ASSERT_TRUE(req.has_value());
  EXPECT_EQ(req->milli.at("cpu"), 1250);
  EXPECT_EQ(req->milli.at("memory"), int64_t{120} * 1024 * 1024 * 1000);
}

TEST(SchedulingRequests, BadQuantityIsAnErrorNamingTheField) {
  json pod = make_pod({{"cpu", "lots"}});
  auto req = pod_requests(pod);
  ASSERT_FALSE(req.has_value());
  EXPECT_EQ(req.error().code, 422);
  EXPECT_NE(req.error().message.find("spec.containers[0].resources.requests[cpu]"),
            std::string::npos)
      << req.error().message;

  std::vector<NodeInfo> nodes{info(make_node("n", "1", "1Gi"))};
  auto d = schedule(pod, nodes);
  EXPECT_FALSE(d.node.has_value());
  EXPECT_EQ(d.reason, "SchedulerError");
}

TEST(SchedulingRequests, BadAllocatableIsAnErrorNamingTheField) {
  json node = make_node("n", "many", "1Gi");
  auto parsed = node_info(NodeSnapshot{"n", node, {}});
  ASSERT_FALSE(parsed.has_value());
  EXPECT_NE(parsed.error().message.find("status.allocatable[cpu]"), std::string::npos);
}

// ---- Node selector and affinity ----------------------------------------------------------

json labelled(const std::string& name, json labels) {
  json n = make_node(name, "4", "8Gi");
  n["metadata"]["labels"].update(labels);
  return n;
}

std::vector<NodeInfo> zoned_nodes() {
  return {info(labelled("a", {{"zone", "a"}, {"gen", "3"}, {"spot", "true"}})),
          info(labelled("b", {{"zone", "b"}, {"gen", "5"}})),
          info(labelled("c", {{"zone", "c"}, {"gen", "x"}}))};
}

json required_affinity(json terms) {
  return {
      {"affinity",
       {{"nodeAffinity",
         {{"requiredDuringSchedulingIgnoredDuringExecution", {{"nodeSelectorTerms", terms}}}}}}}};
}

json expr(const std::string& key, const std::string& op, json values = json::array()) {
  json e = {{"key", key}, {"operator", op}};
  if (!values.empty()) e["values"] = values;
  return e;
}

// The names of the nodes the pod may go to, by scheduling it on each alone.
std::vector<std::string> fitting(const json& pod, const std::vector<NodeInfo>& nodes) {
  std::vector<std::string> out;
  for (const auto& n : nodes) {
    auto d = schedule(pod, {n});
    if (d.node) out.push_back(*d.node);
  }
  return out;
}

using Names = std::vector<std::string>;

TEST(SchedulingAffinity, NodeSelectorNeedsEveryLabel) {
  auto nodes = zoned_nodes();
  EXPECT_EQ(fitting(make_pod(nullptr, {{"nodeSelector", {{"zone", "a"}}}}), nodes), Names{"a"});
  EXPECT_EQ(fitting(make_pod(nullptr, {{"nodeSelector", {{"zone", "a"}, {"gen", "5"}}}}), nodes),
            Names{});
  auto d = schedule(make_pod(nullptr, {{"nodeSelector", {{"zone", "z"}}}}), nodes);
  EXPECT_EQ(d.message, unschedulable("3 node(s) didn't match Pod's node affinity/selector", 3));
}

TEST(SchedulingAffinity, EachOperator) {
  auto nodes = zoned_nodes();
  auto with = [&](json e) {
    return fitting(make_pod(nullptr, required_affinity(
                                         json::array({{{"matchExpressions", json::array({e})}}}))),
                   nodes);
  };
  EXPECT_EQ(with(expr("zone", "In", {"a", "b"})), (Names{"a", "b"}));
  EXPECT_EQ(with(expr("zone", "NotIn", {"a", "b"})), Names{"c"});
  EXPECT_EQ(with(expr("spot", "NotIn", {"false"})), (Names{"a", "b", "c"}));  // absent label passes
  EXPECT_EQ(with(expr("spot", "Exists")), Names{"a"});
  EXPECT_EQ(with(expr("spot", "DoesNotExist")), (Names{"b", "c"}));
  // Gt/Lt compare the label as an integer; a non-integer label never matches.
  EXPECT_EQ(with(expr("gen", "Gt", {"3"})), Names{"b"});
  EXPECT_EQ(with(expr("gen", "Lt", {"5"})), Names{"a"});
  EXPECT_EQ(with(expr("gen", "Gt", {"-1"})), (Names{"a", "b"}));
  // Malformed requirements drop their term, which then matches nothing.
  EXPECT_EQ(with(expr("gen", "Gt", {"three"})), Names{});
  EXPECT_EQ(with(expr("zone", "In")), Names{});
  EXPECT_EQ(with(expr("zone", "Exists", {"a"})), Names{});
  EXPECT_EQ(with(expr("zone", "Like", {"a"})), Names{});
}

TEST(SchedulingAffinity, TermsAreOredAndExpressionsAnded) {
  auto nodes = zoned_nodes();
  json terms =
      json::array({{{"matchExpressions",
                     json::array({expr("zone", "In", {"a", "b"}), expr("gen", "Gt", {"4"})})}},
                   {{"matchExpressions", json::array({expr("zone", "In", {"c"})})}}});
  EXPECT_EQ(fitting(make_pod(nullptr, required_affinity(terms)), nodes), (Names{"b", "c"}));
  // An empty term selects nothing, and so do no terms at all.
  EXPECT_EQ(fitting(make_pod(nullptr, required_affinity(json::array({json::object()}))), nodes),
            Names{});
  EXPECT_EQ(fitting(make_pod(nullptr, required_affinity(json::array())), nodes), Names{});
}

TEST(SchedulingAffinity, MatchFieldsOnMetadataName) {
  auto nodes = zoned_nodes();
  auto with = [&](json f) {
    return fitting(
        make_pod(nullptr, required_affinity(json::array({{{"matchFields", json::array({f})}}}))),
        nodes);
  };
  EXPECT_EQ(with(expr("metadata.name", "In", {"b"})), Names{"b"});
  EXPECT_EQ(with(expr("metadata.name", "NotIn", {"b"})), (Names{"a", "c"}));
  // Field selectors take exactly one value and only In/NotIn.
  EXPECT_EQ(with(expr("metadata.name", "In", {"a", "b"})), Names{});
  EXPECT_EQ(with(expr("metadata.name", "Exists")), Names{});
}

TEST(SchedulingAffinity, SelectorAndRequiredAffinityMustBothMatch) {
  auto nodes = zoned_nodes();
  json spec = required_affinity(
      json::array({{{"matchExpressions", json::array({expr("zone", "In", {"a", "b"})})}}}));
  spec["nodeSelector"] = {{"zone", "b"}};
  EXPECT_EQ(fitting(make_pod(nullptr, spec), nodes), Names{"b"});
}

TEST(SchedulingAffinity, PreferredTermWithTheHeavierWeightWins) {
  auto nodes = zoned_nodes();
  // "a" is busier, so LeastAllocated alone would pick another node.
  nodes[0] = info(labelled("a", {{"zone", "a"}}), {{"cpu", 3000}, {"memory", 1000}});
  json preferred = json::array(
      {{{"weight", 10},
        {"preference", {{"matchExpressions", json::array({expr("zone", "In", {"b"})})}}}},
       {{"weight", 50},
        {"preference", {{"matchExpressions", json::array({expr("zone", "In", {"a"})})}}}},
       {{"weight", 45},
        {"preference", {{"matchExpressions", json::array({expr("zone", "In", {"c"})})}}}}});
  json spec = {
      {"affinity",
       {{"nodeAffinity", {{"preferredDuringSchedulingIgnoredDuringExecution", preferred}}}}}};
  EXPECT_EQ(schedule(make_pod({{"cpu", "500m"}}, spec), nodes).node, "a");
  // Weights of several matching terms add up: b gets 10 + 45 > 50.
  preferred[2]["preference"]["matchExpressions"][0] = expr("zone", "In", {"b"});
  spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = preferred;
  EXPECT_EQ(schedule(make_pod({{"cpu", "500m"}}, spec), nodes).node, "b");
}

// ---- Taints and tolerations ----------------------------------------------------------------

json tainted(const std::string& name, json taints) {
  json n = make_node(name, "4", "8Gi");
  n["spec"]["taints"] = std::move(taints);
  return n;
}

json taint(const std::string& key, const std::string& value, const std::string& effect) {
  return {{"key", key}, {"value", value}, {"effect", effect}};
}

TEST(SchedulingTaints, NoScheduleAndNoExecuteMustBeTolerated) {
  std::vector<NodeInfo> nodes{
      info(tainted("gpu", json::array({taint("gpu", "true", "NoSchedule")}))),
      info(tainted("drain", json::array({taint("drain", "", "NoExecute")})))};
  auto d = schedule(make_pod(nullptr), nodes);
  EXPECT_FALSE(d.node.has_value());
  EXPECT_EQ(d.message, unschedulable("1 node(s) had untolerated taint {drain: }, "
                                     "1 node(s) had untolerated taint {gpu: true}",
                                     2));
}

TEST(SchedulingTaints, OnlyTheFirstUntoleratedTaintIsReported) {
  std::vector<NodeInfo> nodes{info(
      tainted("n", json::array({taint("soft", "", "PreferNoSchedule"),
                                taint("a", "1", "NoSchedule"), taint("b", "2", "NoSchedule")})))};
  EXPECT_EQ(schedule(make_pod(nullptr), nodes).message,
            unschedulable("1 node(s) had untolerated taint {a: 1}", 1));
}

TEST(SchedulingTaints, EachTolerationForm) {
  const Taint gpu{"gpu", "true", "NoSchedule"};
  auto tol = [](json t) { return parse_tolerations(json::array({t}))[0]; };
  // Equal (also the default operator) compares the value.
  EXPECT_TRUE(tolerates(
      tol({{"key", "gpu"}, {"operator", "Equal"}, {"value", "true"}, {"effect", "NoSchedule"}}),
      gpu));
  EXPECT_TRUE(tolerates(tol({{"key", "gpu"}, {"value", "true"}}), gpu));
  EXPECT_FALSE(tolerates(tol({{"key", "gpu"}, {"value", "false"}}), gpu));
  EXPECT_FALSE(tolerates(tol({{"key", "gpu"}}), gpu));  // Equal with an empty value
  // Exists ignores the value; an empty key with Exists tolerates every taint.
  EXPECT_TRUE(tolerates(tol({{"key", "gpu"}, {"operator", "Exists"}}), gpu));
  EXPECT_FALSE(tolerates(tol({{"key", "other"}, {"operator", "Exists"}}), gpu));
  EXPECT_TRUE(tolerates(tol({{"operator", "Exists"}}), gpu));
  // An empty effect matches every effect; a different effect none.
  EXPECT_TRUE(tolerates(tol({{"key", "gpu"}, {"operator", "Exists"}, {"effect", ""}}), gpu));
  EXPECT_FALSE(
      tolerates(tol({{"key", "gpu"}, {"operator", "Exists"}, {"effect", "NoExecute"}}), gpu));
  EXPECT_FALSE(tolerates(tol({{"operator", "Exists"}, {"effect", "PreferNoSchedule"}}), gpu));
  EXPECT_FALSE(tolerates(tol({{"key", "gpu"}, {"operator", "Bogus"}}), gpu));
  // The JSON overload reads pod.spec.tolerations as is.
  EXPECT_TRUE(tolerates(json::array({{{"key", "x"}, {"operator", "Exists"}},
                                     {{"key", "gpu"}, {"operator", "Exists"}}}),
                        gpu));
  EXPECT_FALSE(tolerates(json(nullptr), gpu));
}

TEST(SchedulingTaints, ToleratedTaintLetsThePodIn) {
  std::vector<NodeInfo> nodes{info(tainted(
      "gpu", json::array({taint("gpu", "true", "NoSchedule"), taint("drain", "", "NoExecute")})))};
  json tolerations = json::array({{{"key", "gpu"}, {"value", "true"}, {"effect", "NoSchedule"}},
                                  {{"key", "drain"}, {"operator", "Exists"}}});
  EXPECT_EQ(schedule(make_pod(nullptr, {{"tolerations", tolerations}}), nodes).node, "gpu");
}

TEST(SchedulingTaints, PreferNoScheduleOnlyRanksLower) {
  std::vector<NodeInfo> nodes{
      info(tainted("a-soft", json::array({taint("spot", "", "PreferNoSchedule")}))),
      info(make_node("b-busy", "4", "8Gi"), {{"cpu", 3000}})};
  EXPECT_EQ(schedule(make_pod(nullptr), nodes).node, "b-busy");
  // Tolerating it puts the two back on equal terms; the emptier node wins.
  json tolerations =
      json::array({{{"key", "spot"}, {"operator", "Exists"}, {"effect", "PreferNoSchedule"}}});
  EXPECT_EQ(schedule(make_pod(nullptr, {{"tolerations", tolerations}}), nodes).node, "a-soft");
  // Alone, a PreferNoSchedule node still takes the pod.
  EXPECT_EQ(schedule(make_pod(nullptr), {nodes[0]}).node, "a-soft");
}

// ---- Unschedulable and NotReady nodes ------------------------------------------------------

TEST(SchedulingNodeState, CordonedNodeIsRefusedUnlessTolerated) {
  json cordoned = make_node("cordoned", "4", "8Gi");
  cordoned["spec"]["unschedulable"] = true;
  std::vector<NodeInfo> nodes{info(cordoned)};
  EXPECT_EQ(schedule(make_pod(nullptr), nodes).message,
            unschedulable("1 node(s) were unschedulable", 1));
  json tolerations = json::array({{{"key", "node.kubernetes.io/unschedulable"},
                                   {"operator", "Exists"},
                                   {"effect", "NoSchedule"}}});
  EXPECT_EQ(schedule(make_pod(nullptr, {{"tolerations", tolerations}}), nodes).node, "cordoned");
}

TEST(SchedulingNodeState, NotReadyNodeCarriesTheNotReadyTaint) {
  json not_ready = make_node("nr", "4", "8Gi");
  not_ready["status"]["conditions"][0]["status"] = "False";
  json unknown = make_node("unk", "4", "8Gi");
  unknown["status"]["conditions"][0]["status"] = "Unknown";
  json no_conditions = make_node("new", "4", "8Gi");
  no_conditions["status"].erase("conditions");
  std::vector<NodeInfo> nodes{info(not_ready), info(unknown), info(no_conditions)};
  EXPECT_EQ(schedule(make_pod(nullptr), nodes).message,
            unschedulable("1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
                          "2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }",
                          3));
  json tolerations =
      json::array({{{"key", "node.kubernetes.io/not-ready"}, {"operator", "Exists"}}});
  EXPECT_EQ(schedule(make_pod(nullptr, {{"tolerations", tolerations}}), {nodes[0]}).node, "nr");
}

TEST(SchedulingNodeState, ExplicitNotReadyTaintIsNotDoubled) {
  json n = tainted("nr", json::array({taint("node.kubernetes.io/not-ready", "", "NoSchedule")}));
  n["status"]["conditions"][0]["status"] = "False";
  EXPECT_EQ(info(n).taints.size(), 1u);
}

TEST(SchedulingNodeState, NullAndMistypedFieldsReadAsAbsent) {
  json n = make_node("n", "4", "8Gi");
  n["spec"]["taints"] = json::array({{{"key", "k"}, {"value", nullptr}, {"effect", "NoSchedule"}}});
  std::vector<NodeInfo> nodes{info(n)};
  json tolerations = json::array({{{"key", "k"}, {"operator", nullptr}, {"value", nullptr}}});
  EXPECT_EQ(schedule(make_pod(nullptr, {{"tolerations", tolerations}}), nodes).node, "n");
  // "values" must be a list; a bare string drops the term.
  json e = expr("kubernetes.io/hostname", "In");
  e["values"] = "n";
  json spec = required_affinity(json::array({{{"matchExpressions", json::array({e})}}}));
  EXPECT_FALSE(schedule(make_pod(nullptr, spec), nodes).node.has_value());
}

// ---- Ranking --------------------------------------------------------------------------------

TEST(SchedulingRank, LeastAllocatedSpreadsPods) {
  std::vector<NodeInfo> nodes{info(make_node("a", "4", "8Gi")), info(make_node("b", "4", "8Gi")),
                              info(make_node("c", "4", "8Gi"))};
  json pod = make_pod({{"cpu", "1"}, {"memory", "1Gi"}});
  auto req = pod_requests(pod);
  ASSERT_TRUE(req.has_value());
  std::map<std::string, int> placed;
  for (int i = 0; i < 6; ++i) {
    auto d = schedule(pod, nodes);
    ASSERT_TRUE(d.node.has_value());
    ++placed[*d.node];
    for (auto& n : nodes) {
      if (n.name == *d.node) add_pod(n, *req);
    }
  }
  EXPECT_EQ(placed, (std::map<std::string, int>{{"a", 2}, {"b", 2}, {"c", 2}}));
}

TEST(SchedulingRank, BestEffortPodsSpreadByTheDefaultScoringRequests) {
  std::vector<NodeInfo> nodes{info(make_node("a", "4", "8Gi")), info(make_node("b", "4", "8Gi"))};
  json pod = make_pod(nullptr);
  auto req = pod_requests(pod);
  ASSERT_TRUE(req.has_value());
  EXPECT_EQ(req->milli.count("cpu"), 0u);  // nothing requested for fitting...
  EXPECT_EQ(req->scoring_cpu_milli, 100);  // ...but 100m counted for ranking
  EXPECT_EQ(schedule(pod, nodes).node, "a");
  add_pod(nodes[0], *req);
  EXPECT_EQ(schedule(pod, nodes).node, "b");
}

TEST(SchedulingRank, TiesGoToTheSmallestNameWhateverTheOrder) {
  std::vector<NodeInfo> nodes{info(make_node("node-c", "4", "8Gi")),
                              info(make_node("node-a", "4", "8Gi")),
                              info(make_node("node-b", "4", "8Gi"))};
  EXPECT_EQ(schedule(make_pod({{"cpu", "1"}}), nodes).node, "node-a");
  std::reverse(nodes.begin(), nodes.end());
  EXPECT_EQ(schedule(make_pod({{"cpu", "1"}}), nodes).node, "node-a");
}

// ---- The failure message ------------------------------------------------------------------

TEST(SchedulingMessage, MixedCaseMatchesTheRealSchedulerWordForWord) {
  json cordoned = make_node("cordoned", "8", "32Gi", {{"nvidia.com/gpu", "4"}});
  cordoned["spec"]["unschedulable"] = true;
  cordoned["metadata"]["labels"]["pool"] = "gpu";
  json cpu1 = labelled("cpu-1", {{"pool", "gpu"}});
  json cpu2 = labelled("cpu-2", {{"pool", "gpu"}});
  json other1 = labelled("other-1", {{"pool", "general"}});
  json other2 = labelled("other-2", {{"pool", "general"}});
  std::vector<NodeInfo> nodes{info(cordoned), info(cpu1), info(cpu2), info(other1), info(other2)};
  auto d =
      schedule(make_pod({{"nvidia.com/gpu", "1"}}, {{"nodeSelector", {{"pool", "gpu"}}}}), nodes);
  EXPECT_EQ(d.reason, "Unschedulable");
  EXPECT_EQ(d.message,
            "0/5 nodes are available: 1 node(s) were unschedulable, 2 Insufficient nvidia.com/gpu, "
            "2 node(s) didn't match Pod's node affinity/selector. preemption: 0/5 nodes are "
            "available: 5 Preemption is not helpful for scheduling.");
}

TEST(SchedulingMessage, EachNodeCountsOnlyUnderItsFirstFailingFilter) {
  json cordoned_small = make_node("cordoned-small", "1", "1Gi");
  cordoned_small["spec"]["unschedulable"] = true;
  json tainted_small = tainted("tainted-small", json::array({taint("t", "v", "NoSchedule")}));
  tainted_small["status"]["allocatable"]["cpu"] = "1";
  json unlabelled_small = make_node("unlabelled-small", "1", "1Gi");
  json small = labelled("small", {{"pool", "x"}});
  small["status"]["allocatable"]["cpu"] = "1";
  std::vector<NodeInfo> nodes{info(cordoned_small), info(tainted_small), info(unlabelled_small),
                              info(small)};
  json pod = make_pod({{"cpu", "2"}}, {{"nodeSelector", {{"pool", "x"}}}});
  EXPECT_EQ(schedule(pod, nodes).message,
            std::string("0/4 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's "
                        "node affinity/selector, 1 node(s) had untolerated taint {t: v}, 1 node(s) "
                        "were unschedulable.") +
                kPreemption4);
}

TEST(SchedulingMessage, EntriesSortAsStringsCountsIncluded) {
  // Go's sort.Strings over "<count> <reason>": "10 node(s)..." comes before
  // "2 Insufficient cpu", though by reason alone it would come after.
  std::vector<NodeInfo> nodes;
  for (int i = 0; i < 2; ++i) {
    nodes.push_back(info(labelled("small-" + std::to_string(i), {{"pool", "x"}})));
    nodes.back().resources["cpu"].allocatable = 1000;
  }
  for (int i = 0; i < 10; ++i)
    nodes.push_back(info(make_node("other-" + std::to_string(i), "8", "8Gi")));
  json pod = make_pod({{"cpu", "2"}}, {{"nodeSelector", {{"pool", "x"}}}});
  EXPECT_EQ(schedule(pod, nodes).message,
            unschedulable(
                "10 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu", 12));
}

TEST(SchedulingMessage, NoNodesAtAll) {
  auto d = schedule(make_pod({{"cpu", "1"}}), {});
  EXPECT_FALSE(d.node.has_value());
  EXPECT_EQ(d.reason, "Unschedulable");
  EXPECT_EQ(d.message, "no nodes available to schedule pods");
}

}  // namespace
}  // namespace kubesim
