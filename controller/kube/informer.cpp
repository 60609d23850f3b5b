// Informer: the list-then-watch loop (reflector) writing a CacheStore and
// delivering changes to handlers. See informer.h for the state machine.
#include "controller/kube/informer.h"

#include <exception>
#include <memory>
#include <random>
#include <utility>

namespace frugal::kube {
namespace {

constexpr char kListSuffix[] = "List";

Backoff::RandomSource seeded_random() {
  auto gen = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [gen] { return std::uniform_real_distribution<double>(0.0, 1.0)(*gen); };
}

// The Status object of an in-stream ERROR event as an Error.
Error status_error(const json& status) {
  Error e;
  if (!status.is_object()) {
    e.reason = "InternalError";
    e.message = "watch ERROR event without a Status object";
    return e;
  }
  if (auto code = status.find("code"); code != status.end() && code->is_number_integer()) {
    e.http_status = code->get<int>();
  }
  if (auto reason = status.find("reason"); reason != status.end() && reason->is_string()) {
    e.reason = reason->get<std::string>();
  }
  if (auto message = status.find("message"); message != status.end() && message->is_string()) {
    e.message = message->get<std::string>();
  }
  return e;
}

std::string string_at(const json& obj, const char* field) {
  if (!obj.is_object()) return {};
  auto it = obj.find(field);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Error invalid_list(std::string message) {
  Error e;
  e.reason = "InvalidList";
  e.message = std::move(message);
  return e;
}

}  // namespace

Informer::Informer(ListerWatcher& lw, InformerOptions options)
    : lw_(lw),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : real_clock()),
      random_(options_.random ? options_.random : seeded_random()),
      backoff_(clock_, options_.backoff, random_) {}

Informer::~Informer() { stop(); }

void Informer::add_index(const std::string& name, IndexFunc fn) {
  store_.add_index(name, std::move(fn));
}

void Informer::add_handler(EventHandler handler) {
  std::lock_guard<std::mutex> dispatching(dispatch_mu_);
  handlers_.push_back(std::move(handler));
  // Objects already cached are new to this handler.
  const EventHandler& added = handlers_.back();
  if (!added.on_add) return;
  for (const ObjectPtr& obj : store_.list()) {
    try {
      added.on_add(obj);
    } catch (const std::exception& e) {
      report_error("handler", Error{.reason = "HandlerException", .message = e.what()});
    }
  }
}

void Informer::start() {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (thread_.joinable() || ran_.load()) return;
  thread_ = std::jthread([this](std::stop_token token) { run(std::move(token)); });
}

void Informer::stop() {
  request_stop();
  std::jthread thread;
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    // A handler calling stop() runs on the informer thread and cannot join it.
    if (thread_.get_id() == std::this_thread::get_id()) return;
    thread = std::move(thread_);
  }
  // Joined outside thread_mu_, so a handler calling stop() meanwhile cannot deadlock.
  if (thread.joinable()) thread.join();
}

void Informer::request_stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
}

bool Informer::wait_for_sync(Clock::SteadyTime deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  clock_.wait_until(lock, cv_, deadline, [this] { return synced_.load() || stop_.load(); });
  return synced_.load();
}

void Informer::run(std::stop_token token) {
  if (ran_.exchange(true)) return;
  std::stop_callback on_token(token, [this] { request_stop(); });
  bool need_list = true;
  bool just_listed = false;
  while (!stopping()) {
    if (need_list) {
      Result<ListResult> listed = list_all();
      if (stopping()) break;
      if (!listed) {
        report_error("list", listed.error());
        back_off();
        continue;
      }
      sync(std::move(*listed));
      need_list = false;
      just_listed = true;
      if (stopping()) break;  // a handler may have stopped the informer
    }
    const WatchEnd end = watch_once(just_listed);
    just_listed = false;
    switch (end) {
      case WatchEnd::Stopped:
        break;
      case WatchEnd::Closed:
        report_restart(kRestartClosed);
        break;
      case WatchEnd::ClosedEarly:
        report_restart(kRestartClosed);
        back_off();
        break;
      case WatchEnd::Expired:
        report_restart(kRestartExpired);
        need_list = true;
        break;
      case WatchEnd::ExpiredAtOnce:
        report_restart(kRestartExpired);
        need_list = true;
        back_off();
        break;
      case WatchEnd::Error:
        report_restart(kRestartError);
        back_off();
        break;
      case WatchEnd::Dropped:
        report_restart(kRestartDropped);
        back_off();
        break;
    }
  }
}

void Informer::back_off() {
  const std::chrono::nanoseconds delay = backoff_.next();
  if (options_.observer != nullptr) options_.observer->on_backoff(options_.name, delay);
  std::unique_lock<std::mutex> lock(mu_);
  clock_.wait_until(lock, cv_, clock_.deadline_after(delay), [this] { return stop_.load(); });
}

Result<Informer::ListResult> Informer::list_all() {
  const std::int64_t page_size = options_.page_size > 0 ? options_.page_size : 0;
  ListResult out;
  int expired_restarts = 0;
  ListOptions opts;
  opts.limit = page_size;
  while (!stopping()) {
    Result<json> page = lw_.list(opts);
    if (!page) {
      if (!page.error().is_expired() || opts.continue_token.empty()) {
        return Unexpected(std::move(page).error());
      }
      // The continue token outlived the server's history: what was listed so
      // far belongs to a snapshot we can no longer finish. Start again; the
      // second time, in one unpaginated request, which cannot expire.
      report_error("list", page.error());
      ++expired_restarts;
      out = ListResult{};
      opts = ListOptions{};
      opts.limit = expired_restarts > 1 ? 0 : page_size;
      continue;
    }
    json& list = *page;
    ++out.pages;
    // Items of a list carry no kind/apiVersion for built-in types; watch
    // events do. Fill them in so cached objects look the same either way.
    std::string item_kind = string_at(list, "kind");
    if (item_kind.size() > sizeof(kListSuffix) - 1 && item_kind.ends_with(kListSuffix)) {
      item_kind.resize(item_kind.size() - (sizeof(kListSuffix) - 1));
    } else {
      item_kind.clear();
    }
    const std::string api_version = string_at(list, "apiVersion");
    if (auto items = list.find("items"); items != list.end() && items->is_array()) {
      out.items.reserve(out.items.size() + items->size());
      for (json& item : *items) {
        if (!item.is_object()) continue;
        if (!item_kind.empty() && !item.contains("kind")) item["kind"] = item_kind;
        if (!api_version.empty() && !item.contains("apiVersion")) item["apiVersion"] = api_version;
        prepare(item);
        if (PackedPtr packed = pack_object(item)) out.items.push_back(std::move(packed));
        item = json();  // the page's tree goes as its objects are packed
      }
    }
    auto meta = list.find("metadata");
    const json no_meta = json::object();
    const json& metadata = meta != list.end() && meta->is_object() ? *meta : no_meta;
    std::string next = string_at(metadata, "continue");
    if (next.empty()) {
      out.resource_version = string_at(metadata, "resourceVersion");
      if (out.resource_version.empty()) {
        return Unexpected(invalid_list("list response has no metadata.resourceVersion"));
      }
      return out;
    }
    // Continue pages take the snapshot from the token; resourceVersion must be unset.
    opts.continue_token = std::move(next);
    opts.resource_version.clear();
  }
  return Unexpected(invalid_list("stopped"));
}

void Informer::sync(ListResult&& listed) {
  const std::size_t objects = listed.items.size();
  {
    std::lock_guard<std::mutex> dispatching(dispatch_mu_);
    store_.replace(std::move(listed.items), std::move(listed.resource_version),
                   [this](const StoreChange& change) { dispatch(change); });
  }
  if (options_.observer != nullptr) options_.observer->on_list(options_.name, objects, listed.pages);
  {
    std::lock_guard<std::mutex> lock(mu_);
    synced_.store(true);
  }
  cv_.notify_all();
}

Informer::WatchEnd Informer::watch_once(bool just_listed) {
  ListOptions opts;
  opts.resource_version = store_.resource_version();
  opts.allow_watch_bookmarks = true;
  opts.timeout_seconds = static_cast<std::int64_t>(
      static_cast<double>(options_.min_watch_timeout.count()) * (1.0 + random_()));

  std::optional<Error> stream_error;
  std::size_t events = 0;
  const Clock::SteadyTime started = clock_.now();
  const WatchEventFn on_event = [&](WatchEvent&& ev) -> bool {
    ++events;
    if (ev.type == "ADDED") {
      handle_object_event(ChangeType::Added, std::move(ev.object));
    } else if (ev.type == "MODIFIED") {
      handle_object_event(ChangeType::Updated, std::move(ev.object));
    } else if (ev.type == "DELETED") {
      handle_object_event(ChangeType::Deleted, std::move(ev.object));
    } else if (ev.type == "BOOKMARK") {
      // A bookmark carries only a resourceVersion: nothing changed up to it.
      std::string rv = resource_version_of(ev.object);
      if (!rv.empty()) store_.set_resource_version(std::move(rv));
    } else if (ev.type == "ERROR") {
      stream_error = status_error(ev.object);
      return false;
    } else {
      report_error("watch", Error{.reason = "BadRequest",
                                  .message = "unknown watch event type \"" + ev.type + "\""});
    }
    return !stopping();
  };

  Result<void> ended = lw_.watch(opts, on_event, stop_);
  if (stopping()) return WatchEnd::Stopped;
  if (!ended) stream_error = std::move(ended).error();
  if (stream_error) {
    report_error("watch", *stream_error);
    if (stream_error->is_expired()) {
      return just_listed && events == 0 ? WatchEnd::ExpiredAtOnce : WatchEnd::Expired;
    }
    return stream_error->transport ? WatchEnd::Dropped : WatchEnd::Error;
  }
  if (events == 0 && clock_.now() - started < kVeryShortWatch) return WatchEnd::ClosedEarly;
  return WatchEnd::Closed;
}

void Informer::prepare(json& obj) const {
  if (options_.transform) options_.transform(obj);
}

void Informer::handle_object_event(ChangeType type, json&& obj) {
  prepare(obj);
  auto prepared = std::make_shared<const json>(std::move(obj));
  std::lock_guard<std::mutex> dispatching(dispatch_mu_);
  const std::optional<StoreChange> change = store_.apply(type, std::move(prepared));
  if (change) dispatch(*change);
}

void Informer::dispatch(const StoreChange& change) {
  for (const EventHandler& h : handlers_) {
    try {
      switch (change.type) {
        case ChangeType::Added:
          if (h.on_add) h.on_add(change.obj);
          break;
        case ChangeType::Updated:
          if (h.on_update) h.on_update(change.old_obj, change.obj);
          break;
        case ChangeType::Deleted:
          if (h.on_delete) h.on_delete(change.obj);
          break;
      }
    } catch (const std::exception& e) {
      // No exception leaves the informer thread; the next handler still runs.
      report_error("handler", Error{.reason = "HandlerException", .message = e.what()});
    }
  }
}

void Informer::report_error(const char* verb, const Error& error) const {
  if (options_.observer != nullptr) options_.observer->on_error(options_.name, verb, error);
}

void Informer::report_restart(const char* reason) const {
  if (options_.observer != nullptr) options_.observer->on_watch_restart(options_.name, reason);
}

}  // namespace frugal::kube
