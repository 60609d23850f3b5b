#include "sim/faults.h"

#include <sstream>

namespace kubesim {

json FaultRule::to_json() const {
  return {{"verb", verb},
          {"resource", resource},
          {"userAgent", user_agent},
          {"code", code},
          {"probability", probability},
          {"retryAfterSeconds", retry_after_seconds},
          {"latencyMs", latency_ms},
          {"dropWatchAfterMs", drop_watch_after_ms},
          {"remaining", remaining}};
}

namespace {

ApiError error_for(const FaultRule& r) {
  switch (r.code) {
    case 429:
      return too_many_requests(r.retry_after_seconds);
    case 409:
      return ApiError{.code = 409,
                      .reason = "Conflict",
                      .message = "injected conflict: the object has been modified; please apply "
                                 "your changes to the latest version and try again"};
    case 503: {
      ApiError e{.code = 503,
                 .reason = "ServiceUnavailable",
                 .message = "injected fault: the server is currently unable to handle the request"};
      e.retry_after_seconds = r.retry_after_seconds;
      return e;
    }
    case 500:
      return internal_error("injected fault: an error on the server has prevented the request "
                            "from succeeding");
    default:
      return ApiError{.code = r.code, .reason = "InternalError", .message = "injected fault"};
  }
}

}  // namespace

Result<FaultRule> FaultInjector::parse_rule(const std::string& spec) {
  FaultRule rule;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos) return Unexpected(bad_request("fault rule: '" + item + "' is not key=value"));
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    try {
      if (key == "verb") {
        rule.verb = value;
      } else if (key == "resource") {
        rule.resource = value;
      } else if (key == "user_agent") {
        rule.user_agent = value;
      } else if (key == "code") {
        rule.code = std::stoi(value);
      } else if (key == "probability") {
        rule.probability = std::stod(value);
      } else if (key == "retry_after_seconds") {
        rule.retry_after_seconds = std::stoi(value);
      } else if (key == "latency_ms") {
        rule.latency_ms = std::stoi(value);
      } else if (key == "drop_watch_after_ms") {
        rule.drop_watch_after_ms = std::stoi(value);
      } else if (key == "remaining") {
        rule.remaining = std::stoi(value);
      } else {
        return Unexpected(bad_request("fault rule: unknown key '" + key +
                                      "' (verb, resource, user_agent, code, probability, retry_after_seconds, "
                                      "latency_ms, drop_watch_after_ms, remaining)"));
      }
    } catch (const std::exception&) {
      return Unexpected(bad_request("fault rule: '" + value + "' is not a number for " + key));
    }
  }
  if (rule.probability < 0 || rule.probability > 1) {
    return Unexpected(bad_request("fault rule: probability must be within [0, 1]"));
  }
  return rule;
}

Result<FaultRule> FaultInjector::rule_from_json(const json& j) {
  if (!j.is_object()) return Unexpected(bad_request("fault rule must be an object"));
  FaultRule r;
  try {
    r.verb = j.value("verb", r.verb);
    r.resource = j.value("resource", r.resource);
    r.user_agent = j.value("userAgent", r.user_agent);
    r.code = j.value("code", r.code);
    r.probability = j.value("probability", r.probability);
    r.retry_after_seconds = j.value("retryAfterSeconds", r.retry_after_seconds);
    r.latency_ms = j.value("latencyMs", r.latency_ms);
    r.drop_watch_after_ms = j.value("dropWatchAfterMs", r.drop_watch_after_ms);
    r.remaining = j.value("remaining", r.remaining);
  } catch (const json::exception& e) {
    return Unexpected(bad_request(std::string("fault rule: ") + e.what()));
  }
  if (r.probability < 0 || r.probability > 1) {
    return Unexpected(bad_request("fault rule: probability must be within [0, 1]"));
  }
  return r;
}

void FaultInjector::set_rules(std::vector<FaultRule> rules) {
  std::lock_guard lock(mu_);
  rules_ = std::move(rules);
}

void FaultInjector::add_rule(FaultRule rule) {
  std::lock_guard lock(mu_);
  rules_.push_back(std::move(rule));
}

std::vector<FaultRule> FaultInjector::rules() const {
  std::lock_guard lock(mu_);
  return rules_;
}

json FaultInjector::to_json() const {
  json out = json::array();
  for (const auto& r : rules()) out.push_back(r.to_json());
  return {{"rules", out}};
}

FaultDecision FaultInjector::decide(const std::string& verb, const std::string& group_resource,
                                    const std::string& user_agent) {
  std::lock_guard lock(mu_);
  FaultDecision d;
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  for (auto& r : rules_) {
    if (r.remaining == 0) continue;
    if (r.verb != "*" && r.verb != verb) continue;
    if (r.resource != "*" && r.resource != group_resource) continue;
    if (!r.user_agent.empty() && user_agent.find(r.user_agent) == std::string::npos) continue;
    if (r.probability < 1.0 && coin(rng_) >= r.probability) continue;
    if (r.remaining > 0) --r.remaining;
    d.latency += std::chrono::milliseconds(r.latency_ms);
    if (r.drop_watch_after_ms > 0 && verb == "watch") {
      d.drop_watch_after = std::chrono::milliseconds(r.drop_watch_after_ms);
    }
    if (r.code != 0 && !d.error) d.error = error_for(r);
  }
  return d;
}

}  // namespace kubesim
