#include "sim/watch.h"

#include "sim/table.h"

namespace kubesim {

std::string watch_error_frame(const ApiError& err) {
  json frame = {{"type", "ERROR"}, {"object", err.to_status()}};
  return frame.dump() + "\n";
}

WatchSession::WatchSession(Store& store, WatchOptions opts) : store_(store), opts_(std::move(opts)) {
  deadline_ = opts_.deadline;
  constexpr std::chrono::milliseconds kMaxTick{1000};
  tick_interval_ = std::min(opts_.bookmark_interval, kMaxTick);
  if (opts_.as_table) {
    content_type = "application/json;as=Table;v=v1;g=meta.k8s.io";
  }
}

WatchSession::~WatchSession() { close_subscription(); }

Result<void> WatchSession::start(uint64_t from_rv) {
  if (opts_.initial_error) {
    push(watch_error_frame(*opts_.initial_error));
    end();
    return {};
  }
  auto sub = store_.subscribe(opts_.info.group_resource(), opts_.ns, from_rv,
                              [this](const StoreEvent& ev) { on_event(ev); });
  if (!sub) return Unexpected(std::move(sub).error());
  sub_ = *sub;
  last_sent_rv_ = from_rv;
  if (opts_.initial_events_end) initial_end_due_ = true;
  wake();
  return {};
}

void WatchSession::close_subscription() {
  if (closed_.exchange(true)) return;
  if (sub_) store_.unsubscribe(sub_);
  if (opts_.on_close) opts_.on_close();
}

void WatchSession::cancel() {
  close_subscription();
  end();
}

void WatchSession::on_event(const StoreEvent& ev) {
  {
    std::lock_guard lock(pending_mu_);
    if (overflowed_) return;
    if (pending_.size() >= opts_.max_pending) {
      overflowed_ = true;
    } else {
      pending_.push_back(ev);
    }
  }
  wake();
}

void WatchSession::tick(std::chrono::steady_clock::time_point now) {
  if (now >= opts_.drop_at) {
    close_subscription();
    abort();
    return;
  }
  if (opts_.bookmarks && now - last_bookmark_ >= opts_.bookmark_interval) {
    last_bookmark_ = now;
    bookmark_due_ = true;
    wake();
  }
}

bool WatchSession::matches(const json& obj) const {
  if (opts_.labels) {
    const json& meta = obj.contains("metadata") ? obj["metadata"] : json::object();
    if (!opts_.labels->matches(meta.contains("labels") ? meta["labels"] : json())) return false;
  }
  return !opts_.fields || opts_.fields->matches(obj);
}

std::string WatchSession::encode(const char* type, const ObjectPtr& obj, const StoreEvent* ev) {
  std::string frame = std::string("{\"type\":\"") + type + "\",\"object\":";
  const std::string api_version = opts_.info.api_version();
  if (opts_.as_table) {
    frame += to_table(opts_.info, {*obj}, opts_.include_object, std::chrono::system_clock::now())
                 .dump();
  } else if (obj->value("apiVersion", "") != api_version) {
    // A custom resource stored at another version: served at the asked one.
    json copy = *obj;
    copy["apiVersion"] = api_version;
    frame += copy.dump();
  } else if (ev && ev->object == obj) {
    std::lock_guard lock(ev->encoded->mu);
    if (ev->encoded->api_version != api_version || ev->encoded->text.empty()) {
      ev->encoded->text = obj->dump();
      ev->encoded->api_version = api_version;
    }
    frame += ev->encoded->text;
  } else {
    frame += obj->dump();
  }
  frame += "}\n";
  return frame;
}

void WatchSession::produce() {
  const bool initial_end = initial_end_due_.exchange(false);
  const bool bookmark = bookmark_due_.exchange(false) || initial_end;
  // Read before draining: every event at or below this version is queued
  // already, because the store delivers under the lock that current_rv takes.
  const uint64_t rv_now = bookmark ? store_.current_rv() : 0;
  std::deque<StoreEvent> events;
  bool overflowed;
  {
    std::lock_guard lock(pending_mu_);
    events.swap(pending_);
    overflowed = overflowed_;
  }
  for (const auto& ev : events) {
    last_sent_rv_ = std::max(last_sent_rv_, ev.rv);
    const bool now_matches = matches(*ev.object);
    switch (ev.type) {
      case EventType::Added:
        if (now_matches) push(encode("ADDED", ev.object, &ev));
        break;
      case EventType::Modified: {
        const bool before = ev.previous && matches(*ev.previous);
        if (now_matches && before) {
          push(encode("MODIFIED", ev.object, &ev));
        } else if (now_matches) {
          push(encode("ADDED", ev.object, &ev));
        } else if (before) {
          push(encode("DELETED", ev.object, &ev));
        }
        break;
      }
      case EventType::Deleted:
        if (ev.previous ? matches(*ev.previous) : now_matches) {
          push(encode("DELETED", ev.object, &ev));
        }
        break;
    }
  }
  if (overflowed) {
    // The real cache closes a watcher that cannot keep up; the client re-watches.
    close_subscription();
    end();
    return;
  }
  if (bookmark) {
    last_sent_rv_ = std::max(last_sent_rv_, rv_now);
    json obj = {{"kind", opts_.info.kind},
                {"apiVersion", opts_.info.api_version()},
                {"metadata", {{"resourceVersion", std::to_string(last_sent_rv_)}}}};
    if (initial_end) obj["metadata"]["annotations"] = {{"k8s.io/initial-events-end", "true"}};
    push(json{{"type", "BOOKMARK"}, {"object", obj}}.dump() + "\n");
  }
}

}  // namespace kubesim
