#include "sim/base64.h"

#include <array>
#include <cstdint>

namespace kubesim {
namespace {

constexpr std::string_view kStdAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr uint8_t kInvalid = 0xFF;

using DecodeTable = std::array<uint8_t, 256>;

constexpr DecodeTable make_decode_table(std::string_view alphabet) {
  DecodeTable table{};
  for (auto& v : table) v = kInvalid;
  for (size_t i = 0; i < alphabet.size(); ++i) {
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<uint8_t>(i);
  }
  return table;
}

constexpr DecodeTable kStdTable = make_decode_table(kStdAlphabet);
constexpr DecodeTable kUrlTable = make_decode_table(kUrlAlphabet);

std::string encode(std::string_view bytes, std::string_view alphabet, bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += alphabet[n >> 6 & 63];
    out += alphabet[n & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest == 0) return out;
  uint32_t n = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
  out += alphabet[n >> 18 & 63];
  out += alphabet[n >> 12 & 63];
  if (rest == 2) out += alphabet[n >> 6 & 63];
  if (pad) out.append(rest == 1 ? "==" : "=");
  return out;
}

std::optional<std::string> decode(std::string_view text, const DecodeTable& table, bool padded) {
  std::string symbols;  // alphabet indices, line breaks and padding removed
  symbols.reserve(text.size());
  size_t padding = 0;
  for (char c : text) {
    if (c == '\r' || c == '\n') continue;
    if (c == '=') {
      if (!padded) return std::nullopt;
      ++padding;
      continue;
    }
    if (padding > 0) return std::nullopt;  // data after padding
    uint8_t v = table[static_cast<unsigned char>(c)];
    if (v == kInvalid) return std::nullopt;
    symbols += static_cast<char>(v);
  }
  size_t rest = symbols.size() % 4;
  if (rest == 1) return std::nullopt;
  if (padded) {
    size_t want = rest == 0 ? 0 : 4 - rest;
    if (padding != want) return std::nullopt;
  }
  std::string out;
  out.reserve(symbols.size() / 4 * 3 + 2);
  auto sym = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(symbols[k])); };
  size_t i = 0;
  for (; i + 4 <= symbols.size(); i += 4) {
    uint32_t n = sym(i) << 18 | sym(i + 1) << 12 | sym(i + 2) << 6 | sym(i + 3);
    out += static_cast<char>(n >> 16 & 0xFF);
    out += static_cast<char>(n >> 8 & 0xFF);
    out += static_cast<char>(n & 0xFF);
  }
  if (rest >= 2) {
    uint32_t n = sym(i) << 18 | sym(i + 1) << 12 | (rest == 3 ? sym(i + 2) << 6 : 0);
    out += static_cast<char>(n >> 16 & 0xFF);
    if (rest == 3) out += static_cast<char>(n >> 8 & 0xFF);
  }
  return out;
}

}  // namespace

std::string base64_encode(std::string_view bytes) { return encode(bytes, kStdAlphabet, true); }

std::optional<std::string> base64_decode(std::string_view text) {
  return decode(text, kStdTable, true);
}

std::string base64url_encode(std::string_view bytes) { return encode(bytes, kUrlAlphabet, false); }

std::optional<std::string> base64url_decode(std::string_view text) {
  return decode(text, kUrlTable, false);
}

}  // namespace kubesim
