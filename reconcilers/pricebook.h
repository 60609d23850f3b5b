// The PriceBook reconciler and the node-price view the rest of the operator
// reads. It keeps each PriceBook's status true to the nodes it prices: how
// many are priced from the book, how many fall back to per-unit rates (named,
// with a Warning Event) — so a node priced by guesswork is never silent. It
// also serves frugal_node_hourly_cost_usd{node,instance_type,capacity_type,
// price_source} at scrape time from the caches.
//
// Which PriceBook is in force: the one named "default", else the only one;
// with several and none named "default", the first by name (and its status
// says so). Without any, the built-in defaults (OpenCost's fallback rates,
// the four clouds' labels) price every node by fallback.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "controller/kube/client.h"
#include "controller/kube/events.h"
#include "controller/kube/informer.h"
#include "controller/kube/reconciler.h"
#include "controller/manager.h"
#include "controller/metrics/registry.h"
#include "reconcilers/policy/pricing.h"

namespace frugal::reconcilers {

inline const kube::ResourceRef kPriceBooks{"ml.frugal.dev", "v1alpha1", "pricebooks", "PriceBook",
                                           false};
inline const kube::ResourceRef kNodes{"", "v1", "nodes", "Node", false};
inline constexpr char kDefaultPriceBookName[] = "default";
// How many fallback-priced node names the status lists.
inline constexpr size_t kMaxFallbackNodesListed = 20;

// The PriceBook in force, parsed, from the informer's cache. Invalid books
// are skipped (their status says why).
policy::PriceBook active_price_book(const kube::Informer& pricebooks);

class PriceBookReconciler : public kube::Reconciler {
 public:
  PriceBookReconciler(kube::Client& client, kube::EventRecorder& events, kube::Informer& pricebooks,
                      kube::Informer& nodes, const Clock& clock)
      : client_(client), events_(events), pricebooks_(pricebooks), nodes_(nodes), clock_(clock) {}
  kube::ReconcileOutcome reconcile(const kube::Key& key) override;

 private:
  kube::Client& client_;
  kube::EventRecorder& events_;
  kube::Informer& pricebooks_;
  kube::Informer& nodes_;
  const Clock& clock_;
};

// Registers the PriceBook controller with the manager: its informers
// (PriceBooks, Nodes), the loop (a node change re-counts every PriceBook) and
// the node-cost collector. The reconciler must outlive manager.run().
std::unique_ptr<PriceBookReconciler> add_pricebook_controller(Manager& manager);

// frugal_node_hourly_cost_usd for every node in the cache, at scrape time.
void add_node_cost_collector(metrics::Registry& registry, const kube::Informer& pricebooks,
                             const kube::Informer& nodes);

}  // namespace frugal::reconcilers
