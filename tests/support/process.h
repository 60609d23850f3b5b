// A child process for tests that run a real binary (the controller, kubesim)
// next to in-process fixtures: started with posix_spawn, its stdout and
// stderr appended to a log file the test can quote when something goes
// wrong, and always reaped. Killing it with SIGKILL is the point of some
// tests (a crash at an arbitrary instant), so kill() is as ordinary as
// terminate().
//
// The destructor SIGKILLs and reaps a child still running, so a failed
// ASSERT never leaves a process behind. Waits are polls bounded by a
// deadline, never open-ended sleeps.
//
// Only the waits (wait_for, kill, terminate) reap. running() merely looks
// (and notes how the child ended), so a child that died stays a zombie and
// its pid stays ours until the test reaps it: a signal sent to that pid from
// another thread in the meantime cannot reach an unrelated process that
// reused it. Not thread-safe: one thread drives a ChildProcess; other
// threads may only ::kill(pid()) it while it is unreaped.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <deque>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace frugal::testing {

// How a child ended, as waitpid(2) reported it.
struct ExitStatus {
  int code = -1;   // exit code when the child exited, else -1
  int signal = 0;  // the signal that killed it, else 0

  bool ended() const { return code >= 0 || signal != 0; }
  std::string describe() const {
    if (signal != 0) return "killed by signal " + std::to_string(signal);
    if (code >= 0) return "exited with code " + std::to_string(code);
    return "had not ended";
  }
};

class ChildProcess {
 public:
  // How often a wait looks whether the child has ended: short against the
  // deadlines tests use (seconds), long enough not to spin a core.
  static constexpr std::chrono::milliseconds kPollInterval{5};
  // What terminate() gives a child to exit after SIGTERM before SIGKILL
  // (the kubelet's default grace period is 30 s; tests want less).
  static constexpr std::chrono::seconds kDefaultGrace{10};
  // How long kill() waits for the kernel to tear a SIGKILLed child down:
  // normally microseconds; longer only for a process stuck in the kernel
  // (uninterruptible I/O), which a test should report rather than hang on.
  static constexpr std::chrono::seconds kReapLimit{10};

  // Starts argv[0] (a path, not searched in PATH) with `argv`, in the test's
  // environment, stdin from /dev/null, stdout and stderr appended to
  // `log_path`. Throws std::system_error when the child cannot be started.
  ChildProcess(const std::vector<std::string>& argv, std::string log_path)
      : log_path_(std::move(log_path)) {
    if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawnattr_init(&attr);
    ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                       O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    // The test process holds sockets (an in-process API server and its
    // connections) that are not all close-on-exec; a child keeping copies
    // would keep connections of a killed child half-open.
    ::posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
    // No blocked signals and default dispositions, whatever the spawning
    // thread had, so SIGTERM reaches the child's own handling.
    sigset_t empty_mask;
    sigset_t defaults;
    sigemptyset(&empty_mask);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGPIPE);
    ::posix_spawnattr_setsigmask(&attr, &empty_mask);
    ::posix_spawnattr_setsigdefault(&attr, &defaults);
    ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, argv[0].c_str(), &actions, &attr, args.data(), environ);
    ::posix_spawnattr_destroy(&attr);
    ::posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      throw std::system_error(rc, std::generic_category(), "posix_spawn " + argv[0]);
    }
  }

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  ~ChildProcess() {
    if (pid_ > 0 && !reaped_) kill();
  }

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // Whether the child still runs. Once it has ended, its status is known
  // (exit_status()) but it is left unreaped.
  bool running() {
    if (pid_ <= 0 || status_) return false;
    siginfo_t info{};
    int r;
    do {
      r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    } while (r < 0 && errno == EINTR);
    if (r == 0 && info.si_pid == 0) return true;
    if (r == 0) {
      ExitStatus s;
      if (info.si_code == CLD_EXITED) s.code = info.si_status;
      if (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED) s.signal = info.si_status;
      status_ = s;
    } else {
      reap(WNOHANG);  // not waitable (ECHILD): reap() records that there is nothing to learn
    }
    return false;
  }

  // How it ended, once running() or a wait has seen it end.
  const std::optional<ExitStatus>& exit_status() const { return status_; }

  // Waits up to `limit` for the child to end; its status, or nullopt if it
  // still runs at the deadline.
  std::optional<ExitStatus> wait_for(std::chrono::steady_clock::duration limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!reap(WNOHANG)) {
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(kPollInterval);
    }
    return status_;
  }

  // Sends `sig` to a child not yet reaped (after reaping, the pid may be
  // someone else's; before, a zombie ignores it).
  void signal(int sig) {
    if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
  }

  // SIGKILL: the child dies at once, at whatever instruction it was on,
  // with no chance to clean up. Reaps it and returns its status (one that
  // has not ended() only if the kernel kept it past kReapLimit).
  ExitStatus kill() {
    signal(SIGKILL);
    return wait_for(kReapLimit).value_or(ExitStatus{});
  }

  // SIGTERM, then up to `grace` for the child to exit by itself, then
  // SIGKILL. Returns how it ended.
  ExitStatus terminate(std::chrono::steady_clock::duration grace = kDefaultGrace) {
    signal(SIGTERM);
    if (auto s = wait_for(grace)) return *s;
    return kill();
  }

  // The last `lines` lines of the child's log, for failure messages.
  std::string log_tail(size_t lines = 40) const {
    std::ifstream in(log_path_);
    std::deque<std::string> tail;
    for (std::string line; std::getline(in, line);) {
      tail.push_back(std::move(line));
      if (tail.size() > lines) tail.pop_front();
    }
    std::string out;
    for (const std::string& l : tail) out += l + "\n";
    return out;
  }

 private:
  // waitpid with `flags`; true once the child has been reaped (now or before).
  bool reap(int flags) {
    if (reaped_) return true;
    if (pid_ <= 0) return false;
    int raw = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &raw, flags);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return false;  // WNOHANG: still running
    reaped_ = true;
    if (r < 0) {
      // ECHILD: someone else reaped it; keep what running() saw, if anything.
      if (!status_) status_ = ExitStatus{};
      return true;
    }
    ExitStatus s;
    if (WIFEXITED(raw)) s.code = WEXITSTATUS(raw);
    if (WIFSIGNALED(raw)) s.signal = WTERMSIG(raw);
    status_ = s;
    return true;
  }

  std::string log_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::optional<ExitStatus> status_;  // known once the child has ended
};

}  // namespace frugal::testing
