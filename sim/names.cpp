#include "sim/names.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>

namespace kubesim {

namespace {

constexpr size_t kMaxSubdomain = 253;  // validation.DNS1123SubdomainMaxLength
constexpr size_t kMaxLabel = 63;       // validation.DNS1123LabelMaxLength
// names.SimpleNameGenerator: no vowels (no accidental words), no 0/1/3 (look alike).
constexpr std::string_view kNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";
constexpr size_t kGeneratedSuffixLength = 5;

bool alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool label_like(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  if (!alnum_lower(s.front()) || !alnum_lower(s.back())) return false;
  for (char c : s) {
    if (!alnum_lower(c) && c != '-') return false;
  }
  return true;
}

std::mt19937_64& rng() {
  static thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen;
}

}  // namespace

bool is_dns1123_label(std::string_view s) { return label_like(s, kMaxLabel); }

bool is_dns1035_label(std::string_view s) {
  return is_dns1123_label(s) && s.front() >= 'a' && s.front() <= 'z';
}

bool is_dns1123_subdomain(std::string_view s) {
  if (s.empty() || s.size() > kMaxSubdomain) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (!label_like(part, kMaxSubdomain)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string dns1123_subdomain_message() {
  return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
         "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
         "regex used for validation is "
         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
}

std::string dns1123_label_message() {
  return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
         "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
         "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
}

std::string new_uid() {
  std::uniform_int_distribution<uint64_t> dist;
  uint64_t hi = dist(rng());
  uint64_t lo = dist(rng());
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

std::string generate_name(const std::string& prefix) {
  // The real generator trims the prefix so the result stays a valid name.
  constexpr size_t kMaxPrefix = kMaxLabel - kGeneratedSuffixLength;
  std::string out = prefix.size() > kMaxPrefix ? prefix.substr(0, kMaxPrefix) : prefix;
  std::uniform_int_distribution<size_t> dist(0, kNameAlphabet.size() - 1);
  for (size_t i = 0; i < kGeneratedSuffixLength; ++i) out += kNameAlphabet[dist(rng())];
  return out;
}

namespace {
std::atomic<int> fraction_digits{0};
}  // namespace

void set_timestamp_fraction_digits(int digits) {
  fraction_digits.store(std::clamp(digits, 0, 9), std::memory_order_relaxed);
}

int timestamp_fraction_digits() { return fraction_digits.load(std::memory_order_relaxed); }

std::string rfc3339(std::chrono::system_clock::time_point t) {
  // Whole seconds rounded down (to_time_t may round), then the fraction.
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[48];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  const int digits = timestamp_fraction_digits();
  if (digits > 0) {
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(t - secs).count();
    char frac[16];
    std::snprintf(frac, sizeof frac, "%09lld", static_cast<long long>(nanos));
    buf[n++] = '.';
    for (int i = 0; i < digits; ++i) buf[n++] = frac[i];
  }
  buf[n++] = 'Z';
  buf[n] = '\0';
  return buf;
}

bool parse_rfc3339(const std::string& s, std::chrono::system_clock::time_point& out) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return false;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::time_t tt = timegm(&tm);
  auto tp = std::chrono::system_clock::from_time_t(tt);
  std::string rest = s.substr(consumed);
  if (!rest.empty() && rest[0] == '.') {
    size_t end = 1;
    double frac = 0, scale = 0.1;
    while (end < rest.size() && std::isdigit(static_cast<unsigned char>(rest[end]))) {
      frac += (rest[end] - '0') * scale;
      scale /= 10;
      ++end;
    }
    tp += std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::duration<double>(frac));
    rest = rest.substr(end);
  }
  if (rest == "Z" || rest == "z") {
    out = tp;
    return true;
  }
  int oh = 0, om = 0;
  char sign = 0;
  if (std::sscanf(rest.c_str(), "%c%2d:%2d", &sign, &oh, &om) == 3 && (sign == '+' || sign == '-')) {
    auto offset = std::chrono::hours(oh) + std::chrono::minutes(om);
    out = sign == '+' ? tp - offset : tp + offset;
    return true;
  }
  return false;
}

}  // namespace kubesim
