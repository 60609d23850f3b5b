// The simulated cluster the TrainingJob integration tests run against:
// kubesim in process (the API server over HTTP on an ephemeral port, Frugal's
// CRDs and the default PriceBook from crds/, and a simulated cluster of three
// spot and two on-demand g5.xlarge nodes at time scale 100, writing
// microsecond timestamps as kubesim --time-scale does), plus the reads and
// nudges the tests share. A fixture inherits it next to its gtest base and
// calls start_cluster() / stop_cluster(); what runs the controller (a
// Manager in process, or the frugal-controller binary) is the fixture's own.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>

#include "common/yaml_json.h"
#include "reconcilers/conditions.h"
#include "reconcilers/gang.h"
#include "reconcilers/trainingjob.h"
#include "sim/apiserver.h"
#include "sim/cluster.h"
#include "sim/cluster_config.h"
#include "sim/http_server.h"
#include "sim/names.h"
#include "tests/support/frugal_kubesim.h"

namespace frugal::reconcilers {

inline constexpr double kTimeScale = 100;  // sim seconds per real second

// Three spot and two on-demand g5.xlarge nodes on Karpenter; interruptions
// only when a test asks for one (sim.frugal.dev/interrupt=now).
inline constexpr char kCluster[] = R"(
seed: 5
nodePools:
  - name: gpu-spot
    cloud: karpenter
    instanceType: g5.xlarge
    capacityType: spot
    count: 3
    allocatable: {cpu: "4", memory: 16Gi, nvidia.com/gpu: 1}
    taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]
    interruptions: {noticeSeconds: 120}
  - name: gpu-on-demand
    cloud: karpenter
    instanceType: g5.xlarge
    capacityType: on-demand
    count: 2
    allocatable: {cpu: "4", memory: 16Gi, nvidia.com/gpu: 1}
    taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]
)";

// g5.xlarge in crds/examples/pricebook-default.yaml.
inline constexpr double kSpotHourly = 0.38;

class SimCluster {
 protected:
  using json = kube::json;

  // Serves the API, installs the CRDs and the PriceBook, starts the cluster
  // (pods get 127.`pod_network_octet`.x.y). Fatal failures end the caller's SetUp.
  void start_cluster(int pod_network_octet) {
    server_ = std::make_unique<kubesim::HttpServer>(
        kubesim::HttpServerOptions{}, [this](const kubesim::Request& r) { return api_.handle(r); });
    ASSERT_TRUE(server_->start());
    testing::install_frugal_crds(api_);
    if (::testing::Test::HasFatalFailure()) return;
    auto book = yaml_file_to_json(testing::kRepoRoot + "/crds/examples/pricebook-default.yaml");
    ASSERT_TRUE(book) << book.error();
    book_ = (*book)[0];
    ASSERT_TRUE(api_.create("ml.frugal.dev", "v1alpha1", "pricebooks", "", book_));

    kubesim::set_timestamp_fraction_digits(6);
    auto config = kubesim::parse_cluster_config(kCluster, "sim_cluster.h");
    ASSERT_TRUE(config) << config.error();
    kubesim::ClusterOptions co;
    co.time_scale = kTimeScale;
    co.pod_network_octet = pod_network_octet;
    cluster_ = std::make_unique<kubesim::Cluster>(api_, *config, co);
    ASSERT_TRUE(cluster_->start());
  }

  void stop_cluster() {
    cluster_.reset();
    if (server_) server_->stop();
    kubesim::set_timestamp_fraction_digits(0);
  }

  std::string server_url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  // A job of `workers` GPU workers that each take a whole g5.xlarge (so a
  // worker's rate is the node's price), doing `work` sim seconds of work.
  static json job(const std::string& name, int workers, int work, bool checkpoints = true) {
    json j = json::parse(R"({
      "apiVersion": "ml.frugal.dev/v1alpha1", "kind": "TrainingJob",
      "metadata": {"namespace": "default"},
      "spec": {
        "capacity": {"preference": "SpotWithFallback"},
        "template": {
          "metadata": {"annotations": {"sim.frugal.dev/startup-seconds": "10",
                                       "sim.frugal.dev/stop-seconds": "5"}},
          "spec": {"containers": [{"name": "trainer", "image": "trainer:1",
            "resources": {"requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": 1},
                          "limits": {"nvidia.com/gpu": 1}}}]}}}})");
    j["metadata"]["name"] = name;
    j["spec"]["workers"] = workers;
    j["spec"]["template"]["metadata"]["annotations"]["sim.frugal.dev/work-seconds"] =
        std::to_string(work);
    if (checkpoints) {
      json& annotations = j["spec"]["template"]["metadata"]["annotations"];
      annotations["sim.frugal.dev/checkpoint-every-seconds"] = "100";
      annotations["sim.frugal.dev/checkpoint-on-sigterm"] = "true";
      j["spec"]["checkpoint"] = {{"volume", "ckpt"}, {"intervalSeconds", 100}};
      j["spec"]["template"]["spec"]["volumes"] = {
          {{"name", "ckpt"}, {"persistentVolumeClaim", {{"claimName", name + "-ckpt"}}}}};
    }
    return j;
  }

  void create(const json& obj) {
    auto r = api_.create("ml.frugal.dev", "v1alpha1", "trainingjobs", "default", obj);
    ASSERT_TRUE(r) << r.error().message;
  }

  json status(const std::string& name) {
    auto tj = api_.get("ml.frugal.dev", "v1alpha1", "trainingjobs", "default", name);
    return tj ? tj->value("status", json::object()) : json::object();
  }
  std::string phase(const std::string& name) { return status(name).value("phase", ""); }
  json condition(const std::string& name, const std::string& type) {
    const json s = status(name);
    const json* c = find_condition(s, type);
    return c ? *c : json::object();
  }

  json pod(const std::string& name) {
    auto p = api_.get("", "v1", "pods", "default", name);
    return p ? *p : json::object();
  }
  // The pod still carries the cost-accounting finalizer.
  bool held(const std::string& name) {
    const json f = pod(name).value("metadata", json::object()).value("finalizers", json::array());
    return std::find(f.begin(), f.end(), json(kCostFinalizer)) != f.end();
  }
  std::string pod_phase(const std::string& name) {
    return pod(name).value("status", json::object()).value("phase", "");
  }
  std::string node_of(const std::string& pod_name) {
    return pod(pod_name).value("spec", json::object()).value("nodeName", "");
  }
  // The cluster's ledger entry for the last run of a pod.
  json run_of(const std::string& pod_name) {
    json found;
    const json work = cluster_->work_json();
    for (const json& r : work["runs"]) {
      if (r["pod"] == "default/" + pod_name) found = r;
    }
    return found;
  }
  // The Event about `involved` with `reason`, or null.
  json event_of(const std::string& involved, const std::string& reason) {
    auto events = api_.store().list("events", "", nullptr, 0, "", 0);
    for (const auto& e : events->items) {
      if ((*e)["involvedObject"].value("name", "") == involved && (*e)["reason"] == reason) {
        return *e;
      }
    }
    return nullptr;
  }
  bool event_seen(const std::string& involved, const std::string& reason) {
    return !event_of(involved, reason).is_null();
  }

  // Changes the job's spec as a user would (a new generation).
  // Read, change, write; on a conflict (the controller wrote meanwhile)
  // read again, as kubectl edit's user would.
  void edit_spec(const std::string& name, const std::function<void(json& spec)>& change) {
    std::string last_error;
    for (int tries = 0; tries < 20; ++tries) {
      auto tj = api_.get("ml.frugal.dev", "v1alpha1", "trainingjobs", "default", name);
      ASSERT_TRUE(tj);
      change((*tj)["spec"]);
      auto r = api_.update("ml.frugal.dev", "v1alpha1", "trainingjobs", "default", *tj);
      if (r) return;
      last_error = r.error().message;
      if (r.error().code != 409) break;
    }
    FAIL() << last_error;
  }
  bool job_exists(const std::string& name) {
    return static_cast<bool>(
        api_.get("ml.frugal.dev", "v1alpha1", "trainingjobs", "default", name));
  }
  size_t pods_of(const std::string& job_name) {
    auto pods = api_.store().list("pods", "default", nullptr, 0, "", 0);
    size_t n = 0;
    for (const auto& p : pods->items) {
      const json labels = p->value("metadata", json::object()).value("labels", json::object());
      n += labels.value(kJobLabel, "") == job_name ? 1 : 0;
    }
    return n;
  }

  void interrupt(const std::string& node) {
    auto n = api_.get("", "v1", "nodes", "", node);
    ASSERT_TRUE(n) << node;
    (*n)["metadata"]["annotations"][kubesim::kInterruptAnnotation] = "now";
    ASSERT_TRUE(api_.update("", "v1", "nodes", "", *n));
  }

  // Waits until the gang of `attempt` runs and has done at least `work` sim seconds.
  void wait_running(const std::string& job_name, int attempt, double work) {
    const std::string first = worker_name(job_name, attempt, 0);
    ASSERT_TRUE(testing::eventually([&] {
      const json run = run_of(first);
      return phase(job_name) == "Running" && run.is_object() && run.value("running", false) &&
             run.value("workDone", 0.0) >= work;
    })) << status(job_name).dump()
        << run_of(first).dump();
  }

  kubesim::ApiServer api_;
  std::unique_ptr<kubesim::HttpServer> server_;
  std::unique_ptr<kubesim::Cluster> cluster_;
  json book_;  // the PriceBook installed
};

}  // namespace frugal::reconcilers
