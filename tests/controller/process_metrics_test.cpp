// The process collector: procfs parsing on fixed text, exact output from a
// fake /proc tree, failures reported rather than fatal, and sane live values.
#include "controller/metrics/process_metrics.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace frugal::metrics {
namespace {

using frugal::testing::TempDir;

// A /proc/<pid>/stat line; comm holds spaces and parentheses on purpose.
constexpr std::string_view kStat =
    "4242 (frugal (ctl) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 "
    "150 75 0 0 20 0 9 0 123456 1269604352 3001 18446744073709551615 "
    "1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

constexpr std::string_view kLimits =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max file size             unlimited            unlimited            bytes     \n"
    "Max open files            1024                 1048576              files     \n"
    "Max address space         unlimited            unlimited            bytes     \n"
    "Max realtime timeout      unlimited            unlimited            us        \n";

constexpr std::string_view kProcStat =
    "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0\n"
    "intr 1462898\n"
    "btime 1700000000\n"
    "processes 26442\n";

// Two descriptors, closed on scope exit.
struct Pipe {
  Pipe() {
    if (::pipe(fds) != 0) {
      throw std::runtime_error("pipe failed");
    }
  }
  ~Pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  int fds[2] = {-1, -1};
};

// The value of the unlabelled sample `name` in an exposition, or NaN.
double sample(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return std::stod(text.substr(at + name.size() + 2));
}

TEST(ProcStat, ParsesFieldsAfterTheLastParenthesisOfComm) {
  const auto stat = parse_proc_stat(kStat);
  ASSERT_TRUE(stat) << stat.error().message;
  EXPECT_EQ(stat->utime_ticks, 150u);
  EXPECT_EQ(stat->stime_ticks, 75u);
  EXPECT_EQ(stat->starttime_ticks, 123456u);
  EXPECT_EQ(stat->vsize_bytes, 1269604352u);
  EXPECT_EQ(stat->rss_pages, 3001u);
}

TEST(ProcStat, RejectsTruncatedOrGarbledText) {
  EXPECT_TRUE(parse_proc_stat("").error().is_collect_failed());
  EXPECT_FALSE(parse_proc_stat("1 (x) S 1 2 3"));
  std::string garbled(kStat);
  garbled.replace(garbled.find("150"), 3, "1x0");
  EXPECT_FALSE(parse_proc_stat(garbled));
}

TEST(ProcLimits, ReadsSoftLimitsWithUnlimitedAsMaxUint64) {
  const auto limits = parse_proc_limits(kLimits);
  ASSERT_TRUE(limits) << limits.error().message;
  EXPECT_EQ(limits->open_files, 1024u);
  EXPECT_EQ(limits->address_space, std::numeric_limits<std::uint64_t>::max());
  EXPECT_FALSE(parse_proc_limits("Limit Soft Limit\n"));
}

TEST(ProcBootTime, ReadsTheBtimeLine) {
  EXPECT_EQ(parse_boot_time(kProcStat).value(), 1700000000u);
  EXPECT_FALSE(parse_boot_time("cpu 1 2 3\n"));
}

TEST(ProcessCollector, WritesGoClientNamesAndValuesFromAFakeProcTree) {
  TempDir proc{"frugal-proc"};
  proc.write("stat", kProcStat);
  proc.write("4242/stat", kStat);
  proc.write("4242/limits", kLimits);
  for (const char* fd : {"0", "1", "2", "7"}) {
    proc.write(std::filesystem::path("4242") / "fd" / fd, "");
  }

  Registry r;
  add_process_collector(
      r,
      {.proc_root = proc.path(), .pid = "4242", .clock_ticks_per_second = 100, .page_size = 4096});
  std::vector<Error> errors;
  EXPECT_EQ(r.expose(&errors),
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
            "# TYPE process_cpu_seconds_total counter\n"
            "process_cpu_seconds_total 2.25\n"
            "# HELP process_max_fds Maximum number of open file descriptors.\n"
            "# TYPE process_max_fds gauge\n"
            "process_max_fds 1024\n"
            "# HELP process_open_fds Number of open file descriptors.\n"
            "# TYPE process_open_fds gauge\n"
            "process_open_fds 4\n"
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
            "# TYPE process_resident_memory_bytes gauge\n"
            "process_resident_memory_bytes 1.2292096e+07\n"
            "# HELP process_start_time_seconds Start time of the process since unix epoch in "
            "seconds.\n"
            "# TYPE process_start_time_seconds gauge\n"
            "process_start_time_seconds 1.70000123456e+09\n"
            "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
            "# TYPE process_virtual_memory_bytes gauge\n"
            "process_virtual_memory_bytes 1.269604352e+09\n"
            "# HELP process_virtual_memory_max_bytes Maximum amount of virtual memory available "
            "in bytes.\n"
            "# TYPE process_virtual_memory_max_bytes gauge\n"
            "process_virtual_memory_max_bytes 1.8446744073709552e+19\n");
  EXPECT_TRUE(errors.empty());
}

TEST(ProcessCollector, UnreadableSourcesAreReportedAndTheirMetricsLeftOut) {
  TempDir proc{"frugal-proc"};
  proc.write("4242/limits", kLimits);  // no stat, no fd/, no btime
  Registry r;
  add_process_collector(r, {.proc_root = proc.path(), .pid = "4242"});
  std::vector<Error> errors;
  const auto text = r.expose(&errors);
  EXPECT_EQ(text.find("process_cpu_seconds_total"), std::string::npos);
  EXPECT_EQ(text.find("process_open_fds"), std::string::npos);
  EXPECT_NE(text.find("process_max_fds 1024\n"), std::string::npos);
  ASSERT_EQ(errors.size(), 2u);
  for (const auto& e : errors) {
    EXPECT_TRUE(e.is_collect_failed()) << e.message;
  }
}

TEST(ProcessCollector, LiveValuesForThisProcessAreSane) {
  Registry r;
  add_process_collector(r);
  std::vector<Error> errors;
  const auto before = r.expose(&errors);
  ASSERT_TRUE(errors.empty()) << errors.front().message;

  EXPECT_GT(sample(before, "process_resident_memory_bytes"), 0);
  EXPECT_GE(sample(before, "process_virtual_memory_bytes"),
            sample(before, "process_resident_memory_bytes"));
  EXPECT_GE(sample(before, "process_cpu_seconds_total"), 0);

  rlimit nofile{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &nofile), 0);
  const double want_max =
      nofile.rlim_cur == RLIM_INFINITY ? 18446744073709551615.0 : double(nofile.rlim_cur);
  EXPECT_EQ(sample(before, "process_max_fds"), want_max);

  // btime has whole seconds and starttime ticks, so allow a second of slack.
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double start = sample(before, "process_start_time_seconds");
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 24 * 3600);

  // Two pipes: four more descriptors, seen by the next scrape.
  std::string after;
  {
    Pipe first;
    Pipe second;
    after = r.expose();
  }
  EXPECT_EQ(sample(after, "process_open_fds"), sample(before, "process_open_fds") + 4);
}

}  // namespace
}  // namespace frugal::metrics
