// The informer's cache: the last known state of every object of one resource,
// keyed "namespace/name" (or "name" when cluster-scoped), with secondary
// indexes, as client-go's cache.Indexer (tools/cache/thread_safe_store.go).
//
// Memory is the point of the design. Objects are stored once, immutable, as
// std::shared_ptr<const json>: readers, indexes and event handlers share
// them and nothing is copied. A transform (see strip_unused_fields) runs on
// each object before it is stored, dropping the fields no reconciler reads;
// on typical objects managedFields and the last-applied annotation are half
// of the bytes.
//
// Thread safety: any number of readers (get, list, by_index) run in
// parallel; writers (replace, apply, add_index) are serialised among
// themselves, build what they can outside the readers' lock, and hold it only
// to publish, so a relist of thousands of objects does not stall readers.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace frugal::kube {

using json = nlohmann::json;
using ObjectPtr = std::shared_ptr<const json>;

// Values an object is filed under in one index (none, one or several).
using IndexFunc = std::function<std::vector<std::string>(const json&)>;
// Edits an object in place before it is stored.
using Transform = std::function<void(json&)>;

// Built-in indexes, present in every store.
inline constexpr char kNamespaceIndex[] = "namespace";  // metadata.namespace (if set)
inline constexpr char kOwnerUidIndex[] = "owner-uid";   // metadata.ownerReferences[].uid

// "namespace/name", or "name" for a cluster-scoped object; "" without a name.
std::string object_key(const json& obj);
// metadata.resourceVersion, or "".
std::string resource_version_of(const json& obj);

// The default transform: drops metadata.managedFields (client-go's
// TransformStripManagedFields) and the kubectl.kubernetes.io/last-applied-
// configuration annotation (an entire copy of the object as last applied).
// Neither is read by a controller. Consequence: an object from the cache must
// not be written back whole with PUT (that would delete the annotation and
// break later `kubectl apply` merges); write with patches, which is what
// this codebase does anyway. (An omitted managedFields is left unchanged by
// the server.)
void strip_unused_fields(json& obj);

// An index on the value of a label: objects without the label are not indexed.
IndexFunc label_index(std::string label_key);

enum class ChangeType { Added, Updated, Deleted };

// What a write did to one object, for event handlers. `old_obj` is null for
// Added; for Deleted, `obj` is the last state known (from a DELETED event, or
// the cached object when a relist finds it gone).
struct StoreChange {
  ChangeType type;
  ObjectPtr old_obj;
  ObjectPtr obj;
};

class CacheStore {
 public:
  CacheStore();
  CacheStore(const CacheStore&) = delete;
  CacheStore& operator=(const CacheStore&) = delete;

  // Registers (or replaces) an index and files the current objects in it.
  void add_index(const std::string& name, IndexFunc fn);

  // Reads. Order of list() and by_index() is unspecified.
  ObjectPtr get(const std::string& key) const;
  std::vector<ObjectPtr> list() const;
  std::vector<std::string> keys() const;
  // Objects filed under `value` in index `index_name`; empty for an unknown index.
  std::vector<ObjectPtr> by_index(const std::string& index_name, const std::string& value) const;
  std::size_t size() const;
  // The resourceVersion the store is current as of (list, last event or bookmark).
  std::string resource_version() const;

  // Swaps in the result of a full list, atomically for readers, and returns
  // the difference from the previous contents: Added for new keys, Updated
  // for keys whose resourceVersion changed, Deleted (with the last cached
  // object) for keys no longer listed. Unchanged objects keep their previous
  // pointer and produce no change. Items without a name are ignored.
  std::vector<StoreChange> replace(std::vector<ObjectPtr> items, std::string resource_version);

  // Applies one watch event (Added/Updated = upsert, Deleted = remove) and
  // advances resource_version() to the object's. Returns the change: an
  // upsert of a known key is Updated, of an unknown key Added; an upsert
  // with the resourceVersion already cached changes nothing (nullopt); a
  // delete is reported even for an unknown key, with `obj` as given.
  std::optional<StoreChange> apply(ChangeType type, ObjectPtr obj);

  // Advances resource_version() without changing objects (a watch BOOKMARK).
  void set_resource_version(std::string resource_version);

 private:
  // index name -> indexed value -> keys
  using Index = std::unordered_map<std::string, std::unordered_set<std::string>>;
  using Indices = std::unordered_map<std::string, Index>;
  using Items = std::unordered_map<std::string, ObjectPtr>;

  static void index_add(Index& index, const IndexFunc& fn, const std::string& key,
                        const json& obj);
  static void index_remove(Index& index, const IndexFunc& fn, const std::string& key,
                           const json& obj);

  // Serialises writers; taken before mu_. indexers_ is guarded by it and mu_
  // together (writers read it under write_mu_ alone).
  std::mutex write_mu_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, IndexFunc> indexers_;
  Items items_;
  Indices indices_;
  std::string resource_version_;
};

}  // namespace frugal::kube
