// What a simulated pod's workload does, read from its sim.frugal.dev/*
// annotations, and the progress a training workload keeps across runs by
// writing checkpoints "where a real PVC would keep the files".
//
// Everything here is arithmetic on sim seconds (see the shared conventions):
// work runs at one work-second per sim-second while the container runs; the
// engine decides when containers start and stop and tells the store.
//
// Checkpoint model:
//   - A run resumes from its location's last checkpoint (0 if none).
//   - Checkpoints are written at absolute work multiples k * every (like
//     step-based checkpointing: every 500 steps, whatever the resume point),
//     each saved at the sim time the run reaches it.
//   - Stopping: a completed run loses nothing; a graceful stop of a workload
//     with checkpoint-on-sigterm writes a final checkpoint at the work done
//     and loses nothing; any other stop (SIGTERM not handled, SIGKILL, node
//     gone) loses the work done since the last checkpoint.
//   - No checkpoint directory, or no checkpoint-every and no
//     checkpoint-on-sigterm: nothing is ever saved, every stop loses the run.
//   - Completion does not write an extra checkpoint: if the work ends with a
//     failing exit code and the pod is retried, the retry resumes from the
//     last periodic checkpoint, as a real trainer would.
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"

namespace kubesim {

using json = nlohmann::json;

inline constexpr std::string_view kWorkloadAnnotationPrefix = "sim.frugal.dev/";
// The env var of the first container that names the checkpoint directory;
// annotation sim.frugal.dev/checkpoint-dir overrides it.
inline constexpr std::string_view kCheckpointDirEnv = "FRUGAL_CHECKPOINT_DIR";

// Where checkpoints live. Keys, by what backs the directory:
//   "<namespace>/<claimName>:<path in the volume>"  a PersistentVolumeClaim:
//        survives the pod and follows the claim to any node;
//   "node:<nodeName>:<host path>"  a hostPath volume: survives the pod, on
//        that node only;
//   "pod:<uid>:<dir>"  emptyDir, a generic ephemeral volume (its claim is
//        deleted with the pod), any other volume, or no volume (the
//        container's own filesystem; kubesim does not model its loss on a
//        container restart): private to the pod, gone with it.
// A namespace contains no ':', so the kinds cannot collide.
struct CheckpointLocation {
  std::string key;
  bool durable = false;  // outlives the pod
};

struct WorkloadSpec {
  double startup_seconds = 2;          // container start delay after binding
  std::optional<double> work_seconds;  // absent: runs until deleted
  int exit_code = 0;                   // exit code once the work is done
  std::optional<double> checkpoint_every;
  bool checkpoint_on_sigterm = false;
  bool model_server = false;
  int model_latency_ms = 50;
  int model_max_concurrency = 4;
  std::optional<std::string> checkpoint_dir;  // as written in the pod
  std::optional<CheckpointLocation> checkpoint_location;
};

struct ParsedWorkload {
  WorkloadSpec spec;
  // One message per bad annotation (naming it and its value); that field
  // keeps its default. Meant for a Warning Event on the pod.
  std::vector<std::string> errors;
};

// Reads every sim.frugal.dev/* annotation and the checkpoint location.
// Unknown sim.frugal.dev/ annotations are ignored.
ParsedWorkload parse_workload(const json& pod);

// The checkpoint location for directory `dir` in the pod's first container:
// the volume mounted at the longest mountPath containing `dir` decides
// (subPath and subPathExpr honoured). nullopt when dir is empty; an error
// ("must be an absolute path") when it is relative.
frugal::Expected<std::optional<CheckpointLocation>, std::string> checkpoint_location(
    const json& pod, std::string_view dir);

// Lexically cleaned absolute path, as Go's path.Clean("/a//b/../c/") == "/a/c".
std::string clean_path(std::string_view path);

// ---- Progress across runs ----------------------------------------------------

// One run of a workload: from a container start to its stop.
struct RunRecord {
  std::size_t id = 0;    // the store's handle
  std::string location;  // empty: this run saves nothing
  double started_at = 0;
  double resume_from = 0;
  std::optional<double> work_seconds;
  std::optional<double> checkpoint_every;
  bool checkpoint_on_sigterm = false;
};

enum class StopKind {
  kCompleted,  // the work finished; the container exits by itself
  kGraceful,   // SIGTERM with time to handle it (deletion, drain, node shutdown)
  kKilled,     // SIGKILL, OOM, node lost: no chance to save
};

struct StopOutcome {
  double work_done = 0;        // absolute work reached by this run
  double last_checkpoint = 0;  // progress saved by this run (resume_from if none)
  double lost_work = 0;        // work done since that checkpoint, thrown away
};

// The progress of every checkpoint location, and a log of every run. The
// engine owns one. Not thread-safe: the engine is single-threaded.
class CheckpointStore {
 public:
  // Work saved at the location, as of the last start_run / stop_run.
  double last_checkpoint(const std::string& location) const;

  // A container of pod `pod` ("namespace/name", uid) starts working at sim
  // time `now`; it resumes from the location's last checkpoint. Checkpoints
  // other ongoing runs at the same location reached by `now` are saved first.
  RunRecord start_run(const std::string& pod, const std::string& uid, const WorkloadSpec& spec,
                      double now);

  // Absolute work reached at `now` (capped at work_seconds).
  double work_done(const RunRecord& run, double now) const;

  // Sim time the run's work completes; nullopt when it runs until deleted.
  std::optional<double> completion_time(const RunRecord& run) const;

  // Ends the run at `now`, saves the checkpoints it reached (and a final one
  // for a graceful stop with checkpoint-on-sigterm) and logs it. `reason`
  // goes into the log (default: "Completed", "Stopped", "Killed"). Stopping
  // a run twice returns the first outcome.
  StopOutcome stop_run(const RunRecord& run, double now, StopKind kind, std::string reason = {});

  // {"locations": {key: {"work", "savedAt"}}, "runs": [{pod, uid, location,
  // startedAt, resumedFrom, workDone, lastCheckpoint, lostWork, reason,
  // stoppedAt, running}]}; ongoing runs are shown as of `now` (lostWork null).
  json to_json(double now) const;

 private:
  struct Saved {
    double work = 0;
    double saved_at = 0;
  };
  struct Log {
    std::string pod;
    std::string uid;
    RunRecord run;
    std::optional<double> stopped_at;
    StopOutcome outcome;
    std::string reason;
  };

  void save(const std::string& location, double work, double at);
  void flush_ongoing(const std::string& location, double now);

  std::map<std::string, Saved> locations_;
  std::vector<Log> runs_;
};

}  // namespace kubesim
