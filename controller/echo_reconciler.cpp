#include "controller/echo_reconciler.h"

#include <cstdio>

namespace frugal {

std::string echo_digest(const kube::json& data) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64-bit offset basis
  for (unsigned char c : data.dump()) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

kube::ReconcileOutcome EchoReconciler::reconcile(const kube::Key& key) {
  auto obj = configmaps_.store().get(key.str());
  if (!obj) return kube::ReconcileResult::done();  // deleted: nothing to do
  const auto& meta = (*obj)["metadata"];
  if (meta.value("labels", kube::json::object()).value(kEchoLabel, "") != "true") {
    return kube::ReconcileResult::done();
  }
  const std::string want = echo_digest(obj->value("data", kube::json::object()));
  if (meta.value("annotations", kube::json::object()).value(kEchoAnnotation, "") == want) {
    return kube::ReconcileResult::done();
  }
  kube::json patch = {{"metadata", {{"annotations", {{kEchoAnnotation, want}}}}}};
  auto r = client_.patch(kConfigMaps, key.ns, key.name, kube::PatchType::Merge, patch);
  if (!r) {
    if (r.error().is_not_found()) return kube::ReconcileResult::done();
    return frugal::Unexpected(kube::ReconcileError::retry(r.error().to_string()));
  }
  return kube::ReconcileResult::done();
}

}  // namespace frugal
