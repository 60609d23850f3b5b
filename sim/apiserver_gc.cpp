// The server-side cleanup a real control plane runs as controllers: the
// garbage collector (ownerReferences, background/foreground/orphan), the
// namespace controller (deleting a namespace's contents), and the CRD
// finalizer (deleting a CRD's objects before the CRD). One worker thread,
// fed with the uids of objects whose state may need work.
#include <algorithm>

#include "sim/apiserver.h"

namespace kubesim {

namespace {

constexpr const char* kForeground = "foregroundDeletion";
constexpr const char* kOrphan = "orphan";
constexpr const char* kCrdCleanup = "customresourcecleanup.apiextensions.k8s.io";
constexpr const char* kCrdGroupResource = "customresourcedefinitions.apiextensions.k8s.io";

const json& meta(const json& obj) { return obj.at("metadata"); }

bool deleting(const json& obj) { return meta(obj).contains("deletionTimestamp"); }

bool has_fin(const json& obj, const std::string& f) {
  for (const auto& x : meta(obj).value("finalizers", json::array())) {
    if (x == f) return true;
  }
  return false;
}

json without_finalizer(json obj, const std::string& f) {
  json kept = json::array();
  for (const auto& x : meta(obj).value("finalizers", json::array())) {
    if (x != f) kept.push_back(x);
  }
  if (kept.empty()) {
    obj["metadata"].erase("finalizers");
  } else {
    obj["metadata"]["finalizers"] = kept;
  }
  return obj;
}

json without_owner(json obj, const std::string& uid) {
  json kept = json::array();
  for (const auto& r : meta(obj).value("ownerReferences", json::array())) {
    if (r.value("uid", "") != uid) kept.push_back(r);
  }
  if (kept.empty()) {
    obj["metadata"].erase("ownerReferences");
  } else {
    obj["metadata"]["ownerReferences"] = kept;
  }
  return obj;
}

}  // namespace

void ApiServer::gc_enqueue(const std::string& uid) {
  if (uid.empty()) return;
  {
    std::lock_guard lock(gc_mu_);
    gc_queue_.push_back(uid);
  }
  gc_cv_.notify_one();
}

void ApiServer::wait_gc_idle() {
  std::unique_lock lock(gc_mu_);
  gc_idle_cv_.wait(lock, [this] { return stopping_ || (gc_queue_.empty() && !gc_busy_); });
}

void ApiServer::gc_loop() {
  std::unique_lock lock(gc_mu_);
  while (true) {
    gc_cv_.wait(lock, [this] { return stopping_ || !gc_queue_.empty(); });
    if (stopping_) break;
    std::string uid = std::move(gc_queue_.front());
    gc_queue_.pop_front();
    gc_busy_ = true;
    lock.unlock();
    gc_process(uid);
    lock.lock();
    gc_busy_ = false;
    if (gc_queue_.empty()) gc_idle_cv_.notify_all();
  }
  gc_idle_cv_.notify_all();
}

void ApiServer::gc_process(const std::string& uid) {
  auto where = store_.find_uid(uid);
  if (where) {
    auto obj = store_.get(where->group_resource, where->ns, where->name);
    auto info = registry_.find_group_resource(where->group_resource);
    if (!obj || !info || !deleting(*obj)) return;
    if (info->group.empty() && info->resource == "namespaces") {
      cleanup_namespace(*obj);
      return;
    }
    if (where->group_resource == kCrdGroupResource && has_fin(*obj, kCrdCleanup)) {
      cleanup_crd(*obj);
      return;
    }
    WriteContext ctx;
    if (has_fin(*obj, kOrphan)) {
      for (const auto& dep : store_.dependents(uid)) {
        auto dep_info = registry_.find_group_resource(dep.group_resource);
        if (!dep_info) continue;
        (void)update_object(*dep_info, dep.ns, dep.name, false,
                            [&](const json& cur) -> Result<json> { return without_owner(cur, uid); },
                            ctx);
      }
      (void)update_object(*info, where->ns, where->name, false,
                          [&](const json& cur) -> Result<json> {
                            return without_finalizer(cur, kOrphan);
                          },
                          ctx);
      return;
    }
    if (has_fin(*obj, kForeground)) {
      size_t blocking = 0;
      for (const auto& dep : store_.dependents(uid)) {
        auto dep_obj = store_.get(dep.group_resource, dep.ns, dep.name);
        auto dep_info = registry_.find_group_resource(dep.group_resource);
        if (!dep_obj || !dep_info) continue;
        if (!deleting(*dep_obj)) {
          DeleteOptions opts;
          opts.propagation = "Foreground";
          bool gone = false;
          (void)delete_object(*dep_info, dep.ns, dep.name, opts, gone);
          if (gone) continue;
        }
        for (const auto& r : meta(*dep_obj).value("ownerReferences", json::array())) {
          if (r.value("uid", "") == uid && r.value("blockOwnerDeletion", false)) ++blocking;
        }
      }
      if (blocking == 0) {
        (void)update_object(*info, where->ns, where->name, false,
                            [&](const json& cur) -> Result<json> {
                              return without_finalizer(cur, kForeground);
                            },
                            ctx);
      }
    }
    return;
  }
  // The owner is gone: dependents with no other live owner go too.
  for (const auto& dep : store_.dependents(uid)) {
    auto dep_obj = store_.get(dep.group_resource, dep.ns, dep.name);
    auto dep_info = registry_.find_group_resource(dep.group_resource);
    if (!dep_obj || !dep_info) continue;
    bool other_owner = false;
    for (const auto& r : meta(*dep_obj).value("ownerReferences", json::array())) {
      const std::string other = r.value("uid", "");
      if (other != uid && store_.find_uid(other)) other_owner = true;
    }
    if (other_owner) {
      WriteContext ctx;
      (void)update_object(*dep_info, dep.ns, dep.name, false,
                          [&](const json& cur) -> Result<json> { return without_owner(cur, uid); },
                          ctx);
    } else if (!deleting(*dep_obj)) {
      DeleteOptions opts;
      opts.propagation = "Background";
      bool gone = false;
      (void)delete_object(*dep_info, dep.ns, dep.name, opts, gone);
    }
  }
}

void ApiServer::cleanup_namespace(const json& ns_obj) {
  const std::string ns = meta(ns_obj).value("name", "");
  auto contents = store_.in_namespace(ns);
  for (const auto& ref : contents) {
    auto info = registry_.find_group_resource(ref.group_resource);
    auto obj = store_.get(ref.group_resource, ref.ns, ref.name);
    if (!info || !obj || deleting(*obj)) continue;
    DeleteOptions opts;
    opts.propagation = "Background";
    bool gone = false;
    (void)delete_object(*info, ref.ns, ref.name, opts, gone);
  }
  if (!store_.in_namespace(ns).empty()) return;  // re-queued as each remaining object goes
  auto info = registry_.find_group_resource("namespaces");
  WriteContext ctx;
  (void)update_object(*info, "", ns, false,
                      [](const json& cur) -> Result<json> {
                        json obj = cur;
                        json kept = json::array();
                        for (const auto& f : cur.value("spec", json::object())
                                                 .value("finalizers", json::array())) {
                          if (f != "kubernetes") kept.push_back(f);
                        }
                        obj["spec"]["finalizers"] = kept;
                        return obj;
                      },
                      ctx);
}

void ApiServer::cleanup_crd(const json& crd) {
  const std::string name = meta(crd).value("name", "");  // plural.group: the group/resource
  auto info = registry_.find_group_resource(name);
  if (info) {
    auto page = store_.list(name, "", nullptr, 0, "", 0);
    if (page) {
      for (const auto& obj : page->items) {
        if (deleting(*obj)) continue;
        DeleteOptions opts;
        opts.propagation = "Background";
        bool gone = false;
        (void)delete_object(*info, meta(*obj).value("namespace", ""), meta(*obj).value("name", ""),
                            opts, gone);
      }
    }
    auto left = store_.list(name, "", nullptr, 0, "", 1);
    if (left && !left->items.empty()) return;  // re-queued as each remaining object goes
  }
  auto crd_info = registry_.find_group_resource(kCrdGroupResource);
  WriteContext ctx;
  (void)update_object(*crd_info, "", name, false,
                      [](const json& cur) -> Result<json> {
                        return without_finalizer(cur, kCrdCleanup);
                      },
                      ctx);
}

}  // namespace kubesim
