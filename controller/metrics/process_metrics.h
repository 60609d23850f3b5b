// The standard process_* metrics, read from procfs at scrape time, with the
// names, HELP texts and sources of client_golang's process collector (Linux),
// so the usual "process" Grafana panels work unchanged against Frugal.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "controller/metrics/registry.h"

namespace frugal::metrics {

// The fields of /proc/<pid>/stat the collector uses (proc(5) numbering).
struct ProcStat {
  std::uint64_t utime_ticks = 0;      // 14
  std::uint64_t stime_ticks = 0;      // 15
  std::uint64_t starttime_ticks = 0;  // 22, clock ticks after boot
  std::uint64_t vsize_bytes = 0;      // 23
  std::uint64_t rss_pages = 0;        // 24
};

// Soft limits from /proc/<pid>/limits; "unlimited" reads as 2^64-1, as procfs
// (Go) reads it, which Prometheus then shows as 1.8446744073709552e+19.
struct ProcLimits {
  std::uint64_t open_files = 0;     // "Max open files"
  std::uint64_t address_space = 0;  // "Max address space"
};

Result<ProcStat> parse_proc_stat(std::string_view text);
Result<ProcLimits> parse_proc_limits(std::string_view text);
// The "btime" line of /proc/stat: boot time in seconds since the epoch.
Result<std::uint64_t> parse_boot_time(std::string_view proc_stat);

struct ProcessCollectorOptions {
  std::filesystem::path proc_root = "/proc";
  std::string pid = "self";
  // 0 means ask sysconf (_SC_CLK_TCK, _SC_PAGESIZE); tests pin them.
  long clock_ticks_per_second = 0;
  long page_size = 0;
};

// The collector behind add_process_collector; each source that cannot be read
// is reported through CollectorSink::fail and its metrics are left out.
Collector process_collector(ProcessCollectorOptions options = {});

// Registers process_cpu_seconds_total, process_open_fds, process_max_fds,
// process_virtual_memory_bytes, process_virtual_memory_max_bytes,
// process_resident_memory_bytes and process_start_time_seconds.
void add_process_collector(Registry& registry, ProcessCollectorOptions options = {});

}  // namespace frugal::metrics
