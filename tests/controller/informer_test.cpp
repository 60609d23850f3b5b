// The cache store (keys, diffs, indexes, transform) and the informer's
// list-then-watch loop against a scripted ListerWatcher: pagination,
// bookmarks, 410 relists with their diff, backoff on failures, and prompt
// shutdown. Time is a FakeClock; the only real waiting is deadline-bounded
// polls for the informer thread to reach a state.
#include "controller/kube/informer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "controller/kube/cache_store.h"
#include "controller/kube/lister_watcher.h"
#include "sim/apiserver.h"
#include "sim/http_server.h"
#include "tests/support/poll.h"

namespace frugal::kube {
namespace {

using frugal::testing::spin_until;

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// Upper bound on how long a poll waits for another thread to reach a state.
// Generous because TSan slows threads down; polls normally end at once.
constexpr auto kPollLimit = seconds(30);

// ---- objects ----

json pod(const std::string& ns, const std::string& name, const std::string& rv) {
  json obj = {{"metadata", {{"name", name}, {"resourceVersion", rv}}},
              {"spec", {{"nodeName", "n1"}}}};
  if (!ns.empty()) obj["metadata"]["namespace"] = ns;
  return obj;
}

json owned_pod(const std::string& ns, const std::string& name, const std::string& rv,
               const std::string& owner_uid) {
  json obj = pod(ns, name, rv);
  obj["metadata"]["ownerReferences"] = json::array({{{"apiVersion", "apps/v1"},
                                                     {"kind", "ReplicaSet"},
                                                     {"name", "rs"},
                                                     {"uid", owner_uid},
                                                     {"controller", true}}});
  return obj;
}

json pod_list(std::vector<json> items, const std::string& rv, const std::string& cont = {}) {
  json list = {{"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", json::object()}};
  list["items"] = json::array();
  for (json& item : items) list["items"].push_back(std::move(item));
  if (cont.empty()) {
    list["metadata"]["resourceVersion"] = rv;
  } else {
    list["metadata"]["continue"] = cont;
    list["metadata"]["resourceVersion"] = rv;
  }
  return list;
}

json bookmark(const std::string& rv) {
  return {{"kind", "Pod"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", rv}}}};
}

json status(int code, const std::string& reason) {
  return {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
          {"code", code},     {"reason", reason},   {"message", "scripted"}};
}

Error http_error(int code, const std::string& reason) {
  Error e;
  e.http_status = code;
  e.reason = reason;
  e.message = "scripted";
  return e;
}

Error transport_error() {
  Error e;
  e.transport = true;
  e.message = "connection reset by peer";
  return e;
}

std::vector<std::string> keys_of(const std::vector<ObjectPtr>& objs) {
  std::vector<std::string> keys;
  for (const ObjectPtr& obj : objs) keys.push_back(object_key(*obj));
  std::sort(keys.begin(), keys.end());
  return keys;
}

using Strings = std::vector<std::string>;

// ---- a scripted ListerWatcher ----

// LIST answers are consumed in order; with none left, list fails as if the
// server were unreachable. Watch calls consume one shared FIFO of actions:
// an event is delivered, an end returns from the current watch call. An
// empty FIFO blocks the watch until the test adds more or the informer stops.
class FakeListerWatcher final : public ListerWatcher {
 public:
  void push_list(Result<json> answer) {
    std::lock_guard<std::mutex> lock(mu_);
    lists_.push_back(std::move(answer));
  }
  void push_event(const std::string& type, json object) {
    push(Action{false, WatchEvent{type, std::move(object)}, {}});
  }
  void push_end(Result<void> result = {}) { push(Action{true, {}, std::move(result)}); }

  std::vector<ListOptions> list_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return list_calls_;
  }
  std::vector<ListOptions> watch_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_calls_;
  }
  std::size_t list_count() const { return list_calls().size(); }
  std::size_t watch_count() const { return watch_calls().size(); }
  // Inside watch call number `n` (1-based), every scripted action consumed and handled.
  bool parked_in_watch(std::size_t n) const {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_calls_.size() == n && in_watch_ && !delivering_ && actions_.empty();
  }

  Result<json> list(const ListOptions& opts) override {
    std::lock_guard<std::mutex> lock(mu_);
    list_calls_.push_back(opts);
    if (lists_.empty()) return Unexpected(transport_error());
    Result<json> answer = std::move(lists_.front());
    lists_.pop_front();
    return answer;
  }

  Result<void> watch(const ListOptions& opts, const WatchEventFn& on_event,
                     const std::atomic<bool>& stop) override {
    std::unique_lock<std::mutex> lock(mu_);
    watch_calls_.push_back(opts);
    in_watch_ = true;
    while (true) {
      // The stop flag comes with no notification, so it is polled, as the
      // real client does.
      cv_.wait_for(lock, milliseconds(1), [&] { return !actions_.empty() || stop.load(); });
      if (stop.load()) break;
      if (actions_.empty()) continue;
      Action action = std::move(actions_.front());
      actions_.pop_front();
      if (action.end) {
        in_watch_ = false;
        return action.result;
      }
      delivering_ = true;
      lock.unlock();
      const bool more = on_event(std::move(action.event));
      lock.lock();
      delivering_ = false;
      if (!more) break;
    }
    in_watch_ = false;
    return {};
  }

 private:
  struct Action {
    bool end = false;
    WatchEvent event;
    Result<void> result;
  };
  void push(Action action) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      actions_.push_back(std::move(action));
    }
    cv_.notify_all();
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Result<json>> lists_;
  std::deque<Action> actions_;
  std::vector<ListOptions> list_calls_;
  std::vector<ListOptions> watch_calls_;
  bool in_watch_ = false;
  bool delivering_ = false;
};

// ---- recorders ----

class Recorder {
 public:
  EventHandler handler() {
    return EventHandler{
        [this](const ObjectPtr& obj) { record("add " + label(*obj)); },
        [this](const ObjectPtr& old_obj, const ObjectPtr& new_obj) {
          record("update " + label(*old_obj) + " -> " + resource_version_of(*new_obj));
        },
        [this](const ObjectPtr& obj) { record("delete " + label(*obj)); }};
  }
  Strings events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::size_t count() const { return events().size(); }
  std::thread::id last_thread() const {
    std::lock_guard<std::mutex> lock(mu_);
    return thread_;
  }

 private:
  static std::string label(const json& obj) {
    return object_key(obj) + "@" + resource_version_of(obj);
  }
  void record(std::string event) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(event));
    thread_ = std::this_thread::get_id();
  }
  mutable std::mutex mu_;
  Strings events_;
  std::thread::id thread_;
};

class RecordingObserver final : public InformerObserver {
 public:
  void on_watch_restart(const std::string& resource, const std::string& reason) override {
    std::lock_guard<std::mutex> lock(mu_);
    restarts_.push_back(resource + ":" + reason);
  }
  void on_error(const std::string&, const std::string& verb, const Error& error) override {
    std::lock_guard<std::mutex> lock(mu_);
    errors_.push_back(verb + ":" + std::to_string(error.http_status));
  }
  void on_backoff(const std::string&, nanoseconds delay) override {
    std::lock_guard<std::mutex> lock(mu_);
    backoffs_.push_back(delay);
  }
  void on_list(const std::string&, std::size_t objects, int pages) override {
    std::lock_guard<std::mutex> lock(mu_);
    lists_.push_back(std::to_string(objects) + " objects in " + std::to_string(pages));
  }
  Strings restarts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return restarts_;
  }
  Strings errors() const {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_;
  }
  std::vector<nanoseconds> backoffs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return backoffs_;
  }
  Strings lists() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lists_;
  }

 private:
  mutable std::mutex mu_;
  Strings restarts_;
  Strings errors_;
  std::vector<nanoseconds> backoffs_;
  Strings lists_;
};

// An informer on a FakeClock over the fake, with a recording handler and
// observer. Members are destroyed in reverse order: the informer (joining
// its thread) goes before what it uses.
struct Harness {
  FakeClock clock;
  FakeListerWatcher lw;
  RecordingObserver observer;
  Recorder recorder;
  std::unique_ptr<Informer> informer;

  explicit Harness(InformerOptions options = {}) {
    options.name = "pods";
    options.clock = &clock;
    options.observer = &observer;
    if (!options.random) options.random = [] { return 0.5; };
    informer = std::make_unique<Informer>(lw, std::move(options));
    informer->add_handler(recorder.handler());
  }

  // The informer thread is parked in a backoff wait on the fake clock.
  bool in_backoff(std::size_t nth) const {
    return observer.backoffs().size() == nth && clock.num_waiters() == 1;
  }
};

// ---- CacheStore ----

TEST(CacheStore, KeysAreNamespaceSlashNameOrJustNameWhenClusterScoped) {
  EXPECT_EQ(object_key(pod("ml", "a", "1")), "ml/a");
  EXPECT_EQ(object_key(pod("", "node-1", "1")), "node-1");
  EXPECT_EQ(object_key(json{{"metadata", json::object()}}), "");
  EXPECT_EQ(object_key(json::array()), "");
}

TEST(CacheStore, ReplaceReportsTheDiffAndKeepsUnchangedObjectsShared) {
  CacheStore store;
  auto first = store.replace({std::make_shared<const json>(pod("ml", "a", "1")),
                              std::make_shared<const json>(pod("ml", "b", "1")),
                              std::make_shared<const json>(pod("ml", "c", "1"))},
                             "10");
  ASSERT_EQ(first.size(), 3u);
  for (const StoreChange& c : first) EXPECT_EQ(c.type, ChangeType::Added);
  const ObjectPtr a_before = store.get("ml/a");

  auto changes = store.replace({std::make_shared<const json>(pod("ml", "a", "1")),
                                std::make_shared<const json>(pod("ml", "b", "7")),
                                std::make_shared<const json>(pod("ml", "d", "8"))},
                               "20");
  Strings seen;
  for (const StoreChange& c : changes) {
    const std::string key = object_key(*c.obj);
    switch (c.type) {
      case ChangeType::Added:
        seen.push_back("added " + key);
        EXPECT_EQ(c.old_obj, nullptr);
        break;
      case ChangeType::Updated:
        seen.push_back("updated " + key + " " + resource_version_of(*c.old_obj) + "->" +
                       resource_version_of(*c.obj));
        break;
      case ChangeType::Deleted:
        seen.push_back("deleted " + key + "@" + resource_version_of(*c.obj));
        break;
    }
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (Strings{"added ml/d", "deleted ml/c@1", "updated ml/b 1->7"}));
  EXPECT_EQ(store.get("ml/a"), a_before) << "an unchanged object keeps its cached pointer";
  EXPECT_EQ(store.get("ml/c"), nullptr);
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.resource_version(), "20");
}

TEST(CacheStore, ApplyUpsertsByKeyAndIgnoresARepeatedResourceVersion) {
  CacheStore store;
  auto added = store.apply(ChangeType::Updated, std::make_shared<const json>(pod("ml", "a", "1")));
  ASSERT_TRUE(added);
  EXPECT_EQ(added->type, ChangeType::Added) << "MODIFIED of an unknown key is an add";
  auto updated = store.apply(ChangeType::Added, std::make_shared<const json>(pod("ml", "a", "2")));
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->type, ChangeType::Updated) << "ADDED of a known key is an update";
  EXPECT_EQ(resource_version_of(*updated->old_obj), "1");
  EXPECT_FALSE(store.apply(ChangeType::Updated, std::make_shared<const json>(pod("ml", "a", "2"))));
  EXPECT_EQ(store.resource_version(), "2");

  auto deleted =
      store.apply(ChangeType::Deleted, std::make_shared<const json>(pod("ml", "a", "3")));
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->type, ChangeType::Deleted);
  EXPECT_EQ(resource_version_of(*deleted->obj), "3") << "the DELETED event's state is the last";
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.resource_version(), "3");
}

TEST(CacheStore, HotObjectsAreSharedNotCopied) {
  CacheStore store;
  auto obj = std::make_shared<const json>(owned_pod("ml", "a", "1", "u1"));
  ASSERT_TRUE(store.apply(ChangeType::Added, obj));
  EXPECT_EQ(store.get("ml/a").get(), obj.get());
  EXPECT_EQ(store.list().at(0).get(), obj.get());
  EXPECT_EQ(store.by_index(kNamespaceIndex, "ml").at(0).get(), obj.get());
  EXPECT_EQ(store.by_index(kOwnerUidIndex, "u1").at(0).get(), obj.get());
}

TEST(CacheStore, ObjectsOutsideTheHotSetAreKeptPackedAndDecodedWhole) {
  CacheStore store(CacheStoreOptions{.hot_objects = 1});
  json a = owned_pod("ml", "a", "1", "u1");
  a["spec"]["numbers"] = {1, -2, 3.5, 1e300};
  a["spec"]["text"] = "UTF-8 \u00e9\u4e2d \"quoted\"";
  a["spec"]["nothing"] = nullptr;
  auto first = std::make_shared<const json>(a);
  ASSERT_TRUE(store.apply(ChangeType::Added, first));
  ASSERT_TRUE(store.apply(ChangeType::Added, std::make_shared<const json>(pod("ml", "b", "2"))));
  const ObjectPtr decoded = store.get("ml/a");  // b pushed a out of the hot set
  ASSERT_NE(decoded, nullptr);
  EXPECT_NE(decoded.get(), first.get());
  EXPECT_EQ(*decoded, a);
  EXPECT_EQ(store.get("ml/a").get(), decoded.get()) << "a read puts the object in the hot set";
  EXPECT_LT(store.packed_bytes(), a.dump().size() + pod("ml", "b", "2").dump().size());
  EXPECT_GT(store.packed_bytes(), 0u);
}

TEST(CacheStore, TheHotSetNeverServesAnOlderVersion) {
  CacheStore store(CacheStoreOptions{.hot_objects = 4});
  (void)store.apply(ChangeType::Added, std::make_shared<const json>(pod("ml", "a", "1")));
  ASSERT_EQ(resource_version_of(*store.get("ml/a")), "1");
  store.replace({std::make_shared<const json>(pod("ml", "a", "2"))}, "2");
  EXPECT_EQ(resource_version_of(*store.get("ml/a")), "2");
  (void)store.apply(ChangeType::Deleted, std::make_shared<const json>(pod("ml", "a", "3")));
  EXPECT_EQ(store.get("ml/a"), nullptr);
  EXPECT_EQ(store.packed_bytes(), 0u);
}

TEST(CacheStore, NamespaceAndOwnerIndexesFollowUpdatesDeletesAndReplace) {
  CacheStore store;
  (void)store.apply(ChangeType::Added,
                    std::make_shared<const json>(owned_pod("ml", "a", "1", "u1")));
  (void)store.apply(ChangeType::Added,
                    std::make_shared<const json>(owned_pod("ml", "b", "2", "u1")));
  (void)store.apply(ChangeType::Added,
                    std::make_shared<const json>(owned_pod("web", "c", "3", "u2")));
  (void)store.apply(ChangeType::Added, std::make_shared<const json>(pod("", "node-1", "4")));
  EXPECT_EQ(keys_of(store.by_index(kNamespaceIndex, "ml")), (Strings{"ml/a", "ml/b"}));
  EXPECT_EQ(keys_of(store.by_index(kOwnerUidIndex, "u1")), (Strings{"ml/a", "ml/b"}));
  EXPECT_TRUE(store.by_index(kNamespaceIndex, "").empty()) << "cluster-scoped: not indexed";

  // a changes owner; b is deleted.
  (void)store.apply(ChangeType::Updated,
                    std::make_shared<const json>(owned_pod("ml", "a", "5", "u2")));
  (void)store.apply(ChangeType::Deleted,
                    std::make_shared<const json>(owned_pod("ml", "b", "6", "u1")));
  EXPECT_TRUE(store.by_index(kOwnerUidIndex, "u1").empty());
  EXPECT_EQ(keys_of(store.by_index(kOwnerUidIndex, "u2")), (Strings{"ml/a", "web/c"}));
  EXPECT_EQ(keys_of(store.by_index(kNamespaceIndex, "ml")), (Strings{"ml/a"}));

  store.replace({std::make_shared<const json>(owned_pod("web", "c", "7", "u3"))}, "9");
  EXPECT_TRUE(store.by_index(kNamespaceIndex, "ml").empty());
  EXPECT_TRUE(store.by_index(kOwnerUidIndex, "u2").empty());
  EXPECT_EQ(keys_of(store.by_index(kOwnerUidIndex, "u3")), (Strings{"web/c"}));
  EXPECT_TRUE(store.by_index("no-such-index", "x").empty());
}

TEST(CacheStore, LabelIndexAddedLaterFilesExistingObjects) {
  CacheStore store;
  json a = pod("ml", "a", "1");
  a["metadata"]["labels"] = {{"team", "vision"}};
  json b = pod("ml", "b", "2");
  b["metadata"]["labels"] = {{"team", "nlp"}};
  (void)store.apply(ChangeType::Added, std::make_shared<const json>(a));
  (void)store.apply(ChangeType::Added, std::make_shared<const json>(b));
  store.add_index("team", label_index("team"));
  EXPECT_EQ(keys_of(store.by_index("team", "vision")), (Strings{"ml/a"}));

  b["metadata"]["labels"]["team"] = "vision";
  b["metadata"]["resourceVersion"] = "3";
  (void)store.apply(ChangeType::Updated, std::make_shared<const json>(b));
  EXPECT_EQ(keys_of(store.by_index("team", "vision")), (Strings{"ml/a", "ml/b"}));
  EXPECT_TRUE(store.by_index("team", "nlp").empty());
}

TEST(CacheStore, StripUnusedFieldsDropsManagedFieldsAndLastAppliedOnly) {
  json obj = pod("ml", "a", "1");
  obj["metadata"]["managedFields"] = json::array({{{"manager", "kubectl"}}});
  obj["metadata"]["annotations"] = {
      {"kubectl.kubernetes.io/last-applied-configuration", "{\"big\":true}"},
      {"frugal.dev/keep", "yes"}};
  strip_unused_fields(obj);
  EXPECT_FALSE(obj["metadata"].contains("managedFields"));
  EXPECT_EQ(obj["metadata"]["annotations"], (json{{"frugal.dev/keep", "yes"}}));
  EXPECT_EQ(obj["spec"]["nodeName"], "n1");

  json only_last_applied = pod("ml", "b", "1");
  only_last_applied["metadata"]["annotations"] = {
      {"kubectl.kubernetes.io/last-applied-configuration", "{}"}};
  strip_unused_fields(only_last_applied);
  EXPECT_FALSE(only_last_applied["metadata"].contains("annotations"));
  json not_an_object = "x";
  strip_unused_fields(not_an_object);  // no crash
}

TEST(CacheStore, ReadersSeeWholeSnapshotsWhileAWriterReplaces) {
  CacheStore store;
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!done.load()) {
      // Every replace lists a and b at the same resourceVersion.
      const std::vector<ObjectPtr> ml = store.by_index(kNamespaceIndex, "ml");
      if (ml.size() == 2 && resource_version_of(*ml[0]) != resource_version_of(*ml[1])) ++torn;
      (void)store.get("ml/a");
    }
  });
  for (int i = 1; i <= 200; ++i) {
    const std::string rv = std::to_string(i);
    store.replace({std::make_shared<const json>(pod("ml", "a", rv)),
                   std::make_shared<const json>(pod("ml", "b", rv))},
                  rv);
  }
  done = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(store.resource_version(), "200");
}

// ---- Informer: list, watch, handlers ----

TEST(Informer, InitialPaginatedListFillsStoreFiresAddsThenSyncs) {
  Harness h;
  h.lw.push_list(pod_list({pod("ml", "a", "1"), pod("ml", "b", "2")}, "10", "tok-1"));
  h.lw.push_list(pod_list({pod("ml", "c", "3")}, "10"));
  h.informer->start();
  ASSERT_TRUE(h.informer->wait_for_sync(h.clock.now() + seconds(60)));
  EXPECT_EQ(h.recorder.events(), (Strings{"add ml/a@1", "add ml/b@2", "add ml/c@3"}))
      << "every handler call has happened when has_synced() turns true";

  const auto lists = h.lw.list_calls();
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_EQ(lists[0].limit, kDefaultListPageSize);
  EXPECT_EQ(lists[0].continue_token, "");
  EXPECT_EQ(lists[0].resource_version, "");
  EXPECT_EQ(lists[1].limit, kDefaultListPageSize);
  EXPECT_EQ(lists[1].continue_token, "tok-1");
  EXPECT_EQ(lists[1].resource_version, "");

  EXPECT_EQ(h.informer->store().size(), 3u);
  EXPECT_EQ(h.informer->store().resource_version(), "10");
  const ObjectPtr a = h.informer->store().get("ml/a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ((*a)["kind"], "Pod") << "list items get the kind and apiVersion watch events carry";
  EXPECT_EQ((*a)["apiVersion"], "v1");
  EXPECT_EQ(h.observer.lists(), (Strings{"3 objects in 2"}));
  EXPECT_NE(h.recorder.last_thread(), std::this_thread::get_id());
}

TEST(Informer, WatchEventsUpdateStoreThenFireHandlersInOrder) {
  Harness h;
  h.lw.push_list(pod_list({pod("ml", "a", "1")}, "10"));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));

  // Each handler sees the store already updated.
  std::atomic<int> mismatches{0};
  h.informer->add_handler(EventHandler{[&](const ObjectPtr& obj) {
                                         if (h.informer->store().get(object_key(*obj)) != obj)
                                           ++mismatches;
                                       },
                                       [&](const ObjectPtr&, const ObjectPtr& obj) {
                                         if (h.informer->store().get(object_key(*obj)) != obj)
                                           ++mismatches;
                                       },
                                       [&](const ObjectPtr& obj) {
                                         if (h.informer->store().get(object_key(*obj)) != nullptr)
                                           ++mismatches;
                                       }});

  h.lw.push_event("ADDED", pod("ml", "b", "11"));
  h.lw.push_event("MODIFIED", pod("ml", "a", "12"));
  h.lw.push_event("DELETED", pod("ml", "b", "13"));
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));
  EXPECT_EQ(h.recorder.events(),
            (Strings{"add ml/a@1", "add ml/b@11", "update ml/a@1 -> 12", "delete ml/b@13"}));
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(h.informer->store().keys(), (Strings{"ml/a"}));
  EXPECT_EQ(h.informer->store().resource_version(), "13");
  EXPECT_TRUE(h.observer.restarts().empty());
}

TEST(Informer, HandlerAddedAfterSyncGetsCachedObjectsAsAdds) {
  Harness h;
  h.lw.push_list(pod_list({pod("ml", "a", "1"), pod("ml", "b", "2")}, "10"));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));
  Recorder late;
  h.informer->add_handler(late.handler());
  Strings replayed = late.events();
  std::sort(replayed.begin(), replayed.end());
  EXPECT_EQ(replayed, (Strings{"add ml/a@1", "add ml/b@2"}));
  h.lw.push_event("ADDED", pod("ml", "c", "11"));
  ASSERT_TRUE(spin_until([&] { return late.count() == 3; }));
  EXPECT_EQ(late.events().back(), "add ml/c@11");
}

TEST(Informer, AThrowingHandlerIsReportedAndLaterHandlersStillRun) {
  Harness h;
  h.informer->add_handler(
      EventHandler{[](const ObjectPtr&) { throw std::runtime_error("boom"); }, nullptr, nullptr});
  Recorder after;
  h.informer->add_handler(after.handler());
  h.lw.push_list(pod_list({pod("ml", "a", "1")}, "10"));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));
  EXPECT_EQ(after.events(), (Strings{"add ml/a@1"}));
  EXPECT_EQ(h.observer.errors(), (Strings{"handler:0"}));
}

TEST(Informer, TransformDropsManagedFieldsFromListedAndWatchedObjects) {
  Harness h;  // default transform: strip_unused_fields
  json listed = pod("ml", "a", "1");
  listed["metadata"]["managedFields"] = json::array({{{"manager", "kubectl"}}});
  h.lw.push_list(pod_list({listed}, "10"));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));
  json watched = pod("ml", "b", "11");
  watched["metadata"]["managedFields"] = json::array({{{"manager", "frugal"}}});
  watched["metadata"]["annotations"] = {{"kubectl.kubernetes.io/last-applied-configuration", "{}"}};
  h.lw.push_event("ADDED", watched);
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));
  for (const char* key : {"ml/a", "ml/b"}) {
    const ObjectPtr obj = h.informer->store().get(key);
    ASSERT_NE(obj, nullptr) << key;
    EXPECT_FALSE((*obj)["metadata"].contains("managedFields")) << key;
    EXPECT_FALSE((*obj)["metadata"].contains("annotations")) << key;
  }
}

TEST(Informer, NullTransformKeepsObjectsWhole) {
  InformerOptions options;
  options.transform = nullptr;
  Harness h(std::move(options));
  json listed = pod("ml", "a", "1");
  listed["metadata"]["managedFields"] = json::array();
  h.lw.push_list(pod_list({listed}, "10"));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));
  EXPECT_TRUE((*h.informer->store().get("ml/a"))["metadata"].contains("managedFields"));
}

TEST(Informer, IndexesStayCorrectThroughWatchUpdatesAndDeletes) {
  Harness h;
  h.informer->add_index("team", label_index("team"));
  json a = owned_pod("ml", "a", "1", "u1");
  a["metadata"]["labels"] = {{"team", "vision"}};
  h.lw.push_list(pod_list({a, owned_pod("ml", "b", "2", "u1")}, "10"));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));
  const CacheStore& store = h.informer->store();
  EXPECT_EQ(keys_of(store.by_index(kOwnerUidIndex, "u1")), (Strings{"ml/a", "ml/b"}));
  EXPECT_EQ(keys_of(store.by_index("team", "vision")), (Strings{"ml/a"}));

  json moved = owned_pod("web", "a", "11", "u2");  // same name, other namespace: a new key
  h.lw.push_event("ADDED", moved);
  json relabelled = owned_pod("ml", "a", "12", "u2");
  relabelled["metadata"]["labels"] = {{"team", "nlp"}};
  h.lw.push_event("MODIFIED", relabelled);
  h.lw.push_event("DELETED", owned_pod("ml", "b", "13", "u1"));
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));
  EXPECT_TRUE(store.by_index(kOwnerUidIndex, "u1").empty());
  EXPECT_EQ(keys_of(store.by_index(kOwnerUidIndex, "u2")), (Strings{"ml/a", "web/a"}));
  EXPECT_EQ(keys_of(store.by_index(kNamespaceIndex, "ml")), (Strings{"ml/a"}));
  EXPECT_EQ(keys_of(store.by_index(kNamespaceIndex, "web")), (Strings{"web/a"}));
  EXPECT_TRUE(store.by_index("team", "vision").empty());
  EXPECT_EQ(keys_of(store.by_index("team", "nlp")), (Strings{"ml/a"}));
}

TEST(Informer, WaitForSyncTimesOutOnTheInjectedClock) {
  Harness h;  // no list answer: the informer keeps backing off
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.in_backoff(1); }));
  std::atomic<int> result{-1};
  std::thread waiter(
      [&] { result = h.informer->wait_for_sync(h.clock.now() + seconds(10)) ? 1 : 0; });
  ASSERT_TRUE(spin_until([&] { return h.clock.num_waiters() == 2; }));
  EXPECT_EQ(result.load(), -1);
  h.clock.advance(seconds(10));
  waiter.join();
  EXPECT_EQ(result.load(), 0);
  EXPECT_FALSE(h.informer->has_synced());
}

TEST(Informer, StopReturnsPromptlyFromAWatchAndFromABackoff) {
  {
    Harness h;
    h.lw.push_list(pod_list({}, "10"));
    h.informer->start();
    ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));
    const auto before = std::chrono::steady_clock::now();
    h.informer->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - before, seconds(5));
    h.informer->stop();  // idempotent
  }
  {
    Harness h;  // list fails: parked in a 30 s-scale backoff on a clock nobody advances
    h.informer->start();
    ASSERT_TRUE(spin_until([&] { return h.in_backoff(1); }));
    const auto before = std::chrono::steady_clock::now();
    h.informer->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - before, seconds(5));
  }
  {
    // run() on the caller's thread ends when its stop_token is triggered.
    Harness h;
    h.lw.push_list(pod_list({}, "10"));
    std::jthread runner([&](std::stop_token token) { h.informer->run(token); });
    ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));
    runner.request_stop();
    runner.join();
  }
}

// ---- Reflector: resourceVersions, restarts, relists, backoff ----

TEST(Reflector, WatchStartsFromListRvWithBookmarksAndAJitteredTimeout) {
  Harness h;  // random() == 0.5
  h.lw.push_list(pod_list({pod("ml", "a", "1")}, "10"));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));
  const ListOptions w = h.lw.watch_calls().at(0);
  EXPECT_EQ(w.resource_version, "10");
  EXPECT_TRUE(w.allow_watch_bookmarks);
  EXPECT_EQ(w.timeout_seconds, 450) << "minWatchTimeout * (1 + 0.5)";
  EXPECT_EQ(w.limit, 0);
  EXPECT_EQ(w.continue_token, "");
}

TEST(Reflector, WatchTimeoutIsBetweenFiveAndTenMinutes) {
  InformerOptions options;
  options.random = [] { return 0.999999; };
  Harness h(std::move(options));
  h.lw.push_list(pod_list({}, "10"));
  h.lw.push_event("BOOKMARK", bookmark("11"));
  h.lw.push_end();
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(2); }));
  for (const ListOptions& w : h.lw.watch_calls()) {
    EXPECT_GE(w.timeout_seconds, 300);
    EXPECT_LT(w.timeout_seconds, 600);
  }
}

TEST(Reflector, BookmarkAdvancesTheResourceVersionTheNextWatchStartsFrom) {
  Harness h;
  h.lw.push_list(pod_list({pod("ml", "a", "1")}, "10"));
  h.lw.push_event("MODIFIED", pod("ml", "a", "12"));
  h.lw.push_event("BOOKMARK", bookmark("50"));
  h.lw.push_end();  // the server's timeoutSeconds ran out
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(2); }));
  EXPECT_EQ(h.lw.watch_calls().at(1).resource_version, "50");
  EXPECT_EQ(h.observer.restarts(), (Strings{"pods:closed"}));
  EXPECT_TRUE(h.observer.backoffs().empty()) << "a normal close re-watches at once";
  EXPECT_EQ(h.lw.list_count(), 1u);
  EXPECT_EQ(h.recorder.events(), (Strings{"add ml/a@1", "update ml/a@1 -> 12"}))
      << "a bookmark is not an event for handlers";
}

TEST(Reflector, AnInstantEmptyCloseBacksOffBeforeRewatching) {
  Harness h;
  h.lw.push_list(pod_list({}, "10"));
  h.lw.push_end();  // no events, no time: client-go's "very short watch"
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.in_backoff(1); }));
  EXPECT_EQ(h.lw.watch_count(), 1u);
  h.clock.advance(h.observer.backoffs().at(0));
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(2); }));
  EXPECT_EQ(h.lw.watch_calls().at(1).resource_version, "10");
  EXPECT_EQ(h.observer.restarts(), (Strings{"pods:closed"}));
}

TEST(Reflector, ExpiredErrorEventRelistsAndTheDiffCarriesWhatWasMissed) {
  Harness h;
  h.lw.push_list(pod_list({pod("ml", "a", "1"), pod("ml", "b", "2"), pod("ml", "c", "3")}, "10"));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));

  // While the watch was behind: b changed, c was deleted, d was created.
  h.lw.push_list(pod_list({pod("ml", "a", "1"), pod("ml", "b", "20"), pod("ml", "d", "21")}, "30"));
  h.lw.push_event("ERROR", status(410, "Expired"));
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(2); }));

  const Strings events = h.recorder.events();
  ASSERT_EQ(events.size(), 6u);
  Strings relist(events.begin() + 3, events.end());
  std::sort(relist.begin(), relist.end());
  EXPECT_EQ(relist, (Strings{"add ml/d@21", "delete ml/c@3", "update ml/b@2 -> 20"}))
      << "a relist delivers deletions with the last known object, and nothing for unchanged a";
  EXPECT_EQ(h.observer.restarts(), (Strings{"pods:expired"}));
  EXPECT_TRUE(h.observer.backoffs().empty()) << "410 relists at once";
  const auto lists = h.lw.list_calls();
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_EQ(lists[1].resource_version, "") << "the relist is a fresh consistent read";
  EXPECT_EQ(h.lw.watch_calls().at(1).resource_version, "30");
  EXPECT_EQ(keys_of(h.informer->store().list()), (Strings{"ml/a", "ml/b", "ml/d"}));
}

TEST(Reflector, HttpGoneOnAResumedWatchRelistsAtOnce) {
  Harness h;
  h.lw.push_list(pod_list({pod("ml", "a", "1")}, "10"));
  h.lw.push_event("MODIFIED", pod("ml", "a", "11"));
  h.lw.push_end(Unexpected(transport_error()));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.in_backoff(1); }));

  // By the time the watch resumes, rv 11 has been compacted away.
  h.lw.push_end(Unexpected(http_error(410, "Gone")));
  h.lw.push_list(pod_list({}, "40"));
  h.clock.advance(h.observer.backoffs().at(0));
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(3); }));
  EXPECT_EQ(h.lw.watch_calls().at(1).resource_version, "11");
  EXPECT_EQ(h.lw.list_count(), 2u);
  EXPECT_EQ(h.lw.watch_calls().at(2).resource_version, "40");
  EXPECT_EQ(h.observer.restarts(), (Strings{"pods:dropped", "pods:expired"}));
  EXPECT_EQ(h.observer.backoffs().size(), 1u) << "no backoff between the 410 and the relist";
  EXPECT_EQ(h.recorder.events(), (Strings{"add ml/a@1", "update ml/a@1 -> 11", "delete ml/a@11"}));
}

TEST(Reflector, HttpGoneRightAfterAListBacksOffBeforeRelisting) {
  Harness h;
  h.lw.push_list(pod_list({pod("ml", "a", "1")}, "10"));
  h.lw.push_end(Unexpected(http_error(410, "Gone")));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.in_backoff(1); }));
  EXPECT_EQ(h.lw.list_count(), 1u);
  h.lw.push_list(pod_list({pod("ml", "a", "1")}, "40"));
  h.clock.advance(h.observer.backoffs().at(0));
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(2); }));
  EXPECT_EQ(h.lw.list_count(), 2u);
  EXPECT_EQ(h.lw.watch_calls().at(1).resource_version, "40");
  EXPECT_EQ(h.observer.restarts(), (Strings{"pods:expired"}));
  EXPECT_EQ(h.recorder.events(), (Strings{"add ml/a@1"}));
}

TEST(Informer, AHandlerMayCallStopWithoutDeadlock) {
  Harness h;
  h.informer->add_handler(
      EventHandler{[&](const ObjectPtr&) { h.informer->stop(); }, nullptr, nullptr});
  h.lw.push_list(pod_list({pod("ml", "a", "1")}, "10"));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.recorder.count() == 1; }));
  h.informer->stop();
  EXPECT_EQ(h.lw.watch_count(), 0u) << "the loop ended before watching";
}

TEST(Reflector, TransportErrorsBackOffWithGrowingJitteredDelaysThenResumeFromLastRv) {
  InformerOptions options;
  options.random = nullptr;  // the real jitter source: assert bounds, not values
  Harness h(std::move(options));
  h.lw.push_list(pod_list({pod("ml", "a", "1")}, "10"));
  h.lw.push_event("MODIFIED", pod("ml", "a", "11"));
  h.lw.push_end(Unexpected(transport_error()));
  h.informer->start();

  // client-go reflector backoff: 0.8 s doubling, each plus up to 100% jitter.
  const nanoseconds base = milliseconds(800);
  std::string last_rv = "11";
  for (std::size_t n = 1; n <= 4; ++n) {
    ASSERT_TRUE(spin_until([&] { return h.in_backoff(n); })) << n;
    const nanoseconds delay = h.observer.backoffs().at(n - 1);
    const nanoseconds step = base * (1 << (n - 1));
    EXPECT_GE(delay, step) << n;
    EXPECT_LT(delay, 2 * step) << n;
    EXPECT_EQ(h.lw.watch_count(), n) << "no re-watch before the backoff has passed";

    // The next watch gets one event, then drops too.
    last_rv = std::to_string(11 + n);
    h.lw.push_event("MODIFIED", pod("ml", "a", last_rv));
    h.lw.push_end(Unexpected(transport_error()));
    h.clock.advance(delay);
    ASSERT_TRUE(spin_until([&] { return h.lw.watch_count() == n + 1; })) << n;
    EXPECT_EQ(h.lw.watch_calls().at(n).resource_version, std::to_string(10 + n))
        << "resumes from the last resourceVersion seen, without a relist";
  }
  EXPECT_EQ(h.lw.list_count(), 1u);
  ASSERT_TRUE(spin_until([&] { return h.in_backoff(5); }));
  EXPECT_EQ(h.observer.restarts(), Strings(5, "pods:dropped"));
  EXPECT_EQ(h.informer->store().resource_version(), last_rv);
}

TEST(Reflector, ErrorEventBacksOffThenRewatchesFromLastRv) {
  Harness h;  // random() == 0.5: delays are 1.5 * step
  h.lw.push_list(pod_list({pod("ml", "a", "1")}, "10"));
  h.lw.push_event("BOOKMARK", bookmark("15"));
  h.lw.push_event("ERROR", status(500, "InternalError"));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.in_backoff(1); }));
  EXPECT_EQ(h.observer.backoffs().at(0), milliseconds(1200));
  h.clock.advance(milliseconds(1199));
  EXPECT_EQ(h.lw.watch_count(), 1u);
  h.clock.advance(milliseconds(1));
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(2); }));
  EXPECT_EQ(h.lw.watch_calls().at(1).resource_version, "15");
  EXPECT_EQ(h.lw.list_count(), 1u);
  EXPECT_EQ(h.observer.restarts(), (Strings{"pods:error"}));
  EXPECT_EQ(h.observer.errors(), (Strings{"watch:500"}));
}

TEST(Reflector, ListFailureBacksOffAndRetries) {
  Harness h;
  h.lw.push_list(Unexpected(http_error(503, "ServiceUnavailable")));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.in_backoff(1); }));
  EXPECT_FALSE(h.informer->has_synced());
  h.lw.push_list(pod_list({pod("ml", "a", "1")}, "10"));
  h.clock.advance(h.observer.backoffs().at(0));
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));
  EXPECT_TRUE(h.informer->has_synced());
  EXPECT_EQ(h.lw.list_count(), 2u);
  EXPECT_EQ(h.observer.errors(), (Strings{"list:503"}));
}

TEST(Reflector, ExpiredContinuePageRestartsTheListFromScratch) {
  Harness h;
  h.lw.push_list(pod_list({pod("ml", "gone", "1")}, "10", "tok-1"));
  h.lw.push_list(Unexpected(http_error(410, "Expired")));
  h.lw.push_list(pod_list({pod("ml", "a", "21")}, "30", "tok-2"));
  h.lw.push_list(pod_list({pod("ml", "b", "22")}, "30"));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));

  const auto lists = h.lw.list_calls();
  ASSERT_EQ(lists.size(), 4u);
  EXPECT_EQ(lists[1].continue_token, "tok-1");
  EXPECT_EQ(lists[2].continue_token, "") << "restarted from scratch";
  EXPECT_EQ(lists[2].resource_version, "");
  EXPECT_EQ(lists[2].limit, kDefaultListPageSize);
  EXPECT_EQ(lists[3].continue_token, "tok-2");
  EXPECT_EQ(h.recorder.events(), (Strings{"add ml/a@21", "add ml/b@22"}))
      << "nothing from the abandoned partial list reaches the store or handlers";
  EXPECT_EQ(h.lw.watch_calls().at(0).resource_version, "30");
  EXPECT_TRUE(h.observer.backoffs().empty());
}

TEST(Reflector, ASecondExpiredContinuePageFallsBackToOneUnpaginatedList) {
  Harness h;
  h.lw.push_list(pod_list({pod("ml", "a", "1")}, "10", "tok-1"));
  h.lw.push_list(Unexpected(http_error(410, "Expired")));
  h.lw.push_list(pod_list({pod("ml", "a", "1")}, "20", "tok-2"));
  h.lw.push_list(Unexpected(http_error(410, "Expired")));
  h.lw.push_list(pod_list({pod("ml", "a", "1"), pod("ml", "b", "2")}, "30"));
  h.informer->start();
  ASSERT_TRUE(spin_until([&] { return h.lw.parked_in_watch(1); }));
  const auto lists = h.lw.list_calls();
  ASSERT_EQ(lists.size(), 5u);
  EXPECT_EQ(lists[4].limit, 0) << "client-go pager's FullListIfExpired";
  EXPECT_EQ(lists[4].continue_token, "");
  EXPECT_EQ(h.informer->store().size(), 2u);
}

// ---- against kubesim, through the real client ----

json config_map(const std::string& name, const std::string& team) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", {{"team", team}}}}},
          {"data", {{"k", "v"}}}};
}

TEST(InformerKubesim, ListsAndWatchesThroughTheClientWithASelector) {
  kubesim::ApiServer api;
  kubesim::HttpServer server(kubesim::HttpServerOptions{},
                             [&api](const kubesim::Request& req) { return api.handle(req); });
  ASSERT_TRUE(server.start());
  for (auto [name, team] : {std::pair{"a", "vision"}, {"b", "nlp"}, {"c", "vision"}}) {
    ASSERT_TRUE(api.create("", "v1", "configmaps", "default", config_map(name, team)));
  }

  RestConfig config;
  config.server = "http://127.0.0.1:" + std::to_string(server.port());
  Client client(config);
  const ResourceRef config_maps{"", "v1", "configmaps", "ConfigMap", true};
  auto lw = make_client_lister_watcher(client, config_maps, "default", "team=vision");
  RecordingObserver observer;
  InformerOptions options;
  options.name = "configmaps";
  options.page_size = 1;
  options.observer = &observer;
  Informer informer(*lw, std::move(options));
  Recorder recorder;
  informer.add_handler(recorder.handler());
  informer.start();
  ASSERT_TRUE(informer.wait_for_sync(real_clock().now() + kPollLimit));
  Strings keys = informer.store().keys();
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (Strings{"default/a", "default/c"}));
  EXPECT_EQ(observer.lists(), (Strings{"2 objects in 2"}));
  EXPECT_EQ((*informer.store().get("default/a"))["kind"], "ConfigMap");

  ASSERT_TRUE(api.create("", "v1", "configmaps", "default", config_map("d", "vision")));
  ASSERT_TRUE(api.create("", "v1", "configmaps", "default", config_map("e", "nlp")));
  ASSERT_TRUE(api.remove("", "v1", "configmaps", "default", "c"));
  ASSERT_TRUE(spin_until([&] {
    return informer.store().get("default/d") != nullptr &&
           informer.store().get("default/c") == nullptr;
  }));
  EXPECT_EQ(informer.store().get("default/e"), nullptr) << "the selector reaches the watch";

  // The server cuts every watch; the informer resumes and misses nothing.
  EXPECT_GE(api.drop_watches(), 1u);
  ASSERT_TRUE(api.create("", "v1", "configmaps", "default", config_map("f", "vision")));
  ASSERT_TRUE(spin_until([&] { return informer.store().get("default/f") != nullptr; }));
  EXPECT_FALSE(observer.restarts().empty());
  const auto before = std::chrono::steady_clock::now();
  informer.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, seconds(5));
}

}  // namespace
}  // namespace frugal::kube
