// The reconcile loop: outcomes map to queue actions, keys are never
// reconciled concurrently, exceptions do not escape workers.
#include "controller/kube/controller_loop.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/poll.h"

namespace frugal::kube {
namespace {

using frugal::testing::spin_until;

using namespace std::chrono_literals;

class ScriptedReconciler : public Reconciler {
 public:
  std::function<ReconcileOutcome(const Key&, int call)> script;

  ReconcileOutcome reconcile(const Key& key) override {
    int call;
    {
      std::lock_guard lock(mu_);
      call = ++calls_[key.str()];
      if (!in_flight_.insert(key.str()).second) overlapped_ = true;
    }
    auto out = script ? script(key, call) : ReconcileOutcome(ReconcileResult::done());
    {
      std::lock_guard lock(mu_);
      in_flight_.erase(key.str());
    }
    return out;
  }
  int calls(const std::string& k) {
    std::lock_guard lock(mu_);
    return calls_[k];
  }
  int total() {
    std::lock_guard lock(mu_);
    int n = 0;
    for (auto& [k, v] : calls_) n += v;
    return n;
  }
  bool overlapped() {
    std::lock_guard lock(mu_);
    return overlapped_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> calls_;
  std::set<std::string> in_flight_;
  bool overlapped_ = false;
};

class CountingObserver : public ControllerObserver {
 public:
  void on_reconcile(const std::string&, const std::string& result,
                    std::chrono::duration<double>) override {
    std::lock_guard lock(mu_);
    ++results[result];
  }
  int count(const std::string& r) {
    std::lock_guard lock(mu_);
    return results[r];
  }
  std::mutex mu_;
  std::map<std::string, int> results;
};

TEST(ControllerLoop, KeyParsesNamespaceAndName) {
  EXPECT_EQ(Key::parse("ns/a"), (Key{"ns", "a"}));
  EXPECT_EQ(Key::parse("cluster-scoped"), (Key{"", "cluster-scoped"}));
  EXPECT_EQ((Key{"ns", "a"}).str(), "ns/a");
}

TEST(ControllerLoop, SuccessReconcilesOnceAndForgets) {
  ScriptedReconciler r;
  CountingObserver obs;
  ControllerLoop loop(r, ControllerOptions{.name = "t", .concurrency = 2, .observer = &obs});
  loop.start();
  loop.enqueue({"ns", "a"});
  ASSERT_TRUE(spin_until([&] { return obs.count("success") == 1; }));
  EXPECT_EQ(loop.queue().num_requeues("ns/a"), 0);
  loop.stop();
  EXPECT_EQ(r.calls("ns/a"), 1);
}

TEST(ControllerLoop, ErrorsAreRetriedWithBackoffUntilSuccess) {
  FakeClock clock;
  ScriptedReconciler r;
  r.script = [](const Key&, int call) -> ReconcileOutcome {
    if (call < 3) return frugal::Unexpected(ReconcileError::retry("not yet"));
    return ReconcileResult::done();
  };
  CountingObserver obs;
  ControllerLoop loop(r, ControllerOptions{.name = "t", .clock = &clock, .observer = &obs});
  loop.start();
  loop.enqueue({"ns", "a"});
  ASSERT_TRUE(spin_until([&] { return obs.count("error") == 1; }));
  // First retry after the per-item base delay (5 ms), the second after 10 ms.
  ASSERT_TRUE(spin_until([&] { return loop.queue().len() == 0 && r.calls("ns/a") == 1; }));
  clock.advance(5ms);
  ASSERT_TRUE(spin_until([&] { return obs.count("error") == 2; }));
  clock.advance(5ms);
  EXPECT_EQ(r.calls("ns/a"), 2) << "the second retry waits 10 ms";
  clock.advance(5ms);
  ASSERT_TRUE(spin_until([&] { return obs.count("success") == 1; }));
  EXPECT_EQ(loop.queue().num_requeues("ns/a"), 0);
  loop.stop();
}

TEST(ControllerLoop, TerminalErrorsAreNotRetried) {
  FakeClock clock;
  ScriptedReconciler r;
  r.script = [](const Key&, int) -> ReconcileOutcome {
    return frugal::Unexpected(ReconcileError::fatal("bad spec"));
  };
  CountingObserver obs;
  ControllerLoop loop(r, ControllerOptions{.name = "t", .clock = &clock, .observer = &obs});
  loop.start();
  loop.enqueue({"ns", "a"});
  ASSERT_TRUE(spin_until([&] { return obs.count("terminal_error") == 1; }));
  clock.advance(1h);
  EXPECT_EQ(loop.queue().len(), 0u);
  loop.stop();
  EXPECT_EQ(r.calls("ns/a"), 1);
}

TEST(ControllerLoop, RequeueAfterComesBackAfterTheDelay) {
  FakeClock clock;
  ScriptedReconciler r;
  r.script = [](const Key&, int call) -> ReconcileOutcome {
    if (call == 1) return ReconcileResult::after(30s);
    return ReconcileResult::done();
  };
  CountingObserver obs;
  ControllerLoop loop(r, ControllerOptions{.name = "t", .clock = &clock, .observer = &obs});
  loop.start();
  loop.enqueue({"ns", "a"});
  ASSERT_TRUE(spin_until([&] { return obs.count("requeue_after") == 1; }));
  clock.advance(29s);
  EXPECT_EQ(r.calls("ns/a"), 1);
  clock.advance(1s);
  ASSERT_TRUE(spin_until([&] { return obs.count("success") == 1; }));
  loop.stop();
}

TEST(ControllerLoop, AnExceptionIsARetryableErrorNotACrash) {
  FakeClock clock;
  ScriptedReconciler r;
  r.script = [](const Key&, int call) -> ReconcileOutcome {
    if (call == 1) throw std::runtime_error("boom");
    return ReconcileResult::done();
  };
  CountingObserver obs;
  ControllerLoop loop(r, ControllerOptions{.name = "t", .clock = &clock, .observer = &obs});
  loop.start();
  loop.enqueue({"ns", "a"});
  ASSERT_TRUE(spin_until([&] { return obs.count("error") == 1; }));
  clock.advance(5ms);
  ASSERT_TRUE(spin_until([&] { return obs.count("success") == 1; }));
  loop.stop();
}

TEST(ControllerLoop, ManyWorkersNeverReconcileOneKeyConcurrently) {
  ScriptedReconciler r;
  CountingObserver obs;
  ControllerLoop loop(r, ControllerOptions{.name = "t", .concurrency = 8, .observer = &obs});
  loop.start();
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) loop.enqueue({"ns", "k" + std::to_string(i % 10)});
    });
  }
  for (auto& t : producers) t.join();
  ASSERT_TRUE(spin_until([&] { return loop.queue().len() == 0; }));
  loop.stop();
  EXPECT_FALSE(r.overlapped());
  for (int i = 0; i < 10; ++i) EXPECT_GE(r.calls("ns/k" + std::to_string(i)), 1);
}

TEST(ControllerLoop, StopLetsInFlightReconcilesFinish) {
  ScriptedReconciler r;
  std::atomic<bool> release{false};
  std::atomic<bool> entered{false};
  std::atomic<bool> finished{false};
  r.script = [&](const Key&, int) -> ReconcileOutcome {
    entered = true;
    while (!release) std::this_thread::yield();
    finished = true;
    return ReconcileResult::done();
  };
  ControllerLoop loop(r, ControllerOptions{.name = "t"});
  loop.start();
  loop.enqueue({"ns", "a"});
  ASSERT_TRUE(spin_until([&] { return entered.load(); }));
  std::thread stopper([&] { loop.stop(); });
  release = true;
  stopper.join();
  EXPECT_TRUE(finished);
}

}  // namespace
}  // namespace frugal::kube
