#include "reconcilers/trainingjob_rules.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "reconcilers/policy/object_read.h"

namespace frugal::reconcilers {
namespace {

using json = kube::json;
using policy::WallTime;
using namespace policy::object_read;

int rank_of(const json& pod) { return int_label(pod, kRankLabel); }

// Enough digits that a double reads back exactly.
std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::optional<double> parse_double(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (!end || *end != '\0' || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

std::optional<WallTime> parse_time(std::string_view text) {
  const std::string s(text);
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  WallTime t = std::chrono::system_clock::from_time_t(timegm(&tm));
  size_t i = static_cast<size_t>(consumed);
  if (i < s.size() && s[i] == '.') {
    double scale = 0.1;
    double frac = 0;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, scale /= 10) {
      frac += (s[i] - '0') * scale;
    }
    t += std::chrono::duration_cast<WallTime::duration>(std::chrono::duration<double>(frac));
  }
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) return t;
  int oh = 0;
  int om = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-') &&
      std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) == 2) {
    const auto offset = std::chrono::hours(oh) + std::chrono::minutes(om);
    return s[i] == '+' ? t - offset : t + offset;
  }
  return std::nullopt;
}

PodTimes pod_times(const json& pod) {
  PodTimes t;
  t.created = parse_time(str(meta(pod), "creationTimestamp"));
  t.deleted = parse_time(str(meta(pod), "deletionTimestamp"));
  const json& status = at(pod, "status");
  const json& conditions = at(status, "conditions");
  if (conditions.is_array()) {
    for (const json& c : conditions) {
      if (str(c, "type") == "PodScheduled" && str(c, "status") == "True") {
        t.bound = parse_time(str(c, "lastTransitionTime"));
      }
    }
  }
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const json& statuses = at(status, list);
    if (!statuses.is_array()) continue;
    for (const json& cs : statuses) {
      const json& state = at(cs, "state");
      for (const char* s : {"running", "terminated"}) {
        if (auto started = parse_time(str(at(state, s), "startedAt"))) {
          if (!t.started || *started < *t.started) t.started = started;
        }
      }
      if (auto finished = parse_time(str(at(state, "terminated"), "finishedAt"))) {
        if (!t.finished || *finished > *t.finished) t.finished = finished;
      }
    }
  }
  return t;
}

std::optional<policy::PodInterval> pod_cost_interval(const json& pod, const policy::PodRate& rate) {
  const PodTimes t = pod_times(pod);
  if (!t.bound || node_of(pod).empty()) return std::nullopt;
  std::optional<WallTime> end = t.finished;
  if (!end && t.deleted) end = t.deleted;
  return policy::pod_interval(*t.bound, end, rate);
}

std::optional<policy::PodRate> recorded_rate(const json& pod) {
  const json& annotations = at(meta(pod), "annotations");
  auto hourly = parse_double(str(annotations, kHourlyAnnotation));
  auto on_demand = parse_double(str(annotations, kOnDemandHourlyAnnotation));
  auto gpus = parse_double(str(annotations, kGpusAnnotation));
  if (!hourly || !on_demand || !gpus) return std::nullopt;
  policy::PodRate r;
  r.hourly_usd = *hourly;
  r.on_demand_hourly_usd = *on_demand;
  r.gpus = static_cast<int64_t>(*gpus);
  r.source = str(annotations, kPriceSourceAnnotation) == "pricebook"
                 ? policy::PriceSource::kPriceBook
                 : policy::PriceSource::kFallback;
  return r;
}

json rate_annotations(const policy::PodRate& rate) {
  return {{kHourlyAnnotation, exact(rate.hourly_usd)},
          {kOnDemandHourlyAnnotation, exact(rate.on_demand_hourly_usd)},
          {kGpusAnnotation, std::to_string(rate.gpus)},
          {kPriceSourceAnnotation, std::string(policy::to_string(rate.source))}};
}

std::string unschedulable_message(const json& pod) {
  const json& conditions = at(at(pod, "status"), "conditions");
  if (!conditions.is_array()) return "";
  for (const json& c : conditions) {
    if (str(c, "type") == "PodScheduled" && str(c, "status") == "False") return str(c, "message");
  }
  return "";
}

bool pod_disrupted(const json& pod) {
  const json& conditions = at(at(pod, "status"), "conditions");
  if (!conditions.is_array()) return false;
  for (const json& c : conditions) {
    if (str(c, "type") == "DisruptionTarget" && str(c, "status") == "True") return true;
  }
  return false;
}

std::optional<SpecProblem> validate_spec(const json& job) {
  const json& spec = at(job, "spec");
  const json& pod_spec = at(at(spec, "template"), "spec");
  const std::string volume = str(at(spec, "checkpoint"), "volume");
  if (!volume.empty()) {
    std::vector<std::string> names;
    const json& volumes = at(pod_spec, "volumes");
    bool found = false;
    if (volumes.is_array()) {
      for (const json& v : volumes) {
        names.push_back(str(v, "name"));
        found = found || names.back() == volume;
      }
    }
    if (!found) {
      std::string have;
      for (const auto& n : names) have += (have.empty() ? "" : ", ") + n;
      return SpecProblem{kReasonCheckpointVolumeNotFound,
                         "spec.checkpoint.volume: volume \"" + volume +
                             "\" is not in spec.template.spec.volumes (" +
                             (names.empty() ? std::string("there are none") : "have: " + have) +
                             ")"};
    }
  }
  auto requests = policy::pod_requests(at(spec, "template"));
  if (!requests) {
    return SpecProblem{kReasonInvalidTemplate, "spec.template: " + requests.error()};
  }
  return std::nullopt;
}

bool auto_tolerated(const std::string& taint_key, const policy::PriceBook& book,
                    const policy::Resources& per_worker) {
  if (taint_key == policy::kGpuResource && per_worker.gpus > 0) return true;
  for (const auto& rule : book.capacity_type_labels) {
    if (rule.key == taint_key) return true;
  }
  return false;
}

std::string untolerated_taint(const json& node, const json& tolerations,
                              const policy::PriceBook& book, const policy::Resources& per_worker) {
  const json& taints = at(at(node, "spec"), "taints");
  if (!taints.is_array()) return {};
  for (const json& t : taints) {
    const std::string key = str(t, "key");
    const std::string effect = str(t, "effect");
    if (effect != "NoSchedule" && effect != "NoExecute") continue;
    if (std::find(book.interruption_taints.begin(), book.interruption_taints.end(), key) !=
        book.interruption_taints.end()) {
      continue;
    }
    if (auto_tolerated(key, book, per_worker)) continue;
    bool tolerated = false;
    if (tolerations.is_array()) {
      for (const json& tol : tolerations) {
        const std::string op = str(tol, "operator").empty() ? "Equal" : str(tol, "operator");
        const std::string tol_effect = str(tol, "effect");
        if (!tol_effect.empty() && tol_effect != effect) continue;
        if (op == "Exists") {
          tolerated = str(tol, "key").empty() || str(tol, "key") == key;
        } else {
          tolerated = str(tol, "key") == key && str(tol, "value") == str(t, "value");
        }
        if (tolerated) break;
      }
    }
    if (!tolerated) return key;
  }
  return {};
}

GangPlacement gang_placement(const policy::PoolChoice& choice, const std::vector<json>& pool_nodes,
                             const policy::PriceBook& book, const policy::Resources& per_worker) {
  GangPlacement g;
  g.instance_type = choice.instance_type;
  g.capacity_type = std::string(policy::to_string(choice.capacity_type));
  g.match_expressions.push_back({{"key", book.instance_type_label},
                                 {"operator", "In"},
                                 {"values", json::array({choice.instance_type})}});
  // The capacity-type rule the nodes matched, as classify_node reads it.
  const bool spot = choice.capacity_type == policy::CapacityType::kSpot;
  std::optional<json> matched;
  for (const json& node : pool_nodes) {
    const json& labels = at(meta(node), "labels");
    for (const auto& rule : book.capacity_type_labels) {
      const std::string value = str(labels, rule.key.c_str());
      if (value.empty()) continue;
      const auto& values = spot ? rule.spot_values : rule.on_demand_values;
      if (std::find(values.begin(), values.end(), value) != values.end()) {
        matched = json{{"key", rule.key}, {"operator", "In"}, {"values", json::array({value})}};
        break;
      }
    }
    if (matched) break;
  }
  if (matched) {
    g.match_expressions.push_back(*matched);
  } else if (!spot) {
    // On-demand nodes carrying no capacity label: keep off every spot label.
    for (const auto& rule : book.capacity_type_labels) {
      if (rule.spot_values.empty()) continue;
      g.match_expressions.push_back(
          {{"key", rule.key}, {"operator", "NotIn"}, {"values", rule.spot_values}});
    }
  }
  for (const json& node : pool_nodes) {
    const json& taints = at(at(node, "spec"), "taints");
    if (!taints.is_array()) continue;
    for (const json& t : taints) {
      const std::string key = str(t, "key");
      const std::string effect = str(t, "effect");
      if (key.empty() || (effect != "NoSchedule" && effect != "NoExecute")) continue;
      if (!auto_tolerated(key, book, per_worker)) continue;
      json toleration = {{"key", key}, {"operator", "Exists"}, {"effect", effect}};
      if (std::find(g.tolerations.begin(), g.tolerations.end(), toleration) ==
          g.tolerations.end()) {
        g.tolerations.push_back(std::move(toleration));
      }
    }
  }
  return g;
}

GangAssessment assess_gang(const std::vector<json>& pods, int workers,
                           const std::set<std::string>& interrupting) {
  GangAssessment a;
  if (pods.empty()) return a;
  std::vector<std::string> interrupted;
  std::vector<std::string> failed;
  std::vector<std::string> broken;
  std::set<int> ranks;
  int succeeded = 0;
  int running = 0;
  for (const json& pod : pods) {
    const std::string name = name_of(pod);
    const std::string node = node_of(pod);
    const std::string phase = phase_of(pod);
    ranks.insert(rank_of(pod));
    const bool terminal = phase == "Succeeded" || phase == "Failed";
    if (pod_disrupted(pod) && phase != "Succeeded") {
      interrupted.push_back(name + " (disrupted on " + (node.empty() ? "?" : node) + ")");
    } else if (!terminal && !node.empty() && interrupting.count(node) != 0) {
      interrupted.push_back(name + " (node " + node + " is being interrupted)");
    } else if (phase == "Failed") {
      std::string why = str(at(pod, "status"), "reason");
      const json& statuses = at(at(pod, "status"), "containerStatuses");
      if (statuses.is_array()) {
        for (const json& cs : statuses) {
          const json& term = at(at(cs, "state"), "terminated");
          if (term.is_object() && integer(term, "exitCode") != 0) {
            why = "exit code " + std::to_string(integer(term, "exitCode"));
            break;
          }
        }
      }
      failed.push_back(name + (why.empty() ? "" : " (" + why + ")"));
    } else if (deleting(pod) && phase != "Succeeded") {
      broken.push_back(name + " (deleted)");
    }
    succeeded += phase == "Succeeded" ? 1 : 0;
    running += phase == "Running" && !deleting(pod) ? 1 : 0;
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  };
  if (!interrupted.empty()) {
    a.state = GangState::kInterrupted;
    a.message = "spot capacity was taken back: " + join(interrupted);
  } else if (!failed.empty()) {
    a.state = GangState::kFailed;
    a.message = "worker(s) failed: " + join(failed);
  } else if (!broken.empty()) {
    a.state = GangState::kBroken;
    a.message = "worker(s) deleted before they finished: " + join(broken);
  } else if (static_cast<int>(pods.size()) < workers) {
    a.state = GangState::kIncomplete;
    for (int r = 0; r < workers; ++r) {
      if (ranks.count(r) == 0) a.missing_ranks.insert(r);
    }
    a.message = std::to_string(workers - static_cast<int>(pods.size())) + " worker(s) missing";
  } else if (succeeded >= workers) {
    a.state = GangState::kSucceeded;
    a.message = "all " + std::to_string(workers) + " worker(s) succeeded";
  } else if (running >= workers) {
    a.state = GangState::kRunning;
    a.message = "all " + std::to_string(workers) + " worker(s) running";
  } else {
    a.state = GangState::kStarting;
    a.message = std::to_string(running) + "/" + std::to_string(workers) + " worker(s) running";
  }
  return a;
}

GangClock gang_clock(const std::vector<json>& pods, WallTime now,
                     const policy::CheckpointPolicy& checkpoint, double time_scale) {
  GangClock g;
  for (const json& pod : pods) {
    const PodTimes t = pod_times(pod);
    if (!t.started) continue;
    const WallTime end = std::min(t.finished.value_or(now), now);
    const double run = std::max(0.0, seconds_between(*t.started, end) * time_scale);
    g.running_seconds = std::max(g.running_seconds, run);
    g.lost_seconds = std::max(g.lost_seconds, policy::lost_work_estimate(run, checkpoint));
    if (t.created) {
      g.startup_seconds =
          std::max(g.startup_seconds, seconds_between(*t.created, *t.started) * time_scale);
    }
  }
  return g;
}

}  // namespace frugal::reconcilers
