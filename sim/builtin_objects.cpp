#include "sim/builtin_objects.h"

#include <atomic>
#include <set>

#include "sim/crd.h"
#include "sim/names.h"
#include "sim/selector.h"

namespace kubesim {

namespace {

bool is(const ResourceInfo& info, const char* group, const char* resource) {
  return info.group == group && info.resource == resource;
}

FieldCause required(std::string field) {
  return FieldCause{"FieldValueRequired", "Required value", std::move(field)};
}

FieldCause invalid_value(std::string field, const json& value, const std::string& why) {
  return FieldCause{"FieldValueInvalid", "Invalid value: " + value.dump() + ": " + why,
                    std::move(field)};
}

// Cluster IPs handed out from 10.96.0.0/12 as kubeadm's default service CIDR.
std::string next_cluster_ip() {
  static std::atomic<uint32_t> next{10};
  uint32_t n = next++;
  return "10.96." + std::to_string((n >> 8) & 0xff) + "." + std::to_string(n & 0xff);
}

void default_containers(json& containers) {
  if (!containers.is_array()) return;
  for (auto& c : containers) {
    if (!c.is_object()) continue;
    if (!c.contains("terminationMessagePath")) c["terminationMessagePath"] = "/dev/termination-log";
    if (!c.contains("terminationMessagePolicy")) c["terminationMessagePolicy"] = "File";
    if (!c.contains("imagePullPolicy")) {
      const std::string image = c.value("image", "");
      const bool latest = image.find(':') == std::string::npos ||
                          (image.size() >= 7 && image.compare(image.size() - 7, 7, ":latest") == 0);
      c["imagePullPolicy"] = latest ? "Always" : "IfNotPresent";
    }
    if (c.contains("ports") && c["ports"].is_array()) {
      for (auto& p : c["ports"]) {
        if (p.is_object() && !p.contains("protocol")) p["protocol"] = "TCP";
      }
    }
  }
}

void default_pod_spec(json& spec) {
  if (!spec.is_object()) return;
  if (!spec.contains("restartPolicy")) spec["restartPolicy"] = "Always";
  if (!spec.contains("terminationGracePeriodSeconds")) spec["terminationGracePeriodSeconds"] = 30;
  if (!spec.contains("dnsPolicy")) spec["dnsPolicy"] = "ClusterFirst";
  if (!spec.contains("schedulerName")) spec["schedulerName"] = "default-scheduler";
  if (!spec.contains("securityContext")) spec["securityContext"] = json::object();
  if (spec.contains("containers")) default_containers(spec["containers"]);
  if (spec.contains("initContainers")) default_containers(spec["initContainers"]);
}

void validate_containers(const json& spec, const std::string& at, std::vector<FieldCause>& errs) {
  const json containers = spec.value("containers", json::array());
  if (!containers.is_array() || containers.empty()) {
    errs.push_back(required(at + ".containers"));
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < containers.size(); ++i) {
    const std::string cat = at + ".containers[" + std::to_string(i) + "]";
    const json& c = containers[i];
    const std::string name = c.is_object() ? c.value("name", "") : "";
    if (name.empty()) {
      errs.push_back(required(cat + ".name"));
    } else if (!is_dns1123_label(name)) {
      errs.push_back(invalid_value(cat + ".name", name, dns1123_label_message()));
    } else if (!names.insert(name).second) {
      errs.push_back(FieldCause{"FieldValueDuplicate", "Duplicate value: \"" + name + "\"",
                                cat + ".name"});
    }
    if (!c.is_object() || c.value("image", "").empty()) errs.push_back(required(cat + ".image"));
  }
}

}  // namespace

void default_builtin(const ResourceInfo& info, json& obj) {
  if (info.custom) return;
  if (is(info, "", "namespaces")) {
    obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = obj["metadata"].value("name", "");
    if (!obj.contains("spec") || !obj["spec"].contains("finalizers")) {
      obj["spec"]["finalizers"] = json::array({"kubernetes"});
    }
    if (!obj.contains("status") || !obj["status"].contains("phase")) obj["status"]["phase"] = "Active";
  } else if (is(info, "", "pods")) {
    if (obj.contains("spec")) default_pod_spec(obj["spec"]);
    if (!obj.contains("status")) obj["status"] = {{"phase", "Pending"}, {"qosClass", "BestEffort"}};
  } else if (is(info, "", "services")) {
    json& spec = obj["spec"];
    if (!spec.contains("type")) spec["type"] = "ClusterIP";
    if (!spec.contains("sessionAffinity")) spec["sessionAffinity"] = "None";
    if (!spec.contains("clusterIP")) {
      spec["clusterIP"] = next_cluster_ip();
      spec["clusterIPs"] = json::array({spec["clusterIP"]});
    }
    if (spec.contains("ports") && spec["ports"].is_array()) {
      for (auto& p : spec["ports"]) {
        if (!p.is_object()) continue;
        if (!p.contains("protocol")) p["protocol"] = "TCP";
        if (!p.contains("targetPort") && p.contains("port")) p["targetPort"] = p["port"];
      }
    }
    if (!obj.contains("status")) obj["status"] = {{"loadBalancer", json::object()}};
  } else if (is(info, "apps", "deployments")) {
    json& spec = obj["spec"];
    if (!spec.contains("replicas")) spec["replicas"] = 1;
    if (!spec.contains("revisionHistoryLimit")) spec["revisionHistoryLimit"] = 10;
    if (!spec.contains("progressDeadlineSeconds")) spec["progressDeadlineSeconds"] = 600;
    if (!spec.contains("strategy")) {
      spec["strategy"] = {{"type", "RollingUpdate"},
                          {"rollingUpdate", {{"maxSurge", "25%"}, {"maxUnavailable", "25%"}}}};
    }
    if (spec.contains("template") && spec["template"].contains("spec")) {
      default_pod_spec(spec["template"]["spec"]);
    }
  } else if (is(info, "apps", "replicasets")) {
    json& spec = obj["spec"];
    if (!spec.contains("replicas")) spec["replicas"] = 1;
    if (spec.contains("template") && spec["template"].contains("spec")) {
      default_pod_spec(spec["template"]["spec"]);
    }
  } else if (is(info, "", "persistentvolumeclaims")) {
    // core/v1 SetDefaults_PersistentVolumeClaim and SetDefaults_PersistentVolumeClaimSpec.
    if (!obj["spec"].contains("volumeMode")) obj["spec"]["volumeMode"] = "Filesystem";
    if (!obj.contains("status") || !obj["status"].contains("phase")) {
      obj["status"]["phase"] = "Pending";
    }
  } else if (is(info, "apiextensions.k8s.io", "customresourcedefinitions")) {
    default_crd(obj);
  }
}

std::vector<FieldCause> validate_builtin(const ResourceInfo& info, const json& obj,
                                         const json* old) {
  std::vector<FieldCause> errs;
  if (info.custom) {
    const std::string name = obj["metadata"].value("name", "");
    if (!is_dns1123_subdomain(name)) {
      errs.push_back(invalid_value("metadata.name", name, dns1123_subdomain_message()));
    }
    return errs;
  }
  const std::string name = obj["metadata"].value("name", "");
  // Namespaces and services need DNS labels; most others DNS subdomains.
  const bool label_name = is(info, "", "namespaces") || is(info, "", "services");
  if (label_name ? !is_dns1123_label(name) : !is_dns1123_subdomain(name)) {
    if (!is(info, "", "events") && !is(info, "events.k8s.io", "events")) {
      errs.push_back(invalid_value("metadata.name", name,
                                   label_name ? dns1123_label_message()
                                              : dns1123_subdomain_message()));
    }
  }
  if (is(info, "", "pods")) {
    const json spec = obj.value("spec", json::object());
    validate_containers(spec, "spec", errs);
    if (old) {
      // Pod specs are immutable but for a few fields (apps/validation.go lists them).
      json a = spec, b = old->value("spec", json::object());
      for (json* s : {&a, &b}) {
        s->erase("activeDeadlineSeconds");
        s->erase("tolerations");
        s->erase("schedulingGates");
        if (s->contains("containers")) {
          for (auto& c : (*s)["containers"]) c.erase("image");
        }
      }
      // nodeName may be set once, by a binding.
      if (b.value("nodeName", "").empty()) {
        a.erase("nodeName");
        b.erase("nodeName");
      }
      if (a != b) {
        errs.push_back(FieldCause{"FieldValueForbidden",
                                  "Forbidden: pod updates may not change fields other than "
                                  "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                                  "`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
                                  "additions to existing tolerations),"
                                  "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 "
                                  "if it was previously negative)",
                                  "spec"});
      }
    }
  } else if (is(info, "apps", "deployments") || is(info, "apps", "replicasets")) {
    // ReplicaSets validate alike (apps/validation.go, wording included:
    // ValidateReplicaSetSpec also says "empty selector is invalid for deployment").
    const json spec = obj.value("spec", json::object());
    if (!spec.contains("selector")) {
      errs.push_back(required("spec.selector"));
    } else {
      auto sel = LabelSelector::from_json(spec["selector"]);
      json labels = spec.value("template", json::object())
                        .value("metadata", json::object())
                        .value("labels", json::object());
      if (!sel) {
        errs.push_back(invalid_value("spec.selector", spec["selector"], sel.error().message));
      } else if (sel->empty()) {
        errs.push_back(invalid_value("spec.selector", spec["selector"],
                                     "empty selector is invalid for deployment"));
      } else if (!sel->matches(labels)) {
        errs.push_back(invalid_value("spec.template.metadata.labels", labels,
                                     "`selector` does not match template `labels`"));
      }
      if (old && old->value("spec", json::object()).contains("selector") &&
          (*old)["spec"]["selector"] != spec["selector"]) {
        errs.push_back(invalid_value("spec.selector", spec["selector"], "field is immutable"));
      }
    }
    if (spec.contains("replicas") &&
        (!spec["replicas"].is_number_integer() || spec["replicas"].get<int64_t>() < 0)) {
      errs.push_back(invalid_value("spec.replicas", spec["replicas"],
                                   "must be greater than or equal to 0"));
    }
    validate_containers(spec.value("template", json::object()).value("spec", json::object()),
                        "spec.template.spec", errs);
  } else if (is(info, "", "persistentvolumeclaims")) {
    // ValidatePersistentVolumeClaimSpec: what a claim cannot do without.
    const json spec = obj.value("spec", json::object());
    const json modes = spec.value("accessModes", json::array());
    if (!modes.is_array() || modes.empty()) {
      errs.push_back(FieldCause{"FieldValueRequired",
                                "Required value: at least 1 access mode is required",
                                "spec.accessModes"});
    }
    const json requests = spec.value("resources", json::object()).value("requests", json::object());
    if (!requests.is_object() || !requests.contains("storage")) {
      errs.push_back(required("spec.resources[storage]"));
    }
  } else if (is(info, "", "services")) {
    const json ports = obj.value("spec", json::object()).value("ports", json::array());
    for (size_t i = 0; i < ports.size(); ++i) {
      const json port = ports[i].value("port", json());
      if (!port.is_number_integer() || port.get<int64_t>() < 1 || port.get<int64_t>() > 65535) {
        errs.push_back(invalid_value("spec.ports[" + std::to_string(i) + "].port", port,
                                     "must be between 1 and 65535, inclusive"));
      }
    }
  } else if (is(info, "apiextensions.k8s.io", "customresourcedefinitions")) {
    auto crd_errs = validate_crd(obj);
    errs.insert(errs.end(), crd_errs.begin(), crd_errs.end());
    if (old) {
      const json& os = (*old)["spec"];
      const json& ns = obj["spec"];
      if (os.value("group", "") != ns.value("group", "")) {
        errs.push_back(invalid_value("spec.group", ns.value("group", ""), "field is immutable"));
      }
      if (os.value("scope", "") != ns.value("scope", "")) {
        errs.push_back(invalid_value("spec.scope", ns.value("scope", ""), "field is immutable"));
      }
    }
  }
  return errs;
}

}  // namespace kubesim
