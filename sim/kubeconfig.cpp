#include "sim/kubeconfig.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "sim/base64.h"

namespace kubesim {
namespace {

constexpr mode_t kKubeconfigMode = 0600;  // kubectl warns about group/world-readable configs

// A YAML double-quoted scalar. JSON string syntax is a subset of YAML's, so the
// JSON encoder does the escaping; invalid UTF-8 is replaced rather than thrown.
std::string quoted(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now so that the caller sees close(2)'s error (a failed flush on NFS).
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

// Unlinks the temporary file unless it has been renamed into place.
class TempFileGuard {
 public:
  explicit TempFileGuard(std::string path) : path_(std::move(path)) {}
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  ~TempFileGuard() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  void release() { path_.clear(); }

 private:
  std::string path_;
};

ApiError io_error(const std::string& step, const std::filesystem::path& path, int err) {
  return internal_error("writing kubeconfig: " + step + " " + path.string() + ": " +
                        std::strerror(err));
}

}  // namespace

std::string make_kubeconfig(const KubeconfigParams& p) {
  std::string out;
  out += "apiVersion: v1\n";
  out += "kind: Config\n";
  out += "clusters:\n";
  out += "- name: " + quoted(p.cluster_name) + "\n";
  out += "  cluster:\n";
  out += "    server: " + quoted(p.server) + "\n";
  if (p.ca_pem && !p.ca_pem->empty()) {
    out += "    certificate-authority-data: " + quoted(base64_encode(*p.ca_pem)) + "\n";
  } else if (p.insecure_skip_tls_verify) {
    out += "    insecure-skip-tls-verify: true\n";
  }
  out += "users:\n";
  out += "- name: " + quoted(p.user_name) + "\n";
  if (p.token && !p.token->empty()) {
    out += "  user:\n";
    out += "    token: " + quoted(*p.token) + "\n";
  } else {
    out += "  user: {}\n";
  }
  out += "contexts:\n";
  out += "- name: " + quoted(p.context_name) + "\n";
  out += "  context:\n";
  out += "    cluster: " + quoted(p.cluster_name) + "\n";
  out += "    user: " + quoted(p.user_name) + "\n";
  out += "    namespace: " + quoted(p.namespace_name) + "\n";
  out += "current-context: " + quoted(p.context_name) + "\n";
  out += "preferences: {}\n";
  return out;
}

Result<void> write_kubeconfig_file(const std::filesystem::path& path, std::string_view content) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  // mkstemp creates the file 0600 and unique in the target directory, so the
  // rename below stays within one filesystem and is atomic.
  std::string tmp_name = ".";
  tmp_name += path.filename().string();
  tmp_name += ".tmp-XXXXXX";  // appended piecewise: GCC 12 -O3 misreports -Wrestrict on a + chain
  std::string tmp = (dir / tmp_name).string();
  UniqueFd fd(::mkstemp(tmp.data()));
  if (fd.get() < 0) return Unexpected(io_error("creating temporary file in", dir, errno));
  TempFileGuard guard(tmp);

  if (::fchmod(fd.get(), kKubeconfigMode) != 0) {
    return Unexpected(io_error("setting mode of", tmp, errno));
  }
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unexpected(io_error("writing", tmp, errno));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return Unexpected(io_error("syncing", tmp, errno));
  if (fd.close() != 0) return Unexpected(io_error("closing", tmp, errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Unexpected(io_error("renaming " + tmp + " to", path, errno));
  }
  guard.release();
  return {};
}

}  // namespace kubesim
