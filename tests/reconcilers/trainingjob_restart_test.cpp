// The TrainingJob controller survives SIGKILL (issue 5): the real
// frugal-controller binary runs as a child process against kubesim in
// process (API server over HTTP, the simulated cluster of
// trainingjob_test.cpp: three spot and two on-demand g5.xlarge nodes at time
// scale 100) and is killed twice in the life of a two-worker spot job with
// checkpoints:
//   1. while the first gang runs. A spot node of that gang is then
//      interrupted while no controller runs, so the restarted one must find
//      the interruption from the cluster's state alone (a failed worker with
//      DisruptionTarget, its node gone);
//   2. in the middle of the recovery, at an exact point of the restarted
//      controller's pass (each test case names one), then it is started again.
// The job must still succeed with no pod created twice, never more live
// workers than the gang has, the interruption counted once, and a cost equal
// to the one recomputed here from every pod the API server ever held.
//
// What the API server held is recorded by subscribing to its store, which
// sees every committed version of every pod (a DELETED event carries the
// pod's last state), so nothing is missed between two polls.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/yaml_json.h"
#include "reconcilers/gang.h"
#include "reconcilers/policy/object_read.h"
#include "reconcilers/trainingjob.h"
#include "sim/apiserver.h"
#include "sim/cluster.h"
#include "sim/cluster_config.h"
#include "sim/http_server.h"
#include "sim/kubeconfig.h"
#include "sim/names.h"
#include "tests/reconcilers/sim_cluster.h"
#include "tests/support/frugal_kubesim.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace frugal::reconcilers {
namespace {

using json = kube::json;
using std::chrono::seconds;
using testing::ChildProcess;
using testing::ExitStatus;

constexpr char kJob[] = "resilient";
constexpr int kWorkers = 2;
// Sim seconds of work: the first gang does kWorkBeforeKill of it before the
// first kill, the second gang resumes from a checkpoint and does the rest,
// so both kills fall well inside the job's life.
constexpr int kWork = 600;
constexpr double kWorkBeforeKill = 150;
// Real-time bound on each wait; the whole job takes about 8 s.
constexpr seconds kWaitLimit{20};

#ifdef FRUGAL_CONTROLLER_BIN
constexpr char kControllerBin[] = FRUGAL_CONTROLLER_BIN;
#else
constexpr char kControllerBin[] = "";
#endif

using namespace policy::object_read;

bool terminal(const json& pod) {
  const std::string phase = str(at(pod, "status"), "phase");
  return phase == "Succeeded" || phase == "Failed";
}
bool has_condition(const json& obj, const char* type) {
  const json& conditions = at(at(obj, "status"), "conditions");
  if (!conditions.is_array()) return false;
  for (const json& c : conditions) {
    if (str(c, "type") == type && str(c, "status") == "True") return true;
  }
  return false;
}
bool holds_cost_finalizer(const json& pod) {
  const json& f = at(meta(pod), "finalizers");
  return f.is_array() && std::find(f.begin(), f.end(), json(kCostFinalizer)) != f.end();
}

// Every version of one job's pods that the API server commits, kept as: the
// last version of each pod (by UID), the UIDs created under each name, and
// how many of the pods were live at once (neither terminal nor being
// deleted), at every change.
class PodLedger {
 public:
  PodLedger(kubesim::Store& store, std::string job) : store_(store), job_(std::move(job)) {
    auto sub = store_.subscribe("pods", "default", 0,
                                [this](const kubesim::StoreEvent& ev) { record(ev); });
    if (sub) sub_ = *sub;
  }
  ~PodLedger() {
    if (sub_) store_.unsubscribe(sub_);
  }
  PodLedger(const PodLedger&) = delete;
  PodLedger& operator=(const PodLedger&) = delete;

  bool subscribed() const { return sub_ != nullptr; }

  struct View {
    std::map<std::string, json> last;                         // by UID
    std::map<std::string, std::vector<std::string>> created;  // name -> UIDs
    std::set<std::string> deleted;                            // UIDs gone from the API
    size_t most_live = 0;
    std::string most_live_were;  // their names, when most_live was first reached
  };
  View view() const {
    std::lock_guard lock(mu_);
    return view_;
  }

 private:
  // Runs in the store's commit, under its lock: only bookkeeping here.
  void record(const kubesim::StoreEvent& ev) {
    if (!ev.object || label(*ev.object, kJobLabel) != job_) return;
    const std::string uid = uid_of(*ev.object);
    std::lock_guard lock(mu_);
    view_.last[uid] = *ev.object;
    if (ev.type == kubesim::EventType::Added) view_.created[name_of(*ev.object)].push_back(uid);
    if (ev.type == kubesim::EventType::Deleted) view_.deleted.insert(uid);
    const bool live =
        ev.type != kubesim::EventType::Deleted && !terminal(*ev.object) && !deleting(*ev.object);
    if (live) {
      live_[uid] = name_of(*ev.object);
    } else {
      live_.erase(uid);
    }
    if (live_.size() > view_.most_live) {
      view_.most_live = live_.size();
      view_.most_live_were.clear();
      for (const auto& [u, name] : live_) view_.most_live_were += name + " ";
    }
  }

  kubesim::Store& store_;
  const std::string job_;
  std::shared_ptr<kubesim::Subscription> sub_;
  mutable std::mutex mu_;
  View view_;
  std::map<std::string, std::string> live_;  // UID -> name
};

// SIGKILLs a process the instant the API server commits a change that
// matches: the match runs in the store's commit, before the writer has even
// had its answer, so the crash lands at an exact point of the controller's
// pass rather than wherever a poll happens to notice.
class KillSwitch {
 public:
  using Match = std::function<bool(const kubesim::StoreEvent&)>;
  KillSwitch(kubesim::Store& store, const std::string& group_resource, Match match)
      : store_(store), match_(std::move(match)) {
    auto sub = store_.subscribe(group_resource, "default", 0,
                                [this](const kubesim::StoreEvent& ev) { on_commit(ev); });
    if (sub) sub_ = *sub;
  }
  ~KillSwitch() {
    if (sub_) store_.unsubscribe(sub_);
  }
  KillSwitch(const KillSwitch&) = delete;
  KillSwitch& operator=(const KillSwitch&) = delete;

  bool subscribed() const { return sub_ != nullptr; }
  void arm(pid_t pid) { pid_ = pid; }
  // Call before the process is reaped, so that a reused pid is never shot.
  void disarm() { pid_ = 0; }
  bool fired() const { return fired_; }

 private:
  void on_commit(const kubesim::StoreEvent& ev) {
    if (pid_ == 0 || !ev.object || !match_(ev)) return;
    const pid_t pid = pid_.exchange(0);
    if (pid <= 0) return;
    fired_ = true;  // before the kill, so whoever sees the process dead sees this too
    ::kill(pid, SIGKILL);
  }

  kubesim::Store& store_;
  Match match_;
  std::shared_ptr<kubesim::Subscription> sub_;
  std::atomic<pid_t> pid_{0};
  std::atomic<bool> fired_{false};
};

// Where in the recovery the second kill lands.
enum class SecondKill {
  // The status write that counts the interruption and moves to attempt 1 is
  // committed; the old gang is not deleted nor the new one created yet.
  kWhenTheInterruptionIsRecorded,
  // The first pod of attempt 1 is committed; the rest of the gang is not.
  kWhenTheFirstNewWorkerIsCreated,
};
const char* to_string(SecondKill k) {
  return k == SecondKill::kWhenTheInterruptionIsRecorded ? "WhenTheInterruptionIsRecorded"
                                                         : "WhenTheFirstNewWorkerIsCreated";
}
// How gtest prints the parameter (and so how ctest names the case).
void PrintTo(SecondKill k, std::ostream* os) { *os << to_string(k); }

class TrainingJobRestartTest : public ::testing::TestWithParam<SecondKill>, protected SimCluster {
 protected:
  void SetUp() override {
    if (std::string(kControllerBin).empty()) {
      GTEST_SKIP() << "built without the frugal-controller target";
    }
    start_cluster(72);
    if (HasFatalFailure()) return;
    kubesim::KubeconfigParams kc;
    kc.server = server_url();
    kubeconfig_ = dir_.file("kubeconfig");
    auto written = kubesim::write_kubeconfig_file(kubeconfig_, kubesim::make_kubeconfig(kc));
    ASSERT_TRUE(written) << written.error().message;
  }

  void TearDown() override {
    controller_.reset();  // SIGKILLs and reaps one still running
    stop_cluster();
  }

  // Starts the next run of the controller, logging to controller-N.log.
  void start_controller() {
    ++runs_;
    controller_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{kControllerBin, "--kubeconfig", kubeconfig_, "--time-scale",
                                 std::to_string(kTimeScale), "--metrics-bind-address", "0",
                                 "--health-probe-bind-address", "0", "--controllers",
                                 "pricebook,trainingjob"},
        dir_.file("controller-" + std::to_string(runs_) + ".log"));
  }

  // Reaps the controller, which must have died of SIGKILL (not of anything else).
  void expect_killed() {
    const ExitStatus how = controller_->kill();
    EXPECT_EQ(how.signal, SIGKILL)
        << "controller run " << runs_ << " " << how.describe() << " before it was killed:\n"
        << controller_->log_tail();
    controller_.reset();
  }

  // Polls `pred` up to kWaitLimit; fails early, with the controller's log,
  // if a controller that should be running has exited.
  ::testing::AssertionResult until(const std::function<bool()>& pred, const std::string& what) {
    bool exited = false;
    const bool ok = testing::eventually(
        [&] {
          if (pred()) return true;
          if (controller_ && !controller_->running()) {
            exited = !pred();
            return true;
          }
          return false;
        },
        kWaitLimit);
    if (ok && !exited) return ::testing::AssertionSuccess();
    auto failure = ::testing::AssertionFailure() << what;
    if (exited) {
      failure << ": controller run " << runs_ << " "
              << controller_->exit_status().value_or(ExitStatus{}).describe()
              << " unexpectedly; its log ends:\n"
              << controller_->log_tail();
    } else {
      failure << ": not within " << kWaitLimit.count() << " s";
      if (controller_) failure << "; the controller's log ends:\n" << controller_->log_tail(20);
    }
    return failure << "\njob status: " << status(kJob).dump();
  }

  std::vector<json> pods() {
    std::vector<json> out;
    auto list = api_.store().list("pods", "default", nullptr, 0, "", 0);
    for (const auto& p : list->items) {
      if (label(*p, kJobLabel) == kJob) out.push_back(*p);
    }
    return out;
  }
  bool node_exists(const std::string& name) {
    return static_cast<bool>(api_.get("", "v1", "nodes", "", name));
  }

  // The book's hourly prices of an instance type: {spot, on-demand}.
  std::pair<double, double> prices_of(const std::string& instance_type) const {
    for (const json& t : book_["spec"]["instanceTypes"]) {
      if (t["name"] == instance_type) {
        return {t["spotHourlyUSD"].get<double>(), t["onDemandHourlyUSD"].get<double>()};
      }
    }
    ADD_FAILURE() << "no price for " << instance_type;
    return {0, 0};
  }

  testing::TempDir dir_{"trainingjob-restart"};
  std::string kubeconfig_;
  std::unique_ptr<ChildProcess> controller_;
  int runs_ = 0;
};

// A pod's bill, recomputed from its own timestamps as a cloud bills a node
// a worker has to itself: from binding (PodScheduled) to the end of its
// last container, or its deletionTimestamp if no container ever ended.
struct Bill {
  double seconds = 0;  // sim seconds
  std::string capacity_type;
  std::string instance_type;
};
Bill bill_of(const json& pod) {
  Bill b;
  b.capacity_type = label(pod, kCapacityTypeLabel);
  b.instance_type = label(pod, kInstanceTypeLabel);
  const json& st = at(pod, "status");
  std::string bound;
  for (const json& c : at(st, "conditions")) {
    if (str(c, "type") == "PodScheduled" && str(c, "status") == "True") {
      bound = str(c, "lastTransitionTime");
    }
  }
  if (bound.empty()) return b;  // never bound: never paid
  std::optional<std::chrono::system_clock::time_point> end;
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    for (const json& cs : at(st, list)) {
      std::chrono::system_clock::time_point finished;
      if (kubesim::parse_rfc3339(str(at(at(cs, "state"), "terminated"), "finishedAt"), finished) &&
          (!end || finished > *end)) {
        end = finished;
      }
    }
  }
  std::chrono::system_clock::time_point t;
  if (!end && kubesim::parse_rfc3339(str(at(pod, "metadata"), "deletionTimestamp"), t)) {
    end = t;
  }
  std::chrono::system_clock::time_point start;
  EXPECT_TRUE(kubesim::parse_rfc3339(bound, start)) << bound;
  EXPECT_TRUE(end) << name_of(pod) << " never ended: " << st.dump();
  if (end) b.seconds = std::chrono::duration<double>(*end - start).count() * kTimeScale;
  return b;
}

TEST_P(TrainingJobRestartTest, SigkilledTwiceTheControllerNeitherDuplicatesPodsNorMiscountsCost) {
  PodLedger ledger(api_.store(), kJob);
  ASSERT_TRUE(ledger.subscribed());
  const std::string first = worker_name(kJob, 0, 0);
  const std::string second = worker_name(kJob, 0, 1);

  auto created = api_.create("ml.frugal.dev", "v1alpha1", "trainingjobs", "default",
                             job(kJob, kWorkers, kWork));
  ASSERT_TRUE(created) << created.error().message;
  start_controller();
  ASSERT_TRUE(until(
      [&] {
        const json run = run_of(first);
        return phase(kJob) == "Running" && run.value("running", false) &&
               run.value("workDone", 0.0) >= kWorkBeforeKill;
      },
      "attempt 0 runs and works"));

  // Kill 1, while the gang runs. Then spot takes one of its nodes back with
  // nobody watching: the notice runs out, the node goes and its worker fails.
  expect_killed();
  const std::string hit = pod(first)["spec"].value("nodeName", "");
  ASSERT_FALSE(hit.empty());
  interrupt(hit);
  ASSERT_TRUE(until(
      [&] {
        const json p = pod(first);
        return !node_exists(hit) && has_condition(p, "DisruptionTarget") &&
               str(p["status"], "phase") == "Failed";
      },
      "the interrupted node is gone and its worker failed"))
      << pod(first).dump();
  EXPECT_EQ(status(kJob).value("interruptions", 0), 0) << "nobody has seen it yet";

  // Kill 2, in the middle of the recovery the restarted controller starts.
  std::unique_ptr<KillSwitch> kill_switch;
  if (GetParam() == SecondKill::kWhenTheInterruptionIsRecorded) {
    kill_switch = std::make_unique<KillSwitch>(
        api_.store(), "trainingjobs.ml.frugal.dev", [](const kubesim::StoreEvent& ev) {
          return at(at(*ev.object, "status"), "interruptions") == 1;
        });
  } else {
    const std::string prefix = std::string(kJob) + "-a1-";
    kill_switch =
        std::make_unique<KillSwitch>(api_.store(), "pods", [prefix](const kubesim::StoreEvent& ev) {
          return ev.type == kubesim::EventType::Added && name_of(*ev.object).starts_with(prefix);
        });
  }
  ASSERT_TRUE(kill_switch->subscribed());
  start_controller();
  kill_switch->arm(controller_->pid());
  const ::testing::AssertionResult tripped =
      until([&] { return kill_switch->fired(); }, "the second kill's moment");
  kill_switch->disarm();
  ASSERT_TRUE(tripped);
  expect_killed();
  EXPECT_EQ(status(kJob).value("interruptions", 0), 1) << status(kJob).dump();
  EXPECT_EQ(status(kJob).value("attempt", 0), 1) << status(kJob).dump();
  // The kill landed where this case says: the process died before it could
  // read the answer to the write that tripped the switch.
  std::set<std::string> after_kill;
  for (const json& p : pods()) {
    after_kill.insert(name_of(p) + (deleting(p) ? " (deleting)" : ""));
  }
  if (GetParam() == SecondKill::kWhenTheInterruptionIsRecorded) {
    EXPECT_EQ(after_kill, (std::set<std::string>{first, second}))
        << "neither the old gang deleted nor the new one created";
  } else {
    EXPECT_EQ(after_kill, (std::set<std::string>{second + " (deleting)", worker_name(kJob, 1, 0)}))
        << "the old gang deleted, one worker of the new one created";
  }

  // Run 3 finishes the job and settles every pod.
  start_controller();
  ASSERT_TRUE(until([&] { return phase(kJob) == "Succeeded"; }, "the job succeeds"));
  ASSERT_TRUE(until(
      [&] {
        const std::vector<json> now = pods();
        const json settled = status(kJob).value("settledPods", json::array());
        if (now.size() != static_cast<size_t>(kWorkers)) return false;
        for (const json& p : now) {
          if (holds_cost_finalizer(p) || label(p, kAttemptLabel) != "1") return false;
          if (std::find(settled.begin(), settled.end(), json(uid_of(p))) == settled.end()) {
            return false;
          }
        }
        return true;
      },
      "every pod settled, released, and the old gang deleted"));
  // Stopped cleanly, so the status read below is the last one written.
  const ExitStatus stopped = controller_->terminate();
  EXPECT_EQ(stopped.code, 0) << stopped.describe() << "\n" << controller_->log_tail();

  const json s = status(kJob);
  EXPECT_EQ(s["interruptions"], 1) << "one node was interrupted, once";
  EXPECT_EQ(s["restarts"], 1);
  EXPECT_EQ(s["attempt"], 1);
  EXPECT_EQ(s["failures"], 0);
  EXPECT_EQ(s["capacityType"], "spot");

  // Each worker of attempts 0 and 1 created exactly once; nothing else.
  const PodLedger::View seen = ledger.view();
  std::set<std::string> names;
  for (const auto& [name, uids] : seen.created) {
    names.insert(name);
    EXPECT_EQ(uids.size(), 1u) << name << " was created " << uids.size() << " times";
  }
  EXPECT_EQ(names, (std::set<std::string>{worker_name(kJob, 0, 0), worker_name(kJob, 0, 1),
                                          worker_name(kJob, 1, 0), worker_name(kJob, 1, 1)}));
  EXPECT_LE(seen.most_live, static_cast<size_t>(kWorkers))
      << "live at once: " << seen.most_live_were;
  EXPECT_GE(seen.most_live, static_cast<size_t>(kWorkers)) << "the ledger saw a whole gang run";
  EXPECT_EQ(seen.deleted.size(), 2u) << "attempt 0's pods are deleted, attempt 1's kept";
  for (const auto& [uid, last] : seen.last) {
    if (label(last, kAttemptLabel) == "0") {
      EXPECT_TRUE(seen.deleted.count(uid)) << name_of(last) << " is left";
    }
  }

  // The cost, recomputed from the last version of every pod there ever was.
  double total = 0;
  double savings = 0;
  double billable = 0;
  for (const auto& [uid, last] : seen.last) {
    const Bill b = bill_of(last);
    EXPECT_EQ(b.instance_type, "g5.xlarge") << name_of(last);
    const auto [spot, on_demand] = prices_of(b.instance_type);
    const bool on_spot = b.capacity_type == "spot";
    EXPECT_TRUE(on_spot || b.capacity_type == "on-demand") << name_of(last);
    total += b.seconds * (on_spot ? spot : on_demand) / 3600;
    savings += on_spot ? b.seconds * (on_demand - spot) / 3600 : 0;
    billable += b.seconds;
  }
  const json& cost = s["cost"];
  EXPECT_GT(total, 0);
  EXPECT_NEAR(cost["totalUSD"].get<double>(), total, 0.01) << cost.dump();
  EXPECT_NEAR(cost["spotSavingsUSD"].get<double>(), savings, 0.01) << cost.dump();
  EXPECT_NEAR(cost["billableSeconds"].get<double>(), billable, 0.01)
      << "billed seconds, to the millisecond status.cost keeps: " << cost.dump();
  EXPECT_EQ(cost["ratePerHourUSD"], 0.0) << "nothing runs any more";
}

INSTANTIATE_TEST_SUITE_P(SecondKill, TrainingJobRestartTest,
                         ::testing::Values(SecondKill::kWhenTheInterruptionIsRecorded,
                                           SecondKill::kWhenTheFirstNewWorkerIsCreated),
                         [](const ::testing::TestParamInfo<SecondKill>& info) {
                           return std::string(to_string(info.param));
                         });

}  // namespace
}  // namespace frugal::reconcilers
