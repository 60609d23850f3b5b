// ListerWatcher over the REST client: a thin adapter that pins the resource,
// namespace and selectors.
#include "controller/kube/lister_watcher.h"

#include <utility>

namespace frugal::kube {
namespace {

class ClientListerWatcher final : public ListerWatcher {
 public:
  ClientListerWatcher(Client& client, ResourceRef resource, std::string ns,
                      std::string label_selector, std::string field_selector)
      : client_(client),
        resource_(std::move(resource)),
        ns_(std::move(ns)),
        label_selector_(std::move(label_selector)),
        field_selector_(std::move(field_selector)) {}

  Result<json> list(const ListOptions& opts) override {
    return client_.list(resource_, ns_, with_selectors(opts));
  }

  Result<void> watch(const ListOptions& opts, const WatchEventFn& on_event,
                     const std::atomic<bool>& stop) override {
    return client_.watch(resource_, ns_, with_selectors(opts), on_event, stop);
  }

 private:
  ListOptions with_selectors(const ListOptions& opts) const {
    ListOptions o = opts;
    o.label_selector = label_selector_;
    o.field_selector = field_selector_;
    return o;
  }

  Client& client_;
  const ResourceRef resource_;
  const std::string ns_;
  const std::string label_selector_;
  const std::string field_selector_;
};

}  // namespace

std::unique_ptr<ListerWatcher> make_client_lister_watcher(Client& client, ResourceRef resource,
                                                          std::string ns,
                                                          std::string label_selector,
                                                          std::string field_selector) {
  return std::make_unique<ClientListerWatcher>(client, std::move(resource), std::move(ns),
                                               std::move(label_selector),
                                               std::move(field_selector));
}

}  // namespace frugal::kube
