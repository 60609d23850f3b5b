#include "sim/jsonpath.h"

#include <charconv>
#include <cmath>
#include <memory>
#include <optional>
#include <utility>

namespace kubesim {

namespace {

// ---- Syntax tree -------------------------------------------------------

struct Filter;

struct Slice {
  std::optional<long long> start, end, step;
  bool single = false;  // [3] rather than [3:4]
};

struct Step {
  enum Kind { kField, kWildcard, kRecursive, kSlices, kKeys, kFilter } kind = kField;
  std::string name;               // kField
  std::vector<Slice> slices;      // kSlices: [0], [1:3], [0,2], [*]
  std::vector<std::string> keys;  // kKeys: ['a'], ['a','b']
  std::shared_ptr<Filter> filter;
};

struct Path {
  bool relative = false;  // starts at @ (the filtered element) rather than the root
  std::vector<Step> steps;
};

struct Operand {
  std::optional<Path> path;  // else a literal
  json literal;
};

struct Filter {
  Operand left;
  std::string op;  // "exists" or a comparison
  Operand right;
};

Step make_step(Step::Kind kind) {
  Step s;
  s.kind = kind;
  return s;
}

// client-go jsonpath's isTerminator: what ends an unquoted field name.
bool is_terminator(char c) {
  return std::string_view(" \t\r\n.,[]$@{}").find(c) != std::string_view::npos;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) {
    ++b;
  }
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) {
    --e;
  }
  return std::string(s.substr(b, e - b));
}

// Splits on `sep` outside single or double quotes.
std::vector<std::string> split_unquoted(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      cur += c;
      if (c == '\\' && i + 1 < s.size()) {
        cur += s[++i];
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      cur += c;
    } else if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool is_quoted(const std::string& s) {
  return s.size() >= 2 && (s.front() == '\'' || s.front() == '"') && s.back() == s.front();
}

std::string unquote(const std::string& s) {
  std::string out;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] == '\\' && i + 2 < s.size()) {
      char n = s[++i];
      out += n == 'n' ? '\n' : n == 't' ? '\t' : n;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::optional<long long> parse_int(const std::string& s) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  // Parses a whole path; `error` is set on failure.
  Path parse_path(bool allow_relative, std::string& error) {
    Path path;
    skip_spaces();
    if (pos_ < s_.size() && s_[pos_] == '$') {
      ++pos_;
    } else if (pos_ < s_.size() && s_[pos_] == '@') {
      if (!allow_relative) {
        error = "@ is only allowed inside a filter";
        return path;
      }
      path.relative = true;
      ++pos_;
    }
    while (pos_ < s_.size() && error.empty()) {
      char c = s_[pos_];
      if (c == '.') {
        if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '.') {
          pos_ += 2;
          path.steps.push_back(make_step(Step::kRecursive));
        } else {
          ++pos_;
        }
        parse_field(path, error);
      } else if (c == '[') {
        parse_bracket(path, error);
      } else if (c == ' ' || c == '\t') {
        skip_spaces();
        if (pos_ < s_.size()) {
          error = "unexpected space in path";
        }
      } else {
        error = std::string("unrecognized character in action: '") + c + "'";
      }
    }
    return path;
  }

 private:
  void skip_spaces() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }

  void parse_field(Path& path, std::string& error) {
    std::string name;
    while (pos_ < s_.size() && !is_terminator(s_[pos_])) {
      if (s_[pos_] == '\\') {
        if (++pos_ >= s_.size()) {
          error = "dangling escape at end of path";
          return;
        }
      }
      name += s_[pos_++];
    }
    if (name == "*") {
      path.steps.push_back(make_step(Step::kWildcard));
    } else if (!name.empty()) {
      Step step = make_step(Step::kField);
      step.name = std::move(name);
      path.steps.push_back(std::move(step));
    }
  }

  // Advances pos_ to the next `terminator` outside quoted strings (or the end).
  void skip_to(char terminator) {
    char quote = 0;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (quote) {
        if (c == '\\') {
          ++pos_;
        } else if (c == quote) {
          quote = 0;
        }
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == terminator) {
        break;
      }
      ++pos_;
    }
  }

  void parse_bracket(Path& path, std::string& error) {
    if (s_.substr(pos_, 3) == "[?(") {
      parse_filter(path, error);
      return;
    }
    size_t start = ++pos_;
    skip_to(']');
    if (pos_ >= s_.size()) {
      error = "unterminated array";
      return;
    }
    std::string body = trim(s_.substr(start, pos_ - start));
    ++pos_;  // ']'
    if (body.empty()) {
      error = "empty array index";
      return;
    }
    if (body == "*") {
      Step all = make_step(Step::kSlices);
      all.slices.push_back(Slice{});
      path.steps.push_back(std::move(all));
      return;
    }
    Step step;
    for (const std::string& raw : split_unquoted(body, ',')) {
      std::string item = trim(raw);
      if (is_quoted(item)) {
        step.keys.push_back(unquote(item));
        continue;
      }
      Slice slice;
      std::vector<std::string> parts = split_unquoted(item, ':');
      if (parts.size() > 3) {
        error = "invalid array index " + item;
        return;
      }
      slice.single = parts.size() == 1;
      for (size_t i = 0; i < parts.size(); ++i) {
        std::string p = trim(parts[i]);
        if (p.empty()) {
          if (slice.single) {
            error = "invalid array index " + item;
            return;
          }
          continue;
        }
        auto v = parse_int(p);
        if (!v) {
          error = "invalid array index " + item;
          return;
        }
        (i == 0 ? slice.start : i == 1 ? slice.end : slice.step) = *v;
      }
      if (slice.step && *slice.step <= 0) {
        error = "step must be positive in " + item;
        return;
      }
      step.slices.push_back(slice);
    }
    if (!step.keys.empty() && !step.slices.empty()) {
      error = "cannot mix field names and indexes in " + body;
      return;
    }
    step.kind = step.keys.empty() ? Step::kSlices : Step::kKeys;
    path.steps.push_back(std::move(step));
  }

  void parse_filter(Path& path, std::string& error) {
    pos_ += 3;  // "[?("
    size_t start = pos_;
    skip_to(')');
    if (pos_ + 1 >= s_.size() || s_[pos_ + 1] != ']') {
      error = "unterminated filter";
      return;
    }
    std::string_view expr = s_.substr(start, pos_ - start);
    pos_ += 2;  // ")]"

    // The operator is the first run of !<>= outside quotes, as client-go's
    // `^([^!<>=]+)([!<>=]+)(.+?)$` finds it.
    size_t op_at = std::string_view::npos;
    char quote = 0;
    for (size_t i = 0; i < expr.size(); ++i) {
      char c = expr[i];
      if (quote) {
        if (c == quote) {
          quote = 0;
        }
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '!' || c == '<' || c == '>' || c == '=') {
        op_at = i;
        break;
      }
    }
    auto filter = std::make_shared<Filter>();
    std::string left_text, right_text;
    if (op_at == std::string_view::npos) {
      filter->op = "exists";
      left_text = trim(expr);
    } else {
      size_t op_end = op_at;
      while (op_end < expr.size() &&
             std::string_view("!<>=").find(expr[op_end]) != std::string_view::npos) {
        ++op_end;
      }
      filter->op = std::string(expr.substr(op_at, op_end - op_at));
      if (filter->op != "==" && filter->op != "!=" && filter->op != "<" && filter->op != ">" &&
          filter->op != "<=" && filter->op != ">=") {
        error = "unrecognized filter operator " + filter->op;
        return;
      }
      left_text = trim(expr.substr(0, op_at));
      right_text = trim(expr.substr(op_end));
      if (right_text.empty()) {
        error = "missing right operand in filter";
        return;
      }
    }
    if (left_text.empty()) {
      error = "missing left operand in filter";
      return;
    }
    filter->left = parse_operand(left_text, error);
    if (!right_text.empty() && error.empty()) {
      filter->right = parse_operand(right_text, error);
    }
    Step step = make_step(Step::kFilter);
    step.filter = std::move(filter);
    path.steps.push_back(std::move(step));
  }

  static Operand parse_operand(const std::string& text, std::string& error) {
    Operand op;
    if (text[0] == '@' || text[0] == '$') {
      Parser sub(text);
      op.path = sub.parse_path(true, error);
    } else if (is_quoted(text)) {
      op.literal = unquote(text);
    } else if (text == "true" || text == "false") {
      op.literal = text == "true";
    } else if (text == "null") {
      op.literal = nullptr;
    } else if (auto i = parse_int(text)) {
      op.literal = *i;
    } else {
      double d = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
      if (ec != std::errc() || p != text.data() + text.size()) {
        error = "unrecognized filter operand " + text;
      } else {
        op.literal = d;
      }
    }
    return op;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// Strips the optional template braces kubectl users write: "{.spec.replicas}".
std::string_view strip_braces(std::string_view path) {
  size_t b = path.find_first_not_of(" \t");
  size_t e = path.find_last_not_of(" \t");
  if (b == std::string_view::npos) {
    return {};
  }
  path = path.substr(b, e - b + 1);
  if (path.size() >= 2 && path.front() == '{' && path.back() == '}') {
    path = path.substr(1, path.size() - 2);
  }
  return path;
}

// ---- Evaluation --------------------------------------------------------

using Nodes = std::vector<const json*>;

Nodes eval_path(const Path& path, const json& root, const json& current);

void collect_recursive(const json* v, Nodes& out) {
  if (v->is_object() ? v->empty() : !v->is_array() || v->empty()) {
    return;
  }
  out.push_back(v);
  for (const auto& child : *v) {
    collect_recursive(&child, out);
  }
}

void apply_slice(const json& arr, const Slice& sl, Nodes& out) {
  const long long len = static_cast<long long>(arr.size());
  if (sl.single) {
    long long i = *sl.start < 0 ? *sl.start + len : *sl.start;
    if (i >= 0 && i < len) {
      out.push_back(&arr[static_cast<size_t>(i)]);
    }
    return;
  }
  auto clamp = [len](long long v) {
    if (v < 0) {
      v += len;
    }
    return v < 0 ? 0 : v > len ? len : v;
  };
  long long start = sl.start ? clamp(*sl.start) : 0;
  long long end = sl.end ? clamp(*sl.end) : len;
  long long step = sl.step.value_or(1);
  for (long long i = start; i < end; i += step) {
    out.push_back(&arr[static_cast<size_t>(i)]);
  }
}

std::optional<int> compare(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_integer() && b.is_number_integer()) {
      auto x = a.get<long long>(), y = b.get<long long>();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    double x = a.get<double>(), y = b.get<double>();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  return std::nullopt;
}

bool test(const json& a, const std::string& op, const json& b) {
  if ((a.is_boolean() && b.is_boolean()) || (a.is_null() && b.is_null())) {
    if (op == "==") {
      return a == b;
    }
    if (op == "!=") {
      return a != b;
    }
    return false;
  }
  auto c = compare(a, b);
  if (!c) {
    return false;
  }
  if (op == "==") {
    return *c == 0;
  }
  if (op == "!=") {
    return *c != 0;
  }
  if (op == "<") {
    return *c < 0;
  }
  if (op == ">") {
    return *c > 0;
  }
  if (op == "<=") {
    return *c <= 0;
  }
  return *c >= 0;
}

Nodes eval_operand(const Operand& op, const json& root, const json& element) {
  if (op.path) {
    return eval_path(*op.path, root, element);
  }
  return {&op.literal};
}

Nodes eval_step(const Step& step, const Nodes& in, const json& root) {
  Nodes out;
  for (const json* v : in) {
    switch (step.kind) {
      case Step::kField:
        if (v->is_object()) {
          auto it = v->find(step.name);
          if (it != v->end()) {
            out.push_back(&*it);
          }
        }
        break;
      case Step::kWildcard:
        if (v->is_object()) {
          for (const auto& child : *v) {
            out.push_back(&child);
          }
        }
        break;
      case Step::kRecursive:
        collect_recursive(v, out);
        break;
      case Step::kSlices:
        if (v->is_array()) {
          for (const Slice& sl : step.slices) {
            apply_slice(*v, sl, out);
          }
        }
        break;
      case Step::kKeys:
        if (v->is_object()) {
          for (const std::string& key : step.keys) {
            auto it = v->find(key);
            if (it != v->end()) {
              out.push_back(&*it);
            }
          }
        }
        break;
      case Step::kFilter:
        if (!v->is_array()) {
          break;
        }
        for (const auto& element : *v) {
          Nodes left = eval_operand(step.filter->left, root, element);
          if (step.filter->op == "exists") {
            if (!left.empty()) {
              out.push_back(&element);
            }
            continue;
          }
          Nodes right = eval_operand(step.filter->right, root, element);
          if (left.size() == 1 && right.size() == 1 && test(*left[0], step.filter->op, *right[0])) {
            out.push_back(&element);
          }
        }
        break;
    }
  }
  return out;
}

Nodes eval_path(const Path& path, const json& root, const json& current) {
  Nodes nodes{path.relative ? &current : &root};
  for (const Step& step : path.steps) {
    nodes = eval_step(step, nodes, root);
    if (nodes.empty()) {
      break;
    }
  }
  return nodes;
}

// ---- Go-compatible value printing --------------------------------------

// Shortest round-trip decimal digits of `d` (> 0) and the decimal exponent
// `dp` such that d = 0.DIGITS x 10^dp, as Go's strconv computes them.
void shortest_digits(double d, std::string& digits, int& dp) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string s(buf, res.ptr);
  size_t e = s.find('e');
  std::string mant = s.substr(0, e);
  int exp10 = std::stoi(s.substr(e + 1));
  digits.clear();
  for (char c : mant) {
    if (c != '.') {
      digits += c;
    }
  }
  while (digits.size() > 1 && digits.back() == '0') {
    digits.pop_back();
  }
  dp = exp10 + 1;
}

std::string exp_suffix(int exp, bool two_digits) {
  std::string out = exp < 0 ? "e-" : "e+";
  int a = exp < 0 ? -exp : exp;
  std::string n = std::to_string(a);
  if (two_digits && n.size() < 2) {
    n = "0" + n;
  }
  return out + n;
}

std::string format_fixed(const std::string& digits, int dp) {
  if (dp <= 0) {
    return "0." + std::string(static_cast<size_t>(-dp), '0') + digits;
  }
  if (static_cast<size_t>(dp) >= digits.size()) {
    return digits + std::string(static_cast<size_t>(dp) - digits.size(), '0');
  }
  return digits.substr(0, static_cast<size_t>(dp)) + "." + digits.substr(static_cast<size_t>(dp));
}

std::string format_exp(const std::string& digits, int dp, bool two_digit_exp) {
  std::string m = digits.substr(0, 1);
  if (digits.size() > 1) {
    m += "." + digits.substr(1);
  }
  return m + exp_suffix(dp - 1, two_digit_exp);
}

// fmt.Sprint(float64): %g with the shortest digits, which switches to the
// exponent form when the exponent is < -4 or >= 6 (so 2^32 prints as
// 4.294967296e+09, 100000 as 100000).
std::string go_float_v(double d) {
  if (std::isnan(d)) {
    return "NaN";
  }
  if (std::isinf(d)) {
    return d > 0 ? "+Inf" : "-Inf";
  }
  if (d == 0) {
    return std::signbit(d) ? "-0" : "0";
  }
  std::string sign = d < 0 ? "-" : "";
  std::string digits;
  int dp = 0;
  shortest_digits(std::fabs(d), digits, dp);
  int exp = dp - 1;
  if (exp < -4 || exp >= 6) {
    return sign + format_exp(digits, dp, true);
  }
  return sign + format_fixed(digits, dp);
}

// encoding/json's float64 form: fixed unless the magnitude is < 1e-6 or
// >= 1e21, and then "1e-07" is written "1e-7".
std::string go_float_json(double d) {
  if (d == 0) {
    return "0";
  }
  std::string sign = d < 0 ? "-" : "";
  double a = std::fabs(d);
  std::string digits;
  int dp = 0;
  shortest_digits(a, digits, dp);
  if (a < 1e-6 || a >= 1e21) {
    return sign + format_exp(digits, dp, false);
  }
  return sign + format_fixed(digits, dp);
}

// Go's json.Marshal output: compact, map keys sorted, <>& escaped.
void go_json(const json& v, std::string& out) {
  switch (v.type()) {
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) {
          out += ',';
        }
        first = false;
        go_json(json(it.key()), out);
        out += ':';
        go_json(it.value(), out);
      }
      out += '}';
      break;
    }
    case json::value_t::array: {
      out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) {
          out += ',';
        }
        go_json(v[i], out);
      }
      out += ']';
      break;
    }
    case json::value_t::string: {
      std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
      for (char c : s) {
        if (c == '<') {
          out += "\\u003c";
        } else if (c == '>') {
          out += "\\u003e";
        } else if (c == '&') {
          out += "\\u0026";
        } else {
          out += c;
        }
      }
      break;
    }
    case json::value_t::number_float:
      out += go_float_json(v.get<double>());
      break;
    default:
      out += v.dump();
  }
}

// fmt.Sprint of a decoded JSON value (map[string]interface{} etc.).
void go_sprint(const json& v, std::string& out) {
  switch (v.type()) {
    case json::value_t::null:
      out += "<nil>";
      break;
    case json::value_t::string:
      out += v.get_ref<const std::string&>();
      break;
    case json::value_t::number_float:
      out += go_float_v(v.get<double>());
      break;
    case json::value_t::array:
      out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) {
          out += ' ';
        }
        go_sprint(v[i], out);
      }
      out += ']';
      break;
    case json::value_t::object: {
      out += "map[";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) {
          out += ' ';
        }
        first = false;
        out += it.key() + ":";
        go_sprint(it.value(), out);
      }
      out += ']';
      break;
    }
    default:
      out += v.dump();
  }
}

bool parse(std::string_view text, Path& path, std::string& error) {
  std::string_view body = strip_braces(text);
  if (body.empty()) {
    error = "empty path";
    return false;
  }
  Parser parser(body);
  path = parser.parse_path(false, error);
  return error.empty();
}

}  // namespace

std::vector<json> jsonpath_eval(const json& obj, std::string_view path) {
  Path parsed;
  std::string error;
  if (!parse(path, parsed, error)) {
    return {};
  }
  std::vector<json> out;
  for (const json* v : eval_path(parsed, obj, obj)) {
    out.push_back(*v);
  }
  return out;
}

std::string jsonpath_parse_error(std::string_view path) {
  Path parsed;
  std::string error;
  parse(path, parsed, error);
  return error;
}

Result<void> jsonpath_validate(std::string_view path) {
  // apiextensions validation: validateSimpleJSONPath, then the table
  // convertor's jsonpath.Parse of "{" + path + "}".
  if (path.empty()) {
    return Unexpected(bad_request("must not be empty"));
  }
  if (path.front() != '.') {
    return Unexpected(bad_request("must be a simple json path starting with ."));
  }
  std::string error = jsonpath_parse_error(path);
  if (!error.empty()) {
    return Unexpected(bad_request("invalid JSONPath: " + error));
  }
  return {};
}

std::string jsonpath_print_value(const json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_number_float()) {
    return go_float_v(value.get<double>());
  }
  std::string out;
  go_json(value, out);
  return out;
}

std::string jsonpath_cell_text(const std::vector<json>& values) {
  if (values.empty()) {
    return "<none>";
  }
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) {
      out += ',';
    }
    go_sprint(values[i], out);
  }
  return out;
}

}  // namespace kubesim
