// The gang builder: every field a worker pod and the rendezvous Service get
// from a TrainingJob and a placement.
#include "reconcilers/gang.h"

#include <gtest/gtest.h>

namespace frugal::reconcilers {
namespace {

json job() {
  return json::parse(R"({
    "apiVersion": "ml.frugal.dev/v1alpha1", "kind": "TrainingJob",
    "metadata": {"name": "llama", "namespace": "ml", "uid": "u-1"},
    "spec": {
      "workers": 4,
      "checkpoint": {"volume": "ckpt", "path": "/ckpt/llama"},
      "template": {
        "metadata": {"labels": {"app": "llama"}, "annotations": {"sim.frugal.dev/work-seconds": "3600"}},
        "spec": {
          "containers": [
            {"name": "trainer", "image": "trainer:1", "env": [{"name": "RANK", "value": "stale"}, {"name": "LR", "value": "3e-4"}]},
            {"name": "sidecar", "image": "logs:1", "volumeMounts": [{"name": "ckpt", "mountPath": "/data"}]}
          ],
          "volumes": [{"name": "ckpt", "persistentVolumeClaim": {"claimName": "llama-ckpt"}}],
          "tolerations": [{"key": "team", "operator": "Exists"}],
          "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                                  {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]}}}
        }
      }
    }})");
}

GangPlacement spot_g5() {
  GangPlacement p;
  p.instance_type = "g5.xlarge";
  p.capacity_type = "spot";
  p.match_expressions = {
      {{"key", "node.kubernetes.io/instance-type"}, {"operator", "In"}, {"values", {"g5.xlarge"}}},
      {{"key", "karpenter.sh/capacity-type"}, {"operator", "In"}, {"values", {"spot"}}}};
  p.tolerations = {{{"key", "nvidia.com/gpu"}, {"operator", "Exists"}, {"effect", "NoSchedule"}},
                   {{"key", "team"}, {"operator", "Exists"}}};
  return p;
}

std::string env(const json& container, const std::string& name) {
  for (const json& e : container["env"]) {
    if (e["name"] == name) return e["value"];
  }
  return "<unset>";
}

TEST(Gang, WorkerNamesAreDeterministicPerAttemptAndRank) {
  EXPECT_EQ(worker_name("llama", 0, 3), "llama-a0-3");
  EXPECT_EQ(worker_name("llama", 2, 0), "llama-a2-0");
  EXPECT_EQ(worker_pod(job(), 1, 2, spot_g5()), worker_pod(job(), 1, 2, spot_g5()));
}

TEST(Gang, WorkerPodIsOwnedLabelledAndNamedForRendezvous) {
  const json pod = worker_pod(job(), 1, 2, spot_g5());
  const json& meta = pod["metadata"];
  EXPECT_EQ(meta["name"], "llama-a1-2");
  EXPECT_EQ(meta["namespace"], "ml");
  EXPECT_EQ(meta["ownerReferences"][0]["uid"], "u-1");
  EXPECT_EQ(meta["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(meta["labels"]["app"], "llama") << "template labels kept";
  EXPECT_EQ(meta["labels"][kJobLabel], "llama");
  EXPECT_EQ(meta["labels"][kRankLabel], "2");
  EXPECT_EQ(meta["labels"][kAttemptLabel], "1");
  EXPECT_EQ(meta["labels"][kCapacityTypeLabel], "spot");
  EXPECT_EQ(meta["annotations"]["sim.frugal.dev/work-seconds"], "3600");
  EXPECT_EQ(pod["spec"]["restartPolicy"], "Never");
  EXPECT_EQ(pod["spec"]["hostname"], "llama-a1-2");
  EXPECT_EQ(pod["spec"]["subdomain"], "llama");
}

TEST(Gang, EveryContainerGetsTheRendezvousAndCheckpointEnvironment) {
  const json pod = worker_pod(job(), 1, 2, spot_g5());
  for (const json& c : pod["spec"]["containers"]) {
    EXPECT_EQ(env(c, "RANK"), "2") << "replaces the template's value";
    EXPECT_EQ(env(c, "WORLD_SIZE"), "4");
    EXPECT_EQ(env(c, "MASTER_ADDR"), "llama-a1-0.llama");
    EXPECT_EQ(env(c, "MASTER_PORT"), "29500");
    EXPECT_EQ(env(c, "FRUGAL_CHECKPOINT_DIR"), "/ckpt/llama");
    EXPECT_EQ(env(c, "FRUGAL_RESTART_COUNT"), "1");
  }
  EXPECT_EQ(env(pod["spec"]["containers"][0], "LR"), "3e-4") << "other env kept";
}

TEST(Gang, TheCheckpointVolumeIsMountedWhereNoContainerMountsIt) {
  const json pod = worker_pod(job(), 0, 0, spot_g5());
  const json& trainer = pod["spec"]["containers"][0];
  ASSERT_EQ(trainer["volumeMounts"].size(), 1u);
  EXPECT_EQ(trainer["volumeMounts"][0], (json{{"name", "ckpt"}, {"mountPath", "/ckpt/llama"}}));
  const json& sidecar = pod["spec"]["containers"][1];
  ASSERT_EQ(sidecar["volumeMounts"].size(), 1u) << "its own mount is left alone";
  EXPECT_EQ(sidecar["volumeMounts"][0]["mountPath"], "/data");
}

TEST(Gang, PlacementIsAddedToEveryAffinityTermAndTolerationsAreNotDuplicated) {
  const json pod = worker_pod(job(), 0, 0, spot_g5());
  const json& terms = pod["spec"]["affinity"]["nodeAffinity"]
                         ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
  ASSERT_EQ(terms.size(), 2u);
  for (const json& term : terms) {
    ASSERT_EQ(term["matchExpressions"].size(), 3u);
    EXPECT_EQ(term["matchExpressions"][1]["key"], "node.kubernetes.io/instance-type");
    EXPECT_EQ(term["matchExpressions"][2]["values"][0], "spot");
  }
  const json& tolerations = pod["spec"]["tolerations"];
  EXPECT_EQ(tolerations.size(), 2u) << tolerations.dump();

  json bare = job();
  bare["spec"]["template"]["spec"].erase("affinity");
  const json plain = worker_pod(bare, 0, 0, spot_g5());
  EXPECT_EQ(
      plain["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
           ["nodeSelectorTerms"][0]["matchExpressions"]
               .size(),
      2u);
}

TEST(Gang, WithoutACheckpointSectionTheDefaultPathIsAdvertisedAndNothingMounted) {
  json j = job();
  j["spec"].erase("checkpoint");
  const json pod = worker_pod(j, 0, 0, spot_g5());
  EXPECT_EQ(env(pod["spec"]["containers"][0], "FRUGAL_CHECKPOINT_DIR"), "/checkpoints");
  EXPECT_FALSE(pod["spec"]["containers"][0].contains("volumeMounts"));
}

TEST(Gang, TheRendezvousServiceIsHeadlessAndPublishesNotReadyWorkers) {
  const json svc = rendezvous_service(job());
  EXPECT_EQ(svc["metadata"]["name"], "llama");
  EXPECT_EQ(svc["metadata"]["ownerReferences"][0]["kind"], "TrainingJob");
  EXPECT_EQ(svc["spec"]["clusterIP"], "None");
  EXPECT_EQ(svc["spec"]["publishNotReadyAddresses"], true);
  EXPECT_EQ(svc["spec"]["selector"][kJobLabel], "llama");
  EXPECT_EQ(svc["spec"]["ports"][0]["port"], 29500);
}

}  // namespace
}  // namespace frugal::reconcilers
