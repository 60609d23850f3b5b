// Process metrics from procfs, computed as client_golang (via prometheus/procfs)
// computes them: CPU = (utime + stime) / USER_HZ, RSS = rss pages * page size,
// start = btime + starttime / USER_HZ, open fds = entries of fd/, limits = soft.
#include "controller/metrics/process_metrics.h"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

namespace frugal::metrics {

namespace {

// What /proc/<pid>/limits says when there is no limit (procfs reads it so).
constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

Unexpected<Error> fail(std::string message) {
  return Unexpected(Error{Error::Code::kCollectFailed, std::move(message)});
}

Result<std::uint64_t> parse_uint(std::string_view s) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    return fail("not an unsigned integer: \"" + std::string(s) + "\"");
  }
  return v;
}

std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) {
      ++i;
    }
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') {
      ++i;
    }
    if (i > start) {
      out.push_back(s.substr(start, i - start));
    }
  }
  return out;
}

Result<std::string> read_file(const std::filesystem::path& path) {
  // procfs files report size 0, so read the stream rather than trust the size.
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail("cannot open " + path.string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return fail("cannot read " + path.string());
  }
  return text.str();
}

template <class Parse>
auto read_parsed(const std::filesystem::path& path, Parse parse)
    -> decltype(parse(std::string_view{})) {
  auto text = read_file(path);
  if (!text) {
    return Unexpected(text.error());
  }
  return parse(*text);
}

// The soft limit of the limits line starting with `label`.
Result<std::uint64_t> soft_limit(std::string_view text, std::string_view label) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) {
      eol = text.size();
    }
    const std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.starts_with(label)) {
      continue;
    }
    const auto fields = split_fields(line.substr(label.size()));
    if (fields.empty()) {
      break;
    }
    if (fields[0] == "unlimited") {
      return kUnlimited;
    }
    return parse_uint(fields[0]);
  }
  return fail("limits: no \"" + std::string(label) + "\" line");
}

long sysconf_or(long configured, int name) {
  if (configured > 0) {
    return configured;
  }
  const long v = ::sysconf(name);
  return v > 0 ? v : 0;
}

}  // namespace

Result<ProcStat> parse_proc_stat(std::string_view text) {
  // comm (field 2) may hold spaces and parentheses; it ends at the last ')'.
  const std::size_t close = text.rfind(')');
  if (close == std::string_view::npos) {
    return fail("stat: no ')' after comm");
  }
  const auto fields = split_fields(text.substr(close + 1));
  // fields[0] is field 3 (state); field N is fields[N - 3].
  constexpr std::size_t kRssField = 24;
  if (fields.size() < kRssField - 2) {
    return fail("stat: too few fields");
  }
  auto field = [&](std::size_t n) { return parse_uint(fields[n - 3]); };
  auto utime = field(14);
  auto stime = field(15);
  auto start = field(22);
  auto vsize = field(23);
  auto rss = field(kRssField);
  for (auto* r : {&utime, &stime, &start, &vsize, &rss}) {
    if (!*r) {
      return fail("stat: " + r->error().message);
    }
  }
  return ProcStat{*utime, *stime, *start, *vsize, *rss};
}

Result<ProcLimits> parse_proc_limits(std::string_view text) {
  auto files = soft_limit(text, "Max open files");
  if (!files) {
    return Unexpected(files.error());
  }
  auto address = soft_limit(text, "Max address space");
  if (!address) {
    return Unexpected(address.error());
  }
  return ProcLimits{*files, *address};
}

Result<std::uint64_t> parse_boot_time(std::string_view proc_stat) {
  std::size_t pos = 0;
  while (pos < proc_stat.size()) {
    std::size_t eol = proc_stat.find('\n', pos);
    if (eol == std::string_view::npos) {
      eol = proc_stat.size();
    }
    const auto fields = split_fields(proc_stat.substr(pos, eol - pos));
    pos = eol + 1;
    if (fields.size() == 2 && fields[0] == "btime") {
      return parse_uint(fields[1]);
    }
  }
  return fail("stat: no btime line");
}

Collector process_collector(ProcessCollectorOptions options) {
  return [options = std::move(options)](CollectorSink& sink) {
    const auto dir = options.proc_root / options.pid;
    const double ticks =
        static_cast<double>(sysconf_or(options.clock_ticks_per_second, _SC_CLK_TCK));
    const double page = static_cast<double>(sysconf_or(options.page_size, _SC_PAGESIZE));
    // Failures to emit (a name taken by a registered family) are already
    // reported by the sink to the scrape's error list.
    auto emit = [](const Result<void>& r) { (void)r; };

    const auto stat = read_parsed(dir / "stat", parse_proc_stat);
    if (stat && ticks > 0) {
      emit(sink.counter("process_cpu_seconds_total",
                        "Total user and system CPU time spent in seconds.",
                        static_cast<double>(stat->utime_ticks + stat->stime_ticks) / ticks));
      emit(sink.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                      static_cast<double>(stat->vsize_bytes)));
      emit(sink.gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                      static_cast<double>(stat->rss_pages) * page));
      const auto btime = read_parsed(options.proc_root / "stat", parse_boot_time);
      if (btime) {
        emit(sink.gauge(
            "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
            static_cast<double>(*btime) + static_cast<double>(stat->starttime_ticks) / ticks));
      } else {
        sink.fail("process_start_time_seconds: " + btime.error().message);
      }
    } else {
      sink.fail("process stat: " +
                (stat ? std::string("clock ticks unknown") : stat.error().message));
    }

    std::error_code ec;
    std::size_t fds = 0;
    for (std::filesystem::directory_iterator it(dir / "fd", ec), end; !ec && it != end;
         it.increment(ec)) {
      ++fds;
    }
    if (!ec) {
      emit(sink.gauge("process_open_fds", "Number of open file descriptors.",
                      static_cast<double>(fds)));
    } else {
      sink.fail("process_open_fds: " + (dir / "fd").string() + ": " + ec.message());
    }

    const auto limits = read_parsed(dir / "limits", parse_proc_limits);
    if (limits) {
      emit(sink.gauge("process_max_fds", "Maximum number of open file descriptors.",
                      static_cast<double>(limits->open_files)));
      emit(sink.gauge("process_virtual_memory_max_bytes",
                      "Maximum amount of virtual memory available in bytes.",
                      static_cast<double>(limits->address_space)));
    } else {
      sink.fail("process limits: " + limits.error().message);
    }
  };
}

void add_process_collector(Registry& registry, ProcessCollectorOptions options) {
  registry.add_collector(process_collector(std::move(options)));
}

}  // namespace frugal::metrics
