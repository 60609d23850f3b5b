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

CacheStore::CacheStore() {
  indexers_.emplace(kNamespaceIndex, namespace_values);
  indexers_.emplace(kOwnerUidIndex, owner_uid_values);
  for (const auto& [name, fn] : indexers_) indices_[name];
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
  for (const auto& [key, obj] : items_) index_add(index, fn, key, *obj);
  std::unique_lock<std::shared_mutex> lock(mu_);
  indexers_[name] = std::move(fn);
  indices_[name] = std::move(index);
}

ObjectPtr CacheStore::get(const std::string& key) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> CacheStore::list() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(items_.size());
  for (const auto& [key, obj] : items_) out.push_back(obj);
  return out;
}

std::vector<std::string> CacheStore::keys() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [key, obj] : items_) out.push_back(key);
  return out;
}

std::vector<ObjectPtr> CacheStore::by_index(const std::string& index_name,
                                            const std::string& value) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<ObjectPtr> out;
  auto index = indices_.find(index_name);
  if (index == indices_.end()) return out;
  auto keys = index->second.find(value);
  if (keys == index->second.end()) return out;
  out.reserve(keys->second.size());
  for (const std::string& key : keys->second) {
    auto it = items_.find(key);
    if (it != items_.end()) out.push_back(it->second);
  }
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

std::vector<StoreChange> CacheStore::replace(std::vector<ObjectPtr> items,
                                             std::string resource_version) {
  std::lock_guard<std::mutex> write(write_mu_);
  // Writers are serialised by write_mu_, so items_ and indexers_ may be read
  // here without mu_: only writers change them.
  std::vector<StoreChange> changes;
  Items next;
  next.reserve(items.size());
  for (ObjectPtr& obj : items) {
    if (!obj) continue;
    std::string key = object_key(*obj);
    if (key.empty()) continue;
    auto old = items_.find(key);
    if (old == items_.end()) {
      changes.push_back({ChangeType::Added, nullptr, obj});
    } else {
      const std::string old_rv = resource_version_of(*old->second);
      if (!old_rv.empty() && old_rv == resource_version_of(*obj)) {
        obj = old->second;  // unchanged: keep sharing the cached object
      } else {
        changes.push_back({ChangeType::Updated, old->second, obj});
      }
    }
    next.insert_or_assign(std::move(key), std::move(obj));
  }
  for (const auto& [key, obj] : items_) {
    if (next.find(key) == next.end()) changes.push_back({ChangeType::Deleted, obj, obj});
  }
  Indices next_indices;
  for (const auto& [name, fn] : indexers_) {
    Index& index = next_indices[name];
    for (const auto& [key, obj] : next) index_add(index, fn, key, *obj);
  }
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    items_.swap(next);
    indices_.swap(next_indices);
    resource_version_ = std::move(resource_version);
  }
  // The previous contents are freed here, outside the readers' lock.
  return changes;
}

std::optional<StoreChange> CacheStore::apply(ChangeType type, ObjectPtr obj) {
  if (!obj) return std::nullopt;
  std::lock_guard<std::mutex> write(write_mu_);
  const std::string key = object_key(*obj);
  if (key.empty()) return std::nullopt;
  std::string rv = resource_version_of(*obj);
  auto found = items_.find(key);
  ObjectPtr old = found == items_.end() ? nullptr : found->second;

  std::unique_lock<std::shared_mutex> lock(mu_);
  if (!rv.empty()) resource_version_ = rv;
  if (type == ChangeType::Deleted) {
    if (old) {
      for (const auto& [name, fn] : indexers_) index_remove(indices_[name], fn, key, *old);
      items_.erase(found);
    }
    return StoreChange{ChangeType::Deleted, old, std::move(obj)};
  }
  if (old && !rv.empty() && resource_version_of(*old) == rv) return std::nullopt;
  for (const auto& [name, fn] : indexers_) {
    Index& index = indices_[name];
    if (old) index_remove(index, fn, key, *old);
    index_add(index, fn, key, *obj);
  }
  items_.insert_or_assign(key, obj);
  return StoreChange{old ? ChangeType::Updated : ChangeType::Added, std::move(old), std::move(obj)};
}

void CacheStore::set_resource_version(std::string resource_version) {
  std::lock_guard<std::mutex> write(write_mu_);
  std::unique_lock<std::shared_mutex> lock(mu_);
  resource_version_ = std::move(resource_version);
}

}  // namespace frugal::kube
