// The informer's cache: the last known state of every object of one resource,
// keyed "namespace/name" (or "name" when cluster-scoped), with secondary
// indexes, as client-go's cache.Indexer (tools/cache/thread_safe_store.go).
//
// Memory is the point of the design. A parsed nlohmann::json tree costs
// about 6.6 bytes of heap per byte of JSON (every object member is a map
// node, every string its own allocation), so objects are kept packed: as
// CBOR (RFC 8949), about 0.85x the size of their JSON text, one allocation
// each. Reads decode on demand; a small least-recently-used "hot set" keeps
// the objects last written or read decoded and shared, so a reconcile that
// reads the object its event just delivered does not decode it again. A
// transform (see strip_unused_fields) runs on each object before it is
// stored, dropping the fields no reconciler reads; on typical objects
// managedFields and the last-applied annotation are half of the bytes.
// (bench/results/controller.md has the figures behind these choices.)
//
// Thread safety: any number of readers (get, list, by_index) run in
// parallel, and decode outside every lock; writers (replace, apply,
// add_index) are serialised among themselves, build what they can outside
// the readers' lock, and hold it only to publish, so a relist of thousands
// of objects does not stall readers.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
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

// An object as the store keeps it: its CBOR (RFC 8949) encoding, with the
// key and resourceVersion read from it once. Immutable and shared.
struct PackedObject {
  std::string key;
  std::string resource_version;
  std::string cbor;
};
using PackedPtr = std::shared_ptr<const PackedObject>;
// Null when the object has no name.
PackedPtr pack_object(const json& obj);
ObjectPtr unpack_object(const PackedObject& packed);

enum class ChangeType { Added, Updated, Deleted };

// What a write did to one object, for event handlers. `old_obj` is null for
// Added; for Deleted, `obj` is the last state known (from a DELETED event, or
// the cached object when a relist finds it gone).
struct StoreChange {
  ChangeType type;
  ObjectPtr old_obj;
  ObjectPtr obj;
};

struct CacheStoreOptions {
  // Decoded objects kept in the hot set. At ~6 KB each for a typical custom
  // resource, the default costs about 6 MB per informer, and covers the
  // objects a burst of events and their reconciles touch.
  std::size_t hot_objects = 1024;
};

class CacheStore {
 public:
  explicit CacheStore(CacheStoreOptions options = {});
  CacheStore(const CacheStore&) = delete;
  CacheStore& operator=(const CacheStore&) = delete;

  // Registers (or replaces) an index and files the current objects in it.
  void add_index(const std::string& name, IndexFunc fn);

  // Reads. Order of list() and by_index() is unspecified. get() decodes the
  // object unless it is in the hot set (about 7 us for 900 bytes of JSON),
  // and puts it there; list() and by_index() decode what is not hot without
  // disturbing the hot set, so a full list() costs a decode per object.
  ObjectPtr get(const std::string& key) const;
  std::vector<ObjectPtr> list() const;
  std::vector<std::string> keys() const;
  // Objects filed under `value` in index `index_name`; empty for an unknown index.
  std::vector<ObjectPtr> by_index(const std::string& index_name, const std::string& value) const;
  std::size_t size() const;
  // The resourceVersion the store is current as of (list, last event or bookmark).
  std::string resource_version() const;
  // Bytes of packed object data held (CBOR only, not keys or indexes).
  std::size_t packed_bytes() const;

  // Swaps in the result of a full list, atomically for readers, then calls
  // `on_change` with the difference from the previous contents: Added for
  // new keys, Updated for keys whose resourceVersion changed, Deleted (with
  // the last cached object) for keys no longer listed. Unchanged objects keep
  // their stored encoding and produce no change. Changes are decoded one at
  // a time as they are reported, so a relist of 100k objects never holds
  // 100k decoded trees (a decoded object is ~7x its CBOR). Null items and a
  // repeated key (the first wins) are ignored.
  using ChangeFn = std::function<void(const StoreChange&)>;
  void replace(std::vector<PackedPtr> items, std::string resource_version,
               const ChangeFn& on_change);
  // The same for decoded objects, collecting the changes (tests, small lists).
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
  using Items = std::unordered_map<std::string, PackedPtr>;

  // The decoded object for `packed`: from the hot set when it holds this
  // version, else decoded (and remembered in the hot set if `remember`).
  ObjectPtr decode(const std::string& key, const PackedPtr& packed, bool remember) const;
  void hot_put(const std::string& key, ObjectPtr obj) const;
  void hot_erase(const std::string& key) const;

  static void index_add(Index& index, const IndexFunc& fn, const std::string& key, const json& obj);
  static void index_remove(Index& index, const IndexFunc& fn, const std::string& key,
                           const json& obj);

  CacheStoreOptions options_;
  // Serialises writers; taken before mu_. indexers_ is guarded by it and mu_
  // together (writers read it under write_mu_ alone).
  std::mutex write_mu_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, IndexFunc> indexers_;
  Items items_;
  Indices indices_;
  std::string resource_version_;
  std::size_t packed_bytes_ = 0;

  // The hot set: most recently used first. Entries are checked against the
  // stored resourceVersion when read, so a stale one is never returned.
  mutable std::mutex hot_mu_;
  mutable std::list<std::pair<std::string, ObjectPtr>> hot_;
  mutable std::unordered_map<std::string, std::list<std::pair<std::string, ObjectPtr>>::iterator>
      hot_index_;
};

}  // namespace frugal::kube
