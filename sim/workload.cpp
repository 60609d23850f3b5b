#include "sim/workload.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>

#include "sim/go_format.h"
#include "sim/json_access.h"

namespace kubesim {
namespace {

// Annotation names, after kWorkloadAnnotationPrefix.
constexpr std::string_view kStartupSeconds = "startup-seconds";
constexpr std::string_view kWorkSeconds = "work-seconds";
constexpr std::string_view kExitCode = "exit-code";
constexpr std::string_view kCheckpointEvery = "checkpoint-every-seconds";
constexpr std::string_view kCheckpointOnSigterm = "checkpoint-on-sigterm";
constexpr std::string_view kModelServer = "model-server";
constexpr std::string_view kModelLatencyMs = "model-latency-ms";
constexpr std::string_view kModelMaxConcurrency = "model-max-concurrency";
constexpr std::string_view kCheckpointDir = "checkpoint-dir";

// A process exit status is one byte.
constexpr int kMaxExitCode = 255;
// Below this many sim seconds two times or amounts of work are the same:
// absorbs binary rounding at exact checkpoint multiples (0.1 * 3 vs 0.3).
constexpr double kEpsilon = 1e-9;

// Pod-private locations; see CheckpointLocation.
constexpr std::string_view kPodKeyPrefix = "pod:";
constexpr std::string_view kNodeKeyPrefix = "node:";
constexpr std::string_view kDefaultNamespace = "default";

std::string annotation_name(std::string_view name) {
  return std::string(kWorkloadAnnotationPrefix) + std::string(name);
}

std::string invalid(std::string_view name, std::string_view value, std::string_view why) {
  return "invalid annotation " + annotation_name(name) + "=" + go_quote(value) + ": " +
         std::string(why);
}

std::optional<double> parse_number(std::string_view text) {
  double v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<int> parse_int(std::string_view text) {
  int v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end) return std::nullopt;
  return v;
}

// strconv.ParseBool's spellings.
std::optional<bool> parse_bool(std::string_view text) {
  for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (text == t) return true;
  }
  for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (text == f) return false;
  }
  return std::nullopt;
}

// Kubernetes $(VAR) expansion (third_party/forked/golang/expansion): "$$" is
// a literal "$"; a reference to an unknown variable stays as written.
std::string expand(std::string_view text,
                   const std::function<std::optional<std::string>(std::string_view)>& lookup) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size()) {
      out += text[i];
      continue;
    }
    if (text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    size_t close = text[i + 1] == '(' ? text.find(')', i + 2) : std::string_view::npos;
    if (close == std::string_view::npos) {
      out += text[i];
      continue;
    }
    std::string_view name = text.substr(i + 2, close - i - 2);
    std::optional<std::string> value = lookup(name);
    out += value ? *value : std::string(text.substr(i, close - i + 1));
    i = close;
  }
  return out;
}

// The container's env as far as literal values go, each expanded against the
// ones before it, as the kubelet does.
std::map<std::string, std::string> literal_env(const json& container) {
  std::map<std::string, std::string> env;
  for (const json& e : array_at(container, "env")) {
    if (!e.contains("value")) continue;
    env[string_at(e, "name")] = expand(string_at(e, "value"), [&](std::string_view n) {
      auto it = env.find(std::string(n));
      return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
  }
  return env;
}

bool is_within(std::string_view path, std::string_view dir) {
  if (dir == "/") return true;
  return path == dir ||
         (path.size() > dir.size() && path.substr(0, dir.size()) == dir && path[dir.size()] == '/');
}

const json* find_volume(const json& pod, std::string_view name) {
  for (const json& v : array_at(object_at(pod, "spec"), "volumes")) {
    if (string_at(v, "name") == name) return &v;
  }
  return nullptr;
}

CheckpointLocation pod_private(const json& pod, const std::string& path) {
  return {std::string(kPodKeyPrefix) + string_at(object_at(pod, "metadata"), "uid") + ":" + path,
          false};
}

// The checkpoint directory: the annotation, else the first container's env.
frugal::Expected<std::string, std::string> checkpoint_dir_of(const json& pod) {
  std::string from_annotation = string_at(object_at(object_at(pod, "metadata"), "annotations"),
                                          annotation_name(kCheckpointDir));
  if (!from_annotation.empty()) return from_annotation;
  const json& containers = array_at(object_at(pod, "spec"), "containers");
  if (containers.empty()) return std::string();
  const json& first = containers[0];
  for (const json& e : array_at(first, "env")) {
    if (string_at(e, "name") != kCheckpointDirEnv) continue;
    if (!e.contains("value")) {
      return frugal::Unexpected("env " + std::string(kCheckpointDirEnv) + " of container " +
                                go_quote(string_at(first, "name")) +
                                " is not a literal value; kubesim cannot resolve valueFrom");
    }
    return literal_env(first)[std::string(kCheckpointDirEnv)];
  }
  return std::string();
}

// Work reached at `now`: resumes where the location was, capped at the goal.
double done_at(const RunRecord& run, double now) {
  double done = run.resume_from + std::max(0.0, now - run.started_at);
  if (run.work_seconds) done = std::min(done, std::max(*run.work_seconds, run.resume_from));
  return done;
}

// The last periodic checkpoint this run has written once it reached `done`:
// the highest multiple of `every` past the resume point, else the resume point.
double periodic_checkpoint(const RunRecord& run, double done) {
  if (run.location.empty() || !run.checkpoint_every) return run.resume_from;
  double every = *run.checkpoint_every;
  double checkpoint = std::min(std::floor(done / every + kEpsilon) * every, done);
  return checkpoint > run.resume_from + kEpsilon ? checkpoint : run.resume_from;
}

// When the run reached `work`: one work-second per sim-second since it started.
double time_reached(const RunRecord& run, double work) {
  return run.started_at + (work - run.resume_from);
}

}  // namespace

std::string clean_path(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(i, slash - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.emplace_back(part);
    }
    i = slash + 1;
  }
  std::string out;
  for (const std::string& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

frugal::Expected<std::optional<CheckpointLocation>, std::string> checkpoint_location(
    const json& pod, std::string_view dir) {
  if (dir.empty()) return std::optional<CheckpointLocation>();
  if (dir.front() != '/') return frugal::Unexpected(std::string("must be an absolute path"));
  const std::string path = clean_path(dir);
  const json& containers = array_at(object_at(pod, "spec"), "containers");
  if (containers.empty()) return std::optional<CheckpointLocation>(pod_private(pod, path));
  const json& container = containers[0];

  // Nested mounts: the deepest mount containing the directory holds it.
  const json* mount = nullptr;
  std::string mount_path;
  for (const json& m : array_at(container, "volumeMounts")) {
    std::string mp = clean_path(string_at(m, "mountPath"));
    if (is_within(path, mp) && (!mount || mp.size() > mount_path.size())) {
      mount = &m;
      mount_path = mp;
    }
  }
  const json* volume = mount ? find_volume(pod, string_at(*mount, "name")) : nullptr;
  if (!volume) return std::optional<CheckpointLocation>(pod_private(pod, path));

  std::string below = mount_path == "/" ? path : path.substr(mount_path.size());
  std::string sub_path = string_at(*mount, "subPath");
  if (sub_path.empty() && mount->contains("subPathExpr")) {
    std::map<std::string, std::string> env = literal_env(container);
    sub_path = expand(string_at(*mount, "subPathExpr"), [&](std::string_view n) {
      auto it = env.find(std::string(n));
      return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
  }
  const std::string inside = clean_path("/" + sub_path + "/" + below);

  const json& claim = object_at(*volume, "persistentVolumeClaim");
  if (claim.is_object()) {
    std::string ns = string_at(object_at(pod, "metadata"), "namespace");
    if (ns.empty()) ns = kDefaultNamespace;
    return std::optional<CheckpointLocation>(
        CheckpointLocation{ns + "/" + string_at(claim, "claimName") + ":" + inside, true});
  }
  const json& host_path = object_at(*volume, "hostPath");
  if (host_path.is_object()) {
    std::string node = string_at(object_at(pod, "spec"), "nodeName");
    return std::optional<CheckpointLocation>(
        CheckpointLocation{std::string(kNodeKeyPrefix) + node + ":" +
                               clean_path(string_at(host_path, "path") + inside),
                           true});
  }
  return std::optional<CheckpointLocation>(pod_private(pod, path));
}

ParsedWorkload parse_workload(const json& pod) {
  ParsedWorkload out;
  WorkloadSpec& spec = out.spec;
  const json& annotations = object_at(object_at(pod, "metadata"), "annotations");
  auto value_of = [&](std::string_view name) -> std::optional<std::string> {
    if (!annotations.is_object()) return std::nullopt;
    auto it = annotations.find(annotation_name(name));
    if (it == annotations.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };

  auto seconds = [&](std::string_view name, bool zero_allowed) -> std::optional<double> {
    auto text = value_of(name);
    if (!text) return std::nullopt;
    auto v = parse_number(*text);
    if (v && (*v > 0 || (zero_allowed && *v == 0))) return v;
    out.errors.push_back(invalid(name, *text,
                                 zero_allowed ? "must be a non-negative number of seconds"
                                              : "must be a positive number of seconds"));
    return std::nullopt;
  };
  auto integer = [&](std::string_view name, int min, std::optional<int> max,
                     std::string_view why) -> std::optional<int> {
    auto text = value_of(name);
    if (!text) return std::nullopt;
    auto v = parse_int(*text);
    if (v && *v >= min && (!max || *v <= *max)) return v;
    out.errors.push_back(invalid(name, *text, why));
    return std::nullopt;
  };
  auto boolean = [&](std::string_view name) -> std::optional<bool> {
    auto text = value_of(name);
    if (!text) return std::nullopt;
    auto v = parse_bool(*text);
    if (!v) out.errors.push_back(invalid(name, *text, "must be true or false"));
    return v;
  };

  if (auto v = seconds(kStartupSeconds, true)) spec.startup_seconds = *v;
  spec.work_seconds = seconds(kWorkSeconds, true);
  if (auto v = integer(kExitCode, 0, kMaxExitCode, "must be an integer from 0 to 255")) {
    spec.exit_code = *v;
  }
  spec.checkpoint_every = seconds(kCheckpointEvery, false);
  if (auto v = boolean(kCheckpointOnSigterm)) spec.checkpoint_on_sigterm = *v;
  if (auto v = boolean(kModelServer)) spec.model_server = *v;
  if (auto v = integer(kModelLatencyMs, 0, std::nullopt, "must be a non-negative integer")) {
    spec.model_latency_ms = *v;
  }
  if (auto v = integer(kModelMaxConcurrency, 1, std::nullopt, "must be a positive integer")) {
    spec.model_max_concurrency = *v;
  }

  auto dir = checkpoint_dir_of(pod);
  if (!dir) {
    out.errors.push_back(dir.error());
  } else if (!dir->empty()) {
    auto location = checkpoint_location(pod, *dir);
    if (!location) {
      out.errors.push_back(value_of(kCheckpointDir)
                               ? invalid(kCheckpointDir, *dir, location.error())
                               : "invalid env " + std::string(kCheckpointDirEnv) + "=" +
                                     go_quote(*dir) + ": " + location.error());
    } else {
      spec.checkpoint_dir = *dir;
      spec.checkpoint_location = *location;
    }
  }
  return out;
}

// ---- CheckpointStore ----------------------------------------------------------

double CheckpointStore::last_checkpoint(const std::string& location) const {
  auto it = locations_.find(location);
  return it == locations_.end() ? 0 : it->second.work;
}

void CheckpointStore::save(const std::string& location, double work, double at) {
  if (location.empty()) return;
  auto [it, inserted] = locations_.try_emplace(location, Saved{work, at});
  // The file holds whatever was written last (two pods may share a claim).
  if (!inserted && at + kEpsilon >= it->second.saved_at) it->second = Saved{work, at};
}

void CheckpointStore::flush_ongoing(const std::string& location, double now) {
  for (const Log& log : runs_) {
    if (log.stopped_at || log.run.location != location) continue;
    double checkpoint = periodic_checkpoint(log.run, done_at(log.run, now));
    if (checkpoint > log.run.resume_from) {
      save(location, checkpoint, time_reached(log.run, checkpoint));
    }
  }
}

RunRecord CheckpointStore::start_run(const std::string& pod, const std::string& uid,
                                     const WorkloadSpec& spec, double now) {
  RunRecord run;
  run.id = runs_.size();
  run.started_at = now;
  run.work_seconds = spec.work_seconds;
  run.checkpoint_every = spec.checkpoint_every;
  run.checkpoint_on_sigterm = spec.checkpoint_on_sigterm;
  if (spec.checkpoint_location) {
    run.location = spec.checkpoint_location->key;
    flush_ongoing(run.location, now);
    run.resume_from = last_checkpoint(run.location);
  }
  runs_.push_back(Log{pod, uid, run, std::nullopt, {}, ""});
  return run;
}

double CheckpointStore::work_done(const RunRecord& run, double now) const {
  return done_at(run, now);
}

std::optional<double> CheckpointStore::completion_time(const RunRecord& run) const {
  if (!run.work_seconds) return std::nullopt;
  return run.started_at + std::max(0.0, *run.work_seconds - run.resume_from);
}

StopOutcome CheckpointStore::stop_run(const RunRecord& handle, double now, StopKind kind,
                                      std::string reason) {
  if (handle.id >= runs_.size()) return {};
  Log& log = runs_[handle.id];
  if (log.stopped_at) return log.outcome;
  const RunRecord& run = log.run;

  StopOutcome out;
  out.work_done = done_at(run, now);
  out.last_checkpoint = periodic_checkpoint(run, out.work_done);
  if (out.last_checkpoint > run.resume_from) {
    save(run.location, out.last_checkpoint, time_reached(run, out.last_checkpoint));
  }
  out.lost_work = std::max(0.0, out.work_done - out.last_checkpoint);
  bool final_checkpoint =
      kind == StopKind::kGraceful && run.checkpoint_on_sigterm && !run.location.empty();
  if (final_checkpoint) {
    save(run.location, out.work_done, now);
    out.last_checkpoint = out.work_done;
    out.lost_work = 0;
  }
  if (kind == StopKind::kCompleted) out.lost_work = 0;

  if (reason.empty()) {
    reason = kind == StopKind::kCompleted  ? "Completed"
             : kind == StopKind::kGraceful ? "Stopped"
                                           : "Killed";
  }
  log.stopped_at = now;
  log.outcome = out;
  log.reason = std::move(reason);
  return out;
}

json CheckpointStore::to_json(double now) const {
  json locations = json::object();
  for (const auto& [key, saved] : locations_) {
    locations[key] = {{"work", saved.work}, {"savedAt", saved.saved_at}};
  }
  json runs = json::array();
  for (const Log& log : runs_) {
    bool running = !log.stopped_at;
    double done = running ? done_at(log.run, now) : log.outcome.work_done;
    json entry = {{"pod", log.pod},
                  {"uid", log.uid},
                  {"location", log.run.location},
                  {"startedAt", log.run.started_at},
                  {"resumedFrom", log.run.resume_from},
                  {"workDone", done},
                  {"lastCheckpoint",
                   running ? periodic_checkpoint(log.run, done) : log.outcome.last_checkpoint},
                  {"running", running}};
    entry["lostWork"] = running ? json(nullptr) : json(log.outcome.lost_work);
    entry["stoppedAt"] = running ? json(nullptr) : json(*log.stopped_at);
    entry["reason"] = log.reason;
    runs.push_back(std::move(entry));
  }
  return {{"locations", std::move(locations)}, {"runs", std::move(runs)}};
}

}  // namespace kubesim
