// Pins the cluster file: what it accepts, what it rejects and how the error
// reads, the Node objects it yields per cloud, and the determinism and rate
// of the interruption times it schedules.
#include "sim/cluster_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

namespace kubesim {
namespace {

constexpr const char* kSource = "test.yaml";

ClusterConfig parse_ok(const std::string& text) {
  auto c = parse_cluster_config(text, kSource);
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error());
  return c ? *c : ClusterConfig{};
}

std::string parse_error(const std::string& text) {
  auto c = parse_cluster_config(text, kSource);
  EXPECT_FALSE(c.has_value()) << "parsed:\n" << text;
  return c ? "" : c.error();
}

// A valid pool to which a test adds or changes one thing.
std::string pool_yaml(const std::string& extra = "", const std::string& name = "cpu") {
  return "  - name: " + name +
         "\n"
         "    instanceType: m6i.xlarge\n"
         "    count: 2\n"
         "    allocatable: {cpu: \"4\", memory: 16Gi}\n" +
         extra;
}

std::string cluster_yaml(const std::string& pools) { return "nodePools:\n" + pools; }

std::filesystem::path repo_root() {
  // tests/sim/cluster_config_test.cpp -> repo root, whether __FILE__ is absolute or relative.
  auto root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  return root.empty() ? std::filesystem::path(".") : root;
}

const auto kEpoch = std::chrono::system_clock::time_point{} + std::chrono::seconds(1767225600);

// ---- Parsing ------------------------------------------------------------------

TEST(ClusterConfigParse, ReadsEveryField) {
  auto c = parse_ok(R"(
seed: 42
region: us-west-2
nodePools:
  - name: gpu-spot
    cloud: eks
    region: eu-west-1
    instanceType: g5.2xlarge
    capacityType: spot
    count: 4
    zones: [eu-west-1a, eu-west-1b]
    allocatable: {cpu: "8", memory: 32Gi, nvidia.com/gpu: 1, pods: "58", ephemeral-storage: 100Gi}
    labels: {team: ml, empty: }
    taints:
      - {key: nvidia.com/gpu, value: present, effect: NoSchedule}
      - {key: dedicated, effect: NoExecute}
    interruptions:
      ratePerNodeHour: 0.25
      at: [{node: 1, afterSeconds: 600}, {node: 3, afterSeconds: 30.5}]
      noticeSeconds: 90
    replacement: {delaySeconds: 45}
)");
  EXPECT_EQ(c.seed, 42u);
  EXPECT_EQ(c.region, "us-west-2");
  ASSERT_EQ(c.pools.size(), 1u);
  const NodePool& p = c.pools[0];
  EXPECT_EQ(p.name, "gpu-spot");
  EXPECT_EQ(p.cloud, Cloud::Eks);
  EXPECT_EQ(p.region, "eu-west-1");
  EXPECT_EQ(p.instance_type, "g5.2xlarge");
  EXPECT_EQ(p.capacity_type, CapacityType::Spot);
  EXPECT_EQ(p.count, 4);
  EXPECT_EQ(p.zones, (std::vector<std::string>{"eu-west-1a", "eu-west-1b"}));
  EXPECT_EQ(p.allocatable, (std::map<std::string, std::string>{{"cpu", "8"},
                                                               {"memory", "32Gi"},
                                                               {"nvidia.com/gpu", "1"},
                                                               {"pods", "58"},
                                                               {"ephemeral-storage", "100Gi"}}));
  EXPECT_EQ(p.labels, (std::map<std::string, std::string>{{"team", "ml"}, {"empty", ""}}));
  ASSERT_EQ(p.taints.size(), 2u);
  EXPECT_EQ(p.taints[0].key, "nvidia.com/gpu");
  EXPECT_EQ(p.taints[0].value, "present");
  EXPECT_EQ(p.taints[0].effect, "NoSchedule");
  EXPECT_EQ(p.taints[1].key, "dedicated");
  EXPECT_EQ(p.taints[1].value, "");
  EXPECT_EQ(p.taints[1].effect, "NoExecute");
  EXPECT_DOUBLE_EQ(p.interruptions.rate_per_node_hour, 0.25);
  ASSERT_EQ(p.interruptions.at.size(), 2u);
  EXPECT_EQ(p.interruptions.at[0].node_index, 1);
  EXPECT_DOUBLE_EQ(p.interruptions.at[0].after_seconds, 600);
  EXPECT_EQ(p.interruptions.at[1].node_index, 3);
  EXPECT_DOUBLE_EQ(p.interruptions.at[1].after_seconds, 30.5);
  EXPECT_DOUBLE_EQ(p.interruptions.notice_seconds, 90);
  ASSERT_TRUE(p.replacement_delay_seconds.has_value());
  EXPECT_DOUBLE_EQ(*p.replacement_delay_seconds, 45);
}

TEST(ClusterConfigParse, FillsDefaultsForOmittedFields) {
  auto c = parse_ok(cluster_yaml(pool_yaml()));
  EXPECT_EQ(c.seed, 1u);
  EXPECT_EQ(c.region, "us-east-1");
  const NodePool& p = c.pools.at(0);
  EXPECT_EQ(p.cloud, Cloud::Karpenter);
  EXPECT_EQ(p.capacity_type, CapacityType::OnDemand);
  EXPECT_EQ(p.region, "us-east-1");
  EXPECT_EQ(p.zones, (std::vector<std::string>{"us-east-1a"}));
  EXPECT_EQ(p.allocatable.at("pods"), "110");
  EXPECT_DOUBLE_EQ(p.interruptions.rate_per_node_hour, 0);
  EXPECT_TRUE(p.interruptions.at.empty());
  EXPECT_DOUBLE_EQ(p.interruptions.notice_seconds, 120);
  EXPECT_FALSE(p.replacement_delay_seconds.has_value());
  EXPECT_TRUE(p.labels.empty());
  EXPECT_TRUE(p.taints.empty());
}

TEST(ClusterConfigParse, DefaultZoneAndNoticeFollowTheCloud) {
  auto c = parse_ok("region: r1\nnodePools:\n" + pool_yaml("    cloud: gke\n", "g") +
                    pool_yaml("    cloud: aks\n", "a") + pool_yaml("    cloud: eks\n", "e"));
  EXPECT_EQ(c.pools[0].zones, (std::vector<std::string>{"r1-a"}));
  EXPECT_DOUBLE_EQ(c.pools[0].interruptions.notice_seconds, 30);
  EXPECT_EQ(c.pools[1].zones, (std::vector<std::string>{"r1-1"}));
  EXPECT_DOUBLE_EQ(c.pools[1].interruptions.notice_seconds, 30);
  EXPECT_EQ(c.pools[2].zones, (std::vector<std::string>{"r1a"}));
  EXPECT_DOUBLE_EQ(c.pools[2].interruptions.notice_seconds, 120);
}

TEST(ClusterConfigParse, AcceptsZeroCountPools) {
  auto c = parse_ok(cluster_yaml(
      pool_yaml("", "empty").replace(pool_yaml("", "empty").find("count: 2"), 8, "count: 0")));
  EXPECT_EQ(c.pools.at(0).count, 0);
}

TEST(ClusterConfigParse, KeepsQuantityTextVerbatim) {
  auto c = parse_ok(
      "nodePools:\n  - {name: p, instanceType: t, count: 1, allocatable: {cpu: 3920m, memory: "
      "\"15.5Gi\", example.com/fpga: 2e0}}\n");
  EXPECT_EQ(c.pools.at(0).allocatable.at("cpu"), "3920m");
  EXPECT_EQ(c.pools.at(0).allocatable.at("memory"), "15.5Gi");
  EXPECT_EQ(c.pools.at(0).allocatable.at("example.com/fpga"), "2e0");
}

// ---- Validation: each error names file, line, path and the problem ----------------

TEST(ClusterConfigErrors, UnknownTopLevelKeyNamesItAndTheAllowedOnes) {
  auto e = parse_error("seed: 1\ncolour: blue\n" + cluster_yaml(pool_yaml()));
  EXPECT_EQ(e,
            "test.yaml:2:1: colour: unknown field \"colour\" (allowed: seed, region, nodePools)");
}

TEST(ClusterConfigErrors, UnknownPoolKeyNamesPathAndAllowedKeys) {
  auto e = parse_error(cluster_yaml(pool_yaml("    instancetype: x\n")));
  EXPECT_NE(e.find("test.yaml:6:5: nodePools[0].instancetype: unknown field \"instancetype\" "
                   "(allowed: name, cloud, region, instanceType,"),
            std::string::npos)
      << e;
}

TEST(ClusterConfigErrors, UnknownNestedKeysAreRejectedEverywhere) {
  auto spot = [](const std::string& extra) {
    return cluster_yaml(pool_yaml("    capacityType: spot\n" + extra));
  };
  EXPECT_NE(parse_error(spot("    interruptions: {rate: 1}\n"))
                .find("nodePools[0].interruptions.rate: unknown field \"rate\" (allowed: "
                      "ratePerNodeHour, at, noticeSeconds)"),
            std::string::npos);
  EXPECT_NE(parse_error(spot("    interruptions: {at: [{node: 0, after: 5}]}\n"))
                .find("nodePools[0].interruptions.at[0].after: unknown field \"after\" (allowed: "
                      "node, afterSeconds)"),
            std::string::npos);
  EXPECT_NE(parse_error(spot("    replacement: {delay: 5}\n"))
                .find("nodePools[0].replacement.delay: unknown field"),
            std::string::npos);
  EXPECT_NE(parse_error(spot("    taints: [{key: a, effect: NoSchedule, operator: Exists}]\n"))
                .find("nodePools[0].taints[0].operator: unknown field \"operator\" (allowed: key, "
                      "value, effect)"),
            std::string::npos);
}

TEST(ClusterConfigErrors, MissingRequiredPoolFields) {
  auto e = parse_error("nodePools:\n  - cloud: eks\n");
  EXPECT_NE(e.find("test.yaml:2:5: nodePools[0].name: required"), std::string::npos) << e;
  EXPECT_NE(e.find("nodePools[0].instanceType: required"), std::string::npos) << e;
  EXPECT_NE(e.find("nodePools[0].count: required"), std::string::npos) << e;
  EXPECT_NE(e.find("nodePools[0].allocatable: required"), std::string::npos) << e;
}

TEST(ClusterConfigErrors, MissingOrEmptyNodePools) {
  EXPECT_EQ(parse_error("seed: 3\n"),
            "test.yaml:1:1: nodePools: required: the cluster's node pools");
  EXPECT_NE(parse_error("nodePools: []\n").find("nodePools: must be a non-empty list"),
            std::string::npos);
  EXPECT_NE(parse_error("").find("test.yaml: (top level): must be a mapping, got nothing"),
            std::string::npos);
}

TEST(ClusterConfigErrors, DuplicatePoolNamesPointToTheFirst) {
  auto e =
      parse_error(cluster_yaml(pool_yaml("", "gpu") + pool_yaml("", "cpu") + pool_yaml("", "gpu")));
  EXPECT_NE(e.find("nodePools[2].name: duplicate pool name \"gpu\" (also nodePools[0])"),
            std::string::npos)
      << e;
}

TEST(ClusterConfigErrors, PoolNamesMustBeDnsLabelsShortEnoughForNodeNames) {
  EXPECT_NE(parse_error(cluster_yaml(pool_yaml("", "GPU_pool")))
                .find("nodePools[0].name: \"GPU_pool\": a lowercase RFC 1123 label must"),
            std::string::npos);
  EXPECT_NE(parse_error(cluster_yaml(pool_yaml("", "-gpu"))).find("nodePools[0].name"),
            std::string::npos);
  EXPECT_NE(parse_error(cluster_yaml(pool_yaml("", std::string(53, 'a'))))
                .find("nodePools[0].name: must be at most 52 characters"),
            std::string::npos);
  parse_ok(cluster_yaml(pool_yaml("", std::string(52, 'a'))));
}

TEST(ClusterConfigErrors, CountMustBeANonNegativeInteger) {
  auto with_count = [](const std::string& count) {
    std::string y = cluster_yaml(pool_yaml());
    return y.replace(y.find("count: 2"), 8, "count: " + count);
  };
  EXPECT_NE(parse_error(with_count("-1"))
                .find("test.yaml:4:12: nodePools[0].count: must not be "
                      "negative, got -1"),
            std::string::npos);
  EXPECT_NE(
      parse_error(with_count("2.5")).find("nodePools[0].count: must be an integer, got \"2.5\""),
      std::string::npos);
  EXPECT_NE(parse_error(with_count("many")).find("must be an integer, got \"many\""),
            std::string::npos);
  EXPECT_NE(parse_error(with_count("1000001")).find("nodePools[0].count: must be at most 100000"),
            std::string::npos);
}

TEST(ClusterConfigErrors, BadQuantityNamesTheResourcePath) {
  auto e = parse_error(cluster_yaml(pool_yaml("", "a") + pool_yaml("", "b") +
                                    "  - name: c\n    instanceType: t\n    count: 1\n"
                                    "    allocatable: {cpu: \"4\", memory: 32GB}\n"));
  EXPECT_NE(e.find("test.yaml:13:37: nodePools[2].allocatable.memory: quantity \"32GB\": "
                   "quantities must match the regular expression"),
            std::string::npos)
      << e;
}

TEST(ClusterConfigErrors, AllocatableRulesForResourceNamesAndUnits) {
  auto alloc = [](const std::string& a) {
    return cluster_yaml("  - {name: p, instanceType: t, count: 1, allocatable: " + a + "}\n");
  };
  EXPECT_NE(parse_error(alloc("{cpu: 1, memory: 1Gi, gpu: 1}"))
                .find("nodePools[0].allocatable.gpu: unknown resource \"gpu\""),
            std::string::npos);
  EXPECT_NE(parse_error(alloc("{cpu: 1, memory: 1Gi, nvidia.com/gpu: 500m}"))
                .find("nodePools[0].allocatable[nvidia.com/gpu]: must be a whole number, got 500m"),
            std::string::npos);
  EXPECT_NE(parse_error(alloc("{cpu: 1, memory: 1Gi, pods: 1.5}"))
                .find("nodePools[0].allocatable.pods: must be a whole number"),
            std::string::npos);
  EXPECT_NE(parse_error(alloc("{cpu: -1, memory: 1Gi}"))
                .find("nodePools[0].allocatable.cpu: must not be negative, got -1"),
            std::string::npos);
  EXPECT_NE(parse_error(alloc("{memory: 1Gi}")).find("nodePools[0].allocatable.cpu: required"),
            std::string::npos);
  EXPECT_NE(parse_error(alloc("{cpu: 1, memory: 1Gi, Bad_Domain.com/x: 1}"))
                .find("nodePools[0].allocatable[Bad_Domain.com/x]: invalid resource name"),
            std::string::npos);
  // Fractions of native resources are fine.
  parse_ok(alloc("{cpu: 1500m, memory: 1.5Gi}"));
}

TEST(ClusterConfigErrors, UnknownEnumValuesListTheChoices) {
  EXPECT_NE(parse_error(cluster_yaml(pool_yaml("    cloud: aws\n")))
                .find("test.yaml:6:12: nodePools[0].cloud: must be one of karpenter, eks, gke, "
                      "aks; got \"aws\""),
            std::string::npos);
  EXPECT_NE(parse_error(cluster_yaml(pool_yaml("    capacityType: ondemand\n")))
                .find("nodePools[0].capacityType: must be one of spot, on-demand; got "
                      "\"ondemand\""),
            std::string::npos);
  EXPECT_NE(parse_error(cluster_yaml(pool_yaml("    taints: [{key: a, effect: NoSchedul}]\n")))
                .find("nodePools[0].taints[0].effect: must be one of NoSchedule, "
                      "PreferNoSchedule, NoExecute; got \"NoSchedul\""),
            std::string::npos);
}

TEST(ClusterConfigErrors, TaintsNeedKeyAndEffectAndValidNames) {
  auto e = parse_error(cluster_yaml(pool_yaml("    taints: [{value: x}]\n")));
  EXPECT_NE(e.find("nodePools[0].taints[0].key: required"), std::string::npos) << e;
  EXPECT_NE(e.find("nodePools[0].taints[0].effect: required"), std::string::npos) << e;
  EXPECT_NE(
      parse_error(cluster_yaml(pool_yaml("    taints: [{key: \"a b\", effect: NoSchedule}]\n")))
          .find("nodePools[0].taints[0]: \"a b\": name part must consist of"),
      std::string::npos);
}

TEST(ClusterConfigErrors, InterruptionsOnAnOnDemandPool) {
  auto e = parse_error(cluster_yaml(pool_yaml("    interruptions: {ratePerNodeHour: 1}\n")));
  EXPECT_EQ(e,
            "test.yaml:6:20: nodePools[0].interruptions: only spot pools are interrupted; this "
            "pool's capacityType is on-demand");
}

TEST(ClusterConfigErrors, NegativeRatesAndTimes) {
  auto spot = [](const std::string& extra) {
    return cluster_yaml(pool_yaml("    capacityType: spot\n" + extra));
  };
  EXPECT_NE(parse_error(spot("    interruptions: {ratePerNodeHour: -0.5}\n"))
                .find("nodePools[0].interruptions.ratePerNodeHour: must not be negative, got -0.5"),
            std::string::npos);
  EXPECT_NE(parse_error(spot("    interruptions: {noticeSeconds: -1}\n"))
                .find("nodePools[0].interruptions.noticeSeconds: must not be negative"),
            std::string::npos);
  EXPECT_NE(parse_error(spot("    interruptions: {at: [{node: 0, afterSeconds: -10}]}\n"))
                .find("nodePools[0].interruptions.at[0].afterSeconds: must not be negative"),
            std::string::npos);
  EXPECT_NE(parse_error(spot("    replacement: {delaySeconds: -1}\n"))
                .find("nodePools[0].replacement.delaySeconds: must not be negative"),
            std::string::npos);
  EXPECT_NE(parse_error(spot("    replacement: {}\n"))
                .find("nodePools[0].replacement.delaySeconds: required"),
            std::string::npos);
  EXPECT_NE(parse_error(spot("    interruptions: {ratePerNodeHour: .nan}\n"))
                .find("ratePerNodeHour: must be a number"),
            std::string::npos);
}

TEST(ClusterConfigErrors, ScriptedNodeIndexOutOfRange) {
  auto e = parse_error(cluster_yaml(pool_yaml(
      "    capacityType: spot\n    interruptions: {at: [{node: 2, afterSeconds: 5}]}\n")));
  EXPECT_NE(e.find("nodePools[0].interruptions.at[0].node: 2 is out of range: the pool has 2 "
                   "nodes (indices 0..1)"),
            std::string::npos)
      << e;
  EXPECT_NE(
      parse_error(cluster_yaml(pool_yaml(
                      "    capacityType: spot\n    interruptions: {at: [{afterSeconds: 5}]}\n")))
          .find("nodePools[0].interruptions.at[0].node: required"),
      std::string::npos);
  // With count itself broken, the index is still checked as far as it can be.
  auto broken_count = parse_error(
      "nodePools:\n  - {name: p, instanceType: t, count: x, capacityType: spot,\n"
      "     allocatable: {cpu: 1, memory: 1Gi},\n"
      "     interruptions: {ratePerNodeHour: -1, at: [{node: -1, afterSeconds: 1}]}}\n");
  EXPECT_NE(broken_count.find("nodePools[0].count: must be an integer"), std::string::npos);
  EXPECT_NE(broken_count.find("interruptions.ratePerNodeHour: must not be negative"),
            std::string::npos);
  EXPECT_NE(broken_count.find("interruptions.at[0].node: must not be negative"), std::string::npos)
      << broken_count;
}

TEST(ClusterConfigErrors, AbsurdInterruptionRatesAreRejected) {
  EXPECT_NE(parse_error(cluster_yaml(pool_yaml(
                            "    capacityType: spot\n    interruptions: {ratePerNodeHour: 1e6}\n")))
                .find("nodePools[0].interruptions.ratePerNodeHour: must be at most 3600"),
            std::string::npos);
}

TEST(ClusterConfigErrors, LabelsMustBeValidAndNotOverrideKubesimsOwn) {
  EXPECT_NE(parse_error(cluster_yaml(pool_yaml("    labels: {\"bad key\": x}\n")))
                .find("nodePools[0].labels[bad key]: \"bad key\": name part must consist of"),
            std::string::npos);
  EXPECT_NE(parse_error(cluster_yaml(pool_yaml("    labels: {team: \"no spaces\"}\n")))
                .find("nodePools[0].labels.team: \"no spaces\": a valid label must be"),
            std::string::npos);
  EXPECT_NE(parse_error(cluster_yaml(pool_yaml("    labels: {topology.kubernetes.io/zone: z}\n")))
                .find("nodePools[0].labels[topology.kubernetes.io/zone]: "
                      "\"topology.kubernetes.io/zone\" is set by kubesim"),
            std::string::npos);
  EXPECT_NE(parse_error(cluster_yaml(pool_yaml(
                            "    cloud: aks\n    labels: {kubernetes.azure.com/scalesetpriority: "
                            "spot}\n")))
                .find("is set by kubesim"),
            std::string::npos);
}

TEST(ClusterConfigErrors, DuplicateKeysAreRejected) {
  auto e = parse_error(cluster_yaml(pool_yaml("    count: 3\n")));
  EXPECT_NE(e.find("test.yaml:6:5: nodePools[0].count: duplicate key \"count\""), std::string::npos)
      << e;
}

TEST(ClusterConfigErrors, ReportsEveryProblemOnePerLine) {
  auto e = parse_error(
      "seed: -3\nnodePools:\n  - {name: A, count: x, instanceType: t, "
      "allocatable: {cpu: 1, memory: 1Gi}}\n");
  EXPECT_NE(e.find("test.yaml:1:7: seed: must be an integer"), std::string::npos) << e;
  EXPECT_NE(e.find("\ntest.yaml:3:12: nodePools[0].name: \"A\": a lowercase RFC 1123 label"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("\ntest.yaml:3:22: nodePools[0].count: must be an integer"), std::string::npos)
      << e;
}

TEST(ClusterConfigErrors, YamlSyntaxErrorsGiveLineAndColumn) {
  auto e = parse_error("nodePools:\n  - name: [unclosed\n");
  EXPECT_EQ(e.rfind("test.yaml:", 0), 0u) << e;
  EXPECT_NE(e.find("invalid YAML"), std::string::npos) << e;
}

TEST(ClusterConfigLoad, MissingFileNamesThePath) {
  auto c = load_cluster_config("/nonexistent/dir/cluster.yaml");
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().rfind("/nonexistent/dir/cluster.yaml: cannot read the cluster file", 0), 0u)
      << c.error();
}

TEST(ClusterConfigLoad, ErrorsNameTheFilePath) {
  auto dir = std::filesystem::temp_directory_path() /
             ("cluster_config_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "bad.yaml").string();
  std::ofstream(path) << "nodePools: 3\n";
  auto c = load_cluster_config(path);
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error(),
            path + ":1:12: nodePools: must be a non-empty list of node pools, got \"3\"");
}

// ---- Example files ----------------------------------------------------------------

int total_nodes(const ClusterConfig& c) {
  int n = 0;
  for (const auto& p : c.pools) n += p.count;
  return n;
}

TEST(ClusterConfigExamples, DemoLoadsWithSpotInterruptionsAndReplacement) {
  auto c = load_cluster_config((repo_root() / "sim/examples/demo.yaml").string());
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_GE(total_nodes(*c), 6);
  EXPECT_LE(total_nodes(*c), 8);
  bool spot_with_rate = false, scripted = false, replacement = false, gpu_on_demand = false;
  for (const auto& p : c->pools) {
    spot_with_rate |=
        p.capacity_type == CapacityType::Spot && p.interruptions.rate_per_node_hour > 0;
    scripted |= !p.interruptions.at.empty();
    replacement |= p.replacement_delay_seconds.has_value();
    gpu_on_demand |=
        p.capacity_type == CapacityType::OnDemand && p.allocatable.count("nvidia.com/gpu");
  }
  EXPECT_TRUE(spot_with_rate);
  EXPECT_TRUE(scripted);
  EXPECT_TRUE(replacement);
  EXPECT_TRUE(gpu_on_demand);
}

TEST(ClusterConfigExamples, Bench1000LoadsWithAThousandNodesOverSeveralClouds) {
  auto c = load_cluster_config((repo_root() / "sim/examples/bench-1000.yaml").string());
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(total_nodes(*c), 1000);
  std::set<Cloud> clouds;
  for (const auto& p : c->pools) clouds.insert(p.cloud);
  EXPECT_GE(clouds.size(), 3u);
}

// ---- Per-cloud conventions ----------------------------------------------------------

TEST(ClusterConfigClouds, CapacityLabelsPerCloud) {
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(capacity_label(Cloud::Karpenter, CapacityType::Spot),
            P("karpenter.sh/capacity-type", "spot"));
  EXPECT_EQ(capacity_label(Cloud::Karpenter, CapacityType::OnDemand),
            P("karpenter.sh/capacity-type", "on-demand"));
  EXPECT_EQ(capacity_label(Cloud::Eks, CapacityType::Spot),
            P("eks.amazonaws.com/capacityType", "SPOT"));
  EXPECT_EQ(capacity_label(Cloud::Eks, CapacityType::OnDemand),
            P("eks.amazonaws.com/capacityType", "ON_DEMAND"));
  EXPECT_EQ(capacity_label(Cloud::Gke, CapacityType::Spot), P("cloud.google.com/gke-spot", "true"));
  EXPECT_EQ(capacity_label(Cloud::Gke, CapacityType::OnDemand),
            P("cloud.google.com/gke-provisioning", "standard"));
  EXPECT_EQ(capacity_label(Cloud::Aks, CapacityType::Spot),
            P("kubernetes.azure.com/scalesetpriority", "spot"));
  EXPECT_FALSE(capacity_label(Cloud::Aks, CapacityType::OnDemand).has_value());
  EXPECT_EQ(capacity_labels(Cloud::Gke, CapacityType::Spot),
            (std::vector<P>{{"cloud.google.com/gke-spot", "true"},
                            {"cloud.google.com/gke-provisioning", "spot"}}));
}

TEST(ClusterConfigClouds, InterruptionTaintsAndNotices) {
  auto taint = [](Cloud c) {
    Taint t = interruption_taint(c);
    return t.key + "=" + t.value + ":" + t.effect;
  };
  EXPECT_EQ(taint(Cloud::Karpenter), "karpenter.sh/disrupted=:NoSchedule");
  EXPECT_EQ(taint(Cloud::Eks), "aws-node-termination-handler/spot-itn=:NoSchedule");
  EXPECT_EQ(taint(Cloud::Gke), "cloud.google.com/impending-node-termination=:NoSchedule");
  EXPECT_EQ(taint(Cloud::Aks), "remediator.kubernetes.azure.com/unschedulable=:NoSchedule");
  EXPECT_DOUBLE_EQ(default_notice_seconds(Cloud::Karpenter), 120);
  EXPECT_DOUBLE_EQ(default_notice_seconds(Cloud::Eks), 120);
  EXPECT_DOUBLE_EQ(default_notice_seconds(Cloud::Gke), 30);
  EXPECT_DOUBLE_EQ(default_notice_seconds(Cloud::Aks), 30);
}

// ---- Node objects ---------------------------------------------------------------------

ClusterConfig four_clouds() {
  return parse_ok(R"(
seed: 7
region: us-east-1
nodePools:
  - name: k
    cloud: karpenter
    capacityType: spot
    instanceType: g5.2xlarge
    count: 3
    zones: [us-east-1a, us-east-1b]
    allocatable: {cpu: "8", memory: 32Gi, nvidia.com/gpu: 1}
    labels: {team: ml}
    taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]
  - name: e
    cloud: eks
    capacityType: on-demand
    instanceType: m6i.xlarge
    count: 1
    allocatable: {cpu: 3920m, memory: 14Gi}
  - name: g
    cloud: gke
    region: us-central1
    capacityType: spot
    instanceType: n2-standard-8
    count: 1
    allocatable: {cpu: 7910m, memory: 28Gi}
  - name: a
    cloud: aks
    region: eastus
    capacityType: spot
    instanceType: Standard_D8s_v5
    count: 1
    allocatable: {cpu: 7820m, memory: 27Gi}
)");
}

TEST(ClusterConfigNodes, KarpenterSpotNodeLooksRegisteredByAKubelet) {
  auto c = four_clouds();
  json n = node_object(c, c.pools[0], 1, kEpoch);
  EXPECT_EQ(n["apiVersion"], "v1");
  EXPECT_EQ(n["kind"], "Node");
  EXPECT_EQ(n["metadata"]["name"], "k-1");
  const json& l = n["metadata"]["labels"];
  EXPECT_EQ(l["kubernetes.io/hostname"], "k-1");
  EXPECT_EQ(l["kubernetes.io/os"], "linux");
  EXPECT_EQ(l["kubernetes.io/arch"], "amd64");
  EXPECT_EQ(l["node.kubernetes.io/instance-type"], "g5.2xlarge");
  EXPECT_EQ(l["topology.kubernetes.io/zone"], "us-east-1b");  // round-robin: index 1
  EXPECT_EQ(l["topology.kubernetes.io/region"], "us-east-1");
  EXPECT_EQ(l["karpenter.sh/capacity-type"], "spot");
  EXPECT_EQ(l["karpenter.sh/nodepool"], "k");
  EXPECT_EQ(l["sim.frugal.dev/pool"], "k");
  EXPECT_EQ(l["team"], "ml");
  EXPECT_EQ(n["spec"]["providerID"], "kubesim://k/k-1");
  EXPECT_EQ(n["spec"]["taints"],
            json::parse(R"([{"key":"nvidia.com/gpu","value":"present","effect":"NoSchedule"}])"));
  EXPECT_FALSE(n.contains("creationTimestamp"));

  const json& s = n["status"];
  EXPECT_EQ(s["capacity"], s["allocatable"]);
  EXPECT_EQ(s["allocatable"], json::parse(R"({"cpu":"8","memory":"32Gi","nvidia.com/gpu":"1",
                                               "pods":"110"})"));
  ASSERT_EQ(s["conditions"].size(), 4u);
  std::map<std::string, json> by_type;
  for (const auto& cond : s["conditions"]) by_type[cond["type"]] = cond;
  EXPECT_EQ(by_type["Ready"]["status"], "True");
  EXPECT_EQ(by_type["Ready"]["reason"], "KubeletReady");
  EXPECT_EQ(by_type["Ready"]["lastTransitionTime"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(by_type["Ready"]["lastHeartbeatTime"], "2026-01-01T00:00:00Z");
  for (const char* pressure : {"MemoryPressure", "DiskPressure", "PIDPressure"}) {
    EXPECT_EQ(by_type[pressure]["status"], "False") << pressure;
  }
  EXPECT_EQ(by_type["MemoryPressure"]["reason"], "KubeletHasSufficientMemory");
  EXPECT_EQ(s["nodeInfo"]["kubeletVersion"], "v1.32.0");
  EXPECT_EQ(s["nodeInfo"]["operatingSystem"], "linux");
  EXPECT_EQ(s["nodeInfo"]["architecture"], "amd64");
  EXPECT_EQ(s["nodeInfo"]["machineID"].get<std::string>().size(), 32u);
  EXPECT_EQ(s["addresses"], json::parse(R"([{"type":"Hostname","address":"k-1"}])"));
  EXPECT_EQ(s["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
}

TEST(ClusterConfigNodes, LabelsAndTaintsPerCloud) {
  auto c = four_clouds();
  json e = node_object(c, c.pools[1], 0, kEpoch);
  EXPECT_EQ(e["metadata"]["labels"]["eks.amazonaws.com/capacityType"], "ON_DEMAND");
  EXPECT_EQ(e["metadata"]["labels"]["eks.amazonaws.com/nodegroup"], "e");
  EXPECT_FALSE(e["spec"].contains("taints"));

  json g = node_object(c, c.pools[2], 0, kEpoch);
  EXPECT_EQ(g["metadata"]["labels"]["cloud.google.com/gke-spot"], "true");
  EXPECT_EQ(g["metadata"]["labels"]["cloud.google.com/gke-provisioning"], "spot");
  EXPECT_EQ(g["metadata"]["labels"]["cloud.google.com/gke-nodepool"], "g");
  EXPECT_EQ(g["metadata"]["labels"]["topology.kubernetes.io/region"], "us-central1");
  EXPECT_EQ(g["metadata"]["labels"]["topology.kubernetes.io/zone"], "us-central1-a");
  EXPECT_FALSE(g["spec"].contains("taints"));  // GKE Standard spot pools are not tainted

  json a = node_object(c, c.pools[3], 0, kEpoch);
  EXPECT_EQ(a["metadata"]["labels"]["kubernetes.azure.com/scalesetpriority"], "spot");
  EXPECT_EQ(a["metadata"]["labels"]["kubernetes.azure.com/agentpool"], "a");
  EXPECT_EQ(a["spec"]["taints"],
            json::parse(R"([{"key":"kubernetes.azure.com/scalesetpriority","value":"spot",
                            "effect":"NoSchedule"}])"));
}

TEST(ClusterConfigNodes, AksSpotTaintIsNotDuplicatedWhenWrittenByHand) {
  auto c = parse_ok(cluster_yaml(
      pool_yaml("    cloud: aks\n    capacityType: spot\n    taints: [{key: "
                "kubernetes.azure.com/scalesetpriority, value: spot, effect: NoSchedule}]\n")));
  EXPECT_EQ(node_taints(c.pools[0]).size(), 1u);
}

TEST(ClusterConfigNodes, IdentityIsDeterministicPerSeedAndName) {
  auto c = four_clouds();
  json a = node_object(c, c.pools[0], 0, kEpoch);
  json b = node_object(c, c.pools[0], 0, kEpoch + std::chrono::hours(1));
  EXPECT_EQ(a["status"]["nodeInfo"], b["status"]["nodeInfo"]);
  json other = node_object(c, c.pools[0], 1, kEpoch);
  EXPECT_NE(a["status"]["nodeInfo"]["machineID"], other["status"]["nodeInfo"]["machineID"]);
  EXPECT_NE(a["status"]["nodeInfo"]["systemUUID"], a["status"]["nodeInfo"]["bootID"]);
}

TEST(ClusterConfigNodes, ReplacementIndicesContinueNamesAndZones) {
  auto c = four_clouds();
  EXPECT_EQ(node_name(c.pools[0], 3), "k-3");
  json n = node_object(c, c.pools[0], 3, kEpoch);
  EXPECT_EQ(n["metadata"]["labels"]["topology.kubernetes.io/zone"], "us-east-1b");
}

// ---- Interruption times ----------------------------------------------------------------

ClusterConfig spot_config(uint64_t seed, double rate, const std::string& scripted = "") {
  auto c =
      parse_ok("seed: " + std::to_string(seed) + "\nnodePools:\n" +
               pool_yaml("    capacityType: spot\n    interruptions:\n      ratePerNodeHour: " +
                             std::to_string(rate) + "\n" + scripted,
                         "spot"));
  return c;
}

constexpr double kDay = 24 * 3600;

TEST(ClusterConfigInterruptions, SameSeedSameTimes) {
  auto c = spot_config(42, 0.5);
  auto a = interruption_times(c, c.pools[0], "spot-0", 0, 30 * kDay);
  auto b = interruption_times(c, c.pools[0], "spot-0", 0, 30 * kDay);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_GE(a.front(), 0);
  EXPECT_LT(a.back(), 30 * kDay);
}

TEST(ClusterConfigInterruptions, AnotherSeedOrNodeGivesOtherTimes) {
  auto c42 = spot_config(42, 0.5);
  auto c43 = spot_config(43, 0.5);
  auto a = interruption_times(c42, c42.pools[0], "spot-0", 0, 30 * kDay);
  EXPECT_NE(a, interruption_times(c43, c43.pools[0], "spot-0", 0, 30 * kDay));
  EXPECT_NE(a, interruption_times(c42, c42.pools[0], "spot-1", 1, 30 * kDay));
}

TEST(ClusterConfigInterruptions, DoNotDependOnOtherNodesOrPools) {
  auto small = spot_config(9, 0.5);
  auto big = parse_ok(
      "seed: 9\nnodePools:\n" + pool_yaml("", "cpu") +
      pool_yaml("    capacityType: spot\n    interruptions: {ratePerNodeHour: 0.5}\n", "spot"));
  const auto alone = interruption_times(small, small.pools[0], "spot-1", 1, 10 * kDay);
  for (int i = 0; i < 5; ++i) {
    (void)interruption_times(big, big.pools[1], "spot-" + std::to_string(i), i, 10 * kDay);
  }
  EXPECT_EQ(interruption_times(big, big.pools[1], "spot-1", 1, 10 * kDay), alone);
  // A longer horizon extends the same sequence rather than redrawing it.
  auto longer = interruption_times(small, small.pools[0], "spot-1", 1, 20 * kDay);
  ASSERT_GE(longer.size(), alone.size());
  EXPECT_TRUE(std::equal(alone.begin(), alone.end(), longer.begin()));
}

TEST(ClusterConfigInterruptions, MeanRateIsNearTheConfiguredOne) {
  const double rate = 2.0;    // per node-hour
  const double hours = 2000;  // expected count 4000, standard deviation ~63
  auto c = spot_config(1234, rate);
  double total = 0;
  const int nodes = 5;
  for (int i = 0; i < nodes; ++i) {
    total += static_cast<double>(
        interruption_times(c, c.pools[0], "spot-" + std::to_string(i), i, hours * 3600).size());
  }
  const double observed = total / (nodes * hours);
  EXPECT_NEAR(observed, rate, rate * 0.05);  // 5% is > 7 standard deviations here
}

TEST(ClusterConfigInterruptions, IncludesScriptedTimesForThatIndexOnly) {
  auto c = spot_config(5, 0,
                       "      at: [{node: 1, afterSeconds: 600}, {node: 1, afterSeconds: 60},"
                       " {node: 0, afterSeconds: 30}, {node: 1, afterSeconds: 99999}]\n");
  EXPECT_EQ(interruption_times(c, c.pools[0], "spot-1", 1, 3600), (std::vector<double>{60, 600}));
  EXPECT_EQ(interruption_times(c, c.pools[0], "spot-0", 0, 3600), (std::vector<double>{30}));

  auto mixed = spot_config(5, 1, "      at: [{node: 0, afterSeconds: 100}]\n");
  auto times = interruption_times(mixed, mixed.pools[0], "spot-0", 0, kDay);
  EXPECT_NE(std::find(times.begin(), times.end(), 100.0), times.end());
  EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
}

TEST(ClusterConfigInterruptions, NoneWithoutRateOrHorizon) {
  auto c = spot_config(5, 0);
  EXPECT_TRUE(interruption_times(c, c.pools[0], "spot-0", 0, 365 * kDay).empty());
  auto r = spot_config(5, 100);
  EXPECT_TRUE(interruption_times(r, r.pools[0], "spot-0", 0, 0).empty());
}

}  // namespace
}  // namespace kubesim
