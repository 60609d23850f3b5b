// The registry, its families and the text exposition writer. The output is
// meant to be byte-for-byte what client_golang's expfmt would write for the
// same data, so dashboards and promtool see nothing unusual.
#include "controller/metrics/registry.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <numeric>
#include <type_traits>
#include <utility>
#include <variant>

namespace frugal::metrics {

namespace detail {

using SeriesValue = std::variant<double, Histogram::Snapshot>;

// One family as it is at scrape time; label names and the series keys are in
// label-name order, which is the order they are written in.
struct FamilySnapshot {
  std::string name;
  std::string help;
  Type type = Type::kGauge;
  std::vector<std::string> label_names;
  std::vector<double> bounds;  // histograms only
  std::map<std::vector<std::string>, SeriesValue> series;
};

struct Scrape {
  const std::set<std::string, std::less<>>* taken = nullptr;  // names of registered families
  std::map<std::string, FamilySnapshot> families;             // sorted by name, as written
  std::set<std::string, std::less<>> collected;               // names first seen from a collector
  std::vector<Error> errors;
};

}  // namespace detail

namespace {

Unexpected<Error> fail(Error::Code code, std::string message) {
  return Unexpected(Error{code, std::move(message)});
}

std::string_view type_name(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

bool is_reserved_label_name(std::string_view name) {
  // Written by histograms and summaries themselves; promtool flags them elsewhere.
  return name == "le" || name == "quantile";
}

// The names a family writes samples under; two families must not share one.
std::vector<std::string> sample_names(const std::string& name, Type type) {
  if (type == Type::kHistogram) {
    return {name, name + "_bucket", name + "_sum", name + "_count"};
  }
  return {name};
}

std::vector<std::size_t> sorted_label_order(const std::vector<std::string>& names) {
  std::vector<std::size_t> order(names.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return names[a] < names[b]; });
  return order;
}

Result<void> check_label_names(const std::vector<std::string>& names) {
  std::set<std::string_view> seen;
  for (const auto& n : names) {
    if (!is_valid_label_name(n) || is_reserved_label_name(n)) {
      return fail(Error::Code::kInvalidLabelName, "invalid or reserved label name \"" + n + "\"");
    }
    if (!seen.insert(n).second) {
      return fail(Error::Code::kInvalidLabelName, "label name \"" + n + "\" given twice");
    }
  }
  return {};
}

Result<void> check_help(std::string_view help) {
  if (help.empty() || !is_valid_utf8(help)) {
    return fail(Error::Code::kInvalidHelp, "HELP must be non-empty UTF-8");
  }
  return {};
}

Result<void> check_buckets(const std::vector<double>& bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (std::isnan(bounds[i])) {
      return fail(Error::Code::kInvalidBuckets, "histogram bucket bound is NaN");
    }
    if (i > 0 && !(bounds[i - 1] < bounds[i])) {
      return fail(Error::Code::kInvalidBuckets, "histogram bucket bounds must strictly increase");
    }
  }
  return {};
}

void append_escaped(std::string& out, std::string_view s, bool escape_quote) {
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        out += escape_quote ? "\\\"" : "\"";
        break;
      default:
        out += c;
    }
  }
}

// {a="1",b="2",le="0.5"}; nothing at all for a series without labels.
void append_labels(std::string& out, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, const double* le) {
  if (names.empty() && le == nullptr) {
    return;
  }
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += names[i];
    out += "=\"";
    append_escaped(out, values[i], /*escape_quote=*/true);
    out += '"';
  }
  if (le != nullptr) {
    if (!names.empty()) {
      out += ',';
    }
    out += "le=\"";
    out += format_value(*le);
    out += '"';
  }
  out += '}';
}

void append_sample(std::string& out, const std::string& name, std::string_view suffix,
                   const std::vector<std::string>& names, const std::vector<std::string>& values,
                   const double* le, std::string_view value) {
  out += name;
  out += suffix;
  append_labels(out, names, values, le);
  out += ' ';
  out += value;
  out += '\n';
}

void append_family(std::string& out, const detail::FamilySnapshot& f) {
  out += "# HELP ";
  out += f.name;
  out += ' ';
  append_escaped(out, f.help, /*escape_quote=*/false);
  out += "\n# TYPE ";
  out += f.name;
  out += ' ';
  out += type_name(f.type);
  out += '\n';
  for (const auto& [values, value] : f.series) {
    if (const auto* scalar = std::get_if<double>(&value)) {
      append_sample(out, f.name, "", f.label_names, values, nullptr, format_value(*scalar));
      continue;
    }
    const auto& h = std::get<Histogram::Snapshot>(value);
    for (std::size_t i = 0; i < f.bounds.size(); ++i) {
      append_sample(out, f.name, "_bucket", f.label_names, values, &f.bounds[i],
                    std::to_string(h.cumulative[i]));
    }
    const double inf = std::numeric_limits<double>::infinity();
    append_sample(out, f.name, "_bucket", f.label_names, values, &inf,
                  std::to_string(h.cumulative.back()));
    append_sample(out, f.name, "_sum", f.label_names, values, nullptr, format_value(h.sum));
    append_sample(out, f.name, "_count", f.label_names, values, nullptr, std::to_string(h.count));
  }
}

}  // namespace

// ---- validators -------------------------------------------------------------

bool is_valid_metric_name(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) {
      return false;
    }
  }
  return true;
}

bool is_valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) {
      return false;
    }
  }
  return true;
}

// As Go's utf8.ValidString: no overlong forms, no surrogates, nothing past U+10FFFF.
bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    // Sequence length and the range allowed for the second byte (Unicode Table 3-7).
    std::size_t len = 0;
    unsigned lo = 0x80;
    unsigned hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      lo = c == 0xE0 ? 0xA0 : lo;  // overlong
      hi = c == 0xED ? 0x9F : hi;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      lo = c == 0xF0 ? 0x90 : lo;  // overlong
      hi = c == 0xF4 ? 0x8F : hi;  // past U+10FFFF
    } else {
      return false;
    }
    if (i + len > s.size()) {
      return false;
    }
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      const unsigned min = k == 1 ? lo : 0x80;
      const unsigned max = k == 1 ? hi : 0xBF;
      if (cc < min || cc > max) {
        return false;
      }
    }
    i += len;
  }
  return true;
}

// ---- values -----------------------------------------------------------------

bool Counter::inc(double amount) {
  if (!(amount >= 0)) {
    return false;  // negative or NaN
  }
  value_.fetch_add(amount, std::memory_order_relaxed);
  return true;
}

void Gauge::set_to_current_time() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  set(std::chrono::duration<double>(now).count());
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_->size() + 1) {}

void Histogram::observe(double v) {
  // First bound with v <= bound; NaN compares false everywhere and lands in +Inf.
  const auto it = std::partition_point(bounds_->begin(), bounds_->end(),
                                       [v](double bound) { return !(v <= bound); });
  counts_[static_cast<std::size_t>(it - bounds_->begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.reserve(counts_.size());
  std::uint64_t running = 0;
  for (const auto& c : counts_) {
    running += c.load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> default_buckets() {
  // client_golang prometheus.DefBuckets
  return {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
}

Result<std::vector<double>> exponential_buckets(double start, double factor, int count) {
  if (count < 1 || !(start > 0) || !(factor > 1) || std::isinf(start) || std::isinf(factor)) {
    return fail(Error::Code::kInvalidArgument,
                "exponential_buckets needs start > 0, factor > 1, count >= 1");
  }
  std::vector<double> bounds;
  bounds.reserve(static_cast<std::size_t>(count));
  for (double b = start; bounds.size() < static_cast<std::size_t>(count); b *= factor) {
    bounds.push_back(b);
  }
  return bounds;
}

Result<std::vector<double>> linear_buckets(double start, double width, int count) {
  if (count < 1 || !(width > 0) || !std::isfinite(start) || std::isinf(width)) {
    return fail(Error::Code::kInvalidArgument, "linear_buckets needs width > 0, count >= 1");
  }
  std::vector<double> bounds;
  bounds.reserve(static_cast<std::size_t>(count));
  for (double b = start; bounds.size() < static_cast<std::size_t>(count); b += width) {
    bounds.push_back(b);
  }
  return bounds;
}

std::string format_value(double v) {
  // expfmt's writeFloat special-cases these before strconv.
  if (std::isnan(v)) {
    return "NaN";
  }
  if (std::isinf(v)) {
    return v > 0 ? "+Inf" : "-Inf";
  }
  if (v == 0) {
    return "0";
  }

  // Shortest round-trip digits in scientific form: [-]d[.ddd]e(+|-)XX, the
  // same digits Go's shortest formatting picks.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  const std::size_t e = sci.find('e');
  int exp = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exp);
  if (exp < -4 || exp >= 6) {
    return std::string(sci);  // %e form, two-digit exponent minimum
  }

  const bool negative = sci.front() == '-';
  std::string digits;
  for (char c : sci.substr(negative ? 1 : 0, e - (negative ? 1 : 0))) {
    if (c != '.') {
      digits += c;
    }
  }
  const int point = exp + 1;  // digits before the decimal point
  const int nd = static_cast<int>(digits.size());
  std::string out = negative ? "-" : "";
  if (point <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-point), '0');
    out += digits;
  } else if (point >= nd) {
    out += digits;
    out.append(static_cast<std::size_t>(point - nd), '0');
  } else {
    out.append(digits, 0, static_cast<std::size_t>(point));
    out += '.';
    out.append(digits, static_cast<std::size_t>(point));
  }
  return out;
}

// ---- families ---------------------------------------------------------------

FamilyBase::FamilyBase(std::string name, std::string help, Type type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      sorted_order_(sorted_label_order(label_names_)) {}

template <class Metric>
Family<Metric>::Family(std::string name, std::string help, Type type,
                       std::vector<std::string> label_names, Factory make)
    : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
      make_(std::move(make)) {}

template <class Metric>
template <class Values>
Result<typename Family<Metric>::Handle> Family<Metric>::find_or_create(const Values& values) {
  if (values.size() != label_names_.size()) {
    return fail(Error::Code::kLabelCardinality, name_ + ": got " + std::to_string(values.size()) +
                                                    " label values, want " +
                                                    std::to_string(label_names_.size()));
  }
  std::lock_guard lock(mu_);
  if (auto it = children_.find(values); it != children_.end()) {
    return it->second;
  }
  for (const auto& v : values) {
    if (!is_valid_utf8(v)) {
      return fail(Error::Code::kInvalidLabelValue, name_ + ": label value is not valid UTF-8");
    }
  }
  auto child = make_();
  children_.emplace(std::vector<std::string>(values.begin(), values.end()), child);
  return child;
}

template <class Metric>
template <class Values>
bool Family<Metric>::erase(const Values& values) {
  std::lock_guard lock(mu_);
  auto it = children_.find(values);
  if (it == children_.end()) {
    return false;
  }
  children_.erase(it);
  return true;
}

template <class Metric>
Result<typename Family<Metric>::Handle> Family<Metric>::with(
    std::span<const std::string_view> values) {
  return find_or_create(values);
}

template <class Metric>
Result<typename Family<Metric>::Handle> Family<Metric>::with(std::span<const std::string> values) {
  return find_or_create(values);
}

template <class Metric>
bool Family<Metric>::remove(std::span<const std::string_view> values) {
  return erase(values);
}

template <class Metric>
bool Family<Metric>::remove(std::span<const std::string> values) {
  return erase(values);
}

template <class Metric>
std::size_t Family<Metric>::remove_if(
    const std::function<bool(std::span<const std::string>)>& pred) {
  std::lock_guard lock(mu_);
  return std::erase_if(children_, [&](const auto& kv) { return pred(kv.first); });
}

template <class Metric>
void Family<Metric>::clear() {
  std::lock_guard lock(mu_);
  children_.clear();
}

template <class Metric>
std::size_t Family<Metric>::size() const {
  std::lock_guard lock(mu_);
  return children_.size();
}

template <class Metric>
void Family<Metric>::collect(detail::FamilySnapshot& out) const {
  std::vector<std::pair<std::vector<std::string>, Handle>> children;
  {
    std::lock_guard lock(mu_);
    children.reserve(children_.size());
    for (const auto& [values, child] : children_) {
      std::vector<std::string> sorted;
      sorted.reserve(values.size());
      for (std::size_t i : sorted_order_) {
        sorted.push_back(values[i]);
      }
      children.emplace_back(std::move(sorted), child);
    }
  }
  // Values are read outside the lock: they are atomics, and with() stays free.
  for (auto& [values, child] : children) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      if (out.series.empty()) {
        out.bounds = child->bounds();  // shared by every child
      }
      out.series.emplace(std::move(values), child->snapshot());
    } else {
      out.series.emplace(std::move(values), child->value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- collectors -------------------------------------------------------------

Result<void> CollectorSink::counter(std::string_view name, std::string_view help, double value,
                                    const std::vector<Label>& labels) {
  return sample(Type::kCounter, name, help, value, labels);
}

Result<void> CollectorSink::gauge(std::string_view name, std::string_view help, double value,
                                  const std::vector<Label>& labels) {
  return sample(Type::kGauge, name, help, value, labels);
}

void CollectorSink::fail(std::string message) {
  scrape_.errors.push_back(Error{Error::Code::kCollectFailed, std::move(message)});
}

Result<void> CollectorSink::sample(Type type, std::string_view name, std::string_view help,
                                   double value, const std::vector<Label>& labels) {
  auto refuse = [&](Error::Code code, std::string why) -> Result<void> {
    Error err{code, "collected sample " + std::string(name) + ": " + std::move(why)};
    scrape_.errors.push_back(err);
    return Unexpected(std::move(err));
  };
  if (!is_valid_metric_name(name)) {
    return refuse(Error::Code::kInvalidName, "invalid name");
  }
  if (help.empty() || !is_valid_utf8(help)) {
    return refuse(Error::Code::kInvalidHelp, "HELP must be non-empty UTF-8");
  }
  if (scrape_.taken->contains(name)) {
    return refuse(Error::Code::kDuplicate, "name is taken by a registered family");
  }

  std::vector<Label> sorted(labels);
  std::sort(sorted.begin(), sorted.end(),
            [](const Label& a, const Label& b) { return a.name < b.name; });
  std::vector<std::string> names;
  std::vector<std::string> values;
  for (const auto& l : sorted) {
    names.emplace_back(l.name);
    values.emplace_back(l.value);
    if (!is_valid_utf8(l.value)) {
      return refuse(Error::Code::kInvalidLabelValue, "label value is not valid UTF-8");
    }
  }
  if (auto ok = check_label_names(names); !ok) {
    return refuse(ok.error().code, ok.error().message);
  }

  auto [it, created] = scrape_.families.try_emplace(std::string(name));
  detail::FamilySnapshot& family = it->second;
  if (created) {
    scrape_.collected.emplace(name);
    family.name = std::string(name);
    family.help = std::string(help);
    family.type = type;
    family.label_names = names;
  } else if (family.type != type || family.help != help || family.label_names != names) {
    return refuse(Error::Code::kDuplicate, "inconsistent with an earlier sample of this name");
  }
  if (!family.series.emplace(std::move(values), value).second) {
    return refuse(Error::Code::kDuplicate, "series collected twice");
  }
  return {};
}

// ---- registry ---------------------------------------------------------------

Result<void> Registry::validate(const std::string& name, const std::string& help, Type type,
                                const std::vector<std::string>& label_names) const {
  if (!is_valid_metric_name(name)) {
    return fail(Error::Code::kInvalidName, "invalid metric name \"" + name + "\"");
  }
  if (auto ok = check_help(help); !ok) {
    return ok;
  }
  if (auto ok = check_label_names(label_names); !ok) {
    return ok;
  }
  for (const auto& n : sample_names(name, type)) {
    if (taken_names_.contains(n)) {
      return fail(Error::Code::kDuplicate, "metric name \"" + n + "\" is already registered");
    }
  }
  return {};
}

template <class F>
Result<std::shared_ptr<F>> Registry::add(std::shared_ptr<F> family) {
  std::lock_guard lock(mu_);
  if (auto ok = validate(family->name(), family->help(), family->type(), family->label_names());
      !ok) {
    return Unexpected(ok.error());
  }
  for (auto& n : sample_names(family->name(), family->type())) {
    taken_names_.insert(std::move(n));
  }
  families_.emplace(family->name(), family);
  return family;
}

Result<std::shared_ptr<CounterFamily>> Registry::add_counter(std::string name, std::string help,
                                                             std::vector<std::string> label_names) {
  return add(std::make_shared<CounterFamily>(std::move(name), std::move(help), Type::kCounter,
                                             std::move(label_names),
                                             [] { return std::make_shared<Counter>(); }));
}

Result<std::shared_ptr<GaugeFamily>> Registry::add_gauge(std::string name, std::string help,
                                                         std::vector<std::string> label_names) {
  return add(std::make_shared<GaugeFamily>(std::move(name), std::move(help), Type::kGauge,
                                           std::move(label_names),
                                           [] { return std::make_shared<Gauge>(); }));
}

Result<std::shared_ptr<HistogramFamily>> Registry::add_histogram(
    std::string name, std::string help, std::vector<std::string> label_names,
    std::vector<double> buckets) {
  // A trailing +Inf is implicit, as in Go.
  if (!buckets.empty() && std::isinf(buckets.back()) && buckets.back() > 0) {
    buckets.pop_back();
  }
  if (auto ok = check_buckets(buckets); !ok) {
    return Unexpected(ok.error());
  }
  auto bounds = std::make_shared<const std::vector<double>>(std::move(buckets));
  return add(std::make_shared<HistogramFamily>(
      std::move(name), std::move(help), Type::kHistogram, std::move(label_names),
      [bounds] { return std::make_shared<Histogram>(bounds); }));
}

void Registry::add_collector(Collector collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::make_shared<const Collector>(std::move(collector)));
}

std::string Registry::expose(std::vector<Error>* errors) const {
  std::vector<std::shared_ptr<FamilyBase>> families;
  std::vector<std::shared_ptr<const Collector>> collectors;
  std::set<std::string, std::less<>> taken;
  {
    std::lock_guard lock(mu_);
    families.reserve(families_.size());
    for (const auto& [name, family] : families_) {
      families.push_back(family);
    }
    collectors = collectors_;
    taken = taken_names_;
  }

  detail::Scrape scrape;
  scrape.taken = &taken;
  for (const auto& family : families) {
    auto& snap = scrape.families[family->name()];
    snap.name = family->name();
    snap.help = family->help();
    snap.type = family->type();
    for (const auto& n : family->label_names()) {
      snap.label_names.push_back(n);
    }
    std::sort(snap.label_names.begin(), snap.label_names.end());
    family->collect(snap);
  }
  for (const auto& collector : collectors) {
    CollectorSink sink(scrape);
    try {
      (*collector)(sink);
    } catch (const std::exception& e) {
      sink.fail(std::string("collector threw: ") + e.what());
    }
  }

  std::string out;
  for (const auto& [name, family] : scrape.families) {
    if (!family.series.empty()) {
      append_family(out, family);
    }
  }
  if (errors != nullptr) {
    errors->insert(errors->end(), std::make_move_iterator(scrape.errors.begin()),
                   std::make_move_iterator(scrape.errors.end()));
  }
  return out;
}

}  // namespace frugal::metrics
