// Pins how a simulated pod's workload is read from its sim.frugal.dev/*
// annotations, where its checkpoints live, and the exact work it keeps and
// loses across runs.
#include "sim/workload.h"

#include <gtest/gtest.h>

namespace kubesim {
namespace {

constexpr char kUid[] = "0b6c5b1e-4c3a-4f0e-9a57-2f0d1c9b8e01";

json pod_with_annotations(json annotations) {
  return {
      {"metadata",
       {{"name", "train-0"}, {"namespace", "ml"}, {"uid", kUid}, {"annotations", annotations}}},
      {"spec", {{"nodeName", "node-a"}, {"containers", {{{"name", "trainer"}, {"image", "x"}}}}}}};
}

// A training pod whose first container has `mounts`, the `volumes` and the
// checkpoint directory in its env.
json pod_with_dir(const std::string& dir, json mounts, json volumes,
                  json extra_env = json::array()) {
  json env = extra_env;
  env.push_back({{"name", "FRUGAL_CHECKPOINT_DIR"}, {"value", dir}});
  json pod = pod_with_annotations(json::object());
  pod["spec"]["containers"][0]["env"] = env;
  pod["spec"]["containers"][0]["volumeMounts"] = mounts;
  pod["spec"]["volumes"] = volumes;
  return pod;
}

const json kPvcVolume = {{"name", "ckpt"}, {"persistentVolumeClaim", {{"claimName", "runs"}}}};

std::string location_key(const json& pod) {
  ParsedWorkload parsed = parse_workload(pod);
  EXPECT_TRUE(parsed.errors.empty()) << parsed.errors.front();
  EXPECT_TRUE(parsed.spec.checkpoint_location.has_value());
  return parsed.spec.checkpoint_location ? parsed.spec.checkpoint_location->key : "";
}

// ---- Annotations ---------------------------------------------------------------

TEST(ParseWorkload, NoAnnotationsGivesTheDefaults) {
  ParsedWorkload p = parse_workload(pod_with_annotations(json::object()));
  EXPECT_TRUE(p.errors.empty());
  EXPECT_EQ(p.spec.startup_seconds, 2);
  EXPECT_FALSE(p.spec.work_seconds);
  EXPECT_EQ(p.spec.exit_code, 0);
  EXPECT_FALSE(p.spec.checkpoint_every);
  EXPECT_FALSE(p.spec.checkpoint_on_sigterm);
  EXPECT_FALSE(p.spec.model_server);
  EXPECT_EQ(p.spec.model_latency_ms, 50);
  EXPECT_EQ(p.spec.model_max_concurrency, 4);
  EXPECT_FALSE(p.spec.checkpoint_dir);
  EXPECT_FALSE(p.spec.checkpoint_location);
}

TEST(ParseWorkload, ReadsEveryAnnotation) {
  ParsedWorkload p = parse_workload(pod_with_annotations({
      {"sim.frugal.dev/startup-seconds", "0.5"},
      {"sim.frugal.dev/work-seconds", "3600"},
      {"sim.frugal.dev/exit-code", "3"},
      {"sim.frugal.dev/checkpoint-every-seconds", "300"},
      {"sim.frugal.dev/checkpoint-on-sigterm", "true"},
      {"sim.frugal.dev/model-server", "True"},
      {"sim.frugal.dev/model-latency-ms", "120"},
      {"sim.frugal.dev/model-max-concurrency", "16"},
      {"sim.frugal.dev/checkpoint-dir", "/scratch/ckpt"},
      {"sim.frugal.dev/unknown-thing", "ignored"},
  }));
  EXPECT_TRUE(p.errors.empty()) << p.errors.front();
  EXPECT_EQ(p.spec.startup_seconds, 0.5);
  EXPECT_EQ(p.spec.work_seconds, 3600);
  EXPECT_EQ(p.spec.exit_code, 3);
  EXPECT_EQ(p.spec.checkpoint_every, 300);
  EXPECT_TRUE(p.spec.checkpoint_on_sigterm);
  EXPECT_TRUE(p.spec.model_server);
  EXPECT_EQ(p.spec.model_latency_ms, 120);
  EXPECT_EQ(p.spec.model_max_concurrency, 16);
  EXPECT_EQ(p.spec.checkpoint_dir, "/scratch/ckpt");
  ASSERT_TRUE(p.spec.checkpoint_location);
  EXPECT_EQ(p.spec.checkpoint_location->key, std::string("pod:") + kUid + ":/scratch/ckpt");
}

struct BadValue {
  const char* annotation;
  const char* value;
  const char* error;
};

TEST(ParseWorkload, EachBadValueIsNamedInAnErrorAndKeepsTheDefault) {
  const BadValue cases[] = {
      {"startup-seconds", "-1",
       R"(invalid annotation sim.frugal.dev/startup-seconds="-1": must be a non-negative number of seconds)"},
      {"startup-seconds", "2s",
       R"(invalid annotation sim.frugal.dev/startup-seconds="2s": must be a non-negative number of seconds)"},
      {"work-seconds", "forever",
       R"(invalid annotation sim.frugal.dev/work-seconds="forever": must be a non-negative number of seconds)"},
      {"work-seconds", "nan",
       R"(invalid annotation sim.frugal.dev/work-seconds="nan": must be a non-negative number of seconds)"},
      {"exit-code", "256",
       R"(invalid annotation sim.frugal.dev/exit-code="256": must be an integer from 0 to 255)"},
      {"exit-code", "1.5",
       R"(invalid annotation sim.frugal.dev/exit-code="1.5": must be an integer from 0 to 255)"},
      {"checkpoint-every-seconds", "0",
       R"(invalid annotation sim.frugal.dev/checkpoint-every-seconds="0": must be a positive number of seconds)"},
      {"checkpoint-on-sigterm", "yes",
       R"(invalid annotation sim.frugal.dev/checkpoint-on-sigterm="yes": must be true or false)"},
      {"model-server", "",
       R"(invalid annotation sim.frugal.dev/model-server="": must be true or false)"},
      {"model-latency-ms", "-5",
       R"(invalid annotation sim.frugal.dev/model-latency-ms="-5": must be a non-negative integer)"},
      {"model-max-concurrency", "0",
       R"(invalid annotation sim.frugal.dev/model-max-concurrency="0": must be a positive integer)"},
      {"checkpoint-dir", "ckpt",
       R"(invalid annotation sim.frugal.dev/checkpoint-dir="ckpt": must be an absolute path)"},
  };
  WorkloadSpec defaults;
  for (const BadValue& c : cases) {
    ParsedWorkload p = parse_workload(
        pod_with_annotations({{std::string("sim.frugal.dev/") + c.annotation, c.value}}));
    ASSERT_EQ(p.errors.size(), 1u) << c.annotation << "=" << c.value;
    EXPECT_EQ(p.errors[0], c.error);
    EXPECT_EQ(p.spec.startup_seconds, defaults.startup_seconds);
    EXPECT_EQ(p.spec.work_seconds, defaults.work_seconds);
    EXPECT_EQ(p.spec.exit_code, defaults.exit_code);
    EXPECT_EQ(p.spec.checkpoint_every, defaults.checkpoint_every);
    EXPECT_EQ(p.spec.model_max_concurrency, defaults.model_max_concurrency);
    EXPECT_FALSE(p.spec.checkpoint_location);
  }
}

TEST(ParseWorkload, ReportsEveryBadAnnotationAtOnce) {
  ParsedWorkload p =
      parse_workload(pod_with_annotations({{"sim.frugal.dev/exit-code", "x"},
                                           {"sim.frugal.dev/work-seconds", "10"},
                                           {"sim.frugal.dev/model-server", "maybe"}}));
  EXPECT_EQ(p.errors.size(), 2u);
  EXPECT_EQ(p.spec.work_seconds, 10);
}

// ---- Checkpoint location ----------------------------------------------------------

TEST(CheckpointLocation, DirectoryOnAClaimIsKeyedByNamespaceClaimAndPathInTheVolume) {
  json pod =
      pod_with_dir("/ckpt/run-7", {{{"name", "ckpt"}, {"mountPath", "/ckpt"}}}, {kPvcVolume});
  EXPECT_EQ(location_key(pod), "ml/runs:/run-7");
  EXPECT_TRUE(parse_workload(pod).spec.checkpoint_location->durable);
}

TEST(CheckpointLocation, TheDirectoryIsNormalised) {
  json pod = pod_with_dir("/ckpt//a/./b/../run-7/", {{{"name", "ckpt"}, {"mountPath", "/ckpt/"}}},
                          {kPvcVolume});
  EXPECT_EQ(location_key(pod), "ml/runs:/a/run-7");
  json root = pod_with_dir("/ckpt", {{{"name", "ckpt"}, {"mountPath", "/ckpt"}}}, {kPvcVolume});
  EXPECT_EQ(location_key(root), "ml/runs:/");
}

TEST(CheckpointLocation, TheDeepestMountContainingTheDirectoryWins) {
  json pod = pod_with_dir("/data/ckpt/run-7",
                          {{{"name", "scratch"}, {"mountPath", "/data"}},
                           {{"name", "ckpt"}, {"mountPath", "/data/ckpt"}}},
                          {{{"name", "scratch"}, {"emptyDir", json::object()}}, kPvcVolume});
  EXPECT_EQ(location_key(pod), "ml/runs:/run-7");
  // A sibling with a common prefix is not a parent.
  json sibling = pod_with_dir("/data/ckpt2/run-7",
                              {{{"name", "scratch"}, {"mountPath", "/data"}},
                               {{"name", "ckpt"}, {"mountPath", "/data/ckpt"}}},
                              {{{"name", "scratch"}, {"emptyDir", json::object()}}, kPvcVolume});
  EXPECT_EQ(location_key(sibling), std::string("pod:") + kUid + ":/data/ckpt2/run-7");
}

TEST(CheckpointLocation, SubPathAndSubPathExprAreHonoured) {
  json pod = pod_with_dir("/ckpt/run-7",
                          {{{"name", "ckpt"}, {"mountPath", "/ckpt"}, {"subPath", "team-a"}}},
                          {kPvcVolume});
  EXPECT_EQ(location_key(pod), "ml/runs:/team-a/run-7");
  json expr = pod_with_dir(
      "/ckpt", {{{"name", "ckpt"}, {"mountPath", "/ckpt"}, {"subPathExpr", "jobs/$(JOB)"}}},
      {kPvcVolume}, {{{"name", "JOB"}, {"value", "llama"}}});
  EXPECT_EQ(location_key(expr), "ml/runs:/jobs/llama");
}

TEST(CheckpointLocation, EnvValueReferencesEarlierVariables) {
  json pod = pod_with_dir("/ckpt/$(RUN)", {{{"name", "ckpt"}, {"mountPath", "/ckpt"}}},
                          {kPvcVolume}, {{{"name", "RUN"}, {"value", "r1"}}});
  EXPECT_EQ(location_key(pod), "ml/runs:/r1");
}

TEST(CheckpointLocation, EmptyDirOrNoVolumeIsPrivateToThePod) {
  json on_empty_dir = pod_with_dir("/scratch/ckpt", {{{"name", "s"}, {"mountPath", "/scratch"}}},
                                   {{{"name", "s"}, {"emptyDir", json::object()}}});
  EXPECT_EQ(location_key(on_empty_dir), std::string("pod:") + kUid + ":/scratch/ckpt");
  EXPECT_FALSE(parse_workload(on_empty_dir).spec.checkpoint_location->durable);

  json no_volume = pod_with_dir("/tmp/ckpt", json::array(), json::array());
  EXPECT_EQ(location_key(no_volume), std::string("pod:") + kUid + ":/tmp/ckpt");
}

TEST(CheckpointLocation, GenericEphemeralVolumeDiesWithThePod) {
  json pod =
      pod_with_dir("/ckpt", {{{"name", "e"}, {"mountPath", "/ckpt"}}},
                   {{{"name", "e"}, {"ephemeral", {{"volumeClaimTemplate", json::object()}}}}});
  EXPECT_EQ(location_key(pod), std::string("pod:") + kUid + ":/ckpt");
}

TEST(CheckpointLocation, HostPathStaysOnTheNode) {
  json pod = pod_with_dir("/ckpt/r", {{{"name", "h"}, {"mountPath", "/ckpt"}}},
                          {{{"name", "h"}, {"hostPath", {{"path", "/var/ckpt"}}}}});
  EXPECT_EQ(location_key(pod), "node:node-a:/var/ckpt/r");
}

TEST(CheckpointLocation, AnnotationOverridesTheEnv) {
  json pod = pod_with_dir("/scratch", {{{"name", "ckpt"}, {"mountPath", "/ckpt"}}}, {kPvcVolume});
  pod["metadata"]["annotations"]["sim.frugal.dev/checkpoint-dir"] = "/ckpt/x";
  EXPECT_EQ(location_key(pod), "ml/runs:/x");
}

TEST(CheckpointLocation, NoDirectoryMeansNoCheckpoints) {
  ParsedWorkload p = parse_workload(pod_with_annotations(json::object()));
  EXPECT_FALSE(p.spec.checkpoint_location);
  auto direct = checkpoint_location(pod_with_annotations(json::object()), "");
  ASSERT_TRUE(direct.has_value());
  EXPECT_FALSE(direct->has_value());
}

TEST(CheckpointLocation, BadEnvIsReported) {
  json relative = pod_with_dir("ckpt", json::array(), json::array());
  ParsedWorkload p = parse_workload(relative);
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0], R"(invalid env FRUGAL_CHECKPOINT_DIR="ckpt": must be an absolute path)");

  json from_secret = pod_with_annotations(json::object());
  from_secret["spec"]["containers"][0]["env"] = {
      {{"name", "FRUGAL_CHECKPOINT_DIR"}, {"valueFrom", {{"secretKeyRef", json::object()}}}}};
  p = parse_workload(from_secret);
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0],
            "env FRUGAL_CHECKPOINT_DIR of container \"trainer\" is not a literal value; kubesim "
            "cannot resolve valueFrom");
}

TEST(CleanPath, BehavesLikeGoPathClean) {
  EXPECT_EQ(clean_path("/"), "/");
  EXPECT_EQ(clean_path("/a//b/../c/"), "/a/c");
  EXPECT_EQ(clean_path("/../a"), "/a");
  EXPECT_EQ(clean_path("/a/./b/."), "/a/b");
}

// ---- Progress and checkpoints ---------------------------------------------------------

WorkloadSpec training(std::optional<double> work, std::optional<double> every,
                      bool on_sigterm = false, std::string location = "ml/runs:/r") {
  WorkloadSpec spec;
  spec.work_seconds = work;
  spec.checkpoint_every = every;
  spec.checkpoint_on_sigterm = on_sigterm;
  if (!location.empty()) spec.checkpoint_location = CheckpointLocation{location, true};
  return spec;
}

TEST(CheckpointStore, AFirstRunStartsFromZeroAndCompletesAfterTheWork) {
  CheckpointStore store;
  RunRecord run = store.start_run("ml/train-0", "u1", training(1000, 100), 50);
  EXPECT_EQ(run.resume_from, 0);
  EXPECT_EQ(store.work_done(run, 300), 250);
  EXPECT_EQ(store.completion_time(run), 1050);
  EXPECT_EQ(store.work_done(run, 5000), 1000);  // capped at the goal
}

TEST(CheckpointStore, KillBetweenCheckpointsLosesExactlyTheWorkSinceTheLastOne) {
  CheckpointStore store;
  RunRecord run = store.start_run("ml/train-0", "u1", training(1000, 100), 0);
  StopOutcome out = store.stop_run(run, 350, StopKind::kKilled);
  EXPECT_EQ(out.work_done, 350);
  EXPECT_EQ(out.last_checkpoint, 300);
  EXPECT_EQ(out.lost_work, 50);
  EXPECT_EQ(store.last_checkpoint("ml/runs:/r"), 300);
}

TEST(CheckpointStore, ANewRunResumesFromTheLastCheckpointAndFinishesSooner) {
  CheckpointStore store;
  store.stop_run(store.start_run("ml/train-0", "u1", training(1000, 100), 0), 350,
                 StopKind::kKilled);
  // The replacement pod (new uid, other node) mounts the same claim.
  RunRecord next = store.start_run("ml/train-1", "u2", training(1000, 100), 400);
  EXPECT_EQ(next.resume_from, 300);
  EXPECT_EQ(store.work_done(next, 450), 350);
  EXPECT_EQ(store.completion_time(next), 400 + 700);
  StopOutcome done = store.stop_run(next, 1100, StopKind::kCompleted);
  EXPECT_EQ(done.work_done, 1000);
  EXPECT_EQ(done.lost_work, 0);
}

TEST(CheckpointStore, GracefulStopWithCheckpointOnSigtermLosesNothing) {
  CheckpointStore store;
  RunRecord run = store.start_run("ml/train-0", "u1", training(1000, 100, true), 0);
  StopOutcome out = store.stop_run(run, 437, StopKind::kGraceful);
  EXPECT_EQ(out.work_done, 437);
  EXPECT_EQ(out.last_checkpoint, 437);
  EXPECT_EQ(out.lost_work, 0);
  EXPECT_EQ(store.last_checkpoint("ml/runs:/r"), 437);

  // Periodic checkpoints stay at absolute multiples after such a resume.
  RunRecord next = store.start_run("ml/train-1", "u2", training(1000, 100, true), 500);
  EXPECT_EQ(next.resume_from, 437);
  StopOutcome killed = store.stop_run(next, 500 + 70, StopKind::kKilled);  // reached 507
  EXPECT_EQ(killed.last_checkpoint, 500);
  EXPECT_EQ(killed.lost_work, 7);
}

TEST(CheckpointStore, GracefulStopWithoutCheckpointOnSigtermLosesLikeAKill) {
  CheckpointStore store;
  RunRecord run = store.start_run("ml/train-0", "u1", training(1000, 100), 0);
  StopOutcome out = store.stop_run(run, 437, StopKind::kGraceful);
  EXPECT_EQ(out.lost_work, 37);
  EXPECT_EQ(store.last_checkpoint("ml/runs:/r"), 400);
}

TEST(CheckpointStore, KillWithCheckpointOnSigtermStillLoses) {
  CheckpointStore store;
  RunRecord run = store.start_run("ml/train-0", "u1", training(1000, 100, true), 0);
  EXPECT_EQ(store.stop_run(run, 437, StopKind::kKilled).lost_work, 37);
}

TEST(CheckpointStore, WithoutALocationEveryStopLosesTheWholeRun) {
  CheckpointStore store;
  RunRecord run = store.start_run("ml/train-0", "u1", training(1000, 100, true, ""), 0);
  EXPECT_EQ(run.location, "");
  StopOutcome out = store.stop_run(run, 437, StopKind::kGraceful);
  EXPECT_EQ(out.last_checkpoint, 0);
  EXPECT_EQ(out.lost_work, 437);
  RunRecord again = store.start_run("ml/train-0", "u1", training(1000, 100, true, ""), 500);
  EXPECT_EQ(again.resume_from, 0);
}

TEST(CheckpointStore, APodPrivateLocationIsNotSeenByTheNextPod) {
  CheckpointStore store;
  std::string first = std::string("pod:u1:/scratch");
  store.stop_run(store.start_run("ml/train-0", "u1", training(1000, 100, false, first), 0), 350,
                 StopKind::kKilled);
  EXPECT_EQ(store.last_checkpoint(first), 300);
  RunRecord next =
      store.start_run("ml/train-0", "u2", training(1000, 100, false, "pod:u2:/scratch"), 400);
  EXPECT_EQ(next.resume_from, 0);
}

TEST(CheckpointStore, CheckpointsAtFractionalIntervalsLandOnExactMultiples) {
  CheckpointStore store;
  RunRecord run = store.start_run("ml/train-0", "u1", training(10, 0.1), 0);
  StopOutcome out = store.stop_run(run, 0.3, StopKind::kKilled);
  EXPECT_NEAR(out.last_checkpoint, 0.3, 1e-9);
  EXPECT_NEAR(out.lost_work, 0, 1e-9);
}

TEST(CheckpointStore, ARunStartingOnASharedClaimSeesCheckpointsAnOngoingRunHasWritten) {
  CheckpointStore store;
  RunRecord a = store.start_run("ml/a", "ua", training(std::nullopt, 100), 0);
  RunRecord b = store.start_run("ml/b", "ub", training(std::nullopt, 100), 250);
  EXPECT_EQ(b.resume_from, 200);
  EXPECT_EQ(store.completion_time(a), std::nullopt);
}

TEST(CheckpointStore, StoppingTwiceReturnsTheFirstOutcome) {
  CheckpointStore store;
  RunRecord run = store.start_run("ml/train-0", "u1", training(1000, 100), 0);
  StopOutcome first = store.stop_run(run, 350, StopKind::kKilled);
  StopOutcome second = store.stop_run(run, 900, StopKind::kCompleted);
  EXPECT_EQ(second.work_done, first.work_done);
  EXPECT_EQ(second.lost_work, first.lost_work);
}

TEST(CheckpointStore, ReportsLocationsAndRunsAsJson) {
  CheckpointStore store;
  RunRecord first = store.start_run("ml/train-0", "u1", training(1000, 100), 10);
  store.stop_run(first, 360, StopKind::kKilled, "NodeShutdown");
  store.start_run("ml/train-1", "u2", training(1000, 100), 400);
  json report = store.to_json(450);

  EXPECT_EQ(report["locations"],
            json::parse(R"({"ml/runs:/r": {"work": 300.0, "savedAt": 310.0}})"));
  ASSERT_EQ(report["runs"].size(), 2u);
  const json& stopped = report["runs"][0];
  EXPECT_EQ(stopped["pod"], "ml/train-0");
  EXPECT_EQ(stopped["uid"], "u1");
  EXPECT_EQ(stopped["location"], "ml/runs:/r");
  EXPECT_EQ(stopped["resumedFrom"], 0);
  EXPECT_EQ(stopped["workDone"], 350);
  EXPECT_EQ(stopped["lastCheckpoint"], 300);
  EXPECT_EQ(stopped["lostWork"], 50);
  EXPECT_EQ(stopped["reason"], "NodeShutdown");
  EXPECT_EQ(stopped["stoppedAt"], 360);
  EXPECT_EQ(stopped["running"], false);
  const json& ongoing = report["runs"][1];
  EXPECT_EQ(ongoing["resumedFrom"], 300);
  EXPECT_EQ(ongoing["workDone"], 350);
  EXPECT_TRUE(ongoing["lostWork"].is_null());
  EXPECT_EQ(ongoing["running"], true);
}

}  // namespace
}  // namespace kubesim
