#include "reconcilers/pricebook.h"

#include <algorithm>
#include <vector>

#include "reconcilers/conditions.h"
#include "reconcilers/policy/object_read.h"

namespace frugal::reconcilers {
namespace {

using policy::object_read::name_of;

// The PriceBook objects in the order they are considered (see the header).
std::vector<kube::ObjectPtr> ranked(const kube::Informer& pricebooks) {
  std::vector<kube::ObjectPtr> books = pricebooks.store().list();
  std::sort(books.begin(), books.end(), [](const kube::ObjectPtr& a, const kube::ObjectPtr& b) {
    const bool a_default = name_of(*a) == kDefaultPriceBookName;
    const bool b_default = name_of(*b) == kDefaultPriceBookName;
    if (a_default != b_default) return a_default;
    return name_of(*a) < name_of(*b);
  });
  return books;
}

}  // namespace

policy::PriceBook active_price_book(const kube::Informer& pricebooks) {
  for (const kube::ObjectPtr& obj : ranked(pricebooks)) {
    auto parsed = policy::parse_price_book(*obj);
    if (parsed) return *parsed;
  }
  return policy::default_price_book();
}

kube::ReconcileOutcome PriceBookReconciler::reconcile(const kube::Key& key) {
  const kube::ObjectPtr obj = pricebooks_.store().get(key.str());
  if (!obj) return kube::ReconcileResult::done();  // deleted: nothing to report on
  const kube::ObjectReference ref = kube::reference_to(*obj);
  const int64_t generation = obj->value("metadata", kube::json::object()).value("generation", 0);
  kube::json status = obj->value("status", kube::json::object());
  status["observedGeneration"] = generation;

  auto book = policy::parse_price_book(*obj);
  const auto now = clock_.wall_now();
  if (!book) {
    set_condition(status, "Ready", "False", "Invalid", book.error(), generation, now);
    events_.warning(ref, "InvalidPriceBook", book.error());
  } else {
    const std::vector<kube::ObjectPtr> books = ranked(pricebooks_);
    const bool in_force = !books.empty() && name_of(*books.front()) == key.name;
    int64_t priced = 0;
    std::vector<std::string> fallback;
    for (const kube::ObjectPtr& node : nodes_.store().list()) {
      auto price = policy::price_node(*node, *book);
      if (price && price->source == policy::PriceSource::kPriceBook) {
        ++priced;
      } else {
        fallback.push_back(name_of(*node));
      }
    }
    std::sort(fallback.begin(), fallback.end());
    status["instanceTypes"] = book->instance_types.size();
    status["nodesPriced"] = priced;
    status["nodesUsingFallback"] = fallback.size();
    kube::json listed = kube::json::array();
    for (size_t i = 0; i < fallback.size() && i < kMaxFallbackNodesListed; ++i) {
      listed.push_back(fallback[i]);
    }
    status["fallbackNodes"] = listed;
    std::string reason = "Priced";
    std::string message = "Every node is priced from this PriceBook";
    if (!fallback.empty()) {
      reason = "NodesUsingFallback";
      message = std::to_string(fallback.size()) +
                " node(s) have no price here and are priced by the fallback per-unit rates: " +
                listed.dump();
      events_.warning(ref, "NodesUsingFallback", message);
    }
    if (!in_force) {
      message += "; not in force: PriceBook \"" + name_of(*books.front()) + "\" is";
    }
    set_condition(status, "Ready", "True", reason, message, generation, now);
  }
  if (status == obj->value("status", kube::json::object())) return kube::ReconcileResult::done();
  auto written = client_.patch(kPriceBooks, "", key.name, kube::PatchType::Merge,
                               kube::json{{"status", status}}, "status");
  if (!written) {
    if (written.error().is_not_found()) return kube::ReconcileResult::done();
    return frugal::Unexpected(kube::ReconcileError::retry(written.error().to_string()));
  }
  return kube::ReconcileResult::done();
}

std::unique_ptr<PriceBookReconciler> add_pricebook_controller(Manager& manager) {
  auto& pricebooks = manager.informer(kPriceBooks);
  auto& nodes = manager.informer(kNodes);
  auto reconciler = std::make_unique<PriceBookReconciler>(manager.client(), manager.events(),
                                                          pricebooks, nodes, manager.clock());
  auto& loop = manager.add_controller("pricebook", *reconciler);
  manager.enqueue_own(loop, pricebooks);
  // A node's arrival, change or departure changes every PriceBook's counts.
  auto all_books = [&loop, &pricebooks](const kube::ObjectPtr&) {
    for (const std::string& key : pricebooks.store().keys()) loop.enqueue(kube::Key::parse(key));
  };
  nodes.add_handler(
      {all_books, [all_books](const kube::ObjectPtr&, const kube::ObjectPtr& n) { all_books(n); },
       all_books});
  add_node_cost_collector(manager.registry(), pricebooks, nodes);
  return reconciler;
}

void add_node_cost_collector(metrics::Registry& registry, const kube::Informer& pricebooks,
                             const kube::Informer& nodes) {
  registry.add_collector([&pricebooks, &nodes](metrics::CollectorSink& sink) {
    const policy::PriceBook book = active_price_book(pricebooks);
    for (const kube::ObjectPtr& node : nodes.store().list()) {
      const policy::NodeClass cls = policy::classify_node(*node, book);
      auto price = policy::price_node(*node, book);
      if (!price) {
        sink.fail("node " + cls.name + ": " + price.error());
        continue;
      }
      (void)sink.gauge("frugal_node_hourly_cost_usd",
                       "What each node costs per hour, and where the price comes from "
                       "(pricebook, or fallback per-unit rates when the PriceBook has none)",
                       price->hourly_usd,
                       {{"node", cls.name},
                        {"instance_type", cls.instance_type},
                        {"capacity_type", policy::to_string(cls.capacity_type)},
                        {"price_source", policy::to_string(price->source)}});
    }
  });
}

}  // namespace frugal::reconcilers
