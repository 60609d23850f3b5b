// The client runtime's metrics: one object that observes the REST client,
// informers, work queues, reconcile loops and leader election and records
// them in the registry under the names the operations guide documents:
//   frugal_api_requests_total{verb,resource,code}
//   frugal_api_request_duration_seconds{verb,resource}
//   frugal_watch_restarts_total{resource,reason}
//   frugal_reconcile_total{controller,result}
//   frugal_reconcile_duration_seconds{controller}
//   frugal_workqueue_depth{controller}
//   frugal_workqueue_retries_total{controller}
//   frugal_leader
#pragma once

#include <memory>
#include <string>

#include "controller/kube/client.h"
#include "controller/kube/controller_loop.h"
#include "controller/kube/informer.h"
#include "controller/kube/workqueue.h"
#include "controller/metrics/registry.h"

namespace frugal {

class RuntimeMetrics : public kube::ClientObserver,
                       public kube::InformerObserver,
                       public kube::ControllerObserver {
 public:
  explicit RuntimeMetrics(metrics::Registry& registry);

  // ClientObserver
  void on_request(const std::string& verb, const std::string& resource, int code,
                  std::chrono::duration<double> latency) override;
  // InformerObserver
  void on_watch_restart(const std::string& resource, const std::string& reason) override;
  // ControllerObserver
  void on_reconcile(const std::string& controller, const std::string& result,
                    std::chrono::duration<double> took) override;
  void on_error(const std::string& controller, const kube::Key& key, const std::string& message,
                bool terminal) override;

  // Queue metrics for one controller's work queue.
  std::shared_ptr<kube::QueueMetrics> queue_metrics(const std::string& controller);
  void set_leader(bool leading);

 private:
  std::shared_ptr<metrics::CounterFamily> api_requests_;
  std::shared_ptr<metrics::HistogramFamily> api_duration_;
  std::shared_ptr<metrics::CounterFamily> watch_restarts_;
  std::shared_ptr<metrics::CounterFamily> reconcile_total_;
  std::shared_ptr<metrics::HistogramFamily> reconcile_duration_;
  std::shared_ptr<metrics::GaugeFamily> queue_depth_;
  std::shared_ptr<metrics::CounterFamily> queue_retries_;
  std::shared_ptr<metrics::GaugeFamily> leader_;
};

}  // namespace frugal
