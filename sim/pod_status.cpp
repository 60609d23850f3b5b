#include "sim/pod_status.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "common/quantity.h"
#include "sim/json_access.h"
#include "sim/names.h"

namespace kubesim {
namespace {

// Pod condition types (k8s.io/api/core/v1 PodConditionType).
constexpr std::string_view kReadyToStart = "PodReadyToStartContainers";
constexpr std::string_view kInitialized = "Initialized";
constexpr std::string_view kReady = "Ready";
constexpr std::string_view kContainersReady = "ContainersReady";
constexpr std::string_view kScheduled = "PodScheduled";
constexpr std::string_view kDisruptionTarget = "DisruptionTarget";
// kubetypes.PodConditionByKubelet: the kubelet regenerates these on every sync.
constexpr std::array<std::string_view, 5> kKubeletConditions = {kReadyToStart, kInitialized, kReady,
                                                                kContainersReady, kScheduled};

// Condition reasons and messages (pkg/kubelet/status/generate.go).
constexpr std::string_view kPodCompleted = "PodCompleted";
constexpr std::string_view kPodFailed = "PodFailed";
constexpr std::string_view kContainersNotReady = "ContainersNotReady";
constexpr std::string_view kUnreadyPrefix = "containers with unready status: ";
constexpr std::string_view kReadinessGatesNotReady = "ReadinessGatesNotReady";
// Scheduler (framework.Unschedulable / v1.PodReasonUnschedulable).
constexpr std::string_view kUnschedulable = "Unschedulable";

// Pod phases (v1.PodPhase).
constexpr std::string_view kPending = "Pending";
constexpr std::string_view kRunning = "Running";
constexpr std::string_view kSucceeded = "Succeeded";
constexpr std::string_view kFailed = "Failed";

// Waiting reasons of containers not yet started (kubelet_pods.go).
constexpr std::string_view kContainerCreating = "ContainerCreating";
constexpr std::string_view kPodInitializing = "PodInitializing";
// Terminated reasons: containerd reports these for an exit code of 0 / other.
constexpr std::string_view kCompleted = "Completed";
constexpr std::string_view kError = "Error";
// status_manager.go TerminatePod: a container the kubelet never saw exit.
constexpr std::string_view kStatusUnknownReason = "ContainerStatusUnknown";
constexpr std::string_view kStatusUnknownMessage =
    "The container could not be located when the pod was terminated";
constexpr int kStatusUnknownExitCode = 137;

// Who sets DisruptionTarget, with their words.
// pkg/kubelet/nodeshutdown: nodeShutdownReason / nodeShutdownMessage.
constexpr std::string_view kNodeShutdownReason = "Terminated";
constexpr std::string_view kNodeShutdownMessage =
    "Pod was terminated in response to imminent node shutdown.";
constexpr std::string_view kTerminationByKubelet = "TerminationByKubelet";
// pkg/controller/tainteviction addConditionAndDeletePod.
constexpr std::string_view kDeletionByTaintManager = "DeletionByTaintManager";
constexpr std::string_view kTaintManagerMessage = "Taint manager: deleting due to NoExecute taint";
// pkg/controller/podgc gcOrphaned.
constexpr std::string_view kDeletionByPodGC = "DeletionByPodGC";
constexpr std::string_view kPodGCMessage = "PodGC: node no longer exists";

// containerd's CRI prefixes container IDs with its runtime name.
constexpr std::string_view kContainerdScheme = "containerd://";
// distribution/reference normalisation, as containerd reports image names.
constexpr std::string_view kDefaultDomain = "docker.io";
constexpr std::string_view kLegacyDefaultDomain = "index.docker.io";
constexpr std::string_view kOfficialRepoPrefix = "library/";
constexpr std::string_view kDefaultTag = "latest";
constexpr std::string_view kLocalhost = "localhost";

// QoS is computed over these resources only (qos.isSupportedQoSComputeResource).
constexpr std::array<std::string_view, 2> kQosResources = {"cpu", "memory"};

// ---- Small JSON helpers -----------------------------------------------------

const json& prev_status(const json& pod) { return object_at(pod, "status"); }

std::string pod_uid(const json& pod) { return string_at(object_at(pod, "metadata"), "uid"); }

const json& spec_containers(const json& pod) {
  return array_at(object_at(pod, "spec"), "containers");
}

const json& spec_init_containers(const json& pod) {
  return array_at(object_at(pod, "spec"), "initContainers");
}

// An init container with restartPolicy Always is a sidecar: it keeps running.
bool is_sidecar(const json& container) { return string_at(container, "restartPolicy") == "Always"; }

bool is_terminal_phase(std::string_view phase) { return phase == kSucceeded || phase == kFailed; }

// The previous status of a container, by name, from statuses_key of status.
const json* prev_container(const json& pod, std::string_view statuses_key, std::string_view name) {
  for (const json& c : array_at(prev_status(pod), statuses_key)) {
    if (string_at(c, "name") == name) return &c;
  }
  return nullptr;
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

// ---- Images -----------------------------------------------------------------

struct ImageRef {
  std::string name;  // domain/path
  std::string tag;
  std::string digest;  // "sha256:..."
};

ImageRef parse_image(std::string_view image) {
  ImageRef ref;
  std::string rest(image);
  if (size_t at = rest.find('@'); at != std::string::npos) {
    ref.digest = rest.substr(at + 1);
    rest.resize(at);
  }
  size_t last_slash = rest.rfind('/');
  size_t last_colon = rest.rfind(':');
  if (last_colon != std::string::npos &&
      (last_slash == std::string::npos || last_colon > last_slash)) {
    ref.tag = rest.substr(last_colon + 1);
    rest.resize(last_colon);
  }
  std::string domain(kDefaultDomain);
  std::string path = rest;
  // The first component is a registry when it looks like a host name.
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    std::string first = rest.substr(0, slash);
    if (first.find_first_of(".:") != std::string::npos || first == kLocalhost) {
      domain = first;
      path = rest.substr(slash + 1);
    }
  }
  if (domain == kLegacyDefaultDomain) domain = kDefaultDomain;
  if (domain == kDefaultDomain && path.find('/') == std::string::npos) {
    path = std::string(kOfficialRepoPrefix) + path;
  }
  ref.name = domain + "/" + path;
  return ref;
}

// ---- Container states -------------------------------------------------------

enum class Run { kWaiting, kRunning, kTerminated };

// What one container is doing, before it is rendered as a ContainerStatus.
struct ContainerState {
  Run run = Run::kWaiting;
  std::string waiting_reason;
  TimePoint started_at{};
  TimePoint finished_at{};
  int exit_code = 0;
  std::string reason;   // terminated
  std::string message;  // terminated
  bool ready = false;
  bool never_ran = false;  // terminated without a container: TerminatePod's stand-in
  bool restarted = false;  // this state follows a restart: restartCount + 1
  json last_state;         // set with `restarted`: the exit that caused it
};

using StateOf = std::function<ContainerState(const json& spec, const json* prev)>;

// startedAt of the container's current run, if the previous status has it running.
std::optional<TimePoint> prev_started_at(const json* prev) {
  if (!prev) return std::nullopt;
  std::string text = string_at(object_at(object_at(*prev, "state"), "running"), "startedAt");
  TimePoint t;
  if (!text.empty() && parse_rfc3339(text, t)) return t;
  return std::nullopt;
}

int prev_restart_count(const json* prev) {
  if (!prev) return 0;
  auto it = prev->find("restartCount");
  return it != prev->end() && it->is_number_integer() ? it->get<int>() : 0;
}

json volume_mount_statuses(const json& spec) {
  json out = json::array();
  for (const json& m : array_at(spec, "volumeMounts")) {
    json v = {{"name", string_at(m, "name")}, {"mountPath", string_at(m, "mountPath")}};
    if (m.value("readOnly", false)) {
      v["readOnly"] = true;
      // Recursive read-only needs runtime support kubesim does not claim.
      v["recursiveReadOnly"] = "Disabled";
    }
    out.push_back(std::move(v));
  }
  return out;
}

json render_container(const json& pod, const json& spec, const json* prev,
                      const ContainerState& s) {
  const std::string name = string_at(spec, "name");
  const std::string image = string_at(spec, "image");
  int restart_count = prev_restart_count(prev) + (s.restarted ? 1 : 0);
  json last_state = json::object();
  if (s.restarted) {
    last_state = s.last_state;
  } else if (prev && object_at(*prev, "lastState").is_object()) {
    last_state = object_at(*prev, "lastState");
  }

  json out = {{"name", name},
              {"restartCount", restart_count},
              {"lastState", last_state},
              {"ready", s.ready},
              {"started", s.run == Run::kRunning}};
  bool created = s.run != Run::kWaiting && !s.never_ran;
  // Until the runtime has the container, the kubelet echoes the spec's image.
  out["image"] = created ? normalized_image(image) : image;
  out["imageID"] = created ? image_id(image) : "";
  std::string id = created ? container_id(pod_uid(pod), name, restart_count) : "";
  if (!id.empty()) out["containerID"] = id;

  switch (s.run) {
    case Run::kWaiting:
      out["state"] = {{"waiting", {{"reason", s.waiting_reason}}}};
      break;
    case Run::kRunning:
      out["state"] = {{"running", {{"startedAt", rfc3339(s.started_at)}}}};
      break;
    case Run::kTerminated: {
      json t = {{"exitCode", s.exit_code}, {"reason", s.reason}};
      if (s.never_ran) {
        // metav1.Time zero values serialise as null.
        t["startedAt"] = nullptr;
        t["finishedAt"] = nullptr;
      } else {
        t["startedAt"] = rfc3339(s.started_at);
        t["finishedAt"] = rfc3339(s.finished_at);
        t["containerID"] = id;
      }
      if (!s.message.empty()) t["message"] = s.message;
      out["state"] = {{"terminated", std::move(t)}};
      break;
    }
  }
  json mounts = volume_mount_statuses(spec);
  if (!mounts.empty()) out["volumeMounts"] = std::move(mounts);
  return out;
}

// A run-to-completion init container, reported as done when the pod started.
ContainerState completed_init(const PodPlacement& where) {
  ContainerState s;
  s.run = Run::kTerminated;
  s.started_at = s.finished_at = where.start_time;
  s.reason = kCompleted;
  s.ready = true;  // a succeeded init container is ready (prober_manager.go)
  return s;
}

struct RenderedContainers {
  json statuses = json::array();       // sorted by name (kubetypes.SortedContainerStatuses)
  json init_statuses = json::array();  // in spec order
  // Names of not-ready containers in the order generate.go lists them:
  // sidecars first, then regular containers, each in spec order.
  std::vector<std::string> unready;
  int terminated = 0;
  int succeeded = 0;
};

RenderedContainers render_containers(const json& pod, const PodPlacement& where,
                                     const StateOf& state_of) {
  RenderedContainers r;
  for (const json& spec : spec_init_containers(pod)) {
    const json* prev = prev_container(pod, "initContainerStatuses", string_at(spec, "name"));
    ContainerState s = is_sidecar(spec) ? state_of(spec, prev) : completed_init(where);
    if (is_sidecar(spec) && !s.ready) r.unready.push_back(string_at(spec, "name"));
    r.init_statuses.push_back(render_container(pod, spec, prev, s));
  }
  std::vector<json> statuses;
  for (const json& spec : spec_containers(pod)) {
    const json* prev = prev_container(pod, "containerStatuses", string_at(spec, "name"));
    ContainerState s = state_of(spec, prev);
    if (!s.ready) r.unready.push_back(string_at(spec, "name"));
    if (s.run == Run::kTerminated) {
      ++r.terminated;
      if (s.exit_code == 0) ++r.succeeded;
    }
    statuses.push_back(render_container(pod, spec, prev, s));
  }
  std::sort(statuses.begin(), statuses.end(), [](const json& a, const json& b) {
    return a["name"].get<std::string>() < b["name"].get<std::string>();
  });
  for (json& s : statuses) r.statuses.push_back(std::move(s));
  return r;
}

// ---- Conditions -------------------------------------------------------------

json condition(std::string_view type, bool status, std::string_view reason = {},
               std::string_view message = {}) {
  json c = {{"type", type}, {"status", status ? "True" : "False"}, {"lastProbeTime", nullptr}};
  if (!reason.empty()) c["reason"] = reason;
  if (!message.empty()) c["message"] = message;
  return c;
}

bool is_kubelet_condition(std::string_view type) {
  return std::find(kKubeletConditions.begin(), kKubeletConditions.end(), type) !=
         kKubeletConditions.end();
}

const json* find_condition(const json& conditions, std::string_view type) {
  for (const json& c : conditions) {
    if (string_at(c, "type") == type) return &c;
  }
  return nullptr;
}

// lastTransitionTime moves only when the status flips (updateLastTransitionTime).
void stamp_transition(json& c, const json& prev_conditions, TimePoint now) {
  const json* old = find_condition(prev_conditions, string_at(c, "type"));
  if (old && string_at(*old, "status") == string_at(c, "status") &&
      !string_at(*old, "lastTransitionTime").empty()) {
    c["lastTransitionTime"] = (*old)["lastTransitionTime"];
  } else {
    c["lastTransitionTime"] = rfc3339(now);
  }
}

// "[a b]", as Go prints a []string.
std::string go_list(const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ' ';
    out += names[i];
  }
  return out + "]";
}

// GenerateContainersReadyCondition.
json containers_ready(std::string_view phase, const std::vector<std::string>& unready) {
  if (phase == kSucceeded) return condition(kContainersReady, false, kPodCompleted);
  if (phase == kFailed) return condition(kContainersReady, false, kPodFailed);
  if (!unready.empty()) {
    return condition(kContainersReady, false, kContainersNotReady,
                     std::string(kUnreadyPrefix) + go_list(unready));
  }
  return condition(kContainersReady, true);
}

// GeneratePodReadyCondition: ContainersReady, then the pod's readiness gates.
json pod_ready(const json& pod, const json& containers_ready_condition,
               const json& prev_conditions) {
  json c = containers_ready_condition;
  c["type"] = kReady;
  if (c["status"] != "True") return c;
  std::vector<std::string> problems;
  for (const json& gate : array_at(object_at(pod, "spec"), "readinessGates")) {
    std::string type = string_at(gate, "conditionType");
    const json* found = find_condition(prev_conditions, type);
    if (!found) {
      problems.push_back("corresponding condition of pod readiness gate \"" + type +
                         "\" does not exist.");
    } else if (string_at(*found, "status") != "True") {
      problems.push_back("the status of pod readiness gate \"" + type + "\" is not \"True\", but " +
                         string_at(*found, "status"));
    }
  }
  if (problems.empty()) return c;
  std::string message;
  for (size_t i = 0; i < problems.size(); ++i) message += (i ? ", " : "") + problems[i];
  return condition(kReady, false, kReadinessGatesNotReady, message);
}

// The kubelet's condition list: conditions it does not own first (as they
// are), then its own in generateAPIPodStatus order, then `appended` (a
// DisruptionTarget the kubelet adds as the pod turns terminal).
json kubelet_conditions(const json& pod, std::string_view phase, bool sandbox_ready,
                        const std::vector<std::string>& unready, TimePoint now,
                        const std::optional<json>& appended = std::nullopt) {
  const json& prev = array_at(prev_status(pod), "conditions");
  json out = json::array();
  for (const json& c : prev) {
    std::string type = string_at(c, "type");
    if (is_kubelet_condition(type)) continue;
    if (appended && type == string_at(*appended, "type")) continue;
    out.push_back(c);
  }
  json cready = containers_ready(phase, unready);
  json mine = json::array();
  mine.push_back(condition(kReadyToStart, sandbox_ready));
  mine.push_back(phase == kSucceeded ? condition(kInitialized, true, kPodCompleted)
                                     : condition(kInitialized, true));
  mine.push_back(pod_ready(pod, cready, prev));
  mine.push_back(cready);
  mine.push_back(condition(kScheduled, true));
  if (appended) mine.push_back(*appended);
  for (json& c : mine) {
    stamp_transition(c, prev, now);
    out.push_back(std::move(c));
  }
  return out;
}

// podutil.UpdatePodCondition: replace the condition of the same type in place,
// or append it; the transition time moves only if the status changed.
void update_condition(json& status, json c, TimePoint now) {
  json& conditions = status["conditions"];
  if (!conditions.is_array()) conditions = json::array();
  stamp_transition(c, conditions, now);
  for (json& existing : conditions) {
    if (string_at(existing, "type") == string_at(c, "type")) {
      existing = std::move(c);
      return;
    }
  }
  conditions.push_back(std::move(c));
}

// ---- Whole status -----------------------------------------------------------

struct Shape {
  bool sandbox_ready = true;
  StateOf state_of;
  // Phase from the rendered containers (getPhase for the step at hand).
  std::function<std::string(const RenderedContainers&)> phase_of;
  std::optional<json> disruption;  // appended DisruptionTarget, if any
  std::string reason;              // status.reason / status.message
  std::string message;
};

json kubelet_status(const json& pod, const PodPlacement& where, const Shape& shape, TimePoint now) {
  RenderedContainers rendered = render_containers(pod, where, shape.state_of);
  std::string phase = shape.phase_of(rendered);
  json status = {{"phase", phase},
                 {"qosClass", pod_qos_class(pod)},
                 {"conditions", kubelet_conditions(pod, phase, shape.sandbox_ready,
                                                   rendered.unready, now, shape.disruption)},
                 {"containerStatuses", std::move(rendered.statuses)},
                 {"startTime", rfc3339(where.start_time)}};
  if (!rendered.init_statuses.empty()) {
    status["initContainerStatuses"] = std::move(rendered.init_statuses);
  }
  if (!where.host_ip.empty()) {
    status["hostIP"] = where.host_ip;
    status["hostIPs"] = json::array({{{"ip", where.host_ip}}});
  }
  if (!where.pod_ip.empty()) {
    status["podIP"] = where.pod_ip;
    status["podIPs"] = json::array({{{"ip", where.pod_ip}}});
  }
  if (!shape.reason.empty()) status["reason"] = shape.reason;
  if (!shape.message.empty()) status["message"] = shape.message;
  return status;
}

std::string waiting_reason(const json& pod) {
  return std::string(spec_init_containers(pod).empty() ? kContainerCreating : kPodInitializing);
}

// The exit of a container that was running (or had already exited: the
// kubelet keeps a terminated status as it was).
ContainerState exited(const json* prev, int exit_code, std::string_view reason,
                      TimePoint finished_at) {
  if (prev) {
    const json& t = object_at(object_at(*prev, "state"), "terminated");
    if (t.is_object()) {
      ContainerState s;
      s.run = Run::kTerminated;
      s.exit_code = t.value("exitCode", 0);
      s.reason = string_at(t, "reason");
      s.message = string_at(t, "message");
      s.never_ran = string_at(t, "containerID").empty();
      TimePoint when;
      if (parse_rfc3339(string_at(t, "startedAt"), when)) s.started_at = when;
      if (parse_rfc3339(string_at(t, "finishedAt"), when)) s.finished_at = when;
      return s;
    }
  }
  ContainerState s;
  s.run = Run::kTerminated;
  std::optional<TimePoint> started = prev_started_at(prev);
  if (!started) {
    // Never started: TerminatePod reports it as a failure it could not see.
    s.never_ran = true;
    s.exit_code = kStatusUnknownExitCode;
    s.reason = kStatusUnknownReason;
    s.message = kStatusUnknownMessage;
    return s;
  }
  s.started_at = *started;
  s.finished_at = finished_at;
  s.exit_code = exit_code;
  s.reason = reason.empty() ? exit_reason(exit_code) : std::string(reason);
  return s;
}

std::string phase_by_exit_codes(const RenderedContainers& r) {
  return std::string(r.terminated == r.succeeded ? kSucceeded : kFailed);
}

}  // namespace

// ---- Pieces -----------------------------------------------------------------

std::string pod_qos_class(const json& pod) {
  std::map<std::string, int64_t> requests, limits;
  bool guaranteed = true;
  auto quantity = [](const json& list, std::string_view name) -> std::optional<int64_t> {
    if (!list.is_object()) return std::nullopt;
    auto it = list.find(name);
    if (it == list.end()) return std::nullopt;
    std::string text = it->is_string() ? it->get<std::string>() : it->dump();
    auto milli = frugal::parse_quantity_milli(text);
    return milli ? std::optional<int64_t>(*milli) : std::nullopt;
  };
  auto visit = [&](const json& container) {
    const json& resources = object_at(container, "resources");
    const json& req = object_at(resources, "requests");
    const json& lim = object_at(resources, "limits");
    int limits_found = 0;
    for (std::string_view name : kQosResources) {
      std::optional<int64_t> r = quantity(req, name);
      std::optional<int64_t> l = quantity(lim, name);
      // API defaulting (SetDefaults_Pod): a limit without a request sets both.
      if (!r) r = l;
      if (r && *r > 0) requests[std::string(name)] += *r;
      if (l && *l > 0) {
        limits[std::string(name)] += *l;
        ++limits_found;
      }
    }
    if (limits_found != static_cast<int>(kQosResources.size())) guaranteed = false;
  };
  for (const json& c : spec_containers(pod)) visit(c);
  for (const json& c : spec_init_containers(pod)) visit(c);

  if (requests.empty() && limits.empty()) return "BestEffort";
  if (guaranteed) {
    for (const auto& [name, req] : requests) {
      auto it = limits.find(name);
      if (it == limits.end() || it->second != req) {
        guaranteed = false;
        break;
      }
    }
  }
  return guaranteed && requests.size() == limits.size() ? "Guaranteed" : "Burstable";
}

std::string container_id(std::string_view uid, std::string_view container, int restart_count) {
  std::string seed =
      std::string(uid) + "/" + std::string(container) + "/" + std::to_string(restart_count);
  return std::string(kContainerdScheme) + sha256_hex(seed);
}

std::string normalized_image(std::string_view image) {
  ImageRef ref = parse_image(image);
  std::string out = ref.name;
  if (!ref.tag.empty() || ref.digest.empty()) {
    out += ":" + (ref.tag.empty() ? std::string(kDefaultTag) : ref.tag);
  }
  if (!ref.digest.empty()) out += "@" + ref.digest;
  return out;
}

std::string image_id(std::string_view image) {
  ImageRef ref = parse_image(image);
  if (!ref.digest.empty()) return ref.name + "@" + ref.digest;
  return ref.name + "@sha256:" + sha256_hex(normalized_image(image));
}

std::string exit_reason(int exit_code) { return std::string(exit_code == 0 ? kCompleted : kError); }

bool restarts_after_exit(const json& pod, int exit_code) {
  std::string policy = string_at(object_at(pod, "spec"), "restartPolicy");
  if (policy == "Never") return false;
  if (policy == "OnFailure") return exit_code != 0;
  return true;  // Always, the default
}

json scheduled_condition(TimePoint now) {
  json c = condition(kScheduled, true);
  c["lastTransitionTime"] = rfc3339(now);
  return c;
}

json unschedulable_condition(const std::string& message, TimePoint now) {
  json c = condition(kScheduled, false, kUnschedulable, message);
  c["lastTransitionTime"] = rfc3339(now);
  return c;
}

// ---- Steps ------------------------------------------------------------------

json status_creating(const json& pod, const PodPlacement& where, TimePoint now) {
  std::string reason = waiting_reason(pod);
  Shape shape;
  shape.sandbox_ready = !where.pod_ip.empty();
  shape.state_of = [&](const json&, const json*) {
    ContainerState s;
    s.waiting_reason = reason;
    return s;
  };
  shape.phase_of = [](const RenderedContainers&) { return std::string(kPending); };
  return kubelet_status(pod, where, shape, now);
}

json status_running(const json& pod, const PodPlacement& where, TimePoint started_at, TimePoint now,
                    bool ready) {
  Shape shape;
  shape.state_of = [&](const json&, const json* prev) {
    ContainerState s;
    s.run = Run::kRunning;
    s.started_at = prev_started_at(prev).value_or(started_at);
    s.ready = ready;
    return s;
  };
  shape.phase_of = [](const RenderedContainers&) { return std::string(kRunning); };
  return kubelet_status(pod, where, shape, now);
}

json status_terminated(const json& pod, const PodPlacement& where, int exit_code,
                       TimePoint finished_at, std::string_view reason) {
  Shape shape;
  shape.sandbox_ready = false;
  shape.state_of = [&](const json&, const json* prev) {
    return exited(prev, exit_code, reason, finished_at);
  };
  shape.phase_of = phase_by_exit_codes;
  return kubelet_status(pod, where, shape, finished_at);
}

json status_restarted(const json& pod, const PodPlacement& where, int exit_code,
                      TimePoint finished_at, TimePoint restarted_at, bool ready) {
  Shape shape;
  shape.state_of = [&](const json& spec, const json* prev) {
    ContainerState exit = exited(prev, exit_code, {}, finished_at);
    ContainerState s;
    s.run = Run::kRunning;
    s.started_at = restarted_at;
    s.ready = ready;
    s.restarted = true;
    json t = {{"exitCode", exit.exit_code},
              {"reason", exit.reason},
              {"startedAt", rfc3339(exit.started_at)},
              {"finishedAt", rfc3339(exit.finished_at)},
              {"containerID",
               container_id(pod_uid(pod), string_at(spec, "name"), prev_restart_count(prev))}};
    s.last_state = {{"terminated", std::move(t)}};
    return s;
  };
  shape.phase_of = [](const RenderedContainers&) { return std::string(kRunning); };
  return kubelet_status(pod, where, shape, restarted_at);
}

json status_stopped(const json& pod, const PodPlacement& where, int exit_code,
                    TimePoint finished_at) {
  Shape shape;
  shape.sandbox_ready = false;
  shape.state_of = [&](const json&, const json* prev) {
    return exited(prev, exit_code, {}, finished_at);
  };
  shape.phase_of = phase_by_exit_codes;
  return kubelet_status(pod, where, shape, finished_at);
}

json status_disrupted(const json& pod, const PodPlacement& where, Disruption why, int exit_code,
                      TimePoint now) {
  const json& prev = prev_status(pod);
  std::string prev_phase = string_at(prev, "phase");
  switch (why) {
    case Disruption::kNodeShutdown: {
      // The shutdown manager only kills active pods.
      if (is_terminal_phase(prev_phase)) return prev;
      Shape shape;
      shape.sandbox_ready = false;
      shape.state_of = [&](const json&, const json* prev_c) {
        return exited(prev_c, exit_code, {}, now);
      };
      shape.phase_of = [](const RenderedContainers&) { return std::string(kFailed); };
      shape.disruption =
          condition(kDisruptionTarget, true, kTerminationByKubelet, kNodeShutdownMessage);
      shape.reason = kNodeShutdownReason;
      shape.message = kNodeShutdownMessage;
      return kubelet_status(pod, where, shape, now);
    }
    case Disruption::kTaintEviction: {
      json status = prev.is_object() ? prev : json::object();
      // Node lifecycle controller, MarkPodsNotReady: only Ready's status flips.
      if (const json* ready = find_condition(array_at(status, "conditions"), kReady)) {
        json c = *ready;
        c["status"] = "False";
        update_condition(status, std::move(c), now);
      }
      update_condition(
          status, condition(kDisruptionTarget, true, kDeletionByTaintManager, kTaintManagerMessage),
          now);
      return status;
    }
    case Disruption::kNodeDeleted: {
      // markFailedAndDeletePodWithCondition patches only non-terminal pods.
      if (is_terminal_phase(prev_phase)) return prev;
      json status = prev.is_object() ? prev : json::object();
      status["phase"] = kFailed;
      update_condition(status, condition(kDisruptionTarget, true, kDeletionByPodGC, kPodGCMessage),
                       now);
      return status;
    }
  }
  return prev;
}

}  // namespace kubesim
