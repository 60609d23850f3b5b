#include "sim/table.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <set>

#include "sim/jsonpath.h"

namespace kubesim {

namespace {

using Clock = std::chrono::system_clock;

// metav1.ObjectMeta{}.SwaggerDoc() texts the real column definitions carry.
const char* kNameDoc =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const char* kCreationTimestampDoc =
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata";

// The printers list at most this many endpoints/ports before "+ N more...".
constexpr size_t kMaxListedEndpoints = 3;

struct Column {
  std::string name;
  std::string type = "string";
  std::string format;
  std::string description;
  int priority = 0;
};

Column name_column() { return {"Name", "string", "name", kNameDoc, 0}; }
Column age_column() { return {"Age", "string", "", kCreationTimestampDoc, 0}; }
Column col(std::string name, std::string description, int priority = 0,
           std::string type = "string") {
  return {std::move(name), std::move(type), "", std::move(description), priority};
}

// One row: its cells and, for finished pods, the row conditions.
struct Row {
  json cells = json::array();
  json conditions;  // null unless set
};

using RowFn = std::function<Row(const json& obj, Clock::time_point now)>;

struct Printer {
  std::vector<Column> columns;
  RowFn row;
};

// ---- Field access --------------------------------------------------------

const json& null_json() {
  static const json kNull;
  return kNull;
}

// obj.a.b.c, or null when any step is missing.
const json& at(const json& obj, std::string_view dotted) {
  const json* cur = &obj;
  size_t start = 0;
  while (start <= dotted.size()) {
    size_t dot = dotted.find('.', start);
    std::string key(
        dotted.substr(start, dot == std::string_view::npos ? dotted.npos : dot - start));
    if (!cur->is_object()) {
      return null_json();
    }
    auto it = cur->find(key);
    if (it == cur->end()) {
      return null_json();
    }
    cur = &*it;
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return *cur;
}

std::string text(const json& obj, std::string_view dotted, const std::string& fallback = "") {
  const json& v = at(obj, dotted);
  return v.is_string() ? v.get<std::string>() : fallback;
}

long long integer(const json& obj, std::string_view dotted, long long fallback = 0) {
  const json& v = at(obj, dotted);
  if (v.is_number_integer()) {
    return v.get<long long>();
  }
  if (v.is_number_float()) {
    return static_cast<long long>(v.get<double>());
  }
  return fallback;
}

bool boolean(const json& obj, std::string_view dotted) {
  const json& v = at(obj, dotted);
  return v.is_boolean() && v.get<bool>();
}

size_t count(const json& obj, std::string_view dotted) {
  const json& v = at(obj, dotted);
  return v.is_object() || v.is_array() ? v.size() : 0;
}

const json& items(const json& obj, std::string_view dotted) {
  static const json kEmpty = json::array();
  const json& v = at(obj, dotted);
  return v.is_array() ? v : kEmpty;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) {
      out += sep;
    }
    out += parts[i];
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string age(const json& obj, Clock::time_point now) {
  return age_since(at(obj, "metadata.creationTimestamp"), now);
}

std::string first_non_empty(const std::string& a, const std::string& b) {
  return a.empty() ? b : a;
}

// labels.FormatLabels: "a=1,b=2" in key order, "<none>" when empty.
std::string format_labels(const json& map) {
  std::vector<std::string> parts;
  if (map.is_object()) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      parts.push_back(it.key() + "=" +
                      (it.value().is_string() ? it.value().get<std::string>() : ""));
    }
  }
  return parts.empty() ? "<none>" : join(parts, ",");
}

// metav1.LabelSelectorAsSelector(sel).String(): requirements sorted by key.
std::string format_selector(const json& sel) {
  std::vector<std::pair<std::string, std::string>> reqs;
  const json& match_labels = at(sel, "matchLabels");
  if (match_labels.is_object()) {
    for (auto it = match_labels.begin(); it != match_labels.end(); ++it) {
      std::string v = it.value().is_string() ? it.value().get<std::string>() : "";
      reqs.emplace_back(it.key(), it.key() + "=" + v);
    }
  }
  for (const json& e : items(sel, "matchExpressions")) {
    std::string key = text(e, "key"), op = text(e, "operator");
    std::vector<std::string> values;
    for (const json& v : items(e, "values")) {
      if (v.is_string()) {
        values.push_back(v.get<std::string>());
      }
    }
    std::sort(values.begin(), values.end());
    if (op == "In") {
      reqs.emplace_back(key, key + " in (" + join(values, ",") + ")");
    } else if (op == "NotIn") {
      reqs.emplace_back(key, key + " notin (" + join(values, ",") + ")");
    } else if (op == "Exists") {
      reqs.emplace_back(key, key);
    } else if (op == "DoesNotExist") {
      reqs.emplace_back(key, "!" + key);
    }
  }
  std::stable_sort(reqs.begin(), reqs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> parts;
  parts.reserve(reqs.size());
  for (auto& r : reqs) {
    parts.push_back(std::move(r.second));
  }
  return join(parts, ",");
}

// layoutContainerCells: names and images, comma-separated.
std::pair<std::string, std::string> container_cells(const json& containers) {
  std::vector<std::string> names, images;
  for (const json& c : containers.is_array() ? containers : json::array()) {
    names.push_back(text(c, "name"));
    images.push_back(text(c, "image"));
  }
  return {join(names, ","), join(images, ",")};
}

std::string list_with_more(const std::vector<std::string>& list, bool more, size_t total) {
  std::string ret = join(list, ",");
  if (more) {
    return ret + " + " + std::to_string(total - kMaxListedEndpoints) + " more...";
  }
  return ret.empty() ? "<unset>" : ret;
}

std::string format_rfc3339_utc(Clock::time_point t) {
  std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// ---- Built-in printers -----------------------------------------------------

Row print_namespace(const json& o, Clock::time_point now) {
  return {{text(o, "metadata.name"), text(o, "status.phase"), age(o, now)}, nullptr};
}

Row print_node(const json& o, Clock::time_point now) {
  std::vector<std::string> status;
  for (const json& c : items(o, "status.conditions")) {
    if (text(c, "type") == "Ready") {
      status = {text(c, "status") == "True" ? "Ready" : "NotReady"};
    }
  }
  if (status.empty()) {
    status.push_back("Unknown");
  }
  if (boolean(o, "spec.unschedulable")) {
    status.push_back("SchedulingDisabled");
  }

  std::set<std::string> roles;
  const json& labels = at(o, "metadata.labels");
  if (labels.is_object()) {
    const std::string prefix = "node-role.kubernetes.io/";
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      if (it.key().rfind(prefix, 0) == 0 && it.key().size() > prefix.size()) {
        roles.insert(it.key().substr(prefix.size()));
      } else if (it.key() == "kubernetes.io/role" && it.value().is_string() &&
                 !it.value().get<std::string>().empty()) {
        roles.insert(it.value().get<std::string>());
      }
    }
  }
  std::string role_text = join(std::vector<std::string>(roles.begin(), roles.end()), ",");

  auto address = [&](const std::string& type) {
    for (const json& a : items(o, "status.addresses")) {
      if (text(a, "type") == type) {
        return text(a, "address");
      }
    }
    return std::string("<none>");
  };
  auto or_unknown = [](const std::string& s) { return s.empty() ? std::string("<unknown>") : s; };
  return {{text(o, "metadata.name"), join(status, ","), role_text.empty() ? "<none>" : role_text,
           age(o, now), text(o, "status.nodeInfo.kubeletVersion"), address("InternalIP"),
           address("ExternalIP"), or_unknown(text(o, "status.nodeInfo.osImage")),
           or_unknown(text(o, "status.nodeInfo.kernelVersion")),
           or_unknown(text(o, "status.nodeInfo.containerRuntimeVersion"))},
          nullptr};
}

// A container's terminated state without a reason, as the pod printer words it.
std::string exit_text(const json& terminated, const std::string& prefix) {
  long long signal = integer(terminated, "signal");
  if (signal != 0) {
    return prefix + "Signal:" + std::to_string(signal);
  }
  return prefix + "ExitCode:" + std::to_string(integer(terminated, "exitCode"));
}

bool has_true_condition(const json& pod, const std::string& type) {
  for (const json& c : items(pod, "status.conditions")) {
    if (text(c, "type") == type && text(c, "status") == "True") {
      return true;
    }
  }
  return false;
}

// printPod, including restartable (sidecar) init containers.
Row print_pod(const json& o, Clock::time_point now) {
  int restarts = 0, sidecar_restarts = 0, ready = 0;
  int total = static_cast<int>(items(o, "spec.containers").size());
  std::optional<Clock::time_point> last_restart, last_sidecar_restart;
  std::string phase = text(o, "status.phase");
  std::string reason = text(o, "status.reason", phase);
  if (reason.empty()) {
    reason = phase;
  }
  for (const json& c : items(o, "status.conditions")) {
    if (text(c, "type") == "PodScheduled" && text(c, "reason") == "SchedulingGated") {
      reason = "SchedulingGated";
    }
  }

  std::set<std::string> sidecars;
  for (const json& c : items(o, "spec.initContainers")) {
    if (text(c, "restartPolicy") == "Always") {
      sidecars.insert(text(c, "name"));
      ++total;
    }
  }
  auto later = [](std::optional<Clock::time_point>& slot, const json& status) {
    if (auto t = parse_rfc3339(text(status, "lastState.terminated.finishedAt"))) {
      if (!slot || *t > *slot) {
        slot = t;
      }
    }
  };

  bool initializing = false;
  const json& init_statuses = items(o, "status.initContainerStatuses");
  const size_t init_count = items(o, "spec.initContainers").size();
  for (size_t i = 0; i < init_statuses.size(); ++i) {
    const json& c = init_statuses[i];
    bool sidecar = sidecars.count(text(c, "name")) > 0;
    restarts += static_cast<int>(integer(c, "restartCount"));
    later(last_restart, c);
    if (sidecar) {
      sidecar_restarts += static_cast<int>(integer(c, "restartCount"));
      later(last_sidecar_restart, c);
    }
    const json& terminated = at(c, "state.terminated");
    const json& waiting = at(c, "state.waiting");
    if (terminated.is_object() && integer(terminated, "exitCode") == 0) {
      continue;
    }
    if (sidecar && boolean(c, "started")) {
      if (boolean(c, "ready")) {
        ++ready;
      }
      continue;
    }
    if (terminated.is_object()) {
      std::string r = text(terminated, "reason");
      reason = r.empty() ? exit_text(terminated, "Init:") : "Init:" + r;
    } else if (waiting.is_object() && !text(waiting, "reason").empty() &&
               text(waiting, "reason") != "PodInitializing") {
      reason = "Init:" + text(waiting, "reason");
    } else {
      reason = "Init:" + std::to_string(i) + "/" + std::to_string(init_count);
    }
    initializing = true;
    break;
  }

  if (!initializing || has_true_condition(o, "Initialized")) {
    restarts = sidecar_restarts;
    last_restart = last_sidecar_restart;
    bool has_running = false;
    const json& statuses = items(o, "status.containerStatuses");
    for (size_t n = statuses.size(); n-- > 0;) {
      const json& c = statuses[n];
      restarts += static_cast<int>(integer(c, "restartCount"));
      later(last_restart, c);
      const json& terminated = at(c, "state.terminated");
      const json& waiting = at(c, "state.waiting");
      if (waiting.is_object() && !text(waiting, "reason").empty()) {
        reason = text(waiting, "reason");
      } else if (terminated.is_object() && !text(terminated, "reason").empty()) {
        reason = text(terminated, "reason");
      } else if (terminated.is_object()) {
        reason = exit_text(terminated, "");
      } else if (boolean(c, "ready") && at(c, "state.running").is_object()) {
        has_running = true;
        ++ready;
      }
    }
    if (reason == "Completed" && has_running) {
      reason = has_true_condition(o, "Ready") ? "Running" : "NotReady";
    }
  }

  bool deleting = !at(o, "metadata.deletionTimestamp").is_null();
  if (deleting && text(o, "status.reason") == "NodeLost") {
    reason = "Unknown";
  } else if (deleting && phase != "Succeeded" && phase != "Failed") {
    reason = "Terminating";
  }

  std::string restarts_text = std::to_string(restarts);
  if (restarts != 0 && last_restart) {
    auto d = std::chrono::duration_cast<std::chrono::seconds>(now - *last_restart);
    restarts_text += " (" + human_duration(d) + " ago)";
  }

  const json& pod_ips = items(o, "status.podIPs");
  std::string ip = pod_ips.empty() ? "" : text(pod_ips[0], "ip");
  if (ip.empty()) {
    ip = text(o, "status.podIP");
  }
  auto or_none = [](const std::string& s) { return s.empty() ? std::string("<none>") : s; };
  std::string gates = "<none>";
  if (!items(o, "spec.readinessGates").empty()) {
    int true_count = 0;
    for (const json& g : items(o, "spec.readinessGates")) {
      if (has_true_condition(o, text(g, "conditionType"))) {
        ++true_count;
      }
    }
    gates =
        std::to_string(true_count) + "/" + std::to_string(items(o, "spec.readinessGates").size());
  }

  Row row{{text(o, "metadata.name"), std::to_string(ready) + "/" + std::to_string(total), reason,
           restarts_text, age(o, now), or_none(ip), or_none(text(o, "spec.nodeName")),
           or_none(text(o, "status.nominatedNodeName")), gates},
          nullptr};
  if (phase == "Succeeded" || phase == "Failed") {
    bool ok = phase == "Succeeded";
    row.conditions = json::array(
        {{{"type", "Completed"},
          {"status", "True"},
          {"reason", phase},
          {"message", ok ? "The pod has completed successfully." : "The pod failed."}}});
  }
  return row;
}

std::string service_external_ip(const json& o, const std::string& type) {
  std::vector<std::string> external;
  for (const json& ip : items(o, "spec.externalIPs")) {
    if (ip.is_string()) {
      external.push_back(ip.get<std::string>());
    }
  }
  if (type == "ClusterIP" || type == "NodePort") {
    return external.empty() ? "<none>" : join(external, ",");
  }
  if (type == "LoadBalancer") {
    std::set<std::string> lb;
    for (const json& in : items(o, "status.loadBalancer.ingress")) {
      std::string v = first_non_empty(text(in, "ip"), text(in, "hostname"));
      if (!v.empty()) {
        lb.insert(v);
      }
    }
    std::vector<std::string> all(lb.begin(), lb.end());
    all.insert(all.end(), external.begin(), external.end());
    return all.empty() ? "<pending>" : join(all, ",");
  }
  if (type == "ExternalName") {
    return text(o, "spec.externalName");
  }
  return "<unknown>";
}

Row print_service(const json& o, Clock::time_point now) {
  std::string type = text(o, "spec.type", "ClusterIP");
  std::string cluster_ip = "<none>";
  if (!items(o, "spec.clusterIPs").empty() && items(o, "spec.clusterIPs")[0].is_string()) {
    cluster_ip = items(o, "spec.clusterIPs")[0].get<std::string>();
  } else if (!text(o, "spec.clusterIP").empty()) {
    cluster_ip = text(o, "spec.clusterIP");
  }
  std::vector<std::string> ports;
  for (const json& p : items(o, "spec.ports")) {
    std::string proto = text(p, "protocol", "TCP");
    long long node_port = integer(p, "nodePort");
    ports.push_back(std::to_string(integer(p, "port")) +
                    (node_port > 0 ? ":" + std::to_string(node_port) : "") + "/" + proto);
  }
  return {{text(o, "metadata.name"), type, cluster_ip, service_external_ip(o, type),
           ports.empty() ? "<none>" : join(ports, ","), age(o, now),
           format_labels(at(o, "spec.selector"))},
          nullptr};
}

Row print_endpoints(const json& o, Clock::time_point now) {
  std::vector<std::string> list;
  bool more = false;
  size_t total = 0;
  auto add = [&](const std::string& entry) {
    if (list.size() == kMaxListedEndpoints) {
      more = true;
    }
    if (!more) {
      list.push_back(entry);
    }
    ++total;
  };
  for (const json& ss : items(o, "subsets")) {
    if (items(ss, "ports").empty()) {
      for (const json& a : items(ss, "addresses")) {
        add(text(a, "ip"));
      }
    } else {
      for (const json& p : items(ss, "ports")) {
        for (const json& a : items(ss, "addresses")) {
          std::string ip = text(a, "ip");
          std::string host = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
          add(host + ":" + std::to_string(integer(p, "port")));
        }
      }
    }
  }
  std::string cell = items(o, "subsets").empty() ? "<none>" : join(list, ",");
  if (more) {
    cell += " + " + std::to_string(total - kMaxListedEndpoints) + " more...";
  }
  return {{text(o, "metadata.name"), cell, age(o, now)}, nullptr};
}

Row print_endpoint_slice(const json& o, Clock::time_point now) {
  std::vector<std::string> ports, addresses;
  bool more_ports = false, more_addresses = false;
  size_t port_total = 0, address_total = 0;
  for (const json& p : items(o, "ports")) {
    if (ports.size() < kMaxListedEndpoints) {
      if (at(p, "port").is_number()) {
        ports.push_back(std::to_string(integer(p, "port")));
      } else if (at(p, "name").is_string()) {
        ports.push_back(text(p, "name"));
      } else {
        ports.push_back("*");
      }
    } else {
      more_ports = true;
    }
    ++port_total;
  }
  for (const json& e : items(o, "endpoints")) {
    for (const json& a : items(e, "addresses")) {
      if (addresses.size() < kMaxListedEndpoints) {
        addresses.push_back(a.is_string() ? a.get<std::string>() : "");
      } else {
        more_addresses = true;
      }
      ++address_total;
    }
  }
  return {{text(o, "metadata.name"), text(o, "addressType"),
           list_with_more(ports, more_ports, port_total),
           list_with_more(addresses, more_addresses, address_total), age(o, now)},
          nullptr};
}

Row print_config_map(const json& o, Clock::time_point now) {
  return {{text(o, "metadata.name"),
           static_cast<long long>(count(o, "data") + count(o, "binaryData")), age(o, now)},
          nullptr};
}

// helper.GetAccessModesAsString: abbreviations in a fixed order, duplicates dropped.
std::string access_modes(const json& obj, std::string_view dotted) {
  std::set<std::string> have;
  for (const json& m : items(obj, dotted)) {
    if (m.is_string()) {
      have.insert(m.get<std::string>());
    }
  }
  static const std::pair<const char*, const char*> kAbbreviations[] = {
      {"ReadWriteOnce", "RWO"},
      {"ReadOnlyMany", "ROX"},
      {"ReadWriteMany", "RWX"},
      {"ReadWriteOncePod", "RWOP"}};
  std::vector<std::string> out;
  for (const auto& [mode, short_name] : kAbbreviations) {
    if (have.count(mode)) {
      out.push_back(short_name);
    }
  }
  return join(out, ",");
}

// printPersistentVolumeClaim: capacity and access modes only once bound.
Row print_persistent_volume_claim(const json& o, Clock::time_point now) {
  std::string phase = text(o, "status.phase");
  if (at(o, "metadata.deletionTimestamp").is_string()) {
    phase = "Terminating";
  }
  std::string capacity, modes;
  if (!text(o, "spec.volumeName").empty()) {
    capacity = text(o, "status.capacity.storage");
    modes = access_modes(o, "status.accessModes");
  }
  // GetPersistentVolumeClaimClass: the beta annotation wins over the field.
  const json& beta_class = at(o, "metadata.annotations");
  std::string storage_class = text(o, "spec.storageClassName");
  if (beta_class.is_object() && beta_class.contains("volume.beta.kubernetes.io/storage-class")) {
    storage_class = beta_class.value("volume.beta.kubernetes.io/storage-class", "");
  }
  std::string attributes_class = text(o, "spec.volumeAttributesClassName");
  return {{text(o, "metadata.name"), phase, text(o, "spec.volumeName"), capacity, modes,
           storage_class, attributes_class.empty() ? "<unset>" : attributes_class, age(o, now),
           text(o, "spec.volumeMode", "<unset>")},
          nullptr};
}

Row print_secret(const json& o, Clock::time_point now) {
  return {{text(o, "metadata.name"), text(o, "type"), static_cast<long long>(count(o, "data")),
           age(o, now)},
          nullptr};
}

Row print_service_account(const json& o, Clock::time_point now) {
  return {{text(o, "metadata.name"), static_cast<long long>(count(o, "secrets")), age(o, now)},
          nullptr};
}

// The fields printEvent reads, in core/v1 names (events.k8s.io/v1 events are
// mapped onto them the way the internal conversion does).
struct EventView {
  std::string name, type, reason, message, kind, object_name, field_path;
  std::string component, host, reporting_controller, reporting_instance;
  json first, last, event_time, series_last;
  long long count = 0;
  bool has_series = false;
};

Row print_event(const EventView& e, Clock::time_point now) {
  std::string first = age_since(e.first, now);
  if (e.first.is_null() || !e.first.is_string() || e.first.get<std::string>().empty()) {
    first = age_since(e.event_time, now);
  }
  std::string last = age_since(e.last, now);
  if (e.last.is_null() || !e.last.is_string() || e.last.get<std::string>().empty()) {
    last = first;
  }
  long long n = e.count;
  if (e.has_series) {
    last = age_since(e.series_last, now);
  } else if (n == 0) {
    n = 1;  // singleton events carry no count in the new API
  }
  std::string target = lower(e.kind) + (e.object_name.empty() ? "" : "/" + e.object_name);
  std::string component = first_non_empty(e.component, e.reporting_controller);
  std::string instance = first_non_empty(e.host, e.reporting_instance);
  std::string source = instance.empty() ? component : component + ", " + instance;
  std::string message = e.message;
  message.erase(0, message.find_first_not_of(" \t\r\n"));
  message.erase(message.find_last_not_of(" \t\r\n") + 1);
  return {{last, e.type, e.reason, target, e.field_path, source, message, first, n, e.name},
          nullptr};
}

Row print_core_event(const json& o, Clock::time_point now) {
  EventView e;
  e.name = text(o, "metadata.name");
  e.type = text(o, "type");
  e.reason = text(o, "reason");
  e.message = text(o, "message");
  e.kind = text(o, "involvedObject.kind");
  e.object_name = text(o, "involvedObject.name");
  e.field_path = text(o, "involvedObject.fieldPath");
  e.component = text(o, "source.component");
  e.host = text(o, "source.host");
  e.reporting_controller = text(o, "reportingComponent");
  e.reporting_instance = text(o, "reportingInstance");
  e.first = at(o, "firstTimestamp");
  e.last = at(o, "lastTimestamp");
  e.event_time = at(o, "eventTime");
  e.count = integer(o, "count");
  e.has_series = at(o, "series").is_object();
  e.series_last = at(o, "series.lastObservedTime");
  if (e.has_series) {
    e.count = integer(o, "series.count");
  }
  return print_event(e, now);
}

Row print_events_v1_event(const json& o, Clock::time_point now) {
  EventView e;
  e.name = text(o, "metadata.name");
  e.type = text(o, "type");
  e.reason = text(o, "reason");
  e.message = text(o, "note");
  e.kind = text(o, "regarding.kind");
  e.object_name = text(o, "regarding.name");
  e.field_path = text(o, "regarding.fieldPath");
  e.component = text(o, "deprecatedSource.component");
  e.host = text(o, "deprecatedSource.host");
  e.reporting_controller = text(o, "reportingController");
  e.reporting_instance = text(o, "reportingInstance");
  e.first = at(o, "deprecatedFirstTimestamp");
  e.last = at(o, "deprecatedLastTimestamp");
  e.event_time = at(o, "eventTime");
  e.count = integer(o, "deprecatedCount");
  e.has_series = at(o, "series").is_object();
  e.series_last = at(o, "series.lastObservedTime");
  if (e.has_series) {
    e.count = integer(o, "series.count");
  }
  return print_event(e, now);
}

Row print_deployment(const json& o, Clock::time_point now) {
  long long desired = integer(o, "spec.replicas", 1);  // the API defaults replicas to 1
  auto [names, images] = container_cells(at(o, "spec.template.spec.containers"));
  return {{text(o, "metadata.name"),
           std::to_string(integer(o, "status.readyReplicas")) + "/" + std::to_string(desired),
           integer(o, "status.updatedReplicas"), integer(o, "status.availableReplicas"),
           age(o, now), names, images, format_selector(at(o, "spec.selector"))},
          nullptr};
}

Row print_replica_set(const json& o, Clock::time_point now) {
  auto [names, images] = container_cells(at(o, "spec.template.spec.containers"));
  return {{text(o, "metadata.name"), integer(o, "spec.replicas", 1), integer(o, "status.replicas"),
           integer(o, "status.readyReplicas"), age(o, now), names, images,
           format_selector(at(o, "spec.selector"))},
          nullptr};
}

Row print_lease(const json& o, Clock::time_point now) {
  return {{text(o, "metadata.name"), text(o, "spec.holderIdentity"), age(o, now)}, nullptr};
}

// rest.NewDefaultTableConvertor: what kinds without a printer get.
Row print_default(const json& o, Clock::time_point) {
  auto t = parse_rfc3339(text(o, "metadata.creationTimestamp"));
  // A missing timestamp is Go's zero time.
  return {{text(o, "metadata.name"), t ? format_rfc3339_utc(*t) : "0001-01-01T00:00:00Z"}, nullptr};
}

std::vector<Column> default_columns() {
  return {name_column(), {"Created At", "date", "", kCreationTimestampDoc, 0}};
}

const std::string kTemplateNames = "Names of each container in the template.";
const std::string kTemplateImages = "Images referenced by each container in the template.";

// Printers by ResourceInfo::group_resource(): adding a kind is one entry.
const std::map<std::string, Printer>& builtin_printers() {
  static const std::map<std::string, Printer> printers = {
      {"namespaces",
       {{name_column(), col("Status", "The status of the namespace"), age_column()},
        print_namespace}},
      {"nodes",
       {{name_column(), col("Status", "The status of the node"),
         col("Roles", "The roles of the node"), age_column(),
         col("Version", "Kubelet Version reported by the node."),
         col("Internal-IP", "List of addresses reachable to the node.", 1),
         col("External-IP", "List of addresses reachable to the node.", 1),
         col("OS-Image",
             "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 "
             "(wheezy)).",
             1),
         col("Kernel-Version",
             "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
         col("Container-Runtime",
             "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
             "containerd://1.4.2).",
             1)},
        print_node}},
      {"pods",
       {{name_column(),
         col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
         col("Status", "The aggregate status of the containers in this pod."),
         col("Restarts",
             "The number of times the containers in this pod have been restarted and when the last "
             "container in this pod has restarted."),
         age_column(), col("IP", "podIP address allocated to the pod.", 1),
         col("Node", "NodeName indicates in which node this pod is scheduled.", 1),
         col("Nominated Node",
             "nominatedNodeName is set only when this pod preempts other pods on the node.", 1),
         col("Readiness Gates",
             "If specified, all readiness gates will be evaluated for pod readiness.", 1)},
        print_pod}},
      {"services",
       {{name_column(), col("Type", "type determines how the Service is exposed."),
         col("Cluster-IP", "clusterIP is the IP address of the service."),
         col("External-IP",
             "externalIPs is a list of IP addresses for which nodes in the cluster will also "
             "accept traffic for this service."),
         col("Port(s)", "The list of ports that are exposed by this service."), age_column(),
         col("Selector",
             "Route service traffic to pods with label keys and values matching this selector.",
             1)},
        print_service}},
      {"endpoints",
       {{name_column(), col("Endpoints", "The set of all endpoints is the union of all subsets."),
         age_column()},
        print_endpoints}},
      {"configmaps",
       {{name_column(), col("Data", "Data contains the configuration data."), age_column()},
        print_config_map}},
      {"persistentvolumeclaims",
       {{name_column(),
         col("Status", "phase represents the current phase of PersistentVolumeClaim."),
         col("Volume",
             "volumeName is the binding reference to the PersistentVolume backing this claim."),
         col("Capacity", "capacity represents the actual resources of the underlying volume."),
         col("Access Modes",
             "accessModes contains the actual access modes the volume backing the PVC has. More "
             "info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1"),
         col("StorageClass", "StorageClass of the pvc"),
         col("VolumeAttributesClass", "VolumeAttributesClass of the pvc"), age_column(),
         col("VolumeMode",
             "volumeMode defines what type of volume is required by the claim. Value of "
             "Filesystem is implied when not included in claim spec.",
             1)},
        print_persistent_volume_claim}},
      {"secrets",
       {{name_column(), col("Type", "Used to facilitate programmatic handling of secret data."),
         col("Data", "Data contains the secret data."), age_column()},
        print_secret}},
      {"serviceaccounts",
       {{name_column(),
         col("Secrets",
             "Secrets is a list of the secrets in the same namespace that pods running using this "
             "ServiceAccount are allowed to use."),
         age_column()},
        print_service_account}},
      {"events",
       {{col("Last Seen",
             "The time at which the most recent occurrence of this event was recorded."),
         col("Type",
             "Type of this event (Normal, Warning), new types could be added in the future"),
         col("Reason",
             "This should be a short, machine understandable string that gives the reason for the "
             "transition into the object's current status."),
         col("Object", "The object that this event is about."),
         col("Subobject",
             "If referring to a piece of an object instead of an entire object, this string should "
             "contain a valid JSON/Go field access statement.",
             1),
         col("Source",
             "The component reporting this event. Should be a short machine understandable string.",
             1),
         col("Message", "A human-readable description of the status of this operation."),
         col("First Seen",
             "The time at which the event was first recorded. (Time of server receipt is in "
             "TypeMeta.)",
             1),
         col("Count", "The number of times this event has occurred.", 1),
         {"Name", "string", "name", kNameDoc, 1}},
        print_core_event}},
      {"deployments.apps",
       {{name_column(), col("Ready", "Number of the pod with ready state"),
         col("Up-to-date",
             "Total number of non-terminated pods targeted by this deployment that have the "
             "desired template spec."),
         col("Available",
             "Total number of available pods (ready for at least minReadySeconds) targeted by this "
             "deployment."),
         age_column(), col("Containers", kTemplateNames, 1), col("Images", kTemplateImages, 1),
         col("Selector", "Label selector for pods.", 1)},
        print_deployment}},
      {"replicasets.apps",
       {{name_column(), col("Desired", "Replicas is the number of desired replicas.", 0, "integer"),
         col("Current", "Replicas is the most recently observed number of replicas.", 0, "integer"),
         col("Ready", "The number of ready replicas for this replica set.", 0, "integer"),
         age_column(), col("Containers", kTemplateNames, 1), col("Images", kTemplateImages, 1),
         col("Selector", "Selector is a label query over pods that should match the replica count.",
             1)},
        print_replica_set}},
      {"leases.coordination.k8s.io",
       {{name_column(),
         col("Holder", "holderIdentity contains the identity of the holder of a current lease."),
         age_column()},
        print_lease}},
      {"endpointslices.discovery.k8s.io",
       {{name_column(),
         col("AddressType",
             "addressType specifies the type of address carried by this EndpointSlice."),
         col("Ports",
             "ports specifies the list of network ports exposed by each endpoint in this slice."),
         col("Endpoints", "endpoints is a list of unique endpoints in this slice."), age_column()},
        print_endpoint_slice}},
      {"customresourcedefinitions.apiextensions.k8s.io", {default_columns(), print_default}},
  };
  return printers;
}

// The events.k8s.io printer shares the core columns; kept apart so the map
// above stays keyed by group/resource only.
const Printer& printer_for(const ResourceInfo& info) {
  static const Printer kDefault{default_columns(), print_default};
  static const Printer kEventsV1{builtin_printers().at("events").columns, print_events_v1_event};
  const std::string gr = info.group_resource();
  if (gr == "events.events.k8s.io") {
    return kEventsV1;
  }
  auto it = builtin_printers().find(gr);
  return it == builtin_printers().end() ? kDefault : it->second;
}

// ---- Custom resources ------------------------------------------------------

// apiextensions tableconvertor.cellForJSONValue.
json cell_for_json_value(const std::string& type, const json& value, Clock::time_point now) {
  if (value.is_null()) {
    return nullptr;
  }
  if (type == "integer") {
    if (value.is_number_integer()) {
      return value;
    }
    if (value.is_number_float()) {
      return static_cast<long long>(value.get<double>());
    }
  } else if (type == "number") {
    if (value.is_number()) {
      return value.get<double>();
    }
  } else if (type == "boolean") {
    if (value.is_boolean()) {
      return value;
    }
  } else if (type == "date") {
    if (value.is_string()) {
      const std::string& s = value.get_ref<const std::string&>();
      if (s.empty() || s == "null") {
        return "<unknown>";
      }
      auto t = parse_rfc3339(s);
      if (!t) {
        return "<invalid>";
      }
      return human_duration(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
    }
  }
  return nullptr;
}

std::vector<PrinterColumn> custom_columns(const ResourceInfo& info) {
  if (!info.printer_columns.empty()) {
    return info.printer_columns;
  }
  // serveDefaultColumnsIfEmpty
  PrinterColumn age;
  age.name = "Age";
  age.type = "date";
  age.description = kCreationTimestampDoc;
  age.json_path = ".metadata.creationTimestamp";
  return {age};
}

json column_json(const Column& c) {
  return {{"name", c.name},
          {"type", c.type},
          {"format", c.format},
          {"description", c.description},
          {"priority", c.priority}};
}

json row_object(const json& obj, std::string_view include_object) {
  if (include_object == "None") {
    return nullptr;
  }
  if (include_object == "Object") {
    return obj;
  }
  return {
      {"kind", "PartialObjectMetadata"},
      {"apiVersion", "meta.k8s.io/v1"},
      {"metadata", obj.is_object() && obj.contains("metadata") ? obj["metadata"] : json::object()}};
}

}  // namespace

std::string human_duration(std::chrono::seconds d) {
  const long long seconds = d.count();
  if (seconds < -1) {
    return "<invalid>";
  }
  if (seconds < 0) {
    return "0s";
  }
  if (seconds < 60LL * 2) {
    return std::to_string(seconds) + "s";
  }
  const long long minutes = seconds / 60;
  if (minutes < 10) {
    long long s = seconds % 60;
    return s == 0 ? std::to_string(minutes) + "m"
                  : std::to_string(minutes) + "m" + std::to_string(s) + "s";
  }
  if (minutes < 60LL * 3) {
    return std::to_string(minutes) + "m";
  }
  const long long hours = seconds / 3600;
  if (hours < 8) {
    long long m = minutes % 60;
    return m == 0 ? std::to_string(hours) + "h"
                  : std::to_string(hours) + "h" + std::to_string(m) + "m";
  }
  if (hours < 48) {
    return std::to_string(hours) + "h";
  }
  if (hours < 24LL * 8) {
    long long h = hours % 24;
    return h == 0 ? std::to_string(hours / 24) + "d"
                  : std::to_string(hours / 24) + "d" + std::to_string(h) + "h";
  }
  if (hours < 24LL * 365 * 2) {
    return std::to_string(hours / 24) + "d";
  }
  if (hours < 24LL * 365 * 8) {
    long long dy = (hours / 24) % 365;
    return dy == 0 ? std::to_string(hours / 24 / 365) + "y"
                   : std::to_string(hours / 24 / 365) + "y" + std::to_string(dy) + "d";
  }
  return std::to_string(hours / 24 / 365) + "y";
}

std::optional<Clock::time_point> parse_rfc3339(std::string_view s) {
  auto digits = [&](size_t pos, size_t n) -> std::optional<int> {
    if (pos + n > s.size()) {
      return std::nullopt;
    }
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') {
        return std::nullopt;
      }
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2), mi = digits(14, 2),
       se = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !se || *mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 ||
      *mi > 59 || *se > 60) {
    return std::nullopt;
  }
  size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    long long ns = 0;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 9) {
        ns = ns * 10 + (s[pos] - '0');
        ++n;
      }
      ++pos;
    }
    if (n == 0) {
      return std::nullopt;
    }
    while (n++ < 9) {
      ns *= 10;
    }
    frac = std::chrono::nanoseconds(ns);
  }
  std::chrono::minutes offset{0};
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || pos + 3 >= s.size() || s[pos + 3] != ':') {
      return std::nullopt;
    }
    offset = std::chrono::minutes(*oh * 60 + *om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) {
    return std::nullopt;
  }
  using namespace std::chrono;
  year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  auto tp = sys_days{ymd} + hours{*h} + minutes{*mi} + seconds{*se} - offset;
  return time_point_cast<Clock::duration>(tp + frac);
}

std::string age_since(const json& timestamp, Clock::time_point now) {
  if (!timestamp.is_string()) {
    return "<unknown>";
  }
  auto t = parse_rfc3339(timestamp.get_ref<const std::string&>());
  if (!t) {
    return "<unknown>";
  }
  return human_duration(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
}

bool is_valid_include_object(std::string_view include_object) {
  return include_object.empty() || include_object == "None" || include_object == "Metadata" ||
         include_object == "Object";
}

json to_table(const ResourceInfo& info, const std::vector<json>& objects,
              std::string_view include_object, Clock::time_point now) {
  json columns = json::array();
  json rows = json::array();
  if (info.custom) {
    std::vector<PrinterColumn> cols = custom_columns(info);
    columns.push_back(column_json(name_column()));
    for (const PrinterColumn& c : cols) {
      std::string desc =
          c.description.empty()
              ? "Custom resource definition column (in JSONPath format): " + c.json_path
              : c.description;
      columns.push_back(column_json({c.name, c.type, c.format, desc, c.priority}));
    }
    for (const json& obj : objects) {
      json cells = json::array({text(obj, "metadata.name")});
      for (const PrinterColumn& c : cols) {
        std::vector<json> found = jsonpath_eval(obj, c.json_path);
        // Only the first match counts, as in the real convertor.
        if (found.empty() || found[0].is_null()) {
          cells.push_back(nullptr);
        } else if (c.type == "string") {
          cells.push_back(jsonpath_print_value(found[0]));
        } else {
          cells.push_back(cell_for_json_value(c.type, found[0], now));
        }
      }
      rows.push_back({{"cells", std::move(cells)}, {"object", row_object(obj, include_object)}});
    }
  } else {
    const Printer& printer = printer_for(info);
    for (const Column& c : printer.columns) {
      columns.push_back(column_json(c));
    }
    for (const json& obj : objects) {
      Row row = printer.row(obj, now);
      json r = {{"cells", std::move(row.cells)}, {"object", row_object(obj, include_object)}};
      if (!row.conditions.is_null()) {
        r["conditions"] = std::move(row.conditions);
      }
      rows.push_back(std::move(r));
    }
  }
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", json::object()},
          {"columnDefinitions", std::move(columns)},
          {"rows", std::move(rows)}};
}

}  // namespace kubesim
