// The objects a TrainingJob's gang is made of, built from the job alone:
// one pod per worker and a headless Service for rendezvous. Pure, so the
// reconciler can compare what exists with what should, and tests can pin
// every field. Names are deterministic (controller-runtime's advice: the
// cache may be stale, so a second create must collide, not duplicate).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace frugal::reconcilers {

using json = nlohmann::json;

// Labels on every object of a job.
inline constexpr char kJobLabel[] = "ml.frugal.dev/trainingjob";
inline constexpr char kRankLabel[] = "ml.frugal.dev/rank";
inline constexpr char kAttemptLabel[] = "ml.frugal.dev/attempt";
inline constexpr char kCapacityTypeLabel[] = "ml.frugal.dev/capacity-type";
inline constexpr char kInstanceTypeLabel[] = "ml.frugal.dev/instance-type";

// torch.distributed's default rendezvous port (MASTER_PORT).
inline constexpr int kMasterPort = 29500;
// spec.checkpoint.path when unset (the CRD's default).
inline constexpr char kDefaultCheckpointPath[] = "/checkpoints";

// Where the gang goes: the pool chosen by placement policy.
struct GangPlacement {
  std::string instance_type;
  std::string capacity_type;  // "spot" | "on-demand"
  // Node-affinity match expressions ({key, operator, values}) that select the
  // pool's nodes: instance type and capacity type, as the PriceBook reads them.
  std::vector<json> match_expressions;
  // Taints on the pool's nodes the workers must tolerate (e.g. a GPU taint,
  // AKS's spot taint). Interruption taints never belong here.
  std::vector<json> tolerations;
};

// "<job>-a<attempt>-<rank>": a new attempt gets new names, so a replacement
// gang never collides with pods of the last one still terminating.
std::string worker_name(const std::string& job, int attempt, int rank);
// The headless Service: the job's name.
std::string service_name(const std::string& job);

// Worker `rank` of attempt `attempt` (FRUGAL_RESTART_COUNT), owned by the
// job: template labels and annotations kept, the job's labels added;
// restartPolicy Never (the operator restarts whole gangs); hostname and
// subdomain for DNS through the headless Service; env RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT, FRUGAL_CHECKPOINT_DIR, FRUGAL_RESTART_COUNT on
// every container; the checkpoint volume mounted at the checkpoint path
// where a container does not mount it already; required node affinity and
// tolerations for the placement.
json worker_pod(const json& job, int attempt, int rank, const GangPlacement& placement);

// The headless Service selecting the job's workers, owned by the job.
json rendezvous_service(const json& job);

}  // namespace frugal::reconcilers
