// Kubernetes-style status conditions (metav1.Condition): one entry per type,
// lastTransitionTime moving only when the status flips, as
// apimachinery's meta.SetStatusCondition does.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace frugal::reconcilers {

// Sets condition `type` in status["conditions"]; returns true when anything changed.
bool set_condition(nlohmann::json& status, const std::string& type, const std::string& value,
                   const std::string& reason, const std::string& message,
                   int64_t observed_generation, std::chrono::system_clock::time_point now);

// The condition of `type` in an object's status, or null.
const nlohmann::json* find_condition(const nlohmann::json& status, const std::string& type);

// RFC 3339 in UTC, seconds precision: what metav1.Time serialises to.
std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace frugal::reconcilers
