// A small Prometheus registry: counter, gauge and histogram families with
// fixed label names, collectors computed at scrape time, and the text
// exposition format 0.0.4 written exactly as the Go client writes it (label
// pairs sorted by name, families sorted by name, series sorted by label
// values, floats as strconv.FormatFloat(f, 'g', -1, 64)). prometheus-cpp is
// not packaged for the target platform, so this is ours.
//
// Hot path: a child's value is an atomic; callers look a child up once with
// `with(...)` and keep the returned shared_ptr. A lookup takes the family's
// mutex and allocates only when it creates a new series.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"

namespace frugal::metrics {

// The Content-Type of the text exposition format 0.0.4.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

struct Error {
  enum class Code {
    kInvalidName,        // metric name does not match [a-zA-Z_:][a-zA-Z0-9_:]*
    kInvalidLabelName,   // label name invalid, reserved (__*, le, quantile), or repeated
    kInvalidHelp,        // HELP empty or not UTF-8
    kDuplicate,          // a family (or one of its sample names) is already taken
    kLabelCardinality,   // wrong number of label values for the family
    kInvalidLabelValue,  // label value not UTF-8
    kInvalidBuckets,     // histogram bounds not strictly increasing, or NaN
    kInvalidArgument,    // e.g. bucket helper parameters
    kCollectFailed,      // a collector could not read its source
  };
  Code code = Code::kInvalidArgument;
  std::string message;

  bool is_invalid_name() const { return code == Code::kInvalidName; }
  bool is_duplicate() const { return code == Code::kDuplicate; }
  bool is_label_cardinality() const { return code == Code::kLabelCardinality; }
  bool is_invalid_label_value() const { return code == Code::kInvalidLabelValue; }
  bool is_invalid_buckets() const { return code == Code::kInvalidBuckets; }
  bool is_collect_failed() const { return code == Code::kCollectFailed; }
};

template <class T>
using Result = frugal::Expected<T, Error>;
using frugal::Unexpected;

// ---- values ---------------------------------------------------------------

// A monotonically increasing value. inc() of a negative or NaN amount would
// break every rate() over the series, so it is refused: the value stays as it
// was and inc() returns false (the Go client panics instead).
class Counter {
 public:
  bool inc(double amount = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double amount = 1) { value_.fetch_add(amount, std::memory_order_relaxed); }
  void dec(double amount = 1) { value_.fetch_sub(amount, std::memory_order_relaxed); }
  // Seconds since the Unix epoch, from the system clock.
  void set_to_current_time();
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into buckets with upper bounds (inclusive, "le"), plus
// an implicit +Inf bucket. A NaN observation lands in +Inf, as in Go.
class Histogram {
 public:
  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;  // equals cumulative.back()
  };

  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);
  void observe(double v);
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  std::shared_ptr<const std::vector<double>> bounds_;
  std::vector<std::atomic<std::uint64_t>> counts_;  // per bucket, not cumulative
  std::atomic<double> sum_{0};
};

// Prometheus client default: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 (seconds).
std::vector<double> default_buckets();
// start, start*factor, ... (count bounds); needs start > 0, factor > 1, count >= 1.
Result<std::vector<double>> exponential_buckets(double start, double factor, int count);
// start, start+width, ... (count bounds); needs width > 0, count >= 1.
Result<std::vector<double>> linear_buckets(double start, double width, int count);

// Formats a sample value as the Go client's expfmt does: "+Inf", "-Inf",
// "NaN", "0" (also for -0), and otherwise strconv.FormatFloat(v, 'g', -1, 64):
// the shortest digits that round-trip, in exponent form when the decimal
// exponent is < -4 or >= 6. So 123456 prints as "123456" but 1000000 as
// "1e+06" and 0.00001 as "1e-05", exactly what a Go exporter sends.
std::string format_value(double v);

// ---- families -------------------------------------------------------------

enum class Type { kCounter, kGauge, kHistogram };

namespace detail {
struct FamilySnapshot;
struct Scrape;

// Orders label-value tuples element by element, across std::string and
// std::string_view tuples, so lookups need not build a key.
struct LabelValuesLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](const auto& x, const auto& y) { return std::string_view(x) < std::string_view(y); });
  }
};
}  // namespace detail

// What every family has; the registry scrapes families through this.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  virtual void collect(detail::FamilySnapshot& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> label_names);

  std::string name_;
  std::string help_;
  Type type_;
  std::vector<std::string> label_names_;   // in the order given at registration
  std::vector<std::size_t> sorted_order_;  // label indices sorted by label name
};

// A family of series of one metric type that share a name and label names.
// `with` returns the child for the given label values (in the order of the
// label names given at registration), creating it on first use. A removed
// child's handles stay valid but no longer reach the exposition; a later
// `with` for the same values starts a fresh series at zero.
template <class Metric>
class Family final : public FamilyBase {
 public:
  using Handle = std::shared_ptr<Metric>;
  using Factory = std::function<Handle()>;

  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         Factory make);

  Result<Handle> with(std::initializer_list<std::string_view> values) {
    return with(std::span<const std::string_view>(values.begin(), values.size()));
  }
  Result<Handle> with(std::span<const std::string_view> values);
  Result<Handle> with(std::span<const std::string> values);
  // The only series of a family without labels.
  Result<Handle> with() { return with(std::span<const std::string_view>{}); }

  // True when a series with these values existed.
  bool remove(std::initializer_list<std::string_view> values) {
    return remove(std::span<const std::string_view>(values.begin(), values.size()));
  }
  bool remove(std::span<const std::string_view> values);
  bool remove(std::span<const std::string> values);
  // Drops every series whose label values (registration order) match; returns how many.
  std::size_t remove_if(const std::function<bool(std::span<const std::string>)>& pred);
  void clear();
  std::size_t size() const;

  void collect(detail::FamilySnapshot& out) const override;

 private:
  template <class Values>
  Result<Handle> find_or_create(const Values& values);
  template <class Values>
  bool erase(const Values& values);

  Factory make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, Handle, detail::LabelValuesLess> children_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

// ---- collectors -----------------------------------------------------------

struct Label {
  std::string_view name;
  std::string_view value;
};

// Handed to collectors at scrape time. Samples of the same name are grouped
// into one family; the first sample fixes its type, HELP and label names.
// A sample that is invalid, repeats a series, or collides with a registered
// family is refused: the call returns the error and the scrape reports it.
class CollectorSink {
 public:
  Result<void> counter(std::string_view name, std::string_view help, double value,
                       const std::vector<Label>& labels = {});
  Result<void> gauge(std::string_view name, std::string_view help, double value,
                     const std::vector<Label>& labels = {});
  // Reports that a source could not be read; the scrape carries on.
  void fail(std::string message);

 private:
  friend class Registry;
  explicit CollectorSink(detail::Scrape& scrape) : scrape_(scrape) {}
  Result<void> sample(Type type, std::string_view name, std::string_view help, double value,
                      const std::vector<Label>& labels);

  detail::Scrape& scrape_;
};

using Collector = std::function<void(CollectorSink&)>;

// ---- registry -------------------------------------------------------------

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Result<std::shared_ptr<CounterFamily>> add_counter(std::string name, std::string help,
                                                     std::vector<std::string> label_names = {});
  Result<std::shared_ptr<GaugeFamily>> add_gauge(std::string name, std::string help,
                                                 std::vector<std::string> label_names = {});
  // An empty `buckets` leaves only the +Inf bucket; "le" is not a valid label name here.
  Result<std::shared_ptr<HistogramFamily>> add_histogram(
      std::string name, std::string help, std::vector<std::string> label_names = {},
      std::vector<double> buckets = default_buckets());

  // Runs on every scrape, outside the registry's lock, possibly on several
  // threads at once when scrapes overlap.
  void add_collector(Collector collector);

  // The whole registry in text format 0.0.4. Families without series are left
  // out, as in Go. Errors from collectors (refused samples, failed reads) are
  // appended to `errors` when given, so the HTTP handler can log them.
  std::string expose(std::vector<Error>* errors = nullptr) const;

 private:
  template <class F>
  Result<std::shared_ptr<F>> add(std::shared_ptr<F> family);
  Result<void> validate(const std::string& name, const std::string& help, Type type,
                        const std::vector<std::string>& label_names) const;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<FamilyBase>> families_;
  std::set<std::string, std::less<>> taken_names_;  // family and sample names
  std::vector<std::shared_ptr<const Collector>> collectors_;
};

// Validators, exposed for collectors and tests.
bool is_valid_metric_name(std::string_view name);
bool is_valid_label_name(std::string_view name);  // also refuses the reserved "__" prefix
bool is_valid_utf8(std::string_view s);

}  // namespace frugal::metrics
