// CacheStore: the thread-safe keyed, indexed object cache behind an informer.
#include "controller/kube/cache_store.h"

#include <utility>

namespace frugal::kube {
namespace {

// kubectl's annotation holding the whole last-applied object (kubectl apply).
constexpr char kLastAppliedAnnotation[] = "kubectl.kubernetes.io/last-applied-configuration";

const json* metadata_of(const json& obj) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find("metadata");
  return it != obj.end() && it->is_object() ? &*it : nullptr;
}

std::string string_field(const json& obj, const char* field) {
  auto it = obj.find(field);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> namespace_values(const json& obj) {
  const json* meta = metadata_of(obj);
  if (meta == nullptr) return {};
  std::string ns = string_field(*meta, "namespace");
  if (ns.empty()) return {};
  return {std::move(ns)};
}

std::vector<std::string> owner_uid_values(const json& obj) {
  const json* meta = metadata_of(obj);
  if (meta == nullptr) return {};
  auto refs = meta->find("ownerReferences");
  if (refs == meta->end() || !refs->is_array()) return {};
  std::vector<std::string> uids;
  for (const json& ref : *refs) {
    if (!ref.is_object()) continue;
    std::string uid = string_field(ref, "uid");
    if (!uid.empty()) uids.push_back(std::move(uid));
  }
  return uids;
}

}  // namespace

std::string object_key(const json& obj) {
  const json* meta = metadata_of(obj);
  if (meta == nullptr) return {};
  std::string name = string_field(*meta, "name");
  if (name.empty()) return {};
  std::string ns = string_field(*meta, "namespace");
  if (ns.empty()) return name;
  ns += '/';
  ns += name;
  return ns;
}

std::string resource_version_of(const json& obj) {
  const json* meta = metadata_of(obj);
  return meta == nullptr ? std::string() : string_field(*meta, "resourceVersion");
}

void strip_unused_fields(json& obj) {
  if (!obj.is_object()) return;
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return;
  meta->erase("managedFields");
  auto annotations = meta->find("annotations");
  if (annotations != meta->end() && annotations->is_object()) {
    annotations->erase(kLastAppliedAnnotation);
    if (annotations->empty()) meta->erase(annotations);
  }
}

IndexFunc label_index(std::string label_key) {
  return [label_key = std::move(label_key)](const json& obj) -> std::vector<std::string> {
    const json* meta = metadata_of(obj);
    if (meta == nullptr) return {};
    auto labels = meta->find("labels");
    if (labels == meta->end() || !labels->is_object()) return {};
    auto value = labels->find(label_key);
    if (value == labels->end() || !value->is_string()) return {};
    return {value->get<std::string>()};
  };
}

PackedPtr pack_object(const json& obj) {
  PackedObject packed;
  packed.key = object_key(obj);
  if (packed.key.empty()) return nullptr;
  packed.resource_version = resource_version_of(obj);
  json::to_cbor(obj, packed.cbor);
  packed.cbor.shrink_to_fit();
  return std::make_shared<const PackedObject>(std::move(packed));
}

ObjectPtr unpack_object(const PackedObject& packed) {
  return std::make_shared<const json>(json::from_cbor(packed.cbor));
}

CacheStore::CacheStore(CacheStoreOptions options) : options_(options) {
  indexers_.emplace(kNamespaceIndex, namespace_values);
  indexers_.emplace(kOwnerUidIndex, owner_uid_values);
  for (const auto& [name, fn] : indexers_) indices_[name];
}

ObjectPtr CacheStore::decode(const std::string& key, const PackedPtr& packed, bool remember) const {
  {
    std::lock_guard<std::mutex> lock(hot_mu_);
    auto it = hot_index_.find(key);
    if (it != hot_index_.end() &&
        resource_version_of(*it->second->second) == packed->resource_version) {
      if (remember) hot_.splice(hot_.begin(), hot_, it->second);
      return it->second->second;
    }
  }
  ObjectPtr obj = unpack_object(*packed);
  if (remember) hot_put(key, obj);
  return obj;
}

void CacheStore::hot_put(const std::string& key, ObjectPtr obj) const {
  if (options_.hot_objects == 0) return;
  std::lock_guard<std::mutex> lock(hot_mu_);
  auto it = hot_index_.find(key);
  if (it != hot_index_.end()) {
    it->second->second = std::move(obj);
    hot_.splice(hot_.begin(), hot_, it->second);
    return;
  }
  hot_.emplace_front(key, std::move(obj));
  hot_index_.emplace(key, hot_.begin());
  while (hot_.size() > options_.hot_objects) {
    hot_index_.erase(hot_.back().first);
    hot_.pop_back();
  }
}

void CacheStore::hot_erase(const std::string& key) const {
  std::lock_guard<std::mutex> lock(hot_mu_);
  auto it = hot_index_.find(key);
  if (it == hot_index_.end()) return;
  hot_.erase(it->second);
  hot_index_.erase(it);
}

void CacheStore::index_add(Index& index, const IndexFunc& fn, const std::string& key,
                           const json& obj) {
  for (std::string& value : fn(obj)) index[std::move(value)].insert(key);
}

void CacheStore::index_remove(Index& index, const IndexFunc& fn, const std::string& key,
                              const json& obj) {
  for (const std::string& value : fn(obj)) {
    auto it = index.find(value);
    if (it == index.end()) continue;
    it->second.erase(key);
    if (it->second.empty()) index.erase(it);
  }
}

void CacheStore::add_index(const std::string& name, IndexFunc fn) {
  std::lock_guard<std::mutex> write(write_mu_);
  Index index;
  for (const auto& [key, packed] : items_) index_add(index, fn, key, *decode(key, packed, false));
  std::unique_lock<std::shared_mutex> lock(mu_);
  indexers_[name] = std::move(fn);
  indices_[name] = std::move(index);
}

ObjectPtr CacheStore::get(const std::string& key) const {
  PackedPtr packed;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = items_.find(key);
    if (it == items_.end()) return nullptr;
    packed = it->second;
  }
  return decode(key, packed, true);
}

std::vector<ObjectPtr> CacheStore::list() const {
  std::vector<std::pair<std::string, PackedPtr>> entries;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    entries.assign(items_.begin(), items_.end());
  }
  std::vector<ObjectPtr> out;
  out.reserve(entries.size());
  for (const auto& [key, packed] : entries) out.push_back(decode(key, packed, false));
  return out;
}

std::vector<std::string> CacheStore::keys() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [key, packed] : items_) out.push_back(key);
  return out;
}

std::vector<ObjectPtr> CacheStore::by_index(const std::string& index_name,
                                            const std::string& value) const {
  std::vector<std::pair<std::string, PackedPtr>> entries;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto index = indices_.find(index_name);
    if (index == indices_.end()) return {};
    auto keys = index->second.find(value);
    if (keys == index->second.end()) return {};
    entries.reserve(keys->second.size());
    for (const std::string& key : keys->second) {
      auto it = items_.find(key);
      if (it != items_.end()) entries.emplace_back(key, it->second);
    }
  }
  std::vector<ObjectPtr> out;
  out.reserve(entries.size());
  for (const auto& [key, packed] : entries) out.push_back(decode(key, packed, false));
  return out;
}

std::size_t CacheStore::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return items_.size();
}

std::string CacheStore::resource_version() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return resource_version_;
}

std::size_t CacheStore::packed_bytes() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return packed_bytes_;
}

void CacheStore::replace(std::vector<PackedPtr> items, std::string resource_version,
                         const ChangeFn& on_change) {
  // A change before it is reported: the packed states, decoded only then.
  struct Pending {
    ChangeType type;
    PackedPtr old_packed;
    PackedPtr packed;
  };
  std::vector<Pending> pending;
  {
    std::lock_guard<std::mutex> write(write_mu_);
    // Writers are serialised by write_mu_, so items_, indices_ and indexers_
    // may be read here without mu_: only writers change them.
    Items next;
    next.reserve(items.size());
    std::size_t next_bytes = 0;
    // Indexes are updated incrementally from a copy, so unchanged objects
    // are never decoded: only what changed is unfiled (old) and filed (new).
    Indices next_indices = indices_;
    auto refile = [&](const std::string& key, const PackedPtr& old, const PackedPtr& now) {
      const ObjectPtr old_obj = old ? decode(key, old, false) : nullptr;
      const ObjectPtr new_obj = now ? unpack_object(*now) : nullptr;
      for (const auto& [name, fn] : indexers_) {
        if (old_obj) index_remove(next_indices[name], fn, key, *old_obj);
        if (new_obj) index_add(next_indices[name], fn, key, *new_obj);
      }
    };
    for (PackedPtr& packed : items) {
      if (!packed || next.count(packed->key) != 0) continue;
      const std::string& key = packed->key;
      auto old = items_.find(key);
      if (old == items_.end()) {
        refile(key, nullptr, packed);
        pending.push_back({ChangeType::Added, nullptr, packed});
      } else if (!old->second->resource_version.empty() &&
                 old->second->resource_version == packed->resource_version) {
        packed = old->second;  // unchanged: keep the stored encoding, decode nothing
      } else {
        refile(key, old->second, packed);
        pending.push_back({ChangeType::Updated, old->second, packed});
      }
      next_bytes += packed->cbor.size();
      next.emplace(key, std::move(packed));
    }
    for (const auto& [key, packed] : items_) {
      if (next.find(key) != next.end()) continue;
      refile(key, packed, nullptr);
      pending.push_back({ChangeType::Deleted, packed, packed});
    }
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      items_.swap(next);
      indices_.swap(next_indices);
      resource_version_ = std::move(resource_version);
      packed_bytes_ = next_bytes;
    }
    for (const Pending& p : pending) hot_erase(p.packed->key);
    // The previous contents are freed here, outside the readers' lock.
  }
  for (Pending& p : pending) {
    StoreChange change{p.type, nullptr, nullptr};
    if (p.type == ChangeType::Deleted) {
      change.obj = change.old_obj = unpack_object(*p.packed);
    } else {
      if (p.old_packed) change.old_obj = unpack_object(*p.old_packed);
      change.obj = unpack_object(*p.packed);
      // Reported objects are what handlers and their reconciles read next.
      hot_put(p.packed->key, change.obj);
    }
    p = Pending{};  // free the old encoding as soon as it has been reported
    on_change(change);
  }
}

std::vector<StoreChange> CacheStore::replace(std::vector<ObjectPtr> items,
                                             std::string resource_version) {
  std::vector<PackedPtr> packed;
  packed.reserve(items.size());
  for (const ObjectPtr& obj : items) {
    if (obj) packed.push_back(pack_object(*obj));
  }
  std::vector<StoreChange> changes;
  replace(std::move(packed), std::move(resource_version),
          [&changes](const StoreChange& c) { changes.push_back(c); });
  return changes;
}

std::optional<StoreChange> CacheStore::apply(ChangeType type, ObjectPtr obj) {
  if (!obj) return std::nullopt;
  std::lock_guard<std::mutex> write(write_mu_);
  const std::string key = object_key(*obj);
  if (key.empty()) return std::nullopt;
  std::string rv = resource_version_of(*obj);
  auto found = items_.find(key);
  PackedPtr old_packed = found == items_.end() ? nullptr : found->second;
  if (type != ChangeType::Deleted && old_packed && !rv.empty() &&
      old_packed->resource_version == rv) {
    return std::nullopt;
  }
  // Decoding and encoding happen before the readers' lock is taken.
  ObjectPtr old = old_packed ? decode(key, old_packed, false) : nullptr;
  PackedPtr packed = type == ChangeType::Deleted ? nullptr : pack_object(*obj);

  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (!rv.empty()) resource_version_ = rv;
    for (const auto& [name, fn] : indexers_) {
      Index& index = indices_[name];
      if (old) index_remove(index, fn, key, *old);
      if (packed) index_add(index, fn, key, *obj);
    }
    if (old_packed) packed_bytes_ -= old_packed->cbor.size();
    if (packed) {
      packed_bytes_ += packed->cbor.size();
      items_.insert_or_assign(key, std::move(packed));
    } else if (old_packed) {
      items_.erase(key);
    }
  }
  if (type == ChangeType::Deleted) {
    hot_erase(key);
    return StoreChange{ChangeType::Deleted, std::move(old), std::move(obj)};
  }
  hot_put(key, obj);
  return StoreChange{old ? ChangeType::Updated : ChangeType::Added, std::move(old), std::move(obj)};
}

void CacheStore::set_resource_version(std::string resource_version) {
  std::lock_guard<std::mutex> write(write_mu_);
  std::unique_lock<std::shared_mutex> lock(mu_);
  resource_version_ = std::move(resource_version);
}

}  // namespace frugal::kube
