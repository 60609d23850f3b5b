#include "sim/go_format.h"

namespace kubesim {

void append_hex_escape(std::string& out, const char* prefix, uint32_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += prefix;
  for (int d = digits - 1; d >= 0; --d) out += kHex[(v >> (4 * d)) & 0xF];
}

// Decodes one UTF-8 sequence at s[i]; returns its length, 0 when invalid
// (Go then treats the byte as one rune and strconv.Quote escapes it).
size_t utf8_decode(std::string_view s, size_t i, uint32_t& rune) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t len = 0;
  uint32_t min = 0;
  if (c < 0x80) {
    rune = c;
    return 1;
  }
  if ((c & 0xE0) == 0xC0) {
    len = 2, rune = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, rune = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, rune = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    rune = (rune << 6) | (b(i + k) & 0x3F);
  }
  if (rune < min || rune > 0x10FFFF || (rune >= 0xD800 && rune <= 0xDFFF)) return 0;
  return len;
}

// utf8.RuneCountInString: kube-openapi measures maxLength/minLength in runes.
int64_t rune_count(std::string_view s) {
  int64_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) {
    uint32_t r = 0;
    const size_t len = utf8_decode(s, i, r);
    i += len ? len : 1;
  }
  return n;
}

// strconv.Quote (Go's %q). Non-ASCII runes count as printable except the
// C1 controls and the soft hyphen, which covers what CRD data carries.
std::string go_quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    uint32_t r = 0;
    const size_t len = utf8_decode(s, i, r);
    if (len == 0) {
      append_hex_escape(out, "\\x", static_cast<unsigned char>(s[i]), 2);
      ++i;
      continue;
    }
    switch (r) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
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
      case '\v':
        out += "\\v";
        break;
      default:
        if (r < 0x20 || r == 0x7F) {
          append_hex_escape(out, "\\x", r, 2);
        } else if ((r >= 0x80 && r < 0xA0) || r == 0xAD) {
          append_hex_escape(out, "\\u", r, 4);
        } else {
          out.append(s.substr(i, len));
        }
    }
    i += len;
  }
  return out + "\"";
}

}  // namespace kubesim
