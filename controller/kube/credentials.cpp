// Token files, basic auth and client.authentication.k8s.io exec plugins; see
// credentials.h for the precedence and the client-go code it follows.
#include "controller/kube/credentials.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "controller/kube/config.h"

extern char** environ;  // NOLINT: POSIX, the environment the plugin inherits

namespace frugal::kube {
namespace {

using json = nlohmann::json;
using TimePoint = std::chrono::system_clock::time_point;

constexpr const char* kExecInfoEnvVar = "KUBERNETES_EXEC_INFO";
constexpr const char* kExecCredentialKind = "ExecCredential";
// client-go exec.go: printed when the plugin binary is not installed.
constexpr const char* kPluginNotInstalled =
    "it looks like you are trying to use a client-go credential plugin that is not installed";

Error credential_error(std::string message) {
  Error e;
  e.reason = std::string(kCredentialErrorReason);
  e.message = std::move(message);
  return e;
}

std::string trim(std::string_view s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return "";
  auto e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

std::string base64_encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Reads a token file; "" with `error` set when it cannot be used.
std::string read_token_file(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot read token file " + path + ": " + std::strerror(errno);
    return "";
  }
  std::string data;
  std::array<char, 4096> buf{};
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      data.append(buf.data(), static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      error = "cannot read token file " + path + ": " + std::strerror(errno);
      ::close(fd);
      return "";
    }
  }
  ::close(fd);
  std::string token = trim(data);
  if (token.empty()) error = "token file " + path + " is empty";  // client-go: "read empty token"
  return token;
}

// --- RFC 3339 timestamps, as Go's time.Time unmarshals them.

bool parse_digits(std::string_view s, size_t pos, size_t count, int& value) {
  if (pos + count > s.size()) return false;
  value = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    value = value * 10 + (s[i] - '0');
  }
  return true;
}

std::optional<TimePoint> parse_rfc3339(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!parse_digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !parse_digits(s, 5, 2, mo) ||
      s[7] != '-' || !parse_digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') ||
      !parse_digits(s, 11, 2, h) || s[13] != ':' || !parse_digits(s, 14, 2, mi) || s[16] != ':' ||
      !parse_digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int64_t scale = 100'000'000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac += std::chrono::nanoseconds((s[pos] - '0') * scale);
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  std::chrono::minutes offset{0};
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!parse_digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !parse_digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = std::chrono::hours(oh) + std::chrono::minutes(om);
    if (s[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(y),
                                  std::chrono::month(static_cast<unsigned>(mo)),
                                  std::chrono::day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) return std::nullopt;
  // system_clock counts nanoseconds in 64 bits, which ends in 2262: a later
  // time (plugins do print far-future expiries) saturates instead of wrapping
  // into the past, which would make every credential look expired.
  const auto whole = std::chrono::sys_days(ymd) + std::chrono::hours(h) +
                     std::chrono::minutes(mi) + std::chrono::seconds(sec) - offset;
  constexpr auto kLimit =
      std::chrono::duration_cast<std::chrono::seconds>(TimePoint::duration::max()) -
      std::chrono::hours(24);
  if (whole.time_since_epoch() > kLimit) return TimePoint::max();
  auto tp = whole + frac;
  return std::chrono::time_point_cast<TimePoint::duration>(tp);
}

// --- Running the plugin.

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

// Close-on-exec, so plugins spawned concurrently by other threads do not
// inherit (and hold open) each other's pipes.
bool make_pipe(Pipe& p) {
  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) return false;
  p.read.reset(fds[0]);
  p.write.reset(fds[1]);
  return true;
}

class SpawnActions {
 public:
  SpawnActions() { ::posix_spawn_file_actions_init(&actions_); }
  ~SpawnActions() { ::posix_spawn_file_actions_destroy(&actions_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_{};
};

class SpawnAttr {
 public:
  SpawnAttr() { ::posix_spawnattr_init(&attr_); }
  ~SpawnAttr() { ::posix_spawnattr_destroy(&attr_); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
  posix_spawnattr_t* get() { return &attr_; }

 private:
  posix_spawnattr_t attr_{};
};

// How often we check whether a plugin that closed its output has exited.
constexpr std::chrono::milliseconds kReapPollInterval{5};

// Kills and reaps the child unless it has been waited for, so no early return
// leaves a zombie or a running plugin behind.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  void kill() { ::kill(pid_, SIGKILL); }
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }
  // Waits for exit until `deadline`; nullopt if the child is still running then.
  std::optional<int> wait_until(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) {
        pid_ = -1;
        return status;
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(kReapPollInterval);
    }
  }

 private:
  pid_t pid_;
};

struct ProcessResult {
  int spawn_errno = 0;  // non-zero: the process never started
  int wait_status = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
};

void append_bounded(std::string& to, const char* data, size_t n, size_t limit) {
  if (to.size() < limit) to.append(data, std::min(n, limit - to.size()));
}

ProcessResult run_process(const std::string& command, const std::vector<std::string>& args,
                          const std::vector<std::string>& environment,
                          std::chrono::milliseconds timeout) {
  ProcessResult result;
  Pipe out, err;
  if (!make_pipe(out) || !make_pipe(err)) {
    result.spawn_errno = errno;
    return result;
  }
  SpawnActions actions;
  ::posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(actions.get(), out.write.get(), STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(actions.get(), err.write.get(), STDERR_FILENO);
  // The plugin starts with no blocked signals and default dispositions, whatever
  // the calling thread had (a controller often blocks SIGTERM to sigwait on it).
  SpawnAttr attr;
  sigset_t empty_mask, defaults;
  sigemptyset(&empty_mask);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&defaults, sig);
  ::posix_spawnattr_setsigmask(attr.get(), &empty_mask);
  ::posix_spawnattr_setsigdefault(attr.get(), &defaults);
  ::posix_spawnattr_setflags(attr.get(), POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  argv.reserve(args.size() + 2);
  argv.push_back(const_cast<char*>(command.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(environment.size() + 1);
  for (const auto& e : environment) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = 0;
  // Like Go's exec.Command: a name without a slash is looked up in $PATH.
  int rc = command.find('/') == std::string::npos
               ? ::posix_spawnp(&pid, command.c_str(), actions.get(), attr.get(), argv.data(),
                                envp.data())
               : ::posix_spawn(&pid, command.c_str(), actions.get(), attr.get(), argv.data(),
                               envp.data());
  if (rc != 0) {
    result.spawn_errno = rc;
    return result;
  }
  Child child(pid);
  out.write.reset();
  err.write.reset();

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::array<pollfd, 2> fds{{{out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}}};
  std::array<std::string*, 2> sinks{&result.out, &result.err};
  std::array<size_t, 2> limits{kExecPluginMaxStdout, kExecPluginMaxStderr};
  int open = 2;
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) {
      child.kill();  // we can no longer drain its pipes; do not wait on a blocked writer
      break;
    }
    if (n <= 0) continue;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      std::array<char, 4096> buf{};
      ssize_t r = ::read(fds[i].fd, buf.data(), buf.size());
      if (r > 0) {
        // Keep draining past the limit so the plugin never blocks on a full pipe.
        append_bounded(*sinks[i], buf.data(), static_cast<size_t>(r), limits[i]);
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1;
        --open;
      }
    }
  }
  // A plugin that closed its output but keeps running gets the rest of the deadline.
  std::optional<int> status;
  if (!result.timed_out) status = child.wait_until(deadline);
  if (!status) {
    result.timed_out = true;
    child.kill();
    status = child.wait();
  }
  result.wait_status = *status;
  return result;
}

// The plugin's environment: ours, then the kubeconfig's env, then the exec
// info (later entries replace earlier ones with the same name, as in Go).
std::vector<std::string> plugin_environment(const ExecConfig& exec, const std::string& exec_info) {
  std::vector<std::string> out;
  std::map<std::string, size_t> index;
  auto set = [&](const std::string& name, const std::string& value) {
    std::string entry = name + "=" + value;
    if (auto it = index.find(name); it != index.end()) {
      out[it->second] = std::move(entry);
    } else {
      index.emplace(name, out.size());
      out.push_back(std::move(entry));
    }
  };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    set(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  for (const auto& [name, value] : exec.env) set(name, value);
  set(kExecInfoEnvVar, exec_info);
  return out;
}

// KUBERNETES_EXEC_INFO: an ExecCredential with spec.interactive=false (we
// never give the plugin a terminal) and, if asked, the cluster it is for.
std::string exec_info_json(const RestConfig& config) {
  const ExecConfig& exec = *config.exec;
  json spec = {{"interactive", false}};
  if (exec.provide_cluster_info) {
    json cluster = {{"server", config.server}};
    if (!config.tls_server_name.empty()) cluster["tls-server-name"] = config.tls_server_name;
    if (config.insecure_skip_tls_verify) cluster["insecure-skip-tls-verify"] = true;
    if (!config.ca_pem.empty())
      cluster["certificate-authority-data"] = base64_encode(config.ca_pem);
    spec["cluster"] = std::move(cluster);
  }
  json info = {{"apiVersion", exec.api_version}, {"kind", kExecCredentialKind}, {"spec", spec}};
  return info.dump(-1, ' ', false, json::error_handler_t::replace);  // never throws on bad UTF-8
}

// The error for a failed run: what happened, the plugin's stderr, the install hint.
Error plugin_error(const ExecConfig& exec, const std::string& what,
                   const std::string& stderr_text) {
  std::string message = "exec plugin \"" + exec.command + "\": " + what;
  std::string err = trim(stderr_text);
  if (!err.empty()) message += "; stderr: " + err;
  if (!exec.install_hint.empty()) message += "; install hint: " + trim(exec.install_hint);
  return credential_error(std::move(message));
}

// A string member of a JSON object; false if present with another type.
bool string_member(const json& obj, const char* key, std::string& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

}  // namespace

CredentialProvider::CredentialProvider(RestConfig config, CredentialOptions options)
    : config_(std::move(config)),
      options_(options),
      use_exec_(config_.exec.has_value() && config_.bearer_token.empty() &&
                config_.bearer_token_file.empty() && config_.username.empty() &&
                config_.password.empty() && config_.client_cert_pem.empty()) {}

Result<std::string> CredentialProvider::authorization_header() {
  std::lock_guard lock(mu_);
  if (!config_.bearer_token_file.empty()) return token_file_header_locked();
  if (!config_.bearer_token.empty()) return "Bearer " + config_.bearer_token;
  if (!config_.username.empty() || !config_.password.empty()) {
    return "Basic " + base64_encode(config_.username + ":" + config_.password);
  }
  if (use_exec_) {
    auto ok = refresh_exec_locked();
    if (!ok) return Unexpected(ok.error());
    return exec_creds_->token.empty() ? std::string() : "Bearer " + exec_creds_->token;
  }
  return std::string();
}

Result<ClientCertificate> CredentialProvider::current_client_cert() {
  std::lock_guard lock(mu_);
  if (!use_exec_) return ClientCertificate{config_.client_cert_pem, config_.client_key_pem};
  auto ok = refresh_exec_locked();
  if (!ok) return Unexpected(ok.error());
  return exec_creds_->cert;
}

void CredentialProvider::invalidate(std::string_view rejected_authorization) {
  std::lock_guard lock(mu_);
  if (!rejected_authorization.empty() && rejected_authorization != current_header_locked()) return;
  // client-go's tokenSourceTransport resets the cached file token after a 401
  // (ResetTokenOlderThan); the old token stays as a fallback if the re-read fails.
  file_token_expiry_ = {};
  exec_creds_.reset();
}

std::string CredentialProvider::current_header_locked() const {
  if (!config_.bearer_token_file.empty()) {
    const std::string& token = file_token_.empty() ? config_.bearer_token : file_token_;
    return "Bearer " + token;
  }
  if (use_exec_ && exec_creds_ && !exec_creds_->token.empty())
    return "Bearer " + exec_creds_->token;
  return "";
}

// client-go cachingTokenSource over fileTokenSource: serve the cached token
// until it is kTokenFileRereadPeriod - kTokenFileLeeway old, then re-read; if
// the re-read fails keep the last good token ("Unable to rotate token").
Result<std::string> CredentialProvider::token_file_header_locked() {
  const Clock::SteadyTime now = options_.clock->now();
  if (!file_token_.empty() && file_token_expiry_ - kTokenFileLeeway > now) {
    return "Bearer " + file_token_;
  }
  std::string error;
  std::string token = read_token_file(config_.bearer_token_file, error);
  if (error.empty()) {
    file_token_ = std::move(token);
    file_token_expiry_ = now + kTokenFileRereadPeriod;
    return "Bearer " + file_token_;
  }
  if (!file_token_.empty()) return "Bearer " + file_token_;
  // Nothing read yet: client-go falls back to the token it was given at load.
  if (!config_.bearer_token.empty()) return "Bearer " + config_.bearer_token;
  return Unexpected(credential_error(error));
}

// client-go exec.go getCreds: reuse the cached credential until
// expirationTimestamp has passed (none: until invalidated), else run the plugin.
Result<void> CredentialProvider::refresh_exec_locked() {
  if (exec_creds_ && (!exec_creds_->expiry || !(options_.clock->wall_now() > *exec_creds_->expiry)))
    return {};
  exec_creds_.reset();

  const ExecConfig& exec = *config_.exec;
  ProcessResult run =
      run_process(exec.command, exec.args, plugin_environment(exec, exec_info_json(config_)),
                  options_.exec_timeout);
  if (run.spawn_errno == ENOENT) {
    return Unexpected(
        plugin_error(exec, std::string("executable not found; ") + kPluginNotInstalled, ""));
  }
  if (run.spawn_errno != 0) {
    return Unexpected(
        plugin_error(exec, std::string("cannot start: ") + std::strerror(run.spawn_errno), ""));
  }
  if (run.timed_out) {
    return Unexpected(plugin_error(exec,
                                   "did not finish within " +
                                       std::to_string(options_.exec_timeout.count()) +
                                       "ms and was killed",
                                   run.err));
  }
  if (WIFSIGNALED(run.wait_status)) {
    return Unexpected(plugin_error(
        exec, "killed by signal " + std::to_string(WTERMSIG(run.wait_status)), run.err));
  }
  if (WEXITSTATUS(run.wait_status) != 0) {
    return Unexpected(plugin_error(
        exec, "failed with exit code " + std::to_string(WEXITSTATUS(run.wait_status)), run.err));
  }

  json doc = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Unexpected(plugin_error(exec, "stdout is not an ExecCredential JSON object", run.err));
  }
  std::string api_version, kind;
  if (!string_member(doc, "apiVersion", api_version) || !string_member(doc, "kind", kind)) {
    return Unexpected(plugin_error(exec, "apiVersion and kind must be strings", run.err));
  }
  if (api_version != exec.api_version) {
    return Unexpected(plugin_error(exec,
                                   "returned apiVersion \"" + api_version +
                                       "\" but the kubeconfig asks for \"" + exec.api_version +
                                       "\"",
                                   run.err));
  }
  if (kind != kExecCredentialKind) {
    return Unexpected(
        plugin_error(exec, "returned kind \"" + kind + "\", want ExecCredential", run.err));
  }
  auto status_it = doc.find("status");
  if (status_it == doc.end() || !status_it->is_object()) {
    return Unexpected(plugin_error(exec, "did not return a status field", run.err));
  }
  const json& status = *status_it;
  ExecCredentials creds;
  std::string expiration;
  if (!string_member(status, "token", creds.token) ||
      !string_member(status, "clientCertificateData", creds.cert.cert_pem) ||
      !string_member(status, "clientKeyData", creds.cert.key_pem) ||
      !string_member(status, "expirationTimestamp", expiration)) {
    return Unexpected(plugin_error(exec,
                                   "status.token, clientCertificateData, clientKeyData and "
                                   "expirationTimestamp must be strings",
                                   run.err));
  }
  if (creds.cert.cert_pem.empty() != creds.cert.key_pem.empty()) {
    return Unexpected(plugin_error(
        exec, "returned only one of status.clientCertificateData and status.clientKeyData",
        run.err));
  }
  if (creds.token.empty() && creds.cert.empty()) {
    return Unexpected(plugin_error(
        exec, "returned neither status.token nor status.clientCertificateData/clientKeyData",
        run.err));
  }
  if (!creds.cert.empty()) {
    std::string problem = check_client_key_pair(creds.cert.cert_pem, creds.cert.key_pem);
    if (!problem.empty()) {
      return Unexpected(
          plugin_error(exec, "status.clientCertificateData/clientKeyData: " + problem, run.err));
    }
  }
  if (!expiration.empty()) {
    creds.expiry = parse_rfc3339(expiration);
    if (!creds.expiry) {
      return Unexpected(plugin_error(
          exec, "status.expirationTimestamp: \"" + expiration + "\" is not an RFC 3339 time",
          run.err));
    }
  }
  exec_creds_ = std::move(creds);
  return {};
}

}  // namespace frugal::kube
