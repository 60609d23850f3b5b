// Scratch directories for tests: a fresh directory under TMPDIR, removed with
// everything in it when the TempDir goes out of scope.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace frugal::testing {

// The whole content of a file, or "" when it cannot be read.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TempDir {
 public:
  // Makes <temp_directory_path>/<prefix>-XXXXXX.
  explicit TempDir(std::string_view prefix) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  const std::filesystem::path& path() const { return path_; }

  // The path of `relative` below the directory, as a string.
  std::string file(const std::filesystem::path& relative) const {
    return (path_ / relative).string();
  }

  // Writes `content` to a file below the directory (creating parents) and returns its path.
  std::string write(const std::filesystem::path& relative, std::string_view content) const {
    std::filesystem::path p = path_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }

  // Like write(), then sets the file's permission bits to `mode` (0755 for a script).
  std::string write_mode(const std::filesystem::path& relative, std::string_view content,
                         mode_t mode) const {
    std::string p = write(relative, content);
    if (::chmod(p.c_str(), mode) != 0) {
      throw std::runtime_error("chmod " + p + " failed");
    }
    return p;
  }

  // The content of the file `relative` below the directory, or "" when unreadable.
  std::string read(const std::filesystem::path& relative) const {
    return read_file(path_ / relative);
  }

 private:
  std::filesystem::path path_;
};

}  // namespace frugal::testing
