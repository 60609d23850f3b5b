// The simulated cluster end to end inside one process: an ApiServer, a
// Cluster on a FakeClock (so a pod's life is stepped through exactly), and
// assertions on the objects a controller would see — Nodes, Pods, their
// conditions, Events, Endpoints — plus the work ledger (/kubesim/work).
#include "sim/cluster.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "sim/json_access.h"
#include "sim/names.h"

namespace kubesim {
namespace {

using std::chrono::seconds;
constexpr auto kIdleLimit = std::chrono::seconds(20);

const char* kTwoPools = R"(
seed: 7
nodePools:
  - name: cpu
    instanceType: m6i.xlarge
    count: 2
    allocatable: {cpu: "4", memory: 16Gi}
  - name: gpu-spot
    cloud: karpenter
    instanceType: g5.xlarge
    capacityType: spot
    count: 1
    allocatable: {cpu: "4", memory: 16Gi, nvidia.com/gpu: 1}
    taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]
    interruptions:
      noticeSeconds: 30
      at: [{node: 0, afterSeconds: 100}]
    replacement: {delaySeconds: 60}
)";

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override { start(kTwoPools); }

  void start(const std::string& yaml, int octet = 91) {
    cluster_.reset();
    api_.reset();
    ApiServerOptions o;
    o.now = [this] { return clock_.wall_now(); };
    api_ = std::make_unique<ApiServer>(o);
    auto config = parse_cluster_config(yaml, "test.yaml");
    ASSERT_TRUE(config) << config.error();
    ClusterOptions co;
    co.clock = &clock_;
    co.pod_network_octet = octet;
    cluster_ = std::make_unique<Cluster>(*api_, *config, co);
    ASSERT_TRUE(cluster_->start());
    settle();
  }

  void TearDown() override {
    cluster_.reset();
    api_.reset();
  }

  void settle() { ASSERT_TRUE(cluster_->wait_idle(kIdleLimit)); }
  // Moves sim time forward in steps, letting the cluster act at each.
  void advance(double sim_seconds, double step = 1) {
    for (double done = 0; done < sim_seconds - 1e-9; done += step) {
      clock_.advance(std::chrono::duration_cast<frugal::Clock::Duration>(
          std::chrono::duration<double>(std::min(step, sim_seconds - done))));
      settle();
    }
  }

  json pod(const std::string& name) {
    auto p = api_->get("", "v1", "pods", "default", name);
    return p ? *p : json();
  }
  std::string phase(const std::string& name) {
    return string_at(object_at(pod(name), "status"), "phase");
  }
  json condition(const json& obj, const std::string& type) {
    for (const json& c : array_at(object_at(obj, "status"), "conditions")) {
      if (string_at(c, "type") == type) return c;
    }
    return json();
  }
  std::vector<std::string> event_reasons(const std::string& involved_name) {
    std::vector<std::string> out;
    auto page = api_->store().list("events", "", nullptr, 0, "", 0);
    std::vector<ObjectPtr> events = page->items;
    // In the order they were written (names are random).
    std::sort(events.begin(), events.end(), [](const ObjectPtr& a, const ObjectPtr& b) {
      return std::stoull(string_at((*a)["metadata"], "resourceVersion")) <
             std::stoull(string_at((*b)["metadata"], "resourceVersion"));
    });
    for (const auto& ev : events) {
      if (string_at(object_at(*ev, "involvedObject"), "name") == involved_name) {
        out.push_back(string_at(*ev, "reason"));
      }
    }
    return out;
  }
  json run_of(const std::string& pod_name) {
    json work = cluster_->work_json();
    json found;
    for (const json& r : work["runs"]) {
      if (r["pod"] == "default/" + pod_name) found = r;
    }
    return found;
  }

  void create(json obj, const std::string& resource = "pods", const std::string& group = "") {
    auto r = api_->create(group, "v1", resource, "default", std::move(obj));
    ASSERT_TRUE(r) << r.error().to_status().dump();
    settle();
  }

  static json training_pod(const std::string& name, double work, const std::string& claim = "",
                           bool spot = false) {
    json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata",
               {{"name", name},
                {"annotations",
                 {{"sim.frugal.dev/work-seconds", std::to_string(work)},
                  {"sim.frugal.dev/startup-seconds", "0"},
                  {"sim.frugal.dev/checkpoint-every-seconds", "20"}}}}},
              {"spec",
               {{"restartPolicy", "Never"},
                {"containers",
                 {{{"name", "main"},
                   {"image", "trainer:1"},
                   {"resources", {{"requests", {{"cpu", "1"}, {"memory", "1Gi"}}}}}}}}}}};
    if (!claim.empty()) {
      json& c = p["spec"]["containers"][0];
      c["env"] = {{{"name", "FRUGAL_CHECKPOINT_DIR"}, {"value", "/ckpt/job"}}};
      c["volumeMounts"] = {{{"name", "ckpt"}, {"mountPath", "/ckpt"}}};
      p["spec"]["volumes"] = {
          {{"name", "ckpt"}, {"persistentVolumeClaim", {{"claimName", claim}}}}};
    }
    if (spot) {
      p["spec"]["nodeSelector"] = {{"karpenter.sh/capacity-type", "spot"}};
      p["spec"]["tolerations"] = {{{"key", "nvidia.com/gpu"}, {"operator", "Exists"}}};
      p["spec"]["containers"][0]["resources"]["limits"] = {{"nvidia.com/gpu", "1"}};
    }
    return p;
  }

  frugal::FakeClock clock_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(ClusterTest, RegistersEveryNodeOfEveryPoolWithItsLabelsTaintsAndCapacity) {
  auto nodes = api_->store().list("nodes", "", nullptr, 0, "", 0);
  ASSERT_EQ(nodes->items.size(), 3u);
  auto spot = api_->get("", "v1", "nodes", "", "gpu-spot-0");
  ASSERT_TRUE(spot);
  const json& labels = (*spot)["metadata"]["labels"];
  EXPECT_EQ(labels["karpenter.sh/capacity-type"], "spot");
  EXPECT_EQ(labels["node.kubernetes.io/instance-type"], "g5.xlarge");
  EXPECT_EQ((*spot)["status"]["allocatable"]["nvidia.com/gpu"], "1");
  EXPECT_EQ((*spot)["spec"]["taints"][0]["key"], "nvidia.com/gpu");
  EXPECT_EQ(condition(*spot, "Ready")["status"], "True");
  EXPECT_EQ(string_at((*spot)["status"]["addresses"][0], "type"), "InternalIP");
}

TEST_F(ClusterTest, APodGoesThroughThePhasesAKubeletReports) {
  json p = training_pod("train", 30);
  p["metadata"]["annotations"]["sim.frugal.dev/startup-seconds"] = "5";
  create(p);
  // Bound at once; containers being created until the startup delay passes.
  json now = pod("train");
  EXPECT_FALSE(string_at(now["spec"], "nodeName").empty());
  EXPECT_EQ(phase("train"), "Pending");
  EXPECT_EQ(condition(now, "PodScheduled")["status"], "True");
  EXPECT_EQ(now["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating");
  EXPECT_EQ(string_at(now["status"], "podIP").rfind("127.91.", 0), 0u) << now["status"];

  advance(5);
  now = pod("train");
  EXPECT_EQ(phase("train"), "Running");
  EXPECT_EQ(condition(now, "Ready")["status"], "True");
  EXPECT_TRUE(now["status"]["containerStatuses"][0]["state"].contains("running"));

  advance(29);
  EXPECT_EQ(phase("train"), "Running") << "one sim second of work is left";
  advance(1);
  now = pod("train");
  EXPECT_EQ(phase("train"), "Succeeded");
  const json& terminated = now["status"]["containerStatuses"][0]["state"]["terminated"];
  EXPECT_EQ(terminated["exitCode"], 0);
  EXPECT_EQ(terminated["reason"], "Completed");
  EXPECT_EQ(condition(now, "Ready")["reason"], "PodCompleted");
  EXPECT_EQ(event_reasons("train"),
            (std::vector<std::string>{"Scheduled", "Pulled", "Created", "Started"}));
  EXPECT_DOUBLE_EQ(run_of("train")["workDone"].get<double>(), 30);
}

TEST_F(ClusterTest, ANonZeroExitCodeFailsThePodWithReasonError) {
  json p = training_pod("bad", 10);
  p["metadata"]["annotations"]["sim.frugal.dev/exit-code"] = "3";
  create(p);
  advance(10);
  EXPECT_EQ(phase("bad"), "Failed");
  EXPECT_EQ(pod("bad")["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], 3);
  EXPECT_EQ(pod("bad")["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], "Error");
}

TEST_F(ClusterTest, APodThatFitsNowhereIsUnschedulableWithTheSchedulersMessage) {
  json p = training_pod("huge", 10);
  p["spec"]["containers"][0]["resources"]["limits"] = {{"nvidia.com/gpu", "8"}};
  create(p);
  json now = pod("huge");
  EXPECT_EQ(string_at(now["spec"], "nodeName"), "");
  const json cond = condition(now, "PodScheduled");
  EXPECT_EQ(cond["status"], "False");
  EXPECT_EQ(cond["reason"], "Unschedulable");
  EXPECT_EQ(cond["message"],
            "0/3 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}, 2 "
            "Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 3 Preemption is "
            "not helpful for scheduling.");
  EXPECT_EQ(event_reasons("huge"), (std::vector<std::string>{"FailedScheduling"}));
  advance(3);
  EXPECT_EQ(event_reasons("huge").size(), 1u) << "the same verdict is not repeated";
}

TEST_F(ClusterTest, APausedSchedulerLeavesPodsPendingUntilItResumes) {
  cluster_->pause_scheduling(true);
  create(training_pod("held", 10));
  advance(5);
  json now = pod("held");
  EXPECT_EQ(string_at(now["spec"], "nodeName"), "");
  EXPECT_TRUE(condition(now, "PodScheduled").is_null()) << "not judged at all, as in an outage";
  EXPECT_EQ(phase("held"), "Pending");
  cluster_->pause_scheduling(false);
  settle();
  EXPECT_FALSE(string_at(pod("held")["spec"], "nodeName").empty());
  EXPECT_EQ(condition(pod("held"), "PodScheduled")["status"], "True");
}

TEST(Rfc3339, WholeSecondsByDefaultAndFractionsWhenAsked) {
  using namespace std::chrono;
  const system_clock::time_point t =
      system_clock::from_time_t(1795000000) + microseconds(123456) + nanoseconds(789);
  EXPECT_EQ(rfc3339(t), "2026-11-18T11:06:40Z") << "truncated, never rounded up";
  set_timestamp_fraction_digits(6);
  EXPECT_EQ(rfc3339(t), "2026-11-18T11:06:40.123456Z");
  set_timestamp_fraction_digits(3);
  EXPECT_EQ(rfc3339(system_clock::from_time_t(1795000000) + milliseconds(999)),
            "2026-11-18T11:06:40.999Z");
  system_clock::time_point back;
  ASSERT_TRUE(parse_rfc3339(rfc3339(t), back));
  EXPECT_EQ(duration_cast<milliseconds>(back.time_since_epoch()).count(), 1795000000123);
  set_timestamp_fraction_digits(0);
}

TEST_F(ClusterTest,
       AnInterruptionGivesNoticeThenKillsThePodsWithDisruptionTargetAndCountsLostWork) {
  create(training_pod("spot-job", 1000, "ckpt", true));
  EXPECT_EQ(string_at(pod("spot-job")["spec"], "nodeName"), "gpu-spot-0");
  advance(100);  // the scripted notice (afterSeconds: 100)
  auto node = api_->get("", "v1", "nodes", "", "gpu-spot-0");
  ASSERT_TRUE(node);
  bool tainted = false;
  for (const json& t : (*node)["spec"]["taints"]) tainted |= t["key"] == "karpenter.sh/disrupted";
  EXPECT_TRUE(tainted);
  EXPECT_EQ(condition(*node, kInterruptionCondition)["status"], "True");
  EXPECT_EQ(event_reasons("gpu-spot-0"), (std::vector<std::string>{"SpotInterrupted"}));
  EXPECT_EQ(phase("spot-job"), "Running") << "the pod lives through the notice";

  advance(30);  // end of the notice: the instance is gone
  EXPECT_FALSE(api_->get("", "v1", "nodes", "", "gpu-spot-0"));
  json now = pod("spot-job");
  EXPECT_EQ(phase("spot-job"), "Failed");
  EXPECT_EQ(condition(now, "DisruptionTarget")["reason"], "TerminationByKubelet");
  EXPECT_EQ(string_at(now["status"], "reason"), "Terminated");
  const json run = run_of("spot-job");
  EXPECT_DOUBLE_EQ(run["workDone"].get<double>(), 130);
  EXPECT_DOUBLE_EQ(run["lastCheckpoint"].get<double>(), 120);
  EXPECT_DOUBLE_EQ(run["lostWork"].get<double>(), 10) << "work since the checkpoint at 120";

  // A restart on the same claim resumes from the checkpoint; one without starts from zero.
  create(training_pod("spot-job-2", 1000, "ckpt"));
  create(training_pod("fresh", 1000));
  EXPECT_DOUBLE_EQ(run_of("spot-job-2")["resumedFrom"].get<double>(), 120);
  EXPECT_DOUBLE_EQ(run_of("fresh")["resumedFrom"].get<double>(), 0);
  advance(880);
  EXPECT_EQ(phase("spot-job-2"), "Succeeded") << "880 s of work left after resuming at 120";
  EXPECT_EQ(phase("fresh"), "Running");

  // The pool's replacement joined 60 s after the node went.
  EXPECT_TRUE(api_->get("", "v1", "nodes", "", "gpu-spot-1"));
}

TEST_F(ClusterTest, AGracefulDeleteDuringTheNoticeLetsTheWorkloadCheckpoint) {
  json p = training_pod("careful", 1000, "ckpt2", true);
  p["metadata"]["annotations"]["sim.frugal.dev/checkpoint-on-sigterm"] = "true";
  create(p);
  advance(107);
  ASSERT_TRUE(api_->remove("", "v1", "pods", "default", "careful"));
  settle();
  EXPECT_FALSE(api_->get("", "v1", "pods", "default", "careful"))
      << "the kubelet finished the delete";
  const json run = run_of("careful");
  EXPECT_DOUBLE_EQ(run["lostWork"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(run["lastCheckpoint"].get<double>(), 107);
  EXPECT_EQ(event_reasons("careful").back(), "Killing");
}

TEST_F(ClusterTest, AnnotatingANodeInterruptsItNow) {
  auto node = api_->get("", "v1", "nodes", "", "cpu-1");
  ASSERT_TRUE(node);
  (*node)["metadata"]["annotations"][kInterruptAnnotation] = "now";
  ASSERT_TRUE(api_->update("", "v1", "nodes", "", *node));
  settle();
  EXPECT_EQ(event_reasons("cpu-1"), (std::vector<std::string>{"SpotInterrupted"}));
}

bool http_answers(const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (ok) {
    const std::string req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    (void)::write(fd, req.data(), req.size());
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    return n > 0 && std::string(buf, static_cast<size_t>(n)).rfind("HTTP/1.1 200", 0) == 0;
  }
  ::close(fd);
  return false;
}

TEST_F(ClusterTest, ADeploymentsModelServersAnswerOnTheirPodIpsAndEndpointsFollowScaling) {
  json deploy = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "model"}}},
      {"spec",
       {{"replicas", 2},
        {"selector", {{"matchLabels", {{"app", "model"}}}}},
        {"template",
         {{"metadata",
           {{"labels", {{"app", "model"}}},
            {"annotations",
             {{"sim.frugal.dev/model-server", "true"}, {"sim.frugal.dev/startup-seconds", "3"}}}}},
          {"spec",
           {{"containers",
             {{{"name", "server"},
               {"image", "vllm:1"},
               {"ports", {{{"containerPort", 28431}, {"name", "http"}}}}}}}}}}}}}};
  create(deploy, "deployments", "apps");
  create(
      {{"apiVersion", "v1"},
       {"kind", "Service"},
       {"metadata", {{"name", "model"}}},
       {"spec",
        {{"selector", {{"app", "model"}}}, {"ports", {{{"port", 80}, {"targetPort", "http"}}}}}}},
      "services");
  auto pods = api_->store().list("pods", "default", nullptr, 0, "", 0);
  ASSERT_EQ(pods->items.size(), 2u);
  const std::string ip = string_at((*pods->items[0])["status"], "podIP");
  EXPECT_FALSE(http_answers(ip, 28431)) << "not Ready yet: the port is closed";
  auto endpoints = api_->get("", "v1", "endpoints", "default", "model");
  ASSERT_TRUE(endpoints);
  EXPECT_EQ(array_at((*endpoints)["subsets"][0], "notReadyAddresses").size(), 2u);

  advance(3);
  EXPECT_TRUE(http_answers(ip, 28431));
  endpoints = api_->get("", "v1", "endpoints", "default", "model");
  EXPECT_EQ(array_at((*endpoints)["subsets"][0], "addresses").size(), 2u);
  auto d = api_->get("apps", "v1", "deployments", "default", "model");
  EXPECT_EQ((*d)["status"]["readyReplicas"], 2);

  (*d)["spec"]["replicas"] = 1;
  ASSERT_TRUE(api_->update("apps", "v1", "deployments", "default", *d));
  settle();
  advance(1);
  endpoints = api_->get("", "v1", "endpoints", "default", "model");
  EXPECT_EQ(array_at((*endpoints)["subsets"][0], "addresses").size(), 1u);
  EXPECT_EQ(api_->store().list("pods", "default", nullptr, 0, "", 0)->items.size(), 1u);
}

// The same file and seed give the same run: pod names, placements,
// addresses and interruption times.
TEST(ClusterRepeat, TheSameSeedRepeatsARunExactly) {
  const char* yaml = R"(
seed: 11
nodePools:
  - name: spot
    capacityType: spot
    instanceType: m6i.large
    count: 4
    allocatable: {cpu: "2", memory: 8Gi}
    interruptions: {ratePerNodeHour: 20, noticeSeconds: 60}
    replacement: {delaySeconds: 30}
)";
  auto run_once = [&](int octet) {
    frugal::FakeClock clock;
    ApiServerOptions o;
    o.now = [&] { return clock.wall_now(); };
    ApiServer api(o);
    auto config = parse_cluster_config(yaml, "repeat.yaml");
    ClusterOptions co;
    co.clock = &clock;
    co.pod_network_octet = octet;
    Cluster cluster(api, *config, co);
    EXPECT_TRUE(cluster.start());
    EXPECT_TRUE(cluster.wait_idle(kIdleLimit));
    json rs = {{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"metadata", {{"name", "web"}}},
               {"spec",
                {{"replicas", 3},
                 {"selector", {{"matchLabels", {{"app", "web"}}}}},
                 {"template",
                  {{"metadata", {{"labels", {{"app", "web"}}}}},
                   {"spec", {{"containers", {{{"name", "c"}, {"image", "nginx"}}}}}}}}}}};
    EXPECT_TRUE(api.create("apps", "v1", "replicasets", "default", rs));
    std::vector<std::string> trace;
    for (int minute = 0; minute < 30; ++minute) {
      EXPECT_TRUE(cluster.wait_idle(kIdleLimit));
      clock.advance(seconds(60));
    }
    EXPECT_TRUE(cluster.wait_idle(kIdleLimit));
    auto pods = api.store().list("pods", "", nullptr, 0, "", 0);
    for (const auto& p : pods->items) {
      trace.push_back(string_at((*p)["metadata"], "name") + "@" +
                      string_at((*p)["spec"], "nodeName") + "/" +
                      string_at((*p)["status"], "phase"));
    }
    auto nodes = api.store().list("nodes", "", nullptr, 0, "", 0);
    for (const auto& n : nodes->items) {
      trace.push_back(string_at((*n)["metadata"], "name"));
    }
    trace.push_back("interruptions=" + cluster.summary_json()["interruptions"].dump());
    return trace;
  };
  const auto first = run_once(92);
  const auto second = run_once(93);
  EXPECT_EQ(first, second);
  EXPECT_NE(first.back(), "interruptions=0") << "the rate is high enough to interrupt in 30 min";
}

}  // namespace
}  // namespace kubesim
