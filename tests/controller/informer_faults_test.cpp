// Integration: an informer against kubesim over HTTP while kubesim's fault
// injection is on — 500s, 429 storms, watches cut mid-stream, history
// compacted under it (410 on watch and on continue tokens) — and a writer
// creating, updating and deleting objects all the while. When the faults
// stop, the cache and the state built from the event handlers alone must
// both equal a fresh list from the server: nothing lost, nothing stale.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "controller/kube/client.h"
#include "controller/kube/informer.h"
#include "controller/kube/lister_watcher.h"
#include "sim/apiserver.h"
#include "sim/http_server.h"

namespace frugal::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using State = std::map<std::string, std::string>;  // key -> resourceVersion

constexpr auto kConvergeLimit = seconds(60);

json config_map(const std::string& name, int value) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"data", {{"v", std::to_string(value)}}}};
}

// What the event handlers say the world is: only adds, updates and deletes.
class HandlerView {
 public:
  EventHandler handler() {
    EventHandler h;
    h.on_add = [this](const ObjectPtr& o) { put(*o); };
    h.on_update = [this](const ObjectPtr&, const ObjectPtr& o) { put(*o); };
    h.on_delete = [this](const ObjectPtr& o) {
      std::lock_guard lock(mu_);
      state_.erase(object_key(*o));
    };
    return h;
  }
  State state() const {
    std::lock_guard lock(mu_);
    return state_;
  }

 private:
  void put(const json& o) {
    std::lock_guard lock(mu_);
    state_[object_key(o)] = resource_version_of(o);
  }
  mutable std::mutex mu_;
  State state_;
};

class CountingObserver : public InformerObserver {
 public:
  void on_watch_restart(const std::string&, const std::string& reason) override {
    std::lock_guard lock(mu_);
    ++restarts_[reason];
  }
  void on_error(const std::string&, const std::string& verb, const Error& e) override {
    std::lock_guard lock(mu_);
    ++errors_[verb + " " + std::to_string(e.http_status)];
  }
  void on_list(const std::string&, std::size_t, int) override { ++lists_; }
  std::map<std::string, int> restarts() const {
    std::lock_guard lock(mu_);
    return restarts_;
  }
  std::map<std::string, int> errors() const {
    std::lock_guard lock(mu_);
    return errors_;
  }
  int lists() const { return lists_.load(); }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int> restarts_;
  std::map<std::string, int> errors_;
  std::atomic<int> lists_{0};
};

State server_state(kubesim::ApiServer& api) {
  State out;
  auto page = api.store().list("configmaps", "default", nullptr, 0, "", 0);
  for (const auto& obj : page->items) {
    out["default/" + (*obj)["metadata"]["name"].get<std::string>()] =
        (*obj)["metadata"]["resourceVersion"].get<std::string>();
  }
  return out;
}

State cache_state(const Informer& informer) {
  State out;
  for (const ObjectPtr& o : informer.store().list()) out[object_key(*o)] = resource_version_of(*o);
  return out;
}

kubesim::FaultRule rule(std::string verb, int code, double probability) {
  kubesim::FaultRule r;
  r.verb = std::move(verb);
  r.resource = "configmaps";
  r.code = code;
  r.probability = probability;
  r.retry_after_seconds = 1;  // the client must wait it out before retrying
  return r;
}

TEST(InformerFaults, ConvergesToAFreshListThroughErrorsThrottlingDropsAndCompaction) {
  kubesim::ApiServerOptions server_options;
  server_options.history_limit = 300;  // the writer outruns it: old versions expire
  kubesim::ApiServer api(server_options);
  kubesim::HttpServer server(kubesim::HttpServerOptions{},
                             [&api](const kubesim::Request& req) { return api.handle(req); });
  ASSERT_TRUE(server.start());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(
        api.create("", "v1", "configmaps", "default", config_map("cm-" + std::to_string(i), 0)));
  }

  RestConfig config;
  config.server = "http://127.0.0.1:" + std::to_string(server.port());
  config.qps = -1;  // no client-side limit: the faults are the only brake
  Client client(config);
  const ResourceRef config_maps{"", "v1", "configmaps", "ConfigMap", true};
  auto lw = make_client_lister_watcher(client, config_maps, "default", "");
  CountingObserver observer;
  InformerOptions options;
  options.name = "configmaps";
  options.page_size = 50;  // several pages, so continue tokens can expire between them
  options.observer = &observer;
  options.backoff.initial = milliseconds(5);
  options.backoff.max = milliseconds(100);
  Informer informer(*lw, std::move(options));
  HandlerView view;
  informer.add_handler(view.handler());

  // Faults on from the first list.
  kubesim::FaultRule drops = rule("watch", 0, 0.5);
  drops.drop_watch_after_ms = 30;
  api.faults().set_rules({rule("list", 500, 0.15), rule("list", 429, 0.1), rule("watch", 500, 0.2),
                          rule("watch", 429, 0.1), drops});
  const auto started = std::chrono::steady_clock::now();
  informer.start();
  ASSERT_TRUE(informer.wait_for_sync(real_clock().now() + kConvergeLimit))
      << "the first list gets through the faults";

  std::cout << "  synced in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
            << " s\n";
  // The writer: creates, updates and deletes, compacting history and cutting
  // watches every so often, while the informer fights the faults.
  std::mt19937 rng(7);
  int next_name = 200;
  std::vector<std::string> names;
  for (int i = 0; i < 200; ++i) names.push_back("cm-" + std::to_string(i));
  for (int op = 0; op < 1500; ++op) {
    const int dice = static_cast<int>(rng() % 10);
    if (dice < 3 || names.empty()) {
      std::string name = "cm-" + std::to_string(next_name++);
      ASSERT_TRUE(api.create("", "v1", "configmaps", "default", config_map(name, op)));
      names.push_back(std::move(name));
    } else if (dice < 8) {
      const std::string& name = names[rng() % names.size()];
      auto current = api.get("", "v1", "configmaps", "default", name);
      ASSERT_TRUE(current);
      (*current)["data"]["v"] = std::to_string(op);
      ASSERT_TRUE(api.update("", "v1", "configmaps", "default", *current));
    } else {
      const size_t victim = rng() % names.size();
      ASSERT_TRUE(api.remove("", "v1", "configmaps", "default", names[victim]));
      names.erase(names.begin() + static_cast<std::ptrdiff_t>(victim));
    }
    if (op % 250 == 125) api.store().compact(api.store().current_rv());
    if (op % 300 == 150) api.drop_watches();
    // Paced so that the informer watches, fails and relists while the writes go on.
    std::this_thread::sleep_for(milliseconds(1));
  }

  const auto writes_done = std::chrono::steady_clock::now();
  api.faults().set_rules({});
  // One last write after the storm, so a watch that is healthy again must deliver it.
  ASSERT_TRUE(api.create("", "v1", "configmaps", "default", config_map("after-the-storm", 1)));
  const State want = server_state(api);
  const auto deadline = std::chrono::steady_clock::now() + kConvergeLimit;
  while ((cache_state(informer) != want || view.state() != want) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  std::cout << "  converged "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - writes_done).count()
            << " s after the writes\n";
  EXPECT_EQ(cache_state(informer), want) << "the cache equals a fresh list";
  EXPECT_EQ(view.state(), want) << "adds, updates and deletes seen by handlers add up to it too";

  // The faults really fired: errors of each kind, restarts, and relists.
  const auto errors = observer.errors();
  const auto restarts = observer.restarts();
  EXPECT_GT(errors.count("list 500") + errors.count("watch 500"), 0u);
  EXPECT_GT(restarts.count(kRestartDropped) + restarts.count(kRestartError), 0u);
  EXPECT_GT(restarts.count(kRestartExpired), 0u) << "compaction forced a 410 relist";
  EXPECT_GT(observer.lists(), 1);
  std::string summary;
  for (const auto& [what, n] : errors) summary += what + "=" + std::to_string(n) + " ";
  for (const auto& [what, n] : restarts)
    summary += "restart:" + what + "=" + std::to_string(n) + " ";
  std::cout << "  " << summary << "lists=" << observer.lists() << "\n";
  informer.stop();
}

}  // namespace
}  // namespace frugal::kube
