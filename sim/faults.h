// Fault injection: rules that make kubesim answer with errors, slow down, or
// drop watches, so tests can prove a client recovers. Off unless rules are
// set, at start (--fault) or at run time (PUT /kubesim/faults).
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "sim/api_error.h"

namespace kubesim {

struct FaultRule {
  std::string verb = "*";      // get, list, watch, create, update, patch, delete, deletecollection
  std::string resource = "*";  // group/resource as "pods" or "trainingjobs.ml.frugal.dev"
  std::string user_agent;      // fires only for clients whose User-Agent contains this; empty: any
  int code = 0;                // 500, 429 (with Retry-After), 409, 503...; 0: no error
  double probability = 1.0;    // chance the rule fires on a matching request
  int retry_after_seconds = 1;  // for 429 and 503
  int latency_ms = 0;           // delay before the request is answered
  int drop_watch_after_ms = 0;  // watches: cut the stream after this long
  int remaining = -1;           // fire at most this many times; -1: unlimited

  json to_json() const;
};

// What to do to one request.
struct FaultDecision {
  std::chrono::milliseconds latency{0};
  std::optional<ApiError> error;
  std::chrono::milliseconds drop_watch_after{0};
};

class FaultInjector {
 public:
  explicit FaultInjector(uint64_t seed = 1) : rng_(seed) {}

  // "verb=list,resource=pods,user_agent=replica-a,code=500,probability=0.5,latency_ms=20,..."
  // (every key optional).
  static Result<FaultRule> parse_rule(const std::string& spec);
  static Result<FaultRule> rule_from_json(const json& j);

  void set_rules(std::vector<FaultRule> rules);
  void add_rule(FaultRule rule);
  std::vector<FaultRule> rules() const;
  json to_json() const;

  FaultDecision decide(const std::string& verb, const std::string& group_resource,
                       const std::string& user_agent = {});

 private:
  mutable std::mutex mu_;
  std::vector<FaultRule> rules_;
  std::mt19937_64 rng_;
};

}  // namespace kubesim
