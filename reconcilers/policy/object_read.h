// Tolerant reads from API objects for policy and the reconcilers: a missing
// or mistyped field reads as empty (or the fallback) instead of throwing,
// because the objects come from users and other controllers; validation is
// the schema's, the parsers' and validate_spec()'s job, not the reader's.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "reconcilers/policy/cost.h"

namespace frugal::policy::object_read {

using json = nlohmann::json;

// obj[key], or null when obj is not an object or has no such key.
inline const json& at(const json& obj, std::string_view key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

inline std::string str(const json& obj, std::string_view key) {
  const json& v = at(obj, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

inline double num(const json& obj, std::string_view key, double fallback = 0) {
  const json& v = at(obj, key);
  return v.is_number() ? v.get<double>() : fallback;
}

inline int64_t integer(const json& obj, std::string_view key, int64_t fallback = 0) {
  const json& v = at(obj, key);
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number()) return static_cast<int64_t>(v.get<double>());
  return fallback;
}

inline std::optional<int64_t> opt_integer(const json& obj, std::string_view key) {
  if (!at(obj, key).is_number()) return std::nullopt;
  return integer(obj, key);
}

inline const json& meta(const json& obj) { return at(obj, "metadata"); }
inline std::string name_of(const json& obj) { return str(meta(obj), "name"); }
inline std::string uid_of(const json& obj) { return str(meta(obj), "uid"); }
inline bool deleting(const json& obj) { return meta(obj).contains("deletionTimestamp"); }
inline std::string phase_of(const json& pod) { return str(at(pod, "status"), "phase"); }
inline std::string node_of(const json& pod) { return str(at(pod, "spec"), "nodeName"); }
inline std::string label(const json& obj, std::string_view key) {
  return str(at(meta(obj), "labels"), key);
}
// A label holding a non-negative decimal integer, else -1.
inline int int_label(const json& obj, std::string_view key) {
  const std::string v = label(obj, key);
  if (v.empty()) return -1;
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  return (end && *end == '\0' && n >= 0) ? static_cast<int>(n) : -1;
}

inline double seconds_between(WallTime from, WallTime to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace frugal::policy::object_read
