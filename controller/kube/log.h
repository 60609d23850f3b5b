// Structured logs in the Kubernetes style: a capitalised message in the past
// tense (or a state), then key=value pairs; as text (klog's format) or JSON
// (one object per line, as component-base's JSON logger). Thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace frugal::log {

enum class Format { Text, Json };
enum class Level { Error = 0, Info = 1, Debug = 2, Trace = 3 };

struct Field {
  std::string key;
  std::string value;
  bool quoted = true;  // strings are quoted; numbers and booleans are not
  Field(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  Field(std::string k, const char* v) : key(std::move(k)), value(v) {}
  Field(std::string k, std::string_view v) : key(std::move(k)), value(v) {}
  template <class N, std::enable_if_t<std::is_arithmetic_v<N> && !std::is_same_v<N, bool>, int> = 0>
  Field(std::string k, N n) : key(std::move(k)), value(std::to_string(n)), quoted(false) {}
  Field(std::string k, bool b) : key(std::move(k)), value(b ? "true" : "false"), quoted(false) {}
};

void configure(Format format, Level level);
bool parse_format(std::string_view s, Format& out);
bool parse_level(std::string_view s, Level& out);  // error|info|debug|trace or 0..3
bool enabled(Level level);

void write(Level level, std::string_view msg, std::initializer_list<Field> fields);

inline void info(std::string_view msg, std::initializer_list<Field> fields = {}) {
  write(Level::Info, msg, fields);
}
inline void error(std::string_view msg, std::initializer_list<Field> fields = {}) {
  write(Level::Error, msg, fields);
}
inline void debug(std::string_view msg, std::initializer_list<Field> fields = {}) {
  write(Level::Debug, msg, fields);
}

// Renders one line without writing it (tests).
std::string render(Format format, Level level, std::string_view msg,
                   std::initializer_list<Field> fields, const std::string& timestamp);

}  // namespace frugal::log
