#include "common/quantity.h"

#include <array>
#include <cctype>
#include <limits>
#include <utility>

namespace frugal {
namespace {

constexpr std::string_view kFormatError =
    "quantities must match the regular expression "
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

// __int128 keeps intermediate products of large binary suffixes exact.
using Wide = __int128;
constexpr Wide kMax = std::numeric_limits<int64_t>::max();

struct Scale {
  Wide numerator;    // multiply the number by this...
  Wide denominator;  // ...and divide by this, in milli-units
};

Wide pow_wide(Wide base, int exp) {
  Wide r = 1;
  for (int i = 0; i < exp; ++i) {
    r *= base;
    if (r > kMax * 1000) return kMax * 1000;
  }
  return r;
}

// The suffix's value in milli-units as numerator/denominator.
bool suffix_scale(std::string_view suffix, Scale& out) {
  static constexpr std::array<std::pair<std::string_view, int>, 6> kBinary{
      {{"Ki", 1}, {"Mi", 2}, {"Gi", 3}, {"Ti", 4}, {"Pi", 5}, {"Ei", 6}}};
  static constexpr std::array<std::pair<std::string_view, int>, 10> kDecimal{{{"n", -9},
                                                                              {"u", -6},
                                                                              {"m", -3},
                                                                              {"", 0},
                                                                              {"k", 3},
                                                                              {"M", 6},
                                                                              {"G", 9},
                                                                              {"T", 12},
                                                                              {"P", 15},
                                                                              {"E", 18}}};
  for (auto [s, e] : kBinary) {
    if (suffix == s) {
      out = {pow_wide(1024, e) * 1000, 1};
      return true;
    }
  }
  for (auto [s, e] : kDecimal) {
    if (suffix == s) {
      int exp = e + 3;  // to milli-units
      out = exp >= 0 ? Scale{pow_wide(10, exp), 1} : Scale{1, pow_wide(10, -exp)};
      return true;
    }
  }
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    std::string_view digits = suffix.substr(1);
    bool negative = false;
    if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
      negative = digits[0] == '-';
      digits.remove_prefix(1);
    }
    if (digits.empty() || digits.size() > 3) return false;
    int exp = 0;
    for (char c : digits) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      exp = exp * 10 + (c - '0');
    }
    exp = (negative ? -exp : exp) + 3;
    if (exp > 30 || exp < -30) return false;
    out = exp >= 0 ? Scale{pow_wide(10, exp), 1} : Scale{1, pow_wide(10, -exp)};
    return true;
  }
  return false;
}

}  // namespace

Expected<int64_t, std::string> parse_quantity_milli(std::string_view text) {
  auto fail = [&] {
    return Unexpected(std::string("quantity \"") + std::string(text) +
                      "\": " + std::string(kFormatError));
  };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  // Number: digits with at most one dot, at least one digit.
  Wide mantissa = 0;
  int fraction_digits = 0;
  bool seen_dot = false, seen_digit = false;
  size_t i = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '.') {
      if (seen_dot) return fail();
      seen_dot = true;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      seen_digit = true;
      if (mantissa < kMax * 1000) {
        mantissa = mantissa * 10 + (c - '0');
        if (seen_dot) ++fraction_digits;
      } else if (!seen_dot) {
        return Unexpected(std::string("quantity \"") + std::string(text) + "\" is too large");
      }
    } else {
      break;
    }
  }
  if (!seen_digit) return fail();
  Scale scale;
  if (!suffix_scale(s.substr(i), scale)) return fail();
  Wide denominator = scale.denominator * pow_wide(10, fraction_digits);
  Wide value = mantissa * scale.numerator;
  // Round up any fraction of a milli-unit (away from zero, as MilliValue does).
  Wide milli = (value + denominator - 1) / denominator;
  if (milli > kMax) {
    return Unexpected(std::string("quantity \"") + std::string(text) + "\" is too large");
  }
  return static_cast<int64_t>(negative ? -milli : milli);
}

std::string format_quantity_milli(int64_t milli, bool binary_si) {
  if (milli % 1000 != 0) return std::to_string(milli) + "m";
  int64_t units = milli / 1000;
  if (binary_si && units != 0) {
    static constexpr std::array<std::string_view, 6> kSuffixes{"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    int idx = -1;
    int64_t v = units;
    while (idx + 1 < static_cast<int>(kSuffixes.size()) && v % 1024 == 0) {
      v /= 1024;
      ++idx;
    }
    if (idx >= 0) return std::to_string(v) + std::string(kSuffixes[idx]);
  }
  return std::to_string(units);
}

}  // namespace frugal
