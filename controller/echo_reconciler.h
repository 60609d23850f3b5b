// A trivial reconciler that exists only to test the manager end to end
// (enabled with --enable-echo-controller): for every ConfigMap labelled
// frugal.dev/echo=true it writes the annotation frugal.dev/echo-of with a
// digest of the ConfigMap's data, so a test can change data and wait for the
// annotation to follow. Level-triggered and idempotent, like the real ones.
#pragma once

#include "controller/kube/client.h"
#include "controller/kube/informer.h"
#include "controller/kube/reconciler.h"

namespace frugal {

inline const kube::ResourceRef kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
inline constexpr const char* kEchoLabel = "frugal.dev/echo";
inline constexpr const char* kEchoAnnotation = "frugal.dev/echo-of";

// The digest written for a ConfigMap's data (FNV-1a of its JSON, hex).
std::string echo_digest(const kube::json& data);

class EchoReconciler : public kube::Reconciler {
 public:
  EchoReconciler(kube::Client& client, kube::Informer& configmaps)
      : client_(client), configmaps_(configmaps) {}
  kube::ReconcileOutcome reconcile(const kube::Key& key) override;

 private:
  kube::Client& client_;
  kube::Informer& configmaps_;
};

}  // namespace frugal
