// Go's string formatting where kubesim must print what the real API server
// prints: strconv.Quote (%q) for values in error messages, and UTF-8 rune
// handling as Go counts it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kubesim {

// Decodes one UTF-8 sequence at s[i]; returns its length, 0 when invalid.
size_t utf8_decode(std::string_view s, size_t i, uint32_t& rune);
// utf8.RuneCountInString.
int64_t rune_count(std::string_view s);
// Appends prefix + `digits` lowercase hex digits of v (\x41, \u00ad).
void append_hex_escape(std::string& out, const char* prefix, uint32_t v, int digits);
// strconv.Quote (Go's %q).
std::string go_quote(std::string_view s);

}  // namespace kubesim
