// The contract between kubesim's API logic and its HTTP transport: a parsed
// request in, a complete response or a watch stream out. The API logic never
// sees sockets; the transport never sees Kubernetes semantics.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kubesim {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // percent-decoded, without the query string
  std::map<std::string, std::string> query;  // percent-decoded; last value wins
  std::string accept;
  std::string content_type;
  std::string authorization;  // the Authorization header, verbatim
  std::string user_agent;
  std::string body;

  std::string param(const std::string& key, const std::string& fallback = {}) const {
    auto it = query.find(key);
    return it == query.end() ? fallback : it->second;
  }
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Retry-After
};

// A watch in progress. The API side produces newline-terminated JSON event
// frames; the transport sends each as one HTTP chunk. Producers may run on
// any thread; `on_ready` (set by the transport) is called whenever frames are
// queued or the stream ends, and must only schedule work, never block.
class WatchStream {
 public:
  virtual ~WatchStream() = default;

  // Set once by the transport before it starts pulling.
  void set_on_ready(std::function<void()> cb) {
    std::lock_guard lock(mu_);
    on_ready_ = std::move(cb);
    if (!frames_.empty() || ended_) notify_locked();
  }

  // Takes every queued frame. `ended` becomes true once the stream is over
  // and nothing more will come; the transport then finishes the response.
  std::vector<std::string> take(bool& ended) {
    produce();
    std::lock_guard lock(mu_);
    std::vector<std::string> out(std::make_move_iterator(frames_.begin()),
                                 std::make_move_iterator(frames_.end()));
    frames_.clear();
    ended = ended_;
    return out;
  }

  // The client went away or the server is stopping: stop producing.
  virtual void cancel() { end(); }

  // True when the stream was cut on purpose (fault injection): the transport
  // then closes the connection without the terminating chunk, as a network
  // failure would.
  bool aborted() const {
    std::lock_guard lock(mu_);
    return aborted_;
  }

  // When the server must end the stream on its own (timeoutSeconds).
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }
  // How often the transport should call tick() (bookmarks, fault-injected drops).
  std::chrono::milliseconds tick_interval() const { return tick_interval_; }
  virtual void tick(std::chrono::steady_clock::time_point /*now*/) {}

  std::string content_type = "application/json";

 protected:
  void push(std::string frame) {
    std::lock_guard lock(mu_);
    if (ended_) return;
    frames_.push_back(std::move(frame));
    notify_locked();
  }
  void end() {
    std::lock_guard lock(mu_);
    if (ended_) return;
    ended_ = true;
    notify_locked();
  }
  void abort() {
    std::lock_guard lock(mu_);
    if (ended_) return;
    ended_ = aborted_ = true;
    notify_locked();
  }
  // Asks the transport to call take() soon, with nothing queued yet.
  void wake() {
    std::lock_guard lock(mu_);
    notify_locked();
  }
  // Called at the start of take(), on the transport's thread: the place to
  // turn queued raw events into frames without holding anyone else's lock.
  virtual void produce() {}
  size_t queued() const {
    std::lock_guard lock(mu_);
    return frames_.size();
  }

  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  std::chrono::milliseconds tick_interval_{1000};

 private:
  void notify_locked() {
    if (on_ready_) on_ready_();
  }

  mutable std::mutex mu_;
  std::deque<std::string> frames_;
  bool ended_ = false;
  bool aborted_ = false;
  std::function<void()> on_ready_;
};

using Reply = std::variant<Response, std::shared_ptr<WatchStream>>;

// What the transport calls for every request. Must be thread-safe.
using Handler = std::function<Reply(const Request&)>;

}  // namespace kubesim
