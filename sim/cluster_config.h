// The cluster file: what `kubesim --cluster FILE.yaml` reads to start a
// simulated cluster (node pools, their clouds, capacity, spot interruptions),
// and the pure functions that turn it into Node objects and interruption
// times. Nothing here touches the store or the clock: the engine calls these.
// The format is documented, with a commented example, in docs/cluster-file.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/expected.h"
#include "sim/api_error.h"  // kubesim::json
#include "sim/taint.h"

namespace kubesim {

// Which managed offering a pool imitates; it decides the capacity-type label,
// the node-pool label and the taint that signals an interruption.
enum class Cloud { Karpenter, Eks, Gke, Aks };
enum class CapacityType { Spot, OnDemand };

struct ScriptedInterruption {
  int node_index = 0;        // index of the node within its pool (the N in <pool>-N)
  double after_seconds = 0;  // sim seconds after cluster start when the notice begins
};

struct InterruptionSpec {
  double rate_per_node_hour = 0;  // Poisson rate per node; 0 = none
  std::vector<ScriptedInterruption> at;
  double notice_seconds = 0;  // from notice to the node's removal; defaulted per cloud
};

struct NodePool {
  std::string name;  // DNS-1123 label; nodes are <name>-<index>
  Cloud cloud = Cloud::Karpenter;
  std::string region;  // defaults to the cluster's region
  std::string instance_type;
  CapacityType capacity_type = CapacityType::OnDemand;
  int count = 0;
  std::vector<std::string> zones;  // never empty after parsing; nodes take them round-robin
  // Resource name -> quantity text exactly as written (validated); always has
  // cpu, memory and pods. Capacity equals allocatable.
  std::map<std::string, std::string> allocatable;
  std::map<std::string, std::string> labels;  // extra labels, on top of kubesim's own
  std::vector<Taint> taints;                  // as written; see node_taints() for the full set
  InterruptionSpec interruptions;
  std::optional<double> replacement_delay_seconds;  // set: a new node joins after this delay
};

struct ClusterConfig {
  uint64_t seed = 1;
  std::string region;
  std::vector<NodePool> pools;
};

// Errors are one line per problem, each "FILE:LINE:COL: PATH: what is wrong",
// e.g. `demo.yaml:14:15: nodePools[2].allocatable.memory: quantities must match ...`.
template <class T>
using ConfigResult = frugal::Expected<T, std::string>;

// `source_name` names the text in errors (usually the file's path).
ConfigResult<ClusterConfig> parse_cluster_config(const std::string& yaml_text,
                                                 const std::string& source_name);
// Reads `path` and parses it; an unreadable file is an error naming the path.
ConfigResult<ClusterConfig> load_cluster_config(const std::string& path);

std::string_view to_string(Cloud cloud);                 // "karpenter", "eks", "gke", "aks"
std::string_view to_string(CapacityType capacity_type);  // "spot", "on-demand"

// ---- Per-cloud conventions --------------------------------------------------

// The label that marks a node's capacity type, as the cloud's selectors use it
// (e.g. karpenter.sh/capacity-type=spot). nullopt where the cloud marks only
// spot nodes and leaves on-demand ones unlabelled (AKS).
std::optional<std::pair<std::string, std::string>> capacity_label(Cloud cloud,
                                                                  CapacityType capacity_type);
// Every capacity-type label the cloud puts on such a node (GKE spot nodes carry two).
std::vector<std::pair<std::string, std::string>> capacity_labels(Cloud cloud,
                                                                 CapacityType capacity_type);
// The label naming the node's pool (karpenter.sh/nodepool, eks.amazonaws.com/nodegroup...).
std::string_view pool_label_key(Cloud cloud);
// The taint put on a node when its interruption notice arrives.
Taint interruption_taint(Cloud cloud);
// Seconds from interruption notice to the machine going away.
double default_notice_seconds(Cloud cloud);

// ---- Nodes ------------------------------------------------------------------

// "<pool>-<index>"; replacements continue the index past count-1.
std::string node_name(const NodePool& pool, int index);
// All labels of a pool's node: kubesim's (hostname, os, arch, instance type,
// zone, region, capacity type, pool) and then the pool's extra labels.
std::map<std::string, std::string> node_labels(const ClusterConfig& config, const NodePool& pool,
                                               int index);
// The pool's taints plus the ones the cloud always puts on such nodes (AKS spot).
std::vector<Taint> node_taints(const NodePool& pool);

// A v1 Node as a kubelet registers it: labels, taints, providerID
// "kubesim://<pool>/<name>", capacity = allocatable, the four usual
// conditions (Ready=True/KubeletReady, pressures False) stamped `created`,
// nodeInfo, and a Hostname address. No InternalIP: the engine may add one.
// No creationTimestamp/uid/resourceVersion: the API server sets those.
json node_object(const ClusterConfig& config, const NodePool& pool, int index,
                 std::chrono::system_clock::time_point created);

// ---- Interruptions ----------------------------------------------------------

// Sim-second times since cluster start, in [0, horizon_seconds) and sorted, at
// which the interruption NOTICE for this node begins: a Poisson process at the
// pool's rate, drawn from a generator seeded by (config.seed, node_name) only —
// so it does not depend on which other nodes exist or in which order they are
// created — plus the pool's scripted times for `index`. A node that joins at
// time T (a replacement) uses the times >= T: the process has no memory, so
// that is the same law as starting it at T.
std::vector<double> interruption_times(const ClusterConfig& config, const NodePool& pool,
                                       const std::string& node_name, int index,
                                       double horizon_seconds);

}  // namespace kubesim
