// What every benchmark harness in bench/ shares: the Markdown table it prints,
// number formatting, progress lines, and the process and machine readings
// (RSS, CPU seconds, load average) that go beside the figures.
#pragma once

#include <sys/resource.h>
#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace frugal::bench {

class Table {
 public:
  void row(std::string what, std::string value, std::string note = {}) {
    rows_.push_back({std::move(what), std::move(value), std::move(note)});
  }
  void print(std::ostream& os) const {
    os << "| Measure | Value | Ratio / note |\n|---|---:|---|\n";
    for (const auto& r : rows_) os << "| " << r[0] << " | " << r[1] << " | " << r[2] << " |\n";
  }

 private:
  std::vector<std::array<std::string, 3>> rows_;
};

// printf-style formatting of one number.
inline std::string fmt(const char* f, double v) {
  std::string out(static_cast<size_t>(std::snprintf(nullptr, 0, f, v)), '\0');
  std::snprintf(out.data(), out.size() + 1, f, v);
  return out;
}

// 1234567 -> "1,234,567". Built forwards: GCC 12 reports a false -Wrestrict
// on std::string::insert here.
inline std::string count(size_t n) {
  const std::string digits = std::to_string(n);
  std::string s;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

inline std::string per_s(double v) { return count(static_cast<size_t>(v + 0.5)) + " /s"; }

inline double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Progress on stderr, so a long run can be followed; stdout is the report.
inline void progress(const std::string& what) {
  static const auto start = std::chrono::steady_clock::now();
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "[%7.1fs] ",
                seconds(std::chrono::steady_clock::now() - start));
  std::cerr << stamp << what << std::endl;
}

inline std::string read_first_line(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  return line;
}

// VmRSS from /proc/self/status, in bytes.
inline size_t rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// CPU seconds used by the whole process, threads that have exited included.
inline double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

// The 1-minute load average.
inline std::string load_average() {
  const std::string load = read_first_line("/proc/loadavg");
  return load.substr(0, load.find(' '));
}

// "2 CPUs (nproc), Linux 6.1.0".
inline std::string machine_line() {
  utsname u{};
  uname(&u);
  return std::to_string(std::thread::hardware_concurrency()) + " CPUs (nproc), Linux " + u.release;
}

}  // namespace frugal::bench
