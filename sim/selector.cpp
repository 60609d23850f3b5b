// Label and field selectors, ported from k8s.io/apimachinery: pkg/labels
// (selector.go lexer and parser), pkg/util/validation (key and value rules
// and their messages) and pkg/fields (term splitting and escaping). Messages
// are kept byte-for-byte because clients and tests compare them.
#include "sim/selector.h"

#include "sim/go_format.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <set>
#include <utility>

namespace kubesim {

namespace {

template <class T>
using ParseResult = frugal::Expected<T, std::string>;

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) {
      out += sep;
    }
    out += parts[i];
  }
  return out;
}

// ---- Validation rules and messages (pkg/util/validation) ------------------
// Wording of the long-stable releases (1.2x–1.33). Servers built on the 2025
// `validate/content` package say "bytes" instead of "characters" and "a valid
// label key" instead of "a qualified name"; clients match on neither.

constexpr size_t kQualifiedNameMaxLength = 63;      // validation.qualifiedNameMaxLength
constexpr size_t kLabelValueMaxLength = 63;         // validation.LabelValueMaxLength
constexpr size_t kDns1123SubdomainMaxLength = 253;  // validation.DNS1123SubdomainMaxLength

constexpr std::string_view kQualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr std::string_view kQualifiedNameErrMsg =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";
constexpr std::string_view kLabelValueFmt = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
constexpr std::string_view kLabelValueErrMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character";
constexpr std::string_view kDns1123SubdomainFmt =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr std::string_view kDns1123SubdomainErrMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character";

std::string max_len_error(size_t length) {
  return "must be no more than " + std::to_string(length) + " characters";
}

std::string empty_error() { return "must be non-empty"; }

// validation.RegexError, including its odd "', " + " or " spacing.
std::string regex_error(std::string_view msg, std::string_view fmt,
                        const std::vector<std::string_view>& examples) {
  std::string out(msg);
  out += " (e.g. ";
  for (size_t i = 0; i < examples.size(); ++i) {
    if (i) {
      out += " or ";
    }
    out += "'";
    out += examples[i];
    out += "', ";
  }
  out += "regex used for validation is '";
  out += fmt;
  out += "')";
  return out;
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// ^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$
bool is_qualified_name_part(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool is_dns1123_label(std::string_view s) {
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (s.empty() || !lower_alnum(s.front()) || !lower_alnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [&](char c) { return lower_alnum(c) || c == '-'; });
}

bool is_dns1123_subdomain(std::string_view s) {
  size_t start = 0;
  for (;;) {
    size_t dot = s.find('.', start);
    if (!is_dns1123_label(s.substr(start, dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

std::vector<std::string> dns1123_subdomain_errors(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > kDns1123SubdomainMaxLength) {
    errs.push_back(max_len_error(kDns1123SubdomainMaxLength));
  }
  if (!is_dns1123_subdomain(value)) {
    errs.push_back(regex_error(kDns1123SubdomainErrMsg, kDns1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

std::string qualified_name_regex_error() {
  return regex_error(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"});
}

// validation.IsQualifiedName: [DNS-subdomain "/"] name.
std::vector<std::string> qualified_name_errors(std::string_view value) {
  std::vector<std::string> errs;
  size_t slashes = std::count(value.begin(), value.end(), '/');
  std::string_view name = value;
  if (slashes > 1) {
    errs.push_back("a qualified name " + qualified_name_regex_error() +
                   " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
    return errs;
  }
  if (slashes == 1) {
    size_t slash = value.find('/');
    std::string_view prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part " + empty_error());
    } else {
      for (auto& msg : dns1123_subdomain_errors(prefix)) {
        errs.push_back("prefix part " + msg);
      }
    }
  }
  if (name.empty()) {
    errs.push_back("name part " + empty_error());
  } else if (name.size() > kQualifiedNameMaxLength) {
    errs.push_back("name part " + max_len_error(kQualifiedNameMaxLength));
  }
  if (!is_qualified_name_part(name)) {
    errs.push_back("name part " + qualified_name_regex_error());
  }
  return errs;
}

// validation.IsValidLabelValue: empty, or a qualified-name-shaped word.
std::vector<std::string> label_value_errors(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > kLabelValueMaxLength) {
    errs.push_back(max_len_error(kLabelValueMaxLength));
  }
  if (!value.empty() && !is_qualified_name_part(value)) {
    errs.push_back(
        regex_error(kLabelValueErrMsg, kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

// ---- field.Error rendering (pkg/util/validation/field) --------------------


// A []string bad value is rendered with json.Marshal; the requirement's
// values are a nil slice when empty, hence "null".
std::string go_json_strings(const std::vector<std::string>& values) {
  return values.empty() ? "null" : json(values).dump();
}

// field.Invalid(path, value, detail).Error(); bad_value is already rendered.
std::string field_invalid(std::string_view path, std::string_view bad_value,
                          std::string_view detail) {
  std::string out(path);
  out += ": Invalid value: ";
  out += bad_value;
  if (!detail.empty()) {
    out += ": ";
    out += detail;
  }
  return out;
}

// utilerrors.NewAggregate(errs).Error(): one message bare, several
// de-duplicated inside brackets.
std::string aggregate(const std::vector<std::string>& errs) {
  if (errs.size() == 1) {
    return errs.front();
  }
  std::vector<std::string> unique;
  for (const auto& e : errs) {
    if (std::find(unique.begin(), unique.end(), e) == unique.end()) {
      unique.push_back(e);
    }
  }
  if (unique.size() == 1) {
    return unique.front();
  }
  return "[" + join(unique, ", ") + "]";
}

// The path labels.Parse validates keys against is nil, which field.Path
// prints as "<nil>".
constexpr std::string_view kNilPath = "<nil>";

std::optional<std::string> validate_label_key(std::string_view key, std::string_view path) {
  auto errs = qualified_name_errors(key);
  if (errs.empty()) {
    return std::nullopt;
  }
  return field_invalid(path, go_quote(key), join(errs, "; "));
}

// strconv.ParseInt(s, 10, 64): optional sign, at least one digit, in range.
std::optional<int64_t> parse_int64(std::string_view s) {
  size_t digits = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (digits == s.size() || s[digits] < '0' || s[digits] > '9') {
    return std::nullopt;
  }
  // from_chars takes a leading '-' but not '+'.
  std::string_view number = s[0] == '+' ? s.substr(1) : s;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || end != number.data() + number.size()) {
    return std::nullopt;
  }
  return value;
}

bool is_set_operator(LabelOperator op) {
  return op == LabelOperator::kIn || op == LabelOperator::kNotIn;
}

// labels.NewRequirement: checks the key, the value count for the operator
// and every value; all problems are reported together.
ParseResult<LabelRequirement> make_requirement(std::string key, LabelOperator op,
                                               std::vector<std::string> values) {
  std::vector<std::string> errs;
  if (auto e = validate_label_key(key, "key")) {
    errs.push_back(*e);
  }
  switch (op) {
    case LabelOperator::kIn:
    case LabelOperator::kNotIn:
      if (values.empty()) {
        errs.push_back(field_invalid("values", go_json_strings(values),
                                     "for 'in', 'notin' operators, values set can't be empty"));
      }
      break;
    case LabelOperator::kEquals:
    case LabelOperator::kDoubleEquals:
    case LabelOperator::kNotEquals:
      if (values.size() != 1) {
        errs.push_back(field_invalid("values", go_json_strings(values),
                                     "exact-match compatibility requires one single value"));
      }
      break;
    case LabelOperator::kExists:
    case LabelOperator::kDoesNotExist:
      if (!values.empty()) {
        errs.push_back(field_invalid("values", go_json_strings(values),
                                     "values set must be empty for exists and does not exist"));
      }
      break;
    case LabelOperator::kGreaterThan:
    case LabelOperator::kLessThan:
      if (values.size() != 1) {
        errs.push_back(field_invalid("values", go_json_strings(values),
                                     "for 'Gt', 'Lt' operators, exactly one value is required"));
      }
      for (size_t i = 0; i < values.size(); ++i) {
        if (!parse_int64(values[i])) {
          errs.push_back(field_invalid("values[" + std::to_string(i) + "]", go_quote(values[i]),
                                       "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      }
      break;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    auto value_errs = label_value_errors(values[i]);
    if (value_errs.empty()) {
      continue;
    }
    errs.push_back(field_invalid("values[" + std::to_string(i) + "][" + key + "]",
                                 go_quote(values[i]), join(value_errs, "; ")));
  }
  if (!errs.empty()) {
    return frugal::Unexpected(aggregate(errs));
  }
  return LabelRequirement{std::move(key), op, std::move(values)};
}

// ---- Lexer (labels.Lexer) -------------------------------------------------

enum class Token {
  kError,
  kEndOfString,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIdentifier,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

struct ScannedItem {
  Token tok = Token::kError;
  std::string literal;
};

// labels.string2token: the literal spellings of every token but identifiers.
std::optional<Token> literal_token(std::string_view s) {
  static constexpr std::pair<std::string_view, Token> kTokens[] = {
      {")", Token::kClosedPar},     {",", Token::kComma},    {"!", Token::kDoesNotExist},
      {"==", Token::kDoubleEquals}, {"=", Token::kEquals},   {">", Token::kGreaterThan},
      {"in", Token::kIn},           {"<", Token::kLessThan}, {"!=", Token::kNotEquals},
      {"notin", Token::kNotIn},     {"(", Token::kOpenPar},
  };
  for (const auto& [text, tok] : kTokens) {
    if (text == s) {
      return tok;
    }
  }
  return std::nullopt;
}

bool is_whitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool is_special_symbol(char c) {
  switch (c) {
    case '=':
    case '!':
    case '(':
    case ')':
    case ',':
    case '>':
    case '<':
      return true;
    default:
      return false;
  }
}

// Like the Go lexer, a NUL byte reads as end of input.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  ScannedItem lex() {
    char c = skip_whitespace(read());
    if (c == '\0') {
      return {Token::kEndOfString, ""};
    }
    unread();
    return is_special_symbol(c) ? scan_special_symbol() : scan_id_or_keyword();
  }

 private:
  char read() { return pos_ < text_.size() ? text_[pos_++] : '\0'; }
  void unread() { --pos_; }

  char skip_whitespace(char c) {
    while (is_whitespace(c)) {
      c = read();
    }
    return c;
  }

  // Everything up to a special symbol or blank; "in" and "notin" are keywords.
  ScannedItem scan_id_or_keyword() {
    std::string buffer;
    for (char c = read(); c != '\0'; c = read()) {
      if (is_special_symbol(c) || is_whitespace(c)) {
        unread();
        break;
      }
      buffer += c;
    }
    if (auto tok = literal_token(buffer)) {
      return {*tok, buffer};
    }
    return {Token::kIdentifier, buffer};
  }

  // Longest run of special symbols that still spells a token ("!=" over "!").
  ScannedItem scan_special_symbol() {
    std::optional<ScannedItem> last;
    std::string buffer;
    for (char c = read(); c != '\0'; c = read()) {
      if (!is_special_symbol(c)) {
        unread();
        break;
      }
      buffer += c;
      if (auto tok = literal_token(buffer)) {
        last = ScannedItem{*tok, buffer};
      } else if (last) {
        unread();
        break;
      }
    }
    if (!last) {
      return {Token::kError, "error expected: keyword found '" + buffer + "'"};
    }
    return *last;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// ---- Parser (labels.Parser) -----------------------------------------------

// In value position "in" and "notin" are ordinary words: `x in (in)`.
enum class Context { kKeyAndOperator, kValues };

// labels.binaryOperators joined, as parseOperator lists them.
constexpr std::string_view kBinaryOperators = "in, notin, =, ==, !=, gt, lt";

class Parser {
 public:
  explicit Parser(std::string_view text) {
    Lexer lexer(text);
    do {
      items_.push_back(lexer.lex());
    } while (items_.back().tok != Token::kEndOfString);
  }

  ParseResult<std::vector<LabelRequirement>> parse() {
    std::vector<LabelRequirement> requirements;
    for (;;) {
      ScannedItem next = lookahead(Context::kValues);
      if (next.tok == Token::kEndOfString) {
        return requirements;
      }
      if (next.tok != Token::kIdentifier && next.tok != Token::kDoesNotExist) {
        return fail("found '" + next.literal + "', expected: !, identifier, or 'end of string'");
      }
      auto requirement = parse_requirement();
      if (!requirement) {
        return fail("unable to parse requirement: " + requirement.error());
      }
      requirements.push_back(std::move(*requirement));

      ScannedItem separator = consume(Context::kValues);
      if (separator.tok == Token::kEndOfString) {
        return requirements;
      }
      if (separator.tok != Token::kComma) {
        return fail("found '" + separator.literal + "', expected: ',' or 'end of string'");
      }
      ScannedItem after = lookahead(Context::kValues);
      if (after.tok != Token::kIdentifier && after.tok != Token::kDoesNotExist) {
        return fail("found '" + after.literal + "', expected: identifier after ','");
      }
    }
  }

 private:
  static frugal::Unexpected<std::string> fail(std::string message) {
    return frugal::Unexpected(std::move(message));
  }

  static ScannedItem in_context(ScannedItem item, Context context) {
    if (context == Context::kValues && (item.tok == Token::kIn || item.tok == Token::kNotIn)) {
      item.tok = Token::kIdentifier;
    }
    return item;
  }

  ScannedItem lookahead(Context context) const { return in_context(items_[position_], context); }

  // Never moves past the end-of-string item, so a malformed tail cannot overrun.
  ScannedItem consume(Context context) {
    ScannedItem item = items_[position_];
    if (position_ + 1 < items_.size()) {
      ++position_;
    }
    return in_context(std::move(item), context);
  }

  ParseResult<LabelRequirement> parse_requirement() {
    auto key_and_op = parse_key_and_infer_operator();
    if (!key_and_op) {
      return fail(key_and_op.error());
    }
    auto [key, inferred] = std::move(*key_and_op);
    if (inferred) {
      return make_requirement(std::move(key), *inferred, {});
    }

    auto op = parse_operator();
    if (!op) {
      return fail(op.error());
    }
    auto values = is_set_operator(*op) ? parse_values() : parse_exact_value();
    if (!values) {
      return fail(values.error());
    }
    return make_requirement(std::move(key), *op, std::move(*values));
  }

  // A bare key means Exists, "!key" DoesNotExist; otherwise an operator follows.
  ParseResult<std::pair<std::string, std::optional<LabelOperator>>> parse_key_and_infer_operator() {
    std::optional<LabelOperator> op;
    ScannedItem item = consume(Context::kValues);
    if (item.tok == Token::kDoesNotExist) {
      op = LabelOperator::kDoesNotExist;
      item = consume(Context::kValues);
    }
    if (item.tok != Token::kIdentifier) {
      return fail("found '" + item.literal + "', expected: identifier");
    }
    if (auto e = validate_label_key(item.literal, kNilPath)) {
      return fail(*e);
    }
    Token next = lookahead(Context::kValues).tok;
    if ((next == Token::kEndOfString || next == Token::kComma) && !op) {
      op = LabelOperator::kExists;
    }
    return std::pair{std::move(item.literal), op};
  }

  ParseResult<LabelOperator> parse_operator() {
    ScannedItem item = consume(Context::kKeyAndOperator);
    switch (item.tok) {
      case Token::kIn:
        return LabelOperator::kIn;
      case Token::kEquals:
        return LabelOperator::kEquals;
      case Token::kDoubleEquals:
        return LabelOperator::kDoubleEquals;
      case Token::kGreaterThan:
        return LabelOperator::kGreaterThan;
      case Token::kLessThan:
        return LabelOperator::kLessThan;
      case Token::kNotIn:
        return LabelOperator::kNotIn;
      case Token::kNotEquals:
        return LabelOperator::kNotEquals;
      default:
        return fail("found '" + item.literal + "', expected: " + std::string(kBinaryOperators));
    }
  }

  // "(" list ")"; "()" is the set holding only the empty string.
  ParseResult<std::vector<std::string>> parse_values() {
    ScannedItem open = consume(Context::kValues);
    if (open.tok != Token::kOpenPar) {
      return fail("found '" + open.literal + "' expected: '('");
    }
    ScannedItem next = lookahead(Context::kValues);
    if (next.tok == Token::kClosedPar) {
      consume(Context::kValues);
      return std::vector<std::string>{""};
    }
    if (next.tok != Token::kIdentifier && next.tok != Token::kComma) {
      return fail("found '" + next.literal + "', expected: ',', ')' or identifier");
    }
    auto values = parse_identifiers_list();
    if (!values) {
      return fail(values.error());
    }
    consume(Context::kValues);  // the ")" the list stopped at
    return std::vector<std::string>(values->begin(), values->end());
  }

  // Comma-separated, possibly empty words: "(a,,b)" and "(,a)" hold "".
  ParseResult<std::set<std::string>> parse_identifiers_list() {
    std::set<std::string> values;
    for (;;) {
      ScannedItem item = consume(Context::kValues);
      if (item.tok == Token::kIdentifier) {
        values.insert(item.literal);
        ScannedItem next = lookahead(Context::kValues);
        if (next.tok == Token::kComma) {
          continue;
        }
        if (next.tok == Token::kClosedPar) {
          return values;
        }
        return fail("found '" + next.literal + "', expected: ',' or ')'");
      }
      if (item.tok != Token::kComma) {
        return fail("found '" + item.literal + "', expected: ',', or identifier");
      }
      if (values.empty()) {
        values.insert("");
      }
      Token next = lookahead(Context::kValues).tok;
      if (next == Token::kClosedPar) {
        values.insert("");
        return values;
      }
      if (next == Token::kComma) {
        consume(Context::kValues);
        values.insert("");
      }
    }
  }

  // "a=" (nothing before ',' or the end) compares with the empty string.
  ParseResult<std::vector<std::string>> parse_exact_value() {
    Token next = lookahead(Context::kValues).tok;
    if (next == Token::kEndOfString || next == Token::kComma) {
      return std::vector<std::string>{""};
    }
    ScannedItem item = consume(Context::kValues);
    if (item.tok != Token::kIdentifier) {
      return fail("found '" + item.literal + "', expected: identifier");
    }
    return std::vector<std::string>{item.literal};
  }

  std::vector<ScannedItem> items_;
  size_t position_ = 0;
};

void sort_by_key(std::vector<LabelRequirement>& requirements) {
  std::stable_sort(requirements.begin(), requirements.end(),
                   [](const auto& a, const auto& b) { return a.key < b.key; });
}

std::string scalar_text(const json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_boolean()) {
    return value.get<bool>() ? "true" : "false";
  }
  if (value.is_number_unsigned()) {
    return std::to_string(value.get<uint64_t>());
  }
  if (value.is_number_integer()) {
    return std::to_string(value.get<int64_t>());
  }
  if (value.is_number_float()) {
    return value.dump();
  }
  return "";
}

std::optional<std::string> label_lookup(const json& labels, const std::string& key) {
  if (!labels.is_object()) {
    return std::nullopt;
  }
  auto it = labels.find(key);
  if (it == labels.end()) {
    return std::nullopt;
  }
  return scalar_text(*it);
}

// ---- metav1.LabelSelector decoding ----------------------------------------

// encoding/json's name for a JSON value's kind, for its "cannot unmarshal" message.
std::string_view json_kind(const json& value) {
  if (value.is_string()) {
    return "string";
  }
  if (value.is_boolean()) {
    return "bool";
  }
  if (value.is_number()) {
    return "number";
  }
  if (value.is_array()) {
    return "array";
  }
  return "object";
}

ApiError cannot_unmarshal(const json& value, std::string_view target) {
  return bad_request("json: cannot unmarshal " + std::string(json_kind(value)) + " into " +
                     std::string(target));
}

// Go decodes a JSON null into a string field as "".
std::optional<std::string> as_go_string(const json& value) {
  if (value.is_null()) {
    return std::string();
  }
  if (value.is_string()) {
    return value.get<std::string>();
  }
  return std::nullopt;
}

std::optional<LabelOperator> selector_operator(std::string_view op) {
  if (op == "In") {
    return LabelOperator::kIn;
  }
  if (op == "NotIn") {
    return LabelOperator::kNotIn;
  }
  if (op == "Exists") {
    return LabelOperator::kExists;
  }
  if (op == "DoesNotExist") {
    return LabelOperator::kDoesNotExist;
  }
  return std::nullopt;
}

Result<std::vector<LabelRequirement>> match_labels_requirements(const json& match_labels,
                                                                std::string_view field) {
  std::vector<LabelRequirement> out;
  if (match_labels.is_null()) {
    return out;
  }
  if (!match_labels.is_object()) {
    return Unexpected(cannot_unmarshal(
        match_labels, "Go struct field " + std::string(field) + " of type map[string]string"));
  }
  for (const auto& [key, value] : match_labels.items()) {
    auto text = as_go_string(value);
    if (!text) {
      return Unexpected(
          cannot_unmarshal(value, "Go struct field " + std::string(field) + " of type string"));
    }
    auto r = make_requirement(key, LabelOperator::kEquals, {*text});
    if (!r) {
      return Unexpected(bad_request(r.error()));
    }
    out.push_back(std::move(*r));
  }
  return out;
}

Result<std::vector<std::string>> expression_values(const json& values) {
  std::vector<std::string> out;
  if (values.is_null()) {
    return out;
  }
  if (!values.is_array()) {
    return Unexpected(cannot_unmarshal(
        values,
        "Go struct field LabelSelectorRequirement.matchExpressions.values of type []string"));
  }
  for (const auto& v : values) {
    auto text = as_go_string(v);
    if (!text) {
      return Unexpected(cannot_unmarshal(
          v, "Go struct field LabelSelectorRequirement.matchExpressions.values of type string"));
    }
    out.push_back(std::move(*text));
  }
  return out;
}

Result<LabelRequirement> expression_requirement(const json& expr) {
  if (!expr.is_object()) {
    return Unexpected(cannot_unmarshal(
        expr,
        "Go struct field LabelSelector.matchExpressions of type v1.LabelSelectorRequirement"));
  }
  auto text_field = [&](const char* name) -> Result<std::string> {
    auto it = expr.find(name);
    if (it == expr.end()) {
      return std::string();
    }
    auto text = as_go_string(*it);
    if (!text) {
      return Unexpected(
          cannot_unmarshal(*it, "Go struct field LabelSelectorRequirement.matchExpressions." +
                                    std::string(name) + " of type string"));
    }
    return *text;
  };
  auto key = text_field("key");
  if (!key) {
    return Unexpected(key.error());
  }
  auto op_name = text_field("operator");
  if (!op_name) {
    return Unexpected(op_name.error());
  }
  auto values = expression_values(expr.contains("values") ? expr["values"] : json());
  if (!values) {
    return Unexpected(values.error());
  }

  auto op = selector_operator(*op_name);
  if (!op) {
    return Unexpected(bad_request(go_quote(*op_name) + " is not a valid pod selector operator"));
  }
  auto r = make_requirement(std::move(*key), *op, std::move(*values));
  if (!r) {
    return Unexpected(bad_request(r.error()));
  }
  return std::move(*r);
}

// ---- Field selectors (pkg/fields) -----------------------------------------

// Labels every resource accepts (runtime.DefaultMetaV1FieldSelectorConversion).
constexpr std::string_view kNameField = "metadata.name";
constexpr std::string_view kNamespaceField = "metadata.namespace";

// fields.splitTerms: split on commas not preceded by a backslash; escapes stay.
std::vector<std::string> split_terms(std::string_view selector) {
  std::vector<std::string> terms;
  if (selector.empty()) {
    return terms;
  }
  size_t start = 0;
  bool in_slash = false;
  for (size_t i = 0; i < selector.size(); ++i) {
    char c = selector[i];
    if (in_slash) {
      in_slash = false;
    } else if (c == '\\') {
      in_slash = true;
    } else if (c == ',') {
      terms.emplace_back(selector.substr(start, i - start));
      start = i + 1;
    }
  }
  terms.emplace_back(selector.substr(start));
  return terms;
}

struct Term {
  std::string_view lhs, op, rhs;
};

// fields.splitTerm: the first operator wins; at one position "!=" and "=="
// are tried before "=" so "a==b" is not read as `a` = `=b`.
std::optional<Term> split_term(std::string_view term) {
  static constexpr std::string_view kOperators[] = {"!=", "==", "="};
  for (size_t i = 0; i < term.size(); ++i) {
    for (auto op : kOperators) {
      if (term.substr(i).starts_with(op)) {
        return Term{term.substr(0, i), op, term.substr(i + op.size())};
      }
    }
  }
  return std::nullopt;
}

// Length of the UTF-8 sequence a lead byte starts, so an error can quote a
// whole character as Go's rune loop does.
size_t utf8_length(unsigned char lead) {
  if (lead >= 0xf0) {
    return 4;
  }
  if (lead >= 0xe0) {
    return 3;
  }
  if (lead >= 0xc0) {
    return 2;
  }
  return 1;
}

// fields.UnescapeValue: `\\`, `\,` and `\=` are the only escapes, and bare
// ',' or '=' are errors. Go prints the offending rune with %v, i.e. as its
// code point number ("... in value: 61" for '='); kept as is.
ParseResult<std::string> unescape_value(std::string_view s) {
  if (s.find_first_of("\\,=") == std::string_view::npos) {
    return std::string(s);
  }
  std::string out;
  bool in_slash = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_slash) {
      if (c != '\\' && c != ',' && c != '=') {
        size_t len = std::min(utf8_length(static_cast<unsigned char>(c)), s.size() - i);
        return frugal::Unexpected("invalid field selector: invalid escape sequence: \\" +
                                  std::string(s.substr(i, len)));
      }
      out += c;
      in_slash = false;
    } else if (c == '\\') {
      in_slash = true;
    } else if (c == ',' || c == '=') {
      return frugal::Unexpected("invalid field selector: unescaped character in value: " +
                                std::to_string(static_cast<int>(c)));
    } else {
      out += c;
    }
  }
  if (in_slash) {
    return frugal::Unexpected(std::string("invalid field selector: invalid escape sequence: \\"));
  }
  return out;
}

// fields.EscapeValue.
std::string escape_value(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == ',' || c == '=') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

bool field_label_supported(std::string_view label, const std::vector<std::string>& allowed) {
  return label == kNameField || label == kNamespaceField ||
         std::find(allowed.begin(), allowed.end(), label) != allowed.end();
}

}  // namespace

// ---- LabelRequirement -----------------------------------------------------

bool LabelRequirement::matches(const json& labels) const {
  auto value = label_lookup(labels, key);
  auto has = [&](const std::string& v) {
    return std::find(values.begin(), values.end(), v) != values.end();
  };
  switch (op) {
    case LabelOperator::kIn:
    case LabelOperator::kEquals:
    case LabelOperator::kDoubleEquals:
      return value && has(*value);
    case LabelOperator::kNotIn:
    case LabelOperator::kNotEquals:
      return !value || !has(*value);
    case LabelOperator::kExists:
      return value.has_value();
    case LabelOperator::kDoesNotExist:
      return !value;
    case LabelOperator::kGreaterThan:
    case LabelOperator::kLessThan: {
      if (!value || values.size() != 1) {
        return false;
      }
      auto have = parse_int64(*value);
      auto want = parse_int64(values.front());
      if (!have || !want) {
        return false;
      }
      return op == LabelOperator::kGreaterThan ? *have > *want : *have < *want;
    }
  }
  return false;
}

std::string LabelRequirement::to_string() const {
  std::string out = op == LabelOperator::kDoesNotExist ? "!" + key : key;
  switch (op) {
    case LabelOperator::kExists:
    case LabelOperator::kDoesNotExist:
      return out;
    case LabelOperator::kEquals:
      out += "=";
      break;
    case LabelOperator::kDoubleEquals:
      out += "==";
      break;
    case LabelOperator::kNotEquals:
      out += "!=";
      break;
    case LabelOperator::kIn:
      out += " in (";
      break;
    case LabelOperator::kNotIn:
      out += " notin (";
      break;
    case LabelOperator::kGreaterThan:
      out += ">";
      break;
    case LabelOperator::kLessThan:
      out += "<";
      break;
  }
  std::vector<std::string> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  out += join(sorted, ",");
  if (is_set_operator(op)) {
    out += ")";
  }
  return out;
}

// ---- LabelSelector --------------------------------------------------------

Result<LabelSelector> LabelSelector::parse(std::string_view text) {
  auto requirements = Parser(text).parse();
  if (!requirements) {
    return Unexpected(bad_request(requirements.error()));
  }
  LabelSelector selector;
  selector.requirements_ = std::move(*requirements);
  sort_by_key(selector.requirements_);
  return selector;
}

LabelSelector LabelSelector::nothing() {
  LabelSelector selector;
  selector.matches_nothing_ = true;
  return selector;
}

Result<LabelSelector> LabelSelector::from_json(const json& selector) {
  if (selector.is_null()) {
    return nothing();
  }
  if (!selector.is_object()) {
    return Unexpected(cannot_unmarshal(selector, "Go value of type v1.LabelSelector"));
  }
  auto requirements =
      match_labels_requirements(selector.contains("matchLabels") ? selector["matchLabels"] : json(),
                                "LabelSelector.matchLabels");
  if (!requirements) {
    return Unexpected(requirements.error());
  }

  const json expressions =
      selector.contains("matchExpressions") ? selector["matchExpressions"] : json();
  if (!expressions.is_null() && !expressions.is_array()) {
    return Unexpected(cannot_unmarshal(
        expressions,
        "Go struct field LabelSelector.matchExpressions of type []v1.LabelSelectorRequirement"));
  }
  for (const auto& expr : expressions.is_array() ? expressions : json::array()) {
    auto r = expression_requirement(expr);
    if (!r) {
      return Unexpected(r.error());
    }
    requirements->push_back(std::move(*r));
  }
  LabelSelector out;  // no requirements at all: everything, as for {}
  out.requirements_ = std::move(*requirements);
  sort_by_key(out.requirements_);
  return out;
}

Result<LabelSelector> LabelSelector::from_set(const json& set) {
  auto requirements = match_labels_requirements(set, "selector");
  if (!requirements) {
    return Unexpected(requirements.error());
  }
  LabelSelector out;
  out.requirements_ = std::move(*requirements);
  sort_by_key(out.requirements_);
  return out;
}

bool LabelSelector::matches(const json& labels) const {
  if (matches_nothing_) {
    return false;
  }
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const LabelRequirement& r) { return r.matches(labels); });
}

std::string LabelSelector::to_string() const {
  std::vector<std::string> parts;
  for (const auto& r : requirements_) {
    parts.push_back(r.to_string());
  }
  return join(parts, ",");
}

// ---- FieldSelector --------------------------------------------------------

Result<FieldSelector> FieldSelector::parse(std::string_view text,
                                           const std::vector<std::string>& allowed) {
  std::vector<std::string> parts = split_terms(text);
  std::sort(parts.begin(), parts.end());  // fields.parseSelector sorts the raw terms
  FieldSelector selector;
  for (const auto& part : parts) {
    if (part.empty()) {
      continue;
    }
    auto term = split_term(part);
    if (!term) {
      return Unexpected(bad_request("invalid selector: '" + std::string(text) +
                                    "'; can't understand '" + part + "'"));
    }
    auto value = unescape_value(term->rhs);
    if (!value) {
      return Unexpected(bad_request(value.error()));
    }
    selector.requirements_.push_back(
        FieldRequirement{std::string(term->lhs), term->op == "!=", std::move(*value)});
  }
  // The server checks labels only after the whole string parsed (Transform).
  for (const auto& r : selector.requirements_) {
    if (!field_label_supported(r.field, allowed)) {
      return Unexpected(bad_request("field label not supported: " + r.field));
    }
  }
  return selector;
}

bool FieldSelector::matches(const json& object) const {
  return std::all_of(requirements_.begin(), requirements_.end(), [&](const FieldRequirement& r) {
    return (field_value(object, r.field) == r.value) != r.not_equal;
  });
}

std::optional<std::string> FieldSelector::exact(std::string_view label) const {
  for (const auto& r : requirements_) {
    if (!r.not_equal && r.field == label) {
      return r.value;
    }
  }
  return std::nullopt;
}

std::string FieldSelector::to_string() const {
  std::vector<std::string> parts;
  for (const auto& r : requirements_) {
    parts.push_back(r.field + (r.not_equal ? "!=" : "=") + escape_value(r.value));
  }
  return join(parts, ",");
}

std::string field_value(const json& object, std::string_view dotted_path) {
  const json* node = &object;
  size_t start = 0;
  for (;;) {
    size_t dot = dotted_path.find('.', start);
    std::string segment(dotted_path.substr(start, dot - start));
    if (!node->is_object()) {
      return "";
    }
    auto it = node->find(segment);
    if (it == node->end()) {
      return "";
    }
    node = &*it;
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return scalar_text(*node);
}

}  // namespace kubesim
