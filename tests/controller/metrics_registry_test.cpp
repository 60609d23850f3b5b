// The registry and its text exposition: exact output (escaping, ordering,
// histograms, Go float formatting), error values for misuse, thread safety,
// and acceptance of real output by `promtool check metrics`.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "controller/metrics/process_metrics.h"
#include "controller/metrics/registry.h"

namespace frugal::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- float formatting ---------------------------------------------------------

TEST(FormatValue, MatchesGoStrconvFormatFloatShortestG) {
  // Expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64) (and
  // expfmt's special cases) produce; several are from real Go exporters.
  const std::vector<std::pair<double, std::string>> cases = {
      {0, "0"},
      {-0.0, "0"},
      {1, "1"},
      {-1, "-1"},
      {0.5, "0.5"},
      {2.5, "2.5"},
      {12.5, "12.5"},
      {100, "100"},
      {100000, "100000"},
      {123456, "123456"},
      {999999, "999999"},
      {1e6, "1e+06"},
      {1234567, "1.234567e+06"},
      {1048576, "1.048576e+06"},
      {12292096, "1.2292096e+07"},
      {1.7097658257e9, "1.7097658257e+09"},
      {9007199254740992.0, "9.007199254740992e+15"},
      {18446744073709551615.0, "1.8446744073709552e+19"},
      {1e21, "1e+21"},
      {1e100, "1e+100"},
      {std::numeric_limits<double>::max(), "1.7976931348623157e+308"},
      {0.1, "0.1"},
      {0.15578999999999998, "0.15578999999999998"},
      {1.0 / 3, "0.3333333333333333"},
      {0.0001, "0.0001"},
      {0.000123, "0.000123"},
      {0.00001, "1e-05"},
      {-0.001, "-0.001"},
      {-1.5e-7, "-1.5e-07"},
      {5e-324, "5e-324"},
      {kInf, "+Inf"},
      {-kInf, "-Inf"},
      {kNaN, "NaN"},
  };
  for (const auto& [v, want] : cases) {
    EXPECT_EQ(format_value(v), want) << "for " << want;
  }
}

// ---- exposition -----------------------------------------------------------------

TEST(Exposition, WritesLabelsSortedByNameAndSeriesSortedByValues) {
  Registry r;
  auto requests = r.add_counter("http_requests_total", "Requests served.", {"method", "code"});
  ASSERT_TRUE(requests);
  (*requests)->with({"GET", "200"}).value()->inc(3);
  (*requests)->with({"POST", "500"}).value()->inc();
  (*requests)->with({"GET", "404"}).value()->inc(2);
  auto temperature = r.add_gauge("room_temperature_celsius", "Temperature.");
  ASSERT_TRUE(temperature);
  (*temperature)->with().value()->set(21.5);

  EXPECT_EQ(r.expose(),
            "# HELP http_requests_total Requests served.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{code=\"200\",method=\"GET\"} 3\n"
            "http_requests_total{code=\"404\",method=\"GET\"} 2\n"
            "http_requests_total{code=\"500\",method=\"POST\"} 1\n"
            "# HELP room_temperature_celsius Temperature.\n"
            "# TYPE room_temperature_celsius gauge\n"
            "room_temperature_celsius 21.5\n");
}

TEST(Exposition, SortsFamiliesByNameBytewiseWhateverTheRegistrationOrder) {
  Registry r;
  for (const char* name : {"zeta", "alpha", "Beta", "alpha_bucket"}) {
    ASSERT_TRUE(r.add_gauge(name, "h.", {"v"}));
  }
  auto zeta = r.add_gauge("zeta2", "h.", {"v"}).value();
  for (const char* v : {"b", "9", "aa", "10", "a", ""}) {
    zeta->with({v}).value()->set(1);
  }

  EXPECT_EQ(r.expose(),
            "# HELP zeta2 h.\n"
            "# TYPE zeta2 gauge\n"
            "zeta2{v=\"\"} 1\n"
            "zeta2{v=\"10\"} 1\n"
            "zeta2{v=\"9\"} 1\n"
            "zeta2{v=\"a\"} 1\n"
            "zeta2{v=\"aa\"} 1\n"
            "zeta2{v=\"b\"} 1\n");

  Registry names;
  for (const char* name : {"zeta", "alpha", "Beta", "alpha_bucket"}) {
    names.add_gauge(name, "h.").value()->with().value()->set(0);
  }
  EXPECT_EQ(names.expose(),
            "# HELP Beta h.\n# TYPE Beta gauge\nBeta 0\n"
            "# HELP alpha h.\n# TYPE alpha gauge\nalpha 0\n"
            "# HELP alpha_bucket h.\n# TYPE alpha_bucket gauge\nalpha_bucket 0\n"
            "# HELP zeta h.\n# TYPE zeta gauge\nzeta 0\n");
}

TEST(Exposition, EscapesBackslashAndNewlineInHelpAndAlsoQuotesInLabelValues) {
  Registry r;
  auto g = r.add_gauge("escapes", "Back\\slash, new\nline and \"quotes\".", {"path"}).value();
  g->with({"C:\\dir\n\"x\""}).value()->set(1);
  g->with({"caf\xc3\xa9 \xe2\x82\xac"}).value()->set(2);  // UTF-8 passes through

  EXPECT_EQ(r.expose(), R"txt(# HELP escapes Back\\slash, new\nline and "quotes".
# TYPE escapes gauge
escapes{path="C:\\dir\n\"x\""} 1
escapes{path="café €"} 2
)txt");
}

TEST(Exposition, HistogramBucketsAreCumulativeWithInclusiveBoundsAndInf) {
  Registry r;
  auto h = r.add_histogram("job_wait_seconds", "Wait.", {}, {1, 2, 5}).value()->with().value();
  for (double v : {0.5, 1.0, 1.5, 3.0, 10.0}) {
    h->observe(v);
  }

  EXPECT_EQ(r.expose(),
            "# HELP job_wait_seconds Wait.\n"
            "# TYPE job_wait_seconds histogram\n"
            "job_wait_seconds_bucket{le=\"1\"} 2\n"
            "job_wait_seconds_bucket{le=\"2\"} 3\n"
            "job_wait_seconds_bucket{le=\"5\"} 4\n"
            "job_wait_seconds_bucket{le=\"+Inf\"} 5\n"
            "job_wait_seconds_sum 16\n"
            "job_wait_seconds_count 5\n");
}

TEST(Exposition, HistogramWritesLeAfterTheOtherLabelsAndFormatsBoundsLikeValues) {
  Registry r;
  auto family =
      r.add_histogram("payload_bytes", "Sizes.", {"queue", "kind"}, {-1, 0.25, 1e6}).value();
  family->with({"q", "k"}).value()->observe(0.25);
  family->with({"q", "k"}).value()->observe(2e6);

  EXPECT_EQ(r.expose(),
            "# HELP payload_bytes Sizes.\n"
            "# TYPE payload_bytes histogram\n"
            "payload_bytes_bucket{kind=\"k\",queue=\"q\",le=\"-1\"} 0\n"
            "payload_bytes_bucket{kind=\"k\",queue=\"q\",le=\"0.25\"} 1\n"
            "payload_bytes_bucket{kind=\"k\",queue=\"q\",le=\"1e+06\"} 1\n"
            "payload_bytes_bucket{kind=\"k\",queue=\"q\",le=\"+Inf\"} 2\n"
            "payload_bytes_sum{kind=\"k\",queue=\"q\"} 2.00000025e+06\n"
            "payload_bytes_count{kind=\"k\",queue=\"q\"} 2\n");
}

TEST(Exposition, HistogramNaNObservationCountsInInfAndPoisonsSumAsInGo) {
  Registry r;
  auto h = r.add_histogram("odd", "h.", {}, {1}).value()->with().value();
  h->observe(kNaN);
  EXPECT_EQ(r.expose(),
            "# HELP odd h.\n# TYPE odd histogram\n"
            "odd_bucket{le=\"1\"} 0\nodd_bucket{le=\"+Inf\"} 1\nodd_sum NaN\nodd_count 1\n");
}

TEST(Exposition, HistogramTrailingInfBoundIsImplicitAndEmptyBoundsLeaveOnlyInf) {
  Registry r;
  r.add_histogram("a", "h.", {}, {1, kInf}).value()->with().value()->observe(3);
  r.add_histogram("b", "h.", {}, {}).value()->with().value()->observe(3);
  EXPECT_EQ(r.expose(),
            "# HELP a h.\n# TYPE a histogram\n"
            "a_bucket{le=\"1\"} 0\na_bucket{le=\"+Inf\"} 1\na_sum 3\na_count 1\n"
            "# HELP b h.\n# TYPE b histogram\n"
            "b_bucket{le=\"+Inf\"} 1\nb_sum 3\nb_count 1\n");
}

TEST(Exposition, FamilyWithoutSeriesIsLeftOutAndEmptyRegistryExposesNothing) {
  Registry r;
  EXPECT_EQ(r.expose(), "");
  ASSERT_TRUE(r.add_counter("jobs_total", "Jobs.", {"team"}));
  EXPECT_EQ(r.expose(), "");
}

TEST(Exposition, ContentTypeIsTextFormatZeroZeroFour) {
  EXPECT_EQ(kContentType, "text/plain; version=0.0.4; charset=utf-8");
}

// ---- values -----------------------------------------------------------------------

TEST(Counter, RefusesNegativeAndNaNIncrementsAndKeepsItsValue) {
  Counter c;
  EXPECT_TRUE(c.inc());
  EXPECT_TRUE(c.inc(2.5));
  EXPECT_FALSE(c.inc(-1));
  EXPECT_FALSE(c.inc(kNaN));
  EXPECT_TRUE(c.inc(0));
  EXPECT_EQ(c.value(), 3.5);
}

TEST(Gauge, SetsIncrementsDecrementsAndTakesTheCurrentTime) {
  Gauge g;
  g.set(10);
  g.inc();
  g.inc(4.5);
  g.dec(0.5);
  g.dec();
  EXPECT_EQ(g.value(), 14);
  g.set(-3);
  EXPECT_EQ(g.value(), -3);

  const auto before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  g.set_to_current_time();
  const auto after =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GE(g.value(), before);
  EXPECT_LE(g.value(), after);
}

TEST(Buckets, DefaultBucketsAreTheGoClientDefaults) {
  EXPECT_EQ(default_buckets(),
            (std::vector<double>{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}));
}

TEST(Buckets, ExponentialAndLinearHelpersAndTheirPreconditions) {
  EXPECT_EQ(exponential_buckets(1, 2, 5).value(), (std::vector<double>{1, 2, 4, 8, 16}));
  EXPECT_EQ(linear_buckets(-1, 0.5, 4).value(), (std::vector<double>{-1, -0.5, 0, 0.5}));
  EXPECT_FALSE(exponential_buckets(0, 2, 3));
  EXPECT_FALSE(exponential_buckets(1, 1, 3));
  EXPECT_FALSE(exponential_buckets(1, 2, 0));
  EXPECT_FALSE(linear_buckets(0, 0, 3));
  EXPECT_FALSE(linear_buckets(0, 1, -1));
}

// ---- misuse is an error value -------------------------------------------------------

TEST(Errors, WrongNumberOfLabelValuesIsACardinalityErrorNotACrash) {
  Registry r;
  auto f = r.add_counter("jobs_total", "Jobs.", {"team", "kind"}).value();
  auto too_few = f->with({"a"});
  ASSERT_FALSE(too_few);
  EXPECT_TRUE(too_few.error().is_label_cardinality());
  EXPECT_FALSE(f->with({"a", "b", "c"}));
  EXPECT_FALSE(f->with());
  EXPECT_EQ(f->size(), 0u);

  auto plain = r.add_gauge("up", "Up.").value();
  EXPECT_TRUE(plain->with());
  EXPECT_TRUE(plain->with({"x"}).error().is_label_cardinality());
}

TEST(Errors, LabelValuesMustBeValidUtf8) {
  Registry r;
  auto f = r.add_gauge("g", "h.", {"v"}).value();
  for (std::string bad : {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
    auto res = f->with({bad});
    ASSERT_FALSE(res) << "accepted " << bad;
    EXPECT_TRUE(res.error().is_invalid_label_value());
  }
  EXPECT_TRUE(f->with({"\xf0\x9f\x92\xb8"}));  // U+1F4B8
  EXPECT_EQ(f->size(), 1u);
}

TEST(Errors, RegistrationValidatesNamesLabelsHelpAndBuckets) {
  Registry r;
  EXPECT_TRUE(r.add_counter("9lives_total", "h.").error().is_invalid_name());
  EXPECT_TRUE(r.add_counter("has-dash_total", "h.").error().is_invalid_name());
  EXPECT_TRUE(r.add_counter("", "h.").error().is_invalid_name());
  EXPECT_TRUE(r.add_gauge("ns:sub_metric", "h."));  // colons are allowed in metric names

  EXPECT_EQ(r.add_gauge("g1", "h.", {"__reserved"}).error().code, Error::Code::kInvalidLabelName);
  EXPECT_EQ(r.add_gauge("g2", "h.", {"a:b"}).error().code, Error::Code::kInvalidLabelName);
  EXPECT_EQ(r.add_gauge("g3", "h.", {"1a"}).error().code, Error::Code::kInvalidLabelName);
  EXPECT_EQ(r.add_gauge("g4", "h.", {"a", "a"}).error().code, Error::Code::kInvalidLabelName);
  EXPECT_EQ(r.add_histogram("h1", "h.", {"le"}).error().code, Error::Code::kInvalidLabelName);
  EXPECT_EQ(r.add_gauge("g5", "h.", {"quantile"}).error().code, Error::Code::kInvalidLabelName);
  EXPECT_TRUE(r.add_gauge("g6", "h.", {"_ok", "Mixed9"}));

  EXPECT_EQ(r.add_gauge("g7", "").error().code, Error::Code::kInvalidHelp);
  EXPECT_EQ(r.add_gauge("g8", "\xff").error().code, Error::Code::kInvalidHelp);

  EXPECT_TRUE(r.add_histogram("h2", "h.", {}, {1, 1}).error().is_invalid_buckets());
  EXPECT_TRUE(r.add_histogram("h3", "h.", {}, {2, 1}).error().is_invalid_buckets());
  EXPECT_TRUE(r.add_histogram("h4", "h.", {}, {kNaN}).error().is_invalid_buckets());
}

TEST(Errors, NamesAndHistogramSampleNamesCannotBeRegisteredTwice) {
  Registry r;
  ASSERT_TRUE(r.add_counter("jobs_total", "h."));
  EXPECT_TRUE(r.add_counter("jobs_total", "h.").error().is_duplicate());
  EXPECT_TRUE(r.add_gauge("jobs_total", "h.").error().is_duplicate());

  ASSERT_TRUE(r.add_histogram("wait_seconds", "h."));
  EXPECT_TRUE(r.add_gauge("wait_seconds_count", "h.").error().is_duplicate());
  ASSERT_TRUE(r.add_gauge("size_bucket", "h."));
  EXPECT_TRUE(r.add_histogram("size", "h.").error().is_duplicate());
}

// ---- removal ------------------------------------------------------------------------

TEST(Removal, RemoveDropsOneSeriesAndOldHandlesNoLongerReachTheExposition) {
  Registry r;
  auto cost = r.add_counter("job_cost_dollars_total", "Cost.", {"namespace", "job"}).value();
  auto a = cost->with({"ml", "a"}).value();
  auto b = cost->with({"ml", "b"}).value();
  a->inc(5);
  b->inc(7);

  EXPECT_TRUE(cost->remove({"ml", "a"}));
  EXPECT_FALSE(cost->remove({"ml", "a"}));
  EXPECT_FALSE(cost->remove({"ml"}));
  a->inc(100);  // the detached handle still works, but is not exposed
  EXPECT_EQ(r.expose(),
            "# HELP job_cost_dollars_total Cost.\n"
            "# TYPE job_cost_dollars_total counter\n"
            "job_cost_dollars_total{job=\"b\",namespace=\"ml\"} 7\n");

  auto again = cost->with({"ml", "a"}).value();  // a fresh series starts at zero
  EXPECT_EQ(again->value(), 0);
  EXPECT_NE(again, a);
}

TEST(Removal, RemoveIfDropsMatchingSeriesAndReportsHowMany) {
  Registry r;
  auto cost = r.add_gauge("job_cost_dollars", "Cost.", {"namespace", "job"}).value();
  for (const char* ns : {"ml", "web"}) {
    for (const char* job : {"a", "b", "c"}) {
      cost->with({ns, job}).value()->set(1);
    }
  }
  const std::vector<std::string> dynamic = {"web", "c"};
  EXPECT_TRUE(cost->with(std::span<const std::string>(dynamic)));

  const auto removed =
      cost->remove_if([](std::span<const std::string> v) { return v[0] == "ml" && v[1] != "b"; });
  EXPECT_EQ(removed, 2u);
  EXPECT_EQ(cost->size(), 4u);
  EXPECT_TRUE(cost->remove(std::span<const std::string>(dynamic)));
  cost->clear();
  EXPECT_EQ(cost->size(), 0u);
  EXPECT_EQ(r.expose(), "");
}

// ---- collectors ---------------------------------------------------------------------

TEST(Collectors, ScrapeTimeSamplesAreMergedAndSortedWithRegisteredFamilies) {
  Registry r;
  r.add_gauge("b_registered", "Registered.").value()->with().value()->set(1);
  r.add_collector([](CollectorSink& sink) {
    EXPECT_TRUE(
        sink.gauge("workqueue_depth", "Current depth of workqueue.", 3, {{"name", "trainingjob"}}));
    EXPECT_TRUE(sink.gauge("workqueue_depth", "Current depth of workqueue.", 0,
                           {{"name", "inferenceendpoint"}}));
    EXPECT_TRUE(sink.counter("a_collected_total", "Collected.", 7, {{"z", "1"}, {"y", "2"}}));
  });
  std::vector<Error> errors;
  EXPECT_EQ(r.expose(&errors),
            "# HELP a_collected_total Collected.\n"
            "# TYPE a_collected_total counter\n"
            "a_collected_total{y=\"2\",z=\"1\"} 7\n"
            "# HELP b_registered Registered.\n"
            "# TYPE b_registered gauge\n"
            "b_registered 1\n"
            "# HELP workqueue_depth Current depth of workqueue.\n"
            "# TYPE workqueue_depth gauge\n"
            "workqueue_depth{name=\"inferenceendpoint\"} 0\n"
            "workqueue_depth{name=\"trainingjob\"} 3\n");
  EXPECT_TRUE(errors.empty());
}

TEST(Collectors, CollidingInconsistentOrRepeatedSamplesAreRefusedAndReported) {
  Registry r;
  r.add_gauge("frugal_up", "Up.").value()->with().value()->set(1);
  ASSERT_TRUE(r.add_histogram("wait_seconds", "Wait."));
  r.add_collector([](CollectorSink& sink) {
    EXPECT_TRUE(sink.gauge("frugal_up", "Up.", 0).error().is_duplicate());
    EXPECT_TRUE(sink.gauge("wait_seconds_sum", "Sum.", 0).error().is_duplicate());
    EXPECT_TRUE(sink.gauge("x", "X.", 1, {{"a", "1"}}));
    EXPECT_TRUE(sink.counter("x", "X.", 1, {{"a", "2"}}).error().is_duplicate());
    EXPECT_TRUE(sink.gauge("x", "Other help.", 1, {{"a", "3"}}).error().is_duplicate());
    EXPECT_TRUE(sink.gauge("x", "X.", 1, {{"b", "4"}}).error().is_duplicate());
    EXPECT_TRUE(sink.gauge("x", "X.", 9, {{"a", "1"}}).error().is_duplicate());
    EXPECT_TRUE(sink.gauge("bad-name", "X.", 1).error().is_invalid_name());
    EXPECT_EQ(sink.gauge("y", "Y.", 1, {{"__a", "1"}}).error().code,
              Error::Code::kInvalidLabelName);
    EXPECT_TRUE(sink.gauge("y", "Y.", 1, {{"a", "\xff"}}).error().is_invalid_label_value());
    sink.fail("reading /nowhere: No such file");
  });
  r.add_collector([](CollectorSink&) { throw std::runtime_error("boom"); });

  std::vector<Error> errors;
  EXPECT_EQ(r.expose(&errors),
            "# HELP frugal_up Up.\n# TYPE frugal_up gauge\nfrugal_up 1\n"
            "# HELP x X.\n# TYPE x gauge\nx{a=\"1\"} 1\n");
  ASSERT_EQ(errors.size(), 11u);
  EXPECT_TRUE(errors[9].is_collect_failed());
  EXPECT_EQ(errors[9].message, "reading /nowhere: No such file");
  EXPECT_TRUE(errors[10].is_collect_failed());
  EXPECT_EQ(errors[10].message, "collector threw: boom");
}

// ---- concurrency (also run under -fsanitize=thread) -----------------------------------

constexpr int kThreads = 8;
constexpr int kIncrementsPerThread = 20000;

TEST(Concurrency, ManyThreadsIncrementingOneCounterGiveTheExactTotal) {
  Registry r;
  auto family = r.add_counter("hits_total", "Hits.", {"path"}).value();
  auto cached = family->with({"/"}).value();
  {
    std::vector<std::jthread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kIncrementsPerThread; ++i) {
          if (t % 2 == 0) {
            cached->inc();
          } else {
            family->with({"/"}).value()->inc();  // lookup on every call
          }
        }
      });
    }
  }
  EXPECT_EQ(cached->value(), static_cast<double>(kThreads) * kIncrementsPerThread);
  EXPECT_EQ(r.expose(),
            "# HELP hits_total Hits.\n# TYPE hits_total counter\nhits_total{path=\"/\"} " +
                format_value(kThreads * kIncrementsPerThread) + "\n");
}

TEST(Concurrency, ScrapesRemovalsAndNewSeriesRaceSafelyWithUpdates) {
  Registry r;
  auto hist = r.add_histogram("latency_seconds", "Latency.", {"worker"}).value();
  auto gauge = r.add_gauge("in_flight", "In flight.").value()->with().value();
  auto churn = r.add_counter("churn_total", "Churn.", {"id"}).value();
  r.add_collector([](CollectorSink& sink) { (void)sink.gauge("collected", "C.", 1); });
  std::atomic<bool> stop{false};
  std::jthread scraper([&] {
    while (!stop.load()) {
      const auto text = r.expose();
      EXPECT_NE(text.find("# TYPE collected gauge"), std::string::npos);
    }
  });
  {
    std::vector<std::jthread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const auto worker = std::to_string(t);
        auto mine = hist->with({worker}).value();
        for (int i = 0; i < kIncrementsPerThread / 10; ++i) {
          mine->observe(0.01 * (i % 100));
          gauge->inc();
          gauge->dec();
          const auto id = std::to_string(i % 16);
          churn->with({id}).value()->inc();
          if (i % 7 == 0) {
            churn->remove({id});
          }
        }
      });
    }
  }
  stop = true;
  scraper.join();
  EXPECT_EQ(gauge->value(), 0);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(hist->with({std::to_string(t)}).value()->snapshot().count,
              static_cast<std::uint64_t>(kIncrementsPerThread / 10));
  }
}

// ---- promtool -----------------------------------------------------------------------------

std::optional<std::filesystem::path> find_on_path(const std::string& exe) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) {
    return std::nullopt;
  }
  std::string_view rest(path);
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const auto dir = rest.substr(0, colon);
    const auto candidate = std::filesystem::path(dir) / exe;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    std::string templ = (std::filesystem::temp_directory_path() / "frugal-metrics-XXXXXX").string();
    const int fd = ::mkstemp(templ.data());
    if (fd < 0) {
      throw std::runtime_error("mkstemp failed");
    }
    ::close(fd);
    path_ = templ;
    std::ofstream(path_, std::ios::binary) << contents;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult check_metrics(const std::filesystem::path& promtool, const std::string& text) {
  TempFile input(text);
  const std::string command =
      promtool.string() + " check metrics < " + input.path().string() + " 2>&1";
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return result;
  }
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) {
    result.output.append(buf, n);
  }
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST(Promtool, AcceptsEveryKindOfMetricWithTrickyLabelValuesLintClean) {
  const auto promtool = find_on_path("promtool");
  if (!promtool) {
    GTEST_SKIP() << "promtool not found on PATH; install the Debian package `prometheus` "
                    "(hack/install-deps.sh does) to validate the exposition format";
  }
  Registry r;
  auto spend = r.add_counter("frugal_spend_dollars_total",
                             "Money spent, in US dollars.\n"
                             "Includes \\ spot and on-demand.",
                             {"team", "capacity_type"})
                   .value();
  spend->with({"ml \"research\"", "spot"}).value()->inc(12.345);
  spend->with({"back\\slash\nnewline", "on_demand"}).value()->inc(1e7);
  spend->with({"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xb8", "spot"}).value()->inc(0.000012);
  spend->with({"", "spot"}).value()->inc();

  auto burn =
      r.add_gauge("frugal_burn_rate_dollars_per_hour", "Current spend rate.", {"team"}).value();
  burn->with({"ml"}).value()->set(-kInf);
  burn->with({"web"}).value()->set(kNaN);
  burn->with({"batch"}).value()->set(kInf);
  r.add_gauge("frugal_build_info", "Build information.", {"version"})
      .value()
      ->with({"v0.1.0"})
      .value()
      ->set(1);

  auto wait = r.add_histogram("frugal_queue_wait_seconds", "Time from submission to admission.",
                              {"queue"}, exponential_buckets(0.001, 10, 7).value())
                  .value();
  for (double v : {0.0005, 0.5, 3.0, 4000.0}) {
    wait->with({"gpu,a100=\"x\""}).value()->observe(v);
  }
  r.add_histogram("frugal_cold_start_seconds", "Cold start latency.")
      .value()
      ->with()
      .value()
      ->observe(1.5);
  r.add_collector([](CollectorSink& sink) {
    (void)sink.gauge("workqueue_depth", "Current depth of workqueue.", 4, {{"name", "tj\n"}});
  });
  add_process_collector(r);

  std::vector<Error> errors;
  const auto text = r.expose(&errors);
  EXPECT_TRUE(errors.empty()) << errors.front().message;
  const auto result = check_metrics(*promtool, text);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n--- input ---\n" << text;
  EXPECT_EQ(result.output, "") << "--- input ---\n" << text;
}

TEST(Promtool, TheCheckReallyRejectsBadInput) {
  // Guards the test above against a harness that would pass anything.
  const auto promtool = find_on_path("promtool");
  if (!promtool) {
    GTEST_SKIP() << "promtool not found on PATH; install the Debian package `prometheus`";
  }
  const auto lint = check_metrics(*promtool, "# HELP jobs Jobs.\n# TYPE jobs counter\njobs 1\n");
  EXPECT_NE(lint.exit_code, 0);
  EXPECT_NE(lint.output.find("_total"), std::string::npos) << lint.output;
  const auto broken = check_metrics(*promtool, "# TYPE x gauge\nx{a=\"unterminated} 1\n");
  EXPECT_NE(broken.exit_code, 0);
}

}  // namespace
}  // namespace frugal::metrics
