// Structural-schema handling of custom resources. The algorithms follow
// k8s.io/apiextensions-apiserver (pruning, defaulting, listtype, objectmeta,
// structural validation) and k8s.io/kube-openapi/pkg/validation (value
// validation); error texts follow kube-openapi's messages as converted by
// apiextensions into apimachinery field errors. Where the real server's
// output depends on Go's formatting (%v of floats, %q, %#v of maps) the Go
// rules are reproduced, since kubectl prints those strings verbatim.
#include "sim/schema.h"

#include "sim/go_format.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string_view>
#include <unordered_map>

namespace kubesim {
namespace {

// ===========================================================================
// Go-compatible rendering of values, as the server prints them.
// ===========================================================================

// Go's %v of a float64: shortest digits, %e form when the exponent is < -4 or
// >= 6 (so 1e6 prints "1e+06"). C++ scientific output has the same shape.
std::string go_float(double f) {
  constexpr int kShortestExponentLimit = 6;  // strconv 'g' with precision -1
  if (f == 0) return std::signbit(f) ? "-0" : "0";
  char buf[64];
  auto sci = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  std::string s(buf, sci.ptr);
  const int exp = std::atoi(s.c_str() + s.find('e') + 1);
  if (exp < -4 || exp >= kShortestExponentLimit) return s;
  auto fixed = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::fixed);
  return std::string(buf, fixed.ptr);
}

// The unstructured decoder yields int64 for integral JSON numbers and float64
// otherwise; nlohmann keeps the same distinction.
bool is_int(const json& v) {
  if (v.is_number_unsigned()) {
    return v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  }
  return v.is_number_integer();
}

// Go's float64 -> int64 conversion, saturated instead of undefined.
int64_t to_int64(double f) {
  constexpr double kMax = 9223372036854775807.0;
  if (std::isnan(f)) return 0;
  if (f >= kMax) return std::numeric_limits<int64_t>::max();
  if (f <= -kMax) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(f);
}

std::string number_text(const json& v) {
  return is_int(v) ? std::to_string(v.get<int64_t>()) : go_float(v.get<double>());
}

// encoding/json's rendering of a string.
std::string go_json_string(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = s[i];
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '<':
      case '>':
      case '&':
        append_hex_escape(out, "\\u", c, 4);
        break;
      default:
        if (c < 0x20) {
          append_hex_escape(out, "\\u", c, 4);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// encoding/json.Marshal: sorted keys, floats in %f form unless tiny or huge.
std::string go_json(const json& v) {
  constexpr double kSmallExp = 1e-6, kLargeExp = 1e21;  // encoding/json floatEncoder
  if (v.is_string()) return go_json_string(v.get_ref<const std::string&>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_null()) return "null";
  if (is_int(v)) return std::to_string(v.get<int64_t>());
  if (v.is_number()) {
    const double f = v.get<double>();
    const double a = std::fabs(f);
    char buf[64];
    if (a != 0 && (a < kSmallExp || a >= kLargeExp)) {
      auto r = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
      std::string s(buf, r.ptr);
      const size_t e = s.find("e-0");
      if (e != std::string::npos && e + 4 == s.size()) s.erase(e + 2, 1);  // e-07 -> e-7
      return s;
    }
    auto r = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::fixed);
    return std::string(buf, r.ptr);
  }
  std::string out;
  if (v.is_array()) {
    out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + go_json(v[i]);
    return out + "]";
  }
  out = "{";
  bool first = true;
  for (const auto& [k, e] : v.items()) {
    out += (first ? "" : ",") + go_json_string(k) + ":" + go_json(e);
    first = false;
  }
  return out + "}";
}

// Go's %#v of an unstructured value (map[string]interface{} and friends).
std::string go_sharp_v(const json& v) {
  if (v.is_null()) return "interface {}(nil)";
  if (v.is_string()) return go_quote(v.get_ref<const std::string&>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return number_text(v);
  std::string out;
  if (v.is_array()) {
    out = "[]interface {}{";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + go_sharp_v(v[i]);
    return out + "}";
  }
  out = "map[string]interface {}{";
  bool first = true;
  for (const auto& [k, e] : v.items()) {
    out += (first ? "" : ", ") + go_quote(k) + ":" + go_sharp_v(e);
    first = false;
  }
  return out + "}";
}

// How field.Error.ErrorBody prints a bad value: scalars plainly, strings
// quoted, nil as "null", anything else with %#v.
std::string go_value(const json& v) {
  if (v.is_null()) return go_quote("null");
  if (v.is_string()) return go_quote(v.get_ref<const std::string&>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return number_text(v);
  return go_sharp_v(v);
}

// %#v of a []string, as the CRD validation prints x-kubernetes-list-map-keys.
std::string go_string_slice(const json& list) {
  std::string out = "[]string{";
  for (size_t i = 0; i < list.size(); ++i) {
    out += (i ? ", " : "") + go_quote(list[i].is_string() ? list[i].get<std::string>() : "");
  }
  return out + "}";
}

// ===========================================================================
// Field errors (k8s.io/apimachinery/pkg/util/validation/field).
// ===========================================================================

constexpr const char* kNilPath = "<nil>";  // String() of a nil *field.Path

std::string field_or_nil(const std::string& f) { return f.empty() ? kNilPath : f; }

FieldCause required_cause(const std::string& f, const std::string& detail = "") {
  return {"FieldValueRequired", detail.empty() ? "Required value" : "Required value: " + detail,
          field_or_nil(f)};
}

FieldCause invalid_cause(const std::string& f, const std::string& value, const std::string& detail,
                         const char* reason = "FieldValueInvalid") {
  std::string msg = "Invalid value: " + value;
  if (!detail.empty()) msg += ": " + detail;
  return {reason, msg, field_or_nil(f)};
}

FieldCause type_invalid_cause(const std::string& f, const std::string& value,
                              const std::string& detail) {
  return invalid_cause(f, value, detail, "FieldValueTypeInvalid");
}

FieldCause not_supported_cause(const std::string& f, const std::string& value,
                               const std::vector<std::string>& supported) {
  std::string msg = "Unsupported value: " + value;
  for (size_t i = 0; i < supported.size(); ++i) {
    msg += (i ? ", " : ": supported values: ") + go_quote(supported[i]);
  }
  return {"FieldValueNotSupported", msg, field_or_nil(f)};
}

// field.TooLong since Kubernetes 1.32 ("may not be longer than N" before).
FieldCause too_long_cause(const std::string& f, int64_t max) {
  return {"FieldValueTooLong",
          max >= 0 ? "Too long: may not be more than " + std::to_string(max) + " bytes"
                   : "Too long: value is too long",
          field_or_nil(f)};
}

FieldCause too_many_cause(const std::string& f, int64_t actual, int64_t max) {
  std::string msg = "Too many";
  if (actual >= 0) msg += ": " + std::to_string(actual);
  msg += max >= 0 ? ": must have at most " + std::to_string(max) + " items" : ": too many items";
  return {"FieldValueTooMany", msg, field_or_nil(f)};
}

FieldCause duplicate_cause(const std::string& f, const std::string& value) {
  return {"FieldValueDuplicate", "Duplicate value: " + value, field_or_nil(f)};
}

FieldCause forbidden_cause(const std::string& f, const std::string& detail) {
  return {"FieldValueForbidden", "Forbidden: " + detail, field_or_nil(f)};
}

// field.Path rendering: children joined by ".", map keys and indexes in [].
std::string path_child(const std::string& p, const std::string& name) {
  return p.empty() ? name : p + "." + name;
}
std::string path_key(const std::string& p, const std::string& key) { return p + "[" + key + "]"; }
std::string path_index(const std::string& p, size_t i) { return p + "[" + std::to_string(i) + "]"; }

// ===========================================================================
// Schema access. A schema node is a JSON object; anything else reads as {}.
// ===========================================================================

constexpr const char* kPreserveUnknown = "x-kubernetes-preserve-unknown-fields";
constexpr const char* kEmbedded = "x-kubernetes-embedded-resource";
constexpr const char* kIntOrString = "x-kubernetes-int-or-string";
constexpr const char* kListType = "x-kubernetes-list-type";
constexpr const char* kListMapKeys = "x-kubernetes-list-map-keys";
constexpr const char* kMapType = "x-kubernetes-map-type";

bool flag(const json& s, const char* key) {
  auto it = s.find(key);
  return it != s.end() && it->is_boolean() && it->get<bool>();
}

std::string text(const json& s, const char* key) {
  auto it = s.find(key);
  return it != s.end() && it->is_string() ? it->get<std::string>() : "";
}

const json* object_at(const json& s, const char* key) {
  if (!s.is_object()) return nullptr;
  auto it = s.find(key);
  return it != s.end() && it->is_object() ? &*it : nullptr;
}

const json* array_at(const json& s, const char* key) {
  if (!s.is_object()) return nullptr;
  auto it = s.find(key);
  return it != s.end() && it->is_array() ? &*it : nullptr;
}

std::optional<double> number_at(const json& s, const char* key) {
  auto it = s.find(key);
  if (it == s.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

const json* property_schema(const json& s, const std::string& name) {
  const json* props = object_at(s, "properties");
  if (!props) return nullptr;
  auto it = props->find(name);
  return it != props->end() && it->is_object() ? &*it : nullptr;
}

bool has_additional_properties(const json& s) {
  return s.is_object() && s.contains("additionalProperties");
}

// The schema for additionalProperties values; nullptr when it is a bool.
const json* additional_schema(const json& s) { return object_at(s, "additionalProperties"); }

const json* items_schema(const json& s) { return object_at(s, "items"); }

bool nullable(const json& s) { return flag(s, "nullable"); }

// A JSON null default means "no default" to the server (Default.Object == nil).
bool has_default(const json& s) {
  auto it = s.find("default");
  return it != s.end() && !it->is_null();
}

bool is_meta_field(const std::string& k) {
  return k == "apiVersion" || k == "kind" || k == "metadata";
}

// ===========================================================================
// Formats (kube-openapi strfmt, as far as CRDs see them).
// ===========================================================================

std::string normalize_format(std::string f) {
  f.erase(std::remove(f.begin(), f.end(), '-'), f.end());  // go-openapi name normalization
  return f;
}

// apiextensions' supportedFormats, normalized. Every other format is stripped
// from CRD schemas before objects are validated, int32/int64 included.
bool is_supported_format(const std::string& normalized) {
  static const std::set<std::string> kSupported = {
      "bsonobjectid", "uri",    "email",    "hostname",   "ipv4",     "ipv6",
      "cidr",         "mac",    "uuid",     "uuid3",      "uuid4",    "uuid5",
      "isbn",         "isbn10", "isbn13",   "creditcard", "ssn",      "hexcolor",
      "rgbcolor",     "byte",   "password", "date",       "duration", "datetime"};
  return kSupported.count(normalized) > 0;
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// time.Parse("2006-01-02", s): fixed-width fields and a real calendar day.
bool is_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  if (!is_digits(s.substr(0, 4)) || !is_digits(s.substr(5, 2)) || !is_digits(s.substr(8, 2))) {
    return false;
  }
  const int year = std::stoi(std::string(s.substr(0, 4)));
  const int month = std::stoi(std::string(s.substr(5, 2)));
  const int day = std::stoi(std::string(s.substr(8, 2)));
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return false;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

// strfmt.IsDateTime: lower-cased, split on "t", date then hh:mm:ss[.frac](z|±hh:mm).
bool is_date_time(const std::string& s) {
  constexpr size_t kMinLength = 4;
  if (s.size() < kMinLength) return false;
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  const size_t t = lower.find('t');
  if (t == std::string::npos || !is_date(std::string_view(lower).substr(0, t))) return false;
  const size_t next = lower.find('t', t + 1);
  const std::string time = lower.substr(t + 1, next == std::string::npos ? next : next - t - 1);
  static const std::regex kTime(
      R"(^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$)");
  std::smatch m;
  if (!std::regex_match(time, m, kTime)) return false;
  return m[1].str() <= "23" && m[2].str() <= "59" && m[3].str() <= "59";
}

// govalidator.IsBase64: padded standard alphabet, at least one quantum.
bool is_base64(std::string_view s) {
  const auto alpha = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
  };
  const size_t n = s.size();
  if (n == 0 || n % 4 != 0) return false;
  for (size_t i = 0; i + 2 < n; ++i) {
    if (!alpha(s[i])) return false;
  }
  if (s[n - 2] == '=') return s[n - 1] == '=';
  return alpha(s[n - 2]) && (alpha(s[n - 1]) || s[n - 1] == '=');
}

// time.ParseDuration's grammar: [-+]("0" | (digits[.digits]unit)+).
bool is_go_duration(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  if (s == "0") return true;
  if (s.empty()) return false;
  static const std::set<std::string_view> kUnits = {"ns", "us", "\xC2\xB5s", "\xCE\xBCs",
                                                    "ms", "s",  "m",         "h"};
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    bool digits = i > 0;
    if (i < s.size() && s[i] == '.') {
      const size_t frac = ++i;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
      digits = digits || i > frac;
    }
    if (!digits) return false;
    size_t u = i;
    while (u < s.size() && s[u] != '.' && !std::isdigit(static_cast<unsigned char>(s[u]))) ++u;
    if (!kUnits.count(s.substr(i, u - i))) return false;
    s.remove_prefix(u);
  }
  return true;
}

// strfmt.ParseDuration also accepts Scala-style "5 minutes", "1 day".
bool is_duration(const std::string& s) {
  if (is_go_duration(s)) return true;
  static const std::regex kLoose(R"(((?:-\s?)?\d+)\s*((?:[A-Za-z]|\xC2\xB5)+))");
  static const std::vector<std::vector<std::string>> kUnits = {
      {"ns", "nano"}, {"us", "\xC2\xB5s", "micro"}, {"ms", "milli"}, {"s", "sec"},
      {"m", "min"},   {"h", "hr", "hour"},          {"d", "day"},    {"w", "wk", "week"}};
  for (auto it = std::sregex_iterator(s.begin(), s.end(), kLoose); it != std::sregex_iterator();
       ++it) {
    std::string unit = (*it)[2].str();
    std::transform(unit.begin(), unit.end(), unit.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    for (const auto& variants : kUnits) {
      for (size_t i = 0; i < variants.size(); ++i) {
        const bool last = i + 1 == variants.size();
        if (unit == variants[i] || (last && unit.rfind(variants[i], 0) == 0)) return true;
      }
    }
  }
  return false;
}

// net.ParseIP for IPv4, tolerating leading zeros as k8s' ParseIPSloppy does.
bool is_ipv4_text(std::string_view s) {
  constexpr int kOctets = 4, kMaxOctet = 255, kMaxDigits = 3;
  for (int part = 0; part < kOctets; ++part) {
    size_t i = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == 0 || i > kMaxDigits || std::stoi(std::string(s.substr(0, i))) > kMaxOctet)
      return false;
    s.remove_prefix(i);
    if (part + 1 < kOctets) {
      if (s.empty() || s[0] != '.') return false;
      s.remove_prefix(1);
    }
  }
  return s.empty();
}

bool is_ipv6_text(const std::string& s) {
  in6_addr addr{};
  return s.find(':') != std::string::npos && inet_pton(AF_INET6, s.c_str(), &addr) == 1;
}

// strfmt's ipv4 is ParseIP(s) != nil && contains "." (so ::ffff:1.2.3.4 passes).
bool is_ipv4(const std::string& s) {
  return is_ipv4_text(s) || (is_ipv6_text(s) && s.find('.') != std::string::npos);
}

bool is_cidr(const std::string& s) {
  constexpr int kV4Bits = 32, kV6Bits = 128;
  const size_t slash = s.find('/');
  if (slash == std::string::npos) return false;
  const std::string ip = s.substr(0, slash), bits = s.substr(slash + 1);
  if (!is_digits(bits) || bits.size() > 3) return false;
  const int n = std::stoi(bits);
  if (is_ipv4_text(ip)) return n <= kV4Bits;
  return is_ipv6_text(ip) && n <= kV6Bits;
}

// net.ParseMAC: 6, 8 or 20 octets as xx:xx.., xx-xx.. or xxxx.xxxx...
bool is_mac(std::string_view s) {
  constexpr size_t kMinLength = 14;
  const auto octets_ok = [](size_t n) { return n == 6 || n == 8 || n == 20; };
  if (s.size() < kMinLength) return false;
  if (s[2] == ':' || s[2] == '-') {
    if ((s.size() + 1) % 3 != 0 || !octets_ok((s.size() + 1) / 3)) return false;
    for (size_t i = 0; i < s.size(); i += 3) {
      if (!is_hex(s[i]) || !is_hex(s[i + 1])) return false;
      if (i + 2 < s.size() && s[i + 2] != s[2]) return false;
    }
    return true;
  }
  if (s[4] == '.') {
    if ((s.size() + 1) % 5 != 0 || !octets_ok(2 * (s.size() + 1) / 5)) return false;
    for (size_t i = 0; i < s.size(); i += 5) {
      for (size_t k = 0; k < 4; ++k) {
        if (!is_hex(s[i + k])) return false;
      }
      if (i + 4 < s.size() && s[i + 4] != '.') return false;
    }
    return true;
  }
  return false;
}

// strfmt.IsHostname for ASCII names; names with non-ASCII letters or symbols
// (which the real pattern accepts via \p{L}\p{S}) are accepted unchecked.
bool is_hostname(const std::string& s) {
  constexpr size_t kMaxName = 255, kMaxLabel = 63;
  if (std::any_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x80; })) return true;
  static const std::regex kHost(
      R"(^([a-zA-Z0-9]((-?[a-zA-Z0-9]{0,62})?)|([a-zA-Z0-9](([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.)){1,}([a-zA-Z]){2,63})$)");
  if (!std::regex_match(s, kHost) || s.size() > kMaxName) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    if ((dot == std::string::npos ? s.size() : dot) - start > kMaxLabel) return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

bool matches(const std::string& s, const char* pattern, bool icase = false) {
  // Each call site passes a literal, so the cache holds a handful of entries.
  thread_local std::map<const char*, std::regex> cache;
  auto it = cache.find(pattern);
  if (it == cache.end()) {
    auto flags = std::regex::ECMAScript;
    if (icase) flags |= std::regex::icase;
    it = cache.emplace(pattern, std::regex(pattern, flags)).first;
  }
  return std::regex_match(s, it->second);
}

// Whether `value` is valid for the (normalized) format. Formats the simulator
// does not implement (email, uri, isbn*, creditcard) accept everything.
bool format_accepts(const std::string& format, const std::string& value) {
  if (format == "datetime") return is_date_time(value);
  if (format == "date") return is_date(value);
  if (format == "byte") return is_base64(value);
  if (format == "duration") return is_duration(value);
  if (format == "uuid") {
    return matches(value, "^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
                   true);
  }
  if (format == "uuid3") {
    return matches(value, "^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
                   true);
  }
  if (format == "uuid4") {
    return matches(
        value, "^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$", true);
  }
  if (format == "uuid5") {
    return matches(
        value, "^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$", true);
  }
  if (format == "ipv4") return is_ipv4(value);
  if (format == "ipv6") return is_ipv6_text(value);
  if (format == "cidr") return is_cidr(value);
  if (format == "mac") return is_mac(value);
  if (format == "hostname") return is_hostname(value);
  if (format == "bsonobjectid") return matches(value, "^[0-9a-fA-F]{24}$");
  if (format == "hexcolor") return matches(value, "^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$");
  if (format == "ssn") return matches(value, R"(^\d{3}[- ]?\d{2}[- ]?\d{4}$)");
  if (format == "rgbcolor") {
    return matches(
        value,
        R"(^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$)");
  }
  return true;
}

// Compiled `pattern` keywords. The server uses Go's RE2; CRD patterns are
// written in the ECMA-262 subset both engines share, so std::regex serves.
struct CompiledPattern {
  std::optional<std::regex> re;
  std::string error;  // why it did not compile
};

const CompiledPattern& compile_pattern(const std::string& pattern) {
  constexpr size_t kPatternCacheLimit = 512;  // patterns come from CRDs: few and stable
  thread_local std::unordered_map<std::string, std::unique_ptr<CompiledPattern>> cache;
  auto it = cache.find(pattern);
  if (it != cache.end()) return *it->second;
  if (cache.size() >= kPatternCacheLimit) cache.clear();
  auto compiled = std::make_unique<CompiledPattern>();
  try {
    compiled->re.emplace(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    compiled->error = e.what();
  }
  return *cache.emplace(pattern, std::move(compiled)).first->second;
}

// ===========================================================================
// Value validation with kube-openapi semantics. Errors are first collected
// as kube-openapi reports them, then converted like apiextensions'
// kubeOpenAPIResultToFieldErrors does, so names and values line up.
// ===========================================================================

enum class Code {
  kInvalidType,
  kRequired,
  kTooLong,
  kTooShort,
  kPattern,
  kEnum,
  kMultipleOf,
  kMaximum,
  kMinimum,
  kMinItems,
  kMaxItems,
  kTooFewProperties,
  kTooManyProperties,
  kUnallowedProperty,
  kMultipleOfMustBePositive,
  kComposite,  // anyOf/oneOf/allOf/not summaries, reported without a field
};

struct OpenApiError {
  Code code;
  std::string name;           // kube-openapi path, e.g. "spec.list[0].name"
  std::optional<json> value;  // Validation.Value; nullopt is Go's nil
  int64_t limit = -1;         // Validation.Valid for maxLength/maxItems/maxProperties
  std::vector<json> allowed;  // enum values
  std::string message;
};
using OpenApiErrors = std::vector<OpenApiError>;

struct ValidateOptions {
  // Objects are validated after unsupported formats were stripped; CRD
  // defaults are validated against the schema as written.
  bool strip_unsupported_formats = true;
};

constexpr const char* kIn = " in body ";

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::vector<std::string> schema_types(const json& s) {
  if (flag(s, kIntOrString)) return {"integer", "string"};
  const std::string t = text(s, "type");
  if (t.empty()) return {};
  return {t};
}

std::string effective_format(const json& s, const ValidateOptions& opts) {
  std::string f = text(s, "format");
  if (f.empty() || (opts.strip_unsupported_formats && !is_supported_format(normalize_format(f)))) {
    return "";
  }
  return f;
}

std::string json_type_name(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_string()) return "string";
  if (is_int(v)) return "integer";
  if (v.is_number()) return "number";
  if (v.is_array()) return "array";
  return "object";
}

// The format kube-openapi infers for a Go value (int64, float64).
std::string data_format(const json& v) {
  if (is_int(v)) return "int64";
  if (v.is_number()) return "float64";
  return "";
}

// swag.IsFloat64AJSONInteger.
bool is_json_integer(double f) {
  constexpr double kMaxJsonInt = 9007199254740991.0;  // 1<<53 - 1
  constexpr double kEpsilon = 1e-9;
  if (!std::isfinite(f) || f < -kMaxJsonInt || f > kMaxJsonInt) return false;
  if (f == std::trunc(f)) return true;
  const double g = std::floor(std::fabs(f));
  if (g == 0) return false;
  return (std::fabs(f) - g) / (std::fabs(f) + g) < kEpsilon;
}

OpenApiError invalid_type(const std::string& name, const std::string& type,
                          const std::string& value) {
  return {Code::kInvalidType,
          name,
          json(value),
          -1,
          {},
          name + kIn + "must be of type " + type + ": " + go_quote(value)};
}

OpenApiError unallowed_property(const std::string& path, const std::string& key_path,
                                const std::string& key) {
  return {Code::kUnallowedProperty,
          path,
          json(key),
          -1,
          {},
          key_path + kIn + "is a forbidden property"};
}

OpenApiError composite(std::string message) {
  return {Code::kComposite, "", std::nullopt, -1, {}, std::move(message)};
}

class Validator {
 public:
  explicit Validator(ValidateOptions opts) : opts_(opts) {}

  void validate(const json& data, const json& s, const std::string& path,
                OpenApiErrors& out) const {
    if (data.is_null()) {
      check_type(data, s, path, out);
      check_enum(data, s, path, out);
      return;
    }
    check_type(data, s, path, out);
    check_junctors(data, s, path, out);
    if (data.is_string()) {
      check_string(data.get_ref<const std::string&>(), s, path, out);
      check_format(data.get_ref<const std::string&>(), s, path, out);
    }
    if (data.is_number()) check_number(data, s, path, out);
    if (data.is_array()) check_array(data, s, path, out);
    check_enum(data, s, path, out);
    if (data.is_object()) check_object(data, s, path, out);
  }

 private:
  void check_type(const json& data, const json& s, const std::string& path,
                  OpenApiErrors& out) const {
    const std::vector<std::string> types = schema_types(s);
    const std::string format = effective_format(s, opts_);
    if (types.empty() && format.empty()) return;
    const auto has = [&](const std::string& t) {
      return std::find(types.begin(), types.end(), t) != types.end();
    };
    if (data.is_null()) {
      if (!types.empty() && !nullable(s))
        out.push_back(invalid_type(path, join(types, ","), "null"));
      return;
    }
    const std::string kind = json_type_name(data);
    const bool float_int =
        kind == "number" && is_json_integer(data.get<double>()) && has("integer");
    const bool int_float = kind == "integer" && has("number");
    const bool string_or_slice = data.is_string() || data.is_array();
    if (!string_or_slice && !format.empty() &&
        !(has(kind) || data_format(data) == format || float_int || int_float)) {
      out.push_back(invalid_type(path, format, data_format(data)));
      return;
    }
    if (!(has("number") || has("integer")) && !format.empty() && string_or_slice) return;
    if (!(has(kind) || float_int || int_float)) {
      out.push_back(invalid_type(path, join(types, ","), kind));
    }
  }

  bool valid_against(const json& data, const json& sub, const std::string& path,
                     OpenApiErrors& errs) const {
    validate(data, sub, path, errs);
    return errs.empty();
  }

  // kube-openapi keeps the failures of the "best" alternative, ranked by how
  // many checks passed; fewest errors is the stand-in used here.
  void check_junctors(const json& data, const json& s, const std::string& path,
                      OpenApiErrors& out) const {
    const std::string quoted = go_quote(path);
    if (const json* any = array_at(s, "anyOf"); any && !any->empty()) {
      std::optional<OpenApiErrors> best;
      bool ok = false;
      for (const auto& sub : *any) {
        OpenApiErrors errs;
        if (valid_against(data, sub, path, errs)) {
          ok = true;
          break;
        }
        if (!best || errs.size() < best->size()) best = std::move(errs);
      }
      if (!ok) {
        out.push_back(composite(quoted + " must validate at least one schema (anyOf)"));
        out.insert(out.end(), best->begin(), best->end());
      }
    }
    if (const json* one = array_at(s, "oneOf"); one && !one->empty()) {
      std::optional<OpenApiErrors> best;
      int valid = 0;
      for (const auto& sub : *one) {
        OpenApiErrors errs;
        if (valid_against(data, sub, path, errs)) {
          ++valid;
        } else if (valid == 0 && (!best || errs.size() < best->size())) {
          best = std::move(errs);
        }
      }
      if (valid != 1) {
        const std::string found = valid == 0
                                      ? "Found none valid"
                                      : "Found " + std::to_string(valid) + " valid alternatives";
        out.push_back(
            composite(quoted + " must validate one and only one schema (oneOf). " + found));
        if (valid == 0 && best) out.insert(out.end(), best->begin(), best->end());
      }
    }
    if (const json* all = array_at(s, "allOf"); all && !all->empty()) {
      size_t valid = 0;
      for (const auto& sub : *all) {
        OpenApiErrors errs;
        if (valid_against(data, sub, path, errs)) ++valid;
        out.insert(out.end(), errs.begin(), errs.end());
      }
      if (valid != all->size()) {
        out.push_back(composite(quoted + " must validate all the schemas (allOf)" +
                                (valid == 0 ? ". None validated" : "")));
      }
    }
    if (const json* no = object_at(s, "not")) {
      OpenApiErrors errs;
      if (valid_against(data, *no, path, errs)) {
        out.push_back(composite(quoted + " must not validate the schema (not)"));
      }
    }
  }

  // Stops at the first failure, as kube-openapi's string validator does.
  void check_string(const std::string& str, const json& s, const std::string& path,
                    OpenApiErrors& out) const {
    const int64_t len = rune_count(str);
    if (auto max = number_at(s, "maxLength"); max && len > to_int64(*max)) {
      out.push_back(
          {Code::kTooLong,
           path,
           json(str),
           to_int64(*max),
           {},
           path + kIn + "should be at most " + std::to_string(to_int64(*max)) + " chars long"});
      return;
    }
    if (auto min = number_at(s, "minLength"); min && len < to_int64(*min)) {
      out.push_back(
          {Code::kTooShort,
           path,
           json(str),
           -1,
           {},
           path + kIn + "should be at least " + std::to_string(to_int64(*min)) + " chars long"});
      return;
    }
    const std::string pattern = text(s, "pattern");
    if (pattern.empty()) return;
    const CompiledPattern& re = compile_pattern(pattern);
    if (!re.re) {
      out.push_back({Code::kPattern,
                     path,
                     json(str),
                     -1,
                     {},
                     path + kIn + "should match '" + pattern +
                         ", but pattern is invalid: " + re.error + "'"});
    } else if (!std::regex_search(str, *re.re)) {
      out.push_back(
          {Code::kPattern, path, json(str), -1, {}, path + kIn + "should match '" + pattern + "'"});
    }
  }

  void check_format(const std::string& str, const json& s, const std::string& path,
                    OpenApiErrors& out) const {
    const std::string format = effective_format(s, opts_);
    if (format.empty() || !is_supported_format(normalize_format(format))) return;
    if (!format_accepts(normalize_format(format), str)) {
      out.push_back(invalid_type(path, format, str));
    }
  }

  // Integer data is compared with integer-truncated bounds, as kube-openapi's
  // *NativeType helpers do; float data with the bounds as written.
  void check_number(const json& data, const json& s, const std::string& path,
                    OpenApiErrors& out) const {
    if (auto factor = number_at(s, "multipleOf")) check_multiple_of(data, *factor, path, out);
    if (auto min = number_at(s, "minimum")) {
      check_bound(data, *min, flag(s, "exclusiveMinimum"), false, path, out);
    }
    if (auto max = number_at(s, "maximum")) {
      check_bound(data, *max, flag(s, "exclusiveMaximum"), true, path, out);
    }
  }

  void check_multiple_of(const json& data, double factor, const std::string& path,
                         OpenApiErrors& out) const {
    const std::string positive = "factor MultipleOf declared for " + path + " must be positive: ";
    // A factor that truncates to 0 would make the server divide by zero; the
    // float comparison is the sane reading of such a schema.
    if (is_int(data) && to_int64(factor) != 0) {
      const int64_t f = to_int64(factor);
      if (f < 0) {
        out.push_back(
            {Code::kMultipleOfMustBePositive, path, json(f), -1, {}, positive + std::to_string(f)});
      } else if (data.get<int64_t>() % f != 0) {
        out.push_back({Code::kMultipleOf,
                       path,
                       data,
                       -1,
                       {},
                       path + kIn + "should be a multiple of " + std::to_string(f)});
      }
      return;
    }
    if (factor < 0) {
      out.push_back({Code::kMultipleOfMustBePositive,
                     path,
                     json(factor),
                     -1,
                     {},
                     positive + go_float(factor)});
      return;
    }
    const double d = data.get<double>();
    const double mult = factor < 1 ? 1 / factor * d : d / factor;
    if (!is_json_integer(mult)) {
      out.push_back({Code::kMultipleOf,
                     path,
                     data,
                     -1,
                     {},
                     path + kIn + "should be a multiple of " + go_float(factor)});
    }
  }

  void check_bound(const json& data, double bound, bool exclusive, bool is_max,
                   const std::string& path, OpenApiErrors& out) const {
    bool fails = false;
    std::string shown;
    if (is_int(data)) {
      const int64_t b = to_int64(bound), d = data.get<int64_t>();
      fails = is_max ? (exclusive ? d >= b : d > b) : (exclusive ? d <= b : d < b);
      shown = std::to_string(b);
    } else {
      const double d = data.get<double>();
      fails = is_max ? (exclusive ? d >= bound : d > bound) : (exclusive ? d <= bound : d < bound);
      shown = go_float(bound);
    }
    if (!fails) return;
    const std::string rel = std::string(is_max ? "less than " : "greater than ") +
                            (exclusive ? "" : "or equal to ") + shown;
    out.push_back({is_max ? Code::kMaximum : Code::kMinimum,
                   path,
                   data,
                   -1,
                   {},
                   path + kIn + "should be " + rel});
  }

  void check_array(const json& data, const json& s, const std::string& path,
                   OpenApiErrors& out) const {
    if (const json* items = items_schema(s)) {
      for (size_t i = 0; i < data.size(); ++i) validate(data[i], *items, path_index(path, i), out);
    }
    const auto size = static_cast<int64_t>(data.size());
    if (auto min = number_at(s, "minItems"); min && size < to_int64(*min)) {
      out.push_back(
          {Code::kMinItems,
           path,
           json(size),
           -1,
           {},
           path + kIn + "should have at least " + std::to_string(to_int64(*min)) + " items"});
    }
    if (auto max = number_at(s, "maxItems"); max && size > to_int64(*max)) {
      out.push_back(
          {Code::kMaxItems,
           path,
           json(size),
           to_int64(*max),
           {},
           path + kIn + "should have at most " + std::to_string(to_int64(*max)) + " items"});
    }
  }

  // basicCommonValidator: the data is converted to each enum value's Go type
  // before comparing, so a float matches an integer enum value by truncation.
  static bool enum_matches(const json& data, const json& allowed) {
    if (data.is_null() || allowed.is_null()) return false;
    if (data.is_number() && allowed.is_number()) {
      if (is_int(allowed)) {
        const int64_t d = is_int(data) ? data.get<int64_t>() : to_int64(data.get<double>());
        return d == allowed.get<int64_t>();
      }
      return data.get<double>() == allowed.get<double>();
    }
    if (json_type_name(data) != json_type_name(allowed)) return false;
    return data == allowed;
  }

  void check_enum(const json& data, const json& s, const std::string& path,
                  OpenApiErrors& out) const {
    const json* values = array_at(s, "enum");
    if (!values || values->empty()) return;
    for (const auto& v : *values) {
      if (enum_matches(data, v)) return;
    }
    OpenApiError e{Code::kEnum, path, data.is_null() ? std::nullopt : std::optional<json>(data),
                   -1,          {},   path + kIn + "should be one of the enum values"};
    e.allowed.assign(values->begin(), values->end());
    out.push_back(std::move(e));
  }

  void check_object(const json& data, const json& s, const std::string& path,
                    OpenApiErrors& out) const {
    const auto keys = static_cast<int64_t>(data.size());
    if (auto min = number_at(s, "minProperties"); min && keys < to_int64(*min)) {
      out.push_back(
          {Code::kTooFewProperties,
           path,
           json(keys),
           -1,
           {},
           path + kIn + "should have at least " + std::to_string(to_int64(*min)) + " properties"});
      return;
    }
    if (auto max = number_at(s, "maxProperties"); max && keys > to_int64(*max)) {
      out.push_back(
          {Code::kTooManyProperties,
           path,
           json(keys),
           to_int64(*max),
           {},
           path + kIn + "should have at most " + std::to_string(to_int64(*max)) + " properties"});
      return;
    }
    const auto ap = s.find("additionalProperties");
    const bool ap_false = ap != s.end() && ap->is_boolean() && !ap->get<bool>();
    for (const auto& [k, v] : data.items()) {
      if (property_schema(s, k)) continue;
      std::string key_path = path;  // o.Path+"."+key, even at the root
      key_path.append(".").append(k);
      if (ap_false) {
        out.push_back(unallowed_property(path, key_path, k));
      } else if (const json* ap_schema = additional_schema(s)) {
        validate(v, *ap_schema, key_path, out);
      }
    }
    if (const json* props = object_at(s, "properties")) {
      for (const auto& [name, prop] : props->items()) {
        auto it = data.find(name);
        if (it != data.end()) validate(*it, prop, path_child(path, name), out);
      }
    }
    if (const json* required = array_at(s, "required")) {
      for (const auto& r : *required) {
        if (r.is_string() && !data.contains(r.get<std::string>())) {
          const std::string name = path + "." + r.get<std::string>();
          out.push_back({Code::kRequired, name, std::nullopt, -1, {}, name + kIn + "is required"});
        }
      }
    }
  }

  ValidateOptions opts_;
};

std::string value_or_empty(const std::optional<json>& v) { return v ? go_value(*v) : go_quote(""); }

// kubeOpenAPIResultToFieldErrors: `prefix` is the field path the validated
// value sits at ("" for a whole object, "...default" for a CRD default).
std::vector<FieldCause> to_field_causes(const OpenApiErrors& errs, const std::string& prefix) {
  std::vector<FieldCause> out;
  for (const auto& e : errs) {
    if (e.code == Code::kComposite) {
      out.push_back(invalid_cause(prefix, go_quote(""), e.message));
      continue;
    }
    std::string field = prefix;
    if (!e.name.empty() && e.name != ".") {
      field = path_child(prefix, e.name[0] == '.' ? e.name.substr(1) : e.name);
    }
    switch (e.code) {
      case Code::kRequired:
        out.push_back(required_cause(field));
        break;
      case Code::kEnum: {
        std::vector<std::string> allowed;
        for (const auto& v : e.allowed) {
          allowed.push_back(v.is_string() ? v.get<std::string>() : go_json(v));
        }
        out.push_back(not_supported_cause(field, go_value(e.value.value_or(json())), allowed));
        break;
      }
      case Code::kTooLong:
        out.push_back(too_long_cause(field, e.limit));
        break;
      case Code::kMaxItems:
      case Code::kTooManyProperties:
        out.push_back(too_many_cause(field, e.value ? e.value->get<int64_t>() : -1, e.limit));
        break;
      case Code::kInvalidType:
        out.push_back(type_invalid_cause(field, value_or_empty(e.value), e.message));
        break;
      default:
        out.push_back(invalid_cause(field, value_or_empty(e.value), e.message));
    }
  }
  return out;
}

// ===========================================================================
// Pruning, null dropping and defaulting (apiextensions schema/pruning and
// schema/defaulting).
// ===========================================================================

class Pruner {
 public:
  explicit Pruner(std::vector<std::string>* unknown) : unknown_(unknown) {}

  // `resource_root` makes the node behave as an embedded resource: the
  // server treats the object root that way, keeping apiVersion/kind/metadata.
  void prune(json& x, const json* s, const std::string& path, bool resource_root) {
    if (s && flag(*s, kPreserveUnknown)) {
      skip_prune(x, s, path, resource_root);
      return;
    }
    if (x.is_object()) {
      if (!s) {
        for (const auto& [k, v] : x.items()) record(path_child(path, k));
        x = json::object();
        return;
      }
      const bool embedded = resource_root || flag(*s, kEmbedded);
      std::vector<std::string> drop;
      for (auto& [k, v] : x.items()) {
        if (embedded && is_meta_field(k)) continue;
        if (const json* prop = property_schema(*s, k)) {
          prune(v, prop, path_child(path, k), false);
        } else if (has_additional_properties(*s)) {
          prune(v, additional_schema(*s), path_child(path, k), false);
        } else {
          record(path_child(path, k));
          drop.push_back(k);
        }
      }
      for (const auto& k : drop) x.erase(k);
    } else if (x.is_array()) {
      const json* items = s ? items_schema(*s) : nullptr;
      for (size_t i = 0; i < x.size(); ++i) prune(x[i], items, path_index(path, i), false);
    }
  }

 private:
  // Under x-kubernetes-preserve-unknown-fields, unknown keys stay, but
  // specified properties are still pruned below.
  void skip_prune(json& x, const json* s, const std::string& path, bool resource_root) {
    if (!s) return;
    if (x.is_object()) {
      const bool embedded = resource_root || flag(*s, kEmbedded);
      for (auto& [k, v] : x.items()) {
        if (embedded && is_meta_field(k)) continue;
        if (const json* prop = property_schema(*s, k)) {
          prune(v, prop, path_child(path, k), false);
        } else if (has_additional_properties(*s)) {
          prune(v, additional_schema(*s), path_child(path, k), false);
        }
      }
    } else if (x.is_array()) {
      for (size_t i = 0; i < x.size(); ++i) {
        skip_prune(x[i], items_schema(*s), path_index(path, i), false);
      }
    }
  }

  void record(const std::string& path) {
    if (unknown_) unknown_->push_back(path);
  }

  std::vector<std::string>* unknown_;
};

const json* schema_for_field(const json* s, const std::string& k) {
  if (!s) return nullptr;
  if (const json* prop = property_schema(*s, k)) return prop;
  return additional_schema(*s);
}

// PruneNonNullableNullsWithoutDefaults: a null the schema neither allows nor
// defaults is dropped, not reported; nulls inside arrays stay and fail
// validation.
void drop_disallowed_nulls(json& x, const json* s) {
  if (x.is_object()) {
    std::vector<std::string> drop;
    for (auto& [k, v] : x.items()) {
      const json* sub = schema_for_field(s, k);
      if (v.is_null() && sub && !nullable(*sub) && !has_default(*sub)) {
        drop.push_back(k);
      } else {
        drop_disallowed_nulls(v, sub);
      }
    }
    for (const auto& k : drop) x.erase(k);
  } else if (x.is_array()) {
    const json* items = s ? items_schema(*s) : nullptr;
    for (auto& v : x) drop_disallowed_nulls(v, items);
  }
}

// structuraldefaulting.Default: missing (or disallowed-null) fields of an
// existing object get their default, and every value, defaulted or not, is
// then defaulted in turn; so a defaulted object gets its nested defaults.
void apply_defaults(json& x, const json* s) {
  if (!s) return;
  if (x.is_object()) {
    if (const json* props = object_at(*s, "properties")) {
      for (const auto& [k, prop] : props->items()) {
        if (!prop.is_object() || !has_default(prop)) continue;
        auto it = x.find(k);
        if (it == x.end() || (it->is_null() && !nullable(prop))) x[k] = prop["default"];
      }
    }
    for (auto& [k, v] : x.items()) {
      if (const json* prop = property_schema(*s, k)) {
        apply_defaults(v, prop);
      } else if (const json* ap = additional_schema(*s)) {
        if (v.is_null() && !nullable(*ap) && has_default(*ap)) v = (*ap)["default"];
        apply_defaults(v, ap);
      }
    }
  } else if (x.is_array()) {
    const json* items = items_schema(*s);
    if (!items) return;
    for (auto& v : x) {
      if (v.is_null() && !nullable(*items) && has_default(*items)) v = (*items)["default"];
      apply_defaults(v, items);
    }
  }
}

// ===========================================================================
// Embedded resources (schema/objectmeta.Validate) and list types
// (schema/listtype). Their field paths use [key] for map entries.
// ===========================================================================

// validation.IsDNS1035Label's messages, joined as the server joins them.
std::string dns1035_errors(const std::string& v) {
  constexpr size_t kMaxLength = 63;
  std::vector<std::string> errs;
  if (v.size() > kMaxLength) errs.push_back("must be no more than 63 characters");
  if (!matches(v, "^[a-z]([-a-z0-9]*[a-z0-9])?$")) {
    errs.push_back(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
        "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
        "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')");
  }
  return join(errs, ",");
}

void check_embedded_resource(const json& x, const std::string& path, std::vector<FieldCause>& out) {
  if (!x.contains("apiVersion")) {
    out.push_back(required_cause(path_child(path, "apiVersion"), "must not be empty"));
  }
  if (!x.contains("kind"))
    out.push_back(required_cause(path_child(path, "kind"), "must not be empty"));
  if (auto it = x.find("apiVersion"); it != x.end()) {
    const std::string f = path_child(path, "apiVersion");
    if (!it->is_string()) {
      out.push_back(invalid_cause(f, go_value(*it), "must be a string"));
    } else if (it->get<std::string>().empty()) {
      out.push_back(invalid_cause(f, go_quote(""), "must not be empty"));
    } else if (std::count(it->get_ref<const std::string&>().begin(),
                          it->get_ref<const std::string&>().end(), '/') > 1) {
      out.push_back(invalid_cause(f, go_value(*it),
                                  "unexpected GroupVersion string: " + it->get<std::string>()));
    }
  }
  if (auto it = x.find("kind"); it != x.end()) {
    const std::string f = path_child(path, "kind");
    if (!it->is_string()) {
      out.push_back(invalid_cause(f, go_value(*it), "must be a string"));
    } else if (it->get<std::string>().empty()) {
      out.push_back(invalid_cause(f, go_quote(""), "must not be empty"));
    } else {
      std::string lower = it->get<std::string>();
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (const std::string errs = dns1035_errors(lower); !errs.empty()) {
        out.push_back(invalid_cause(f, go_value(*it),
                                    "may have mixed case, but should otherwise match: " + errs));
      }
    }
  }
}

void check_embedded(const json& x, const json* s, const std::string& path,
                    std::vector<FieldCause>& out) {
  if (!s) return;
  if (x.is_object()) {
    if (flag(*s, kEmbedded)) check_embedded_resource(x, path, out);
    for (const auto& [k, v] : x.items()) {
      if (const json* prop = property_schema(*s, k)) {
        check_embedded(v, prop, path_child(path, k), out);
      } else if (has_additional_properties(*s)) {
        check_embedded(v, additional_schema(*s), path_key(path, k), out);
      }
    }
  } else if (x.is_array()) {
    for (size_t i = 0; i < x.size(); ++i)
      check_embedded(x[i], items_schema(*s), path_index(path, i), out);
  }
}

// Identity of a value for set semantics: Go compares scalars by type and
// value, compound values by their JSON encoding.
std::string identity(const json& v) {
  if (v.is_object() || v.is_array()) return "c" + go_json(v);
  if (is_int(v)) return "i" + std::to_string(v.get<int64_t>());
  if (v.is_number()) return "f" + go_float(v.get<double>());
  return json_type_name(v).substr(0, 1) + v.dump();
}

// Indexes of second occurrences only: a third copy is not reported again.
std::vector<size_t> second_occurrences(const std::vector<std::string>& ids) {
  std::unordered_map<std::string, int> seen;
  std::vector<size_t> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (++seen[ids[i]] == 2) out.push_back(i);
  }
  return out;
}

void check_list_map(const json& list, const json& s, const std::string& path,
                    std::vector<FieldCause>& out) {
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_null() && !list[i].is_object()) {
      out.push_back(invalid_cause(path_index(path, i), go_value(list[i]),
                                  "must be an object for an array of list-type map"));
      return;
    }
  }
  if (list.size() <= 1) return;
  std::vector<std::string> key_fields;
  if (const json* keys = array_at(s, kListMapKeys)) {
    for (const auto& k : *keys) {
      if (k.is_string()) key_fields.push_back(k.get<std::string>());
    }
  }
  std::vector<json> keys;
  std::vector<std::string> ids;
  for (const auto& item : list) {
    json key = json::object();
    for (const auto& f : key_fields) {
      if (item.is_object() && item.contains(f)) key[f] = item[f];
    }
    // With one key field the server compares the bare key value, and items
    // without it form their own "unspecified" class.
    if (key_fields.size() == 1) {
      ids.push_back(key.empty() ? std::string("unspecified") : identity(key[key_fields[0]]));
    } else {
      ids.push_back(identity(key));
    }
    keys.push_back(std::move(key));
  }
  for (size_t i : second_occurrences(ids)) {
    out.push_back(duplicate_cause(path_index(path, i), go_value(keys[i])));
  }
}

void check_list_types(const json& x, const json* s, const std::string& path,
                      std::vector<FieldCause>& out);

void check_list_array(const json& list, const json& s, const std::string& path,
                      std::vector<FieldCause>& out) {
  const std::string type = text(s, kListType);
  if (type == "set") {
    std::vector<std::string> ids;
    for (const auto& v : list) ids.push_back(identity(v));
    for (size_t i : second_occurrences(ids)) {
      out.push_back(duplicate_cause(path_index(path, i), go_value(list[i])));
    }
  } else if (type == "map") {
    check_list_map(list, s, path, out);
  }
  if (const json* items = items_schema(s)) {
    for (size_t i = 0; i < list.size(); ++i)
      check_list_types(list[i], items, path_index(path, i), out);
  }
}

void check_list_types(const json& x, const json* s, const std::string& path,
                      std::vector<FieldCause>& out) {
  if (!s) return;
  if (x.is_array()) {
    check_list_array(x, *s, path, out);
    return;
  }
  if (!x.is_object()) return;
  if (const json* ap = additional_schema(*s)) {
    for (const auto& [k, v] : x.items()) check_list_types(v, ap, path_key(path, k), out);
  }
  for (const auto& [k, v] : x.items()) {
    if (const json* prop = property_schema(*s, k))
      check_list_types(v, prop, path_child(path, k), out);
  }
}

}  // namespace

SchemaResult apply_schema(json& obj, const json& schema) {
  SchemaResult result;
  // Decode: prune, drop disallowed nulls, default (customresource_handler).
  Pruner(&result.unknown_fields).prune(obj, &schema, "", true);
  std::sort(result.unknown_fields.begin(), result.unknown_fields.end());
  drop_disallowed_nulls(obj, &schema);
  apply_defaults(obj, &schema);
  // Validate: schema, then embedded resources, then list types (strategy).
  OpenApiErrors errs;
  Validator(ValidateOptions{}).validate(obj, schema, "", errs);
  result.errors = to_field_causes(errs, "");
  check_embedded(obj, &schema, "", result.errors);
  check_list_types(obj, &schema, "", result.errors);
  return result;
}

// ===========================================================================
// Checking a CRD version's schema (apiextensions validation of CRDs).
// ===========================================================================

namespace {

enum class Level { kRoot, kItem, kField };

std::string sorted_key_path(const std::string& p, const char* child, const std::string& key) {
  return path_key(path_child(p, child), key);
}

// The two int-or-string shapes a structural schema may spell out under
// anyOf (or allOf[0].anyOf): exactly [{type: integer}, {type: string}].
bool is_int_or_string_any_of(const json* any) {
  return any && *any == json::array({{{"type", "integer"}}, {{"type", "string"}}});
}

class StructuralChecker {
 public:
  explicit StructuralChecker(std::vector<FieldCause>& out) : out_(out) {}

  void invariants(const json& s, Level lvl, const std::string& path) {
    const std::string type = text(s, "type");
    const json* items = items_schema(s);
    if (type == "array" && !items)
      out_.push_back(required_cause(path + ".items", "must be specified"));
    if (items) invariants(*items, Level::kItem, path + ".items");
    if (const json* props = object_at(s, "properties")) {
      for (const auto& [k, v] : props->items()) {
        invariants(v, Level::kField, sorted_key_path(path, "properties", k));
      }
    }
    if (has_additional_properties(s)) {
      if (lvl == Level::kRoot) {
        out_.push_back(
            forbidden_cause(path + ".additionalProperties", "must not be used at the root"));
      }
      if (const json* ap = additional_schema(s)) {
        invariants(*ap, Level::kField, path + ".additionalProperties");
      }
    }
    extensions(s, path);
    const json* all = array_at(s, "allOf");
    const bool skip_any_of = is_int_or_string_any_of(array_at(s, "anyOf"));
    const bool skip_first_all_of_any_of =
        all && !all->empty() && is_int_or_string_any_of(array_at((*all)[0], "anyOf"));
    value_validation(s, skip_any_of, skip_first_all_of_any_of, path);
    generics(s, lvl, type, path);
    metadata_rules(s, lvl, path);
  }

  // Every property a junctor mentions must exist in the structural part
  // (validateStructuralCompleteness; the server checks from the root only).
  void completeness(const json& v, const json* s, const std::string& s_path,
                    const std::string& v_path) {
    if (!has_junctors(v)) return;
    if (const json* no = object_at(v, "not")) nested_completeness(*no, s, s_path, v_path + ".not");
    for (const char* junctor : {"allOf", "anyOf", "oneOf"}) {
      if (const json* list = array_at(v, junctor)) {
        for (size_t i = 0; i < list->size(); ++i) {
          nested_completeness((*list)[i], s, s_path, path_index(v_path + "." + junctor, i));
        }
      }
    }
  }

 private:
  static bool has_junctors(const json& v) {
    return array_at(v, "allOf") || array_at(v, "anyOf") || array_at(v, "oneOf") ||
           object_at(v, "not");
  }

  void nested_completeness(const json& v, const json* s, const std::string& s_path,
                           const std::string& v_path) {
    if (!s) {
      out_.push_back(required_cause(s_path, "because it is defined in " + v_path));
      return;
    }
    completeness(v, s, s_path, v_path);
    if (const json* items = items_schema(v)) {
      nested_completeness(*items, items_schema(*s), s_path + ".items", v_path + ".items");
    }
    if (const json* props = object_at(v, "properties")) {
      for (const auto& [k, sub] : props->items()) {
        const std::string sp = sorted_key_path(s_path, "properties", k);
        const std::string vp = sorted_key_path(v_path, "properties", k);
        if (const json* s_prop = property_schema(*s, k)) {
          nested_completeness(sub, s_prop, sp, vp);
        } else {
          out_.push_back(required_cause(sp, "because it is defined in " + vp));
        }
      }
    }
  }

  void extensions(const json& s, const std::string& path) {
    if (!flag(s, kIntOrString)) return;
    if (flag(s, kPreserveUnknown)) {
      out_.push_back(invalid_cause(path + "." + kPreserveUnknown, "true",
                                   "must be false if x-kubernetes-int-or-string is true"));
    }
    if (flag(s, kEmbedded)) {
      out_.push_back(invalid_cause(path + "." + kEmbedded, "true",
                                   "must be false if x-kubernetes-int-or-string is true"));
    }
  }

  void value_validation(const json& v, bool skip_any_of, bool skip_first_all_of_any_of,
                        const std::string& path) {
    if (const json* any = array_at(v, "anyOf"); any && !skip_any_of) {
      for (size_t i = 0; i < any->size(); ++i) {
        nested((*any)[i], false, path_index(path + ".anyOf", i));
      }
    }
    if (const json* all = array_at(v, "allOf")) {
      for (size_t i = 0; i < all->size(); ++i) {
        nested((*all)[i], skip_first_all_of_any_of && i == 0, path_index(path + ".allOf", i));
      }
    }
    if (const json* one = array_at(v, "oneOf")) {
      for (size_t i = 0; i < one->size(); ++i)
        nested((*one)[i], false, path_index(path + ".oneOf", i));
    }
    if (const json* no = object_at(v, "not")) nested(*no, false, path + ".not");
    if (const std::string pattern = text(v, "pattern"); !pattern.empty()) {
      if (const CompiledPattern& re = compile_pattern(pattern); !re.re) {
        out_.push_back(invalid_cause(path + ".pattern", go_quote(pattern),
                                     "must be a valid regular expression, but isn't: " + re.error));
      }
    }
  }

  // Inside allOf/anyOf/oneOf/not only value validations are allowed.
  void nested(const json& v, bool skip_any_of, const std::string& path) {
    if (!v.is_object()) return;
    value_validation(v, skip_any_of, false, path);
    if (const json* items = items_schema(v)) nested(*items, false, path + ".items");
    if (const json* props = object_at(v, "properties")) {
      for (const auto& [k, sub] : props->items()) {
        nested(sub, false, sorted_key_path(path, "properties", k));
      }
    }
    const auto forbid = [&](const char* key, const char* detail) {
      out_.push_back(forbidden_cause(path + "." + key, detail));
    };
    if (!text(v, "type").empty()) forbid("type", "must be empty to be structural");
    if (v.contains("additionalProperties"))
      forbid("additionalProperties", "must be undefined to be structural");
    if (has_default(v)) forbid("default", "must be undefined to be structural");
    if (!text(v, "title").empty()) forbid("title", "must be empty to be structural");
    if (!text(v, "description").empty()) forbid("description", "must be empty to be structural");
    if (flag(v, "nullable")) forbid("nullable", "must be false to be structural");
    if (flag(v, kPreserveUnknown)) forbid(kPreserveUnknown, "must be false to be structural");
    if (flag(v, kEmbedded)) forbid(kEmbedded, "must be false to be structural");
    if (flag(v, kIntOrString)) forbid(kIntOrString, "must be false to be structural");
    if (const json* keys = array_at(v, kListMapKeys); keys && !keys->empty()) {
      forbid(kListMapKeys, "must be empty to be structural");
    }
    if (v.contains(kListType)) forbid(kListType, "must be undefined to be structural");
    if (property_schema(v, "metadata")) {
      out_.push_back(forbidden_cause(sorted_key_path(path, "properties", "metadata"),
                                     "must not be specified in a nested context"));
    }
  }

  void generics(const json& s, Level lvl, const std::string& type, const std::string& path) {
    const bool embedded = flag(s, kEmbedded);
    if (embedded && type != "object") {
      const char* detail = "must be object if x-kubernetes-embedded-resource is true";
      out_.push_back(type.empty() ? required_cause(path + ".type", detail)
                                  : invalid_cause(path + ".type", go_quote(type), detail));
    } else if (type.empty() && !flag(s, kIntOrString) && !flag(s, kPreserveUnknown)) {
      static const std::map<Level, const char*> kDetail = {
          {Level::kRoot, "must not be empty at the root"},
          {Level::kItem, "must not be empty for specified array items"},
          {Level::kField, "must not be empty for specified object fields"}};
      out_.push_back(required_cause(path + ".type", kDetail.at(lvl)));
    }
    if (embedded && has_additional_properties(s)) {
      out_.push_back(forbidden_cause(path + ".additionalProperties",
                                     "must not be used if x-kubernetes-embedded-resource is set"));
    }
    if (lvl == Level::kRoot && !type.empty() && type != "object") {
      out_.push_back(invalid_cause(path + ".type", go_quote(type), "must be object at the root"));
    }
  }

  void metadata_rules(const json& s, Level lvl, const std::string& path) {
    const bool embedded = flag(s, kEmbedded);
    if (lvl == Level::kRoot || embedded) {
      for (const char* field : {"kind", "apiVersion"}) {
        if (const json* p = property_schema(s, field); p && text(*p, "type") != "string") {
          out_.push_back(invalid_cause(sorted_key_path(path, "properties", field) + ".type",
                                       go_quote(text(*p, "type")), "must be string"));
        }
      }
      if (const json* m = property_schema(s, "metadata"); m && text(*m, "type") != "object") {
        out_.push_back(invalid_cause(sorted_key_path(path, "properties", "metadata") + ".type",
                                     go_quote(text(*m, "type")), "must be object"));
      }
    }
    if (const json* m = property_schema(s, "metadata"); m && lvl == Level::kRoot) {
      if (!metadata_only_names(*m)) {
        out_.push_back(forbidden_cause(sorted_key_path(path, "properties", "metadata"),
                                       "must not specify anything other than name and "
                                       "generateName, but metadata is implicitly specified"));
      }
    }
    if (embedded && !flag(s, kPreserveUnknown) && !object_at(s, "properties")) {
      out_.push_back(required_cause(path + ".properties",
                                    "must not be empty if x-kubernetes-embedded-resource is true "
                                    "without x-kubernetes-preserve-unknown-fields"));
    }
  }

  // The root metadata schema may only restrict name and generateName; its
  // type and default are checked elsewhere.
  static bool metadata_only_names(const json& m) {
    for (const auto& [k, v] : m.items()) {
      if (k == "type" || k == "default") continue;
      if (k != "properties" || !v.is_object()) return false;
      for (const auto& [name, sub] : v.items()) {
        if (name != "name" && name != "generateName") return false;
      }
    }
    return true;
  }

  std::vector<FieldCause>& out_;
};

// structuraldefaulting.ValidateDefaults: defaults must survive pruning and
// validate against their own node's schema (formats not stripped). Defaults
// for TypeMeta/ObjectMeta of a resource skip the pruning check, since
// ObjectMeta is not described by the schema; the server coerces them as
// ObjectMeta instead, which is not reproduced. Values under
// additionalProperties are not followed, as on the server.
void check_defaults(const json& s, const std::string& path, bool resource_root, bool inside_meta,
                    std::vector<FieldCause>& out) {
  const bool embedded = resource_root || flag(s, kEmbedded);
  if (embedded) inside_meta = false;
  if (has_default(s)) {
    const json& def = s["default"];
    json pruned = def;
    Pruner(nullptr).prune(pruned, &s, "", embedded);
    if (!inside_meta && pruned != def) {
      out.push_back(
          invalid_cause(path + ".default", go_value(def), "must not have unknown fields"));
    }
    OpenApiErrors errs;
    Validator(ValidateOptions{.strip_unsupported_formats = false}).validate(def, s, "", errs);
    auto causes = to_field_causes(errs, path + ".default");
    out.insert(out.end(), causes.begin(), causes.end());
  }
  if (const json* items = items_schema(s)) {
    check_defaults(*items, path + ".items", false, inside_meta, out);
  }
  if (const json* props = object_at(s, "properties")) {
    for (const auto& [k, sub] : props->items()) {
      if (!sub.is_object()) continue;
      check_defaults(sub, sorted_key_path(path, "properties", k), false,
                     inside_meta || (embedded && is_meta_field(k)), out);
    }
  }
}

// What ValidateCustomResourceDefinitionOpenAPISchema carries down the tree.
struct OpenApiScope {
  bool allow_defaults = true;
  std::string no_defaults_reason;
  bool inside_resource_meta = false;
};

class OpenApiSubsetChecker {
 public:
  explicit OpenApiSubsetChecker(std::vector<FieldCause>& out) : out_(out) {}

  void check(const json& s, const std::string& path, const OpenApiScope& scope, bool is_root) {
    if (!s.is_object()) return;
    keywords(s, path, scope);
    if (flag(s, "uniqueItems")) {
      forbid(path + ".uniqueItems",
             "uniqueItems cannot be set to true since the runtime complexity becomes quadratic");
    }
    const json* props = object_at(s, "properties");
    if (has_additional_properties(s)) {
      const json& ap = s["additionalProperties"];
      if (props && !props->empty() && (ap.is_object() || (ap.is_boolean() && !ap.get<bool>()))) {
        forbid(path + ".additionalProperties",
               "additionalProperties and properties are mutual exclusive");
      }
      OpenApiScope sub = scope;
      if (scope.inside_resource_meta) {
        sub.allow_defaults = false;
        sub.no_defaults_reason = "inside additionalProperties applying to object metadata";
      }
      if (ap.is_object()) check(ap, path + ".additionalProperties", sub, false);
    }
    if (props) {
      for (const auto& [k, sub_schema] : props->items()) {
        OpenApiScope sub = scope;
        if ((is_root || flag(s, kEmbedded)) && is_meta_field(k)) {
          sub.inside_resource_meta = true;
          if (is_root) {
            sub.allow_defaults = false;
            sub.no_defaults_reason = "in top-level " + k;
          }
        }
        check(sub_schema, sorted_key_path(path, "properties", k), sub, false);
      }
    }
    if (const json* no = object_at(s, "not")) check(*no, path + ".not", scope, false);
    for (const char* junctor : {"allOf", "oneOf", "anyOf"}) {
      if (const json* list = array_at(s, junctor)) {
        for (size_t i = 0; i < list->size(); ++i) {
          check((*list)[i], path_index(path + "." + junctor, i), scope, false);
        }
      }
    }
    if (const json* items = items_schema(s)) check(*items, path + ".items", scope, false);
    extensions(s, path);
    list_types(s, path);
  }

 private:
  void forbid(const std::string& f, const std::string& detail) {
    out_.push_back(forbidden_cause(f, detail));
  }

  // specStandardValidatorV3.validate
  void keywords(const json& s, const std::string& path, const OpenApiScope& scope) {
    static const std::vector<std::string> kTypes = {"array",  "boolean", "integer",
                                                    "number", "object",  "string"};
    const std::string type = text(s, "type");
    if (!type.empty() && std::find(kTypes.begin(), kTypes.end(), type) == kTypes.end()) {
      out_.push_back(not_supported_cause(path + ".type", go_quote(type), kTypes));
    }
    if (s.contains("default") && !scope.allow_defaults) {
      forbid(path + ".default", "must not be set" + (scope.no_defaults_reason.empty()
                                                         ? std::string()
                                                         : " " + scope.no_defaults_reason));
    }
    if (!text(s, "id").empty()) forbid(path + ".id", "id is not supported");
    if (s.contains("additionalItems"))
      forbid(path + ".additionalItems", "additionalItems is not supported");
    if (const json* pp = object_at(s, "patternProperties"); pp && !pp->empty()) {
      forbid(path + ".patternProperties", "patternProperties is not supported");
    }
    if (const json* defs = object_at(s, "definitions"); defs && !defs->empty()) {
      forbid(path + ".definitions", "definitions is not supported");
    }
    if (s.contains("dependencies")) forbid(path + ".dependencies", "dependencies is not supported");
    if (s.contains("$ref")) forbid(path + ".$ref", "$ref is not supported");
    if (type == "null")
      forbid(path + ".type", "type cannot be set to null, use nullable as an alternative");
    if (array_at(s, "items"))
      forbid(path + ".items", "items must be a schema object and not an array");
    if (scope.inside_resource_meta && flag(s, kEmbedded)) {
      forbid(path + "." + kEmbedded, "must not be used inside of resource meta");
    }
  }

  void extensions(const json& s, const std::string& path) {
    const std::string type = text(s, "type");
    if (auto it = s.find(kPreserveUnknown); it != s.end() && it->is_boolean() && !it->get<bool>()) {
      out_.push_back(
          invalid_cause(path + "." + kPreserveUnknown, "false", "must be true or undefined"));
    }
    if (s.contains(kMapType)) {
      const std::string map_type = text(s, kMapType);
      if (type != "object") {
        const char* detail = "must be object if x-kubernetes-map-type is specified";
        out_.push_back(type.empty() ? required_cause(path + ".type", detail)
                                    : invalid_cause(path + ".type", go_quote(type), detail));
      }
      if (map_type != "atomic" && map_type != "granular") {
        out_.push_back(
            not_supported_cause(path + "." + kMapType, go_quote(map_type), {"atomic", "granular"}));
      }
    }
  }

  void list_types(const json& s, const std::string& path) {
    const std::string type = text(s, "type");
    const bool has_list_type = s.contains(kListType);
    const std::string list_type = text(s, kListType);
    const json* items = items_schema(s);
    const json* keys = array_at(s, kListMapKeys);
    const bool has_keys = keys && !keys->empty();
    if (has_list_type && type != "array") {
      const char* detail = "must be array if x-kubernetes-list-type is specified";
      out_.push_back(type.empty() ? required_cause(path + ".type", detail)
                                  : invalid_cause(path + ".type", go_quote(type), detail));
    } else if (list_type == "set" && items) {
      set_items(*items, path);
    }
    if (has_list_type && list_type != "atomic" && list_type != "set" && list_type != "map") {
      out_.push_back(not_supported_cause(path + "." + kListType, go_quote(list_type),
                                         {"atomic", "set", "map"}));
    }
    if (has_keys) {
      const char* detail = "must be map if x-kubernetes-list-map-keys is non-empty";
      if (!has_list_type) {
        out_.push_back(required_cause(path + "." + kListType, detail));
      } else if (list_type != "map") {
        out_.push_back(invalid_cause(path + "." + kListType, go_quote(list_type), detail));
      }
    }
    if (list_type == "map") map_list(s, items, keys, path);
    if (items && (list_type == "set" || list_type == "map"))
      map_set_items(*items, keys, list_type, path);
  }

  // Items of a set must compare as whole values.
  void set_items(const json& items, const std::string& path) {
    const std::string item_type = text(items, "type");
    const char* detail = "must be atomic as item of a list with x-kubernetes-list-type=set";
    if (item_type == "array" && items.contains(kListType) && text(items, kListType) != "atomic") {
      out_.push_back(
          invalid_cause(path + ".items." + kListType, go_quote(text(items, kListType)), detail));
    } else if (item_type == "object" && text(items, kMapType) != "atomic") {
      // The server prints the items' list type here, a nil pointer in practice.
      const std::string shown =
          items.contains(kListType) ? go_quote(text(items, kListType)) : go_quote("null");
      out_.push_back(invalid_cause(path + ".items." + kMapType, shown, detail));
    }
  }

  void map_list(const json& s, const json* items, const json* keys, const std::string& path) {
    if (!keys || keys->empty()) {
      out_.push_back(required_cause(path + "." + kListMapKeys,
                                    "must not be empty if x-kubernetes-list-type is map"));
    }
    if (!s.contains("items")) {
      out_.push_back(
          required_cause(path + ".items", "must have a schema if x-kubernetes-list-type is map"));
    }
    if (!items) return;
    const std::string item_type = text(*items, "type");
    if (item_type != "object") {
      out_.push_back(
          invalid_cause(path + ".items.type", go_quote(item_type),
                        "must be object if parent array's x-kubernetes-list-type is map"));
      return;
    }
    if (!keys) return;
    std::set<std::string> seen;
    for (const auto& k : *keys) {
      const std::string key = k.is_string() ? k.get<std::string>() : "";
      if (const json* prop = property_schema(*items, key)) {
        const std::string t = text(*prop, "type");
        if (t == "array" || t == "object") {
          out_.push_back(invalid_cause(
              sorted_key_path(path + ".items", "properties", key) + ".type", go_quote(item_type),
              "must be a scalar type if parent array's x-kubernetes-list-type is map"));
        }
      } else {
        out_.push_back(invalid_cause(path + "." + kListMapKeys, go_string_slice(*keys),
                                     "entries must all be names of item properties"));
      }
      if (!seen.insert(key).second) {
        out_.push_back(invalid_cause(path + "." + kListMapKeys, go_string_slice(*keys),
                                     "must not contain duplicate entries"));
      }
    }
  }

  // validateMapListKeysMapSet: keys must always be present and never null.
  void map_set_items(const json& items, const json* keys, const std::string& list_type,
                     const std::string& path) {
    if (nullable(items)) {
      forbid(path + ".items.nullable",
             "cannot be nullable when x-kubernetes-list-type is " + list_type);
    }
    if (list_type != "map" || !keys) return;
    std::set<std::string> required;
    if (const json* req = array_at(items, "required")) {
      for (const auto& r : *req) {
        if (r.is_string()) required.insert(r.get<std::string>());
      }
    }
    for (const auto& k : *keys) {
      const std::string key = k.is_string() ? k.get<std::string>() : "";
      const json* prop = property_schema(items, key);
      if (!prop) continue;
      const std::string at = sorted_key_path(path + ".items", "properties", key);
      if (!required.count(key) && !prop->contains("default")) {
        out_.push_back(required_cause(at + ".default",
                                      "this property is in x-kubernetes-list-map-keys, so it must "
                                      "have a default or be a required property"));
      }
      if (nullable(*prop)) {
        forbid(at + ".nullable",
               "this property is in x-kubernetes-list-map-keys, so it cannot be nullable");
      }
    }
  }

  std::vector<FieldCause>& out_;
};

}  // namespace

std::vector<FieldCause> check_structural_schema(const json& schema,
                                                const std::string& path_prefix) {
  std::vector<FieldCause> out;
  if (flag(schema, "nullable")) {
    out.push_back(
        forbidden_cause(path_prefix + ".nullable", "nullable cannot be true at the root"));
  }
  // Structural violations come sorted by their text; defaults are only
  // checked once the schema is structural, as on the server.
  std::vector<FieldCause> structural;
  StructuralChecker checker(structural);
  checker.invariants(schema, Level::kRoot, path_prefix);
  checker.completeness(schema, &schema, path_prefix, path_prefix);
  std::sort(structural.begin(), structural.end(), [](const FieldCause& a, const FieldCause& b) {
    return a.field + ": " + a.message < b.field + ": " + b.message;
  });
  if (structural.empty()) {
    check_defaults(schema, path_prefix, true, false, out);
  } else {
    out.insert(out.end(), structural.begin(), structural.end());
  }
  OpenApiSubsetChecker(out).check(schema, path_prefix, OpenApiScope{}, true);
  return out;
}

}  // namespace kubesim
