// The two calls an informer needs from the API server, LIST one page and
// WATCH from a resourceVersion, behind an interface (client-go's
// cache.ListerWatcher), so the reflector can be tested against a scripted
// fake and knows nothing about HTTP.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "controller/kube/client.h"
#include "controller/kube/error.h"

namespace frugal::kube {

// Receives each watch event on the watching thread; returns false to end the watch.
using WatchEventFn = std::function<bool(WatchEvent&&)>;

class ListerWatcher {
 public:
  virtual ~ListerWatcher() = default;
  // One page of the collection (a *List object); follow metadata.continue for more.
  virtual Result<json> list(const ListOptions& opts) = 0;
  // Streams events until the server ends the stream (Ok), the connection
  // fails (Error), `on_event` returns false (Ok) or `stop` becomes true (Ok).
  virtual Result<void> watch(const ListOptions& opts, const WatchEventFn& on_event,
                             const std::atomic<bool>& stop) = 0;
};

// Lists and watches `resource` in namespace `ns` ("" for all namespaces or a
// cluster-scoped resource) through `client`, adding the selectors to every
// request. `client` must outlive the result.
std::unique_ptr<ListerWatcher> make_client_lister_watcher(Client& client, ResourceRef resource,
                                                          std::string ns,
                                                          std::string label_selector = {},
                                                          std::string field_selector = {});

}  // namespace frugal::kube
