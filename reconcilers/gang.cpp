#include "reconcilers/gang.h"

#include <algorithm>
#include <utility>

#include "reconcilers/policy/object_read.h"

namespace frugal::reconcilers {
namespace {

constexpr char kApiVersion[] = "ml.frugal.dev/v1alpha1";
constexpr char kKind[] = "TrainingJob";

using namespace policy::object_read;

json owner_reference(const json& job) {
  const json& meta = at(job, "metadata");
  return json::array({{{"apiVersion", kApiVersion},
                       {"kind", kKind},
                       {"name", str(meta, "name")},
                       {"uid", str(meta, "uid")},
                       {"controller", true},
                       {"blockOwnerDeletion", true}}});
}

int workers_of(const json& job) {
  const json& w = at(at(job, "spec"), "workers");
  return w.is_number_integer() ? w.get<int>() : 1;
}

std::string checkpoint_path(const json& job) {
  const std::string path = str(at(at(job, "spec"), "checkpoint"), "path");
  return path.empty() ? kDefaultCheckpointPath : path;
}

// Sets (or replaces) one env var of a container.
void set_env(json& container, const std::string& name, const std::string& value) {
  json& env = container["env"];
  if (!env.is_array()) env = json::array();
  for (json& e : env) {
    if (e.is_object() && str(e, "name") == name) {
      e = {{"name", name}, {"value", value}};
      return;
    }
  }
  env.push_back({{"name", name}, {"value", value}});
}

}  // namespace

std::string worker_name(const std::string& job, int attempt, int rank) {
  return job + "-a" + std::to_string(attempt) + "-" + std::to_string(rank);
}

std::string service_name(const std::string& job) { return job; }

json worker_pod(const json& job, int attempt, int rank, const GangPlacement& placement) {
  const json& meta = at(job, "metadata");
  const std::string name = str(meta, "name");
  const std::string ns = str(meta, "namespace");
  const json& tmpl = at(at(job, "spec"), "template");
  json pod_meta = at(tmpl, "metadata").is_object() ? at(tmpl, "metadata") : json::object();
  json spec = at(tmpl, "spec").is_object() ? at(tmpl, "spec") : json::object();

  const std::string pod_name = worker_name(name, attempt, rank);
  pod_meta["name"] = pod_name;
  pod_meta["namespace"] = ns;
  pod_meta.erase("generateName");
  pod_meta["ownerReferences"] = owner_reference(job);
  json& labels = pod_meta["labels"];
  if (!labels.is_object()) labels = json::object();
  labels[kJobLabel] = name;
  labels[kRankLabel] = std::to_string(rank);
  labels[kAttemptLabel] = std::to_string(attempt);
  labels[kCapacityTypeLabel] = placement.capacity_type;
  labels[kInstanceTypeLabel] = placement.instance_type;

  spec["restartPolicy"] = "Never";
  spec["hostname"] = pod_name;
  spec["subdomain"] = service_name(name);
  const std::string master = worker_name(name, attempt, 0) + "." + service_name(name);
  const std::string dir = checkpoint_path(job);
  const std::string volume = str(at(at(job, "spec"), "checkpoint"), "volume");
  json& containers = spec["containers"];
  if (!containers.is_array()) containers = json::array();
  for (json& c : containers) {
    if (!c.is_object()) continue;
    set_env(c, "RANK", std::to_string(rank));
    set_env(c, "WORLD_SIZE", std::to_string(workers_of(job)));
    set_env(c, "MASTER_ADDR", master);
    set_env(c, "MASTER_PORT", std::to_string(kMasterPort));
    set_env(c, "FRUGAL_CHECKPOINT_DIR", dir);
    set_env(c, "FRUGAL_RESTART_COUNT", std::to_string(attempt));
    if (volume.empty()) continue;
    json& mounts = c["volumeMounts"];
    if (!mounts.is_array()) mounts = json::array();
    bool mounted = false;
    for (const json& m : mounts) mounted |= str(m, "name") == volume;
    if (!mounted) mounts.push_back({{"name", volume}, {"mountPath", dir}});
  }

  // Required node affinity: the template's own terms each get the pool's
  // expressions added (terms are ORed, so every one must carry them).
  json& terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                    ["nodeSelectorTerms"];
  if (!terms.is_array() || terms.empty()) terms = json::array({json::object()});
  for (json& term : terms) {
    json& exprs = term["matchExpressions"];
    if (!exprs.is_array()) exprs = json::array();
    for (const json& e : placement.match_expressions) exprs.push_back(e);
  }
  json& tolerations = spec["tolerations"];
  if (!tolerations.is_array()) tolerations = json::array();
  for (const json& t : placement.tolerations) {
    if (std::find(tolerations.begin(), tolerations.end(), t) == tolerations.end()) {
      tolerations.push_back(t);
    }
  }
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", pod_meta}, {"spec", spec}};
}

json rendezvous_service(const json& job) {
  const json& meta = at(job, "metadata");
  const std::string name = str(meta, "name");
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata",
           {{"name", service_name(name)},
            {"namespace", str(meta, "namespace")},
            {"labels", {{kJobLabel, name}}},
            {"ownerReferences", owner_reference(job)}}},
          {"spec",
           {{"clusterIP", "None"},
            // Workers must find each other before they are Ready.
            {"publishNotReadyAddresses", true},
            {"selector", {{kJobLabel, name}}},
            {"ports", {{{"name", "rendezvous"}, {"port", kMasterPort}}}}}}};
}

}  // namespace frugal::reconcilers
