#include "controller/runtime_metrics.h"

#include <stdexcept>

#include "controller/kube/log.h"

namespace frugal {

namespace {

// Registration only fails on a programming error (bad name, duplicate); fail
// loudly at start rather than run without metrics.
template <class T>
T must(metrics::Result<T> r, const char* what) {
  if (!r) throw std::logic_error(std::string("registering ") + what + ": " + r.error().message);
  return std::move(*r);
}

// Buckets for API latency: 5 ms .. ~10 s, as client-go's rest_client_request_duration_seconds.
std::vector<double> api_buckets() {
  return {0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0};
}

class QueueGauge : public kube::QueueMetrics {
 public:
  QueueGauge(std::shared_ptr<metrics::Gauge> depth, std::shared_ptr<metrics::Counter> retries)
      : depth_(std::move(depth)), retries_(std::move(retries)) {}
  void on_depth(std::size_t depth) override { depth_->set(static_cast<double>(depth)); }
  void on_retry() override { retries_->inc(); }

 private:
  std::shared_ptr<metrics::Gauge> depth_;
  std::shared_ptr<metrics::Counter> retries_;
};

}  // namespace

RuntimeMetrics::RuntimeMetrics(metrics::Registry& r)
    : api_requests_(must(r.add_counter("frugal_api_requests_total",
                                       "Requests to the Kubernetes API by verb, resource and HTTP "
                                       "status code (0: no answer).",
                                       {"verb", "resource", "code"}),
                         "frugal_api_requests_total")),
      api_duration_(must(r.add_histogram("frugal_api_request_duration_seconds",
                                         "Latency of requests to the Kubernetes API.",
                                         {"verb", "resource"}, api_buckets()),
                         "frugal_api_request_duration_seconds")),
      watch_restarts_(must(r.add_counter("frugal_watch_restarts_total",
                                         "Watches restarted, by resource and reason (expired, "
                                         "error, closed, dropped).",
                                         {"resource", "reason"}),
                           "frugal_watch_restarts_total")),
      reconcile_total_(must(r.add_counter("frugal_reconcile_total",
                                          "Reconciles by controller and result.",
                                          {"controller", "result"}),
                            "frugal_reconcile_total")),
      reconcile_duration_(must(r.add_histogram("frugal_reconcile_duration_seconds",
                                               "Time spent in one reconcile.", {"controller"}),
                               "frugal_reconcile_duration_seconds")),
      queue_depth_(must(r.add_gauge("frugal_workqueue_depth", "Keys waiting in the work queue.",
                                    {"controller"}),
                        "frugal_workqueue_depth")),
      queue_retries_(must(r.add_counter("frugal_workqueue_retries_total",
                                        "Keys re-queued after a delay (errors and requeueAfter).",
                                        {"controller"}),
                          "frugal_workqueue_retries_total")),
      leader_(must(r.add_gauge("frugal_leader",
                               "1 while this replica holds the leader lease (or runs without "
                               "leader election), else 0."),
                   "frugal_leader")) {}

void RuntimeMetrics::on_request(const std::string& verb, const std::string& resource, int code,
                                std::chrono::duration<double> latency) {
  if (auto c = api_requests_->with({verb, resource, std::to_string(code)})) (*c)->inc();
  if (auto h = api_duration_->with({verb, resource})) (*h)->observe(latency.count());
}

void RuntimeMetrics::on_watch_restart(const std::string& resource, const std::string& reason) {
  if (auto c = watch_restarts_->with({resource, reason})) (*c)->inc();
}

void RuntimeMetrics::on_reconcile(const std::string& controller, const std::string& result,
                                  std::chrono::duration<double> took) {
  if (auto c = reconcile_total_->with({controller, result})) (*c)->inc();
  if (auto h = reconcile_duration_->with({controller})) (*h)->observe(took.count());
}

void RuntimeMetrics::on_error(const std::string& controller, const kube::Key& key,
                              const std::string& message, bool terminal) {
  log::error(terminal ? "Reconcile failed and will not be retried" : "Reconcile failed",
             {{"controller", controller}, {"key", key.str()}, {"err", message}});
}

std::shared_ptr<kube::QueueMetrics> RuntimeMetrics::queue_metrics(const std::string& controller) {
  auto depth = queue_depth_->with({controller});
  auto retries = queue_retries_->with({controller});
  if (!depth || !retries) return nullptr;
  return std::make_shared<QueueGauge>(*depth, *retries);
}

void RuntimeMetrics::set_leader(bool leading) {
  if (auto g = leader_->with()) (*g)->set(leading ? 1 : 0);
}

}  // namespace frugal
