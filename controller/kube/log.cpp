#include "controller/kube/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

namespace frugal::log {

namespace {

std::atomic<Format> g_format{Format::Text};
std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::mutex g_write_mu;

char level_letter(Level l) { return l == Level::Error ? 'E' : 'I'; }

std::string quote(std::string_view s) {
  return nlohmann::json(std::string(s)).dump();  // JSON string escaping, as klog quotes
}

std::string now_timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()) % 1000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06lldZ", buf, static_cast<long long>(micros.count()));
  return out;
}

}  // namespace

void configure(Format format, Level level) {
  g_format = format;
  g_level = static_cast<int>(level);
}

bool parse_format(std::string_view s, Format& out) {
  if (s == "text") {
    out = Format::Text;
  } else if (s == "json") {
    out = Format::Json;
  } else {
    return false;
  }
  return true;
}

bool parse_level(std::string_view s, Level& out) {
  if (s == "error" || s == "0") {
    out = Level::Error;
  } else if (s == "info" || s == "1") {
    out = Level::Info;
  } else if (s == "debug" || s == "2") {
    out = Level::Debug;
  } else if (s == "trace" || s == "3") {
    out = Level::Trace;
  } else {
    return false;
  }
  return true;
}

bool enabled(Level level) { return static_cast<int>(level) <= g_level.load(); }

std::string render(Format format, Level level, std::string_view msg,
                   std::initializer_list<Field> fields, const std::string& timestamp) {
  if (format == Format::Json) {
    nlohmann::ordered_json j;
    j["ts"] = timestamp;
    j["level"] = level == Level::Error ? "error" : level == Level::Info ? "info" : "debug";
    j["msg"] = std::string(msg);
    for (const auto& f : fields) {
      if (f.quoted) {
        j[f.key] = f.value;
      } else {
        auto parsed = nlohmann::json::parse(f.value, nullptr, false);
        j[f.key] = parsed.is_discarded() ? nlohmann::json(f.value) : parsed;
      }
    }
    return j.dump();
  }
  std::string line;
  line += level_letter(level);
  line += ' ';
  line += timestamp;
  line += ' ';
  line += quote(msg);
  for (const auto& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    line += f.quoted ? quote(f.value) : f.value;
  }
  return line;
}

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  std::string line = render(g_format.load(), level, msg, fields, now_timestamp());
  line += '\n';
  std::lock_guard lock(g_write_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace frugal::log
