#include "sim/store.h"

#include <algorithm>

namespace kubesim {

const char* event_type_name(EventType t) {
  switch (t) {
    case EventType::Added:
      return "ADDED";
    case EventType::Modified:
      return "MODIFIED";
    case EventType::Deleted:
      return "DELETED";
  }
  return "";
}

namespace {

bool in_scope(const std::string& key, const std::string& ns) {
  return ns.empty() || (key.size() > ns.size() && key.compare(0, ns.size(), ns) == 0 &&
                        key[ns.size()] == '/');
}

ObjectPtr stamped(json object, uint64_t rv) {
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  return std::make_shared<const json>(std::move(object));
}

std::string uid_of(const json* obj) {
  if (!obj) return {};
  auto meta = obj->find("metadata");
  if (meta == obj->end() || !meta->is_object()) return {};
  auto uid = meta->find("uid");
  return uid != meta->end() && uid->is_string() ? uid->get<std::string>() : std::string{};
}

std::vector<std::string> owner_uids(const json* obj) {
  std::vector<std::string> out;
  if (!obj) return out;
  auto meta = obj->find("metadata");
  if (meta == obj->end() || !meta->is_object()) return out;
  auto refs = meta->find("ownerReferences");
  if (refs == meta->end() || !refs->is_array()) return out;
  for (const auto& r : *refs) {
    if (r.is_object() && r.contains("uid") && r["uid"].is_string()) {
      out.push_back(r["uid"].get<std::string>());
    }
  }
  return out;
}

std::string name_of(const json& obj) { return obj.at("metadata").value("name", std::string{}); }

}  // namespace

Store::Store(size_t history_limit) : history_limit_(std::max<size_t>(history_limit, 1)) {}

uint64_t Store::current_rv() const {
  std::lock_guard lock(mu_);
  return rv_;
}

uint64_t Store::compacted_rv() const {
  std::lock_guard lock(mu_);
  return compacted_rv_;
}

ObjectPtr Store::get(const std::string& gr, const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = objects_.find(gr);
  if (it == objects_.end()) return nullptr;
  auto obj = it->second.find(key_of(ns, name));
  return obj == it->second.end() ? nullptr : obj->second;
}

Result<Store::ListPage> Store::list(const std::string& gr, const std::string& ns,
                                    const Filter& filter, uint64_t at_rv,
                                    const std::string& after_key, size_t limit) const {
  std::lock_guard lock(mu_);
  ListPage page;
  page.rv = at_rv == 0 ? rv_ : at_rv;
  if (at_rv != 0 && at_rv < compacted_rv_) {
    return Unexpected(expired("The provided continue parameter is too old to display a consistent "
                              "list result. You can start a new list without the continue "
                              "parameter, or use the continue token in this response to retrieve "
                              "the remainder of the results. Continuing with the provided token "
                              "results in an inconsistent list - objects that were created, "
                              "modified, or deleted between the time the first chunk was returned "
                              "and now may show up in the list."));
  }
  if (at_rv > rv_) {
    return Unexpected(ApiError{.code = 504,
                               .reason = "Timeout",
                               .message = "Too large resource version: " + std::to_string(at_rv) +
                                          ", current resource version: " + std::to_string(rv_)});
  }

  static const std::map<std::string, ObjectPtr> kEmpty;
  auto it = objects_.find(gr);
  const auto& current = it == objects_.end() ? kEmpty : it->second;

  // Undo the changes made after at_rv: the earliest change's `previous` is
  // the state at at_rv (null: the object did not exist then).
  std::map<std::string, ObjectPtr> overlay;
  if (page.rv < rv_) {
    for (auto ev = history_.rbegin(); ev != history_.rend() && ev->rv > page.rv; ++ev) {
      if (ev->group_resource == gr) overlay[key_of(ev->ns, name_of(*ev->object))] = ev->previous;
    }
  }

  auto cur = after_key.empty() ? current.lower_bound(ns.empty() ? "" : ns + "/")
                               : current.upper_bound(after_key);
  auto ovl = after_key.empty() ? overlay.lower_bound(ns.empty() ? "" : ns + "/")
                               : overlay.upper_bound(after_key);
  std::string last_key;
  bool full = false;  // the page is complete and at least one more item matches
  auto emit = [&](const std::string& key, const ObjectPtr& obj) {
    if (!obj || !in_scope(key, ns)) return;
    if (filter && !filter(*obj)) return;
    if (limit != 0 && page.items.size() >= limit) {
      full = true;
      return;
    }
    page.items.push_back(obj);
    last_key = key;
  };
  while (!full && (cur != current.end() || ovl != overlay.end())) {
    bool take_overlay =
        ovl != overlay.end() && (cur == current.end() || ovl->first <= cur->first);
    if (take_overlay) {
      if (cur != current.end() && cur->first == ovl->first) ++cur;
      emit(ovl->first, ovl->second);
      ++ovl;
    } else {
      emit(cur->first, cur->second);
      ++cur;
    }
    if (!ns.empty() && cur != current.end() && !in_scope(cur->first, ns) &&
        (ovl == overlay.end() || !in_scope(ovl->first, ns))) {
      break;
    }
  }
  if (full) {
    page.next_key = last_key;
    // Counting what is left is a cheap walk only without a filter or a
    // snapshot overlay; otherwise it is left unknown (no remainingItemCount).
    if (!filter && overlay.empty()) {
      size_t n = 1;  // the item that made the page full
      for (; cur != current.end() && in_scope(cur->first, ns); ++cur) ++n;
      page.remaining = n;
    }
  }
  return page;
}

Result<ObjectPtr> Store::mutate(const std::string& gr, const std::string& ns,
                                const std::string& name,
                                const std::function<Result<Mutation>(const json* current)>& fn) {
  std::lock_guard lock(mu_);
  auto& objects = objects_[gr];
  const std::string key = key_of(ns, name);
  auto it = objects.find(key);
  ObjectPtr before = it == objects.end() ? nullptr : it->second;

  auto decision = fn(before.get());
  if (!decision) return Unexpected(std::move(decision).error());
  switch (decision->kind) {
    case Mutation::Kind::Nothing:
      return before;
    case Mutation::Kind::Put: {
      const uint64_t rv = ++rv_;
      ObjectPtr after = stamped(std::move(decision->object), rv);
      objects[key] = after;
      index_locked(gr, ns, before.get(), after.get());
      record_locked(before ? EventType::Modified : EventType::Added, gr, ns, after, before, rv);
      return after;
    }
    case Mutation::Kind::Delete: {
      if (!before) return before;
      const uint64_t rv = ++rv_;
      ObjectPtr last = stamped(*before, rv);
      objects.erase(key);
      index_locked(gr, ns, before.get(), nullptr);
      record_locked(EventType::Deleted, gr, ns, last, before, rv);
      return last;
    }
  }
  return before;
}

void Store::record_locked(EventType type, const std::string& gr, const std::string& ns,
                          ObjectPtr object, ObjectPtr previous, uint64_t rv) {
  history_.push_back(StoreEvent{type, rv, gr, ns, std::move(object), std::move(previous)});
  while (history_.size() > history_limit_) {
    compacted_rv_ = history_.front().rv;
    history_.pop_front();
  }
  const StoreEvent& ev = history_.back();
  auto subs = subs_.find(gr);
  if (subs == subs_.end()) return;
  for (const auto& sub : subs->second) {
    if (sub->active_ && (sub->ns_.empty() || sub->ns_ == ns)) sub->cb_(ev);
  }
}

void Store::index_locked(const std::string& gr, const std::string& ns, const json* before,
                         const json* after) {
  const std::string name =
      (after ? after : before)->at("metadata").value("name", std::string{});
  const ObjectRef ref{gr, ns, name};
  for (const auto& uid : owner_uids(before)) {
    auto it = owner_index_.find(uid);
    if (it == owner_index_.end()) continue;
    it->second.erase(ref);
    if (it->second.empty()) owner_index_.erase(it);
  }
  for (const auto& uid : owner_uids(after)) owner_index_[uid].insert(ref);
  if (auto uid = uid_of(before); !uid.empty()) uid_index_.erase(uid);
  if (auto uid = uid_of(after); !uid.empty()) uid_index_[uid] = ref;
}

Result<std::shared_ptr<Subscription>> Store::subscribe(const std::string& gr,
                                                       const std::string& ns, uint64_t from_rv,
                                                       Subscription::Callback cb) {
  std::lock_guard lock(mu_);
  if (from_rv != 0 && from_rv < compacted_rv_) {
    return Unexpected(expired("too old resource version: " + std::to_string(from_rv) + " (" +
                              std::to_string(compacted_rv_) + ")"));
  }
  auto sub = std::make_shared<Subscription>(gr, ns, std::move(cb));
  if (from_rv == 0) {
    // "Get state and start at most recent": synthetic ADDED for what exists.
    auto it = objects_.find(gr);
    if (it != objects_.end()) {
      for (auto obj = ns.empty() ? it->second.begin() : it->second.lower_bound(ns + "/");
           obj != it->second.end() && in_scope(obj->first, ns); ++obj) {
        sub->cb_(StoreEvent{EventType::Added, rv_, gr, ns, obj->second, nullptr});
      }
    }
  } else {
    for (const auto& ev : history_) {
      if (ev.rv > from_rv && ev.group_resource == gr && (ns.empty() || ev.ns == ns)) sub->cb_(ev);
    }
  }
  subs_[gr].push_back(sub);
  return sub;
}

void Store::unsubscribe(const std::shared_ptr<Subscription>& sub) {
  std::lock_guard lock(mu_);
  sub->active_ = false;
  auto it = subs_.find(sub->group_resource_);
  if (it == subs_.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), sub), v.end());
  if (v.empty()) subs_.erase(it);
}

void Store::compact(uint64_t rv) {
  std::lock_guard lock(mu_);
  while (!history_.empty() && history_.front().rv <= rv) {
    history_.pop_front();
  }
  compacted_rv_ = std::max(compacted_rv_, std::min(rv + 1, rv_ + 1));
}

void Store::drop_resource(const std::string& gr) {
  std::vector<std::pair<std::string, std::string>> keys;
  {
    std::lock_guard lock(mu_);
    auto it = objects_.find(gr);
    if (it == objects_.end()) return;
    for (const auto& [key, obj] : it->second) {
      keys.emplace_back(obj->at("metadata").value("namespace", std::string{}),
                        obj->at("metadata").value("name", std::string{}));
    }
  }
  for (const auto& [ns, name] : keys) {
    (void)mutate(gr, ns, name, [](const json*) -> Result<Mutation> {
      return Mutation{Mutation::Kind::Delete, {}};
    });
  }
}

std::vector<ObjectRef> Store::dependents(const std::string& owner_uid) const {
  std::lock_guard lock(mu_);
  auto it = owner_index_.find(owner_uid);
  if (it == owner_index_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::optional<ObjectRef> Store::find_uid(const std::string& uid) const {
  std::lock_guard lock(mu_);
  auto it = uid_index_.find(uid);
  if (it == uid_index_.end()) return std::nullopt;
  return it->second;
}

std::vector<ObjectRef> Store::in_namespace(const std::string& ns) const {
  std::lock_guard lock(mu_);
  std::vector<ObjectRef> out;
  for (const auto& [gr, objects] : objects_) {
    for (auto it = objects.lower_bound(ns + "/"); it != objects.end() && in_scope(it->first, ns);
         ++it) {
      out.push_back(ObjectRef{gr, ns, it->first.substr(ns.size() + 1)});
    }
  }
  return out;
}

StoreStats Store::stats() const {
  std::lock_guard lock(mu_);
  StoreStats s;
  for (const auto& [gr, objects] : objects_) s.objects += objects.size();
  s.history = history_.size();
  s.current_rv = rv_;
  s.compacted_rv = compacted_rv_;
  for (const auto& [gr, v] : subs_) s.subscriptions += v.size();
  return s;
}

}  // namespace kubesim
