// The reconciler contract, as controller-runtime's pkg/reconcile: a request
// is only namespace/name; the reconciler reads current state (from caches),
// makes the world match it, and says whether to come back later. It never
// learns whether the trigger was a create, an update or a delete.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/expected.h"

namespace frugal::kube {

struct Key {
  std::string ns;  // empty for cluster-scoped objects
  std::string name;

  // "ns/name" or "name", the work queue's key.
  std::string str() const { return ns.empty() ? name : ns + "/" + name; }
  static Key parse(const std::string& s) {
    auto slash = s.find('/');
    if (slash == std::string::npos) return Key{"", s};
    return Key{s.substr(0, slash), s.substr(slash + 1)};
  }
  bool operator==(const Key&) const = default;
};

// Success: optionally come back after a delay (e.g. to recompute cost).
struct ReconcileResult {
  std::optional<std::chrono::milliseconds> requeue_after;

  static ReconcileResult done() { return {}; }
  static ReconcileResult after(std::chrono::milliseconds d) { return {d}; }
};

// Failure: retried with per-key exponential backoff, unless terminal (logged,
// counted, not retried until the object changes again).
struct ReconcileError {
  std::string message;
  bool terminal = false;

  static ReconcileError retry(std::string m) { return {std::move(m), false}; }
  static ReconcileError fatal(std::string m) { return {std::move(m), true}; }
};

using ReconcileOutcome = frugal::Expected<ReconcileResult, ReconcileError>;

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  virtual ReconcileOutcome reconcile(const Key& key) = 0;
};

}  // namespace frugal::kube
