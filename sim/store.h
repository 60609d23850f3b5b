// The versioned object store behind kubesim, playing etcd's part: one global
// resourceVersion counter bumped by every write, objects kept per
// group/resource in key order (namespace/name, as etcd keys sort), and a
// bounded history of changes. The history serves watches from a past
// resourceVersion and lets a paginated list read a consistent snapshot; once
// an entry is compacted away, asking for it yields 410 Expired, as on a real
// cluster. The store knows nothing of HTTP or of object semantics beyond
// metadata.resourceVersion, metadata.uid and metadata.ownerReferences.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "sim/api_error.h"

namespace kubesim {

using ObjectPtr = std::shared_ptr<const json>;

enum class EventType { Added, Modified, Deleted };
const char* event_type_name(EventType t);

struct ObjectRef {
  std::string group_resource;
  std::string ns;
  std::string name;
  auto operator<=>(const ObjectRef&) const = default;
};

// The serialised form of an event's object, shared by every watcher that
// sends it, so one write costs one serialisation however many watch it.
struct EncodedObject {
  std::mutex mu;
  std::string api_version;  // the apiVersion `text` was written with
  std::string text;
};

// One change. `object` is the state after the change (for Deleted, the last
// state with the deletion's resourceVersion); `previous` the state before.
struct StoreEvent {
  EventType type;
  uint64_t rv;
  std::string group_resource;
  std::string ns;
  ObjectPtr object;
  ObjectPtr previous;
  std::shared_ptr<EncodedObject> encoded = std::make_shared<EncodedObject>();
};

// A live subscription. The callback runs under the store lock, in commit
// order, so it must only queue the event and return.
class Subscription {
 public:
  using Callback = std::function<void(const StoreEvent&)>;
  Subscription(std::string group_resource, std::string ns, Callback cb)
      : group_resource_(std::move(group_resource)), ns_(std::move(ns)), cb_(std::move(cb)) {}
  const std::string& group_resource() const { return group_resource_; }
  const std::string& ns() const { return ns_; }  // empty: all namespaces

 private:
  friend class Store;
  std::string group_resource_;
  std::string ns_;
  Callback cb_;
  bool active_ = true;
};

// What a mutation callback decides after seeing the current object.
struct Mutation {
  enum class Kind { Put, Delete, Nothing } kind = Kind::Nothing;
  json object;  // for Put
};

struct StoreStats {
  size_t objects = 0;
  size_t history = 0;
  uint64_t current_rv = 0;
  uint64_t compacted_rv = 0;
  size_t subscriptions = 0;
};

class Store {
 public:
  // Default history length: long enough that a controller restarting its
  // watches after a few seconds of downtime resumes, short enough that tests
  // can force compaction. (etcd compacts by time, every 5 minutes in
  // kube-apiserver; a count bound is simpler and repeatable.)
  static constexpr size_t kDefaultHistoryLimit = 10000;

  explicit Store(size_t history_limit = kDefaultHistoryLimit);

  uint64_t current_rv() const;
  // The oldest resourceVersion a watch or snapshot list may start from.
  uint64_t compacted_rv() const;

  ObjectPtr get(const std::string& gr, const std::string& ns, const std::string& name) const;

  struct ListPage {
    std::vector<ObjectPtr> items;
    uint64_t rv = 0;          // the snapshot the page was read at
    std::string next_key;     // non-empty when more items follow
    // Items after this page: known only for unfiltered lists, as the real
    // server omits remainingItemCount when a selector is used.
    std::optional<size_t> remaining;
  };
  using Filter = std::function<bool(const json&)>;
  // Lists objects of `gr` in `ns` (empty: all) whose key is after `after_key`,
  // as they were at `at_rv` (0: now). At most `limit` items (0: all).
  Result<ListPage> list(const std::string& gr, const std::string& ns, const Filter& filter,
                        uint64_t at_rv, const std::string& after_key, size_t limit) const;

  // Atomic read-modify-write of one object. `fn` sees the current object (or
  // null) and returns what to do, or an error that is passed through. The
  // store stamps metadata.resourceVersion on what is put.
  Result<ObjectPtr> mutate(const std::string& gr, const std::string& ns, const std::string& name,
                           const std::function<Result<Mutation>(const json* current)>& fn);

  // Starts a subscription and, under the same lock, replays history after
  // `from_rv` (from_rv == 0: the current objects as Added events). 410 when
  // from_rv was compacted.
  Result<std::shared_ptr<Subscription>> subscribe(const std::string& gr, const std::string& ns,
                                                  uint64_t from_rv, Subscription::Callback cb);
  void unsubscribe(const std::shared_ptr<Subscription>& sub);

  // Drops history up to and including `rv` (all of it when rv >= current).
  void compact(uint64_t rv);
  // Removes every object of `gr` (used when a CRD goes away), with events.
  void drop_resource(const std::string& gr);

  // Objects naming `owner_uid` in their ownerReferences.
  std::vector<ObjectRef> dependents(const std::string& owner_uid) const;
  // Where the object with this uid lives, if it exists.
  std::optional<ObjectRef> find_uid(const std::string& uid) const;
  // All objects of every resource in namespace `ns` (for namespace deletion).
  std::vector<ObjectRef> in_namespace(const std::string& ns) const;

  StoreStats stats() const;

  static std::string key_of(const std::string& ns, const std::string& name) {
    return ns.empty() ? name : ns + "/" + name;
  }

 private:
  void record_locked(EventType type, const std::string& gr, const std::string& ns,
                     ObjectPtr object, ObjectPtr previous, uint64_t rv);
  void index_locked(const std::string& gr, const std::string& ns, const json* before,
                    const json* after);

  mutable std::mutex mu_;
  uint64_t rv_ = 1;
  uint64_t compacted_rv_ = 1;
  size_t history_limit_;
  std::unordered_map<std::string, std::map<std::string, ObjectPtr>> objects_;
  std::deque<StoreEvent> history_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Subscription>>> subs_;
  std::unordered_map<std::string, std::set<ObjectRef>> owner_index_;
  std::unordered_map<std::string, ObjectRef> uid_index_;
};

}  // namespace kubesim
