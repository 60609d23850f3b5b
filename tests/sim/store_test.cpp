// The versioned store: resource versions, snapshots from history, watch
// replay and compaction, owner index.
#include "sim/store.h"

#include <gtest/gtest.h>

namespace kubesim {
namespace {

json obj(const std::string& ns, const std::string& name, const std::string& value = "") {
  return json{{"metadata", {{"namespace", ns}, {"name", name}, {"uid", "uid-" + name}}},
              {"data", value}};
}

Result<ObjectPtr> put(Store& s, const std::string& ns, const std::string& name,
                      const std::string& value = "") {
  return s.mutate("things", ns, name, [&](const json*) -> Result<Mutation> {
    return Mutation{Mutation::Kind::Put, obj(ns, name, value)};
  });
}

Result<ObjectPtr> del(Store& s, const std::string& ns, const std::string& name) {
  return s.mutate("things", ns, name, [](const json*) -> Result<Mutation> {
    return Mutation{Mutation::Kind::Delete, {}};
  });
}

std::vector<std::string> names(const Store::ListPage& page) {
  std::vector<std::string> out;
  for (const auto& o : page.items) out.push_back((*o)["metadata"]["name"]);
  return out;
}

TEST(Store, EveryWriteBumpsTheResourceVersion) {
  Store s;
  auto a = put(s, "ns", "a");
  auto b = put(s, "ns", "a", "changed");
  ASSERT_TRUE(a && b);
  uint64_t rv_a = std::stoull((**a)["metadata"]["resourceVersion"].get<std::string>());
  uint64_t rv_b = std::stoull((**b)["metadata"]["resourceVersion"].get<std::string>());
  EXPECT_GT(rv_b, rv_a);
  EXPECT_EQ(s.current_rv(), rv_b);
}

TEST(Store, ListsInKeyOrderWithinANamespace) {
  Store s;
  ASSERT_TRUE(put(s, "b", "x"));
  ASSERT_TRUE(put(s, "a", "z"));
  ASSERT_TRUE(put(s, "a", "y"));
  auto all = s.list("things", "", nullptr, 0, "", 0);
  ASSERT_TRUE(all);
  EXPECT_EQ(names(*all), (std::vector<std::string>{"y", "z", "x"}));
  auto a = s.list("things", "a", nullptr, 0, "", 0);
  ASSERT_TRUE(a);
  EXPECT_EQ(names(*a), (std::vector<std::string>{"y", "z"}));
}

TEST(Store, PagesFollowOnFromTheLastKeyAndCountTheRest) {
  Store s;
  for (const char* n : {"a", "b", "c", "d", "e"}) ASSERT_TRUE(put(s, "ns", n));
  auto p1 = s.list("things", "ns", nullptr, 0, "", 2);
  ASSERT_TRUE(p1);
  EXPECT_EQ(names(*p1), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p1->next_key, "ns/b");
  EXPECT_EQ(p1->remaining, 3u);
  auto p2 = s.list("things", "ns", nullptr, p1->rv, p1->next_key, 2);
  ASSERT_TRUE(p2);
  EXPECT_EQ(names(*p2), (std::vector<std::string>{"c", "d"}));
}

TEST(Store, ASnapshotListSeesTheStateAtItsVersion) {
  Store s;
  ASSERT_TRUE(put(s, "ns", "a", "old"));
  ASSERT_TRUE(put(s, "ns", "b"));
  const uint64_t snapshot = s.current_rv();
  ASSERT_TRUE(put(s, "ns", "a", "new"));
  ASSERT_TRUE(del(s, "ns", "b"));
  ASSERT_TRUE(put(s, "ns", "c"));
  auto then = s.list("things", "ns", nullptr, snapshot, "", 0);
  ASSERT_TRUE(then);
  EXPECT_EQ(names(*then), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ((*then->items[0])["data"], "old");
  auto now = s.list("things", "ns", nullptr, 0, "", 0);
  ASSERT_TRUE(now);
  EXPECT_EQ(names(*now), (std::vector<std::string>{"a", "c"}));
}

TEST(Store, ACompactedSnapshotIsExpired) {
  Store s(2);
  ASSERT_TRUE(put(s, "ns", "a"));
  const uint64_t old = s.current_rv();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(put(s, "ns", "a", std::to_string(i)));
  auto page = s.list("things", "ns", nullptr, old, "", 0);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().code, 410);
  EXPECT_EQ(page.error().reason, "Expired");
}

TEST(Store, SubscribeFromZeroReplaysCurrentObjectsAsAdded) {
  Store s;
  ASSERT_TRUE(put(s, "ns", "a"));
  ASSERT_TRUE(put(s, "other", "b"));
  std::vector<StoreEvent> seen;
  auto sub = s.subscribe("things", "ns", 0, [&](const StoreEvent& e) { seen.push_back(e); });
  ASSERT_TRUE(sub);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].type, EventType::Added);
  ASSERT_TRUE(put(s, "ns", "a", "x"));
  ASSERT_TRUE(put(s, "other", "b", "x"));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].type, EventType::Modified);
  s.unsubscribe(*sub);
  ASSERT_TRUE(put(s, "ns", "a", "y"));
  EXPECT_EQ(seen.size(), 2u);
}

TEST(Store, SubscribeFromAVersionReplaysOnlyLaterChanges) {
  Store s;
  ASSERT_TRUE(put(s, "ns", "a"));
  const uint64_t from = s.current_rv();
  ASSERT_TRUE(put(s, "ns", "a", "x"));
  ASSERT_TRUE(del(s, "ns", "a"));
  std::vector<StoreEvent> seen;
  auto sub = s.subscribe("things", "", from, [&](const StoreEvent& e) { seen.push_back(e); });
  ASSERT_TRUE(sub);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].type, EventType::Modified);
  EXPECT_EQ(seen[1].type, EventType::Deleted);
  // DELETED carries the last state, stamped with the deletion's version.
  EXPECT_EQ((*seen[1].object)["data"], "x");
  EXPECT_EQ((*seen[1].object)["metadata"]["resourceVersion"], std::to_string(seen[1].rv));
}

TEST(Store, SubscribeFromACompactedVersionIsExpired) {
  Store s;
  ASSERT_TRUE(put(s, "ns", "a"));
  const uint64_t old = s.current_rv();
  ASSERT_TRUE(put(s, "ns", "a", "x"));
  s.compact(s.current_rv());
  auto sub = s.subscribe("things", "", old, [](const StoreEvent&) {});
  ASSERT_FALSE(sub);
  EXPECT_EQ(sub.error().code, 410);
}

TEST(Store, OwnerIndexFollowsOwnerReferences) {
  Store s;
  auto child = [&](const std::string& name, const std::string& owner) {
    return s.mutate("things", "ns", name, [&](const json*) -> Result<Mutation> {
      json o = obj("ns", name);
      if (!owner.empty()) o["metadata"]["ownerReferences"] = {{{"uid", owner}}};
      return Mutation{Mutation::Kind::Put, o};
    });
  };
  ASSERT_TRUE(child("c1", "owner-1"));
  ASSERT_TRUE(child("c2", "owner-1"));
  EXPECT_EQ(s.dependents("owner-1").size(), 2u);
  ASSERT_TRUE(child("c2", ""));  // owner reference removed
  EXPECT_EQ(s.dependents("owner-1").size(), 1u);
  ASSERT_TRUE(del(s, "ns", "c1"));
  EXPECT_TRUE(s.dependents("owner-1").empty());
  EXPECT_TRUE(s.find_uid("uid-c2").has_value());
  EXPECT_FALSE(s.find_uid("uid-c1").has_value());
}

TEST(Store, AMutationErrorChangesNothing) {
  Store s;
  const uint64_t before = s.current_rv();
  auto r = s.mutate("things", "ns", "a", [](const json*) -> Result<Mutation> {
    return Unexpected(bad_request("no"));
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 400);
  EXPECT_EQ(s.current_rv(), before);
  EXPECT_EQ(s.get("things", "ns", "a"), nullptr);
}

}  // namespace
}  // namespace kubesim
