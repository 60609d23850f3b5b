// Tolerant reads from API objects: a missing or mistyped field reads as
// empty instead of throwing, which is what code walking user-supplied pods,
// nodes and templates wants (validation happens elsewhere).
#pragma once

#include <string>
#include <string_view>

#include "sim/api_error.h"

namespace kubesim {

inline const json& empty_json_array() {
  static const json kEmpty = json::array();
  return kEmpty;
}

// obj[key] when it is an object, else null.
inline const json& object_at(const json& obj, std::string_view key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? *it : kNull;
}

// obj[key] when it is an array, else an empty array.
inline const json& array_at(const json& obj, std::string_view key) {
  if (!obj.is_object()) return empty_json_array();
  auto it = obj.find(key);
  return it != obj.end() && it->is_array() ? *it : empty_json_array();
}

// obj[key] when it is a string, else "".
inline std::string string_at(const json& obj, std::string_view key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace kubesim
