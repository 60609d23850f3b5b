// An informer: list-then-watch one resource into a CacheStore and tell event
// handlers what changed, as client-go's Reflector + sharedIndexInformer
// (tools/cache/reflector.go, shared_informer.go) and kube-rs's
// watcher/reflector split.
//
// The loop, on one thread:
//   1. LIST in pages of `page_size` (resourceVersion "", a consistent read
//      that honours limit/continue; client-go's first list uses "0", which
//      the API server answers from its watch cache in one piece, ignoring
//      the limit). A continue token that expired (410) restarts the list
//      from scratch; if that happens again in the same list, the next
//      attempt is one unpaginated LIST (client-go's pager FullListIfExpired),
//      which cannot expire. Other list failures back off and retry.
//   2. Swap the result into the store and deliver the difference from the
//      previous contents, so an object deleted while the watch was down
//      arrives as on_delete with its last known state. has_synced() turns
//      true after the first one.
//   3. WATCH from the last resourceVersion with bookmarks and a server-side
//      timeout in [5 min, 10 min). Each event updates the store, then the
//      handlers. Restarts, reported to the observer by reason:
//        "expired"  410, in-stream ERROR or HTTP status: relist at once
//                   (after a backoff if the watch right after a list
//                   expired with no events, so a server that keeps
//                   answering 410 is not hammered);
//        "error"    other ERROR event or HTTP error: back off, re-watch;
//        "dropped"  transport failure: back off, re-watch from last rv;
//        "closed"   the server ended the stream: re-watch at once (back off
//                   first if it lasted under a second with no events, as
//                   client-go's "very short watch" check).
//      Backoff is client-go's reflector backoff (Backoff: 0.8 s doubling to
//      30 s, jittered, reset after 2 min without failures).
//
// Handlers run on the informer thread, in registration order, one call at a
// time, always after the store reflects the change they describe; they must
// not block for long and must not call add_handler.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "controller/kube/cache_store.h"
#include "controller/kube/error.h"
#include "controller/kube/lister_watcher.h"
#include "controller/kube/rate_limiter.h"

namespace frugal::kube {

// client-go tools/pager/pager.go: defaultPageSize = 500.
inline constexpr std::int64_t kDefaultListPageSize = 500;
// client-go tools/cache/reflector.go: minWatchTimeout = 5 * time.Minute; each
// watch asks for minWatchTimeout * (1 + rand[0,1)) "so that watchers don't
// all reconnect at the same time".
inline constexpr std::chrono::seconds kMinWatchTimeout = std::chrono::minutes(5);
// client-go reflector.go: a watch that "lasted less than a second and no
// items received" is treated as an error, not a normal close.
inline constexpr std::chrono::seconds kVeryShortWatch = std::chrono::seconds(1);

// Reasons passed to InformerObserver::on_watch_restart (metric label values).
inline constexpr char kRestartExpired[] = "expired";
inline constexpr char kRestartError[] = "error";
inline constexpr char kRestartClosed[] = "closed";
inline constexpr char kRestartDropped[] = "dropped";

// For metrics and logs (frugal_watch_restarts_total{resource,reason}). Called
// on the informer thread; implementations must be cheap and thread-safe.
class InformerObserver {
 public:
  virtual ~InformerObserver() = default;
  virtual void on_watch_restart(const std::string& /*resource*/, const std::string& /*reason*/) {}
  // A list or watch failed (verb "list" or "watch"), or a handler threw
  // (verb "handler"); the informer carries on.
  virtual void on_error(const std::string& /*resource*/, const std::string& /*verb*/,
                        const Error& /*error*/) {}
  // The informer is about to wait `delay` before retrying.
  virtual void on_backoff(const std::string& /*resource*/, std::chrono::nanoseconds /*delay*/) {}
  // A full list replaced the store.
  virtual void on_list(const std::string& /*resource*/, std::size_t /*objects*/, int /*pages*/) {}
};

struct InformerOptions {
  std::string name;              // resource name for logs and metric labels, e.g. "pods"
  const Clock* clock = nullptr;  // null: real_clock()
  std::int64_t page_size = kDefaultListPageSize;  // 0: unpaginated lists
  // Runs on every object before it is stored; null keeps objects whole.
  Transform transform = strip_unused_fields;
  BackoffOptions backoff;                       // client-go reflector defaults
  std::chrono::seconds min_watch_timeout = kMinWatchTimeout;
  Backoff::RandomSource random;                 // [0,1) for jitter; null: seeded PRNG
  InformerObserver* observer = nullptr;         // not owned; may be null
};

struct EventHandler {
  std::function<void(const ObjectPtr& obj)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  // `obj` is the last state known: the DELETED event's object, or the cached
  // one when a relist finds the object gone.
  std::function<void(const ObjectPtr& obj)> on_delete;
};

class Informer {
 public:
  // `lw` must outlive the informer.
  explicit Informer(ListerWatcher& lw, InformerOptions options = {});
  // stop(): the thread started by start() is joined.
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Adds an index to the store (see CacheStore::add_index).
  void add_index(const std::string& name, IndexFunc fn);
  // Handlers added before start() see every object as on_add. A handler
  // added later first gets on_add for each object already cached (as
  // client-go), called from add_handler's thread but still serialised with
  // every other handler call.
  void add_handler(EventHandler handler);

  // Runs the loop on the calling thread until `token` or stop() asks it to
  // end. One-shot: an informer runs once.
  void run(std::stop_token token = {});
  // run() on a thread owned by the informer.
  void start();
  // Ends run() (interrupting a backoff wait or a watch) and joins the
  // thread started by start(). Idempotent.
  void stop();

  bool has_synced() const { return synced_.load(); }
  // Waits (on the informer's clock) until synced, stopped or `deadline`;
  // returns has_synced().
  bool wait_for_sync(Clock::SteadyTime deadline);

  const CacheStore& store() const { return store_; }
  const std::string& name() const { return options_.name; }

 private:
  enum class WatchEnd { Stopped, Closed, ClosedEarly, Expired, ExpiredAtOnce, Error, Dropped };

  struct ListResult {
    std::vector<PackedPtr> items;  // packed as each page arrives: see CacheStore
    std::string resource_version;
    int pages = 0;
  };

  bool stopping() const { return stop_.load(); }
  void request_stop();
  // Sleeps for the next backoff step unless stopped first.
  void back_off();
  Result<ListResult> list_all();
  // Whole list into the store, difference to the handlers.
  void sync(ListResult&& listed);
  // One watch from the store's resourceVersion; `just_listed`: the first
  // since a list.
  WatchEnd watch_once(bool just_listed);
  void handle_object_event(ChangeType type, json&& obj);
  // Runs the transform.
  void prepare(json& obj) const;
  // Calls the handlers for one change; dispatch_mu_ must be held.
  void dispatch(const StoreChange& change);
  void report_error(const char* verb, const Error& error) const;
  void report_restart(const char* reason) const;

  ListerWatcher& lw_;
  InformerOptions options_;
  const Clock& clock_;
  Backoff::RandomSource random_;
  Backoff backoff_;  // informer thread only
  CacheStore store_;

  // Held across a store write and the handler calls for it, so handlers are
  // serialised and add_handler's replay sees a state no event is pending on.
  std::mutex dispatch_mu_;
  std::vector<EventHandler> handlers_;

  std::mutex mu_;  // guards the waits below (stop and sync)
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> synced_{false};
  std::atomic<bool> ran_{false};

  std::mutex thread_mu_;
  std::jthread thread_;
};

}  // namespace frugal::kube
