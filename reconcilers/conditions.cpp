#include "reconcilers/conditions.h"

#include <ctime>

namespace frugal::reconcilers {

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

const nlohmann::json* find_condition(const nlohmann::json& status, const std::string& type) {
  if (!status.is_object()) return nullptr;
  auto it = status.find("conditions");
  if (it == status.end() || !it->is_array()) return nullptr;
  for (const auto& c : *it) {
    if (c.is_object() && c.value("type", "") == type) return &c;
  }
  return nullptr;
}

bool set_condition(nlohmann::json& status, const std::string& type, const std::string& value,
                   const std::string& reason, const std::string& message,
                   int64_t observed_generation, std::chrono::system_clock::time_point now) {
  if (!status.is_object()) status = nlohmann::json::object();
  nlohmann::json& conditions = status["conditions"];
  if (!conditions.is_array()) conditions = nlohmann::json::array();
  for (auto& c : conditions) {
    if (!c.is_object() || c.value("type", "") != type) continue;
    const nlohmann::json before = c;
    if (c.value("status", "") != value) c["lastTransitionTime"] = rfc3339(now);
    c["status"] = value;
    c["reason"] = reason;
    c["message"] = message;
    c["observedGeneration"] = observed_generation;
    return c != before;
  }
  conditions.push_back({{"type", type},
                        {"status", value},
                        {"reason", reason},
                        {"message", message},
                        {"observedGeneration", observed_generation},
                        {"lastTransitionTime", rfc3339(now)}});
  return true;
}

}  // namespace frugal::reconcilers
